/* SPDX-License-Identifier: MIT */
/*
 * Conformance cases for the back-end request channel (group
 * "backend-channel", vhost-user.rst "Back-end communication"):
 * SET_BACKEND_REQ_FD with fds of the wrong kind or state, and
 * VHOST_USER_BACKEND_CONFIG_CHANGE_MSG after vblkd learned a new disk size
 * on SIGHUP, with the new capacity in GET_CONFIG — answered in QEMU's
 * order (GET_CONFIG before the ack), and by a front end that never acks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "test.h"
#include "vhost_user/vu_msg.h"

#define PF_BACKEND VIRTIO_BIT(VHOST_USER_PROTOCOL_F_BACKEND_REQ)

/* rf_negotiate, then BACKEND_REQ on top (rf_negotiate leaves it out). */
static void negotiate_backend(struct rf *f)
{
	uint64_t pf;

	rf_negotiate(f, 0);
	CHECK(rf_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES) & PF_BACKEND);
	pf = f->pfeatures | PF_BACKEND;
	rf_send(f, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &pf, sizeof(pf), NULL, 0);
	f->pfeatures = pf;
}

static void backend_fd_refused(int fd)
{
	negotiate_backend(&F);
	expect_nack(&F, rf_set(&F, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &fd, 1));
	close(fd);
}

static void be_fd_pipe(void)
{
	int p[2];

	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	backend_fd_refused(p[1]);
}

static void be_fd_eventfd(void)
{
	backend_fd_refused(eventfd(0, EFD_CLOEXEC));
}

/* A socket whose peer is gone: every message on it would be lost. */
static void be_fd_closed_peer(void)
{
	int sp[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	close(sp[1]);
	backend_fd_refused(sp[0]);
}

/* A datagram socket cannot carry the stream framing. */
static void be_fd_dgram(void)
{
	int sp[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp), 0);
	close(sp[1]);
	backend_fd_refused(sp[0]);
}

/* Without BACKEND_REQ negotiated the front end is out of step: dropped. */
static void be_fd_not_negotiated(void)
{
	int sp[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	rf_negotiate(&F, 0);
	rf_send(&F, VHOST_USER_SET_BACKEND_REQ_FD, 0, NULL, 0, &sp[0], 1);
	close(sp[0]);
	close(sp[1]);
	expect_drop(&F);
}

/* No fd at all: the message is malformed. */
static void be_fd_missing(void)
{
	negotiate_backend(&F);
	rf_send(&F, VHOST_USER_SET_BACKEND_REQ_FD, 0, NULL, 0, NULL, 0);
	expect_drop(&F);
}

/* ------------------------------------------------------------------------ */
/* CONFIG_CHANGE_MSG after SIGHUP, on a daemon of the case's own            */

struct own {
	char tmpl[64];
	struct daemon d;
	const char *saved;
};

/* A failing CHECK exits: the case's daemon must not outlive it. */
static pid_t own_pid;
static char own_dir[64];

static void own_kill(void)
{
	/* SIGTERM first: a stand-in script (qsd-as-vblkd.sh) passes it on to its daemon. */
	if (own_pid <= 0 || kill(own_pid, SIGTERM))
		return;
	for (int i = 0; i < 50 && waitpid(own_pid, NULL, WNOHANG) == 0; i++)
		usleep(100 * 1000);
	kill(own_pid, SIGKILL);
	if (own_dir[0]) {
		char cmd[96];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", own_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", own_dir);
	}
}

static void own_start(struct own *o)
{
	static bool registered;

	if (!registered)
		registered = atexit(own_kill) == 0;
	snprintf(o->tmpl, sizeof(o->tmpl), "/tmp/vblk-conf-resize.XXXXXX");
	CHECK(mkdtemp(o->tmpl) != NULL);
	memset(&o->d, 0, sizeof(o->d));
	o->d.tag = "-resize";
	o->d.opts = "";
	snprintf(o->d.dir, sizeof(o->d.dir), "%s", o->tmpl);
	CHECK(daemon_start(&o->d));
	own_pid = o->d.pid;
	snprintf(own_dir, sizeof(own_dir), "%s", o->tmpl);
	o->saved = rf_sock_path;
	rf_sock_path = o->d.sock;
}

static void own_stop(struct own *o)
{
	char why[256] = "", cmd[128];
	bool ok = daemon_stop(&o->d, why, sizeof(why));

	own_pid = 0;
	own_dir[0] = '\0';

	rf_sock_path = o->saved;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", o->tmpl);
	CHECK_EQ(system(cmd), 0);
	if (!ok)
		fprintf(stderr, "vblkd: %s\n", why);
	CHECK(ok);
}

/* Grow the image by add bytes and send SIGHUP. */
static void grow_and_hup(struct own *o, off_t add)
{
	int fd = open(o->d.img, O_RDWR | O_CLOEXEC);
	off_t end;

	CHECK(fd >= 0);
	end = lseek(fd, 0, SEEK_END);
	CHECK(end > 0 && ftruncate(fd, end + add) == 0);
	close(fd);
	CHECK_EQ(kill(o->d.pid, SIGHUP), 0);
}

