/* SPDX-License-Identifier: MIT */
/*
 * The server's mappings of front-end memory: the guest memory table
 * (SET_MEM_TABLE) and the inflight region (GET/SET_INFLIGHT_FD); the dirty
 * log (vu_log.c) is mapped with the same helpers. Every
 * mapping is checked against its fd before it is made and guarded against
 * the fd shrinking afterwards (vu_guard.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "internal/log.h"
#include "vu_server_priv.h"

/*
 * A front end's fd is about to be mapped for [0, end). mmap succeeds past the
 * end of a file and the first touch of those pages raises SIGBUS, so only a
 * regular file (memfd, hugetlbfs, shm) holding at least end bytes now is
 * accepted. A file that shrinks later is vu_guard's job.
 * Returns 0 or -EINVAL, logged.
 */
int vu_fd_covers(int fd, uint64_t end, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < end) {
		log_warn("%s: the fd is not a file of at least %llu bytes", what,
			 (unsigned long long)end);
		return -EINVAL;
	}
	return 0;
}

/* Map [0, len) of fd shared and guard it. Returns 0 or -errno. */
int vu_map_guarded(struct vu_server *srv, int fd, size_t len, struct vu_map *m)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	m->guard = vu_guard_add(p, len, &srv->mem_fault, srv->fault_fd);
	if (m->guard < 0) {
		munmap(p, len);
		return m->guard;
	}
	m->addr = p;
	m->len = len;
	return 0;
}

void vu_map_drop(struct vu_map *m)
{
	if (m->addr) {
		vu_guard_del(m->guard);
		munmap(m->addr, m->len);
	}
	m->addr = NULL;
	m->len = 0;
	m->guard = -1;
}

static void maps_unmap(struct vu_map *maps)
{
	for (unsigned i = 0; i < VQ_MEM_MAX_REGIONS; i++)
		vu_map_drop(&maps[i]);
}

void vu_mem_drop(struct vu_server *srv)
{
	maps_unmap(srv->maps);
	memset(&srv->mem, 0, sizeof(srv->mem));
	srv->have_mem = false;
}

/*
 * vhost-user.rst "VHOST_USER_SET_MEM_TABLE": m->nregions regions (dispatch
 * has checked the count against the payload and the fds), one fd each,
 * mapped at mmap_offset within the fd. The new table is built and checked
 * completely before the running queues are stopped, switched over and
 * restarted, so a bad table leaves the old one in service. The fds are
 * closed by the caller. Returns 0, -EINVAL for a table we refuse, -EFAULT
 * when a ring no longer lies inside the new table, or -errno of mmap.
 */
int vu_mem_set_table(struct vu_server *srv, const struct vhost_user_memory *m, int *fds)
{
	struct vu_map maps[VQ_MEM_MAX_REGIONS];
	struct vq_mem mem;
	int ret;

	memset(&mem, 0, sizeof(mem));
	for (unsigned i = 0; i < VQ_MEM_MAX_REGIONS; i++)
		maps[i] = (struct vu_map){.guard = -1};
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct vhost_user_memory_region *r = &m->regions[i];
		struct vq_mem_region vr;

		if (r->memory_size == 0 || r->mmap_offset > SIZE_MAX - r->memory_size) {
			log_warn("SET_MEM_TABLE: region %u: bad size/offset", i);
			ret = -EINVAL;
			goto err_unmap;
		}
		ret = vu_fd_covers(fds[i], r->mmap_offset + r->memory_size, "SET_MEM_TABLE");
		if (ret)
			goto err_unmap;
		/* Like libvhost-user: map from offset 0 so mmap_offset needs no alignment. */
		ret = vu_map_guarded(srv, fds[i], (size_t)(r->mmap_offset + r->memory_size),
				     &maps[i]);
		if (ret) {
			log_warn("SET_MEM_TABLE: region %u: mmap: %s", i, strerror(-ret));
			goto err_unmap;
		}
		vr.gpa = r->guest_phys_addr;
		vr.uva = r->userspace_addr;
		vr.size = r->memory_size;
		vr.hva = (char *)maps[i].addr + r->mmap_offset;
		ret = vq_mem_add(&mem, &vr);
		if (ret) {
			log_warn("SET_MEM_TABLE: region %u: overflows or overlaps another", i);
			goto err_unmap;
		}
	}

	vu_queues_stop(srv);
	maps_unmap(srv->maps);
	srv->mem = mem;
	memcpy(srv->maps, maps, sizeof(maps));
	srv->have_mem = true;

	/* virtio 1.3 §2.7 / vhost-user.rst: every ring is re-checked against the new table. */
	ret = 0;
	for (unsigned i = 0; i < srv->nqueues; i++) {
		struct vu_queue *q = &srv->queues[i];
		struct vq_dev_areas areas;

		if (q->addr_set && q->num && vu_queue_map(q, &areas))
			ret = -EFAULT;
	}
	if (vu_queues_update(srv) && !ret)
		ret = -EFAULT;
	return ret;

err_unmap:
	maps_unmap(maps);
	return ret;
}

/* Forget the inflight region; the caller has stopped every queue that used it. */
void vu_inflight_drop(struct vu_server *srv)
{
	vu_map_drop(&srv->inflight.map);
	memset(&srv->inflight, 0, sizeof(srv->inflight));
	srv->inflight.map.guard = -1;
}

/*
 * Map [0, offset + size) of fd (so offset needs no page alignment, like the
 * memory table) and make it the connection's inflight region, restarting
 * the queues on it. Returns 0 or -errno of mmap.
 */
int vu_inflight_install(struct vu_server *srv, int fd, uint64_t offset, uint64_t size,
			uint16_t num_queues, uint16_t queue_size, bool packed)
{
	struct vu_map map;
	int ret = vu_map_guarded(srv, fd, (size_t)(offset + size), &map);

	if (ret)
		return ret;
	vu_queues_stop(srv);
	vu_inflight_drop(srv);
	srv->inflight.map = map;
	srv->inflight.base = (uint8_t *)map.addr + offset;
	srv->inflight.stride = vq_dev_inflight_size_ring(queue_size, packed);
	srv->inflight.packed = packed;
	srv->inflight.num_queues = num_queues;
	srv->inflight.queue_size = queue_size;
	/* A queue that cannot start on it says so itself; the region stays. */
	vu_queues_update(srv);
	return 0;
}
