#!/bin/bash
# SPDX-License-Identifier: MIT
# The licence is stated once and the same everywhere: LICENSE holds the MIT
# text for "the vblk authors", meson.build declares 'MIT', and every SPDX tag
# in the tracked sources names MIT.
#   license.sh SOURCE_ROOT
# Exit 0 pass, 1 fail, 77 skip (not a git checkout).
set -u
src=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

lic=$src/LICENSE
[ -f "$lic" ] || fail "no LICENSE at the top of the tree"
head -n 1 "$lic" | grep -qx 'MIT License' || fail "LICENSE does not start with 'MIT License'"
grep -qx 'Copyright (c) the vblk authors' "$lic" || fail "LICENSE: no 'Copyright (c) the vblk authors' line"
# The three clauses that make it the MIT licence (and not, say, MIT-0 or X11).
for phrase in 'Permission is hereby granted, free of charge' \
	'The above copyright notice and this permission notice shall be included in all' \
	'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND'; do
	grep -qF "$phrase" "$lic" || fail "LICENSE lacks the MIT clause '$phrase'"
done
grep -qE "^[[:space:]]*license[[:space:]]*:[[:space:]]*'MIT'" "$src/meson.build" ||
	fail "meson.build does not declare license : 'MIT'"

command -v git >/dev/null && git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || {
	echo "SKIP: not a git checkout, cannot list the tracked sources"
	exit 77
}
other=$(git -C "$src" grep -I -h -o 'SPDX-License-Identifier: *[^ */]*' -- . ':!LICENSE' |
	sed 's/.*: *//' | sort -u | grep -vx MIT)
[ -z "$other" ] || fail "SPDX tags other than MIT: $other"
n=$(git -C "$src" grep -I -l 'SPDX-License-Identifier: *MIT' | wc -l)
[ "$n" -gt 0 ] || fail "no SPDX tag found at all (is the pattern wrong?)"
exit 0
