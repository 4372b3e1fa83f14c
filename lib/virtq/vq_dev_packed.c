/* SPDX-License-Identifier: MIT */
/*
 * Device side of the packed virtqueue (virtio 1.3 §2.8).
 *
 * This file turns the buffers a driver made available in the descriptor ring
 * into iovecs (vq_dev_packed_pop), writes used elements back into the same
 * ring (vq_dev_packed_push), and implements both event suppression
 * structures (§2.8.10). Everything in the ring and in the driver event
 * structure is written by an untrusted driver: the flags of a slot are read
 * once to decide availability, the rest of each descriptor is read once into
 * a local copy that alone is validated and used, every chain walk is bounded
 * by the ring size (or the indirect table's entry count), and every buffer
 * address goes through the memory table. A ring that breaks a rule marks the
 * queue broken (logged once). The pop/push path does not allocate.
 *
 * Positions. Each direction has a ring position in [0, num) and a wrap
 * counter that toggles whenever the position passes the end of the ring
 * (§2.8.1). For arithmetic (event suppression, occupancy) a (position, wrap)
 * pair is mapped to a "linear" position in [0, 2*num): position + (wrap ? 0 :
 * num). Both counters start at 1, so the linear position advances by one per
 * slot modulo 2*num.
 *
 * Used-position accounting. A buffer of n descriptors occupies n consecutive
 * slots; its single used element is written at the device's current used
 * position, which then advances by n (§2.8.6: "the device ... skips forward
 * according to the number of descriptors in the list"). id_slots[] remembers
 * n per buffer ID, so out-of-order completion keeps both sides in step.
 * Invariant: linear(avail) - linear(used) = slots of the buffers in flight
 * (plus any lost at an untracked reconnect), never more than num.
 *
 * Inflight I/O tracking (vhost-user.rst "Inflight I/O tracking", packed
 * virtqueue layout; VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD). Optionally every
 * popped buffer is recorded in a region the front end keeps across back-end
 * restarts, so that a back end started after this one died can finish what it
 * popped. A packed ring overwrites descriptors with used elements (and a
 * buffer completed out of order lands in the slot of one still in flight), so
 * the region keeps a copy of every descriptor fetched, one per entry
 * (DescStatePacked: addr, len, id, flags); the entries of one buffer are
 * linked by next, and its head entry carries inflight, num (entries = ring
 * slots of the buffer; 1 for an indirect descriptor, whose table stays in
 * guest memory), last (its last entry, whose id is the buffer ID) and
 * counter (pop order). Free entries form a list from free_head. Entries are
 * handed out from a private mirror of that list: on the data path the region
 * is only written, never read, so a front end scribbling on it cannot steer us.
 *
 *   pop (before the request is dispatched): each descriptor's copy into the
 *     next free entries (non-head entries: inflight = 0); head num, last,
 *     counter = ++global; wmb; head inflight = 1 (the commit point: a record
 *     is complete once its flag is set); wmb; free_head; wmb; old_free_head;
 *     wmb.
 *   push: used element id/len in the ring; the buffer's entries back on the
 *     free list (desc[last].next = free_head, free_head = head); wmb; the used
 *     word (below) with used_idx/used_wrap_counter advanced and the old_ pair
 *     unchanged; wmb; the used element's flags (published); wmb; head
 *     inflight = 0; wmb; old_free_head = free_head; wmb; the used word with
 *     old_used_idx/old_used_wrap_counter = used_idx/used_wrap_counter.
 *   The "used word" is bytes 16-23 of the header (used_idx, old_used_idx,
 *   used_wrap_counter, old_used_wrap_counter and two padding bytes), written
 *   as one aligned 64-bit store so no death leaves an index without its wrap
 *   counter. A used word whose two pairs differ says "a push was in progress,
 *   and free_head is its head entry".
 *
 *   start on a region an earlier back end used (version 1): the header and
 *   every entry are validated (read once each; anything out of range, a
 *   chain that is not a simple path of num entries ending at last, two
 *   chains sharing an entry, a buffer ID out of range or in flight twice,
 *   more slots in flight than the ring has, or another layout's tag refuses
 *   the region). A push in progress is committed if the ring slot at
 *   old_used_idx no longer looks available under old_used_wrap_counter (the
 *   used element reached the driver: its head's inflight is cleared) and
 *   rolled back otherwise, as vhost-user.rst says. Every head still in flight
 *   is resubmitted, in counter order, before any new buffer; its chain is
 *   rebuilt from the region's copies and checked like a fresh one (addresses
 *   through vq_mem). The used position is the region's, and the avail
 *   position is the used position plus the slots of the buffers in flight:
 *   the front end's base is stale after a death (QEMU cannot restore a packed
 *   ring's position, virtio_queue_packed_restore_last_avail_idx). The free
 *   list is rebuilt from the entries no buffer holds.
 *   Where this differs from vhost-user.rst's recipe (which rolls a pop back
 *   through old_free_head and clears the free list's inflight flags): a pop
 *   is committed by its inflight flag instead, which is equivalent (a
 *   recorded but undispatched request is simply resubmitted), and the free
 *   list is rebuilt rather than walked. Only a back end like this one reads
 *   the region; its layout and header fields are the spec's.
 */
#include "vq_dev_packed.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "internal/log.h"
#include "vq_priv.h"

