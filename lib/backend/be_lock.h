/* SPDX-License-Identifier: MIT */
/*
 * Image locking: one process at a time writes an image, and nobody reads it
 * for a guest while someone else writes it. The locks are the ones QEMU's
 * file-posix driver takes, so vblkd, QEMU, qemu-storage-daemon and qemu-img
 * all see each other.
 */
#ifndef VBLK_BACKEND_BE_LOCK_H
#define VBLK_BACKEND_BE_LOCK_H

#include <stdbool.h>

/*
 * Lock the image open at fd: a reader that lets nobody else write (ro), or
 * the one writer (!ro). Two readers coexist; a writer excludes every other
 * writer and every reader that does not allow writers (QEMU's own readers,
 * qemu-img info, included).
 *
 * The locks are open file description (OFD) locks: they belong to fd's open
 * file, not to the process, and go away with its last descriptor (or
 * be_unlock_image()). fd must not be shared with code that takes other POSIX
 * locks on it.
 *
 * path only names the image in messages.
 * Returns 0; -EBUSY if another process holds a conflicting lock (the one-line
 * message names it when /proc shows who); another -errno when the file system
 * cannot lock (message logged: locking=off serves such an image unlocked).
 */
int be_lock_image(int fd, const char *path, bool ro);

/* Drop every lock be_lock_image() took on fd. Accepts an fd that holds none. */
void be_unlock_image(int fd);

#endif
