/* SPDX-License-Identifier: MIT */
/*
 * The virtio-blk request engine (virtio 1.3 §5.2). A transport hands it one
 * request as device-readable and device-writable iovecs; the engine parses
 * them as a byte stream, validates the request, runs it on the queue's
 * backend and writes the status byte before reporting the used length.
 *
 * Two error channels (§2.7 vs §5.2.6): a chain without a device-writable byte
 * has nowhere to put a status, so blk_req_submit() returns false and the
 * transport breaks the queue; everything else completes with a status byte.
 *
 * Request types are a table of handlers: a new type is one function and one
 * entry. A handler returns a status to complete at once, or REQ_ASYNC after
 * handing the request down to the padding stage. Nothing on this path
 * allocates memory.
 *
 * Threading: a blk_queue is used by one thread. The blk_dev is shared; the
 * fields written after init are `writeback` (atomic), changed by the control
 * thread and read once per write request, `capacity` (atomic, blk_dev_resize
 * from any thread, read once per range check), the range lock of the padding
 * stage (its own mutex; blk_align.c describes it and the cross-queue
 * wake-up), the I/O limits (blk_limit.c: one relaxed load per request when
 * none is set) and the list of queues for statistics (blk_stats.c, taken
 * only when a queue is created or destroyed).
 *
 * The layers, one way down: the handlers here -> the limits (reads and
 * writes wait here, in order, while the export's token buckets are empty;
 * blk_limit.h) -> the padding stage
 * (blk_stage.h, blk_align.c: bounce buffers and read-modify-write for a
 * backend with an I/O alignment) -> the submit queue (blk_sq.h: the FIFO of
 * I/Os the backend refused with -EAGAIN) -> the backend. Results come back up
 * only through callbacks (be_io.done, then the stage's done callback,
 * req_stage_done here).
 */
#include "blk.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "internal/compiler.h"
#include "internal/iov.h"
#include "internal/log.h"

#include "blk_priv.h"

/* Handler result: the request went to the backend, done() comes later. */
#define REQ_ASYNC (-1)

/*
 * DISCARD / WRITE_ZEROES / SECURE_ERASE carry up to BLK_DWZ_MAX_SEG
 * segments (blk.h); they are copied out of the request once, validated all
 * together, then run one after another on the backend (no host API takes
 * several ranges in one call).
 */

/* A request's payload once the header and the status byte are taken off. */
struct blk_req_parts {
	struct iovec *out; /* device-readable bytes after the 16-byte header */
	unsigned out_num;
	size_t out_len;
	struct iovec *in; /* device-writable bytes before the status byte */
	unsigned in_num;
	size_t in_len;
};

typedef int blk_req_handler_fn(struct blk_queue *q, struct blk_req *req, struct blk_req_parts *p);

/* ---- device ------------------------------------------------------------ */

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* sectorsize=L[/P]: 512 or 4096 each (what Linux and QEMU guests expect), P >= L. */
static int dev_block_sizes(struct blk_dev *d, const struct be_info *info,
			   const struct blk_dev_opts *opts)
{
	uint32_t l = opts->logical_block_size, p = opts->physical_block_size;

	if (l == 0) {
		/* The historical default: the backend's I/O granularity, so no RMW. */
		l = VBLK_MAX(info->align, VIRTIO_BLK_SECTOR_SIZE);
		if (!is_pow2(l) || l > 65536)
			return -EINVAL;
	} else if (l != 512 && l != 4096) {
		return -EINVAL;
	}
	if (p != 0 && ((p != 512 && p != 4096) || p < l))
		return -EINVAL;
	if (p == 0) {
		/* Tell the guest the backend's block (and O_DIRECT granularity) to spare RMWs. */
		p = l;
		if (is_pow2(info->phys_block) && info->phys_block <= 65536)
			p = VBLK_MAX(p, info->phys_block);
		if (is_pow2(info->align) && info->align <= 65536)
			p = VBLK_MAX(p, info->align);
	}
	d->blk_size = l;
	d->phys_block_size = p;
	/* §5.2.4 opt_io_size is in logical blocks; only a whole multiple is meaningful. */
	if (info->opt_io && info->opt_io % l == 0)
		d->opt_io_size = info->opt_io / l;
	d->discard_align = VBLK_MAX(l, is_pow2(info->discard_align) ? info->discard_align : 0) >>
			   VIRTIO_BLK_SECTOR_SHIFT;
	return 0;
}

/*
 * The export's size in bytes over a backend of be_size bytes, for
 * range=START/SIZE (size 0: to the end). With O_DIRECT padding the aligned
 * superset of the last block must lie inside the backend too, or an RMW
 * would extend the file: the default size stops at the last whole backend
 * block. 0 and *out, or -EINVAL.
 */
static int range_bytes(const struct blk_dev *d, uint64_t be_size, uint64_t start, uint64_t size,
		       uint64_t *out)
{
	uint64_t end_max = be_size, l = d->blk_size, a = d->be_align;

	if (start % l || size % l || start > be_size)
		return -EINVAL;
	if (d->pad)
		end_max = end_max / a * a;
	if (size == 0) {
		size = end_max > start ? (end_max - start) / l * l : 0;
		if (size == 0 && start)
			return -EINVAL;
	} else if (size > be_size - start || (d->pad && (start + size + a - 1) / a * a > be_size)) {
		return -EINVAL;
	}
	*out = size;
	return 0;
}

