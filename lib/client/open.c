/* SPDX-License-Identifier: MIT */
/*
 * libvblk device life cycle: vblk_open() picks the transport from the
 * target (a socket path, or "pci:" and a PCI address), lets it negotiate,
 * lays out the region the device reaches, has the transport map it, and
 * starts every queue; vblk_close() stops them and frees everything,
 * tolerating a half-built device; the accessors that only read what open
 * set up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <vblk/spec/vhost_user.h>
#include <vblk/spec/virtio_ring.h>

#include "client.h"

static unsigned indir_max(void)
{
	return CLIENT_REQ_MAX_SG;
}

/*
 * Lay out queue q at *off in the region; advance *off. Split: §2.7 areas,
 * used ring on its own page. Packed (§2.8.10.1): a 16-aligned descriptor
 * ring and two 4-byte event structures; a packed descriptor is as large as a
 * split one, so the indirect tables are the same size.
 */
static void layout_queue(struct vblk_queue *q, unsigned num, bool packed, bool chunked, size_t *off)
{
	size_t o = client_align_up(*off, CLIENT_PAGE), start = o;

	q->off_desc = o;
	if (packed) {
		o += (size_t)num * sizeof(struct virtq_packed_desc);
		q->off_avail = o;
		o += sizeof(struct virtq_packed_event);
		q->off_used = o;
		o += sizeof(struct virtq_packed_event);
	} else {
		o += virtq_desc_size(num);
		q->off_avail = o;
		o += virtq_avail_size(num);
		o = client_align_up(o, CLIENT_PAGE);
		q->off_used = o;
		o += virtq_used_size(num);
	}
	o = client_align_up(o, CLIENT_PAGE);
	q->off_indir = o;
	o += (size_t)num * indir_max() * sizeof(struct virtq_desc);
	o = client_align_up(o, 64);
	q->off_shm = o;
	o += (size_t)q->nreqs * sizeof(struct client_req_shm);
	/*
	 * Device addresses jump at chunk boundaries (PCI): a queue that would
	 * straddle one starts on the next instead, so its rings and tables are
	 * contiguous for the device (larger ones are checked by the transport).
	 */
	if (chunked && start / CLIENT_DMA_CHUNK != (o - 1) / CLIENT_DMA_CHUNK &&
	    start % CLIENT_DMA_CHUNK) {
		*off = client_align_up(start, CLIENT_DMA_CHUNK);
		layout_queue(q, num, packed, false, off);
		return;
	}
	*off = o;
}

/* Initialise q's driver ring, split or packed, on its areas of the region. */
static int init_ring(struct vblk *dev, struct vblk_queue *q, unsigned num, bool event_idx,
		     bool indirect)
{
	struct vq_drv_layout l = {
	    .packed = dev->packed,
	    .num = (uint16_t)num,
	    .event_idx = event_idx,
	    .indirect = indirect,
	    .desc = dev->mem + q->off_desc,
	    .driver = dev->mem + q->off_avail,
	    .device = dev->mem + q->off_used,
	    .state = q->state,
	    .indir = dev->mem + q->off_indir,
	    .indir_addr = client_dev_addr(dev, dev->mem + q->off_indir),
	    .indir_max = (uint16_t)indir_max(),
	};

	return vq_drv_init_layout(&q->vq, &l);
}

static int setup_queue_mem(struct vblk *dev, struct vblk_queue *q, unsigned num, bool event_idx,
			   bool indirect)
{
	int ret;

	q->state = calloc(num, vq_drv_state_size(dev->packed));
	q->reqs = calloc(q->nreqs, sizeof(*q->reqs));
	if (!q->state || !q->reqs)
		return -ENOMEM;
	ret = init_ring(dev, q, num, event_idx, indirect);
	if (ret)
		return ret;
	for (unsigned i = 0; i < q->nreqs; i++) {
		struct client_req *r = &q->reqs[i];
		r->shm = (struct client_req_shm *)(void *)(dev->mem + q->off_shm) + i;
		r->shm_addr = client_dev_addr(dev, r->shm);
		client_req_push(&q->free, r);
	}
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->call_fd < 0)
		return -errno;
	q->wake_fd = q->call_fd;
	return 0;
}

/* Zero-filled, cache-line aligned queue array (see struct vblk_queue). */
static struct vblk_queue *alloc_queues(unsigned n)
{
	/* C11 aligned_alloc: the size is a multiple of the alignment, as sizeof is. */
	size_t size = (size_t)n * sizeof(struct vblk_queue);
	struct vblk_queue *q = aligned_alloc(_Alignof(struct vblk_queue), size);

	if (q)
		memset(q, 0, size);
	return q;
}

/* Are the words reserved for future options all zero? */
static bool reserved_zero(const struct vblk_options *o)
{
	for (size_t i = 0; i < ARRAY_SIZE(o->reserved); i++)
		if (o->reserved[i])
			return false;
	return true;
}

