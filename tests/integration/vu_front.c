/* SPDX-License-Identifier: MIT */
/*
 * vu_front: QEMU's part against a vhost-user-blk back end (vblkd or
 * qemu-storage-daemon), one behaviour per mode, on the shared test front end
 * (tests/lib/raw_front: negotiation, a memfd as "guest memory", split rings
 * laid out by hand, virtio 1.3 §2.7). It is independent of lib/virtq and
 * lib/client on purpose, so it checks them from the outside.
 *
 * Usage: vu_front MODE SOCKET [IMAGE [SERIAL]]
 *   io      GET_CONFIG, write/read-back (checked against IMAGE), flush, GET_ID
 *   broken  a descriptor loop on queue 0 signals its err eventfd; queue 1 still works
 *   badmsg  a wrong-size message and a bad vring index each drop the client;
 *           the next client gets served
 *   second  a second concurrent client is refused, the first keeps working
 *   reconf  new memory table, new call fd, GET/SET_VRING_BASE on a running queue
 *   sigterm five 128 KiB writes in flight, then SIGTERM to the back end (pid in
 *           $VU_FRONT_DAEMON_PID): every request it took completes with OK and
 *           its data is in IMAGE, the others stay untouched, then it hangs up
 * Exit: 0 pass, 1 fail, 77 skip.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "raw_front.h"
#include "test.h"

/*
 * What QEMU's vhost-user-blk asks for here. No EVENT_IDX: every completion
 * interrupts, which keeps waiting simple.
 */
#define VU_FRONT_FEATURES                                                                          \
	(VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |                      \
	 VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_MQ))

/* Negotiate and start nq queues the way QEMU's vhost-user-blk does. */
static void front_open(struct rf *f, unsigned nq)
{
	rf_open(f, nq, VU_FRONT_FEATURES);
	CHECK(f->pfeatures & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG));
}

static void set_vring_fd(struct rf *f, uint32_t req, unsigned qi, int fd)
{
	uint64_t v = qi;

	rf_set_ok(f, req, &v, sizeof(v), &fd, 1);
}

/* True if the peer closes the connection within the timeout, before sending anything. */
static bool wait_eof(int fd)
{
	char c;

	if (!rf_wait_readable(fd, RF_TIMEOUT_MS))
		return false;
	return recv(fd, &c, 1, 0) <= 0;
}

static uint64_t get_capacity(struct rf *f)
{
	struct vhost_user_config c;
	uint64_t cap;
	/* 36 bytes: capacity through num_queues, inside every version's config. */
	const uint32_t size = 36;

	memset(&c, 0, sizeof(c));
	c.offset = 0;
	c.size = size;
	rf_send(f, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0);
	CHECK_EQ(rf_recv(f, VHOST_USER_GET_CONFIG, &c, sizeof(c)),
		 VHOST_USER_CONFIG_HDR_SIZE + size);
	CHECK_EQ(c.offset, 0);
	CHECK_EQ(c.size, size);
	memcpy(&cap, c.region, sizeof(cap));
	return vblk_le64_to_cpu(cap);
}

/*
 * Write a pattern at sector 8 on queue qi and read it back (rf_rw_check:
 * used.len is 1 for the write, data + 1 for the read, docs/spec-notes.md
 * "Request layout"), then compare the image file with what was read.
 */
static void rw_check(struct rf *f, unsigned qi, const char *image, uint8_t seed)
{
	enum { LEN = 8192 };
	static uint8_t rbuf[LEN];

	rf_rw_check(f, qi, 8, seed);
	if (image && *image) {
		int fd = open(image, O_RDONLY | O_CLOEXEC);

		CHECK(fd >= 0);
		memset(rbuf, 0, sizeof(rbuf));
		CHECK_EQ(pread(fd, rbuf, sizeof(rbuf), 8 * 512), (long long)sizeof(rbuf));
		CHECK(memcmp(rf_ptr(f, RF_DATA(qi)), rbuf, sizeof(rbuf)) == 0);
		close(fd);
	}
}

