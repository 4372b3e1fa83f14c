/* SPDX-License-Identifier: MIT */
/*
 * vq_dev_map_rings: each ring area, event fields included, must lie wholly
 * inside one region and be aligned (§2.7 "Alignment"); vq_dev_start reads
 * used->idx and takes base as last_avail_idx.
 */
#include "fake_driver.h"
#include "test.h"

#include <errno.h>

int main(void)
{
	struct fake_drv d;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	const uint64_t u = FAKE_UVA_BASE, half = FAKE_MEM_SIZE / 2;
	const unsigned num = 256;

	fake_init(&d, num, 2);

	CHECK_EQ(vq_dev_map_rings(&d.mem, num, u, u + 0x1000, u + 0x2000, &desc, &avail, &used), 0);
	CHECK(desc == (void *)d.map && (uint8_t *)avail == d.map + 0x1000);
	CHECK((uint8_t *)used == d.map + 0x2000);

	/* Misaligned: desc 16, avail 2, used 4. */
	CHECK_EQ(vq_dev_map_rings(&d.mem, num, u + 8, u + 0x1000, u + 0x2000, &desc, &avail, &used),
		 -EINVAL);
	CHECK_EQ(vq_dev_map_rings(&d.mem, num, u, u + 0x1001, u + 0x2000, &desc, &avail, &used),
		 -EINVAL);
	CHECK_EQ(vq_dev_map_rings(&d.mem, num, u, u + 0x1000, u + 0x2002, &desc, &avail, &used),
		 -EINVAL);
	/* Not mapped at all (a gpa is not a uva). */
	CHECK_EQ(vq_dev_map_rings(&d.mem, num, FAKE_GPA_BASE, u + 0x1000, u + 0x2000, &desc, &avail,
				  &used),
		 -EFAULT);
	/* Areas running off the end of region 0 by their last (event) field. */
	CHECK_EQ(vq_dev_map_rings(&d.mem, num, u, u + half - virtq_avail_size(num) + 2, u + 0x2000,
				  &desc, &avail, &used),
		 -EFAULT);
	CHECK_EQ(vq_dev_map_rings(&d.mem, num, u, u + 0x1000, u + half - virtq_used_size(num) + 2,
				  &desc, &avail, &used),
		 -EFAULT);
	CHECK_EQ(vq_dev_map_rings(&d.mem, num, u, u + 0x1000, u + half - virtq_used_size(num) - 2,
				  &desc, &avail, &used),
		 0);
	CHECK_EQ(vq_dev_map_rings(&d.mem, num, u + half - 16 * 128, u + 0x1000, u + 0x2000, &desc,
				  &avail, &used),
		 -EFAULT);
	/* Bad sizes. */
	CHECK_EQ(vq_dev_map_rings(&d.mem, 0, u, u + 0x1000, u + 0x2000, &desc, &avail, &used),
		 -EINVAL);
	CHECK_EQ(vq_dev_map_rings(&d.mem, 65536, u, u + 0x1000, u + 0x2000, &desc, &avail, &used),
		 -EINVAL);

	/* init: power of two up to VQ_DEV_MAX_SIZE. */
	CHECK_EQ(vq_dev_init(&d.vq, 0), -EINVAL);
	CHECK_EQ(vq_dev_init(&d.vq, 6), -EINVAL);
	CHECK_EQ(vq_dev_init(&d.vq, VQ_DEV_MAX_SIZE * 2), -EINVAL);
	vq_dev_fini(&d.vq); /* zeroed vq */

	/* start: last_avail_idx = base, used_idx from the ring (a reconnect). */
	d.vq.event_idx = true; /* set before init: init must keep it */
	CHECK_EQ(vq_dev_init(&d.vq, num), 0);
	CHECK(d.vq.event_idx);
	CHECK_EQ(vq_dev_map_rings(&d.mem, num, u, u + 0x1000, u + 0x2000, &desc, &avail, &used), 0);
	used->idx = vblk_cpu_to_le16(4321);
	avail->idx = vblk_cpu_to_le16(4325);
	CHECK_EQ(vq_dev_start(&d.vq, &d.mem, desc, avail, NULL, 4323), -EINVAL);
	CHECK_EQ(vq_dev_start(&d.vq, &d.mem, desc, avail, used, 4323), 0);
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
