/* SPDX-License-Identifier: MIT */
/*
 * Inflight I/O tracking in the split layout of the region (vhost-user.rst
 * "Inflight I/O tracking"), one behaviour per run (argv[1] names the case);
 * test_dev_inflight covers what both layouts share (resubmission order, an
 * orderly restart, a bad header, the region's size and alignment).
 *
 * A back end that dies is simulated by dropping its vq_dev without another
 * store (vq_dev_fini) and starting a fresh one on the same rings and the same
 * region, with the base QEMU would send (used->idx, see
 * virtio_queue_restore_last_avail_idx). A death in the middle of a push is
 * simulated by doing by hand the prefix of push's stores that a killed
 * process would have left behind.
 *
 *   track           pop: counter = ++global, inflight = 1; push: used
 *                   element, last_batch_head, used->idx, inflight = 0,
 *                   region used_idx; a fresh region is initialised
 *   counters        resubmitted heads keep their counters and flags until
 *                   pushed, last_avail_idx = used->idx + in flight, counters
 *                   continue above the old maximum, and after an orderly
 *                   restart a new head gets a counter and its flag
 *   last_batch      died after publishing used->idx, before inflight = 0:
 *                   that head is not resubmitted (no double completion)
 *   crash_points    a death after each store of push: the head is either
 *                   used or resubmitted, exactly once
 *   bad_last_batch, packed_layout,
 *   bad_chain       malformed regions / chains are refused or break the
 *                   queue, never read or written out of bounds
 */
#include "fake_driver.h"
#include "internal/compiler.h"
#include "test.h"

#include <errno.h>
#include <stdlib.h>

#define NUM 8

static struct fake_drv d;
static struct iovec iov[16];
static struct fake_region reg;

static struct vhost_user_inflight_split_queue *region(void)
{
	return (struct vhost_user_inflight_split_queue *)(void *)reg.mem;
}

/* (Re)start the device side on the fake rings with the region and a base. */
static int start(uint16_t base)
{
	static const unsigned off[3] = {FAKE_DESC_OFF, FAKE_AVAIL_OFF, FAKE_USED_OFF};

	return fake_mem_restart(&d.m, &d.vq, NUM, false, off, region(),
				vq_dev_inflight_size_ring(NUM, false), base);
}

/* The back end dies: no further store; QEMU then sends used->idx as the base. */
static int die_and_restart(void)
{
	return start(fake_used_idx(&d));
}

/* Head h: a one-descriptor chain; publish it. */
static void post(uint16_t h)
{
	fake_set_desc(d.desc, h, fake_mem_alloc(&d.m, 64), 64, VIRTQ_DESC_F_WRITE, 0);
	fake_publish(&d, h);
}

static uint16_t pop1(void)
{
	struct vq_dev_elem e;

	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 16), 1);
	CHECK_EQ(e.in_num, 1);
	CHECK_EQ(e.in_len, 64);
	return e.head;
}

static void pop_none(void)
{
	struct vq_dev_elem e;

	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 16), 0);
}

static unsigned used_count_of(uint16_t head, uint16_t from)
{
	unsigned n = 0;

	for (uint16_t i = from; i != fake_used_idx(&d); i++) {
		uint32_t id, len;

		fake_used_elem(&d, i, &id, &len);
		n += id == head;
	}
	return n;
}

static void case_track(void)
{
	struct vhost_user_inflight_split_queue *r = region();

	CHECK_EQ(start(0), 0);
	/* vq_dev_start_areas initialised the fresh (version 0) region. */
	CHECK_EQ(r->version, VQ_DEV_INFLIGHT_VERSION);
	CHECK_EQ(r->desc_num, NUM);
	CHECK_EQ(r->used_idx, 0);
	CHECK(!d.vq.inflight_recovered);
	CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 0);

	post(5);
	post(2);
	post(7);
	CHECK_EQ(pop1(), 5);
	CHECK_EQ(r->desc[5].inflight, 1);
	CHECK_EQ(r->desc[5].counter, 1);
	CHECK_EQ(r->desc[2].inflight, 0);
	CHECK_EQ(pop1(), 2);
	CHECK_EQ(pop1(), 7);
	/* Counters increase in pop order. */
	CHECK(r->desc[5].counter < r->desc[2].counter);
	CHECK(r->desc[2].counter < r->desc[7].counter);
	CHECK_EQ(r->desc[2].inflight, 1);
	CHECK_EQ(r->desc[7].inflight, 1);

	vq_dev_push(&d.vq, 2, 64);
	CHECK_EQ(r->desc[2].inflight, 0);
	CHECK_EQ(r->last_batch_head, 2);
	CHECK_EQ(r->used_idx, 1);
	CHECK_EQ(fake_used_idx(&d), 1);
	CHECK_EQ(r->desc[5].inflight, 1);

	vq_dev_push(&d.vq, 7, 64);
	vq_dev_push(&d.vq, 5, 64);
	CHECK_EQ(r->last_batch_head, 5);
	CHECK_EQ(r->used_idx, 3);
	for (unsigned i = 0; i < NUM; i++)
		CHECK_EQ(r->desc[i].inflight, 0);

	/* A head used again gets a new, larger counter. */
	post(2);
	CHECK_EQ(pop1(), 2);
	CHECK_EQ(r->desc[2].counter, 4);
	vq_dev_push(&d.vq, 2, 64);
	fake_region_guard_check(&reg);
}

