/* SPDX-License-Identifier: MIT */
/* rf_send: see rf_send.h. */
#include "rf_send.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

int rf_send_part(int sock, const void *buf, size_t len, size_t *done, const int *fds, unsigned nfds,
		 int flags)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * RF_SEND_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {(char *)buf + *done, len - *done};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (nfds > RF_SEND_MAX_FDS)
		return -EINVAL;
	if (nfds && *done == 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	*done += (size_t)n;
	return 0;
}
