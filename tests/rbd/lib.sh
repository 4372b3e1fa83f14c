# SPDX-License-Identifier: MIT
# Sourced by the RBD tests: a private Ceph cluster (scripts/ceph-cluster.sh)
# and vblkd serving an image of it, all in a temporary directory, stopped on
# exit however the test ends.
#   Arguments of every test: VBLKD VBLK CEPH_CLUSTER_SH [more...]
#   start_cluster              -> CEPH_CONF exported, pool 'rbd' ready
#   make_image NAME SIZE       a zeroed image (layering only: a killed client
#                              leaves no exclusive lock behind)
#   start_vblkd SOCK DISK      vblkd --disk DISK on SOCK; VBLKD_PID, log in SOCK.log
# Exit 77 (skip) when Ceph's daemons are not installed or vblkd was built
# without librbd.
VBLKD=$1
VBLK=$2
CLUSTER=$3
shift 3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vblk-rbd.XXXXXX")
PIDS=

fail() {
	echo "FAIL: $*"
	for f in "$TMP"/*.log; do
		[ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }
	done
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# alive PID, stop_pid PID
. "$(dirname "$0")/../lib/proc.sh"

cleanup() {
	for p in $PIDS; do
		stop_pid "$p"
	done
	[ -f "$TMP/ceph/ceph.conf" ] && sh "$CLUSTER" stop "$TMP/ceph"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

start_cluster() {
	for b in ceph-mon ceph-osd ceph rbd; do
		command -v $b >/dev/null 2>&1 ||
			skip "$b not installed (scripts/install-deps.sh test installs Ceph)"
	done
	sh "$CLUSTER" start "$TMP/ceph" >"$TMP/cluster.log" 2>&1
	rc=$?
	[ $rc -eq 77 ] && skip "$(cat "$TMP/cluster.log")"
	[ $rc -eq 0 ] || fail "the test cluster did not start: $(cat "$TMP/cluster.log")"
	export CEPH_CONF="$TMP/ceph/ceph.conf"
}

make_image() {
	timeout 60 rbd create --size "$2" --image-feature layering "rbd/$1" ||
		fail "rbd create $1"
}

# Wait up to 30 s for vblkd's socket (the cluster connection comes first).
start_vblkd() {
	rm -f "$1"
	"$VBLKD" --socket "$1" --disk "$2" >"$1.log" 2>&1 &
	VBLKD_PID=$!
	PIDS="$PIDS $VBLKD_PID"
	for _ in $(seq 300); do
		[ -S "$1" ] && return 0
		alive "$VBLKD_PID" || break
		sleep 0.1
	done
	grep -q "no RBD support" "$1.log" && skip "vblkd was built without librbd"
	fail "vblkd did not come up on $2"
}

# Image NAME as Ceph has it (rbd export) into FILE.
export_image() {
	rm -f "$2"
	timeout 60 rbd export "rbd/$1" "$2" >/dev/null 2>&1 || fail "rbd export $1"
}