static void case_counters(void)
{
	struct vhost_user_inflight_split_queue *r = region();
	uint64_t max;

	CHECK_EQ(start(0), 0);
	/* Pop order 6, 1, 4, 3, 0; complete 1 and 3 out of order; die. */
	post(6);
	post(1);
	post(4);
	post(3);
	post(0);
	for (int i = 0; i < 5; i++)
		pop1();
	vq_dev_push(&d.vq, 1, 64);
	vq_dev_push(&d.vq, 3, 64);
	max = r->desc[0].counter;
	post(2);

	CHECK_EQ(die_and_restart(), 0);
	/* used->idx (2) + 3 in flight: the next new avail entry is slot 5 (head 2). */
	CHECK_EQ(d.vq.last_avail_idx, 5);
	CHECK_EQ(pop1(), 6);
	CHECK_EQ(pop1(), 4);
	CHECK_EQ(pop1(), 0);
	/* Resubmitted heads keep their counters and flags until pushed. */
	CHECK_EQ(r->desc[6].inflight, 1);
	CHECK_EQ(r->desc[0].counter, max);
	CHECK_EQ(pop1(), 2);
	CHECK(r->desc[2].counter > max);
	vq_dev_push(&d.vq, 4, 64);
	vq_dev_push(&d.vq, 6, 64);
	vq_dev_push(&d.vq, 2, 64);
	vq_dev_push(&d.vq, 0, 64);
	CHECK_EQ(fake_used_idx(&d), 6);

	/* An orderly stop (GET_VRING_BASE) and start; then a new head. */
	CHECK_EQ(start(vq_dev_get_base(&d.vq)), 0);
	CHECK_EQ(d.vq.last_avail_idx, 6);
	post(4);
	CHECK_EQ(pop1(), 4);
	/* Counters only order what is in flight together; nothing was. */
	CHECK_EQ(r->desc[4].inflight, 1);
	CHECK(r->desc[4].counter >= 1);
	fake_region_guard_check(&reg);
}

/*
 * Push of head h as a process killed after `steps` of its stores would leave
 * it: 1 used element, 2 last_batch_head, 3 used->idx, 4 inflight = 0,
 * 5 region used_idx (5 = the whole push).
 */
static void partial_push(uint16_t h, int steps)
{
	struct vhost_user_inflight_split_queue *r = region();
	uint16_t u = fake_used_idx(&d);

	if (steps >= 1) {
		d.used->ring[u % NUM].id = vblk_cpu_to_le32(h);
		d.used->ring[u % NUM].len = vblk_cpu_to_le32(64);
	}
	if (steps >= 2)
		r->last_batch_head = h;
	if (steps >= 3)
		d.used->idx = vblk_cpu_to_le16((uint16_t)(u + 1));
	if (steps >= 4)
		r->desc[h].inflight = 0;
	if (steps >= 5)
		r->used_idx = (uint16_t)(u + 1);
}

