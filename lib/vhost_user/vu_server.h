/* SPDX-License-Identifier: MIT */
/*
 * vhost-user server (device side, QEMU docs/interop/vhost-user.rst "back-end"):
 * owns the listening socket, the one client connection, the guest memory
 * table and the virtqueues, and runs each started+enabled queue on its own
 * thread. It knows nothing about block requests: a device plugs in through
 * struct vu_dev_ops and uses the vu_queue_* verbs on its queue threads.
 *
 * Threads: vu_server_run() runs the control plane on the caller's thread.
 * Every per-queue device callback (queue_kick, queue_fd_ready, queue_inflight)
 * runs on that queue's own thread; queue_start/queue_stop and the device-wide
 * callbacks run on the control thread while the queue's thread does not exist.
 */
#ifndef VBLK_VHOST_USER_VU_SERVER_H
#define VBLK_VHOST_USER_VU_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtq/vq_dev.h"

struct vu_server;
struct vu_queue;

/* The server never offers more queues than a SET_VRING_KICK index can name. */
#define VU_MAX_QUEUES 256

struct vu_dev_ops {
	/*
	 * Device-specific virtio feature bits offered to the driver. The server
	 * adds the ring features it implements itself (VERSION_1,
	 * INDIRECT_DESC, EVENT_IDX) and VHOST_USER_F_PROTOCOL_FEATURES.
	 */
	uint64_t (*get_features)(void *dev);
	/* The driver accepted these virtio feature bits (a subset of the offer). */
	void (*set_features)(void *dev, uint64_t features);
	/* Number of queues the device supports (1..VU_MAX_QUEUES), fixed. */
	unsigned (*num_queues)(void *dev);
	/*
	 * Copy the whole config space into buf (VHOST_USER_MAX_CONFIG_SIZE
	 * bytes available). Returns its size in bytes.
	 */
	uint32_t (*get_config)(void *dev, uint8_t *buf);
	/* A driver write of len bytes at off. Returns 0 or -EINVAL (nothing changed). */
	int (*set_config)(void *dev, uint32_t off, const void *buf, uint32_t len);

	/*
	 * Per-queue state. queue_start creates it for a ring of num entries
	 * (returns 0 and *qdev, or -errno); queue_stop frees it and is only
	 * called once queue_inflight() returned 0.
	 */
	int (*queue_start)(void *dev, struct vu_queue *q, unsigned num, void **qdev);
	void (*queue_stop)(void *qdev);
	/* The one fd the queue thread polls for completions (always >= 0). */
	int (*queue_fd)(void *qdev);
	/* The driver kicked (or the queue just started): pop and submit. */
	/*
	 * Returns true if it stopped at a bound with buffers still available:
	 * the server calls it again after a look at its fds (a stop request
	 * among them), so no ring can keep a queue thread busy forever — not
	 * even one whose used ring or data buffers overlap its own avail ring,
	 * so that completing a request makes another available.
	 */
	bool (*queue_kick)(void *qdev);
	/* queue_fd is readable: reap completions. */
	void (*queue_fd_ready)(void *qdev);
	/* Requests popped and not yet pushed. */
	unsigned (*queue_inflight)(void *qdev);
	/*
	 * Optional: the queue is stopping (nothing more is popped); finish
	 * what is in flight as soon as possible (e.g. ignore I/O limits).
	 */
	void (*queue_drain)(void *qdev);

	/* Make completed writes durable (called with no queue running). Returns 0 or -errno. */
	int (*flush)(void *dev);
};

/*
 * Create a server for the device (ops, dev) on listen_fd, a listening unix
 * stream socket that the server owns from now on (closed by destroy, even on
 * error), or -1 for none (vu_server_create_conn). Returns 0 and *out, or -errno.
 */
int vu_server_create(const struct vu_dev_ops *ops, void *dev, int listen_fd,
		     struct vu_server **out);

/*
 * Create a server for exactly one front end, already connected on conn_fd
 * (one end of a socketpair, as management layers spawn back ends:
 * vhost-user.rst "Backend program conventions", --fd). The server owns
 * conn_fd; vu_server_run() returns 0 once that front end is gone.
 * Returns 0 and *out, or -errno (conn_fd closed).
 */
