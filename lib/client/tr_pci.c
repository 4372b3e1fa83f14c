/* SPDX-License-Identifier: MIT */
/*
 * libvblk's virtio-pci transport (virtio 1.3 §4.1, modern interface): a
 * virtio-blk PCI function bound to uio_pci_generic, driven from userspace.
 *
 *  - Discovery: the vendor capabilities in the function's config space
 *    (sysfs "config") locate the common, notify, ISR and device config
 *    structures in its BARs (sysfs "resourceN", mapped).
 *  - DMA: no IOMMU (uio_pci_generic), so the device is given physical
 *    addresses. The region is 2 MiB hugepages, locked (hugetlbfs pages are
 *    neither swapped nor moved while mapped), their physical addresses read
 *    from /proc/self/pagemap (needs CAP_SYS_ADMIN), as DPDK and SPDK do.
 *  - Completions by polling the used ring: vblk_queue_wait() spins, then
 *    sleeps in short steps, re-reading the device status for a device that
 *    vanished (all ones) or asks for a reset (§2.1.2 DEVICE_NEEDS_RESET).
 *    vblk_queue_fd() is then readable while requests are pending.
 *    Or (VBLK_OPEN_INTERRUPTS) by INTx through /dev/uioN: no MSI-X vector,
 *    so the device raises INTx and sets the ISR (§4.1.4.5); uio_pci_generic
 *    masks INTx in its handler. Each queue opens /dev/uioN itself: uio
 *    counts events per open file, so the one shared line wakes every
 *    queue's fd. vblk_queue_poll() reads the ISR (which deasserts the line)
 *    and unmasks INTx in the command register before it re-checks the ring.
 *  - Reset on open, on close, on DEVICE_NEEDS_RESET and when a request
 *    never completes, so the device never writes memory we freed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vblk/spec/virtio_pci.h>

#include "client.h"
#include "internal/barrier.h"
#include "internal/pci_sysfs.h"

#define PCI_CFG_SIZE	     256
#define PCI_MAX_CAPS	     48 /* 192 bytes of capabilities / 4: bounds a looping list */
#define PCI_GEN_RETRIES	     64 /* §2.5.1: config reads until the generation settles */
#define PCI_RESET_DEFAULT_MS 5000u

struct pci_region {
	volatile uint8_t *p;
	uint32_t len;
};

struct client_pci {
	char dir[sizeof(PCI_SYSFS_DEVICES) + 16]; /* sysfs directory of the function */
	int cfg_fd;
	char uio_path[32]; /* /dev/uioN with VBLK_OPEN_INTERRUPTS, else "" */
	void *bar[6];
	size_t bar_len[6];
	struct pci_region common, notify, isr, device;
	uint32_t notify_mult;
	unsigned timeout_ms;
	bool reset; /* we reset it after it went: it is dead to us */
};

#define COMMON(pci, field) ((pci)->common.p + offsetof(struct virtio_pci_common_cfg, field))

/*
 * MMIO accessors: volatile accesses of the field's own width (§4.1.3.1);
 * 64-bit fields as two 32-bit halves, low first (§4.1.3.1 allows it).
 */
/*
 * A unit test that includes this file may define PCI_MMIO_HOOK(p, write)
 * to play a misbehaving device: called before each register read and after
 * each register write. Nothing in the library defines it.
 */
#ifndef PCI_MMIO_HOOK
#define PCI_MMIO_HOOK(p, write) ((void)0)
#endif
/*
 * ... and PCI_UIO_OPEN(pci) to stand in for opening /dev/uioN: a
 * non-blocking fd that turns readable on an interrupt and reads as 4 bytes.
 */
