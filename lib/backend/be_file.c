/* SPDX-License-Identifier: MIT */
/*
 * File backend: a regular file or a block device driven by io_uring. This
 * file opens and closes it (locking the image, probing size, O_DIRECT
 * alignment and what discard / write-zeroes / secure erase it can do),
 * creates its queues and holds the ops table.
 *
 * Each be_queue owns one io_uring and an eventfd registered with it
 * (io_uring_register_eventfd), which is the queue's pollable fd. Reads and
 * writes go straight from/to the caller's iovecs (zero copy), cut into ranges
 * carried by preallocated slots (file_ring.c). DISCARD, WRITE_ZEROES and
 * SECURE_ERASE run without blocking the queue thread (file_dwz.c).
 */
#include "be.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/fs.h>

#include "be_lock.h"
#include "file_priv.h"
#include "internal/log.h"

/* ---- open / close ---------------------------------------------------- */

/* The logical block size of the device holding a regular file (sysfs), 0 if unknown. */
static uint32_t fs_dev_lbs(const struct stat *st)
{
	unsigned long v = 0;

	for (unsigned i = 0; i < 2 && !v; i++) {
		char path[96];
		FILE *f;

		/* A partition has no queue/ of its own: its disk's is one level up. */
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%squeue/logical_block_size",
			 major(st->st_dev), minor(st->st_dev), i ? "../" : "");
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v >= 512 && v <= 65536 && !(v & (v - 1)) ? (uint32_t)v : 0;
}

/*
 * O_DIRECT needs aligned offsets, lengths and buffers. Ask the kernel first
 * (statx STATX_DIOALIGN, Linux 6.1). Without it, probe by reading: but a read
 * at or past EOF, or of a hole, returns before the alignment check on ext4/
 * xfs (iomap), so a 512-byte read "succeeds" on a 4Kn disk. Only a read of
 * allocated data proves anything, so the read probe runs only when the file's
 * first 4 KiB hold data (SEEK_DATA); otherwise take the underlying device's
 * logical block size, and 4096 (always safe) when even that is unknown.
 */
static int probe_dio_align(int fd, const struct stat *st, uint32_t *align, uint32_t *mem_align)
{
	static const uint32_t sizes[] = {512, 4096};
	struct statx stx;
	void *buf;
	int err = EINVAL;
	uint32_t lbs;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (stx.stx_dio_offset_align == 0)
			return -EOPNOTSUPP; /* this file cannot do direct I/O */
		*align = stx.stx_dio_offset_align;
		*mem_align = stx.stx_dio_mem_align;
		return 0;
	}
	if (st->st_size >= 4096 && lseek(fd, 0, SEEK_DATA) == 0) {
		if (posix_memalign(&buf, 4096, 4096))
			return -ENOMEM;
		for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
			if (pread(fd, buf, sizes[i], 0) >= 0) {
				*align = *mem_align = sizes[i];
				free(buf);
				return 0;
			}
			err = errno;
			if (err != EINVAL)
				break;
		}
		free(buf);
		return -err;
	}
	lbs = fs_dev_lbs(st);
	*align = *mem_align = lbs ? lbs : 4096;
	return 0;
}

/* Block device queue attribute from sysfs (0 if unknown). */
static unsigned long long blkdev_attr(int fd, const char *name)
{
	struct stat st;
	char path[128];
	unsigned long long v = 0;
	FILE *f;

	if (fstat(fd, &st) < 0)
		return 0;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/%s", major(st.st_rdev),
		 minor(st.st_rdev), name);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/*
 * BLKSECDISCARD checks support (-EOPNOTSUPP) before the range (-EINVAL for
 * an unaligned start, Linux >= 5.19 blk_ioctl_secure_erase): probing with a
 * misaligned empty range erases nothing.
 */
static bool blkdev_can_secure_erase(int fd)
{
	uint64_t range[2] = {1, 0};

	return ioctl(fd, BLKSECDISCARD, range) < 0 && errno == EINVAL;
}

/* Can we punch holes? Probe past the end of the file, where it changes nothing. */
static bool probe_punch_hole(int fd, uint64_t size)
{
	off_t off = (off_t)((size + 65535) & ~UINT64_C(65535)) + 65536;

	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, 4096) == 0;
}

