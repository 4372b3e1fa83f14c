/* SPDX-License-Identifier: MIT */
/*
 * The register layout the fake-device PCI tests share, over one array
 * standing in for a BAR: common config at 0, notify at 0x1000 (multiplier
 * 4), ISR at 0x2000, device config at 0x3000. Include after tr_pci.c.
 */
#ifndef VBLK_TESTS_CLIENT_PCI_FAKE_REGS_H
#define VBLK_TESTS_CLIENT_PCI_FAKE_REGS_H

/* Point pci's regions into bar (0x4000 bytes, zeroed) and set a device of nq queues. */
static void pci_fake_regions(struct client_pci *pci, uint8_t *bar, unsigned nq)
{
	snprintf(pci->dir, sizeof(pci->dir), "fake");
	pci->common = (struct pci_region){bar, 0x100};
	pci->notify = (struct pci_region){bar + 0x1000, 0x1000};
	pci->isr = (struct pci_region){bar + 0x2000, 1};
	pci->device = (struct pci_region){bar + 0x3000, 0x100};
	pci->notify_mult = 4;
	wr16(COMMON(pci, queue_size), 256);
	wr16(COMMON(pci, num_queues), (uint16_t)nq);
	wr32(pci->device.p, 2048); /* capacity, low half */
	/* §5.2.4: num_queues, read when VIRTIO_BLK_F_MQ is offered. */
	bar[0x3000 + offsetof(struct virtio_blk_config, num_queues)] = (uint8_t)nq;
}

#endif
