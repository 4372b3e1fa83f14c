/* SPDX-License-Identifier: MIT */
/*
 * Backend selection: turns a spec string ("null:SIZE", "memory:SIZE" or a
 * path) into an open backend, refusing a path that holds an image format
 * rather than a raw disk; and the synchronous-queue helpers.
 */
#include "be.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "be_module.h"
#include "be_nbd.h"
#include "be_priv.h"
#include "be_rbd.h"
#include "internal/compiler.h"
#include "internal/log.h"
#include "internal/nbd_uri.h"
#include "internal/size.h"

static int open_sized(const struct be_ops *ops, const char *name, const char *arg,
		      const struct be_opts *opts, struct be **out)
{
	struct be_opts o = *opts;
	uint64_t size;
	int ret = size_parse(arg, &size);

	if (ret < 0 || size == 0) {
		log_err("%s backend: bad size '%s' (want N[KMGT], N > 0)", name, arg);
		return ret < 0 ? ret : -EINVAL;
	}
	o.path = NULL;
	o.size = size;
	return ops->open(&o, out);
}

/*
 * Image formats that QEMU's block layer probes (each driver's bdrv_probe), by
 * the signature at the start of the image. LUKS is not among them on
 * purpose: a raw disk that the guest encrypts itself starts with it.
 */
static const struct image_magic {
	const char *format; /* as qemu-img / qemu-nbd --format names it */
	unsigned offset;
	const char *magic;
	unsigned len;
} image_magics[] = {
    {"qcow2", 0, "QFI\xfb", 4},
    {"vmdk", 0, "KDMV", 4}, /* hosted sparse extent */
    {"vmdk", 0, "COWD", 4}, /* ESX sparse extent */
    {"vmdk", 0, "# Disk DescriptorFile", 21},
    {"vhdx", 0, "vhdxfile", 8},
    {"vdi", 0, "<<< Oracle VM VirtualBox Disk Image", 35},
    {"vdi", 0x40, "\x7f\x10\xda\xbe", 4}, /* VDI signature 0xbeda107f, little endian */
    {"vpc", 0, "conectix", 8},		  /* dynamic VHD: footer copy at the start */
    {"qed", 0, "QED\0", 4},
};

/* The format whose signature buf (len bytes from offset 0) carries, or NULL. */
static const char *probe_format(const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(image_magics) / sizeof(image_magics[0]); i++) {
		const struct image_magic *m = &image_magics[i];

		if (m->offset + m->len <= len && !memcmp(buf + m->offset, m->magic, m->len))
			return m->format;
	}
	return NULL;
}

/*
 * The file backend serves bytes as they are, so an image in a format (a
 * qcow2 file served raw is silently wrong: the guest sees the header and the
 * tables, and its writes corrupt them) is refused unless the caller said
 * format=raw. Only regular files and block devices are looked at; a path
 * that does not exist yet (size= creates it) or cannot be read is left to
 * the file backend to report. Returns 0 or -EMEDIUMTYPE (message logged).
 */
static int refuse_image_format(const char *path)
{
	unsigned char buf[512];
	const char *format = NULL;
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		n = pread(fd, buf, sizeof(buf), 0);
		if (n > 0)
			format = probe_format(buf, (size_t)n);
	}
	close(fd);
	if (!format)
		return 0;
	log_err("file backend: '%s' is a %s image, not a raw disk: serve its disk with "
		"qemu-nbd --format=%s --socket=NBD_SOCK '%s' and --disk "
		"'nbd+unix:///?socket=NBD_SOCK', or add format=raw to serve the file's bytes "
		"as they are",
		path, format, format, path);
	return -EMEDIUMTYPE;
}

int be_open(const char *spec, const struct be_opts *opts, struct be **out)
{
	int ret;

	static const struct be_opts defaults;
	struct be_opts o;

	if (!spec || !*spec || !out) {
		log_err("backend: empty specification");
		return -EINVAL;
	}
	o = opts ? *opts : defaults;
	/* A file literally named "null:..." can still be reached as "./null:...". */
	if (strncmp(spec, "null:", 5) == 0)
		return open_sized(&be_null_ops, "null", spec + 5, &o, out);
	if (strncmp(spec, "memory:", 7) == 0)
		return open_sized(&be_mem_ops, "memory", spec + 7, &o, out);
	o.path = spec;
	if (is_nbd_uri(spec)) {
#ifdef VBLK_HAVE_NBD
		return be_nbd_ops.open(&o, out);
#else
		log_err("backend: %s: this build has no NBD support (libnbd)", spec);
		return -ENOTSUP;
#endif
	}
	if (be_is_rbd_spec(spec)) {
#ifdef VBLK_HAVE_RBD
		const struct be_ops *rbd;

		ret = be_module_ops("rbd", BE_MODULE_RBD, BE_MODULE_RBD_OPS, &rbd);
		return ret < 0 ? ret : rbd->open(&o, out);
#else
		log_err("backend: %s: this build has no RBD support (librbd)", spec);
		return -ENOTSUP;
#endif
	}
	if (!o.format_raw) {
		ret = refuse_image_format(spec);
		if (ret)
			return ret;
	}
	return be_file_ops.open(&o, out);
}

int be_sync_queue_create(struct be *be, unsigned depth, struct be_queue **out)
{
	struct be_sync_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	if (be_done_ring_init(&q->done, depth) < 0) {
		free(q);
		return -ENOMEM;
	}
	q->base.be = be;
	*out = &q->base;
	return 0;
}

void be_sync_queue_destroy(struct be_queue *bq)
{
	struct be_sync_queue *q;

	if (!bq)
		return;
	q = container_of(bq, struct be_sync_queue, base);
	be_done_ring_fini(&q->done);
	free(q);
}

int be_sync_queue_fd(struct be_queue *bq)
{
	return -1;
}

void be_sync_kick(struct be_queue *bq)
{
}

int be_sync_reap(struct be_queue *bq)
{
	return be_done_ring_reap(&container_of(bq, struct be_sync_queue, base)->done);
}

bool be_sync_has_room(struct be_queue *bq)
{
	return !be_done_ring_full(&container_of(bq, struct be_sync_queue, base)->done);
}

void be_sync_complete(struct be_queue *bq, struct be_io *io, int res)
{
	be_done_ring_push(&container_of(bq, struct be_sync_queue, base)->done, io, res);
}
