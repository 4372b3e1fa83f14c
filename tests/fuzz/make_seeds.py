#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses (binary files, committed).

    make_seeds.py [CORPUS_ROOT]     default: tests/fuzz/corpus

ring_engine: layout of fuzz_ring_engine.c: byte 0 config (bits 0-1: log2
num, bit 2 packed num 3/5/6/7, bit 3 event_idx, bit 4 indirect, bit 5
read-only disk, bit 6 packed ring), then guest RAM whose gpa 0x10000 is byte
1 of the input; desc table (packed: descriptor ring) at +0, avail (driver
event suppression) at +0x800, used (device event suppression) at +0x1000,
buffers from +0x2000.

vhost_user: records of fuzz_vhost_user.c (see its header comment).

vhost_seq: ops of fuzz_vhost_seq.c (see its header comment): QEMU-like
sessions (split and packed rings, inflight region, config) that the fuzzer
mutates field by field.

Files named crash-* in a corpus are inputs a fuzzer found, kept as found
(docs/fuzzing.md); this script does not write or remove them.

driver_ring: ops of fuzz_driver_ring.c (see its header comment).

rpc: lines of vblkd's control socket (fuzz_rpc.c): a valid request for
every method, bad types, huge numbers, deep nesting, invalid UTF-8, NUL
bytes, batches, notifications.
"""
import os
import struct
import sys

# ---------------------------------------------------------------- ring_engine

GPA = 0x10000
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_LIFETIME, T_DISCARD, T_WZ, T_SE = 0, 1, 4, 8, 10, 11, 13, 14


def image(cfg, descs, heads, bufs, indirect=None):
    ram = bytearray(0x4000)
    for i, (addr, ln, fl, nx) in enumerate(descs):
        struct.pack_into("<QIHH", ram, i * 16, addr, ln, fl, nx)
    struct.pack_into("<HH", ram, 0x800, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", ram, 0x804 + 2 * i, h)
    for off, data in bufs:
        ram[off:off + len(data)] = data
    if indirect:
        off, table = indirect
        for i, (addr, ln, fl, nx) in enumerate(table):
            struct.pack_into("<QIHH", ram, off + i * 16, addr, ln, fl, nx)
    return bytes([cfg]) + bytes(ram)


PACKED = 64
P_AVAIL, P_USED = 1 << 7, 1 << 15


def pimage(cfg, descs, bufs, indirect=None):
    """A packed ring (virtio 1.3 §2.8) in its first lap: every descriptor given is available
    (AVAIL = wrap counter 1, USED = 0 unless flags say otherwise); descs: (addr, len, id, flags)."""
    ram = bytearray(0x4000)
    for i, (addr, ln, id_, fl) in enumerate(descs):
        struct.pack_into("<QIHH", ram, i * 16, addr, ln, id_, fl | P_AVAIL)
    for off, data in bufs:
        ram[off:off + len(data)] = data
    if indirect:
        off, table = indirect
        for i, (addr, ln, fl) in enumerate(table):
            struct.pack_into("<QIHH", ram, off + i * 16, addr, ln, 0, fl)
    return bytes([cfg | PACKED]) + bytes(ram)


def req(t, sector):
    return struct.pack("<IIQ", t, 0, sector)


def seg(sector, n, flags):
    return struct.pack("<QII", sector, n, flags)


def ring_engine_seeds():
    hdr, data, st = 0x2000, 0x2100, 0x3000

    def simple(cfg, t, sector, payload=None, wdata=0):
        """hdr, optional readable payload or writable data of wdata bytes, status."""
        descs, bufs = [(GPA + hdr, 16, F_NEXT, 1)], [(hdr, req(t, sector))]
        if payload is not None:
            descs.append((GPA + data, len(payload), F_NEXT, 2))
            bufs.append((data, payload))
        elif wdata:
            descs.append((GPA + data, wdata, F_NEXT | F_WRITE, 2))
        descs.append((GPA + st, 1, F_WRITE, 0))
        if len(descs) == 2:
            descs[0] = (GPA + hdr, 16, F_NEXT, 1)
        return image(cfg, descs, [0], bufs)

    def chain(bid, *parts):
        """Packed descriptors of one buffer: NEXT on all but the last, the buffer ID on each."""
        return [(addr, ln, bid, fl | (F_NEXT if i + 1 < len(parts) else 0))
                for i, (addr, ln, fl) in enumerate(parts)]

    H, D, S = (GPA + hdr, 16, 0), (GPA + data, 512, 0), (GPA + st, 1, F_WRITE)
    DW = (GPA + data, 1024, F_WRITE)
    packed = {
        "packed-write": pimage(3, chain(0, H, D, S), [(hdr, req(T_OUT, 2)), (data, b"x" * 512)]),
        "packed-read-event-idx": pimage(3 | 8, chain(5, H, DW, S), [(hdr, req(T_IN, 0))]),
        "packed-flush-num3": pimage(4 | 0, chain(2, H, S), [(hdr, req(T_FLUSH, 0))]),
        "packed-getid-num7": pimage(4 | 3, chain(6, H, (GPA + data, 21, F_WRITE)),
                                    [(hdr, req(T_GET_ID, 0))]),
        "packed-indirect": pimage(3 | 16, [(GPA + 0x3800, 48, 1, F_INDIRECT)], [(hdr, req(T_IN, 1))],
                                  (0x3800, [H, DW, S])),
        "packed-two-buffers": pimage(3, chain(1, H, S) + chain(0, (GPA + 0x2010, 16, 0), DW,
                                                               (GPA + st + 1, 1, F_WRITE)),
                                     [(hdr, req(T_FLUSH, 0)), (0x2010, req(T_IN, 4))]),
        "packed-discard": pimage(3, chain(3, H, (GPA + data, 32, 0), S),
                                 [(hdr, req(T_DISCARD, 0)), (data, seg(8, 16, 0) + seg(64, 8, 0))]),
        # Hostile: an ID past the ring, a chain that never ends, a descriptor not yet
        # available (USED set in the first lap), the same ID twice in flight.
        "packed-id-out-of-range": pimage(3, chain(9, H, S), [(hdr, req(T_FLUSH, 0))]),
        "packed-endless-chain": pimage(1, [(GPA + hdr, 16, 0, F_NEXT), (GPA + data, 512, 0, F_NEXT)],
                                       [(hdr, req(T_OUT, 0))]),
        "packed-used-flag-set": pimage(3, [(GPA + hdr, 16, 0, F_NEXT | P_USED),
                                           (GPA + st, 1, 0, F_WRITE)], [(hdr, req(T_FLUSH, 0))]),
        "packed-same-id-twice": pimage(3, chain(2, H, S) + chain(2, H, S), [(hdr, req(T_FLUSH, 0))]),
        "packed-indirect-no-feature": pimage(3, [(GPA + 0x3800, 48, 1, F_INDIRECT)],
                                             [(hdr, req(T_IN, 1))], (0x3800, [H, DW, S])),
    }
    return packed | {
        "write": image(3, [(GPA + hdr, 16, F_NEXT, 1), (GPA + data, 512, F_NEXT, 2),
                           (GPA + st, 1, F_WRITE, 0)], [0], [(hdr, req(1, 2)), (data, b"x" * 512)]),
        "read": image(3 | 8, [(GPA + hdr, 16, F_NEXT, 5), (GPA + st, 1, F_WRITE, 0), (0, 0, 0, 0),
                              (0, 0, 0, 0), (0, 0, 0, 0), (GPA + data, 1024, F_NEXT | F_WRITE, 1)],
                      [0], [(hdr, req(0, 0))]),
        "flush": image(2, [(GPA + hdr, 16, F_NEXT, 1), (GPA + st, 1, F_WRITE, 0)], [0],
                       [(hdr, req(4, 0))]),
        "getid": image(2, [(GPA + hdr, 16, F_NEXT, 1), (GPA + data, 21, F_WRITE, 0)], [0],
                       [(hdr, req(8, 0))]),
        "indirect": image(3 | 16, [(GPA + 0x3800, 48, F_INDIRECT, 0)], [0], [(hdr, req(0, 1))],
                          (0x3800, [(GPA + hdr, 16, F_NEXT, 1), (GPA + data, 512, F_NEXT | F_WRITE, 2),
                                    (GPA + st, 1, F_WRITE, 0)])),
        "loop": image(3, [(GPA + hdr, 16, F_NEXT, 1), (GPA + data, 512, F_NEXT, 0)], [0],
                      [(hdr, req(1, 0))]),
        # Added with the hostile-input work: every request type and the edges.
        "discard": simple(3, T_DISCARD, 0, seg(8, 16, 0) + seg(64, 8, 0)),
        "discard-unmap": simple(3, T_DISCARD, 0, seg(8, 16, 1)),
        "write-zeroes-unmap": simple(3, T_WZ, 0, seg(0, 32, 1)),
        "write-zeroes-badflag": simple(3, T_WZ, 0, seg(0, 32, 2)),
        "secure-erase": simple(3, T_SE, 0, seg(0, 8, 0)),
        "lifetime": simple(2, T_LIFETIME, 0, wdata=8),
        "unknown-type": simple(2, 0x7f, 0),
        "read-past-end": simple(3, T_IN, 2047, wdata=1024),
        "read-overflow": simple(3, T_IN, (1 << 64) - 1, wdata=1024),
        "write-ro": image(3 | 32, [(GPA + hdr, 16, F_NEXT, 1), (GPA + data, 512, F_NEXT, 2),
                                   (GPA + st, 1, F_WRITE, 0)], [0], [(hdr, req(1, 2))]),
        "getid-event-idx": image(2 | 8, [(GPA + hdr, 16, F_NEXT, 1), (GPA + data, 21, F_WRITE, 0)],
                                 [0], [(hdr, req(8, 0))]),
        # Two chains, the second an indirect one whose table is split mid-header.
        "two-heads-indirect": image(
            3 | 8 | 16,
            [(GPA + hdr, 16, F_NEXT, 1), (GPA + st, 1, F_WRITE, 0), (GPA + 0x3800, 64, F_INDIRECT, 0)],
            [0, 2], [(hdr, req(4, 0)), (0x2010, req(0, 4))],
            (0x3800, [(GPA + 0x2010, 8, F_NEXT, 1), (GPA + 0x2018, 8, F_NEXT, 2),
                      (GPA + data, 512, F_NEXT | F_WRITE, 3), (GPA + st + 1, 1, F_WRITE, 0)])),
        "status-in-data": image(3, [(GPA + hdr, 16, F_NEXT, 1), (GPA + data, 513, F_WRITE, 0)], [0],
                                [(hdr, req(0, 0))]),
        "no-status": image(3, [(GPA + hdr, 16, F_NEXT, 1), (GPA + data, 512, 0, 0)], [0],
                           [(hdr, req(1, 0))]),
    }


# ----------------------------------------------------------------- vhost_user

GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR = 12, 13, 14
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
GET_CONFIG, SET_CONFIG = 24, 25
SET_LOG_BASE, SET_LOG_FD = 6, 7
SET_BACKEND_REQ_FD = 21
GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG = 36, 37, 38
NEED_REPLY = 0x8
FD_EVENT, FD_MEM, FD_PIPE, FD_SOCKET = 0x00, 0x20, 0x40, 0x50
PF_BACKEND_REQ = 0x20
UVA = 0x7F0000000000
GMEM = 256 << 10


def vu_msg(request, payload=b"", flags=0, nfds=0, kind=FD_EVENT):
    return bytes([0, request, flags]) + struct.pack("<H", len(payload)) + \
        bytes([kind | nfds]) + payload


def vu_kick(i):
    return bytes([5, i])


def vu_poke(off, data):
    out = b""
    while data:
        chunk, data = data[:255], data[255:]
        out += bytes([6]) + struct.pack("<HB", off, len(chunk)) + chunk
        off += len(chunk)
    return out


def u64(v):
    return struct.pack("<Q", v)


def state(i, n):
    return struct.pack("<II", i, n)


def ring_base(q):
    return q * 0x4000  # desc +0, avail +0x1000, used +0x2000


def vu_negotiate(features, pfeatures=0x1 | 0x8 | 0x200, ack=NEED_REPLY):
    s = vu_msg(GET_FEATURES) + vu_msg(SET_OWNER) + vu_msg(GET_PROTOCOL_FEATURES)
    s += vu_msg(SET_PROTOCOL_FEATURES, u64(pfeatures)) + vu_msg(GET_QUEUE_NUM)
    s += vu_msg(SET_FEATURES, u64(features), ack)
    table = struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, GMEM, UVA, 0)
    s += vu_msg(SET_MEM_TABLE, table, ack, 1, FD_MEM)
    return s


def vu_queue(q, num=8, ack=NEED_REPLY, err=True):
    b = ring_base(q)
    s = vu_msg(SET_VRING_NUM, state(q, num), ack) + vu_msg(SET_VRING_BASE, state(q, 0), ack)
    s += vu_msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", q, 0, UVA + b, UVA + b + 0x2000,
                                              UVA + b + 0x1000, 0), ack)
    s += vu_msg(SET_VRING_KICK, u64(q), ack, 1) + vu_msg(SET_VRING_CALL, u64(q), ack, 1)
    if err:
        s += vu_msg(SET_VRING_ERR, u64(q), ack, 1)
    s += vu_msg(SET_VRING_ENABLE, state(q, 1), ack)
    return s


def vu_request(q, head, t, sector, datalen, dev_writes, avail_idx, vu_poke=vu_poke):
    """Guest-memory writes for one 3-descriptor request at buffers 0x8000 + q * 0x4000 (pokes reach 64K)."""
    b, buf = ring_base(q), 0x8000 + q * 0x4000
    descs = struct.pack("<QIHH", buf, 16, F_NEXT, head + 1)
    descs += struct.pack("<QIHH", buf + 0x1000, datalen, F_NEXT | (F_WRITE if dev_writes else 0),
                         head + 2)
    descs += struct.pack("<QIHH", buf + 0x200, 1, F_WRITE, 0)
    s = vu_poke(b + head * 16, descs) + vu_poke(buf, req(t, sector))
    s += vu_poke(b + 0x1000 + 4 + 2 * (avail_idx - 1), struct.pack("<H", head))
    s += vu_poke(b + 0x1000 + 2, struct.pack("<H", avail_idx))
    return s


def vhost_user_seeds():
    base = (1 << 32) | (1 << 30)  # VERSION_1 | PROTOCOL_FEATURES
    full = base | (1 << 28) | (1 << 29) | (1 << 9) | (1 << 6) | (1 << 2) | (1 << 12) | (1 << 11)
    cfg = struct.pack("<III", 0, 96, 0)
    io = vu_request(0, 0, T_OUT, 8, 4096, False, 1) + vu_kick(0)
    io += vu_request(0, 3, T_IN, 8, 4096, True, 2) + vu_kick(0)
    io1 = vu_request(1, 0, T_GET_ID, 0, 20, True, 1) + vu_kick(3)
    hot = u64(0) + struct.pack("<QQQQ", 1 << 32, GMEM // 2, UVA + (1 << 30), GMEM // 2)
    return {
        "handshake": vu_negotiate(base) + vu_msg(GET_CONFIG, cfg + bytes(96)),
        "two-queues-io": vu_negotiate(full) + vu_queue(0) + vu_queue(1) + io + io1 +
        vu_msg(GET_VRING_BASE, state(0, 0)),
        "event-idx-io": vu_negotiate(base | (1 << 29)) + vu_queue(0, 16) + io,
        "no-ack-io": vu_negotiate(base, 0x1 | 0x200, 0) + vu_queue(0, 8, 0, False) + io,
        "reconf": vu_negotiate(full) + vu_queue(0) + io +
        vu_msg(SET_MEM_TABLE, struct.pack("<II", 2, 0) +
               struct.pack("<QQQQ", 0, GMEM // 2, UVA, 0) +
               struct.pack("<QQQQ", GMEM // 2, GMEM // 2, UVA + GMEM // 2, GMEM // 2),
               NEED_REPLY, 2, FD_MEM) +
        vu_msg(SET_VRING_CALL, u64(0), NEED_REPLY, 1) + vu_msg(GET_VRING_BASE, state(0, 0)) +
        vu_queue(0) + vu_msg(RESET_OWNER),
        "config": vu_negotiate(full) + vu_msg(GET_CONFIG, cfg + bytes(96)) +
        vu_msg(SET_CONFIG, struct.pack("<III", 32, 1, 0) + b"\x01", NEED_REPLY) +
        vu_msg(GET_CONFIG, struct.pack("<III", 90, 10, 0) + bytes(10)),
        "loop": vu_negotiate(full) + vu_queue(0) + vu_queue(1) +
        vu_poke(0, struct.pack("<QIHH", 0x10000, 512, F_NEXT, 1) +
                struct.pack("<QIHH", 0x10000, 512, F_NEXT, 0)) +
        vu_poke(0x1000, struct.pack("<HHH", 0, 1, 0)) + vu_kick(0) + io1,
        "bad-vring-index": vu_negotiate(base) + vu_msg(SET_VRING_NUM, state(7, 8)),
        "second-client": vu_negotiate(base) + bytes([7]) + vu_msg(GET_FEATURES),
        "surplus-fds": vu_msg(GET_FEATURES, b"", 0, 3, FD_PIPE) + vu_negotiate(base),
        # vhost-user.rst "Migration": LOG_ALL + LOG_SHMFD, a log in the memfd's last page,
        # the used ring logged on the running ring, I/O, SET_LOG_FD, a log that overflows,
        # the stop (GET_VRING_BASE) and LOG_ALL switched off again.
        "migrate-log": vu_negotiate(full | (1 << 26), 0x1 | 0x2 | 0x8 | 0x200) + vu_queue(0) +
        vu_msg(SET_LOG_BASE, struct.pack("<QQ", 8, GMEM - 4096), 0, 1, FD_MEM) +
        vu_msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 1, UVA, UVA + 0x2000, UVA + 0x1000,
                                           0x2000), NEED_REPLY) + io +
        vu_msg(SET_LOG_FD, b"", NEED_REPLY, 1) +
        vu_msg(SET_LOG_BASE, struct.pack("<QQ", 8, (1 << 64) - 4), 0, 1, FD_MEM) +
        vu_msg(GET_VRING_BASE, state(0, 0)) + vu_msg(SET_FEATURES, u64(full), NEED_REPLY),
        # The back-end request channel: hostile fds, a replaced channel, config changes.
        "backend-channel": vu_negotiate(full, 0x1 | 0x8 | 0x200 | PF_BACKEND_REQ) +
        vu_msg(SET_BACKEND_REQ_FD, b"", NEED_REPLY, 1, FD_PIPE) +
        vu_msg(SET_BACKEND_REQ_FD, b"", NEED_REPLY, 1, FD_EVENT) +
        vu_msg(SET_BACKEND_REQ_FD, b"", NEED_REPLY, 1, FD_SOCKET) + bytes([5, 0xff]) +
        vu_msg(SET_BACKEND_REQ_FD, b"", NEED_REPLY, 1, FD_SOCKET) + bytes([5, 0xff, 5, 0xff]) +
        vu_msg(GET_CONFIG, cfg + bytes(96)) + vu_queue(0) + io,
        "backend-channel-unnegotiated": vu_negotiate(base) +
        vu_msg(SET_BACKEND_REQ_FD, b"", NEED_REPLY, 1, FD_SOCKET),
        # Memory hotplug (CONFIGURE_MEM_SLOTS, bit 15): a region added at 4 GiB over the
        # second half of guest memory, I/O, the region removed (with an fd, as some front
        # ends send), removed again (missing), and added overlapping the base region.
        "hotplug": vu_negotiate(full, 0x1 | 0x8 | 0x200 | (1 << 15)) +
        vu_msg(GET_MAX_MEM_SLOTS) + vu_msg(ADD_MEM_REG, hot, NEED_REPLY, 1, FD_MEM) +
        vu_queue(0) + io + vu_msg(REM_MEM_REG, hot, NEED_REPLY, 1, FD_MEM) +
        vu_msg(REM_MEM_REG, hot, NEED_REPLY) +
        vu_msg(ADD_MEM_REG, u64(0) + struct.pack("<QQQQ", GMEM // 2, GMEM // 2, UVA, 0),
               NEED_REPLY, 1, FD_MEM) + vu_msg(GET_VRING_BASE, state(0, 0)),
    }

# ------------------------------------------------------------------ vhost_seq
# Indices into the tables of fuzz_vhost_seq.c (keep in step with it).
SEQ_REQS = 42
SQ_FEAT = {"VERSION_1": 0, "PROTOCOL_FEATURES": 1, "EVENT_IDX": 2, "INDIRECT_DESC": 3,
           "RING_PACKED": 4, "FLUSH": 5, "BLK_SIZE": 6, "SEG_MAX": 7}
SQ_PROTO = {"MQ": 0, "REPLY_ACK": 1, "CONFIG": 2, "INFLIGHT_SHMFD": 3, "CONFIGURE_MEM_SLOTS": 7}
SQ_CFG_OFF = [0, 1, 4, 8, 20, 31, 32, 33, 34, 59, 60, 61, 64, 95, 96, 255, 256, 257, 260, 268,
              272, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff]
SQ_CFG_SIZE = [0, 1, 2, 4, 8, 12, 16, 32, 59, 60, 61, 64, 96, 255, 256, 257, 258, 259, 260, 261,
               268, 272, 512, 0x80000000, 0xffffffff]
SQ_SIZES = [0, 1, 4, 7, 8, 9, 11, 12, 13, 16, 20, 24, 28, 39, 40, 41, 72, 104, 136, 232, 263, 264,
            265, 267, 268, 269, 270, 271, 272, 273, 300, 4096, 0xffff]
SQ_NUM = [8, 64, 0, 1, 2, 3, 4, 16, 63, 128, 256, 512, 1024, 1025, 32768, 32769, 0xffff, 0x10000]
SQ_BASE_INIT_PACKED = 7  # base_tab index of 0x80008000
SQ_QS = [64, 8, 0, 1, 2, 3, 63, 100, 128, 256, 1024, 1025, 32768, 0xffff]
FDK_EVENT, FDK_GMEM, FDK_SHRINK, FDK_PIPE_R, FDK_PIPE_W, FDK_BPIPE_R, FDK_BPIPE_W, FDK_DEVNULL, \
    FDK_SOCKET, FDK_INFLIGHT = range(1, 11)
M_NEED_REPLY, M_PIPELINED, M_SIZE_TAB, M_SIZE_DELTA, M_SIZE_RAW = 1, 2, 4, 8, 12
C_KICK, C_POKE, C_SHRINK, C_FILL, C_BARRIER, C_CLIENT, C_CLOSE_PIPES = range(168, 175)
GET_INFLIGHT_FD, SET_INFLIGHT_FD = 31, 32
SQ_RAW_REGION = 3  # gen_region selector: gpa, size, uva, mmap_offset as raw le64


def sq_region(gpa, size, uva, off):
    return bytes([SQ_RAW_REGION]) + struct.pack("<QQQQ", gpa, size, uva, off)


def sq(req, fields=b"", mode=0, nfds=None, kind=0):
    """One message op; nfds None: the request's natural count."""
    return bytes([req, mode, (kind << 4) | (0 if nfds is None else nfds + 1)]) + fields


