/* SPDX-License-Identifier: MIT */
/* The layout-neutral fake driver over the split and packed ones; see fake_ring.h. */
#include "fake_ring.h"

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "test.h"
#include "virtq/vq_priv.h"

bool fr_layout(const char *arg)
{
	if (arg && !strcmp(arg, "split"))
		return false;
	if (arg && !strcmp(arg, "packed"))
		return true;
	fprintf(stderr, "layout must be split or packed\n");
	exit(2);
}

void fr_init(struct fake_ring *r, bool packed, unsigned num, unsigned nregions)
{
	memset(r, 0, sizeof(*r));
	r->packed = packed;
	r->num = num;
	if (packed) {
		fakep_init(&r->p, num, nregions);
		r->m = &r->p.m;
		r->vq = &r->p.vq;
		return;
	}
	fake_init(&r->s, num, nregions);
	r->m = &r->s.m;
	r->vq = &r->s.vq;
	for (unsigned i = 0; i < num; i++)
		r->s_free[i] = true;
	r->s_nfree = num;
}

void fr_near_wrap(struct fake_ring *r, unsigned k)
{
	if (r->packed) {
		CHECK(k >= 1 && k <= r->num);
		fakep_set_pos(&r->p, (uint16_t)(r->num - k), true);
	} else {
		fake_set_idx(&r->s, (uint16_t)(0x10000u - k));
	}
}

int fr_start(struct fake_ring *r, bool event_idx, bool indirect)
{
	return r->packed ? fakep_start(&r->p, event_idx, indirect)
			 : fake_start(&r->s, event_idx, indirect);
}

void fr_fini(struct fake_ring *r)
{
	if (r->packed)
		fakep_fini(&r->p);
	else
		fake_fini(&r->s);
}

uint32_t fr_first_base(const struct fake_ring *r)
{
	if (!r->packed)
		return r->s.avail_idx;
	return VQ_PACKED_BASE(r->p.next_avail, r->p.avail_wrap, r->p.last_used, r->p.used_wrap);
}

uint32_t fr_death_base(struct fake_ring *r, uint32_t first)
{
	return r->packed ? first : fake_used_idx(&r->s);
}

int fr_start_inflight(struct fake_ring *r, void *region, size_t len, uint32_t base)
{
	unsigned off[3], align;
	size_t size;

	for (unsigned i = 0; i < 3; i++)
		fr_area(r, i, &off[i], &size, &align);
	return fake_mem_restart(r->m, r->vq, r->num, r->packed, off, region, len, base);
}

void fr_area(const struct fake_ring *r, unsigned i, unsigned *off, size_t *size, unsigned *align)
{
	static const unsigned split_off[3] = {FAKE_DESC_OFF, FAKE_AVAIL_OFF, FAKE_USED_OFF};
	static const unsigned packed_off[3] = {FAKE_DESC_OFF, FAKE_DRV_EV_OFF, FAKE_DEV_EV_OFF};
	static const unsigned split_align[3] = {16, 2, 4};

	CHECK(i < 3);
	*off = r->packed ? packed_off[i] : split_off[i];
	if (i == 0) {
		*size = 16u * r->num;
		*align = 16;
	} else if (r->packed) {
		*size = sizeof(struct virtq_packed_event);
		*align = 4;
	} else {
		*size = i == 1 ? virtq_avail_size(r->num) : virtq_used_size(r->num);
		*align = split_align[i];
	}
}

unsigned fr_units(const struct fake_ring *r, unsigned n, bool indirect)
{
	return r->packed && !indirect ? n : 1;
}

static unsigned packed_busy_slots(const struct fake_ring *r)
{
	unsigned a = vq_packed_lin(r->num, r->p.next_avail, r->p.avail_wrap);
	unsigned u = vq_packed_lin(r->num, r->p.last_used, r->p.used_wrap);

	return (a + 2 * r->num - u) % (2 * r->num);
}

bool fr_fits(const struct fake_ring *r, unsigned n, bool indirect)
{
	unsigned need = indirect ? 1 : n;

	if (fr_free_id(r) == 0xffff)
		return false;
	if (r->packed)
		return packed_busy_slots(r) + need <= r->num;
	return need <= r->s_nfree;
}

bool fr_id_free(const struct fake_ring *r, uint16_t id)
{
	return id < r->num && (r->packed ? !r->busy[id] : r->s_free[id]);
}

uint16_t fr_free_id(const struct fake_ring *r)
{
	for (uint16_t i = 0; i < r->num; i++)
		if (fr_id_free(r, i))
			return i;
	return 0xffff;
}

