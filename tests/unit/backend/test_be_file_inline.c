/* SPDX-License-Identifier: MIT */
/*
 * The file backend's inline fast path, driven through the ops table: a small
 * read or write of an image on a memory file system completes at submit
 * time (its completion already queued for reap, no SQE), writethrough (FUA)
 * writes too, a short inline transfer (the file shrank) hands its rest to
 * io_uring, and a large request or a batch over its budget never take the
 * fast path. Every transfer's bytes are checked.
 *
 * The fast path serves images on tmpfs (/dev/shm here); on a disk file
 * system ($TMPDIR, else /var/tmp) requests keep going to io_uring.
 */
#include <linux/fs.h>
#include <poll.h>

#include "backend/file_priv.h"
#include "be_test.h"

struct tio {
	struct be_io io;
	struct iovec iov[2];
	int res;
	bool done;
};

static void tio_done(struct be_io *io, int res)
{
	struct tio *t = container_of(io, struct tio, io);

	CHECK(!t->done);
	t->done = true;
	t->res = res;
}

/*
 * Submit one request of two segments split at byte split, or one when split
 * is len; returns true when it completed inline (queued for reap, no SQE).
 */
static bool submit(struct be_queue *bq, struct tio *t, enum be_op op, unsigned flags, uint64_t off,
		   void *buf, size_t len, size_t split)
{
	struct file_queue *q = to_fq(bq);
	unsigned before = q->done.cnt, sq = io_uring_sq_ready(&q->ring);

	memset(t, 0, sizeof(*t));
	t->iov[0] = (struct iovec){buf, split};
	t->iov[1] = (struct iovec){(char *)buf + split, len - split};
	t->io = (struct be_io){.op = op,
			       .flags = flags,
			       .offset = off,
			       .len = len,
			       .iov = t->iov,
			       .iovcnt = split < len ? 2 : 1,
			       .done = tio_done};
	CHECK_EQ(bq->be->ops->submit(bq, &t->io), 0);
	CHECK(!t->done); /* be.h: done() only ever from reap() */
	if (q->done.cnt == before + 1) {
		CHECK_EQ(io_uring_sq_ready(&q->ring), sq);
		return true;
	}
	CHECK_EQ(q->done.cnt, before);
	CHECK(io_uring_sq_ready(&q->ring) > sq);
	return false;
}

static void finish(struct be_queue *bq, struct tio *t)
{
	const struct be_ops *ops = bq->be->ops;
	struct pollfd p = {.fd = ops->queue_fd(bq), .events = POLLIN};

	ops->kick(bq);
	for (int i = 0; i < 1000 && !t->done; i++) {
		CHECK(poll(&p, 1, 100) >= 0);
		CHECK(ops->reap(bq) >= 0);
	}
	CHECK(t->done);
	CHECK_EQ(t->res, 0);
}

/* The slot still carrying t's rest: how far the inline part got. */
static uint64_t slot_pos(struct be_queue *bq, struct tio *t)
{
	struct file_queue *q = to_fq(bq);

	for (unsigned i = 0; i < q->done.cap; i++)
		if (q->slots[i].io == &t->io)
			return q->slots[i].pos;
	CHECK(!"no slot carries the request");
	return 0;
}

static void open_in(const char *dir, uint64_t size, char *path, size_t plen, struct be **be,
		    struct be_queue **bq, int *fd)
{
	struct be_opts bo = {.size = size};

	t_tmpfile(dir, path, plen);
	CHECK_EQ(be_open(path, &bo, be), 0);
	CHECK_EQ((*be)->ops->queue_create(*be, 64, bq), 0);
	*fd = open(path, O_RDWR);
	CHECK(*fd >= 0);
}

static void close_all(struct be *be, struct be_queue *bq, int fd, const char *path)
{
	be->ops->queue_destroy(bq);
	be_close(be);
	close(fd);
	unlink(path);
}

/*
 * 4 KiB at off: a write split at wsplit, then a read of it split at rsplit,
 * both inline; the bytes are in the file and read back.
 */
