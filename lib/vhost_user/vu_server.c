/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user back end's connection life cycle (QEMU
 * docs/interop/vhost-user.rst): the listening socket, the one front end at a
 * time, receiving each message within a deadline, and tearing everything
 * down. The protocol itself is vu_proto.c, the queues vu_queue.c, the
 * mappings vu_mem.c (vu_server_priv.h says who owns what).
 *
 * The control thread (the caller of vu_server_run) handles one message at a
 * time. Once a message has begun to arrive, all of it must arrive within
 * VU_MSG_DEADLINE_MS, and the stop fd is watched meanwhile, so neither a
 * front end that trickles bytes nor one that stops mid-message delays
 * SIGTERM or holds the daemon.
 */
#include "vu_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/compiler.h"
#include "internal/log.h"
#include "vu_msg.h"
#include "vu_server_priv.h"

static int epoll_add(int epfd, int fd, uint64_t data)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static struct vu_msg_limits conn_limits(const struct vu_server *srv)
{
	return (struct vu_msg_limits){.deadline = vu_msg_deadline(VU_MSG_DEADLINE_MS),
				      .abort_fd = srv->stop_fd};
}

int vu_conn_send(struct vu_server *srv, const struct vhost_user_msg *m, const int *fds,
		 unsigned nfds)
{
	struct vu_msg_limits lim = conn_limits(srv);

	return vu_msg_send_lim(srv->conn_fd, m, fds, nfds, &lim);
}

static void conn_drop(struct vu_server *srv, bool flush)
{
	if (srv->conn_fd < 0)
		return;
	for (unsigned i = 0; i < srv->nqueues; i++)
		vu_queue_reset(&srv->queues[i]);
	vu_mem_drop(srv);
	/* The front end keeps the inflight memory and hands it to our successor. */
	vu_inflight_drop(srv);
	vu_log_drop(srv);
	vu_close_fd(&srv->log.call_fd);
	srv->features = 0;
	srv->protocol_features = 0;
	srv->ops->set_features(srv->dev, 0);
	vu_backend_drop(srv);
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->conn_fd, NULL);
	vu_close_fd(&srv->conn_fd);
	atomic_store(&srv->connected, false);
	atomic_store(&srv->mem_fault, 0);
	/* Writes of a front end that went away without a flush still reach the medium. */
	if (flush && srv->ops->flush) {
		int ret = srv->ops->flush(srv->dev);
		if (ret)
			log_err("flush after disconnect failed: %s", strerror(-ret));
	}
	log_info("client disconnected; waiting for the next one");
}

static void conn_ready(struct vu_server *srv)
{
	struct vu_msg_limits lim = conn_limits(srv);
	struct vhost_user_msg msg;
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds = 0;
	int ret;

	ret = vu_msg_recv_lim(srv->conn_fd, &msg, fds, &nfds, &lim);
	if (ret == -ECANCELED)
		return; /* stopping: vu_server_run sees the stop fd next */
	if (ret) {
		if (ret == -ETIMEDOUT)
			log_warn("dropping the client: a message did not arrive within %d ms",
				 VU_MSG_DEADLINE_MS);
		else if (ret != -ECONNRESET)
			log_warn("dropping the client: bad message: %s", strerror(-ret));
		conn_drop(srv, true);
		return;
	}
	if (!vu_dispatch(srv, &msg, fds, nfds))
		conn_drop(srv, true);
}

/*
 * A mapping the front end gave us shrank under us (vu_guard.h): its memory
 * can no longer be trusted to exist, so the queues stop and it is dropped.
 */
static void conn_fault(struct vu_server *srv)
{
	eventfd_t v;

	(void)eventfd_read(srv->fault_fd, &v);
	if (!atomic_load(&srv->mem_fault) || srv->conn_fd < 0)
		return;
	log_err("the front end shrank memory it had shared with us: dropping it");
	for (unsigned i = 0; i < srv->nqueues; i++) {
		vu_queue_stop(&srv->queues[i]);
		if (srv->queues[i].num)
			vu_queue_report_broken(&srv->queues[i]);
	}
	conn_drop(srv, true);
}

/* Has the peer of a connected socket shut down its side? */
static bool conn_hung_up(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static int do_accept(struct vu_server *srv)
{
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
		    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("accept: %s", strerror(errno));
			return 0;
		}
		log_err("accept: %s", strerror(errno));
		return -errno;
	}
	/*
	 * The previous front end may have hung up without our having read its
	 * EOF yet (a client that reconnects at once): finish it first.
	 */
	while (srv->conn_fd >= 0 && conn_hung_up(srv->conn_fd))
		conn_ready(srv);
	if (srv->conn_fd >= 0) {
		log_warn("refusing a second client: one front end at a time");
		close(fd);
		return 0;
	}
	if (epoll_add(srv->epfd, fd, ((uint64_t)(unsigned)fd << 32) | VU_EV_CONN)) {
		log_err("epoll_ctl: %s", strerror(errno));
		close(fd);
		return 0;
	}
	srv->conn_fd = fd;
	atomic_store(&srv->connected, true);
	log_info("client connected");
	return 0;
}

