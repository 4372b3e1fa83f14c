/* SPDX-License-Identifier: MIT */
/*
 * Interval tree (AVL, keyed on (start, seq), augmented with the subtree's
 * largest end) and the byte-range lock built on it. See range_lock.h for the
 * locking rules; this file only holds the mechanics. Recursion depth is the
 * tree height, at most 1.44 log2(n + 2), i.e. under 64 for any n that fits in
 * memory.
 */
#include "range_lock.h"

#include <errno.h>
#include <string.h>

static int height(const struct blk_rl_node *n)
{
	return n ? n->height : 0;
}

static void update(struct blk_rl_node *n)
{
	int hl = height(n->left), hr = height(n->right);
	uint64_t m = n->end;

	if (n->left && n->left->max_end > m)
		m = n->left->max_end;
	if (n->right && n->right->max_end > m)
		m = n->right->max_end;
	n->max_end = m;
	n->height = 1 + (hl > hr ? hl : hr);
}

static struct blk_rl_node *rot_right(struct blk_rl_node *y)
{
	struct blk_rl_node *x = y->left;

	y->left = x->right;
	x->right = y;
	update(y);
	update(x);
	return x;
}

static struct blk_rl_node *rot_left(struct blk_rl_node *x)
{
	struct blk_rl_node *y = x->right;

	x->right = y->left;
	y->left = x;
	update(x);
	update(y);
	return y;
}

static struct blk_rl_node *rebalance(struct blk_rl_node *n)
{
	int bf;

	update(n);
	bf = height(n->left) - height(n->right);
	if (bf > 1) {
		if (height(n->left->left) < height(n->left->right))
			n->left = rot_left(n->left);
		return rot_right(n);
	}
	if (bf < -1) {
		if (height(n->right->right) < height(n->right->left))
			n->right = rot_right(n->right);
		return rot_left(n);
	}
	return n;
}

static bool key_less(const struct blk_rl_node *a, const struct blk_rl_node *b)
{
	return a->start < b->start || (a->start == b->start && a->seq < b->seq);
}

static struct blk_rl_node *insert_at(struct blk_rl_tree *t, struct blk_rl_node *root,
				     struct blk_rl_node *n)
{
	if (!root) {
		n->left = n->right = NULL;
		update(n);
		return n;
	}
	t->visits++;
	if (key_less(n, root))
		root->left = insert_at(t, root->left, n);
	else
		root->right = insert_at(t, root->right, n);
	return rebalance(root);
}

void blk_rl_tree_insert(struct blk_rl_tree *t, struct blk_rl_node *n)
{
	t->root = insert_at(t, t->root, n);
	t->count++;
}

static struct blk_rl_node *remove_min(struct blk_rl_tree *t, struct blk_rl_node *root,
				      struct blk_rl_node **min)
{
	t->visits++;
	if (!root->left) {
		*min = root;
		return root->right;
	}
	root->left = remove_min(t, root->left, min);
	return rebalance(root);
}

static struct blk_rl_node *remove_at(struct blk_rl_tree *t, struct blk_rl_node *root,
				     struct blk_rl_node *n)
{
	struct blk_rl_node *m, *r;

	if (!root)
		return NULL; /* not in the tree: a caller bug, leave the tree as it is */
	t->visits++;
	if (root == n) {
		if (!n->left)
			return n->right;
		if (!n->right)
			return n->left;
		r = remove_min(t, n->right, &m);
		m->left = n->left;
		m->right = r;
		return rebalance(m);
	}
	if (key_less(n, root))
		root->left = remove_at(t, root->left, n);
	else
		root->right = remove_at(t, root->right, n);
	return rebalance(root);
}

void blk_rl_tree_remove(struct blk_rl_tree *t, struct blk_rl_node *n)
{
	t->root = remove_at(t, t->root, n);
	t->count--;
	n->left = n->right = NULL;
}

struct ov_ctx {
	struct blk_rl_tree *t;
	uint64_t start, end;
	blk_rl_visit_fn *fn;
	void *arg;
	size_t calls;
};

/* In-order walk pruned by max_end (nothing below ends after start) and start (nothing right starts
 * before end). */
static bool ov_walk(struct ov_ctx *c, struct blk_rl_node *n)
{
	if (!n)
		return true;
	c->t->visits++;
	if (n->max_end <= c->start)
		return true;
	if (!ov_walk(c, n->left))
		return false;
	if (n->start >= c->end)
		return true;
	if (n->end > c->start) {
		c->calls++;
		if (!c->fn(n, c->arg))
			return false;
	}
	return ov_walk(c, n->right);
}

size_t blk_rl_tree_overlaps(struct blk_rl_tree *t, uint64_t start, uint64_t end,
			    blk_rl_visit_fn *fn, void *arg)
{
	struct ov_ctx c = {t, start, end, fn, arg, 0};

	if (start < end)
		ov_walk(&c, t->root);
	return c.calls;
}

int blk_rl_tree_height(const struct blk_rl_tree *t)
{
	return height(t->root);
}

/* ---- the lock ------------------------------------------------------------ */

int blk_range_lock_init(struct blk_range_lock *rl)
{
	memset(rl, 0, sizeof(*rl));
	return -pthread_mutex_init(&rl->mu, NULL);
}

void blk_range_lock_fini(struct blk_range_lock *rl)
{
	/* glibc's mutex owns no resources; destroying a zeroed one is harmless. */
	pthread_mutex_destroy(&rl->mu);
}

static bool conflicts(const struct blk_rl_node *a, const struct blk_rl_node *b)
{
	return a->excl || b->excl;
}

static bool count_conflict(struct blk_rl_node *m, void *arg)
{
	struct blk_rl_node *n = arg;

	if (conflicts(n, m))
		n->blocked++;
	return true;
}

bool blk_range_lock_acquire(struct blk_range_lock *rl, struct blk_rl_node *n)
{
	bool held;

	n->blocked = 0;
	n->next_granted = NULL;
	pthread_mutex_lock(&rl->mu);
	n->seq = rl->next_seq++;
	/* Every node now in the tree came earlier: each conflicting one is ahead of n. */
	blk_rl_tree_overlaps(&rl->tree, n->start, n->end, count_conflict, n);
	blk_rl_tree_insert(&rl->tree, n);
	held = n->blocked == 0;
	pthread_mutex_unlock(&rl->mu);
	return held;
}

struct release_ctx {
	struct blk_rl_node *gone;
	struct blk_rl_node *granted;
};

static bool unblock(struct blk_rl_node *m, void *arg)
{
	struct release_ctx *c = arg;
	struct blk_rl_node **pp;

	/* Only later conflicting nodes counted `gone` when they arrived. */
	if (m->seq < c->gone->seq || !conflicts(c->gone, m) || m->blocked == 0)
		return true;
	if (--m->blocked)
		return true;
	/* Few nodes become free at once: keep the list in arrival order by insertion. */
	pp = &c->granted;
	while (*pp && (*pp)->seq < m->seq)
		pp = &(*pp)->next_granted;
	m->next_granted = *pp;
	*pp = m;
	return true;
}

struct blk_rl_node *blk_range_lock_release(struct blk_range_lock *rl, struct blk_rl_node *n)
{
	struct release_ctx c = {n, NULL};

	pthread_mutex_lock(&rl->mu);
	blk_rl_tree_remove(&rl->tree, n);
	blk_rl_tree_overlaps(&rl->tree, n->start, n->end, unblock, &c);
	pthread_mutex_unlock(&rl->mu);
	return c.granted;
}
