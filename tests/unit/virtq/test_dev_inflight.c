/* SPDX-License-Identifier: MIT */
/*
 * Inflight I/O tracking (vhost-user.rst "Inflight I/O tracking") on either
 * layout, one behaviour per run (argv: split|packed CASE). What the region
 * holds, and deaths in the middle of a store sequence, are each layout's
 * own (test_split_inflight, test_packed_inflight).
 *
 * A back end that dies is simulated by dropping its vq_dev without another
 * store and starting a fresh one on the same rings and region, with the
 * base the front end sends after a death (fr_death_base).
 *
 *   resubmit_order  unfinished buffers (lists and indirect) come back in pop
 *                   order before new ones, each used exactly once; the
 *                   position carries on right after the last popped buffer;
 *                   a second death with nothing in flight resubmits nothing
 *   graceful        an orderly stop and start (our get_base): nothing
 *                   resubmitted, the ring carries on
 *   bad_version, bad_desc_num
 *                   a region an earlier back end used whose header is wrong
 *                   is refused and left as it was
 *   too_small, unaligned
 *                   set_inflight refuses a region smaller than the layout's
 *                   size or not 8-byte aligned
 */
#include "fake_ring.h"
#include "internal/compiler.h"
#include "test.h"

#include <errno.h>

#define NUM 8

/* The header both region layouts start with (vhost-user.rst). */
struct region_hdr {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
};

static struct fake_ring r;
static struct iovec iov[16];
static uint32_t first_base;
static struct fake_region reg;

/* What the driver made available under each id, and how often it came back used. */
static struct {
	uint64_t gpa0, out_len;
	unsigned used;
	bool posted;
} ex[NUM];

static size_t region_size(void)
{
	return vq_dev_inflight_size_ring(NUM, r.packed);
}

/* First start of the device: a fresh region at the driver's positions. */
static void first_start(void)
{
	fake_region_reset(&reg, region_size());
	r.vq->indirect = true;
	first_base = fr_first_base(&r);
	CHECK_EQ(fr_start_inflight(&r, reg.mem, region_size(), first_base), 0);
	CHECK(!r.vq->inflight_recovered);
}

static int die_and_restart(void)
{
	return fr_start_inflight(&r, reg.mem, region_size(), fr_death_base(&r, first_base));
}

/* n segments (n - 1 readable of 16 bytes, then a writable one of 64), maybe indirect. */
static uint16_t post(unsigned n, bool indirect)
{
	struct fake_seg s[4];
	uint16_t id = fr_free_id(&r);

	CHECK(n >= 1 && n <= 4 && id < NUM && !ex[id].posted);
	for (unsigned k = 0; k < n; k++)
		s[k] =
		    (struct fake_seg){fake_mem_alloc(r.m, 64), k + 1 == n ? 64u : 16u, k + 1 == n};
	if (indirect)
		fr_add_indirect(&r, id, s, n, 0, 0);
	else
		fr_add(&r, id, s, n);
	ex[id].gpa0 = s[0].addr;
	ex[id].out_len = 16ull * (n - 1);
	ex[id].posted = true;
	return id;
}

/* Pop one buffer; check it is the one the driver posted under its id. */
static uint16_t pop1(void)
{
	struct vq_dev_elem e;

	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, 16), 1);
	CHECK(e.head < NUM && ex[e.head].posted);
	CHECK_EQ(e.out_len, ex[e.head].out_len);
	CHECK_EQ(e.in_len, 64);
	CHECK(iov[0].iov_base == fake_mem_dev_ptr(r.m, ex[e.head].gpa0));
	return e.head;
}

static void pop_none(void)
{
	struct vq_dev_elem e;

	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, 16), 0);
}

/* The driver takes every used element there is. */
static void reap(void)
{
	uint16_t id;
	uint32_t len;

	while (fr_get_used(&r, &id, &len)) {
		CHECK(ex[id].posted);
		CHECK_EQ(len, 64);
		ex[id].used++;
		ex[id].posted = false;
	}
}

static void push_reap(uint16_t id)
{
	vq_dev_push(r.vq, id, 64);
	reap();
	CHECK_EQ(ex[id].used, 1);
	ex[id].used = 0;
}

