/* SPDX-License-Identifier: MIT */
/*
 * A fake virtio driver for the device-side ring tests. It lays out a split
 * ring and data buffers in a memfd mapping registered as one or two vq_mem
 * regions at guest-physical base FAKE_GPA_BASE (so gpa != hva and every
 * address really goes through the translation), and writes descriptors and
 * avail entries raw, so a test can build any malformed ring it likes.
 *
 * With two regions the second half of the memory is mapped a second time at
 * an unrelated host address and registered from that mapping: the device's
 * pointers into region 1 differ from the driver's, so a wrong translation
 * shows up as a wrong pointer, not just as wrong bytes.
 */
#ifndef VBLK_TESTS_FAKE_DRIVER_H
#define VBLK_TESTS_FAKE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtq/vq_dev.h"
#include "virtq/vq_mem.h"

#define FAKE_GPA_BASE 0x100000ull
#define FAKE_UVA_BASE 0x7f1200000000ull
#define FAKE_MEM_SIZE (1u << 20)
/* Fixed layout inside guest memory (num <= VQ_DEV_MAX_SIZE). */
#define FAKE_DESC_OFF  0x0000u
#define FAKE_AVAIL_OFF 0x4000u
#define FAKE_USED_OFF  0x5000u
#define FAKE_DATA_OFF  0x8000u

struct fake_drv {
	int fd;
	size_t size;
	uint8_t *map;  /* the whole guest memory, as the driver sees it */
	uint8_t *map2; /* second mapping of the upper half (two regions) */
	unsigned nregions;
	struct vq_mem mem;
	unsigned num;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t avail_idx; /* driver's shadow of avail->idx */
	uint16_t last_used; /* next used entry the driver will read */
	uint64_t next_alloc;
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

/* Bump-allocate len bytes of guest memory (16-byte aligned); returns its gpa. */
uint64_t fake_alloc(struct fake_drv *d, size_t len);
/* Driver's pointer for a guest-physical address. */
void *fake_ptr(struct fake_drv *d, uint64_t gpa);
/* The pointer the device must produce for gpa (map2 for the upper region). */
void *fake_dev_ptr(struct fake_drv *d, uint64_t gpa);
uint64_t fake_gpa_of(struct fake_drv *d, const void *p);
/* gpa of the first byte of region 1 (two-region mode). */
uint64_t fake_region1_gpa(struct fake_drv *d);

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
