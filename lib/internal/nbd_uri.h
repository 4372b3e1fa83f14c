/* SPDX-License-Identifier: MIT */
/*
 * The one test for "is this argument an NBD URI?", shared by vblkd's --disk
 * and vblk copy so that both read the same strings the same way.
 */
#ifndef VBLK_INTERNAL_NBD_URI_H
#define VBLK_INTERNAL_NBD_URI_H

#include <stdbool.h>

/*
 * True if s starts with one of the NBD URI schemes libnbd's nbd_connect_uri()
 * takes for TCP or unix sockets, with or without TLS: nbd://, nbds://,
 * nbd+unix://, nbds+unix:// (the NBD URI specification, doc/uri.md in the
 * NBD project). Only the scheme is checked: libnbd parses the rest. False
 * for NULL. Thread-safe; works without libnbd.
 */
bool is_nbd_uri(const char *s);

#endif
