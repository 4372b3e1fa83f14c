/* SPDX-License-Identifier: MIT */
/*
 * vu_front: a deliberately tiny, test-only vhost-user front end. It plays
 * QEMU's part against a vhost-user-blk back end (vblkd or
 * qemu-storage-daemon): negotiates features, shares a memfd as "guest
 * memory", lays out split rings by hand (virtio 1.3 §2.7), writes raw
 * descriptors, kicks and waits on the call eventfd. It is independent of
 * lib/virtq and lib/client on purpose, so it checks them from the outside.
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
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vblk/spec/vhost_user.h>
#include <vblk/spec/virtio_blk.h>
#include <vblk/spec/virtio_ring.h>

#include "test.h"
#include "vhost_user/vu_msg.h"

#define MEM_SIZE     (4u << 20)
#define QNUM	     16
#define MAXQ	     2
#define RING_AREA(q) ((uint64_t)(q)*0x10000) /* per queue: desc +0, avail +4K, used +8K */
#define BUF_AREA(q)  (0x100000 + (uint64_t)(q)*0x100000)
#define TIMEOUT_MS   5000

struct fq {
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t avail_idx;
	uint16_t used_seen;
	int kick, call, err;
};

struct front {
	int sock;
	int memfd;
	uint8_t *mem;
	uint64_t features;
	uint64_t pfeatures;
	unsigned nq;
	struct fq q[MAXQ];
};

static const char *sock_path;

static int connect_sock(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "connect %s: %s\n", sock_path, strerror(errno));
		exit(1);
	}
	return fd;
}

static void send_msg(struct front *f, uint32_t req, uint32_t flags, const void *payload,
		     uint32_t size, const int *fds, unsigned nfds)
{
	struct vhost_user_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHOST_USER_VERSION | flags;
	m.hdr.size = size;
	if (size)
		memcpy(&m.payload, payload, size);
	CHECK_EQ(vu_msg_send(f->sock, &m, fds, nfds), 0);
}

static void recv_reply(struct front *f, uint32_t req, void *payload, uint32_t size)
{
	struct vhost_user_msg m;
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds;
	int ret = vu_msg_recv(f->sock, &m, fds, &nfds);

	if (ret) {
		fprintf(stderr, "reply to %s: %s\n", vu_msg_name(req), strerror(-ret));
		exit(1);
	}
	vu_msg_close_fds(fds, nfds);
	CHECK_EQ(m.hdr.request, req);
	CHECK(m.hdr.flags & VHOST_USER_REPLY_MASK);
	CHECK_EQ(m.hdr.size, size);
	memcpy(payload, &m.payload, size);
}

static uint64_t get_u64(struct front *f, uint32_t req)
{
	uint64_t v;

	send_msg(f, req, 0, NULL, 0, NULL, 0);
	recv_reply(f, req, &v, sizeof(v));
	return v;
}

/* A message without a reply of its own; with REPLY_ACK we wait for the ack. */
static void set_msg(struct front *f, uint32_t req, const void *payload, uint32_t size,
		    const int *fds, unsigned nfds)
{
	bool ack = f->pfeatures & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK);

	send_msg(f, req, ack ? VHOST_USER_NEED_REPLY_MASK : 0, payload, size, fds, nfds);
	if (ack) {
		uint64_t v;

		recv_reply(f, req, &v, sizeof(v));
		if (v) {
			fprintf(stderr, "%s: back end refused (%llu)\n", vu_msg_name(req),
				(unsigned long long)v);
			exit(1);
		}
	}
}

static void set_u64(struct front *f, uint32_t req, uint64_t v)
{
	set_msg(f, req, &v, sizeof(v), NULL, 0);
}

static void set_state(struct front *f, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_vring_state s = {index, num};

	set_msg(f, req, &s, sizeof(s), NULL, 0);
}

static void set_vring_fd(struct front *f, uint32_t req, unsigned qi, int fd)
{
	uint64_t v = qi;

	set_msg(f, req, &v, sizeof(v), &fd, 1);
}

static uint64_t gpa_of(struct front *f, const void *p)
{
	return (uint64_t)((const uint8_t *)p - f->mem);
}

