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

#include "vq_inflight.h"
#include "vq_mem.h"
#include "vq_types.h"

/*
 * One buffer to pop again after a back-end restart, with its issue order:
 * split, head is its head index (id = head, num unused); packed, head is its
 * head entry in the inflight region, id its buffer ID and num its ring slots.
 */
struct vq_dev_resubmit {
	uint64_t counter;
	uint16_t head;
	uint16_t id;
	uint16_t num;
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

/* What only the split ring has (§2.7). */
struct vq_dev_split {
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint8_t *head_busy; /* [num]: head popped and not yet pushed */
};

/* What only the packed ring has (§2.8.1: a wrap counter per direction). */
struct vq_dev_packed {
	struct virtq_packed_desc *desc;		 /* Descriptor Area: num entries */
	struct virtq_packed_event *driver_event; /* Driver Area: driver writes, we read */
	struct virtq_packed_event *device_event; /* Device Area: we write, driver reads */
	bool avail_wrap;			 /* driver ring wrap counter at last_avail_idx */
	bool used_wrap;				 /* device ring wrap counter at used_idx */
	uint32_t used_since_signal;		 /* ring slots pushed since the last need_notify */
	/*
	 * [num], indexed by buffer ID: 0 when the ID is not in flight,
	 * otherwise the number of ring slots its buffer occupied (§2.8.6: the
	 * used element of a chain stands for all of its slots).
	 */
	uint16_t *id_slots;
	struct vq_packed_desc_rec *chain; /* [num] descriptors of the buffer being popped */
	struct vq_inflight_packed inf;	  /* inflight region mirrors (vq_inflight_packed.c) */
};

/*
 * A ring's state: the fields every layout has once, then what differs in a
 * union (as Linux's struct vring_virtqueue). Transports set event_idx and
 * indirect and read packed, broken, inflight and inflight_recovered; the
 * rest belongs to the engines.
 */
struct vq_dev {
	/* Configuration: num and packed by vq_dev_init_ring, the others before start. */
	uint16_t num;
	bool packed;	/* VIRTIO_F_RING_PACKED: the state is in packed_ring */
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated */
	const struct vq_mem *mem;

	/*
	 * Ring positions. Split: free-running 16-bit indices (next avail->ring
	 * entry to consume; our copy of used->idx). Packed: ring positions in
	 * [0, num), each with its wrap counter in packed_ring.
	 */
	uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t signalled_used; /* used position at the last interrupt (linear, packed) */
	bool signalled_used_valid;
	uint16_t inflight; /* buffers popped, not yet pushed */
	bool polling;	   /* between vq_dev_poll_start and vq_dev_poll_stop */
	bool broken;
	bool broken_logged;

	/*
	 * Inflight I/O tracking (vhost-user.rst "Inflight I/O tracking",
	 * VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD), optional: a region shared
	 * with the front end that outlives this process, so a restarted back
	 * end can finish what a dead one popped. NULL when not in use; laid
	 * out for the ring's layout.
	 */
	void *inflight_region;
	uint64_t inflight_counter;	  /* last counter stored in the region */
	bool inflight_recovered;	  /* start found a region an earlier back end used */
	struct vq_dev_resubmit *resubmit; /* [num], in counter order */
	uint16_t resubmit_num;		  /* entries in resubmit[] */
	uint16_t resubmit_next;		  /* next one pop returns */

