/* SPDX-License-Identifier: MIT */
/*
 * rpc_export_ops (rpc_exports.h): each control method's effect on the
 * export list, the device and the vhost-user server; rpc.c has already
 * checked the request.
 */
#include "rpc_exports.h"

#include <errno.h>
#include <string.h>

#include "internal/log.h"
#include "resize.h"

static struct export *find(struct rpc_exports *x, const char *name, struct export ***link)
{
	for (struct export **pp = x->exports; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->name, name)) {
			if (link)
				*link = pp;
			return *pp;
		}
	}
	return NULL;
}

static void info(const struct export *e, struct rpc_export_info *out)
{
	struct export_status st;

	export_status(e, &st);
	*out = (struct rpc_export_info){
	    .name = e->name,
	    .socket = e->socket,
	    .disk = e->disk,
	    .size = st.size,
	    .read_only = st.ro,
	    .writeback = st.writeback,
	    .can_flush = e->dev.features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH),
	    .num_queues = e->dev.num_queues,
	    .connected = st.vu.connected,
	    .features = st.vu.features,
	    .packed = st.vu.packed,
	    .queues = st.vu.queues,
	};
	blk_dev_get_limits((struct blk_dev *)&e->dev, &out->limits);
}

static void ops_list(void *ctx, void (*fn)(void *arg, const struct rpc_export_info *e), void *arg)
{
	struct rpc_exports *x = ctx;

	for (struct export *e = *x->exports; e; e = e->next) {
		struct rpc_export_info i;

		info(e, &i);
		fn(arg, &i);
	}
}

static int ops_lookup(void *ctx, const char *name, struct rpc_export_info *out)
{
	struct export *e = find(ctx, name, NULL);

	if (!e)
		return -ENOENT;
	info(e, out);
	return 0;
}

static int ops_add(void *ctx, const char *name, const char *socket, const char *disk,
		   char err[ERRMSG_LEN])
{
	struct rpc_exports *x = ctx;
	struct export_cfg cfg = {.name = name,
				 .socket_path = socket,
				 .disk = disk,
				 .fd = -1,
				 .done_fd = -1,
				 .resize_fd = x->resize_fd,
				 .perm = x->perm};
	struct export *e, **tail;
	int ret;

	ret = export_start(&cfg, &e, err);
	if (ret)
		return ret;
	for (tail = x->exports; *tail; tail = &(*tail)->next)
		;
	*tail = e;
	log_info("%s: added through the control socket", e->name);
	return 0;
}

static int ops_remove(void *ctx, const char *name)
{
	struct export **link, *e = find(ctx, name, &link);

	if (!e)
		return -ENOENT;
	*link = e->next;
	return export_stop(e);
}

static int ops_resize(void *ctx, const char *name, uint64_t size, uint64_t *before, uint64_t *after)
{
	struct export *e = find(ctx, name, NULL);
	int ret;

	if (!e)
		return -ENOENT;
	log_set_thread_tag(e->name);
	ret = vblkd_resize(&e->dev, e->srv, size, before, after);
	log_set_thread_tag(NULL);
	return ret;
}

static int ops_stats(void *ctx, const char *name, struct blk_stats *total,
		     struct blk_stats *per_queue, unsigned nq)
{
	struct export *e = find(ctx, name, NULL);

	return e ? blk_dev_stats(&e->dev, total, per_queue, nq) : -ENOENT;
}

static int ops_set_limits(void *ctx, const char *name, const struct blk_limits *l)
{
	struct export *e = find(ctx, name, NULL);
	int ret;

	if (!e)
		return -ENOENT;
	ret = blk_dev_set_limits(&e->dev, l);
	if (!ret)
		log_info("%s: I/O limits changed through the control socket", e->name);
	return ret;
}

static int ops_set_writeback(void *ctx, const char *name, bool writeback)
{
	struct export *e = find(ctx, name, NULL);

	return e ? blk_dev_set_writeback(&e->dev, writeback, true) : -ENOENT;
}

const struct rpc_ops rpc_export_ops = {
    .list = ops_list,
    .lookup = ops_lookup,
    .add = ops_add,
    .remove = ops_remove,
    .resize = ops_resize,
    .stats = ops_stats,
    .set_limits = ops_set_limits,
    .set_writeback = ops_set_writeback,
};
