#!/usr/bin/env python3
"""hmp.py SOCKET COMMAND... - run QEMU human monitor commands over a unix socket.

Each COMMAND is sent after the "(qemu) " prompt; what QEMU answers is
printed. Exit 1 if the socket cannot be reached or an answer looks like an
error ("Error", "error:", "failed"), 0 otherwise. Used by run-guest.sh
--hotplug to add and remove DIMMs (object_add, device_add, device_del).
"""
import socket
import sys
import time


def until_prompt(s, deadline):
    buf = b""
    while not buf.endswith(b"(qemu) "):
        s.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = s.recv(4096)
        if not chunk:
            raise EOFError("monitor closed")
        buf += chunk
    return buf.decode(errors="replace")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    deadline = time.monotonic() + 30
    until_prompt(s, deadline)
    rc = 0
    for cmd in sys.argv[2:]:
        s.sendall(cmd.encode() + b"\n")
        out = until_prompt(s, deadline)
        # The echo of the command comes first; the prompt last.
        lines = [l.strip("\r") for l in out.split("\n")[1:-1] if l.strip("\r")]
        text = " | ".join(lines)
        print(f"hmp: {cmd} -> {text or 'ok'}")
        if any(w in text for w in ("Error", "error:", "failed")):
            rc = 1
    s.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
