/* SPDX-License-Identifier: MIT */
/*
 * More than 2^16 requests through an 8-entry ring, published, popped and
 * completed in varying batch sizes and out of order: the 16-bit indices
 * wrap, every request is popped once in publish order and used exactly once,
 * and used->idx is right after the wrap.
 */
#include "fake_driver.h"
#include "test.h"

#include <errno.h>

#define NUM  8
#define NREQ 70000u

static uint32_t rng = 12345;

static unsigned rnd(unsigned n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 16) % n;
}

int main(void)
{
	static uint8_t done[NREQ];
	struct fake_drv d;
	uint64_t buf[NUM];
	bool desc_free[NUM];
	unsigned nfree = NUM, i;
	uint16_t chain_next[NUM];
	uint32_t seq_of_head[NUM];
	uint16_t held[NUM];
	unsigned nheld = 0;
	uint32_t published = 0, popped = 0, completed = 0;
	bool saw_wrap = false;

	fake_init(&d, NUM, 1);
	CHECK_EQ(fake_start(&d, false, false), 0);
	for (i = 0; i < NUM; i++) {
		buf[i] = fake_mem_alloc(&d.m, 64);
		desc_free[i] = true;
	}

	while (completed < NREQ) {
		unsigned n;

		/* Driver: publish a random number of 1- or 2-descriptor chains. */
		n = rnd(NUM + 1);
		while (n-- > 0 && published < NREQ) {
			unsigned len = 1 + published % 2, got = 0;
			uint16_t idx[2];

			for (i = 0; i < NUM && got < len; i++)
				if (desc_free[(i + published) % NUM])
					idx[got++] = (uint16_t)((i + published) % NUM);
			if (got < len || nfree < len)
				break;
			for (i = 0; i < len; i++)
				desc_free[idx[i]] = false;
			nfree -= len;
			memcpy(fake_mem_ptr(&d.m, buf[idx[0]]), &published, 4);
			if (len == 2) {
				fake_set_desc(d.desc, idx[0], buf[idx[0]], 64, VIRTQ_DESC_F_NEXT,
					      idx[1]);
				fake_set_desc(d.desc, idx[1], buf[idx[1]], 64, VIRTQ_DESC_F_WRITE,
					      0);
				chain_next[idx[0]] = idx[1];
			} else {
				fake_set_desc(d.desc, idx[0], buf[idx[0]], 32, 0, 0);
				chain_next[idx[0]] = 0xffff;
			}
			seq_of_head[idx[0]] = published;
			fake_publish(&d, idx[0]);
			published++;
		}

		/* Device: pop some, in publish order. */
		n = rnd(NUM + 1);
		while (n-- > 0) {
			struct vq_dev_elem e;
			struct iovec iov[4];
			uint32_t seq;
			int r = vq_dev_pop(&d.vq, &e, iov, 4);

			CHECK(r >= 0);
			if (r == 0) {
				CHECK_EQ(popped, published);
				break;
			}
			memcpy(&seq, iov[0].iov_base, 4);
			CHECK_EQ(seq, popped);
			CHECK_EQ(seq_of_head[e.head], seq);
			CHECK(iov[0].iov_base == fake_mem_ptr(&d.m, buf[e.head]));
			CHECK_EQ(e.out_num, 1);
			CHECK_EQ(e.in_num, seq % 2);
			CHECK_EQ(e.out_len, seq % 2 ? 64 : 32);
			popped++;
			held[nheld++] = e.head;
		}
		CHECK_EQ(d.vq.inflight, nheld);
		CHECK_EQ(d.vq.last_avail_idx, (uint16_t)popped);

		/* Device: complete a random subset in random order. */
		n = nheld ? rnd(nheld + 1) : 0;
		while (n-- > 0) {
			unsigned k = rnd(nheld);
			uint16_t h = held[k];

			held[k] = held[--nheld];
			vq_dev_push(&d.vq, h, seq_of_head[h] & 0xff);
		}

		/* Driver: reap the used ring. */
		while (d.last_used != fake_used_idx(&d)) {
			uint32_t id, len, seq;

			fake_used_elem(&d, d.last_used, &id, &len);
			CHECK(id < NUM && !desc_free[id]);
			seq = seq_of_head[id];
			CHECK_EQ(len, seq & 0xff);
			CHECK_EQ(done[seq], 0);
			done[seq] = 1;
			desc_free[id] = true;
			nfree++;
			if (chain_next[id] != 0xffff) {
				desc_free[chain_next[id]] = true;
				nfree++;
			}
			d.last_used++;
			completed++;
			if (completed == 65537) {
				/* Just past the wrap: idx is 1 again. */
				saw_wrap = true;
				CHECK_EQ(d.last_used, 1);
			}
		}
		CHECK_EQ(fake_used_idx(&d), (uint16_t)completed);
	}

	CHECK(saw_wrap);
	CHECK_EQ(published, NREQ);
	CHECK_EQ(popped, NREQ);
	for (i = 0; i < NREQ; i++)
		CHECK_EQ(done[i], 1);
	CHECK_EQ(fake_used_idx(&d), NREQ & 0xffff);
	CHECK_EQ(d.vq.used_idx, NREQ & 0xffff);
	CHECK_EQ(d.vq.last_avail_idx, NREQ & 0xffff);
	CHECK_EQ(d.vq.inflight, 0);
	CHECK(!d.vq.broken);
	fake_fini(&d);
	return 0;
}
