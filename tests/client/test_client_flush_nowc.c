/* SPDX-License-Identifier: MIT */
/*
 * vblk_queue_flush() on a device without VIRTIO_BLK_F_FLUSH (turned off
 * with disable_features) completes at once in the library: the completion
 * must still make vblk_queue_fd() readable, as the API promises for every
 * completion, and poll must return it with success. The same with FLUSH
 * negotiated, as a control. Environment from run_c.sh.
 */
#include <errno.h>
#include <poll.h>

#include <vblk/vblk.h>

#include "test.h"

#define VIRTIO_BLK_F_FLUSH 9

static void flush_signals_fd(bool disable_flush)
{
	struct vblk_options o = {.disable_features =
				     disable_flush ? 1ull << VIRTIO_BLK_F_FLUSH : 0};
	struct vblk *dev;
	struct vblk_queue *q;
	struct vblk_info info;
	struct vblk_completion c[2];
	int cookie, ret;

	ret = vblk_open(getenv("VBLK_SOCK"), &o, &dev);
	if (ret) {
		fprintf(stderr, "vblk_open: %s\n", vblk_get_error());
		exit(1);
	}
	vblk_get_info(dev, &info);
	if (disable_flush) {
		CHECK(!(info.features & (1ull << VIRTIO_BLK_F_FLUSH)));
		CHECK(!info.writeback);
	} else if (!(info.features & (1ull << VIRTIO_BLK_F_FLUSH))) {
		SKIP("back end does not offer VIRTIO_BLK_F_FLUSH");
	}
	q = vblk_get_queue(dev, 0);
	/* Nothing pending: the fd is quiet (poll re-arms it). */
	CHECK_EQ(vblk_queue_poll(q, c, 2), 0);
	CHECK_EQ(vblk_queue_flush(q, &cookie), 0);
	CHECK_EQ(vblk_queue_pending(q), 1);
	struct pollfd pfd = {.fd = vblk_queue_fd(q), .events = POLLIN};
	/* Generous: with FLUSH the device answers; without it, at once. */
	ret = poll(&pfd, 1, 10000);
	CHECK_EQ(ret, 1);
	CHECK(pfd.revents & POLLIN);
	CHECK_EQ(vblk_queue_poll(q, c, 2), 1);
	CHECK(c[0].user_data == &cookie);
	CHECK_EQ(c[0].ret, 0);
	CHECK_EQ(vblk_queue_pending(q), 0);
	/* The synchronous helper too. */
	CHECK_EQ(vblk_flush(q), 0);
	vblk_close(dev);
	printf("flush %s FLUSH: completion signalled on the queue fd\n",
	       disable_flush ? "without" : "with");
}

int main(void)
{
	flush_signals_fd(true);
	flush_signals_fd(false);
	return 0;
}
