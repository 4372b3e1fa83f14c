/* SPDX-License-Identifier: MIT */
/* A raw packed-ring driver for the device-side tests; see fake_packed.h. */
#include "fake_packed.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "test.h"

void fakep_init(struct fakep *d, unsigned num, unsigned nregions)
{
	memset(d, 0, sizeof(*d));
	fake_mem_init(&d->m, nregions);
	d->num = num;
	d->desc = (void *)(d->m.map + FAKE_DESC_OFF);
	d->drv_ev = (void *)(d->m.map + FAKE_DRV_EV_OFF);
	d->dev_ev = (void *)(d->m.map + FAKE_DEV_EV_OFF);
	d->avail_wrap = d->used_wrap = true;
}

void fakep_set_pos(struct fakep *d, uint16_t pos, bool wrap)
{
	d->next_avail = d->last_used = pos;
	d->avail_wrap = d->used_wrap = wrap;
}

int fakep_start(struct fakep *d, bool event_idx, bool indirect)
{
	static const unsigned off[3] = {FAKE_DESC_OFF, FAKE_DRV_EV_OFF, FAKE_DEV_EV_OFF};

	return fake_mem_start_ring(
	    &d->m, &d->vq, d->num, true, event_idx, indirect, off,
	    VQ_PACKED_BASE(d->next_avail, d->avail_wrap, d->last_used, d->used_wrap));
}

void fakep_fini(struct fakep *d)
{
	vq_dev_fini(&d->vq);
	fake_mem_fini(&d->m);
}

uint16_t fakep_avail_bits(bool wrap)
{
	return wrap ? FP_AVAIL : FP_USED;
}

void fakep_write(struct fakep *d, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id,
		 uint16_t flags)
{
	CHECK(pos < d->num);
	d->desc[pos].addr = vblk_cpu_to_le64(addr);
	d->desc[pos].len = vblk_cpu_to_le32(len);
	d->desc[pos].id = vblk_cpu_to_le16(id);
	/* §2.8.21.1: the rest of the slot before its flags. */
	smp_wmb();
	WRITE_ONCE(d->desc[pos].flags, vblk_cpu_to_le16(flags));
}

void fakep_table(struct virtq_packed_desc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t id,
		 uint16_t flags)
{
	t[i].addr = vblk_cpu_to_le64(addr);
	t[i].len = vblk_cpu_to_le32(len);
	t[i].id = vblk_cpu_to_le16(id);
	t[i].flags = vblk_cpu_to_le16(flags);
}

void fakep_slot(struct fakep *d, unsigned k, uint16_t *pos, bool *wrap)
{
	unsigned p = d->next_avail + k;
	bool w = d->avail_wrap;

	while (p >= d->num) {
		p -= d->num;
		w = !w;
	}
	*pos = (uint16_t)p;
	*wrap = w;
}

void fakep_advance_avail(struct fakep *d, unsigned n)
{
	fakep_slot(d, n, &d->next_avail, &d->avail_wrap);
}

uint16_t fakep_add(struct fakep *d, const struct fake_seg *segs, unsigned n, uint16_t id)
{
	uint16_t head = d->next_avail, head_flags = 0, pos;
	bool wrap;

	CHECK(n >= 1 && n <= d->num && id < VQ_DEV_MAX_SIZE);
	for (unsigned k = 0; k < n; k++) {
		uint16_t fl = (uint16_t)((segs[k].write ? FP_W : 0) | (k + 1 < n ? FP_N : 0));
		fakep_slot(d, k, &pos, &wrap);
		fl |= fakep_avail_bits(wrap);
		if (k == 0) {
			head_flags = fl;
			d->desc[pos].addr = vblk_cpu_to_le64(segs[k].addr);
			d->desc[pos].len = vblk_cpu_to_le32(segs[k].len);
			d->desc[pos].id = vblk_cpu_to_le16(id);
		} else {
			fakep_write(d, pos, segs[k].addr, segs[k].len, id, fl);
		}
	}
	smp_wmb();
	WRITE_ONCE(d->desc[head].flags, vblk_cpu_to_le16(head_flags));
	d->slots[id] = (uint16_t)n;
	fakep_advance_avail(d, n);
	return head;
}

uint16_t fakep_add_indirect(struct fakep *d, const struct fake_seg *segs, unsigned n, uint16_t id,
			    uint64_t table_gpa)
{
	uint64_t tg = table_gpa ? table_gpa : fake_mem_alloc(&d->m, 16 * n);
	struct virtq_packed_desc *t = fake_mem_ptr(&d->m, tg);
	uint16_t head = d->next_avail;

	for (unsigned k = 0; k < n; k++)
		fakep_table(t, k, segs[k].addr, segs[k].len, 0, segs[k].write ? FP_W : 0);
	fakep_write(d, head, tg, 16 * n, id, (uint16_t)(FP_I | fakep_avail_bits(d->avail_wrap)));
	d->slots[id] = 1;
	fakep_advance_avail(d, 1);
	return head;
}

int fakep_get_used(struct fakep *d, uint16_t *id, uint32_t *len, uint16_t *flags)
{
	uint16_t fl = vblk_le16_to_cpu(READ_ONCE(d->desc[d->last_used].flags));
	bool a = fl & FP_AVAIL, u = fl & FP_USED;
	unsigned p;

	if (a != u || u != d->used_wrap)
		return 0;
	smp_rmb();
	*id = vblk_le16_to_cpu(d->desc[d->last_used].id);
	*len = vblk_le32_to_cpu(d->desc[d->last_used].len);
	*flags = fl;
	CHECK(*id < d->num && d->slots[*id] != 0);
	p = d->last_used + d->slots[*id];
	if (p >= d->num) {
		p -= d->num;
		d->used_wrap = !d->used_wrap;
	}
	d->last_used = (uint16_t)p;
	d->slots[*id] = 0;
	return 1;
}

void fakep_set_drv_event(struct fakep *d, uint16_t off_wrap, uint16_t flags)
{
	d->drv_ev->off_wrap = vblk_cpu_to_le16(off_wrap);
	d->drv_ev->flags = vblk_cpu_to_le16(flags);
}

void fakep_dev_event(struct fakep *d, uint16_t *off_wrap, uint16_t *flags)
{
	*off_wrap = vblk_le16_to_cpu(d->dev_ev->off_wrap);
	*flags = vblk_le16_to_cpu(d->dev_ev->flags);
}
