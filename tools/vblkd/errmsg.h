/* SPDX-License-Identifier: MIT */
/*
 * vblkd's one-line error messages for callers that must pass them on
 * instead of printing them: option parsing prints and exits with them, the
 * control socket returns them in a JSON-RPC error.
 */
#ifndef VBLK_TOOLS_VBLKD_ERRMSG_H
#define VBLK_TOOLS_VBLKD_ERRMSG_H

#include <stddef.h>

#define ERRMSG_LEN 256

/* snprintf into err (ERRMSG_LEN bytes). Returns -EINVAL, for `return errmsg(...)`. */
int errmsg(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
