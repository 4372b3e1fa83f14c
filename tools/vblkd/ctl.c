/* SPDX-License-Identifier: MIT */
/*
 * The control socket's connections (ctl.h): accept, read lines, hand each
 * to rpc_handle, write the replies back, on one thread and never blocking
 * on a client.
 */
#include "ctl.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/compiler.h"
#include "internal/log.h"
#include "resize.h"
#include "rpc.h"
#include "rpc_exports.h"

struct client {
	int fd;
	bool skipping;	/* dropping the rest of an over-long line */
	size_t in_len;	/* bytes of in[] holding the start of the next lines */
	char *out;	/* replies not yet written */
	size_t out_len; /* bytes in out */
	size_t out_off; /* bytes of out already written */
	struct client *next;
	char in[RPC_LINE_MAX];
};

struct ctl {
	struct rpc_exports rpc;
	struct sock_file sock;
	int listen_fd; /* -1: no control socket */
	int hup_fd;    /* signalfd for SIGHUP, or -1 */
	int resize_fd; /* eventfd: a backend's size news (not ours), or -1 */
	int stop_fd;
	int epfd;
	pthread_t thread;
	struct client *clients;
	unsigned nclients;
};

static void client_close(struct ctl *c, struct client *cl)
{
	for (struct client **pp = &c->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	close(cl->fd); /* also leaves the epoll set */
	free(cl->out);
	free(cl);
	c->nclients--;
}

/* Watch cl for input when its replies are all out, else for room to write them. */
static void client_watch(struct ctl *c, struct client *cl)
{
	struct epoll_event ev = {.events = cl->out_len ? EPOLLOUT : EPOLLIN, .data.ptr = cl};

	epoll_ctl(c->epfd, EPOLL_CTL_MOD, cl->fd, &ev);
}

/* Write what we can of cl's replies. false: the client is gone (closed). */
static bool client_flush(struct ctl *c, struct client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0) {
			client_close(c, cl);
			return false;
		}
		cl->out_off += (size_t)n;
	}
	free(cl->out);
	cl->out = NULL;
	cl->out_len = cl->out_off = 0;
	return true;
}

/* Queue a reply line (consumes reply; NULL: nothing to send). */
static void client_queue(struct client *cl, char *reply)
{
	size_t n;
	char *p;

	if (!reply)
		return;
	n = strlen(reply);
	p = realloc(cl->out, cl->out_len + n + 1);
	if (p) {
		memcpy(p + cl->out_len, reply, n);
		p[cl->out_len + n] = '\n';
		cl->out = p;
		cl->out_len += n + 1;
	}
	free(reply);
}

/*
 * Answer the complete lines in cl->in, one at a time, until a reply cannot be
 * written at once: the rest waits until the client reads. false: closed.
 */
static bool client_lines(struct ctl *c, struct client *cl)
{
	char *nl;

	while (!cl->out_len && (nl = memchr(cl->in, '\n', cl->in_len))) {
		size_t len = (size_t)(nl - cl->in), rest = cl->in_len - len - 1;

		if (cl->skipping) {
			cl->skipping = false; /* the end of the line already refused */
		} else {
			size_t l = len;

			if (l && cl->in[l - 1] == '\r')
				l--;
			/* Blank lines are keep-alives, not requests. */
			if (l)
				client_queue(cl, rpc_handle(&rpc_export_ops, &c->rpc, cl->in, l));
		}
		memmove(cl->in, nl + 1, rest);
		cl->in_len = rest;
		if (cl->out_len && !client_flush(c, cl))
			return false;
	}
	if (cl->in_len == sizeof(cl->in)) {
		/* A full buffer and no newline: refuse the line, skip to its end. */
		char msg[64];

		snprintf(msg, sizeof(msg), "request line longer than %u bytes", RPC_LINE_MAX);
		client_queue(cl, rpc_error_reply(RPC_INVALID_REQUEST, msg));
		cl->in_len = 0;
		cl->skipping = true;
		if (!client_flush(c, cl))
			return false;
	}
	return true;
}

static void client_event(struct ctl *c, struct client *cl)
{
	ssize_t n;

	if (cl->out_len) {
		if (!client_flush(c, cl))
			return;
		/* Replies out: the lines that waited for them now. */
		if (!cl->out_len && !client_lines(c, cl))
			return;
		client_watch(c, cl);
		return;
	}
	n = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		/* The client is done: answer what it sent whole, as far as it takes it. */
		if (client_lines(c, cl))
			client_close(c, cl);
		return;
	}
	if (cl->skipping) {
		char *nl = memchr(cl->in + cl->in_len, '\n', (size_t)n);

		if (!nl)
			return; /* still inside the refused line: drop it all */
		cl->in_len = (size_t)(cl->in + cl->in_len + n - nl);
		memmove(cl->in, nl, cl->in_len);
	} else {
		cl->in_len += (size_t)n;
	}
	if (client_lines(c, cl))
		client_watch(c, cl);
}

