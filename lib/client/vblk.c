/* SPDX-License-Identifier: MIT */
/*
 * libvblk: virtio-blk driver over vhost-user (see include/vblk/vblk.h).
 *
 * Shared memory: one memfd mapped once here and sent to the back end with
 * SET_MEM_TABLE as one region. Ring addresses are given as our virtual
 * addresses (vhost-user SET_VRING_ADDR uses front-end addresses); buffer
 * addresses in descriptors as "guest-physical" addresses = VBLK_GPA_BASE +
 * offset in the region. Layout:
 *
 *   per queue: desc | avail | used | indirect tables [num][indir_max] |
 *              request headers [nreq] (outhdr, discard segment, status)
 *   buffer pool (page-granular allocator)
 *
 * With VBLK_OPEN_PACKED_RING the three ring areas are the packed ring's
 * (virtio 1.3 §2.8.10.1): descriptor ring | driver event | device event.
 * Both layouts are driven through the vq_drv_* verbs.
 *
 * Disconnect: the back end sends nothing on its own once we are set up (we
 * negotiate no back-end request channel), so the socket becoming readable or
 * hung up means it is gone. vblk_queue_wait() watches it; then every request
 * still outstanding on a queue completes with -ENOTCONN.
 *
 * Requests: preallocated per queue (2 x queue size), no malloc on the data
 * path. A request that finds no ring space waits in the queue's FIFO and is
 * added from the completion path in order (vblk_queue_poll).
 *
 * Reporting: the library never prints. A failed vblk_open() leaves a sentence
 * for vblk_get_error(); that sentence, and events on an open device (the back
 * end went away, a ring broke, teardown timed out) go to the application's
 * log_fn when it set one in vblk_options.
 */
#include <vblk/vblk.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vblk/spec/vhost_user.h>
#include <vblk/spec/virtio_blk.h>
#include <vblk/spec/virtio_ring.h>
#include <vblk/spec/virtio_types.h>

#include "internal/compiler.h"
#include "vhost_user/vu_client.h"
#include "virtq/vq_drv.h"

#define VBLK_GPA_BASE		 0x100000000ull
#define VBLK_PAGE		 4096u
#define VBLK_MAX_SEGS		 128u		     /* data segments per request */
#define VBLK_REQ_MAX_SG		 (VBLK_MAX_SEGS + 2) /* + header + status */
#define VBLK_MAX_TRANSFER	 (4u << 20)	     /* bytes of data per request */
#define VBLK_SEG_CAP		 (1u << 30)	     /* split descriptors above this */
#define VBLK_DEFAULT_QUEUE_SIZE	 256u
#define VBLK_DEFAULT_BUFFER_SIZE (64u << 20)
/*
 * Config bytes we read: everything up to and including the write-zeroes
 * fields. Some back ends (QEMU 7.2) reject reads past their own, older,
 * struct virtio_blk_config.
 */
#define VBLK_CONFIG_READ offsetof(struct virtio_blk_config, max_secure_erase_sectors)

/* Features we can drive. */
#define VBLK_WANTED_FEATURES                                                                       \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |                     \
	 VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) |                      \
	 VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_GEOMETRY) |                    \
	 VIRTIO_BIT(VIRTIO_BLK_F_RO) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |                         \
	 VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY) |                      \
	 VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE) | VIRTIO_BIT(VIRTIO_BLK_F_MQ) |                       \
	 VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) |                \
	 VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))

#define VBLK_WANTED_PROTOCOL                                                                       \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) |         \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK))

/* Device-visible part of a request: lives in the shared region. */
struct vblk_req_shm {
	struct virtio_blk_outhdr hdr;
	struct virtio_blk_discard_write_zeroes seg;
	uint8_t status;
	uint8_t pad[31];
};
_Static_assert(sizeof(struct vblk_req_shm) == 64, "one cache line per request header");

struct vblk_req {
	void *user_data;
	struct vblk_req *next; /* free list / FIFO / local-done list */
	struct vblk_req_shm *shm;
	uint64_t shm_addr;
	uint16_t out_num, in_num;
	int ret; /* result of a request completed without the device */
	struct vq_drv_sg sg[VBLK_REQ_MAX_SG];
};

struct req_list {
	struct vblk_req *head, *tail;
};

struct vblk_queue {
	struct vblk *dev;
	unsigned index;
	struct vq_drv vq;
	void *state; /* [num] struct vq_drv_desc_state, or vq_drv_packed_state if packed */
	int kick_fd, call_fd;
	bool started; /* rings set up in the back end */
	struct vblk_req *reqs;
	unsigned nreqs;
	unsigned pending; /* submitted, not reaped */
	struct req_list free, fifo, done;
	/* shared-region placement */
	size_t off_desc, off_avail, off_used, off_indir, off_shm;
	bool broken_logged;
	/*
	 * Each queue is driven by its own thread: a cache line of its own keeps
	 * them from false sharing. The array is allocated with aligned_alloc()
	 * (alloc_queues), as malloc only promises alignof(max_align_t).
	 */
} __attribute__((aligned(64)));

struct vblk {
	struct vu_client vu;
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
	pthread_mutex_t alloc_lock;
	uint32_t *alloc_len; /* [pool pages]: pages allocated at this start page, 0 = free */
	uint8_t *page_used;  /* [pool pages] */
	size_t npages, alloc_hint;
};

static __thread char vblk_errbuf[320];

/* Hand msg to the application's log function, if it gave one. */
static void log_msg(const struct vblk_options *o, int level, const char *msg)
{
	if (o->log_fn)
		o->log_fn(o->log_opaque, level, msg);
}

