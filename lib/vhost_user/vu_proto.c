/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user protocol on the back-end side (QEMU docs/interop/
 * vhost-user.rst "Front-end message types"): one contract and one handler
 * per request.
 *
 * The contract table says, for every request we implement, the payload
 * size (exact, or a fixed part plus a shape function that derives the exact
 * size and fd count from it), how many fds it carries, which vring index it
 * names and whether it has a reply of its own. vu_dispatch() checks all of
 * that once, before any handler runs; a handler only ever sees a payload
 * dispatch proved, and every copy out of a message is bounded by it.
 *
 * Error policy (vhost-user.rst "Message Specification"): a message of the
 * wrong size, with missing fds, naming a vring that does not exist, or of a
 * type we do not implement breaks the protocol: VU_DROP, we hang up. A
 * well-formed request we cannot honour (a ring outside guest memory, an
 * mmap failure) is VU_NACK with an errno: a nonzero REPLY_ACK when the
 * front end asked for one, a log line otherwise. A malformed ring breaks
 * only its own queue (vu_queue.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vblk/spec/virtio_types.h>

#include "internal/compiler.h"
#include "internal/log.h"
#include "vu_msg.h"
#include "vu_server_priv.h"

/*
 * Ring features implemented by vq_dev, offered on top of the device's own:
 * both layouts (virtio 1.3 §2.7 split, §2.8 packed) sit behind vq_dev_*.
 */
#define VU_RING_FEATURES                                                                           \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |                     \
	 VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_RING_PACKED))

/*
 * Protocol features we implement. INFLIGHT_SHMFD (vhost-user.rst "Inflight
 * I/O tracking") lets QEMU reconnect to a restarted vblkd without losing or
 * failing the requests the dead one had popped. LOG_SHMFD ("Migration")
 * lets it migrate the guest: it shares its dirty log by fd (vu_log.c).
 * BACKEND_REQ gives us the channel that tells the front end of a resize
 * (vu_backend.c). CONFIGURE_MEM_SLOTS lifts the 8-region limit of
 * SET_MEM_TABLE: memory hotplug.
 */
#define VU_PROTOCOL_FEATURES                                                                       \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |      \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) |                                                \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |                                        \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD) |                                             \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_BACKEND_REQ) |                                           \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))

/* What a handler decided. */
enum vu_verdict {
	VU_OK,	 /* done (and replied, if the request has a reply) */
	VU_NACK, /* well formed, not honoured: req->err says why */
	VU_DROP, /* the front end broke the protocol, or the reply could not be sent */
};

/* One request as dispatch proved it. */
struct vu_req {
	const struct vhost_user_msg *msg;  /* its header; the payload is p */
	const union vhost_user_payload *p; /* an aligned copy, hdr.size bytes valid, rest zero */
	int *fds; /* exactly the fds the contract says; a handler that keeps one sets it to -1 */
	unsigned nfds;
	struct vu_queue *q; /* the vring the request names, when its contract has one */
	int err;	    /* VU_NACK: a positive errno */
};

/* Where a request names its vring. */
enum vu_ring_ref {
	RING_NONE,
	RING_STATE, /* struct vhost_vring_state.index */
	RING_ADDR,  /* struct vhost_vring_addr.index */
	RING_FD,    /* u64 bits 0-7 (SET_VRING_KICK/CALL/ERR) */
};

typedef enum vu_verdict vu_handler_fn(struct vu_server *srv, struct vu_req *r);

/*
 * The exact payload size and fd count of a variable-size request, derived
 * from its fixed part (which dispatch has proved present). false: the fixed
 * part itself is out of range (logged).
 */
typedef bool vu_shape_fn(uint32_t request, const union vhost_user_payload *p, uint32_t *size,
			 unsigned *fds);

struct vu_contract {
	vu_handler_fn *fn;
	uint32_t size;	    /* exact payload size; with shape, the fixed part */
	vu_shape_fn *shape; /* NULL: size and fds are exact */
	unsigned fds;	    /* fds carried (surplus ones are closed) */
	bool fds_exact;	    /* surplus fds break the protocol too */
	enum vu_ring_ref ring;
	bool has_reply; /* sends its own reply: REPLY_ACK does not apply */
};

static enum vu_verdict nack(struct vu_req *r, int err)
{
	r->err = err;
	return VU_NACK;
}

/* VU_OK, or VU_NACK with -ret. */
static enum vu_verdict verdict_of(struct vu_req *r, int ret)
{
	return ret ? nack(r, -ret) : VU_OK;
}

