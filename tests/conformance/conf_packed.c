/* SPDX-License-Identifier: MIT */
/*
 * Conformance cases on packed rings (virtio 1.3 §2.8), each laid out by hand
 * through raw_front's packed helpers:
 *
 *   ring-packed     every malformed-ring class that applies to a packed ring
 *                   (list length, buffer IDs, wrap counters, indirect rules,
 *                   addresses, descriptor order): the queue breaks — error
 *                   eventfd, no used element and no other write into the
 *                   ring, nothing more taken from it, the other queue keeps
 *                   serving; and a slot that is not available is not taken
 *   request-packed  the request-level cases once on a packed ring (status
 *                   byte, used element ID and len), and what only a packed
 *                   ring has: the ID in the last descriptor, lists across the
 *                   ring end, out-of-order IDs, indirect entries' reserved
 *                   fields
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "conf.h"
#include "test.h"

#define F_N VIRTQ_DESC_F_NEXT
#define F_W VIRTQ_DESC_F_WRITE
#define F_I VIRTQ_DESC_F_INDIRECT

static void open_packed(uint64_t want)
{
	rf_open(&F, 2, want);
	CHECK(F.q[0].packed && F.q[1].packed);
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 0);
}

static void p_open(void)
{
	open_packed(RF_FEATURES_PACKED);
}

/* Make the list available on queue 0 and kick. */
static void publish(const struct rf_seg *s, unsigned n, uint16_t id)
{
	rf_plist(&F.q[0], s, n, id);
	rf_kick(&F.q[0]);
}

static void both_queues_serve(void)
{
	rf_rw_check(&F, 0, 32, 4);
	rf_rw_check(&F, 1, 64, 5);
}

/* The next used element on queue 0 is buffer id with len used_len and status byte *st == want. */
static void expect_done_at(uint16_t id, uint32_t used_len, const uint8_t *st, uint8_t want)
{
	uint32_t got, len;

	rf_must_use(&F.q[0], &got, &len);
	CHECK_EQ(got, id);
	CHECK_EQ(len, used_len);
	CHECK_EQ(*st, want);
}

/* The same, with the status byte at RF_STATUS(0). */
static void expect_done(uint16_t id, uint32_t used_len, uint8_t want)
{
	expect_done_at(id, used_len, rf_ptr(&F, RF_STATUS(0)), want);
}

/* The error eventfd of queue qi is signalled within the timeout. */
static void wait_err_signalled(unsigned qi)
{
	if (!rf_wait_readable(F.q[qi].err, RF_TIMEOUT_MS)) {
		fprintf(stderr, "queue %u: error eventfd not signalled\n", qi);
		exit(1);
	}
}

/* ------------------------------------------------------------------------ */
/* The broken-queue outcome                                                 */

/* Where a bad buffer starts, and the descriptor ring as the driver left it. */
struct bad_buf {
	unsigned qi;
	uint16_t slot;
	bool wrap;
	struct virtq_packed_desc ring[RF_QNUM];
};

static void bad_begin(struct bad_buf *b, unsigned qi)
{
	b->qi = qi;
	b->slot = F.q[qi].pavail;
	b->wrap = F.q[qi].avail_wrap;
}

static void bad_snapshot(struct bad_buf *b)
{
	memcpy(b->ring, F.q[b->qi].pdesc, sizeof(b->ring));
}

/*
 * docs/spec-notes.md "Error policy": a corrupt ring stops that queue: error
 * eventfd, no used element (on a packed ring: the device writes nothing into
 * the descriptor ring at all), nothing more taken from it; the other queue
 * keeps serving.
 */
static void expect_broken(struct bad_buf *b)
{
	struct rf_queue *q = &F.q[b->qi], *o = &F.q[1 - b->qi];
	struct rf_seg flush[] = {{RF_HDR(b->qi), 16, 0}, {RF_STATUS(b->qi), 1, F_W}};
	eventfd_t v;

	wait_err_signalled(b->qi);
	CHECK_EQ(eventfd_read(q->err, &v), 0);
	expect_no_used(q, 100);
	if (memcmp(b->ring, q->pdesc, sizeof(b->ring))) {
		fprintf(stderr, "queue %u: the device wrote into the ring of the bad buffer\n",
			b->qi);
		exit(1);
	}
	/* The other queue is unaffected. */
	rf_rw_check(&F, 1 - b->qi, 64, 3);
	CHECK(!rf_wait_readable(o->err, 0));
	/* The broken queue stays stopped, even once the bad buffer's slots hold a valid one. */
	q->pavail = b->slot;
	q->avail_wrap = b->wrap;
	rf_hdr(&F, b->qi, VIRTIO_BLK_T_FLUSH, 0);
	rf_plist(q, flush, 2, RF_QNUM - 1);
	rf_kick(q);
	expect_no_used(q, 200);
	rf_close(&F);
}

/* Publish the list as the bad buffer on queue 0 (connection already open) and expect the break. */
static void bad_list_open(const struct rf_seg *s, unsigned n, uint16_t id)
{
	struct bad_buf b;

	bad_begin(&b, 0);
	rf_plist(&F.q[0], s, n, id);
	bad_snapshot(&b);
	rf_kick(&F.q[0]);
	expect_broken(&b);
}

static void bad_list(const struct rf_seg *s, unsigned n, uint16_t id)
{
	p_open();
	bad_list_open(s, n, id);
}

/* ------------------------------------------------------------------------ */
/* Ring level: lists, buffer IDs, wrap counters                             */

