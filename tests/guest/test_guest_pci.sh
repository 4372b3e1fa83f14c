#!/usr/bin/env bash
# test_guest_pci.sh - libvblk's virtio-pci transport, inside a Linux guest.
#
# Boots the Debian kernel under QEMU TCG (q35) with three virtio-blk PCI
# functions, none of them claimed by a kernel driver at first:
#   00:04.0  QEMU's own virtio-blk-pci on a raw file (packed=on offered)
#   00:05.0  vhost-user-blk-pci served by vblkd          (packed=on offered)
#   00:06.0  vhost-user-blk-pci served by qemu-storage-daemon (split only:
#            7.2 offers no packed ring; every vblk command is a session
#            ending in a reset, on which QEMU restarts the back end)
# In the guest, pci-init.sh binds each to uio_pci_generic and runs vblk on
# pci:BDF (split, and packed where offered; the full run on all three). Then
# the host checks every image byte for byte. Prints each device's bench line
# (IOPS; no assertion). Two more functions test pci-bind's refusals:
#   00:07.0  virtio-blk-pci with an ext4 image made here, mounted in the guest
#            through virtio_pci/virtio_blk: refused until the umount
#   00:08.0  virtio-rng-pci: virtio, but not block
# VBLK_PCI_MQ=1 (guest-pci-mq): the three disks offer two queues each
# (num-queues=2, vblkd queues=2, qsd num-queues=2); the guest runs bench and
# copy with --queues=2 instead, and the refusal functions are left out.
#
# Env: VBLK (vblk binary), VBLKD, VBLK_GUEST_CACHE, VBLK_GUEST_SEED,
# VBLK_GUEST_TIMEOUT (default 420), VBLK_GUEST_KERNEL, QEMU, QSD, VBLK_PCI_MQ.
# Exit 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "test_guest_pci: $*" >&2; }
skip() { log "SKIP: $*"; exit 77; }
fail() { log "FAIL: $*"; exit 1; }

vblk=${VBLK:-} vblkd=${VBLKD:-}
qemu=${QEMU:-qemu-system-x86_64} qsd=${QSD:-qemu-storage-daemon}
seed=${VBLK_GUEST_SEED:-1}
timeout_s=${VBLK_GUEST_TIMEOUT:-420}
mq=${VBLK_PCI_MQ:-0}
basecache=${VBLK_GUEST_CACHE:-${TMPDIR:-/tmp}/vblk-guest-cache-$(id -u)}
cache=$basecache/pci

[ -x "$vblk" ] || skip "VBLK (the vblk binary) not set"
[ -x "$vblkd" ] || skip "VBLKD not set"
for t in "$qemu" "$qsd" busybox cpio gzip python3 ldd gcc mke2fs mkfs.ext4 e2fsck debugfs; do
    command -v "$t" >/dev/null || skip "$t not found"
