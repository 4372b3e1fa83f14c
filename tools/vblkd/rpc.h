/* SPDX-License-Identifier: MIT */
/*
 * The control socket's methods (JSON-RPC 2.0, https://www.jsonrpc.org/specification):
 * one request in, one reply out, no I/O. ctl.c moves the lines; this file
 * parses a request with json-c, checks it, runs the method through an ops
 * table (struct rpc_ops) and builds the reply.
 *
 * The methods reach the exports only through the ops table, so everything
 * a control client can send - the parser, the checks, the replies - runs
 * the same against vblkd's exports (rpc_exports.h) and against a fake set
 * (tests/fuzz/fuzz_rpc.c), which creates no socket, opens no disk and
 * starts no thread whatever a request names.
 */
#ifndef VBLK_TOOLS_VBLKD_RPC_H
#define VBLK_TOOLS_VBLKD_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/blk.h"
#include "errmsg.h"

/* JSON-RPC 2.0 error codes ("5.1 Error object"), and ours in its server range. */
enum {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
	RPC_NO_SUCH_EXPORT = -32001, /* no export has that name */
	RPC_EXISTS = -32002,	     /* an export already has that name */
	RPC_FAILED = -32003,	     /* the operation failed; the message says why */
	RPC_UNSUPPORTED = -32004,    /* this build cannot do it; the message says what is missing */
};

/* The requests' bytes, before any parsing: a longer line is refused whole. */
#define RPC_LINE_MAX 65536

/* One export as the methods see it (export_list, and the checks of export_set). */
struct rpc_export_info {
	const char *name;   /* valid until the next call of an op that changes the set */
	const char *socket; /* the socket path, or "fd:N" */
	const char *disk;   /* the disk as given */
	uint64_t size;	    /* bytes */
	bool read_only;
	bool writeback;
	bool can_flush;		  /* the disk offers VIRTIO_BLK_F_FLUSH */
	unsigned num_queues;	  /* the device's queues: export_stats' per_queue entries */
	bool connected;		  /* a front end is connected */
	uint64_t features;	  /* what it negotiated; 0 before SET_FEATURES */
	bool packed;		  /* ...among them VIRTIO_F_RING_PACKED */
	unsigned queues;	  /* queues the device offers */
	struct blk_limits limits; /* the I/O limits now */
};

/*
 * What the methods do to the exports. Every op runs on the thread calling
 * rpc_handle; names and paths are what the request gave (NUL-free strings,
 * the parameters' types checked, nothing else). ctx is rpc_handle's.
 */
struct rpc_ops {
	/* Call fn for each export, in order. */
	void (*list)(void *ctx, void (*fn)(void *arg, const struct rpc_export_info *e), void *arg);
	/* The export named name into *out: 0, or -ENOENT. */
	int (*lookup)(void *ctx, const char *name, struct rpc_export_info *out);
	/*
	 * Create and start an export (no other has that name, socket is not
	 * empty). 0, or -errno with the reason in err - or err empty when the
	 * daemon's log has it.
	 */
	int (*add)(void *ctx, const char *name, const char *socket, const char *disk,
		   char err[ERRMSG_LEN]);
	/*
	 * Remove the export (it exists): drain and close it. It is gone even
	 * when this fails: -errno when its final flush did.
	 */
	int (*remove)(void *ctx, const char *name);
	/*
	 * Resize to size bytes (0: learn the backend's size again), tell the
	 * front end. *before and *after: the sizes; 0 or -errno, and the export
	 * has its new size when *after differs from *before, even on an error.
	 */
	int (*resize)(void *ctx, const char *name, uint64_t size, uint64_t *before,
		      uint64_t *after);
	/* Counters: total, and per_queue[0..nq) with nq its num_queues; the running queues or
	 * -errno. */
	int (*stats)(void *ctx, const char *name, struct blk_stats *total,
		     struct blk_stats *per_queue, unsigned nq);
	/* Replace the I/O limits (checked with blk_limits_check). 0 or -errno. */
	int (*set_limits)(void *ctx, const char *name, const struct blk_limits *l);
	/* The cache mode from now on (writeback only when can_flush). 0 or -errno. */
	int (*set_writeback)(void *ctx, const char *name, bool writeback);
};

/*
 * Run the request in line[0..len) (no newline; any bytes, nothing read past
 * len) on the exports of ops and ctx. Returns the reply as a malloc'd string
 * without a newline - valid JSON in valid UTF-8 - or NULL when there is none
 * to send (a notification, or out of memory).
 */
char *rpc_handle(const struct rpc_ops *ops, void *ctx, const char *line, size_t len);

/* A reply that is an error with no request to answer (id null), e.g. a line too long. */
char *rpc_error_reply(int code, const char *message);

#endif
