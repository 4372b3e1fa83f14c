/* SPDX-License-Identifier: MIT */
/* raw_front: see raw_front.h. */
#include "raw_front.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rf_send.h"
#include "test.h"
#include "vhost_user/vu_msg.h"

const char *rf_sock_path;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int rf_connect_raw(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", rf_sock_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "connect %s: %s\n", rf_sock_path, strerror(errno));
		exit(1);
	}
	return fd;
}

int rf_connect(uint64_t *features)
{
	long long end = now_ms() + RF_TIMEOUT_MS;

	for (;;) {
		struct rf f = {.sock = rf_connect_raw()};
		struct vhost_user_msg m;
		int fds[VHOST_USER_MAX_FDS];
		unsigned nfds;

		rf_send(&f, VHOST_USER_GET_FEATURES, 0, NULL, 0, NULL, 0);
		if (vu_msg_recv(f.sock, &m, fds, &nfds) == 0) {
			vu_msg_close_fds(fds, nfds);
			CHECK_EQ(m.hdr.request, VHOST_USER_GET_FEATURES);
			CHECK_EQ(m.hdr.size, 8);
			if (features)
				memcpy(features, &m.payload.u64, 8);
			return f.sock;
		}
		/* Refused: the previous front end is still being dropped. */
		close(f.sock);
		if (now_ms() > end) {
			fprintf(stderr, "the daemon refuses every connection\n");
			exit(1);
		}
		usleep(20 * 1000);
	}
}

int rf_send_bytes(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	size_t done = 0;

	CHECK(nfds <= RF_SEND_MAX_FDS);
	while (done < len) {
		int ret = rf_send_part(sock, buf, len, &done, fds, nfds, 0);

		if (ret && ret != -EINTR)
			return ret;
	}
	return 0;
}

void rf_send(struct rf *f, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
	     const int *fds, unsigned nfds)
{
	struct vhost_user_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHOST_USER_VERSION | flags;
	m.hdr.size = size;
	CHECK(size <= sizeof(m.payload));
	if (size)
		memcpy((uint8_t *)&m + sizeof(m.hdr), payload, size);
	CHECK_EQ(vu_msg_send(f->sock, &m, fds, nfds), 0);
}

int rf_recv(struct rf *f, uint32_t req, void *payload, uint32_t max)
{
	struct vhost_user_msg m;
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds;
	int ret;

	if (!rf_wait_readable(f->sock, RF_TIMEOUT_MS)) {
		fprintf(stderr, "no reply to %s\n", vu_msg_name(req));
		exit(1);
	}
	ret = vu_msg_recv(f->sock, &m, fds, &nfds);
	if (ret)
		return ret;
	vu_msg_close_fds(fds, nfds);
	CHECK_EQ(m.hdr.request, req);
	CHECK(m.hdr.flags & VHOST_USER_REPLY_MASK);
	CHECK(m.hdr.size <= max);
	memcpy(payload, (uint8_t *)&m + sizeof(m.hdr), m.hdr.size);
	return (int)m.hdr.size;
}

uint64_t rf_get_u64(struct rf *f, uint32_t req)
{
	uint64_t v;

	rf_send(f, req, 0, NULL, 0, NULL, 0);
	if (rf_recv(f, req, &v, sizeof(v)) != sizeof(v)) {
		fprintf(stderr, "%s: no u64 reply\n", vu_msg_name(req));
		exit(1);
	}
	return v;
}

int64_t rf_set(struct rf *f, uint32_t req, const void *payload, uint32_t size, const int *fds,
	       unsigned nfds)
{
	uint64_t v;
	int n;

	rf_send(f, req, VHOST_USER_NEED_REPLY_MASK, payload, size, fds, nfds);
	n = rf_recv(f, req, &v, sizeof(v));
	if (n < 0)
		return -1;
	CHECK_EQ(n, sizeof(v));
	CHECK((int64_t)v >= 0);
	return (int64_t)v;
}

