/* SPDX-License-Identifier: MIT */
/*
 * The range lock and its interval tree against a brute-force model, over
 * thousands of random acquire/release operations on overlapping ranges:
 * whether a node holds its range (no earlier conflicting node present), the
 * exact set and order of nodes a release grants, overlap queries, and the
 * AVL invariants after every step.
 */
#include <stdlib.h>

#include "rl_check.h"

#define NODES 160
#define OPS   20000
#define SPACE 4096

static struct blk_rl_node node[NODES];
static bool in[NODES], held[NODES];

static bool conflict(unsigned a, unsigned b)
{
	return (node[a].excl || node[b].excl) && node[a].start < node[b].end &&
	       node[b].start < node[a].end;
}

/* Model: held iff no node inserted earlier and still in the lock conflicts. */
static bool model_held(unsigned i)
{
	for (unsigned j = 0; j < NODES; j++)
		if (j != i && in[j] && node[j].seq < node[i].seq && conflict(i, j))
			return false;
	return true;
}

static bool count_cb(struct blk_rl_node *n, void *arg)
{
	bool *seen = arg;

	seen[n - node] = true;
	return true;
}

int main(void)
{
	struct blk_range_lock rl;
	unsigned ngrant = 0, nwait = 0;

	srand(12345);
	CHECK_EQ(blk_range_lock_init(&rl), 0);
	for (unsigned op = 0; op < OPS; op++) {
		unsigned i = (unsigned)rand() % NODES;

		if (!in[i]) {
			uint64_t start = (uint64_t)(rand() % SPACE);
			uint64_t len = (uint64_t)(rand() % (rand() % 8 ? 64 : 512)) + 1;

			node[i].start = start;
			node[i].end = start + len;
			node[i].excl = rand() % 3 == 0;
			held[i] = blk_range_lock_acquire(&rl, &node[i]);
			in[i] = true;
			CHECK_EQ(held[i], model_held(i));
			nwait += !held[i];
		} else if (held[i]) {
			bool was[NODES];
			struct blk_rl_node *g;
			uint64_t last = 0;
			bool first = true;

			memcpy(was, held, sizeof(was));
			g = blk_range_lock_release(&rl, &node[i]);
			in[i] = held[i] = false;
			/* The grant list is exactly the waiters that hold now, in arrival order. */
			for (; g; g = g->next_granted) {
				unsigned j = (unsigned)(g - node);

				CHECK(in[j] && !was[j]);
				CHECK(model_held(j));
				CHECK(first || g->seq > last);
				first = false;
				last = g->seq;
				held[j] = true;
				ngrant++;
			}
			for (unsigned j = 0; j < NODES; j++)
				if (in[j])
					CHECK_EQ(held[j], model_held(j));
		}
		/* An overlap query finds exactly the overlapping nodes. */
		if (op % 7 == 0) {
			bool seen[NODES] = {false};
			uint64_t s = (uint64_t)(rand() % SPACE),
				 e = s + (uint64_t)(rand() % 300) + 1;
			size_t calls = blk_rl_tree_overlaps(&rl.tree, s, e, count_cb, seen);
			size_t want = 0;

			for (unsigned j = 0; j < NODES; j++) {
				bool ov = in[j] && node[j].start < e && s < node[j].end;

				CHECK_EQ(seen[j], ov);
				want += ov;
			}
			CHECK_EQ(calls, want);
		}
		CHECK_EQ(rl_check(rl.tree.root, NULL, NULL), rl.tree.count);
	}
	/* Drain: releasing held nodes eventually grants every waiter. */
	for (bool any = true; any;) {
		any = false;
		for (unsigned i = 0; i < NODES; i++) {
			if (in[i] && held[i]) {
				for (struct blk_rl_node *g = blk_range_lock_release(&rl, &node[i]);
				     g; g = g->next_granted)
					held[g - node] = true;
				in[i] = held[i] = false;
				any = true;
			}
		}
	}
	for (unsigned i = 0; i < NODES; i++)
		CHECK(!in[i]);
	CHECK(rl.tree.root == NULL);
	CHECK(nwait > 100 && ngrant > 100);
	blk_range_lock_fini(&rl);
	return 0;
}
