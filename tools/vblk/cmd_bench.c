/* SPDX-License-Identifier: MIT */
/*
 * vblk bench: a load generator on the asynchronous libvblk API - one thread
 * per queue keeping --iodepth requests in flight for --runtime seconds -
 * reporting IOPS, bandwidth and a latency histogram's percentiles.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/uio.h>

#include "cli.h"
#include "jsonout.h"

#define BENCH_MAX_SEGMENTS 64 /* --segments: iovecs per request */

/*
 * Latency histogram: 16 linear sub-buckets per power of two of nanoseconds
 * (about 6% resolution), fixed size whatever the sample count.
 */
#define HIST_SUB_BITS 4
#define HIST_BUCKETS  (64 << HIST_SUB_BITS)

struct hist {
	uint64_t count[HIST_BUCKETS];
	uint64_t n, sum_ns, min_ns, max_ns;
	double sum_sq; /* of ns, for the standard deviation */
};

static unsigned hist_index(uint64_t v)
{
	if (v < (1u << HIST_SUB_BITS))
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned sub = (unsigned)(v >> (msb - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1);
	return ((msb - HIST_SUB_BITS + 1) << HIST_SUB_BITS) + sub;
}

/* Middle of bucket i, in ns. */
static double hist_value(unsigned i)
{
	if (i < (1u << HIST_SUB_BITS))
		return i;
	unsigned msb = (i >> HIST_SUB_BITS) + HIST_SUB_BITS - 1;
	unsigned sub = i & ((1u << HIST_SUB_BITS) - 1);
	double lo = ldexp(1.0, (int)msb) + sub * ldexp(1.0, (int)(msb - HIST_SUB_BITS));
	return lo + ldexp(1.0, (int)(msb - HIST_SUB_BITS)) / 2;
}

static void hist_add(struct hist *h, uint64_t ns)
{
	h->count[hist_index(ns)]++;
	if (!h->n || ns < h->min_ns)
		h->min_ns = ns;
	h->n++;
	h->sum_ns += ns;
	h->sum_sq += (double)ns * (double)ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/* Fold a worker's histogram into the total. */
static void hist_merge(struct hist *into, const struct hist *h)
{
	for (unsigned k = 0; k < HIST_BUCKETS; k++)
		into->count[k] += h->count[k];
	if (h->n && (!into->n || h->min_ns < into->min_ns))
		into->min_ns = h->min_ns;
	into->n += h->n;
	into->sum_ns += h->sum_ns;
	into->sum_sq += h->sum_sq;
	if (h->max_ns > into->max_ns)
		into->max_ns = h->max_ns;
}

static double hist_pct(const struct hist *h, double p)
{
	uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->n), seen = 0;

	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= want)
			return hist_value(i);
	}
	return (double)h->max_ns;
}

enum rw_mode { RW_READ, RW_WRITE, RW_RANDREAD, RW_RANDWRITE, RW_RANDRW };

struct bench {
	struct vblk *v;
	struct vblk_info info;
	enum rw_mode mode;
	uint64_t bs;
	unsigned iodepth, queues;
	double runtime;
	uint64_t requests; /* per queue; 0 = until runtime */
	unsigned segments; /* data buffers per request (iovecs), >= 1 */
	unsigned poll_us;  /* --poll-us, for the report */
};

/* Results per direction: [DIR_READ] and [DIR_WRITE]. */
enum { DIR_READ, DIR_WRITE };

/* One thread driving one queue: its results, and where its stream stands. */
struct worker {
	struct bench *b;
	unsigned qi;
	pthread_t tid;
	struct hist h[2];
	uint64_t ios[2], errors;
	uint64_t submitted; /* accepted by the library, for --requests */
	int err;
	/* The thread's own state while it runs. */
	struct vblk_queue *q;
	struct slot *slots; /* [iodepth] */
	/*
	 * Slots the library could not take yet (-EAGAIN: it holds twice its
	 * ring size at most): resubmitted as completions free room, so any
	 * --iodepth works whatever the ring size.
	 */
	unsigned *backlog; /* [iodepth] */
	unsigned nbacklog;
	unsigned inflight;
	bool stop;
	/* Sequential workloads: each queue streams through its own slice. */
	uint64_t nblocks, slice, seq, seq_end;
	uint64_t rng;
};

