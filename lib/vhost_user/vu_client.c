/* SPDX-License-Identifier: MIT */
#include "vu_client.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vblk/spec/virtio_types.h>

#include "internal/compiler.h"
#include "internal/log.h"
#include "vu_msg.h"

int vu_client_connect(struct vu_client *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	memset(c, 0, sizeof(*c));
	c->sock = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	c->sock = fd;
	return 0;
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

/*
 * Wait for the reply to req and check it: same request code, reply flag set,
 * payload exactly want bytes (want == 0: any size up to the payload, the
 * caller checks). Fds that ride on a reply are unexpected and closed.
 */
static int recv_reply(struct vu_client *c, uint32_t req, struct vhost_user_msg *m, uint32_t want)
{
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds = 0;
	int ret = vu_msg_recv(c->sock, m, fds, &nfds);

	if (ret)
		return ret;
	vu_msg_close_fds(fds, nfds);
	if (m->hdr.request != req || !(m->hdr.flags & VHOST_USER_REPLY_MASK)) {
		vblk_err("vhost-user: unexpected reply %u to %s", m->hdr.request, vu_msg_name(req));
		return -EPROTO;
	}
	if (want && m->hdr.size != want) {
		vblk_err("vhost-user: %s reply has %u bytes, expected %u", vu_msg_name(req),
			 m->hdr.size, want);
		return -EPROTO;
	}
	return 0;
}

/* Send a request that has no reply of its own; with REPLY_ACK wait for the ack. */
static int send_noreply(struct vu_client *c, struct vhost_user_msg *m, const int *fds,
			unsigned nfds)
{
	uint32_t req = m->hdr.request;
	int ret;

	if (c->reply_ack)
		m->hdr.flags |= VHOST_USER_NEED_REPLY_MASK;
	ret = vu_msg_send(c->sock, m, fds, nfds);
	if (ret || !c->reply_ack)
		return ret;
	ret = recv_reply(c, req, m, sizeof(uint64_t));
	if (ret)
		return ret;
	if (m->payload.u64 != 0) {
		vblk_err("vhost-user: back end refused %s", vu_msg_name(req));
		return -EIO;
	}
	return 0;
}

static int get_u64(struct vu_client *c, uint32_t req, uint64_t *v)
{
	struct vhost_user_msg m;
	int ret;

	msg_init(&m, req, 0);
	ret = vu_msg_send(c->sock, &m, NULL, 0);
	if (!ret)
		ret = recv_reply(c, req, &m, sizeof(uint64_t));
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
	ret = vu_msg_send(c->sock, &m, NULL, 0);
	if (ret)
		return ret;
	ret = recv_reply(c, VHOST_USER_GET_CONFIG, &m, 0);
	if (ret)
		return ret;
	/* The back end reports failure with a shorter (empty) payload. */
	if (m.hdr.size != size || m.payload.config.size != len) {
		vblk_err("vhost-user: GET_CONFIG failed (reply of %u bytes)", m.hdr.size);
		return -EIO;
	}
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
	ret = vu_msg_send(c->sock, &m, NULL, 0);
	if (!ret)
		ret =
		    recv_reply(c, VHOST_USER_GET_VRING_BASE, &m, sizeof(struct vhost_vring_state));
	if (ret)
		return ret;
	if (m.payload.state.index != idx)
		return -EPROTO;
	*base = m.payload.state.num;
	return 0;
}
