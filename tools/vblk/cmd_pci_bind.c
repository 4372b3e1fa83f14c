/* SPDX-License-Identifier: MIT */
/*
 * vblk pci-bind: hand a virtio-blk PCI function from the kernel's
 * virtio-pci driver to uio_pci_generic, so libvblk's PCI transport can drive
 * it ("pci:BDF"), or (--kernel) give it back. Refuses functions that are not
 * virtio-blk, and a disk the kernel has mounted or otherwise holds.
 * Uses sysfs only: driver_override, driver/unbind, drivers_probe.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "internal/pci_sysfs.h"

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : n < 0 ? -errno : -EIO;
}

static unsigned read_hex(const char *dir, const char *name)
{
	char path[PATH_MAX], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof(buf), f))
		die("%s: cannot read", path);
	fclose(f);
	return (unsigned)strtoul(buf, NULL, 16);
}

/* Is /dev/NAME or one of its partitions mounted, or held (RAID, LVM, ...)? */
static void refuse_if_busy(const char *disk)
{
	char line[4096], path[PATH_MAX], dev[PATH_MAX];
	size_t len = (size_t)snprintf(dev, sizeof(dev), "/dev/%s", disk);
	FILE *m = fopen("/proc/self/mounts", "re");
	DIR *d;

	while (m && fgets(line, sizeof(line), m))
		/* /dev/vda, /dev/vda1, ... but not /dev/vdab */
		if (!strncmp(line, dev, len) &&
		    (line[len] == ' ' || (line[len] >= '0' && line[len] <= '9') ||
		     line[len] == 'p'))
			die("%s has a mounted filesystem: %s", dev, strtok(line, "\n"));
	if (m)
		fclose(m);
	snprintf(path, sizeof(path), "/sys/block/%s/holders", disk);
	d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.')
			die("%s is held by %s", dev, e->d_name);
	if (d)
		closedir(d);
}

/* The kernel disks (vda, ...) of the virtio-pci function at dir. */
static void refuse_busy_disks(const char *dir)
{
	char path[PATH_MAX + 512];
	DIR *d = opendir(dir), *b;

	for (struct dirent *e; d && (e = readdir(d));) {
		if (strncmp(e->d_name, "virtio", 6))
			continue;
		snprintf(path, sizeof(path), "%s/%s/block", dir, e->d_name);
		b = opendir(path);
		for (struct dirent *k; b && (k = readdir(b));)
			if (k->d_name[0] != '.')
				refuse_if_busy(k->d_name);
		if (b)
			closedir(b);
	}
	if (d)
		closedir(d);
}

enum { OPT_KERNEL = OPT_OWN };

static void on_opt(void *ctx, int id, const char *val)
{
	(void)val;
	*(bool *)ctx = id == OPT_KERNEL;
}

int cmd_pci_bind(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"kernel", no_argument, NULL, OPT_KERNEL},
	    {NULL, 0, NULL, 0},
	};
	bool to_kernel = false;
	char dir[64], path[PATH_MAX], drv[64], bdf[16];
	unsigned vendor, device;
	const char *want;
	int ret;

	argv = cli_getopt(cli, argc, argv, opts, on_opt, &to_kernel, &argc);
	if (argc != 1)
		usage_error("pci-bind: expected one PCI address (DDDD:BB:DD.F)");
	if (pci_parse_bdf(strncmp(argv[0], "pci:", 4) ? argv[0] : argv[0] + 4, bdf, sizeof(bdf)))
		usage_error("pci-bind: '%s' is not a PCI address (DDDD:BB:DD.F)", argv[0]);
	snprintf(dir, sizeof(dir), PCI_SYSFS_DEVICES "%s", bdf);
	if (access(dir, F_OK))
		die("%s: no such PCI function", bdf);
	vendor = read_hex(dir, "vendor");
	device = read_hex(dir, "device");
	/* virtio 1.3 §4.1.2: 0x1af4, and 0x1042 (modern) or 0x1001 (transitional) for block. */
	if (vendor != 0x1af4 || (device != 0x1042 && device != 0x1001))
		die("%s: %04x:%04x is not a virtio-blk device", bdf, vendor, device);
	want = to_kernel ? "virtio-pci" : "uio_pci_generic";
	pci_sysfs_driver(dir, drv, sizeof(drv));
	if (!strcmp(drv, want)) {
		printf("%s: already bound to %s\n", bdf, want);
		return 0;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s", want);
	if (access(path, F_OK))
		die("driver %s is not loaded (modprobe %s)", want,
		    to_kernel ? "virtio_pci" : "uio_pci_generic");
	if (!strcmp(drv, "virtio-pci"))
		refuse_busy_disks(dir);
	/* driver_override first, so nothing else grabs it between unbind and probe. */
	snprintf(path, sizeof(path), "%s/driver_override", dir);
	ret = write_file(path, to_kernel ? "\n" : want);
	if (ret)
		die("%s: %s", path, strerror(-ret));
	if (drv[0]) {
		snprintf(path, sizeof(path), "%s/driver/unbind", dir);
		ret = write_file(path, bdf);
		if (ret)
			die("%s: %s", path, strerror(-ret));
	}
	ret = write_file("/sys/bus/pci/drivers_probe", bdf);
	pci_sysfs_driver(dir, drv, sizeof(drv));
	if (strcmp(drv, want))
		die("%s: could not bind to %s (%s)", bdf, want, ret ? strerror(-ret) : "not taken");
	printf("%s: bound to %s\n", bdf, want);
	return 0;
}