static enum vu_verdict send_reply(struct vu_server *srv, uint32_t request, const void *payload,
				  uint32_t size)
{
	struct vhost_user_msg m;
	int ret;

	/* Our own replies: size is a sizeof() or a config size dispatch bounded. */
	if (size > sizeof(m.payload))
		return VU_DROP;
	m.hdr.request = request;
	m.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	m.hdr.size = size;
	memcpy(&m.payload, payload, size);
	ret = vu_conn_send(srv, &m, NULL, 0);
	if (ret) {
		log_warn("%s: cannot send reply: %s", vu_msg_name(request), strerror(-ret));
		return VU_DROP;
	}
	return VU_OK;
}

static enum vu_verdict send_u64(struct vu_server *srv, uint32_t request, uint64_t v)
{
	return send_reply(srv, request, &v, sizeof(v));
}

/*
 * VHOST_F_LOG_ALL (vhost-user.rst "Migration"): we mark every page we write
 * while it is negotiated (vu_log.c).
 */
uint64_t vu_offered_features(const struct vu_server *srv)
{
	return srv->ops->get_features(srv->dev) | VU_RING_FEATURES |
	       VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES) | VIRTIO_BIT(VHOST_F_LOG_ALL);
}

/* ------------------------------------------------------------------------ */
/* Shapes of the variable-size requests                                     */

/* vhost-user.rst "Memory regions description": nregions regions, one fd each. */
static bool shape_mem_table(uint32_t request, const union vhost_user_payload *p, uint32_t *size,
			    unsigned *fds)
{
	uint32_t n = p->memory.nregions;

	if (n < 1 || n > VHOST_USER_MEMORY_BASELINE_NREGIONS) {
		log_warn("SET_MEM_TABLE: %u regions (1..%u)", n,
			 VHOST_USER_MEMORY_BASELINE_NREGIONS);
		return false;
	}
	*size = (uint32_t)offsetof(struct vhost_user_memory, regions) +
		n * (uint32_t)sizeof(struct vhost_user_memory_region);
	*fds = n;
	return true;
}

/*
 * vhost-user.rst "Device configuration space": a header and size bytes of
 * config. A size past the largest config space is a protocol violation,
 * whatever the header size says; the range within the device's own config
 * space is the handler's (a NACK, not a drop).
 */
static bool shape_config(uint32_t request, const union vhost_user_payload *p, uint32_t *size,
			 unsigned *fds)
{
	uint32_t n = p->config.size;

	if (n > VHOST_USER_MAX_CONFIG_SIZE) {
		log_warn("%s: config size %u (at most %u)", vu_msg_name(request), n,
			 VHOST_USER_MAX_CONFIG_SIZE);
		return false;
	}
	*size = (uint32_t)VHOST_USER_CONFIG_HDR_SIZE + n;
	*fds = 0;
	return true;
}

/* SET_VRING_KICK/CALL/ERR: index in bits 0-7, bit 8 set when no fd rides along. */
static bool shape_vring_fd(uint32_t request, const union vhost_user_payload *p, uint32_t *size,
			   unsigned *fds)
{
	uint64_t u = p->u64;

	if (u & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
		log_warn("%s: unknown bits in %#llx", vu_msg_name(request), (unsigned long long)u);
		return false;
	}
	*size = sizeof(u);
	*fds = (u & VHOST_USER_VRING_NOFD_MASK) ? 0 : 1;
	return true;
}

/* ------------------------------------------------------------------------ */
/* One handler per request                                                  */

static enum vu_verdict h_get_features(struct vu_server *srv, struct vu_req *r)
{
	return send_u64(srv, r->msg->hdr.request, vu_offered_features(srv));
}

static enum vu_verdict h_set_features(struct vu_server *srv, struct vu_req *r)
{
	uint64_t f = r->p->u64;

	if (f & ~vu_offered_features(srv)) {
		log_warn("SET_FEATURES: bits %#llx were never offered",
			 (unsigned long long)(f & ~vu_offered_features(srv)));
		return VU_DROP;
	}
	/*
	 * EVENT_IDX / INDIRECT_DESC, the enable rule and LOG_ALL change how
	 * rings run. QEMU toggles LOG_ALL on running rings during migration:
	 * stop and start keeps their position (vu_queue.c).
	 */
	vu_queues_stop(srv);
	srv->features = f;
	srv->ops->set_features(srv->dev, f & ~(VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES) |
					       VIRTIO_BIT(VHOST_F_LOG_ALL)));
	return verdict_of(r, vu_queues_update(srv));
}

static enum vu_verdict h_get_protocol_features(struct vu_server *srv, struct vu_req *r)
{
	return send_u64(srv, r->msg->hdr.request, VU_PROTOCOL_FEATURES);
}

static enum vu_verdict h_set_protocol_features(struct vu_server *srv, struct vu_req *r)
{
	uint64_t f = r->p->u64;

