/* SPDX-License-Identifier: MIT */
/*
 * A backend that says -EAGAIN beyond 2 requests in flight: every request
 * still completes OK, and the backend sees them in submission order.
 */
#include "internal/iov.h"
#include "tbe.h"

#define N 10

static uint8_t w[N][512];
static struct t_req t[N];

static void prep_write(unsigned i, uint64_t sector)
{
	t_hdr(&t[i], VIRTIO_BLK_T_OUT, sector);
	t[i].iov[0] = (struct iovec){&t[i].hdr, 16};
	t[i].iov[1] = (struct iovec){w[i], 512};
	t[i].iov[2] = (struct iovec){&t[i].status, 1};
	t[i].req.iov = t[i].iov;
	t[i].req.out_num = 2;
	t[i].req.in_num = 1;
}

int main(void)
{
	static struct tbe tb;
	struct blk_dev d;
	struct blk_queue *q;
	unsigned order = 0;

	tbe_init(&tb, 1 << 20, true);
	tb.limit = 2;
	CHECK_EQ(
	    blk_dev_init(&d, &tb.base, &(struct blk_dev_opts){.num_queues = 1, .queue_size = 64}),
	    0);
	CHECK_EQ(blk_queue_create(&d, 2, t_done, &order, &q), 0);

	for (unsigned i = 0; i < N; i++) {
		prep_write(i, i);
		CHECK(blk_req_submit(q, &t[i].req));
	}
	CHECK_EQ(tb.nrec, 2);
	CHECK_EQ(blk_queue_inflight(q), N);

	/* One completion round lets later ones in, but a new request may not jump the queue. */
	blk_queue_kick(q);
	tb.limit = 4;
	t_run(q);
	CHECK_EQ(blk_queue_inflight(q), 0);
	CHECK(tb.neagain > 0);
	CHECK_EQ(tb.nrec, N);
	for (unsigned i = 0; i < N; i++) {
		CHECK_EQ(tb.rec[i].offset, (uint64_t)i * 512);
		CHECK_EQ(t[i].ndone, 1);
		CHECK_EQ(t[i].status, VIRTIO_BLK_S_OK);
	}
	CHECK_EQ(order, N);

	/* While requests wait, a newcomer goes behind them even if the backend has room. */
	tb.nrec = 0;
	tb.limit = 1;
	for (unsigned i = 0; i < 3; i++) {
		prep_write(i, 20 + i);
		if (i == 2)
			tb.limit = 10;
		CHECK(blk_req_submit(q, &t[i].req));
	}
	t_run(q);
	CHECK_EQ(tb.nrec, 3);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(tb.rec[i].offset, (uint64_t)(20 + i) * 512);
	blk_queue_destroy(q);
	return 0;
}
