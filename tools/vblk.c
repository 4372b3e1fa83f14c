/* SPDX-License-Identifier: MIT */
/*
 * vblk: command-line client for vhost-user-blk back ends, built on libvblk
 * (public API only). Errors print one line on stderr and exit non-zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#include <vblk/vblk.h>
#ifdef VBLK_HAVE_NBD
#include <libnbd.h>
#endif

#define CHUNK (1u << 20)

static const char usage_text[] =
    "Usage:\n"
    "  vblk info SOCKET [--json] [--packed]\n"
    "      capacity, block sizes, seg_max, size_max, queues, negotiated features, serial\n"
    "  vblk read SOCKET OFFSET LENGTH\n"
    "      write LENGTH bytes of the device starting at OFFSET to stdout\n"
    "  vblk write SOCKET OFFSET\n"
    "      write stdin to the device at OFFSET (partial blocks: read-modify-write)\n"
    "  vblk flush SOCKET\n"
    "  vblk discard SOCKET OFFSET LENGTH\n"
    "  vblk copy SRC DST\n"
    "      SRC and DST are each vhost-user:SOCKET, an NBD URI (nbd://HOST[:PORT]/EXPORT,\n"
    "      nbd+unix:///EXPORT?socket=PATH) or a file path; progress on stderr\n"
    "      when it is a terminal\n"
    "  vblk bench SOCKET --rw=read|write|randread|randwrite|randrw --bs=SIZE\n"
    "             --iodepth=N --queues=N --runtime=SECONDS [--json] [--packed]\n"
    "      IOPS, MiB/s and latency (mean, p50, p99, p99.9); one thread per queue\n"
    "\n"
    "Every command accepts --packed: drive the device through a packed virtqueue\n"
    "(VIRTIO_F_RING_PACKED, virtio 1.3 section 2.8) instead of a split one; it fails\n"
    "when the back end does not offer it (qemu-storage-daemon does not).\n"
    "Every command accepts --timeout=MS: how long to wait for each answer of the\n"
    "back end while connecting and disconnecting (default 5000).\n"
    "OFFSET, LENGTH and SIZE accept K, M, G, T suffixes (powers of 1024).\n"
    "SOCKET is the unix socket of a vhost-user-blk back end (qemu-storage-daemon,\n"
    "vblkd, ...). Exit status: 0 success, 1 failure, 2 usage error.\n";

/* Print "vblk: <message><tail>" as one line and exit with status. */
static void vfail(int status, const char *tail, const char *fmt, va_list ap)
    __attribute__((noreturn, format(printf, 3, 0)));
static void vfail(int status, const char *tail, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "vblk: %s%s\n", line, tail);
	exit(status);
}

/* A runtime failure: exit 1. */
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(1, "", fmt, ap);
}

/* A command-line mistake: exit 2. */
static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(2, " (see vblk --help)", fmt, ap);
}

static uint64_t parse_size(const char *what, const char *s)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	if (!*s || *s == '-')
		usage_error("invalid %s '%s'", what, s);
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		usage_error("invalid %s '%s'", what, s);
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	default:
		break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		usage_error("invalid %s '%s'", what, s);
	return (uint64_t)v << shift;
}

/* VBLK_OPEN_* for every device a command opens (--packed). */
static unsigned open_flags;
/* vblk_options.timeout_ms for every device a command opens (--timeout; 0 = default). */
static unsigned open_timeout_ms;

struct dev {
	struct vblk *v;
	struct vblk_queue *q;
	struct vblk_info info;
	uint8_t *buf; /* CHUNK bytes from the shared pool */
};

