/* SPDX-License-Identifier: MIT */
/*
 * The driver-side ring distrusts the device: a used element naming a head
 * out of range, a head that is not in flight, or a used index running ahead
 * of what is in flight marks the queue broken (-EIO from then on). The
 * device here is raw ring writes.
 */
#include <errno.h>

#include "test.h"
#include "virtq/vq_drv.h"

#define NUM 8

static _Alignas(16) struct virtq_desc desc[NUM];
static _Alignas(4) uint8_t avail_mem[6 + 2 * NUM];
static _Alignas(4) uint8_t used_mem[6 + 8 * NUM];
static struct vq_drv_desc_state state[NUM];

static void setup(struct vq_drv *vq)
{
	struct vq_drv_config cfg = {
	    .num = NUM,
	    .desc = desc,
	    .avail = (struct virtq_avail *)(void *)avail_mem,
	    .used = (struct virtq_used *)(void *)used_mem,
	    .state = state,
	};
	CHECK_EQ(vq_drv_init(vq, &cfg), 0);
}

static void device_push(struct vq_drv *vq, uint16_t slot, uint32_t id, uint32_t len,
			uint16_t new_idx)
{
	vq->cfg.used->ring[slot % NUM].id = vblk_cpu_to_le32(id);
	vq->cfg.used->ring[slot % NUM].len = vblk_cpu_to_le32(len);
	vq->cfg.used->idx = vblk_cpu_to_le16(new_idx);
}

int main(void)
{
	struct vq_drv vq;
	struct vq_drv_sg sg[2] = {{0x1000, 16}, {0x2000, 1}};
	int cookie = 1;
	void *c;
	uint32_t len;

	/* Sanity: a well-formed completion comes back with its cookie. */
	setup(&vq);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), 0);
	uint16_t head = vblk_le16_to_cpu(vq.cfg.avail->ring[0]);
	device_push(&vq, 0, head, 1, 1);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), 1);
	CHECK(c == &cookie);
	CHECK_EQ(len, 1);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), 0);

	/* id >= num */
	setup(&vq);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), 0);
	device_push(&vq, 0, NUM, 1, 1);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), -EIO);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), -EIO);

	/* id in range but not an in-flight head (the chain's second descriptor) */
	setup(&vq);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), 0);
	head = vblk_le16_to_cpu(vq.cfg.avail->ring[0]);
	device_push(&vq, 0, vblk_le16_to_cpu(desc[head].next), 1, 1);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), -EIO);

	/* the same head returned twice */
	setup(&vq);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), 0);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), 0);
	head = vblk_le16_to_cpu(vq.cfg.avail->ring[0]);
	device_push(&vq, 0, head, 1, 1);
	device_push(&vq, 1, head, 1, 2);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), 1);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), -EIO);

	/* used->idx jumps past what is in flight */
	setup(&vq);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), 0);
	head = vblk_le16_to_cpu(vq.cfg.avail->ring[0]);
	device_push(&vq, 0, head, 1, 5);
	CHECK_EQ(vq_drv_get_buf(&vq, &c, &len), -EIO);

	/* A full ring says -ENOSPC, and a chain longer than the ring -EINVAL. */
	setup(&vq);
	for (int i = 0; i < NUM / 2; i++)
		CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), 0);
	CHECK_EQ(vq_drv_add(&vq, sg, 1, 1, &cookie), -ENOSPC);
	struct vq_drv_sg big[NUM + 1];
	for (int i = 0; i < NUM + 1; i++)
		big[i] = (struct vq_drv_sg){0x1000, 1};
	CHECK_EQ(vq_drv_add(&vq, big, NUM, 1, &cookie), -EINVAL);
	return 0;
}