def sq_bits(table, names):
    return struct.pack("<H", sum(1 << table[n] for n in names))


def sq_state(req, q, sel=0):
    return sq(req, bytes([q, sel]))


def sq_cfg(req, off, size, region=b"", mode=0, framing=0):
    """framing 0: hdr.size = 12 + size; 1: sizeof(struct vhost_user_config)."""
    return sq(req, bytes([SQ_CFG_OFF.index(off), SQ_CFG_SIZE.index(size), 0, framing,
                          len(region)]) + region, mode)


def sq_poke(off, data):
    out = b""
    while data:
        chunk, data = data[:255], data[255:]
        out += bytes([C_POKE]) + struct.pack("<HBB", off & 0xffff, off >> 16, len(chunk)) + chunk
        off += len(chunk)
    return out


def sq_negotiate(features, proto=("MQ", "REPLY_ACK", "CONFIG", "INFLIGHT_SHMFD"), inflight=True,
                 packed=False, mem_kind=0):
    """What QEMU's vhost-user-blk sends: vhost_dev_init, the config read, then vhost_dev_start."""
    s = sq(GET_FEATURES) + sq(GET_PROTOCOL_FEATURES)
    s += sq(SET_PROTOCOL_FEATURES, sq_bits(SQ_PROTO, proto)) + sq(GET_QUEUE_NUM) + sq(SET_OWNER)
    s += sq_cfg(GET_CONFIG, 0, 60)
    s += sq(SET_FEATURES, sq_bits(SQ_FEAT, features), M_NEED_REPLY)
    if inflight:
        # 2 queues of 64 entries; SET hands back the fd GET returned.
        s += sq(GET_INFLIGHT_FD, bytes([0, 0, 1 if packed else 0]))
        s += sq(SET_INFLIGHT_FD, bytes([0, 0, 1 if packed else 0]), M_NEED_REPLY, None,
                FDK_INFLIGHT)
    s += sq(SET_MEM_TABLE, bytes([1, 1]), M_NEED_REPLY, None, mem_kind)
    return s


