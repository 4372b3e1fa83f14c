#!/usr/bin/env bash
# mkinitramfs.sh OUTDIR - build the initramfs for the vblk QEMU guest tests.
#
# Produces in OUTDIR:
#   initramfs.cpio.gz  busybox userland (cpio newc, gzip) containing
#                        /init                   tests/guest/guest-init.sh
#                        /workloads/*.sh         tests/guest/workloads/*.sh
#                        /bin/guest_io           tests/guest/guest_io.c, gcc -static -O2
#                        /sbin/mke2fs, e2fsck    host e2fsprogs + their shared libs
#                        /lib/modules/*.ko       virtio_pci, virtio_blk, ext4 and their
#                                                dependencies (decompressed), plus
#                                                /lib/modules/load-order (insmod order)
#   guest_io.host      the same helper built for the host (image verification)
#   kernel.path        path of the kernel image matching the modules
#   key                hash of all inputs; if unchanged the build is skipped
#
# Kernel: $VBLK_GUEST_KERNEL (a /boot/vmlinuz-VERSION path) or the newest
# /boot/vmlinuz-* that has /lib/modules/VERSION/modules.dep. The running
# kernel (uname -r) is irrelevant: the guest boots the installed Debian kernel.
#
# Concurrent invocations on the same OUTDIR are serialised with flock.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "mkinitramfs: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Kernel modules needed in the guest (dependencies are added from modules.dep).
# crc32c_generic: ext4/jbd2 metadata checksums use the crypto API, which would
# otherwise try to request_module() a crc32c implementation (no modprobe here).
ROOT_MODULES="virtio_pci virtio_blk crc32c_generic ext4"

