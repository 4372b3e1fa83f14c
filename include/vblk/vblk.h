/* SPDX-License-Identifier: MIT */
/*
 * libvblk: a userspace virtio-blk driver that talks vhost-user to any
 * vhost-user-blk back end (qemu-storage-daemon, vblkd, SPDK, ...).
 *
 * Model:
 *  - vblk_open() connects to the back end's socket, negotiates features and
 *    shares one memory region with it. That region holds the rings and a
 *    buffer pool: memory from vblk_buf_alloc() is read and written by the
 *    back end in place (zero copy).
 *  - A device has num_queues queues. Each queue is driven by one thread at a
 *    time; different queues may be used from different threads at once, with
 *    no lock shared between them on the data path.
 *  - Requests are submitted asynchronously with a user_data pointer and
 *    reaped with vblk_queue_poll() / vblk_queue_wait(), or by waiting for the
 *    queue's file descriptor to become readable. A queue accepts more
 *    requests than its ring holds: the surplus waits in a FIFO and is sent,
 *    in order, as slots free up.
 *  - Synchronous helpers (vblk_read(), vblk_write(), ...) do the same and
 *    bounce through the buffer pool when the caller's buffer is not from it.
 *
 * Every function returning int returns 0 (or a count) on success and a
 * negative errno value on failure; vblk_get_error() may give a sentence
 * explaining the last failure of vblk_open() in the calling thread.
 * Offsets and lengths are in bytes and must be multiples of the device's
 * logical block size.
 *
 * The library never writes to stdout or stderr. Besides vblk_get_error(),
 * an application that wants to see what happens (a failed open, the back
 * end going away, a ring it broke, a teardown that timed out) sets log_fn
 * in struct vblk_options.
 *
 * Time bounds: every vhost-user exchange with the back end (during
 * vblk_open() and vblk_close()) must complete within timeout_ms, however
 * the back end trickles its bytes; a back end that accepts the connection
 * and never answers makes vblk_open() fail with -ETIMEDOUT and a sentence,
 * and vblk_close() return, after about one timeout.
 * Each I/O request has a deadline as well (timeout_ms, 30 s by default for
 * I/O): a device that holds one longer is stopped and the request fails
 * with -ETIMEDOUT (vblk_queue_poll()).
 *
 * ABI: struct vblk_options and struct vblk_info ended with eight reserved
 * 64-bit words so that fields can be added without changing their size
 * (on LP64: 112 and 136 bytes, checked when the library is built); new
 * fields take reserved words, whose zero value keeps today's behaviour
 * (vblk_options.poll_us took the first).
 * vblk_open() refuses options whose reserved words are not zero, so a
 * program built against a newer header fails cleanly on an older library.
 * struct vblk_completion has no reserved words on purpose (see there).
 * The library exports the functions below and nothing else: it is built
 * with hidden visibility and a symbol-version map (VBLK_0.1).
 */
#ifndef VBLK_VBLK_H
#define VBLK_VBLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's exported functions (everything else is hidden). */
#if defined(__GNUC__) || defined(__clang__)
#define VBLK_API __attribute__((visibility("default")))
#else
#define VBLK_API
#endif

/*
 * Virtio feature bit numbers, as in vblk_info.features and
 * .device_features, vblk_options.disable_features and vblk_feature_name():
 * test one with (features & VBLK_F_MASK(VBLK_F_FLUSH)).
 * Device bits: virtio 1.3 §5.2.3; device-independent bits: §6;
 * VBLK_F_LOG_ALL and VBLK_F_PROTOCOL_FEATURES: vhost-user.rst.
 */
