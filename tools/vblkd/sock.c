/* SPDX-License-Identifier: MIT */
/*
 * Creating, checking and removing the unix sockets vblkd listens on
 * (sock.h): the same permission and take-over rules for every export's
 * vhost-user socket and for the control socket.
 */
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal/log.h"

/*
 * Serialise vblkds that create or remove sockets in the same directory, so
 * that "is the socket at PATH stale?" and "replace it" happen as one step.
 * flock(2) on the directory: no extra file, and gone with the process. A
 * holder that never lets go (any local user can flock a directory it can
 * read) makes us give up after ms milliseconds instead of hanging.
 */
static int lock_dir(int dirfd, unsigned ms)
{
	for (unsigned i = 0; i < ms / 10; i++) {
		if (flock(dirfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/*
 * Is a daemon listening on the socket at path? 0: nobody (connect refused:
 * a stale socket left by a dead daemon, or no file), 1: yes, -errno: cannot
 * tell (e.g. EACCES, another user's socket), so it must not be replaced.
 */
static int socket_in_use(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, ret;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* Non-blocking: a live daemon whose backlog is full must not stall us. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		ret = 1;
	else if (errno == ECONNREFUSED || errno == ENOENT)
		ret = 0;
	else if (errno == EAGAIN || errno == EINPROGRESS)
		ret = 1; /* alive, only busy */
	else
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Put a listening socket at path with perm's mode and group, so that nobody
 * but us can connect before it has them. The bind happens in a fresh
 * directory that only we can enter (mkdtemp, 0700), where the socket gets its
 * owner and mode; then rename(2) moves it to path in one step. Why not
 * umask(2) around bind(2): the umask is per process, and another thread
 * creating a file meanwhile would get ours; and a socket cannot be fchmod()ed
 * before bind. The rename also means a client never sees a socket that
 * refuses connections.
 *
 * A path that exists and is not a socket, or a socket on which a daemon
 * listens, is never replaced; a stale socket (connection refused) is.
 */
int sock_listen_at(struct sock_file *sf, const char *path, const struct sock_perm *perm,
		   char err[ERRMSG_LEN])
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *slash = strrchr(path, '/');
	char dir[sizeof(sa.sun_path)], tmpdir[sizeof(sa.sun_path)], sock[sizeof(sa.sun_path)];
	struct stat st;
	int fd = -1, dirfd, n, ret;

	sf->path = path;
	sf->dirfd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errmsg(err, "socket path longer than %zu bytes: %s", sizeof(sa.sun_path) - 1, path);
		return -1;
	}
	sf->base = slash ? slash + 1 : path;
	if (!*sf->base) {
		errmsg(err, "socket path names a directory: %s", path);
		return -1;
	}
	/* path fits in dir and the name added to it in tmpdir: sizes as sun_path. */
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
	n = snprintf(tmpdir, sizeof(tmpdir), "%s%s.vblkdXXXXXX", dir, slash ? "" : "/");
	if (n < 0 || (size_t)n >= sizeof(tmpdir)) {
		errmsg(err, "socket path too long: %s", path);
		return -1;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		errmsg(err, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if (!mkdtemp(tmpdir)) {
		errmsg(err, "cannot create %s: %s", path, strerror(errno));
		goto err_close_dir;
	}
	n = snprintf(sock, sizeof(sock), "%s/s", tmpdir);
	if (n < 0 || (size_t)n >= sizeof(sock)) {
		errmsg(err, "socket path too long: %s", path);
		goto err_rmdir;
	}
	memcpy(sa.sun_path, sock, (size_t)n + 1);
	/* mkdtemp's 0700 less our umask: never wider, but we must enter it. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || chmod(tmpdir, 0700) || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, 16)) {
		errmsg(err, "cannot listen on %s: %s", path, strerror(errno));
		goto err_unlink;
	}
	/* Group first: chown may clear mode bits, chmod sets them last. */
	if (perm->gid != (gid_t)-1 && chown(sock, (uid_t)-1, perm->gid)) {
		errmsg(err, "cannot give %s to group %ld: %s", path, (long)perm->gid,
		       strerror(errno));
		goto err_unlink;
	}
	if (chmod(sock, perm->mode) || lstat(sock, &st)) {
		errmsg(err, "cannot set the mode of %s: %s", path, strerror(errno));
		goto err_unlink;
	}
	sf->dev = st.st_dev;
	sf->ino = st.st_ino;

	ret = lock_dir(dirfd, 5000);
	if (ret) {
		errmsg(err, "cannot lock the directory of %s: %s", path,
		       ret == -ETIMEDOUT ? "another process holds a flock on it" : strerror(-ret));
		goto err_unlink;
	}
	if (fstatat(dirfd, sf->base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errmsg(err, "%s exists and is not a socket", path);
			goto err_unlock_dir;
		}
		ret = socket_in_use(path);
		if (ret > 0) {
			errmsg(err, "%s: another daemon is listening on it; not replacing it",
			       path);
			goto err_unlock_dir;
		}
		if (ret < 0) {
			errmsg(err, "%s: cannot tell whether it is in use (%s); not replacing it",
			       path, strerror(-ret));
			goto err_unlock_dir;
		}
	}
	if (renameat(AT_FDCWD, sock, dirfd, sf->base)) {
		errmsg(err, "cannot create %s: %s", path, strerror(errno));
		goto err_unlock_dir;
	}
	flock(dirfd, LOCK_UN);
	rmdir(tmpdir);
	sf->dirfd = dirfd;
	return fd;

err_unlock_dir:
	flock(dirfd, LOCK_UN);
err_unlink:
	unlink(sock);
	if (fd >= 0)
		close(fd);
err_rmdir:
	rmdir(tmpdir);
err_close_dir:
	close(dirfd);
	return -1;
}

void sock_remove(struct sock_file *sf)
{
	struct stat st;

	if (sf->dirfd < 0)
		return;
	/* Briefly, and on without the lock: SIGTERM must not wait on a stranger. */
	lock_dir(sf->dirfd, 500);
	if (fstatat(sf->dirfd, sf->base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == sf->dev && st.st_ino == sf->ino)
		unlinkat(sf->dirfd, sf->base, 0);
	else
		log_warn("%s is no longer our socket: left in place", sf->path);
	flock(sf->dirfd, LOCK_UN);
	close(sf->dirfd);
	sf->dirfd = -1;
}

int sock_inherited_listens(int fd, char err[ERRMSG_LEN])
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int type = 0, listening = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) || ss.ss_family != AF_UNIX ||
	    type != SOCK_STREAM) {
		errmsg(err, "fd %d is not a unix stream socket", fd);
		return -1;
	}
	len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) {
		errmsg(err, "fd %d: %s", fd, strerror(errno));
		return -1;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (listening) {
		int flags = fcntl(fd, F_GETFL);

		if (flags >= 0)
			fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		return 1;
	}
	/* Connected, and not yet hung up on: a peer that left must not be served. */
	sslen = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sslen)) {
		errmsg(err, "fd %d is neither listening nor connected: %s", fd, strerror(errno));
		return -1;
	}
	return 0;
}
