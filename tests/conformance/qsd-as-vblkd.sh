#!/usr/bin/env bash
# Run the conformance suite's daemon as qemu-storage-daemon, to learn which
# classes QEMU's libvhost-user fails too (the bar to beat; not a CI test):
#     build/tests/conformance/conformance tests/conformance/qsd-as-vblkd.sh control
# Maps the runner's `--socket S --disk IMG,serial=..,queues=N[,ro]`.
set -euo pipefail
sock="" disk=""
while [ $# -gt 0 ]; do
	case "$1" in
	--socket) sock=$2; shift 2 ;;
	--disk) disk=$2; shift 2 ;;
	*) echo "qsd-as-vblkd: unknown argument $1" >&2; exit 2 ;;
	esac
done
img=${disk%%,*}
nq=1 writable=on
IFS=, read -ra opts <<<"${disk#*,}"
for o in "${opts[@]}"; do
	case "$o" in
	queues=*) nq=${o#queues=} ;;
	ro) writable=off ;;
	esac
done
exec "${QSD:-qemu-storage-daemon}" \
	--blockdev "driver=file,node-name=file0,filename=$img" \
	--blockdev "driver=raw,node-name=disk0,file=file0" \
	--export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$sock,writable=$writable,num-queues=$nq"
