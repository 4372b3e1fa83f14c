/* SPDX-License-Identifier: MIT */
/*
 * Token buckets for the export's I/O limits (blk_limit.h).
 *
 * Shared by all queues of an export under one mutex. Why a mutex and not a
 * lock-free bucket: a request belongs to up to four buckets (requests and
 * bytes, total and per direction) and must be charged to all or none, which
 * one compare-and-swap cannot do; and the mutex is only taken when a limit
 * is set, where the number of admissions per second is what the operator
 * configured. Unlimited exports pay one relaxed load per request (`on`).
 * Per-queue shares of the budget would avoid the lock but waste the share
 * of idle queues, and guests often use one queue for most I/O.
 */
#include "blk_limit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal/size.h"

#define NS_PER_S 1000000000ull

/* units at rate per second, in ns, rounded up; saturates far beyond any real wait. */
static uint64_t units_ns(uint64_t units, uint64_t rate)
{
	unsigned __int128 ns = ((unsigned __int128)units * NS_PER_S + rate - 1) / rate;

	return ns > UINT64_MAX / 4 ? UINT64_MAX / 4 : (uint64_t)ns;
}

void blk_tb_set(struct blk_tb *b, uint64_t rate, uint64_t burst)
{
	memset(b, 0, sizeof(*b));
	b->rate = rate;
	if (!rate)
		return;
	/* QEMU's throttle default: a bucket of a tenth of a second's worth. */
	if (!burst)
		burst = rate / 10 ? rate / 10 : 1;
	b->burst_ns = units_ns(burst, rate);
}

uint64_t blk_tb_ready_at(const struct blk_tb *b, uint64_t units)
{
	uint64_t need;

	if (!b->rate)
		return 0;
	/*
	 * The request fits once the level (tat - now) plus its cost is at most
	 * the burst; one that is larger than the burst goes when the bucket is
	 * empty, and its debt delays the next ones.
	 */
	need = units_ns(units, b->rate);
	if (need > b->burst_ns)
		need = b->burst_ns;
	return b->tat + need > b->burst_ns ? b->tat + need - b->burst_ns : 0;
}

void blk_tb_charge(struct blk_tb *b, uint64_t now, uint64_t units)
{
	uint64_t ns;

	if (!b->rate)
		return;
	/* An idle bucket drains to empty, not below: no credit beyond the burst. */
	if (b->tat < now)
		b->tat = now;
	ns = units_ns(units, b->rate);
	b->tat = b->tat > UINT64_MAX / 2 - ns ? UINT64_MAX / 2 : b->tat + ns;
}

int blk_limits_parse_opt(const char *tok, struct blk_limits *l, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		size_t off;
		bool bytes; /* K, M, G, T suffixes */
	} keys[] = {
	    {"iops=", offsetof(struct blk_limits, iops), false},
	    {"iops-rd=", offsetof(struct blk_limits, iops_rd), false},
	    {"iops-wr=", offsetof(struct blk_limits, iops_wr), false},
	    {"iops-burst=", offsetof(struct blk_limits, iops_burst), false},
	    {"bps=", offsetof(struct blk_limits, bps), true},
	    {"bps-rd=", offsetof(struct blk_limits, bps_rd), true},
	    {"bps-wr=", offsetof(struct blk_limits, bps_wr), true},
	    {"bps-burst=", offsetof(struct blk_limits, bps_burst), true},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t n = strlen(keys[i].name);
		const char *v = tok + n;
		uint64_t x;

		if (strncmp(tok, keys[i].name, n))
			continue;
		/* Counts take no suffix: "1K" requests a second reads as a typo. */
		if ((!keys[i].bytes && strspn(v, "0123456789") != strlen(v)) || size_parse(v, &x) ||
		    x == 0) {
			snprintf(err, errlen, "%.*s must be a positive %s, not '%s'", (int)n - 1,
				 tok, keys[i].bytes ? "number of bytes" : "number", v);
			return -EINVAL;
		}
		memcpy((char *)l + keys[i].off, &x, sizeof(x));
		return 1;
	}
	return 0;
}

