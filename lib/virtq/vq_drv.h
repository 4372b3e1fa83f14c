/* SPDX-License-Identifier: MIT */
/*
 * Driver side of a virtqueue: the verbs a driver uses, after Linux
 * virtio_ring.c — add a chain, decide whether to kick, take used buffers
 * back, and switch used-buffer notifications on and off — for both ring
 * layouts: split (virtio 1.3 §2.7, vq_drv_split.c, set up by vq_drv_init)
 * and packed (§2.8, vq_drv_packed.c, set up by vq_drv_init_packed). Every
 * other verb dispatches on the layout (vq_drv.c).
 *
 * Transport-neutral and allocation-free: the caller provides the three ring
 * areas (shared with the device), a private per-descriptor state array, and
 * optionally a per-head indirect table area (shared with the device, since
 * the device reads it). The packed layout's areas and state are described by
 * struct vq_drv_packed_config (vq_drv_packed.h). Buffers are given as device addresses; translating
 * pointers is the transport's business.
 *
 * The device is untrusted: a used element whose id is out of range or names
 * a head that is not in flight, or a used index that runs more than the
 * queue size ahead, marks the queue broken; every verb then returns -EIO.
 * A vq_drv is used by one thread at a time.
 */
#ifndef VBLK_VIRTQ_VQ_DRV_H
#define VBLK_VIRTQ_VQ_DRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vblk/spec/virtio_ring.h>

#include "vq_drv_packed.h"
#include "vq_types.h"

/* Private bookkeeping for one descriptor; never shared with the device. */
struct vq_drv_desc_state {
	void *cookie;	/* non-NULL on a head that is in flight */
	uint16_t next;	/* our copy of the chain/free-list link */
	uint16_t ndesc; /* on a head: direct descriptors the chain holds */
};

struct vq_drv_config {
	uint16_t num;			 /* power of two, 1..VIRTQ_SPLIT_MAX_SIZE */
	bool event_idx;			 /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;			 /* VIRTIO_F_INDIRECT_DESC negotiated */
	struct virtq_desc *desc;	 /* virtq_desc_size(num) bytes, 16-aligned */
	struct virtq_avail *avail;	 /* virtq_avail_size(num) bytes, 2-aligned */
	struct virtq_used *used;	 /* virtq_used_size(num) bytes, 4-aligned */
	struct vq_drv_desc_state *state; /* [num], private memory */
	/*
	 * Indirect tables, used only when indirect is set: num tables of
	 * indir_max descriptors each, table h belonging to the chain whose head
	 * is h. indir_addr is the device address of indir[0].
	 */
	struct virtq_desc *indir;
	uint64_t indir_addr;
	uint16_t indir_max;
};

/*
 * The split ring's state, and in p the packed ring's when packed is set
 * (use the accessors below rather than the fields, which are per layout).
 */
struct vq_drv {
	bool packed; /* VIRTIO_F_RING_PACKED: the state is in p */
	struct vq_drv_config cfg;
	uint16_t free_head;   /* first free descriptor (linked through state[].next) */
	uint16_t num_free;    /* free descriptors */
	uint16_t avail_idx;   /* shadow of avail->idx: we are its only writer */
	uint16_t num_added;   /* chains added since the last kick_prepare */
	uint16_t last_used;   /* next used->ring slot to consume */
	uint16_t avail_flags; /* shadow of avail->flags */
	uint16_t inflight;    /* chains added and not yet returned */
	bool broken;
	struct vq_drv_packed p;
};

/*
 * Initialise vq as a split ring on the caller's memory: zero the rings, build
 * the free list. Returns 0, or -EINVAL (num not a power of two in range, a
 * NULL area, or indirect without a table area).
 */
int vq_drv_init(struct vq_drv *vq, const struct vq_drv_config *cfg);

/*
 * Initialise vq as a packed ring (see vq_drv_packed_init: zeroed ring and
 * event structures, both wrap counters 1). Returns 0 or -EINVAL.
 */
