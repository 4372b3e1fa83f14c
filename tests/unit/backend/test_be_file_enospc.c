/* SPDX-License-Identifier: MIT */
/*
 * A write the filesystem has no room for (-ENOSPC, possibly after a short
 * write) fails that request with IOERR; the queue goes on. Needs root to mount
 * a 64 KiB tmpfs; skipped otherwise.
 */
#include <sys/mount.h>

#include "be_test.h"

int main(void)
{
	struct be_opts bo = {.size = 1 << 20};
	static uint8_t w[256 << 10], r[4096];
	char dir[] = "/tmp/vblk-enospc-XXXXXX", path[256];
	struct blk_dev d;
	struct blk_queue *q;
	struct be *be;
	struct t_req t;

	CHECK(mkdtemp(dir));
	if (mount("vblk-test", dir, "tmpfs", 0, "size=64k") < 0) {
		rmdir(dir);
		SKIP("cannot mount a tmpfs (needs root)");
	}
	snprintf(path, sizeof(path), "%s/disk", dir);
	CHECK_EQ(be_open(path, &bo, &be), 0);
	q = t_setup(&d, be, NULL);
	t_fill(w, sizeof(w), 1);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, w, sizeof(w), NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t.used, 1);
	/* Reads and flushes still work. */
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, r, sizeof(r)), VIRTIO_BLK_S_OK);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_OK);
	blk_queue_destroy(q);
	be_close(be);
	unlink(path);
	umount(dir);
	rmdir(dir);
	return 0;
}
