#!/bin/bash
# SPDX-License-Identifier: MIT
# QEMU docs/interop/vhost-user.rst "Backend program conventions", as they
# apply to a vhost-user-blk back end.
#   conventions.sh MODE VBLKD VBLK DESCRIPTOR BINDIR
#   caps        --print-capabilities prints {"type": "block", "features":
#               ["blk-file", "read-only"]} and exits 0 whatever else is on the
#               command line (unknown options, missing values, no --socket),
#               and does nothing else (no socket, no image)
#   blk-file    --blk-file PATH serves PATH (commas are part of the path),
#               --read-only makes the device read-only, and --blk-file with
#               --disk is a usage error
#   descriptor  the installed vhost-user.json descriptor names the installed
#               vblkd and the type it reports
# Exit 0 pass, 1 fail.
set -u
mode=$1 vblkd=$2 vblk=$3 descriptor=$4 bindir=$5
. "$(dirname "$0")/daemon_lib.sh"

caps_json() {
	python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["type"], *sorted(d["features"]))'
}

case $mode in
caps)
	vblkd=$(readlink -f "$vblkd") # run from $tmp, to see what it creates
	want="block blk-file read-only"
	while read -r args; do
		# shellcheck disable=SC2086 # the arguments are words on purpose
		(cd "$tmp" && "$vblkd" $args) >"$tmp/out" 2>"$tmp/err"
		rc=$?
		[ $rc -eq 0 ] || fail "vblkd $args exited $rc: $(cat "$tmp/err")"
		[ -s "$tmp/err" ] && fail "vblkd $args wrote to stderr: $(cat "$tmp/err")"
		got=$(caps_json <"$tmp/out") || fail "vblkd $args printed no JSON: $(cat "$tmp/out")"
		[ "$got" = "$want" ] || fail "vblkd $args: capabilities '$got', want '$want'"
		left=$(ls -A "$tmp" | grep -vx -e out -e err)
		[ -z "$left" ] && continue
		fail "vblkd $args created $left"
	done <<-EOF
		--print-capabilities
		--print-capabilities --bogus nonsense
		--socket s --disk img,size=1M --print-capabilities
		--fd 99 --socket s --print-capabilities --disk nbd://x
		--disk --print-capabilities
		--socket-mode 9999 --print-capabilities --queues
		--print-capabilities --socket
		--print-cap
	EOF
	;;
blk-file)
	img="$tmp/disk,ro.img"
	truncate -s 1M "$img"
	start a "$tmp/a.sock" --blk-file "$img"
	serves "$tmp/a.sock"
	grep -q "read-only: *no" "$tmp/info.out" || fail "--blk-file '$img' is read-only: the comma was parsed"
	printf 'vblk-conventions' | "$vblk" write "$tmp/a.sock" 4096 || fail "write through --blk-file failed"
	"$vblk" flush "$tmp/a.sock" || fail "flush failed"
	stop "$pid"
	[ "$(dd if="$img" bs=1 skip=4096 count=16 2>/dev/null)" = vblk-conventions ] ||
		fail "the write did not reach $img"

	start b "$tmp/b.sock" --blk-file "$img" --read-only
	serves "$tmp/b.sock"
	grep -q "read-only: *yes" "$tmp/info.out" || fail "--read-only: device not read-only"
	printf 'x' | "$vblk" write "$tmp/b.sock" 0 2>/dev/null && fail "--read-only: a write succeeded"
	stop "$pid"
	# --read-only applies to --disk as well.
	start c "$tmp/c.sock" --disk memory:1M --read-only
	serves "$tmp/c.sock"
	grep -q "read-only: *yes" "$tmp/info.out" || fail "--disk with --read-only: device not read-only"
	stop "$pid"

	"$vblkd" --socket "$tmp/d.sock" --blk-file "$img" --disk null:1M 2>"$tmp/err"
	rc=$?
	[ $rc -eq 2 ] || fail "--blk-file with --disk exited $rc, want 2"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "--blk-file with --disk: not one line: $(cat "$tmp/err")"
	;;
descriptor)
	[ -f "$descriptor" ] || fail "no descriptor at $descriptor"
	"$vblkd" --print-capabilities >"$tmp/caps" || fail "--print-capabilities exited $?"
	python3 - "$descriptor" "$bindir/vblkd" "$tmp/caps" <<-'EOF' || fail "descriptor $descriptor is wrong"
		import json, sys
		d = json.load(open(sys.argv[1]))
		caps = json.load(open(sys.argv[3]))
		# QEMU docs/interop/vhost-user.json, VhostUserBackend.
		assert set(d) <= {"description", "type", "binary", "tags"}, d
		assert isinstance(d["description"], str) and d["description"], d
		assert d["type"] == caps["type"] == "block", (d, caps)
		assert d["binary"] == sys.argv[2], (d["binary"], sys.argv[2])
		# VHostUserBackendBlockFeature.
		assert set(caps["features"]) <= {"read-only", "blk-file"}, caps
	EOF
	;;
*)
	fail "unknown mode $mode"
	;;
esac
exit 0