static void mode_io(const char *image, const char *serial)
{
	struct rf f;
	uint8_t id[VIRTIO_BLK_ID_BYTES];
	char want[VIRTIO_BLK_ID_BYTES];
	uint8_t sector[512];
	uint32_t ulen;
	uint64_t cap;

	front_open(&f, 1);
	cap = get_capacity(&f);
	CHECK(cap >= 16 + 16);
	if (image && *image) {
		int fd = open(image, O_RDONLY | O_CLOEXEC);
		off_t sz;

		CHECK(fd >= 0);
		sz = lseek(fd, 0, SEEK_END);
		close(fd);
		CHECK_EQ(cap, (uint64_t)sz / 512);
	}
	rw_check(&f, 0, image, 1);
	/* Past the end: an I/O error status, and the queue keeps working. */
	CHECK_EQ(rf_io(&f, 0, VIRTIO_BLK_T_IN, cap, sector, sizeof(sector), true, NULL),
		 VIRTIO_BLK_S_IOERR);
	if (f.features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)) {
		CHECK_EQ(rf_io(&f, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, &ulen),
			 VIRTIO_BLK_S_OK);
		CHECK_EQ(ulen, 1);
	}
	memset(id, 0xaa, sizeof(id));
	CHECK_EQ(rf_io(&f, 0, VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id), true, &ulen),
		 VIRTIO_BLK_S_OK);
	/* virtio 1.3 §5.2.6: NUL-padded, no terminator when 20 bytes long. */
	memset(want, 0, sizeof(want));
	memcpy(want, serial, strnlen(serial, sizeof(want)));
	/*
	 * QEMU's vhost-user-blk-server writes the string and one NUL without
	 * padding the rest; run.sh sets VU_FRONT_LAX_ID for it.
	 */
	if (getenv("VU_FRONT_LAX_ID") && strlen(serial) < sizeof(want))
		memset(id + strlen(serial) + 1, 0, sizeof(id) - strlen(serial) - 1);
	if (memcmp(id, want, sizeof(want))) {
		fprintf(stderr, "GET_ID: got '%.20s', want '%.20s'\n", (char *)id, want);
		exit(1);
	}
	rw_check(&f, 0, image, 2);
	rf_close(&f);
}

static void mode_broken(void)
{
	struct rf f;
	struct rf_queue *q;
	eventfd_t v;

	front_open(&f, 2);
	q = &f.q[0];
	/* Two descriptors that chain to each other: §2.7.5.3.1 forbids loops. */
	for (unsigned i = 0; i < 2; i++)
		rf_desc(q, i, RF_DATA(0), 512, VIRTQ_DESC_F_NEXT, (uint16_t)(1 - i));
	rf_avail(q, 0);
	rf_kick(q);
	if (!rf_wait_readable(q->err, RF_TIMEOUT_MS)) {
		fprintf(stderr, "queue 0: no error eventfd signal after a descriptor loop\n");
		exit(1);
	}
	CHECK_EQ(eventfd_read(q->err, &v), 0);
	CHECK_EQ(vblk_le16_to_cpu(q->used->idx), 0);
	/* The other queue is unaffected. */
	rw_check(&f, 1, NULL, 3);
	CHECK(!rf_wait_readable(f.q[1].err, 0));
	/* The broken queue stays stopped: nothing more is taken from it. */
	rf_avail(q, 0);
	rf_kick(q);
	usleep(200 * 1000);
	CHECK_EQ(vblk_le16_to_cpu(q->used->idx), 0);
	rf_close(&f);
}

/* Send one message on a fresh connection and expect the daemon to drop it. */
static void expect_dropped(struct rf *f, uint32_t req, const void *payload, uint32_t size,
			   const char *what)
{
	rf_send(f, req, 0, payload, size, NULL, 0);
	if (!wait_eof(f->sock)) {
		fprintf(stderr, "%s did not drop the client\n", what);
		exit(1);
	}
	close(f->sock);
}

static void mode_badmsg(const char *image, const char *serial)
{
	struct rf f;
	uint64_t features;
	uint32_t idx = 0;
	struct vhost_vring_state s = {200, RF_QNUM};

	memset(&f, 0, sizeof(f));
	/* SET_VRING_NUM with a 4-byte payload instead of 8. */
	f.sock = rf_connect_raw();
	expect_dropped(&f, VHOST_USER_SET_VRING_NUM, &idx, sizeof(idx), "a wrong-size message");
	/* A vring index past the number of queues. */
	f.sock = rf_connect(&features);
	CHECK(features != 0);
	expect_dropped(&f, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), "an out-of-range vring index");
	/* An unknown request. */
	f.sock = rf_connect_raw();
	expect_dropped(&f, 9999, NULL, 0, "an unknown request");

	/* The daemon serves the next client normally. */
	mode_io(image, serial);
}

static void mode_second(const char *image, const char *serial)
{
	struct rf a;
	uint64_t features;
	int b;

	memset(&a, 0, sizeof(a));
	a.sock = rf_connect(&features);
	CHECK(features != 0);
	b = rf_connect_raw();
	if (!wait_eof(b)) {
		fprintf(stderr, "a second concurrent client was not refused\n");
		exit(1);
	}
	close(b);
	CHECK(rf_get_u64(&a, VHOST_USER_GET_FEATURES) != 0);
	close(a.sock);
	/* Once the first one left, a new client is served. */
	mode_io(image, serial);
}

