/* SPDX-License-Identifier: MIT */
/*
 * vblk's shared helpers: one-line failures and exit statuses, size
 * arguments, and a device opened through libvblk (public API only) with
 * byte-granular read and write on top of its block-granular requests.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "internal/size.h"

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

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(1, "", fmt, ap);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(2, " (see vblk --help)", fmt, ap);
}

uint64_t parse_size(const char *what, const char *s)
{
	uint64_t v;

	if (size_parse(s, &v))
		usage_error("invalid %s '%s' (decimal, optional K, M, G, T or KiB, MiB, GiB, TiB)",
			    what, s);
	return v;
}

unsigned parse_count(const char *what, const char *s, unsigned max)
{
	uint64_t v = parse_size(what, s);

	if (v == 0 || v > max)
		usage_error("invalid %s '%s' (1 to %u)", what, s, max);
	return (unsigned)v;
}

char **cli_getopt(struct cli *cli, int argc, char **argv, const struct option *own,
		  void (*on_opt)(void *ctx, int id, const char *val), void *ctx, int *nargs)
{
	static const struct option common[] = {
	    {"packed", no_argument, NULL, OPT_PACKED},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"intx", no_argument, NULL, OPT_INTX},
	    {"poll-us", required_argument, NULL, OPT_POLL_US},
	    {"help", no_argument, NULL, 'h'},
	};
	struct option all[ARRAY_SIZE(common) + OPT_OWN_MAX + 1];
	size_t n = 0;
	int c;

	for (size_t i = 0; i < ARRAY_SIZE(common); i++)
		all[n++] = common[i];
	for (size_t i = 0; own && own[i].name; i++) {
		if (i == OPT_OWN_MAX)
			die("internal error: %s has too many options", argv[0]);
		all[n++] = own[i];
	}
	memset(&all[n], 0, sizeof(all[n]));
	/* Our own one-line messages instead of getopt's; ':' tells a missing value apart. */
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", all, NULL)) != -1) {
		switch (c) {
		case OPT_PACKED:
			cli->open_flags |= VBLK_OPEN_PACKED_RING;
			break;
		case OPT_INTX:
			cli->open_flags |= VBLK_OPEN_INTERRUPTS;
			break;
		case OPT_TIMEOUT:
			cli->timeout_ms = parse_count("--timeout (milliseconds)", optarg, INT_MAX);
			break;
		case OPT_POLL_US:
			/* 0 is meaningful here (no polling), unlike the counts above. */
			if (strcmp(optarg, "0"))
				cli->poll_us =
				    parse_count("--poll-us (microseconds)", optarg, 1000000);
			else
				cli->poll_us = 0;
			break;
		case 'h':
			print_usage();
			exit(0);
		case ':':
			usage_error("%s: option '%s' needs a value", argv[0], argv[optind - 1]);
		case '?':
			if (optopt > 0 && optopt < OPT_PACKED)
				usage_error("%s: unknown option '-%c'", argv[0], optopt);
			/* optopt is a known option's id: it was given a value it takes none of. */
			if (optopt >= OPT_PACKED)
				usage_error("%s: option '%s' takes no value", argv[0],
					    argv[optind - 1]);
			usage_error("%s: unknown option '%s'", argv[0], argv[optind - 1]);
		default:
			on_opt(ctx, c, optarg);
			break;
		}
	}
	*nargs = argc - optind;
	return argv + optind;
}

void dev_open_with(const struct cli *cli, struct dev *d, const char *sock, struct vblk_options *o)
{
	struct stat st;
	int ret;

	if (!strncmp(sock, VHOST_USER_PREFIX, strlen(VHOST_USER_PREFIX)))
		sock += strlen(VHOST_USER_PREFIX);
	/* "pci:BDF" is a PCI function for libvblk's virtio-pci transport, not a path. */
	if (strncmp(sock, "pci:", 4)) {
		if (stat(sock, &st) < 0)
			die("%s: %s", sock, strerror(errno));
		if (!S_ISSOCK(st.st_mode))
			die("%s: not a unix socket", sock);
	}
	o->flags |= cli->open_flags;
	o->timeout_ms = cli->timeout_ms;
	o->poll_us = cli->poll_us;
	ret = vblk_open(sock, o, &d->v);
	if (ret)
		die("%s: %s", sock, *vblk_get_error() ? vblk_get_error() : strerror(-ret));
	vblk_get_info(d->v, &d->info);
	d->q = vblk_get_queue(d->v, 0);
	d->buf = vblk_buf_alloc(d->v, CHUNK);
	if (!d->buf)
		die("%s: cannot allocate a buffer", sock);
}

void dev_open(const struct cli *cli, struct dev *d, const char *sock)
{
	struct vblk_options o = {.num_queues = 1};

	dev_open_with(cli, d, sock, &o);
}

void dev_close(struct dev *d)
{
	vblk_buf_free(d->v, d->buf);
	vblk_close(d->v);
}

void dev_check_range(const struct dev *d, uint64_t off, uint64_t len)
{
	if (off > d->info.capacity || len > d->info.capacity - off)
		die("range %" PRIu64 "+%" PRIu64 " is out of range (device capacity %" PRIu64
		    " bytes)",
		    off, len, d->info.capacity);
}

/*
 * The next piece of [off, off+len) that fits the buffer: it starts at the
 * block boundary a at or below off, covers head + take bytes from a (head =
 * off - a, at most CHUNK in all), and whole blocks of it span an bytes.
 */
struct piece {
	uint64_t a, head, take, an;
};

static struct piece next_piece(const struct dev *d, uint64_t off, uint64_t len)
{
	uint64_t mask = d->info.logical_block_size - 1;
	struct piece p = {.a = off & ~mask};
	uint64_t n;

	p.head = off - p.a;
	n = p.head + len < CHUNK ? p.head + len : CHUNK;
	p.take = n - p.head;
	p.an = (n + mask) & ~mask;
	return p;
}

int dev_pread(struct dev *d, void *out, uint64_t len, uint64_t off)
{
	while (len) {
		struct piece p = next_piece(d, off, len);
		int ret;

		/* The last block may be partial only at the device's end. */
		if (p.a + p.an > d->info.capacity)
			p.an = d->info.capacity - p.a;
		ret = vblk_read(d->q, p.a, d->buf, p.an);
		if (ret)
			return ret;
		memcpy(out, d->buf + p.head, p.take);
		out = (uint8_t *)out + p.take;
		off += p.take;
		len -= p.take;
	}
	return 0;
}

int dev_pwrite(struct dev *d, const void *data, uint64_t len, uint64_t off)
{
	uint64_t bs = d->info.logical_block_size;

	while (len) {
		struct piece p = next_piece(d, off, len);
		bool partial_tail = p.head + p.take != p.an;
		int ret;

		/* Read-modify-write the partial first and last blocks (one read if they are one).
		 */
		if (p.head) {
			ret = vblk_read(d->q, p.a, d->buf, bs);
			if (ret)
				return ret;
		}
		if (partial_tail && (p.an > bs || !p.head)) {
			ret = vblk_read(d->q, p.a + p.an - bs, d->buf + p.an - bs, bs);
			if (ret)
				return ret;
		}
		memcpy(d->buf + p.head, data, p.take);
		ret = vblk_write(d->q, p.a, d->buf, p.an);
		if (ret)
			return ret;
		data = (const uint8_t *)data + p.take;
		off += p.take;
		len -= p.take;
	}
	return 0;
}

void write_all(int fd, const void *p, size_t n)
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
size_t read_full(int fd, void *p, size_t n)
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
