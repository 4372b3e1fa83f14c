/* SPDX-License-Identifier: MIT */
/*
 * Private to lib/blk: the queue object and the hooks between the request
 * handlers (blk.c) and the padding stage (blk_align.c).
 */
#ifndef VBLK_BLK_BLK_PRIV_H
#define VBLK_BLK_BLK_PRIV_H

#include <stdatomic.h>
#include <time.h>

#include "blk.h"

struct vblk_queue {
	struct vblk_dev *d;
	struct be_queue *bq;
	vblk_req_done_fn *done;
	void *opaque;
	unsigned inflight;
	bool sync; /* backend queue_fd is -1: completions appear only when reaped */
	/* Requests the backend refused with -EAGAIN, oldest first. */
	struct vblk_req *pend_head, *pend_tail;
	/* Backend error log rate limit: at most one line per second per queue. */
	bool logged;
	struct timespec log_last;
	unsigned log_suppressed;

	/* Padding stage (blk_align.c); unused unless d->pad. */
	uint8_t *pool;	     /* pool_n bounce buffers of chunk bytes, one allocation */
	uint8_t **pool_free; /* stack of free buffers */
	unsigned pool_n, pool_nfree;
	uint64_t chunk;
	struct vblk_req *bwait_head, *bwait_tail; /* waiting for a bounce buffer, FIFO */
	/* Requests whose range another queue's completion granted (LIFO stack, any thread pushes).
	 */
	_Atomic(struct vblk_req *) wake;
	int wake_fd; /* eventfd signalled after a push to `wake`; -1 unless d->rmw */
	int poll_fd; /* what vblk_queue_fd returns when >= 0 (epoll of backend fd + wake_fd) */
};

/* blk.c: hand req->io to the backend, or queue it behind earlier -EAGAINs. */
void vblk_req_dispatch(struct vblk_queue *q, struct vblk_req *req);

/* blk.c: the stage finished the operation of req->st with res (0 or -errno). */
void vblk_req_op_done(struct vblk_queue *q, struct vblk_req *req, int res);

/* blk_align.c: run req->st (already filled in) on the backend. */
void vblk_stage_start(struct vblk_queue *q, struct vblk_req *req);

/* blk_align.c: queue set-up and teardown of the stage (bounce pool, wake fd). */
int vblk_stage_queue_init(struct vblk_queue *q);
void vblk_stage_queue_fini(struct vblk_queue *q);

/* blk_align.c: continue requests granted by other queues. Returns how many. */
unsigned vblk_stage_run_wakeups(struct vblk_queue *q);
bool vblk_stage_wake_pending(struct vblk_queue *q);

/* blk_align.c: does the whole iovec meet the memory alignment? */
bool vblk_iov_aligned(const struct iovec *iov, unsigned cnt, uint32_t align);

#endif
