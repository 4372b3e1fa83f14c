/* SPDX-License-Identifier: MIT */
/*
 * The PCI transport against a hostile device, without a device: the
 * function's sysfs files are regular files in a temporary directory (a
 * "config" of crafted capabilities, a "resource0" whose mapping stands in
 * for BAR 0). Checks: a looping capability list ends; a structure outside
 * its BAR, too short, or missing is refused; a notify offset outside the
 * notify capability is an error, not a wild pointer; a device reading all
 * ones, or asking for a reset, is gone (and the latter is reset); opening
 * the function leaves INTx enabled.
 */
#include "../../lib/client/tr_pci.c"

#include <stdlib.h>

#include "test.h"

#define BAR_SIZE 0x4000

static char dir[24];
static uint8_t cfg[PCI_CFG_SIZE];

static void put_cap(unsigned pos, unsigned next, uint8_t type, uint32_t off, uint32_t len)
{
	struct virtio_pci_notify_cap c;

	memset(&c, 0, sizeof(c));
	c.cap.cap_vndr = PCI_CAP_ID_VNDR;
	c.cap.cap_next = (uint8_t)next;
	c.cap.cap_len = sizeof(c);
	c.cap.cfg_type = type;
	c.cap.bar = 0;
	c.cap.offset = vblk_cpu_to_le32(off);
	c.cap.length = vblk_cpu_to_le32(len);
	c.notify_off_multiplier = vblk_cpu_to_le32(4);
	memcpy(cfg + pos, &c, sizeof(c));
}

/* A fresh device object over dir, with nothing mapped yet. */
static void fresh(struct vblk *dev, struct client_pci *pci)
{
	memset(dev, 0, sizeof(*dev));
	memset(pci, 0, sizeof(*pci));
	pci->cfg_fd = -1;
	pci->timeout_ms = 200;
	snprintf(pci->dir, sizeof(pci->dir), "%s", dir);
	dev->pci = pci;
}

static void unmap(struct client_pci *pci)
{
	for (unsigned b = 0; b < 6; b++)
		if (pci->bar[b])
			munmap(pci->bar[b], pci->bar_len[b]);
}

static void good_caps(void)
{
	memset(cfg, 0, sizeof(cfg));
	cfg[PCI_CFG_STATUS] = PCI_STATUS_CAP_LIST;
	cfg[PCI_CFG_CAP_PTR] = 0x40;
	put_cap(0x40, 0x54, VIRTIO_PCI_CAP_COMMON_CFG, 0, 0x100);
	put_cap(0x54, 0x68, VIRTIO_PCI_CAP_NOTIFY_CFG, 0x1000, 0x1000);
	put_cap(0x68, 0x7c, VIRTIO_PCI_CAP_ISR_CFG, 0x2000, 1);
	put_cap(0x7c, 0, VIRTIO_PCI_CAP_DEVICE_CFG, 0x3000, 0x100);
}

