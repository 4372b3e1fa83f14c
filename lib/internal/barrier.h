/* SPDX-License-Identifier: MIT */
/*
 * Memory barriers for rings shared with another process (or a guest vCPU).
 * Both sides are ordinary SMP CPUs, so these are the virt_* flavour of the
 * Linux barriers: full fences between CPUs, no device-DMA semantics.
 * Every call site must say which two accesses it orders.
 */
#ifndef VBLK_INTERNAL_BARRIER_H
#define VBLK_INTERNAL_BARRIER_H

/* Orders earlier loads before later loads. */
static inline void smp_rmb(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}
/* Orders earlier stores before later stores. */
static inline void smp_wmb(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
}
/* Orders earlier loads and stores before later loads and stores (store->load too). */
static inline void smp_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

#endif
