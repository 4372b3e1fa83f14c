/* SPDX-License-Identifier: MIT */
/*
 * Driver side of the packed virtqueue (virtio 1.3 §2.8), after Linux
 * drivers/virtio/virtio_ring.c: the ring work behind the vq_drv_* verbs.
 *
 * Buffer IDs come from a free list kept in the private state array, with
 * each ID's slot count and writable length: nothing we rely on is read back
 * from the shared ring, which the device can write. A buffer's descriptors go
 * in consecutive ring slots (wrapping at the end, where the wrap counter
 * toggles); the first slot's flags are written last, so the device never sees
 * a partial list (§2.8.6, §2.8.21.1).
 *
 * The device's used elements are read at our used position when their
 * AVAIL and USED bits both equal our used wrap counter (§2.8.1, §2.8.22);
 * flags are read first and id/len after a read barrier, each once, and the
 * copies are validated (vq_drv.c) before use.
 *
 * Positions are (ring offset, wrap counter) pairs; for event arithmetic they
 * map to a linear position in [0, 2*num): offset + (wrap ? 0 : num).
 */
#include "vq_drv_ops.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "vq_priv.h"

static int packed_init(struct vq_drv *vq, const struct vq_drv_layout *l)
{
	struct vq_drv_packed *p = &vq->packed_ring;

	if (l->num == 0 || l->num > VQ_DRV_PACKED_MAX_SIZE)
		return -EINVAL;
	/* §2.8.10.1 alignment. */
	if ((uintptr_t)l->desc % 16 || (uintptr_t)l->driver % 4 || (uintptr_t)l->device % 4)
		return -EINVAL;
	p->desc = l->desc;
	p->driver_event = l->driver;
	p->device_event = l->device;
	p->indir = l->indir;
	memset(p->desc, 0, (size_t)l->num * sizeof(struct virtq_packed_desc));
	memset(p->driver_event, 0, sizeof(*p->driver_event));
	memset(p->device_event, 0, sizeof(*p->device_event));
	/* §2.8.1: both wrap counters start at 1. */
	p->avail_wrap = true;
	p->used_wrap = true;
	p->event_flags = VIRTQ_PACKED_EVENT_FLAG_ENABLE;
	return 0;
}

/* §2.8.21.1: AVAIL = our wrap counter, USED = its inverse. */
static uint16_t avail_bits(bool wrap)
{
	return wrap ? VQ_PACKED_F_AVAIL : VQ_PACKED_F_USED;
}

static void write_desc(struct virtq_packed_desc *d, uint64_t addr, uint32_t len, uint16_t id)
{
	d->addr = vblk_cpu_to_le64(addr);
	d->len = vblk_cpu_to_le32(len);
	d->id = vblk_cpu_to_le16(id);
}

static uint16_t packed_add(struct vq_drv *vq, const struct vq_drv_sg *sg, unsigned out_num,
			   unsigned total, bool indirect)
{
	struct vq_drv_packed *p = &vq->packed_ring;
	uint16_t head = p->next_avail, head_flags, id, pos = p->next_avail;
	bool wrap = p->avail_wrap;

	/* Slots in flight >= IDs in flight, so a free slot implies a free ID. */
	id = vq->free_head;
	vq->free_head = vq->state[id].next;

	if (indirect) {
		/* §2.8.7: table entries carry only WRITE; their ID is reserved. */
		struct virtq_packed_desc *t = p->indir + (size_t)id * vq->indir_max;
		for (unsigned k = 0; k < total; k++) {
			write_desc(&t[k], sg[k].addr, sg[k].len, 0);
			t[k].flags = vblk_cpu_to_le16(k >= out_num ? VIRTQ_DESC_F_WRITE : 0);
		}
		write_desc(&p->desc[pos],
			   vq->indir_addr +
			       (uint64_t)id * vq->indir_max * sizeof(struct virtq_packed_desc),
			   (uint32_t)(total * sizeof(struct virtq_packed_desc)), id);
		head_flags = (uint16_t)(VIRTQ_DESC_F_INDIRECT | avail_bits(wrap));
		vq_packed_advance(vq->num, &pos, &wrap, 1);
	} else {
		head_flags = 0;
		for (unsigned k = 0; k < total; k++) {
			uint16_t fl = (uint16_t)(k >= out_num ? VIRTQ_DESC_F_WRITE : 0);
			if (k + 1 < total)
				fl |= VIRTQ_DESC_F_NEXT;
			fl |= avail_bits(wrap);
			/* §2.8.6: the ID belongs in the last one; Linux puts it in all. */
			write_desc(&p->desc[pos], sg[k].addr, sg[k].len, id);
			if (k == 0)
				head_flags = fl;
			else
				WRITE_ONCE(p->desc[pos].flags, vblk_cpu_to_le16(fl));
			vq_packed_advance(vq->num, &pos, &wrap, 1);
		}
	}
	p->next_avail = pos;
	p->avail_wrap = wrap;

	/*
	 * Orders every descriptor store above (the first slot's addr/len/id,
	 * the other slots entirely, the indirect table) before the first
	 * slot's flags store below, which makes the whole buffer available
	 * at once (§2.8.21.1).
	 */
	smp_wmb();
	WRITE_ONCE(p->desc[head].flags, vblk_cpu_to_le16(head_flags));

	if (vq->num_added < UINT32_MAX - VQ_DRV_PACKED_MAX_SIZE)
		vq->num_added += indirect ? 1 : total;
	return id;
}

