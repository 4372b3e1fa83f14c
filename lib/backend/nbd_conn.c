/* SPDX-License-Identifier: MIT */
/*
 * NBD backend: connections. Opening one (with a deadline), reading what its
 * server advertises, closing it, and getting a queue's connection back after
 * it broke.
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
 * with a different export size is refused. What a loss means for writes
 * acknowledged but not yet flushed is nbd_durability.c's business.
 */
#include "nbd_priv.h"

#include <inttypes.h>
#include <string.h>

#include "internal/compiler.h"
#include "internal/log.h"

/* Read what h's server advertises into c, normalised to what the splitter needs. */
void be_nbd_caps_read(struct nbd_handle *h, struct nbd_caps *c)
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
int be_nbd_conn_open(const char *uri, unsigned timeout_ms, bool verbose, struct nbd_handle **out)
{
	enum log_level lvl = verbose ? LOGL_ERR : LOGL_DEBUG;
	uint64_t deadline = now_ms() + timeout_ms;
	struct nbd_handle *h = nbd_create();
	int err;

	if (!h) {
		log_msg(lvl, "nbd: %s: %s", uri, nbd_get_error());
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
			log_msg(lvl,
				"nbd: cannot connect to %s: connection failed during handshake",
				uri);
			err = -ECONNREFUSED;
			goto err_close;
		}
		if (now >= deadline) {
			log_msg(lvl, "nbd: cannot connect to %s: timed out after %u ms", uri,
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
	log_msg(lvl, "nbd: cannot connect to %s: %s", uri, nbd_get_error());
err_close:
	nbd_close(h);
	return err;
}

/* Graceful close: NBD_CMD_DISC if the connection still works. */
void be_nbd_conn_close(struct nbd_handle *h)
{
	if (!h)
		return;
	if (!handle_gone(h) && nbd_aio_in_flight(h) == 0)
		nbd_shutdown(h, 0);
	nbd_close(h);
}

/* One connection attempt for q; 0 with q->h set, or -errno. */
int be_nbd_conn_try(struct nbd_queue *q, unsigned timeout_ms)
{
	struct nbd_handle *h;
	struct nbd_caps caps;
	int ret = be_nbd_conn_open(q->nbe->uri, timeout_ms, false, &h);

	if (ret < 0)
		return ret;
	be_nbd_caps_read(h, &caps);
	if (caps.size != q->nbe->base.info.size) {
		log_warn_once(&q->size_warned,
			      "nbd: %s came back with size %" PRIu64 " instead of %" PRIu64
			      "; refusing it",
			      q->nbe->uri, caps.size, q->nbe->base.info.size);
		be_nbd_conn_close(h);
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
void be_nbd_recover(struct nbd_queue *q)
{
	uint64_t deadline = now_ms() + q->nbe->reconnect_ms;
	const char *why = "server did not come back";

	nbd_close(q->h); /* already dead or unusable; completions land in q->completed */
	q->h = NULL;
	be_nbd_process_completed(q);
	for (unsigned i = 0; i < q->ncmds; i++) {
		struct nbd_cmd *c = &q->cmds[i];

		if (c->state == CMD_INFLIGHT) {
			c->state = CMD_RESUBMIT;
			fifo_push(&q->resubmit, &c->link);
		}
	}
	q->lost = false;
	log_warn("nbd: lost connection to %s; reconnecting for up to %u ms", q->nbe->uri,
		 q->nbe->reconnect_ms);
	be_nbd_loss_note(q, "lost the connection");
	/*
	 * A write whose FUA we emulate was acknowledged but not yet flushed: the
	 * server may have lost it, so send all of it again before its FLUSH.
	 * (Pieces still in flight are re-sent from q->resubmit as well: same
	 * data at the same offset, harmless.)
	 */
	for (struct nbd_req *r = fifo_peek_entry(&q->active, struct nbd_req, link); r;
	     r = fifo_next_entry(r, struct nbd_req, link)) {
		if (r->flush_after && r->piece_acked && !r->io->be_res)
			be_nbd_req_rewind(r);
	}
	be_nbd_pf_service(q); /* clean now: answer waiting flushes without waiting for the server */
	for (;;) {
		uint64_t now = now_ms();

		if (be_nbd_conn_try(q, (unsigned)(now < deadline ? deadline - now : 1)) == 0) {
			log_info("nbd: reconnected to %s", q->nbe->uri);
			return;
		}
		now = now_ms();
		if (now >= deadline)
			break;
		if (be_nbd_sleep_or_stop(q, (unsigned)VBLK_MIN(deadline - now, NBD_RETRY_MS))) {
			why = "queue destroyed";
			break;
		}
		be_nbd_pf_service(q);
	}
	log_err("nbd: %s: %s within %u ms; failing pending I/O with EIO", q->nbe->uri, why,
		q->nbe->reconnect_ms);
	be_nbd_fail_all(q, -EIO); /* q->h stays NULL: the queue is down */
}
