/* SPDX-License-Identifier: MIT */
/*
 * The packed driver side distrusts the device: a used element with a buffer
 * ID out of range, an ID not in flight, the same ID twice, or a length above
 * the buffer's device-writable bytes marks the queue broken (-EIO from then
 * on, add included). Also: len is 0 without WRITE (§2.8.4), an element with
 * the wrong wrap counter is not used yet, a list's used element is found at
 * its first slot and the next one after all its slots (§2.8.6), buffers are
 * laid out in consecutive slots with the first slot's flags made available
 * under the wrap counter, and add reports -ENOSPC / -EINVAL. The device here
 * is raw ring writes.
 */
#include <errno.h>

#include "test.h"
#include "virtq/vq_drv_packed.h"

#define NUM 4
#define AV  ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_AVAIL))
#define US  ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_USED))

static _Alignas(16) struct virtq_packed_desc desc[NUM];
static _Alignas(4) struct virtq_packed_event drv_ev, dev_ev;
static struct vq_drv_packed_state state[NUM];

static void setup(struct vq_drv_packed *vq)
{
	struct vq_drv_packed_config cfg = {
	    .num = NUM,
	    .desc = desc,
	    .driver_event = &drv_ev,
	    .device_event = &dev_ev,
	    .state = state,
	};
	CHECK_EQ(vq_drv_packed_init(vq, &cfg), 0);
}

/* Write a used element at slot with the device wrap counter wrap. */
static void device_used(uint16_t slot, uint16_t id, uint32_t len, bool write, bool wrap)
{
	desc[slot].id = vblk_cpu_to_le16(id);
	desc[slot].len = vblk_cpu_to_le32(len);
	desc[slot].flags =
	    vblk_cpu_to_le16((uint16_t)((wrap ? AV | US : 0) | (write ? VIRTQ_DESC_F_WRITE : 0)));
}

static uint16_t flags_of(unsigned slot)
{
	return vblk_le16_to_cpu(desc[slot].flags);
}

int main(void)
{
	struct vq_drv_packed vq;
	struct vq_drv_sg sg[3] = {{0x1000, 16}, {0x2000, 512}, {0x3000, 1}};
	int cookie = 1, cookie2 = 2;
	void *c;
	uint32_t len;

	/* Sanity and layout: a 3-element list in slots 0-2, ID in every slot. */
	setup(&vq);
	CHECK_EQ(vq_drv_packed_get_buf(&vq, &c, &len), 0);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 2, &cookie), 0);
	uint16_t id = vblk_le16_to_cpu(desc[2].id);
	CHECK(id < NUM);
	CHECK_EQ(flags_of(0), AV | VIRTQ_DESC_F_NEXT);
	CHECK_EQ(flags_of(1), AV | VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE);
	CHECK_EQ(flags_of(2), AV | VIRTQ_DESC_F_WRITE);
	CHECK_EQ(vblk_le64_to_cpu(desc[1].addr), 0x2000);
	CHECK_EQ(vblk_le32_to_cpu(desc[1].len), 512);
	/* Wrong wrap counter: not used yet. */
	device_used(0, id, 513, true, false);
	CHECK_EQ(vq_drv_packed_get_buf(&vq, &c, &len), 0);
	CHECK(!vq_drv_packed_more_used(&vq));
	device_used(0, id, 513, true, true);
	CHECK(vq_drv_packed_more_used(&vq));
	CHECK_EQ(vq_drv_packed_get_buf(&vq, &c, &len), 1);
	CHECK(c == &cookie);
	CHECK_EQ(len, 513);
	CHECK_EQ(vq.last_used, 3);
	CHECK_EQ(vq.num_free, NUM);
	/* The next list wraps: slot 3 under wrap 1, slot 0 under wrap 0. */
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 2, 0, &cookie2), 0);
	CHECK_EQ(flags_of(3), AV | VIRTQ_DESC_F_NEXT);
	CHECK_EQ(flags_of(0), US);
	CHECK(!vq.avail_wrap);
	id = vblk_le16_to_cpu(desc[0].id);
	/* No WRITE: len is reserved and reads as 0, even if out of range. */
	device_used(3, id, 99999, false, true);
	CHECK_EQ(vq_drv_packed_get_buf(&vq, &c, &len), 1);
	CHECK(c == &cookie2);
	CHECK_EQ(len, 0);
	CHECK_EQ(vq.last_used, 1);
	CHECK(!vq.used_wrap);
	CHECK_EQ(vq_drv_packed_inflight(&vq), 0);

	/* id >= num */
	setup(&vq);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 1, &cookie), 0);
	device_used(0, NUM, 1, true, true);
	CHECK_EQ(vq_drv_packed_get_buf(&vq, &c, &len), -EIO);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 1, &cookie), -EIO);
	CHECK_EQ(vq_drv_packed_get_buf(&vq, &c, &len), -EIO);

	/* id in range but not in flight */
	setup(&vq);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 1, &cookie), 0);
	id = vblk_le16_to_cpu(desc[0].id);
	device_used(0, (uint16_t)((id + 1) % NUM), 1, true, true);
	CHECK_EQ(vq_drv_packed_get_buf(&vq, &c, &len), -EIO);

	/* the same id returned twice */
	setup(&vq);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 0, &cookie), 0);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 0, &cookie2), 0);
	id = vblk_le16_to_cpu(desc[0].id);
	device_used(0, id, 0, false, true);
	device_used(1, id, 0, false, true);
	CHECK_EQ(vq_drv_packed_get_buf(&vq, &c, &len), 1);
	CHECK(c == &cookie);
	CHECK_EQ(vq_drv_packed_get_buf(&vq, &c, &len), -EIO);

	/* len above the writable bytes (512 + 1) */
	setup(&vq);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 2, &cookie), 0);
	id = vblk_le16_to_cpu(desc[0].id);
	device_used(0, id, 514, true, true);
	CHECK_EQ(vq_drv_packed_get_buf(&vq, &c, &len), -EIO);

	/* Full ring: -ENOSPC; never-fitting or malformed buffers: -EINVAL. */
	setup(&vq);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 2, &cookie), 0);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 1, &cookie), -ENOSPC);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 0, &cookie), 0);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 0, &cookie), -ENOSPC);
	struct vq_drv_sg big[NUM + 1];
	for (int i = 0; i < NUM + 1; i++)
		big[i] = (struct vq_drv_sg){0x1000, 1};
	CHECK_EQ(vq_drv_packed_add(&vq, big, NUM, 1, &cookie), -EINVAL);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 1, 0, NULL), -EINVAL);
	CHECK_EQ(vq_drv_packed_add(&vq, sg, 0, 0, &cookie), -EINVAL);
	struct vq_drv_sg zero = {0x1000, 0};
	CHECK_EQ(vq_drv_packed_add(&vq, &zero, 1, 0, &cookie), -EINVAL);
	return 0;
}