/*
 * §2.8.6: a list never holds more descriptors than the ring has slots. All
 * 16 slots carry NEXT (all readable, a write, so no other rule fires first):
 * the list runs on into slot 0 of the next lap.
 */
static void ring_chain_longer_than_queue(void)
{
	struct rf_seg s[RF_QNUM];

	s[0] = (struct rf_seg){RF_HDR(0), 16, 0};
	for (unsigned i = 1; i < RF_QNUM; i++)
		s[i] = (struct rf_seg){RF_DATA(0) + 512 * i, 512, 0};
	s[RF_QNUM - 1].flags = F_N;
	p_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 0);
	bad_list_open(s, RF_QNUM, 0);
}

/* A 3-descriptor read; the data descriptor's flags are AVAIL/USED as given. */
static void list_with_middle_flags(uint16_t mid_wrap_bits)
{
	struct rf_queue *q = &F.q[0];
	struct bad_buf b;

	bad_begin(&b, 0);
	rf_pdesc(q, 2, RF_STATUS(0), 1, 0, F_W | rf_p_avail_bits(true));
	rf_pdesc(q, 1, RF_DATA(0), 512, 0, F_N | F_W | mid_wrap_bits);
	rf_pdesc(q, 0, RF_HDR(0), 16, 0, F_N | rf_p_avail_bits(true));
	bad_snapshot(&b);
	rf_kick(q);
	expect_broken(&b);
}

/*
 * §2.8.6 / §2.8.21.1: every descriptor of a list is made available (AVAIL
 * and USED for the driver wrap counter) before the first one; a list whose
 * second slot still says "not available" (the bits of the other wrap
 * counter) is a list the driver never finished.
 */
static void ring_list_descriptor_not_available(void)
{
	p_open();
	list_with_middle_flags(rf_p_avail_bits(false));
}

/* The same with the second slot's bits saying "used" (AVAIL == USED, §2.8.1). */
static void ring_list_descriptor_marked_used(void)
{
	p_open();
	list_with_middle_flags(RF_P_AVAIL | RF_P_USED);
}

/* Seven 2-slot flushes on queue 0 bring the driver to slot 14 of the first lap. */
static void flush_to_slot_14(void)
{
	for (unsigned i = 0; i < 7; i++) {
		uint32_t ulen;

		CHECK_EQ(rf_io(&F, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, &ulen),
			 VIRTIO_BLK_S_OK);
		CHECK_EQ(ulen, 1);
	}
	CHECK(F.q[0].pavail == 14 && F.q[0].avail_wrap);
}

/*
 * §2.8.1: the driver wrap counter toggles when a list runs past the end of
 * the ring. A list in slots 14, 15, 0 whose slot 0 still has the first lap's
 * bits is not available there.
 */
static void ring_list_wraps_without_toggling(void)
{
	struct rf_queue *q = &F.q[0];
	struct bad_buf b;

	p_open();
	flush_to_slot_14();
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 0);
	bad_begin(&b, 0);
	rf_pdesc(q, 0, RF_STATUS(0), 1, 0, F_W | rf_p_avail_bits(true));
	rf_pdesc(q, 15, RF_DATA(0), 512, 0, F_N | F_W | rf_p_avail_bits(true));
	rf_pdesc(q, 14, RF_HDR(0), 16, 0, F_N | rf_p_avail_bits(true));
	bad_snapshot(&b);
	rf_kick(q);
	expect_broken(&b);
}

/* A valid 3-descriptor read. */
static const struct rf_seg read3[] = {
    {RF_HDR(0), 16, 0}, {RF_DATA(0), 512, F_W}, {RF_STATUS(0), 1, F_W}};

/* vblkd's policy, as Linux and QEMU use them: buffer IDs are below the queue size. */
static void ring_buffer_id_ge_queue_size(void)
{
	bad_list(read3, 3, RF_QNUM);
}

/*
 * §2.8.21: the driver reuses a buffer ID only after the device returned it.
 * Two buffers with ID 0 in one kick: the first (a read, in flight in the
 * backend until the batch is submitted) completes; the second is refused.
 */
static void ring_buffer_id_in_flight(void)
{
	const struct rf_seg s[] = {
	    {RF_HDR(0), 16, 0}, {RF_DATA(0), 4096, F_W}, {RF_STATUS(0), 1, F_W}};
	struct rf_queue *q;
	struct bad_buf b;

	p_open();
	q = &F.q[0];
	rf_plist(q, s, 3, 0);
	bad_begin(&b, 0);
	rf_plist(q, s, 3, 0);
	rf_kick(q);
	wait_err_signalled(0);
	/* The first one was legitimately in flight: it completes. */
	expect_done(0, 4097, VIRTIO_BLK_S_OK);
	bad_snapshot(&b);
	expect_broken(&b);
}

/*
 * §2.8.1: a slot whose AVAIL/USED bits do not say "available in the current
 * lap" is not taken — not an error either: the device waits for it. Each
 * wrong pattern in turn is kicked and must stay untouched; then the right
 * one is served.
 */
