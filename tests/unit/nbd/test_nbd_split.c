/* SPDX-License-Identifier: MIT */
/*
 * A server that enforces its advertised block sizes (64 KiB maximum, 4 KiB
 * minimum, blocksize-error-policy=error): large requests are split at the
 * maximum, and an iovec whose elements are not multiples of the minimum goes
 * through a bounce buffer instead of producing unaligned NBD commands.
 */
#include "nbd_test.h"

int main(void)
{
	const struct be_ops *ops = &be_nbd_ops;
	struct be_opts opts = {0};
	struct be_queue *q;
	struct srv s;
	struct be *be;
	enum { LEN = 1 << 20 };
	static uint8_t buf[LEN], rbuf[LEN];

	if (!have_prog("nbdkit"))
		SKIP("nbdkit not installed");
	srv_init(&s);
	char *argv[] = {"nbdkit",
			"-f",
			"--exit-with-parent",
			"-U",
			s.sock,
			"--filter=blocksize-policy",
			"memory",
			"16M",
			"blocksize-minimum=4096",
			"blocksize-maximum=65536",
			"blocksize-error-policy=error",
			NULL};
	srv_start(&s, argv);

	opts.path = s.uri;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK_EQ(be->info.align, 4096);
	CHECK_EQ(ops->queue_create(be, 8, &q), 0);

	/* 1 MiB in one element: 16 commands of 64 KiB. */
	pat_fill(buf, 4096, LEN, 5);
	CHECK_EQ(io1(q, BE_OP_WRITE, 0, 4096, buf, LEN), 0);
	CHECK_EQ(io1(q, BE_OP_READ, 0, 4096, rbuf, LEN), 0);
	CHECK(pat_check(rbuf, 4096, LEN, 5));

	/* Elements of 4 KiB multiples: one command per element. */
	{
		struct iovec v[3] = {
		    {rbuf, 8192}, {rbuf + 8192, 4096}, {rbuf + 12288, LEN - 12288}};
		struct tio t;

		memset(rbuf, 0, LEN);
		tio_init(&t, BE_OP_READ, 0, 4096, LEN, v, 3);
		CHECK_EQ(tio_run(ops, q, &t, 1, 10000), 0);
		CHECK_EQ(t.res, 0);
		CHECK(pat_check(rbuf, 4096, LEN, 5));
	}

	/* Elements of 512-byte multiples only: bounced, both directions. */
	{
		struct iovec v[3] = {
		    {buf, 512}, {buf + 512, 3584 + 65536}, {buf + 69632, 4096 * 7}};
		uint64_t len = 512 + 3584 + 65536 + 4096 * 7;
		struct tio t;

		pat_fill(buf, 1 << 20, len, 6);
		tio_init(&t, BE_OP_WRITE, BE_IO_F_FUA, 1 << 20, len, v, 3);
		CHECK_EQ(tio_run(ops, q, &t, 1, 10000), 0);
		CHECK_EQ(t.res, 0);
		memset(buf, 0, len);
		tio_init(&t, BE_OP_READ, 0, 1 << 20, len, v, 3);
		CHECK_EQ(tio_run(ops, q, &t, 1, 10000), 0);
		CHECK_EQ(t.res, 0);
		CHECK(pat_check(buf, 1 << 20, len, 6));
	}

	/* Payload-free commands are split independently of the 64 KiB limit. */
	CHECK_EQ(io1(q, BE_OP_WRITE_ZEROES, 0, 0, NULL, 4 << 20), 0);
	CHECK_EQ(io1(q, BE_OP_READ, 0, 0, rbuf, LEN), 0);
	CHECK(all_zero(rbuf, LEN));

	ops->queue_destroy(q);
	ops->close(be);
	srv_cleanup(&s);
	return 0;
}