/* A descriptor after the single read from guest memory, in CPU byte order. */
struct pdesc_copy {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

/* An event suppression structure, read or written as one 32-bit access. */
int vq_dev_packed_init(struct vq_dev_packed *vq, unsigned num)
{
	if (num == 0 || num > VQ_DEV_MAX_SIZE || num > VQ_PACKED_MAX_SIZE)
		return -EINVAL;
	vq->id_slots = calloc(num, sizeof(*vq->id_slots));
	/* Inflight tracking bookkeeping, allocated here: start and pop never fail for memory. */
	vq->fl_next = calloc(num, sizeof(*vq->fl_next));
	vq->id_head = calloc(num, sizeof(*vq->id_head));
	vq->id_last = calloc(num, sizeof(*vq->id_last));
	vq->chain = calloc(num, sizeof(*vq->chain));
	vq->ent_copy = calloc(num, sizeof(*vq->ent_copy));
	vq->scan = calloc(num, 1);
	vq->resubmit = calloc(num, sizeof(*vq->resubmit));
	if (vq->id_slots == NULL || vq->fl_next == NULL || vq->id_head == NULL ||
	    vq->id_last == NULL || vq->chain == NULL || vq->ent_copy == NULL || vq->scan == NULL ||
	    vq->resubmit == NULL) {
		vq_dev_packed_fini(vq);
		return -ENOMEM;
	}
	vq->inflight_region = NULL;
	vq->inflight_counter = 0;
	vq->inflight_recovered = false;
	vq->fl_head = 0;
	vq->resubmit_num = vq->resubmit_next = 0;
	vq->num = (uint16_t)num;
	vq->mem = NULL;
	vq->desc = NULL;
	vq->driver_event = NULL;
	vq->device_event = NULL;
	vq->last_avail_idx = 0;
	vq->avail_wrap = true;
	vq->used_idx = 0;
	vq->used_wrap = true;
	vq->inflight = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->used_since_signal = 0;
	vq->broken = false;
	vq->broken_logged = false;
	return 0;
}

void vq_dev_packed_fini(struct vq_dev_packed *vq)
{
	if (vq == NULL)
		return;
	free(vq->id_slots);
	vq->id_slots = NULL;
	free(vq->fl_next);
	vq->fl_next = NULL;
	free(vq->id_head);
	vq->id_head = NULL;
	free(vq->id_last);
	vq->id_last = NULL;
	free(vq->chain);
	vq->chain = NULL;
	free(vq->ent_copy);
	vq->ent_copy = NULL;
	free(vq->scan);
	vq->scan = NULL;
	free(vq->resubmit);
	vq->resubmit = NULL;
	vq->resubmit_num = vq->resubmit_next = 0;
	vq->inflight_region = NULL;
	vq->num = 0;
	vq->mem = NULL;
	vq->desc = NULL;
	vq->driver_event = NULL;
	vq->device_event = NULL;
	vq->inflight = 0;
}

int vq_dev_packed_map_rings(const struct vq_mem *mem, unsigned num, uint64_t desc_uva,
			    uint64_t driver_uva, uint64_t device_uva,
			    struct virtq_packed_desc **desc,
			    struct virtq_packed_event **driver_event,
			    struct virtq_packed_event **device_event)
{
	void *d, *drv, *dev;
	int ret;

	if (num == 0 || num > VQ_PACKED_MAX_SIZE)
		return -EINVAL;
	/* §2.8.10.1: descriptor ring 16-aligned, 16*num bytes; events 4-aligned, 4 bytes. */
	ret = vq_map_area(mem, desc_uva, (size_t)num * sizeof(struct virtq_packed_desc), 16, &d);
	if (ret)
		return ret;
	ret = vq_map_area(mem, driver_uva, sizeof(struct virtq_packed_event), 4, &drv);
	if (ret)
		return ret;
	ret = vq_map_area(mem, device_uva, sizeof(struct virtq_packed_event), 4, &dev);
	if (ret)
		return ret;
	*desc = d;
	*driver_event = drv;
	*device_event = dev;
	return 0;
}

/* ---- Inflight I/O tracking (see the top of this file) ---- */

/* Bytes 16-23 of the region header, stored and loaded as one aligned 64-bit word. */
struct used_word {
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap;
	uint8_t old_used_wrap;
	uint8_t padding[2]; /* the first two bytes of the header's padding[7] */
};

_Static_assert(sizeof(struct vhost_user_inflight_desc_packed) == 32, "DescStatePacked");
_Static_assert(sizeof(struct vhost_user_inflight_packed_queue) == 32, "QueueRegionPacked");
_Static_assert(offsetof(struct vhost_user_inflight_packed_queue, used_idx) == 16 &&
		   offsetof(struct vhost_user_inflight_packed_queue, old_used_idx) == 18 &&
		   offsetof(struct vhost_user_inflight_packed_queue, used_wrap_counter) == 20 &&
		   offsetof(struct vhost_user_inflight_packed_queue, old_used_wrap_counter) == 21 &&
		   sizeof(struct used_word) == 8,
	       "used word layout");

static uint64_t *used_word_ptr(struct vhost_user_inflight_packed_queue *r)
{
	/* 8-byte aligned: the region is (vq_dev_packed_set_inflight) and the offset is 16. */
	return (uint64_t *)(void *)&r->used_idx;
}

static void used_word_write(struct vhost_user_inflight_packed_queue *r, uint16_t idx, bool wrap,
			    uint16_t old_idx, bool old_wrap)
{
	struct used_word w = {idx, old_idx, wrap, old_wrap, {0, 0}};
	uint64_t raw;

	memcpy(&raw, &w, sizeof(raw));
	WRITE_ONCE(*used_word_ptr(r), raw);
}

static struct used_word used_word_read(struct vhost_user_inflight_packed_queue *r)
{
	uint64_t raw = READ_ONCE(*used_word_ptr(r));
	struct used_word w;

