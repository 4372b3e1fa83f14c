/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user back end (QEMU docs/interop/vhost-user.rst), device-neutral.
 *
 * The control thread (the caller of vu_server_run) owns the listening socket,
 * the single client connection and every piece of connection state: the
 * negotiated features, the guest memory table and each queue's configuration
 * (size, addresses, base, kick/call/err fds, enable bit). It handles one
 * message at a time with one handler per request; each handler checks the
 * payload size, the fd count and the vring index before it touches anything.
 *
 * A queue that is started (has a kick fd, a size, addresses and a memory
 * table) and enabled runs on its own thread with its own epoll set: the kick
 * eventfd, the device's completion fd and a stop eventfd. Nothing on the data
 * path takes a lock: the control thread changes a queue's configuration only
 * while that queue's thread does not exist. Every reconfiguration of a
 * running queue (new call fd, new memory table, GET_VRING_BASE, disable, ...)
 * is therefore "stop, change, start again", where stop means: the thread
 * stops popping, keeps completing until nothing is in flight, and exits; the
 * control thread joins it. The ring indices live in struct vq_dev and survive
 * a stop/start, so no request is lost or repeated.
 *
 * Error policy (vhost-user.rst "Message Specification", SPEC-NOTES.md):
 * a message of the wrong size, with missing fds, naming a vring that does not
 * exist, or of a type we do not implement, drops the connection. A message
 * that is well formed but cannot be honoured (a ring outside guest memory, an
 * mmap failure) is refused with a nonzero REPLY_ACK when the front end asked
 * for one, and logged otherwise. A malformed ring breaks only its own queue.
 */
#include "vu_server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <vblk/spec/vhost_user.h>
#include <vblk/spec/virtio_types.h>

#include "internal/compiler.h"
#include "internal/log.h"
#include "vu_msg.h"

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
 * failing the requests the dead one had popped.
 */
#define VU_PROTOCOL_FEATURES                                                                       \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |      \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) |                                                \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))

/* A handler's verdict besides 0 / -errno: the peer broke the protocol, hang up. */
#define VU_DROP 1

/*
 * A front end that stops in the middle of a message must not hang the
 * control thread (and with it SIGTERM handling) forever.
 */
#define VU_IO_TIMEOUT_SEC 10

enum { EV_LISTEN = 1, EV_CONN, EV_STOP };
enum { QEV_KICK = 1, QEV_STOP, QEV_DEV };

struct vu_map {
	void *addr;
	size_t len;
};

/*
 * The inflight region of the connection (GET/SET_INFLIGHT_FD): num_queues
 * consecutive per-queue regions of stride bytes, each for a ring of
 * queue_size entries, in the split or the packed layout of vhost-user.rst
 * "Inflight I/O tracking". The front end keeps the memory across our
 * restarts.
 */
struct vu_inflight {
	struct vu_map map; /* our mapping, from offset 0 of the fd */
	uint8_t *base;	   /* map.addr + mmap_offset */
	size_t stride;	   /* vq_dev_inflight_size_ring(queue_size, packed) */
	bool packed;	   /* the packed layout */
	uint16_t num_queues;
	uint16_t queue_size;
};

struct vu_queue {
	struct vu_server *srv;
	unsigned index;
	struct vq_dev vq;

	/* Configuration: control thread only, changed while the thread is stopped. */
	unsigned num; /* 0 until SET_VRING_NUM */
	bool addr_set;
	uint64_t desc_uva, avail_uva, used_uva;
	/*
	 * SET/GET_VRING_BASE: split, the next avail index; packed, the 32-bit
	 * encoding of vq_types.h (vhost-user.rst "Vring descriptor indices for
	 * packed virtqueues").
	 */
	uint32_t base;
	int kick_fd, call_fd, err_fd;
	bool enabled; /* SET_VRING_ENABLE */

	/* Set by the queue thread; the control thread reads it after the join. */
	bool broken;

	/* Running state. */
	bool running;
	pthread_t thread;
	int stop_fd;
	int epfd;
	void *qdev;
	bool pushed; /* queue thread: pushes since the last notify decision */
};

struct vu_server {
	const struct vu_dev_ops *ops;
	void *dev;
	int listen_fd;
	int conn_fd;
	int epfd;
	int stop_fd;
	unsigned nqueues;
	struct vu_queue *queues;

	uint64_t features;	    /* SET_FEATURES */
	uint64_t protocol_features; /* SET_PROTOCOL_FEATURES */

	bool have_mem;
	struct vq_mem mem;
	struct vu_map maps[VQ_MEM_MAX_REGIONS];

	struct vu_inflight inflight; /* base == NULL: none */
};

/* ------------------------------------------------------------------------ */
/* Queue threads                                                            */

static void queue_notify(struct vu_queue *q)
{
	if (!q->pushed)
		return;
	q->pushed = false;
	/* virtio 1.3 §2.7.10: interrupt only if the driver asked for one. */
	if (vq_dev_need_notify(&q->vq) && q->call_fd >= 0)
		eventfd_write(q->call_fd, 1);
}

static void queue_mark_broken(struct vu_queue *q)
{
	if (q->broken)
		return;
	q->broken = true;
	vblk_warn("queue %u: broken, it takes no more requests%s", q->index,
		  q->err_fd >= 0 ? "; error eventfd signalled" : "");
	/*
	 * vhost-user.rst "VHOST_USER_SET_VRING_ERR": the back end cannot set
	 * DEVICE_NEEDS_RESET itself; it reports a broken ring on this eventfd.
	 */
	if (q->err_fd >= 0)
		eventfd_write(q->err_fd, 1);
}

int vu_queue_pop(struct vu_queue *q, struct vq_dev_elem *elem, struct iovec *iov, unsigned iov_max)
{
	int r;

	if (q->broken)
		return 0;
	r = vq_dev_pop(&q->vq, elem, iov, iov_max);
	if (r < 0) {
		/* vq_dev has logged why (once); it returns only -EIO. */
		queue_mark_broken(q);
		return -EIO;
	}
	return r;
}

void vu_queue_push(struct vu_queue *q, uint16_t head, uint32_t used_len)
{
	vq_dev_push(&q->vq, head, used_len);
	q->pushed = true;
}

void vu_queue_disable_kicks(struct vu_queue *q)
{
	vq_dev_disable_kicks(&q->vq);
}

