/* SPDX-License-Identifier: MIT */
/*
 * vblkd's online resize of one export: change or re-read the disk's size
 * and tell the front end (vhost-user CONFIG_CHANGE_MSG). It runs on vblkd's
 * control thread (SIGHUP, export_resize), so neither an export's server
 * thread nor a queue ever waits on the backend's fstat/ioctl; the server
 * sends the message on its own thread.
 */
#include "resize.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include <vblk/spec/virtio_blk.h>

#include "internal/log.h"

int vblkd_resize(struct blk_dev *d, struct vu_server *srv, uint64_t new_size, uint64_t *before_b,
		 uint64_t *after_b)
{
	uint64_t before = atomic_load(&d->capacity), after;
	int ret = blk_dev_resize(d, new_size);

	if (before_b)
		*before_b = before << VIRTIO_BLK_SECTOR_SHIFT;
	if (after_b)
		*after_b = before << VIRTIO_BLK_SECTOR_SHIFT;
	if (ret == -EOPNOTSUPP) {
		/* NBD: each connection's handshake fixed the size its requests are checked against.
		 */
		log_warn("resize: this disk's size is fixed while vblkd runs (NBD, memory, null); "
			 "restart vblkd to serve a new size");
		return ret;
	}
	if (ret) {
		if (new_size)
			log_err("resize: cannot resize the disk to %" PRIu64 " bytes: %s", new_size,
				strerror(-ret));
		else
			log_err("resize: cannot learn the disk's size again: %s", strerror(-ret));
		return ret;
	}
	after = atomic_load(&d->capacity);
	if (after_b)
		*after_b = after << VIRTIO_BLK_SECTOR_SHIFT;
	if (after == before) {
		log_info("resize: the disk still has %" PRIu64 " bytes",
			 after << VIRTIO_BLK_SECTOR_SHIFT);
		return 0;
	}
	log_info("resize: the disk now has %" PRIu64 " bytes (was %" PRIu64 ")",
		 after << VIRTIO_BLK_SECTOR_SHIFT, before << VIRTIO_BLK_SECTOR_SHIFT);
	ret = vu_server_config_changed(srv);
	if (ret)
		log_err("resize: cannot notify the front end: %s", strerror(-ret));
	return ret;
}
