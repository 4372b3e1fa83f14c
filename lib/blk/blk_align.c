/* SPDX-License-Identifier: MIT */
/*
 * The padding stage: sits between the request handlers (blk.c) and the
 * submit queue (blk_sq.c) in front of the backend, so that a backend with an I/O alignment
 * (O_DIRECT: offsets, lengths and buffers multiples of 512 or 4096) serves every valid request,
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
 * note eventfd, both under the device's hand-over mutex, which queue
 * teardown takes too (handover() says why). The note eventfd is in the
 * queue's one pollable fd (blk_queue_fd), so the queue's thread wakes and
 * blk_stage_process runs the woken requests before reaping.
 *
 * Layering: blk.c calls down (blk_stage.h), this file calls down into the
 * submit queue (blk_sq.h), and results go up only through the done callback
 * given at queue creation. A request's stage state lives in the opaque
 * `stage` bytes of struct blk_req; the per-queue state is allocated here.
 */
#include "blk_stage.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk_note.h"
#include "blk_sq.h"
#include "internal/compiler.h"
#include "internal/iov.h"
#include "internal/list.h"
#include "internal/log.h"

/* Bounce pool per queue: VBLK_POOL_BUFS buffers of VBLK_CHUNK bytes (at least one backend block).
 */
#define VBLK_POOL_BUFS 4u
#define VBLK_CHUNK     (UINT64_C(64) << 10)

enum { PH_READ, PH_RHEAD, PH_RTAIL, PH_WRITE, PH_DIRECT };

struct blk_stage_queue {
	struct blk_dev *d;
	struct blk_sq sq;
	blk_stage_done_fn *done;
	struct blk_note *note; /* the owner's: signalled after a push to `wake` */
	uint8_t *pool;	       /* pool_n bounce buffers of chunk bytes, one allocation */
	uint8_t **pool_free;   /* stack of free buffers */
	unsigned pool_n, pool_nfree;
	uint64_t chunk;
	struct fifo bwait; /* waiting for a bounce buffer (blk_stage_req.bwait_link) */
	/* Requests whose range another queue's completion granted (LIFO stack, any thread pushes).
	 */
	_Atomic(struct blk_stage_req *) wake;
};

struct blk_stage_req {
	struct blk_sq_entry e; /* the backend I/O now running for this request */
	struct blk_stage_queue *stq;
	struct blk_stage_op op;
	bool bounce; /* data goes through a bounce buffer */
	bool locked; /* rl is in the device's range lock */
	uint8_t phase;
	uint64_t pos;	       /* bytes of [off, off+len) done */
	uint64_t clo, chi, cn; /* current chunk: aligned [clo, chi), cn request bytes */
	uint8_t *buf;
	struct iovec biov;
	struct blk_rl_node rl;
	struct fifo_link bwait_link;	 /* in stq->bwait */
	struct blk_stage_req *next_wait; /* cross-queue wake list */
};

/* blk.h sizes the opaque storage; it must hold the state and be aligned enough for it. */
static_assert(sizeof(struct blk_stage_req) <= BLK_REQ_STAGE_BYTES, "BLK_REQ_STAGE_BYTES");
static_assert(alignof(struct blk_stage_req) <= alignof(max_align_t), "blk_req.stage alignment");

static uint64_t align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static bool iov_aligned(const struct iovec *iov, unsigned cnt, uint32_t align)
{
	uintptr_t bits = 0;

	if (align <= 1)
		return true;
	for (unsigned i = 0; i < cnt; i++)
		bits |= (uintptr_t)iov[i].iov_base | iov[i].iov_len;
	return (bits & (align - 1)) == 0;
}

/* ---- queue set-up -------------------------------------------------------- */

static int pool_init(struct blk_stage_queue *stq)
{
	struct blk_dev *d = stq->d;
	uint32_t balign = VBLK_MAX(VBLK_MAX(d->be_align, d->be_mem_align), 4096u);

	stq->chunk = VBLK_MAX(VBLK_CHUNK, (uint64_t)d->be_align);
	stq->pool_n = VBLK_POOL_BUFS;
	if (posix_memalign((void **)&stq->pool, balign, stq->chunk * stq->pool_n)) {
		stq->pool = NULL;
		return -ENOMEM;
	}
	stq->pool_free = calloc(stq->pool_n, sizeof(*stq->pool_free));
	if (!stq->pool_free)
		return -ENOMEM;
	for (unsigned i = 0; i < stq->pool_n; i++)
		stq->pool_free[stq->pool_nfree++] = stq->pool + i * stq->chunk;
	return 0;
}

