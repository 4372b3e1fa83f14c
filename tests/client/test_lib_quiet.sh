#!/bin/sh
# SPDX-License-Identifier: MIT
# libvblk never writes to the application's stdout or stderr: the shared
# library imports no stdio output function and not the stdout/stderr streams
# (messages go through vblk_get_error() and vblk_options.log_fn).
LIB=$1
command -v nm >/dev/null || { echo "SKIP: nm not installed"; exit 77; }
syms=$(nm -D --undefined-only "$LIB") || { echo "FAIL: nm $LIB"; exit 1; }
[ -n "$syms" ] || { echo "FAIL: no imports listed for $LIB"; exit 1; }
bad=$(echo "$syms" | awk '{print $NF}' | sed 's/@.*//' |
	grep -E '^(_IO_)?(stdout|stderr|f?printf|v?f?printf|__f?printf_chk|__v?f?printf_chk|puts|fputs|fputc|putc|putchar|perror|fwrite|psignal|error|warn|warnx|vwarn|syslog|vsyslog)$')
if [ -n "$bad" ]; then
	echo "FAIL: libvblk imports output functions: $bad"
	exit 1
fi
echo "libvblk imports no stdio output (checked $(echo "$syms" | wc -l) imports)"
exit 0
