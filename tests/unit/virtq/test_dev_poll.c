/* SPDX-License-Identifier: MIT */
/*
 * The device polls its ring (argv: split|packed flags|event_idx; §2.7.10,
 * §2.8.10): vq_dev_poll_start turns kicks off in every mode (split with
 * EVENT_IDX: avail_event one entry behind the device, which the driver
 * cannot pass; packed: DISABLE even with EVENT_IDX) and they stay off
 * through pops and disable/enable_kicks, whose enable only reports whether
 * buffers are available; vq_dev_avail sees a buffer without consuming it;
 * vq_dev_poll_stop turns kicks back on as enable_kicks does and reports a
 * buffer that arrived while they were off.
 */
#include "fake_ring.h"
#include "test.h"

#define NUM 8

static struct fake_ring r;
static bool event_idx;
static uint64_t b8;

static uint16_t add_one(void)
{
	struct fake_seg s = {b8, 8, false};
	uint16_t id = fr_free_id(&r);

	fr_add(&r, id, &s, 1);
	return id;
}

/* Kicks are off the way polling turns them off. */
static void check_held(void)
{
	if (event_idx && !r.packed)
		CHECK_EQ(fr_kick_event(&r), (uint16_t)(fr_dev_avail_pos(&r) - 1));
	else
		CHECK(!fr_kicks_on(&r));
}

/* Kicks are on the way enable_kicks turns them on. */
static void check_on(void)
{
	CHECK(fr_kicks_on(&r));
	if (event_idx) {
		CHECK(fr_kicks_by_event(&r));
		CHECK_EQ(fr_kick_event(&r), fr_dev_avail_pos(&r));
	}
}

static void pop_push(uint16_t id)
{
	struct vq_dev_elem e;
	struct iovec iov[NUM];

	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, NUM), 1);
	CHECK_EQ(e.head, id);
	vq_dev_push(r.vq, id, 0);
	fr_expect_used(&r, id, 0);
}

int main(int argc, char **argv)
{
	uint16_t id;

	if (argc != 3)
		SKIP("usage: %s split|packed flags|event_idx", argv[0]);
	fr_init(&r, fr_layout(argv[1]), NUM, 1);
	event_idx = !strcmp(argv[2], "event_idx");
	CHECK_EQ(fr_start(&r, event_idx, false), 0);
	b8 = fake_mem_alloc(r.m, 8);

	CHECK(!vq_dev_avail(r.vq));
	vq_dev_poll_start(r.vq);
	check_held();
	CHECK(!vq_dev_avail(r.vq));

	/* A buffer is seen, not consumed, and popping it leaves kicks off. */
	id = add_one();
	CHECK(vq_dev_avail(r.vq));
	CHECK(vq_dev_avail(r.vq));
	CHECK_EQ(fr_avail_ahead(&r), 1);
	pop_push(id);
	CHECK(!vq_dev_avail(r.vq));
	check_held();

	/* A device's batch (disable, pop, enable) while polling: kicks stay off. */
	for (unsigned i = 0; i < 2 * NUM; i++) {
		vq_dev_disable_kicks(r.vq);
		id = add_one();
		CHECK(vq_dev_enable_kicks(r.vq));
		check_held();
		pop_push(id);
		CHECK(!vq_dev_enable_kicks(r.vq));
		check_held();
	}

	/* Stop: kicks on, nothing pending. */
	CHECK(!vq_dev_poll_stop(r.vq));
	check_on();
	/* Outside polling enable_kicks is itself again. */
	vq_dev_disable_kicks(r.vq);
	CHECK(!vq_dev_enable_kicks(r.vq));
	check_on();

	/* The race before sleeping: a buffer made available while kicks were off. */
	vq_dev_poll_start(r.vq);
	id = add_one();
	CHECK(vq_dev_poll_stop(r.vq));
	check_on();
	pop_push(id);
	CHECK(!vq_dev_enable_kicks(r.vq));
	check_on();

	CHECK(!r.vq->broken);
	fr_fini(&r);
	return 0;
}
