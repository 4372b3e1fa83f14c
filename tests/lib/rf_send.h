/* SPDX-License-Identifier: MIT */
/*
 * rf_send: the one place the test front ends (raw_front, the fuzz harnesses)
 * put bytes and SCM_RIGHTS fds on a vhost-user socket. vhost-user.rst
 * ("Communication"): the fds travel as ancillary data with the message, so
 * they go with the first byte sent and never again. No test.h here: the fuzz
 * harnesses link it and abort rather than exit.
 */
#ifndef VBLK_TESTS_RF_SEND_H
#define VBLK_TESTS_RF_SEND_H

#include <stddef.h>

/* At most this many fds go with one message (16: more than any vhost-user message takes). */
#define RF_SEND_MAX_FDS 16

/*
 * One sendmsg() of buf[*done..len), with the nfds fds attached when *done is
 * 0, MSG_NOSIGNAL added to flags. Advances *done by what was sent. Returns 0,
 * -EINVAL for more than RF_SEND_MAX_FDS fds, or sendmsg's -errno (-EINTR,
 * -EAGAIN with MSG_DONTWAIT: call again; *done is unchanged).
 */
int rf_send_part(int sock, const void *buf, size_t len, size_t *done, const int *fds, unsigned nfds,
		 int flags);

#endif
