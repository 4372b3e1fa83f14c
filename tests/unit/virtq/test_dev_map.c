/* SPDX-License-Identifier: MIT */
/*
 * Ring setup on either layout (argv[1]: split|packed): vq_dev_init_ring
 * takes sizes 1..VQ_DEV_MAX_SIZE (split: powers of two only, §2.7; packed:
 * any, §2.8) and keeps event_idx; vq_dev_map_areas finds the three areas
 * through the front end's addresses, and refuses each area when misaligned
 * (§2.7 "Alignment", §2.8.10.1), unmapped, or running off the end of its
 * region by its last bytes, and a zeroed vq; vq_dev_start_areas refuses a
 * missing or misaligned area; vq_dev_fini may be called twice and on NULL.
 */
#include "fake_ring.h"
#include "test.h"

#include <errno.h>

#define NUM 256

static struct fake_ring r;
static const uint64_t U = FAKE_UVA_BASE;

/* vq_dev_map_areas on a scratch vq of num entries (0: a zeroed vq), area i at uva. */
static int map_one(unsigned num, unsigned i, uint64_t uva, struct vq_dev_areas *a)
{
	struct vq_dev vq = {0};
	uint64_t at[3];
	unsigned off, align;
	size_t size;
	int ret = 0;

	for (unsigned k = 0; k < 3; k++) {
		fr_area(&r, k, &off, &size, &align);
		at[k] = U + off;
	}
	if (i < 3)
		at[i] = uva;
	if (num)
		ret = vq_dev_init_ring(&vq, num, r.packed);
	if (!ret)
		ret = vq_dev_map_areas(&vq, &r.m->mem, at[0], at[1], at[2], a);
	vq_dev_fini(&vq);
	return ret;
}

static int map(unsigned i, uint64_t uva)
{
	struct vq_dev_areas a;

	return map_one(NUM, i, uva, &a);
}

int main(int argc, char **argv)
{
	const uint64_t half = FAKE_MEM_SIZE / 2;
	struct vq_dev_areas a;
	unsigned off, align;
	size_t size;

	fr_init(&r, fr_layout(argc > 1 ? argv[1] : NULL), NUM, 2);

	/* The areas where the driver put them, as the driver's pointers. */
	CHECK_EQ(map_one(NUM, 3, 0, &a), 0);
	fr_area(&r, 0, &off, &size, &align);
	CHECK(a.desc == r.m->map + off);
	fr_area(&r, 1, &off, &size, &align);
	CHECK(a.driver == r.m->map + off);
	fr_area(&r, 2, &off, &size, &align);
	CHECK(a.device == r.m->map + off);

	for (unsigned i = 0; i < 3; i++) {
		fr_area(&r, i, &off, &size, &align);
		/* Misaligned by half its alignment. */
		CHECK_EQ(map(i, U + off + align / 2), -EINVAL);
		/* Not mapped at all (a gpa is not a uva). */
		CHECK_EQ(map(i, FAKE_GPA_BASE + off), -EFAULT);
		/* Ending exactly at the end of region 0 is fine ... */
		CHECK_EQ(map(i, U + ((half - size) & ~(uint64_t)(align - 1))), 0);
		/* ... one aligned step further runs off it (region 1 is elsewhere in uva). */
		CHECK_EQ(map(i, U + ((half - size + align) & ~(uint64_t)(align - 1))), -EFAULT);
	}
	/* A zeroed vq and sizes no ring may have. */
	CHECK_EQ(map_one(0, 3, 0, &a), -EINVAL);
	CHECK_EQ(map_one(VQ_DEV_MAX_SIZE + 1, 3, 0, &a), -EINVAL);

	/* init: 1..VQ_DEV_MAX_SIZE, split only powers of two. */
	CHECK_EQ(vq_dev_init_ring(r.vq, 0, r.packed), -EINVAL);
	CHECK_EQ(vq_dev_init_ring(r.vq, VQ_DEV_MAX_SIZE * 2, r.packed), -EINVAL);
	CHECK_EQ(vq_dev_init_ring(r.vq, 6, r.packed), r.packed ? 0 : -EINVAL);
	vq_dev_fini(r.vq);
	CHECK_EQ(vq_dev_init_ring(r.vq, VQ_DEV_MAX_SIZE, r.packed), 0);
	CHECK_EQ(r.vq->num, VQ_DEV_MAX_SIZE);
	CHECK_EQ(r.vq->packed, r.packed);
	vq_dev_fini(r.vq);
	CHECK(!r.vq->packed);
	vq_dev_fini(r.vq); /* a zeroed vq */

	/* start: every area must be there and aligned; init keeps event_idx. */
	r.vq->event_idx = true;
	CHECK_EQ(vq_dev_init_ring(r.vq, NUM, r.packed), 0);
	CHECK(r.vq->event_idx);
	CHECK_EQ(map_one(NUM, 3, 0, &a), 0);
	struct vq_dev_areas bad = {a.desc, a.driver, NULL};
	CHECK_EQ(vq_dev_start_areas(r.vq, &r.m->mem, &bad, 0), -EINVAL);
	bad = (struct vq_dev_areas){(uint8_t *)a.desc + 8, a.driver, a.device};
	CHECK_EQ(vq_dev_start_areas(r.vq, &r.m->mem, &bad, 0), -EINVAL);
	CHECK_EQ(vq_dev_start_areas(r.vq, &r.m->mem, &a, r.packed ? VQ_PACKED_BASE_INIT : 0), 0);
	CHECK_EQ(r.vq->inflight, 0);
	CHECK_EQ(vq_dev_resubmit_pending(r.vq), 0);
	CHECK(!r.vq->broken);
	vq_dev_fini(r.vq);
	vq_dev_fini(r.vq); /* twice is fine */
	vq_dev_fini(NULL);

	fr_fini(&r);
	return 0;
}
