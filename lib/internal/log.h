/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with a level threshold. The threshold is process-wide
 * configuration set once by main() (the only global, read-mostly).
 */
#ifndef VBLK_INTERNAL_LOG_H
#define VBLK_INTERNAL_LOG_H

#include <stdbool.h>

#include "compiler.h"

enum vblk_log_level { VBLK_LOG_ERR = 0, VBLK_LOG_WARN, VBLK_LOG_INFO, VBLK_LOG_DEBUG };

void vblk_log_set_level(enum vblk_log_level level);
void vblk_log(enum vblk_log_level level, const char *fmt, ...) VBLK_PRINTF(2, 3);

#define vblk_err(...)  vblk_log(VBLK_LOG_ERR, __VA_ARGS__)
#define vblk_warn(...) vblk_log(VBLK_LOG_WARN, __VA_ARGS__)
#define vblk_info(...) vblk_log(VBLK_LOG_INFO, __VA_ARGS__)
#define vblk_dbg(...)  vblk_log(VBLK_LOG_DEBUG, __VA_ARGS__)

/* Log a misbehaving peer once per object: *once is a per-object flag. */
#define vblk_warn_once(once, ...)                                                                  \
	do {                                                                                       \
		if (!*(once)) {                                                                    \
			*(once) = true;                                                            \
			vblk_log(VBLK_LOG_WARN, __VA_ARGS__);                                      \
		}                                                                                  \
	} while (0)

#endif
