/* SPDX-License-Identifier: MIT */
/*
 * What the NBD backend's files share: the device, queue, request and command
 * structs, their lists, and the functions one file calls in another. Private
 * to be_nbd.c and nbd_*.c. Each struct says which thread may touch which
 * members; the threading model is at the top of be_nbd.c.
 *
 * The files, one job each:
 *   be_nbd.c          be_ops glue: open/close, queues, submit/kick/reap
 *   nbd_io.c          the I/O thread's loop and its hand-offs with the engine
 *   nbd_conn.c        connections: connect, capabilities, reconnect
 *   nbd_submit.c      requests into NBD commands: splitting, FUA, issuing
 *   nbd_complete.c    command completion and retirement
 *   nbd_durability.c  unflushed-write tracking, flush fan-out across connections
 */
#ifndef VBLK_BACKEND_NBD_PRIV_H
#define VBLK_BACKEND_NBD_PRIV_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include <libnbd.h>

#include "be_nbd.h"
#include "internal/list.h"

#define NBD_DEFAULT_MAX_BLOCK (32u << 20)
/* Payload-free commands (TRIM, WRITE_ZEROES) are split here, as QEMU does. */
#define NBD_NOPAYLOAD_MAX (1u << 30)
#define NBD_RETRY_MS	  250
/* One connection attempt in the "down" state waits at most this long. */
#define NBD_DOWN_ATTEMPT_MS 1000
/* What a connection's server advertises. */
struct nbd_caps {
	uint64_t size;
	uint64_t max_block;  /* READ/WRITE piece limit, multiple of min_block */
	uint64_t max_nopl;   /* TRIM/WRITE_ZEROES piece limit */
	uint32_t min_block;  /* 1 if not advertised */
	uint32_t pref_block; /* 0 if not advertised */
	bool ro, can_flush, can_fua, can_trim, can_zero, multi_conn;
};

struct nbd_be {
	struct be base;
	char *uri;
	unsigned reconnect_ms;
	pthread_mutex_t lock; /* protects everything below */
	/* The connection open() made; handed to the first queue (qemu-nbd serves one client by
	 * default). */
	struct nbd_handle *spare;
	unsigned nqueues;
	struct nbd_queue *queues; /* every live queue, linked by peer_next */
	uint64_t loss_gen;	  /* durability losses so far */
	uint64_t loss_reported;	  /* loss_gen when a flush last reported a loss */
	uint64_t pf_gen;	  /* latest flush every connection was asked to make */
};

struct nbd_queue;

enum cmd_kind { CMD_READ, CMD_WRITE, CMD_FLUSH, CMD_TRIM, CMD_ZERO };
enum cmd_state { CMD_FREE, CMD_INFLIGHT, CMD_COMPLETED, CMD_RESUBMIT };

struct nbd_req {
	struct be_io *io;
	struct fifo_link link;	   /* in one of the queue's request lists */
	struct nbd_req *next_free; /* q->free_reqs */
	const struct iovec *iov;   /* io->iov, or &bounce */
	unsigned iovcnt;
	struct iovec bounce;
	unsigned iov_idx; /* cursor: next element and byte in it */
	size_t iov_off;
	uint64_t issued; /* bytes covered by commands so far */
	bool issued_all;
	bool flush_after; /* FUA emulated by a trailing FLUSH */
	bool flush_issued;
	bool piece_acked;   /* flush_after: a piece acknowledged before its FLUSH */
	uint64_t loss_seen; /* FLUSH: nbe->loss_gen when the request started */
	uint64_t pf_gen;    /* FLUSH: generation the other queues must answer (0: none) */
};

struct nbd_cmd {
	struct nbd_queue *q;
	struct nbd_req *req;
	struct fifo_link link;	   /* in q->completed or q->resubmit */
	struct nbd_cmd *next_free; /* q->free_cmds */
	void *buf;
	uint64_t off;
	uint64_t len;
	uint32_t flags;
	enum cmd_kind kind;
	enum cmd_state state;
	int err;	/* positive errno from libnbd's completion */
	uint64_t cover; /* FLUSH: q->acked when sent, what its success makes durable */
	/* FLUSH of our own (req == NULL): the generation it answers, 0 for the final flush. */
	uint64_t pf_gen;
};

