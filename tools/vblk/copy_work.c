/* SPDX-License-Identifier: MIT */
/*
 * vblk copy's workers (copy.h): one thread per queue, each moving
 * --requests chunks at once through read -> zero check -> write (or
 * WRITE_ZEROES, or nothing where the destination reads as zeroes already),
 * asynchronously on vhost-user sides and synchronously on files and NBD
 * exports, until no chunk is left or one fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copy.h"

enum slot_state { S_IDLE, S_READING, S_READ, S_WRITING, S_WRITTEN, S_DONE };

/* One request's worth of the copy, moving through the states above. */
struct slot {
	enum slot_state state;
	uint64_t off;
	size_t n;
	bool zero;	  /* the chunk reads as zeroes */
	unsigned pending; /* vhost-user requests not completed */
	uint8_t *rbuf;	  /* read into: the source device's pool, else wbuf */
	uint8_t *wbuf;	  /* written from: the destination device's pool, or memory */
	bool own_wbuf;	  /* wbuf is malloc'ed */
};

struct worker {
	struct copy *c;
	unsigned qi;
	pthread_t tid;
	struct vblk_queue *sq, *dq; /* queue qi of each vhost-user side, or NULL */
	struct slot *slots;
	unsigned active; /* slots not S_DONE */
};

void copy_fail(struct copy *c, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&c->err_lock);
	if (!atomic_load(&c->failed)) {
		va_start(ap, fmt);
		vsnprintf(c->err, sizeof(c->err), fmt, ap);
		va_end(ap);
		atomic_store(&c->failed, true);
	}
	pthread_mutex_unlock(&c->err_lock);
}

bool copy_is_zero(const uint8_t *p, size_t n)
{
	return !n || (!p[0] && !memcmp(p, p + 1, n - 1));
}

/* A vhost-user request went out: count it, and the most ever outstanding at once. */
static void sent(struct copy *c, struct slot *s)
{
	unsigned now = atomic_fetch_add(&c->inflight, 1) + 1;
	unsigned max = atomic_load(&c->max_inflight);

	s->pending++;
	while (now > max && !atomic_compare_exchange_weak(&c->max_inflight, &max, now))
		;
}

/*
 * A request on e failed with ret, at submission or at completion. A back end
 * that went away fails both ways (libvblk refuses new requests with
 * -ENOTCONN once it has seen the hang-up): the same words either way.
 */
static void io_failed(struct copy *c, const struct endpoint *e, const char *what, uint64_t off,
		      int ret)
{
	if (ret == -ENOTCONN)
		copy_fail(c, "%s: the back end closed the connection%s", e->name,
			  atomic_load(&c->inflight) ? " with I/O outstanding" : "");
	else
		copy_fail(c, "%s: %s at %" PRIu64 ": %s", e->name, what, off, ep_strerror(e, ret));
}

/* Claim the next chunk for s; false when none is left or the copy failed. */
static bool claim(struct copy *c, struct slot *s)
{
	uint64_t off;

	if (atomic_load(&c->failed))
		return false;
	off = atomic_fetch_add(&c->next, c->req_size);
	if (off >= c->bulk_end)
		return false;
	s->off = off;
	s->n = c->bulk_end - off < c->req_size ? (size_t)(c->bulk_end - off) : c->req_size;
	return true;
}

/* Start reading s's chunk: S_READING (asynchronous), S_READ, or S_DONE on failure. */
static void start_read(struct worker *w, struct slot *s)
{
	struct copy *c = w->c;
	int ret;

	if (ep_is_hole(&c->src, s->off, s->n)) {
		/* Nothing to read: start_write() fills wbuf only if the zeroes must be written. */
		s->zero = true;
		s->state = S_READ;
		return;
	}
	if (w->sq) {
		ret = vblk_queue_read(w->sq, s->off, s->rbuf, s->n, s);
		if (!ret) {
			sent(c, s);
			s->state = S_READING;
			return;
		}
	} else {
		ret = ep_read(&c->src, s->rbuf, s->n, s->off);
		if (!ret) {
			s->zero = copy_is_zero(s->rbuf, s->n);
			s->state = S_READ;
			return;
		}
	}
	io_failed(c, &c->src, "read", s->off, ret);
	s->state = S_DONE;
}

