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
 * harness aborts after HANG_SEC.
 *
 * Input: records until the input ends; the first byte of each picks:
 *   0-4  message: u8 request (>= 0xf0: a raw u32 follows), u8 flags selector,
 *        le16 size, u8 fds (count in bits 0-3, kind in bits 4-7), then
 *        min(size, payload max) payload bytes
 *   5    kick: u8 index of an eventfd this input created
 *   6    guest memory write: le16 offset, u8 length, bytes
 *   7    a second client connects (must be refused while we are connected)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vblk/spec/vhost_user.h>

#include "backend/be.h"
#include "blk/blk.h"
#include "internal/log.h"
#include "vhost_user/vu_blk.h"
#include "vhost_user/vu_server.h"

#define GMEM_SIZE    (256u << 10)
#define MAX_SEND_FDS 12
#define MAX_OWN_FDS  64
#define HANG_SEC     20

struct in {
	const uint8_t *p;
	size_t n;
};

static void take(struct in *in, void *out, size_t len)
{
	size_t k = in->n < len ? in->n : len;

	memcpy(out, in->p, k);
	memset((uint8_t *)out + k, 0, len - k);
	in->p += k;
	in->n -= k;
}

static uint8_t take8(struct in *in)
{
	uint8_t v;

	take(in, &v, 1);
	return v;
}

static uint16_t take16(struct in *in)
{
	uint16_t v;

	take(in, &v, 2);
	return v;
}

static uint32_t take32(struct in *in)
{
	uint32_t v;

	take(in, &v, 4);
	return v;
}

#define DIE(...)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, "fuzz_vhost_user: " __VA_ARGS__);                                  \
		fprintf(stderr, "\n");                                                             \
		abort();                                                                           \
	} while (0)

/* Process-wide, created once. */
static struct {
	bool ready;
	struct be *be;
	int memfd;
	uint8_t *gmem;
	int stop_fd;
	struct sockaddr_un addr;
	socklen_t addr_len;
} P;

/* Per input. */
struct run {
	struct vblk_dev dev;
	struct vu_server *srv;
	pthread_t thread;
	int ret;
	int sock;
	bool dead;	      /* the server hung up on us */
	int own[MAX_OWN_FDS]; /* fds we created and close at the end */
	unsigned nown;
	int evfd[MAX_OWN_FDS]; /* eventfds among them, for kicks */
	unsigned nev;
};

static void setup_once(void)
{
	struct be_opts bopts = {0};

	if (P.ready)
		return;
	/* FUZZ_VU_VERBOSE=1: log every message, to check what a seed does. */
	vblk_log_set_level(getenv("FUZZ_VU_VERBOSE") ? VBLK_LOG_DEBUG : VBLK_LOG_ERR);
	signal(SIGPIPE, SIG_IGN);
	if (be_open("memory:1M", &bopts, &P.be))
		DIE("cannot open the memory backend");
	P.memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (P.memfd < 0 || ftruncate(P.memfd, GMEM_SIZE))
		DIE("memfd: %s", strerror(errno));
	P.gmem = mmap(NULL, GMEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, P.memfd, 0);
	if (P.gmem == MAP_FAILED)
		DIE("mmap: %s", strerror(errno));
	P.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (P.stop_fd < 0)
		DIE("eventfd: %s", strerror(errno));
	/* Abstract namespace: nothing on disk, freed when the socket closes. */
	P.addr.sun_family = AF_UNIX;
	snprintf(P.addr.sun_path + 1, sizeof(P.addr.sun_path) - 1, "vblk-fuzz-vu-%ld",
		 (long)getpid());
	P.addr_len =
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(P.addr.sun_path + 1));
	P.ready = true;
}

static int own_fd(struct run *r, int fd)
{
	if (fd < 0)
		DIE("cannot create an fd: %s", strerror(errno));
	if (r->nown == MAX_OWN_FDS) {
		close(fd);
		return -1;
	}
	r->own[r->nown++] = fd;
	return fd;
}

