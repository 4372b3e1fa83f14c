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
#include <stdint.h>
#include <sys/uio.h>

#include <vblk/spec/virtio_ring.h>

#include "vq_mem.h"

/* Largest queue size we accept (vhost-user SET_VRING_NUM is checked against it). */
#define VQ_DEV_MAX_SIZE 1024

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
	bool event_idx;     /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;      /* VIRTIO_F_INDIRECT_DESC negotiated */
	const struct vq_mem *mem;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;

	/* State. */
	uint16_t last_avail_idx; /* next avail->ring slot to consume */
	uint16_t used_idx;       /* our copy of used->idx, the device owns it */
	uint16_t inflight;       /* popped, not yet pushed */
	uint16_t signalled_used; /* used_idx at the last interrupt (EVENT_IDX) */
	bool signalled_used_valid;
	bool broken;
	bool broken_logged;
	uint8_t *head_busy; /* [num]: head popped and not yet pushed */
};

/*
 * Prepare vq for a ring of num entries (power of two, 1..VQ_DEV_MAX_SIZE).
 * Allocates the in-flight bookkeeping. Returns 0, -EINVAL or -ENOMEM.
 */
int vq_dev_init(struct vq_dev *vq, unsigned num);

/* Free what vq_dev_init allocated. Accepts a zeroed or half-built vq. */
void vq_dev_fini(struct vq_dev *vq);

/*
 * Attach the three ring areas (already translated and bounds-checked by the
 * transport, see vq_dev_map_rings) and the memory table used for buffers,
 * set last_avail_idx = base, and read used->idx once into our copy.
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
 * Returns 1 when a chain was popped, 0 when the ring is empty, -EIO when the
 * queue is (or just became) broken. On -EIO nothing was consumed.
 */
int vq_dev_pop(struct vq_dev *vq, struct vq_dev_elem *elem, struct iovec *iov, unsigned iov_max);

/*
 * Publish head as used with len = bytes written into its device-writable
 * buffers (virtio 1.3 §2.7.8). head must be one pop returned and not pushed.
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

/* Mark the queue broken (logged once). Used by transports on framing errors too. */
void vq_dev_set_broken(struct vq_dev *vq, const char *why);

#endif