static void write_read(struct be_queue *bq, int fd, uint64_t off, size_t wsplit, size_t rsplit,
		       unsigned seed)
{
	static uint8_t w[4096], r[4096];
	struct tio t;

	t_fill(w, sizeof(w), seed);
	CHECK(submit(bq, &t, BE_OP_WRITE, 0, off, w, sizeof(w), wsplit));
	finish(bq, &t);
	CHECK_EQ(pread(fd, r, sizeof(r), (off_t)off), (ssize_t)sizeof(r));
	CHECK(memcmp(r, w, sizeof(w)) == 0);
	memset(r, 0xee, sizeof(r));
	CHECK(submit(bq, &t, BE_OP_READ, 0, off, r, sizeof(r), rsplit));
	finish(bq, &t);
	CHECK(memcmp(r, w, sizeof(w)) == 0);
}

/* tmpfs: plain pread/preadv/pwrite/pwritev on the queue thread. */
static bool test_memfs(void)
{
	static uint8_t w[256 << 10], r[256 << 10], back[256 << 10];
	const size_t big = FILE_INLINE_MAX + 4096;
	struct be_queue *bq;
	struct tio t, many[FILE_INLINE_BATCH / FILE_INLINE_MAX + 1];
	struct be *be;
	char path[256];
	unsigned i;
	int fd;

	open_in("/dev/shm", 1 << 20, path, sizeof(path), &be, &bq, &fd);
	if (!to_file(be)->inline_ok) {
		fprintf(stderr, "SKIP memfs part: /dev/shm is not tmpfs\n");
		close_all(be, bq, fd, path);
		return false;
	}

	/* A write, then a read of it, both inline; the bytes are in the file. */
	write_read(bq, fd, 8192, 1000, 3000, 1);
	/* One segment each (pread / pwrite, no iovec to import): the same bytes. */
	write_read(bq, fd, 40960, 4096, 4096, 8);
	/* Writethrough in one segment: pwritev2 with RWF_DSYNC, not pwrite. */
	t_fill(w, sizeof(w), 9);
	CHECK(submit(bq, &t, BE_OP_WRITE, BE_IO_F_FUA, 45056, w, 4096, 4096));
	finish(bq, &t);
	CHECK_EQ(pread(fd, back, 4096, 45056), 4096);
	CHECK(memcmp(back, w, 4096) == 0);

	/* Iovecs longer than the request: io_uring, which stops at its length. */
	t_fill(w, sizeof(w), 7);
	CHECK_EQ(pwrite(fd, w, 8192, 24576), 8192);
	memset(&t, 0, sizeof(t));
	t.iov[0] = (struct iovec){w + 8192, 4096};
	t.iov[1] = (struct iovec){w + 12288, 4096};
	t.io = (struct be_io){.op = BE_OP_WRITE,
			      .offset = 24576,
			      .len = 4096,
			      .iov = t.iov,
			      .iovcnt = 2,
			      .done = tio_done};
	CHECK_EQ(bq->be->ops->submit(bq, &t.io), 0);
	CHECK_EQ(to_fq(bq)->done.cnt, 0);
	finish(bq, &t);
	CHECK_EQ(pread(fd, back, 8192, 24576), 8192);
	CHECK(memcmp(back, w + 8192, 4096) == 0);
	CHECK(memcmp(back + 4096, w + 4096, 4096) == 0);
	/* A hole of the sparse file reads as zeroes, inline too. */
	memset(r, 0xee, sizeof(r));
	CHECK(submit(bq, &t, BE_OP_READ, 0, 512 << 10, r, 16384, 512));
	finish(bq, &t);
	for (i = 0; i < 16384; i++)
		CHECK_EQ(r[i], 0);

	/* Writethrough: inline too, with RWF_DSYNC (a no-op on tmpfs). */
	t_fill(w, sizeof(w), 2);
	CHECK(submit(bq, &t, BE_OP_WRITE, BE_IO_F_FUA, 16384, w, 8192, 512));
	finish(bq, &t);
	CHECK_EQ(pread(fd, back, 8192, 16384), 8192);
	CHECK(memcmp(back, w, 8192) == 0);

	/* Larger than the fast path takes: io_uring, same bytes. */
	t_fill(w, sizeof(w), 3);
	CHECK_EQ(pwrite(fd, w, big, 65536), (ssize_t)big);
	memset(r, 0xee, sizeof(r));
	CHECK(!submit(bq, &t, BE_OP_READ, 0, 65536, r, big, 4096));
	finish(bq, &t);
	CHECK(memcmp(r, w, big) == 0);

	/* The batch budget: once spent, requests go to io_uring until the next kick. */
	bq->be->ops->kick(bq);
	for (i = 0; i < ARRAY_SIZE(many) - 1; i++)
		CHECK(submit(bq, &many[i], BE_OP_READ, 0, 0, r + 0, FILE_INLINE_MAX, 4096));
	CHECK(!submit(bq, &many[i], BE_OP_READ, 0, 0, back, FILE_INLINE_MAX, 4096));
	for (i = 0; i < ARRAY_SIZE(many); i++)
		finish(bq, &many[i]);
	CHECK(submit(bq, &t, BE_OP_READ, 0, 0, r, FILE_INLINE_MAX, 4096));
	finish(bq, &t);

	/*
	 * The file shrank under us: the inline read stops short at its end and
	 * io_uring reads the rest, which is past the end: zeroes.
	 */
	t_fill(w, sizeof(w), 4);
	CHECK_EQ(pwrite(fd, w, 1000, 200000), 1000);
	CHECK_EQ(ftruncate(fd, 201000), 0);
	memset(r, 0xee, sizeof(r));
	CHECK(!submit(bq, &t, BE_OP_READ, 0, 200000, r, 8192, 700));
	CHECK_EQ(slot_pos(bq, &t), 201000);
	finish(bq, &t);
	CHECK(memcmp(r, w, 1000) == 0);
	for (i = 1000; i < 8192; i++)
		CHECK_EQ(r[i], 0);
	/* The same in one segment: pread stops short as preadv does. */
	memset(r, 0xee, sizeof(r));
	CHECK(!submit(bq, &t, BE_OP_READ, 0, 200000, r, 8192, 8192));
	CHECK_EQ(slot_pos(bq, &t), 201000);
	finish(bq, &t);
	CHECK(memcmp(r, w, 1000) == 0);
	for (i = 1000; i < 8192; i++)
		CHECK_EQ(r[i], 0);

	close_all(be, bq, fd, path);
	return true;
}

