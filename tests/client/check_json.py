# SPDX-License-Identifier: MIT
"""Check members of a JSON document written by vblk (docs/json.md).

usage: check_json.py FILE CHECK...   CHECK: PATH=VALUE, PATH>NUMBER or PATH<NUMBER,
PATH dotted (jobs.0.read.iops); numbers compare as numbers, anything else as text.
Parsed as strict UTF-8. Exit 0 when every check holds, 1 otherwise."""
import json
import re
import sys

d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
ok = True
for check in sys.argv[2:]:
    path, op, want = re.match(r"([^=<>]+)([=<>])(.*)", check).groups()
    v = d
    for k in path.split("."):
        v = v[int(k)] if isinstance(v, list) else v[k]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        want = float(want)
        good = {"=": v == want, ">": v > want, "<": v < want}[op]
    else:
        good = op == "=" and str(v) == want
    if not good:
        print(f"{sys.argv[1]}: {path} is {v!r}, expected {op} {want!r}")
        ok = False
sys.exit(0 if ok else 1)
