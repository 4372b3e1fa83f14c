/* SPDX-License-Identifier: MIT */
/*
 * One malformed ring per run (argv[1] names the case): pop returns -EIO,
 * the queue is broken, the one logged reason names the rule that was broken
 * (so a case cannot pass because some other check happened to fire),
 * nothing was consumed (last_avail_idx, inflight, used->idx unchanged), and
 * the queue stays broken even once the ring is repaired.
 */
#include "fake_driver.h"
#include "internal/compiler.h"
#include "test.h"

#include <errno.h>
#include <unistd.h>

#define NUM 8

static struct fake_drv d;
static struct iovec iov[16];
static unsigned iov_max = 16;

static uint64_t buf(size_t len)
{
	return fake_alloc(&d, len);
}

/* A well-formed request used by cases that need a popped head first. */
static void pop_good(uint16_t head)
{
	struct vq_dev_elem e;

	fake_set_desc(d.desc, head, buf(16), 16, 0, 0);
	fake_publish(&d, head);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, iov_max), 1);
	CHECK_EQ(e.head, head);
}

static struct virtq_desc *table(unsigned n, uint64_t *gpa)
{
	*gpa = fake_alloc(&d, n * 16);
	return fake_ptr(&d, *gpa);
}

/* Case name -> words the broken-queue warning must contain. */
static const struct {
	const char *name, *reason;
} cases[] = {
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
	const uint16_t W = VIRTQ_DESC_F_WRITE, N = VIRTQ_DESC_F_NEXT, I = VIRTQ_DESC_F_INDIRECT;
	struct vq_dev_elem e;
	struct virtq_desc *t;
	uint64_t tg;
	unsigned i;

	if (!strcmp(c, "loop")) {
		fake_set_desc(d.desc, 0, buf(16), 16, N, 1);
		fake_set_desc(d.desc, 1, buf(16), 16, N, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "too_long")) {
		/* Exactly NUM descriptors is legal ... */
		for (i = 0; i < NUM; i++)
			fake_set_desc(d.desc, i, buf(16), 16, i < NUM - 1 ? N : 0, i + 1);
		fake_publish(&d, 0);
		CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, iov_max), 1);
		CHECK_EQ(e.out_num, NUM);
		vq_dev_push(&d.vq, 0, 0);
		/* ... NUM + 1 (a cycle through the whole table) is not. */
		fake_set_desc(d.desc, NUM - 1, buf(16), 16, N, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "next_oob")) {
		/* Entry NUM lies in mapped memory and looks valid: only the bound stops it. */
		fake_set_desc(d.desc, 0, buf(16), 16, N, NUM);
		fake_set_desc(d.desc, NUM, buf(16), 16, 0, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "head_oob")) {
		fake_set_desc(d.desc, NUM, buf(16), 16, 0, 0);
		fake_publish(&d, NUM);
	} else if (!strcmp(c, "head_ffff")) {
		fake_publish(&d, 0xffff);
	} else if (!strcmp(c, "avail_jump")) {
		fake_set_desc(d.desc, 0, buf(16), 16, 0, 0);
		d.avail_idx = d.vq.last_avail_idx + NUM + 1;
		d.avail->idx = vblk_cpu_to_le16(d.avail_idx);
	} else if (!strcmp(c, "avail_back")) {
		/* idx moving backwards looks like a jump of almost 2^16. */
		pop_good(0);
		vq_dev_push(&d.vq, 0, 0);
		d.avail_idx -= 2;
		d.avail->idx = vblk_cpu_to_le16(d.avail_idx);
	} else if (!strcmp(c, "dup_head")) {
		pop_good(3);
		fake_publish(&d, 3);
	} else if (!strcmp(c, "addr_unmapped")) {
		fake_set_desc(d.desc, 0, 0x1000, 16, 0, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "addr_partial")) {
		fake_set_desc(d.desc, 0, buf(16), 16, N, 1);
		fake_set_desc(d.desc, 1, FAKE_GPA_BASE + FAKE_MEM_SIZE - 8, 16, W, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "addr_overflow")) {
		fake_set_desc(d.desc, 0, UINT64_MAX - 8, 100, 0, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "zero_len")) {
		fake_set_desc(d.desc, 0, buf(16), 16, N, 1);
		fake_set_desc(d.desc, 1, buf(16), 0, N | W, 2);
		fake_set_desc(d.desc, 2, buf(1), 1, W, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "read_after_write")) {
		fake_set_desc(d.desc, 0, buf(16), 16, N, 1);
		fake_set_desc(d.desc, 1, buf(16), 16, N | W, 2);
		fake_set_desc(d.desc, 2, buf(16), 16, 0, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "too_many_iovs")) {
		iov_max = 3;
		for (i = 0; i < 4; i++)
			fake_set_desc(d.desc, i, buf(16), 16, i < 3 ? N : 0, i + 1);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "indirect_next")) {
		t = table(1, &tg);
		fake_set_desc(t, 0, buf(16), 16, 0, 0);
		fake_set_desc(d.desc, 0, tg, 16, I | N, 1);
		fake_set_desc(d.desc, 1, buf(16), 16, 0, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "indirect_nested")) {
		struct virtq_desc *t2;
		uint64_t tg2;

		t2 = table(1, &tg2);
		fake_set_desc(t2, 0, buf(16), 16, 0, 0);
		t = table(2, &tg);
		fake_set_desc(t, 0, buf(16), 16, N, 1);
		fake_set_desc(t, 1, tg2, 16, I, 0);
		fake_set_desc(d.desc, 0, tg, 32, I, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "indirect_len0")) {
		t = table(1, &tg);
		fake_set_desc(t, 0, buf(16), 16, 0, 0);
		fake_set_desc(d.desc, 0, tg, 0, I, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "indirect_len_odd")) {
		/* 40 bytes: two whole, valid entries and half of a third. */
		t = table(3, &tg);
		fake_set_desc(t, 0, buf(16), 16, N, 1);
		fake_set_desc(t, 1, buf(16), 16, 0, 0);
		fake_set_desc(d.desc, 0, tg, 40, I, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "indirect_unmapped")) {
		fake_set_desc(d.desc, 0, 0x2000, 32, I, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "indirect_partial")) {
		/* Last entry of the table lies past the end of guest memory. */
		tg = FAKE_GPA_BASE + FAKE_MEM_SIZE - 16;
		fake_set_desc(fake_ptr(&d, tg), 0, buf(16), 16, N, 1);
		fake_set_desc(d.desc, 0, tg, 32, I, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "indirect_loop")) {
		t = table(4, &tg);
		fake_set_desc(t, 0, buf(16), 16, N, 1);
		fake_set_desc(t, 1, buf(16), 16, N, 2);
		fake_set_desc(t, 2, buf(16), 16, N, 0);
		fake_set_desc(d.desc, 0, tg, 64, I, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "indirect_next_oob")) {
		/* A valid-looking entry 2 follows the 2-entry table in memory. */
		t = table(3, &tg);
		fake_set_desc(t, 0, buf(16), 16, N, 1);
		fake_set_desc(t, 1, buf(16), 16, N, 2);
		fake_set_desc(t, 2, buf(16), 16, 0, 0);
		fake_set_desc(d.desc, 0, tg, 32, I, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "indirect_zero_len")) {
		t = table(2, &tg);
		fake_set_desc(t, 0, buf(16), 16, N, 1);
		fake_set_desc(t, 1, buf(16), 0, W, 0);
		fake_set_desc(d.desc, 0, tg, 32, I, 0);
		fake_publish(&d, 0);
	} else if (!strcmp(c, "indirect_not_negotiated")) {
		t = table(1, &tg);
		fake_set_desc(t, 0, buf(16), 16, 0, 0);
		fake_set_desc(d.desc, 0, tg, 16, I, 0);
		fake_publish(&d, 0);
	} else {
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct vq_dev_elem e;
	uint16_t last_avail, inflight, used_idx;
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
	fake_init(&d, NUM, 1);
	/* Start just below the wrap so index arithmetic is exercised too. */
	fake_set_idx(&d, 0xfffe);
	CHECK_EQ(fake_start(&d, false, strcmp(argv[1], "indirect_not_negotiated") != 0), 0);
	if (build(argv[1])) {
		fprintf(stderr, "unknown case %s\n", argv[1]);
		return 1;
	}

	last_avail = d.vq.last_avail_idx;
	inflight = d.vq.inflight;
	used_idx = fake_used_idx(&d);
	CHECK(!d.vq.broken);

	CHECK_EQ(pop_capture(&e, log, sizeof(log)), -EIO);
	CHECK(d.vq.broken);
	CHECK(d.vq.broken_logged);
	CHECK(strstr(log, "broken") != NULL);
	CHECK(strstr(log, reason) != NULL);
	CHECK_EQ(d.vq.last_avail_idx, last_avail);
	CHECK_EQ(d.vq.inflight, inflight);
	CHECK_EQ(fake_used_idx(&d), used_idx);
	CHECK_EQ(d.vq.used_idx, used_idx);
	CHECK_EQ(vq_dev_pop(&d.vq, &e, iov, iov_max), -EIO);

	/* Repair: the slot at last_avail_idx now names a valid, idle one-descriptor chain. */
	fake_set_desc(d.desc, 5, fake_alloc(&d, 16), 16, 0, 0);
	d.avail->ring[last_avail % NUM] = vblk_cpu_to_le16(5);
	d.avail->idx = vblk_cpu_to_le16((uint16_t)(last_avail + 1));
	iov_max = 16;
	/* Still broken, and logged only once. */
	CHECK_EQ(pop_capture(&e, log, sizeof(log)), -EIO);
	CHECK_EQ(log[0], '\0');
	CHECK_EQ(d.vq.last_avail_idx, last_avail);
	CHECK_EQ(d.vq.inflight, inflight);

	fake_fini(&d);
	return 0;
}
