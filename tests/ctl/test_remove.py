# SPDX-License-Identifier: MIT
"""export_remove with I/O in flight: the reply comes once the export's
requests are drained and its disk flushed; the socket goes, the client
sees the end, the other exports keep serving, and the name is free again."""
import os
import subprocess
import time

import ctl_lib

RPC_NO_SUCH_EXPORT = -32001


def main(c):
    c.start(["--disk", "memory:1M", "--socket", c.path("keep.sock")])
    img = c.path("gone.img")
    sock = c.path("gone.sock")
    c.ok("export_add", {"name": "gone", "socket": sock, "disk": img + ",size=64M"})
    # 32 writes in flight on 2 queues until the export goes away.
    bench = c.bench(sock, "randwrite", 32, 2, 60, stderr=subprocess.PIPE)
    c.wait_for(lambda: c.exports()["gone"]["connected"], "bench connected")
    time.sleep(0.5)  # let the queues fill
    c.check(bench.poll() is None, "bench ended before the remove")

    t = time.monotonic()
    r = c.ok("export_remove", {"name": "gone"})
    c.check(r == {"name": "gone"}, "export_remove result %r" % r)
    c.check(time.monotonic() - t < 20, "export_remove took %.1f s" % (time.monotonic() - t))
    c.check(not os.path.exists(sock), "the removed export's socket is still there")
    c.check(sorted(c.exports()) == ["disk0"], "exports after remove %r" % sorted(c.exports()))
    try:
        bench.wait(timeout=20)
    except subprocess.TimeoutExpired:
        c.fail("the client of the removed export still runs 20 s later")
    with open(c.log) as f:
        log = f.read()
    c.check("gone: stopped" in log, "no 'gone: stopped' in the log")
    c.alive()
    c.vblk_ok(["info", c.path("keep.sock")])

    # The name and the socket path are free again; the image lock is gone.
    c.ok("export_add", {"name": "gone", "socket": sock, "disk": img})
    c.vblk_ok(["info", sock])
    c.ok("export_remove", {"name": "gone"})
    c.error("export_remove", {"name": "gone"}, RPC_NO_SUCH_EXPORT, "gone")
    # The export of the command line may go too: the daemon runs on with none.
    c.ok("export_remove", {"name": "disk0"})
    c.check(c.exports() == {}, "exports left %r" % c.exports())
    c.alive()
    c.stop()


ctl_lib.run("remove", main)
