/* SPDX-License-Identifier: MIT */
/*
 * Storage backends behind one ops table. A backend sees byte offsets and
 * iovecs, never a descriptor or a virtio request. Each virtqueue owns one
 * be_queue (its own io_uring, its own NBD connection, ...), used by one thread.
 *
 * Completion contract: done() is only ever called from ops->reap(), never from
 * inside submit(). A backend whose queue_fd() is -1 completes synchronously:
 * the caller must call reap() after kick() to collect the results; so must a
 * caller whose kick_ready() returned true.
 */
#ifndef VBLK_BACKEND_BE_H
#define VBLK_BACKEND_BE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

enum be_op {
	BE_OP_READ,
	BE_OP_WRITE,
	BE_OP_FLUSH,
	BE_OP_DISCARD,
	BE_OP_WRITE_ZEROES,
	BE_OP_SECURE_ERASE,
};

/* The write (or zeroing) is durable on the medium when done() reports success. */
#define BE_IO_F_FUA (1u << 0)
/* WRITE_ZEROES may deallocate the range (it must still read back as zeroes). */
#define BE_IO_F_UNMAP (1u << 1)

struct be_io {
	enum be_op op;
	unsigned flags;
	uint64_t offset; /* bytes from the start of the backend */
	uint64_t len;	 /* bytes; for READ/WRITE equals the iovec total */
	const struct iovec *iov;
	unsigned iovcnt;
	/* res: 0 on success or -errno (-EIO, -ENOSPC, ...). */
	void (*done)(struct be_io *io, int res);
	/* Backend-private bookkeeping (e.g. sub-submissions of a split request). */
	unsigned be_pending;
	int be_res;
};

struct be_info {
	uint64_t size;	     /* bytes, at open (ops->resize reports the current size) */
	uint32_t align;	     /* buffer/offset/length alignment I/O needs (1 if none, 512/4096 with
				O_DIRECT) */
	uint32_t phys_block; /* physical block size hint in bytes (0 if unknown) */
	uint32_t mem_align;  /* buffer address/length alignment (0: same as align) */
	uint32_t opt_io;     /* optimal I/O size hint in bytes (0 if unknown) */
	uint32_t discard_align; /* discard granularity hint in bytes (0 if unknown) */
	bool ro;
	bool can_flush;
	bool can_discard;
	bool can_write_zeroes;
	bool can_secure_erase;
	bool is_blockdev;
};

struct be_opts {
	const char *path;
	bool ro;
	bool direct;	       /* O_DIRECT */
	bool nolock;	       /* file backend: take no image lock (locking=off), see be_lock.h */
	uint64_t size;	       /* 0: keep; else create/extend a sparse file to this size */
	unsigned reconnect_ms; /* NBD: how long to retry a lost connection; 0 = default (5 s) */
	/*
	 * File backend: the caller says the image is raw (format=raw), so its
	 * first bytes are not checked for another format's signature.
	 */
	bool format_raw;
	/* RBD: how long a request waits for an unreachable cluster (ms); 0 = default (30 s). */
	unsigned timeout_ms;
	/*
	 * Optional: the disk's size may have changed from outside (RBD: another
	 * client ran `rbd resize`). Called on a backend thread, possibly while a
	 * queue runs; it must only note the news and wake the owner (write an
	 * eventfd), who then asks ops->resize(be, 0, ...) for the size. A backend
	 * that cannot learn of such changes never calls it.
	 */
	void (*size_changed)(void *arg);
	void *size_changed_arg;
};

struct be;
struct be_queue;

struct be_ops {
	const char *name;
	/* Returns 0 and *out, or -errno with a message already logged. */
	int (*open)(const struct be_opts *opts, struct be **out);
	void (*close)(struct be *be); /* accepts NULL */
	/* depth: requests the caller may have in flight at once. */
	int (*queue_create)(struct be *be, unsigned depth, struct be_queue **out);
	void (*queue_destroy)(
	    struct be_queue *q); /* accepts NULL; in-flight I/O must be reaped first */
	/* Pollable fd, readable when reap() has work; -1 if the backend completes synchronously. */
	int (*queue_fd)(struct be_queue *q);
	/* 0: accepted; -EAGAIN: no room now, retry after a completion. Never calls done(). */
	int (*submit)(struct be_queue *q, struct be_io *io);
	/* Start the accepted submissions (batching point). */
	void (*kick)(struct be_queue *q);
	/*
	 * Optional (NULL: use kick): kick, except that results already final
	 * when it returns (transfers done synchronously inside submit) are not
	 * announced on queue_fd. Returns true when there are such results: the
	 * caller must then call reap() without waiting for the fd. It spares an
	 * eventfd write, an epoll round and a read per request for a caller that
	 * can reap at once (the block engine).
	 */
	bool (*kick_ready)(struct be_queue *q);
	/* Call done() for every finished io; returns how many, or -errno. */
	int (*reap)(struct be_queue *q);
	/*
	 * Optional (NULL: the size is fixed for the backend's life, -EOPNOTSUPP).
	 * size 0: learn the backend's current size again; otherwise make it at
	 * least size bytes (a file grows; nothing ever shrinks). *out is then the
	 * current size. Any thread, while queues run. Returns 0 or -errno.
	 */
	int (*resize)(struct be *be, uint64_t size, uint64_t *out);
};

struct be {
	const struct be_ops *ops;
	struct be_info info;
};

struct be_queue {
	struct be *be;
};

extern const struct be_ops be_file_ops;
extern const struct be_ops be_mem_ops;
extern const struct be_ops be_null_ops;

/*
 * Open a backend by spec: "null:SIZE", "memory:SIZE", an NBD URI
 * (nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH; needs libnbd at
 * build time), an RBD image (rbd:POOL/IMAGE[@SNAP][:conf=PATH]..., see
 * be_rbd.h; needs librbd at build time) or a file / block device path (file backend). Returns 0 or
 * -errno (message logged). A file or block device whose first bytes carry the signature of an image
 * format (qcow2, VMDK, VHDX, VDI, VHD, QED) is refused with -EMEDIUMTYPE
 * unless opts->format_raw: served raw, the guest would see the format's
 * metadata instead of its disk.
 */
int be_open(const char *spec, const struct be_opts *opts, struct be **out);

static inline void be_close(struct be *be)
{
	if (be)
		be->ops->close(be);
}

#endif