bool vu_queue_enable_kicks(struct vu_queue *q)
{
	return vq_dev_enable_kicks(&q->vq);
}

void vu_queue_set_broken(struct vu_queue *q, const char *why)
{
	vq_dev_set_broken(&q->vq, why);
	queue_mark_broken(q);
}

unsigned vu_queue_index(const struct vu_queue *q)
{
	return q->index;
}

static void drain_eventfd(int fd)
{
	eventfd_t v;

	/* Our own stop eventfd is non-blocking; a kick fd is read only when epoll says readable. */
	(void)eventfd_read(fd, &v);
}

static void *queue_thread(void *arg)
{
	struct vu_queue *q = arg;
	const struct vu_dev_ops *ops = q->srv->ops;
	int dev_fd = ops->queue_fd(q->qdev);
	bool stopping = false;

	/*
	 * Buffers may have been made available while the queue was stopped
	 * (a restart after a reconfiguration): look once before sleeping.
	 */
	ops->queue_kick(q->qdev);
	queue_notify(q);
	/*
	 * vhost-user.rst "Inflight I/O tracking": after resubmitting, kick and
	 * interrupt. The kick is the queue_kick above; the interrupt covers
	 * used entries a dead back end published without signalling them.
	 */
	if (q->vq.inflight_recovered && q->call_fd >= 0)
		eventfd_write(q->call_fd, 1);

	for (;;) {
		struct epoll_event ev[3];
		unsigned inflight = ops->queue_inflight(q->qdev);
		bool kicked = false;
		int n;

		if (stopping && inflight == 0)
			break;
		n = epoll_wait(q->epfd, ev, ARRAY_SIZE(ev), dev_fd < 0 && inflight ? 1 : -1);
		if (n < 0) {
			if (errno != EINTR)
				vblk_err("queue %u: epoll_wait: %s", q->index, strerror(errno));
			continue;
		}
		for (int i = 0; i < n; i++) {
			switch (ev[i].data.u32) {
			case QEV_KICK:
				drain_eventfd(q->kick_fd);
				kicked = true;
				break;
			case QEV_STOP:
				drain_eventfd(q->stop_fd);
				stopping = true;
				break;
			case QEV_DEV:
				ops->queue_fd_ready(q->qdev);
				break;
			}
		}
		if (kicked && !stopping && !q->broken)
			ops->queue_kick(q->qdev);
		if (dev_fd < 0 && ops->queue_inflight(q->qdev))
			ops->queue_fd_ready(q->qdev);
		queue_notify(q);
	}
	queue_notify(q);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Queue start / stop (control thread)                                      */

static int epoll_add(int epfd, int fd, uint64_t data)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = data};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static bool protocol_features_acked(const struct vu_server *srv)
{
	return srv->features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
}

/*
 * vhost-user.rst "Ring states": a ring is started once it has a kick fd and
 * stopped by GET_VRING_BASE; it is enabled by SET_VRING_ENABLE when
 * VHOST_USER_F_PROTOCOL_FEATURES was negotiated, and enabled from the start
 * otherwise. We process a ring only when it is started and enabled (and
 * not broken: a broken ring stays stopped until GET_VRING_BASE resets it).
 */
static bool queue_should_run(const struct vu_queue *q)
{
	const struct vu_server *srv = q->srv;

	return srv->conn_fd >= 0 && srv->have_mem && q->num && q->addr_set && q->kick_fd >= 0 &&
	       !q->broken && (q->enabled || !protocol_features_acked(srv));
}

static bool ring_packed(const struct vu_server *srv)
{
	return srv->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED);
}

/*
 * Give q->vq the layout the features say. SET_VRING_NUM may come before
 * SET_FEATURES, so the layout is settled again whenever the ring is mapped
 * or started; the ring state is set from the base at start anyway.
 */
static int queue_set_layout(struct vu_queue *q)
{
	bool packed = ring_packed(q->srv);

	if (!q->num || q->vq.packed == packed)
		return 0;
	vq_dev_fini(&q->vq);
	memset(&q->vq, 0, sizeof(q->vq));
	return vq_dev_init_ring(&q->vq, q->num, packed);
}

static int queue_map(struct vu_queue *q, struct vq_dev_areas *areas)
{
	int ret = queue_set_layout(q);

	if (ret) {
		vblk_warn("queue %u: size %u is not valid for a %s ring", q->index, q->num,
			  ring_packed(q->srv) ? "packed" : "split");
		return ret;
	}
	/* §2.7 / §2.8.10.1: each layout has its own area sizes and alignments. */
	ret = vq_dev_map_areas(&q->vq, &q->srv->mem, q->desc_uva, q->avail_uva, q->used_uva, areas);
	if (ret)
		vblk_warn("queue %u: %s ring addresses are misaligned or not inside guest memory",
			  q->index, q->vq.packed ? "packed" : "split");
	return ret;
}

/*
 * Give the queue its part of the inflight region, if the front end set one
 * that covers it. QEMU uses one queue_size for every ring; a ring of another
 * size cannot use a region laid out for queue_size entries.
 */
static int queue_attach_inflight(struct vu_queue *q)
{
	const struct vu_inflight *in = &q->srv->inflight;

	if (!in->base || q->index >= in->num_queues)
		return vq_dev_set_inflight(&q->vq, NULL, 0);
	/*
	 * vhost-user.rst "Inflight I/O tracking" has one region layout per ring
	 * type, and the region's was fixed when it was created (GET_INFLIGHT_FD,
	 * from the features then). QEMU sets the features before it asks
	 * (vhost_dev_prepare_inflight), so the two agree; a front end that asked
	 * before negotiating another ring type gets its ring run untracked (a
	 * back-end restart then loses what was in flight), never a region read
	 * in the other layout.
	 */
	if (q->vq.packed != in->packed) {
		vblk_warn("queue %u: %s ring, but the inflight region has the %s layout: "
			  "in-flight requests are not tracked",
			  q->index, q->vq.packed ? "packed" : "split",
			  in->packed ? "packed" : "split");
		return vq_dev_set_inflight(&q->vq, NULL, 0);
	}
	if (in->queue_size != q->num) {
		vblk_warn("queue %u: size %u, but the inflight region is for %u entries", q->index,
			  q->num, in->queue_size);
		return -EINVAL;
	}
	return vq_dev_set_inflight(&q->vq, in->base + (size_t)q->index * in->stride, in->stride);
}

