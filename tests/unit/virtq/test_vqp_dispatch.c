/* SPDX-License-Identifier: MIT */
/*
 * The vq_dev_* dispatcher on a packed ring: vq_dev_init_ring(packed) accepts
 * a size that is not a power of two (virtio 1.3 §2.8) where the split ring
 * refuses it; vq_dev_map_areas applies the packed sizes and alignments
 * (§2.8.10.1); vq_dev_start_areas takes the 32-bit vhost-user base and
 * vq_dev_get_base returns it; pop/push/need_notify go to the packed engine
 * and the shared inflight/broken fields follow it; an inflight region is
 * accepted only at the packed layout's size (the split layout must never
 * track a packed ring).
 */
#include "fake_packed.h"
#include "test.h"
#include "virtq/vq_dev.h"

#include <errno.h>

#define NUM 6

int main(void)
{
	static struct fakep d;
	struct vq_dev vq = {0};
	struct vq_dev_areas a;
	struct vq_dev_elem e;
	struct iovec iov[4];
	uint64_t region[64] = {0};
	const uint64_t U = FAKE_UVA_BASE;
	uint16_t id, fl;
	uint32_t len;

	fakep_init(&d, NUM, 1);

	/* §2.7: split sizes are powers of two; §2.8: packed ones need not be. */
	CHECK_EQ(vq_dev_init_ring(&vq, NUM, false), -EINVAL);
	vq_dev_fini(&vq);
	CHECK_EQ(vq_dev_init_ring(&vq, NUM, true), 0);
	CHECK(vq.packed);
	CHECK_EQ(vq.num, NUM);

	/* Packed areas: 16-aligned ring, 4-aligned event structures. */
	CHECK_EQ(vq_dev_map_areas(&vq, &d.m.mem, U + FAKE_DESC_OFF + 8, U + FAKE_DRV_EV_OFF,
				  U + FAKE_DEV_EV_OFF, &a),
		 -EINVAL);
	CHECK_EQ(vq_dev_map_areas(&vq, &d.m.mem, U + FAKE_DESC_OFF, U + FAKE_DRV_EV_OFF + 2,
				  U + FAKE_DEV_EV_OFF, &a),
		 -EINVAL);
	CHECK_EQ(vq_dev_map_areas(&vq, &d.m.mem, U + FAKE_MEM_SIZE - 16, U + FAKE_DRV_EV_OFF,
				  U + FAKE_DEV_EV_OFF, &a),
		 -EFAULT);
	CHECK_EQ(vq_dev_map_areas(&vq, &d.m.mem, U + FAKE_DESC_OFF, U + FAKE_DRV_EV_OFF,
				  U + FAKE_DEV_EV_OFF, &a),
		 0);
	CHECK(a.desc == (void *)d.desc && a.driver == (void *)d.drv_ev &&
	      a.device == (void *)d.dev_ev);

	/*
	 * A packed ring takes a region in the packed layout only: a split-sized
	 * one is too small, a packed-sized one fits; detaching is fine.
	 */
	CHECK_EQ(vq_dev_inflight_size_ring(NUM, true), 2 * vq_dev_inflight_size_ring(NUM, false));
	CHECK_EQ(vq_dev_set_inflight(&vq, region, vq_dev_inflight_size_ring(NUM, false)), -EINVAL);
	CHECK_EQ(vq_dev_set_inflight(&vq, region, vq_dev_inflight_size_ring(NUM, true)), 0);
	CHECK_EQ(vq_dev_set_inflight(&vq, NULL, 0), 0);

	/* Position 4, both wrap counters 1 (vhost-user.rst packed base). */
	fakep_set_pos(&d, 4, true);
	CHECK_EQ(vq_dev_start_areas(&vq, &d.m.mem, &a, VQ_PACKED_BASE(NUM, 1, 0, 1)), -EINVAL);
	CHECK_EQ(vq_dev_start_areas(&vq, &d.m.mem, &a, VQ_PACKED_BASE(4, 1, 4, 1)), 0);
	CHECK_EQ(vq_dev_get_base(&vq), VQ_PACKED_BASE(4, 1, 4, 1));
	CHECK_EQ(vq_dev_resubmit_pending(&vq), 0);

	/* A 3-slot list across the end of the ring, through the verbs. */
	uint64_t buf = fake_mem_alloc(&d.m, 64);
	struct fake_seg s[3] = {{buf, 16, false}, {buf + 16, 16, true}, {buf + 32, 1, true}};
	vq.event_idx = false;
	fakep_add(&d, s, 3, 5);
	CHECK_EQ(vq_dev_pop(&vq, &e, iov, 4), 1);
	CHECK_EQ(e.head, 5);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 2);
	CHECK_EQ(vq.inflight, 1);
	CHECK_EQ(vq_dev_pop(&vq, &e, iov, 4), 0);
	/* avail moved 3 slots (4 -> 1, wrap toggled); used has not. */
	CHECK_EQ(vq_dev_get_base(&vq), VQ_PACKED_BASE(1, 0, 4, 1));
	vq_dev_push(&vq, 5, 17);
	CHECK_EQ(vq.inflight, 0);
	CHECK(vq_dev_need_notify(&vq)); /* driver event ENABLE */
	CHECK_EQ(fakep_get_used(&d, &id, &len, &fl), 1);
	CHECK_EQ(id, 5);
	CHECK_EQ(len, 17);
	CHECK_EQ(vq_dev_get_base(&vq), VQ_PACKED_BASE(1, 0, 1, 0));

	/* Kick suppression goes to the device event structure. */
	vq_dev_disable_kicks(&vq);
	CHECK_EQ(vblk_le16_to_cpu(d.dev_ev->flags), VIRTQ_PACKED_EVENT_FLAG_DISABLE);
	CHECK(!vq_dev_enable_kicks(&vq));
	CHECK_EQ(vblk_le16_to_cpu(d.dev_ev->flags), VIRTQ_PACKED_EVENT_FLAG_ENABLE);

	/* A buffer ID out of range breaks the queue; vq.broken follows. */
	fakep_add(&d, s, 1, NUM);
	CHECK_EQ(vq_dev_pop(&vq, &e, iov, 4), -EIO);
	CHECK(vq.broken);
	CHECK_EQ(vq_dev_pop(&vq, &e, iov, 4), -EIO);

	/* A split vq refuses a base that does not fit 16 bits. */
	struct vq_dev split = {0};
	CHECK_EQ(vq_dev_init_ring(&split, 8, false), 0);
	CHECK(!split.packed);
	CHECK_EQ(vq_dev_start_areas(&split, &d.m.mem, &a, 0x10000), -EINVAL);
	vq_dev_fini(&split);

	vq_dev_fini(&vq);
	CHECK(!vq.packed);
	fakep_fini(&d);
	return 0;
}
