/* SPDX-License-Identifier: MIT */
/*
 * A fake virtio driver for the device-side packed ring tests, in guest
 * memory (fake_mem.h). Descriptors are written raw, so a test can build any
 * malformed ring; fakep_add() builds well-formed lists the way §2.8.21.1
 * says (first slot's flags last).
 */
#ifndef VBLK_TESTS_FAKE_PACKED_H
#define VBLK_TESTS_FAKE_PACKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_mem.h"
#include "virtq/vq_dev.h"

#define FAKE_DESC_OFF	0x0000u /* num <= VQ_DEV_MAX_SIZE: 16 KiB */
#define FAKE_DRV_EV_OFF 0x4000u
#define FAKE_DEV_EV_OFF 0x4010u

#define FP_AVAIL ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_AVAIL))
#define FP_USED	 ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_USED))
#define FP_N	 VIRTQ_DESC_F_NEXT
#define FP_W	 VIRTQ_DESC_F_WRITE
#define FP_I	 VIRTQ_DESC_F_INDIRECT

struct fakep {
	struct fake_mem m;
	unsigned num;
	struct virtq_packed_desc *desc;
	struct virtq_packed_event *drv_ev; /* Driver Area */
	struct virtq_packed_event *dev_ev; /* Device Area */
	/* Driver state (§2.8.1). */
	uint16_t next_avail;
	bool avail_wrap;
	uint16_t last_used;
	bool used_wrap;
	uint16_t slots[VQ_DEV_MAX_SIZE]; /* per buffer ID: slots of the list in flight */
	struct vq_dev vq;
};

void fakep_init(struct fakep *d, unsigned num, unsigned nregions);
/* Put both driver positions at (pos, wrap) (call before fakep_start). */
void fakep_set_pos(struct fakep *d, uint16_t pos, bool wrap);
/* vq_dev_init_ring(packed) + vq_dev_map_areas (through the uvas) + vq_dev_start_areas with the
 * matching base. */
int fakep_start(struct fakep *d, bool event_idx, bool indirect);
void fakep_fini(struct fakep *d);

/* AVAIL/USED bits that make a slot available under driver wrap counter wrap. */
uint16_t fakep_avail_bits(bool wrap);
/* Write slot pos raw (flags exactly as given, written last). */
void fakep_write(struct fakep *d, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id,
		 uint16_t flags);
/* Write entry i of an indirect table raw. */
void fakep_table(struct virtq_packed_desc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t id,
		 uint16_t flags);
/* Position/wrap of the slot k after next_avail. */
void fakep_slot(struct fakep *d, unsigned k, uint16_t *pos, bool *wrap);
/* Advance the driver's avail position by n slots. */
void fakep_advance_avail(struct fakep *d, unsigned n);

/*
 * Make a well-formed list of n descriptors available as buffer id (the ID in
 * every descriptor, as Linux does); first slot's flags last. Returns the
 * first slot's position.
 */
uint16_t fakep_add(struct fakep *d, const struct fake_seg *segs, unsigned n, uint16_t id);
/*
 * One indirect descriptor for a table of n entries written from segs at
 * table_gpa (0: allocate a new table).
 */
uint16_t fakep_add_indirect(struct fakep *d, const struct fake_seg *segs, unsigned n, uint16_t id,
			    uint64_t table_gpa);
/* Take the used element at the driver's used position: 1 and fields, or 0. */
int fakep_get_used(struct fakep *d, uint16_t *id, uint32_t *len, uint16_t *flags);

void fakep_set_drv_event(struct fakep *d, uint16_t off_wrap, uint16_t flags);
void fakep_dev_event(struct fakep *d, uint16_t *off_wrap, uint16_t *flags);

#endif
