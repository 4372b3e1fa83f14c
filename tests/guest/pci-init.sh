#!/bin/sh
# pci-init.sh - /init of the PCI-transport guest test (test_guest_pci.sh).
#
# No virtio_pci/virtio_blk in this guest: the virtio-blk functions stay
# unbound. For each one listed in vblk_pci= (BDF[/packed][/intx][/sessions],...) it binds the
# function to uio_pci_generic with `vblk pci-bind` and drives it with vblk
# through libvblk's PCI transport (pci:BDF): seeded patterns written and read
# back, multi-segment requests, an unaligned write (read-modify-write),
# flush, write-zeroes, discard,
# and a count-bounded bench whose 70000 requests wrap the 16-bit used index
# while its iodepth keeps the ring full (the FIFO path). The host checks the
# image files byte for byte afterwards. One result line:
#     VBLK_GUEST_RESULT=PASS   or   VBLK_GUEST_RESULT=FAIL <reason>
export PATH=/sbin:/bin LD_LIBRARY_PATH=/lib HOME=/ TERM=dumb

mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp

finish() {
    if [ "$1" = PASS ]; then echo "VBLK_GUEST_RESULT=PASS"; else shift; echo "VBLK_GUEST_RESULT=FAIL $*"; fi
    sync
    poweroff -f
    sleep 5
    echo o > /proc/sysrq-trigger
    exit 1
}
fail() { finish FAIL "$*"; }

