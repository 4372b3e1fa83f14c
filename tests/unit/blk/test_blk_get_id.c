/* SPDX-License-Identifier: MIT */
/*
 * GET_ID (§5.2.6): 20 bytes, NUL-padded when shorter, no terminator when 20
 * long; used.len 21; a buffer under 20 bytes is IOERR.
 */
#include "blk_test.h"

static void get_id(const char *serial, const char *want, size_t want_len)
{
	struct be *be = t_open("null:1M");
	struct blk_dev d;
	struct blk_dev_opts o = {.serial = serial, .num_queues = 1, .queue_size = 128};
	struct blk_queue *q = t_setup(&d, be, &o);
	uint8_t id[21];
	struct t_req t;

	memset(id, 0xee, sizeof(id));
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 20), VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, 21);
	CHECK(memcmp(id, want, want_len) == 0);
	for (size_t i = want_len; i < 20; i++)
		CHECK_EQ(id[i], 0);
	CHECK_EQ(id[20], 0xee); /* nothing beyond the 20 bytes */

	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 19), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t.used, 1);
	blk_queue_destroy(q);
	be_close(be);
}

int main(void)
{
	get_id("ABCDEFGHIJKLMNOPQRST", "ABCDEFGHIJKLMNOPQRST", 20);	  /* exactly 20: no NUL */
	get_id("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ABCDEFGHIJKLMNOPQRST", 20); /* truncated */
	get_id("vblk0", "vblk0", 5);
	get_id(NULL, "", 0);
	return 0;
}
