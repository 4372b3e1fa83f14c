/* SPDX-License-Identifier: MIT */
/*
 * Loopback: the driver-side ring (vq_drv) against the device-side ring
 * (vq_dev) in one process, over two mappings of one memfd (rings.h).
 *
 * More than 65536 requests (so every 16-bit index wraps) of random shapes go
 * through a small ring that is kept full: requests that do not fit wait in a
 * FIFO and are added as completions free descriptors. The device completes
 * in shuffled order (so the free list becomes fragmented) and checks that it
 * pops requests in submission order; the driver checks each completion's
 * length and data.
 *
 * Both sides only act when notified, as real ones do: the device works only
 * after a kick (until its ring is empty and enable_kicks says so), the driver
 * reaps only after an interrupt (disable_cb ... enable_cb loop). A lost kick
 * or interrupt from wrong suppression logic therefore stalls the loop, which
 * the test detects.
 *
 * Both sides are set up and driven only through the dispatchers (vq_drv_*,
 * vq_dev_*), so the same loop runs the split ring (virtio 1.3 §2.7) and, with
 * PACKED=1, the packed ring (§2.8), whose size need not be a power of two.
 *
 * Usage: test_ring_loopback INDIRECT EVENT_IDX [PACKED [NUM]]   (flags 0 or 1)
 */
#include <errno.h>

#include "rings.h"
#include "test.h"

#define NUM	  RINGS_MAX_NUM /* the largest ring; the default size */
#define INDIR_MAX RINGS_MAX_INDIR
#define NREQ	  (4 * NUM) /* request slots: more than the ring holds */
#define TOTAL	  200000u   /* > 65536: all 16-bit indices wrap */
#define GPA_BASE  RINGS_GPA_BASE
#define OFF_DATA  RINGS_OFF_DATA
#define SLOT	  64 /* bytes of data per request slot: out [0,24), in [32,56) */

struct req {
	uint64_t seq;
	unsigned nout, nin;
	int next; /* FIFO / free list link */
};

static struct req reqs[NREQ];
static struct rings rings;
static uint8_t *drv_map;
static uint64_t rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static uint64_t gpa_of(unsigned off)
{
	return GPA_BASE + off;
}

/* Device view: pops in FIFO order, completes in shuffled order. */
struct held {
	uint16_t head;
	uint32_t len;
};

