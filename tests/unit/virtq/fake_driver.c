/* SPDX-License-Identifier: MIT */
#include "fake_driver.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "test.h"

void fake_init(struct fake_drv *d, unsigned num, unsigned nregions)
{
	struct vq_mem_region r;
	size_t half = FAKE_MEM_SIZE / 2;

	memset(d, 0, sizeof(*d));
	d->fd = memfd_create("vq-test", 0);
	if (d->fd < 0)
		SKIP("memfd_create: %s", strerror(errno));
	CHECK(ftruncate(d->fd, FAKE_MEM_SIZE) == 0);
	d->size = FAKE_MEM_SIZE;
	d->map = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, 0);
	CHECK(d->map != MAP_FAILED);
	d->nregions = nregions;
	d->num = num;
	d->desc = (struct virtq_desc *)(void *)(d->map + FAKE_DESC_OFF);
	d->avail = (struct virtq_avail *)(void *)(d->map + FAKE_AVAIL_OFF);
	d->used = (struct virtq_used *)(void *)(d->map + FAKE_USED_OFF);
	d->next_alloc = FAKE_GPA_BASE + FAKE_DATA_OFF;

	if (nregions == 1) {
		r = (struct vq_mem_region){
		    .gpa = FAKE_GPA_BASE, .uva = FAKE_UVA_BASE, .size = d->size, .hva = d->map};
		CHECK_EQ(vq_mem_add(&d->mem, &r), 0);
	} else {
		CHECK_EQ(nregions, 2);
		d->map2 = mmap(NULL, half, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, half);
		CHECK(d->map2 != MAP_FAILED);
		r = (struct vq_mem_region){
		    .gpa = FAKE_GPA_BASE, .uva = FAKE_UVA_BASE, .size = half, .hva = d->map};
		CHECK_EQ(vq_mem_add(&d->mem, &r), 0);
		/* Adjacent in gpa, far away in uva and hva. */
		r = (struct vq_mem_region){.gpa = FAKE_GPA_BASE + half,
					   .uva = FAKE_UVA_BASE + 0x10000000ull,
					   .size = half,
					   .hva = d->map2};
		CHECK_EQ(vq_mem_add(&d->mem, &r), 0);
	}
}

void fake_set_idx(struct fake_drv *d, uint16_t idx)
{
	d->avail->idx = vblk_cpu_to_le16(idx);
	d->used->idx = vblk_cpu_to_le16(idx);
	d->avail_idx = idx;
	d->last_used = idx;
}

int fake_start(struct fake_drv *d, bool event_idx, bool indirect)
{
	struct vq_dev_areas a;
	int ret;

	ret = vq_dev_init_ring(&d->vq, d->num, false);
	if (ret)
		return ret;
	d->vq.event_idx = event_idx;
	d->vq.indirect = indirect;
	ret = vq_dev_map_areas(&d->vq, &d->mem, FAKE_UVA_BASE + FAKE_DESC_OFF,
			       FAKE_UVA_BASE + FAKE_AVAIL_OFF, FAKE_UVA_BASE + FAKE_USED_OFF, &a);
	if (ret)
		return ret;
	CHECK(a.desc == (void *)d->desc && a.driver == (void *)d->avail &&
	      a.device == (void *)d->used);
	return vq_dev_start_areas(&d->vq, &d->mem, &a, d->avail_idx);
}

void fake_fini(struct fake_drv *d)
{
	vq_dev_fini(&d->vq);
	if (d->map2)
		munmap(d->map2, d->size / 2);
	munmap(d->map, d->size);
	close(d->fd);
}

uint64_t fake_alloc(struct fake_drv *d, size_t len)
{
	uint64_t gpa = d->next_alloc;

	d->next_alloc = (gpa + len + 15) & ~15ull;
	CHECK(d->next_alloc <= FAKE_GPA_BASE + d->size);
	return gpa;
}

void *fake_ptr(struct fake_drv *d, uint64_t gpa)
{
	CHECK(gpa >= FAKE_GPA_BASE && gpa < FAKE_GPA_BASE + d->size);
	return d->map + (gpa - FAKE_GPA_BASE);
}

void *fake_dev_ptr(struct fake_drv *d, uint64_t gpa)
{
	size_t off = gpa - FAKE_GPA_BASE;

	CHECK(gpa >= FAKE_GPA_BASE && off < d->size);
	if (d->map2 && off >= d->size / 2)
		return d->map2 + (off - d->size / 2);
	return d->map + off;
}

uint64_t fake_gpa_of(struct fake_drv *d, const void *p)
{
	size_t off = (size_t)((const uint8_t *)p - d->map);

	CHECK(off < d->size);
	return FAKE_GPA_BASE + off;
}

uint64_t fake_region1_gpa(struct fake_drv *d)
{
	return FAKE_GPA_BASE + d->size / 2;
}

void fake_set_desc(struct virtq_desc *table, unsigned i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	table[i].addr = vblk_cpu_to_le64(addr);
	table[i].len = vblk_cpu_to_le32(len);
	table[i].flags = vblk_cpu_to_le16(flags);
	table[i].next = vblk_cpu_to_le16(next);
}

void fake_publish(struct fake_drv *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->num] = vblk_cpu_to_le16(head);
	/* §2.7.13.3: ring entry and descriptors before idx. */
	vblk_wmb();
	d->avail_idx++;
	WRITE_ONCE(d->avail->idx, vblk_cpu_to_le16(d->avail_idx));
}

uint16_t fake_used_idx(struct fake_drv *d)
{
	return vblk_le16_to_cpu(READ_ONCE(d->used->idx));
}

void fake_used_elem(struct fake_drv *d, uint16_t idx, uint32_t *id, uint32_t *len)
{
	*id = vblk_le32_to_cpu(d->used->ring[idx % d->num].id);
	*len = vblk_le32_to_cpu(d->used->ring[idx % d->num].len);
}

void fake_set_used_event(struct fake_drv *d, uint16_t v)
{
	*virtq_used_event(d->avail, d->num) = vblk_cpu_to_le16(v);
}

uint16_t fake_avail_event(struct fake_drv *d)
{
	return vblk_le16_to_cpu(*virtq_avail_event(d->used, d->num));
}
