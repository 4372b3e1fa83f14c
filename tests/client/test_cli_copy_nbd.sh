#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk copy with an NBD side (issue 6): file -> nbdkit export -> vhost-user
# device -> file, a read-only export refused as a destination, and zero
# runs sent as NBD write-zeroes.
VBLK=$1
. "$(dirname "$0")/backend.sh"
command -v nbdkit >/dev/null || { echo "SKIP: nbdkit not installed"; exit 77; }
"$VBLK" --help 2>&1 | grep -q "NBD URI" || { echo "SKIP: vblk built without libnbd"; exit 77; }
start_backend 8M 1
# track, not a trap of our own: that would replace backend.sh's, which
# stops the vhost-user back end too.
nbdkit -f -U "$TMP/nbd.sock" memory 8M &
track $!
nbdkit -f -r -U "$TMP/nbd-ro.sock" memory 8M &
track $!
for _ in $(seq 100); do [ -S "$TMP/nbd.sock" ] && [ -S "$TMP/nbd-ro.sock" ] && break; sleep 0.05; done
head -c 8388608 /dev/urandom >"$TMP/src" || exit 1
NBD="nbd+unix:///?socket=$TMP/nbd.sock"
"$VBLK" copy "$TMP/src" "$NBD" || fail "copy file -> nbd"
"$VBLK" copy "$NBD" "vhost-user:$SOCK" || fail "copy nbd -> device"
cmp "$TMP/src" "$IMG" || fail "image differs after nbd -> device"
"$VBLK" copy "$NBD" "$TMP/dst" || fail "copy nbd -> file"
cmp "$TMP/src" "$TMP/dst" || fail "file copied from nbd differs"
"$VBLK" copy "$TMP/src" "nbd+unix:///?socket=$TMP/nbd-ro.sock" 2>"$TMP/err" && fail "read-only export accepted"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "expected one error line: $(cat "$TMP/err")"

# Zero runs to an export that can zero: NBD_CMD_WRITE_ZEROES, not writes (issue 16).
command -v python3 >/dev/null || exit 0
truncate -s 4M "$TMP/src" && truncate -s 8M "$TMP/src" || exit 1
"$VBLK" copy "$TMP/src" "$NBD" --json >"$TMP/json" 2>"$TMP/err" || fail "copy: $(cat "$TMP/err")"
python3 "$(dirname "$0")/check_json.py" "$TMP/json" zero_method=nbd-zero zero_bytes=4194304 \
	data_bytes=4194304 || fail "summary: $(cat "$TMP/json")"
"$VBLK" copy "$NBD" "$TMP/dst2" || fail "copy nbd -> file"
cmp "$TMP/src" "$TMP/dst2" || fail "zeroed export differs"
exit 0
