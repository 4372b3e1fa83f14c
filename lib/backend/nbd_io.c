/* SPDX-License-Identifier: MIT */
/*
 * NBD backend: the I/O thread of a queue. Its loop, its wait on the socket
 * and the wake-up eventfd, and its two hand-offs with the engine thread:
 * intake() takes the batches kick() queued on q->sub, publish() moves
 * finished requests to q->done for reap() (be_nbd.c has the whole model).
 *
 * Because one thread issues commands and waits on the socket, no POLLOUT
 * hand-off is needed: the direction (nbd_aio_get_direction) is re-read before
 * every poll(), and socket events go to libnbd through
 * nbd_aio_notify_read/write.
 */
#include "nbd_priv.h"

#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "internal/compiler.h"
#include "internal/log.h"

/* Make eventfd fd readable. */
void be_nbd_efd_signal(int fd)
{
	uint64_t one = 1;

	/* EAGAIN only if the counter is saturated: the fd is readable anyway. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("nbd: eventfd write: %s", strerror(errno));
}

/* Reset eventfd fd to not readable. */
void be_nbd_efd_drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("nbd: eventfd read: %s", strerror(errno));
}

/*
 * Move src to the end of dst (one of the lists q->lock protects) and make efd
 * readable for the thread on the other side; nothing if src is empty.
 */
void be_nbd_hand_over(struct nbd_queue *q, struct fifo *dst, struct fifo *src, int efd)
{
	if (fifo_empty(src))
		return;
	pthread_mutex_lock(&q->lock);
	fifo_splice(dst, src);
	pthread_mutex_unlock(&q->lock);
	be_nbd_efd_signal(efd);
}

/* Hand finished requests to the engine thread: reap() takes them from q->done. */
static void publish(struct nbd_queue *q)
{
	be_nbd_hand_over(q, &q->done, &q->finished, q->done_efd);
}

/* Take new submissions; returns true if the queue is being destroyed. */
static bool intake(struct nbd_queue *q)
{
	struct fifo batch = {0};
	struct nbd_req *r;
	bool stop;

	pthread_mutex_lock(&q->lock);
	fifo_splice(&batch, &q->sub);
	stop = q->stop;
	pthread_mutex_unlock(&q->lock);

	while ((r = fifo_pop_entry(&batch, struct nbd_req, link))) {
		int ret = be_nbd_req_start(q, r);

		if (ret < 0) {
			r->io->be_res = ret;
			r->issued_all = true;
		}
		fifo_push(&q->active, &r->link);
	}
	return stop;
}

static bool stop_requested(struct nbd_queue *q)
{
	bool stop;

	pthread_mutex_lock(&q->lock);
	stop = q->stop;
	pthread_mutex_unlock(&q->lock);
	return stop;
}

/* Wait up to ms on wake_efd; returns true if the queue is being destroyed. */
bool be_nbd_sleep_or_stop(struct nbd_queue *q, unsigned ms)
{
	struct pollfd p = {.fd = q->wake_efd, .events = POLLIN};

	if (stop_requested(q))
		return true;
	if (poll(&p, 1, (int)ms) > 0)
		be_nbd_efd_drain(q->wake_efd);
	return stop_requested(q);
}

/*
 * Wait (up to timeout_ms, -1: no limit) for the socket or a wake-up and let
 * libnbd make progress.
 */
void be_nbd_wait_events(struct nbd_queue *q, int timeout_ms)
{
	struct pollfd p[2] = {{.fd = q->wake_efd, .events = POLLIN}};
	nfds_t n = 1;
	unsigned dir = 0;

	if (q->h) {
		dir = nbd_aio_get_direction(q->h);
		p[1].fd = nbd_aio_get_fd(q->h);
		p[1].events = (short)((dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) |
				      (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0));
		if (p[1].fd < 0) {
			q->lost = true;
			return;
		}
		n = 2;
	}
	if (poll(p, n, timeout_ms) < 0) {
		if (errno != EINTR)
			log_warn("nbd: poll: %s", strerror(errno));
		return;
	}
	if (p[0].revents)
		be_nbd_efd_drain(q->wake_efd);
	if (n == 2 && p[1].revents) {
		int r = 0;

		dir = nbd_aio_get_direction(q->h);
		if (dir & LIBNBD_AIO_DIRECTION_READ && p[1].revents & (POLLIN | POLLHUP | POLLERR))
			r = nbd_aio_notify_read(q->h);
		else if (dir & LIBNBD_AIO_DIRECTION_WRITE &&
			 p[1].revents & (POLLOUT | POLLHUP | POLLERR))
			r = nbd_aio_notify_write(q->h);
		else if (p[1].revents & (POLLHUP | POLLERR))
			r = nbd_aio_notify_read(q->h); /* let libnbd see the hang-up */
		if (r < 0)
			q->lost = true;
	}
	be_nbd_process_completed(q);
}

/* The I/O thread of queue arg, until queue_destroy() asks it to stop. */
void *be_nbd_io_thread(void *arg)
{
	struct nbd_queue *q = arg;

	for (;;) {
		if (intake(q)) {
			be_nbd_final_flush(q);
			break;
		}
		be_nbd_pf_service(q);
		if (!q->h && !fifo_empty(&q->active)) {
			/* Down: one quick attempt per batch, fail fast if the server is away. */
			unsigned ms = VBLK_MIN(q->nbe->reconnect_ms, NBD_DOWN_ATTEMPT_MS);

			if (be_nbd_conn_try(q, ms ? ms : 1) == 0) {
				log_info("nbd: reconnected to %s", q->nbe->uri);
			} else {
				be_nbd_fail_all(q, -EIO);
			}
		}
		be_nbd_pump(q);
		be_nbd_process_completed(q);
		if (q->lost) {
			be_nbd_recover(q);
			be_nbd_pump(q);
			publish(q);
			continue;
		}
		publish(q);
		be_nbd_wait_events(q, -1);
	}
	return NULL;
}
