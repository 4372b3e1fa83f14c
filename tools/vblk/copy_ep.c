/* SPDX-License-Identifier: MIT */
/*
 * vblk copy's endpoints (copy.h): opening a vhost-user device or a virtio-blk
 * PCI function (pci:BDF), an NBD export (with libnbd), an RBD image (through
 * vblkd's backend layer, with librbd) or a file or block device for a copy,
 * their synchronous reads, writes and zeroing, and the flush that ends a copy.
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
#include <unistd.h>

#include <linux/falloc.h>
#include <linux/fs.h>

#ifdef VBLK_HAVE_NBD
#include <libnbd.h>
#endif

#include "backend/be.h"
#include "backend/be_rbd.h"
#include "copy.h"
#include "internal/compiler.h"
#include "internal/log.h"
#include "internal/nbd_uri.h"

static void ep_open_dev(const struct cli *cli, struct endpoint *e, const char *sock, bool dst,
			const struct ep_dev_opts *eo)
{
	struct vblk_options o = {
	    .num_queues = eo->queues,
	    .queue_size = eo->queue_size,
	    .buffer_size = eo->buffer_size,
	    .flags = eo->queues_exact ? 0 : VBLK_OPEN_QUEUES_UP_TO,
	};

	e->kind = EP_DEV;
	dev_open_with(cli, &e->d, sock, &o);
	if (dst && e->d.info.read_only)
		die("%s: device is read-only", sock);
	e->size = e->d.info.capacity;
	e->align = e->d.info.logical_block_size;
	e->can_zero = e->d.info.features & VBLK_F_MASK(VBLK_F_WRITE_ZEROES);
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
	e->can_zero = dst && nbd_can_zero(e->nbd) == 1;
}
#endif

/* One request on a backend queue, waited for. */
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

/* op on n bytes at off of a backend side, waited for; 0 or -errno. Any thread. */
static int ep_be_io(struct endpoint *e, enum be_op op, void *buf, size_t n, uint64_t off)
{
	const struct be_ops *ops = e->be->ops;
	struct iovec iov = {buf, n};
	struct ep_be_wait w = {.io = {.op = op,
				      .offset = off,
				      .len = n,
				      .iov = buf ? &iov : NULL,
				      .iovcnt = buf ? 1 : 0,
				      .done = ep_be_done}};
	int fd, ret;

	pthread_mutex_lock(&e->be_lock);
	fd = ops->queue_fd(e->bq);
	ret = ops->submit(e->bq, &w.io);
	if (!ret)
		ops->kick(e->bq);
	while (!ret && !w.done) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (fd >= 0 && poll(&p, 1, -1) < 0 && errno != EINTR) {
			ret = -errno; /* cannot happen with a valid fd; the io stays pending */
			break;
		}
		ret = ops->reap(e->bq);
		ret = ret < 0 ? ret : 0;
	}
	pthread_mutex_unlock(&e->be_lock);
	return ret ? ret : w.res;
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
	pthread_mutex_init(&e->be_lock, NULL);
	e->size = e->be->info.size;
	e->can_zero = dst && e->be->info.can_write_zeroes;
}

static void ep_open_file(struct endpoint *e, const char *path, bool dst, uint64_t size)
{
	struct stat st;

	/* open() of a socket fails with ENXIO, which names no fix. */
	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		die("%s is a unix socket: write %s%s to copy %s a vhost-user-blk back end (or "
		    "nbd+unix:///?socket=%s for an NBD server)",
		    path, VHOST_USER_PREFIX, path, dst ? "to" : "from", path);
	e->kind = EP_FILE;
	e->fd = open(path, dst ? O_WRONLY | O_CREAT | O_CLOEXEC : O_RDONLY | O_CLOEXEC, 0644);
	if (e->fd < 0)
		die("%s: %s", path, strerror(errno));
	if (fstat(e->fd, &st) < 0)
		die("%s: %s", path, strerror(errno));
	e->regular = S_ISREG(st.st_mode);
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz = 0;
		if (ioctl(e->fd, BLKGETSIZE64, &sz) < 0)
			die("%s: %s", path, strerror(errno));
		e->size = sz;
	} else {
		e->size = (uint64_t)st.st_size;
	}
	if (!dst || !e->regular)
		return;
	/* An empty file of the right size: all hole, so zero runs need no write at all. */
	if (ftruncate(e->fd, 0) < 0 || ftruncate(e->fd, (off_t)size) < 0)
		die("%s: %s", path, strerror(errno));
	e->size = size;
	e->known_zero = true;
}

