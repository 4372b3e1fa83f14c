# SPDX-License-Identifier: MIT
"""export_resize: a file-backed export grows to a given size (the file
grows, export_list and a new front end see it), or learns the size of a
file that grew behind its back (size omitted); shrinking, an unaligned
size, a size that is no number and a disk whose size is fixed are errors
that leave the export as it was."""
import os

import ctl_lib

RPC_INVALID_PARAMS, RPC_FAILED = -32602, -32003


def main(c):
    img = c.path("grow.img")
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    c.start(["--disk", img, "--socket", c.path("f.sock"), "--name", "file",
             "--disk", "memory:1M", "--socket", c.path("m.sock"), "--name", "mem"])

    r = c.ok("export_resize", {"name": "file", "size": 4 << 20})
    c.check(r == {"name": "file", "size": 4 << 20, "previous_size": 1 << 20},
            "export_resize result %r" % r)
    c.check(os.path.getsize(img) == 4 << 20, "the file has %d bytes" % os.path.getsize(img))
    c.check(c.exports()["file"]["size"] == 4 << 20, "export_list: %r" % c.exports()["file"])
    out = c.vblk_ok(["info", c.path("f.sock")]).decode()
    c.check("%d bytes" % (4 << 20) in out, "vblk info after the resize: %s" % out)
    # The new space holds data.
    c.vblk_ok(["write", c.path("f.sock"), "3M"], input=b"\x5a" * 4096)
    c.check(c.vblk_ok(["read", c.path("f.sock"), "3M", "4096"]) == b"\x5a" * 4096,
            "I/O in the new space")

    # The file grew behind vblkd's back: no size, the export learns it.
    with open(img, "r+b") as f:
        f.truncate(8 << 20)
    r = c.ok("export_resize", {"name": "file"})
    c.check(r["size"] == 8 << 20 and r["previous_size"] == 4 << 20, "re-read: %r" % r)

    c.error("export_resize", {"name": "file", "size": 2 << 20}, RPC_FAILED, "cannot resize")
    c.error("export_resize", {"name": "file", "size": (8 << 20) + 100}, RPC_FAILED,
            "cannot resize")
    c.error("export_resize", {"name": "file", "size": 0}, RPC_INVALID_PARAMS, "positive")
    c.error("export_resize", {"name": "file", "size": -4096}, RPC_INVALID_PARAMS, "positive")
    c.error("export_resize", {"name": "file", "size": "16M"}, RPC_INVALID_PARAMS, "integer")
    c.error("export_resize", {"name": "mem", "size": 2 << 20}, RPC_FAILED, "fixed")
    ex = c.exports()
    c.check(ex["file"]["size"] == 8 << 20 and ex["mem"]["size"] == 1 << 20,
            "sizes after refused resizes: %r" % {k: v["size"] for k, v in ex.items()})
    c.alive()
    c.stop()


ctl_lib.run("resize", main)
