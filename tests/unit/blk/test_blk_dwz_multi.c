/* SPDX-License-Identifier: MIT */
/*
 * Multi-segment DISCARD / WRITE_ZEROES / SECURE_ERASE (virtio 1.3 §5.2.6):
 * config limits; several segments run in order, each zeroing its range; and
 * each malformed variant with its status, none of which runs any segment:
 * empty or partial payload, too many segments, a reserved flag in a later
 * segment, unmap on discard / secure erase, a range past capacity, a
 * num_sectors overflow, more than max_*_sectors. GET_LIFETIME is UNSUPP.
 */
#include "tbe.h"

#define MAXS BLK_DWZ_MAX_SEG

static struct virtio_blk_discard_write_zeroes seg[MAXS + 1];

static void set(unsigned i, uint64_t sector, uint32_t n, uint32_t flags)
{
	seg[i].sector = vblk_cpu_to_le64(sector);
	seg[i].num_sectors = vblk_cpu_to_le32(n);
	seg[i].flags = vblk_cpu_to_le32(flags);
}

static uint8_t send(struct blk_queue *q, uint32_t type, size_t bytes)
{
	struct t_req t;
	uint8_t st = t_io(q, &t, type, 0, seg, bytes, NULL, 0);

	CHECK_EQ(t.used, 1);
	return st;
}

