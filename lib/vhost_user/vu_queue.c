/* SPDX-License-Identifier: MIT */
/*
 * The server's virtqueues: each started and enabled ring runs on its own
 * thread with its own epoll set (kick eventfd, the device's completion fd,
 * a stop eventfd); this file starts, stops and resets them and holds the
 * data-path verbs a device calls from that thread.
 *
 * Nothing on the data path takes a lock: the control thread changes a
 * queue's configuration only while that queue's thread does not exist.
 * Every reconfiguration of a running queue is "stop, change, start", where
 * stop means: the thread stops popping, keeps completing until nothing is
 * in flight, and exits; the control thread joins it. The ring indices live
 * in struct vq_dev and survive a stop/start, so no request is lost or
 * repeated.
 *
 * The kick, call and err fds come from the front end and are untrusted:
 * only eventfds are accepted, and they are made non-blocking, so a front
 * end that drains its own kick fd, or fills its call eventfd's counter,
 * cannot wedge a queue thread (vu_check_eventfd).
 *
 * With polling on (vu_server_set_poll), a thread about to sleep first spins
 * on its ring for an adaptive window with kicks off (queue_wait).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <vblk/spec/virtio_types.h>

#include "internal/compiler.h"
#include "internal/log.h"
#include "vu_server_priv.h"

enum { QEV_KICK = 1, QEV_STOP, QEV_DEV };

void vu_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * vhost-user.rst "VHOST_USER_SET_VRING_KICK/CALL/ERR": the fds are
 * eventfds. Anything else (a pipe that fills up, a socket at EOF, a regular
 * file that is always readable) could block or spin a queue thread, so it
 * is refused. The fd is made non-blocking: the flag lives in the open file
 * description we share with the front end, which for QEMU is already
 * non-blocking (its event notifiers are EFD_NONBLOCK), and an eventfd
 * write by the front end only blocks at a counter of 2^64 - 2.
 * Returns 0 or -EINVAL (logged).
 */
int vu_check_eventfd(int fd, const char *what)
{
	char path[64], link[64];
	ssize_t n;
	int fl;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0 || (size_t)n != strlen("anon_inode:[eventfd]") ||
	    memcmp(link, "anon_inode:[eventfd]", (size_t)n)) {
		if (n >= 0)
			link[n] = '\0';
		log_warn("%s: the fd is not an eventfd (%s)", what, n < 0 ? strerror(errno) : link);
		return -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		log_warn("%s: cannot make the eventfd non-blocking: %s", what, strerror(errno));
		return -EINVAL;
	}
	return 0;
}

/*
 * Is the front end's eventfd ready for events right now? O_NONBLOCK lives
 * in the open file description we share with the front end, which can
 * clear it again; asking poll() first keeps a write to a full call or err
 * eventfd from blocking (a front end that clears the flag *and* fills the
 * counter between our poll and our write can still stall its own queue).
 * Kick fds are never read at all (queue_take_kick).
 */
static bool fd_ready(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};

	return poll(&p, 1, 0) == 1 && (p.revents & events);
}

/* Signal an eventfd of the front end's; never blocks (vu_check_eventfd). */
static void signal_fd(int fd)
{
	if (fd >= 0 && fd_ready(fd, POLLOUT))
		(void)eventfd_write(fd, 1);
}

static void queue_notify(struct vu_queue *q)
{
	if (!q->pushed)
		return;
	q->pushed = false;
	/* virtio 1.3 §2.7.10: interrupt only if the driver asked for one. */
	if (vq_dev_need_notify(&q->vq))
		signal_fd(q->call_fd);
}

/*
 * vhost-user.rst "VHOST_USER_SET_VRING_ERR": the back end cannot set
 * DEVICE_NEEDS_RESET itself; it reports a broken ring on this eventfd.
 */
void vu_queue_report_broken(struct vu_queue *q)
{
	signal_fd(q->err_fd);
}

static void queue_mark_broken(struct vu_queue *q)
{
	if (atomic_exchange(&q->broken, true))
		return;
	log_warn("queue %u: broken, it takes no more requests%s", q->index,
		 q->err_fd >= 0 ? "; error eventfd signalled" : "");
	vu_queue_report_broken(q);
}