def sq_queue(q, num_sel=1, base_sel=0, kick=FDK_EVENT, call=FDK_EVENT, err=FDK_EVENT):
    s = sq(SET_VRING_NUM, bytes([q, num_sel]), M_NEED_REPLY)
    s += sq(SET_VRING_BASE, bytes([q, base_sel]), M_NEED_REPLY)
    s += sq(SET_VRING_ADDR, bytes([q, 0, 0, 0, 0]), M_NEED_REPLY)
    s += sq(SET_VRING_KICK, bytes([0, q]), M_NEED_REPLY, 1, kick)
    s += sq(SET_VRING_CALL, bytes([0, q]), M_NEED_REPLY, 1, call)
    s += sq(SET_VRING_ERR, bytes([0, q]), M_NEED_REPLY, 1, err)
    s += sq(SET_VRING_ENABLE, bytes([q, 0]), M_NEED_REPLY)
    return s


def sq_kick(i):
    return bytes([C_KICK, i])


def sq_split_request(q, head, t, sector, datalen, dev_writes, avail_idx):
    """A 3-descriptor request in split ring q, as vu_request lays it out."""
    return vu_request(q, head, t, sector, datalen, dev_writes, avail_idx, sq_poke)


P_AVAIL, P_USED = 1 << 7, 1 << 15


