#!/bin/sh
# SPDX-License-Identifier: MIT
# A private single-node Ceph cluster for trying and testing the RBD backend:
# one monitor on 127.0.0.1 (msgr v2, a free port), one BlueStore OSD on a
# sparse file, pool size 1, cephx with a keyring generated here, and a pool
# 'rbd'. Everything (configuration, keyring, daemon data, logs, pid files,
# admin sockets) lives in DIR: no systemd, no /etc/ceph, no root needed.
#
#   ceph-cluster.sh start DIR   create DIR (must be absent or empty), start the
#                               daemons, wait until the pool takes I/O (<= 30 s)
#   ceph-cluster.sh stop DIR    stop the daemons whose pid files are in DIR
#   ceph-cluster.sh env DIR     print 'export CEPH_CONF=DIR/ceph.conf' (for
#                               eval): ceph, rbd and rados then use the cluster
#   ceph-cluster.sh osd-stop DIR | osd-start DIR
#                               kill -9 / restart the OSD (fault injection)
#
# vblkd then serves an image as --disk rbd:rbd/IMAGE:conf=DIR/ceph.conf.
# Exit status: 0 done, 1 failure (the reason on stderr), 77 Ceph not installed.
set -u

die() {
	echo "ceph-cluster: $*" >&2
	# A start that fails leaves no daemon behind.
	if [ "${cmd:-}" = start ] && [ -f "${conf:-}" ]; then
		kill_daemon osd.0 KILL
		kill_daemon mon.a KILL
	fi
	exit 1
}

