/* SPDX-License-Identifier: MIT */
/*
 * blk_dev_resize (online resize): the capacity follows a file grown
 * underneath (new_size 0) or grows the file itself (new_size > 0); requests
 * are checked against the new capacity at once, and GET_CONFIG reports it
 * (virtio 1.3 §5.2.4). Explicit shrinking, sizes off the logical block,
 * growing a read-only disk and resizing a fixed-size backend are refused;
 * a fixed range keeps its size on a re-read and grows only when asked.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk_test.h"

#define M (1u << 20)

static char path[] = "/tmp/vblk-test-resize.XXXXXX";

static uint64_t file_size(void)
{
	struct stat st;

	CHECK_EQ(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static void set_file_size(uint64_t n)
{
	CHECK_EQ(truncate(path, (off_t)n), 0);
}

static uint64_t config_capacity(const struct blk_dev *d)
{
	struct virtio_blk_config cfg;

	blk_dev_get_config(d, &cfg);
	return vblk_le64_to_cpu(cfg.capacity);
}

/* The last 4 KiB below sector `end` work; the 512 bytes at `end` do not. */
static void check_end(struct blk_queue *q, uint64_t end)
{
	static uint8_t w[4096], r[4096];
	struct t_req t;

	t_fill(w, sizeof(w), (unsigned)end);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, end - 8, w, sizeof(w), NULL, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, end - 8, NULL, 0, r, sizeof(r)), VIRTIO_BLK_S_OK);
	CHECK(memcmp(w, r, sizeof(w)) == 0);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, end, w, 512, NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, end, NULL, 0, r, 512), VIRTIO_BLK_S_IOERR);
}

static struct be *open_file(bool ro)
{
	struct be_opts o = {.path = path, .ro = ro, .nolock = true};
	struct be *be = NULL;

	CHECK_EQ(be_open(path, &o, &be), 0);
	return be;
}

int main(void)
{
	struct blk_dev_opts ro = {.num_queues = 1, .queue_size = 128};
	struct blk_dev_opts rng = {.num_queues = 1, .queue_size = 128};
	struct blk_dev d, dr, dm;
	struct blk_queue *q, *qr;
	struct be *be, *bm;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	set_file_size(M);

	/* A memory disk's size is fixed. */
	bm = t_open("memory:1M");
	blk_queue_destroy(t_setup(&dm, bm, NULL));
	CHECK_EQ(blk_dev_resize(&dm, 0), -EOPNOTSUPP);
	CHECK_EQ(blk_dev_resize(&dm, 2 * M), -EOPNOTSUPP);
	CHECK_EQ(dm.capacity, M / 512);
	be_close(bm);

	be = open_file(false);
	q = t_setup(&d, be, NULL);
	CHECK_EQ(d.capacity, M / 512);
	check_end(q, M / 512);

	/* Grown underneath, then re-read: the new sectors work at once. */
	set_file_size(2 * M);
	CHECK_EQ(d.capacity, M / 512);
	CHECK_EQ(blk_dev_resize(&d, 0), 0);
	CHECK_EQ(d.capacity, 2 * M / 512);
	CHECK_EQ(config_capacity(&d), 2 * M / 512);
	check_end(q, 2 * M / 512);

	/* Grown by us: the file is extended. */
	CHECK_EQ(blk_dev_resize(&d, 3 * M), 0);
	CHECK_EQ(file_size(), 3 * M);
	CHECK_EQ(d.capacity, 3 * M / 512);
	check_end(q, 3 * M / 512);

	/* Refused: shrinking, a size off the block, nothing changes. */
	CHECK_EQ(blk_dev_resize(&d, 2 * M), -EINVAL);
	CHECK_EQ(blk_dev_resize(&d, 3 * M + 100), -EINVAL);
	CHECK_EQ(d.capacity, 3 * M / 512);
	CHECK_EQ(file_size(), 3 * M);
	/* The same size is no change at all. */
	CHECK_EQ(blk_dev_resize(&d, 3 * M), 0);

	/* A file shrunk underneath shrinks the disk on a re-read (its data is gone). */
	set_file_size(5 * M / 2);
	CHECK_EQ(blk_dev_resize(&d, 0), 0);
	CHECK_EQ(d.capacity, 5 * M / 2 / 512);
	check_end(q, 5 * M / 2 / 512);

	/* A fixed range keeps its size on a re-read, and grows only when asked. */
	rng.range_start = M / 2;
	rng.range_size = M / 4;
	qr = t_setup(&dr, be, &rng);
	CHECK_EQ(dr.capacity, M / 4 / 512);
	set_file_size(3 * M);
	CHECK_EQ(blk_dev_resize(&dr, 0), 0);
	CHECK_EQ(dr.capacity, M / 4 / 512);
	CHECK_EQ(blk_dev_resize(&dr, M), 0);
	CHECK_EQ(dr.capacity, M / 512);
	CHECK_EQ(file_size(), 3 * M);
	check_end(qr, M / 512);
	CHECK_EQ(blk_dev_resize(&dr, 4 * M), 0); /* past the file's end: it grows */
	CHECK_EQ(file_size(), M / 2 + 4 * M);
	CHECK_EQ(dr.capacity, 4 * M / 512);
	CHECK_EQ(blk_dev_resize(&dr, 0), 0);
	CHECK_EQ(dr.capacity, 4 * M / 512);
	/* The backend shrank below the range: refused, the range stays. */
	set_file_size(2 * M);
	CHECK_EQ(blk_dev_resize(&dr, 0), -EINVAL);
	CHECK_EQ(dr.capacity, 4 * M / 512);
	blk_queue_destroy(qr);
	blk_queue_destroy(q);
	be_close(be);

	/* Read-only: the size can be learned, not grown. */
	set_file_size(M);
	be = open_file(true);
	ro.ro = true;
	q = t_setup(&d, be, &ro);
	set_file_size(2 * M);
	CHECK_EQ(blk_dev_resize(&d, 0), 0);
	CHECK_EQ(d.capacity, 2 * M / 512);
	CHECK_EQ(blk_dev_resize(&d, 4 * M), -EROFS);
	CHECK_EQ(file_size(), 2 * M);
	blk_queue_destroy(q);
	be_close(be);

	unlink(path);
	return 0;
}
