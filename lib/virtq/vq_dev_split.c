/* SPDX-License-Identifier: MIT */
/*
 * Device side of the split virtqueue (virtio 1.3 §2.7).
 *
 * This file turns what the driver wrote into the descriptor table and the
 * available ring into iovecs (pop), publishes completions in the used ring
 * (push), and implements both directions of notification suppression
 * (§2.7.10). Everything in the three ring areas is written by an untrusted
 * driver: every guest-written field is read exactly once into a local and
 * validated there, every chain walk is bounded, and every buffer address goes
 * through the memory table. A ring that breaks a rule marks the queue broken
 * (logged once); it never makes us crash or touch memory outside the regions
 * the front end shared. The pop/push path does not allocate. Inflight
 * tracking is vq_inflight_split.c's.
 */
#include "vq_dev_ops.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal/barrier.h"
#include "internal/compiler.h"

static int split_init(struct vq_dev *vq)
{
	vq->split.head_busy = calloc(vq->num, 1);
	return vq->split.head_busy ? 0 : -ENOMEM;
}

static void split_fini(struct vq_dev *vq)
{
	free(vq->split.head_busy);
	vq->split.head_busy = NULL;
}

static void split_area_sizes(unsigned num, size_t size[3], size_t align[3])
{
	/* §2.7 "Alignment"; the avail and used sizes count used_event/avail_event. */
	size[0] = virtq_desc_size(num);
	align[0] = VIRTQ_DESC_ALIGN;
	size[1] = virtq_avail_size(num);
	align[1] = VIRTQ_AVAIL_ALIGN;
	size[2] = virtq_used_size(num);
	align[2] = VIRTQ_USED_ALIGN;
}

static int split_start(struct vq_dev *vq, const struct vq_dev_areas *areas, uint32_t base)
{
	struct vq_dev_split *s = &vq->split;

	/* vhost-user.rst: a split ring's base is the 16-bit next avail index. */
	if (base > UINT16_MAX || s->head_busy == NULL)
		return -EINVAL;
	/* §2.7 "Alignment"; vq_dev_map_areas checked it, repeat for direct callers. */
	if ((uintptr_t)areas->desc % VIRTQ_DESC_ALIGN ||
	    (uintptr_t)areas->driver % VIRTQ_AVAIL_ALIGN ||
	    (uintptr_t)areas->device % VIRTQ_USED_ALIGN)
		return -EINVAL;
	s->desc = areas->desc;
	s->avail = areas->driver;
	s->used = areas->device;
	vq->last_avail_idx = (uint16_t)base;
	/* The device owns used->idx; after a reconnect it is the truth. */
	vq->used_idx = vblk_le16_to_cpu(READ_ONCE(s->used->idx));
	memset(s->head_busy, 0, vq->num);
	return 0;
}

/*
 * Walk the chain starting at head (already checked < num). Bounded twice
 * over: at most num descriptors of the main table and at most the entry
 * count of the one indirect table, so a loop anywhere ends the walk.
 */
static int chain_walk(struct vq_dev *vq, uint16_t head, struct vq_chain *c)
{
	/* Bytes, not struct virtq_desc *: an indirect table may be unaligned. */
	const unsigned char *table = (const unsigned char *)vq->split.desc;
	unsigned table_num = vq->num;
	unsigned walked = 0;
	bool in_indirect = false;
	uint16_t i = head;
	struct vq_desc_copy d;

	for (;;) {
		/*
		 * §2.7.5: the table size is the longest possible chain, and
		 * §2.7.5.2 forbids loops; an indirect table is bounded by its
		 * own entry count.
		 */
		if (walked++ >= table_num) {
			vq_dev_broken(vq, "head %u: descriptor chain loops or exceeds %u entries",
				      head, table_num);
			return -EIO;
		}
		vq_desc_read_once(table + (size_t)i * sizeof(struct virtq_desc), false, &d);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* §2.7.5.3.1; direct descriptors may precede it in the chain. */
			if (in_indirect) {
				vq_dev_broken(vq, "head %u: nested indirect table", head);
				return -EIO;
			}
			if (vq_dev_indirect_table(vq, &d, "head", head, &table, &table_num))
				return -EIO;
			/* §2.7.5.3: the table's chain starts at its entry 0. */
			walked = 0;
			in_indirect = true;
			i = 0;
			continue;
		}

		if (vq_dev_chain_add(vq, c, &d, "head", head))
			return -EIO;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= table_num) {
			vq_dev_broken(vq, "head %u: next %u beyond %s of %u entries", head, d.next,
				      in_indirect ? "indirect table" : "queue", table_num);
			return -EIO;
		}
		i = d.next;
	}
}

