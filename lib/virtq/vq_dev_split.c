/* SPDX-License-Identifier: MIT */
/*
 * Device side of the split virtqueue (virtio 1.3 §2.7).
 *
 * This file turns what the driver wrote into the descriptor table and the
 * available ring into iovecs (vq_dev_pop), publishes completions in the used
 * ring (vq_dev_push), and implements both directions of notification
 * suppression (§2.7.10). Everything in the three ring areas is written by an
 * untrusted driver: every guest-written field is read exactly once into a
 * local and validated there, every chain walk is bounded, and every buffer
 * address goes through the memory table. A ring that breaks a rule marks the
 * queue broken (logged once); it never makes us crash or touch memory outside
 * the regions the front end shared. The pop/push path does not allocate.
 *
 * Optionally each popped head is also recorded in an inflight region shared
 * with the front end (vhost-user.rst "Inflight I/O tracking"), so that a back
 * end started after this one died can pop the unfinished heads again. That
 * region is untrusted too: it is validated when the queue starts and only
 * ever indexed by heads we checked against num.
 */
#include "vq_dev_split.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "internal/log.h"
#include "vq_priv.h"

/* A descriptor after the single read from guest memory, in CPU byte order. */
struct desc_copy {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

int vq_dev_split_init(struct vq_dev *vq, unsigned num)
{
	/* §2.7: a split ring's Queue Size is a power of 2. */
	if (num == 0 || num > VQ_DEV_MAX_SIZE || (num & (num - 1)) != 0)
		return -EINVAL;
	/*
	 * event_idx and indirect are left alone: the transport learns the
	 * features (SET_FEATURES) independently of the ring size
	 * (SET_VRING_NUM), in either order.
	 */
	vq->head_busy = calloc(num, 1);
	if (vq->head_busy == NULL)
		return -ENOMEM;
	/* Allocated here so that recovery in vq_dev_start never fails for memory. */
	vq->resubmit = calloc(num, sizeof(*vq->resubmit));
	if (vq->resubmit == NULL) {
		free(vq->head_busy);
		vq->head_busy = NULL;
		return -ENOMEM;
	}
	vq->inflight_region = NULL;
	vq->inflight_counter = 0;
	vq->inflight_recovered = false;
	vq->resubmit_num = 0;
	vq->resubmit_next = 0;
	vq->num = (uint16_t)num;
	vq->mem = NULL;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->last_avail_idx = 0;
	vq->used_idx = 0;
	vq->inflight = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->broken = false;
	vq->broken_logged = false;
	return 0;
}

void vq_dev_split_fini(struct vq_dev *vq)
{
	if (vq == NULL)
		return;
	free(vq->head_busy);
	vq->head_busy = NULL;
	free(vq->resubmit);
	vq->resubmit = NULL;
	vq->resubmit_num = vq->resubmit_next = 0;
	vq->inflight_region = NULL;
	vq->num = 0;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->mem = NULL;
	vq->inflight = 0;
}

size_t vq_dev_inflight_size(unsigned num)
{
	return sizeof(struct vhost_user_inflight_split_queue) +
	       (size_t)num * sizeof(struct vhost_user_inflight_desc_split);
}

int vq_dev_split_set_inflight(struct vq_dev *vq, void *region, size_t len)
{
	if (region == NULL) {
		vq->inflight_region = NULL;
		return 0;
	}
	/* The u64 counters are accessed in place: they must be naturally aligned. */
	if (vq->num == 0 || vq->resubmit == NULL || (uintptr_t)region % 8 ||
	    len < vq_dev_inflight_size(vq->num))
		return -EINVAL;
	vq->inflight_region = region;
	return 0;
}

unsigned vq_dev_split_resubmit_pending(const struct vq_dev *vq)
{
	return (unsigned)(vq->resubmit_num - vq->resubmit_next);
}

static int resubmit_cmp(const void *a, const void *b)
{
	const struct vq_dev_resubmit *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	/* Equal counters only in a region someone else wrote: any fixed order will do. */
	return (int)x->head - (int)y->head;
}

/*
 * vq_dev_start with an inflight region: vhost-user.rst "Inflight I/O
 * tracking", split virtqueue. The region is shared with a front end we do not
 * trust, so every field is read once and checked before it is used as an
 * index; the layout was written by us (or a back end like us) in an earlier
 * life of this device.
 */
static int inflight_start(struct vq_dev *vq, uint16_t base)
{
	struct vhost_user_inflight_split_queue *r = vq->inflight_region;
	uint16_t version = READ_ONCE(r->version);
	uint16_t desc_num = READ_ONCE(r->desc_num);
	uint16_t last_batch_head, saved_used_idx;
	uint64_t max_counter = 0;
	unsigned n = 0;

	if (version == 0) {
		/*
		 * A fresh region (GET_INFLIGHT_FD hands out zeroed memory):
		 * nothing was ever in flight, base is the truth. The entries
		 * are cleared in case the front end did not zero them.
		 */
		memset(r->desc, 0, (size_t)vq->num * sizeof(r->desc[0]));
		WRITE_ONCE(r->features, 0);
		WRITE_ONCE(r->desc_num, vq->num);
		WRITE_ONCE(r->last_batch_head, 0);
		WRITE_ONCE(r->used_idx, vq->used_idx);
		/*
		 * Orders the initialisation above before the version store: a
		 * region that says version 1 must have valid entries.
		 */
		vblk_wmb();
		WRITE_ONCE(r->version, VQ_DEV_INFLIGHT_VERSION);
		vq->inflight_counter = 0;
		return 0;
	}
	/*
	 * features: we write 0 in the split layout; a packed-layout region
	 * carries VQ_INFLIGHT_F_PACKED_LAYOUT and is never read as split.
	 */
	if (version != VQ_DEV_INFLIGHT_VERSION || desc_num != vq->num ||
	    READ_ONCE(r->features) != 0) {
		vblk_warn("inflight region: version %u, %u descriptors, features %#llx; expected a "
			  "split-layout version %u region for %u",
			  version, desc_num, (unsigned long long)READ_ONCE(r->features),
			  VQ_DEV_INFLIGHT_VERSION, vq->num);
		return -EINVAL;
	}
	last_batch_head = READ_ONCE(r->last_batch_head);
	saved_used_idx = READ_ONCE(r->used_idx);
	if (last_batch_head >= vq->num) {
		vblk_warn("inflight region: last_batch_head %u >= queue size %u", last_batch_head,
			  vq->num);
		return -EINVAL;
	}
	vq->inflight_recovered = true;

	/*
	 * "Inflight I/O tracking": used_idx differs from used->idx when the
	 * previous back end died after publishing used->idx but before it
	 * recorded that: the last batch reached the driver, so it is no longer
	 * in flight.
	 */
	if (saved_used_idx != vq->used_idx) {
		WRITE_ONCE(r->desc[last_batch_head].inflight, 0);
		/* Orders the inflight clear before the used_idx store that says it is done. */
		vblk_wmb();
		WRITE_ONCE(r->used_idx, vq->used_idx);
	}

	for (unsigned i = 0; i < vq->num; i++) {
		uint64_t counter;

		if (!READ_ONCE(r->desc[i].inflight))
			continue;
		counter = READ_ONCE(r->desc[i].counter);
		vq->resubmit[n].head = (uint16_t)i;
		vq->resubmit[n].counter = counter;
		if (counter > max_counter)
			max_counter = counter;
		n++;
	}
	/* "...resubmit ... in ascending order of counter": the order they were popped. */
	qsort(vq->resubmit, n, sizeof(vq->resubmit[0]), resubmit_cmp);
	vq->resubmit_num = (uint16_t)n;
	vq->resubmit_next = 0;
	vq->inflight_counter = max_counter;

	/*
	 * Every avail entry before the dead back end's last_avail_idx was
	 * either published used or is still marked in flight (pop marks it
	 * before moving on), so the next new entry is used->idx + n. QEMU
	 * cannot know it and sends used->idx (virtio_queue_restore_last_avail_idx)
	 * when the back end died; after an orderly stop both agree.
	 */
	vq->last_avail_idx = (uint16_t)(vq->used_idx + n);
	if (vq->last_avail_idx != base)
		vblk_dbg("inflight region: %u heads to resubmit; next avail %u (front end said %u)",
			 n, vq->last_avail_idx, base);
	return 0;
}

int vq_dev_split_start(struct vq_dev *vq, const struct vq_mem *mem, struct virtq_desc *desc,
		       struct virtq_avail *avail, struct virtq_used *used, uint16_t base)
{
	if (vq->num == 0 || vq->head_busy == NULL || mem == NULL || desc == NULL || avail == NULL ||
	    used == NULL)
		return -EINVAL;
	/* §2.7 "Alignment"; vq_dev_map_rings checked it, repeat for direct callers. */
	if ((uintptr_t)desc % VIRTQ_DESC_ALIGN || (uintptr_t)avail % VIRTQ_AVAIL_ALIGN ||
	    (uintptr_t)used % VIRTQ_USED_ALIGN)
		return -EINVAL;