static void ring_slot_not_available_not_taken(void)
{
	const uint16_t wrong[] = {0, RF_P_AVAIL | RF_P_USED, rf_p_avail_bits(false)};
	struct rf_queue *q;

	p_open();
	q = &F.q[0];
	rf_hdr(&F, 0, VIRTIO_BLK_T_FLUSH, 0);
	rf_pdesc(q, 1, RF_STATUS(0), 1, 3, F_W | rf_p_avail_bits(true));
	for (unsigned i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		struct virtq_packed_desc ring[RF_QNUM];

		/*
		 * AVAIL|USED would look used to rf_wait_used too: the device's
		 * silence is its call eventfd, the ring and the status byte unchanged.
		 */
		rf_pdesc(q, 0, RF_HDR(0), 16, 3, F_N | wrong[i]);
		memcpy(ring, q->pdesc, sizeof(ring));
		rf_kick(q);
		CHECK(!rf_wait_readable(q->call, 200));
		CHECK(memcmp(ring, q->pdesc, sizeof(ring)) == 0);
		CHECK_EQ(rf_status(&F, 0), 0xff);
		CHECK(!rf_wait_readable(q->err, 0));
	}
	q->slots[3] = 2;
	rf_p_advance(&q->pavail, &q->avail_wrap, 2);
	rf_pdesc(q, 0, RF_HDR(0), 16, 3, F_N | rf_p_avail_bits(true));
	rf_kick(q);
	expect_done(3, 1, VIRTIO_BLK_S_OK);
	CHECK(!rf_wait_readable(q->err, 0));
	both_queues_serve();
}

/* The packed SET_VRING_BASE value (vhost-user.rst) for these positions. */
static uint32_t base_of(unsigned avail, bool avail_wrap, unsigned used, bool used_wrap)
{
	return avail | (uint32_t)avail_wrap << 15 | used << 16 | (uint32_t)used_wrap << 31;
}

/*
 * §2.8.21.1: the driver fills only free slots. Started with 8 slots in
 * flight (used position 0, driver at 8: what a reconnect finds), a list of 9
 * would cover the first of them.
 */
static void ring_list_longer_than_free_slots(void)
{
	struct rf_seg s[9];

	rf_negotiate(&F, RF_FEATURES_PACKED);
	rf_start_queue_at(&F, 0, base_of(8, true, 0, true));
	rf_start_queue(&F, 1);
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 0);
	s[0] = (struct rf_seg){RF_HDR(0), 16, 0};
	for (unsigned i = 1; i < 8; i++)
		s[i] = (struct rf_seg){RF_DATA(0) + 512 * i, 512, F_W};
	s[8] = (struct rf_seg){RF_STATUS(0), 1, F_W};
	bad_list_open(s, 9, 0);
}

/*
 * A packed SET_VRING_BASE the ring cannot have: a position past the ring, or
 * a driver more than a ring ahead of the used position. vblkd refuses to
 * start the queue (a nonzero ack, the queue serves nothing), and the
 * connection goes on.
 */
static void ring_vring_base_out_of_range(void)
{
	const uint32_t bad[] = {base_of(RF_QNUM, true, 0, true), base_of(0, true, RF_QNUM, true),
				base_of(4, false, 0, true)};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct rf_seg flush[] = {{RF_HDR(0), 16, 0}, {RF_STATUS(0), 1, F_W}};
		uint32_t req;
		int64_t ack;

		fprintf(stderr, "base %#x\n", bad[i]);
		rf_negotiate(&F, RF_FEATURES_PACKED);
		ack = rf_try_start_queue_at(&F, 0, bad[i], &req);
		if (ack <= 0) {
			fprintf(stderr, "base %#x: %s\n", bad[i],
				ack ? "the daemon hung up" : "the queue started");
			exit(1);
		}
		rf_hdr(&F, 0, VIRTIO_BLK_T_FLUSH, 0);
		F.q[0].pavail = 0;
		F.q[0].avail_wrap = true;
		publish(flush, 2, 1);
		CHECK(!rf_wait_readable(F.q[0].call, 200));
		CHECK_EQ(rf_status(&F, 0), 0xff);
		expect_still_served(&F);
	}
}

/* ------------------------------------------------------------------------ */
/* Ring level: indirect tables (§2.8.7)                                     */

/* A valid 3-entry read in the packed indirect table at t. */
static void table_read_chain(uint64_t t)
{
	rf_ptable_desc(&F, t, 0, RF_HDR(0), 16, 0, 0);
	rf_ptable_desc(&F, t, 1, RF_DATA(0), 512, 0, F_W);
	rf_ptable_desc(&F, t, 2, RF_STATUS(0), 1, 0, F_W);
}

/* The bad buffer is one ring descriptor (addr, len) with INDIRECT. */
static void bad_indirect(uint64_t addr, uint32_t len)
{
	const struct rf_seg s = {addr, len, F_I};

	bad_list_open(&s, 1, 0);
}

static void ring_nested_indirect(void)
{
	p_open();
	table_read_chain(RF_INDIR(0) + 0x100);
	rf_ptable_desc(&F, RF_INDIR(0), 0, RF_INDIR(0) + 0x100, 48, 0, F_I);
	bad_indirect(RF_INDIR(0), 16);
}

/* §2.8.19: a driver MUST NOT set both INDIRECT and NEXT. */
static void ring_indirect_with_next(void)
{
	const struct rf_seg s[] = {{RF_INDIR(0), 48, F_I}, {RF_STATUS(0) + 1, 1, F_W}};

	p_open();
	table_read_chain(RF_INDIR(0));
	bad_list_open(s, 2, 0);
}

/*
 * §2.8.7 describes the indirect descriptor as the whole buffer; vblkd's
 * policy (Linux and QEMU never do otherwise) is to refuse one that ends a
 * list of direct descriptors.
 */
static void ring_indirect_inside_list(void)
{
	const struct rf_seg s[] = {{RF_HDR(0), 16, 0}, {RF_INDIR(0), 32, F_I}};

	p_open();
	rf_ptable_desc(&F, RF_INDIR(0), 0, RF_DATA(0), 512, 0, F_W);
	rf_ptable_desc(&F, RF_INDIR(0), 1, RF_STATUS(0), 1, 0, F_W);
	bad_list_open(s, 2, 0);
}

