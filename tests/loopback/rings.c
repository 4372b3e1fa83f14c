/* SPDX-License-Identifier: MIT */
/* Both sides of one virtqueue in one process (see rings.h). */
#include "rings.h"

#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

void rings_open(struct rings *r, bool packed, unsigned num, bool event_idx, bool indirect,
		unsigned indir_max)
{
	struct vq_dev_areas areas;
	int fd;

	CHECK(num >= 1 && num <= RINGS_MAX_NUM && indir_max <= RINGS_MAX_INDIR);
	fd = memfd_create("loopback", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, RINGS_MEM_SIZE) == 0);
	r->drv_map = mmap(NULL, RINGS_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	r->dev_map = mmap(NULL, RINGS_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(r->drv_map != MAP_FAILED && r->dev_map != MAP_FAILED && r->drv_map != r->dev_map);
	close(fd);

	struct vq_drv_layout l = {
	    .packed = packed,
	    .num = (uint16_t)num,
	    .event_idx = event_idx,
	    .indirect = indirect,
	    .desc = r->drv_map + RINGS_OFF_DESC,
	    .driver = r->drv_map + RINGS_OFF_DRIVER,
	    .device = r->drv_map + RINGS_OFF_DEVICE,
	    .state = r->state,
	    .indir = r->drv_map + RINGS_OFF_INDIR,
	    .indir_addr = RINGS_GPA_BASE + RINGS_OFF_INDIR,
	    .indir_max = (uint16_t)indir_max,
	};
	CHECK_EQ(vq_drv_init_layout(&r->drv, &l), 0);
	CHECK_EQ(r->drv.packed, packed);

	/* Device side: the region as a vhost-user back end would see it. */
	struct vq_mem_region reg = {.gpa = RINGS_GPA_BASE,
				    .uva = (uintptr_t)r->drv_map,
				    .size = RINGS_MEM_SIZE,
				    .hva = r->dev_map};
	memset(&r->mem, 0, sizeof(r->mem));
	CHECK_EQ(vq_mem_add(&r->mem, &reg), 0);
	memset(&r->dev, 0, sizeof(r->dev));
	CHECK_EQ(vq_dev_init_ring(&r->dev, num, packed), 0);
	CHECK_EQ(vq_dev_map_areas(&r->dev, &r->mem, (uintptr_t)(r->drv_map + RINGS_OFF_DESC),
				  (uintptr_t)(r->drv_map + RINGS_OFF_DRIVER),
				  (uintptr_t)(r->drv_map + RINGS_OFF_DEVICE), &areas),
		 0);
	CHECK((uint8_t *)areas.desc == r->dev_map + RINGS_OFF_DESC);
	r->dev.event_idx = event_idx;
	r->dev.indirect = indirect;
	/* vhost-user.rst: a fresh packed ring's base has both wrap counters set. */
	CHECK_EQ(vq_dev_start_areas(&r->dev, &r->mem, &areas, packed ? VQ_PACKED_BASE_INIT : 0), 0);
}