static void dev_open(struct dev *d, const char *sock, unsigned queues)
{
	struct vblk_options o = {
	    .num_queues = queues, .flags = open_flags, .timeout_ms = open_timeout_ms};
	struct stat st;
	int ret;

	if (stat(sock, &st) < 0)
		die("%s: %s", sock, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		die("%s: not a unix socket", sock);
	ret = vblk_open(sock, &o, &d->v);
	if (ret)
		die("%s: %s", sock, *vblk_get_error() ? vblk_get_error() : strerror(-ret));
	vblk_get_info(d->v, &d->info);
	d->q = vblk_get_queue(d->v, 0);
	d->buf = vblk_buf_alloc(d->v, CHUNK);
	if (!d->buf)
		die("%s: cannot allocate a buffer", sock);
}

static void dev_close(struct dev *d)
{
	vblk_buf_free(d->v, d->buf);
	vblk_close(d->v);
}

static void check_range(const struct dev *d, uint64_t off, uint64_t len)
{
	if (off > d->info.capacity || len > d->info.capacity - off)
		die("range %" PRIu64 "+%" PRIu64 " is out of range (device capacity %" PRIu64
		    " bytes)",
		    off, len, d->info.capacity);
}

/* Read [off, off+len) of the device into out (any alignment). */
static int dev_pread(struct dev *d, void *out, uint64_t len, uint64_t off)
{
	uint64_t mask = d->info.logical_block_size - 1;

	while (len) {
		uint64_t a = off & ~mask;
		uint64_t n = (off - a) + len;
		if (n > CHUNK)
			n = CHUNK;
		uint64_t an = (n + mask) & ~mask;
		if (a + an > d->info.capacity)
			an = d->info.capacity - a;
		int ret = vblk_read(d->q, a, d->buf, an);
		if (ret)
			return ret;
		uint64_t take = n - (off - a);
		memcpy(out, d->buf + (off - a), take);
		out = (uint8_t *)out + take;
		off += take;
		len -= take;
	}
	return 0;
}

/* Write data to [off, off+len) of the device; partial blocks are read-modify-written. */
static int dev_pwrite(struct dev *d, const void *data, uint64_t len, uint64_t off)
{
	uint64_t bs = d->info.logical_block_size, mask = bs - 1;

	while (len) {
		uint64_t a = off & ~mask;
		uint64_t n = (off - a) + len;
		if (n > CHUNK)
			n = CHUNK;
		uint64_t an = (n + mask) & ~mask;
		uint64_t take = n - (off - a);
		int ret;
		if (off != a) {
			ret = vblk_read(d->q, a, d->buf, bs);
			if (ret)
				return ret;
		}
		if (n != an && (an > bs || off == a)) {
			ret = vblk_read(d->q, a + an - bs, d->buf + an - bs, bs);
			if (ret)
				return ret;
		}
		memcpy(d->buf + (off - a), data, take);
		ret = vblk_write(d->q, a, d->buf, an);
		if (ret)
			return ret;
		data = (const uint8_t *)data + take;
		off += take;
		len -= take;
	}
	return 0;
}

static void write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die("write: %s", strerror(errno));
		p = (const uint8_t *)p + w;
		n -= (size_t)w;
	}
}

/* Fill up to n bytes from fd; returns bytes read (< n only at EOF). */
static size_t read_full(int fd, void *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, (uint8_t *)p + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read: %s", strerror(errno));
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return done;
}

