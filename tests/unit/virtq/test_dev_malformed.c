/* SPDX-License-Identifier: MIT */
/*
 * One malformed ring per run, on either layout (argv[1] split or packed,
 * argv[2] names the case): pop returns -EIO, the queue is broken, the one
 * logged reason names the rule that was broken (so a case cannot pass
 * because some other check happened to fire), nothing was consumed (the
 * ring position and the in-flight count unchanged; split: used->idx too;
 * packed: the ring and the device event structure byte-identical), and the
 * queue stays broken even once the ring is repaired. The split ring starts
 * just below the 16-bit index wrap; the packed ring two slots before its end
 * with wrap counter 0, so lists cross the wrap.
 */
#include "fake_driver.h"
#include "fake_packed.h"
#include "internal/compiler.h"
#include "test.h"

#include <errno.h>
#include <unistd.h>

#define NUM 8

/* Case name -> words the broken-queue warning must contain. */
struct mcase {
	const char *name, *reason;
};

static struct fake_drv ds;
static struct fakep dp;
static struct fake_mem *mem; /* the guest memory of the layout under test */
static struct iovec iov[16];
static unsigned iov_max = 16;

static uint64_t buf(size_t len)
{
	return fake_mem_alloc(mem, len);
}

/* An indirect table of n entries: its driver pointer, and its gpa in *gpa. */
static void *table(unsigned n, uint64_t *gpa)
{
	*gpa = fake_mem_alloc(mem, n * 16);
	return fake_mem_ptr(mem, *gpa);
}

/* ---- split ring ---- */

/* A well-formed request used by cases that need a popped head first. */
static void split_pop_good(uint16_t head)
{
	struct vq_dev_elem e;

	fake_set_desc(ds.desc, head, buf(16), 16, 0, 0);
	fake_publish(&ds, head);
	CHECK_EQ(vq_dev_pop(&ds.vq, &e, iov, iov_max), 1);
	CHECK_EQ(e.head, head);
}

static const struct mcase split_cases[] = {
    {"loop", "loops or exceeds 8 entries"},
    {"too_long", "loops or exceeds 8 entries"},
    {"next_oob", "beyond queue"},
    {"head_oob", "head 8 >= queue size"},
    {"head_ffff", "head 65535 >= queue size"},
    {"avail_jump", "entries ahead"},
    {"avail_back", "entries ahead"},
    {"dup_head", "head 3 made available again while in flight"},
    {"addr_unmapped", "outside guest memory"},
    {"addr_partial", "outside guest memory"},
    {"addr_overflow", "outside guest memory"},
    {"zero_len", "zero-length descriptor"},
    {"read_after_write", "device-readable descriptor after a writable one"},
    {"too_many_iovs", "more than 3 iovecs"},
    {"indirect_next", "INDIRECT combined with NEXT"},
    {"indirect_nested", "nested indirect table"},
    {"indirect_len0", "indirect table length 0"},
    {"indirect_len_odd", "indirect table length 40"},
    {"indirect_unmapped", "not mapped"},
    {"indirect_partial", "not mapped"},
    {"indirect_loop", "loops or exceeds 4 entries"},
    {"indirect_next_oob", "beyond indirect table"},
    {"indirect_zero_len", "zero-length descriptor"},
    {"indirect_not_negotiated", "INDIRECT without VIRTIO_F_INDIRECT_DESC"},
};