/* The limiter and the statistics list; nothing here allocates (blk_dev_fini is optional). */
static int dev_qos_init(struct blk_dev *d, const struct blk_limits *lim)
{
	int ret = blk_limiter_init(&d->lim);

	if (ret < 0)
		return ret;
	ret = blk_limiter_set(&d->lim, lim);
	if (ret == 0)
		ret = -pthread_mutex_init(&d->stats_mu, NULL);
	if (ret < 0)
		blk_limiter_fini(&d->lim);
	return ret;
}

static void dev_qos_fini(struct blk_dev *d)
{
	pthread_mutex_destroy(&d->stats_mu);
	blk_limiter_fini(&d->lim);
}

static int dev_range(struct blk_dev *d, const struct be_info *info, const struct blk_dev_opts *opts)
{
	uint64_t size;
	int ret = range_bytes(d, info->size, opts->range_start, opts->range_size, &size);

	if (ret)
		return ret;
	d->range_start = opts->range_start;
	d->range_size = opts->range_size;
	atomic_init(&d->capacity, size >> VIRTIO_BLK_SECTOR_SHIFT);
	return 0;
}

/*
 * Growing only ever widens what range_ok accepts; a backend that shrank
 * underneath narrows it, and a request checked just before fails on the
 * backend instead (I/O error), as it would have anyway.
 */
int blk_dev_resize(struct blk_dev *d, uint64_t new_size)
{
	uint64_t cur, range, want = 0, be_size, bytes;
	int ret = 0;

	if (!d->be->ops->resize)
		return -EOPNOTSUPP;
	if (new_size && d->ro)
		return -EROFS;
	if (atomic_exchange(&d->resizing, true))
		return -EBUSY;
	cur = atomic_load(&d->capacity) << VIRTIO_BLK_SECTOR_SHIFT;
	range = d->range_size;
	if (new_size) {
		if (new_size % d->blk_size || new_size < cur ||
		    new_size > UINT64_MAX - d->range_start - d->be_align) {
			ret = -EINVAL;
			goto out;
		}
		/* Room for the padded last block as well (range_bytes). */
		want = d->range_start + new_size;
		if (d->pad)
			want = (want + d->be_align - 1) / d->be_align * d->be_align;
		if (range)
			range = new_size;
	}
	ret = d->be->ops->resize(d->be, want, &be_size);
	if (!ret)
		ret = range_bytes(d, be_size, d->range_start, range, &bytes);
	if (!ret && new_size && bytes < new_size)
		ret = -EINVAL;
	if (!ret) {
		d->range_size = range;
		atomic_store(&d->capacity, bytes >> VIRTIO_BLK_SECTOR_SHIFT);
	}
out:
	atomic_store(&d->resizing, false);
	return ret;
}

int blk_dev_init(struct blk_dev *d, struct be *be, const struct blk_dev_opts *opts)
{
	static const struct blk_dev_opts defaults = {.num_queues = 1, .queue_size = 128};
	const struct be_info *info;
	uint32_t seg_max;
	bool can_flush, mutate;
	int ret;

	if (!d || !be)
		return -EINVAL;
	if (!opts)
		opts = &defaults;
	info = &be->info;
	/* §5.2.4: num_queues is a le16. */
	if (opts->num_queues == 0 || opts->num_queues > UINT16_MAX)
		return -EINVAL;
	/* Like Linux and QEMU: a chain of queue_size descriptors minus header and status. */
	seg_max = opts->seg_max ? opts->seg_max : (opts->queue_size > 2 ? opts->queue_size - 2 : 0);
	if (seg_max == 0)
		return -EINVAL;

	memset(d, 0, sizeof(*d));
	d->be = be;
	ret = dev_block_sizes(d, info, opts);
	if (ret < 0)
		return ret;
	d->be_align = VBLK_MAX(info->align, 1u);
	d->be_mem_align = info->mem_align ? info->mem_align : d->be_align;
	if (!is_pow2(d->be_align) || !is_pow2(d->be_mem_align))
		return -EINVAL;
	d->pad = d->be_align > 1 || d->be_mem_align > 1;
	ret = dev_range(d, info, opts);
	if (ret < 0)
		return ret;
	/* A valid request can cover part of a backend block: padded writes are RMWs. */
	d->rmw = d->pad && (d->be_align > d->blk_size || d->range_start % d->be_align);
	d->seg_max = seg_max;
	/*
	 * No SIZE_MAX: the engine takes segments of any size and the file
	 * backend splits whatever one readv cannot carry, so there is no limit
	 * to advertise (Linux then uses no per-segment limit either).
	 */
	d->size_max = 0;
	d->num_queues = opts->num_queues;
	d->ro = opts->ro || info->ro;
	if (opts->serial)
		memcpy(d->serial, opts->serial, strnlen(opts->serial, VIRTIO_BLK_ID_BYTES));

	can_flush = info->can_flush;
	/*
	 * BLK_SIZE and TOPOLOGY (§5.2.4): blk_size is the logical block. No
	 * GEOMETRY: a legacy CHS hint nothing needs (Linux's virtblk_getgeo
	 * makes one up without it), and any value we invented would be wrong.
	 */
	d->features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
		      VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
		      VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE);
	if (d->phys_block_size > d->blk_size || opts->physical_block_size || d->opt_io_size)
		d->features |= VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY);
	/* §5.2.5.2: FLUSH SHOULD always be offered, and MUST be with CONFIG_WCE. */
	if (can_flush)
		d->features |= VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE);
	if (d->ro)
		d->features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	if (d->num_queues > 1)
		d->features |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	/*
	 * Discard, write zeroes, secure erase: only what the backend does. A
	 * block device cannot discard or zero part of its own logical block, so
	 * with RMW padding over one they are not offered (files: fallocate is
	 * byte-granular). No LIFETIME: no backend knows a wear level.
	 */
	mutate = !d->ro && !(d->rmw && info->is_blockdev);
	if (mutate && info->can_discard)
		d->features |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD);
	if (mutate && info->can_write_zeroes)
		d->features |= VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	if (mutate && info->can_secure_erase)
		d->features |= VIRTIO_BIT(VIRTIO_BLK_F_SECURE_ERASE);

	/* A device that cannot flush can only be honest as writethrough. */
	d->writeback_default = opts->writeback && can_flush;
	atomic_init(&d->writeback, d->writeback_default);
	ret = dev_qos_init(d, &opts->limits);
	if (ret < 0)
		return ret;
	if (d->rmw) {
		ret = blk_range_lock_init(&d->rl);
		if (ret < 0)
			goto err_qos;
		ret = -pthread_mutex_init(&d->handover_mu, NULL);
		if (ret < 0) {
			blk_range_lock_fini(&d->rl);
			goto err_qos;
		}
	}
	return 0;

