#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang + ASan/UBSan in build-fuzz and run
# each for SECONDS (default 60) on a scratch copy of its seed corpus.
# New crashes are left in build-fuzz/crash-* and make this script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
scripts/install-deps.sh test
if [ ! -d build-fuzz ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Dguest_tests=false \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C build-fuzz $(cd tests/fuzz/corpus && for d in *; do echo tests/fuzz/fuzz_$d; done)
rc=0
for dir in tests/fuzz/corpus/*; do
	name=$(basename "$dir")
	work=build-fuzz/corpus-$name
	mkdir -p "$work"
	cp -n "$dir"/* "$work"/ 2>/dev/null || true
	echo "fuzz: $name for ${secs}s"
	if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		build-fuzz/tests/fuzz/fuzz_"$name" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix=build-fuzz/ "$work" 2>build-fuzz/fuzz-$name.log; then
		tail -50 build-fuzz/fuzz-$name.log
		rc=1
	fi
	grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build-fuzz/fuzz-$name.log || true
done
exit $rc
