#!/bin/bash
# SPDX-License-Identifier: MIT
# `meson install` puts what users look for where they look for it: the man
# pages, the licence, the systemd units and QEMU's vhost-user descriptor, and
# the paths those files name are the installed vblkd.
#   install.sh MESON BUILD_ROOT PREFIX
# Exit 0 pass, 1 fail.
set -u
meson=$1 build=$2 prefix=$3
tmp=$(mktemp -d /tmp/vblk-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$meson" install -C "$build" --no-rebuild --quiet --destdir "$tmp" >"$tmp.log" 2>&1 ||
	fail "meson install failed: $(cat "$tmp.log")"
rm -f "$tmp.log"
root=$tmp$prefix
for f in bin/vblkd bin/vblk share/man/man1/vblkd.1 share/man/man1/vblk.1 \
	share/man/man3/libvblk.3 share/doc/vblk/LICENSE share/qemu/vhost-user/50-vblkd.json; do
	[ -f "$root/$f" ] || fail "not installed: $prefix/$f"
done
units=$(find "$tmp" -name 'vblkd@.service' -o -name 'vblkd@.socket' | sort)
[ "$(echo "$units" | wc -w)" -eq 2 ] || fail "want vblkd@.service and vblkd@.socket, installed: $units"
service=$(echo "$units" | grep service)
exe=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$service")
[ "$exe" = "$prefix/bin/vblkd" ] || fail "vblkd@.service runs $exe, not $prefix/bin/vblkd"
[ -x "$tmp$exe" ] || fail "vblkd@.service runs $exe, which is not installed"
bin=$(sed -n 's/.*"binary": *"\([^"]*\)".*/\1/p' "$root/share/qemu/vhost-user/50-vblkd.json")
[ -x "$tmp$bin" ] || fail "50-vblkd.json names $bin, which is not installed"
sed 's/\\-/-/g' "$root/share/man/man1/vblkd.1" | grep -qF "$prefix/share/qemu/vhost-user/50-vblkd.json" ||
	fail "vblkd.1 does not name the installed descriptor"
exit 0
