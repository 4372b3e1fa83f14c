/* SPDX-License-Identifier: MIT */
/*
 * The two service-manager protocols a daemon started by systemd (or anything
 * that speaks them) uses, without libsystemd: socket activation (sd_listen_fds(3):
 * LISTEN_PID, LISTEN_FDS, the sockets from fd 3 on) and readiness
 * notification (sd_notify(3): one datagram to the unix socket NOTIFY_SOCKET).
 */
#ifndef VBLK_TOOLS_SERVICE_H
#define VBLK_TOOLS_SERVICE_H

/* The first fd a service manager passes (SD_LISTEN_FDS_START). */
#define SERVICE_LISTEN_FDS_START 3

/*
 * The socket passed by socket activation, if any: LISTEN_PID must name this
 * process (otherwise the variables were meant for a parent and are ignored)
 * and LISTEN_FDS must be 1, as a daemon that serves one socket expects.
 * LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are removed from the environment
 * either way, so that no child inherits them. Call before any thread exists
 * (it changes the environment).
 * Returns the fd (SERVICE_LISTEN_FDS_START, made close-on-exec), -ENOENT if
 * nothing was passed to us, or -EINVAL if the variables are malformed or pass
 * more than one socket.
 */
int service_listen_fd(void);

/*
 * Send state (e.g. "READY=1", "STOPPING=1"; newline-separated assignments) to
 * the service manager at NOTIFY_SOCKET: a path, or an abstract address when it
 * starts with '@'. Returns 1 once sent, 0 if NOTIFY_SOCKET is not set (no
 * manager is listening: nothing to do), or -errno (-EINVAL: a malformed
 * address).
 */
int service_notify(const char *state);

#endif