int vu_server_create(const struct vu_dev_ops *ops, void *dev, int listen_fd, struct vu_server **out)
{
	struct vu_server *srv;
	unsigned nq = ops->num_queues(dev);
	int ret;

	if (nq < 1 || nq > VU_MAX_QUEUES) {
		close(listen_fd);
		return -EINVAL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		close(listen_fd);
		return -ENOMEM;
	}
	srv->ops = ops;
	srv->dev = dev;
	srv->listen_fd = listen_fd;
	srv->conn_fd = -1;
	srv->stop_fd = -1;
	srv->backend_fd = srv->cfg_fd = srv->backend_timer = -1;
	srv->nqueues = nq;
	for (unsigned i = 0; i < VQ_MEM_MAX_REGIONS; i++)
		srv->maps[i].guard = -1;
	srv->inflight.map.guard = -1;
	srv->log.map.guard = -1;
	srv->log.call_fd = -1;
	srv->fault_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0 || srv->fault_fd < 0) {
		ret = -errno;
		goto err_destroy;
	}
	ret = vu_guard_init();
	if (!ret)
		ret = vu_backend_init(srv);
	if (ret)
		goto err_destroy;
	srv->queues = calloc(nq, sizeof(*srv->queues));
	if (!srv->queues) {
		ret = -ENOMEM;
		goto err_destroy;
	}
	for (unsigned i = 0; i < nq; i++) {
		struct vu_queue *q = &srv->queues[i];

		q->srv = srv;
		q->index = i;
		q->kick_fd = q->call_fd = q->err_fd = -1;
		q->stop_fd = q->epfd = -1;
	}
	ret = listen_fd >= 0 ? epoll_add(srv->epfd, listen_fd, VU_EV_LISTEN) : 0;
	if (!ret)
		ret = epoll_add(srv->epfd, srv->fault_fd, VU_EV_FAULT);
	if (ret)
		goto err_destroy;
	*out = srv;
	return 0;

err_destroy:
	vu_server_destroy(srv);
	return ret;
}

int vu_server_create_conn(const struct vu_dev_ops *ops, void *dev, int conn_fd,
			  struct vu_server **out)
{
	struct vu_server *srv;
	int fl, ret;

	fl = fcntl(conn_fd, F_GETFL);
	if (fl < 0 || fcntl(conn_fd, F_SETFL, fl | O_NONBLOCK)) {
		ret = -errno;
		close(conn_fd);
		return ret;
	}
	ret = vu_server_create(ops, dev, -1, &srv);
	if (ret) {
		close(conn_fd);
		return ret;
	}
	ret = epoll_add(srv->epfd, conn_fd, ((uint64_t)(unsigned)conn_fd << 32) | VU_EV_CONN);
	if (ret) {
		close(conn_fd);
		vu_server_destroy(srv);
		return ret;
	}
	srv->conn_fd = conn_fd;
	atomic_store(&srv->connected, true);
	srv->one_conn = true;
	*out = srv;
	return 0;
}

int vu_server_run(struct vu_server *srv, int stop_fd)
{
	int ret = epoll_add(srv->epfd, stop_fd, VU_EV_STOP);

	if (ret)
		return ret;
	srv->stop_fd = stop_fd;
	for (;;) {
		struct epoll_event ev[4];
		int n = epoll_wait(srv->epfd, ev, ARRAY_SIZE(ev), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			uint32_t tag = (uint32_t)ev[i].data.u64;
			int fd = (int)(ev[i].data.u64 >> 32);

			if (tag == VU_EV_STOP) {
				ret = 0;
				goto out;
			}
			if (tag == VU_EV_LISTEN) {
				ret = do_accept(srv);
				if (ret)
					goto out;
			} else if (tag == VU_EV_FAULT) {
				conn_fault(srv);
			} else if (tag == VU_EV_CONFIG) {
				vu_backend_config_event(srv);
			} else if (tag == VU_EV_BACKEND) {
				vu_backend_ready(srv);
			} else if (tag == VU_EV_BACKEND_TIMER) {
				vu_backend_timeout(srv);
			} else if (tag == VU_EV_CONN && fd == srv->conn_fd) {
				/* An event of a connection dropped earlier in this batch is stale.
				 */
				conn_ready(srv);
			}
		}
		/* vu_server_create_conn: the one front end is gone, and so are we. */
		if (srv->one_conn && srv->conn_fd < 0) {
			ret = 0;
			break;
		}
	}
out:
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, stop_fd, NULL);
	srv->stop_fd = -1;
	return ret;
}

int vu_server_shutdown(struct vu_server *srv)
{
	int ret = 0;

	if (srv->listen_fd >= 0) {
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
		vu_close_fd(&srv->listen_fd);
	}
	conn_drop(srv, false);
	if (srv->ops->flush) {
		ret = srv->ops->flush(srv->dev);
		if (ret)
			log_err("flush: %s", strerror(-ret));
	}
	return ret;
}

void vu_server_status(const struct vu_server *srv, struct vu_server_status *st)
{
	st->connected = atomic_load(&srv->connected);
	st->features = atomic_load(&srv->features);
	st->packed = st->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	st->queues = srv->nqueues;
}

void vu_server_destroy(struct vu_server *srv)
{
	if (!srv)
		return;
	conn_drop(srv, false);
	if (srv->queues) {
		for (unsigned i = 0; i < srv->nqueues; i++)
			vu_queue_reset(&srv->queues[i]);
		free(srv->queues);
	}
	vu_mem_drop(srv);
	vu_inflight_drop(srv);
	vu_log_drop(srv);
	vu_close_fd(&srv->log.call_fd);
	vu_backend_fini(srv);
	vu_close_fd(&srv->listen_fd);
	vu_close_fd(&srv->fault_fd);
	vu_close_fd(&srv->epfd);
	free(srv);
}
