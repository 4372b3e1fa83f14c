/* SPDX-License-Identifier: MIT */
/*
 * What a packed ring's start takes (test_dev_map covers the checks both
 * layouts share): the SET_VRING_BASE encoding (avail position | wrap << 15 |
 * (used position | wrap << 15) << 16); positions >= num and a used position
 * more than num slots behind are refused; a 16-bit base means used = avail;
 * get_base returns the same encoding after traffic, and a ring restarted
 * from it carries on where it stopped.
 */
#include "fake_packed.h"
#include "test.h"

#include <errno.h>

#define NUM 6

static struct fakep d;

static int start_with(void *desc, uint32_t base)
{
	struct vq_dev_areas a = {desc, d.drv_ev, d.dev_ev};

	vq_dev_fini(&d.vq);
	CHECK_EQ(vq_dev_init_ring(&d.vq, NUM, true), 0);
	return vq_dev_start_areas(&d.vq, &d.m.mem, &a, base);
}

static int start_at(uint32_t base)
{
	return start_with(d.desc, base);
}

int main(void)
{
	struct vq_dev_elem e;
	struct iovec iov[4];
	uint16_t id, fl;
	uint32_t len;

	fakep_init(&d, NUM, 1);
	/* start: the base encoding. */
	CHECK_EQ(start_at(VQ_PACKED_BASE_INIT), 0);
	CHECK_EQ(d.vq.last_avail_idx, 0);
	CHECK(d.vq.packed_ring.avail_wrap && d.vq.packed_ring.used_wrap);
	CHECK_EQ(vq_dev_get_base(&d.vq), 0x80008000u);
	CHECK_EQ(start_at(VQ_PACKED_BASE(NUM, 1, 0, 1)), -EINVAL);
	CHECK_EQ(start_at(VQ_PACKED_BASE(0, 1, NUM, 1)), -EINVAL);
	CHECK_EQ(start_at(0x7fff8000u), -EINVAL);
	/* used one pass behind avail at the same position: num slots in flight, legal */
	CHECK_EQ(start_at(VQ_PACKED_BASE(2, 1, 2, 0)), 0);
	/* used ahead of avail is num + k behind: not */
	CHECK_EQ(start_at(VQ_PACKED_BASE(2, 1, 3, 1)), -EINVAL);
	/* 16-bit base (only the avail half): used = avail */
	CHECK_EQ(start_at(VQ_PACKED_BASE(4, 0, 0, 0)), 0);
	CHECK_EQ(vq_dev_get_base(&d.vq), VQ_PACKED_BASE(4, 0, 4, 0));
	/* A full 32-bit base keeps the two halves apart. */
	CHECK_EQ(start_at(VQ_PACKED_BASE(1, 0, 4, 1)), 0);
	CHECK_EQ(d.vq.last_avail_idx, 1);
	CHECK(!d.vq.packed_ring.avail_wrap);
	CHECK_EQ(d.vq.used_idx, 4);
	CHECK(d.vq.packed_ring.used_wrap);
	CHECK_EQ(vq_dev_get_base(&d.vq), VQ_PACKED_BASE(1, 0, 4, 1));
	CHECK_EQ(start_with((char *)d.desc + 8, VQ_PACKED_BASE_INIT), -EINVAL);

	/* Traffic from (4, wrap 0), a stop with one buffer in flight, a restart. */
	fakep_set_pos(&d, 4, false);
	CHECK_EQ(start_at(VQ_PACKED_BASE(4, 0, 4, 0)), 0);
	uint64_t b = fake_mem_alloc(&d.m, 16);
	struct fake_seg s[] = {{b, 16, false}, {b, 16, true}, {b, 16, true}};
	fakep_add(&d, s, 3, 0); /* slots 4, 5, 0 */
	fakep_add(&d, s, 1, 1); /* slot 1 */
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 4), 1);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 4), 1);
	vq_dev_push(&d.vq, 1, 0); /* written at slot 4 */
	CHECK_EQ(vq_dev_get_base(&d.vq), VQ_PACKED_BASE(2, 1, 5, 0));
	/* Restart from the reply: buffer 0's three slots are lost, the rest carries on. */
	CHECK_EQ(start_at(vq_dev_get_base(&d.vq)), 0);
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	CHECK_EQ(id, 1);
	fakep_add(&d, s, 1, 2); /* slot 2, wrap 1 */
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 4), 1);
	CHECK_EQ(e.head, 2);
	vq_dev_push(&d.vq, 2, 0); /* written at slot 5 (wrap 0) */
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	CHECK_EQ(id, 2);
	CHECK_EQ(fl & (FP_AVAIL | FP_USED), 0);
	CHECK_EQ(vq_dev_get_base(&d.vq), VQ_PACKED_BASE(3, 1, 0, 1));

	fakep_fini(&d);
	return 0;
}