#define VBLK_F_MASK(bit)	 ((uint64_t)1 << (bit))
#define VBLK_F_SIZE_MAX		 1 /* size_max: largest data segment */
#define VBLK_F_SEG_MAX		 2 /* seg_max: most data segments per request */
#define VBLK_F_GEOMETRY		 4
#define VBLK_F_RO		 5  /* read-only device */
#define VBLK_F_BLK_SIZE		 6  /* logical block size other than 512 */
#define VBLK_F_FLUSH		 9  /* volatile write cache and VIRTIO_BLK_T_FLUSH */
#define VBLK_F_TOPOLOGY		 10 /* physical block size */
#define VBLK_F_CONFIG_WCE	 11 /* write-cache mode in config space */
#define VBLK_F_MQ		 12 /* more than one queue */
#define VBLK_F_DISCARD		 13
#define VBLK_F_WRITE_ZEROES	 14
#define VBLK_F_LIFETIME		 15
#define VBLK_F_SECURE_ERASE	 16
#define VBLK_F_ZONED		 17
#define VBLK_F_NOTIFY_ON_EMPTY	 24
#define VBLK_F_LOG_ALL		 26
#define VBLK_F_INDIRECT_DESC	 28
#define VBLK_F_EVENT_IDX	 29
#define VBLK_F_PROTOCOL_FEATURES 30
#define VBLK_F_VERSION_1	 32
#define VBLK_F_ACCESS_PLATFORM	 33
#define VBLK_F_RING_PACKED	 34 /* packed virtqueue layout (VBLK_OPEN_PACKED_RING) */
#define VBLK_F_IN_ORDER		 35
#define VBLK_F_ORDER_PLATFORM	 36
#define VBLK_F_SR_IOV		 37
#define VBLK_F_NOTIFICATION_DATA 38
#define VBLK_F_RING_RESET	 40

/*
 * The library's version ("0.1.0"), which may differ from the one of the
 * header the program was built with. Thread-safe; the string is static.
 */
VBLK_API const char *vblk_version(void);

struct vblk;	   /* one connection to a back end */
struct vblk_queue; /* one virtqueue of it */

/* Severity of a message passed to vblk_options.log_fn. */
#define VBLK_MSG_ERROR	 0 /* an operation failed (the vblk_get_error() sentence) */
#define VBLK_MSG_WARNING 1 /* the back end misbehaved or went away */

/*
 * Options for vblk_open(). Zero fields take the defaults: initialise the
 * whole struct ({0} or designated initialisers) so reserved words are zero.
 */
struct vblk_options {
	unsigned num_queues;	   /* queues to set up; default 1 */
	unsigned queue_size;	   /* ring entries, <= 32768 (split: a power of two); default 256 */
	size_t buffer_size;	   /* bytes of shared buffer pool; default 64 MiB */
	uint64_t disable_features; /* feature bits not to negotiate: VBLK_F_MASK(VBLK_F_*) */
	unsigned flags;		   /* VBLK_OPEN_* */
	/*
	 * Deadline in milliseconds for each vhost-user request and its reply
	 * (connect, negotiation, set-up, and GET_VRING_BASE in vblk_close());
	 * default 5000. Also the deadline of each I/O request, asynchronous
	 * or through the synchronous helpers, counted from when it is handed
	 * to the device (time waiting for ring space in the queue's FIFO does
	 * not count): default (0) 30000 for I/O. A request the device holds
	 * longer stops the device and fails with -ETIMEDOUT (see
	 * vblk_queue_poll()).
	 */
	unsigned timeout_ms;
	/*
	 * Optional: called with one line of text (no newline) and a VBLK_MSG_*
	 * level for every failure vblk_open() reports and for events on the
	 * open device. It runs in whichever thread called into the library for
	 * that device (queue threads included), so it must be thread-safe; it
	 * must not call back into the library for the same device. msg is valid
	 * only during the call. opaque is passed through.
	 */
	void (*log_fn)(void *opaque, int level, const char *msg);
	void *log_opaque;
	/*
	 * Driver-side polling (first reserved word; 0, the default, keeps the
	 * old behaviour). When non-zero, vblk_queue_wait() that finds nothing
	 * to reap first busy-polls the used ring for up to poll_us
	 * microseconds, with the device's used-buffer notifications suppressed
	 * (virtio 1.3 §2.7.10, §2.8.10), returning as soon as a completion
	 * arrives; only then does it re-enable notifications, look once more
	 * and sleep. It trades a CPU spinning for that long for the latency of
	 * a notification and a wake-up. The window adapts per queue, as QEMU's
	 * poll-max-ns: it starts at poll_us; a wait whose completion came more
	 * than poll_us after the window opened stops polling (window 0), one
	 * that a longer window would have caught doubles it (from 4 us, at
	 * most poll_us). The poll window is part of the wait:
	 * timeout_ms of vblk_queue_wait() bounds the whole call, and a back end
	 * that hangs up during the window is noticed within about a
	 * millisecond. vblk_queue_poll() and vblk_queue_fd() are unchanged.
	 * At most 1000000 (one second): -EINVAL otherwise.
	 */
	uint64_t poll_us;
	uint64_t reserved[7]; /* must be zero (-EINVAL otherwise): room for new options */
};

