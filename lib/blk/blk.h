/* SPDX-License-Identifier: MIT */
/*
 * The virtio-blk request engine (virtio 1.3 §5.2), transport-neutral: it takes
 * a request as (device-readable iovecs, device-writable iovecs), parses it as a
 * byte stream (the spec forbids assuming a descriptor layout), validates it,
 * runs it on a backend queue and reports the status and used length.
 *
 * It never sees a descriptor or a socket: vhost-user, a fuzzer or a unit test
 * drive it the same way. Each request type is one handler function.
 */
#ifndef VBLK_BLK_BLK_H
#define VBLK_BLK_BLK_H

#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vblk/spec/virtio_blk.h>

#include "backend/be.h"
#include "blk/blk_limit.h"
#include "blk/range_lock.h"
#include "internal/list.h"

/*
 * DISCARD / WRITE_ZEROES / SECURE_ERASE: segments per request (advertised as
 * max_*_seg) and sectors per segment (max_*_sectors, 1 GiB; the file backend
 * runs them off the queue thread, so a long one stalls no other request).
 */
#define BLK_DWZ_MAX_SEG	    8u
#define BLK_DWZ_MAX_SECTORS (UINT32_C(1) << 21)

/*
 * Latency histogram, from submission to completion (a wait for the limits
 * included): per class, bucket i counts latencies in [2^(i-1), 2^i) µs
 * (0: < 1 µs).
 */
enum { BLK_LAT_READ, BLK_LAT_WRITE, BLK_LAT_OTHER, BLK_LAT_CLASSES };
#define BLK_LAT_BUCKETS 28 /* the last one also takes everything above 2^26 µs (~67 s) */

/*
 * Statistics of one engine queue since the device was initialised; every
 * field is a uint64_t (blk_stats_sum relies on it). Requests are counted
 * when they complete, whatever their status; bytes only for successful
 * reads and writes.
 */
struct blk_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes, secure_erases;
	uint64_t others; /* GET_ID, GET_LIFETIME, unknown types, unparsable headers */
	uint64_t bytes_read, bytes_written;
	uint64_t errors;    /* completed with a status other than VIRTIO_BLK_S_OK */
	uint64_t in_flight; /* submitted and not completed, now (waiting for a limit included) */
	uint64_t throttled; /* requests that had to wait for the export's limits */
	uint64_t lat_us[BLK_LAT_CLASSES][BLK_LAT_BUCKETS];
};

struct blk_dev_opts {
	bool ro;
	bool writeback;	     /* initial cache mode; writethrough when false (the safe default) */
	const char *serial;  /* GET_ID, at most 20 bytes used; NULL for "" */
	unsigned num_queues; /* >= 1 */
	uint32_t seg_max;    /* advertised; 0 = derive from the queue size */
	uint32_t queue_size; /* the transport's maximum queue size */
	/*
	 * sectorsize=L[/P]: logical and physical block size in bytes, 512 or
	 * 4096 each, P >= L. 0: L = the backend's I/O alignment (at least 512),
	 * P = the backend's hint (at least L). Requests not aligned to L fail.
	 */
	uint32_t logical_block_size;
	uint32_t physical_block_size;
	/*
	 * range=START/SIZE: export only bytes [range_start, range_start +
	 * range_size) of the backend. Both multiples of the logical block size;
	 * range_size 0 = up to the end of the backend.
	 */
	uint64_t range_start;
	uint64_t range_size;
	struct blk_limits limits; /* initial I/O limits (blk_dev_set_limits) */
};

struct blk_queue;

