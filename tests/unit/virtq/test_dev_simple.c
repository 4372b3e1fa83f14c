/* SPDX-License-Identifier: MIT */
/*
 * Well-formed buffers on either layout (argv[1]: split|packed), one and two
 * regions, ring sizes 8 and 16 and, packed only (§2.8 needs no power of
 * two), 6 and 7: pop
 * returns the driver's buffers as iovecs (right pointers into the device's
 * mapping, right lengths and bytes, readable part first), an empty ring pops
 * nothing, push makes id and len visible to the driver one element at a
 * time and out of order, a completed id can be made available again, and
 * with two regions a buffer that crosses the boundary becomes two iovecs.
 */
#include "fake_ring.h"
#include "test.h"

static struct fake_ring r;

static void check_iov(const struct iovec *iov, uint64_t gpa, size_t len)
{
	CHECK(iov->iov_base == fake_mem_dev_ptr(r.m, gpa));
	CHECK_EQ(iov->iov_len, len);
}

static void expect_used(uint16_t want_id, uint32_t want_len)
{
	uint16_t id;
	uint32_t len;

	fr_expect_used(&r, want_id, want_len);
	/* One element per push: nothing else became visible. */
	CHECK_EQ(fr_get_used(&r, &id, &len), 0);
}

static void run(bool packed, unsigned num, unsigned nregions)
{
	struct vq_dev_elem e;
	struct iovec iov[8];
	uint64_t hdr, data, status, one;
	uint16_t a = 3, b = (uint16_t)(num - 1), id;
	uint32_t len;

	fr_init(&r, packed, num, nregions);
	CHECK_EQ(fr_start(&r, false, false), 0);

	/* Nothing available. */
	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, 8), 0);

	/* A block-request shaped buffer: 16-byte header, 512 writable, 1 status. */
	hdr = fake_mem_alloc(r.m, 16);
	data = fake_mem_alloc(r.m, 512);
	status = fake_mem_alloc(r.m, 1);
	memcpy(fake_mem_ptr(r.m, hdr), "header-bytes-16!", 16);
	memset(fake_mem_ptr(r.m, data), 0xab, 512);
	struct fake_seg req[] = {{hdr, 16, false}, {data, 512, true}, {status, 1, true}};
	fr_add(&r, a, req, 3);
	/* A one-descriptor buffer, made available before the device looks. */
	one = fake_mem_alloc(r.m, 100);
	memset(fake_mem_ptr(r.m, one), 0x5a, 100);
	struct fake_seg s1[] = {{one, 100, false}};
	fr_add(&r, b, s1, 1);

	memset(&e, 0, sizeof(e));
	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, 8), 1);
	CHECK_EQ(e.head, a);
	CHECK(e.iov == iov);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 2);
	CHECK_EQ(e.out_len, 16);
	CHECK_EQ(e.in_len, 513);
	check_iov(&iov[0], hdr, 16);
	check_iov(&iov[1], data, 512);
	check_iov(&iov[2], status, 1);
	CHECK(memcmp(iov[0].iov_base, "header-bytes-16!", 16) == 0);
	CHECK(((uint8_t *)iov[1].iov_base)[511] == 0xab);
	CHECK_EQ(r.vq->inflight, 1);
	/* The device moved past exactly this buffer. */
	CHECK_EQ(fr_avail_ahead(&r), fr_units(&r, 1, false));

	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, 8), 1);
	CHECK_EQ(e.head, b);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 0);
	CHECK_EQ(e.out_len, 100);
	CHECK_EQ(e.in_len, 0);
	check_iov(&iov[0], one, 100);
	CHECK(((uint8_t *)iov[0].iov_base)[99] == 0x5a);
	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, 8), 0);
	CHECK_EQ(r.vq->inflight, 2);
	CHECK_EQ(fr_avail_ahead(&r), 0);

	/* Complete out of order; the driver sees each element as it is pushed. */
	CHECK_EQ(fr_get_used(&r, &id, &len), 0);
	vq_dev_push(r.vq, b, 0);
	expect_used(b, 0);
	vq_dev_push(r.vq, a, 513);
	expect_used(a, 513);
	CHECK_EQ(r.vq->inflight, 0);
	CHECK_EQ(fr_used_ahead(&r), 0);

	/* a was used, so the driver may make it available again. */
	fr_add(&r, a, s1, 1);
	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, 8), 1);
	CHECK_EQ(e.head, a);
	vq_dev_push(r.vq, a, 1);
	expect_used(a, 1);

	/* Two regions: a buffer spanning the boundary becomes two iovecs. */
	if (nregions == 2) {
		uint64_t edge = fake_mem_region1_gpa(r.m) - 8;
		struct fake_seg sp[] = {{edge, 24, true}};

		fr_add(&r, b, sp, 1);
		CHECK_EQ(vq_dev_pop(r.vq, &e, iov, 8), 1);
		CHECK_EQ(e.in_num, 2);
		CHECK_EQ(e.in_len, 24);
		check_iov(&iov[0], edge, 8);
		check_iov(&iov[1], edge + 8, 16);
		vq_dev_push(r.vq, b, 24);
		expect_used(b, 24);
	}
	CHECK(!r.vq->broken);
	fr_fini(&r);
}

int main(int argc, char **argv)
{
	bool packed = fr_layout(argc > 1 ? argv[1] : NULL);

	run(packed, 8, 1);
	run(packed, 8, 2);
	run(packed, 16, 1);
	if (packed) {
		run(packed, 6, 1);
		run(packed, 7, 2);
	}
	return 0;
}
