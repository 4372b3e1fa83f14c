/* SPDX-License-Identifier: MIT */
/*
 * vq_dev_map_areas on a split ring: each ring area, event fields included,
 * must lie wholly inside one region and be aligned (§2.7 "Alignment");
 * vq_dev_start_areas reads used->idx and takes base as last_avail_idx.
 */
#include "fake_driver.h"
#include "test.h"

#include <errno.h>

static struct fake_drv d;
static struct virtq_desc *desc;
static struct virtq_avail *avail;
static struct virtq_used *used;

/* vq_dev_map_areas on a split ring of num entries (0: a zeroed vq); sets desc/avail/used. */
static int map(unsigned num, uint64_t desc_uva, uint64_t avail_uva, uint64_t used_uva)
{
	struct vq_dev vq = {0};
	struct vq_dev_areas a;
	int ret = 0;

	if (num)
		ret = vq_dev_init_ring(&vq, num, false);
	if (!ret)
		ret = vq_dev_map_areas(&vq, &d.m.mem, desc_uva, avail_uva, used_uva, &a);
	vq_dev_fini(&vq);
	if (!ret) {
		desc = a.desc;
		avail = a.driver;
		used = a.device;
	}
	return ret;
}

int main(void)
{
	struct vq_dev_areas a;
	const uint64_t u = FAKE_UVA_BASE, half = FAKE_MEM_SIZE / 2;
	const unsigned num = 256;

	fake_init(&d, num, 2);

	CHECK_EQ(map(num, u, u + 0x1000, u + 0x2000), 0);
	CHECK(desc == (void *)d.m.map && (uint8_t *)avail == d.m.map + 0x1000);
	CHECK((uint8_t *)used == d.m.map + 0x2000);

	/* Misaligned: desc 16, avail 2, used 4. */
	CHECK_EQ(map(num, u + 8, u + 0x1000, u + 0x2000), -EINVAL);
	CHECK_EQ(map(num, u, u + 0x1001, u + 0x2000), -EINVAL);
	CHECK_EQ(map(num, u, u + 0x1000, u + 0x2002), -EINVAL);
	/* Not mapped at all (a gpa is not a uva). */
	CHECK_EQ(map(num, FAKE_GPA_BASE, u + 0x1000, u + 0x2000), -EFAULT);
	/* Areas running off the end of region 0 by their last (event) field. */
	CHECK_EQ(map(num, u, u + half - virtq_avail_size(num) + 2, u + 0x2000), -EFAULT);
	CHECK_EQ(map(num, u, u + 0x1000, u + half - virtq_used_size(num) + 2), -EFAULT);
	CHECK_EQ(map(num, u, u + 0x1000, u + half - virtq_used_size(num) - 2), 0);
	CHECK_EQ(map(num, u + half - 16 * 128, u + 0x1000, u + 0x2000), -EFAULT);
	/* Bad sizes. */
	CHECK_EQ(map(0, u, u + 0x1000, u + 0x2000), -EINVAL);
	CHECK_EQ(map(65536, u, u + 0x1000, u + 0x2000), -EINVAL);

	/* init: power of two up to VQ_DEV_MAX_SIZE. */
	CHECK_EQ(vq_dev_init_ring(&d.vq, 0, false), -EINVAL);
	CHECK_EQ(vq_dev_init_ring(&d.vq, 6, false), -EINVAL);
	CHECK_EQ(vq_dev_init_ring(&d.vq, VQ_DEV_MAX_SIZE * 2, false), -EINVAL);
	vq_dev_fini(&d.vq); /* zeroed vq */

	/* start: last_avail_idx = base, used_idx from the ring (a reconnect). */
	d.vq.event_idx = true; /* set before init: init must keep it */
	CHECK_EQ(vq_dev_init_ring(&d.vq, num, false), 0);
	CHECK(d.vq.event_idx);
	CHECK_EQ(map(num, u, u + 0x1000, u + 0x2000), 0);
	used->idx = vblk_cpu_to_le16(4321);
	avail->idx = vblk_cpu_to_le16(4325);
	a = (struct vq_dev_areas){desc, avail, NULL};
	CHECK_EQ(vq_dev_start_areas(&d.vq, &d.m.mem, &a, 4323), -EINVAL);
	a.device = used;
	CHECK_EQ(vq_dev_start_areas(&d.vq, &d.m.mem, &a, 4323), 0);
	CHECK_EQ(d.vq.last_avail_idx, 4323);
	CHECK_EQ(d.vq.used_idx, 4321);
	CHECK_EQ(d.vq.inflight, 0);
	CHECK(!d.vq.broken);
	vq_dev_fini(&d.vq);
	vq_dev_fini(&d.vq); /* twice is fine */
	vq_dev_fini(NULL);

	fake_fini(&d);
	return 0;
}
