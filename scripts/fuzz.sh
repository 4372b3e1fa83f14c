#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang + ASan/UBSan and run each for
# SECONDS (default 60) on a scratch copy of its seed corpus (the committed
# seeds in tests/fuzz/corpus/<name>/ are never modified).
#
#   scripts/fuzz.sh [SECONDS] [NAME...]     NAME: ring_engine, vhost_user, ...
#
# Environment: BUILDDIR (default build-fuzz), FUZZ_JOBS (parallel harnesses,
# default 1). Prints the executions of each harness. A crash, leak or hang
# makes the script fail; its input is copied to tests/fuzz/crashes/ as
# <name>-<kind>-<sha1> for a reproducer (replay it with
# BUILDDIR/tests/fuzz/fuzz_<name> FILE, or with replay_<name> from any build).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
builddir=${BUILDDIR:-build-fuzz}
scripts/install-deps.sh test
# -Dfuzz=true also instruments the libraries under test (meson.build adds
# -fsanitize=fuzzer-no-link), so libFuzzer sees their coverage.
if [ ! -d "$builddir" ]; then
	CC=clang meson setup "$builddir" -Dfuzz=true -Dguest_tests=false \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
if [ $# -gt 0 ]; then
	names=("$@")
else
	names=()
	for d in tests/fuzz/corpus/*/; do
		names+=("$(basename "$d")")
	done
fi
# Only the harnesses: the rest of the tree need not build with clang's sanitizers.
ninja -C "$builddir" $(for n in "${names[@]}"; do echo tests/fuzz/fuzz_"$n"; done)

run_one() {
	local name=$1 work=$builddir/fuzz-work/$1
	local log=$builddir/fuzz-$1.log
	rm -rf "$work/artifacts"
	mkdir -p "$work/corpus" "$work/artifacts"
	cp -n tests/fuzz/corpus/"$name"/* "$work/corpus/" 2>/dev/null || true
	# -timeout: one input running longer than this is reported as a hang.
	if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		"$builddir"/tests/fuzz/fuzz_"$name" -max_total_time="$secs" -timeout=60 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" \
		>"$log" 2>&1; then
		echo "fuzz: $name: ok, $(execs "$log") executions in ${secs}s"
		return 0
	fi
	echo "fuzz: $name: FAILED after $(execs "$log") executions; log $log"
	grep -E "^==[0-9]+==ERROR|SUMMARY|runtime error|fuzz_[a-z_]+: |Test unit written" "$log" |
		head -20 || tail -30 "$log"
	mkdir -p tests/fuzz/crashes
	for f in "$work"/artifacts/*; do
		[ -f "$f" ] || continue
		cp "$f" tests/fuzz/crashes/"$name"-"$(basename "$f")"
		echo "fuzz: $name: reproducer tests/fuzz/crashes/$name-$(basename "$f")"
	done
	return 1
}

execs() {
	grep -o "stat::number_of_executed_units: *[0-9]*" "$1" | grep -o "[0-9]*$" | tail -1 || echo "?"
}

rc=0
jobs=${FUZZ_JOBS:-1}
pids=()
for name in "${names[@]}"; do
	echo "fuzz: $name for ${secs}s"
	if [ "$jobs" -gt 1 ]; then
		run_one "$name" &
		pids+=($!)
		if [ ${#pids[@]} -ge "$jobs" ]; then
			wait "${pids[0]}" || rc=1
			pids=("${pids[@]:1}")
		fi
	else
		run_one "$name" || rc=1
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || rc=1
done
exit $rc
