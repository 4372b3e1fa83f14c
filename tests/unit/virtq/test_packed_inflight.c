/* SPDX-License-Identifier: MIT */
/*
 * Inflight I/O tracking in the packed layout of the region (vhost-user.rst
 * "Inflight I/O tracking"), one behaviour per run (argv[1] names the case;
 * "random" takes a seed as argv[2]); test_dev_inflight covers what both
 * layouts share (resubmission order, an orderly restart, a bad header, the
 * region's size and alignment).
 *
 * A back end that dies is simulated by dropping its vq_dev without
 * another store and starting a fresh one on the same ring and region, with
 * the stale base QEMU sends after a death (it cannot restore a packed ring's
 * position: virtio_queue_packed_restore_last_avail_idx does nothing). A death
 * in the middle of pop or push is simulated by doing by hand the prefix of
 * their stores that a killed process would have left behind.
 *
 *   track           fresh region initialised (tag, free list, used word);
 *                   pop copies each descriptor, head num/last/counter, then
 *                   inflight = 1; push: used element, free list, used word,
 *                   flags, inflight = 0, commit
 *   resubmit_positions
 *                   unfinished buffers (lists, indirect) are rebuilt from
 *                   the region although their ring slots hold used
 *                   elements; positions and wrap counters come from the
 *                   region, not from the stale base
 *   crash_push      a death after each store of push: the buffer is either
 *                   used or resubmitted, exactly once
 *   crash_pop       a death after each store of pop's record: the buffer is
 *                   popped again (new or resubmitted), exactly once
 *   random SEED     random lists, out-of-order completion, deaths at random
 *                   points over many ring wraps: every buffer used once
 *   fresh_gap, split_tag, bad_used, bad_wrap,
 *   bad_free_head, num_zero, num_big, next_oob, shared_entry, last_mismatch,
 *   id_oob, id_dup, bad_flags, indirect_in_list, inflight_inside,
 *   commit_then_bad, bad_addr
 *                   malformed regions are refused (or break the queue at the
 *                   resubmission), never read or written out of bounds
 */
#include "fake_packed.h"
#include "internal/barrier.h"
#include "internal/compiler.h"
#include "test.h"
#include "virtq/vq_priv.h"

#include <errno.h>
#include <stdlib.h>

#define NUM 8

static struct fakep d;
static struct iovec iov[16];
static uint32_t stale_base;
static struct fake_region reg;

/* What the driver made available under each buffer ID, and how often it was used. */
static struct {
	uint64_t gpa0;
	uint64_t out_len, in_len;
	unsigned used;
	bool posted;
} ex[NUM];

static struct vhost_user_inflight_packed_queue *region(void)
{
	return (struct vhost_user_inflight_packed_queue *)(void *)reg.mem;
}

/* (Re)start the device side on the fake ring with the region and a base. */
static int start(uint32_t base)
{
	static const unsigned off[3] = {FAKE_DESC_OFF, FAKE_DRV_EV_OFF, FAKE_DEV_EV_OFF};

	d.vq.indirect = true;
	return fake_mem_restart(&d.m, &d.vq, NUM, true, off, region(),
				vq_dev_inflight_size_ring(NUM, true), base);
}

/* First start of the device: a fresh region; later deaths restart with this stale base. */
static void first_start(void)
{
	fake_region_reset(&reg, vq_dev_inflight_size_ring(NUM, true));
	stale_base = VQ_PACKED_BASE(d.next_avail, d.avail_wrap, d.last_used, d.used_wrap);
	CHECK_EQ(start(stale_base), 0);
}

static int die_and_restart(void)
{
	return start(stale_base);
}

/* Slots the driver has made available and not got back. */
static unsigned drv_busy(void)
{
	unsigned a = vq_packed_lin(NUM, d.next_avail, d.avail_wrap);
	unsigned u = vq_packed_lin(NUM, d.last_used, d.used_wrap);

	return (a + 2 * NUM - u) % (2 * NUM);
}

/*
 * Buffer id: n descriptors (n - 1 readable of 16 bytes, then a writable one
 * of 64), or with indirect one descriptor for a table of the same shape (n
 * entries).
 */
