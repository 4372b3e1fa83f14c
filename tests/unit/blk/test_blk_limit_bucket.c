/* SPDX-License-Identifier: MIT */
/*
 * Token-bucket arithmetic of the export limits (blk_limit.c), with the clock
 * passed in: burst at once then exactly the rate, debt after a request larger
 * than the burst, no credit saved while idle, directions and kinds charged to
 * their own buckets, the option rules of blk_limiter_set and the parser
 * of the --disk limit options.
 */
#include <errno.h>

#include "blk/blk_limit.h"
#include "test.h"

#define MS 1000000ull
#define S  1000000000ull
#define T0 (1000 * S) /* any start: the clock is CLOCK_MONOTONIC ns */

/* Admissions of one request per step when the clock always jumps to the next ready time. */
static uint64_t run_for(struct blk_limiter *l, bool write, uint64_t bytes, uint64_t from,
			uint64_t until)
{
	uint64_t now = from, n = 0, retry;

	while (now < until) {
		if (blk_limiter_admit(l, write, bytes, now, &retry)) {
			n++;
			continue;
		}
		CHECK(retry > now);
		now = retry;
	}
	return n;
}

int main(void)
{
	struct blk_limiter l;
	struct blk_tb b;
	uint64_t retry = 0, n;

	/* 100/s, burst 10: ten at once, then one every 10 ms. */
	blk_tb_set(&b, 100, 10);
	for (int i = 0; i < 10; i++) {
		CHECK(blk_tb_ready_at(&b, 1) <= T0);
		blk_tb_charge(&b, T0, 1);
	}
	CHECK_EQ(blk_tb_ready_at(&b, 1), T0 + 10 * MS);
	blk_tb_charge(&b, T0 + 10 * MS, 1);
	CHECK_EQ(blk_tb_ready_at(&b, 1), T0 + 20 * MS);
	/* Three units fit once three tenths of the bucket drained. */
	CHECK_EQ(blk_tb_ready_at(&b, 3), T0 + 40 * MS);
	/* More than the burst: when the bucket is empty (T0 + 110 ms). */
	CHECK_EQ(blk_tb_ready_at(&b, 50), T0 + 110 * MS);

	/* Idle for a minute: the bucket is empty, not in credit; still ten at once. */
	n = 0;
	while (blk_tb_ready_at(&b, 1) <= T0 + 60 * S) {
		blk_tb_charge(&b, T0 + 60 * S, 1);
		n++;
	}
	CHECK_EQ(n, 10);

	/* Default burst: a tenth of the rate, at least one. */
	blk_tb_set(&b, 5, 0);
	blk_tb_charge(&b, T0, 1);
	CHECK(blk_tb_ready_at(&b, 1) > T0);
	blk_tb_set(&b, 1000, 0);
	for (int i = 0; i < 100; i++) {
		CHECK(blk_tb_ready_at(&b, 1) <= T0);
		blk_tb_charge(&b, T0, 1);
	}
	CHECK(blk_tb_ready_at(&b, 1) > T0);

	/* No rate: always ready, charges ignored. */
	blk_tb_set(&b, 0, 0);
	blk_tb_charge(&b, T0, UINT64_MAX);
	CHECK_EQ(blk_tb_ready_at(&b, UINT64_MAX), 0);

	/* Huge charges at a tiny rate saturate instead of wrapping to "ready". */
	blk_tb_set(&b, 1, 1);
	for (int i = 0; i < 8; i++)
		blk_tb_charge(&b, T0, UINT64_MAX);
	CHECK(blk_tb_ready_at(&b, 1) > T0 + 1000000 * S);

	CHECK_EQ(blk_limiter_init(&l), 0);
	CHECK(!atomic_load(&l.on));
	CHECK(blk_limiter_admit(&l, true, 1 << 20, T0, &retry));

	/* iops=200, burst 20: over 10 simulated seconds, 20 + 200 * 10 requests. */
	CHECK_EQ(blk_limiter_set(&l, &(struct blk_limits){.iops = 200, .iops_burst = 20}), 0);
	CHECK(atomic_load(&l.on));
	n = run_for(&l, false, 4096, T0, T0 + 10 * S);
	CHECK(n >= 2019 && n <= 2020);

	/* iops-wr only: reads pass freely, writes are limited. */
	CHECK_EQ(blk_limiter_set(&l, &(struct blk_limits){.iops_wr = 10, .iops_burst = 1}), 0);
	for (int i = 0; i < 1000; i++)
		CHECK(blk_limiter_admit(&l, false, 4096, T0, &retry));
	CHECK(blk_limiter_admit(&l, true, 4096, T0, &retry));
	CHECK(!blk_limiter_admit(&l, true, 4096, T0, &retry));
	CHECK_EQ(retry, T0 + 100 * MS);
	CHECK(!blk_limiter_admit(&l, true, 4096, retry - 1, &retry));
	CHECK(blk_limiter_admit(&l, true, 4096, retry, &retry));

	/* bps=1M, burst 64K: a 1 MiB write passes at once and leaves a second of debt. */
	CHECK_EQ(blk_limiter_set(&l, &(struct blk_limits){.bps = 1 << 20, .bps_burst = 64 << 10}),
		 0);
	CHECK(blk_limiter_admit(&l, true, 1 << 20, T0, &retry));
	CHECK(!blk_limiter_admit(&l, false, 512, T0, &retry));
	/* 1 s of debt minus the burst (62.5 ms) plus 512 bytes' worth (488282 ns, rounded up). */
	CHECK_EQ(retry, T0 + S - S / 16 + 488282);
	CHECK(!blk_limiter_admit(&l, false, 512, retry - 1, &retry));
	CHECK(blk_limiter_admit(&l, false, 512, retry, &retry));
	/* And the rate: 4 KiB reads for 8 s move 8 MiB + the burst. */
	n = run_for(&l, false, 4096, T0 + 2 * S, T0 + 10 * S);
	CHECK(n >= 8 * 256 + 15 && n <= 8 * 256 + 16);

	/* Both kinds at once: the stricter one decides, per direction. */
	CHECK_EQ(blk_limiter_set(&l, &(struct blk_limits){.iops = 1000, .bps_rd = 1 << 20}), 0);
	n = run_for(&l, false, 64 << 10, T0, T0 + 4 * S);
	CHECK(n >= 4 * 16 && n <= 4 * 16 + 2);
	n = run_for(&l, true, 64 << 10, T0 + 10 * S, T0 + 14 * S);
	CHECK(n >= 4000 && n <= 4100);

	/* QEMU's rules: a total limit excludes per-direction ones; a burst needs a rate. */
	CHECK_EQ(blk_limiter_set(&l, &(struct blk_limits){.iops = 1, .iops_rd = 1}), -EINVAL);
	CHECK_EQ(blk_limiter_set(&l, &(struct blk_limits){.bps = 1, .bps_wr = 1}), -EINVAL);
	CHECK_EQ(blk_limiter_set(&l, &(struct blk_limits){.iops_burst = 5}), -EINVAL);
	CHECK_EQ(blk_limiter_set(&l, &(struct blk_limits){.bps_burst = 5, .iops = 5}), -EINVAL);
	/* A refused change keeps the old limits. */
	CHECK(atomic_load(&l.on));

	/* Back to none: everything passes, the flag is off. */
	CHECK_EQ(blk_limiter_set(&l, NULL), 0);
	CHECK(!atomic_load(&l.on));
	for (int i = 0; i < 1000; i++)
		CHECK(blk_limiter_admit(&l, true, 1 << 30, T0, &retry));
	blk_limiter_fini(&l);

	/* The --disk options: counts plain, bytes with suffixes, 0 and junk refused. */
	struct blk_limits lim = {0};
	char err[128];

	CHECK_EQ(blk_limits_parse_opt("iops=500", &lim, err, sizeof(err)), 1);
	CHECK_EQ(blk_limits_parse_opt("iops-rd=7", &lim, err, sizeof(err)), 1);
	CHECK_EQ(blk_limits_parse_opt("bps-wr=2M", &lim, err, sizeof(err)), 1);
	CHECK_EQ(blk_limits_parse_opt("bps-burst=64K", &lim, err, sizeof(err)), 1);
	CHECK_EQ(lim.iops, 500);
	CHECK_EQ(lim.iops_rd, 7);
	CHECK_EQ(lim.bps_wr, 2 << 20);
	CHECK_EQ(lim.bps_burst, 64 << 10);
	CHECK_EQ(blk_limits_parse_opt("iops", &lim, err, sizeof(err)), 0);
	CHECK_EQ(blk_limits_parse_opt("iopsx=1", &lim, err, sizeof(err)), 0);
	CHECK_EQ(blk_limits_parse_opt("iops=0", &lim, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "iops must be a positive number"));
	CHECK_EQ(blk_limits_parse_opt("iops=1K", &lim, err, sizeof(err)), -EINVAL);
	CHECK_EQ(blk_limits_parse_opt("iops=", &lim, err, sizeof(err)), -EINVAL);
	CHECK_EQ(blk_limits_parse_opt("bps=1Q", &lim, err, sizeof(err)), -EINVAL);
	CHECK_EQ(blk_limits_parse_opt("bps=-1", &lim, err, sizeof(err)), -EINVAL);
	CHECK_EQ(lim.iops, 500); /* untouched by the failures */
	CHECK_EQ(blk_limits_check(&lim, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "iops-rd/iops-wr"));
	lim.iops_rd = 0;
	CHECK_EQ(blk_limits_check(&lim, err, sizeof(err)), 0);
	lim.bps_wr = 0;
	CHECK_EQ(blk_limits_check(&lim, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "bps-burst"));
	lim.bps_burst = 0;
	CHECK_EQ(blk_limits_check(&lim, err, sizeof(err)), 0);
	return 0;
}
