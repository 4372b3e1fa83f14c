/* SPDX-License-Identifier: MIT */
/*
 * range=START/SIZE: the guest sees bytes [START, START+SIZE) of the backend
 * as sectors [0, SIZE/512). Writes land at START; nothing outside changes;
 * requests past SIZE fail with IOERR; write zeroes and discard stay inside;
 * bad ranges are refused at init.
 */
#include "blk_test.h"

#define START (64u << 10)
#define SIZE  (128u << 10)

static struct blk_queue *qa, *qb; /* qa: the whole backend, qb: the range */

static uint8_t dwz(uint32_t type, uint64_t sector, uint32_t n)
{
	return t_dwz(qb, type, sector, n, 0);
}

int main(void)
{
	struct be *be = t_open("memory:1M");
	struct blk_dev da, db;
	struct blk_dev_opts o = {.num_queues = 1, .queue_size = 128};
	static uint8_t whole[1 << 20], w[4096], r[4096];
	struct t_req t;

	qa = t_setup(&da, be, NULL);
	t_fill(whole, sizeof(whole), 9);
	CHECK_EQ(t_io(qa, &t, VIRTIO_BLK_T_OUT, 0, whole, sizeof(whole), NULL, 0), VIRTIO_BLK_S_OK);

	o.range_start = START;
	o.range_size = SIZE;
	qb = t_setup(&db, be, &o);
	CHECK_EQ(db.capacity, SIZE / 512);

	/* Writes land at START (first and last sector of the range). */
	t_fill(w, sizeof(w), 3);
	CHECK_EQ(t_io(qb, &t, VIRTIO_BLK_T_OUT, 0, w, 4096, NULL, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_io(qa, &t, VIRTIO_BLK_T_IN, START / 512, NULL, 0, r, 4096), VIRTIO_BLK_S_OK);
	CHECK(memcmp(r, w, 4096) == 0);
	memcpy(whole + START, w, 4096);
	CHECK_EQ(t_io(qb, &t, VIRTIO_BLK_T_OUT, SIZE / 512 - 1, w, 512, NULL, 0), VIRTIO_BLK_S_OK);
	memcpy(whole + START + SIZE - 512, w, 512);
	CHECK_EQ(t_io(qb, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, r, 4096), VIRTIO_BLK_S_OK);
	CHECK(memcmp(r, w, 4096) == 0);

	/* Past SIZE: IOERR, for reads, writes, discard and write zeroes. */
	CHECK_EQ(t_io(qb, &t, VIRTIO_BLK_T_OUT, SIZE / 512, w, 512, NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(qb, &t, VIRTIO_BLK_T_OUT, SIZE / 512 - 1, w, 1024, NULL, 0),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(qb, &t, VIRTIO_BLK_T_IN, SIZE / 512, NULL, 0, r, 512), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(qb, &t, VIRTIO_BLK_T_OUT, UINT64_MAX, w, 512, NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, SIZE / 512 - 4, 8), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dwz(VIRTIO_BLK_T_DISCARD, SIZE / 512, 1), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dwz(VIRTIO_BLK_T_DISCARD, UINT64_MAX - 1, 4), VIRTIO_BLK_S_IOERR);

	/* Write zeroes and discard inside the range zero only there. */
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, 8, 8), VIRTIO_BLK_S_OK);
	memset(whole + START + 8 * 512, 0, 8 * 512);
	CHECK_EQ(dwz(VIRTIO_BLK_T_DISCARD, SIZE / 512 - 16, 16), VIRTIO_BLK_S_OK);
	memset(whole + START + SIZE - 16 * 512, 0, 16 * 512); /* the memory backend zeroes */

	/* The whole backend is exactly as expected: nothing outside the range moved. */
	{
		static uint8_t now[1 << 20];

		CHECK_EQ(t_io(qa, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, now, sizeof(now)),
			 VIRTIO_BLK_S_OK);
		CHECK(memcmp(now, whole, sizeof(now)) == 0);
	}
	blk_queue_destroy(qb);

	/* Size 0: to the end. */
	o.range_size = 0;
	CHECK_EQ(blk_dev_init(&db, be, &o), 0);
	CHECK_EQ(db.capacity, ((1u << 20) - START) / 512);

	/* Bad ranges. */
	o.range_start = 100;
	CHECK_EQ(blk_dev_init(&db, be, &o), -EINVAL);
	o.range_start = START;
	o.range_size = 1000;
	CHECK_EQ(blk_dev_init(&db, be, &o), -EINVAL);
	o.range_size = (1u << 20) - START + 512;
	CHECK_EQ(blk_dev_init(&db, be, &o), -EINVAL);
	o.range_start = 1u << 20;
	o.range_size = 0;
	CHECK_EQ(blk_dev_init(&db, be, &o), -EINVAL);
	o.range_start = (2u << 20);
	CHECK_EQ(blk_dev_init(&db, be, &o), -EINVAL);
	o.range_start = UINT64_MAX - 511;
	o.range_size = 1024;
	CHECK_EQ(blk_dev_init(&db, be, &o), -EINVAL);
	o.range_start = 512; /* not a multiple of the logical block */
	o.range_size = 4096;
	o.logical_block_size = 4096;
	CHECK_EQ(blk_dev_init(&db, be, &o), -EINVAL);
	o.range_start = 4096;
	CHECK_EQ(blk_dev_init(&db, be, &o), 0);
	CHECK_EQ(db.capacity, 8);

	blk_queue_destroy(qa);
	be_close(be);
	return 0;
}