static bool packed_kick_prepare(struct vq_drv *vq)
{
	struct vq_drv_packed *p = &vq->packed_ring;
	unsigned period = 2u * vq->num, added = vq->num_added, new_lin, old_lin;
	struct vq_packed_event e;

	/*
	 * Orders the first-slot flags stores (in add) before the load of the
	 * device event structure below: otherwise the device could go to
	 * sleep having not seen our buffers while we read a stale "don't
	 * kick" (§2.8.21.2).
	 */
	smp_mb();
	vq->num_added = 0;
	e = vq_packed_event_read(p->device_event);
	switch (e.flags & 3u) {
	case VIRTQ_PACKED_EVENT_FLAG_DISABLE:
		return false;
	case VIRTQ_PACKED_EVENT_FLAG_DESC:
		if (!vq->event_idx)
			return true; /* DESC without EVENT_IDX: the device erred, kick */
		if (added >= period)
			return true;
		new_lin = vq_packed_lin(vq->num, p->next_avail, p->avail_wrap);
		old_lin = (new_lin + period - added) % period;
		return vq_packed_need_event(vq->num, e.off_wrap, old_lin, added);
	default:
		return true;
	}
}

static bool packed_more_used(const struct vq_drv *vq)
{
	const struct vq_drv_packed *p = &vq->packed_ring;
	uint16_t fl = vblk_le16_to_cpu(READ_ONCE(p->desc[vq->last_used].flags));

	return vq_packed_desc_is_used(fl, p->used_wrap);
}

static int packed_peek_used(struct vq_drv *vq, uint32_t *id, uint32_t *len)
{
	struct vq_drv_packed *p = &vq->packed_ring;
	uint16_t flags = vblk_le16_to_cpu(READ_ONCE(p->desc[vq->last_used].flags));

	if (!vq_packed_desc_is_used(flags, p->used_wrap))
		return 0;
	/*
	 * Orders the flags load above before the id/len loads below: the
	 * device wrote those before it set the flags (§2.8.22).
	 */
	smp_rmb();
	*id = vblk_le16_to_cpu(READ_ONCE(p->desc[vq->last_used].id));
	*len = vblk_le32_to_cpu(READ_ONCE(p->desc[vq->last_used].len));
	/*
	 * §2.8.4: len is reserved in a used element without WRITE. QEMU's
	 * virtio devices never set WRITE there but do report the length (as
	 * Linux reads it): keep one that fits the chain's writable bytes,
	 * ignore anything else rather than break the ring over a reserved field.
	 */
	if (!(flags & VIRTQ_DESC_F_WRITE) && (*id >= vq->num || *len > vq->state[*id].in_len))
		*len = 0;
	return 1;
}

static void packed_free(struct vq_drv *vq, uint16_t id)
{
	vq->state[id].next = vq->free_head;
	vq->free_head = id;
}

static void packed_take_used(struct vq_drv *vq, uint16_t id)
{
	struct vq_drv_packed *p = &vq->packed_ring;
	uint16_t nslots = vq->state[id].ndesc;

	/* §2.8.6: the next used element follows all slots of this buffer. */
	vq_packed_advance(vq->num, &vq->last_used, &p->used_wrap, nslots);
	vq->num_free = (uint16_t)(vq->num_free + nslots);
	packed_free(vq, id);

	/*
	 * With EVENT_IDX and notifications on, ask for the next one. A plain
	 * store: enable_cb's full barrier handles the sleep race.
	 */
	if (p->event_flags == VIRTQ_PACKED_EVENT_FLAG_DESC)
		WRITE_ONCE(p->driver_event->off_wrap,
			   vblk_cpu_to_le16(vq_packed_off_wrap(vq->last_used, p->used_wrap)));
}

static void packed_disable_cb(struct vq_drv *vq)
{
	struct vq_drv_packed *p = &vq->packed_ring;

	if (p->event_flags == VIRTQ_PACKED_EVENT_FLAG_DISABLE)
		return;
	p->event_flags = VIRTQ_PACKED_EVENT_FLAG_DISABLE;
	WRITE_ONCE(p->driver_event->flags, vblk_cpu_to_le16(p->event_flags));
}

static void packed_enable_cb(struct vq_drv *vq)
{
	struct vq_drv_packed *p = &vq->packed_ring;

	if (vq->event_idx) {
		p->event_flags = VIRTQ_PACKED_EVENT_FLAG_DESC;
		/* One store: the device reads off_wrap and flags as a pair. */
		vq_packed_event_write(p->driver_event,
				      vq_packed_off_wrap(vq->last_used, p->used_wrap),
				      p->event_flags);
	} else if (p->event_flags != VIRTQ_PACKED_EVENT_FLAG_ENABLE) {
		p->event_flags = VIRTQ_PACKED_EVENT_FLAG_ENABLE;
		WRITE_ONCE(p->driver_event->flags, vblk_cpu_to_le16(p->event_flags));
	}
}

const struct vq_drv_ops vq_drv_packed_ops = VQ_DRV_OPS(packed);
