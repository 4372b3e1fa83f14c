/* SPDX-License-Identifier: MIT */
/*
 * Indirect tables (§2.7.5.3) and scattered chains: a short indirect chain, a
 * table far longer than the queue, a chain that wanders through the table
 * out of order, direct descriptors followed by an indirect one (§2.7.5.3.2),
 * a direct chain whose descriptors are scattered (heads 5 -> 1 -> 7), and an
 * indirect table at an unaligned address.
 */
#include "fake_driver.h"
#include "test.h"

#include <errno.h>

#define NUM  8
#define LONG 300

static struct iovec iov[LONG + 8];

static void pop_one(struct fake_drv *d, struct vq_dev_elem *e, uint16_t head)
{
	CHECK_EQ(vq_dev_pop(&d->vq, e, iov, LONG + 8), 1);
	CHECK_EQ(e->head, head);
}

static void check_iov(struct fake_drv *d, unsigned i, uint64_t gpa, size_t len, uint8_t fill)
{
	CHECK(iov[i].iov_base == fake_mem_ptr(&d->m, gpa));
	CHECK_EQ(iov[i].iov_len, len);
	CHECK(((uint8_t *)iov[i].iov_base)[0] == fill &&
	      ((uint8_t *)iov[i].iov_base)[len - 1] == fill);
}

static uint64_t filled(struct fake_drv *d, size_t len, uint8_t fill)
{
	uint64_t gpa = fake_mem_alloc(&d->m, len);

	memset(fake_mem_ptr(&d->m, gpa), fill, len);
	return gpa;
}