	union {
		struct vq_dev_split split;	  /* !packed */
		struct vq_dev_packed packed_ring; /* packed */
	};
};

/*
 * Prepare vq for a ring of num entries: packed (1..VQ_DEV_MAX_SIZE, §2.8 does
 * not need a power of two) or split (a power of two, §2.7). Allocates the
 * in-flight bookkeeping; event_idx and indirect are left alone (the transport
 * learns the features independently of the ring size). vq must be zeroed or
 * finished with vq_dev_fini. Returns 0, -EINVAL or -ENOMEM.
 */
int vq_dev_init_ring(struct vq_dev *vq, unsigned num, bool packed);

/*
 * Free what vq_dev_init_ring allocated and reset the state (event_idx and
 * indirect are kept). Accepts NULL, a zeroed or half-built vq.
 */
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
 * buffers, and set the ring position from a vhost-user base.
 *
 * Split: base is the next avail index (< 2^16); used->idx is read once into
 * our copy. Packed: base is the 32-bit encoding of vq_types.h
 * (VQ_PACKED_BASE_INIT for a fresh ring); a front end that sends only the low
 * 16 bits (as DPDK reads the message) gets used = avail.
 *
 * With an inflight region attached (vq_dev_set_inflight): a fresh region
 * (version 0) is initialised at the base's position (packed: a base with
 * slots in flight cannot be recorded, the region is detached). A region an
 * earlier back end used is validated and recovered as vhost-user.rst
 * "Inflight I/O tracking" says: a push in progress is committed or rolled
 * back, every buffer still in flight is queued for resubmission in counter
 * order (pop returns them before any new one), and the position comes from
 * the region (split: used->idx + the heads in flight), whatever base says
 * (QEMU cannot know it after a back end died). A region of another layout,
 * version or size, or one that fails validation, is refused.
 * Returns 0 or -EINVAL (also a NULL or misaligned area, a base out of range).
 */
int vq_dev_start_areas(struct vq_dev *vq, const struct vq_mem *mem,
		       const struct vq_dev_areas *areas, uint32_t base);

/*
 * The vhost-user GET_VRING_BASE value for the ring's current position: split,
 * the next avail index; packed, the 32-bit encoding of vq_types.h.
 */
uint32_t vq_dev_get_base(const struct vq_dev *vq);

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
 * Pop the next available chain (split) or buffer (packed; elem->head is its
 * buffer ID) into elem, with iovecs stored in iov[0..iov_max).
 * Buffers queued for resubmission by start come first; they are checked
 * like fresh ones.
 * Returns 1 when a chain was popped, 0 when the ring is empty, -EIO when the
 * queue is (or just became) broken. On -EIO nothing was consumed.
 */
int vq_dev_pop(struct vq_dev *vq, struct vq_dev_elem *elem, struct iovec *iov, unsigned iov_max);

/*
 * Publish head as used with len = bytes written into its device-writable
 * buffers (virtio 1.3 §2.7.8, §2.8.4). head must be one pop returned and not
 * pushed. Packed buffers may be pushed in any order (§2.8.8).
 * With an inflight region the stores follow "Inflight I/O tracking".
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

/*
 * The device polls the ring instead of waiting for kicks: kicks are off
 * (split: VIRTQ_USED_F_NO_NOTIFY, or with EVENT_IDX an avail_event the
 * driver cannot reach; packed: DISABLE, §2.7.10, §2.8.10) and stay off
 * through pops and disable/enable_kicks, whose enable then only looks
 * whether buffers are available, until vq_dev_poll_stop.
 */
void vq_dev_poll_start(struct vq_dev *vq);

/*
 * Is a buffer available? A plain look at the ring, cheap enough to spin on
 * (no barrier: a buffer seen late is seen on the next look, and
 * vq_dev_poll_stop closes the race before the device sleeps).
 */
bool vq_dev_avail(struct vq_dev *vq);

/*
 * Stop polling: kicks on again as vq_dev_enable_kicks does, and the same
 * answer — true if buffers are available, so pop before sleeping. Also
 * right when not polling.
 */
bool vq_dev_poll_stop(struct vq_dev *vq);

/* Buffers the start queued for resubmission that pop has not returned yet. */
unsigned vq_dev_resubmit_pending(const struct vq_dev *vq);

/* Mark the queue broken (logged once). Used by transports on framing errors too. */
void vq_dev_set_broken(struct vq_dev *vq, const char *why);

#endif
