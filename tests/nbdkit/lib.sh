# SPDX-License-Identifier: MIT
# Sourced by the nbdkit plugin tests: a vhost-user-blk back end on a
# temporary image (tests/client/backend.sh: VBLK_BACKEND=qsd|vblkd, cleanup
# of every process on exit), and nbdkit serving it through the plugin on a
# unix socket in the test's private directory.
#   PLUGIN=path/to/nbdkit-vblk-plugin.so (first argument of every test)
# start_nbdkit [NBDKIT OPTIONS...] [-- PLUGIN PARAMETERS...]
#   -> NBD (the NBD URI), NBDSOCK, NBDKIT_LOG (nbdkit -v output)
PLUGIN=$1
. "$(dirname "$0")/../client/backend.sh"
for tool in nbdkit $NBDKIT_TEST_TOOLS; do
	command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done
[ -f "$PLUGIN" ] || { echo "SKIP: plugin not built"; exit 77; }

start_nbdkit() {
	NBDSOCK=$TMP/nbd.sock
	NBD="nbd+unix:///?socket=$NBDSOCK"
	NBDKIT_LOG=$TMP/nbdkit.log
	rm -f "$NBDSOCK"
	opts=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts="$opts $1"
		shift
	done
	[ "${1:-}" = -- ] && shift
	# -f: stay in the foreground, so the tracked pid is nbdkit's own.
	# shellcheck disable=SC2086 # opts are separate words on purpose
	nbdkit -f -v -U "$NBDSOCK" $opts "$PLUGIN" socket="$SOCK" "$@" >"$NBDKIT_LOG" 2>&1 &
	track $!
	NBDKIT_PID=$!
	# nbdkit binds its socket before .after_fork opens the device: wait
	# for the plugin's line saying the device is open.
	for _ in $(seq 200); do
		grep -q 'debug: vblk: .* queue(s) of' "$NBDKIT_LOG" && [ -S "$NBDSOCK" ] && return 0
		alive "$NBDKIT_PID" || break
		sleep 0.05
	done
	echo "nbdkit did not start:"; cat "$NBDKIT_LOG"
	exit 1
}

# As backend.sh's fail, with nbdkit's log too.
nbd_fail() {
	echo "FAIL: $*"
	[ -f "${NBDKIT_LOG:-}" ] && { echo "--- nbdkit log (last 40 lines):"; tail -n 40 "$NBDKIT_LOG"; }
	[ -f "$TMP/backend.log" ] && { echo "--- back end log:"; cat "$TMP/backend.log"; }
	exit 1
}

# nbdinfo_check KEY=VALUE...: nbdinfo --json on $NBD; the first export's
# fields must have these values, written as Python literals.
nbdinfo_check() {
	nbdinfo --json "$NBD" >"$TMP/info.json" || nbd_fail "nbdinfo"
	python3 - "$TMP/info.json" "$@" <<'PY' || nbd_fail "nbdinfo fields (json: $(cat "$TMP/info.json"))"
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
bad = [kv for kv in sys.argv[2:] if repr(e.get(kv.split("=")[0])) != kv.split("=", 1)[1]]
for kv in bad:
    print("expected %s, got %r" % (kv, e.get(kv.split("=")[0])))
sys.exit(1 if bad else 0)
PY
}

# qemu_img_roundtrip BYTES: random data into the device through the plugin
# with qemu-img convert, compared with the image behind the back end, then
# read back out through the plugin and compared again.
qemu_img_roundtrip() {
	head -c "$1" /dev/urandom >"$TMP/src" || exit 1
	qemu-img convert -n -f raw -O raw "$TMP/src" "$NBD" || nbd_fail "qemu-img convert file -> nbd"
	cmp "$TMP/src" "$IMG" || nbd_fail "image behind the back end differs from the source"
	qemu-img convert -f raw -O raw "$NBD" "$TMP/back" || nbd_fail "qemu-img convert nbd -> file"
	cmp "$TMP/src" "$TMP/back" || nbd_fail "copy read back through the plugin differs"
}
