/* SPDX-License-Identifier: MIT */
/*
 * Private to lib/blk: the engine queue object (blk.c). The padding stage
 * below it has its own interface (blk_stage.h).
 */
#ifndef VBLK_BLK_BLK_PRIV_H
#define VBLK_BLK_BLK_PRIV_H

#include <time.h>

#include "blk.h"
#include "blk_stage.h"

struct blk_queue {
	struct blk_dev *d;
	struct blk_stage_queue *stq;
	blk_req_done_fn *done;
	void *opaque;
	unsigned inflight;
	/*
	 * The queue's one pollable fd (blk_queue_fd): an epoll set of note_fd
	 * and the backend's fd, if it has one. note_fd is written by the stage
	 * (another queue's release handed us a request) and by blk_queue_kick
	 * for a synchronous backend, whose results no fd announces.
	 */
	int poll_fd;
	int note_fd;
	/* Backend error log rate limit: at most one line per second per queue. */
	bool logged;
	struct timespec log_last;
	unsigned log_suppressed;
};

#endif
