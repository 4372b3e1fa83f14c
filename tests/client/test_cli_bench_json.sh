#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk bench --json (docs/json.md): fio's JSON layout - jobs[0].read and
# .write with iops, bandwidth, total_ios and clat_ns percentiles - parsed by
# python3's json module, with numbers that agree with each other. With a
# driver-side poll window (--poll-us), which job options reports.
VBLK=$1
. "$(dirname "$0")/backend.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
start_backend 16M 2
"$VBLK" bench "$SOCK" --rw=randrw --bs=4k --iodepth=8 --queues=2 --runtime=0.5 --poll-us=20 --json \
	>"$TMP/json" 2>"$TMP/err" || fail "bench: $(cat "$TMP/err")"
python3 - "$TMP/json" <<'PY' || fail "$(cat "$TMP/json")"
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert d["schema_version"] == 1
job = d["jobs"][0]
assert job["job options"] == {"rw": "randrw", "bs": "4096", "iodepth": "8", "queues": "2",
                              "runtime": "0.5", "poll_us": "20"}, job["job options"]
for side in ("read", "write"):
    s = job[side]
    assert s["total_ios"] > 0, (side, s)
    assert s["io_bytes"] == s["total_ios"] * 4096, s
    secs = s["runtime"] / 1000
    assert secs >= 0.5, s
    assert abs(s["iops"] - s["total_ios"] / secs) <= 0.01 * s["iops"] + 2, s
    assert abs(s["bw_bytes"] - s["io_bytes"] / secs) <= 0.01 * s["bw_bytes"] + 4096, s
    c = s["clat_ns"]
    assert c["N"] == s["total_ios"], c
    assert 0 < c["min"] <= c["mean"] <= c["max"], c
    p = c["percentile"]
    keys = ["1.000000", "50.000000", "90.000000", "99.000000", "99.900000", "99.990000"]
    vals = [p[k] for k in keys]
    assert vals == sorted(vals) and c["min"] <= vals[0] and vals[-1] <= c["max"], p
# vblk's own: each of the two queues carried requests, and they add up.
qs = job["vblk_queues"]
assert [q["queue"] for q in qs] == [0, 1] and all(q["requests"] > 0 for q in qs), qs
assert sum(q["requests"] for q in qs) == job["read"]["total_ios"] + job["write"]["total_ios"], qs
print("read iops %.0f, write iops %.0f, read p99 %d ns" % (job["read"]["iops"],
      job["write"]["iops"], job["read"]["clat_ns"]["percentile"]["99.000000"]))
PY
exit 0
