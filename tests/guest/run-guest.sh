#!/usr/bin/env bash
# run-guest.sh - boot a QEMU (TCG) guest on a vhost-user-blk disk and run a
# guest workload against it.
#
#   run-guest.sh --backend qsd|vblkd --image IMG [--vblkd PATH] [--disk-opts OPTS]
#                [--script NAME] [--seed N] [--log FILE] [--timeout SECS]
#                [--cache DIR] [--smp N] [--queues N|default] [--backend-log FILE]
#                [--reconnect] [--kill-backend N [--kill-after S] [--kill-interval S]
#                 [--kill-down S]] [--guest-args 'k=v ...'] [--packed]
#                [--resize-to BYTES] [--hotplug]
#
# 1. builds/reuses the initramfs (mkinitramfs.sh, cached in --cache DIR,
#    default $VBLK_GUEST_CACHE or ${TMPDIR:-/tmp}/vblk-guest-cache-$UID);
# 2. starts the backend on a fresh unix socket in a private temp dir:
#      qsd:   qemu-storage-daemon exporting IMG as vhost-user-blk (OPTS, if
#             any, are appended to its --export option, e.g.
#             logical-block-size=4096)
#      vblkd: $VBLKD --socket SOCK --disk IMG[,OPTS]
#    and waits (max 10 s) for the socket to appear;
# 3. boots qemu-system-x86_64 -accel tcg with the kernel + initramfs and a
#    vhost-user-blk-pci device on that socket; kernel cmdline carries
#    vblk_script=NAME vblk_seed=N vblk_size=<image size>; the serial console
#    goes to a log file; the whole run is bounded by --timeout (default 300 s);
# 4. stops the backend (SIGTERM, waits up to 10 s; a backend that died on
#    its own with non-zero status, or that needs SIGKILL, is a failure);
# 5. exits 0 only if the console shows "VBLK_GUEST_RESULT=PASS"; otherwise
#    prints the console (and backend/QEMU logs) and exits 1.
#
# Crash/reconnect runs (test_guest_reconnect.sh):
#   --reconnect          the chardev gets reconnect=1: QEMU reconnects to a
#                        back end that went away (vhost-user-blk + inflight I/O)
#   --kill-backend N     (implies --reconnect) N times: SIGKILL the back end
#                        while the guest workload runs, keep it dead for
#                        --kill-down S seconds (default 1), start it again with
#                        the same command on the same socket. The first kill
#                        comes --kill-after S (default 5) seconds after the
#                        console shows VBLK_STRESS_BEGIN, the next ones every
#                        --kill-interval S (default 7) seconds; a kill that
#                        would come after the guest printed VBLK_STRESS_END
#                        fails the run (the workload was too short to test it).
#                        The back-end log collects every incarnation.
#                        Each kill is aimed (kill-inflight.py): it waits up to
#                        2 s for a moment when the inflight region shows a
#                        request in flight, so that the restart must resubmit.
#   --guest-args STR     appended to the kernel command line (e.g. vblk_secs=30)
#   --packed             the device gets packed=on: QEMU offers
#                        VIRTIO_F_RING_PACKED and the guest drives a packed
#                        virtqueue (virtio 1.3 §2.8) through the back end
#   --resize-to BYTES    online resize (test_guest_resize.sh): when the console
#                        shows VBLK_RESIZE_READY, grow the image to BYTES
#                        (truncate) and send the back end SIGHUP, which makes
#                        vblkd learn the new size and tell the front end
#                        (the qsd stand-in, qsd-as-vblkd.sh, turns it into
#                        QMP block_resize); needs --backend vblkd
#   --hotplug            memory hotplug (test_guest_hotplug.sh): the guest gets
#                        -m 512M,slots=8,maxmem=2G and an HMP monitor on a unix
#                        socket; a console line "VBLK_HOTPLUG add N" makes the
#                        host add a 128 MiB shared memfd DIMM hdN (object_add +
#                        device_add pc-dimm), "VBLK_HOTPLUG del N" removes it
#                        (device_del); hmp.py speaks to the monitor
#
# Environment: VBLKD (default for --vblkd), VBLK_GUEST_CACHE, VBLK_GUEST_SMP,
# VBLK_GUEST_TIMEOUT, VBLK_GUEST_KERNEL (see mkinitramfs.sh), QEMU (binary),
# QSD (qemu-storage-daemon binary).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "run-guest: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