int main(int argc, char **argv)
{
	bool indirect, event_idx, packed = false;
	unsigned num = NUM;
	struct vq_drv *drv = &rings.drv;
	struct vq_dev *dev = &rings.dev;
	struct held held[NUM];
	unsigned nheld = 0;
	int free_head = 0, fifo_head = -1, fifo_tail = -1;
	uint64_t next_seq = 0, pop_seq = 0, done = 0, kicks = 0, irqs = 0;
	bool kick_pending = false, irq_pending = false, dev_awake = false;
	unsigned idle = 0;

	if (argc < 3 || argc > 5)
		SKIP("usage: %s INDIRECT EVENT_IDX [PACKED [NUM]]", argv[0]);
	indirect = atoi(argv[1]);
	event_idx = atoi(argv[2]);
	if (argc > 3)
		packed = atoi(argv[3]);
	if (argc > 4)
		num = (unsigned)atoi(argv[4]);
	CHECK(num >= 1 && num <= NUM);

	rings_open(&rings, packed, num, event_idx, indirect, INDIR_MAX);
	drv_map = rings.drv_map;

	for (int i = 0; i < NREQ; i++)
		reqs[i].next = i + 1 < NREQ ? i + 1 : -1;

	while (done < TOTAL) {
		bool progress = false;

		/* User: submit into free slots; the FIFO keeps submission order. */
		while (free_head >= 0 && next_seq < TOTAL) {
			int i = free_head;
			struct req *q = &reqs[i];
			free_head = q->next;
			q->seq = next_seq++;
			q->nout = 1 + rnd(3);
			q->nin = rnd(4);
			q->next = -1;
			for (unsigned k = 0; k < 3; k++)
				memcpy(drv_map + OFF_DATA + i * SLOT + 8 * k, &q->seq, 8);
			memset(drv_map + OFF_DATA + i * SLOT + 32, 0, 24);
			if (fifo_tail >= 0)
				reqs[fifo_tail].next = i;
			else
				fifo_head = i;
			fifo_tail = i;
			progress = true;
		}
		/* Driver: move FIFO requests onto the ring while they fit. */
		bool added = false;
		while (fifo_head >= 0) {
			int i = fifo_head;
			struct req *q = &reqs[i];
			struct vq_drv_sg sg[6];
			unsigned n = 0;
			for (unsigned k = 0; k < q->nout; k++)
				sg[n++] =
				    (struct vq_drv_sg){gpa_of(OFF_DATA + i * SLOT + 8 * k), 8};
			for (unsigned k = 0; k < q->nin; k++)
				sg[n++] =
				    (struct vq_drv_sg){gpa_of(OFF_DATA + i * SLOT + 32 + 8 * k), 8};
			int ret = vq_drv_add(drv, sg, q->nout, q->nin, q);
			if (ret == -ENOSPC)
				break;
			CHECK_EQ(ret, 0);
			fifo_head = q->next;
			if (fifo_head < 0)
				fifo_tail = -1;
			added = true;
		}
		if (added && vq_drv_kick_prepare(drv)) {
			kick_pending = true;
			kicks++;
		}

		/* Device: wakes on a kick; works until empty and re-armed. */
		if (kick_pending) {
			kick_pending = false;
			dev_awake = true;
		}
		if (dev_awake || nheld) {
			unsigned budget = 1 + rnd(NUM);
			struct iovec iov[INDIR_MAX + 8];
			struct vq_dev_elem e;
			bool empty = false;
			vq_dev_disable_kicks(dev);
			while (budget-- && nheld < num) {
				int ret = vq_dev_pop(dev, &e, iov, INDIR_MAX + 8);
				CHECK(ret >= 0);
				if (ret == 0) {
					empty = true;
					break;
				}
				uint64_t v;
				/* FIFO: requests reach the device in submission order. */
				CHECK_EQ(e.out_len % 8, 0);
				for (unsigned k = 0; k < e.out_num; k++) {
					CHECK_EQ(iov[k].iov_len, 8);
					memcpy(&v, iov[k].iov_base, 8);
					CHECK_EQ(v, pop_seq);
				}
				v = ~pop_seq;
				for (unsigned k = 0; k < e.in_num; k++)
					memcpy(iov[e.out_num + k].iov_base, &v, 8);
				pop_seq++;
				held[nheld++] = (struct held){e.head, (uint32_t)e.in_len};
				progress = true;
			}
			/* Complete a random subset, in random order. */
			unsigned npush = nheld ? 1 + rnd(nheld) : 0;
			for (unsigned k = 0; k < npush; k++) {
				unsigned j = rnd(nheld);
				vq_dev_push(dev, held[j].head, held[j].len);
				held[j] = held[--nheld];
			}
			if (npush && vq_dev_need_notify(dev)) {
				irq_pending = true;
				irqs++;
			}
			if (!nheld && empty && !vq_dev_enable_kicks(dev))
				dev_awake = false;
		}

		/* Driver: reaps only on an interrupt, Linux-style. */
		if (irq_pending) {
			irq_pending = false;
			do {
				void *cookie;
				uint32_t len;
				int ret;
				vq_drv_disable_cb(drv);
				while ((ret = vq_drv_get_buf(drv, &cookie, &len)) == 1) {
					struct req *q = cookie;
					int i = (int)(q - reqs);
					CHECK(i >= 0 && i < NREQ);
					CHECK_EQ(len, 8 * q->nin);
					for (unsigned k = 0; k < q->nin; k++) {
						uint64_t v;
						memcpy(&v,
						       drv_map + OFF_DATA + i * SLOT + 32 + 8 * k,
						       8);
						CHECK_EQ(v, ~q->seq);
					}
					q->next = free_head;
					free_head = i;
					done++;
					progress = true;
				}
				CHECK_EQ(ret, 0);
			} while (!vq_drv_enable_cb(drv));
		}

		if (progress) {
			idle = 0;
		} else if (++idle > 1000) {
			fprintf(stderr,
				"stalled: done %" PRIu64 " popped %" PRIu64
				" inflight %u held %u (lost kick or interrupt)\n",
				done, pop_seq, vq_drv_inflight(drv), nheld);
			return 1;
		}
	}
	CHECK_EQ(pop_seq, TOTAL);
	CHECK_EQ(vq_drv_inflight(drv), 0);
	CHECK_EQ(dev->inflight, 0);
	if (packed) {
		/* Nothing in flight: the used half of the base has caught up with avail. */
		uint32_t base = vq_dev_get_base(dev);
		CHECK_EQ(VQ_PACKED_BASE_AVAIL_POS(base), VQ_PACKED_BASE_USED_POS(base));
		CHECK_EQ(VQ_PACKED_BASE_AVAIL_WRAP(base), VQ_PACKED_BASE_USED_WRAP(base));
		CHECK_EQ(VQ_PACKED_BASE_AVAIL_POS(base), drv->packed_ring.next_avail);
	} else {
		CHECK_EQ(vq_dev_get_base(dev), (uint16_t)TOTAL);
	}
	CHECK_EQ(drv->num_free, num);
	printf("%s num=%u indirect=%d event_idx=%d: %u requests, %" PRIu64 " kicks, %" PRIu64
	       " interrupts\n",
	       packed ? "packed" : "split", num, indirect, event_idx, TOTAL, kicks, irqs);
	vq_dev_fini(dev);
	return 0;
}
