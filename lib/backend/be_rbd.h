/* SPDX-License-Identifier: MIT */
/*
 * RBD backend (librbd): a disk that is an image of a Ceph cluster.
 * be_rbd_ops.open() takes the image in opts->path, in QEMU's rbd filename
 * syntax:
 *
 *   rbd:POOL/[NAMESPACE/]IMAGE[@SNAP][:OPTION=VALUE]...
 *
 * Options: conf=PATH (ceph.conf; default: librados's search, CEPH_CONF),
 * id=USER (cephx user without "client.", default admin), keyring=PATH, and
 * any other librados option (mon_host=..., key=...) passed to
 * rados_conf_set() as it is. A snapshot is served read-only.
 *
 * opts->timeout_ms bounds how long a request waits for an unreachable
 * cluster (rados_osd_op_timeout, rados_mon_op_timeout, client_mount_timeout)
 * before it fails with -ETIMEDOUT; 0 asks for BE_RBD_TIMEOUT_MS_DEFAULT.
 */
#ifndef VBLK_BACKEND_BE_RBD_H
#define VBLK_BACKEND_BE_RBD_H

#include <stdbool.h>

#include "be.h"

/*
 * A stopped OSD that comes back (a restart takes seconds) must not fail the
 * guest's I/O; a cluster gone for this long is treated as gone.
 */
#define BE_RBD_TIMEOUT_MS_DEFAULT 30000u

extern const struct be_ops be_rbd_ops;

/* True if spec names an RBD image ("rbd:..."). Works without librbd. */
static inline bool be_is_rbd_spec(const char *spec)
{
	return spec && spec[0] == 'r' && spec[1] == 'b' && spec[2] == 'd' && spec[3] == ':';
}

#endif
