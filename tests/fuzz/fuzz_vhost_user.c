/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the vhost-user server (lib/vhost_user/vu_server.c) with
 * the real virtio-blk device (vu_blk over a memory backend), fed arbitrary
 * message sequences through its public API only, the way a hostile front end
 * would: over a unix socket, with real file descriptors attached.
 *
 * Per input: a fresh listening socket (abstract namespace, private to this
 * process), vu_server_create + vu_server_run on a thread, one client that
 * sends the input's messages (plus guest-memory writes and kicks), then
 * shutdown(SHUT_WR) and reads until the server hangs up; then stop_fd stops
 * the server and vu_server_destroy frees it. So every input starts from the
 * same state, and anything the server leaks shows up in LeakSanitizer.
 *
 * A server that never hangs up after our end of stream is a hang: the
 * harness aborts after FUZZ_VU_HANG_SEC.
 *
 * Input: records until the input ends; the first byte of each picks:
 *   0-4  message: u8 request (>= 0xf0: a raw u32 follows), u8 flags selector,
 *        le16 size, u8 fds (count in bits 0-3, kind in bits 4-7), then
 *        min(size, payload max) payload bytes
 *   5    kick: u8 index of an eventfd this input created; 0xff instead says
 *        the device's config space changed (vu_server_config_changed)
 *   6    guest memory write: le16 offset, u8 length, bytes
 *   7    a second client connects (must be refused while we are connected)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vblk/spec/vhost_user.h>

#include "fuzz_in.h"
#include "fuzz_vu.h"
#include "internal/log.h"

#define GMEM_SIZE    (256u << 10)
#define MAX_SEND_FDS 12

#define DIE(...) fuzz_vu_die(__VA_ARGS__)

/* Process-wide, created once. */
static struct {
	bool ready;
	struct fuzz_vu_env env;
} P;

/* Per input. */
struct run {
	struct fuzz_vu_conn c;	   /* first: drain gets it */
	int evfd[FUZZ_VU_MAX_OWN]; /* eventfds among them, for kicks */
	unsigned nev;
};

static void setup_once(void)
{
	if (P.ready)
		return;
	/* FUZZ_VU_VERBOSE=1: log every message, to check what a seed does. */
	log_set_level(getenv("FUZZ_VU_VERBOSE") ? LOGL_DEBUG : LOGL_ERR);
	fuzz_vu_env_init(&P.env, "fuzz-vu", GMEM_SIZE);
	P.ready = true;
}

static int new_eventfd(struct run *r)
{
	int fd = fuzz_vu_own(&r->c, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));

	if (fd >= 0)
		r->evfd[r->nev++] = fd;
	return fd;
}

/* One fd of the given kind for position i of a message. */
static int make_fd(struct run *r, unsigned kind, unsigned i)
{
	int p[2];

	switch (kind) {
	case 2:
		return P.env.memfd;
	case 3:
		return i == 0 ? P.env.memfd : new_eventfd(r);
	case 4:
		if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
			DIE("pipe: %s", strerror(errno));
		fuzz_vu_own(&r->c, p[0]);
		return fuzz_vu_own(&r->c, p[1]);
	case 5:
		/* A connected unix socket (SET_BACKEND_REQ_FD); its peer stays open, unread. */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p))
			DIE("socketpair: %s", strerror(errno));
		fuzz_vu_own(&r->c, p[0]);
		return fuzz_vu_own(&r->c, p[1]);
	default:
		return new_eventfd(r);
	}
}

/* Read and drop whatever the server sent; notice when it hung up. */
static void drain(struct fuzz_vu_conn *r)
{
	char buf[4096];

	while (!r->dead) {
		ssize_t n = recv(r->sock, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			r->dead = true;
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
}

/* The known bug (see the header): a region that runs past the end of our memfd. */
static void do_message(struct run *r, struct in *in)
{
	struct vhost_user_msg m;
	uint8_t reqsel = take8(in), flagsel = take8(in), fdspec;
	int fds[MAX_SEND_FDS];
	unsigned nfds, kind;
	size_t plen;

	memset(&m, 0, sizeof(m));
	m.hdr.request = reqsel >= 0xf0 ? take32(in) : reqsel % (VHOST_USER_MAX + 2);
	m.hdr.flags =
	    VHOST_USER_VERSION | (flagsel & (VHOST_USER_REPLY_MASK | VHOST_USER_NEED_REPLY_MASK));
	if (flagsel & 0x10)
		m.hdr.flags ^= (flagsel >> 5) & 3; /* maybe a bad version */
	if (flagsel == 0xff)
		m.hdr.flags = take32(in);
	m.hdr.size = take16(in);
	fdspec = take8(in);
	nfds = fdspec & 0xf;
	if (nfds > MAX_SEND_FDS)
		nfds = MAX_SEND_FDS;
	kind = fdspec >> 4;
	plen = m.hdr.size < sizeof(m.payload) ? m.hdr.size : sizeof(m.payload);
	take(in, (uint8_t *)&m + sizeof(m.hdr), plen);
	for (unsigned i = 0; i < nfds; i++) {
		fds[i] = make_fd(r, kind, i);
		if (fds[i] < 0) {
			nfds = i;
			break;
		}
	}
	fuzz_vu_send(&r->c, &m, sizeof(m.hdr) + plen, fds, nfds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blk_dev_opts dopts = {.serial = "fuzz-vu", .num_queues = 2, .queue_size = 64};
	struct in in = {data, size};
	struct run r;

	setup_once();
	memset(&r, 0, sizeof(r));
	r.c.drain = drain;
	fuzz_vu_start(&r.c, &P.env, &dopts);

	for (unsigned steps = 0; in.n > 0 && !r.c.dead && steps < 256; steps++) {
		uint8_t op = take8(&in);

		switch (op % 8) {
		case 5: {
			uint8_t i = take8(&in);

			if (i == 0xff)
				vu_server_config_changed(r.c.srv);
			else if (r.nev)
				eventfd_write(r.evfd[i % r.nev], 1);
			break;
		}
		case 6: {
			uint16_t off = take16(&in);
			uint8_t len = take8(&in);

			if ((size_t)off + len > GMEM_SIZE)
				len = (uint8_t)(GMEM_SIZE - off);
			take(&in, P.env.gmem + off, len);
			break;
		}
		case 7:
			fuzz_vu_second_client(&P.env);
			break;
		default:
			do_message(&r, &in);
			break;
		}
	}
	fuzz_vu_finish(&r.c);
	return 0;
}
