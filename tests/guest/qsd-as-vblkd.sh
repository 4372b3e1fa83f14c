#!/usr/bin/env bash
# qsd-as-vblkd.sh - stand-in for vblkd built on qemu-storage-daemon, so a
# harness written for vblkd runs against the reference back end:
#     qsd-as-vblkd.sh --socket SOCK --disk IMG[,OPTS]
# vblkd disk options map to qsd's: queues=N -> num-queues=N, ro ->
# writable=off, serial= is dropped (the export has none), the limits
# (iops=, iops-rd=, iops-wr=, bps*=, *-burst=) become a throttle group,
# locking=on|off goes to the file driver, poll-us=N becomes an iothread
# with poll-max-ns=N*1000 (the AioContext polling vblkd copies); any other
# OPTS are appended to qsd's --export option (e.g. logical-block-size=4096).
# A disk nbd+unix:///?socket=PATH is served through qsd's NBD client
# instead of the file driver.
# Used by the guest harness (VBLK_GUEST_BACKEND=vblkd
# VBLKD=tests/guest/qsd-as-vblkd.sh tests/guest/test_guest_basic.sh) and by
# the conformance runner (build/tests/conformance/conformance
# tests/guest/qsd-as-vblkd.sh control), to see which classes libvhost-user
# fails too.
# SIGHUP does what it does to vblkd: the disk's size is learned again. qsd
# has no such signal, so the stand-in opens qsd's QMP monitor on SOCK.qmp
# and sends block_resize with the image's current size (qmp.py); qsd then
# tells the front end (VHOST_USER_BACKEND_CONFIG_CHANGE_MSG) itself.
# SIGTERM/SIGINT are passed on to qsd, whose exit status is ours.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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
writable=on opts="" fileopts="" tg="" burst=() iot=()
if [ "$img" != "$disk" ]; then
    IFS=, read -ra words <<<"${disk#*,}"
    for o in "${words[@]}"; do
        case "$o" in
            queues=*) opts+=",num-queues=${o#queues=}" ;;
            ro) writable=off ;;
            serial=*) ;;
            locking=*) fileopts+=",$o" ;;
            iops=*) tg+=",x-iops-total=${o#*=}" ;;
            iops-rd=*) tg+=",x-iops-read=${o#*=}" ;;
            iops-wr=*) tg+=",x-iops-write=${o#*=}" ;;
            bps=*) tg+=",x-bps-total=$(numfmt --from=iec "${o#*=}")" ;;
            bps-rd=*) tg+=",x-bps-read=$(numfmt --from=iec "${o#*=}")" ;;
            bps-wr=*) tg+=",x-bps-write=$(numfmt --from=iec "${o#*=}")" ;;
            *-burst=*) burst+=("$o") ;;
            poll-us=*) iot=(--object "iothread,id=iot0,poll-max-ns=$((${o#*=} * 1000))")
                       opts+=",iothread=iot0" ;;
            *) opts+=",$o" ;;
        esac
    done
fi
file="driver=file,node-name=file0,filename=$img,cache.direct=off$fileopts"
case "$img" in
    nbd+unix:///\?socket=*) file="driver=nbd,node-name=file0,server.type=unix,server.path=${img#*socket=}" ;;
esac
# A burst is QEMU's *-max of each limit of its kind.
for b in "${burst[@]}"; do
    kind=${b%%-burst=*} v=$(numfmt --from=iec "${b#*=}")
    for l in total read write; do
        if [[ $tg == *",x-$kind-$l="* ]]; then tg+=",x-$kind-$l-max=$v"; fi
    done
done
node=disk0 throttle=()
if [ -n "$tg" ]; then
    throttle=(--object "throttle-group,id=tg0$tg"
              --blockdev "driver=throttle,node-name=thr0,throttle-group=tg0,file=disk0")
    node=thr0
fi
qmp=$sock.qmp
"${QSD:-qemu-storage-daemon}" \
    --chardev "socket,id=qmp0,path=$qmp,server=on,wait=off" --monitor chardev=qmp0 \
    --blockdev "$file" \
    --blockdev "driver=raw,node-name=disk0,file=file0" \
    "${throttle[@]}" \
    "${iot[@]}" \
    --export "type=vhost-user-blk,id=exp0,node-name=$node,addr.type=unix,addr.path=$sock,writable=$writable$opts" &
qpid=$!
resize() {
    local size
    size=$(stat -c %s "$img")
    echo "qsd-as-vblkd: SIGHUP: block_resize disk0 to $size bytes" >&2
    "$here/qmp.py" "$qmp" block_resize "{\"node-name\": \"disk0\", \"size\": $size}" >&2 ||
        echo "qsd-as-vblkd: block_resize failed" >&2
}
trap resize HUP
trap 'kill -TERM "$qpid" 2>/dev/null || true' TERM INT
# wait returns early (status > 128) for every trapped signal: wait again
# until qsd itself is gone, then report its status.
while :; do
    wait "$qpid" && st=0 || st=$?
    kill -0 "$qpid" 2>/dev/null || break
done
rm -f "$qmp"
exit "$st"
