/* SPDX-License-Identifier: MIT */
/*
 * libvblk asynchronous data path: building a request (header, data
 * segments, status byte), adding it to the ring or the queue's FIFO, reaping
 * completions (vblk_queue_poll / vblk_queue_wait), and noticing that the
 * device went away - on any transport (transport.h).
 *
 * Disconnect: the transport says when the device is gone (a vhost-user
 * socket hung up, a PCI device vanished or asking for a reset);
 * vblk_queue_wait() watches for it; then every request still outstanding on
 * a queue completes with -ENOTCONN.
 *
 * Deadline: a request the device holds longer than dev->io_timeout_ms makes
 * vblk_queue_poll() stop the device (transport abandon) and fail what every
 * queue holds with -ETIMEDOUT. Adding a request to the ring stamps a coarse
 * clock (the FIFO does not count); the requests are scanned only when a
 * poll finds nothing and the earliest deadline known from the last scan has
 * come (q->next_check_ms).
 *
 * Polling (vblk_options.poll_us): vblk_queue_wait() spins on the used ring
 * with notifications suppressed before it sleeps; see poll_window().
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

/* Has the device gone away? The flag, or with probe a look by the transport. */
static void mark_disconnected(struct vblk *dev)
{
	/* Several queue threads may notice at once: the first one logs. */
	if (!atomic_exchange(&dev->disconnected, true))
		client_log(dev, VBLK_MSG_WARNING, "%s", dev->tr->gone_msg);
}

/* What a request the device will not complete gets: it went, or we stopped it. */
static int gone_error(struct vblk *dev)
{
	return atomic_load(&dev->timed_out) ? -ETIMEDOUT : -ENOTCONN;
}

uint64_t client_coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool disconnected(struct vblk *dev, bool probe)
{
	if (atomic_load_explicit(&dev->disconnected, memory_order_relaxed))
		return true;
	if (!dev->tr->gone(dev, probe))
		return false;
	mark_disconnected(dev);
	return true;
}

/*
 * Make vblk_queue_fd() readable: completions are waiting that the device
 * will not signal (made without it, or left over from a full poll). A full
 * eventfd counter (EAGAIN) is readable already.
 */
static void notify_self(struct vblk_queue *q)
{
	uint64_t one = 1;

	(void)!write(q->call_fd, &one, sizeof(one));
	q->fd_raised = true;
}

/*
 * dev->fd_level (no completion interrupts): vblk_queue_fd() is readable
 * exactly while requests are pending, so a caller sleeping in poll() on it
 * busy-polls while there is I/O and sleeps when idle. Only the idle/busy
 * transitions cost a system call.
 */
static void fd_level(struct vblk_queue *q)
{
	uint64_t cnt;

	if (!q->dev->fd_level || (q->pending != 0) == q->fd_raised)
		return;
	if (q->pending) {
		notify_self(q);
		return;
	}
	(void)!read(q->call_fd, &cnt, sizeof(cnt));
	q->fd_raised = false;
}

/*
 * r goes to the device now: its deadline starts. Time spent in the FIFO
 * does not count, so a deep queue on a slow device is no timeout.
 */
static void start_clock(const struct vblk_queue *q, struct client_req *r)
{
	if (q->dev->io_timeout_ms)
		r->due_ms = client_coarse_ms() + q->dev->io_timeout_ms + q->dev->clock_slack_ms;
}

static void kick(struct vblk_queue *q)
{
	if (vq_drv_kick_prepare(&q->vq) && q->dev->tr->notify(q))
		vq_drv_set_broken(&q->vq);
}

/* Add to the ring, or to the FIFO when the ring is full or others wait. */
static int enqueue(struct vblk_queue *q, struct client_req *r)
{
	int ret;

	if (!fifo_empty(&q->fifo)) {
		client_req_push(&q->fifo, r);
		return 0;
	}
	ret = vq_drv_add(&q->vq, r->sg, r->out_num, r->in_num, r);
	if (ret == -ENOSPC) {
		client_req_push(&q->fifo, r);
		return 0;
	}
	if (ret)
		return ret;
	start_clock(q, r);
	kick(q);
	return 0;
}