int main(void)
{
	struct fake_drv d;
	struct vq_dev_elem e;
	struct virtq_desc *t;
	uint64_t tgpa, b[LONG];
	unsigned i;

	fake_init(&d, NUM, 1);
	CHECK_EQ(fake_start(&d, false, true), 0);

	/* Short table: header, data (writable), status (writable). WRITE on the
	 * indirect descriptor itself must be ignored (§2.7.5.3.2). */
	tgpa = fake_mem_alloc(&d.m, 3 * 16);
	t = fake_mem_ptr(&d.m, tgpa);
	b[0] = filled(&d, 16, 1);
	b[1] = filled(&d, 4096, 2);
	b[2] = filled(&d, 1, 3);
	fake_set_desc(t, 0, b[0], 16, VIRTQ_DESC_F_NEXT, 1);
	fake_set_desc(t, 1, b[1], 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	fake_set_desc(t, 2, b[2], 1, VIRTQ_DESC_F_WRITE, 0);
	fake_set_desc(d.desc, 4, tgpa, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	fake_publish(&d, 4);
	pop_one(&d, &e, 4);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 2);
	CHECK_EQ(e.out_len, 16);
	CHECK_EQ(e.in_len, 4097);
	check_iov(&d, 0, b[0], 16, 1);
	check_iov(&d, 1, b[1], 4096, 2);
	check_iov(&d, 2, b[2], 1, 3);
	vq_dev_push(&d.vq, 4, 4097);

	/* A table of LONG entries (> queue size), walked in order. */
	tgpa = fake_mem_alloc(&d.m, LONG * 16);
	t = fake_mem_ptr(&d.m, tgpa);
	for (i = 0; i < LONG; i++) {
		uint16_t flags = i < LONG - 1 ? VIRTQ_DESC_F_NEXT : 0;

		b[i] = filled(&d, 8 + i % 5, (uint8_t)i);
		if (i >= 100)
			flags |= VIRTQ_DESC_F_WRITE;
		fake_set_desc(t, i, b[i], 8 + i % 5, flags, (uint16_t)(i + 1));
	}
	fake_set_desc(d.desc, 0, tgpa, LONG * 16, VIRTQ_DESC_F_INDIRECT, 0);
	fake_publish(&d, 0);
	pop_one(&d, &e, 0);
	CHECK_EQ(e.out_num, 100);
	CHECK_EQ(e.in_num, LONG - 100);
	for (i = 0; i < LONG; i++)
		check_iov(&d, i, b[i], 8 + i % 5, (uint8_t)i);
	vq_dev_push(&d.vq, 0, 0);

	/* Scattered inside the table: entry 0 -> 6 -> 2 -> 5; entries 1, 3, 4 are junk. */
	tgpa = fake_mem_alloc(&d.m, 7 * 16);
	t = fake_mem_ptr(&d.m, tgpa);
	memset(t, 0xff, 7 * 16);
	for (i = 0; i < 4; i++)
		b[i] = filled(&d, 32, (uint8_t)(0x40 + i));
	fake_set_desc(t, 0, b[0], 32, VIRTQ_DESC_F_NEXT, 6);
	fake_set_desc(t, 6, b[1], 32, VIRTQ_DESC_F_NEXT, 2);
	fake_set_desc(t, 2, b[2], 32, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 5);
	fake_set_desc(t, 5, b[3], 32, VIRTQ_DESC_F_WRITE, 0);
	fake_set_desc(d.desc, 2, tgpa, 7 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	fake_publish(&d, 2);
	pop_one(&d, &e, 2);
	CHECK_EQ(e.out_num, 2);
	CHECK_EQ(e.in_num, 2);
	for (i = 0; i < 4; i++)
		check_iov(&d, i, b[i], 32, (uint8_t)(0x40 + i));
	vq_dev_push(&d.vq, 2, 64);

	/* Two direct descriptors, then an indirect one ending the chain. */
	tgpa = fake_mem_alloc(&d.m, 2 * 16);
	t = fake_mem_ptr(&d.m, tgpa);
	for (i = 0; i < 4; i++)
		b[i] = filled(&d, 24, (uint8_t)(0x60 + i));
	fake_set_desc(d.desc, 3, b[0], 24, VIRTQ_DESC_F_NEXT, 6);
	fake_set_desc(d.desc, 6, b[1], 24, VIRTQ_DESC_F_NEXT, 1);
	fake_set_desc(d.desc, 1, tgpa, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	fake_set_desc(t, 0, b[2], 24, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	fake_set_desc(t, 1, b[3], 24, VIRTQ_DESC_F_WRITE, 0);
	fake_publish(&d, 3);
	pop_one(&d, &e, 3);
	CHECK_EQ(e.out_num, 2);
	CHECK_EQ(e.in_num, 2);
	for (i = 0; i < 4; i++)
		check_iov(&d, i, b[i], 24, (uint8_t)(0x60 + i));
	vq_dev_push(&d.vq, 3, 48);

	/* Direct chain scattered across the ring's table: 5 -> 1 -> 7. */
	for (i = 0; i < 3; i++)
		b[i] = filled(&d, 40, (uint8_t)(0x80 + i));
	fake_set_desc(d.desc, 5, b[0], 40, VIRTQ_DESC_F_NEXT, 1);
	fake_set_desc(d.desc, 1, b[1], 40, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 7);
	fake_set_desc(d.desc, 7, b[2], 40, VIRTQ_DESC_F_WRITE, 0);
	fake_publish(&d, 5);
	pop_one(&d, &e, 5);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 2);
	for (i = 0; i < 3; i++)
		check_iov(&d, i, b[i], 40, (uint8_t)(0x80 + i));
	vq_dev_push(&d.vq, 5, 80);

	/* The spec sets no alignment for an indirect table: one at an odd address works. */
	tgpa = fake_mem_alloc(&d.m, 2 * 16 + 1) + 1;
	b[0] = filled(&d, 10, 0xa0);
	b[1] = filled(&d, 11, 0xa1);
	{
		struct virtq_desc tmp[2];

		fake_set_desc(tmp, 0, b[0], 10, VIRTQ_DESC_F_NEXT, 1);
		fake_set_desc(tmp, 1, b[1], 11, VIRTQ_DESC_F_WRITE, 0);
		memcpy(fake_mem_ptr(&d.m, tgpa), tmp, sizeof(tmp));
	}
	fake_set_desc(d.desc, 6, tgpa, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	fake_publish(&d, 6);
	pop_one(&d, &e, 6);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 1);
	check_iov(&d, 0, b[0], 10, 0xa0);
	check_iov(&d, 1, b[1], 11, 0xa1);
	vq_dev_push(&d.vq, 6, 11);

	CHECK_EQ(fake_used_idx(&d), 6);
	CHECK_EQ(d.vq.inflight, 0);
	CHECK(!d.vq.broken);
	fake_fini(&d);
	return 0;
}