/* Device-wide state shared by all queues. */
struct blk_dev {
	struct be *be;
	/*
	 * 512-byte sectors. Changed by blk_dev_resize while queues run: every
	 * request is checked against one atomic load of it.
	 */
	_Atomic uint64_t capacity;
	uint32_t blk_size; /* logical block size, bytes */
	uint32_t seg_max;
	uint32_t size_max;
	unsigned num_queues;
	bool ro;
	/* Cache mode: written by the control thread (SET_CONFIG), read by queues. */
	_Atomic bool writeback;
	/* The mode after each feature negotiation (opts.writeback, blk_dev_set_writeback). */
	_Atomic bool writeback_default;
	char serial[VIRTIO_BLK_ID_BYTES];
	uint64_t features;	  /* virtio feature bits this device offers */
	uint64_t negotiated;	  /* set by blk_dev_set_features */
	uint32_t phys_block_size; /* bytes, >= blk_size (TOPOLOGY) */
	uint32_t opt_io_size;	  /* logical blocks, 0 = none (TOPOLOGY) */
	uint32_t discard_align;	  /* 512-byte sectors (discard/secure erase alignment hint) */
	uint64_t range_start;	  /* backend byte offset of sector 0 */
	uint64_t range_size;	  /* range=START/SIZE's SIZE; 0: up to the end of the backend */
	_Atomic bool resizing;	  /* a blk_dev_resize is running */
	/*
	 * Padding stage (blk_align.c): the backend's offset/length and memory
	 * alignment; pad when either is > 1; rmw when a valid request can cover
	 * part of a backend block (read-modify-write, serialised by rl).
	 */
	uint32_t be_align, be_mem_align;
	bool pad, rmw;
	struct blk_range_lock rl;
	/*
	 * Held from handing a granted request to its queue until that queue is
	 * woken, and taken by queue teardown: no queue is freed mid-hand-over
	 * (blk_align.c). Initialised with rl (rmw only).
	 */
	pthread_mutex_t handover_mu;
	/* I/O limits of the export, shared by its queues (blk_limit.h). */
	struct blk_limiter lim;
	/*
	 * The running queues and the counters of those that are gone, for
	 * blk_dev_stats. Taken when a queue is created or destroyed and by the
	 * reader, never per request.
	 */
	pthread_mutex_t stats_mu;
	struct blk_queue *queues; /* blk_queue.next_in_dev */
	struct blk_stats retired;
};

/* Fill d from the backend's capabilities. Returns 0 or -EINVAL (bad option). */
int blk_dev_init(struct blk_dev *d, struct be *be, const struct blk_dev_opts *opts);

/*
 * Change the capacity while the device is in use (online resize).
 * new_size 0: the backend's size is learned again (a block device's
 * BLKGETSIZE64, a file's st_size) and the export follows it, unless it is a
 * fixed range=START/SIZE, which keeps its size (and must still fit). A
 * backend that shrank shrinks the export: its data is gone already.
 * new_size > 0: the export becomes new_size bytes (a multiple of the logical
 * block size, never smaller than now: shrinking would destroy guest data);
 * a regular file is extended to hold it, a fixed range grows to it.
 * The new capacity is what blk_dev_get_config reports from then on; the
 * caller tells the driver (a config change notification, virtio 1.3
 * §5.2.4 capacity). Thread-safe against the queues; a concurrent second
 * resize gets -EBUSY. Returns 0, -EINVAL (bad size, or the backend no
 * longer covers a fixed range), -EROFS, -EOPNOTSUPP (the backend's size is
 * fixed, e.g. NBD or memory), -EBUSY or the backend's -errno.
 */
int blk_dev_resize(struct blk_dev *d, uint64_t new_size);

/* Release what blk_dev_init set up (the range lock). Accepts NULL and a zeroed device. */
void blk_dev_fini(struct blk_dev *d);

/*
 * The device's statistics. total (may be NULL): everything since
 * blk_dev_init, queues that were stopped included. per_queue[i] for i < nq
 * (may be NULL with nq 0): the running queue with index i
 * (blk_queue_set_index) since it was created, zero if none runs. Any thread,
 * while the queues run; never blocks a queue. Each counter is read whole, but
 * the set is not one snapshot (a request may already be in `reads` and not
 * yet in `bytes_read`). Returns the number of running queues, or -EINVAL.
 */
int blk_dev_stats(struct blk_dev *d, struct blk_stats *total, struct blk_stats *per_queue,
		  unsigned nq);

/* sum = the field-by-field sum of per_queue[0..nq). */
void blk_stats_sum(struct blk_stats *sum, const struct blk_stats *per_queue, unsigned nq);

/*
 * Replace the device's I/O limits (NULL or all zero: none). Any thread, while
 * the queues run; waiting requests see the new limits within 100 ms, and
 * every bucket starts empty (a full burst is available). Returns 0 or
 * -EINVAL (a total and a per-direction limit of the same kind, or a burst
 * without a rate).
 */
int blk_dev_set_limits(struct blk_dev *d, const struct blk_limits *l);

/* The current I/O limits. Any thread. */
void blk_dev_get_limits(struct blk_dev *d, struct blk_limits *out);

/*
 * The management's cache mode (vblkd's export_set): writeback becomes the
 * mode of every driver from its next feature negotiation on, and with now
 * also the mode of the current one - the caller decides whether that driver
 * can learn it (one that read CONFIG_WCE's writeback byte does not read it
 * again). Writeback needs a backend that flushes. Any thread. Returns 0 or
 * -EOPNOTSUPP.
 */
int blk_dev_set_writeback(struct blk_dev *d, bool writeback, bool now);

