/* SPDX-License-Identifier: MIT */
/*
 * Where a packed ring puts things (what test_dev_simple checks on both
 * layouts is not repeated here), power-of-two and odd ring sizes: the buffer
 * ID is taken from the last descriptor of a list (§2.8.6), used elements are
 * written at the device's used position with AVAIL = USED = the device wrap
 * counter and WRITE exactly when len > 0 (§2.8.1, §2.8.4), skipping the
 * list's other slots, and a list that runs past the end of the ring toggles
 * the wrap counters mid-list (and in the vhost-user base).
 */
#include "fake_packed.h"
#include "test.h"

#include <errno.h>

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
	struct fake_seg s1[] = {{a, 32, false}};
	fakep_add(&d, s1, 1, 2);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 1);
	CHECK_EQ(e.head, 2);
	vq_dev_push(&d.vq, 2, 0);
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	CHECK_EQ(id, 2);
	CHECK(!(fl & FP_W)); /* nothing written */
	CHECK_EQ(fl & (FP_AVAIL | FP_USED), FP_AVAIL | FP_USED);

	/* Header + data + status, and a second buffer, completed in reverse. */
	uint64_t h = fake_mem_alloc(&d.m, 16), dt = fake_mem_alloc(&d.m, 512),
		 st = fake_mem_alloc(&d.m, 1);
	struct fake_seg s3[] = {{h, 16, false}, {dt, 512, true}, {st, 1, true}};
	uint16_t first = fakep_add(&d, s3, 3, 0);
	CHECK_EQ(first, 1);
	/* The ID in the last descriptor wins (§2.8.6); the others carry garbage. */
	d.desc[1].id = vblk_cpu_to_le16(0x7777);
	d.desc[2].id = vblk_cpu_to_le16(0x7777);
	fakep_add(&d, s1, 1, 5);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 1);
	CHECK_EQ(e.head, 0);
	CHECK_EQ(e.in_len, 513);
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
