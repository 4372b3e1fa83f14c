#!/usr/bin/env python3
"""qmp.py - the few QMP commands the migration guest test needs.

    qmp.py SOCK wait-ready [SECS]        the monitor answers
    qmp.py SOCK incoming URI             migrate-incoming (a -incoming defer QEMU)
    qmp.py SOCK migrate URI [SECS]       migrate and wait until it completed;
                                         prints the final query-migrate numbers
    qmp.py SOCK wait-running [SECS]      query-status says running
    qmp.py SOCK quit

Exit 0 on success, 1 with a message otherwise. One connection per call; QMP
events that arrive between replies are skipped.
"""
import json
import socket
import sys
import time


class Qmp:
    def __init__(self, path, secs=10):
        deadline = time.monotonic() + secs
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.settimeout(30)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.f = self.s.makefile("rwb")
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.f.readline()
        if not line:
            raise RuntimeError("QMP connection closed")
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\n")
        self.f.flush()
        while True:
            r = self._read()
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError("%s: %s" % (name, r["error"].get("desc", r["error"])))
            return r.get("return")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, verb, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    secs = 10
    if verb == "wait-ready" and rest:
        secs = float(rest[0])
    q = Qmp(path, secs)
    if verb == "wait-ready":
        return
    if verb == "incoming":
        q.cmd("migrate-incoming", uri=rest[0])
    elif verb == "migrate":
        limit = float(rest[1]) if len(rest) > 1 else 120
        # Unthrottled: the guest under TCG dirties memory slowly, a unix
        # socket is fast; 128 MiB/s (the default) only makes the test slower.
        q.cmd("migrate-set-parameters", **{"max-bandwidth": 4 << 30})
        q.cmd("migrate", uri=rest[0])
        deadline = time.monotonic() + limit
        while True:
            st = q.cmd("query-migrate")
            status = st.get("status")
            if status == "completed":
                ram = st.get("ram", {})
                print("migrated in %s ms, downtime %s ms, %s dirty syncs, %s MiB sent"
                      % (st.get("total-time"), st.get("downtime"),
                         ram.get("dirty-sync-count"),
                         ram.get("transferred", 0) >> 20))
                return
            if status in ("failed", "cancelled"):
                sys.exit("migration %s: %s" % (status, st.get("error-desc", "")))
            if time.monotonic() > deadline:
                q.cmd("migrate_cancel")
                sys.exit("migration did not complete within %s s (%s)" % (limit, status))
            time.sleep(0.2)
    elif verb == "wait-running":
        limit = float(rest[0]) if rest else 30
        deadline = time.monotonic() + limit
        while True:
            st = q.cmd("query-status")
            if st.get("status") == "running":
                return
            if time.monotonic() > deadline:
                sys.exit("not running after %s s: %s" % (limit, st.get("status")))
            time.sleep(0.2)
    elif verb == "quit":
        try:
            q.cmd("quit")
        except RuntimeError:
            pass  # the connection closes as QEMU exits
    else:
        sys.exit("unknown verb %s" % verb)


if __name__ == "__main__":
    try:
        main()
    except (OSError, RuntimeError, ValueError) as e:
        sys.exit("qmp.py: %s" % e)
