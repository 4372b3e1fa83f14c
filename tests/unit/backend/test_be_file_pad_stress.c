/* SPDX-License-Identifier: MIT */
/*
 * No lost update with O_DIRECT: logical block 512 over an O_DIRECT file
 * with 4096-byte alignment (skipped if the file system's is 512, or O_DIRECT
 * is refused); 4 threads, each with its own queue and io_uring, write
 * distinct 512-byte sectors sharing 4 KiB blocks, all in flight together;
 * every sector is then verified in the file. See ../blk/pad_stress.h.
 */
#include "be_test.h"
#include "pad_stress.h"

int main(void)
{
	struct be_opts bo = {.size = PS_SECTORS * 512, .direct = true};
	struct blk_dev_opts o = {.num_queues = PS_NQ, .queue_size = 128, .logical_block_size = 512};
	static uint8_t buf[PS_SECTORS * 512];
	struct blk_dev d;
	struct be *be;
	char path[256];
	int ret, fd;

	t_tmpfile("/var/tmp", path, sizeof(path));
	ret = be_open(path, &bo, &be);
	if (ret == -EINVAL || ret == -EOPNOTSUPP) {
		unlink(path);
		SKIP("O_DIRECT refused on /var/tmp");
	}
	CHECK_EQ(ret, 0);
	/* Pretend a 4 KiB O_DIRECT granularity if the file system's is finer: still valid. */
	if (be->info.align < 4096)
		be->info.align = 4096;
	CHECK_EQ(blk_dev_init(&d, be, &o), 0);
	CHECK(d.rmw);
	blk_dev_set_features(&d, d.features);
	ps_stress(&d);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, buf, sizeof(buf), 0), sizeof(buf));
	close(fd);
	ps_verify(buf);
	blk_dev_fini(&d);
	be_close(be);
	unlink(path);
	return 0;
}
