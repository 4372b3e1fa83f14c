/* SPDX-License-Identifier: MIT */
/*
 * vblkd's resize trigger: SIGHUP makes the daemon learn its disk's size
 * again and tell the front end, so a grown image file or block device
 * reaches the guest without a restart.
 */
#ifndef VBLK_TOOLS_VBLKD_RESIZE_H
#define VBLK_TOOLS_VBLKD_RESIZE_H

#include <pthread.h>
#include <stdbool.h>

#include "blk/blk.h"
#include "vhost_user/vu_server.h"

struct resize_watch {
	struct blk_dev *d;
	struct vu_server *srv;
	int hup_fd;  /* a signalfd for SIGHUP (owned) */
	int quit_fd; /* eventfd: stop the thread */
	pthread_t thread;
	bool running;
};

/*
 * Re-read d's size (blk_dev_resize(d, 0)) and, if it changed, notify the
 * front end of srv (vu_server_config_changed). Logs what happened.
 * Returns 0 or -errno.
 */
int vblkd_resize(struct blk_dev *d, struct vu_server *srv);

/*
 * Run vblkd_resize on every SIGHUP read from hup_fd (a signalfd; taken over,
 * closed by resize_watch_stop even on error), on a thread of its own.
 * Returns 0 or -errno.
 */
int resize_watch_start(struct resize_watch *w, struct blk_dev *d, struct vu_server *srv,
		       int hup_fd);

/* Stop and join the thread, close the fds. Accepts a watch that never started. */
void resize_watch_stop(struct resize_watch *w);

#endif
