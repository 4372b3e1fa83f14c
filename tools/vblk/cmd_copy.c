/* SPDX-License-Identifier: MIT */
/*
 * vblk copy: whole-image copy between any two of a vhost-user device, an NBD
 * export (with libnbd), an RBD image (rbd:..., through vblkd's backend
 * layer, with librbd) and a file or block device, flushing the destination.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#ifdef VBLK_HAVE_NBD
#include <libnbd.h>
#endif

#include "backend/be.h"
#include "backend/be_rbd.h"
#include "cli.h"
#include "internal/compiler.h"
#include "internal/log.h"
#include "internal/nbd_uri.h"

/* One side of a copy: a vhost-user device, an NBD export or a file. */
struct endpoint {
	const char *name;
	enum { EP_FILE, EP_DEV, EP_NBD, EP_BE } kind;
	struct dev d;
	struct be *be; /* EP_BE: a vblkd backend (rbd:), one queue */
	struct be_queue *bq;
	int fd;
#ifdef VBLK_HAVE_NBD
	struct nbd_handle *nbd;
#endif
	uint64_t size;
};

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

/* One request on a backend queue, waited for: 0 or -errno. */
struct ep_be_wait {
	struct be_io io;
	bool done;
	int res;
};

static void ep_be_done(struct be_io *io, int res)
{
	struct ep_be_wait *w = container_of(io, struct ep_be_wait, io);

	w->done = true;
	w->res = res;
}

static int ep_be_io(struct endpoint *e, enum be_op op, void *buf, size_t n, uint64_t off)
{
	const struct be_ops *ops = e->be->ops;
	struct iovec iov = {buf, n};
	struct ep_be_wait w = {.io = {.op = op,
				      .offset = off,
				      .len = n,
				      .iov = n ? &iov : NULL,
				      .iovcnt = n ? 1 : 0,
				      .done = ep_be_done}};
	int fd = ops->queue_fd(e->bq), ret = ops->submit(e->bq, &w.io);

	if (ret)
		return ret;
	ops->kick(e->bq);
	while (!w.done) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (fd >= 0 && poll(&p, 1, -1) < 0 && errno != EINTR)
			return -errno;
		ret = ops->reap(e->bq);
		if (ret < 0)
			return ret;
	}
	return w.res;
}

static void ep_open_be(struct endpoint *e, const char *spec, bool dst)
{
	struct be_opts o = {.path = spec, .ro = !dst};
	int ret;

	e->kind = EP_BE;
	/* The backend's "opened ..." line is for vblkd's log, not for a copy. */
	log_set_level(LOGL_WARN);
	if (be_open(spec, &o, &e->be))
		exit(1); /* be_open said why */
	ret = e->be->ops->queue_create(e->be, 1, &e->bq);
	if (ret)
		die("%s: %s", spec, strerror(-ret));
	e->size = e->be->info.size;
}

static void ep_open(const struct cli *cli, struct endpoint *e, const char *spec, bool dst)
{
	memset(e, 0, sizeof(*e));
	e->name = spec;
	if (!strncmp(spec, "vhost-user:", 11)) {
		e->kind = EP_DEV;
		dev_open(cli, &e->d, spec + 11);
		if (dst && e->d.info.read_only)
			die("%s: device is read-only", spec + 11);
		e->size = e->d.info.capacity;
		return;
	}
	if (be_is_rbd_spec(spec)) {
		ep_open_be(e, spec, dst);
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
	case EP_BE:
		ret = ep_be_io(e, BE_OP_READ, buf, n, off);
		if (ret)
			die("%s: read at %" PRIu64 ": %s", e->name, off, strerror(-ret));
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
	case EP_BE:
		ret = ep_be_io(e, BE_OP_WRITE, (void *)buf, n, off);
		if (ret)
			die("%s: write at %" PRIu64 ": %s", e->name, off, strerror(-ret));
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
	case EP_BE:
		if (dst && (ret = ep_be_io(e, BE_OP_FLUSH, NULL, 0, 0)))
			die("%s: flush: %s", e->name, strerror(-ret));
		e->be->ops->queue_destroy(e->bq);
		be_close(e->be);
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

int cmd_copy(struct cli *cli, int argc, char **argv)
{
	struct endpoint src, dst;
	uint8_t *buf;
	uint64_t done = 0, total;
	bool tty = isatty(STDERR_FILENO);
	struct timespec last = {0}, now;

	argv = cli_getopt(cli, argc, argv, NULL, NULL, NULL, &argc);
	if (argc != 2)
		usage_error("copy: expected SRC DST");
	ep_open(cli, &src, argv[0], false);
	ep_open(cli, &dst, argv[1], true);
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
