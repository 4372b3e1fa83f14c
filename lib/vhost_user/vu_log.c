/* SPDX-License-Identifier: MIT */
/*
 * Dirty logging for live migration (QEMU docs/interop/vhost-user.rst
 * "Migration", "Dirty page logging"): the log the front end shares with
 * SET_LOG_BASE, and the marks a queue thread makes in it while
 * VHOST_F_LOG_ALL is negotiated.
 *
 * The rules we keep:
 *  - one bit per VHOST_LOG_PAGE (4 KiB) of guest physical memory, bit index
 *    gpa / 4096, set with an atomic OR (the front end clears bits while we
 *    set others in the same byte);
 *  - a page is marked after the device wrote it: the front end clears a bit
 *    and then copies the page, so a mark made before the write could let it
 *    copy the old contents and forget the page;
 *  - request payloads and status bytes are marked before the used index that
 *    publishes them; the used ring right after it is written;
 *  - the front end reads the log for the last time after the GET_VRING_BASE
 *    reply, so a queue stops only once everything it popped is completed,
 *    pushed and marked (vu_queue_stop), and it writes nothing after that;
 *  - a ring never runs with VHOST_F_LOG_ALL on and no log to mark: its
 *    writes would be lost to the migration. It waits for SET_LOG_BASE.
 *
 * The log is control-thread state; each queue takes a copy of what it needs
 * at start (struct vu_queue_log), and the log is only replaced while the
 * queues are stopped ("stop, change, start").
 */
#include <errno.h>
#include <string.h>

#include <vblk/spec/vhost_user.h>

#include "internal/log.h"
#include "vu_server_priv.h"

/*
 * A log of this many bytes covers 2^55 bytes of guest memory; anything
 * larger is not a log a front end means.
 */
#define VU_LOG_MAX_SIZE (UINT64_C(1) << 40)

bool vu_log_all(const struct vu_server *srv)
{
	return srv->features & VIRTIO_BIT(VHOST_F_LOG_ALL);
}

void vu_log_drop(struct vu_server *srv)
{
	vu_map_drop(&srv->log.map);
	srv->log.base = NULL;
	srv->log.size = 0;
}

/*
 * vhost-user.rst "VHOST_USER_SET_LOG_BASE": map size bytes at offset of fd
 * (from offset 0, so the offset needs no page alignment) and make it the
 * log, replacing the previous one; the queues are stopped around the
 * switch, so every mark made so far went to the log the front end still
 * reads. A log we cannot take leaves none: a ring with VHOST_F_LOG_ALL then
 * waits rather than write pages nobody would migrate.
 * Returns 0, -EINVAL (refused, logged) or -errno of mmap.
 */
int vu_log_install(struct vu_server *srv, int fd, uint64_t size, uint64_t offset)
{
	struct vu_map map = {.guard = -1};
	int ret;

	if (size == 0 || size > VU_LOG_MAX_SIZE || offset > SIZE_MAX - size) {
		log_warn("SET_LOG_BASE: %llu bytes at offset %llu", (unsigned long long)size,
			 (unsigned long long)offset);
		ret = -EINVAL;
		goto err_drop_old;
	}
	ret = vu_fd_covers(fd, offset + size, "SET_LOG_BASE");
	if (!ret)
		ret = vu_map_guarded(srv, fd, (size_t)(offset + size), &map);
	if (ret)
		goto err_drop_old;
	vu_queues_stop(srv);
	vu_log_drop(srv);
	srv->log.map = map;
	srv->log.base = (uint8_t *)map.addr + offset;
	srv->log.size = size;
	log_info("dirty log: %llu bytes (guest memory up to %llu MiB)", (unsigned long long)size,
		 (unsigned long long)(size * 8 * VHOST_LOG_PAGE >> 20));
	return vu_queues_update(srv);

err_drop_old:
	vu_queues_stop(srv);
	vu_log_drop(srv);
	vu_queues_update(srv);
	return ret;
}

