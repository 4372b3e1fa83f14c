/* SPDX-License-Identifier: MIT */
/*
 * A read-only export (nbdkit -r) sets info.ro and hides discard and
 * write-zeroes; writes fail with -EROFS while reads work. opts.ro on a
 * writable export does the same.
 */
#include "nbd_test.h"

int main(void)
{
	const struct be_ops *ops = &be_nbd_ops;
	struct be_opts opts = {0};
	struct be_queue *q;
	struct srv s;
	struct be *be;
	static uint8_t buf[4096];

	if (!have_prog("nbdkit"))
		SKIP("nbdkit not installed");
	srv_init(&s);
	char *argv[] = {"nbdkit", "-f", "--exit-with-parent", "-r", "-U", s.sock, "memory",
			"1M",	  NULL};
	srv_start(&s, argv);

	opts.path = s.uri;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK(be->info.ro);
	CHECK(!be->info.can_discard);
	CHECK(!be->info.can_write_zeroes);
	CHECK_EQ(be->info.size, 1 << 20);
	CHECK_EQ(ops->queue_create(be, 4, &q), 0);
	CHECK_EQ(io1(q, BE_OP_READ, 0, 0, buf, sizeof(buf)), 0);
	CHECK(all_zero(buf, sizeof(buf)));
	CHECK_EQ(io1(q, BE_OP_WRITE, 0, 0, buf, sizeof(buf)), -EROFS);
	CHECK_EQ(io1(q, BE_OP_WRITE_ZEROES, 0, 0, NULL, 4096), -EROFS);
	ops->queue_destroy(q);
	ops->close(be);
	srv_stop(&s);

	char *argv_rw[] = {"nbdkit", "-f", "--exit-with-parent", "-U", s.sock, "memory",
			   "1M",     NULL};
	srv_start(&s, argv_rw);
	opts.ro = true;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK(be->info.ro);
	CHECK(!be->info.can_discard);
	CHECK_EQ(ops->queue_create(be, 4, &q), 0);
	CHECK_EQ(io1(q, BE_OP_WRITE, 0, 0, buf, sizeof(buf)), -EROFS);
	CHECK_EQ(io1(q, BE_OP_READ, 0, 0, buf, sizeof(buf)), 0);
	ops->queue_destroy(q);
	ops->close(be);

	srv_cleanup(&s);
	return 0;
}
