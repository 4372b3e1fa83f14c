/* SPDX-License-Identifier: MIT */
/*
 * Direct chains: pop returns the driver's buffers as iovecs (right pointers,
 * right bytes, readable part first), push makes id/len/idx visible to the
 * driver, and an empty ring pops nothing.
 */
#include "fake_driver.h"
#include "test.h"

#include <errno.h>

int main(void)
{
	struct fake_drv d;
	struct vq_dev_elem elem;
	struct iovec iov[8];
	uint64_t hdr, data, status, one;
	uint32_t id, len;

	fake_init(&d, 16, 1);
	CHECK_EQ(fake_start(&d, false, false), 0);

	/* Nothing available. */
	CHECK_EQ(vq_dev_pop(&d.vq, &elem, iov, 8), 0);

	/* A block-request shaped chain: 16-byte header, 512 writable, 1 status; heads 3 -> 9 -> 0.
	 */
	hdr = fake_mem_alloc(&d.m, 16);
	data = fake_mem_alloc(&d.m, 512);
	status = fake_mem_alloc(&d.m, 1);
	memcpy(fake_mem_ptr(&d.m, hdr), "header-bytes-16!", 16);
	memset(fake_mem_ptr(&d.m, data), 0xab, 512);
	fake_set_desc(d.desc, 3, hdr, 16, VIRTQ_DESC_F_NEXT, 9);
	fake_set_desc(d.desc, 9, data, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
	fake_set_desc(d.desc, 0, status, 1, VIRTQ_DESC_F_WRITE, 0);
	fake_publish(&d, 3);

	/* A one-descriptor chain, published in the same batch. */
	one = fake_mem_alloc(&d.m, 100);
	memset(fake_mem_ptr(&d.m, one), 0x5a, 100);
	fake_set_desc(d.desc, 7, one, 100, 0, 0);
	fake_publish(&d, 7);

	memset(&elem, 0, sizeof(elem));
	CHECK_EQ(vq_dev_pop(&d.vq, &elem, iov, 8), 1);
	CHECK_EQ(elem.head, 3);
	CHECK(elem.iov == iov);
	CHECK_EQ(elem.out_num, 1);
	CHECK_EQ(elem.in_num, 2);
	CHECK_EQ(elem.out_len, 16);
	CHECK_EQ(elem.in_len, 513);
	CHECK(iov[0].iov_base == fake_mem_ptr(&d.m, hdr) && iov[0].iov_len == 16);
	CHECK(iov[1].iov_base == fake_mem_ptr(&d.m, data) && iov[1].iov_len == 512);
	CHECK(iov[2].iov_base == fake_mem_ptr(&d.m, status) && iov[2].iov_len == 1);
	CHECK(memcmp(iov[0].iov_base, "header-bytes-16!", 16) == 0);
	CHECK(((uint8_t *)iov[1].iov_base)[511] == 0xab);
	CHECK_EQ(d.vq.inflight, 1);
	CHECK_EQ(d.vq.last_avail_idx, 1);

	CHECK_EQ(vq_dev_pop(&d.vq, &elem, iov, 8), 1);
	CHECK_EQ(elem.head, 7);
	CHECK_EQ(elem.out_num, 1);
	CHECK_EQ(elem.in_num, 0);
	CHECK_EQ(elem.out_len, 100);
	CHECK_EQ(elem.in_len, 0);
	CHECK(iov[0].iov_base == fake_mem_ptr(&d.m, one) &&
	      ((uint8_t *)iov[0].iov_base)[99] == 0x5a);
	CHECK_EQ(vq_dev_pop(&d.vq, &elem, iov, 8), 0);
	CHECK_EQ(d.vq.inflight, 2);

	/* Complete out of order; the driver sees each element before idx moves. */
	CHECK_EQ(fake_used_idx(&d), 0);
	vq_dev_push(&d.vq, 7, 0);
	CHECK_EQ(fake_used_idx(&d), 1);
	fake_used_elem(&d, 0, &id, &len);
	CHECK_EQ(id, 7);
	CHECK_EQ(len, 0);
	vq_dev_push(&d.vq, 3, 513);
	CHECK_EQ(fake_used_idx(&d), 2);
	fake_used_elem(&d, 1, &id, &len);
	CHECK_EQ(id, 3);
	CHECK_EQ(len, 513);
	CHECK_EQ(d.vq.inflight, 0);
	CHECK_EQ(d.vq.used_idx, 2);

	/* Head 3 was used, so the driver may make it available again. */
	fake_publish(&d, 3);
	CHECK_EQ(vq_dev_pop(&d.vq, &elem, iov, 8), 1);
	CHECK_EQ(elem.head, 3);
	vq_dev_push(&d.vq, 3, 1);
	CHECK_EQ(fake_used_idx(&d), 3);
	CHECK(!d.vq.broken);

	fake_fini(&d);
	return 0;
}