/* ---- info ---- */

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static int cmd_info(int argc, char **argv)
{
	struct dev d;
	bool json = false;
	const char *sock = NULL;
	char serial[VBLK_ID_BYTES + 1] = "";
	int ret;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!sock)
			sock = argv[i];
		else
			usage_error("info: unexpected argument '%s'", argv[i]);
	}
	if (!sock)
		usage_error("info: SOCKET missing");
	dev_open(&d, sock, 1);
	ret = vblk_get_id(d.q, serial);
	if (ret)
		snprintf(serial, sizeof(serial), "%s", "");
	const struct vblk_info *in = &d.info;
	if (json) {
		printf("{\"capacity\": %" PRIu64 ", \"logical_block_size\": %u, "
		       "\"physical_block_size\": %u, \"seg_max\": %u, \"size_max\": %u, "
		       "\"queues\": %u, \"queue_size\": %u, \"read_only\": %s, \"writeback\": %s, "
		       "\"features\": \"0x%" PRIx64 "\", \"feature_names\": [",
		       in->capacity, in->logical_block_size, in->physical_block_size, in->seg_max,
		       in->size_max, in->max_queues, in->queue_size,
		       in->read_only ? "true" : "false", in->writeback ? "true" : "false",
		       in->features);
		bool first = true;
		for (unsigned b = 0; b < 64; b++) {
			if (!(in->features & (1ull << b)))
				continue;
			const char *n = vblk_feature_name(b);
			char tmp[32];
			if (!n) {
				snprintf(tmp, sizeof(tmp), "bit %u", b);
				n = tmp;
			}
			printf("%s", first ? "" : ", ");
			json_str(n);
			first = false;
		}
		printf("], \"serial\": ");
		if (ret)
			printf("null");
		else
			json_str(serial);
		printf("}\n");
	} else {
		printf("capacity:            %" PRIu64 " bytes (%" PRIu64 " sectors)\n",
		       in->capacity, in->capacity / 512);
		printf("logical block size:  %u\n", in->logical_block_size);
		printf("physical block size: %u\n", in->physical_block_size);
		printf("seg_max:             %u\n", in->seg_max);
		printf("size_max:            %u\n", in->size_max);
		printf("queues:              %u\n", in->max_queues);
		printf("ring:                %s\n",
		       in->features & (1ull << 34) ? "packed" : "split"); /* VIRTIO_F_RING_PACKED */
		printf("read-only:           %s\n", in->read_only ? "yes" : "no");
		printf("write cache:         %s\n", in->writeback ? "writeback" : "writethrough");
		printf("serial:              %s\n", ret ? "(GET_ID not supported)" : serial);
		printf("features:            0x%" PRIx64 "\n", in->features);
		for (unsigned b = 0; b < 64; b++) {
			if (!(in->features & (1ull << b)))
				continue;
			const char *n = vblk_feature_name(b);
			if (n)
				printf("  %s\n", n);
			else
				printf("  bit %u\n", b);
		}
	}
	dev_close(&d);
	return 0;
}

/* ---- read / write / flush / discard ---- */

static int cmd_read(int argc, char **argv)
{
	struct dev d;
	uint64_t off, len;
	uint8_t *out;

	if (argc != 3)
		usage_error("read: expected SOCKET OFFSET LENGTH");
	off = parse_size("offset", argv[1]);
	len = parse_size("length", argv[2]);
	dev_open(&d, argv[0], 1);
	check_range(&d, off, len);
	out = malloc(CHUNK);
	if (!out)
		die("out of memory");
	while (len) {
		size_t n = len < CHUNK ? (size_t)len : CHUNK;
		int ret = dev_pread(&d, out, n, off);
		if (ret)
			die("read at %" PRIu64 ": %s", off, strerror(-ret));
		write_all(STDOUT_FILENO, out, n);
		off += n;
		len -= n;
	}
	free(out);
	dev_close(&d);
	return 0;
}

static int cmd_write(int argc, char **argv)
{
	struct dev d;
	uint64_t off;
	uint8_t *in;

	if (argc != 2)
		usage_error("write: expected SOCKET OFFSET (data on stdin)");
	off = parse_size("offset", argv[1]);
	dev_open(&d, argv[0], 1);
	if (d.info.read_only)
		die("%s: device is read-only", argv[0]);
	check_range(&d, off, 0);
	in = malloc(CHUNK);
	if (!in)
		die("out of memory");
	for (;;) {
		size_t n = read_full(STDIN_FILENO, in, CHUNK);
		if (!n)
			break;
		check_range(&d, off, n);
		int ret = dev_pwrite(&d, in, n, off);
		if (ret)
			die("write at %" PRIu64 ": %s", off, strerror(-ret));
		off += n;
		if (n < CHUNK)
			break;
	}
	free(in);
	dev_close(&d);
	return 0;
}

static int cmd_flush(int argc, char **argv)
{
	struct dev d;
	int ret;

	if (argc != 1)
		usage_error("flush: expected SOCKET");
	dev_open(&d, argv[0], 1);
	ret = vblk_flush(d.q);
	if (ret)
		die("flush: %s", strerror(-ret));
	dev_close(&d);
	return 0;
}

