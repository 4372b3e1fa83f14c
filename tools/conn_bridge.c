/* SPDX-License-Identifier: MIT */
/*
 * The bridge between a connected front-end socket and vu_server's listening
 * socket (conn_bridge.h): one thread, one poll loop, each chunk forwarded
 * with the fds that rode on it.
 */
#include "conn_bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* The kernel's limit of fds in one SCM_RIGHTS message (SCM_MAX_FD). */
#define BRIDGE_MAX_FDS 253
/* A peer that stops reading for this long is gone (ms). */
#define BRIDGE_SEND_TIMEOUT_MS 5000

struct conn_bridge {
	int front_fd; /* the front end's connected socket */
	int back_fd;  /* our connection to the server's listening socket */
	int stop_fd;  /* eventfd: conn_bridge_stop() asks the thread to end */
	int done_fd;  /* eventfd: the thread has ended */
	pthread_t thread;
	bool thread_started;
};

/* Blocking, with a send deadline: the thread must never hang on a stalled peer. */
static int set_blocking_timeout(int fd)
{
	struct timeval tv = {.tv_sec = BRIDGE_SEND_TIMEOUT_MS / 1000,
			     .tv_usec = (BRIDGE_SEND_TIMEOUT_MS % 1000) * 1000};
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

/*
 * Move one chunk from -> to: what one recvmsg returns, with its fds sent on
 * the first byte, as they arrived (a unix stream socket never merges data
 * across an fd boundary). Returns 0, or -errno / -ECONNRESET to stop.
 */
static int forward(int from, int to)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * BRIDGE_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	char data[16384];
	struct iovec iov = {data, sizeof(data)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	int fds[BRIDGE_MAX_FDS];
	unsigned nfds = 0;
	size_t done = 0;
	ssize_t n;
	int ret = 0;

	do
		n = recvmsg(from, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (k > BRIDGE_MAX_FDS - nfds)
			k = BRIDGE_MAX_FDS - nfds;
		memcpy(fds + nfds, CMSG_DATA(c), k * sizeof(int));
		nfds += (unsigned)k;
	}
	if (n == 0) {
		ret = -ECONNRESET;
		goto out_close_fds;
	}
	/* Truncated fds would be a different message: hang up rather than lie. */
	if (mh.msg_flags & MSG_CTRUNC) {
		ret = -EPROTO;
		goto out_close_fds;
	}
	while (done < (size_t)n) {
		struct iovec out = {data + done, (size_t)n - done};
		struct msghdr om = {.msg_iov = &out, .msg_iovlen = 1};
		ssize_t m;

		if (nfds && !done) {
			om.msg_control = ctl.buf;
			om.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			memset(ctl.buf, 0, om.msg_controllen);
			struct cmsghdr *c = CMSG_FIRSTHDR(&om);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		m = sendmsg(to, &om, MSG_NOSIGNAL);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0) {
			ret = m < 0 ? -errno : -ECONNRESET;
			break;
		}
		done += (size_t)m;
	}
out_close_fds:
	/* The receiver has its own copies now (or the message is lost with the link). */
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	return ret;
}

static void *bridge_thread(void *arg)
{
	struct conn_bridge *b = arg;
	struct pollfd p[3] = {
	    {.fd = b->front_fd, .events = POLLIN},
	    {.fd = b->back_fd, .events = POLLIN},
	    {.fd = b->stop_fd, .events = POLLIN},
	};

	for (;;) {
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[2].revents)
			break;
		/* POLLHUP with data still queued: read it first, EOF comes after. */
		if (p[0].revents && forward(b->front_fd, b->back_fd))
			break;
		if (p[1].revents && forward(b->back_fd, b->front_fd))
			break;
	}
	/* Either side gone: hang up on both, so that each sees it. */
	shutdown(b->front_fd, SHUT_RDWR);
	shutdown(b->back_fd, SHUT_RDWR);
	eventfd_write(b->done_fd, 1);
	return NULL;
}

/*
 * A listening socket that only our bridge connects to: bound in a fresh
 * directory nobody else may enter, then connected, then removed.
 */
static int private_listener(int *back_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *base = getenv("TMPDIR");
	char dir[sizeof(sa.sun_path) - 3];
	int lfd = -1, cfd = -1, n, ret;

	n = snprintf(dir, sizeof(dir), "%s/vblkd-bridge.XXXXXX", base && *base ? base : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	if (!mkdtemp(dir))
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || cfd < 0 || chmod(dir, 0700) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1) ||
	    connect(cfd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		goto err_close;
	}
	unlink(sa.sun_path);
	rmdir(dir);
	*back_fd = cfd;
	return lfd;

err_close:
	if (cfd >= 0)
		close(cfd);
	if (lfd >= 0)
		close(lfd);
	unlink(sa.sun_path);
	rmdir(dir);
	return ret;
}

int conn_bridge_start(int conn_fd, int *listen_fd, struct conn_bridge **out)
{
	struct conn_bridge *b = calloc(1, sizeof(*b));
	int lfd, ret;

	if (!b) {
		close(conn_fd);
		return -ENOMEM;
	}
	b->front_fd = conn_fd;
	b->back_fd = b->stop_fd = b->done_fd = -1;
	b->stop_fd = eventfd(0, EFD_CLOEXEC);
	b->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->stop_fd < 0 || b->done_fd < 0) {
		ret = -errno;
		goto err_stop;
	}
	lfd = private_listener(&b->back_fd);
	if (lfd < 0) {
		ret = lfd;
		goto err_stop;
	}
	ret = set_blocking_timeout(b->front_fd);
	if (!ret)
		ret = set_blocking_timeout(b->back_fd);
	if (!ret)
		ret = -pthread_create(&b->thread, NULL, bridge_thread, b);
	if (ret) {
		close(lfd);
		goto err_stop;
	}
	b->thread_started = true;
	*listen_fd = lfd;
	*out = b;
	return 0;

err_stop:
	conn_bridge_stop(b);
	return ret;
}

int conn_bridge_done_fd(const struct conn_bridge *b)
{
	return b->done_fd;
}

void conn_bridge_stop(struct conn_bridge *b)
{
	if (!b)
		return;
	if (b->thread_started) {
		eventfd_write(b->stop_fd, 1);
		pthread_join(b->thread, NULL);
	}
	if (b->front_fd >= 0)
		close(b->front_fd);
	if (b->back_fd >= 0)
		close(b->back_fd);
	if (b->stop_fd >= 0)
		close(b->stop_fd);
	if (b->done_fd >= 0)
		close(b->done_fd);
	free(b);
}