[ $# -eq 2 ] || die "usage: $0 start|stop|env|osd-stop|osd-start DIR"
cmd=$1
case $2 in
/*) dir=$2 ;;
*) dir=$(pwd)/$2 ;;
esac
conf=$dir/ceph.conf
# Seconds the start may take before it gives up (the monitor, the OSD, the pool).
START_TIMEOUT=${CEPH_START_TIMEOUT:-30}

need() {
	for b in "$@"; do
		command -v "$b" >/dev/null 2>&1 ||
			{ echo "ceph-cluster: $b not installed (apt-get install ceph-mon ceph-osd ceph-common)" >&2; exit 77; }
	done
}

# A TCP port nobody listens on now. Another process may take it before the
# monitor binds; the monitor then fails fast (ms bind retry count) and start
# tries another port.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The pid in DIR/run/NAME.pid if that process is still ours: a daemon started
# with this DIR's configuration (a pid reused by another process is left alone).
our_pid() {
	pf=$dir/run/$1.pid
	[ -s "$pf" ] || return 1
	pid=$(cat "$pf")
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$conf" || return 1
	echo "$pid"
}

kill_daemon() { # NAME SIGNAL
	pid=$(our_pid "$1") || return 0
	kill "-$2" "$pid" 2>/dev/null
	for _ in $(seq 100); do
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	if [ -d "/proc/$pid" ]; then
		kill -KILL "$pid" 2>/dev/null
		sleep 0.2
	fi
	rm -f "$dir/run/$1.pid" "$dir/run/$1.asok"
}

# Seconds left before the start's deadline (at least 1); 20 outside start.
left() {
	if [ -n "${deadline:-}" ]; then
		l=$((deadline - $(date +%s)))
		[ "$l" -ge 1 ] || l=1
		echo "$l"
	else
		echo 20
	fi
}

ceph_() {
	t=$(left)
	timeout "$t" ceph -c "$conf" --connect-timeout "$t" "$@"
}

write_conf() { # PORT
	cat >"$conf" <<EOF
# Private test cluster made by scripts/ceph-cluster.sh; everything in $dir.
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$1
mon initial members = a
keyring = $dir/keyring
run dir = $dir/run
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
# A taken port fails the monitor at once instead of after minutes of retries.
ms bind retry count = 1
ms bind retry delay = 1
public network = 127.0.0.0/8
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
osd objectstore = bluestore
# The data of the OSD: a sparse file, created at mkfs.
bluestore block create = true
bluestore block size = 10737418240
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 67108864
osd memory target = 939524096
# Saves about 2 s of OSD start on these machines.
bdev aio poll ms = 50
osd data = $dir/\$name
mon data = $dir/\$name
# Daemons only: clients (rbd, vblkd) run many at once and would fight over one.
[mon]
admin socket = $dir/run/\$name.asok
[osd]
admin socket = $dir/run/\$name.asok
keyring = $dir/\$name/keyring
EOF
}

start_mon() {
	for attempt in 1 2 3; do
		port=$(free_port) || die "no free port"
		write_conf "$port"
		rm -rf "$dir/mon.a" "$dir/monmap"
		monmaptool --create --addv a "[v2:127.0.0.1:$port]" --fsid "$fsid" "$dir/monmap" \
			>/dev/null || die "monmaptool failed"
		ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" \
			>>"$dir/log/setup.log" 2>&1 || die "ceph-mon --mkfs failed (see $dir/log/)"
		ceph-mon -c "$conf" -i a >>"$dir/log/setup.log" 2>&1 &&
			ceph_ mon stat >/dev/null 2>&1 && return 0
		kill_daemon mon.a KILL
		[ "$(date +%s)" -lt "$deadline" ] || break
	done
	die "the monitor did not start (see $dir/log/mon.a.log)"
}

start_osd() {
	ceph-osd -c "$conf" -i 0 >>"$dir/log/setup.log" 2>&1 || die "ceph-osd did not start (see $dir/log/osd.0.log)"
}

start() {
	need ceph-mon ceph-osd ceph ceph-authtool monmaptool rbd python3 uuidgen timeout
	if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
		die "$dir exists and is not empty"
	fi
	mkdir -p "$dir/run" "$dir/log" "$dir/osd.0" || die "cannot create $dir"
	deadline=$(($(date +%s) + START_TIMEOUT))
	fsid=$(uuidgen)
	{ ceph-authtool "$dir/keyring" --create-keyring --gen-key -n mon. --cap mon 'allow *' &&
		ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' \
			--cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *'; } >/dev/null ||
		die "ceph-authtool failed"
	start_mon

	osd_uuid=$(uuidgen)
	osd_key=$(ceph-authtool --gen-print-key) || die "ceph-authtool failed"
	printf '[osd.0]\n\tkey = %s\n' "$osd_key" >"$dir/osd.0/keyring"
	printf '{"cephx_secret": "%s"}' "$osd_key" >"$dir/osd.0/secret.json"
	id=$(ceph_ osd new "$osd_uuid" -i "$dir/osd.0/secret.json") || die "ceph osd new failed"
	[ "$id" = 0 ] || die "ceph osd new gave id '$id', not 0"
	ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" --keyring "$dir/osd.0/keyring" \
		>>"$dir/log/setup.log" 2>&1 || die "ceph-osd --mkfs failed (see $dir/log/)"
	start_osd
	ceph_ osd pool create rbd 8 8 >/dev/null 2>&1 || die "cannot create the pool"
	ceph_ osd pool application enable rbd rbd >/dev/null 2>&1 || die "cannot tag the pool"
	# Ready when an object write goes through: the OSD is up and its PGs active.
	while :; do
		echo ready | timeout "$(left)" rados -c "$conf" -p rbd put ready - >/dev/null 2>&1 && break
		[ "$(date +%s)" -lt "$deadline" ] ||
			die "the pool takes no I/O after ${START_TIMEOUT}s (see $dir/log/)"
		sleep 0.5
	done
}

case $cmd in
start)
	start
	;;
stop)
	[ -f "$conf" ] || die "$dir holds no cluster"
	kill_daemon osd.0 TERM
	kill_daemon mon.a TERM
	;;
env)
	[ -f "$conf" ] || die "$dir holds no cluster"
	echo "export CEPH_CONF=$conf"
	;;
osd-stop)
	kill_daemon osd.0 KILL
	;;
osd-start)
	start_osd
	;;
*)
	die "unknown command '$cmd' (start, stop, env, osd-stop, osd-start)"
	;;
esac
