/* SPDX-License-Identifier: MIT */
/*
 * Serving a connected vhost-user socket (vblkd --fd N where N is one end of
 * a socketpair, as a management layer that spawns the back end passes it:
 * vhost-user.rst "Backend program conventions") with a server that accepts
 * its front end from a listening socket (vu_server.h). A thread carries the
 * bytes and the fds (SCM_RIGHTS) of each message between the front end's
 * socket and the connection the server accepts on a private listening
 * socket. The control plane only: rings, kicks and calls are shared memory
 * and eventfds, which never pass through it.
 */
#ifndef VBLK_TOOLS_CONN_BRIDGE_H
#define VBLK_TOOLS_CONN_BRIDGE_H

struct conn_bridge;

/*
 * Take conn_fd (a connected unix stream socket; owned from now on) and return
 * in *listen_fd a listening socket (for vu_server_create) with the bridge's
 * connection already queued on it and nobody else able to connect: it was
 * bound in a fresh 0700 directory, removed again before this returns.
 * Returns 0 and *out, or -errno with conn_fd closed.
 */
int conn_bridge_start(int conn_fd, int *listen_fd, struct conn_bridge **out);

/* Readable once either side has hung up (the front end left, or the server dropped it). */
int conn_bridge_done_fd(const struct conn_bridge *b);

/* Stop the thread and close everything. Accepts NULL. */
void conn_bridge_stop(struct conn_bridge *b);

#endif
