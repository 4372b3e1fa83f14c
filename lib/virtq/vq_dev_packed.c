/* SPDX-License-Identifier: MIT */
/*
 * Device side of the packed virtqueue (virtio 1.3 §2.8).
 *
 * This file turns the buffers a driver made available in the descriptor ring
 * into iovecs (pop), writes used elements back into the same
 * ring (push), and implements both event suppression
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
 * Inflight tracking (recording popped buffers in a region that outlives us,
 * and recovering them) is vq_inflight_packed.c's.
 */
#include "vq_dev_ops.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal/barrier.h"
#include "internal/compiler.h"

static int packed_init(struct vq_dev *vq)
{
	struct vq_dev_packed *p = &vq->packed_ring;

	/* §2.8.1: both wrap counters start at 1. */
	p->avail_wrap = true;
	p->used_wrap = true;
	p->id_slots = calloc(vq->num, sizeof(*p->id_slots));
	/* The copy an inflight region records; allocated here so pop never fails for memory. */
	p->chain = calloc(vq->num, sizeof(*p->chain));
	if (p->id_slots == NULL || p->chain == NULL)
		return -ENOMEM;
	return vq_inflight_packed_alloc(vq);
}

static void packed_fini(struct vq_dev *vq)
{
	struct vq_dev_packed *p = &vq->packed_ring;

	free(p->id_slots);
	p->id_slots = NULL;
	free(p->chain);
	p->chain = NULL;
	vq_inflight_packed_free(vq);
}

static void packed_area_sizes(unsigned num, size_t size[3], size_t align[3])
{
	/* §2.8.10.1: descriptor ring 16-aligned, 16*num bytes; events 4-aligned, 4 bytes. */
	size[0] = (size_t)num * sizeof(struct virtq_packed_desc);
	align[0] = 16;
	size[1] = size[2] = sizeof(struct virtq_packed_event);
	align[1] = align[2] = 4;
}

static int packed_start(struct vq_dev *vq, const struct vq_dev_areas *areas, uint32_t base)
{
	struct vq_dev_packed *p = &vq->packed_ring;
	uint16_t apos = VQ_PACKED_BASE_AVAIL_POS(base), upos = VQ_PACKED_BASE_USED_POS(base);
	bool awrap = VQ_PACKED_BASE_AVAIL_WRAP(base), uwrap = VQ_PACKED_BASE_USED_WRAP(base);
	unsigned gap;

	if (p->id_slots == NULL)
		return -EINVAL;
	if ((uintptr_t)areas->desc % 16 || (uintptr_t)areas->driver % 4 ||
	    (uintptr_t)areas->device % 4)
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
	/* The device cannot have consumed more than one ring ahead of what it used. */
	gap = (vq_packed_lin(vq->num, apos, awrap) + 2u * vq->num -
	       vq_packed_lin(vq->num, upos, uwrap)) %
	      (2u * vq->num);
	if (gap > vq->num)
		return -EINVAL;

	p->desc = areas->desc;
	p->driver_event = areas->driver;
	p->device_event = areas->device;
	vq->last_avail_idx = apos;
	p->avail_wrap = awrap;
	vq->used_idx = upos;
	p->used_wrap = uwrap;
	p->used_since_signal = 0;
	memset(p->id_slots, 0, vq->num * sizeof(*p->id_slots));
	return 0;
}

static uint32_t packed_get_base(const struct vq_dev *vq)
{
	const struct vq_dev_packed *p = &vq->packed_ring;

	return VQ_PACKED_BASE(vq->last_avail_idx, p->avail_wrap, vq->used_idx, p->used_wrap);
}

/*
 * §2.8.7: one descriptor in the ring points to a table of descriptors that
 * forms the whole buffer. The table is walked by its entry count: NEXT and
 * the Buffer ID of its entries are reserved and ignored by the device, WRITE
 * is the only valid flag, and INDIRECT inside is forbidden.
 */
int vq_dev_packed_walk_desc(struct vq_dev *vq, struct vq_chain *c, const struct vq_desc_copy *d,
			    uint16_t slot)
{
	const unsigned char *t;
	struct vq_desc_copy e;
	unsigned n;

	if (!(d->flags & VIRTQ_DESC_F_INDIRECT))
		return vq_dev_chain_add(vq, c, d, "slot", slot);
	if (vq_dev_indirect_table(vq, d, "slot", slot, &t, &n))
		return -EIO;
	for (unsigned i = 0; i < n; i++) {
		vq_desc_read_once(t + (size_t)i * sizeof(struct virtq_packed_desc), true, &e);
		if (e.flags & VIRTQ_DESC_F_INDIRECT) {
			vq_dev_broken(vq, "slot %u: nested indirect table", slot);
			return -EIO;
		}
		if (vq_dev_chain_add(vq, c, &e, "slot", slot))
			return -EIO;
	}
	return 0;
}