static void ring_indirect_len_0(void)
{
	p_open();
	table_read_chain(RF_INDIR(0));
	bad_indirect(RF_INDIR(0), 0);
}

static void ring_indirect_len_not_multiple_16(void)
{
	p_open();
	table_read_chain(RF_INDIR(0));
	bad_indirect(RF_INDIR(0), 40);
}

static void ring_indirect_not_negotiated(void)
{
	open_packed(RF_FEATURES_PACKED & ~VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	CHECK(!(F.features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)));
	table_read_chain(RF_INDIR(0));
	bad_indirect(RF_INDIR(0), 48);
}

static void ring_indirect_table_unmapped(void)
{
	p_open();
	bad_indirect(RF_MEM_SIZE + 0x1000, 48);
}

static void ring_indirect_table_crosses_end_of_memory(void)
{
	p_open();
	bad_indirect(RF_MEM_SIZE - 32, 48);
}

/* More entries than seg_max + header + status (and any iov bound). */
static void ring_indirect_chain_too_long(void)
{
	const unsigned n = 3000;

	p_open();
	CHECK(16 * n <= 0xC000);
	rf_ptable_desc(&F, RF_INDIR(0), 0, RF_HDR(0), 16, 0, 0);
	for (unsigned i = 1; i < n - 1; i++)
		rf_ptable_desc(&F, RF_INDIR(0), i, RF_DATA(0), 512, 0, F_W);
	rf_ptable_desc(&F, RF_INDIR(0), n - 1, RF_STATUS(0), 1, 0, F_W);
	bad_indirect(RF_INDIR(0), 16 * n);
}

/* Entries 0 (readable), 1 (writable), 2 readable again. */
static void ring_indirect_entry_readable_after_writable(void)
{
	p_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 0);
	rf_ptable_desc(&F, RF_INDIR(0), 0, RF_HDR(0), 16, 0, 0);
	rf_ptable_desc(&F, RF_INDIR(0), 1, RF_STATUS(0), 1, 0, F_W);
	rf_ptable_desc(&F, RF_INDIR(0), 2, RF_DATA(0), 512, 0, 0);
	bad_indirect(RF_INDIR(0), 48);
}

/* ------------------------------------------------------------------------ */
/* Ring level: buffers                                                      */

/*
 * Data buffers no descriptor may name: not in guest memory, across its end,
 * addr + len past 2^64, or empty. Each as the data descriptor of a read in
 * the ring, then as the data entry of an indirect table.
 */
static const struct {
	const char *what;
	uint64_t addr;
	uint32_t len;
} bad_bufs[] = {
    {"unmapped", RF_MEM_SIZE + 0x1000, 512},
    {"crosses the end of memory", RF_MEM_SIZE - 256, 512},
    {"addr + len overflows", UINT64_MAX - 255, 1024},
    {"zero length", RF_DATA(0), 0},
};

static void bad_buf(unsigned i, bool indirect)
{
	const struct rf_seg s[] = {
	    {RF_HDR(0), 16, 0}, {bad_bufs[i].addr, bad_bufs[i].len, F_W}, {RF_STATUS(0), 1, F_W}};

	fprintf(stderr, "data buffer %s, %s\n", bad_bufs[i].what,
		indirect ? "in an indirect table" : "in the ring");
	p_open();
	if (!indirect) {
		bad_list_open(s, 3, 0);
		return;
	}
	for (unsigned e = 0; e < 3; e++)
		rf_ptable_desc(&F, RF_INDIR(0), e, s[e].addr, s[e].len, 0, s[e].flags);
	bad_indirect(RF_INDIR(0), 48);
}

static void ring_bad_data_buffers(void)
{
	for (unsigned i = 0; i < sizeof(bad_bufs) / sizeof(bad_bufs[0]); i++) {
		bad_buf(i, false);
		bad_buf(i, true);
	}
}

/* §2.8.18: device-writable descriptors follow all device-readable ones. */
static void ring_readable_after_writable(void)
{
	const struct rf_seg s[] = {
	    {RF_HDR(0), 16, 0}, {RF_STATUS(0), 1, F_W}, {RF_DATA(0), 512, 0}};

	p_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 0);
	bad_list_open(s, 3, 0);
}

/* ------------------------------------------------------------------------ */
/* Request level                                                            */

/* One buffer with ID id on queue 0 completes with status st and len; both queues go on. */
static void expect_status(uint16_t id, uint8_t st, uint32_t used_len)
{
	expect_done(id, used_len, st);
	CHECK(!rf_wait_readable(F.q[0].err, 0));
	both_queues_serve();
}

/*
 * Requests as rf_io lays them out (header, data, status), by class, with the
 * status byte and used len each must get.
 */
