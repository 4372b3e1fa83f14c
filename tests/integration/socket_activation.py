#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vblkd under a service manager, without systemd: what vblkd@.socket and
vblkd@.service do, done by hand.

  socket_activation.py MODE VBLKD VBLK UNITDIR

  abstract  a listening socket as fd 3 with LISTEN_FDS=1 LISTEN_PID=<vblkd>,
            the unit's own ExecStart line; READY=1 arrives on an abstract
            NOTIFY_SOCKET ('@...') only once `vblk info` works through the
            socket; SIGTERM sends STOPPING=1, exits 0 and leaves the socket
            (the manager's) in place
  path      the same with NOTIFY_SOCKET a filesystem path
  foreign   LISTEN_PID names another process: the fds are not ours, vblkd
            exits 2 (no socket given) and says nothing on NOTIFY_SOCKET
  units     the installed units pass systemd-analyze verify (77 without it)

Exit 0 pass, 1 fail, 77 skip.
"""
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_lib import Daemons  # noqa: E402

mode, vblkd, vblk, unitdir = sys.argv[1:5]
d = Daemons("sockact")
tmp, fail = d.tmp, d.fail


def exec_start(disk):
    """The unit's ExecStart, with our vblkd and the environment file expanded."""
    with open(os.path.join(unitdir, "vblkd@.service")) as f:
        line = next(l for l in f if l.startswith("ExecStart="))
    argv = shlex.split(line[len("ExecStart="):])
    if not argv[0].endswith("/vblkd"):
        fail("ExecStart does not run vblkd: " + line)
    argv[0] = vblkd
    env = {"VBLKD_DISK": disk}  # VBLKD_OPTS unset: systemd drops the word
    out = []
    for a in argv:
        if a.startswith("$") and a.strip("${}") not in env:
            continue
        out.append(a.replace("${VBLKD_DISK}", env["VBLKD_DISK"]))
    return out


def spawn(argv, listener, notify, listen_pid=None):
    """Start argv with listener as fd 3 and LISTEN_FDS=1; LISTEN_PID is the
    child's own pid ($$ of the shell that execs it), or listen_pid."""
    env = dict(os.environ, LISTEN_FDS="1", NOTIFY_SOCKET=notify)
    env.pop("LISTEN_PID", None)
    prelude = "LISTEN_PID=%s; export LISTEN_PID;" % (listen_pid or "$$")
    return d.spawn_fd3(argv, listener.fileno(), env=env, prelude=prelude)


def recv_state(ns, timeout):
    ns.settimeout(timeout)
    try:
        return ns.recv(4096).decode()
    except socket.timeout:
        return None


def main():
    if mode == "units":
        sa = shutil.which("systemd-analyze")
        if not sa:
            print("SKIP: no systemd-analyze")
            return 77
        # The units as installed, but ExecStart naming the vblkd just built.
        for u in ("vblkd@.service", "vblkd@.socket"):
            with open(os.path.join(unitdir, u)) as f:
                text = f.read()
            lines = [("ExecStart=" + os.path.abspath(vblkd) + " " + l.split(" ", 1)[1])
                     if l.startswith("ExecStart=") else l for l in text.split("\n")]
            with open(os.path.join(tmp, u), "w") as f:
                f.write("\n".join(lines))
        r = subprocess.run([sa, "verify", "--man=no", "vblkd@t.service", "vblkd@t.socket"],
                           cwd=tmp, capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or r.stderr.strip():
            fail("systemd-analyze verify: %d %s" % (r.returncode, r.stderr))
        return 0

    sock_path = os.path.join(tmp, "vhost.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(16)
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if mode == "path":
        notify = os.path.join(tmp, "notify")
        ns.bind(notify)
    else:
        name = "vblk-test-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
        ns.bind("\0" + name)
        notify = "@" + name

    if mode == "foreign":
        # The parent's pid: the variables were for it, not for vblkd.
        p = spawn(exec_start("null:1M"), listener, notify, listen_pid=os.getpid())
        d.expect_exit(p, 2, "with a foreign LISTEN_PID")
        if "give exactly one of --socket" not in d.log_text():
            fail("vblkd did not say that it was given no socket")
        if recv_state(ns, 0.2) is not None:
            fail("vblkd notified the manager although it did not start")
        return 0

    p = spawn(exec_start("memory:4M"), listener, notify)
    state = recv_state(ns, 20)
    if state is None:
        fail("no notification from vblkd within 20 s")
    if "READY=1" not in state.split("\n"):
        fail("first notification is %r, want READY=1" % state)
    r = subprocess.run([vblk, "info", sock_path], capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or "capacity" not in r.stdout:
        fail("vblk info through the passed socket: %d %s %s" % (r.returncode, r.stdout, r.stderr))
    if "capacity:            4194304 bytes" not in r.stdout:
        fail("vblk info does not show the 4 MiB disk: " + r.stdout)

    p.send_signal(signal.SIGTERM)
    state = recv_state(ns, 20)
    if state is None or "STOPPING=1" not in state.split("\n"):
        fail("after SIGTERM: %r, want STOPPING=1" % state)
    d.expect_exit(p, 0, "after SIGTERM")
    # The socket belongs to the service manager, which may pass it again.
    if not os.path.exists(sock_path):
        fail("vblkd removed the socket it was passed")
    return 0


d.run(main)