static struct client_req *req_get(struct vblk_queue *q, uint32_t type, uint64_t sector,
				  void *user_data)
{
	struct client_req *r = client_req_pop(&q->free);

	if (!r)
		return NULL;
	r->user_data = user_data;
	r->ret = 0;
	r->due_ms = 0;
	r->shm->hdr.type = vblk_cpu_to_le32(type);
	r->shm->hdr.ioprio = 0;
	r->shm->hdr.sector = vblk_cpu_to_le64(sector);
	/* 0xFF is no status the device may write (virtio 1.3 §5.2.6): an unwritten one shows. */
	r->shm->status = 0xFF;
	r->sg[0].addr = r->shm_addr;
	r->sg[0].len = sizeof(struct virtio_blk_outhdr);
	r->out_num = 1;
	r->in_num = 0;
	return r;
}

static void req_put(struct vblk_queue *q, struct client_req *r)
{
	client_req_push(&q->free, r);
}

static int submit(struct vblk_queue *q, struct client_req *r)
{
	/* The status byte always comes last, device-writable. */
	r->sg[r->out_num + r->in_num].addr = r->shm_addr + offsetof(struct client_req_shm, status);
	r->sg[r->out_num + r->in_num].len = 1;
	r->in_num++;
	/* A direct chain longer than the ring would wait in the FIFO forever. */
	if (!vq_drv_fits(&q->vq, (unsigned)r->out_num + r->in_num)) {
		req_put(q, r);
		return -EINVAL;
	}
	/* Nobody would ever complete it. */
	if (disconnected(q->dev, false)) {
		req_put(q, r);
		return -ENOTCONN;
	}
	int ret = enqueue(q, r);
	if (ret) {
		req_put(q, r);
		return ret;
	}
	q->pending++;
	fd_level(q);
	return 0;
}

int client_check_range(const struct vblk *dev, uint64_t offset, uint64_t len)
{
	uint64_t mask = dev->info.logical_block_size - 1;

	if (len == 0 || (offset & mask) || (len & mask))
		return -EINVAL;
	if (offset > dev->info.capacity || len > dev->info.capacity - offset)
		return -ERANGE;
	return 0;
}

/* Append the data buffers of iov to r->sg, splitting at the segment size. */
static int add_data(struct vblk_queue *q, struct client_req *r, const struct iovec *iov, int iovcnt,
		    uint64_t *total)
{
	const struct vblk *dev = q->dev;
	unsigned nseg = 0, max = CLIENT_MAX_SEGS;
	uint64_t seg = dev->info.size_max ? dev->info.size_max : CLIENT_SEG_CAP;
	unsigned at = r->out_num + r->in_num;

	if (dev->info.seg_max && dev->info.seg_max < max)
		max = dev->info.seg_max;
	*total = 0;
	if (iovcnt <= 0)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;
		if (!left)
			continue;
		if (!client_in_pool(dev, p, left))
			return -EFAULT;
		*total += left;
		while (left) {
			size_t n = client_dma_run(dev, p, left < seg ? left : seg);
			if (nseg == max)
				return -EINVAL;
			r->sg[at + nseg].addr = client_dev_addr(dev, p);
			r->sg[at + nseg].len = (uint32_t)n;
			nseg++;
			p += n;
			left -= n;
		}
	}
	if (!*total)
		return -EINVAL;
	return (int)nseg;
}

static int rw(struct vblk_queue *q, bool write, uint64_t offset, const struct iovec *iov,
	      int iovcnt, void *user_data)
{
	struct vblk *dev = q->dev;
	struct client_req *r;
	uint64_t total;
	int nseg, ret;

	if (write && dev->info.read_only)
		return -EROFS;
	r = req_get(q, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
		    offset >> VIRTIO_BLK_SECTOR_SHIFT, user_data);
	if (!r)
		return -EAGAIN;
	nseg = add_data(q, r, iov, iovcnt, &total);
	ret = nseg < 0 ? nseg : client_check_range(dev, offset, total);
	if (!ret && total > dev->info.max_transfer)
		ret = -EINVAL;
	if (ret) {
		req_put(q, r);
		return ret;
	}
	if (write)
		r->out_num = (uint16_t)(r->out_num + nseg);
	else
		r->in_num = (uint16_t)nseg;
	return submit(q, r);
}

