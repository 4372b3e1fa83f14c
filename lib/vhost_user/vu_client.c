/* SPDX-License-Identifier: MIT */
/*
 * vhost-user front end, driver side: one request/reply exchange per call,
 * each within a deadline, replies checked before use (see vu_client.h).
 * Nothing here prints; failures are described in c->err.
 */
#include "vu_client.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vblk/spec/virtio_types.h>

#include "internal/compiler.h"
#include "vu_msg.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Record why a request failed; a fatal error leaves the stream out of step for good. */
VBLK_PRINTF(4, 5)
static int fail(struct vu_client *c, int err, bool fatal, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	if (fatal)
		c->dead = err;
	return err;
}

int vu_client_connect(struct vu_client *c, const char *path, unsigned timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv;
	int fd, err;

	memset(c, 0, sizeof(*c));
	c->sock = -1;
	c->timeout_ms = timeout_ms ? timeout_ms : VU_CLIENT_DEFAULT_TIMEOUT_MS;
	if (c->timeout_ms > INT_MAX)
		c->timeout_ms = INT_MAX; /* poll() takes an int */
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * Bounds a connect() that waits for room in a full listen backlog and
	 * a send() to a back end that stopped reading (both return EAGAIN).
	 */
	tv.tv_sec = (time_t)(c->timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(c->timeout_ms % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		goto err_close_fd;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto err_close_fd;
	c->sock = fd;
	return 0;

err_close_fd:
	err = errno == EAGAIN ? -ETIMEDOUT : -errno;
	close(fd);
	return err;
}

void vu_client_close(struct vu_client *c)
{
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
}

static void msg_init(struct vhost_user_msg *m, uint32_t req, uint32_t size)
{
	memset(m, 0, sizeof(*m));
	m->hdr.request = req;
	m->hdr.flags = VHOST_USER_VERSION;
	m->hdr.size = size;
}

/* Close any fds that rode on mh: no reply carries one (vhost-user.rst). */
static void drop_fds(struct msghdr *mh)
{
	for (struct cmsghdr *h = CMSG_FIRSTHDR(mh); h; h = CMSG_NXTHDR(mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
			close(fd);
		}
	}
}

/*
 * Receive exactly len bytes before deadline (CLOCK_MONOTONIC ms), however
 * the peer splits them. Returns 0, -ETIMEDOUT, -ECONNRESET (end of stream)
 * or -errno; *got says how many arrived.
 */
static int recv_exact(int sock, void *buf, size_t len, int64_t deadline, size_t *got)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} ctl;

	*got = 0;
	while (*got < len) {
		struct iovec iov = {(char *)buf + *got, len - *got};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf)};
		struct pollfd pfd = {.fd = sock, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue; /* EINTR, or time is up: the check above decides */
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		drop_fds(&mh);
		if (n == 0)
			return -ECONNRESET;
		*got += (size_t)n;
	}
	return 0;
}

/* Describe a failed receive of req's reply; every such failure is fatal. */
static int recv_failed(struct vu_client *c, uint32_t req, int err, size_t got)
{
	const char *name = vu_msg_name(req);

	switch (err) {
	case -ETIMEDOUT:
		if (got)
			return fail(c, err, true,
				    "the back end sent %zu bytes of its %s reply, then nothing "
				    "for the rest of %u ms",
				    got, name, c->timeout_ms);
		return fail(c, err, true, "the back end did not answer %s within %u ms", name,
			    c->timeout_ms);
	case -ECONNRESET:
		return fail(c, err, true, "the back end closed the connection before answering %s",
			    name);
	default:
		return fail(c, err, true, "receiving the %s reply: %s", name, strerror(-err));
	}
}

/*
 * Receive the reply to req into m before deadline and check it: version,
 * same request code, reply flag set, payload exactly want bytes (want == 0:
 * any size up to the payload, the caller checks). The header is checked
 * before the payload is read, so a bad size never reaches memory.
 */
