/* SPDX-License-Identifier: MIT */
/*
 * Both sides of one virtqueue in one process, for the loopback tests: guest
 * memory is a memfd mapped twice (the driver's view and the device's view,
 * at different addresses, translated through vq_mem as a vhost-user back end
 * does), the driver side set up with vq_drv_init_layout and the device side
 * with vq_dev_init_ring, vq_dev_map_areas and vq_dev_start_areas, for either
 * layout. Exits through CHECK on any failure.
 */
#ifndef VBLK_TESTS_LOOPBACK_RINGS_H
#define VBLK_TESTS_LOOPBACK_RINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "virtq/vq_dev.h"
#include "virtq/vq_drv.h"
#include "virtq/vq_mem.h"

#define RINGS_MAX_NUM	 64
#define RINGS_MAX_INDIR	 8
#define RINGS_GPA_BASE	 0x40000000ull
#define RINGS_MEM_SIZE	 (64u * 1024)
#define RINGS_OFF_DESC	 0
#define RINGS_OFF_DRIVER 4096  /* avail ring or driver event structure */
#define RINGS_OFF_DEVICE 8192  /* used ring or device event structure */
#define RINGS_OFF_INDIR	 12288 /* RINGS_MAX_NUM tables of RINGS_MAX_INDIR */
#define RINGS_OFF_DATA	 32768 /* the rest is the test's */

struct rings {
	uint8_t *drv_map; /* guest memory as the driver sees it */
	uint8_t *dev_map; /* the same memory at the device's address */
	struct vq_mem mem;
	struct vq_drv drv;
	struct vq_dev dev;
	struct vq_drv_desc_state state[RINGS_MAX_NUM];
};

/*
 * Set up both sides of a ring of num entries (a power of two for split) with
 * the features given, indirect tables of indir_max entries.
 */
void rings_open(struct rings *r, bool packed, unsigned num, bool event_idx, bool indirect,
		unsigned indir_max);

#endif
