/* SPDX-License-Identifier: MIT */
/*
 * nbd_flush_client SOCKET WRITE_QUEUE FLUSH_QUEUE: one vhost-user session
 * that writes 64 KiB at offset 0 through queue WRITE_QUEUE, prints
 * "written", waits for a line on stdin (the calling script restarts the NBD
 * server meanwhile, or not), then flushes twice through queue FLUSH_QUEUE and
 * prints "flush=R1 flush=R2" (0 or -errno). The session stays open between
 * the write and the flushes, so vblkd keeps the queues (and the NBD
 * connections' unflushed writes) it had. Exit 0 when the line was printed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vblk/vblk.h>

#define LEN (64u << 10)

int main(int argc, char **argv)
{
	struct vblk_options opts = {.num_queues = 2};
	struct vblk_queue *wq, *fq;
	struct vblk *dev;
	char line[64];
	int ret, f1, f2;
	void *buf;

	if (argc != 4) {
		fprintf(stderr, "usage: %s SOCKET WRITE_QUEUE FLUSH_QUEUE\n", argv[0]);
		return 2;
	}
	ret = vblk_open(argv[1], &opts, &dev);
	if (ret) {
		fprintf(stderr, "vblk_open: %s\n", strerror(-ret));
		return 1;
	}
	wq = vblk_get_queue(dev, (unsigned)atoi(argv[2]));
	fq = vblk_get_queue(dev, (unsigned)atoi(argv[3]));
	buf = vblk_buf_alloc(dev, LEN);
	if (!wq || !fq || !buf) {
		fprintf(stderr, "no such queue, or no buffer\n");
		goto err_close;
	}
	memset(buf, 0xa5, LEN);
	ret = vblk_write(wq, 0, buf, LEN);
	if (ret) {
		fprintf(stderr, "write: %s\n", strerror(-ret));
		goto err_close;
	}
	printf("written\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		goto err_close;
	f1 = vblk_flush(fq);
	f2 = vblk_flush(fq);
	printf("flush=%d flush=%d\n", f1, f2);
	vblk_close(dev);
	return 0;

err_close:
	vblk_close(dev);
	return 1;
}
