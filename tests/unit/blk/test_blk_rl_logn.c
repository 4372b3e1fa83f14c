/* SPDX-License-Identifier: MIT */
/*
 * The interval tree is O(log n), counted in node visits (not timed): with
 * 2^17 disjoint ranges inserted in ascending order (the worst case for an
 * unbalanced tree), the height stays within the AVL bound and every insert,
 * remove and point overlap query visits O(log n) nodes.
 */
#include <stdlib.h>

#include "internal/compiler.h"
#include "rl_check.h"

#define N     (1u << 17)
#define LOG2N 17

static struct blk_rl_node node[N];

static bool nop(struct blk_rl_node *n, void *arg)
{
	return true;
}

int main(void)
{
	struct blk_rl_tree t = {0};
	uint64_t v, worst = 0;

	for (unsigned i = 0; i < N; i++) {
		node[i].start = (uint64_t)i * 8;
		node[i].end = node[i].start + 4;
		node[i].seq = i;
		v = t.visits;
		blk_rl_tree_insert(&t, &node[i]);
		worst = VBLK_MAX(worst, t.visits - v);
	}
	CHECK_EQ(rl_check(t.root, NULL, NULL), N);
	/* AVL: height < 1.45 log2(n + 2). */
	CHECK(blk_rl_tree_height(&t) <= (LOG2N * 145) / 100 + 1);
	CHECK(worst <= 2 * LOG2N);

	srand(7);
	worst = 0;
	for (unsigned k = 0; k < 10000; k++) {
		unsigned i = (unsigned)rand() % N;
		size_t hits;

		v = t.visits;
		hits = blk_rl_tree_overlaps(&t, node[i].start + 1, node[i].start + 2, nop, NULL);
		CHECK_EQ(hits, 1);
		worst = VBLK_MAX(worst, t.visits - v);
		/* A range between two nodes overlaps none. */
		v = t.visits;
		CHECK_EQ(blk_rl_tree_overlaps(&t, node[i].start + 5, node[i].start + 7, nop, NULL),
			 0);
		worst = VBLK_MAX(worst, t.visits - v);
	}
	/* Each query walks at most a few root-to-leaf paths: nowhere near n. */
	CHECK(worst <= 4 * LOG2N);

	worst = 0;
	for (unsigned i = 0; i < N; i += 2) {
		v = t.visits;
		blk_rl_tree_remove(&t, &node[i]);
		worst = VBLK_MAX(worst, t.visits - v);
	}
	CHECK(worst <= 3 * LOG2N);
	CHECK_EQ(rl_check(t.root, NULL, NULL), N / 2);
	return 0;
}
