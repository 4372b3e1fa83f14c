/* SPDX-License-Identifier: MIT */
/*
 * One malformed packed ring per run (argv[1] names the case): pop returns
 * -EIO, the queue is broken, the one logged reason names the rule that was
 * broken (so a case cannot pass because another check fired), nothing was
 * consumed (positions, wrap counters, in-flight count unchanged) and nothing
 * was written (the ring and the device event structure are byte-identical),
 * and the queue stays broken once the ring is repaired. The ring starts two
 * slots before its end with wrap counter 0, so lists cross the wrap.
 */
#include "fake_packed.h"
#include "internal/compiler.h"
#include "test.h"

#include <errno.h>
#include <unistd.h>

#define NUM 8

static struct fakep d;
static struct iovec iov[16];
static unsigned iov_max = 16;

static uint64_t buf(size_t len)
{
	return fakep_alloc(&d, len);
}

/* Write slot k after the driver's avail position, available under its wrap. */
static void slot(unsigned k, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	uint16_t pos;
	bool wrap;

	fakep_slot(&d, k, &pos, &wrap);
	fakep_write(&d, pos, addr, len, id, (uint16_t)(flags | fakep_avail_bits(wrap)));
}

static void pop_good(uint16_t id, unsigned n)
{
	struct fakep_seg s[NUM];
	struct vq_dev_elem e;

	for (unsigned k = 0; k < n; k++)
		s[k] = (struct fakep_seg){buf(16), 16, false};
	fakep_add(&d, s, n, id);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, iov_max), 1);
	CHECK_EQ(e.head, id);
}

static struct virtq_packed_desc *table(unsigned n, uint64_t *gpa)
{
	*gpa = fakep_alloc(&d, n * 16);
	return fakep_ptr(&d, *gpa);
}