int vblk_open(const char *socket_path, const struct vblk_options *opts, struct vblk **out)
{
	struct vblk_options o = {0};
	struct vblk *dev;
	uint64_t acked = 0;
	size_t off = 0;
	bool event_idx, indirect;
	int ret;

	client_clear_error();
	if (opts)
		o = *opts;
	if (!o.num_queues)
		o.num_queues = 1;
	if (!o.queue_size)
		o.queue_size = CLIENT_DEFAULT_QUEUE_SIZE;
	if (!o.buffer_size)
		o.buffer_size = CLIENT_DEFAULT_BUFFER_SIZE;
	/* §2.7: a split ring's size is a power of two; §2.8: any size up to 2^15. */
	if (o.queue_size > VIRTQ_SPLIT_MAX_SIZE ||
	    (!(o.flags & VBLK_OPEN_PACKED_RING) && (o.queue_size & (o.queue_size - 1))) ||
	    o.num_queues > VHOST_USER_VRING_IDX_MASK + 1 || o.buffer_size > (1ull << 40) ||
	    (o.flags & ~(VBLK_OPEN_PACKED_RING | VBLK_OPEN_QUEUES_UP_TO | VBLK_OPEN_INTERRUPTS)) ||
	    o.poll_us > CLIENT_POLL_US_MAX || !reserved_zero(&o)) {
		client_set_error(
		    &o, "invalid options (queue size must be <= 32768, and a power of two for "
			"a split ring; poll_us <= 1000000; unknown flags and reserved words "
			"must be zero)");
		return -EINVAL;
	}

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->opts = o;
	dev->memfd = -1;
	dev->vu.sock = -1;
	pthread_mutex_init(&dev->alloc_lock, NULL);

	dev->tr = strncmp(socket_path, CLIENT_PCI_PREFIX, strlen(CLIENT_PCI_PREFIX))
		      ? &client_transport_vhost_user
		      : &client_transport_pci;
	ret = dev->tr->open(dev, socket_path, &o, &acked);
	if (ret)
		goto err;
	/* A transport that can stop its device bounds each request (vblk.h: timeout_ms). */
	if (dev->tr->abandon) {
		struct timespec res;
		dev->io_timeout_ms = o.timeout_ms ? o.timeout_ms : CLIENT_IO_DEFAULT_MS;
		if (!clock_getres(CLOCK_MONOTONIC_COARSE, &res))
			dev->clock_slack_ms = (unsigned)(res.tv_nsec / 1000000 + 1);
	}
	/* client_choose_features() let a larger count through only with VBLK_OPEN_QUEUES_UP_TO. */
	if (o.num_queues > dev->info.max_queues)
		o.num_queues = dev->info.max_queues;
	dev->opts = o;
	event_idx = acked & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	indirect = acked & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	dev->packed = acked & VIRTIO_BIT(VIRTIO_F_RING_PACKED);

	dev->queues = alloc_queues(o.num_queues);
	if (!dev->queues) {
		ret = -ENOMEM;
		goto err;
	}
	dev->nqueues = o.num_queues;
	for (unsigned i = 0; i < o.num_queues; i++) {
		struct vblk_queue *q = &dev->queues[i];
		q->dev = dev;
		q->index = i;
		q->poll_ns = o.poll_us * 1000u; /* the full window first: queue.c adapts it */
		q->kick_fd = q->call_fd = q->irq_fd = q->wake_fd = -1;
		q->nreqs = 2 * o.queue_size;
		layout_queue(q, o.queue_size, dev->packed, dev->tr != &client_transport_vhost_user,
			     &off);
	}
	dev->pool_off = client_align_up(off, CLIENT_DMA_CHUNK);
	dev->pool_size = client_align_up(o.buffer_size, CLIENT_PAGE);
	dev->mem_size = dev->pool_off + dev->pool_size;
	dev->npages = dev->pool_size / CLIENT_PAGE;
	dev->alloc_len = calloc(dev->npages, sizeof(*dev->alloc_len));
	dev->page_used = calloc(dev->npages, 1);
	if (!dev->alloc_len || !dev->page_used) {
		ret = -ENOMEM;
		goto err;
	}

	ret = dev->tr->map(dev);
	if (ret)
		goto err;
	for (unsigned i = 0; i < dev->nqueues; i++) {
		struct vblk_queue *q = &dev->queues[i];
		ret = setup_queue_mem(dev, q, o.queue_size, event_idx, indirect);
		if (ret) {
			client_set_error(&o, "setting up queue %u: %s", i, strerror(-ret));
			goto err;
		}
		ret = dev->tr->start_queue(dev, q, o.queue_size);
		if (ret)
			goto err;
	}
	if (dev->tr->go_live) {
		ret = dev->tr->go_live(dev);
		if (ret)
			goto err;
	}
	dev->info.num_queues = o.num_queues;
	dev->info.queue_size = o.queue_size;
	*out = dev;
	return 0;

err:
	vblk_close(dev);
	return ret;
}

void vblk_close(struct vblk *dev)
{
	if (!dev)
		return;
	if (dev->tr)
		dev->tr->close(dev);
	for (unsigned i = 0; dev->queues && i < dev->nqueues; i++) {
		struct vblk_queue *q = &dev->queues[i];
		if (q->call_fd >= 0)
			close(q->call_fd);
		free(q->state);
		free(q->reqs);
	}
	free(dev->queues);
	if (dev->mem)
		munmap(dev->mem, dev->mem_size);
	if (dev->memfd >= 0)
		close(dev->memfd);
	free(dev->dma_phys);
	free(dev->alloc_len);
	free(dev->page_used);
	pthread_mutex_destroy(&dev->alloc_lock);
	free(dev);
}

int vblk_get_info(const struct vblk *dev, struct vblk_info *info)
{
	*info = dev->info;
	return 0;
}

struct vblk_queue *vblk_get_queue(struct vblk *dev, unsigned index)
{
	return index < dev->nqueues ? &dev->queues[index] : NULL;
}

int vblk_queue_fd(const struct vblk_queue *q)
{
	return q->wake_fd;
}

unsigned vblk_queue_pending(const struct vblk_queue *q)
{
	return q->pending;
}
