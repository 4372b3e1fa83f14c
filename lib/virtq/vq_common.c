/* SPDX-License-Identifier: MIT */
/* Device-side helpers both ring layouts use (see vq_priv.h). */
#include "vq_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal/log.h"

int vq_chain_add(const struct vq_mem *mem, struct vq_chain *c, uint64_t addr, uint32_t len,
		 bool writable, char *why, size_t why_len)
{
	unsigned before = c->cnt;
	int ret;

	/* SPEC-NOTES: zero-length descriptors are rejected (QEMU, crosvm do too). */
	if (len == 0) {
		snprintf(why, why_len, "zero-length descriptor");
		return -EIO;
	}
	/* §2.7.4.2, §2.8.18: device-writable descriptors follow all device-readable ones. */
	if (!writable && c->in_num > 0) {
		snprintf(why, why_len, "device-readable descriptor after a writable one");
		return -EIO;
	}
	ret = vq_mem_gpa_to_iov(mem, addr, len, c->iov, &c->cnt, c->iov_max);
	if (ret == -ENOBUFS) {
		snprintf(why, why_len, "buffer needs more than %u iovecs", c->iov_max);
		return -EIO;
	}
	if (ret) {
		snprintf(why, why_len, "buffer 0x%llx+%u outside guest memory",
			 (unsigned long long)addr, len);
		return -EIO;
	}
	if (writable) {
		c->in_num += c->cnt - before;
		c->in_len += len;
	} else {
		c->out_num += c->cnt - before;
		c->out_len += len;
	}
	return 0;
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

void vq_mark_broken(bool *broken, bool *logged, const char *kind, const void *vq, const char *fmt,
		    ...)
{
	char why[192];
	va_list ap;

	*broken = true;
	if (*logged)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	vblk_warn_once(logged, "%s %p broken: %s", kind, vq, why);
}
