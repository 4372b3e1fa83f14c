/* SPDX-License-Identifier: MIT */
/*
 * Memory backend ("memory:SIZE"): a private anonymous mapping, so untouched
 * sectors cost nothing and read as zeroes. Synchronous: submit() does the
 * copy and reap() reports it (queue_fd is -1). Every operation is supported;
 * discard and write zeroes clear the range. Queues of different threads may
 * touch the same bytes concurrently, exactly as on a real disk.
 */
#include "be.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "be_priv.h"
#include "internal/compiler.h"
#include "internal/iov.h"
#include "internal/log.h"

struct mem_be {
	struct be base;
	uint8_t *mem;
};

static int mem_open(const struct be_opts *opts, struct be **out)
{
	struct mem_be *m;

	if (opts->size == 0 || opts->size > SIZE_MAX) {
		log_err("memory backend: bad size %llu", (unsigned long long)opts->size);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	/* NORESERVE: a large sparse disk must not need its full size in commit charge. */
	m->mem = mmap(NULL, opts->size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->mem == MAP_FAILED) {
		int err = errno;

		log_err("memory backend: cannot map %llu bytes: %s", (unsigned long long)opts->size,
			strerror(err));
		free(m);
		return -err;
	}
	m->base.ops = &be_mem_ops;
	m->base.info = be_info_ram(opts->size, opts->ro);
	*out = &m->base;
	return 0;
}

static void mem_close(struct be *be)
{
	struct mem_be *m;

	if (!be)
		return;
	m = container_of(be, struct mem_be, base);
	munmap(m->mem, be->info.size);
	free(m);
}

static int mem_do(struct mem_be *m, const struct be_io *io)
{
	const struct be_info *info = &m->base.info;

	if (io->op == BE_OP_FLUSH)
		return 0;
	if (io->offset > info->size || io->len > info->size - io->offset)
		return -EINVAL;
	switch (io->op) {
	case BE_OP_READ:
		if (iov_from_buf(io->iov, io->iovcnt, 0, m->mem + io->offset, io->len) != io->len)
			return -EINVAL;
		return 0;
	case BE_OP_WRITE:
		if (info->ro)
			return -EROFS;
		if (iov_to_buf(io->iov, io->iovcnt, 0, m->mem + io->offset, io->len) != io->len)
			return -EINVAL;
		return 0;
	case BE_OP_DISCARD:
	case BE_OP_WRITE_ZEROES:
	case BE_OP_SECURE_ERASE:
		if (info->ro)
			return -EROFS;
		memset(m->mem + io->offset, 0, io->len);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static int mem_submit(struct be_queue *bq, struct be_io *io)
{
	if (!be_sync_has_room(bq))
		return -EAGAIN;
	be_sync_complete(bq, io, mem_do(container_of(bq->be, struct mem_be, base), io));
	return 0;
}

const struct be_ops be_mem_ops = {
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .queue_create = be_sync_queue_create,
    .queue_destroy = be_sync_queue_destroy,
    .queue_fd = be_sync_queue_fd,
    .submit = mem_submit,
    .kick = be_sync_kick,
    .reap = be_sync_reap,
};
