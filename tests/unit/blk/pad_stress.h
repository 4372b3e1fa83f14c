/* SPDX-License-Identifier: MIT */
/*
 * Lost-update stress shared by the strict-backend and O_DIRECT tests: NQ
 * queues, each driven by its own thread with its own backend queue, write
 * distinct 512-byte sectors that share 4 KiB backend blocks (sector s belongs
 * to thread s % NQ), all of a thread's writes in flight together, for ROUNDS
 * rounds; then every sector must hold its owner's last pattern.
 */
#ifndef VBLK_TESTS_PAD_STRESS_H
#define VBLK_TESTS_PAD_STRESS_H

#include <poll.h>
#include <pthread.h>

#include "blk_test.h"

#define PS_NQ	   4
#define PS_SECTORS 512 /* 256 KiB: 64 backend blocks, each shared by all threads */
#define PS_ROUNDS  40
#define PS_MINE	   (PS_SECTORS / PS_NQ)

struct ps_thread {
	pthread_t tid;
	unsigned id;
	struct blk_queue *q;
	struct t_req t[PS_MINE];
	uint8_t *buf; /* PS_MINE * 1024: 512 bytes at a misaligned offset per request */
	int err;
};

static inline uint8_t ps_byte(unsigned sector, unsigned round, unsigned i)
{
	return (uint8_t)(sector * 7 + round * 31 + i + 1);
}

static void *ps_run(void *arg)
{
	struct ps_thread *th = arg;

	for (unsigned r = 0; r < PS_ROUNDS; r++) {
		for (unsigned k = 0; k < PS_MINE; k++) {
			unsigned sector = k * PS_NQ + th->id;
			struct t_req *t = &th->t[k];
			/* Odd requests use a buffer misaligned in memory (8 bytes off). */
			uint8_t *b = th->buf + (size_t)k * 1024 + (k % 2 ? 8 : 0);

			for (unsigned i = 0; i < 512; i++)
				b[i] = ps_byte(sector, r, i);
			t_hdr(t, VIRTIO_BLK_T_OUT, sector);
			t->iov[0] = (struct iovec){&t->hdr, 16};
			t->iov[1] = (struct iovec){b, 512};
			t->iov[2] = (struct iovec){&t->status, 1};
			t->req.iov = t->iov;
			t->req.out_num = 2;
			t->req.in_num = 1;
			if (!blk_req_submit(th->q, &t->req))
				th->err = 1;
		}
		blk_queue_kick(th->q);
		for (unsigned idle = 0; blk_queue_inflight(th->q) > 0;) {
			struct pollfd pfd = {.fd = blk_queue_fd(th->q), .events = POLLIN};

			if (pfd.fd >= 0 && poll(&pfd, 1, 100) == 0 && ++idle > 100) {
				th->err = 2; /* 10 s without progress: a lost wake-up */
				return NULL;
			}
			blk_queue_process(th->q);
		}
		for (unsigned k = 0; k < PS_MINE; k++)
			if (th->t[k].ndone != 1 || th->t[k].status != VIRTIO_BLK_S_OK)
				th->err = 3;
	}
	return NULL;
}

/* Run the stress on d (set up by the caller with >= PS_NQ queues allowed). */
static inline void ps_stress(struct blk_dev *d)
{
	static struct ps_thread th[PS_NQ];

	for (unsigned i = 0; i < PS_NQ; i++) {
		memset(&th[i], 0, sizeof(th[i]));
		th[i].id = i;
		th[i].buf = aligned_alloc(4096, PS_MINE * 1024);
		CHECK(th[i].buf);
		CHECK_EQ(blk_queue_create(d, 64, t_done, NULL, &th[i].q), 0);
	}
	for (unsigned i = 0; i < PS_NQ; i++)
		CHECK_EQ(pthread_create(&th[i].tid, NULL, ps_run, &th[i]), 0);
	for (unsigned i = 0; i < PS_NQ; i++) {
		pthread_join(th[i].tid, NULL);
		CHECK_EQ(th[i].err, 0);
		blk_queue_destroy(th[i].q);
		free(th[i].buf);
	}
}

/* Check the device's first PS_SECTORS sectors, as read into buf. */
static inline void ps_verify(const uint8_t *buf)
{
	for (unsigned s = 0; s < PS_SECTORS; s++)
		for (unsigned i = 0; i < 512; i++)
			if (buf[s * 512 + i] != ps_byte(s, PS_ROUNDS - 1, i)) {
				fprintf(stderr, "sector %u byte %u: lost update\n", s, i);
				exit(1);
			}
}

#endif
