/* SPDX-License-Identifier: MIT */
/*
 * The submit queue: the bottom of the engine, between the padding stage and
 * one backend queue. It owns the be_queue and keeps the I/Os the backend
 * refused with -EAGAIN in a FIFO, submitted again, in order, after
 * completions (SPDK's rule: -EAGAIN means queue and retry, never fail).
 * It knows nothing above it: an entry is a be_io plus a link, and every
 * outcome comes back through be_io.done. Private to lib/blk; one thread.
 */
#ifndef VBLK_BLK_BLK_SQ_H
#define VBLK_BLK_BLK_SQ_H

#include <stdbool.h>

#include "backend/be.h"
#include "internal/list.h"

struct blk_sq_entry {
	struct be_io io;
	struct fifo_link link; /* in blk_sq.pend */
};

struct blk_sq {
	struct be *be;
	struct be_queue *bq;
	bool sync;	  /* the backend has no fd: completions appear only when reaped */
	bool ready;	  /* results wait that no fd announces: blk_sq_poll now (blk_sq_ready) */
	struct fifo pend; /* refused entries (blk_sq_entry.link), oldest first */
};

/* Create the backend queue (depth requests in flight). Returns 0 or -errno. */
int blk_sq_init(struct blk_sq *sq, struct be *be, unsigned depth);

/* Destroy the backend queue; nothing may be in flight. Accepts a zeroed sq. */
void blk_sq_fini(struct blk_sq *sq);

/* The backend's pollable fd, or -1 for a synchronous backend (sq->sync). */
int blk_sq_fd(const struct blk_sq *sq);

/*
 * Hand e->io (done set) to the backend, or queue it behind earlier refusals.
 * Never fails: a backend error completes the entry through e->io.done, maybe
 * before this returns.
 */
void blk_sq_submit(struct blk_sq *sq, struct blk_sq_entry *e);

/*
 * Start what was submitted (the batching point). Results the backend already
 * has (a synchronous backend's, or transfers it did inside submit) are not
 * announced on its fd: blk_sq_ready() says so, and blk_sq_poll() takes them.
 */
void blk_sq_kick(struct blk_sq *sq);

/*
 * Are there results that only blk_sq_poll() finds (no fd will become
 * readable for them)? The caller polls now, or makes sure it will.
 */
static inline bool blk_sq_ready(const struct blk_sq *sq)
{
	return sq->ready;
}

/*
 * Reap completions (their done callbacks run here), then submit refused
 * entries in order until the backend refuses again. Returns the number of
 * completions plus resubmissions (0: nothing moved).
 */
unsigned blk_sq_poll(struct blk_sq *sq);

#endif
