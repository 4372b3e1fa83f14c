/* SPDX-License-Identifier: MIT */
/*
 * A buffer that crosses the boundary between two gpa-adjacent regions
 * (mapped at unrelated host addresses) becomes two iovecs, each pointing
 * into the right mapping; with one iovec to spare the chain does not fit.
 */
#include "fake_driver.h"
#include "test.h"

#include <errno.h>

int main(void)
{
	struct fake_drv d;
	struct vq_dev_elem e;
	struct iovec iov[4];
	uint64_t edge, hdr;
	uint8_t *p;
	unsigned i;

	fake_init(&d, 4, 2);
	CHECK_EQ(fake_start(&d, false, false), 0);

	/* 64 bytes before the boundary, 192 after; driver writes a pattern. */
	edge = fake_mem_region1_gpa(&d.m);
	hdr = fake_mem_alloc(&d.m, 16);
	memset(fake_mem_ptr(&d.m, hdr), 0x11, 16);
	p = fake_mem_ptr(&d.m, edge - 64);
	for (i = 0; i < 256; i++)
		p[i] = (uint8_t)i;
	fake_set_desc(d.desc, 0, hdr, 16, VIRTQ_DESC_F_NEXT, 1);
	fake_set_desc(d.desc, 1, edge - 64, 256, VIRTQ_DESC_F_WRITE, 0);
	fake_publish(&d, 0);

	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 4), 1);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 2);
	CHECK_EQ(e.in_len, 256);
	CHECK(iov[1].iov_base == fake_mem_dev_ptr(&d.m, edge - 64) && iov[1].iov_len == 64);
	CHECK(iov[2].iov_base == fake_mem_dev_ptr(&d.m, edge) && iov[2].iov_len == 192);
	/* The second iovec is not the driver's mapping, yet shows the same bytes. */
	CHECK(iov[2].iov_base != fake_mem_ptr(&d.m, edge));
	CHECK(((uint8_t *)iov[1].iov_base)[0] == 0 && ((uint8_t *)iov[1].iov_base)[63] == 63);
	CHECK(((uint8_t *)iov[2].iov_base)[0] == 64 && ((uint8_t *)iov[2].iov_base)[191] == 255);
	/* And what the device writes there the driver sees. */
	((uint8_t *)iov[2].iov_base)[5] = 0xee;
	CHECK(p[64 + 5] == 0xee);
	vq_dev_push(&d.vq, 0, 256);
	CHECK_EQ(fake_used_idx(&d), 1);

	/* Same chain, only 2 iovecs allowed: does not fit, the queue breaks. */
	fake_publish(&d, 0);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 2), -EIO);
	CHECK(d.vq.broken);
	CHECK_EQ(d.vq.last_avail_idx, 1);

	fake_fini(&d);
	return 0;
}
