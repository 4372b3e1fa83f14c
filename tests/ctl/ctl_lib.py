# SPDX-License-Identifier: MIT
"""Shared by the control-socket tests: a vblkd with several exports and a
--control socket in a private temp dir, a JSON-RPC client for it, vblk runs
with a time bound, every child killed at exit, one-line failures with the
daemon's log. The tests drive the daemon only through the control socket
(and the exports' own sockets, with vblk)."""
import json
import os
import socket
import subprocess
import sys
import time

VBLKD, VBLK = sys.argv[1], sys.argv[2]


# The temp dir, the children killed at exit and the one-line failure with
# the daemon's log are the integration tests' (tests/integration/daemon_lib.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import daemon_lib  # noqa: E402


class Ctl(daemon_lib.Daemons):
    def __init__(self, name):
        super().__init__("ctl-%s" % name)
        self.control = os.path.join(self.tmp, "control.sock")
        self.daemon = None
        self.next_id = 0

    def path(self, name):
        return os.path.join(self.tmp, name)

    def check(self, cond, msg):
        if not cond:
            self.fail(msg)

    def start(self, args):
        """vblkd --control CONTROL args..., until the control socket answers."""
        with open(self.log, "w") as log:
            self.daemon = subprocess.Popen([VBLKD, "--control", self.control] + args,
                                           stdout=log, stderr=subprocess.STDOUT)
        self.children.append(self.daemon)
        for _ in range(200):
            if self.daemon.poll() is not None:
                self.fail("vblkd exited %d before serving" % self.daemon.returncode)
            if os.path.exists(self.control):
                return
            time.sleep(0.05)
        self.fail("no control socket within 10 s")

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(self.control)
        return s

    def line(self, s, data):
        """Send raw bytes, return the next reply line parsed."""
        s.sendall(data)
        return self.read_reply(s)

    def read_reply(self, s):
        buf = b""
        while not buf.endswith(b"\n"):
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                self.fail("no reply within 20 s (so far %r)" % buf[:200])
            if not chunk:
                self.fail("control socket closed with no reply (so far %r)" % buf[:200])
            buf += chunk
        self.check(buf.count(b"\n") == 1, "more than one reply line: %r" % buf[:300])
        try:
            r = json.loads(buf)
        except ValueError:
            self.fail("reply is not JSON: %r" % buf[:300])
        self.check(r.get("jsonrpc") == "2.0", "reply without jsonrpc 2.0: %r" % r)
        return r

    def call(self, method, params=None, s=None):
        """One request on its own connection (or s); returns the reply object."""
        self.next_id += 1
        req = {"jsonrpc": "2.0", "method": method, "id": self.next_id}
        if params is not None:
            req["params"] = params
        own = s is None
        s = s or self.connect()
        r = self.line(s, (json.dumps(req) + "\n").encode())
        if own:
            s.close()
        self.check(r.get("id") == self.next_id, "reply id %r for request %d" %
                   (r.get("id"), self.next_id))
        return r

    def ok(self, method, params=None):
        r = self.call(method, params)
        self.check("result" in r, "%s %r failed: %r" % (method, params, r))
        return r["result"]

    def error(self, method, params, code, words=""):
        """The call must fail with code, its message containing words."""
        r = self.call(method, params)
        e = r.get("error")
        self.check(e is not None, "%s %r succeeded, want error %d: %r" %
                   (method, params, code, r))
        self.check(e.get("code") == code, "%s %r: error %r, want code %d" %
                   (method, params, e, code))
        self.check(words in e.get("message", ""), "%s %r: message %r lacks %r" %
                   (method, params, e.get("message"), words))
        return e

    def exports(self):
        return {e["name"]: e for e in self.ok("export_list")}

    def vblk(self, args, input=None, timeout=30):
        try:
            p = subprocess.run([VBLK] + args, input=input, capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail("vblk %s: still running after %d s" % (" ".join(args), timeout))
        return p

    def vblk_ok(self, args, input=None):
        p = self.vblk(args, input)
        self.check(p.returncode == 0, "vblk %s exited %d: %s" %
                   (" ".join(args), p.returncode, p.stderr.decode(errors="replace")))
        return p.stdout

    def bench(self, sock, rw, iodepth, queues, runtime, extra=(), stderr=subprocess.DEVNULL):
        """vblk bench in the background (killed at exit)."""
        p = subprocess.Popen([VBLK, "bench", sock, "--rw=" + rw, "--bs=4k",
                              "--iodepth=%d" % iodepth, "--queues=%d" % queues,
                              "--runtime=%d" % runtime] + list(extra),
                             stdout=subprocess.DEVNULL, stderr=stderr)
        self.children.append(p)
        return p

    def wait_for(self, pred, what, seconds=10):
        """Poll pred() until true, or fail saying what did not happen."""
        for _ in range(int(seconds * 20)):
            if pred():
                return
            time.sleep(0.05)
        self.fail("%s: not within %d s" % (what, seconds))

    def stop(self):
        """SIGTERM: vblkd must exit 0 within 20 s."""
        self.daemon.terminate()
        try:
            rc = self.daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("vblkd still running 20 s after SIGTERM")
        self.check(rc == 0, "vblkd exited %d after SIGTERM" % rc)

    def alive(self):
        self.check(self.daemon.poll() is None, "vblkd died (exit %s)" % self.daemon.returncode)


def run(name, main):
    c = Ctl(name)
    try:
        main(c)
    finally:
        c.cleanup()
    sys.exit(0)