int vu_queue_pop(struct vu_queue *q, struct vq_dev_elem *elem, struct iovec *iov, unsigned iov_max)
{
	int r;

	if (atomic_load_explicit(&q->broken, memory_order_relaxed))
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
	/* vhost-user.rst "Dirty page logging": the used ring, once written. */
	vu_log_ring(q);
	q->pushed = true;
}

void vu_queue_disable_kicks(struct vu_queue *q)
{
	vq_dev_disable_kicks(&q->vq);
}

bool vu_queue_enable_kicks(struct vu_queue *q)
{
	/* A broken queue pops nothing: "more available" would loop the device forever. */
	if (atomic_load_explicit(&q->broken, memory_order_relaxed))
		return false;
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

/*
 * A kick arrived. The kick eventfd is watched edge-triggered and never
 * read: every write the front end makes to an eventfd wakes its waiters,
 * so each kick is one event whatever the counter holds. Reading it would
 * race with a front end that reads its own kick fd (and may have made it
 * blocking again): a read that finds the counter drained would block the
 * queue thread until the next kick, and a stop request with it. The
 * counter cannot overflow in practice (2^64 - 2 kicks). An error or hang-up
 * cannot happen to an eventfd; should it, the fd leaves the epoll set and
 * the queue breaks. Returns true if the ring should be looked at.
 */
static bool queue_take_kick(struct vu_queue *q, uint32_t events)
{
	if (!(events & (EPOLLERR | EPOLLHUP)))
		return true;
	epoll_ctl(q->epfd, EPOLL_CTL_DEL, q->kick_fd, NULL);
	vu_queue_set_broken(q, "the kick fd failed");
	return false;
}

/*
 * QEMU's AioContext polling defaults (util/aio-posix.c): the first window
 * once polling pays, and the factor it grows by.
 */
#define VU_POLL_START_NS 4000
#define VU_POLL_GROW	 2

void vu_server_set_poll(struct vu_server *srv, unsigned max_us)
{
	srv->poll_max_ns = (uint64_t)max_us * 1000;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	/* The vDSO answers: no system call in the polling loop. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * QEMU's adjust_polling_time(): waited is how long the wait took, polling
 * and sleeping. Within the window is the sweet spot; past it but within
 * the bound, polling a little longer would have caught the work, so the
 * window grows; past the bound (the queue went idle), polling is wasted
 * and the window drops to nothing, so an idle queue costs no CPU.
 */
static void queue_poll_adapt(struct vu_queue *q, uint64_t waited)
{
	if (waited <= q->poll_ns)
		return;
	if (waited > q->poll_max_ns) {
		q->poll_ns = 0;
	} else if (q->poll_ns < q->poll_max_ns) {
		q->poll_ns = q->poll_ns ? q->poll_ns * VU_POLL_GROW : VU_POLL_START_NS;
		if (q->poll_ns > q->poll_max_ns)
			q->poll_ns = q->poll_max_ns;
	}
}

/* Something only a sleeping wait serves: a stop request, a shrunk mapping, a broken ring. */
static bool queue_poll_interrupted(struct vu_queue *q)
{
	return atomic_load_explicit(&q->stop_req, memory_order_relaxed) ||
	       atomic_load_explicit(&q->srv->mem_fault, memory_order_relaxed) ||
	       atomic_load_explicit(&q->broken, memory_order_relaxed);
}

/*
 * Spin until deadline on the avail ring (a plain load) and, while requests
 * are in flight, on the epoll set without a timeout (their completions
 * arrive on the device's fd; with nothing in flight none can, so the loop
 * makes no system call). Returns the events epoll_wait found, or 0 with
 * *ring set when buffers are available, or 0 when the window ran out or
 * something needs the sleeping wait (queue_poll_interrupted).
 */
static int queue_poll(struct vu_queue *q, struct epoll_event *ev, int nev, uint64_t deadline,
		      bool *ring)
{
	const struct vu_dev_ops *ops = q->srv->ops;

	for (;;) {
		int n;

		/*
		 * First: a ring that is never empty (one whose completions make
		 * buffers available) would otherwise keep the stop fd unread.
		 */
		if (queue_poll_interrupted(q))
			return 0;
		if (vq_dev_avail(&q->vq)) {
			*ring = true;
			return 0;
		}
		if (ops->queue_inflight(q->qdev)) {
			n = epoll_wait(q->epfd, ev, nev, 0);
			if (n)
				return n;
		}
		if (now_ns() >= deadline)
			return 0;
	}
}

/*
 * Wait for work: epoll_wait on the queue's fds, without a timeout unless
 * block. With polling on and poll set, first poll for the current window
 * (queue_poll); then, before sleeping, kicks go back on and the ring is
 * looked at once more (the race of virtio 1.3 §2.7.10, §2.8.10), which
 * vq_dev_poll_stop does. Returns what epoll_wait returns, or 0 with *ring
 * set when buffers are available.
 */
static int queue_wait(struct vu_queue *q, struct epoll_event *ev, int nev, bool block, bool poll,
		      bool *ring)
{
	uint64_t start;
	int n;

	*ring = false;
	if (!block || !q->poll_max_ns)
		return epoll_wait(q->epfd, ev, nev, block ? -1 : 0);
	start = now_ns();
	if (poll && q->poll_ns && !queue_poll_interrupted(q)) {
		vq_dev_poll_start(&q->vq);
		n = queue_poll(q, ev, nev, start + q->poll_ns, ring);
		if (n || *ring)
			return n;
	}
	if (q->vq.polling && vq_dev_poll_stop(&q->vq) &&
	    !atomic_load_explicit(&q->broken, memory_order_relaxed)) {
		*ring = true;
		queue_poll_adapt(q, now_ns() - start);
		return 0;
	}
	n = epoll_wait(q->epfd, ev, nev, -1);
	if (n > 0)
		queue_poll_adapt(q, now_ns() - start);
	return n;
}

static void *queue_thread(void *arg)
{
	struct vu_queue *q = arg;
	struct vu_server *srv = q->srv;
	const struct vu_dev_ops *ops = srv->ops;
	bool stopping = false, more;

	/*
	 * Buffers may have been made available while the queue was stopped
	 * (a restart after a reconfiguration): look once before sleeping.
	 */
	more = ops->queue_kick(q->qdev);
	queue_notify(q);
	/*
	 * vhost-user.rst "Inflight I/O tracking": after resubmitting, kick and
	 * interrupt. The kick is the queue_kick above; the interrupt covers
	 * used entries a dead back end published without signalling them.
	 */
	if (q->vq.inflight_recovered)
		signal_fd(q->call_fd);

	for (;;) {
		struct epoll_event ev[3];
		unsigned inflight = ops->queue_inflight(q->qdev);
		bool kicked = false, block;
		int n;

		if (stopping && inflight == 0)
			break;
		/*
		 * A device that stopped at its batch bound goes on after a look at
		 * the fds; a stopping queue only waits for its completions.
		 */
		block = !more || stopping;
		n = queue_wait(q, ev, ARRAY_SIZE(ev), block, !stopping, &kicked);
		if (n < 0) {
			if (errno != EINTR)
				log_err("queue %u: epoll_wait: %s", q->index, strerror(errno));
			continue;
		}
		for (int i = 0; i < n; i++) {
			eventfd_t v;

			switch (ev[i].data.u32) {
			case QEV_KICK:
				kicked |= queue_take_kick(q, ev[i].events);
				break;
			case QEV_STOP:
				(void)eventfd_read(q->stop_fd, &v);
				/* Read by the control thread after the join. */
				if (!stopping)
					q->stop_inflight = inflight;
				stopping = true;
				if (ops->queue_drain)
					ops->queue_drain(q->qdev);
				break;
			case QEV_DEV:
				ops->queue_fd_ready(q->qdev);
				break;
			}
		}
		/* A mapping shrank under us (vu_guard.h): take nothing more from this ring. */
		if (atomic_load_explicit(&srv->mem_fault, memory_order_relaxed))
			vu_queue_set_broken(q, "a memory region shrank under us");
		more = (kicked || more) && !stopping &&
		       !atomic_load_explicit(&q->broken, memory_order_relaxed) &&
		       ops->queue_kick(q->qdev);
		queue_notify(q);
	}
	/* Leave the ring with kicks on, for the next start or the next back end. */
	if (q->vq.polling)
		(void)vq_dev_poll_stop(&q->vq);
	queue_notify(q);
	return NULL;
}

static int epoll_add(int epfd, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};

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

	/* With VHOST_F_LOG_ALL, only once there is a log to mark (vu_log.c). */
	return srv->conn_fd >= 0 && srv->have_mem && q->num && q->addr_set && q->kick_fd >= 0 &&
	       !atomic_load(&q->broken) && (q->enabled || !protocol_features_acked(srv)) &&
	       (!vu_log_all(srv) || srv->log.base);
}

bool vu_ring_packed(const struct vu_server *srv)
{
	return srv->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED);
}

