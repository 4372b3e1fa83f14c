/* SPDX-License-Identifier: MIT */
/*
 * Image locking with QEMU's lock bytes (see be_lock.h).
 *
 * QEMU's file-posix driver (raw_apply_lock_bytes, raw_check_lock_bytes)
 * describes each user of an image by two sets of block-layer permissions:
 * what it does, and what it lets others do. Permission bit i owns two bytes
 * of the file:
 *   byte 100 + i  read-locked by every user that has permission i;
 *   byte 200 + i  read-locked by every user that does not share permission i.
 * A user first read-locks its own bytes, then tests (F_OFD_GETLK for a write
 * lock, which conflicts with anyone else's read lock) the opposite bytes: for
 * each permission it wants, nobody may hold 200 + i; for each one it does not
 * share, nobody may hold 100 + i. Locking before testing means that of two
 * users starting at once at least one sees the other. Only read locks are
 * taken, so users whose permissions agree (two readers) stack on the same
 * bytes; "exclusive" is what the bytes say, not an F_WRLCK: QEMU would report
 * a write lock on its bytes only as "Failed to lock byte N", and a read-only
 * fd cannot take one.
 *
 * vblkd read-write uses consistent read and write; vblkd ro uses consistent
 * read. Neither shares write (the guest's disk would change under it) nor
 * resize (the device size is read once, at open). So a second writer finds
 * byte 201 held, and a reader that does not share write (another vblkd ro,
 * qemu-img info, a QEMU guest disk) finds byte 101 held; two readers only
 * meet on bytes 100 and 201, which they test for nothing.
 */
#include "be_lock.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal/log.h"

/* QEMU block/file-posix.c: RAW_LOCK_PERM_BASE, RAW_LOCK_SHARED_BASE. */
#define LOCK_PERM_BASE	 100
#define LOCK_SHARED_BASE 200

/* QEMU's BLK_PERM_* bit numbers (include/block/block-common.h). */
enum {
	PERM_CONSISTENT_READ = 0,
	PERM_WRITE = 1,
	PERM_WRITE_UNCHANGED = 2,
	PERM_RESIZE = 3,
	PERM_COUNT = 4,
};

/* Byte range holding every lock we take, for unlocking and for naming a holder. */
#define LOCK_FIRST LOCK_PERM_BASE
#define LOCK_LAST  (LOCK_SHARED_BASE + PERM_COUNT - 1)

static int ofd_lock(int fd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/*
 * 1 if another open file holds a lock on byte off (*pid: its process for a
 * classic POSIX lock, -1 for an OFD lock), 0 if not, -errno on failure.
 */
static int byte_held(int fd, off_t off, pid_t *pid)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	*pid = fl.l_pid;
	return fl.l_type != F_UNLCK;
}

/*
 * Does fdinfo text show a lock on inode key (" MAJ:MIN:INO ", as /proc/locks
 * prints it) that overlaps our bytes?
 */
static bool fdinfo_has_lock(char *text, const char *key)
{
	char *save = NULL, *line;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long start;
		char *p, *end;

		if (strncmp(line, "lock:", 5) || !(p = strstr(line, key)))
			continue;
		start = strtoull(p + strlen(key), &end, 10);
		/* The end is a number or "EOF"; a range starting past our bytes misses them. */
		while (*end == ' ')
			end++;
		if (start > LOCK_LAST)
			continue;
		if (isdigit((unsigned char)*end) && strtoull(end, NULL, 10) < LOCK_FIRST)
			continue;
		return true;
	}
	return false;
}

/* Does process pid have an open file holding a lock on our bytes of inode key? */
static bool pid_holds_lock(const char *pid, const char *key)
{
	char dir_path[64], path[384], text[4096];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir_path, sizeof(dir_path), "/proc/%s/fdinfo", pid);
	d = opendir(dir_path);
	if (!d)
		return false; /* gone, or not ours to look at */
	while (!found && (de = readdir(d))) {
		ssize_t n;
		int fd;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
		if (n <= 0)
			continue;
		text[n] = '\0';
		found = fdinfo_has_lock(text, key);
	}
	closedir(d);
	return found;
}

