/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk device for vu_server: per virtqueue one blk_queue and a
 * preallocated array of request slots, each a struct blk_req with an inline
 * iovec array, so the data path never allocates (the SPDK vhost model).
 *
 * Everything below the dev ops' queue_* callbacks runs on the queue's own
 * thread; the engine calls vub_done from the same thread (inside
 * blk_req_submit or blk_queue_process), so the free list needs no lock.
 *
 * The free list is a stack of slot indices kept apart from the slots: a slot
 * is ~16 KiB (iovecs for seg_max segments), so linking free slots through
 * their own headers would make one page of every slot resident (1 MiB per
 * queue of 256) before the first request; now only slots that ever served a
 * request are touched, and LIFO reuse keeps those few.
 */
#include "vu_blk.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/compiler.h"
#include "internal/log.h"

/*
 * Spare iovecs beyond one per descriptor: a buffer that straddles two memory
 * regions needs one iovec per region it touches.
 */
#define VU_BLK_IOV_SLACK 16

struct vu_blk_slot {
	struct blk_req req;
	uint32_t idx; /* own index, written when taken (slot_put needs it) */
	uint16_t head;
	unsigned in_num;    /* device-writable iovecs popped, after out_num */
	struct iovec iov[]; /* iov_max entries */
};

struct vu_blk_queue {
	struct blk_dev *d;
	struct vu_queue *q;
	struct blk_queue *bq;
	unsigned num;
	unsigned iov_max;
	size_t stride;
	unsigned char *slots; /* num slots of stride bytes */
	uint32_t *free;	      /* indices of the free slots, a stack of nfree */
	unsigned nfree;
};

static struct vu_blk_slot *slot_at(struct vu_blk_queue *bq, unsigned i)
{
	return (struct vu_blk_slot *)(void *)(bq->slots + (size_t)i * bq->stride);
}

static void slot_put(struct vu_blk_queue *bq, struct vu_blk_slot *s)
{
	bq->free[bq->nfree++] = s->idx;
}

/* The slot the next request gets (the last one freed), or NULL. */
static struct vu_blk_slot *slot_peek(struct vu_blk_queue *bq)
{
	return bq->nfree ? slot_at(bq, bq->free[bq->nfree - 1]) : NULL;
}

/* blk_req_done_fn: virtio 1.3 §2.7.8, used.len is what the engine says it wrote. */
static void vub_done(struct blk_req *req, uint32_t used_len, void *opaque)
{
	struct vu_blk_queue *bq = opaque;
	struct vu_blk_slot *s = container_of(req, struct vu_blk_slot, req);
	/* The engine trimmed the status byte off the device-writable iovecs. */
	struct iovec status = {.iov_base = req->status, .iov_len = 1};

	/* vhost-user.rst "Migration": everything the request may have written. */
	vu_queue_log_write(bq->q, s->iov + s->req.out_num, s->in_num);
	vu_queue_log_write(bq->q, &status, req->status ? 1 : 0);
	vu_queue_push(bq->q, s->head, used_len);
	slot_put(bq, s);
}

/*
 * Pop every available chain and hand it to the engine, with kicks suppressed
 * while we work and re-enabled at the end; buffers that arrive in between are
 * caught by the enable/re-check of virtio 1.3 §2.7.10.
 */
static bool vub_queue_kick(void *qdev)
{
	struct vu_blk_queue *bq = qdev;
	unsigned budget = bq->num; /* vu_dev_ops.queue_kick: a bounded batch */
	bool more = false;

	do {
		vu_queue_disable_kicks(bq->q);
		for (;;) {
			struct vu_blk_slot *s = slot_peek(bq);
			struct vq_dev_elem elem;
			int r;

			if (!s) {
				/*
				 * Every head is in flight: the driver cannot make
				 * anything available until we complete something
				 * (§2.7.13), and then it kicks. Chains available now
				 * would reuse in-flight heads.
				 */
				if (vu_queue_enable_kicks(bq->q))
					vu_queue_set_broken(bq->q, "chains available while every "
								   "head is in flight");
				goto out;
			}
			if (!budget--) {
				more = true;
				goto out;
			}
			r = vu_queue_pop(bq->q, &elem, s->iov, bq->iov_max);
			if (r < 0)
				goto out;
			if (r == 0)
				break;
			s->idx = bq->free[--bq->nfree];
			/* Not cleared: blk_req_submit sets the engine's fields (blk.h). */
			s->head = elem.head;
			s->req.iov = elem.iov;
			s->req.out_num = elem.out_num;
			s->req.in_num = elem.in_num;
			s->in_num = elem.in_num;
			if (!blk_req_submit(bq->bq, &s->req)) {
				/* No status byte to report through: a framing error. */
				slot_put(bq, s);
				vu_queue_set_broken(bq->q, "request without a status byte");
				goto out;
			}
		}
	} while (vu_queue_enable_kicks(bq->q));
out:
	blk_queue_kick(bq->bq);
	return more;
}

static void vub_queue_fd_ready(void *qdev)
{
	struct vu_blk_queue *bq = qdev;

	blk_queue_process(bq->bq);
}

