/* SPDX-License-Identifier: MIT */
#include "vu_msg.h"

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/compiler.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t vu_msg_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Milliseconds left until deadline (-1: none), for poll(). */
static int ms_left(int64_t deadline)
{
	int64_t now;

	if (deadline < 0)
		return -1;
	now = now_ms();
	return now >= deadline ? 0 : (int)VBLK_MIN(deadline - now, (int64_t)INT32_MAX);
}

/*
 * Wait until sock is ready for events, the deadline passes (-ETIMEDOUT) or
 * abort_fd (if >= 0) becomes readable (-ECANCELED). Returns 0 when ready.
 */
static int wait_ready(int sock, short events, const struct vu_msg_limits *lim)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = sock, .events = events},
				      {.fd = lim ? lim->abort_fd : -1, .events = POLLIN}};
		int left = ms_left(lim ? lim->deadline : -1);
		int n;

		if (left == 0)
			return -ETIMEDOUT;
		n = poll(p, 2, left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && (p[1].revents & POLLIN))
			return -ECANCELED;
		if (n > 0 && p[0].revents)
			return 0;
	}
}

/*
 * A socket call failed with errno: 0 to try again (interrupted, or the
 * socket became ready within lim), or the -errno to give up with.
 */
static int retry_after(int sock, short events, const struct vu_msg_limits *lim)
{
	int ret = -errno;

	if (ret == -EINTR)
		return 0;
	if (ret != -EAGAIN)
		return ret;
	return wait_ready(sock, events, lim);
}

/*
 * Read exactly len bytes; a short stream is a disconnect (vhost-user.rst).
 * On a non-blocking socket, waits within lim.
 */
static int read_full(int sock, void *buf, size_t len, const struct vu_msg_limits *lim)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(sock, (char *)buf + done, len - done, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			int ret = retry_after(sock, POLLIN, lim);

			if (ret)
				return ret;
			continue;
		}
		done += (size_t)n;
	}
	return 0;
}

static void collect_fds(struct msghdr *mh, int *fds, unsigned *nfds, int *truncated)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int got[VHOST_USER_MAX_FDS * 2];
		if (n > ARRAY_SIZE(got))
			n = ARRAY_SIZE(got);
		memcpy(got, CMSG_DATA(c), n * sizeof(int));
		for (size_t i = 0; i < n; i++) {
			if (*nfds < VHOST_USER_MAX_FDS)
				fds[(*nfds)++] = got[i];
			else {
				close(got[i]);
				*truncated = 1;
			}
		}
	}
}

int vu_msg_recv(int sock, struct vhost_user_msg *msg, int *fds, unsigned *nfds)
{
	return vu_msg_recv_lim(sock, msg, fds, nfds, NULL);
}

int vu_msg_recv_lim(int sock, struct vhost_user_msg *msg, int *fds, unsigned *nfds,
		    const struct vu_msg_limits *lim)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {&msg->hdr, sizeof(msg->hdr)};
	struct msghdr mh = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = ctl.buf,
	    .msg_controllen = sizeof(ctl.buf),
	};
	int truncated = 0, ret;
	ssize_t n;

	*nfds = 0;
	for (;;) {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n >= 0)
			break;
		ret = retry_after(sock, POLLIN, lim);
		if (ret)
			return ret;
	}
	collect_fds(&mh, fds, nfds, &truncated);
	if (n == 0) {
		ret = -ECONNRESET;
		goto err_close;
	}
	/* The fds ride on the first byte; the rest of the header may trail. */
	if ((size_t)n < sizeof(msg->hdr)) {
		ret = read_full(sock, (char *)&msg->hdr + n, sizeof(msg->hdr) - (size_t)n, lim);
		if (ret)
			goto err_close;
	}
	if (truncated || (mh.msg_flags & MSG_CTRUNC)) {
		ret = -EPROTO;
		goto err_close;
	}
	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		ret = -EPROTO;
		goto err_close;
	}
	if (msg->hdr.size > sizeof(msg->payload)) {
		ret = -EMSGSIZE;
		goto err_close;
	}
	ret = read_full(sock, &msg->payload, msg->hdr.size, lim);
	if (ret)
		goto err_close;
	return 0;

err_close:
	vu_msg_close_fds(fds, *nfds);
	*nfds = 0;
	return ret;
}

int vu_msg_send(int sock, const struct vhost_user_msg *msg, const int *fds, unsigned nfds)
{
	return vu_msg_send_lim(sock, msg, fds, nfds, NULL);
}

int vu_msg_send_lim(int sock, const struct vhost_user_msg *msg, const int *fds, unsigned nfds,
		    const struct vu_msg_limits *lim)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	size_t len = sizeof(msg->hdr) + msg->hdr.size;
	struct iovec iov = {(void *)msg, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	size_t done = 0;

	if (msg->hdr.size > sizeof(msg->payload) || nfds > VHOST_USER_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (done < len) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			int ret = retry_after(sock, POLLOUT, lim);

			if (ret)
				return ret;
			continue;
		}
		done += (size_t)n;
		/* fds went with the first chunk; send the rest plainly. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		iov.iov_base = (char *)msg + done;
		iov.iov_len = len - done;
	}
	return 0;
}

void vu_msg_close_fds(int *fds, unsigned nfds)
{
	for (unsigned i = 0; i < nfds; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

const char *vu_msg_name(uint32_t request)
{
	static const char *const names[VHOST_USER_MAX] = {
	    [VHOST_USER_GET_FEATURES] = "GET_FEATURES",
	    [VHOST_USER_SET_FEATURES] = "SET_FEATURES",
	    [VHOST_USER_SET_OWNER] = "SET_OWNER",
	    [VHOST_USER_RESET_OWNER] = "RESET_OWNER",
	    [VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
	    [VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
	    [VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
	    [VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
	    [VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
	    [VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
	    [VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
	    [VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
	    [VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
	    [VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
	    [VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	    [VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	    [VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	    [VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	    [VHOST_USER_SEND_RARP] = "SEND_RARP",
	    [VHOST_USER_NET_SET_MTU] = "NET_SET_MTU",
	    [VHOST_USER_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	    [VHOST_USER_IOTLB_MSG] = "IOTLB_MSG",
	    [VHOST_USER_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	    [VHOST_USER_GET_CONFIG] = "GET_CONFIG",
	    [VHOST_USER_SET_CONFIG] = "SET_CONFIG",
	    [VHOST_USER_CREATE_CRYPTO_SESSION] = "CREATE_CRYPTO_SESSION",
	    [VHOST_USER_CLOSE_CRYPTO_SESSION] = "CLOSE_CRYPTO_SESSION",
	    [VHOST_USER_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
	    [VHOST_USER_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
	    [VHOST_USER_POSTCOPY_END] = "POSTCOPY_END",
	    [VHOST_USER_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	    [VHOST_USER_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	    [VHOST_USER_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
	    [VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
	    [VHOST_USER_VRING_KICK] = "VRING_KICK",
	    [VHOST_USER_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	    [VHOST_USER_ADD_MEM_REG] = "ADD_MEM_REG",
	    [VHOST_USER_REM_MEM_REG] = "REM_MEM_REG",
	    [VHOST_USER_SET_STATUS] = "SET_STATUS",
	    [VHOST_USER_GET_STATUS] = "GET_STATUS",
	};

	if (request < VHOST_USER_MAX && names[request])
		return names[request];
	return "UNKNOWN";
}
