# SPDX-License-Identifier: MIT
"""Check members of a JSON document written by vblk (docs/json.md).

usage: check_json.py FILE CHECK...   CHECK: PATH=VALUE, PATH>NUMBER or PATH<NUMBER,
PATH dotted (jobs.0.read.iops); VALUE compared as a number when it is one.
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
    try:
        want = float(want)
        good = {"=": v == want, ">": v > want, "<": v < want}[op]
    except ValueError:
        good = op == "=" and v == want
    if not good:
        print(f"{sys.argv[1]}: {path} is {v!r}, expected {op} {want!r}")
        ok = False
sys.exit(0 if ok else 1)
