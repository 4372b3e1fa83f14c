/* SPDX-License-Identifier: MIT */
/*
 * The file backend's DISCARD / WRITE_ZEROES / SECURE_ERASE.
 *
 * DISCARD and WRITE_ZEROES are io_uring fallocates (IORING_OP_FALLOCATE, run
 * by io-wq): zeroing 8 x 1 GiB of a block device takes seconds, during which
 * the queue thread must keep serving (other requests, GET_VRING_BASE, SIGTERM).
 * SECURE_ERASE (BLKSECDISCARD) has no io_uring op: a short-lived thread runs
 * the ioctl and writes an eventfd that the queue reads through io_uring, so
 * its completion arrives like any other.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/fs.h>

#include "file_priv.h"

/*
 * The fallocate that carries io. Block devices (Linux block/fops.c,
 * blkdev_fallocate): ZERO_RANGE is what BLKZEROOUT does (the kernel writes
 * zeroes when the device cannot), PUNCH_HOLE|NO_HIDE_STALE what BLKDISCARD
 * does. Files: PUNCH_HOLE deallocates (reads back as zeroes), ZERO_RANGE
 * zeroes and keeps the blocks; where ZERO_RANGE is refused (tmpfs) a hole
 * reads back as zeroes too: correct, only less preallocated.
 */
static int dwz_mode(struct file_be *f, const struct be_io *io)
{
	const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	const int zero = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;

	if (f->base.info.is_blockdev)
		return io->op == BE_OP_DISCARD ? punch | FALLOC_FL_NO_HIDE_STALE : zero;
	if (io->op == BE_OP_DISCARD || (io->flags & BE_IO_F_UNMAP) ||
	    atomic_load_explicit(&f->no_zero_range, memory_order_relaxed))
		return punch;
	return zero;
}

/* SLOT_FALLOC: the fallocate of [pos, pos+left); SLOT_SECURE: wait for the worker. */
void be_file_dwz_prep(struct file_queue *q, struct file_slot *s, struct io_uring_sqe *sqe)
{
	struct file_be *f = to_file(q->base.be);

	if (s->kind == SLOT_SECURE)
		io_uring_prep_read(sqe, s->sec_efd, &s->sec_cnt, sizeof(s->sec_cnt), 0);
	else
		io_uring_prep_fallocate(sqe, f->fd, dwz_mode(f, s->io), (off_t)s->pos,
					(off_t)s->left);
	io_uring_sqe_set_data(sqe, s);
}

