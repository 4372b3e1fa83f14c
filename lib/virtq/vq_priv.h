/* SPDX-License-Identifier: MIT */
/*
 * Private helpers shared by the ring engines in lib/virtq (not installed, not
 * used outside this folder and its tests):
 *  - packed ring positions and event suppression (virtio 1.3 §2.8.1,
 *    §2.8.10, §2.8.14), used by both the device and the driver side;
 *  - the device side's descriptor reading, chain building, indirect table
 *    checks, element filling, resubmission order and ring-area mapping,
 *    common to the split and the packed layout (vq_common.c);
 *  - the "mark broken, log once" helper of both device-side engines.
 */
#ifndef VBLK_VIRTQ_VQ_PRIV_H
#define VBLK_VIRTQ_VQ_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include <vblk/spec/virtio_ring.h>

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "vq_mem.h"

/* ---- packed ring positions (§2.8.1) ---- */

#define VQ_PACKED_F_AVAIL ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_AVAIL))
#define VQ_PACKED_F_USED  ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_USED))

/*
 * A (position, wrap counter) pair as a linear position in [0, 2*num):
 * position + (wrap ? 0 : num). Both counters start at 1, so the linear
 * position advances by one per slot modulo 2*num.
 */
static inline unsigned vq_packed_lin(unsigned num, uint16_t pos, bool wrap)
{
	return pos + (wrap ? 0u : num);
}

/* Advance (pos, wrap) by n <= num slots, toggling wrap at the end of the ring (§2.8.1). */
static inline void vq_packed_advance(unsigned num, uint16_t *pos, bool *wrap, unsigned n)
{
	unsigned p = *pos + n;

	if (p >= num) {
		p -= num;
		*wrap = !*wrap;
	}
	*pos = (uint16_t)p;
}

/* The off_wrap value naming (pos, wrap): §2.8.10, wrap counter in bit 15. */
static inline uint16_t vq_packed_off_wrap(uint16_t pos, bool wrap)
{
	return (uint16_t)(pos | (unsigned)wrap << VIRTQ_PACKED_EVENT_F_WRAP_CTR);
}

/*
 * §2.8.1 / §2.8.21.1: the driver makes a slot available by setting AVAIL to
 * its wrap counter and USED to the inverse.
 */
static inline bool vq_packed_desc_is_avail(uint16_t flags, bool wrap)
{
	bool avail = flags & VQ_PACKED_F_AVAIL, used = flags & VQ_PACKED_F_USED;

	return avail != used && avail == wrap;
}

/* §2.8.1 / §2.8.22: a used element has AVAIL and USED both equal to the wrap counter. */
static inline bool vq_packed_desc_is_used(uint16_t flags, bool wrap)
{
	bool avail = flags & VQ_PACKED_F_AVAIL, used = flags & VQ_PACKED_F_USED;

	return avail == used && used == wrap;
}

/*
 * §2.8.10 event suppression with DESC: notify when the slot at off_wrap
 * (15-bit position, wrap counter in bit 15) lies in the n slots written or
 * made available starting at linear position old. Modulo 2*num, the period
 * of (position, wrap). n >= 2*num covers everything, and a position outside
 * the ring cannot be matched: both notify rather than risk a hang.
 */
static inline bool vq_packed_need_event(unsigned num, uint16_t off_wrap, unsigned old, unsigned n)
{
	unsigned period = 2 * num;
	unsigned off = off_wrap & 0x7fffu;
	unsigned ev;

	if (n >= period || off >= num)
		return true;
	ev = off + ((off_wrap >> VIRTQ_PACKED_EVENT_F_WRAP_CTR) ? 0u : num);
	return (ev + period - old) % period < n;
}

/* An event suppression structure in CPU byte order. */
struct vq_packed_event {
	uint16_t off_wrap;
	uint16_t flags;
};

/*
 * §2.8.14: off_wrap and flags are read and written as one 32-bit access so
 * the pair is consistent (the writer updates off_wrap before flags, or both
 * at once).
 */
