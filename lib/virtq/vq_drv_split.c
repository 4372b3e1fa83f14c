/* SPDX-License-Identifier: MIT */
/*
 * Driver side of the split virtqueue (virtio 1.3 §2.7), after Linux
 * drivers/virtio/virtio_ring.c: the ring work behind the vq_drv_* verbs.
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
#include "vq_drv_ops.h"

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

static int split_init(struct vq_drv *vq, const struct vq_drv_layout *l)
{
	unsigned num = l->num;

	/* §2.7: a power of two; §2.7 "Alignment" is the caller's (vq_drv_config). */
	if (num == 0 || num > VIRTQ_SPLIT_MAX_SIZE || (num & (num - 1)))
		return -EINVAL;
	vq->split.desc = l->desc;
	vq->split.avail = l->driver;
	vq->split.used = l->device;
	vq->split.indir = l->indir;
	memset(l->desc, 0, virtq_desc_size(num));
	memset(l->driver, 0, virtq_avail_size(num));
	memset(l->device, 0, virtq_used_size(num));
	return 0;
}

static uint16_t split_add(struct vq_drv *vq, const struct vq_drv_sg *sg, unsigned out_num,
			  unsigned total, bool indirect)
{
	struct vq_drv_split *s = &vq->split;
	uint16_t head = vq->free_head, i;

	if (indirect) {
		/* Table h belongs to head h: no other in-flight chain can use it. */
		struct virtq_desc *t = s->indir + (size_t)head * vq->indir_max;
		for (unsigned k = 0; k < total; k++) {
			uint16_t fl = (uint16_t)(k >= out_num ? VIRTQ_DESC_F_WRITE : 0);
			if (k + 1 < total)
				fl |= VIRTQ_DESC_F_NEXT;
			write_desc(&t[k], sg[k].addr, sg[k].len, fl, (uint16_t)(k + 1));
		}
		write_desc(&s->desc[head],
			   vq->indir_addr +
			       (uint64_t)head * vq->indir_max * sizeof(struct virtq_desc),
			   (uint32_t)(total * sizeof(struct virtq_desc)), VIRTQ_DESC_F_INDIRECT, 0);
		vq->free_head = vq->state[head].next;
	} else {
		i = head;
		for (unsigned k = 0; k < total; k++) {
			uint16_t fl = (uint16_t)(k >= out_num ? VIRTQ_DESC_F_WRITE : 0);
			uint16_t next = vq->state[i].next;
			if (k + 1 < total)
				fl |= VIRTQ_DESC_F_NEXT;
			write_desc(&s->desc[i], sg[k].addr, sg[k].len, fl, next);
			i = next;
		}
		vq->free_head = i;
	}

	/*
	 * §2.7.13: put the head in the next avail ring slot, then publish it
	 * by bumping avail->idx.
	 */
	s->avail->ring[s->avail_idx & (vq->num - 1)] = vblk_cpu_to_le16(head);
	/* Orders the descriptor and avail->ring[] stores before the avail->idx store. */
	smp_wmb();
	s->avail_idx++;
	WRITE_ONCE(s->avail->idx, vblk_cpu_to_le16(s->avail_idx));
	vq->num_added++;
	return head;
}

static bool split_kick_prepare(struct vq_drv *vq)
{
	struct vq_drv_split *s = &vq->split;
	uint16_t new_idx = s->avail_idx;
	uint16_t old_idx = (uint16_t)(new_idx - vq->num_added);

	/*
	 * Orders the avail->idx store (in add) before the loads of avail_event /
	 * used->flags below: otherwise the device could go to sleep having not
	 * seen our new entries while we read a stale "don't kick".
	 */
	smp_mb();
	vq->num_added = 0;
	if (vq->event_idx) {
		uint16_t ev = vblk_le16_to_cpu(READ_ONCE(*virtq_avail_event(s->used, vq->num)));
		return virtq_need_event(ev, new_idx, old_idx);
	}
	return !(vblk_le16_to_cpu(READ_ONCE(s->used->flags)) & VIRTQ_USED_F_NO_NOTIFY);
}

