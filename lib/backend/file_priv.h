/* SPDX-License-Identifier: MIT */
/*
 * The file backend's private state, shared by its three files: be_file.c
 * (open, close, queues, the ops table), file_ring.c (slots: submit, short
 * transfers, completion) and file_dwz.c (DISCARD / WRITE_ZEROES /
 * SECURE_ERASE). Private to lib/backend.
 */
#ifndef VBLK_BACKEND_FILE_PRIV_H
#define VBLK_BACKEND_FILE_PRIV_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "be.h"
#include "be_priv.h"
#include "internal/compiler.h"

/* The most elements one readv/writev accepts (IOV_MAX, UIO_MAXIOV in Linux). */
#define FILE_MAX_IOV 1024u
/*
 * The most bytes one range transfers: below Linux's MAX_RW_COUNT (INT_MAX
 * rounded down to a page) and a multiple of every O_DIRECT alignment.
 */
#define FILE_MAX_BYTES (UINT64_C(1) << 30)
#define FILE_MAX_SLOTS 4096u
/*
 * The inline fast path (file_inline.c): the largest request it takes, and the
 * bytes it may copy between two kicks, so a batch of inline copies does not
 * hold back the completions of the queue's other requests.
 */
#define FILE_INLINE_MAX	  (UINT64_C(128) << 10)
#define FILE_INLINE_BATCH (UINT64_C(256) << 10)

struct file_be {
	struct be base;
	int fd;
	char *path;
	/* Set once ZERO_RANGE was refused (e.g. tmpfs): use PUNCH_HOLE instead. Shared by queues.
	 */
	atomic_bool no_zero_range;
	/*
	 * Zeroing fallocates and secure erases in flight on a block device, all
	 * queues. Linux (seen on 6.18) takes the device inode's lock for a
	 * buffered read even in io_uring's non-blocking attempt, and fallocate
	 * holds it for the whole zeroing: while this is non-zero, buffered
	 * (align 1) reads and writes go straight to io-wq (IOSQE_ASYNC) instead
	 * of blocking the queue thread in io_uring_enter.
	 */
	atomic_uint bdev_zeroing;
	bool inline_ok; /* a buffered regular file on tmpfs / ramfs (file_inline.c) */
};

/* SLOT_FALLOC and SLOT_SECURE: be_file_dwz_prep() and be_file_dwz_complete() drive them. */
enum file_slot_kind { SLOT_RW, SLOT_FSYNC, SLOT_FALLOC, SLOT_SECURE };

struct file_slot {
	struct be_io *io;
	enum file_slot_kind kind;
	const struct iovec *iov; /* element holding the next byte */
	const struct iovec *iov_end;
	size_t off;	  /* bytes of *iov already transferred */
	uint64_t pos;	  /* file offset of the next byte */
	uint64_t left;	  /* bytes of this range still to transfer */
	struct iovec one; /* the rest of a partly transferred element */
	struct file_slot *next_free;
	/* SLOT_SECURE: the worker's eventfd, and where reading it puts the count. */
	int sec_efd;
	uint64_t sec_cnt;
};

struct file_queue {
	struct be_queue base;
	struct io_uring ring;
	bool ring_ok;
	int efd;
	struct file_slot *slots;
	struct file_slot *free;
	/* The read/write not yet fully cut into ranges, and where its rest starts. */
	struct be_io *backlog;
	const struct iovec *bl_iov;
	size_t bl_off;
	uint64_t bl_pos, bl_left;
	unsigned ndone;		/* done() calls during the current reap */
	uint64_t inline_budget; /* bytes the inline path may still move before the next kick */
	bool inline_signal;	/* inline completions wait in done: announce them at kick */
	/*
	 * efd may be readable (written by us or by io_uring since reap last read
	 * it): reap() reads it only then, so a reap of inline completions alone
	 * makes no system call. SQEs submitted whose CQE reap() has not seen.
	 */
	bool efd_maybe;
	unsigned uring_inflight;
	struct be_done_ring done;
};

static inline struct file_be *to_file(struct be *be)
{
	return container_of(be, struct file_be, base);
}

static inline struct file_queue *to_fq(struct be_queue *bq)
{
	return container_of(bq, struct file_queue, base);
}

/* file_ring.c */

/* Prepare the SQE for the slot's next step. */
void be_file_slot_issue(struct file_queue *q, struct file_slot *s);
/* Return the slot to the free list; done() when it was its request's last range. */
void be_file_slot_finish(struct file_queue *q, struct file_slot *s, int res);
/* Complete io from the next reap(): 0, or -EAGAIN when the done ring is full. */
int be_file_complete_later(struct file_queue *q, struct be_io *io, int res);
int be_file_submit(struct be_queue *bq, struct be_io *io);
void be_file_kick(struct be_queue *bq);
bool be_file_kick_ready(struct be_queue *bq);
int be_file_reap(struct be_queue *bq);

/* file_inline.c */

/* Is fd on a memory file system (tmpfs, ramfs)? */
bool be_file_on_memfs(int fd);
/* May io (a READ or WRITE) take the inline path now? */
bool be_file_inline_ok(const struct file_queue *q, const struct be_io *io);
/* Copy io on this thread; returns the bytes done from its start (0 on any error). */
uint64_t be_file_inline(struct file_queue *q, const struct be_io *io);

/* file_dwz.c */

/* SLOT_FALLOC: the fallocate of [pos, pos+left); SLOT_SECURE: wait for the worker. */
void be_file_dwz_prep(struct file_queue *q, struct file_slot *s, struct io_uring_sqe *sqe);
void be_file_dwz_complete(struct file_queue *q, struct file_slot *s, int res);
/* DISCARD / WRITE_ZEROES / SECURE_ERASE: 0 (accepted) or -EAGAIN (no slot). */
int be_file_dwz_submit(struct file_queue *q, struct be_io *io);

#endif