	vq->mem = mem;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->last_avail_idx = base;
	/* The device owns used->idx; after a reconnect it is the truth. */
	vq->used_idx = vblk_le16_to_cpu(READ_ONCE(used->idx));
	vq->inflight = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->broken = false;
	vq->broken_logged = false;
	memset(vq->head_busy, 0, vq->num);
	vq->resubmit_num = vq->resubmit_next = 0;
	vq->inflight_recovered = false;
	if (vq->inflight_region)
		return inflight_start(vq, base);
	return 0;
}

int vq_dev_split_map_rings(const struct vq_mem *mem, unsigned num, uint64_t desc_uva,
			   uint64_t avail_uva, uint64_t used_uva, struct virtq_desc **desc,
			   struct virtq_avail **avail, struct virtq_used **used)
{
	void *d, *a, *u;
	int ret;

	if (num == 0 || num > VIRTQ_SPLIT_MAX_SIZE)
		return -EINVAL;
	/*
	 * Whole areas, event fields included (virtq_avail_size/used_size
	 * count used_event/avail_event), each contiguous in one region.
	 */
	ret = vq_map_area(mem, desc_uva, virtq_desc_size(num), VIRTQ_DESC_ALIGN, &d);
	if (ret)
		return ret;
	ret = vq_map_area(mem, avail_uva, virtq_avail_size(num), VIRTQ_AVAIL_ALIGN, &a);
	if (ret)
		return ret;
	ret = vq_map_area(mem, used_uva, virtq_used_size(num), VIRTQ_USED_ALIGN, &u);
	if (ret)
		return ret;
	*desc = d;
	*avail = a;
	*used = u;
	return 0;
}

void vq_dev_split_set_broken(struct vq_dev *vq, const char *why)
{
	vq_mark_broken(&vq->broken, &vq->broken_logged, "virtqueue", vq, "%s", why);
}

/* vq_dev_split_set_broken with a formatted reason; formats only the first time. */
#define vq_broken(vq, ...)                                                                         \
	vq_mark_broken(&(vq)->broken, &(vq)->broken_logged, "virtqueue", (vq), __VA_ARGS__)

/*
 * Copy one descriptor out of guest memory. The compiler barrier makes the
 * 16-byte copy the only read: after it the compiler may not assume the
 * guest's bytes unchanged, so it cannot re-load a field from the table
 * instead of using the copy (the double-fetch class of bugs). memcpy also
 * copes with an indirect table the driver placed at an unaligned address.
 */
static void desc_read_once(const void *src, struct desc_copy *d)
{
	struct virtq_desc raw;

	memcpy(&raw, src, sizeof(raw));
	__asm__ __volatile__("" ::: "memory");
	d->addr = vblk_le64_to_cpu(raw.addr);
	d->len = vblk_le32_to_cpu(raw.len);
	d->flags = vblk_le16_to_cpu(raw.flags);
	d->next = vblk_le16_to_cpu(raw.next);
}

/* Append one buffer descriptor (not INDIRECT) to the chain; breaks the queue if it is bad. */
static int chain_add(struct vq_dev *vq, struct vq_chain *c, const struct desc_copy *d,
		     uint16_t head)
{
	char why[128];

	if (vq_chain_add(vq->mem, c, d->addr, d->len, d->flags & VIRTQ_DESC_F_WRITE, why,
			 sizeof(why))) {
		vq_broken(vq, "head %u: %s", head, why);
		return -EIO;
	}
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
	const unsigned char *table = (const unsigned char *)vq->desc;
	unsigned table_num = vq->num;
	unsigned walked = 0;
	bool in_indirect = false;
	uint16_t i = head;
	struct desc_copy d;

	for (;;) {
		/*
		 * §2.7.5: the table size is the longest possible chain, and
		 * §2.7.5.2 forbids loops; an indirect table is bounded by its
		 * own entry count.
		 */
		if (walked++ >= table_num) {
			vq_broken(vq, "head %u: descriptor chain loops or exceeds %u entries", head,
				  table_num);
			return -EIO;
		}
		desc_read_once(table + (size_t)i * sizeof(struct virtq_desc), &d);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			uint64_t n;
			void *t;

			/*
			 * §2.7.5.3.1 driver rules. §2.7.5.3.2: the WRITE flag
			 * of this descriptor is ignored, and direct
			 * descriptors may precede it in the chain.
			 */
			if (!vq->indirect) {
				vq_broken(vq, "head %u: INDIRECT without VIRTIO_F_INDIRECT_DESC",
					  head);
				return -EIO;
			}
			if (in_indirect) {
				vq_broken(vq, "head %u: nested indirect table", head);
				return -EIO;
			}
			if (d.flags & VIRTQ_DESC_F_NEXT) {
				vq_broken(vq, "head %u: INDIRECT combined with NEXT", head);
				return -EIO;
			}
			if (d.len == 0 || d.len % sizeof(struct virtq_desc) != 0) {
				vq_broken(vq, "head %u: indirect table length %u", head, d.len);
				return -EIO;
			}
			/* The table is read as an array, so it must be contiguous. */
			t = vq_mem_gpa_to_hva(vq->mem, d.addr, d.len);
			if (t == NULL) {
				vq_broken(vq, "head %u: indirect table 0x%llx+%u not mapped", head,
					  (unsigned long long)d.addr, d.len);
				return -EIO;
			}
			n = d.len / sizeof(struct virtq_desc);
			/* §2.7.5.3: the table's chain starts at its entry 0. */
			table = t;
			table_num = (unsigned)n;
			walked = 0;
			in_indirect = true;
			i = 0;
			continue;
		}

		if (chain_add(vq, c, &d, head))
			return -EIO;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= table_num) {
			vq_broken(vq, "head %u: next %u beyond %s of %u entries", head, d.next,
				  in_indirect ? "indirect table" : "queue", table_num);
			return -EIO;
		}
		i = d.next;
	}
}