/*
 * Split: take descriptor want (CHECKed free), or with want = 0xffff the
 * first free one an odd stride away from prev, so that chains wander
 * through the table rather than run in order (num is a power of two, so
 * the stride visits every entry).
 */
static uint16_t split_take(struct fake_ring *r, uint16_t want, uint16_t prev)
{
	if (want == 0xffff) {
		for (unsigned k = 1; k <= r->num; k++) {
			uint16_t c = (uint16_t)((prev + 5 * k) % r->num);

			if (r->s_free[c]) {
				want = c;
				break;
			}
		}
	}
	CHECK(want < r->num && r->s_free[want]);
	r->s_free[want] = false;
	r->s_nfree--;
	return want;
}

static void split_add(struct fake_ring *r, uint16_t id, const struct fake_seg *segs, unsigned n)
{
	uint16_t cur = split_take(r, id, 0), next;

	r->s_ndesc[id] = (uint16_t)n;
	for (unsigned k = 0; k < n; k++) {
		uint16_t fl = segs[k].write ? VIRTQ_DESC_F_WRITE : 0;

		next = 0;
		if (k + 1 < n) {
			next = split_take(r, 0xffff, cur);
			fl |= VIRTQ_DESC_F_NEXT;
		}
		fake_set_desc(r->s.desc, cur, segs[k].addr, segs[k].len, fl, next);
		r->s_next[cur] = next;
		cur = next;
	}
	fake_publish(&r->s, id);
}

void fr_add(struct fake_ring *r, uint16_t id, const struct fake_seg *segs, unsigned n)
{
	CHECK(n >= 1 && id < r->num && !r->busy[id] && fr_fits(r, n, false));
	if (r->packed)
		fakep_add(&r->p, segs, n, id);
	else
		split_add(r, id, segs, n);
	r->busy[id] = true;
}

void fr_add_indirect(struct fake_ring *r, uint16_t id, const struct fake_seg *segs, unsigned n,
		     uint64_t table_gpa, uint16_t ring_flags)
{
	uint64_t tg = table_gpa ? table_gpa : fake_mem_alloc(r->m, 16 * n);
	uint16_t fl = (uint16_t)(VIRTQ_DESC_F_INDIRECT | ring_flags);
	uint8_t *t = fake_mem_ptr(r->m, tg);

	CHECK(n >= 1 && id < r->num && !r->busy[id] && fr_fits(r, n, true));
	r->busy[id] = true;
	/* Entries through a copy: the table need not be aligned (no rule asks for it). */
	for (unsigned k = 0; k < n; k++) {
		uint16_t efl = segs[k].write ? VIRTQ_DESC_F_WRITE : 0;

		if (r->packed) {
			struct virtq_packed_desc e;

			fakep_table(&e, 0, segs[k].addr, segs[k].len, 0, efl);
			memcpy(t + 16 * k, &e, 16);
		} else {
			struct virtq_desc e;

			if (k + 1 < n)
				efl |= VIRTQ_DESC_F_NEXT;
			fake_set_desc(&e, 0, segs[k].addr, segs[k].len, efl,
				      (uint16_t)(k + 1 < n ? k + 1 : 0));
			memcpy(t + 16 * k, &e, 16);
		}
	}
	if (r->packed) {
		fakep_write(&r->p, r->p.next_avail, tg, 16 * n, id,
			    (uint16_t)(fl | fakep_avail_bits(r->p.avail_wrap)));
		r->p.slots[id] = 1;
		fakep_advance_avail(&r->p, 1);
		return;
	}
	split_take(r, id, 0);
	r->s_ndesc[id] = 1;
	fake_set_desc(r->s.desc, id, tg, 16 * n, fl, 0);
	fake_publish(&r->s, id);
}

int fr_get_used(struct fake_ring *r, uint16_t *id, uint32_t *len)
{
	uint16_t fl, h;
	uint32_t id32;

	if (r->packed) {
		/* A zeroed slot looks used under wrap counter 0: only while something is out. */
		if (!packed_busy_slots(r) || !fakep_get_used(&r->p, id, len, &fl))
			return 0;
		/* §2.8.4: WRITE in a used element says len bytes were written. */
		CHECK_EQ(!!(fl & FP_W), *len > 0);
		CHECK(r->busy[*id]);
		r->busy[*id] = false;
		return 1;
	}
	if (r->s.last_used == fake_used_idx(&r->s))
		return 0;
	/* §2.7.13.3 (driver side): used->idx before the element it covers. */
	smp_rmb();
	fake_used_elem(&r->s, r->s.last_used, &id32, len);
	CHECK(id32 < r->num && r->busy[id32]);
	*id = (uint16_t)id32;
	r->busy[*id] = false;
	h = *id;
	for (unsigned k = 0; k < r->s_ndesc[*id]; k++) {
		CHECK(!r->s_free[h]);
		r->s_free[h] = true;
		r->s_nfree++;
		h = r->s_next[h];
	}
	r->s.last_used++;
	return 1;
}