	memcpy(&w, &raw, sizeof(w));
	return w;
}

size_t vq_dev_packed_inflight_size(unsigned num)
{
	return sizeof(struct vhost_user_inflight_packed_queue) +
	       (size_t)num * sizeof(struct vhost_user_inflight_desc_packed);
}

int vq_dev_packed_set_inflight(struct vq_dev_packed *vq, void *region, size_t len)
{
	if (region == NULL) {
		vq->inflight_region = NULL;
		return 0;
	}
	/* The u64 fields (counter, addr, the used word) are accessed in place. */
	if (vq->num == 0 || vq->resubmit == NULL || (uintptr_t)region % 8 ||
	    len < vq_dev_packed_inflight_size(vq->num))
		return -EINVAL;
	vq->inflight_region = region;
	return 0;
}

unsigned vq_dev_packed_resubmit_pending(const struct vq_dev_packed *vq)
{
	return (unsigned)(vq->resubmit_num - vq->resubmit_next);
}

static int resubmit_cmp(const void *a, const void *b)
{
	const struct vq_packed_resubmit *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	/* Equal counters only in a region someone else wrote: any fixed order will do. */
	return (int)x->head - (int)y->head;
}

/* A fresh (version 0) region: an empty tracking state at the ring position start was given. */
static void inflight_init(struct vq_dev_packed *vq)
{
	struct vhost_user_inflight_packed_queue *r = vq->inflight_region;

	/* Cleared in case the front end did not zero the memory. */
	memset(r->desc, 0, (size_t)vq->num * sizeof(r->desc[0]));
	for (unsigned i = 0; i < vq->num; i++) {
		vq->fl_next[i] = (uint16_t)(i + 1); /* the last one: num, "none" */
		WRITE_ONCE(r->desc[i].next, vq->fl_next[i]);
	}
	vq->fl_head = 0;
	WRITE_ONCE(r->features, VQ_INFLIGHT_F_PACKED_LAYOUT);
	WRITE_ONCE(r->desc_num, vq->num);
	WRITE_ONCE(r->free_head, 0);
	WRITE_ONCE(r->old_free_head, 0);
	used_word_write(r, vq->used_idx, vq->used_wrap, vq->used_idx, vq->used_wrap);
	/* Orders the initialisation above before the version store: version 1 means valid. */
	vblk_wmb();
	WRITE_ONCE(r->version, VQ_PACKED_INFLIGHT_VERSION);
	vq->inflight_counter = 0;
}

/*
 * Validate the chain of the in-flight head entry h and queue it for
 * resubmission. scan[] bit 0 marks entries some chain holds, bit 1 buffer IDs
 * in flight. Every field is read once, into ent_copy[] and fl_next[]. Returns
 * the slots it occupies, or 0 if the region is inconsistent.
 */
#define SCAN_ENTRY 1u
#define SCAN_ID	   2u
static unsigned inflight_claim(struct vq_dev_packed *vq, uint16_t h, uint64_t *max_counter)
{
	struct vhost_user_inflight_packed_queue *r = vq->inflight_region;
	uint16_t n = READ_ONCE(r->desc[h].num), last = READ_ONCE(r->desc[h].last);
	uint64_t counter = READ_ONCE(r->desc[h].counter);
	uint16_t e = h, id;

	if (n == 0 || n > vq->num) {
		vblk_warn("inflight region: head entry %u holds %u descriptors (queue size %u)", h,
			  n, vq->num);
		return 0;
	}
	for (unsigned k = 0; k < n; k++) {
		struct vhost_user_inflight_desc_packed *x;
		struct vq_packed_desc_rec *c;

		if (e >= vq->num || (vq->scan[e] & SCAN_ENTRY)) {
			vblk_warn("inflight region: the chain of head entry %u reaches entry %u, "
				  "out of range or held twice",
				  h, e);
			return 0;
		}
		vq->scan[e] |= SCAN_ENTRY;
		x = &r->desc[e];
		c = &vq->ent_copy[e];
		c->addr = READ_ONCE(x->addr);
		c->len = READ_ONCE(x->len);
		c->id = READ_ONCE(x->id);
		c->flags = READ_ONCE(x->flags);
		/*
		 * What pop recorded: NEXT on every descriptor but the last
		 * (§2.8.6), and an INDIRECT descriptor only alone (§2.8.7).
		 */
		if (!(c->flags & VIRTQ_DESC_F_NEXT) != (k + 1 == n) ||
		    ((c->flags & VIRTQ_DESC_F_INDIRECT) && n != 1)) {
			vblk_warn("inflight region: entry %u of head entry %u has flags %#x", e, h,
				  c->flags);
			return 0;
		}
		if (k + 1 < n) {
			vq->fl_next[e] = READ_ONCE(x->next);
			e = vq->fl_next[e];
		}
	}
	id = vq->ent_copy[e].id;
	if (e != last || id >= vq->num || (vq->scan[id] & SCAN_ID)) {
		vblk_warn("inflight region: head entry %u: last %u (chain ends at %u), buffer id "
			  "%u out of range or in flight twice",
			  h, last, e, id);
		return 0;
	}
	vq->scan[id] |= SCAN_ID;
	vq->id_head[id] = h;
	vq->id_last[id] = e;
	vq->resubmit[vq->resubmit_num++] = (struct vq_packed_resubmit){counter, h, id, n};
	if (counter > *max_counter)
		*max_counter = counter;
	return n;
}

/*
 * vq_dev_packed_start with an inflight region (see the top of this file).
 * The ring position was set from the base; a recovered region overrides it.
 */
static int inflight_start(struct vq_dev_packed *vq)
{
	struct vhost_user_inflight_packed_queue *r = vq->inflight_region;
	uint16_t version = READ_ONCE(r->version), desc_num = READ_ONCE(r->desc_num);
	uint64_t features = READ_ONCE(r->features), max_counter = 0;
	uint16_t upos, apos, head, fh = 0;
	bool uwrap, awrap, in_progress, commit = false;
	struct used_word w;
	unsigned slots = 0;

	if (version == 0) {
		/*
		 * The region can only say "used position + the slots of the
		 * buffers it records"; a base with slots consumed but not used
		 * (lost by an untracked restart) cannot be tracked.
		 */
		if (vq->last_avail_idx != vq->used_idx || vq->avail_wrap != vq->used_wrap) {
			vblk_warn("inflight region: the ring has slots in flight that no region "
				  "recorded; running untracked");
			vq->inflight_region = NULL;
			return 0;
		}
		inflight_init(vq);
		return 0;
	}
	if (version != VQ_PACKED_INFLIGHT_VERSION || desc_num != vq->num ||
	    features != VQ_INFLIGHT_F_PACKED_LAYOUT) {
		vblk_warn("inflight region: version %u, %u descriptors, features %#llx; expected a "
			  "packed-layout version %u region for %u",
			  version, desc_num, (unsigned long long)features,
			  VQ_PACKED_INFLIGHT_VERSION, vq->num);
		return -EINVAL;
	}
	w = used_word_read(r);
	if (w.used_idx >= vq->num || w.old_used_idx >= vq->num || w.used_wrap > 1 ||
	    w.old_used_wrap > 1) {
		vblk_warn("inflight region: used %u/%u, old used %u/%u for queue size %u",
			  w.used_idx, w.used_wrap, w.old_used_idx, w.old_used_wrap, vq->num);
		return -EINVAL;
	}
	in_progress = w.used_idx != w.old_used_idx || w.used_wrap != w.old_used_wrap;
	upos = w.old_used_idx;
	uwrap = w.old_used_wrap;
	/*
	 * Nothing is written before the whole region validated: a refused
	 * region is left as it was.
	 */
	if (in_progress) {
		/*
		 * A push was in progress, and free_head is its head entry.
		 * "When reconnecting": its used element reached the driver
		 * if the slot at old_used_idx no longer looks available under
		 * old_used_wrap_counter (it is used, or even available again
		 * one lap later); then commit, otherwise roll back.
		 */
		uint16_t flags = vblk_le16_to_cpu(READ_ONCE(vq->desc[w.old_used_idx].flags));

		fh = READ_ONCE(r->free_head);
		if (fh >= vq->num) {
			vblk_warn("inflight region: push in progress with free_head %u", fh);
			return -EINVAL;
		}
		commit = !vq_packed_desc_is_avail(flags, w.old_used_wrap);
		if (commit) {
			upos = w.used_idx;
			uwrap = w.used_wrap;
		}
	}

	memset(vq->scan, 0, vq->num);
	vq->resubmit_num = vq->resubmit_next = 0;
	for (unsigned i = 0; i < vq->num; i++) {
		unsigned n;

		/* An entry held twice (a head inside another chain too) is refused by the claim. */
		if (!READ_ONCE(r->desc[i].inflight) || (commit && i == fh))
			continue;
		n = inflight_claim(vq, (uint16_t)i, &max_counter);
		slots += n;
		if (n == 0 || slots > vq->num) {
			if (n)
				vblk_warn("inflight region: %u slots in flight, queue size %u",
					  slots, vq->num);
			vq->resubmit_num = 0;
			return -EINVAL;
		}
	}
	qsort(vq->resubmit, vq->resubmit_num, sizeof(vq->resubmit[0]), resubmit_cmp);

	/* Valid: finish the push in progress, either way. */
	if (in_progress) {
		if (commit) {
			WRITE_ONCE(r->desc[fh].inflight, 0);
			/* Orders the inflight clear before the stores that commit the push. */
			vblk_wmb();
			WRITE_ONCE(r->old_free_head, fh);
			vblk_wmb();
		}
		used_word_write(r, upos, uwrap, upos, uwrap);
		/* Orders the decision before the free list rebuilt below. */
		vblk_wmb();
	}

	/* The free list: every entry no buffer holds, in index order. */
	head = vq->num;
	for (unsigned i = vq->num; i-- > 0;) {
		if (vq->scan[i] & SCAN_ENTRY)
			continue;
		vq->fl_next[i] = head;
		WRITE_ONCE(r->desc[i].next, head);
		head = (uint16_t)i;
	}
	vq->fl_head = head;
	/* Orders the links before the head that makes them the free list. */
	vblk_wmb();
	WRITE_ONCE(r->free_head, head);
	vblk_wmb();
	WRITE_ONCE(r->old_free_head, head);

	apos = upos;
	awrap = uwrap;
	vq_packed_advance(vq->num, &apos, &awrap, slots);
	if (apos != vq->last_avail_idx || awrap != vq->avail_wrap || upos != vq->used_idx ||
	    uwrap != vq->used_wrap)
		vblk_dbg("inflight region: %u buffers to resubmit; avail %u/%u used %u/%u (the "
			 "front end said %u/%u %u/%u)",
			 vq->resubmit_num, apos, awrap, upos, uwrap, vq->last_avail_idx,
			 vq->avail_wrap, vq->used_idx, vq->used_wrap);
	vq->last_avail_idx = apos;
	vq->avail_wrap = awrap;
	vq->used_idx = upos;
	vq->used_wrap = uwrap;
	vq->inflight_counter = max_counter;
	vq->inflight_recovered = true;
	return 0;
}

int vq_dev_packed_start(struct vq_dev_packed *vq, const struct vq_mem *mem,
			struct virtq_packed_desc *desc, struct virtq_packed_event *driver_event,
			struct virtq_packed_event *device_event, uint32_t base)
{
	uint16_t apos = VQ_PACKED_BASE_AVAIL_POS(base), upos = VQ_PACKED_BASE_USED_POS(base);
	bool awrap = VQ_PACKED_BASE_AVAIL_WRAP(base), uwrap = VQ_PACKED_BASE_USED_WRAP(base);
	unsigned gap;