/*
 * Use the packed virtqueue layout (virtio 1.3 §2.8, VIRTIO_F_RING_PACKED)
 * instead of the split one. vblk_open() fails with -ENOTSUP when the back end
 * does not offer it (qemu-storage-daemon 7.2 does not).
 */
#define VBLK_OPEN_PACKED_RING 1u

/*
 * num_queues is an upper bound, not a demand: set up as many queues as the
 * back end offers, at most num_queues, instead of failing with -EINVAL when
 * it offers fewer. vblk_info.num_queues says how many there are.
 */
#define VBLK_OPEN_QUEUES_UP_TO 2u

/*
 * PCI targets ("pci:BDF"): sleep on the device's INTx interrupt through
 * /dev/uioN (uio_pci_generic) in vblk_queue_wait() and vblk_queue_fd()
 * instead of polling the used ring. Ignored on vhost-user, whose
 * completions are always signalled.
 */
#define VBLK_OPEN_INTERRUPTS 4u

/*
 * Connect to the vhost-user-blk back end listening on socket_path and set up
 * opts->num_queues queues. opts may be NULL for the defaults.
 * On success *out owns the connection; release it with vblk_close().
 * Errors: -ENOENT / -ECONNREFUSED (no back end at that path), -ENOTSUP (the
 * back end lacks a required feature: VIRTIO_F_VERSION_1, config access, or
 * VIRTIO_F_RING_PACKED when VBLK_OPEN_PACKED_RING asks for it),
 * -EINVAL (bad option, or more queues than the back end offers without
 * VBLK_OPEN_QUEUES_UP_TO), -EPROTO
 * (malformed reply), -ETIMEDOUT (the back end did not answer a request
 * within opts->timeout_ms), -ECONNRESET (it closed the connection), -EIO (it
 * refused a request), -ENOMEM, other -errno from the socket. Every failure
 * leaves a sentence for vblk_get_error() and passes it to opts->log_fn.
 * Thread safety: independent calls may run concurrently.
 */
VBLK_API int vblk_open(const char *socket_path, const struct vblk_options *opts, struct vblk **out);

/*
 * Stop every queue (GET_VRING_BASE), disconnect and free everything,
 * including buffers from vblk_buf_alloc(). Requests still in flight are
 * abandoned. A back end that does not answer delays it by one timeout_ms at
 * most (the failure goes to log_fn). Accepts NULL. No queue of dev may be in
 * use meanwhile.
 */
VBLK_API void vblk_close(struct vblk *dev);

/* A sentence about the last failed vblk_open() in this thread, or "". */
VBLK_API const char *vblk_get_error(void);

struct vblk_info {
	uint64_t capacity;	      /* bytes */
	uint32_t logical_block_size;  /* bytes; offsets and lengths are multiples of it */
	uint32_t physical_block_size; /* bytes */
	uint32_t seg_max;	      /* 0 if the device does not say */
	uint32_t size_max;	      /* 0 if the device does not say */
	uint32_t max_discard_sectors; /* 512-byte units, 0 if not reported */
	uint32_t max_write_zeroes_sectors;
	size_t max_transfer; /* largest data length of one request */
	unsigned num_queues; /* queues set up by vblk_open() */
	unsigned max_queues; /* queues the back end offers */
	unsigned queue_size;
	bool read_only;
	bool writeback;		  /* device has a volatile write cache */
	uint64_t device_features; /* offered by the back end */
	uint64_t features;	  /* negotiated */
	uint64_t reserved[8];	  /* zero: room for new fields */
};

/* Fill *info. Returns 0. Thread-safe (the information does not change). */
VBLK_API int vblk_get_info(const struct vblk *dev, struct vblk_info *info);

/* Name of virtio feature bit ("VIRTIO_BLK_F_FLUSH"), or NULL if unknown. */
VBLK_API const char *vblk_feature_name(unsigned bit);

