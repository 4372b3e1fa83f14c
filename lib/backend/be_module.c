/* SPDX-License-Identifier: MIT */
/*
 * Backend modules: finds and loads a backend that is built as a shared
 * object of its own (the RBD backend, vblk-backend-rbd.so), so that a process
 * which never opens such a disk never maps its libraries. librbd and its
 * Ceph libraries are ~10 MiB of resident pages and their static constructors
 * touch ~1 MiB of the main thread's stack at start-up, like QEMU's
 * block-rbd.so module.
 *
 * Where a module is looked for, first hit wins:
 *  1. $VBLK_MODULE_DIR, if set (and only there: tests point it elsewhere);
 *  2. ../lib/backend next to the running executable (/proc/self/exe), which
 *     is where the build tree keeps it for build/tools/vblkd and vblk;
 *  3. VBLK_MODULE_DIR_INSTALLED, the directory `meson install` puts it in
 *     (LIBDIR/vblk).
 */
#include "be_module.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/log.h"

#ifndef VBLK_MODULE_DIR_INSTALLED
#define VBLK_MODULE_DIR_INSTALLED "/usr/local/lib/vblk"
#endif

/* The module's path in dir, into buf (PATH_MAX). Returns 0 or -ENAMETOOLONG. */
static int module_path(char *buf, const char *dir, const char *file)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, file);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* The build tree's copy: EXE_DIR/../lib/backend/file, if it exists. */
static int module_path_near_exe(char *buf, const char *file)
{
	char exe[PATH_MAX], dir[PATH_MAX];
	char *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return -ENOENT;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	if (snprintf(dir, sizeof(dir), "%s/../lib/backend", exe) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	if (module_path(buf, dir, file) < 0 || access(buf, F_OK) < 0)
		return -ENOENT;
	return 0;
}

int be_module_ops(const char *what, const char *file, const char *symbol, const struct be_ops **out)
{
	char path[PATH_MAX];
	const char *dir = secure_getenv("VBLK_MODULE_DIR");
	const struct be_ops *ops;
	void *h;
	int ret;

	if (dir && *dir)
		ret = module_path(path, dir, file);
	else if (module_path_near_exe(path, file) < 0)
		ret = module_path(path, VBLK_MODULE_DIR_INSTALLED, file);
	else
		ret = 0;
	if (ret < 0) {
		log_err("%s: support not installed: module path too long", what);
		return ret;
	}
	/*
	 * Never dlclose()d: the loader keeps one copy however often a disk opens
	 * it (so nothing needs remembering here), and unloading librbd while its
	 * threads may still run would pull code from under them. RTLD_NOW: a
	 * missing symbol (an old librbd) fails here, with a message, not later.
	 */
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		log_err("%s: support not installed: %s", what, dlerror());
		return -ENOTSUP;
	}
	ops = dlsym(h, symbol);
	if (!ops) {
		log_err("%s: support not installed: %s", what, dlerror());
		return -ENOTSUP;
	}
	*out = ops;
	return 0;
}
