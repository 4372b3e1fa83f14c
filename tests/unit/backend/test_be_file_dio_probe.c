/* SPDX-License-Identifier: MIT */
/*
 * The O_DIRECT alignment probe is right on an empty (sparse) file, where a
 * read probe would "succeed" at 512 because reads of holes or at EOF skip the
 * alignment check: an O_DIRECT write of exactly `align` bytes at offset
 * `align` from an `align`-aligned buffer must work, and the file backend
 * offers no secure erase. Skipped where O_DIRECT is refused.
 */
#include "be_test.h"

int main(void)
{
	struct be_opts bo = {.size = 1 << 20, .direct = true};
	struct be *be;
	char path[256];
	void *buf;
	uint32_t a;
	int ret, fd;

	t_tmpfile("/var/tmp", path, sizeof(path));
	ret = be_open(path, &bo, &be);
	if (ret == -EINVAL || ret == -EOPNOTSUPP) {
		unlink(path);
		SKIP("O_DIRECT refused on /var/tmp");
	}
	CHECK_EQ(ret, 0);
	a = be->info.align;
	CHECK(a == 512 || a == 4096);
	CHECK(be->info.mem_align >= 1 && be->info.mem_align <= a);
	CHECK(!be->info.can_secure_erase);
	CHECK(posix_memalign(&buf, 4096, 4096) == 0);
	memset(buf, 0x42, 4096);
	fd = open(path, O_RDWR | O_DIRECT);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, buf, a, a), (ssize_t)a);
	CHECK_EQ(pread(fd, buf, a, a), (ssize_t)a);
	close(fd);
	free(buf);
	be_close(be);
	unlink(path);
	return 0;
}