int vq_drv_init_packed(struct vq_drv *vq, const struct vq_drv_packed_config *cfg);

/*
 * Either layout, for callers that choose it at run time: the areas untyped
 * (driver = avail ring or driver event structure, device = used ring or
 * device event structure; §2.5 names them so for both), state[num] of
 * vq_drv_state_size(packed) bytes each.
 */
struct vq_drv_layout {
	bool packed; /* VIRTIO_F_RING_PACKED negotiated */
	uint16_t num;
	bool event_idx;
	bool indirect;
	void *desc, *driver, *device;
	void *state;
	void *indir;
	uint64_t indir_addr;
	uint16_t indir_max;
};

/* vq_drv_init or vq_drv_init_packed on l. Returns 0 or -EINVAL. */
int vq_drv_init_layout(struct vq_drv *vq, const struct vq_drv_layout *l);

/* Bytes of private state per descriptor (split) or buffer ID (packed). */
size_t vq_drv_state_size(bool packed);

/*
 * Expose a chain of out_num device-readable buffers followed by in_num
 * device-writable ones, identified by cookie (non-NULL) when it comes back.
 * Uses one indirect descriptor when negotiated and the chain is longer than
 * one (and fits indir_max); direct descriptors from the free list otherwise.
 * Does not notify: call vq_drv_kick_prepare() after a batch.
 * Returns 0; -ENOSPC when not enough descriptors are free (retry after
 * vq_drv_get_buf returned something); -EINVAL for an empty chain, a NULL
 * cookie, or a chain that could never fit; -EIO if the queue is broken.
 */
int vq_drv_add(struct vq_drv *vq, const struct vq_drv_sg *sg, unsigned out_num, unsigned in_num,
	       void *cookie);

/*
 * Publish nothing new but decide whether the device wants a kick for the
 * chains added since the last call (VIRTQ_USED_F_NO_NOTIFY, or avail_event
 * with EVENT_IDX, §2.7.10). Returns true if the caller must notify.
 */
bool vq_drv_kick_prepare(struct vq_drv *vq);

/*
 * Take the next used chain: *cookie and *len (bytes the device says it
 * wrote). Returns 1 when one was taken, 0 when none is pending, -EIO when
 * the queue is (or just became) broken.
 */
int vq_drv_get_buf(struct vq_drv *vq, void **cookie, uint32_t *len);

/* True if a used chain is pending (cheap check, no barrier beyond the load). */
bool vq_drv_more_used(const struct vq_drv *vq);

/* Ask the device not to send used-buffer notifications (best effort). */
void vq_drv_disable_cb(struct vq_drv *vq);

/*
 * Ask for a notification on the next used chain. Returns true if nothing is
 * pending, so the caller may sleep; false if used chains arrived meanwhile
 * and the caller must call get_buf again (the race of §2.7.10).
 */
bool vq_drv_enable_cb(struct vq_drv *vq);

/* Chains in flight (added, not yet returned by get_buf). */
static inline unsigned vq_drv_inflight(const struct vq_drv *vq)
{
	return vq->packed ? vq->p.inflight : vq->inflight;
}

/* Mark the queue broken. */
void vq_drv_set_broken(struct vq_drv *vq);

/* True once the queue is broken (the device misbehaved, or set_broken). */
static inline bool vq_drv_is_broken(const struct vq_drv *vq)
{
	return vq->packed ? vq->p.broken : vq->broken;
}

/*
 * True if a chain of total buffers can ever be added (it fits the ring, or
 * goes in one indirect table): false means add would return -EINVAL.
 */
bool vq_drv_fits(const struct vq_drv *vq, unsigned total);

/*
 * For a queue whose device is gone or broken: take back one chain still in
 * flight, without the device (Linux virtqueue_detach_unused_buf). Returns
 * its cookie, or NULL when none is left. The ring must not be used again
 * except through this call (re-initialise it first).
 */
void *vq_drv_detach_unused(struct vq_drv *vq);

#endif