void be_file_dwz_complete(struct file_queue *q, struct file_slot *s, int res)
{
	struct file_be *f = to_file(q->base.be);
	struct be_io *io = s->io;

	if (res == -EINTR || res == -EAGAIN) {
		be_file_slot_issue(q, s);
		return;
	}
	if (s->kind == SLOT_SECURE) {
		uint64_t cnt;

		/* Never close the eventfd under a worker that has yet to write it. */
		if (res < 0)
			while (read(s->sec_efd, &cnt, sizeof(cnt)) < 0 && errno == EINTR)
				;
		close(s->sec_efd);
		s->sec_efd = -1;
		atomic_fetch_sub_explicit(&f->bdev_zeroing, 1, memory_order_relaxed);
		/* The worker stored its result in io->be_res before writing the eventfd. */
		be_file_slot_finish(q, s, 0);
		return;
	}
	if (f->base.info.is_blockdev)
		atomic_fetch_sub_explicit(&f->bdev_zeroing, 1, memory_order_relaxed);
	if (res == -EOPNOTSUPP && !f->base.info.is_blockdev &&
	    dwz_mode(f, io) == (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) {
		atomic_store_explicit(&f->no_zero_range, true, memory_order_relaxed);
		be_file_slot_issue(q, s);
		return;
	}
	if (res == 0 && (io->flags & BE_IO_F_FUA)) {
		/* Durable before done(): the same slot goes on with an fdatasync. */
		s->kind = SLOT_FSYNC;
		be_file_slot_issue(q, s);
		return;
	}
	be_file_slot_finish(q, s, res);
}

/* BLKSECDISCARD (and fdatasync for FUA), blocking. Returns 0 or -errno. */
static int secure_erase_sync(int fd, uint64_t off, uint64_t len, bool fua)
{
	uint64_t range[2] = {off, len};

	if (ioctl(fd, BLKSECDISCARD, range) < 0)
		return -errno;
	if (fua && fdatasync(fd) < 0)
		return -errno;
	return 0;
}

struct secure_job {
	int fd, efd;
	uint64_t off, len;
	bool fua;
	int *res;
};

static void *secure_erase_thread(void *arg)
{
	struct secure_job *j = arg;
	int efd = j->efd;
	uint64_t one = 1;

	*j->res = secure_erase_sync(j->fd, j->off, j->len, j->fua);
	free(j);
	/* The last thing the thread does: from here on the queue may close efd. */
	while (write(efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return NULL;
}

/*
 * BLKSECDISCARD has no io_uring op and may take seconds: a detached thread
 * runs it and writes a blocking eventfd, which the slot reads through
 * io_uring (a blocking eventfd makes io_uring wait for it instead of failing
 * with -EAGAIN). Secure erase is rare; the thread and its eventfd live for
 * one request. If either cannot be had, the erase runs here, synchronously.
 */
static int secure_erase_start(struct file_queue *q, struct be_io *io)
{
	struct file_be *f = to_file(q->base.be);
	struct secure_job *j = malloc(sizeof(*j));
	struct file_slot *s = q->free;
	pthread_attr_t attr;
	pthread_t tid;
	int efd = eventfd(0, EFD_CLOEXEC);
	int ret = -1;

	if (j && efd >= 0 && pthread_attr_init(&attr) == 0) {
		*j = (struct secure_job){
		    f->fd, efd, io->offset, io->len, (io->flags & BE_IO_F_FUA) != 0, &io->be_res};
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		ret = pthread_create(&tid, &attr, secure_erase_thread, j);
		pthread_attr_destroy(&attr);
	}
	if (ret != 0) {
		free(j);
		if (efd >= 0)
			close(efd);
		if (be_done_ring_full(&q->done))
			return -EAGAIN;
		return be_file_complete_later(
		    q, io, secure_erase_sync(f->fd, io->offset, io->len, io->flags & BE_IO_F_FUA));
	}
	q->free = s->next_free;
	*s = (struct file_slot){.io = io, .kind = SLOT_SECURE, .sec_efd = efd};
	io->be_pending = 1;
	atomic_fetch_add_explicit(&f->bdev_zeroing, 1, memory_order_relaxed);
	be_file_slot_issue(q, s);
	return 0;
}

/* DISCARD / WRITE_ZEROES / SECURE_ERASE: 0 (accepted) or -EAGAIN (no slot). */
int be_file_dwz_submit(struct file_queue *q, struct be_io *io)
{
	struct file_be *f = to_file(q->base.be);
	const struct be_info *info = &f->base.info;
	struct file_slot *s;

	if ((io->op == BE_OP_DISCARD && !info->can_discard) ||
	    (io->op == BE_OP_WRITE_ZEROES && !info->can_write_zeroes) ||
	    (io->op == BE_OP_SECURE_ERASE && !info->can_secure_erase))
		return be_file_complete_later(q, io, -EOPNOTSUPP);
	if (info->ro)
		return be_file_complete_later(q, io, -EROFS);
	if (io->len == 0)
		return be_file_complete_later(q, io, 0);
	if (!q->free)
		return -EAGAIN;
	if (io->op == BE_OP_SECURE_ERASE)
		return secure_erase_start(q, io);
	s = q->free;
	q->free = s->next_free;
	*s = (struct file_slot){
	    .io = io, .kind = SLOT_FALLOC, .pos = io->offset, .left = io->len, .sec_efd = -1};
	io->be_pending = 1;
	if (info->is_blockdev)
		atomic_fetch_add_explicit(&f->bdev_zeroing, 1, memory_order_relaxed);
	be_file_slot_issue(q, s);
	return 0;
}
