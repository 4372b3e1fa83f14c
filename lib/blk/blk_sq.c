/* SPDX-License-Identifier: MIT */
/*
 * The submit queue (blk_sq.h): one backend queue and the FIFO of I/Os it
 * refused with -EAGAIN.
 */
#include "blk_sq.h"

#include <errno.h>
#include <string.h>

#include "internal/log.h"

int blk_sq_init(struct blk_sq *sq, struct be *be, unsigned depth)
{
	int ret;

	memset(sq, 0, sizeof(*sq));
	sq->be = be;
	ret = be->ops->queue_create(be, depth, &sq->bq);
	if (ret < 0) {
		sq->bq = NULL;
		return ret;
	}
	sq->sync = be->ops->queue_fd(sq->bq) < 0;
	return 0;
}

void blk_sq_fini(struct blk_sq *sq)
{
	if (sq->bq)
		sq->be->ops->queue_destroy(sq->bq);
	sq->bq = NULL;
}

int blk_sq_fd(const struct blk_sq *sq)
{
	return sq->be->ops->queue_fd(sq->bq);
}

void blk_sq_submit(struct blk_sq *sq, struct blk_sq_entry *e)
{
	int ret;

	/* Behind earlier waiters: keep the order the driver submitted in. */
	if (!fifo_empty(&sq->pend)) {
		fifo_push(&sq->pend, &e->link);
		return;
	}
	ret = sq->be->ops->submit(sq->bq, &e->io);
	if (ret == -EAGAIN)
		fifo_push(&sq->pend, &e->link);
	else if (ret < 0)
		e->io.done(&e->io, ret);
	else if (sq->sync)
		sq->ready = true; /* be.h: its result waits for reap() */
}

void blk_sq_kick(struct blk_sq *sq)
{
	const struct be_ops *ops = sq->be->ops;

	if (!ops->kick_ready)
		ops->kick(sq->bq);
	else if (ops->kick_ready(sq->bq))
		sq->ready = true;
}

/* Submit waiting entries in order until the backend refuses again. */
static unsigned dispatch_pending(struct blk_sq *sq)
{
	unsigned n = 0;

	while (!fifo_empty(&sq->pend)) {
		struct blk_sq_entry *e = fifo_peek_entry(&sq->pend, struct blk_sq_entry, link);
		int ret = sq->be->ops->submit(sq->bq, &e->io);

		if (ret == -EAGAIN)
			break;
		fifo_pop(&sq->pend);
		n++;
		if (ret < 0)
			e->io.done(&e->io, ret);
		else if (sq->sync)
			sq->ready = true;
	}
	if (n)
		blk_sq_kick(sq);
	return n;
}

unsigned blk_sq_poll(struct blk_sq *sq)
{
	int reaped;

	/* reap() takes every result there is now; a later submit or kick sets it again. */
	sq->ready = false;
	reaped = sq->be->ops->reap(sq->bq);

	if (reaped < 0) {
		log_warn("virtio-blk: backend reap failed: %s", strerror(-reaped));
		reaped = 0;
	}
	return (unsigned)reaped + dispatch_pending(sq);
}
