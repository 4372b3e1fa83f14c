/* SPDX-License-Identifier: MIT */
/*
 * vblk copy: a whole-image copy in the manner of nbdcopy and qemu-img
 * convert. This file: the options, the plan (workers, request size) from
 * what both sides allow, progress on stderr while the workers
 * (copy_work.c) run, the unaligned tail, and the --json summary.
 */
#include <inttypes.h>
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
	if (copy_is_zero(buf, n)) {
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

	t0 = last = now_s();
	w = copy_start(c);
	/* A redraw on a terminal 4 times a second, a line a second otherwise. */
	while (atomic_load(&c->running)) {
		nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
		if (show && now_s() - last >= (tty ? 0.25 : 1.0)) {
			progress(c, tty, t0, false);
			last = now_s();
		}
	}
	copy_join(c, w);
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
	free(c);
	return 0;
}