static void elem_fill(struct vq_dev_elem *elem, uint16_t head, const struct vq_chain *c,
		      struct iovec *iov)
{
	elem->head = head;
	elem->out_num = c->out_num;
	elem->in_num = c->in_num;
	elem->out_len = c->out_len;
	elem->in_len = c->in_len;
	elem->iov = iov;
}

/*
 * Pop a head the previous back end had popped and not completed. It is still
 * marked in flight in the region with its old counter, and last_avail_idx
 * already counts it, so only our own bookkeeping changes.
 */
static int pop_resubmit(struct vq_dev *vq, struct vq_dev_elem *elem, struct iovec *iov,
			unsigned iov_max)
{
	struct vq_chain c = {.iov = iov, .iov_max = iov_max};
	uint16_t head = vq->resubmit[vq->resubmit_next].head;

	/* inflight_start only queues heads < num, each once. */
	assert(head < vq->num && !vq->head_busy[head]);
	if (chain_walk(vq, head, &c))
		return -EIO;
	elem_fill(elem, head, &c, iov);
	vq->resubmit_next++;
	vq->head_busy[head] = 1;
	vq->inflight++;
	return 1;
}

int vq_dev_split_pop(struct vq_dev *vq, struct vq_dev_elem *elem, struct iovec *iov,
		     unsigned iov_max)
{
	struct vq_chain c = {.iov = iov, .iov_max = iov_max};
	uint16_t avail_idx, pending, head;

	if (vq->broken)
		return -EIO;
	assert(vq->desc != NULL && vq->avail != NULL && vq->used != NULL);

	/* "Inflight I/O tracking": resubmit before taking new avail entries. */
	if (vq->resubmit_next < vq->resubmit_num)
		return pop_resubmit(vq, elem, iov, iov_max);

	avail_idx = vblk_le16_to_cpu(READ_ONCE(vq->avail->idx));
	pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	/* §2.7: Queue Size is the maximum number of buffers in the queue. */
	if (pending > vq->num) {
		vq_broken(vq, "avail idx %u runs %u entries ahead of %u (queue size %u)", avail_idx,
			  pending, vq->last_avail_idx, vq->num);
		return -EIO;
	}
	if (pending == 0)
		return 0;
	/*
	 * Orders the avail->idx load above before the loads of
	 * avail->ring[] and of the descriptors below: the driver wrote those
	 * before it published idx (§2.7.13.3), so we must not see them stale.
	 */
	vblk_rmb();

	head = vblk_le16_to_cpu(READ_ONCE(vq->avail->ring[vq->last_avail_idx & (vq->num - 1)]));
	if (head >= vq->num) {
		vq_broken(vq, "avail ring head %u >= queue size %u", head, vq->num);
		return -EIO;
	}
	/*
	 * The driver may reuse a chain's descriptors only after it was used
	 * (§2.7.14), so a head we still hold cannot be available again.
	 */
	if (vq->head_busy[head]) {
		vq_broken(vq, "head %u made available again while in flight", head);
		return -EIO;
	}
	if (chain_walk(vq, head, &c))
		return -EIO;

	elem_fill(elem, head, &c, iov);

	if (vq->inflight_region) {
		struct vhost_user_inflight_desc_split *d = &vq->inflight_region->desc[head];

		/* "Inflight I/O tracking": counter = ++global counter, then inflight = 1. */
		WRITE_ONCE(d->counter, ++vq->inflight_counter);
		/* Orders the counter store before the inflight flag that makes it count. */
		vblk_wmb();
		WRITE_ONCE(d->inflight, 1);
		/*
		 * Orders the inflight flag before every store that dispatches the
		 * request (the backend's submission after we return): a request
		 * that reached the disk is always one a successor will find.
		 */
		vblk_wmb();
	}

	vq->head_busy[head] = 1;
	vq->inflight++;
	vq->last_avail_idx++;

	/*
	 * §2.7.10: with EVENT_IDX the driver kicks when avail->idx passes
	 * avail_event, so asking for "the entry after the one just consumed"
	 * keeps kicks coming (QEMU and libvhost-user do the same). The store
	 * is a hint; vq_dev_enable_kicks has the barrier that closes the race.
	 */
	if (vq->event_idx)
		WRITE_ONCE(*virtq_avail_event(vq->used, vq->num),
			   vblk_cpu_to_le16(vq->last_avail_idx));
	return 1;
}

