/* SPDX-License-Identifier: MIT */
/*
 * Conformance cases for the control plane (group "control"): what a buggy
 * or hostile front end can do to vblkd besides malformed rings and
 * messages — config messages past the config space, fds of the wrong kind
 * or in a state that blocks, memory that shrinks after it was mapped,
 * messages that trickle in, SIGTERM in the middle of one. Each case asserts
 * the exact outcome (reply, NACK, dropped connection, broken queue with its
 * error eventfd) and that a fresh client is then served.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "test.h"

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* Config space                                                             */

/*
 * GET_CONFIG as the very first message, with a config size past the 256
 * bytes any config space can have and a header size that matches
 * (12 + 256 = 268): a protocol violation, whatever the sizes agree on. It
 * used to copy the size into a 256-byte stack buffer (and reply with the
 * stack beyond it).
 */
static void config_first_message(uint32_t hdr_size, uint32_t cfg_size)
{
	uint8_t buf[sizeof(struct vhost_user_header) + sizeof(union vhost_user_payload) + 8];
	struct vhost_user_header *h = (void *)buf;
	struct vhost_user_config *c = (void *)(buf + sizeof(*h));

	memset(buf, 0xa5, sizeof(buf));
	h->request = VHOST_USER_GET_CONFIG;
	h->flags = VHOST_USER_VERSION;
	h->size = hdr_size;
	c->offset = 0;
	c->size = cfg_size;
	c->flags = 0;
	F.sock = rf_connect_raw();
	CHECK_EQ(rf_send_bytes(F.sock, buf, sizeof(*h) + hdr_size, NULL, 0), 0);
	expect_drop(&F);
}

static void ctl_config_size_257(void)
{
	config_first_message(VHOST_USER_CONFIG_HDR_SIZE + 256, 257);
}

static void ctl_config_size_260(void)
{
	config_first_message(VHOST_USER_CONFIG_HDR_SIZE + 256, 260);
}

static void ctl_config_size_huge(void)
{
	config_first_message(VHOST_USER_CONFIG_HDR_SIZE + 256, UINT32_MAX);
}

/* A payload longer than struct vhost_user_config (the union's largest member). */
static void ctl_config_payload_272(void)
{
	config_first_message(VHOST_USER_CONFIG_HDR_SIZE + 260, 260);
}

/* 256 bytes is a legal size, past this device's config space: an empty reply. */
static void ctl_config_size_256_past_space(void)
{
	struct vhost_user_config c;
	int n;

	rf_negotiate(&F, 0);
	memset(&c, 0, sizeof(c));
	c.size = VHOST_USER_MAX_CONFIG_SIZE;
	rf_send(&F, VHOST_USER_GET_CONFIG, 0, &c, sizeof(c), NULL, 0);
	n = rf_recv(&F, VHOST_USER_GET_CONFIG, &c, sizeof(c));
	CHECK_EQ(n, 0);
	expect_still_served(&F);
}

/* SET_CONFIG with a size past 256: a protocol violation. */
static void ctl_set_config_size_over_max(void)
{
	struct vhost_user_config c;

	rf_negotiate(&F, 0);
	memset(&c, 0, sizeof(c));
	c.offset = 32;
	c.size = 300;
	rf_send(&F, VHOST_USER_SET_CONFIG, 0, &c, sizeof(c), NULL, 0);
	expect_drop(&F);
}

/* The reply is exactly what was asked: header + size bytes. */
static void ctl_get_config_reply_size(void)
{
	struct vhost_user_config c;

	rf_negotiate(&F, 0);
	memset(&c, 0, sizeof(c));
	c.size = 8;
	rf_send(&F, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR_SIZE + 8, NULL, 0);
	CHECK_EQ(rf_recv(&F, VHOST_USER_GET_CONFIG, &c, sizeof(c)),
		 (int)VHOST_USER_CONFIG_HDR_SIZE + 8);
	CHECK_EQ(c.size, 8u);
	expect_still_served(&F);
}

/* ------------------------------------------------------------------------ */
/* Vring fds of the wrong kind, or in a state that would block              */

