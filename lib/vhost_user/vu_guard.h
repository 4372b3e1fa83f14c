/* SPDX-License-Identifier: MIT */
/*
 * Guarded mappings: memory a vhost-user front end gave us by fd (guest RAM,
 * the inflight region) that it can shrink under us with ftruncate. Touching
 * a page of a MAP_SHARED mapping past the end of its file raises SIGBUS,
 * which would kill the daemon. Design (docs/design.md "Memory the front end
 * can shrink"):
 *
 *  - a process-wide SIGBUS handler looks the faulting address up in a fixed
 *    table of guarded ranges;
 *  - inside one, it replaces the rest of that range, from the faulting page
 *    on, with private zero pages (mmap MAP_FIXED), so the access completes;
 *    the caller sees zeros and its writes go nowhere;
 *  - it raises the range's fault flag and writes its eventfd, so the owner
 *    (the vhost-user server's control thread) breaks the queues and drops
 *    the front end that did it; nothing it wrote after the fault reaches
 *    guest memory, and the requests in that window fail or read zeros;
 *  - outside every guarded range the fault is a bug of ours: the default
 *    action (core dump) is restored and the signal re-raised.
 *
 * The table is the one piece of process-wide mutable state in the library:
 * a signal handler can reach nothing else. Entries are claimed and
 * released with atomics, so the handler never sees a half-written entry.
 */
#ifndef VBLK_VHOST_USER_VU_GUARD_H
#define VBLK_VHOST_USER_VU_GUARD_H

#include <stdatomic.h>
#include <stddef.h>

/*
 * Ranges guarded at once: a full memory table (509 regions with memory
 * hotplug, vq_mem.h) plus an inflight region, for four servers. The handler
 * scans the table only when a SIGBUS arrives; an add scans it too, once per
 * region a front end adds. A front end that fills it gets ENOSPC.
 */
#define VU_GUARD_MAX 2048

/*
 * Install the SIGBUS handler (idempotent, thread-safe). Returns 0 or -errno.
 */
int vu_guard_init(void);

/*
 * Guard [addr, addr + len). On a fault inside it, *flag becomes 1 and
 * notify_fd (an eventfd, or -1) is written. Returns a slot >= 0 for
 * vu_guard_del, or -ENOSPC when the table is full (the mapping then stays
 * unguarded: the caller decides whether to refuse it).
 */
int vu_guard_add(void *addr, size_t len, atomic_int *flag, int notify_fd);

/* Stop guarding slot (a value from vu_guard_add; -1 is ignored). Before munmap. */
void vu_guard_del(int slot);

#endif