static const struct {
	const char *name, *reason;
} cases[] = {
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

/* vq_dev_pop with stderr captured into log[]. */
static int pop_capture(struct vq_dev_elem *e, char *log, size_t size)
{
	FILE *tmp = tmpfile();
	int saved, ret;
	size_t n;

	CHECK(tmp != NULL);
	fflush(stderr);
	saved = dup(2);
	CHECK(saved >= 0 && dup2(fileno(tmp), 2) == 2);
	ret = vq_dev_pop(&d.vq, e, iov, iov_max);
	fflush(stderr);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	rewind(tmp);
	n = fread(log, 1, size - 1, tmp);
	log[n] = '\0';
	fclose(tmp);
	fputs(log, stderr);
	return ret;
}

static int build(const char *c)
{
	const uint16_t W = FP_W, N = FP_N, I = FP_I;
	struct virtq_packed_desc *t;
	uint64_t tg;
	unsigned i;

	if (!strcmp(c, "too_long")) {
		/* Exactly NUM descriptors is legal ... */
		pop_good(1, NUM);
		vq_dev_push(&d.vq, 1, 0);
		/* ... but a list that goes all the way round is not. */
		for (i = NUM; i-- > 0;)
			slot(i, buf(16), 16, 2, N);
	} else if (!strcmp(c, "next_not_avail")) {
		/* Slot 7 still holds zeros: AVAIL = USED = 0. */
		slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "next_wrong_wrap")) {
		/* Slot 0 after the wrap carries the old wrap counter's bits. */
		fakep_write(&d, 0, buf(16), 16, 0, (uint16_t)(W | fakep_avail_bits(false)));
		slot(1, buf(16), 16, 0, N | W);
		slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "id_oob")) {
		slot(0, buf(16), 16, NUM, 0);
	} else if (!strcmp(c, "id_ffff")) {
		/* The ID of the last descriptor counts, not of the first. */
		slot(1, buf(16), 16, 0xffff, W);
		slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "dup_id")) {
		pop_good(3, 1);
		slot(0, buf(16), 16, 3, 0);
	} else if (!strcmp(c, "too_many_slots")) {
		pop_good(0, 4);
		for (i = 1; i <= 4; i++)
			pop_good((uint16_t)i, 1);
		/* All 8 slots are in flight; the driver overwrites one anyway. */
		slot(0, buf(16), 16, 5, 0);
	} else if (!strcmp(c, "addr_unmapped")) {
		slot(0, 0x1000, 16, 0, 0);
	} else if (!strcmp(c, "addr_partial")) {
		slot(1, FAKE_GPA_BASE + FAKE_MEM_SIZE - 8, 16, 0, W);
		slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "addr_overflow")) {
		slot(0, UINT64_MAX - 8, 100, 0, 0);
	} else if (!strcmp(c, "zero_len")) {
		slot(2, buf(1), 1, 0, W);
		slot(1, buf(16), 0, 0, N | W);
		slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "read_after_write")) {
		slot(2, buf(16), 16, 0, 0);
		slot(1, buf(16), 16, 0, N | W);
		slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "too_many_iovs")) {
		iov_max = 3;
		for (i = 4; i-- > 0;)
			slot(i, buf(16), 16, 0, i < 3 ? N : 0);
	} else if (!strcmp(c, "indirect_next")) {
		t = table(1, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		slot(1, buf(16), 16, 0, 0);
		slot(0, tg, 16, 0, I | N);
	} else if (!strcmp(c, "indirect_in_list")) {
		t = table(1, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		slot(1, tg, 16, 0, I);
		slot(0, buf(16), 16, 0, N);
	} else if (!strcmp(c, "indirect_nested")) {
		struct virtq_packed_desc *t2;
		uint64_t tg2;

		t2 = table(1, &tg2);
		fakep_table(t2, 0, buf(16), 16, 0, 0);
		t = table(2, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		fakep_table(t, 1, tg2, 16, 0, I);
		slot(0, tg, 32, 0, I);
	} else if (!strcmp(c, "indirect_len0")) {
		t = table(1, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		slot(0, tg, 0, 0, I);
	} else if (!strcmp(c, "indirect_len_odd")) {
		t = table(3, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		fakep_table(t, 1, buf(16), 16, 0, 0);
		slot(0, tg, 40, 0, I);
	} else if (!strcmp(c, "indirect_unmapped")) {
		slot(0, 0x2000, 32, 0, I);
	} else if (!strcmp(c, "indirect_partial")) {
		tg = FAKE_GPA_BASE + FAKE_MEM_SIZE - 16;
		fakep_table(fakep_ptr(&d, tg), 0, buf(16), 16, 0, 0);
		slot(0, tg, 32, 0, I);
	} else if (!strcmp(c, "indirect_split")) {
		/* Contiguous in guest-physical space but across two regions. */
		tg = fakep_region1_gpa(&d) - 16;
		fakep_table(fakep_ptr(&d, tg), 0, buf(16), 16, 0, 0);
		fakep_table(fakep_ptr(&d, tg + 16), 0, buf(16), 16, 0, 0);
		slot(0, tg, 32, 0, I);
	} else if (!strcmp(c, "indirect_zero_len")) {
		t = table(2, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		fakep_table(t, 1, buf(16), 0, 0, W);
		slot(0, tg, 32, 0, I);
	} else if (!strcmp(c, "indirect_read_after_write")) {
		t = table(2, &tg);
		fakep_table(t, 0, buf(16), 16, 0, W);
		fakep_table(t, 1, buf(16), 16, 0, 0);
		slot(0, tg, 32, 0, I);
	} else if (!strcmp(c, "indirect_not_negotiated")) {
		t = table(1, &tg);
		fakep_table(t, 0, buf(16), 16, 0, 0);
		slot(0, tg, 16, 0, I);
	} else {
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct virtq_packed_desc ring_before[NUM];
	struct virtq_packed_event ev_before;
	struct vq_dev_elem e;
	uint32_t base;
	uint16_t inflight;
	const char *reason = NULL;
	char log[512];
	unsigned i;

	for (i = 0; argc == 2 && i < ARRAY_SIZE(cases); i++)
		if (!strcmp(argv[1], cases[i].name))
			reason = cases[i].reason;
	if (reason == NULL) {
		fprintf(stderr, "usage: %s CASE (unknown case)\n", argv[0]);
		return 1;
	}
	fakep_init(&d, NUM, 2);
	fakep_set_pos(&d, NUM - 2, false);
	CHECK_EQ(fakep_start(&d, true, strcmp(argv[1], "indirect_not_negotiated") != 0), 0);
	if (build(argv[1])) {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 1;
	}

	base = vq_dev_get_base(&d.vq);
	inflight = d.vq.inflight;
	memcpy(ring_before, d.desc, sizeof(ring_before));
	memcpy(&ev_before, d.dev_ev, sizeof(ev_before));
	CHECK(!d.vq.broken);

	CHECK_EQ(pop_capture(&e, log, sizeof(log)), -EIO);
	CHECK(d.vq.broken);
	CHECK(d.vq.broken_logged);
	CHECK(strstr(log, "broken") != NULL);
	CHECK(strstr(log, reason) != NULL);
	CHECK_EQ(vq_dev_get_base(&d.vq), base);
	CHECK_EQ(d.vq.inflight, inflight);
	CHECK(memcmp(ring_before, d.desc, sizeof(ring_before)) == 0);
	CHECK(memcmp(&ev_before, d.dev_ev, sizeof(ev_before)) == 0);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, iov_max), -EIO);

	/* Repair: the device's next slot holds a valid single descriptor with an idle ID. */
	fakep_write(&d, d.vq.last_avail_idx, fakep_alloc(&d, 16), 16, 6,
		    fakep_avail_bits(d.vq.packed_ring.avail_wrap));
	iov_max = 16;
	CHECK_EQ(pop_capture(&e, log, sizeof(log)), -EIO);
	CHECK_EQ(log[0], '\0');
	CHECK_EQ(vq_dev_get_base(&d.vq), base);
	CHECK_EQ(d.vq.inflight, inflight);

	fakep_fini(&d);
	return 0;
}
