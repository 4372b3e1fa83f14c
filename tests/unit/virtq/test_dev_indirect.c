/* SPDX-License-Identifier: MIT */
/*
 * Indirect buffers on either layout (argv[1]: split|packed; §2.7.5.3,
 * §2.8.7): one ring descriptor points to a table that is the whole buffer.
 * A short table is read in order with the WRITE flag of the ring descriptor
 * ignored; a table far longer than the queue works; a table at an odd guest
 * address works (no alignment rule); the id is the ring descriptor's; and an
 * indirect buffer takes one ring unit, so accounting mixes with direct
 * buffers: a 4-entry ring holds indirect + direct of 2 + indirect, and two
 * completions make room for another.
 */
#include "fake_ring.h"
#include "test.h"

#define NUM  4
#define LONG 300

static struct fake_ring r;
static struct iovec iov[LONG + 8];

static void pop_one(struct vq_dev_elem *e, uint16_t id)
{
	CHECK_EQ(vq_dev_pop(r.vq, e, iov, LONG + 8), 1);
	CHECK_EQ(e->head, id);
}

static void check_iov(unsigned i, const struct fake_seg *s, uint8_t fill)
{
	CHECK(iov[i].iov_base == fake_mem_dev_ptr(r.m, s->addr));
	CHECK_EQ(iov[i].iov_len, s->len);
	CHECK(((uint8_t *)iov[i].iov_base)[0] == fill &&
	      ((uint8_t *)iov[i].iov_base)[s->len - 1] == fill);
}

static struct fake_seg filled(size_t len, uint8_t fill, bool write)
{
	uint64_t gpa = fake_mem_alloc(r.m, len);

	memset(fake_mem_ptr(r.m, gpa), fill, len);
	return (struct fake_seg){gpa, (uint32_t)len, write};
}

int main(int argc, char **argv)
{
	static struct fake_seg b[LONG];
	struct vq_dev_elem e;
	uint16_t id, x;
	uint32_t len;
	unsigned i;

	fr_init(&r, fr_layout(argc > 1 ? argv[1] : NULL), NUM, 1);
	CHECK_EQ(fr_start(&r, false, true), 0);

	/* Short table: header, data (writable), status (writable); WRITE on the ring
	 * descriptor itself must be ignored (§2.7.5.3.2, §2.8.7). */
	b[0] = filled(16, 1, false);
	b[1] = filled(4096, 2, true);
	b[2] = filled(1, 3, true);
	fr_add_indirect(&r, 2, b, 3, 0, VIRTQ_DESC_F_WRITE);
	pop_one(&e, 2);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 2);
	CHECK_EQ(e.out_len, 16);
	CHECK_EQ(e.in_len, 4097);
	for (i = 0; i < 3; i++)
		check_iov(i, &b[i], (uint8_t)(i + 1));
	CHECK_EQ(fr_avail_ahead(&r), 0);
	vq_dev_push(r.vq, 2, 4097);
	fr_expect_used(&r, 2, 4097);

	/* A table of LONG entries (> queue size), walked in order. */
	for (i = 0; i < LONG; i++)
		b[i] = filled(8 + i % 5, (uint8_t)i, i >= 100);
	fr_add_indirect(&r, 0, b, LONG, 0, 0);
	pop_one(&e, 0);
	CHECK_EQ(e.out_num, 100);
	CHECK_EQ(e.in_num, LONG - 100);
	for (i = 0; i < LONG; i++)
		check_iov(i, &b[i], (uint8_t)i);
	vq_dev_push(r.vq, 0, 0);
	fr_expect_used(&r, 0, 0);

	/* A table at an odd address. */
	b[0] = filled(10, 0xa0, false);
	b[1] = filled(11, 0xa1, true);
	fr_add_indirect(&r, 1, b, 2, fake_mem_alloc(r.m, 2 * 16 + 1) + 1, 0);
	pop_one(&e, 1);
	CHECK_EQ(e.out_num, 1);
	CHECK_EQ(e.in_num, 1);
	check_iov(0, &b[0], 0xa0);
	check_iov(1, &b[1], 0xa1);
	vq_dev_push(r.vq, 1, 11);
	fr_expect_used(&r, 1, 11);
	CHECK_EQ(fr_used_ahead(&r), 0);

	/* Indirect (3), direct of 2 (0), indirect (x): the whole ring in flight. */
	b[0] = filled(16, 0x10, false);
	b[1] = filled(32, 0x11, false);
	b[2] = filled(64, 0x12, true);
	b[3] = filled(1, 0x13, true);
	fr_add_indirect(&r, 3, b, 4, 0, 0);
	pop_one(&e, 3);
	CHECK_EQ(e.out_num, 2);
	CHECK_EQ(e.in_num, 2);
	CHECK_EQ(e.out_len, 48);
	CHECK_EQ(e.in_len, 65);
	fr_add(&r, 0, b, 2);
	pop_one(&e, 0);
	CHECK_EQ(e.out_num, 2);
	CHECK(fr_fits(&r, 1, true));
	/* Split: the direct chain took a descriptor, the head is whichever is left. */
	x = fr_free_id(&r);
	fr_add_indirect(&r, x, &b[2], 2, 0, 0);
	pop_one(&e, x);
	CHECK_EQ(e.in_len, 65);
	CHECK(!fr_fits(&r, 1, true));
	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, LONG + 8), 0);
	/* Packed: the device's position went round to the driver's (0, wrap 0). */
	CHECK_EQ(fr_avail_ahead(&r), 0);
	CHECK_EQ(r.vq->inflight, 3);

	/* Out of order; two indirect ones done, so another fits, reusing id 3. */
	vq_dev_push(r.vq, x, 65);
	vq_dev_push(r.vq, 3, 65);
	fr_expect_used(&r, x, 65);
	fr_expect_used(&r, 3, 65);
	CHECK(fr_fits(&r, 1, true));
	fr_add_indirect(&r, 3, &b[2], 2, 0, 0);
	pop_one(&e, 3);
	vq_dev_push(r.vq, 0, 0);
	vq_dev_push(r.vq, 3, 1);
	fr_expect_used(&r, 0, 0);
	fr_expect_used(&r, 3, 1);
	CHECK_EQ(fr_get_used(&r, &id, &len), 0);
	CHECK_EQ(r.vq->inflight, 0);
	CHECK(!r.vq->broken);
	fr_fini(&r);
	return 0;
}
