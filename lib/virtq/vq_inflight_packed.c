/* SPDX-License-Identifier: MIT */
/*
 * Inflight I/O tracking for packed rings (vhost-user.rst "Inflight I/O
 * tracking", packed virtqueue layout; VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD):
 * record every popped buffer in a region the front end keeps across back-end
 * restarts, and recover from one, so that a back end started after this one
 * died can finish what it popped. See vq_inflight.h for the interface.
 *
 * A packed ring overwrites descriptors with used elements (and a
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
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "internal/log.h"
#include "vq_dev_ops.h"
#include "vq_priv.h"

static struct vhost_user_inflight_packed_queue *region(struct vq_dev *vq)
{
	return vq->inflight_region;
}

int vq_inflight_packed_alloc(struct vq_dev *vq)
{
	struct vq_inflight_packed *f = &vq->packed_ring.inf;

	f->fl_next = calloc(vq->num, sizeof(*f->fl_next));
	f->id_head = calloc(vq->num, sizeof(*f->id_head));
	f->id_last = calloc(vq->num, sizeof(*f->id_last));
	f->ent_copy = calloc(vq->num, sizeof(*f->ent_copy));
	f->scan = calloc(vq->num, 1);
	if (f->fl_next == NULL || f->id_head == NULL || f->id_last == NULL || f->ent_copy == NULL ||
	    f->scan == NULL)
		return -ENOMEM;
	return 0;
}

void vq_inflight_packed_free(struct vq_dev *vq)
{
	struct vq_inflight_packed *f = &vq->packed_ring.inf;

	free(f->fl_next);
	free(f->id_head);
	free(f->id_last);
	free(f->ent_copy);
	free(f->scan);
	memset(f, 0, sizeof(*f));
}

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

/* A fresh (version 0) region: an empty tracking state at the ring position start was given. */
static void init(struct vq_dev *vq)
{
	struct vhost_user_inflight_packed_queue *r = region(vq);

	/* Cleared in case the front end did not zero the memory. */
	memset(r->desc, 0, (size_t)vq->num * sizeof(r->desc[0]));
	for (unsigned i = 0; i < vq->num; i++) {
		vq->packed_ring.inf.fl_next[i] = (uint16_t)(i + 1); /* the last one: num, "none" */
		WRITE_ONCE(r->desc[i].next, vq->packed_ring.inf.fl_next[i]);
	}
	vq->packed_ring.inf.fl_head = 0;
	WRITE_ONCE(r->features, VQ_INFLIGHT_F_PACKED_LAYOUT);
	WRITE_ONCE(r->desc_num, vq->num);
	WRITE_ONCE(r->free_head, 0);
	WRITE_ONCE(r->old_free_head, 0);
	used_word_write(r, vq->used_idx, vq->packed_ring.used_wrap, vq->used_idx,
			vq->packed_ring.used_wrap);
	/* Orders the initialisation above before the version store: version 1 means valid. */
	smp_wmb();
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
static unsigned claim(struct vq_dev *vq, uint16_t h, uint64_t *max_counter)
{
	struct vhost_user_inflight_packed_queue *r = region(vq);
	uint16_t n = READ_ONCE(r->desc[h].num), last = READ_ONCE(r->desc[h].last);
	uint64_t counter = READ_ONCE(r->desc[h].counter);
	uint16_t e = h, id;

	if (n == 0 || n > vq->num) {
		log_warn("inflight region: head entry %u holds %u descriptors (queue size %u)", h,
			 n, vq->num);
		return 0;
	}
	for (unsigned k = 0; k < n; k++) {
		struct vhost_user_inflight_desc_packed *x;
		struct vq_packed_desc_rec *c;

		if (e >= vq->num || (vq->packed_ring.inf.scan[e] & SCAN_ENTRY)) {
			log_warn("inflight region: the chain of head entry %u reaches entry %u, "
				 "out of range or held twice",
				 h, e);
			return 0;
		}
		vq->packed_ring.inf.scan[e] |= SCAN_ENTRY;
		x = &r->desc[e];
		c = &vq->packed_ring.inf.ent_copy[e];
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
			log_warn("inflight region: entry %u of head entry %u has flags %#x", e, h,
				 c->flags);
			return 0;
		}
		if (k + 1 < n) {
			vq->packed_ring.inf.fl_next[e] = READ_ONCE(x->next);
			e = vq->packed_ring.inf.fl_next[e];
		}
	}
	id = vq->packed_ring.inf.ent_copy[e].id;
	if (e != last || id >= vq->num || (vq->packed_ring.inf.scan[id] & SCAN_ID)) {
		log_warn("inflight region: head entry %u: last %u (chain ends at %u), buffer id "
			 "%u out of range or in flight twice",
			 h, last, e, id);
		return 0;
	}
	vq->packed_ring.inf.scan[id] |= SCAN_ID;
	vq->packed_ring.inf.id_head[id] = h;
	vq->packed_ring.inf.id_last[id] = e;
	vq->resubmit[vq->resubmit_num++] = (struct vq_dev_resubmit){counter, h, id, n};
	if (counter > *max_counter)
		*max_counter = counter;
	return n;
}

