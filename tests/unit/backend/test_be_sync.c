/* SPDX-License-Identifier: MIT */
/*
 * Memory and null backends: queue_fd -1, done() only from reap() (never
 * inside submit), memory keeps data, null reads zeroes and drops writes.
 */
#include "be_test.h"

static int ndone, last_res;

static void done(struct be_io *io, int res)
{
	ndone++;
	last_res = res;
}

static void rw(struct be_queue *q, enum be_op op, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = {buf, len};
	struct be_io io = {
	    .op = op, .offset = off, .len = len, .iov = &iov, .iovcnt = 1, .done = done};

	ndone = 0;
	CHECK_EQ(q->be->ops->submit(q, &io), 0);
	CHECK_EQ(ndone, 0);
	q->be->ops->kick(q);
	CHECK_EQ(q->be->ops->reap(q), 1);
	CHECK_EQ(ndone, 1);
	CHECK_EQ(last_res, 0);
}

int main(void)
{
	static const char *const specs[] = {"memory:64K", "null:64K"};
	uint8_t w[1024], r[1024];

	for (int i = 0; i < 2; i++) {
		struct be *be = t_open(specs[i]);
		struct be_queue *q;

		CHECK_EQ(be->ops->queue_create(be, 4, &q), 0);
		CHECK_EQ(be->ops->queue_fd(q), -1);
		t_fill(w, sizeof(w), 3);
		rw(q, BE_OP_WRITE, 4096, w, sizeof(w));
		memset(r, 0xee, sizeof(r));
		rw(q, BE_OP_READ, 4096, r, sizeof(r));
		if (i == 0) {
			CHECK(memcmp(r, w, sizeof(r)) == 0);
		} else {
			for (size_t j = 0; j < sizeof(r); j++)
				CHECK_EQ(r[j], 0);
		}
		rw(q, BE_OP_FLUSH, 0, NULL, 0);
		rw(q, BE_OP_WRITE_ZEROES, 4096, NULL, 0);
		be->ops->queue_destroy(q);
		be->ops->queue_destroy(NULL);
		be_close(be);
	}
	be_close(NULL);
	return 0;
}
