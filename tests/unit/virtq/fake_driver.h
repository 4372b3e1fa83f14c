/* SPDX-License-Identifier: MIT */
/*
 * A fake virtio driver for the device-side split ring tests. It lays out a
 * split ring in guest memory (fake_mem.h) and writes descriptors and avail
 * entries raw, so a test can build any malformed ring it likes.
 */
#ifndef VBLK_TESTS_FAKE_DRIVER_H
#define VBLK_TESTS_FAKE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_mem.h"
#include "virtq/vq_dev.h"

/* Fixed layout inside guest memory (num <= VQ_DEV_MAX_SIZE). */
#define FAKE_DESC_OFF  0x0000u
#define FAKE_AVAIL_OFF 0x4000u
#define FAKE_USED_OFF  0x5000u

struct fake_drv {
	struct fake_mem m;
	unsigned num;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t avail_idx; /* driver's shadow of avail->idx */
	uint16_t last_used; /* next used entry the driver will read */
	struct vq_dev vq;
};

/* Create guest memory and an empty ring of num entries. Exits 77 if memfd is unavailable. */
void fake_init(struct fake_drv *d, unsigned num, unsigned nregions);
/* Start both indices at idx (call before fake_start). */
void fake_set_idx(struct fake_drv *d, uint16_t idx);
/* vq_dev_init_ring + vq_dev_map_areas (through the uvas) + vq_dev_start_areas. Returns 0 or -errno.
 */
int fake_start(struct fake_drv *d, bool event_idx, bool indirect);
void fake_fini(struct fake_drv *d);

/* Write descriptor i of a table (the ring's or an indirect one) raw. */
void fake_set_desc(struct virtq_desc *table, unsigned i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next);
/* avail->ring[avail_idx % num] = head, then publish avail_idx + 1. */
void fake_publish(struct fake_drv *d, uint16_t head);
/* Current used->idx as the driver reads it. */
uint16_t fake_used_idx(struct fake_drv *d);
/* Read used->ring[idx % num]. */
void fake_used_elem(struct fake_drv *d, uint16_t idx, uint32_t *id, uint32_t *len);
void fake_set_used_event(struct fake_drv *d, uint16_t v);
uint16_t fake_avail_event(struct fake_drv *d);

#endif