done
kernel=${VBLK_GUEST_KERNEL:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)}
[ -r "$kernel" ] || skip "no readable kernel in /boot"
kver=${kernel##*/vmlinuz-}
moddir=/lib/modules/$kver
for m in uio uio_pci_generic; do
    [ -f "$moddir/kernel/drivers/uio/$m.ko" ] || [ -f "$moddir/kernel/drivers/uio/$m.ko.xz" ] ||
        skip "$m.ko not in $moddir"
done

# ------------------------------------------------------------ initramfs
# busybox, vblk and its shared libraries (libvblk from the build), uio
# modules, the patterns, and from the other guest tests' initramfs
# (mkinitramfs.sh) the virtio_pci, virtio_blk and ext4 modules with their
# load order. Rebuilt when any input changes.
VBLK_GUEST_KERNEL=$kernel "$here/mkinitramfs.sh" "$basecache" || fail "mkinitramfs.sh"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
key=$({ echo "$kernel $seed"; cat "$basecache/key"
        sha256sum "$here/pci-init.sh" "$here/test_guest_pci.sh" "$vblk" \
        $(ldd "$vblk" | awk '/=> \//{print $3}') "$(command -v busybox)"; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$cache/key" 2>/dev/null)" != "$key" ]; then
    log "building initramfs in $cache"
    root=$(mktemp -d "$cache/root.XXXXXX")
    mkdir -p "$root"/{bin,sbin,lib/modules,proc,sys,dev,tmp,pat}
    cp "$(command -v busybox)" "$root/bin/busybox"
    for a in $("$root/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"; done
    cp "$vblk" "$root/bin/vblk"
    for lib in $(ldd "$vblk" | awk '/=> \//{print $3} /^[[:space:]]*\//{print $1}'); do
        cp -L "$lib" "$root/lib/$(basename "$lib")"
    done
    ln -s lib "$root/lib64"
    for m in uio uio_pci_generic; do
        src=$(ls "$moddir/kernel/drivers/uio/$m.ko"* | head -1)
        case "$src" in
            *.xz) xz -dc "$src" > "$root/lib/modules/$m.ko" ;;
            *) cp "$src" "$root/lib/modules/$m.ko" ;;
        esac
    done
    gzip -dc "$basecache/initramfs.cpio.gz" |
        (cd "$root" && cpio --quiet -id 'lib/modules/*') || fail "modules from $basecache"
    [ -s "$root/lib/modules/load-order" ] || fail "no lib/modules/load-order in $basecache"
    python3 - "$root/pat" "$seed" <<'PY'
import random, sys
d, seed = sys.argv[1], int(sys.argv[2])
r = random.Random(seed)
open(d + "/p1", "wb").write(r.randbytes(4 << 20))
open(d + "/p2", "wb").write(r.randbytes(300000))
open(d + "/zero1m", "wb").write(bytes(1 << 20))
open(d + "/a5", "wb").write(b"\xa5" * (1 << 20))
PY
    cp "$here/pci-init.sh" "$root/init"
    chmod 755 "$root/init"
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
        gzip -1 > "$cache/initramfs.cpio.gz"
    cp -r "$root/pat" "$cache/" 2>/dev/null || { rm -rf "$cache/pat"; cp -r "$root/pat" "$cache/"; }
    rm -rf "$root"
    echo "$key" > "$cache/key"
fi
exec 9>&-

# ------------------------------------------------------------ disks, back ends
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-pci.XXXXXX")
pids=()
cleanup() {
    local rc=$? p
    trap - EXIT
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    [ "$rc" -eq 0 ] || { echo "---- console"; tr -d '\r' < "$tmp/console.log" 2>/dev/null | tail -60
                         echo "---- vblkd"; tail -20 "$tmp/vblkd.log" 2>/dev/null
                         echo "---- qsd"; tail -20 "$tmp/qsd.log" 2>/dev/null
                         echo "---- qemu"; cat "$tmp/qemu.log" 2>/dev/null; } >&2
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
# Multi-queue: two queues on each side; the run there needs less room.
if [ "$mq" = 1 ]; then nq=2 size=16M; else nq=1 size=64M; fi
for d in a b c; do truncate -s $size "$tmp/$d.img"; done
"$vblkd" --socket "$tmp/b.sock" --disk "$tmp/b.img,queues=$nq" > "$tmp/vblkd.log" 2>&1 &
pids+=($!)
"$qsd" --blockdev "driver=file,node-name=f0,filename=$tmp/c.img,discard=unmap" \
    --blockdev "driver=raw,node-name=d0,file=f0,discard=unmap" \
    --export "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=$tmp/c.sock,writable=on,num-queues=$nq" \
    > "$tmp/qsd.log" 2>&1 &
pids+=($!)
for s in b c; do
    for ((i = 0; i < 100; i++)); do [ -S "$tmp/$s.sock" ] && break; sleep 0.1; done
    [ -S "$tmp/$s.sock" ] || fail "back end for $s did not create its socket"
done

# ------------------------------------------------------------ guest
if [ "$mq" = 1 ]; then
    extra=()
    cmdline="vblk_pci=0000:00:04.0/mq/packed,0000:00:05.0/mq/packed,0000:00:06.0/mq"
else
    # The disk pci-bind must refuse while it is mounted: ext4 made here, with a file.
    mkdir "$tmp/fsroot"
    echo "made on the host" > "$tmp/fsroot/host.txt"
    mkfs.ext4 -q -F -d "$tmp/fsroot" "$tmp/d.img" 16M || fail "mkfs.ext4"
    extra=(-drive "file=$tmp/d.img,format=raw,if=none,id=dd,cache=writeback"
           -device virtio-blk-pci,drive=dd,addr=07.0 -device virtio-rng-pci,addr=08.0)
    cmdline="vblk_pci=0000:00:04.0/packed/intx,0000:00:05.0/packed/intx,0000:00:06.0/intx"
    cmdline+=" vblk_pci_mounted=0000:00:07.0 vblk_pci_notblk=0000:00:08.0"
fi
start=$SECONDS
timeout -k 10 "$timeout_s" "$qemu" -nodefaults -no-user-config -machine q35 -accel tcg -cpu max \
    -smp 2 -m 512M -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
    -kernel "$kernel" -initrd "$cache/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1 quiet $cmdline" \
    -drive "file=$tmp/a.img,format=raw,if=none,id=da,discard=unmap,cache=writeback" \
    -device virtio-blk-pci,drive=da,addr=04.0,packed=on,num-queues=$nq \
    -chardev "socket,id=cb,path=$tmp/b.sock" -device vhost-user-blk-pci,chardev=cb,addr=05.0,num-queues=$nq,packed=on \
    -chardev "socket,id=cc,path=$tmp/c.sock" -device vhost-user-blk-pci,chardev=cc,addr=06.0,num-queues=$nq \
    "${extra[@]}" \
    -display none -serial "file:$tmp/console.log" -monitor none -no-reboot \
    > "$tmp/qemu.log" 2>&1 && qrc=0 || qrc=$?
log "guest ran $((SECONDS - start)) s (qemu status $qrc)"
tr -d '\r' < "$tmp/console.log" | grep -a '^VBLK_BENCH\|^VBLK_INTX\|^VBLK_NOTE\|^VBLK_TIME' >&2 || true
result=$(tr -d '\r' < "$tmp/console.log" | grep -a '^VBLK_GUEST_RESULT=' | tail -1 || true)
[ "$result" = VBLK_GUEST_RESULT=PASS ] || fail "guest: ${result:-no result line}"

# ------------------------------------------------------------ host checks
python3 - "$cache/pat" "$tmp" "$mq" <<'PY' || fail "image contents"
import sys
pat, tmp, mq = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
p1 = open(pat + "/p1", "rb").read()
p2 = open(pat + "/p2", "rb").read()
M = 1 << 20
ok = True
for d in "abc":
    img = open(f"{tmp}/{d}.img", "rb").read()
    if mq:  # p1 copied to 0, nothing else written
        checks = [(0, p1, "p1 at 0"), (4 * M, bytes(12 * M), "untouched after p1")]
    else:
        checks = [(0, p1, "p1 at 0"), (8 * M + 1000, p2, "p2 at 8M+1000"),
              (16 * M, p1[:M], "p1 head at 16M"), (17 * M, bytes(M), "zeroes at 17M"),
              (18 * M, p1[2 * M:], "p1 tail at 18M"),
              (4 * M, bytes(4 * M + 1000), "untouched 4M..8M+1000"),
              (8 * M + 1000 + len(p2), bytes(16 * M - 8 * M - 1000 - len(p2)), "untouched before 16M")]
    for off, want, what in checks:
        if img[off:off + len(want)] != want:
            print(f"{d}.img: {what}: differs", file=sys.stderr)
            ok = False
sys.exit(0 if ok else 1)
PY
if [ "$mq" != 1 ]; then
    # The guest wrote through the kernel's ext4 before and after pci-bind's refusal.
    e2fsck -fn "$tmp/d.img" > "$tmp/fsck.log" 2>&1 || { cat "$tmp/fsck.log" >&2; fail "e2fsck d.img"; }
    [ "$(debugfs -R "cat /guest.txt" "$tmp/d.img" 2>/dev/null)" = "written in the guest" ] ||
        fail "d.img: guest.txt not as written in the guest"
fi
log "PASS: three devices driven over PCI in the guest (queues=$nq), images verified"