/* Record the features the driver accepted (e.g. whether CONFIG_WCE is in use). */
void blk_dev_set_features(struct blk_dev *d, uint64_t negotiated);

/* The current config space (virtio 1.3 §5.2.4), little-endian. */
void blk_dev_get_config(const struct blk_dev *d, struct virtio_blk_config *cfg);

/*
 * A driver write to config space. Only the `writeback` byte (offset 32) is
 * writable, and only with VIRTIO_BLK_F_CONFIG_WCE. Returns 0, or -EINVAL for
 * any other offset/length (nothing changed).
 */
int blk_dev_set_config(struct blk_dev *d, uint32_t off, const void *buf, uint32_t len);

struct blk_queue;
struct blk_req;

/* Called once per submitted request, from blk_req_submit()'s caller thread. */
typedef void blk_req_done_fn(struct blk_req *req, uint32_t used_len, void *opaque);

/* One DISCARD / WRITE_ZEROES / SECURE_ERASE segment, copied once from the driver. */
struct blk_req_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* Bytes of struct blk_req reserved for the padding stage's private state (blk_align.c). */
#define BLK_REQ_STAGE_BYTES 320

struct blk_req {
	/* Set by the transport before blk_req_submit(); the engine may rewrite the array. */
	struct iovec *iov;
	unsigned out_num; /* iov[0..out_num) device-readable */
	unsigned in_num;  /* iov[out_num..out_num+in_num) device-writable */

	/*
	 * Engine-private from here on: the engine (blk_req_submit, the request
	 * handlers, the padding stage) sets every field before it reads it, so
	 * a transport reuses a slot without clearing it.
	 */
	struct blk_queue *q;
	uint8_t *status;
	uint32_t type;
	uint64_t sector;
	uint32_t used_len;
	struct iovec *data;
	unsigned data_num;
	struct blk_req_seg seg[BLK_DWZ_MAX_SEG];
	unsigned nseg, cur_seg;
	uint64_t bytes;	       /* READ / WRITE payload */
	uint64_t t_start;      /* CLOCK_MONOTONIC ns of its submission batch (latency; queue_now) */
	struct fifo_link wait; /* in blk_queue.throttled while the limits hold it */
	/* The padding stage's state for this request: opaque outside blk_align.c. */
	alignas(max_align_t) unsigned char stage[BLK_REQ_STAGE_BYTES];
};

/*
 * Create the engine's state for one virtqueue: a backend queue of depth
 * requests and the completion callback. Returns 0 or -errno.
 */
int blk_queue_create(struct blk_dev *d, unsigned depth, blk_req_done_fn *done, void *opaque,
		     struct blk_queue **out);

/*
 * Count this queue's statistics in slot index (the transport's queue index,
 * < num_queues; default 0). Call before the first request.
 */
void blk_queue_set_index(struct blk_queue *q, unsigned index);

/* Destroy; every submitted request must have completed. Accepts NULL. */
void blk_queue_destroy(struct blk_queue *q);

/*
 * The queue's one pollable fd, always valid (>= 0) while the queue exists:
 * readable when blk_queue_process has work (backend completions, requests
 * another queue's completion unblocked, or results that became ready during
 * blk_queue_process itself).
 */
int blk_queue_fd(struct blk_queue *q);

/*
 * Start one request. Never fails: a malformed request completes with
 * VIRTIO_BLK_S_IOERR/UNSUPP through the done callback, maybe before this
 * returns. Requests the backend cannot take now wait in order.
 * Returns false only if the request had no reachable status byte: then the
 * chain is malformed framing, nothing was written, done is not called, and the
 * transport must treat the queue as broken.
 */
bool blk_req_submit(struct blk_queue *q, struct blk_req *req);

/*
 * End of a batch of submits: hand them to the backend. Results the backend
 * produced synchronously are reaped at once: their done callbacks run before
 * this returns, and blk_queue_fd does not become readable for them.
 */
void blk_queue_kick(struct blk_queue *q);

/* Reap backend completions, run done callbacks, dispatch waiting requests. */
void blk_queue_process(struct blk_queue *q);

/*
 * The queue is stopping (vhost-user GET_VRING_BASE, shutdown): from now on
 * its reads and writes ignore the export's limits, and those waiting go to
 * the backend at once, as QEMU's throttle groups do on a drain, so a stop
 * never waits for a slow budget. Queue thread.
 */
void blk_queue_drain(struct blk_queue *q);

/* Requests submitted and not yet completed. */
unsigned blk_queue_inflight(const struct blk_queue *q);

#endif
