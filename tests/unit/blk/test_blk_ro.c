/* SPDX-License-Identifier: MIT */
/* A read-only device: RO offered, writes fail with IOERR and change nothing (§5.2.6.2). */
#include "blk_test.h"

int main(void)
{
	struct be *be = t_open("memory:64K");
	struct blk_dev d;
	struct blk_dev_opts o = {.ro = true, .num_queues = 1, .queue_size = 64};
	struct blk_queue *q = t_setup(&d, be, &o);
	static uint8_t w[512], r[512];
	struct t_req t;

	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)));
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES)));
	memset(w, 0xab, sizeof(w));
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, w, sizeof(w), NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t.used, 1);
	memset(r, 0xee, sizeof(r));
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, r, sizeof(r)), VIRTIO_BLK_S_OK);
	for (int i = 0; i < 512; i++)
		CHECK_EQ(r[i], 0);
	/* Flush is harmless on a read-only device. */
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_OK);
	/*
	 * Discard, write zeroes and secure erase are not offered, and would
	 * modify the medium: IOERR like a write (§5.2.6.2), nothing changes.
	 */
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_SECURE_ERASE)));
	memset(w, 0, 16);
	w[8] = 1; /* num_sectors = 1 */
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_DISCARD, 0, w, 16, NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_WRITE_ZEROES, 0, w, 16, NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_SECURE_ERASE, 0, w, 16, NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t.used, 1);
	memset(w, 0xab, sizeof(w));

	blk_queue_destroy(q);
	be_close(be);

	/* A backend opened read-only makes the device read-only too. */
	struct be_opts bo = {.ro = true};
	CHECK_EQ(be_open("memory:64K", &bo, &be), 0);
	q = t_setup(&d, be, NULL);
	CHECK(d.ro);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, w, sizeof(w), NULL, 0), VIRTIO_BLK_S_IOERR);
	blk_queue_destroy(q);
	be_close(be);
	return 0;
}
