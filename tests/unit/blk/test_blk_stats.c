/* SPDX-License-Identifier: MIT */
/*
 * Engine statistics (blk_dev_stats): every request type is counted once,
 * with its bytes, its errors and one latency sample in its class; per-queue
 * counters follow the queue's index and live as long as the queue, the
 * device total keeps what stopped queues counted.
 */
#include "tbe.h"

static struct blk_queue *q;

static uint8_t dwz(uint32_t type, uint64_t sector, uint32_t n)
{
	return t_dwz(q, type, sector, n, 0);
}

static uint64_t hist_sum(const struct blk_stats *s, unsigned cls)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < BLK_LAT_BUCKETS; i++)
		n += s->lat_us[cls][i];
	return n;
}

int main(void)
{
	static struct tbe tb;
	static uint8_t buf[8192], id[20];
	struct blk_stats st, per[3], sum;
	struct blk_dev d;
	struct t_req t;

	tbe_init(&tb, 1 << 20, true);
	q = t_setup(&d, &tb.base, &(struct blk_dev_opts){.num_queues = 3, .queue_size = 128});
	blk_queue_set_index(q, 1);

	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 4096), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 8, NULL, 0, buf, 512), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, buf, 1024, NULL, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(dwz(VIRTIO_BLK_T_DISCARD, 0, 8), VIRTIO_BLK_S_OK);
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8), VIRTIO_BLK_S_OK);
	/* Not offered by this backend: counted, and an error. */
	CHECK_EQ(dwz(VIRTIO_BLK_T_SECURE_ERASE, 0, 8), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 20), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_io(q, &t, 99, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_UNSUPP);
	/* Past the end: a read that failed, no bytes. */
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 1 << 11, NULL, 0, buf, 512), VIRTIO_BLK_S_IOERR);
	/* A backend failure: a write that failed, no bytes. */
	tb.res[BE_OP_WRITE] = -EIO;
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, buf, 512, NULL, 0), VIRTIO_BLK_S_IOERR);
	tb.res[BE_OP_WRITE] = 0;
	/* A header too short to say what it is: "other", an error. */
	t_hdr(&t, VIRTIO_BLK_T_IN, 0);
	t.iov[0] = (struct iovec){&t.hdr, 8};
	t.iov[1] = (struct iovec){&t.status, 1};
	CHECK(t_submit(q, &t, 1, 1));
	CHECK_EQ(t.status, VIRTIO_BLK_S_IOERR);

	CHECK_EQ(blk_dev_stats(&d, &st, per, 3), 1);
	CHECK_EQ(st.reads, 3);
	CHECK_EQ(st.writes, 2);
	CHECK_EQ(st.flushes, 1);
	CHECK_EQ(st.discards, 1);
	CHECK_EQ(st.write_zeroes, 1);
	CHECK_EQ(st.secure_erases, 1);
	CHECK_EQ(st.others, 3);
	CHECK_EQ(st.bytes_read, 4096 + 512);
	CHECK_EQ(st.bytes_written, 1024);
	CHECK_EQ(st.errors, 5);
	CHECK_EQ(st.in_flight, 0);
	CHECK_EQ(st.throttled, 0);
	CHECK_EQ(hist_sum(&st, BLK_LAT_READ), 3);
	CHECK_EQ(hist_sum(&st, BLK_LAT_WRITE), 2);
	CHECK_EQ(hist_sum(&st, BLK_LAT_OTHER), 7);
	/* Queue index 1 holds it all; the others are zero; the sum is the total. */
	CHECK(!memcmp(&per[1], &st, sizeof(st)));
	blk_stats_sum(&sum, per, 3);
	CHECK(!memcmp(&sum, &st, sizeof(st)));
	CHECK_EQ(per[0].reads + per[2].reads + per[0].others + per[2].others, 0);

	/* In flight: submitted, the backend has not completed it yet. */
	t_hdr(&t, VIRTIO_BLK_T_IN, 0);
	t.iov[0] = (struct iovec){&t.hdr, 16};
	t.iov[1] = (struct iovec){buf, 512};
	t.iov[2] = (struct iovec){&t.status, 1};
	t.req.iov = t.iov;
	t.req.out_num = 1;
	t.req.in_num = 2;
	CHECK(blk_req_submit(q, &t.req));
	CHECK_EQ(blk_dev_stats(&d, NULL, per, 3), 1);
	CHECK_EQ(per[1].in_flight, 1);
	CHECK_EQ(per[1].reads, 3);
	t_run(q);
	CHECK_EQ(blk_dev_stats(&d, NULL, per, 3), 1);
	CHECK_EQ(per[1].in_flight, 0);
	CHECK_EQ(per[1].reads, 4);

	/* A stopped queue's counts stay in the total; a new queue starts from zero. */
	blk_queue_destroy(q);
	CHECK_EQ(blk_dev_stats(&d, &st, per, 3), 0);
	CHECK_EQ(st.reads, 4);
	CHECK_EQ(per[1].reads, 0);
	CHECK_EQ(blk_queue_create(&d, 16, t_done, NULL, &q), 0);
	blk_queue_set_index(q, 2);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, buf, 8192, NULL, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_dev_stats(&d, &st, per, 2), 1);
	CHECK_EQ(st.writes, 3);
	CHECK_EQ(st.bytes_written, 1024 + 8192);
	CHECK_EQ(per[0].writes + per[1].writes, 0); /* index 2 is beyond nq */
	CHECK_EQ(blk_dev_stats(&d, NULL, per, 3), 1);
	CHECK_EQ(per[2].writes, 1);
	CHECK_EQ(blk_dev_stats(NULL, &st, NULL, 0), -EINVAL);
	CHECK_EQ(blk_dev_stats(&d, &st, NULL, 1), -EINVAL);
	blk_queue_destroy(q);
	blk_dev_fini(&d);
	return 0;
}
