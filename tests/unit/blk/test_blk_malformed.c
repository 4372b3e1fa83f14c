/* SPDX-License-Identifier: MIT */
/*
 * Malformed requests: each completes with its status and used.len 1 and the
 * queue keeps working, except a chain with no writable byte, which is a
 * framing error (submit returns false, nothing written, no callback).
 */
#include "blk_test.h"

static struct blk_queue *q;

static void expect(struct t_req *t, uint8_t status)
{
	CHECK_EQ(t->ndone, 1);
	CHECK_EQ(t->status, status);
	CHECK_EQ(t->used, 1);
	CHECK_EQ(blk_queue_inflight(q), 0);
}

int main(void)
{
	struct be *be = t_open("memory:64K"); /* capacity 128 sectors */
	struct blk_dev d;
	static uint8_t buf[2048], data[2048];
	struct t_req t;

	q = t_setup(&d, be, NULL);
	CHECK_EQ(d.capacity, 128);

	/* No device-writable byte at all, or only empty ones: framing error. */
	t_hdr(&t, VIRTIO_BLK_T_OUT, 0);
	t.iov[0] = (struct iovec){&t.hdr, 16};
	t.iov[1] = (struct iovec){data, 512};
	CHECK(!t_submit(q, &t, 2, 0));
	CHECK_EQ(t.ndone, 0);
	t.iov[2] = (struct iovec){&t.status, 0};
	CHECK(!t_submit(q, &t, 2, 1));
	CHECK_EQ(t.ndone, 0);
	CHECK_EQ(t.status, 0xff);
	CHECK_EQ(blk_queue_inflight(q), 0);

	/* Header shorter than 16 bytes (also: no readable part at all). */
	t_hdr(&t, VIRTIO_BLK_T_IN, 0);
	t.iov[0] = (struct iovec){&t.hdr, 15};
	t.iov[1] = (struct iovec){&t.status, 1};
	CHECK(t_submit(q, &t, 1, 1));
	expect(&t, VIRTIO_BLK_S_IOERR);
	t_hdr(&t, VIRTIO_BLK_T_IN, 0);
	t.iov[0] = (struct iovec){&t.status, 1};
	CHECK(t_submit(q, &t, 0, 1));
	expect(&t, VIRTIO_BLK_S_IOERR);

	/* Wrong data direction: a read with readable data, a write with writable data. */
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, data, 512, buf, 512), VIRTIO_BLK_S_IOERR);
	expect(&t, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, data, 512, buf, 512), VIRTIO_BLK_S_IOERR);
	expect(&t, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, NULL, 0, buf, 512), VIRTIO_BLK_S_IOERR);

	/* Length not a multiple of 512, or zero. */
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 511), VIRTIO_BLK_S_IOERR);
	expect(&t, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, buf, 513), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, data, 1000, NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_IOERR);
	expect(&t, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_IOERR);

	/* Range: the last sector works, one past it does not, nor a run across the end. */
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 127, NULL, 0, buf, 512), VIRTIO_BLK_S_OK);
	CHECK_EQ(t.used, 513);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 128, NULL, 0, buf, 512), VIRTIO_BLK_S_IOERR);
	expect(&t, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 127, data, 1024, NULL, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, 129, NULL, 0, buf, 512), VIRTIO_BLK_S_IOERR);
	/* sector + nsectors and sector << 9 overflow 64 bits: still IOERR, no wrap to 0. */
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, UINT64_MAX, NULL, 0, buf, 1024), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, UINT64_MAX - 1, data, 1024, NULL, 0),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_IN, UINT64_C(1) << 55, NULL, 0, buf, 512),
		 VIRTIO_BLK_S_IOERR);

	/* Unknown types: UNSUPP. */
	CHECK_EQ(t_io(q, &t, 2, 0, NULL, 0, NULL, 0), VIRTIO_BLK_S_UNSUPP);
	expect(&t, VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_GET_LIFETIME, 0, NULL, 0, buf, 8), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t_io(q, &t, 12, 0, data, 16, NULL, 0), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(t_io(q, &t, 0x80000001u, 0, data, 512, NULL, 0), VIRTIO_BLK_S_UNSUPP);

	/* And the queue still works. */
	CHECK_EQ(t_io(q, &t, VIRTIO_BLK_T_OUT, 0, data, 512, NULL, 0), VIRTIO_BLK_S_OK);

	blk_queue_destroy(q);
	be_close(be);
	return 0;
}