int blk_stage_queue_create(struct blk_dev *d, unsigned depth, struct blk_note *note,
			   blk_stage_done_fn *done, struct blk_stage_queue **out)
{
	struct blk_stage_queue *stq = calloc(1, sizeof(*stq));
	int ret;

	if (!stq)
		return -ENOMEM;
	stq->d = d;
	stq->done = done;
	stq->note = note;
	atomic_init(&stq->wake, NULL);
	ret = blk_sq_init(&stq->sq, d->be, depth);
	if (ret < 0)
		goto err_free;
	if (d->pad) {
		ret = pool_init(stq);
		if (ret < 0)
			goto err_destroy;
	}
	*out = stq;
	return 0;

err_destroy:
	blk_stage_queue_destroy(stq);
	return ret;
err_free:
	free(stq);
	return ret;
}

void blk_stage_queue_destroy(struct blk_stage_queue *stq)
{
	if (!stq)
		return;
	/*
	 * Nothing of ours is in flight, but a releaser on another thread may
	 * still be between handing our last request over and writing note_fd:
	 * wait for it (see handover()).
	 */
	if (stq->d->rmw) {
		pthread_mutex_lock(&stq->d->handover_mu);
		pthread_mutex_unlock(&stq->d->handover_mu);
	}
	blk_sq_fini(&stq->sq);
	free(stq->pool_free);
	free(stq->pool);
	free(stq);
}

int blk_stage_backend_fd(const struct blk_stage_queue *stq)
{
	return blk_sq_fd(&stq->sq);
}

void blk_stage_kick(struct blk_stage_queue *stq)
{
	blk_sq_kick(&stq->sq);
}

bool blk_stage_ready(const struct blk_stage_queue *stq)
{
	return blk_sq_ready(&stq->sq);
}

/* ---- wake-ups ------------------------------------------------------------ */

/*
 * Give the requests a release granted (linked through next_granted) to their
 * queues and wake those queues.
 *
 * Why under d->handover_mu: once a request is on its queue's wake stack, that
 * queue's thread may run it to completion, see nothing in flight and destroy
 * the queue (vu_server stops a queue as soon as it is idle), all before this
 * thread writes the queue's eventfd: a write to a closed (maybe reused) fd
 * and a read of freed memory. Queue teardown (blk_stage_queue_destroy) takes
 * the same mutex, so it waits until every hand-over that may target its
 * queue has also done its wake-up. The mutex is only taken when a release
 * granted something, so uncontended writes never touch it.
 */
static void handover(struct blk_dev *d, struct blk_rl_node *g)
{
	pthread_mutex_lock(&d->handover_mu);
	while (g) {
		/* Read both before the push: from then on the request is its queue's. */
		struct blk_rl_node *next = g->next_granted;
		struct blk_stage_req *sr = container_of(g, struct blk_stage_req, rl);
		struct blk_stage_queue *stq = sr->stq;
		struct blk_stage_req *old = atomic_load_explicit(&stq->wake, memory_order_relaxed);

		/* Release: the owner sees everything the releaser did before the push. */
		do {
			sr->next_wait = old;
		} while (!atomic_compare_exchange_weak_explicit(
		    &stq->wake, &old, sr, memory_order_release, memory_order_relaxed));
		blk_note_signal(stq->note);
		g = next;
	}
	pthread_mutex_unlock(&d->handover_mu);
}

static void stage_locked(struct blk_stage_queue *stq, struct blk_stage_req *sr);

/* Continue the requests other queues granted, in arrival order. Returns how many. */
static unsigned run_wakeups(struct blk_stage_queue *stq)
{
	struct blk_stage_req *list, *fifo = NULL;
	unsigned n = 0;

	list = atomic_exchange_explicit(&stq->wake, NULL, memory_order_acquire);
	/* The stack is newest first: reverse to arrival order. */
	while (list) {
		struct blk_stage_req *next = list->next_wait;

		list->next_wait = fifo;
		fifo = list;
		list = next;
	}
	while (fifo) {
		struct blk_stage_req *sr = fifo;

		fifo = sr->next_wait;
		sr->next_wait = NULL;
		stage_locked(stq, sr);
		n++;
	}
	return n;
}

