/* SPDX-License-Identifier: MIT */
/*
 * Driver side of the split virtqueue (virtio 1.3 §2.7), after Linux
 * drivers/virtio/virtio_ring.c.
 *
 * The chain links and the free list live in the private state array, not in
 * the shared descriptor table: the device can write the table, so reading
 * our own bookkeeping back from it would let a device corrupt the free list.
 * The device-written fields (used->idx, used->ring[], used->flags,
 * avail_event) are each read once and validated.
 *
 * Indices are free-running 16-bit counters (§2.7.6, §2.7.8): they are only
 * ever compared for equality or through their (uint16_t) difference, never
 * with < or >= on the raw values.
 */
#include "vq_drv_split.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "internal/barrier.h"
#include "internal/compiler.h"

static void write_desc(struct virtq_desc *d, uint64_t addr, uint32_t len, uint16_t flags,
		       uint16_t next)
{
	d->addr = vblk_cpu_to_le64(addr);
	d->len = vblk_cpu_to_le32(len);
	d->flags = vblk_cpu_to_le16(flags);
	d->next = vblk_cpu_to_le16(next);
}

int vq_drv_split_init(struct vq_drv *vq, const struct vq_drv_config *cfg)
{
	unsigned num = cfg->num;

	if (num == 0 || num > VIRTQ_SPLIT_MAX_SIZE || (num & (num - 1)))
		return -EINVAL;
	if (!cfg->desc || !cfg->avail || !cfg->used || !cfg->state)
		return -EINVAL;
	if (cfg->indirect && (!cfg->indir || cfg->indir_max < 2))
		return -EINVAL;

	memset(vq, 0, sizeof(*vq));
	vq->cfg = *cfg;
	memset(cfg->desc, 0, virtq_desc_size(num));
	memset(cfg->avail, 0, virtq_avail_size(num));
	memset(cfg->used, 0, virtq_used_size(num));
	for (unsigned i = 0; i < num; i++) {
		cfg->state[i].cookie = NULL;
		cfg->state[i].ndesc = 0;
		cfg->state[i].next = (uint16_t)(i + 1); /* last one is never followed */
	}
	vq->free_head = 0;
	vq->num_free = (uint16_t)num;
	return 0;
}

int vq_drv_split_add(struct vq_drv *vq, const struct vq_drv_sg *sg, unsigned out_num,
		     unsigned in_num, void *cookie)
{
	const struct vq_drv_config *c = &vq->cfg;
	unsigned total = out_num + in_num;
	bool indirect = c->indirect && total > 1 && total <= c->indir_max;
	unsigned need = indirect ? 1 : total;
	uint16_t head, i;

	if (unlikely(vq->broken))
		return -EIO;
	if (!cookie || total == 0 || out_num > UINT16_MAX || in_num > UINT16_MAX)
		return -EINVAL;
	/* A direct chain longer than the ring can never be placed. */
	if (!indirect && total > c->num)
		return -EINVAL;
	for (unsigned k = 0; k < total; k++)
		if (sg[k].len == 0)
			return -EINVAL; /* SPEC-NOTES: devices reject zero-length descriptors */
	if (vq->num_free < need)
		return -ENOSPC;

	head = vq->free_head;
	if (indirect) {
		/* Table h belongs to head h: no other in-flight chain can use it. */
		struct virtq_desc *t = c->indir + (size_t)head * c->indir_max;
		for (unsigned k = 0; k < total; k++) {
			uint16_t fl = (uint16_t)(k >= out_num ? VIRTQ_DESC_F_WRITE : 0);
			if (k + 1 < total)
				fl |= VIRTQ_DESC_F_NEXT;
			write_desc(&t[k], sg[k].addr, sg[k].len, fl, (uint16_t)(k + 1));
		}
		write_desc(&c->desc[head],
			   c->indir_addr +
			       (uint64_t)head * c->indir_max * sizeof(struct virtq_desc),
			   (uint32_t)(total * sizeof(struct virtq_desc)), VIRTQ_DESC_F_INDIRECT, 0);
		vq->free_head = c->state[head].next;
	} else {
		i = head;
		for (unsigned k = 0; k < total; k++) {
			uint16_t fl = (uint16_t)(k >= out_num ? VIRTQ_DESC_F_WRITE : 0);
			uint16_t next = c->state[i].next;
			if (k + 1 < total)
				fl |= VIRTQ_DESC_F_NEXT;
			write_desc(&c->desc[i], sg[k].addr, sg[k].len, fl, next);
			i = next;
		}
		vq->free_head = i;
	}
	vq->num_free = (uint16_t)(vq->num_free - need);
	c->state[head].cookie = cookie;
	c->state[head].ndesc = (uint16_t)need;

	/*
	 * §2.7.13: put the head in the next avail ring slot, then publish it
	 * by bumping avail->idx.
	 */
	c->avail->ring[vq->avail_idx & (c->num - 1)] = vblk_cpu_to_le16(head);
	/* Orders the descriptor and avail->ring[] stores before the avail->idx store. */
	vblk_wmb();
	vq->avail_idx++;
	WRITE_ONCE(c->avail->idx, vblk_cpu_to_le16(vq->avail_idx));
	vq->num_added++;
	vq->inflight++;
	return 0;
}