/*
 * Name the process holding a lock on our bytes of fd's file, as " (pid N,
 * COMM)" in buf, or "" if nobody can be seen. An OFD lock does not record its
 * owner (F_OFD_GETLK and /proc/locks say pid -1), but /proc/PID/fdinfo/FD lists
 * the locks of each open file: visible for our own user's processes, or all
 * of them as root. Runs only on the way to an error.
 */
static void find_holder(int fd, pid_t hint, char *buf, size_t len)
{
	char key[64], comm_path[64], comm[32] = "";
	pid_t self = getpid(), holder = hint > 0 ? hint : 0;
	struct dirent *de;
	struct stat st;
	DIR *proc;
	FILE *f;

	buf[0] = '\0';
	if (!holder) {
		if (fstat(fd, &st) < 0)
			return;
		snprintf(key, sizeof(key), " %02x:%02x:%llu ", major(st.st_dev), minor(st.st_dev),
			 (unsigned long long)st.st_ino);
		proc = opendir("/proc");
		if (!proc)
			return;
		while ((de = readdir(proc))) {
			long pid;

			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			pid = strtol(de->d_name, NULL, 10);
			if (pid != self && pid_holds_lock(de->d_name, key)) {
				holder = (pid_t)pid;
				break;
			}
		}
		closedir(proc);
		if (!holder)
			return;
	}
	snprintf(comm_path, sizeof(comm_path), "/proc/%ld/comm", (long)holder);
	f = fopen(comm_path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	snprintf(buf, len, " (pid %ld%s%s)", (long)holder, comm[0] ? ", " : "", comm);
}

int be_lock_image(int fd, const char *path, bool ro)
{
	const unsigned perm = 1u << PERM_CONSISTENT_READ | (ro ? 0 : 1u << PERM_WRITE);
	const unsigned unshared = 1u << PERM_WRITE | 1u << PERM_RESIZE;
	char who[80];
	pid_t pid = -1;
	int ret = 0;

	for (unsigned i = 0; i < PERM_COUNT && !ret; i++) {
		if (perm & 1u << i)
			ret = ofd_lock(fd, F_RDLCK, LOCK_PERM_BASE + i, 1);
		if (!ret && unshared & 1u << i)
			ret = ofd_lock(fd, F_RDLCK, LOCK_SHARED_BASE + i, 1);
	}
	if (ret == -EAGAIN || ret == -EACCES) {
		/* Someone holds a write lock on a byte of ours (not QEMU: it never does). */
		ret = 1;
		goto conflict;
	}
	if (ret) {
		log_err("file backend: cannot lock '%s': %s (locking=off serves it unlocked)", path,
			strerror(-ret));
		goto err_unlock;
	}
	for (unsigned i = 0; i < PERM_COUNT && !ret; i++) {
		if (perm & 1u << i)
			ret = byte_held(fd, LOCK_SHARED_BASE + i, &pid);
		if (!ret && unshared & 1u << i)
			ret = byte_held(fd, LOCK_PERM_BASE + i, &pid);
	}
	if (ret < 0) {
		log_err("file backend: cannot test the locks on '%s': %s", path, strerror(-ret));
		goto err_unlock;
	}
	if (!ret)
		return 0;

conflict:
	find_holder(fd, pid, who, sizeof(who));
	log_err("file backend: another process%s holds a lock on '%s' (is another vblkd or QEMU "
		"using it?)",
		who, path);
	ret = -EBUSY;
err_unlock:
	be_unlock_image(fd);
	return ret;
}

void be_unlock_image(int fd)
{
	ofd_lock(fd, F_UNLCK, LOCK_FIRST, LOCK_LAST - LOCK_FIRST + 1);
}