	if (vq->num == 0 || vq->id_slots == NULL || mem == NULL || desc == NULL ||
	    driver_event == NULL || device_event == NULL)
		return -EINVAL;
	if ((uintptr_t)desc % 16 || (uintptr_t)driver_event % 4 || (uintptr_t)device_event % 4)
		return -EINVAL;
	/*
	 * Only the avail half was sent (DPDK reads only it and takes used =
	 * avail). Ambiguous only with a used half of exactly (0, wrap 0) and
	 * buffers lost in flight, which a reconnect without in-flight tracking
	 * cannot recover anyway.
	 */
	if ((base >> 16) == 0) {
		upos = apos;
		uwrap = awrap;
	}
	if (apos >= vq->num || upos >= vq->num)
		return -EINVAL;

	vq->mem = mem;
	vq->desc = desc;
	vq->driver_event = driver_event;
	vq->device_event = device_event;
	vq->last_avail_idx = apos;
	vq->avail_wrap = awrap;
	vq->used_idx = upos;
	vq->used_wrap = uwrap;
	/* The device cannot have consumed more than one ring ahead of what it used. */
	gap = (vq_packed_lin(vq->num, apos, awrap) + 2u * vq->num -
	       vq_packed_lin(vq->num, upos, uwrap)) %
	      (2u * vq->num);
	if (gap > vq->num)
		return -EINVAL;
	vq->inflight = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->used_since_signal = 0;
	vq->broken = false;
	vq->broken_logged = false;
	memset(vq->id_slots, 0, vq->num * sizeof(*vq->id_slots));
	vq->resubmit_num = vq->resubmit_next = 0;
	vq->inflight_recovered = false;
	if (vq->inflight_region)
		return inflight_start(vq);
	return 0;
}

uint32_t vq_dev_packed_get_base(const struct vq_dev_packed *vq)
{
	return VQ_PACKED_BASE(vq->last_avail_idx, vq->avail_wrap, vq->used_idx, vq->used_wrap);
}

void vq_dev_packed_set_broken(struct vq_dev_packed *vq, const char *why)
{
	vq_mark_broken(&vq->broken, &vq->broken_logged, "packed virtqueue", vq, "%s", why);
}

/* vq_dev_packed_set_broken with a formatted reason; formats only the first time. */
#define vq_broken(vq, ...)                                                                         \
	vq_mark_broken(&(vq)->broken, &(vq)->broken_logged, "packed virtqueue", (vq), __VA_ARGS__)

/*
 * Copy one descriptor out of guest memory. The compiler barrier makes the
 * 16-byte copy the only read: the compiler may not re-load a field from
 * guest memory instead of using the copy (double fetch). memcpy also copes
 * with an indirect table at an unaligned guest address.
 */
static void desc_read_once(const void *src, struct pdesc_copy *d)
{
	struct virtq_packed_desc raw;

	memcpy(&raw, src, sizeof(raw));
	__asm__ __volatile__("" ::: "memory");
	d->addr = vblk_le64_to_cpu(raw.addr);
	d->len = vblk_le32_to_cpu(raw.len);
	d->id = vblk_le16_to_cpu(raw.id);
	d->flags = vblk_le16_to_cpu(raw.flags);
}

/* Append one buffer descriptor (not INDIRECT) to the chain; breaks the queue if it is bad. */
static int chain_add(struct vq_dev_packed *vq, struct vq_chain *c, const struct pdesc_copy *d,
		     uint16_t slot)
{
	char why[128];

	if (vq_chain_add(vq->mem, c, d->addr, d->len, d->flags & VIRTQ_DESC_F_WRITE, why,
			 sizeof(why))) {
		vq_broken(vq, "slot %u: %s", slot, why);
		return -EIO;
	}
	return 0;
}

/*
 * §2.8.7: one descriptor in the ring points to a table of descriptors that
 * forms the whole buffer. The table is walked by its entry count: NEXT and
 * the Buffer ID of its entries are reserved and ignored by the device, WRITE
 * is the only valid flag, and INDIRECT inside is forbidden.
 */
static int walk_indirect(struct vq_dev_packed *vq, struct vq_chain *c, const struct pdesc_copy *d,
			 uint16_t slot)
{
	const unsigned char *t;
	struct pdesc_copy e;
	unsigned n;

	if (!vq->indirect) {
		vq_broken(vq, "slot %u: INDIRECT without VIRTIO_F_INDIRECT_DESC", slot);
		return -EIO;
	}
	if (d->flags & VIRTQ_DESC_F_NEXT) {
		vq_broken(vq, "slot %u: INDIRECT combined with NEXT", slot);
		return -EIO;
	}
	if (d->len == 0 || d->len % sizeof(struct virtq_packed_desc) != 0) {
		vq_broken(vq, "slot %u: indirect table length %u", slot, d->len);
		return -EIO;
	}
	/* Read as an array, so it must be contiguous in one region. */
	t = vq_mem_gpa_to_hva(vq->mem, d->addr, d->len);
	if (t == NULL) {
		vq_broken(vq, "slot %u: indirect table 0x%llx+%u not mapped", slot,
			  (unsigned long long)d->addr, d->len);
		return -EIO;
	}
	n = d->len / sizeof(struct virtq_packed_desc);
	for (unsigned i = 0; i < n; i++) {
		desc_read_once(t + (size_t)i * sizeof(struct virtq_packed_desc), &e);
		if (e.flags & VIRTQ_DESC_F_INDIRECT) {
			vq_broken(vq, "slot %u: nested indirect table", slot);
			return -EIO;
		}
		if (chain_add(vq, c, &e, slot))
			return -EIO;
	}
	return 0;
}

/*
 * Walk the buffer whose first slot (at vq->last_avail_idx) the caller saw
 * available with flags0. On success *id is the buffer ID and *nslots the ring
 * slots it occupies.
 */
static int walk(struct vq_dev_packed *vq, uint16_t flags0, struct vq_chain *c, uint16_t *id,
		uint16_t *nslots)
{
	uint16_t pos = vq->last_avail_idx;
	bool wrap = vq->avail_wrap;
	struct pdesc_copy d;
	unsigned n = 0;

	for (;;) {
		uint16_t flags;

		/* §2.8.6: a list never holds more descriptors than the ring has slots. */
		if (n >= vq->num) {
			vq_broken(vq, "slot %u: descriptor chain exceeds %u entries",
				  vq->last_avail_idx, vq->num);
			return -EIO;
		}
		if (n == 0) {
			flags = flags0;
		} else {
			/*
			 * §2.8.6: every descriptor of a list carries AVAIL/USED
			 * for its own slot (the wrap counter toggles if the
			 * list runs past the end), and the driver wrote them
			 * all before the first one's flags, which the rmb in
			 * pop ordered us after.
			 */
			flags = vblk_le16_to_cpu(READ_ONCE(vq->desc[pos].flags));
			if (!vq_packed_desc_is_avail(flags, wrap)) {
				vq_broken(vq,
					  "slot %u: descriptor %u of the list at %u not available",
					  pos, n, vq->last_avail_idx);
				return -EIO;
			}
		}
		desc_read_once(&vq->desc[pos], &d);
		/* Availability was decided on the first read; use that value. */
		d.flags = flags;
		/* The copy an inflight region records (pop), the ring slot being reusable. */
		vq->chain[n] = (struct vq_packed_desc_rec){d.addr, d.len, d.id, d.flags};
		n++;

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/*
			 * §2.8.7 describes the indirect descriptor as the whole
			 * buffer; Linux and QEMU never chain it with direct
			 * ones, and we do not accept that.
			 */
			if (n != 1) {
				vq_broken(vq, "slot %u: INDIRECT inside a descriptor list", pos);
				return -EIO;
			}
			if (walk_indirect(vq, c, &d, pos))
				return -EIO;
			break;
		}
		if (chain_add(vq, c, &d, pos))
			return -EIO;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		vq_packed_advance(vq->num, &pos, &wrap, 1);
	}
	/* §2.8.6: the buffer ID is in the last descriptor of the list. */
	*id = d.id;
	*nslots = (uint16_t)n;
	return 0;
}

