#!/usr/bin/env bash
# Install the Debian 12 packages vblk needs. Profiles:
#   run   - build and run vblkd / vblk
#   test  - everything the test suite and CI use (QEMU, a kernel, busybox,
#           clang and its sanitizer/libFuzzer runtimes, llvm (llvm-symbolizer) for
#           their stack traces, readelf for the hardening check)
#   bench - run + fio/qemu and gnuplot for the benchmark report, time, perf
#           and strace for scripts/io-profile.sh
# Idempotent: packages already present are not fetched again.
set -euo pipefail
profile=${1:-run}

pkgs=(build-essential meson ninja-build pkg-config liburing-dev libnbd-dev libjson-c-dev procps)
case "$profile" in
run) ;;
test | bench)
	pkgs+=(qemu-system-x86 qemu-utils linux-image-amd64 busybox-static cpio kmod
		e2fsprogs xz-utils zstd clang libclang-rt-14-dev llvm binutils util-linux
		nbdkit nbdkit-plugin-dev libnbd-bin fio procps psmisc python3 groff-base
		gnuplot-nox)
	# scripts/io-profile.sh: getrusage of whole processes (GNU time), syscall
	# counts (perf's tracepoints; strace where perf cannot count them).
	pkgs+=(time linux-perf strace)
	# The RBD backend and its private test cluster (scripts/ceph-cluster.sh).
	pkgs+=(librbd-dev librados-dev ceph-mon ceph-osd ceph-common uuid-runtime qemu-block-extra)
	# libvirt's QEMU driver for the libvirt guest test (tests/guest/test_guest_libvirt.sh);
	# -system creates the libvirt-qemu user the driver insists on.
	pkgs+=(libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients)
	;;
*)
	echo "install-deps: unknown profile '$profile' (run|test|bench)" >&2
	exit 2
	;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
