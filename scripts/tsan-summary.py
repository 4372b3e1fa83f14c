#!/usr/bin/env python3
"""List the distinct ThreadSanitizer reports in a directory of TSan logs.

scripts/sanitize.sh runs the TSan pass with log_path=DIR/tsan, so every
process (test programs and the daemons they start) writes DIR/tsan.<pid>.
Reports are grouped by kind and by the top frame of each access, so the same
race hit by many tests is listed once, with how often and in which log.
Exit 0 when there is no report, 1 otherwise.

    scripts/tsan-summary.py DIR
"""
import collections
import os
import re
import sys

ACCESS = re.compile(r"^  ((?:Previous |Atomic )*(?:[Rr]ead|[Ww]rite)) of size (\d+) at \S+ by (.+?):$")
FRAME = re.compile(r"^\s+#0 (\S+) (\S+?)(?::\d+)? \((\S+?)\+")
WARNING = re.compile(r"^WARNING: ThreadSanitizer: (.+?)(?: \(pid=\d+\))?$")


def short(path):
    """A repository-relative file:line where the path is inside the tree."""
    m = re.search(r"/((?:lib|tools|tests|include)/.*)$", path)
    return m.group(1) if m else path


def parse(text):
    """Yield (kind, [(access, thread, func, where, module)...]) per report."""
    for block in text.split("==================\n"):
        lines = block.splitlines()
        kind = next((WARNING.match(l).group(1) for l in lines if WARNING.match(l)), None)
        if not kind:
            continue
        # The top frame of each access; a report without accesses (thread
        # leak, lock-order inversion, signal handler) is named by its first
        # stack. Later stacks (where a thread was created, where the memory
        # was allocated) do not identify the report.
        accesses, pending, first = [], None, None
        for l in lines:
            m = ACCESS.match(l)
            if m:
                pending = (f"{m.group(1)} {m.group(2)}", m.group(3))
                continue
            f = FRAME.match(l)
            if f:
                frame = (f.group(1), short(f.group(2)), f.group(3))
                if pending:
                    accesses.append(pending + frame)
                elif first is None:
                    first = ("", "") + frame
                pending = None
        if not accesses and first:
            accesses = [first]
        yield kind, accesses


def main():
    d = sys.argv[1]
    seen = collections.OrderedDict()
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), errors="replace") as f:
            for kind, acc in parse(f.read()):
                key = (kind, tuple(sorted((a[0], a[2], a[3]) for a in acc)))
                if key not in seen:
                    seen[key] = [kind, acc, 0, name]
                seen[key][2] += 1
    if not seen:
        print("tsan: no ThreadSanitizer report")
        return 0
    print(f"tsan: {len(seen)} distinct ThreadSanitizer report(s) (logs in {d}):")
    for kind, acc, count, log in seen.values():
        print(f"  {kind}: {count}x, first in {log} ({acc[0][4] if acc else '?'})")
        for a in acc:
            what = f"{a[0]} by {a[1]}" if a[0] else "at"
            print(f"      {what}: {a[2]} {a[3]}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
