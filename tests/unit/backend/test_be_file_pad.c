/* SPDX-License-Identifier: MIT */
/*
 * O_DIRECT padding on a real file (/var/tmp): a 512-byte logical block over
 * O_DIRECT (alignment 512 or 4096): unaligned 512-byte writes, guest buffers
 * misaligned in memory, and a request bigger than the bounce pool, all read
 * back correctly through the device and through a buffered read of the file.
 * Run with the file system's alignment and again with 4096 forced (a valid,
 * coarser alignment), so the read-modify-write path runs on any disk.
 * Skipped where O_DIRECT is refused.
 */
#include "be_test.h"

#define FSIZE (4u << 20)
#define BIG   (1u << 20)

static void run(bool force4k)
{
	struct be_opts bo = {.size = FSIZE, .direct = true};
	struct blk_dev_opts o = {.num_queues = 1, .queue_size = 128, .logical_block_size = 512};
	static uint8_t model[FSIZE];
	struct blk_dev d;
	struct blk_queue *q;
	struct be *be;
	struct t_req t;
	char path[256];
	uint8_t *w, *r;
	int ret, fd;

	t_tmpfile("/var/tmp", path, sizeof(path));
	ret = be_open(path, &bo, &be);
	if (ret == -EINVAL || ret == -EOPNOTSUPP) {
		unlink(path);
		SKIP("O_DIRECT refused on /var/tmp");
	}
	CHECK_EQ(ret, 0);
	if (force4k)
		be->info.align = 4096;
	memset(model, 0, sizeof(model));
	q = t_setup(&d, be, &o);
	CHECK(d.pad);
	CHECK_EQ(d.rmw, be->info.align > 512);
	CHECK(posix_memalign((void **)&w, 4096, BIG + 8192) == 0);
	CHECK(posix_memalign((void **)&r, 4096, BIG + 8192) == 0);

	/* Single sectors at every position in a 4 KiB block, aligned and misaligned buffers. */
	for (unsigned s = 0; s < 24; s++) {
		uint8_t *b = w + (s % 3) * 7;

		t_fill(b, 512, s);
		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 100 + s * 3, b, 512, NULL, 0),
			 VIRTIO_BLK_S_OK);
		memcpy(model + (100 + s * 3) * 512, b, 512);
	}
	/* Bigger than the bounce pool (256 KiB), unaligned at both ends, misaligned buffer. */
	t_fill(w + 3, BIG - 1024, 77);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 1001, w + 3, BIG - 1024, NULL, 0), VIRTIO_BLK_S_OK);
	memcpy(model + 1001 * 512, w + 3, BIG - 1024);
	/* Reads: unaligned, misaligned, big. */
	memset(r, 0xee, BIG + 8192);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 99, NULL, 0, r + 5, 80 * 512), VIRTIO_BLK_S_OK);
	CHECK(memcmp(r + 5, model + 99 * 512, 80 * 512) == 0);
	CHECK_EQ(t.used, 80 * 512 + 1);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 999, NULL, 0, r + 1, BIG), VIRTIO_BLK_S_OK);
	CHECK(memcmp(r + 1, model + 999 * 512, BIG) == 0);

	/* The file itself, read without O_DIRECT. */
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	for (uint64_t off = 0; off < FSIZE; off += BIG) {
		CHECK_EQ(pread(fd, r, BIG, (off_t)off), BIG);
		CHECK(memcmp(r, model + off, BIG) == 0);
	}
	close(fd);
	free(w);
	free(r);
	blk_queue_destroy(q);
	blk_dev_fini(&d);
	be_close(be);
	unlink(path);
}

int main(void)
{
	run(false);
	run(true);
	return 0;
}