/* Negotiate and start nq queues the way QEMU's vhost-user-blk does. */
static void front_open(struct front *f, unsigned want_q, bool want_err)
{
	uint64_t offered, pf, want;
	struct vhost_user_memory m;

	memset(f, 0, sizeof(*f));
	f->sock = connect_sock();
	offered = get_u64(f, VHOST_USER_GET_FEATURES);
	CHECK(offered & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	CHECK(offered & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	send_msg(f, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
	pf = get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);
	CHECK(pf & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG));
	pf &= VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
	      VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG);
	set_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, pf);
	f->pfeatures = pf;
	f->nq = 1;
	if (pf & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ))
		f->nq = (unsigned)get_u64(f, VHOST_USER_GET_QUEUE_NUM);
	if (f->nq < want_q)
		SKIP("back end has %u queues, test needs %u", f->nq, want_q);
	f->nq = want_q;

	/* No EVENT_IDX: every completion interrupts, which keeps waiting simple. */
	want = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES) |
	       VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
	       VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	f->features = offered & want;
	set_u64(f, VHOST_USER_SET_FEATURES, f->features);

	f->memfd = memfd_create("vu_front", MFD_CLOEXEC);
	CHECK(f->memfd >= 0);
	CHECK_EQ(ftruncate(f->memfd, MEM_SIZE), 0);
	f->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	CHECK(f->mem != MAP_FAILED);
	memset(&m, 0, sizeof(m));
	m.nregions = 1;
	m.regions[0].guest_phys_addr = 0;
	m.regions[0].memory_size = MEM_SIZE;
	m.regions[0].userspace_addr = (uint64_t)(uintptr_t)f->mem;
	m.regions[0].mmap_offset = 0;
	set_msg(f, VHOST_USER_SET_MEM_TABLE, &m,
		offsetof(struct vhost_user_memory, regions) + sizeof(m.regions[0]), &f->memfd, 1);

	for (unsigned i = 0; i < f->nq; i++) {
		struct fq *q = &f->q[i];
		uint8_t *base = f->mem + RING_AREA(i);
		struct vhost_vring_addr a;

		q->desc = (struct virtq_desc *)(void *)base;
		q->avail = (struct virtq_avail *)(void *)(base + 4096);
		q->used = (struct virtq_used *)(void *)(base + 8192);
		q->kick = eventfd(0, EFD_CLOEXEC);
		q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->err = want_err ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
		set_state(f, VHOST_USER_SET_VRING_NUM, i, QNUM);
		set_state(f, VHOST_USER_SET_VRING_BASE, i, 0);
		memset(&a, 0, sizeof(a));
		a.index = i;
		a.desc_user_addr = (uint64_t)(uintptr_t)q->desc;
		a.avail_user_addr = (uint64_t)(uintptr_t)q->avail;
		a.used_user_addr = (uint64_t)(uintptr_t)q->used;
		set_msg(f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
		/* QEMU's order: the kick starts the ring, the call fd comes after. */
		set_vring_fd(f, VHOST_USER_SET_VRING_KICK, i, q->kick);
		set_vring_fd(f, VHOST_USER_SET_VRING_CALL, i, q->call);
		if (q->err >= 0)
			set_vring_fd(f, VHOST_USER_SET_VRING_ERR, i, q->err);
		set_state(f, VHOST_USER_SET_VRING_ENABLE, i, 1);
	}
}

