/* SPDX-License-Identifier: MIT */
/*
 * What a ring layout provides behind the vq_dev_* dispatcher (vq_dev.c): the
 * split ring (vq_dev_split.c, virtio 1.3 §2.7) and the packed ring
 * (vq_dev_packed.c, §2.8) each fill one table of their static functions.
 * Private to lib/virtq. vq_dev.c does what the layouts share (validation,
 * the common state, resubmission before new buffers) and calls these for the
 * rest; each entry does what the vq_dev_* verb of the same name documents,
 * on the common fields of struct vq_dev and the layout's part of the union.
 */
#ifndef VBLK_VIRTQ_VQ_DEV_OPS_H
#define VBLK_VIRTQ_VQ_DEV_OPS_H

#include "vq_dev.h"
#include "vq_priv.h"

struct vq_dev_ops {
	const char *name; /* for log messages: "virtqueue", "packed virtqueue" */
	/* Allocate the layout's bookkeeping for vq->num entries; fini frees it (half-built too). */
	int (*init)(struct vq_dev *vq);
	void (*fini)(struct vq_dev *vq);
	/* Bytes and alignment of the descriptor, driver and device areas for num entries. */
	void (*area_sizes)(unsigned num, size_t size[3], size_t align[3]);
	/* Check the areas' alignment and the base; set the ring position. */
	int (*start)(struct vq_dev *vq, const struct vq_dev_areas *areas, uint32_t base);
	uint32_t (*get_base)(const struct vq_dev *vq);
	/* Initialise or recover the attached inflight region (vq_inflight.h). */
	int (*inflight_start)(struct vq_dev *vq, uint32_t base);
	/*
	 * Pop resubmit[resubmit_next], or the next available buffer, into the
	 * chain c; *head is what push takes back. 1, 0 (none) or -EIO.
	 */
	int (*pop_resubmit)(struct vq_dev *vq, struct vq_chain *c, uint16_t *head);
	int (*pop)(struct vq_dev *vq, struct vq_chain *c, uint16_t *head);
	void (*push)(struct vq_dev *vq, uint16_t head, uint32_t len);
	bool (*need_notify)(struct vq_dev *vq);
	void (*disable_kicks)(struct vq_dev *vq);
	bool (*enable_kicks)(struct vq_dev *vq);
	/* vq_dev_poll_start: no kicks at all, EVENT_IDX or not. */
	void (*hold_kicks)(struct vq_dev *vq);
	/* Is a buffer available at last_avail_idx? A plain load, no barrier. */
	bool (*avail)(struct vq_dev *vq);
};

/*
 * The table of a layout whose file defines static <p>_init, <p>_fini, ...
 * <p>_enable_kicks: one list, so the two tables cannot drift apart.
 */
#define VQ_DEV_OPS(p, kind)                                                                        \
	{                                                                                          \
		.name = kind, .init = p##_init, .fini = p##_fini, .area_sizes = p##_area_sizes,    \
		.start = p##_start, .get_base = p##_get_base,                                      \
		.inflight_start = p##_inflight_start, .pop_resubmit = p##_pop_resubmit,            \
		.pop = p##_pop, .push = p##_push, .need_notify = p##_need_notify,                  \
		.disable_kicks = p##_disable_kicks, .enable_kicks = p##_enable_kicks,              \
		.hold_kicks = p##_hold_kicks, .avail = p##_avail,                                  \
	}

extern const struct vq_dev_ops vq_dev_split_ops;
extern const struct vq_dev_ops vq_dev_packed_ops;

/* The table of vq's layout. */
static inline const struct vq_dev_ops *vq_dev_ops(const struct vq_dev *vq)
{
	return vq->packed ? &vq_dev_packed_ops : &vq_dev_split_ops;
}

/*
 * Packed: walk one descriptor (the ring's, or an inflight region's copy)
 * into the chain: a buffer descriptor, or an indirect one and its table.
 */
int vq_dev_packed_walk_desc(struct vq_dev *vq, struct vq_chain *c, const struct vq_desc_copy *d,
			    uint16_t slot);

#endif
