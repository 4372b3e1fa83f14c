/* SPDX-License-Identifier: MIT */
/*
 * One export's life (export.h): disk -> backend -> virtio-blk device ->
 * vhost-user server on its socket -> a thread running the server until it
 * is told to stop, then drain, flush and tear down in the reverse order.
 */
#include "export.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backend/be.h"
#include "internal/log.h"
#include "vhost_user/vu_blk.h"

bool export_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > EXPORT_NAME_MAX)
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
	       n;
}

static void *export_thread(void *arg)
{
	struct export *e = arg;

	/* The server's messages (connect, disconnect, queues) name their export. */
	log_set_thread_tag(e->name);
	e->run_ret = vu_server_run(e->srv, e->stop_fd);
	if (e->run_ret)
		log_err("server: %s", strerror(-e->run_ret));
	atomic_store(&e->ended, true);
	/* Ended by itself, not by export_signal_stop: tell whoever waits on done_fd. */
	if (e->done_fd >= 0 && !atomic_load(&e->stopping))
		eventfd_write(e->done_fd, 1);
	return NULL;
}

/* The backend's thread: the disk's size may have changed; the control thread resizes. */
static void export_size_changed(void *arg)
{
	struct export *e = arg;

	atomic_store(&e->size_news, true);
	eventfd_write(e->resize_fd, 1);
}

/* Open the backend and build the device on it, from e->dopts. */
static int open_disk(struct export *e, char *err)
{
	const struct disk_opts *o = &e->dopts;
	struct be_opts bopts = {
	    .path = o->file,
	    .ro = o->ro,
	    .size = o->size,
	    .direct = o->direct,
	    .nolock = o->nolock,
	    .reconnect_ms = o->reconnect_ms,
	    .format_raw = o->format_raw,
	    .timeout_ms = o->rbd_timeout_ms,
	    .size_changed = e->resize_fd >= 0 ? export_size_changed : NULL,
	    .size_changed_arg = e,
	};
	struct blk_dev_opts vopts = {
	    .ro = o->ro,
	    .writeback = o->writeback,
	    .serial = o->serial,
	    .num_queues = o->queues,
	    .queue_size = VQ_DEV_MAX_SIZE,
	    .logical_block_size = o->lbs,
	    .physical_block_size = o->pbs,
	    .range_start = o->range_start,
	    .range_size = o->range_size,
	    .limits = o->limits,
	};
	int ret;

	/* be_open logs the one line that says why: err stays empty (export.h). */
	ret = be_open(o->file, &bopts, &e->be);
	if (ret) {
		e->be = NULL;
		err[0] = '\0';
		return ret;
	}
	ret = blk_dev_init(&e->dev, e->be, &vopts);
	if (ret) {
		errmsg(err, "%s: cannot build the device: %s", o->file, strerror(-ret));
		return ret;
	}
	return 0;
}

/* Create the server on the export's socket (made, or inherited in cfg->fd). */
static int open_server(struct export *e, const struct export_cfg *cfg, char *err)
{
	char sockname[32];
	int fd = cfg->fd, kind = 1, ret;

	if (fd >= 0) {
		kind = sock_inherited_listens(fd, err);
		if (kind < 0) {
			close(fd);
			return -EINVAL;
		}
		snprintf(sockname, sizeof(sockname), "fd:%d", fd);
		e->socket = strdup(sockname);
	} else {
		e->socket = strdup(cfg->socket_path);
	}
	if (!e->socket) {
		if (fd >= 0)
			close(fd);
		return errmsg(err, "out of memory"), -ENOMEM;
	}
	if (kind == 0) {
		/* One front end, and the export ends with it (vhost-user.rst conventions). */
		e->one_conn = true;
		ret = vu_server_create_conn(&vu_blk_ops, &e->dev, fd, &e->srv);
	} else {
		if (fd < 0) {
			/* Last step before serving: the socket's appearance means "ready". */
			fd = sock_listen_at(&e->sock, e->socket, &cfg->perm, err);
			if (fd < 0)
				return -EINVAL;
		}
		ret = vu_server_create(&vu_blk_ops, &e->dev, fd, &e->srv);
	}
	if (ret) {
		e->srv = NULL;
		errmsg(err, "cannot start the server: %s", strerror(-ret));
		return ret;
	}
	vu_server_set_poll(e->srv, e->dopts.poll_us);
	return 0;
}

