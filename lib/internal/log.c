/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with a level threshold, a program-name prefix, and the
 * kernel-style priority prefixes systemd's journal reads (sd-daemon(3):
 * "<3>" error ... "<7>" debug) when stderr is the journal stream.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Set once at start-up by main(), before any thread exists; read-only after.
 * Logging configuration is the one process-wide setting we allow.
 */
static enum log_level log_threshold = LOGL_INFO;
static const char *log_prefix = "vblk";
static bool log_journal;
/* Per thread, set by the thread itself: not shared state. */
static _Thread_local const char *log_tag;

void log_set_thread_tag(const char *tag)
{
	log_tag = tag;
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

/*
 * systemd sets JOURNAL_STREAM=DEV:INODE for a service whose stderr is the
 * journal (systemd.exec(5)); only then do priority prefixes mean anything.
 */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st))
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *prog)
{
	log_prefix = prog;
	log_journal = stderr_is_journal();
}

int log_parse_level(const char *s, enum log_level *out)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i]) || (i == LOGL_WARN && !strcmp(s, "warn"))) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	static const char *const prio[] = {"<3>", "<4>", "<6>", "<7>"};
	char line[1024];
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line keeps lines from threads unmixed. */
	fprintf(stderr, "%s%s: %s: %s%s%s\n", log_journal ? prio[level] : "", log_prefix,
		names[level], log_tag ? log_tag : "", log_tag ? ": " : "", line);
}