def sq_packed_request(q, slot, bid, t, sector, datalen, dev_writes):
    """A 3-descriptor buffer at slot of packed ring q (first lap: avail wrap counter 1)."""
    b, buf = ring_base(q), 0x8000 + q * 0x4000 + slot * 0x400
    d = [(buf, 16, F_NEXT), (buf + 0x100, datalen, F_NEXT | (F_WRITE if dev_writes else 0)),
         (buf + 0x80, 1, F_WRITE)]
    s = sq_poke(buf, req(t, sector))
    # The head's flags go last, as a driver makes the whole buffer available at once (§2.8.21).
    for i in (1, 2, 0):
        addr, ln, fl = d[i]
        s += sq_poke(b + (slot + i) * 16, struct.pack("<QIHH", addr, ln, bid, fl | P_AVAIL))
    return s


def vhost_seq_seeds():
    split = ("VERSION_1", "PROTOCOL_FEATURES", "EVENT_IDX", "INDIRECT_DESC", "FLUSH", "SEG_MAX",
             "BLK_SIZE")
    packed = split + ("RING_PACKED",)
    io = sq_split_request(0, 0, T_OUT, 8, 4096, False, 1) + sq_kick(0)
    io += sq_split_request(0, 3, T_IN, 8, 4096, True, 2) + sq_kick(0)
    io1 = sq_split_request(1, 0, T_GET_ID, 0, 20, True, 1) + sq_kick(3)
    pio = sq_packed_request(0, 0, 5, T_OUT, 8, 4096, False) + sq_kick(0)
    pio += sq_packed_request(0, 3, 6, T_IN, 8, 4096, True) + sq_kick(0)
    return {
        "qemu-split": sq_negotiate(split) + sq_queue(0) + sq_queue(1) + io + io1 +
        bytes([C_BARRIER]) + sq_state(GET_VRING_BASE, 0) + sq_state(GET_VRING_BASE, 1),
        "qemu-packed": sq_negotiate(packed, packed=True) +
        sq_queue(0, base_sel=SQ_BASE_INIT_PACKED) + sq_queue(1, base_sel=SQ_BASE_INIT_PACKED) +
        pio + bytes([C_BARRIER]) + sq_state(GET_VRING_BASE, 0),
        "config": sq_negotiate(split, inflight=False) + sq_cfg(GET_CONFIG, 0, 60) +
        sq_cfg(SET_CONFIG, 32, 1, b"\x01", M_NEED_REPLY) + sq_cfg(GET_CONFIG, 32, 1) +
        sq_cfg(GET_CONFIG, 59, 1) + sq_cfg(GET_CONFIG, 60, 0) + sq_cfg(GET_CONFIG, 0, 256) +
        sq_cfg(GET_CONFIG, 256, 0),
        "config-first": sq_cfg(GET_CONFIG, 0, 60) + sq_cfg(GET_CONFIG, 0, 8),
        # 0..9 regions: the largest table and one more than it holds.
        "mem-table-8": sq_negotiate(split, inflight=False) +
        sq(SET_MEM_TABLE, bytes([8] + [0] * 8), M_NEED_REPLY) + sq_queue(0) + io,
        "mem-table-9": sq_negotiate(split, inflight=False) +
        sq(SET_MEM_TABLE, bytes([9] + [0] * 8), M_NEED_REPLY) + sq(GET_FEATURES),
        "mem-table-0": sq_negotiate(split, inflight=False) +
        sq(SET_MEM_TABLE, bytes([0]), M_NEED_REPLY) + sq_queue(0),
        # Every kind of fd where an eventfd belongs.
        "odd-fds": sq_negotiate(split, inflight=False) +
        sq_queue(0, kick=FDK_PIPE_R, call=FDK_DEVNULL, err=FDK_SOCKET) +
        sq_queue(1, kick=FDK_SOCKET, call=FDK_PIPE_W, err=FDK_PIPE_W) + io + sq_kick(0x80) +
        sq_kick(0x81) + bytes([C_CLOSE_PIPES]) + io1 + bytes([C_BARRIER]),
        "inflight-packed-split": sq_negotiate(split) + sq(GET_INFLIGHT_FD, bytes([0, 0, 1])) +
        sq(SET_INFLIGHT_FD, bytes([0, 0, 1]), M_NEED_REPLY, None, FDK_INFLIGHT) + sq_queue(0) + io,
        # The front end truncates what the server mapped (issue 11: SIGBUS before vu_guard):
        # guest memory under a running ring, and an inflight region it handed over.
        "shrink-guest-memory": sq_negotiate(split, inflight=False, mem_kind=FDK_SHRINK) +
        sq_queue(0) + bytes([C_SHRINK, 0]) + sq_kick(0) + bytes([C_BARRIER]) + sq_kick(0) +
        sq_state(GET_VRING_BASE, 0),
        "shrink-inflight": sq_negotiate(split, inflight=False) +
        sq(SET_INFLIGHT_FD, bytes([0, 0, 0]), M_NEED_REPLY, None, FDK_INFLIGHT) + sq_queue(0) +
        io + bytes([C_SHRINK, 0]) + io1 + sq_queue(1) + sq_kick(0) + bytes([C_BARRIER]) +
        sq_state(GET_VRING_BASE, 0),
        # Memory hotplug as QEMU 7.2 does it with CONFIGURE_MEM_SLOTS: regions added with
        # ADD_MEM_REG, a DIMM added at 4 GiB while a queue runs, I/O, the DIMM removed (once
        # with an fd along, which the spec tolerates), then hostile variants: missing,
        # overlapping, past the end of the fd.
        "hotplug": sq_negotiate(split, proto=("MQ", "REPLY_ACK", "CONFIG", "CONFIGURE_MEM_SLOTS"),
                                inflight=False) +
        sq(GET_MAX_MEM_SLOTS) +
        sq(ADD_MEM_REG, sq_region(0x4000000, 0x10000, UVA + 0x4000000, 0x20000), M_NEED_REPLY) +
        sq_queue(0) + io + bytes([C_BARRIER]) +
        sq(ADD_MEM_REG, sq_region(1 << 32, 0x10000, UVA + (1 << 32), 0x10000), M_NEED_REPLY) +
        sq_split_request(0, 3, T_IN, 8, 4096, True, 3) + sq_kick(0) +
        sq(REM_MEM_REG, sq_region(1 << 32, 0x10000, UVA + (1 << 32), 0), M_NEED_REPLY) +
        sq(REM_MEM_REG, sq_region(1 << 32, 0x10000, UVA + (1 << 32), 0), M_NEED_REPLY, 0) +
        sq(ADD_MEM_REG, sq_region(0x8000, 0x1000, UVA + (2 << 32), 0), M_NEED_REPLY) +
        sq(ADD_MEM_REG, sq_region(3 << 32, 0x10000, UVA + (3 << 32), GMEM - 0x8000),
           M_NEED_REPLY) + sq_state(GET_VRING_BASE, 0),
        "reset": sq_negotiate(packed, packed=True) + sq_queue(0, base_sel=SQ_BASE_INIT_PACKED) +
        pio + sq(RESET_OWNER) + sq(SET_FEATURES, sq_bits(SQ_FEAT, split), M_NEED_REPLY) +
        sq_queue(0) + io,
    }


