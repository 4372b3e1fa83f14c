/* SPDX-License-Identifier: MIT */
/*
 * A scripted test backend: records every submission (op, flags, offset),
 * completes them synchronously from reap() with a chosen result, and refuses
 * with -EAGAIN while `limit` submissions are unreaped.
 */
#ifndef VBLK_TESTS_TBE_H
#define VBLK_TESTS_TBE_H

#include "blk_test.h"
#include "internal/iov.h"

#define TBE_MAX 256

struct tbe_rec {
	enum be_op op;
	unsigned flags;
	uint64_t offset, len;
};

struct tbe {
	struct be base;
	struct be_queue q;
	unsigned limit; /* 0: no limit */
	int res[8];	/* result per op */
	struct tbe_rec rec[TBE_MAX];
	unsigned nrec, neagain;
	struct be_io *held[TBE_MAX];
	unsigned nheld;
};

static inline struct tbe *tbe_of(struct be *be)
{
	return container_of(be, struct tbe, base);
}

static int tbe_queue_create(struct be *be, unsigned depth, struct be_queue **out)
{
	tbe_of(be)->q.be = be;
	*out = &tbe_of(be)->q;
	return 0;
}

static void tbe_queue_destroy(struct be_queue *q)
{
}
static int tbe_queue_fd(struct be_queue *q)
{
	return -1;
}
static void tbe_kick(struct be_queue *q)
{
}

static int tbe_submit(struct be_queue *q, struct be_io *io)
{
	struct tbe *t = tbe_of(q->be);

	if (t->limit && t->nheld >= t->limit) {
		t->neagain++;
		return -EAGAIN;
	}
	CHECK(t->nrec < TBE_MAX);
	t->rec[t->nrec++] = (struct tbe_rec){io->op, io->flags, io->offset, io->len};
	t->held[t->nheld++] = io;
	return 0;
}

static int tbe_reap(struct be_queue *q)
{
	struct tbe *t = tbe_of(q->be);
	unsigned n = t->nheld;
	struct be_io *held[TBE_MAX];

	memcpy(held, t->held, n * sizeof(held[0]));
	t->nheld = 0;
	for (unsigned i = 0; i < n; i++) {
		if (held[i]->op == BE_OP_READ)
			iov_memset(held[i]->iov, held[i]->iovcnt, 0, 0, held[i]->len);
		held[i]->done(held[i], t->res[held[i]->op]);
	}
	return (int)n;
}

static const struct be_ops tbe_ops = {
    .name = "test",
    .queue_create = tbe_queue_create,
    .queue_destroy = tbe_queue_destroy,
    .queue_fd = tbe_queue_fd,
    .submit = tbe_submit,
    .kick = tbe_kick,
    .reap = tbe_reap,
};

static inline void tbe_init(struct tbe *t, uint64_t size, bool can_flush)
{
	memset(t, 0, sizeof(*t));
	t->base.ops = &tbe_ops;
	t->base.info = (struct be_info){
	    .size = size,
	    .align = 1,
	    .can_flush = can_flush,
	    .can_discard = true,
	    .can_write_zeroes = true,
	};
}

#endif