backend="" image="" vblkd=${VBLKD:-} disk_opts="" script=basic seed=""
queues=1 backend_logfile="" packed="" hotplug=""
resize_to="" reconnect="" kill_n=0 kill_after=5 kill_interval=7 kill_down=1 guest_args=""
logfile="" timeout_s=${VBLK_GUEST_TIMEOUT:-300} smp=${VBLK_GUEST_SMP:-2}
cache=${VBLK_GUEST_CACHE:-${TMPDIR:-/tmp}/vblk-guest-cache-$(id -u)}
qemu=${QEMU:-qemu-system-x86_64}
qsd=${QSD:-qemu-storage-daemon}

while [ $# -gt 0 ]; do
    case "$1" in
        --backend)   backend=$2; shift 2 ;;
        --image)     image=$2; shift 2 ;;
        --vblkd)     vblkd=$2; shift 2 ;;
        --disk-opts) disk_opts=$2; shift 2 ;;
        --script)    script=$2; shift 2 ;;
        --seed)      seed=$2; shift 2 ;;
        --log)       logfile=$2; shift 2 ;;
        --timeout)   timeout_s=$2; shift 2 ;;
        --cache)     cache=$2; shift 2 ;;
        --smp)       smp=$2; shift 2 ;;
        --queues)    queues=$2; shift 2 ;;
        --backend-log) backend_logfile=$2; shift 2 ;;
        --reconnect) reconnect=1; shift ;;
        --kill-backend)  kill_n=$2; reconnect=1; shift 2 ;;
        --kill-after)    kill_after=$2; shift 2 ;;
        --kill-interval) kill_interval=$2; shift 2 ;;
        --kill-down)     kill_down=$2; shift 2 ;;
        --guest-args)    guest_args=$2; shift 2 ;;
        --packed)        packed=1; shift ;;
        --resize-to)     resize_to=$2; shift 2 ;;
        --hotplug)       hotplug=1; shift ;;
        -h|--help)   usage ;;
        *) log "unknown argument: $1"; usage ;;
    esac
done
[ -n "$backend" ] && [ -n "$image" ] || usage
[ -f "$image" ] || die "image $image does not exist"
image=$(cd "$(dirname "$image")" && pwd)/$(basename "$image")
[ -f "$here/workloads/$script.sh" ] || die "unknown --script $script (no workloads/$script.sh)"
[ -n "$seed" ] || seed=$(( (RANDOM << 15) | RANDOM ))
[ -z "$resize_to" ] || [ "$backend" = vblkd ] ||
    die "--resize-to signals the back end: use --backend vblkd (VBLKD=qsd-as-vblkd.sh for qsd)"
case "$seed" in *[!0-9]*|"") die "--seed must be a decimal number" ;; esac

case "$backend" in
    qsd)   command -v "$qsd" >/dev/null || die "$qsd not found" ;;
    vblkd) [ -n "$vblkd" ] || die "--backend vblkd needs --vblkd PATH or \$VBLKD"
           [ -x "$vblkd" ] || die "vblkd '$vblkd' is not executable" ;;
    *)     die "unknown backend '$backend' (qsd|vblkd)" ;;
esac
command -v "$qemu" >/dev/null || die "$qemu not found"

# ------------------------------------------------------------ initramfs
"$here/mkinitramfs.sh" "$cache"
kernel=$(cat "$cache/kernel.path")
initrd=$cache/initramfs.cpio.gz