int vblk_queue_readv(struct vblk_queue *q, uint64_t offset, const struct iovec *iov, int iovcnt,
		     void *user_data)
{
	return rw(q, false, offset, iov, iovcnt, user_data);
}

int vblk_queue_writev(struct vblk_queue *q, uint64_t offset, const struct iovec *iov, int iovcnt,
		      void *user_data)
{
	return rw(q, true, offset, iov, iovcnt, user_data);
}

int vblk_queue_read(struct vblk_queue *q, uint64_t offset, void *buf, size_t len, void *user_data)
{
	struct iovec iov = {buf, len};

	return rw(q, false, offset, &iov, 1, user_data);
}

int vblk_queue_write(struct vblk_queue *q, uint64_t offset, const void *buf, size_t len,
		     void *user_data)
{
	struct iovec iov = {(void *)buf, len};

	return rw(q, true, offset, &iov, 1, user_data);
}

int vblk_queue_flush(struct vblk_queue *q, void *user_data)
{
	/* §5.2.6: flush sector must be 0. */
	struct client_req *r = req_get(q, VIRTIO_BLK_T_FLUSH, 0, user_data);

	if (!r)
		return -EAGAIN;
	if (!client_has_feature(q->dev, VIRTIO_BLK_F_FLUSH)) {
		/*
		 * No FLUSH feature: the device is write-through, nothing to do.
		 * The device will not signal this completion; we do, for callers
		 * that sleep on vblk_queue_fd().
		 */
		client_req_push(&q->done, r);
		q->pending++;
		if (q->dev->fd_level)
			fd_level(q);
		else
			notify_self(q);
		return 0;
	}
	return submit(q, r);
}

static int discard_like(struct vblk_queue *q, uint32_t type, unsigned feature, uint32_t max_sect,
			uint64_t offset, uint64_t len, uint32_t flags, void *user_data)
{
	struct vblk *dev = q->dev;
	struct client_req *r;
	uint64_t nsect = len >> VIRTIO_BLK_SECTOR_SHIFT;
	int ret;

	if (!client_has_feature(dev, feature))
		return -ENOTSUP;
	if (dev->info.read_only)
		return -EROFS;
	ret = client_check_range(dev, offset, len);
	if (ret)
		return ret;
	if (nsect > UINT32_MAX || (max_sect && nsect > max_sect))
		return -EINVAL;
	r = req_get(q, type, 0, user_data);
	if (!r)
		return -EAGAIN;
	r->shm->seg.sector = vblk_cpu_to_le64(offset >> VIRTIO_BLK_SECTOR_SHIFT);
	r->shm->seg.num_sectors = vblk_cpu_to_le32((uint32_t)nsect);
	r->shm->seg.flags = vblk_cpu_to_le32(flags);
	/* Header and the one segment are contiguous in the request's shared header. */
	r->sg[0].len =
	    sizeof(struct virtio_blk_outhdr) + sizeof(struct virtio_blk_discard_write_zeroes);
	return submit(q, r);
}

int vblk_queue_discard(struct vblk_queue *q, uint64_t offset, uint64_t len, void *user_data)
{
	return discard_like(q, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_F_DISCARD,
			    q->dev->info.max_discard_sectors, offset, len, 0, user_data);
}

int vblk_queue_write_zeroes(struct vblk_queue *q, uint64_t offset, uint64_t len, unsigned flags,
			    void *user_data)
{
	if (flags & ~VBLK_WRITE_ZEROES_UNMAP)
		return -EINVAL;
	return discard_like(
	    q, VIRTIO_BLK_T_WRITE_ZEROES, VIRTIO_BLK_F_WRITE_ZEROES,
	    q->dev->info.max_write_zeroes_sectors, offset, len,
	    flags & VBLK_WRITE_ZEROES_UNMAP ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0, user_data);
}

