/* SPDX-License-Identifier: MIT */
/*
 * libvblk reporting: the per-thread vblk_get_error() sentence and the
 * application's log_fn. The library never prints: a failed vblk_open()
 * leaves a sentence for vblk_get_error(); that sentence, and events on an
 * open device (the back end went away, a ring broke, teardown timed out) go
 * to the application's log_fn when it set one in vblk_options.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client.h"

/* Per thread, so that independent vblk_open() calls do not mix sentences. */
static __thread char errbuf[320];

/* Hand msg to the application's log function, if it gave one. */
static void log_msg(const struct vblk_options *o, int level, const char *msg)
{
	if (o->log_fn)
		o->log_fn(o->log_opaque, level, msg);
}

void client_clear_error(void)
{
	errbuf[0] = '\0';
}

void client_set_error(const struct vblk_options *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	log_msg(o, VBLK_MSG_ERROR, errbuf);
}

void client_set_vu_error(const struct vblk *dev, const char *what, int ret)
{
	client_set_error(&dev->opts, "%s: %s", what, dev->vu.err[0] ? dev->vu.err : strerror(-ret));
}

void client_log(const struct vblk *dev, int level, const char *fmt, ...)
{
	char line[320];
	va_list ap;

	if (!dev->opts.log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(&dev->opts, level, line);
}

const char *vblk_get_error(void)
{
	return errbuf;
}