/*
 * A fresh ring of num entries in the layout the features say (0: none).
 * Returns 0 or -EINVAL, and then the queue has no ring.
 */
int vu_queue_reinit_ring(struct vu_queue *q, unsigned num)
{
	int ret = 0;

	vq_dev_fini(&q->vq);
	memset(&q->vq, 0, sizeof(q->vq));
	q->num = 0;
	if (num)
		ret = vq_dev_init_ring(&q->vq, num, vu_ring_packed(q->srv));
	if (!ret)
		q->num = num;
	return ret;
}

/*
 * Give q->vq the layout the features say. SET_VRING_NUM may come before
 * SET_FEATURES, so the layout is settled again whenever the ring is mapped
 * or started; the ring state is set from the base at start anyway.
 */
static int queue_set_layout(struct vu_queue *q)
{
	if (!q->num || q->vq.packed == vu_ring_packed(q->srv))
		return 0;
	return vu_queue_reinit_ring(q, q->num);
}

int vu_queue_map(struct vu_queue *q, struct vq_dev_areas *areas)
{
	unsigned num = q->num;
	int ret = queue_set_layout(q);

	if (ret) {
		log_warn("queue %u: size %u is not valid for a %s ring", q->index, num,
			 vu_ring_packed(q->srv) ? "packed" : "split");
		return ret;
	}
	/* §2.7 / §2.8.10.1: each layout has its own area sizes and alignments. */
	ret = vq_dev_map_areas(&q->vq, &q->srv->mem, q->desc_uva, q->avail_uva, q->used_uva, areas);
	if (ret)
		log_warn("queue %u: %s ring addresses are misaligned or not inside guest memory",
			 q->index, q->vq.packed ? "packed" : "split");
	return ret;
}