int vblk_queue_get_id(struct vblk_queue *q, void *buf, void *user_data)
{
	struct client_req *r;

	if (!client_in_pool(q->dev, buf, VBLK_ID_BYTES))
		return -EFAULT;
	r = req_get(q, VIRTIO_BLK_T_GET_ID, 0, user_data);
	if (!r)
		return -EAGAIN;
	r->sg[1].addr = client_dev_addr(q->dev, buf);
	r->sg[1].len = VBLK_ID_BYTES;
	r->in_num = 1;
	return submit(q, r);
}

/* Result of a request the device returned with used.len = len. */
static int req_result(const struct client_req *r, uint32_t len)
{
	uint8_t status = READ_ONCE(r->shm->status);

	/*
	 * virtio 1.3 §5.2.6: the status byte is the last byte written, so
	 * used.len < 1 or an unwritten status is a device error.
	 */
	if (len < 1)
		return -EIO;
	switch (status) {
	case VIRTIO_BLK_S_OK:
		return 0;
	case VIRTIO_BLK_S_UNSUPP:
		return -ENOTSUP;
	default:
		return -EIO; /* IOERR, 0xFF (unwritten), anything else */
	}
}

/* Move requests from the FIFO into ring slots freed by completions. */
static void dispatch_fifo(struct vblk_queue *q)
{
	bool added = false;
	struct client_req *r;

	while ((r = fifo_peek_entry(&q->fifo, struct client_req, link))) {
		int ret = vq_drv_add(&q->vq, r->sg, r->out_num, r->in_num, r);
		if (ret == -ENOSPC)
			break;
		(void)fifo_pop(&q->fifo);
		if (ret) {
			/* Cannot happen for a request add accepted before; fail it, keep order. */
			r->ret = -EIO;
			client_req_push(&q->done, r);
			continue;
		}
		start_clock(q, r);
		added = true;
	}
	if (added)
		kick(q);
}

/*
 * The device broke the ring (err -EIO) or went away (-ENOTCONN): every
 * request we hold completes with err, and the ring takes no more.
 */
void client_queue_fail_all(struct vblk_queue *q, int err)
{
	struct client_req *r;

	if (err == -EIO && !q->broken_logged) {
		q->broken_logged = true;
		client_log(q->dev, VBLK_MSG_WARNING,
			   "queue %u: the back end broke the ring (malformed used entry): "
			   "its requests fail with EIO",
			   q->index);
	}
	vq_drv_set_broken(&q->vq);
	while ((r = vq_drv_detach_unused(&q->vq))) {
		r->ret = err;
		r->due_ms = 0;
		client_req_push(&q->done, r);
	}
	while ((r = client_req_pop(&q->fifo))) {
		r->ret = err;
		client_req_push(&q->done, r);
	}
}

/*
 * Has a request q holds missed its deadline? Scans the requests only once
 * the earliest deadline seen by the last scan has come; a request submitted
 * since is due later than that.
 */
static bool deadline_passed(struct vblk_queue *q)
{
	const struct vblk *dev = q->dev;
	uint64_t now, first = UINT64_MAX;

	if (!dev->io_timeout_ms)
		return false;
	now = client_coarse_ms();
	if (now < q->next_check_ms)
		return false;
	for (unsigned i = 0; i < q->nreqs; i++)
		if (q->reqs[i].due_ms && q->reqs[i].due_ms < first)
			first = q->reqs[i].due_ms;
	if (first <= now)
		return true;
	q->next_check_ms = first != UINT64_MAX ? first : now + dev->io_timeout_ms;
	return false;
}

/*
 * A request missed its deadline: stop the device so that it cannot write
 * memory the caller reuses once the request has failed, and fail what q
 * holds. The other queues fail theirs with -ETIMEDOUT at their next poll
 * (they see the device gone). Every queue that gets here abandons: the
 * transports make it idempotent, and none fails a request before the device
 * is stopped.
 */
