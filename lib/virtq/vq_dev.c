/* SPDX-License-Identifier: MIT */
/*
 * The vq_dev_* verbs: one entry per operation, dispatching to the split ring
 * (vq_dev_split.c, virtio 1.3 §2.7) or the packed ring (vq_dev_packed.c,
 * §2.8) on vq->packed, which only vq_dev_init_ring sets.
 *
 * For a packed queue the fields every layout shares are kept in step here:
 * num/event_idx/indirect are copied into the packed state when it starts, and
 * its inflight count and broken flag are mirrored back after each verb that
 * changes them, so transports read them the same way for both layouts.
 */
#include "vq_dev.h"

#include <errno.h>

#include "vq_dev_split.h"
#include "vq_priv.h"

static void packed_sync(struct vq_dev *vq)
{
	vq->inflight = vq->p.inflight;
	vq->broken = vq->p.broken;
	vq->broken_logged = vq->p.broken_logged;
	vq->inflight_recovered = vq->p.inflight_recovered;
}

int vq_dev_init_ring(struct vq_dev *vq, unsigned num, bool packed)
{
	int ret;

	vq->packed = packed;
	if (!packed)
		return vq_dev_split_init(vq, num);
	ret = vq_dev_packed_init(&vq->p, num);
	if (ret)
		return ret;
	vq->num = (uint16_t)num;
	vq->mem = NULL;
	packed_sync(vq);
	return 0;
}

int vq_dev_init(struct vq_dev *vq, unsigned num)
{
	return vq_dev_init_ring(vq, num, false);
}

void vq_dev_fini(struct vq_dev *vq)
{
	if (vq == NULL)
		return;
	/* Both accept a zeroed or half-built state, so a packed vq frees its split part too. */
	vq_dev_split_fini(vq);
	vq_dev_packed_fini(&vq->p);
	vq->packed = false;
}

int vq_dev_map_areas(const struct vq_dev *vq, const struct vq_mem *mem, uint64_t desc_uva,
		     uint64_t driver_uva, uint64_t device_uva, struct vq_dev_areas *areas)
{
	if (vq->packed)
		return vq_dev_packed_map_rings(mem, vq->num, desc_uva, driver_uva, device_uva,
					       (struct virtq_packed_desc **)&areas->desc,
					       (struct virtq_packed_event **)&areas->driver,
					       (struct virtq_packed_event **)&areas->device);
	return vq_dev_split_map_rings(
	    mem, vq->num, desc_uva, driver_uva, device_uva, (struct virtq_desc **)&areas->desc,
	    (struct virtq_avail **)&areas->driver, (struct virtq_used **)&areas->device);
}

int vq_dev_map_rings(const struct vq_mem *mem, unsigned num, uint64_t desc_uva, uint64_t avail_uva,
		     uint64_t used_uva, struct virtq_desc **desc, struct virtq_avail **avail,
		     struct virtq_used **used)
{
	return vq_dev_split_map_rings(mem, num, desc_uva, avail_uva, used_uva, desc, avail, used);
}

int vq_dev_start_areas(struct vq_dev *vq, const struct vq_mem *mem,
		       const struct vq_dev_areas *areas, uint32_t base)
{
	int ret;

	if (!vq->packed) {
		/* vhost-user.rst: a split ring's base is the 16-bit next avail index. */
		if (base > UINT16_MAX)
			return -EINVAL;
		return vq_dev_split_start(vq, mem, areas->desc, areas->driver, areas->device,
					  (uint16_t)base);
	}
	vq->p.event_idx = vq->event_idx;
	vq->p.indirect = vq->indirect;
	ret = vq_dev_packed_start(&vq->p, mem, areas->desc, areas->driver, areas->device, base);
	packed_sync(vq);
	if (ret)
		return ret;
	vq->mem = mem;
	packed_sync(vq);
	return 0;
}

int vq_dev_start(struct vq_dev *vq, const struct vq_mem *mem, struct virtq_desc *desc,
		 struct virtq_avail *avail, struct virtq_used *used, uint16_t base)
{
	if (vq->packed)
		return -EINVAL;
	return vq_dev_split_start(vq, mem, desc, avail, used, base);
}

uint32_t vq_dev_get_base(const struct vq_dev *vq)
{
	return vq->packed ? vq_dev_packed_get_base(&vq->p) : vq->last_avail_idx;
}

size_t vq_dev_inflight_size_ring(unsigned num, bool packed)
{
	return packed ? vq_dev_packed_inflight_size(num) : vq_dev_inflight_size(num);
}

int vq_dev_set_inflight(struct vq_dev *vq, void *region, size_t len)
{
	/*
	 * vhost-user.rst "Inflight I/O tracking" has a layout per ring type;
	 * the caller hands each ring a region of its own layout
	 * (vq_dev_inflight_size_ring), and each start checks the layout tag.
	 */
	if (vq->packed)
		return vq_dev_packed_set_inflight(&vq->p, region, len);
	return vq_dev_split_set_inflight(vq, region, len);
}

unsigned vq_dev_resubmit_pending(const struct vq_dev *vq)
{
	return vq->packed ? vq_dev_packed_resubmit_pending(&vq->p)
			  : vq_dev_split_resubmit_pending(vq);
}

int vq_dev_pop(struct vq_dev *vq, struct vq_dev_elem *elem, struct iovec *iov, unsigned iov_max)
{
	int ret;

	if (!vq->packed)
		return vq_dev_split_pop(vq, elem, iov, iov_max);
	ret = vq_dev_packed_pop(&vq->p, elem, iov, iov_max);
	packed_sync(vq);
	return ret;
}

void vq_dev_push(struct vq_dev *vq, uint16_t head, uint32_t len)
{
	if (!vq->packed) {
		vq_dev_split_push(vq, head, len);
		return;
	}
	vq_dev_packed_push(&vq->p, head, len);
	packed_sync(vq);
}

bool vq_dev_need_notify(struct vq_dev *vq)
{
	return vq->packed ? vq_dev_packed_need_notify(&vq->p) : vq_dev_split_need_notify(vq);
}

void vq_dev_disable_kicks(struct vq_dev *vq)
{
	if (vq->packed)
		vq_dev_packed_disable_kicks(&vq->p);
	else
		vq_dev_split_disable_kicks(vq);
}

bool vq_dev_enable_kicks(struct vq_dev *vq)
{
	return vq->packed ? vq_dev_packed_enable_kicks(&vq->p) : vq_dev_split_enable_kicks(vq);
}

void vq_dev_set_broken(struct vq_dev *vq, const char *why)
{
	if (!vq->packed) {
		vq_dev_split_set_broken(vq, why);
		return;
	}
	vq_dev_packed_set_broken(&vq->p, why);
	packed_sync(vq);
}