static int recv_reply(struct vu_client *c, uint32_t req, struct vhost_user_msg *m, uint32_t want,
		      int64_t deadline)
{
	size_t got, hdr_got;
	int ret;

	ret = recv_exact(c->sock, &m->hdr, sizeof(m->hdr), deadline, &hdr_got);
	if (ret)
		return recv_failed(c, req, ret, hdr_got);
	if ((m->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION)
		return fail(c, -EPROTO, true, "%s reply has version %u, expected %u",
			    vu_msg_name(req), m->hdr.flags & VHOST_USER_VERSION_MASK,
			    VHOST_USER_VERSION);
	if (m->hdr.request != req || !(m->hdr.flags & VHOST_USER_REPLY_MASK))
		return fail(c, -EPROTO, true, "unexpected message %u (%s) in reply to %s",
			    m->hdr.request, vu_msg_name(m->hdr.request), vu_msg_name(req));
	if (m->hdr.size > sizeof(m->payload) || (want && m->hdr.size != want))
		return fail(c, -EPROTO, true, "%s reply has %u bytes, expected %u",
			    vu_msg_name(req), m->hdr.size,
			    want ? want : (uint32_t)sizeof(m->payload));
	ret = recv_exact(c->sock, &m->payload, m->hdr.size, deadline, &got);
	if (ret)
		return recv_failed(c, req, ret, hdr_got + got);
	return 0;
}

/*
 * One exchange within c->timeout_ms: send m (with fds), and with reply
 * receive the answer into m (payload of exactly want bytes, 0 = any).
 */
static int transact(struct vu_client *c, struct vhost_user_msg *m, const int *fds, unsigned nfds,
		    bool reply, uint32_t want)
{
	int64_t deadline = now_ms() + c->timeout_ms;
	uint32_t req = m->hdr.request;
	int ret;

	c->err[0] = '\0';
	if (c->dead)
		return fail(c, c->dead, true,
			    "%s not sent: the connection is unusable after an earlier failure",
			    vu_msg_name(req));
	ret = vu_msg_send(c->sock, m, fds, nfds);
	if (ret == -EAGAIN || ret == -EWOULDBLOCK)
		return fail(c, -ETIMEDOUT, true, "the back end did not take %s within %u ms",
			    vu_msg_name(req), c->timeout_ms);
	if (ret == -EPIPE || ret == -ECONNRESET)
		return fail(c, -ECONNRESET, true, "the back end closed the connection (sending %s)",
			    vu_msg_name(req));
	if (ret)
		return fail(c, ret, ret != -EINVAL, "sending %s: %s", vu_msg_name(req),
			    strerror(-ret));
	return reply ? recv_reply(c, req, m, want, deadline) : 0;
}

/* Send a request that has no reply of its own; with REPLY_ACK wait for the ack. */
static int send_noreply(struct vu_client *c, struct vhost_user_msg *m, const int *fds,
			unsigned nfds)
{
	uint32_t req = m->hdr.request;
	int ret;

	if (c->reply_ack)
		m->hdr.flags |= VHOST_USER_NEED_REPLY_MASK;
	ret = transact(c, m, fds, nfds, c->reply_ack, sizeof(uint64_t));
	if (ret || !c->reply_ack)
		return ret;
	/* The stream is still in step: a refusal is not fatal. */
	if (m->payload.u64 != 0)
		return fail(c, -EIO, false, "the back end refused %s", vu_msg_name(req));
	return 0;
}

static int get_u64(struct vu_client *c, uint32_t req, uint64_t *v)
{
	struct vhost_user_msg m;
	int ret;

	msg_init(&m, req, 0);
	ret = transact(c, &m, NULL, 0, true, sizeof(uint64_t));
	if (!ret)
		*v = m.payload.u64;
	return ret;
}

static int set_u64(struct vu_client *c, uint32_t req, uint64_t v)
{
	struct vhost_user_msg m;

	msg_init(&m, req, sizeof(uint64_t));
	m.payload.u64 = v;
	return send_noreply(c, &m, NULL, 0);
}

int vu_client_get_features(struct vu_client *c, uint64_t *features)
{
	return get_u64(c, VHOST_USER_GET_FEATURES, features);
}

int vu_client_set_features(struct vu_client *c, uint64_t features)
{
	return set_u64(c, VHOST_USER_SET_FEATURES, features);
}

int vu_client_get_protocol_features(struct vu_client *c, uint64_t *features)
{
	return get_u64(c, VHOST_USER_GET_PROTOCOL_FEATURES, features);
}

int vu_client_set_protocol_features(struct vu_client *c, uint64_t features)
{
	int ret = set_u64(c, VHOST_USER_SET_PROTOCOL_FEATURES, features);

	if (!ret) {
		c->protocol_features = features;
		/* vhost-user.rst: REPLY_ACK applies from the next message on. */
		c->reply_ack = features & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK);
	}
	return ret;
}

int vu_client_set_owner(struct vu_client *c)
{
	struct vhost_user_msg m;

	msg_init(&m, VHOST_USER_SET_OWNER, 0);
	return send_noreply(c, &m, NULL, 0);
}

int vu_client_get_queue_num(struct vu_client *c, uint64_t *num)
{
	return get_u64(c, VHOST_USER_GET_QUEUE_NUM, num);
}

