# SPDX-License-Identifier: MIT
"""export_list shows every export of a daemon started with several, with
what each serves, and whether a front end is connected and what it
negotiated (split or packed ring)."""
import ctl_lib


def main(c):
    img = c.path("disk.img")
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    # Three exports: socket before or after the disk, named or by position.
    c.start(["--disk", "memory:16M", "--socket", c.path("a.sock"),
             "--socket", c.path("b.sock"), "--disk", "null:1G,queues=2,ro", "--name", "nul",
             "--disk", img, "--socket", c.path("c.sock")])
    ex = c.exports()
    c.check(sorted(ex) == ["disk0", "disk2", "nul"], "exports %r" % sorted(ex))
    a, b, f = ex["disk0"], ex["nul"], ex["disk2"]
    c.check(a["socket"] == c.path("a.sock") and a["disk"] == "memory:16M" and
            a["size"] == 16 << 20 and a["queues"] == 64 and not a["read_only"],
            "disk0: %r" % a)
    c.check(b["socket"] == c.path("b.sock") and b["size"] == 1 << 30 and b["queues"] == 2 and
            b["read_only"], "nul: %r" % b)
    c.check(f["disk"] == img and f["size"] == 8 << 20, "disk2: %r" % f)
    for e in ex.values():
        c.check(e["connected"] is False and e["features"] == 0 and e["ring"] is None,
                "%s has a front end before any: %r" % (e["name"], e))

    # Each export serves its own disk on its own socket.
    for sock, size in (("a.sock", 16 << 20), ("b.sock", 1 << 30), ("c.sock", 8 << 20)):
        out = c.vblk_ok(["info", c.path(sock)]).decode()
        c.check("%d bytes" % size in out, "vblk info %s: %s" % (sock, out))

    # A front end that stays connected: split on one export, packed on another.
    benches = [c.bench(c.path("a.sock"), "randread", 4, 1, 3),
               c.bench(c.path("c.sock"), "randread", 4, 1, 3, ["--packed"])]
    c.wait_for(lambda: all(c.exports()[n]["features"] for n in ("disk0", "disk2")),
               "both front ends negotiated")
    ex = c.exports()
    a, f = ex["disk0"], ex["disk2"]
    c.check(a["connected"] and a["ring"] == "split" and a["features"] & (1 << 32),
            "disk0 during I/O: %r" % a)
    c.check(f["connected"] and f["ring"] == "packed" and f["features"] & (1 << 34),
            "disk2 during packed I/O: %r" % f)
    c.check(not ex["nul"]["connected"], "nul connected: %r" % ex["nul"])
    for p in benches:
        c.check(p.wait(timeout=30) == 0, "vblk bench failed")
    c.wait_for(lambda: not c.exports()["disk0"]["connected"],
               "disk0 disconnected after its client left")
    c.stop()


ctl_lib.run("list", main)
