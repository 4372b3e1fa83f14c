/* SPDX-License-Identifier: MIT */
/*
 * Null backend ("null:SIZE"): reads return zeroes, writes are dropped, every
 * operation succeeds at once. For benchmarking the rings and the engine
 * without storage. Synchronous (queue_fd is -1).
 */
#include "be.h"

#include <errno.h>
#include <stdlib.h>

#include "be_priv.h"
#include "internal/compiler.h"
#include "internal/iov.h"
#include "internal/log.h"

static int null_open(const struct be_opts *opts, struct be **out)
{
	struct be *be;

	if (opts->size == 0) {
		log_err("null backend: size must be > 0");
		return -EINVAL;
	}
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->ops = &be_null_ops;
	/* Every sector already reads as zeroes, so discard and zeroing are free. */
	be->info = be_info_ram(opts->size, opts->ro);
	*out = be;
	return 0;
}

static void null_close(struct be *be)
{
	free(be);
}

static int null_submit(struct be_queue *bq, struct be_io *io)
{
	int res = 0;

	if (!be_sync_has_room(bq))
		return -EAGAIN;
	if (io->op == BE_OP_READ)
		iov_memset(io->iov, io->iovcnt, 0, 0, io->len);
	else if (io->op != BE_OP_FLUSH && bq->be->info.ro)
		res = -EROFS;
	be_sync_complete(bq, io, res);
	return 0;
}

const struct be_ops be_null_ops = {
    .name = "null",
    .open = null_open,
    .close = null_close,
    .queue_create = be_sync_queue_create,
    .queue_destroy = be_sync_queue_destroy,
    .queue_fd = be_sync_queue_fd,
    .submit = null_submit,
    .kick = be_sync_kick,
    .reap = be_sync_reap,
};
