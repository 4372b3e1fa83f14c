/* SPDX-License-Identifier: MIT */
/*
 * fifo_splice (internal/list.h): all of the source goes, in order, behind
 * what the destination holds (or becomes it when the destination is empty),
 * the source is left empty and reusable, and an empty source changes nothing.
 */
#include "internal/list.h"
#include "test.h"

struct item {
	int value;
	struct fifo_link link;
};

int main(void)
{
	struct item it[6];
	struct fifo a = {0}, b = {0};
	struct item *p;
	int n = 0;

	for (int i = 0; i < 6; i++)
		it[i].value = i;

	/* Empty into empty. */
	fifo_splice(&a, &b);
	CHECK(fifo_empty(&a) && fifo_empty(&b));

	/* Into an empty destination: it becomes the source. */
	fifo_push(&b, &it[0].link);
	fifo_push(&b, &it[1].link);
	fifo_splice(&a, &b);
	CHECK(fifo_empty(&b));
	CHECK(b.tail == NULL);
	CHECK(a.tail == &it[1].link);

	/* Empty source: the destination is unchanged. */
	fifo_splice(&a, &b);
	CHECK(a.head == &it[0].link && a.tail == &it[1].link);

	/* Behind a non-empty destination, and the source is reusable afterwards. */
	fifo_push(&b, &it[2].link);
	fifo_push(&b, &it[3].link);
	fifo_push(&b, &it[4].link);
	fifo_splice(&a, &b);
	fifo_push(&b, &it[5].link);
	CHECK(fifo_peek_entry(&b, struct item, link) == &it[5]);
	fifo_splice(&a, &b);

	/* A push after the splices lands behind everything. */
	fifo_pop(&a);
	fifo_push(&a, &it[0].link);
	for (int want = 1; (p = fifo_pop_entry(&a, struct item, link)); want = (want + 1) % 6) {
		CHECK_EQ(p->value, want);
		n++;
	}
	CHECK_EQ(n, 6);
	CHECK(fifo_empty(&a) && a.tail == NULL);
	return 0;
}