static void send_mem_table_2(struct rf *f)
{
	struct vhost_user_memory m;
	int fds[2] = {f->memfd, f->memfd};
	const uint64_t half = RF_MEM_SIZE / 2;

	memset(&m, 0, sizeof(m));
	m.nregions = 2;
	for (unsigned i = 0; i < 2; i++) {
		m.regions[i].guest_phys_addr = i * half;
		m.regions[i].memory_size = half;
		m.regions[i].userspace_addr = (uint64_t)(uintptr_t)f->mem + i * half;
		m.regions[i].mmap_offset = i * half;
	}
	rf_set_ok(f, VHOST_USER_SET_MEM_TABLE, &m,
		  offsetof(struct vhost_user_memory, regions) + 2 * sizeof(m.regions[0]), fds, 2);
}

/*
 * Reconfiguration of a running queue, the way QEMU does it: a new memory
 * table (memory hotplug), a new call fd (interrupt masking), and
 * GET_VRING_BASE / SET_VRING_BASE / SET_VRING_KICK (device stop and start).
 */
static void mode_reconf(const char *image)
{
	static uint8_t rbuf[4096];
	struct vhost_vring_state s;
	struct vhost_vring_addr a;
	struct rf f;
	struct rf_queue *q;

	front_open(&f, 1);
	q = &f.q[0];
	rw_check(&f, 0, image, 4);

	send_mem_table_2(&f);
	rw_check(&f, 0, image, 5);

	/*
	 * A back end signals the call fd after it published the used element
	 * we just saw. Let that interrupt arrive before the fd is replaced:
	 * libvhost-user (qemu-storage-daemon 7.2) closes the old fd in its
	 * control thread while its queue thread may still be about to write
	 * it, and then panics ("Error writing eventfd: Bad file descriptor").
	 * QEMU masks interrupts the same way, after the guest saw them.
	 */
	if (rf_wait_readable(q->call, 1000)) {
		eventfd_t v;

		(void)eventfd_read(q->call, &v);
	}
	close(q->call);
	q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(q->call >= 0);
	set_vring_fd(&f, VHOST_USER_SET_VRING_CALL, 0, q->call);
	rw_check(&f, 0, image, 6);

	/* vhost-user.rst: GET_VRING_BASE stops the ring and returns the next avail index. */
	s.index = 0;
	s.num = 0;
	rf_send(&f, VHOST_USER_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
	CHECK_EQ(rf_recv(&f, VHOST_USER_GET_VRING_BASE, &s, sizeof(s)), sizeof(s));
	CHECK_EQ(s.index, 0);
	CHECK_EQ(s.num, q->avail_idx);
	/* A stopped ring takes nothing, kick or no kick. */
	rf_post(&f, 0, VIRTIO_BLK_T_IN, 8, NULL, sizeof(rbuf), true);
	usleep(200 * 1000);
	CHECK_EQ(vblk_le16_to_cpu(q->used->idx), q->used_seen);

	/* Start again where it stopped; the pending request is served then. */
	rf_set_state(&f, VHOST_USER_SET_VRING_NUM, 0, RF_QNUM);
	rf_set_state(&f, VHOST_USER_SET_VRING_BASE, 0, s.num);
	memset(&a, 0, sizeof(a));
	a.desc_user_addr = (uint64_t)(uintptr_t)q->desc;
	a.avail_user_addr = (uint64_t)(uintptr_t)q->avail;
	a.used_user_addr = (uint64_t)(uintptr_t)q->used;
	rf_set_ok(&f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	set_vring_fd(&f, VHOST_USER_SET_VRING_KICK, 0, q->kick);
	/* Like QEMU: a restarted ring gets its call fd again (libvhost-user drops it). */
	set_vring_fd(&f, VHOST_USER_SET_VRING_CALL, 0, q->call);
	rf_kick(q);
	CHECK_EQ(rf_finish(&f, 0, rbuf, sizeof(rbuf), true, NULL), VIRTIO_BLK_S_OK);
	rw_check(&f, 0, image, 7);
	rf_close(&f);
}

/*
 * SIGTERM with requests in flight. The back end finishes what it popped and
 * takes nothing new, so each request ends up either completed (status OK,
 * used.len 1, data in the image) or untouched (status still 0xff): never
 * lost half way, never failed. Then the connection ends; it must not hang.
 * Request r: header at RF_BUF + r * 64, status byte at RF_BUF + 1024 + r,
 * data at RF_BUF + 64 KiB + r * LEN, descriptors 3r..3r+2.
 */
static void mode_sigterm(const char *image)
{
	enum { NREQ = 5, LEN = 128 * 1024 };
	const char *pid_s = getenv("VU_FRONT_DAEMON_PID");
	const uint64_t hdr = RF_BUF(0), status = RF_BUF(0) + 1024, data = RF_BUF(0) + 64 * 1024;
	uint8_t *rbuf;
	struct rf f;
	struct rf_queue *q;
	bool done[NREQ] = {false};
	unsigned completed = 0;
	char c;
	int fd;

	if (!pid_s || !image || !*image)
		SKIP("sigterm needs VU_FRONT_DAEMON_PID and IMAGE");
	front_open(&f, 1);
	q = &f.q[0];
	for (unsigned r = 0; r < NREQ; r++) {
		struct virtio_blk_outhdr *h = rf_ptr(&f, hdr + r * 64);
		uint8_t *d = rf_ptr(&f, data + (uint64_t)r * LEN);
		unsigned head = r * 3;

		h->type = vblk_cpu_to_le32(VIRTIO_BLK_T_OUT);
		h->ioprio = 0;
		/* Request r covers sectors [r * 256, r * 256 + 256). */
		h->sector = vblk_cpu_to_le64((uint64_t)r * (LEN / 512));
		for (unsigned i = 0; i < LEN; i++)
			d[i] = (uint8_t)(i * 13 + r + 1);
		*(uint8_t *)rf_ptr(&f, status + r) = 0xff;
		rf_desc(q, head, hdr + r * 64, sizeof(*h), VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1));
		rf_desc(q, head + 1, data + (uint64_t)r * LEN, LEN, VIRTQ_DESC_F_NEXT,
			(uint16_t)(head + 2));
		rf_desc(q, head + 2, status + r, 1, VIRTQ_DESC_F_WRITE, 0);
		rf_avail(q, (uint16_t)head);
	}
	rf_kick(q);
	/* Writethrough 128 KiB writes take a while: some are in flight now. */
	CHECK_EQ(kill((pid_t)atoi(pid_s), SIGTERM), 0);

	/* The back end drains, flushes and hangs up: wait for the end of the stream. */
	if (!rf_wait_readable(f.sock, 10000) || read(f.sock, &c, 1) != 0) {
		fprintf(stderr, "sigterm: the back end did not hang up within 10 s\n");
		exit(1);
	}
	while (vblk_le16_to_cpu(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE)) != q->used_seen) {
		uint32_t id, len;

		CHECK(rf_wait_used(q, RF_TIMEOUT_MS, &id, &len));
		CHECK(id % 3 == 0 && id / 3 < NREQ && !done[id / 3]);
		done[id / 3] = true;
		CHECK_EQ(len, 1);
		CHECK_EQ(*(uint8_t *)rf_ptr(&f, status + id / 3), VIRTIO_BLK_S_OK);
		completed++;
	}
	fd = open(image, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	rbuf = malloc(LEN);
	CHECK(rbuf != NULL);
	for (unsigned r = 0; r < NREQ; r++) {
		if (!done[r]) {
			/* Not taken: the back end never touched it. */
			CHECK_EQ(*(uint8_t *)rf_ptr(&f, status + r), 0xff);
			continue;
		}
		CHECK_EQ(pread(fd, rbuf, LEN, (off_t)r * LEN), LEN);
		CHECK(memcmp(rbuf, rf_ptr(&f, data + (uint64_t)r * LEN), LEN) == 0);
	}
	free(rbuf);
	close(fd);
	printf("sigterm: %u of %u requests completed before the hang-up\n", completed, NREQ);
	rf_close(&f);
}

int main(int argc, char **argv)
{
	const char *mode, *image, *serial;

	if (argc < 3) {
		fprintf(stderr,
			"usage: vu_front io|broken|badmsg|second SOCKET [IMAGE [SERIAL]]\n");
		return 1;
	}
	mode = argv[1];
	rf_sock_path = argv[2];
	image = argc > 3 ? argv[3] : "";
	serial = argc > 4 ? argv[4] : "";
	if (!strcmp(mode, "io"))
		mode_io(image, serial);
	else if (!strcmp(mode, "broken"))
		mode_broken();
	else if (!strcmp(mode, "badmsg"))
		mode_badmsg(image, serial);
	else if (!strcmp(mode, "reconf"))
		mode_reconf(image);
	else if (!strcmp(mode, "second"))
		mode_second(image, serial);
	else if (!strcmp(mode, "sigterm"))
		mode_sigterm(image);
	else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 1;
	}
	return 0;
}
