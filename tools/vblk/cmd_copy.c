/* SPDX-License-Identifier: MIT */
/*
 * vblk copy: a whole-image copy in the manner of nbdcopy and qemu-img
 * convert. One worker thread per queue keeps --requests requests in flight
 * on its own queue of each vhost-user side (files and NBD exports are read
 * and written synchronously by the same workers); each request moves one
 * --request-size chunk, and a chunk that reads as zeroes is not written as
 * data: it becomes WRITE_ZEROES with unmap on a device that offers it, is
 * skipped where the destination already reads as zeroes (a file we
 * truncated: a hole), or is zeroed by the cheapest other means. The main
 * thread reports progress; the unaligned tail is copied at the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "copy.h"
#include "jsonout.h"

#define DEFAULT_QUEUES	     4
#define DEFAULT_REQUESTS     16
#define DEFAULT_REQUEST_SIZE (256u << 10)
#define MAX_REQUESTS	     1024

/* What one copy shares between its workers and the main thread. */
struct copy {
	struct endpoint src, dst;
	uint64_t total;	   /* bytes to copy: the source's size */
	uint64_t bulk_end; /* the workers copy [0, bulk_end); the rest is the tail */
	size_t req_size;
	unsigned nworkers, requests;
	size_t max_zero;       /* most bytes of one WRITE_ZEROES request on the destination */
	_Atomic uint64_t next; /* next chunk to claim */
	_Atomic uint64_t done_bytes, data_bytes, zero_bytes, wz_requests;
	_Atomic unsigned inflight, max_inflight; /* vhost-user requests, every queue */
	_Atomic unsigned running;		 /* workers not finished */
	atomic_bool failed;
	pthread_mutex_t err_lock;
	char err[512]; /* the first failure */
};

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

