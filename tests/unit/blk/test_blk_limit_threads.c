/* SPDX-License-Identifier: MIT */
/*
 * blk_dev_set_limits and blk_dev_stats from another thread while two queue
 * threads run reads and writes: every request completes OK, the counters a
 * reader sees never go back, and the final counts are exact. Meant for
 * ThreadSanitizer too (scripts/sanitize.sh runs the unit suite under it).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "blk_test.h"

#define NQ   2
#define NREQ 20000

static struct blk_dev d;
static atomic_int running = NQ;

static void *queue_thread(void *arg)
{
	unsigned idx = (unsigned)(uintptr_t)arg;
	static _Thread_local uint8_t buf[4096];
	struct blk_queue *q;
	struct t_req t;

	CHECK_EQ(blk_queue_create(&d, 16, t_done, NULL, &q), 0);
	blk_queue_set_index(q, idx);
	for (unsigned i = 0; i < NREQ; i++) {
		uint32_t type = i % 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;

		if (type == VIRTIO_BLK_T_OUT)
			CHECK_EQ(t_io(q, &t, type, idx * 8, buf, sizeof(buf), NULL, 0),
				 VIRTIO_BLK_S_OK);
		else
			CHECK_EQ(t_io(q, &t, type, idx * 8, NULL, 0, buf, sizeof(buf)),
				 VIRTIO_BLK_S_OK);
	}
	blk_queue_destroy(q);
	atomic_fetch_sub(&running, 1);
	return NULL;
}

int main(void)
{
	static const struct blk_limits lims[] = {
	    {.iops = 200000},
	    {.bps_rd = 1u << 30, .iops_wr = 100000, .iops_burst = 4},
	    {0},
	};
	struct be *be = t_open("memory:1M");
	pthread_t th[NQ];
	struct blk_stats st, per[NQ];
	uint64_t last = 0;
	unsigned n = 0;

	CHECK_EQ(blk_dev_init(&d, be, &(struct blk_dev_opts){.num_queues = NQ, .queue_size = 128}),
		 0);
	blk_dev_set_features(&d, d.features);
	for (unsigned i = 0; i < NQ; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, queue_thread, (void *)(uintptr_t)i), 0);
	while (atomic_load(&running) > 0) {
		uint64_t done;

		CHECK_EQ(blk_dev_set_limits(&d, &lims[n++ % 3]), 0);
		CHECK(blk_dev_stats(&d, &st, per, NQ) >= 0);
		done = st.reads + st.writes;
		CHECK(done >= last);
		CHECK(done <= 2 * NREQ);
		last = done;
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	for (unsigned i = 0; i < NQ; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(blk_dev_stats(&d, &st, per, NQ), 0);
	CHECK_EQ(st.reads, NQ * NREQ / 2);
	CHECK_EQ(st.writes, NQ * NREQ / 2);
	CHECK_EQ(st.bytes_read, (uint64_t)NQ * NREQ / 2 * 4096);
	CHECK_EQ(st.errors, 0);
	CHECK_EQ(st.in_flight, 0);
	CHECK(n > 1);
	blk_dev_fini(&d);
	be_close(be);
	return 0;
}