#ifndef PCI_UIO_OPEN
#define PCI_UIO_OPEN(pci) open((pci)->uio_path, O_RDWR | O_CLOEXEC | O_NONBLOCK)
#endif
static uint8_t rd8(volatile uint8_t *p)
{
	PCI_MMIO_HOOK(p, false);
	return *p;
}
static uint16_t rd16(volatile uint8_t *p)
{
	PCI_MMIO_HOOK(p, false);
	return vblk_le16_to_cpu(*(volatile uint16_t *)(volatile void *)p);
}
static uint32_t rd32(volatile uint8_t *p)
{
	PCI_MMIO_HOOK(p, false);
	return vblk_le32_to_cpu(*(volatile uint32_t *)(volatile void *)p);
}
static void wr8(volatile uint8_t *p, uint8_t v)
{
	*p = v;
	PCI_MMIO_HOOK(p, true);
}
static void wr16(volatile uint8_t *p, uint16_t v)
{
	*(volatile uint16_t *)(volatile void *)p = vblk_cpu_to_le16(v);
	PCI_MMIO_HOOK(p, true);
}
static void wr32(volatile uint8_t *p, uint32_t v)
{
	*(volatile uint32_t *)(volatile void *)p = vblk_cpu_to_le32(v);
	PCI_MMIO_HOOK(p, true);
}
static void wr64(volatile uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void nap_us(long us)
{
	struct timespec ts = {0, us * 1000};

	nanosleep(&ts, NULL);
}

/* Map BAR bar whole (once) and return [off, off+len) in it, or NULL. */
static volatile uint8_t *map_bar(struct vblk *dev, unsigned bar, uint32_t off, uint32_t len)
{
	struct client_pci *pci = dev->pci;
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (bar > 5)
		return NULL;
	if (!pci->bar[bar]) {
		snprintf(path, sizeof(path), "%s/resource%u", pci->dir, bar);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return NULL;
		if (fstat(fd, &st) < 0 || st.st_size <= 0) {
			close(fd);
			return NULL;
		}
		pci->bar[bar] =
		    mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (pci->bar[bar] == MAP_FAILED) {
			pci->bar[bar] = NULL;
			return NULL;
		}
		pci->bar_len[bar] = (size_t)st.st_size;
	}
	/* The capability is the device's word: it must lie inside the BAR. */
	if ((uint64_t)off + len > pci->bar_len[bar])
		return NULL;
	return (volatile uint8_t *)pci->bar[bar] + off;
}

/*
 * §4.1.4: walk the capability list for the first capability of each
 * virtio structure type (the spec lets a device list several; the driver
 * should use the first it can), bounded against a looping list.
 */
static int find_caps(struct vblk *dev, const uint8_t *cfg, const struct vblk_options *o)
{
	struct client_pci *pci = dev->pci;
	struct virtio_pci_cap caps[VIRTIO_PCI_CAP_DEVICE_CFG + 1] = {{0}};
	unsigned pos = cfg[PCI_CFG_CAP_PTR] & 0xfc;
	uint32_t mult = 0;

	if (!(cfg[PCI_CFG_STATUS] & PCI_STATUS_CAP_LIST))
		pos = 0;
	for (unsigned n = 0; pos && n < PCI_MAX_CAPS; n++) {
		struct virtio_pci_cap c;
		if (pos < 0x40 || pos + sizeof(struct virtio_pci_notify_cap) > PCI_CFG_SIZE)
			break;
		memcpy(&c, cfg + pos, sizeof(c));
		if (c.cap_vndr == PCI_CAP_ID_VNDR && c.cap_len >= sizeof(c) &&
		    c.cfg_type >= VIRTIO_PCI_CAP_COMMON_CFG &&
		    c.cfg_type <= VIRTIO_PCI_CAP_DEVICE_CFG && !caps[c.cfg_type].cap_vndr &&
		    c.bar <= 5) {
			if (c.cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
				if (c.cap_len < sizeof(struct virtio_pci_notify_cap))
					goto next;
				memcpy(&mult, cfg + pos + sizeof(c), sizeof(mult));
				mult = vblk_le32_to_cpu(mult);
			}
			caps[c.cfg_type] = c;
		}
	next:
		pos = c.cap_next & 0xfc;
	}
	for (unsigned t = VIRTIO_PCI_CAP_COMMON_CFG; t <= VIRTIO_PCI_CAP_DEVICE_CFG; t++) {
		static const uint32_t min_len[] = {0, sizeof(struct virtio_pci_common_cfg), 2, 1,
						   sizeof(vblk_le64)};
		struct pci_region *r = t == VIRTIO_PCI_CAP_COMMON_CFG	? &pci->common
				       : t == VIRTIO_PCI_CAP_NOTIFY_CFG ? &pci->notify
				       : t == VIRTIO_PCI_CAP_ISR_CFG	? &pci->isr
									: &pci->device;
		uint32_t len = vblk_le32_to_cpu(caps[t].length);
		if (!caps[t].cap_vndr) {
			client_set_error(o,
					 "%s: no virtio capability of type %u: not a modern "
					 "(virtio 1.x) PCI device",
					 pci->dir, t);
			return -ENODEV;
		}
		if (len < min_len[t]) {
			client_set_error(o, "%s: virtio capability %u is %u bytes, too short",
					 pci->dir, t, len);
			return -EPROTO;
		}
		r->p = map_bar(dev, caps[t].bar, vblk_le32_to_cpu(caps[t].offset), len);
		if (!r->p) {
			client_set_error(o, "%s: cannot map BAR %u for virtio capability %u (%s)",
					 pci->dir, caps[t].bar, t,
					 errno ? strerror(errno) : "outside the BAR");
			return -ENODEV;
		}
		r->len = len;
	}
	pci->notify_mult = mult;
	return 0;
}

/* §4.1.4.3.2: write 0, then wait (bounded) until device_status reads 0. */
static int reset_device(struct client_pci *pci)
{
	uint64_t end = now_ms() + pci->timeout_ms;

	wr8(COMMON(pci, device_status), 0);
	while (rd8(COMMON(pci, device_status)) != 0) {
		if (now_ms() > end)
			return -ETIMEDOUT;
		nap_us(100);
	}
	return 0;
}

static void add_status(struct client_pci *pci, uint8_t bits)
{
	wr8(COMMON(pci, device_status), (uint8_t)(rd8(COMMON(pci, device_status)) | bits));
}

/* §2.5.1: read the device config until config_generation is the same before and after. */
static int read_config(struct client_pci *pci, struct virtio_blk_config *cfg)
{
	uint32_t len = pci->device.len < CLIENT_CONFIG_READ ? pci->device.len : CLIENT_CONFIG_READ;

	for (unsigned tries = 0; tries < PCI_GEN_RETRIES; tries++) {
		uint8_t gen = rd8(COMMON(pci, config_generation)), *dst = (uint8_t *)cfg;
		uint32_t i = 0;

		memset(cfg, 0, sizeof(*cfg));
		for (; i + 4 <= len; i += 4) {
			uint32_t v = vblk_cpu_to_le32(rd32(pci->device.p + i));
			memcpy(dst + i, &v, 4);
		}
		for (; i < len; i++)
			dst[i] = rd8(pci->device.p + i);
		if (rd8(COMMON(pci, config_generation)) == gen)
			return 0;
	}
	return -EIO;
}

static uint64_t read_features(struct client_pci *pci)
{
	uint64_t f = 0;

	for (uint32_t sel = 0; sel < 2; sel++) {
		wr32(COMMON(pci, device_feature_select), sel);
		f |= (uint64_t)rd32(COMMON(pci, device_feature)) << (32 * sel);
	}
	return f;
}

static void write_features(struct client_pci *pci, uint64_t f)
{
	for (uint32_t sel = 0; sel < 2; sel++) {
		wr32(COMMON(pci, driver_feature_select), sel);
		wr32(COMMON(pci, driver_feature), (uint32_t)(f >> (32 * sel)));
	}
}

/* /dev/uioN of the function (its sysfs uio/ directory names N). */
static int open_uio(struct client_pci *pci, const char *drv, const struct vblk_options *o)
{
	char path[PATH_MAX];
	struct dirent *e;
	int fd = -1;
	DIR *d;

	if (strcmp(drv, "uio_pci_generic")) {
		client_set_error(o, "%s: interrupts need the device bound to uio_pci_generic",
				 pci->dir);
		return -ENOTSUP;
	}
	snprintf(path, sizeof(path), "%s/uio", pci->dir);
	d = opendir(path);
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "uio", 3) && strlen(e->d_name) < 16) {
			snprintf(pci->uio_path, sizeof(pci->uio_path), "/dev/%s", e->d_name);
			/*
			 * Each queue opens it (pci_start_queue); this is the
			 * check. Closing a file of it clears Bus Master
			 * (uio_pci_generic's release): done before
			 * enable_function sets it.
			 */
			fd = open(pci->uio_path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
			break;
		}
	if (d)
		closedir(d);
	if (fd < 0) {
		client_set_error(o, "%s: no /dev/uioN to take interrupts from", pci->dir);
		return -ENODEV;
	}
	close(fd);
	return 0;
}

