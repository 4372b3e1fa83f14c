/* SPDX-License-Identifier: MIT */
/*
 * What a split ring's start takes (vhost-user SET_VRING_BASE; test_dev_map
 * covers the checks both layouts share): the base is the next avail index
 * and must fit 16 bits, used_idx is read from used->idx (a reconnect finds
 * the ring where the driver left it), and nothing is in flight.
 */
#include "fake_driver.h"
#include "test.h"

#include <errno.h>

#define NUM 256

int main(void)
{
	static struct fake_drv d;
	static const unsigned off[3] = {FAKE_DESC_OFF, FAKE_AVAIL_OFF, FAKE_USED_OFF};
	struct vq_dev_areas a;

	fake_init(&d, NUM, 1);
	CHECK_EQ(vq_dev_init_ring(&d.vq, NUM, false), 0);
	CHECK_EQ(vq_dev_map_areas(&d.vq, &d.m.mem, FAKE_UVA_BASE + off[0], FAKE_UVA_BASE + off[1],
				  FAKE_UVA_BASE + off[2], &a),
		 0);
	CHECK_EQ(vq_dev_start_areas(&d.vq, &d.m.mem, &a, 0x10000), -EINVAL);

	d.used->idx = vblk_cpu_to_le16(4321);
	d.avail->idx = vblk_cpu_to_le16(4325);
	CHECK_EQ(vq_dev_start_areas(&d.vq, &d.m.mem, &a, 4323), 0);
	CHECK_EQ(d.vq.last_avail_idx, 4323);
	CHECK_EQ(d.vq.used_idx, 4321);
	CHECK_EQ(vq_dev_get_base(&d.vq), 4323);
	CHECK_EQ(d.vq.inflight, 0);
	CHECK(!d.vq.broken);
	fake_fini(&d);
	return 0;
}
