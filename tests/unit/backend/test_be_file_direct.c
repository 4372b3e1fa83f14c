/* SPDX-License-Identifier: MIT */
/*
 * O_DIRECT: alignment probed (512 or 4096) and exported as blk_size; aligned
 * round trip through the engine. Skipped where the filesystem refuses O_DIRECT.
 */
#include "be_test.h"

int main(void)
{
	struct be_opts bo = {.size = 1 << 20, .direct = true};
	struct blk_dev d;
	struct blk_queue *q;
	struct be *be;
	struct t_req t;
	char path[256];
	uint8_t *w, *r;
	int ret;

	t_tmpfile("/var/tmp", path, sizeof(path));
	ret = be_open(path, &bo, &be);
	if (ret == -EINVAL || ret == -EOPNOTSUPP) {
		unlink(path);
		SKIP("O_DIRECT refused on /var/tmp");
	}
	CHECK_EQ(ret, 0);
	CHECK(be->info.align == 512 || be->info.align == 4096);
	q = t_setup(&d, be, NULL);
	CHECK_EQ(d.blk_size, be->info.align);
	CHECK(posix_memalign((void **)&w, 4096, 8192) == 0);
	CHECK(posix_memalign((void **)&r, 4096, 8192) == 0);
	t_fill(w, 8192, 5);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 16, w, 8192, NULL, 0), VIRTIO_BLK_S_OK);
	memset(r, 0, 8192);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 16, NULL, 0, r, 8192), VIRTIO_BLK_S_OK);
	CHECK(memcmp(w, r, 8192) == 0);
	CHECK_EQ(t.used, 8193);
	free(w);
	free(r);
	blk_queue_destroy(q);
	be_close(be);
	unlink(path);
	return 0;
}
