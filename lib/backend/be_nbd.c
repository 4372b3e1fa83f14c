/* SPDX-License-Identifier: MIT */
/*
 * NBD backend on libnbd's asynchronous API.
 *
 * Threading. Each be_queue owns one NBD connection (struct nbd_handle) and one
 * I/O thread, and only that thread ever calls into libnbd for the handle. The
 * engine thread and the I/O thread meet at two lock-protected lists:
 *
 *   submit() queues a preallocated request slot on a private list; kick()
 *   moves the batch to q->sub under q->lock and bumps q->wake_efd.
 *   The I/O thread polls the socket (direction from nbd_aio_get_direction)
 *   and wake_efd, issues nbd_aio_pread/pwrite/flush/trim/zero (several in
 *   flight, no thread per request), feeds socket events to libnbd with
 *   nbd_aio_notify_read/write, and appends finished requests to q->done,
 *   bumping q->done_efd. done_efd is queue_fd(): readable when reap() has work.
 *   reap() drains q->done and calls done() on the engine thread.
 *
 * Because one thread issues commands and waits on the socket, no POLLOUT
 * hand-off is needed: the direction is re-read before every poll().
 * libnbd runs completion callbacks with its handle lock held, so cmd_cb()
 * only records the result on a thread-local list; everything that may call
 * nbd_* again happens after the libnbd call returns.
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
 *
 * Connection loss. Commands that fail with ENOTCONN / ESHUTDOWN / ECONNRESET
 * / EPIPE (libnbd aborts every in-flight command with ENOTCONN when the
 * connection dies) were not acknowledged, so they are kept and re-issued
 * unchanged on a new connection: a write completes to the guest only once a
 * server acknowledged it. The I/O thread retries the connection every 250 ms
 * for reconnect_ms (BE_NBD_RECONNECT_MS_DEFAULT); if the server stays away,
 * everything pending fails with -EIO and the queue is "down": each later batch
 * of requests triggers one connection attempt and fails fast with -EIO if the
 * server is still away, or proceeds once it is back. A server that comes back
 * with a different export size is refused.
 *
 * Durability. In writeback mode a write is acknowledged to the guest when the
 * server replied, possibly from its cache; only a later NBD_CMD_FLUSH on the
 * same connection (or on any, with multi-conn) makes it durable. A server that
 * restarts in between loses it, and a flush on the new connection would
 * succeed: the guest would believe data durable that is gone. So each queue
 * counts acknowledged writes not yet covered by a successful flush (q->acked
 * vs q->flushed; FUA writes and writes whose FUA we emulate with a trailing
 * flush are durable when acknowledged and do not count). When a connection is
 * lost with such writes outstanding, the device records a durability loss
 * (nbe->loss_gen): every flush outstanding at that moment fails with -EIO, and
 * if none was, the next flush to complete (on any queue: each is meant to cover
 * every queue's writes) fails with -EIO. The loss is reported once; after that
 * flushes succeed again. This mirrors how Linux reports a lost write-back page
 * (errseq: the error once to fsync) rather than failing the device for good.
 * QEMU's NBD client re-sends requests in flight after a reconnect but keeps no
 * record of acknowledged unflushed writes, so its next flush succeeds; we
 * chose to report the possible loss. Writes in flight at the loss were not
 * acknowledged and are re-sent as before; a write whose FUA we emulate is
 * re-sent whole if its trailing flush had not completed.
 *
 * Several queues. Each queue has its own connection. Without multi-conn
 * (nbd_can_multi_conn) a flush covers only its own connection's writes (NBD
 * protocol, "Ordering of messages and writes"), so a guest flush on one queue
 * would not cover writes acknowledged on another. We keep the multi-queue
 * configuration and make a flush cover every connection: the flushing queue
 * raises the device's flush generation (nbe->pf_gen) and wakes the others;
 * each other queue answers the generation at once if it has no unflushed
 * writes, else sends an NBD_CMD_FLUSH of its own on its connection and
 * answers when it completes. The guest's flush completes when its own flush
 * and every answer are in, and fails if any of them failed. (QEMU's NBD
 * client uses a single connection, so a QEMU user gets the same guarantee; we
 * keep the queues' parallelism and pay one flush per dirty connection.) A
 * queue destroyed with unflushed writes flushes its connection before closing
 * it, so no write is left on a connection nobody can flush any more; if that
 * flush fails the device records a durability loss.
 */
#include "be_nbd.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>

#include "internal/compiler.h"
#include "internal/iov.h"
#include "internal/log.h"

#define NBD_DEFAULT_MAX_BLOCK (32u << 20)
/* Payload-free commands (TRIM, WRITE_ZEROES) are split here, as QEMU does. */
#define NBD_NOPAYLOAD_MAX (1u << 30)
#define NBD_RETRY_MS	  250
/* One connection attempt in the "down" state waits at most this long. */
#define NBD_DOWN_ATTEMPT_MS 1000

/* What a connection's server advertises. */
struct nbd_caps {
	uint64_t size;
	uint64_t max_block;  /* READ/WRITE piece limit, multiple of min_block */
	uint64_t max_nopl;   /* TRIM/WRITE_ZEROES piece limit */
	uint32_t min_block;  /* 1 if not advertised */
	uint32_t pref_block; /* 0 if not advertised */
	bool ro, can_flush, can_fua, can_trim, can_zero, multi_conn;
};