bool vq_drv_split_kick_prepare(struct vq_drv *vq)
{
	const struct vq_drv_config *c = &vq->cfg;
	uint16_t new_idx = vq->avail_idx;
	uint16_t old_idx = (uint16_t)(new_idx - vq->num_added);
	bool needs;

	if (unlikely(vq->broken))
		return false;
	/*
	 * Orders the avail->idx store (in add) before the loads of avail_event /
	 * used->flags below: otherwise the device could go to sleep having not
	 * seen our new entries while we read a stale "don't kick".
	 */
	vblk_mb();
	vq->num_added = 0;
	if (c->event_idx) {
		uint16_t ev = vblk_le16_to_cpu(READ_ONCE(*virtq_avail_event(c->used, c->num)));
		needs = virtq_need_event(ev, new_idx, old_idx);
	} else {
		uint16_t fl = vblk_le16_to_cpu(READ_ONCE(c->used->flags));
		needs = !(fl & VIRTQ_USED_F_NO_NOTIFY);
	}
	return needs;
}

bool vq_drv_split_more_used(const struct vq_drv *vq)
{
	return vq->last_used != vblk_le16_to_cpu(READ_ONCE(vq->cfg.used->idx));
}

/* Return the chain at head to the free list (head is known to be in flight). */
static void detach_split(struct vq_drv *vq, uint16_t head)
{
	struct vq_drv_desc_state *st = vq->cfg.state;
	uint16_t n = st[head].ndesc, last = head;

	for (uint16_t k = 1; k < n; k++)
		last = st[last].next;
	st[last].next = vq->free_head;
	vq->free_head = head;
	vq->num_free = (uint16_t)(vq->num_free + n);
	st[head].cookie = NULL;
	st[head].ndesc = 0;
	vq->inflight--;
}

int vq_drv_split_get_buf(struct vq_drv *vq, void **cookie, uint32_t *len)
{
	const struct vq_drv_config *c = &vq->cfg;
	uint16_t used_idx, pending;
	uint32_t id, ulen;

	if (unlikely(vq->broken))
		return -EIO;
	used_idx = vblk_le16_to_cpu(READ_ONCE(c->used->idx));
	if (used_idx == vq->last_used)
		return 0;
	/* §2.7.8: the device cannot have returned more chains than are in flight. */
	pending = (uint16_t)(used_idx - vq->last_used);
	if (unlikely(pending > vq->inflight)) {
		vq->broken = true;
		return -EIO;
	}
	/* Orders the used->idx load above before the used->ring[] loads below. */
	vblk_rmb();
	{
		const struct virtq_used_elem *e = &c->used->ring[vq->last_used & (c->num - 1)];
		id = vblk_le32_to_cpu(READ_ONCE(e->id));
		ulen = vblk_le32_to_cpu(READ_ONCE(e->len));
	}
	if (unlikely(id >= c->num || !c->state[id].cookie)) {
		vq->broken = true;
		return -EIO;
	}
	*cookie = c->state[id].cookie;
	*len = ulen;
	detach_split(vq, (uint16_t)id);
	vq->last_used++;
	/*
	 * With EVENT_IDX and notifications on, ask for the next one. A plain
	 * store: enable_cb's full barrier handles the sleep race.
	 */
	if (c->event_idx && !(vq->avail_flags & VIRTQ_AVAIL_F_NO_INTERRUPT))
		WRITE_ONCE(*virtq_used_event(c->avail, c->num), vblk_cpu_to_le16(vq->last_used));
	return 1;
}

void vq_drv_split_disable_cb(struct vq_drv *vq)
{
	const struct vq_drv_config *c = &vq->cfg;

	if (vq->avail_flags & VIRTQ_AVAIL_F_NO_INTERRUPT)
		return;
	vq->avail_flags |= VIRTQ_AVAIL_F_NO_INTERRUPT;
	if (c->event_idx) {
		/*
		 * §2.7.10: with EVENT_IDX the device ignores the flag; park
		 * used_event just behind the chains we have consumed, which the
		 * device only crosses after 2^16 more completions (a spurious
		 * notification at worst).
		 */
		WRITE_ONCE(*virtq_used_event(c->avail, c->num),
			   vblk_cpu_to_le16((uint16_t)(vq->last_used - 1)));
	} else {
		WRITE_ONCE(c->avail->flags, vblk_cpu_to_le16(vq->avail_flags));
	}
}

bool vq_drv_split_enable_cb(struct vq_drv *vq)
{
	const struct vq_drv_config *c = &vq->cfg;

	if (unlikely(vq->broken))
		return true;
	if (vq->avail_flags & VIRTQ_AVAIL_F_NO_INTERRUPT) {
		vq->avail_flags &= (uint16_t)~VIRTQ_AVAIL_F_NO_INTERRUPT;
		if (!c->event_idx)
			WRITE_ONCE(c->avail->flags, vblk_cpu_to_le16(vq->avail_flags));
	}
	if (c->event_idx)
		WRITE_ONCE(*virtq_used_event(c->avail, c->num), vblk_cpu_to_le16(vq->last_used));
	/*
	 * Orders the used_event / avail->flags store above before the used->idx
	 * load below: either the device sees our request for a notification, or
	 * we see the chain it completed meanwhile (§2.7.10).
	 */
	vblk_mb();
	return !vq_drv_split_more_used(vq);
}

void *vq_drv_split_detach_unused(struct vq_drv *vq)
{
	struct vq_drv_desc_state *st = vq->cfg.state;

	for (unsigned i = 0; i < vq->cfg.num; i++) {
		void *cookie = st[i].cookie;

		if (cookie) {
			detach_split(vq, (uint16_t)i);
			return cookie;
		}
	}
	return NULL;
}