static int queue_start(struct vu_queue *q)
{
	struct vu_server *srv = q->srv;
	struct vq_dev_areas areas;
	int ret, dev_fd;

	ret = queue_map(q, &areas);
	if (ret)
		return ret;
	q->vq.event_idx = srv->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	q->vq.indirect = srv->features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	ret = queue_attach_inflight(q);
	if (ret)
		return ret;
	ret = vq_dev_start_areas(&q->vq, &srv->mem, &areas, q->base);
	if (ret) {
		vblk_warn("queue %u: cannot start the %s ring at base %#x (bad base or inflight "
			  "region?)",
			  q->index, q->vq.packed ? "packed" : "split", q->base);
		return ret;
	}
	if (vq_dev_resubmit_pending(&q->vq))
		vblk_info("queue %u: resubmitting %u requests a previous back end left in flight",
			  q->index, vq_dev_resubmit_pending(&q->vq));
	ret = srv->ops->queue_start(srv->dev, q, q->num, &q->qdev);
	if (ret) {
		vblk_err("queue %u: cannot start: %s", q->index, strerror(-ret));
		return ret;
	}
	q->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->stop_fd < 0) {
		ret = -errno;
		goto err_queue_stop;
	}
	q->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (q->epfd < 0) {
		ret = -errno;
		goto err_close_stop;
	}
	dev_fd = srv->ops->queue_fd(q->qdev);
	ret = epoll_add(q->epfd, q->kick_fd, QEV_KICK);
	if (!ret)
		ret = epoll_add(q->epfd, q->stop_fd, QEV_STOP);
	if (!ret && dev_fd >= 0)
		ret = epoll_add(q->epfd, dev_fd, QEV_DEV);
	if (ret)
		goto err_close_ep;
	q->pushed = false;
	ret = -pthread_create(&q->thread, NULL, queue_thread, q);
	if (ret)
		goto err_close_ep;
	q->running = true;
	vblk_info("queue %u: started: %s ring, size %u, base %#x", q->index,
		  q->vq.packed ? "packed" : "split", q->num, q->base);
	return 0;

err_close_ep:
	close(q->epfd);
	q->epfd = -1;
err_close_stop:
	close(q->stop_fd);
	q->stop_fd = -1;
err_queue_stop:
	srv->ops->queue_stop(q->qdev);
	q->qdev = NULL;
	vblk_err("queue %u: cannot start: %s", q->index, strerror(-ret));
	return ret;
}

/* Stop the queue's thread after its in-flight requests completed. No-op if not running. */
static void queue_stop(struct vu_queue *q)
{
	if (!q->running)
		return;
	eventfd_write(q->stop_fd, 1);
	pthread_join(q->thread, NULL);
	q->srv->ops->queue_stop(q->qdev);
	q->qdev = NULL;
	/* The next start continues where this one stopped. */
	q->base = vq_dev_get_base(&q->vq);
	close(q->epfd);
	close(q->stop_fd);
	q->epfd = q->stop_fd = -1;
	q->running = false;
	vblk_dbg("queue %u: stopped at %#x", q->index, q->base);
}