/*
 * A disk file system: no fast path (io_uring's own non-blocking attempt
 * copies cached data already); a cached read still goes to io_uring whole.
 */
static bool test_disk(void)
{
	static uint8_t w[65536], r[65536];
	const char *dir = getenv("TMPDIR");
	struct io_uring_sqe *sqe;
	struct file_queue *q;
	struct be_queue *bq;
	struct tio t;
	struct be *be;
	char path[256];
	int fd;

	open_in(dir && *dir ? dir : "/var/tmp", sizeof(w), path, sizeof(path), &be, &bq, &fd);
	q = to_fq(bq);
	if (be_file_on_memfs(fd)) {
		fprintf(stderr, "SKIP disk part: %s is on a memory file system\n", path);
		close_all(be, bq, fd, path);
		return false;
	}
	t_fill(w, sizeof(w), 5);
	CHECK_EQ(pwrite(fd, w, sizeof(w), 0), (ssize_t)sizeof(w));
	memset(r, 0xee, sizeof(r));
	CHECK(!submit(bq, &t, BE_OP_READ, 0, 12288, r, 8192, 100));
	CHECK_EQ(slot_pos(bq, &t), 12288);
	finish(bq, &t);
	CHECK(memcmp(r, w + 12288, 8192) == 0);

	/* Writethrough: the write goes to io_uring with RWF_DSYNC. */
	t_fill(w, sizeof(w), 6);
	CHECK(!submit(bq, &t, BE_OP_WRITE, BE_IO_F_FUA, 4096, w, 8192, 512));
	sqe = &q->ring.sq.sqes[(q->ring.sq.sqe_tail - 1) & q->ring.sq.ring_mask];
	CHECK(sqe->rw_flags & RWF_DSYNC);
	finish(bq, &t);
	CHECK_EQ(pread(fd, r, 8192, 4096), 8192);
	CHECK(memcmp(r, w, 8192) == 0);
	close_all(be, bq, fd, path);
	return true;
}

int main(void)
{
	bool mem = test_memfs();
	bool disk = test_disk();

	if (!mem && !disk) {
		fprintf(stderr,
			"SKIP: no tmpfs at /dev/shm and no disk file system for temp files\n");
		return 77;
	}
	return 0;
}
