/* SPDX-License-Identifier: MIT */
/*
 * The vq_dev_* verbs: one entry per operation, doing what both layouts share
 * (allocation, validation, resetting the common state, the inflight region's
 * size and attachment) and dispatching the rest to the split ring
 * (vq_dev_split.c, virtio 1.3 §2.7) or the packed ring (vq_dev_packed.c,
 * §2.8) through their vq_dev_ops table, chosen by vq->packed, which only
 * vq_dev_init_ring sets.
 */
#include "vq_dev.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vq_dev_ops.h"

int vq_dev_init_ring(struct vq_dev *vq, unsigned num, bool packed)
{
	bool event_idx = vq->event_idx, indirect = vq->indirect;
	int ret;

	/* §2.7: a split ring's Queue Size is a power of 2; §2.8 has no such rule. */
	if (num == 0 || num > VQ_DEV_MAX_SIZE || num > VQ_PACKED_MAX_SIZE ||
	    (!packed && (num & (num - 1)) != 0))
		return -EINVAL;
	memset(vq, 0, sizeof(*vq));
	/*
	 * event_idx and indirect are left alone: the transport learns the
	 * features (SET_FEATURES) independently of the ring size
	 * (SET_VRING_NUM), in either order.
	 */
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->packed = packed;
	vq->num = (uint16_t)num;
	/* Allocated here so that recovery at start never fails for memory. */
	vq->resubmit = calloc(num, sizeof(*vq->resubmit));
	if (vq->resubmit == NULL)
		return -ENOMEM;
	ret = vq_dev_ops(vq)->init(vq);
	if (ret)
		vq_dev_fini(vq);
	return ret;
}

void vq_dev_fini(struct vq_dev *vq)
{
	bool event_idx, indirect;

	if (vq == NULL)
		return;
	/* Each accepts a zeroed or half-built state of its own layout. */
	vq_dev_ops(vq)->fini(vq);
	free(vq->resubmit);
	event_idx = vq->event_idx;
	indirect = vq->indirect;
	memset(vq, 0, sizeof(*vq));
	vq->event_idx = event_idx;
	vq->indirect = indirect;
}

int vq_dev_map_areas(const struct vq_dev *vq, const struct vq_mem *mem, uint64_t desc_uva,
		     uint64_t driver_uva, uint64_t device_uva, struct vq_dev_areas *areas)
{
	const uint64_t uva[3] = {desc_uva, driver_uva, device_uva};
	void *hva[3];
	size_t size[3], align[3];
	int ret;

	if (vq->num == 0)
		return -EINVAL;
	vq_dev_ops(vq)->area_sizes(vq->num, size, align);
	/* Each whole area, event fields included, contiguous in one region. */
	for (unsigned i = 0; i < 3; i++) {
		ret = vq_map_area(mem, uva[i], size[i], align[i], &hva[i]);
		if (ret)
			return ret;
	}
	areas->desc = hva[0];
	areas->driver = hva[1];
	areas->device = hva[2];
	return 0;
}

int vq_dev_start_areas(struct vq_dev *vq, const struct vq_mem *mem,
		       const struct vq_dev_areas *areas, uint32_t base)
{
	int ret;

	if (vq->num == 0 || vq->resubmit == NULL || mem == NULL || areas->desc == NULL ||
	    areas->driver == NULL || areas->device == NULL)
		return -EINVAL;
	/* Checks the areas' alignment and base, sets the layout's part of the state. */
	ret = vq_dev_ops(vq)->start(vq, areas, base);
	if (ret)
		return ret;
	vq->mem = mem;
	vq->inflight = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->broken = false;
	vq->broken_logged = false;
	vq->resubmit_num = vq->resubmit_next = 0;
	vq->inflight_recovered = false;
	if (vq->inflight_region == NULL)
		return 0;
	return vq_dev_ops(vq)->inflight_start(vq, base);
}

uint32_t vq_dev_get_base(const struct vq_dev *vq)
{
	return vq_dev_ops(vq)->get_base(vq);
}

size_t vq_dev_inflight_size_ring(unsigned num, bool packed)
{
	if (packed)
		return sizeof(struct vhost_user_inflight_packed_queue) +
		       (size_t)num * sizeof(struct vhost_user_inflight_desc_packed);
	return sizeof(struct vhost_user_inflight_split_queue) +
	       (size_t)num * sizeof(struct vhost_user_inflight_desc_split);
}

int vq_dev_set_inflight(struct vq_dev *vq, void *region, size_t len)
{
	if (region == NULL) {
		vq->inflight_region = NULL;
		return 0;
	}
	/*
	 * vhost-user.rst "Inflight I/O tracking" has a layout per ring type,
	 * and start checks the layout tag. The u64 fields are accessed in
	 * place: they must be naturally aligned.
	 */
	if (vq->num == 0 || vq->resubmit == NULL || (uintptr_t)region % 8 ||
	    len < vq_dev_inflight_size_ring(vq->num, vq->packed))
		return -EINVAL;
	vq->inflight_region = region;
	return 0;
}

unsigned vq_dev_resubmit_pending(const struct vq_dev *vq)
{
	return (unsigned)(vq->resubmit_num - vq->resubmit_next);
}

int vq_dev_pop(struct vq_dev *vq, struct vq_dev_elem *elem, struct iovec *iov, unsigned iov_max)
{
	struct vq_chain c = {.iov = iov, .iov_max = iov_max};
	uint16_t head;
	int ret;

	if (vq->broken)
		return -EIO;
	/* Our invariant: only a started queue is popped (start set mem and the areas). */
	assert(vq->mem != NULL);
	/* "Inflight I/O tracking": resubmit before taking new buffers. */
	if (vq->resubmit_next < vq->resubmit_num)
		ret = vq_dev_ops(vq)->pop_resubmit(vq, &c, &head);
	else
		ret = vq_dev_ops(vq)->pop(vq, &c, &head);
	if (ret == 1)
		vq_dev_elem_fill(elem, head, &c, iov);
	return ret;
}

void vq_dev_push(struct vq_dev *vq, uint16_t head, uint32_t len)
{
	vq_dev_ops(vq)->push(vq, head, len);
}

bool vq_dev_need_notify(struct vq_dev *vq)
{
	return vq_dev_ops(vq)->need_notify(vq);
}

void vq_dev_disable_kicks(struct vq_dev *vq)
{
	if (!vq->polling)
		vq_dev_ops(vq)->disable_kicks(vq);
}

bool vq_dev_enable_kicks(struct vq_dev *vq)
{
	/* Polling: kicks stay off, the caller only learns whether to pop again. */
	if (vq->polling)
		return vq_dev_ops(vq)->avail(vq);
	return vq_dev_ops(vq)->enable_kicks(vq);
}

void vq_dev_poll_start(struct vq_dev *vq)
{
	if (vq->polling)
		return;
	vq->polling = true;
	vq_dev_ops(vq)->hold_kicks(vq);
}

bool vq_dev_avail(struct vq_dev *vq)
{
	return vq_dev_ops(vq)->avail(vq);
}

bool vq_dev_poll_stop(struct vq_dev *vq)
{
	vq->polling = false;
	return vq_dev_ops(vq)->enable_kicks(vq);
}

void vq_dev_set_broken(struct vq_dev *vq, const char *why)
{
	vq_dev_broken(vq, "%s", why);
}
