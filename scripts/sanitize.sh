#!/usr/bin/env bash
# Run the tests under the sanitizers, each pass in its own build directory:
#  asan  gcc -fsanitize=address,undefined: the unit, loopback, integration,
#        client and conformance suites. ASan (with leak detection) and UBSan
#        stop the program at the first error, so any report fails its test.
#  tsan  clang -fsanitize=thread: the tests where threads share state - the
#        multi-queue client (client_mq_*), the two-thread ring loopbacks
#        (*_threads_*, ring_loopback_*), the padding stage and its cross-queue
#        hand-over (blk_pad*, be_file_pad*, blk_handover, vblkd-pad-stress),
#        asynchronous WRITE_ZEROES (blk_dwz_async), vblkd through vu_front and
#        the daemon tests (reconfiguration, a second front end, SIGTERM with
#        requests in flight, socket and lock cases: vblkd-*), the NBD backend
#        and its reconnection (nbd_*), a back end dying under libvblk
#        (cli_disconnect_*) and the conformance suite.
#        Every process writes its reports to TSAN_BUILDDIR/tsan-logs/; any
#        report there fails the pass, also one from a daemon whose test
#        passed. Known false positives only: tests/tsan.supp.
#
#   scripts/sanitize.sh [--asan|--tsan] [meson test arguments...]
#
# Default: both passes. Meson test arguments (e.g. --suite conformance, or
# test names) replace the default selection of the pass(es) run.
# Environment: BUILDDIR (ASan, default build-asan), TSAN_BUILDDIR (default
# build-tsan). Prints a summary line per pass; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
passes=(asan tsan)
case "${1:-}" in
--asan | --tsan)
	passes=("${1#--}")
	shift
	;;
esac
scripts/install-deps.sh test

# setup DIR CC MESON-OPTIONS...: configure DIR once, reconfigure it after.
setup() {
	local dir=$1 cc=$2
	shift 2
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" >/dev/null
	else
		CC=$cc meson setup "$dir" "$@" >/dev/null
	fi
}

# The first sanitizer lines of each failing test in DIR's last run.
first_reports() {
	python3 - "$1/meson-logs/testlog.json" <<'EOF' || true
import json, re, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
        continue
    out = (t.get("stdout") or "") + (t.get("stderr") or "")
    hits = [l for l in out.splitlines()
            if re.search(r"ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: |CHECK|ThreadSanitizer", l)]
    print(f"  {t['name']}: {t.get('result')}")
    for l in hits[:4]:
        print(f"      {l.strip()[:200]}")
EOF
}

asan_pass() {
	local builddir=${BUILDDIR:-build-asan} rc=0
	echo "sanitize: ASan + UBSan pass in $builddir"
	setup "$builddir" gcc -Db_sanitize=address,undefined -Dguest_tests=false || return 1
	ninja -C "$builddir" || return 1
	if [ $# -eq 0 ]; then
		set -- --suite unit --suite loopback --suite integration --suite client --suite conformance \
			--suite ctl
	fi
	# Every process of the tests (vblkd started by the scripts too) inherits these.
	# Sanitizers slow everything down: give each test three times its timeout.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		LSAN_OPTIONS=print_suppressions=0 \
		meson test -C "$builddir" --print-errorlogs --num-processes 2 --timeout-multiplier 3 "$@" ||
		rc=$?
	echo -n "sanitize: asan: "
	scripts/test-summary.py "$builddir/meson-logs/testlog.json" || true
	if [ $rc -ne 0 ]; then
		echo "sanitize: asan failures; first sanitizer lines per test:"
		first_reports "$builddir"
	fi
	return $rc
}

# The TSan selection, as meson test names (a test matches one pattern whole).
tsan_tests='client_mq_.*|.*_threads_.*|ring_loopback_.*|blk_pad.*|be_file_pad.*|blk_handover|blk_dwz_async|vblkd-.*|nbd_.*|cli_disconnect_.*|conformance-.*|ctl-.*|blk_limit_.*|blk_stats|cli_copy_sparse_.*|cli_copy_zero_.*'

tsan_pass() {
	local builddir=${TSAN_BUILDDIR:-build-tsan} rc=0 logs
	echo "sanitize: TSan pass in $builddir"
	# clang: gcc 12's libtsan works too, but clang's runtime (libclang-rt-14-dev)
	# is the one the fuzz build already needs. b_lundef=false: the sanitizer
	# runtime is not linked into libvblk.so, so its symbols stay undefined there.
	setup "$builddir" clang -Db_sanitize=thread -Db_lundef=false -Dguest_tests=false || return 1
	ninja -C "$builddir" || return 1
	# A pass over uninstrumented binaries would find nothing and still pass.
	# (grep without -q reads all of nm's output: no SIGPIPE under pipefail)
	if ! nm "$builddir/tools/vblkd" 2>/dev/null | grep __tsan_init >/dev/null; then
		echo "sanitize: $builddir/tools/vblkd is not built with -fsanitize=thread" >&2
		return 1
	fi
	if [ $# -eq 0 ]; then
		mapfile -t names < <(meson test -C "$builddir" --list --no-rebuild 2>/dev/null |
			sed -n 's|^vblk:[^ ]* / ||p' | grep -Ex "$tsan_tests")
		set -- "${names[@]}"
	fi
	logs=$builddir/tsan-logs
	rm -rf "$logs"
	mkdir -p "$logs"
	# halt_on_error=0: a race does not stop the process, so one run lists them
	# all; log_path collects the reports of every process, daemons included
	# (their stderr often goes nowhere). Each such process still exits 66.
	# setarch -R: LLVM 14's TSan cannot map its shadow memory under the
	# 32-bit mmap randomisation of newer kernels ("unexpected memory mapping").
	local opts="halt_on_error=0:second_deadlock_stack=1:history_size=4:log_path=$PWD/$logs/tsan"
	if [ -f tests/tsan.supp ]; then
		opts+=":suppressions=$PWD/tests/tsan.supp:print_suppressions=0"
	fi
	TSAN_OPTIONS=$opts \
		setarch "$(uname -m)" -R \
		meson test -C "$builddir" --print-errorlogs --num-processes 2 --timeout-multiplier 4 "$@" ||
		rc=$?
	echo -n "sanitize: tsan: "
	scripts/test-summary.py "$builddir/meson-logs/testlog.json" || true
	if [ $rc -ne 0 ]; then
		echo "sanitize: tsan failures; first sanitizer lines per test:"
		first_reports "$builddir"
	fi
	scripts/tsan-summary.py "$logs" || rc=1
	return $rc
}

rc=0
for p in "${passes[@]}"; do
	# errexit is off inside a function called with ||: each pass checks its steps.
	"${p}_pass" "$@" || rc=1
done
exit $rc
