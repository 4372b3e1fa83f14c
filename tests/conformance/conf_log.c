/* SPDX-License-Identifier: MIT */
/*
 * Conformance cases for dirty logging (group "log", vhost-user.rst
 * "Migration", "Dirty page logging"): hostile SET_LOG_BASE / SET_LOG_FD
 * messages (sizes, offsets that overflow, fds too short or of the wrong
 * kind, a log without LOG_SHMFD) are refused or dropped, and with a log in
 * place exactly the pages the device writes are marked: payloads of reads,
 * status bytes, the used ring; never what it only reads.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "test.h"

/* The log of RF_MEM_SIZE bytes of guest memory: one bit per 4 KiB page. */
#define LOG_SIZE (RF_MEM_SIZE / VHOST_LOG_PAGE / 8)

static const uint64_t log_features = RF_FEATURES_DEFAULT | VIRTIO_BIT(VHOST_F_LOG_ALL);

/* SET_LOG_BASE: size bytes at offset of fd. The daemon's reply (>= 0), or -1 if it hung up. */
static int64_t set_log_base(uint64_t size, uint64_t offset, int fd)
{
	struct vhost_user_log l = {size, offset};
	uint64_t v;
	int n;

	rf_send(&F, VHOST_USER_SET_LOG_BASE, 0, &l, sizeof(l), &fd, 1);
	n = rf_recv(&F, VHOST_USER_SET_LOG_BASE, &v, sizeof(v));
	if (n < 0)
		return -1;
	CHECK_EQ(n, sizeof(v));
	return (int64_t)v;
}

static int memfd_of(uint64_t size)
{
	int fd = memfd_create("conf-log", MFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)size), 0);
	return fd;
}

/* A SET_LOG_BASE the daemon must refuse in its reply; the connection goes on. */
static void log_base_refused(uint64_t size, uint64_t offset, int fd)
{
	rf_negotiate(&F, log_features);
	CHECK(F.pfeatures & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD));
	expect_nack(&F, set_log_base(size, offset, fd));
	close(fd);
}

static void log_size_zero(void)
{
	log_base_refused(0, 0, memfd_of(4096));
}

static void log_offset_overflow(void)
{
	log_base_refused(4096, UINT64_MAX - 100, memfd_of(4096));
}

static void log_size_huge(void)
{
	log_base_refused(UINT64_C(1) << 62, 0, memfd_of(4096));
}

static void log_fd_too_short(void)
{
	log_base_refused(8192, 0, memfd_of(4096));
}

static void log_offset_past_fd(void)
{
	log_base_refused(4096, 4096, memfd_of(4096));
}

static void log_fd_pipe(void)
{
	int p[2];

	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	log_base_refused(4096, 0, p[0]);
}

static void log_fd_eventfd(void)
{
	log_base_refused(4096, 0, eventfd(0, EFD_CLOEXEC));
}

/* Without LOG_SHMFD the request is not ours to take: dropped. */
static void log_without_shmfd(void)
{
	struct vhost_user_log l = {4096, 0};
	int fd = memfd_of(4096);

	rf_negotiate(&F, 0);
	rf_send(&F, VHOST_USER_SET_LOG_BASE, 0, &l, sizeof(l), &fd, 1);
	close(fd);
	expect_drop(&F);
}

static void log_payload_8_bytes(void)
{
	uint64_t v = 4096;
	int fd = memfd_of(4096);

	rf_negotiate(&F, log_features);
	rf_send(&F, VHOST_USER_SET_LOG_BASE, 0, &v, sizeof(v), &fd, 1);
	close(fd);
	expect_drop(&F);
}

static void log_no_fd(void)
{
	struct vhost_user_log l = {4096, 0};

	rf_negotiate(&F, log_features);
	rf_send(&F, VHOST_USER_SET_LOG_BASE, 0, &l, sizeof(l), NULL, 0);
	expect_drop(&F);
}

static void log_fd_not_eventfd(void)
{
	int fd = memfd_of(4096);

	rf_negotiate(&F, log_features);
	expect_nack(&F, rf_set(&F, VHOST_USER_SET_LOG_FD, NULL, 0, &fd, 1));
	close(fd);
}

static void log_fd_eventfd_taken(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	rf_negotiate(&F, log_features);
	rf_set_ok(&F, VHOST_USER_SET_LOG_FD, NULL, 0, &fd, 1);
	close(fd);
	expect_still_served(&F);
}

static bool page_marked(const uint8_t *log, uint64_t gpa)
{
	uint64_t page = gpa / VHOST_LOG_PAGE;

	return __atomic_load_n(&log[page / 8], __ATOMIC_SEQ_CST) & (1u << (page % 8));
}

