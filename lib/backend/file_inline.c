/* SPDX-License-Identifier: MIT */
/*
 * The file backend's inline fast path: a read or write of an image on a
 * memory file system (tmpfs, ramfs) is copied by the queue thread at submit
 * time, with no io_uring round trip. Whatever it does not finish (a short
 * transfer at the end of the file, an error) goes to io_uring as before
 * (file_ring.c), which also reports any error from its own attempt.
 *
 * Why: tmpfs refuses IOCB_NOWAIT (Linux 6.18: preadv2/pwritev2 with
 * RWF_NOWAIT fail with EOPNOTSUPP), so io_uring cannot finish a transfer
 * inside io_uring_enter and hands every one to an io-wq worker thread, whose
 * wake-ups cost several times the copy. Its pages are memory: a plain
 * preadv / pwritev never waits for a device (only for swap-in, or reclaim
 * to allocate a page, where a worker would wait as long).
 *
 * Not on a disk file system: there io_uring's own non-blocking attempt
 * already copies cached data inside io_uring_enter, and a RWF_NOWAIT try of
 * ours before it measured slower (docs/perf-file-backend.md). Not for block
 * devices or O_DIRECT.
 *
 * A FUA (writethrough) write is a pwritev2 with RWF_DSYNC, the very flag
 * io_uring's write gets (file_ring.c): durable when it returns, as before.
 * On tmpfs the sync part is a no-op, so it does not wait either.
 */
#include <errno.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "file_priv.h"
#include "internal/iov.h"

bool be_file_on_memfs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
}

bool be_file_inline_ok(const struct file_queue *q, const struct be_io *io)
{
	return to_file(q->base.be)->inline_ok && io->len <= FILE_INLINE_MAX &&
	       io->len <= q->inline_budget && io->iovcnt <= FILE_MAX_IOV &&
	       !be_done_ring_full(&q->done) &&
	       /* preadv would fill every element: never more than the request's bytes. */
	       iov_size(io->iov, io->iovcnt) == io->len;
}

uint64_t be_file_inline(struct file_queue *q, const struct be_io *io)
{
	int fd = to_file(q->base.be)->fd;
	int sync = io->flags & BE_IO_F_FUA ? RWF_DSYNC : 0;
	ssize_t n;

	/*
	 * One segment (4k requests from most drivers): pread / pwrite skip
	 * importing an iovec array and copy through a single user buffer,
	 * 1.06-1.11x at 4k qd32 on tmpfs (docs/io-cost.md). FUA needs
	 * pwritev2's RWF_DSYNC.
	 */
	do {
		if (io->iovcnt == 1 && !sync)
			n = io->op == BE_OP_READ
				? pread(fd, io->iov[0].iov_base, io->len, (off_t)io->offset)
				: pwrite(fd, io->iov[0].iov_base, io->len, (off_t)io->offset);
		else
			n = io->op == BE_OP_READ
				? preadv(fd, io->iov, (int)io->iovcnt, (off_t)io->offset)
				: pwritev2(fd, io->iov, (int)io->iovcnt, (off_t)io->offset, sync);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	q->inline_budget -= VBLK_MIN((uint64_t)n, q->inline_budget);
	return (uint64_t)n;
}
