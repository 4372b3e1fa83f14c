/* SPDX-License-Identifier: MIT */
/*
 * vblkd's SIGHUP handling: learn the disk's size again and tell the front
 * end (vhost-user CONFIG_CHANGE_MSG). It runs on its own thread so that
 * neither the control thread nor a queue ever waits on the backend's
 * fstat/ioctl; the server does the sending on its control thread.
 */
#include "vblkd_resize.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <vblk/spec/virtio_blk.h>

#include "internal/log.h"

int vblkd_resize(struct blk_dev *d, struct vu_server *srv)
{
	uint64_t before = atomic_load(&d->capacity), after;
	int ret = blk_dev_resize(d, 0);

	if (ret == -EOPNOTSUPP) {
		/* NBD: each connection's handshake fixed the size its requests are checked against.
		 */
		log_warn("resize: this disk's size is fixed while vblkd runs (NBD, memory, null); "
			 "restart vblkd to serve a new size");
		return ret;
	}
	if (ret) {
		log_err("resize: cannot learn the disk's size again: %s", strerror(-ret));
		return ret;
	}
	after = atomic_load(&d->capacity);
	if (after == before) {
		log_info("resize: the disk still has %" PRIu64 " bytes",
			 after << VIRTIO_BLK_SECTOR_SHIFT);
		return 0;
	}
	log_info("resize: the disk now has %" PRIu64 " bytes (was %" PRIu64 ")",
		 after << VIRTIO_BLK_SECTOR_SHIFT, before << VIRTIO_BLK_SECTOR_SHIFT);
	ret = vu_server_config_changed(srv);
	if (ret)
		log_err("resize: cannot notify the front end: %s", strerror(-ret));
	return ret;
}

static void *watch_thread(void *arg)
{
	struct resize_watch *w = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = w->hup_fd, .events = POLLIN},
				      {.fd = w->quit_fd, .events = POLLIN}};
		struct signalfd_siginfo si;
		bool hup = false;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("resize: poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		/* Several SIGHUPs before we look are one re-read. */
		while (read(w->hup_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			hup = true;
		if (hup)
			vblkd_resize(w->d, w->srv);
	}
	return NULL;
}

int resize_watch_start(struct resize_watch *w, struct blk_dev *d, struct vu_server *srv, int hup_fd)
{
	int ret;

	w->d = d;
	w->srv = srv;
	w->hup_fd = hup_fd;
	w->running = false;
	w->quit_fd = -1;
	if (hup_fd < 0)
		return -EBADF;
	w->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->quit_fd < 0)
		return -errno;
	ret = -pthread_create(&w->thread, NULL, watch_thread, w);
	if (ret)
		return ret;
	w->running = true;
	return 0;
}

void resize_watch_stop(struct resize_watch *w)
{
	if (w->running) {
		(void)eventfd_write(w->quit_fd, 1);
		pthread_join(w->thread, NULL);
		w->running = false;
	}
	if (w->quit_fd >= 0)
		close(w->quit_fd);
	if (w->hup_fd >= 0)
		close(w->hup_fd);
	w->quit_fd = w->hup_fd = -1;
}
