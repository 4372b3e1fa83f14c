/* SPDX-License-Identifier: MIT */
/*
 * File backend DISCARD / WRITE_ZEROES (hole punching / zero range): offered
 * when the filesystem can punch holes, and the range reads back as zeroes.
 */
#include "be_test.h"

static uint8_t dwz(struct blk_queue *q, uint32_t type, uint64_t sector, uint32_t n, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes seg = {
	    .sector = vblk_cpu_to_le64(sector),
	    .num_sectors = vblk_cpu_to_le32(n),
	    .flags = vblk_cpu_to_le32(flags),
	};
	struct t_req t;

	return t_io(q, &t, type, 0, &seg, sizeof(seg), NULL, 0);
}

int main(void)
{
	struct be_opts bo = {.size = 1 << 20};
	static uint8_t w[16384], r[16384];
	struct blk_dev d;
	struct blk_queue *q;
	struct be *be;
	struct t_req t;
	char path[256];

	t_tmpfile(NULL, path, sizeof(path));
	CHECK_EQ(be_open(path, &bo, &be), 0);
	if (!be->info.can_discard) {
		be_close(be);
		unlink(path);
		SKIP("filesystem cannot punch holes");
	}
	q = t_setup(&d, be, NULL);
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	memset(w, 0x77, sizeof(w));
	for (int k = 0; k < 3; k++) {
		uint32_t type = k == 0 ? VIRTIO_BLK_T_DISCARD : VIRTIO_BLK_T_WRITE_ZEROES;
		uint32_t flags = k == 2 ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;

		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, w, sizeof(w), NULL, 0), VIRTIO_BLK_S_OK);
		CHECK_EQ(dwz(q, type, 8, 16, flags), VIRTIO_BLK_S_OK);
		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, r, sizeof(r)), VIRTIO_BLK_S_OK);
		for (size_t i = 0; i < sizeof(r); i++)
			CHECK_EQ(r[i], i >= 8 * 512 && i < 24 * 512 ? 0 : 0x77);
	}
	blk_queue_destroy(q);
	be_close(be);
	unlink(path);
	return 0;
}
