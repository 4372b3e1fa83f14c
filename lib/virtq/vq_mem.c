/* SPDX-License-Identifier: MIT */
/*
 * Guest memory table lookups. The table is small (at most
 * VQ_MEM_MAX_REGIONS entries), so a linear scan is both the simplest and the
 * fastest choice. All range arithmetic is written as "offset into the region"
 * comparisons so that no sum of guest-controlled values can wrap.
 */
#include "vq_mem.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "internal/compiler.h"

/* True when [a, a+alen) and [b, b+blen) intersect; both ranges are known not to wrap. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
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

	for (i = 0; i < mem->nregions; i++) {
		const struct vq_mem_region *o = &mem->regions[i];

		if (ranges_overlap(r->gpa, r->size, o->gpa, o->size))
			return -EINVAL;
	}
	if (mem->nregions >= VQ_MEM_MAX_REGIONS)
		return -ENOSPC;
	mem->regions[mem->nregions++] = *r;
	return 0;
}

/*
 * Region holding the first byte at addr (gpa or uva per by_uva), with the
 * offset of addr into it. Only addr itself is checked here.
 */
static const struct vq_mem_region *find_region(const struct vq_mem *mem, uint64_t addr, bool by_uva,
					       uint64_t *off)
{
	unsigned i;

	for (i = 0; i < mem->nregions; i++) {
		const struct vq_mem_region *r = &mem->regions[i];
		uint64_t base = by_uva ? r->uva : r->gpa;

		/* addr - base cannot wrap once addr >= base. */
		if (addr >= base && addr - base < r->size) {
			*off = addr - base;
			return r;
		}
	}
	return NULL;
}

static void *range_to_hva(const struct vq_mem *mem, uint64_t addr, uint64_t len, bool by_uva)
{
	const struct vq_mem_region *r;
	uint64_t off;

	r = find_region(mem, addr, by_uva, &off);
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

		r = find_region(mem, gpa, false, &off);
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
