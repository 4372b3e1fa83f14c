/* SPDX-License-Identifier: MIT */
/*
 * NBD backend: turning a request into NBD commands and issuing them on the
 * I/O thread.
 *
 * Splitting. libnbd takes flat buffers, so a READ/WRITE becomes one NBD
 * command per iovec element, each further split at the server's maximum block
 * size (32 MiB if it advertises none). If the server has a minimum block size
 * above 1 and an element length is not a multiple of it, the request goes
 * through one bounce buffer instead. TRIM and WRITE_ZEROES carry no payload;
 * like QEMU's NBD client they are split at 1 GiB. Commands come from a
 * per-queue preallocated pool and are issued incrementally, so a huge request
 * never fails on an internal limit; io->be_pending counts a request's
 * commands in flight and io->be_res keeps its first error.
 *
 * FUA: LIBNBD_CMD_FLAG_FUA when the server can_fua; otherwise, when it can
 * flush, the request completes only after a FLUSH that follows all its data.
 */
#include "nbd_priv.h"

#include <stdlib.h>

#include "internal/compiler.h"
#include "internal/iov.h"
#include "internal/log.h"

static bool needs_bounce(const struct nbd_queue *q, const struct be_io *io)
{
	if (q->caps.min_block <= 1 || io->iovcnt <= 1)
		return false;
	for (unsigned i = 0; i < io->iovcnt; i++)
		if (io->iov[i].iov_len % q->caps.min_block)
			return true;
	return false;
}

/* Put r's cursor back to its first byte: nothing issued yet. */
void be_nbd_req_rewind(struct nbd_req *r)
{
	r->iov_idx = 0;
	r->iov_off = 0;
	r->issued = 0;
	r->issued_all = false;
	r->flush_issued = false;
	r->piece_acked = false;
}

int be_nbd_req_start(struct nbd_queue *q, struct nbd_req *r)
{
	struct be_io *io = r->io;
	bool writes = io->op != BE_OP_READ && io->op != BE_OP_FLUSH;

	io->be_pending = 0;
	io->be_res = 0;
	r->iov = io->iov;
	r->iovcnt = io->iovcnt;
	r->bounce.iov_base = NULL;
	be_nbd_req_rewind(r);
	r->pf_gen = 0;
	r->flush_after =
	    (io->flags & BE_IO_F_FUA) && writes && !q->caps.can_fua && q->caps.can_flush;

	if (writes && q->nbe->base.info.ro)
		return -EROFS;
	switch (io->op) {
	case BE_OP_READ:
	case BE_OP_WRITE:
		if (io->len == 0) {
			r->issued_all = true;
			return 0;
		}
		if (needs_bounce(q, io)) {
			r->bounce.iov_base = malloc(io->len);
			if (!r->bounce.iov_base)
				return -ENOMEM;
			r->bounce.iov_len = io->len;
			if (io->op == BE_OP_WRITE)
				iov_to_buf(io->iov, io->iovcnt, 0, r->bounce.iov_base, io->len);
			r->iov = &r->bounce;
			r->iovcnt = 1;
		}
		return 0;
	case BE_OP_FLUSH:
		be_nbd_flush_start(q, r);
		if (!q->caps.can_flush)
			r->issued_all = true; /* nothing the server can do: writes are stable */
		return 0;
	case BE_OP_DISCARD:
		return q->caps.can_trim ? 0 : -EOPNOTSUPP;
	case BE_OP_WRITE_ZEROES:
		return q->caps.can_zero ? 0 : -EOPNOTSUPP;
	case BE_OP_SECURE_ERASE:
	default:
		return -EOPNOTSUPP;
	}
}

/* Fill c with r's next piece. Returns false (and sets be_res) on a malformed request. */
static bool req_next_piece(struct nbd_queue *q, struct nbd_req *r, struct nbd_cmd *c)
{
	struct be_io *io = r->io;
	uint32_t fua = (io->flags & BE_IO_F_FUA) && q->caps.can_fua ? LIBNBD_CMD_FLAG_FUA : 0;
	uint64_t left = io->len - r->issued;
	uint64_t n;

	c->req = r;
	c->buf = NULL;
	c->flags = 0;
	c->off = io->offset + r->issued;
	switch (io->op) {
	case BE_OP_READ:
	case BE_OP_WRITE:
		while (r->iov_idx < r->iovcnt && r->iov_off == r->iov[r->iov_idx].iov_len) {
			r->iov_idx++;
			r->iov_off = 0;
		}
		if (r->iov_idx == r->iovcnt) {
			/* be.h: len equals the iovec total; anything else is our caller's bug. */
			io->be_res = -EINVAL;
			r->issued_all = true;
			return false;
		}
		n = VBLK_MIN(left, r->iov[r->iov_idx].iov_len - r->iov_off);
		n = VBLK_MIN(n, q->caps.max_block);
		c->buf = (char *)r->iov[r->iov_idx].iov_base + r->iov_off;
		r->iov_off += n;
		if (io->op == BE_OP_READ) {
			c->kind = CMD_READ;
		} else {
			c->kind = CMD_WRITE;
			c->flags = fua;
		}
		break;
	case BE_OP_DISCARD:
	case BE_OP_WRITE_ZEROES:
		n = VBLK_MIN(left, q->caps.max_nopl);
		if (io->op == BE_OP_DISCARD) {
			c->kind = CMD_TRIM;
			c->flags = fua;
		} else {
			c->kind = CMD_ZERO;
			/* virtio-blk: without the unmap flag the range must stay allocated. */
			c->flags = fua | (io->flags & BE_IO_F_UNMAP ? 0 : LIBNBD_CMD_FLAG_NO_HOLE);
		}
		break;
	case BE_OP_FLUSH:
	default:
		n = left;
		c->kind = CMD_FLUSH;
		c->off = 0;
		break;
	}
	c->len = n;
	r->issued += n;
	if (r->issued == io->len)
		r->issued_all = true;
	return true;
}

