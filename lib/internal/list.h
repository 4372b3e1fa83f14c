/* SPDX-License-Identifier: MIT */
/*
 * The one intrusive FIFO list: objects that embed a struct fifo_link queue
 * up in a struct fifo, pushed at the tail and popped from the head in O(1),
 * with no allocation - what free lists, requests waiting for ring space and
 * completions made without the device all are. Also: moving a whole list to
 * the tail of another (fifo_splice) and, while walking one, removing the
 * member after a given one (fifo_remove_after). A zeroed struct fifo is an
 * empty list. No locking: the owner of the list serialises its use. An
 * object is in at most one list per link it embeds.
 */
#ifndef VBLK_INTERNAL_LIST_H
#define VBLK_INTERNAL_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"

struct fifo_link {
	struct fifo_link *next;
};

struct fifo {
	struct fifo_link *head, *tail;
};

static inline bool fifo_empty(const struct fifo *f)
{
	return !f->head;
}

/* Append l at the tail. */
static inline void fifo_push(struct fifo *f, struct fifo_link *l)
{
	l->next = NULL;
	if (f->tail)
		f->tail->next = l;
	else
		f->head = l;
	f->tail = l;
}

/* Make f empty (as zeroing it does). */
static inline void fifo_init(struct fifo *f)
{
	f->head = NULL;
	f->tail = NULL;
}

/* Move all of src, in order, to the tail of dst; src ends up empty. */
static inline void fifo_splice(struct fifo *dst, struct fifo *src)
{
	if (!src->head)
		return;
	if (dst->tail)
		dst->tail->next = src->head;
	else
		dst->head = src->head;
	dst->tail = src->tail;
	fifo_init(src);
}

/*
 * The link after prev, or the head when prev is NULL: with
 * fifo_remove_after(), walks a list removing some of its members.
 */
static inline struct fifo_link *fifo_after(const struct fifo *f, const struct fifo_link *prev)
{
	return prev ? prev->next : f->head;
}

/* Remove and return the link after prev (the head when prev is NULL), or NULL if there is none. */
static inline struct fifo_link *fifo_remove_after(struct fifo *f, struct fifo_link *prev)
{
	struct fifo_link *l = fifo_after(f, prev);

	if (l) {
		if (prev)
			prev->next = l->next;
		else
			f->head = l->next;
		if (f->tail == l)
			f->tail = prev;
	}
	return l;
}

/* Remove and return the head, or NULL when f is empty. */
static inline struct fifo_link *fifo_pop(struct fifo *f)
{
	return fifo_remove_after(f, NULL);
}

/* The object whose member link l is, or NULL for NULL (l is evaluated once). */
#define fifo_entry(l, type, member)                                                                \
	__extension__({                                                                            \
		struct fifo_link *fifo_l_ = (l);                                                   \
		fifo_l_ ? container_of(fifo_l_, type, member) : (type *)NULL;                      \
	})

/* Pop the head as its object, or NULL when f is empty. */
#define fifo_pop_entry(f, type, member) fifo_entry(fifo_pop(f), type, member)
/* The head as its object without removing it, or NULL when f is empty. */
#define fifo_peek_entry(f, type, member) fifo_entry((f)->head, type, member)
/* The object after pos (a type * in a list), or NULL at the tail: walks a list with peek. */
#define fifo_next_entry(pos, type, member) fifo_entry((pos)->member.next, type, member)

#endif
