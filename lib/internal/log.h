/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with a level threshold. The threshold is process-wide
 * configuration set once by main() (the only global, read-mostly).
 */
#ifndef VBLK_INTERNAL_LOG_H
#define VBLK_INTERNAL_LOG_H

#include <stdbool.h>

#include "compiler.h"

enum log_level { LOGL_ERR = 0, LOGL_WARN, LOGL_INFO, LOGL_DEBUG };

void log_set_level(enum log_level level);
/*
 * Name the program in every line ("vblkd: error: ...") and, when stderr is
 * systemd's journal (JOURNAL_STREAM), add sd-daemon(3) priority prefixes.
 * Call once from main() before any thread exists.
 */
void log_init(const char *prog);
/* "error", "warning" (or "warn"), "info", "debug". Returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
/*
 * Name what the calling thread works for (vblkd: an export's name), put
 * before each of its lines ("vblkd: info: disk1: client connected"); NULL
 * for none. Per thread; tag must outlive the thread's logging.
 */
void log_set_thread_tag(const char *tag);
void log_msg(enum log_level level, const char *fmt, ...) VBLK_PRINTF(2, 3);

#define log_err(...)  log_msg(LOGL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOGL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOGL_INFO, __VA_ARGS__)
#define log_dbg(...)  log_msg(LOGL_DEBUG, __VA_ARGS__)

/* Log a misbehaving peer once per object: *once is a per-object flag. */
#define log_warn_once(once, ...)                                                                   \
	do {                                                                                       \
		if (!*(once)) {                                                                    \
			*(once) = true;                                                            \
			log_msg(LOGL_WARN, __VA_ARGS__);                                           \
		}                                                                                  \
	} while (0)

#endif
