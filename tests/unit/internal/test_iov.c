/* SPDX-License-Identifier: MIT */
/* iovec helpers: copies, discards and slices stay inside the array. */
#include "internal/iov.h"
#include "test.h"

#include <errno.h>

int main(void)
{
	char a[5] = "abcde", b[3] = "fgh", c[4] = "ijkl";
	struct iovec iov[3] = {{a, 5}, {b, 3}, {c, 4}};
	char buf[16] = {0};

	CHECK_EQ(iov_size(iov, 3), 12);
	CHECK_EQ(iov_to_buf(iov, 3, 4, buf, 6), 6);
	CHECK(memcmp(buf, "efghij", 6) == 0);
	/* Reading past the end copies only what exists. */
	CHECK_EQ(iov_to_buf(iov, 3, 10, buf, 8), 2);
	CHECK(memcmp(buf, "kl", 2) == 0);
	CHECK_EQ(iov_from_buf(iov, 3, 7, "XYZ", 3), 3);
	CHECK(b[2] == 'X' && c[0] == 'Y' && c[1] == 'Z');
	CHECK_EQ(iov_memset(iov, 3, 11, '!', 5), 1);
	CHECK(c[3] == '!');

	struct iovec slice[3];
	CHECK_EQ(iov_slice(iov, 3, 3, 7, slice, 3), 3);
	CHECK(slice[0].iov_base == a + 3 && slice[0].iov_len == 2);
	CHECK(slice[2].iov_base == c && slice[2].iov_len == 2);
	CHECK_EQ(iov_slice(iov, 3, 3, 7, slice, 2), -ENOBUFS);
	CHECK_EQ(iov_slice(iov, 3, 3, 10, slice, 3), -EINVAL);

	struct iovec w[3] = {{a, 5}, {b, 3}, {c, 4}}, *p = w;
	unsigned n = 3;
	CHECK_EQ(iov_discard_front(&p, &n, 6), 6);
	CHECK(n == 2 && p->iov_base == b + 1 && p->iov_len == 2);
	CHECK_EQ(iov_discard_back(p, &n, 5), 5);
	CHECK(n == 1 && p->iov_len == 1);
	CHECK_EQ(iov_discard_back(p, &n, 5), 1);
	CHECK_EQ(n, 0);
	return 0;
}