static int split_build(const char *c)
{
	const uint16_t W = VIRTQ_DESC_F_WRITE, N = VIRTQ_DESC_F_NEXT, I = VIRTQ_DESC_F_INDIRECT;
	struct vq_dev_elem e;
	struct virtq_desc *t;
	uint64_t tg;
	unsigned i;

	if (!strcmp(c, "loop")) {
		fake_set_desc(ds.desc, 0, buf(16), 16, N, 1);
		fake_set_desc(ds.desc, 1, buf(16), 16, N, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "too_long")) {
		/* Exactly NUM descriptors is legal ... */
		for (i = 0; i < NUM; i++)
			fake_set_desc(ds.desc, i, buf(16), 16, i < NUM - 1 ? N : 0, i + 1);
		fake_publish(&ds, 0);
		CHECK_EQ(vq_dev_pop(&ds.vq, &e, iov, iov_max), 1);
		CHECK_EQ(e.out_num, NUM);
		vq_dev_push(&ds.vq, 0, 0);
		/* ... NUM + 1 (a cycle through the whole table) is not. */
		fake_set_desc(ds.desc, NUM - 1, buf(16), 16, N, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "next_oob")) {
		/* Entry NUM lies in mapped memory and looks valid: only the bound stops it. */
		fake_set_desc(ds.desc, 0, buf(16), 16, N, NUM);
		fake_set_desc(ds.desc, NUM, buf(16), 16, 0, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "head_oob")) {
		fake_set_desc(ds.desc, NUM, buf(16), 16, 0, 0);
		fake_publish(&ds, NUM);
	} else if (!strcmp(c, "head_ffff")) {
		fake_publish(&ds, 0xffff);
	} else if (!strcmp(c, "avail_jump")) {
		fake_set_desc(ds.desc, 0, buf(16), 16, 0, 0);
		ds.avail_idx = ds.vq.last_avail_idx + NUM + 1;
		ds.avail->idx = vblk_cpu_to_le16(ds.avail_idx);
	} else if (!strcmp(c, "avail_back")) {
		/* idx moving backwards looks like a jump of almost 2^16. */
		split_pop_good(0);
		vq_dev_push(&ds.vq, 0, 0);
		ds.avail_idx -= 2;
		ds.avail->idx = vblk_cpu_to_le16(ds.avail_idx);
	} else if (!strcmp(c, "dup_head")) {
		split_pop_good(3);
		fake_publish(&ds, 3);
	} else if (!strcmp(c, "addr_unmapped")) {
		fake_set_desc(ds.desc, 0, 0x1000, 16, 0, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "addr_partial")) {
		fake_set_desc(ds.desc, 0, buf(16), 16, N, 1);
		fake_set_desc(ds.desc, 1, FAKE_GPA_BASE + FAKE_MEM_SIZE - 8, 16, W, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "addr_overflow")) {
		fake_set_desc(ds.desc, 0, UINT64_MAX - 8, 100, 0, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "zero_len")) {
		fake_set_desc(ds.desc, 0, buf(16), 16, N, 1);
		fake_set_desc(ds.desc, 1, buf(16), 0, N | W, 2);
		fake_set_desc(ds.desc, 2, buf(1), 1, W, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "read_after_write")) {
		fake_set_desc(ds.desc, 0, buf(16), 16, N, 1);
		fake_set_desc(ds.desc, 1, buf(16), 16, N | W, 2);
		fake_set_desc(ds.desc, 2, buf(16), 16, 0, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "too_many_iovs")) {
		iov_max = 3;
		for (i = 0; i < 4; i++)
			fake_set_desc(ds.desc, i, buf(16), 16, i < 3 ? N : 0, i + 1);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "indirect_next")) {
		t = table(1, &tg);
		fake_set_desc(t, 0, buf(16), 16, 0, 0);
		fake_set_desc(ds.desc, 0, tg, 16, I | N, 1);
		fake_set_desc(ds.desc, 1, buf(16), 16, 0, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "indirect_nested")) {
		struct virtq_desc *t2;
		uint64_t tg2;

		t2 = table(1, &tg2);
		fake_set_desc(t2, 0, buf(16), 16, 0, 0);
		t = table(2, &tg);
		fake_set_desc(t, 0, buf(16), 16, N, 1);
		fake_set_desc(t, 1, tg2, 16, I, 0);
		fake_set_desc(ds.desc, 0, tg, 32, I, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "indirect_len0")) {
		t = table(1, &tg);
		fake_set_desc(t, 0, buf(16), 16, 0, 0);
		fake_set_desc(ds.desc, 0, tg, 0, I, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "indirect_len_odd")) {
		/* 40 bytes: two whole, valid entries and half of a third. */
		t = table(3, &tg);
		fake_set_desc(t, 0, buf(16), 16, N, 1);
		fake_set_desc(t, 1, buf(16), 16, 0, 0);
		fake_set_desc(ds.desc, 0, tg, 40, I, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "indirect_unmapped")) {
		fake_set_desc(ds.desc, 0, 0x2000, 32, I, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "indirect_partial")) {
		/* Last entry of the table lies past the end of guest memory. */
		tg = FAKE_GPA_BASE + FAKE_MEM_SIZE - 16;
		fake_set_desc(fake_mem_ptr(&ds.m, tg), 0, buf(16), 16, N, 1);
		fake_set_desc(ds.desc, 0, tg, 32, I, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "indirect_loop")) {
		t = table(4, &tg);
		fake_set_desc(t, 0, buf(16), 16, N, 1);
		fake_set_desc(t, 1, buf(16), 16, N, 2);
		fake_set_desc(t, 2, buf(16), 16, N, 0);
		fake_set_desc(ds.desc, 0, tg, 64, I, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "indirect_next_oob")) {
		/* A valid-looking entry 2 follows the 2-entry table in memory. */
		t = table(3, &tg);
		fake_set_desc(t, 0, buf(16), 16, N, 1);
		fake_set_desc(t, 1, buf(16), 16, N, 2);
		fake_set_desc(t, 2, buf(16), 16, 0, 0);
		fake_set_desc(ds.desc, 0, tg, 32, I, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "indirect_zero_len")) {
		t = table(2, &tg);
		fake_set_desc(t, 0, buf(16), 16, N, 1);
		fake_set_desc(t, 1, buf(16), 0, W, 0);
		fake_set_desc(ds.desc, 0, tg, 32, I, 0);
		fake_publish(&ds, 0);
	} else if (!strcmp(c, "indirect_not_negotiated")) {
		t = table(1, &tg);
		fake_set_desc(t, 0, buf(16), 16, 0, 0);
		fake_set_desc(ds.desc, 0, tg, 16, I, 0);
		fake_publish(&ds, 0);
	} else {
		return -1;
	}
	return 0;
}