static int new_eventfd(struct run *r)
{
	int fd = own_fd(r, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));

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
		return P.memfd;
	case 3:
		return i == 0 ? P.memfd : new_eventfd(r);
	case 4:
		if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
			DIE("pipe: %s", strerror(errno));
		own_fd(r, p[0]);
		return own_fd(r, p[1]);
	default:
		return new_eventfd(r);
	}
}

static void *server_main(void *arg)
{
	struct run *r = arg;

	r->ret = vu_server_run(r->srv, P.stop_fd);
	return NULL;
}

/* Read and drop whatever the server sent; notice when it hung up. */
static void drain(struct run *r)
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

static void send_raw(struct run *r, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * MAX_SEND_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {(void *)buf, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	size_t done = 0;

	if (nfds) {
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
	while (done < len && !r->dead) {
		ssize_t n = sendmsg(r->sock, &mh, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				drain(r);
				continue;
			}
			r->dead = true; /* EPIPE / ECONNRESET: the server dropped us */
			break;
		}
		done += (size_t)n;
		iov.iov_base = (char *)buf + done;
		iov.iov_len = len - done;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
	drain(r);
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
	send_raw(r, &m, sizeof(m.hdr) + plen, fds, nfds);
}

static void second_client(void)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		DIE("socket: %s", strerror(errno));
	/* Refused (closed at once) while we are connected; either way, we leave. */
	(void)connect(s, (struct sockaddr *)&P.addr, P.addr_len);
	close(s);
}

/* Our end of stream, then wait for the server to hang up. */
static void finish_client(struct run *r)
{
	struct timespec t0, t;

	shutdown(r->sock, SHUT_WR);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!r->dead) {
		struct pollfd p = {.fd = r->sock, .events = POLLIN};

		poll(&p, 1, 1000);
		drain(r);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (!r->dead && t.tv_sec - t0.tv_sec > HANG_SEC)
			DIE("the server did not hang up %d s after the client's end of stream",
			    HANG_SEC);
	}
	close(r->sock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vblk_dev_opts dopts = {.serial = "fuzz-vu", .num_queues = 2, .queue_size = 64};
	struct in in = {data, size};
	struct run r;
	int lfd, ret;
	eventfd_t v;

	setup_once();
	memset(&r, 0, sizeof(r));
	memset(P.gmem, 0, GMEM_SIZE);
	if (vblk_dev_init(&r.dev, P.be, &dopts))
		DIE("vblk_dev_init");

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&P.addr, P.addr_len) || listen(lfd, 4))
		DIE("listen: %s", strerror(errno));
	ret = vu_server_create(&vu_blk_ops, &r.dev, lfd, &r.srv);
	if (ret)
		DIE("vu_server_create: %s", strerror(-ret));
	if (pthread_create(&r.thread, NULL, server_main, &r))
		DIE("pthread_create");

	r.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r.sock < 0 || connect(r.sock, (struct sockaddr *)&P.addr, P.addr_len))
		DIE("connect: %s", strerror(errno));

	for (unsigned steps = 0; in.n > 0 && !r.dead && steps < 256; steps++) {
		uint8_t op = take8(&in);

		switch (op % 8) {
		case 5: {
			uint8_t i = take8(&in);

			if (r.nev)
				eventfd_write(r.evfd[i % r.nev], 1);
			break;
		}
		case 6: {
			uint16_t off = take16(&in);
			uint8_t len = take8(&in);

			if ((size_t)off + len > GMEM_SIZE)
				len = (uint8_t)(GMEM_SIZE - off);
			take(&in, P.gmem + off, len);
			break;
		}
		case 7:
			second_client();
			break;
		default:
			do_message(&r, &in);
			break;
		}
	}
	finish_client(&r);

	eventfd_write(P.stop_fd, 1);
	pthread_join(r.thread, NULL);
	eventfd_read(P.stop_fd, &v);
	if (r.ret)
		DIE("vu_server_run returned %d", r.ret);
	vu_server_destroy(r.srv);
	vblk_dev_fini(&r.dev);
	for (unsigned i = 0; i < r.nown; i++)
		close(r.own[i]);
	return 0;
}