/* Send c on the current connection; on failure it is resubmitted later or its request fails. */
static void cmd_issue(struct nbd_queue *q, struct nbd_cmd *c)
{
	nbd_completion_callback cb = {.callback = be_nbd_cmd_cb, .user_data = c};
	int64_t r = -1;
	int err;

	if (c->flags & LIBNBD_CMD_FLAG_FUA && !q->caps.can_fua) {
		/* A resubmission to a server that lost FUA support. */
		c->flags &= ~LIBNBD_CMD_FLAG_FUA;
		c->req->flush_after = q->caps.can_flush;
	}
	if (c->kind == CMD_FLUSH)
		c->cover = q->acked; /* the server replied to these before it sees the flush */
	c->state = CMD_INFLIGHT;
	switch (c->kind) {
	case CMD_READ:
		r = nbd_aio_pread(q->h, c->buf, c->len, c->off, cb, 0);
		break;
	case CMD_WRITE:
		r = nbd_aio_pwrite(q->h, c->buf, c->len, c->off, cb, c->flags);
		break;
	case CMD_FLUSH:
		r = nbd_aio_flush(q->h, cb, 0);
		break;
	case CMD_TRIM:
		r = nbd_aio_trim(q->h, c->len, c->off, cb, c->flags);
		break;
	case CMD_ZERO:
		r = nbd_aio_zero(q->h, c->len, c->off, cb, c->flags);
		break;
	}
	if (r >= 0 || c->state != CMD_INFLIGHT)
		return;
	/* Refused before queueing: libnbd does not call the completion. */
	err = nbd_get_errno() > 0 ? nbd_get_errno() : EIO;
	if (handle_gone(q->h) || is_conn_err(err)) {
		c->state = CMD_RESUBMIT;
		fifo_push(&q->resubmit, &c->link);
		q->lost = true;
		return;
	}
	log_dbg("nbd: command refused: %s", nbd_get_error());
	be_nbd_cmd_retire(q, c, -err);
}

/*
 * Send a FLUSH for req (NULL: one of our own, answering flush generation
 * pf_gen, or 0 for the final flush). The caller checked q->free_cmds.
 */
void be_nbd_flush_send(struct nbd_queue *q, struct nbd_req *req, uint64_t pf_gen)
{
	struct nbd_cmd *c = q->free_cmds;

	q->free_cmds = c->next_free;
	c->req = req;
	c->kind = CMD_FLUSH;
	c->buf = NULL;
	c->off = c->len = 0;
	c->flags = 0;
	c->pf_gen = pf_gen;
	cmd_issue(q, c);
}

/*
 * Issue what the connection can take (resubmissions first, then new pieces
 * in request order) and retire requests with nothing left in flight.
 */
void be_nbd_pump(struct nbd_queue *q)
{
	struct fifo_link *prev = NULL; /* the last request kept in q->active */
	struct nbd_req *r;

	if (q->h && !q->lost) {
		struct nbd_cmd *c;

		while (!q->lost && (c = fifo_pop_entry(&q->resubmit, struct nbd_cmd, link)))
			cmd_issue(q, c);
	}
	while ((r = fifo_entry(fifo_after(&q->active, prev), struct nbd_req, link))) {
		struct be_io *io = r->io;

		while (q->h && !q->lost && !r->issued_all && !io->be_res && q->free_cmds) {
			struct nbd_cmd *c = q->free_cmds;

			q->free_cmds = c->next_free;
			if (!req_next_piece(q, r, c)) {
				be_nbd_cmd_free(q, c);
				break;
			}
			io->be_pending++;
			cmd_issue(q, c);
		}
		if ((!r->issued_all && !io->be_res) || io->be_pending) {
			prev = &r->link;
			continue;
		}
		if (r->flush_after && !r->flush_issued && !io->be_res) {
			if (q->h && !q->lost && q->free_cmds) {
				r->flush_issued = true;
				io->be_pending++;
				be_nbd_flush_send(q, r, 0);
			}
			prev = &r->link;
			continue;
		}
		if (io->op == BE_OP_FLUSH && !io->be_res) {
			int st = be_nbd_flush_verdict(q, r);

			if (st > 0) {
				prev = &r->link; /* another connection's flush is still out */
				continue;
			}
			io->be_res = st;
		}
		fifo_remove_after(&q->active, prev);
		be_nbd_req_finish(q, r);
	}
}