/*
 * Pop a buffer a previous back end had popped and not completed, rebuilt from
 * the copies inflight_start validated (the ring slots may hold used elements
 * by now). Its slots are already counted between used and avail, and the
 * region still records it with its old counter, so only our bookkeeping
 * changes. Its buffers are checked like a fresh one's.
 */
static int pop_resubmit(struct vq_dev_packed *vq, struct vq_dev_elem *elem, struct iovec *iov,
			unsigned iov_max)
{
	struct vq_chain c = {.iov = iov, .iov_max = iov_max};
	const struct vq_packed_resubmit *rs = &vq->resubmit[vq->resubmit_next];
	uint16_t e = rs->head;

	/* inflight_start queued IDs < num, each once, with entries < num. */
	assert(rs->id < vq->num && vq->id_slots[rs->id] == 0);
	for (unsigned k = 0; k < rs->num; k++) {
		const struct vq_packed_desc_rec *x = &vq->ent_copy[e];
		struct pdesc_copy d = {x->addr, x->len, x->id, x->flags};

		assert(e < vq->num);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (walk_indirect(vq, &c, &d, e))
				return -EIO;
		} else if (chain_add(vq, &c, &d, e)) {
			return -EIO;
		}
		e = vq->fl_next[e];
	}
	elem->head = rs->id;
	elem->out_num = c.out_num;
	elem->in_num = c.in_num;
	elem->out_len = c.out_len;
	elem->in_len = c.in_len;
	elem->iov = iov;
	vq->id_slots[rs->id] = rs->num;
	vq->inflight++;
	vq->resubmit_next++;
	return 1;
}

