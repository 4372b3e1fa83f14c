# SPDX-License-Identifier: MIT
"""export_stats counts each export's own requests (per export and per
queue); export_set changes an export's I/O limits (requests then wait for
them: 'throttled' grows) and its cache mode, refusing writeback while a
driver that read the mode once (CONFIG_WCE) is connected."""
import re
import subprocess
import time

import ctl_lib

RPC_INVALID_PARAMS, RPC_FAILED = -32602, -32003


def main(c):
    a, b = c.path("a.sock"), c.path("b.sock")
    c.start(["--disk", "memory:8M", "--socket", a, "--disk", "memory:8M", "--socket", b])

    c.vblk_ok(["write", a, "0"], input=b"\x11" * 65536)
    c.vblk_ok(["flush", a])
    c.vblk_ok(["read", a, "0", "8192"])
    sa = c.ok("export_stats", {"name": "disk0"})
    sb = c.ok("export_stats", {"name": "disk1"})
    t = sa["total"]
    c.check(t["writes"] >= 1 and t["bytes_written"] == 65536 and t["flushes"] >= 1 and
            t["reads"] >= 1 and t["bytes_read"] >= 8192 and t["errors"] == 0 and
            t["in_flight"] == 0, "disk0 totals %r" % t)
    c.check(sum(t["latency_us_log2"]["write"]) == t["writes"],
            "write histogram %r vs %d writes" % (t["latency_us_log2"]["write"], t["writes"]))
    c.check(sb["total"]["writes"] == 0 and sb["total"]["reads"] == 0,
            "disk1 counted disk0's I/O: %r" % sb["total"])
    # Stopped queues are in the total; the per-queue view shows running ones.
    c.check(sa["running_queues"] == 0, "queues still running: %r" % sa)

    # A limit set through the control socket holds the next requests back.
    r = c.ok("export_set", {"name": "disk1", "limits": {"iops-wr": 20, "iops-burst": 1}})
    c.check(r["limits"] == {"iops-wr": 20, "iops-burst": 1}, "limits %r" % r["limits"])
    bench = c.bench(b, "randwrite", 8, 2, 2, stderr=subprocess.PIPE)
    # While it runs: per-queue statistics of the running queues.
    c.wait_for(lambda: len(c.ok("export_stats", {"name": "disk1"})["queues"]) == 2,
               "two queues counting")
    queues = c.ok("export_stats", {"name": "disk1"})["queues"]
    c.check(sorted(q["queue"] for q in queues) == [0, 1], "per-queue stats %r" % queues)
    c.check(bench.wait(timeout=60) == 0, "bench under a limit failed: %r" % bench.stderr.read())
    t = c.ok("export_stats", {"name": "disk1"})["total"]
    c.check(t["throttled"] > 0, "no request waited for iops-wr=20: %r" % t)
    r = c.ok("export_set", {"name": "disk1", "limits": {}})
    c.check(r["limits"] == {}, "limits not lifted: %r" % r["limits"])

    c.error("export_set", {"name": "disk1", "limits": {"iops": 5, "iops-rd": 5}},
            RPC_INVALID_PARAMS, "not both")
    c.error("export_set", {"name": "disk1", "limits": {"iops-burst": 5}}, RPC_INVALID_PARAMS,
            "burst")
    c.error("export_set", {"name": "disk1", "limits": {"speed": 5}}, RPC_INVALID_PARAMS,
            "unknown limit")
    c.error("export_set", {"name": "disk1", "limits": {"iops": -1}}, RPC_INVALID_PARAMS,
            "positive integer")
    c.error("export_set", {"name": "disk1", "writeback": "yes"}, RPC_INVALID_PARAMS, "boolean")
    c.check(c.exports()["disk1"]["limits"] == {}, "a refused export_set changed the limits")

    # Cache mode: free while nobody is connected; with a CONFIG_WCE driver only writethrough.
    c.check(c.ok("export_set", {"name": "disk0", "writeback": True})["writeback"] is True,
            "writeback not set")
    out = c.vblk_ok(["info", a]).decode()
    c.check(re.search(r"^write cache: +writeback$", out, re.M),
            "a new front end does not see writeback: %s" % out)
    bench = c.bench(a, "randwrite", 4, 1, 2)
    c.wait_for(lambda: c.exports()["disk0"]["features"], "features negotiated")
    e = c.exports()["disk0"]
    c.check(e["features"] & (1 << 11), "the driver did not negotiate CONFIG_WCE: %r" % e)
    c.check(c.ok("export_set", {"name": "disk0", "writeback": False})["writeback"] is False,
            "writethrough not applied at once")
    c.error("export_set", {"name": "disk0", "writeback": True}, RPC_FAILED, "CONFIG_WCE")
    c.check(bench.wait(timeout=60) == 0, "bench across the cache-mode change failed")
    c.alive()
    c.stop()


ctl_lib.run("stats_set", main)