/* Free what start built, in reverse order; accepts any half-built export. */
static void export_free(struct export *e)
{
	vu_server_destroy(e->srv);
	sock_remove(&e->sock);
	if (e->stop_fd >= 0)
		close(e->stop_fd);
	blk_dev_fini(&e->dev);
	if (e->be)
		be_close(e->be);
	free(e->parsed);
	free(e->disk);
	free(e->socket);
	free(e);
}

int export_start(const struct export_cfg *cfg, struct export **out, char err[ERRMSG_LEN])
{
	struct export *e;
	int ret;

	if (!export_name_ok(cfg->name)) {
		if (cfg->fd >= 0)
			close(cfg->fd);
		return errmsg(err, "bad export name '%.*s' (1 to %d of A-Z a-z 0-9 _ . -)",
			      EXPORT_NAME_MAX + 1, cfg->name, EXPORT_NAME_MAX);
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		if (cfg->fd >= 0)
			close(cfg->fd);
		return errmsg(err, "out of memory"), -ENOMEM;
	}
	e->sock.dirfd = -1;
	e->done_fd = cfg->done_fd;
	e->resize_fd = cfg->resize_fd;
	strcpy(e->name, cfg->name);
	e->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->disk = strdup(cfg->disk);
	e->parsed = strdup(cfg->disk);
	if (e->stop_fd < 0 || !e->disk || !e->parsed) {
		ret = errno ? -errno : -ENOMEM;
		errmsg(err, "%s", strerror(-ret));
		goto err_close_fd;
	}
	if (cfg->blk_file) {
		disk_opts_file(e->parsed, &e->dopts);
	} else {
		ret = disk_opts_parse(e->parsed, &e->dopts, err);
		if (ret)
			goto err_close_fd;
	}
	if (cfg->read_only)
		e->dopts.ro = true;
	ret = open_disk(e, err);
	if (ret)
		goto err_close_fd;
	/* open_server owns cfg->fd from here on, also when it fails. */
	ret = open_server(e, cfg, err);
	if (ret)
		goto err_free;
	ret = -pthread_create(&e->thread, NULL, export_thread, e);
	if (ret) {
		errmsg(err, "cannot start a thread: %s", strerror(-ret));
		goto err_free;
	}
	e->thread_running = true;
	log_info("serving %s (%" PRIu64 " bytes%s, %u queue%s) on %s as %s", e->dopts.file,
		 e->be->info.size, e->dopts.ro ? ", read-only" : "", e->dopts.queues,
		 e->dopts.queues > 1 ? "s" : "", e->socket, e->name);
	*out = e;
	return 0;

err_close_fd:
	if (cfg->fd >= 0)
		close(cfg->fd);
err_free:
	export_free(e);
	return ret;
}

void export_signal_stop(struct export *e)
{
	atomic_store(&e->stopping, true);
	eventfd_write(e->stop_fd, 1);
}

bool export_ended(const struct export *e)
{
	return atomic_load(&e->ended);
}

int export_stop(struct export *e)
{
	int ret = 0;

	if (!e)
		return 0;
	if (e->thread_running) {
		export_signal_stop(e);
		pthread_join(e->thread, NULL);
		ret = e->run_ret;
	}
	/* Stop accepting first, so nobody connects to an export on its way out. */
	sock_remove(&e->sock);
	if (vu_server_shutdown(e->srv) && !ret)
		ret = -EIO;
	log_info("%s: stopped", e->name);
	export_free(e);
	return ret;
}

void export_status(const struct export *e, struct export_status *st)
{
	vu_server_status(e->srv, &st->vu);
	st->size = e->dev.capacity * 512;
	st->ro = e->dev.ro;
	st->writeback = atomic_load(&e->dev.writeback);
}
