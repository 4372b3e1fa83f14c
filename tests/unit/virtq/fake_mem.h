/* SPDX-License-Identifier: MIT */
/*
 * Guest memory for the device-side ring tests, shared by the split and the
 * packed fake drivers: a memfd mapping registered as one or two vq_mem
 * regions at guest-physical FAKE_GPA_BASE (so gpa != hva and every address
 * really goes through the translation). With two regions the upper half is
 * mapped a second time at an unrelated host address and registered from that
 * mapping: the device's pointers into region 1 differ from the driver's, so a
 * wrong translation shows up as a wrong pointer, not just as wrong bytes.
 * Also: vq_dev_pop with the log captured, for the malformed-ring tests.
 */
#ifndef VBLK_TESTS_FAKE_MEM_H
#define VBLK_TESTS_FAKE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtq/vq_dev.h"
#include "virtq/vq_mem.h"

#define FAKE_GPA_BASE 0x100000ull
#define FAKE_UVA_BASE 0x7f1200000000ull
#define FAKE_MEM_SIZE (1u << 20)
/* Rings go below FAKE_DATA_OFF (each fake driver lays them out), buffers above. */
#define FAKE_DATA_OFF 0x8000u

/* One buffer segment as a driver describes it: guest address, length, device-writable. */
struct fake_seg {
	uint64_t addr;
	uint32_t len;
	bool write;
};

struct fake_mem {
	int fd;
	size_t size;
	uint8_t *map;  /* the whole guest memory, as the driver sees it */
	uint8_t *map2; /* second mapping of the upper half (two regions) */
	unsigned nregions;
	struct vq_mem mem;
	uint64_t next_alloc;
};

/* Create guest memory of one or two regions. Exits 77 if memfd is unavailable. */
void fake_mem_init(struct fake_mem *m, unsigned nregions);
void fake_mem_fini(struct fake_mem *m);

/* Bump-allocate len bytes of guest memory above FAKE_DATA_OFF (16-byte aligned); its gpa. */
uint64_t fake_mem_alloc(struct fake_mem *m, size_t len);
/* Driver's pointer for a guest-physical address. */
void *fake_mem_ptr(struct fake_mem *m, uint64_t gpa);
/* The pointer the device must produce for gpa (map2 for the upper region). */
void *fake_mem_dev_ptr(struct fake_mem *m, uint64_t gpa);
uint64_t fake_mem_gpa_of(struct fake_mem *m, const void *p);
/* gpa of the first byte of region 1 (two-region mode). */
uint64_t fake_mem_region1_gpa(const struct fake_mem *m);

/*
 * vq_dev_init_ring(num, packed) on vq with the features given, then
 * vq_dev_map_areas through the uvas of the three ring areas at off[] (checking
 * it finds them there) and vq_dev_start_areas at base. Returns 0 or -errno.
 */
int fake_mem_start_ring(struct fake_mem *m, struct vq_dev *vq, unsigned num, bool packed,
			bool event_idx, bool indirect, const unsigned off[3], uint32_t base);

/*
 * A fresh vq_dev on the same rings, as a restarted back end: vq_dev_fini,
 * vq_dev_init_ring(num, packed) keeping event_idx and indirect,
 * vq_dev_set_inflight(region, len) (NULL: none), vq_dev_map_areas at off[]
 * and vq_dev_start_areas at base. Returns what start returns.
 */
int fake_mem_restart(struct fake_mem *m, struct vq_dev *vq, unsigned num, bool packed,
		     const unsigned off[3], void *region, size_t len, uint32_t base);

/*
 * Inflight region storage (vhost-user.rst "Inflight I/O tracking") for a
 * ring of up to FAKE_REGION_NUM entries in either layout: 8-byte aligned,
 * with a guard after the layout's size that the device must never touch.
 */
#define FAKE_REGION_NUM 8
struct fake_region {
	uint64_t mem[(sizeof(struct vhost_user_inflight_packed_queue) +
		      FAKE_REGION_NUM * sizeof(struct vhost_user_inflight_desc_packed)) /
			 8 +
		     8];
	size_t size;
};

/* Zero the region and set the guard after size bytes (a fresh region: version 0). */
void fake_region_reset(struct fake_region *g, size_t size);
void fake_region_guard_check(const struct fake_region *g);

/* vq_dev_pop with stderr captured into log[size] (and echoed). */
int fake_pop_capture(struct vq_dev *vq, struct vq_dev_elem *e, struct iovec *iov, unsigned iov_max,
		     char *log, size_t size);

#endif
