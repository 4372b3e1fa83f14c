/* SPDX-License-Identifier: MIT */
/*
 * Well-formed packed buffers, one and two regions, power-of-two and odd ring
 * sizes: a single readable descriptor, readable + writable lists, a list that
 * runs past the end of the ring (wrap counter toggles mid-list), the buffer
 * ID taken from the last descriptor (§2.8.6), used elements written at the
 * device's used position with AVAIL = USED = device wrap counter and WRITE
 * exactly when len > 0 (§2.8.1, §2.8.4), skipping the list's other slots, and
 * out-of-order completion.
 */
#include "fake_packed.h"
#include "test.h"

#include <errno.h>

static void check_iov(struct fakep *d, const struct iovec *iov, uint64_t gpa, size_t len)
{
	CHECK(iov->iov_base == fake_mem_dev_ptr(&d->m, gpa));
	CHECK_EQ(iov->iov_len, len);
}

static void run(unsigned num, unsigned nregions)
{
	struct fakep d;
	struct vq_dev_elem e;
	struct iovec iov[8];
	uint16_t id, fl, pos;
	uint32_t len;

	fakep_init(&d, num, nregions);
	CHECK_EQ(fakep_start(&d, false, false), 0);
	CHECK_EQ(vq_dev_get_base(&d.vq), VQ_PACKED_BASE_INIT);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 0);

	/* One readable descriptor. */
	uint64_t a = fake_mem_alloc(&d.m, 32);
	struct fakep_seg s1[] = {{a, 32, false}};
	fakep_add(&d, s1, 1, 2);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 1);
	CHECK_EQ(e.head, 2);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 0);
	CHECK_EQ(e.out_len, 32);
	CHECK_EQ(e.in_len, 0);
	check_iov(&d, &iov[0], a, 32);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 0);
	vq_dev_push(&d.vq, 2, 0);
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	CHECK_EQ(id, 2);
	CHECK(!(fl & FP_W)); /* nothing written */
	CHECK_EQ(fl & (FP_AVAIL | FP_USED), FP_AVAIL | FP_USED);

	/* Header + data + status, and a second buffer, completed in reverse. */
	uint64_t h = fake_mem_alloc(&d.m, 16), dt = fake_mem_alloc(&d.m, 512),
		 st = fake_mem_alloc(&d.m, 1);
	struct fakep_seg s3[] = {{h, 16, false}, {dt, 512, true}, {st, 1, true}};
	uint16_t first = fakep_add(&d, s3, 3, 0);
	CHECK_EQ(first, 1);
	/* The ID in the last descriptor wins (§2.8.6); the others carry garbage. */
	d.desc[1].id = vblk_cpu_to_le16(0x7777);
	d.desc[2].id = vblk_cpu_to_le16(0x7777);
	fakep_add(&d, s1, 1, 5);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 1);
	CHECK_EQ(e.head, 0);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 2);
	CHECK_EQ(e.out_len, 16);
	CHECK_EQ(e.in_len, 513);
	check_iov(&d, &iov[0], h, 16);
	check_iov(&d, &iov[1], dt, 512);
	check_iov(&d, &iov[2], st, 1);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 1);
	CHECK_EQ(e.head, 5);
	CHECK_EQ(d.vq.inflight, 2);
	/* Buffer 5 (slot 4) completes first: its used element goes in slot 1. */
	vq_dev_push(&d.vq, 5, 0);
	CHECK_EQ(vblk_le16_to_cpu(d.desc[1].id), 5);
	vq_dev_push(&d.vq, 0, 513);
	/* 5 took one slot, so 0's element is at slot 2; slots 3-4 are skipped. */
	CHECK_EQ(vblk_le16_to_cpu(d.desc[2].id), 0);
	CHECK_EQ(vblk_le32_to_cpu(d.desc[2].len), 513);
	CHECK_EQ(d.vq.used_idx, 5 % num);
	CHECK_EQ(d.vq.last_avail_idx, 5 % num);
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	CHECK_EQ(id, 5);
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 513);
	CHECK(fl & FP_W);
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 0);
	CHECK_EQ(d.vq.inflight, 0);

	/* A list that runs past the end of the ring: fill up to num - 1 first. */
	while (d.next_avail != num - 1 || !d.avail_wrap) {
		fakep_add(&d, s1, 1, 1);
		CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 1);
		vq_dev_push(&d.vq, 1, 0);
		CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	}
	CHECK(d.avail_wrap);
	pos = fakep_add(&d, s3, 3, 3);
	CHECK_EQ(pos, num - 1);
	CHECK(!d.avail_wrap);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 1);
	CHECK_EQ(e.head, 3);
	CHECK_EQ(e.in_num, 2);
	CHECK_EQ(d.vq.last_avail_idx, 2);
	CHECK(!d.vq.packed_ring.avail_wrap);
	vq_dev_push(&d.vq, 3, 1);
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	CHECK_EQ(id, 3);
	CHECK_EQ(len, 1);
	/* The element sits at num - 1, before the wrap: AVAIL = USED = 1. */
	CHECK_EQ(fl & (FP_AVAIL | FP_USED), FP_AVAIL | FP_USED);
	CHECK(!d.vq.packed_ring.used_wrap);
	CHECK_EQ(vq_dev_get_base(&d.vq), VQ_PACKED_BASE(2, 0, 2, 0));
	/* The next element is written with wrap 0: AVAIL = USED = 0. */
	fakep_add(&d, s1, 1, 4);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 1);
	vq_dev_push(&d.vq, 4, 7);
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	CHECK_EQ(id, 4);
	CHECK_EQ(fl & (FP_AVAIL | FP_USED), 0);
	CHECK(fl & FP_W);

	/* Two regions: a buffer spanning the boundary becomes two iovecs. */
	if (nregions == 2) {
		uint64_t b = fake_mem_region1_gpa(&d.m) - 8;
		struct fakep_seg sp[] = {{b, 24, true}};
		fakep_add(&d, sp, 1, 6);
		CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 1);
		CHECK_EQ(e.in_num, 2);
		CHECK_EQ(e.in_len, 24);
		check_iov(&d, &iov[0], b, 8);
		check_iov(&d, &iov[1], b + 8, 16);
		vq_dev_push(&d.vq, 6, 24);
	}
	CHECK(!d.vq.broken);
	fakep_fini(&d);
}

int main(void)
{
	run(8, 1);
	run(8, 2);
	run(6, 1);
	run(7, 2);
	return 0;
}