/*
 * Pop a head the previous back end had popped and not completed. It is still
 * marked in flight in the region with its old counter, and last_avail_idx
 * already counts it, so only our own bookkeeping changes.
 */
static int split_pop_resubmit(struct vq_dev *vq, struct vq_chain *c, uint16_t *headp)
{
	uint16_t head = vq->resubmit[vq->resubmit_next].head;

	/* vq_inflight_split_start only queues heads < num, each once. */
	assert(head < vq->num && !vq->split.head_busy[head]);
	if (chain_walk(vq, head, c))
		return -EIO;
	*headp = head;
	vq->resubmit_next++;
	vq->split.head_busy[head] = 1;
	vq->inflight++;
	return 1;
}

static int split_pop(struct vq_dev *vq, struct vq_chain *c, uint16_t *headp)
{
	struct vq_dev_split *s = &vq->split;
	uint16_t avail_idx, pending, head;

	avail_idx = vblk_le16_to_cpu(READ_ONCE(s->avail->idx));
	pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	/* §2.7: Queue Size is the maximum number of buffers in the queue. */
	if (pending > vq->num) {
		vq_dev_broken(vq, "avail idx %u runs %u entries ahead of %u (queue size %u)",
			      avail_idx, pending, vq->last_avail_idx, vq->num);
		return -EIO;
	}
	if (pending == 0)
		return 0;
	/*
	 * Orders the avail->idx load above before the loads of
	 * avail->ring[] and of the descriptors below: the driver wrote those
	 * before it published idx (§2.7.13.3), so we must not see them stale.
	 */
	smp_rmb();

	head = vblk_le16_to_cpu(READ_ONCE(s->avail->ring[vq->last_avail_idx & (vq->num - 1)]));
	if (head >= vq->num) {
		vq_dev_broken(vq, "avail ring head %u >= queue size %u", head, vq->num);
		return -EIO;
	}
	/*
	 * The driver may reuse a chain's descriptors only after it was used
	 * (§2.7.14), so a head we still hold cannot be available again.
	 */
	if (s->head_busy[head]) {
		vq_dev_broken(vq, "head %u made available again while in flight", head);
		return -EIO;
	}
	if (chain_walk(vq, head, c))
		return -EIO;

	*headp = head;
	if (vq->inflight_region)
		vq_inflight_split_record(vq, head);
	s->head_busy[head] = 1;
	vq->inflight++;
	vq->last_avail_idx++;

	/*
	 * §2.7.10: with EVENT_IDX the driver kicks when avail->idx passes
	 * avail_event, so asking for "the entry after the one just consumed"
	 * keeps kicks coming (QEMU and libvhost-user do the same). The store
	 * is a hint; vq_dev_enable_kicks has the barrier that closes the race.
	 * While the device polls, the event trails what we consumed instead
	 * (split_hold_kicks), so no kick comes for the buffers we poll for.
	 */
	if (vq->event_idx)
		WRITE_ONCE(*virtq_avail_event(s->used, vq->num),
			   vblk_cpu_to_le16(vq->last_avail_idx - (vq->polling ? 1 : 0)));
	return 1;
}

static void split_push(struct vq_dev *vq, uint16_t head, uint32_t len)
{
	struct vq_dev_split *s = &vq->split;
	struct virtq_used_elem *e;

	/* Our invariant: the transport only pushes what pop returned. */
	assert(head < vq->num && s->head_busy[head]);

	e = &s->used->ring[vq->used_idx & (vq->num - 1)];
	WRITE_ONCE(e->id, vblk_cpu_to_le32(head));
	/* §2.7.8: len is the number of bytes written into the writable buffers. */
	WRITE_ONCE(e->len, vblk_cpu_to_le32(len));
	if (vq->inflight_region)
		vq_inflight_split_retire_begin(vq, head);
	/*
	 * Orders the used element (and the inflight region's last_batch_head)
	 * stores above before the used->idx store below: once the driver sees
	 * the new idx the element must be there (§2.7.8.2: len is set before
	 * idx is updated).
	 */
	smp_wmb();
	vq->used_idx++;
	WRITE_ONCE(s->used->idx, vblk_cpu_to_le16(vq->used_idx));
	if (vq->inflight_region)
		vq_inflight_split_retire_end(vq, head);

	s->head_busy[head] = 0;
	vq->inflight--;

	/*
	 * After 2^16 pushes without an interrupt, signalled_used is ambiguous
	 * (virtq_need_event compares modulo 2^16): forget it so the next
	 * vq_dev_need_notify signals unconditionally, as Linux vhost does.
	 */
	if (vq->signalled_used_valid && vq->used_idx == vq->signalled_used)
		vq->signalled_used_valid = false;
}

