/* SPDX-License-Identifier: MIT */
/*
 * nbdkit-vblk-plugin: serve one vhost-user-blk device over NBD, through the
 * public libvblk API, so that NBD tools (qemu-img, nbdcopy, nbdinfo, fio's
 * nbd engine, nbdfuse) reach any vhost-user-blk socket.
 *
 *   nbdkit vblk socket=/path/to.sock [queues=N] [packed=1]
 *
 * One device for the whole process: a vhost-user back end serves one
 * front end at a time (vblkd and qemu-storage-daemon both), so NBD
 * connections cannot each open their own. The device is opened in
 * .after_fork and closed in .cleanup; every NBD connection shares it.
 *
 * Threads and queues: nbdkit runs requests in parallel (thread model
 * PARALLEL). A libvblk queue is driven by one thread at a time, so each
 * nbdkit thread is bound, on its first request, to the queue with the
 * fewest threads bound to it (a thread-specific key, released when the
 * thread exits). With at most as many threads as queues every thread has
 * its own queue; beyond that threads share, and the queue's mutex
 * serialises them. The binding lasts for the thread's life.
 *
 * Data: libvblk's back end reads and writes only memory from
 * vblk_buf_alloc() (the zero-copy pool), so each queue owns one pool
 * buffer and NBD data are copied through it, split into requests of at
 * most the device's max_transfer that are all in flight at once.
 *
 * State: nbdkit's plugin API has no process-wide handle, so the
 * configuration and the open device live in one static struct (plugin_state
 * below), written during configuration and .after_fork, which run before any
 * connection, and only read afterwards except for the locks it holds.
 */
#define NBDKIT_API_VERSION 2
#define THREAD_MODEL	   NBDKIT_THREAD_MODEL_PARALLEL

#include <errno.h>
#include <inttypes.h>
#include <nbdkit-plugin.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vblk/vblk.h>

/* Pool buffer per queue: the most data one queue moves in one round trip. */
#define SLOT_BUF_BYTES ((size_t)4 << 20)
/* Completions reaped per vblk_queue_wait() call. */
#define REAP_BATCH 32
/* NBD requests are split above this (advertised as the maximum block size). */
#define MAX_NBD_REQUEST ((uint32_t)32 << 20)

/* One libvblk queue and the pool buffer NBD data cross it through. */
struct slot {
	pthread_mutex_t lock; /* held while a thread drives q (libvblk: one thread per queue) */
	struct vblk_queue *q;
	uint8_t *buf;	/* SLOT_BUF_BYTES from vblk_buf_alloc() */
	unsigned users; /* threads bound to this slot; under plugin_state.bind_lock */
};

static struct {
	/* From .config; fixed once .config_complete has run. */
	char *socket;
	unsigned queues;
	bool packed;
	/* From .after_fork to .cleanup. */
	struct vblk *dev;
	struct vblk_info info;
	struct slot *slots;
	unsigned nslots;
	pthread_mutex_t bind_lock; /* protects slot.users and thread binding */
	pthread_key_t slot_key;	   /* the calling thread's struct slot */
	bool key_created;
} plugin_state = {.bind_lock = PTHREAD_MUTEX_INITIALIZER};

/* libvblk never prints: its messages about the device go to nbdkit's log. */
static void log_msg(void *opaque, int level, const char *msg)
{
	if (level == VBLK_MSG_ERROR)
		nbdkit_error("vblk: %s", msg);
	else
		nbdkit_debug("vblk: %s", msg);
}

static void vblk_unload(void)
{
	free(plugin_state.socket);
	plugin_state.socket = NULL;
}

static int vblk_config(const char *key, const char *value)
{
	if (strcmp(key, "socket") == 0) {
		free(plugin_state.socket);
		plugin_state.socket = nbdkit_absolute_path(value);
		return plugin_state.socket ? 0 : -1;
	}
	if (strcmp(key, "queues") == 0) {
		if (nbdkit_parse_unsigned("queues", value, &plugin_state.queues) == -1)
			return -1;
		if (plugin_state.queues == 0) {
			nbdkit_error("queues must be at least 1");
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "packed") == 0) {
		int b = nbdkit_parse_bool(value);
		if (b == -1)
			return -1;
		plugin_state.packed = b;
		return 0;
	}
	nbdkit_error("unknown parameter '%s'", key);
	return -1;
}