/* Start or stop the queue to match its configuration. Returns 0 or the start error. */
static int queue_update(struct vu_queue *q)
{
	if (q->running && !queue_should_run(q))
		queue_stop(q);
	else if (!q->running && queue_should_run(q))
		return queue_start(q);
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Back to the state of a fresh connection. */
static void queue_reset(struct vu_queue *q)
{
	queue_stop(q);
	close_fd(&q->kick_fd);
	close_fd(&q->call_fd);
	close_fd(&q->err_fd);
	vq_dev_fini(&q->vq);
	memset(&q->vq, 0, sizeof(q->vq));
	q->num = 0;
	q->addr_set = false;
	q->base = 0;
	q->enabled = false;
	q->broken = false;
}

static void stop_all(struct vu_server *srv)
{
	for (unsigned i = 0; i < srv->nqueues; i++)
		queue_stop(&srv->queues[i]);
}

static int update_all(struct vu_server *srv)
{
	int ret = 0;

	for (unsigned i = 0; i < srv->nqueues; i++) {
		int r = queue_update(&srv->queues[i]);
		if (r && !ret)
			ret = r;
	}
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Memory table                                                             */

static void maps_unmap(struct vu_map *maps)
{
	for (unsigned i = 0; i < VQ_MEM_MAX_REGIONS; i++) {
		if (maps[i].addr)
			munmap(maps[i].addr, maps[i].len);
		maps[i].addr = NULL;
		maps[i].len = 0;
	}
}

static void mem_drop(struct vu_server *srv)
{
	maps_unmap(srv->maps);
	memset(&srv->mem, 0, sizeof(srv->mem));
	srv->have_mem = false;
}

/* Forget the inflight region; the caller has stopped every queue that used it. */
static void inflight_drop(struct vu_server *srv)
{
	if (srv->inflight.map.addr)
		munmap(srv->inflight.map.addr, srv->inflight.map.len);
	memset(&srv->inflight, 0, sizeof(srv->inflight));
}

/* ------------------------------------------------------------------------ */
/* Connection                                                               */

static void conn_drop(struct vu_server *srv, bool flush)
{
	if (srv->conn_fd < 0)
		return;
	for (unsigned i = 0; i < srv->nqueues; i++)
		queue_reset(&srv->queues[i]);
	mem_drop(srv);
	/* The front end keeps the inflight memory and hands it to our successor. */
	inflight_drop(srv);
	srv->features = 0;
	srv->protocol_features = 0;
	srv->ops->set_features(srv->dev, 0);
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->conn_fd, NULL);
	close_fd(&srv->conn_fd);
	/* Writes of a front end that went away without a flush still reach the medium. */
	if (flush && srv->ops->flush) {
		int ret = srv->ops->flush(srv->dev);
		if (ret)
			vblk_err("flush after disconnect failed: %s", strerror(-ret));
	}
	vblk_info("client disconnected; waiting for the next one");
}

static int send_reply(struct vu_server *srv, uint32_t request, const void *payload, uint32_t size)
{
	struct vhost_user_msg r;
	int ret;

	r.hdr.request = request;
	r.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	r.hdr.size = size;
	memcpy(&r.payload, payload, size);
	ret = vu_msg_send(srv->conn_fd, &r, NULL, 0);
	if (ret) {
		vblk_warn("%s: cannot send reply: %s", vu_msg_name(request), strerror(-ret));
		return VU_DROP;
	}
	return 0;
}

static int send_u64(struct vu_server *srv, uint32_t request, uint64_t v)
{
	return send_reply(srv, request, &v, sizeof(v));
}

/*
 * vhost-user.rst "Message Specification": every request has one payload
 * layout; a size that differs from it, or fewer fds than the request carries,
 * means the stream cannot be trusted. Surplus fds are closed by the caller.
 */
static int check_msg(const struct vhost_user_msg *msg, unsigned nfds, uint32_t size,
		     unsigned want_fds)
{
	if (msg->hdr.size != size) {
		vblk_warn("%s: payload of %u bytes, expected %u", vu_msg_name(msg->hdr.request),
			  msg->hdr.size, size);
		return VU_DROP;
	}
	if (nfds < want_fds) {
		vblk_warn("%s: %u fds, expected %u", vu_msg_name(msg->hdr.request), nfds, want_fds);
		return VU_DROP;
	}
	if (nfds > want_fds)
		vblk_warn("%s: closing %u surplus fds", vu_msg_name(msg->hdr.request),
			  nfds - want_fds);
	return 0;
}

static struct vu_queue *get_queue(struct vu_server *srv, const struct vhost_user_msg *msg,
				  uint32_t index)
{
	if (index >= srv->nqueues) {
		vblk_warn("%s: vring %u does not exist (%u queues)", vu_msg_name(msg->hdr.request),
			  index, srv->nqueues);
		return NULL;
	}
	return &srv->queues[index];
}

static uint64_t offered_features(const struct vu_server *srv)
{
	return srv->ops->get_features(srv->dev) | VU_RING_FEATURES |
	       VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
}

/* ------------------------------------------------------------------------ */
/* One handler per request (vhost-user.rst "Front-end message types")       */

typedef int vu_handler_fn(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			  unsigned nfds);

static int h_get_features(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			  unsigned nfds)
{
	int ret = check_msg(msg, nfds, 0, 0);

	return ret ? ret : send_u64(srv, msg->hdr.request, offered_features(srv));
}

static int h_set_features(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			  unsigned nfds)
{
	uint64_t f;
	int ret = check_msg(msg, nfds, sizeof(f), 0);

	if (ret)
		return ret;
	memcpy(&f, &msg->payload, sizeof(f));
	if (f & ~offered_features(srv)) {
		vblk_warn("SET_FEATURES: bits %#llx were never offered",
			  (unsigned long long)(f & ~offered_features(srv)));
		return VU_DROP;
	}
	/* EVENT_IDX / INDIRECT_DESC and the enable rule change how rings run. */
	stop_all(srv);
	srv->features = f;
	srv->ops->set_features(srv->dev, f & ~VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	return update_all(srv);
}

static int h_get_protocol_features(struct vu_server *srv, const struct vhost_user_msg *msg,
				   int *fds, unsigned nfds)
{
	int ret = check_msg(msg, nfds, 0, 0);

	return ret ? ret : send_u64(srv, msg->hdr.request, VU_PROTOCOL_FEATURES);
}

static int h_set_protocol_features(struct vu_server *srv, const struct vhost_user_msg *msg,
				   int *fds, unsigned nfds)
{
	uint64_t f;
	int ret = check_msg(msg, nfds, sizeof(f), 0);

	if (ret)
		return ret;
	memcpy(&f, &msg->payload, sizeof(f));
	if (f & ~(uint64_t)VU_PROTOCOL_FEATURES) {
		vblk_warn("SET_PROTOCOL_FEATURES: bits %#llx were never offered",
			  (unsigned long long)(f & ~(uint64_t)VU_PROTOCOL_FEATURES));
		return VU_DROP;
	}
	srv->protocol_features = f;
	return 0;
}

static int h_set_owner(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
		       unsigned nfds)
{
	return check_msg(msg, nfds, 0, 0);
}

/* vhost-user.rst "VHOST_USER_RESET_OWNER" (deprecated): forget the rings and features. */
static int h_reset_owner(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			 unsigned nfds)
{
	int ret = check_msg(msg, nfds, 0, 0);

	if (ret)
		return ret;
	for (unsigned i = 0; i < srv->nqueues; i++)
		queue_reset(&srv->queues[i]);
	srv->features = 0;
	srv->ops->set_features(srv->dev, 0);
	return 0;
}

/*
 * vhost-user.rst "VHOST_USER_SET_MEM_TABLE": nregions regions, one fd each,
 * mapped at mmap_offset within the fd. The new table is built and checked
 * completely before the running queues are stopped, switched over and
 * restarted, so a bad table leaves the old one in service.
 */
/*
 * A front end's fd is about to be mapped for [0, end). mmap succeeds past the
 * end of a file and the first touch of those pages raises SIGBUS, so a front
 * end could kill the daemon with a region longer than its fd. Only a regular
 * file (memfd, hugetlbfs, shm) holding at least end bytes is accepted.
 * (A front end that shrinks the file afterwards still could: QEMU seals its
 * memfds against that with F_SEAL_SHRINK.) Returns 0 or -EINVAL, logged.
 */
static int fd_covers(int fd, uint64_t end, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < end) {
		vblk_warn("%s: the fd is not a file of at least %llu bytes", what,
			  (unsigned long long)end);
		return -EINVAL;
	}
	return 0;
}

static int h_set_mem_table(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			   unsigned nfds)
{
	const size_t hdr = offsetof(struct vhost_user_memory, regions);
	struct vhost_user_memory m;
	struct vq_mem mem;
	struct vu_map maps[VQ_MEM_MAX_REGIONS];
	unsigned n;
	int ret;

	if (msg->hdr.size < hdr) {
		vblk_warn("SET_MEM_TABLE: payload of %u bytes", msg->hdr.size);
		return VU_DROP;
	}
	memset(&m, 0, sizeof(m));
	memcpy(&m, &msg->payload, VBLK_MIN((size_t)msg->hdr.size, sizeof(m)));
	n = m.nregions;
	if (n < 1 || n > VHOST_USER_MEMORY_BASELINE_NREGIONS) {
		vblk_warn("SET_MEM_TABLE: %u regions (1..%u)", n,
			  VHOST_USER_MEMORY_BASELINE_NREGIONS);
		return VU_DROP;
	}
	ret = check_msg(msg, nfds, hdr + n * sizeof(m.regions[0]), n);
	if (ret)
		return ret;
	if (nfds != n) {
		vblk_warn("SET_MEM_TABLE: %u fds for %u regions", nfds, n);
		return VU_DROP;
	}

	memset(&mem, 0, sizeof(mem));
	memset(maps, 0, sizeof(maps));
	for (unsigned i = 0; i < n; i++) {
		const struct vhost_user_memory_region *r = &m.regions[i];
		struct vq_mem_region vr;
		void *p;

		if (r->memory_size == 0 || r->mmap_offset > SIZE_MAX - r->memory_size) {
			vblk_warn("SET_MEM_TABLE: region %u: bad size/offset", i);
			ret = -EINVAL;
			goto err_unmap;
		}
		ret = fd_covers(fds[i], r->mmap_offset + r->memory_size, "SET_MEM_TABLE");
		if (ret)
			goto err_unmap;
		/* Like libvhost-user: map from offset 0 so mmap_offset needs no alignment. */
		maps[i].len = (size_t)(r->mmap_offset + r->memory_size);
		p = mmap(NULL, maps[i].len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			 fds[i], 0);
		if (p == MAP_FAILED) {
			ret = -errno;
			maps[i].len = 0;
			vblk_warn("SET_MEM_TABLE: region %u: mmap: %s", i, strerror(-ret));
			goto err_unmap;
		}
		maps[i].addr = p;
		vr.gpa = r->guest_phys_addr;
		vr.uva = r->userspace_addr;
		vr.size = r->memory_size;
		vr.hva = (char *)p + r->mmap_offset;
		ret = vq_mem_add(&mem, &vr);
		if (ret) {
			vblk_warn("SET_MEM_TABLE: region %u: overflows or overlaps another", i);
			goto err_unmap;
		}
	}
	/* The mappings keep the memory; the fds are no longer needed. */
	vu_msg_close_fds(fds, nfds);

	stop_all(srv);
	maps_unmap(srv->maps);
	srv->mem = mem;
	memcpy(srv->maps, maps, sizeof(maps));
	srv->have_mem = true;

	/* SPEC-NOTES "Rings": every ring's areas are re-checked against the new table. */
	ret = 0;
	for (unsigned i = 0; i < srv->nqueues; i++) {
		struct vu_queue *q = &srv->queues[i];
		struct vq_dev_areas areas;

		if (q->addr_set && q->num && queue_map(q, &areas))
			ret = -EFAULT;
	}
	if (update_all(srv) && !ret)
		ret = -EFAULT;
	return ret;

err_unmap:
	maps_unmap(maps);
	return ret;
}

static int h_set_vring_num(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			   unsigned nfds)
{
	struct vhost_vring_state s;
	struct vu_queue *q;
	int ret = check_msg(msg, nfds, sizeof(s), 0);

	if (ret)
		return ret;
	memcpy(&s, &msg->payload, sizeof(s));
	q = get_queue(srv, msg, s.index);
	if (!q)
		return VU_DROP;
	/* virtio 1.3 §2.7: a split ring's size is a power of two; §2.8: not so a packed one. */
	if (s.num == 0 || s.num > VQ_DEV_MAX_SIZE || (!ring_packed(srv) && (s.num & (s.num - 1)))) {
		vblk_warn("SET_VRING_NUM: queue %u: size %u (1..%u%s)", s.index, s.num,
			  VQ_DEV_MAX_SIZE, ring_packed(srv) ? "" : ", a power of two");
		return -EINVAL;
	}
	queue_stop(q);
	vq_dev_fini(&q->vq);
	memset(&q->vq, 0, sizeof(q->vq));
	q->num = 0;
	ret = vq_dev_init_ring(&q->vq, s.num, ring_packed(srv));
	if (ret)
		return ret;
	q->num = s.num;
	return queue_update(q);
}

static int h_set_vring_addr(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			    unsigned nfds)
{
	struct vhost_vring_addr a;
	struct vu_queue *q;
	int ret = check_msg(msg, nfds, sizeof(a), 0);

	if (ret)
		return ret;
	memcpy(&a, &msg->payload, sizeof(a));
	q = get_queue(srv, msg, a.index);
	if (!q)
		return VU_DROP;
	/* VHOST_VRING_F_LOG needs VHOST_F_LOG_ALL, which we never offer: the log address is unused.
	 */
	queue_stop(q);
	q->desc_uva = a.desc_user_addr;
	q->avail_uva = a.avail_user_addr;
	q->used_uva = a.used_user_addr;
	q->addr_set = true;
	/* SPEC-NOTES "Rings": check the areas as soon as they can be checked. */
	if (srv->have_mem && q->num) {
		struct vq_dev_areas areas;

		ret = queue_map(q, &areas);
		if (ret) {
			q->addr_set = false;
			return ret;
		}
	}
	return queue_update(q);
}

static int h_set_vring_base(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			    unsigned nfds)
{
	struct vhost_vring_state s;
	struct vu_queue *q;
	int ret = check_msg(msg, nfds, sizeof(s), 0);

	if (ret)
		return ret;
	memcpy(&s, &msg->payload, sizeof(s));
	q = get_queue(srv, msg, s.index);
	if (!q)
		return VU_DROP;
	/*
	 * vhost-user.rst: a split ring's base is a 16-bit index; a packed
	 * ring's uses all 32 bits (checked against the ring when it starts).
	 */
	if (!ring_packed(srv) && s.num > UINT16_MAX) {
		vblk_warn("SET_VRING_BASE: queue %u: base %u", s.index, s.num);
		return -EINVAL;
	}
	queue_stop(q);
	q->base = s.num;
	return queue_update(q);
}

/*
 * vhost-user.rst "VHOST_USER_GET_VRING_BASE": stop the ring and report the
 * next avail index. We let the in-flight requests finish first, so the index
 * is exact: everything before it has been completed and pushed. The ring
 * then stays stopped until a new SET_VRING_KICK.
 */
static int h_get_vring_base(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			    unsigned nfds)
{
	struct vhost_vring_state s;
	struct vu_queue *q;
	int ret = check_msg(msg, nfds, sizeof(s), 0);

	if (ret)
		return ret;
	memcpy(&s, &msg->payload, sizeof(s));
	q = get_queue(srv, msg, s.index);
	if (!q)
		return VU_DROP;
	queue_stop(q);
	close_fd(&q->kick_fd);
	/* A fresh vq_dev: a broken ring gets another chance after the next start. */
	if (q->num) {
		vq_dev_fini(&q->vq);
		memset(&q->vq, 0, sizeof(q->vq));
		ret = vq_dev_init_ring(&q->vq, q->num, ring_packed(srv));
		if (ret) {
			q->num = 0;
			return VU_DROP;
		}
	}
	q->broken = false;
	s.num = q->base;
	return send_reply(srv, msg->hdr.request, &s, sizeof(s));
}

/*
 * SET_VRING_KICK/CALL/ERR: u64 payload, vring index in bits 0-7, bit 8 set
 * when no fd is attached (vhost-user.rst "VHOST_USER_SET_VRING_KICK").
 * Returns the index and the fd (ownership moves to the caller), or VU_DROP.
 */
static int vring_fd_msg(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			unsigned nfds, struct vu_queue **q, int *fd)
{
	uint64_t u;
	bool nofd;
	int ret;

	if (msg->hdr.size != sizeof(u))
		return check_msg(msg, nfds, sizeof(u), 0);
	memcpy(&u, &msg->payload, sizeof(u));
	if (u & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
		vblk_warn("%s: unknown bits in %#llx", vu_msg_name(msg->hdr.request),
			  (unsigned long long)u);
		return VU_DROP;
	}
	nofd = u & VHOST_USER_VRING_NOFD_MASK;
	ret = check_msg(msg, nfds, sizeof(u), nofd ? 0 : 1);
	if (ret)
		return ret;
	*q = get_queue(srv, msg, (uint32_t)(u & VHOST_USER_VRING_IDX_MASK));
	if (!*q)
		return VU_DROP;
	*fd = -1;
	if (!nofd) {
		*fd = fds[0];
		fds[0] = -1;
	}
	return 0;
}

static int h_set_vring_kick(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			    unsigned nfds)
{
	struct vu_queue *q;
	int fd, ret = vring_fd_msg(srv, msg, fds, nfds, &q, &fd);

	if (ret)
		return ret;
	if (fd < 0) {
		/* Polling mode (no kick fd) is not implemented. */
		vblk_warn("SET_VRING_KICK: queue %u: polling mode is not supported", q->index);
		return -ENOTSUP;
	}
	queue_stop(q);
	close_fd(&q->kick_fd);
	q->kick_fd = fd;
	return queue_update(q);
}

static int h_set_vring_call(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			    unsigned nfds)
{
	struct vu_queue *q;
	int fd, ret = vring_fd_msg(srv, msg, fds, nfds, &q, &fd);

	if (ret)
		return ret;
	/* The queue thread writes call_fd: swap it only while the thread is stopped. */
	queue_stop(q);
	close_fd(&q->call_fd);
	q->call_fd = fd;
	return queue_update(q);
}

static int h_set_vring_err(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			   unsigned nfds)
{
	struct vu_queue *q;
	int fd, ret = vring_fd_msg(srv, msg, fds, nfds, &q, &fd);

	if (ret)
		return ret;
	queue_stop(q);
	close_fd(&q->err_fd);
	q->err_fd = fd;
	/* A ring that broke while no err fd was set still gets reported. */
	if (q->broken && fd >= 0)
		eventfd_write(fd, 1);
	return queue_update(q);
}

static int h_get_queue_num(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			   unsigned nfds)
{
	int ret = check_msg(msg, nfds, 0, 0);

	return ret ? ret : send_u64(srv, msg->hdr.request, srv->nqueues);
}

static int h_set_vring_enable(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			      unsigned nfds)
{
	struct vhost_vring_state s;
	struct vu_queue *q;
	int ret = check_msg(msg, nfds, sizeof(s), 0);

	if (ret)
		return ret;
	memcpy(&s, &msg->payload, sizeof(s));
	q = get_queue(srv, msg, s.index);
	if (!q)
		return VU_DROP;
	if (s.num > 1) {
		vblk_warn("SET_VRING_ENABLE: queue %u: value %u", s.index, s.num);
		return -EINVAL;
	}
	q->enabled = s.num;
	return queue_update(q);
}

/* Copy a config message and check offset/size against the device's config space. */
static int config_msg(struct vu_server *srv, const struct vhost_user_msg *msg, unsigned nfds,
		      struct vhost_user_config *c, uint8_t *space, uint32_t *space_size)
{
	int ret;

	if (msg->hdr.size < VHOST_USER_CONFIG_HDR_SIZE)
		return check_msg(msg, nfds, VHOST_USER_CONFIG_HDR_SIZE, 0);
	memcpy(c, &msg->payload, msg->hdr.size);
	if (c->size > VHOST_USER_MAX_CONFIG_SIZE)
		return check_msg(msg, nfds, VHOST_USER_CONFIG_HDR_SIZE + VHOST_USER_MAX_CONFIG_SIZE,
				 0);
	ret = check_msg(msg, nfds, VHOST_USER_CONFIG_HDR_SIZE + c->size, 0);
	if (ret)
		return ret;
	memset(space, 0, VHOST_USER_MAX_CONFIG_SIZE);
	*space_size = srv->ops->get_config(srv->dev, space);
	if (c->offset > *space_size || c->size > *space_size - c->offset) {
		vblk_warn("%s: bytes %u+%u outside the %u-byte config space",
			  vu_msg_name(msg->hdr.request), c->offset, c->size, *space_size);
		return -EINVAL;
	}
	return 0;
}

/* vhost-user.rst "VHOST_USER_GET_CONFIG": reply with the same offset/size/flags. */
static int h_get_config(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			unsigned nfds)
{
	uint8_t space[VHOST_USER_MAX_CONFIG_SIZE];
	struct vhost_user_config c;
	uint32_t n;
	int ret = config_msg(srv, msg, nfds, &c, space, &n);

	if (ret == VU_DROP)
		return ret;
	/* An empty reply is how the front end learns the request failed. */
	if (ret)
		return send_reply(srv, msg->hdr.request, &c, 0);
	memcpy(c.region, space + c.offset, c.size);
	return send_reply(srv, msg->hdr.request, &c, VHOST_USER_CONFIG_HDR_SIZE + c.size);
}

static int h_set_config(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			unsigned nfds)
{
	uint8_t space[VHOST_USER_MAX_CONFIG_SIZE];
	struct vhost_user_config c;
	uint32_t n;
	int ret = config_msg(srv, msg, nfds, &c, space, &n);

	if (ret)
		return ret;
	return srv->ops->set_config(srv->dev, c.offset, c.region, c.size);
}

/*
 * Check a GET/SET_INFLIGHT_FD payload against what we serve: at most our
 * queue count, and a ring size SET_VRING_NUM would accept.
 */
static int inflight_check(struct vu_server *srv, const struct vhost_user_msg *msg,
			  const struct vhost_user_inflight *in, bool packed)
{
	unsigned qs = in->queue_size;

	if (!(srv->protocol_features & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))) {
		vblk_warn("%s without VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD",
			  vu_msg_name(msg->hdr.request));
		return VU_DROP;
	}
	/* §2.7: a split ring's size is a power of two; §2.8 does not ask it of a packed one. */
	if (in->num_queues < 1 || in->num_queues > srv->nqueues || qs == 0 ||
	    qs > VQ_DEV_MAX_SIZE || (!packed && (qs & (qs - 1)))) {
		vblk_warn("%s: %u queues of %u entries (we serve 1..%u queues of 1..%u, for a "
			  "split ring a power of two)",
			  vu_msg_name(msg->hdr.request), in->num_queues, qs, srv->nqueues,
			  VQ_DEV_MAX_SIZE);
		return -EINVAL;
	}
	return 0;
}

