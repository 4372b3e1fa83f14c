/* SPDX-License-Identifier: MIT */
/*
 * The split ring's device side (virtio 1.3 §2.7): the functions behind the
 * vq_dev_* dispatcher (vq_dev.c) when a queue is not packed. Private to
 * lib/virtq; each does what the vq_dev_* verb of the same name documents.
 */
#ifndef VBLK_VIRTQ_VQ_DEV_SPLIT_H
#define VBLK_VIRTQ_VQ_DEV_SPLIT_H

#include "vq_dev.h"

int vq_dev_split_init(struct vq_dev *vq, unsigned num);
void vq_dev_split_fini(struct vq_dev *vq);
int vq_dev_split_set_inflight(struct vq_dev *vq, void *region, size_t len);
int vq_dev_split_start(struct vq_dev *vq, const struct vq_mem *mem, struct virtq_desc *desc,
		       struct virtq_avail *avail, struct virtq_used *used, uint16_t base);
int vq_dev_split_map_rings(const struct vq_mem *mem, unsigned num, uint64_t desc_uva,
			   uint64_t avail_uva, uint64_t used_uva, struct virtq_desc **desc,
			   struct virtq_avail **avail, struct virtq_used **used);
int vq_dev_split_pop(struct vq_dev *vq, struct vq_dev_elem *elem, struct iovec *iov,
		     unsigned iov_max);
void vq_dev_split_push(struct vq_dev *vq, uint16_t head, uint32_t len);
bool vq_dev_split_need_notify(struct vq_dev *vq);
void vq_dev_split_disable_kicks(struct vq_dev *vq);
bool vq_dev_split_enable_kicks(struct vq_dev *vq);
unsigned vq_dev_split_resubmit_pending(const struct vq_dev *vq);
void vq_dev_split_set_broken(struct vq_dev *vq, const char *why);

#endif
