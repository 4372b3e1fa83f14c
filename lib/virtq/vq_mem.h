/* SPDX-License-Identifier: MIT */
/*
 * Guest memory table: the only way the device side turns a guest address into
 * a host pointer. Every lookup checks the whole [addr, addr+len) range against
 * the regions, with overflow-safe arithmetic, so a hostile descriptor can never
 * make us touch memory outside what the front end shared with us.
 */
#ifndef VBLK_VIRTQ_VQ_MEM_H
#define VBLK_VIRTQ_VQ_MEM_H

#include <stdint.h>
#include <sys/uio.h>

#include <vblk/spec/vhost_user.h>

/*
 * Regions in one table. SET_MEM_TABLE carries at most
 * VHOST_USER_MEMORY_BASELINE_NREGIONS; ADD_MEM_REG (memory hotplug) adds one
 * at a time up to what GET_MAX_MEM_SLOTS said. 509 is what KVM gives a VM
 * on x86 (512 memslots, 3 of them its own), so no hypervisor using KVM can
 * hand us more, and it is under QEMU's own vhost-user cap (512). A table is
 * 509 * 32 bytes = 16 KiB, searched by binary search (vq_mem.c).
 */
#define VQ_MEM_MAX_REGIONS 509

struct vq_mem_region {
	uint64_t gpa;  /* guest physical address of the first byte */
	uint64_t uva;  /* front end's virtual address of the first byte (vring addresses use it) */
	uint64_t size; /* bytes, > 0 */
	void *hva;     /* our mapping of the first byte */
};

/* Regions sorted by gpa, never overlapping in guest-physical space. */
struct vq_mem {
	unsigned nregions;
	struct vq_mem_region regions[VQ_MEM_MAX_REGIONS];
};

/*
 * Add a region. Rejects size 0, a NULL hva, gpa/uva/hva + size overflow
 * (a region may not end at 2^64), and overlap with an existing region in
 * guest-physical space.
 * Returns 0, -EINVAL (bad/overlapping region) or -ENOSPC (table full).
 */
int vq_mem_add(struct vq_mem *mem, const struct vq_mem_region *r);

/*
 * Remove the region that starts at gpa, at front-end address uva, of size
 * bytes (vhost-user.rst "VHOST_USER_REM_MEM_REG": a region is named by all
 * three) and copy it to *out. Returns 0 or -ENOENT when no region matches.
 */
int vq_mem_remove(struct vq_mem *mem, uint64_t gpa, uint64_t uva, uint64_t size,
		  struct vq_mem_region *out);

/*
 * Host pointer for [gpa, gpa+len) when the range lies wholly inside one
 * region; NULL otherwise (including len == 0 at an unmapped address and any
 * overflow). Use it for ring structures, which must be contiguous.
 */
void *vq_mem_gpa_to_hva(const struct vq_mem *mem, uint64_t gpa, uint64_t len);

/* As vq_mem_gpa_to_hva but for a front-end virtual address (SET_VRING_ADDR). */
void *vq_mem_uva_to_hva(const struct vq_mem *mem, uint64_t uva, uint64_t len);

/*
 * The guest physical address of our mapping [hva, hva+len) when it lies
 * wholly inside one region (every iovec vq_mem_gpa_to_iov makes does).
 * Dirty logging (vhost-user.rst "Migration") marks pages by gpa.
 * Returns 0 or -EFAULT.
 */
int vq_mem_hva_to_gpa(const struct vq_mem *mem, const void *hva, uint64_t len, uint64_t *gpa);

/*
 * Map a buffer that may legally span adjacent regions into iovecs appended at
 * iov[*cnt]. Returns 0; -EFAULT if any byte is unmapped or the range overflows;
 * -ENOBUFS if more than max entries would be needed; -EINVAL if len is 0.
 * On failure *cnt is unchanged.
 */
int vq_mem_gpa_to_iov(const struct vq_mem *mem, uint64_t gpa, uint32_t len, struct iovec *iov,
		      unsigned *cnt, unsigned max);

#endif
