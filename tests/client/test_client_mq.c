/* SPDX-License-Identifier: MIT */
/*
 * libvblk against a real back end: several queues driven from their own
 * threads at once, each keeping more requests outstanding than its ring
 * holds (the FIFO path), writing its own region and reading it back; the
 * image file is then checked directly. Environment from run_c.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <vblk/vblk.h>

#include "test.h"

#define NQ	    4
#define QSIZE	    16 /* small ring: most requests wait in the FIFO */
#define BS	    4096
#define PER_QUEUE   2048 /* requests per queue and pass */
#define OUTSTANDING 200	 /* more than the library takes: -EAGAIN means "reap first" */

static struct vblk *dev;
static uint64_t region; /* bytes per queue */

static void fill(uint8_t *p, unsigned q, uint64_t blk)
{
	for (unsigned i = 0; i < BS; i += 8) {
		uint64_t v = ((uint64_t)q << 56) ^ (blk << 16) ^ i;
		memcpy(p + i, &v, 8);
	}
}

struct worker {
	unsigned q;
	int failed;
};

/* Keep as many requests in flight as the queue takes; -EAGAIN means reap first. */
static void *worker(void *arg)
{
	struct worker *w = arg;
	struct vblk_queue *q = vblk_get_queue(dev, w->q);
	uint8_t *bufs = vblk_buf_alloc(dev, (size_t)OUTSTANDING * BS);
	struct vblk_completion c[32];
	uint64_t base = w->q * region;

	if (!q || !bufs) {
		w->failed = 1;
		return NULL;
	}
	for (int pass = 0; pass < 2 && !w->failed; pass++) {
		unsigned next = 0, done = 0, max_pending = 0;
		int free_slots[OUTSTANDING], nfree = OUTSTANDING;
		for (int i = 0; i < OUTSTANDING; i++)
			free_slots[i] = i;
		while (done < PER_QUEUE) {
			while (next < PER_QUEUE && nfree) {
				int s = free_slots[nfree - 1];
				uint8_t *p = bufs + (size_t)s * BS;
				uint64_t off = base + (uint64_t)next * BS;
				/* user_data: slot in the low bits, block number above */
				void *ud =
				    (void *)(uintptr_t)(((uint64_t)next << 16) | (unsigned)s);
				int ret;
				if (pass == 0) {
					fill(p, w->q, next);
					ret = vblk_queue_write(q, off, p, BS, ud);
				} else {
					memset(p, 0, BS);
					ret = vblk_queue_read(q, off, p, BS, ud);
				}
				if (ret == -EAGAIN)
					break;
				if (ret) {
					fprintf(stderr, "queue %u: submit: %d\n", w->q, ret);
					w->failed = 1;
					return NULL;
				}
				nfree--;
				next++;
				if (vblk_queue_pending(q) > max_pending)
					max_pending = vblk_queue_pending(q);
			}
			int n = vblk_queue_wait(q, c, 32, 5000);
			if (n <= 0) {
				fprintf(stderr, "queue %u: wait: %d\n", w->q, n);
				w->failed = 1;
				return NULL;
			}
			for (int i = 0; i < n; i++) {
				uint64_t ud = (uintptr_t)c[i].user_data;
				int s = (int)(ud & 0xffff);
				if (c[i].ret) {
					fprintf(stderr, "queue %u: request failed: %d\n", w->q,
						c[i].ret);
					w->failed = 1;
				}
				if (pass == 1) {
					uint8_t want[BS];
					fill(want, w->q, ud >> 16);
					if (memcmp(want, bufs + (size_t)s * BS, BS)) {
						fprintf(stderr, "queue %u: block %llu differs\n",
							w->q, (unsigned long long)(ud >> 16));
						w->failed = 1;
					}
				}
				free_slots[nfree++] = s;
				done++;
			}
		}
		/* The FIFO must have been used: more pending than ring slots. */
		if (max_pending <= QSIZE) {
			fprintf(stderr, "queue %u: only %u pending\n", w->q, max_pending);
			w->failed = 1;
		}
	}
	vblk_buf_free(dev, bufs);
	return NULL;
}

