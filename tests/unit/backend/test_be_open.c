/* SPDX-License-Identifier: MIT */
/* be_open picks the backend from the spec; bad specs fail with -errno. */
#include <sys/stat.h>

#include "be_test.h"

int main(void)
{
	struct be *be = NULL;
	struct be_opts o = {0};
	struct stat st;
	char path[256];

	CHECK_EQ(be_open("null:1M", NULL, &be), 0);
	CHECK(be->ops == &be_null_ops);
	CHECK_EQ(be->info.size, 1 << 20);
	be_close(be);
	CHECK_EQ(be_open("memory:8K", NULL, &be), 0);
	CHECK(be->ops == &be_mem_ops);
	CHECK_EQ(be->info.size, 8192);
	CHECK(be->info.can_flush && be->info.can_discard && be->info.can_write_zeroes);
	be_close(be);
	CHECK(be_open("memory:0", NULL, &be) < 0);
	CHECK(be_open("null:abc", NULL, &be) < 0);
	CHECK(be_open("", NULL, &be) < 0);
	CHECK(be_open("/nonexistent/vblk/disk.img", NULL, &be) == -ENOENT);
	CHECK(be_open("/dev/null", NULL, &be) == -EINVAL); /* a character device */

	/* A path: the file backend; size creates a sparse file, never shrinks. */
	t_tmpfile(NULL, path, sizeof(path));
	unlink(path);
	o.size = 3 << 20;
	CHECK_EQ(be_open(path, &o, &be), 0);
	CHECK(be->ops == &be_file_ops);
	CHECK_EQ(be->info.size, 3 << 20);
	CHECK(be->info.can_flush);
	CHECK(!be->info.ro);
	be_close(be);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_size, 3 << 20);
	CHECK(st.st_blocks < 64); /* sparse */
	o.size = 1 << 20;
	CHECK_EQ(be_open(path, &o, &be), 0);
	CHECK_EQ(be->info.size, 3 << 20);
	be_close(be);
	/* Read-only. */
	o = (struct be_opts){.ro = true};
	CHECK_EQ(be_open(path, &o, &be), 0);
	CHECK(be->info.ro && !be->info.can_discard && !be->info.can_write_zeroes);
	be_close(be);
	o.size = 8 << 20; /* cannot extend a read-only file */
	CHECK(be_open(path, &o, &be) < 0);
	unlink(path);
	return 0;
}