	if (f & ~(uint64_t)VU_PROTOCOL_FEATURES) {
		log_warn("SET_PROTOCOL_FEATURES: bits %#llx were never offered",
			 (unsigned long long)(f & ~(uint64_t)VU_PROTOCOL_FEATURES));
		return VU_DROP;
	}
	srv->protocol_features = f;
	return VU_OK;
}

static enum vu_verdict h_set_owner(struct vu_server *srv, struct vu_req *r)
{
	return VU_OK;
}

/* vhost-user.rst "VHOST_USER_RESET_OWNER" (deprecated): forget the rings and features. */
static enum vu_verdict h_reset_owner(struct vu_server *srv, struct vu_req *r)
{
	for (unsigned i = 0; i < srv->nqueues; i++)
		vu_queue_reset(&srv->queues[i]);
	srv->features = 0;
	srv->ops->set_features(srv->dev, 0);
	return VU_OK;
}

static enum vu_verdict h_set_mem_table(struct vu_server *srv, struct vu_req *r)
{
	return verdict_of(r, vu_mem_set_table(srv, &r->p->memory, r->fds));
}

/*
 * vhost-user.rst "VHOST_USER_GET_MAX_MEM_SLOTS": how many regions
 * SET_MEM_TABLE and ADD_MEM_REG may build up together (vq_mem.h says why
 * this many).
 */
static enum vu_verdict h_get_max_mem_slots(struct vu_server *srv, struct vu_req *r)
{
	return send_u64(srv, r->msg->hdr.request, VQ_MEM_MAX_REGIONS);
}

/* vhost-user.rst "VHOST_USER_ADD_MEM_REG": one region and its fd. */
static enum vu_verdict h_add_mem_reg(struct vu_server *srv, struct vu_req *r)
{
	return verdict_of(r, vu_mem_add_region(srv, &r->p->mem_reg.region, r->fds[0]));
}

/*
 * vhost-user.rst "VHOST_USER_REM_MEM_REG": no fd should come along, but
 * for front ends that send the region's fd anyway the spec lets us accept
 * one and close it unused (the contract takes it as a surplus fd, closed by
 * dispatch).
 */
static enum vu_verdict h_rem_mem_reg(struct vu_server *srv, struct vu_req *r)
{
	return verdict_of(r, vu_mem_rem_region(srv, &r->p->mem_reg.region));
}

static enum vu_verdict h_set_vring_num(struct vu_server *srv, struct vu_req *r)
{
	const struct vhost_vring_state *s = &r->p->state;
	struct vu_queue *q = r->q;
	bool packed = vu_ring_packed(srv);

	/* virtio 1.3 §2.7: a split ring's size is a power of two; §2.8: not so a packed one. */
	if (s->num == 0 || s->num > VQ_DEV_MAX_SIZE || (!packed && (s->num & (s->num - 1)))) {
		log_warn("SET_VRING_NUM: queue %u: size %u (1..%u%s)", s->index, s->num,
			 VQ_DEV_MAX_SIZE, packed ? "" : ", a power of two");
		return nack(r, EINVAL);
	}
	vu_queue_stop(q);
	if (vu_queue_reinit_ring(q, s->num))
		return nack(r, EINVAL);
	return verdict_of(r, vu_queue_update(q));
}

static enum vu_verdict h_set_vring_addr(struct vu_server *srv, struct vu_req *r)
{
	const struct vhost_vring_addr *a = &r->p->addr;
	struct vu_queue *q = r->q;

	/*
	 * vhost-user.rst "Dirty page logging": VHOST_VRING_F_LOG asks us to log
	 * the used ring at log_guest_addr. QEMU sends it for running rings when
	 * migration starts; stop and start keeps their position.
	 */
	if (a->flags & ~VIRTIO_BIT(VHOST_VRING_F_LOG)) {
		log_warn("SET_VRING_ADDR: queue %u: unknown flags %#x", a->index, a->flags);
		return nack(r, EINVAL);
	}
	vu_queue_stop(q);
	q->addr_flags = a->flags;
	q->log_guest_addr = a->log_guest_addr;
	q->desc_uva = a->desc_user_addr;
	q->avail_uva = a->avail_user_addr;
	q->used_uva = a->used_user_addr;
	q->addr_set = true;
	/* Check the areas against guest memory as soon as they can be checked. */
	if (srv->have_mem && q->num) {
		struct vq_dev_areas areas;
		int ret = vu_queue_map(q, &areas);

		if (ret) {
			q->addr_set = false;
			return nack(r, -ret);
		}
	}
	return verdict_of(r, vu_queue_update(q));
}

