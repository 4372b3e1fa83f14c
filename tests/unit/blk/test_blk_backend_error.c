/* SPDX-License-Identifier: MIT */
/* Backend -EIO / -ENOSPC fail that request with IOERR (used.len 1) and nothing else. */
#include "internal/iov.h"
#include "tbe.h"

int main(void)
{
	static struct tbe tb;
	static uint8_t buf[1024];
	struct blk_dev d;
	struct blk_queue *q;
	struct t_req t;

	tbe_init(&tb, 1 << 20, true);
	q = t_setup(&d, &tb.base, NULL);
	tb.res[BE_OP_READ] = -EIO;
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, sizeof(buf)), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t.used, 1);
	tb.res[BE_OP_WRITE] = -ENOSPC;
	for (int i = 0; i < 5; i++) /* repeated failures are rate-limited in the log */
		CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, buf, sizeof(buf), NULL, 0),
			 VIRTIO_BLK_S_IOERR);
	tb.res[BE_OP_READ] = 0;
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, sizeof(buf)), VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, sizeof(buf) + 1);
	CHECK_EQ(blk_queue_inflight(q), 0);
	blk_queue_destroy(q);
	return 0;
}
