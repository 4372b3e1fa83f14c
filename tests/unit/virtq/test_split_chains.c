/* SPDX-License-Identifier: MIT */
/*
 * What only split chains have (§2.7.5.3; test_dev_indirect covers the
 * indirect tables both layouts have): a chain that wanders through an
 * indirect table by its next fields, over junk entries; direct descriptors
 * followed by an indirect one ending the chain (§2.7.5.3.2); a direct chain
 * whose descriptors are scattered through the ring's table (5 -> 1 -> 7).
 */
#include "fake_driver.h"
#include "test.h"

#include <errno.h>

#define NUM 8

static struct iovec iov[8];

static void pop_one(struct fake_drv *d, struct vq_dev_elem *e, uint16_t head)
{
	CHECK_EQ(vq_dev_pop(&d->vq, e, iov, 8), 1);
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
	uint64_t tgpa, b[4];
	unsigned i;

	fake_init(&d, NUM, 1);
	CHECK_EQ(fake_start(&d, false, true), 0);

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

	CHECK_EQ(fake_used_idx(&d), 3);
	CHECK_EQ(d.vq.inflight, 0);
	CHECK(!d.vq.broken);
	fake_fini(&d);
	return 0;
}
