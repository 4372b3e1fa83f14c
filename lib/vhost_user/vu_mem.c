/* SPDX-License-Identifier: MIT */
/*
 * The server's mappings of front-end memory: the guest memory table
 * (SET_MEM_TABLE, or one region at a time with ADD/REM_MEM_REG) and the
 * inflight region (GET/SET_INFLIGHT_FD); the dirty log (vu_log.c) is mapped
 * with the same helpers. Every
 * mapping is checked against its fd before it is made and guarded against
 * the fd shrinking afterwards (vu_guard.h).
 */
#include <errno.h>
#include <stdlib.h>
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

/* Unmap m (NULL or unmapped: nothing). */
void vu_map_drop(struct vu_map *m)
{
	if (!m)
		return;
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
 * Check one region the front end describes and map it from its fd, guarded.
 * The fd must hold mmap_offset + memory_size bytes now (vu_fd_covers); like
 * libvhost-user we map from offset 0, so mmap_offset needs no alignment.
 * Fills *vr for vq_mem_add. Returns 0, -EINVAL or -errno of mmap (logged).
 */
static int region_map(struct vu_server *srv, const struct vhost_user_memory_region *r, int fd,
		      const char *what, struct vu_map *map, struct vq_mem_region *vr)
{
	int ret;

	if (r->memory_size == 0 || r->mmap_offset > SIZE_MAX - r->memory_size) {
		log_warn("%s: bad size %#llx at offset %#llx", what,
			 (unsigned long long)r->memory_size, (unsigned long long)r->mmap_offset);
		return -EINVAL;
	}
	ret = vu_fd_covers(fd, r->mmap_offset + r->memory_size, what);
	if (ret)
		return ret;
	ret = vu_map_guarded(srv, fd, (size_t)(r->mmap_offset + r->memory_size), map);
	if (ret) {
		log_warn("%s: mmap: %s", what, strerror(-ret));
		return ret;
	}
	vr->gpa = r->guest_phys_addr;
	vr->uva = r->userspace_addr;
	vr->size = r->memory_size;
	vr->hva = (char *)map->addr + r->mmap_offset;
	return 0;
}

/*
 * The memory table changed: restart every ring that should run, each
 * re-checked against the new table (virtio 1.3 §2.7: its areas must lie in
 * guest memory). Returns 0 or -EFAULT when a ring no longer lies inside it.
 */
static int rings_restart(struct vu_server *srv)
{
	int ret = 0;

	for (unsigned i = 0; i < srv->nqueues; i++) {
		struct vu_queue *q = &srv->queues[i];
		struct vq_dev_areas areas;

		if (q->addr_set && q->num && srv->have_mem && vu_queue_map(q, &areas))
			ret = -EFAULT;
	}
	if (vu_queues_update(srv) && !ret)
		ret = -EFAULT;
	return ret;
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
	struct vu_map maps[VHOST_USER_MEMORY_BASELINE_NREGIONS];
	struct vq_mem *mem = calloc(1, sizeof(*mem));
	int ret = mem ? 0 : -ENOMEM;

	for (unsigned i = 0; i < VHOST_USER_MEMORY_BASELINE_NREGIONS; i++)
		maps[i] = (struct vu_map){.guard = -1};
	for (unsigned i = 0; i < m->nregions && !ret; i++) {
		struct vq_mem_region vr;

		ret = region_map(srv, &m->regions[i], fds[i], "SET_MEM_TABLE", &maps[i], &vr);
		if (!ret && vq_mem_add(mem, &vr)) {
			log_warn("SET_MEM_TABLE: region %u: overflows or overlaps another", i);
			ret = -EINVAL;
		}
	}
	if (ret)
		goto err_unmap;

	vu_queues_stop(srv);
	maps_unmap(srv->maps);
	srv->mem = *mem;
	memcpy(srv->maps, maps, sizeof(maps));
	srv->have_mem = true;
	free(mem);
	return rings_restart(srv);

err_unmap:
	for (unsigned i = 0; i < VHOST_USER_MEMORY_BASELINE_NREGIONS; i++)
		vu_map_drop(&maps[i]);
	free(mem);
	return ret;
}

/*
 * vhost-user.rst "VHOST_USER_ADD_MEM_REG": one more region, checked like a
 * SET_MEM_TABLE region and against the regions already there, then swapped
 * in with the queues stopped (stop, change, start: the ring indices survive,
 * so no request is lost or repeated). The fd is closed by the caller.
 * Returns 0, -EINVAL (bad, overlapping or overflowing region), -ENOSPC (the
 * table is full), or -errno of mmap. Rings that cannot start on the new
 * table are logged by their queue and wait for the next change.
 */
int vu_mem_add_region(struct vu_server *srv, const struct vhost_user_memory_region *r, int fd)
{
	struct vq_mem *mem;
	struct vq_mem_region vr;
	struct vu_map *slot = NULL;
	int ret;

	for (unsigned i = 0; i < VQ_MEM_MAX_REGIONS && !slot; i++)
		if (!srv->maps[i].addr)
			slot = &srv->maps[i];
	if (!slot || srv->mem.nregions >= VQ_MEM_MAX_REGIONS) {
		log_warn("ADD_MEM_REG: all %u memory slots are in use", VQ_MEM_MAX_REGIONS);
		return -ENOSPC;
	}
	mem = malloc(sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	*mem = srv->mem;
	ret = region_map(srv, r, fd, "ADD_MEM_REG", slot, &vr);
	if (ret)
		goto err_free;
	ret = vq_mem_add(mem, &vr);
	if (ret) {
		log_warn("ADD_MEM_REG: guest range %#llx+%#llx overflows or overlaps a region",
			 (unsigned long long)r->guest_phys_addr,
			 (unsigned long long)r->memory_size);
		goto err_unmap;
	}

	vu_queues_stop(srv);
	srv->mem = *mem;
	srv->have_mem = true;
	free(mem);
	log_info("memory region added: guest %#llx+%#llx (%u regions)",
		 (unsigned long long)r->guest_phys_addr, (unsigned long long)r->memory_size,
		 srv->mem.nregions);
	if (rings_restart(srv))
		log_warn("ADD_MEM_REG: a ring still lies outside guest memory");
	return 0;

err_unmap:
	vu_map_drop(slot);
err_free:
	free(mem);
	return ret;
}

/* The mapping that holds hva (one per region), or NULL. */
static struct vu_map *map_of(struct vu_server *srv, const void *hva)
{
	for (unsigned i = 0; i < VQ_MEM_MAX_REGIONS; i++) {
		struct vu_map *m = &srv->maps[i];

		if (m->addr && (const char *)hva >= (char *)m->addr &&
		    (const char *)hva < (char *)m->addr + m->len)
			return m;
	}
	return NULL;
}

/*
 * vhost-user.rst "VHOST_USER_REM_MEM_REG": the region with this guest
 * address, front-end address and size (mmap_offset is ignored) is unmapped,
 * with the queues stopped around the change. Returns 0 or -ENOENT when no
 * region matches. A ring that lay in the region stays stopped, its indices
 * kept, until a region holds it again.
 */
int vu_mem_rem_region(struct vu_server *srv, const struct vhost_user_memory_region *r)
{
	struct vq_mem *mem = malloc(sizeof(*mem));
	struct vq_mem_region gone;

	if (!mem)
		return -ENOMEM;
	*mem = srv->mem;
	if (vq_mem_remove(mem, r->guest_phys_addr, r->userspace_addr, r->memory_size, &gone)) {
		log_warn("REM_MEM_REG: no region at guest %#llx, address %#llx, of %#llx bytes",
			 (unsigned long long)r->guest_phys_addr,
			 (unsigned long long)r->userspace_addr, (unsigned long long)r->memory_size);
		free(mem);
		return -ENOENT;
	}

	vu_queues_stop(srv);
	srv->mem = *mem;
	srv->have_mem = mem->nregions > 0;
	free(mem);
	vu_map_drop(map_of(srv, gone.hva));
	log_info("memory region removed: guest %#llx+%#llx (%u regions)",
		 (unsigned long long)gone.gpa, (unsigned long long)gone.size, srv->mem.nregions);
	if (rings_restart(srv))
		log_warn("REM_MEM_REG: a ring lay in the region; it waits for guest memory");
	return 0;
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