static const struct io_row {
	const char *cls;
	uint32_t type;
	bool from_end; /* sector is added to the capacity (mod 2^64) */
	uint64_t sector;
	uint32_t len;
	bool dev_writes;
	uint8_t st;
	uint32_t used_len;
} io_rows[] = {
    {"len-not-multiple-of-512", VIRTIO_BLK_T_IN, false, 0, 513, true, VIRTIO_BLK_S_IOERR, 1},
    {"len-not-multiple-of-512", VIRTIO_BLK_T_OUT, false, 0, 100, false, VIRTIO_BLK_S_IOERR, 1},
    {"zero-length-data", VIRTIO_BLK_T_IN, false, 0, 0, true, VIRTIO_BLK_S_IOERR, 1},
    {"zero-length-data", VIRTIO_BLK_T_OUT, false, 0, 0, false, VIRTIO_BLK_S_IOERR, 1},
    {"sector-past-capacity", VIRTIO_BLK_T_IN, true, UINT64_MAX, 512, true, VIRTIO_BLK_S_OK, 513},
    {"sector-past-capacity", VIRTIO_BLK_T_IN, true, 0, 512, true, VIRTIO_BLK_S_IOERR, 1},
    {"sector-past-capacity", VIRTIO_BLK_T_IN, true, UINT64_MAX, 1024, true, VIRTIO_BLK_S_IOERR, 1},
    {"sector-past-capacity", VIRTIO_BLK_T_OUT, true, 0, 512, false, VIRTIO_BLK_S_IOERR, 1},
    {"sector-len-overflow", VIRTIO_BLK_T_IN, false, UINT64_MAX, 1024, true, VIRTIO_BLK_S_IOERR, 1},
    /* sector << 9 wraps to a small offset: must not be taken as sector 0. */
    {"sector-len-overflow", VIRTIO_BLK_T_OUT, false, UINT64_C(1) << 55, 512, false,
     VIRTIO_BLK_S_IOERR, 1},
    {"unknown-type", 2, false, 0, 0, true, VIRTIO_BLK_S_UNSUPP, 1},
    {"unknown-type", 5, false, 0, 0, true, VIRTIO_BLK_S_UNSUPP, 1},
    {"unknown-type", 0x80000000u, false, 0, 0, true, VIRTIO_BLK_S_UNSUPP, 1},
    {"unknown-type", UINT32_MAX, false, 0, 0, true, VIRTIO_BLK_S_UNSUPP, 1},
    {"used-len-write-flush", VIRTIO_BLK_T_OUT, false, 8, 4096, false, VIRTIO_BLK_S_OK, 1},
    {"used-len-write-flush", VIRTIO_BLK_T_FLUSH, false, 0, 0, false, VIRTIO_BLK_S_OK, 1},
    {"used-len-get-id", VIRTIO_BLK_T_GET_ID, false, 0, 10, true, VIRTIO_BLK_S_IOERR, 1},
    {"write-on-ro-disk", VIRTIO_BLK_T_OUT, false, 0, 512, false, VIRTIO_BLK_S_IOERR, 1},
    {"write-on-ro-disk", VIRTIO_BLK_T_IN, false, 0, 4096, true, VIRTIO_BLK_S_OK, 4097},
};

/* The rows of class cls on queue 0 (connection open). */
static void io_rows_of(const char *cls)
{
	static uint8_t buf[8192];
	uint64_t cap = rf_capacity(&F);
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(io_rows) / sizeof(io_rows[0]); i++) {
		const struct io_row *r = &io_rows[i];
		uint32_t ulen;

		if (strcmp(r->cls, cls))
			continue;
		if (r->type == VIRTIO_BLK_T_FLUSH && !(F.features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)))
			SKIP("the daemon does not offer FLUSH");
		fprintf(stderr, "%s: row %u\n", cls, i);
		CHECK(r->len <= sizeof(buf));
		CHECK_EQ(rf_io(&F, 0, r->type, r->from_end ? cap + r->sector : r->sector, buf,
			       r->len, r->dev_writes, &ulen),
			 r->st);
		CHECK_EQ(ulen, r->used_len);
		n++;
	}
	CHECK(n > 0);
}

/* A case that is only its class's rows, then both queues serve. */
#define IO_CASE(fn, cls)                                                                           \
	static void fn(void)                                                                       \
	{                                                                                          \
		p_open();                                                                          \
		io_rows_of(cls);                                                                   \
		both_queues_serve();                                                               \
	}
IO_CASE(req_len_not_multiple_of_512, "len-not-multiple-of-512")
IO_CASE(req_zero_length_data, "zero-length-data")
IO_CASE(req_sector_past_capacity, "sector-past-capacity")
IO_CASE(req_sector_len_overflow, "sector-len-overflow")
IO_CASE(req_unknown_type, "unknown-type")
IO_CASE(req_used_len_write_flush, "used-len-write-flush")

static void req_header_short(void)
{
	const struct rf_seg s[] = {{RF_HDR(0), 8, 0}, {RF_STATUS(0), 1, F_W}};

	p_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_FLUSH, 0);
	publish(s, 2, 1);
	expect_status(1, VIRTIO_BLK_S_IOERR, 1);
}

static void req_header_in_writable(void)
{
	const struct rf_seg s[] = {{RF_HDR(0), 16, F_W}, {RF_STATUS(0), 1, F_W}};

	p_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_FLUSH, 0);
	publish(s, 2, 1);
	expect_status(1, VIRTIO_BLK_S_IOERR, 1);
}

/* The byte-stream rule: a header split over descriptors is valid. */
static void req_header_split(void)
{
	const struct rf_seg s[] = {{RF_HDR(0), 5, 0},
				   {RF_HDR(0) + 5, 11, 0},
				   {RF_DATA(0), 512, F_W},
				   {RF_STATUS(0), 1, F_W}};

	p_open();
	publish(s, 4, 2);
	expect_status(2, VIRTIO_BLK_S_OK, 513);
}

/* The byte-stream rule: the status is the last byte of the data descriptor. */
static void req_status_in_data_descriptor(void)
{
	const struct rf_seg s[] = {{RF_HDR(0), 16, 0}, {RF_DATA(0), 513, F_W}};
	uint8_t *st;

	p_open();
	st = rf_ptr(&F, RF_DATA(0) + 512);
	*st = 0xff;
	publish(s, 2, 2);
	expect_done_at(2, 513, st, VIRTIO_BLK_S_OK);
	both_queues_serve();
}

