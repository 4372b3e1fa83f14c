/* SPDX-License-Identifier: MIT */
/*
 * vblk copy's two sides (copy_ep.c): a vhost-user device, an NBD export or a
 * file or block device, opened for the copy, with the synchronous
 * operations the workers use on files and NBD exports and that finish the
 * unaligned tail of any side. cmd_copy.c schedules the copy itself.
 */
#ifndef VBLK_TOOLS_COPY_H
#define VBLK_TOOLS_COPY_H

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

#endif