static uint16_t split_last_avail, split_used_idx;

static void split_setup(bool indirect)
{
	fake_init(&ds, NUM, 1);
	mem = &ds.m;
	/* Start just below the wrap so index arithmetic is exercised too. */
	fake_set_idx(&ds, 0xfffe);
	CHECK_EQ(fake_start(&ds, false, indirect), 0);
}

static void split_snapshot(void)
{
	split_last_avail = ds.vq.last_avail_idx;
	split_used_idx = fake_used_idx(&ds);
}

static void split_unchanged(void)
{
	CHECK_EQ(ds.vq.last_avail_idx, split_last_avail);
	CHECK_EQ(fake_used_idx(&ds), split_used_idx);
	CHECK_EQ(ds.vq.used_idx, split_used_idx);
}

/* The slot at last_avail_idx now names a valid, idle one-descriptor chain. */
static void split_repair(void)
{
	fake_set_desc(ds.desc, 5, fake_mem_alloc(&ds.m, 16), 16, 0, 0);
	ds.avail->ring[split_last_avail % NUM] = vblk_cpu_to_le16(5);
	ds.avail->idx = vblk_cpu_to_le16((uint16_t)(split_last_avail + 1));
}

/* ---- packed ring ---- */

/* Write slot k after the driver's avail position, available under its wrap. */
static void packed_slot(unsigned k, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	uint16_t pos;
	bool wrap;

	fakep_slot(&dp, k, &pos, &wrap);
	fakep_write(&dp, pos, addr, len, id, (uint16_t)(flags | fakep_avail_bits(wrap)));
}

