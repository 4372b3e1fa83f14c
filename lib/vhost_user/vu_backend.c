/* SPDX-License-Identifier: MIT */
/*
 * The back-end request channel (QEMU docs/interop/vhost-user.rst
 * "Back-end communication", VHOST_USER_PROTOCOL_F_BACKEND_REQ): the socket
 * the front end hands us with SET_BACKEND_REQ_FD, and the one request we
 * send on it, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG.
 *
 * Only the control thread writes the channel. Any other thread asks for a
 * notification through vu_server_config_changed(), an eventfd write the
 * control thread picks up in its epoll loop; several requests before it
 * runs become one message.
 *
 * The ack (REPLY_ACK) is never waited for in place: QEMU handles
 * CONFIG_CHANGE_MSG by sending GET_CONFIG on the main channel and acks only
 * once that was answered (hw/virtio/vhost-user.c backend_read), so a
 * control thread blocked on the ack would deadlock with it. The ack is
 * read when the channel becomes readable, and a timerfd bounds how long we
 * count on it: a front end that never answers costs one log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <vblk/spec/virtio_types.h>

#include "internal/log.h"
#include "vu_msg.h"
#include "vu_server_priv.h"

/*
 * Sending: a front end whose channel is full (it stopped reading) holds
 * the control thread at most this long. Receiving: once an ack began to
 * arrive, the rest of it must come within this time.
 */
#define VU_BACKEND_IO_MS 1000
/* How long a CONFIG_CHANGE_MSG ack is waited for before we log and go on. */
#define VU_BACKEND_ACK_MS VU_MSG_DEADLINE_MS

int vu_server_config_changed(struct vu_server *s)
{
	/* eventfd writes are atomic: safe from any thread while the server exists. */
	return eventfd_write(s->cfg_fd, 1) ? -errno : 0;
}

static bool negotiated(const struct vu_server *srv, unsigned bit)
{
	return srv->protocol_features & VIRTIO_BIT(bit);
}

static void arm_timer(struct vu_server *srv, int ms)
{
	struct itimerspec t = {
	    .it_value = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}};

	(void)timerfd_settime(srv->backend_timer, 0, &t, NULL);
}

void vu_backend_drop(struct vu_server *srv)
{
	if (srv->backend_fd >= 0) {
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->backend_fd, NULL);
		vu_close_fd(&srv->backend_fd);
	}
	srv->backend_wait = false;
	srv->backend_late = 0;
	srv->cfg_pending = false;
	arm_timer(srv, 0);
}

/*
 * vhost-user.rst "VHOST_USER_SET_BACKEND_REQ_FD": the fd must be one end of
 * a connected unix stream socket, the channel the messages of "Back-end
 * message types" travel on. A pipe, an eventfd, a listening or unconnected
 * socket, or one whose peer already hung up is refused (and the previous
 * channel, if any, is kept).
 */
int vu_backend_set_fd(struct vu_server *srv, int fd)
{
	int domain = 0, type = 0, listening = 0, fl;
	socklen_t len = sizeof(int);
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = VU_EV_BACKEND};
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	struct stat st;

	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) || domain != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) || listening) {
		log_warn("SET_BACKEND_REQ_FD: the fd is not a connected unix stream socket");
		return -EINVAL;
	}
	if (poll(&p, 1, 0) != 0 || getpeername(fd, (struct sockaddr *)&peer, &plen)) {
		log_warn("SET_BACKEND_REQ_FD: the socket has no live peer");
		return -ENOTCONN;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	/* A newer channel replaces the older one (e.g. after the front end reset it). */
	vu_backend_drop(srv);
	srv->backend_fd = fd;
	log_dbg("back-end request channel set up");
	return 0;
}

