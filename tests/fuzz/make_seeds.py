#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses (binary files, committed).

    make_seeds.py [CORPUS_ROOT]     default: tests/fuzz/corpus

ring_engine: layout of fuzz_ring_engine.c: byte 0 config (bits 0-1: log2
num, bit 3 event_idx, bit 4 indirect, bit 5 read-only disk), then guest RAM
whose gpa 0x10000 is byte 1 of the input; desc table at +0, avail at +0x800,
used at +0x1000, buffers from +0x2000.

vhost_user: records of fuzz_vhost_user.c (see its header comment).

driver_ring: ops of fuzz_driver_ring.c (see its header comment).
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

    return {
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
NEED_REPLY = 0x8
FD_EVENT, FD_MEM, FD_PIPE = 0x00, 0x20, 0x40
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


def vu_request(q, head, t, sector, datalen, dev_writes, avail_idx):
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
    }


def main(root):
    for name, seeds in (("ring_engine", ring_engine_seeds()), ("vhost_user", vhost_user_seeds()),
                        ("driver_ring", driver_ring_seeds())):
        out = os.path.join(root, name)
        os.makedirs(out, exist_ok=True)
        for seed, blob in seeds.items():
            with open(os.path.join(out, seed), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus"))
