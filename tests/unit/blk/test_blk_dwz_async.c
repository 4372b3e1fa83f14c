/* SPDX-License-Identifier: MIT */
/*
 * A long WRITE_ZEROES does not stall its queue: while 8 segments are being
 * zeroed, a read on the same queue completes; afterwards the segments read
 * back as zeroes and the bytes around them are untouched.
 *
 * "Long" is made certain rather than hoped for: the file system holding the
 * image (or the loop device's backing file) is frozen (FIFREEZE) before the
 * WRITE_ZEROES, so the zeroing cannot finish until the test thaws it. A
 * backend that zeroes synchronously blocks in blk_req_submit(), unkillably:
 * a watchdog thread thaws after 30 s and fails the test. A queue that waits
 * for the zeroing never completes the read.
 *
 * On a block device opened without O_DIRECT, Linux itself holds a buffered
 * read until the zeroing ends (see read_may_wait): there the test checks
 * that the queue thread keeps running meanwhile (file_dwz.c / file_priv.h, bdev_zeroing).
 *
 *   test_blk_dwz_async BACKEND MOUNTPOINT [direct]   (dwz_async.sh sets it up)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "blk_test.h"

#define MIB	   (UINT64_C(1) << 20)
#define NSEG	   BLK_DWZ_MAX_SEG
#define SEG_OFF(i) ((8 + 7 * (uint64_t)(i)) * MIB)
#define SEG_LEN	   (4 * MIB)
#define DEV_SIZE   (64 * MIB)

static int mfd = -1;
static atomic_bool frozen_phase_over;

/* Frozen for 30 s and still not past the read: thaw (else nothing ever returns) and fail. */
static void *watchdog(void *arg)
{
	for (int i = 0; i < 300 && !atomic_load(&frozen_phase_over); i++)
		usleep(100 * 1000);
	if (atomic_load(&frozen_phase_over))
		return NULL;
	ioctl(mfd, FITHAW, 0);
	fprintf(stderr, "FAIL: WRITE_ZEROES blocked the queue thread for 30 s\n");
	_exit(1);
}

static uint8_t byte_at(uint64_t off)
{
	return (uint8_t)(off / 4096 * 13 + 1);
}

/* Submit [hdr][buf][status] at sector 0 (buf readable iff out_num == 2) without waiting. */
static void start(struct blk_queue *q, struct t_req *t, uint32_t type, void *buf, size_t len,
		  unsigned out_num)
{
	t_hdr(t, type, 0);
	t->iov[0] = (struct iovec){&t->hdr, sizeof(t->hdr)};
	t->iov[1] = (struct iovec){buf, len};
	t->iov[2] = (struct iovec){&t->status, 1};
	t->req.iov = t->iov;
	t->req.out_num = out_num;
	t->req.in_num = 3 - out_num;
	CHECK(blk_req_submit(q, &t->req));
	blk_queue_kick(q);
}

/* Wait on the queue's fd and process until t completes; false after `secs`. */
static bool run_until(struct blk_queue *q, struct t_req *t, int secs, unsigned *iters)
{
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (t->ndone == 0) {
		struct pollfd pfd = {.fd = blk_queue_fd(q), .events = POLLIN};

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > secs)
			return false;
		if (pfd.fd >= 0)
			poll(&pfd, 1, 100);
		blk_queue_process(q);
		(*iters)++;
	}
	return true;
}

