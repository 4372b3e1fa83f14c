/* SPDX-License-Identifier: MIT */
/*
 * Private helpers shared by the backends. The completion ring holds ios a
 * backend finished inside submit() (synchronous backends, or synchronous
 * operations of an asynchronous one) until reap() reports them: be.h forbids
 * calling done() from submit(). Preallocated at queue_create: no malloc on the
 * data path.
 */
#ifndef VBLK_BACKEND_BE_PRIV_H
#define VBLK_BACKEND_BE_PRIV_H

#include <errno.h>
#include <stdlib.h>

#include "be.h"

struct be_done_ent {
	struct be_io *io;
	int res;
};

struct be_done_ring {
	struct be_done_ent *ent;
	unsigned cap, head, cnt;
};

static inline int be_done_ring_init(struct be_done_ring *r, unsigned cap)
{
	r->ent = calloc(cap ? cap : 1, sizeof(*r->ent));
	r->cap = cap ? cap : 1;
	r->head = r->cnt = 0;
	return r->ent ? 0 : -ENOMEM;
}

static inline void be_done_ring_fini(struct be_done_ring *r)
{
	free(r->ent);
	r->ent = NULL;
}

static inline bool be_done_ring_full(const struct be_done_ring *r)
{
	return r->cnt == r->cap;
}

/* Record a finished io; the caller checked be_done_ring_full() first. */
static inline void be_done_ring_push(struct be_done_ring *r, struct be_io *io, int res)
{
	struct be_done_ent *e = &r->ent[(r->head + r->cnt) % r->cap];

	e->io = io;
	e->res = res;
	r->cnt++;
}

/*
 * Call done() for the ios recorded so far. Entries pushed by a done() callback
 * (a resubmission) wait for the next reap, so this always terminates.
 */
static inline int be_done_ring_reap(struct be_done_ring *r)
{
	unsigned n = r->cnt;

	for (unsigned i = 0; i < n; i++) {
		struct be_done_ent e = r->ent[r->head];

		r->head = (r->head + 1) % r->cap;
		r->cnt--;
		e.io->done(e.io, e.res);
	}
	return (int)n;
}

/*
 * be_info of a backend that lives in RAM (memory, null): any alignment, and
 * every operation possible unless read-only. Shared so the two cannot drift.
 */
static inline struct be_info be_info_ram(uint64_t size, bool ro)
{
	return (struct be_info){
	    .size = size,
	    .align = 1,
	    .ro = ro,
	    .can_flush = true,
	    .can_discard = !ro,
	    .can_write_zeroes = !ro,
	    .can_secure_erase = !ro,
	};
}

/*
 * The queue of a synchronous backend (memory, null): submit() does the work
 * and records the result, reap() reports it. Shared ops, defined in be.c.
 */
struct be_sync_queue {
	struct be_queue base;
	struct be_done_ring done;
};

int be_sync_queue_create(struct be *be, unsigned depth, struct be_queue **out);
void be_sync_queue_destroy(struct be_queue *q);
int be_sync_queue_fd(struct be_queue *q);
void be_sync_kick(struct be_queue *q);
int be_sync_reap(struct be_queue *q);

/* Room for one more result? Check before doing the work. */
bool be_sync_has_room(struct be_queue *q);
/* Record io's result for the next reap(); the caller checked be_sync_has_room(). */
void be_sync_complete(struct be_queue *q, struct be_io *io, int res);

#endif