static void copy_fail(struct copy *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void copy_fail(struct copy *c, const char *fmt, ...)
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

static bool is_zero(const uint8_t *p, size_t n)
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
			s->zero = is_zero(s->rbuf, s->n);
			s->state = S_READ;
			return;
		}
	}
	copy_fail(c, "%s: read at %" PRIu64 ": %s", c->src.name, s->off, ep_strerror(&c->src, ret));
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
		copy_fail(c, "%s: write at %" PRIu64 ": %s", c->dst.name, s->off,
			  ep_strerror(&c->dst, ret));
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

	atomic_fetch_sub(&c->inflight, 1);
	if (ret == -ENOTCONN)
		copy_fail(c, "%s: the back end closed the connection with I/O outstanding",
			  reading ? c->src.name : c->dst.name);
	else if (ret)
		copy_fail(c, "%s: %s at %" PRIu64 ": %s", reading ? c->src.name : c->dst.name,
			  reading ? "read" : "write", s->off, strerror(-ret));
	if (--s->pending)
		return;
	if (atomic_load(&c->failed))
		s->state = S_DONE;
	else if (reading) {
		s->zero = is_zero(s->rbuf, s->n);
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

/* ---- progress ---- */

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* n bytes in the largest binary unit that keeps it at or above 1. */
static const char *human(char *out, size_t size, double n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	unsigned u = 0;

	while (n >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		n /= 1024;
		u++;
	}
	snprintf(out, size, u ? "%.1f %s" : "%.0f %s", n, units[u]);
	return out;
}

/*
 * One progress report: a bar redrawn in place on a terminal, a line
 * otherwise; the last one gives the elapsed time instead of the ETA.
 */
static void progress(const struct copy *c, bool tty, double t0, bool final)
{
	uint64_t done = final ? c->total : atomic_load(&c->done_bytes);
	double el = now_s() - t0, rate = el > 0 ? (double)done / el : 0;
	int pct = c->total ? (int)(done * 100 / c->total) : 100;
	char d[32], t[32], r[32], eta[32];

	if (final)
		snprintf(eta, sizeof(eta), "in %.2f s", el);
	else if (rate > 0) {
		uint64_t s = (uint64_t)((double)(c->total - done) / rate);
		snprintf(eta, sizeof(eta), "ETA %" PRIu64 ":%02u:%02u", s / 3600,
			 (unsigned)(s / 60 % 60), (unsigned)(s % 60));
	} else
		snprintf(eta, sizeof(eta), "ETA --:--:--");
	human(d, sizeof(d), (double)done);
	human(t, sizeof(t), (double)c->total);
	human(r, sizeof(r), rate);
	if (tty)
		/* \033[K clears what a longer previous line left. */
		fprintf(stderr, "\r[%-30.*s] %3d%% %s / %s, %s/s, %s\033[K%s", pct * 30 / 100,
			"==============================", pct, d, t, r, eta, final ? "\n" : "");
	else
		fprintf(stderr, "vblk copy: %3d%% %s / %s, %s/s, %s\n", pct, d, t, r, eta);
}

/* ---- the command ---- */

enum {
	OPT_QUEUES = OPT_OWN,
	OPT_REQUESTS,
	OPT_REQUEST_SIZE,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_JSON,
	OPT_DST_ZERO,
};

struct copy_args {
	unsigned queues, requests;
	bool queues_exact;
	uint64_t req_size;
	int progress; /* -1: when stderr is a terminal */
	bool json, dst_zero;
};

static void on_opt(void *ctx, int id, const char *val)
{
	struct copy_args *a = ctx;

	switch (id) {
	case OPT_QUEUES:
		a->queues = parse_count("--queues", val, CLI_MAX_QUEUES);
		a->queues_exact = true;
		break;
	case OPT_REQUESTS:
		a->requests = parse_count("--requests", val, MAX_REQUESTS);
		break;
	case OPT_REQUEST_SIZE:
		a->req_size = parse_size("--request-size", val);
		if (a->req_size < 512 || a->req_size > (64u << 20) ||
		    a->req_size & (a->req_size - 1))
			usage_error("copy: --request-size must be a power of two from 512 to 64M");
		break;
	case OPT_PROGRESS:
		a->progress = 1;
		break;
	case OPT_NO_PROGRESS:
		a->progress = 0;
		break;
	case OPT_JSON:
		a->json = true;
		break;
	case OPT_DST_ZERO:
		a->dst_zero = true;
		break;
	}
}

static unsigned ring_size_for(unsigned requests)
{
	unsigned qs = 256;

	while (qs < requests && qs < 1024)
		qs <<= 1;
	return qs;
}

/* Request size, workers and zeroing limit from what the two sides allow. */
static void plan(struct copy *c, const struct copy_args *a)
{
	const struct endpoint *ep[2] = {&c->src, &c->dst};
	size_t align = 1;

	c->req_size = a->req_size;
	c->nworkers = a->queues;
	c->max_zero = SIZE_MAX;
	for (int i = 0; i < 2; i++) {
		const struct endpoint *e = ep[i];

		if (e->align > align)
			align = e->align;
		if (e->kind != EP_DEV)
			continue;
		if (e->d.info.num_queues < c->nworkers)
			c->nworkers = e->d.info.num_queues;
		while (c->req_size > e->d.info.max_transfer && c->req_size > align)
			c->req_size >>= 1;
	}
	if (c->req_size < align)
		c->req_size = align;
	if (c->dst.kind == EP_DEV && c->dst.d.info.max_write_zeroes_sectors)
		c->max_zero = ((size_t)c->dst.d.info.max_write_zeroes_sectors << 9) & ~(align - 1);
	if (!c->max_zero)
		c->max_zero = align;
	/* Without a device every request of a worker is synchronous: one at a time. */
	c->requests = c->src.kind == EP_DEV || c->dst.kind == EP_DEV ? a->requests : 1;
	c->bulk_end = c->total & ~(uint64_t)(align - 1);
}

/* The bytes after the last whole block, read and written synchronously. */
static void copy_tail(struct copy *c)
{
	size_t n = (size_t)(c->total - c->bulk_end);
	uint8_t *buf;
	int ret;

	if (!n)
		return;
	buf = malloc(n);
	if (!buf)
		die("out of memory");
	ret = ep_read(&c->src, buf, n, c->bulk_end);
	if (ret)
		die("%s: read at %" PRIu64 ": %s", c->src.name, c->bulk_end,
		    ep_strerror(&c->src, ret));
	if (is_zero(buf, n)) {
		c->zero_bytes += n;
		ret = ep_zero(&c->dst, buf, n, c->bulk_end);
	} else {
		c->data_bytes += n;
		ret = ep_write(&c->dst, buf, n, c->bulk_end);
	}
	if (ret)
		die("%s: write at %" PRIu64 ": %s", c->dst.name, c->bulk_end,
		    ep_strerror(&c->dst, ret));
	c->done_bytes += n;
	free(buf);
}

/* How zero chunks reached the destination, for the summary. */
static const char *zero_method(const struct copy *c)
{
	if (c->dst.known_zero)
		return "skip";
	if (c->dst.can_zero)
		return c->dst.kind == EP_DEV ? "write-zeroes" : "nbd-zero";
	if (c->dst.kind == EP_FILE)
		return "zero-range";
	return "write";
}

/* docs/json.md, "vblk copy --json". */
static void print_summary(const struct copy *c, double secs)
{
	struct json_object *o = jobj();

	jset_u64(o, "schema_version", VBLK_JSON_SCHEMA_VERSION);
	jset_bytes(o, "source", c->src.name, strlen(c->src.name));
	jset_bytes(o, "destination", c->dst.name, strlen(c->dst.name));
	jset_u64(o, "bytes_copied", c->done_bytes);
	jset_u64(o, "data_bytes", c->data_bytes);
	jset_u64(o, "zero_bytes", c->zero_bytes);
	jset_str(o, "zero_method", zero_method(c));
	jset_u64(o, "write_zeroes_requests", c->wz_requests);
	jset_num(o, "seconds", secs, 6);
	jset_num(o, "bytes_per_second", secs > 0 ? (double)c->done_bytes / secs : 0, 0);
	jset_u64(o, "queues", c->nworkers);
	jset_u64(o, "requests_per_queue", c->requests);
	jset_u64(o, "request_size", c->req_size);
	jset_u64(o, "max_in_flight", c->max_inflight);
	jprint(o);
}

/* Refuse to truncate the source: the destination names the same file. */
static void check_not_same(const struct copy *c, const char *dst)
{
	struct stat s, d;

	if (c->src.kind == EP_FILE && !fstat(c->src.fd, &s) && !stat(dst, &d) &&
	    s.st_dev == d.st_dev && s.st_ino == d.st_ino)
		die("%s and %s are the same file", c->src.name, dst);
}

int cmd_copy(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"queues", required_argument, NULL, OPT_QUEUES},
	    {"requests", required_argument, NULL, OPT_REQUESTS},
	    {"request-size", required_argument, NULL, OPT_REQUEST_SIZE},
	    {"progress", no_argument, NULL, OPT_PROGRESS},
	    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"destination-is-zero", no_argument, NULL, OPT_DST_ZERO},
	    {NULL, 0, NULL, 0},
	};
	struct copy_args a = {.queues = DEFAULT_QUEUES,
			      .requests = DEFAULT_REQUESTS,
			      .req_size = DEFAULT_REQUEST_SIZE,
			      .progress = -1};
	struct ep_dev_opts eo;
	struct copy *c;
	struct worker *w;
	bool tty = isatty(STDERR_FILENO), show;
	double t0, last;

	argv = cli_getopt(cli, argc, argv, opts, on_opt, &a, &argc);
	if (argc != 2)
		usage_error("copy: expected SRC DST");
	show = a.progress < 0 ? tty : a.progress;
	eo = (struct ep_dev_opts){
	    .queues = a.queues,
	    .queues_exact = a.queues_exact,
	    .queue_size = ring_size_for(a.requests),
	    /* Each request has a buffer in each device's pool, plus dev_open's own. */
	    .buffer_size = (size_t)a.queues * a.requests * a.req_size + (8u << 20),
	};
	c = calloc(1, sizeof(*c));
	if (!c)
		die("out of memory");
	pthread_mutex_init(&c->err_lock, NULL);
	ep_open(cli, &c->src, argv[0], false, 0, &eo);
	c->total = c->src.size;
	check_not_same(c, argv[1]);
	ep_open(cli, &c->dst, argv[1], true, c->total, &eo);
	if (a.dst_zero)
		c->dst.known_zero = true;
	if (c->total > c->dst.size)
		die("%s: destination is smaller (%" PRIu64 " bytes) than the source (%" PRIu64
		    " bytes)",
		    argv[1], c->dst.size, c->total);
	plan(c, &a);

	w = calloc(c->nworkers, sizeof(*w));
	if (!w)
		die("out of memory");
	t0 = last = now_s();
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
	/* A redraw on a terminal 4 times a second, a line a second otherwise. */
	while (atomic_load(&c->running)) {
		nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
		if (show && now_s() - last >= (tty ? 0.25 : 1.0)) {
			progress(c, tty, t0, false);
			last = now_s();
		}
	}
	for (unsigned i = 0; i < c->nworkers; i++) {
		pthread_join(w[i].tid, NULL);
		worker_free(c, &w[i]);
	}
	if (atomic_load(&c->failed))
		die("%s", c->err);
	copy_tail(c);
	ep_close(&c->dst, true);
	ep_close(&c->src, false);
	if (show)
		progress(c, tty, t0, true);
	if (a.json)
		print_summary(c, now_s() - t0);
	pthread_mutex_destroy(&c->err_lock);
	free(w);
	free(c);
	return 0;
}
