/* SPDX-License-Identifier: MIT */
/*
 * File backend: a regular file or a block device driven by io_uring.
 *
 * Each be_queue owns one io_uring and an eventfd registered with it
 * (io_uring_register_eventfd), which is the queue's pollable fd. Reads and
 * writes go straight from/to the caller's iovecs (zero copy). A request is cut
 * into "ranges" no longer than one readv accepts (IOV_MAX elements, 1 GiB);
 * each range occupies one preallocated slot, which carries it through short
 * transfers until it is complete. be_io.be_pending counts a request's ranges
 * still running, be_io.be_res keeps its first error.
 *
 * A slot has at most one SQE outstanding and there are no more slots than SQ
 * entries, so getting an SQE never fails. When the slots run out in the middle
 * of a request, the rest of it is remembered as the queue's "backlog" and cut
 * into ranges as slots come back; until then new reads and writes get -EAGAIN,
 * which keeps them in order behind it.
 *
 * DISCARD and WRITE_ZEROES are io_uring fallocates (IORING_OP_FALLOCATE, run
 * by io-wq): zeroing 8 x 1 GiB of a block device takes seconds, during which
 * the queue thread must keep serving (other requests, GET_VRING_BASE, SIGTERM).
 * SECURE_ERASE (BLKSECDISCARD) has no io_uring op: a short-lived thread runs
 * the ioctl and writes an eventfd that the queue reads through io_uring, so
 * its completion arrives like any other. See "DISCARD / WRITE_ZEROES /
 * SECURE_ERASE" below.
 */
#include "be.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
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
#include "be_priv.h"
#include "internal/compiler.h"
#include "internal/iov.h"
#include "internal/log.h"

/* The most elements one readv/writev accepts (IOV_MAX, UIO_MAXIOV in Linux). */
#define FILE_MAX_IOV 1024u
/*
 * The most bytes one range transfers: below Linux's MAX_RW_COUNT (INT_MAX
 * rounded down to a page) and a multiple of every O_DIRECT alignment.
 */
#define FILE_MAX_BYTES (UINT64_C(1) << 30)
#define FILE_MAX_SLOTS 4096u

struct file_be {
	struct be base;
	int fd;
	char *path;
	/* Set once ZERO_RANGE was refused (e.g. tmpfs): use PUNCH_HOLE instead. Shared by queues.
	 */
	atomic_bool no_zero_range;
	/*
	 * Zeroing fallocates and secure erases in flight on a block device, all
	 * queues. Linux (seen on 6.18) takes the device inode's lock for a
	 * buffered read even in io_uring's non-blocking attempt, and fallocate
	 * holds it for the whole zeroing: while this is non-zero, buffered
	 * (align 1) reads and writes go straight to io-wq (IOSQE_ASYNC) instead
	 * of blocking the queue thread in io_uring_enter.
	 */
	atomic_uint bdev_zeroing;
};

/* SLOT_FALLOC and SLOT_SECURE: dwz_prep() and dwz_complete() drive them. */
enum file_slot_kind { SLOT_RW, SLOT_FSYNC, SLOT_FALLOC, SLOT_SECURE };

struct file_slot {
	struct be_io *io;
	enum file_slot_kind kind;
	const struct iovec *iov; /* element holding the next byte */
	const struct iovec *iov_end;
	size_t off;	  /* bytes of *iov already transferred */
	uint64_t pos;	  /* file offset of the next byte */
	uint64_t left;	  /* bytes of this range still to transfer */
	struct iovec one; /* the rest of a partly transferred element */
	struct file_slot *next_free;
	/* SLOT_SECURE: the worker's eventfd, and where reading it puts the count. */
	int sec_efd;
	uint64_t sec_cnt;
};

struct file_queue {
	struct be_queue base;
	struct io_uring ring;
	bool ring_ok;
	int efd;
	struct file_slot *slots;
	struct file_slot *free;
	/* The read/write not yet fully cut into ranges, and where its rest starts. */
	struct be_io *backlog;
	const struct iovec *bl_iov;
	size_t bl_off;
	uint64_t bl_pos, bl_left;
	unsigned ndone; /* done() calls during the current reap */
	struct be_done_ring done;
};

static struct file_be *to_file(struct be *be)
{
	return container_of(be, struct file_be, base);
}

