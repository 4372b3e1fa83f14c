/* SPDX-License-Identifier: MIT */
/* Guest memory for the device-side ring tests; see fake_mem.h. */
#include "fake_mem.h"

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

void fake_mem_init(struct fake_mem *m, unsigned nregions)
{
	struct vq_mem_region r;
	size_t half = FAKE_MEM_SIZE / 2;

	memset(m, 0, sizeof(*m));
	m->fd = memfd_create("vq-test", 0);
	if (m->fd < 0)
		SKIP("memfd_create: %s", strerror(errno));
	CHECK(ftruncate(m->fd, FAKE_MEM_SIZE) == 0);
	m->size = FAKE_MEM_SIZE;
	m->map = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	CHECK(m->map != MAP_FAILED);
	m->nregions = nregions;
	m->next_alloc = FAKE_GPA_BASE + FAKE_DATA_OFF;

	if (nregions == 1) {
		r = (struct vq_mem_region){
		    .gpa = FAKE_GPA_BASE, .uva = FAKE_UVA_BASE, .size = m->size, .hva = m->map};
		CHECK_EQ(vq_mem_add(&m->mem, &r), 0);
		return;
	}
	CHECK_EQ(nregions, 2);
	m->map2 = mmap(NULL, half, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, half);
	CHECK(m->map2 != MAP_FAILED);
	r = (struct vq_mem_region){
	    .gpa = FAKE_GPA_BASE, .uva = FAKE_UVA_BASE, .size = half, .hva = m->map};
	CHECK_EQ(vq_mem_add(&m->mem, &r), 0);
	/* Adjacent in gpa, far away in uva and hva. */
	r = (struct vq_mem_region){.gpa = FAKE_GPA_BASE + half,
				   .uva = FAKE_UVA_BASE + 0x10000000ull,
				   .size = half,
				   .hva = m->map2};
	CHECK_EQ(vq_mem_add(&m->mem, &r), 0);
}

void fake_mem_fini(struct fake_mem *m)
{
	if (m->map2)
		munmap(m->map2, m->size / 2);
	munmap(m->map, m->size);
	close(m->fd);
}

uint64_t fake_mem_alloc(struct fake_mem *m, size_t len)
{
	uint64_t gpa = m->next_alloc;

	m->next_alloc = (gpa + len + 15) & ~15ull;
	CHECK(m->next_alloc <= FAKE_GPA_BASE + m->size);
	return gpa;
}

void *fake_mem_ptr(struct fake_mem *m, uint64_t gpa)
{
	CHECK(gpa >= FAKE_GPA_BASE && gpa < FAKE_GPA_BASE + m->size);
	return m->map + (gpa - FAKE_GPA_BASE);
}

void *fake_mem_dev_ptr(struct fake_mem *m, uint64_t gpa)
{
	size_t off = gpa - FAKE_GPA_BASE;

	CHECK(gpa >= FAKE_GPA_BASE && off < m->size);
	if (m->map2 && off >= m->size / 2)
		return m->map2 + (off - m->size / 2);
	return m->map + off;
}

uint64_t fake_mem_gpa_of(struct fake_mem *m, const void *p)
{
	size_t off = (size_t)((const uint8_t *)p - m->map);

	CHECK(off < m->size);
	return FAKE_GPA_BASE + off;
}

uint64_t fake_mem_region1_gpa(const struct fake_mem *m)
{
	return FAKE_GPA_BASE + m->size / 2;
}

int fake_mem_start_ring(struct fake_mem *m, struct vq_dev *vq, unsigned num, bool packed,
			bool event_idx, bool indirect, const unsigned off[3], uint32_t base)
{
	struct vq_dev_areas a;
	int ret;

	ret = vq_dev_init_ring(vq, num, packed);
	if (ret)
		return ret;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	ret = vq_dev_map_areas(vq, &m->mem, FAKE_UVA_BASE + off[0], FAKE_UVA_BASE + off[1],
			       FAKE_UVA_BASE + off[2], &a);
	if (ret)
		return ret;
	CHECK(a.desc == (void *)(m->map + off[0]) && a.driver == (void *)(m->map + off[1]) &&
	      a.device == (void *)(m->map + off[2]));
	return vq_dev_start_areas(vq, &m->mem, &a, base);
}

int fake_mem_restart(struct fake_mem *m, struct vq_dev *vq, unsigned num, bool packed,
		     const unsigned off[3], void *region, size_t len, uint32_t base)
{
	bool event_idx = vq->event_idx, indirect = vq->indirect;
	struct vq_dev_areas a;

	vq_dev_fini(vq);
	memset(vq, 0, sizeof(*vq));
	CHECK_EQ(vq_dev_init_ring(vq, num, packed), 0);
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	CHECK_EQ(vq_dev_set_inflight(vq, region, len), 0);
	CHECK_EQ(vq_dev_map_areas(vq, &m->mem, FAKE_UVA_BASE + off[0], FAKE_UVA_BASE + off[1],
				  FAKE_UVA_BASE + off[2], &a),
		 0);
	return vq_dev_start_areas(vq, &m->mem, &a, base);
}

void fake_region_reset(struct fake_region *g, size_t size)
{
	CHECK(size <= sizeof(g->mem));
	memset(g->mem, 0, sizeof(g->mem));
	memset((uint8_t *)g->mem + size, 0xa5, sizeof(g->mem) - size);
	g->size = size;
}

void fake_region_guard_check(const struct fake_region *g)
{
	for (size_t i = g->size; i < sizeof(g->mem); i++)
		CHECK_EQ(((const uint8_t *)g->mem)[i], 0xa5);
}

int fake_pop_capture(struct vq_dev *vq, struct vq_dev_elem *e, struct iovec *iov, unsigned iov_max,
		     char *log, size_t size)
{
	FILE *tmp = tmpfile();
	int saved, ret;
	size_t n;

	CHECK(tmp != NULL);
	fflush(stderr);
	saved = dup(2);
	CHECK(saved >= 0 && dup2(fileno(tmp), 2) == 2);
	ret = vq_dev_pop(vq, e, iov, iov_max);
	fflush(stderr);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	rewind(tmp);
	n = fread(log, 1, size - 1, tmp);
	log[n] = '\0';
	fclose(tmp);
	fputs(log, stderr);
	return ret;
}
