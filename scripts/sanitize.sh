#!/usr/bin/env bash
# Build the whole project with gcc -fsanitize=address,undefined in its own
# build directory and run the unit, loopback, integration, client and
# conformance suites under it: ASan (with leak detection) and UBSan stop the
# program at the first error, so any report fails its test.
#
#   scripts/sanitize.sh [meson test arguments...]   e.g. --suite conformance
#
# Environment: BUILDDIR (default build-asan). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=${BUILDDIR:-build-asan}
scripts/install-deps.sh test
if [ -d "$builddir" ]; then
	meson setup --reconfigure "$builddir" >/dev/null
else
	CC=gcc meson setup "$builddir" -Db_sanitize=address,undefined -Dguest_tests=false \
		>/dev/null
fi
ninja -C "$builddir"

# Every process of the tests (vblkd started by the scripts too) inherits these.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=print_suppressions=0

if [ $# -eq 0 ]; then
	set -- --suite unit --suite loopback --suite integration --suite client --suite conformance
fi
set +e
# Sanitizers slow everything down: give each test three times its timeout.
meson test -C "$builddir" --print-errorlogs --num-processes 2 --timeout-multiplier 3 "$@"
rc=$?
set -e
if [ -x scripts/test-summary.py ]; then
	scripts/test-summary.py "$builddir/meson-logs/testlog.json" || true
fi
# A short list of the first sanitizer report of each failing test.
if [ $rc -ne 0 ]; then
	echo "sanitize: failures; first sanitizer lines per test:"
	python3 - "$builddir/meson-logs/testlog.json" <<'EOF' || true
import json, re, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
        continue
    out = (t.get("stdout") or "") + (t.get("stderr") or "")
    hits = [l for l in out.splitlines()
            if re.search(r"ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: |CHECK", l)]
    print(f"  {t['name']}: {t.get('result')}")
    for l in hits[:4]:
        print(f"      {l.strip()[:200]}")
EOF
fi
exit $rc
