/* SPDX-License-Identifier: MIT */
/*
 * vblk copy's parts: its two sides (copy_ep.c: a vhost-user device, an NBD
 * export or a file or block device, with the synchronous operations the
 * workers use on files and NBD exports and that finish the unaligned tail
 * of any side), the state one copy shares, and its workers (copy_work.c).
 * cmd_copy.c plans and reports.
 */
#ifndef VBLK_TOOLS_COPY_H
#define VBLK_TOOLS_COPY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

struct nbd_handle;

struct endpoint {
	const char *name; /* as given on the command line */
	enum { EP_FILE, EP_DEV, EP_NBD } kind;
	struct dev d;		/* EP_DEV */
	int fd;			/* EP_FILE */
	bool regular;		/* EP_FILE: a regular file, which may have holes */
	struct nbd_handle *nbd; /* EP_NBD */
	uint64_t size;
	unsigned align; /* requests are multiples of it: the logical block size, or 1 */
	/* Destination only: what a run of zeroes costs there. */
	bool known_zero; /* reads as zeroes wherever we do not write (a truncated file) */
	bool can_zero;	 /* has a cheap zeroing request (WRITE_ZEROES, NBD_CMD_WRITE_ZEROES) */
};

/* How to open a vhost-user side. */
struct ep_dev_opts {
	unsigned queues;     /* wanted */
	bool queues_exact;   /* --queues given: fail if the back end offers fewer */
	unsigned queue_size; /* ring entries */
	size_t buffer_size;  /* shared pool */
};

/*
 * Open spec ("vhost-user:SOCKET", an NBD URI or a path), as the destination
 * if dst (a regular file is created or truncated to size, so it reads as
 * zeroes; a unix socket path without "vhost-user:" is an error that says
 * so). Dies with one line on failure.
 */
void ep_open(const struct cli *cli, struct endpoint *e, const char *spec, bool dst, uint64_t size,
	     const struct ep_dev_opts *o);

/*
 * Synchronous I/O of n bytes at off; 0 or -errno. Any thread may call them
 * on a file or an NBD export; on a device they use queue 0 and its bounce
 * buffer, so only while no worker runs (the tail). ep_zero() zeroes with the
 * cheapest means (buf holds n zero bytes, for a side that has none but a
 * write).
 */
int ep_read(struct endpoint *e, void *buf, size_t n, uint64_t off);
int ep_write(struct endpoint *e, const void *buf, size_t n, uint64_t off);
int ep_zero(struct endpoint *e, const void *buf, size_t n, uint64_t off);
/* Is [off, off+n) of a regular file all hole (no data, reads as zeroes)? */
bool ep_is_hole(struct endpoint *e, uint64_t off, size_t n);
/* The last failure's text for an errno from the calls above (libnbd's sentence for NBD). */
const char *ep_strerror(const struct endpoint *e, int err);

/* Make a destination durable (flush, fsync) and close; dies on failure. */
void ep_close(struct endpoint *e, bool dst);

/* ---- one copy (copy_work.c) ---- */

/* What one copy shares between its workers and the main thread. */
struct copy {
	struct endpoint src, dst;
	uint64_t total;	   /* bytes to copy: the source's size */
	uint64_t bulk_end; /* the workers copy [0, bulk_end); the rest is the tail */
	size_t req_size;
	unsigned nworkers, requests;
	size_t max_zero;       /* most bytes of one WRITE_ZEROES request on the destination */
	_Atomic uint64_t next; /* next chunk to claim */
	_Atomic uint64_t done_bytes, data_bytes, zero_bytes, wz_requests;
	_Atomic unsigned inflight, max_inflight; /* vhost-user requests, every queue */
	_Atomic unsigned running;		 /* workers not finished */
	atomic_bool failed;
	pthread_mutex_t err_lock;
	char err[512]; /* the first failure */
};

/* Record the first failure (its sentence) and stop claiming chunks. Thread-safe. */
void copy_fail(struct copy *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Are the n bytes at p all zero? */
bool copy_is_zero(const uint8_t *p, size_t n);

struct worker;
/*
 * Start c->nworkers workers on [0, c->bulk_end), with c planned and both
 * sides open; c->running counts those still busy. Dies if it cannot.
 */
struct worker *copy_start(struct copy *c);
/* Wait for every worker and free them; c->failed / c->err say how it went. */
void copy_join(struct copy *c, struct worker *w);

#endif
