/* SPDX-License-Identifier: MIT */
/*
 * iovec arithmetic used by the ring and the request engine. All functions are
 * bounds-safe: they never touch bytes outside the iovec array they are given.
 */
#ifndef VBLK_INTERNAL_IOV_H
#define VBLK_INTERNAL_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Total bytes described by iov[0..cnt). Saturates at SIZE_MAX. */
size_t iov_size(const struct iovec *iov, unsigned cnt);

/* Copy up to len bytes starting at byte offset off of the iovec into buf. Returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned cnt, size_t off, void *buf, size_t len);

/* Copy up to len bytes from buf into the iovec starting at byte offset off. Returns bytes copied.
 */
size_t iov_from_buf(const struct iovec *iov, unsigned cnt, size_t off, const void *buf, size_t len);

/* Fill len bytes of the iovec from offset off with byte c. Returns bytes written. */
size_t iov_memset(const struct iovec *iov, unsigned cnt, size_t off, int c, size_t len);

/*
 * Drop len bytes from the front of the array, in place: whole elements are
 * skipped by advancing the array pointer and count, a partial one is shortened. Returns bytes
 * dropped (less than len only if the array is shorter).
 */
size_t iov_discard_front(struct iovec **iov, unsigned *cnt, size_t len);

/* Drop len bytes from the back of the array, in place. Returns bytes dropped. */
size_t iov_discard_back(struct iovec *iov, unsigned *cnt, size_t len);

/*
 * Point dst[] at the byte range [off, off+len) of src[] without copying data.
 * Returns the number of dst entries used, or -ENOBUFS if dst_max is too small,
 * -EINVAL if the range runs past the end of src.
 */
int iov_slice(const struct iovec *src, unsigned cnt, size_t off, size_t len, struct iovec *dst,
	      unsigned dst_max);

#endif
