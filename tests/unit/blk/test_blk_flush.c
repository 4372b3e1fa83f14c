/* SPDX-License-Identifier: MIT */
/* FLUSH reaches the backend as BE_OP_FLUSH, used.len 1; UNSUPP when not offered. */
#include "internal/iov.h"
#include "tbe.h"

int main(void)
{
	static struct tbe tb;
	struct blk_dev d;
	struct blk_queue *q;
	struct t_req t;

	tbe_init(&tb, 1 << 20, true);
	q = t_setup(&d, &tb.base, NULL);
	CHECK(d.features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, 1);
	CHECK_EQ(tb.nrec, 1);
	CHECK_EQ(tb.rec[0].op, BE_OP_FLUSH);
	CHECK_EQ(tb.rec[0].len, 0);
	/* A backend flush failure is IOERR. */
	tb.res[BE_OP_FLUSH] = -EIO;
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_IOERR);
	blk_queue_destroy(q);

	tbe_init(&tb, 1 << 20, false);
	q = t_setup(&d, &tb.base, NULL);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(tb.nrec, 0);
	blk_queue_destroy(q);
	return 0;
}
