#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang + ASan/UBSan and run each on a
# working copy of its seed corpus (the committed seeds in
# tests/fuzz/corpus/<name>/ are never modified). The harnesses are found in
# the build: every fuzz_<name> executable target under tests/fuzz/.
#
#   scripts/fuzz.sh [SECONDS] [NAME[=SECONDS]...]
#   scripts/fuzz.sh --ci [NAME...]
#   scripts/fuzz.sh --long HOURS [NAME...]
#
#   SECONDS        every harness runs this long (default 60); NAME=SECONDS
#                  sets one harness's time; without NAMEs all harnesses run.
#   --ci           the CI budget (.ci/run): 300 s for each vhost-user
#                  harness (fuzz_vhost_*: each input is a whole connection,
#                  so they execute slowest and guard the attack surface),
#                  60 s for rpc (the control socket: local, root-owned, a
#                  small parser), 180 s for every other one. Five harnesses,
#                  one at a time: about 18 minutes.
#   --long HOURS   the long run, for a spare machine (not CI): each harness
#                  runs HOURS hours, FUZZ_JOBS at once (default: one per
#                  core). The working corpus persists in
#                  BUILDDIR/fuzz-work/<name>/corpus, so repeated runs carry
#                  on where the last stopped; to keep what it found as seeds,
#                  merge it (only inputs that add coverage are copied):
#                    BUILDDIR/tests/fuzz/fuzz_<name> -merge=1 \
#                      tests/fuzz/corpus/<name> BUILDDIR/fuzz-work/<name>/corpus
#
# Environment: BUILDDIR (default build-fuzz), FUZZ_JOBS (harnesses run at
# once; default 1, --long: the number of cores). Prints per harness the
# executions, executions per second and final coverage. A crash, leak,
# timeout (one input running over 60 s) or out-of-memory fails the script;
# the input is copied to tests/fuzz/crashes/<name>-<kind>-<sha1> for a
# reproducer (replay it with BUILDDIR/tests/fuzz/fuzz_<name> FILE, or with
# replay_<name> from any build) - commit it as a seed and add a
# conformance case.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=plain
default_secs=60
jobs=${FUZZ_JOBS:-1}
case "${1:-}" in
--ci)
	mode=ci
	shift
	;;
--long)
	mode=long
	if ! [[ ${2:-} =~ ^[0-9]+([.][0-9]+)?$ ]]; then
		echo "usage: $0 --long HOURS [NAME...]" >&2
		exit 2
	fi
	default_secs=$(python3 -c "print(int(float('$2') * 3600))")
	jobs=${FUZZ_JOBS:-$(nproc)}
	shift 2
	;;
[0-9]*)
	default_secs=$1
	shift
	;;
esac
builddir=${BUILDDIR:-build-fuzz}
scripts/install-deps.sh test
# -Dfuzz=true also instruments the libraries under test (meson.build adds
# -fsanitize=fuzzer-no-link), so libFuzzer sees their coverage.
if [ ! -d "$builddir" ]; then
	CC=clang meson setup "$builddir" -Dfuzz=true -Dguest_tests=false \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi

# Every fuzz_* executable the build defines (tests/fuzz/meson.build).
mapfile -t all < <(ninja -C "$builddir" -t targets all |
	sed -n 's|^tests/fuzz/fuzz_\([A-Za-z0-9_]*\): .*|\1|p' | sort -u)
if [ ${#all[@]} -eq 0 ]; then
	echo "fuzz: no fuzz_* target in $builddir (configured without -Dfuzz=true?)" >&2
	exit 2
fi

# The time of harness $1 when nothing names it explicitly.
budget() {
	case "$mode" in
	ci) [[ $1 == vhost_* ]] && echo 300 || { [[ $1 == rpc ]] && echo 60 || echo 180; } ;;
	*) echo "$default_secs" ;;
	esac
}

names=()
declare -A secs=()
for arg in "$@"; do
	n=${arg%%=*}
	if ! printf '%s\n' "${all[@]}" | grep -qx -- "$n"; then
		echo "fuzz: no harness '$n' (have: ${all[*]})" >&2
		exit 2
	fi
	names+=("$n")
	if [[ $arg == *=* ]]; then
		secs[$n]=${arg#*=}
	else
		secs[$n]=$(budget "$n")
	fi
done
if [ ${#names[@]} -eq 0 ]; then
	names=("${all[@]}")
	for n in "${names[@]}"; do
		secs[$n]=$(budget "$n")
	done
fi
# Only the harnesses: the rest of the tree need not build with clang's sanitizers.
ninja -C "$builddir" $(for n in "${names[@]}"; do echo tests/fuzz/fuzz_"$n"; done)

final_stat() { # LOG KEY: a libFuzzer -print_final_stats value
	grep -o "stat::$2: *[0-9]*" "$1" | grep -o "[0-9]*$" | tail -1 || echo "?"
}
coverage() { # LOG: the last "cov: N ft: M" libFuzzer printed
	grep -o "cov: [0-9]* ft: [0-9]*" "$1" | tail -1 || echo "cov: ?"
}

run_one() {
	local name=$1 t=$2 work=$builddir/fuzz-work/$1
	local log=$builddir/fuzz-$1.log
	rm -rf "$work/artifacts"
	mkdir -p "$work/corpus" "$work/artifacts"
	cp -n tests/fuzz/corpus/"$name"/* "$work/corpus/" 2>/dev/null || true
	# A harness of text (rpc) has a dictionary of its words: tests/fuzz/NAME.dict.
	local dict=()
	[ -f tests/fuzz/"$name".dict ] && dict=(-dict=tests/fuzz/"$name".dict)
	# -timeout: one input running longer than this is reported as a hang.
	if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		"$builddir"/tests/fuzz/fuzz_"$name" -max_total_time="$t" -timeout=60 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" "$work/corpus" \
		>"$log" 2>&1; then
		echo "fuzz: $name: ok, $(final_stat "$log" number_of_executed_units) executions" \
			"in ${t}s ($(final_stat "$log" average_exec_per_sec)/s), $(coverage "$log")," \
			"corpus $(find "$work/corpus" -type f | wc -l) inputs"
		return 0
	fi
	echo "fuzz: $name: FAILED after $(final_stat "$log" number_of_executed_units) executions; log $log"
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

# Interrupted: stop the harnesses still running (each is the child of a
# run_one subshell), not only the subshells.
pids=()
stop_all() {
	for p in "${pids[@]}"; do
		pkill -TERM -P "$p" 2>/dev/null || true
		kill "$p" 2>/dev/null || true
	done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

rc=0
total=0
for name in "${names[@]}"; do
	total=$((total + secs[$name]))
done
echo "fuzz: ${#names[@]} harnesses (${names[*]}), $total s of fuzzing, $jobs at a time"
for name in "${names[@]}"; do
	echo "fuzz: $name for ${secs[$name]}s"
	if [ "$jobs" -gt 1 ]; then
		run_one "$name" "${secs[$name]}" &
		pids+=($!)
		if [ ${#pids[@]} -ge "$jobs" ]; then
			wait "${pids[0]}" || rc=1
			pids=("${pids[@]:1}")
		fi
	else
		run_one "$name" "${secs[$name]}" || rc=1
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || rc=1
done
pids=()
exit $rc
