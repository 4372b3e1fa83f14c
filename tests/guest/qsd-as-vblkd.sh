#!/usr/bin/env bash
# qsd-as-vblkd.sh - stand-in for vblkd built on qemu-storage-daemon, so a
# harness written for vblkd runs against the reference back end:
#     qsd-as-vblkd.sh --socket SOCK --disk IMG[,OPTS]
# vblkd disk options map to qsd's: queues=N -> num-queues=N, ro ->
# writable=off, serial= is dropped (the export has none), locking=on|off
# goes to the file driver; any other OPTS are appended to qsd's --export
# option (e.g. logical-block-size=4096). A disk nbd+unix:///?socket=PATH is
# served through qsd's NBD client instead of the file driver.
# Used by the guest harness (VBLK_GUEST_BACKEND=vblkd
# VBLKD=tests/guest/qsd-as-vblkd.sh tests/guest/test_guest_basic.sh) and by
# the conformance runner (build/tests/conformance/conformance
# tests/guest/qsd-as-vblkd.sh control), to see which classes libvhost-user
# fails too.
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
writable=on opts="" fileopts=""
if [ "$img" != "$disk" ]; then
    IFS=, read -ra words <<<"${disk#*,}"
    for o in "${words[@]}"; do
        case "$o" in
            queues=*) opts+=",num-queues=${o#queues=}" ;;
            ro) writable=off ;;
            serial=*) ;;
            locking=*) fileopts+=",$o" ;;
            *) opts+=",$o" ;;
        esac
    done
fi
file="driver=file,node-name=file0,filename=$img,cache.direct=off$fileopts"
case "$img" in
    nbd+unix:///\?socket=*) file="driver=nbd,node-name=file0,server.type=unix,server.path=${img#*socket=}" ;;
esac
exec "${QSD:-qemu-storage-daemon}" \
    --blockdev "$file" \
    --blockdev "driver=raw,node-name=disk0,file=file0" \
    --export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$sock,writable=$writable$opts"
