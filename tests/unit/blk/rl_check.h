/* SPDX-License-Identifier: MIT */
/* Structural check of the range lock's AVL interval tree (keys, heights, balance, max_end). */
#ifndef VBLK_TESTS_RL_CHECK_H
#define VBLK_TESTS_RL_CHECK_H

#include "blk/range_lock.h"
#include "test.h"

/* Returns the subtree size; checks every invariant below n. */
static size_t rl_check(const struct blk_rl_node *n, const struct blk_rl_node *lo,
		       const struct blk_rl_node *hi)
{
	size_t c;
	int hl, hr;
	uint64_t m;

	if (!n)
		return 0;
	CHECK(n->start < n->end);
	if (lo)
		CHECK(lo->start < n->start || (lo->start == n->start && lo->seq < n->seq));
	if (hi)
		CHECK(n->start < hi->start || (n->start == hi->start && n->seq < hi->seq));
	c = 1 + rl_check(n->left, lo, n) + rl_check(n->right, n, hi);
	hl = n->left ? n->left->height : 0;
	hr = n->right ? n->right->height : 0;
	CHECK_EQ(n->height, 1 + (hl > hr ? hl : hr));
	CHECK(hl - hr <= 1 && hr - hl <= 1);
	m = n->end;
	if (n->left && n->left->max_end > m)
		m = n->left->max_end;
	if (n->right && n->right->max_end > m)
		m = n->right->max_end;
	CHECK_EQ(n->max_end, m);
	return c;
}

#endif
