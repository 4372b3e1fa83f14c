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
 * (plus any lost at a reconnect), never more than num.
 */
#include "vq_dev_packed.h"

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
	if (vq->id_slots == NULL)
		return -ENOMEM;
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

int vq_dev_packed_pop(struct vq_dev_packed *vq, struct vq_dev_elem *elem, struct iovec *iov,
		      unsigned iov_max)
{
	struct vq_chain c = {.iov = iov, .iov_max = iov_max};
	uint16_t flags0, id, nslots;
	unsigned busy;

	if (vq->broken)
		return -EIO;
	assert(vq->desc != NULL && vq->driver_event != NULL && vq->device_event != NULL);

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
	struct virtq_packed_desc *d;
	uint16_t flags, n;

	/* Our invariant: the transport only pushes what pop returned. */
	assert(id < vq->num && vq->id_slots[id] != 0);
	n = vq->id_slots[id];

	d = &vq->desc[vq->used_idx];
	WRITE_ONCE(d->id, vblk_cpu_to_le16(id));
	/* §2.8.4: len is the number of bytes written into the writable buffers. */
	WRITE_ONCE(d->len, vblk_cpu_to_le32(len));
	/*
	 * §2.8.1: a used element has AVAIL and USED both equal to the device
	 * wrap counter. §2.8.4: len is only meaningful with WRITE set, so set
	 * it exactly when bytes were written (as QEMU and DPDK do).
	 */
	flags = vq->used_wrap ? (uint16_t)(VQ_PACKED_F_AVAIL | VQ_PACKED_F_USED) : 0;
	if (len)
		flags |= VIRTQ_DESC_F_WRITE;
	/*
	 * Orders the id/len stores above before the flags store below: the
	 * driver reads id and len after it sees the flags (§2.8.22), so they
	 * must be in place by the time the flags say "used".
	 */
	vblk_wmb();
	WRITE_ONCE(d->flags, vblk_cpu_to_le16(flags));

	/* §2.8.6: the next used element goes after all n slots of this buffer. */
	vq_packed_advance(vq->num, &vq->used_idx, &vq->used_wrap, n);
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
