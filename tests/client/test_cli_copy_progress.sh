#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk copy's progress on stderr: nothing by default when stderr is no
# terminal, lines with rate and elapsed time (no carriage returns) with
# --progress, a bar redrawn in place on a terminal (via script(1)), nothing
# with --no-progress. And a unix socket given without "vhost-user:" is
# refused with a line naming the fix.
VBLK=$1
. "$(dirname "$0")/backend.sh"
start_backend 16M 1
head -c 16777216 /dev/urandom >"$TMP/src" || exit 1

"$VBLK" copy "$TMP/src" "vhost-user:$SOCK" 2>"$TMP/err" || fail "copy: $(cat "$TMP/err")"
[ -s "$TMP/err" ] && fail "progress without --progress: $(cat "$TMP/err")"
"$VBLK" copy --progress "$TMP/src" "vhost-user:$SOCK" 2>"$TMP/err" || fail "copy --progress"
grep -q "$(printf '\r')" "$TMP/err" && fail "carriage return while stderr is a file"
tail -n 1 "$TMP/err" | grep -Eq '^vblk copy: 100% 16\.0 MiB / 16\.0 MiB, [0-9.]+ [KMG]?i?B/s, in [0-9.]+ s$' ||
	fail "last progress line: $(cat "$TMP/err")"
grep -Ev '^vblk copy: +[0-9]+% [0-9.]+ [KMGT]?i?B / 16\.0 MiB, [0-9.]+ [KMGT]?i?B/s, (ETA [0-9]+:[0-9]{2}:[0-9]{2}|ETA --:--:--|in [0-9.]+ s)$' \
	"$TMP/err" && fail "malformed progress line"
"$VBLK" copy --progress --no-progress "$TMP/src" "vhost-user:$SOCK" 2>"$TMP/err" ||
	fail "copy --no-progress"
[ -s "$TMP/err" ] && fail "--no-progress printed: $(cat "$TMP/err")"
cmp "$TMP/src" "$IMG" || fail "device differs"

# On a terminal: a bar, redrawn with carriage returns, ending in a newline.
if command -v script >/dev/null 2>&1; then
	script -qec "'$VBLK' copy '$TMP/src' 'vhost-user:$SOCK'" /dev/null >"$TMP/tty" </dev/null ||
		fail "copy on a terminal: $(cat "$TMP/tty")"
	grep -q "$(printf '\r')\[==============================\] 100% 16.0 MiB / 16.0 MiB" "$TMP/tty" ||
		fail "no bar on a terminal: $(od -c "$TMP/tty" | head)"
fi

# A socket without the prefix, as source and as destination: the fix is named.
for args in "$SOCK $TMP/out" "$TMP/src $SOCK"; do
	# shellcheck disable=SC2086
	"$VBLK" copy $args 2>"$TMP/err" && fail "copy $args accepted"
	grep -q "is a unix socket: write vhost-user:$SOCK to copy" "$TMP/err" ||
		fail "hint: $(cat "$TMP/err")"
	[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "not one line: $(cat "$TMP/err")"
done
[ -e "$TMP/out" ] && fail "a destination file was created"
exit 0
