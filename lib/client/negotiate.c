/* SPDX-License-Identifier: MIT */
/*
 * libvblk negotiation: what vblk_open() agrees with the device before any
 * ring exists - the virtio features and queue count every transport chooses
 * the same way (client_choose_features), the config space turned into
 * struct vblk_info, and the vhost-user steps around them (client_negotiate).
 */
#include <errno.h>
#include <string.h>

#include <vblk/spec/vhost_user.h>

#include "client.h"

/* Features we can drive, on any transport. */
#define CLIENT_WANTED_FEATURES                                                                     \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |                     \
	 VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) |                      \
	 VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_GEOMETRY) |                    \
	 VIRTIO_BIT(VIRTIO_BLK_F_RO) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |                         \
	 VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY) |                      \
	 VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE) | VIRTIO_BIT(VIRTIO_BLK_F_MQ) |                       \
	 VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES))

#define CLIENT_WANTED_PROTOCOL                                                                     \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) |         \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK))

void client_parse_config(struct vblk *dev, const struct virtio_blk_config *cfg, uint64_t f)
{
	struct vblk_info *in = &dev->info;
	uint32_t lbs = VIRTIO_BLK_SECTOR_SIZE;
	uint64_t max_seg_bytes;

	in->capacity = vblk_le64_to_cpu(cfg->capacity) << VIRTIO_BLK_SECTOR_SHIFT;
	if (vblk_le64_to_cpu(cfg->capacity) > (UINT64_MAX >> VIRTIO_BLK_SECTOR_SHIFT))
		in->capacity = UINT64_MAX & ~(uint64_t)(VIRTIO_BLK_SECTOR_SIZE - 1);
	if (f & VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE)) {
		uint32_t b = vblk_le32_to_cpu(cfg->blk_size);
		/* Only sane powers of two: anything else falls back to 512. */
		if (b >= 512 && b <= (1u << 16) && !(b & (b - 1)))
			lbs = b;
	}
	in->logical_block_size = lbs;
	in->physical_block_size = lbs;
	if ((f & VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY)) && cfg->topology.physical_block_exp < 8)
		in->physical_block_size = lbs << cfg->topology.physical_block_exp;
	if (f & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX))
		in->seg_max = vblk_le32_to_cpu(cfg->seg_max);
	if (f & VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX))
		in->size_max = vblk_le32_to_cpu(cfg->size_max);
	if (f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD))
		in->max_discard_sectors = vblk_le32_to_cpu(cfg->max_discard_sectors);
	if (f & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES))
		in->max_write_zeroes_sectors = vblk_le32_to_cpu(cfg->max_write_zeroes_sectors);
	in->read_only = f & VIRTIO_BIT(VIRTIO_BLK_F_RO);
	in->writeback = (f & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)) &&
			(!(f & VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE)) || cfg->writeback);
	/* Largest request: segments x segment size, capped, whole blocks. */
	max_seg_bytes = in->size_max ? in->size_max : CLIENT_SEG_CAP;
	{
		uint64_t segs = CLIENT_MAX_SEGS;
		if (in->seg_max && in->seg_max < segs)
			segs = in->seg_max;
		uint64_t mt = segs * max_seg_bytes;
		if (mt > CLIENT_MAX_TRANSFER)
			mt = CLIENT_MAX_TRANSFER;
		mt &= ~(uint64_t)(lbs - 1);
		if (mt < lbs)
			mt = lbs;
		in->max_transfer = (size_t)mt;
	}
}

int client_choose_features(struct vblk *dev, const struct vblk_options *o, uint64_t offered,
			   const struct virtio_blk_config *cfg, unsigned qmax, uint64_t *acked)
{
	*acked = offered & CLIENT_WANTED_FEATURES & ~o->disable_features;
	*acked |= VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if (o->flags & VBLK_OPEN_PACKED_RING) {
		if (!(offered & VIRTIO_BIT(VIRTIO_F_RING_PACKED))) {
			client_set_error(o,
					 "%s does not offer VIRTIO_F_RING_PACKED "
					 "(packed ring requested)",
					 dev->tr->name);
			return -ENOTSUP;
		}
		*acked |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	}
	if (*acked & VIRTIO_BIT(VIRTIO_BLK_F_MQ)) {
		uint16_t n = vblk_le16_to_cpu(cfg->num_queues);
		dev->info.max_queues = n ? n : 1;
		if (qmax && qmax < dev->info.max_queues)
			dev->info.max_queues = qmax;
	} else {
		dev->info.max_queues = 1;
	}
	if (o->num_queues > dev->info.max_queues && !(o->flags & VBLK_OPEN_QUEUES_UP_TO)) {
		client_set_error(o, "%s offers %u queue(s), %u requested", dev->tr->name,
				 dev->info.max_queues, o->num_queues);
		return -EINVAL;
	}
	return 0;
}

int client_negotiate(struct vblk *dev, const struct vblk_options *o, uint64_t *acked)
{
	struct vu_client *c = &dev->vu;
	struct virtio_blk_config cfg;
	uint64_t offered, proto = 0, qnum = 1;
	int ret;

	ret = vu_client_get_features(c, &offered);
	if (ret) {
		client_set_vu_error(dev, "vhost-user negotiation", ret);
		return ret;
	}
	dev->info.device_features = offered;
	if (!(offered & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		client_set_error(o, "back end does not offer VIRTIO_F_VERSION_1");
		return -ENOTSUP;
	}
	if (!(offered & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))) {
		client_set_error(o, "back end does not offer VHOST_USER_F_PROTOCOL_FEATURES "
				    "(needed to read the config space)");
		return -ENOTSUP;
	}
	ret = vu_client_get_protocol_features(c, &proto);
	if (ret) {
		client_set_vu_error(dev, "vhost-user negotiation", ret);
		return ret;
	}
	if (!(proto & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG))) {
		client_set_error(o, "back end does not offer VHOST_USER_PROTOCOL_F_CONFIG");
		return -ENOTSUP;
	}
	ret = vu_client_set_protocol_features(c, proto & CLIENT_WANTED_PROTOCOL);
	if (!ret)
		ret = vu_client_set_owner(c);
	if (!ret && (proto & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ)))
		ret = vu_client_get_queue_num(c, &qnum);
	if (ret) {
		client_set_vu_error(dev, "vhost-user set-up", ret);
		return ret;
	}
	memset(&cfg, 0, sizeof(cfg));
	ret = vu_client_get_config(c, 0, &cfg, CLIENT_CONFIG_READ);
	if (ret) {
		client_set_vu_error(dev, "reading the config space", ret);
		return ret;
	}
	ret = client_choose_features(dev, o, offered, &cfg, (unsigned)qnum, acked);
	if (ret)
		return ret;
	*acked |= VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	ret = vu_client_set_features(c, *acked);
	if (ret) {
		client_set_vu_error(dev, "vhost-user negotiation", ret);
		return ret;
	}
	dev->info.features = *acked;
	client_parse_config(dev, &cfg, *acked);
	return 0;
}