static int vblk_config_complete(void)
{
	if (!plugin_state.socket) {
		nbdkit_error(
		    "the socket parameter is required: socket=/path/to/vhost-user-blk.sock");
		return -1;
	}
	if (!plugin_state.queues)
		plugin_state.queues = 1;
	return 0;
}

#define vblk_config_help                                                                           \
	"socket=<PATH>     (required) vhost-user-blk socket of the back end.\n"                    \
	"queues=<N>        virtqueues to use, one per nbdkit thread (default 1).\n"                \
	"packed=<BOOL>     use packed virtqueues (the back end must offer them)."

/* Release a thread's binding when it exits (pthread_key_create destructor). */
static void slot_unbind(void *p)
{
	struct slot *s = p;

	pthread_mutex_lock(&plugin_state.bind_lock);
	s->users--;
	pthread_mutex_unlock(&plugin_state.bind_lock);
}

static void close_device(void)
{
	if (plugin_state.key_created) {
		/* Destructors are not run after this, so none touches a freed slot. */
		pthread_key_delete(plugin_state.slot_key);
		plugin_state.key_created = false;
	}
	for (unsigned i = 0; i < plugin_state.nslots; i++)
		pthread_mutex_destroy(&plugin_state.slots[i].lock);
	free(plugin_state.slots);
	plugin_state.slots = NULL;
	plugin_state.nslots = 0;
	vblk_close(plugin_state.dev); /* frees the pool buffers too */
	plugin_state.dev = NULL;
}

/*
 * Open the device once for the process. In .after_fork rather than
 * .get_ready: a back end serves one client, and the connection (with its
 * memory table and queue fds) must belong to the process that serves.
 */
static int vblk_after_fork(void)
{
	struct vblk_options o = {
	    .num_queues = plugin_state.queues,
	    /* Each queue's buffer, plus room for libvblk's own bounce buffers. */
	    .buffer_size = (size_t)plugin_state.queues * SLOT_BUF_BYTES + SLOT_BUF_BYTES,
	    .flags = plugin_state.packed ? VBLK_OPEN_PACKED_RING : 0,
	    .log_fn = log_msg,
	};
	int ret;

	ret = vblk_open(plugin_state.socket, &o, &plugin_state.dev);
	if (ret) {
		/* log_fn has already given vblk_get_error()'s sentence. */
		nbdkit_error("cannot open %s: %s", plugin_state.socket, strerror(-ret));
		plugin_state.dev = NULL;
		return -1;
	}
	vblk_get_info(plugin_state.dev, &plugin_state.info);

	ret = pthread_key_create(&plugin_state.slot_key, slot_unbind);
	if (ret) {
		nbdkit_error("pthread_key_create: %s", strerror(ret));
		goto err_close_device;
	}
	plugin_state.key_created = true;
	plugin_state.slots = calloc(plugin_state.info.num_queues, sizeof(*plugin_state.slots));
	if (!plugin_state.slots) {
		nbdkit_error("calloc: %m");
		goto err_close_device;
	}
	for (unsigned i = 0; i < plugin_state.info.num_queues; i++) {
		struct slot *s = &plugin_state.slots[i];
		s->q = vblk_get_queue(plugin_state.dev, i);
		s->buf = vblk_buf_alloc(plugin_state.dev, SLOT_BUF_BYTES);
		if (!s->q || !s->buf) {
			nbdkit_error("cannot set up queue %u of %s", i, plugin_state.socket);
			goto err_close_device;
		}
		pthread_mutex_init(&s->lock, NULL);
		plugin_state.nslots = i + 1;
	}
	nbdkit_debug("vblk: %s: %" PRIu64 " bytes, block %" PRIu32 ", %u queue(s) of %u, "
		     "features 0x%" PRIx64 "%s%s",
		     plugin_state.socket, plugin_state.info.capacity,
		     plugin_state.info.logical_block_size, plugin_state.info.num_queues,
		     plugin_state.info.max_queues, plugin_state.info.features,
		     plugin_state.info.read_only ? ", read-only" : "",
		     plugin_state.info.writeback ? ", write-back cache" : ", write-through");
	return 0;

err_close_device:
	close_device();
	return -1;
}

