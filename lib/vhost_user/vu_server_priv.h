/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user server's private state, shared by its five files:
 *   vu_server.c  the connection: accept, receive with a deadline, run, destroy;
 *   vu_proto.c   the protocol: the per-request contract table, dispatch, handlers;
 *   vu_queue.c   the queues: thread, start/stop/reset, the eventfds of a ring;
 *   vu_mem.c     the mappings: guest memory table and inflight region;
 *   vu_log.c     dirty logging for live migration: the log and its marks.
 *   vu_backend.c the back-end request channel (CONFIG_CHANGE_MSG).
 *
 * Threads and ownership (docs/design.md "Threads"): the control thread
 * (vu_server_run) owns everything here. A started queue's thread reads its
 * own vu_queue's configuration, which the control thread changes only while
 * that thread does not exist ("stop, change, start"); `broken` is the one
 * field both threads touch while it runs, hence atomic.
 */
#ifndef VBLK_VHOST_USER_VU_SERVER_PRIV_H
#define VBLK_VHOST_USER_VU_SERVER_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vblk/spec/vhost_user.h>

#include "virtq/vq_mem.h"
#include "vu_guard.h"
#include "vu_server.h"

/*
 * A front end that stops in the middle of a message must not hold the
 * control thread (and with it SIGTERM and every other request) for long:
 * once the first byte of a message has arrived, the whole message, fds
 * included, must arrive within this time. Replies get the same bound.
 */
#define VU_MSG_DEADLINE_MS 5000

/* What the control thread's epoll events are about (data.u64, low 32 bits). */
enum vu_ev {
	VU_EV_LISTEN = 1,
	VU_EV_CONN, /* high 32 bits: the connection's fd */
	VU_EV_STOP,
	VU_EV_FAULT,
	VU_EV_CONFIG,	     /* vu_server_config_changed() */
	VU_EV_BACKEND,	     /* the back-end request channel is readable */
	VU_EV_BACKEND_TIMER, /* an ack on it is overdue */
};

struct vu_map {
	void *addr;
	size_t len;
	int guard; /* vu_guard slot, or -1 */
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

/*
 * The dirty log of the connection (SET_LOG_BASE, vhost-user.rst "Migration"):
 * one bit per VHOST_LOG_PAGE of guest physical memory, size bytes.
 */
struct vu_log {
	struct vu_map map; /* our mapping, from offset 0 of the fd */
	uint8_t *base;	   /* map.addr + mmap_offset; NULL: no log */
	uint64_t size;
	int call_fd; /* SET_LOG_FD, or -1 */
};

/*
 * What a running queue logs, fixed at its start (vu_log_queue_start):
 * bitmap NULL means VHOST_F_LOG_ALL is off. ring_gpa/len: the guest ranges
 * the ring itself writes (split: the used ring at log_guest_addr; packed:
 * the descriptor ring and the device area), len 0 when unused.
 */
struct vu_queue_log {
	uint8_t *bitmap;
	uint64_t size;
	uint64_t ring_gpa[2], ring_len[2];
	bool warned; /* a mark fell outside the log: said once */
};

struct vu_queue {
	struct vu_server *srv;
	unsigned index;
	struct vq_dev vq;

	/* Configuration: control thread only, changed while the thread is stopped. */
	unsigned num; /* 0 until SET_VRING_NUM */
	bool addr_set;
	uint64_t desc_uva, avail_uva, used_uva;
	uint32_t addr_flags;	 /* SET_VRING_ADDR: VHOST_VRING_F_LOG */
	uint64_t log_guest_addr; /* its gpa of the used ring, for logging */
	/*
	 * SET/GET_VRING_BASE: split, the next avail index; packed, the 32-bit
	 * encoding of vq_types.h (vhost-user.rst "Vring descriptor indices for
	 * packed virtqueues").
	 */
	uint32_t base;
	int kick_fd, call_fd, err_fd; /* eventfds, O_NONBLOCK (vu_queue_take_eventfd) */
	bool enabled;		      /* SET_VRING_ENABLE */

	/* Set by the queue thread, read by the control thread at any time. */
	atomic_bool broken;

	/* Running state. */
	bool running;
	pthread_t thread;
	int stop_fd;
	int epfd;
	void *qdev;
	bool pushed; /* queue thread: pushes since the last notify decision */
	/*
	 * Adaptive polling (vu_queue.c queue_wait): poll_max_ns is the
	 * server's, copied at start; poll_ns the current window (queue thread).
	 */
	uint64_t poll_max_ns, poll_ns;
	atomic_bool stop_req;	/* vu_queue_stop asked: a polling thread looks at it */
	unsigned stop_inflight; /* queue thread: in flight when told to stop; read after join */
	struct vu_queue_log log;
};

struct vu_server {
	const struct vu_dev_ops *ops;
	void *dev;
	int listen_fd;
	int conn_fd;
	int epfd;
	int stop_fd; /* vu_server_run's, while it runs; polled during a message too */
	unsigned nqueues;
	struct vu_queue *queues;

