/* SPDX-License-Identifier: MIT */
/*
 * vblkd's control thread: it owns the list of exports while the daemon
 * runs, resizes them on SIGHUP, and serves the control socket.
 *
 * The control socket (--control PATH): a unix socket with the same
 * permission rules as the vhost-user sockets, speaking JSON-RPC 2.0, one
 * JSON object per line each way (rpc.h has the methods).
 *
 * It runs on a thread of its own, with every client non-blocking in one
 * epoll loop: a client that sends half a line, floods, or never reads its
 * replies costs a bounded buffer and is never waited for, so it stalls
 * neither another client nor any export's data path (which takes no lock
 * the control thread holds). A line longer than RPC_LINE_MAX is answered
 * with an error and skipped; a client whose replies pile up is not read
 * until it takes them; at most CTL_MAX_CLIENTS are connected at once.
 */
#ifndef VBLK_TOOLS_VBLKD_CTL_H
#define VBLK_TOOLS_VBLKD_CTL_H

#include "errmsg.h"
#include "export.h"
#include "sock.h"

#define CTL_MAX_CLIENTS 16

struct ctl;

/*
 * Start the control thread, which owns *exports (the daemon's list) until
 * ctl_stop. It resizes every export on each SIGHUP read from hup_fd (a
 * signalfd, owned from now on; -1: none), resizes the exports whose
 * size_news is set when resize_fd (an eventfd, not owned; -1: none) is
 * written (export_cfg.resize_fd), and, with a path, listens there
 * (perm, as sock_listen_at) for control clients. Returns 0 and *out, or
 * -errno with the reason in err.
 */
int ctl_start(const char *path, const struct sock_perm *perm, struct export **exports, int hup_fd,
	      int resize_fd, struct ctl **out, char err[ERRMSG_LEN]);

/* Stop the thread, drop the clients, remove the socket; *exports is the caller's again.
 * Accepts NULL. */
void ctl_stop(struct ctl *c);

#endif