/* The sentence for vblk_get_error(), also logged as an error. */
VBLK_PRINTF(2, 3) static void set_error(const struct vblk_options *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vblk_errbuf, sizeof(vblk_errbuf), fmt, ap);
	va_end(ap);
	log_msg(o, VBLK_MSG_ERROR, vblk_errbuf);
}

/* A failed vhost-user request: what we were doing and the client's reason. */
static void set_vu_error(const struct vblk *dev, const char *what, int ret)
{
	set_error(&dev->opts, "%s: %s", what, dev->vu.err[0] ? dev->vu.err : strerror(-ret));
}

/* An event on an open device, for the application's log only. */
VBLK_PRINTF(3, 4) static void dev_log(const struct vblk *dev, int level, const char *fmt, ...)
{
	char line[320];
	va_list ap;

	if (!dev->opts.log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(&dev->opts, level, line);
}

const char *vblk_get_error(void)
{
	return vblk_errbuf;
}

const char *vblk_feature_name(unsigned bit)
{
	switch (bit) {
	case VIRTIO_BLK_F_SIZE_MAX:
		return "VIRTIO_BLK_F_SIZE_MAX";
	case VIRTIO_BLK_F_SEG_MAX:
		return "VIRTIO_BLK_F_SEG_MAX";
	case VIRTIO_BLK_F_GEOMETRY:
		return "VIRTIO_BLK_F_GEOMETRY";
	case VIRTIO_BLK_F_RO:
		return "VIRTIO_BLK_F_RO";
	case VIRTIO_BLK_F_BLK_SIZE:
		return "VIRTIO_BLK_F_BLK_SIZE";
	case VIRTIO_BLK_F_FLUSH:
		return "VIRTIO_BLK_F_FLUSH";
	case VIRTIO_BLK_F_TOPOLOGY:
		return "VIRTIO_BLK_F_TOPOLOGY";
	case VIRTIO_BLK_F_CONFIG_WCE:
		return "VIRTIO_BLK_F_CONFIG_WCE";
	case VIRTIO_BLK_F_MQ:
		return "VIRTIO_BLK_F_MQ";
	case VIRTIO_BLK_F_DISCARD:
		return "VIRTIO_BLK_F_DISCARD";
	case VIRTIO_BLK_F_WRITE_ZEROES:
		return "VIRTIO_BLK_F_WRITE_ZEROES";
	case VIRTIO_BLK_F_LIFETIME:
		return "VIRTIO_BLK_F_LIFETIME";
	case VIRTIO_BLK_F_SECURE_ERASE:
		return "VIRTIO_BLK_F_SECURE_ERASE";
	case VIRTIO_BLK_F_ZONED:
		return "VIRTIO_BLK_F_ZONED";
	case 24:
		return "VIRTIO_F_NOTIFY_ON_EMPTY";
	case 26:
		return "VHOST_F_LOG_ALL";
	case VIRTIO_F_INDIRECT_DESC:
		return "VIRTIO_F_INDIRECT_DESC";
	case VIRTIO_F_EVENT_IDX:
		return "VIRTIO_F_EVENT_IDX";
	case VHOST_USER_F_PROTOCOL_FEATURES:
		return "VHOST_USER_F_PROTOCOL_FEATURES";
	case VIRTIO_F_VERSION_1:
		return "VIRTIO_F_VERSION_1";
	case VIRTIO_F_ACCESS_PLATFORM:
		return "VIRTIO_F_ACCESS_PLATFORM";
	case VIRTIO_F_RING_PACKED:
		return "VIRTIO_F_RING_PACKED";
	case VIRTIO_F_IN_ORDER:
		return "VIRTIO_F_IN_ORDER";
	case VIRTIO_F_ORDER_PLATFORM:
		return "VIRTIO_F_ORDER_PLATFORM";
	case VIRTIO_F_SR_IOV:
		return "VIRTIO_F_SR_IOV";
	case VIRTIO_F_NOTIFICATION_DATA:
		return "VIRTIO_F_NOTIFICATION_DATA";
	case VIRTIO_F_RING_RESET:
		return "VIRTIO_F_RING_RESET";
	default:
		return NULL;
	}
}

/* ---- request lists ---- */

static void list_push(struct req_list *l, struct vblk_req *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static struct vblk_req *list_pop(struct req_list *l)
{
	struct vblk_req *r = l->head;

	if (r) {
		l->head = r->next;
		if (!l->head)
			l->tail = NULL;
	}
	return r;
}

/* ---- shared memory ---- */

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t dev_addr(const struct vblk *dev, const void *p)
{
	return VBLK_GPA_BASE + (uint64_t)((const uint8_t *)p - dev->mem);
}

/* Is [p, p+len) inside the buffer pool? */
static bool in_pool(const struct vblk *dev, const void *p, size_t len)
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
	n = align_up(size, VBLK_PAGE) / VBLK_PAGE;
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
				p = dev->mem + dev->pool_off + start * VBLK_PAGE;
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
	if (!in_pool(dev, buf, 1))
		return;
	page = (size_t)((uint8_t *)buf - (dev->mem + dev->pool_off)) / VBLK_PAGE;
	pthread_mutex_lock(&dev->alloc_lock);
	if (dev->alloc_len[page]) {
		memset(dev->page_used + page, 0, dev->alloc_len[page]);
		dev->alloc_len[page] = 0;
		if (page < dev->alloc_hint)
			dev->alloc_hint = page;
	}
	pthread_mutex_unlock(&dev->alloc_lock);
}

/* ---- open / close ---- */

static unsigned indir_max(void)
{
	return VBLK_REQ_MAX_SG;
}

/*
 * Lay out queue q at *off in the region; advance *off. Split: §2.7 areas,
 * used ring on its own page. Packed (§2.8.10.1): a 16-aligned descriptor
 * ring and two 4-byte event structures; a packed descriptor is as large as a
 * split one, so the indirect tables are the same size.
 */
static void layout_queue(struct vblk_queue *q, unsigned num, bool packed, size_t *off)
{
	size_t o = align_up(*off, VBLK_PAGE);

	q->off_desc = o;
	if (packed) {
		o += (size_t)num * sizeof(struct virtq_packed_desc);
		q->off_avail = o;
		o += sizeof(struct virtq_packed_event);
		q->off_used = o;
		o += sizeof(struct virtq_packed_event);
	} else {
		o += virtq_desc_size(num);
		q->off_avail = o;
		o += virtq_avail_size(num);
		o = align_up(o, VBLK_PAGE);
		q->off_used = o;
		o += virtq_used_size(num);
	}
	o = align_up(o, VBLK_PAGE);
	q->off_indir = o;
	o += (size_t)num * indir_max() * sizeof(struct virtq_desc);
	o = align_up(o, 64);
	q->off_shm = o;
	o += (size_t)q->nreqs * sizeof(struct vblk_req_shm);
	*off = o;
}

/* Initialise q's driver ring, split or packed, on its areas of the region. */
static int init_ring(struct vblk *dev, struct vblk_queue *q, unsigned num, bool event_idx,
		     bool indirect)
{
	struct vq_drv_layout l = {
	    .packed = dev->packed,
	    .num = (uint16_t)num,
	    .event_idx = event_idx,
	    .indirect = indirect,
	    .desc = dev->mem + q->off_desc,
	    .driver = dev->mem + q->off_avail,
	    .device = dev->mem + q->off_used,
	    .state = q->state,
	    .indir = dev->mem + q->off_indir,
	    .indir_addr = dev_addr(dev, dev->mem + q->off_indir),
	    .indir_max = (uint16_t)indir_max(),
	};

	return vq_drv_init_layout(&q->vq, &l);
}

static int setup_queue_mem(struct vblk *dev, struct vblk_queue *q, unsigned num, bool event_idx,
			   bool indirect)
{
	int ret;

	q->state = calloc(num, vq_drv_state_size(dev->packed));
	q->reqs = calloc(q->nreqs, sizeof(*q->reqs));
	if (!q->state || !q->reqs)
		return -ENOMEM;
	ret = init_ring(dev, q, num, event_idx, indirect);
	if (ret)
		return ret;
	for (unsigned i = 0; i < q->nreqs; i++) {
		struct vblk_req *r = &q->reqs[i];
		r->shm = (struct vblk_req_shm *)(void *)(dev->mem + q->off_shm) + i;
		r->shm_addr = dev_addr(dev, r->shm);
		list_push(&q->free, r);
	}
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->kick_fd < 0 || q->call_fd < 0)
		return -errno;
	return 0;
}

