/* SPDX-License-Identifier: MIT */
/*
 * DISCARD and WRITE_ZEROES on the memory backend (§5.2.6): single segments,
 * zeroes read back, flag and framing rules with their statuses.
 */
#include "blk_test.h"

static struct blk_queue *q;

static uint8_t dwz(uint32_t type, uint64_t sector, uint32_t n, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes seg = {
	    .sector = vblk_cpu_to_le64(sector),
	    .num_sectors = vblk_cpu_to_le32(n),
	    .flags = vblk_cpu_to_le32(flags),
	};
	struct t_req t;
	uint8_t st = t_io(q, &t, type, 0, &seg, sizeof(seg), NULL, 0);

	CHECK_EQ(t.used, 1);
	return st;
}

static void check_zero(uint64_t sector, unsigned n, bool want_zero)
{
	static uint8_t r[8 * 512];
	struct t_req t;
	bool zero = true;

	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, sector, NULL, 0, r, n * 512), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < n * 512; i++)
		zero &= r[i] == 0;
	CHECK_EQ(zero, want_zero);
}

int main(void)
{
	struct be *be = t_open("memory:64K");
	struct blk_dev d;
	static uint8_t w[8 * 512], segs[(BLK_DWZ_MAX_SEG + 1) * 16];
	struct t_req t;

	q = t_setup(&d, be, NULL);
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	memset(w, 0x5a, sizeof(w));

	for (uint32_t flags = 0; flags < 2; flags++) {
		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 8, w, sizeof(w), NULL, 0), VIRTIO_BLK_S_OK);
		check_zero(8, 8, false);
		CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, 8, 8, flags), VIRTIO_BLK_S_OK);
		check_zero(8, 8, true);
	}
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 8, w, sizeof(w), NULL, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(dwz(VIRTIO_BLK_T_DISCARD, 8, 8, 0), VIRTIO_BLK_S_OK);

	/* Flags: unknown bits, or unmap on a discard, are UNSUPP. */
	CHECK_EQ(dwz(VIRTIO_BLK_T_DISCARD, 8, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
		 VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, 8, 8, 2), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(dwz(VIRTIO_BLK_T_DISCARD, 8, 8, 0x80000000u), VIRTIO_BLK_S_UNSUPP);
	/* Range. */
	CHECK_EQ(dwz(VIRTIO_BLK_T_DISCARD, 127, 2, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX, 2, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, 127, 1, 0), VIRTIO_BLK_S_OK);
	/* Framing: not a whole segment, more than max_discard_seg, none, writable data. */
	memset(segs, 0, sizeof(segs));
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_DISCARD, 0, segs, 15, NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_DISCARD, 0, segs, sizeof(segs), NULL, 0),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_DISCARD, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 16, w, 512), VIRTIO_BLK_S_IOERR);

	blk_queue_destroy(q);
	be_close(be);
	return 0;
}
