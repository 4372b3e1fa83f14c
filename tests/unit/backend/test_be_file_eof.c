/* SPDX-License-Identifier: MIT */
/*
 * A read past the end of a regular file that is still inside the exported
 * size (the file shrank under us) returns the data, then zeroes.
 */
#include "be_test.h"

int main(void)
{
	struct be_opts bo = {.size = 64 << 10};
	static uint8_t w[1000], r[8192];
	struct blk_dev d;
	struct blk_queue *q;
	struct be *be;
	struct t_req t;
	char path[256];
	int fd;

	t_tmpfile(NULL, path, sizeof(path));
	CHECK_EQ(be_open(path, &bo, &be), 0);
	q = t_setup(&d, be, NULL);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	t_fill(w, sizeof(w), 9);
	CHECK_EQ(pwrite(fd, w, sizeof(w), 0), sizeof(w));
	CHECK_EQ(ftruncate(fd, sizeof(w)), 0);
	close(fd);

	memset(r, 0xee, sizeof(r));
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, r, sizeof(r)), VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, sizeof(r) + 1);
	CHECK(memcmp(r, w, sizeof(w)) == 0);
	for (size_t i = sizeof(w); i < sizeof(r); i++)
		CHECK_EQ(r[i], 0);
	/* Entirely past the end. */
	memset(r, 0xee, sizeof(r));
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 64, NULL, 0, r, 4096), VIRTIO_BLK_S_OK);
	for (size_t i = 0; i < 4096; i++)
		CHECK_EQ(r[i], 0);

	blk_queue_destroy(q);
	be_close(be);
	unlink(path);
	return 0;
}
