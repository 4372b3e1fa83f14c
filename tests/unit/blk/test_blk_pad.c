/* SPDX-License-Identifier: MIT */
/*
 * The padding stage over a backend that, like O_DIRECT, needs 4096-aligned
 * offsets and lengths and 512-aligned buffers: with a 512-byte logical block
 * (and with a range start inside a 4 KiB block), random unaligned reads and
 * writes, guest buffers misaligned in memory and split into odd iovecs, and
 * requests far larger than the bounce pool all succeed and match a model;
 * the backend never sees a misaligned I/O.
 */
#include "sbe.h"

#define DEV_SIZE (8u << 20)
#define MAX_LEN	 (1u << 20) /* 4x the bounce pool */

static uint8_t model[DEV_SIZE];
static uint8_t *wbuf, *rbuf;

/* Submit [hdr][data split into pieces at odd places][status]. */
static uint8_t rw(struct blk_queue *q, uint32_t type, uint64_t sector, uint8_t *buf, size_t len,
		  unsigned pieces)
{
	static struct iovec iov[16];
	struct t_req t;
	unsigned n = 0;
	size_t off = 0;

	t_hdr(&t, type, sector);
	iov[n++] = (struct iovec){&t.hdr, 16};
	for (unsigned i = 0; i < pieces; i++) {
		size_t part = i + 1 == pieces ? len - off : (len - off) / 3 + 1;

		iov[n++] = (struct iovec){buf + off, part};
		off += part;
	}
	iov[n++] = (struct iovec){&t.status, 1};
	t.req.iov = iov;
	t.req.out_num = type == VIRTIO_BLK_T_OUT ? n - 1 : 1;
	t.req.in_num = type == VIRTIO_BLK_T_OUT ? 1 : n - 1;
	CHECK(blk_req_submit(q, &t.req));
	t_run(q);
	CHECK_EQ(t.ndone, 1);
	return t.status;
}

static void run(uint64_t range_start, unsigned seed)
{
	struct sbe s;
	struct blk_dev d;
	struct blk_dev_opts o = {.num_queues = 1,
				 .queue_size = 128,
				 .logical_block_size = 512,
				 .range_start = range_start};
	struct blk_queue *q;
	uint64_t cap;

	srand(seed);
	sbe_init(&s, DEV_SIZE + 8192, 4096, 512);
	CHECK_EQ(blk_dev_init(&d, &s.base, &o), 0);
	CHECK(d.pad && d.rmw);
	CHECK_EQ(d.blk_size, 512);
	CHECK_EQ(d.phys_block_size, 4096); /* the backend's alignment, told to the guest */
	blk_dev_set_features(&d, d.features);
	CHECK_EQ(blk_queue_create(&d, 64, t_done, NULL, &q), 0);
	CHECK(blk_queue_fd(q) >= 0); /* the wake fd of the range lock */
	cap = d.capacity;
	CHECK(cap * 512 <= DEV_SIZE + 8192 - range_start);
	memset(model, 0, sizeof(model));

	for (unsigned i = 0; i < 600; i++) {
		uint64_t n = (uint64_t)(rand() % 24) + 1, sector;
		unsigned mis = (unsigned)(rand() % 4) * 512 + (rand() % 2 ? 4096 : 0);
		unsigned pieces = (unsigned)(rand() % 4) + 1;

		if (i % 50 == 7)
			n = MAX_LEN / 512 - (uint64_t)(rand() % 3); /* bigger than the pool */
		sector = (uint64_t)rand() % (DEV_SIZE / 512 - n);
		if (rand() % 2) {
			t_fill(wbuf + mis, n * 512, i);
			CHECK_EQ(rw(q, VIRTIO_BLK_T_OUT, sector, wbuf + mis, n * 512, pieces),
				 VIRTIO_BLK_S_OK);
			memcpy(model + sector * 512, wbuf + mis, n * 512);
		} else {
			memset(rbuf, 0xee, MAX_LEN + 8192);
			CHECK_EQ(rw(q, VIRTIO_BLK_T_IN, sector, rbuf + mis, n * 512, pieces),
				 VIRTIO_BLK_S_OK);
			CHECK(memcmp(rbuf + mis, model + sector * 512, n * 512) == 0);
		}
	}
	/* The backend holds exactly the model, shifted by range_start; nothing before it changed.
	 */
	CHECK(memcmp(s.mem + range_start, model, DEV_SIZE - 8192) == 0);
	for (uint64_t b = 0; b < range_start; b++)
		CHECK_EQ(s.mem[b], 0);
	CHECK_EQ(atomic_load(&s.bad), 0);
	CHECK_EQ(blk_queue_inflight(q), 0);
	blk_queue_destroy(q);
	blk_dev_fini(&d);
	free(s.mem);
}

int main(void)
{
	wbuf = aligned_alloc(4096, MAX_LEN + 8192);
	rbuf = aligned_alloc(4096, MAX_LEN + 8192);
	CHECK(wbuf && rbuf);
	run(0, 1);
	run(3 * 512, 2); /* range start inside a backend block: even aligned requests pad */
	free(wbuf);
	free(rbuf);
	return 0;
}