/* Give queue 0 its size and rings, but no kick/call/err yet. */
static void queue0_rings(void)
{
	struct vhost_vring_addr a;

	memset(&a, 0, sizeof(a));
	a.index = 0;
	a.desc_user_addr = (uint64_t)(uintptr_t)rf_ptr(&F, RF_RING(0));
	a.avail_user_addr = (uint64_t)(uintptr_t)rf_ptr(&F, RF_RING(0) + 0x1000);
	a.used_user_addr = (uint64_t)(uintptr_t)rf_ptr(&F, RF_RING(0) + 0x2000);
	rf_set_state(&F, VHOST_USER_SET_VRING_NUM, 0, RF_QNUM);
	rf_set_ok(&F, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	rf_set_state(&F, VHOST_USER_SET_VRING_BASE, 0, 0);
}

/* SET_VRING_<req> on queue 0 with fd: refused with a NACK, the connection goes on. */
static void vring_fd_refused(uint32_t req, int fd)
{
	uint64_t v = 0;

	rf_negotiate(&F, 0);
	queue0_rings();
	expect_nack(&F, rf_set(&F, req, &v, sizeof(v), &fd, 1));
	close(fd);
}

static void ctl_kick_fd_pipe(void)
{
	int p[2];

	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	/* The write end closed: a kick fd at EOF, which used to spin a core. */
	close(p[1]);
	vring_fd_refused(VHOST_USER_SET_VRING_KICK, p[0]);
}

static void ctl_call_fd_pipe(void)
{
	int p[2];

	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	vring_fd_refused(VHOST_USER_SET_VRING_CALL, p[1]);
}

static void ctl_err_fd_dev_null(void)
{
	vring_fd_refused(VHOST_USER_SET_VRING_ERR, open("/dev/null", O_RDWR | O_CLOEXEC));
}

static void ctl_kick_fd_socket(void)
{
	int sp[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	close(sp[1]);
	vring_fd_refused(VHOST_USER_SET_VRING_KICK, sp[0]);
}

/*
 * The call eventfd's counter at its maximum: a blocking write would never
 * return. Requests still complete (seen in the used ring), GET_VRING_BASE
 * answers, and the queue thread is not wedged.
 */
static void ctl_call_eventfd_full(void)
{
	struct vhost_vring_state s = {0, 0};
	uint32_t id, len;
	uint8_t data[512];

	rf_open(&F, 2, 0);
	/* The flag is the shared file description's: the front end can clear it under us. */
	CHECK_EQ(fcntl(F.q[0].call, F_SETFL, fcntl(F.q[0].call, F_GETFL) & ~O_NONBLOCK), 0);
	CHECK_EQ(eventfd_write(F.q[0].call, 0xfffffffffffffffeull), 0);
	memset(data, 0x5a, sizeof(data));
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 8);
	memcpy(rf_ptr(&F, RF_DATA(0)), data, sizeof(data));
	rf_desc(&F.q[0], 0, RF_HDR(0), 16, VIRTQ_DESC_F_NEXT, 1);
	rf_desc(&F.q[0], 1, RF_DATA(0), sizeof(data), VIRTQ_DESC_F_NEXT, 2);
	rf_desc(&F.q[0], 2, RF_STATUS(0), 1, VIRTQ_DESC_F_WRITE, 0);
	rf_avail(&F.q[0], 0);
	rf_kick(&F.q[0]);
	CHECK(rf_wait_used(&F.q[0], RF_TIMEOUT_MS, &id, &len));
	CHECK_EQ(rf_status(&F, 0), VIRTIO_BLK_S_OK);
	/* The other queue was never affected. */
	rf_rw_check(&F, 1, 64, 9);
	rf_send(&F, VHOST_USER_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
	CHECK_EQ(rf_recv(&F, VHOST_USER_GET_VRING_BASE, &s, sizeof(s)), (int)sizeof(s));
	CHECK_EQ(s.num, 1u);
	rf_close(&F);
	expect_new_connection_works();
}

struct drainer {
	int fd;
	atomic_bool stop;
};

/*
 * Read the kick eventfd until told to stop. Stopped by the flag and one more
 * write, not by pthread_cancel: a thread cancelled inside read() leaves its
 * frames' stack poisoned for ASan, which then reports the thread's exit.
 */
static void *drain_kicks(void *arg)
{
	struct drainer *d = arg;
	eventfd_t v;

	while (!atomic_load(&d->stop))
		(void)eventfd_read(d->fd, &v);
	return NULL;
}

/*
 * The front end makes its kick eventfd blocking and drains it as fast as it
 * writes it: after epoll said readable, the daemon's read finds nothing.
 * It must not block there. (A stress, not a proof: the window between the
 * daemon's epoll_wait and its read is narrow, and vblkd before the fix
 * passed it too on the runs tried; the fix is a poll() before the read.)
 */
static void ctl_kick_drained_by_front_end(void)
{
	struct vhost_vring_state s = {0, 0};
	struct drainer d;
	pthread_t t;

	rf_open(&F, 2, 0);
	CHECK_EQ(fcntl(F.q[0].kick, F_SETFL, fcntl(F.q[0].kick, F_GETFL) & ~O_NONBLOCK), 0);
	d.fd = F.q[0].kick;
	atomic_init(&d.stop, false);
	CHECK_EQ(pthread_create(&t, NULL, drain_kicks, &d), 0);
	for (unsigned i = 0; i < 20000; i++) {
		CHECK_EQ(eventfd_write(F.q[0].kick, 1), 0);
		if (i % 64 == 0)
			sched_yield();
	}
	usleep(100 * 1000);
	/*
	 * No more kicks: a queue thread stuck in read() would stay there, and
	 * GET_VRING_BASE (which stops it) would never answer.
	 */
	rf_send(&F, VHOST_USER_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
	CHECK_EQ(rf_recv(&F, VHOST_USER_GET_VRING_BASE, &s, sizeof(s)), (int)sizeof(s));
	/* The queue is stopped: this write is for the drainer's read alone. */
	atomic_store(&d.stop, true);
	CHECK_EQ(eventfd_write(F.q[0].kick, 1), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	/* The other queue still serves. */
	rf_rw_check(&F, 1, 24, 2);
	rf_close(&F);
	expect_new_connection_works();
}

/* ------------------------------------------------------------------------ */
/* Memory that shrinks after it was mapped                                  */

/*
 * Expect the daemon to notice a shrunk mapping: queue 1's error eventfd
 * is signalled and the connection dropped; the daemon lives on.
 */
static void expect_fault_drop(void)
{
	eventfd_t v;

	if (!rf_wait_readable(F.q[1].err, RF_TIMEOUT_MS)) {
		fprintf(stderr, "queue 1: error eventfd not signalled\n");
		exit(1);
	}
	CHECK_EQ(eventfd_read(F.q[1].err, &v), 0);
	/* rf_close would unmap F.mem; nothing of it may be touched past the new size. */
	expect_drop(&F);
}

/* A request on queue 1 whose header lies at RF_HDR(1), published without touching it. */
static void publish_q1_request(void)
{
	rf_desc(&F.q[1], 0, RF_HDR(1), 16, VIRTQ_DESC_F_NEXT, 1);
	rf_desc(&F.q[1], 1, RF_STATUS(0) + 8, 1, VIRTQ_DESC_F_WRITE, 0);
	rf_avail(&F.q[1], 0);
	rf_kick(&F.q[1]);
}

/*
 * Guest memory (an unsealed memfd) truncated under the daemon: queue 1's
 * request header now lies past the end of the file. Touching it used to
 * kill vblkd with SIGBUS.
 */
static void ctl_mem_truncated(void)
{
	rf_open(&F, 2, 0);
	rf_rw_check(&F, 1, 8, 3);
	/* Rings and queue 0's buffers stay; queue 1's buffers (RF_BUF(1) on) are gone. */
	CHECK_EQ(ftruncate(F.memfd, RF_BUF(1) - 0x80000), 0);
	publish_q1_request();
	expect_fault_drop();
}

/* The inflight region (an unsealed memfd of ours) truncated to nothing under the daemon. */
static void ctl_inflight_truncated(void)
{
	struct vhost_user_inflight in;
	int fd;

	rf_negotiate(&F, 0);
	memset(&in, 0, sizeof(in));
	in.num_queues = 2;
	in.queue_size = RF_QNUM;
	rf_send(&F, VHOST_USER_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0);
	CHECK_EQ(rf_recv(&F, VHOST_USER_GET_INFLIGHT_FD, &in, sizeof(in)), (int)sizeof(in));
	CHECK(in.mmap_size > 0);
	/* The daemon's own region is sealed; give it an unsealed one of the same size. */
	fd = memfd_create("conf-inflight", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)in.mmap_size), 0);
	in.mmap_offset = 0;
	rf_set_ok(&F, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1);
	rf_start_queue(&F, 0);
	rf_start_queue(&F, 1);
	F.nq = 2;
	rf_rw_check(&F, 1, 8, 4);
	CHECK_EQ(ftruncate(fd, 0), 0);
	rf_hdr(&F, 1, VIRTIO_BLK_T_FLUSH, 0);
	publish_q1_request();
	expect_fault_drop();
	close(fd);
}

/* ------------------------------------------------------------------------ */
/* Time                                                                     */

/*
 * A front end that sends one byte of a header every 300 ms: the daemon
 * drops it within its per-message deadline (5 s) plus slack, whatever the
 * pace, and serves the next client.
 */
static void ctl_trickle_dropped(void)
{
	struct vhost_user_header h = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 8};
	long long t0, dt;
	unsigned sent = 0;
	char buf[16];

	F.sock = rf_connect_raw();
	t0 = mono_ms();
	for (;;) {
		ssize_t n;

		if (sent < sizeof(h) && rf_send_bytes(F.sock, (char *)&h + sent, 1, NULL, 0) == 0)
			sent++;
		/* After the header, the 8 payload bytes that never come. */
		usleep(300 * 1000);
		n = recv(F.sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		CHECK(mono_ms() - t0 < 20000);
	}
	dt = mono_ms() - t0;
	fprintf(stderr, "trickling front end dropped after %lld ms\n", dt);
	CHECK(dt >= 3000);
	close(F.sock);
	expect_new_connection_works();
}

/*
 * SIGTERM while a front end is in the middle of a message: vblkd exits
 * (status 0) promptly instead of waiting for the rest. Runs its own daemon.
 */
static void ctl_sigterm_mid_message(void)
{
	struct vhost_user_header h = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 8};
	char tmpl[] = "/tmp/vblk-conf-term.XXXXXX", why[256] = "";
	struct daemon d = {.tag = "-term", .opts = ""};
	const char *saved = rf_sock_path;
	long long t0, dt;
	bool ok;

	CHECK(mkdtemp(tmpl) != NULL);
	snprintf(d.dir, sizeof(d.dir), "%s", tmpl);
	CHECK(daemon_start(&d));
	rf_sock_path = d.sock;
	F.sock = rf_connect_raw();
	CHECK_EQ(rf_send_bytes(F.sock, &h, sizeof(h) - 2, NULL, 0), 0);
	usleep(200 * 1000);
	t0 = mono_ms();
	ok = daemon_stop(&d, why, sizeof(why));
	dt = mono_ms() - t0;
	fprintf(stderr, "vblkd exited %lld ms after SIGTERM (%s)\n", dt, ok ? "status 0" : why);
	rf_sock_path = saved;
	close(F.sock);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
		CHECK_EQ(system(cmd), 0);
	}
	CHECK(ok);
	/* Far below the 5 s message deadline: the stop fd is watched mid-message. */
	CHECK(dt < 3000);
}