int main(void)
{
	struct vblk_options o = {0};
	struct client_pci pci;
	struct vblk dev;
	char path[128];
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/vph.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/resource0", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, BAR_SIZE), 0);
	close(fd);

	/* A capability list that points at itself ends, and misses the other types. */
	memset(cfg, 0, sizeof(cfg));
	cfg[PCI_CFG_STATUS] = PCI_STATUS_CAP_LIST;
	cfg[PCI_CFG_CAP_PTR] = 0x40;
	put_cap(0x40, 0x40, VIRTIO_PCI_CAP_COMMON_CFG, 0, 0x100);
	fresh(&dev, &pci);
	CHECK_EQ(find_caps(&dev, cfg, &o), -ENODEV);
	unmap(&pci);

	/* A next pointer into the header or past the end ends the walk too. */
	put_cap(0x40, 0x08, VIRTIO_PCI_CAP_COMMON_CFG, 0, 0x100);
	fresh(&dev, &pci);
	CHECK_EQ(find_caps(&dev, cfg, &o), -ENODEV);
	unmap(&pci);

	/* A structure that runs past its BAR is refused. */
	good_caps();
	put_cap(0x7c, 0, VIRTIO_PCI_CAP_DEVICE_CFG, BAR_SIZE - 0x10, 0x100);
	fresh(&dev, &pci);
	CHECK_EQ(find_caps(&dev, cfg, &o), -ENODEV);
	unmap(&pci);

	/* A common structure too short to hold its fields is refused. */
	good_caps();
	put_cap(0x40, 0x54, VIRTIO_PCI_CAP_COMMON_CFG, 0, 8);
	fresh(&dev, &pci);
	CHECK_EQ(find_caps(&dev, cfg, &o), -EPROTO);
	unmap(&pci);

	/* The good layout maps. */
	good_caps();
	fresh(&dev, &pci);
	CHECK_EQ(find_caps(&dev, cfg, &o), 0);
	CHECK_EQ(pci.notify_mult, 4);
	CHECK_EQ(pci.isr.len, 1);

	/* Reset completes when status reads 0. */
	CHECK_EQ(reset_device(&pci), 0);

	/* A device that reads all ones has vanished; one asking for a reset gets it. */
	wr8(COMMON(&pci, device_status), 0xff);
	CHECK(pci_gone(&dev, true));
	pci.reset = false;
	wr8(COMMON(&pci, device_status), VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(!pci_gone(&dev, false)); /* without probe: from state only */
	CHECK(pci_gone(&dev, true));
	CHECK_EQ(rd8(COMMON(&pci, device_status)), 0);
	pci.reset = false;
	wr8(COMMON(&pci, device_status), VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(!pci_gone(&dev, true));

	/* The config of a device whose generation stays put is read once. */
	{
		struct virtio_blk_config c;
		wr32(pci.device.p, 0x1234);
		CHECK_EQ(read_config(&pci, &c), 0);
		CHECK_EQ(vblk_le64_to_cpu(c.capacity) & 0xffffffff, 0x1234);
	}

	/* A notify offset outside the notify capability fails the queue, no wild pointer. */
	{
		static uint8_t mem[1 << 16] __attribute__((aligned(4096)));
		/*
		 * Static: struct vblk_queue is 64-byte aligned, and ASan's fake
		 * stack (use-after-return detection) does not honour that.
		 */
		static struct vblk_queue q;
		dev.mem = mem;
		q.dev = &dev;
		wr16(COMMON(&pci, queue_notify_off), 0xffff);
		CHECK_EQ(pci_start_queue(&dev, &q, 8), -EPROTO);
		CHECK(!q.started);
		wr16(COMMON(&pci, queue_notify_off), 3);
		CHECK_EQ(pci_start_queue(&dev, &q, 8), 0);
		CHECK(q.notify_reg == (void *)(uintptr_t)(pci.notify.p + 12));
	}
	unmap(&pci);

	/*
	 * Opening enables memory and bus mastering and clears INTx Disable,
	 * which uio_pci_generic's handler leaves set after a session: with it
	 * set, QEMU starts a vhost-user back end without a call eventfd.
	 */
	{
		uint16_t cmd;
		snprintf(path, sizeof(path), "%s/config", dir);
		fresh(&dev, &pci);
		pci.cfg_fd = open(path, O_RDWR | O_CREAT, 0600);
		CHECK(pci.cfg_fd >= 0);
		CHECK_EQ(enable_function(&pci, 0x0501, &o), 0);
		CHECK_EQ(pread(pci.cfg_fd, &cmd, 2, PCI_CFG_COMMAND), 2);
		CHECK_EQ(vblk_le16_to_cpu(cmd), 0x0107);
		close(pci.cfg_fd);
	}

	snprintf(path, sizeof(path), "rm -rf %s", dir);
	CHECK_EQ(system(path), 0);
	return 0;
}
