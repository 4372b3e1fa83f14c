/* SPDX-License-Identifier: MIT */
/*
 * Inflight I/O tracking on the device side (vhost-user.rst "Inflight I/O
 * tracking", VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD): the interface between the
 * ring engines (vq_dev_split.c, vq_dev_packed.c) and the per-layout record
 * keepers (vq_inflight_split.c, vq_inflight_packed.c). Private to lib/virtq.
 *
 * Per layout: alloc/free the private mirrors (at init, so start and pop never
 * fail for memory); start (a fresh region is initialised at the ring's
 * position, one an earlier back end used is validated and recovered, queueing
 * the buffers still in flight for resubmission); record (a popped buffer,
 * before it is dispatched); retire_begin and retire_end (around the store
 * that publishes a used element). Each is a no-op unless a region is
 * attached (vq->inflight_region), which the callers check.
 */
#ifndef VBLK_VIRTQ_VQ_INFLIGHT_H
#define VBLK_VIRTQ_VQ_INFLIGHT_H

#include <stdbool.h>
#include <stdint.h>

/* vhost-user.rst "Inflight I/O tracking": the region version we write (both layouts). */
#define VQ_DEV_INFLIGHT_VERSION	   1
#define VQ_PACKED_INFLIGHT_VERSION VQ_DEV_INFLIGHT_VERSION

/*
 * vblk's tag in the features field of a packed-layout inflight region
 * (vhost-user.rst leaves the field's bits to the back end, the only reader).
 * A split-layout region has features 0: neither layout reads the other's.
 */
#define VQ_INFLIGHT_F_PACKED_LAYOUT 1ull

/* A descriptor as fetched from a packed ring (one inflight region entry), CPU byte order. */
struct vq_packed_desc_rec {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

/*
 * The packed layout's private mirrors of its region. On the data path the
 * region is only written, never read, so a front end scribbling on it cannot
 * steer us; these are what we read.
 */
struct vq_inflight_packed {
	uint16_t fl_head;		     /* first free entry (num: none) */
	uint16_t *fl_next;		     /* [num] entry links, as stored in the region */
	uint16_t *id_head;		     /* [num] per buffer ID in flight: its head entry */
	uint16_t *id_last;		     /* [num] ... and its last entry */
	struct vq_packed_desc_rec *ent_copy; /* [num] per entry: validated copy (recovery) */
	uint8_t *scan;			     /* [num] recovery scratch */
};

struct vq_dev;
struct vq_chain;

/* Split layout (vq_inflight_split.c). */
int vq_inflight_split_start(struct vq_dev *vq, uint16_t base);
void vq_inflight_split_record(struct vq_dev *vq, uint16_t head);
void vq_inflight_split_retire_begin(struct vq_dev *vq, uint16_t head);
void vq_inflight_split_retire_end(struct vq_dev *vq, uint16_t head);

/* Packed layout (vq_inflight_packed.c); record takes the n descriptors of vq's chain[]. */
int vq_inflight_packed_alloc(struct vq_dev *vq);
void vq_inflight_packed_free(struct vq_dev *vq);
int vq_inflight_packed_start(struct vq_dev *vq);
void vq_inflight_packed_record(struct vq_dev *vq, uint16_t id, uint16_t n);
void vq_inflight_packed_retire_begin(struct vq_dev *vq, uint16_t id, uint16_t old_idx,
				     bool old_wrap);
void vq_inflight_packed_retire_end(struct vq_dev *vq, uint16_t id);
/*
 * Packed: the resubmitted buffer's chain, into c (*id its buffer ID), rebuilt
 * from the region's validated copies. 1 or -EIO.
 */
int vq_inflight_packed_pop_resubmit(struct vq_dev *vq, struct vq_chain *c, uint16_t *id);

#endif
