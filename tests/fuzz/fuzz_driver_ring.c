/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the driver side of a virtqueue (lib/virtq/vq_drv.h),
 * split (virtio 1.3 §2.7) or packed (§2.8), against a hostile device. The
 * harness adds chains, then the input plays the device: it writes used
 * elements (split: used->idx and used->ring; packed: used descriptors, right
 * or wrong wrap bits), the event suppression fields, and even the descriptor
 * table or ring, and calls the driver verbs in any order.
 *
 * Properties checked on every input (a violation aborts, so libFuzzer keeps
 * the input):
 *   - get_buf never returns a cookie that is not in flight, nor one twice;
 *   - vq_drv_inflight() always equals the chains added and not yet returned;
 *   - a chain just added is exactly the buffers given (walking the table or
 *     the ring slots from where the driver's position was, wrap bits
 *     included), and no descriptor (packed: buffer ID) belongs to two
 *     chains in flight;
 *   - while the device has behaved (only the "honest completion" op so far),
 *     get_buf returns exactly what the device completed, in order, and the
 *     queue never breaks;
 *   - once broken, every verb keeps returning -EIO.
 *
 * Input: byte 0 = config (bits 0-2: log2 num - 1, num 2..128; bit 3
 * event_idx; bit 4 indirect; bit 5 packed ring; bit 6 packed with num - 1
 * entries, §2.8 allows any size), then ops until the input ends: the low
 * nibble of an op byte (mod 10) picks it, the high nibble refines it (see
 * the switch below).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_in.h"
#include "virtq/vq_drv.h"

#define MAX_NUM	  128
#define INDIR_MAX 8
#define MAX_SG	  12
#define DEV_BASE  0x100000ull /* device address of buffer k: DEV_BASE + k * 0x1000 */
#define INDIR_GPA 0x80000000ull

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_driver_ring: " __VA_ARGS__);                                 \
		fprintf(stderr, "\n");                                                             \
		abort();                                                                           \
	} while (0)

/* One potential in-flight chain per token; the cookie is &tokens[i]. */
struct token {
	bool inflight;
	unsigned nsg;
	unsigned out_num;
	struct vq_drv_sg sg[MAX_SG];
	unsigned ndesc;
	uint16_t desc[MAX_SG]; /* split: descriptors it owns (the head only, if indirect) */
	uint16_t id;	       /* packed: its buffer ID */
	uint16_t slots;	       /* packed: ring slots it occupies */
	uint32_t in_len;       /* device-writable bytes */
};

static struct {
	bool packed;
	/* Split ring. */
	struct virtq_desc desc[MAX_NUM] __attribute__((aligned(16)));
	uint8_t avail[6 + 2 * MAX_NUM] __attribute__((aligned(2)));
	uint8_t used[6 + 8 * MAX_NUM] __attribute__((aligned(4)));
	struct virtq_desc indir[MAX_NUM * INDIR_MAX] __attribute__((aligned(16)));
	/* Packed ring. */
	struct virtq_packed_desc pdesc[MAX_NUM] __attribute__((aligned(16)));
	struct virtq_packed_event drv_ev __attribute__((aligned(4)));
	struct virtq_packed_event dev_ev __attribute__((aligned(4)));
	struct virtq_packed_desc pindir[MAX_NUM * INDIR_MAX] __attribute__((aligned(16)));

	struct vq_drv_desc_state state[MAX_NUM];
	struct token tok[MAX_NUM];
	int owner[MAX_NUM]; /* token owning each descriptor (packed: buffer ID), -1 if free */
	/* The honest device: split, its used->idx; packed, its used position and wrap counter. */
	uint16_t dev_used_idx;
	uint16_t dev_pos;
	bool dev_wrap;
} g;

/* Expected completions of the honest device (token index, len), FIFO. */
struct expect {
	int tok;
	uint32_t len;
};
static struct expect fifo[MAX_NUM * 2];
static unsigned fifo_head, fifo_tail;
#define ARRAY_LEN (sizeof(fifo) / sizeof(fifo[0]))

static unsigned inflight_tokens(unsigned num)
{
	unsigned n = 0;

	for (unsigned i = 0; i < num; i++)
		n += g.tok[i].inflight;
	return n;
}

