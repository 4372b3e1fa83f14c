/* SPDX-License-Identifier: MIT */
/*
 * libvblk feature names: the virtio feature bit -> name table behind
 * vblk_feature_name() (virtio 1.3 §5.2.3 device bits, §6 reserved bits;
 * VHOST_F_LOG_ALL and VHOST_USER_F_PROTOCOL_FEATURES from vhost-user.rst).
 */
#include <stddef.h>

#include "client.h"

#include <vblk/spec/vhost_user.h>

const char *vblk_feature_name(unsigned bit)
{
	switch (bit) {
	case VIRTIO_BLK_F_SIZE_MAX:
		return "VIRTIO_BLK_F_SIZE_MAX";
	case VIRTIO_BLK_F_SEG_MAX:
		return "VIRTIO_BLK_F_SEG_MAX";
	case VIRTIO_BLK_F_GEOMETRY:
		return "VIRTIO_BLK_F_GEOMETRY";
	case VIRTIO_BLK_F_RO:
		return "VIRTIO_BLK_F_RO";
	case VIRTIO_BLK_F_BLK_SIZE:
		return "VIRTIO_BLK_F_BLK_SIZE";
	case VIRTIO_BLK_F_FLUSH:
		return "VIRTIO_BLK_F_FLUSH";
	case VIRTIO_BLK_F_TOPOLOGY:
		return "VIRTIO_BLK_F_TOPOLOGY";
	case VIRTIO_BLK_F_CONFIG_WCE:
		return "VIRTIO_BLK_F_CONFIG_WCE";
	case VIRTIO_BLK_F_MQ:
		return "VIRTIO_BLK_F_MQ";
	case VIRTIO_BLK_F_DISCARD:
		return "VIRTIO_BLK_F_DISCARD";
	case VIRTIO_BLK_F_WRITE_ZEROES:
		return "VIRTIO_BLK_F_WRITE_ZEROES";
	case VIRTIO_BLK_F_LIFETIME:
		return "VIRTIO_BLK_F_LIFETIME";
	case VIRTIO_BLK_F_SECURE_ERASE:
		return "VIRTIO_BLK_F_SECURE_ERASE";
	case VIRTIO_BLK_F_ZONED:
		return "VIRTIO_BLK_F_ZONED";
	case 24:
		return "VIRTIO_F_NOTIFY_ON_EMPTY";
	case 26:
		return "VHOST_F_LOG_ALL";
	case VIRTIO_F_INDIRECT_DESC:
		return "VIRTIO_F_INDIRECT_DESC";
	case VIRTIO_F_EVENT_IDX:
		return "VIRTIO_F_EVENT_IDX";
	case VHOST_USER_F_PROTOCOL_FEATURES:
		return "VHOST_USER_F_PROTOCOL_FEATURES";
	case VIRTIO_F_VERSION_1:
		return "VIRTIO_F_VERSION_1";
	case VIRTIO_F_ACCESS_PLATFORM:
		return "VIRTIO_F_ACCESS_PLATFORM";
	case VIRTIO_F_RING_PACKED:
		return "VIRTIO_F_RING_PACKED";
	case VIRTIO_F_IN_ORDER:
		return "VIRTIO_F_IN_ORDER";
	case VIRTIO_F_ORDER_PLATFORM:
		return "VIRTIO_F_ORDER_PLATFORM";
	case VIRTIO_F_SR_IOV:
		return "VIRTIO_F_SR_IOV";
	case VIRTIO_F_NOTIFICATION_DATA:
		return "VIRTIO_F_NOTIFICATION_DATA";
	case VIRTIO_F_RING_RESET:
		return "VIRTIO_F_RING_RESET";
	default:
		return NULL;
	}
}
