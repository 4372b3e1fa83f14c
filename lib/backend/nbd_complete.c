/* SPDX-License-Identifier: MIT */
/*
 * NBD backend: completion and retirement of commands and requests on the I/O
 * thread. libnbd runs completion callbacks with its handle lock held, so
 * be_nbd_cmd_cb() only records the result on q->completed; everything that
 * may call nbd_* again happens in be_nbd_process_completed() after the libnbd
 * call returns. A command that failed because the connection broke is not
 * retired but kept for resubmission (nbd_conn.c).
 */
#include "nbd_priv.h"

#include <stdlib.h>

#include "internal/iov.h"

/* libnbd's completion callback for every command we issue (opaque: the nbd_cmd). */
int be_nbd_cmd_cb(void *opaque, int *error)
{
	struct nbd_cmd *c = opaque;

	/* libnbd's handle lock is held here: record only, no nbd_* calls. */
	c->err = *error;
	c->state = CMD_COMPLETED;
	fifo_push(&c->q->completed, &c->link);
	return 1; /* retire the command automatically */
}

/* Return c to q's pool of free command slots. */
void be_nbd_cmd_free(struct nbd_queue *q, struct nbd_cmd *c)
{
	c->state = CMD_FREE;
	c->req = NULL;
	c->next_free = q->free_cmds;
	q->free_cmds = c;
}

static void piece_done(struct nbd_req *r, int res)
{
	struct be_io *io = r->io;

	io->be_pending--;
	if (res && !io->be_res)
		io->be_res = res;
}

/* A command is over for good (res: 0 or -errno): its request (or our own flush) gets res. */
void be_nbd_cmd_retire(struct nbd_queue *q, struct nbd_cmd *c, int res)
{
	if (c->req)
		piece_done(c->req, res);
	else
		be_nbd_own_flush_done(q, c, res);
	be_nbd_cmd_free(q, c);
}

/* Sort the results be_nbd_cmd_cb() recorded: final, or to be resubmitted after a reconnect. */
void be_nbd_process_completed(struct nbd_queue *q)
{
	struct nbd_cmd *c;

	while ((c = fifo_pop_entry(&q->completed, struct nbd_cmd, link))) {
		if (c->err && is_conn_err(c->err)) {
			c->state = CMD_RESUBMIT;
			fifo_push(&q->resubmit, &c->link);
			q->lost = true;
			continue;
		}
		if (!c->err)
			be_nbd_cmd_acked(q, c);
		be_nbd_cmd_retire(q, c, c->err ? -c->err : 0);
	}
	if (q->h && handle_gone(q->h))
		q->lost = true;
}

void be_nbd_req_finish(struct nbd_queue *q, struct nbd_req *r)
{
	struct be_io *io = r->io;

	if (r->bounce.iov_base) {
		if (io->op == BE_OP_READ && io->be_res == 0)
			iov_from_buf(io->iov, io->iovcnt, 0, r->bounce.iov_base, io->len);
		free(r->bounce.iov_base);
		r->bounce.iov_base = NULL;
	}
	fifo_push(&q->finished, &r->link);
}

/* Give up on everything pending: the server is away. */
void be_nbd_fail_all(struct nbd_queue *q, int res)
{
	struct nbd_cmd *c;

	while ((c = fifo_pop_entry(&q->resubmit, struct nbd_cmd, link)))
		be_nbd_cmd_retire(q, c, res);
	for (struct nbd_req *r = fifo_peek_entry(&q->active, struct nbd_req, link); r;
	     r = fifo_next_entry(r, struct nbd_req, link))
		if (!r->io->be_res)
			r->io->be_res = res;
}
