/* SPDX-License-Identifier: MIT */
/*
 * What only the split ring's suppression fields mean (§2.7.7.2, §2.7.10;
 * test_dev_notify covers what both layouts share): without EVENT_IDX,
 * used_event is ignored and disable/enable_kicks never write avail_event;
 * with EVENT_IDX, VIRTQ_AVAIL_F_NO_INTERRUPT is ignored.
 */
#include "fake_driver.h"
#include "test.h"

#define NUM 4

static struct fake_drv d;

static void round_trip(uint16_t head)
{
	struct vq_dev_elem e;
	struct iovec iov[2];

	fake_publish(&d, head);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 2), 1);
	CHECK_EQ(e.head, head);
	vq_dev_push(&d.vq, head, 0);
}

static void run(bool event_idx)
{
	fake_init(&d, NUM, 1);
	CHECK_EQ(fake_start(&d, event_idx, false), 0);
	fake_set_desc(d.desc, 1, fake_mem_alloc(&d.m, 8), 8, 0, 0);
	*virtq_avail_event(d.used, NUM) = vblk_cpu_to_le16(0xabcd);
	round_trip(1);
	CHECK(vq_dev_need_notify(&d.vq));
	d.avail->flags = vblk_cpu_to_le16(VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (event_idx) {
		/* NO_INTERRUPT is ignored with EVENT_IDX: used_event decides. */
		fake_set_used_event(&d, d.vq.used_idx);
		round_trip(1);
		CHECK(vq_dev_need_notify(&d.vq));
	} else {
		/* used_event means nothing without EVENT_IDX. */
		round_trip(1);
		fake_set_used_event(&d, d.vq.used_idx - 1);
		CHECK(!vq_dev_need_notify(&d.vq));
		/* The kick switch is the flag alone: avail_event is never written. */
		vq_dev_disable_kicks(&d.vq);
		CHECK(!vq_dev_enable_kicks(&d.vq));
		round_trip(1);
		CHECK_EQ(fake_avail_event(&d), 0xabcd);
	}
	CHECK(!d.vq.broken);
	fake_fini(&d);
}

int main(void)
{
	run(false);
	run(true);
	return 0;
}