/* Ask for the used ring to be logged, on the running ring, as QEMU does. */
static void ring0_log_on(void)
{
	struct vhost_vring_addr a;

	memset(&a, 0, sizeof(a));
	a.index = 0;
	a.flags = VIRTIO_BIT(VHOST_VRING_F_LOG);
	a.desc_user_addr = (uint64_t)(uintptr_t)rf_ptr(&F, RF_RING(0));
	a.avail_user_addr = (uint64_t)(uintptr_t)rf_ptr(&F, RF_RING(0) + 0x1000);
	a.used_user_addr = (uint64_t)(uintptr_t)rf_ptr(&F, RF_RING(0) + 0x2000);
	a.log_guest_addr = RF_RING(0) + 0x2000;
	rf_set_ok(&F, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

/*
 * A write marks only the status page and the used ring (split: at
 * log_guest_addr; packed: the device area there and the descriptor ring);
 * a read marks its payload pages as well. What the device only reads (the
 * avail ring or driver area; a split ring's descriptor table) stays clean.
 * Logging switched on for a running ring (SET_LOG_BASE, then SET_VRING_ADDR
 * with VHOST_VRING_F_LOG, QEMU's order at migration start) keeps the ring's
 * position: requests before and after complete in order.
 */
static void marks_written_pages(uint64_t want)
{
	static uint8_t buf[8192];
	uint8_t *log;
	uint32_t len;
	int fd = memfd_of(LOG_SIZE + 100);

	rf_open(&F, 1, want);
	CHECK(F.features & VIRTIO_BIT(VHOST_F_LOG_ALL));
	log = mmap(NULL, LOG_SIZE + 100, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(log != MAP_FAILED);
	/* An offset that is not page aligned, as a front end may give it. */
	CHECK_EQ(set_log_base(LOG_SIZE, 100, fd), 0);
	log += 100;
	ring0_log_on();

	memset(buf, 0x5a, sizeof(buf));
	CHECK_EQ(rf_io(&F, 0, VIRTIO_BLK_T_OUT, 8, buf, sizeof(buf), false, &len), VIRTIO_BLK_S_OK);
	CHECK(page_marked(log, RF_STATUS(0)));
	CHECK(page_marked(log, RF_RING(0) + 0x2000));
	CHECK(!page_marked(log, RF_DATA(0)));
	CHECK(!page_marked(log, RF_DATA(0) + 4096));

	memset(log, 0, LOG_SIZE);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(rf_io(&F, 0, VIRTIO_BLK_T_IN, 8, buf, sizeof(buf), true, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(len, sizeof(buf) + 1);
	CHECK_EQ(buf[4095], 0x5a);
	CHECK(page_marked(log, RF_DATA(0)));
	CHECK(page_marked(log, RF_DATA(0) + 4096));
	CHECK(!page_marked(log, RF_DATA(0) + 8192));
	CHECK(page_marked(log, RF_STATUS(0)));
	CHECK(page_marked(log, RF_RING(0) + 0x2000));
	/* Split: the device only reads the descriptor table; packed: it writes used elements there.
	 */
	CHECK(page_marked(log, RF_RING(0)) == !!(want & VIRTIO_BIT(VIRTIO_F_RING_PACKED)));
	CHECK(!page_marked(log, RF_RING(0) + 0x1000));
	rf_rw_check(&F, 0, 64, 9);
	rf_close(&F);
	close(fd);
}

static void log_marks_written_pages(void)
{
	marks_written_pages(log_features);
}

/* §2.8: the same on a packed ring, whose used elements go to the descriptor ring. */
static void log_marks_written_pages_packed(void)
{
	marks_written_pages(log_features | VIRTIO_BIT(VIRTIO_F_RING_PACKED));
}

/*
 * VHOST_F_LOG_ALL without a log: the ring must not write pages nobody would
 * migrate; it waits, and serves the request once SET_LOG_BASE arrives.
 */
static void log_all_waits_for_log(void)
{
	static uint8_t buf[4096];
	uint8_t *log;
	uint32_t len;
	int fd = memfd_of(LOG_SIZE);

	rf_open(&F, 1, log_features);
	rf_post(&F, 0, VIRTIO_BLK_T_IN, 0, buf, sizeof(buf), true);
	expect_no_used(&F.q[0], 300);
	log = mmap(NULL, LOG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(log != MAP_FAILED);
	CHECK_EQ(set_log_base(LOG_SIZE, 0, fd), 0);
	CHECK_EQ(rf_finish(&F, 0, buf, sizeof(buf), true, &len), VIRTIO_BLK_S_OK);
	CHECK(page_marked(log, RF_DATA(0)));
	rf_close(&F);
	close(fd);
}

#define CL(n, f)                                                                                   \
	{                                                                                          \
		"log", n, f, false                                                                 \
	}
static const struct conf_case cases[] = {
    CL("log-base-size-zero", log_size_zero),
    CL("log-base-offset-overflow", log_offset_overflow),
    CL("log-base-size-2^62", log_size_huge),
    CL("log-base-fd-too-short", log_fd_too_short),
    CL("log-base-offset-past-fd", log_offset_past_fd),
    CL("log-base-fd-pipe", log_fd_pipe),
    CL("log-base-fd-eventfd", log_fd_eventfd),
    CL("log-base-without-log-shmfd", log_without_shmfd),
    CL("log-base-payload-8-bytes", log_payload_8_bytes),
    CL("log-base-no-fd", log_no_fd),
    CL("log-fd-memfd", log_fd_not_eventfd),
    CL("log-fd-eventfd", log_fd_eventfd_taken),
    CL("log-marks-written-pages", log_marks_written_pages),
    CL("log-marks-written-pages-packed", log_marks_written_pages_packed),
    CL("log-all-waits-for-log", log_all_waits_for_log),
};

const struct conf_table conf_log_cases = {cases, sizeof(cases) / sizeof(cases[0])};
