/* SPDX-License-Identifier: MIT */
/*
 * The server (nbdkit file plugin, writes delayed so they are in flight) is
 * killed mid-workload and restarted: writes in flight are not completed while
 * it is away, are re-sent on the new connection and succeed, requests
 * submitted while it is away succeed too, every acknowledged write is in
 * the image file afterwards, and the first flush reports that writes
 * acknowledged without FUA may have been lost with the server.
 */
#include "nbd_test.h"

#define SIZE (16u << 20)
#define N    16
#define L    65536

static void batch(struct tio *t, struct iovec (*v)[3], uint8_t *buf, uint64_t base, unsigned seed)
{
	for (unsigned i = 0; i < N; i++) {
		uint64_t off = base + (uint64_t)i * L;
		uint8_t *b = buf + (size_t)i * L;

		pat_fill(b, off, L, seed);
		v[i][0] = (struct iovec){b, 4096};
		v[i][1] = (struct iovec){b + 4096, 512};
		v[i][2] = (struct iovec){b + 4608, L - 4608};
		tio_init(&t[i], BE_OP_WRITE, i % 4 == 0 ? BE_IO_F_FUA : 0, off, L, v[i], 3);
	}
}

int main(void)
{
	const struct be_ops *ops = &be_nbd_ops;
	struct be_opts opts = {0};
	struct be_queue *q;
	struct srv s;
	struct be *be;
	static struct tio ta[N], tb[N], tc[N];
	static struct iovec va[N][3], vb[N][3], vc[N][3];
	static uint8_t bufa[N * L], bufb[N * L], bufc[N * L], rbuf[N * L];
	char filearg[256];
	int fd;

	if (!have_prog("nbdkit"))
		SKIP("nbdkit not installed");
	srv_init(&s);
	snprintf(filearg, sizeof(filearg), "file=%s", srv_path(&s, "disk.img"));
	fd = open(srv_path(&s, "disk.img"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, SIZE), 0);
	char *argv_slow[] = {
	    "nbdkit", "-f",    "--exit-with-parent", "-U", s.sock, "--filter=delay",
	    "file",   filearg, "delay-write=400ms",  NULL};
	char *argv[] = {"nbdkit", "-f", "--exit-with-parent", "-U", s.sock, "file", filearg, NULL};
	srv_start(&s, argv_slow);

	opts.path = s.uri;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK_EQ(ops->queue_create(be, 3 * N, &q), 0);

	/* A: acknowledged before the crash. */
	batch(ta, va, bufa, 0, 20);
	CHECK_EQ(tio_run(ops, q, ta, N, 10000), 0);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ(ta[i].res, 0);

	/* B: in flight (held 400 ms by the server) when it is killed. */
	batch(tb, vb, bufb, 4 << 20, 21);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ(ops->submit(q, &tb[i].io), 0);
	ops->kick(q);
	ms_sleep(100);
	srv_stop_sig(&s, SIGKILL);

	/* C: submitted while the server is away. */
	batch(tc, vc, bufc, 8 << 20, 22);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ(ops->submit(q, &tc[i].io), 0);
	ops->kick(q);

	/*
	 * Nothing completes while nobody can acknowledge it. Not a timing
	 * assumption: on a loaded machine the server may have acknowledged
	 * some of B before it died, and those may complete (successfully) now;
	 * C was submitted after the kill and must not complete at all.
	 */
	{
		struct pollfd p = {.fd = ops->queue_fd(q), .events = POLLIN};

		for (int waited = 0; waited < 700; waited += 100) {
			if (poll(&p, 1, 100) == 1)
				CHECK(ops->reap(q) >= 0);
		}
		for (unsigned i = 0; i < N; i++) {
			CHECK(!tc[i].done);
			CHECK(!tb[i].done || tb[i].res == 0);
		}
	}
	srv_start(&s, argv);

	CHECK_EQ(tio_wait(ops, q, tb, N, 10000), 0);
	CHECK_EQ(tio_wait(ops, q, tc, N, 10000), 0);
	for (unsigned i = 0; i < N; i++) {
		CHECK_EQ(tb[i].res, 0);
		CHECK_EQ(tc[i].res, 0);
	}

	/* Through the backend, then straight from the image. */
	CHECK_EQ(io1(q, BE_OP_READ, 0, 0, rbuf, N * L), 0);
	CHECK(pat_check(rbuf, 0, N * L, 20));
	CHECK_EQ(io1(q, BE_OP_READ, 0, 4 << 20, rbuf, N * L), 0);
	CHECK(pat_check(rbuf, 4 << 20, N * L, 21));
	/*
	 * A acknowledged writes without FUA on the lost connection and no flush
	 * covered them: the first flush reports the possible loss (this file
	 * plugin kept them, a restarted server need not have), the next succeeds.
	 */
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), -EIO);
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), 0);
	CHECK_EQ(pread(fd, rbuf, N * L, 0), N * L);
	CHECK(pat_check(rbuf, 0, N * L, 20));
	CHECK_EQ(pread(fd, rbuf, N * L, 4 << 20), N * L);
	CHECK(pat_check(rbuf, 4 << 20, N * L, 21));
	CHECK_EQ(pread(fd, rbuf, N * L, 8 << 20), N * L);
	CHECK(pat_check(rbuf, 8 << 20, N * L, 22));

	ops->queue_destroy(q);
	ops->close(be);
	close(fd);
	srv_cleanup(&s);
	return 0;
}