static void packed_pop_good(uint16_t id, unsigned n)
{
	struct fake_seg s[NUM];
	struct vq_dev_elem e;

	for (unsigned k = 0; k < n; k++)
		s[k] = (struct fake_seg){buf(16), 16, false};
	fakep_add(&dp, s, n, id);
	CHECK_EQ(vq_dev_pop(&dp.vq, &e, iov, iov_max), 1);
	CHECK_EQ(e.head, id);
}

static const struct mcase packed_cases[] = {
    {"too_long", "descriptor chain exceeds 8 entries"},
    {"next_not_avail", "descriptor 1 of the list at 6 not available"},
    {"next_wrong_wrap", "descriptor 2 of the list at 6 not available"},
    {"id_oob", "buffer id 8 >= queue size 8"},
    {"id_ffff", "buffer id 65535 >= queue size 8"},
    {"dup_id", "buffer id 3 made available again while in flight"},
    {"too_many_slots", "8 slots in flight plus 1 exceed queue size 8"},
    {"addr_unmapped", "outside guest memory"},
    {"addr_partial", "outside guest memory"},
    {"addr_overflow", "outside guest memory"},
    {"zero_len", "zero-length descriptor"},
    {"read_after_write", "device-readable descriptor after a writable one"},
    {"too_many_iovs", "more than 3 iovecs"},
    {"indirect_next", "INDIRECT combined with NEXT"},
    {"indirect_in_list", "INDIRECT inside a descriptor list"},
    {"indirect_nested", "nested indirect table"},
    {"indirect_len0", "indirect table length 0"},
    {"indirect_len_odd", "indirect table length 40"},
    {"indirect_unmapped", "not mapped"},
    {"indirect_partial", "not mapped"},
    {"indirect_split", "not mapped"},
    {"indirect_zero_len", "zero-length descriptor"},
    {"indirect_read_after_write", "device-readable descriptor after a writable one"},
    {"indirect_not_negotiated", "INDIRECT without VIRTIO_F_INDIRECT_DESC"},
};