/*
 * Set the function's command register from cmd (what it reads now):
 *  - Memory Space and Bus Master: uio_pci_generic enables the device but not
 *    bus mastering, and the device must DMA.
 *  - INTx Disable cleared. uio_pci_generic's handler sets it on every
 *    interrupt and nothing clears it when a session ends, so the next
 *    session would start with it set. QEMU then takes the driver for one
 *    that polls and starts a vhost-user back end without a call eventfd
 *    (SET_VRING_CALL with the invalid FD flag); qemu-storage-daemon 7.2
 *    panics on its next completion ("Error writing eventfd"). An
 *    interrupt we do not wait for costs one masking by that handler.
 */
static int enable_function(struct client_pci *pci, uint16_t cmd, const struct vblk_options *o)
{
	uint16_t le;

	cmd = (uint16_t)((cmd | PCI_CMD_MEMORY | PCI_CMD_MASTER) & ~PCI_CMD_INTX_DISABLE);
	le = vblk_cpu_to_le16(cmd);
	if (pwrite(pci->cfg_fd, &le, 2, PCI_CFG_COMMAND) != 2) {
		int ret = -errno;
		client_set_error(o, "%s: cannot enable bus mastering: %s", pci->dir,
				 strerror(-ret));
		return ret;
	}
	return 0;
}

