/* SPDX-License-Identifier: MIT */
/*
 * The two facts about a PCI function that both libvblk's PCI transport and
 * `vblk pci-bind` read from sysfs, header-only (libvblk links no
 * lib/internal objects): a PCI address in canonical form, and the kernel
 * driver a function is bound to.
 */
#ifndef VBLK_INTERNAL_PCI_SYSFS_H
#define VBLK_INTERNAL_PCI_SYSFS_H

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PCI_SYSFS_DEVICES "/sys/bus/pci/devices/"

/*
 * "[DDDD:]BB:DD.F" (hex) into "DDDD:BB:DD.F" in out (at least 13 bytes).
 * Nothing else - no '/', no trailing text - gets near a sysfs path.
 * Returns 0 or -1.
 */
static inline int pci_parse_bdf(const char *s, char *out, size_t size)
{
	unsigned d = 0, b, dv, f;
	char tail;

	if (strspn(s, "0123456789abcdefABCDEF:.") != strlen(s))
		return -1;
	if (sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &dv, &f, &tail) != 4 &&
	    (d = 0, sscanf(s, "%2x:%2x.%1x%c", &b, &dv, &f, &tail) != 3))
		return -1;
	if (dv > 31 || f > 7)
		return -1;
	snprintf(out, size, "%04x:%02x:%02x.%x", d, b, dv, f);
	return 0;
}

/* The name of the driver the function at sysfs dir is bound to, or "" when none. */
static inline void pci_sysfs_driver(const char *dir, char *name, size_t size)
{
	char link[PATH_MAX], path[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/driver", dir);
	n = readlink(path, link, sizeof(link) - 1);
	name[0] = '\0';
	if (n <= 0)
		return;
	link[n] = '\0';
	base = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	if (strlen(base) < size)
		memcpy(name, base, strlen(base) + 1);
}

#endif