static void front_close(struct front *f)
{
	close(f->sock);
	for (unsigned i = 0; i < f->nq; i++) {
		close(f->q[i].kick);
		close(f->q[i].call);
		if (f->q[i].err >= 0)
			close(f->q[i].err);
	}
	if (f->mem)
		munmap(f->mem, MEM_SIZE);
	close(f->memfd);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Make chain head available and kick (virtio 1.3 §2.7.13). */
static void make_avail(struct fq *q, uint16_t head, bool kick)
{
	q->avail->ring[q->avail_idx % QNUM] = vblk_cpu_to_le16(head);
	/* The ring entry is written before the index that publishes it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	q->avail_idx++;
	__atomic_store_n(&q->avail->idx, vblk_cpu_to_le16(q->avail_idx), __ATOMIC_RELEASE);
	/* The index store is visible before we read the device's flags (here: kick always). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (kick)
		CHECK_EQ(eventfd_write(q->kick, 1), 0);
}

/* Wait for the next used element; returns false on timeout. */
static bool wait_used(struct fq *q, uint32_t *id, uint32_t *len)
{
	long long end = now_ms() + TIMEOUT_MS;

	for (;;) {
		uint16_t idx = vblk_le16_to_cpu(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE));
		struct pollfd p = {.fd = q->call, .events = POLLIN};
		eventfd_t v;
		long long left;

		if (idx != q->used_seen) {
			struct virtq_used_elem *e = &q->used->ring[q->used_seen % QNUM];

			*id = vblk_le32_to_cpu(e->id);
			*len = vblk_le32_to_cpu(e->len);
			q->used_seen++;
			return true;
		}
		left = end - now_ms();
		if (left <= 0)
			return false;
		poll(&p, 1, (int)left);
		eventfd_read(q->call, &v);
	}
}

/*
 * Post one request without waiting: header, optional data buffer
 * (device-writable when dev_writes), status byte; three descriptors from
 * index 0. Only one request per queue is outstanding at a time.
 */
static void post_req(struct front *f, unsigned qi, uint32_t type, uint64_t sector, const void *data,
		     uint32_t len, bool dev_writes, bool kick)
{
	struct fq *q = &f->q[qi];
	uint8_t *area = f->mem + BUF_AREA(qi);
	struct virtio_blk_outhdr *h = (struct virtio_blk_outhdr *)(void *)area;
	uint8_t *buf = area + 4096;
	uint8_t *status = area + 512;
	unsigned d = 0;

	h->type = vblk_cpu_to_le32(type);
	h->ioprio = 0;
	h->sector = vblk_cpu_to_le64(sector);
	*status = 0xff;
	if (len && !dev_writes)
		memcpy(buf, data, len);
	q->desc[d].addr = vblk_cpu_to_le64(gpa_of(f, h));
	q->desc[d].len = vblk_cpu_to_le32(sizeof(*h));
	q->desc[d].flags = vblk_cpu_to_le16(VIRTQ_DESC_F_NEXT);
	q->desc[d].next = vblk_cpu_to_le16(d + 1);
	d++;
	if (len) {
		q->desc[d].addr = vblk_cpu_to_le64(gpa_of(f, buf));
		q->desc[d].len = vblk_cpu_to_le32(len);
		q->desc[d].flags =
		    vblk_cpu_to_le16(VIRTQ_DESC_F_NEXT | (dev_writes ? VIRTQ_DESC_F_WRITE : 0));
		q->desc[d].next = vblk_cpu_to_le16(d + 1);
		d++;
	}
	q->desc[d].addr = vblk_cpu_to_le64(gpa_of(f, status));
	q->desc[d].len = vblk_cpu_to_le32(1);
	q->desc[d].flags = vblk_cpu_to_le16(VIRTQ_DESC_F_WRITE);
	q->desc[d].next = 0;
	make_avail(q, 0, kick);
}

/* Wait for the request post_req made; returns the status, used.len in *used_len. */
static uint8_t finish_req(struct front *f, unsigned qi, void *data, uint32_t len, bool dev_writes,
			  uint32_t *used_len)
{
	struct fq *q = &f->q[qi];
	uint8_t *area = f->mem + BUF_AREA(qi);
	uint32_t id, ulen;

	if (!wait_used(q, &id, &ulen)) {
		fprintf(stderr, "queue %u: request timed out\n", qi);
		exit(1);
	}
	CHECK_EQ(id, 0);
	if (len && dev_writes)
		memcpy(data, area + 4096, len);
	if (used_len)
		*used_len = ulen;
	return area[512];
}

static uint8_t do_req(struct front *f, unsigned qi, uint32_t type, uint64_t sector, void *data,
		      uint32_t len, bool dev_writes, uint32_t *used_len)
{
	post_req(f, qi, type, sector, data, len, dev_writes, true);
	return finish_req(f, qi, data, len, dev_writes, used_len);
}

static uint64_t get_capacity(struct front *f)
{
	struct vhost_user_config c;
	uint64_t cap;
	/* 36 bytes: capacity through num_queues, inside every version's config. */
	const uint32_t size = 36;

	memset(&c, 0, sizeof(c));
	c.offset = 0;
	c.size = size;
	send_msg(f, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0);
	recv_reply(f, VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + size);
	CHECK_EQ(c.offset, 0);
	CHECK_EQ(c.size, size);
	memcpy(&cap, c.region, sizeof(cap));
	return vblk_le64_to_cpu(cap);
}

/* Write a pattern at sector 8 on queue qi, read it back, compare with the image file. */
static void rw_check(struct front *f, unsigned qi, const char *image, uint8_t seed)
{
	static uint8_t wbuf[8192], rbuf[8192];
	uint32_t ulen;

	for (size_t i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (uint8_t)(i * 7 + seed);
	CHECK_EQ(do_req(f, qi, VIRTIO_BLK_T_OUT, 8, wbuf, sizeof(wbuf), false, &ulen),
		 VIRTIO_BLK_S_OK);
	/* docs/spec-notes.md "Request layout": used.len counts device-written bytes, 1 (status) for a write. */
	CHECK_EQ(ulen, 1);
	memset(rbuf, 0, sizeof(rbuf));
	CHECK_EQ(do_req(f, qi, VIRTIO_BLK_T_IN, 8, rbuf, sizeof(rbuf), true, &ulen),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(ulen, sizeof(rbuf) + 1);
	CHECK(memcmp(wbuf, rbuf, sizeof(rbuf)) == 0);
	if (image && *image) {
		int fd = open(image, O_RDONLY | O_CLOEXEC);

		CHECK(fd >= 0);
		memset(rbuf, 0, sizeof(rbuf));
		CHECK_EQ(pread(fd, rbuf, sizeof(rbuf), 8 * 512), (long long)sizeof(rbuf));
		CHECK(memcmp(wbuf, rbuf, sizeof(rbuf)) == 0);
		close(fd);
	}
}

static void mode_io(const char *image, const char *serial)
{
	struct front f;
	uint8_t id[VIRTIO_BLK_ID_BYTES];
	char want[VIRTIO_BLK_ID_BYTES];
	uint8_t sector[512];
	uint32_t ulen;
	uint64_t cap;

	front_open(&f, 1, false);
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
	CHECK_EQ(do_req(&f, 0, VIRTIO_BLK_T_IN, cap, sector, sizeof(sector), true, NULL),
		 VIRTIO_BLK_S_IOERR);
	if (f.features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)) {
		CHECK_EQ(do_req(&f, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, &ulen),
			 VIRTIO_BLK_S_OK);
		CHECK_EQ(ulen, 1);
	}
	memset(id, 0xaa, sizeof(id));
	CHECK_EQ(do_req(&f, 0, VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id), true, &ulen),
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
	front_close(&f);
}

static bool wait_readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

static void mode_broken(void)
{
	struct front f;
	struct fq *q;
	eventfd_t v;

	front_open(&f, 2, true);
	q = &f.q[0];
	/* Two descriptors that chain to each other: §2.7.5.3.1 forbids loops. */
	for (int i = 0; i < 2; i++) {
		q->desc[i].addr = vblk_cpu_to_le64(BUF_AREA(0) + 4096);
		q->desc[i].len = vblk_cpu_to_le32(512);
		q->desc[i].flags = vblk_cpu_to_le16(VIRTQ_DESC_F_NEXT);
		q->desc[i].next = vblk_cpu_to_le16(1 - i);
	}
	make_avail(q, 0, true);
	if (!wait_readable(q->err, TIMEOUT_MS)) {
		fprintf(stderr, "queue 0: no error eventfd signal after a descriptor loop\n");
		exit(1);
	}
	CHECK_EQ(eventfd_read(q->err, &v), 0);
	CHECK_EQ(vblk_le16_to_cpu(q->used->idx), 0);
	/* The other queue is unaffected. */
	rw_check(&f, 1, NULL, 3);
	CHECK(!wait_readable(f.q[1].err, 0));
	/* The broken queue stays stopped: nothing more is taken from it. */
	make_avail(q, 0, true);
	usleep(200 * 1000);
	CHECK_EQ(vblk_le16_to_cpu(q->used->idx), 0);
	front_close(&f);
}

/* True if the peer closes the connection within the timeout. */
static bool wait_eof(int fd)
{
	char c;

	if (!wait_readable(fd, TIMEOUT_MS))
		return false;
	return recv(fd, &c, 1, 0) <= 0;
}

static void mode_badmsg(const char *image, const char *serial)
{
	struct front f;

	/* SET_VRING_NUM with a 4-byte payload instead of 8. */
	memset(&f, 0, sizeof(f));
	f.sock = connect_sock();
	{
		uint32_t idx = 0;

		send_msg(&f, VHOST_USER_SET_VRING_NUM, 0, &idx, sizeof(idx), NULL, 0);
	}
	if (!wait_eof(f.sock)) {
		fprintf(stderr, "a wrong-size message did not drop the client\n");
		exit(1);
	}
	close(f.sock);

	/* A vring index past the number of queues. */
	f.sock = connect_sock();
	CHECK(get_u64(&f, VHOST_USER_GET_FEATURES) != 0);
	{
		struct vhost_vring_state s = {200, QNUM};

		send_msg(&f, VHOST_USER_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
	}
	if (!wait_eof(f.sock)) {
		fprintf(stderr, "an out-of-range vring index did not drop the client\n");
		exit(1);
	}
	close(f.sock);

	/* An unknown request. */
	f.sock = connect_sock();
	send_msg(&f, 9999, 0, NULL, 0, NULL, 0);
	if (!wait_eof(f.sock)) {
		fprintf(stderr, "an unknown request did not drop the client\n");
		exit(1);
	}
	close(f.sock);

	/* The daemon serves the next client normally. */
	mode_io(image, serial);
}

static void mode_second(const char *image, const char *serial)
{
	struct front a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.sock = connect_sock();
	CHECK(get_u64(&a, VHOST_USER_GET_FEATURES) != 0);
	b.sock = connect_sock();
	if (!wait_eof(b.sock)) {
		fprintf(stderr, "a second concurrent client was not refused\n");
		exit(1);
	}
	close(b.sock);
	CHECK(get_u64(&a, VHOST_USER_GET_FEATURES) != 0);
	close(a.sock);
	/* Once the first one left, a new client is served. */
	mode_io(image, serial);
}

static void send_mem_table_2(struct front *f)
{
	struct vhost_user_memory m;
	int fds[2] = {f->memfd, f->memfd};
	const uint64_t half = MEM_SIZE / 2;

	memset(&m, 0, sizeof(m));
	m.nregions = 2;
	for (unsigned i = 0; i < 2; i++) {
		m.regions[i].guest_phys_addr = i * half;
		m.regions[i].memory_size = half;
		m.regions[i].userspace_addr = (uint64_t)(uintptr_t)f->mem + i * half;
		m.regions[i].mmap_offset = i * half;
	}
	set_msg(f, VHOST_USER_SET_MEM_TABLE, &m,
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
	struct front f;
	struct fq *q;

	front_open(&f, 1, false);
	q = &f.q[0];
	rw_check(&f, 0, image, 4);

	send_mem_table_2(&f);
	rw_check(&f, 0, image, 5);

	close(q->call);
	q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	set_vring_fd(&f, VHOST_USER_SET_VRING_CALL, 0, q->call);
	rw_check(&f, 0, image, 6);

	/* vhost-user.rst: GET_VRING_BASE stops the ring and returns the next avail index. */
	s.index = 0;
	s.num = 0;
	send_msg(&f, VHOST_USER_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
	recv_reply(&f, VHOST_USER_GET_VRING_BASE, &s, sizeof(s));
	CHECK_EQ(s.index, 0);
	CHECK_EQ(s.num, q->avail_idx);
	/* A stopped ring takes nothing, kick or no kick. */
	post_req(&f, 0, VIRTIO_BLK_T_IN, 8, NULL, sizeof(rbuf), true, true);
	usleep(200 * 1000);
	CHECK_EQ(vblk_le16_to_cpu(q->used->idx), q->used_seen);

	/* Start again where it stopped; the pending request is served then. */
	set_state(&f, VHOST_USER_SET_VRING_NUM, 0, QNUM);
	set_state(&f, VHOST_USER_SET_VRING_BASE, 0, s.num);
	memset(&a, 0, sizeof(a));
	a.desc_user_addr = (uint64_t)(uintptr_t)q->desc;
	a.avail_user_addr = (uint64_t)(uintptr_t)q->avail;
	a.used_user_addr = (uint64_t)(uintptr_t)q->used;
	set_msg(&f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	set_vring_fd(&f, VHOST_USER_SET_VRING_KICK, 0, q->kick);
	/* Like QEMU: a restarted ring gets its call fd again (libvhost-user drops it). */
	set_vring_fd(&f, VHOST_USER_SET_VRING_CALL, 0, q->call);
	CHECK_EQ(eventfd_write(q->kick, 1), 0);
	CHECK_EQ(finish_req(&f, 0, rbuf, sizeof(rbuf), true, NULL), VIRTIO_BLK_S_OK);
	rw_check(&f, 0, image, 7);
	front_close(&f);
}

/*
 * SIGTERM with requests in flight. The back end finishes what it popped and
 * takes nothing new, so each request ends up either completed (status OK,
 * used.len 1, data in the image) or untouched (status still 0xff): never
 * lost half way, never failed. Then the connection ends; it must not hang.
 */
static void mode_sigterm(const char *image)
{
	enum { NREQ = 5, LEN = 128 * 1024 };
	const char *pid_s = getenv("VU_FRONT_DAEMON_PID");
	uint8_t *area, *rbuf;
	struct front f;
	struct fq *q;
	bool done[NREQ] = {false};
	unsigned completed = 0;
	char c;
	int fd;

	if (!pid_s || !image || !*image)
		SKIP("sigterm needs VU_FRONT_DAEMON_PID and IMAGE");
	front_open(&f, 1, false);
	q = &f.q[0];
	area = f.mem + BUF_AREA(0);
	for (unsigned r = 0; r < NREQ; r++) {
		struct virtio_blk_outhdr *h = (struct virtio_blk_outhdr *)(void *)(area + r * 64);
		uint8_t *data = area + 64 * 1024 + (size_t)r * LEN;
		uint8_t *status = area + 1024 + r;
		unsigned d = r * 3;

		h->type = vblk_cpu_to_le32(VIRTIO_BLK_T_OUT);
		h->ioprio = 0;
		/* Request r covers sectors [r * 256, r * 256 + 256). */
		h->sector = vblk_cpu_to_le64((uint64_t)r * (LEN / 512));
		for (unsigned i = 0; i < LEN; i++)
			data[i] = (uint8_t)(i * 13 + r + 1);
		*status = 0xff;
		q->desc[d].addr = vblk_cpu_to_le64(gpa_of(&f, h));
		q->desc[d].len = vblk_cpu_to_le32(sizeof(*h));
		q->desc[d].flags = vblk_cpu_to_le16(VIRTQ_DESC_F_NEXT);
		q->desc[d].next = vblk_cpu_to_le16(d + 1);
		q->desc[d + 1].addr = vblk_cpu_to_le64(gpa_of(&f, data));
		q->desc[d + 1].len = vblk_cpu_to_le32(LEN);
		q->desc[d + 1].flags = vblk_cpu_to_le16(VIRTQ_DESC_F_NEXT);
		q->desc[d + 1].next = vblk_cpu_to_le16(d + 2);
		q->desc[d + 2].addr = vblk_cpu_to_le64(gpa_of(&f, status));
		q->desc[d + 2].len = vblk_cpu_to_le32(1);
		q->desc[d + 2].flags = vblk_cpu_to_le16(VIRTQ_DESC_F_WRITE);
		q->desc[d + 2].next = 0;
		make_avail(q, (uint16_t)d, r == NREQ - 1);
	}
	/* Writethrough 128 KiB writes take a while: some are in flight now. */
	CHECK_EQ(kill((pid_t)atoi(pid_s), SIGTERM), 0);

	/* The back end drains, flushes and hangs up: wait for the end of the stream. */
	if (!wait_readable(f.sock, 10000) || read(f.sock, &c, 1) != 0) {
		fprintf(stderr, "sigterm: the back end did not hang up within 10 s\n");
		exit(1);
	}
	while (vblk_le16_to_cpu(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE)) != q->used_seen) {
		uint32_t id, len;

		CHECK(wait_used(q, &id, &len));
		CHECK(id % 3 == 0 && id / 3 < NREQ && !done[id / 3]);
		done[id / 3] = true;
		CHECK_EQ(len, 1);
		CHECK_EQ(area[1024 + id / 3], VIRTIO_BLK_S_OK);
		completed++;
	}
	fd = open(image, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	rbuf = malloc(LEN);
	CHECK(rbuf != NULL);
	for (unsigned r = 0; r < NREQ; r++) {
		if (!done[r]) {
			/* Not taken: the back end never touched it. */
			CHECK_EQ(area[1024 + r], 0xff);
			continue;
		}
		CHECK_EQ(pread(fd, rbuf, LEN, (off_t)r * LEN), LEN);
		CHECK(memcmp(rbuf, area + 64 * 1024 + (size_t)r * LEN, LEN) == 0);
	}
	free(rbuf);
	close(fd);
	printf("sigterm: %u of %u requests completed before the hang-up\n", completed, NREQ);
	front_close(&f);
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
	sock_path = argv[2];
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