static enum vu_verdict h_set_vring_base(struct vu_server *srv, struct vu_req *r)
{
	const struct vhost_vring_state *s = &r->p->state;

	/*
	 * vhost-user.rst: a split ring's base is a 16-bit index; a packed
	 * ring's uses all 32 bits (checked against the ring when it starts).
	 */
	if (!vu_ring_packed(srv) && s->num > UINT16_MAX) {
		log_warn("SET_VRING_BASE: queue %u: base %u", s->index, s->num);
		return nack(r, EINVAL);
	}
	vu_queue_stop(r->q);
	r->q->base = s->num;
	return verdict_of(r, vu_queue_update(r->q));
}

/*
 * vhost-user.rst "VHOST_USER_GET_VRING_BASE": stop the ring and report the
 * next avail index. We let the in-flight requests finish first, so the index
 * is exact: everything before it has been completed and pushed (and, while
 * migrating, marked in the dirty log, which QEMU reads for the last time
 * after this reply: vhost-user.rst "Migration"). The ring then stays
 * stopped until a new SET_VRING_KICK.
 */
static enum vu_verdict h_get_vring_base(struct vu_server *srv, struct vu_req *r)
{
	struct vhost_vring_state s = r->p->state;
	struct vu_queue *q = r->q;

	vu_queue_stop(q);
	vu_close_fd(&q->kick_fd);
	/* A fresh vq_dev: a broken ring gets another chance after the next start. */
	if (q->num && vu_queue_reinit_ring(q, q->num))
		return VU_DROP;
	atomic_store(&q->broken, false);
	s.num = q->base;
	return send_reply(srv, r->msg->hdr.request, &s, sizeof(s));
}

/*
 * SET_VRING_KICK/CALL/ERR: the fd (or none, -1) replaces the queue's *slot.
 * It must be an eventfd (vu_check_eventfd). The queue thread uses all three:
 * swap only while it is stopped.
 */
static enum vu_verdict set_vring_fd(struct vu_req *r, int *slot)
{
	struct vu_queue *q = r->q;
	int fd = -1;

	if (r->nfds) {
		if (vu_check_eventfd(r->fds[0], vu_msg_name(r->msg->hdr.request)))
			return nack(r, EINVAL);
		fd = r->fds[0];
		r->fds[0] = -1;
	}
	vu_queue_stop(q);
	vu_close_fd(slot);
	*slot = fd;
	/* A ring that broke while no err fd was set still gets reported. */
	if (slot == &q->err_fd && atomic_load(&q->broken))
		vu_queue_report_broken(q);
	return verdict_of(r, vu_queue_update(q));
}

static enum vu_verdict h_set_vring_kick(struct vu_server *srv, struct vu_req *r)
{
	if (!r->nfds) {
		/* Polling mode (no kick fd) is not implemented. */
		log_warn("SET_VRING_KICK: queue %u: polling mode is not supported", r->q->index);
		return nack(r, ENOTSUP);
	}
	return set_vring_fd(r, &r->q->kick_fd);
}

static enum vu_verdict h_set_vring_call(struct vu_server *srv, struct vu_req *r)
{
	return set_vring_fd(r, &r->q->call_fd);
}

static enum vu_verdict h_set_vring_err(struct vu_server *srv, struct vu_req *r)
{
	return set_vring_fd(r, &r->q->err_fd);
}

static enum vu_verdict h_get_queue_num(struct vu_server *srv, struct vu_req *r)
{
	return send_u64(srv, r->msg->hdr.request, srv->nqueues);
}

static enum vu_verdict h_set_vring_enable(struct vu_server *srv, struct vu_req *r)
{
	const struct vhost_vring_state *s = &r->p->state;

	if (s->num > 1) {
		log_warn("SET_VRING_ENABLE: queue %u: value %u", s->index, s->num);
		return nack(r, EINVAL);
	}
	r->q->enabled = s->num;
	return verdict_of(r, vu_queue_update(r->q));
}

/*
 * Read the device's config space into space (VHOST_USER_MAX_CONFIG_SIZE
 * bytes) and check the request's range against it. 0 or -EINVAL (logged).
 */
static int config_range(struct vu_server *srv, const struct vu_req *r, uint8_t *space)
{
	const struct vhost_user_config *c = &r->p->config;
	uint32_t n;

	memset(space, 0, VHOST_USER_MAX_CONFIG_SIZE);
	n = VBLK_MIN(srv->ops->get_config(srv->dev, space), (uint32_t)VHOST_USER_MAX_CONFIG_SIZE);
	if (c->offset > n || c->size > n - c->offset) {
		log_warn("%s: bytes %u+%u outside the %u-byte config space",
			 vu_msg_name(r->msg->hdr.request), c->offset, c->size, n);
		return -EINVAL;
	}
	return 0;
}

