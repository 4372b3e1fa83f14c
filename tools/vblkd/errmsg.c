/* SPDX-License-Identifier: MIT */
/* vblkd's one-line error messages (errmsg.h). */
#include "errmsg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int errmsg(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, ERRMSG_LEN, fmt, ap);
	va_end(ap);
	return -EINVAL;
}
