/* SPDX-License-Identifier: MIT */
/*
 * The padding stage: sits between the request handlers (blk.c) and the
 * backend, so that a backend with an I/O alignment (O_DIRECT: offsets,
 * lengths and buffers multiples of 512 or 4096) serves every valid request,
 * whatever the guest's logical block size, the export's range start or the
 * guest's buffer addresses. The backend stays dumb; this works for any
 * backend whose info.align or info.mem_align is > 1.
 *
 * Per request:
 *  - Aligned offset/length and aligned buffers: straight to the backend.
 *  - Otherwise the request goes through one bounce buffer in chunks of at
 *    most `chunk` bytes of aligned backend range. A read reads the aligned
 *    superset and copies out the wanted bytes. A write reads the partial head
 *    and tail blocks first (read-modify-write), copies the guest's bytes in
 *    and writes the aligned superset. Chunks run one after another, so a
 *    request larger than the pool still succeeds (never IOERR for an
 *    internal limit); the data in a bounce buffer is one iovec (no IOV_MAX).
 *
 * Bounce buffers: a per-queue pool allocated at queue creation; a request
 * that finds it empty waits in a per-queue FIFO and gets the next buffer
 * given back (same thread, so no locking). Nothing here mallocs per request.
 *
 * Lost updates (only when d->rmw: the guest's logical block or the range
 * start is finer than the backend's alignment): an RMW rewrites bytes of the
 * block it does not own, so it must not overlap any other write of those
 * blocks, on any queue. Every modifying request (write, discard, write
 * zeroes, secure erase) enters the device-wide range lock (range_lock.h) on
 * its aligned range: exclusive if it is a partial-block write, shared if it
 * covers whole blocks (two whole-block writes never lose each other's data).
 * Reads never lock: an RMW writes back the bytes it read, so a concurrent
 * read sees the same values either way. Decision: aligned writes on such a
 * device always take the lock (one mutex round trip, O(log n)); skipping it
 * while no RMW is in flight would need an RMW to wait for writes that
 * bypassed the tree, for little gain on a configuration whose small writes
 * are RMWs anyway. Devices without rmw (align <= logical block) never touch
 * the lock.
 *
 * Cross-queue wake-up: a release hands back the nodes it unblocked, in
 * arrival order. Each belongs to a request of some queue; the releaser
 * pushes it on that queue's lock-free wake stack and writes the queue's
 * eventfd, both under the device's hand-over mutex, which queue teardown
 * takes too (handover() says why). The queue's fd (vblk_queue_fd) is an epoll set of the backend's
 * fd and that eventfd, so the queue's thread wakes, and vblk_queue_process
 * runs the woken requests (vblk_stage_run_wakeups) before reaping.
 */
#include "blk_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal/compiler.h"
#include "internal/iov.h"
#include "internal/log.h"

/* Bounce pool per queue: VBLK_POOL_BUFS buffers of VBLK_CHUNK bytes (at least one backend block).
 */
#define VBLK_POOL_BUFS 4u
#define VBLK_CHUNK     (UINT64_C(64) << 10)

enum { PH_READ, PH_RHEAD, PH_RTAIL, PH_WRITE, PH_DIRECT };

static uint64_t align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

bool vblk_iov_aligned(const struct iovec *iov, unsigned cnt, uint32_t align)
{
	uintptr_t bits = 0;

	if (align <= 1)
		return true;
	for (unsigned i = 0; i < cnt; i++)
		bits |= (uintptr_t)iov[i].iov_base | iov[i].iov_len;
	return (bits & (align - 1)) == 0;
}

/* ---- queue set-up -------------------------------------------------------- */