static void vblk_cleanup(void)
{
	close_device();
}

/* Every connection shares the one device: the handle carries nothing. */
static void *vblk_nbd_open(int readonly)
{
	if (!plugin_state.dev) {
		nbdkit_error("the vhost-user-blk device is not open");
		return NULL;
	}
	return &plugin_state;
}

static int64_t vblk_get_size(void *handle)
{
	return (int64_t)plugin_state.info.capacity;
}

static bool negotiated(unsigned bit)
{
	return plugin_state.info.features & VBLK_F_MASK(bit);
}

static int vblk_can_write(void *handle)
{
	return !plugin_state.info.read_only;
}

/*
 * Always: on a device without a volatile write cache a write is durable
 * when it completes (virtio 1.3 §5.2.6.2), so flush has nothing to do and
 * libvblk completes it at once.
 */
static int vblk_can_flush(void *handle)
{
	return 1;
}

/*
 * Write-through device: every completed write is durable (virtio 1.3
 * §5.2.6.2), so FUA costs nothing and is native. Write-back cache: virtio-blk
 * has no per-request FUA, so nbdkit emulates it with a flush after the write.
 */
static int vblk_can_fua(void *handle)
{
	return plugin_state.info.writeback ? NBDKIT_FUA_EMULATE : NBDKIT_FUA_NATIVE;
}

static int vblk_can_trim(void *handle)
{
	return !plugin_state.info.read_only && negotiated(VBLK_F_DISCARD);
}

/*
 * Zero requests are advertised either way; without VIRTIO_BLK_F_WRITE_ZEROES
 * (false here) nbdkit serves them by writing zeroes with .pwrite.
 */
static int vblk_can_zero(void *handle)
{
	return negotiated(VBLK_F_WRITE_ZEROES);
}

/*
 * Advertised so that clients ask, and always refused (the NBD rule allows
 * it): virtio-blk cannot tell whether a device's write zeroes is faster than
 * writing the zeroes, so the honest answer is a fast failure.
 */
static int vblk_can_fast_zero(void *handle)
{
	return 1;
}

/*
 * Multi-conn rule: always safe here. Every NBD connection of this process
 * drives the same virtio-blk device (one vhost-user connection), and a
 * virtio-blk FLUSH covers every write the device completed before it
 * (virtio 1.3 §5.2.6.2), whichever queue carried it, so a flush or FUA on
 * one connection makes the writes of all connections durable; reads on any
 * queue see every completed write. This would not hold if connections
 * opened separate devices with caches of their own, which they do not.
 */
static int vblk_can_multi_conn(void *handle)
{
	return 1;
}

/*
 * Extents are not implemented: nbdkit then reports the whole device as
 * allocated data. virtio-blk has no request that reports allocation (virtio
 * 1.3 §5.2.6 lists read, write, flush, get-id, discard, write zeroes, secure
 * erase and zoned commands only), so the device cannot tell.
 */

/* Cache requests: nbdkit emulates them with .pread, which warms the back end too. */
static int vblk_can_cache(void *handle)
{
	return NBDKIT_CACHE_EMULATE;
}

/*
 * Offsets and lengths must be whole logical blocks (libvblk refuses
 * others with EINVAL); nbdkit's blocksize filter serves clients that
 * ignore these limits.
 */
