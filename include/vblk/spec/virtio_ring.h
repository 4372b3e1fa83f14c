/* SPDX-License-Identifier: MIT */
/*
 * Split and packed virtqueue layouts, virtio 1.3 §2.7 and §2.8.
 * Wire formats only: no logic beyond the event-index rule the spec defines.
 */
#ifndef VBLK_SPEC_VIRTIO_RING_H
#define VBLK_SPEC_VIRTIO_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio_types.h"

/* §2.7.5 The Virtqueue Descriptor Table */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

/* §2.7.6 / §2.7.8 flags */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

/* §2.7: Queue Size is at most 32768 for a split ring. */
#define VIRTQ_SPLIT_MAX_SIZE 32768

struct virtq_desc {
	vblk_le64 addr;
	vblk_le32 len;
	vblk_le16 flags;
	vblk_le16 next;
};

struct virtq_avail {
	vblk_le16 flags;
	vblk_le16 idx;
	vblk_le16 ring[];
	/* vblk_le16 used_event; only if VIRTIO_F_EVENT_IDX */
};

struct virtq_used_elem {
	/* Index of start of used descriptor chain (le32 for padding). */
	vblk_le32 id;
	/* §2.7.8: bytes written into the device-writable part of the chain. */
	vblk_le32 len;
};

struct virtq_used {
	vblk_le16 flags;
	vblk_le16 idx;
	struct virtq_used_elem ring[];
	/* vblk_le16 avail_event; only if VIRTIO_F_EVENT_IDX */
};

/* §2.7 "Alignment": desc 16, avail 2, used 4. Sizes include event fields. */
#define VIRTQ_DESC_ALIGN  16
#define VIRTQ_AVAIL_ALIGN 2
#define VIRTQ_USED_ALIGN  4

static inline size_t virtq_desc_size(unsigned num)
{
	return 16u * (size_t)num;
}
static inline size_t virtq_avail_size(unsigned num)
{
	return 6u + 2u * (size_t)num;
}
static inline size_t virtq_used_size(unsigned num)
{
	return 6u + 8u * (size_t)num;
}

/* used_event lives after avail->ring[num]; avail_event after used->ring[num]. */
static inline vblk_le16 *virtq_used_event(struct virtq_avail *avail, unsigned num)
{
	return &avail->ring[num];
}

static inline vblk_le16 *virtq_avail_event(struct virtq_used *used, unsigned num)
{
	return (vblk_le16 *)(void *)&used->ring[num];
}

/*
 * §2.7.10 / §2.7.7.2: with VIRTIO_F_EVENT_IDX, notify when the index moved
 * past event_idx since old_idx. All arithmetic is modulo 2^16.
 */
static inline bool virtq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* §2.8 Packed Virtqueues */
#define VIRTQ_PACKED_DESC_F_AVAIL	7
#define VIRTQ_PACKED_DESC_F_USED	15
#define VIRTQ_PACKED_EVENT_F_WRAP_CTR	15
#define VIRTQ_PACKED_EVENT_FLAG_ENABLE	0x0
#define VIRTQ_PACKED_EVENT_FLAG_DISABLE 0x1
#define VIRTQ_PACKED_EVENT_FLAG_DESC	0x2

struct virtq_packed_desc {
	vblk_le64 addr;
	vblk_le32 len;
	vblk_le16 id;
	vblk_le16 flags;
};

struct virtq_packed_event {
	vblk_le16 off_wrap;
	vblk_le16 flags;
};

#endif