/*
 * Walk the buffer whose first slot (at vq->last_avail_idx) the caller saw
 * available with flags0. On success *id is the buffer ID and *nslots the ring
 * slots it occupies.
 */
static int walk(struct vq_dev *vq, uint16_t flags0, struct vq_chain *c, uint16_t *id,
		uint16_t *nslots)
{
	struct vq_dev_packed *p = &vq->packed_ring;
	uint16_t pos = vq->last_avail_idx;
	bool wrap = p->avail_wrap;
	struct vq_desc_copy d;
	unsigned n = 0;

	for (;;) {
		uint16_t flags;

		/* §2.8.6: a list never holds more descriptors than the ring has slots. */
		if (n >= vq->num) {
			vq_dev_broken(vq, "slot %u: descriptor chain exceeds %u entries",
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
			flags = vblk_le16_to_cpu(READ_ONCE(p->desc[pos].flags));
			if (!vq_packed_desc_is_avail(flags, wrap)) {
				vq_dev_broken(
				    vq, "slot %u: descriptor %u of the list at %u not available",
				    pos, n, vq->last_avail_idx);
				return -EIO;
			}
		}
		vq_desc_read_once(&p->desc[pos], true, &d);
		/* Availability was decided on the first read; use that value. */
		d.flags = flags;
		/* The copy an inflight region records (pop), the ring slot being reusable. */
		p->chain[n] = (struct vq_packed_desc_rec){d.addr, d.len, d.id, d.flags};
		n++;

		/*
		 * §2.8.7 describes the indirect descriptor as the whole buffer;
		 * Linux and QEMU never chain it with direct ones, and we do not
		 * accept that.
		 */
		if ((d.flags & VIRTQ_DESC_F_INDIRECT) && n != 1) {
			vq_dev_broken(vq, "slot %u: INDIRECT inside a descriptor list", pos);
			return -EIO;
		}
		if (vq_dev_packed_walk_desc(vq, c, &d, pos))
			return -EIO;
		if ((d.flags & VIRTQ_DESC_F_INDIRECT) || !(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		vq_packed_advance(vq->num, &pos, &wrap, 1);
	}
	/* §2.8.6: the buffer ID is in the last descriptor of the list. */
	*id = d.id;
	*nslots = (uint16_t)n;
	return 0;
}

static int packed_pop(struct vq_dev *vq, struct vq_chain *c, uint16_t *idp)
{
	struct vq_dev_packed *p = &vq->packed_ring;
	uint16_t flags0, id, nslots;
	unsigned busy;

	flags0 = vblk_le16_to_cpu(READ_ONCE(p->desc[vq->last_avail_idx].flags));
	if (!vq_packed_desc_is_avail(flags0, p->avail_wrap))
		return 0;
	/*
	 * Orders the load of the first slot's flags above before the loads of
	 * its addr/len/id and of the list's other slots below: the driver
	 * wrote all of those before it set the first slot's AVAIL bit
	 * (§2.8.21.1), so after seeing the bit we must not see them stale.
	 */
	smp_rmb();

	if (walk(vq, flags0, c, &id, &nslots))
		return -EIO;
	/* Our policy, needed for id_slots[]: Linux and QEMU use IDs below the ring size. */
	if (id >= vq->num) {
		vq_dev_broken(vq, "slot %u: buffer id %u >= queue size %u", vq->last_avail_idx, id,
			      vq->num);
		return -EIO;
	}
	/* §2.8.21: an ID is reused only after the device returned it. */
	if (p->id_slots[id]) {
		vq_dev_broken(vq, "slot %u: buffer id %u made available again while in flight",
			      vq->last_avail_idx, id);
		return -EIO;
	}
	/*
	 * Slots between used and avail hold buffers in flight; the driver may
	 * not reuse them, so a new buffer cannot push the total past num.
	 * This also keeps the used position from ever overtaking avail.
	 */
	busy = (vq_packed_lin(vq->num, vq->last_avail_idx, p->avail_wrap) + 2u * vq->num -
		vq_packed_lin(vq->num, vq->used_idx, p->used_wrap)) %
	       (2u * vq->num);
	if (busy + nslots > vq->num) {
		vq_dev_broken(vq, "slot %u: %u slots in flight plus %u exceed queue size %u",
			      vq->last_avail_idx, busy, nslots, vq->num);
		return -EIO;
	}

	*idp = id;
	if (vq->inflight_region)
		vq_inflight_packed_record(vq, id, nslots);
	p->id_slots[id] = nslots;
	vq->inflight++;
	vq_packed_advance(vq->num, &vq->last_avail_idx, &p->avail_wrap, nslots);

	/*
	 * §2.8.10: with EVENT_IDX ask for a kick when the next slot becomes
	 * available, as the split ring keeps avail_event at last_avail_idx.
	 * A hint; enable_kicks has the barrier that closes the race. While
	 * the device polls, kicks stay disabled (packed_hold_kicks).
	 */
	if (vq->event_idx && !vq->polling)
		vq_packed_event_write(p->device_event,
				      vq_packed_off_wrap(vq->last_avail_idx, p->avail_wrap),
				      VIRTQ_PACKED_EVENT_FLAG_DESC);
	return 1;
}

static void packed_push(struct vq_dev *vq, uint16_t id, uint32_t len)
{
	struct vq_dev_packed *p = &vq->packed_ring;
	uint16_t flags, n, old_idx = vq->used_idx;
	bool old_wrap = p->used_wrap;
	struct virtq_packed_desc *d;

	/* Our invariant: the transport only pushes what pop returned. */
	assert(id < vq->num && p->id_slots[id] != 0);
	n = p->id_slots[id];

	d = &p->desc[vq->used_idx];
	WRITE_ONCE(d->id, vblk_cpu_to_le16(id));
	/* §2.8.4: len is the number of bytes written into the writable buffers. */
	WRITE_ONCE(d->len, vblk_cpu_to_le32(len));
	/* §2.8.6: the next used element goes after all n slots of this buffer. */
	vq_packed_advance(vq->num, &vq->used_idx, &p->used_wrap, n);
	if (vq->inflight_region)
		vq_inflight_packed_retire_begin(vq, id, old_idx, old_wrap);
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
	smp_wmb();
	WRITE_ONCE(d->flags, vblk_cpu_to_le16(flags));
	if (vq->inflight_region)
		vq_inflight_packed_retire_end(vq, id);

	p->id_slots[id] = 0;
	vq->inflight--;
	if (p->used_since_signal < UINT32_MAX - VQ_PACKED_MAX_SIZE)
		p->used_since_signal += n;
}
static bool packed_need_notify(struct vq_dev *vq)
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
	smp_mb();
	e = vq_packed_event_read(vq->packed_ring.driver_event);

	old = vq->signalled_used;
	since = vq->packed_ring.used_since_signal;
	valid = vq->signalled_used_valid;
	vq->signalled_used =
	    (uint16_t)vq_packed_lin(vq->num, vq->used_idx, vq->packed_ring.used_wrap);
	vq->packed_ring.used_since_signal = 0;
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

static void packed_disable_kicks(struct vq_dev *vq)
{
	if (!vq->event_idx)
		vq_packed_event_write(vq->packed_ring.device_event, 0,
				      VIRTQ_PACKED_EVENT_FLAG_DISABLE);
}

/* §2.8.10: DISABLE is valid with or without EVENT_IDX. */
static void packed_hold_kicks(struct vq_dev *vq)
{
	vq_packed_event_write(vq->packed_ring.device_event, 0, VIRTQ_PACKED_EVENT_FLAG_DISABLE);
}

/* A plain look at the next slot's flags, for polling; the caller orders it if it must. */
static bool packed_avail(struct vq_dev *vq)
{
	uint16_t flags =
	    vblk_le16_to_cpu(READ_ONCE(vq->packed_ring.desc[vq->last_avail_idx].flags));

	return vq_packed_desc_is_avail(flags, vq->packed_ring.avail_wrap);
}

static bool packed_enable_kicks(struct vq_dev *vq)
{
	if (vq->event_idx)
		vq_packed_event_write(
		    vq->packed_ring.device_event,
		    vq_packed_off_wrap(vq->last_avail_idx, vq->packed_ring.avail_wrap),
		    VIRTQ_PACKED_EVENT_FLAG_DESC);
	else
		vq_packed_event_write(vq->packed_ring.device_event, 0,
				      VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	/*
	 * Orders the event structure store above before the load of the next
	 * slot's flags below: otherwise a driver that made a buffer available
	 * in between could see kicks still off while we see no new buffer,
	 * and both wait.
	 */
	smp_mb();
	return packed_avail(vq);
}

static int packed_inflight_start(struct vq_dev *vq, uint32_t base)
{
	(void)base; /* a recovered region has the positions; a fresh one takes the ring's */
	return vq_inflight_packed_start(vq);
}

/* Rebuilt from the inflight region's copies: the ring slots may hold used elements by now. */
static int packed_pop_resubmit(struct vq_dev *vq, struct vq_chain *c, uint16_t *id)
{
	return vq_inflight_packed_pop_resubmit(vq, c, id);
}

const struct vq_dev_ops vq_dev_packed_ops = VQ_DEV_OPS(packed, "packed virtqueue");
