/* SPDX-License-Identifier: MIT */
/*
 * FUA on a server without FUA support (an nbdkit eval script): the
 * backend follows the write with a FLUSH and completes the request only after
 * it. The nbdkit log filter shows the order the server saw.
 */
#include "nbd_test.h"

int main(void)
{
	const struct be_ops *ops = &be_nbd_ops;
	struct be_opts opts = {0};
	struct be_queue *q;
	struct srv s;
	struct be *be;
	static uint8_t buf[8192];
	const char *log;
	char logarg[256];
	char *w, *wdone, *f;

	if (!have_prog("nbdkit"))
		SKIP("nbdkit not installed");
	if (system("nbdkit eval --dump-plugin >/dev/null 2>&1") != 0)
		SKIP("nbdkit eval plugin not installed");
	srv_init(&s);
	snprintf(logarg, sizeof(logarg), "logfile=%s", srv_path(&s, "log"));
	/* A script plugin that can flush but advertises no FUA. */
	char *argv[] = {"nbdkit",
			"-f",
			"--exit-with-parent",
			"-U",
			s.sock,
			"--filter=log",
			NBD_EVAL_NO_FUA,
			"flush=exit 0",
			logarg,
			NULL};
	srv_start(&s, argv);

	opts.path = s.uri;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK(be->info.can_flush);
	CHECK_EQ(ops->queue_create(be, 4, &q), 0);
	pat_fill(buf, 0, sizeof(buf), 40);
	CHECK_EQ(io1(q, BE_OP_WRITE, BE_IO_F_FUA, 4096, buf, sizeof(buf)), 0);
	ops->queue_destroy(q);
	ops->close(be);
	srv_stop(&s);

	log = srv_read(&s, "log");
	w = strstr(log, "Write id=");
	CHECK(w);
	CHECK(strstr(w, "fua=0"));
	wdone = strstr(w, "...Write");
	f = strstr(log, "Flush id=");
	if (!wdone || !f || f < wdone) {
		fprintf(stderr, "expected Write, its reply, then Flush:\n%s", log);
		return 1;
	}
	srv_cleanup(&s);
	return 0;
}
