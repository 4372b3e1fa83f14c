/* SPDX-License-Identifier: MIT */
/*
 * The file backend's data path: reads, writes and flushes through the
 * queue's io_uring, and completion of every slot (short transfers, EAGAIN).
 *
 * A request is cut into "ranges" no longer than one readv accepts (IOV_MAX
 * elements, 1 GiB); each range occupies one preallocated slot, which carries
 * it through short transfers until it is complete. be_io.be_pending counts a
 * request's ranges still running, be_io.be_res keeps its first error.
 *
 * A slot has at most one SQE outstanding and there are no more slots than SQ
 * entries, so getting an SQE never fails. When the slots run out in the middle
 * of a request, the rest of it is remembered as the queue's "backlog" and cut
 * into ranges as slots come back; until then new reads and writes get -EAGAIN,
 * which keeps them in order behind it. A request the inline path
 * (file_inline.c) copied only in part enters the backlog at its first byte
 * not copied.
 */
#include <errno.h>
#include <liburing.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "file_priv.h"
#include "internal/iov.h"
#include "internal/log.h"

/* ---- data path --------------------------------------------------------- */

static void signal_efd(struct file_queue *q)
{
	uint64_t one = 1;

	q->efd_maybe = true;
	/* Only fails when the counter would overflow: it is readable then anyway. */
	if (write(q->efd, &one, sizeof(one)) < 0)
		return;
}

/* Submit the prepared SQEs; each one submitted will post a CQE, which writes efd. */
static int ring_submit(struct file_queue *q)
{
	int ret = io_uring_submit(&q->ring);

	if (ret > 0) {
		q->uring_inflight += (unsigned)ret;
		q->efd_maybe = true;
	}
	return ret;
}

/* Prepare the SQE for the slot's next step. */
void be_file_slot_issue(struct file_queue *q, struct file_slot *s)
{
	struct file_be *f = to_file(q->base.be);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	struct be_io *io = s->io;
	const struct iovec *v;
	unsigned n = 0;
	uint64_t bytes = 0;

	if (unlikely(!sqe)) {
		/* Cannot happen (slots <= SQ entries); never lose the request. */
		ring_submit(q);
		sqe = io_uring_get_sqe(&q->ring);
	}
	if (s->kind == SLOT_FSYNC) {
		io_uring_prep_fsync(sqe, f->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data(sqe, s);
		return;
	}
	if (s->kind == SLOT_FALLOC || s->kind == SLOT_SECURE) {
		be_file_dwz_prep(q, s, sqe);
		return;
	}
	/* Skip exhausted and empty elements: a readv of only empty ones would look like EOF. */
	while (s->iov < s->iov_end && s->off == s->iov->iov_len) {
		s->iov++;
		s->off = 0;
	}
	v = s->iov;
	if (s->off == 0) {
		while (v + n < s->iov_end && n < FILE_MAX_IOV && v[n].iov_len <= s->left - bytes) {
			bytes += v[n].iov_len;
			n++;
		}
	}
	if (n == 0) {
		/* The rest of a partly transferred element, or the head of a huge one. */
		s->one.iov_base = (char *)v->iov_base + s->off;
		s->one.iov_len = VBLK_MIN(v->iov_len - s->off, s->left);
		v = &s->one;
		n = 1;
	}
	if (io->op == BE_OP_READ) {
		io_uring_prep_readv(sqe, f->fd, v, n, s->pos);
	} else {
		io_uring_prep_writev(sqe, f->fd, v, n, s->pos);
		/* Writethrough per request: the guest may toggle the cache at any time. */
		if (io->flags & BE_IO_F_FUA)
			sqe->rw_flags = RWF_DSYNC;
	}
	if (f->base.info.is_blockdev && f->base.info.align <= 1 &&
	    atomic_load_explicit(&f->bdev_zeroing, memory_order_relaxed))
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, s);
}

