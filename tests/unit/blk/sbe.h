/* SPDX-License-Identifier: MIT */
/*
 * A strict-alignment memory backend for testing the padding stage without a
 * file system: like O_DIRECT, every offset, length and buffer must be aligned
 * (align / mem_align), else the I/O fails with -EINVAL and `bad` counts it.
 * Synchronous (queue_fd -1); the copy happens at reap time, so an RMW's read
 * and write are separated by other queues' work. Each queue has its own
 * held list; queues may run in different threads.
 */
#ifndef VBLK_TESTS_SBE_H
#define VBLK_TESTS_SBE_H

#include <stdatomic.h>

#include "blk_test.h"
#include "internal/iov.h"

#define SBE_MAX 64

struct sbe {
	struct be base;
	uint8_t *mem;
	atomic_uint bad;
	atomic_uint nio;
};

struct sbe_queue {
	struct be_queue base;
	struct be_io *held[SBE_MAX];
	unsigned n;
};

static inline struct sbe *sbe_of(struct be *be)
{
	return container_of(be, struct sbe, base);
}

static int sbe_queue_create(struct be *be, unsigned depth, struct be_queue **out)
{
	struct sbe_queue *q = calloc(1, sizeof(*q));

	CHECK(q);
	q->base.be = be;
	*out = &q->base;
	return 0;
}

static void sbe_queue_destroy(struct be_queue *q)
{
	free(q);
}

static int sbe_queue_fd(struct be_queue *q)
{
	return -1;
}

static void sbe_kick(struct be_queue *q)
{
}

static bool sbe_io_ok(struct sbe *s, const struct be_io *io)
{
	uint64_t a = s->base.info.align, m = s->base.info.mem_align;

	if (io->offset > s->base.info.size || io->len > s->base.info.size - io->offset)
		return false;
	if (io->op != BE_OP_READ && io->op != BE_OP_WRITE)
		return true;
	if ((io->offset | io->len) & (a - 1))
		return false;
	for (unsigned i = 0; i < io->iovcnt; i++)
		if (((uintptr_t)io->iov[i].iov_base | io->iov[i].iov_len) & (m - 1))
			return false;
	return true;
}

static int sbe_submit(struct be_queue *bq, struct be_io *io)
{
	struct sbe_queue *q = container_of(bq, struct sbe_queue, base);

	if (q->n == SBE_MAX)
		return -EAGAIN;
	q->held[q->n++] = io;
	return 0;
}

static int sbe_reap(struct be_queue *bq)
{
	struct sbe_queue *q = container_of(bq, struct sbe_queue, base);
	struct sbe *s = sbe_of(bq->be);
	struct be_io *held[SBE_MAX];
	unsigned n = q->n;

	memcpy(held, q->held, n * sizeof(held[0]));
	q->n = 0;
	for (unsigned i = 0; i < n; i++) {
		struct be_io *io = held[i];
		int res = 0;

		atomic_fetch_add(&s->nio, 1);
		if (!sbe_io_ok(s, io)) {
			atomic_fetch_add(&s->bad, 1);
			res = -EINVAL;
		} else if (io->op == BE_OP_READ) {
			iov_from_buf(io->iov, io->iovcnt, 0, s->mem + io->offset, io->len);
		} else if (io->op == BE_OP_WRITE) {
			iov_to_buf(io->iov, io->iovcnt, 0, s->mem + io->offset, io->len);
		} else if (io->op != BE_OP_FLUSH) {
			memset(s->mem + io->offset, 0, io->len);
		}
		io->done(io, res);
	}
	return (int)n;
}

static const struct be_ops sbe_ops = {
    .name = "strict",
    .queue_create = sbe_queue_create,
    .queue_destroy = sbe_queue_destroy,
    .queue_fd = sbe_queue_fd,
    .submit = sbe_submit,
    .kick = sbe_kick,
    .reap = sbe_reap,
};

static inline void sbe_init(struct sbe *s, uint64_t size, uint32_t align, uint32_t mem_align)
{
	memset(s, 0, sizeof(*s));
	s->mem = calloc(1, size);
	CHECK(s->mem);
	s->base.ops = &sbe_ops;
	s->base.info = (struct be_info){
	    .size = size,
	    .align = align,
	    .mem_align = mem_align,
	    .can_flush = true,
	    .can_discard = true,
	    .can_write_zeroes = true,
	};
}

#endif
