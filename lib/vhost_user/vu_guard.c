/* SPDX-License-Identifier: MIT */
/*
 * SIGBUS on a mapping the front end shrank: turned into zero pages and a
 * flag instead of a dead daemon (vu_guard.h has the design).
 */
#include "vu_guard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

struct guard_range {
	/* start == 0: free. Written with release order after the other fields. */
	_Atomic uintptr_t start;
	uintptr_t end;
	atomic_int *flag;
	int notify_fd;
	atomic_bool claimed;
};

/*
 * Process-wide, because a signal handler has no other way to find state:
 * the one exception to "no global mutable state" (vu_guard.h).
 */
static struct guard_range guard_table[VU_GUARD_MAX];
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static int guard_init_err;

static void guard_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	long pg = sysconf(_SC_PAGESIZE);
	int saved = errno;

	(void)uc;
	for (unsigned i = 0; i < VU_GUARD_MAX; i++) {
		struct guard_range *g = &guard_table[i];
		uintptr_t start = atomic_load_explicit(&g->start, memory_order_acquire);
		uintptr_t from;

		if (!start || a < start || a >= g->end)
			continue;
		from = a & ~((uintptr_t)pg - 1);
		/*
		 * mmap is a plain system call (not on the POSIX async-signal-safe
		 * list, but it takes no user-space lock); MAP_FIXED replaces the
		 * file pages atomically, so another thread never sees a hole.
		 */
		if (mmap((void *)from, g->end - from, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			break;
		atomic_store(g->flag, 1);
		if (g->notify_fd >= 0)
			(void)eventfd_write(g->notify_fd, 1);
		errno = saved;
		return;
	}
	/* Not ours to forgive: die as we would have. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void guard_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = guard_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL))
		guard_init_err = -errno;
}

int vu_guard_init(void)
{
	pthread_once(&guard_once, guard_install);
	return guard_init_err;
}

int vu_guard_add(void *addr, size_t len, atomic_int *flag, int notify_fd)
{
	for (int i = 0; i < VU_GUARD_MAX; i++) {
		struct guard_range *g = &guard_table[i];
		bool expected = false;

		if (!atomic_compare_exchange_strong(&g->claimed, &expected, true))
			continue;
		g->end = (uintptr_t)addr + len;
		g->flag = flag;
		g->notify_fd = notify_fd;
		atomic_store_explicit(&g->start, (uintptr_t)addr, memory_order_release);
		return i;
	}
	return -ENOSPC;
}

void vu_guard_del(int slot)
{
	if (slot < 0 || slot >= VU_GUARD_MAX)
		return;
	atomic_store_explicit(&guard_table[slot].start, 0, memory_order_release);
	atomic_store(&guard_table[slot].claimed, false);
}
