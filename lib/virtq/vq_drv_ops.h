/* SPDX-License-Identifier: MIT */
/*
 * What a ring layout provides behind the vq_drv_* dispatcher (vq_drv.c): the
 * split ring (vq_drv_split.c, virtio 1.3 §2.7) and the packed ring
 * (vq_drv_packed.c, §2.8) each fill one table of their static functions.
 * Private to lib/virtq. vq_drv.c validates arguments and what the device
 * returns, and keeps the common state (state[], num_free, inflight); these
 * only touch the ring.
 */
#ifndef VBLK_VIRTQ_VQ_DRV_OPS_H
#define VBLK_VIRTQ_VQ_DRV_OPS_H

#include "vq_drv.h"

struct vq_drv_ops {
	/*
	 * Check the layout's rules for l (size range, area alignment), record
	 * its areas, zero them. The common fields and state[] are set already.
	 */
	int (*init)(struct vq_drv *vq, const struct vq_drv_layout *l);
	/* Write and publish a validated chain whose descriptors are free; returns its ID. */
	uint16_t (*add)(struct vq_drv *vq, const struct vq_drv_sg *sg, unsigned out_num,
			unsigned total, bool indirect);
	bool (*kick_prepare)(struct vq_drv *vq);
	/* Read the next used element: 1 with its id and len, 0 if none, -EIO (broken). */
	int (*peek_used)(struct vq_drv *vq, uint32_t *id, uint32_t *len);
	/* Consume the element peek_used returned (id validated) and free its chain. */
	void (*take_used)(struct vq_drv *vq, uint16_t id);
	/* Free the chain of id without the device (detach_unused). */
	void (*free)(struct vq_drv *vq, uint16_t id);
	bool (*more_used)(const struct vq_drv *vq);
	void (*disable_cb)(struct vq_drv *vq);
	/* Re-arm notifications (the caller then orders it before more_used). */
	void (*enable_cb)(struct vq_drv *vq);
};

/*
 * The table of a layout whose file defines static <p>_init, <p>_add, ...
 * <p>_enable_cb: one list, so the two tables cannot drift apart.
 */
#define VQ_DRV_OPS(p)                                                                              \
	{                                                                                          \
		.init = p##_init, .add = p##_add, .kick_prepare = p##_kick_prepare,                \
		.peek_used = p##_peek_used, .take_used = p##_take_used, .free = p##_free,          \
		.more_used = p##_more_used, .disable_cb = p##_disable_cb,                          \
		.enable_cb = p##_enable_cb,                                                        \
	}

extern const struct vq_drv_ops vq_drv_split_ops;
extern const struct vq_drv_ops vq_drv_packed_ops;

/* The table of vq's layout. */
static inline const struct vq_drv_ops *vq_drv_ops(const struct vq_drv *vq)
{
	return vq->packed ? &vq_drv_packed_ops : &vq_drv_split_ops;
}

#endif