/* Walk the chain the driver just wrote for token t and compare with what we gave. */
static void check_added(const struct vq_drv *vq, int t)
{
	struct token *tk = &g.tok[t];
	unsigned num = vq->num;
	/* The head is the slot add wrote into the avail ring. */
	uint16_t aidx = (uint16_t)(vq->split.avail_idx - 1);
	uint16_t head = ((const uint16_t *)(const void *)(g.avail + 4))[aidx & (num - 1)];
	const struct virtq_desc *table = g.desc;
	unsigned tnum = num;
	uint16_t i = head;

	if (head >= num)
		FAIL("add put head %u >= num %u in the avail ring", head, num);
	tk->ndesc = 0;
	if (g.desc[head].flags & VIRTQ_DESC_F_INDIRECT) {
		uint64_t off = g.desc[head].addr - INDIR_GPA;

		if (!vq->indirect || off % sizeof(struct virtq_desc) ||
		    off / sizeof(struct virtq_desc) != (uint64_t)head * INDIR_MAX)
			FAIL("indirect descriptor of head %u points to the wrong table", head);
		if (g.desc[head].len != tk->nsg * sizeof(struct virtq_desc))
			FAIL("indirect table length %u for %u buffers", g.desc[head].len, tk->nsg);
		table = g.indir + (size_t)head * INDIR_MAX;
		tnum = INDIR_MAX;
		tk->desc[tk->ndesc++] = head;
		if (g.owner[head] >= 0)
			FAIL("descriptor %u given to token %d while token %d holds it", head, t,
			     g.owner[head]);
		g.owner[head] = t;
		i = 0;
	}
	for (unsigned k = 0; k < tk->nsg; k++) {
		const struct virtq_desc *d;
		uint16_t want = (uint16_t)((k >= tk->out_num ? VIRTQ_DESC_F_WRITE : 0) |
					   (k + 1 < tk->nsg ? VIRTQ_DESC_F_NEXT : 0));

		if (i >= tnum)
			FAIL("chain of token %d leaves its table at %u", t, i);
		d = &table[i];
		if (d->addr != tk->sg[k].addr || d->len != tk->sg[k].len || d->flags != want)
			FAIL("token %d buffer %u: desc {%llx,%u,%x} want {%llx,%u,%x}", t, k,
			     (unsigned long long)d->addr, d->len, d->flags,
			     (unsigned long long)tk->sg[k].addr, tk->sg[k].len, want);
		if (table == g.desc) {
			if (g.owner[i] >= 0)
				FAIL("descriptor %u given to token %d while token %d holds it", i,
				     t, g.owner[i]);
			g.owner[i] = t;
			tk->desc[tk->ndesc++] = i;
		}
		i = d->next;
	}
}

/* §2.8.1: an available descriptor has AVAIL = the driver's wrap counter, USED = its inverse. */
static uint16_t avail_bits(bool wrap)
{
	return (uint16_t)(wrap ? 1u << VIRTQ_PACKED_DESC_F_AVAIL : 1u << VIRTQ_PACKED_DESC_F_USED);
}

/* §2.8.1: a used descriptor has AVAIL = USED = the device's wrap counter. */
static uint16_t used_bits(bool wrap)
{
	return (uint16_t)(wrap ? 1u << VIRTQ_PACKED_DESC_F_AVAIL | 1u << VIRTQ_PACKED_DESC_F_USED
			       : 0);
}

static void advance(unsigned num, uint16_t *pos, bool *wrap, unsigned n)
{
	unsigned p = *pos + n;

	if (p >= num) {
		p -= num;
		*wrap = !*wrap;
	}
	*pos = (uint16_t)p;
}

/*
 * The packed ring: walk the slots from (pos, wrap), where the driver's next
 * position was before the add, and compare with what we gave (§2.8.6 direct,
 * §2.8.7 indirect: the table entries carry only WRITE).
 */