/*
 * A region an earlier back end used, its header checked (see the top of this
 * file): validate every entry, finish a push in progress, queue the buffers
 * in flight for resubmission and take the ring position from the region.
 */
static int recover(struct vq_dev *vq)
{
	struct vhost_user_inflight_packed_queue *r = region(vq);
	uint64_t max_counter = 0;
	uint16_t upos, apos, head, fh = 0;
	bool uwrap, awrap, in_progress, commit = false;
	struct used_word w;
	unsigned slots = 0;

	w = used_word_read(r);
	if (w.used_idx >= vq->num || w.old_used_idx >= vq->num || w.used_wrap > 1 ||
	    w.old_used_wrap > 1) {
		log_warn("inflight region: used %u/%u, old used %u/%u for queue size %u",
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
		uint16_t flags =
		    vblk_le16_to_cpu(READ_ONCE(vq->packed_ring.desc[w.old_used_idx].flags));

		fh = READ_ONCE(r->free_head);
		if (fh >= vq->num) {
			log_warn("inflight region: push in progress with free_head %u", fh);
			return -EINVAL;
		}
		commit = !vq_packed_desc_is_avail(flags, w.old_used_wrap);
		if (commit) {
			upos = w.used_idx;
			uwrap = w.used_wrap;
		}
	}

	memset(vq->packed_ring.inf.scan, 0, vq->num);
	vq->resubmit_num = vq->resubmit_next = 0;
	for (unsigned i = 0; i < vq->num; i++) {
		unsigned n;

		/* An entry held twice (a head inside another chain too) is refused by the claim. */
		if (!READ_ONCE(r->desc[i].inflight) || (commit && i == fh))
			continue;
		n = claim(vq, (uint16_t)i, &max_counter);
		slots += n;
		if (n == 0 || slots > vq->num) {
			if (n)
				log_warn("inflight region: %u slots in flight, queue size %u",
					 slots, vq->num);
			vq->resubmit_num = 0;
			return -EINVAL;
		}
	}
	qsort(vq->resubmit, vq->resubmit_num, sizeof(vq->resubmit[0]), vq_dev_resubmit_cmp);

	/* Valid: finish the push in progress, either way. */
	if (in_progress) {
		if (commit) {
			WRITE_ONCE(r->desc[fh].inflight, 0);
			/* Orders the inflight clear before the stores that commit the push. */
			smp_wmb();
			WRITE_ONCE(r->old_free_head, fh);
			smp_wmb();
		}
		used_word_write(r, upos, uwrap, upos, uwrap);
		/* Orders the decision before the free list rebuilt below. */
		smp_wmb();
	}

	/* The free list: every entry no buffer holds, in index order. */
	head = vq->num;
	for (unsigned i = vq->num; i-- > 0;) {
		if (vq->packed_ring.inf.scan[i] & SCAN_ENTRY)
			continue;
		vq->packed_ring.inf.fl_next[i] = head;
		WRITE_ONCE(r->desc[i].next, head);
		head = (uint16_t)i;
	}
	vq->packed_ring.inf.fl_head = head;
	/* Orders the links before the head that makes them the free list. */
	smp_wmb();
	WRITE_ONCE(r->free_head, head);
	smp_wmb();
	WRITE_ONCE(r->old_free_head, head);

	apos = upos;
	awrap = uwrap;
	vq_packed_advance(vq->num, &apos, &awrap, slots);
	if (apos != vq->last_avail_idx || awrap != vq->packed_ring.avail_wrap ||
	    upos != vq->used_idx || uwrap != vq->packed_ring.used_wrap)
		log_dbg("inflight region: %u buffers to resubmit; avail %u/%u used %u/%u (the "
			"front end said %u/%u %u/%u)",
			vq->resubmit_num, apos, awrap, upos, uwrap, vq->last_avail_idx,
			vq->packed_ring.avail_wrap, vq->used_idx, vq->packed_ring.used_wrap);
	vq->last_avail_idx = apos;
	vq->packed_ring.avail_wrap = awrap;
	vq->used_idx = upos;
	vq->packed_ring.used_wrap = uwrap;
	vq->inflight_counter = max_counter;
	vq->inflight_recovered = true;
	return 0;
}

/*
 * Record buffer id, whose n descriptors walk() copied into chain[], in the
 * inflight region before it is dispatched (see the top of this file). The
 * caller checked that n more slots fit, so the free list holds n entries.
 */
void vq_inflight_packed_record(struct vq_dev *vq, uint16_t id, uint16_t n)
{
	struct vhost_user_inflight_packed_queue *r = region(vq);
	uint16_t head = vq->packed_ring.inf.fl_head, e = head, last = head;

	for (unsigned k = 0; k < n; k++) {
		struct vhost_user_inflight_desc_packed *x;

		assert(e < vq->num);
		x = &r->desc[e];
		WRITE_ONCE(x->addr, vq->packed_ring.chain[k].addr);
		WRITE_ONCE(x->len, vq->packed_ring.chain[k].len);
		WRITE_ONCE(x->id, vq->packed_ring.chain[k].id);
		WRITE_ONCE(x->flags, vq->packed_ring.chain[k].flags);
		/* Only a head is ever in flight; say so for the others explicitly. */
		if (k)
			WRITE_ONCE(x->inflight, 0);
		last = e;
		e = vq->packed_ring.inf.fl_next[e];
	}
	WRITE_ONCE(r->desc[head].num, n);
	WRITE_ONCE(r->desc[head].last, last);
	WRITE_ONCE(r->desc[head].counter, ++vq->inflight_counter);
	/*
	 * Orders the copies, num, last and counter before the inflight flag:
	 * a head a successor finds in flight must have a complete record.
	 */
	smp_wmb();
	WRITE_ONCE(r->desc[head].inflight, 1);
	/* Orders the flag (the commit point) before the free list stores. */
	smp_wmb();
	WRITE_ONCE(r->free_head, e);
	smp_wmb();
	WRITE_ONCE(r->old_free_head, e);
	/*
	 * Orders every store above before those that dispatch the request (the
	 * backend's submission after we return): a request that reached the
	 * disk is always one a successor will find.
	 */
	smp_wmb();
	vq->packed_ring.inf.fl_head = e;
	vq->packed_ring.inf.id_head[id] = head;
	vq->packed_ring.inf.id_last[id] = last;
}

/*
 * Pop a buffer a previous back end had popped and not completed, rebuilt from
 * the copies vq_inflight_packed_start validated (the ring slots may hold used elements
 * by now). Its slots are already counted between used and avail, and the
 * region still records it with its old counter, so only our bookkeeping
 * changes. Its buffers are checked like a fresh one's.
 */
int vq_inflight_packed_pop_resubmit(struct vq_dev *vq, struct vq_chain *c, uint16_t *id)
{
	const struct vq_dev_resubmit *rs = &vq->resubmit[vq->resubmit_next];
	uint16_t e = rs->head;

	/* vq_inflight_packed_start queued IDs < num, each once, with entries < num. */
	assert(rs->id < vq->num && vq->packed_ring.id_slots[rs->id] == 0);
	for (unsigned k = 0; k < rs->num; k++) {
		const struct vq_packed_desc_rec *x = &vq->packed_ring.inf.ent_copy[e];
		struct vq_desc_copy d = {
		    .addr = x->addr, .len = x->len, .flags = x->flags, .id = x->id};

		assert(e < vq->num);
		if (vq_dev_packed_walk_desc(vq, c, &d, e))
			return -EIO;
		e = vq->packed_ring.inf.fl_next[e];
	}
	*id = rs->id;
	vq->packed_ring.id_slots[rs->id] = rs->num;
	vq->inflight++;
	vq->resubmit_next++;
	return 1;
}

void vq_inflight_packed_retire_begin(struct vq_dev *vq, uint16_t id, uint16_t old_idx,
				     bool old_wrap)
{
	struct vhost_user_inflight_packed_queue *r = region(vq);
	struct vq_inflight_packed *f = &vq->packed_ring.inf;
	uint16_t head = f->id_head[id], last = f->id_last[id];

	/*
	 * "Inflight I/O tracking", bookkeeping before the used element is
	 * published (the caller advanced used_idx past it already): the
	 * buffer's entries go back on the free list (still marked in flight),
	 * then the used word says a push is in progress: a successor compares
	 * old_used_idx's slot to decide whether it reached the driver.
	 */
	assert(head < vq->num && last < vq->num);
	WRITE_ONCE(r->desc[last].next, f->fl_head);
	WRITE_ONCE(r->free_head, head);
	/*
	 * Orders free_head before the used word: when the word says "in
	 * progress", free_head must already name this push's head.
	 */
	smp_wmb();
	used_word_write(r, vq->used_idx, vq->packed_ring.used_wrap, old_idx, old_wrap);
	f->fl_next[last] = f->fl_head;
	f->fl_head = head;
}

void vq_inflight_packed_retire_end(struct vq_dev *vq, uint16_t id)
{
	struct vhost_user_inflight_packed_queue *r = region(vq);
	uint16_t head = vq->packed_ring.inf.id_head[id];

	/*
	 * Orders the publication (the caller's flags store) before inflight =
	 * 0: cleared first, a death in between would lose a request the
	 * driver never saw used.
	 */
	smp_wmb();
	WRITE_ONCE(r->desc[head].inflight, 0);
	/*
	 * Orders inflight = 0 before the commit: committed first, the used
	 * word would no longer point at this push, and a head the driver saw
	 * used would be resubmitted.
	 */
	smp_wmb();
	WRITE_ONCE(r->old_free_head, head);
	/* Orders old_free_head before the used word that ends the push. */
	smp_wmb();
	used_word_write(r, vq->used_idx, vq->packed_ring.used_wrap, vq->used_idx,
			vq->packed_ring.used_wrap);
}

int vq_inflight_packed_start(struct vq_dev *vq)
{
	struct vhost_user_inflight_packed_queue *r = region(vq);
	uint16_t version = READ_ONCE(r->version), desc_num = READ_ONCE(r->desc_num);
	uint64_t features = READ_ONCE(r->features);

	if (version == 0) {
		/*
		 * The region can only say "used position + the slots of the
		 * buffers it records"; a base with slots consumed but not used
		 * (lost by an untracked restart) cannot be tracked.
		 */
		if (vq->last_avail_idx != vq->used_idx ||
		    vq->packed_ring.avail_wrap != vq->packed_ring.used_wrap) {
			log_warn("inflight region: the ring has slots in flight that no region "
				 "recorded; running untracked");
			vq->inflight_region = NULL;
			return 0;
		}
		init(vq);
		return 0;
	}
	if (version != VQ_PACKED_INFLIGHT_VERSION || desc_num != vq->num ||
	    features != VQ_INFLIGHT_F_PACKED_LAYOUT) {
		log_warn("inflight region: version %u, %u descriptors, features %#llx; expected a "
			 "packed-layout version %u region for %u",
			 version, desc_num, (unsigned long long)features,
			 VQ_PACKED_INFLIGHT_VERSION, vq->num);
		return -EINVAL;
	}
	return recover(vq);
}
