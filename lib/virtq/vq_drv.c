/* SPDX-License-Identifier: MIT */
/*
 * The vq_drv_* verbs: one entry per operation. What both layouts share is
 * done here once — argument validation for add, validation of what the
 * device returns (buffer ID in range and in flight, used length within the
 * chain's writable bytes, §2.7.8 / §2.8.4), the per-chain state and the free
 * count — and the ring work is dispatched to the split ring (vq_drv_split.c,
 * virtio 1.3 §2.7) or the packed ring (vq_drv_packed.c, §2.8) through their
 * vq_drv_ops table, chosen by vq->packed, which only init sets.
 */
#include "vq_drv.h"

#include <errno.h>
#include <string.h>

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "vq_drv_ops.h"

int vq_drv_init_layout(struct vq_drv *vq, const struct vq_drv_layout *l)
{
	struct vq_drv_desc_state *st = l->state;

	if (!l->desc || !l->driver || !l->device || !st)
		return -EINVAL;
	if (l->indirect && (!l->indir || l->indir_max < 2))
		return -EINVAL;
	memset(vq, 0, sizeof(*vq));
	vq->packed = l->packed;
	vq->num = l->num;
	vq->event_idx = l->event_idx;
	vq->indirect = l->indirect;
	vq->state = st;
	vq->indir_addr = l->indir_addr;
	vq->indir_max = l->indir_max;
	/* Checks the layout's size and alignment rules before it writes anything. */
	if (vq_drv_ops(vq)->init(vq, l))
		return -EINVAL;
	for (unsigned i = 0; i < l->num; i++) {
		st[i] = (struct vq_drv_desc_state){0};
		st[i].next = (uint16_t)(i + 1); /* the last one is never followed */
	}
	vq->free_head = 0;
	vq->num_free = l->num;
	return 0;
}

int vq_drv_init(struct vq_drv *vq, const struct vq_drv_config *cfg)
{
	const struct vq_drv_layout l = {false,	    cfg->num,	     cfg->event_idx, cfg->indirect,
					cfg->desc,  cfg->avail,	     cfg->used,	     cfg->state,
					cfg->indir, cfg->indir_addr, cfg->indir_max};

	return vq_drv_init_layout(vq, &l);
}

int vq_drv_init_packed(struct vq_drv *vq, const struct vq_drv_packed_config *cfg)
{
	const struct vq_drv_layout l = {
	    true,	cfg->num,	   cfg->event_idx,    cfg->indirect,
	    cfg->desc,	cfg->driver_event, cfg->device_event, cfg->state,
	    cfg->indir, cfg->indir_addr,   cfg->indir_max};

	return vq_drv_init_layout(vq, &l);
}

size_t vq_drv_state_size(bool packed)
{
	(void)packed; /* one state per head or buffer ID, the same for both */
	return sizeof(struct vq_drv_desc_state);
}

int vq_drv_add(struct vq_drv *vq, const struct vq_drv_sg *sg, unsigned out_num, unsigned in_num,
	       void *cookie)
{
	unsigned total = out_num + in_num, need;
	uint64_t in_len = 0;
	bool indirect;
	uint16_t id;

	if (unlikely(vq->broken))
		return -EIO;
	if (!cookie || out_num > UINT16_MAX || in_num > UINT16_MAX || !vq_drv_fits(vq, total))
		return -EINVAL;
	for (unsigned k = 0; k < total; k++) {
		/* Devices reject zero-length descriptors (ours, QEMU, crosvm). */
		if (sg[k].len == 0)
			return -EINVAL;
		if (k >= out_num)
			in_len += sg[k].len;
	}
	/* used.len is 32 bits: a larger writable part could not be reported. */
	if (in_len > UINT32_MAX)
		return -EINVAL;
	indirect = vq->indirect && total > 1 && total <= vq->indir_max;
	need = indirect ? 1 : total;
	if (vq->num_free < need)
		return -ENOSPC;

	id = vq_drv_ops(vq)->add(vq, sg, out_num, total, indirect);
	vq->state[id].cookie = cookie;
	vq->state[id].in_len = (uint32_t)in_len;
	vq->state[id].ndesc = (uint16_t)need;
	vq->num_free = (uint16_t)(vq->num_free - need);
	vq->inflight++;
	return 0;
}

bool vq_drv_kick_prepare(struct vq_drv *vq)
{
	if (unlikely(vq->broken))
		return false;
	return vq_drv_ops(vq)->kick_prepare(vq);
}

int vq_drv_get_buf(struct vq_drv *vq, void **cookie, uint32_t *len)
{
	uint32_t id, ulen;
	int ret;

	if (unlikely(vq->broken))
		return -EIO;
	ret = vq_drv_ops(vq)->peek_used(vq, &id, &ulen);
	if (ret <= 0)
		return ret;
	/*
	 * The device may only return a chain we made available and it has not
	 * returned, and cannot have written more than its writable part
	 * (§2.7.8, §2.8.4).
	 */
	if (unlikely(id >= vq->num || !vq->state[id].cookie || ulen > vq->state[id].in_len)) {
		vq->broken = true;
		return -EIO;
	}
	*cookie = vq->state[id].cookie;
	*len = ulen;
	vq_drv_ops(vq)->take_used(vq, (uint16_t)id);
	vq->state[id].cookie = NULL;
	vq->state[id].ndesc = 0;
	vq->inflight--;
	return 1;
}

bool vq_drv_more_used(const struct vq_drv *vq)
{
	return vq_drv_ops(vq)->more_used(vq);
}

void vq_drv_disable_cb(struct vq_drv *vq)
{
	vq_drv_ops(vq)->disable_cb(vq);
}

bool vq_drv_enable_cb(struct vq_drv *vq)
{
	if (unlikely(vq->broken))
		return true;
	vq_drv_ops(vq)->enable_cb(vq);
	/*
	 * Orders the used_event / avail->flags (packed: driver event structure)
	 * store above before the used->idx (packed: used flags) load below:
	 * either the device sees our request for a notification, or we see the
	 * chain it completed meanwhile (§2.7.10, §2.8.10).
	 */
	smp_mb();
	return !vq_drv_more_used(vq);
}

void vq_drv_set_broken(struct vq_drv *vq)
{
	vq->broken = true;
}

bool vq_drv_fits(const struct vq_drv *vq, unsigned total)
{
	/* §2.7.5 / §2.8.6: a direct chain holds at most num descriptors. */
	return total > 0 && (total <= vq->num || (vq->indirect && total <= vq->indir_max));
}

void *vq_drv_detach_unused(struct vq_drv *vq)
{
	for (unsigned id = 0; id < vq->num; id++) {
		void *cookie = vq->state[id].cookie;

		if (cookie == NULL)
			continue;
		vq_drv_ops(vq)->free(vq, (uint16_t)id);
		vq->state[id].cookie = NULL;
		vq->state[id].ndesc = 0;
		vq->inflight--;
		return cookie;
	}
	return NULL;
}