void ep_open(const struct cli *cli, struct endpoint *e, const char *spec, bool dst, uint64_t size,
	     const struct ep_dev_opts *o)
{
	memset(e, 0, sizeof(*e));
	e->name = spec;
	e->fd = -1;
	e->align = 1;
	if (!strncmp(spec, VHOST_USER_PREFIX, strlen(VHOST_USER_PREFIX))) {
		ep_open_dev(cli, e, spec + strlen(VHOST_USER_PREFIX), dst, o);
		return;
	}
	/* A virtio-blk PCI function for libvblk's PCI transport: dev_open_with takes "pci:BDF". */
	if (!strncmp(spec, "pci:", 4)) {
		ep_open_dev(cli, e, spec, dst, o);
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
	ep_open_file(e, spec, dst, size);
}

#ifdef VBLK_HAVE_NBD
static int nbd_err(void)
{
	int err = nbd_get_errno();

	return -(err ? err : EIO);
}
#endif

/* All n bytes at off of a file, read or written; 0 or -errno. */
static int file_io(int fd, bool write, void *buf, size_t n, uint64_t off)
{
	for (size_t done = 0; done < n;) {
		char *p = (char *)buf + done;
		ssize_t r = write ? pwrite(fd, p, n - done, (off_t)(off + done))
				  : pread(fd, p, n - done, (off_t)(off + done));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0)
			return -ENODATA; /* read: the file shrank under us */
		if (r > 0)
			done += (size_t)r;
	}
	return 0;
}

int ep_read(struct endpoint *e, void *buf, size_t n, uint64_t off)
{
	switch (e->kind) {
	case EP_DEV:
		return dev_pread(&e->d, buf, n, off);
	case EP_NBD:
#ifdef VBLK_HAVE_NBD
		return nbd_pread(e->nbd, buf, n, off, 0) ? nbd_err() : 0;
#endif
		return -ENOTSUP;
	case EP_BE:
		return ep_be_io(e, BE_OP_READ, buf, n, off);
	case EP_FILE:
		return file_io(e->fd, false, buf, n, off);
	}
	return -EINVAL;
}

int ep_write(struct endpoint *e, const void *buf, size_t n, uint64_t off)
{
	switch (e->kind) {
	case EP_DEV:
		return dev_pwrite(&e->d, buf, n, off);
	case EP_NBD:
#ifdef VBLK_HAVE_NBD
		return nbd_pwrite(e->nbd, buf, n, off, 0) ? nbd_err() : 0;
#endif
		return -ENOTSUP;
	case EP_BE:
		return ep_be_io(e, BE_OP_WRITE, (void *)buf, n, off);
	case EP_FILE:
		return file_io(e->fd, true, (void *)buf, n, off);
	}
	return -EINVAL;
}

int ep_zero(struct endpoint *e, const void *buf, size_t n, uint64_t off)
{
	if (e->known_zero)
		return 0;
	switch (e->kind) {
	case EP_DEV:
		/* Only for the tail, which is not block-aligned: a write that reads-modifies. */
		break;
	case EP_NBD:
#ifdef VBLK_HAVE_NBD
		if (e->can_zero)
			return nbd_zero(e->nbd, n, off, 0) ? nbd_err() : 0;
#endif
		break;
	case EP_BE:
		if (e->can_zero)
			return ep_be_io(e, BE_OP_WRITE_ZEROES, NULL, n, off);
		break;
	case EP_FILE:
		/* A block device or a file we did not truncate: zero without writing if we can. */
		if (!fallocate(e->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			       (off_t)n))
			return 0;
		break;
	}
	return ep_write(e, buf, n, off);
}

bool ep_is_hole(struct endpoint *e, uint64_t off, size_t n)
{
	off_t data;

	if (e->kind != EP_FILE || !e->regular)
		return false;
	/* lseek(2): SEEK_DATA fails with ENXIO when only a hole follows off. */
	data = lseek(e->fd, (off_t)off, SEEK_DATA);
	if (data < 0)
		return errno == ENXIO;
	return (uint64_t)data >= off + n;
}

const char *ep_strerror(const struct endpoint *e, int err)
{
#ifdef VBLK_HAVE_NBD
	if (e->kind == EP_NBD && nbd_get_error())
		return nbd_get_error();
#endif
	if (err == -ENODATA && e->kind == EP_FILE)
		return "unexpected end of file";
	return strerror(-err);
}

void ep_close(struct endpoint *e, bool dst)
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
		pthread_mutex_destroy(&e->be_lock);
		return;
	case EP_FILE:
		if (dst && fsync(e->fd) < 0 && errno != EINVAL)
			die("%s: %s", e->name, strerror(errno));
		close(e->fd);
		return;
	}
}
