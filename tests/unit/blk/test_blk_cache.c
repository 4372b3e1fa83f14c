/* SPDX-License-Identifier: MIT */
/*
 * Cache mode: writethrough (the default) sends every write with FUA,
 * writeback does not; the guest switches through the writeback config byte;
 * without FLUSH negotiated the device is writethrough (§5.2.5.2).
 */
#include "internal/iov.h"
#include "tbe.h"

static struct tbe tb;

static unsigned write_flags(struct blk_queue *q)
{
	static uint8_t w[512];
	struct t_req t;

	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, w, sizeof(w), NULL, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(tb.rec[tb.nrec - 1].op, BE_OP_WRITE);
	return tb.rec[tb.nrec - 1].flags;
}

int main(void)
{
	struct blk_dev d;
	struct blk_dev_opts o = {.num_queues = 1, .queue_size = 128};
	struct virtio_blk_config cfg;
	struct blk_queue *q;
	uint8_t one = 1, zero = 0;

	tbe_init(&tb, 1 << 20, true);
	q = t_setup(&d, &tb.base, &o);
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE));
	blk_dev_get_config(&d, &cfg);
	CHECK_EQ(cfg.writeback, 0);
	CHECK(write_flags(q) & BE_IO_F_FUA);

	/* The guest turns the cache on, then off again: per request. */
	CHECK_EQ(blk_dev_set_config(&d, 32, &one, 1), 0);
	blk_dev_get_config(&d, &cfg);
	CHECK_EQ(cfg.writeback, 1);
	CHECK(!(write_flags(q) & BE_IO_F_FUA));
	CHECK_EQ(blk_dev_set_config(&d, 32, &zero, 1), 0);
	CHECK(write_flags(q) & BE_IO_F_FUA);

	/* Write zeroes follows the same rule. */
	{
		struct virtio_blk_discard_write_zeroes seg = {.sector = 0, .num_sectors = 8};
		struct t_req t;

		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_WRITE_ZEROES, 0, &seg, sizeof(seg), NULL, 0),
			 VIRTIO_BLK_S_OK);
		CHECK(tb.rec[tb.nrec - 1].op == BE_OP_WRITE_ZEROES);
		CHECK(tb.rec[tb.nrec - 1].flags & BE_IO_F_FUA);
	}

	/* A driver without FLUSH: writethrough, and it cannot switch to writeback. */
	blk_dev_set_features(&d, d.features & ~VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	CHECK(write_flags(q) & BE_IO_F_FUA);
	CHECK_EQ(blk_dev_set_config(&d, 32, &one, 1), -EINVAL);
	CHECK(write_flags(q) & BE_IO_F_FUA);
	blk_queue_destroy(q);

	/* Configured writeback: no FUA; reset to it on each negotiation with FLUSH. */
	o.writeback = true;
	q = t_setup(&d, &tb.base, &o);
	blk_dev_get_config(&d, &cfg);
	CHECK_EQ(cfg.writeback, 1);
	CHECK(!(write_flags(q) & BE_IO_F_FUA));
	CHECK_EQ(blk_dev_set_config(&d, 32, &zero, 1), 0);
	CHECK(write_flags(q) & BE_IO_F_FUA);
	blk_dev_set_features(&d, d.features); /* a new driver after reset */
	CHECK(!(write_flags(q) & BE_IO_F_FUA));
	blk_dev_set_features(&d, d.features & ~VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	CHECK(write_flags(q) & BE_IO_F_FUA);
	blk_queue_destroy(q);

	/* A backend that cannot flush: no FLUSH, no CONFIG_WCE, always writethrough. */
	tbe_init(&tb, 1 << 20, false);
	q = t_setup(&d, &tb.base, &o);
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)));
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE)));
	CHECK(write_flags(q) & BE_IO_F_FUA);
	blk_queue_destroy(q);
	return 0;
}
