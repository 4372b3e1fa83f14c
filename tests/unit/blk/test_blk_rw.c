/* SPDX-License-Identifier: MIT */
/* Write then read back on the memory backend: data, status and used.len. */
#include "blk_test.h"

int main(void)
{
	struct be *be = t_open("memory:1M");
	struct blk_dev d;
	struct blk_queue *q = t_setup(&d, be, NULL);
	static uint8_t w[4096], r[4096];
	struct t_req t;

	t_fill(w, sizeof(w), 1);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 3, w, sizeof(w), NULL, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, 1); /* only the status byte is written for a write */

	memset(r, 0xee, sizeof(r));
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 3, NULL, 0, r, sizeof(r)), VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, sizeof(r) + 1); /* data + status */
	CHECK(memcmp(w, r, sizeof(r)) == 0);

	/* Untouched sectors read as zeroes; the last sector is reachable. */
	memset(r, 0xee, 512);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 2047, NULL, 0, r, 512), VIRTIO_BLK_S_OK);
	for (int i = 0; i < 512; i++)
		CHECK_EQ(r[i], 0);
	CHECK_EQ(blk_queue_inflight(q), 0);

	blk_queue_destroy(q);
	be_close(be);
	return 0;
}