static int start_queue(struct vblk *dev, struct vblk_queue *q, unsigned num, bool enable)
{
	struct vu_client *c = &dev->vu;
	unsigned i = q->index;
	int ret;

	ret = vu_client_set_vring_num(c, i, num);
	/*
	 * vhost-user.rst "Vring descriptor indices for packed virtqueues": a
	 * fresh packed ring starts at position 0 with both wrap counters 1.
	 */
	if (!ret)
		ret = vu_client_set_vring_base(c, i, dev->packed ? VQ_PACKED_BASE_INIT : 0);
	if (!ret)
		ret = vu_client_set_vring_addr(c, i, (uintptr_t)(dev->mem + q->off_desc),
					       (uintptr_t)(dev->mem + q->off_avail),
					       (uintptr_t)(dev->mem + q->off_used));
	/* Call before kick: the back end starts the ring when it gets the kick fd. */
	if (!ret)
		ret = vu_client_set_vring_call(c, i, q->call_fd);
	if (!ret)
		ret = vu_client_set_vring_kick(c, i, q->kick_fd);
	if (!ret)
		q->started = true;
	/* vhost-user.rst: with PROTOCOL_FEATURES rings start disabled. */
	if (!ret && enable)
		ret = vu_client_set_vring_enable(c, i, true);
	return ret;
}

static void parse_config(struct vblk *dev, const struct virtio_blk_config *cfg, uint64_t f)
{
	struct vblk_info *in = &dev->info;
	uint32_t lbs = VIRTIO_BLK_SECTOR_SIZE;
	uint64_t max_seg_bytes;

	in->capacity = vblk_le64_to_cpu(cfg->capacity) << VIRTIO_BLK_SECTOR_SHIFT;
	if (vblk_le64_to_cpu(cfg->capacity) > (UINT64_MAX >> VIRTIO_BLK_SECTOR_SHIFT))
		in->capacity = UINT64_MAX & ~(uint64_t)(VIRTIO_BLK_SECTOR_SIZE - 1);
	if (f & VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE)) {
		uint32_t b = vblk_le32_to_cpu(cfg->blk_size);
		/* Only sane powers of two: anything else falls back to 512. */
		if (b >= 512 && b <= (1u << 16) && !(b & (b - 1)))
			lbs = b;
	}
	in->logical_block_size = lbs;
	in->physical_block_size = lbs;
	if ((f & VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY)) && cfg->topology.physical_block_exp < 8)
		in->physical_block_size = lbs << cfg->topology.physical_block_exp;
	if (f & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX))
		in->seg_max = vblk_le32_to_cpu(cfg->seg_max);
	if (f & VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX))
		in->size_max = vblk_le32_to_cpu(cfg->size_max);
	if (f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD))
		in->max_discard_sectors = vblk_le32_to_cpu(cfg->max_discard_sectors);
	if (f & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES))
		in->max_write_zeroes_sectors = vblk_le32_to_cpu(cfg->max_write_zeroes_sectors);
	in->read_only = f & VIRTIO_BIT(VIRTIO_BLK_F_RO);
	in->writeback = (f & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)) &&
			(!(f & VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE)) || cfg->writeback);
	/* Largest request: segments x segment size, capped, whole blocks. */
	max_seg_bytes = in->size_max ? in->size_max : VBLK_SEG_CAP;
	{
		uint64_t segs = VBLK_MAX_SEGS;
		if (in->seg_max && in->seg_max < segs)
			segs = in->seg_max;
		uint64_t mt = segs * max_seg_bytes;
		if (mt > VBLK_MAX_TRANSFER)
			mt = VBLK_MAX_TRANSFER;
		mt &= ~(uint64_t)(lbs - 1);
		if (mt < lbs)
			mt = lbs;
		in->max_transfer = (size_t)mt;
	}
}