/* No device-writable byte at all: nowhere to put a status, so the queue breaks. */
static void req_status_missing(void)
{
	const struct rf_seg s[] = {{RF_HDR(0), 16, 0}, {RF_DATA(0), 512, 0}};

	p_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 0);
	bad_list_open(s, 2, 0);
}

static void req_status_in_readonly_descriptor(void)
{
	const struct rf_seg s[] = {{RF_HDR(0), 16, 0}, {RF_DATA(0), 512, 0}, {RF_STATUS(0), 1, 0}};

	p_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 0);
	bad_list_open(s, 3, 0);
}

static void req_read_into_readonly_buffer(void)
{
	const struct rf_seg s[] = {
	    {RF_HDR(0), 16, 0}, {RF_DATA(0), 512, 0}, {RF_STATUS(0), 1, F_W}};

	p_open();
	publish(s, 3, 4);
	expect_status(4, VIRTIO_BLK_S_IOERR, 1);
}

/* A write whose data is device-writable: IOERR, and nothing reaches the disk. */
static void req_write_from_writable_buffer(void)
{
	static uint8_t before[512], after[512];
	const struct rf_seg s[] = {
	    {RF_HDR(0), 16, 0}, {RF_DATA(0), 512, F_W}, {RF_STATUS(0), 1, F_W}};

	p_open();
	CHECK_EQ(rf_io(&F, 1, VIRTIO_BLK_T_IN, 200, before, sizeof(before), true, NULL), 0);
	memset(rf_ptr(&F, RF_DATA(0)), 0x5a, 512);
	rf_hdr(&F, 0, VIRTIO_BLK_T_OUT, 200);
	publish(s, 3, 5);
	expect_status(5, VIRTIO_BLK_S_IOERR, 1);
	CHECK_EQ(rf_io(&F, 1, VIRTIO_BLK_T_IN, 200, after, sizeof(after), true, NULL), 0);
	CHECK(memcmp(before, after, sizeof(after)) == 0);
}

/* used len: data + 1 for a read spread over several buffers. */
static void req_used_len_read(void)
{
	const struct rf_seg s[] = {{RF_HDR(0), 16, 0},
				   {RF_DATA(0), 512, F_W},
				   {RF_DATA(0) + 0x1000, 1024, F_W},
				   {RF_DATA(0) + 0x2000, 2048, F_W},
				   {RF_STATUS(0), 1, F_W}};

	p_open();
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 8);
	publish(s, 5, 6);
	expect_status(6, VIRTIO_BLK_S_OK, 512 + 1024 + 2048 + 1);
}

/* The ID over a packed ring is the one the split ring gets (checked against the serial there). */
static void req_used_len_get_id(void)
{
	uint8_t id[VIRTIO_BLK_ID_BYTES], split_id[VIRTIO_BLK_ID_BYTES];
	uint32_t ulen;

	rf_open(&F, 1, 0);
	CHECK_EQ(rf_io(&F, 0, VIRTIO_BLK_T_GET_ID, 0, split_id, sizeof(split_id), true, &ulen),
		 VIRTIO_BLK_S_OK);
	rf_close(&F);
	p_open();
	memset(id, 0xaa, sizeof(id));
	CHECK_EQ(rf_io(&F, 0, VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id), true, &ulen),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(ulen, VIRTIO_BLK_ID_BYTES + 1);
	CHECK(memcmp(id, split_id, sizeof(id)) == 0);
	/* A buffer that cannot hold the ID. */
	io_rows_of("used-len-get-id");
	rf_rw_check(&F, 0, 32, 4);
}

/* On the read-only daemon. */
static void req_write_on_ro(void)
{
	static uint8_t before[512], after[512];

	p_open();
	CHECK(F.features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	CHECK_EQ(rf_io(&F, 1, VIRTIO_BLK_T_IN, 0, before, sizeof(before), true, NULL), 0);
	io_rows_of("write-on-ro-disk");
	CHECK_EQ(rf_io(&F, 1, VIRTIO_BLK_T_IN, 0, after, sizeof(after), true, NULL), 0);
	CHECK(memcmp(before, after, sizeof(after)) == 0);
}

/*
 * §2.8.6: the buffer ID is in the last descriptor of the list; the others'
 * ID fields carry nothing (here a value no buffer could have).
 */
static void req_buffer_id_from_last_descriptor(void)
{
	struct rf_queue *q;

	p_open();
	q = &F.q[0];
	rf_pdesc(q, 2, RF_STATUS(0), 1, 9, F_W | rf_p_avail_bits(true));
	rf_pdesc(q, 1, RF_DATA(0), 512, 0xbeef, F_N | F_W | rf_p_avail_bits(true));
	rf_pdesc(q, 0, RF_HDR(0), 16, 0xbeef, F_N | rf_p_avail_bits(true));
	q->slots[9] = 3;
	rf_p_advance(&q->pavail, &q->avail_wrap, 3);
	rf_kick(q);
	expect_status(9, VIRTIO_BLK_S_OK, 513);
}

/*
 * §2.8.7: in an indirect table WRITE is the only valid flag; NEXT is
 * reserved and ignored by the device, and so is the buffer ID. The table is
 * walked by its length.
 */
static void req_indirect_ignores_next_and_id(void)
{
	const struct rf_seg s = {RF_INDIR(0), 48, F_I};

	p_open();
	rf_ptable_desc(&F, RF_INDIR(0), 0, RF_HDR(0), 16, 0xbeef, F_N);
	rf_ptable_desc(&F, RF_INDIR(0), 1, RF_DATA(0), 512, 0xbeef, F_N | F_W);
	rf_ptable_desc(&F, RF_INDIR(0), 2, RF_STATUS(0), 1, 0xbeef, F_N | F_W);
	publish(&s, 1, 7);
	expect_status(7, VIRTIO_BLK_S_OK, 513);
}

/* §2.8.1: a list may run past the ring end, its last slots in the next lap. */
static void req_list_across_ring_end(void)
{
	struct rf_queue *q;

	p_open();
	q = &F.q[0];
	flush_to_slot_14();
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 0);
	publish(read3, 3, 8);
	CHECK(q->pavail == 1 && !q->avail_wrap);
	expect_status(8, VIRTIO_BLK_S_OK, 513);
}

