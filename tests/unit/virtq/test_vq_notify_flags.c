/* SPDX-License-Identifier: MIT */
/*
 * Notification suppression without VIRTIO_F_EVENT_IDX: need_notify follows
 * VIRTQ_AVAIL_F_NO_INTERRUPT (§2.7.7.2), disable/enable_kicks drive
 * VIRTQ_USED_F_NO_NOTIFY (§2.7.10), enable_kicks reports entries that
 * arrived while kicks were off, and avail_event is never touched.
 */
#include "fake_driver.h"
#include "test.h"

#include <errno.h>

static void round_trip(struct fake_drv *d, uint16_t head)
{
	struct vq_dev_elem e;
	struct iovec iov[2];

	fake_set_desc(d->desc, head, fake_mem_alloc(&d->m, 8), 8, 0, 0);
	fake_publish(d, head);
	CHECK_EQ(vq_dev_pop(&d->vq, &e, iov, 2), 1);
	CHECK_EQ(e.head, head);
	vq_dev_push(&d->vq, head, 0);
}

int main(void)
{
	struct fake_drv d;
	struct vq_dev_elem e;
	struct iovec iov[2];

	fake_init(&d, 4, 1);
	CHECK_EQ(fake_start(&d, false, false), 0);
	*virtq_avail_event(d.used, 4) = vblk_cpu_to_le16(0xabcd);

	round_trip(&d, 1);
	CHECK(vq_dev_need_notify(&d.vq));
	round_trip(&d, 2);
	CHECK(vq_dev_need_notify(&d.vq));
	d.avail->flags = vblk_cpu_to_le16(VIRTQ_AVAIL_F_NO_INTERRUPT);
	round_trip(&d, 3);
	CHECK(!vq_dev_need_notify(&d.vq));
	/* used_event means nothing without EVENT_IDX. */
	fake_set_used_event(&d, d.vq.used_idx - 1);
	CHECK(!vq_dev_need_notify(&d.vq));
	d.avail->flags = 0;
	CHECK(vq_dev_need_notify(&d.vq));

	/* Kicks. */
	CHECK_EQ(d.used->flags, 0);
	vq_dev_disable_kicks(&d.vq);
	CHECK_EQ(vblk_le16_to_cpu(d.used->flags), VIRTQ_USED_F_NO_NOTIFY);
	CHECK(!vq_dev_enable_kicks(&d.vq));
	CHECK_EQ(d.used->flags, 0);

	/* The §2.7.10 race: an entry published while kicks were off. */
	vq_dev_disable_kicks(&d.vq);
	fake_set_desc(d.desc, 0, fake_mem_alloc(&d.m, 8), 8, 0, 0);
	fake_publish(&d, 0);
	CHECK(vq_dev_enable_kicks(&d.vq));
	CHECK_EQ(d.used->flags, 0);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 2), 1);
	CHECK(!vq_dev_enable_kicks(&d.vq));

	CHECK_EQ(fake_avail_event(&d), 0xabcd);
	fake_fini(&d);
	return 0;
}