devs=
for w in $(cat /proc/cmdline); do
    case "$w" in vblk_pci=*) devs=${w#*=} ;; esac
done
echo "VBLK_GUEST_BEGIN kernel=$(uname -r) devices=$devs"
insmod /lib/modules/uio.ko || fail "insmod uio"
insmod /lib/modules/uio_pci_generic.ko || fail "insmod uio_pci_generic"
# 2 MiB hugepages for the DMA region (one device open at a time).
echo 48 > /proc/sys/vm/nr_hugepages
grep -q 'HugePages_Total: *48' /proc/meminfo || fail "could not reserve hugepages: $(grep HugePages_Total /proc/meminfo)"

# A function that is not virtio-blk is refused, by pci-bind and by the transport.
vblk pci-bind 0000:00:00.0 2>/tmp/err && fail "pci-bind accepted the host bridge"
grep -q "not a virtio-blk device" /tmp/err || fail "pci-bind: wrong refusal: $(cat /tmp/err)"
vblk info pci:0000:00:00.0 2>/tmp/err && fail "vblk info accepted the host bridge"

M=1048576
# From bench --json (fio's layout): completed requests and IOPS, read + write.
bench_sum() {
    ios=$(grep -o '"total_ios": *[0-9]*' /tmp/b | awk '{s += $2} END {print s + 0}')
    iops=$(grep -o '"iops": *[0-9.]*' /tmp/b | awk '{s += $2} END {printf "%.0f", s}')
}
run() { # DEV PACKED-FLAG
    d=$1 p=$2
    # Multi-segment: 16 sequential 64 KiB writes, each of 16 buffers, all 0xa5
    # (one slot, iodepth 1); read back in 1 MiB, then overwritten below.
    vblk bench $p "$d" --rw=write --bs=64k --segments=16 --iodepth=1 --requests=16 >/dev/null ||
        fail "$d $p: multi-segment writes"
    vblk read $p "$d" 0 $M | cmp - /pat/a5 || fail "$d $p: multi-segment data differs"
    vblk bench $p "$d" --rw=read --bs=64k --segments=16 --iodepth=8 --requests=64 >/dev/null ||
        fail "$d $p: multi-segment reads"
    vblk write $p "$d" 0 < /pat/p1 || fail "$d $p: write p1"
    vblk read $p "$d" 0 $((4 * M)) > /tmp/r || fail "$d $p: read p1"
    cmp /tmp/r /pat/p1 || fail "$d $p: p1 read back differs"
    # Unaligned: the CLI reads, modifies and writes the blocks around it.
    vblk write $p "$d" $((8 * M + 1000)) < /pat/p2 || fail "$d $p: write p2"
    vblk read $p "$d" $((8 * M + 1000)) 300000 > /tmp/r || fail "$d $p: read p2"
    cmp /tmp/r /pat/p2 || fail "$d $p: p2 read back differs"
    vblk flush $p "$d" || fail "$d $p: flush"
    vblk write $p "$d" $((16 * M)) < /pat/p1 || fail "$d $p: write p1 at 16M"
    vblk discard $p --zeroes "$d" $((17 * M)) $M || fail "$d $p: write zeroes"
    vblk read $p "$d" $((17 * M)) $M | cmp - /pat/zero1m || fail "$d $p: zeroes read back differ"
    vblk discard $p "$d" $((24 * M)) $M || fail "$d $p: discard"
    # 70000 requests: more than 65536, so the used index wraps; iodepth 512 is
    # twice the ring, so half of them wait in the FIFO for a free slot.
    vblk bench $p "$d" --rw=randread --bs=4k --iodepth=512 --requests=70000 --json > /tmp/b ||
        fail "$d $p: bench"
    bench_sum
    [ "${ios:-0}" -ge 70000 ] || fail "$d $p: bench completed ${ios:-no} requests"
    echo "VBLK_BENCH $d ${p:-split}: requests=$ios IOPS=$iops"
}
# /sessions: qemu-storage-daemon. Each vblk command is a device session
# ending in a reset, on which QEMU stops and restarts the vhost-user back end;
# several sessions in a row must work (they did not while INTx stayed
# disabled between sessions: see docs/pci-transport.md).
run_sessions() { # DEV
    d=$1
    vblk write "$d" 0 < /pat/p3 || fail "$d: write p3 (session 1)"
    vblk read --timeout=20000 "$d" 0 65536 | cmp - /pat/p3 || fail "$d: read p3 (session 2)"
    vblk read --timeout=20000 "$d" 0 262144 > /tmp/r || fail "$d: 256 KiB read (session 3)"
    head -c 65536 /tmp/r | cmp - /pat/p3 || fail "$d: 256 KiB read differs (session 3)"
    vblk info "$d" > /dev/null || fail "$d: info (session 4)"
    vblk read --timeout=20000 "$d" 0 65536 | cmp - /pat/p3 || fail "$d: read p3 (session 5)"
    echo "VBLK_NOTE $d: five sessions in a row"
}
for spec in $(echo "$devs" | tr , ' '); do
    bdf=${spec%%/*}
    vblk pci-bind "$bdf" || fail "pci-bind $bdf"
    case "$spec" in
    */sessions*) run_sessions "pci:$bdf"; continue ;;
    esac
    vblk info "pci:$bdf" || fail "info pci:$bdf"
    run "pci:$bdf" ""
    case "$spec" in */packed*) run "pci:$bdf" --packed ;; esac
    case "$spec" in
    */intx*) # completions by INTx through /dev/uioN instead of polling
        vblk read --intx "pci:$bdf" 0 $((4 * M)) | cmp - /pat/p1 || fail "$bdf --intx: read p1"
        vblk bench --intx "pci:$bdf" --rw=randread --bs=4k --iodepth=4 --requests=3000 --json \
            > /tmp/b || fail "$bdf --intx: bench"
        bench_sum
        echo "VBLK_BENCH pci:$bdf intx: requests=$ios IOPS=$iops"
        grep -q uio /proc/interrupts || fail "no uio line in /proc/interrupts"
        echo "VBLK_INTX $(grep uio /proc/interrupts | tr -s ' ')"
        # vblk copy sleeps in poll() on vblk_queue_fd(): woken by INTx, then
        # (polling) readable while requests are pending
        for o in --intx ""; do
            s=$(date +%s)
            vblk copy $o --no-progress "vhost-user:pci:$bdf" /tmp/c || fail "$bdf copy $o"
            head -c $((4 * M)) /tmp/c | cmp - /pat/p1 || fail "$bdf copy $o: p1 differs"
            echo "VBLK_NOTE pci:$bdf copy ${o:-polling}: 64 MiB in $(($(date +%s) - s)) s"
            rm -f /tmp/c
        done ;;
    esac
    vblk pci-bind --kernel "$bdf" 2>/tmp/err
    grep -q "virtio_pci" /tmp/err || fail "pci-bind --kernel $bdf: $(cat /tmp/err)"
done
finish PASS