struct slot {
	uint8_t *buf;
	struct timespec start;
	bool write;
};

static uint64_t ns_between(const struct timespec *a, const struct timespec *b)
{
	return (uint64_t)((b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec));
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* The next block of w's stream: the next of its slice, or a random one. */
static uint64_t next_block(struct worker *w)
{
	const struct bench *b = w->b;

	if (b->mode != RW_READ && b->mode != RW_WRITE)
		return xorshift(&w->rng) % w->nblocks;
	if (w->seq >= w->seq_end || w->seq >= w->nblocks)
		w->seq = (w->qi * w->slice) % w->nblocks;
	return w->seq++;
}

/*
 * Submit one request from slot s. Without room in the library (-EAGAIN
 * while others are in flight) the slot waits in the backlog; any other
 * failure stops the worker.
 */
static void submit_slot(struct worker *w, unsigned s)
{
	const struct bench *b = w->b;
	struct slot *sl = &w->slots[s];
	uint64_t off = next_block(w) * b->bs;
	bool wr = b->mode == RW_WRITE || b->mode == RW_RANDWRITE ||
		  (b->mode == RW_RANDRW && (xorshift(&w->rng) & 1));
	int ret;

	if (b->requests && w->submitted >= b->requests) {
		w->stop = true;
		return;
	}
	sl->write = wr;
	clock_gettime(CLOCK_MONOTONIC, &sl->start);
	if (b->segments > 1) {
		/* The slot's buffer cut into equal pieces: a multi-segment request. */
		struct iovec iov[BENCH_MAX_SEGMENTS];
		size_t seg = b->bs / b->segments;
		for (unsigned i = 0; i < b->segments; i++)
			iov[i] = (struct iovec){sl->buf + i * seg, seg};
		ret = wr ? vblk_queue_writev(w->q, off, iov, (int)b->segments, sl)
			 : vblk_queue_readv(w->q, off, iov, (int)b->segments, sl);
	} else {
		ret = wr ? vblk_queue_write(w->q, off, sl->buf, b->bs, sl)
			 : vblk_queue_read(w->q, off, sl->buf, b->bs, sl);
	}
	if (ret == -EAGAIN && w->inflight) {
		w->backlog[w->nbacklog++] = s;
	} else if (ret) {
		w->err = ret;
		w->stop = true;
	} else {
		w->inflight++;
		w->submitted++;
	}
}

/* Completions made room: waiting slots go first, oldest first. */
static void submit_backlog(struct worker *w)
{
	unsigned waiting = w->stop ? 0 : w->nbacklog, from = 0;

	w->nbacklog = 0;
	while (from < waiting && !w->stop) {
		unsigned before = w->nbacklog;

		submit_slot(w, w->backlog[from++]);
		if (w->nbacklog != before) {
			/* Still no room: keep the rest, in order. */
			memmove(w->backlog + w->nbacklog, w->backlog + from,
				(waiting - from) * sizeof(*w->backlog));
			w->nbacklog += waiting - from;
			return;
		}
	}
}

/* Account for the n completions in comp, refilling their slots until stop. */
static void reap(struct worker *w, const struct vblk_completion *comp, int n,
		 const struct timespec *now)
{
	for (int i = 0; i < n; i++) {
		struct slot *s = comp[i].user_data;

		w->inflight--;
		if (comp[i].ret) {
			w->errors++;
			if (!w->err)
				w->err = comp[i].ret;
			w->stop = true;
			continue;
		}
		hist_add(&w->h[s->write], ns_between(&s->start, now));
		w->ios[s->write]++;
		if (!w->stop)
			submit_slot(w, (unsigned)(s - w->slots));
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;
	struct vblk_completion comp[64];
	struct timespec t0, now;

	w->q = vblk_get_queue(b->v, w->qi);
	w->nblocks = b->info.capacity / b->bs;
	w->slice = w->nblocks / b->queues ? w->nblocks / b->queues : 1;
	w->seq = (w->qi * w->slice) % w->nblocks;
	w->seq_end = w->seq + w->slice;
	w->rng = 0x9E3779B97F4A7C15ull * (w->qi + 1);
	w->slots = calloc(b->iodepth, sizeof(*w->slots));
	w->backlog = calloc(b->iodepth, sizeof(*w->backlog));
	if (!w->slots || !w->backlog) {
		w->err = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < b->iodepth; i++) {
		w->slots[i].buf = vblk_buf_alloc(b->v, b->bs);
		if (!w->slots[i].buf) {
			w->err = -ENOMEM;
			goto out;
		}
		memset(w->slots[i].buf, (int)(0xA5 ^ i), b->bs);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < b->iodepth && !w->stop; i++)
		submit_slot(w, i);
	while (w->inflight) {
		int n = vblk_queue_wait(w->q, comp, 64, 1000);
		if (n < 0) {
			w->err = n;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!w->stop && (double)ns_between(&t0, &now) / 1e9 >= b->runtime)
			w->stop = true;
		reap(w, comp, n, &now);
		submit_backlog(w);
	}
out:
	for (unsigned i = 0; w->slots && i < b->iodepth; i++)
		vblk_buf_free(b->v, w->slots[i].buf);
	free(w->slots);
	free(w->backlog);
	return NULL;
}

enum {
	OPT_RW = OPT_OWN,
	OPT_BS,
	OPT_IODEPTH,
	OPT_QUEUES,
	OPT_RUNTIME,
	OPT_JSON,
	OPT_REQUESTS,
	OPT_SEGMENTS
};

static const char *const modes[] = {"read", "write", "randread", "randwrite", "randrw"};

/* What the command line asks of bench, besides the device. */
struct bench_args {
	struct bench *b;
	bool json;
};

static void on_opt(void *ctx, int id, const char *val)
{
	struct bench_args *a = ctx;
	struct bench *b = a->b;
	unsigned m;
	char *end;

	switch (id) {
	case OPT_RW:
		for (m = 0; m < ARRAY_SIZE(modes) && strcmp(val, modes[m]); m++)
			;
		if (m == ARRAY_SIZE(modes))
			usage_error("bench: unknown --rw=%s", val);
		b->mode = (enum rw_mode)m;
		break;
	case OPT_BS:
		b->bs = parse_size("block size", val);
		if (!b->bs)
			usage_error("bench: --bs must be positive");
		break;
	case OPT_IODEPTH:
		b->iodepth = parse_count("iodepth", val, 65536);
		break;
	case OPT_QUEUES:
		b->queues = parse_count("queues", val, CLI_MAX_QUEUES);
		break;
	case OPT_RUNTIME:
		b->runtime = strtod(val, &end);
		if (*end || !(b->runtime > 0))
			usage_error("bench: invalid --runtime=%s", val);
		break;
	case OPT_JSON:
		a->json = true;
		break;
	case OPT_REQUESTS:
		b->requests = parse_size("requests", val);
		break;
	case OPT_SEGMENTS:
		b->segments = parse_count("segments", val, BENCH_MAX_SEGMENTS);
		break;
	}
}

/* fio's latency object (clat_ns, lat_ns): min, max, mean, stddev, N, percentile. */
static struct json_object *json_lat(const struct hist *h)
{
	/* fio's default percentile_list. */
	static const double pcts[] = {1,  5,  10, 20, 30,   40,	  50,	 60,   70,
				      80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99};
	struct json_object *o = jobj();
	double mean = h->n ? (double)h->sum_ns / (double)h->n : 0;
	double var = h->n ? h->sum_sq / (double)h->n - mean * mean : 0;

	jset_u64(o, "min", h->min_ns);
	jset_u64(o, "max", h->max_ns);
	jset_num(o, "mean", mean, 3);
	jset_num(o, "stddev", var > 0 ? sqrt(var) : 0, 3);
	jset_u64(o, "N", h->n);
	if (h->n) {
		struct json_object *p = jobj();

		for (size_t i = 0; i < ARRAY_SIZE(pcts); i++) {
			char key[16];
			double ns = hist_pct(h, pcts[i]);

			/* A bucket's middle may lie beyond what was seen. */
			ns = ns < (double)h->min_ns ? (double)h->min_ns : ns;
			ns = ns > (double)h->max_ns ? (double)h->max_ns : ns;
			snprintf(key, sizeof(key), "%f", pcts[i]);
			jset_u64(p, key, (uint64_t)ns);
		}
		jset(o, "percentile", p);
	}
	return o;
}

/* fio's per-direction object ("read", "write"). */
static struct json_object *json_dir(const struct bench *b, const struct hist *h, double secs)
{
	struct json_object *o = jobj();
	uint64_t bytes = h->n * b->bs;

	jset_u64(o, "io_bytes", bytes);
	jset_u64(o, "io_kbytes", bytes >> 10);
	jset_u64(o, "bw_bytes", (uint64_t)((double)bytes / secs));
	jset_u64(o, "bw", (uint64_t)((double)bytes / secs / 1024));
	jset_num(o, "iops", (double)h->n / secs, 6);
	jset_u64(o, "runtime", (uint64_t)(secs * 1000));
	jset_u64(o, "total_ios", h->n);
	jset_u64(o, "short_ios", 0);
	jset_u64(o, "drop_ios", 0);
	/* Submission to completion: what fio calls completion latency, and total latency. */
	jset(o, "clat_ns", json_lat(h));
	jset(o, "lat_ns", json_lat(h));
	return o;
}

/*
 * vblk's own member of the job: requests completed on each queue, so a
 * caller can tell that every queue carried its share.
 */
static struct json_object *json_queues(const struct bench *b, const struct worker *w)
{
	struct json_object *a = jarr();

	for (unsigned i = 0; i < b->queues; i++) {
		struct json_object *q = jobj();

		jset_u64(q, "queue", i);
		jset_u64(q, "requests", w[i].ios[DIR_READ] + w[i].ios[DIR_WRITE]);
		if (json_object_array_add(a, q))
			die("out of memory");
	}
	return a;
}

/* docs/json.md, "vblk bench --json": fio's --output-format=json layout, one job. */
static void print_json(const struct bench *b, const struct worker *w, const struct hist *h,
		       double secs)
{
	struct json_object *o = jobj(), *jobs = jarr(), *job = jobj(), *opts = jobj();
	char v[32];

	jset_u64(o, "schema_version", VBLK_JSON_SCHEMA_VERSION);
	jset_str(o, "vblk version", VBLK_VERSION_STRING);
	jset_u64(o, "timestamp", (uint64_t)time(NULL));
	jset_str(job, "jobname", "vblk-bench");
	jset_u64(job, "groupid", 0);
	jset_u64(job, "error", 0);
	jset_u64(job, "elapsed", (uint64_t)(secs + 0.5));
	jset_u64(job, "job_runtime", (uint64_t)(secs * 1000));
	/* fio gives job options as strings, as they were written. */
	jset_str(opts, "rw", modes[b->mode]);
	snprintf(v, sizeof(v), "%" PRIu64, b->bs);
	jset_str(opts, "bs", v);
	snprintf(v, sizeof(v), "%u", b->iodepth);
	jset_str(opts, "iodepth", v);
	snprintf(v, sizeof(v), "%u", b->queues);
	jset_str(opts, "queues", v);
	snprintf(v, sizeof(v), "%g", b->runtime);
	jset_str(opts, "runtime", v);
	snprintf(v, sizeof(v), "%u", b->poll_us);
	jset_str(opts, "poll_us", v);
	jset(job, "job options", opts);
	jset(job, "read", json_dir(b, &h[DIR_READ], secs));
	jset(job, "write", json_dir(b, &h[DIR_WRITE], secs));
	jset(job, "vblk_queues", json_queues(b, w));
	if (json_object_array_add(jobs, job))
		die("out of memory");
	jset(o, "jobs", jobs);
	jprint(o);
}

int cmd_bench(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"rw", required_argument, NULL, OPT_RW},
	    {"bs", required_argument, NULL, OPT_BS},
	    {"iodepth", required_argument, NULL, OPT_IODEPTH},
	    {"queues", required_argument, NULL, OPT_QUEUES},
	    {"runtime", required_argument, NULL, OPT_RUNTIME},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"requests", required_argument, NULL, OPT_REQUESTS},
	    {"segments", required_argument, NULL, OPT_SEGMENTS},
	    {NULL, 0, NULL, 0},
	};
	struct bench b = {.mode = RW_RANDREAD,
			  .bs = 4096,
			  .iodepth = 32,
			  .queues = 1,
			  .runtime = 10,
			  .segments = 1};
	struct bench_args args = {.b = &b};
	const char *sock;
	bool json;
	struct worker *w;
	struct timespec t0, t1;
	struct hist *h;

	argv = cli_getopt(cli, argc, argv, opts, on_opt, &args, &argc);
	if (argc < 1)
		usage_error("bench: SOCKET missing");
	if (argc > 1)
		usage_error("bench: unexpected argument '%s'", argv[1]);
	sock = argv[0];
	json = args.json;

	struct dev d;
	{
		struct vblk_options o = {.num_queues = b.queues};
		uint64_t need = b.bs * b.iodepth * b.queues + (8u << 20);
		unsigned qs = 256;

		if (need > (64u << 20))
			o.buffer_size = need;
		while (qs < b.iodepth && qs < 1024)
			qs <<= 1;
		o.queue_size = qs;
		dev_open_with(cli, &d, sock, &o);
	}
	b.v = d.v;
	b.poll_us = cli->poll_us;
	vblk_get_info(d.v, &b.info);
	if (b.bs % b.info.logical_block_size || b.bs > b.info.max_transfer)
		die("--bs must be a multiple of %u and at most %zu", b.info.logical_block_size,
		    b.info.max_transfer);
	if (b.bs > b.info.capacity)
		die("--bs is larger than the device");
	if (b.bs % b.segments)
		die("--bs must be a multiple of --segments");
	if (b.mode != RW_READ && b.mode != RW_RANDREAD && b.info.read_only)
		die("%s: device is read-only", sock);

	w = calloc(b.queues, sizeof(*w));
	h = calloc(3, sizeof(*h)); /* read, write, both */
	if (!w || !h)
		die("out of memory");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < b.queues; i++) {
		w[i].b = &b;
		w[i].qi = i;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]))
			die("cannot start a thread");
	}
	int err = 0;
	for (unsigned i = 0; i < b.queues; i++) {
		pthread_join(w[i].tid, NULL);
		for (int dir = DIR_READ; dir <= DIR_WRITE; dir++) {
			hist_merge(&h[dir], &w[i].h[dir]);
			hist_merge(&h[2], &w[i].h[dir]);
		}
		if (w[i].err && !err)
			err = w[i].err;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dev_close(&d);
	if (err == -ENOTCONN)
		die("bench: %s: the back end closed the connection with I/O outstanding", sock);
	if (err)
		die("bench: I/O failed: %s", strerror(-err));

	double secs = (double)ns_between(&t0, &t1) / 1e9;
	if (json) {
		print_json(&b, w, h, secs);
	} else {
		double mean_us = h[2].n ? (double)h[2].sum_ns / h[2].n / 1000.0 : 0;

		printf("%s bs=%" PRIu64 " iodepth=%u queues=%u poll-us=%u runtime=%.2fs\n",
		       modes[b.mode], b.bs, b.iodepth, b.queues, b.poll_us, secs);
		printf("  IOPS:    %.0f\n", h[2].n / secs);
		printf("  MiB/s:   %.2f\n", h[2].n * b.bs / secs / 1048576.0);
		printf("  latency: mean %.1f us, p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f "
		       "us\n",
		       mean_us, hist_pct(&h[2], 50) / 1000.0, hist_pct(&h[2], 99) / 1000.0,
		       hist_pct(&h[2], 99.9) / 1000.0, h[2].max_ns / 1000.0);
	}
	free(w);
	free(h);
	return 0;
}