static int negotiate(struct vblk *dev, const struct vblk_options *o, uint64_t *acked)
{
	struct vu_client *c = &dev->vu;
	struct virtio_blk_config cfg;
	uint64_t offered, proto = 0, qnum = 1;
	int ret;

	ret = vu_client_get_features(c, &offered);
	if (ret) {
		set_vu_error(dev, "vhost-user negotiation", ret);
		return ret;
	}
	dev->info.device_features = offered;
	if (!(offered & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		set_error(o, "back end does not offer VIRTIO_F_VERSION_1");
		return -ENOTSUP;
	}
	if (!(offered & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))) {
		set_error(o, "back end does not offer VHOST_USER_F_PROTOCOL_FEATURES "
			     "(needed to read the config space)");
		return -ENOTSUP;
	}
	ret = vu_client_get_protocol_features(c, &proto);
	if (ret) {
		set_vu_error(dev, "vhost-user negotiation", ret);
		return ret;
	}
	if (!(proto & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG))) {
		set_error(o, "back end does not offer VHOST_USER_PROTOCOL_F_CONFIG");
		return -ENOTSUP;
	}
	ret = vu_client_set_protocol_features(c, proto & VBLK_WANTED_PROTOCOL);
	if (!ret)
		ret = vu_client_set_owner(c);
	if (!ret && (proto & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ)))
		ret = vu_client_get_queue_num(c, &qnum);
	if (ret) {
		set_vu_error(dev, "vhost-user set-up", ret);
		return ret;
	}
	memset(&cfg, 0, sizeof(cfg));
	ret = vu_client_get_config(c, 0, &cfg, VBLK_CONFIG_READ);
	if (ret) {
		set_vu_error(dev, "reading the config space", ret);
		return ret;
	}
	*acked = offered & VBLK_WANTED_FEATURES & ~o->disable_features;
	*acked |= VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	if (o->flags & VBLK_OPEN_PACKED_RING) {
		if (!(offered & VIRTIO_BIT(VIRTIO_F_RING_PACKED))) {
			set_error(o, "back end does not offer VIRTIO_F_RING_PACKED "
				     "(packed ring requested)");
			return -ENOTSUP;
		}
		*acked |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	}
	if (*acked & VIRTIO_BIT(VIRTIO_BLK_F_MQ)) {
		uint16_t n = vblk_le16_to_cpu(cfg.num_queues);
		dev->info.max_queues = n ? n : 1;
		if (qnum && qnum < dev->info.max_queues)
			dev->info.max_queues = (unsigned)qnum;
	} else {
		dev->info.max_queues = 1;
	}
	if (o->num_queues > dev->info.max_queues) {
		set_error(o, "back end offers %u queue(s), %u requested", dev->info.max_queues,
			  o->num_queues);
		return -EINVAL;
	}
	ret = vu_client_set_features(c, *acked);
	if (ret) {
		set_vu_error(dev, "vhost-user negotiation", ret);
		return ret;
	}
	dev->info.features = *acked;
	parse_config(dev, &cfg, *acked);
	return 0;
}

/* Zero-filled, cache-line aligned queue array (see struct vblk_queue). */
static struct vblk_queue *alloc_queues(unsigned n)
{
	/* C11 aligned_alloc: the size is a multiple of the alignment, as sizeof is. */
	size_t size = (size_t)n * sizeof(struct vblk_queue);
	struct vblk_queue *q = aligned_alloc(_Alignof(struct vblk_queue), size);

	if (q)
		memset(q, 0, size);
	return q;
}

/* Are the words reserved for future options all zero? */
static bool reserved_zero(const struct vblk_options *o)
{
	for (size_t i = 0; i < ARRAY_SIZE(o->reserved); i++)
		if (o->reserved[i])
			return false;
	return true;
}