static int cmd_discard(int argc, char **argv)
{
	struct dev d;
	uint64_t off, len;
	int ret;

	if (argc != 3)
		usage_error("discard: expected SOCKET OFFSET LENGTH");
	off = parse_size("offset", argv[1]);
	len = parse_size("length", argv[2]);
	dev_open(&d, argv[0], 1);
	check_range(&d, off, len);
	if (!(d.info.features & (1ull << 13)))
		die("%s: back end does not support discard (VIRTIO_BLK_F_DISCARD)", argv[0]);
	if ((off | len) & (d.info.logical_block_size - 1))
		die("discard: offset and length must be multiples of %u",
		    d.info.logical_block_size);
	ret = vblk_discard(d.q, off, len);
	if (ret)
		die("discard: %s", strerror(-ret));
	dev_close(&d);
	return 0;
}

/* ---- copy ---- */

/* One side of a copy: a vhost-user device, an NBD export or a file. */
struct endpoint {
	const char *name;
	enum { EP_FILE, EP_DEV, EP_NBD } kind;
	struct dev d;
	int fd;
#ifdef VBLK_HAVE_NBD
	struct nbd_handle *nbd;
#endif
	uint64_t size;
};

static bool is_nbd_uri(const char *s)
{
	return !strncmp(s, "nbd://", 6) || !strncmp(s, "nbds://", 7) ||
	       !strncmp(s, "nbd+unix://", 11) || !strncmp(s, "nbds+unix://", 12);
}

#ifdef VBLK_HAVE_NBD
static void ep_open_nbd(struct endpoint *e, const char *uri, bool dst)
{
	int64_t size;

	e->kind = EP_NBD;
	e->nbd = nbd_create();
	if (!e->nbd || nbd_set_uri_allow_transports(e->nbd, LIBNBD_ALLOW_TRANSPORT_MASK) ||
	    nbd_connect_uri(e->nbd, uri))
		die("%s: %s", uri, nbd_get_error());
	if (dst && nbd_is_read_only(e->nbd) == 1)
		die("%s: export is read-only", uri);
	size = nbd_get_size(e->nbd);
	if (size < 0)
		die("%s: %s", uri, nbd_get_error());
	e->size = (uint64_t)size;
}
#endif

static void ep_open(struct endpoint *e, const char *spec, bool dst)
{
	memset(e, 0, sizeof(*e));
	e->name = spec;
	if (!strncmp(spec, "vhost-user:", 11)) {
		e->kind = EP_DEV;
		dev_open(&e->d, spec + 11, 1);
		if (dst && e->d.info.read_only)
			die("%s: device is read-only", spec + 11);
		e->size = e->d.info.capacity;
		return;
	}
	if (is_nbd_uri(spec)) {
#ifdef VBLK_HAVE_NBD
		ep_open_nbd(e, spec, dst);
		return;
#else
		die("%s: this vblk was built without NBD support (libnbd)", spec);
#endif
	}
	e->kind = EP_FILE;
	e->fd = open(spec, dst ? O_WRONLY | O_CREAT | O_CLOEXEC : O_RDONLY | O_CLOEXEC, 0644);
	if (e->fd < 0)
		die("%s: %s", spec, strerror(errno));
	struct stat st;
	if (fstat(e->fd, &st) < 0)
		die("%s: %s", spec, strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz = 0;
		if (ioctl(e->fd, BLKGETSIZE64, &sz) < 0)
			die("%s: %s", spec, strerror(errno));
		e->size = sz;
	} else {
		e->size = (uint64_t)st.st_size;
	}
}

/* Read n bytes at off, or die with one line. */
static void ep_read(struct endpoint *e, void *buf, size_t n, uint64_t off)
{
	int ret;

	switch (e->kind) {
	case EP_DEV:
		ret = dev_pread(&e->d, buf, n, off);
		if (ret)
			die("%s: read at %" PRIu64 ": %s", e->name, off, strerror(-ret));
		return;
	case EP_NBD:
#ifdef VBLK_HAVE_NBD
		if (nbd_pread(e->nbd, buf, n, off, 0))
			die("%s: read at %" PRIu64 ": %s", e->name, off, nbd_get_error());
#endif
		return;
	case EP_FILE: {
		ssize_t r = pread(e->fd, buf, n, (off_t)off);
		if (r < 0)
			die("%s: %s", e->name, strerror(errno));
		if ((size_t)r != n)
			die("%s: unexpected end of file", e->name);
		return;
	}
	}
}

