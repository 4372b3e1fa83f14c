#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vblkd --fd N with N connected to the front end, as a management layer that
spawns the back end passes one end of a socketpair (vhost-user.rst "Backend
program conventions").

  connected_fd.py MODE VBLKD VBLK

  copy     the one front end (vblk copy, carried onto the socketpair with its
           fds by a small relay here) reads the whole disk, byte for byte;
           when it hangs up, vblkd exits 0
  hangup   the front end closes its end without a word: vblkd exits 0
  notsock  --fd naming a regular file, a datagram socket or a socket that is
           neither listening nor connected: exit 1, one line

Exit 0 pass, 1 fail.
"""
import os
import select
import socket
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_lib import Daemons  # noqa: E402

mode, vblkd, vblk = sys.argv[1:4]
d = Daemons("connfd")
tmp, fail = d.tmp, d.fail


def spawn_vblkd(fd, disk):
    return d.spawn_fd3([vblkd, "--fd", "3", "--disk", disk], fd)


def relay(a, b, until):
    """Carry bytes and fds between sockets a and b until either hangs up or
    the process until has exited."""
    while True:
        r, _, _ = select.select([a, b], [], [], 0.2)
        if not r and until.poll() is not None:
            return
        for s in r:
            other = b if s is a else a
            data, fds, _, _ = socket.recv_fds(s, 65536, 253)
            if not data:
                for fd in fds:
                    os.close(fd)
                return
            other.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                    b"".join(fd.to_bytes(4, sys.byteorder, signed=True)
                                             for fd in fds))] if fds else [])
            for fd in fds:
                os.close(fd)


def main():
    if mode == "copy":
        img = os.path.join(tmp, "disk.img")
        with open(img, "wb") as f:
            f.write(os.urandom(4 << 20))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        p = spawn_vblkd(theirs.fileno(), img)
        theirs.close()
        # vblk connects to a path; what it sends goes onto the socketpair.
        path = os.path.join(tmp, "relay.sock")
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lst.bind(path)
        lst.listen(1)
        out = os.path.join(tmp, "copy.img")
        c = subprocess.Popen([vblk, "copy", "vhost-user:" + path, out],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        d.children.append(c)
        lst.settimeout(30)
        conn, _ = lst.accept()
        relay(conn, ours, c)
        conn.close()
        ours.close()
        rc = c.wait(timeout=30)
        if rc != 0:
            fail("vblk copy through the connected fd exited %d: %s" % (rc, c.stdout.read()))
        with open(img, "rb") as f1, open(out, "rb") as f2:
            if f1.read() != f2.read():
                fail("the copy differs from the disk")
        d.expect_exit(p, 0, "after the front end hung up")
        if "hung up" not in d.log_text():
            fail("vblkd did not say that the front end hung up")
        return 0

    if mode == "hangup":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        p = spawn_vblkd(theirs.fileno(), "memory:1M")
        theirs.close()
        ours.close()
        d.expect_exit(p, 0, "after the front end closed its end")
        return 0

    if mode == "notsock":
        cases = []
        f = open(os.path.join(tmp, "file"), "w")
        cases.append(("a regular file", f.fileno()))
        dg = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        cases.append(("a datagram socket", dg.fileno()))
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cases.append(("an unconnected stream socket", u.fileno()))
        for what, fd in cases:
            p = spawn_vblkd(fd, "memory:1M")
            d.expect_exit(p, 1, "with --fd naming " + what)
            lines = d.log_text().splitlines()
            if len(lines) != 1:
                fail("--fd naming %s: not one line: %r" % (what, lines))
        return 0
    fail("unknown mode " + mode)


d.run(main)
