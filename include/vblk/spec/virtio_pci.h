/* SPDX-License-Identifier: MIT */
/*
 * Virtio over PCI, modern interface (virtio 1.3 §4.1): the vendor-specific
 * capabilities that locate the device's structures in its BARs, and the
 * layout of the common configuration structure. Wire formats only.
 */
#ifndef VBLK_SPEC_VIRTIO_PCI_H
#define VBLK_SPEC_VIRTIO_PCI_H

#include <stdint.h>

#include "virtio_types.h"

/* §4.1.2: vendor 0x1AF4; modern device ID 0x1040 + virtio device ID (block: 2). */
#define VIRTIO_PCI_VENDOR_ID	       0x1af4
#define VIRTIO_PCI_DEVICE_ID_BLK       0x1042
#define VIRTIO_PCI_DEVICE_ID_BLK_TRANS 0x1001 /* transitional block device */

/* PCI configuration header (PCI Local Bus spec), the fields we use. */
#define PCI_CFG_VENDOR_ID    0x00
#define PCI_CFG_DEVICE_ID    0x02
#define PCI_CFG_COMMAND	     0x04
#define PCI_CFG_STATUS	     0x06
#define PCI_CFG_CAP_PTR	     0x34
#define PCI_CMD_MEMORY	     0x0002
#define PCI_CMD_MASTER	     0x0004
#define PCI_CMD_INTX_DISABLE 0x0400
#define PCI_STATUS_CAP_LIST  0x0010
#define PCI_CAP_ID_VNDR	     0x09

/* §4.1.4: struct virtio_pci_cap.cfg_type */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG	  5

struct virtio_pci_cap {
	uint8_t cap_vndr; /* PCI_CAP_ID_VNDR */
	uint8_t cap_next;
	uint8_t cap_len;
	uint8_t cfg_type;
	uint8_t bar;
	uint8_t id;
	uint8_t padding[2];
	vblk_le32 offset; /* in the BAR */
	vblk_le32 length;
};

/* §4.1.4.4: the notification capability adds the multiplier. */
struct virtio_pci_notify_cap {
	struct virtio_pci_cap cap;
	vblk_le32 notify_off_multiplier;
};

/* §4.1.4.3: the common configuration structure. */
struct virtio_pci_common_cfg {
	vblk_le32 device_feature_select;
	vblk_le32 device_feature;
	vblk_le32 driver_feature_select;
	vblk_le32 driver_feature;
	vblk_le16 config_msix_vector;
	vblk_le16 num_queues;
	uint8_t device_status;
	uint8_t config_generation;
	vblk_le16 queue_select;
	vblk_le16 queue_size;
	vblk_le16 queue_msix_vector;
	vblk_le16 queue_enable;
	vblk_le16 queue_notify_off;
	vblk_le64 queue_desc;
	vblk_le64 queue_driver;
	vblk_le64 queue_device;
};

/* §4.1.4.3: "no MSI-X vector": notifications go through INTx and the ISR. */
#define VIRTIO_MSI_NO_VECTOR 0xffff

#endif