int vblk_open(const char *socket_path, const struct vblk_options *opts, struct vblk **out)
{
	struct vblk_options o = {0};
	struct vblk *dev;
	uint64_t acked = 0;
	size_t off = 0;
	bool event_idx, indirect;
	int ret;

	vblk_errbuf[0] = '\0';
	if (opts)
		o = *opts;
	if (!o.num_queues)
		o.num_queues = 1;
	if (!o.queue_size)
		o.queue_size = VBLK_DEFAULT_QUEUE_SIZE;
	if (!o.buffer_size)
		o.buffer_size = VBLK_DEFAULT_BUFFER_SIZE;
	/* §2.7: a split ring's size is a power of two; §2.8: any size up to 2^15. */
	if (o.queue_size > VIRTQ_SPLIT_MAX_SIZE ||
	    (!(o.flags & VBLK_OPEN_PACKED_RING) && (o.queue_size & (o.queue_size - 1))) ||
	    o.num_queues > VHOST_USER_VRING_IDX_MASK + 1 || o.buffer_size > (1ull << 40) ||
	    (o.flags & ~VBLK_OPEN_PACKED_RING) || !reserved_zero(&o)) {
		set_error(&o,
			  "invalid options (queue size must be <= 32768, and a power of two for "
			  "a split ring; unknown flags and reserved words must be zero)");
		return -EINVAL;
	}

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->opts = o;
	dev->memfd = -1;
	dev->vu.sock = -1;
	pthread_mutex_init(&dev->alloc_lock, NULL);

	ret = vu_client_connect(&dev->vu, socket_path, o.timeout_ms);
	if (ret == -ETIMEDOUT) {
		set_error(&o, "cannot connect to %s: its listen queue stayed full for %u ms",
			  socket_path, dev->vu.timeout_ms);
		goto err;
	}
	if (ret) {
		set_error(&o, "cannot connect to %s: %s", socket_path, strerror(-ret));
		goto err;
	}
	ret = negotiate(dev, &o, &acked);
	if (ret)
		goto err;
	event_idx = acked & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	indirect = acked & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	dev->packed = acked & VIRTIO_BIT(VIRTIO_F_RING_PACKED);

	dev->queues = alloc_queues(o.num_queues);
	if (!dev->queues) {
		ret = -ENOMEM;
		goto err;
	}
	dev->nqueues = o.num_queues;
	for (unsigned i = 0; i < o.num_queues; i++) {
		struct vblk_queue *q = &dev->queues[i];
		q->dev = dev;
		q->index = i;
		q->kick_fd = q->call_fd = -1;
		q->nreqs = 2 * o.queue_size;
		layout_queue(q, o.queue_size, dev->packed, &off);
	}
	dev->pool_off = align_up(off, 1u << 21);
	dev->pool_size = align_up(o.buffer_size, VBLK_PAGE);
	dev->mem_size = dev->pool_off + dev->pool_size;
	dev->npages = dev->pool_size / VBLK_PAGE;
	dev->alloc_len = calloc(dev->npages, sizeof(*dev->alloc_len));
	dev->page_used = calloc(dev->npages, 1);
	if (!dev->alloc_len || !dev->page_used) {
		ret = -ENOMEM;
		goto err;
	}

	dev->memfd = memfd_create("vblk", MFD_CLOEXEC);
	if (dev->memfd < 0 || ftruncate(dev->memfd, (off_t)dev->mem_size) < 0) {
		ret = -errno;
		set_error(&o, "cannot create shared memory: %s", strerror(-ret));
		goto err;
	}
	dev->mem = mmap(NULL, dev->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->memfd, 0);
	if (dev->mem == MAP_FAILED) {
		dev->mem = NULL;
		ret = -errno;
		set_error(&o, "cannot map shared memory: %s", strerror(-ret));
		goto err;
	}
	{
		struct vu_client_region r = {
		    .gpa = VBLK_GPA_BASE,
		    .size = dev->mem_size,
		    .uva = (uintptr_t)dev->mem,
		    .mmap_offset = 0,
		    .fd = dev->memfd,
		};
		ret = vu_client_set_mem_table(&dev->vu, &r, 1);
		if (ret) {
			set_vu_error(dev, "sharing memory with the back end", ret);
			goto err;
		}
	}
	for (unsigned i = 0; i < dev->nqueues; i++) {
		struct vblk_queue *q = &dev->queues[i];
		ret = setup_queue_mem(dev, q, o.queue_size, event_idx, indirect);
		if (!ret)
			ret = start_queue(dev, q, o.queue_size, true);
		if (ret) {
			char what[48];
			snprintf(what, sizeof(what), "setting up queue %u", i);
			set_vu_error(dev, what, ret);
			goto err;
		}
	}
	dev->info.num_queues = o.num_queues;
	dev->info.queue_size = o.queue_size;
	*out = dev;
	return 0;

err:
	vblk_close(dev);
	return ret;
}

void vblk_close(struct vblk *dev)
{
	if (!dev)
		return;
	for (unsigned i = 0; dev->queues && i < dev->nqueues; i++) {
		struct vblk_queue *q = &dev->queues[i];
		unsigned base;
		int ret;
		/*
		 * vhost-user.rst: GET_VRING_BASE stops the ring before we unmap
		 * it; a back end that hung up has nothing left to stop. One that
		 * does not answer costs one deadline: the client then fails the
		 * remaining requests at once (vu_client.h), and our unmap cannot
		 * hurt it (it has its own mapping of the memfd).
		 */
		if (!q->started || dev->vu.sock < 0 || dev->vu.dead ||
		    atomic_load(&dev->disconnected))
			continue;
		ret = vu_client_get_vring_base(&dev->vu, i, &base);
		if (ret)
			dev_log(dev, VBLK_MSG_WARNING, "closing queue %u: %s", i,
				dev->vu.err[0] ? dev->vu.err : strerror(-ret));
		if (dev->vu.dead)
			break;
	}
	vu_client_close(&dev->vu);
	for (unsigned i = 0; dev->queues && i < dev->nqueues; i++) {
		struct vblk_queue *q = &dev->queues[i];
		if (q->kick_fd >= 0)
			close(q->kick_fd);
		if (q->call_fd >= 0)
			close(q->call_fd);
		free(q->state);
		free(q->reqs);
	}
	free(dev->queues);
	if (dev->mem)
		munmap(dev->mem, dev->mem_size);
	if (dev->memfd >= 0)
		close(dev->memfd);
	free(dev->alloc_len);
	free(dev->page_used);
	pthread_mutex_destroy(&dev->alloc_lock);
	free(dev);
}