static struct file_queue *to_fq(struct be_queue *bq)
{
	return container_of(bq, struct file_queue, base);
}

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
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		ret = -errno;
		log_err("file backend '%s': eventfd: %s", f->path, strerror(-ret));
		goto err;
	}
	/* SQ entries >= slots: a slot never lacks an SQE (see the top of the file). */
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

/* ---- data path --------------------------------------------------------- */

static void signal_efd(struct file_queue *q)
{
	uint64_t one = 1;

	/* Only fails when the counter would overflow: it is readable then anyway. */
	if (write(q->efd, &one, sizeof(one)) < 0)
		return;
}

static void dwz_prep(struct file_queue *q, struct file_slot *s, struct io_uring_sqe *sqe);
static void dwz_complete(struct file_queue *q, struct file_slot *s, int res);

/* Prepare the SQE for the slot's next step. */
static void slot_issue(struct file_queue *q, struct file_slot *s)
{
	struct file_be *f = to_file(q->base.be);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	struct be_io *io = s->io;
	const struct iovec *v;
	unsigned n = 0;
	uint64_t bytes = 0;

	if (unlikely(!sqe)) {
		/* Cannot happen (slots <= SQ entries); never lose the request. */
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	if (s->kind == SLOT_FSYNC) {
		io_uring_prep_fsync(sqe, f->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data(sqe, s);
		return;
	}
	if (s->kind == SLOT_FALLOC || s->kind == SLOT_SECURE) {
		dwz_prep(q, s, sqe);
		return;
	}
	/* Skip exhausted and empty elements: a readv of only empty ones would look like EOF. */
	while (s->iov < s->iov_end && s->off == s->iov->iov_len) {
		s->iov++;
		s->off = 0;
	}
	v = s->iov;
	if (s->off == 0) {
		while (v + n < s->iov_end && n < FILE_MAX_IOV && v[n].iov_len <= s->left - bytes) {
			bytes += v[n].iov_len;
			n++;
		}
	}
	if (n == 0) {
		/* The rest of a partly transferred element, or the head of a huge one. */
		s->one.iov_base = (char *)v->iov_base + s->off;
		s->one.iov_len = VBLK_MIN(v->iov_len - s->off, s->left);
		v = &s->one;
		n = 1;
	}
	if (io->op == BE_OP_READ) {
		io_uring_prep_readv(sqe, f->fd, v, n, s->pos);
	} else {
		io_uring_prep_writev(sqe, f->fd, v, n, s->pos);
		/* Writethrough per request: the guest may toggle the cache at any time. */
		if (io->flags & BE_IO_F_FUA)
			sqe->rw_flags = RWF_DSYNC;
	}
	if (f->base.info.is_blockdev && f->base.info.align <= 1 &&
	    atomic_load_explicit(&f->bdev_zeroing, memory_order_relaxed))
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, s);
}

static void slot_finish(struct file_queue *q, struct file_slot *s, int res)
{
	struct be_io *io = s->io;

	s->io = NULL;
	s->next_free = q->free;
	q->free = s;
	if (res < 0 && io->be_res == 0)
		io->be_res = res;
	if (--io->be_pending == 0 && io != q->backlog) {
		q->ndone++;
		io->done(io, io->be_res);
	}
}

static void slot_advance(struct file_slot *s, uint64_t n)
{
	s->left -= n;
	s->pos += n;
	while (n) {
		size_t avail = s->iov->iov_len - s->off;

		if (n < avail) {
			s->off += n;
			break;
		}
		n -= avail;
		s->iov++;
		s->off = 0;
	}
}

static void slot_complete(struct file_queue *q, struct file_slot *s, int res)
{
	struct be_io *io = s->io;

	if (s->kind == SLOT_FALLOC || s->kind == SLOT_SECURE) {
		dwz_complete(q, s, res);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		slot_issue(q, s);
		return;
	}
	if (s->kind == SLOT_RW && res >= 0) {
		if (res == 0) {
			/*
			 * End of file inside the exported size (the file shrank, or
			 * reads past its end): the missing part reads as zeroes. A
			 * write that makes no progress is an error, not a retry loop.
			 */
			if (io->op == BE_OP_READ) {
				iov_memset(s->iov, (unsigned)(s->iov_end - s->iov), s->off, 0,
					   s->left);
			} else {
				res = -EIO;
			}
		} else {
			slot_advance(s, (uint64_t)res);
			if (s->left) {
				/* Short transfer: resubmit the rest. */
				slot_issue(q, s);
				return;
			}
			res = 0;
		}
	}
	slot_finish(q, s, res < 0 ? res : 0);
}

/* Cut the backlog request into ranges while there are free slots. */
static void backlog_issue(struct file_queue *q)
{
	while (q->backlog && q->free) {
		struct be_io *io = q->backlog;
		const struct iovec *end = io->iov + io->iovcnt;
		struct file_slot *s = q->free;
		uint64_t range = 0;

		while (q->bl_off == q->bl_iov->iov_len) {
			q->bl_iov++;
			q->bl_off = 0;
		}
		if (q->bl_off) {
			range = VBLK_MIN(q->bl_iov->iov_len - q->bl_off, FILE_MAX_BYTES);
		} else {
			unsigned n = 0;

			while (q->bl_iov + n < end && n < FILE_MAX_IOV && range < q->bl_left &&
			       q->bl_iov[n].iov_len <= FILE_MAX_BYTES - range)
				range += q->bl_iov[n++].iov_len;
			if (n == 0)
				range = FILE_MAX_BYTES; /* one element larger than a range */
		}
		range = VBLK_MIN(range, q->bl_left);

		q->free = s->next_free;
		*s = (struct file_slot){
		    .io = io,
		    .kind = SLOT_RW,
		    .iov = q->bl_iov,
		    .iov_end = end,
		    .off = q->bl_off,
		    .pos = q->bl_pos,
		    .left = range,
		};
		io->be_pending++;

		q->bl_left -= range;
		q->bl_pos += range;
		while (range) {
			size_t avail = q->bl_iov->iov_len - q->bl_off;

			if (range < avail) {
				q->bl_off += range;
				break;
			}
			range -= avail;
			q->bl_iov++;
			q->bl_off = 0;
		}
		if (q->bl_left == 0)
			q->backlog = NULL;
		slot_issue(q, s);
	}
}

/* Complete io from the next reap(). */
static int complete_later(struct file_queue *q, struct be_io *io, int res)
{
	if (be_done_ring_full(&q->done))
		return -EAGAIN;
	be_done_ring_push(&q->done, io, res);
	signal_efd(q);
	return 0;
}

/* ---- DISCARD / WRITE_ZEROES / SECURE_ERASE ----------------------------- */

/*
 * The fallocate that carries io. Block devices (Linux block/fops.c,
 * blkdev_fallocate): ZERO_RANGE is what BLKZEROOUT does (the kernel writes
 * zeroes when the device cannot), PUNCH_HOLE|NO_HIDE_STALE what BLKDISCARD
 * does. Files: PUNCH_HOLE deallocates (reads back as zeroes), ZERO_RANGE
 * zeroes and keeps the blocks; where ZERO_RANGE is refused (tmpfs) a hole
 * reads back as zeroes too: correct, only less preallocated.
 */
static int dwz_mode(struct file_be *f, const struct be_io *io)
{
	const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	const int zero = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;

	if (f->base.info.is_blockdev)
		return io->op == BE_OP_DISCARD ? punch | FALLOC_FL_NO_HIDE_STALE : zero;
	if (io->op == BE_OP_DISCARD || (io->flags & BE_IO_F_UNMAP) ||
	    atomic_load_explicit(&f->no_zero_range, memory_order_relaxed))
		return punch;
	return zero;
}

/* SLOT_FALLOC: the fallocate of [pos, pos+left); SLOT_SECURE: wait for the worker. */
static void dwz_prep(struct file_queue *q, struct file_slot *s, struct io_uring_sqe *sqe)
{
	struct file_be *f = to_file(q->base.be);

	if (s->kind == SLOT_SECURE)
		io_uring_prep_read(sqe, s->sec_efd, &s->sec_cnt, sizeof(s->sec_cnt), 0);
	else
		io_uring_prep_fallocate(sqe, f->fd, dwz_mode(f, s->io), (off_t)s->pos,
					(off_t)s->left);
	io_uring_sqe_set_data(sqe, s);
}

static void dwz_complete(struct file_queue *q, struct file_slot *s, int res)
{
	struct file_be *f = to_file(q->base.be);
	struct be_io *io = s->io;

	if (res == -EINTR || res == -EAGAIN) {
		slot_issue(q, s);
		return;
	}
	if (s->kind == SLOT_SECURE) {
		uint64_t cnt;

		/* Never close the eventfd under a worker that has yet to write it. */
		if (res < 0)
			while (read(s->sec_efd, &cnt, sizeof(cnt)) < 0 && errno == EINTR)
				;
		close(s->sec_efd);
		s->sec_efd = -1;
		atomic_fetch_sub_explicit(&f->bdev_zeroing, 1, memory_order_relaxed);
		/* The worker stored its result in io->be_res before writing the eventfd. */
		slot_finish(q, s, 0);
		return;
	}
	if (f->base.info.is_blockdev)
		atomic_fetch_sub_explicit(&f->bdev_zeroing, 1, memory_order_relaxed);
	if (res == -EOPNOTSUPP && !f->base.info.is_blockdev &&
	    dwz_mode(f, io) == (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) {
		atomic_store_explicit(&f->no_zero_range, true, memory_order_relaxed);
		slot_issue(q, s);
		return;
	}
	if (res == 0 && (io->flags & BE_IO_F_FUA)) {
		/* Durable before done(): the same slot goes on with an fdatasync. */
		s->kind = SLOT_FSYNC;
		slot_issue(q, s);
		return;
	}
	slot_finish(q, s, res);
}

/* BLKSECDISCARD (and fdatasync for FUA), blocking. Returns 0 or -errno. */
static int secure_erase_sync(int fd, uint64_t off, uint64_t len, bool fua)
{
	uint64_t range[2] = {off, len};

	if (ioctl(fd, BLKSECDISCARD, range) < 0)
		return -errno;
	if (fua && fdatasync(fd) < 0)
		return -errno;
	return 0;
}

struct secure_job {
	int fd, efd;
	uint64_t off, len;
	bool fua;
	int *res;
};

static void *secure_erase_thread(void *arg)
{
	struct secure_job *j = arg;
	int efd = j->efd;
	uint64_t one = 1;

	*j->res = secure_erase_sync(j->fd, j->off, j->len, j->fua);
	free(j);
	/* The last thing the thread does: from here on the queue may close efd. */
	while (write(efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return NULL;
}

/*
 * BLKSECDISCARD has no io_uring op and may take seconds: a detached thread
 * runs it and writes a blocking eventfd, which the slot reads through
 * io_uring (a blocking eventfd makes io_uring wait for it instead of failing
 * with -EAGAIN). Secure erase is rare; the thread and its eventfd live for
 * one request. If either cannot be had, the erase runs here, synchronously.
 */
static int secure_erase_start(struct file_queue *q, struct be_io *io)
{
	struct file_be *f = to_file(q->base.be);
	struct secure_job *j = malloc(sizeof(*j));
	struct file_slot *s = q->free;
	pthread_attr_t attr;
	pthread_t tid;
	int efd = eventfd(0, EFD_CLOEXEC);
	int ret = -1;

	if (j && efd >= 0 && pthread_attr_init(&attr) == 0) {
		*j = (struct secure_job){
		    f->fd, efd, io->offset, io->len, (io->flags & BE_IO_F_FUA) != 0, &io->be_res};
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		ret = pthread_create(&tid, &attr, secure_erase_thread, j);
		pthread_attr_destroy(&attr);
	}
	if (ret != 0) {
		free(j);
		if (efd >= 0)
			close(efd);
		if (be_done_ring_full(&q->done))
			return -EAGAIN;
		return complete_later(
		    q, io, secure_erase_sync(f->fd, io->offset, io->len, io->flags & BE_IO_F_FUA));
	}
	q->free = s->next_free;
	*s = (struct file_slot){.io = io, .kind = SLOT_SECURE, .sec_efd = efd};
	io->be_pending = 1;
	atomic_fetch_add_explicit(&f->bdev_zeroing, 1, memory_order_relaxed);
	slot_issue(q, s);
	return 0;
}

/* DISCARD / WRITE_ZEROES / SECURE_ERASE: 0 (accepted) or -EAGAIN (no slot). */
static int dwz_submit(struct file_queue *q, struct be_io *io)
{
	struct file_be *f = to_file(q->base.be);
	const struct be_info *info = &f->base.info;
	struct file_slot *s;

	if ((io->op == BE_OP_DISCARD && !info->can_discard) ||
	    (io->op == BE_OP_WRITE_ZEROES && !info->can_write_zeroes) ||
	    (io->op == BE_OP_SECURE_ERASE && !info->can_secure_erase))
		return complete_later(q, io, -EOPNOTSUPP);
	if (info->ro)
		return complete_later(q, io, -EROFS);
	if (io->len == 0)
		return complete_later(q, io, 0);
	if (!q->free)
		return -EAGAIN;
	if (io->op == BE_OP_SECURE_ERASE)
		return secure_erase_start(q, io);
	s = q->free;
	q->free = s->next_free;
	*s = (struct file_slot){
	    .io = io, .kind = SLOT_FALLOC, .pos = io->offset, .left = io->len, .sec_efd = -1};
	io->be_pending = 1;
	if (info->is_blockdev)
		atomic_fetch_add_explicit(&f->bdev_zeroing, 1, memory_order_relaxed);
	slot_issue(q, s);
	return 0;
}

static int file_submit(struct be_queue *bq, struct be_io *io)
{
	struct file_queue *q = to_fq(bq);
	struct file_be *f = to_file(bq->be);
	struct file_slot *s;

	io->be_pending = 0;
	io->be_res = 0;
	switch (io->op) {
	case BE_OP_READ:
	case BE_OP_WRITE:
		if (io->op == BE_OP_WRITE && f->base.info.ro)
			return complete_later(q, io, -EROFS);
		if (iov_size(io->iov, io->iovcnt) < io->len)
			return complete_later(q, io, -EINVAL);
		if (io->len == 0)
			return complete_later(q, io, 0);
		if (q->backlog || !q->free)
			return -EAGAIN;
		q->backlog = io;
		q->bl_iov = io->iov;
		q->bl_off = 0;
		q->bl_pos = io->offset;
		q->bl_left = io->len;
		backlog_issue(q);
		return 0;
	case BE_OP_FLUSH:
		if (!q->free)
			return -EAGAIN;
		s = q->free;
		q->free = s->next_free;
		*s = (struct file_slot){.io = io, .kind = SLOT_FSYNC};
		io->be_pending = 1;
		slot_issue(q, s);
		return 0;
	case BE_OP_DISCARD:
	case BE_OP_WRITE_ZEROES:
	case BE_OP_SECURE_ERASE:
		return dwz_submit(q, io);
	default:
		return complete_later(q, io, -EOPNOTSUPP);
	}
}

static void file_kick(struct be_queue *bq)
{
	struct file_queue *q = to_fq(bq);

	if (io_uring_sq_ready(&q->ring)) {
		int ret = io_uring_submit(&q->ring);

		/* SQEs not taken stay in the SQ and go with the next kick or reap. */
		if (ret < 0)
			log_warn("file backend '%s': io_uring_submit: %s", to_file(bq->be)->path,
				 strerror(-ret));
	}
}

static int file_reap(struct be_queue *bq)
{
	struct file_queue *q = to_fq(bq);
	struct io_uring_cqe *cqe;
	uint64_t cnt;

	/* Clear the eventfd before draining: a CQE posted after this re-arms it. */
	if (read(q->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_warn("file backend: eventfd read: %s", strerror(errno));
	q->ndone = 0;
	while (io_uring_peek_cqe(&q->ring, &cqe) == 0) {
		struct file_slot *s = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&q->ring, cqe);
		slot_complete(q, s, res);
	}
	backlog_issue(q);
	q->ndone += (unsigned)be_done_ring_reap(&q->done);
	/* Resubmissions of short transfers and new backlog ranges. */
	file_kick(bq);
	return (int)q->ndone;
}

const struct be_ops be_file_ops = {
    .name = "file",
    .open = file_open,
    .close = file_close,
    .queue_create = file_queue_create,
    .queue_destroy = file_queue_destroy,
    .queue_fd = file_queue_fd,
    .submit = file_submit,
    .kick = file_kick,
    .reap = file_reap,
};
