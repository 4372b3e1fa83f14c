/* SPDX-License-Identifier: MIT */
/*
 * What only a packed indirect table has (§2.8.7; test_dev_indirect covers
 * what both layouts share): the table is walked by its length, the NEXT
 * flags and Buffer IDs of its entries are ignored (reserved), and a table
 * 8 bytes off a 16-byte boundary works.
 */
#include "fake_packed.h"
#include "test.h"

#include <errno.h>

#define NUM 4

int main(void)
{
	struct fakep d;
	struct vq_dev_elem e;
	struct iovec iov[8];
	struct virtq_packed_desc *t;
	uint64_t tg, a[4];
	uint16_t id, fl;
	uint32_t len;

	fakep_init(&d, NUM, 1);
	CHECK_EQ(fakep_start(&d, false, true), 0);
	for (int i = 0; i < 4; i++)
		a[i] = fake_mem_alloc(&d.m, 64);

	/* Table of 4 at an odd address, entries with stray NEXT flags and IDs. */
	tg = fake_mem_alloc(&d.m, 4 * 16 + 16) + 8;
	t = fake_mem_ptr(&d.m, tg);
	fakep_table(t, 0, a[0], 16, 0x1111, FP_N);
	fakep_table(t, 1, a[1], 32, 0x2222, 0);
	fakep_table(t, 2, a[2], 64, 0x3333, FP_W | FP_N);
	fakep_table(t, 3, a[3], 1, 0x4444, FP_W);
	fakep_write(&d, 0, tg, 64, 3, (uint16_t)(FP_I | FP_W | fakep_avail_bits(true)));
	d.slots[3] = 1;
	fakep_advance_avail(&d, 1);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 8), 1);
	CHECK_EQ(e.head, 3);
	CHECK_EQ(e.out_num, 2);
	CHECK_EQ(e.in_num, 2);
	CHECK_EQ(e.out_len, 48);
	CHECK_EQ(e.in_len, 65);
	for (int i = 0; i < 4; i++)
		CHECK(iov[i].iov_base == fake_mem_dev_ptr(&d.m, a[i]));
	CHECK_EQ(d.vq.last_avail_idx, 1);

	vq_dev_push(&d.vq, 3, 65);
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	CHECK_EQ(id, 3);
	CHECK_EQ(len, 65);
	CHECK_EQ(d.vq.inflight, 0);
	CHECK(!d.vq.broken);
	fakep_fini(&d);
	return 0;
}
