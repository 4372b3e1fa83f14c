/* SPDX-License-Identifier: MIT */
/* vu_msg framing: fds travel with the header; bad framing is refused. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "vhost_user/vu_msg.h"

static void send_raw(int s, const void *buf, size_t len)
{
	CHECK(write(s, buf, len) == (ssize_t)len);
}

int main(void)
{
	struct vhost_user_msg m = {0}, r;
	int sv[2], fds[VHOST_USER_MAX_FDS], pfd[2];
	unsigned nfds;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(pipe(pfd) == 0);

	/* A message with a payload and one fd round-trips. */
	m.hdr.request = VHOST_USER_SET_VRING_KICK;
	m.hdr.flags = VHOST_USER_VERSION;
	m.hdr.size = sizeof(m.payload.u64);
	m.payload.u64 = 3;
	CHECK_EQ(vu_msg_send(sv[0], &m, &pfd[1], 1), 0);
	CHECK_EQ(vu_msg_recv(sv[1], &r, fds, &nfds), 0);
	CHECK_EQ(r.hdr.request, VHOST_USER_SET_VRING_KICK);
	CHECK_EQ(r.payload.u64, 3);
	CHECK_EQ(nfds, 1);
	CHECK(write(fds[0], "x", 1) == 1); /* it is our pipe's write end */
	char c;
	CHECK(read(pfd[0], &c, 1) == 1 && c == 'x');
	CHECK(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	vu_msg_close_fds(fds, nfds);
	CHECK_EQ(fds[0], -1);

	/* Wrong protocol version. */
	m.hdr.flags = 2;
	m.hdr.size = 0;
	send_raw(sv[0], &m.hdr, sizeof(m.hdr));
	CHECK_EQ(vu_msg_recv(sv[1], &r, fds, &nfds), -EPROTO);

	/* A payload larger than any request's. */
	m.hdr.flags = VHOST_USER_VERSION;
	m.hdr.size = sizeof(m.payload) + 1;
	send_raw(sv[0], &m.hdr, sizeof(m.hdr));
	CHECK_EQ(vu_msg_recv(sv[1], &r, fds, &nfds), -EMSGSIZE);

	/* Sending an oversized message is refused before anything is written. */
	CHECK_EQ(vu_msg_send(sv[0], &m, NULL, 0), -EINVAL);

	/* A payload cut short by the peer going away is a disconnect. */
	m.hdr.size = 8;
	send_raw(sv[0], &m.hdr, sizeof(m.hdr));
	send_raw(sv[0], "abc", 3);
	close(sv[0]);
	CHECK_EQ(vu_msg_recv(sv[1], &r, fds, &nfds), -ECONNRESET);
	CHECK_EQ(vu_msg_recv(sv[1], &r, fds, &nfds), -ECONNRESET);

	CHECK(strcmp(vu_msg_name(VHOST_USER_GET_CONFIG), "GET_CONFIG") == 0);
	CHECK(strcmp(vu_msg_name(999), "UNKNOWN") == 0);
	return 0;
}
