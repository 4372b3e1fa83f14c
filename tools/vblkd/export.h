/* SPDX-License-Identifier: MIT */
/*
 * One export of vblkd: a disk served as a vhost-user-blk device on its own
 * socket. It owns everything the disk needs - the backend, the virtio-blk
 * device, the vhost-user server and the thread that runs the server's control
 * plane (the server starts one more thread per enabled queue) - and shares
 * nothing with other exports: no lock of one export is on another's path.
 *
 * Threads: export_start, export_stop and export_signal_stop run on one
 * management thread at a time (main, or the control socket's thread);
 * export_status may run on any thread while the export exists.
 */
#ifndef VBLK_TOOLS_VBLKD_EXPORT_H
#define VBLK_TOOLS_VBLKD_EXPORT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "blk/blk.h"
#include "disk_opts.h"
#include "errmsg.h"
#include "sock.h"
#include "vhost_user/vu_server.h"

/* Export names: 1..EXPORT_NAME_MAX of [A-Za-z0-9_.-]. */
#define EXPORT_NAME_MAX 64

struct export_cfg {
	const char *name;
	/* The disk as given (--disk syntax, or a plain path when blk_file). */
	const char *disk;
	bool blk_file;
	bool read_only; /* --read-only: on top of the disk's own options */
	/* Exactly one: a path to create a socket at, or an inherited fd (owned from now on). */
	const char *socket_path;
	int fd;
	struct sock_perm perm;
	/*
	 * An eventfd (not owned) written when the export stops serving by itself:
	 * the one front end of a connected --fd hung up, or the server failed.
	 */
	int done_fd;
	/*
	 * An eventfd (not owned; -1: none) written when the disk's size may
	 * have changed from outside (RBD: `rbd resize` by another client); the
	 * export's size_news then says which export it was.
	 */
	int resize_fd;
};

struct export
{
	char name[EXPORT_NAME_MAX + 1];
	char *disk;   /* the disk as given, for export_list */
	char *socket; /* the socket path, or "fd:N" for an inherited fd */
	char *parsed; /* the copy of disk that dopts points into */
	struct disk_opts dopts;
	struct sock_file sock;
	struct be *be;
	struct blk_dev dev;
	struct vu_server *srv;
	bool one_conn; /* served on an fd connected to the one front end */

	pthread_t thread;
	bool thread_running;
	int stop_fd;	       /* eventfd: the server's stop fd */
	int done_fd;	       /* export_cfg.done_fd */
	int run_ret;	       /* vu_server_run's result, once the thread ended */
	atomic_bool ended;     /* the thread has left vu_server_run */
	atomic_bool stopping;  /* export_signal_stop was called */
	int resize_fd;	       /* export_cfg.resize_fd */
	atomic_bool size_news; /* the backend says the size may have changed */

	struct export *next; /* the daemon's list of exports */
};

/* Is name a valid export name? */
bool export_name_ok(const char *name);

/*
 * Open the disk, build the device, create (or take) the socket and start
 * serving on a thread of the export's own. Returns 0 and *out, or -errno
 * with the reason in err - or err empty when it has been logged already (the
 * backend says why it cannot open a disk). On failure nothing is left
 * behind: no socket, no thread, cfg->fd closed.
 */
int export_start(const struct export_cfg *cfg, struct export **out, char err[ERRMSG_LEN]);

/* Ask the export to stop serving (no wait): lets several exports drain at once. */
void export_signal_stop(struct export *e);

/*
 * Stop: no new front end, the in-flight requests of every queue complete,
 * the disk is flushed, the socket removed, everything freed. Returns 0, or
 * -errno if the server failed or the final flush did. Accepts NULL.
 */
int export_stop(struct export *e);

/* Has the export stopped serving by itself (export_cfg.done_fd)? */
bool export_ended(const struct export *e);

/* What export_list reports. */
struct export_status {
	struct vu_server_status vu;
	uint64_t size; /* bytes */
	bool ro;
	bool writeback;
};

void export_status(const struct export *e, struct export_status *st);

#endif
