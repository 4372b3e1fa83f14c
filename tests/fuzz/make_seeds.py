#!/usr/bin/env python3
"""Write seed inputs for fuzz_ring_engine: valid rings with one request each.

Layout matches fuzz_ring_engine.c: byte 0 config, then guest RAM whose gpa
0x10000 is byte 1 of the input; desc table at +0, avail at +0x800, used at
+0x1000, buffers from +0x2000.
"""
import os
import struct
import sys

GPA = 0x10000
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


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


def main(out):
    os.makedirs(out, exist_ok=True)
    hdr, data, st = 0x2000, 0x2100, 0x3000
    seeds = {
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
    }
    for name, blob in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "ring_engine"))
