/* SPDX-License-Identifier: MIT */
/*
 * Memory table: bad and overlapping regions are rejected, lookups are exact
 * at region edges, and a buffer may span adjacent regions but not a gap.
 * The reverse lookup (our pointer back to a gpa, for dirty logging) is exact
 * at the edges too and refuses a range that leaves its region.
 */
#include "virtq/vq_mem.h"
#include "test.h"

#include <errno.h>

static char ram_a[4096], ram_b[4096], ram_c[4096];

static int add(struct vq_mem *m, uint64_t gpa, uint64_t uva, uint64_t size, void *hva)
{
	struct vq_mem_region r = {.gpa = gpa, .uva = uva, .size = size, .hva = hva};

	return vq_mem_add(m, &r);
}

static void test_add(void)
{
	struct vq_mem m = {0};
	unsigned i;

	CHECK_EQ(add(&m, 0x10000, 0x900000, 0x1000, ram_a), 0);
	/* size 0, no mapping */
	CHECK_EQ(add(&m, 0x40000, 0, 0, ram_b), -EINVAL);
	CHECK_EQ(add(&m, 0x40000, 0, 0x1000, NULL), -EINVAL);
	/* Overlaps: identical, front, back, containing, contained. */
	CHECK_EQ(add(&m, 0x10000, 0, 0x1000, ram_b), -EINVAL);
	CHECK_EQ(add(&m, 0xf800, 0, 0x1000, ram_b), -EINVAL);
	CHECK_EQ(add(&m, 0x10fff, 0, 0x1000, ram_b), -EINVAL);
	CHECK_EQ(add(&m, 0x8000, 0, 0x10000, ram_b), -EINVAL);
	CHECK_EQ(add(&m, 0x10800, 0, 0x10, ram_b), -EINVAL);
	/* gpa + size and uva + size may not wrap (nor end exactly at 2^64). */
	CHECK_EQ(add(&m, UINT64_MAX - 0xfff, 0, 0x2000, ram_b), -EINVAL);
	CHECK_EQ(add(&m, UINT64_MAX - 0xfff, 0, 0x1000, ram_b), -EINVAL);
	CHECK_EQ(add(&m, 0x40000, UINT64_MAX - 0x10, 0x1000, ram_b), -EINVAL);
	CHECK_EQ(add(&m, 0x40000, 0, UINT64_MAX, ram_b), -EINVAL);
	CHECK_EQ(m.nregions, 1);
	/* Touching regions on either side are fine. */
	CHECK_EQ(add(&m, 0x11000, 0x800000, 0x1000, ram_b), 0);
	CHECK_EQ(add(&m, 0xf000, 0xa00000, 0x1000, ram_c), 0);
	CHECK_EQ(m.nregions, 3);
	/* The last byte below 2^64 can never be mapped: the largest legal region ends before it. */
	CHECK_EQ(add(&m, UINT64_MAX - 0x1000, 0x700000, 0x1000, ram_c), 0);
	CHECK(vq_mem_gpa_to_hva(&m, UINT64_MAX - 1, 1) == ram_c + 0xfff);
	CHECK(vq_mem_gpa_to_hva(&m, UINT64_MAX, 1) == NULL);
	CHECK(vq_mem_gpa_to_hva(&m, UINT64_MAX - 1, 2) == NULL);

	for (i = m.nregions; i < VQ_MEM_MAX_REGIONS; i++)
		CHECK_EQ(add(&m, 0x100000 + i * 0x1000, 0, 0x1000, ram_c), 0);
	CHECK_EQ(add(&m, 0x10000000, 0, 0x1000, ram_c), -ENOSPC);
	/* Overlap is still told apart from a full table. */
	CHECK_EQ(add(&m, 0x104800, 0, 0x1000, ram_c), -EINVAL);
}