err_qos:
	dev_qos_fini(d);
	return ret;
}

void blk_dev_fini(struct blk_dev *d)
{
	if (!d || !d->be)
		return;
	if (d->rmw) {
		pthread_mutex_destroy(&d->handover_mu);
		blk_range_lock_fini(&d->rl);
	}
	dev_qos_fini(d);
}

void blk_dev_set_features(struct blk_dev *d, uint64_t negotiated)
{
	d->negotiated = negotiated;
	/*
	 * virtio 1.3 §5.2.5.2: "If VIRTIO_BLK_F_CONFIG_WCE is negotiated but
	 * VIRTIO_BLK_F_FLUSH is not, the device MUST initialize writeback to 0",
	 * and §5.2.5.1 lets a driver that negotiated neither "deduce the presence
	 * of a writethrough cache": a driver that cannot send FLUSH only gets
	 * durable writes from a writethrough device. With FLUSH (with or without
	 * CONFIG_WCE, where the driver assumes writeback) the configured mode
	 * applies; every negotiation follows a reset, which restores it, so a
	 * previous driver's choice (e.g. firmware) never leaks into the next.
	 */
	if (negotiated & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH))
		atomic_store(&d->writeback, d->writeback_default);
	else
		atomic_store(&d->writeback, false);
}

int blk_dev_set_writeback(struct blk_dev *d, bool writeback, bool now)
{
	/* §5.2.5.2: writeback only with FLUSH (blk_dev_init offers FLUSH when it can flush). */
	if (writeback && !(d->features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)))
		return -EOPNOTSUPP;
	atomic_store(&d->writeback_default, writeback);
	if (now && atomic_exchange(&d->writeback, writeback) != writeback)
		log_info("write cache: %s (set by the management)",
			 writeback ? "writeback" : "writethrough");
	return 0;
}

void blk_dev_get_config(const struct blk_dev *d, struct virtio_blk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = vblk_cpu_to_le64(atomic_load(&((struct blk_dev *)d)->capacity));
	if (d->features & VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX))
		cfg->size_max = vblk_cpu_to_le32(d->size_max);
	cfg->seg_max = vblk_cpu_to_le32(d->seg_max);
	cfg->blk_size = vblk_cpu_to_le32(d->blk_size);
	if (d->features & VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY)) {
		uint32_t ratio = d->phys_block_size / d->blk_size;

		/* §5.2.4: exponent of logical blocks per physical block; min_io in logical blocks.
		 */
		cfg->topology.physical_block_exp = (uint8_t)__builtin_ctz(ratio);
		cfg->topology.alignment_offset = 0;
		cfg->topology.min_io_size = vblk_cpu_to_le16((uint16_t)VBLK_MIN(ratio, 65535u));
		cfg->topology.opt_io_size = vblk_cpu_to_le32(d->opt_io_size);
	}
	cfg->writeback = atomic_load(&((struct blk_dev *)d)->writeback) ? 1 : 0;
	cfg->num_queues = vblk_cpu_to_le16((uint16_t)d->num_queues);
	if (d->features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)) {
		cfg->max_discard_sectors = vblk_cpu_to_le32(BLK_DWZ_MAX_SECTORS);
		cfg->max_discard_seg = vblk_cpu_to_le32(BLK_DWZ_MAX_SEG);
		cfg->discard_sector_alignment = vblk_cpu_to_le32(d->discard_align);
	}
	if (d->features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES)) {
		cfg->max_write_zeroes_sectors = vblk_cpu_to_le32(BLK_DWZ_MAX_SECTORS);
		cfg->max_write_zeroes_seg = vblk_cpu_to_le32(BLK_DWZ_MAX_SEG);
		/* The unmap flag is honoured (hole punching) when the backend can discard. */
		cfg->write_zeroes_may_unmap = d->be->info.can_discard ? 1 : 0;
	}
	if (d->features & VIRTIO_BIT(VIRTIO_BLK_F_SECURE_ERASE)) {
		cfg->max_secure_erase_sectors = vblk_cpu_to_le32(BLK_DWZ_MAX_SECTORS);
		cfg->max_secure_erase_seg = vblk_cpu_to_le32(BLK_DWZ_MAX_SEG);
		cfg->secure_erase_sector_alignment = vblk_cpu_to_le32(d->discard_align);
	}
}