static void post(uint16_t id, unsigned n, bool indirect)
{
	struct fake_seg s[4];

	CHECK(n >= 1 && n <= 4 && !ex[id].posted);
	for (unsigned k = 0; k < n; k++)
		s[k] =
		    (struct fake_seg){fake_mem_alloc(&d.m, 64), k + 1 == n ? 64u : 16u, k + 1 == n};
	if (indirect)
		fakep_add_indirect(&d, s, n, id, 0);
	else
		fakep_add(&d, s, n, id);
	ex[id].gpa0 = s[0].addr;
	ex[id].out_len = 16ull * (n - 1);
	ex[id].in_len = 64;
	ex[id].posted = true;
}

/* Pop one buffer; check it is the one the driver posted under its ID. Returns the ID. */
static uint16_t pop1(void)
{
	struct vq_dev_elem e;

	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 16), 1);
	CHECK(e.head < NUM && ex[e.head].posted);
	CHECK_EQ(e.out_len, ex[e.head].out_len);
	CHECK_EQ(e.in_len, ex[e.head].in_len);
	CHECK(iov[0].iov_base == fake_mem_dev_ptr(&d.m, ex[e.head].gpa0));
	return e.head;
}

static void pop_none(void)
{
	struct vq_dev_elem e;

	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 16), 0);
}

/* The driver takes every used element there is. */
static void reap(void)
{
	uint16_t id, fl;
	uint32_t len;

	/* Only while something is out: a zeroed slot looks used under wrap counter 0. */
	while (drv_busy() && fakep_get_used(&d, &id, &len, &fl)) {
		CHECK(ex[id].posted);
		CHECK_EQ(len, 64);
		ex[id].used++;
		ex[id].posted = false;
	}
}

static void push_reap(uint16_t id)
{
	vq_dev_push(&d.vq, id, 64);
	reap();
	CHECK_EQ(ex[id].used, 1);
	ex[id].used = 0;
}

static void case_track(void)
{
	struct vhost_user_inflight_packed_queue *r = region();
	struct vhost_user_inflight_desc_packed *x;

	first_start();
	CHECK_EQ(r->version, VQ_PACKED_INFLIGHT_VERSION);
	CHECK_EQ(r->desc_num, NUM);
	CHECK_EQ(r->features, VQ_INFLIGHT_F_PACKED_LAYOUT);
	CHECK_EQ(r->free_head, 0);
	CHECK_EQ(r->old_free_head, 0);
	CHECK_EQ(r->used_idx, 0);
	CHECK_EQ(r->used_wrap_counter, 1);
	CHECK_EQ(r->old_used_wrap_counter, 1);
	for (unsigned i = 0; i < NUM; i++)
		CHECK_EQ(r->desc[i].next, i + 1);
	CHECK(!d.vq.inflight_recovered);

	post(5, 3, false);
	post(2, 2, true);
	CHECK_EQ(pop1(), 5);
	/* Entries 0, 1, 2: copies of the three descriptors; the head says 3, last 2. */
	x = &r->desc[0];
	CHECK_EQ(x->inflight, 1);
	CHECK_EQ(x->num, 3);
	CHECK_EQ(x->last, 2);
	CHECK_EQ(x->counter, 1);
	CHECK_EQ(x->addr, ex[5].gpa0);
	CHECK_EQ(x->len, 16);
	CHECK(x->flags & VIRTQ_DESC_F_NEXT);
	CHECK_EQ(r->desc[1].inflight, 0);
	CHECK_EQ(r->desc[2].len, 64);
	CHECK_EQ(r->desc[2].id, 5);
	CHECK(r->desc[2].flags & VIRTQ_DESC_F_WRITE);
	CHECK(!(r->desc[2].flags & VIRTQ_DESC_F_NEXT));
	CHECK_EQ(r->free_head, 3);
	CHECK_EQ(r->old_free_head, 3);

	CHECK_EQ(pop1(), 2);
	x = &r->desc[3];
	CHECK_EQ(x->inflight, 1);
	CHECK_EQ(x->num, 1);
	CHECK_EQ(x->last, 3);
	CHECK_EQ(x->counter, 2);
	CHECK(x->flags & VIRTQ_DESC_F_INDIRECT);
	CHECK_EQ(x->id, 2);
	CHECK_EQ(r->free_head, 4);

	/* Out of order: 2 first. Its entry goes back to the head of the free list. */
	push_reap(2);
	CHECK_EQ(r->desc[3].inflight, 0);
	CHECK_EQ(r->free_head, 3);
	CHECK_EQ(r->old_free_head, 3);
	CHECK_EQ(r->desc[3].next, 4);
	CHECK_EQ(r->used_idx, 1);
	CHECK_EQ(r->old_used_idx, 1);
	CHECK_EQ(r->desc[0].inflight, 1);
	push_reap(5);
	CHECK_EQ(r->free_head, 0);
	CHECK_EQ(r->desc[2].next, 3);
	/* used advanced by the slots: 1 + 3. */
	CHECK_EQ(r->used_idx, 4);
	CHECK_EQ(r->old_used_idx, 4);
	for (unsigned i = 0; i < NUM; i++)
		CHECK_EQ(r->desc[i].inflight, 0);
	fake_region_guard_check(&reg);
}