# ---------------------------------------------------------------- driver_ring

def dr_add(nsg, out_num, lens=None):
    lens = lens or [64] * nsg
    return bytes([0, ((out_num & 0xF) << 4) | ((nsg - 1) & 0xF)]) + bytes(lens)


def dr_complete(k, ln):
    return bytes([2, k, ln])


GET_BUF = bytes([3])


def dr_used_elem(slot, id_, ln, raw=False):
    return bytes([5 | (0x80 if raw else 0)]) + struct.pack("<HII", slot, id_, ln)


def dr_used_idx(v, raw=True):
    return bytes([6 | (0x80 if raw else 0)]) + struct.pack("<H", v)


def dr_verb(which):  # 0 enable_cb, 1 disable_cb, 2 kick_prepare, 3 more_used
    return bytes([7 | (which << 4)])


def dr_pused(slot, id_, ln, f=1, raw=False):
    """Packed: a used element at slot; f < 0xc0: bit 7 the other lap, bit 0 WRITE."""
    return dr_used_elem(slot, id_, ln, raw) + bytes([f])


DR_PACKED, DR_ODD = 32, 64


def driver_ring_seeds():
    honest = dr_add(3, 1) + dr_add(2, 1) + dr_add(1, 0) + dr_complete(1, 9) + GET_BUF + \
        dr_complete(0, 0) + dr_complete(0, 1) + dr_verb(0) + GET_BUF + GET_BUF + dr_verb(3) + \
        dr_add(4, 2) + dr_verb(2) + dr_complete(0, 4) + GET_BUF
    return {
        "honest": bytes([2]) + honest,
        "honest-event-idx": bytes([3 | 8]) + honest + dr_verb(1) + dr_verb(0),
        "honest-indirect": bytes([2 | 16]) + honest + dr_add(8, 4) + dr_add(12, 6),
        "full-ring": bytes([1]) + dr_add(1, 0) * 5 + dr_complete(0, 1) + GET_BUF + dr_add(1, 1),
        "id-out-of-range": bytes([2]) + dr_add(1, 0) + dr_used_elem(0, 9, 1, True) +
        dr_used_idx(1) + GET_BUF + GET_BUF + dr_add(1, 0),
        "id-not-in-flight": bytes([2]) + dr_add(2, 1) + dr_add(1, 0) + dr_used_elem(0, 1, 1) +
        dr_used_idx(1) + GET_BUF,
        "same-id-twice": bytes([2]) + dr_add(1, 0) + dr_add(1, 0) + dr_used_elem(0, 0, 1) +
        dr_used_elem(1, 0, 1) + dr_used_idx(2) + GET_BUF + GET_BUF + GET_BUF,
        "idx-runs-ahead": bytes([2]) + dr_add(1, 0) + dr_used_idx(40) + GET_BUF,
        "idx-backwards": bytes([2]) + dr_add(1, 0) + dr_complete(0, 1) + GET_BUF +
        dr_used_idx(0) + GET_BUF + dr_verb(0),
        "scribble-desc": bytes([2 | 16]) + dr_add(3, 1) + bytes([9]) + struct.pack("<H", 0) +
        struct.pack("<QIHH", 0xdead, 0, 0xffff, 0xffff) + dr_complete(0, 1) + GET_BUF +
        dr_add(3, 1),
        # The packed ring (config bit 5; bit 6: num - 1 entries).
        "packed-honest": bytes([2 | DR_PACKED]) + honest,
        "packed-honest-event-idx": bytes([3 | 8 | DR_PACKED]) + honest + dr_verb(1) + dr_verb(0),
        "packed-honest-indirect": bytes([2 | 16 | DR_PACKED]) + honest + dr_add(8, 4) +
        dr_add(12, 6) + dr_complete(1, 40) + GET_BUF,
        # 7 and 3 entries: buffers straddle the end of the ring, the wrap counters toggle.
        "packed-wrap-num7": bytes([2 | DR_PACKED | DR_ODD]) + honest + honest,
        "packed-full-ring-num3": bytes([1 | DR_PACKED | DR_ODD]) + dr_add(1, 0) * 4 +
        dr_complete(1, 1) + GET_BUF + dr_add(2, 1) + dr_complete(0, 1) + GET_BUF +
        dr_complete(0, 1) + GET_BUF + dr_add(2, 1) + dr_complete(0, 9) + GET_BUF,
        "packed-id-out-of-range": bytes([2 | DR_PACKED]) + dr_add(1, 0) +
        dr_pused(0, 9, 1, 1, True) + GET_BUF + GET_BUF + dr_add(1, 0),
        "packed-id-not-in-flight": bytes([2 | DR_PACKED]) + dr_add(2, 1) + dr_add(1, 0) +
        dr_pused(0, 3, 1) + GET_BUF,
        "packed-other-lap": bytes([2 | DR_PACKED]) + dr_add(1, 1) + dr_pused(0, 0, 1, 0x81) +
        GET_BUF + dr_verb(3),
        "packed-len-too-long": bytes([2 | DR_PACKED]) + dr_add(2, 1) + dr_pused(0, 0, 5000) +
        GET_BUF + dr_add(1, 0),
        "packed-same-id-twice": bytes([2 | DR_PACKED]) + dr_add(1, 0) + dr_add(1, 0) +
        dr_pused(0, 0, 0, 0) + dr_pused(1, 0, 0, 0) + GET_BUF + GET_BUF + GET_BUF,
        "packed-mark-used": bytes([2 | DR_PACKED]) + dr_add(3, 1) + bytes([6]) +
        struct.pack("<H", 0) + GET_BUF + dr_add(1, 0),
        "packed-event-suppression": bytes([3 | 8 | DR_PACKED]) + dr_add(1, 0) +
        bytes([8]) + struct.pack("<H", 2) + bytes([8 | 0x80]) + struct.pack("<H", 0x8001) +
        dr_verb(2) + dr_add(1, 0) + dr_verb(2) + dr_complete(0, 1) + GET_BUF,
        "packed-scribble-desc": bytes([2 | 16 | DR_PACKED]) + dr_add(3, 1) + bytes([9]) +
        struct.pack("<H", 0) + struct.pack("<QIHH", 0xdead, 0, 0xffff, 0xffff) +
        dr_complete(0, 1) + GET_BUF + dr_add(3, 1),
    }