void be_file_slot_finish(struct file_queue *q, struct file_slot *s, int res)
{
	struct be_io *io = s->io;

	s->io = NULL;
	s->next_free = q->free;
	q->free = s;
	if (res < 0 && io->be_res == 0)
		io->be_res = res;
	if (--io->be_pending == 0 && io != q->backlog) {
		q->ndone++;
		io->done(io, io->be_res);
	}
}

/* Move an (element, offset in it) cursor n bytes on; the bytes are there. */
static void cursor_advance(const struct iovec **iov, size_t *off, uint64_t n)
{
	while (n) {
		size_t avail = (*iov)->iov_len - *off;

		if (n < avail) {
			*off += n;
			break;
		}
		n -= avail;
		(*iov)++;
		*off = 0;
	}
}

static void slot_advance(struct file_slot *s, uint64_t n)
{
	s->left -= n;
	s->pos += n;
	cursor_advance(&s->iov, &s->off, n);
}

static void slot_complete(struct file_queue *q, struct file_slot *s, int res)
{
	struct be_io *io = s->io;

	if (s->kind == SLOT_FALLOC || s->kind == SLOT_SECURE) {
		be_file_dwz_complete(q, s, res);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		be_file_slot_issue(q, s);
		return;
	}
	if (s->kind == SLOT_RW && res >= 0) {
		if (res == 0) {
			/*
			 * End of file inside the exported size (the file shrank, or
			 * reads past its end): the missing part reads as zeroes. A
			 * write that makes no progress is an error, not a retry loop.
			 */
			if (io->op == BE_OP_READ) {
				iov_memset(s->iov, (unsigned)(s->iov_end - s->iov), s->off, 0,
					   s->left);
			} else {
				res = -EIO;
			}
		} else {
			slot_advance(s, (uint64_t)res);
			if (s->left) {
				/* Short transfer: resubmit the rest. */
				be_file_slot_issue(q, s);
				return;
			}
			res = 0;
		}
	}
	be_file_slot_finish(q, s, res < 0 ? res : 0);
}

/* The backlog's next n bytes are taken (by a slot, or by the inline path). */
static void backlog_advance(struct file_queue *q, uint64_t n)
{
	q->bl_left -= n;
	q->bl_pos += n;
	cursor_advance(&q->bl_iov, &q->bl_off, n);
}

/* Cut the backlog request into ranges while there are free slots. */
static void backlog_issue(struct file_queue *q)
{
	while (q->backlog && q->free) {
		struct be_io *io = q->backlog;
		const struct iovec *end = io->iov + io->iovcnt;
		struct file_slot *s = q->free;
		uint64_t range = 0;

		while (q->bl_off == q->bl_iov->iov_len) {
			q->bl_iov++;
			q->bl_off = 0;
		}
		if (q->bl_off) {
			range = VBLK_MIN(q->bl_iov->iov_len - q->bl_off, FILE_MAX_BYTES);
		} else {
			unsigned n = 0;

			while (q->bl_iov + n < end && n < FILE_MAX_IOV && range < q->bl_left &&
			       q->bl_iov[n].iov_len <= FILE_MAX_BYTES - range)
				range += q->bl_iov[n++].iov_len;
			if (n == 0)
				range = FILE_MAX_BYTES; /* one element larger than a range */
		}
		range = VBLK_MIN(range, q->bl_left);

		q->free = s->next_free;
		*s = (struct file_slot){
		    .io = io,
		    .kind = SLOT_RW,
		    .iov = q->bl_iov,
		    .iov_end = end,
		    .off = q->bl_off,
		    .pos = q->bl_pos,
		    .left = range,
		};
		io->be_pending++;

		backlog_advance(q, range);
		if (q->bl_left == 0)
			q->backlog = NULL;
		be_file_slot_issue(q, s);
	}
}

/* Complete io from the next reap(). */
int be_file_complete_later(struct file_queue *q, struct be_io *io, int res)
{
	if (be_done_ring_full(&q->done))
		return -EAGAIN;
	be_done_ring_push(&q->done, io, res);
	signal_efd(q);
	return 0;
}