/*
 * Record buffer id, whose n descriptors walk() copied into chain[], in the
 * inflight region before it is dispatched (see the top of this file). The
 * caller checked that n more slots fit, so the free list holds n entries.
 */
static void inflight_record(struct vq_dev_packed *vq, uint16_t id, uint16_t n)
{
	struct vhost_user_inflight_packed_queue *r = vq->inflight_region;
	uint16_t head = vq->fl_head, e = head, last = head;

	for (unsigned k = 0; k < n; k++) {
		struct vhost_user_inflight_desc_packed *x;

		assert(e < vq->num);
		x = &r->desc[e];
		WRITE_ONCE(x->addr, vq->chain[k].addr);
		WRITE_ONCE(x->len, vq->chain[k].len);
		WRITE_ONCE(x->id, vq->chain[k].id);
		WRITE_ONCE(x->flags, vq->chain[k].flags);
		/* Only a head is ever in flight; say so for the others explicitly. */
		if (k)
			WRITE_ONCE(x->inflight, 0);
		last = e;
		e = vq->fl_next[e];
	}
	WRITE_ONCE(r->desc[head].num, n);
	WRITE_ONCE(r->desc[head].last, last);
	WRITE_ONCE(r->desc[head].counter, ++vq->inflight_counter);
	/*
	 * Orders the copies, num, last and counter before the inflight flag:
	 * a head a successor finds in flight must have a complete record.
	 */
	vblk_wmb();
	WRITE_ONCE(r->desc[head].inflight, 1);
	/* Orders the flag (the commit point) before the free list stores. */
	vblk_wmb();
	WRITE_ONCE(r->free_head, e);
	vblk_wmb();
	WRITE_ONCE(r->old_free_head, e);
	/*
	 * Orders every store above before those that dispatch the request (the
	 * backend's submission after we return): a request that reached the
	 * disk is always one a successor will find.
	 */
	vblk_wmb();
	vq->fl_head = e;
	vq->id_head[id] = head;
	vq->id_last[id] = last;
}

