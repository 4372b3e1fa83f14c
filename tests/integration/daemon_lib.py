# SPDX-License-Identifier: MIT
"""Shared by the Python integration scripts that start vblkd: a private temp
dir, every child killed at exit, one-line failures with vblkd's log, and
starting vblkd with a socket of ours as its fd 3 (as a service manager or a
management layer passes it)."""
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile


class Daemons:
    def __init__(self, name):
        self.tmp = tempfile.mkdtemp(prefix="vblk-%s." % name)
        self.log = os.path.join(self.tmp, "vblkd.log")
        self.children = []

    def cleanup(self):
        for p in self.children:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fail(self, msg):
        if os.path.exists(self.log):
            with open(self.log) as f:
                msg += "\n--- vblkd log:\n" + f.read()
        print("FAIL: " + msg, file=sys.stderr)
        self.cleanup()
        sys.exit(1)

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def spawn_fd3(self, argv, fd, env=None, prelude=""):
        """Run argv with fd as its fd 3, output to self.log. The shell moves
        the fd there (dup'ed from 5 up first: fd may be 3 itself, and dash
        takes single-digit fds only); prelude runs in that shell first, whose
        pid ($$) exec keeps."""
        n = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
        script = '%s exec "$@" 3<&%d %d<&-' % (prelude, n, n)
        with open(self.log, "w") as log:
            p = subprocess.Popen(["sh", "-c", script, "sh"] + argv, env=env, pass_fds=(n,),
                                 stdout=log, stderr=subprocess.STDOUT)
        os.close(n)
        self.children.append(p)
        return p

    def expect_exit(self, p, want, when):
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("vblkd still running 30 s %s" % when)
        if rc != want:
            self.fail("vblkd exited %d %s, want %d" % (rc, when, want))

    def run(self, main):
        """sys.exit(main()), cleaning up whatever happens."""
        try:
            status = main()
        finally:
            self.cleanup()
        sys.exit(status)