int blk_dev_set_config(struct blk_dev *d, uint32_t off, const void *buf, uint32_t len)
{
	uint8_t v;

	/* §5.2.4: writeback is the only field the driver may write. */
	if (off != offsetof(struct virtio_blk_config, writeback) || len != 1 || !buf)
		return -EINVAL;
	if (!(d->features & VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE)))
		return -EINVAL;
	/* §5.2.4: 0 writethrough, 1 writeback. */
	v = *(const uint8_t *)buf;
	if (v > 1)
		return -EINVAL;
	/* §5.2.5.2: without FLUSH negotiated the device stays writethrough. */
	if (v && d->negotiated && !(d->negotiated & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)))
		return -EINVAL;
	/* Rare, and an operator wants to know when durability semantics change. */
	if (atomic_exchange(&d->writeback, v == 1) != (v == 1))
		log_info("write cache: %s (set by the driver)", v ? "writeback" : "writethrough");
	return 0;
}

int blk_dev_set_limits(struct blk_dev *d, const struct blk_limits *l)
{
	if (!d)
		return -EINVAL;
	return blk_limiter_set(&d->lim, l);
}

void blk_dev_get_limits(struct blk_dev *d, struct blk_limits *out)
{
	blk_limiter_get(&d->lim, out);
}

/* ---- completion -------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The statistics clock: one reading per batch, not two per request. The
 * requests the transport submits between two kicks were all in the ring when
 * it popped the first, and the results one blk_queue_process round completes
 * reach the driver together at its end (one used-ring update, one
 * interrupt), so one reading for each (at its first request) is also the
 * latency the driver sees. Two clock_gettime calls per request were ~2.5 %
 * of a queue thread's time at 4k randread qd32 on tmpfs (docs/io-cost.md).
 * A kick and each round start with no reading.
 */
static uint64_t queue_now(struct blk_queue *q)
{
	if (!q->now_ns)
		q->now_ns = now_ns();
	return q->now_ns;
}

static void req_complete(struct blk_queue *q, struct blk_req *req, uint8_t status)
{
	/* §2.7.13.3 used.len: bytes written; on failure only the status byte is. */
	uint32_t used_len = status == VIRTIO_BLK_S_OK ? req->used_len : 1;

	/* The status is in place before the transport publishes the used entry. */
	*req->status = status;
	blk_stats_complete(q, req, status, queue_now(q));
	blk_stat_add(&q->st, BLK_STAT(in_flight), (uint64_t)-1);
	q->done(req, used_len, q->opaque);
}

static const char *op_name(enum be_op op)
{
	static const char *const names[] = {"read",    "write",	       "flush",
					    "discard", "write zeroes", "secure erase"};

	return (unsigned)op < ARRAY_SIZE(names) ? names[op] : "?";
}

/* A failing disk fails every request: log one line a second, with a count. */
static void req_log_error(struct blk_queue *q, const struct be_io *io, int res)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (q->logged && now.tv_sec - q->log_last.tv_sec < 1) {
		q->log_suppressed++;
		return;
	}
	log_warn("virtio-blk: %s of %llu bytes at byte %llu failed: %s (%u similar suppressed)",
		 op_name(io->op), (unsigned long long)io->len, (unsigned long long)io->offset,
		 strerror(-res), q->log_suppressed);
	q->logged = true;
	q->log_last = now;
	q->log_suppressed = 0;
}

static void seg_next(struct blk_queue *q, struct blk_req *req);

static struct blk_stage_req *stage_of(struct blk_req *req)
{
	return (struct blk_stage_req *)(void *)req->stage;
}

