/* SPDX-License-Identifier: MIT */
/*
 * Every request type through vblkd to an RBD image, driven by libvblk on
 * the device at VBLK_SOCK (a fresh, zeroed image of VBLK_SIZE bytes):
 * multi-segment writes and reads with segment boundaries and buffer
 * addresses off any alignment, write-zeroes with and without UNMAP,
 * discard of a whole object (RBD removes it: reads back zeroes), flush,
 * and many requests in flight on two queues at once. Each read is compared
 * with a model of the disk, and the model is written to the file argv[1]
 * for the caller to compare with `rbd export`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <vblk/vblk.h>

#include "test.h"

#define MIB (1024 * 1024)

static unsigned char *model;
static uint64_t dev_size;

static void fill(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 9)) ^ seed);
}

/* Read [off, off + len) (at most 1 MiB) through three uneven segments and compare. */
static void check_chunk(struct vblk *dev, struct vblk_queue *q, uint64_t off, size_t len)
{
	unsigned char *buf = vblk_buf_alloc(dev, len + 64);
	size_t a = len / 3 + 3, b = len / 5 + 1;
	struct iovec iov[3] = {
	    {buf + 3, a}, {buf + 3 + a + 17, b}, {buf + 3 + a + 17 + b + 5, len - a - b}};
	unsigned char *flat = malloc(len);

	CHECK(buf && flat);
	memset(buf, 0xee, len + 64);
	CHECK_EQ(vblk_queue_readv(q, off, iov, 3, NULL), 0);
	struct vblk_completion c;
	CHECK_EQ(vblk_queue_wait(q, &c, 1, -1), 1);
	CHECK_EQ(c.ret, 0);
	memcpy(flat, iov[0].iov_base, a);
	memcpy(flat + a, iov[1].iov_base, b);
	memcpy(flat + a + b, iov[2].iov_base, len - a - b);
	if (memcmp(flat, model + off, len)) {
		fprintf(stderr, "FAIL: bytes at %llu+%zu differ from what was written\n",
			(unsigned long long)off, len);
		exit(1);
	}
	free(flat);
	vblk_buf_free(dev, buf);
}

/* check_chunk() over a range of any length, 1 MiB at a time. */
static void check_range(struct vblk *dev, struct vblk_queue *q, uint64_t off, size_t len)
{
	for (size_t done = 0; done < len; done += MIB)
		check_chunk(dev, q, off + done, len - done < MIB ? len - done : MIB);
}

/* A write of len bytes at off from three unaligned segments; updates the model. */
static void write_segments(struct vblk *dev, struct vblk_queue *q, uint64_t off, size_t len,
			   unsigned seed)
{
	unsigned char *buf = vblk_buf_alloc(dev, len + 64);
	size_t a = 700, b = len - 700 - 1300;
	struct iovec iov[3] = {{buf + 1, a}, {buf + 1 + a + 9, b}, {buf + 1 + a + 9 + b + 3, 1300}};
	struct vblk_completion c;

	CHECK(buf && len > 2000);
	fill(model + off, len, seed);
	memcpy(iov[0].iov_base, model + off, a);
	memcpy(iov[1].iov_base, model + off + a, b);
	memcpy(iov[2].iov_base, model + off + a + b, 1300);
	CHECK_EQ(vblk_queue_writev(q, off, iov, 3, NULL), 0);
	CHECK_EQ(vblk_queue_wait(q, &c, 1, -1), 1);
	CHECK_EQ(c.ret, 0);
	vblk_buf_free(dev, buf);
}

/* 64 writes of 64 KiB in flight at once on q, then checked. */
static void deep_writes(struct vblk *dev, struct vblk_queue *q, uint64_t base, unsigned seed)
{
	enum { N = 64, SZ = 65536 };
	unsigned char *buf = vblk_buf_alloc(dev, (size_t)N * SZ);
	struct vblk_completion c[N];
	unsigned got = 0;

	CHECK(buf);
	for (unsigned i = 0; i < N; i++) {
		fill(model + base + (uint64_t)i * SZ, SZ, seed + i);
		memcpy(buf + (size_t)i * SZ, model + base + (uint64_t)i * SZ, SZ);
		CHECK_EQ(
		    vblk_queue_write(q, base + (uint64_t)i * SZ, buf + (size_t)i * SZ, SZ, NULL),
		    0);
	}
	while (got < N) {
		int n = vblk_queue_wait(q, c, N, -1);

		CHECK(n > 0);
		for (int i = 0; i < n; i++)
			CHECK_EQ(c[i].ret, 0);
		got += (unsigned)n;
	}
	vblk_buf_free(dev, buf);
}

int main(int argc, char **argv)
{
	struct vblk_options o = {.num_queues = 2};
	struct vblk *dev;
	struct vblk_info info;
	struct vblk_queue *q0, *q1;
	FILE *f;

	if (argc != 2)
		SKIP("usage: rbd_ops MODEL_FILE");
	if (vblk_open(getenv("VBLK_SOCK"), &o, &dev)) {
		fprintf(stderr, "FAIL: vblk_open: %s\n", vblk_get_error());
		return 1;
	}
	CHECK_EQ(vblk_get_info(dev, &info), 0);
	dev_size = info.capacity;
	CHECK(dev_size >= 16 * MIB);
	model = calloc(1, dev_size);
	CHECK(model);
	q0 = vblk_get_queue(dev, 0);
	q1 = vblk_get_queue(dev, 1);

	/* The image starts zeroed (thin). */
	check_range(dev, q0, 0, 1 * MIB);
	/* Multi-segment, unaligned buffers, crossing the 4 MiB object boundary. */
	write_segments(dev, q0, 4 * MIB - 8192, 16384, 1);
	write_segments(dev, q1, 512, 100 * 1024, 2);
	check_range(dev, q1, 4 * MIB - 16384, 32768);
	check_range(dev, q0, 0, 200 * 1024);
	/* Many in flight on both queues. */
	deep_writes(dev, q0, 8 * MIB, 10);
	deep_writes(dev, q1, 12 * MIB, 20);
	check_range(dev, q0, 8 * MIB, 8 * MIB);

	/* Write zeroes (the UNMAP hint and without), inside and across objects. */
	CHECK_EQ(vblk_write_zeroes(q0, 8 * MIB + 4096, 65536, 0), 0);
	memset(model + 8 * MIB + 4096, 0, 65536);
	CHECK_EQ(vblk_write_zeroes(q1, 12 * MIB - 512, 1024 * 1024, VBLK_WRITE_ZEROES_UNMAP), 0);
	memset(model + 12 * MIB - 512, 0, 1024 * 1024);
	check_range(dev, q0, 8 * MIB, 8 * MIB);

	/* Discard of a whole object: RBD deletes it, so it reads back zeroes. */
	CHECK_EQ(vblk_discard(q0, 8 * MIB, 4 * MIB), 0);
	memset(model + 8 * MIB, 0, 4 * MIB);
	check_range(dev, q1, 8 * MIB, 4 * MIB + 4096);

	CHECK_EQ(vblk_flush(q0), 0);
	CHECK_EQ(vblk_flush(q1), 0);
	vblk_close(dev);

	f = fopen(argv[1], "wb");
	CHECK(f && fwrite(model, 1, dev_size, f) == dev_size && fclose(f) == 0);
	free(model);
	printf("rbd: read, write, write-zeroes, discard, flush on 2 queues: bytes as written\n");
	return 0;
}