struct nbd_queue {
	struct be_queue base;
	struct nbd_be *nbe;
	int done_efd; /* queue_fd(): readable when q->done is not empty */
	int wake_efd; /* new submissions or stop */
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock;
	/* Protected by lock. */
	struct fifo sub; /* of nbd_req */
	struct fifo done;
	bool stop;

	/* Engine thread only. */
	struct nbd_req *reqs;
	struct nbd_req *free_reqs;
	struct fifo staged;

	/* I/O thread only (and queue_create / queue_destroy around it). */
	struct nbd_handle *h;
	struct nbd_caps caps;
	struct nbd_cmd *cmds;
	unsigned ncmds;
	struct nbd_cmd *free_cmds;
	struct fifo completed; /* of nbd_cmd, filled by be_nbd_cmd_cb() */
	struct fifo resubmit;
	struct fifo active;
	struct fifo finished; /* to publish on q->done */
	bool lost;	      /* the connection broke: be_nbd_recover() before issuing more */
	bool size_warned;
	uint64_t acked;	  /* non-FUA writes acknowledged on any connection so far */
	uint64_t flushed; /* the value of acked the last successful flush covered */
	uint64_t pf_seen; /* latest nbe->pf_gen taken up */
	bool final_pending;
	int final_res;

	/* Protected by nbe->lock. */
	struct nbd_queue *peer_next;
	uint64_t pf_done;   /* latest flush generation answered */
	uint64_t pf_failed; /* latest generation answered with a failed flush */
};

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline bool is_conn_err(int err)
{
	return err == ENOTCONN || err == ESHUTDOWN || err == ECONNRESET || err == EPIPE;
}

static inline bool handle_gone(struct nbd_handle *h)
{
	return nbd_aio_is_dead(h) > 0 || nbd_aio_is_closed(h) > 0;
}

/* q has acknowledged writes no flush covered yet (see nbd_durability.c). */
static inline bool q_dirty(const struct nbd_queue *q)
{
	return q->acked != q->flushed;
}

/* nbd_io.c */
void be_nbd_efd_signal(int fd);
void be_nbd_efd_drain(int fd);
void be_nbd_hand_over(struct nbd_queue *q, struct fifo *dst, struct fifo *src, int efd);
void *be_nbd_io_thread(void *arg);
void be_nbd_wait_events(struct nbd_queue *q, int timeout_ms);
bool be_nbd_sleep_or_stop(struct nbd_queue *q, unsigned ms);

/* nbd_conn.c */
void be_nbd_caps_read(struct nbd_handle *h, struct nbd_caps *c);
int be_nbd_conn_open(const char *uri, unsigned timeout_ms, bool verbose, struct nbd_handle **out);
void be_nbd_conn_close(struct nbd_handle *h);
int be_nbd_conn_try(struct nbd_queue *q, unsigned timeout_ms);
void be_nbd_recover(struct nbd_queue *q);

/* nbd_submit.c */
int be_nbd_req_start(struct nbd_queue *q, struct nbd_req *r);
void be_nbd_req_rewind(struct nbd_req *r);
void be_nbd_flush_send(struct nbd_queue *q, struct nbd_req *req, uint64_t pf_gen);
void be_nbd_pump(struct nbd_queue *q);

/* nbd_complete.c */
int be_nbd_cmd_cb(void *opaque, int *error);
void be_nbd_cmd_free(struct nbd_queue *q, struct nbd_cmd *c);
void be_nbd_cmd_retire(struct nbd_queue *q, struct nbd_cmd *c, int res);
void be_nbd_process_completed(struct nbd_queue *q);
void be_nbd_req_finish(struct nbd_queue *q, struct nbd_req *r);
void be_nbd_fail_all(struct nbd_queue *q, int res);

/* nbd_durability.c */
void be_nbd_wake_peers_locked(struct nbd_queue *q);
void be_nbd_loss_note(struct nbd_queue *q, const char *why);
void be_nbd_flush_start(struct nbd_queue *q, struct nbd_req *r);
int be_nbd_flush_verdict(struct nbd_queue *q, const struct nbd_req *r);
void be_nbd_cmd_acked(struct nbd_queue *q, const struct nbd_cmd *c);
void be_nbd_own_flush_done(struct nbd_queue *q, const struct nbd_cmd *c, int res);
void be_nbd_pf_service(struct nbd_queue *q);
void be_nbd_final_flush(struct nbd_queue *q);

#endif