static int vub_queue_fd(void *qdev)
{
	struct vu_blk_queue *bq = qdev;

	return blk_queue_fd(bq->bq);
}

static void vub_queue_drain(void *qdev)
{
	struct vu_blk_queue *bq = qdev;

	blk_queue_drain(bq->bq);
}

static unsigned vub_queue_inflight(void *qdev)
{
	struct vu_blk_queue *bq = qdev;

	return blk_queue_inflight(bq->bq);
}

static void vub_queue_stop(void *qdev)
{
	struct vu_blk_queue *bq = qdev;

	if (!bq)
		return;
	blk_queue_destroy(bq->bq);
	free(bq->free);
	free(bq->slots);
	free(bq);
}

static int vub_queue_start(void *dev, struct vu_queue *q, unsigned num, void **qdev)
{
	struct blk_dev *d = dev;
	struct vu_blk_queue *bq;
	int ret;

	bq = calloc(1, sizeof(*bq));
	if (!bq)
		return -ENOMEM;
	bq->d = d;
	bq->q = q;
	bq->num = num;
	/*
	 * One iovec per descriptor of the ring, or per segment the driver may
	 * put in an indirect table (seg_max data + header + status), plus slack.
	 */
	bq->iov_max = VBLK_MAX(num, VBLK_MIN(d->seg_max, 65536u) + 2) + VU_BLK_IOV_SLACK;
	bq->stride = sizeof(struct vu_blk_slot) + bq->iov_max * sizeof(struct iovec);
	bq->slots = calloc(num, bq->stride);
	bq->free = calloc(num, sizeof(*bq->free));
	if (!bq->slots || !bq->free) {
		ret = -ENOMEM;
		goto err_free;
	}
	for (unsigned i = num; i-- > 0;)
		bq->free[bq->nfree++] = i;
	ret = blk_queue_create(d, num, vub_done, bq, &bq->bq);
	if (ret)
		goto err_free;
	/* Statistics per virtqueue index (blk_dev_stats). */
	blk_queue_set_index(bq->bq, vu_queue_index(q));
	*qdev = bq;
	return 0;

err_free:
	free(bq->free);
	free(bq->slots);
	free(bq);
	return ret;
}

static uint64_t vub_get_features(void *dev)
{
	struct blk_dev *d = dev;

	return d->features;
}

static void vub_set_features(void *dev, uint64_t features)
{
	blk_dev_set_features(dev, features);
}

static unsigned vub_num_queues(void *dev)
{
	struct blk_dev *d = dev;

	return d->num_queues;
}

static uint32_t vub_get_config(void *dev, uint8_t *buf)
{
	struct virtio_blk_config cfg;

	_Static_assert(sizeof(cfg) <= VHOST_USER_MAX_CONFIG_SIZE, "config fits a message");
	blk_dev_get_config(dev, &cfg);
	memcpy(buf, &cfg, sizeof(cfg));
	return sizeof(cfg);
}

static int vub_set_config(void *dev, uint32_t off, const void *buf, uint32_t len)
{
	return blk_dev_set_config(dev, off, buf, len);
}

struct flush_wait {
	struct be_io io;
	bool done;
	int res;
};

static void flush_done(struct be_io *io, int res)
{
	struct flush_wait *w = container_of(io, struct flush_wait, io);

	w->done = true;
	w->res = res;
}

int vu_blk_flush(struct blk_dev *d)
{
	struct be *be = d->be;
	struct be_queue *q;
	struct flush_wait w;
	int ret, fd;

	if (d->ro || !be->info.can_flush)
		return 0;
	ret = be->ops->queue_create(be, 1, &q);
	if (ret)
		return ret;
	memset(&w, 0, sizeof(w));
	w.io.op = BE_OP_FLUSH;
	w.io.done = flush_done;
	ret = be->ops->submit(q, &w.io);
	if (ret)
		goto out_destroy;
	be->ops->kick(q);
	fd = be->ops->queue_fd(q);
	while (!w.done) {
		if (fd >= 0) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			poll(&p, 1, 100);
		}
		ret = be->ops->reap(q);
		if (ret < 0) {
			/* The flush is still owned by the backend: do not free its queue. */
			log_err("flush: reap: %s", strerror(-ret));
			return ret;
		}
		if (!w.done && fd < 0)
			usleep(1000);
	}
	ret = w.res;
out_destroy:
	be->ops->queue_destroy(q);
	return ret;
}

static int vub_flush(void *dev)
{
	return vu_blk_flush(dev);
}

const struct vu_dev_ops vu_blk_ops = {
    .get_features = vub_get_features,
    .set_features = vub_set_features,
    .num_queues = vub_num_queues,
    .get_config = vub_get_config,
    .set_config = vub_set_config,
    .queue_start = vub_queue_start,
    .queue_stop = vub_queue_stop,
    .queue_fd = vub_queue_fd,
    .queue_kick = vub_queue_kick,
    .queue_fd_ready = vub_queue_fd_ready,
    .queue_inflight = vub_queue_inflight,
    .queue_drain = vub_queue_drain,
    .flush = vub_flush,
};