/* Open the function's sysfs files, check it is a virtio-blk device we may take. */
static int open_function(struct vblk *dev, const char *target, const struct vblk_options *o,
			 uint8_t *cfg)
{
	struct client_pci *pci = dev->pci;
	char bdf[16], path[PATH_MAX], drv[64];
	uint16_t vendor, device, cmd;
	ssize_t n;

	if (pci_parse_bdf(target + strlen(CLIENT_PCI_PREFIX), bdf, sizeof(bdf))) {
		client_set_error(o, "%s: not a PCI address (pci:DDDD:BB:DD.F)", target);
		return -EINVAL;
	}
	snprintf(pci->dir, sizeof(pci->dir), PCI_SYSFS_DEVICES "%s", bdf);
	snprintf(path, sizeof(path), "%s/config", pci->dir);
	pci->cfg_fd = open(path, O_RDWR | O_CLOEXEC);
	if (pci->cfg_fd < 0) {
		int ret = -errno;
		client_set_error(o, "%s: %s", path, strerror(-ret));
		return ret;
	}
	/* Without CAP_SYS_ADMIN sysfs hands out 64 bytes only: no capabilities. */
	n = pread(pci->cfg_fd, cfg, PCI_CFG_SIZE, 0);
	if (n != PCI_CFG_SIZE) {
		client_set_error(o, "%s: cannot read the config space (needs root)", path);
		return -EACCES;
	}
	memcpy(&vendor, cfg + PCI_CFG_VENDOR_ID, 2);
	memcpy(&device, cfg + PCI_CFG_DEVICE_ID, 2);
	vendor = vblk_le16_to_cpu(vendor);
	device = vblk_le16_to_cpu(device);
	if (vendor != VIRTIO_PCI_VENDOR_ID ||
	    (device != VIRTIO_PCI_DEVICE_ID_BLK && device != VIRTIO_PCI_DEVICE_ID_BLK_TRANS)) {
		client_set_error(o, "%s: %04x:%04x is not a virtio-blk device", bdf, vendor,
				 device);
		return -ENODEV;
	}
	/* A kernel driver owns the device: touching it would corrupt the kernel's state. */
	pci_sysfs_driver(pci->dir, drv, sizeof(drv));
	if (drv[0] && strcmp(drv, "uio_pci_generic")) {
		client_set_error(o,
				 "%s is bound to %s: bind it to uio_pci_generic first "
				 "(vblk pci-bind %s)",
				 bdf, drv, bdf);
		return -EBUSY;
	}
	if (o->flags & VBLK_OPEN_INTERRUPTS) {
		int ret = open_uio(pci, drv, o);
		if (ret)
			return ret;
	}
	memcpy(&cmd, cfg + PCI_CFG_COMMAND, 2);
	return enable_function(pci, vblk_le16_to_cpu(cmd), o);
}

