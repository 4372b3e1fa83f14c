#!/usr/bin/env python3
# kill-inflight.py PID [TIMEOUT] - SIGKILL a vhost-user back end while it has
# requests in flight, to exercise reconnect with in-flight I/O tracking.
#
# A back end that negotiated VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD holds the
# inflight region (vhost-user.rst "Inflight I/O tracking", split layout:
# per queue a 16-byte header {u64 features; u16 version; u16 desc_num;
# u16 last_batch_head; u16 used_idx} then desc_num 16-byte entries whose
# first byte is the inflight flag; packed layout, tagged by vblkd with
# features = 1: a 32-byte header {u64 features; u16 version; u16 desc_num;
# ...} then desc_num 32-byte entries, inflight first) in a memfd. vblkd names it
# "vblk-inflight". We poll that memory through /proc/PID/mem and kill the
# moment some entry is in flight; after TIMEOUT seconds (default 5) we kill
# anyway. Prints one line: how many entries were in flight when we fired.
# A back end without such a memfd is killed at once.
import os
import signal
import sys
import time

pid = int(sys.argv[1])
timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0


def family(p):
    """p and its descendants: a wrapper script (tests/rbd/over-rbd.sh) may
    run the back end as its child."""
    out = [p]
    try:
        for task in os.listdir(f"/proc/{p}/task"):
            with open(f"/proc/{p}/task/{task}/children") as f:
                for c in f.read().split():
                    out += family(int(c))
    except OSError:
        pass
    return out


def find_region():
    """(fd of /proc/PID/mem, address, length, pid) of the region, or None.

    vblkd keeps only the mapping (the fds are closed once mapped), so look in
    /proc/PID/maps; the region starts at offset 0 of the memfd it created.
    """
    for p in family(pid):
        try:
            with open(f"/proc/{p}/maps") as maps:
                for line in maps:
                    if "memfd:vblk-inflight" in line:
                        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                        return os.open(f"/proc/{p}/mem", os.O_RDONLY), lo, hi - lo, p
        except OSError:
            pass
    return None


def in_flight(buf):
    n, off = 0, 0
    while off + 16 <= len(buf):
        features = int.from_bytes(buf[off:off + 8], "little")
        desc_num = int.from_bytes(buf[off + 10:off + 12], "little")
        if desc_num == 0:
            break
        # vblkd's packed-layout tag (VQ_INFLIGHT_F_PACKED_LAYOUT): 32-byte header and entries.
        size = 32 if features & 1 else 16
        ents = buf[off + size:off + size + desc_num * size]
        n += sum(1 for i in range(0, len(ents), size) if ents[i])
        off += size + desc_num * size
    return n


region = find_region()
n = 0
if region is not None:
    fd, addr, size, holder = region
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            n = in_flight(os.pread(fd, size, addr))
            if n:
                break
    except OSError:
        pass
    if holder != pid:
        os.kill(holder, signal.SIGKILL)
os.kill(pid, signal.SIGKILL)
if region is None:
    print("kill-inflight: no inflight region; killed at once")
else:
    print(f"kill-inflight: killed with {n} request(s) in flight")