static int packed_build(const char *c)
{
	const uint16_t W = FP_W, N = FP_N, I = FP_I;
	struct virtq_packed_desc *t;
	uint64_t tg;
	unsigned i;

	if (!strcmp(c, "too_long")) {
		/* Exactly NUM descriptors is legal ... */
		packed_pop_good(1, NUM);
		vq_dev_push(&dp.vq, 1, 0);
		/* ... but a list that goes all the way round is not. */
		for (i = NUM; i-- > 0;)
			packed_slot(i, buf(16), 16, 2, N);
	} else if (!strcmp(c, "next_not_avail")) {
		/* Slot 7 still holds zeros: AVAIL = USED = 0. */
		packed_slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "next_wrong_wrap")) {
		/* Slot 0 after the wrap carries the old wrap counter's bits. */
		fakep_write(&dp, 0, buf(16), 16, 0, (uint16_t)(W | fakep_avail_bits(false)));
		packed_slot(1, buf(16), 16, 0, N | W);
		packed_slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "id_oob")) {
		packed_slot(0, buf(16), 16, NUM, 0);
	} else if (!strcmp(c, "id_ffff")) {
		/* The ID of the last descriptor counts, not of the first. */
		packed_slot(1, buf(16), 16, 0xffff, W);
		packed_slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "dup_id")) {
		packed_pop_good(3, 1);
		packed_slot(0, buf(16), 16, 3, 0);
	} else if (!strcmp(c, "too_many_slots")) {
		packed_pop_good(0, 4);
		for (i = 1; i <= 4; i++)
			packed_pop_good((uint16_t)i, 1);
		/* All 8 slots are in flight; the driver overwrites one anyway. */
		packed_slot(0, buf(16), 16, 5, 0);
	} else if (!strcmp(c, "addr_unmapped")) {
		packed_slot(0, 0x1000, 16, 0, 0);
	} else if (!strcmp(c, "addr_partial")) {
		packed_slot(1, FAKE_GPA_BASE + FAKE_MEM_SIZE - 8, 16, 0, W);
		packed_slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "addr_overflow")) {
		packed_slot(0, UINT64_MAX - 8, 100, 0, 0);
	} else if (!strcmp(c, "zero_len")) {
		packed_slot(2, buf(1), 1, 0, W);
		packed_slot(1, buf(16), 0, 0, N | W);
		packed_slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "read_after_write")) {
		packed_slot(2, buf(16), 16, 0, 0);
		packed_slot(1, buf(16), 16, 0, N | W);
		packed_slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "too_many_iovs")) {
		iov_max = 3;
		for (i = 4; i-- > 0;)
			packed_slot(i, buf(16), 16, 0, i < 3 ? N : 0);
	} else if (!strcmp(c, "indirect_next")) {
		t = table(1, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		packed_slot(1, buf(16), 16, 0, 0);
		packed_slot(0, tg, 16, 0, I | N);
	} else if (!strcmp(c, "indirect_in_list")) {
		t = table(1, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		packed_slot(1, tg, 16, 0, I);
		packed_slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "indirect_nested")) {
		struct virtq_packed_desc *t2;
		uint64_t tg2;

		t2 = table(1, &tg2);
		fakep_table(t2, 0, buf(16), 16, 0, 0);
		t = table(2, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		fakep_table(t, 1, tg2, 16, 0, I);
		packed_slot(0, tg, 32, 0, I);
	} else if (!strcmp(c, "indirect_len0")) {
		t = table(1, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		packed_slot(0, tg, 0, 0, I);
	} else if (!strcmp(c, "indirect_len_odd")) {
		t = table(3, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		fakep_table(t, 1, buf(16), 16, 0, 0);
		packed_slot(0, tg, 40, 0, I);
	} else if (!strcmp(c, "indirect_unmapped")) {
		packed_slot(0, 0x2000, 32, 0, I);
	} else if (!strcmp(c, "indirect_partial")) {
		tg = FAKE_GPA_BASE + FAKE_MEM_SIZE - 16;
		fakep_table(fake_mem_ptr(&dp.m, tg), 0, buf(16), 16, 0, 0);
		packed_slot(0, tg, 32, 0, I);
	} else if (!strcmp(c, "indirect_split")) {
		/* Contiguous in guest-physical space but across two regions. */
		tg = fake_mem_region1_gpa(&dp.m) - 16;
		fakep_table(fake_mem_ptr(&dp.m, tg), 0, buf(16), 16, 0, 0);
		fakep_table(fake_mem_ptr(&dp.m, tg + 16), 0, buf(16), 16, 0, 0);
		packed_slot(0, tg, 32, 0, I);
	} else if (!strcmp(c, "indirect_zero_len")) {
		t = table(2, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		fakep_table(t, 1, buf(16), 0, 0, W);
		packed_slot(0, tg, 32, 0, I);
	} else if (!strcmp(c, "indirect_read_after_write")) {
		t = table(2, &tg);
		fakep_table(t, 0, buf(16), 16, 0, W);
		fakep_table(t, 1, buf(16), 16, 0, 0);
		packed_slot(0, tg, 32, 0, I);
	} else if (!strcmp(c, "indirect_not_negotiated")) {
		t = table(1, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		packed_slot(0, tg, 16, 0, I);
	} else {
		return -1;
	}
	return 0;
}

static struct virtq_packed_desc packed_ring_before[NUM];
static struct virtq_packed_event packed_ev_before;
static uint32_t packed_base;

static void packed_setup(bool indirect)
{
	fakep_init(&dp, NUM, 2);
	mem = &dp.m;
	fakep_set_pos(&dp, NUM - 2, false);
	CHECK_EQ(fakep_start(&dp, true, indirect), 0);
}

static void packed_snapshot(void)
{
	packed_base = vq_dev_get_base(&dp.vq);
	memcpy(packed_ring_before, dp.desc, sizeof(packed_ring_before));
	memcpy(&packed_ev_before, dp.dev_ev, sizeof(packed_ev_before));
}

static void packed_unchanged(void)
{
	CHECK_EQ(vq_dev_get_base(&dp.vq), packed_base);
	CHECK(memcmp(packed_ring_before, dp.desc, sizeof(packed_ring_before)) == 0);
	CHECK(memcmp(&packed_ev_before, dp.dev_ev, sizeof(packed_ev_before)) == 0);
}

/* The device's next slot holds a valid single descriptor with an idle ID. */
static void packed_repair(void)
{
	fakep_write(&dp, dp.vq.last_avail_idx, fake_mem_alloc(&dp.m, 16), 16, 6,
		    fakep_avail_bits(dp.vq.packed_ring.avail_wrap));
	memcpy(packed_ring_before, dp.desc, sizeof(packed_ring_before));
}

/* ---- either ---- */

struct layout {
	const char *name;
	const struct mcase *cases;
	size_t ncases;
	struct vq_dev *vq;
	void (*setup)(bool indirect);
	int (*build)(const char *c);
	void (*snapshot)(void);
	void (*unchanged)(void);
	void (*repair)(void);
};

static const struct layout layouts[] = {
    {"split", split_cases, ARRAY_SIZE(split_cases), &ds.vq, split_setup, split_build,
     split_snapshot, split_unchanged, split_repair},
    {"packed", packed_cases, ARRAY_SIZE(packed_cases), &dp.vq, packed_setup, packed_build,
     packed_snapshot, packed_unchanged, packed_repair},
};

int main(int argc, char **argv)
{
	const struct layout *l = NULL;
	struct vq_dev_elem e;
	const char *reason = NULL;
	uint16_t inflight;
	char log[512];

	for (unsigned i = 0; argc == 3 && i < ARRAY_SIZE(layouts); i++)
		if (!strcmp(argv[1], layouts[i].name))
			l = &layouts[i];
	for (size_t i = 0; l && i < l->ncases; i++)
		if (!strcmp(argv[2], l->cases[i].name))
			reason = l->cases[i].reason;
	if (reason == NULL) {
		fprintf(stderr, "usage: %s split|packed CASE (unknown case)\n", argv[0]);
		return 1;
	}
	l->setup(strcmp(argv[2], "indirect_not_negotiated") != 0);
	if (l->build(argv[2])) {
		fprintf(stderr, "unknown case %s\n", argv[2]);
		return 1;
	}

	l->snapshot();
	inflight = l->vq->inflight;
	CHECK(!l->vq->broken);

	CHECK_EQ(fake_pop_capture(l->vq, &e, iov, iov_max, log, sizeof(log)), -EIO);
	CHECK(l->vq->broken);
	CHECK(l->vq->broken_logged);
	CHECK(strstr(log, "broken") != NULL);
	CHECK(strstr(log, reason) != NULL);
	l->unchanged();
	CHECK_EQ(l->vq->inflight, inflight);
	CHECK_EQ(vq_dev_pop(l->vq, &e, iov, iov_max), -EIO);

	l->repair();
	iov_max = 16;
	/* Still broken, and logged only once. */
	CHECK_EQ(fake_pop_capture(l->vq, &e, iov, iov_max, log, sizeof(log)), -EIO);
	CHECK_EQ(log[0], '\0');
	l->unchanged();
	CHECK_EQ(l->vq->inflight, inflight);

	if (l == &layouts[0])
		fake_fini(&ds);
	else
		fakep_fini(&dp);
	return 0;
}
