/* SPDX-License-Identifier: MIT */
/*
 * libvblk's internal transport interface: what differs between reaching a
 * virtio-blk device over a vhost-user socket (tr_vhost_user.c) and driving a
 * virtio-pci device from userspace (tr_pci.c). Everything else - memory
 * layout, rings (vq_drv_*), requests, the FIFO, completions, the buffer pool
 * - is shared (open.c, queue.c, pool.c, sync.c) and knows no transport.
 *
 * Life cycle, driven by vblk_open()/vblk_close() (open.c):
 *   open -> (layout) -> map -> start_queue x N -> go_live ... close
 * close must tolerate every earlier step having failed or not run.
 */
#ifndef VBLK_CLIENT_TRANSPORT_H
#define VBLK_CLIENT_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <vblk/vblk.h>

struct vblk;
struct vblk_queue;

struct client_transport {
	const char *name;
	/* Sentence logged once when gone() first reports the device gone. */
	const char *gone_msg;
	/*
	 * Reach the device at target, negotiate features (*acked) and read
	 * the config space into dev->info. May lower o->queue_size to what
	 * the device takes. Failures leave a sentence (client_set_error).
	 */
	int (*open)(struct vblk *dev, const char *target, struct vblk_options *o, uint64_t *acked);
	/*
	 * Map dev->mem_size bytes (already a multiple of CLIENT_DMA_CHUNK)
	 * the device can reach into dev->mem; set dev->memfd (or -1) and, when
	 * device addresses are not linear, dev->dma_phys.
	 */
	int (*map)(struct vblk *dev);
	/* Tell the device where queue q's rings are and start it. */
	int (*start_queue)(struct vblk *dev, struct vblk_queue *q, unsigned num);
	/* After every queue started (may be NULL): the device may now run. */
	int (*go_live)(struct vblk *dev);
	/* Notify the device of new buffers on q. 0 or -errno. */
	int (*notify)(struct vblk_queue *q);
	/*
	 * Has the device gone (hung up, vanished, or asks for a reset)? With
	 * probe, may look at it without waiting; without, answers from state.
	 */
	bool (*gone)(struct vblk *dev, bool probe);
	/*
	 * vblk_queue_poll() is about to look at q's ring (may be NULL):
	 * acknowledge an interrupt taken since the last look and let the next
	 * one through. A completion after this call signals again.
	 */
	void (*ack)(struct vblk_queue *q);
	/*
	 * Sleep until q may have completions or the device may be gone, at
	 * most timeout_ms (-1: no limit). 1, 0 on timeout, -ENOTCONN when it
	 * saw the device go, or another -errno.
	 */
	int (*wait)(struct vblk_queue *q, int timeout_ms);
	/*
	 * A request never completed (may be NULL): stop the device for good
	 * so it cannot write memory the caller reuses; gone() is true after.
	 */
	void (*abandon)(struct vblk *dev);
	/* Stop the device's use of our memory and release it; tolerates half-open. */
	void (*close)(struct vblk *dev);
};

extern const struct client_transport client_transport_vhost_user;
extern const struct client_transport client_transport_pci;

/* "pci:" prefixes a PCI address (domain:bus:device.function) as a vblk_open() target. */
#define CLIENT_PCI_PREFIX "pci:"

#endif
