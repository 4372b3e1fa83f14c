/* SPDX-License-Identifier: MIT */
/*
 * With a 4096-byte logical block, requests not aligned to it fail with IOERR
 * and reach no backend (like QEMU's virtio_blk_sect_range_ok): reads and
 * writes with an unaligned sector or length, discard and write-zeroes
 * segments likewise. Aligned ones go through.
 */
#include "tbe.h"

int main(void)
{
	static struct tbe tb;
	static uint8_t buf[8192];
	struct blk_dev d;
	struct blk_dev_opts o = {.num_queues = 1, .queue_size = 128, .logical_block_size = 4096};
	struct blk_queue *q;
	struct t_req t;
	struct virtio_blk_discard_write_zeroes seg = {0};

	tbe_init(&tb, 1 << 20, true);
	q = t_setup(&d, &tb.base, &o);
	CHECK_EQ(d.blk_size, 4096);

	for (uint32_t type = VIRTIO_BLK_T_IN; type <= VIRTIO_BLK_T_OUT; type++) {
		bool in = type == VIRTIO_BLK_T_IN;
		uint8_t *o_ = in ? NULL : buf, *i_ = in ? buf : NULL;

		CHECK_EQ(t_io(q, &t, type, 8, o_, 4096, i_, 4096), VIRTIO_BLK_S_OK);
		CHECK_EQ(t_io(q, &t, type, 1, o_, 4096, i_, 4096), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(t_io(q, &t, type, 4, o_, 4096, i_, 4096), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(t_io(q, &t, type, 8, o_, 512, i_, 512), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(t_io(q, &t, type, 8, o_, 4608, i_, 4608), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(t.used, 1);
	}
	CHECK_EQ(tb.nrec, 2);

	seg.sector = vblk_cpu_to_le64(8);
	seg.num_sectors = vblk_cpu_to_le32(8);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_DISCARD, 0, &seg, 16, NULL, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_WRITE_ZEROES, 0, &seg, 16, NULL, 0), VIRTIO_BLK_S_OK);
	seg.sector = vblk_cpu_to_le64(9);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_DISCARD, 0, &seg, 16, NULL, 0), VIRTIO_BLK_S_IOERR);
	seg.sector = vblk_cpu_to_le64(8);
	seg.num_sectors = vblk_cpu_to_le32(9);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_WRITE_ZEROES, 0, &seg, 16, NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(tb.nrec, 4);
	CHECK_EQ(tb.rec[2].offset, 4096);
	CHECK_EQ(tb.rec[2].len, 4096);
	blk_queue_destroy(q);
	return 0;
}
