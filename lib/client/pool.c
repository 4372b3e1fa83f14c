/* SPDX-License-Identifier: MIT */
/*
 * libvblk buffer pool: the page-granular first-fit allocator behind
 * vblk_buf_alloc() / vblk_buf_free(), over the pool part of the region
 * shared with the device, and the translation of an address in the region
 * into the address the device knows it by (linear for vhost-user, per
 * hugepage for PCI).
 */
#include <errno.h>
#include <string.h>

#include "client.h"

uint64_t client_dev_addr(const struct vblk *dev, const void *p)
{
	size_t off = (size_t)((const uint8_t *)p - dev->mem);

	if (dev->dma_phys)
		return dev->dma_phys[off / CLIENT_DMA_CHUNK] + off % CLIENT_DMA_CHUNK;
	return CLIENT_GPA_BASE + off;
}

size_t client_dma_run(const struct vblk *dev, const void *p, size_t len)
{
	size_t off = (size_t)((const uint8_t *)p - dev->mem), run;

	if (!dev->dma_phys)
		return len;
	/* To the end of p's chunk, then on through chunks the device sees right after it. */
	run = CLIENT_DMA_CHUNK - off % CLIENT_DMA_CHUNK;
	for (size_t c = off / CLIENT_DMA_CHUNK; run < len; c++) {
		if (dev->dma_phys[c + 1] != dev->dma_phys[c] + CLIENT_DMA_CHUNK)
			break;
		run += CLIENT_DMA_CHUNK;
	}
	return run < len ? run : len;
}

bool client_in_pool(const struct vblk *dev, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)(dev->mem + dev->pool_off);

	return a >= lo && len <= dev->pool_size && a - lo <= dev->pool_size - len;
}

void *vblk_buf_alloc(struct vblk *dev, size_t size)
{
	size_t n, run = 0, start = 0;
	void *p = NULL;

	if (size == 0 || size > dev->pool_size) {
		errno = size ? ENOMEM : EINVAL;
		return NULL;
	}
	n = client_align_up(size, CLIENT_PAGE) / CLIENT_PAGE;
	pthread_mutex_lock(&dev->alloc_lock);
	/* First fit from the hint, then from the start. */
	for (int pass = 0; pass < 2 && !p; pass++) {
		size_t from = pass ? 0 : dev->alloc_hint,
		       to = pass ? dev->alloc_hint + n : dev->npages;
		if (to > dev->npages)
			to = dev->npages;
		run = 0;
		for (size_t i = from; i < to; i++) {
			if (dev->page_used[i]) {
				run = 0;
				continue;
			}
			if (run++ == 0)
				start = i;
			if (run == n) {
				memset(dev->page_used + start, 1, n);
				dev->alloc_len[start] = (uint32_t)n;
				dev->alloc_hint = start + n;
				p = dev->mem + dev->pool_off + start * CLIENT_PAGE;
				break;
			}
		}
	}
	pthread_mutex_unlock(&dev->alloc_lock);
	if (!p)
		errno = ENOMEM;
	return p;
}

void vblk_buf_free(struct vblk *dev, void *buf)
{
	size_t page;

	if (!buf)
		return;
	if (!client_in_pool(dev, buf, 1))
		return;
	page = (size_t)((uint8_t *)buf - (dev->mem + dev->pool_off)) / CLIENT_PAGE;
	pthread_mutex_lock(&dev->alloc_lock);
	if (dev->alloc_len[page]) {
		memset(dev->page_used + page, 0, dev->alloc_len[page]);
		dev->alloc_len[page] = 0;
		if (page < dev->alloc_hint)
			dev->alloc_hint = page;
	}
	pthread_mutex_unlock(&dev->alloc_lock);
}