/* Mark the pages of guest range [gpa, gpa+len) dirty (queue thread). */
static void log_gpa(struct vu_queue_log *l, uint64_t gpa, uint64_t len)
{
	uint64_t first, last;

	if (len == 0)
		return;
	first = gpa / VHOST_LOG_PAGE;
	/* A range that wraps is clamped to the top of the address space. */
	last = (len - 1 > UINT64_MAX - gpa ? UINT64_MAX : gpa + len - 1) / VHOST_LOG_PAGE;
	for (uint64_t page = first; page <= last; page++) {
		if (page / 8 >= l->size) {
			/* The front end sized its log for less memory than it gave us. */
			if (!l->warned)
				log_warn("dirty log: page %#llx is beyond the %llu-byte log",
					 (unsigned long long)page, (unsigned long long)l->size);
			l->warned = true;
			return;
		}
		/*
		 * Seq-cst like the front end's own atomics: orders the device's
		 * write of the page (earlier) before the bit the front end reads.
		 */
		__atomic_fetch_or(&l->bitmap[page / 8], (uint8_t)(1u << (page % 8)),
				  __ATOMIC_SEQ_CST);
	}
}

/*
 * Fix what q logs for this run: nothing unless VHOST_F_LOG_ALL is on (and
 * then vu_queue_update has made sure there is a log); the used ring only
 * when SET_VRING_ADDR asked for it with VHOST_VRING_F_LOG.
 */
void vu_log_queue_start(struct vu_queue *q, const struct vq_dev_areas *areas)
{
	const struct vu_server *srv = q->srv;
	struct vu_queue_log *l = &q->log;

	memset(l, 0, sizeof(*l));
	if (!vu_log_all(srv) || !srv->log.base)
		return;
	l->bitmap = srv->log.base;
	l->size = srv->log.size;
	if (!(q->addr_flags & VIRTIO_BIT(VHOST_VRING_F_LOG)))
		return;
	if (q->vq.packed) {
		/*
		 * §2.8: the device writes used elements into the descriptor
		 * ring, and its event suppression area (log_guest_addr, which
		 * QEMU sets to the device area of a packed ring).
		 */
		l->ring_len[0] = 4;
		if (!vq_mem_hva_to_gpa(&srv->mem, areas->desc, (uint64_t)q->num * 16,
				       &l->ring_gpa[1]))
			l->ring_len[1] = (uint64_t)q->num * 16;
	} else {
		/* §2.7.8: flags, idx, num elements, avail_event. */
		l->ring_len[0] = 4 + (uint64_t)q->num * 8 + 2;
	}
	l->ring_gpa[0] = q->log_guest_addr;
}

/* The queue's ring writes (used ring, event areas): after they are made. */
void vu_log_ring(struct vu_queue *q)
{
	struct vu_queue_log *l = &q->log;

	if (!l->bitmap)
		return;
	for (unsigned i = 0; i < 2; i++)
		log_gpa(l, l->ring_gpa[i], l->ring_len[i]);
}

/*
 * The queue thread has exited after draining: mark the ring once more,
 * for the flag and event writes no push followed.
 */
void vu_log_queue_stop(struct vu_queue *q)
{
	vu_log_ring(q);
	memset(&q->log, 0, sizeof(q->log));
}

void vu_queue_log_write(struct vu_queue *q, const struct iovec *iov, unsigned n)
{
	struct vu_queue_log *l = &q->log;

	if (!l->bitmap)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa;

		if (iov[i].iov_len == 0)
			continue;
		/* Every iovec vq_dev made lies inside one region of q's table. */
		if (vq_mem_hva_to_gpa(&q->srv->mem, iov[i].iov_base, iov[i].iov_len, &gpa)) {
			vu_queue_set_broken(q, "a written buffer is not in guest memory");
			continue;
		}
		log_gpa(l, gpa, iov[i].iov_len);
	}
}
