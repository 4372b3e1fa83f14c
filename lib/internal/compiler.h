/* SPDX-License-Identifier: MIT */
/*
 * lib/internal: private helpers shared by every layer (compiler attributes,
 * memory barriers, logging, iovec arithmetic). Nothing here knows virtio.
 */
#ifndef VBLK_INTERNAL_COMPILER_H
#define VBLK_INTERNAL_COMPILER_H

#include <stddef.h>

#define likely(x)			__builtin_expect(!!(x), 1)
#define unlikely(x)			__builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a)			(sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define VBLK_MIN(a, b)			((a) < (b) ? (a) : (b))
#define VBLK_MAX(a, b)			((a) > (b) ? (a) : (b))
#define VBLK_UNUSED			__attribute__((unused))
#define VBLK_PRINTF(f, a)		__attribute__((format(printf, f, a)))

/* Read a value shared with another agent exactly once (no re-fetch). */
#define READ_ONCE(x)	 (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#endif
