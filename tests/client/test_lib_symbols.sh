#!/bin/sh
# SPDX-License-Identifier: MIT
# libvblk exports its public API and nothing else: the globally defined
# symbols of libvblk.a and the dynamic symbols of libvblk.so are exactly the
# names in libvblk.map, all vblk_*. The internal layers it bundles
# (vhost-user client, virtqueue driver, helpers) must neither clash with the
# program that links libvblk.a nor be reachable through libvblk.so.
# Usage: test_lib_symbols.sh NM libvblk.map libvblk.a libvblk.so
set -u
nm=$1 map=$2 a=$3 so=$4
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-syms.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

sed -n 's/^[[:space:]]*\(vblk_[A-Za-z0-9_]*\);[[:space:]]*$/\1/p' "$map" | sort >"$tmp/want"
[ "$(wc -l <"$tmp/want")" -ge 20 ] || fail "$map lists too few names"

# The issue's check, literally: nm prints each archive member's name
# ("libvblk.o:") and a blank line before it; those are not symbols.
"$nm" -g --defined-only "$a" >"$tmp/a.nm" || fail "nm $a"
bad=$(grep -v ' vblk_' "$tmp/a.nm" | grep -v -e '^$' -e ':$')
[ -z "$bad" ] || fail "libvblk.a defines global non-vblk_ symbols:
$bad"
awk 'NF == 3 {print $3}' "$tmp/a.nm" | sort >"$tmp/a.got"
diff "$tmp/want" "$tmp/a.got" >"$tmp/a.diff" ||
	fail "libvblk.a globals differ from libvblk.map (< map only, > archive only):
$(cat "$tmp/a.diff")"

# In the shared object the version node (type A, VBLK_0.1) is no symbol.
"$nm" -D --defined-only "$so" >"$tmp/so.nm" || fail "nm -D $so"
bad=$(awk '$2 != "A"' "$tmp/so.nm" | grep -v ' vblk_')
[ -z "$bad" ] || fail "libvblk.so exports non-vblk_ symbols:
$bad"
awk '$2 != "A" {sub(/@.*/, "", $3); print $3}' "$tmp/so.nm" | sort >"$tmp/so.got"
diff "$tmp/want" "$tmp/so.got" >"$tmp/so.diff" ||
	fail "libvblk.so exports differ from libvblk.map (< map only, > library only):
$(cat "$tmp/so.diff")"
echo "libvblk.a and libvblk.so export the $(wc -l <"$tmp/want") names of libvblk.map only"
exit 0
