/* SPDX-License-Identifier: MIT */
/*
 * Writeback durability across a server restart (nbdkit memory, so a restart
 * really loses the data): a write acknowledged without FUA and not yet
 * flushed, then the server is killed and a fresh one started on the same
 * socket, makes the next flush fail with -EIO, once. Without a loss, after a
 * loss of a connection whose writes were all flushed, and after a loss that
 * only FUA writes preceded, flushes succeed.
 */
#include "nbd_test.h"

#define SIZE (1u << 20)

static struct srv s;
static char *argv_srv[] = {"nbdkit", "-f", "--exit-with-parent", "-U", s.sock, "memory",
			   "1M",     NULL};

/* Kill the server and start a fresh (empty) one on the same socket. */
static void restart(void)
{
	srv_stop_sig(&s, SIGKILL);
	srv_start(&s, argv_srv);
}

int main(void)
{
	const struct be_ops *ops = &be_nbd_ops;
	struct be_opts opts = {0};
	struct be_queue *q;
	struct be *be;
	static uint8_t buf[65536], rbuf[65536];

	if (!have_prog("nbdkit"))
		SKIP("nbdkit not installed");
	srv_init(&s);
	argv_srv[4] = s.sock;
	srv_start(&s, argv_srv);
	opts.path = s.uri;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK(be->info.can_flush);
	CHECK_EQ(ops->queue_create(be, 8, &q), 0);

	/* No loss: write back, flush. */
	pat_fill(buf, 0, sizeof(buf), 1);
	CHECK_EQ(io1(q, BE_OP_WRITE, 0, 0, buf, sizeof(buf)), 0);
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), 0);
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), 0);

	/* Loss of a connection whose writes were all flushed: nothing to report. */
	restart();
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), 0);

	/* An acknowledged, unflushed write, then the server restarts. */
	pat_fill(buf, 4096, sizeof(buf), 2);
	CHECK_EQ(io1(q, BE_OP_WRITE, 0, 4096, buf, sizeof(buf)), 0);
	restart();
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), -EIO);
	/* The data is really gone: the failure was not a false alarm. */
	CHECK_EQ(io1(q, BE_OP_READ, 0, 4096, rbuf, sizeof(rbuf)), 0);
	CHECK(all_zero(rbuf, sizeof(rbuf)));
	/* Reported once: the device is usable again. */
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), 0);

	/* The loss is noticed by a read, not a flush: the next flush still reports it. */
	CHECK_EQ(io1(q, BE_OP_WRITE, 0, 0, buf, 4096), 0);
	restart();
	CHECK_EQ(io1(q, BE_OP_READ, 0, 0, rbuf, 4096), 0);
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), -EIO);
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), 0);

	/* Writethrough: FUA writes are durable when acknowledged and do not count. */
	pat_fill(buf, 0, sizeof(buf), 3);
	CHECK_EQ(io1(q, BE_OP_WRITE, BE_IO_F_FUA, 0, buf, sizeof(buf)), 0);
	restart();
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), 0);

	ops->queue_destroy(q);
	ops->close(be);
	srv_cleanup(&s);
	return 0;
}