void blk_stage_process(struct blk_stage_queue *stq)
{
	for (;;) {
		unsigned woken = run_wakeups(stq);
		unsigned moved = blk_sq_poll(&stq->sq);

		if (woken)
			blk_sq_kick(&stq->sq);
		/* Our own completions may have granted ranges to our own requests. */
		if (atomic_load_explicit(&stq->wake, memory_order_relaxed))
			continue;
		/*
		 * A synchronous backend finishes inside submit and reports only
		 * when reaped: go round again until nothing moves. An asynchronous
		 * one will make its fd readable.
		 */
		if (!stq->sq.sync || (moved == 0 && woken == 0))
			break;
	}
}

/* ---- bounce pool --------------------------------------------------------- */

static void chunk_step(struct blk_stage_queue *stq, struct blk_stage_req *sr);

static void bounce_put(struct blk_stage_queue *stq, uint8_t *buf)
{
	/* Hand it straight to the oldest waiter. */
	struct blk_stage_req *w = fifo_pop_entry(&stq->bwait, struct blk_stage_req, bwait_link);

	if (!w) {
		stq->pool_free[stq->pool_nfree++] = buf;
		return;
	}
	w->buf = buf;
	w->pos = 0;
	chunk_step(stq, w);
}

/* ---- the stage ----------------------------------------------------------- */

/* The operation is over: give back the range and the buffer, then report. */
static void stage_end(struct blk_stage_queue *stq, struct blk_stage_req *sr, int res)
{
	if (sr->locked) {
		struct blk_rl_node *g = blk_range_lock_release(&stq->d->rl, &sr->rl);

		sr->locked = false;
		if (g)
			handover(stq->d, g);
	}
	if (sr->buf) {
		uint8_t *buf = sr->buf;

		sr->buf = NULL;
		stq->done(sr, &sr->e.io, res);
		bounce_put(stq, buf);
		return;
	}
	stq->done(sr, &sr->e.io, res);
}

static void sub_done(struct be_io *io, int res);

/* One backend I/O on the bounce buffer: [off, off+len) <-> buf. */
static void sub_io(struct blk_stage_queue *stq, struct blk_stage_req *sr, enum be_op op,
		   unsigned flags, uint64_t off, uint64_t len, uint8_t *buf)
{
	sr->biov = (struct iovec){buf, len};
	sr->e.io = (struct be_io){
	    .op = op,
	    .flags = flags,
	    .offset = off,
	    .len = len,
	    .iov = &sr->biov,
	    .iovcnt = 1,
	    .done = sub_done,
	};
	blk_sq_submit(&stq->sq, &sr->e);
}

static void write_chunk(struct blk_stage_queue *stq, struct blk_stage_req *sr)
{
	uint64_t boff = sr->op.off + sr->pos;

	iov_to_buf(sr->op.iov, sr->op.iovcnt, sr->pos, sr->buf + (boff - sr->clo), sr->cn);
	sr->phase = PH_WRITE;
	sub_io(stq, sr, BE_OP_WRITE, sr->op.flags, sr->clo, sr->chi - sr->clo, sr->buf);
}

static void read_tail(struct blk_stage_queue *stq, struct blk_stage_req *sr)
{
	uint64_t a = stq->d->be_align;

	sr->phase = PH_RTAIL;
	sub_io(stq, sr, BE_OP_READ, 0, sr->chi - a, a, sr->buf + (sr->chi - a - sr->clo));
}