/*
 * Allocate size bytes of shared memory (page-aligned) that the back end can
 * access directly. Returns NULL with errno = ENOMEM when the pool is
 * exhausted, EINVAL for size 0. Thread-safe (takes a lock: keep it off the
 * hot path). Free with vblk_buf_free(); all buffers die with vblk_close().
 */
VBLK_API void *vblk_buf_alloc(struct vblk *dev, size_t size);

/* Return a buffer from vblk_buf_alloc(). Accepts NULL. Thread-safe. */
VBLK_API void vblk_buf_free(struct vblk *dev, void *buf);

/* Queue index (0 .. num_queues-1), or NULL if out of range. */
VBLK_API struct vblk_queue *vblk_get_queue(struct vblk *dev, unsigned index);

/*
 * A file descriptor that becomes readable (POLLIN) when the queue may have
 * completions; vblk_queue_poll() clears it. Owned by the library; watch it
 * with poll(), select() or epoll (level-triggered), then call
 * vblk_queue_poll(). The same for every transport:
 *  - vhost-user: the queue's call eventfd, written by the back end.
 *  - PCI with VBLK_OPEN_INTERRUPTS: readable on the device's interrupt (INTx
 *    through /dev/uioN; the line is shared, so every queue's fd wakes and
 *    the queue that has nothing finds nothing). vblk_queue_poll()
 *    acknowledges the interrupt and lets the next one through before it
 *    looks at the ring, so none is lost between a poll and the next sleep.
 *  - PCI without interrupts (polling): nothing signals a completion, so the
 *    fd is readable for as long as the queue has requests pending
 *    (vblk_queue_pending() > 0) and not when it has none: an event loop
 *    sleeping on it busy-polls while I/O is outstanding and sleeps when
 *    idle, as SPDK's pollers do.
 * Completions made without the device (a flush on a write-through device)
 * make it readable on every transport. A request that misses its deadline
 * (timeout_ms) is noticed by vblk_queue_poll() only: a caller sleeping on
 * the fd with no timeout would not wake for it, so sleep with a timeout
 * (a second or so) and call vblk_queue_poll() when it expires.
 */
VBLK_API int vblk_queue_fd(const struct vblk_queue *q);

/*
 * Asynchronous submission. The buffers must come from vblk_buf_alloc() of the
 * same device and stay untouched until the request completes. user_data is
 * returned with the completion. Not thread-safe per queue: one thread per
 * queue at a time.
 * Returns 0 once queued; -EINVAL (misaligned or zero length, too many
 * segments, more than max_transfer), -ERANGE (past the end of the device),
 * -EFAULT (buffer not from vblk_buf_alloc), -EROFS (write to a read-only
 * device), -ENOTSUP (operation not negotiated), -EAGAIN (too many requests
 * outstanding on this queue: reap some first), -EIO (queue broken),
 * -ENOTCONN (the back end has gone away).
 */
VBLK_API int vblk_queue_read(struct vblk_queue *q, uint64_t offset, void *buf, size_t len,
			     void *user_data);
VBLK_API int vblk_queue_readv(struct vblk_queue *q, uint64_t offset, const struct iovec *iov,
			      int iovcnt, void *user_data);
VBLK_API int vblk_queue_write(struct vblk_queue *q, uint64_t offset, const void *buf, size_t len,
			      void *user_data);
VBLK_API int vblk_queue_writev(struct vblk_queue *q, uint64_t offset, const struct iovec *iov,
			       int iovcnt, void *user_data);
/* Completes at once with success when the device has no write cache (no VIRTIO_BLK_F_FLUSH). */
VBLK_API int vblk_queue_flush(struct vblk_queue *q, void *user_data);
VBLK_API int vblk_queue_discard(struct vblk_queue *q, uint64_t offset, uint64_t len,
				void *user_data);

#define VBLK_WRITE_ZEROES_UNMAP 1u /* allow the device to deallocate */
VBLK_API int vblk_queue_write_zeroes(struct vblk_queue *q, uint64_t offset, uint64_t len,
				     unsigned flags, void *user_data);

