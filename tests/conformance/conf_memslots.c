/* SPDX-License-Identifier: MIT */
/*
 * Conformance cases for memory hotplug (group "memslots"):
 * VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS, vhost-user.rst
 * "VHOST_USER_GET_MAX_MEM_SLOTS", "VHOST_USER_ADD_MEM_REG" and
 * "VHOST_USER_REM_MEM_REG". Regions are added one at a time up to the limit
 * the daemon announces, I/O runs through buffers in them (one spanning two
 * regions), regions come and go while another queue does I/O, and every
 * hostile variant (sizes, overlaps, fds of the wrong kind or number, a
 * region that does not exist) gets its exact outcome: a NACK or a dropped
 * connection, and a daemon that serves the next client.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "test.h"

#define PG 4096u
/* Hot-added regions live far above the 4 MiB rf_negotiate shares at gpa 0. */
#define HOT_GPA 0x40000000ull
/* Each region's memfd holds two pages; the region is the second (mmap_offset = PG). */
#define HOT_FD_SIZE (2 * PG)

/* Region i of the hot range: one page at HOT_GPA + i * PG, contiguous with its neighbours. */
struct hot {
	int fd;
	uint8_t *map; /* our mapping of the fd; the region is map + PG */
	struct vhost_user_mem_reg reg;
};

static void ms_open(unsigned nq)
{
	rf_open(&F, nq, 0);
	if (!(F.pfeatures & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)))
		SKIP("the daemon does not offer CONFIGURE_MEM_SLOTS\n");
}

static void hot_make(struct hot *h, unsigned i)
{
	h->fd = memfd_create("conf-hot", MFD_CLOEXEC);
	CHECK(h->fd >= 0);
	CHECK_EQ(ftruncate(h->fd, HOT_FD_SIZE), 0);
	h->map = mmap(NULL, HOT_FD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, h->fd, 0);
	CHECK(h->map != MAP_FAILED);
	memset(&h->reg, 0, sizeof(h->reg));
	h->reg.region.guest_phys_addr = HOT_GPA + (uint64_t)i * PG;
	h->reg.region.memory_size = PG;
	h->reg.region.userspace_addr = (uint64_t)(uintptr_t)(h->map + PG);
	h->reg.region.mmap_offset = PG;
}

static void hot_free(struct hot *h)
{
	munmap(h->map, HOT_FD_SIZE);
	close(h->fd);
}

static int64_t add_reg(const struct vhost_user_mem_reg *r, int fd)
{
	return rf_set(&F, VHOST_USER_ADD_MEM_REG, r, sizeof(*r), &fd, 1);
}

static int64_t rem_reg(const struct vhost_user_mem_reg *r)
{
	return rf_set(&F, VHOST_USER_REM_MEM_REG, r, sizeof(*r), NULL, 0);
}

/* The regions SET_MEM_TABLE gave the daemon in rf_negotiate, as a single region. */
static struct vhost_user_mem_reg base_reg(void)
{
	struct vhost_user_mem_reg r;

	memset(&r, 0, sizeof(r));
	r.region.guest_phys_addr = 0;
	r.region.memory_size = RF_MEM_SIZE;
	r.region.userspace_addr = (uint64_t)(uintptr_t)F.mem;
	return r;
}

/*
 * One request on queue qi with its data at gpa (len bytes) and header and
 * status in the base region. Returns the status byte.
 */
static uint8_t io_at(unsigned qi, uint32_t type, uint64_t sector, uint64_t gpa, uint32_t len)
{
	struct rf_queue *q = &F.q[qi];
	uint32_t id, ulen;

	rf_hdr(&F, qi, type, sector);
	rf_desc(q, 0, RF_HDR(qi), 16, VIRTQ_DESC_F_NEXT, 1);
	rf_desc(q, 1, gpa, len,
		VIRTQ_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0), 2);
	rf_desc(q, 2, RF_STATUS(qi), 1, VIRTQ_DESC_F_WRITE, 0);
	rf_avail(q, 0);
	rf_kick(q);
	rf_must_use(q, &id, &ulen);
	CHECK_EQ(id, 0);
	return rf_status(&F, qi);
}

