/* SPDX-License-Identifier: MIT */
/*
 * The request is a byte stream (§5.2.6): header split across iovecs, header
 * and data sharing one, data and status sharing one, empty iovecs around the
 * status: all parse the same.
 */
#include "blk_test.h"

int main(void)
{
	struct be *be = t_open("memory:64K");
	struct blk_dev d;
	struct blk_queue *q = t_setup(&d, be, NULL);
	static uint8_t w[1024], r[1024 + 1], buf[16 + 1024];
	struct t_req t;
	uint8_t *h = (uint8_t *)&t.hdr;

	t_fill(w, sizeof(w), 7);

	/* Header in three pieces (5 + 7 + 4), data in two odd pieces. */
	t_hdr(&t, VIRTIO_BLK_T_OUT, 5);
	t.iov[0] = (struct iovec){h, 5};
	t.iov[1] = (struct iovec){h + 5, 7};
	t.iov[2] = (struct iovec){h + 12, 4};
	t.iov[3] = (struct iovec){w, 100};
	t.iov[4] = (struct iovec){w + 100, 924};
	t.iov[5] = (struct iovec){&t.status, 1};
	CHECK(t_submit(q, &t, 5, 1));
	CHECK_EQ(t.status, VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, 1);

	/* Data and status in the same writable iovec. */
	t_hdr(&t, VIRTIO_BLK_T_IN, 5);
	memset(r, 0xee, sizeof(r));
	t.iov[0] = (struct iovec){&t.hdr, 16};
	t.iov[1] = (struct iovec){r, sizeof(r)};
	CHECK(t_submit(q, &t, 1, 1));
	CHECK_EQ(r[1024], VIRTIO_BLK_S_OK);
	CHECK_EQ(t.status, 0xff); /* not ours this time */
	CHECK_EQ(t.used, 1025);
	CHECK(memcmp(r, w, 1024) == 0);

	/* Header and data in one readable iovec; the status after empty iovecs is the last byte. */
	t_hdr(&t, VIRTIO_BLK_T_OUT, 9);
	memcpy(buf, &t.hdr, 16);
	memcpy(buf + 16, w, 1024);
	t.iov[0] = (struct iovec){buf, sizeof(buf)};
	t.iov[1] = (struct iovec){&t.status, 1};
	t.iov[2] = (struct iovec){r, 0};
	CHECK(t_submit(q, &t, 1, 2));
	CHECK_EQ(t.status, VIRTIO_BLK_S_OK);

	/* Status reached as the last byte of a writable part split 600 / 425. */
	t_hdr(&t, VIRTIO_BLK_T_IN, 9);
	memset(r, 0xee, sizeof(r));
	t.iov[0] = (struct iovec){&t.hdr, 16};
	t.iov[1] = (struct iovec){r, 600};
	t.iov[2] = (struct iovec){r + 600, 425};
	CHECK(t_submit(q, &t, 1, 2));
	CHECK_EQ(r[1024], VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, 1025);
	CHECK(memcmp(r, w, 1024) == 0);

	blk_queue_destroy(q);
	be_close(be);
	return 0;
}
