/* SPDX-License-Identifier: MIT */
/*
 * Device side of a virtqueue: the verbs a device uses — pop an available
 * buffer into iovecs, push a used element, decide whether the driver needs an
 * interrupt, and suppress/enable kicks — for both ring layouts, the split ring
 * (virtio 1.3 §2.7, vq_dev_split.c) and the packed ring (§2.8,
 * vq_dev_packed.c). The layout is chosen once, by vq_dev_init_ring; every
 * other verb dispatches on it, so a transport never sees the difference
 * (as Linux virtio_ring.c does with its _split/_packed statics).
 *
 * The ring is untrusted. A chain that cannot be parsed (loop, next >= size,
 * bad address, nested indirect, writable-then-readable, ...) or a ring that
 * misbehaves (avail idx jumps more than the size, a head or buffer ID already
 * in flight) marks the queue broken: pop returns -EIO from then on and the
 * transport stops the queue and signals its error eventfd. A vq_dev is used
 * by one thread at a time.
 */
#ifndef VBLK_VIRTQ_VQ_DEV_H
#define VBLK_VIRTQ_VQ_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vblk/spec/vhost_user.h>
#include <vblk/spec/virtio_ring.h>

#include "vq_dev_packed.h"
#include "vq_mem.h"
#include "vq_types.h"

/* vhost-user.rst "Inflight I/O tracking": the split-ring region version we write. */
#define VQ_DEV_INFLIGHT_VERSION 1

/* One head to pop again after a back-end restart, with its issue order. */
struct vq_dev_resubmit {
	uint64_t counter;
	uint16_t head;
};

/*
 * The three areas of a ring as host pointers (§2.5 names them for both
 * layouts): split = descriptor table, available ring, used ring; packed =
 * descriptor ring, driver event suppression, device event suppression.
 */
struct vq_dev_areas {
	void *desc;
	void *driver;
	void *device;
};

/*
 * num, event_idx and indirect (configuration) and inflight, broken and
 * inflight_recovered (state) are valid for both layouts; the other fields
 * belong to the split ring, and p holds the packed ring's state when packed
 * is set.
 */
struct vq_dev {
	/* Configuration: num and packed by init, the others before start. */
	uint16_t num;
	bool packed;	/* VIRTIO_F_RING_PACKED: the state is in p */
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated */
	const struct vq_mem *mem;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;

	/* State. */
	uint16_t last_avail_idx; /* next avail->ring slot to consume */
	uint16_t used_idx;	 /* our copy of used->idx, the device owns it */
	uint16_t inflight;	 /* popped, not yet pushed */
	uint16_t signalled_used; /* used_idx at the last interrupt (EVENT_IDX) */
	bool signalled_used_valid;
	bool broken;
	bool broken_logged;
	uint8_t *head_busy; /* [num]: head popped and not yet pushed */

	/*
	 * Inflight I/O tracking (vhost-user.rst "Inflight I/O tracking",
	 * VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD), optional: a region shared
	 * with the front end that outlives this process, so a restarted back
	 * end can finish what a dead one popped. NULL when not in use.
	 */
	struct vhost_user_inflight_split_queue *inflight_region;
	uint64_t inflight_counter;	  /* last counter stored in the region */
	bool inflight_recovered;	  /* start found a region an earlier back end used */
	struct vq_dev_resubmit *resubmit; /* [num], in counter order */
	uint16_t resubmit_num;		  /* entries in resubmit[] */
	uint16_t resubmit_next;		  /* next one pop returns */

	/* The packed ring (only when packed). */
	struct vq_dev_packed p;
};

/*
 * Prepare vq for a ring of num entries: packed (1..VQ_DEV_MAX_SIZE, §2.8 does
 * not need a power of two) or split (a power of two, §2.7). Allocates the
 * in-flight bookkeeping. vq must be zeroed or finished with vq_dev_fini.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int vq_dev_init_ring(struct vq_dev *vq, unsigned num, bool packed);

/* vq_dev_init_ring for a split ring. */
int vq_dev_init(struct vq_dev *vq, unsigned num);

/* Free what vq_dev_init allocated. Accepts a zeroed or half-built vq. */
void vq_dev_fini(struct vq_dev *vq);

/*
 * Translate the three ring areas given as front-end virtual addresses
 * (vhost-user SET_VRING_ADDR: desc, avail = driver area, used = device area)
 * for vq's layout and size, and check each whole area lies inside one region
 * with its alignment (§2.7 "Alignment", §2.8.10.1). Returns 0, -EINVAL (size
 * or alignment) or -EFAULT.
 */
int vq_dev_map_areas(const struct vq_dev *vq, const struct vq_mem *mem, uint64_t desc_uva,
		     uint64_t driver_uva, uint64_t device_uva, struct vq_dev_areas *areas);

/*
 * Attach the areas (from vq_dev_map_areas) and the memory table used for
 * buffers, and set the ring position from a vhost-user base: the split ring's
 * next avail index (< 2^16, see vq_dev_start), or the packed ring's 32-bit
 * encoding (VQ_PACKED_BASE, vq_dev_packed_start). Returns 0 or -EINVAL.
 */
