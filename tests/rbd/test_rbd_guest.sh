#!/bin/sh
# SPDX-License-Identifier: MIT
# The guest suite's basic test (raw O_DIRECT and buffered I/O, ext4 round
# trip, checked from the host) with the disk on an RBD image of a private
# cluster, served by vblkd or by qemu-storage-daemon (driver=rbd, to prove
# the harness); the host checks the image as `rbd export` returns it.
# Also the guest suite's features test (discard, write zeroes, fstrim) and
# reconnect test (kill -9 of vblkd under a write-and-verify load) the same way.
# Arguments: VBLKD VBLK CEPH_CLUSTER_SH vblkd|qsd GUEST_TEST OVER_RBD [LO HI]
# With LO HI (MiB): after the guest test, Ceph must hold no allocated extent
# in [LO, HI) of the image (`rbd diff`): the guest's discard of that range
# reached RADOS, and reading zeroes back is not just the export's doing.
. "$(dirname "$0")/lib.sh"
server=$1
guest_test=$2
over=$3
lo=${4:-}
hi=${5:-}
if [ "$server" = qsd ]; then
	command -v qemu-storage-daemon >/dev/null 2>&1 || skip "qemu-storage-daemon not installed"
	timeout 20 qemu-storage-daemon --blockdev driver=rbd,node-name=x,pool=p,image=i,conf=/dev/null \
		2>&1 | grep -q "does not accept value 'rbd'" &&
		skip "qemu-storage-daemon has no rbd driver (apt-get install qemu-block-extra)"
fi
start_cluster
VBLKD_REAL=$VBLKD RBD_SERVER=$server VBLK_GUEST_BACKEND=vblkd VBLKD=$over
RBD_DIFF_OUT=$TMP/guest.diff
# The guest tests' checks of vblkd's own log lines do not apply to qsd's.
VBLK_GUEST_VBLKD_LOG=1
[ "$server" = qsd ] && VBLK_GUEST_VBLKD_LOG=0
export VBLKD_REAL RBD_SERVER VBLK_GUEST_BACKEND VBLKD RBD_DIFF_OUT VBLK_GUEST_VBLKD_LOG
bash "$guest_test"
rc=$?
[ $rc -eq 0 ] || exit $rc
[ -n "$lo" ] || exit 0
# Extents Ceph reports allocated that overlap [lo, hi) MiB.
left=$(python3 - "$RBD_DIFF_OUT" "$lo" "$hi" <<'PY'
import json, sys
lo, hi = int(sys.argv[2]) << 20, int(sys.argv[3]) << 20
ext = json.load(open(sys.argv[1]))
print(sum(max(0, min(e["offset"] + e["length"], hi) - max(e["offset"], lo))
          for e in ext if e.get("exists") in (True, "true")))
PY
) || fail "rbd diff output unreadable: $(head -c 300 "$RBD_DIFF_OUT")"
echo "host: rbd diff: $left bytes allocated in the discarded range [${lo}M, ${hi}M)"
[ "$left" -eq 0 ] || fail "the discard of [${lo}M, ${hi}M) did not reach RADOS ($left bytes still allocated)"