static void do_accept(struct ctl *c)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct client *cl;
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control socket: accept: %s", strerror(errno));
		return;
	}
	if (c->nclients >= CTL_MAX_CLIENTS) {
		char *r = rpc_error_reply(RPC_INTERNAL_ERROR, "too many control clients");

		if (r) {
			/* Best effort, never waiting: the line is short, the buffer empty. */
			if (send(fd, r, strlen(r), MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
				(void)!send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			free(r);
		}
		close(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return;
	}
	cl->fd = fd;
	ev.data.ptr = cl;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		free(cl);
		return;
	}
	cl->next = c->clients;
	c->clients = cl;
	c->nclients++;
}

/* SIGHUP: every export learns its disk's size again (several signals, one pass). */
static void resize_all(struct ctl *c)
{
	struct signalfd_siginfo si;

	while (read(c->hup_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	for (struct export *e = *c->rpc.exports; e; e = e->next) {
		/* The resize's lines name the export, as its own thread's do. */
		log_set_thread_tag(e->name);
		vblkd_resize(&e->dev, e->srv, 0, NULL, NULL);
	}
	log_set_thread_tag(NULL);
}

/* A backend saw its disk change size from outside: resize those exports. */
static void resize_news(struct ctl *c)
{
	eventfd_t n;

	eventfd_read(c->resize_fd, &n);
	for (struct export *e = *c->rpc.exports; e; e = e->next) {
		if (!atomic_exchange(&e->size_news, false))
			continue;
		log_set_thread_tag(e->name);
		vblkd_resize(&e->dev, e->srv, 0, NULL, NULL);
	}
	log_set_thread_tag(NULL);
}

static void *ctl_thread(void *arg)
{
	struct ctl *c = arg;

	for (;;) {
		struct epoll_event ev[16];
		int n = epoll_wait(c->epfd, ev, ARRAY_SIZE(ev), -1);

		if (n < 0 && errno != EINTR) {
			log_err("control socket: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == &c->stop_fd)
				return NULL;
			if (ev[i].data.ptr == &c->hup_fd) {
				resize_all(c);
				continue;
			}
			if (ev[i].data.ptr == &c->resize_fd) {
				resize_news(c);
				continue;
			}
			if (ev[i].data.ptr == &c->listen_fd) {
				do_accept(c);
				continue;
			}
			/* A client closed earlier in this batch is not in ev twice: one fd, one
			 * event. */
			client_event(c, ev[i].data.ptr);
		}
	}
}

int ctl_start(const char *path, const struct sock_perm *perm, struct export **exports, int hup_fd,
	      int resize_fd, struct ctl **out, char err[ERRMSG_LEN])
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct ctl *c = calloc(1, sizeof(*c));
	int ret;

	if (!c) {
		if (hup_fd >= 0)
			close(hup_fd);
		return errmsg(err, "out of memory"), -ENOMEM;
	}
	c->hup_fd = hup_fd;
	c->resize_fd = resize_fd;
	c->rpc.resize_fd = resize_fd;
	c->rpc.exports = exports;
	c->rpc.perm = *perm;
	c->sock.dirfd = -1;
	c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->listen_fd = -1;
	if (c->stop_fd < 0 || c->epfd < 0) {
		ret = -errno;
		errmsg(err, "%s", strerror(errno));
		goto err_free;
	}
	ev.data.ptr = &c->stop_fd;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->stop_fd, &ev)) {
		ret = -errno;
		errmsg(err, "epoll: %s", strerror(errno));
		goto err_free;
	}
	ev.data.ptr = &c->hup_fd;
	if (hup_fd >= 0 && epoll_ctl(c->epfd, EPOLL_CTL_ADD, hup_fd, &ev)) {
		ret = -errno;
		errmsg(err, "epoll: %s", strerror(errno));
		goto err_free;
	}
	ev.data.ptr = &c->resize_fd;
	if (resize_fd >= 0 && epoll_ctl(c->epfd, EPOLL_CTL_ADD, resize_fd, &ev)) {
		ret = -errno;
		errmsg(err, "epoll: %s", strerror(errno));
		goto err_free;
	}
	if (path) {
		c->listen_fd = sock_listen_at(&c->sock, path, perm, err);
		if (c->listen_fd < 0) {
			ret = -EINVAL;
			goto err_free;
		}
		ev.data.ptr = &c->listen_fd;
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->listen_fd, &ev)) {
			ret = -errno;
			errmsg(err, "epoll: %s", strerror(errno));
			goto err_free;
		}
	}
	ret = -pthread_create(&c->thread, NULL, ctl_thread, c);
	if (ret) {
		errmsg(err, "cannot start a thread: %s", strerror(-ret));
		goto err_free;
	}
	if (path)
		log_info("control socket on %s", path);
	*out = c;
	return 0;

err_free:
	sock_remove(&c->sock);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->hup_fd >= 0)
		close(c->hup_fd);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	free(c);
	return ret;
}

void ctl_stop(struct ctl *c)
{
	if (!c)
		return;
	eventfd_write(c->stop_fd, 1);
	pthread_join(c->thread, NULL);
	sock_remove(&c->sock);
	while (c->clients)
		client_close(c, c->clients);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->hup_fd >= 0)
		close(c->hup_fd);
	close(c->epfd);
	close(c->stop_fd);
	free(c);
}