static int vblk_block_size(void *handle, uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
	uint32_t pref = plugin_state.info.physical_block_size;

	*minimum = plugin_state.info.logical_block_size;
	if (pref < 4096)
		pref = 4096;
	*preferred = pref < *minimum ? *minimum : pref;
	*maximum = MAX_NBD_REQUEST;
	return 0;
}

/* The calling thread's slot, bound on first use to the least shared one. */
static struct slot *thread_slot(void)
{
	struct slot *s = pthread_getspecific(plugin_state.slot_key);

	if (s)
		return s;
	pthread_mutex_lock(&plugin_state.bind_lock);
	s = &plugin_state.slots[0];
	for (unsigned i = 1; i < plugin_state.nslots; i++)
		if (plugin_state.slots[i].users < s->users)
			s = &plugin_state.slots[i];
	s->users++;
	pthread_mutex_unlock(&plugin_state.bind_lock);
	if (pthread_setspecific(plugin_state.slot_key, s) != 0) {
		/* No binding recorded: hand the count back, use the slot this once. */
		slot_unbind(s);
	}
	return s;
}

static struct slot *slot_lock(void)
{
	struct slot *s = thread_slot();

	pthread_mutex_lock(&s->lock);
	return s;
}

static void slot_unlock(struct slot *s)
{
	pthread_mutex_unlock(&s->lock);
}

/*
 * Report a libvblk failure to nbdkit. NBD has a small set of error codes:
 * a back end that went away (-ENOTCONN) or answered nonsense (-EPROTO) is
 * an I/O error to the client.
 */
static int fail(int ret, const char *what, uint32_t count, uint64_t offset)
{
	int err = -ret;

	nbdkit_error("%s of %" PRIu32 " bytes at %" PRIu64 ": %s", what, count, offset,
		     strerror(err));
	if (err == ENOTCONN || err == EPROTO)
		err = EIO;
	nbdkit_set_error(err);
	return -1;
}

/*
 * Wait until at most keep requests are pending on q. The first failed
 * completion is left in *first_err (if it holds 0). Returns 0, or -errno
 * when the queue can report nothing more (broken or disconnected).
 */
static int drain(struct vblk_queue *q, unsigned keep, int *first_err)
{
	struct vblk_completion c[REAP_BATCH];

	while (vblk_queue_pending(q) > keep) {
		int n = vblk_queue_wait(q, c, REAP_BATCH, -1);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++)
			if (c[i].ret && !*first_err)
				*first_err = c[i].ret;
	}
	return 0;
}

/*
 * Move len bytes (at most SLOT_BUF_BYTES) between s->buf and the device at
 * offset: every max_transfer-sized piece is submitted before any is waited
 * for. A queue that is full (-EAGAIN) takes more once one completes.
 */
static int slot_round(struct slot *s, bool write, uint64_t offset, size_t len)
{
	size_t chunk = plugin_state.info.max_transfer, pos = 0;
	int err = 0, ret;

	while (pos < len && !err) {
		size_t n = len - pos < chunk ? len - pos : chunk;
		ret = write ? vblk_queue_write(s->q, offset + pos, s->buf + pos, n, NULL)
			    : vblk_queue_read(s->q, offset + pos, s->buf + pos, n, NULL);
		if (ret == -EAGAIN && vblk_queue_pending(s->q) > 0) {
			ret = drain(s->q, vblk_queue_pending(s->q) - 1, &err);
			if (ret)
				return ret;
			continue;
		}
		if (ret)
			err = ret;
		else
			pos += n;
	}
	ret = drain(s->q, 0, &err);
	return err ? err : ret;
}

static int slot_rw(struct slot *s, bool write, void *buf, uint32_t count, uint64_t offset)
{
	for (size_t done = 0; done < count;) {
		size_t n = count - done < SLOT_BUF_BYTES ? count - done : SLOT_BUF_BYTES;
		int ret;
		if (write)
			memcpy(s->buf, (uint8_t *)buf + done, n);
		ret = slot_round(s, write, offset + done, n);
		if (ret)
			return ret;
		if (!write)
			memcpy((uint8_t *)buf + done, s->buf, n);
		done += n;
	}
	return 0;
}

