/* SPDX-License-Identifier: MIT */
/*
 * libvblk synchronous helpers (vblk_read, vblk_write, ...): one request at a
 * time on the asynchronous path, split to what the device takes, bouncing
 * through the buffer pool when the caller's memory is not from it.
 */
#include <errno.h>
#include <string.h>

#include "client.h"

/*
 * Wait for the single request submitted by a helper. A device that never
 * completes it is stopped after dev->io_timeout_ms by vblk_queue_poll(),
 * and the request fails with -ETIMEDOUT.
 */
static int wait_one(struct vblk_queue *q)
{
	struct vblk_completion c;
	int n;

	do
		n = vblk_queue_wait(q, &c, 1, -1);
	while (n == 0);
	return n < 0 ? n : c.ret;
}

static int sync_rw(struct vblk_queue *q, bool write, uint64_t offset, void *buf, size_t len)
{
	struct vblk *dev = q->dev;
	bool direct = client_in_pool(dev, buf, len);
	size_t chunk = dev->info.max_transfer, done = 0;
	uint8_t *bounce = NULL;
	int ret;

	if (q->pending)
		return -EBUSY;
	ret = client_check_range(dev, offset, len);
	if (ret)
		return ret;
	if (!direct) {
		if (chunk > (1u << 20))
			chunk = 1u << 20;
		bounce = vblk_buf_alloc(dev, chunk);
		if (!bounce)
			return -ENOMEM;
	}
	while (done < len) {
		size_t n = len - done < chunk ? len - done : chunk;
		uint8_t *p = direct ? (uint8_t *)buf + done : bounce;
		if (!direct && write)
			memcpy(p, (const uint8_t *)buf + done, n);
		ret = write ? vblk_queue_write(q, offset + done, p, n, NULL)
			    : vblk_queue_read(q, offset + done, p, n, NULL);
		if (!ret)
			ret = wait_one(q);
		if (ret)
			break;
		if (!direct && !write)
			memcpy((uint8_t *)buf + done, p, n);
		done += n;
	}
	vblk_buf_free(dev, bounce);
	return ret;
}

int vblk_read(struct vblk_queue *q, uint64_t offset, void *buf, size_t len)
{
	return sync_rw(q, false, offset, buf, len);
}

int vblk_write(struct vblk_queue *q, uint64_t offset, const void *buf, size_t len)
{
	return sync_rw(q, true, offset, (void *)buf, len);
}

int vblk_flush(struct vblk_queue *q)
{
	int ret;

	if (q->pending)
		return -EBUSY;
	ret = vblk_queue_flush(q, NULL);
	return ret ? ret : wait_one(q);
}

static int sync_discard_like(struct vblk_queue *q, bool zeroes, uint64_t offset, uint64_t len,
			     unsigned flags)
{
	const struct vblk_info *in = &q->dev->info;
	uint64_t max_sect = zeroes ? in->max_write_zeroes_sectors : in->max_discard_sectors;
	uint64_t chunk, done = 0;
	int ret;

	if (q->pending)
		return -EBUSY;
	ret = client_check_range(q->dev, offset, len);
	if (ret)
		return ret;
	if (!max_sect || max_sect > UINT32_MAX)
		max_sect = UINT32_MAX;
	chunk = (max_sect << VIRTIO_BLK_SECTOR_SHIFT) & ~(uint64_t)(in->logical_block_size - 1);
	if (!chunk)
		return -EINVAL;
	while (done < len) {
		uint64_t n = len - done < chunk ? len - done : chunk;
		ret = zeroes ? vblk_queue_write_zeroes(q, offset + done, n, flags, NULL)
			     : vblk_queue_discard(q, offset + done, n, NULL);
		if (!ret)
			ret = wait_one(q);
		if (ret)
			return ret;
		done += n;
	}
	return 0;
}

int vblk_discard(struct vblk_queue *q, uint64_t offset, uint64_t len)
{
	return sync_discard_like(q, false, offset, len, 0);
}

int vblk_write_zeroes(struct vblk_queue *q, uint64_t offset, uint64_t len, unsigned flags)
{
	return sync_discard_like(q, true, offset, len, flags);
}

int vblk_get_id(struct vblk_queue *q, char *id)
{
	uint8_t *b;
	int ret;

	if (q->pending)
		return -EBUSY;
	b = vblk_buf_alloc(q->dev, VBLK_ID_BYTES);
	if (!b)
		return -ENOMEM;
	memset(b, 0, VBLK_ID_BYTES);
	ret = vblk_queue_get_id(q, b, NULL);
	if (!ret)
		ret = wait_one(q);
	if (!ret) {
		memcpy(id, b, VBLK_ID_BYTES);
		id[VBLK_ID_BYTES] = '\0';
	}
	vblk_buf_free(q->dev, b);
	return ret;
}
