/* SPDX-License-Identifier: MIT */
/*
 * Device side of a packed virtqueue (virtio 1.3 §2.8): the same verbs as the
 * split ring (vq_dev.h) — pop an available buffer into iovecs, push a used
 * element, decide whether the driver needs an interrupt, suppress and enable
 * kicks — on the packed layout: one descriptor ring shared by both
 * directions, AVAIL/USED flag bits against wrap counters, buffer IDs, and two
 * event suppression structures.
 *
 * The ring is untrusted. A buffer that cannot be parsed (chain longer than the
 * ring, a continuation slot not made available, bad address, zero length,
 * nested indirect, writable-then-readable, ...), a buffer ID out of range or
 * already in flight, or more ring slots in flight than the ring holds marks
 * the queue broken: pop returns -EIO from then on and the transport stops the
 * queue and signals its error eventfd. Nothing is consumed by a pop that
 * fails. A vq_dev_packed is used by one thread at a time.
 *
 * struct vq_dev_elem is shared with the split ring; elem->head carries the
 * packed buffer ID, which is what vq_dev_packed_push takes back.
 *
 * Private to lib/virtq: transports use the vq_dev_* verbs of vq_dev.h, which
 * dispatch here when the queue was set up packed (vq_dev_init_ring).
 */
#ifndef VBLK_VIRTQ_VQ_DEV_PACKED_H
#define VBLK_VIRTQ_VQ_DEV_PACKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vblk/spec/vhost_user.h>
#include <vblk/spec/virtio_ring.h>

#include "vq_mem.h"
#include "vq_types.h"

/* A descriptor as fetched from the ring (one inflight region entry), CPU byte order. */
struct vq_packed_desc_rec {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

/* A buffer to pop again after a back-end restart: its head entry, ID, entries, issue order. */
struct vq_packed_resubmit {
	uint64_t counter;
	uint16_t head;
	uint16_t id;
	uint16_t num;
};

/*
 * vblk's tag in the features field of a packed-layout inflight region
 * (vhost-user.rst leaves the field's bits to the back end, the only reader).
 * A split-layout region has features 0: neither layout reads the other's.
 */
#define VQ_INFLIGHT_F_PACKED_LAYOUT 1ull

/* vhost-user.rst "Inflight I/O tracking": the region version we write (both layouts). */
#define VQ_PACKED_INFLIGHT_VERSION 1

struct vq_dev_packed {
	/* Configuration, set before vq_dev_packed_start(). */
	uint16_t num;
	bool event_idx; /* VIRTIO_F_EVENT_IDX (a.k.a. RING_EVENT_IDX) negotiated */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated */
	const struct vq_mem *mem;
	struct virtq_packed_desc *desc;		 /* Descriptor Area: num entries */
	struct virtq_packed_event *driver_event; /* Driver Area: driver writes, we read */
	struct virtq_packed_event *device_event; /* Device Area: we write, driver reads */

	/* State (§2.8.1: a ring position plus a wrap counter per direction). */
	uint16_t last_avail_idx; /* ring position of the next descriptor to read */
	bool avail_wrap;	 /* driver ring wrap counter expected there */
	uint16_t used_idx;	 /* ring position of the next used element to write */
	bool used_wrap;		 /* device ring wrap counter */
	uint16_t inflight;	 /* buffers popped, not yet pushed */
	uint16_t signalled_used; /* linear used position at the last need_notify */
	bool signalled_used_valid;
	uint32_t used_since_signal; /* ring slots pushed since the last need_notify */
	bool broken;
	bool broken_logged;
	/*
	 * [num], indexed by buffer ID: 0 when the ID is not in flight,
	 * otherwise the number of ring slots its buffer occupied (§2.8.6: the
	 * used element of a chain stands for all of its slots).
	 */
	uint16_t *id_slots;

