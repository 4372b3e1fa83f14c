/* SPDX-License-Identifier: MIT */
/*
 * libvblk's private header: the objects every part of the library shares
 * (device, queue, request), their shared-memory layout constants, and the
 * calls one part makes into another. Nothing here is public API.
 *
 * Shared memory: one memfd mapped once (open.c) and sent to the back
 * end with SET_MEM_TABLE as one region. Ring addresses are given as our
 * virtual addresses (vhost-user SET_VRING_ADDR uses front-end addresses);
 * buffer addresses in descriptors as "guest-physical" addresses =
 * CLIENT_GPA_BASE + offset in the region. Layout:
 *
 *   per queue: desc | avail | used | indirect tables [num][indir_max] |
 *              request headers [nreq] (outhdr, discard segment, status)
 *   buffer pool (page-granular allocator, pool.c)
 *
 * With VBLK_OPEN_PACKED_RING the three ring areas are the packed ring's
 * (virtio 1.3 §2.8.10.1): descriptor ring | driver event | device event.
 * Both layouts are driven through the vq_drv_* verbs.
 *
 * Requests: preallocated per queue (2 x queue size), no malloc on the data
 * path. A request that finds no ring space waits in the queue's FIFO and is
 * added from the completion path in order (vblk_queue_poll).
 */
#ifndef VBLK_CLIENT_CLIENT_H
#define VBLK_CLIENT_CLIENT_H

#include <vblk/vblk.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vblk/spec/virtio_blk.h>
#include <vblk/spec/virtio_types.h>

#include "internal/compiler.h"
#include "internal/list.h"
#include "transport.h"
#include "vhost_user/vu_client.h"
#include "virtq/vq_drv.h"

#define CLIENT_GPA_BASE		   0x100000000ull
#define CLIENT_PAGE		   4096u
#define CLIENT_MAX_SEGS		   128u			 /* data segments per request */
#define CLIENT_REQ_MAX_SG	   (CLIENT_MAX_SEGS + 2) /* + header + status */
#define CLIENT_MAX_TRANSFER	   (4u << 20)		 /* bytes of data per request */
#define CLIENT_SEG_CAP		   (1u << 30)		 /* split descriptors above this */
#define CLIENT_DEFAULT_QUEUE_SIZE  256u
#define CLIENT_DEFAULT_BUFFER_SIZE (64u << 20)
#define CLIENT_IO_DEFAULT_MS	   30000u   /* request deadline when timeout_ms is 0 */
#define CLIENT_POLL_US_MAX	   1000000u /* vblk_options.poll_us: one second */
/*
 * Unit of device addressing when addresses are not linear (dev->dma_phys,
 * the PCI transport's 2 MiB hugepages): physically contiguous inside, maybe
 * not across. The buffer pool starts on such a boundary.
 */
#define CLIENT_DMA_CHUNK (1u << 21)

/* Device-visible part of a request: lives in the shared region. */
struct client_req_shm {
	struct virtio_blk_outhdr hdr;
	struct virtio_blk_discard_write_zeroes seg;
	uint8_t status;
	uint8_t pad[31];
};
_Static_assert(sizeof(struct client_req_shm) == 64, "one cache line per request header");

struct client_req {
	void *user_data;
	struct fifo_link link; /* in the free list, the FIFO or the done list */
	struct client_req_shm *shm;
	uint64_t shm_addr;
	uint16_t out_num, in_num;
	int ret;	 /* result of a request completed without the device */
	uint64_t due_ms; /* submitted: deadline on the coarse clock; else 0 */
	struct vq_drv_sg sg[CLIENT_REQ_MAX_SG];
};

struct vblk_queue {
	struct vblk *dev;
	unsigned index;
	struct vq_drv vq;
	void *state;	/* [num] struct vq_drv_desc_state, or vq_drv_packed_state if packed */
	int kick_fd;	/* vhost-user: our kick eventfd */
	int call_fd;	/* the device's signal (vhost-user) or our own (PCI) */
	int irq_fd;	/* PCI with interrupts: this queue's own open of /dev/uioN */
	int wake_fd;	/* vblk_queue_fd(): call_fd, or an epoll set of call_fd and irq_fd */
	bool fd_raised; /* dev->fd_level: call_fd's counter is non-zero */
	uint64_t next_check_ms; /* coarse clock: no request can miss its deadline before */
	void *notify_reg;	/* PCI: the queue's notification register (virtio 1.3 §4.1.4.4) */
	bool started;		/* rings set up in the back end */
	struct client_req *reqs;
	unsigned nreqs;
	unsigned pending; /* submitted, not reaped */
	/* the poll window now, at most opts.poll_us (adapted in queue.c) */
	uint64_t poll_ns;
	/* free requests; requests waiting for ring space; completed without the device */
	struct fifo free, fifo, done;
	/* shared-region placement */
	size_t off_desc, off_avail, off_used, off_indir, off_shm;
	bool broken_logged;
	/*
	 * Each queue is driven by its own thread: a cache line of its own keeps
	 * them from false sharing. The array is allocated with aligned_alloc()
	 * (alloc_queues in open.c), as malloc only promises alignof(max_align_t).
	 */
} __attribute__((aligned(64)));

