#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk --version and vblkd --version print the project's version (meson's,
# passed in by the build) on one line to stdout, exit 0, and --help says so.
# Usage: test_cli_version.sh VERSION VBLK [VBLKD]
set -u
version=$1 vblk=$2 vblkd=${3:-}
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-version.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

"$vblk" --version >"$tmp/out" 2>"$tmp/err" || fail "vblk --version exited $?"
[ "$(cat "$tmp/out")" = "vblk $version (libvblk $version)" ] ||
	fail "vblk --version printed '$(cat "$tmp/out")', want 'vblk $version (libvblk $version)'"
[ -s "$tmp/err" ] && fail "vblk --version wrote to stderr: $(cat "$tmp/err")"
"$vblk" --help | grep -q -- "--version" || fail "vblk --help does not mention --version"

if [ -n "$vblkd" ]; then
	"$vblkd" --version >"$tmp/out" 2>"$tmp/err" || fail "vblkd --version exited $?"
	[ "$(cat "$tmp/out")" = "vblkd $version" ] ||
		fail "vblkd --version printed '$(cat "$tmp/out")', want 'vblkd $version'"
	[ -s "$tmp/err" ] && fail "vblkd --version wrote to stderr: $(cat "$tmp/err")"
	"$vblkd" --help | grep -q -- "--version" || fail "vblkd --help does not mention --version"
fi
exit 0