int vu_client_get_config(struct vu_client *c, uint32_t offset, void *buf, uint32_t len)
{
	struct vhost_user_msg m;
	uint32_t size = (uint32_t)VHOST_USER_CONFIG_HDR_SIZE + len;
	int ret;

	if (len == 0 || len > VHOST_USER_MAX_CONFIG_SIZE)
		return -EINVAL;
	msg_init(&m, VHOST_USER_GET_CONFIG, size);
	m.payload.config.offset = offset;
	m.payload.config.size = len;
	ret = transact(c, &m, NULL, 0, true, 0);
	if (ret)
		return ret;
	/* The back end reports failure with a shorter (empty) payload. */
	if (m.hdr.size != size || m.payload.config.size != len)
		return fail(c, -EIO, false, "the back end refused GET_CONFIG (reply of %u bytes)",
			    m.hdr.size);
	memcpy(buf, m.payload.config.region, len);
	return 0;
}

int vu_client_set_mem_table(struct vu_client *c, const struct vu_client_region *r, unsigned n)
{
	struct vhost_user_msg m;
	int fds[VHOST_USER_MEMORY_BASELINE_NREGIONS];

	if (n == 0 || n > VHOST_USER_MEMORY_BASELINE_NREGIONS)
		return -EINVAL;
	/* vhost-user.rst: the payload is the header plus exactly nregions entries. */
	msg_init(&m, VHOST_USER_SET_MEM_TABLE,
		 (uint32_t)(offsetof(struct vhost_user_memory, regions) +
			    n * sizeof(struct vhost_user_memory_region)));
	m.payload.memory.nregions = n;
	for (unsigned i = 0; i < n; i++) {
		m.payload.memory.regions[i].guest_phys_addr = r[i].gpa;
		m.payload.memory.regions[i].memory_size = r[i].size;
		m.payload.memory.regions[i].userspace_addr = r[i].uva;
		m.payload.memory.regions[i].mmap_offset = r[i].mmap_offset;
		fds[i] = r[i].fd;
	}
	return send_noreply(c, &m, fds, n);
}

static int set_state(struct vu_client *c, uint32_t req, unsigned idx, unsigned num)
{
	struct vhost_user_msg m;

	msg_init(&m, req, sizeof(struct vhost_vring_state));
	m.payload.state.index = idx;
	m.payload.state.num = num;
	return send_noreply(c, &m, NULL, 0);
}

int vu_client_set_vring_num(struct vu_client *c, unsigned idx, unsigned num)
{
	return set_state(c, VHOST_USER_SET_VRING_NUM, idx, num);
}

int vu_client_set_vring_base(struct vu_client *c, unsigned idx, unsigned base)
{
	return set_state(c, VHOST_USER_SET_VRING_BASE, idx, base);
}

int vu_client_set_vring_enable(struct vu_client *c, unsigned idx, bool enable)
{
	return set_state(c, VHOST_USER_SET_VRING_ENABLE, idx, enable ? 1 : 0);
}

int vu_client_set_vring_addr(struct vu_client *c, unsigned idx, uint64_t desc_uva,
			     uint64_t avail_uva, uint64_t used_uva)
{
	struct vhost_user_msg m;

	msg_init(&m, VHOST_USER_SET_VRING_ADDR, sizeof(struct vhost_vring_addr));
	m.payload.addr.index = idx;
	m.payload.addr.desc_user_addr = desc_uva;
	m.payload.addr.avail_user_addr = avail_uva;
	m.payload.addr.used_user_addr = used_uva;
	return send_noreply(c, &m, NULL, 0);
}

static int set_vring_fd(struct vu_client *c, uint32_t req, unsigned idx, int fd)
{
	struct vhost_user_msg m;

	if (idx > VHOST_USER_VRING_IDX_MASK)
		return -EINVAL;
	msg_init(&m, req, sizeof(uint64_t));
	m.payload.u64 = idx;
	if (fd < 0) {
		m.payload.u64 |= VHOST_USER_VRING_NOFD_MASK;
		return send_noreply(c, &m, NULL, 0);
	}
	return send_noreply(c, &m, &fd, 1);
}

int vu_client_set_vring_kick(struct vu_client *c, unsigned idx, int fd)
{
	return set_vring_fd(c, VHOST_USER_SET_VRING_KICK, idx, fd);
}

int vu_client_set_vring_call(struct vu_client *c, unsigned idx, int fd)
{
	return set_vring_fd(c, VHOST_USER_SET_VRING_CALL, idx, fd);
}

int vu_client_get_vring_base(struct vu_client *c, unsigned idx, unsigned *base)
{
	struct vhost_user_msg m;
	int ret;

	msg_init(&m, VHOST_USER_GET_VRING_BASE, sizeof(struct vhost_vring_state));
	m.payload.state.index = idx;
	ret = transact(c, &m, NULL, 0, true, sizeof(struct vhost_vring_state));
	if (ret)
		return ret;
	if (m.payload.state.index != idx)
		return fail(c, -EPROTO, false, "GET_VRING_BASE reply is for ring %u, not %u",
			    m.payload.state.index, idx);
	*base = m.payload.state.num;
	return 0;
}
