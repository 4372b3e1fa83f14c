/* SPDX-License-Identifier: MIT */
/*
 * Backends built as shared objects of their own, loaded with dlopen() the
 * first time a disk needs one (be_module.c says where they are looked for).
 */
#ifndef VBLK_BACKEND_BE_MODULE_H
#define VBLK_BACKEND_BE_MODULE_H

#include "be.h"

/* The RBD backend's module and the ops table it exports. */
#define BE_MODULE_RBD	  "vblk-backend-rbd.so"
#define BE_MODULE_RBD_OPS "be_rbd_ops"

/*
 * Load module file (once per process; later calls find it loaded) and put
 * its ops table, the exported symbol, in *out. The table belongs to the
 * module, which is never unloaded: it stays valid for the process's life.
 * Returns 0, or -ENOTSUP with "WHAT: support not installed: " and the
 * loader's reason logged (the module or one of its libraries is missing, or
 * lacks symbol), or -ENAMETOOLONG (module path too long). Thread-safe
 * (dlopen is).
 */
int be_module_ops(const char *what, const char *file, const char *symbol,
		  const struct be_ops **out);

#endif
