/* SPDX-License-Identifier: MIT */
/*
 * The intrusive FIFO (internal/list.h): a zeroed list is empty, objects come
 * out in the order they went in, emptying resets the tail so pushes after it
 * work, and the entry macros map links back to their objects (NULL for none).
 */
#include "internal/list.h"
#include "test.h"

struct item {
	int value;
	struct fifo_link link; /* not the first member: container_of must adjust */
};

int main(void)
{
	struct item it[5];
	struct fifo f = {0};
	struct item *p;

	CHECK(fifo_empty(&f));
	CHECK(fifo_pop(&f) == NULL);
	CHECK(fifo_pop_entry(&f, struct item, link) == NULL);
	CHECK(fifo_peek_entry(&f, struct item, link) == NULL);
	for (int i = 0; i < 5; i++) {
		it[i].value = i;
		fifo_push(&f, &it[i].link);
	}
	CHECK(!fifo_empty(&f));
	CHECK(fifo_peek_entry(&f, struct item, link) == &it[0]);
	for (int i = 0; i < 3; i++) {
		p = fifo_pop_entry(&f, struct item, link);
		CHECK(p == &it[i]);
		CHECK_EQ(p->value, i);
	}
	/* Push after partial drain: goes behind the rest. */
	fifo_push(&f, &it[0].link);
	CHECK(fifo_pop_entry(&f, struct item, link) == &it[3]);
	CHECK(fifo_pop_entry(&f, struct item, link) == &it[4]);
	CHECK(fifo_pop_entry(&f, struct item, link) == &it[0]);
	CHECK(fifo_empty(&f));
	CHECK(f.tail == NULL);
	/* Reused after emptying: the tail was reset. */
	fifo_push(&f, &it[2].link);
	CHECK(fifo_peek_entry(&f, struct item, link) == &it[2]);
	CHECK(fifo_pop_entry(&f, struct item, link) == &it[2]);
	CHECK(fifo_empty(&f));
	return 0;
}
