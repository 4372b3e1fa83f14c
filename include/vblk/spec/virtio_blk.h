/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk wire formats, virtio 1.3 §5.2 "Block Device".
 */
#ifndef VBLK_SPEC_VIRTIO_BLK_H
#define VBLK_SPEC_VIRTIO_BLK_H

#include <stddef.h>
#include <stdint.h>

#include "virtio_types.h"

#define VIRTIO_ID_BLOCK 2

/* §5.2.3 Feature bits */
#define VIRTIO_BLK_F_SIZE_MAX	  1
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_GEOMETRY	  4
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_TOPOLOGY	  10
#define VIRTIO_BLK_F_CONFIG_WCE	  11
#define VIRTIO_BLK_F_MQ		  12
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
#define VIRTIO_BLK_F_LIFETIME	  15
#define VIRTIO_BLK_F_SECURE_ERASE 16
#define VIRTIO_BLK_F_ZONED	  17

/* §5.2.4: the unit of capacity and of request sectors is always 512 bytes. */
#define VIRTIO_BLK_SECTOR_SHIFT 9
#define VIRTIO_BLK_SECTOR_SIZE	512u

/* §5.2.4 Device configuration layout (little-endian, packed). */
struct virtio_blk_geometry {
	vblk_le16 cylinders;
	uint8_t heads;
	uint8_t sectors;
};

struct virtio_blk_topology {
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	vblk_le16 min_io_size;
	vblk_le32 opt_io_size;
};

struct virtio_blk_zoned_characteristics {
	vblk_le32 zone_sectors;
	vblk_le32 max_open_zones;
	vblk_le32 max_active_zones;
	vblk_le32 max_append_sectors;
	vblk_le32 write_granularity;
	uint8_t model;
	uint8_t unused2[3];
};

struct virtio_blk_config {
	vblk_le64 capacity;
	vblk_le32 size_max;
	vblk_le32 seg_max;
	struct virtio_blk_geometry geometry;
	vblk_le32 blk_size;
	struct virtio_blk_topology topology;
	uint8_t writeback;
	uint8_t unused0;
	vblk_le16 num_queues;
	vblk_le32 max_discard_sectors;
	vblk_le32 max_discard_seg;
	vblk_le32 discard_sector_alignment;
	vblk_le32 max_write_zeroes_sectors;
	vblk_le32 max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
	vblk_le32 max_secure_erase_sectors;
	vblk_le32 max_secure_erase_seg;
	vblk_le32 secure_erase_sector_alignment;
	struct virtio_blk_zoned_characteristics zoned;
} __attribute__((packed));

VBLK_STATIC_ASSERT(offsetof(struct virtio_blk_config, writeback) == 32, "virtio 1.3 §5.2.4 layout");
VBLK_STATIC_ASSERT(offsetof(struct virtio_blk_config, num_queues) == 34,
		   "virtio 1.3 §5.2.4 layout");
VBLK_STATIC_ASSERT(offsetof(struct virtio_blk_config, max_secure_erase_sectors) == 60, "layout");
VBLK_STATIC_ASSERT(sizeof(struct virtio_blk_config) == 96, "virtio 1.3 §5.2.4 layout");

/* §5.2.6 Device Operation: request types */
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_GET_LIFETIME 10
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_T_SECURE_ERASE 14

/* §5.2.6 status values */
#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

/* §5.2.6: the device-readable request header. */
struct virtio_blk_outhdr {
	vblk_le32 type;
	vblk_le32 ioprio; /* "reserved" in virtio 1.x */
	vblk_le64 sector;
};

VBLK_STATIC_ASSERT(sizeof(struct virtio_blk_outhdr) == 16, "virtio 1.3 §5.2.6");

/* §5.2.6: GET_ID returns 20 bytes, NUL-padded, no terminator when full. */
#define VIRTIO_BLK_ID_BYTES 20

/* §5.2.6: payload of DISCARD / WRITE_ZEROES / SECURE_ERASE. */
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1u

struct virtio_blk_discard_write_zeroes {
	vblk_le64 sector;
	vblk_le32 num_sectors;
	vblk_le32 flags;
};

VBLK_STATIC_ASSERT(sizeof(struct virtio_blk_discard_write_zeroes) == 16, "virtio 1.3 §5.2.6");

/* §5.2.6: GET_LIFETIME payload. */
struct virtio_blk_lifetime {
	vblk_le16 pre_eol_info;
	vblk_le16 device_lifetime_est_typ_a;
	vblk_le16 device_lifetime_est_typ_b;
};

#endif