/* Send one CONFIG_CHANGE_MSG, asking for an ack when REPLY_ACK was negotiated. */
static void send_config_change(struct vu_server *srv)
{
	struct vu_msg_limits lim = {.deadline = vu_msg_deadline(VU_BACKEND_IO_MS),
				    .abort_fd = srv->stop_fd};
	bool ack = negotiated(srv, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	struct vhost_user_msg m;
	int ret;

	memset(&m, 0, sizeof(m));
	m.hdr.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG;
	m.hdr.flags = VHOST_USER_VERSION | (ack ? VHOST_USER_NEED_REPLY_MASK : 0);
	m.hdr.size = 0;
	ret = vu_msg_send_lim(srv->backend_fd, &m, NULL, 0, &lim);
	if (ret) {
		/* Part of a message may have gone: the channel is out of step. */
		log_warn("CONFIG_CHANGE_MSG: cannot send it: %s; closing the back-end channel",
			 strerror(-ret));
		vu_backend_drop(srv);
		return;
	}
	log_info("told the front end that the config space changed");
	if (ack) {
		srv->backend_wait = true;
		arm_timer(srv, VU_BACKEND_ACK_MS);
	}
}

/*
 * vhost-user.rst "VHOST_USER_BACKEND_CONFIG_CHANGE_MSG": only with
 * VHOST_USER_PROTOCOL_F_CONFIG (and a channel). One message in flight at a
 * time; a change meanwhile is sent once its ack came or timed out.
 */
static void config_change(struct vu_server *srv)
{
	if (srv->conn_fd < 0)
		return; /* the next front end reads the config space anyway */
	if (srv->backend_fd < 0 || !negotiated(srv, VHOST_USER_PROTOCOL_F_CONFIG)) {
		log_info("config space changed; the front end has no back-end request channel "
			 "to be told on (it sees the change on its next GET_CONFIG)");
		return;
	}
	if (srv->backend_wait) {
		srv->cfg_pending = true;
		return;
	}
	send_config_change(srv);
}

void vu_backend_config_event(struct vu_server *srv)
{
	eventfd_t v;

	if (eventfd_read(srv->cfg_fd, &v))
		return;
	config_change(srv);
}

/* The ack came, failed or timed out: send what changed meanwhile. */
static void ack_settled(struct vu_server *srv)
{
	srv->backend_wait = false;
	arm_timer(srv, 0);
	if (srv->cfg_pending && srv->backend_fd >= 0) {
		srv->cfg_pending = false;
		send_config_change(srv);
	}
}

void vu_backend_timeout(struct vu_server *srv)
{
	uint64_t n;

	if (read(srv->backend_timer, &n, sizeof(n)) != (ssize_t)sizeof(n) || !srv->backend_wait)
		return;
	log_warn("CONFIG_CHANGE_MSG: no ack from the front end within %d ms; going on",
		 VU_BACKEND_ACK_MS);
	/* Its ack may still come: it then answers nothing sent since. */
	srv->backend_late++;
	ack_settled(srv);
}

/*
 * The channel is readable: an ack, or the front end closed it. Anything
 * else breaks the protocol (the front end sends no requests on it), and
 * the channel is closed; the main connection goes on.
 */
void vu_backend_ready(struct vu_server *srv)
{
	struct vu_msg_limits lim = {.deadline = vu_msg_deadline(VU_BACKEND_IO_MS),
				    .abort_fd = srv->stop_fd};
	struct vhost_user_msg m;
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds = 0;
	uint64_t v = 0;
	int ret;

	if (srv->backend_fd < 0)
		return; /* an event of a channel dropped earlier in this batch */
	ret = vu_msg_recv_lim(srv->backend_fd, &m, fds, &nfds, &lim);
	if (ret == -ECANCELED)
		return;
	if (ret) {
		if (ret != -ECONNRESET)
			log_warn("back-end request channel: %s; closing it", strerror(-ret));
		else
			log_info("the front end closed the back-end request channel");
		vu_backend_drop(srv);
		return;
	}
	vu_msg_close_fds(fds, nfds);
	if (m.hdr.request != VHOST_USER_BACKEND_CONFIG_CHANGE_MSG ||
	    !(m.hdr.flags & VHOST_USER_REPLY_MASK) || m.hdr.size != sizeof(v)) {
		log_warn("back-end request channel: unexpected message %u (flags %#x, %u bytes); "
			 "closing it",
			 m.hdr.request, m.hdr.flags, m.hdr.size);
		vu_backend_drop(srv);
		return;
	}
	memcpy(&v, &m.payload, sizeof(v));
	if (srv->backend_late) {
		srv->backend_late--;
		log_dbg("CONFIG_CHANGE_MSG: a late ack (%llu)", (unsigned long long)v);
		return;
	}
	if (!srv->backend_wait) {
		log_warn("back-end request channel: an ack nothing asked for; closing it");
		vu_backend_drop(srv);
		return;
	}
	if (v)
		log_warn("CONFIG_CHANGE_MSG: the front end reports failure (%llu)",
			 (unsigned long long)v);
	else
		log_info("the front end acknowledged the config change");
	ack_settled(srv);
}

int vu_backend_init(struct vu_server *srv)
{
	struct epoll_event cfg = {.events = EPOLLIN, .data.u64 = VU_EV_CONFIG};
	struct epoll_event tmo = {.events = EPOLLIN, .data.u64 = VU_EV_BACKEND_TIMER};

	srv->backend_fd = -1;
	srv->cfg_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	srv->backend_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (srv->cfg_fd < 0 || srv->backend_timer < 0 ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->cfg_fd, &cfg) ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->backend_timer, &tmo))
		return -errno;
	return 0;
}

void vu_backend_fini(struct vu_server *srv)
{
	if (srv->backend_timer >= 0)
		vu_backend_drop(srv);
	vu_close_fd(&srv->cfg_fd);
	vu_close_fd(&srv->backend_timer);
}
