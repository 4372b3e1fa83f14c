/* SPDX-License-Identifier: MIT */
/*
 * Byte-range lock over an interval tree, shared by the queues of one device.
 * Used by the padding stage (blk_align.c): a write that must read-modify-write
 * part of a backend block holds its aligned range exclusively; a write that
 * covers whole blocks holds it shared. Nodes are embedded in the requests, so
 * nothing is allocated.
 *
 * The tree is an AVL tree keyed on (start, seq) and augmented with the largest
 * end in each subtree: insert, remove and "is anything overlapping" are
 * O(log n); listing the k overlaps is O(log n + k) per overlap found in the
 * worst case. Every node in the tree is either holding its range or waiting
 * for it (the scheme of the Linux range_lock proposals): a node's `blocked`
 * counts the conflicting nodes inserted before it, so a later request never
 * overtakes an earlier conflicting one (FIFO per range, no starvation of an
 * exclusive by a stream of shared ones). Releasing a node decrements the
 * counts of the later conflicting nodes and returns those that reached zero.
 *
 * Thread-safety: every blk_range_lock_* call takes the lock's mutex for its
 * own O(log n + k) work only. blk_rl_tree_* are the bare tree, unlocked.
 */
#ifndef VBLK_BLK_RANGE_LOCK_H
#define VBLK_BLK_RANGE_LOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk_rl_node {
	uint64_t start, end; /* [start, end), end > start */
	uint64_t seq;	     /* insertion order, set by blk_range_lock_acquire */
	bool excl;	     /* conflicts with every overlap (else only with exclusive ones) */
	unsigned blocked;    /* earlier conflicting nodes still in the tree */
	/* Tree links, private. */
	struct blk_rl_node *left, *right;
	uint64_t max_end;
	int height;
	/* Grant list returned by blk_range_lock_release, seq order. */
	struct blk_rl_node *next_granted;
};

struct blk_rl_tree {
	struct blk_rl_node *root;
	size_t count;
	uint64_t visits; /* nodes looked at by every operation so far (tests count these) */
};

/* Insert n (start, end, seq set; keys (start, seq) unique). O(log n). */
void blk_rl_tree_insert(struct blk_rl_tree *t, struct blk_rl_node *n);

/* Remove n, which is in the tree. O(log n). */
void blk_rl_tree_remove(struct blk_rl_tree *t, struct blk_rl_node *n);

/*
 * Call fn for every node overlapping [start, end), in key order; stop early
 * when fn returns false. Returns the number of calls.
 */
typedef bool blk_rl_visit_fn(struct blk_rl_node *n, void *arg);
size_t blk_rl_tree_overlaps(struct blk_rl_tree *t, uint64_t start, uint64_t end,
			    blk_rl_visit_fn *fn, void *arg);

/* Tree height (tests: the AVL bound). */
int blk_rl_tree_height(const struct blk_rl_tree *t);

struct blk_range_lock {
	pthread_mutex_t mu;
	struct blk_rl_tree tree;
	uint64_t next_seq;
};

/* Initialise (an empty lock). Returns 0 or -errno. */
int blk_range_lock_init(struct blk_range_lock *rl);

/* Every node must have been released. Accepts a never-initialised zeroed lock. */
void blk_range_lock_fini(struct blk_range_lock *rl);

/*
 * Enter n ([start, end), excl set by the caller) into the lock. Returns true
 * if n holds its range now, false if it waits: it is then returned by the
 * blk_range_lock_release() that clears its last conflict.
 */
bool blk_range_lock_acquire(struct blk_range_lock *rl, struct blk_rl_node *n);

/*
 * Leave the lock (n held its range). Returns the nodes that hold their range
 * now, linked through next_granted in seq (arrival) order, or NULL.
 */
struct blk_rl_node *blk_range_lock_release(struct blk_range_lock *rl, struct blk_rl_node *n);

#endif
