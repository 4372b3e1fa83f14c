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
#include <stdint.h>
#include <sys/uio.h>

#include <vblk/spec/virtio_ring.h>

#include "vq_mem.h"
#include "vq_types.h"

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

/* Mark the queue broken (logged once). Used by transports on framing errors too. */
void vq_dev_packed_set_broken(struct vq_dev_packed *vq, const char *why);

#endif
