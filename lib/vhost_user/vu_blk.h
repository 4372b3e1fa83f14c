/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk over the vhost-user server: the struct vu_dev_ops a
 * struct blk_dev plugs into vu_server. It moves chains between the ring
 * (vu_queue_pop/push) and the request engine (blk_req_submit); it never
 * parses a request itself, and blk/ never learns about vhost-user.
 */
#ifndef VBLK_VHOST_USER_VU_BLK_H
#define VBLK_VHOST_USER_VU_BLK_H

#include "blk/blk.h"
#include "vu_server.h"

/*
 * The device table; pass a struct blk_dev * (initialised with
 * blk_dev_init, outliving the server) as vu_server_create's dev.
 */
extern const struct vu_dev_ops vu_blk_ops;

/*
 * Flush the backend of d synchronously on a private backend queue: returns
 * 0 once a BE_OP_FLUSH completed, 0 at once if the backend has nothing to
 * flush (read-only or !can_flush), or -errno. Call it with no queue running.
 */
int vu_blk_flush(struct blk_dev *d);

#endif