static void expire(struct vblk_queue *q)
{
	struct vblk *dev = q->dev;

	if (!atomic_exchange(&dev->timed_out, true))
		client_log(dev, VBLK_MSG_ERROR,
			   "queue %u: the %s did not complete a request in %u ms: stopped, its "
			   "requests fail with ETIMEDOUT",
			   q->index, dev->tr->name, dev->io_timeout_ms);
	dev->tr->abandon(dev);
	atomic_store(&dev->disconnected, true);
	client_queue_fail_all(q, -ETIMEDOUT);
}

static int reap(struct vblk_queue *q, struct vblk_completion *c, unsigned max)
{
	unsigned n = 0;
	uint64_t cnt;
	struct client_req *r;

	/* Clear the notification before looking, so none that follows is lost. */
	if (!q->dev->fd_level && read(q->call_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return -errno;
	if (q->dev->tr->ack)
		q->dev->tr->ack(q);
	for (;;) {
		void *cookie;
		uint32_t len;
		int ret = 0;

		while (n < max && (r = client_req_pop(&q->done))) {
			c[n].user_data = r->user_data;
			c[n++].ret = r->ret;
			req_put(q, r);
			q->pending--;
		}
		/* A ring already failed (by us or the device) has nothing more to give. */
		while (n < max && !vq_drv_is_broken(&q->vq) &&
		       (ret = vq_drv_get_buf(&q->vq, &cookie, &len)) == 1) {
			r = cookie;
			r->due_ms = 0;
			c[n].user_data = r->user_data;
			c[n++].ret = req_result(r, len);
			req_put(q, r);
			q->pending--;
		}
		/*
		 * What the back end completed before it went away was reaped
		 * above; the rest never will be. The socket is looked at only
		 * when we would otherwise report nothing.
		 */
		if (ret >= 0 && (vq_drv_inflight(&q->vq) || !fifo_empty(&q->fifo)) &&
		    disconnected(q->dev, n == 0 && fifo_empty(&q->done)))
			client_queue_fail_all(q, gone_error(q->dev));
		if (ret < 0)
			client_queue_fail_all(q, -EIO);
		if (!fifo_empty(&q->done) && n < max)
			continue;
		if (!n && fifo_empty(&q->done) && vq_drv_is_broken(&q->vq))
			return disconnected(q->dev, false) ? gone_error(q->dev) : -EIO;
		if (!vq_drv_is_broken(&q->vq))
			dispatch_fifo(q);
		if (n == max || vq_drv_is_broken(&q->vq)) {
			/* More may wait: leave the fd readable so a sleeper does not hang. */
			if (!fifo_empty(&q->done) || vq_drv_more_used(&q->vq))
				notify_self(q);
			break;
		}
		/* Nothing left: re-arm, unless a completion slipped in meanwhile. */
		if (vq_drv_enable_cb(&q->vq) && fifo_empty(&q->done))
			break;
	}
	return (int)n;
}

int vblk_queue_poll(struct vblk_queue *q, struct vblk_completion *c, unsigned max)
{
	int n = reap(q, c, max);

	/* The deadline is looked at only when the device gave us nothing. */
	if (n == 0 && q->dev->tr->abandon && !atomic_load(&q->dev->disconnected) &&
	    vq_drv_inflight(&q->vq) && deadline_passed(q)) {
		expire(q);
		n = reap(q, c, max);
	}
	fd_level(q);
	return n;
}

/*
 * How long vblk_queue_wait() may sleep: timeout_ms, but no longer than until
 * a request of q may miss its deadline (vblk_queue_poll() then notices).
 */
static int wait_slice(const struct vblk_queue *q, int timeout_ms)
{
	uint64_t now, left;

	if (!q->dev->io_timeout_ms || !q->dev->tr->abandon || !q->pending)
		return timeout_ms;
	now = client_coarse_ms();
	left = q->next_check_ms > now ? q->next_check_ms - now : 1;
	if (timeout_ms >= 0 && (uint64_t)timeout_ms <= left)
		return timeout_ms;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* How often a poll window asks the transport whether the device went (a syscall). */
#define POLL_GONE_CHECK_NS 1000000u

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Let a sibling hyperthread (or the device's thread) run while we spin. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

/*
 * Spin on the used ring until a chain is there, end_ns passes or the device
 * goes, with used-buffer notifications suppressed meanwhile (virtio 1.3
 * §2.7.10 flags / used_event, §2.8.10 driver event suppression): the device
 * skips its signal and we skip the wake-up. The caller's next
 * vblk_queue_poll() reaps and re-enables them, looking once more after
 * re-enabling (the race of §2.7.10), so nothing is lost before it sleeps.
 */
static void poll_window(struct vblk_queue *q, uint64_t end_ns)
{
	uint64_t next_check = now_ns() + POLL_GONE_CHECK_NS;

	vq_drv_disable_cb(&q->vq);
	for (unsigned spin = 1; !vq_drv_more_used(&q->vq); spin++) {
		uint64_t now;

		cpu_relax();
		/* The clock is cheap (vDSO) but not free: look every few spins. */
		if (spin % 16)
			continue;
		now = now_ns();
		if (now >= end_ns)
			return;
		/* A device that hung up completes nothing more: stop polling for it. */
		if (now >= next_check) {
			if (disconnected(q->dev, true))
				return;
			next_check = now + POLL_GONE_CHECK_NS;
		}
	}
}

/*
 * After a wait that polled and then had to sleep, waited_ns after the
 * window opened: QEMU's poll-max-ns heuristic (util/aio-posix.c). A
 * completion that came later than poll_us would not have been caught by
 * any window: stop polling. One that came within poll_us would have been
 * caught by a longer one: double the window (from 4 us).
 */
static void poll_adapt(struct vblk_queue *q, uint64_t waited_ns)
{
	uint64_t max = q->dev->opts.poll_us * 1000u;

	if (waited_ns > max)
		q->poll_ns = 0;
	else if (waited_ns > q->poll_ns)
		q->poll_ns = q->poll_ns ? VBLK_MIN(q->poll_ns * 2, max) : VBLK_MIN(4000u, max);
}

int vblk_queue_wait(struct vblk_queue *q, struct vblk_completion *c, unsigned max, int timeout_ms)
{
	/* timeout_ms bounds the whole call: the poll window and every sleep. */
	uint64_t start = now_ns();
	uint64_t end = timeout_ms < 0 ? UINT64_MAX : start + (uint64_t)timeout_ms * 1000000u;
	bool polled = !q->dev->opts.poll_us, windowed = false, slept = false;

	for (;;) {
		int n = vblk_queue_poll(q, c, max), left = -1;
		if (n != 0) {
			if (windowed && slept)
				poll_adapt(q, now_ns() - start);
			return n;
		}
		/* Once per call, and only for requests the device holds. */
		if (!polled && vq_drv_inflight(&q->vq) && end > start) {
			uint64_t win = start + q->poll_ns;
			polled = windowed = true;
			/* A window adapted down to 0 still learns from this wait. */
			if (q->poll_ns) {
				poll_window(q, win < end ? win : end);
				continue;
			}
		}
		if (timeout_ms >= 0) {
			uint64_t now = now_ns();
			if (now >= end)
				return 0;
			/* Round up: waking before the deadline would only sleep again. */
			left = (int)((end - now + 999999u) / 1000000u);
		}
		slept = true;
		/* No longer than until a request may miss its deadline: poll notices. */
		int slice = wait_slice(q, left);
		n = q->dev->tr->wait(q, slice);
		/* The device went: the next poll fails what the queue held. */
		if (n == -ENOTCONN)
			mark_disconnected(q->dev);
		else if (n < 0)
			return n;
		/* Woken for a deadline check (slice < left): round again, end bounds the call. */
		if (n == 0 && slice == left)
			return vblk_queue_poll(q, c, max);
	}
}
