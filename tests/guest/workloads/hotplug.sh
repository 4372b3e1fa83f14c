#!/bin/sh
# workloads/hotplug.sh - memory hotplug under I/O (run-guest.sh --hotplug).
#
# 1. guest_io stress runs on /dev/vda (buffers in boot memory) while the
#    host hot-adds two 128 MiB DIMMs ("VBLK_HOTPLUG add N" on the console):
#    QEMU sends the back end ADD_MEM_REG for each, and the queues stop and
#    restart around it with requests in flight. Each DIMM's memory blocks
#    are onlined as ZONE_MOVABLE, the zone user memory is taken from first.
# 2. guest_io hotbuf does O_DIRECT I/O from and into pages that
#    /proc/self/pagemap shows inside each DIMM's physical range, and checks
#    the data: the back end must translate the new regions.
# 3. six more DIMMs are added and left offline (nine regions, more than
#    SET_MEM_TABLE can carry), then DIMM 2 is offlined and removed
#    ("VBLK_HOTPLUG del 2", device_del; QEMU sends REM_MEM_REG) while a
#    second stress run goes on; its memory blocks must disappear. If the guest cannot offline the DIMM, the line
#    VBLK_HOTPLUG_REMOVE=SKIPPED says why and the rest still runs.
# 4. hotbuf through DIMM 1 again: the regions that stayed still work.
set -eu

DEV=/dev/vda
SEED=${vblk_seed:-1}
MEM=/sys/devices/system/memory
BS=$(( 0x$(cat $MEM/block_size_bytes) ))

blocks() { ls -d $MEM/memory[0-9]* 2>/dev/null | sed 's/.*memory//' | sort -n; }

# hot_add N: ask the host for DIMM N, wait for its blocks, online them
# movable; sets LO/HI to its physical range.
hot_add() {
    before=$(blocks)
    echo "VBLK_HOTPLUG add $1"
    i=0
    while [ "$(blocks)" = "$before" ]; do
        i=$((i + 1))
        [ $i -le 600 ] || { echo "== hotplug: DIMM $1 never appeared"; return 1; }
        sleep 0.1
    done
    sleep 0.5
    new=$(blocks | grep -vxF "$before")
    LO="" HI=0
    for b in $new; do
        [ "$(cat $MEM/memory$b/state)" = online ] || echo online_movable > $MEM/memory$b/state
        [ -n "$LO" ] || LO=$((b * BS))
        HI=$(((b + 1) * BS))
    done
    echo "== hotplug: DIMM $1: blocks $(echo $new) online ($(cat $MEM/memory${new%% *}/valid_zones 2>/dev/null | head -1)), range $(printf %#x $LO)-$(printf %#x $HI)"
}

echo "== hotplug: boot memory blocks: $(blocks | wc -l) of $BS bytes"
echo "VBLK_STRESS_BEGIN"
guest_io stress -s "$SEED" -j 4 -t 12 $DEV > /tmp/stress1.log 2>&1 &
spid=$!
sleep 3
hot_add 1
LO1=$LO HI1=$HI
hot_add 2
LO2=$LO HI2=$HI
rc=0
wait $spid || rc=$?
grep 'VBLK_STRESS job=' /tmp/stress1.log || true
[ $rc -eq 0 ] || { cat /tmp/stress1.log; echo "== hotplug: stress during hot-add failed"; exit 1; }

guest_io hotbuf -s "$SEED" $DEV 0 $LO1 $HI1
guest_io hotbuf -s $((SEED + 1)) $DEV 8M $LO2 $HI2

# A stress run checks its slots against zero where it did not write.
guest_io zeroout $DEV 0 "$vblk_size"
# Six more DIMMs, left offline: nine regions in all, past the eight of
# SET_MEM_TABLE (a back end without CONFIGURE_MEM_SLOTS makes QEMU refuse the
# last of them: "a used vhost backend has no free memory slots left").
before=$(blocks | wc -l)
for n in 3 4 5 6 7 8; do
    echo "VBLK_HOTPLUG add $n"
done
i=0
while [ $(($(blocks | wc -l) - before)) -lt 6 ]; do
    i=$((i + 1))
    [ $i -le 900 ] || { echo "== hotplug: only $(($(blocks | wc -l) - before)) of DIMMs 3-8 appeared"; exit 1; }
    sleep 0.1
done
echo "== hotplug: DIMMs 3-8: 6 more blocks, offline"

guest_io stress -s $((SEED + 2)) -j 4 -t 10 $DEV > /tmp/stress2.log 2>&1 &
spid=$!
sleep 2
removed=""
off_ok=1
for b in $(blocks); do
    a=$((b * BS))
    [ $a -ge $LO2 ] && [ $a -lt $HI2 ] || continue
    echo offline > $MEM/memory$b/state 2>/dev/null || off_ok=""
done
if [ -n "$off_ok" ]; then
    echo "VBLK_HOTPLUG del 2"
    i=0
    while [ $i -le 600 ]; do
        left=0
        for b in $(blocks); do
            a=$((b * BS))
            [ $a -ge $LO2 ] && [ $a -lt $HI2 ] && left=$((left + 1))
        done
        [ $left -eq 0 ] && { removed=1; break; }
        i=$((i + 1))
        sleep 0.1
    done
    [ -n "$removed" ] || { echo "== hotplug: DIMM 2 offline, but its blocks stayed after device_del"; exit 1; }
    echo "== hotplug: DIMM 2 removed"
else
    echo "VBLK_HOTPLUG_REMOVE=SKIPPED the guest could not offline DIMM 2"
fi
rc=0
wait $spid || rc=$?
grep 'VBLK_STRESS job=' /tmp/stress2.log || true
[ $rc -eq 0 ] || { cat /tmp/stress2.log; echo "== hotplug: stress during hot-remove failed"; exit 1; }

guest_io hotbuf -s $((SEED + 3)) $DEV 16M $LO1 $HI1
echo "VBLK_STRESS_END"
if dmesg | grep -q -i 'I/O error'; then
    dmesg | grep -i 'I/O error' | tail
    echo "== hotplug: the kernel logged I/O errors"
    exit 1
fi
[ -n "$removed" ] && echo "VBLK_HOTPLUG_REMOVE=OK"
exit 0