static inline struct vq_packed_event vq_packed_event_read(const struct virtq_packed_event *e)
{
	uint32_t raw = READ_ONCE(*(const uint32_t *)(const void *)e);
	struct virtq_packed_event le;

	memcpy(&le, &raw, sizeof(le));
	return (struct vq_packed_event){vblk_le16_to_cpu(le.off_wrap), vblk_le16_to_cpu(le.flags)};
}

static inline void vq_packed_event_write(struct virtq_packed_event *e, uint16_t off_wrap,
					 uint16_t flags)
{
	struct virtq_packed_event le = {vblk_cpu_to_le16(off_wrap), vblk_cpu_to_le16(flags)};
	uint32_t raw;

	memcpy(&raw, &le, sizeof(raw));
	WRITE_ONCE(*(uint32_t *)(void *)e, raw);
}

/* ---- device side: descriptors, chains and ring areas (vq_common.c) ---- */

struct vq_dev;
struct vq_dev_elem;

/*
 * A descriptor after the single read from guest memory, in CPU byte order.
 * Both layouts' descriptors are 16 bytes with addr and len first; split ones
 * end with flags and next (§2.7.5), packed ones with id and flags (§2.8.13).
 */
struct vq_desc_copy {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next; /* split only */
	uint16_t id;   /* packed only */
};

/*
 * Copy one descriptor of vq's layout out of guest memory, once: no field is
 * re-read from the guest afterwards (double fetch). Copes with an indirect
 * table at an unaligned guest address.
 */
void vq_desc_read_once(const void *src, bool packed, struct vq_desc_copy *d);

/* The iovecs of one chain being walked; the elem is filled only when the walk succeeds. */
struct vq_chain {
	struct iovec *iov;
	unsigned iov_max;
	unsigned cnt;
	unsigned out_num;
	unsigned in_num;
	uint64_t out_len;
	uint64_t in_len;
};

/*
 * Append one buffer descriptor (not INDIRECT) to the chain. A zero length,
 * readable after writable, too many iovecs or an address outside guest memory
 * marks vq broken, naming the descriptor as "<at> <where>" (head or slot).
 * Returns 0 or -EIO.
 */
int vq_dev_chain_add(struct vq_dev *vq, struct vq_chain *c, const struct vq_desc_copy *d,
		     const char *at, unsigned where);

/*
 * Check an INDIRECT descriptor and map its table: the feature negotiated, no
 * NEXT with it (§2.7.5.3.1, §2.8.7), a length that is a non-zero multiple of
 * 16, and the table contiguous in guest memory. On success *table and *n are
 * its bytes and entry count; otherwise vq is broken and -EIO returned.
 */
int vq_dev_indirect_table(struct vq_dev *vq, const struct vq_desc_copy *d, const char *at,
			  unsigned where, const unsigned char **table, unsigned *n);

/* Fill elem from a walked chain whose iovecs are in iov. */
void vq_dev_elem_fill(struct vq_dev_elem *elem, uint16_t head, const struct vq_chain *c,
		      struct iovec *iov);

/* qsort order of struct vq_dev_resubmit: counter, then head (issue order, §"Inflight I/O"). */
int vq_dev_resubmit_cmp(const void *a, const void *b);

/*
 * Translate one ring area given as a front-end virtual address. The spec
 * alignment applies to the guest address; the host pointer must be aligned
 * too, for our 16/32-bit accesses. Returns 0, -EINVAL (alignment) or -EFAULT.
 */
int vq_map_area(const struct vq_mem *mem, uint64_t uva, size_t size, size_t align, void **hva);

/*
 * Mark vq broken and log "<kind> <vq> broken: <reason>" the first time only
 * (formatting only then, too).
 */
void vq_dev_broken(struct vq_dev *vq, const char *fmt, ...) VBLK_PRINTF(2, 3);

#endif
