# SPDX-License-Identifier: MIT
"""Control clients that misbehave stall nobody: one floods requests and
never reads the replies, one sends half a line and stops, one connects and
says nothing - meanwhile other control clients are answered, an export is
added and used, and I/O runs on the exports. Past CTL_MAX_CLIENTS (16) a
new client is refused with an error, and served again once one leaves."""
import socket
import time

import ctl_lib


def main(c):
    c.start(["--disk", "memory:4M", "--socket", c.path("a.sock")])

    flood = c.connect()
    flood.setblocking(False)
    req = b'{"jsonrpc":"2.0","method":"export_list","id":1}\n' * 1000
    sent = 0
    t = time.monotonic()
    # Until the daemon stops reading us (its replies to us fill both buffers).
    while time.monotonic() - t < 5:
        try:
            sent += flood.send(req)
        except BlockingIOError:
            time.sleep(0.05)
            try:
                sent += flood.send(req)
            except BlockingIOError:
                break
    c.check(sent > 0, "could not send anything")
    half = c.connect()
    half.sendall(b'{"jsonrpc":"2.0","method":"expo')
    mute = c.connect()

    t = time.monotonic()
    for _ in range(20):
        c.check(len(c.exports()) >= 1, "export_list")
    c.check(time.monotonic() - t < 10, "20 export_list took %.1f s beside a flood" %
            (time.monotonic() - t))
    sock = c.path("b.sock")
    c.ok("export_add", {"name": "b", "socket": sock, "disk": "memory:1M"})
    data = b"\xa5" * 8192
    for s in (c.path("a.sock"), sock):
        c.vblk_ok(["write", s, "4096"], input=data)
        c.check(c.vblk_ok(["read", s, "4096", "8192"]) == data, "I/O on %s" % s)
    c.ok("export_remove", {"name": "b"})

    # Fill up to the cap (flood, half and mute hold 3), then one more is refused.
    time.sleep(0.3)  # the connections of the calls above are closed by now
    extra = [c.connect() for _ in range(13)]
    refused = c.connect()
    refused.settimeout(10)
    r = refused.recv(4096)
    c.check(b"too many control clients" in r, "client 17 got %r" % r)
    refused.close()
    extra.pop().close()
    time.sleep(0.2)
    c.check(len(c.exports()) == 1, "not served after a client left")

    # The flooder is still connected and gets its replies once it reads.
    flood.setblocking(True)
    flood.settimeout(10)
    got = b""
    while got.count(b"\n") < 10:
        got += flood.recv(65536)
    c.check(got.startswith(b'{"jsonrpc":"2.0","result":['), "flood replies: %r" % got[:100])
    for s in extra + [flood, half, mute]:
        s.close()
    c.alive()
    c.stop()


ctl_lib.run("slow", main)