/*
 * vhost-user.rst "VHOST_USER_GET_CONFIG": reply with the same offset, size
 * and flags and the bytes asked for; an empty reply says it failed.
 */
static enum vu_verdict h_get_config(struct vu_server *srv, struct vu_req *r)
{
	uint8_t space[VHOST_USER_MAX_CONFIG_SIZE];
	struct vhost_user_config c;
	uint32_t hdr = (uint32_t)VHOST_USER_CONFIG_HDR_SIZE;

	memcpy(&c, &r->p->config, hdr);
	if (config_range(srv, r, space))
		return send_reply(srv, r->msg->hdr.request, &c, 0);
	/* c.size <= VHOST_USER_MAX_CONFIG_SIZE (shape_config) and within space (config_range). */
	memcpy(c.region, space + c.offset, c.size);
	return send_reply(srv, r->msg->hdr.request, &c, hdr + c.size);
}

static enum vu_verdict h_set_config(struct vu_server *srv, struct vu_req *r)
{
	uint8_t space[VHOST_USER_MAX_CONFIG_SIZE];
	const struct vhost_user_config *c = &r->p->config;
	int ret = config_range(srv, r, space);

	if (ret)
		return nack(r, -ret);
	return verdict_of(r, srv->ops->set_config(srv->dev, c->offset, c->region, c->size));
}

/*
 * Check a GET/SET_INFLIGHT_FD payload against what we serve: at most our
 * queue count, and a ring size SET_VRING_NUM would accept.
 */
static enum vu_verdict inflight_check(struct vu_server *srv, struct vu_req *r, bool packed)
{
	const struct vhost_user_inflight *in = &r->p->inflight;
	unsigned qs = in->queue_size;

	if (!(srv->protocol_features & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))) {
		log_warn("%s without VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD",
			 vu_msg_name(r->msg->hdr.request));
		return VU_DROP;
	}
	/* §2.7: a split ring's size is a power of two; §2.8 does not ask it of a packed one. */
	if (in->num_queues < 1 || in->num_queues > srv->nqueues || qs == 0 ||
	    qs > VQ_DEV_MAX_SIZE || (!packed && (qs & (qs - 1)))) {
		log_warn("%s: %u queues of %u entries (we serve 1..%u queues of 1..%u, for a "
			 "split ring a power of two)",
			 vu_msg_name(r->msg->hdr.request), in->num_queues, qs, srv->nqueues,
			 VQ_DEV_MAX_SIZE);
		return nack(r, EINVAL);
	}
	return VU_OK;
}

/*
 * vhost-user.rst "VHOST_USER_GET_INFLIGHT_FD": allocate a zeroed shared
 * region for num_queues rings of queue_size entries and return its fd. We
 * use it ourselves at once (as libvhost-user does); the front end hands it
 * back with SET_INFLIGHT_FD, after our restart too. A request we cannot
 * honour gets mmap_size 0 and no fd, which QEMU takes as "no tracking".
 *
 * The layout (split or packed, "Inflight I/O tracking") follows the features
 * negotiated so far: QEMU sends SET_FEATURES first (vhost_user_blk_start ->
 * vhost_dev_prepare_inflight, then vhost_dev_get_inflight), as DPDK's
 * back end also expects. Before any SET_FEATURES it is the split layout, and
 * a packed ring negotiated later runs untracked (vu_queue.c).
 */
static enum vu_verdict h_get_inflight_fd(struct vu_server *srv, struct vu_req *r)
{
	const struct vhost_user_inflight *in = &r->p->inflight;
	bool packed = vu_ring_packed(srv);
	struct vhost_user_msg m;
	enum vu_verdict v = inflight_check(srv, r, packed);
	uint64_t size =
	    (uint64_t)in->num_queues * vq_dev_inflight_size_ring(in->queue_size, packed);
	int fd = -1, ret = v == VU_OK ? 0 : -EINVAL;

