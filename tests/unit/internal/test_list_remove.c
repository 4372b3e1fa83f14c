/* SPDX-License-Identifier: MIT */
/*
 * Removing while walking (internal/list.h, fifo_after / fifo_remove_after):
 * the head, a middle member and the tail can be taken out, the rest keeps its
 * order, the tail follows a removed last member so that pushes still append,
 * and fifo_peek_entry / fifo_next_entry visit what is left head to tail.
 */
#include "internal/list.h"
#include "test.h"

struct item {
	int value;
	struct fifo_link link;
};

/* Remove every member whose value is in drop (a bit mask), as a walk would. */
static void remove_marked(struct fifo *f, unsigned drop)
{
	struct fifo_link *prev = NULL, *l;

	while ((l = fifo_after(f, prev))) {
		struct item *p = fifo_entry(l, struct item, link);

		if (!(drop & (1u << p->value))) {
			prev = l;
			continue;
		}
		CHECK(fifo_remove_after(f, prev) == l);
	}
}

static int collect(const struct fifo *f, int *out)
{
	struct item *p;
	int n = 0;

	for (p = fifo_peek_entry(f, struct item, link); p;
	     p = fifo_next_entry(p, struct item, link))
		out[n++] = p->value;
	return n;
}

int main(void)
{
	struct item it[6];
	struct fifo f = {0};
	int got[6];

	CHECK(fifo_after(&f, NULL) == NULL);
	CHECK(fifo_remove_after(&f, NULL) == NULL);
	for (int i = 0; i < 6; i++) {
		it[i].value = i;
		fifo_push(&f, &it[i].link);
	}
	CHECK(fifo_after(&f, NULL) == &it[0].link);
	CHECK(fifo_after(&f, &it[2].link) == &it[3].link);
	/* Nothing after the tail. */
	CHECK(fifo_remove_after(&f, &it[5].link) == NULL);

	/* Head, a middle member and the tail. */
	remove_marked(&f, 1u << 0 | 1u << 3 | 1u << 5);
	CHECK_EQ(collect(&f, got), 3);
	CHECK_EQ(got[0], 1);
	CHECK_EQ(got[1], 2);
	CHECK_EQ(got[2], 4);
	CHECK(f.tail == &it[4].link);

	/* The tail moved back: a push appends after 4. */
	fifo_push(&f, &it[0].link);
	CHECK_EQ(collect(&f, got), 4);
	CHECK_EQ(got[3], 0);

	/* Removing everything leaves an empty, reusable list. */
	remove_marked(&f, 0x3f);
	CHECK(fifo_empty(&f));
	CHECK(f.tail == NULL);
	CHECK_EQ(collect(&f, got), 0);
	fifo_push(&f, &it[3].link);
	CHECK(fifo_peek_entry(&f, struct item, link) == &it[3]);
	fifo_init(&f);
	CHECK(fifo_empty(&f));
	return 0;
}
