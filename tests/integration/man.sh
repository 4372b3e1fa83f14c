#!/bin/bash
# SPDX-License-Identifier: MIT
# The man pages render without a single groff warning, and say what the
# programs do: every option of `vblkd --help`, every command of `vblk --help`
# and every function <vblk/vblk.h> exports is in its page.
#   man.sh MANDIR VBLKD VBLK VBLK_H
# Exit 0 pass, 1 fail, 77 skip (no groff: Debian's groff-base).
set -u
mandir=$1 vblkd=$2 vblk=$3 header=$4
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v groff >/dev/null || { echo "SKIP: no groff (install groff-base)"; exit 77; }
tmp=$(mktemp -d /tmp/vblk-man.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

for page in vblkd.1 vblk.1 libvblk.3; do
	src=$mandir/$page
	[ -f "$src" ] || fail "no $src"
	# -ww: every warning; -z: no output, the warnings are the result.
	groff -man -Tutf8 -ww -z "$src" 2>"$tmp/warn" || fail "$page: groff exited $?"
	[ -s "$tmp/warn" ] && fail "$page: groff warnings: $(cat "$tmp/warn")"
	grep -q '@[A-Z]*@' "$src" && fail "$page: an unsubstituted @VARIABLE@: $(grep -o '@[A-Z]*@' "$src" | head -n 1)"
	# Plain ASCII, no overstriking, so that grep sees "--disk" as written.
	groff -man -Tascii -P-cbou "$src" >"$tmp/$page.txt" 2>/dev/null
	for sec in NAME SYNOPSIS DESCRIPTION 'SEE ALSO'; do
		grep -q "^$sec" "$tmp/$page.txt" || fail "$page has no $sec section"
	done
	if command -v man >/dev/null && man -l -Tutf8 "$src" >/dev/null 2>"$tmp/warn"; then
		[ -s "$tmp/warn" ] && fail "$page: man -l warns: $(cat "$tmp/warn")"
	fi
done

# vblkd: each long option, and each --disk option (",name" / ",name=").
"$vblkd" --help >"$tmp/vblkd.help" || fail "vblkd --help exited $?"
opts=$(grep -o -- '--[a-z][a-z-]*' "$tmp/vblkd.help" | sort -u)
[ -n "$opts" ] || fail "found no option in vblkd --help"
for o in $opts; do
	grep -qF -- "$o" "$tmp/vblkd.1.txt" || fail "vblkd.1 does not document $o"
done
dopts=$(grep -o '\[,[a-z-]*' "$tmp/vblkd.help" | sed 's/^\[,//' | sort -u)
[ "$(echo "$dopts" | wc -w)" -ge 5 ] || fail "found too few --disk options in vblkd --help: $dopts"
for o in $dopts; do
	grep -qE "^ +$o(=|\$| )" "$tmp/vblkd.1.txt" || fail "vblkd.1 has no entry for the disk option $o"
done

# vblk: each command, and the options every command takes.
"$vblk" --help >"$tmp/vblk.help" 2>&1
cmds=$(sed -n 's/^  vblk \([a-z]*\) .*/\1/p' "$tmp/vblk.help" | sort -u)
[ "$(echo "$cmds" | wc -w)" -ge 5 ] || fail "found too few commands in vblk --help: $cmds"
for c in $cmds; do
	grep -qE "^ +$c( |\$)" "$tmp/vblk.1.txt" || fail "vblk.1 has no entry for the command $c"
done
for o in $(grep -o -- '--[a-z][a-z-]*' "$tmp/vblk.help" | sort -u); do
	grep -qF -- "$o" "$tmp/vblk.1.txt" || fail "vblk.1 does not document $o"
done

# libvblk: each exported function, in the synopsis and with its prototype.
funcs=$(sed -n 's/^VBLK_API .*[ *]\(vblk_[a-z_]*\)(.*/\1/p' "$header" | sort -u)
[ "$(echo "$funcs" | wc -w)" -ge 20 ] || fail "found too few VBLK_API functions in $header: $funcs"
sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' "$tmp/libvblk.3.txt" >"$tmp/synopsis"
for f in $funcs; do
	grep -qE "^ +[a-z].*[ *]$f\(" "$tmp/synopsis" || fail "libvblk.3's synopsis does not declare $f()"
done
exit 0