/*
 * Map [0, offset + size) of fd (so offset needs no page alignment, like the
 * memory table) and make it the connection's inflight region, restarting
 * the queues on it. Returns 0 or the -errno of mmap.
 */
static int inflight_install(struct vu_server *srv, int fd, uint64_t offset, uint64_t size,
			    uint16_t num_queues, uint16_t queue_size, bool packed)
{
	struct vu_map map;
	void *p;

	map.len = (size_t)(offset + size);
	p = mmap(NULL, map.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	map.addr = p;
	stop_all(srv);
	inflight_drop(srv);
	srv->inflight.map = map;
	srv->inflight.base = (uint8_t *)p + offset;
	srv->inflight.stride = vq_dev_inflight_size_ring(queue_size, packed);
	srv->inflight.packed = packed;
	srv->inflight.num_queues = num_queues;
	srv->inflight.queue_size = queue_size;
	/* A queue that cannot start on it says so itself; the region stays. */
	update_all(srv);
	return 0;
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
 * a packed ring negotiated later runs untracked (queue_attach_inflight).
 */
static int h_get_inflight_fd(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			     unsigned nfds)
{
	struct vhost_user_inflight in;
	struct vhost_user_msg r;
	uint64_t size;
	bool packed;
	int fd = -1, ret = check_msg(msg, nfds, sizeof(in), 0);

	if (ret)
		return ret;
	memcpy(&in, &msg->payload, sizeof(in));
	packed = ring_packed(srv);
	ret = inflight_check(srv, msg, &in, packed);
	if (ret == VU_DROP)
		return ret;
	size = (uint64_t)in.num_queues * vq_dev_inflight_size_ring(in.queue_size, packed);
	if (!ret) {
		/* ftruncate makes it zeroed; the seals keep its size fixed for whoever maps it. */
		fd = memfd_create("vblk-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, (off_t)size) ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL))
			ret = -errno;
		if (!ret)
			ret = inflight_install(srv, fd, 0, size, in.num_queues, in.queue_size,
					       packed);
		if (ret)
			vblk_warn("GET_INFLIGHT_FD: cannot set up %llu bytes: %s",
				  (unsigned long long)size, strerror(-ret));
	}
	memset(&r, 0, sizeof(r));
	r.hdr.request = msg->hdr.request;
	r.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	r.hdr.size = sizeof(in);
	r.payload.inflight.mmap_size = ret ? 0 : size;
	r.payload.inflight.mmap_offset = 0;
	r.payload.inflight.num_queues = in.num_queues;
	r.payload.inflight.queue_size = in.queue_size;
	ret = vu_msg_send(srv->conn_fd, &r, &fd, ret || fd < 0 ? 0 : 1);
	if (fd >= 0)
		close(fd);
	if (ret) {
		vblk_warn("GET_INFLIGHT_FD: cannot send reply: %s", strerror(-ret));
		return VU_DROP;
	}
	return 0;
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
static int h_set_inflight_fd(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
			     unsigned nfds)
{
	struct vhost_user_inflight in;
	uint64_t want;
	bool packed;
	int ret = check_msg(msg, nfds, sizeof(in), 1);

	if (ret)
		return ret;
	memcpy(&in, &msg->payload, sizeof(in));
	packed = in.mmap_size ==
		 (uint64_t)in.num_queues * vq_dev_inflight_size_ring(in.queue_size, true);
	ret = inflight_check(srv, msg, &in, packed);
	if (ret)
		return ret;
	want = (uint64_t)in.num_queues * vq_dev_inflight_size_ring(in.queue_size, packed);
	if (in.mmap_size != want || in.mmap_offset > SIZE_MAX - want || in.mmap_offset % 8) {
		vblk_warn("SET_INFLIGHT_FD: %llu bytes at offset %llu; %u queues of %u need %llu "
			  "(split layout) or %llu (packed) at an 8-byte aligned offset",
			  (unsigned long long)in.mmap_size, (unsigned long long)in.mmap_offset,
			  in.num_queues, in.queue_size,
			  (unsigned long long)in.num_queues * vq_dev_inflight_size(in.queue_size),
			  (unsigned long long)in.num_queues *
			      vq_dev_inflight_size_ring(in.queue_size, true));
		return -EINVAL;
	}
	ret = fd_covers(fds[0], in.mmap_offset + want, "SET_INFLIGHT_FD");
	if (ret)
		return ret;
	ret = inflight_install(srv, fds[0], in.mmap_offset, want, in.num_queues, in.queue_size,
			       packed);
	if (ret)
		vblk_warn("SET_INFLIGHT_FD: %s", strerror(-ret));
	return ret;
}

static const struct vu_handler {
	vu_handler_fn *fn;
	bool has_reply; /* sends its own reply: REPLY_ACK does not apply */
} vu_handlers[VHOST_USER_MAX] = {
    [VHOST_USER_GET_FEATURES] = {h_get_features, true},
    [VHOST_USER_SET_FEATURES] = {h_set_features, false},
    [VHOST_USER_SET_OWNER] = {h_set_owner, false},
    [VHOST_USER_RESET_OWNER] = {h_reset_owner, false},
    [VHOST_USER_SET_MEM_TABLE] = {h_set_mem_table, false},
    [VHOST_USER_SET_VRING_NUM] = {h_set_vring_num, false},
    [VHOST_USER_SET_VRING_ADDR] = {h_set_vring_addr, false},
    [VHOST_USER_SET_VRING_BASE] = {h_set_vring_base, false},
    [VHOST_USER_GET_VRING_BASE] = {h_get_vring_base, true},
    [VHOST_USER_SET_VRING_KICK] = {h_set_vring_kick, false},
    [VHOST_USER_SET_VRING_CALL] = {h_set_vring_call, false},
    [VHOST_USER_SET_VRING_ERR] = {h_set_vring_err, false},
    [VHOST_USER_GET_PROTOCOL_FEATURES] = {h_get_protocol_features, true},
    [VHOST_USER_SET_PROTOCOL_FEATURES] = {h_set_protocol_features, false},
    [VHOST_USER_GET_QUEUE_NUM] = {h_get_queue_num, true},
    [VHOST_USER_SET_VRING_ENABLE] = {h_set_vring_enable, false},
    [VHOST_USER_GET_CONFIG] = {h_get_config, true},
    [VHOST_USER_SET_CONFIG] = {h_set_config, false},
    [VHOST_USER_GET_INFLIGHT_FD] = {h_get_inflight_fd, true},
    [VHOST_USER_SET_INFLIGHT_FD] = {h_set_inflight_fd, false},
};

/*
 * Run one message. Returns 0 or VU_DROP. Requests without a handler (logging,
 * postcopy, IOTLB, ...) belong to features we never offered, so a
 * front end that sends them is out of step: like libvhost-user, we hang up.
 */
static int dispatch(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds,
		    unsigned nfds)
{
	uint32_t req = msg->hdr.request;
	const struct vu_handler *h = req < VHOST_USER_MAX ? &vu_handlers[req] : NULL;
	int ret;

	if (!h || !h->fn) {
		vblk_warn("unsupported request %u (%s): dropping the client", req,
			  vu_msg_name(req));
		vu_msg_close_fds(fds, nfds);
		return VU_DROP;
	}
	vblk_dbg("<- %s (%u bytes, %u fds)", vu_msg_name(req), msg->hdr.size, nfds);
	ret = h->fn(srv, msg, fds, nfds);
	/* Whatever the handler did not take over is surplus. */
	vu_msg_close_fds(fds, nfds);
	if (ret == VU_DROP)
		return VU_DROP;
	if (ret < 0)
		vblk_warn("%s failed: %s", vu_msg_name(req), strerror(-ret));
	/* vhost-user.rst "REPLY_ACK": only for requests without a reply of their own. */
	if (!h->has_reply && (msg->hdr.flags & VHOST_USER_NEED_REPLY_MASK) &&
	    (srv->protocol_features & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK)))
		return send_u64(srv, req, ret < 0 ? (uint64_t)-ret : 0);
	return 0;
}

static void conn_ready(struct vu_server *srv)
{
	struct vhost_user_msg msg;
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds = 0;
	int ret;

	ret = vu_msg_recv(srv->conn_fd, &msg, fds, &nfds);
	if (ret) {
		if (ret != -ECONNRESET)
			vblk_warn("dropping the client: bad message: %s", strerror(-ret));
		conn_drop(srv, true);
		return;
	}
	if (dispatch(srv, &msg, fds, nfds) == VU_DROP)
		conn_drop(srv, true);
}

static int do_accept(struct vu_server *srv)
{
	struct timeval tv = {.tv_sec = VU_IO_TIMEOUT_SEC};
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
		    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			if (errno != EAGAIN && errno != EINTR)
				vblk_warn("accept: %s", strerror(errno));
			return 0;
		}
		vblk_err("accept: %s", strerror(errno));
		return -errno;
	}
	if (srv->conn_fd >= 0) {
		vblk_warn("refusing a second client: one front end at a time");
		close(fd);
		return 0;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (epoll_add(srv->epfd, fd, ((uint64_t)(unsigned)fd << 32) | EV_CONN)) {
		vblk_err("epoll_ctl: %s", strerror(errno));
		close(fd);
		return 0;
	}
	srv->conn_fd = fd;
	vblk_info("client connected");
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
	srv->nqueues = nq;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0) {
		ret = -errno;
		goto err_destroy;
	}
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
	ret = epoll_add(srv->epfd, listen_fd, EV_LISTEN);
	if (ret)
		goto err_destroy;
	*out = srv;
	return 0;

err_destroy:
	vu_server_destroy(srv);
	return ret;
}

int vu_server_run(struct vu_server *srv, int stop_fd)
{
	int ret = epoll_add(srv->epfd, stop_fd, EV_STOP);

	if (ret)
		return ret;
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

			if (tag == EV_STOP) {
				ret = 0;
				goto out;
			}
			if (tag == EV_LISTEN) {
				ret = do_accept(srv);
				if (ret)
					goto out;
			} else if (tag == EV_CONN && fd == srv->conn_fd) {
				/* An event of a connection dropped earlier in this batch is stale.
				 */
				conn_ready(srv);
			}
		}
	}
out:
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, stop_fd, NULL);
	return ret;
}

int vu_server_shutdown(struct vu_server *srv)
{
	int ret = 0;

	if (srv->listen_fd >= 0) {
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
		close_fd(&srv->listen_fd);
	}
	conn_drop(srv, false);
	if (srv->ops->flush) {
		ret = srv->ops->flush(srv->dev);
		if (ret)
			vblk_err("flush: %s", strerror(-ret));
	}
	return ret;
}

void vu_server_destroy(struct vu_server *srv)
{
	if (!srv)
		return;
	conn_drop(srv, false);
	if (srv->queues) {
		for (unsigned i = 0; i < srv->nqueues; i++)
			queue_reset(&srv->queues[i]);
		free(srv->queues);
	}
	mem_drop(srv);
	inflight_drop(srv);
	close_fd(&srv->listen_fd);
	close_fd(&srv->epfd);
	free(srv);
}
