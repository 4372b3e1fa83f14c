#!/usr/bin/env bash
# qsd-as-vblkd.sh - stand-in for vblkd built on qemu-storage-daemon.
#
# Accepts the vblkd command line used by run-guest.sh
#     qsd-as-vblkd.sh --socket SOCK --disk IMG[,OPTS]
# (OPTS are appended to qsd's --export option) and execs qemu-storage-daemon,
# so the "--backend vblkd" path of the harness can be exercised before vblkd
# exists:  VBLK_GUEST_BACKEND=vblkd VBLKD=tests/guest/qsd-as-vblkd.sh \
#              tests/guest/test_guest_basic.sh
set -euo pipefail
sock="" disk=""
while [ $# -gt 0 ]; do
    case "$1" in
        --socket) sock=$2; shift 2 ;;
        --disk)   disk=$2; shift 2 ;;
        *) echo "qsd-as-vblkd: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$sock" ] && [ -n "$disk" ] || { echo "usage: $0 --socket SOCK --disk IMG[,OPTS]" >&2; exit 2; }
img=${disk%%,*}
opts=""
[ "$img" != "$disk" ] && opts=,${disk#*,}
exec "${QSD:-qemu-storage-daemon}" \
    --blockdev "driver=file,node-name=file0,filename=$img,cache.direct=off" \
    --blockdev "driver=raw,node-name=disk0,file=file0" \
    --export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$sock,writable=on$opts"