int vblk_stage_queue_init(struct vblk_queue *q)
{
	struct vblk_dev *d = q->d;
	uint32_t balign = VBLK_MAX(VBLK_MAX(d->be_align, d->be_mem_align), 4096u);
	int bfd, ret;

	q->wake_fd = -1;
	q->poll_fd = -1;
	atomic_init(&q->wake, NULL);
	if (!d->pad)
		return 0;
	q->chunk = VBLK_MAX(VBLK_CHUNK, (uint64_t)d->be_align);
	q->pool_n = VBLK_POOL_BUFS;
	if (posix_memalign((void **)&q->pool, balign, q->chunk * q->pool_n))
		return -ENOMEM;
	q->pool_free = calloc(q->pool_n, sizeof(*q->pool_free));
	if (!q->pool_free)
		return -ENOMEM;
	for (unsigned i = 0; i < q->pool_n; i++)
		q->pool_free[q->pool_nfree++] = q->pool + i * q->chunk;
	if (!d->rmw)
		return 0;

	q->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->wake_fd < 0)
		return -errno;
	bfd = d->be->ops->queue_fd(q->bq);
	if (bfd < 0) {
		/* Synchronous backend: vblk_queue_kick signals wake_fd while work is pending. */
		q->poll_fd = q->wake_fd;
		return 0;
	}
	q->poll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (q->poll_fd < 0)
		return -errno;
	struct epoll_event ev = {.events = EPOLLIN};
	ev.data.fd = bfd;
	if (epoll_ctl(q->poll_fd, EPOLL_CTL_ADD, bfd, &ev) < 0)
		goto err;
	ev.data.fd = q->wake_fd;
	if (epoll_ctl(q->poll_fd, EPOLL_CTL_ADD, q->wake_fd, &ev) < 0)
		goto err;
	return 0;
err:
	ret = -errno;
	return ret;
}

void vblk_stage_queue_fini(struct vblk_queue *q)
{
	/*
	 * Nothing of ours is in flight, but a releaser on another thread may
	 * still be between handing our last request over and writing wake_fd:
	 * wait for it (see handover()).
	 */
	if (q->wake_fd >= 0) {
		pthread_mutex_lock(&q->d->handover_mu);
		pthread_mutex_unlock(&q->d->handover_mu);
	}
	if (q->poll_fd >= 0 && q->poll_fd != q->wake_fd)
		close(q->poll_fd);
	if (q->wake_fd >= 0)
		close(q->wake_fd);
	q->poll_fd = q->wake_fd = -1;
	free(q->pool_free);
	free(q->pool);
	q->pool_free = NULL;
	q->pool = NULL;
}

/* ---- wake-ups ------------------------------------------------------------ */

static void wake_fd_signal(int fd)
{
	uint64_t one = 1;

	/* Only fails when the counter would overflow, and then it is readable anyway. */
	if (write(fd, &one, sizeof(one)) < 0)
		return;
}

/*
 * Give the requests a release granted (linked through next_granted) to their
 * queues and wake those queues.
 *
 * Why under d->handover_mu: once a request is on its queue's wake stack, that
 * queue's thread may run it to completion, see nothing in flight and destroy
 * the queue (vu_server stops a queue as soon as it is idle), all before this
 * thread writes the queue's eventfd: a write to a closed (maybe reused) fd
 * and a read of freed memory. Queue teardown (vblk_stage_queue_fini) takes
 * the same mutex, so it waits until every hand-over that may target its
 * queue has also done its wake-up. The mutex is only taken when a release
 * granted something, so uncontended writes never touch it.
 */
static void handover(struct vblk_dev *d, struct vblk_rl_node *g)
{
	pthread_mutex_lock(&d->handover_mu);
	while (g) {
		/* Read both before the push: from then on the request is its queue's. */
		struct vblk_rl_node *next = g->next_granted;
		struct vblk_req *req = container_of(g, struct vblk_req, st.rl);
		struct vblk_queue *q = req->q;
		struct vblk_req *old = atomic_load_explicit(&q->wake, memory_order_relaxed);

		/* Release: the owner sees everything the releaser did before the push. */
		do {
			req->st.next_wait = old;
		} while (!atomic_compare_exchange_weak_explicit(
		    &q->wake, &old, req, memory_order_release, memory_order_relaxed));
		wake_fd_signal(q->wake_fd);
		g = next;
	}
	pthread_mutex_unlock(&d->handover_mu);
}

bool vblk_stage_wake_pending(struct vblk_queue *q)
{
	return atomic_load_explicit(&q->wake, memory_order_relaxed) != NULL;
}

static void stage_locked(struct vblk_queue *q, struct vblk_req *req);

