/* SPDX-License-Identifier: MIT */
/*
 * The latency a request is counted with runs from the batch it was submitted
 * in to the round that completed it: the engine reads the clock once per
 * batch and once per round, and a new batch reads it again.
 */
#include <time.h>

#include "tbe.h"

#define WAIT_MS 40

/* The one bucket of class cls that holds a sample (a single request counted). */
static unsigned only_bucket(const struct blk_stats *s, unsigned cls)
{
	unsigned found = BLK_LAT_BUCKETS;

	for (unsigned i = 0; i < BLK_LAT_BUCKETS; i++) {
		if (!s->lat_us[cls][i])
			continue;
		CHECK_EQ(s->lat_us[cls][i], 1);
		CHECK_EQ(found, BLK_LAT_BUCKETS);
		found = i;
	}
	CHECK(found < BLK_LAT_BUCKETS);
	return found;
}

/* Bucket b holds samples of [2^(b-1), 2^b) µs (bucket 0: below 1 µs). */
static unsigned bucket_of_us(uint64_t us)
{
	return us ? 64 - (unsigned)__builtin_clzll(us) : 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int main(void)
{
	static struct tbe tb;
	static uint8_t buf[512];
	struct blk_stats st;
	struct blk_dev d;
	struct blk_queue *q;
	struct t_req t;
	/* The bucket of WAIT_MS / 2: a sample there or above waited. */
	unsigned slow = bucket_of_us(WAIT_MS * 1000 / 2 + 1), fast = 0, n = 0;

	tbe_init(&tb, 1 << 20, true);
	q = t_setup(&d, &tb.base, NULL);

	/*
	 * Submitted, then completed WAIT_MS later: the completion's reading is
	 * not the submission's (counted at least WAIT_MS).
	 */
	t_prep(&t, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, sizeof(buf));
	CHECK(blk_req_submit(q, &t.req));
	sleep_ms(WAIT_MS);
	/* The round the backend's fd starts, without a kick since the submit. */
	blk_queue_process(q);
	CHECK_EQ(t.ndone, 1);
	CHECK(blk_dev_stats(&d, &st, NULL, 0) >= 0);
	CHECK(only_bucket(&st, BLK_LAT_READ) >= slow);

	/*
	 * A batch after a WAIT_MS pause, completed at once: its reading is new,
	 * not the previous batch's (a stale one would count it WAIT_MS or more).
	 * The bound is one bucket below WAIT_MS, whatever scheduling delays a
	 * busy machine adds between submit and run.
	 */
	sleep_ms(WAIT_MS);
	t_prep(&t, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, sizeof(buf));
	CHECK(blk_req_submit(q, &t.req));
	t_run(q);
	CHECK_EQ(t.ndone, 1);
	CHECK(blk_dev_stats(&d, &st, NULL, 0) >= 0);
	for (unsigned i = 0; i < BLK_LAT_BUCKETS; i++) {
		n += (unsigned)st.lat_us[BLK_LAT_READ][i];
		if (i + 1 < slow)
			fast += (unsigned)st.lat_us[BLK_LAT_READ][i];
	}
	CHECK_EQ(n, 2);
	CHECK_EQ(fast, 1);

	blk_queue_destroy(q);
	blk_dev_fini(&d);
	return 0;
}
