/* SPDX-License-Identifier: MIT */
/*
 * Helpers for driving the request engine directly with iovecs (no ring):
 * build a request, submit it, run the queue until it completes.
 */
#ifndef VBLK_TESTS_BLK_TEST_H
#define VBLK_TESTS_BLK_TEST_H

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "blk/blk.h"
#include "internal/compiler.h"
#include "test.h"

struct t_req {
	struct blk_req req;
	struct virtio_blk_outhdr hdr;
	struct iovec iov[8];
	uint8_t status;
	int ndone;
	uint32_t used;
};

static inline void t_done(struct blk_req *req, uint32_t used_len, void *opaque)
{
	struct t_req *t = container_of(req, struct t_req, req);
	unsigned *order = opaque;

	t->ndone++;
	t->used = used_len;
	if (order)
		(*order)++;
}

/* Kick and run the queue until nothing is in flight (fails after 10 s). */
static inline void t_run(struct blk_queue *q)
{
	blk_queue_kick(q);
	for (int i = 0; blk_queue_inflight(q) > 0; i++) {
		int fd = blk_queue_fd(q);

		CHECK(i < 100000);
		if (fd >= 0) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};

			CHECK(poll(&pfd, 1, 10000) == 1);
		}
		blk_queue_process(q);
	}
}

/*
 * A fresh request: the header, status 0xff, and the engine-private part of
 * req poisoned rather than zeroed, as a reused transport slot leaves it, so
 * every test here fails if the engine reads a field it did not set.
 */
static inline void t_hdr(struct t_req *t, uint32_t type, uint64_t sector)
{
	memset(t, 0, sizeof(*t));
	memset(&t->req, 0xa5, sizeof(t->req));
	t->hdr.type = vblk_cpu_to_le32(type);
	t->hdr.sector = vblk_cpu_to_le64(sector);
	t->status = 0xff;
}

/* Submit the request described by t->iov[0..out+in) and run it to completion. */
static inline bool t_submit(struct blk_queue *q, struct t_req *t, unsigned out, unsigned in)
{
	bool ok;

	t->req.iov = t->iov;
	t->req.out_num = out;
	t->req.in_num = in;
	ok = blk_req_submit(q, &t->req);
	if (ok)
		t_run(q);
	return ok;
}

/*
 * Standard layout, [hdr][out data][in data][status], in t->req ready for
 * blk_req_submit (nothing submitted).
 */
static inline void t_prep(struct t_req *t, uint32_t type, uint64_t sector, void *out,
			  size_t out_len, void *in, size_t in_len)
{
	unsigned n = 0, nin = 0;

	t_hdr(t, type, sector);
	t->iov[n++] = (struct iovec){&t->hdr, sizeof(t->hdr)};
	if (out)
		t->iov[n++] = (struct iovec){out, out_len};
	if (in) {
		t->iov[n++] = (struct iovec){in, in_len};
		nin++;
	}
	t->iov[n++] = (struct iovec){&t->status, 1};
	nin++;
	t->req.iov = t->iov;
	t->req.out_num = n - nin;
	t->req.in_num = nin;
}

/* Standard layout (t_prep), submitted and run to completion; returns the status byte. */
static inline uint8_t t_io(struct blk_queue *q, struct t_req *t, uint32_t type, uint64_t sector,
			   void *out, size_t out_len, void *in, size_t in_len)
{
	t_prep(t, type, sector, out, out_len, in, in_len);
	CHECK(t_submit(q, t, t->req.out_num, t->req.in_num));
	CHECK_EQ(t->ndone, 1);
	return t->status;
}

/* One DISCARD / WRITE_ZEROES / SECURE_ERASE segment; returns the status byte. */
static inline uint8_t t_dwz(struct blk_queue *q, uint32_t type, uint64_t sector, uint32_t n,
			    uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes seg = {
	    .sector = vblk_cpu_to_le64(sector),
	    .num_sectors = vblk_cpu_to_le32(n),
	    .flags = vblk_cpu_to_le32(flags),
	};
	struct t_req t;

	return t_io(q, &t, type, 0, &seg, sizeof(seg), NULL, 0);
}

/* A device over backend be with one queue of depth 64 and the given options. */
static inline struct blk_queue *t_setup(struct blk_dev *d, struct be *be,
					const struct blk_dev_opts *o)
{
	struct blk_dev_opts def = {.num_queues = 1, .queue_size = 128};
	struct blk_queue *q = NULL;

	CHECK_EQ(blk_dev_init(d, be, o ? o : &def), 0);
	blk_dev_set_features(d, d->features);
	CHECK_EQ(blk_queue_create(d, 64, t_done, NULL, &q), 0);
	return q;
}

static inline struct be *t_open(const char *spec)
{
	struct be *be = NULL;

	CHECK_EQ(be_open(spec, NULL, &be), 0);
	return be;
}

static inline void t_fill(void *buf, size_t len, unsigned seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

#endif