# ------------------------------------------------------------------------ rpc

def rpc_req(method, params=None, id_=1):
    """One request line of vblkd's control socket, as `vblk ctl` sends it."""
    import json
    req = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        req["params"] = params
    if id_ is not None:
        req["id"] = id_
    return json.dumps(req, separators=(",", ":")).encode() + b"\n"


def rpc_seeds():
    """Lines for fuzz_rpc.c: the exports there at the start are disk0, vm1 (connected,
    FLUSH + CONFIG_WCE, packed, 4 queues) and ro (no flush, no queue)."""
    r = rpc_req
    deep = b'{"jsonrpc":"2.0","method":"export_list","id":1,"params":' + b'{"a":' * 7 + \
        b"1" + b"}" * 7 + b"}\n"
    deeper = b'{"jsonrpc":"2.0","method":"export_list","id":' + b"[" * 40 + b"]" * 40 + b"}\n"
    return {
        "list": r("export_list"),
        "list-params-empty": r("export_list", {}, "a"),
        "add": r("export_add", {"name": "new", "socket": "/tmp/new.sock",
                                "disk": "file=/img/new.raw"}) +
        r("export_list", id_=2),
        "add-exists": r("export_add", {"name": "disk0", "socket": "/s", "disk": "/d"}),
        "add-fails": r("export_add", {"name": "x", "socket": "/s", "disk": "fail"}) +
        r("export_add", {"name": "y", "socket": "/s/" + "é" * 140, "disk": "err/" + "ü" * 100}),
        "add-empty-socket": r("export_add", {"name": "x", "socket": "", "disk": "/d"}),
        "add-many": b"".join(r("export_add", {"name": "e%d" % i, "socket": "/s%d" % i,
                                             "disk": "/d"}, i) for i in range(10)),
        "remove": r("export_remove", {"name": "disk0"}) + r("export_list", id_=2),
        "remove-flushfail": r("export_add", {"name": "f", "socket": "/s",
                                             "disk": "flushfail"}) +
        r("export_remove", {"name": "f"}, 2),
        "remove-missing": r("export_remove", {"name": "nope"}),
        "resize": r("export_resize", {"name": "disk0", "size": 2 << 20}) +
        r("export_resize", {"name": "disk0"}, 2) + r("export_resize", {"name": "ro"}, 3),
        "resize-bad": r("export_resize", {"name": "disk0", "size": -1}) +
        r("export_resize", {"name": "disk0", "size": 513}, 2) +
        r("export_resize", {"name": "disk0", "size": 0}, 3) +
        b'{"jsonrpc":"2.0","method":"export_resize","id":4,"params":{"name":"disk0",'
        b'"size":18446744073709551615}}\n' +
        b'{"jsonrpc":"2.0","method":"export_resize","id":5,"params":{"name":"disk0",'
        b'"size":99999999999999999999999999}}\n' +
        b'{"jsonrpc":"2.0","method":"export_resize","id":6,"params":{"name":"disk0",'
        b'"size":1e3}}\n',
        "stats": r("export_stats", {"name": "vm1"}) + r("export_stats", {"name": "ro"}, 2) +
        r("export_stats", {"name": "disk0"}, 3),
        "set": r("export_set", {"name": "disk0", "writeback": True,
                                "limits": {"iops": 1000, "bps-rd": 1 << 30}}) +
        r("export_set", {"name": "vm1", "writeback": True}, 2) +
        r("export_set", {"name": "ro", "writeback": True}, 3) +
        r("export_set", {"name": "disk0", "writeback": False, "limits": {}}, 4),
        "set-bad-limits": r("export_set", {"name": "disk0", "limits": {"iops": 0}}) +
        r("export_set", {"name": "disk0", "limits": {"nope": 1}}, 2) +
        r("export_set", {"name": "disk0", "limits": {"iops": 1, "iops-rd": 1}}, 3) +
        r("export_set", {"name": "disk0", "limits": {"iops-burst": 5}}, 4) +
        r("export_set", {"name": "disk0", "limits": {"bps": 9223372036854775807}}, 5) +
        r("export_set", {"name": "disk0", "limits": {"iops": "1"}}, 6),
        "bad-types": r("export_remove", {"name": 1}) + r("export_resize", {"name": "disk0",
                                                                           "size": "1G"}, 2) +
        r("export_set", {"name": "disk0", "writeback": 1}, 3) + r("export_list", [1], 4) +
        r("export_list", "x", 5) + r(1, id_=6) + r("export_list", id_=True) +
        r("export_list", id_=[1]) + b'{"jsonrpc":"1.0","method":"export_list","id":7}\n' +
        b'{"jsonrpc":"2.0","method":"export_list","id":8,"extra":1}\n' +
        r("export_add", {"name": "x"}, 9) + r("export_add", {"name": "x", "socket": "/s",
                                                             "disk": "/d", "more": 1}, 10),
        "ids": r("export_list", id_="") + r("export_list", id_=-1) + r("export_list", id_=0.5) +
        r("export_list", id_=None) + r("nope", id_=None) + r("export_list", id_=2**63) +
        b'{"jsonrpc":"2.0","method":"export_list","id":1e999}\n' +
        b'{"jsonrpc":"2.0","method":"export_list","id":-0}\n',
        "notification": r("export_add", {"name": "n", "socket": "/s", "disk": "/d"}, None) +
        r("nope", id_=None) + r("export_list", id_=3),
        "nested": deep + deeper,
        "utf8": b'{"jsonrpc":"2.0","method":"export_list","id":"\xff"}\n' +
        b'{"jsonrpc":"2.0","method":"\xc3","id":1}\n' +
        b'{"jsonrpc":"2.0","method":"\xed\xa0\x80","id":1}\n' +
        b'{"jsonrpc":"2.0","method":"\\ud800","id":2}\n' +
        r("export_remove", {"name": "\u00e9" * 40}, 3) +
        r("\u00e9" * 40, id_=4),
        "utf8-cut": r("export_remove", {"name": "x" + "\u00e9" * 40}) +
        r("x" + "\u00e9" * 40, id_=2) +
        r("export_add", {"name": "z", "socket": "/s/x" + "\u20ac" * 90, "disk": "err"}, 3),
        "nul": b'{"jsonrpc":"2.0","method":"export_list","id":1}\x00\n' +
        b'{"jsonrpc":"2.0","method":"export_list\\u0000x","id":2}\n' +
        b'{"jsonrpc":"2.0","method":"export_remove","id":3,'
        b'"params":{"name":"disk0\\u0000junk"}}\n' +
        b'{"jsonrpc":"2.0","method":"export_list","id":4,"params":{"\\u0000":1}}\n',
        "batch": b'[' + r("export_list").rstrip() + b"," + r("export_list", id_=2).rstrip() +
        b"]\n" + b"[]\n",
        "not-json": b"hello\n{\n\"x\"\n1\nnull\n{}\n{\"jsonrpc\":\"2.0\"}\r\n\n\n" +
        b'{"jsonrpc":"2.0","method":"export_list","id":1} {}\n' +
        b'{"jsonrpc":"2.0","method":"export_list","id":1}/*c*/\n' +
        b"{'jsonrpc':'2.0'}\n" + b'{"jsonrpc":"2.0","method":"export_list","id":12',
    }


def main(root):
    for name, seeds in (("ring_engine", ring_engine_seeds()), ("vhost_user", vhost_user_seeds()),
                        ("vhost_seq", vhost_seq_seeds()),
                        ("driver_ring", driver_ring_seeds()), ("rpc", rpc_seeds())):
        out = os.path.join(root, name)
        os.makedirs(out, exist_ok=True)
        for seed, blob in seeds.items():
            with open(os.path.join(out, seed), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus"))