static void case_resubmit_positions(void)
{
	struct vhost_user_inflight_packed_queue *r = region();
	uint16_t order[5];

	first_start();
	/* Pop order 6, 1, 4, 3, 0 (lists of 2, 1, 1 indirect, 2, 1). */
	post(6, 2, false);
	post(1, 1, false);
	post(4, 3, true);
	post(3, 2, false);
	post(0, 1, false);
	for (int i = 0; i < 5; i++)
		order[i] = pop1();
	CHECK_EQ(order[0], 6);
	/*
	 * Complete 1 and 3 out of order: their used elements overwrite the
	 * slots of 6 (slot 0, 1 slot) and then slot 1 (6's second descriptor).
	 */
	push_reap(1);
	push_reap(3);
	CHECK_EQ(d.last_used, 3);
	/* One more the driver made available that the dead back end never took. */
	post(2, 1, false);

	CHECK_EQ(die_and_restart(), 0);
	CHECK(d.vq.inflight_recovered);
	CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 3);
	/* used: 1 + 2 slots; avail: used + the slots of 6, 4, 0 (2 + 1 + 1) = 7. */
	CHECK_EQ(d.vq.used_idx, 3);
	CHECK_EQ(d.vq.last_avail_idx, 7);
	CHECK(d.vq.packed_ring.avail_wrap && d.vq.packed_ring.used_wrap);
	CHECK_EQ(pop1(), 6);
	CHECK_EQ(pop1(), 4);
	CHECK_EQ(pop1(), 0);
	CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 0);
	CHECK_EQ(pop1(), 2);
	CHECK(r->desc[r->old_free_head].inflight == 0);
	pop_none();
	CHECK_EQ(d.vq.inflight, 4);

	push_reap(4);
	push_reap(6);
	push_reap(2);
	push_reap(0);
	CHECK(!d.vq.broken);
	CHECK_EQ(drv_busy(), 0);

	/* A second death with nothing in flight resubmits nothing. */
	CHECK_EQ(die_and_restart(), 0);
	CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 0);
	CHECK_EQ(d.vq.last_avail_idx, d.next_avail);
	CHECK_EQ(d.vq.used_idx, d.last_used);
	pop_none();
	post(7, 2, false);
	CHECK_EQ(pop1(), 7);
	push_reap(7);
	fake_region_guard_check(&reg);
}

/*
 * Push of id as a process killed after `steps` of its stores would leave it:
 * 1 used id/len, 2 desc[last].next, 3 free_head, 4 used word (in progress),
 * 5 used flags (published), 6 inflight = 0, 7 old_free_head, 8 used word
 * (committed; = the whole push).
 */
