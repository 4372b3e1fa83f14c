/* SPDX-License-Identifier: MIT */
/*
 * Hostile-input conformance suite for vblkd: one table of cases, each a
 * malformed ring, request or vhost-user message with the exact outcome the
 * spec (docs/spec-notes.md "Error policy") requires, followed by a valid request
 * that must still succeed:
 *
 *   ring      the queue breaks: its error eventfd is signalled, no used
 *             entry appears for the bad chain, the queue takes nothing more,
 *             and the other queue keeps serving
 *   request   the request completes with the right status byte and used.len,
 *             and both queues keep serving
 *   vhost-user framing errors drop the connection (and the next one is
 *             served); well-formed but unacceptable values are refused with a
 *             nonzero REPLY_ACK and the connection keeps working
 *
 * Usage: conformance VBLKD GROUP [CASE]
 *   GROUP: ring, request, vhost-user, control, ring-packed, request-packed, memslots, all
 * (the control group, hostile fds, memory and timing, is in conf_control.c)
 * It starts vblkd itself (on a temp image, queues=2; a second one with ro for
 * the read-only cases), runs each case in a child process (so a failed CHECK
 * ends only that case) and prints TAP, one line per case. After each case the
 * daemon must still be alive; at the end it must exit 0 on SIGTERM.
 * CONFORMANCE_KEEP=1 keeps the temp dir (images, daemon logs) for a look.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "test.h"

#define IMG_SIZE   (64u << 20)
#define CAPACITY   (IMG_SIZE / 512)
#define SERIAL	   "conformance-serial"
#define CASE_ALARM 60

#define F_N VIRTQ_DESC_F_NEXT
#define F_W VIRTQ_DESC_F_WRITE
#define F_I VIRTQ_DESC_F_INDIRECT

/* ------------------------------------------------------------------------ */
/* Shared checks                                                            */

/* No used entry for a while: the chain was not completed. */
void expect_no_used(struct rf_queue *q, int ms)
{
	uint32_t id, len;

	if (rf_wait_used(q, ms, &id, &len)) {
		fprintf(stderr, "unexpected used entry: id %u len %u\n", id, len);
		exit(1);
	}
}

/*
 * docs/spec-notes.md "Error policy": a corrupt ring stops that queue: error eventfd,
 * no used entry, nothing more taken from it; the other queue keeps serving.
 */
static void expect_broken(struct rf *f, unsigned qi)
{
	struct rf_queue *q = &f->q[qi], *o = &f->q[1 - qi];
	eventfd_t v;

	if (!rf_wait_readable(q->err, RF_TIMEOUT_MS)) {
		fprintf(stderr, "queue %u: error eventfd not signalled\n", qi);
		exit(1);
	}
	CHECK_EQ(eventfd_read(q->err, &v), 0);
	expect_no_used(q, 100);
	/* The other queue is unaffected. */
	rf_rw_check(f, 1 - qi, 64, 3);
	CHECK(!rf_wait_readable(o->err, 0));
	/* The broken queue stays stopped, even for a valid request. */
	rf_hdr(f, qi, VIRTIO_BLK_T_FLUSH, 0);
	rf_desc(q, 0, RF_HDR(qi), 16, F_N, 1);
	rf_desc(q, 1, RF_STATUS(qi), 1, F_W, 0);
	rf_avail(q, 0);
	rf_kick(q);
	expect_no_used(q, 200);
	rf_close(f);
}

/* One request on queue 0 completes with status st and used.len; both queues go on. */
static void expect_status(struct rf *f, uint16_t head, uint8_t st, uint32_t used_len)
{
	struct rf_queue *q = &f->q[0];
	uint32_t id, len;

	if (!rf_wait_used(q, RF_TIMEOUT_MS, &id, &len)) {
		fprintf(stderr, "no completion%s\n",
			rf_wait_readable(q->err, 0) ? " (the queue broke instead)" : "");
		exit(1);
	}
	CHECK_EQ(id, head);
	CHECK_EQ(rf_status(f, 0), st);
	CHECK_EQ(len, used_len);
	CHECK(!rf_wait_readable(q->err, 0));
	rf_rw_check(f, 0, 32, 4);
	rf_rw_check(f, 1, 64, 5);
}

static void publish(struct rf *f, unsigned qi, uint16_t head)
{
	rf_avail(&f->q[qi], head);
	rf_kick(&f->q[qi]);
}

/* A new connection is served normally. */
void expect_new_connection_works(void)
{
	struct rf f;

	rf_open(&f, 2, 0);
	rf_rw_check(&f, 0, 16, 6);
	rf_rw_check(&f, 1, 24, 7);
	rf_close(&f);
}

/* The daemon hung up on f; a new connection works. */
void expect_drop(struct rf *f)
{
	if (!rf_wait_eof(f->sock)) {
		fprintf(stderr, "the daemon did not drop the connection\n");
		exit(1);
	}
	rf_close(f);
	expect_new_connection_works();
}

/* This connection still answers, and after it closes a new one works. */
void expect_still_served(struct rf *f)
{
	CHECK(rf_get_u64(f, VHOST_USER_GET_FEATURES) != 0);
	rf_close(f);
	expect_new_connection_works();
}

/* The message was refused with a nonzero ack; this connection and a new one work. */
void expect_nack(struct rf *f, int64_t ack)
{
	if (ack < 0) {
		fprintf(stderr, "the daemon dropped the connection instead of refusing\n");
		exit(1);
	}
	if (ack == 0) {
		fprintf(stderr, "the daemon accepted the message\n");
		exit(1);
	}
	expect_still_served(f);
}

/* ------------------------------------------------------------------------ */
/* Ring level                                                               */

struct rf F; /* the case's connection */

static void ring_open(void)
{
	rf_open(&F, 2, 0);
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 0);
}