/* A CONFIG_CHANGE_MSG on ch within ms; returns its flags. */
static uint32_t expect_config_change(int ch, int ms)
{
	struct vhost_user_msg m;
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds = 0;

	if (!rf_wait_readable(ch, ms)) {
		fprintf(stderr, "no message on the back-end channel within %d ms\n", ms);
		exit(1);
	}
	CHECK_EQ(vu_msg_recv(ch, &m, fds, &nfds), 0);
	CHECK_EQ(nfds, 0u);
	CHECK_EQ(m.hdr.request, (uint32_t)VHOST_USER_BACKEND_CONFIG_CHANGE_MSG);
	CHECK_EQ(m.hdr.size, 0u);
	CHECK(!(m.hdr.flags & VHOST_USER_REPLY_MASK));
	return m.hdr.flags;
}

static void send_ack(int ch, uint64_t v)
{
	struct vhost_user_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = VHOST_USER_BACKEND_CONFIG_CHANGE_MSG;
	m.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	m.hdr.size = sizeof(v);
	memcpy(&m.payload, &v, sizeof(v));
	CHECK_EQ(vu_msg_send(ch, &m, NULL, 0), 0);
}

/*
 * The channel is set twice (the first is replaced and closed); SIGHUP
 * after the image grew sends CONFIG_CHANGE_MSG with NEED_REPLY (REPLY_ACK
 * is negotiated), GET_CONFIG is answered before we ack (QEMU's order) with
 * the new capacity, and the disk's new sectors can be written and read.
 */
static void be_config_change_after_sighup(void)
{
	int a[2], b[2];
	struct own o;
	uint64_t cap0, cap1;
	uint32_t flags, used;
	uint8_t buf[512];
	char c;

	own_start(&o);
	rf_open(&F, 1, 0);
	{
		uint64_t pf = F.pfeatures | PF_BACKEND;

		rf_send(&F, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &pf, sizeof(pf), NULL, 0);
		F.pfeatures = pf;
	}
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
	CHECK_EQ(rf_set(&F, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &a[1], 1), 0);
	close(a[1]);
	CHECK_EQ(rf_set(&F, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &b[1], 1), 0);
	close(b[1]);
	/* The older channel is closed: EOF on our end. */
	CHECK(rf_wait_readable(a[0], 5000));
	CHECK_EQ(read(a[0], &c, 1), 0);
	close(a[0]);

	cap0 = rf_capacity(&F);
	grow_and_hup(&o, 1 << 20);
	flags = expect_config_change(b[0], 10000);
	CHECK(flags & VHOST_USER_NEED_REPLY_MASK);
	cap1 = rf_capacity(&F);
	fprintf(stderr, "capacity %llu -> %llu sectors\n", (unsigned long long)cap0,
		(unsigned long long)cap1);
	CHECK_EQ(cap1, cap0 + (1 << 20) / 512);
	send_ack(b[0], 0);
	/* The sectors past the old end work now (and the last one of the new end). */
	rf_rw_check(&F, 0, cap0, 9);
	rf_rw_check(&F, 0, cap1 - 16, 10); /* 8 KiB: the last 16 sectors */
	CHECK_EQ(rf_io(&F, 0, VIRTIO_BLK_T_IN, cap1, buf, sizeof(buf), true, &used),
		 VIRTIO_BLK_S_IOERR);
	expect_still_served(&F);
	close(b[0]);
	own_stop(&o);
}

/*
 * A front end that never acks: the control channel keeps answering at
 * once, and a later resize is still announced (after the ack timed out).
 */
static void be_config_change_never_acked(void)
{
	int ch[2];
	struct own o;
	struct timespec t0, t1;
	uint64_t cap0;

	own_start(&o);
	negotiate_backend(&F);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch), 0);
	CHECK_EQ(rf_set(&F, VHOST_USER_SET_BACKEND_REQ_FD, NULL, 0, &ch[1], 1), 0);
	close(ch[1]);
	cap0 = rf_capacity(&F);
	grow_and_hup(&o, 1 << 20);
	CHECK(expect_config_change(ch[0], 10000) & VHOST_USER_NEED_REPLY_MASK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(rf_get_u64(&F, VHOST_USER_GET_FEATURES) != 0);
	CHECK_EQ(rf_capacity(&F), cap0 + (1 << 20) / 512);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Answered without waiting for the ack (which would take 5 s to time out). */
	CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000);
	grow_and_hup(&o, 1 << 20);
	expect_config_change(ch[0], 20000);
	CHECK_EQ(rf_capacity(&F), cap0 + (2 << 20) / 512);
	expect_still_served(&F);
	close(ch[0]);
	own_stop(&o);
}

#define BC(n, f)                                                                                   \
	{                                                                                          \
		"backend-channel", n, f, false                                                     \
	}
static const struct conf_case cases[] = {
    BC("backend-req-fd-pipe", be_fd_pipe),
    BC("backend-req-fd-eventfd", be_fd_eventfd),
    BC("backend-req-fd-closed-peer", be_fd_closed_peer),
    BC("backend-req-fd-datagram", be_fd_dgram),
    BC("backend-req-fd-not-negotiated", be_fd_not_negotiated),
    BC("backend-req-fd-missing", be_fd_missing),
    BC("config-change-after-sighup", be_config_change_after_sighup),
    BC("config-change-never-acked", be_config_change_never_acked),
};

const struct conf_table conf_backend_cases = {cases, sizeof(cases) / sizeof(cases[0])};