static void partial_push(uint16_t id, int steps)
{
	struct vhost_user_inflight_packed_queue *r = region();
	uint16_t head = d.vq.packed_ring.inf.id_head[id], last = d.vq.packed_ring.inf.id_last[id];
	uint16_t pos = d.vq.used_idx, npos = pos;
	bool wrap = d.vq.packed_ring.used_wrap, nwrap = wrap;

	vq_packed_advance(NUM, &npos, &nwrap, d.vq.packed_ring.id_slots[id]);
	if (steps >= 1) {
		d.desc[pos].id = vblk_cpu_to_le16(id);
		d.desc[pos].len = vblk_cpu_to_le32(64);
	}
	if (steps >= 2)
		r->desc[last].next = d.vq.packed_ring.inf.fl_head;
	if (steps >= 3)
		r->free_head = head;
	if (steps >= 4) {
		r->used_idx = npos;
		r->used_wrap_counter = nwrap;
	}
	if (steps >= 5)
		d.desc[pos].flags = vblk_cpu_to_le16(
		    (uint16_t)((wrap ? FP_AVAIL | FP_USED : 0) | VIRTQ_DESC_F_WRITE));
	if (steps >= 6)
		r->desc[head].inflight = 0;
	if (steps >= 7)
		r->old_free_head = head;
	if (steps >= 8) {
		r->old_used_idx = npos;
		r->old_used_wrap_counter = nwrap;
	}
}

static void case_crash_push(void)
{
	for (int steps = 0; steps <= 8; steps++) {
		memset(ex, 0, sizeof(ex));
		fakep_fini(&d);
		fakep_init(&d, NUM, 1);
		/* Start near the end of the ring so the push wraps the used position. */
		fakep_set_pos(&d, 5, true);
		first_start();
		post(3, 2, false);
		post(1, 3, false);
		CHECK_EQ(pop1(), 3);
		CHECK_EQ(pop1(), 1);
		/* 1 completes first: its used element goes to slot 5, used moves to 0 (wrap). */
		partial_push(1, steps);
		CHECK_EQ(die_and_restart(), 0);
		reap();
		if (steps >= 5) {
			/* Published: the driver has it, and it is not resubmitted. */
			CHECK_EQ(ex[1].used, 1);
			CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 1);
			CHECK_EQ(pop1(), 3);
		} else {
			CHECK_EQ(ex[1].used, 0);
			CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 2);
			CHECK_EQ(pop1(), 3);
			CHECK_EQ(pop1(), 1);
			push_reap(1);
			ex[1].used = 1;
		}
		pop_none();
		push_reap(3);
		CHECK_EQ(ex[1].used, 1);
		CHECK_EQ(drv_busy(), 0);
		CHECK_EQ(d.vq.used_idx, d.last_used);
		CHECK_EQ(d.vq.last_avail_idx, d.next_avail);
		/* The ring goes on. */
		post(6, 1, true);
		CHECK_EQ(pop1(), 6);
		push_reap(6);
		CHECK(!d.vq.broken);
		fake_region_guard_check(&reg);
	}
}

/*
 * Record of the buffer at the device's avail position as a process killed
 * after `steps` of pop's stores would leave it: 1 descriptor copies, 2 head
 * num/last/counter, 3 inflight = 1, 4 free_head, 5 old_free_head.
 */
static void partial_pop(unsigned n, int steps)
{
	struct vhost_user_inflight_packed_queue *r = region();
	uint16_t head = d.vq.packed_ring.inf.fl_head, e = head, last = head,
		 pos = d.vq.last_avail_idx;
	bool wrap = d.vq.packed_ring.avail_wrap;

	for (unsigned k = 0; k < n; k++) {
		if (steps >= 1) {
			r->desc[e].addr = vblk_le64_to_cpu(d.desc[pos].addr);
			r->desc[e].len = vblk_le32_to_cpu(d.desc[pos].len);
			r->desc[e].id = vblk_le16_to_cpu(d.desc[pos].id);
			r->desc[e].flags = vblk_le16_to_cpu(d.desc[pos].flags);
			if (k)
				r->desc[e].inflight = 0;
		}
		last = e;
		e = d.vq.packed_ring.inf.fl_next[e];
		vq_packed_advance(NUM, &pos, &wrap, 1);
	}
	if (steps >= 2) {
		r->desc[head].num = (uint16_t)n;
		r->desc[head].last = last;
		r->desc[head].counter = d.vq.inflight_counter + 1;
	}
	if (steps >= 3)
		r->desc[head].inflight = 1;
	if (steps >= 4)
		r->free_head = e;
	if (steps >= 5)
		r->old_free_head = e;
}

