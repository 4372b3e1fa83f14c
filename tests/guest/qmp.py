#!/usr/bin/env python3
"""qmp.py SOCKET COMMAND [ARGS-JSON] - run one QMP command on a QEMU or
qemu-storage-daemon monitor socket (--monitor) and print its return value.

Used by qsd-as-vblkd.sh to turn vblkd's SIGHUP into qsd's block_resize.
Exit 0 on success, 1 on an error reply or a broken connection, 2 on usage.
"""
import json
import socket
import sys


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    path, cmd = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) == 4 else None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        f = s.makefile("rw", encoding="utf-8")

        def recv():
            # Events may come in between: skip them.
            while True:
                line = f.readline()
                if not line:
                    raise ConnectionError("the monitor closed the connection")
                msg = json.loads(line)
                if "event" not in msg:
                    return msg

        def execute(name, arguments=None):
            req = {"execute": name}
            if arguments is not None:
                req["arguments"] = arguments
            f.write(json.dumps(req) + "\n")
            f.flush()
            r = recv()
            if "error" in r:
                raise RuntimeError("%s: %s" % (name, r["error"].get("desc", r["error"])))
            return r.get("return")

        if "QMP" not in recv():
            raise ConnectionError("no QMP greeting")
        execute("qmp_capabilities")
        print(json.dumps(execute(cmd, args)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, RuntimeError) as e:
        print("qmp.py: %s" % e, file=sys.stderr)
        sys.exit(1)