# ------------------------------------------------------------ temp dir + cleanup
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-guest.XXXXXX")
sock=$tmp/vhost-user-blk.sock
console=$tmp/console.log
blog=$tmp/backend.log
qlog=$tmp/qemu.log
[ ${#sock} -lt 100 ] || die "socket path too long: $sock (set TMPDIR shorter)"
bpid="" bgrp="" qpid=""

# stop_pid PID SECS [TARGET]: SIGTERM to TARGET (default PID; "-PID" = its
# process group), wait up to SECS for PID to exit, then SIGKILL. 1 if killed.
stop_pid() {
    local pid=$1 secs=$2 target=${3:-$1} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM -- "$target" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "$target" 2>/dev/null || true
    return 1
}
# the backend runs in its own process group (setsid): reap helpers it forked
reap_backend_group() {
    [ -n "$bgrp" ] && kill -KILL -- "-$bgrp" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$qpid" ] && { stop_pid "$qpid" 5 || true; wait "$qpid" 2>/dev/null || true; }
    [ -n "$bpid" ] && { stop_pid "$bpid" 10 "-$bpid" || true; wait "$bpid" 2>/dev/null || true; }
    reap_backend_group
    if [ -n "$backend_logfile" ] && [ -f "$blog" ]; then
        cp "$blog" "$backend_logfile" 2>/dev/null || true
    fi
    if [ -n "$logfile" ] && [ -f "$console" ]; then
        cp "$console" "$logfile" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

dump_logs() {
    echo "------------------------------------------------ guest console ($backend)" >&2
    tr -d '\r' < "$console" >&2 2>/dev/null || echo "(no console output)" >&2
    echo "------------------------------------------------ backend log" >&2
    cat "$blog" >&2 2>/dev/null || true
    echo "------------------------------------------------ qemu log" >&2
    cat "$qlog" >&2 2>/dev/null || true
    echo "------------------------------------------------" >&2
}

# ------------------------------------------------------------ backend
if [ "$backend" = qsd ]; then
    export_opts=type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$sock,writable=on
    [ "$queues" != default ] && [ "$queues" -gt 1 ] && export_opts+=",num-queues=$queues"
    [ -n "$disk_opts" ] && export_opts+=",$disk_opts"
    bcmd=("$qsd"
          --blockdev "driver=file,node-name=file0,filename=$image,cache.direct=off,discard=unmap"
          --blockdev "driver=raw,node-name=disk0,file=file0,discard=unmap"
          --export "$export_opts")
else
    disk=$image
    [ "$queues" != default ] && [ "$queues" -gt 1 ] && disk+=",queues=$queues"
    [ -n "$disk_opts" ] && disk+=",$disk_opts"
    bcmd=("$vblkd" --socket "$sock" --disk "$disk")
fi
log "backend: ${bcmd[*]}"
# start_backend: start bcmd (log appended: a restarted back end adds to it)
# and wait for its socket.
# SIGHUP back to its default first: under nohup it arrives ignored, and a
# shell stand-in (over-rbd.sh) can then neither trap it nor die of it, so
# --resize-to's signal would be lost.
start_backend() {
    setsid env --default-signal=HUP "${bcmd[@]}" >> "$blog" 2>&1 < /dev/null &
    bpid=$! bgrp=$!
    for ((i = 0; ; i++)); do
        [ -S "$sock" ] && break
        if ! kill -0 "$bpid" 2>/dev/null; then
            wait "$bpid" && st=0 || st=$?
            bpid=""
            cat "$blog" >&2
            die "backend exited (status $st) before creating $sock"
        fi
        [ $i -lt 100 ] || { cat "$blog" >&2; die "backend did not create $sock within 10 s"; }
        sleep 0.1
    done
}
: > "$blog"
start_backend

# ------------------------------------------------------------ QEMU
size=$(stat -c %s "$image")
# --queues default: neither side is told a queue count, as in the README's
# command (QEMU then asks for one queue per vCPU).
qopt=",num-queues=$queues"
[ "$queues" = default ] && qopt=""
append="console=ttyS0 panic=-1 quiet vblk_script=$script vblk_seed=$seed vblk_size=$size"
[ -n "$guest_args" ] && append+=" $guest_args"
mon=$tmp/monitor.sock
mem_opt=512M monitor=(-monitor none)
if [ -n "$hotplug" ]; then
    mem_opt=512M,slots=8,maxmem=2G
    monitor=(-monitor "unix:$mon,server=on,wait=off")
fi
# shellcheck disable=SC2054 # commas are QEMU option syntax
qcmd=("$qemu" -nodefaults -no-user-config -machine q35 -accel tcg -cpu max -smp "$smp" -m "$mem_opt"
      -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem
      -kernel "$kernel" -initrd "$initrd" -append "$append"
      -chardev "socket,id=c0,path=$sock${reconnect:+,reconnect=1}"
      -device "vhost-user-blk-pci,chardev=c0${qopt}${packed:+,packed=on}"
      -display none -serial "file:$console" "${monitor[@]}" -no-reboot)
log "qemu: ${qcmd[*]}"
start=$SECONDS
timeout -k 10 "$timeout_s" "${qcmd[@]}" > "$qlog" 2>&1 < /dev/null &
qpid=$!
# Wait for QEMU; if the backend dies meanwhile the guest would just hang on
# I/O until the timeout, so give QEMU a 5 s grace period and then stop it.
backend_gone="" ring_broken=""
kills_done=0 next_kill="" kill_fail=""
console_has() { [ -f "$console" ] && tr -d '\r' < "$console" | grep -aq "$1"; }
# kill_restart: SIGKILL the back end (no chance to finish anything), remove
# its stale socket so that start_backend waits for the new one, restart it.
kill_restart() {
    local how
    how=$("$here/kill-inflight.py" "$bpid" 2 2>&1 || true)
    kill -KILL -- "-$bgrp" 2>/dev/null || true
    wait "$bpid" 2>/dev/null || true
    rm -f "$sock"
    echo "run-guest: ---- backend killed with SIGKILL (#$((kills_done + 1))): $how" >> "$blog"
    sleep "$kill_down"
    start_backend
    kills_done=$((kills_done + 1))
    log "backend killed and restarted ($kills_done/$kill_n) at $((SECONDS - start)) s"
}
# hotplug_step: carry out the guest's next "VBLK_HOTPLUG add|del N" request;
# 1 when there is none.
hotplug_done=0
hotplug_step() {
    local req op n
    [ -f "$console" ] || return 1
    req=$(tr -d '\r' < "$console" | { grep -a '^VBLK_HOTPLUG \(add\|del\) [0-9]*$' || true; } |
          sed -n "$((hotplug_done + 1))p")
    [ -n "$req" ] || return 1
    op=$(cut -d' ' -f2 <<< "$req") n=$(cut -d' ' -f3 <<< "$req")
    hotplug_done=$((hotplug_done + 1))
    if [ "$op" = add ]; then
        "$here/hmp.py" "$mon" "object_add memory-backend-memfd,id=hm$n,size=128M,share=on" \
            "device_add pc-dimm,id=hd$n,memdev=hm$n" >> "$qlog.hmp" 2>&1 ||
            log "hotplug: adding DIMM $n failed (see below)"
    else
        "$here/hmp.py" "$mon" "device_del hd$n" >> "$qlog.hmp" 2>&1 ||
            log "hotplug: removing DIMM $n failed (see below)"
    fi
    log "hotplug: $op DIMM $n at $((SECONDS - start)) s: $(tail -n 1 "$qlog.hmp")"
}
resized=""
while kill -0 "$qpid" 2>/dev/null; do
    if [ -n "$resize_to" ] && [ -z "$resized" ] && console_has VBLK_RESIZE_READY; then
        truncate -s "$resize_to" "$image"
        kill -HUP "$bpid" 2>/dev/null || true
        resized=$SECONDS
        log "image grown to $resize_to bytes, backend sent SIGHUP at $((SECONDS - start)) s"
    fi
    while [ -n "$hotplug" ] && hotplug_step; do :; done
    if [ "$kills_done" -lt "$kill_n" ] && [ -z "$kill_fail" ]; then
        if [ -z "$next_kill" ] && console_has VBLK_STRESS_BEGIN; then
            next_kill=$((SECONDS + kill_after))
        fi
        if [ -n "$next_kill" ] && [ "$SECONDS" -ge "$next_kill" ]; then
            if console_has VBLK_STRESS_END; then
                kill_fail="workload ended before kill $((kills_done + 1)) of $kill_n"
            else
                kill_restart
                next_kill=$((SECONDS + kill_interval))
            fi
        fi
    fi
    if [ -z "$backend_gone" ] && ! kill -0 "$bpid" 2>/dev/null; then
        backend_gone=$SECONDS
        log "backend exited while the guest is running"
    fi
    # The guest driver marked its virtqueue broken (BAD_RING in Linux
    # drivers/virtio/virtio_ring.c prints "req.N:..."): nothing on it will
    # ever complete, so waiting for the timeout only costs minutes.
    if [ -z "$ring_broken" ] && console_has 'virtio[0-9]*: req\.[0-9]*:'; then
        ring_broken=$SECONDS
        log "the guest's virtqueue is broken: $(tr -d '\r' < "$console" | grep -a -m1 'virtio[0-9]*: req\.[0-9]*:')"
    fi
    if [ -n "$ring_broken" ] && [ $((SECONDS - ring_broken)) -ge 3 ]; then
        log "stopping QEMU (guest virtqueue broken)"
        stop_pid "$qpid" 5 || true
        break
    fi
    if [ -n "$backend_gone" ] && [ $((SECONDS - backend_gone)) -ge 5 ]; then
        log "stopping QEMU (backend gone)"
        stop_pid "$qpid" 5 || true
        break
    fi
    sleep 0.5
done
[ -f "$qlog.hmp" ] && cat "$qlog.hmp" >> "$qlog"
wait "$qpid" && qrc=0 || qrc=$?
qpid=""
elapsed=$((SECONDS - start))

# ------------------------------------------------------------ stop backend
brc=ok
if ! kill -0 "$bpid" 2>/dev/null; then
    wait "$bpid" && st=0 || st=$?
    if [ "$st" -ne 0 ]; then
        brc="backend died during the run with status $st"
    else
        log "note: backend exited on its own (status 0) before SIGTERM"
    fi
elif stop_pid "$bpid" 10 "-$bpid"; then
    wait "$bpid" && st=0 || st=$?
    case "$st" in
        0|143) ;;
        *) brc="backend exited with status $st after SIGTERM" ;;
    esac
else
    wait "$bpid" 2>/dev/null || true
    brc="backend ignored SIGTERM for 10 s (killed)"
fi
bpid=""
reap_backend_group

# ------------------------------------------------------------ verdict
result=$(tr -d '\r' < "$console" | grep -a '^VBLK_GUEST_RESULT=' | tail -1 || true)
fail=""
if [ -n "$ring_broken" ]; then
    fail="the guest's virtqueue broke at $((ring_broken - start)) s (see the console)"
elif [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
    fail="timeout after ${timeout_s} s"
elif [ "$result" != "VBLK_GUEST_RESULT=PASS" ]; then
    fail="guest did not report PASS (${result:-no result line}; qemu status $qrc)"
elif [ "$qrc" -ne 0 ]; then
    fail="qemu exited with status $qrc"
elif [ "$brc" != ok ]; then
    fail="$brc"
elif [ -n "$kill_fail" ]; then
    fail="$kill_fail"
elif [ "$kills_done" -lt "$kill_n" ]; then
    fail="only $kills_done of $kill_n backend kills happened (no VBLK_STRESS_BEGIN?)"
elif [ -n "$resize_to" ] && [ -z "$resized" ]; then
    fail="the guest never asked for the resize (no VBLK_RESIZE_READY)"
fi
if [ -n "$fail" ] && [ "$brc" != ok ] && [ "$fail" != "$brc" ]; then
    fail+="; $brc"
fi
if [ -n "$fail" ]; then
    dump_logs
    log "FAIL ($backend, script $script, seed $seed): $fail (guest ran ${elapsed} s)"
    exit 1
fi
log "PASS ($backend, script $script, seed $seed) in ${elapsed} s"
exit 0
