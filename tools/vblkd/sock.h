/* SPDX-License-Identifier: MIT */
/*
 * The unix sockets vblkd listens on (each export's vhost-user socket and the
 * control socket), created with the same rules: only the owner may connect
 * unless a mode and group say otherwise, the socket appears in one step
 * (rename) only once it listens, one another daemon listens on is never taken
 * over, and at exit it is removed only if the path still names ours.
 */
#ifndef VBLK_TOOLS_VBLKD_SOCK_H
#define VBLK_TOOLS_VBLKD_SOCK_H

#include <stdbool.h>
#include <sys/types.h>

#include "errmsg.h"

/* Who may connect: mode (default 0600) and group ((gid_t)-1: ours). */
struct sock_perm {
	mode_t mode;
	gid_t gid;
};

/*
 * The socket file vblkd created: removed at exit only if the path still names
 * that very file (dev + ino), not one that somebody put there since.
 */
struct sock_file {
	const char *path;
	const char *base; /* last component of path */
	int dirfd;	  /* the directory holding it, -1 once removed or never created */
	dev_t dev;
	ino_t ino;
};

/*
 * Create a listening, non-blocking socket at path with perm, recording it in
 * sf (which keeps the path pointer). Returns the fd, or -1 with the reason in
 * err (sf->dirfd stays -1).
 */
int sock_listen_at(struct sock_file *sf, const char *path, const struct sock_perm *perm,
		   char err[ERRMSG_LEN]);

/* Remove the socket we created, if sf->path still names it. Accepts sf->dirfd -1. */
void sock_remove(struct sock_file *sf);

/*
 * An inherited socket must be a unix stream socket: listening (1, made
 * non-blocking), or connected to the one front end (0), as a management layer
 * that spawns the back end with one end of a socketpair passes it. -1:
 * neither (the reason in err).
 */
int sock_inherited_listens(int fd, char err[ERRMSG_LEN]);

#endif
