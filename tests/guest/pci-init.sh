#!/bin/sh
# pci-init.sh - /init of the PCI-transport guest tests (test_guest_pci.sh).
#
# virtio_pci/virtio_blk are not loaded at first: the virtio-blk functions stay
# unbound. For each one listed in vblk_pci= (BDF[/packed][/intx][/mq],...) it
# binds the function to uio_pci_generic with `vblk pci-bind` and drives it
# with vblk through libvblk's PCI transport (pci:BDF): seeded patterns
# written and read back, multi-segment requests, an unaligned write
# (read-modify-write), flush, write-zeroes, discard, and a count-bounded
# bench whose 70000 requests wrap the 16-bit used index while its iodepth
# keeps the ring full (the FIFO path). /mq instead: two queues, a bench that
# must complete its requests on each of them, and a copy onto the device and
# back with two workers (one queue each). The host checks the image files
# byte for byte afterwards.
# vblk_pci_notblk=BDF: a virtio function that is not block; pci-bind refuses it.
# vblk_pci_mounted=BDF: a virtio-blk disk with an ext4 filesystem made on the
# host; once virtio_pci/virtio_blk have it and it is mounted, pci-bind must
# refuse it, and take it after the umount. One result line:
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
# Seconds since boot, for the host's log: where a slow run spends its time.
stamp() { echo "VBLK_TIME $(cut -d' ' -f1 /proc/uptime)s $*"; }

devs= notblk= mounted=
for w in $(cat /proc/cmdline); do
    case "$w" in
    vblk_pci=*) devs=${w#*=} ;;
    vblk_pci_notblk=*) notblk=${w#*=} ;;
    vblk_pci_mounted=*) mounted=${w#*=} ;;
    esac
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
# virtio too (vendor 0x1af4), but not block: the device ID decides (virtio 1.3 §4.1.2).
if [ -n "$notblk" ]; then
    vblk pci-bind "$notblk" 2>/tmp/err && fail "pci-bind accepted virtio function $notblk"
    grep -q "1af4:.* is not a virtio-blk device" /tmp/err || fail "pci-bind $notblk: wrong refusal: $(cat /tmp/err)"
    [ -e "/sys/bus/pci/devices/$notblk/driver" ] && fail "pci-bind bound $notblk all the same"
    vblk info "pci:$notblk" 2>/tmp/err && fail "vblk info accepted virtio function $notblk"
fi

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
# /mq: the device offers two queues. Every bench request of a queue is
# submitted on that queue, and bench reports each queue's count.
run_mq() { # DEV PACKED-FLAG
    d=$1 p=$2
    vblk info $p --queues=2 --json "$d" > /tmp/i || fail "$d $p: info --queues=2"
    grep -q '"negotiated": *2' /tmp/i || fail "$d $p: two queues not negotiated: $(cat /tmp/i)"
    vblk bench $p --queues=2 "$d" --rw=randread --bs=4k --iodepth=64 --requests=8000 --json \
        > /tmp/b || fail "$d $p: bench --queues=2"
    bench_sum
    per_queue=$(grep -o '"requests": *[0-9]*' /tmp/b | awk '{printf "%s ", $2}')
    set -- $per_queue
    [ $# -eq 2 ] && [ "$1" -ge 8000 ] && [ "$2" -ge 8000 ] ||
        fail "$d $p: bench --queues=2 per-queue requests: ${per_queue:-none}"
    echo "VBLK_BENCH $d ${p:-split} queues=2: requests=$ios ($per_queue) IOPS=$iops"
    # Data over both queues: a copy onto the device and back, 64 KiB chunks,
    # two workers with their own queue each (--queues=2 fails if it gets fewer).
    vblk copy $p --queues=2 --request-size=64k --requests=4 --no-progress /pat/p1 "$d" ||
        fail "$d $p: copy p1 onto the device"
    vblk copy $p --queues=2 --request-size=64k --requests=4 --no-progress "$d" /tmp/r ||
        fail "$d $p: copy the device back"
    head -c $((4 * M)) /tmp/r | cmp - /pat/p1 || fail "$d $p: p1 copied back differs"
    [ "$(tail -c +$((4 * M + 1)) /tmp/r | tr -d '\000' | wc -c)" -eq 0 ] ||
        fail "$d $p: bytes after p1 are not zero"
    rm -f /tmp/r
}
# vblk_pci_mounted: the kernel's driver has the disk and ext4 is mounted.
mounted_disk() { # BDF
    b=$1 dir=/sys/bus/pci/devices/$1
    while read -r m; do insmod "/lib/modules/$m" || fail "insmod $m"; done < /lib/modules/load-order
    kdisk() {
        for i in $(seq 100); do
            k=$(ls "$dir"/virtio*/block 2>/dev/null | head -1)
            [ -n "$k" ] && [ -b "/dev/$k" ] && return 0
            sleep 0.1
        done
        fail "$b: no kernel disk from virtio_blk"
    }
    drv() { basename "$(readlink "$dir/driver")"; }
    kdisk
    mkdir -p /mnt
    mount -t ext4 "/dev/$k" /mnt || fail "mount /dev/$k"
    grep -q "made on the host" /mnt/host.txt || fail "/mnt/host.txt: $(cat /mnt/host.txt)"
    echo "written in the guest" > /mnt/guest.txt || fail "write to the mounted filesystem"
    vblk pci-bind "$b" 2>/tmp/err && fail "pci-bind took $b with /dev/$k mounted"
    grep -q "/dev/$k has a mounted filesystem" /tmp/err || fail "pci-bind $b: wrong refusal: $(cat /tmp/err)"
    [ "$(drv)" = virtio-pci ] || fail "$b: driver is $(drv) after the refusal"
    sync
    cat /mnt/guest.txt | grep -q "written in the guest" || fail "the filesystem went away"
    umount /mnt || fail "umount"
    vblk pci-bind "$b" || fail "pci-bind $b after the umount"
    [ "$(drv)" = uio_pci_generic ] || fail "$b: driver is $(drv), not uio_pci_generic"
    vblk info "pci:$b" > /dev/null || fail "info pci:$b"
    # And back to the kernel: the same filesystem, with the guest's file.
    vblk pci-bind --kernel "$b" || fail "pci-bind --kernel $b"
    [ "$(drv)" = virtio-pci ] || fail "$b: driver is $(drv), not virtio-pci"
    kdisk
    mount -t ext4 "/dev/$k" /mnt || fail "mount /dev/$k again"
    grep -q "written in the guest" /mnt/guest.txt || fail "guest.txt lost"
    umount /mnt || fail "umount again"
    echo "VBLK_NOTE $b: refused while /dev/$k was mounted, bound after the umount, given back"
}
for spec in $(echo "$devs" | tr , ' '); do
    bdf=${spec%%/*}
    stamp "$spec"
    vblk pci-bind "$bdf" || fail "pci-bind $bdf"
    vblk info "pci:$bdf" || fail "info pci:$bdf"
    case "$spec" in */mq*) one=run_mq ;; *) one=run ;; esac
    $one "pci:$bdf" ""
    case "$spec" in */packed*) $one "pci:$bdf" --packed ;; esac
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
stamp "devices done"
[ -z "$mounted" ] || mounted_disk "$mounted"
stamp end
finish PASS