/* Write n bytes at off, or die with one line. */
static void ep_write(struct endpoint *e, const void *buf, size_t n, uint64_t off)
{
	int ret;

	switch (e->kind) {
	case EP_DEV:
		ret = dev_pwrite(&e->d, buf, n, off);
		if (ret)
			die("%s: write at %" PRIu64 ": %s", e->name, off, strerror(-ret));
		return;
	case EP_NBD:
#ifdef VBLK_HAVE_NBD
		if (nbd_pwrite(e->nbd, buf, n, off, 0))
			die("%s: write at %" PRIu64 ": %s", e->name, off, nbd_get_error());
#endif
		return;
	case EP_FILE:
		for (size_t w = 0; w < n;) {
			ssize_t r = pwrite(e->fd, (const char *)buf + w, n - w, (off_t)(off + w));
			if (r < 0 && errno != EINTR)
				die("%s: %s", e->name, strerror(errno));
			if (r > 0)
				w += (size_t)r;
		}
		return;
	}
}

/* Make a destination durable (flush) and close any endpoint. */
static void ep_close(struct endpoint *e, bool dst)
{
	int ret;

	switch (e->kind) {
	case EP_DEV:
		if (dst && (ret = vblk_flush(e->d.q)))
			die("%s: flush: %s", e->name, strerror(-ret));
		dev_close(&e->d);
		return;
	case EP_NBD:
#ifdef VBLK_HAVE_NBD
		if (dst && nbd_can_flush(e->nbd) == 1 && nbd_flush(e->nbd, 0))
			die("%s: flush: %s", e->name, nbd_get_error());
		nbd_shutdown(e->nbd, 0);
		nbd_close(e->nbd);
#endif
		return;
	case EP_FILE:
		if (dst && fsync(e->fd) < 0 && errno != EINVAL)
			die("%s: %s", e->name, strerror(errno));
		close(e->fd);
		return;
	}
}

static void progress(uint64_t done, uint64_t total, bool final)
{
	int pct = total ? (int)(done * 100 / total) : 100;
	int bar = pct / 4;

	fprintf(stderr, "\r[%.*s%*s] %3d%% %" PRIu64 "/%" PRIu64 " MiB", bar,
		"=========================", 25 - bar, "", pct, done >> 20, total >> 20);
	if (final)
		fputc('\n', stderr);
}