int be_file_submit(struct be_queue *bq, struct be_io *io)
{
	struct file_queue *q = to_fq(bq);
	struct file_be *f = to_file(bq->be);
	struct file_slot *s;

	io->be_pending = 0;
	io->be_res = 0;
	switch (io->op) {
	case BE_OP_READ:
	case BE_OP_WRITE:
		if (io->op == BE_OP_WRITE && f->base.info.ro)
			return be_file_complete_later(q, io, -EROFS);
		if (iov_size(io->iov, io->iovcnt) < io->len)
			return be_file_complete_later(q, io, -EINVAL);
		if (io->len == 0)
			return be_file_complete_later(q, io, 0);
		if (q->backlog || !q->free)
			return -EAGAIN;
		q->backlog = io;
		q->bl_iov = io->iov;
		q->bl_off = 0;
		q->bl_pos = io->offset;
		q->bl_left = io->len;
		if (be_file_inline_ok(q, io)) {
			uint64_t n = be_file_inline(q, io);

			if (n == io->len) {
				/* Completed from reap(), like every request; announced at kick. */
				q->backlog = NULL;
				be_done_ring_push(&q->done, io, 0);
				q->inline_signal = true;
				return 0;
			}
			/* A miss or a short transfer: io_uring moves the rest. */
			backlog_advance(q, n);
		}
		backlog_issue(q);
		return 0;
	case BE_OP_FLUSH:
		if (!q->free)
			return -EAGAIN;
		s = q->free;
		q->free = s->next_free;
		*s = (struct file_slot){.io = io, .kind = SLOT_FSYNC};
		io->be_pending = 1;
		be_file_slot_issue(q, s);
		return 0;
	case BE_OP_DISCARD:
	case BE_OP_WRITE_ZEROES:
	case BE_OP_SECURE_ERASE:
		return be_file_dwz_submit(q, io);
	default:
		return be_file_complete_later(q, io, -EOPNOTSUPP);
	}
}

/* Kick; announce inline completions on efd, or leave them to the caller. */
static bool file_kick(struct file_queue *q, bool announce)
{
	bool ready = q->inline_signal;

	q->inline_budget = FILE_INLINE_BATCH;
	q->inline_signal = false;
	if (ready && announce)
		signal_efd(q);
	if (io_uring_sq_ready(&q->ring)) {
		int ret = ring_submit(q);

		/* SQEs not taken stay in the SQ and go with the next kick or reap. */
		if (ret < 0)
			log_warn("file backend '%s': io_uring_submit: %s",
				 to_file(q->base.be)->path, strerror(-ret));
	}
	return ready;
}

void be_file_kick(struct be_queue *bq)
{
	file_kick(to_fq(bq), true);
}

bool be_file_kick_ready(struct be_queue *bq)
{
	return file_kick(to_fq(bq), false);
}

int be_file_reap(struct be_queue *bq)
{
	struct file_queue *q = to_fq(bq);
	struct io_uring_cqe *cqe;
	unsigned ncqe = 0;
	uint64_t cnt;

	/* Clear the eventfd before draining: a CQE posted after this re-arms it. */
	if (q->efd_maybe && read(q->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_warn("file backend: eventfd read: %s", strerror(errno));
	q->efd_maybe = false;
	q->ndone = 0;
	while (io_uring_peek_cqe(&q->ring, &cqe) == 0) {
		struct file_slot *s = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&q->ring, cqe);
		q->uring_inflight--;
		ncqe++;
		slot_complete(q, s, res);
	}
	backlog_issue(q);
	q->ndone += (unsigned)be_done_ring_reap(&q->done);
	/*
	 * Resubmissions of short transfers and new backlog ranges. Inline
	 * completions a done() callback submitted wait in done: reap() cannot
	 * report them, so efd announces them.
	 */
	be_file_kick(bq);
	/*
	 * A CQE drained above may have been posted after the read (efd readable
	 * again, with nothing for the next reap but to read it), and those still
	 * running will post theirs: efd stays "maybe" until a reap finds neither.
	 */
	if (ncqe || q->uring_inflight)
		q->efd_maybe = true;
	return (int)q->ndone;
}