void fr_expect_used(struct fake_ring *r, uint16_t want_id, uint32_t want_len)
{
	uint16_t id;
	uint32_t len;

	CHECK_EQ(fr_get_used(r, &id, &len), 1);
	CHECK_EQ(id, want_id);
	CHECK_EQ(len, want_len);
}

unsigned fr_span(const struct fake_ring *r)
{
	return r->packed ? 2 * r->num : 0x10000u;
}

unsigned fr_dev_avail_lin(const struct fake_ring *r)
{
	const struct vq_dev *vq = r->vq;

	return r->packed ? vq_packed_lin(r->num, vq->last_avail_idx, vq->packed_ring.avail_wrap)
			 : vq->last_avail_idx;
}

unsigned fr_dev_used_lin(const struct fake_ring *r)
{
	const struct vq_dev *vq = r->vq;

	return r->packed ? vq_packed_lin(r->num, vq->used_idx, vq->packed_ring.used_wrap)
			 : vq->used_idx;
}

unsigned fr_avail_ahead(const struct fake_ring *r)
{
	unsigned drv =
	    r->packed ? vq_packed_lin(r->num, r->p.next_avail, r->p.avail_wrap) : r->s.avail_idx;

	return (drv + fr_span(r) - fr_dev_avail_lin(r)) % fr_span(r);
}

unsigned fr_used_ahead(const struct fake_ring *r)
{
	unsigned drv =
	    r->packed ? vq_packed_lin(r->num, r->p.last_used, r->p.used_wrap) : r->s.last_used;

	return (fr_dev_used_lin(r) + fr_span(r) - drv) % fr_span(r);
}

void fr_irq(struct fake_ring *r, bool on)
{
	if (r->packed)
		fakep_set_drv_event(&r->p, vblk_le16_to_cpu(r->p.drv_ev->off_wrap),
				    on ? VIRTQ_PACKED_EVENT_FLAG_ENABLE
				       : VIRTQ_PACKED_EVENT_FLAG_DISABLE);
	else
		r->s.avail->flags = vblk_cpu_to_le16(on ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT);
}

void fr_irq_at(struct fake_ring *r, unsigned k)
{
	uint16_t pos = r->vq->used_idx;
	bool wrap;

	if (!r->packed) {
		fake_set_used_event(&r->s, (uint16_t)(pos + k));
		return;
	}
	wrap = r->vq->packed_ring.used_wrap;
	for (; k > r->num; k -= r->num)
		vq_packed_advance(r->num, &pos, &wrap, r->num);
	vq_packed_advance(r->num, &pos, &wrap, k);
	fakep_set_drv_event(&r->p, vq_packed_off_wrap(pos, wrap), VIRTQ_PACKED_EVENT_FLAG_DESC);
}

bool fr_kicks_on(struct fake_ring *r)
{
	uint16_t ow, fl;

	if (!r->packed) {
		fl = vblk_le16_to_cpu(r->s.used->flags);
		CHECK(fl == 0 || fl == VIRTQ_USED_F_NO_NOTIFY);
		return fl == 0;
	}
	fakep_dev_event(&r->p, &ow, &fl);
	CHECK(fl <= VIRTQ_PACKED_EVENT_FLAG_DESC);
	return fl != VIRTQ_PACKED_EVENT_FLAG_DISABLE;
}

uint16_t fr_kick_event(struct fake_ring *r)
{
	uint16_t ow, fl;

	if (!r->packed)
		return fake_avail_event(&r->s);
	fakep_dev_event(&r->p, &ow, &fl);
	return ow;
}

bool fr_kicks_by_event(struct fake_ring *r)
{
	uint16_t ow, fl;

	if (!r->packed)
		return vblk_le16_to_cpu(r->s.used->flags) == 0;
	fakep_dev_event(&r->p, &ow, &fl);
	return fl == VIRTQ_PACKED_EVENT_FLAG_DESC;
}

void fr_set_kick_event(struct fake_ring *r, uint16_t v)
{
	if (r->packed)
		r->p.dev_ev->off_wrap = vblk_cpu_to_le16(v);
	else
		*virtq_avail_event(r->s.used, r->num) = vblk_cpu_to_le16(v);
}

uint16_t fr_dev_avail_pos(const struct fake_ring *r)
{
	const struct vq_dev *vq = r->vq;

	return r->packed ? vq_packed_off_wrap(vq->last_avail_idx, vq->packed_ring.avail_wrap)
			 : vq->last_avail_idx;
}
