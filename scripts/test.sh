#!/usr/bin/env bash
# The test command (README "Run the tests"): install what the tests need,
# build, and run every suite. Extra arguments go to `meson test`
# (e.g. `scripts/test.sh --suite unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
builddir=${BUILDDIR:-build}
if [ -d "$builddir" ]; then
	meson setup --reconfigure "$builddir" >/dev/null
else
	meson setup "$builddir" >/dev/null
fi
ninja -C "$builddir"
set +e
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@"
rc=$?
set -e
scripts/test-summary.py "$builddir/meson-logs/testlog.json" || true
exit $rc
