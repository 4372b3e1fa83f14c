/* SPDX-License-Identifier: MIT */
/*
 * Private to lib/blk: the engine queue object (blk.c) and its statistics
 * (blk_stats.c). The padding stage below it has its own interface
 * (blk_stage.h).
 */
#ifndef VBLK_BLK_BLK_PRIV_H
#define VBLK_BLK_BLK_PRIV_H

#include <stdatomic.h>
#include <time.h>

#include "blk.h"
#include "blk_note.h"
#include "blk_stage.h"

#define BLK_STATS_WORDS (sizeof(struct blk_stats) / sizeof(uint64_t))
#define BLK_STAT(field) (offsetof(struct blk_stats, field) / sizeof(uint64_t))

/*
 * A queue's struct blk_stats as words. Written only by the queue's thread,
 * with a relaxed load and store (a plain add on x86-64 and arm64, no locked
 * instruction), read by any thread with relaxed loads: one writer, so no
 * update is lost, and atomics so no reader sees a torn value. A seqcount
 * would give readers one consistent snapshot at the price of two more
 * ordered stores per request; monitoring does not need it.
 */
struct blk_stats_slot {
	_Atomic uint64_t w[BLK_STATS_WORDS];
};

/* Queue thread only: the slot's one writer. */
static inline void blk_stat_add(struct blk_stats_slot *s, size_t i, uint64_t n)
{
	atomic_store_explicit(&s->w[i], atomic_load_explicit(&s->w[i], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

struct blk_queue {
	struct blk_dev *d;
	struct blk_stage_queue *stq;
	blk_req_done_fn *done;
	void *opaque;
	/*
	 * The queue's one pollable fd (blk_queue_fd): an epoll set of the note
	 * and the backend's fd, if it has one. The note is signalled by the stage
	 * (another queue's release handed us a request) and by blk_queue_kick
	 * for a synchronous backend, whose results no fd announces.
	 */
	int poll_fd;
	struct blk_note note;
	/* Backend error log rate limit: at most one line per second per queue. */
	bool logged;
	struct timespec log_last;
	unsigned log_suppressed;
	/*
	 * Reads and writes the export's limits hold back (blk_req.wait), in
	 * submission order, and the timerfd (in poll_fd's set) that wakes the
	 * queue when the first of them may go.
	 */
	struct fifo throttled;
	int timer_fd;
	bool timer_armed; /* timer_fd set and not read since */
	bool draining;	  /* blk_queue_drain: limits no longer apply */
	bool processing;  /* inside blk_queue_process: a kick leaves ready results to its end */
	uint64_t now_ns;  /* queue_now's reading for this batch; 0: read it again */
	/* Statistics: slot index, linked in blk_dev.queues under stats_mu. */
	unsigned index;
	struct blk_queue *next_in_dev;
	struct blk_stats_slot st;
};

/* Queue thread: count req's completion with status at time now_ns (blk_stats.c). */
void blk_stats_complete(struct blk_queue *q, const struct blk_req *req, uint8_t status,
			uint64_t now_ns);

/* Link q into / out of its device's list; unlinking adds its counters to retired. */
void blk_stats_attach(struct blk_queue *q);
void blk_stats_detach(struct blk_queue *q);

#endif