struct nbd_be {
	struct be base;
	char *uri;
	unsigned reconnect_ms;
	pthread_mutex_t lock; /* protects everything below */
	/* The connection open() made; handed to the first queue (qemu-nbd serves one client by
	 * default). */
	struct nbd_handle *spare;
	unsigned nqueues;
	struct nbd_queue *queues; /* every live queue, linked by peer_next */
	uint64_t loss_gen;	  /* durability losses so far */
	uint64_t loss_reported;	  /* loss_gen when a flush last reported a loss */
	uint64_t pf_gen;	  /* latest flush every connection was asked to make */
};

struct nbd_queue;

enum cmd_kind { CMD_READ, CMD_WRITE, CMD_FLUSH, CMD_TRIM, CMD_ZERO };
enum cmd_state { CMD_FREE, CMD_INFLIGHT, CMD_COMPLETED, CMD_RESUBMIT };

struct nbd_req {
	struct be_io *io;
	struct nbd_req *next;
	const struct iovec *iov; /* io->iov, or &bounce */
	unsigned iovcnt;
	struct iovec bounce;
	unsigned iov_idx; /* cursor: next element and byte in it */
	size_t iov_off;
	uint64_t issued; /* bytes covered by commands so far */
	bool issued_all;
	bool flush_after; /* FUA emulated by a trailing FLUSH */
	bool flush_issued;
	bool piece_acked;   /* flush_after: a piece acknowledged before its FLUSH */
	uint64_t loss_seen; /* FLUSH: nbe->loss_gen when the request started */
	uint64_t pf_gen;    /* FLUSH: generation the other queues must answer (0: none) */
};

struct nbd_cmd {
	struct nbd_queue *q;
	struct nbd_req *req;
	struct nbd_cmd *next;
	void *buf;
	uint64_t off;
	uint64_t len;
	uint32_t flags;
	enum cmd_kind kind;
	enum cmd_state state;
	int err;	/* positive errno from libnbd's completion */
	uint64_t cover; /* FLUSH: q->acked when sent, what its success makes durable */
	/* FLUSH of our own (req == NULL): the generation it answers, 0 for the final flush. */
	uint64_t pf_gen;
};

struct req_list {
	struct nbd_req *head, **tail;
};

struct cmd_list {
	struct nbd_cmd *head, **tail;
};

struct nbd_queue {
	struct be_queue base;
	struct nbd_be *nbe;
	int done_efd; /* queue_fd(): readable when q->done is not empty */
	int wake_efd; /* new submissions or stop */
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock;
	/* Protected by lock. */
	struct req_list sub;
	struct req_list done;
	bool stop;

	/* Engine thread only. */
	struct nbd_req *reqs;
	struct nbd_req *free_reqs;
	struct req_list staged;

	/* I/O thread only (and queue_create / queue_destroy around it). */
	struct nbd_handle *h;
	struct nbd_caps caps;
	struct nbd_cmd *cmds;
	unsigned ncmds;
	struct nbd_cmd *free_cmds;
	struct cmd_list completed; /* filled by cmd_cb() */
	struct cmd_list resubmit;
	struct req_list active;
	struct req_list finished; /* to publish on q->done */
	bool lost;		  /* the connection broke: recover() before issuing more */
	bool size_warned;
	uint64_t acked;	  /* non-FUA writes acknowledged on any connection so far */
	uint64_t flushed; /* the value of acked the last successful flush covered */
	uint64_t pf_seen; /* latest nbe->pf_gen taken up */
	bool final_pending;
	int final_res;

	/* Protected by nbe->lock. */
	struct nbd_queue *peer_next;
	uint64_t pf_done;   /* latest flush generation answered */
	uint64_t pf_failed; /* latest generation answered with a failed flush */
};

