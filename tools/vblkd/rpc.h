/* SPDX-License-Identifier: MIT */
/*
 * The control socket's methods (JSON-RPC 2.0, https://www.jsonrpc.org/specification):
 * one request in, one reply out, no I/O. ctl.c moves the lines; this file
 * parses a request with json-c, checks it, runs the method on the daemon's
 * exports and builds the reply.
 */
#ifndef VBLK_TOOLS_VBLKD_RPC_H
#define VBLK_TOOLS_VBLKD_RPC_H

#include <stddef.h>

#include "export.h"
#include "sock.h"

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

struct rpc_ctx {
	/* The daemon's exports; the control thread's alone while it runs. */
	struct export **exports;
	/* Who may connect to the sockets export_add creates. */
	struct sock_perm perm;
	/* export_cfg.resize_fd of the exports export_add starts. */
	int resize_fd;
};

/*
 * Run the request in line[0..len) (no newline; any bytes). Returns the reply
 * as a malloc'd string without a newline, or NULL when there is none to send
 * (a notification, or out of memory).
 */
char *rpc_handle(struct rpc_ctx *ctx, const char *line, size_t len);

/* A reply that is an error with no request to answer (id null), e.g. a line too long. */
char *rpc_error_reply(int code, const char *message);

#endif
