/* SPDX-License-Identifier: MIT */
/*
 * NBD backend on libnbd's asynchronous API: the be_ops entry points (open,
 * close, queue create/destroy, and submit/kick/reap on the engine thread).
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
 * The I/O thread's side lives in nbd_*.c, one job per file (listed in
 * nbd_priv.h): its loop, connections and reconnects, splitting requests into
 * commands, completions, and durability across connections.
 */
#include "nbd_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal/compiler.h"
#include "internal/log.h"
#include "internal/nbd_uri.h"

/* Reconnect window for a backend opened with opts (0 in be_opts asks for the default). */
static unsigned opts_reconnect_ms(const struct be_opts *opts)
{
	return opts->reconnect_ms ? opts->reconnect_ms : BE_NBD_RECONNECT_MS_DEFAULT;
}

static int nbd_open(const struct be_opts *opts, struct be **out)
{
	struct nbd_be *nbe;
	struct nbd_caps caps;
	int ret;

	if (!opts || !opts->path || !is_nbd_uri(opts->path)) {
		log_err("nbd: need an nbd://, nbds://, nbd+unix:// or nbds+unix:// URI, got '%s'",
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
	ret = be_nbd_conn_open(nbe->uri, nbe->reconnect_ms, true, &nbe->spare);
	if (ret < 0)
		goto err_destroy;
	be_nbd_caps_read(nbe->spare, &caps);
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
	log_info("nbd: %s: %" PRIu64 " bytes%s%s%s%s%s", nbe->uri, caps.size,
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
	be_nbd_conn_close(nbe->spare);
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
		be_nbd_efd_signal(q->wake_efd);
		pthread_join(q->thread, NULL);
	}
	be_nbd_conn_close(q->h);
	if (q->nbe) {
		pthread_mutex_lock(&q->nbe->lock);
		for (struct nbd_queue **pp = &q->nbe->queues; *pp; pp = &(*pp)->peer_next)
			if (*pp == q) {
				*pp = q->peer_next;
				break;
			}
		/* Flushes waiting for our answer no longer need it: be_nbd_final_flush() ran. */
		be_nbd_wake_peers_locked(q);
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
	fifo_init(&q->sub);
	fifo_init(&q->done);
	fifo_init(&q->staged);
	fifo_init(&q->active);
	fifo_init(&q->finished);
	fifo_init(&q->completed);
	fifo_init(&q->resubmit);

	q->reqs = calloc(depth, sizeof(*q->reqs));
	/* Room for every request in flight plus their splits and FUA flushes. */
	q->ncmds = depth * 2 < 16 ? 16 : depth * 2;
	q->cmds = calloc(q->ncmds, sizeof(*q->cmds));
	if (!q->reqs || !q->cmds) {
		ret = -ENOMEM;
		goto err_destroy;
	}
	for (unsigned i = depth; i-- > 0;) {
		q->reqs[i].next_free = q->free_reqs;
		q->free_reqs = &q->reqs[i];
	}
	for (unsigned i = q->ncmds; i-- > 0;) {
		q->cmds[i].q = q;
		be_nbd_cmd_free(q, &q->cmds[i]);
	}
	q->done_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->done_efd < 0 || q->wake_efd < 0) {
		ret = -errno;
		log_err("nbd: eventfd: %s", strerror(errno));
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
		ret = be_nbd_conn_open(nbe->uri, nbe->reconnect_ms, true, &q->h);
		if (ret < 0)
			goto err_destroy;
	}
	be_nbd_caps_read(q->h, &q->caps);
	if (q->caps.size != be->info.size) {
		log_err("nbd: %s: export size changed from %" PRIu64 " to %" PRIu64, nbe->uri,
			be->info.size, q->caps.size);
		ret = -ESTALE;
		goto err_destroy;
	}
	if (nbe->nqueues > 1 && !q->caps.multi_conn && !be->info.ro)
		log_info("nbd: %s does not advertise multi-conn; a flush is sent on every "
			 "connection with unflushed writes",
			 nbe->uri);

	/* Signals stay with the application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&q->thread, NULL, be_nbd_io_thread, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret < 0) {
		log_err("nbd: cannot start I/O thread: %s", strerror(-ret));
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
	q->free_reqs = r->next_free;
	r->io = io;
	fifo_push(&q->staged, &r->link);
	return 0;
}

static void nbd_kick(struct be_queue *bq)
{
	struct nbd_queue *q = container_of(bq, struct nbd_queue, base);

	be_nbd_hand_over(q, &q->sub, &q->staged, q->wake_efd);
}

static int nbd_reap(struct be_queue *bq)
{
	struct nbd_queue *q = container_of(bq, struct nbd_queue, base);
	struct fifo done = {0};
	struct nbd_req *r;
	int n = 0;

	/* Drain before taking the list: a later post re-arms the fd. */
	be_nbd_efd_drain(q->done_efd);
	pthread_mutex_lock(&q->lock);
	fifo_splice(&done, &q->done);
	pthread_mutex_unlock(&q->lock);

	while ((r = fifo_pop_entry(&done, struct nbd_req, link))) {
		struct be_io *io = r->io;

		/* Free the slot first: done() may submit again. */
		r->io = NULL;
		r->next_free = q->free_reqs;
		q->free_reqs = r;
		io->done(io, io->be_res);
		n++;
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
