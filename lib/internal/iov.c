/* SPDX-License-Identifier: MIT */
#include "iov.h"

#include <errno.h>
#include <string.h>

size_t iov_size(const struct iovec *iov, unsigned cnt)
{
	size_t total = 0;

	for (unsigned i = 0; i < cnt; i++) {
		if (iov[i].iov_len > SIZE_MAX - total)
			return SIZE_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

/* Shared walker: calls op on each (element pointer, len) piece of [off, off+len). */
static size_t iov_walk(const struct iovec *iov, unsigned cnt, size_t off, size_t len,
		       void (*op)(void *elem, size_t done, size_t n, void *arg), void *arg)
{
	size_t done = 0;

	for (unsigned i = 0; i < cnt && done < len; i++) {
		size_t elen = iov[i].iov_len;

		if (off >= elen) {
			off -= elen;
			continue;
		}
		size_t n = elen - off;
		if (n > len - done)
			n = len - done;
		op((char *)iov[i].iov_base + off, done, n, arg);
		done += n;
		off = 0;
	}
	return done;
}

static void op_to_buf(void *elem, size_t done, size_t n, void *arg)
{
	memcpy((char *)arg + done, elem, n);
}

static void op_from_buf(void *elem, size_t done, size_t n, void *arg)
{
	memcpy(elem, (const char *)arg + done, n);
}

static void op_memset(void *elem, size_t done, size_t n, void *arg)
{
	(void)done;
	memset(elem, *(const int *)arg, n);
}

size_t iov_to_buf(const struct iovec *iov, unsigned cnt, size_t off, void *buf, size_t len)
{
	return iov_walk(iov, cnt, off, len, op_to_buf, buf);
}

size_t iov_from_buf(const struct iovec *iov, unsigned cnt, size_t off, const void *buf, size_t len)
{
	return iov_walk(iov, cnt, off, len, op_from_buf, (void *)buf);
}

size_t iov_memset(const struct iovec *iov, unsigned cnt, size_t off, int c, size_t len)
{
	return iov_walk(iov, cnt, off, len, op_memset, &c);
}

size_t iov_discard_front(struct iovec **iov, unsigned *cnt, size_t len)
{
	size_t done = 0;

	while (*cnt && done < len) {
		struct iovec *cur = *iov;
		size_t n = len - done;

		if (cur->iov_len <= n) {
			done += cur->iov_len;
			(*iov)++;
			(*cnt)--;
		} else {
			cur->iov_base = (char *)cur->iov_base + n;
			cur->iov_len -= n;
			done += n;
		}
	}
	return done;
}

size_t iov_discard_back(struct iovec *iov, unsigned *cnt, size_t len)
{
	size_t done = 0;

	while (*cnt && done < len) {
		struct iovec *cur = &iov[*cnt - 1];
		size_t n = len - done;

		if (cur->iov_len <= n) {
			done += cur->iov_len;
			(*cnt)--;
		} else {
			cur->iov_len -= n;
			done += n;
		}
	}
	return done;
}

int iov_slice(const struct iovec *src, unsigned cnt, size_t off, size_t len, struct iovec *dst,
	      unsigned dst_max)
{
	unsigned used = 0;

	for (unsigned i = 0; i < cnt && len; i++) {
		size_t elen = src[i].iov_len;

		if (off >= elen) {
			off -= elen;
			continue;
		}
		if (used == dst_max)
			return -ENOBUFS;
		size_t n = elen - off < len ? elen - off : len;
		dst[used].iov_base = (char *)src[i].iov_base + off;
		dst[used].iov_len = n;
		used++;
		len -= n;
		off = 0;
	}
	return len ? -EINVAL : (int)used;
}
