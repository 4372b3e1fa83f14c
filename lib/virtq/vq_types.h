/* SPDX-License-Identifier: MIT */
/*
 * Types both ring layouts share: what a device pops (struct vq_dev_elem) and
 * what a driver adds (struct vq_drv_sg). Split (virtio 1.3 §2.7) and packed
 * (§2.8) engines fill and take the same structures, so the transports above
 * the vq_dev_* / vq_drv_* dispatchers never see the layout.
 */
#ifndef VBLK_VIRTQ_VQ_TYPES_H
#define VBLK_VIRTQ_VQ_TYPES_H

#include <stdint.h>
#include <sys/uio.h>

/* Largest queue size the device side accepts (vhost-user SET_VRING_NUM is checked against it). */
#define VQ_DEV_MAX_SIZE 1024

/*
 * A popped buffer: iov[0..out_num) device-readable, then in_num
 * device-writable. head is the split ring's head index or the packed ring's
 * buffer ID (§2.8.6); either way it is what push takes back.
 */
struct vq_dev_elem {
	uint16_t head;
	unsigned out_num;
	unsigned in_num;
	uint64_t out_len; /* bytes in the readable part */
	uint64_t in_len;  /* bytes in the writable part */
	struct iovec *iov;
};

/* §2.8: a packed ring holds at most 2^15 descriptors. */
#define VQ_PACKED_MAX_SIZE 32768

/*
 * vhost-user SET/GET_VRING_BASE payload for a packed ring (vhost-user.rst
 * "Vring descriptor indices for packed virtqueues", QEMU's
 * virtio_queue_packed_get_last_avail_idx()):
 *   bits  0-14  ring position of the next descriptor the device will read
 *   bit  15     driver ring (avail) wrap counter
 *   bits 16-30  ring position where the device writes the next used element
 *   bit  31     device ring (used) wrap counter
 * Positions are ring offsets in [0, num), not free-running counters. Both
 * wrap counters start at 1 (§2.8.1), so a freshly reset ring is 0x80008000.
 */
#define VQ_PACKED_BASE_AVAIL_POS(b)  ((uint16_t)((b)&0x7fffu))
#define VQ_PACKED_BASE_AVAIL_WRAP(b) (((b) >> 15) & 1u)
#define VQ_PACKED_BASE_USED_POS(b)   ((uint16_t)(((b) >> 16) & 0x7fffu))
#define VQ_PACKED_BASE_USED_WRAP(b)  (((b) >> 31) & 1u)
#define VQ_PACKED_BASE(apos, awrap, upos, uwrap)                                                   \
	((uint32_t)(apos) | (uint32_t)(!!(awrap)) << 15 | (uint32_t)(upos) << 16 |                 \
	 (uint32_t)(!!(uwrap)) << 31)
#define VQ_PACKED_BASE_INIT VQ_PACKED_BASE(0, 1, 0, 1)

/* One buffer of a chain, as the device will see it. */
struct vq_drv_sg {
	uint64_t addr; /* device (guest-physical) address */
	uint32_t len;  /* bytes, > 0 */
};

#endif
