/* SPDX-License-Identifier: MIT */
/*
 * Guest memory table lookups. The table can hold hundreds of regions (memory
 * hotplug, vhost-user.rst "VHOST_USER_ADD_MEM_REG"), and every descriptor
 * on the data path is translated through it, so the regions are kept sorted
 * by guest physical address and found by binary search: at most ten
 * comparisons for a full table, against one for the usual single region.
 * All range arithmetic is written as "offset into the region" comparisons
 * so that no sum of guest-controlled values can wrap.
 */
#include "vq_mem.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "internal/compiler.h"

/* Index of the first region whose gpa is above addr (0..nregions). */
static unsigned upper_bound(const struct vq_mem *mem, uint64_t addr)
{
	unsigned lo = 0, hi = mem->nregions;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (mem->regions[mid].gpa <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int vq_mem_add(struct vq_mem *mem, const struct vq_mem_region *r)
{
	unsigned i;

	/*
	 * A region may not wrap or end exactly at 2^64 in either address
	 * space: then "base + size" is always representable and the lookups
	 * below never see a region that contains address UINT64_MAX.
	 */
	if (r->size == 0 || r->hva == NULL)
		return -EINVAL;
	if (r->size > UINT64_MAX - r->gpa || r->size > UINT64_MAX - r->uva)
		return -EINVAL;
	if (r->size > UINTPTR_MAX - (uintptr_t)r->hva)
		return -EINVAL;

	/*
	 * The table is sorted and free of overlaps, so only the neighbours
	 * can overlap: the one before must end at or below r->gpa, the one
	 * after must start at or above r->gpa + size.
	 */
	i = upper_bound(mem, r->gpa);
	if (i > 0 && mem->regions[i - 1].gpa + mem->regions[i - 1].size > r->gpa)
		return -EINVAL;
	if (i < mem->nregions && mem->regions[i].gpa < r->gpa + r->size)
		return -EINVAL;
	if (mem->nregions >= VQ_MEM_MAX_REGIONS)
		return -ENOSPC;
	memmove(&mem->regions[i + 1], &mem->regions[i],
		(mem->nregions - i) * sizeof(mem->regions[0]));
	mem->regions[i] = *r;
	mem->nregions++;
	return 0;
}

int vq_mem_remove(struct vq_mem *mem, uint64_t gpa, uint64_t uva, uint64_t size,
		  struct vq_mem_region *out)
{
	unsigned i = upper_bound(mem, gpa);
	const struct vq_mem_region *r;

	if (i == 0)
		return -ENOENT;
	r = &mem->regions[i - 1];
	if (r->gpa != gpa || r->uva != uva || r->size != size)
		return -ENOENT;
	*out = *r;
	memmove(&mem->regions[i - 1], &mem->regions[i],
		(mem->nregions - i) * sizeof(mem->regions[0]));
	mem->nregions--;
	return 0;
}

/*
 * Region holding the first byte at gpa, with the offset of gpa into it.
 * Only gpa itself is checked here.
 */
static const struct vq_mem_region *find_gpa(const struct vq_mem *mem, uint64_t gpa, uint64_t *off)
{
	unsigned i = upper_bound(mem, gpa);
	const struct vq_mem_region *r;

	if (i == 0)
		return NULL;
	r = &mem->regions[i - 1];
	/* r->gpa <= gpa, so gpa - r->gpa cannot wrap. */
	if (gpa - r->gpa >= r->size)
		return NULL;
	*off = gpa - r->gpa;
	return r;
}

/*
 * As find_gpa for a front-end virtual address. The table is not sorted by
 * uva, but only ring addresses are looked up this way, when a ring starts.
 */
static const struct vq_mem_region *find_uva(const struct vq_mem *mem, uint64_t uva, uint64_t *off)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct vq_mem_region *r = &mem->regions[i];

		if (uva >= r->uva && uva - r->uva < r->size) {
			*off = uva - r->uva;
			return r;
		}
	}
	return NULL;
}

static void *range_to_hva(const struct vq_mem *mem, uint64_t addr, uint64_t len, bool by_uva)
{
	const struct vq_mem_region *r;
	uint64_t off;

	r = by_uva ? find_uva(mem, addr, &off) : find_gpa(mem, addr, &off);
	/* off < size, so size - off is the room left and cannot wrap. */
	if (r == NULL || len > r->size - off)
		return NULL;
	return (char *)r->hva + off;
}

void *vq_mem_gpa_to_hva(const struct vq_mem *mem, uint64_t gpa, uint64_t len)
{
	return range_to_hva(mem, gpa, len, false);
}

void *vq_mem_uva_to_hva(const struct vq_mem *mem, uint64_t uva, uint64_t len)
{
	return range_to_hva(mem, uva, len, true);
}

int vq_mem_hva_to_gpa(const struct vq_mem *mem, const void *hva, uint64_t len, uint64_t *gpa)
{
	uintptr_t a = (uintptr_t)hva;

	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct vq_mem_region *r = &mem->regions[i];
		uintptr_t base = (uintptr_t)r->hva;

		/* a - base cannot wrap once a >= base; size - off is the room left. */
		if (a >= base && a - base < r->size && len <= r->size - (a - base)) {
			*gpa = r->gpa + (a - base);
			return 0;
		}
	}
	return -EFAULT;
}

int vq_mem_gpa_to_iov(const struct vq_mem *mem, uint64_t gpa, uint32_t len, struct iovec *iov,
		      unsigned *cnt, unsigned max)
{
	/* *cnt is only updated on success, so a failed call appends nothing. */
	unsigned n = *cnt;
	uint64_t left = len;

	if (len == 0)
		return -EINVAL;
	/* No region contains UINT64_MAX (see vq_mem_add), so gpa + len must not wrap. */
	if (left > UINT64_MAX - gpa)
		return -EFAULT;

	while (left > 0) {
		const struct vq_mem_region *r;
		uint64_t off, chunk;

		r = find_gpa(mem, gpa, &off);
		if (r == NULL)
			return -EFAULT;
		if (n >= max)
			return -ENOBUFS;
		chunk = VBLK_MIN(left, r->size - off);
		iov[n].iov_base = (char *)r->hva + off;
		iov[n].iov_len = (size_t)chunk;
		n++;
		gpa += chunk;
		left -= chunk;
	}
	*cnt = n;
	return 0;
}