int vq_dev_start_areas(struct vq_dev *vq, const struct vq_mem *mem,
		       const struct vq_dev_areas *areas, uint32_t base);

/*
 * The vhost-user GET_VRING_BASE value for the ring's current position: split,
 * the next avail index; packed, the 32-bit encoding of vq_types.h.
 */
uint32_t vq_dev_get_base(const struct vq_dev *vq);

/* Bytes of one split queue's inflight region for a ring of num entries (header + num entries). */
size_t vq_dev_inflight_size(unsigned num);

/*
 * Bytes of one queue's inflight region in the layout of the given ring type
 * (vhost-user.rst "Inflight I/O tracking": 16-byte header and entries for a
 * split ring, 32-byte ones for a packed ring). For the same num the packed
 * size is exactly twice the split one, so a size tells the layouts apart.
 */
size_t vq_dev_inflight_size_ring(unsigned num, bool packed);

/*
 * Attach (region != NULL) or detach (NULL) the queue's inflight region, len
 * bytes of shared memory that must hold vq_dev_inflight_size_ring(vq->num,
 * vq->packed) and be 8-byte aligned, laid out for the vq's ring type. Call it
 * before starting the queue, which reads and validates the contents (a
 * region tagged for the other layout is refused then). Returns 0 or -EINVAL.
 */
int vq_dev_set_inflight(struct vq_dev *vq, void *region, size_t len);

/*
 * Split ring only (vq_dev_start_areas for either layout).
 * Attach the three ring areas (already translated and bounds-checked by the
 * transport, see vq_dev_map_rings) and the memory table used for buffers,
 * set last_avail_idx = base, and read used->idx once into our copy.
 *
 * With an inflight region attached (vq_dev_set_inflight): a fresh region
 * (version 0) is initialised and base is used. A region an earlier back end
 * used (version VQ_DEV_INFLIGHT_VERSION) is recovered as vhost-user.rst
 * "Inflight I/O tracking" says: the last batch is cleared if it was already
 * published, every entry still in flight is queued for resubmission in
 * counter order (pop returns them before any new avail entry), and
 * last_avail_idx becomes used->idx + the number in flight, whatever base
 * says (QEMU sends used->idx as the base after a back end died). A region of
 * another version, desc_num or with last_batch_head >= num is refused.
 * Returns 0 or -EINVAL (also for a packed vq).
 */
int vq_dev_start(struct vq_dev *vq, const struct vq_mem *mem, struct virtq_desc *desc,
		 struct virtq_avail *avail, struct virtq_used *used, uint16_t base);

/*
 * Split ring only: vq_dev_map_areas for a split ring of num entries, typed.
 * Returns 0, -EINVAL or -EFAULT.
 */
int vq_dev_map_rings(const struct vq_mem *mem, unsigned num, uint64_t desc_uva, uint64_t avail_uva,
		     uint64_t used_uva, struct virtq_desc **desc, struct virtq_avail **avail,
		     struct virtq_used **used);

/*
 * Pop the next available chain (split) or buffer (packed; elem->head is its
 * buffer ID) into elem, with iovecs stored in iov[0..iov_max).
 * Heads queued for resubmission by vq_dev_start come first; their chains are
 * walked again from the descriptor table with the same checks.
 * Returns 1 when a chain was popped, 0 when the ring is empty, -EIO when the
 * queue is (or just became) broken. On -EIO nothing was consumed.
 */
int vq_dev_pop(struct vq_dev *vq, struct vq_dev_elem *elem, struct iovec *iov, unsigned iov_max);

/*
 * Publish head as used with len = bytes written into its device-writable
 * buffers (virtio 1.3 §2.7.8, §2.8.4). head must be one pop returned and not
 * pushed. Packed buffers may be pushed in any order.
 * With an inflight region the stores follow "Inflight I/O tracking": used
 * element, last_batch_head, used->idx, inflight = 0, region used_idx.
 */
void vq_dev_push(struct vq_dev *vq, uint16_t head, uint32_t len);

/*
 * After one or more pushes: true if the driver wants an interrupt now
 * (VIRTQ_AVAIL_F_NO_INTERRUPT or used_event, §2.7.10; the driver event
 * suppression structure, §2.8.10). Updates the
 * signalled state, so call it once per batch and signal when it says so.
 */
bool vq_dev_need_notify(struct vq_dev *vq);

/*
 * Ask the driver not to kick: sets VIRTQ_USED_F_NO_NOTIFY (packed: device
 * event suppression DISABLE). With EVENT_IDX it does nothing: pop publishes
 * the next position as the event index, so the driver kicks at most once per
 * batch (as QEMU and libvhost-user do).
 */
void vq_dev_disable_kicks(struct vq_dev *vq);

/*
 * Ask the driver to kick again. Returns true if buffers became available
 * meanwhile, in which case the caller must pop again (the race in §2.7.10,
 * §2.8.10).
 */
bool vq_dev_enable_kicks(struct vq_dev *vq);

/* Heads (packed: buffers) the start queued for resubmission that pop has not returned yet. */
unsigned vq_dev_resubmit_pending(const struct vq_dev *vq);

/* Mark the queue broken (logged once). Used by transports on framing errors too. */
void vq_dev_set_broken(struct vq_dev *vq, const char *why);

#endif