/*
 * Several buffers in one kick, IDs in no particular order: each gets its
 * own used element (in any order), each at the used position after the
 * slots of the one before (§2.8.6), which rf_wait_used follows.
 */
static void req_ids_out_of_order(void)
{
	static const uint16_t ids[] = {11, 2, 7};
	struct rf_queue *q;
	unsigned seen = 0;

	p_open();
	q = &F.q[0];
	for (unsigned i = 0; i < 3; i++) {
		/* Each its own header and status; the data buffer is shared (reads). */
		const struct rf_seg s[] = {{RF_HDR(0) + 32 * i, 16, 0},
					   {RF_DATA(0) + 0x1000 * i, 512 * (i + 1), F_W},
					   {RF_STATUS(0) + i, 1, F_W}};
		struct virtio_blk_outhdr *h = rf_ptr(&F, RF_HDR(0) + 32 * i);

		h->type = vblk_cpu_to_le32(VIRTIO_BLK_T_IN);
		h->ioprio = 0;
		h->sector = vblk_cpu_to_le64(8 * i);
		*(uint8_t *)rf_ptr(&F, RF_STATUS(0) + i) = 0xff;
		rf_plist(q, s, 3, ids[i]);
	}
	rf_kick(q);
	for (unsigned n = 0; n < 3; n++) {
		uint32_t id, len;
		unsigned i;

		CHECK(rf_wait_used(q, RF_TIMEOUT_MS, &id, &len));
		for (i = 0; i < 3 && ids[i] != id; i++)
			;
		CHECK(i < 3 && !(seen & (1u << i)));
		seen |= 1u << i;
		CHECK_EQ(len, 512 * (i + 1) + 1);
		CHECK_EQ(*(uint8_t *)rf_ptr(&F, RF_STATUS(0) + i), VIRTIO_BLK_S_OK);
	}
	CHECK(!rf_wait_readable(q->err, 0));
	both_queues_serve();
}

/*
 * Both wrap counters over several laps: lists of 2 to 5 descriptors (a
 * read in 1 to 3 data buffers, or a flush), so that lists straddle the ring
 * end at every offset; every one completes with its ID and len.
 */
static void req_wrap_counters_several_laps(void)
{
	struct rf_queue *q;
	unsigned slots = 0;

	p_open();
	q = &F.q[0];
	for (unsigned k = 0; slots < 4 * RF_QNUM; k++) {
		struct rf_seg s[5] = {{RF_HDR(0), 16, 0}};
		unsigned ndata = k % 4, n = 1;

		rf_hdr(&F, 0, ndata ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_FLUSH, k);
		for (unsigned d = 0; d < ndata; d++)
			s[n++] = (struct rf_seg){RF_DATA(0) + 0x1000 * d, 512, F_W};
		s[n++] = (struct rf_seg){RF_STATUS(0), 1, F_W};
		publish(s, n, (uint16_t)(k % RF_QNUM));
		expect_done((uint16_t)(k % RF_QNUM), 512 * ndata + 1, VIRTIO_BLK_S_OK);
		slots += n;
	}
	CHECK(!rf_wait_readable(q->err, 0));
	rf_rw_check(&F, 1, 64, 5);
}

/*
 * vhost-user.rst: a packed ring's base carries both positions and wrap
 * counters. Started mid-ring in the second lap (slot 5, both counters 0),
 * the device takes the first list at slot 5, writes its used element there
 * with the flags of counter 0, and both counters toggle back at the end.
 */
static void req_start_at_base(void)
{
	rf_negotiate(&F, RF_FEATURES_PACKED);
	rf_start_queue_at(&F, 0, base_of(5, false, 5, false));
	rf_start_queue(&F, 1);
	for (unsigned i = 0; i < 3; i++)
		rf_rw_check(&F, 0, 8 * i, (uint8_t)i);
	CHECK(F.q[0].pused == 7 && F.q[0].used_wrap);
	CHECK(!rf_wait_readable(F.q[0].err, 0));
	rf_rw_check(&F, 1, 64, 5);
}

/* §2.8.6: a list may hold as many descriptors as the ring has slots, no more. */
static void req_list_of_queue_size(void)
{
	struct rf_seg s[RF_QNUM];

	p_open();
	s[0] = (struct rf_seg){RF_HDR(0), 16, 0};
	for (unsigned i = 1; i < RF_QNUM - 1; i++)
		s[i] = (struct rf_seg){RF_DATA(0) + 512 * i, 512, F_W};
	s[RF_QNUM - 1] = (struct rf_seg){RF_STATUS(0), 1, F_W};
	publish(s, RF_QNUM, 4);
	expect_status(4, VIRTIO_BLK_S_OK, 512 * (RF_QNUM - 2) + 1);
}

