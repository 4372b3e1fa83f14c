/* SPDX-License-Identifier: MIT */
/*
 * Server-side I/O errors (nbdkit error filter, switched by a file): the
 * request fails with the server's errno (-EIO, -ENOSPC), is not retried as a
 * connection loss, and the queue stays usable once the errors stop.
 */
#include "nbd_test.h"

int main(void)
{
	const struct be_ops *ops = &be_nbd_ops;
	struct be_opts opts = {0};
	struct be_queue *q;
	struct srv s;
	struct be *be;
	static uint8_t buf[65536], rbuf[65536];
	char errarg[256], nospcarg[256];
	const char *errfile, *nospcfile;
	int fd;

	if (!have_prog("nbdkit"))
		SKIP("nbdkit not installed");
	srv_init(&s);
	errfile = srv_path(&s, "inject");
	nospcfile = srv_path(&s, "nospc");
	snprintf(errarg, sizeof(errarg), "error-file=%s", errfile);
	snprintf(nospcarg, sizeof(nospcarg), "error-zero-file=%s", nospcfile);
	char *argv[] = {"nbdkit",
			"-f",
			"--exit-with-parent",
			"-U",
			s.sock,
			"--filter=error",
			"memory",
			"16M",
			"error=EIO",
			"error-rate=100%",
			errarg,
			"error-zero=ENOSPC",
			"error-zero-rate=100%",
			nospcarg,
			NULL};
	srv_start(&s, argv);

	opts.path = s.uri;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK_EQ(ops->queue_create(be, 8, &q), 0);

	pat_fill(buf, 0, sizeof(buf), 11);
	CHECK_EQ(io1(q, BE_OP_WRITE, 0, 0, buf, sizeof(buf)), 0);

	fd = open(errfile, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(io1(q, BE_OP_WRITE, 0, 65536, buf, sizeof(buf)), -EIO);
	CHECK_EQ(io1(q, BE_OP_READ, 0, 0, rbuf, sizeof(rbuf)), -EIO);
	{
		/* Several in flight, each over several commands: all fail, none hang. */
		struct iovec v[4][2];
		struct tio t[4];

		for (unsigned i = 0; i < 4; i++) {
			v[i][0] = (struct iovec){buf, 4096};
			v[i][1] = (struct iovec){buf + 4096, 4096};
			tio_init(&t[i], BE_OP_WRITE, 0, (uint64_t)i * 8192, 8192, v[i], 2);
		}
		CHECK_EQ(tio_run(ops, q, t, 4, 10000), 0);
		for (unsigned i = 0; i < 4; i++)
			CHECK_EQ(t[i].res, -EIO);
	}
	unlink(errfile);

	CHECK_EQ(io1(q, BE_OP_READ, 0, 0, rbuf, sizeof(rbuf)), 0);
	CHECK(pat_check(rbuf, 0, sizeof(rbuf), 11));
	CHECK_EQ(io1(q, BE_OP_WRITE, 0, 65536, buf, sizeof(buf)), 0);

	fd = open(nospcfile, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(io1(q, BE_OP_WRITE_ZEROES, 0, 0, NULL, 4096), -ENOSPC);
	unlink(nospcfile);
	CHECK_EQ(io1(q, BE_OP_WRITE_ZEROES, 0, 0, NULL, 4096), 0);

	ops->queue_destroy(q);
	ops->close(be);
	srv_cleanup(&s);
	return 0;
}