int vblk_get_info(const struct vblk *dev, struct vblk_info *info)
{
	*info = dev->info;
	return 0;
}

struct vblk_queue *vblk_get_queue(struct vblk *dev, unsigned index)
{
	return index < dev->nqueues ? &dev->queues[index] : NULL;
}

int vblk_queue_fd(const struct vblk_queue *q)
{
	return q->call_fd;
}

unsigned vblk_queue_pending(const struct vblk_queue *q)
{
	return q->pending;
}

/* ---- data path ---- */

static bool has_feature(const struct vblk *dev, unsigned bit)
{
	return dev->info.features & VIRTIO_BIT(bit);
}

/*
 * Has the back end gone away? The flag, or with probe a look at the socket
 * without waiting: readable (EOF, or a message nobody asked for) or hung up.
 */
static void mark_disconnected(struct vblk *dev)
{
	/* Several queue threads may notice at once: the first one logs. */
	if (!atomic_exchange(&dev->disconnected, true))
		dev_log(dev, VBLK_MSG_WARNING,
			"the back end closed the connection: requests it did not complete "
			"fail with ENOTCONN");
}

static bool disconnected(struct vblk *dev, bool probe)
{
	struct pollfd pfd = {.fd = dev->vu.sock, .events = POLLIN | POLLRDHUP};

	if (atomic_load_explicit(&dev->disconnected, memory_order_relaxed))
		return true;
	if (!probe || poll(&pfd, 1, 0) <= 0)
		return false;
	mark_disconnected(dev);
	return true;
}

/*
 * Make vblk_queue_fd() readable: completions are waiting that the device
 * will not signal (made without it, or left over from a full poll). A full
 * eventfd counter (EAGAIN) is readable already.
 */
static void notify_self(struct vblk_queue *q)
{
	uint64_t one = 1;

	(void)!write(q->call_fd, &one, sizeof(one));
}