static void crash_at(int steps)
{
	struct vhost_user_inflight_split_queue *r = region();
	bool published = steps >= 3;
	unsigned pending;

	fake_init(&d, NUM, 1);
	fake_region_reset(&reg, vq_dev_inflight_size_ring(NUM, false));
	CHECK_EQ(start(0), 0);
	post(3);
	post(5);
	CHECK_EQ(pop1(), 3);
	CHECK_EQ(pop1(), 5);
	vq_dev_push(&d.vq, 3, 64);
	partial_push(5, steps);

	CHECK_EQ(die_and_restart(), 0);
	pending = vq_dev_resubmit_pending(&d.vq);
	/* The driver saw head 5 used exactly when used->idx was published... */
	CHECK_EQ(used_count_of(5, 0), published ? 1 : 0);
	/* ...and then it must not come back; otherwise it must. */
	CHECK_EQ(pending, published ? 0 : 1);
	CHECK_EQ(r->desc[5].inflight, published ? 0 : 1);
	CHECK_EQ(r->used_idx, fake_used_idx(&d));
	CHECK_EQ(d.vq.last_avail_idx, 2);
	if (!published) {
		CHECK_EQ(pop1(), 5);
		vq_dev_push(&d.vq, 5, 64);
	}
	pop_none();
	CHECK_EQ(used_count_of(5, 0), 1);
	CHECK_EQ(used_count_of(3, 0), 1);
	CHECK_EQ(fake_used_idx(&d), 2);
	fake_region_guard_check(&reg);
	fake_fini(&d);
}

static void case_last_batch(void)
{
	/* The case the spec singles out: used->idx published, inflight still 1. */
	crash_at(3);
}

static void case_crash_points(void)
{
	for (int steps = 0; steps <= 5; steps++)
		crash_at(steps);
}

/* A region an earlier back end used, with one head in flight. */
static void used_region(void)
{
	CHECK_EQ(start(0), 0);
	post(6);
	pop1();
	CHECK_EQ(region()->desc[6].inflight, 1);
}

/* Restart must be refused and must leave the region as it was. */
static void expect_refused(void)
{
	uint8_t before[sizeof(reg.mem)];

	memcpy(before, reg.mem, sizeof(before));
	CHECK_EQ(die_and_restart(), -EINVAL);
	CHECK(memcmp(before, reg.mem, sizeof(before)) == 0);
	CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 0);
}

static void case_bad_last_batch(void)
{
	used_region();
	/* used_idx != used->idx makes the restart clear desc[last_batch_head]. */
	region()->used_idx = 77;
	region()->last_batch_head = NUM;
	expect_refused();
	region()->last_batch_head = 0xffff;
	expect_refused();
}

static void case_packed_layout(void)
{
	used_region();
	/* A packed-layout region (vblk's tag in features) is never read as split. */
	region()->features = VQ_INFLIGHT_F_PACKED_LAYOUT;
	expect_refused();
}

static void case_bad_chain(void)
{
	struct vq_dev_elem e;

	used_region();
	/* While the back end was down, the driver scribbled over head 6's descriptor. */
	fake_set_desc(d.desc, 6, 0xdead0000000ull, 64, VIRTQ_DESC_F_WRITE, 0);
	CHECK_EQ(die_and_restart(), 0);
	CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 1);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 16), -EIO);
	CHECK(d.vq.broken);
	CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 1);
	CHECK_EQ(d.vq.inflight, 0);
	/* Garbage flags: any non-zero inflight byte counts, huge counters sort fine. */
	fake_set_desc(d.desc, 6, fake_mem_alloc(&d.m, 64), 64, VIRTQ_DESC_F_WRITE, 0);
	fake_set_desc(d.desc, 1, fake_mem_alloc(&d.m, 64), 64, VIRTQ_DESC_F_WRITE, 0);
	region()->desc[1].inflight = 0xff;
	region()->desc[1].counter = UINT64_MAX;
	CHECK_EQ(die_and_restart(), 0);
	CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 2);
	CHECK_EQ(pop1(), 6);
	CHECK_EQ(pop1(), 1);
	fake_region_guard_check(&reg);
}

static const struct {
	const char *name;
	void (*fn)(void);
	bool own_setup;
} cases[] = {
    {"track", case_track, false},
    {"counters", case_counters, false},
    {"last_batch", case_last_batch, true},
    {"crash_points", case_crash_points, true},
    {"bad_last_batch", case_bad_last_batch, false},
    {"packed_layout", case_packed_layout, false},
    {"bad_chain", case_bad_chain, false},
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (strcmp(argv[1], cases[i].name))
			continue;
		if (!cases[i].own_setup) {
			fake_init(&d, NUM, 1);
			fake_region_reset(&reg, vq_dev_inflight_size_ring(NUM, false));
		}
		cases[i].fn();
		if (!cases[i].own_setup)
			fake_fini(&d);
		return 0;
	}
	fprintf(stderr, "unknown case %s\n", argv[1]);
	return 2;
}