int main(void)
{
	static struct tbe tb;
	struct blk_dev d;
	struct blk_queue *q;
	struct virtio_blk_config cfg;
	static uint8_t buf[64];
	struct t_req t;
	unsigned n0;

	tbe_init(&tb, 1 << 20, true); /* 2048 sectors */
	tb.base.info.can_secure_erase = true;
	q = t_setup(&d, &tb.base, NULL);
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_SECURE_ERASE));
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_LIFETIME)));
	blk_dev_get_config(&d, &cfg);
	CHECK_EQ(vblk_le32_to_cpu(cfg.max_discard_seg), MAXS);
	CHECK_EQ(vblk_le32_to_cpu(cfg.max_write_zeroes_seg), MAXS);
	CHECK_EQ(vblk_le32_to_cpu(cfg.max_secure_erase_seg), MAXS);
	CHECK_EQ(vblk_le32_to_cpu(cfg.max_discard_sectors), BLK_DWZ_MAX_SECTORS);
	CHECK_EQ(vblk_le32_to_cpu(cfg.max_write_zeroes_sectors), BLK_DWZ_MAX_SECTORS);
	CHECK_EQ(vblk_le32_to_cpu(cfg.max_secure_erase_sectors), BLK_DWZ_MAX_SECTORS);
	CHECK_EQ(vblk_le32_to_cpu(cfg.discard_sector_alignment), 1);
	CHECK_EQ(vblk_le32_to_cpu(cfg.secure_erase_sector_alignment), 1);
	CHECK_EQ(cfg.write_zeroes_may_unmap, 1);

	/* Three write-zeroes segments (one with unmap, one empty): in order, flags per segment. */
	set(0, 8, 8, 0);
	set(1, 40, 4, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	set(2, 60, 0, 0);
	set(3, 2047, 1, 0);
	CHECK_EQ(send(q, VIRTIO_BLK_T_WRITE_ZEROES, 4 * 16), VIRTIO_BLK_S_OK);
	CHECK_EQ(tb.nrec, 3);
	CHECK(tb.rec[0].op == BE_OP_WRITE_ZEROES && tb.rec[0].offset == 8 * 512 &&
	      tb.rec[0].len == 8 * 512 && !(tb.rec[0].flags & BE_IO_F_UNMAP));
	CHECK(tb.rec[1].offset == 40 * 512 && (tb.rec[1].flags & BE_IO_F_UNMAP));
	CHECK(tb.rec[2].offset == 2047 * 512 && tb.rec[2].len == 512);
	CHECK(tb.rec[0].flags & BE_IO_F_FUA); /* writethrough */

	/* The most segments allowed, for discard and secure erase. */
	for (unsigned i = 0; i < MAXS; i++)
		set(i, i * 16, 16, 0);
	tb.nrec = 0;
	CHECK_EQ(send(q, VIRTIO_BLK_T_DISCARD, MAXS * 16), VIRTIO_BLK_S_OK);
	CHECK_EQ(send(q, VIRTIO_BLK_T_SECURE_ERASE, MAXS * 16), VIRTIO_BLK_S_OK);
	CHECK_EQ(tb.nrec, 2 * MAXS);
	CHECK(tb.rec[MAXS].op == BE_OP_SECURE_ERASE);
	CHECK_EQ(tb.rec[MAXS - 1].offset, (MAXS - 1) * 16 * 512);

	/* Malformed: nothing reaches the backend. */
	n0 = tb.nrec;
	for (uint32_t type = VIRTIO_BLK_T_DISCARD; type <= VIRTIO_BLK_T_SECURE_ERASE; type++) {
		if (type == 12)
			continue;
		for (unsigned i = 0; i <= MAXS; i++)
			set(i, i * 16, 16, 0);
		CHECK_EQ(send(q, type, (MAXS + 1) * 16), VIRTIO_BLK_S_IOERR); /* too many */
		CHECK_EQ(send(q, type, 17), VIRTIO_BLK_S_IOERR);	      /* not whole */
		CHECK_EQ(send(q, type, 40), VIRTIO_BLK_S_IOERR);
		CHECK_EQ(t_io(q, &t, type, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_IOERR); /* empty */
		CHECK_EQ(t_io(q, &t, type, 0, seg, 16, buf, 16),
			 VIRTIO_BLK_S_IOERR); /* writable data */
		set(2, 32, 16, 2);	      /* reserved flag in a later segment */
		CHECK_EQ(send(q, type, 3 * 16), VIRTIO_BLK_S_UNSUPP);
		set(2, 32, 16, 0x80000000u);
		CHECK_EQ(send(q, type, 3 * 16), VIRTIO_BLK_S_UNSUPP);
		set(2, 32, 16, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
		if (type != VIRTIO_BLK_T_WRITE_ZEROES)
			CHECK_EQ(send(q, type, 3 * 16), VIRTIO_BLK_S_UNSUPP);
		set(2, 2040, 9, 0); /* past capacity */
		CHECK_EQ(send(q, type, 3 * 16), VIRTIO_BLK_S_IOERR);
		set(2, 2048, 1, 0);
		CHECK_EQ(send(q, type, 3 * 16), VIRTIO_BLK_S_IOERR);
		set(2, UINT64_MAX - 1, 4, 0); /* sector + num_sectors overflows */
		CHECK_EQ(send(q, type, 3 * 16), VIRTIO_BLK_S_IOERR);
		set(2, UINT64_MAX >> 9, 1, 0); /* sector << 9 would overflow */
		CHECK_EQ(send(q, type, 3 * 16), VIRTIO_BLK_S_IOERR);
		set(2, 0, BLK_DWZ_MAX_SECTORS + 1, 0); /* more than max_*_sectors */
		CHECK_EQ(send(q, type, 3 * 16), VIRTIO_BLK_S_IOERR);
	}
	CHECK_EQ(tb.nrec, n0);

	/* GET_LIFETIME: LIFETIME is not offered and no backend knows a wear level. */
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_GET_LIFETIME, 0, NULL, 0, buf, 8), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t.used, 1);

	/* Without backend support: not offered, UNSUPP. */
	blk_queue_destroy(q);
	tb.base.info.can_secure_erase = false;
	q = t_setup(&d, &tb.base, NULL);
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_SECURE_ERASE)));
	blk_dev_get_config(&d, &cfg);
	CHECK_EQ(vblk_le32_to_cpu(cfg.max_secure_erase_seg), 0);
	set(0, 0, 8, 0);
	CHECK_EQ(send(q, VIRTIO_BLK_T_SECURE_ERASE, 16), VIRTIO_BLK_S_UNSUPP);
	blk_queue_destroy(q);

	/* Real zeroing on the memory backend: only the segments' sectors. */
	{
		struct be *be = t_open("memory:64K");
		static uint8_t w[65536], r[65536];

		q = t_setup(&d, be, NULL);
		memset(w, 0x5a, sizeof(w));
		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, w, sizeof(w), NULL, 0), VIRTIO_BLK_S_OK);
		set(0, 3, 2, 0);
		set(1, 100, 28, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
		CHECK_EQ(send(q, VIRTIO_BLK_T_WRITE_ZEROES, 32), VIRTIO_BLK_S_OK);
		set(0, 50, 1, 0);
		CHECK_EQ(send(q, VIRTIO_BLK_T_SECURE_ERASE, 16), VIRTIO_BLK_S_OK);
		memset(w + 3 * 512, 0, 2 * 512);
		memset(w + 100 * 512, 0, 28 * 512);
		memset(w + 50 * 512, 0, 512);
		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, r, sizeof(r)), VIRTIO_BLK_S_OK);
		CHECK(memcmp(r, w, sizeof(r)) == 0);
		blk_queue_destroy(q);
		be_close(be);
	}
	return 0;
}
