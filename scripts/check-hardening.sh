#!/usr/bin/env bash
# Check that the built vblkd, vblk and libvblk.so carry the hardening Debian
# packages get (meson.build, option 'hardening'), from their ELF headers alone:
#   relro     a GNU_RELRO program header (the linker makes the GOT read-only)
#   bindnow   DT_FLAGS BIND_NOW or DT_FLAGS_1 NOW (all symbols resolved at
#             load, so with RELRO the whole GOT is read-only: "full RELRO")
#   pie       ELF type DYN (position independent; executables also carry
#             DT_FLAGS_1 PIE)
#   ssp       __stack_chk_fail imported (-fstack-protector-strong emitted a
#             canary check somewhere)
#   fortify   some __*_chk function imported (_FORTIFY_SOURCE replaced a libc
#             call whose buffer size the compiler knew); "n/a" when the file
#             imports none of the functions glibc fortifies, as Debian's
#             hardening-check does
#   cet       information only: IBT/SHSTK marking. Debian 12's crt1.o/crti.o
#             are not CET-marked, so the linked file never is even though
#             every object of ours is built with -fcf-protection
#
#   scripts/check-hardening.sh [--no-fortify] BUILDDIR
#   scripts/check-hardening.sh [--no-fortify] FILE...
#
# BUILDDIR: checks BUILDDIR/tools/vblkd, BUILDDIR/tools/vblk and
# BUILDDIR/lib/client/libvblk.so. --no-fortify: the build had no
# _FORTIFY_SOURCE (sanitizer or -O0 builds), skip that check.
# Prints one line per check and file; exits 1 if any check failed, 2 on
# usage errors or a missing file.
set -uo pipefail
export LC_ALL=C

fortify=1
if [ "${1:-}" = --no-fortify ]; then
	fortify=0
	shift
fi
if [ $# -eq 0 ]; then
	echo "usage: $0 [--no-fortify] BUILDDIR | FILE..." >&2
	exit 2
fi
if ! command -v readelf >/dev/null; then
	echo "check-hardening: readelf not found (Debian package binutils)" >&2
	exit 2
fi
if [ $# -eq 1 ] && [ -d "$1" ]; then
	set -- "$1"/tools/vblkd "$1"/tools/vblk "$1"/lib/client/libvblk.so
fi

# Functions glibc has a __*_chk variant of (the common ones; a file importing
# any of them with no __*_chk at all was most likely built without FORTIFY).
fortifiable='^(memcpy|mempcpy|memmove|memset|stpcpy|stpncpy|strcpy|strncpy|strcat|strncat|sprintf|snprintf|vsprintf|vsnprintf|printf|vprintf|fprintf|vfprintf|dprintf|vdprintf|asprintf|vasprintf|syslog|vsyslog|read|pread|pread64|recv|recvfrom|readlink|readlinkat|getcwd|realpath|fgets|fread|poll|ppoll|wcscpy|wmemcpy|explicit_bzero|longjmp)$'

failed=0
report() { # FILE CHECK ok|FAIL|n/a|info DETAIL
	printf '%s: %-8s %-4s %s\n' "$1" "$2" "$3" "$4"
	[ "$3" = FAIL ] && failed=1
	return 0
}

for f in "$@"; do
	name=${f#./}
	if [ ! -f "$f" ]; then
		echo "check-hardening: $f: no such file (build first)" >&2
		exit 2
	fi
	hdr=$(readelf -hW "$f") || exit 2
	phdrs=$(readelf -lW "$f")
	dyn=$(readelf -dW "$f")
	# Imported symbols: undefined in .dynsym, version suffix dropped.
	imports=$(readelf --dyn-syms -W "$f" | awk '$7 == "UND" && $8 != "" { sub(/@.*/, "", $8); print $8 }')

	if grep -q 'GNU_RELRO' <<<"$phdrs"; then
		report "$name" relro ok "GNU_RELRO program header"
	else
		report "$name" relro FAIL "no GNU_RELRO program header (link with -Wl,-z,relro)"
	fi

	if grep -Eq '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*[[:space:]]NOW' <<<"$dyn"; then
		report "$name" bindnow ok "$(grep -E '\(FLAGS(_1)?\)' <<<"$dyn" | sed 's/.*) *//' | paste -sd ' ')"
	else
		report "$name" bindnow FAIL "neither FLAGS BIND_NOW nor FLAGS_1 NOW (link with -Wl,-z,now)"
	fi

	type=$(sed -n 's/^ *Type: *//p' <<<"$hdr")
	if [[ $type != DYN* ]]; then
		report "$name" pie FAIL "ELF type $type (build with b_pie=true / -fPIE -pie)"
	elif [[ $name != *.so* ]] && ! grep -Eq '\(FLAGS_1\).*PIE' <<<"$dyn"; then
		report "$name" pie FAIL "type DYN but an executable without FLAGS_1 PIE"
	else
		report "$name" pie ok "$type"
	fi

	if grep -qx '__stack_chk_fail' <<<"$imports"; then
		report "$name" ssp ok "__stack_chk_fail imported"
	else
		report "$name" ssp FAIL "__stack_chk_fail not imported (build with -fstack-protector-strong)"
	fi

	chk=$(grep -E '^__.*_chk$' <<<"$imports" | grep -vx '__stack_chk_fail' | paste -sd ' ')
	plain=$(grep -E "$fortifiable" <<<"$imports" | paste -sd ' ')
	if [ $fortify -eq 0 ]; then
		report "$name" fortify n/a "not expected in this build (--no-fortify)"
	elif [ -n "$chk" ]; then
		report "$name" fortify ok "$chk"
	elif [ -z "$plain" ]; then
		report "$name" fortify n/a "imports no fortifiable libc function"
	else
		report "$name" fortify FAIL "no __*_chk import, only unprotected $plain (build with -O1+ -D_FORTIFY_SOURCE=2)"
	fi

	cet=$(readelf -nW "$f" | sed -n 's/.*x86 feature: *//p' | paste -sd ' ')
	report "$name" cet info "${cet:-not marked (Debian 12 crt files carry no CET note)}"
done
exit $failed
