/* SPDX-License-Identifier: MIT */
/*
 * Many buffers through a small ring of either layout, so its positions wrap
 * thousands of times (split: the 16-bit indices, §2.7; packed: the ring and
 * both wrap counters, §2.8.1): 200000 buffers of 1..4 descriptors (some
 * indirect when asked), the ring kept as full as it allows, the device
 * popping a random number and completing a random subset in random order.
 * Every pop returns exactly the next buffer the driver made available (id,
 * iovecs, bytes), every used element comes back once with the right length,
 * and the device's positions move by exactly the ring units popped and
 * pushed: linear(avail) - linear(used) always equals the units in flight,
 * and each position laps as often as its units say.
 *
 * Usage: test_dev_wrap split|packed NUM INDIRECT
 */
#include "fake_ring.h"
#include "test.h"

#define TOTAL 200000u
#define SEG   16

static struct fake_ring r;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

struct buf {
	unsigned nseg, nout, units;
	bool indirect;
	uint32_t seq;
	struct fake_seg seg[4];
};

/* A position that moved forward by at most a lap: did it pass the end? */
static bool lapped(unsigned before, unsigned after)
{
	return after < before;
}

int main(int argc, char **argv)
{
	static struct buf bufs[VQ_DEV_MAX_SIZE];
	static uint8_t done[TOTAL];
	uint16_t held[VQ_DEV_MAX_SIZE], fifo[VQ_DEV_MAX_SIZE];
	unsigned nheld = 0, num, span, busy_units = 0, fifo_h = 0, fifo_n = 0;
	unsigned alin, ulin, a0, u0, avail_laps = 0, used_laps = 0;
	uint64_t added = 0, popped = 0, completed = 0, avail_units = 0, used_units = 0;
	uint64_t data, tables;
	bool indirect;

	if (argc != 4)
		SKIP("usage: %s split|packed NUM INDIRECT", argv[0]);
	num = (unsigned)atoi(argv[2]);
	indirect = atoi(argv[3]);
	CHECK(num >= 2 && num <= 64);

	fr_init(&r, fr_layout(argv[1]), num, 1);
	CHECK_EQ(fr_start(&r, false, indirect), 0);
	span = fr_span(&r);
	alin = a0 = fr_dev_avail_lin(&r);
	ulin = u0 = fr_dev_used_lin(&r);
	/* One data area per (id, segment), reused by every buffer with that id. */
	data = fake_mem_alloc(r.m, (size_t)num * 4 * SEG);
	tables = fake_mem_alloc(r.m, (size_t)num * 4 * 16);

	while (completed < TOTAL) {
		/* Driver: fill while descriptors or slots and ids last. */
		while (added < TOTAL) {
			unsigned maxseg = num < 4 ? num : 4, nseg = 1 + rnd(maxseg);
			bool ind = indirect && nseg > 1 && rnd(2);
			uint16_t id = (uint16_t)rnd(num);
			struct buf *b;

			if (!fr_fits(&r, nseg, ind))
				break;
			while (!fr_id_free(&r, id))
				id = (uint16_t)((id + 1) % num);
			b = &bufs[id];
			b->nseg = nseg;
			b->nout = 1 + rnd(nseg);
			b->indirect = ind;
			b->units = fr_units(&r, nseg, ind);
			b->seq = (uint32_t)added++;
			for (unsigned k = 0; k < nseg; k++)
				b->seg[k] = (struct fake_seg){data + ((size_t)id * 4 + k) * SEG,
							      1 + rnd(SEG), k >= b->nout};
			*(uint8_t *)fake_mem_ptr(r.m, b->seg[0].addr) = (uint8_t)b->seq;
			if (ind)
				fr_add_indirect(&r, id, b->seg, nseg,
						tables + (uint64_t)id * 4 * 16, 0);
			else
				fr_add(&r, id, b->seg, nseg);
			fifo[(fifo_h + fifo_n++) % num] = id;
		}

		/* Device: pop a random number; they come in the order they were made available. */
		unsigned budget = 1 + rnd(num);
		while (budget--) {
			struct vq_dev_elem e;
			struct iovec iov[8];
			int ret = vq_dev_pop(r.vq, &e, iov, 8);
			struct buf *b;
			uint16_t want;

			CHECK(ret >= 0);
			if (ret == 0) {
				CHECK_EQ(fifo_n, 0);
				CHECK_EQ(fr_avail_ahead(&r), 0);
				break;
			}
			CHECK(fifo_n > 0);
			want = fifo[fifo_h];
			fifo_h = (fifo_h + 1) % num;
			fifo_n--;
			CHECK_EQ(e.head, want);
			b = &bufs[want];
			CHECK_EQ(e.out_num + e.in_num, b->nseg);
			CHECK_EQ(e.out_num, b->nout);
			uint64_t out_len = 0, in_len = 0;
			for (unsigned k = 0; k < b->nseg; k++) {
				CHECK(iov[k].iov_base == fake_mem_dev_ptr(r.m, b->seg[k].addr));
				CHECK_EQ(iov[k].iov_len, b->seg[k].len);
				*(k < b->nout ? &out_len : &in_len) += b->seg[k].len;
			}
			CHECK_EQ(e.out_len, out_len);
			CHECK_EQ(e.in_len, in_len);
			CHECK_EQ(*(uint8_t *)iov[0].iov_base, (uint8_t)b->seq);
			held[nheld++] = want;
			busy_units += b->units;
			avail_units += b->units;
			popped++;
			/* The device's avail position moved by this buffer's units. */
			avail_laps += lapped(alin, fr_dev_avail_lin(&r));
			alin = (alin + b->units) % span;
			CHECK_EQ(fr_dev_avail_lin(&r), alin);
		}
		CHECK_EQ(r.vq->inflight, nheld);
		/* §2.8.1 for packed, avail - used indices for split: what is in flight. */
		CHECK_EQ((fr_dev_avail_lin(&r) + span - fr_dev_used_lin(&r)) % span, busy_units);

		/* Device: complete a random subset in random order. */
		unsigned npush = nheld ? 1 + rnd(nheld) : 0;
		for (unsigned k = 0; k < npush; k++) {
			unsigned j = rnd(nheld);
			uint16_t id = held[j];
			struct buf *b = &bufs[id];
			uint32_t len = 0;

			for (unsigned s = b->nout; s < b->nseg; s++)
				len += b->seg[s].len;
			vq_dev_push(r.vq, id, len);
			busy_units -= b->units;
			used_units += b->units;
			held[j] = held[--nheld];
			used_laps += lapped(ulin, fr_dev_used_lin(&r));
			ulin = (ulin + b->units) % span;
			CHECK_EQ(fr_dev_used_lin(&r), ulin);
		}

		/* Driver: reap; each element once, with the bytes the device wrote. */
		for (;;) {
			uint16_t id;
			uint32_t len, want = 0;
			struct buf *b;

			if (!fr_get_used(&r, &id, &len))
				break;
			b = &bufs[id];
			for (unsigned s = b->nout; s < b->nseg; s++)
				want += b->seg[s].len;
			CHECK_EQ(len, want);
			CHECK_EQ(done[b->seq], 0);
			done[b->seq] = 1;
			completed++;
		}
		CHECK_EQ(fr_used_ahead(&r), 0);
		CHECK(!r.vq->broken);
	}
	CHECK_EQ(popped, TOTAL);
	for (unsigned i = 0; i < TOTAL; i++)
		CHECK_EQ(done[i], 1);
	CHECK_EQ(r.vq->inflight, 0);
	CHECK_EQ(busy_units, 0);
	/* Each position laps exactly as often as its units carried it past the end. */
	CHECK_EQ(avail_laps, (a0 + avail_units) / span);
	CHECK_EQ(used_laps, (u0 + used_units) / span);
	CHECK(used_laps >= 3);
	printf("%s num=%u indirect=%d: %u buffers, %u avail laps, %u used laps\n",
	       r.packed ? "packed" : "split", num, indirect, TOTAL, avail_laps, used_laps);
	fr_fini(&r);
	return 0;
}
