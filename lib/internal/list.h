/* SPDX-License-Identifier: MIT */
/*
 * The one intrusive FIFO list: objects that embed a struct fifo_link queue
 * up in a struct fifo, pushed at the tail and popped from the head in O(1),
 * with no allocation - what free lists, requests waiting for ring space and
 * completions made without the device all are. A zeroed struct fifo is an
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

/* Remove and return the head, or NULL when f is empty. */
static inline struct fifo_link *fifo_pop(struct fifo *f)
{
	struct fifo_link *l = f->head;

	if (l) {
		f->head = l->next;
		if (!f->head)
			f->tail = NULL;
	}
	return l;
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

#endif
