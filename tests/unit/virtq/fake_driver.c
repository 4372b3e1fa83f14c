/* SPDX-License-Identifier: MIT */
#include "fake_driver.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "test.h"

void fake_init(struct fake_drv *d, unsigned num, unsigned nregions)
{
	memset(d, 0, sizeof(*d));
	fake_mem_init(&d->m, nregions);
	d->num = num;
	d->desc = (struct virtq_desc *)(void *)(d->m.map + FAKE_DESC_OFF);
	d->avail = (struct virtq_avail *)(void *)(d->m.map + FAKE_AVAIL_OFF);
	d->used = (struct virtq_used *)(void *)(d->m.map + FAKE_USED_OFF);
}

void fake_set_idx(struct fake_drv *d, uint16_t idx)
{
	d->avail->idx = vblk_cpu_to_le16(idx);
	d->used->idx = vblk_cpu_to_le16(idx);
	d->avail_idx = idx;
	d->last_used = idx;
}

int fake_start(struct fake_drv *d, bool event_idx, bool indirect)
{
	static const unsigned off[3] = {FAKE_DESC_OFF, FAKE_AVAIL_OFF, FAKE_USED_OFF};

	return fake_mem_start_ring(&d->m, &d->vq, d->num, false, event_idx, indirect, off,
				   d->avail_idx);
}

void fake_fini(struct fake_drv *d)
{
	vq_dev_fini(&d->vq);
	fake_mem_fini(&d->m);
}

void fake_set_desc(struct virtq_desc *table, unsigned i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	table[i].addr = vblk_cpu_to_le64(addr);
	table[i].len = vblk_cpu_to_le32(len);
	table[i].flags = vblk_cpu_to_le16(flags);
	table[i].next = vblk_cpu_to_le16(next);
}

void fake_publish(struct fake_drv *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->num] = vblk_cpu_to_le16(head);
	/* §2.7.13.3: ring entry and descriptors before idx. */
	smp_wmb();
	d->avail_idx++;
	WRITE_ONCE(d->avail->idx, vblk_cpu_to_le16(d->avail_idx));
}

uint16_t fake_used_idx(struct fake_drv *d)
{
	return vblk_le16_to_cpu(READ_ONCE(d->used->idx));
}

void fake_used_elem(struct fake_drv *d, uint16_t idx, uint32_t *id, uint32_t *len)
{
	*id = vblk_le32_to_cpu(d->used->ring[idx % d->num].id);
	*len = vblk_le32_to_cpu(d->used->ring[idx % d->num].len);
}

void fake_set_used_event(struct fake_drv *d, uint16_t v)
{
	*virtq_used_event(d->avail, d->num) = vblk_cpu_to_le16(v);
}

uint16_t fake_avail_event(struct fake_drv *d)
{
	return vblk_le16_to_cpu(*virtq_avail_event(d->used, d->num));
}