/* One read on queue 0 with the driver event flags at flags; returns whether it interrupted. */
static bool read_interrupts(uint16_t flags)
{
	struct rf_queue *q = &F.q[0];
	uint32_t id, len;
	eventfd_t v;
	bool irq;

	/* Nothing left over from before (rf_wait_used reads the call eventfd only when it waits).
	 */
	eventfd_read(q->call, &v);
	q->driver_event->off_wrap = vblk_cpu_to_le16(0x7fff);
	__atomic_store_n(&q->driver_event->flags, vblk_cpu_to_le16(flags), __ATOMIC_SEQ_CST);
	rf_hdr(&F, 0, VIRTIO_BLK_T_IN, 0);
	publish(read3, 3, 1);
	irq = rf_wait_readable(q->call, RF_TIMEOUT_MS / 2);
	/* Interrupt or not, the used element is there. */
	for (int i = 0; i < 50 && !rf_wait_used(q, 100, &id, &len); i++)
		;
	CHECK_EQ(q->slots[1], 0);
	CHECK_EQ(len, 513);
	CHECK_EQ(rf_status(&F, 0), VIRTIO_BLK_S_OK);
	return irq;
}

/*
 * §2.8.10: with the driver event flags at DISABLE the device does not
 * notify. Without VIRTIO_F_EVENT_IDX, DESC (only valid with it) and the
 * reserved value 3 must not silence the device: it notifies.
 */
static void req_driver_event_flags(void)
{
	p_open();
	CHECK(!(F.features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX)));
	CHECK(!read_interrupts(VIRTQ_PACKED_EVENT_FLAG_DISABLE));
	CHECK(read_interrupts(VIRTQ_PACKED_EVENT_FLAG_DESC));
	CHECK(read_interrupts(3));
	CHECK(read_interrupts(VIRTQ_PACKED_EVENT_FLAG_ENABLE));
	both_queues_serve();
}

/* ------------------------------------------------------------------------ */
/* The table                                                                */

#define R(n, f)                                                                                    \
	{                                                                                          \
		"ring-packed", n, f, false                                                         \
	}
#define Q(n, f)                                                                                    \
	{                                                                                          \
		"request-packed", n, f, false                                                      \
	}
static const struct conf_case cases[] = {
    R("chain-longer-than-queue", ring_chain_longer_than_queue),
    R("list-descriptor-not-available", ring_list_descriptor_not_available),
    R("list-descriptor-marked-used", ring_list_descriptor_marked_used),
    R("list-wraps-without-toggling", ring_list_wraps_without_toggling),
    R("buffer-id-ge-queue-size", ring_buffer_id_ge_queue_size),
    R("buffer-id-in-flight", ring_buffer_id_in_flight),
    R("slot-not-available-not-taken", ring_slot_not_available_not_taken),
    R("list-longer-than-free-slots", ring_list_longer_than_free_slots),
    R("vring-base-out-of-range", ring_vring_base_out_of_range),
    R("nested-indirect", ring_nested_indirect),
    R("indirect-with-next", ring_indirect_with_next),
    R("indirect-inside-list", ring_indirect_inside_list),
    R("indirect-len-0", ring_indirect_len_0),
    R("indirect-len-not-multiple-of-16", ring_indirect_len_not_multiple_16),
    R("indirect-not-negotiated", ring_indirect_not_negotiated),
    R("indirect-table-unmapped", ring_indirect_table_unmapped),
    R("indirect-table-crosses-end-of-memory", ring_indirect_table_crosses_end_of_memory),
    R("indirect-chain-longer-than-seg-max", ring_indirect_chain_too_long),
    R("indirect-entry-readable-after-writable", ring_indirect_entry_readable_after_writable),
    R("data-buffer-unmapped-crossing-overflowing-or-empty", ring_bad_data_buffers),
    R("readable-after-writable", ring_readable_after_writable),

    Q("header-short", req_header_short),
    Q("header-in-writable-descriptor", req_header_in_writable),
    Q("header-split-across-descriptors-ok", req_header_split),
    Q("status-in-data-descriptor-ok", req_status_in_data_descriptor),
    Q("status-missing", req_status_missing),
    Q("status-in-readonly-descriptor", req_status_in_readonly_descriptor),
    Q("read-into-readonly-buffer", req_read_into_readonly_buffer),
    Q("write-from-writable-buffer", req_write_from_writable_buffer),
    Q("len-not-multiple-of-512", req_len_not_multiple_of_512),
    Q("zero-length-data", req_zero_length_data),
    Q("sector-past-capacity", req_sector_past_capacity),
    Q("sector-len-overflow", req_sector_len_overflow),
    Q("unknown-type", req_unknown_type),
    Q("used-len-read", req_used_len_read),
    Q("used-len-write-flush", req_used_len_write_flush),
    Q("used-len-get-id", req_used_len_get_id),
    {"request-packed", "write-on-ro-disk", req_write_on_ro, true},
    Q("buffer-id-from-last-descriptor-ok", req_buffer_id_from_last_descriptor),
    Q("indirect-ignores-next-and-id-ok", req_indirect_ignores_next_and_id),
    Q("list-across-ring-end-ok", req_list_across_ring_end),
    Q("ids-out-of-order-ok", req_ids_out_of_order),
    Q("wrap-counters-several-laps-ok", req_wrap_counters_several_laps),
    Q("start-at-base-ok", req_start_at_base),
    Q("list-of-queue-size-ok", req_list_of_queue_size),
    Q("driver-event-flags", req_driver_event_flags),
};

const struct conf_table conf_packed_cases = {cases, sizeof(cases) / sizeof(cases[0])};
