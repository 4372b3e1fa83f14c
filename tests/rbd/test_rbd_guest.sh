#!/bin/sh
# SPDX-License-Identifier: MIT
# The guest suite's basic test (raw O_DIRECT and buffered I/O, ext4 round
# trip, checked from the host) with the disk on an RBD image of a private
# cluster, served by vblkd or by qemu-storage-daemon (driver=rbd, to prove
# the harness); the host checks the image as `rbd export` returns it.
# Arguments: VBLKD VBLK CEPH_CLUSTER_SH vblkd|qsd GUEST_TEST OVER_RBD
. "$(dirname "$0")/lib.sh"
server=$1
guest_test=$2
over=$3
if [ "$server" = qsd ]; then
	command -v qemu-storage-daemon >/dev/null 2>&1 || skip "qemu-storage-daemon not installed"
	timeout 20 qemu-storage-daemon --blockdev driver=rbd,node-name=x,pool=p,image=i,conf=/dev/null \
		2>&1 | grep -q "does not accept value 'rbd'" &&
		skip "qemu-storage-daemon has no rbd driver (apt-get install qemu-block-extra)"
fi
start_cluster
VBLKD_REAL=$VBLKD RBD_SERVER=$server VBLK_GUEST_BACKEND=vblkd VBLKD=$over
export VBLKD_REAL RBD_SERVER VBLK_GUEST_BACKEND VBLKD
bash "$guest_test"