/* All readable (a write), so no other rule fires before the loop is seen. */
static void ring_loop(void)
{
	ring_open();
	rf_desc(&F.q[0], 0, RF_HDR(0), 16, F_N, 1);
	rf_desc(&F.q[0], 1, RF_DATA(0), 512, F_N, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

/* Every descriptor chained, the last one back to the middle: longer than the queue. */
static void ring_chain_longer_than_queue(void)
{
	ring_open();
	rf_desc(&F.q[0], 0, RF_HDR(0), 16, F_N, 1);
	for (unsigned i = 1; i < RF_QNUM; i++)
		rf_desc(&F.q[0], i, RF_DATA(0) + 512 * i, 512, F_N | F_W,
			i + 1 < RF_QNUM ? i + 1 : 5);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

/* An indirect chain of more descriptors than seg_max + header + status (and any iov bound). */
static void ring_indirect_chain_too_long(void)
{
	const unsigned n = 3000;

	ring_open();
	rf_table_desc(&F, RF_INDIR(0), 0, RF_HDR(0), 16, F_N, 1);
	for (unsigned i = 1; i < n - 1; i++)
		rf_table_desc(&F, RF_INDIR(0), i, RF_DATA(0), 512, F_N | F_W, i + 1);
	rf_table_desc(&F, RF_INDIR(0), n - 1, RF_STATUS(0), 1, F_W, 0);
	CHECK(16 * n <= 0xC000);
	rf_desc(&F.q[0], 0, RF_INDIR(0), 16 * n, F_I, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

static void ring_next_ge_size(void)
{
	ring_open();
	rf_desc(&F.q[0], 0, RF_HDR(0), 16, F_N, RF_QNUM);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

static void ring_avail_head_ge_size(void)
{
	ring_open();
	rf_desc(&F.q[0], 0, RF_HDR(0), 16, F_N, 1);
	rf_desc(&F.q[0], 1, RF_STATUS(0), 1, F_W, 0);
	publish(&F, 0, RF_QNUM);
	expect_broken(&F, 0);
}

/* A valid 3-entry read chain in the indirect table at t. */
static void table_read_chain(uint64_t t)
{
	rf_table_desc(&F, t, 0, RF_HDR(0), 16, F_N, 1);
	rf_table_desc(&F, t, 1, RF_DATA(0), 512, F_N | F_W, 2);
	rf_table_desc(&F, t, 2, RF_STATUS(0), 1, F_W, 0);
}

static void ring_nested_indirect(void)
{
	ring_open();
	table_read_chain(RF_INDIR(0) + 0x100);
	rf_table_desc(&F, RF_INDIR(0), 0, RF_INDIR(0) + 0x100, 48, F_I, 0);
	rf_desc(&F.q[0], 0, RF_INDIR(0), 16, F_I, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

static void ring_indirect_len_0(void)
{
	ring_open();
	table_read_chain(RF_INDIR(0));
	rf_desc(&F.q[0], 0, RF_INDIR(0), 0, F_I, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

static void ring_indirect_len_not_multiple_16(void)
{
	ring_open();
	table_read_chain(RF_INDIR(0));
	rf_desc(&F.q[0], 0, RF_INDIR(0), 40, F_I, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

static void ring_indirect_with_next(void)
{
	ring_open();
	table_read_chain(RF_INDIR(0));
	rf_desc(&F.q[0], 0, RF_INDIR(0), 48, F_I | F_N, 1);
	rf_desc(&F.q[0], 1, RF_STATUS(0) + 1, 1, F_W, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

static void ring_indirect_not_negotiated(void)
{
	rf_open(&F, 2,
		VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_MQ) |
		    VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX));
	CHECK(!(F.features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)));
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 0);
	table_read_chain(RF_INDIR(0));
	rf_desc(&F.q[0], 0, RF_INDIR(0), 48, F_I, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

static void ring_indirect_table_unmapped(void)
{
	ring_open();
	rf_desc(&F.q[0], 0, RF_MEM_SIZE + 0x1000, 48, F_I, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

static void ring_indirect_loop(void)
{
	ring_open();
	rf_table_desc(&F, RF_INDIR(0), 0, RF_HDR(0), 16, F_N, 1);
	rf_table_desc(&F, RF_INDIR(0), 1, RF_DATA(0), 512, F_N, 0);
	rf_table_desc(&F, RF_INDIR(0), 2, RF_STATUS(0), 1, F_W, 0);
	rf_desc(&F.q[0], 0, RF_INDIR(0), 48, F_I, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

static void ring_indirect_next_beyond_table(void)
{
	ring_open();
	table_read_chain(RF_INDIR(0));
	rf_table_desc(&F, RF_INDIR(0), 1, RF_DATA(0), 512, F_N | F_W, 3);
	rf_desc(&F.q[0], 0, RF_INDIR(0), 48, F_I, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

/* A 3-descriptor read whose data descriptor is (addr, len). */
static void bad_data_desc(uint64_t addr, uint32_t len)
{
	ring_open();
	rf_desc(&F.q[0], 0, RF_HDR(0), 16, F_N, 1);
	rf_desc(&F.q[0], 1, addr, len, F_N | F_W, 2);
	rf_desc(&F.q[0], 2, RF_STATUS(0), 1, F_W, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

static void ring_unmapped_address(void)
{
	bad_data_desc(RF_MEM_SIZE + 0x1000, 512);
}

static void ring_buffer_crosses_end_of_memory(void)
{
	bad_data_desc(RF_MEM_SIZE - 256, 512);
}

static void ring_addr_len_overflow(void)
{
	bad_data_desc(UINT64_MAX - 255, 1024);
}

static void ring_zero_length_descriptor(void)
{
	bad_data_desc(RF_DATA(0), 0);
}

static void ring_readable_after_writable(void)
{
	ring_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 0);
	rf_desc(&F.q[0], 0, RF_HDR(0), 16, F_N, 1);
	rf_desc(&F.q[0], 1, RF_STATUS(0), 1, F_N | F_W, 2);
	rf_desc(&F.q[0], 2, RF_DATA(0), 512, 0, 0);
	publish(&F, 0, 0);
	expect_broken(&F, 0);
}

/* avail->idx more than the queue size ahead of what the device consumed. */
static void avail_jump(uint16_t idx)
{
	struct rf_queue *q;

	ring_open();
	q = &F.q[0];
	rf_desc(q, 0, RF_HDR(0), 16, F_N, 1);
	rf_desc(q, 1, RF_STATUS(0), 1, F_W, 0);
	for (unsigned i = 0; i < RF_QNUM; i++)
		q->avail->ring[i] = 0;
	__atomic_store_n(&q->avail->idx, vblk_cpu_to_le16(idx), __ATOMIC_RELEASE);
	rf_kick(q);
	expect_broken(&F, 0);
}

static void ring_avail_idx_too_far(void)
{
	avail_jump(RF_QNUM + 1);
}

static void ring_avail_idx_backwards(void)
{
	avail_jump(0xffff);
}

/*
 * The same head twice in one batch: the device pops the first (a read, which
 * stays in flight in the backend until the batch is submitted) and then
 * finds the head busy. The first completes normally; the second gets no used
 * entry and breaks the queue.
 */
static void ring_head_twice_in_flight(void)
{
	struct rf_queue *q;
	uint32_t id, len;

	ring_open();
	q = &F.q[0];
	rf_desc(q, 0, RF_HDR(0), 16, F_N, 1);
	rf_desc(q, 1, RF_DATA(0), 4096, F_N | F_W, 2);
	rf_desc(q, 2, RF_STATUS(0), 1, F_W, 0);
	q->avail->ring[0] = 0;
	q->avail->ring[1] = 0;
	q->avail_idx = 2;
	__atomic_store_n(&q->avail->idx, vblk_cpu_to_le16(2), __ATOMIC_RELEASE);
	rf_kick(q);
	if (!rf_wait_readable(q->err, RF_TIMEOUT_MS)) {
		fprintf(stderr, "queue 0: error eventfd not signalled\n");
		exit(1);
	}
	/* The first one was legitimately in flight: it completes. */
	CHECK(rf_wait_used(q, RF_TIMEOUT_MS, &id, &len));
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 4097);
	CHECK_EQ(rf_status(&F, 0), VIRTIO_BLK_S_OK);
	expect_broken(&F, 0);
}

/* ------------------------------------------------------------------------ */
/* Request level                                                            */

static void req_open(void)
{
	rf_open(&F, 2, 0);
}

/* Put a direct chain of n descriptors {addr, len, flags} from index 0 and publish it. */
struct seg {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
};

static void chain(const struct seg *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		rf_desc(&F.q[0], i, s[i].addr, s[i].len,
			(uint16_t)(s[i].flags | (i + 1 < n ? F_N : 0)), (uint16_t)(i + 1));
	publish(&F, 0, 0);
}

static void req_header_short(void)
{
	struct seg s[] = {{RF_HDR(0), 8, 0}, {RF_STATUS(0), 1, F_W}};

	req_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_FLUSH, 0);
	chain(s, 2);
	expect_status(&F, 0, VIRTIO_BLK_S_IOERR, 1);
}

static void req_header_in_writable(void)
{
	struct seg s[] = {{RF_HDR(0), 16, F_W}, {RF_STATUS(0), 1, F_W}};

	req_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_FLUSH, 0);
	chain(s, 2);
	expect_status(&F, 0, VIRTIO_BLK_S_IOERR, 1);
}

/* The byte-stream rule: header split over descriptors is valid. */
static void req_header_split(void)
{
	struct seg s[] = {{RF_HDR(0), 5, 0},
			  {RF_HDR(0) + 5, 11, 0},
			  {RF_DATA(0), 512, F_W},
			  {RF_STATUS(0), 1, F_W}};

	req_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 0);
	chain(s, 4);
	expect_status(&F, 0, VIRTIO_BLK_S_OK, 513);
}

/* The byte-stream rule: the status is the last byte of the data descriptor. */
static void req_status_in_data_descriptor(void)
{
	struct seg s[] = {{RF_HDR(0), 16, 0}, {RF_DATA(0), 513, F_W}};
	uint8_t *st;

	req_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 0);
	st = rf_ptr(&F, RF_DATA(0) + 512);
	*st = 0xff;
	chain(s, 2);
	{
		uint32_t id, len;

		CHECK(rf_wait_used(&F.q[0], RF_TIMEOUT_MS, &id, &len));
		CHECK_EQ(id, 0);
		CHECK_EQ(*st, VIRTIO_BLK_S_OK);
		CHECK_EQ(len, 513);
	}
	rf_rw_check(&F, 0, 32, 4);
	rf_rw_check(&F, 1, 64, 5);
}

/* No device-writable byte at all: nowhere to put a status, so the queue breaks. */
static void req_status_missing(void)
{
	struct seg s[] = {{RF_HDR(0), 16, 0}, {RF_DATA(0), 512, 0}};

	req_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 0);
	chain(s, 2);
	expect_broken(&F, 0);
}

static void req_status_in_readonly_descriptor(void)
{
	struct seg s[] = {{RF_HDR(0), 16, 0}, {RF_DATA(0), 512, 0}, {RF_STATUS(0), 1, 0}};

	req_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 0);
	chain(s, 3);
	expect_broken(&F, 0);
}

static void req_read_into_readonly_buffer(void)
{
	struct seg s[] = {{RF_HDR(0), 16, 0}, {RF_DATA(0), 512, 0}, {RF_STATUS(0), 1, F_W}};

	req_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 0);
	chain(s, 3);
	expect_status(&F, 0, VIRTIO_BLK_S_IOERR, 1);
}

/* A write whose data is device-writable: IOERR, and nothing reaches the disk. */
static void req_write_from_writable_buffer(void)
{
	static uint8_t before[512], after[512];
	struct seg s[] = {{RF_HDR(0), 16, 0}, {RF_DATA(0), 512, F_W}, {RF_STATUS(0), 1, F_W}};

	req_open();
	CHECK_EQ(rf_io(&F, 1, VIRTIO_BLK_T_IN, 200, before, sizeof(before), true, NULL), 0);
	memset(rf_ptr(&F, RF_DATA(0)), 0x5a, 512);
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 200);
	chain(s, 3);
	expect_status(&F, 0, VIRTIO_BLK_S_IOERR, 1);
	CHECK_EQ(rf_io(&F, 1, VIRTIO_BLK_T_IN, 200, after, sizeof(after), true, NULL), 0);
	CHECK(memcmp(before, after, sizeof(after)) == 0);
}

static void one_io(uint32_t type, uint64_t sector, uint32_t len, bool dev_writes, uint8_t st,
		   uint32_t used_len)
{
	static uint8_t buf[8192];
	uint32_t ulen;

	CHECK(len <= sizeof(buf));
	CHECK_EQ(rf_io(&F, 0, type, sector, buf, len, dev_writes, &ulen), st);
	CHECK_EQ(ulen, used_len);
}

static void req_len_not_multiple_of_512(void)
{
	req_open();
	one_io(VIRTIO_BLK_T_IN, 0, 513, true, VIRTIO_BLK_S_IOERR, 1);
	one_io(VIRTIO_BLK_T_OUT, 0, 100, false, VIRTIO_BLK_S_IOERR, 1);
	rf_rw_check(&F, 0, 32, 4);
	rf_rw_check(&F, 1, 64, 5);
}

static void req_zero_length_data(void)
{
	req_open();
	one_io(VIRTIO_BLK_T_IN, 0, 0, true, VIRTIO_BLK_S_IOERR, 1);
	one_io(VIRTIO_BLK_T_OUT, 0, 0, false, VIRTIO_BLK_S_IOERR, 1);
	rf_rw_check(&F, 0, 32, 4);
	rf_rw_check(&F, 1, 64, 5);
}

static void req_sector_past_capacity(void)
{
	req_open();
	CHECK_EQ(rf_capacity(&F), CAPACITY);
	one_io(VIRTIO_BLK_T_IN, CAPACITY - 1, 512, true, VIRTIO_BLK_S_OK, 513);
	one_io(VIRTIO_BLK_T_IN, CAPACITY, 512, true, VIRTIO_BLK_S_IOERR, 1);
	one_io(VIRTIO_BLK_T_IN, CAPACITY - 1, 1024, true, VIRTIO_BLK_S_IOERR, 1);
	one_io(VIRTIO_BLK_T_OUT, CAPACITY, 512, false, VIRTIO_BLK_S_IOERR, 1);
	rf_rw_check(&F, 0, 32, 4);
	rf_rw_check(&F, 1, 64, 5);
}

static void req_sector_len_overflow(void)
{
	req_open();
	one_io(VIRTIO_BLK_T_IN, UINT64_MAX, 1024, true, VIRTIO_BLK_S_IOERR, 1);
	one_io(VIRTIO_BLK_T_IN, UINT64_MAX - 1, 1024, true, VIRTIO_BLK_S_IOERR, 1);
	/* sector << 9 wraps to a small offset: must not be taken as sector 0. */
	one_io(VIRTIO_BLK_T_OUT, UINT64_C(1) << 55, 512, false, VIRTIO_BLK_S_IOERR, 1);
	one_io(VIRTIO_BLK_T_OUT, (UINT64_C(1) << 55) + 8, 512, false, VIRTIO_BLK_S_IOERR, 1);
	rf_rw_check(&F, 0, 32, 4);
	rf_rw_check(&F, 1, 64, 5);
}

static void req_unknown_type(void)
{
	const uint32_t types[] = {2, 3, 5, 0x7f, 0x80000000u, UINT32_MAX};

	req_open();
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		one_io(types[i], 0, 0, true, VIRTIO_BLK_S_UNSUPP, 1);
	rf_rw_check(&F, 0, 32, 4);
	rf_rw_check(&F, 1, 64, 5);
}

static void req_get_lifetime_unsupported(void)
{
	req_open();
	one_io(VIRTIO_BLK_T_GET_LIFETIME, 0, 8, true, VIRTIO_BLK_S_UNSUPP, 1);
	rf_rw_check(&F, 0, 32, 4);
}

/* DISCARD / WRITE_ZEROES with n segments from segs; returns the status. */
static uint8_t dwz(uint32_t type, const struct virtio_blk_discard_write_zeroes *segs,
		   uint32_t bytes, uint32_t *ulen)
{
	CHECK(bytes <= 8192);
	return rf_io(&F, 0, type, 0, (void *)segs, bytes, false, ulen);
}

static struct virtio_blk_discard_write_zeroes seg_of(uint64_t sector, uint32_t n, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes s = {vblk_cpu_to_le64(sector), vblk_cpu_to_le32(n),
						    vblk_cpu_to_le32(flags)};
	return s;
}

static void need_feature(unsigned bit, const char *name)
{
	if (!(F.features & VIRTIO_BIT(bit)))
		SKIP("the daemon does not offer %s on this image", name);
}

static void req_discard_unmap_flag(void)
{
	struct virtio_blk_discard_write_zeroes s = seg_of(8, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	uint32_t ulen;

	req_open();
	need_feature(VIRTIO_BLK_F_DISCARD, "DISCARD");
	CHECK_EQ(dwz(VIRTIO_BLK_T_DISCARD, &s, sizeof(s), &ulen), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(ulen, 1);
	s = seg_of(8, 8, 0);
	CHECK_EQ(dwz(VIRTIO_BLK_T_DISCARD, &s, sizeof(s), &ulen), VIRTIO_BLK_S_OK);
	CHECK_EQ(ulen, 1);
	rf_rw_check(&F, 1, 64, 5);
}

static void req_dwz_unknown_flag(void)
{
	struct virtio_blk_discard_write_zeroes s = seg_of(8, 8, 2);
	uint32_t ulen;

	req_open();
	need_feature(VIRTIO_BLK_F_WRITE_ZEROES, "WRITE_ZEROES");
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, &s, sizeof(s), &ulen), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(ulen, 1);
	rf_rw_check(&F, 0, 32, 4);
}

static void req_dwz_bad_payload(void)
{
	struct virtio_blk_discard_write_zeroes s[9];
	uint32_t ulen;

	req_open();
	need_feature(VIRTIO_BLK_F_WRITE_ZEROES, "WRITE_ZEROES");
	for (unsigned i = 0; i < 9; i++)
		s[i] = seg_of(8 * i, 8, 0);
	/* Not a whole number of segments. */
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, s, 24, &ulen), VIRTIO_BLK_S_IOERR);
	/* Past the end, and 64-bit overflow of sector + num_sectors. */
	s[0] = seg_of(CAPACITY - 4, 8, 0);
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, s, 16, &ulen), VIRTIO_BLK_S_IOERR);
	s[0] = seg_of(UINT64_MAX - 3, 8, 0);
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, s, 16, &ulen), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(ulen, 1);
	rf_rw_check(&F, 0, 32, 4);
	rf_rw_check(&F, 1, 64, 5);
}

static void req_write_zeroes_reads_zero(void)
{
	static uint8_t buf[4096], zero[4096];
	struct virtio_blk_discard_write_zeroes s =
	    seg_of(32, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	uint32_t ulen;

	req_open();
	need_feature(VIRTIO_BLK_F_WRITE_ZEROES, "WRITE_ZEROES");
	rf_rw_check(&F, 0, 32, 9);
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, &s, sizeof(s), &ulen), VIRTIO_BLK_S_OK);
	CHECK_EQ(ulen, 1);
	CHECK_EQ(rf_io(&F, 0, VIRTIO_BLK_T_IN, 32, buf, sizeof(buf), true, &ulen), VIRTIO_BLK_S_OK);
	CHECK(memcmp(buf, zero, sizeof(buf)) == 0);
}

/* used.len: data + 1 for a read spread over several buffers. */
static void req_used_len_read(void)
{
	struct seg s[] = {{RF_HDR(0), 16, 0},
			  {RF_DATA(0), 512, F_W},
			  {RF_DATA(0) + 0x1000, 1024, F_W},
			  {RF_DATA(0) + 0x2000, 2048, F_W},
			  {RF_STATUS(0), 1, F_W}};

	req_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 8);
	chain(s, 5);
	expect_status(&F, 0, VIRTIO_BLK_S_OK, 512 + 1024 + 2048 + 1);
}

static void req_used_len_write_flush(void)
{
	req_open();
	one_io(VIRTIO_BLK_T_OUT, 8, 4096, false, VIRTIO_BLK_S_OK, 1);
	need_feature(VIRTIO_BLK_F_FLUSH, "FLUSH");
	one_io(VIRTIO_BLK_T_FLUSH, 0, 0, false, VIRTIO_BLK_S_OK, 1);
}

static void req_used_len_get_id(void)
{
	uint8_t id[VIRTIO_BLK_ID_BYTES], want[VIRTIO_BLK_ID_BYTES] = SERIAL;
	uint32_t ulen;

	req_open();
	memset(id, 0xaa, sizeof(id));
	CHECK_EQ(rf_io(&F, 0, VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id), true, &ulen),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(ulen, VIRTIO_BLK_ID_BYTES + 1);
	CHECK(memcmp(id, want, sizeof(id)) == 0);
	/* A buffer that cannot hold the ID. */
	one_io(VIRTIO_BLK_T_GET_ID, 0, 10, true, VIRTIO_BLK_S_IOERR, 1);
	rf_rw_check(&F, 0, 32, 4);
}

/* On the read-only daemon. */
static void req_write_on_ro(void)
{
	static uint8_t before[512], after[512];
	struct virtio_blk_discard_write_zeroes s = seg_of(0, 8, 0);
	uint32_t ulen;

	req_open();
	CHECK(F.features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	CHECK_EQ(rf_io(&F, 1, VIRTIO_BLK_T_IN, 0, before, sizeof(before), true, NULL), 0);
	one_io(VIRTIO_BLK_T_OUT, 0, 512, false, VIRTIO_BLK_S_IOERR, 1);
	CHECK_EQ(dwz(VIRTIO_BLK_T_WRITE_ZEROES, &s, sizeof(s), &ulen), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(dwz(VIRTIO_BLK_T_DISCARD, &s, sizeof(s), &ulen), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(rf_io(&F, 1, VIRTIO_BLK_T_IN, 0, after, sizeof(after), true, NULL), 0);
	CHECK(memcmp(before, after, sizeof(after)) == 0);
	one_io(VIRTIO_BLK_T_IN, 0, 4096, true, VIRTIO_BLK_S_OK, 4097);
}

/* ------------------------------------------------------------------------ */
/* vhost-user level                                                         */

/* A connection that did the handshake and has a memory table, no queues. */
static void vu_open(void)
{
	rf_negotiate(&F, 0);
}

static void send_bad(uint32_t req, const void *payload, uint32_t size, const int *fds,
		     unsigned nfds)
{
	rf_send(&F, req, 0, payload, size, fds, nfds);
	expect_drop(&F);
}

static void vu_size_get_features(void)
{
	uint64_t v = 0;

	vu_open();
	send_bad(VHOST_USER_GET_FEATURES, &v, sizeof(v), NULL, 0);
}

static void vu_size_set_features(void)
{
	uint32_t v = 0;

	vu_open();
	send_bad(VHOST_USER_SET_FEATURES, &v, sizeof(v), NULL, 0);
}

static void vu_size_set_vring_num(void)
{
	uint32_t v = 0;

	vu_open();
	send_bad(VHOST_USER_SET_VRING_NUM, &v, sizeof(v), NULL, 0);
}

static void vu_size_set_vring_addr(void)
{
	struct vhost_vring_addr a = {0};

	vu_open();
	send_bad(VHOST_USER_SET_VRING_ADDR, &a, sizeof(a) - 8, NULL, 0);
}

static void vu_size_set_vring_kick(void)
{
	uint32_t v = 0;
	int fd = eventfd(0, EFD_CLOEXEC);

	vu_open();
	send_bad(VHOST_USER_SET_VRING_KICK, &v, sizeof(v), &fd, 1);
	close(fd);
}

static void vu_size_mem_table(void)
{
	struct vhost_user_memory m = {0};

	vu_open();
	m.nregions = 2;
	m.regions[0].memory_size = RF_MEM_SIZE;
	send_bad(VHOST_USER_SET_MEM_TABLE, &m, offsetof(struct vhost_user_memory, regions) + 32,
		 &F.memfd, 1);
}

static void vu_size_config(void)
{
	struct vhost_user_config c = {0};

	vu_open();
	c.size = 8;
	/* The config header says 8 bytes follow; the message carries 4. */
	send_bad(VHOST_USER_GET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 4, NULL, 0);
}

static void vu_size_over_max(void)
{
	struct vhost_user_header h = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 4096};

	vu_open();
	CHECK_EQ(rf_send_bytes(F.sock, &h, sizeof(h), NULL, 0), 0);
	expect_drop(&F);
}

static void vu_fd_missing_kick(void)
{
	uint64_t v = 0;

	vu_open();
	send_bad(VHOST_USER_SET_VRING_KICK, &v, sizeof(v), NULL, 0);
}

static void vu_fd_missing_mem_table(void)
{
	struct vhost_user_memory m = {0};

	vu_open();
	m.nregions = 1;
	m.regions[0].memory_size = RF_MEM_SIZE;
	m.regions[0].userspace_addr = (uint64_t)(uintptr_t)F.mem;
	send_bad(VHOST_USER_SET_MEM_TABLE, &m, offsetof(struct vhost_user_memory, regions) + 32,
		 NULL, 0);
}

/* More fds than any message carries: the framing cannot be trusted. */
static void vu_fd_too_many(void)
{
	struct vhost_user_header h = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0};
	int fds[12];

	vu_open();
	for (unsigned i = 0; i < 12; i++)
		fds[i] = F.memfd;
	CHECK_EQ(rf_send_bytes(F.sock, &h, sizeof(h), fds, 12), 0);
	expect_drop(&F);
}

/* Surplus fds on a message that takes none are closed, and the message served. */
static void vu_fd_surplus_closed(void)
{
	int p[2];
	uint64_t v;

	vu_open();
	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	rf_send(&F, VHOST_USER_GET_FEATURES, 0, NULL, 0, &p[1], 1);
	CHECK_EQ(rf_recv(&F, VHOST_USER_GET_FEATURES, &v, sizeof(v)), 8);
	close(p[1]);
	/* Our write end is closed; EOF on the read end means the daemon closed its copy. */
	if (!rf_wait_readable(p[0], RF_TIMEOUT_MS)) {
		fprintf(stderr, "the daemon kept a surplus fd open\n");
		exit(1);
	}
	{
		char c;

		CHECK_EQ(read(p[0], &c, 1), 0);
	}
	close(p[0]);
	rf_close(&F);
	expect_new_connection_works();
}

static void vu_mem_nregions_ne_fds(void)
{
	struct vhost_user_memory m = {0};
	int fds[2];

	vu_open();
	fds[0] = fds[1] = F.memfd;
	m.nregions = 1;
	m.regions[0].memory_size = RF_MEM_SIZE;
	m.regions[0].userspace_addr = (uint64_t)(uintptr_t)F.mem;
	send_bad(VHOST_USER_SET_MEM_TABLE, &m, offsetof(struct vhost_user_memory, regions) + 32,
		 fds, 2);
}

static void vu_mem_nregions_gt_8(void)
{
	struct vhost_user_memory m = {0};
	int fds[8];

	vu_open();
	for (unsigned i = 0; i < 8; i++) {
		fds[i] = F.memfd;
		m.regions[i].guest_phys_addr = (uint64_t)i * RF_MEM_SIZE;
		m.regions[i].memory_size = RF_MEM_SIZE;
		m.regions[i].userspace_addr = (uint64_t)i * RF_MEM_SIZE;
	}
	m.nregions = 9;
	send_bad(VHOST_USER_SET_MEM_TABLE, &m, sizeof(m), fds, 8);
}

static void vu_mem_nregions_0(void)
{
	struct vhost_user_memory m = {0};

	vu_open();
	send_bad(VHOST_USER_SET_MEM_TABLE, &m, offsetof(struct vhost_user_memory, regions), NULL,
		 0);
}

/* A two-region table from (gpa, size, uva, offset) pairs; returns the ack. */
static int64_t mem_table2(const struct vhost_user_memory_region *r, unsigned n)
{
	struct vhost_user_memory m = {0};
	int fds[2] = {F.memfd, F.memfd};

	m.nregions = n;
	memcpy(m.regions, r, n * sizeof(*r));
	return rf_set(&F, VHOST_USER_SET_MEM_TABLE, &m,
		      (uint32_t)(offsetof(struct vhost_user_memory, regions) + n * sizeof(*r)), fds,
		      n);
}

static void vu_mem_overlap(void)
{
	const uint64_t h = RF_MEM_SIZE / 2;
	struct vhost_user_memory_region r[2] = {{0, h, 0x10000000, 0},
						{h - 4096, h, 0x20000000, h}};

	vu_open();
	expect_nack(&F, mem_table2(r, 2));
}

static void vu_mem_gpa_overflow(void)
{
	struct vhost_user_memory_region r[1] = {{UINT64_MAX - 4095, RF_MEM_SIZE, 0x10000000, 0}};

	vu_open();
	expect_nack(&F, mem_table2(r, 1));
}

static void vu_mem_uva_overflow(void)
{
	struct vhost_user_memory_region r[1] = {{0, RF_MEM_SIZE, UINT64_MAX - 4095, 0}};

	vu_open();
	expect_nack(&F, mem_table2(r, 1));
}

static void vu_mem_fd_not_mappable(void)
{
	struct vhost_user_memory m = {0};
	int fd = eventfd(0, EFD_CLOEXEC);

	vu_open();
	m.nregions = 1;
	m.regions[0].memory_size = RF_MEM_SIZE;
	expect_nack(&F, rf_set(&F, VHOST_USER_SET_MEM_TABLE, &m,
			       offsetof(struct vhost_user_memory, regions) + 32, &fd, 1));
	close(fd);
}

/*
 * A region longer than the file behind its fd: the daemon must refuse it
 * (fstat), or any ring or buffer past the end of the file SIGBUSes it.
 */
static void vu_mem_region_beyond_fd(void)
{
	struct vhost_user_memory_region r[1] = {{0, 2 * (uint64_t)RF_MEM_SIZE, 0, 0}};
	int64_t ack;

	vu_open();
	r[0].userspace_addr = (uint64_t)(uintptr_t)F.mem;
	ack = mem_table2(r, 1);
	if (ack == 0) {
		/*
		 * Accepted: show what it costs. Rings in the part of the region
		 * past the end of the file: the daemon's first access to them
		 * (vq_dev_start_areas reads used->idx) is a SIGBUS.
		 */
		struct vhost_vring_addr a = {0};
		uint64_t base = (uint64_t)(uintptr_t)F.mem + RF_MEM_SIZE + 0x10000;
		int kick = eventfd(0, EFD_CLOEXEC);
		uint64_t v = 0;

		fprintf(stderr,
			"SET_MEM_TABLE with a region of %u bytes on a %u-byte memfd was "
			"accepted; now rings past the end of the file\n",
			2 * RF_MEM_SIZE, RF_MEM_SIZE);
		rf_set_state(&F, VHOST_USER_SET_VRING_NUM, 0, RF_QNUM);
		a.desc_user_addr = base;
		a.avail_user_addr = base + 0x1000;
		a.used_user_addr = base + 0x2000;
		rf_set_ok(&F, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
		rf_set_state(&F, VHOST_USER_SET_VRING_ENABLE, 0, 1);
		(void)rf_set(&F, VHOST_USER_SET_VRING_KICK, &v, sizeof(v), &kick, 1);
		usleep(300 * 1000);
		exit(1);
	}
	expect_nack(&F, ack);
}

/*
 * In-flight tracking (vhost-user.rst "Inflight I/O tracking"). The region a
 * front end hands over is mapped and written by the daemon, so every field
 * of SET_INFLIGHT_FD is hostile input, and an fd shorter than the region is
 * the same SIGBUS class as mem-region-beyond-fd.
 */
static struct vhost_user_inflight inflight_req(uint16_t nq, uint16_t qs)
{
	struct vhost_user_inflight in = {0};

	in.num_queues = nq;
	in.queue_size = qs;
	return in;
}

/* GET_INFLIGHT_FD; returns the reply's mmap_size (0: the daemon will not track). */
static uint64_t inflight_get(struct vhost_user_inflight in)
{
	struct vhost_user_inflight r;

	CHECK(F.pfeatures & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
	rf_send(&F, VHOST_USER_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0);
	CHECK_EQ(rf_recv(&F, VHOST_USER_GET_INFLIGHT_FD, &r, sizeof(r)), sizeof(r));
	return r.mmap_size;
}

/* A zeroed memfd of len bytes. */
static int inflight_memfd(uint64_t len)
{
	int fd = memfd_create("conf-inflight", MFD_CLOEXEC);

	CHECK(fd >= 0 && ftruncate(fd, (off_t)len) == 0);
	return fd;
}

/* SET_INFLIGHT_FD of size bytes at offset on an fd of fd_len bytes; returns the ack. */
static int64_t inflight_set(uint64_t size, uint64_t offset, uint64_t fd_len)
{
	struct vhost_user_inflight in = inflight_req(2, RF_QNUM);
	int fd = inflight_memfd(fd_len);
	int64_t ack;

	in.mmap_size = size;
	in.mmap_offset = offset;
	ack = rf_set(&F, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1);
	close(fd);
	return ack;
}

/* The size GET_INFLIGHT_FD gives for 2 queues of RF_QNUM (on a connection of its own). */
static uint64_t inflight_size(void)
{
	struct rf f = F;
	uint64_t size;

	rf_negotiate(&F, 0);
	size = inflight_get(inflight_req(2, RF_QNUM));
	CHECK(size > 0);
	rf_close(&F);
	F = f;
	return size;
}

static void vu_inflight_get_size(void)
{
	uint64_t v = 0;

	vu_open();
	send_bad(VHOST_USER_GET_INFLIGHT_FD, &v, sizeof(v), NULL, 0);
}

static void vu_inflight_get_too_many_queues(void)
{
	vu_open();
	CHECK_EQ(inflight_get(inflight_req(RF_MAXQ + 100, RF_QNUM)), 0);
	CHECK_EQ(inflight_get(inflight_req(0, RF_QNUM)), 0);
	expect_still_served(&F);
}

static void vu_inflight_get_bad_queue_size(void)
{
	vu_open();
	/* A split ring's size is a power of two (virtio 1.3 §2.7). */
	CHECK_EQ(inflight_get(inflight_req(2, 100)), 0);
	CHECK_EQ(inflight_get(inflight_req(2, 0)), 0);
	CHECK_EQ(inflight_get(inflight_req(2, 65535)), 0);
	expect_still_served(&F);
}

static void vu_inflight_set_no_fd(void)
{
	struct vhost_user_inflight in = inflight_req(2, RF_QNUM);

	vu_open();
	in.mmap_size = 4096;
	send_bad(VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), NULL, 0);
}

static void vu_inflight_set_wrong_size(void)
{
	uint64_t want = inflight_size();

	vu_open();
	expect_nack(&F, inflight_set(want + 16, 0, 2 * want + 64));
}

static void vu_inflight_set_fd_short(void)
{
	uint64_t want = inflight_size();

	vu_open();
	/* Right size in the message, half of it behind the fd: a SIGBUS if mapped. */
	expect_nack(&F, inflight_set(want, 0, want / 2));
}

static void vu_inflight_set_offset_past_fd(void)
{
	uint64_t want = inflight_size();

	vu_open();
	expect_nack(&F, inflight_set(want, 4096, want));
}

static void vu_inflight_set_misaligned(void)
{
	uint64_t want = inflight_size();

	vu_open();
	expect_nack(&F, inflight_set(want, 4, want + 4));
}

static void vu_inflight_set_ok(void)
{
	uint64_t want = inflight_size();

	vu_open();
	CHECK_EQ(inflight_set(want, 0, want), 0);
	/* Queues started on the region serve requests. */
	rf_start_queue(&F, 0);
	rf_start_queue(&F, 1);
	rf_rw_check(&F, 0, 40, 8);
	rf_rw_check(&F, 1, 48, 9);
	rf_close(&F);
	expect_new_connection_works();
}

/* SET_VRING_ADDR with rings that are not inside guest memory. */
static void vring_addr_case(uint64_t desc_off, uint64_t avail_off, uint64_t used_off)
{
	struct vhost_vring_addr a = {0};
	uint64_t base = (uint64_t)(uintptr_t)F.mem;

	rf_set_state(&F, VHOST_USER_SET_VRING_NUM, 0, RF_QNUM);
	a.index = 0;
	a.desc_user_addr = base + desc_off;
	a.avail_user_addr = base + avail_off;
	a.used_user_addr = base + used_off;
	expect_nack(&F, rf_set(&F, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0));
}

static void vu_rings_outside_memory(void)
{
	vu_open();
	vring_addr_case(RF_MEM_SIZE + 0x10000, 0x1000, 0x2000);
}

static void vu_used_ring_crosses_end(void)
{
	vu_open();
	vring_addr_case(0, 0x1000, RF_MEM_SIZE - 64);
}

static void vu_avail_ring_below_memory(void)
{
	vu_open();
	vring_addr_case(0, (uint64_t) - (int64_t)(uintptr_t)F.mem - 8, 0x2000);
}

static void vu_desc_misaligned(void)
{
	vu_open();
	vring_addr_case(8, 0x1000, 0x2000);
}

/* A new memory table that no longer holds a running queue's rings. */
static void vu_rings_outside_new_mem_table(void)
{
	const uint64_t h = RF_MEM_SIZE / 2;
	struct vhost_user_memory_region r[1] = {{h, h, 0, h}};

	rf_open(&F, 1, 0);
	rf_rw_check(&F, 0, 8, 1);
	/* Only the upper half: the rings (at the bottom) are no longer guest memory. */
	r[0].userspace_addr = (uint64_t)(uintptr_t)F.mem + h;
	expect_nack(&F, mem_table2(r, 1));
}

static void vu_vring_index(uint32_t req)
{
	uint8_t payload[sizeof(struct vhost_vring_addr)] = {0};
	uint32_t size;
	int fd = eventfd(0, EFD_CLOEXEC);
	const uint32_t idx = RF_MAXQ;

	vu_open();
	switch (req) {
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR: {
		uint64_t v = idx;

		memcpy(payload, &v, sizeof(v));
		size = sizeof(v);
		send_bad(req, payload, size, &fd, 1);
		break;
	}
	case VHOST_USER_SET_VRING_ADDR: {
		struct vhost_vring_addr a = {0};

		a.index = idx;
		a.desc_user_addr = (uint64_t)(uintptr_t)F.mem;
		a.avail_user_addr = a.desc_user_addr + 0x1000;
		a.used_user_addr = a.desc_user_addr + 0x2000;
		send_bad(req, &a, sizeof(a), NULL, 0);
		break;
	}
	default: {
		struct vhost_vring_state s = {idx, req == VHOST_USER_SET_VRING_ENABLE ? 1 : 16};

		send_bad(req, &s, sizeof(s), NULL, 0);
		break;
	}
	}
	close(fd);
}

static void vu_vring_index_num(void)
{
	vu_vring_index(VHOST_USER_SET_VRING_NUM);
}
static void vu_vring_index_addr(void)
{
	vu_vring_index(VHOST_USER_SET_VRING_ADDR);
}
static void vu_vring_index_base(void)
{
	vu_vring_index(VHOST_USER_SET_VRING_BASE);
}
static void vu_vring_index_get_base(void)
{
	vu_vring_index(VHOST_USER_GET_VRING_BASE);
}
static void vu_vring_index_kick(void)
{
	vu_vring_index(VHOST_USER_SET_VRING_KICK);
}
static void vu_vring_index_call(void)
{
	vu_vring_index(VHOST_USER_SET_VRING_CALL);
}
static void vu_vring_index_err(void)
{
	vu_vring_index(VHOST_USER_SET_VRING_ERR);
}
static void vu_vring_index_enable(void)
{
	vu_vring_index(VHOST_USER_SET_VRING_ENABLE);
}

static void vu_vring_fd_unknown_bits(void)
{
	uint64_t v = 0x10000;
	int fd = eventfd(0, EFD_CLOEXEC);

	vu_open();
	send_bad(VHOST_USER_SET_VRING_CALL, &v, sizeof(v), &fd, 1);
	close(fd);
}

static void qsize_case(uint32_t num)
{
	struct vhost_vring_state s = {0, num};

	vu_open();
	expect_nack(&F, rf_set(&F, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), NULL, 0));
}

static void vu_qsize_not_pow2(void)
{
	qsize_case(17);
}
static void vu_qsize_too_large(void)
{
	qsize_case(32768);
}
static void vu_qsize_zero(void)
{
	qsize_case(0);
}

static void vu_vring_base_too_large(void)
{
	struct vhost_vring_state s = {0, 0x10000};

	vu_open();
	expect_nack(&F, rf_set(&F, VHOST_USER_SET_VRING_BASE, &s, sizeof(s), NULL, 0));
}

static void vu_vring_enable_bad_value(void)
{
	struct vhost_vring_state s = {0, 2};

	vu_open();
	expect_nack(&F, rf_set(&F, VHOST_USER_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0));
}

static void vu_set_config_readonly_field(void)
{
	struct vhost_user_config c = {0};

	vu_open();
	c.offset = 0;
	c.size = 8;
	expect_nack(&F,
		    rf_set(&F, VHOST_USER_SET_CONFIG, &c, VHOST_USER_CONFIG_HDR_SIZE + 8, NULL, 0));
}

/* GET_CONFIG past the config space: an empty reply (how QEMU learns it failed). */
static void vu_get_config_out_of_range(void)
{
	struct vhost_user_config c = {0};

	vu_open();
	c.offset = 90;
	c.size = 10;
	rf_send(&F, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR_SIZE + 10, NULL, 0);
	CHECK_EQ(rf_recv(&F, VHOST_USER_GET_CONFIG, &c, sizeof(c)), 0);
	c.offset = UINT32_MAX - 3;
	c.size = 8;
	rf_send(&F, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR_SIZE + 8, NULL, 0);
	CHECK_EQ(rf_recv(&F, VHOST_USER_GET_CONFIG, &c, sizeof(c)), 0);
	CHECK(rf_get_u64(&F, VHOST_USER_GET_FEATURES) != 0);
	rf_close(&F);
	expect_new_connection_works();
}

static void vu_kick_nofd(void)
{
	uint64_t v = VHOST_USER_VRING_NOFD_MASK;

	vu_open();
	/* Polling mode is not implemented: refused, not a protocol error. */
	expect_nack(&F, rf_set(&F, VHOST_USER_SET_VRING_KICK, &v, sizeof(v), NULL, 0));
}

static void vu_unknown_request(void)
{
	vu_open();
	send_bad(9999, NULL, 0, NULL, 0);
}

static void vu_unimplemented_request(void)
{
	uint64_t v = 0;

	vu_open();
	/* POSTCOPY_ADVISE: VHOST_USER_PROTOCOL_F_PAGEFAULT is never offered. */
	send_bad(VHOST_USER_POSTCOPY_ADVISE, &v, sizeof(v), NULL, 0);
}

static void vu_bad_version(void)
{
	struct vhost_user_header h = {VHOST_USER_GET_FEATURES, 2, 0};

	vu_open();
	CHECK_EQ(rf_send_bytes(F.sock, &h, sizeof(h), NULL, 0), 0);
	expect_drop(&F);
}

static void vu_unoffered_feature(void)
{
	uint64_t v = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(63);

	vu_open();
	send_bad(VHOST_USER_SET_FEATURES, &v, sizeof(v), NULL, 0);
}

static void vu_unoffered_protocol_feature(void)
{
	uint64_t v = VIRTIO_BIT(VHOST_USER_PROTOCOL_F_PAGEFAULT);

	vu_open();
	send_bad(VHOST_USER_SET_PROTOCOL_FEATURES, &v, sizeof(v), NULL, 0);
}

/* Half a header, then the front end disappears. */
static void vu_truncated_header(void)
{
	struct vhost_user_header h = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0};
	int s = rf_connect_raw();

	CHECK_EQ(rf_send_bytes(s, &h, 6, NULL, 0), 0);
	close(s);
	expect_new_connection_works();
}

static void vu_second_client_refused(void)
{
	int s;

	rf_open(&F, 2, 0);
	s = rf_connect_raw();
	if (!rf_wait_eof(s)) {
		fprintf(stderr, "a second concurrent client was not refused\n");
		exit(1);
	}
	close(s);
	/* The first one keeps working. */
	rf_rw_check(&F, 0, 8, 1);
	rf_rw_check(&F, 1, 16, 2);
	rf_close(&F);
	expect_new_connection_works();
}

/* ------------------------------------------------------------------------ */
/* The table and the runner                                                 */

#define C(g, n, f)                                                                                 \
	{                                                                                          \
		g, n, f, false                                                                     \
	}
static const struct conf_case cases[] = {
    C("ring", "descriptor-loop", ring_loop),
    C("ring", "chain-longer-than-queue", ring_chain_longer_than_queue),
    C("ring", "indirect-chain-longer-than-seg-max", ring_indirect_chain_too_long),
    C("ring", "next-ge-queue-size", ring_next_ge_size),
    C("ring", "avail-head-ge-queue-size", ring_avail_head_ge_size),
    C("ring", "nested-indirect", ring_nested_indirect),
    C("ring", "indirect-len-0", ring_indirect_len_0),
    C("ring", "indirect-len-not-multiple-of-16", ring_indirect_len_not_multiple_16),
    C("ring", "indirect-with-next", ring_indirect_with_next),
    C("ring", "indirect-not-negotiated", ring_indirect_not_negotiated),
    C("ring", "indirect-table-unmapped", ring_indirect_table_unmapped),
    C("ring", "indirect-loop", ring_indirect_loop),
    C("ring", "indirect-next-beyond-table", ring_indirect_next_beyond_table),
    C("ring", "unmapped-address", ring_unmapped_address),
    C("ring", "buffer-crosses-end-of-memory", ring_buffer_crosses_end_of_memory),
    C("ring", "addr-len-overflow", ring_addr_len_overflow),
    C("ring", "zero-length-descriptor", ring_zero_length_descriptor),
    C("ring", "readable-after-writable", ring_readable_after_writable),
    C("ring", "avail-idx-more-than-queue-size", ring_avail_idx_too_far),
    C("ring", "avail-idx-backwards", ring_avail_idx_backwards),
    C("ring", "same-head-twice-in-flight", ring_head_twice_in_flight),

    C("request", "header-short", req_header_short),
    C("request", "header-in-writable-descriptor", req_header_in_writable),
    C("request", "header-split-across-descriptors-ok", req_header_split),
    C("request", "status-in-data-descriptor-ok", req_status_in_data_descriptor),
    C("request", "status-missing", req_status_missing),
    C("request", "status-in-readonly-descriptor", req_status_in_readonly_descriptor),
    C("request", "read-into-readonly-buffer", req_read_into_readonly_buffer),
    C("request", "write-from-writable-buffer", req_write_from_writable_buffer),
    C("request", "len-not-multiple-of-512", req_len_not_multiple_of_512),
    C("request", "zero-length-data", req_zero_length_data),
    C("request", "sector-past-capacity", req_sector_past_capacity),
    C("request", "sector-len-overflow", req_sector_len_overflow),
    C("request", "unknown-type", req_unknown_type),
    C("request", "get-lifetime-unsupported", req_get_lifetime_unsupported),
    C("request", "discard-unmap-flag", req_discard_unmap_flag),
    C("request", "write-zeroes-unknown-flag", req_dwz_unknown_flag),
    C("request", "write-zeroes-bad-payload", req_dwz_bad_payload),
    C("request", "write-zeroes-reads-zero", req_write_zeroes_reads_zero),
    C("request", "used-len-read", req_used_len_read),
    C("request", "used-len-write-flush", req_used_len_write_flush),
    C("request", "used-len-get-id", req_used_len_get_id),
    {"request", "write-on-ro-disk", req_write_on_ro, true},

    C("vhost-user", "size-get-features", vu_size_get_features),
    C("vhost-user", "size-set-features", vu_size_set_features),
    C("vhost-user", "size-set-vring-num", vu_size_set_vring_num),
    C("vhost-user", "size-set-vring-addr", vu_size_set_vring_addr),
    C("vhost-user", "size-set-vring-kick", vu_size_set_vring_kick),
    C("vhost-user", "size-mem-table", vu_size_mem_table),
    C("vhost-user", "size-config", vu_size_config),
    C("vhost-user", "size-over-max", vu_size_over_max),
    C("vhost-user", "fd-missing-kick", vu_fd_missing_kick),
    C("vhost-user", "fd-missing-mem-table", vu_fd_missing_mem_table),
    C("vhost-user", "fd-too-many", vu_fd_too_many),
    C("vhost-user", "fd-surplus-closed", vu_fd_surplus_closed),
    C("vhost-user", "vring-index-set-num", vu_vring_index_num),
    C("vhost-user", "vring-index-set-addr", vu_vring_index_addr),
    C("vhost-user", "vring-index-set-base", vu_vring_index_base),
    C("vhost-user", "vring-index-get-base", vu_vring_index_get_base),
    C("vhost-user", "vring-index-set-kick", vu_vring_index_kick),
    C("vhost-user", "vring-index-set-call", vu_vring_index_call),
    C("vhost-user", "vring-index-set-err", vu_vring_index_err),
    C("vhost-user", "vring-index-set-enable", vu_vring_index_enable),
    C("vhost-user", "vring-fd-unknown-bits", vu_vring_fd_unknown_bits),
    C("vhost-user", "queue-size-not-power-of-2", vu_qsize_not_pow2),
    C("vhost-user", "queue-size-too-large", vu_qsize_too_large),
    C("vhost-user", "queue-size-zero", vu_qsize_zero),
    C("vhost-user", "vring-base-too-large", vu_vring_base_too_large),
    C("vhost-user", "vring-enable-bad-value", vu_vring_enable_bad_value),
    C("vhost-user", "mem-overlapping-regions", vu_mem_overlap),
    C("vhost-user", "mem-gpa-size-overflow", vu_mem_gpa_overflow),
    C("vhost-user", "mem-uva-size-overflow", vu_mem_uva_overflow),
    C("vhost-user", "mem-nregions-ne-fds", vu_mem_nregions_ne_fds),
    C("vhost-user", "mem-nregions-gt-8", vu_mem_nregions_gt_8),
    C("vhost-user", "mem-nregions-0", vu_mem_nregions_0),
    C("vhost-user", "mem-fd-not-mappable", vu_mem_fd_not_mappable),
    C("vhost-user", "mem-region-beyond-fd", vu_mem_region_beyond_fd),
    C("vhost-user", "inflight-get-wrong-size", vu_inflight_get_size),
    C("vhost-user", "inflight-get-too-many-queues", vu_inflight_get_too_many_queues),
    C("vhost-user", "inflight-get-bad-queue-size", vu_inflight_get_bad_queue_size),
    C("vhost-user", "inflight-set-no-fd", vu_inflight_set_no_fd),
    C("vhost-user", "inflight-set-wrong-size", vu_inflight_set_wrong_size),
    C("vhost-user", "inflight-set-fd-shorter-than-region", vu_inflight_set_fd_short),
    C("vhost-user", "inflight-set-offset-past-fd", vu_inflight_set_offset_past_fd),
    C("vhost-user", "inflight-set-misaligned-offset", vu_inflight_set_misaligned),
    C("vhost-user", "inflight-set-ok", vu_inflight_set_ok),
    C("vhost-user", "rings-outside-memory", vu_rings_outside_memory),
    C("vhost-user", "used-ring-crosses-end-of-memory", vu_used_ring_crosses_end),
    C("vhost-user", "avail-ring-below-memory", vu_avail_ring_below_memory),
    C("vhost-user", "desc-ring-misaligned", vu_desc_misaligned),
    C("vhost-user", "rings-outside-new-mem-table", vu_rings_outside_new_mem_table),
    C("vhost-user", "set-config-readonly-field", vu_set_config_readonly_field),
    C("vhost-user", "get-config-out-of-range", vu_get_config_out_of_range),
    C("vhost-user", "kick-without-fd", vu_kick_nofd),
    C("vhost-user", "unknown-request", vu_unknown_request),
    C("vhost-user", "unimplemented-request", vu_unimplemented_request),
    C("vhost-user", "bad-version", vu_bad_version),
    C("vhost-user", "unoffered-feature", vu_unoffered_feature),
    C("vhost-user", "unoffered-protocol-feature", vu_unoffered_protocol_feature),
    C("vhost-user", "truncated-header", vu_truncated_header),
    C("vhost-user", "second-client-refused", vu_second_client_refused),
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static const struct conf_table main_cases = {cases, NCASES};
/* Every table of cases, in the order they run. */
static const struct conf_table *const tables[] = {&main_cases,		&conf_control_cases,
						  &conf_packed_cases,	&conf_backend_cases,
						  &conf_memslots_cases, &conf_log_cases};

const char *conf_vblkd;
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define vblkd	      conf_vblkd

static unsigned n_all_cases(void)
{
	unsigned n = 0;

	for (unsigned t = 0; t < ARRAY_SIZE(tables); t++)
		n += tables[t]->n;
	return n;
}

/* The k-th case over every table. */
static const struct conf_case *case_at(unsigned k)
{
	for (unsigned t = 0; t < ARRAY_SIZE(tables); t++) {
		if (k < tables[t]->n)
			return &tables[t]->cases[k];
		k -= tables[t]->n;
	}
	return NULL;
}

static void daemon_log_tail(const struct daemon *d)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "tail -n 25 '%s' | sed 's/^/# vblkd: /'", d->log);
	fflush(stdout);
	if (system(cmd) != 0)
		printf("# (no daemon log)\n");
}

bool daemon_start(struct daemon *d)
{
	char disk[512], dir[sizeof(d->dir)];

	memcpy(dir, d->dir, sizeof(dir));
	snprintf(d->sock, sizeof(d->sock), "%s/vhost%s.sock", dir, d->tag);
	snprintf(d->img, sizeof(d->img), "%s/disk%s.img", dir, d->tag);
	snprintf(d->log, sizeof(d->log), "%s/vblkd%s.log", dir, d->tag);
	snprintf(disk, sizeof(disk), "%s,serial=%s,queues=2%s", d->img, SERIAL, d->opts);
	/* A read-only daemon needs the image to exist already. */
	if (access(d->img, F_OK)) {
		int fd = open(d->img, O_CREAT | O_RDWR | O_CLOEXEC, 0644);

		if (fd < 0 || ftruncate(fd, IMG_SIZE)) {
			printf("# cannot create %s: %s\n", d->img, strerror(errno));
			return false;
		}
		close(fd);
	}
	fflush(stdout);
	d->pid = fork();
	if (d->pid < 0)
		return false;
	if (d->pid == 0) {
		int fd = open(d->log, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(vblkd, vblkd, "--socket", d->sock, "--disk", disk, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 400; i++) {
		struct stat st;
		int status;

		if (stat(d->sock, &st) == 0 && S_ISSOCK(st.st_mode))
			return true;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			printf("# vblkd exited before creating its socket\n");
			daemon_log_tail(d);
			d->pid = 0;
			return false;
		}
		usleep(25 * 1000);
	}
	printf("# vblkd did not create %s\n", d->sock);
	return false;
}

/* SIGTERM: the daemon must finish, flush and exit 0 (and, under ASan, leak nothing). */
bool daemon_stop(struct daemon *d, char *why, size_t whylen)
{
	int status;

	if (d->pid <= 0)
		return true;
	kill(d->pid, SIGTERM);
	for (int i = 0; i < 400; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				return true;
			snprintf(why, whylen, "vblkd exited with %s %d after SIGTERM",
				 WIFEXITED(status) ? "status" : "signal",
				 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			return false;
		}
		usleep(25 * 1000);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
	snprintf(why, whylen, "vblkd did not exit within 10 s of SIGTERM");
	return false;
}

/* Has the daemon died during the case? */
static bool daemon_died(struct daemon *d, char *why, size_t whylen)
{
	int status;

	if (d->pid <= 0 || waitpid(d->pid, &status, WNOHANG) != d->pid)
		return false;
	d->pid = 0;
	snprintf(why, whylen, "vblkd died: %s %d", WIFEXITED(status) ? "exit status" : "signal",
		 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return true;
}

static int run_case(const struct conf_case *c, struct daemon *d)
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		/* Nothing of the case goes to stdout: that is the TAP stream. */
		dup2(2, 1);
		alarm(CASE_ALARM);
		rf_sock_path = d->sock;
		fprintf(stderr, "--- %s/%s\n", c->group, c->name);
		c->fn();
		exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "%s: killed by signal %d%s\n", c->name, WTERMSIG(status),
			WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
		return 1;
	}
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	struct daemon dm[2] = {{.tag = "", .opts = ""}, {.tag = "-ro", .opts = ",ro"}};
	const char *group, *only;
	char tmpl[] = "/tmp/vblk-conf.XXXXXX", why[256];
	unsigned n = 0, failed = 0, num = 0;

	if (argc < 3) {
		fprintf(stderr,
			"usage: conformance VBLKD ring|request|vhost-user|control|ring-packed|"
			"request-packed|all [CASE]\n");
		return 2;
	}
	vblkd = argv[1];
	group = argv[2];
	only = argc > 3 ? argv[3] : NULL;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	for (unsigned i = 0; i < 2; i++)
		snprintf(dm[i].dir, sizeof(dm[i].dir), "%s", tmpl);

	for (unsigned t = 0; t < ARRAY_SIZE(tables); t++)
		for (unsigned i = 0; i < tables[t]->n; i++)
			if ((!strcmp(group, "all") || !strcmp(group, tables[t]->cases[i].group)) &&
			    (!only || !strcmp(only, tables[t]->cases[i].name)))
				n++;
	printf("1..%u\n", n + 1);
	for (unsigned k = 0; k < n_all_cases(); k++) {
		const struct conf_case *c = case_at(k);
		struct daemon *d = &dm[c->ro];
		int rc;

		if ((strcmp(group, "all") && strcmp(group, c->group)) ||
		    (only && strcmp(only, c->name)))
			continue;
		num++;
		if (d->pid <= 0 && !daemon_start(d)) {
			printf("not ok %u - %s/%s # cannot start vblkd\n", num, c->group, c->name);
			failed++;
			continue;
		}
		rc = run_case(c, d);
		if (daemon_died(d, why, sizeof(why))) {
			printf("not ok %u - %s/%s # %s\n", num, c->group, c->name, why);
			daemon_log_tail(d);
			failed++;
			continue;
		}
		if (rc == 0) {
			printf("ok %u - %s/%s\n", num, c->group, c->name);
		} else if (rc == T_SKIP) {
			printf("ok %u - %s/%s # SKIP\n", num, c->group, c->name);
		} else {
			printf("not ok %u - %s/%s\n", num, c->group, c->name);
			failed++;
		}
	}
	/* The daemons survived everything: they must still shut down cleanly. */
	{
		bool ok = true;

		why[0] = 0;
		for (unsigned i = 0; i < 2; i++)
			if (!daemon_stop(&dm[i], why, sizeof(why))) {
				ok = false;
				daemon_log_tail(&dm[i]);
			}
		printf("%s %u - %s/daemon-clean-exit%s%s\n", ok ? "ok" : "not ok", num + 1, group,
		       ok ? "" : " # ", why);
		failed += !ok;
	}
	/* CONFORMANCE_KEEP=1 keeps the images and the daemon logs. */
	if (getenv("CONFORMANCE_KEEP")) {
		fprintf(stderr, "kept %s\n", tmpl);
	} else {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpl);
	}
	return failed ? 1 : 0;
}
