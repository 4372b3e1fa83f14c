/* SPDX-License-Identifier: MIT */
/*
 * A request of more iovecs than one readv takes (IOV_MAX 1024) is split and
 * still succeeds, with a deep queue and with a single slot (the backlog path).
 */
#include "be_test.h"

#define NIOV 2500

static struct iovec wiov[NIOV + 2], riov[NIOV + 2];
static uint8_t wbuf[NIOV * 512], rbuf[NIOV * 512 + 1];

static void run(unsigned depth)
{
	struct be_opts bo = {.size = 4 << 20};
	struct blk_dev d;
	struct blk_queue *q;
	struct be *be;
	struct virtio_blk_outhdr hdr = {.type = vblk_cpu_to_le32(VIRTIO_BLK_T_OUT),
					.sector = vblk_cpu_to_le64(3)};
	struct t_req t;
	uint8_t status = 0xff;
	char path[256];

	t_tmpfile(NULL, path, sizeof(path));
	CHECK_EQ(be_open(path, &bo, &be), 0);
	CHECK_EQ(blk_dev_init(&d, be, &(struct blk_dev_opts){.num_queues = 1, .queue_size = 4096}),
		 0);
	CHECK_EQ(blk_queue_create(&d, depth, t_done, NULL, &q), 0);

	/* Write: header, 2500 iovecs of 512 bytes, status. */
	t_fill(wbuf, sizeof(wbuf), depth);
	wiov[0] = (struct iovec){&hdr, 16};
	for (unsigned i = 0; i < NIOV; i++)
		wiov[1 + i] = (struct iovec){wbuf + i * 512, 512};
	wiov[NIOV + 1] = (struct iovec){&status, 1};
	memset(&t, 0, sizeof(t));
	t.req.iov = wiov;
	t.req.out_num = NIOV + 1;
	t.req.in_num = 1;
	CHECK(blk_req_submit(q, &t.req));
	t_run(q);
	CHECK_EQ(t.ndone, 1);
	CHECK_EQ(status, VIRTIO_BLK_S_OK);

	/* Read: the same bytes in 2501 writable iovecs of uneven sizes, status in the last. */
	hdr.type = vblk_cpu_to_le32(VIRTIO_BLK_T_IN);
	riov[0] = (struct iovec){&hdr, 16};
	for (unsigned i = 0; i < NIOV; i++)
		riov[1 + i] = (struct iovec){rbuf + i * 512, 512};
	riov[1].iov_len = 100;
	riov[2].iov_base = rbuf + 100;
	riov[2].iov_len = 924;
	riov[NIOV].iov_len = 513; /* data + status */
	memset(rbuf, 0xee, sizeof(rbuf));
	memset(&t, 0, sizeof(t));
	t.req.iov = riov;
	t.req.out_num = 1;
	t.req.in_num = NIOV;
	CHECK(blk_req_submit(q, &t.req));
	t_run(q);
	CHECK_EQ(t.ndone, 1);
	CHECK_EQ(rbuf[NIOV * 512], VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, NIOV * 512 + 1);
	CHECK(memcmp(rbuf, wbuf, sizeof(wbuf)) == 0);

	blk_queue_destroy(q);
	be_close(be);
	unlink(path);
}

int main(void)
{
	run(64);
	run(1);
	return 0;
}
