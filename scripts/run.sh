#!/usr/bin/env bash
# The main job (README "Quick start"): install build dependencies, build, and
# run vblkd serving a default 1 GiB sparse disk image on a unix socket.
#   VBLK_SOCKET  socket path        (default: /tmp/vblk.sock)
#   VBLK_IMAGE   disk image         (default: ./vblk-data/disk.img, created sparse)
#   VBLK_SIZE    size if created    (default: 1G)
# Extra arguments are appended to the --disk option, e.g. `scripts/run.sh writeback,queues=2`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh run
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
sock=${VBLK_SOCKET:-/tmp/vblk.sock}
img=${VBLK_IMAGE:-vblk-data/disk.img}
mkdir -p "$(dirname "$img")"
opts="size=${VBLK_SIZE:-1G}"
[ $# -gt 0 ] && opts="$opts,$1"
cat >&2 <<MSG
vblkd: serving $img on $sock (Ctrl-C to stop)
  inspect it:        build/vblk info $sock
  attach a VM:       qemu-system-x86_64 -m 512M \\
                       -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \\
                       -chardev socket,id=vblk0,path=$sock -device vhost-user-blk-pci,chardev=vblk0 ...
MSG
exec build/vblkd --socket "$sock" --disk "$img,$opts"
