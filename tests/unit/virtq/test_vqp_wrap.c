/* SPDX-License-Identifier: MIT */
/*
 * Many buffers through a small packed ring, so both wrap counters toggle
 * thousands of times: 200000 buffers (> 65536) of 1..4 descriptors (some
 * indirect when asked), the ring kept as full as the free slots allow, the
 * device completing a random subset in random order. Every pop must return
 * exactly the buffer the fake driver placed at that position (ID, iovecs),
 * every used element must come back with the right ID and length at the
 * position the driver expects, and linear(avail) - linear(used) must always
 * equal the slots in flight.
 *
 * Usage: test_vqp_wrap NUM INDIRECT
 */
#include "fake_packed.h"
#include "test.h"

#include <errno.h>

#define TOTAL 200000u
#define SEG   16

static struct fakep d;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

struct buf {
	unsigned nseg, nout, slots;
	bool indirect;
	uint64_t seq;
	struct fake_seg seg[4];
};

int main(int argc, char **argv)
{
	static struct buf bufs[VQ_DEV_MAX_SIZE];
	uint16_t free_ids[VQ_DEV_MAX_SIZE], held[VQ_DEV_MAX_SIZE];
	unsigned nfree, nheld = 0, num, free_slots, busy_slots = 0;
	uint64_t added = 0, popped = 0, done = 0, avail_wraps = 0, used_wraps = 0;
	bool indirect, last_aw, last_uw;
	uint16_t fifo[VQ_DEV_MAX_SIZE];
	unsigned fifo_h = 0, fifo_n = 0;
	uint64_t data, tables;

	if (argc != 3)
		SKIP("usage: %s NUM INDIRECT", argv[0]);
	num = (unsigned)atoi(argv[1]);
	indirect = atoi(argv[2]);
	CHECK(num >= 2 && num <= 64);

	fakep_init(&d, num, 1);
	CHECK_EQ(fakep_start(&d, false, indirect), 0);
	/* One data area per (ID, segment), reused by every buffer with that ID. */
	data = fake_mem_alloc(&d.m, (size_t)num * 4 * SEG);
	tables = fake_mem_alloc(&d.m, (size_t)num * 4 * 16);
	for (unsigned i = 0; i < num; i++)
		free_ids[i] = (uint16_t)i;
	nfree = num;
	free_slots = num;
	last_aw = d.vq.packed_ring.avail_wrap;
	last_uw = d.vq.packed_ring.used_wrap;

	while (done < TOTAL) {
		/* Driver: fill while slots and IDs last. */
		while (added < TOTAL && nfree > 0) {
			uint16_t id = free_ids[nfree - 1];
			struct buf *b = &bufs[id];
			unsigned maxseg = num < 4 ? num : 4;

			b->nseg = 1 + rnd(maxseg);
			b->nout = 1 + rnd(b->nseg);
			b->indirect = indirect && b->nseg > 1 && rnd(2);
			b->slots = b->indirect ? 1 : b->nseg;
			if (b->slots > free_slots)
				break;
			b->seq = added++;
			for (unsigned k = 0; k < b->nseg; k++)
				b->seg[k] = (struct fake_seg){data + ((size_t)id * 4 + k) * SEG,
							      1 + rnd(SEG), k >= b->nout};
			if (b->indirect)
				fakep_add_indirect(&d, b->seg, b->nseg, id,
						   tables + (uint64_t)id * 4 * 16);
			else
				fakep_add(&d, b->seg, b->nseg, id);
			nfree--;
			free_slots -= b->slots;
			fifo[(fifo_h + fifo_n++) % num] = id;
		}

		/* Device: pop a random number; they come in placement order. */
		unsigned budget = 1 + rnd(num);
		while (budget--) {
			struct vq_dev_elem e;
			struct iovec iov[8];
			int ret = vq_dev_pop(&d.vq, &e, iov, 8);

			CHECK(ret >= 0);
			if (ret == 0) {
				CHECK_EQ(fifo_n, 0);
				break;
			}
			CHECK(fifo_n > 0);
			uint16_t want = fifo[fifo_h];
			fifo_h = (fifo_h + 1) % num;
			fifo_n--;
			CHECK_EQ(e.head, want);
			struct buf *b = &bufs[want];
			CHECK_EQ(e.out_num + e.in_num, b->nseg);
			CHECK_EQ(e.out_num, b->nout);
			for (unsigned k = 0; k < b->nseg; k++) {
				CHECK(iov[k].iov_base == fake_mem_dev_ptr(&d.m, b->seg[k].addr));
				CHECK_EQ(iov[k].iov_len, b->seg[k].len);
			}
			held[nheld++] = want;
			busy_slots += b->slots;
			popped++;
		}
		/* The §2.8.1 position invariant. */
		{
			unsigned p = 2 * num;
			unsigned la = d.vq.last_avail_idx + (d.vq.packed_ring.avail_wrap ? 0 : num);
			unsigned lu = d.vq.used_idx + (d.vq.packed_ring.used_wrap ? 0 : num);
			CHECK_EQ((la + p - lu) % p, busy_slots);
		}

		/* Device: complete a random subset in random order. */
		unsigned npush = nheld ? 1 + rnd(nheld) : 0;
		for (unsigned k = 0; k < npush; k++) {
			unsigned j = rnd(nheld);
			uint16_t id = held[j];
			struct buf *b = &bufs[id];
			uint32_t len = 0;
			for (unsigned s = b->nout; s < b->nseg; s++)
				len += b->seg[s].len;
			vq_dev_push(&d.vq, id, len);
			busy_slots -= b->slots;
			held[j] = held[--nheld];
		}
		if (d.vq.packed_ring.avail_wrap != last_aw)
			avail_wraps++;
		if (d.vq.packed_ring.used_wrap != last_uw)
			used_wraps++;
		last_aw = d.vq.packed_ring.avail_wrap;
		last_uw = d.vq.packed_ring.used_wrap;

		/* Driver: reap. */
		for (;;) {
			uint16_t id, fl;
			uint32_t len, want = 0;
			struct buf *b;

			if (!fakep_get_used(&d, &id, &len, &fl))
				break;
			b = &bufs[id];
			for (unsigned s = b->nout; s < b->nseg; s++)
				want += b->seg[s].len;
			CHECK_EQ(len, want);
			CHECK_EQ(!!(fl & FP_W), want > 0);
			free_ids[nfree++] = id;
			free_slots += b->slots;
			done++;
		}
		CHECK(!d.vq.broken);
	}
	CHECK_EQ(popped, TOTAL);
	CHECK_EQ(d.vq.inflight, 0);
	CHECK_EQ(free_slots, num);
	/* Each counter toggles once per pass over the ring. */
	CHECK(avail_wraps > 1000 && used_wraps > 1000);
	printf("num=%u indirect=%d: %u buffers, %" PRIu64 " avail wraps, %" PRIu64 " used wraps\n",
	       num, indirect, TOTAL, avail_wraps, used_wraps);
	fakep_fini(&d);
	return 0;
}