/* WRITE_ZEROES with unmap, split to the device's max_write_zeroes_sectors. */
static int write_zeroes(struct worker *w, struct slot *s)
{
	struct copy *c = w->c;

	for (size_t done = 0; done < s->n;) {
		size_t n = s->n - done < c->max_zero ? s->n - done : c->max_zero;
		int ret =
		    vblk_queue_write_zeroes(w->dq, s->off + done, n, VBLK_WRITE_ZEROES_UNMAP, s);

		if (ret)
			return ret;
		sent(c, s);
		atomic_fetch_add(&c->wz_requests, 1);
		done += n;
	}
	return 0;
}

/* Start writing s's chunk: S_WRITING (asynchronous), S_WRITTEN, or S_DONE on failure. */
static void start_write(struct worker *w, struct slot *s)
{
	struct copy *c = w->c;
	int ret;

	if (s->zero) {
		atomic_fetch_add(&c->zero_bytes, s->n);
		if (c->dst.known_zero) {
			s->state = S_WRITTEN;
			return;
		}
		if (w->dq && c->dst.can_zero) {
			ret = write_zeroes(w, s);
			s->state = s->pending ? S_WRITING : S_DONE;
			goto check;
		}
		/* A hole was not read: the zeroes to write must be in the buffer. */
		memset(s->wbuf, 0, s->n);
	} else {
		atomic_fetch_add(&c->data_bytes, s->n);
		if (s->rbuf != s->wbuf)
			memcpy(s->wbuf, s->rbuf, s->n);
	}
	if (w->dq) {
		ret = vblk_queue_write(w->dq, s->off, s->wbuf, s->n, s);
		if (!ret) {
			sent(c, s);
			s->state = S_WRITING;
		}
	} else {
		ret = s->zero ? ep_zero(&c->dst, s->wbuf, s->n, s->off)
			      : ep_write(&c->dst, s->wbuf, s->n, s->off);
		s->state = S_WRITTEN;
	}
check:
	if (ret) {
		io_failed(c, &c->dst, "write", s->off, ret);
		/* Requests already sent for this chunk still complete. */
		s->state = s->pending ? S_WRITING : S_DONE;
	}
}

/* Move s on as far as it goes without waiting for the device. */
static void advance(struct worker *w, struct slot *s)
{
	struct copy *c = w->c;

	for (;;) {
		switch (s->state) {
		case S_IDLE:
			if (!claim(c, s)) {
				s->state = S_DONE;
				break;
			}
			start_read(w, s);
			break;
		case S_READ:
			start_write(w, s);
			break;
		case S_WRITTEN:
			atomic_fetch_add(&c->done_bytes, s->n);
			s->state = S_IDLE;
			break;
		case S_DONE:
			w->active--;
			return;
		case S_READING:
		case S_WRITING:
			return;
		}
	}
}

/* A vhost-user request of s completed with ret. */
static void completed(struct worker *w, struct slot *s, int ret)
{
	struct copy *c = w->c;
	bool reading = s->state == S_READING;

	/* Before the count drops: this request was outstanding. */
	if (ret)
		io_failed(c, reading ? &c->src : &c->dst, reading ? "read" : "write", s->off, ret);
	atomic_fetch_sub(&c->inflight, 1);
	if (--s->pending)
		return;
	if (atomic_load(&c->failed))
		s->state = S_DONE;
	else if (reading) {
		s->zero = copy_is_zero(s->rbuf, s->n);
		s->state = S_READ;
	} else {
		s->state = S_WRITTEN;
	}
	advance(w, s);
}