/* Start the next chunk, or finish. */
static void chunk_step(struct blk_stage_queue *stq, struct blk_stage_req *sr)
{
	uint64_t a = stq->d->be_align, boff;
	bool head, tail;

	if (sr->pos == sr->op.len) {
		stage_end(stq, sr, 0);
		return;
	}
	boff = sr->op.off + sr->pos;
	sr->clo = align_down(boff, a);
	/* clo + chunk is aligned and >= boff + cn, so chi - clo <= chunk. */
	sr->cn = VBLK_MIN(sr->op.len - sr->pos, stq->chunk - (boff - sr->clo));
	sr->chi = align_up(boff + sr->cn, a);
	if (sr->op.op == BE_OP_READ) {
		sr->phase = PH_READ;
		sub_io(stq, sr, BE_OP_READ, 0, sr->clo, sr->chi - sr->clo, sr->buf);
		return;
	}
	head = boff != sr->clo;
	tail = boff + sr->cn != sr->chi;
	if (head) {
		sr->phase = PH_RHEAD;
		sub_io(stq, sr, BE_OP_READ, 0, sr->clo, a, sr->buf);
	} else if (tail) {
		read_tail(stq, sr);
	} else {
		write_chunk(stq, sr);
	}
}

static void sub_done(struct be_io *io, int res)
{
	struct blk_stage_req *sr = container_of(io, struct blk_stage_req, e.io);
	struct blk_stage_queue *stq = sr->stq;
	uint64_t boff = sr->op.off + sr->pos;

	if (res < 0) {
		stage_end(stq, sr, res);
		return;
	}
	switch (sr->phase) {
	case PH_READ:
		iov_from_buf(sr->op.iov, sr->op.iovcnt, sr->pos, sr->buf + (boff - sr->clo),
			     sr->cn);
		sr->pos += sr->cn;
		chunk_step(stq, sr);
		break;
	case PH_RHEAD:
		/* The tail block is a different block: read it too. */
		if (boff + sr->cn != sr->chi && sr->chi - stq->d->be_align != sr->clo)
			read_tail(stq, sr);
		else
			write_chunk(stq, sr);
		break;
	case PH_RTAIL:
		write_chunk(stq, sr);
		break;
	case PH_WRITE:
		sr->pos += sr->cn;
		chunk_step(stq, sr);
		break;
	default:
		stage_end(stq, sr, res);
		break;
	}
}

static void direct_done(struct be_io *io, int res)
{
	struct blk_stage_req *sr = container_of(io, struct blk_stage_req, e.io);

	stage_end(sr->stq, sr, res);
}

static void stage_direct(struct blk_stage_queue *stq, struct blk_stage_req *sr)
{
	sr->phase = PH_DIRECT;
	sr->e.io = (struct be_io){
	    .op = sr->op.op,
	    .flags = sr->op.flags,
	    .offset = sr->op.off,
	    .len = sr->op.len,
	    .iov = sr->op.iov,
	    .iovcnt = sr->op.iovcnt,
	    .done = direct_done,
	};
	blk_sq_submit(&stq->sq, &sr->e);
}

/* The range (if any) is held: go. */
static void stage_locked(struct blk_stage_queue *stq, struct blk_stage_req *sr)
{
	if (!sr->bounce) {
		stage_direct(stq, sr);
		return;
	}
	if (stq->pool_nfree == 0) {
		/* Wait for a buffer (FIFO): never fail a valid request for lack of one. */
		fifo_push(&stq->bwait, &sr->bwait_link);
		return;
	}
	sr->buf = stq->pool_free[--stq->pool_nfree];
	sr->pos = 0;
	chunk_step(stq, sr);
}

void blk_stage_start(struct blk_stage_queue *stq, struct blk_stage_req *sr,
		     const struct blk_stage_op *op)
{
	struct blk_dev *d = stq->d;
	uint64_t a = d->be_align;
	bool partial;

	sr->stq = stq;
	sr->op = *op;
	sr->bounce = false;
	sr->locked = false;
	sr->buf = NULL;
	sr->next_wait = NULL;
	if (!d->pad) {
		stage_direct(stq, sr);
		return;
	}
	partial = ((op->off | op->len) & (a - 1)) != 0;
	if (op->op == BE_OP_READ || op->op == BE_OP_WRITE)
		sr->bounce = partial || !iov_aligned(op->iov, op->iovcnt, d->be_mem_align);
	if (d->rmw && op->len && op->op != BE_OP_READ && op->op != BE_OP_FLUSH) {
		sr->rl.start = align_down(op->off, a);
		sr->rl.end = align_up(op->off + op->len, a);
		sr->rl.excl = op->op == BE_OP_WRITE && partial;
		sr->locked = true;
		if (!blk_range_lock_acquire(&d->rl, &sr->rl))
			return; /* a release pushes sr on our wake stack */
	}
	stage_locked(stq, sr);
}
