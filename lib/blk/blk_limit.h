/* SPDX-License-Identifier: MIT */
/*
 * I/O limits of one export (private to lib/blk): token buckets on requests
 * and bytes per second, for reads, writes and both, shared by every queue of
 * the device. Only the arithmetic lives here, with the clock passed in, so
 * tests can drive it without waiting; the queues (blk.c) keep the requests
 * that must wait, in order, and wake up through a timerfd.
 *
 * A bucket is kept as a "theoretical arrival time" (GCRA, the virtual
 * scheduling form of the leaky bucket): tat - now is the bucket's level
 * expressed in nanoseconds of drain at the configured rate. A request is
 * admitted when its cost fits in what the bucket has left (burst requests
 * back to back, then one per 1/rate), and a request larger than the whole
 * burst when the bucket is empty: it is charged in full, and the debt it
 * leaves delays the ones after it (QEMU's throttle groups also let it pass).
 */
#ifndef VBLK_BLK_BLK_LIMIT_H
#define VBLK_BLK_BLK_LIMIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * I/O limits of one export, shared by all its queues (token buckets, like
 * QEMU's throttle groups). 0 = no limit. A total limit and the per-direction
 * limits of the same kind exclude each other. Only reads and writes are
 * limited; flush, discard, write zeroes and GET_ID pass at once.
 */
struct blk_limits {
	uint64_t iops, iops_rd, iops_wr; /* requests per second */
	uint64_t bps, bps_rd, bps_wr;	 /* bytes per second */
	uint64_t iops_burst;		 /* bucket size in requests; 0 = a tenth of the rate */
	uint64_t bps_burst;		 /* bucket size in bytes; 0 = a tenth of the rate */
};

/*
 * One limit option of the --disk syntax, named like QEMU's throttling
 * options without "-total": iops=, iops-rd=, iops-wr=, iops-burst= (counts)
 * and bps=, bps-rd=, bps-wr=, bps-burst= (bytes, K/M/G/T suffixes), each
 * a positive number. Returns 1 (a limit option, stored in *l), 0 (not a
 * limit option, nothing changed) or -EINVAL with the reason in err (errlen
 * bytes, no "--disk:" prefix). Thread-safe.
 */
int blk_limits_parse_opt(const char *tok, struct blk_limits *l, char *err, size_t errlen);

/*
 * The rules a set of limits must follow, as QEMU's throttle_is_valid: a
 * total limit excludes the per-direction ones of its kind, and a burst
 * needs a rate of its kind. Returns 0, or -EINVAL with the reason in err
 * (may be NULL).
 */
int blk_limits_check(const struct blk_limits *l, char *err, size_t errlen);

struct blk_tb {
	uint64_t rate;	   /* units per second; 0 = no limit */
	uint64_t burst_ns; /* the bucket size, as time at rate */
	uint64_t tat;	   /* CLOCK_MONOTONIC ns at which the bucket is empty */
};

/* Configure b (rate 0: unlimited; burst in units, 0: rate/10, at least 1); empties it. */
void blk_tb_set(struct blk_tb *b, uint64_t rate, uint64_t burst);

/* The first time (ns) at which b admits a request of units; <= now: at once. */
uint64_t blk_tb_ready_at(const struct blk_tb *b, uint64_t units);

/* Charge units taken at time now. */
void blk_tb_charge(struct blk_tb *b, uint64_t now, uint64_t units);

enum { BLK_TB_TOTAL, BLK_TB_READ, BLK_TB_WRITE, BLK_TB_N };

struct blk_limiter {
	/*
	 * Any limit set: the only thing a queue reads per request when none
	 * is (relaxed: a request racing a change may pass either way).
	 */
	atomic_bool on;
	pthread_mutex_t mu; /* protects everything below */
	struct blk_limits cfg;
	struct blk_tb iops[BLK_TB_N], bps[BLK_TB_N];
};

int blk_limiter_init(struct blk_limiter *l);
void blk_limiter_fini(struct blk_limiter *l);

/* Validate and apply lim (NULL: none); every bucket starts empty. Returns 0 or -EINVAL. */
int blk_limiter_set(struct blk_limiter *l, const struct blk_limits *lim);

void blk_limiter_get(struct blk_limiter *l, struct blk_limits *out);

/*
 * Charge a read or write that goes whatever the buckets hold (a stopping
 * queue's drain): its debt still delays what comes after. Any thread.
 */
void blk_limiter_charge(struct blk_limiter *l, bool write, uint64_t bytes, uint64_t now);

/*
 * A read (write false) or write of bytes at time now: true if admitted (and
 * charged to every bucket it belongs to); false with *retry_at set to the
 * first time at which it may be admitted. Any thread.
 */
bool blk_limiter_admit(struct blk_limiter *l, bool write, uint64_t bytes, uint64_t now,
		       uint64_t *retry_at);

#endif
