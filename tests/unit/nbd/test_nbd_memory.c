/* SPDX-License-Identifier: MIT */
/*
 * nbdkit memory plugin: size and capabilities, multi-iovec write/read round
 * trips with many requests in flight, a request larger than the 32 MiB
 * default block limit, FUA, flush, trim and write-zeroes reading back zeroes.
 */
#include "nbd_test.h"
#include "internal/nbd_uri.h"

#define SIZE (64ull << 20)

int main(void)
{
	const struct be_ops *ops = &be_nbd_ops;
	struct be_opts opts = {0};
	struct be_queue *q;
	struct srv s;
	struct be *be;
	uint8_t *buf, *rbuf;

	if (!have_prog("nbdkit"))
		SKIP("nbdkit not installed");
	srv_init(&s);
	char *argv[] = {"nbdkit", "-f", "--exit-with-parent", "-U", s.sock, "memory", "64M", NULL};
	srv_start(&s, argv);

	CHECK(is_nbd_uri(s.uri));
	CHECK(!is_nbd_uri("/dev/sda"));
	opts.path = s.uri;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK_EQ(be->info.size, SIZE);
	CHECK(!be->info.ro);
	CHECK(be->info.can_flush);
	CHECK(be->info.can_discard);
	CHECK(be->info.can_write_zeroes);
	CHECK_EQ(ops->queue_create(be, 64, &q), 0);
	CHECK(ops->queue_fd(q) >= 0);

	buf = malloc(40 << 20);
	rbuf = malloc(40 << 20);
	CHECK(buf && rbuf);

	/* One write over odd-sized elements, read back through a different split. */
	{
		uint64_t off = 3 * 4096, len = 1 << 20;
		struct iovec wv[4] = {
		    {buf, 4096}, {buf + 4096, 100}, {buf + 4196, 412}, {buf + 4608, len - 4608}};
		struct iovec rv[3] = {{rbuf, 1}, {rbuf + 1, 70000}, {rbuf + 70001, len - 70001}};
		struct tio t;

		pat_fill(buf, off, len, 1);
		tio_init(&t, BE_OP_WRITE, 0, off, len, wv, 4);
		CHECK_EQ(tio_run(ops, q, &t, 1, 10000), 0);
		CHECK_EQ(t.res, 0);
		memset(rbuf, 0xee, len);
		tio_init(&t, BE_OP_READ, 0, off, len, rv, 3);
		CHECK_EQ(tio_run(ops, q, &t, 1, 10000), 0);
		CHECK_EQ(t.res, 0);
		CHECK(pat_check(rbuf, off, len, 1));
	}

	/* 48 requests in flight at once (writes), then 48 reads. */
	{
		enum { N = 48, L = 65536 };
		static struct tio t[N];
		static struct iovec v[N][2];

		for (unsigned i = 0; i < N; i++) {
			uint64_t off = (8ull << 20) + (uint64_t)i * L;

			pat_fill(buf + i * L, off, L, 2);
			v[i][0] = (struct iovec){buf + i * L, 512};
			v[i][1] = (struct iovec){buf + i * L + 512, L - 512};
			tio_init(&t[i], BE_OP_WRITE, i % 3 == 0 ? BE_IO_F_FUA : 0, off, L, v[i], 2);
		}
		CHECK_EQ(tio_run(ops, q, t, N, 10000), 0);
		for (unsigned i = 0; i < N; i++)
			CHECK_EQ(t[i].res, 0);
		memset(rbuf, 0, (size_t)N * L);
		for (unsigned i = 0; i < N; i++) {
			v[i][0] = (struct iovec){rbuf + i * L, L};
			tio_init(&t[i], BE_OP_READ, 0, (8ull << 20) + (uint64_t)i * L, L, v[i], 1);
		}
		CHECK_EQ(tio_run(ops, q, t, N, 10000), 0);
		for (unsigned i = 0; i < N; i++)
			CHECK_EQ(t[i].res, 0);
		CHECK(pat_check(rbuf, 8ull << 20, (size_t)N * L, 2));
	}

	/* Larger than the default 32 MiB block limit: split, never refused. */
	{
		uint64_t off = 16ull << 20, len = 40ull << 20;

		pat_fill(buf, off, len, 3);
		CHECK_EQ(io1(q, BE_OP_WRITE, BE_IO_F_FUA, off, buf, len), 0);
		memset(rbuf, 0, len);
		CHECK_EQ(io1(q, BE_OP_READ, 0, off, rbuf, len), 0);
		CHECK(pat_check(rbuf, off, len, 3));
	}

	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), 0);

	/* Trim: the memory plugin reads a trimmed range back as zeroes. */
	CHECK_EQ(io1(q, BE_OP_DISCARD, 0, 16ull << 20, NULL, 1 << 20), 0);
	CHECK_EQ(io1(q, BE_OP_READ, 0, 16ull << 20, rbuf, 1 << 20), 0);
	CHECK(all_zero(rbuf, 1 << 20));

	/* Write zeroes, with and without permission to unmap. */
	CHECK_EQ(io1(q, BE_OP_WRITE_ZEROES, 0, 20ull << 20, NULL, 3 << 20), 0);
	CHECK_EQ(
	    io1(q, BE_OP_WRITE_ZEROES, BE_IO_F_UNMAP | BE_IO_F_FUA, 30ull << 20, NULL, 2 << 20), 0);
	CHECK_EQ(io1(q, BE_OP_READ, 0, 20ull << 20, rbuf, 3 << 20), 0);
	CHECK(all_zero(rbuf, 3 << 20));
	CHECK_EQ(io1(q, BE_OP_READ, 0, 30ull << 20, rbuf, 2 << 20), 0);
	CHECK(all_zero(rbuf, 2 << 20));
	/* Data around the zeroed ranges survives. */
	CHECK_EQ(io1(q, BE_OP_READ, 0, 23ull << 20, rbuf, 7 << 20), 0);
	CHECK(pat_check(rbuf, 23ull << 20, 7 << 20, 3));

	CHECK_EQ(io1(q, BE_OP_SECURE_ERASE, 0, 0, NULL, 4096), -EOPNOTSUPP);
	/* Past the end: the server (or libnbd) refuses, the queue stays usable. */
	CHECK(io1(q, BE_OP_READ, 0, SIZE, rbuf, 4096) < 0);
	CHECK_EQ(io1(q, BE_OP_READ, 0, SIZE - 4096, rbuf, 4096), 0);

	/* A second queue gets its own connection and sees the same data. */
	{
		struct be_queue *q2;

		CHECK_EQ(ops->queue_create(be, 4, &q2), 0);
		CHECK_EQ(io1(q2, BE_OP_READ, 0, 8ull << 20, rbuf, 65536), 0);
		CHECK(pat_check(rbuf, 8ull << 20, 65536, 2));
		ops->queue_destroy(q2);
	}

	ops->queue_destroy(q);
	ops->close(be);
	free(buf);
	free(rbuf);
	srv_cleanup(&s);
	return 0;
}