	/* SET_FEATURES; atomic because vu_server_status reads it from any thread. */
	_Atomic uint64_t features;
	uint64_t protocol_features; /* SET_PROTOCOL_FEATURES */

	bool have_mem; /* mem has a region */
	struct vq_mem mem;
	struct vu_map maps[VQ_MEM_MAX_REGIONS]; /* one per region, in no order (addr NULL: free) */

	struct vu_inflight inflight; /* base == NULL: none */
	struct vu_log log;	     /* base == NULL: none */

	/*
	 * Signalled (from a SIGBUS handler) when a mapping the front end gave us
	 * shrank under us; the control thread then drops the connection.
	 */
	int fault_fd;
	atomic_int mem_fault;

	/* conn_fd >= 0, published for vu_server_status (any thread). */
	atomic_bool connected;

	/* vu_server_set_poll: the bound of each queue's polling window, 0 = off. */
	uint64_t poll_max_ns;

	/* vu_server_create_conn: no listening socket; run ends with the connection. */
	bool one_conn;

	/*
	 * The back-end request channel (vu_backend.c): SET_BACKEND_REQ_FD's
	 * socket (-1: none), the eventfd vu_server_config_changed() writes from
	 * any thread, and the timer bounding the wait for an ack.
	 */
	int backend_fd;
	int cfg_fd;
	int backend_timer;
	bool backend_wait;     /* a CONFIG_CHANGE_MSG awaits its ack */
	bool cfg_pending;      /* and another change came meanwhile */
	unsigned backend_late; /* acks that timed out and may still arrive */
};

/* vu_queue.c */
bool vu_ring_packed(const struct vu_server *srv);
int vu_queue_update(struct vu_queue *q);
void vu_queue_stop(struct vu_queue *q);
void vu_queue_reset(struct vu_queue *q);
int vu_queue_reinit_ring(struct vu_queue *q, unsigned num);
int vu_queue_map(struct vu_queue *q, struct vq_dev_areas *areas);
void vu_queue_report_broken(struct vu_queue *q);
void vu_queues_stop(struct vu_server *srv);
int vu_queues_update(struct vu_server *srv);
int vu_check_eventfd(int fd, const char *what);
void vu_close_fd(int *fd);

/* vu_mem.c */
struct vhost_user_memory;
struct vhost_user_memory_region;
int vu_mem_set_table(struct vu_server *srv, const struct vhost_user_memory *m, int *fds);
int vu_mem_add_region(struct vu_server *srv, const struct vhost_user_memory_region *r, int fd);
int vu_mem_rem_region(struct vu_server *srv, const struct vhost_user_memory_region *r);
void vu_mem_drop(struct vu_server *srv);
int vu_inflight_install(struct vu_server *srv, int fd, uint64_t offset, uint64_t size,
			uint16_t num_queues, uint16_t queue_size, bool packed);
void vu_inflight_drop(struct vu_server *srv);
int vu_fd_covers(int fd, uint64_t end, const char *what);
int vu_map_guarded(struct vu_server *srv, int fd, size_t len, struct vu_map *m);
void vu_map_drop(struct vu_map *m);

/* vu_log.c */
bool vu_log_all(const struct vu_server *srv);
int vu_log_install(struct vu_server *srv, int fd, uint64_t size, uint64_t offset);
void vu_log_drop(struct vu_server *srv);
void vu_log_queue_start(struct vu_queue *q, const struct vq_dev_areas *areas);
void vu_log_queue_stop(struct vu_queue *q);
void vu_log_ring(struct vu_queue *q);

/* vu_backend.c */
int vu_backend_init(struct vu_server *srv);
void vu_backend_fini(struct vu_server *srv);
int vu_backend_set_fd(struct vu_server *srv, int fd);
void vu_backend_drop(struct vu_server *srv);
void vu_backend_config_event(struct vu_server *srv);
void vu_backend_ready(struct vu_server *srv);
void vu_backend_timeout(struct vu_server *srv);

/* vu_server.c: send on the connection within VU_MSG_DEADLINE_MS. 0 or -errno. */
int vu_conn_send(struct vu_server *srv, const struct vhost_user_msg *m, const int *fds,
		 unsigned nfds);

/* vu_proto.c: run one message; false means drop the connection. */
bool vu_dispatch(struct vu_server *srv, const struct vhost_user_msg *msg, int *fds, unsigned nfds);
uint64_t vu_offered_features(const struct vu_server *srv);

#endif