	if (v == VU_DROP)
		return v;
	if (!ret) {
		/* ftruncate makes it zeroed; the seals keep its size fixed for whoever maps it. */
		fd = memfd_create("vblk-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, (off_t)size) ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL))
			ret = -errno;
		if (!ret)
			ret = vu_inflight_install(srv, fd, 0, size, in->num_queues, in->queue_size,
						  packed);
		if (ret)
			log_warn("GET_INFLIGHT_FD: cannot set up %llu bytes: %s",
				 (unsigned long long)size, strerror(-ret));
	}
	memset(&m, 0, sizeof(m));
	m.hdr.request = r->msg->hdr.request;
	m.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	m.hdr.size = sizeof(*in);
	m.payload.inflight.mmap_size = ret ? 0 : size;
	m.payload.inflight.mmap_offset = 0;
	m.payload.inflight.num_queues = in->num_queues;
	m.payload.inflight.queue_size = in->queue_size;
	ret = vu_conn_send(srv, &m, &fd, ret || fd < 0 ? 0 : 1);
	if (fd >= 0)
		close(fd);
	if (ret) {
		log_warn("GET_INFLIGHT_FD: cannot send reply: %s", strerror(-ret));
		return VU_DROP;
	}
	return VU_OK;
}

/*
 * vhost-user.rst "VHOST_USER_SET_INFLIGHT_FD": the region of an earlier
 * GET_INFLIGHT_FD (ours, or our predecessor's). The size must be exactly
 * what GET would have returned for these queues in one of the two layouts,
 * and says which (the packed size is twice the split one); each queue's
 * start checks the layout tag in its region header as well. The fd must
 * really hold offset + size bytes: touching a mapping beyond the end of a
 * file is a SIGBUS, not an error code.
 */
static enum vu_verdict h_set_inflight_fd(struct vu_server *srv, struct vu_req *r)
{
	const struct vhost_user_inflight *in = &r->p->inflight;
	bool packed = in->mmap_size ==
		      (uint64_t)in->num_queues * vq_dev_inflight_size_ring(in->queue_size, true);
	enum vu_verdict v = inflight_check(srv, r, packed);
	uint64_t want, split;
	int ret;

	if (v != VU_OK)
		return v;
	want = (uint64_t)in->num_queues * vq_dev_inflight_size_ring(in->queue_size, packed);
	split = (uint64_t)in->num_queues * vq_dev_inflight_size_ring(in->queue_size, false);
	if (in->mmap_size != want || in->mmap_offset > SIZE_MAX - want || in->mmap_offset % 8) {
		log_warn("SET_INFLIGHT_FD: %llu bytes at offset %llu; %u queues of %u need %llu "
			 "(split layout) or %llu (packed) at an 8-byte aligned offset",
			 (unsigned long long)in->mmap_size, (unsigned long long)in->mmap_offset,
			 in->num_queues, in->queue_size, (unsigned long long)split,
			 (unsigned long long)split * 2);
		return nack(r, EINVAL);
	}
	ret = vu_fd_covers(r->fds[0], in->mmap_offset + want, "SET_INFLIGHT_FD");
	if (!ret)
		ret = vu_inflight_install(srv, r->fds[0], in->mmap_offset, want, in->num_queues,
					  in->queue_size, packed);
	if (ret)
		log_warn("SET_INFLIGHT_FD: %s", strerror(-ret));
	return verdict_of(r, ret);
}

/*
 * vhost-user.rst "VHOST_USER_SET_LOG_BASE", with LOG_SHMFD: the log is size
 * bytes at offset of the fd (vu_log_install checks and maps it). The front
 * end always waits for a reply (QEMU reads one whatever REPLY_ACK says and
 * ignores its payload, which the spec leaves undefined: libvhost-user echoes
 * the size, DPDK sends none). Ours is a u64, 0 or the errno of a log we
 * could not take. Without LOG_SHMFD the
 * request belongs to the kernel's vhost and is a protocol violation here.
 */
static enum vu_verdict h_set_log_base(struct vu_server *srv, struct vu_req *r)
{
	const struct vhost_user_log *l = &r->p->log;
	int ret;

	if (!(srv->protocol_features & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD))) {
		log_warn("SET_LOG_BASE without VHOST_USER_PROTOCOL_F_LOG_SHMFD");
		return VU_DROP;
	}
	ret = vu_log_install(srv, r->fds[0], l->mmap_size, l->mmap_offset);
	if (ret)
		log_warn("SET_LOG_BASE failed: %s", strerror(-ret));
	return send_u64(srv, r->msg->hdr.request, ret ? (uint64_t)-ret : 0);
}

/*
 * vhost-user.rst "VHOST_USER_SET_LOG_FD": an eventfd for the back end to
 * signal after it updated the log. We keep it (and close the previous
 * one); the front end reads the log at its own sync points anyway, so we
 * do not signal it (QEMU 7.2 never sends it).
 */
static enum vu_verdict h_set_log_fd(struct vu_server *srv, struct vu_req *r)
{
	if (vu_check_eventfd(r->fds[0], "SET_LOG_FD"))
		return nack(r, EINVAL);
	vu_close_fd(&srv->log.call_fd);
	srv->log.call_fd = r->fds[0];
	r->fds[0] = -1;
	return VU_OK;
}