void vq_dev_split_push(struct vq_dev *vq, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *e;

	/* Our invariant: the transport only pushes what pop returned. */
	assert(head < vq->num && vq->head_busy[head]);

	e = &vq->used->ring[vq->used_idx & (vq->num - 1)];
	WRITE_ONCE(e->id, vblk_cpu_to_le32(head));
	/* §2.7.8: len is the number of bytes written into the writable buffers. */
	WRITE_ONCE(e->len, vblk_cpu_to_le32(len));
	/*
	 * "Inflight I/O tracking": record the batch (one head here) before it
	 * is published, so a successor that finds used->idx ahead of the
	 * region's used_idx knows which head reached the driver.
	 */
	if (vq->inflight_region)
		WRITE_ONCE(vq->inflight_region->last_batch_head, head);
	/*
	 * Orders the used element and last_batch_head stores above before the
	 * used->idx store below: once the driver sees the new idx the element
	 * must be there (§2.7.8.2: len is set before idx is updated).
	 */
	vblk_wmb();
	vq->used_idx++;
	WRITE_ONCE(vq->used->idx, vblk_cpu_to_le16(vq->used_idx));

	if (vq->inflight_region) {
		struct vhost_user_inflight_split_queue *r = vq->inflight_region;

		/*
		 * Orders used->idx before inflight = 0: cleared first, a death
		 * in between would lose a request the driver never saw used.
		 */
		vblk_wmb();
		WRITE_ONCE(r->desc[head].inflight, 0);
		/*
		 * Orders inflight = 0 before the region's used_idx: updated
		 * first, a death in between would leave a used head marked in
		 * flight with nothing telling the successor it was published,
		 * and it would be completed twice.
		 */
		vblk_wmb();
		WRITE_ONCE(r->used_idx, vq->used_idx);
	}

	vq->head_busy[head] = 0;
	vq->inflight--;

	/*
	 * After 2^16 pushes without an interrupt, signalled_used is ambiguous
	 * (virtq_need_event compares modulo 2^16): forget it so the next
	 * vq_dev_need_notify signals unconditionally, as Linux vhost does.
	 */
	if (vq->signalled_used_valid && vq->used_idx == vq->signalled_used)
		vq->signalled_used_valid = false;
}