static int vblk_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
	struct slot *s = slot_lock();
	int ret = slot_rw(s, false, buf, count, offset);

	slot_unlock(s);
	return ret ? fail(ret, "read", count, offset) : 0;
}

/* NBDKIT_FLAG_FUA reaches here only from a write-through device (see vblk_can_fua). */
static int vblk_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset,
		       uint32_t flags)
{
	struct slot *s = slot_lock();
	int ret = slot_rw(s, true, (void *)buf, count, offset);

	slot_unlock(s);
	return ret ? fail(ret, "write", count, offset) : 0;
}

static int vblk_nbd_flush(void *handle, uint32_t flags)
{
	struct slot *s = slot_lock();
	int ret = vblk_flush(s->q);

	slot_unlock(s);
	/* Also the flush that emulates FUA, which nbdkit's own trace does not show. */
	nbdkit_debug("vblk: device flush: %d", ret);
	return ret ? fail(ret, "flush", 0, 0) : 0;
}

static int vblk_trim(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
	struct slot *s = slot_lock();
	int ret = vblk_discard(s->q, offset, count);

	slot_unlock(s);
	nbdkit_debug("vblk: discard %" PRIu32 " bytes at %" PRIu64 ": %d", count, offset, ret);
	return ret ? fail(ret, "discard", count, offset) : 0;
}

/*
 * NBD write zeroes: the device may deallocate only when the client allows
 * holes (no NO_HOLE flag, i.e. NBDKIT_FLAG_MAY_TRIM), which is the
 * virtio-blk unmap flag (virtio 1.3 §5.2.6: reads return zeroes either
 * way). A device that refuses the command (-ENOTSUP) lets nbdkit fall back
 * to writing zeroes with .pwrite.
 */
static int vblk_zero(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
	unsigned vflags = (flags & NBDKIT_FLAG_MAY_TRIM) ? VBLK_WRITE_ZEROES_UNMAP : 0;
	struct slot *s;
	int ret;

	if (flags & NBDKIT_FLAG_FAST_ZERO) {
		nbdkit_set_error(ENOTSUP); /* see vblk_can_fast_zero */
		return -1;
	}
	s = slot_lock();
	ret = vblk_write_zeroes(s->q, offset, count, vflags);
	slot_unlock(s);
	nbdkit_debug("vblk: write zeroes %" PRIu32 " bytes at %" PRIu64 " unmap=%d: %d", count,
		     offset, vflags ? 1 : 0, ret);
	if (ret == -ENOTSUP) {
		nbdkit_set_error(ENOTSUP);
		return -1;
	}
	return ret ? fail(ret, "write zeroes", count, offset) : 0;
}

static struct nbdkit_plugin plugin = {
    .name = "vblk",
    .longname = "nbdkit vhost-user-blk plugin (libvblk)",
    .version = VBLK_PLUGIN_VERSION,
    .description = "Serve a vhost-user-blk device (vblkd, qemu-storage-daemon, ...) over NBD",
    .unload = vblk_unload,
    .config = vblk_config,
    .config_complete = vblk_config_complete,
    .config_help = vblk_config_help,
    .magic_config_key = "socket",
    .after_fork = vblk_after_fork,
    .cleanup = vblk_cleanup,
    .open = vblk_nbd_open,
    .get_size = vblk_get_size,
    .block_size = vblk_block_size,
    .can_write = vblk_can_write,
    .can_flush = vblk_can_flush,
    .can_fua = vblk_can_fua,
    .can_trim = vblk_can_trim,
    .can_zero = vblk_can_zero,
    .can_fast_zero = vblk_can_fast_zero,
    .can_multi_conn = vblk_can_multi_conn,
    .can_cache = vblk_can_cache,
    .pread = vblk_pread,
    .pwrite = vblk_pwrite,
    .flush = vblk_nbd_flush,
    .trim = vblk_trim,
    .zero = vblk_zero,
    .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
