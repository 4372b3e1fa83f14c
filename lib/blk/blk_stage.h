/* SPDX-License-Identifier: MIT */
/*
 * The padding stage's interface (blk_align.c), private to lib/blk. The
 * request handlers (blk.c) hand it one backend operation per request and get
 * the result back through a callback; below it sits the submit queue
 * (blk_sq.h) and the backend. Nothing here calls back into blk.c except
 * through that callback.
 *
 * A stage request is opaque storage inside struct blk_req (its `stage`
 * bytes); the stage's per-queue state is its own allocation.
 */
#ifndef VBLK_BLK_BLK_STAGE_H
#define VBLK_BLK_BLK_STAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend/be.h"
#include "blk.h"

struct blk_stage_queue;
struct blk_note;
struct blk_stage_req;

/* One operation on the backend's bytes [off, off+len) (off includes the range start). */
struct blk_stage_op {
	enum be_op op;
	unsigned flags;
	uint64_t off, len;
	const struct iovec *iov; /* READ / WRITE data */
	unsigned iovcnt;
};

/*
 * The operation of sr is over: res is 0 or -errno; last is the backend I/O
 * that decided it (for error messages). Called on the queue's thread.
 */
typedef void blk_stage_done_fn(struct blk_stage_req *sr, const struct be_io *last, int res);

/*
 * Create the stage for one engine queue of device d: a backend queue of depth
 * requests, bounce buffers if d->pad. note: the stage signals it
 * (from any thread) when blk_stage_process has work that no backend
 * completion will announce; owned by the caller and open until
 * blk_stage_queue_destroy returns. Returns 0 or -errno.
 */
int blk_stage_queue_create(struct blk_dev *d, unsigned depth, struct blk_note *note,
			   blk_stage_done_fn *done, struct blk_stage_queue **out);

/*
 * Destroy; nothing may be in flight. Waits for another queue's thread that
 * is still waking this queue (blk_align.c, handover). Accepts NULL.
 */
void blk_stage_queue_destroy(struct blk_stage_queue *stq);

/* The backend's pollable fd, or -1 (a synchronous backend: see blk_stage_ready). */
int blk_stage_backend_fd(const struct blk_stage_queue *stq);

/* Run op for sr (the `stage` bytes of a request); the result comes through done. */
void blk_stage_start(struct blk_stage_queue *stq, struct blk_stage_req *sr,
		     const struct blk_stage_op *op);

/* End of a batch of starts: hand them to the backend. */
void blk_stage_kick(struct blk_stage_queue *stq);

/*
 * Has blk_stage_process work that no fd announces: backend results that were
 * final at submit or kick (blk_sq_ready)? Then the caller runs it, now or
 * through the note.
 */
bool blk_stage_ready(const struct blk_stage_queue *stq);

/* Run what is ready: woken requests, backend completions, refused I/Os. */
void blk_stage_process(struct blk_stage_queue *stq);

#endif