unsigned vblk_stage_run_wakeups(struct vblk_queue *q)
{
	struct vblk_req *list, *fifo = NULL;
	uint64_t cnt;
	unsigned n = 0;

	if (q->wake_fd < 0)
		return 0;
	/* Clear the eventfd first: a push after this re-arms it. */
	if (read(q->wake_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		vblk_warn("virtio-blk: wake eventfd read: %s", strerror(errno));
	list = atomic_exchange_explicit(&q->wake, NULL, memory_order_acquire);
	/* The stack is newest first: reverse to arrival order. */
	while (list) {
		struct vblk_req *next = list->st.next_wait;

		list->st.next_wait = fifo;
		fifo = list;
		list = next;
	}
	while (fifo) {
		struct vblk_req *req = fifo;

		fifo = req->st.next_wait;
		req->st.next_wait = NULL;
		stage_locked(q, req);
		n++;
	}
	return n;
}

/* ---- bounce pool --------------------------------------------------------- */

static void chunk_step(struct vblk_queue *q, struct vblk_req *req);

static void bounce_put(struct vblk_queue *q, uint8_t *buf)
{
	struct vblk_req *w = q->bwait_head;

	if (!w) {
		q->pool_free[q->pool_nfree++] = buf;
		return;
	}
	/* Hand it straight to the oldest waiter. */
	q->bwait_head = w->st.next_wait;
	if (!q->bwait_head)
		q->bwait_tail = NULL;
	w->st.next_wait = NULL;
	w->st.buf = buf;
	w->st.pos = 0;
	chunk_step(q, w);
}

/* ---- the stage ----------------------------------------------------------- */

/* The operation is over: give back the range and the buffer, then report. */
static void stage_end(struct vblk_queue *q, struct vblk_req *req, int res)
{
	struct vblk_req_stage *s = &req->st;

	if (s->locked) {
		struct vblk_rl_node *g = vblk_range_lock_release(&q->d->rl, &s->rl);

		s->locked = false;
		if (g)
			handover(q->d, g);
	}
	if (s->buf) {
		uint8_t *buf = s->buf;

		s->buf = NULL;
		vblk_req_op_done(q, req, res);
		bounce_put(q, buf);
		return;
	}
	vblk_req_op_done(q, req, res);
}

static void sub_done(struct be_io *io, int res);

/* One backend I/O on the bounce buffer: [off, off+len) <-> buf. */
static void sub_io(struct vblk_queue *q, struct vblk_req *req, enum be_op op, unsigned flags,
		   uint64_t off, uint64_t len, uint8_t *buf)
{
	req->st.biov = (struct iovec){buf, len};
	req->io = (struct be_io){
	    .op = op,
	    .flags = flags,
	    .offset = off,
	    .len = len,
	    .iov = &req->st.biov,
	    .iovcnt = 1,
	    .done = sub_done,
	};
	vblk_req_dispatch(q, req);
}

static void write_chunk(struct vblk_queue *q, struct vblk_req *req)
{
	struct vblk_req_stage *s = &req->st;
	uint64_t boff = s->off + s->pos;

	vblk_iov_to_buf(s->iov, s->iovcnt, s->pos, s->buf + (boff - s->clo), s->cn);
	s->phase = PH_WRITE;
	sub_io(q, req, BE_OP_WRITE, s->flags, s->clo, s->chi - s->clo, s->buf);
}

static void read_tail(struct vblk_queue *q, struct vblk_req *req)
{
	struct vblk_req_stage *s = &req->st;
	uint64_t a = q->d->be_align;

	s->phase = PH_RTAIL;
	sub_io(q, req, BE_OP_READ, 0, s->chi - a, a, s->buf + (s->chi - a - s->clo));
}

/* Start the next chunk, or finish. */
static void chunk_step(struct vblk_queue *q, struct vblk_req *req)
{
	struct vblk_req_stage *s = &req->st;
	uint64_t a = q->d->be_align, boff;
	bool head, tail;

	if (s->pos == s->len) {
		stage_end(q, req, 0);
		return;
	}
	boff = s->off + s->pos;
	s->clo = align_down(boff, a);
	/* clo + chunk is aligned and >= boff + cn, so chi - clo <= chunk. */
	s->cn = VBLK_MIN(s->len - s->pos, q->chunk - (boff - s->clo));
	s->chi = align_up(boff + s->cn, a);
	if (s->op == BE_OP_READ) {
		s->phase = PH_READ;
		sub_io(q, req, BE_OP_READ, 0, s->clo, s->chi - s->clo, s->buf);
		return;
	}
	head = boff != s->clo;
	tail = boff + s->cn != s->chi;
	if (head) {
		s->phase = PH_RHEAD;
		sub_io(q, req, BE_OP_READ, 0, s->clo, a, s->buf);
	} else if (tail) {
		read_tail(q, req);
	} else {
		write_chunk(q, req);
	}
}

static void sub_done(struct be_io *io, int res)
{
	struct vblk_req *req = container_of(io, struct vblk_req, io);
	struct vblk_queue *q = req->q;
	struct vblk_req_stage *s = &req->st;
	uint64_t boff = s->off + s->pos;

	if (res < 0) {
		stage_end(q, req, res);
		return;
	}
	switch (s->phase) {
	case PH_READ:
		vblk_iov_from_buf(s->iov, s->iovcnt, s->pos, s->buf + (boff - s->clo), s->cn);
		s->pos += s->cn;
		chunk_step(q, req);
		break;
	case PH_RHEAD:
		/* The tail block is a different block: read it too. */
		if (boff + s->cn != s->chi && s->chi - q->d->be_align != s->clo)
			read_tail(q, req);
		else
			write_chunk(q, req);
		break;
	case PH_RTAIL:
		write_chunk(q, req);
		break;
	case PH_WRITE:
		s->pos += s->cn;
		chunk_step(q, req);
		break;
	default:
		stage_end(q, req, res);
		break;
	}
}

static void direct_done(struct be_io *io, int res)
{
	struct vblk_req *req = container_of(io, struct vblk_req, io);

	stage_end(req->q, req, res);
}

static void stage_direct(struct vblk_queue *q, struct vblk_req *req)
{
	struct vblk_req_stage *s = &req->st;

	s->phase = PH_DIRECT;
	req->io = (struct be_io){
	    .op = s->op,
	    .flags = s->flags,
	    .offset = s->off,
	    .len = s->len,
	    .iov = s->iov,
	    .iovcnt = s->iovcnt,
	    .done = direct_done,
	};
	vblk_req_dispatch(q, req);
}

/* The range (if any) is held: go. */
static void stage_locked(struct vblk_queue *q, struct vblk_req *req)
{
	struct vblk_req_stage *s = &req->st;

	if (!s->bounce) {
		stage_direct(q, req);
		return;
	}
	if (q->pool_nfree == 0) {
		/* Wait for a buffer (FIFO): never fail a valid request for lack of one. */
		s->next_wait = NULL;
		if (q->bwait_tail)
			q->bwait_tail->st.next_wait = req;
		else
			q->bwait_head = req;
		q->bwait_tail = req;
		return;
	}
	s->buf = q->pool_free[--q->pool_nfree];
	s->pos = 0;
	chunk_step(q, req);
}

void vblk_stage_start(struct vblk_queue *q, struct vblk_req *req)
{
	struct vblk_dev *d = q->d;
	struct vblk_req_stage *s = &req->st;
	uint64_t a = d->be_align;
	bool partial;

	s->bounce = false;
	s->locked = false;
	s->buf = NULL;
	s->next_wait = NULL;
	if (!d->pad) {
		stage_direct(q, req);
		return;
	}
	partial = ((s->off | s->len) & (a - 1)) != 0;
	if (s->op == BE_OP_READ || s->op == BE_OP_WRITE)
		s->bounce = partial || !vblk_iov_aligned(s->iov, s->iovcnt, d->be_mem_align);
	if (d->rmw && s->len && s->op != BE_OP_READ && s->op != BE_OP_FLUSH) {
		s->rl.start = align_down(s->off, a);
		s->rl.end = align_up(s->off + s->len, a);
		s->rl.excl = s->op == BE_OP_WRITE && partial;
		s->locked = true;
		if (!vblk_range_lock_acquire(&d->rl, &s->rl))
			return; /* a release pushes req on our wake stack */
	}
	stage_locked(q, req);
}