static void case_resubmit_order(void)
{
	uint16_t id[5], late;
	const unsigned n[5] = {2, 1, 3, 2, 1};
	const bool ind[5] = {false, false, true, false, false};

	first_start();
	for (int i = 0; i < 5; i++)
		id[i] = post(n[i], ind[i]);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(pop1(), id[i]);
	/* Complete the second and the fourth, out of order. */
	push_reap(id[1]);
	push_reap(id[3]);
	/* One more the driver made available that the dead back end never took. */
	late = post(1, false);

	CHECK_EQ(die_and_restart(), 0);
	CHECK(r.vq->inflight_recovered);
	CHECK_EQ(vq_dev_resubmit_pending(r.vq), 3);
	/* The position is right after what the dead back end popped. */
	CHECK_EQ(fr_avail_ahead(&r), fr_units(&r, 1, false));
	CHECK_EQ(fr_used_ahead(&r), 0);
	CHECK_EQ(pop1(), id[0]);
	CHECK_EQ(pop1(), id[2]);
	CHECK_EQ(pop1(), id[4]);
	CHECK_EQ(vq_dev_resubmit_pending(r.vq), 0);
	CHECK_EQ(pop1(), late);
	pop_none();
	CHECK_EQ(r.vq->inflight, 4);

	/* Complete everything: each buffer is used exactly once after the restart. */
	push_reap(id[2]);
	push_reap(id[0]);
	push_reap(late);
	push_reap(id[4]);
	for (uint16_t i = 0; i < NUM; i++)
		CHECK(!ex[i].posted && !ex[i].used);
	CHECK(!r.vq->broken);
	CHECK_EQ(fr_used_ahead(&r), 0);

	/* A second death with nothing in flight resubmits nothing. */
	CHECK_EQ(die_and_restart(), 0);
	CHECK_EQ(vq_dev_resubmit_pending(r.vq), 0);
	CHECK_EQ(fr_avail_ahead(&r), 0);
	CHECK_EQ(fr_used_ahead(&r), 0);
	pop_none();
	late = post(2, false);
	CHECK_EQ(pop1(), late);
	push_reap(late);
	fake_region_guard_check(&reg);
}

static void case_graceful(void)
{
	uint16_t a, b;

	first_start();
	a = post(2, false);
	b = post(1, true);
	pop1();
	pop1();
	push_reap(b);
	push_reap(a);
	/* An orderly stop and start: the front end sends our GET_VRING_BASE. */
	CHECK_EQ(fr_start_inflight(&r, reg.mem, region_size(), vq_dev_get_base(r.vq)), 0);
	CHECK(r.vq->inflight_recovered);
	CHECK_EQ(vq_dev_resubmit_pending(r.vq), 0);
	CHECK_EQ(fr_avail_ahead(&r), 0);
	pop_none();
	a = post(1, false);
	CHECK_EQ(pop1(), a);
	push_reap(a);
	fake_region_guard_check(&reg);
}

/* Restart must be refused and must leave the region as it was. */
static void expect_refused(void)
{
	static uint8_t before[sizeof(reg.mem)];

	memcpy(before, reg.mem, sizeof(before));
	CHECK_EQ(die_and_restart(), -EINVAL);
	CHECK(memcmp(before, reg.mem, sizeof(before)) == 0);
	CHECK_EQ(vq_dev_resubmit_pending(r.vq), 0);
	fake_region_guard_check(&reg);
}

/* A region an earlier back end used, with a list and an indirect buffer in flight. */
static struct region_hdr *used_region(void)
{
	first_start();
	post(2, false);
	post(2, true);
	pop1();
	pop1();
	return (struct region_hdr *)(void *)reg.mem;
}

static void case_bad_version(void)
{
	used_region()->version = 2;
	expect_refused();
}

static void case_bad_desc_num(void)
{
	struct region_hdr *h = used_region();

	/* More entries than the ring (and than the region holds), or fewer. */
	h->desc_num = 0xffff;
	expect_refused();
	h->desc_num = NUM * 2;
	expect_refused();
	h->desc_num = NUM / 2;
	expect_refused();
}

static void set_inflight_refused(void *region, size_t len)
{
	CHECK_EQ(vq_dev_set_inflight(r.vq, region, len), -EINVAL);
	CHECK(r.vq->inflight_region == NULL);
}

static void case_too_small(void)
{
	uint64_t odd[4];

	/* The packed layout's entries are twice the split one's. */
	CHECK_EQ(vq_dev_inflight_size_ring(NUM, true), 2 * vq_dev_inflight_size_ring(NUM, false));
	CHECK_EQ(vq_dev_inflight_size_ring(NUM, false), 16 + NUM * 16);
	CHECK_EQ(vq_dev_init_ring(r.vq, NUM, r.packed), 0);
	set_inflight_refused(reg.mem, region_size() - 1);
	set_inflight_refused(reg.mem, 0);
	set_inflight_refused(odd, sizeof(odd));
	/* A packed ring never takes a region of the split layout's size. */
	if (r.packed)
		set_inflight_refused(reg.mem, vq_dev_inflight_size_ring(NUM, false));
	CHECK_EQ(vq_dev_set_inflight(r.vq, reg.mem, region_size()), 0);
	CHECK(r.vq->inflight_region == (void *)reg.mem);
	CHECK_EQ(vq_dev_set_inflight(r.vq, NULL, 0), 0);
	CHECK(r.vq->inflight_region == NULL);
}

static void case_unaligned(void)
{
	CHECK_EQ(vq_dev_init_ring(r.vq, NUM, r.packed), 0);
	set_inflight_refused((uint8_t *)reg.mem + 4, region_size());
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
    {"resubmit_order", case_resubmit_order}, {"graceful", case_graceful},
    {"bad_version", case_bad_version},	     {"bad_desc_num", case_bad_desc_num},
    {"too_small", case_too_small},	     {"unaligned", case_unaligned},
};

int main(int argc, char **argv)
{
	if (argc != 3)
		SKIP("usage: %s split|packed CASE", argv[0]);
	fr_init(&r, fr_layout(argv[1]), NUM, 1);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (strcmp(argv[2], cases[i].name))
			continue;
		cases[i].fn();
		fr_fini(&r);
		return 0;
	}
	fprintf(stderr, "unknown case %s\n", argv[2]);
	return 2;
}
