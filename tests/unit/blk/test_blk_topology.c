/* SPDX-License-Identifier: MIT */
/*
 * sectorsize=L[/P] (§5.2.4): blk_size and TOPOLOGY for 512/512, 512/4096 and
 * 4096/4096, the defaults, no GEOMETRY, and every invalid combination
 * refused with -EINVAL.
 */
#include "tbe.h"

static struct tbe tb;

static int init(struct blk_dev *d, uint32_t l, uint32_t p)
{
	struct blk_dev_opts o = {
	    .num_queues = 1, .queue_size = 128, .logical_block_size = l, .physical_block_size = p};

	return blk_dev_init(d, &tb.base, &o);
}

static void expect(uint32_t l, uint32_t p, uint32_t blk, unsigned exp, unsigned min_io)
{
	struct blk_dev d;
	struct virtio_blk_config cfg;

	CHECK_EQ(init(&d, l, p), 0);
	blk_dev_get_config(&d, &cfg);
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE));
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_GEOMETRY)));
	CHECK_EQ(vblk_le32_to_cpu(cfg.blk_size), blk);
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY));
	CHECK_EQ(cfg.topology.physical_block_exp, exp);
	CHECK_EQ(cfg.topology.alignment_offset, 0);
	CHECK_EQ(vblk_le16_to_cpu(cfg.topology.min_io_size), min_io);
	CHECK_EQ(vblk_le32_to_cpu(cfg.topology.opt_io_size), 0);
	/* Capacity is always in 512-byte sectors. */
	CHECK_EQ(vblk_le64_to_cpu(cfg.capacity), 2048);
	CHECK(!d.pad && !d.rmw);
	blk_dev_fini(&d);
}

int main(void)
{
	struct blk_dev d;
	struct virtio_blk_config cfg;

	tbe_init(&tb, 1 << 20, true);
	expect(512, 512, 512, 0, 1);
	expect(512, 4096, 512, 3, 8);
	expect(4096, 4096, 4096, 0, 1);
	/* An explicit P offers TOPOLOGY even when P == L (above); without one and no hint, none. */
	CHECK_EQ(init(&d, 4096, 0), 0);
	CHECK_EQ(d.blk_size, 4096);
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY)));

	/* Defaults: 512 logical; no hint, no TOPOLOGY. */
	CHECK_EQ(init(&d, 0, 0), 0);
	CHECK_EQ(d.blk_size, 512);
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY)));
	/* A backend physical block hint becomes the physical block, opt_io its blocks. */
	tb.base.info.phys_block = 4096;
	tb.base.info.opt_io = 65536;
	CHECK_EQ(init(&d, 0, 0), 0);
	blk_dev_get_config(&d, &cfg);
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY));
	CHECK_EQ(cfg.topology.physical_block_exp, 3);
	CHECK_EQ(vblk_le16_to_cpu(cfg.topology.min_io_size), 8);
	CHECK_EQ(vblk_le32_to_cpu(cfg.topology.opt_io_size), 128);
	tb.base.info.phys_block = 0;
	tb.base.info.opt_io = 0;

	/* Invalid: sizes other than 512/4096, P < L. */
	CHECK_EQ(init(&d, 1024, 0), -EINVAL);
	CHECK_EQ(init(&d, 256, 0), -EINVAL);
	CHECK_EQ(init(&d, 8192, 0), -EINVAL);
	CHECK_EQ(init(&d, 4096, 512), -EINVAL);
	CHECK_EQ(init(&d, 512, 2048), -EINVAL);
	CHECK_EQ(init(&d, 512, 8192), -EINVAL);
	CHECK_EQ(init(&d, 512, 1), -EINVAL);
	CHECK_EQ(init(&d, 0, 4096), 0);
	CHECK_EQ(init(&d, 0, 256), -EINVAL);
	return 0;
}