int main(int argc, char **argv)
{
	static uint8_t buf[SEG_LEN], zero[SEG_LEN], rd[4096];
	struct virtio_blk_discard_write_zeroes seg[NSEG];
	struct blk_dev_opts o = {.num_queues = 1, .queue_size = 128};
	struct t_req tw, tr, t;
	struct blk_queue *q;
	struct blk_dev d;
	struct be *be;
	struct timespec t0, t1;
	unsigned iters = 0;
	pthread_t wd;
	bool read_may_wait;

	struct be_opts bo = {.direct = argc > 3 && strcmp(argv[3], "direct") == 0};

	if (argc < 3) {
		fprintf(stderr, "usage: %s BACKEND MOUNTPOINT [direct]\n", argv[0]);
		return 1;
	}
	CHECK_EQ(be_open(argv[1], &bo, &be), 0);
	/*
	 * Linux (seen on 6.18) serialises a buffered read of a block device
	 * with its zeroing (the device inode's lock): the read may wait, but in
	 * io-wq, never in the queue thread.
	 */
	read_may_wait = be->info.is_blockdev && !bo.direct;
	CHECK(be->info.size >= DEV_SIZE);
	CHECK(be->info.can_write_zeroes);
	q = t_setup(&d, be, &o);
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));

	for (uint64_t off = 0; off < DEV_SIZE; off += MIB) {
		for (size_t i = 0; i < MIB; i++)
			buf[i] = byte_at(off + i);
		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, off >> 9, buf, MIB, NULL, 0),
			 VIRTIO_BLK_S_OK);
	}

	mfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(mfd >= 0);
	CHECK_EQ(ioctl(mfd, FIFREEZE, 0), 0);
	CHECK_EQ(pthread_create(&wd, NULL, watchdog, NULL), 0);

	for (unsigned i = 0; i < NSEG; i++)
		seg[i] = (struct virtio_blk_discard_write_zeroes){
		    .sector = vblk_cpu_to_le64(SEG_OFF(i) >> 9),
		    .num_sectors = vblk_cpu_to_le32((uint32_t)(SEG_LEN >> 9)),
		};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	start(q, &tw, VIRTIO_BLK_T_WRITE_ZEROES, seg, sizeof(seg), 2);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	/* The same queue still serves a read (of bytes the zeroing does not touch). */
	start(q, &tr, VIRTIO_BLK_T_IN, rd, sizeof(rd), 1);
	if (!run_until(q, &tr, read_may_wait ? 2 : 10, &iters)) {
		if (!read_may_wait) {
			ioctl(mfd, FITHAW, 0);
			fprintf(stderr,
				"FAIL: a read waited behind WRITE_ZEROES on the same queue\n");
			return 1;
		}
		/* The kernel holds the read; the queue thread kept coming back (no watchdog). */
		CHECK(iters >= 2);
	}
	/* Frozen: the zeroing cannot have finished. */
	CHECK_EQ(tw.ndone, 0);
	printf("submit of %u x %llu MiB WRITE_ZEROES took %.3f ms; %u queue iterations while "
	       "zeroing, read %s\n",
	       NSEG, (unsigned long long)(SEG_LEN / MIB),
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
	       iters, tr.ndone ? "done meanwhile" : "held by the kernel (buffered block device)");

	atomic_store(&frozen_phase_over, true);
	CHECK_EQ(pthread_join(wd, NULL), 0);
	CHECK_EQ(ioctl(mfd, FITHAW, 0), 0);
	close(mfd);
	iters = 0;
	CHECK(run_until(q, &tw, 60, &iters));
	CHECK_EQ(tw.status, VIRTIO_BLK_S_OK);
	CHECK(run_until(q, &tr, 10, &iters));
	CHECK_EQ(tr.status, VIRTIO_BLK_S_OK);
	for (size_t i = 0; i < sizeof(rd); i++)
		CHECK_EQ(rd[i], byte_at(i));
	CHECK_EQ(blk_queue_inflight(q), 0);

	/* Zeroes in each segment; the 4 KiB on either side keep their bytes. */
	for (unsigned i = 0; i < NSEG; i++) {
		uint64_t lo = SEG_OFF(i) - 4096, hi = SEG_OFF(i) + SEG_LEN;

		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, SEG_OFF(i) >> 9, NULL, 0, buf, SEG_LEN),
			 VIRTIO_BLK_S_OK);
		CHECK(memcmp(buf, zero, SEG_LEN) == 0);
		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, lo >> 9, NULL, 0, rd, 4096), VIRTIO_BLK_S_OK);
		CHECK_EQ(rd[4095], byte_at(lo));
		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, hi >> 9, NULL, 0, rd, 4096), VIRTIO_BLK_S_OK);
		CHECK_EQ(rd[0], byte_at(hi));
	}

	blk_queue_destroy(q);
	blk_dev_fini(&d);
	be_close(be);
	return 0;
}