int blk_limits_check(const struct blk_limits *l, char *err, size_t errlen)
{
	const char *why = NULL;

	if (l->iops && (l->iops_rd || l->iops_wr))
		why = "iops limits both directions: give it or iops-rd/iops-wr, not both";
	else if (l->bps && (l->bps_rd || l->bps_wr))
		why = "bps limits both directions: give it or bps-rd/bps-wr, not both";
	else if (l->iops_burst && !(l->iops || l->iops_rd || l->iops_wr))
		why = "iops-burst needs an iops limit";
	else if (l->bps_burst && !(l->bps || l->bps_rd || l->bps_wr))
		why = "bps-burst needs a bps limit";
	if (!why)
		return 0;
	if (err)
		snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

int blk_limiter_init(struct blk_limiter *l)
{
	memset(l, 0, sizeof(*l));
	atomic_init(&l->on, false);
	return -pthread_mutex_init(&l->mu, NULL);
}

void blk_limiter_fini(struct blk_limiter *l)
{
	pthread_mutex_destroy(&l->mu);
}

static bool limits_any(const struct blk_limits *lim)
{
	return lim->iops || lim->iops_rd || lim->iops_wr || lim->bps || lim->bps_rd || lim->bps_wr;
}

int blk_limiter_set(struct blk_limiter *l, const struct blk_limits *lim)
{
	static const struct blk_limits none;

	if (!lim)
		lim = &none;
	if (blk_limits_check(lim, NULL, 0))
		return -EINVAL;
	pthread_mutex_lock(&l->mu);
	l->cfg = *lim;
	blk_tb_set(&l->iops[BLK_TB_TOTAL], lim->iops, lim->iops_burst);
	blk_tb_set(&l->iops[BLK_TB_READ], lim->iops_rd, lim->iops_burst);
	blk_tb_set(&l->iops[BLK_TB_WRITE], lim->iops_wr, lim->iops_burst);
	blk_tb_set(&l->bps[BLK_TB_TOTAL], lim->bps, lim->bps_burst);
	blk_tb_set(&l->bps[BLK_TB_READ], lim->bps_rd, lim->bps_burst);
	blk_tb_set(&l->bps[BLK_TB_WRITE], lim->bps_wr, lim->bps_burst);
	atomic_store_explicit(&l->on, limits_any(lim), memory_order_relaxed);
	pthread_mutex_unlock(&l->mu);
	return 0;
}

void blk_limiter_get(struct blk_limiter *l, struct blk_limits *out)
{
	pthread_mutex_lock(&l->mu);
	*out = l->cfg;
	pthread_mutex_unlock(&l->mu);
}

void blk_limiter_charge(struct blk_limiter *l, bool write, uint64_t bytes, uint64_t now)
{
	unsigned dir = write ? BLK_TB_WRITE : BLK_TB_READ;

	pthread_mutex_lock(&l->mu);
	blk_tb_charge(&l->iops[BLK_TB_TOTAL], now, 1);
	blk_tb_charge(&l->iops[dir], now, 1);
	blk_tb_charge(&l->bps[BLK_TB_TOTAL], now, bytes);
	blk_tb_charge(&l->bps[dir], now, bytes);
	pthread_mutex_unlock(&l->mu);
}

bool blk_limiter_admit(struct blk_limiter *l, bool write, uint64_t bytes, uint64_t now,
		       uint64_t *retry_at)
{
	unsigned dir = write ? BLK_TB_WRITE : BLK_TB_READ;
	struct blk_tb *b[4];
	uint64_t ready = 0;

	pthread_mutex_lock(&l->mu);
	b[0] = &l->iops[BLK_TB_TOTAL];
	b[1] = &l->iops[dir];
	b[2] = &l->bps[BLK_TB_TOTAL];
	b[3] = &l->bps[dir];
	for (unsigned i = 0; i < 4; i++) {
		uint64_t r = blk_tb_ready_at(b[i], i < 2 ? 1 : bytes);

		if (r > ready)
			ready = r;
	}
	if (ready > now) {
		pthread_mutex_unlock(&l->mu);
		*retry_at = ready;
		return false;
	}
	blk_tb_charge(b[0], now, 1);
	blk_tb_charge(b[1], now, 1);
	blk_tb_charge(b[2], now, bytes);
	blk_tb_charge(b[3], now, bytes);
	pthread_mutex_unlock(&l->mu);
	return true;
}