/*
 * vhost-user.rst "VHOST_USER_SET_BACKEND_REQ_FD": only with
 * VHOST_USER_PROTOCOL_F_BACKEND_REQ negotiated; the fd's kind is checked
 * (vu_backend_set_fd) and a refused one leaves the older channel in place.
 */
static enum vu_verdict h_set_backend_req_fd(struct vu_server *srv, struct vu_req *r)
{
	int ret;

	if (!(srv->protocol_features & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_BACKEND_REQ))) {
		log_warn("SET_BACKEND_REQ_FD without VHOST_USER_PROTOCOL_F_BACKEND_REQ");
		return VU_DROP;
	}
	ret = vu_backend_set_fd(srv, r->fds[0]);
	if (!ret)
		r->fds[0] = -1;
	return verdict_of(r, ret);
}

/* ------------------------------------------------------------------------ */
/* The contract table and dispatch                                          */

#define U64   sizeof(uint64_t)
#define STATE sizeof(struct vhost_vring_state)

static const struct vu_contract vu_contracts[VHOST_USER_MAX] = {
    [VHOST_USER_GET_FEATURES] = {.fn = h_get_features, .size = 0, .has_reply = true},
    [VHOST_USER_SET_FEATURES] = {.fn = h_set_features, .size = U64},
    [VHOST_USER_SET_OWNER] = {.fn = h_set_owner, .size = 0},
    [VHOST_USER_RESET_OWNER] = {.fn = h_reset_owner, .size = 0},
    [VHOST_USER_SET_MEM_TABLE] = {.fn = h_set_mem_table,
				  .size = offsetof(struct vhost_user_memory, regions),
				  .shape = shape_mem_table,
				  .fds_exact = true},
    [VHOST_USER_SET_VRING_NUM] = {.fn = h_set_vring_num, .size = STATE, .ring = RING_STATE},
    [VHOST_USER_SET_VRING_ADDR] = {.fn = h_set_vring_addr,
				   .size = sizeof(struct vhost_vring_addr),
				   .ring = RING_ADDR},
    [VHOST_USER_SET_VRING_BASE] = {.fn = h_set_vring_base, .size = STATE, .ring = RING_STATE},
    [VHOST_USER_GET_VRING_BASE] = {.fn = h_get_vring_base,
				   .size = STATE,
				   .ring = RING_STATE,
				   .has_reply = true},
    [VHOST_USER_SET_VRING_KICK] = {.fn = h_set_vring_kick,
				   .size = U64,
				   .shape = shape_vring_fd,
				   .ring = RING_FD},
    [VHOST_USER_SET_VRING_CALL] = {.fn = h_set_vring_call,
				   .size = U64,
				   .shape = shape_vring_fd,
				   .ring = RING_FD},
    [VHOST_USER_SET_VRING_ERR] = {.fn = h_set_vring_err,
				  .size = U64,
				  .shape = shape_vring_fd,
				  .ring = RING_FD},
    [VHOST_USER_GET_PROTOCOL_FEATURES] = {.fn = h_get_protocol_features,
					  .size = 0,
					  .has_reply = true},
    [VHOST_USER_SET_PROTOCOL_FEATURES] = {.fn = h_set_protocol_features, .size = U64},
    [VHOST_USER_GET_QUEUE_NUM] = {.fn = h_get_queue_num, .size = 0, .has_reply = true},
    [VHOST_USER_SET_VRING_ENABLE] = {.fn = h_set_vring_enable, .size = STATE, .ring = RING_STATE},
    [VHOST_USER_GET_CONFIG] = {.fn = h_get_config,
			       .size = VHOST_USER_CONFIG_HDR_SIZE,
			       .shape = shape_config,
			       .has_reply = true},
    [VHOST_USER_SET_CONFIG] = {.fn = h_set_config,
			       .size = VHOST_USER_CONFIG_HDR_SIZE,
			       .shape = shape_config},
    [VHOST_USER_GET_INFLIGHT_FD] = {.fn = h_get_inflight_fd,
				    .size = sizeof(struct vhost_user_inflight),
				    .has_reply = true},
    [VHOST_USER_SET_INFLIGHT_FD] = {.fn = h_set_inflight_fd,
				    .size = sizeof(struct vhost_user_inflight),
				    .fds = 1},
    [VHOST_USER_SET_LOG_BASE] = {.fn = h_set_log_base,
				 .size = sizeof(struct vhost_user_log),
				 .fds = 1,
				 .has_reply = true},
    [VHOST_USER_SET_LOG_FD] = {.fn = h_set_log_fd, .size = 0, .fds = 1},
    [VHOST_USER_SET_BACKEND_REQ_FD] = {.fn = h_set_backend_req_fd,
				       .size = 0,
				       .fds = 1,
				       .fds_exact = true},
    [VHOST_USER_GET_MAX_MEM_SLOTS] = {.fn = h_get_max_mem_slots, .size = 0, .has_reply = true},
    [VHOST_USER_ADD_MEM_REG] = {.fn = h_add_mem_reg,
				.size = sizeof(struct vhost_user_mem_reg),
				.fds = 1,
				.fds_exact = true},
    [VHOST_USER_REM_MEM_REG] = {.fn = h_rem_mem_reg, .size = sizeof(struct vhost_user_mem_reg)},
};

