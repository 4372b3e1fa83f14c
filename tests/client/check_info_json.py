# SPDX-License-Identifier: MIT
"""Check one `vblk info --json` document against docs/json.md.

usage: check_info_json.py FILE CAPACITY OFFERED_QUEUES NEGOTIATED_QUEUES SERIAL_HEX [SERIAL_TEXT]
SERIAL_HEX "-" means no GET_ID (serial null). Exit 0 pass, 1 fail."""
import json
import sys

path, capacity, offered_q, negotiated_q, serial_hex = sys.argv[1:6]
raw = open(path, "rb").read()
d = json.loads(raw.decode("utf-8"))  # strict UTF-8: a mis-encoded byte fails here

assert d["schema_version"] == 1, d["schema_version"]
assert d["capacity"] == int(capacity), d["capacity"]
assert d["logical_block_size"] >= 512 and d["logical_block_size"] & (d["logical_block_size"] - 1) == 0
assert d["ring"] in ("split", "packed"), d["ring"]
assert d["queues"] == {"offered": int(offered_q), "negotiated": int(negotiated_q)}, d["queues"]

# Feature bit numbers: virtio 1.3 §5.2.3 and §6, vhost-user.rst.
BITS = {"VIRTIO_BLK_F_FLUSH": 9, "VIRTIO_BLK_F_MQ": 12, "VIRTIO_BLK_F_DISCARD": 13,
        "VIRTIO_BLK_F_WRITE_ZEROES": 14, "VIRTIO_F_INDIRECT_DESC": 28, "VIRTIO_F_EVENT_IDX": 29,
        "VHOST_USER_F_PROTOCOL_FEATURES": 30, "VIRTIO_F_VERSION_1": 32, "VIRTIO_F_RING_PACKED": 34}
for side in ("offered", "negotiated"):
    f = d["features"][side]
    assert isinstance(f["mask"], int) and isinstance(f["names"], list), f
    assert len(f["names"]) == bin(f["mask"]).count("1"), f
    for name, bit in BITS.items():
        assert (name in f["names"]) == bool(f["mask"] >> bit & 1), (side, name, f)
    assert "VIRTIO_F_VERSION_1" in f["names"], f
off, neg = d["features"]["offered"]["mask"], d["features"]["negotiated"]["mask"]
assert neg & ~off == 0, "negotiated a feature that was not offered"
assert ("VIRTIO_F_RING_PACKED" in d["features"]["negotiated"]["names"]) == (d["ring"] == "packed")

if serial_hex == "-":
    assert d["serial"] is None and d["serial_hex"] is None, d
else:
    assert d["serial_hex"] == serial_hex, (d["serial_hex"], serial_hex)
    want = bytes.fromhex(serial_hex).decode("utf-8", errors="backslashreplace")
    if len(sys.argv) > 6:
        assert want == sys.argv[6], "test mistake"
    assert d["serial"] == want, (d["serial"], want)
print("ok:", path)
