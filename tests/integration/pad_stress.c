/* SPDX-License-Identifier: MIT */
/*
 * pad_stress SOCKET ROUNDS: the issue-4 concurrency stress through the real
 * daemon. vblkd serves 512-byte logical sectors from a backend whose O_DIRECT
 * alignment is 4096 (a 4K-sector loop device), so every write here is a
 * read-modify-write of a 4 KiB block that three other queues are rewriting
 * at the same moment: thread t owns the sectors s with s % 4 == t of the
 * first NSECT sectors and keeps DEPTH writes in flight. Without the range
 * lock some updates would be lost; every sector is verified at the end
 * (through the device here, and on the loop device by the calling script).
 * Sector s of round r holds the byte (s * 7 + r) & 0xff, with s in its first
 * 8 bytes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vblk/vblk.h>

#define NQ 4
#define NSECT 4096 /* 2 MiB */
#define DEPTH 16

static struct vblk *dev;
static unsigned rounds;
static int failed;

static void fill(uint8_t *p, uint64_t s, unsigned r)
{
	memset(p, (int)((s * 7 + r) & 0xff), 512);
	memcpy(p, &s, sizeof(s));
}

static void *worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	struct vblk_queue *q = vblk_get_queue(dev, t);
	uint8_t *bufs = vblk_buf_alloc(dev, DEPTH * 512);
	struct vblk_completion c[DEPTH];
	unsigned free_slots[DEPTH], nfree = DEPTH;

	if (!q || !bufs) {
		fprintf(stderr, "queue %u: no queue or buffers\n", t);
		failed = 1;
		return NULL;
	}
	for (unsigned i = 0; i < DEPTH; i++)
		free_slots[i] = i;
	for (unsigned r = 1; r <= rounds; r++) {
		for (uint64_t s = t; s < NSECT; s += NQ) {
			while (nfree == 0) {
				int n = vblk_queue_wait(q, c, DEPTH, 10000);
				if (n <= 0) {
					fprintf(stderr, "queue %u: wait: %d\n", t, n);
					failed = 1;
					return NULL;
				}
				for (int i = 0; i < n; i++) {
					if (c[i].ret) {
						fprintf(stderr, "queue %u: write failed: %d\n", t, c[i].ret);
						failed = 1;
					}
					free_slots[nfree++] = (unsigned)(uintptr_t)c[i].user_data;
				}
			}
			unsigned slot = free_slots[--nfree];
			fill(bufs + slot * 512, s, r);
			int ret = vblk_queue_write(q, s * 512, bufs + slot * 512, 512,
						   (void *)(uintptr_t)slot);
			if (ret) {
				fprintf(stderr, "queue %u: submit: %d\n", t, ret);
				failed = 1;
				return NULL;
			}
		}
	}
	while (vblk_queue_pending(q)) {
		int n = vblk_queue_wait(q, c, DEPTH, 10000);
		if (n <= 0) {
			failed = 1;
			return NULL;
		}
		for (int i = 0; i < n; i++)
			if (c[i].ret)
				failed = 1;
	}
	vblk_buf_free(dev, bufs);
	return NULL;
}

int main(int argc, char **argv)
{
	struct vblk_options o = {.num_queues = NQ, .queue_size = 64};
	pthread_t th[NQ];
	uint8_t *all, want[512];
	unsigned bad = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: pad_stress SOCKET ROUNDS\n");
		return 2;
	}
	rounds = (unsigned)atoi(argv[2]);
	if (vblk_open(argv[1], &o, &dev)) {
		fprintf(stderr, "pad_stress: %s\n", vblk_get_error());
		return 1;
	}
	for (unsigned t = 0; t < NQ; t++)
		pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t);
	for (unsigned t = 0; t < NQ; t++)
		pthread_join(th[t], NULL);
	all = malloc(NSECT * 512);
	if (!all || vblk_read(vblk_get_queue(dev, 0), 0, all, NSECT * 512)) {
		fprintf(stderr, "pad_stress: read back failed\n");
		return 1;
	}
	for (uint64_t s = 0; s < NSECT; s++) {
		fill(want, s, rounds);
		if (memcmp(all + s * 512, want, 512) != 0 && bad++ < 5)
			fprintf(stderr, "sector %llu: lost update\n", (unsigned long long)s);
	}
	vblk_close(dev);
	free(all);
	if (bad || failed) {
		fprintf(stderr, "pad_stress: %u sectors wrong, failed=%d\n", bad, failed);
		return 1;
	}
	printf("pad_stress: %u sectors x %u rounds from %u queues: all updates present\n", NSECT,
	       rounds, NQ);
	return 0;
}
