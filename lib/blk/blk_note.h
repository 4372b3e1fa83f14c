/* SPDX-License-Identifier: MIT */
/*
 * A queue's "note": an eventfd in the queue's poll set that says "look at
 * me, no backend completion will", plus a flag that says whether it may be
 * set. Any thread may signal it; only the queue's thread takes it.
 *
 * The flag spares the queue thread a read() that would almost always fail
 * with EAGAIN (it runs once per wake-up, and most wake-ups are backend
 * completions). Order: a signaller writes the eventfd and then sets the
 * flag; the taker clears the flag and then reads. Every write is followed
 * by a flag set that the taker sees, so the fd is never left readable with
 * the flag clear (which would make a level-triggered epoll spin); a write
 * that lands between the taker's clear and its read costs one spare read.
 */
#ifndef VBLK_BLK_BLK_NOTE_H
#define VBLK_BLK_BLK_NOTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

struct blk_note {
	int fd; /* eventfd, non-blocking */
	atomic_bool set;
};

static inline void blk_note_signal(struct blk_note *n)
{
	uint64_t one = 1;

	/* Only fails when the counter would overflow, and then it is readable anyway. */
	if (write(n->fd, &one, sizeof(one)) < 0) {
	}
	atomic_store_explicit(&n->set, true, memory_order_release);
}

/* Clear the note before looking for work: one signalled after this re-arms the fd. */
static inline void blk_note_take(struct blk_note *n)
{
	uint64_t cnt;

	if (atomic_exchange_explicit(&n->set, false, memory_order_acq_rel))
		(void)!read(n->fd, &cnt, sizeof(cnt));
}

#endif
