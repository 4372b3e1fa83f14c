/* SPDX-License-Identifier: MIT */
/*
 * Socket activation and readiness notification, as systemd defines them
 * (sd_listen_fds(3), sd_notify(3)), spoken directly: both are a few lines of
 * environment and one datagram, not worth a libsystemd dependency.
 */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A decimal in 1..max, nothing else. */
static int parse_pos(const char *s, long max, long *out)
{
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	*out = strtol(s, &end, 10);
	return errno || *end || *out < 1 || *out > max ? -EINVAL : 0;
}

int service_listen_fd(void)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	long pid, nfds;
	int ret;

	/* sd_listen_fds(3): without LISTEN_PID nothing was passed to us. */
	if (!pid_s) {
		ret = -ENOENT;
		goto out_unset;
	}
	if (parse_pos(pid_s, LONG_MAX, &pid)) {
		ret = -EINVAL;
		goto out_unset;
	}
	/* sd_listen_fds(3): the variables were meant for another process. */
	if (pid != (long)getpid()) {
		ret = -ENOENT;
		goto out_unset;
	}
	if (parse_pos(fds_s, INT_MAX - SERVICE_LISTEN_FDS_START, &nfds) || nfds != 1) {
		ret = -EINVAL;
		goto out_unset;
	}
	if (fcntl(SERVICE_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC) < 0) {
		ret = errno == EBADF ? -EINVAL : -errno; /* fd 3 was not passed */
		goto out_unset;
	}
	ret = SERVICE_LISTEN_FDS_START;
out_unset:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return ret;
}

int service_notify(const char *state)
{
	const char *addr = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len;
	socklen_t salen;
	ssize_t n;
	int fd, ret;

	if (!addr || !*addr)
		return 0;
	len = strlen(addr);
	if ((addr[0] != '/' && addr[0] != '@') || len >= sizeof(sa.sun_path) || len < 2)
		return -EINVAL;
	memcpy(sa.sun_path, addr, len);
	/* An abstract address: a leading NUL, and the length says where it ends. */
	if (addr[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (addr[0] == '/'));

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	ret = n < 0 ? -errno : 1;
	close(fd);
	return ret;
}
