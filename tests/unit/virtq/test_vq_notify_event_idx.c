/* SPDX-License-Identifier: MIT */
/*
 * Notification suppression with VIRTIO_F_EVENT_IDX, starting just below the
 * 16-bit wrap: the first need_notify always signals; afterwards it signals
 * exactly when the used entry at index used_event was written since the last
 * signal (§2.7.7.2), across the wrap and within a batch; NO_INTERRUPT is
 * ignored; 2^16 pushes without a signal force one. On the kick side pop
 * keeps avail_event at last_avail_idx, disable_kicks leaves used->flags at
 * 0 (§2.7.10: the device MUST set flags to 0), and enable_kicks reports
 * entries that arrived meanwhile.
 */
#include "fake_driver.h"
#include "test.h"

#include <errno.h>

#define NUM 8

static struct fake_drv d;

static void pop_one(void)
{
	struct vq_dev_elem e;
	struct iovec iov[2];

	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 2), 1);
	CHECK_EQ(e.head, 0);
	/* Kick me for the next entry. */
	CHECK_EQ(fake_avail_event(&d), d.vq.last_avail_idx);
}

static void round_trip(void)
{
	fake_publish(&d, 0);
	pop_one();
	vq_dev_push(&d.vq, 0, 1);
}

/* One push, then need_notify must say expect. */
static void step(bool expect)
{
	round_trip();
	CHECK_EQ(vq_dev_need_notify(&d.vq), expect);
}

int main(void)
{
	unsigned i;

	fake_init(&d, NUM, 1);
	fake_set_idx(&d, 0xfff0);
	CHECK_EQ(fake_start(&d, true, false), 0);
	fake_set_desc(d.desc, 0, fake_mem_alloc(&d.m, 8), 8, 0, 0);
	CHECK_EQ(d.vq.used_idx, 0xfff0);

	/* First call: no previous signal to compare with. */
	fake_set_used_event(&d, 0x1234);
	step(true); /* used 0xfff1 */

	/* Notify for entry 0xfff3, i.e. when used->idx becomes 0xfff4. */
	fake_set_used_event(&d, 0xfff3);
	step(false); /* 0xfff2 */
	step(false); /* 0xfff3 */
	step(true);  /* 0xfff4 */
	step(false); /* 0xfff5: already signalled for it */

	/* Across the wrap: entry 0x0001. */
	fake_set_used_event(&d, 0x0001);
	for (i = 0xfff6; i <= 0x10001; i++)
		step(false);
	step(true); /* 0x0002 */
	CHECK_EQ(fake_used_idx(&d), 0x0002);

	/* Crossed in the middle of a batch: one signal for the batch. */
	fake_set_used_event(&d, 0x0003);
	round_trip();
	round_trip();
	round_trip(); /* 0x0005 */
	CHECK(vq_dev_need_notify(&d.vq));
	CHECK(!vq_dev_need_notify(&d.vq)); /* nothing new since */
	/* An event behind us is not crossed again. */
	step(false);
	/* NO_INTERRUPT is ignored with EVENT_IDX. */
	d.avail->flags = vblk_cpu_to_le16(VIRTQ_AVAIL_F_NO_INTERRUPT);
	fake_set_used_event(&d, d.vq.used_idx);
	step(true);
	d.avail->flags = 0;

	/* 2^16 pushes without a signal: the comparison is ambiguous, so signal. */
	fake_set_used_event(&d, d.vq.used_idx + 10);
	for (i = 0; i < 65536; i++)
		round_trip();
	CHECK(vq_dev_need_notify(&d.vq));

	/* Kick side. */
	vq_dev_disable_kicks(&d.vq);
	CHECK_EQ(d.used->flags, 0);
	*virtq_avail_event(d.used, NUM) = 0x5555;
	CHECK(!vq_dev_enable_kicks(&d.vq));
	CHECK_EQ(fake_avail_event(&d), d.vq.last_avail_idx);
	vq_dev_disable_kicks(&d.vq);
	fake_publish(&d, 0);
	CHECK(vq_dev_enable_kicks(&d.vq));
	CHECK_EQ(fake_avail_event(&d), d.vq.last_avail_idx);
	pop_one();
	CHECK(!vq_dev_enable_kicks(&d.vq));
	CHECK_EQ(d.used->flags, 0);

	fake_fini(&d);
	return 0;
}