static bool blkdev_can_discard(int fd)
{
	return blkdev_attr(fd, "discard_max_bytes") > 0;
}

static int file_open(const struct be_opts *opts, struct be **out)
{
	const char *path = opts->path;
	int flags = (opts->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct file_be *f;
	struct be_info *info;
	struct stat st;
	int fd, ret;

	if (!path || !*path) {
		log_err("file backend: no path");
		return -EINVAL;
	}
	if (opts->direct)
		flags |= O_DIRECT;
	if (opts->size && !opts->ro)
		flags |= O_CREAT;
	fd = open(path, flags, 0644);
	if (fd < 0) {
		ret = -errno;
		log_err("file backend: cannot open '%s'%s: %s", path,
			opts->direct && ret == -EINVAL ? " with O_DIRECT" : "", strerror(-ret));
		return ret;
	}
	/* Locked before anything reads the size or extends the file. */
	ret = opts->nolock ? 0 : be_lock_image(fd, path, opts->ro);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path))) {
		ret = -ENOMEM;
		goto err_free;
	}
	f->fd = fd;
	f->base.ops = &be_file_ops;
	info = &f->base.info;
	info->ro = opts->ro;
	info->align = 1;
	info->can_flush = true;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		log_err("file backend: stat '%s': %s", path, strerror(-ret));
		goto err_free;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;
		int lbs = 512;
		unsigned pbs = 0, opt = 0;
		unsigned long long gran;

		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0 || ioctl(fd, BLKSSZGET, &lbs) < 0) {
			ret = -errno;
			log_err("file backend: '%s': cannot get device size: %s", path,
				strerror(-ret));
			goto err_free;
		}
		if (opts->size > bytes) {
			ret = -EINVAL;
			log_err("file backend: '%s': size %llu is larger than the device (%llu)",
				path, (unsigned long long)opts->size, (unsigned long long)bytes);
			goto err_free;
		}
		if (ioctl(fd, BLKPBSZGET, &pbs) == 0)
			info->phys_block = pbs;
		if (ioctl(fd, BLKIOOPT, &opt) == 0)
			info->opt_io = opt;
		info->is_blockdev = true;
		info->size = bytes;
		if (opts->direct)
			info->align = info->mem_align = (uint32_t)lbs;
		info->can_discard = !opts->ro && blkdev_can_discard(fd);
		gran = blkdev_attr(fd, "discard_granularity");
		if (info->can_discard && gran <= UINT32_MAX)
			info->discard_align = (uint32_t)gran;
		info->can_secure_erase = !opts->ro && blkdev_can_secure_erase(fd);
		/* The kernel falls back to writing zeroes when the device cannot. */
		info->can_write_zeroes = !opts->ro;
	} else if (S_ISREG(st.st_mode)) {
		info->size = (uint64_t)st.st_size;
		if (opts->size > info->size) {
			if (opts->ro) {
				ret = -EINVAL;
				log_err(
				    "file backend: '%s' is read-only and smaller than %llu bytes",
				    path, (unsigned long long)opts->size);
				goto err_free;
			}
			if (ftruncate(fd, (off_t)opts->size) < 0) {
				ret = -errno;
				log_err("file backend: cannot extend '%s' to %llu bytes: %s", path,
					(unsigned long long)opts->size, strerror(-ret));
				goto err_free;
			}
			info->size = opts->size;
		}
		info->phys_block = (uint32_t)st.st_blksize;
		info->discard_align = (uint32_t)st.st_blksize; /* holes are whole fs blocks */
		if (opts->direct) {
			ret = probe_dio_align(fd, &st, &info->align, &info->mem_align);
			if (ret < 0) {
				log_err("file backend: '%s': O_DIRECT reads fail: %s", path,
					strerror(-ret));
				goto err_free;
			}
		}
		f->inline_ok = !opts->direct && be_file_on_memfs(fd);
		info->can_discard = !opts->ro && probe_punch_hole(fd, info->size);
		/* WRITE_ZEROES falls back to PUNCH_HOLE, which reads back as zeroes. */
		info->can_write_zeroes = info->can_discard;
		/* No secure erase: a file system gives no guarantee that old blocks are gone. */
	} else {
		ret = -EINVAL;
		log_err("file backend: '%s' is not a regular file or a block device", path);
		goto err_free;
	}
	*out = &f->base;
	return 0;