static bool split_more_used(const struct vq_drv *vq)
{
	return vq->last_used != vblk_le16_to_cpu(READ_ONCE(vq->split.used->idx));
}

static void split_free(struct vq_drv *vq, uint16_t head)
{
	struct vq_drv_desc_state *st = vq->state;
	uint16_t n = st[head].ndesc, last = head;

	for (uint16_t k = 1; k < n; k++)
		last = st[last].next;
	st[last].next = vq->free_head;
	vq->free_head = head;
	vq->num_free = (uint16_t)(vq->num_free + n);
}

static int split_peek_used(struct vq_drv *vq, uint32_t *id, uint32_t *len)
{
	struct vq_drv_split *s = &vq->split;
	const struct virtq_used_elem *e;
	uint16_t used_idx, pending;

	used_idx = vblk_le16_to_cpu(READ_ONCE(s->used->idx));
	if (used_idx == vq->last_used)
		return 0;
	/* §2.7.8: the device cannot have returned more chains than are in flight. */
	pending = (uint16_t)(used_idx - vq->last_used);
	if (unlikely(pending > vq->inflight)) {
		vq->broken = true;
		return -EIO;
	}
	/* Orders the used->idx load above before the used->ring[] loads below. */
	smp_rmb();
	e = &s->used->ring[vq->last_used & (vq->num - 1)];
	*id = vblk_le32_to_cpu(READ_ONCE(e->id));
	*len = vblk_le32_to_cpu(READ_ONCE(e->len));
	return 1;
}

static void split_take_used(struct vq_drv *vq, uint16_t id)
{
	struct vq_drv_split *s = &vq->split;

	split_free(vq, id);
	vq->last_used++;
	/*
	 * With EVENT_IDX and notifications on, ask for the next one. A plain
	 * store: enable_cb's full barrier handles the sleep race.
	 */
	if (vq->event_idx && !(s->avail_flags & VIRTQ_AVAIL_F_NO_INTERRUPT))
		WRITE_ONCE(*virtq_used_event(s->avail, vq->num), vblk_cpu_to_le16(vq->last_used));
}

static void split_disable_cb(struct vq_drv *vq)
{
	struct vq_drv_split *s = &vq->split;

	if (s->avail_flags & VIRTQ_AVAIL_F_NO_INTERRUPT)
		return;
	s->avail_flags |= VIRTQ_AVAIL_F_NO_INTERRUPT;
	if (vq->event_idx) {
		/*
		 * §2.7.10: with EVENT_IDX the device ignores the flag; park
		 * used_event just behind the chains we have consumed, which the
		 * device only crosses after 2^16 more completions (a spurious
		 * notification at worst).
		 */
		WRITE_ONCE(*virtq_used_event(s->avail, vq->num),
			   vblk_cpu_to_le16((uint16_t)(vq->last_used - 1)));
	} else {
		WRITE_ONCE(s->avail->flags, vblk_cpu_to_le16(s->avail_flags));
	}
}

static void split_enable_cb(struct vq_drv *vq)
{
	struct vq_drv_split *s = &vq->split;

	if (s->avail_flags & VIRTQ_AVAIL_F_NO_INTERRUPT) {
		s->avail_flags &= (uint16_t)~VIRTQ_AVAIL_F_NO_INTERRUPT;
		if (!vq->event_idx)
			WRITE_ONCE(s->avail->flags, vblk_cpu_to_le16(s->avail_flags));
	}
	if (vq->event_idx)
		WRITE_ONCE(*virtq_used_event(s->avail, vq->num), vblk_cpu_to_le16(vq->last_used));
}

const struct vq_drv_ops vq_drv_split_ops = VQ_DRV_OPS(split);