/* Queue sizes: what every queue takes, and no more than asked for (§4.1.4.3.2). */
static int fit_queue_size(struct client_pci *pci, struct vblk_options *o)
{
	unsigned size = o->queue_size;

	for (unsigned i = 0; i < o->num_queues; i++) {
		unsigned max;
		wr16(COMMON(pci, queue_select), (uint16_t)i);
		max = rd16(COMMON(pci, queue_size));
		if (max == 0) {
			client_set_error(o, "%s: queue %u is not available", pci->dir, i);
			return -EINVAL;
		}
		if (max < size)
			size = max;
	}
	/* A split ring's size is a power of two (§2.7): round a device's odd maximum down. */
	if (!(o->flags & VBLK_OPEN_PACKED_RING))
		while (size & (size - 1))
			size &= size - 1;
	o->queue_size = size;
	return 0;
}

/* With the structures mapped: initialise the device up to DRIVER_OK (excluded). */
static int init_device(struct vblk *dev, struct vblk_options *o, uint64_t *acked)
{
	struct client_pci *pci = dev->pci;
	struct virtio_blk_config cfg;
	uint64_t offered;
	int ret;

	/* §3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK and check it stuck. */
	ret = reset_device(pci);
	if (ret) {
		client_set_error(o, "%s: the device did not finish its reset", pci->dir);
		return ret;
	}
	add_status(pci, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	add_status(pci, VIRTIO_CONFIG_S_DRIVER);
	offered = read_features(pci);
	dev->info.device_features = offered;
	if (!(offered & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		client_set_error(o, "%s: the device does not offer VIRTIO_F_VERSION_1", pci->dir);
		return -ENOTSUP;
	}
	if (read_config(pci, &cfg)) {
		client_set_error(o, "%s: the config generation never settled", pci->dir);
		return -EIO;
	}
	ret = client_choose_features(dev, o, offered, &cfg, rd16(COMMON(pci, num_queues)), acked);
	if (ret)
		return ret;
	/* Without an IOMMU, physical addresses are what the platform wants (§6.1). */
	*acked |= offered & VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM);
	write_features(pci, *acked);
	add_status(pci, VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(rd8(COMMON(pci, device_status)) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		client_set_error(o, "%s: the device refused our features (FEATURES_OK not set)",
				 pci->dir);
		add_status(pci, VIRTIO_CONFIG_S_FAILED);
		return -ENOTSUP;
	}
	/* The config after FEATURES_OK is the one that holds for what we set. */
	if (read_config(pci, &cfg)) {
		client_set_error(o, "%s: the config generation never settled", pci->dir);
		return -EIO;
	}
	dev->info.features = *acked;
	client_parse_config(dev, &cfg, *acked);
	/* VBLK_OPEN_QUEUES_UP_TO: only the queues the device has. */
	if (o->num_queues > dev->info.max_queues)
		o->num_queues = dev->info.max_queues;
	return fit_queue_size(pci, o);
}

static int pci_open(struct vblk *dev, const char *target, struct vblk_options *o, uint64_t *acked)
{
	struct client_pci *pci;
	uint8_t space[PCI_CFG_SIZE];
	int ret;

	pci = calloc(1, sizeof(*pci));
	if (!pci)
		return -ENOMEM;
	pci->cfg_fd = -1;
	pci->timeout_ms = o->timeout_ms ? o->timeout_ms : PCI_RESET_DEFAULT_MS;
	dev->pci = pci;
	/* Nothing signals a completion: the queue fd stays readable while requests are pending. */
	dev->fd_level = !(o->flags & VBLK_OPEN_INTERRUPTS);
	ret = open_function(dev, target, o, space);
	if (!ret)
		ret = find_caps(dev, space, o);
	if (!ret)
		ret = init_device(dev, o, acked);
	return ret;
}

/* Physical address of the page at p (needs CAP_SYS_ADMIN), or 0. */
static uint64_t phys_addr(int pagemap, const void *p)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t ent;

	if (pread(pagemap, &ent, sizeof(ent), (off_t)((uintptr_t)p / (uintptr_t)page * 8)) !=
	    sizeof(ent))
		return 0;
	/* Documentation/admin-guide/mm/pagemap.rst: bit 63 present, bits 0-54 the PFN. */
	if (!(ent & (1ull << 63)))
		return 0;
	return (ent & ((1ull << 55) - 1)) * (uint64_t)page;
}

static int pci_map(struct vblk *dev)
{
	size_t nchunks;
	int pagemap, ret = 0;

	dev->mem_size = client_align_up(dev->mem_size, CLIENT_DMA_CHUNK);
	nchunks = dev->mem_size / CLIENT_DMA_CHUNK;
	dev->mem =
	    mmap(NULL, dev->mem_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE | MAP_LOCKED, -1, 0);
	if (dev->mem == MAP_FAILED) {
		dev->mem = NULL;
		ret = -errno;
		client_set_error(&dev->opts,
				 "cannot map %zu MiB of 2 MiB hugepages for DMA: %s (reserve them: "
				 "echo N > /proc/sys/vm/nr_hugepages)",
				 dev->mem_size >> 20, strerror(-ret));
		return ret;
	}
	/* MAP_LOCKED is best effort: the pages must stay put while the device uses them. */
	if (mlock(dev->mem, dev->mem_size) < 0) {
		ret = -errno;
		client_set_error(&dev->opts, "cannot lock DMA memory: %s", strerror(-ret));
		return ret;
	}
	dev->dma_phys = calloc(nchunks + 1, sizeof(*dev->dma_phys));
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (!dev->dma_phys || pagemap < 0) {
		ret = dev->dma_phys ? -errno : -ENOMEM;
		client_set_error(&dev->opts, "/proc/self/pagemap: %s", strerror(-ret));
		goto out;
	}
	for (size_t c = 0; c < nchunks; c++) {
		uint64_t pa = phys_addr(pagemap, dev->mem + c * CLIENT_DMA_CHUNK);
		if (!pa || pa % CLIENT_DMA_CHUNK) {
			client_set_error(&dev->opts,
					 "cannot learn the physical address of DMA memory "
					 "(/proc/self/pagemap needs CAP_SYS_ADMIN)");
			ret = -EPERM;
			goto out;
		}
		dev->dma_phys[c] = pa;
	}
	/* Sentinel: client_dma_run never joins the last chunk to memory past the region. */
	dev->dma_phys[nchunks] = 0;
	/* A queue larger than a chunk must be physically contiguous (layout_queue). */
	for (unsigned i = 0; i < dev->nqueues; i++) {
		const struct vblk_queue *q = &dev->queues[i];
		size_t len =
		    q->off_shm + (size_t)q->nreqs * sizeof(struct client_req_shm) - q->off_desc;
		if (client_dma_run(dev, dev->mem + q->off_desc, len) != len) {
			client_set_error(&dev->opts,
					 "queue %u needs %zu contiguous bytes of DMA memory and "
					 "the hugepages are not: use a smaller queue size",
					 i, len);
			ret = -ENOMEM;
			goto out;
		}
	}
out:
	if (pagemap >= 0)
		close(pagemap);
	return ret;
}

/*
 * With interrupts: q's own open of /dev/uioN (irq_fd), and for
 * vblk_queue_fd() an epoll set of it and call_fd (completions made without
 * the device), readable when either is.
 */
static int open_irq(struct vblk *dev, struct vblk_queue *q)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int ret;

	q->irq_fd = PCI_UIO_OPEN(dev->pci);
	if (q->irq_fd < 0)
		goto err;
	q->wake_fd = epoll_create1(EPOLL_CLOEXEC);
	if (q->wake_fd < 0)
		goto err;
	if (epoll_ctl(q->wake_fd, EPOLL_CTL_ADD, q->call_fd, &ev) < 0 ||
	    epoll_ctl(q->wake_fd, EPOLL_CTL_ADD, q->irq_fd, &ev) < 0)
		goto err;
	return 0;
err:
	ret = -errno;
	client_set_error(&dev->opts, "queue %u: cannot set up its interrupt fd (%s): %s", q->index,
			 dev->pci->uio_path, strerror(-ret));
	return ret;
}

