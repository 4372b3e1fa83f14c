/* SPDX-License-Identifier: MIT */
/*
 * Config space and features: capacity, seg_max, blk_size, num_queues and the
 * offered bits; set_config accepts only the writeback byte, values 0/1.
 */
#include "blk_test.h"

int main(void)
{
	struct be *be = t_open("memory:1000K"); /* 1024000 bytes = 2000 sectors */
	struct blk_dev d;
	struct blk_dev_opts o = {.num_queues = 1, .queue_size = 256};
	struct virtio_blk_config cfg;
	uint8_t v;
	uint8_t two[2] = {0, 0};

	CHECK_EQ(blk_dev_init(&d, be, &o), 0);
	blk_dev_set_features(&d, d.features);
	blk_dev_get_config(&d, &cfg);
	CHECK_EQ(vblk_le64_to_cpu(cfg.capacity), 2000);
	CHECK_EQ(vblk_le32_to_cpu(cfg.seg_max), 254);
	CHECK_EQ(vblk_le32_to_cpu(cfg.blk_size), 512);
	CHECK_EQ(vblk_le16_to_cpu(cfg.num_queues), 1);
	CHECK_EQ(cfg.writeback, 0);
	CHECK_EQ(cfg.unused0, 0);
	CHECK(d.features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX));
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE));
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE));
	CHECK(d.features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	CHECK(d.features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_MQ)));
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_RO)));
	CHECK(!(d.features & VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX)));
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	CHECK_EQ(vblk_le32_to_cpu(cfg.max_discard_seg), BLK_DWZ_MAX_SEG);

	/* The writeback byte: 0 and 1 only. */
	v = 1;
	CHECK_EQ(blk_dev_set_config(&d, 32, &v, 1), 0);
	blk_dev_get_config(&d, &cfg);
	CHECK_EQ(cfg.writeback, 1);
	v = 2;
	CHECK_EQ(blk_dev_set_config(&d, 32, &v, 1), -EINVAL);
	/* Everything else is read-only; nothing changes. */
	v = 0;
	CHECK_EQ(blk_dev_set_config(&d, 0, &v, 1), -EINVAL);
	CHECK_EQ(blk_dev_set_config(&d, 31, two, 2), -EINVAL);
	CHECK_EQ(blk_dev_set_config(&d, 32, two, 2), -EINVAL);
	CHECK_EQ(blk_dev_set_config(&d, 33, &v, 1), -EINVAL);
	CHECK_EQ(blk_dev_set_config(&d, 32, &v, 0), -EINVAL);
	blk_dev_get_config(&d, &cfg);
	CHECK_EQ(cfg.writeback, 1);
	CHECK_EQ(vblk_le64_to_cpu(cfg.capacity), 2000);

	/* MQ with more than one queue; explicit seg_max; bad options. */
	o.num_queues = 4;
	o.seg_max = 126;
	CHECK_EQ(blk_dev_init(&d, be, &o), 0);
	blk_dev_get_config(&d, &cfg);
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	CHECK_EQ(vblk_le16_to_cpu(cfg.num_queues), 4);
	CHECK_EQ(vblk_le32_to_cpu(cfg.seg_max), 126);
	o.num_queues = 0;
	CHECK_EQ(blk_dev_init(&d, be, &o), -EINVAL);
	o.num_queues = 1;
	o.seg_max = 0;
	o.queue_size = 2;
	CHECK_EQ(blk_dev_init(&d, be, &o), -EINVAL);

	be_close(be);
	return 0;
}