static void case_crash_pop(void)
{
	for (int steps = 0; steps <= 5; steps++) {
		memset(ex, 0, sizeof(ex));
		fakep_fini(&d);
		fakep_init(&d, NUM, 1);
		fakep_set_pos(&d, 6, false);
		first_start();
		post(4, 1, false);
		post(0, 3, false);
		CHECK_EQ(pop1(), 4);
		partial_pop(3, steps);
		CHECK_EQ(die_and_restart(), 0);
		/* Recorded (inflight set): resubmitted after 4; otherwise popped anew. Once. */
		CHECK_EQ(vq_dev_resubmit_pending(&d.vq), steps >= 3 ? 2 : 1);
		CHECK_EQ(pop1(), 4);
		CHECK_EQ(pop1(), 0);
		pop_none();
		push_reap(0);
		push_reap(4);
		CHECK_EQ(drv_busy(), 0);
		post(1, 2, false);
		CHECK_EQ(pop1(), 1);
		push_reap(1);
		CHECK(!d.vq.broken);
		fake_region_guard_check(&reg);
	}
}

/* Random lists, out-of-order completion and deaths at any store, over many ring wraps. */
static void case_random(unsigned seed)
{
	uint16_t held[NUM];
	unsigned nheld = 0, deaths = 0, completed = 0, posted_total = 0;

	srand(seed);
	first_start();
	for (int round = 0; round < 3000; round++) {
		int what = rand() % 10;

		if (what < 4) {
			/* The driver posts a buffer if it has an ID and the slots. */
			unsigned n = 1 + (unsigned)rand() % 3;
			bool ind = rand() % 4 == 0;
			uint16_t id = (uint16_t)(rand() % NUM);

			if (!ex[id].posted && drv_busy() + (ind ? 1 : n) <= NUM) {
				post(id, n, ind);
				posted_total++;
			}
		} else if (what < 7) {
			struct vq_dev_elem e;
			int ret = vq_dev_pop(&d.vq, &e, iov, 16);

			CHECK(ret >= 0);
			if (ret == 1) {
				CHECK(ex[e.head].posted);
				CHECK_EQ(e.in_len, ex[e.head].in_len);
				CHECK(iov[0].iov_base == fake_mem_dev_ptr(&d.m, ex[e.head].gpa0));
				held[nheld++] = e.head;
			}
		} else if (what < 9) {
			if (nheld) {
				unsigned k = (unsigned)rand() % nheld;
				uint16_t id = held[k];

				held[k] = held[--nheld];
				vq_dev_push(&d.vq, id, 64);
				reap();
				CHECK_EQ(ex[id].used, 1);
				ex[id].used = 0;
				completed++;
			}
		} else {
			/* Death, maybe in the middle of a push; everything held is lost. */
			if (nheld && rand() % 2) {
				uint16_t id = held[(unsigned)rand() % nheld];

				partial_push(id, 1 + rand() % 7);
			}
			nheld = 0;
			CHECK_EQ(die_and_restart(), 0);
			deaths++;
			reap();
			for (uint16_t id = 0; id < NUM; id++)
				if (ex[id].used) {
					CHECK_EQ(ex[id].used, 1);
					ex[id].used = 0;
					completed++;
				}
		}
		CHECK(!d.vq.broken);
	}
	/* Drain: pop and complete everything; each buffer is used exactly once. */
	for (;;) {
		struct vq_dev_elem e;

		while (nheld) {
			uint16_t id = held[--nheld];

			vq_dev_push(&d.vq, id, 64);
			reap();
			CHECK_EQ(ex[id].used, 1);
			ex[id].used = 0;
			completed++;
		}
		if (vq_dev_pop(&d.vq, &e, iov, 16) != 1)
			break;
		held[nheld++] = e.head;
	}
	CHECK_EQ(completed, posted_total);
	CHECK_EQ(drv_busy(), 0);
	CHECK(deaths > 10);
	fake_region_guard_check(&reg);
}

/* ---- malformed regions ---- */

/* A region with 6 (2 slots, entries 0-1) and 4 (1 slot, indirect, entry 2) in flight; dead. */
static void dead_with_two(void)
{
	first_start();
	post(6, 2, false);
	post(4, 2, true);
	CHECK_EQ(pop1(), 6);
	CHECK_EQ(pop1(), 4);
}