/* The vring index a request names (its contract says where). */
static uint32_t ring_index(const union vhost_user_payload *p, enum vu_ring_ref ref)
{
	switch (ref) {
	case RING_STATE:
		return p->state.index;
	case RING_ADDR:
		return p->addr.index;
	case RING_FD:
		return (uint32_t)(p->u64 & VHOST_USER_VRING_IDX_MASK);
	case RING_NONE:
		break;
	}
	return 0;
}

/*
 * Prove msg against its contract: payload size, fd count, vring index.
 * Fills r; surplus fds (where allowed) are closed here. false: drop.
 */
static bool check_contract(struct vu_server *srv, const struct vu_contract *c,
			   const struct vhost_user_msg *msg, const union vhost_user_payload *p,
			   int *fds, unsigned nfds, struct vu_req *r)
{
	const char *name = vu_msg_name(msg->hdr.request);
	uint32_t size = c->size;
	unsigned want = c->fds;

	/* The fixed part first: a shape function reads only that. */
	if (msg->hdr.size < c->size || (c->shape && !c->shape(msg->hdr.request, p, &size, &want)) ||
	    msg->hdr.size != size || size > sizeof(msg->payload)) {
		log_warn("%s: payload of %u bytes does not match its request (%u)", name,
			 msg->hdr.size, size);
		return false;
	}
	if (nfds < want || (c->fds_exact && nfds != want)) {
		log_warn("%s: %u fds, expected %u", name, nfds, want);
		return false;
	}
	if (nfds > want) {
		log_warn("%s: closing %u surplus fds", name, nfds - want);
		vu_msg_close_fds(fds + want, nfds - want);
	}
	r->msg = msg;
	r->p = p;
	r->fds = fds;
	r->nfds = want;
	r->q = NULL;
	r->err = 0;
	if (c->ring != RING_NONE) {
		uint32_t i = ring_index(p, c->ring);

		if (i >= srv->nqueues) {
			log_warn("%s: vring %u does not exist (%u queues)", name, i, srv->nqueues);
			return false;
		}
		r->q = &srv->queues[i];
	}
	return true;
}

/*
 * Run one message: check it against its contract, run its handler, send
 * the REPLY_ACK if asked. The fds are consumed (taken or closed). Returns
 * false when the connection must be dropped. Requests without a contract
 * (postcopy, IOTLB, ...) belong to features we never offered, so a
 * front end that sends them is out of step: like libvhost-user, we hang up.
 */
bool vu_dispatch(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds, unsigned nfds)
{
	uint32_t req = msg->hdr.request;
	const struct vu_contract *c = req < VHOST_USER_MAX ? &vu_contracts[req] : NULL;
	union vhost_user_payload p;
	struct vu_req r;
	enum vu_verdict v;

	/* An aligned copy (the wire struct is packed); vu_msg_recv bounded hdr.size by it. */
	memset(&p, 0, sizeof(p));
	memcpy(&p, &msg->payload, VBLK_MIN((size_t)msg->hdr.size, sizeof(p)));

	log_dbg("<- %s (%u bytes, %u fds)", vu_msg_name(req), msg->hdr.size, nfds);
	if (!c || !c->fn) {
		log_warn("unsupported request %u (%s): dropping the client", req, vu_msg_name(req));
		vu_msg_close_fds(fds, nfds);
		return false;
	}
	if (!check_contract(srv, c, msg, &p, fds, nfds, &r)) {
		vu_msg_close_fds(fds, nfds);
		return false;
	}
	v = c->fn(srv, &r);
	/* Whatever the handler did not take over is closed. */
	vu_msg_close_fds(r.fds, r.nfds);
	if (v == VU_DROP)
		return false;
	if (v == VU_NACK)
		log_warn("%s failed: %s", vu_msg_name(req), strerror(r.err));
	/* vhost-user.rst "REPLY_ACK": only for requests without a reply of their own. */
	if (!c->has_reply && (msg->hdr.flags & VHOST_USER_NEED_REPLY_MASK) &&
	    (srv->protocol_features & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK)))
		return send_u64(srv, req, v == VU_NACK ? (uint64_t)r.err : 0) == VU_OK;
	return true;
}