/*
 * A front end that closes and reconnects at once (before the daemon read
 * its EOF) is served, not refused as a second client. Many times, since the
 * race is the point.
 */
static void ctl_reconnect_at_once(void)
{
	for (unsigned i = 0; i < 50; i++) {
		uint64_t v = 0;

		struct vhost_vring_state st = {0, 0};

		rf_open(&F, 1, 0);
		/* Hang up with a request still to be answered: the daemon is busy. */
		rf_send(&F, VHOST_USER_GET_VRING_BASE, 0, &st, sizeof(st), NULL, 0);
		close(F.sock);
		munmap(F.mem, RF_MEM_SIZE);
		close(F.memfd);
		F.sock = rf_connect_raw();
		rf_send(&F, VHOST_USER_GET_FEATURES, 0, NULL, 0, NULL, 0);
		CHECK_EQ(rf_recv(&F, VHOST_USER_GET_FEATURES, &v, sizeof(v)), (int)sizeof(v));
		CHECK(v != 0);
		close(F.sock);
	}
	expect_new_connection_works();
}

/*
 * The used ring laid over the avail ring, with avail->idx (= used->idx) at 1
 * when the ring starts: the device takes its used index from the ring, so
 * every completion it pushes makes another chain available, and each such
 * request completes at once. The ring never runs dry, yet the queue must
 * still stop when asked (GET_VRING_BASE answers) and the daemon serve the
 * next client. Found by the vhost_user fuzzer (seed
 * corpus/vhost_user/used-ring-over-avail-ring).
 */
