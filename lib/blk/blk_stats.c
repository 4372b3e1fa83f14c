/* SPDX-License-Identifier: MIT */
/*
 * Statistics of the request engine: each queue counts its own requests in
 * its struct blk_stats_slot (blk_priv.h) with no lock and no locked
 * instruction; readers on other threads load the words relaxed. The device
 * keeps the list of running queues and the counters of the stopped ones
 * under stats_mu, which the data path never takes.
 */
#include <errno.h>
#include <string.h>

#include "blk_priv.h"

_Static_assert(sizeof(struct blk_stats) % sizeof(uint64_t) == 0, "blk_stats is all uint64_t");

/* Log2 bucket of a latency: [2^(i-1), 2^i) µs, 0 below 1 µs, the last one open-ended. */
static unsigned lat_bucket(uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned b = us ? 64 - (unsigned)__builtin_clzll(us) : 0;

	return b < BLK_LAT_BUCKETS ? b : BLK_LAT_BUCKETS - 1;
}

void blk_stats_complete(struct blk_queue *q, const struct blk_req *req, uint8_t status,
			uint64_t now_ns)
{
	struct blk_stats_slot *s = &q->st;
	bool ok = status == VIRTIO_BLK_S_OK;
	unsigned cls = BLK_LAT_OTHER;
	size_t i;

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		i = BLK_STAT(reads);
		cls = BLK_LAT_READ;
		if (ok)
			blk_stat_add(s, BLK_STAT(bytes_read), req->bytes);
		break;
	case VIRTIO_BLK_T_OUT:
		i = BLK_STAT(writes);
		cls = BLK_LAT_WRITE;
		if (ok)
			blk_stat_add(s, BLK_STAT(bytes_written), req->bytes);
		break;
	case VIRTIO_BLK_T_FLUSH:
		i = BLK_STAT(flushes);
		break;
	case VIRTIO_BLK_T_DISCARD:
		i = BLK_STAT(discards);
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		i = BLK_STAT(write_zeroes);
		break;
	case VIRTIO_BLK_T_SECURE_ERASE:
		i = BLK_STAT(secure_erases);
		break;
	default:
		i = BLK_STAT(others);
		break;
	}
	blk_stat_add(s, i, 1);
	if (!ok)
		blk_stat_add(s, BLK_STAT(errors), 1);
	blk_stat_add(s,
		     BLK_STAT(lat_us[0][0]) + cls * BLK_LAT_BUCKETS +
			 lat_bucket(now_ns > req->t_start ? now_ns - req->t_start : 0),
		     1);
}

static void slot_read(struct blk_stats_slot *s, struct blk_stats *out)
{
	uint64_t w[BLK_STATS_WORDS];

	for (size_t i = 0; i < BLK_STATS_WORDS; i++)
		w[i] = atomic_load_explicit(&s->w[i], memory_order_relaxed);
	memcpy(out, w, sizeof(*out));
}

static void stats_add(struct blk_stats *sum, const struct blk_stats *x)
{
	uint64_t a[BLK_STATS_WORDS], b[BLK_STATS_WORDS];

	memcpy(a, sum, sizeof(a));
	memcpy(b, x, sizeof(b));
	for (size_t i = 0; i < BLK_STATS_WORDS; i++)
		a[i] += b[i];
	memcpy(sum, a, sizeof(a));
}

void blk_stats_sum(struct blk_stats *sum, const struct blk_stats *per_queue, unsigned nq)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < nq; i++)
		stats_add(sum, &per_queue[i]);
}

void blk_stats_attach(struct blk_queue *q)
{
	struct blk_dev *d = q->d;

	pthread_mutex_lock(&d->stats_mu);
	q->next_in_dev = d->queues;
	d->queues = q;
	pthread_mutex_unlock(&d->stats_mu);
}

void blk_stats_detach(struct blk_queue *q)
{
	struct blk_dev *d = q->d;
	struct blk_queue **pp;
	struct blk_stats st;

	pthread_mutex_lock(&d->stats_mu);
	for (pp = &d->queues; *pp; pp = &(*pp)->next_in_dev) {
		if (*pp == q) {
			*pp = q->next_in_dev;
			slot_read(&q->st, &st);
			/* Nothing is in flight on a destroyed queue (blk_queue_destroy). */
			st.in_flight = 0;
			stats_add(&d->retired, &st);
			break;
		}
	}
	pthread_mutex_unlock(&d->stats_mu);
}

int blk_dev_stats(struct blk_dev *d, struct blk_stats *total, struct blk_stats *per_queue,
		  unsigned nq)
{
	int running = 0;

	if (!d || (nq && !per_queue))
		return -EINVAL;
	if (nq)
		memset(per_queue, 0, nq * sizeof(*per_queue));
	pthread_mutex_lock(&d->stats_mu);
	if (total)
		*total = d->retired;
	for (struct blk_queue *q = d->queues; q; q = q->next_in_dev) {
		struct blk_stats st;

		slot_read(&q->st, &st);
		if (total)
			stats_add(total, &st);
		if (q->index < nq)
			stats_add(&per_queue[q->index], &st);
		running++;
	}
	pthread_mutex_unlock(&d->stats_mu);
	return running;
}