/* Write two pages through regions a, b (gpa-adjacent) and read them back through c. */
static void io_through(struct hot *a, struct hot *b, struct hot *c, uint8_t seed)
{
	uint64_t gpa = a->reg.region.guest_phys_addr;

	CHECK_EQ(b->reg.region.guest_phys_addr, gpa + PG);
	for (unsigned i = 0; i < PG; i++) {
		a->map[PG + i] = (uint8_t)(i * 13 + seed);
		b->map[PG + i] = (uint8_t)(i * 17 + seed);
	}
	/* One 8 KiB buffer spanning two regions: two iovecs in the daemon. */
	CHECK_EQ(io_at(0, VIRTIO_BLK_T_OUT, 40, gpa, 2 * PG), VIRTIO_BLK_S_OK);
	memset(c->map + PG, 0, PG);
	CHECK_EQ(io_at(0, VIRTIO_BLK_T_IN, 40 + PG / 512, c->reg.region.guest_phys_addr, PG),
		 VIRTIO_BLK_S_OK);
	CHECK(memcmp(c->map + PG, b->map + PG, PG) == 0);
	CHECK_EQ(io_at(0, VIRTIO_BLK_T_IN, 40, c->reg.region.guest_phys_addr, PG), VIRTIO_BLK_S_OK);
	CHECK(memcmp(c->map + PG, a->map + PG, PG) == 0);
}

/* A limit well above SET_MEM_TABLE's 8 and within QEMU's own cap of 512. */
static void ms_max_slots(void)
{
	uint64_t n;

	ms_open(2);
	n = rf_get_u64(&F, VHOST_USER_GET_MAX_MEM_SLOTS);
	fprintf(stderr, "GET_MAX_MEM_SLOTS: %llu\n", (unsigned long long)n);
	CHECK(n > VHOST_USER_MEMORY_BASELINE_NREGIONS);
	CHECK(n <= 512);
	expect_still_served(&F);
}

/*
 * Every slot the daemon announced filled (the SET_MEM_TABLE region is one),
 * one more refused, I/O through the regions (one buffer across two), and
 * the regions removed again, each leaving its neighbours mapped.
 */
static void ms_fill_all_slots(void)
{
	uint64_t max;
	struct hot *h;
	unsigned n;

	ms_open(2);
	max = rf_get_u64(&F, VHOST_USER_GET_MAX_MEM_SLOTS);
	CHECK(max > 1 && max <= 512);
	n = (unsigned)max - 1;
	h = calloc(n + 1, sizeof(*h));
	CHECK(h != NULL);
	for (unsigned i = 0; i <= n; i++)
		hot_make(&h[i], i);
	/* Added high to low, so each lands in front of the others. */
	for (unsigned i = n; i-- > 0;) {
		int64_t ack = add_reg(&h[i].reg, h[i].fd);

		if (ack != 0) {
			fprintf(stderr, "ADD_MEM_REG %u of %u: ack %lld\n", n - i, n,
				(long long)ack);
			exit(1);
		}
	}
	/* One past the limit. */
	CHECK(add_reg(&h[n].reg, h[n].fd) > 0);
	io_through(&h[0], &h[1], &h[n - 1], 1);
	io_through(&h[n - 3], &h[n - 2], &h[2], 2);
	rf_rw_check(&F, 1, 64, 3);
	/* Remove every other region: the rest still translate. */
	for (unsigned i = 1; i < n; i += 2)
		CHECK_EQ(rem_reg(&h[i].reg), 0);
	CHECK_EQ(
	    io_at(0, VIRTIO_BLK_T_OUT, 48, h[n - 1 - (n - 1) % 2].reg.region.guest_phys_addr, PG),
	    VIRTIO_BLK_S_OK);
	/* Room again: the spare region fits now. */
	h[n].reg.region.guest_phys_addr = HOT_GPA + 1 * PG;
	CHECK_EQ(add_reg(&h[n].reg, h[n].fd), 0);
	io_through(&h[0], &h[n], &h[2], 4);
	for (unsigned i = 0; i <= n; i++)
		hot_free(&h[i]);
	free(h);
	expect_still_served(&F);
}

/* ADD_MEM_REG refused with a NACK: the connection and the next one still work. */
static void add_refused(struct vhost_user_mem_reg *r, int fd)
{
	expect_nack(&F, add_reg(r, fd));
}