struct client_pci;

struct vblk {
	const struct client_transport *tr;
	struct vu_client vu;	 /* vhost-user transport */
	struct client_pci *pci;	 /* PCI transport */
	uint64_t *dma_phys;	 /* NULL: device address = CLIENT_GPA_BASE + offset;
				    else [mem_size / CLIENT_DMA_CHUNK] chunk addresses */
	unsigned io_timeout_ms;	 /* 0, or how long a request may stay with the device */
	unsigned clock_slack_ms; /* resolution of the coarse clock the deadline is read on */
	/*
	 * The device signals no completions (PCI without interrupts): a
	 * queue's fd is kept readable while requests are pending (queue.c).
	 */
	bool fd_level;
	struct vblk_options opts; /* as given to vblk_open(), defaults filled in */
	int memfd;
	uint8_t *mem;
	size_t mem_size;
	size_t pool_off, pool_size;
	struct vblk_info info;
	struct vblk_queue *queues;
	unsigned nqueues;
	bool packed;		  /* VIRTIO_F_RING_PACKED negotiated */
	atomic_bool disconnected; /* the back end's socket hung up */
	atomic_bool timed_out;	  /* ... or we stopped it: a request missed its deadline */
	pthread_mutex_t alloc_lock;
	uint32_t *alloc_len; /* [pool pages]: pages allocated at this start page, 0 = free */
	uint8_t *page_used;  /* [pool pages] */
	size_t npages, alloc_hint;
};

static inline size_t client_align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static inline bool client_has_feature(const struct vblk *dev, unsigned bit)
{
	return dev->info.features & VIRTIO_BIT(bit);
}

static inline void client_req_push(struct fifo *l, struct client_req *r)
{
	fifo_push(l, &r->link);
}

static inline struct client_req *client_req_pop(struct fifo *l)
{
	return fifo_pop_entry(l, struct client_req, link);
}

/* ---- reporting (report.c) ---- */

/* Empty the calling thread's vblk_get_error() sentence. */
void client_clear_error(void);
/* The sentence for vblk_get_error(), also passed to o->log_fn as an error. */
void client_set_error(const struct vblk_options *o, const char *fmt, ...) VBLK_PRINTF(2, 3);
/* A failed vhost-user request: what we were doing and the client's reason. */
void client_set_vu_error(const struct vblk *dev, const char *what, int ret);
/* An event on an open device, for the application's log only. */
void client_log(const struct vblk *dev, int level, const char *fmt, ...) VBLK_PRINTF(3, 4);

/* ---- buffer pool (pool.c) ---- */

/* The address the back end knows p by (inside the shared region). */
uint64_t client_dev_addr(const struct vblk *dev, const void *p);
/*
 * Bytes from p (at most len) the device sees as one contiguous run: a
 * descriptor must not cross a point where device addresses jump.
 */
size_t client_dma_run(const struct vblk *dev, const void *p, size_t len);
/* Is [p, p+len) inside the buffer pool? */
bool client_in_pool(const struct vblk *dev, const void *p, size_t len);

/* ---- negotiation (negotiate.c) ---- */

/*
 * Features, protocol features, queue count and config space: fills
 * dev->info and *acked (the features set). Failures leave a sentence.
 */
int client_negotiate(struct vblk *dev, const struct vblk_options *o, uint64_t *acked);

/*
 * Config bytes we read: everything up to and including the write-zeroes
 * fields. Some back ends (QEMU 7.2) reject reads past their own, older,
 * struct virtio_blk_config.
 */
#define CLIENT_CONFIG_READ offsetof(struct virtio_blk_config, max_secure_erase_sectors)

/*
 * The virtio features to set from those offered, the same on every
 * transport: what we drive, minus o->disable_features, plus the packed ring
 * when asked for. Checks o->num_queues against the device's queue count
 * (config num_queues with MQ, bounded by qmax when non-zero); fills
 * dev->info.max_queues. Failures leave a sentence.
 */
int client_choose_features(struct vblk *dev, const struct vblk_options *o, uint64_t offered,
			   const struct virtio_blk_config *cfg, unsigned qmax, uint64_t *acked);
/* Turn the config space into dev->info (what both transports read). */
void client_parse_config(struct vblk *dev, const struct virtio_blk_config *cfg, uint64_t f);

/* ---- data path (queue.c) ---- */

/*
 * Every request q holds completes with err and the ring takes no more
 * (a broken ring: -EIO; a device gone: -ENOTCONN; no answer: -ETIMEDOUT).
 */
void client_queue_fail_all(struct vblk_queue *q, int err);

/* Monotonic milliseconds, coarse (a clock tick): cheap enough for the data path. */
uint64_t client_coarse_ms(void);

/* 0, -EINVAL (misaligned or empty) or -ERANGE (past the end). */
int client_check_range(const struct vblk *dev, uint64_t offset, uint64_t len);

#endif
