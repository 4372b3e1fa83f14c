/* SPDX-License-Identifier: MIT */
/*
 * Driver side of the packed virtqueue (virtio 1.3 §2.8), after Linux
 * drivers/virtio/virtio_ring.c.
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
 * copies are validated before use.
 *
 * Positions are (ring offset, wrap counter) pairs; for event arithmetic they
 * map to a linear position in [0, 2*num): offset + (wrap ? 0 : num).
 */
#include "vq_drv_packed.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "vq_priv.h"

int vq_drv_packed_init(struct vq_drv_packed *vq, const struct vq_drv_packed_config *cfg)
{
	unsigned num = cfg->num;

	if (num == 0 || num > VQ_DRV_PACKED_MAX_SIZE)
		return -EINVAL;
	if (!cfg->desc || !cfg->driver_event || !cfg->device_event || !cfg->state)
		return -EINVAL;
	/* §2.8.10.1 alignment. */
	if ((uintptr_t)cfg->desc % 16 || (uintptr_t)cfg->driver_event % 4 ||
	    (uintptr_t)cfg->device_event % 4)
		return -EINVAL;
	if (cfg->indirect && (!cfg->indir || cfg->indir_max < 2))
		return -EINVAL;

	memset(vq, 0, sizeof(*vq));
	vq->cfg = *cfg;
	memset(cfg->desc, 0, (size_t)num * sizeof(struct virtq_packed_desc));
	memset(cfg->driver_event, 0, sizeof(*cfg->driver_event));
	memset(cfg->device_event, 0, sizeof(*cfg->device_event));
	for (unsigned i = 0; i < num; i++) {
		cfg->state[i].cookie = NULL;
		cfg->state[i].in_len = 0;
		cfg->state[i].nslots = 0;
		cfg->state[i].next = (uint16_t)(i + 1); /* the last one is never followed */
	}
	vq->free_head = 0;
	vq->num_free = (uint16_t)num;
	/* §2.8.1: both wrap counters start at 1. */
	vq->avail_wrap = true;
	vq->used_wrap = true;
	vq->event_flags = VIRTQ_PACKED_EVENT_FLAG_ENABLE;
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

int vq_drv_packed_add(struct vq_drv_packed *vq, const struct vq_drv_sg *sg, unsigned out_num,
		      unsigned in_num, void *cookie)
{
	const struct vq_drv_packed_config *c = &vq->cfg;
	unsigned total = out_num + in_num;
	bool indirect = c->indirect && total > 1 && total <= c->indir_max;
	unsigned need = indirect ? 1 : total;
	uint16_t head = vq->next_avail, head_flags, id, pos = vq->next_avail;
	bool wrap = vq->avail_wrap;
	uint64_t in_len = 0;

	if (unlikely(vq->broken))
		return -EIO;
	if (!cookie || total == 0 || out_num > UINT16_MAX || in_num > UINT16_MAX)
		return -EINVAL;
	/* §2.8.6: a direct list longer than the ring can never be placed. */
	if (!indirect && total > c->num)
		return -EINVAL;
	for (unsigned k = 0; k < total; k++) {
		if (sg[k].len == 0)
			return -EINVAL; /* SPEC-NOTES: devices reject zero-length descriptors */
		if (k >= out_num)
			in_len += sg[k].len;
	}
	/* used.len is 32 bits: a larger writable part could not be reported. */
	if (in_len > UINT32_MAX)
		return -EINVAL;
	if (vq->num_free < need)
		return -ENOSPC;

	/* Slots in flight >= IDs in flight, so a free slot implies a free ID. */
	id = vq->free_head;
	vq->free_head = c->state[id].next;

	if (indirect) {
		/* §2.8.7: table entries carry only WRITE; their ID is reserved. */
		struct virtq_packed_desc *t = c->indir + (size_t)id * c->indir_max;
		for (unsigned k = 0; k < total; k++) {
			write_desc(&t[k], sg[k].addr, sg[k].len, 0);
			t[k].flags = vblk_cpu_to_le16(k >= out_num ? VIRTQ_DESC_F_WRITE : 0);
		}
		write_desc(&c->desc[pos],
			   c->indir_addr +
			       (uint64_t)id * c->indir_max * sizeof(struct virtq_packed_desc),
			   (uint32_t)(total * sizeof(struct virtq_packed_desc)), id);
		head_flags = (uint16_t)(VIRTQ_DESC_F_INDIRECT | avail_bits(wrap));
		vq_packed_advance(c->num, &pos, &wrap, 1);
	} else {
		head_flags = 0;
		for (unsigned k = 0; k < total; k++) {
			uint16_t fl = (uint16_t)(k >= out_num ? VIRTQ_DESC_F_WRITE : 0);
			if (k + 1 < total)
				fl |= VIRTQ_DESC_F_NEXT;
			fl |= avail_bits(wrap);
			/* §2.8.6: the ID belongs in the last one; Linux puts it in all. */
			write_desc(&c->desc[pos], sg[k].addr, sg[k].len, id);
			if (k == 0)
				head_flags = fl;
			else
				WRITE_ONCE(c->desc[pos].flags, vblk_cpu_to_le16(fl));
			vq_packed_advance(c->num, &pos, &wrap, 1);
		}
	}
	c->state[id].cookie = cookie;
	c->state[id].in_len = (uint32_t)in_len;
	c->state[id].nslots = (uint16_t)need;
	vq->num_free = (uint16_t)(vq->num_free - need);
	vq->next_avail = pos;
	vq->avail_wrap = wrap;

	/*
	 * Orders every descriptor store above (the first slot's addr/len/id,
	 * the other slots entirely, the indirect table) before the first
	 * slot's flags store below, which makes the whole buffer available
	 * at once (§2.8.21.1).
	 */
	vblk_wmb();
	WRITE_ONCE(c->desc[head].flags, vblk_cpu_to_le16(head_flags));

	if (vq->num_added < UINT32_MAX - VQ_DRV_PACKED_MAX_SIZE)
		vq->num_added += need;
	vq->inflight++;
	return 0;
}

bool vq_drv_packed_kick_prepare(struct vq_drv_packed *vq)
{
	const struct vq_drv_packed_config *c = &vq->cfg;
	unsigned period = 2u * c->num, added = vq->num_added, new_lin, old_lin;
	struct vq_packed_event e;

	if (unlikely(vq->broken))
		return false;
	/*
	 * Orders the first-slot flags stores (in add) before the load of the
	 * device event structure below: otherwise the device could go to
	 * sleep having not seen our buffers while we read a stale "don't
	 * kick" (§2.8.21.2).
	 */
	vblk_mb();
	vq->num_added = 0;
	e = vq_packed_event_read(c->device_event);
	switch (e.flags & 3u) {
	case VIRTQ_PACKED_EVENT_FLAG_DISABLE:
		return false;
	case VIRTQ_PACKED_EVENT_FLAG_DESC:
		if (!c->event_idx)
			return true; /* DESC without EVENT_IDX: the device erred, kick */
		if (added >= period)
			return true;
		new_lin = vq_packed_lin(c->num, vq->next_avail, vq->avail_wrap);
		old_lin = (new_lin + period - added) % period;
		return vq_packed_need_event(c->num, e.off_wrap, old_lin, added);
	default:
		return true;
	}
}

bool vq_drv_packed_more_used(const struct vq_drv_packed *vq)
{
	uint16_t fl = vblk_le16_to_cpu(READ_ONCE(vq->cfg.desc[vq->last_used].flags));

	return vq_packed_desc_is_used(fl, vq->used_wrap);
}

void vq_drv_packed_set_broken(struct vq_drv_packed *vq)
{
	vq->broken = true;
}

int vq_drv_packed_get_buf(struct vq_drv_packed *vq, void **cookie, uint32_t *len)
{
	const struct vq_drv_packed_config *c = &vq->cfg;
	struct vq_drv_packed_state *st;
	uint16_t flags, id;
	uint32_t ulen;

	if (unlikely(vq->broken))
		return -EIO;
	flags = vblk_le16_to_cpu(READ_ONCE(c->desc[vq->last_used].flags));
	if (!vq_packed_desc_is_used(flags, vq->used_wrap))
		return 0;
	/*
	 * Orders the flags load above before the id/len loads below: the
	 * device wrote those before it set the flags (§2.8.22).
	 */
	vblk_rmb();
	id = vblk_le16_to_cpu(READ_ONCE(c->desc[vq->last_used].id));
	ulen = vblk_le32_to_cpu(READ_ONCE(c->desc[vq->last_used].len));
	/* The device may only return an ID we made available and it has not returned. */
	if (unlikely(id >= c->num || !c->state[id].cookie)) {
		vq->broken = true;
		return -EIO;
	}
	st = &c->state[id];
	/* §2.8.4: len is reserved (ignored) in a used element without WRITE. */
	if (!(flags & VIRTQ_DESC_F_WRITE))
		ulen = 0;
	/* §2.8.4: the device cannot have written more than the writable part. */
	if (unlikely(ulen > st->in_len)) {
		vq->broken = true;
		return -EIO;
	}
	*cookie = st->cookie;
	*len = ulen;

	/* §2.8.6: the next used element follows all slots of this buffer. */
	vq_packed_advance(c->num, &vq->last_used, &vq->used_wrap, st->nslots);
	vq->num_free = (uint16_t)(vq->num_free + st->nslots);
	st->cookie = NULL;
	st->nslots = 0;
	st->next = vq->free_head;
	vq->free_head = id;
	vq->inflight--;

	/*
	 * With EVENT_IDX and notifications on, ask for the next one. A plain
	 * store: enable_cb's full barrier handles the sleep race.
	 */
	if (vq->event_flags == VIRTQ_PACKED_EVENT_FLAG_DESC)
		WRITE_ONCE(c->driver_event->off_wrap,
			   vblk_cpu_to_le16(vq_packed_off_wrap(vq->last_used, vq->used_wrap)));
	return 1;
}

void vq_drv_packed_disable_cb(struct vq_drv_packed *vq)
{
	if (vq->event_flags == VIRTQ_PACKED_EVENT_FLAG_DISABLE)
		return;
	vq->event_flags = VIRTQ_PACKED_EVENT_FLAG_DISABLE;
	WRITE_ONCE(vq->cfg.driver_event->flags, vblk_cpu_to_le16(vq->event_flags));
}

bool vq_drv_packed_enable_cb(struct vq_drv_packed *vq)
{
	const struct vq_drv_packed_config *c = &vq->cfg;

	if (unlikely(vq->broken))
		return true;
	if (c->event_idx) {
		vq->event_flags = VIRTQ_PACKED_EVENT_FLAG_DESC;
		/* One store: the device reads off_wrap and flags as a pair. */
		vq_packed_event_write(c->driver_event,
				      vq_packed_off_wrap(vq->last_used, vq->used_wrap),
				      vq->event_flags);
	} else if (vq->event_flags != VIRTQ_PACKED_EVENT_FLAG_ENABLE) {
		vq->event_flags = VIRTQ_PACKED_EVENT_FLAG_ENABLE;
		WRITE_ONCE(c->driver_event->flags, vblk_cpu_to_le16(vq->event_flags));
	}
	/*
	 * Orders the event structure store above before the used flags load
	 * below: either the device sees our request for a notification, or we
	 * see the buffer it returned meanwhile (§2.8.10).
	 */
	vblk_mb();
	return !vq_drv_packed_more_used(vq);
}

void *vq_drv_packed_detach_unused(struct vq_drv_packed *vq)
{
	struct vq_drv_packed_state *st = vq->cfg.state;
	unsigned id = 0;
	void *cookie;

	while (id < vq->cfg.num && !st[id].cookie)
		id++;
	if (id == vq->cfg.num)
		return NULL;
	cookie = st[id].cookie;
	/* Back on the free list; its slots stay lost with the ring's position. */
	st[id].cookie = NULL;
	st[id].nslots = 0;
	st[id].next = vq->free_head;
	vq->free_head = (uint16_t)id;
	vq->inflight--;
	return cookie;
}
