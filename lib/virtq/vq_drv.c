/* SPDX-License-Identifier: MIT */
/*
 * The vq_drv_* verbs: one entry per operation, dispatching to the split ring
 * (vq_drv_split.c, virtio 1.3 §2.7) or the packed ring (vq_drv_packed.c,
 * §2.8) on vq->packed, which only the two init functions set.
 */
#include "vq_drv.h"

#include <string.h>

#include "vq_drv_split.h"

int vq_drv_init(struct vq_drv *vq, const struct vq_drv_config *cfg)
{
	/* split_init zeroes the whole struct, packed flag included. */
	return vq_drv_split_init(vq, cfg);
}

int vq_drv_init_packed(struct vq_drv *vq, const struct vq_drv_packed_config *cfg)
{
	memset(vq, 0, sizeof(*vq));
	vq->packed = true;
	return vq_drv_packed_init(&vq->p, cfg);
}

int vq_drv_init_layout(struct vq_drv *vq, const struct vq_drv_layout *l)
{
	/* Both configs list the same fields in the same order, typed per layout. */
	if (l->packed) {
		struct vq_drv_packed_config pc = {
		    l->num,    l->event_idx, l->indirect, l->desc,	 l->driver,
		    l->device, l->state,     l->indir,	  l->indir_addr, l->indir_max};
		return vq_drv_init_packed(vq, &pc);
	}
	struct vq_drv_config sc = {l->num,	  l->event_idx, l->indirect, l->desc,
				   l->driver,	  l->device,	l->state,    l->indir,
				   l->indir_addr, l->indir_max};
	return vq_drv_init(vq, &sc);
}

size_t vq_drv_state_size(bool packed)
{
	return packed ? sizeof(struct vq_drv_packed_state) : sizeof(struct vq_drv_desc_state);
}

int vq_drv_add(struct vq_drv *vq, const struct vq_drv_sg *sg, unsigned out_num, unsigned in_num,
	       void *cookie)
{
	if (vq->packed)
		return vq_drv_packed_add(&vq->p, sg, out_num, in_num, cookie);
	return vq_drv_split_add(vq, sg, out_num, in_num, cookie);
}

bool vq_drv_kick_prepare(struct vq_drv *vq)
{
	return vq->packed ? vq_drv_packed_kick_prepare(&vq->p) : vq_drv_split_kick_prepare(vq);
}

int vq_drv_get_buf(struct vq_drv *vq, void **cookie, uint32_t *len)
{
	if (vq->packed)
		return vq_drv_packed_get_buf(&vq->p, cookie, len);
	return vq_drv_split_get_buf(vq, cookie, len);
}

bool vq_drv_more_used(const struct vq_drv *vq)
{
	return vq->packed ? vq_drv_packed_more_used(&vq->p) : vq_drv_split_more_used(vq);
}

void vq_drv_disable_cb(struct vq_drv *vq)
{
	if (vq->packed)
		vq_drv_packed_disable_cb(&vq->p);
	else
		vq_drv_split_disable_cb(vq);
}

bool vq_drv_enable_cb(struct vq_drv *vq)
{
	return vq->packed ? vq_drv_packed_enable_cb(&vq->p) : vq_drv_split_enable_cb(vq);
}

void vq_drv_set_broken(struct vq_drv *vq)
{
	if (vq->packed)
		vq_drv_packed_set_broken(&vq->p);
	vq->broken = true;
}

bool vq_drv_fits(const struct vq_drv *vq, unsigned total)
{
	bool indirect = vq->packed ? vq->p.cfg.indirect : vq->cfg.indirect;
	unsigned indir_max = vq->packed ? vq->p.cfg.indir_max : vq->cfg.indir_max;
	unsigned num = vq->packed ? vq->p.cfg.num : vq->cfg.num;

	/* §2.7.5 / §2.8.6: a direct chain holds at most num descriptors. */
	return total > 0 && (total <= num || (indirect && total <= indir_max));
}

void *vq_drv_detach_unused(struct vq_drv *vq)
{
	return vq->packed ? vq_drv_packed_detach_unused(&vq->p) : vq_drv_split_detach_unused(vq);
}