#define VBLK_ID_BYTES 20
/* Device serial into buf[VBLK_ID_BYTES] (from vblk_buf_alloc; NUL-padded, maybe unterminated). */
VBLK_API int vblk_queue_get_id(struct vblk_queue *q, void *buf, void *user_data);

/*
 * Not extended with reserved words on purpose: arrays of it are filled on the
 * hot path. More per-request information would come through a new call.
 */
struct vblk_completion {
	void *user_data;
	/*
	 * 0, -EIO (device error or malformed reply), -ENOTSUP (device:
	 * unsupported), -ENOTCONN (the back end closed the connection before
	 * completing the request; its outcome is unknown), -ETIMEDOUT (this
	 * request, or one on another queue, missed its deadline and the device
	 * was stopped; its outcome is unknown).
	 */
	int ret;
};

/*
 * Reap up to max completions into c without blocking, send requests waiting
 * for ring space, and re-arm the queue's fd. Returns the number reaped
 * (0..max) or -EIO if the queue broke with nothing left to report. If it
 * returns max, more may be pending (the fd is left readable).
 * When the back end has gone away (its socket hung up: it exited, was killed
 * or dropped us), every request it did not complete comes back with
 * -ENOTCONN, new submissions fail with -ENOTCONN, and once nothing is left
 * to report poll returns -ENOTCONN. vblk_queue_wait() watches the socket
 * while it sleeps; poll checks it when requests are pending and none
 * completed, so a caller sleeping on vblk_queue_fd() should use a timeout.
 * Deadline: when it finds no completion, poll checks whether a request has
 * been with the device longer than timeout_ms (vblk_options; cheaply: it
 * reads a coarse clock, and looks at the requests only when the earliest
 * deadline has come). If one has, the device is stopped (PCI: reset, so it
 * can no longer write our memory; vhost-user: the connection is shut down,
 * and a back end that was stuck rather than dead may still write the
 * buffers of the failed requests until vblk_close()), every request
 * outstanding on this queue comes back with -ETIMEDOUT, those of the other
 * queues at their next poll, new submissions fail with -ENOTCONN, and once
 * nothing is left to report poll returns -ETIMEDOUT. The deadline is a lower
 * bound: it is noticed within a clock tick of the next poll after it.
 * One thread per queue at a time.
 */
VBLK_API int vblk_queue_poll(struct vblk_queue *q, struct vblk_completion *c, unsigned max);

/*
 * As vblk_queue_poll(), but sleep until at least one completion is there or
 * timeout_ms passes (-1: no timeout), or the back end hangs up (see above).
 * It wakes for a request's deadline too, however long timeout_ms is.
 * Returns the count, 0 on timeout, or -errno (-ENOTCONN: disconnected and
 * nothing left to report; -ETIMEDOUT: the device was stopped for a missed
 * deadline and nothing is left to report).
 */
VBLK_API int vblk_queue_wait(struct vblk_queue *q, struct vblk_completion *c, unsigned max,
			     int timeout_ms);

/* Requests submitted on q and not yet reaped. */
VBLK_API unsigned vblk_queue_pending(const struct vblk_queue *q);

/*
 * Synchronous helpers: submit on q and wait. buf may be any memory; when it
 * is not from vblk_buf_alloc(), data bounce through the pool. Large requests
 * are split. q must have no asynchronous requests pending (-EBUSY).
 * Errors as for the asynchronous calls, plus the completion's error
 * (-ETIMEDOUT after timeout_ms, see vblk_queue_poll()) and -ENOMEM when no
 * bounce buffer is free.
 */
VBLK_API int vblk_read(struct vblk_queue *q, uint64_t offset, void *buf, size_t len);
VBLK_API int vblk_write(struct vblk_queue *q, uint64_t offset, const void *buf, size_t len);
VBLK_API int vblk_flush(struct vblk_queue *q);
VBLK_API int vblk_discard(struct vblk_queue *q, uint64_t offset, uint64_t len);
VBLK_API int vblk_write_zeroes(struct vblk_queue *q, uint64_t offset, uint64_t len, unsigned flags);
/* Serial as a C string in id[VBLK_ID_BYTES + 1]. */
VBLK_API int vblk_get_id(struct vblk_queue *q, char *id);

#ifdef __cplusplus
}
#endif

#endif
