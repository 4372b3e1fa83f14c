#!/bin/sh
# SPDX-License-Identifier: MIT
# Build libvblk.a so that it exports what libvblk.so exports and nothing
# else. A plain archive cannot: its members (libvblk's own objects and the
# vhost-user, virtqueue and internal helpers it bundles) call each other, so
# their helpers must stay global symbols, visible to - and clashing with -
# the program that links it. Instead: one relocatable object from every
# member (ld -r), then every global symbol not named in the version script
# (and every hidden one) made local, then an archive of that one object.
# Usage: bundle_static.sh LD OBJCOPY AR MAP IN.a OUT.a
set -eu
ld=$1 objcopy=$2 ar=$3 map=$4 in=$5 out=$6
tmp=$(mktemp -d "${TMPDIR:-/tmp}/libvblk-a.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# The exported names: the "name;" lines of the map (all in its global: part).
sed -n 's/^[[:space:]]*\(vblk_[A-Za-z0-9_]*\);[[:space:]]*$/\1/p' "$map" >"$tmp/keep"
[ -s "$tmp/keep" ] || { echo "bundle_static.sh: no vblk_ names in $map" >&2; exit 1; }
"$ld" -r -o "$tmp/libvblk.o" --whole-archive "$in" --no-whole-archive
"$objcopy" --localize-hidden --keep-global-symbols="$tmp/keep" "$tmp/libvblk.o"
rm -f "$out"
"$ar" crsD "$out" "$tmp/libvblk.o"