/* Region 0 with gpa, size and mmap_offset replaced: refused with a NACK. */
static void add_bad(uint64_t gpa, uint64_t size, uint64_t offset)
{
	struct hot h;

	ms_open(2);
	hot_make(&h, 0);
	h.reg.region.guest_phys_addr = gpa;
	h.reg.region.memory_size = size;
	h.reg.region.mmap_offset = offset;
	add_refused(&h.reg, h.fd);
	hot_free(&h);
}

static void ms_add_overlaps_base(void)
{
	add_bad(RF_MEM_SIZE - PG, PG, PG);
}

static void ms_add_overlaps_hot(void)
{
	struct hot h, g;

	ms_open(2);
	hot_make(&h, 4);
	hot_make(&g, 0);
	CHECK_EQ(add_reg(&h.reg, h.fd), 0);
	/* Five pages from HOT_GPA reach one page into region 4 (the memfd holds 8). */
	CHECK_EQ(ftruncate(g.fd, 8 * PG), 0);
	g.reg.region.memory_size = 5 * PG;
	add_refused(&g.reg, g.fd);
	hot_free(&h);
	hot_free(&g);
}

/* The same region twice. */
static void ms_add_twice(void)
{
	struct hot h;

	ms_open(2);
	hot_make(&h, 0);
	CHECK_EQ(add_reg(&h.reg, h.fd), 0);
	add_refused(&h.reg, h.fd);
	hot_free(&h);
}

static void ms_add_size_0(void)
{
	add_bad(HOT_GPA, 0, PG);
}

static void ms_add_gpa_wraps(void)
{
	add_bad(UINT64_MAX - PG / 2, PG, PG);
}

/* mmap_offset + memory_size wraps: a check on the sum alone would pass. */
static void ms_add_offset_wraps(void)
{
	add_bad(HOT_GPA, 2 * PG, UINT64_MAX - PG + 1);
}

/* The region runs one page past the end of its file: touching it would be a SIGBUS. */
static void ms_add_beyond_fd(void)
{
	add_bad(HOT_GPA, 2 * PG, PG);
}

static void ms_add_fd_eventfd(void)
{
	struct hot h;
	int fd = eventfd(0, EFD_CLOEXEC);

	ms_open(2);
	hot_make(&h, 0);
	add_refused(&h.reg, fd);
	close(fd);
	hot_free(&h);
}

static void ms_add_fd_pipe(void)
{
	struct hot h;
	int p[2];

	ms_open(2);
	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	hot_make(&h, 0);
	add_refused(&h.reg, p[0]);
	close(p[0]);
	close(p[1]);
	hot_free(&h);
}

/* ADD_MEM_REG without its fd, with two, or with a short payload: framing errors. */
static void ms_add_no_fd(void)
{
	struct hot h;

	ms_open(2);
	hot_make(&h, 0);
	rf_send(&F, VHOST_USER_ADD_MEM_REG, VHOST_USER_NEED_REPLY_MASK, &h.reg, sizeof(h.reg), NULL,
		0);
	expect_drop(&F);
	hot_free(&h);
}

static void ms_add_two_fds(void)
{
	struct hot h;
	int fds[2];

	ms_open(2);
	hot_make(&h, 0);
	fds[0] = fds[1] = h.fd;
	rf_send(&F, VHOST_USER_ADD_MEM_REG, VHOST_USER_NEED_REPLY_MASK, &h.reg, sizeof(h.reg), fds,
		2);
	expect_drop(&F);
	hot_free(&h);
}

/* The region without the u64 padding in front of it (32 bytes, not 40). */
static void ms_add_short_payload(void)
{
	struct hot h;

	ms_open(2);
	hot_make(&h, 0);
	rf_send(&F, VHOST_USER_ADD_MEM_REG, VHOST_USER_NEED_REPLY_MASK, &h.reg.region,
		sizeof(h.reg.region), &h.fd, 1);
	expect_drop(&F);
	hot_free(&h);
}

static void ms_rem_short_payload(void)
{
	struct vhost_user_mem_reg r;

	ms_open(2);
	r = base_reg();
	rf_send(&F, VHOST_USER_REM_MEM_REG, VHOST_USER_NEED_REPLY_MASK, &r, sizeof(r) - 8, NULL, 0);
	expect_drop(&F);
}