static int pci_start_queue(struct vblk *dev, struct vblk_queue *q, unsigned num)
{
	struct client_pci *pci = dev->pci;
	uint64_t off;

	wr16(COMMON(pci, queue_select), (uint16_t)q->index);
	wr16(COMMON(pci, queue_size), (uint16_t)num);
	/* Polling (or INTx): no MSI-X vector for this queue. */
	wr16(COMMON(pci, queue_msix_vector), VIRTIO_MSI_NO_VECTOR);
	wr64(COMMON(pci, queue_desc), client_dev_addr(dev, dev->mem + q->off_desc));
	wr64(COMMON(pci, queue_driver), client_dev_addr(dev, dev->mem + q->off_avail));
	wr64(COMMON(pci, queue_device), client_dev_addr(dev, dev->mem + q->off_used));
	/* §4.1.4.4: the queue's notify address, which must lie inside the capability. */
	off = (uint64_t)rd16(COMMON(pci, queue_notify_off)) * pci->notify_mult;
	if (off + 2 > pci->notify.len) {
		client_set_error(&dev->opts,
				 "%s: queue %u's notification address is outside the notify "
				 "capability",
				 pci->dir, q->index);
		return -EPROTO;
	}
	q->notify_reg = (void *)(uintptr_t)(pci->notify.p + off);
	if (pci->uio_path[0]) {
		int ret = open_irq(dev, q);
		if (ret)
			return ret;
	}
	wr16(COMMON(pci, queue_enable), 1);
	q->started = true;
	return 0;
}