int vu_server_create_conn(const struct vu_dev_ops *ops, void *dev, int conn_fd,
			  struct vu_server **out);

/*
 * Serve clients, one at a time, until stop_fd (e.g. a signalfd; not owned,
 * not read) becomes readable. Returns 0 then, or -errno on a fatal error of
 * the listening socket or of epoll. The current client stays connected.
 */
int vu_server_run(struct vu_server *srv, int stop_fd);

/*
 * Orderly shutdown: stop accepting, drop the client after every queue has
 * finished its in-flight requests, then flush the device.
 * Returns 0 or the -errno of the flush.
 */
int vu_server_shutdown(struct vu_server *srv);

/* What a management client may ask about a server (vu_server_status). */
struct vu_server_status {
	bool connected;	   /* a front end is connected */
	uint64_t features; /* virtio feature bits it accepted (SET_FEATURES), 0 before */
	bool packed;	   /* ...among them VIRTIO_F_RING_PACKED */
	unsigned queues;   /* queues the device offers */
};

/* A snapshot of srv's state. Thread-safe: any thread, while srv exists. */
void vu_server_status(const struct vu_server *srv, struct vu_server_status *st);

/*
 * The device's config space changed (e.g. its capacity after a resize):
 * tell the front end with VHOST_USER_BACKEND_CONFIG_CHANGE_MSG on the
 * back-end request channel (vhost-user.rst "Back-end communication"), which
 * then reads it again with GET_CONFIG. Thread-safe: callable from any thread
 * while the server exists; the control thread sends the message, never
 * waits for the front end's ack in place, and only logs when none comes.
 * Calls before it ran send one message. Without a channel (the front end
 * did not negotiate VHOST_USER_PROTOCOL_F_BACKEND_REQ and CONFIG) nothing is
 * sent. Returns 0 or -errno.
 */
int vu_server_config_changed(struct vu_server *s);

/*
 * Let each queue thread poll its ring (and, with requests in flight, the
 * device's completion fd) for up to max_us microseconds after it goes idle
 * before it sleeps, with the driver's kicks off while it polls (0, the
 * default: never poll). The window adapts as QEMU's AioContext polling:
 * it grows while work keeps arriving just after it, and drops to nothing
 * once the queue is idle, so an idle queue costs no CPU. Takes effect at
 * the next start of each queue; call it before vu_server_run.
 */
void vu_server_set_poll(struct vu_server *srv, unsigned max_us);

/* Free everything (drains queues first if still running). Accepts NULL. */
void vu_server_destroy(struct vu_server *srv);

/*
 * Data-path verbs for a device, only from the queue's own thread.
 */

/*
 * Pop the next available chain (see vq_dev_pop). Returns 1, 0 when empty or
 * the queue is broken and already reported, -EIO when it just broke (the
 * server has stopped the queue's intake and signalled its error eventfd).
 */
int vu_queue_pop(struct vu_queue *q, struct vq_dev_elem *elem, struct iovec *iov, unsigned iov_max);

/*
 * The device wrote into these buffers of guest memory (payload, status
 * byte): while the front end logs dirty pages (vhost-user.rst "Migration"),
 * mark their pages. Call after writing and before vu_queue_push publishes
 * the request; a no-op when logging is off.
 */
void vu_queue_log_write(struct vu_queue *q, const struct iovec *iov, unsigned n);

/*
 * Complete head with used_len bytes written (its buffers already logged with
 * vu_queue_log_write); the interrupt is sent at the end of the batch.
 */
void vu_queue_push(struct vu_queue *q, uint16_t head, uint32_t used_len);

void vu_queue_disable_kicks(struct vu_queue *q);
/* True if buffers arrived meanwhile: pop again (virtio 1.3 §2.7.10). */
bool vu_queue_enable_kicks(struct vu_queue *q);

/*
 * A framing error the device found in a popped chain: stop taking requests
 * from this queue, log once, signal the vring error eventfd. Other queues
 * keep running.
 */
void vu_queue_set_broken(struct vu_queue *q, const char *why);

/* The queue's index. */
unsigned vu_queue_index(const struct vu_queue *q);

#endif
