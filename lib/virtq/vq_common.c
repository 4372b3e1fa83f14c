/* SPDX-License-Identifier: MIT */
/*
 * What the device side's split and packed engines share (see vq_priv.h):
 * reading a descriptor once, adding a buffer to a chain, checking and mapping
 * an indirect table, filling the popped element, the resubmission order, the
 * ring-area translation, and "mark broken, log once".
 */
#include "vq_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal/log.h"
#include "vq_dev_ops.h"

void vq_desc_read_once(const void *src, bool packed, struct vq_desc_copy *d)
{
	union {
		struct virtq_desc split;
		struct virtq_packed_desc packed;
	} raw;

	_Static_assert(sizeof(struct virtq_desc) == 16 && sizeof(struct virtq_packed_desc) == 16,
		       "descriptor size");
	memcpy(&raw, src, sizeof(raw));
	/*
	 * The compiler barrier makes the 16-byte copy the only read: after it
	 * the compiler may not assume the guest's bytes unchanged, so it cannot
	 * re-load a field from guest memory instead of using the copy.
	 */
	__asm__ __volatile__("" ::: "memory");
	if (packed) {
		d->addr = vblk_le64_to_cpu(raw.packed.addr);
		d->len = vblk_le32_to_cpu(raw.packed.len);
		d->id = vblk_le16_to_cpu(raw.packed.id);
		d->flags = vblk_le16_to_cpu(raw.packed.flags);
		d->next = 0;
	} else {
		d->addr = vblk_le64_to_cpu(raw.split.addr);
		d->len = vblk_le32_to_cpu(raw.split.len);
		d->flags = vblk_le16_to_cpu(raw.split.flags);
		d->next = vblk_le16_to_cpu(raw.split.next);
		d->id = 0;
	}
}

int vq_dev_chain_add(struct vq_dev *vq, struct vq_chain *c, const struct vq_desc_copy *d,
		     const char *at, unsigned where)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	unsigned before = c->cnt;
	int ret;

	/* A zero-length descriptor carries nothing; rejected, as QEMU and crosvm do. */
	if (d->len == 0) {
		vq_dev_broken(vq, "%s %u: zero-length descriptor", at, where);
		return -EIO;
	}
	/* §2.7.4.2, §2.8.18: device-writable descriptors follow all device-readable ones. */
	if (!writable && c->in_num > 0) {
		vq_dev_broken(vq, "%s %u: device-readable descriptor after a writable one", at,
			      where);
		return -EIO;
	}
	ret = vq_mem_gpa_to_iov(vq->mem, d->addr, d->len, c->iov, &c->cnt, c->iov_max);
	if (ret == -ENOBUFS) {
		vq_dev_broken(vq, "%s %u: buffer needs more than %u iovecs", at, where, c->iov_max);
		return -EIO;
	}
	if (ret) {
		vq_dev_broken(vq, "%s %u: buffer 0x%llx+%u outside guest memory", at, where,
			      (unsigned long long)d->addr, d->len);
		return -EIO;
	}
	if (writable) {
		c->in_num += c->cnt - before;
		c->in_len += d->len;
	} else {
		c->out_num += c->cnt - before;
		c->out_len += d->len;
	}
	return 0;
}

int vq_dev_indirect_table(struct vq_dev *vq, const struct vq_desc_copy *d, const char *at,
			  unsigned where, const unsigned char **table, unsigned *n)
{
	/*
	 * §2.7.5.3.1 / §2.8.7 driver rules. §2.7.5.3.2: the WRITE flag of the
	 * indirect descriptor itself is ignored.
	 */
	if (!vq->indirect) {
		vq_dev_broken(vq, "%s %u: INDIRECT without VIRTIO_F_INDIRECT_DESC", at, where);
		return -EIO;
	}
	if (d->flags & VIRTQ_DESC_F_NEXT) {
		vq_dev_broken(vq, "%s %u: INDIRECT combined with NEXT", at, where);
		return -EIO;
	}
	if (d->len == 0 || d->len % 16 != 0) {
		vq_dev_broken(vq, "%s %u: indirect table length %u", at, where, d->len);
		return -EIO;
	}
	/* The table is read as an array, so it must be contiguous in one region. */
	*table = vq_mem_gpa_to_hva(vq->mem, d->addr, d->len);
	if (*table == NULL) {
		vq_dev_broken(vq, "%s %u: indirect table 0x%llx+%u not mapped", at, where,
			      (unsigned long long)d->addr, d->len);
		return -EIO;
	}
	*n = d->len / 16;
	return 0;
}

void vq_dev_elem_fill(struct vq_dev_elem *elem, uint16_t head, const struct vq_chain *c,
		      struct iovec *iov)
{
	elem->head = head;
	elem->out_num = c->out_num;
	elem->in_num = c->in_num;
	elem->out_len = c->out_len;
	elem->in_len = c->in_len;
	elem->iov = iov;
}

int vq_dev_resubmit_cmp(const void *a, const void *b)
{
	const struct vq_dev_resubmit *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	/* Equal counters only in a region someone else wrote: any fixed order will do. */
	return (int)x->head - (int)y->head;
}

int vq_map_area(const struct vq_mem *mem, uint64_t uva, size_t size, size_t align, void **hva)
{
	if (uva % align)
		return -EINVAL;
	*hva = vq_mem_uva_to_hva(mem, uva, size);
	if (*hva == NULL)
		return -EFAULT;
	if ((uintptr_t)*hva % align)
		return -EINVAL;
	return 0;
}

void vq_dev_broken(struct vq_dev *vq, const char *fmt, ...)
{
	char why[192];
	va_list ap;

	vq->broken = true;
	if (vq->broken_logged)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warn_once(&vq->broken_logged, "%s %p broken: %s", vq_dev_ops(vq)->name, (void *)vq,
		      why);
}