# ---------------------------------------------------------------- kernel
pick_kernel() {
    if [ -n "${VBLK_GUEST_KERNEL:-}" ]; then
        echo "$VBLK_GUEST_KERNEL"
        return
    fi
    local k ver best=""
    for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V); do
        ver=${k#/boot/vmlinuz-}
        [ -r "$k" ] && [ -f "/lib/modules/$ver/modules.dep" ] && best=$k
    done
    [ -n "$best" ] || die "no /boot/vmlinuz-* with matching /lib/modules/*/modules.dep"
    echo "$best"
}
kernel=$(pick_kernel)
[ -r "$kernel" ] || die "kernel $kernel not readable"
kver=${kernel##*/vmlinuz-}
moddir=/lib/modules/$kver
[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep missing (kernel $kernel)"

for t in busybox gcc cpio gzip mke2fs e2fsck ldd sha256sum; do
    command -v "$t" >/dev/null || die "missing host tool: $t"
done
busybox=$(command -v busybox)
mke2fs_bin=$(command -v mke2fs)
e2fsck_bin=$(command -v e2fsck)

# ---------------------------------------------------------------- cache key
inputs_key() {
    {
        echo "kernel=$kernel kver=$kver modules=$ROOT_MODULES"
        stat -c '%n %s %Y' "$kernel" "$moddir/modules.dep"
        sha256sum "$here/mkinitramfs.sh" "$here/guest_io.c" "$here/guest-init.sh" \
            "$here"/workloads/*.sh "$busybox" "$mke2fs_bin" "$e2fsck_bin"
        [ -f /etc/mke2fs.conf ] && sha256sum /etc/mke2fs.conf
        gcc --version | head -1
    } | sha256sum | cut -d' ' -f1
}

exec 9>"$out/.lock"
flock 9
key=$(inputs_key)
if [ -f "$out/key" ] && [ "$(cat "$out/key")" = "$key" ] &&
   [ -f "$out/initramfs.cpio.gz" ] && [ -x "$out/guest_io.host" ] && [ -f "$out/kernel.path" ]; then
    exit 0
fi

echo "mkinitramfs: building initramfs for kernel $kver in $out" >&2
work=$(mktemp -d "$out/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,mnt,lib/modules,workloads}

# ---------------------------------------------------------------- busybox
cp "$busybox" "$root/bin/busybox"
for a in $("$busybox" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done

# ---------------------------------------------------------------- guest_io
gcc -static -O2 -Wall -Wextra -o "$root/bin/guest_io" "$here/guest_io.c"
gcc -O2 -Wall -Wextra -o "$work/guest_io.host" "$here/guest_io.c"

# ---------------------------------------------------------------- e2fsprogs
# busybox mke2fs only makes ext2: ship the host's mke2fs/e2fsck and their libs.
copy_with_libs() {
    local bin=$1 dest=$2 lib
    cp -L "$bin" "$root$dest"
    for lib in $(ldd "$bin" | awk '/=> \//{print $3} /^[[:space:]]*\//{print $1}'); do
        mkdir -p "$root$(dirname "$lib")"
        [ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
    done
}
copy_with_libs "$mke2fs_bin" /sbin/mke2fs
copy_with_libs "$e2fsck_bin" /sbin/e2fsck
ln -sf mke2fs "$root/sbin/mkfs.ext4"
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/mke2fs.conf"
# the dynamic loader also looks in /lib64 and /usr/lib; make both exist
[ -e "$root/lib64" ] || ln -s lib "$root/lib64"

# ---------------------------------------------------------------- modules
declare -A dep_of=() path_of=() loaded=()
norm() { local n=${1##*/}; n=${n%%.ko*}; echo "${n//-/_}"; }
while IFS= read -r line; do
    m=${line%%:*}
    n=$(norm "$m")
    path_of[$n]=$m
    dep_of[$n]=${line#*:}
done < "$moddir/modules.dep"

order=()
resolve() {   # depth-first: dependencies before the module itself
    local n=$1 d
    [ -n "${loaded[$n]:-}" ] && return
    [ -n "${path_of[$n]:-}" ] || die "module $n not found in $moddir/modules.dep (built in?)"
    loaded[$n]="visiting"
    for d in ${dep_of[$n]}; do
        d=$(norm "$d")
        [ "${loaded[$d]:-}" = visiting ] && die "module dependency cycle at $d"
        resolve "$d"
    done
    loaded[$n]="done"
    order+=("$n")
}
for m in $ROOT_MODULES; do
    if [ -z "${path_of[$(norm "$m")]:-}" ] && grep -qE "/$m\.ko" "$moddir/modules.builtin" 2>/dev/null; then
        continue   # built into this kernel
    fi
    resolve "$(norm "$m")"
done

: > "$root/lib/modules/load-order"
for n in "${order[@]}"; do
    src=$moddir/${path_of[$n]}
    dst=$root/lib/modules/$n.ko
    case "$src" in
        *.ko)     cp "$src" "$dst" ;;
        *.ko.xz)  xz -dc "$src" > "$dst" ;;
        *.ko.zst) zstd -qdc "$src" > "$dst" ;;
        *.ko.gz)  gzip -dc "$src" > "$dst" ;;
        *) die "unknown module format: $src" ;;
    esac
    echo "$n.ko" >> "$root/lib/modules/load-order"
done

# ---------------------------------------------------------------- init + workloads
cp "$here/guest-init.sh" "$root/init"
chmod 755 "$root/init"
cp "$here"/workloads/*.sh "$root/workloads/"
chmod 755 "$root"/workloads/*.sh
# a console node lets the kernel hand /init a console before devtmpfs is mounted
if [ "$(id -u)" = 0 ]; then
    mknod -m 600 "$root/dev/console" c 5 1
    mknod -m 666 "$root/dev/null" c 1 3
fi

# ---------------------------------------------------------------- archive
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
    gzip -6 > "$work/initramfs.cpio.gz"

mv -f "$work/initramfs.cpio.gz" "$out/initramfs.cpio.gz"
mv -f "$work/guest_io.host" "$out/guest_io.host"
echo "$kernel" > "$out/kernel.path"
echo "$key" > "$out/key"
echo "mkinitramfs: modules: ${order[*]}" >&2
echo "mkinitramfs: $(du -h "$out/initramfs.cpio.gz" | cut -f1) $out/initramfs.cpio.gz" >&2
