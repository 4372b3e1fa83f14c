/* SPDX-License-Identifier: MIT */
/*
 * Event suppression on the packed driver side (§2.8.10), through the vq_drv
 * verbs. Kicks follow the device event structure: ENABLE kicks, DISABLE does
 * not, DESC (with EVENT_IDX) kicks exactly when the batch made the slot at
 * off_wrap available — also across the wrap and for a slot inside a list. Interrupt
 * control: disable_cb writes DISABLE; enable_cb writes ENABLE, or DESC at
 * the next used position with EVENT_IDX, and reports a used buffer that
 * arrived meanwhile; get_buf moves off_wrap along while in DESC mode.
 */
#include <errno.h>

#include "test.h"
#include "virtq/vq_drv.h"

#define NUM 4
#define AV  ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_AVAIL))
#define US  ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_USED))

static _Alignas(16) struct virtq_packed_desc desc[NUM];
static _Alignas(4) struct virtq_packed_event drv_ev, dev_ev;
static struct vq_drv_desc_state state[NUM];
static struct vq_drv vq;
static int cookie;

static void setup(bool event_idx)
{
	struct vq_drv_packed_config cfg = {
	    .num = NUM,
	    .event_idx = event_idx,
	    .desc = desc,
	    .driver_event = &drv_ev,
	    .device_event = &dev_ev,
	    .state = state,
	};
	CHECK_EQ(vq_drv_init_packed(&vq, &cfg), 0);
}

static void set_dev_event(uint16_t off, bool wrap, uint16_t flags)
{
	dev_ev.off_wrap = vblk_cpu_to_le16((uint16_t)(off | (unsigned)wrap << 15));
	dev_ev.flags = vblk_cpu_to_le16(flags);
}

/* Add a list of n elements, then complete it at the driver's used position. */
static void add(unsigned n)
{
	struct vq_drv_sg sg[NUM];

	for (unsigned k = 0; k < n; k++)
		sg[k] = (struct vq_drv_sg){0x1000, 8};
	CHECK_EQ(vq_drv_add(&vq, sg, n, 0, &cookie), 0);
}

/* The device completes the oldest buffer: its used element at the driver's used position. */
static void complete_one(void)
{
	uint16_t slot = vq.last_used;
	void *c;
	uint32_t len;

	/* The first slot of the list already carries its ID (the driver writes it in all). */
	desc[slot].flags = vblk_cpu_to_le16(vq.packed_ring.used_wrap ? (uint16_t)(AV | US) : 0);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), 1);
	CHECK(c == &cookie);
}

static uint16_t drv_flags(void)
{
	return vblk_le16_to_cpu(drv_ev.flags);
}

static uint16_t drv_off_wrap(void)
{
	return vblk_le16_to_cpu(drv_ev.off_wrap);
}

int main(void)
{
	/* Without EVENT_IDX. */
	setup(false);
	add(1);
	CHECK(vq_drv_kick_prepare(&vq)); /* ENABLE after init */
	set_dev_event(0, 0, VIRTQ_PACKED_EVENT_FLAG_DISABLE);
	add(1);
	CHECK(!vq_drv_kick_prepare(&vq));
	set_dev_event(3, 1, VIRTQ_PACKED_EVENT_FLAG_DESC); /* not negotiated: kick */
	add(1);
	CHECK(vq_drv_kick_prepare(&vq));
	CHECK_EQ(drv_flags(), VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	vq_drv_disable_cb(&vq);
	CHECK_EQ(drv_flags(), VIRTQ_PACKED_EVENT_FLAG_DISABLE);
	CHECK(vq_drv_enable_cb(&vq));
	CHECK_EQ(drv_flags(), VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	/* A used buffer arrived while notifications were off. */
	vq_drv_disable_cb(&vq);
	desc[0].flags = vblk_cpu_to_le16(AV | US);
	CHECK(!vq_drv_enable_cb(&vq));
	complete_one();
	CHECK_EQ(drv_off_wrap(), 0); /* never touched without EVENT_IDX */

	/* With EVENT_IDX: kicks. */
	setup(true);
	set_dev_event(1, 1, VIRTQ_PACKED_EVENT_FLAG_DESC);
	add(1); /* slot 0 */
	CHECK(!vq_drv_kick_prepare(&vq));
	add(1); /* slot 1: the event */
	CHECK(vq_drv_kick_prepare(&vq));
	add(1); /* slot 2 */
	CHECK(!vq_drv_kick_prepare(&vq));
	/* A batch of two crossing slot 3. */
	set_dev_event(3, 1, VIRTQ_PACKED_EVENT_FLAG_DESC);
	complete_one();
	complete_one();
	complete_one();
	add(1); /* 3 */
	add(1); /* 0, wrap 0 */
	CHECK(vq_drv_kick_prepare(&vq));
	/* Across the wrap: the event at slot 1 of wrap 0, reached by a list 1-2. */
	complete_one();
	complete_one();
	set_dev_event(2, 0, VIRTQ_PACKED_EVENT_FLAG_DESC);
	add(2); /* slots 1, 2 (wrap 0) */
	CHECK(vq_drv_kick_prepare(&vq));
	/* The same slot under the other wrap counter is a pass away. */
	complete_one();
	set_dev_event(0, 0, VIRTQ_PACKED_EVENT_FLAG_DESC);
	add(1); /* slot 3, wrap 0 */
	CHECK(!vq_drv_kick_prepare(&vq));
	set_dev_event(0, 0, VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	add(1); /* slot 0, wrap 1 */
	CHECK(vq_drv_kick_prepare(&vq));

	/* With EVENT_IDX: interrupts. */
	setup(true);
	add(1);
	add(1);
	vq_drv_disable_cb(&vq);
	CHECK_EQ(drv_flags(), VIRTQ_PACKED_EVENT_FLAG_DISABLE);
	CHECK(vq_drv_enable_cb(&vq));
	CHECK_EQ(drv_flags(), VIRTQ_PACKED_EVENT_FLAG_DESC);
	CHECK_EQ(drv_off_wrap(), 0x8000); /* slot 0, wrap 1 */
	complete_one();
	CHECK_EQ(drv_off_wrap(), 0x8001); /* moved along with get_buf */
	vq_drv_disable_cb(&vq);
	complete_one();
	CHECK_EQ(drv_off_wrap(), 0x8001); /* not while disabled */
	add(2);
	add(2);
	complete_one();
	complete_one();
	/* Wrapped: next used slot 2 under wrap 0. */
	CHECK(vq_drv_enable_cb(&vq));
	CHECK_EQ(drv_off_wrap(), 2);
	return 0;
}
