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
 * Send msg (header + msg->hdr.size payload bytes) with nfds descriptors.
 * Returns 0, -EINVAL (size or nfds too large) or -errno (e.g. -EPIPE).
 */
int vu_msg_send(int sock, const struct vhost_user_msg *msg, const int *fds, unsigned nfds);

/* Close fds[0..nfds) that are >= 0 and set them to -1. */
void vu_msg_close_fds(int *fds, unsigned nfds);

/* Printable name of a request ("SET_MEM_TABLE"), or "UNKNOWN". */
const char *vu_msg_name(uint32_t request);

#endif