/* Let INTx through again: uio_pci_generic set Interrupt Disable in its handler. */
static void unmask_intx(struct client_pci *pci)
{
	uint16_t cmd;

	if (pread(pci->cfg_fd, &cmd, 2, PCI_CFG_COMMAND) != 2)
		return;
	cmd = vblk_le16_to_cpu(cmd);
	if (!(cmd & PCI_CMD_INTX_DISABLE))
		return;
	cmd = vblk_cpu_to_le16((uint16_t)(cmd & ~PCI_CMD_INTX_DISABLE));
	(void)!pwrite(pci->cfg_fd, &cmd, 2, PCI_CFG_COMMAND);
}

static int pci_go_live(struct vblk *dev)
{
	struct client_pci *pci = dev->pci;
	uint8_t st;

	/*
	 * An interrupt taken before the queues' uio files were open left INTx
	 * masked and counted on none of them: from here on, every one counts.
	 */
	if (pci->uio_path[0])
		unmask_intx(pci);
	add_status(pci, VIRTIO_CONFIG_S_DRIVER_OK);
	st = rd8(COMMON(pci, device_status));
	if (st == 0xff || (st & VIRTIO_CONFIG_S_NEEDS_RESET) || !(st & VIRTIO_CONFIG_S_DRIVER_OK)) {
		client_set_error(&dev->opts, "%s: the device did not accept DRIVER_OK (status %#x)",
				 pci->dir, st);
		return -EIO;
	}
	return 0;
}

static int pci_notify(struct vblk_queue *q)
{
	/*
	 * Orders the ring stores (descriptors, avail idx) before the doorbell
	 * store: the device reads the ring when it sees the doorbell.
	 */
	smp_mb();
	/* §4.1.5.2: without VIRTIO_F_NOTIFICATION_DATA the queue index is the data. */
	wr16(q->notify_reg, (uint16_t)q->index);
	return 0;
}

/*
 * A device that vanished reads as all ones; one that asks for a reset
 * (§2.1.2) gets it now, so it stops using our memory at once.
 */
static bool pci_gone(struct vblk *dev, bool probe)
{
	struct client_pci *pci = dev->pci;
	uint8_t st;

	if (pci->reset)
		return true;
	if (!probe)
		return false;
	st = rd8(COMMON(pci, device_status));
	if (st != 0xff && !(st & VIRTIO_CONFIG_S_NEEDS_RESET))
		return false;
	if (st != 0xff)
		(void)reset_device(pci);
	pci->reset = true;
	return true;
}

/*
 * Before vblk_queue_poll() looks at q's ring. An interrupt since q's last
 * look (its uio fd counted one) left INTx masked by uio_pci_generic's
 * handler: read the ISR, which acknowledges it and deasserts the line
 * (§4.1.4.5), then unmask. Acknowledging before looking is what makes the
 * re-check race-free: a completion after the ISR read asserts the line
 * again, and the unmasked (level-triggered) line raises a new interrupt;
 * one before it is seen by the look that follows. The line is shared by
 * the queues: another queue's ack may deassert it for a completion of
 * ours, but the interrupt that masked the line counted on our fd too, and
 * no new interrupt is counted until some queue unmasks (after which the
 * device, if it signalled meanwhile, interrupts again). No interrupt since
 * the last look: nothing to acknowledge, and no MMIO access on that path.
 */
