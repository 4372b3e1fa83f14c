/* SPDX-License-Identifier: MIT */
/*
 * NBD backend: durability. Which acknowledged writes no flush has covered yet,
 * what a lost connection means for them, and how a guest flush is made to
 * cover every connection.
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
#include "nbd_priv.h"

#include <inttypes.h>

#include "internal/log.h"

/* Wake every other queue so it re-reads the flush generations. Call with nbe->lock held. */
void be_nbd_wake_peers_locked(struct nbd_queue *q)
{
	for (struct nbd_queue *p = q->nbe->queues; p; p = p->peer_next)
		if (p != q)
			be_nbd_efd_signal(p->wake_efd);
}

/*
 * q's connection is gone (lost, or closed without a final flush): writes it
 * acknowledged and no flush covered may be gone with the server's cache.
 */
void be_nbd_loss_note(struct nbd_queue *q, const char *why)
{
	struct nbd_be *nbe = q->nbe;

	if (!q_dirty(q))
		return;
	log_warn("nbd: %s: %s with %" PRIu64
		 " acknowledged write(s) not yet flushed; the next flush reports EIO",
		 nbe->uri, why, q->acked - q->flushed);
	q->flushed = q->acked; /* reported from now on through loss_gen, not counted again */
	pthread_mutex_lock(&nbe->lock);
	nbe->loss_gen++;
	be_nbd_wake_peers_locked(q); /* their flushes waiting on answers re-check the loss */
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
	be_nbd_wake_peers_locked(q);
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

/*
 * A FLUSH request r starts: note the losses so far and, without multi-conn,
 * raise a flush generation the other queues must answer.
 */
void be_nbd_flush_start(struct nbd_queue *q, struct nbd_req *r)
{
	pthread_mutex_lock(&q->nbe->lock);
	r->loss_seen = q->nbe->loss_gen;
	/* Without multi-conn our flush covers only this connection: ask the others. */
	if (q->caps.can_flush && !q->caps.multi_conn && (q->nbe->queues != q || q->peer_next)) {
		r->pf_gen = ++q->nbe->pf_gen;
		/* Our own connection is covered by r's own FLUSH: no second one for it. */
		if (q->pf_seen == r->pf_gen - 1)
			q->pf_seen = r->pf_gen;
		be_nbd_wake_peers_locked(q);
	}
	pthread_mutex_unlock(&q->nbe->lock);
}

/*
 * Verdict for a FLUSH request r whose own commands all succeeded: 1 while
 * another connection's flush for it is still out, else 0 or -EIO (one of
 * those flushes failed, or a durability loss not yet reported).
 */
int be_nbd_flush_verdict(struct nbd_queue *q, const struct nbd_req *r)
{
	int st = pf_status(q, r);

	return st ? st : loss_check(q, r);
}

/* A command succeeded: account for what it made acknowledged or durable. */
void be_nbd_cmd_acked(struct nbd_queue *q, const struct nbd_cmd *c)
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
void be_nbd_own_flush_done(struct nbd_queue *q, const struct nbd_cmd *c, int res)
{
	if (c->pf_gen) {
		pf_answer(q, c->pf_gen, res);
	} else {
		q->final_pending = false;
		q->final_res = res;
	}
}

/*
 * Answer a flush generation another queue raised: at once if every write
 * this connection acknowledged is covered already, else with a FLUSH of our
 * own. Without a free command slot or a working connection, retried on the
 * next turn of the loop.
 */
void be_nbd_pf_service(struct nbd_queue *q)
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
	be_nbd_flush_send(q, NULL, want);
}

/*
 * The queue is being destroyed (nothing of the engine's is in flight): make
 * the writes this connection acknowledged durable before it is closed, since
 * no flush on another or a later connection is promised to cover them. Bounded
 * by the reconnect window; a failure is a durability loss.
 */
void be_nbd_final_flush(struct nbd_queue *q)
{
	uint64_t deadline = now_ms() + q->nbe->reconnect_ms;
	bool sent = q->h && !q->lost && q->free_cmds;

	if (!q_dirty(q))
		return;
	if (sent) {
		q->final_pending = true;
		q->final_res = 0;
		be_nbd_flush_send(q, NULL, 0);
		while (q->final_pending && !q->lost) {
			uint64_t now = now_ms();

			if (now >= deadline)
				break;
			be_nbd_wait_events(q, (int)(deadline - now));
		}
	}
	be_nbd_loss_note(q, sent && !q->final_pending && q->final_res
				? "the final flush failed"
				: "closing the connection without a flush");
}