int vq_dev_packed_pop(struct vq_dev_packed *vq, struct vq_dev_elem *elem, struct iovec *iov,
		      unsigned iov_max)
{
	struct vq_chain c = {.iov = iov, .iov_max = iov_max};
	uint16_t flags0, id, nslots;
	unsigned busy;

	if (vq->broken)
		return -EIO;
	assert(vq->desc != NULL && vq->driver_event != NULL && vq->device_event != NULL);

	/* "Inflight I/O tracking": resubmit before taking new buffers. */
	if (vq->resubmit_next < vq->resubmit_num)
		return pop_resubmit(vq, elem, iov, iov_max);

	flags0 = vblk_le16_to_cpu(READ_ONCE(vq->desc[vq->last_avail_idx].flags));
	if (!vq_packed_desc_is_avail(flags0, vq->avail_wrap))
		return 0;
	/*
	 * Orders the load of the first slot's flags above before the loads of
	 * its addr/len/id and of the list's other slots below: the driver
	 * wrote all of those before it set the first slot's AVAIL bit
	 * (§2.8.21.1), so after seeing the bit we must not see them stale.
	 */
	vblk_rmb();

	if (walk(vq, flags0, &c, &id, &nslots))
		return -EIO;
	/* Our policy, needed for id_slots[]: Linux and QEMU use IDs below the ring size. */
	if (id >= vq->num) {
		vq_broken(vq, "slot %u: buffer id %u >= queue size %u", vq->last_avail_idx, id,
			  vq->num);
		return -EIO;
	}
	/* §2.8.21: an ID is reused only after the device returned it. */
	if (vq->id_slots[id]) {
		vq_broken(vq, "slot %u: buffer id %u made available again while in flight",
			  vq->last_avail_idx, id);
		return -EIO;
	}
	/*
	 * Slots between used and avail hold buffers in flight; the driver may
	 * not reuse them, so a new buffer cannot push the total past num.
	 * This also keeps the used position from ever overtaking avail.
	 */
	busy = (vq_packed_lin(vq->num, vq->last_avail_idx, vq->avail_wrap) + 2u * vq->num -
		vq_packed_lin(vq->num, vq->used_idx, vq->used_wrap)) %
	       (2u * vq->num);
	if (busy + nslots > vq->num) {
		vq_broken(vq, "slot %u: %u slots in flight plus %u exceed queue size %u",
			  vq->last_avail_idx, busy, nslots, vq->num);
		return -EIO;
	}

	elem->head = id;
	elem->out_num = c.out_num;
	elem->in_num = c.in_num;
	elem->out_len = c.out_len;
	elem->in_len = c.in_len;
	elem->iov = iov;

	if (vq->inflight_region)
		inflight_record(vq, id, nslots);
	vq->id_slots[id] = nslots;
	vq->inflight++;
	vq_packed_advance(vq->num, &vq->last_avail_idx, &vq->avail_wrap, nslots);

	/*
	 * §2.8.10: with EVENT_IDX ask for a kick when the next slot becomes
	 * available, as the split ring keeps avail_event at last_avail_idx.
	 * A hint; enable_kicks has the barrier that closes the race.
	 */
	if (vq->event_idx)
		vq_packed_event_write(vq->device_event,
				      vq_packed_off_wrap(vq->last_avail_idx, vq->avail_wrap),
				      VIRTQ_PACKED_EVENT_FLAG_DESC);
	return 1;
}