/* Restart must be refused and must leave the region as it was. */
static void expect_refused(void)
{
	static uint8_t before[sizeof(reg.mem)];

	memcpy(before, reg.mem, sizeof(before));
	CHECK_EQ(die_and_restart(), -EINVAL);
	CHECK(memcmp(before, reg.mem, sizeof(before)) == 0);
	CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 0);
	fake_region_guard_check(&reg);
}

static void case_malformed(const char *c)
{
	struct vhost_user_inflight_packed_queue *r = region();

	dead_with_two();
	if (!strcmp(c, "split_tag")) {
		r->features = 0;
	} else if (!strcmp(c, "bad_used")) {
		r->used_idx = r->old_used_idx = NUM;
	} else if (!strcmp(c, "bad_wrap")) {
		r->used_wrap_counter = r->old_used_wrap_counter = 2;
	} else if (!strcmp(c, "bad_free_head")) {
		/* A push in progress whose head entry is out of range. */
		r->used_idx = 1;
		r->free_head = 0xffff;
	} else if (!strcmp(c, "num_zero")) {
		r->desc[0].num = 0;
	} else if (!strcmp(c, "num_big")) {
		r->desc[0].num = 0xffff;
	} else if (!strcmp(c, "next_oob")) {
		r->desc[0].next = 0xfff0;
	} else if (!strcmp(c, "shared_entry")) {
		/* 4's head claims 6's second entry too. */
		r->desc[2].num = 2;
		r->desc[2].next = 1;
		r->desc[2].last = 1;
		r->desc[2].flags |= VIRTQ_DESC_F_NEXT;
		r->desc[2].flags &= (uint16_t)~VIRTQ_DESC_F_INDIRECT;
	} else if (!strcmp(c, "last_mismatch")) {
		r->desc[0].last = 5;
	} else if (!strcmp(c, "id_oob")) {
		r->desc[1].id = NUM;
	} else if (!strcmp(c, "id_dup")) {
		r->desc[2].id = 6;
	} else if (!strcmp(c, "bad_flags")) {
		r->desc[1].flags |= VIRTQ_DESC_F_NEXT;
	} else if (!strcmp(c, "indirect_in_list")) {
		r->desc[0].flags |= VIRTQ_DESC_F_INDIRECT;
	} else if (!strcmp(c, "commit_then_bad")) {
		/* A published push in progress (commit) and a bad chain: nothing written. */
		partial_push(4, 6);
		r->desc[1].id = NUM;
	} else if (!strcmp(c, "inflight_inside")) {
		/* A non-head entry of 6's chain marked in flight as well. */
		r->desc[1].inflight = 1;
	} else if (!strcmp(c, "bad_addr")) {
		struct vq_dev_elem e;

		/* Structurally fine: start succeeds, the resubmission breaks the queue. */
		r->desc[0].addr = 0xdead00000000ull;
		CHECK_EQ(die_and_restart(), 0);
		CHECK_EQ(vq_dev_resubmit_pending(&d.vq), 2);
		CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, 16), -EIO);
		CHECK(d.vq.broken);
		fake_region_guard_check(&reg);
		return;
	} else {
		fprintf(stderr, "unknown case %s\n", c);
		exit(2);
	}
	expect_refused();
}

static void case_fresh_gap(void)
{
	fake_region_reset(&reg, vq_dev_inflight_size_ring(NUM, true));
	/* avail 3, used 1: slots in flight that no region recorded. */
	CHECK_EQ(start(VQ_PACKED_BASE(3, 1, 1, 1)), 0);
	CHECK(d.vq.inflight_region == NULL);
	CHECK_EQ(region()->version, 0);
	fake_region_guard_check(&reg);
}

int main(int argc, char **argv)
{
	const char *c;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CASE [SEED]\n", argv[0]);
		return 2;
	}
	c = argv[1];
	fakep_init(&d, NUM, 1);
	if (!strcmp(c, "track"))
		case_track();
	else if (!strcmp(c, "resubmit_positions"))
		case_resubmit_positions();
	else if (!strcmp(c, "crash_push"))
		case_crash_push();
	else if (!strcmp(c, "crash_pop"))
		case_crash_pop();
	else if (!strcmp(c, "random"))
		case_random(argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 1);
	else if (!strcmp(c, "fresh_gap"))
		case_fresh_gap();
	else
		case_malformed(c);
	fakep_fini(&d);
	return 0;
}
