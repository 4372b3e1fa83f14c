/* SPDX-License-Identifier: MIT */
/*
 * lib/vhost_user: the vhost-user transport, both ends. vu_msg is the framing
 * shared by the server (device side, vu_server) and the client (driver side,
 * vu_client): one message = header + payload over a unix stream socket, with
 * file descriptors passed as SCM_RIGHTS on the header (vhost-user.rst
 * "Message Specification"). It checks framing only; each handler checks the
 * payload size its request needs.
 */
#ifndef VBLK_VHOST_USER_VU_MSG_H
#define VBLK_VHOST_USER_VU_MSG_H

#include <stdint.h>

#include <vblk/spec/vhost_user.h>

/*
 * Receive one message into msg and its fds into fds[0..*nfds) (at most
 * VHOST_USER_MAX_FDS; received fds are close-on-exec and owned by the caller).
 * Returns 0; -ECONNRESET on end of stream or a short read (the peer is gone or
 * the stream is out of step); -EMSGSIZE when the payload would not fit;
 * -EPROTO on a bad version or too many fds (any fds received are closed);
 * other -errno from recvmsg.
 */
int vu_msg_recv(int sock, struct vhost_user_msg *msg, int *fds, unsigned *nfds);

/*
 * Limits on one message exchange over a non-blocking socket: the whole
 * message must move before deadline (CLOCK_MONOTONIC milliseconds from
 * vu_msg_deadline(); -1: no deadline), and abort_fd (if >= 0) becoming
 * readable abandons it. A front end that trickles a message byte by byte
 * cannot hold a peer longer than the deadline, nor delay its shutdown.
 */
struct vu_msg_limits {
	int64_t deadline;
	int abort_fd;
};

/* The deadline timeout_ms from now (-1 for timeout_ms < 0: none). */
int64_t vu_msg_deadline(int timeout_ms);

/*
 * vu_msg_recv within lim (NULL: none). On a non-blocking sock it waits for
 * the rest of a message with poll(); besides vu_msg_recv's errors it returns
 * -ETIMEDOUT (deadline passed, or on a non-blocking socket nothing arrived
 * yet and the deadline passed) or -ECANCELED (abort_fd readable). Only a
 * complete message is ever returned.
 */
int vu_msg_recv_lim(int sock, struct vhost_user_msg *msg, int *fds, unsigned *nfds,
		    const struct vu_msg_limits *lim);

/* vu_msg_send within lim (NULL: none); -ETIMEDOUT / -ECANCELED as vu_msg_recv_lim. */
int vu_msg_send_lim(int sock, const struct vhost_user_msg *msg, const int *fds, unsigned nfds,
		    const struct vu_msg_limits *lim);

/*
 * Send msg (header + msg->hdr.size payload bytes) with nfds descriptors.
 * Returns 0, -EINVAL (size or nfds too large) or -errno (e.g. -EPIPE).
 */
int vu_msg_send(int sock, const struct vhost_user_msg *msg, const int *fds, unsigned nfds);

/* Close fds[0..nfds) that are >= 0 and set them to -1. */
void vu_msg_close_fds(int *fds, unsigned nfds);

/* Printable name of a request ("SET_MEM_TABLE"), or "UNKNOWN". */
const char *vu_msg_name(uint32_t request);

#endif