static void check_added_packed(const struct vq_drv *vq, int t, uint16_t pos, bool wrap)
{
	const uint16_t bits = 1u << VIRTQ_PACKED_DESC_F_AVAIL | 1u << VIRTQ_PACKED_DESC_F_USED;
	struct token *tk = &g.tok[t];
	unsigned num = vq->num;
	const struct virtq_packed_desc *d = &g.pdesc[pos];
	uint16_t id;

	if ((d->flags & bits) != avail_bits(wrap))
		FAIL("token %d: slot %u flags %#x, not available in wrap %d", t, pos, d->flags,
		     wrap);
	if (d->flags & VIRTQ_DESC_F_INDIRECT) {
		const struct virtq_packed_desc *table;

		id = d->id;
		if (!vq->indirect || id >= num ||
		    d->addr != INDIR_GPA + (uint64_t)id * INDIR_MAX * sizeof(*d) ||
		    d->len != tk->nsg * sizeof(*d) || (d->flags & ~bits) != VIRTQ_DESC_F_INDIRECT)
			FAIL("token %d: indirect descriptor {%llx,%u,id %u,%#x} is wrong", t,
			     (unsigned long long)d->addr, d->len, id, d->flags);
		table = g.pindir + (size_t)id * INDIR_MAX;
		for (unsigned k = 0; k < tk->nsg; k++)
			if (table[k].addr != tk->sg[k].addr || table[k].len != tk->sg[k].len ||
			    table[k].flags != (k >= tk->out_num ? VIRTQ_DESC_F_WRITE : 0))
				FAIL("token %d: indirect entry %u is wrong", t, k);
		tk->slots = 1;
	} else {
		for (unsigned k = 0; k < tk->nsg; k++) {
			uint16_t want = (uint16_t)((k >= tk->out_num ? VIRTQ_DESC_F_WRITE : 0) |
						   (k + 1 < tk->nsg ? VIRTQ_DESC_F_NEXT : 0) |
						   avail_bits(wrap));

			d = &g.pdesc[pos];
			if (d->addr != tk->sg[k].addr || d->len != tk->sg[k].len ||
			    d->flags != want)
				FAIL("token %d buffer %u: slot %u {%llx,%u,%#x} want {%llx,%u,%#x}",
				     t, k, pos, (unsigned long long)d->addr, d->len, d->flags,
				     (unsigned long long)tk->sg[k].addr, tk->sg[k].len, want);
			advance(num, &pos, &wrap, 1);
		}
		/* §2.8.6: the buffer ID is in the last descriptor. */
		id = d->id;
		tk->slots = (uint16_t)tk->nsg;
	}
	if (id >= num)
		FAIL("token %d got buffer ID %u >= num %u", t, id, num);
	if (g.owner[id] >= 0)
		FAIL("buffer ID %u given to token %d while token %d holds it", id, t, g.owner[id]);
	g.owner[id] = t;
	tk->id = id;
	tk->desc[0] = id;
	tk->ndesc = 1;
}

static void release(int t)
{
	struct token *tk = &g.tok[t];

	for (unsigned k = 0; k < tk->ndesc; k++)
		g.owner[tk->desc[k]] = -1;
	tk->ndesc = 0;
	tk->inflight = false;
}

static void do_add(struct vq_drv *vq, struct in *in, unsigned num)
{
	uint8_t shape = take8(in);
	unsigned nsg = 1 + (shape & 0xf) % MAX_SG, out_num = (shape >> 4) % (nsg + 1);
	int t = -1;
	int ret;

	for (unsigned i = 0; i < num; i++)
		if (!g.tok[i].inflight) {
			t = (int)i;
			break;
		}
	if (t < 0)
		t = 0; /* all in flight: add must say -ENOSPC (or -EIO) */
	struct token tmp;
	tmp.nsg = nsg;
	tmp.out_num = out_num;
	for (unsigned k = 0; k < nsg; k++) {
		tmp.sg[k].addr = DEV_BASE + ((uint64_t)t * MAX_SG + k) * 0x1000;
		tmp.sg[k].len = 1 + (take8(in) & 0x7f);
	}
	uint16_t pos = vq->packed_ring.next_avail;
	bool wrap = vq->packed_ring.avail_wrap;

	tmp.in_len = 0;
	for (unsigned k = out_num; k < nsg; k++)
		tmp.in_len += tmp.sg[k].len;
	ret = vq_drv_add(vq, tmp.sg, out_num, nsg - out_num, &g.tok[t]);
	if (ret == 0) {
		if (g.tok[t].inflight)
			FAIL("add accepted token %d which is already in flight", t);
		if (vq->broken)
			FAIL("add succeeded on a broken queue");
		g.tok[t].nsg = tmp.nsg;
		g.tok[t].out_num = tmp.out_num;
		g.tok[t].in_len = tmp.in_len;
		memcpy(g.tok[t].sg, tmp.sg, sizeof(tmp.sg));
		g.tok[t].inflight = true;
		if (g.packed)
			check_added_packed(vq, t, pos, wrap);
		else
			check_added(vq, t);
	} else if (ret != -ENOSPC && ret != -EIO && ret != -EINVAL) {
		FAIL("add returned %d", ret);
	} else if (ret == -EIO && !vq->broken) {
		FAIL("add returned -EIO on a queue that is not broken");
	}
}

