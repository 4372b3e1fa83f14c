/* SPDX-License-Identifier: MIT */
/*
 * What only the packed ring's event suppression structures mean (§2.8.10;
 * test_dev_notify covers what both layouts share): without EVENT_IDX a
 * driver's DESC is treated as ENABLE (signal rather than guess), kicks are
 * switched with exactly DISABLE / ENABLE and pop leaves off_wrap alone; with
 * EVENT_IDX an event on the middle slot of a multi-slot list is crossed by
 * that list's element (and one just past it is not), and ENABLE and
 * DISABLE still work.
 */
#include "fake_packed.h"
#include "test.h"

#include <errno.h>

#define NUM 8

static struct fakep d;
static uint64_t b8;

/* off_wrap for the slot k after the device's used position. */
static uint16_t used_ahead(unsigned k)
{
	unsigned p = d.vq.used_idx + k;
	bool w = d.vq.packed_ring.used_wrap;

	while (p >= NUM) {
		p -= NUM;
		w = !w;
	}
	return (uint16_t)(p | (unsigned)w << 15);
}

static void round_trip_n(unsigned n)
{
	struct fake_seg s[NUM];
	struct vq_dev_elem e;
	struct iovec iov[NUM];
	uint16_t id, fl;
	uint32_t len;

	for (unsigned k = 0; k < n; k++)
		s[k] = (struct fake_seg){b8, 8, false};
	fakep_add(&d, s, n, 1);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, NUM), 1);
	vq_dev_push(&d.vq, 1, 0);
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	CHECK_EQ(id, 1);
}

static void step(bool expect)
{
	round_trip_n(1);
	CHECK_EQ(vq_dev_need_notify(&d.vq), expect);
}

static void no_event_idx(void)
{
	struct vq_dev_elem e;
	struct iovec iov[2];
	uint16_t ow, fl;

	fakep_init(&d, NUM, 1);
	CHECK_EQ(fakep_start(&d, false, false), 0);
	b8 = fake_mem_alloc(&d.m, 8);
	fakep_set_drv_event(&d, 0x1234, VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	step(true);
	/* DESC is not negotiated: signal rather than guess. */
	fakep_set_drv_event(&d, used_ahead(5), VIRTQ_PACKED_EVENT_FLAG_DESC);
	step(true);

	/* Kicks. */
	fakep_dev_event(&d, &ow, &fl);
	CHECK_EQ(fl, VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	vq_dev_disable_kicks(&d.vq);
	fakep_dev_event(&d, &ow, &fl);
	CHECK_EQ(fl, VIRTQ_PACKED_EVENT_FLAG_DISABLE);
	CHECK(!vq_dev_enable_kicks(&d.vq));
	fakep_dev_event(&d, &ow, &fl);
	CHECK_EQ(fl, VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	struct fake_seg s = {b8, 8, false};
	fakep_add(&d, &s, 1, 2);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 2), 1);
	/* Pop does not touch the device event structure without EVENT_IDX. */
	fakep_dev_event(&d, &ow, &fl);
	CHECK_EQ(ow, 0);
	CHECK_EQ(fl, VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	fakep_fini(&d);
}

static void event_idx(void)
{
	fakep_init(&d, NUM, 1);
	fakep_set_pos(&d, NUM - 3, true);
	CHECK_EQ(fakep_start(&d, true, false), 0);
	b8 = fake_mem_alloc(&d.m, 8);

	/* First check: nothing to compare with. */
	fakep_set_drv_event(&d, used_ahead(4), VIRTQ_PACKED_EVENT_FLAG_DESC);
	step(true);

	/* An event on the middle slot of a 3-slot list is crossed by its element. */
	fakep_set_drv_event(&d, used_ahead(1), VIRTQ_PACKED_EVENT_FLAG_DESC);
	round_trip_n(3);
	CHECK(vq_dev_need_notify(&d.vq));
	/* ... and one just past it is not. */
	fakep_set_drv_event(&d, used_ahead(3), VIRTQ_PACKED_EVENT_FLAG_DESC);
	round_trip_n(3);
	CHECK(!vq_dev_need_notify(&d.vq));

	/* ENABLE and DISABLE still work with EVENT_IDX. */
	fakep_set_drv_event(&d, used_ahead(5), VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	step(true);
	fakep_set_drv_event(&d, used_ahead(0), VIRTQ_PACKED_EVENT_FLAG_DISABLE);
	step(false);

	fakep_fini(&d);
}

int main(void)
{
	no_event_idx();
	event_idx();
	return 0;
}
