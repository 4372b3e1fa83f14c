/* SPDX-License-Identifier: MIT */
/*
 * The file backend's inline fast path: a small buffered read or write whose
 * data can move without waiting is done by the queue thread at submit time,
 * with no io_uring round trip. Whatever it cannot finish (a page-cache miss,
 * a short transfer) goes to io_uring as before (file_ring.c).
 *
 * Why: io_uring cannot finish a buffered transfer inside io_uring_enter when
 * the file refuses IOCB_NOWAIT (tmpfs on Linux 6.18) or when the page is not
 * cached; it hands it to an io-wq worker thread, which costs a few
 * microseconds of wake-ups per request, several times the copy itself.
 *
 * Two ways in, chosen when the image is opened (be_file_inline_mode()):
 * - FILE_INLINE_NOWAIT (regular file on a disk file system): preadv2 /
 *   pwritev2 with RWF_NOWAIT, which return EAGAIN instead of waiting for the
 *   disk. A file system that refuses RWF_NOWAIT (EOPNOTSUPP, as ext4 does for
 *   buffered writes) turns the fast path off for that direction, once.
 * - FILE_INLINE_MEMFS (tmpfs, ramfs): no RWF_NOWAIT there, but its pages are
 *   memory: a plain preadv / pwritev never waits for a device.
 * Block devices never take it: Linux takes the device inode's lock for a
 * buffered read even in a non-blocking attempt (see file_priv.h).
 *
 * Writes with FUA (writethrough) always go to io_uring with RWF_DSYNC, so the
 * durability rule of a writethrough device is served by one path only.
 */
#include <errno.h>
#include <linux/magic.h>
#include <stdatomic.h>
#include <sys/statfs.h>
#include <sys/uio.h>

#include "file_priv.h"

uint8_t be_file_inline_mode(int fd, bool direct)
{
	struct statfs sfs;

	if (direct)
		return FILE_INLINE_NONE;
	if (fstatfs(fd, &sfs) < 0)
		return FILE_INLINE_NOWAIT;
	if (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC)
		return FILE_INLINE_MEMFS;
	return FILE_INLINE_NOWAIT;
}

bool be_file_inline_ok(struct file_queue *q, const struct be_io *io)
{
	struct file_be *f = to_file(q->base.be);
	atomic_bool *off = io->op == BE_OP_READ ? &f->no_nowait_read : &f->no_nowait_write;

	return f->inline_mode != FILE_INLINE_NONE && io->len <= FILE_INLINE_MAX &&
	       io->len <= q->inline_budget && io->iovcnt <= FILE_MAX_IOV &&
	       !(io->op == BE_OP_WRITE && (io->flags & BE_IO_F_FUA)) &&
	       !atomic_load_explicit(off, memory_order_relaxed) && !be_done_ring_full(&q->done);
}

uint64_t be_file_inline(struct file_queue *q, const struct be_io *io)
{
	struct file_be *f = to_file(q->base.be);
	bool rd = io->op == BE_OP_READ;
	int flags = f->inline_mode == FILE_INLINE_NOWAIT ? RWF_NOWAIT : 0;
	ssize_t n;

	do {
		n = rd ? preadv2(f->fd, io->iov, (int)io->iovcnt, (off_t)io->offset, flags)
		       : pwritev2(f->fd, io->iov, (int)io->iovcnt, (off_t)io->offset, flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL) && flags) {
		/* This file system refuses RWF_NOWAIT for this direction: stop asking. */
		atomic_store_explicit(rd ? &f->no_nowait_read : &f->no_nowait_write, true,
				      memory_order_relaxed);
	}
	/* Any error, even a real one, is io_uring's to report, from its own try. */
	if (n <= 0)
		return 0;
	q->inline_budget -= (uint64_t)n;
	return (uint64_t)n;
}
