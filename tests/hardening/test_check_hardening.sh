#!/bin/sh
# The hardening check must catch each missing protection: run it on a program
# built with none of them and require a FAIL line for every check, and a
# non-zero exit.
#   test_check_hardening.sh CHECK_SCRIPT UNHARDENED_BINARY
set -u
check=$1
bin=$2
out=$("$check" "$bin")
rc=$?
echo "$out"
status=0
if [ $rc -ne 1 ]; then
	echo "FAIL: check-hardening exited $rc on an unhardened binary, expected 1"
	status=1
fi
for c in relro bindnow pie ssp fortify; do
	if ! echo "$out" | grep -Eq ": $c +FAIL "; then
		echo "FAIL: check '$c' did not report the missing protection"
		status=1
	fi
done
exit $status
