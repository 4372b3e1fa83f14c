/* SPDX-License-Identifier: MIT */
/*
 * A queue held back by the export's limits releases its reads and writes
 * in the order they came, never fails one, lets flushes by, counts the
 * ones that waited, and takes a change of limits while requests wait.
 * The only time checks are lower bounds a limiter must respect and an
 * upper bound ten times wider than what the change promises.
 */
#include <time.h>

#include "tbe.h"

#define N 6

static uint8_t w[N][512];
static struct t_req t[N + 1];

static void prep(unsigned i, uint32_t type, uint64_t sector)
{
	t_hdr(&t[i], type, sector);
	t[i].iov[0] = (struct iovec){&t[i].hdr, 16};
	t[i].req.iov = t[i].iov;
	if (type == VIRTIO_BLK_T_FLUSH) {
		t[i].iov[1] = (struct iovec){&t[i].status, 1};
		t[i].req.out_num = 1;
		t[i].req.in_num = 1;
		return;
	}
	t[i].iov[1] = (struct iovec){w[i % N], 512};
	t[i].iov[2] = (struct iovec){&t[i].status, 1};
	t[i].req.out_num = type == VIRTIO_BLK_T_OUT ? 2 : 1;
	t[i].req.in_num = type == VIRTIO_BLK_T_OUT ? 1 : 2;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	static struct tbe tb;
	struct blk_dev_opts o = {.num_queues = 1, .queue_size = 64};
	struct blk_stats st;
	struct blk_dev d;
	struct blk_queue *q;
	unsigned order = 0;
	double t0;

	tbe_init(&tb, 1 << 20, true);
	/* 20 requests/s, one at a time: 50 ms apart. */
	o.limits = (struct blk_limits){.iops = 20, .iops_burst = 1};
	CHECK_EQ(blk_dev_init(&d, &tb.base, &o), 0);
	blk_dev_set_features(&d, d.features);
	CHECK_EQ(blk_queue_create(&d, 64, t_done, &order, &q), 0);

	/* Writes to sectors 0..4 and a read of sector 5, a flush after the second write. */
	t0 = now_s();
	for (unsigned i = 0; i < N; i++) {
		prep(i, i == N - 1 ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, i);
		CHECK(blk_req_submit(q, &t[i].req));
		if (i == 1) {
			prep(N, VIRTIO_BLK_T_FLUSH, 0);
			CHECK(blk_req_submit(q, &t[N].req));
		}
	}
	blk_queue_kick(q);
	/*
	 * The first write and the flush went down (and, the backend being
	 * synchronous, completed in the kick); the rest wait.
	 */
	CHECK_EQ(tb.nrec, 2);
	CHECK_EQ(tb.rec[0].op, BE_OP_WRITE);
	CHECK_EQ(tb.rec[1].op, BE_OP_FLUSH);
	CHECK_EQ(t[0].ndone, 1);
	CHECK_EQ(t[N].ndone, 1);
	CHECK_EQ(blk_queue_inflight(q), N - 1);
	CHECK_EQ(blk_dev_stats(&d, &st, NULL, 0), 1);
	CHECK_EQ(st.throttled, N - 1);
	CHECK_EQ(st.in_flight, N - 1);

	t_run(q);
	/* Five waits of 50 ms: a limiter that lets them through early is broken. */
	CHECK(now_s() - t0 >= 0.2);
	CHECK_EQ(tb.nrec, N + 1);
	for (unsigned i = 0, r = 0; i < N; i++, r++) {
		if (r == 1)
			r++; /* the flush */
		CHECK_EQ(tb.rec[r].offset, (uint64_t)i * 512);
		CHECK_EQ(tb.rec[r].op, i == N - 1 ? BE_OP_READ : BE_OP_WRITE);
		CHECK_EQ(t[i].ndone, 1);
		CHECK_EQ(t[i].status, VIRTIO_BLK_S_OK);
	}
	CHECK_EQ(order, N + 1);

	/* iops-wr: reads pass while writes wait. */
	CHECK_EQ(blk_dev_set_limits(&d, &(struct blk_limits){.iops_wr = 1, .iops_burst = 1}), 0);
	tb.nrec = 0;
	prep(0, VIRTIO_BLK_T_OUT, 0);
	prep(1, VIRTIO_BLK_T_OUT, 1);
	prep(2, VIRTIO_BLK_T_IN, 2);
	for (unsigned i = 0; i < 3; i++)
		CHECK(blk_req_submit(q, &t[i].req));
	blk_queue_kick(q);
	/* The read came after a waiting write: it waits too (one FIFO per queue). */
	CHECK_EQ(tb.nrec, 1);
	/* At one write a second the second write waits a second; lift the limits. */
	t0 = now_s();
	CHECK_EQ(blk_dev_set_limits(&d, NULL), 0);
	t_run(q);
	CHECK(now_s() - t0 < 0.9);
	CHECK_EQ(tb.nrec, 3);
	CHECK_EQ(tb.rec[1].offset, 512);
	CHECK_EQ(tb.rec[2].offset, 1024);

	/* A read alone is not held back by a write limit. */
	CHECK_EQ(blk_dev_set_limits(&d, &(struct blk_limits){.iops_wr = 1, .iops_burst = 1}), 0);
	for (unsigned i = 0; i < 3; i++) {
		prep(i, VIRTIO_BLK_T_IN, i);
		CHECK(blk_req_submit(q, &t[i].req));
	}
	blk_queue_kick(q);
	CHECK_EQ(tb.nrec, 6);
	t_run(q);
	CHECK_EQ(blk_dev_set_limits(&d, &(struct blk_limits){.iops = 1, .iops_rd = 1}), -EINVAL);

	/* A stopping queue sends what waits at once, in order, and limits nothing after. */
	CHECK_EQ(blk_dev_set_limits(&d, &(struct blk_limits){.iops = 1, .iops_burst = 1}), 0);
	tb.nrec = 0;
	for (unsigned i = 0; i < 4; i++) {
		prep(i, VIRTIO_BLK_T_OUT, 10 + i);
		CHECK(blk_req_submit(q, &t[i].req));
	}
	blk_queue_kick(q);
	CHECK_EQ(tb.nrec, 1); /* one a second: three wait */
	blk_queue_drain(q);
	CHECK_EQ(tb.nrec, 4);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(tb.rec[i].offset, (uint64_t)(10 + i) * 512);
	prep(4, VIRTIO_BLK_T_OUT, 20);
	CHECK(blk_req_submit(q, &t[4].req));
	CHECK_EQ(tb.nrec, 5);
	t_run(q);
	/*
	 * What the drain let go was charged: five writes at one a second leave
	 * over 4 s of debt (uncharged, only the first write's second would be).
	 */
	CHECK(d.lim.iops[BLK_TB_TOTAL].tat > (uint64_t)(now_s() * 1e9) + 3500000000u);
	blk_queue_destroy(q);
	CHECK_EQ(blk_queue_create(&d, 64, t_done, &order, &q), 0);
	prep(0, VIRTIO_BLK_T_OUT, 30);
	CHECK(blk_req_submit(q, &t[0].req));
	blk_queue_kick(q);
	CHECK_EQ(tb.nrec, 5);
	CHECK_EQ(blk_dev_set_limits(&d, NULL), 0);
	t_run(q);
	CHECK_EQ(tb.nrec, 6);
	blk_queue_destroy(q);
	blk_dev_fini(&d);
	return 0;
}