err_free:
	if (f)
		free(f->path);
	free(f);
	close(fd);
	return ret;
}

/*
 * A block device's size is whatever BLKGETSIZE64 says now (it may have
 * been grown underneath, e.g. lvextend); a regular file's is its st_size,
 * extended with ftruncate when asked for more. A file is never shortened:
 * that would throw away the guest's data, and no request needs it.
 */
static int file_resize(struct be *be, uint64_t size, uint64_t *out)
{
	struct file_be *f = to_file(be);
	struct stat st;
	uint64_t cur;

	if (fstat(f->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(f->fd, BLKGETSIZE64, &cur) < 0)
			return -errno;
		if (size > cur)
			return -ENOSPC; /* a block device cannot be grown from here */
		*out = cur;
		return 0;
	}
	cur = (uint64_t)st.st_size;
	if (size > cur) {
		if (be->info.ro)
			return -EROFS;
		if (size > (uint64_t)INT64_MAX || ftruncate(f->fd, (off_t)size) < 0)
			return size > (uint64_t)INT64_MAX ? -EFBIG : -errno;
		cur = size;
	}
	*out = cur;
	return 0;
}

static void file_close(struct be *be)
{
	struct file_be *f;

	if (!be)
		return;
	f = to_file(be);
	be_unlock_image(f->fd);
	close(f->fd);
	free(f->path);
	free(f);
}

/* ---- queues ------------------------------------------------------------ */

static void file_queue_destroy(struct be_queue *bq)
{
	struct file_queue *q;

	if (!bq)
		return;
	q = to_fq(bq);
	if (q->ring_ok)
		io_uring_queue_exit(&q->ring);
	if (q->efd >= 0)
		close(q->efd);
	be_done_ring_fini(&q->done);
	free(q->slots);
	free(q);
}

static int file_queue_create(struct be *be, unsigned depth, struct be_queue **out)
{
	struct file_be *f = to_file(be);
	unsigned nslots = VBLK_MIN(VBLK_MAX(depth, 1u), FILE_MAX_SLOTS);
	struct file_queue *q = calloc(1, sizeof(*q));
	int ret;

	if (!q)
		return -ENOMEM;
	q->base.be = be;
	q->inline_budget = FILE_INLINE_BATCH;
	q->efd_maybe = true;
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		ret = -errno;
		log_err("file backend '%s': eventfd: %s", f->path, strerror(-ret));
		goto err;
	}
	/* SQ entries >= slots: a slot never lacks an SQE (see file_ring.c). */
	ret = io_uring_queue_init(nslots, &q->ring, 0);
	if (ret < 0) {
		log_err("file backend '%s': io_uring_queue_init(%u): %s", f->path, nslots,
			strerror(-ret));
		goto err;
	}
	q->ring_ok = true;
	ret = io_uring_register_eventfd(&q->ring, q->efd);
	if (ret < 0) {
		log_err("file backend '%s': io_uring_register_eventfd: %s", f->path,
			strerror(-ret));
		goto err;
	}
	q->slots = calloc(nslots, sizeof(*q->slots));
	if (!q->slots || be_done_ring_init(&q->done, nslots) < 0) {
		ret = -ENOMEM;
		goto err;
	}
	for (unsigned i = 0; i < nslots; i++) {
		q->slots[i].next_free = q->free;
		q->free = &q->slots[i];
	}
	*out = &q->base;
	return 0;

err:
	file_queue_destroy(&q->base);
	return ret;
}

static int file_queue_fd(struct be_queue *bq)
{
	return to_fq(bq)->efd;
}
const struct be_ops be_file_ops = {
    .name = "file",
    .open = file_open,
    .close = file_close,
    .queue_create = file_queue_create,
    .queue_destroy = file_queue_destroy,
    .queue_fd = file_queue_fd,
    .submit = be_file_submit,
    .kick = be_file_kick,
    .kick_ready = be_file_kick_ready,
    .reap = be_file_reap,
    .resize = file_resize,
};