int main(void)
{
	const char *sock = getenv("VBLK_SOCK"), *img = getenv("VBLK_IMG");
	const char *serial = getenv("VBLK_SERIAL");
	struct vblk_options o = {.num_queues = NQ, .queue_size = QSIZE};
	struct vblk_info info;
	struct worker w[NQ];
	pthread_t t[NQ];
	char id[VBLK_ID_BYTES + 1];
	int ret;

	if (!sock || !img)
		SKIP("run through run_c.sh");
	/* Direct descriptors only: 3 per request, so the ring holds 5 and the FIFO works hard. */
	if (getenv("VBLK_TEST_DIRECT"))
		o.disable_features = (1ull << 28) | (1ull << 29); /* INDIRECT_DESC, EVENT_IDX */
	/* The same workload on a packed ring (virtio 1.3 §2.8). */
	if (getenv("VBLK_TEST_PACKED"))
		o.flags |= VBLK_OPEN_PACKED_RING;
	ret = vblk_open(sock, &o, &dev);
	if (ret)
		fprintf(stderr, "vblk_open: %s\n", vblk_get_error());
	CHECK_EQ(ret, 0);
	CHECK_EQ(vblk_get_info(dev, &info), 0);
	CHECK_EQ(info.num_queues, NQ);
	CHECK_EQ(!!(info.features & (1ull << 34)), !!getenv("VBLK_TEST_PACKED"));
	CHECK(info.capacity >= (uint64_t)NQ * PER_QUEUE * BS);
	region = info.capacity / NQ;

	for (unsigned i = 0; i < NQ; i++) {
		w[i] = (struct worker){.q = i};
		CHECK_EQ(pthread_create(&t[i], NULL, worker, &w[i]), 0);
	}
	for (unsigned i = 0; i < NQ; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(w[i].failed, 0);
	}

	/* Synchronous helpers, GET_ID, flush. */
	struct vblk_queue *q0 = vblk_get_queue(dev, 0);
	CHECK(vblk_get_queue(dev, NQ) == NULL);
	CHECK_EQ(vblk_get_id(q0, id), 0);
	if (serial && *serial)
		CHECK(strcmp(id, serial) == 0);
	CHECK_EQ(vblk_flush(q0), 0);
	uint8_t plain[3 * BS], back[3 * BS];
	for (unsigned i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i * 7 + 1);
	CHECK_EQ(vblk_write(q0, 8 * BS, plain, sizeof(plain)), 0); /* bounced */
	CHECK_EQ(vblk_read(q0, 8 * BS, back, sizeof(back)), 0);
	CHECK(memcmp(plain, back, sizeof(plain)) == 0);
	CHECK_EQ(vblk_read(q0, 1, back, 512), -EINVAL);
	CHECK_EQ(vblk_read(q0, info.capacity, back, 512), -ERANGE);
	CHECK_EQ(vblk_queue_read(q0, 0, back, 512, NULL), -EFAULT);
	if (info.features & (1ull << 14)) { /* VIRTIO_BLK_F_WRITE_ZEROES */
		CHECK_EQ(vblk_write_zeroes(q0, 8 * BS, BS, 0), 0);
		CHECK_EQ(vblk_read(q0, 8 * BS, back, BS), 0);
		for (unsigned i = 0; i < BS; i++)
			CHECK_EQ(back[i], 0);
	}
	vblk_close(dev);

	/* The image holds what the queues wrote (first block of each region checked fully). */
	int fd = open(img, O_RDONLY);
	CHECK(fd >= 0);
	for (unsigned qi = 0; qi < NQ; qi++) {
		for (uint64_t b = 0; b < PER_QUEUE; b += 97) {
			uint8_t want[BS], got[BS];
			if (qi == 0 && b >= 8 && b < 11)
				continue; /* overwritten by the sync test */
			fill(want, qi, b);
			CHECK_EQ(pread(fd, got, BS, (off_t)(qi * region + b * BS)), BS);
			CHECK(memcmp(want, got, BS) == 0);
		}
	}
	close(fd);
	return 0;
}
