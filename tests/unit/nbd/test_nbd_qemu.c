/* SPDX-License-Identifier: MIT */
/*
 * qemu-nbd serving a raw image file: the bytes written through the backend
 * land in the file at the right offsets, and FUA / flush succeed.
 */
#include "nbd_test.h"

#define SIZE (8u << 20)

int main(void)
{
	const struct be_ops *ops = &be_nbd_ops;
	struct be_opts opts = {0};
	struct be_queue *q;
	struct srv s;
	struct be *be;
	static uint8_t buf[1 << 20], fbuf[1 << 20];
	const char *img;
	int fd;

	if (!have_prog("qemu-nbd"))
		SKIP("qemu-nbd not installed");
	srv_init(&s);
	img = srv_path(&s, "disk.img");
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, SIZE), 0);
	char imgarg[192];
	snprintf(imgarg, sizeof(imgarg), "%s", img);
	char *argv[] = {"qemu-nbd", "--persistent", "-k", s.sock, "-f", "raw", imgarg, NULL};
	srv_start(&s, argv);

	opts.path = s.uri;
	CHECK_EQ(ops->open(&opts, &be), 0);
	CHECK_EQ(be->info.size, SIZE);
	CHECK(!be->info.ro);
	CHECK_EQ(ops->queue_create(be, 16, &q), 0);

	{
		struct iovec v[3] = {{buf, 4096}, {buf + 4096, 1000}, {buf + 5096, 65536 - 5096}};
		struct tio t;

		pat_fill(buf, 123 * 4096, 65536, 9);
		tio_init(&t, BE_OP_WRITE, BE_IO_F_FUA, 123 * 4096, 65536, v, 3);
		CHECK_EQ(tio_run(ops, q, &t, 1, 10000), 0);
		CHECK_EQ(t.res, 0);
	}
	pat_fill(buf, SIZE - (1 << 20), 1 << 20, 10);
	CHECK_EQ(io1(q, BE_OP_WRITE, 0, SIZE - (1 << 20), buf, 1 << 20), 0);
	CHECK_EQ(io1(q, BE_OP_FLUSH, 0, 0, NULL, 0), 0);

	CHECK_EQ(pread(fd, fbuf, 65536, 123 * 4096), 65536);
	CHECK(pat_check(fbuf, 123 * 4096, 65536, 9));
	CHECK_EQ(pread(fd, fbuf, 1 << 20, SIZE - (1 << 20)), 1 << 20);
	CHECK(pat_check(fbuf, SIZE - (1 << 20), 1 << 20, 10));
	CHECK_EQ(pread(fd, fbuf, 4096, 122 * 4096), 4096);
	CHECK(all_zero(fbuf, 4096));

	if (be->info.can_write_zeroes) {
		CHECK_EQ(io1(q, BE_OP_WRITE_ZEROES, 0, 123 * 4096, NULL, 8192), 0);
		CHECK_EQ(pread(fd, fbuf, 8192, 123 * 4096), 8192);
		CHECK(all_zero(fbuf, 8192));
	}

	ops->queue_destroy(q);
	ops->close(be);
	close(fd);
	srv_cleanup(&s);
	return 0;
}
