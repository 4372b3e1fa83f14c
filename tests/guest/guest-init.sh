#!/bin/sh
# guest-init.sh - /init of the vblk guest-test initramfs (busybox sh).
#
# Mounts proc/sys/dev/tmp, insmods the modules listed in
# /lib/modules/load-order, waits for /dev/vda, runs the workload
# /workloads/$vblk_script.sh and prints exactly one result line
#     VBLK_GUEST_RESULT=PASS      or      VBLK_GUEST_RESULT=FAIL <reason>
# which tests/guest/run-guest.sh greps for on the serial console. Then it
# powers the VM off (QEMU exits; on a panic, panic=-1 + -no-reboot exit too).
#
# Kernel command line parameters (set by run-guest.sh):
#   vblk_script=NAME   workload to run (default basic)
#   vblk_seed=N        seed for guest_io data patterns
#   vblk_size=BYTES    expected size of /dev/vda (checked if given)
export PATH=/sbin:/bin
export HOME=/ TERM=dumb

mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp

finish() {
    if [ "$1" = PASS ]; then
        echo "VBLK_GUEST_RESULT=PASS"
    else
        shift
        echo "VBLK_GUEST_RESULT=FAIL $*"
    fi
    sync
    poweroff -f
    sleep 5
    echo o > /proc/sysrq-trigger
    exit 1
}

vblk_script=basic
vblk_seed=1
vblk_size=
for w in $(cat /proc/cmdline); do
    case "$w" in
        vblk_script=*) vblk_script=${w#*=} ;;
        vblk_seed=*)   vblk_seed=${w#*=} ;;
        vblk_size=*)   vblk_size=${w#*=} ;;
    esac
done
export vblk_script vblk_seed vblk_size

echo "VBLK_GUEST_BEGIN kernel=$(uname -r) script=$vblk_script seed=$vblk_seed"

while read -r m; do
    insmod "/lib/modules/$m" || finish FAIL "insmod $m"
done < /lib/modules/load-order

i=0
while [ ! -b /dev/vda ]; do
    i=$((i + 1))
    [ $i -le 150 ] || finish FAIL "no /dev/vda after 15 s (virtio-blk device did not appear)"
    sleep 0.1
done

wl=/workloads/$vblk_script.sh
[ -f "$wl" ] || finish FAIL "unknown workload $vblk_script"
if /bin/sh "$wl"; then
    finish PASS
else
    finish FAIL "workload $vblk_script exited with status $?"
fi
