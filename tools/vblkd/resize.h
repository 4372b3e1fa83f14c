/* SPDX-License-Identifier: MIT */
/*
 * vblkd's online resize: SIGHUP makes the daemon learn its disks' sizes
 * again, export_resize on the control socket sets or re-reads one, and the
 * front end is told, so a grown image file or block device reaches the
 * guest without a restart. (The control thread, tools/vblkd/ctl.c, reads
 * SIGHUP: it owns the list of exports.)
 */
#ifndef VBLK_TOOLS_VBLKD_RESIZE_H
#define VBLK_TOOLS_VBLKD_RESIZE_H

#include <stdint.h>

#include "blk/blk.h"
#include "vhost_user/vu_server.h"

/*
 * Resize the export's device d (blk_dev_resize: new_size bytes, or 0 to
 * learn the backend's size again) and, if its capacity changed, notify the
 * front end of srv (vu_server_config_changed). Logs what happened; *before
 * and *after (may be NULL) get the sizes in bytes. Returns 0 or -errno.
 */
int vblkd_resize(struct blk_dev *d, struct vu_server *srv, uint64_t new_size, uint64_t *before,
		 uint64_t *after);

#endif
