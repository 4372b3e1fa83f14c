/* SPDX-License-Identifier: MIT */
/*
 * A FUA write to a server without FUA support (nbdkit eval) is emulated
 * with a trailing FLUSH. If the server dies after acknowledging the write
 * but before answering the FLUSH, the restarted server may not have the
 * data: the backend sends the whole write again, then the FLUSH, and
 * completes the request with success. Such writes do not count as
 * unflushed writeback data, so a later flush succeeds too.
 */
#include "nbd_test.h"

static struct srv s;
static char logarg[256];
static char *argv_srv[] = {"nbdkit",
			   "-f",
			   "--exit-with-parent",
			   "-U",
			   s.sock,
			   "--filter=log",
			   NBD_EVAL_NO_FUA,
			   "flush=sleep 2",
			   logarg,
			   NULL};

int main(void)
{
	const struct be_ops *ops = &be_nbd_ops;
	struct be_opts opts = {0};
	struct be_queue *q;
	struct be *be;
	static uint8_t buf[8192];
	struct iovec iov = {buf, sizeof(buf)};
	struct tio t;
	const char *log, *w, *f;

	if (!have_prog("nbdkit"))
		SKIP("nbdkit not installed");
	if (system("nbdkit eval --dump-plugin >/dev/null 2>&1") != 0)
		SKIP("nbdkit eval plugin not installed");
	srv_init(&s);
	argv_srv[4] = s.sock;
	snprintf(logarg, sizeof(logarg), "logfile=%s", srv_path(&s, "log1"));
	srv_start(&s, argv_srv);
	opts.path = s.uri;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK_EQ(ops->queue_create(be, 4, &q), 0);

	pat_fill(buf, 4096, sizeof(buf), 60);
	tio_init(&t, BE_OP_WRITE, BE_IO_F_FUA, 4096, sizeof(buf), &iov, 1);
	CHECK_EQ(ops->submit(q, &t.io), 0);
	ops->kick(q);
	/* The write is acknowledged at once; the FLUSH takes the server 2 s. */
	for (int i = 0; i < 100 && !strstr(srv_read(&s, "log1"), "Flush id="); i++)
		ms_sleep(20);
	CHECK(strstr(srv_read(&s, "log1"), "Flush id="));
	srv_stop_sig(&s, SIGKILL);
	CHECK_EQ(tio_wait(ops, q, &t, 1, 200), -ETIMEDOUT); /* nobody confirmed durability */
	snprintf(logarg, sizeof(logarg), "logfile=%s", srv_path(&s, "log2"));
	srv_start(&s, argv_srv);
	CHECK_EQ(tio_wait(ops, q, &t, 1, 20000), 0);
	CHECK_EQ(t.res, 0);

	log = srv_read(&s, "log2");
	w = strstr(log, "Write id=");
	f = w ? strstr(w, "Flush id=") : NULL;
	if (!w || !strstr(w, "offset=0x1000 count=0x2000") || !f) {
		fprintf(stderr, "expected the write sent again, then the flush:\n%s", log);
		return 1;
	}
	/* Durable through its own flush: not reported as a loss. */
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), 0);

	ops->queue_destroy(q);
	ops->close(be);
	srv_cleanup(&s);
	return 0;
}