static void ctl_used_ring_over_avail_ring(void)
{
	struct vhost_vring_state st = {0, 0};
	struct vhost_vring_addr a;

	rf_open(&F, 1, 0);
	/*
	 * Every descriptor is a bare status byte, which the
	 * engine answers at once (IOERR: no header), so each completion is
	 * pushed while the device is still popping.
	 */
	memset(rf_ptr(&F, RF_RING(0) + 0x1000), 0, 0x1000);
	/* Used elements land on avail entries too (ids and lengths): any head is one. */
	for (unsigned i = 0; i < RF_QNUM; i++)
		rf_desc(&F.q[0], i, RF_STATUS(0), 1, VIRTQ_DESC_F_WRITE, 0);
	F.q[0].avail->idx = 1; /* published, not kicked */
	memset(&a, 0, sizeof(a));
	a.desc_user_addr = (uint64_t)(uintptr_t)rf_ptr(&F, RF_RING(0));
	a.avail_user_addr = (uint64_t)(uintptr_t)rf_ptr(&F, RF_RING(0) + 0x1000);
	a.used_user_addr = a.avail_user_addr;
	/* Restarts the ring, which looks at it once. */
	rf_set_ok(&F, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	usleep(300 * 1000);
	rf_send(&F, VHOST_USER_GET_VRING_BASE, 0, &st, sizeof(st), NULL, 0);
	CHECK_EQ(rf_recv(&F, VHOST_USER_GET_VRING_BASE, &st, sizeof(st)), (int)sizeof(st));
	fprintf(stderr, "the queue stopped at avail index %u\n", st.num);
	rf_close(&F);
	expect_new_connection_works();
}

#define CC(n, f)                                                                                   \
	{                                                                                          \
		"control", n, f, false                                                             \
	}
static const struct conf_case cases[] = {
    CC("config-size-257-first-message", ctl_config_size_257),
    CC("config-size-260-first-message", ctl_config_size_260),
    CC("config-size-4G-first-message", ctl_config_size_huge),
    CC("config-payload-272-bytes", ctl_config_payload_272),
    CC("config-size-256-past-config-space", ctl_config_size_256_past_space),
    CC("set-config-size-over-max", ctl_set_config_size_over_max),
    CC("get-config-reply-size", ctl_get_config_reply_size),
    CC("kick-fd-pipe-at-eof", ctl_kick_fd_pipe),
    CC("kick-fd-socket", ctl_kick_fd_socket),
    CC("call-fd-pipe", ctl_call_fd_pipe),
    CC("err-fd-dev-null", ctl_err_fd_dev_null),
    CC("call-eventfd-full", ctl_call_eventfd_full),
    CC("kick-eventfd-drained-by-front-end", ctl_kick_drained_by_front_end),
    CC("memory-truncated-after-mapping", ctl_mem_truncated),
    CC("inflight-truncated-after-mapping", ctl_inflight_truncated),
    CC("trickling-message-dropped", ctl_trickle_dropped),
    CC("sigterm-mid-message", ctl_sigterm_mid_message),
    CC("reconnect-at-once", ctl_reconnect_at_once),
    CC("used-ring-over-avail-ring", ctl_used_ring_over_avail_ring),
};

const struct conf_table conf_control_cases = {cases, sizeof(cases) / sizeof(cases[0])};