/* REM_MEM_REG of regions that do not exist: each of gpa, address and size must match. */
static void ms_rem_missing(void)
{
	struct vhost_user_mem_reg r;
	struct hot h;

	ms_open(2);
	hot_make(&h, 0);
	CHECK_EQ(add_reg(&h.reg, h.fd), 0);
	r = h.reg;
	r.region.memory_size = PG / 2;
	CHECK(rem_reg(&r) > 0);
	r = h.reg;
	r.region.guest_phys_addr += PG / 2;
	CHECK(rem_reg(&r) > 0);
	r = h.reg;
	r.region.userspace_addr += PG;
	CHECK(rem_reg(&r) > 0);
	/* Still there: I/O through it works. */
	CHECK_EQ(io_at(0, VIRTIO_BLK_T_OUT, 8, HOT_GPA, PG), VIRTIO_BLK_S_OK);
	CHECK_EQ(rem_reg(&h.reg), 0);
	expect_nack(&F, rem_reg(&h.reg));
	hot_free(&h);
}

/*
 * REM_MEM_REG with an fd (some front ends send one; vhost-user.rst lets the
 * back end accept it and says to close it): accepted, and the daemon's copy is
 * closed, seen as EOF on a pipe whose write end it was.
 */
static void ms_rem_with_fd_closed(void)
{
	struct hot h;
	char c;
	int p[2];

	ms_open(2);
	hot_make(&h, 0);
	CHECK_EQ(add_reg(&h.reg, h.fd), 0);
	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	CHECK_EQ(rf_set(&F, VHOST_USER_REM_MEM_REG, &h.reg, sizeof(h.reg), &p[1], 1), 0);
	close(p[1]);
	CHECK(rf_wait_readable(p[0], RF_TIMEOUT_MS));
	CHECK_EQ(read(p[0], &c, 1), 0);
	close(p[0]);
	hot_free(&h);
	expect_still_served(&F);
}

/*
 * After REM_MEM_REG the daemon no longer reaches the region: a buffer in it
 * is a transport error (the queue breaks, virtio 1.3 §2.7), not a read of
 * stale memory, and the other queue goes on.
 */
static void ms_rem_then_buffer_unmapped(void)
{
	struct hot h;
	eventfd_t v;

	ms_open(2);
	hot_make(&h, 0);
	CHECK_EQ(add_reg(&h.reg, h.fd), 0);
	CHECK_EQ(io_at(0, VIRTIO_BLK_T_OUT, 8, HOT_GPA, PG), VIRTIO_BLK_S_OK);
	CHECK_EQ(rem_reg(&h.reg), 0);
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 8);
	rf_desc(&F.q[0], 0, RF_HDR(0), 16, VIRTQ_DESC_F_NEXT, 1);
	rf_desc(&F.q[0], 1, HOT_GPA, PG, VIRTQ_DESC_F_NEXT, 2);
	rf_desc(&F.q[0], 2, RF_STATUS(0), 1, VIRTQ_DESC_F_WRITE, 0);
	rf_avail(&F.q[0], 0);
	rf_kick(&F.q[0]);
	if (!rf_wait_readable(F.q[0].err, RF_TIMEOUT_MS)) {
		fprintf(stderr, "queue 0: a buffer in a removed region did not break it\n");
		exit(1);
	}
	CHECK_EQ(eventfd_read(F.q[0].err, &v), 0);
	expect_no_used(&F.q[0], 100);
	rf_rw_check(&F, 1, 64, 5);
	hot_free(&h);
	expect_still_served(&F);
}

/*
 * The region holding the rings removed and added back (as QEMU does when a
 * region changes shape): a request made available in between is not lost;
 * it completes once the region is back, exactly once.
 */
static void ms_rem_ring_region_and_back(void)
{
	struct vhost_user_mem_reg r;
	uint32_t id, len;
	uint8_t data[512];

	ms_open(2);
	r = base_reg();
	CHECK_EQ(rem_reg(&r), 0);
	memset(data, 0x3c, sizeof(data));
	rf_post(&F, 0, VIRTIO_BLK_T_OUT, 16, data, sizeof(data), false);
	expect_no_used(&F.q[0], 300);
	CHECK_EQ(add_reg(&r, F.memfd), 0);
	CHECK(rf_wait_used(&F.q[0], RF_TIMEOUT_MS, &id, &len));
	CHECK_EQ(id, 0);
	CHECK_EQ(rf_status(&F, 0), VIRTIO_BLK_S_OK);
	expect_no_used(&F.q[0], 200);
	CHECK(!rf_wait_readable(F.q[0].err, 0));
	rf_rw_check(&F, 0, 32, 6);
	rf_rw_check(&F, 1, 64, 7);
	expect_still_served(&F);
}