static void kick(struct vblk_queue *q)
{
	if (vq_drv_kick_prepare(&q->vq)) {
		uint64_t one = 1;
		/* A full eventfd counter (EAGAIN) still means "readable": the kick is not lost. */
		if (write(q->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			vq_drv_set_broken(&q->vq);
	}
}

/* Add to the ring, or to the FIFO when the ring is full or others wait. */
static int enqueue(struct vblk_queue *q, struct vblk_req *r)
{
	int ret;

	if (q->fifo.head) {
		list_push(&q->fifo, r);
		return 0;
	}
	ret = vq_drv_add(&q->vq, r->sg, r->out_num, r->in_num, r);
	if (ret == -ENOSPC) {
		list_push(&q->fifo, r);
		return 0;
	}
	if (ret)
		return ret;
	kick(q);
	return 0;
}

static struct vblk_req *req_get(struct vblk_queue *q, uint32_t type, uint64_t sector,
				void *user_data)
{
	struct vblk_req *r = list_pop(&q->free);

	if (!r)
		return NULL;
	r->user_data = user_data;
	r->ret = 0;
	r->shm->hdr.type = vblk_cpu_to_le32(type);
	r->shm->hdr.ioprio = 0;
	r->shm->hdr.sector = vblk_cpu_to_le64(sector);
	/* 0xFF is no status the device may write (virtio 1.3 §5.2.6): an unwritten one shows. */
	r->shm->status = 0xFF;
	r->sg[0].addr = r->shm_addr;
	r->sg[0].len = sizeof(struct virtio_blk_outhdr);
	r->out_num = 1;
	r->in_num = 0;
	return r;
}

static void req_put(struct vblk_queue *q, struct vblk_req *r)
{
	list_push(&q->free, r);
}

static int submit(struct vblk_queue *q, struct vblk_req *r)
{
	/* The status byte always comes last, device-writable. */
	r->sg[r->out_num + r->in_num].addr = r->shm_addr + offsetof(struct vblk_req_shm, status);
	r->sg[r->out_num + r->in_num].len = 1;
	r->in_num++;
	/* A direct chain longer than the ring would wait in the FIFO forever. */
	if (!vq_drv_fits(&q->vq, (unsigned)r->out_num + r->in_num)) {
		req_put(q, r);
		return -EINVAL;
	}
	/* Nobody would ever complete it. */
	if (disconnected(q->dev, false)) {
		req_put(q, r);
		return -ENOTCONN;
	}
	int ret = enqueue(q, r);
	if (ret) {
		req_put(q, r);
		return ret;
	}
	q->pending++;
	return 0;
}

static int check_range(const struct vblk *dev, uint64_t offset, uint64_t len)
{
	uint64_t mask = dev->info.logical_block_size - 1;

	if (len == 0 || (offset & mask) || (len & mask))
		return -EINVAL;
	if (offset > dev->info.capacity || len > dev->info.capacity - offset)
		return -ERANGE;
	return 0;
}

/* Append the data buffers of iov to r->sg, splitting at the segment size. */
static int add_data(struct vblk_queue *q, struct vblk_req *r, const struct iovec *iov, int iovcnt,
		    uint64_t *total)
{
	const struct vblk *dev = q->dev;
	unsigned nseg = 0, max = VBLK_MAX_SEGS;
	uint64_t seg = dev->info.size_max ? dev->info.size_max : VBLK_SEG_CAP;
	unsigned at = r->out_num + r->in_num;

	if (dev->info.seg_max && dev->info.seg_max < max)
		max = dev->info.seg_max;
	*total = 0;
	if (iovcnt <= 0)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;
		if (!left)
			continue;
		if (!in_pool(dev, p, left))
			return -EFAULT;
		*total += left;
		while (left) {
			size_t n = left < seg ? left : seg;
			if (nseg == max)
				return -EINVAL;
			r->sg[at + nseg].addr = dev_addr(dev, p);
			r->sg[at + nseg].len = (uint32_t)n;
			nseg++;
			p += n;
			left -= n;
		}
	}
	if (!*total)
		return -EINVAL;
	return (int)nseg;
}

static int rw(struct vblk_queue *q, bool write, uint64_t offset, const struct iovec *iov,
	      int iovcnt, void *user_data)
{
	struct vblk *dev = q->dev;
	struct vblk_req *r;
	uint64_t total;
	int nseg, ret;

	if (write && dev->info.read_only)
		return -EROFS;
	r = req_get(q, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
		    offset >> VIRTIO_BLK_SECTOR_SHIFT, user_data);
	if (!r)
		return -EAGAIN;
	nseg = add_data(q, r, iov, iovcnt, &total);
	ret = nseg < 0 ? nseg : check_range(dev, offset, total);
	if (!ret && total > dev->info.max_transfer)
		ret = -EINVAL;
	if (ret) {
		req_put(q, r);
		return ret;
	}
	if (write)
		r->out_num = (uint16_t)(r->out_num + nseg);
	else
		r->in_num = (uint16_t)nseg;
	return submit(q, r);
}

int vblk_queue_readv(struct vblk_queue *q, uint64_t offset, const struct iovec *iov, int iovcnt,
		     void *user_data)
{
	return rw(q, false, offset, iov, iovcnt, user_data);
}

int vblk_queue_writev(struct vblk_queue *q, uint64_t offset, const struct iovec *iov, int iovcnt,
		      void *user_data)
{
	return rw(q, true, offset, iov, iovcnt, user_data);
}

int vblk_queue_read(struct vblk_queue *q, uint64_t offset, void *buf, size_t len, void *user_data)
{
	struct iovec iov = {buf, len};

	return rw(q, false, offset, &iov, 1, user_data);
}

int vblk_queue_write(struct vblk_queue *q, uint64_t offset, const void *buf, size_t len,
		     void *user_data)
{
	struct iovec iov = {(void *)buf, len};

	return rw(q, true, offset, &iov, 1, user_data);
}

int vblk_queue_flush(struct vblk_queue *q, void *user_data)
{
	/* §5.2.6: flush sector must be 0. */
	struct vblk_req *r = req_get(q, VIRTIO_BLK_T_FLUSH, 0, user_data);

	if (!r)
		return -EAGAIN;
	if (!has_feature(q->dev, VIRTIO_BLK_F_FLUSH)) {
		/*
		 * No FLUSH feature: the device is write-through, nothing to do.
		 * The device will not signal this completion; we do, for callers
		 * that sleep on vblk_queue_fd().
		 */
		list_push(&q->done, r);
		q->pending++;
		notify_self(q);
		return 0;
	}
	return submit(q, r);
}

static int discard_like(struct vblk_queue *q, uint32_t type, unsigned feature, uint32_t max_sect,
			uint64_t offset, uint64_t len, uint32_t flags, void *user_data)
{
	struct vblk *dev = q->dev;
	struct vblk_req *r;
	uint64_t nsect = len >> VIRTIO_BLK_SECTOR_SHIFT;
	int ret;

	if (!has_feature(dev, feature))
		return -ENOTSUP;
	if (dev->info.read_only)
		return -EROFS;
	ret = check_range(dev, offset, len);
	if (ret)
		return ret;
	if (nsect > UINT32_MAX || (max_sect && nsect > max_sect))
		return -EINVAL;
	r = req_get(q, type, 0, user_data);
	if (!r)
		return -EAGAIN;
	r->shm->seg.sector = vblk_cpu_to_le64(offset >> VIRTIO_BLK_SECTOR_SHIFT);
	r->shm->seg.num_sectors = vblk_cpu_to_le32((uint32_t)nsect);
	r->shm->seg.flags = vblk_cpu_to_le32(flags);
	/* Header and the one segment are contiguous in the request's shared header. */
	r->sg[0].len =
	    sizeof(struct virtio_blk_outhdr) + sizeof(struct virtio_blk_discard_write_zeroes);
	return submit(q, r);
}

int vblk_queue_discard(struct vblk_queue *q, uint64_t offset, uint64_t len, void *user_data)
{
	return discard_like(q, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_F_DISCARD,
			    q->dev->info.max_discard_sectors, offset, len, 0, user_data);
}

int vblk_queue_write_zeroes(struct vblk_queue *q, uint64_t offset, uint64_t len, unsigned flags,
			    void *user_data)
{
	if (flags & ~VBLK_WRITE_ZEROES_UNMAP)
		return -EINVAL;
	return discard_like(
	    q, VIRTIO_BLK_T_WRITE_ZEROES, VIRTIO_BLK_F_WRITE_ZEROES,
	    q->dev->info.max_write_zeroes_sectors, offset, len,
	    flags & VBLK_WRITE_ZEROES_UNMAP ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0, user_data);
}

int vblk_queue_get_id(struct vblk_queue *q, void *buf, void *user_data)
{
	struct vblk_req *r;

	if (!in_pool(q->dev, buf, VBLK_ID_BYTES))
		return -EFAULT;
	r = req_get(q, VIRTIO_BLK_T_GET_ID, 0, user_data);
	if (!r)
		return -EAGAIN;
	r->sg[1].addr = dev_addr(q->dev, buf);
	r->sg[1].len = VBLK_ID_BYTES;
	r->in_num = 1;
	return submit(q, r);
}

/* Result of a request the device returned with used.len = len. */
static int req_result(const struct vblk_req *r, uint32_t len)
{
	uint8_t status = READ_ONCE(r->shm->status);

	/*
	 * virtio 1.3 §5.2.6: the status byte is the last byte written, so
	 * used.len < 1 or an unwritten status is a device error.
	 */
	if (len < 1)
		return -EIO;
	switch (status) {
	case VIRTIO_BLK_S_OK:
		return 0;
	case VIRTIO_BLK_S_UNSUPP:
		return -ENOTSUP;
	default:
		return -EIO; /* IOERR, 0xFF (unwritten), anything else */
	}
}

/* Move requests from the FIFO into ring slots freed by completions. */
static void dispatch_fifo(struct vblk_queue *q)
{
	bool added = false;
	struct vblk_req *r;

	while ((r = q->fifo.head)) {
		int ret = vq_drv_add(&q->vq, r->sg, r->out_num, r->in_num, r);
		if (ret == -ENOSPC)
			break;
		list_pop(&q->fifo);
		if (ret) {
			/* Cannot happen for a request add accepted before; fail it, keep order. */
			r->ret = -EIO;
			list_push(&q->done, r);
			continue;
		}
		added = true;
	}
	if (added)
		kick(q);
}

/*
 * The device broke the ring (err -EIO) or went away (-ENOTCONN): every
 * request we hold completes with err, and the ring takes no more.
 */
static void fail_all(struct vblk_queue *q, int err)
{
	struct vblk_req *r;

	if (err == -EIO && !q->broken_logged) {
		q->broken_logged = true;
		dev_log(q->dev, VBLK_MSG_WARNING,
			"queue %u: the back end broke the ring (malformed used entry): "
			"its requests fail with EIO",
			q->index);
	}
	vq_drv_set_broken(&q->vq);
	while ((r = vq_drv_detach_unused(&q->vq))) {
		r->ret = err;
		list_push(&q->done, r);
	}
	while ((r = list_pop(&q->fifo))) {
		r->ret = err;
		list_push(&q->done, r);
	}
}

int vblk_queue_poll(struct vblk_queue *q, struct vblk_completion *c, unsigned max)
{
	unsigned n = 0;
	uint64_t cnt;
	struct vblk_req *r;

	/* Clear the notification before looking, so none that follows is lost. */
	if (read(q->call_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return -errno;
	for (;;) {
		void *cookie;
		uint32_t len;
		int ret = 0;

		while (n < max && (r = list_pop(&q->done))) {
			c[n].user_data = r->user_data;
			c[n++].ret = r->ret;
			req_put(q, r);
			q->pending--;
		}
		while (n < max && (ret = vq_drv_get_buf(&q->vq, &cookie, &len)) == 1) {
			r = cookie;
			c[n].user_data = r->user_data;
			c[n++].ret = req_result(r, len);
			req_put(q, r);
			q->pending--;
		}
		/*
		 * What the back end completed before it went away was reaped
		 * above; the rest never will be. The socket is looked at only
		 * when we would otherwise report nothing.
		 */
		if (ret >= 0 && (vq_drv_inflight(&q->vq) || q->fifo.head) &&
		    disconnected(q->dev, n == 0 && !q->done.head))
			fail_all(q, -ENOTCONN);
		if (ret < 0)
			fail_all(q, -EIO);
		if (q->done.head && n < max)
			continue;
		if (!n && !q->done.head && vq_drv_is_broken(&q->vq))
			return disconnected(q->dev, false) ? -ENOTCONN : -EIO;
		if (!vq_drv_is_broken(&q->vq))
			dispatch_fifo(q);
		if (n == max || vq_drv_is_broken(&q->vq)) {
			/* More may wait: leave the fd readable so a sleeper does not hang. */
			if (q->done.head || vq_drv_more_used(&q->vq))
				notify_self(q);
			break;
		}
		/* Nothing left: re-arm, unless a completion slipped in meanwhile. */
		if (vq_drv_enable_cb(&q->vq) && !q->done.head)
			break;
	}
	return (int)n;
}

int vblk_queue_wait(struct vblk_queue *q, struct vblk_completion *c, unsigned max, int timeout_ms)
{
	for (;;) {
		int n = vblk_queue_poll(q, c, max);
		/* The socket too: a back end that hangs up completes nothing more. */
		struct pollfd pfd[2] = {
		    {.fd = q->call_fd, .events = POLLIN},
		    {.fd = q->dev->vu.sock, .events = POLLIN | POLLRDHUP},
		};
		if (n != 0)
			return n;
		n = poll(pfd, 2, timeout_ms);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && pfd[1].revents)
			mark_disconnected(q->dev);
		if (n == 0)
			return vblk_queue_poll(q, c, max);
	}
}

/* ---- synchronous helpers ---- */

/* Wait for the single request submitted by a helper. */
static int wait_one(struct vblk_queue *q)
{
	struct vblk_completion c;
	int n;

	do {
		n = vblk_queue_wait(q, &c, 1, -1);
	} while (n == 0);
	return n < 0 ? n : c.ret;
}

static int sync_rw(struct vblk_queue *q, bool write, uint64_t offset, void *buf, size_t len)
{
	struct vblk *dev = q->dev;
	bool direct = in_pool(dev, buf, len);
	size_t chunk = dev->info.max_transfer, done = 0;
	uint8_t *bounce = NULL;
	int ret;

	if (q->pending)
		return -EBUSY;
	ret = check_range(dev, offset, len);
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
	ret = check_range(q->dev, offset, len);
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