static void check_get_buf(struct vq_drv *vq, bool honest, unsigned num)
{
	void *cookie = NULL;
	uint32_t len = 0;
	bool was_broken = vq->broken;
	int ret = vq_drv_get_buf(vq, &cookie, &len);

	if (was_broken && ret != -EIO)
		FAIL("get_buf returned %d on a broken queue", ret);
	if (ret == 1) {
		ptrdiff_t t = (struct token *)cookie - g.tok;

		if (t < 0 || t >= (ptrdiff_t)num || (void *)&g.tok[t] != cookie)
			FAIL("get_buf returned a cookie %p that was never added", cookie);
		if (!g.tok[t].inflight)
			FAIL("get_buf returned token %td which is not in flight (twice?)", t);
		if (honest) {
			if (fifo_head == fifo_tail)
				FAIL("get_buf returned token %td the device never completed", t);
			if (fifo[fifo_head % ARRAY_LEN].tok != t ||
			    fifo[fifo_head % ARRAY_LEN].len != len)
				FAIL(
				    "get_buf returned token %td len %u, device completed %d len %u",
				    t, len, fifo[fifo_head % ARRAY_LEN].tok,
				    fifo[fifo_head % ARRAY_LEN].len);
			fifo_head++;
		}
		release((int)t);
	} else if (ret == 0) {
		if (honest && fifo_head != fifo_tail)
			FAIL("get_buf found nothing, the device completed %u",
			     fifo_tail - fifo_head);
	} else if (ret == -EIO) {
		if (honest)
			FAIL("an honest device broke the queue");
	} else {
		FAIL("get_buf returned %d", ret);
	}
}

