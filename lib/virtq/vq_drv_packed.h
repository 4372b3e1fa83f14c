/* SPDX-License-Identifier: MIT */
/*
 * Driver side of a packed virtqueue (virtio 1.3 §2.8): the verbs of vq_drv.h
 * — add a buffer, decide whether to kick, take used buffers back, switch
 * used-buffer notifications on and off — on the packed layout, after Linux
 * drivers/virtio/virtio_ring.c.
 *
 * Transport-neutral and allocation-free: the caller provides the descriptor
 * ring and the two event suppression structures (shared with the device), a
 * private per-buffer-ID state array, and optionally a per-ID indirect table
 * area (shared, the device reads it). Buffers are given as device addresses.
 *
 * The device is untrusted: a used element whose buffer ID is out of range or
 * not in flight, or whose length exceeds the buffer's device-writable bytes,
 * marks the queue broken; every verb then returns -EIO.
 * A vq_drv_packed is used by one thread at a time.
 *
 * Private to lib/virtq: users call the vq_drv_* verbs of vq_drv.h, which
 * dispatch here for a queue set up with vq_drv_init_packed.
 */
#ifndef VBLK_VIRTQ_VQ_DRV_PACKED_H
#define VBLK_VIRTQ_VQ_DRV_PACKED_H

#include <stdbool.h>
#include <stdint.h>

#include <vblk/spec/virtio_ring.h>

#include "vq_types.h"

/* §2.8: a packed ring holds at most 2^15 descriptors. */
#define VQ_DRV_PACKED_MAX_SIZE 32768

/* Private bookkeeping for one buffer ID; never shared with the device. */
struct vq_drv_packed_state {
	void *cookie;	 /* non-NULL while the ID is in flight */
	uint32_t in_len; /* device-writable bytes: the bound for the used length */
	uint16_t next;	 /* free-list link */
	uint16_t nslots; /* ring slots the buffer occupies (§2.8.6) */
};

struct vq_drv_packed_config {
	uint16_t num;				 /* 1..VQ_DRV_PACKED_MAX_SIZE, any value */
	bool event_idx;				 /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;				 /* VIRTIO_F_INDIRECT_DESC negotiated */
	struct virtq_packed_desc *desc;		 /* num entries, 16-aligned */
	struct virtq_packed_event *driver_event; /* Driver Area: 4 bytes, 4-aligned */
	struct virtq_packed_event *device_event; /* Device Area: 4 bytes, 4-aligned */
	struct vq_drv_packed_state *state;	 /* [num], private memory */
	/*
	 * Indirect tables, used only when indirect is set: num tables of
	 * indir_max descriptors each, table i belonging to buffer ID i.
	 * indir_addr is the device address of indir[0].
	 */
	struct virtq_packed_desc *indir;
	uint64_t indir_addr;
	uint16_t indir_max;
};

struct vq_drv_packed {
	struct vq_drv_packed_config cfg;
	uint16_t free_head;   /* first free buffer ID (linked through state[].next) */
	uint16_t num_free;    /* free ring slots */
	uint16_t next_avail;  /* ring position of the next slot we fill */
	bool avail_wrap;      /* driver ring wrap counter (§2.8.1) */
	uint16_t last_used;   /* ring position of the next used element */
	bool used_wrap;	      /* device ring wrap counter we expect there */
	uint32_t num_added;   /* slots made available since the last kick_prepare */
	uint16_t event_flags; /* shadow of driver_event->flags */
	uint16_t inflight;    /* buffers added and not yet returned */
	bool broken;
};

/*
 * Initialise vq on the caller's memory: zero the ring and both event
 * structures (so notifications start ENABLEd), build the ID free list, set
 * both wrap counters to 1. Returns 0, or -EINVAL (num out of range, a NULL or
 * misaligned area, or indirect without a table area).
 */
int vq_drv_packed_init(struct vq_drv_packed *vq, const struct vq_drv_packed_config *cfg);

/*
 * Make a buffer of out_num device-readable elements followed by in_num
 * device-writable ones available, identified by cookie (non-NULL) when it
 * comes back. One indirect descriptor when negotiated and the buffer has more
 * than one element (and fits indir_max); otherwise consecutive ring slots.
 * Does not notify: call vq_drv_packed_kick_prepare() after a batch.
 * Returns 0; -ENOSPC when not enough slots are free; -EINVAL for an empty
 * buffer, a zero length, a NULL cookie, or a buffer that could never fit;
 * -EIO if the queue is broken.
 */
int vq_drv_packed_add(struct vq_drv_packed *vq, const struct vq_drv_sg *sg, unsigned out_num,
		      unsigned in_num, void *cookie);

/*
 * Decide whether the device wants a kick for the buffers added since the last
 * call (device event suppression structure, §2.8.10). Returns true if the
 * caller must notify.
 */
bool vq_drv_packed_kick_prepare(struct vq_drv_packed *vq);

/*
 * Take the next used buffer: *cookie and *len (bytes the device says it
 * wrote; 0 when it did not set WRITE, §2.8.4). Returns 1 when one was taken,
 * 0 when none is pending, -EIO when the queue is (or just became) broken.
 */
int vq_drv_packed_get_buf(struct vq_drv_packed *vq, void **cookie, uint32_t *len);

/* True if a used buffer is pending (one flags load, no barrier). */
bool vq_drv_packed_more_used(const struct vq_drv_packed *vq);

/* Ask the device not to send used-buffer notifications (DISABLE, best effort). */
void vq_drv_packed_disable_cb(struct vq_drv_packed *vq);

/*
 * Ask for a notification on the next used buffer (ENABLE, or DESC at the
 * next used position with EVENT_IDX). Returns true if nothing is pending, so
 * the caller may sleep; false if used buffers arrived meanwhile and the
 * caller must call get_buf again.
 */
bool vq_drv_packed_enable_cb(struct vq_drv_packed *vq);

/* Buffers in flight (added, not yet returned by get_buf). */
static inline unsigned vq_drv_packed_inflight(const struct vq_drv_packed *vq)
{
	return vq->inflight;
}

/* Mark the queue broken. */
void vq_drv_packed_set_broken(struct vq_drv_packed *vq);

/* Take back one buffer still in flight without the device: its cookie, or NULL (vq_drv.h). */
void *vq_drv_packed_detach_unused(struct vq_drv_packed *vq);

#endif
