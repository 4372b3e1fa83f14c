/* SPDX-License-Identifier: MIT */
/*
 * Two queues (two connections) to a server that does not advertise
 * multi-conn (nbdkit memory behind multi-conn-mode=disable): a flush on one
 * queue also flushes the other connection when it holds unflushed writes,
 * and only then, once per connection; a queue destroyed with unflushed writes flushes its
 * connection before closing it; a write acknowledged on queue 0 and lost
 * with a restarted server makes a flush on queue 1 fail, once. The nbdkit
 * log filter shows which connection received which command.
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
			   "--filter=multi-conn",
			   "memory",
			   "1M",
			   "multi-conn-mode=disable",
			   logarg,
			   NULL};

/* Requests named op (e.g. "Flush") that connection conn received. */
static unsigned count(const char *log, unsigned conn, const char *op)
{
	char pat[64];
	unsigned n = 0;

	snprintf(pat, sizeof(pat), "connection=%u %s id=", conn, op);
	for (const char *p = log; (p = strstr(p, pat)); p += strlen(pat))
		n++;
	return n;
}

/* Connection that received the last Write request. */
static unsigned last_writer(const char *log)
{
	const char *p, *last = NULL;
	unsigned conn = 0;

	for (p = log; (p = strstr(p, " Write id=")); p++)
		last = p;
	CHECK(last);
	while (last > log && strncmp(last, "connection=", 11))
		last--;
	CHECK(sscanf(last, "connection=%u", &conn) == 1);
	return conn;
}

static int dump_fail(const char *what)
{
	fprintf(stderr, "%s; server log:\n%s\n", what, srv_read(&s, "log"));
	exit(1);
}

int main(void)
{
	const struct be_ops *ops = &be_nbd_ops;
	struct be_opts opts = {0};
	struct be_queue *q0, *q1;
	struct be *be;
	static uint8_t buf[8192];
	unsigned c0, c1, f0, f1;
	const char *log;

	if (!have_prog("nbdkit"))
		SKIP("nbdkit not installed");
	if (system("nbdkit --filter=multi-conn null --dump-plugin >/dev/null 2>&1") != 0)
		SKIP("nbdkit multi-conn filter not installed");
	srv_init(&s);
	argv_srv[4] = s.sock;
	snprintf(logarg, sizeof(logarg), "logfile=%s", srv_path(&s, "log"));
	srv_start(&s, argv_srv);
	opts.path = s.uri;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK_EQ(ops->queue_create(be, 8, &q0), 0);
	CHECK_EQ(ops->queue_create(be, 8, &q1), 0);
	pat_fill(buf, 0, sizeof(buf), 5);

	/* Write on queue 0, flush on queue 1: both connections flush. */
	CHECK_EQ(io1(q0, BE_OP_WRITE, 0, 0, buf, sizeof(buf)), 0);
	CHECK_EQ(io1(q1, BE_OP_FLUSH, 0, 0, NULL, 0), 0);
	log = srv_read(&s, "log");
	if (strstr(log, "multi_conn=1") && !strstr(log, "multi_conn=0"))
		dump_fail("the server advertised multi-conn");
	c0 = last_writer(log);
	c1 = c0 == 1 ? 2 : 1;
	f0 = count(log, c0, "Flush");
	f1 = count(log, c1, "Flush");
	if (f0 != 1 || f1 != 1)
		dump_fail("expected one flush on each connection");

	/* Queue 0 has nothing unflushed now: a flush on queue 1 stays on its connection. */
	CHECK_EQ(io1(q1, BE_OP_FLUSH, 0, 0, NULL, 0), 0);
	log = srv_read(&s, "log");
	if (count(log, c0, "Flush") != f0 || count(log, c1, "Flush") != f1 + 1)
		dump_fail("a clean connection was flushed");

	/* Both dirty: one flush on each connection, not a second one on queue 1's. */
	CHECK_EQ(io1(q0, BE_OP_WRITE, 0, 0, buf, sizeof(buf)), 0);
	CHECK_EQ(io1(q1, BE_OP_WRITE, 0, 8192, buf, sizeof(buf)), 0);
	CHECK_EQ(io1(q1, BE_OP_FLUSH, 0, 0, NULL, 0), 0);
	log = srv_read(&s, "log");
	f0++;
	f1 += 2;
	if (count(log, c0, "Flush") != f0 || count(log, c1, "Flush") != f1)
		dump_fail("expected exactly one more flush on each connection");

	/* A queue destroyed with an unflushed write flushes its connection first. */
	CHECK_EQ(io1(q0, BE_OP_WRITE, 0, 8192, buf, sizeof(buf)), 0);
	ops->queue_destroy(q0);
	log = srv_read(&s, "log");
	if (count(log, c0, "Flush") != f0 + 1)
		dump_fail("no flush before the connection closed");
	CHECK_EQ(ops->queue_create(be, 8, &q0), 0);

	/* Written through queue 0, lost with the server: the flush on queue 1 reports it. */
	CHECK_EQ(io1(q0, BE_OP_WRITE, 0, 0, buf, sizeof(buf)), 0);
	srv_stop_sig(&s, SIGKILL);
	srv_start(&s, argv_srv);
	CHECK_EQ(io1(q1, BE_OP_FLUSH, 0, 0, NULL, 0), -EIO);
	CHECK_EQ(io1(q0, BE_OP_FLUSH, 0, 0, NULL, 0), 0);
	CHECK_EQ(io1(q1, BE_OP_FLUSH, 0, 0, NULL, 0), 0);

	ops->queue_destroy(q0);
	ops->queue_destroy(q1);
	ops->close(be);
	srv_cleanup(&s);
	return 0;
}