static void test_lookup(void)
{
	struct vq_mem m = {0};

	CHECK_EQ(add(&m, 0x10000, 0x900000, 0x1000, ram_a), 0);
	CHECK_EQ(add(&m, 0x11000, 0x800000, 0x1000, ram_b), 0);

	CHECK(vq_mem_gpa_to_hva(&m, 0x10000, 1) == ram_a);
	CHECK(vq_mem_gpa_to_hva(&m, 0x10000, 0x1000) == ram_a);
	CHECK(vq_mem_gpa_to_hva(&m, 0x10fff, 1) == ram_a + 0xfff);
	CHECK(vq_mem_gpa_to_hva(&m, 0x10001, 0x1000) == NULL); /* one byte over */
	CHECK(vq_mem_gpa_to_hva(&m, 0x10800, 0x1000) == NULL); /* spans two regions */
	CHECK(vq_mem_gpa_to_hva(&m, 0x11000, 4) == ram_b);
	CHECK(vq_mem_gpa_to_hva(&m, 0xffff, 1) == NULL);
	CHECK(vq_mem_gpa_to_hva(&m, 0x12000, 1) == NULL);
	CHECK(vq_mem_gpa_to_hva(&m, 0x12000, 0) == NULL);
	CHECK(vq_mem_gpa_to_hva(&m, 0x10fff, UINT64_MAX) == NULL);
	CHECK(vq_mem_gpa_to_hva(&m, UINT64_MAX, UINT64_MAX) == NULL);

	/* uva space is separate from gpa space. */
	CHECK(vq_mem_uva_to_hva(&m, 0x900000, 0x1000) == ram_a);
	CHECK(vq_mem_uva_to_hva(&m, 0x800ffc, 4) == ram_b + 0xffc);
	CHECK(vq_mem_uva_to_hva(&m, 0x800ffd, 4) == NULL);
	CHECK(vq_mem_uva_to_hva(&m, 0x10000, 1) == NULL);
	CHECK(vq_mem_uva_to_hva(&m, 0x8fffff, 2) == NULL);
	CHECK(vq_mem_uva_to_hva(&m, 0x900010, UINT64_MAX - 8) == NULL);
}

static void test_iov(void)
{
	struct vq_mem m = {0};
	struct iovec iov[4];
	unsigned cnt = 0;

	CHECK_EQ(add(&m, 0x10000, 0x900000, 0x1000, ram_a), 0);
	CHECK_EQ(add(&m, 0x11000, 0x800000, 0x1000, ram_b), 0);
	CHECK_EQ(add(&m, 0x13000, 0x700000, 0x1000, ram_c), 0); /* gap at 0x12000 */

	/* One region: one iovec, appended at *cnt. */
	cnt = 1;
	CHECK_EQ(vq_mem_gpa_to_iov(&m, 0x10010, 0x20, iov, &cnt, 4), 0);
	CHECK_EQ(cnt, 2);
	CHECK(iov[1].iov_base == ram_a + 0x10 && iov[1].iov_len == 0x20);

	/* Adjacent regions: split at the boundary. */
	cnt = 0;
	CHECK_EQ(vq_mem_gpa_to_iov(&m, 0x10ff0, 0x20, iov, &cnt, 4), 0);
	CHECK_EQ(cnt, 2);
	CHECK(iov[0].iov_base == ram_a + 0xff0 && iov[0].iov_len == 0x10);
	CHECK(iov[1].iov_base == ram_b && iov[1].iov_len == 0x10);
	/* Whole of both regions. */
	cnt = 0;
	CHECK_EQ(vq_mem_gpa_to_iov(&m, 0x10000, 0x2000, iov, &cnt, 4), 0);
	CHECK_EQ(cnt, 2);

	/* Not enough iovecs: nothing appended. */
	cnt = 3;
	CHECK_EQ(vq_mem_gpa_to_iov(&m, 0x10ff0, 0x20, iov, &cnt, 4), -ENOBUFS);
	CHECK_EQ(cnt, 3);
	/* Running into the gap, starting unmapped, wrapping. */
	cnt = 0;
	CHECK_EQ(vq_mem_gpa_to_iov(&m, 0x11ff0, 0x20, iov, &cnt, 4), -EFAULT);
	CHECK_EQ(cnt, 0);
	CHECK_EQ(vq_mem_gpa_to_iov(&m, 0x12000, 1, iov, &cnt, 4), -EFAULT);
	CHECK_EQ(vq_mem_gpa_to_iov(&m, 0x10000, 0x2001, iov, &cnt, 4), -EFAULT);
	CHECK_EQ(vq_mem_gpa_to_iov(&m, UINT64_MAX - 4, 0x10, iov, &cnt, 4), -EFAULT);
	CHECK_EQ(cnt, 0);
	/* len 0 is the caller's bug, not a mapping. */
	CHECK_EQ(vq_mem_gpa_to_iov(&m, 0x10000, 0, iov, &cnt, 4), -EINVAL);
	/* Last byte of the last region. */
	CHECK_EQ(vq_mem_gpa_to_iov(&m, 0x13fff, 1, iov, &cnt, 4), 0);
	CHECK(cnt == 1 && iov[0].iov_base == ram_c + 0xfff);
}

