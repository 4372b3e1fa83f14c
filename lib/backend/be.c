/* SPDX-License-Identifier: MIT */
/*
 * Backend selection: turns a spec string ("null:SIZE", "memory:SIZE" or a
 * path) into an open backend, and the size parser shared with the tools.
 */
#include "be.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "be_nbd.h"
#include "be_priv.h"
#include "internal/compiler.h"
#include "internal/log.h"
#include "internal/nbd_uri.h"
#include "internal/size.h"

static int open_sized(const struct be_ops *ops, const char *name, const char *arg,
		      const struct be_opts *opts, struct be **out)
{
	struct be_opts o = *opts;
	uint64_t size;
	int ret = size_parse(arg, &size);

	if (ret < 0 || size == 0) {
		vblk_err("%s backend: bad size '%s' (want N[KMGT], N > 0)", name, arg);
		return ret < 0 ? ret : -EINVAL;
	}
	o.path = NULL;
	o.size = size;
	return ops->open(&o, out);
}

int be_open(const char *spec, const struct be_opts *opts, struct be **out)
{
	static const struct be_opts defaults;
	struct be_opts o;

	if (!spec || !*spec || !out) {
		vblk_err("backend: empty specification");
		return -EINVAL;
	}
	o = opts ? *opts : defaults;
	/* A file literally named "null:..." can still be reached as "./null:...". */
	if (strncmp(spec, "null:", 5) == 0)
		return open_sized(&be_null_ops, "null", spec + 5, &o, out);
	if (strncmp(spec, "memory:", 7) == 0)
		return open_sized(&be_mem_ops, "memory", spec + 7, &o, out);
	o.path = spec;
	if (is_nbd_uri(spec)) {
#ifdef VBLK_HAVE_NBD
		return be_nbd_ops.open(&o, out);
#else
		vblk_err("backend: %s: this build has no NBD support (libnbd)", spec);
		return -ENOTSUP;
#endif
	}
	return be_file_ops.open(&o, out);
}

int be_sync_queue_create(struct be *be, unsigned depth, struct be_queue **out)
{
	struct be_sync_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	if (be_done_ring_init(&q->done, depth) < 0) {
		free(q);
		return -ENOMEM;
	}
	q->base.be = be;
	*out = &q->base;
	return 0;
}

void be_sync_queue_destroy(struct be_queue *bq)
{
	struct be_sync_queue *q;

	if (!bq)
		return;
	q = container_of(bq, struct be_sync_queue, base);
	be_done_ring_fini(&q->done);
	free(q);
}

int be_sync_queue_fd(struct be_queue *bq)
{
	return -1;
}

void be_sync_kick(struct be_queue *bq)
{
}

int be_sync_reap(struct be_queue *bq)
{
	return be_done_ring_reap(&container_of(bq, struct be_sync_queue, base)->done);
}

bool be_sync_has_room(struct be_queue *bq)
{
	return !be_done_ring_full(&container_of(bq, struct be_sync_queue, base)->done);
}

void be_sync_complete(struct be_queue *bq, struct be_io *io, int res)
{
	be_done_ring_push(&container_of(bq, struct be_sync_queue, base)->done, io, res);
}
