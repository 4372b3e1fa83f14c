/* SPDX-License-Identifier: MIT */
/*
 * The driver side distrusts the device, on either layout: a used element
 * naming an ID out of range, an ID not in flight, the same ID twice, or a
 * length above the chain's device-writable bytes marks the queue broken
 * (-EIO from then on, add included); a full ring says -ENOSPC and a chain
 * that can never fit, a NULL cookie, an empty chain or a zero length
 * -EINVAL. Per layout: a split used index running ahead of what is in
 * flight breaks the queue; a packed element with the wrong wrap counter is
 * not used yet, its len without WRITE is 0 when past the chain (§2.8.4), a
 * list's used element
 * is found at its first slot and the next one after all its slots (§2.8.6),
 * and buffers sit in consecutive slots with the first slot's flags made
 * available under the wrap counter. The device here is raw ring writes.
 *
 * Usage: test_drv_broken split|packed
 */
#include <errno.h>
#include <string.h>

#include "test.h"
#include "virtq/vq_drv.h"

#define NUM_SPLIT  8
#define NUM_PACKED 4
#define MAX_NUM	   8
#define AV	   ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_AVAIL))
#define US	   ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_USED))

static bool packed;
static unsigned num;
static _Alignas(16) struct virtq_desc desc[MAX_NUM];
static _Alignas(16) struct virtq_packed_desc pdesc[MAX_NUM];
static _Alignas(4) uint8_t avail_mem[6 + 2 * MAX_NUM];
static _Alignas(4) uint8_t used_mem[6 + 8 * MAX_NUM];
static _Alignas(4) struct virtq_packed_event drv_ev, dev_ev;
static struct vq_drv_desc_state state[MAX_NUM];
static struct vq_drv vq;
/* 16 readable bytes, then 512 + 1 writable ones. */
static const struct vq_drv_sg sg[3] = {{0x1000, 16}, {0x2000, 512}, {0x3000, 1}};
static int cookie = 1, cookie2 = 2;

static struct virtq_avail *avail(void)
{
	return (struct virtq_avail *)(void *)avail_mem;
}

static struct virtq_used *used(void)
{
	return (struct virtq_used *)(void *)used_mem;
}

static void setup(void)
{
	struct vq_drv_layout l = {
	    .packed = packed,
	    .num = (uint16_t)num,
	    .desc = packed ? (void *)pdesc : (void *)desc,
	    .driver = packed ? (void *)&drv_ev : (void *)avail_mem,
	    .device = packed ? (void *)&dev_ev : (void *)used_mem,
	    .state = state,
	};
	CHECK_EQ(vq_drv_init_layout(&vq, &l), 0);
}

/*
 * The device returns id with len as the k-th used element: split, used
 * ring entry k (used->idx = k + 1); packed, the element at slot k under
 * wrap counter 1, WRITE set.
 */
static void device_push(unsigned k, uint32_t id, uint32_t len)
{
	if (packed) {
		pdesc[k].id = vblk_cpu_to_le16((uint16_t)id);
		pdesc[k].len = vblk_cpu_to_le32(len);
		pdesc[k].flags = vblk_cpu_to_le16(AV | US | VIRTQ_DESC_F_WRITE);
		return;
	}
	used()->ring[k % num].id = vblk_cpu_to_le32(id);
	used()->ring[k % num].len = vblk_cpu_to_le32(len);
	used()->idx = vblk_cpu_to_le16((uint16_t)(k + 1));
}

/* The ID of the chain added k-th (split: its head; packed: first at slot k, 1-slot chains). */
static uint16_t added_id(unsigned k)
{
	return packed ? vblk_le16_to_cpu(pdesc[k].id) : vblk_le16_to_cpu(avail()->ring[k]);
}

/* An ID in range that is not in flight after one 2-element add. */
static uint16_t idle_id(void)
{
	uint16_t id = added_id(0);

	/* split: the chain's second descriptor; packed: any other ID */
	return packed ? (uint16_t)((id + 1) % num) : vblk_le16_to_cpu(desc[id].next);
}

