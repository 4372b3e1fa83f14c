/* SPDX-License-Identifier: MIT */
/*
 * Wire-format scalar types shared by every spec header.
 *
 * virtio 1.x structures are little-endian (virtio 1.3 §1.4). The typedefs
 * document that on every field; the helpers convert explicitly so the code
 * stays correct on a big-endian host.
 */
#ifndef VBLK_SPEC_VIRTIO_TYPES_H
#define VBLK_SPEC_VIRTIO_TYPES_H

#include <stdint.h>

typedef uint16_t vblk_le16;
typedef uint32_t vblk_le32;
typedef uint64_t vblk_le64;

/* Compiler builtins rather than <endian.h>, so the header works as strict C99 and C++. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VBLK_LE16(v) __builtin_bswap16(v)
#define VBLK_LE32(v) __builtin_bswap32(v)
#define VBLK_LE64(v) __builtin_bswap64(v)
#else
#define VBLK_LE16(v) (v)
#define VBLK_LE32(v) (v)
#define VBLK_LE64(v) (v)
#endif

static inline uint16_t vblk_le16_to_cpu(vblk_le16 v)
{
	return VBLK_LE16(v);
}
static inline uint32_t vblk_le32_to_cpu(vblk_le32 v)
{
	return VBLK_LE32(v);
}
static inline uint64_t vblk_le64_to_cpu(vblk_le64 v)
{
	return VBLK_LE64(v);
}
static inline vblk_le16 vblk_cpu_to_le16(uint16_t v)
{
	return VBLK_LE16(v);
}
static inline vblk_le32 vblk_cpu_to_le32(uint32_t v)
{
	return VBLK_LE32(v);
}
static inline vblk_le64 vblk_cpu_to_le64(uint64_t v)
{
	return VBLK_LE64(v);
}

/* Device-independent feature bits, virtio 1.3 §6 "Reserved Feature Bits". */
#define VIRTIO_F_INDIRECT_DESC	   28
#define VIRTIO_F_EVENT_IDX	   29
#define VIRTIO_F_VERSION_1	   32
#define VIRTIO_F_ACCESS_PLATFORM   33
#define VIRTIO_F_RING_PACKED	   34
#define VIRTIO_F_IN_ORDER	   35
#define VIRTIO_F_ORDER_PLATFORM	   36
#define VIRTIO_F_SR_IOV		   37
#define VIRTIO_F_NOTIFICATION_DATA 38
#define VIRTIO_F_RING_RESET	   40

/* Device status bits, virtio 1.3 §2.1. */
#define VIRTIO_CONFIG_S_ACKNOWLEDGE 1
#define VIRTIO_CONFIG_S_DRIVER	    2
#define VIRTIO_CONFIG_S_DRIVER_OK   4
#define VIRTIO_CONFIG_S_FEATURES_OK 8
#define VIRTIO_CONFIG_S_NEEDS_RESET 64
#define VIRTIO_CONFIG_S_FAILED	    128

#define VIRTIO_BIT(n) (UINT64_C(1) << (n))

/* Layout checks that compile as C11, C++11 and (silently) older C. */
#if defined(__cplusplus)
#define VBLK_STATIC_ASSERT(c, m) static_assert(c, m)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define VBLK_STATIC_ASSERT(c, m) _Static_assert(c, m)
#else
#define VBLK_STATIC_ASSERT(c, m)
#endif

#endif