static atomic_bool io_stop;
static atomic_uint io_done;

/* Queue 1 writes and reads back patterns until told to stop; any mismatch fails the case. */
static void *io_loop(void *arg)
{
	(void)arg;
	for (unsigned i = 0; !atomic_load(&io_stop); i++) {
		rf_rw_check(&F, 1, 64 + (i % 32) * 16, (uint8_t)i);
		atomic_fetch_add(&io_done, 1);
	}
	return NULL;
}

/*
 * Regions added and removed 200 times while queue 1 does I/O in the base
 * region and queue 0 through each new region: every queue stops and
 * restarts around each change; no request may be lost, repeated or torn.
 */
static void ms_churn_during_io(void)
{
	pthread_t t;
	struct hot h[2];

	ms_open(2);
	hot_make(&h[0], 0);
	hot_make(&h[1], 1);
	CHECK_EQ(pthread_create(&t, NULL, io_loop, NULL), 0);
	for (unsigned i = 0; i < 200; i++) {
		struct hot *a = &h[i % 2];

		CHECK_EQ(add_reg(&a->reg, a->fd), 0);
		memset(a->map + PG, (int)i, PG);
		CHECK_EQ(io_at(0, VIRTIO_BLK_T_OUT, 4096, a->reg.region.guest_phys_addr, PG),
			 VIRTIO_BLK_S_OK);
		memset(a->map + PG, 0xee, PG);
		CHECK_EQ(io_at(0, VIRTIO_BLK_T_IN, 4096, a->reg.region.guest_phys_addr, PG),
			 VIRTIO_BLK_S_OK);
		CHECK_EQ(a->map[PG], (uint8_t)i);
		CHECK_EQ(a->map[2 * PG - 1], (uint8_t)i);
		CHECK_EQ(rem_reg(&a->reg), 0);
	}
	atomic_store(&io_stop, true);
	CHECK_EQ(pthread_join(t, NULL), 0);
	fprintf(stderr, "queue 1 completed %u write+read pairs during 200 add/remove cycles\n",
		atomic_load(&io_done));
	CHECK(atomic_load(&io_done) > 0);
	CHECK(!rf_wait_readable(F.q[0].err, 0) && !rf_wait_readable(F.q[1].err, 0));
	hot_free(&h[0]);
	hot_free(&h[1]);
	expect_still_served(&F);
}

#define MC(n, f)                                                                                   \
	{                                                                                          \
		"memslots", n, f, false                                                            \
	}
static const struct conf_case cases[] = {
    MC("max-mem-slots", ms_max_slots),
    MC("fill-all-slots", ms_fill_all_slots),
    MC("add-overlaps-base", ms_add_overlaps_base),
    MC("add-overlaps-hot-region", ms_add_overlaps_hot),
    MC("add-same-region-twice", ms_add_twice),
    MC("add-size-0", ms_add_size_0),
    MC("add-gpa-wraps", ms_add_gpa_wraps),
    MC("add-offset-wraps", ms_add_offset_wraps),
    MC("add-region-beyond-fd", ms_add_beyond_fd),
    MC("add-fd-eventfd", ms_add_fd_eventfd),
    MC("add-fd-pipe", ms_add_fd_pipe),
    MC("add-no-fd", ms_add_no_fd),
    MC("add-two-fds", ms_add_two_fds),
    MC("add-short-payload", ms_add_short_payload),
    MC("rem-short-payload", ms_rem_short_payload),
    MC("rem-missing-region", ms_rem_missing),
    MC("rem-with-fd-closed", ms_rem_with_fd_closed),
    MC("rem-then-buffer-unmapped", ms_rem_then_buffer_unmapped),
    MC("rem-ring-region-and-back", ms_rem_ring_region_and_back),
    MC("churn-during-io", ms_churn_during_io),
};

const struct conf_table conf_memslots_cases = {cases, sizeof(cases) / sizeof(cases[0])};
