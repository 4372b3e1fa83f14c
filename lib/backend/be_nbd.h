/* SPDX-License-Identifier: MIT */
/*
 * NBD backend (libnbd). be_nbd_ops.open() takes the NBD URI in opts->path:
 *
 *   nbd://HOST[:PORT]/EXPORT            TCP (port 10809 by default)
 *   nbds://HOST[:PORT]/EXPORT           TCP with TLS
 *   nbd+unix:///EXPORT?socket=PATH      Unix domain socket
 *   nbds+unix:///EXPORT?socket=PATH     Unix domain socket with TLS
 *
 * opts->ro makes the backend read-only even on a writable export; opts->size
 * and opts->direct do not apply (the server decides both). The size and the
 * capabilities in be_info are what the server advertises.
 *
 * Each be_queue gets its own NBD connection and I/O thread; see be_nbd.c for
 * the threading model, nbd_conn.c for the reconnect policy, and
 * nbd_durability.c for how a durability loss (writes acknowledged but never
 * flushed on a connection that broke) is reported and how a flush covers
 * every connection when the server lacks multi-conn.
 */
#ifndef VBLK_BACKEND_BE_NBD_H
#define VBLK_BACKEND_BE_NBD_H

#include <stdbool.h>
#include <string.h>

#include "be.h"

/* Time a queue keeps trying to reconnect after losing its server (ms). */
#define BE_NBD_RECONNECT_MS_DEFAULT 5000u

extern const struct be_ops be_nbd_ops;

#endif