static void pci_ack(struct vblk_queue *q)
{
	struct client_pci *pci = q->dev->pci;
	uint32_t count;

	if (q->irq_fd < 0 || read(q->irq_fd, &count, sizeof(count)) != sizeof(count))
		return;
	(void)rd8(pci->isr.p);
	unmask_intx(pci);
}

/*
 * Sleep on q's fds until an interrupt or a completion made without the
 * device; vblk_queue_poll() acknowledged and re-armed before. Sliced, so
 * that a device that vanished or asks for a reset is noticed.
 */
static int wait_irq(struct vblk_queue *q, int timeout_ms)
{
	uint64_t start = now_ms();

	for (;;) {
		struct pollfd pfd[2] = {{.fd = q->call_fd, .events = POLLIN},
					{.fd = q->irq_fd, .events = POLLIN}};
		int slice = 100, n;

		if (vq_drv_more_used(&q->vq) || !fifo_empty(&q->done))
			return 1;
		if (pci_gone(q->dev, true))
			return -ENOTCONN;
		if (timeout_ms >= 0) {
			uint64_t spent = now_ms() - start;
			if (spent >= (uint64_t)timeout_ms)
				return 0;
			if ((uint64_t)slice > timeout_ms - spent)
				slice = (int)(timeout_ms - spent);
		}
		n = poll(pfd, 2, slice);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			return 1;
	}
}

static int pci_wait(struct vblk_queue *q, int timeout_ms)
{
	uint64_t start = now_ms();

	if (q->irq_fd >= 0)
		return wait_irq(q, timeout_ms);

	for (unsigned spin = 0;; spin++) {
		if (vq_drv_more_used(&q->vq) || !fifo_empty(&q->done))
			return 1;
		if (spin % 64 == 63) {
			if (pci_gone(q->dev, true))
				return -ENOTCONN;
			if (timeout_ms >= 0 && now_ms() - start >= (uint64_t)timeout_ms)
				return 0;
		}
		/* Spin first (a completion is usually microseconds away), then nap. */
		if (spin > 256)
			nap_us(20);
	}
}

static void pci_close(struct vblk *dev)
{
	struct client_pci *pci = dev->pci;

	if (!pci)
		return;
	/* Reset before the memory goes: the device must not DMA into freed pages. */
	if (pci->common.p && !pci->reset && reset_device(pci))
		client_log(dev, VBLK_MSG_WARNING, "%s: the device did not finish its reset",
			   pci->dir);
	for (unsigned b = 0; b < 6; b++)
		if (pci->bar[b])
			munmap(pci->bar[b], pci->bar_len[b]);
	if (pci->cfg_fd >= 0)
		close(pci->cfg_fd);
	for (unsigned i = 0; dev->queues && i < dev->nqueues; i++) {
		struct vblk_queue *q = &dev->queues[i];
		if (q->wake_fd >= 0 && q->wake_fd != q->call_fd)
			close(q->wake_fd);
		q->wake_fd = q->call_fd;
		if (q->irq_fd >= 0)
			close(q->irq_fd);
		q->irq_fd = -1;
	}
	free(pci);
	dev->pci = NULL;
}

/*
 * A request never completed: stop the device so it cannot write memory we
 * reuse. Several queue threads may call it at once: resetting twice is
 * harmless.
 */
static void pci_abandon(struct vblk *dev)
{
	if (!dev->pci->reset)
		(void)reset_device(dev->pci);
	dev->pci->reset = true;
}

const struct client_transport client_transport_pci = {
    .name = "device",
    .gone_msg = "the PCI device vanished or reported DEVICE_NEEDS_RESET (it was reset): "
		"requests it did not complete fail with ENOTCONN",
    .open = pci_open,
    .map = pci_map,
    .start_queue = pci_start_queue,
    .go_live = pci_go_live,
    .notify = pci_notify,
    .gone = pci_gone,
    .ack = pci_ack,
    .wait = pci_wait,
    .close = pci_close,
    .abandon = pci_abandon,
};