static void common_cases(void)
{
	void *c;
	uint32_t len;

	/* Sanity: a well-formed completion comes back with its cookie. */
	setup();
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), 0);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 2, &cookie), 0);
	device_push(0, added_id(0), 513);
	CHECK(vq_drv_more_used(&vq));
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), 1);
	CHECK(c == &cookie);
	CHECK_EQ(len, 513);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), 0);
	CHECK_EQ(vq_drv_inflight(&vq), 0);
	CHECK_EQ(vq.num_free, num);

	/* id >= num */
	setup();
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), 0);
	device_push(0, num, 1);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), -EIO);
	CHECK(vq_drv_is_broken(&vq));
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), -EIO);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), -EIO);

	/* id in range but not in flight */
	setup();
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), 0);
	device_push(0, idle_id(), 1);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), -EIO);

	/* the same id returned twice */
	setup();
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 0, &cookie), 0);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 0, &cookie2), 0);
	device_push(0, added_id(0), 0);
	device_push(1, added_id(0), 0);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), 1);
	CHECK(c == &cookie);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), -EIO);

	/* len above the writable bytes (512 + 1), §2.7.8 / §2.8.4 */
	setup();
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 2, &cookie), 0);
	device_push(0, added_id(0), 514);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), -EIO);

	/* Never-fitting or malformed chains: -EINVAL. */
	setup();
	struct vq_drv_sg big[MAX_NUM + 1];
	for (unsigned i = 0; i < num + 1; i++)
		big[i] = (struct vq_drv_sg){0x1000, 1};
	CHECK_EQ(vq_drv_add(&vq, big, num, 1, &cookie), -EINVAL);
	CHECK(!vq_drv_fits(&vq, num + 1));
	CHECK(vq_drv_fits(&vq, num));
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 0, NULL), -EINVAL);
	CHECK_EQ(vq_drv_add(&vq, sg, 0, 0, &cookie), -EINVAL);
	struct vq_drv_sg zero = {0x1000, 0};
	CHECK_EQ(vq_drv_add(&vq, &zero, 1, 0, &cookie), -EINVAL);
	CHECK_EQ(vq_drv_inflight(&vq), 0);
}

static void split_cases(void)
{
	void *c;
	uint32_t len;

	/* used->idx jumps past what is in flight */
	setup();
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), 0);
	device_push(0, added_id(0), 1);
	used()->idx = vblk_cpu_to_le16(5);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), -EIO);

	/* A full ring says -ENOSPC. */
	setup();
	for (unsigned i = 0; i < num / 2; i++)
		CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), 0);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), -ENOSPC);
}

/* Write a packed used element at slot with the device wrap counter wrap. */
static void device_used(uint16_t slot, uint16_t id, uint32_t len, bool write, bool wrap)
{
	pdesc[slot].id = vblk_cpu_to_le16(id);
	pdesc[slot].len = vblk_cpu_to_le32(len);
	pdesc[slot].flags =
	    vblk_cpu_to_le16((uint16_t)((wrap ? AV | US : 0) | (write ? VIRTQ_DESC_F_WRITE : 0)));
}

static uint16_t flags_of(unsigned slot)
{
	return vblk_le16_to_cpu(pdesc[slot].flags);
}

static void packed_cases(void)
{
	void *c;
	uint32_t len;

	/* Layout: a 3-element list in slots 0-2, ID in every slot. */
	setup();
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 2, &cookie), 0);
	uint16_t id = vblk_le16_to_cpu(pdesc[2].id);
	CHECK(id < num);
	CHECK_EQ(flags_of(0), AV | VIRTQ_DESC_F_NEXT);
	CHECK_EQ(flags_of(1), AV | VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE);
	CHECK_EQ(flags_of(2), AV | VIRTQ_DESC_F_WRITE);
	CHECK_EQ(vblk_le64_to_cpu(pdesc[1].addr), 0x2000);
	CHECK_EQ(vblk_le32_to_cpu(pdesc[1].len), 512);
	/* Wrong wrap counter: not used yet. */
	device_used(0, id, 513, true, false);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), 0);
	CHECK(!vq_drv_more_used(&vq));
	device_used(0, id, 513, true, true);
	CHECK(vq_drv_more_used(&vq));
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), 1);
	CHECK(c == &cookie);
	CHECK_EQ(len, 513);
	CHECK_EQ(vq.last_used, 3);
	CHECK_EQ(vq.num_free, num);
	/* The next list wraps: slot 3 under wrap 1, slot 0 under wrap 0. */
	CHECK_EQ(vq_drv_add(&vq, sg, 2, 0, &cookie2), 0);
	CHECK_EQ(flags_of(3), AV | VIRTQ_DESC_F_NEXT);
	CHECK_EQ(flags_of(0), US);
	CHECK(!vq.packed_ring.avail_wrap);
	id = vblk_le16_to_cpu(pdesc[0].id);
	/* No WRITE: len is reserved; one past the writable bytes reads as 0. */
	device_used(3, id, 99999, false, true);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), 1);
	CHECK(c == &cookie2);
	CHECK_EQ(len, 0);
	CHECK_EQ(vq.last_used, 1);
	CHECK(!vq.packed_ring.used_wrap);
	CHECK_EQ(vq_drv_inflight(&vq), 0);

	/* Full ring (slots, not buffers): -ENOSPC. */
	setup();
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 2, &cookie), 0);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), -ENOSPC);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 0, &cookie), 0);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 0, &cookie), -ENOSPC);
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "split") && strcmp(argv[1], "packed")))
		SKIP("usage: %s split|packed", argv[0]);
	packed = !strcmp(argv[1], "packed");
	num = packed ? NUM_PACKED : NUM_SPLIT;
	common_cases();
	if (packed)
		packed_cases();
	else
		split_cases();
	return 0;
}