/*
 * Give the queue its part of the inflight region, if the front end set one
 * that fits it. One policy for every mismatch: a ring the region was not
 * laid out for (another ring type, another queue size, beyond its queue
 * count) runs untracked, with a warning — it serves the guest, and only a
 * back-end restart would then lose what it had in flight. A region read
 * in the wrong layout could resubmit garbage; a ring that never starts
 * hangs the guest; both are worse.
 */
static int queue_attach_inflight(struct vu_queue *q)
{
	const struct vu_inflight *in = &q->srv->inflight;
	const char *why = NULL;

	if (!in->base)
		return vq_dev_set_inflight(&q->vq, NULL, 0);
	if (q->index >= in->num_queues)
		why = "the inflight region does not cover it";
	else if (q->vq.packed != in->packed)
		why = in->packed ? "the inflight region has the packed layout"
				 : "the inflight region has the split layout";
	else if (in->queue_size != q->num)
		why = "the inflight region is for another queue size";
	if (why) {
		log_warn("queue %u: %s; its in-flight requests are not tracked", q->index, why);
		return vq_dev_set_inflight(&q->vq, NULL, 0);
	}
	return vq_dev_set_inflight(&q->vq, in->base + (size_t)q->index * in->stride, in->stride);
}

static int queue_start(struct vu_queue *q)
{
	struct vu_server *srv = q->srv;
	struct vq_dev_areas areas;
	int ret, dev_fd;

	ret = vu_queue_map(q, &areas);
	if (ret)
		return ret;
	q->vq.event_idx = srv->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	q->vq.indirect = srv->features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	ret = queue_attach_inflight(q);
	if (ret)
		return ret;
	ret = vq_dev_start_areas(&q->vq, &srv->mem, &areas, q->base);
	if (ret) {
		log_warn("queue %u: cannot start the %s ring at base %#x (bad base or inflight "
			 "region?)",
			 q->index, q->vq.packed ? "packed" : "split", q->base);
		return ret;
	}
	vu_log_queue_start(q, &areas);
	if (vq_dev_resubmit_pending(&q->vq))
		log_info("queue %u: resubmitting %u requests a previous back end left in flight",
			 q->index, vq_dev_resubmit_pending(&q->vq));
	ret = srv->ops->queue_start(srv->dev, q, q->num, &q->qdev);
	if (ret) {
		log_err("queue %u: cannot start: %s", q->index, strerror(-ret));
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
	ret = epoll_add(q->epfd, q->kick_fd, EPOLLIN | EPOLLET, QEV_KICK); /* queue_take_kick */
	if (!ret)
		ret = epoll_add(q->epfd, q->stop_fd, EPOLLIN, QEV_STOP);
	if (!ret)
		ret = dev_fd >= 0 ? epoll_add(q->epfd, dev_fd, EPOLLIN, QEV_DEV) : -EINVAL;
	if (ret)
		goto err_close_ep;
	q->pushed = false;
	q->stop_inflight = 0;
	q->poll_max_ns = srv->poll_max_ns;
	q->poll_ns = 0;
	atomic_store(&q->stop_req, false);
	ret = -pthread_create(&q->thread, NULL, queue_thread, q);
	if (ret)
		goto err_close_ep;
	q->running = true;
	log_info("queue %u: started: %s ring, size %u, base %#x", q->index,
		 q->vq.packed ? "packed" : "split", q->num, q->base);
	return 0;

err_close_ep:
	vu_close_fd(&q->epfd);
err_close_stop:
	vu_close_fd(&q->stop_fd);
err_queue_stop:
	memset(&q->log, 0, sizeof(q->log));
	srv->ops->queue_stop(q->qdev);
	q->qdev = NULL;
	log_err("queue %u: cannot start: %s", q->index, strerror(-ret));
	return ret;
}

/* Stop the queue's thread after its in-flight requests completed. No-op if not running. */
void vu_queue_stop(struct vu_queue *q)
{
	if (!q->running)
		return;
	atomic_store(&q->stop_req, true); /* a polling thread makes no system call */
	signal_fd(q->stop_fd);
	pthread_join(q->thread, NULL);
	/* The stop a migration makes (vhost-user.rst "Migration") drains like any other. */
	if (q->stop_inflight)
		log_info("queue %u: stopped after completing the %u requests in flight", q->index,
			 q->stop_inflight);
	vu_log_queue_stop(q);
	q->srv->ops->queue_stop(q->qdev);
	q->qdev = NULL;
	/* The next start continues where this one stopped. */
	q->base = vq_dev_get_base(&q->vq);
	vu_close_fd(&q->epfd);
	vu_close_fd(&q->stop_fd);
	q->running = false;
	log_dbg("queue %u: stopped at %#x", q->index, q->base);
}

/* Start or stop the queue to match its configuration. Returns 0 or the start error. */
int vu_queue_update(struct vu_queue *q)
{
	if (q->running && !queue_should_run(q))
		vu_queue_stop(q);
	else if (!q->running && queue_should_run(q))
		return queue_start(q);
	return 0;
}

/* Back to the state of a fresh connection. */
void vu_queue_reset(struct vu_queue *q)
{
	vu_queue_stop(q);
	vu_close_fd(&q->kick_fd);
	vu_close_fd(&q->call_fd);
	vu_close_fd(&q->err_fd);
	vu_queue_reinit_ring(q, 0);
	q->addr_set = false;
	q->base = 0;
	q->enabled = false;
	atomic_store(&q->broken, false);
}

void vu_queues_stop(struct vu_server *srv)
{
	for (unsigned i = 0; i < srv->nqueues; i++)
		vu_queue_stop(&srv->queues[i]);
}

int vu_queues_update(struct vu_server *srv)
{
	int ret = 0;

	for (unsigned i = 0; i < srv->nqueues; i++) {
		int r = vu_queue_update(&srv->queues[i]);
		if (r && !ret)
			ret = r;
	}
	return ret;
}
