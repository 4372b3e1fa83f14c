/* SPDX-License-Identifier: MIT */
/*
 * File backend through the engine: writes land in the file at sector * 512,
 * reads return them, flush succeeds, many requests in flight at once.
 */
#include "be_test.h"

int main(void)
{
	struct be_opts bo = {.size = 1 << 20};
	static uint8_t w[32][4096], r[4096], f[4096];
	static struct t_req reqs[32];
	struct blk_dev d;
	struct blk_queue *q;
	struct be *be;
	struct t_req t;
	char path[256];
	int fd;

	t_tmpfile(NULL, path, sizeof(path));
	CHECK_EQ(be_open(path, &bo, &be), 0);
	q = t_setup(&d, be, NULL);
	CHECK(blk_queue_fd(q) >= 0);
	CHECK_EQ(d.capacity, 2048);

	t_fill(w[0], sizeof(w[0]), 11);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 10, w[0], 4096, NULL, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, 1);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 10, NULL, 0, r, 4096), VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, 4097);
	CHECK(memcmp(r, w[0], 4096) == 0);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_OK);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, f, 4096, 10 * 512), 4096);
	CHECK(memcmp(f, w[0], 4096) == 0);

	/* 32 writes in flight together, then checked through the file. */
	for (unsigned i = 0; i < 32; i++) {
		struct t_req *x = &reqs[i];

		t_fill(w[i], 4096, 100 + i);
		t_hdr(x, VIRTIO_BLK_T_OUT, 64 + i * 8);
		x->iov[0] = (struct iovec){&x->hdr, 16};
		x->iov[1] = (struct iovec){w[i], 4096};
		x->iov[2] = (struct iovec){&x->status, 1};
		x->req.iov = x->iov;
		x->req.out_num = 2;
		x->req.in_num = 1;
		CHECK(blk_req_submit(q, &x->req));
	}
	t_run(q);
	for (unsigned i = 0; i < 32; i++) {
		CHECK_EQ(reqs[i].status, VIRTIO_BLK_S_OK);
		CHECK_EQ(pread(fd, f, 4096, (64 + i * 8) * 512), 4096);
		CHECK(memcmp(f, w[i], 4096) == 0);
	}
	close(fd);
	blk_queue_destroy(q);
	be_close(be);
	unlink(path);
	return 0;
}
