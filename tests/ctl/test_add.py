# SPDX-License-Identifier: MIT
"""export_add starts a new export on a running daemon: the disk takes the
--disk syntax, I/O through its socket reaches the file; a name or socket
already in use, a bad disk or a missing file are JSON-RPC errors and leave
the daemon serving."""
import os

import ctl_lib

RPC_INVALID_PARAMS, RPC_EXISTS, RPC_FAILED = -32602, -32002, -32003


def main(c):
    c.start(["--disk", "memory:1M", "--socket", c.path("a.sock")])
    img = c.path("new.img")
    sock = c.path("new.sock")
    r = c.ok("export_add", {"name": "new", "socket": sock,
                            "disk": img + ",size=4M,serial=ctl-new,writeback"})
    c.check(r["name"] == "new" and r["size"] == 4 << 20 and r["writeback"],
            "export_add result %r" % r)
    c.check(os.stat(sock).st_mode & 0o777 == 0o600, "new socket mode %o, want 0600" %
            (os.stat(sock).st_mode & 0o777))
    c.check(sorted(c.exports()) == ["disk0", "new"], "exports %r" % sorted(c.exports()))

    # I/O on the new export with vblk, through its own socket.
    data = bytes(range(256)) * 64  # 16 KiB
    c.vblk_ok(["write", sock, "1M"], input=data)
    c.vblk_ok(["flush", sock])
    got = c.vblk_ok(["read", sock, "1M", str(len(data))])
    c.check(got == data, "read back %d bytes differ" % len(got))
    with open(img, "rb") as f:
        f.seek(1 << 20)
        c.check(f.read(len(data)) == data, "the file does not hold what was written")
    out = c.vblk_ok(["info", sock]).decode()
    c.check("ctl-new" in out, "serial not served: %s" % out)

    # Mistakes: each an error naming it, nothing started.
    c.error("export_add", {"name": "new", "socket": c.path("x.sock"), "disk": "memory:1M"},
            RPC_EXISTS, "new")
    c.error("export_add", {"name": "other", "socket": sock, "disk": "memory:1M"},
            RPC_FAILED, "another daemon is listening")
    c.error("export_add", {"name": "bad", "socket": c.path("bad.sock"),
                           "disk": "memory:1M,frobnicate"}, RPC_FAILED, "unknown option")
    c.error("export_add", {"name": "bad", "socket": c.path("bad.sock"),
                           "disk": c.path("missing.img")}, RPC_FAILED, "missing.img")
    c.error("export_add", {"name": "bad", "socket": c.path("bad.sock"),
                           "disk": img}, RPC_FAILED, "")  # locked by export "new"
    c.error("export_add", {"name": "no/slash", "socket": c.path("bad.sock"),
                           "disk": "memory:1M"}, RPC_FAILED, "bad export name")
    c.error("export_add", {"name": "bad", "socket": c.path("bad.sock")},
            RPC_INVALID_PARAMS, "disk")
    c.error("export_add", {"name": "bad", "socket": c.path("bad.sock"), "disk": 5},
            RPC_INVALID_PARAMS, "disk")
    c.check(not os.path.exists(c.path("bad.sock")), "a failed export_add left its socket")
    c.check(sorted(c.exports()) == ["disk0", "new"], "exports after errors %r" %
            sorted(c.exports()))
    c.vblk_ok(["info", c.path("a.sock")])
    c.stop()
    c.check(not os.path.exists(sock), "SIGTERM left the added export's socket")


ctl_lib.run("add", main)