	/*
	 * Inflight I/O tracking (vhost-user.rst "Inflight I/O tracking",
	 * packed layout; see vq_dev_packed.c), optional: NULL when not in use.
	 * The region is shared with the front end, so it is only written on
	 * the data path; these private mirrors are what we read.
	 */
	struct vhost_user_inflight_packed_queue *inflight_region;
	uint64_t inflight_counter;	     /* last counter stored in the region */
	bool inflight_recovered;	     /* start found a region an earlier back end used */
	uint16_t fl_head;		     /* first free entry (num: none) */
	uint16_t *fl_next;		     /* [num] entry links, as stored in the region */
	uint16_t *id_head;		     /* [num] per buffer ID in flight: its head entry */
	uint16_t *id_last;		     /* [num] ... and its last entry */
	struct vq_packed_desc_rec *chain;    /* [num] descriptors of the buffer being popped */
	struct vq_packed_desc_rec *ent_copy; /* [num] per entry: validated copy (recovery) */
	uint8_t *scan;			     /* [num] recovery scratch */
	struct vq_packed_resubmit *resubmit; /* [num], in counter order */
	uint16_t resubmit_num;
	uint16_t resubmit_next;
};

/*
 * Prepare vq for a ring of num descriptors (1..VQ_DEV_MAX_SIZE; §2.8 does not
 * require a power of two). Allocates the per-ID bookkeeping. event_idx and
 * indirect are left alone (the transport sets them from the features).
 * Returns 0, -EINVAL or -ENOMEM.
 */
int vq_dev_packed_init(struct vq_dev_packed *vq, unsigned num);

/* Free what vq_dev_packed_init allocated. Accepts NULL, a zeroed or half-built vq. */
void vq_dev_packed_fini(struct vq_dev_packed *vq);

/*
 * Translate the three areas given as front-end virtual addresses (vhost-user
 * SET_VRING_ADDR: desc = descriptor ring, avail = driver event suppression,
 * used = device event suppression) and check each lies inside one region with
 * the §2.8.10.1 / §2.8.13 alignment (16 for the ring, 4 for each event
 * structure). Returns 0, -EINVAL (size or alignment) or -EFAULT (unmapped).
 */
int vq_dev_packed_map_rings(const struct vq_mem *mem, unsigned num, uint64_t desc_uva,
			    uint64_t driver_uva, uint64_t device_uva,
			    struct virtq_packed_desc **desc,
			    struct virtq_packed_event **driver_event,
			    struct virtq_packed_event **device_event);

/*
 * Attach the areas and the memory table, and set both ring positions from a
 * vhost-user base (encoding above; VQ_PACKED_BASE_INIT for a fresh ring).
 * A front end that sends only the low 16 bits (bits 16-31 zero, as DPDK
 * reads the message) gets used = avail: nothing in flight at the stop.
 * With an inflight region attached (vq_dev_packed_set_inflight): a fresh
 * region (version 0) is initialised at the base's position (a base with
 * slots in flight cannot be recorded: the region is detached, untracked). A
 * region an earlier back end used (version VQ_PACKED_INFLIGHT_VERSION,
 * tagged VQ_INFLIGHT_F_PACKED_LAYOUT) is validated and recovered: a push in
 * progress is committed or rolled back, the buffers still in flight are
 * queued for resubmission in counter order (pop returns them first), and
 * both positions come from the region, whatever the base says. A region
 * that fails validation is refused with -EINVAL.
 * Returns 0, or -EINVAL (NULL/misaligned area, a position >= num, or a used
 * position more than num slots behind the avail position).
 */
int vq_dev_packed_start(struct vq_dev_packed *vq, const struct vq_mem *mem,
			struct virtq_packed_desc *desc, struct virtq_packed_event *driver_event,
			struct virtq_packed_event *device_event, uint32_t base);

/* The vhost-user GET_VRING_BASE reply for this ring (encoding above). */
uint32_t vq_dev_packed_get_base(const struct vq_dev_packed *vq);

/*
 * Pop the next available buffer into elem (elem->head = buffer ID), with
 * iovecs stored in iov[0..iov_max). Returns 1 when a buffer was popped, 0 when
 * none is available, -EIO when the queue is (or just became) broken. On -EIO
 * nothing was consumed.
 */
int vq_dev_packed_pop(struct vq_dev_packed *vq, struct vq_dev_elem *elem, struct iovec *iov,
		      unsigned iov_max);

/*
 * Publish buffer id as used with len = bytes written into its device-writable
 * buffers (§2.8.4). id must be one pop returned and not pushed yet. Buffers
 * may be pushed in any order (§2.8.8: in-order is only with VIRTIO_F_IN_ORDER).
 */
void vq_dev_packed_push(struct vq_dev_packed *vq, uint16_t id, uint32_t len);

/*
 * After one or more pushes: true if the driver wants an interrupt now (driver
 * event suppression structure, §2.8.10: ENABLE, DISABLE, or DESC with
 * EVENT_IDX). Updates the signalled state, so call it once per batch.
 */
bool vq_dev_packed_need_notify(struct vq_dev_packed *vq);

/*
 * Ask the driver not to kick (device event suppression = DISABLE). With
 * EVENT_IDX it does nothing: pop keeps the structure at DESC for the next
 * descriptor, so the driver kicks at most once per batch (as the split ring).
 */
void vq_dev_packed_disable_kicks(struct vq_dev_packed *vq);

/*
 * Ask the driver to kick again (ENABLE, or DESC at the next position with
 * EVENT_IDX). Returns true if a buffer became available meanwhile, in which
 * case the caller must pop again.
 */
bool vq_dev_packed_enable_kicks(struct vq_dev_packed *vq);

/* Bytes of one packed queue's inflight region for a ring of num entries (header + num entries). */
size_t vq_dev_packed_inflight_size(unsigned num);

/*
 * Attach (region != NULL) or detach (NULL) the queue's inflight region, len
 * bytes of 8-byte aligned shared memory holding at least
 * vq_dev_packed_inflight_size(num). Call it before vq_dev_packed_start, which
 * initialises a fresh (version 0) region or recovers one an earlier back end
 * used (see vq_dev_packed.c). Returns 0 or -EINVAL.
 */
int vq_dev_packed_set_inflight(struct vq_dev_packed *vq, void *region, size_t len);

/* Buffers vq_dev_packed_start queued for resubmission that pop has not returned yet. */
unsigned vq_dev_packed_resubmit_pending(const struct vq_dev_packed *vq);

/* Mark the queue broken (logged once). Used by transports on framing errors too. */
void vq_dev_packed_set_broken(struct vq_dev_packed *vq, const char *why);

#endif
