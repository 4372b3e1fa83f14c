/* SPDX-License-Identifier: MIT */
/*
 * Notification suppression both ways on either layout (argv: split|packed
 * flags|event_idx; §2.7.10, §2.8.10).
 *
 * flags (no VIRTIO_F_EVENT_IDX): need_notify follows the driver's interrupt
 * switch (split NO_INTERRUPT, packed DISABLE) and signals again once it is
 * back on; disable/enable_kicks switch the device's kick flag; enable_kicks
 * reports a buffer that arrived while kicks were off; pop, push and
 * need_notify never write the kick event field.
 *
 * event_idx, starting 3 ring units before the positions wrap: the first
 * need_notify always signals; afterwards it signals exactly when the used
 * element at the driver's event was written since the last check, across
 * the wrap, several laps ahead and inside a batch (one signal for it); an
 * event behind us is not crossed again until a whole span of pushes without
 * a check makes the comparison ambiguous, then it signals. Pop keeps the
 * kick event at the next avail position, disable_kicks leaves kicks on (the
 * event does the work), enable_kicks rewrites a stale event and reports a
 * buffer that arrived meanwhile.
 */
#include "fake_ring.h"
#include "test.h"

#define NUM 8

static struct fake_ring r;
static bool event_idx;
static uint64_t b8;

static void pop_check(uint16_t id)
{
	struct vq_dev_elem e;
	struct iovec iov[NUM];

	CHECK_EQ(vq_dev_pop(r.vq, &e, iov, NUM), 1);
	CHECK_EQ(e.head, id);
	/* Kick me for the next buffer. */
	if (event_idx)
		CHECK_EQ(fr_kick_event(&r), fr_dev_avail_pos(&r));
}

static uint16_t add_n(unsigned n)
{
	struct fake_seg s[NUM];
	uint16_t id = fr_free_id(&r);

	for (unsigned k = 0; k < n; k++)
		s[k] = (struct fake_seg){b8, 8, false};
	fr_add(&r, id, s, n);
	return id;
}

/* A buffer of n segments made available, popped, pushed and taken back. */
static void round_trip_n(unsigned n)
{
	uint16_t id = add_n(n);

	pop_check(id);
	vq_dev_push(r.vq, id, 0);
	fr_expect_used(&r, id, 0);
}

/* One push, then need_notify must say expect. */
static void step(bool expect)
{
	round_trip_n(1);
	CHECK_EQ(vq_dev_need_notify(r.vq), expect);
}

static void setup(void)
{
	CHECK_EQ(fr_start(&r, event_idx, false), 0);
	b8 = fake_mem_alloc(r.m, 8);
}

static void flags(void)
{
	uint16_t id, ev;

	setup();
	fr_set_kick_event(&r, 0xabcd);
	step(true);
	step(true);
	fr_irq(&r, false);
	step(false);
	CHECK(!vq_dev_need_notify(r.vq));
	fr_irq(&r, true);
	CHECK(vq_dev_need_notify(r.vq));
	step(true);
	CHECK_EQ(fr_kick_event(&r), 0xabcd);

	/* Kicks. */
	CHECK(fr_kicks_on(&r));
	vq_dev_disable_kicks(r.vq);
	CHECK(!fr_kicks_on(&r));
	CHECK(!vq_dev_enable_kicks(r.vq));
	CHECK(fr_kicks_on(&r));

	/* The race: a buffer made available while kicks were off. */
	vq_dev_disable_kicks(r.vq);
	id = add_n(1);
	CHECK(vq_dev_enable_kicks(r.vq));
	CHECK(fr_kicks_on(&r));
	pop_check(id);
	CHECK(!vq_dev_enable_kicks(r.vq));
	vq_dev_push(r.vq, id, 0);
	fr_expect_used(&r, id, 0);

	/* Pop does not write the kick event without EVENT_IDX. */
	ev = fr_kick_event(&r);
	round_trip_n(1);
	CHECK_EQ(fr_kick_event(&r), ev);
	CHECK(fr_kicks_on(&r));
}

static void with_event_idx(void)
{
	unsigned span = fr_span(&r);
	uint16_t id;

	fr_near_wrap(&r, 3);
	setup();

	/* First check: no previous signal to compare with. */
	fr_irq_at(&r, 4);
	step(true);

	/* Notify for the element two units ahead. */
	fr_irq_at(&r, 2);
	step(false);
	step(false); /* crosses the wrap */
	step(true);
	step(false); /* already signalled for it */

	/* An event several laps of the packed ring (or past split's wrap) later. */
	for (unsigned pass = 0; pass < 5; pass++) {
		fr_irq_at(&r, NUM + 1);
		for (unsigned i = 0; i < NUM + 1; i++)
			step(false);
		step(true);
	}

	/* Crossed inside a batch: one signal for the batch. */
	fr_irq_at(&r, 1);
	round_trip_n(1);
	round_trip_n(1);
	round_trip_n(1);
	CHECK(vq_dev_need_notify(r.vq));
	CHECK(!vq_dev_need_notify(r.vq)); /* nothing new since */
	/* An event behind us is not crossed again. */
	step(false);

	/* An event just behind us is not crossed by a few pushes ... */
	fr_irq_at(&r, span - 1);
	CHECK(!vq_dev_need_notify(r.vq));
	for (unsigned i = 0; i < NUM; i++)
		round_trip_n(1);
	CHECK(!vq_dev_need_notify(r.vq));
	/* ... but a span of pushes without a check makes the comparison ambiguous: signal. */
	for (unsigned i = 0; i < span; i++)
		round_trip_n(1);
	CHECK(vq_dev_need_notify(r.vq));
	/* So does a span of pushes past an event ahead. */
	fr_irq_at(&r, 10);
	for (unsigned i = 0; i < span; i++)
		round_trip_n(1);
	CHECK(vq_dev_need_notify(r.vq));

	/* Kick side: the event asks for the next buffer, disable changes nothing. */
	round_trip_n(2);
	CHECK(fr_kicks_by_event(&r));
	CHECK_EQ(fr_kick_event(&r), fr_dev_avail_pos(&r));
	CHECK_EQ(fr_avail_ahead(&r), 0);
	vq_dev_disable_kicks(r.vq);
	CHECK(fr_kicks_by_event(&r));
	CHECK_EQ(fr_kick_event(&r), fr_dev_avail_pos(&r));
	/* A stale event is rewritten. */
	fr_set_kick_event(&r, 0x5555);
	CHECK(!vq_dev_enable_kicks(r.vq));
	CHECK(fr_kicks_by_event(&r));
	CHECK_EQ(fr_kick_event(&r), fr_dev_avail_pos(&r));
	/* The race: a buffer made available meanwhile. */
	vq_dev_disable_kicks(r.vq);
	id = add_n(1);
	CHECK(vq_dev_enable_kicks(r.vq));
	CHECK_EQ(fr_kick_event(&r), fr_dev_avail_pos(&r));
	pop_check(id);
	CHECK(!vq_dev_enable_kicks(r.vq));
	CHECK(fr_kicks_by_event(&r));
}

int main(int argc, char **argv)
{
	if (argc != 3)
		SKIP("usage: %s split|packed flags|event_idx", argv[0]);
	fr_init(&r, fr_layout(argv[1]), NUM, 1);
	event_idx = !strcmp(argv[2], "event_idx");
	if (event_idx)
		with_event_idx();
	else if (!strcmp(argv[2], "flags"))
		flags();
	else
		SKIP("unknown case %s", argv[2]);
	CHECK(!r.vq->broken);
	fr_fini(&r);
	return 0;
}