static void test_hva_to_gpa(void)
{
	struct vq_mem m = {0};
	uint64_t gpa = 0;

	CHECK_EQ(add(&m, 0x10000, 0x900000, sizeof(ram_a), ram_a), 0);
	CHECK_EQ(add(&m, 0x11000, 0x800000, sizeof(ram_b), ram_b), 0);
	CHECK_EQ(vq_mem_hva_to_gpa(&m, ram_a, 1, &gpa), 0);
	CHECK_EQ(gpa, 0x10000);
	CHECK_EQ(vq_mem_hva_to_gpa(&m, ram_a + 4095, 1, &gpa), 0);
	CHECK_EQ(gpa, 0x10fff);
	CHECK_EQ(vq_mem_hva_to_gpa(&m, ram_b + 16, 4080, &gpa), 0);
	CHECK_EQ(gpa, 0x11010);
	/* One byte past a region's end, a range running out of it, memory not in the table. */
	CHECK_EQ(vq_mem_hva_to_gpa(&m, ram_a + 4095, 2, &gpa), -EFAULT);
	CHECK_EQ(vq_mem_hva_to_gpa(&m, ram_b + 16, 4081, &gpa), -EFAULT);
	CHECK_EQ(vq_mem_hva_to_gpa(&m, ram_c, 1, &gpa), -EFAULT);
	CHECK_EQ(vq_mem_hva_to_gpa(&m, ram_a, UINT64_MAX, &gpa), -EFAULT);
}

/*
 * A full table added in scrambled order (as hotplug may): every region is
 * found at its first and last byte, the gaps between them are not, and
 * removal needs gpa, uva and size to match.
 */
static void test_many(void)
{
	static struct vq_mem m;
	static char ram[VQ_MEM_MAX_REGIONS][64];
	struct vq_mem_region gone;
	unsigned i;

	for (i = 0; i < VQ_MEM_MAX_REGIONS; i++) {
		/* 0x1000-spaced slots, 64 bytes used in each: a gap after every region. */
		unsigned k = (i * 211) % VQ_MEM_MAX_REGIONS; /* 211 is coprime to 509 */

		CHECK_EQ(add(&m, 0x1000ull * k, 0x70000000ull + 0x1000ull * k, 64, ram[k]), 0);
	}
	CHECK_EQ(m.nregions, VQ_MEM_MAX_REGIONS);
	for (i = 1; i < m.nregions; i++)
		CHECK(m.regions[i - 1].gpa < m.regions[i].gpa);
	for (i = 0; i < VQ_MEM_MAX_REGIONS; i++) {
		CHECK(vq_mem_gpa_to_hva(&m, 0x1000ull * i, 1) == ram[i]);
		CHECK(vq_mem_gpa_to_hva(&m, 0x1000ull * i + 63, 1) == ram[i] + 63);
		CHECK(vq_mem_gpa_to_hva(&m, 0x1000ull * i + 64, 1) == NULL);
		CHECK(vq_mem_gpa_to_hva(&m, 0x1000ull * i + 32, 64) == NULL);
		CHECK(vq_mem_uva_to_hva(&m, 0x70000000ull + 0x1000ull * i + 8, 8) == ram[i] + 8);
	}
	/* Removal: gpa, uva and size must all match. */
	CHECK_EQ(vq_mem_remove(&m, 0x5000, 0x70005000, 32, &gone), -ENOENT);
	CHECK_EQ(vq_mem_remove(&m, 0x5000, 0x70006000, 64, &gone), -ENOENT);
	CHECK_EQ(vq_mem_remove(&m, 0x5010, 0x70005010, 48, &gone), -ENOENT);
	CHECK_EQ(vq_mem_remove(&m, 0x5000, 0x70005000, 64, &gone), 0);
	CHECK(gone.hva == ram[5]);
	CHECK_EQ(m.nregions, VQ_MEM_MAX_REGIONS - 1);
	CHECK(vq_mem_gpa_to_hva(&m, 0x5000, 1) == NULL);
	CHECK(vq_mem_gpa_to_hva(&m, 0x4000, 1) == ram[4]);
	CHECK(vq_mem_gpa_to_hva(&m, 0x6000, 1) == ram[6]);
	CHECK_EQ(vq_mem_remove(&m, 0x5000, 0x70005000, 64, &gone), -ENOENT);
	/* The slot is free again, and a bigger region fits where the small one was. */
	CHECK_EQ(add(&m, 0x5000, 0x90000000, 0x1000, ram[5]), 0);
	CHECK(vq_mem_gpa_to_hva(&m, 0x5fff, 1) == ram[5] + 0xfff);
	/* First and last. */
	CHECK_EQ(vq_mem_remove(&m, 0, 0x70000000, 64, &gone), 0);
	CHECK_EQ(vq_mem_remove(&m, 0x1000ull * (VQ_MEM_MAX_REGIONS - 1),
			       0x70000000ull + 0x1000ull * (VQ_MEM_MAX_REGIONS - 1), 64, &gone),
		 0);
	CHECK(vq_mem_gpa_to_hva(&m, 0, 1) == NULL);
	CHECK(vq_mem_gpa_to_hva(&m, 0x1000, 1) == ram[1]);
}

int main(void)
{
	test_add();
	test_many();
	test_lookup();
	test_iov();
	test_hva_to_gpa();
	return 0;
}