/* Reap q's completions; false if it can give none any more (the back end is gone). */
static bool reap(struct worker *w, struct vblk_queue *q)
{
	struct vblk_completion comp[64];
	int n;

	if (!q)
		return true;
	n = vblk_queue_poll(q, comp, ARRAY_SIZE(comp));
	if (n < 0 && vblk_queue_pending(q)) {
		copy_fail(w->c, "queue %u: %s", w->qi, strerror(-n));
		return false;
	}
	for (int i = 0; i < n; i++)
		completed(w, comp[i].user_data, comp[i].ret);
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->active = w->c->requests;
	for (unsigned i = 0; i < w->c->requests; i++)
		advance(w, &w->slots[i]);
	while (w->active) {
		struct pollfd p[2];
		nfds_t np = 0;

		if (w->sq && vblk_queue_pending(w->sq))
			p[np++] = (struct pollfd){.fd = vblk_queue_fd(w->sq), .events = POLLIN};
		if (w->dq && vblk_queue_pending(w->dq))
			p[np++] = (struct pollfd){.fd = vblk_queue_fd(w->dq), .events = POLLIN};
		if (!np)
			break; /* cannot happen: an active slot waits for a device */
		/* A timeout: a back end that hung up is noticed by poll (vblk.h). */
		poll(p, np, 1000);
		if (!reap(w, w->sq) || !reap(w, w->dq))
			break;
	}
	atomic_fetch_sub(&w->c->running, 1);
	return NULL;
}

/* Buffers for w's slots: from the device pools where a device reads or writes them. */
static void worker_buffers(struct copy *c, struct worker *w)
{
	w->slots = calloc(c->requests, sizeof(*w->slots));
	if (!w->slots)
		die("out of memory");
	for (unsigned i = 0; i < c->requests; i++) {
		struct slot *s = &w->slots[i];

		if (c->dst.kind == EP_DEV) {
			s->wbuf = vblk_buf_alloc(c->dst.d.v, c->req_size);
		} else {
			s->wbuf = malloc(c->req_size);
			s->own_wbuf = true;
		}
		s->rbuf = c->src.kind == EP_DEV ? vblk_buf_alloc(c->src.d.v, c->req_size) : s->wbuf;
		if (!s->wbuf || !s->rbuf)
			die("cannot allocate %u buffers of %zu bytes (try fewer --requests or "
			    "--queues)",
			    c->requests * c->nworkers, c->req_size);
	}
}

static void worker_free(struct copy *c, struct worker *w)
{
	for (unsigned i = 0; w->slots && i < c->requests; i++) {
		struct slot *s = &w->slots[i];

		if (s->own_wbuf)
			free(s->wbuf);
		else if (s->wbuf)
			vblk_buf_free(c->dst.d.v, s->wbuf);
		if (s->rbuf != s->wbuf)
			vblk_buf_free(c->src.d.v, s->rbuf);
	}
	free(w->slots);
}

struct worker *copy_start(struct copy *c)
{
	struct worker *w = calloc(c->nworkers, sizeof(*w));

	if (!w)
		die("out of memory");
	atomic_store(&c->running, c->nworkers);
	for (unsigned i = 0; i < c->nworkers; i++) {
		w[i].c = c;
		w[i].qi = i;
		w[i].sq = c->src.kind == EP_DEV ? vblk_get_queue(c->src.d.v, i) : NULL;
		w[i].dq = c->dst.kind == EP_DEV ? vblk_get_queue(c->dst.d.v, i) : NULL;
		worker_buffers(c, &w[i]);
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]))
			die("cannot start a thread");
	}
	return w;
}

void copy_join(struct copy *c, struct worker *w)
{
	for (unsigned i = 0; i < c->nworkers; i++) {
		pthread_join(w[i].tid, NULL);
		worker_free(c, &w[i]);
	}
	free(w);
}
