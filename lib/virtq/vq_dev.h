/* SPDX-License-Identifier: MIT */
/*
 * Device side of a virtqueue (split ring, virtio 1.3 §2.7): the verbs a device
 * uses — pop an available chain into iovecs, push a used element, decide
 * whether the driver needs an interrupt, and suppress/enable kicks.
 *
 * The ring is untrusted. A chain that cannot be parsed (loop, next >= size,
 * bad address, nested indirect, writable-then-readable, ...) or a ring that
 * misbehaves (avail idx jumps more than the size, a head already in flight)
 * marks the queue broken: pop returns -EIO from then on and the transport
 * stops the queue and signals its error eventfd. A vq_dev is used by one
 * thread at a time.
 */
#ifndef VBLK_VIRTQ_VQ_DEV_H
#define VBLK_VIRTQ_VQ_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vblk/spec/vhost_user.h>
#include <vblk/spec/virtio_ring.h>

#include "vq_mem.h"

/* Largest queue size we accept (vhost-user SET_VRING_NUM is checked against it). */
#define VQ_DEV_MAX_SIZE 1024

/* vhost-user.rst "Inflight I/O tracking": the split-ring region version we write. */
#define VQ_DEV_INFLIGHT_VERSION 1

/* One head to pop again after a back-end restart, with its issue order. */
struct vq_dev_resubmit {
	uint64_t counter;
	uint16_t head;
};

/* A popped chain: iov[0..out_num) device-readable, then in_num device-writable. */
struct vq_dev_elem {
	uint16_t head;
	unsigned out_num;
	unsigned in_num;
	uint64_t out_len; /* bytes in the readable part */
	uint64_t in_len;  /* bytes in the writable part */
	struct iovec *iov;
};

struct vq_dev {
	/* Configuration, set before vq_dev_start(). */
	uint16_t num;
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
};

/*
 * Prepare vq for a ring of num entries (power of two, 1..VQ_DEV_MAX_SIZE).
 * Allocates the in-flight bookkeeping. Returns 0, -EINVAL or -ENOMEM.
 */
int vq_dev_init(struct vq_dev *vq, unsigned num);

/* Free what vq_dev_init allocated. Accepts a zeroed or half-built vq. */
void vq_dev_fini(struct vq_dev *vq);

/* Bytes of one split queue's inflight region for a ring of num entries (header + num entries). */
size_t vq_dev_inflight_size(unsigned num);

/*
 * Attach (region != NULL) or detach (NULL) the queue's inflight region, len
 * bytes of shared memory that must hold vq_dev_inflight_size(vq->num) and be
 * 8-byte aligned. Call it before vq_dev_start, which reads and validates the
 * contents. Returns 0 or -EINVAL.
 */
int vq_dev_set_inflight(struct vq_dev *vq, void *region, size_t len);

/*
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
 * Returns 0 or -EINVAL.
 */
int vq_dev_start(struct vq_dev *vq, const struct vq_mem *mem, struct virtq_desc *desc,
		 struct virtq_avail *avail, struct virtq_used *used, uint16_t base);

/*
 * Translate the ring addresses given as front-end virtual addresses (vhost-user
 * SET_VRING_ADDR) and check each whole area lies inside one region.
 * Returns 0 or -EFAULT.
 */
int vq_dev_map_rings(const struct vq_mem *mem, unsigned num, uint64_t desc_uva, uint64_t avail_uva,
		     uint64_t used_uva, struct virtq_desc **desc, struct virtq_avail **avail,
		     struct virtq_used **used);

/*
 * Pop the next available chain into elem, with iovecs stored in iov[0..iov_max).
 * Heads queued for resubmission by vq_dev_start come first; their chains are
 * walked again from the descriptor table with the same checks.
 * Returns 1 when a chain was popped, 0 when the ring is empty, -EIO when the
 * queue is (or just became) broken. On -EIO nothing was consumed.
 */
int vq_dev_pop(struct vq_dev *vq, struct vq_dev_elem *elem, struct iovec *iov, unsigned iov_max);

/*
 * Publish head as used with len = bytes written into its device-writable
 * buffers (virtio 1.3 §2.7.8). head must be one pop returned and not pushed.
 * With an inflight region the stores follow "Inflight I/O tracking": used
 * element, last_batch_head, used->idx, inflight = 0, region used_idx.
 */
void vq_dev_push(struct vq_dev *vq, uint16_t head, uint32_t len);

/*
 * After one or more pushes: true if the driver wants an interrupt now
 * (VIRTQ_AVAIL_F_NO_INTERRUPT or used_event, §2.7.10). Updates the
 * signalled state, so call it once per batch and signal when it says so.
 */
bool vq_dev_need_notify(struct vq_dev *vq);

/*
 * Ask the driver not to kick: sets VIRTQ_USED_F_NO_NOTIFY. With EVENT_IDX it
 * does nothing: pop publishes avail_event = last_avail_idx, so the driver
 * kicks at most once per batch (as QEMU and libvhost-user do).
 */
void vq_dev_disable_kicks(struct vq_dev *vq);

/*
 * Ask the driver to kick again. Returns true if buffers became available
 * meanwhile, in which case the caller must pop again (the race in §2.7.10).
 */
bool vq_dev_enable_kicks(struct vq_dev *vq);

/* Heads vq_dev_start queued for resubmission that pop has not returned yet. */
unsigned vq_dev_resubmit_pending(const struct vq_dev *vq);

/* Mark the queue broken (logged once). Used by transports on framing errors too. */
void vq_dev_set_broken(struct vq_dev *vq, const char *why);

#endif