/* The honest device completes the k-th in-flight token it has not completed yet. */
static void honest_complete(struct vq_drv *vq, struct in *in, unsigned num)
{
	struct virtq_used *used = (struct virtq_used *)(void *)g.used;
	uint8_t k = take8(in);
	uint32_t len = take8(in);
	int cand[MAX_NUM];
	unsigned n = 0;

	for (unsigned i = 0; i < num; i++) {
		bool queued = false;

		if (!g.tok[i].inflight)
			continue;
		for (unsigned f = fifo_head; f != fifo_tail; f++)
			if (fifo[f % ARRAY_LEN].tok == (int)i)
				queued = true;
		if (!queued)
			cand[n++] = (int)i;
	}
	if (n == 0)
		return;
	int t = cand[k % n];
	struct token *tk = &g.tok[t];

	/* §2.7.8, §2.8.4: at most the chain's writable bytes. */
	len %= tk->in_len + 1;
	if (g.packed) {
		struct virtq_packed_desc *d = &g.pdesc[g.dev_pos];

		d->id = tk->id;
		d->len = len;
		/* §2.8.22: id and len before the flags that make the element used. */
		__atomic_thread_fence(__ATOMIC_RELEASE);
		/* §2.8.4: WRITE says len is valid; without it the driver reads 0. */
		d->flags = used_bits(g.dev_wrap) | (tk->in_len ? VIRTQ_DESC_F_WRITE : 0);
		if (!tk->in_len)
			len = 0;
		/* §2.8.6: the next used element follows all slots of this buffer. */
		advance(num, &g.dev_pos, &g.dev_wrap, tk->slots);
	} else {
		uint16_t head = tk->desc[0];

		used->ring[g.dev_used_idx & (num - 1)].id = head;
		used->ring[g.dev_used_idx & (num - 1)].len = len;
		__atomic_thread_fence(__ATOMIC_RELEASE);
		g.dev_used_idx++;
		used->idx = g.dev_used_idx;
	}
	fifo[fifo_tail % ARRAY_LEN].tok = t;
	fifo[fifo_tail % ARRAY_LEN].len = len;
	fifo_tail++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	struct vq_drv_layout lay;
	struct vq_drv vq;
	struct virtq_used *used = (struct virtq_used *)(void *)g.used;
	bool honest = true;
	unsigned num, steps = 0;
	uint8_t c;

	if (size < 1)
		return 0;
	c = take8(&in);
	num = 1u << (1 + (c & 7) % 7); /* 2..128 */
	memset(&g, 0, sizeof(g));
	g.packed = c & 32;
	if (g.packed && (c & 64))
		num--;	   /* 1..127: §2.8 needs no power of two */
	g.dev_wrap = true; /* §2.8.1: both wrap counters start at 1 */
	for (unsigned i = 0; i < MAX_NUM; i++)
		g.owner[i] = -1;
	fifo_head = fifo_tail = 0;

	memset(&lay, 0, sizeof(lay));
	lay.packed = g.packed;
	lay.num = (uint16_t)num;
	lay.event_idx = c & 8;
	lay.indirect = c & 16;
	lay.desc = g.packed ? (void *)g.pdesc : (void *)g.desc;
	lay.driver = g.packed ? (void *)&g.drv_ev : (void *)g.avail;
	lay.device = g.packed ? (void *)&g.dev_ev : (void *)used;
	lay.state = g.state;
	lay.indir = g.packed ? (void *)g.pindir : (void *)g.indir;
	lay.indir_addr = INDIR_GPA;
	lay.indir_max = INDIR_MAX;
	if (vq_drv_init_layout(&vq, &lay))
		FAIL("init failed for a %s ring of %u", g.packed ? "packed" : "split", num);

	while (in.n > 0 && steps++ < 4096) {
		uint8_t op = take8(&in);

		switch ((op & 0xf) % 10) {
		case 0:
		case 1:
			do_add(&vq, &in, num);
			break;
		case 2:
			honest_complete(&vq, &in, num);
			break;
		case 3:
		case 4:
			check_get_buf(&vq, honest, num);
			break;
		case 5: {
			/* Hostile: any used element. */
			uint16_t slot = take16(&in);
			uint32_t id = take32(&in), len = take32(&in);

			/* Mostly ids in range, so in-range-but-wrong heads get tried. */
			if (!(op & 0x80))
				id %= num + 1;
			if (g.packed) {
				struct virtq_packed_desc *d = &g.pdesc[slot % num];
				uint8_t f = take8(&in);

				d->id = (uint16_t)id;
				d->len = len;
				/* Used in the device's lap, the other lap, or any flags. */
				d->flags = f < 0xc0
					       ? used_bits(f & 0x80 ? !g.dev_wrap : g.dev_wrap) |
						     (f & 1 ? VIRTQ_DESC_F_WRITE : 0)
					       : take16(&in);
			} else {
				used->ring[slot % num].id = id;
				used->ring[slot % num].len = len;
			}
			honest = false;
			break;
		}
		case 6: {
			/* Hostile: move used->idx anywhere. */
			uint16_t v = take16(&in);

			if (g.packed) {
				/* Hostile: mark a slot used in our lap without writing id/len. */
				g.pdesc[v % num].flags |= used_bits(g.dev_wrap);
				if (!g.dev_wrap)
					g.pdesc[v % num].flags &= (uint16_t)~used_bits(true);
			} else {
				used->idx = (op & 0x80) ? v : (uint16_t)(used->idx + (v % 4));
			}
			honest = false;
			break;
		}
		case 7: {
			bool was_broken = vq.broken;
			bool r;

			switch ((op >> 4) % 4) {
			case 0:
				r = vq_drv_enable_cb(&vq);
				if (honest && r && fifo_head != fifo_tail)
					FAIL("enable_cb says idle with %u completions pending",
					     fifo_tail - fifo_head);
				break;
			case 1:
				vq_drv_disable_cb(&vq);
				break;
			case 2:
				(void)vq_drv_kick_prepare(&vq);
				break;
			default:
				r = vq_drv_more_used(&vq);
				if (honest && !r && fifo_head != fifo_tail)
					FAIL("more_used says no with %u completions pending",
					     fifo_tail - fifo_head);
				break;
			}
			if (was_broken && !vq.broken)
				FAIL("a broken queue came back");
			break;
		}
		case 8: {
			/* Hostile: used->flags and avail_event (kick suppression). */
			uint16_t v = take16(&in);

			if (g.packed && (op & 0x80))
				g.dev_ev.off_wrap = v;
			else if (g.packed)
				g.dev_ev.flags = v;
			else if (op & 0x80)
				*virtq_avail_event(used, num) = v;
			else
				used->flags = v;
			break;
		}
		case 9: {
			/* Hostile: scribble on the shared descriptor table. */
			uint16_t i = take16(&in);
			struct virtq_desc d;

			take(&in, &d, sizeof(d));
			if (g.packed) {
				/* The ring holds the used elements too: no longer honest. */
				memcpy(&g.pdesc[i % num], &d, sizeof(d));
				honest = false;
				if (lay.indirect)
					memcpy(&g.pindir[(i / num) % (num * INDIR_MAX)], &d,
					       sizeof(d));
			} else {
				g.desc[i % num] = d;
				if (lay.indirect)
					g.indir[(i / num) % (num * INDIR_MAX)] = d;
			}
			break;
		}
		}
		if (vq_drv_inflight(&vq) != inflight_tokens(num))
			FAIL("driver counts %u in flight, %u were added and not returned",
			     vq_drv_inflight(&vq), inflight_tokens(num));
	}
	/* Drain what an honest device completed. */
	if (honest) {
		while (fifo_head != fifo_tail)
			check_get_buf(&vq, honest, num);
		if (vq.broken)
			FAIL("an honest device broke the queue");
	}
	return 0;
}