static bool split_need_notify(struct vq_dev *vq)
{
	uint16_t old, used_event;
	bool valid;

	/*
	 * Orders our used->idx store (vq_dev_push) before the loads of
	 * avail->flags / used_event below. Without it the load could pass
	 * the store: the driver could set used_event, see the old used->idx,
	 * and sleep while we see the old used_event and skip the interrupt.
	 */
	smp_mb();

	if (!vq->event_idx) {
		/* §2.7.7.2: without EVENT_IDX, flags == 1 asks for no notification. */
		return !(vblk_le16_to_cpu(READ_ONCE(vq->split.avail->flags)) &
			 VIRTQ_AVAIL_F_NO_INTERRUPT);
	}

	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	/* Nothing to compare with yet (first call, or after a wrap): signal. */
	if (!valid)
		return true;
	used_event = vblk_le16_to_cpu(READ_ONCE(*virtq_used_event(vq->split.avail, vq->num)));
	/* §2.7.7.2: notify when the used entry at index used_event was written. */
	return virtq_need_event(used_event, vq->used_idx, old);
}

/*
 * With EVENT_IDX, kick suppression is done by where avail_event points, not
 * by a flag: pop keeps it at last_avail_idx, so disabling is a no-op and a
 * busy device gets at most one kick per batch the driver publishes past what
 * it has consumed (QEMU and libvhost-user behave the same way). Without
 * EVENT_IDX, §2.7.10 VIRTQ_USED_F_NO_NOTIFY is the (advisory) switch;
 * used->flags is written only by the device, so no read-modify-write.
 */
static void split_disable_kicks(struct vq_dev *vq)
{
	if (!vq->event_idx)
		WRITE_ONCE(vq->split.used->flags, vblk_cpu_to_le16(VIRTQ_USED_F_NO_NOTIFY));
}

/*
 * §2.7.10 gives no flag to turn kicks off under EVENT_IDX (the driver then
 * ignores VIRTQ_USED_F_NO_NOTIFY), but the driver kicks only when avail->idx
 * moves past avail_event: one entry behind what we consumed is a position
 * it cannot pass until it has made 2^16 buffers available, and it cannot
 * run more than the queue size ahead of us (§2.7).
 */
static void split_hold_kicks(struct vq_dev *vq)
{
	struct vq_dev_split *s = &vq->split;

	if (vq->event_idx)
		WRITE_ONCE(*virtq_avail_event(s->used, vq->num),
			   vblk_cpu_to_le16((uint16_t)(vq->last_avail_idx - 1)));
	else
		WRITE_ONCE(s->used->flags, vblk_cpu_to_le16(VIRTQ_USED_F_NO_NOTIFY));
}

/* A plain look at avail->idx, for polling; the caller orders it if it must. */
static bool split_avail(struct vq_dev *vq)
{
	return vblk_le16_to_cpu(READ_ONCE(vq->split.avail->idx)) != vq->last_avail_idx;
}

static bool split_enable_kicks(struct vq_dev *vq)
{
	struct vq_dev_split *s = &vq->split;

	if (vq->event_idx)
		/* Kick for the first entry we have not consumed. */
		WRITE_ONCE(*virtq_avail_event(s->used, vq->num),
			   vblk_cpu_to_le16(vq->last_avail_idx));
	else
		WRITE_ONCE(s->used->flags, vblk_cpu_to_le16(0));
	/*
	 * Orders the flags/avail_event store above before the avail->idx load
	 * below (the re-check of §2.7.14, seen from the device): otherwise a
	 * driver that published in between could see kicks still suppressed
	 * while we see no new entry, and both wait.
	 */
	smp_mb();
	return split_avail(vq);
}

static uint32_t split_get_base(const struct vq_dev *vq)
{
	/* vhost-user.rst: a split ring's base is the next avail index. */
	return vq->last_avail_idx;
}

static int split_inflight_start(struct vq_dev *vq, uint32_t base)
{
	return vq_inflight_split_start(vq, (uint16_t)base);
}

const struct vq_dev_ops vq_dev_split_ops = VQ_DEV_OPS(split, "virtqueue");
