/* SPDX-License-Identifier: MIT */
/*
 * Driver side of a virtqueue: the verbs a driver uses, after Linux
 * virtio_ring.c — add a chain, decide whether to kick, take used buffers
 * back, and switch used-buffer notifications on and off — for both ring
 * layouts: split (virtio 1.3 §2.7, vq_drv_split.c, set up by vq_drv_init)
 * and packed (§2.8, vq_drv_packed.c, set up by vq_drv_init_packed), or
 * either chosen at run time (vq_drv_init_layout). Every verb checks what
 * both layouts share once (vq_drv.c) and dispatches the rest on the layout.
 *
 * Transport-neutral and allocation-free: the caller provides the three ring
 * areas (shared with the device), a private per-descriptor state array, and
 * optionally a per-head indirect table area (shared with the device, since
 * the device reads it). Buffers are given as device addresses; translating
 * pointers is the transport's business.
 *
 * The device is untrusted: a used element whose id is out of range or names
 * a chain that is not in flight, whose length exceeds the chain's
 * device-writable bytes, or a used index that runs ahead of what is in
 * flight, marks the queue broken; every verb then returns -EIO.
 * A vq_drv is used by one thread at a time.
 */
#ifndef VBLK_VIRTQ_VQ_DRV_H
#define VBLK_VIRTQ_VQ_DRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vblk/spec/virtio_ring.h>

#include "vq_types.h"

/* §2.8: a packed ring holds at most 2^15 descriptors. */
#define VQ_DRV_PACKED_MAX_SIZE 32768

/*
 * Private bookkeeping per head (split) or buffer ID (packed); never shared
 * with the device.
 */
struct vq_drv_desc_state {
	void *cookie;	 /* non-NULL while the chain is in flight */
	uint32_t in_len; /* device-writable bytes: the bound for the used length */
	uint16_t next;	 /* our copy of the chain/free-list link */
	uint16_t ndesc;	 /* ring descriptors (packed: slots, §2.8.6) the chain holds */
};

/* A split ring's memory (vq_drv_init). */
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

/* A packed ring's memory (vq_drv_init_packed): the same fields, typed for §2.8. */
struct vq_drv_packed_config {
	uint16_t num;				 /* 1..VQ_DRV_PACKED_MAX_SIZE, any value */
	bool event_idx;				 /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;				 /* VIRTIO_F_INDIRECT_DESC negotiated */
	struct virtq_packed_desc *desc;		 /* num entries, 16-aligned */
	struct virtq_packed_event *driver_event; /* Driver Area: 4 bytes, 4-aligned */
	struct virtq_packed_event *device_event; /* Device Area: 4 bytes, 4-aligned */
	struct vq_drv_desc_state *state;	 /* [num] per buffer ID, private memory */
	/* Indirect tables as for the split ring, table i belonging to buffer ID i. */
	struct virtq_packed_desc *indir;
	uint64_t indir_addr;
	uint16_t indir_max;
};

/* What only the split ring has (§2.7). */
struct vq_drv_split {
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	struct virtq_desc *indir;
	uint16_t avail_idx;   /* shadow of avail->idx: we are its only writer */
	uint16_t avail_flags; /* shadow of avail->flags */
};

/* What only the packed ring has (§2.8.1: a wrap counter per direction). */
struct vq_drv_packed {
	struct virtq_packed_desc *desc;
	struct virtq_packed_event *driver_event;
	struct virtq_packed_event *device_event;
	struct virtq_packed_desc *indir;
	uint16_t next_avail;  /* ring position of the next slot we fill */
	bool avail_wrap;      /* driver ring wrap counter (§2.8.1) */
	bool used_wrap;	      /* device ring wrap counter we expect at last_used */
	uint16_t event_flags; /* shadow of driver_event->flags */
};

/*
 * A ring's state: the fields every layout has once, then what differs in a
 * union (as Linux's struct vring_virtqueue). Use the verbs and the accessors
 * below rather than the fields.
 */
struct vq_drv {
	uint16_t num;
	bool packed;	/* VIRTIO_F_RING_PACKED: the state is in packed_ring */
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated */
	bool broken;
	struct vq_drv_desc_state *state; /* [num] */
	uint64_t indir_addr;
	uint16_t indir_max;
	/* Split: first free descriptor; packed: first free buffer ID (linked by state[].next). */
	uint16_t free_head;
	uint16_t num_free;  /* free descriptors (packed: ring slots) */
	uint16_t inflight;  /* chains added and not yet returned */
	uint16_t last_used; /* split: next used->ring index; packed: ring position */
	uint32_t num_added; /* since the last kick_prepare: split chains, packed slots */
	union {
		struct vq_drv_split split;	  /* !packed */
		struct vq_drv_packed packed_ring; /* packed */
	};
};

/*
 * Initialise vq as a split ring on the caller's memory: zero the rings, build
 * the free list. Returns 0, or -EINVAL (num not a power of two in range, a
 * NULL area, or indirect without a table area).
 */
int vq_drv_init(struct vq_drv *vq, const struct vq_drv_config *cfg);

/*
 * Initialise vq as a packed ring on the caller's memory: zero the ring and
 * both event structures (so notifications start ENABLEd), build the ID free
 * list, set both wrap counters to 1. Returns 0, or -EINVAL (num out of range,
 * a NULL or misaligned area, or indirect without a table area).
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
 * one (and fits indir_max); direct descriptors otherwise.
 * Does not notify: call vq_drv_kick_prepare() after a batch.
 * Returns 0; -ENOSPC when not enough descriptors are free (retry after
 * vq_drv_get_buf returned something); -EINVAL for an empty chain, a zero
 * length, a NULL cookie, more than 4 GiB - 1 writable bytes (used lengths
 * are 32-bit), or a chain that could never fit; -EIO if the queue is broken.
 */
int vq_drv_add(struct vq_drv *vq, const struct vq_drv_sg *sg, unsigned out_num, unsigned in_num,
	       void *cookie);

/*
 * Decide whether the device wants a kick for the chains added since the last
 * call (VIRTQ_USED_F_NO_NOTIFY, or avail_event with EVENT_IDX, §2.7.10; the
 * device event suppression structure, §2.8.10). Returns true if the caller
 * must notify.
 */
bool vq_drv_kick_prepare(struct vq_drv *vq);

/*
 * Take the next used chain: *cookie and *len (bytes the device says it
 * wrote; packed: 0 when it did not set WRITE, §2.8.4). Returns 1 when one
 * was taken, 0 when none is pending, -EIO when the queue is (or just became)
 * broken.
 */
int vq_drv_get_buf(struct vq_drv *vq, void **cookie, uint32_t *len);

/* True if a used chain is pending (cheap check, no barrier beyond the load). */
bool vq_drv_more_used(const struct vq_drv *vq);

/* Ask the device not to send used-buffer notifications (best effort). */
void vq_drv_disable_cb(struct vq_drv *vq);

/*
 * Ask for a notification on the next used chain. Returns true if nothing is
 * pending, so the caller may sleep; false if used chains arrived meanwhile
 * and the caller must call get_buf again (the race of §2.7.10, §2.8.10).
 */
bool vq_drv_enable_cb(struct vq_drv *vq);

/* Chains in flight (added, not yet returned by get_buf). */
static inline unsigned vq_drv_inflight(const struct vq_drv *vq)
{
	return vq->inflight;
}

/* Mark the queue broken. */
void vq_drv_set_broken(struct vq_drv *vq);

/* True once the queue is broken (the device misbehaved, or set_broken). */
static inline bool vq_drv_is_broken(const struct vq_drv *vq)
{
	return vq->broken;
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
