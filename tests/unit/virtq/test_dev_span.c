/* SPDX-License-Identifier: MIT */
/*
 * Guest memory in two gpa-adjacent regions mapped at unrelated host
 * addresses, on either layout (argv[1]: split|packed): a buffer that crosses
 * the boundary becomes two iovecs, each pointing into the right mapping,
 * with the driver's bytes and writes that the driver sees; with one iovec
 * too few the buffer does not fit, the queue breaks and nothing is consumed.
 */
#include "fake_ring.h"
#include "test.h"

#include <errno.h>

int main(int argc, char **argv)
{
	static struct fake_ring r;
	struct vq_dev_elem e;
	struct iovec iov[4];
	uint64_t edge, hdr;
	uint8_t *p;
	unsigned i;

	fr_init(&r, fr_layout(argc > 1 ? argv[1] : NULL), 4, 2);
	CHECK_EQ(fr_start(&r, false, false), 0);

	/* 64 bytes before the boundary, 192 after; the driver writes a pattern. */
	edge = fake_mem_region1_gpa(r.m);
	hdr = fake_mem_alloc(r.m, 16);
	memset(fake_mem_ptr(r.m, hdr), 0x11, 16);
	p = fake_mem_ptr(r.m, edge - 64);
	for (i = 0; i < 256; i++)
		p[i] = (uint8_t)i;
	struct fake_seg s[] = {{hdr, 16, false}, {edge - 64, 256, true}};
	fr_add(&r, 0, s, 2);

	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, 4), 1);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 2);
	CHECK_EQ(e.in_len, 256);
	CHECK(iov[1].iov_base == fake_mem_dev_ptr(r.m, edge - 64) && iov[1].iov_len == 64);
	CHECK(iov[2].iov_base == fake_mem_dev_ptr(r.m, edge) && iov[2].iov_len == 192);
	/* The second iovec is not the driver's mapping, yet shows the same bytes. */
	CHECK(iov[2].iov_base != fake_mem_ptr(r.m, edge));
	CHECK(((uint8_t *)iov[1].iov_base)[0] == 0 && ((uint8_t *)iov[1].iov_base)[63] == 63);
	CHECK(((uint8_t *)iov[2].iov_base)[0] == 64 && ((uint8_t *)iov[2].iov_base)[191] == 255);
	/* And what the device writes there the driver sees. */
	((uint8_t *)iov[2].iov_base)[5] = 0xee;
	CHECK(p[64 + 5] == 0xee);
	vq_dev_push(r.vq, 0, 256);
	fr_expect_used(&r, 0, 256);

	/* The same buffer with only 2 iovecs allowed: it does not fit, the queue breaks. */
	fr_add(&r, 0, s, 2);
	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, 2), -EIO);
	CHECK(r.vq->broken);
	CHECK_EQ(fr_avail_ahead(&r), fr_units(&r, 2, false));
	CHECK_EQ(r.vq->inflight, 0);

	fr_fini(&r);
	return 0;
}