static int cmd_copy(int argc, char **argv)
{
	struct endpoint src, dst;
	uint8_t *buf;
	uint64_t done = 0, total;
	bool tty = isatty(STDERR_FILENO);
	struct timespec last = {0}, now;

	if (argc != 2)
		usage_error("copy: expected SRC DST");
	ep_open(&src, argv[0], false);
	ep_open(&dst, argv[1], true);
	total = src.size;
	if (dst.kind != EP_FILE && total > dst.size)
		die("%s: destination is smaller (%" PRIu64 " bytes) than the source (%" PRIu64
		    " bytes)",
		    argv[1], dst.size, total);
	if (dst.kind == EP_FILE) {
		struct stat st;
		if (fstat(dst.fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    ftruncate(dst.fd, (off_t)total) < 0)
			die("%s: %s", argv[1], strerror(errno));
	}
	buf = malloc(CHUNK);
	if (!buf)
		die("out of memory");
	while (done < total) {
		size_t n = total - done < CHUNK ? (size_t)(total - done) : CHUNK;

		ep_read(&src, buf, n, done);
		ep_write(&dst, buf, n, done);
		done += n;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (tty && (now.tv_sec != last.tv_sec || done == total)) {
			progress(done, total, false);
			last = now;
		}
	}
	if (tty)
		progress(done, total, true);
	ep_close(&dst, true);
	ep_close(&src, false);
	free(buf);
	return 0;
}

/* ---- bench ---- */

/*
 * Latency histogram: 16 linear sub-buckets per power of two of nanoseconds
 * (about 6% resolution), fixed size whatever the sample count.
 */
#define HIST_SUB_BITS 4
#define HIST_BUCKETS  (64 << HIST_SUB_BITS)

struct hist {
	uint64_t count[HIST_BUCKETS];
	uint64_t n, sum_ns, max_ns;
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
	h->n++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
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
};

struct worker {
	struct bench *b;
	unsigned qi;
	pthread_t tid;
	struct hist h;
	uint64_t ios, bytes, errors;
	int err;
};

struct slot {
	uint8_t *buf;
	struct timespec start;
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

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;
	struct vblk_queue *q = vblk_get_queue(b->v, w->qi);
	uint64_t nblocks = b->info.capacity / b->bs;
	/* Sequential workloads: each queue streams through its own slice. */
	uint64_t slice = nblocks / b->queues ? nblocks / b->queues : 1;
	uint64_t seq = (w->qi * slice) % nblocks, seq_end = seq + slice;
	uint64_t rng = 0x9E3779B97F4A7C15ull * (w->qi + 1);
	struct slot *slots = calloc(b->iodepth, sizeof(*slots));
	/*
	 * Slots the library could not take yet (-EAGAIN: it holds twice its
	 * ring size at most): resubmitted as completions free room, so any
	 * --iodepth works whatever the ring size.
	 */
	unsigned *backlog = calloc(b->iodepth, sizeof(*backlog));
	unsigned nbacklog = 0;
	struct vblk_completion comp[64];
	struct timespec t0, now;
	bool stop = false;
	unsigned inflight = 0;

	if (!slots || !backlog) {
		w->err = -ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < b->iodepth; i++) {
		slots[i].buf = vblk_buf_alloc(b->v, b->bs);
		if (!slots[i].buf) {
			w->err = -ENOMEM;
			goto out;
		}
		memset(slots[i].buf, (int)(0xA5 ^ i), b->bs);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);

	/* Submit one request into slot s. */
#define SUBMIT(s)                                                                                  \
	do {                                                                                       \
		uint64_t blk;                                                                      \
		bool wr;                                                                           \
		if (b->mode == RW_READ || b->mode == RW_WRITE) {                                   \
			if (seq >= seq_end || seq >= nblocks)                                      \
				seq = (w->qi * slice) % nblocks;                                   \
			blk = seq++;                                                               \
		} else {                                                                           \
			blk = xorshift(&rng) % nblocks;                                            \
		}                                                                                  \
		wr = b->mode == RW_WRITE || b->mode == RW_RANDWRITE ||                             \
		     (b->mode == RW_RANDRW && (xorshift(&rng) & 1));                               \
		clock_gettime(CLOCK_MONOTONIC, &slots[s].start);                                   \
		int r_ = wr ? vblk_queue_write(q, blk * b->bs, slots[s].buf, b->bs, &slots[s])     \
			    : vblk_queue_read(q, blk * b->bs, slots[s].buf, b->bs, &slots[s]);     \
		if (r_ == -EAGAIN && inflight) {                                                   \
			backlog[nbacklog++] = (s);                                                 \
		} else if (r_) {                                                                   \
			w->err = r_;                                                               \
			stop = true;                                                               \
		} else {                                                                           \
			inflight++;                                                                \
		}                                                                                  \
	} while (0)

	for (unsigned i = 0; i < b->iodepth && !stop; i++)
		SUBMIT(i);
	while (inflight) {
		int n = vblk_queue_wait(q, comp, 64, 1000);
		if (n < 0) {
			w->err = n;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!stop && (double)ns_between(&t0, &now) / 1e9 >= b->runtime)
			stop = true;
		for (int i = 0; i < n; i++) {
			struct slot *s = comp[i].user_data;
			inflight--;
			if (comp[i].ret) {
				w->errors++;
				if (!w->err)
					w->err = comp[i].ret;
				stop = true;
				continue;
			}
			hist_add(&w->h, ns_between(&s->start, &now));
			w->ios++;
			w->bytes += b->bs;
			if (!stop)
				SUBMIT((unsigned)(s - slots));
		}
		/* Completions made room: waiting slots go first, oldest first. */
		unsigned waiting = stop ? 0 : nbacklog, from = 0;
		nbacklog = 0;
		while (from < waiting && !stop) {
			unsigned before = nbacklog;
			SUBMIT(backlog[from]);
			from++;
			if (nbacklog != before) {
				/* Still no room: keep the rest, in order. */
				memmove(backlog + nbacklog, backlog + from,
					(waiting - from) * sizeof(*backlog));
				nbacklog += waiting - from;
				break;
			}
		}
	}
#undef SUBMIT
out:
	for (unsigned i = 0; slots && i < b->iodepth; i++)
		vblk_buf_free(b->v, slots[i].buf);
	free(slots);
	free(backlog);
	return NULL;
}

static const char *opt_value(const char *arg, const char *name)
{
	size_t n = strlen(name);

	if (!strncmp(arg, name, n) && arg[n] == '=')
		return arg + n + 1;
	return NULL;
}

static int cmd_bench(int argc, char **argv)
{
	static const char *const modes[] = {"read", "write", "randread", "randwrite", "randrw"};
	struct bench b = {
	    .mode = RW_RANDREAD, .bs = 4096, .iodepth = 32, .queues = 1, .runtime = 10};
	const char *sock = NULL, *v;
	bool json = false, mode_set = false;
	struct worker *w;
	struct timespec t0, t1;
	struct hist *h;
	int ret;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if ((v = opt_value(a, "--rw"))) {
			unsigned m;
			for (m = 0; m < 5 && strcmp(v, modes[m]); m++)
				;
			if (m == 5)
				usage_error("bench: unknown --rw=%s", v);
			b.mode = (enum rw_mode)m;
			mode_set = true;
		} else if ((v = opt_value(a, "--bs"))) {
			b.bs = parse_size("block size", v);
		} else if ((v = opt_value(a, "--iodepth"))) {
			b.iodepth = (unsigned)parse_size("iodepth", v);
		} else if ((v = opt_value(a, "--queues"))) {
			b.queues = (unsigned)parse_size("queues", v);
		} else if ((v = opt_value(a, "--runtime"))) {
			char *end;
			b.runtime = strtod(v, &end);
			if (*end || !(b.runtime > 0))
				usage_error("bench: invalid --runtime=%s", v);
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (a[0] == '-') {
			usage_error("bench: unknown option '%s'", a);
		} else if (!sock) {
			sock = a;
		} else {
			usage_error("bench: unexpected argument '%s'", a);
		}
	}
	(void)mode_set;
	if (!sock)
		usage_error("bench: SOCKET missing");
	if (!b.iodepth || b.iodepth > 65536 || !b.queues || b.queues > 256 || !b.bs)
		usage_error("bench: --iodepth, --queues and --bs must be positive");

	struct dev d;
	{
		struct vblk_options o = {.num_queues = b.queues,
					 .buffer_size = 0,
					 .flags = open_flags,
					 .timeout_ms = open_timeout_ms};
		struct stat st;
		uint64_t need = b.bs * b.iodepth * b.queues + (8u << 20);
		if (stat(sock, &st) < 0)
			die("%s: %s", sock, strerror(errno));
		if (need > (64u << 20))
			o.buffer_size = need;
		unsigned qs = 256;
		while (qs < b.iodepth && qs < 1024)
			qs <<= 1;
		o.queue_size = qs;
		ret = vblk_open(sock, &o, &d.v);
		if (ret)
			die("%s: %s", sock, *vblk_get_error() ? vblk_get_error() : strerror(-ret));
	}
	b.v = d.v;
	vblk_get_info(d.v, &b.info);
	if (b.bs % b.info.logical_block_size || b.bs > b.info.max_transfer)
		die("--bs must be a multiple of %u and at most %zu", b.info.logical_block_size,
		    b.info.max_transfer);
	if (b.bs > b.info.capacity)
		die("--bs is larger than the device");
	if (b.mode != RW_READ && b.mode != RW_RANDREAD && b.info.read_only)
		die("%s: device is read-only", sock);

	w = calloc(b.queues, sizeof(*w));
	h = calloc(1, sizeof(*h));
	if (!w || !h)
		die("out of memory");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < b.queues; i++) {
		w[i].b = &b;
		w[i].qi = i;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]))
			die("cannot start a thread");
	}
	uint64_t ios = 0, bytes = 0;
	int err = 0;
	for (unsigned i = 0; i < b.queues; i++) {
		pthread_join(w[i].tid, NULL);
		for (unsigned k = 0; k < HIST_BUCKETS; k++)
			h->count[k] += w[i].h.count[k];
		h->n += w[i].h.n;
		h->sum_ns += w[i].h.sum_ns;
		if (w[i].h.max_ns > h->max_ns)
			h->max_ns = w[i].h.max_ns;
		ios += w[i].ios;
		bytes += w[i].bytes;
		if (w[i].err && !err)
			err = w[i].err;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	vblk_close(d.v);
	if (err == -ENOTCONN)
		die("bench: %s: the back end closed the connection with I/O outstanding", sock);
	if (err)
		die("bench: I/O failed: %s", strerror(-err));

	double secs = (double)ns_between(&t0, &t1) / 1e9;
	double iops = ios / secs, mibs = bytes / secs / 1048576.0;
	double mean_us = h->n ? (double)h->sum_ns / h->n / 1000.0 : 0;
	double p50 = hist_pct(h, 50) / 1000.0, p99 = hist_pct(h, 99) / 1000.0,
	       p999 = hist_pct(h, 99.9) / 1000.0;
	if (json) {
		printf(
		    "{\"rw\": \"%s\", \"bs\": %" PRIu64 ", \"iodepth\": %u, \"queues\": %u, "
		    "\"runtime_s\": %.3f, \"ios\": %" PRIu64 ", \"iops\": %.1f, \"mib_s\": %.2f, "
		    "\"lat_us\": {\"mean\": %.2f, \"p50\": %.2f, \"p99\": %.2f, \"p99.9\": %.2f, "
		    "\"max\": %.2f}}\n",
		    modes[b.mode], b.bs, b.iodepth, b.queues, secs, ios, iops, mibs, mean_us, p50,
		    p99, p999, h->max_ns / 1000.0);
	} else {
		printf("%s bs=%" PRIu64 " iodepth=%u queues=%u runtime=%.2fs\n", modes[b.mode],
		       b.bs, b.iodepth, b.queues, secs);
		printf("  IOPS:    %.0f\n", iops);
		printf("  MiB/s:   %.2f\n", mibs);
		printf("  latency: mean %.1f us, p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f "
		       "us\n",
		       mean_us, p50, p99, p999, h->max_ns / 1000.0);
	}
	free(w);
	free(h);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage_error("no command given");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	argc -= 2;
	argv += 2;
	/* --packed and --timeout apply to whatever the command opens: take them out here. */
	int kept = 0;
	for (int i = 0; i < argc; i++) {
		const char *v;
		if (!strcmp(argv[i], "--packed")) {
			open_flags |= VBLK_OPEN_PACKED_RING;
		} else if ((v = opt_value(argv[i], "--timeout"))) {
			uint64_t ms = parse_size("timeout", v);
			if (!ms || ms > INT_MAX)
				usage_error("invalid --timeout=%s (milliseconds, 1 to %d)", v,
					    INT_MAX);
			open_timeout_ms = (unsigned)ms;
		} else {
			argv[kept++] = argv[i];
		}
	}
	argc = kept;
	if (!strcmp(cmd, "info"))
		return cmd_info(argc, argv);
	if (!strcmp(cmd, "read"))
		return cmd_read(argc, argv);
	if (!strcmp(cmd, "write"))
		return cmd_write(argc, argv);
	if (!strcmp(cmd, "flush"))
		return cmd_flush(argc, argv);
	if (!strcmp(cmd, "discard"))
		return cmd_discard(argc, argv);
	if (!strcmp(cmd, "copy"))
		return cmd_copy(argc, argv);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argc, argv);
	usage_error("unknown command '%s'", cmd);
}