void rf_set_ok(struct rf *f, uint32_t req, const void *payload, uint32_t size, const int *fds,
	       unsigned nfds)
{
	int64_t v = rf_set(f, req, payload, size, fds, nfds);

	if (v != 0) {
		fprintf(stderr, "%s: %s (%lld)\n", vu_msg_name(req),
			v < 0 ? "the daemon hung up" : "refused", (long long)v);
		exit(1);
	}
}

void rf_set_state(struct rf *f, uint32_t req, uint32_t index, uint32_t num)
{
	struct vhost_vring_state s = {index, num};

	rf_set_ok(f, req, &s, sizeof(s), NULL, 0);
}

bool rf_wait_readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

bool rf_wait_eof(int fd)
{
	long long end = now_ms() + RF_TIMEOUT_MS;
	char buf[512];

	/* Replies sent before the hang-up are read and dropped. */
	while (now_ms() < end) {
		ssize_t n;

		if (!rf_wait_readable(fd, (int)(end - now_ms())))
			return false;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
	return false;
}

void rf_negotiate(struct rf *f, uint64_t want)
{
	uint64_t offered, pf;
	struct vhost_user_memory m;

	memset(f, 0, sizeof(*f));
	f->memfd = -1;
	f->sock = rf_connect(&offered);
	CHECK(offered & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	CHECK(offered & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	rf_send(f, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
	pf = rf_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES);
	CHECK(pf & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	/*
	 * INFLIGHT_SHMFD and CONFIGURE_MEM_SLOTS too when offered: they only act
	 * once their own messages are sent (SET_MEM_TABLE stays valid).
	 */
	pf &= VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
	      VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) |
	      VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
	      VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
	      /* Dirty logging ("Migration") only for a case that asks for VHOST_F_LOG_ALL. */
	      ((want & VIRTIO_BIT(VHOST_F_LOG_ALL)) ? VIRTIO_BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD)
						    : 0);
	rf_send(f, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &pf, sizeof(pf), NULL, 0);
	f->pfeatures = pf;
	CHECK(rf_get_u64(f, VHOST_USER_GET_QUEUE_NUM) >= RF_MAXQ);

	/* No EVENT_IDX: every completion interrupts, which keeps waiting simple. */
	if (!want)
		want = RF_FEATURES_DEFAULT;
	/* Not offered (QEMU's libvhost-user has no packed rings): the case does not apply. */
	if ((want & VIRTIO_BIT(VIRTIO_F_RING_PACKED)) &&
	    !(offered & VIRTIO_BIT(VIRTIO_F_RING_PACKED)))
		SKIP("the daemon does not offer VIRTIO_F_RING_PACKED");
	want |= VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	f->features = offered & want;
	rf_set_ok(f, VHOST_USER_SET_FEATURES, &f->features, sizeof(f->features), NULL, 0);

	f->memfd = memfd_create("raw_front", MFD_CLOEXEC);
	CHECK(f->memfd >= 0);
	CHECK_EQ(ftruncate(f->memfd, RF_MEM_SIZE), 0);
	f->mem = mmap(NULL, RF_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	CHECK(f->mem != MAP_FAILED);
	memset(&m, 0, sizeof(m));
	m.nregions = 1;
	m.regions[0].guest_phys_addr = 0;
	m.regions[0].memory_size = RF_MEM_SIZE;
	m.regions[0].userspace_addr = (uint64_t)(uintptr_t)f->mem;
	m.regions[0].mmap_offset = 0;
	rf_set_ok(f, VHOST_USER_SET_MEM_TABLE, &m,
		  offsetof(struct vhost_user_memory, regions) + sizeof(m.regions[0]), &f->memfd, 1);
}

/*
 * §2.8.10: a packed ring has a driver and a device event suppression
 * structure where a split ring has its avail and used rings; vhost-user
 * passes them in the same SET_VRING_ADDR fields. Both start at ENABLE with
 * no descriptor available (flags 0 is neither available nor used in wrap 1).
 */
static void init_packed(struct rf *f, struct rf_queue *q, unsigned i, uint32_t base)
{
	q->packed = true;
	q->pdesc = rf_ptr(f, RF_RING(i));
	q->driver_event = rf_ptr(f, RF_RING(i) + 0x1000);
	q->device_event = rf_ptr(f, RF_RING(i) + 0x2000);
	memset(q->pdesc, 0, RF_QNUM * sizeof(*q->pdesc));
	q->driver_event->off_wrap = 0;
	q->driver_event->flags = vblk_cpu_to_le16(VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	q->device_event->off_wrap = 0;
	q->device_event->flags = vblk_cpu_to_le16(VIRTQ_PACKED_EVENT_FLAG_ENABLE);
	q->pavail = base & 0x7fff;
	q->avail_wrap = base >> 15 & 1;
	q->pused = base >> 16 & 0x7fff;
	q->used_wrap = base >> 31;
	memset(q->slots, 0, sizeof(q->slots));
}

void rf_start_queue(struct rf *f, unsigned i)
{
	rf_start_queue_at(f, i, RF_P_BASE_INIT);
}

int64_t rf_try_start_queue_at(struct rf *f, unsigned i, uint32_t base, uint32_t *refused)
{
	struct rf_queue *q = &f->q[i];
	bool packed = f->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	struct vhost_vring_state num = {i, RF_QNUM}, vbase = {i, packed ? base : 0}, on = {i, 1};
	struct vhost_vring_addr a;
	uint64_t idx = i;
	int64_t ack;

	CHECK(i < RF_MAXQ);
	if (packed) {
		init_packed(f, q, i, base);
	} else {
		q->desc = rf_ptr(f, RF_RING(i));
		q->avail = rf_ptr(f, RF_RING(i) + 0x1000);
		q->used = rf_ptr(f, RF_RING(i) + 0x2000);
	}
	q->kick = eventfd(0, EFD_CLOEXEC);
	q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(q->kick >= 0 && q->call >= 0 && q->err >= 0);
	/* rf_close closes the eventfds of queues below nq. */
	if (f->nq < i + 1)
		f->nq = i + 1;
	memset(&a, 0, sizeof(a));
	a.index = i;
	a.desc_user_addr = (uint64_t)(uintptr_t)rf_ptr(f, RF_RING(i));
	a.avail_user_addr = (uint64_t)(uintptr_t)rf_ptr(f, RF_RING(i) + 0x1000);
	a.used_user_addr = (uint64_t)(uintptr_t)rf_ptr(f, RF_RING(i) + 0x2000);
	{
		/* QEMU's order: the kick starts the ring, the call fd comes after. */
		const struct {
			uint32_t req;
			const void *payload;
			uint32_t size;
			const int *fd;
		} steps[] = {
		    {VHOST_USER_SET_VRING_NUM, &num, sizeof(num), NULL},
		    {VHOST_USER_SET_VRING_BASE, &vbase, sizeof(vbase), NULL},
		    {VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL},
		    {VHOST_USER_SET_VRING_KICK, &idx, sizeof(idx), &q->kick},
		    {VHOST_USER_SET_VRING_CALL, &idx, sizeof(idx), &q->call},
		    {VHOST_USER_SET_VRING_ERR, &idx, sizeof(idx), &q->err},
		    {VHOST_USER_SET_VRING_ENABLE, &on, sizeof(on), NULL},
		};

		for (unsigned k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			ack = rf_set(f, steps[k].req, steps[k].payload, steps[k].size, steps[k].fd,
				     steps[k].fd ? 1 : 0);
			if (ack) {
				*refused = steps[k].req;
				return ack;
			}
		}
	}
	return 0;
}

void rf_start_queue_at(struct rf *f, unsigned i, uint32_t base)
{
	uint32_t req;
	int64_t ack = rf_try_start_queue_at(f, i, base, &req);

	if (ack) {
		fprintf(stderr, "%s: %s (%lld)\n", vu_msg_name(req),
			ack < 0 ? "the daemon hung up" : "refused", (long long)ack);
		exit(1);
	}
}

void rf_open(struct rf *f, unsigned nq, uint64_t want)
{
	rf_negotiate(f, want);
	for (unsigned i = 0; i < nq; i++)
		rf_start_queue(f, i);
}

void rf_close(struct rf *f)
{
	close(f->sock);
	for (unsigned i = 0; i < f->nq; i++) {
		close(f->q[i].kick);
		close(f->q[i].call);
		close(f->q[i].err);
	}
	if (f->mem)
		munmap(f->mem, RF_MEM_SIZE);
	if (f->memfd >= 0)
		close(f->memfd);
	memset(f, 0, sizeof(*f));
	f->sock = f->memfd = -1;
}

void *rf_ptr(struct rf *f, uint64_t gpa)
{
	CHECK(gpa < RF_MEM_SIZE);
	return f->mem + gpa;
}

static void put_desc(struct virtq_desc *d, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	d->addr = vblk_cpu_to_le64(addr);
	d->len = vblk_cpu_to_le32(len);
	d->flags = vblk_cpu_to_le16(flags);
	d->next = vblk_cpu_to_le16(next);
}

void rf_desc(struct rf_queue *q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
	     uint16_t next)
{
	CHECK(!q->packed && i < RF_QNUM);
	put_desc(&q->desc[i], addr, len, flags, next);
}

void rf_table_desc(struct rf *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	put_desc(rf_ptr(f, table + 16 * (uint64_t)i), addr, len, flags, next);
}

void rf_avail(struct rf_queue *q, uint16_t head)
{
	CHECK(!q->packed);
	q->avail->ring[q->avail_idx % RF_QNUM] = vblk_cpu_to_le16(head);
	/* The ring entry is written before the index that publishes it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	q->avail_idx++;
	__atomic_store_n(&q->avail->idx, vblk_cpu_to_le16(q->avail_idx), __ATOMIC_RELEASE);
}

void rf_kick(struct rf_queue *q)
{
	/* The index store is visible before the kick (no EVENT_IDX: always kick). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	CHECK_EQ(eventfd_write(q->kick, 1), 0);
}

void rf_p_advance(uint16_t *slot, bool *wrap, unsigned n)
{
	unsigned s = *slot + n;

	CHECK(n <= RF_QNUM);
	if (s >= RF_QNUM) {
		s -= RF_QNUM;
		*wrap = !*wrap;
	}
	*slot = (uint16_t)s;
}

/* The next split used ring entry, if the device published one. */
static bool split_used(struct rf_queue *q, uint32_t *id, uint32_t *len)
{
	uint16_t idx = vblk_le16_to_cpu(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE));
	struct virtq_used_elem *e;

	if (idx == q->used_seen)
		return false;
	e = &q->used->ring[q->used_seen % RF_QNUM];
	*id = vblk_le32_to_cpu(e->id);
	*len = vblk_le32_to_cpu(e->len);
	q->used_seen++;
	return true;
}

/* §2.8.22: the next packed used element, if the device wrote one at the used position. */
static bool packed_used(struct rf_queue *q, uint32_t *id, uint32_t *len)
{
	struct virtq_packed_desc *d = &q->pdesc[q->pused];
	/* The flags load is ordered before the id and len loads (acquire). */
	uint16_t flags = vblk_le16_to_cpu(__atomic_load_n(&d->flags, __ATOMIC_ACQUIRE));
	bool avail = flags & RF_P_AVAIL, used = flags & RF_P_USED;

	/* §2.8.1: a used element has AVAIL and USED both equal to the device wrap counter. */
	if (avail != used || used != q->used_wrap)
		return false;
	*id = vblk_le16_to_cpu(d->id);
	*len = flags & VIRTQ_DESC_F_WRITE ? vblk_le32_to_cpu(d->len) : 0;
	if (*id >= RF_QNUM || !q->slots[*id]) {
		fprintf(stderr, "slot %u: used element for buffer id %u, which is not in flight\n",
			q->pused, *id);
		exit(1);
	}
	/* §2.8.6: the next used element goes after all the slots of this buffer. */
	rf_p_advance(&q->pused, &q->used_wrap, q->slots[*id]);
	q->slots[*id] = 0;
	return true;
}

bool rf_wait_used(struct rf_queue *q, int ms, uint32_t *id, uint32_t *len)
{
	long long end = now_ms() + ms;

	for (;;) {
		eventfd_t v;
		long long left;

		if (q->packed ? packed_used(q, id, len) : split_used(q, id, len))
			return true;
		left = end - now_ms();
		if (left <= 0)
			return false;
		rf_wait_readable(q->call, (int)left);
		eventfd_read(q->call, &v);
	}
}

static void put_pdesc(struct virtq_packed_desc *d, uint64_t addr, uint32_t len, uint16_t id,
		      uint16_t flags)
{
	d->addr = vblk_cpu_to_le64(addr);
	d->len = vblk_cpu_to_le32(len);
	d->id = vblk_cpu_to_le16(id);
	/* Orders addr, len and id before the flags that may make the slot available. */
	__atomic_store_n(&d->flags, vblk_cpu_to_le16(flags), __ATOMIC_RELEASE);
}

void rf_pdesc(struct rf_queue *q, unsigned slot, uint64_t addr, uint32_t len, uint16_t id,
	      uint16_t flags)
{
	CHECK(q->packed && slot < RF_QNUM);
	put_pdesc(&q->pdesc[slot], addr, len, id, flags);
}

void rf_ptable_desc(struct rf *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		    uint16_t id, uint16_t flags)
{
	put_pdesc(rf_ptr(f, table + 16 * (uint64_t)i), addr, len, id, flags);
}

unsigned rf_plist(struct rf_queue *q, const struct rf_seg *s, unsigned n, uint16_t id)
{
	uint16_t head = q->pavail, slot = head;
	bool wrap = q->avail_wrap, head_wrap = wrap;

	CHECK(q->packed && n >= 1 && n <= RF_QNUM);
	/* §2.8.21.1: the other slots first, the first slot's flags last. */
	for (unsigned i = 1; i < n; i++) {
		rf_p_advance(&slot, &wrap, 1);
		rf_pdesc(q, slot, s[i].addr, s[i].len, id,
			 (uint16_t)(s[i].flags | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
				    rf_p_avail_bits(wrap)));
	}
	rf_pdesc(
	    q, head, s[0].addr, s[0].len, id,
	    (uint16_t)(s[0].flags | (n > 1 ? VIRTQ_DESC_F_NEXT : 0) | rf_p_avail_bits(head_wrap)));
	if (id < RF_QNUM)
		q->slots[id] = (uint16_t)n;
	rf_p_advance(&q->pavail, &q->avail_wrap, n);
	return head;
}

void rf_must_use(struct rf_queue *q, uint32_t *id, uint32_t *len)
{
	if (rf_wait_used(q, RF_TIMEOUT_MS, id, len))
		return;
	fprintf(stderr, "no used element%s\n",
		rf_wait_readable(q->err, 0) ? " (the queue broke instead)" : "");
	exit(1);
}

void rf_hdr(struct rf *f, unsigned qi, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr *h = rf_ptr(f, RF_HDR(qi));

	h->type = vblk_cpu_to_le32(type);
	h->ioprio = 0;
	h->sector = vblk_cpu_to_le64(sector);
	*(uint8_t *)rf_ptr(f, RF_STATUS(qi)) = 0xff;
}

uint8_t rf_status(struct rf *f, unsigned qi)
{
	return *(uint8_t *)rf_ptr(f, RF_STATUS(qi));
}

void rf_post(struct rf *f, unsigned qi, uint32_t type, uint64_t sector, const void *data,
	     uint32_t len, bool dev_writes)
{
	struct rf_queue *q = &f->q[qi];
	unsigned d = 0;

	rf_hdr(f, qi, type, sector);
	if (len && !dev_writes)
		memcpy(rf_ptr(f, RF_DATA(qi)), data, len);
	if (q->packed) {
		struct rf_seg s[3] = {{RF_HDR(qi), 16, 0}};

		if (len)
			s[++d] =
			    (struct rf_seg){RF_DATA(qi), len, dev_writes ? VIRTQ_DESC_F_WRITE : 0};
		s[++d] = (struct rf_seg){RF_STATUS(qi), 1, VIRTQ_DESC_F_WRITE};
		rf_plist(q, s, d + 1, 0);
	} else {
		rf_desc(q, d, RF_HDR(qi), 16, VIRTQ_DESC_F_NEXT, d + 1);
		d++;
		if (len) {
			rf_desc(q, d, RF_DATA(qi), len,
				VIRTQ_DESC_F_NEXT | (dev_writes ? VIRTQ_DESC_F_WRITE : 0), d + 1);
			d++;
		}
		rf_desc(q, d, RF_STATUS(qi), 1, VIRTQ_DESC_F_WRITE, 0);
		rf_avail(q, 0);
	}
	rf_kick(q);
}

uint8_t rf_finish(struct rf *f, unsigned qi, void *data, uint32_t len, bool dev_writes,
		  uint32_t *used_len)
{
	uint32_t id, ulen;

	if (!rf_wait_used(&f->q[qi], RF_TIMEOUT_MS, &id, &ulen)) {
		fprintf(stderr, "queue %u: request timed out\n", qi);
		exit(1);
	}
	CHECK_EQ(id, 0);
	if (len && dev_writes)
		memcpy(data, rf_ptr(f, RF_DATA(qi)), len);
	if (used_len)
		*used_len = ulen;
	return rf_status(f, qi);
}

uint8_t rf_io(struct rf *f, unsigned qi, uint32_t type, uint64_t sector, void *data, uint32_t len,
	      bool dev_writes, uint32_t *used_len)
{
	rf_post(f, qi, type, sector, data, len, dev_writes);
	return rf_finish(f, qi, data, len, dev_writes, used_len);
}

void rf_rw_check(struct rf *f, unsigned qi, uint64_t sector, uint8_t seed)
{
	static uint8_t wbuf[8192], rbuf[8192];
	uint32_t ulen;

	for (size_t i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (uint8_t)(i * 7 + seed);
	CHECK_EQ(rf_io(f, qi, VIRTIO_BLK_T_OUT, sector, wbuf, sizeof(wbuf), false, &ulen),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(ulen, 1);
	memset(rbuf, 0, sizeof(rbuf));
	CHECK_EQ(rf_io(f, qi, VIRTIO_BLK_T_IN, sector, rbuf, sizeof(rbuf), true, &ulen),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(ulen, sizeof(rbuf) + 1);
	CHECK(memcmp(wbuf, rbuf, sizeof(rbuf)) == 0);
}

uint64_t rf_capacity(struct rf *f)
{
	struct vhost_user_config c;
	uint64_t cap;
	const uint32_t size = 8;

	memset(&c, 0, sizeof(c));
	c.size = size;
	rf_send(f, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR_SIZE + size, NULL, 0);
	CHECK_EQ(rf_recv(f, VHOST_USER_GET_CONFIG, &c, sizeof(c)),
		 VHOST_USER_CONFIG_HDR_SIZE + size);
	memcpy(&cap, c.region, sizeof(cap));
	return vblk_le64_to_cpu(cap);
}