void vq_dev_packed_push(struct vq_dev_packed *vq, uint16_t id, uint32_t len)
{
	struct vhost_user_inflight_packed_queue *r = vq->inflight_region;
	uint16_t flags, n, old_idx = vq->used_idx, head = 0, last = 0;
	bool old_wrap = vq->used_wrap;
	struct virtq_packed_desc *d;

	/* Our invariant: the transport only pushes what pop returned. */
	assert(id < vq->num && vq->id_slots[id] != 0);
	n = vq->id_slots[id];

	d = &vq->desc[vq->used_idx];
	WRITE_ONCE(d->id, vblk_cpu_to_le16(id));
	/* §2.8.4: len is the number of bytes written into the writable buffers. */
	WRITE_ONCE(d->len, vblk_cpu_to_le32(len));
	/* §2.8.6: the next used element goes after all n slots of this buffer. */
	vq_packed_advance(vq->num, &vq->used_idx, &vq->used_wrap, n);
	if (r) {
		/*
		 * "Inflight I/O tracking", bookkeeping before the used element
		 * is published: the buffer's entries go back on the free list
		 * (still marked in flight), then the used word says a push is
		 * in progress: a successor compares old_used_idx's slot to
		 * decide whether it reached the driver.
		 */
		head = vq->id_head[id];
		last = vq->id_last[id];
		assert(head < vq->num && last < vq->num);
		WRITE_ONCE(r->desc[last].next, vq->fl_head);
		WRITE_ONCE(r->free_head, head);
		/*
		 * Orders free_head before the used word: when the word says
		 * "in progress", free_head must already name this push's head.
		 */
		vblk_wmb();
		used_word_write(r, vq->used_idx, vq->used_wrap, old_idx, old_wrap);
		vq->fl_next[last] = vq->fl_head;
		vq->fl_head = head;
	}
	/*
	 * §2.8.1: a used element has AVAIL and USED both equal to the device
	 * wrap counter. §2.8.4: len is only meaningful with WRITE set, so set
	 * it exactly when bytes were written (as QEMU and DPDK do).
	 */
	flags = old_wrap ? (uint16_t)(VQ_PACKED_F_AVAIL | VQ_PACKED_F_USED) : 0;
	if (len)
		flags |= VIRTQ_DESC_F_WRITE;
	/*
	 * Orders the id/len stores above before the flags store below: the
	 * driver reads id and len after it sees the flags (§2.8.22), so they
	 * must be in place by the time the flags say "used". With a region it
	 * also orders the used word first: published before it, a death in
	 * between would leave a used element no successor knows of (resubmitted
	 * and completed twice, and its used position written again).
	 */
	vblk_wmb();
	WRITE_ONCE(d->flags, vblk_cpu_to_le16(flags));

	if (r) {
		/*
		 * Orders the publication before inflight = 0: cleared first, a
		 * death in between would lose a request the driver never saw
		 * used.
		 */
		vblk_wmb();
		WRITE_ONCE(r->desc[head].inflight, 0);
		/*
		 * Orders inflight = 0 before the commit: committed first, the
		 * used word would no longer point at this push, and a head the
		 * driver saw used would be resubmitted.
		 */
		vblk_wmb();
		WRITE_ONCE(r->old_free_head, head);
		/* Orders old_free_head before the used word that ends the push. */
		vblk_wmb();
		used_word_write(r, vq->used_idx, vq->used_wrap, vq->used_idx, vq->used_wrap);
	}

	vq->id_slots[id] = 0;
	vq->inflight--;
	if (vq->used_since_signal < UINT32_MAX - VQ_PACKED_MAX_SIZE)
		vq->used_since_signal += n;
}

bool vq_dev_packed_need_notify(struct vq_dev_packed *vq)
{
	unsigned old, since;
	struct vq_packed_event e;
	bool valid;

	/*
	 * Orders our used flags stores (push) before the load of the driver
	 * event structure below. Without it the load could pass the store:
	 * the driver could enable notifications, see our slot still unused,
	 * and sleep while we see notifications off and skip the interrupt.
	 */
	vblk_mb();
	e = vq_packed_event_read(vq->driver_event);

	old = vq->signalled_used;
	since = vq->used_since_signal;
	valid = vq->signalled_used_valid;
	vq->signalled_used = (uint16_t)vq_packed_lin(vq->num, vq->used_idx, vq->used_wrap);
	vq->used_since_signal = 0;
	vq->signalled_used_valid = true;

	switch (e.flags & 3u) {
	case VIRTQ_PACKED_EVENT_FLAG_DISABLE:
		return false;
	case VIRTQ_PACKED_EVENT_FLAG_DESC:
		/* §2.8.10: DESC is only valid with EVENT_IDX; otherwise treat as ENABLE. */
		if (!vq->event_idx)
			return true;
		/* Nothing to compare with yet: signal. */
		if (!valid)
			return true;
		/* §2.8.10: notify when the used element at off_wrap was written. */
		return vq_packed_need_event(vq->num, e.off_wrap, old, since);
	default:
		/* ENABLE, or the reserved value 3: signal rather than risk a hang. */
		return true;
	}
}

void vq_dev_packed_disable_kicks(struct vq_dev_packed *vq)
{
	if (!vq->event_idx)
		vq_packed_event_write(vq->device_event, 0, VIRTQ_PACKED_EVENT_FLAG_DISABLE);
}

bool vq_dev_packed_enable_kicks(struct vq_dev_packed *vq)
{
	uint16_t flags;

	if (vq->event_idx)
		vq_packed_event_write(vq->device_event,
				      vq_packed_off_wrap(vq->last_avail_idx, vq->avail_wrap),
				      VIRTQ_PACKED_EVENT_FLAG_DESC);
	else
		vq_packed_event_write(vq->device_event, 0, VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	/*
	 * Orders the event structure store above before the load of the next
	 * slot's flags below: otherwise a driver that made a buffer available
	 * in between could see kicks still off while we see no new buffer,
	 * and both wait.
	 */
	vblk_mb();
	flags = vblk_le16_to_cpu(READ_ONCE(vq->desc[vq->last_avail_idx].flags));
	return vq_packed_desc_is_avail(flags, vq->avail_wrap);
}
