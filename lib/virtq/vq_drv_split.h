/* SPDX-License-Identifier: MIT */
/*
 * The split ring's driver side (virtio 1.3 §2.7): the functions behind the
 * vq_drv_* dispatcher (vq_drv.c) when a queue is not packed. Private to
 * lib/virtq; each does what the vq_drv_* verb of the same name documents.
 */
#ifndef VBLK_VIRTQ_VQ_DRV_SPLIT_H
#define VBLK_VIRTQ_VQ_DRV_SPLIT_H

#include "vq_drv.h"

int vq_drv_split_init(struct vq_drv *vq, const struct vq_drv_config *cfg);
int vq_drv_split_add(struct vq_drv *vq, const struct vq_drv_sg *sg, unsigned out_num,
		     unsigned in_num, void *cookie);
bool vq_drv_split_kick_prepare(struct vq_drv *vq);
int vq_drv_split_get_buf(struct vq_drv *vq, void **cookie, uint32_t *len);
bool vq_drv_split_more_used(const struct vq_drv *vq);
void vq_drv_split_disable_cb(struct vq_drv *vq);
bool vq_drv_split_enable_cb(struct vq_drv *vq);
void *vq_drv_split_detach_unused(struct vq_drv *vq);

#endif