static void req_list_init(struct req_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void req_list_add(struct req_list *l, struct nbd_req *r)
{
	r->next = NULL;
	*l->tail = r;
	l->tail = &r->next;
}

/* Move all of src to the end of dst. */
static void req_list_splice(struct req_list *dst, struct req_list *src)
{
	if (!src->head)
		return;
	*dst->tail = src->head;
	dst->tail = src->tail;
	req_list_init(src);
}

static void cmd_list_init(struct cmd_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void cmd_list_add(struct cmd_list *l, struct nbd_cmd *c)
{
	c->next = NULL;
	*l->tail = c;
	l->tail = &c->next;
}

static struct nbd_cmd *cmd_list_pop(struct cmd_list *l)
{
	struct nbd_cmd *c = l->head;

	if (c) {
		l->head = c->next;
		if (!l->head)
			l->tail = &l->head;
	}
	return c;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void efd_signal(int fd)
{
	uint64_t one = 1;

	/* EAGAIN only if the counter is saturated: the fd is readable anyway. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		vblk_warn("nbd: eventfd write: %s", strerror(errno));
}

static void efd_drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		vblk_warn("nbd: eventfd read: %s", strerror(errno));
}

/* Reconnect window for a backend opened with opts (be.h has no field for it yet). */
static unsigned opts_reconnect_ms(const struct be_opts *opts)
{
	return opts->reconnect_ms ? opts->reconnect_ms : BE_NBD_RECONNECT_MS_DEFAULT;
}

static bool is_conn_err(int err)
{
	return err == ENOTCONN || err == ESHUTDOWN || err == ECONNRESET || err == EPIPE;
}

static bool handle_gone(struct nbd_handle *h)
{
	return nbd_aio_is_dead(h) > 0 || nbd_aio_is_closed(h) > 0;
}

/* ---- connections ---- */

static void caps_read(struct nbd_handle *h, struct nbd_caps *c)
{
	int64_t v;

	memset(c, 0, sizeof(*c));
	v = nbd_get_size(h);
	c->size = v > 0 ? (uint64_t)v : 0;
	c->ro = nbd_is_read_only(h) > 0;
	c->can_flush = nbd_can_flush(h) > 0;
	c->can_fua = nbd_can_fua(h) > 0;
	c->can_trim = nbd_can_trim(h) > 0;
	c->can_zero = nbd_can_zero(h) > 0;
	c->multi_conn = nbd_can_multi_conn(h) > 0;

	v = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);
	c->min_block = v > 1 && v <= 65536 ? (uint32_t)v : 1;
	v = nbd_get_block_size(h, LIBNBD_SIZE_PREFERRED);
	c->pref_block = v > 0 && v <= (1 << 21) ? (uint32_t)v : 0;
	v = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);
	c->max_block = v > 0 && v < NBD_DEFAULT_MAX_BLOCK ? (uint64_t)v : NBD_DEFAULT_MAX_BLOCK;
	c->max_block -= c->max_block % c->min_block;
	if (c->max_block == 0)
		c->max_block = c->min_block;
	c->max_nopl = NBD_NOPAYLOAD_MAX - NBD_NOPAYLOAD_MAX % c->min_block;
}

/*
 * Connect to uri within timeout_ms. Returns 0 and *out (a ready handle), or
 * -errno; the reason is logged as an error if verbose, else at debug level.
 */
static int conn_open(const char *uri, unsigned timeout_ms, bool verbose, struct nbd_handle **out)
{
	enum vblk_log_level lvl = verbose ? VBLK_LOG_ERR : VBLK_LOG_DEBUG;
	uint64_t deadline = now_ms() + timeout_ms;
	struct nbd_handle *h = nbd_create();
	int err;

	if (!h) {
		vblk_log(lvl, "nbd: %s: %s", uri, nbd_get_error());
		return -ENOMEM;
	}
	if (nbd_set_uri_allow_transports(h, LIBNBD_ALLOW_TRANSPORT_TCP |
						LIBNBD_ALLOW_TRANSPORT_UNIX) < 0 ||
	    nbd_set_pread_initialize(h, false) < 0 || nbd_aio_connect_uri(h, uri) < 0)
		goto err_libnbd;
	while (nbd_aio_is_ready(h) <= 0) {
		uint64_t now = now_ms();

		if (handle_gone(h)) {
			/* Dead without a failed call leaves the last error unset. */
			vblk_log(lvl,
				 "nbd: cannot connect to %s: connection failed during handshake",
				 uri);
			err = -ECONNREFUSED;
			goto err_close;
		}
		if (now >= deadline) {
			vblk_log(lvl, "nbd: cannot connect to %s: timed out after %u ms", uri,
				 timeout_ms);
			err = -ETIMEDOUT;
			goto err_close;
		}
		if (nbd_poll(h, (int)(deadline - now)) < 0)
			goto err_libnbd;
	}
	*out = h;
	return 0;

err_libnbd:
	err = nbd_get_errno() > 0 ? -nbd_get_errno() : -EIO;
	vblk_log(lvl, "nbd: cannot connect to %s: %s", uri, nbd_get_error());
err_close:
	nbd_close(h);
	return err;
}

/* Graceful close: NBD_CMD_DISC if the connection still works. */
static void conn_close(struct nbd_handle *h)
{
	if (!h)
		return;
	if (!handle_gone(h) && nbd_aio_in_flight(h) == 0)
		nbd_shutdown(h, 0);
	nbd_close(h);
}

/* ---- I/O thread: commands ---- */

static int cmd_cb(void *opaque, int *error)
{
	struct nbd_cmd *c = opaque;

	/* libnbd's handle lock is held here: record only, no nbd_* calls. */
	c->err = *error;
	c->state = CMD_COMPLETED;
	cmd_list_add(&c->q->completed, c);
	return 1; /* retire the command automatically */
}

static void cmd_free(struct nbd_queue *q, struct nbd_cmd *c)
{
	c->state = CMD_FREE;
	c->req = NULL;
	c->next = q->free_cmds;
	q->free_cmds = c;
}

static void piece_done(struct nbd_req *r, int res)
{
	struct be_io *io = r->io;

	io->be_pending--;
	if (res && !io->be_res)
		io->be_res = res;
}

/* ---- I/O thread: durability (see the top of the file) ---- */

static bool q_dirty(const struct nbd_queue *q)
{
	return q->acked != q->flushed;
}

/* Wake every other queue so it re-reads the flush generations. Call with nbe->lock held. */
static void wake_peers_locked(struct nbd_queue *q)
{
	for (struct nbd_queue *p = q->nbe->queues; p; p = p->peer_next)
		if (p != q)
			efd_signal(p->wake_efd);
}

/*
 * q's connection is gone (lost, or closed without a final flush): writes it
 * acknowledged and no flush covered may be gone with the server's cache.
 */
static void loss_note(struct nbd_queue *q, const char *why)
{
	struct nbd_be *nbe = q->nbe;

	if (!q_dirty(q))
		return;
	vblk_warn("nbd: %s: %s with %" PRIu64
		  " acknowledged write(s) not yet flushed; the next flush reports EIO",
		  nbe->uri, why, q->acked - q->flushed);
	q->flushed = q->acked; /* reported from now on through loss_gen, not counted again */
	pthread_mutex_lock(&nbe->lock);
	nbe->loss_gen++;
	wake_peers_locked(q); /* their flushes waiting on answers re-check the loss */
	pthread_mutex_unlock(&nbe->lock);
}

/* Verdict for a FLUSH request that otherwise succeeded: -EIO once per durability loss. */
static int loss_check(struct nbd_queue *q, const struct nbd_req *r)
{
	struct nbd_be *nbe = q->nbe;
	int res = 0;

	pthread_mutex_lock(&nbe->lock);
	if (nbe->loss_gen != r->loss_seen || nbe->loss_reported != nbe->loss_gen) {
		nbe->loss_reported = nbe->loss_gen;
		res = -EIO;
	}
	pthread_mutex_unlock(&nbe->lock);
	return res;
}

/* q answers flush generation gen (res: its flush's result). */
static void pf_answer(struct nbd_queue *q, uint64_t gen, int res)
{
	pthread_mutex_lock(&q->nbe->lock);
	if (gen > q->pf_done)
		q->pf_done = gen;
	if (res && gen > q->pf_failed)
		q->pf_failed = gen;
	wake_peers_locked(q);
	pthread_mutex_unlock(&q->nbe->lock);
}

/*
 * Have all other queues answered r's generation? 1: not yet, 0: yes, -EIO:
 * yes, and one of their flushes failed (a later failure counts too: we cannot
 * tell it apart, and failing a flush is the safe side).
 */
static int pf_status(struct nbd_queue *q, const struct nbd_req *r)
{
	int st = 0;

	if (!r->pf_gen)
		return 0;
	pthread_mutex_lock(&q->nbe->lock);
	for (struct nbd_queue *p = q->nbe->queues; p; p = p->peer_next) {
		if (p == q)
			continue;
		if (p->pf_done < r->pf_gen) {
			st = 1;
			break;
		}
		if (p->pf_failed >= r->pf_gen)
			st = -EIO;
	}
	pthread_mutex_unlock(&q->nbe->lock);
	return st;
}

/* A command succeeded: account for what it made acknowledged or durable. */
static void cmd_acked(struct nbd_queue *q, const struct nbd_cmd *c)
{
	switch (c->kind) {
	case CMD_WRITE:
	case CMD_TRIM:
	case CMD_ZERO:
		if (c->req->flush_after)
			c->req->piece_acked = true;
		else if (!(c->flags & LIBNBD_CMD_FLAG_FUA) && q->caps.can_flush)
			q->acked++;
		break;
	case CMD_FLUSH:
		if (c->cover > q->flushed)
			q->flushed = c->cover;
		break;
	case CMD_READ:
		break;
	}
}

/* A FLUSH of our own (c->req == NULL) is over with res. */
static void own_flush_done(struct nbd_queue *q, const struct nbd_cmd *c, int res)
{
	if (c->pf_gen) {
		pf_answer(q, c->pf_gen, res);
	} else {
		q->final_pending = false;
		q->final_res = res;
	}
}

/* A command is over for good (res: 0 or -errno): its request (or our own flush) gets res. */
static void cmd_retire(struct nbd_queue *q, struct nbd_cmd *c, int res)
{
	if (c->req)
		piece_done(c->req, res);
	else
		own_flush_done(q, c, res);
	cmd_free(q, c);
}

/* Send c on the current connection; on failure it is resubmitted later or its request fails. */
static void cmd_issue(struct nbd_queue *q, struct nbd_cmd *c)
{
	nbd_completion_callback cb = {.callback = cmd_cb, .user_data = c};
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
		cmd_list_add(&q->resubmit, c);
		q->lost = true;
		return;
	}
	vblk_dbg("nbd: command refused: %s", nbd_get_error());
	cmd_retire(q, c, -err);
}

/*
 * Send a FLUSH for req (NULL: one of our own, answering flush generation
 * pf_gen, or 0 for the final flush). The caller checked q->free_cmds.
 */
static void flush_send(struct nbd_queue *q, struct nbd_req *req, uint64_t pf_gen)
{
	struct nbd_cmd *c = q->free_cmds;

	q->free_cmds = c->next;
	c->req = req;
	c->kind = CMD_FLUSH;
	c->buf = NULL;
	c->off = c->len = 0;
	c->flags = 0;
	c->pf_gen = pf_gen;
	cmd_issue(q, c);
}

/* Sort the results cmd_cb() recorded: final, or to be resubmitted after a reconnect. */
static void process_completed(struct nbd_queue *q)
{
	struct nbd_cmd *c;

	while ((c = cmd_list_pop(&q->completed))) {
		if (c->err && is_conn_err(c->err)) {
			c->state = CMD_RESUBMIT;
			cmd_list_add(&q->resubmit, c);
			q->lost = true;
			continue;
		}
		if (!c->err)
			cmd_acked(q, c);
		cmd_retire(q, c, c->err ? -c->err : 0);
	}
	if (q->h && handle_gone(q->h))
		q->lost = true;
}

/* ---- I/O thread: requests ---- */

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
static void req_rewind(struct nbd_req *r)
{
	r->iov_idx = 0;
	r->iov_off = 0;
	r->issued = 0;
	r->issued_all = false;
	r->flush_issued = false;
	r->piece_acked = false;
}

static int req_start(struct nbd_queue *q, struct nbd_req *r)
{
	struct be_io *io = r->io;
	bool writes = io->op != BE_OP_READ && io->op != BE_OP_FLUSH;

	io->be_pending = 0;
	io->be_res = 0;
	r->iov = io->iov;
	r->iovcnt = io->iovcnt;
	r->bounce.iov_base = NULL;
	req_rewind(r);
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
				vblk_iov_to_buf(io->iov, io->iovcnt, 0, r->bounce.iov_base,
						io->len);
			r->iov = &r->bounce;
			r->iovcnt = 1;
		}
		return 0;
	case BE_OP_FLUSH:
		pthread_mutex_lock(&q->nbe->lock);
		r->loss_seen = q->nbe->loss_gen;
		/* Without multi-conn our flush covers only this connection: ask the others. */
		if (q->caps.can_flush && !q->caps.multi_conn &&
		    (q->nbe->queues != q || q->peer_next)) {
			r->pf_gen = ++q->nbe->pf_gen;
			/* Our own connection is covered by r's own FLUSH: no second one for it. */
			if (q->pf_seen == r->pf_gen - 1)
				q->pf_seen = r->pf_gen;
			wake_peers_locked(q);
		}
		pthread_mutex_unlock(&q->nbe->lock);
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

static void req_finish(struct nbd_queue *q, struct nbd_req *r)
{
	struct be_io *io = r->io;

	if (r->bounce.iov_base) {
		if (io->op == BE_OP_READ && io->be_res == 0)
			vblk_iov_from_buf(io->iov, io->iovcnt, 0, r->bounce.iov_base, io->len);
		free(r->bounce.iov_base);
		r->bounce.iov_base = NULL;
	}
	req_list_add(&q->finished, r);
}

/*
 * Issue what the connection can take (resubmissions first, then new pieces
 * in request order) and retire requests with nothing left in flight.
 */
static void pump(struct nbd_queue *q)
{
	struct nbd_req **pp = &q->active.head;
	struct nbd_req *r;

	if (q->h && !q->lost) {
		struct nbd_cmd *c;

		while (!q->lost && (c = cmd_list_pop(&q->resubmit)))
			cmd_issue(q, c);
	}
	while ((r = *pp)) {
		struct be_io *io = r->io;

		while (q->h && !q->lost && !r->issued_all && !io->be_res && q->free_cmds) {
			struct nbd_cmd *c = q->free_cmds;

			q->free_cmds = c->next;
			if (!req_next_piece(q, r, c)) {
				cmd_free(q, c);
				break;
			}
			io->be_pending++;
			cmd_issue(q, c);
		}
		if ((!r->issued_all && !io->be_res) || io->be_pending) {
			pp = &r->next;
			continue;
		}
		if (r->flush_after && !r->flush_issued && !io->be_res) {
			if (q->h && !q->lost && q->free_cmds) {
				r->flush_issued = true;
				io->be_pending++;
				flush_send(q, r, 0);
			}
			pp = &r->next;
			continue;
		}
		if (io->op == BE_OP_FLUSH && !io->be_res) {
			int st = pf_status(q, r);

			if (st > 0) {
				pp = &r->next; /* another connection's flush is still out */
				continue;
			}
			io->be_res = st ? st : loss_check(q, r);
		}
		*pp = r->next;
		if (!*pp)
			q->active.tail = pp;
		req_finish(q, r);
	}
}

/* Give up on everything pending: the server is away. */
static void fail_all(struct nbd_queue *q, int res)
{
	struct nbd_cmd *c;

	while ((c = cmd_list_pop(&q->resubmit)))
		cmd_retire(q, c, res);
	for (struct nbd_req *r = q->active.head; r; r = r->next)
		if (!r->io->be_res)
			r->io->be_res = res;
}

/*
 * Answer a flush generation another queue raised: at once if every write
 * this connection acknowledged is covered already, else with a FLUSH of our
 * own. Without a free command slot or a working connection, retried on the
 * next turn of the loop.
 */
static void pf_service(struct nbd_queue *q)
{
	uint64_t want;

	pthread_mutex_lock(&q->nbe->lock);
	want = q->nbe->pf_gen;
	pthread_mutex_unlock(&q->nbe->lock);
	if (!q_dirty(q)) {
		/*
		 * Also after a loss while our own flush for pf_seen was out: the
		 * loss is recorded, waiting for the server would only delay the
		 * flushes that will report it. pf_done is written by this thread only.
		 */
		q->pf_seen = want;
		if (q->pf_done < want)
			pf_answer(q, want, 0);
		return;
	}
	if (want == q->pf_seen || !q->h || q->lost || !q->free_cmds)
		return;
	q->pf_seen = want;
	flush_send(q, NULL, want);
}

static void publish(struct nbd_queue *q)
{
	if (!q->finished.head)
		return;
	pthread_mutex_lock(&q->lock);
	req_list_splice(&q->done, &q->finished);
	pthread_mutex_unlock(&q->lock);
	efd_signal(q->done_efd);
}

/* Take new submissions; returns true if the queue is being destroyed. */
static bool intake(struct nbd_queue *q)
{
	struct req_list batch;
	bool stop;

	pthread_mutex_lock(&q->lock);
	batch = q->sub;
	if (!batch.head)
		batch.tail = &batch.head;
	req_list_init(&q->sub);
	stop = q->stop;
	pthread_mutex_unlock(&q->lock);

	for (struct nbd_req *r = batch.head; r;) {
		struct nbd_req *next = r->next;
		int ret = req_start(q, r);

		if (ret < 0) {
			r->io->be_res = ret;
			r->issued_all = true;
		}
		req_list_add(&q->active, r);
		r = next;
	}
	return stop;
}

static bool stop_requested(struct nbd_queue *q)
{
	bool stop;

	pthread_mutex_lock(&q->lock);
	stop = q->stop;
	pthread_mutex_unlock(&q->lock);
	return stop;
}

/* Wait up to ms on wake_efd; returns true if the queue is being destroyed. */
static bool sleep_or_stop(struct nbd_queue *q, unsigned ms)
{
	struct pollfd p = {.fd = q->wake_efd, .events = POLLIN};

	if (stop_requested(q))
		return true;
	if (poll(&p, 1, (int)ms) > 0)
		efd_drain(q->wake_efd);
	return stop_requested(q);
}

/* One connection attempt for q; 0 with q->h set, or -errno. */
static int conn_try(struct nbd_queue *q, unsigned timeout_ms)
{
	struct nbd_handle *h;
	struct nbd_caps caps;
	int ret = conn_open(q->nbe->uri, timeout_ms, false, &h);

	if (ret < 0)
		return ret;
	caps_read(h, &caps);
	if (caps.size != q->nbe->base.info.size) {
		vblk_warn_once(&q->size_warned,
			       "nbd: %s came back with size %" PRIu64 " instead of %" PRIu64
			       "; refusing it",
			       q->nbe->uri, caps.size, q->nbe->base.info.size);
		conn_close(h);
		return -ESTALE;
	}
	q->size_warned = false;
	q->caps = caps;
	q->h = h;
	return 0;
}

/*
 * The connection broke: keep every unacknowledged command for resubmission
 * and reconnect within the window, or fail everything pending with -EIO.
 */
static void recover(struct nbd_queue *q)
{
	uint64_t deadline = now_ms() + q->nbe->reconnect_ms;
	const char *why = "server did not come back";

	nbd_close(q->h); /* already dead or unusable; completions land in q->completed */
	q->h = NULL;
	process_completed(q);
	for (unsigned i = 0; i < q->ncmds; i++) {
		struct nbd_cmd *c = &q->cmds[i];

		if (c->state == CMD_INFLIGHT) {
			c->state = CMD_RESUBMIT;
			cmd_list_add(&q->resubmit, c);
		}
	}
	q->lost = false;
	vblk_warn("nbd: lost connection to %s; reconnecting for up to %u ms", q->nbe->uri,
		  q->nbe->reconnect_ms);
	loss_note(q, "lost the connection");
	/*
	 * A write whose FUA we emulate was acknowledged but not yet flushed: the
	 * server may have lost it, so send all of it again before its FLUSH.
	 * (Pieces still in flight are re-sent from q->resubmit as well: same
	 * data at the same offset, harmless.)
	 */
	for (struct nbd_req *r = q->active.head; r; r = r->next) {
		if (r->flush_after && r->piece_acked && !r->io->be_res)
			req_rewind(r);
	}
	pf_service(q); /* clean now: answer waiting flushes without waiting for the server */
	for (;;) {
		uint64_t now = now_ms();

		if (conn_try(q, (unsigned)(now < deadline ? deadline - now : 1)) == 0) {
			vblk_info("nbd: reconnected to %s", q->nbe->uri);
			return;
		}
		now = now_ms();
		if (now >= deadline)
			break;
		if (sleep_or_stop(q, (unsigned)VBLK_MIN(deadline - now, NBD_RETRY_MS))) {
			why = "queue destroyed";
			break;
		}
		pf_service(q);
	}
	vblk_err("nbd: %s: %s within %u ms; failing pending I/O with EIO", q->nbe->uri, why,
		 q->nbe->reconnect_ms);
	fail_all(q, -EIO); /* q->h stays NULL: the queue is down */
}

/* Wait (up to timeout_ms, -1: no limit) for the socket or a wake-up and let libnbd make progress.
 */
static void wait_events(struct nbd_queue *q, int timeout_ms)
{
	struct pollfd p[2] = {{.fd = q->wake_efd, .events = POLLIN}};
	nfds_t n = 1;
	unsigned dir = 0;

	if (q->h) {
		dir = nbd_aio_get_direction(q->h);
		p[1].fd = nbd_aio_get_fd(q->h);
		p[1].events = (short)((dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) |
				      (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0));
		if (p[1].fd < 0) {
			q->lost = true;
			return;
		}
		n = 2;
	}
	if (poll(p, n, timeout_ms) < 0) {
		if (errno != EINTR)
			vblk_warn("nbd: poll: %s", strerror(errno));
		return;
	}
	if (p[0].revents)
		efd_drain(q->wake_efd);
	if (n == 2 && p[1].revents) {
		int r = 0;

		dir = nbd_aio_get_direction(q->h);
		if (dir & LIBNBD_AIO_DIRECTION_READ && p[1].revents & (POLLIN | POLLHUP | POLLERR))
			r = nbd_aio_notify_read(q->h);
		else if (dir & LIBNBD_AIO_DIRECTION_WRITE &&
			 p[1].revents & (POLLOUT | POLLHUP | POLLERR))
			r = nbd_aio_notify_write(q->h);
		else if (p[1].revents & (POLLHUP | POLLERR))
			r = nbd_aio_notify_read(q->h); /* let libnbd see the hang-up */
		if (r < 0)
			q->lost = true;
	}
	process_completed(q);
}

/*
 * The queue is being destroyed (nothing of the engine's is in flight): make
 * the writes this connection acknowledged durable before it is closed, since
 * no flush on another or a later connection is promised to cover them. Bounded
 * by the reconnect window; a failure is a durability loss.
 */
static void final_flush(struct nbd_queue *q)
{
	uint64_t deadline = now_ms() + q->nbe->reconnect_ms;
	bool sent = q->h && !q->lost && q->free_cmds;

	if (!q_dirty(q))
		return;
	if (sent) {
		q->final_pending = true;
		q->final_res = 0;
		flush_send(q, NULL, 0);
		while (q->final_pending && !q->lost) {
			uint64_t now = now_ms();

			if (now >= deadline)
				break;
			wait_events(q, (int)(deadline - now));
		}
	}
	loss_note(q, sent && !q->final_pending && q->final_res
			 ? "the final flush failed"
			 : "closing the connection without a flush");
}

static void *io_thread(void *arg)
{
	struct nbd_queue *q = arg;

	for (;;) {
		if (intake(q)) {
			final_flush(q);
			break;
		}
		pf_service(q);
		if (!q->h && q->active.head) {
			/* Down: one quick attempt per batch, fail fast if the server is still away.
			 */
			unsigned ms = VBLK_MIN(q->nbe->reconnect_ms, NBD_DOWN_ATTEMPT_MS);

			if (conn_try(q, ms ? ms : 1) == 0) {
				vblk_info("nbd: reconnected to %s", q->nbe->uri);
			} else {
				fail_all(q, -EIO);
			}
		}
		pump(q);
		process_completed(q);
		if (q->lost) {
			recover(q);
			pump(q);
			publish(q);
			continue;
		}
		publish(q);
		wait_events(q, -1);
	}
	return NULL;
}

/* ---- ops ---- */

static int nbd_open(const struct be_opts *opts, struct be **out)
{
	struct nbd_be *nbe;
	struct nbd_caps caps;
	int ret;

	if (!opts || !opts->path || !be_nbd_is_uri(opts->path)) {
		vblk_err("nbd: need an nbd://, nbds://, nbd+unix:// or nbds+unix:// URI, got '%s'",
			 opts && opts->path ? opts->path : "(none)");
		return -EINVAL;
	}
	nbe = calloc(1, sizeof(*nbe));
	if (!nbe)
		return -ENOMEM;
	nbe->uri = strdup(opts->path);
	if (!nbe->uri) {
		ret = -ENOMEM;
		goto err_free;
	}
	nbe->reconnect_ms = opts_reconnect_ms(opts);
	pthread_mutex_init(&nbe->lock, NULL);
	ret = conn_open(nbe->uri, nbe->reconnect_ms, true, &nbe->spare);
	if (ret < 0)
		goto err_destroy;
	caps_read(nbe->spare, &caps);
	nbe->base.ops = &be_nbd_ops;
	nbe->base.info = (struct be_info){
	    .size = caps.size,
	    .align = caps.min_block,
	    .phys_block = caps.pref_block,
	    .ro = opts->ro || caps.ro,
	    .can_flush = caps.can_flush,
	    .can_discard = caps.can_trim && !opts->ro && !caps.ro,
	    .can_write_zeroes = caps.can_zero && !opts->ro && !caps.ro,
	};
	vblk_info("nbd: %s: %" PRIu64 " bytes%s%s%s%s%s", nbe->uri, caps.size,
		  nbe->base.info.ro ? ", read-only" : "", caps.can_flush ? ", flush" : "",
		  caps.can_fua ? ", fua" : "", caps.can_trim ? ", trim" : "",
		  caps.can_zero ? ", zero" : "");
	*out = &nbe->base;
	return 0;

err_destroy:
	pthread_mutex_destroy(&nbe->lock);
	free(nbe->uri);
err_free:
	free(nbe);
	return ret;
}

static void nbd_be_close(struct be *be)
{
	struct nbd_be *nbe = container_of(be, struct nbd_be, base);

	if (!be)
		return;
	conn_close(nbe->spare);
	pthread_mutex_destroy(&nbe->lock);
	free(nbe->uri);
	free(nbe);
}

static void nbd_queue_destroy(struct be_queue *bq)
{
	struct nbd_queue *q = container_of(bq, struct nbd_queue, base);

	if (!bq)
		return;
	if (q->thread_started) {
		pthread_mutex_lock(&q->lock);
		q->stop = true;
		pthread_mutex_unlock(&q->lock);
		efd_signal(q->wake_efd);
		pthread_join(q->thread, NULL);
	}
	conn_close(q->h);
	if (q->nbe) {
		pthread_mutex_lock(&q->nbe->lock);
		for (struct nbd_queue **pp = &q->nbe->queues; *pp; pp = &(*pp)->peer_next)
			if (*pp == q) {
				*pp = q->peer_next;
				break;
			}
		/* Flushes waiting for our answer no longer need it: final_flush() ran. */
		wake_peers_locked(q);
		q->nbe->nqueues--;
		pthread_mutex_unlock(&q->nbe->lock);
	}
	if (q->done_efd >= 0)
		close(q->done_efd);
	if (q->wake_efd >= 0)
		close(q->wake_efd);
	pthread_mutex_destroy(&q->lock);
	free(q->reqs);
	free(q->cmds);
	free(q);
}

static int nbd_queue_create(struct be *be, unsigned depth, struct be_queue **out)
{
	struct nbd_be *nbe = container_of(be, struct nbd_be, base);
	struct nbd_queue *q;
	sigset_t all, old;
	int ret;

	if (depth == 0)
		depth = 1;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->base.be = be;
	q->done_efd = q->wake_efd = -1;
	pthread_mutex_init(&q->lock, NULL);
	req_list_init(&q->sub);
	req_list_init(&q->done);
	req_list_init(&q->staged);
	req_list_init(&q->active);
	req_list_init(&q->finished);
	cmd_list_init(&q->completed);
	cmd_list_init(&q->resubmit);

	q->reqs = calloc(depth, sizeof(*q->reqs));
	/* Room for every request in flight plus their splits and FUA flushes. */
	q->ncmds = depth * 2 < 16 ? 16 : depth * 2;
	q->cmds = calloc(q->ncmds, sizeof(*q->cmds));
	if (!q->reqs || !q->cmds) {
		ret = -ENOMEM;
		goto err_destroy;
	}
	for (unsigned i = depth; i-- > 0;) {
		q->reqs[i].next = q->free_reqs;
		q->free_reqs = &q->reqs[i];
	}
	for (unsigned i = q->ncmds; i-- > 0;) {
		q->cmds[i].q = q;
		cmd_free(q, &q->cmds[i]);
	}
	q->done_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->done_efd < 0 || q->wake_efd < 0) {
		ret = -errno;
		vblk_err("nbd: eventfd: %s", strerror(errno));
		goto err_destroy;
	}

	pthread_mutex_lock(&nbe->lock);
	q->h = nbe->spare;
	nbe->spare = NULL;
	q->nbe = nbe;
	nbe->nqueues++;
	/* Nothing written here yet: earlier flush generations need no answer from us. */
	q->pf_seen = q->pf_done = nbe->pf_gen;
	q->peer_next = nbe->queues;
	nbe->queues = q;
	pthread_mutex_unlock(&nbe->lock);
	if (!q->h) {
		ret = conn_open(nbe->uri, nbe->reconnect_ms, true, &q->h);
		if (ret < 0)
			goto err_destroy;
	}
	caps_read(q->h, &q->caps);
	if (q->caps.size != be->info.size) {
		vblk_err("nbd: %s: export size changed from %" PRIu64 " to %" PRIu64, nbe->uri,
			 be->info.size, q->caps.size);
		ret = -ESTALE;
		goto err_destroy;
	}
	if (nbe->nqueues > 1 && !q->caps.multi_conn && !be->info.ro)
		vblk_info("nbd: %s does not advertise multi-conn; a flush is sent on every "
			  "connection with unflushed writes",
			  nbe->uri);

	/* Signals stay with the application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&q->thread, NULL, io_thread, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret < 0) {
		vblk_err("nbd: cannot start I/O thread: %s", strerror(-ret));
		goto err_destroy;
	}
	q->thread_started = true;
	*out = &q->base;
	return 0;

err_destroy:
	nbd_queue_destroy(&q->base);
	return ret;
}

static int nbd_queue_fd(struct be_queue *bq)
{
	return container_of(bq, struct nbd_queue, base)->done_efd;
}

static int nbd_submit(struct be_queue *bq, struct be_io *io)
{
	struct nbd_queue *q = container_of(bq, struct nbd_queue, base);
	struct nbd_req *r = q->free_reqs;

	if (!r)
		return -EAGAIN;
	q->free_reqs = r->next;
	r->io = io;
	req_list_add(&q->staged, r);
	return 0;
}

static void nbd_kick(struct be_queue *bq)
{
	struct nbd_queue *q = container_of(bq, struct nbd_queue, base);

	if (!q->staged.head)
		return;
	pthread_mutex_lock(&q->lock);
	req_list_splice(&q->sub, &q->staged);
	pthread_mutex_unlock(&q->lock);
	efd_signal(q->wake_efd);
}

static int nbd_reap(struct be_queue *bq)
{
	struct nbd_queue *q = container_of(bq, struct nbd_queue, base);
	struct nbd_req *r;
	int n = 0;

	/* Drain before taking the list: a later post re-arms the fd. */
	efd_drain(q->done_efd);
	pthread_mutex_lock(&q->lock);
	r = q->done.head;
	req_list_init(&q->done);
	pthread_mutex_unlock(&q->lock);

	while (r) {
		struct nbd_req *next = r->next;
		struct be_io *io = r->io;

		/* Free the slot first: done() may submit again. */
		r->io = NULL;
		r->next = q->free_reqs;
		q->free_reqs = r;
		io->done(io, io->be_res);
		n++;
		r = next;
	}
	return n;
}

const struct be_ops be_nbd_ops = {
    .name = "nbd",
    .open = nbd_open,
    .close = nbd_be_close,
    .queue_create = nbd_queue_create,
    .queue_destroy = nbd_queue_destroy,
    .queue_fd = nbd_queue_fd,
    .submit = nbd_submit,
    .kick = nbd_kick,
    .reap = nbd_reap,
};