/* The stage's done callback: the operation of a request is over. */
static void req_stage_done(struct blk_stage_req *sr, const struct be_io *last, int res)
{
	struct blk_req *req = container_of((unsigned char *)sr, struct blk_req, stage[0]);
	struct blk_queue *q = req->q;

	if (res < 0) {
		/* §5.2.6: a failed request is VIRTIO_BLK_S_IOERR; the queue keeps going. */
		req_log_error(q, last, res);
		req_complete(q, req, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (req->cur_seg < req->nseg) {
		seg_next(q, req);
		return;
	}
	req_complete(q, req, VIRTIO_BLK_S_OK);
}

/*
 * Hand the request to the backend through the padding stage: op on the
 * device's bytes [offset, offset+len) with req->data. The caller checked the
 * range against capacity, so adding range_start stays inside the export.
 */
static int req_start_io(struct blk_queue *q, struct blk_req *req, enum be_op op, unsigned flags,
			uint64_t offset, uint64_t len)
{
	struct blk_stage_op o = {
	    .op = op,
	    .flags = flags,
	    .off = offset + (op == BE_OP_FLUSH ? 0 : q->d->range_start),
	    .len = len,
	    .iov = req->data,
	    .iovcnt = req->data_num,
	};

	blk_stage_start(q->stq, stage_of(req), &o);
	return REQ_ASYNC;
}

/* Writes are FUA unless the cache is writeback; read the mode once per request. */
static unsigned write_flags(const struct blk_queue *q)
{
	return atomic_load_explicit(&q->d->writeback, memory_order_relaxed) ? 0 : BE_IO_F_FUA;
}

/* §5.2.6.2: a request touching any sector at or past capacity fails. No shift before this. */
static bool range_ok(const struct blk_dev *d, uint64_t sector, uint64_t nsectors)
{
	/* One load: blk_dev_resize may change it meanwhile (acquire pairs with its store). */
	uint64_t cap = atomic_load_explicit(&((struct blk_dev *)d)->capacity, memory_order_acquire);

	return !(sector > cap || nsectors > cap - sector);
}

/* ---- limits ------------------------------------------------------------ */

/*
 * A waiting queue looks again at least this often, so a change of limits
 * (blk_dev_set_limits) reaches it without the device knowing its queues' fds.
 */
#define LIMIT_RECHECK_NS 100000000u

/* A read or write the limits let through (now or later): on to the stage. */
static void req_start_rw(struct blk_queue *q, struct blk_req *req)
{
	uint64_t off = req->sector << VIRTIO_BLK_SECTOR_SHIFT;

	if (req->type == VIRTIO_BLK_T_IN)
		req_start_io(q, req, BE_OP_READ, 0, off, req->bytes);
	else
		req_start_io(q, req, BE_OP_WRITE, write_flags(q), off, req->bytes);
}

/* Limits set and the buckets empty: false, and *retry_at when to try again. */
static bool limit_admit(struct blk_queue *q, const struct blk_req *req, uint64_t now,
			uint64_t *retry_at)
{
	if (!atomic_load_explicit(&q->d->lim.on, memory_order_relaxed))
		return true;
	if (q->draining) {
		/*
		 * Goes now, but pays: a guest that resets its device to get
		 * its waiting requests out still finds the bucket in debt.
		 */
		blk_limiter_charge(&q->d->lim, req->type == VIRTIO_BLK_T_OUT, req->bytes, now);
		return true;
	}
	return blk_limiter_admit(&q->d->lim, req->type == VIRTIO_BLK_T_OUT, req->bytes, now,
				 retry_at);
}

static void timer_arm(struct blk_queue *q, uint64_t at, uint64_t now)
{
	struct itimerspec its = {0};

	if (at > now + LIMIT_RECHECK_NS)
		at = now + LIMIT_RECHECK_NS;
	its.it_value.tv_sec = (time_t)(at / 1000000000u);
	its.it_value.tv_nsec = (long)(at % 1000000000u);
	/* Absolute, on the clock the buckets use; cannot fail with a valid fd and value. */
	if (timerfd_settime(q->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_warn("virtio-blk: limit timer: %s", strerror(errno));
	q->timer_armed = true;
}

/*
 * Reads and writes pass the export's limits here. One that must wait, and
 * any that arrives while others wait, goes to the back of q->throttled: a
 * queue's requests leave in the order they came. The spec would allow any
 * order, but with a byte limit, small requests overtaking a large one that
 * waits for the bucket would starve it.
 */
static int req_limit(struct blk_queue *q, struct blk_req *req)
{
	uint64_t now, retry_at = 0;

	if (fifo_empty(&q->throttled)) {
		if (!atomic_load_explicit(&q->d->lim.on, memory_order_relaxed)) {
			req_start_rw(q, req);
			return REQ_ASYNC;
		}
		now = now_ns();
		if (limit_admit(q, req, now, &retry_at)) {
			req_start_rw(q, req);
			return REQ_ASYNC;
		}
		timer_arm(q, retry_at, now);
	}
	fifo_push(&q->throttled, &req->wait);
	blk_stat_add(&q->st, BLK_STAT(throttled), 1);
	return REQ_ASYNC;
}

/* Start the waiting requests the limits now admit, in order; re-arm for the rest. */
static void limit_release(struct blk_queue *q)
{
	uint64_t exp, now, retry_at = 0;
	unsigned n = 0;

	/*
	 * Unlimited queues never arm it: no system call per wake-up for them.
	 * Armed stays set until a read finds the expiry (EAGAIN: not yet), so
	 * an expired timer is always read and cannot keep poll_fd readable.
	 */
	if (q->timer_armed) {
		if (read(q->timer_fd, &exp, sizeof(exp)) == sizeof(exp))
			q->timer_armed = false;
		else if (errno != EAGAIN)
			log_warn("virtio-blk: limit timer read: %s", strerror(errno));
	}
	if (fifo_empty(&q->throttled))
		return;
	now = now_ns();
	while (!fifo_empty(&q->throttled)) {
		struct blk_req *req = fifo_peek_entry(&q->throttled, struct blk_req, wait);

		if (!limit_admit(q, req, now, &retry_at)) {
			timer_arm(q, retry_at, now);
			break;
		}
		fifo_pop(&q->throttled);
		req_start_rw(q, req);
		n++;
	}
	if (n)
		blk_queue_kick(q);
}

/* ---- handlers ---------------------------------------------------------- */

/*
 * Logical block alignment. §5.2.4 only says blk_size lets the driver "align
 * its requests"; like QEMU (virtio_blk_sect_range_ok in hw/block/virtio-blk.c
 * and block/export/virtio-blk-handler.c: sector & sector_mask, size %
 * logical_block_size → IOERR) a request not aligned to the logical block
 * fails: Linux sets its logical block size from blk_size and never sends one.
 */
static bool lbs_aligned(const struct blk_dev *d, uint64_t sector, uint64_t nsectors)
{
	uint64_t mask = (d->blk_size >> VIRTIO_BLK_SECTOR_SHIFT) - 1;

	return ((sector | nsectors) & mask) == 0;
}

/*
 * IN and OUT data: §5.2.6.1 a multiple of 512 bytes; empty is meaningless.
 * Bounded so that used.len (data + status, a le32) cannot wrap.
 */
static int rw_check(const struct blk_queue *q, const struct blk_req *req, size_t len)
{
	if (len == 0 || len % VIRTIO_BLK_SECTOR_SIZE || len > UINT32_MAX - 1)
		return VIRTIO_BLK_S_IOERR;
	if (!range_ok(q->d, req->sector, len >> VIRTIO_BLK_SECTOR_SHIFT))
		return VIRTIO_BLK_S_IOERR;
	if (!lbs_aligned(q->d, req->sector, len >> VIRTIO_BLK_SECTOR_SHIFT))
		return VIRTIO_BLK_S_IOERR;
	return VIRTIO_BLK_S_OK;
}

static int handle_in(struct blk_queue *q, struct blk_req *req, struct blk_req_parts *p)
{
	int st;

	/* A read is header, then writable data, then status: nothing else readable. */
	if (p->out_len != 0)
		return VIRTIO_BLK_S_IOERR;
	st = rw_check(q, req, p->in_len);
	if (st != VIRTIO_BLK_S_OK)
		return st;
	req->data = p->in;
	req->data_num = p->in_num;
	req->used_len = (uint32_t)p->in_len + 1;
	req->bytes = p->in_len;
	return req_limit(q, req);
}

static int handle_out(struct blk_queue *q, struct blk_req *req, struct blk_req_parts *p)
{
	int st;

	/* A write's only device-writable byte is its status. */
	if (p->in_len != 0)
		return VIRTIO_BLK_S_IOERR;
	/* §5.2.6.2: a write to a read-only device MUST fail with IOERR, writing nothing. */
	if (q->d->ro)
		return VIRTIO_BLK_S_IOERR;
	st = rw_check(q, req, p->out_len);
	if (st != VIRTIO_BLK_S_OK)
		return st;
	req->data = p->out;
	req->data_num = p->out_num;
	req->bytes = p->out_len;
	return req_limit(q, req);
}

static int handle_flush(struct blk_queue *q, struct blk_req *req, struct blk_req_parts *p)
{
	if (!(q->d->features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)))
		return VIRTIO_BLK_S_UNSUPP;
	/*
	 * §5.2.6.1 puts "sector MUST be 0" and "SHOULD NOT include any data" on
	 * the driver and gives the device no rule: like QEMU, ignore both and
	 * flush (failing a flush for a stray sector would only lose durability).
	 */
	req->data = NULL;
	req->data_num = 0;
	return req_start_io(q, req, BE_OP_FLUSH, 0, 0, 0);
}

static int handle_get_id(struct blk_queue *q, struct blk_req *req, struct blk_req_parts *p)
{
	/*
	 * §5.2.6: the ID is 20 bytes, NUL-padded, with no terminator when it is
	 * 20 bytes long; the driver's buffer is 20 bytes. A shorter buffer cannot
	 * hold it; a longer one gets the 20 bytes.
	 */
	if (p->in_len < VIRTIO_BLK_ID_BYTES)
		return VIRTIO_BLK_S_IOERR;
	iov_from_buf(p->in, p->in_num, 0, q->d->serial, VIRTIO_BLK_ID_BYTES);
	req->used_len = VIRTIO_BLK_ID_BYTES + 1;
	return VIRTIO_BLK_S_OK;
}

/* Start the next non-empty segment; all done: OK. */
static void seg_next(struct blk_queue *q, struct blk_req *req)
{
	static const enum be_op ops[] = {
	    [VIRTIO_BLK_T_DISCARD] = BE_OP_DISCARD,
	    [VIRTIO_BLK_T_WRITE_ZEROES] = BE_OP_WRITE_ZEROES,
	    [VIRTIO_BLK_T_SECURE_ERASE] = BE_OP_SECURE_ERASE,
	};
	enum be_op op = ops[req->type];

	while (req->cur_seg < req->nseg) {
		const struct blk_req_seg *sg = &req->seg[req->cur_seg++];
		unsigned be_flags = 0;

		if (sg->num_sectors == 0)
			continue;
		if (op != BE_OP_DISCARD)
			be_flags |= write_flags(q);
		if (sg->flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			be_flags |= BE_IO_F_UNMAP;
		req_start_io(q, req, op, be_flags, sg->sector << VIRTIO_BLK_SECTOR_SHIFT,
			     (uint64_t)sg->num_sectors << VIRTIO_BLK_SECTOR_SHIFT);
		return;
	}
	req_complete(q, req, VIRTIO_BLK_S_OK);
}

/*
 * DISCARD, WRITE_ZEROES and SECURE_ERASE (§5.2.6): the payload is 1 to
 * max_*_seg segments of {le64 sector, le32 num_sectors, le32 flags}. Copied
 * once (no double fetch), every segment validated before any runs.
 */
static int handle_dwz(struct blk_queue *q, struct blk_req *req, struct blk_req_parts *p,
		      unsigned feature)
{
	struct virtio_blk_discard_write_zeroes raw[BLK_DWZ_MAX_SEG];
	unsigned n;

	/*
	 * §5.2.6.2: a device offering RO fails requests that would write with
	 * IOERR and writes nothing; these modify the medium as much as a write.
	 */
	if (q->d->ro)
		return VIRTIO_BLK_S_IOERR;
	if (!(q->d->features & VIRTIO_BIT(feature)))
		return VIRTIO_BLK_S_UNSUPP;
	if (p->in_len != 0)
		return VIRTIO_BLK_S_IOERR;
	/* §5.2.6.1: whole segments, at least one, at most max_*_seg of them. */
	if (p->out_len == 0 || p->out_len % sizeof(raw[0]) ||
	    p->out_len / sizeof(raw[0]) > BLK_DWZ_MAX_SEG)
		return VIRTIO_BLK_S_IOERR;
	n = (unsigned)(p->out_len / sizeof(raw[0]));
	iov_to_buf(p->out, p->out_num, 0, raw, n * sizeof(raw[0]));
	for (unsigned i = 0; i < n; i++) {
		req->seg[i].sector = vblk_le64_to_cpu(raw[i].sector);
		req->seg[i].num_sectors = vblk_le32_to_cpu(raw[i].num_sectors);
		req->seg[i].flags = vblk_le32_to_cpu(raw[i].flags);
		/*
		 * §5.2.6.2: UNSUPP for any unknown flag, and for unmap on a
		 * discard or secure erase (unmap only means something to write
		 * zeroes).
		 */
		if (req->seg[i].flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			return VIRTIO_BLK_S_UNSUPP;
		if (feature != VIRTIO_BLK_F_WRITE_ZEROES &&
		    (req->seg[i].flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
			return VIRTIO_BLK_S_UNSUPP;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct blk_req_seg *sg = &req->seg[i];

		/*
		 * §5.2.6.2: more than max_*_sectors, or out of range (checked
		 * before any shift, so no overflow), is IOERR; so is a segment
		 * not aligned to the logical block (as for reads and writes).
		 * discard_sector_alignment is only a hint (§5.2.4).
		 */
		if (sg->num_sectors > BLK_DWZ_MAX_SECTORS ||
		    !range_ok(q->d, sg->sector, sg->num_sectors) ||
		    !lbs_aligned(q->d, sg->sector, sg->num_sectors))
			return VIRTIO_BLK_S_IOERR;
	}
	req->nseg = n;
	req->cur_seg = 0;
	req->data = NULL;
	req->data_num = 0;
	seg_next(q, req);
	return REQ_ASYNC;
}

static int handle_discard(struct blk_queue *q, struct blk_req *req, struct blk_req_parts *p)
{
	return handle_dwz(q, req, p, VIRTIO_BLK_F_DISCARD);
}

static int handle_write_zeroes(struct blk_queue *q, struct blk_req *req, struct blk_req_parts *p)
{
	return handle_dwz(q, req, p, VIRTIO_BLK_F_WRITE_ZEROES);
}

static int handle_secure_erase(struct blk_queue *q, struct blk_req *req, struct blk_req_parts *p)
{
	return handle_dwz(q, req, p, VIRTIO_BLK_F_SECURE_ERASE);
}

/* §5.2.6: GET_LIFETIME needs VIRTIO_BLK_F_LIFETIME, which no backend can back. */
static int handle_get_lifetime(struct blk_queue *q, struct blk_req *req, struct blk_req_parts *p)
{
	return VIRTIO_BLK_S_UNSUPP;
}

static const struct {
	uint32_t type;
	blk_req_handler_fn *fn;
} blk_req_handlers[] = {
    {VIRTIO_BLK_T_IN, handle_in},
    {VIRTIO_BLK_T_OUT, handle_out},
    {VIRTIO_BLK_T_FLUSH, handle_flush},
    {VIRTIO_BLK_T_GET_ID, handle_get_id},
    {VIRTIO_BLK_T_DISCARD, handle_discard},
    {VIRTIO_BLK_T_WRITE_ZEROES, handle_write_zeroes},
    {VIRTIO_BLK_T_SECURE_ERASE, handle_secure_erase},
    {VIRTIO_BLK_T_GET_LIFETIME, handle_get_lifetime},
};

/* ---- requests ---------------------------------------------------------- */

bool blk_req_submit(struct blk_queue *q, struct blk_req *req)
{
	struct virtio_blk_outhdr hdr;
	struct blk_req_parts p;
	struct iovec *in = req->iov + req->out_num;
	unsigned in_num = req->in_num;
	int st = VIRTIO_BLK_S_UNSUPP;

	req->q = q;
	req->used_len = 1;
	req->data = NULL;
	req->data_num = 0;
	req->nseg = req->cur_seg = 0;

	/*
	 * §5.2.6: the status is the last device-writable byte, wherever the
	 * driver put the descriptor boundaries. Without one there is nowhere
	 * to report anything: framing error.
	 */
	while (in_num && in[in_num - 1].iov_len == 0)
		in_num--;
	if (in_num == 0) {
		req->status = NULL;
		return false;
	}
	req->status = (uint8_t *)in[in_num - 1].iov_base + in[in_num - 1].iov_len - 1;
	iov_discard_back(in, &in_num, 1);
	blk_stat_add(&q->st, BLK_STAT(in_flight), 1);
	req->t_start = queue_now(q);
	/* Counted as "other" until the header says what it is. */
	req->type = UINT32_MAX;
	req->bytes = 0;

	/* The header is the first 16 readable bytes; copy it once (no double fetch). */
	if (iov_to_buf(req->iov, req->out_num, 0, &hdr, sizeof(hdr)) < sizeof(hdr)) {
		req_complete(q, req, VIRTIO_BLK_S_IOERR);
		return true;
	}
	req->type = vblk_le32_to_cpu(hdr.type);
	req->sector = vblk_le64_to_cpu(hdr.sector);

	p.out = req->iov;
	p.out_num = req->out_num;
	iov_discard_front(&p.out, &p.out_num, sizeof(hdr));
	p.out_len = iov_size(p.out, p.out_num);
	p.in = in;
	p.in_num = in_num;
	p.in_len = iov_size(in, in_num);

	/* §5.2.6.2: an unknown type completes with UNSUPP. */
	for (unsigned i = 0; i < ARRAY_SIZE(blk_req_handlers); i++) {
		if (blk_req_handlers[i].type == req->type) {
			st = blk_req_handlers[i].fn(q, req, &p);
			break;
		}
	}
	if (st != REQ_ASYNC)
		req_complete(q, req, (uint8_t)st);
	return true;
}

/* ---- queues ------------------------------------------------------------ */

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* The one pollable fd: the note, the limit timer, and the backend's fd when it has one. */
static int queue_fd_init(struct blk_queue *q)
{
	int bfd = blk_stage_backend_fd(q->stq);
	int ret;

	q->poll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (q->poll_fd < 0)
		return -errno;
	ret = epoll_add(q->poll_fd, q->note.fd);
	if (ret == 0)
		ret = epoll_add(q->poll_fd, q->timer_fd);
	if (ret == 0 && bfd >= 0)
		ret = epoll_add(q->poll_fd, bfd);
	return ret;
}

int blk_queue_create(struct blk_dev *d, unsigned depth, blk_req_done_fn *done, void *opaque,
		     struct blk_queue **out)
{
	struct blk_queue *q;
	int ret;

	if (!d || !d->be || !done || !out)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->d = d;
	q->done = done;
	q->opaque = opaque;
	q->poll_fd = -1;
	q->timer_fd = -1;
	fifo_init(&q->throttled);
	q->note.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->note.fd < 0) {
		ret = -errno;
		goto err_destroy;
	}
	q->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (q->timer_fd < 0) {
		ret = -errno;
		goto err_destroy;
	}
	ret = blk_stage_queue_create(d, depth, &q->note, req_stage_done, &q->stq);
	if (ret < 0)
		goto err_destroy;
	ret = queue_fd_init(q);
	if (ret < 0)
		goto err_destroy;
	blk_stats_attach(q);
	*out = q;
	return 0;

err_destroy:
	blk_queue_destroy(q);
	return ret;
}

void blk_queue_destroy(struct blk_queue *q)
{
	if (!q)
		return;
	blk_stats_detach(q);
	/* The stage first: it may wait for another queue still signalling the note. */
	blk_stage_queue_destroy(q->stq);
	if (q->poll_fd >= 0)
		close(q->poll_fd);
	if (q->timer_fd >= 0)
		close(q->timer_fd);
	if (q->note.fd >= 0)
		close(q->note.fd);
	free(q);
}

void blk_queue_set_index(struct blk_queue *q, unsigned index)
{
	/* Read by blk_dev_stats under the list's lock. */
	pthread_mutex_lock(&q->d->stats_mu);
	q->index = index;
	pthread_mutex_unlock(&q->d->stats_mu);
}

int blk_queue_fd(struct blk_queue *q)
{
	return q->poll_fd;
}

/*
 * Results the backend had when the kick returned (a synchronous backend's,
 * the file backend's inline copies) complete here and now: no eventfd write,
 * epoll round and read per request, and the transport pushes them before it
 * interrupts the driver. The batch is what the caller submitted since its
 * last kick, which it bounds. Inside blk_queue_process (limit_release kicks)
 * they wait for its end.
 */
void blk_queue_kick(struct blk_queue *q)
{
	blk_stage_kick(q->stq);
	if (q->processing)
		return;
	q->now_ns = 0; /* the next batch reads the clock again */
	if (blk_stage_ready(q->stq))
		blk_queue_process(q);
}

void blk_queue_process(struct blk_queue *q)
{
	q->processing = true;
	q->now_ns = 0; /* this round's results: read when the first completes */
	blk_note_take(&q->note);
	blk_stage_process(q->stq);
	limit_release(q);
	q->processing = false;
	q->now_ns = 0;
	/*
	 * Results that became ready during this round (requests it let in):
	 * one more round through the note rather than a loop here, so a queue
	 * that keeps finding work still goes back to its poll set (stop
	 * requests, other fds) in between.
	 */
	if (blk_stage_ready(q->stq))
		blk_note_signal(&q->note);
}

void blk_queue_drain(struct blk_queue *q)
{
	q->draining = true;
	limit_release(q);
}

unsigned blk_queue_inflight(const struct blk_queue *q)
{
	return (unsigned)atomic_load_explicit(&q->st.w[BLK_STAT(in_flight)], memory_order_relaxed);
}
