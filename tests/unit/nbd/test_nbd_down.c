/* SPDX-License-Identifier: MIT */
/*
 * A server that stays away past the reconnect window (5 s by default): the
 * write in flight fails with -EIO after the window, not before; a request
 * while it is still away fails fast with -EIO; once the server is back, new
 * requests reconnect and succeed.
 */
#include "nbd_test.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(void)
{
	const struct be_ops *ops = &be_nbd_ops;
	struct be_opts opts = {0};
	struct be_queue *q;
	struct srv s;
	struct be *be;
	static uint8_t buf[65536];
	char filearg[256];
	struct iovec v = {buf, sizeof(buf)};
	struct tio t;
	uint64_t t0, dt;
	int fd;

	if (!have_prog("nbdkit"))
		SKIP("nbdkit not installed");
	srv_init(&s);
	snprintf(filearg, sizeof(filearg), "file=%s", srv_path(&s, "disk.img"));
	fd = open(srv_path(&s, "disk.img"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	close(fd);
	char *argv_slow[] = {
	    "nbdkit", "-f",    "--exit-with-parent", "-U", s.sock, "--filter=delay",
	    "file",   filearg, "delay-write=1",	     NULL};
	char *argv[] = {"nbdkit", "-f", "--exit-with-parent", "-U", s.sock, "file", filearg, NULL};
	srv_start(&s, argv_slow);

	opts.path = s.uri;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK_EQ(ops->queue_create(be, 4, &q), 0);

	pat_fill(buf, 0, sizeof(buf), 30);
	tio_init(&t, BE_OP_WRITE, 0, 0, sizeof(buf), &v, 1);
	CHECK_EQ(ops->submit(q, &t.io), 0);
	ops->kick(q);
	ms_sleep(100);
	t0 = now_ms();
	srv_stop_sig(&s, SIGKILL);
	CHECK_EQ(tio_wait(ops, q, &t, 1, 15000), 0);
	dt = now_ms() - t0;
	fprintf(stderr, "in-flight write failed after %" PRIu64 " ms\n", dt);
	CHECK_EQ(t.res, -EIO);
	/* Never before the reconnect window; the upper bound only proves "bounded",
	 * with room for a loaded 2-CPU CI machine. */
	CHECK(dt >= BE_NBD_RECONNECT_MS_DEFAULT - 300);
	CHECK(dt < BE_NBD_RECONNECT_MS_DEFAULT + 10000);

	t0 = now_ms();
	CHECK_EQ(io1(q, BE_OP_READ, 0, 0, buf, 4096), -EIO);
	/* Fails fast (one short connection attempt), not after another full window. */
	CHECK(now_ms() - t0 < BE_NBD_RECONNECT_MS_DEFAULT - 1000);

	srv_start(&s, argv);
	pat_fill(buf, 0, sizeof(buf), 31);
	CHECK_EQ(io1(q, BE_OP_WRITE, 0, 0, buf, sizeof(buf)), 0);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(io1(q, BE_OP_READ, 0, 0, buf, sizeof(buf)), 0);
	CHECK(pat_check(buf, 0, sizeof(buf), 31));

	ops->queue_destroy(q);
	ops->close(be);
	srv_cleanup(&s);
	return 0;
}