bool vq_dev_split_need_notify(struct vq_dev *vq)
{
	uint16_t old, used_event;
	bool valid;

	/*
	 * Orders our used->idx store (vq_dev_push) before the loads of
	 * avail->flags / used_event below. Without it the load could pass
	 * the store: the driver could set used_event, see the old used->idx,
	 * and sleep while we see the old used_event and skip the interrupt.
	 */
	vblk_mb();

	if (!vq->event_idx) {
		/* §2.7.7.2: without EVENT_IDX, flags == 1 asks for no notification. */
		return !(vblk_le16_to_cpu(READ_ONCE(vq->avail->flags)) &
			 VIRTQ_AVAIL_F_NO_INTERRUPT);
	}

	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	/* Nothing to compare with yet (first call, or after a wrap): signal. */
	if (!valid)
		return true;
	used_event = vblk_le16_to_cpu(READ_ONCE(*virtq_used_event(vq->avail, vq->num)));
	/* §2.7.7.2: notify when the used entry at index used_event was written. */
	return virtq_need_event(used_event, vq->used_idx, old);
}

/*
 * With EVENT_IDX, kick suppression is done by where avail_event points, not
 * by a flag: vq_dev_pop keeps it at last_avail_idx, so disabling is a no-op
 * and a busy device gets at most one kick per batch the driver publishes
 * past what it has consumed (QEMU and libvhost-user behave the same way).
 * Without EVENT_IDX, §2.7.10 VIRTQ_USED_F_NO_NOTIFY is the (advisory) switch;
 * used->flags is written only by the device, so no read-modify-write.
 */
void vq_dev_split_disable_kicks(struct vq_dev *vq)
{
	if (!vq->event_idx)
		WRITE_ONCE(vq->used->flags, vblk_cpu_to_le16(VIRTQ_USED_F_NO_NOTIFY));
}

bool vq_dev_split_enable_kicks(struct vq_dev *vq)
{
	uint16_t avail_idx;

	if (vq->event_idx)
		/* Kick for the first entry we have not consumed. */
		WRITE_ONCE(*virtq_avail_event(vq->used, vq->num),
			   vblk_cpu_to_le16(vq->last_avail_idx));
	else
		WRITE_ONCE(vq->used->flags, vblk_cpu_to_le16(0));
	/*
	 * Orders the flags/avail_event store above before the avail->idx load
	 * below (the re-check of §2.7.14, seen from the device): otherwise a driver that published
	 * in between could see kicks still suppressed while we see no new entry, and both wait.
	 */
	vblk_mb();
	avail_idx = vblk_le16_to_cpu(READ_ONCE(vq->avail->idx));
	return avail_idx != vq->last_avail_idx;
}
