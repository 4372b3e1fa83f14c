/* SPDX-License-Identifier: MIT */
/*
 * The PCI transport against a device that never gets anywhere, played by
 * PCI_MMIO_HOOK over registers in plain memory. Each must end in a clear
 * error within its bound, never a hang: a config generation that never
 * settles (§2.5.1), FEATURES_OK that does not stick (§3.1.1), a reset that
 * never completes (§4.1.4.3.2), a request that never completes (the
 * synchronous helper times out and the device is reset).
 */
#include <stdbool.h>
#include <stdint.h>

#include "test.h"

static void fake_device(volatile uint8_t *p, bool write);
#define PCI_MMIO_HOOK(p, write) fake_device((p), (write))

#include "../../lib/client/tr_pci.c"
#include "pci_fake_regs.h"

#include <stdlib.h>
#include <sys/eventfd.h>

#define NUM 8u

static uint8_t bar[0x4000] __attribute__((aligned(4096)));

static struct {
	bool gen_moves;		/* config_generation changes on every read */
	unsigned gen_reads;	/* reads of config_generation */
	bool features_ok_drops; /* a FEATURES_OK write does not stick */
	bool reset_stuck;	/* device_status never reads 0 */
} fake;

#define FIELD(f) offsetof(struct virtio_pci_common_cfg, f)

/* The device's side of a register access: before a read, after a write. */
static void fake_device(volatile uint8_t *p, bool write)
{
	/* Common config only (below bar wraps to a large offset too). */
	uintptr_t off = (uintptr_t)p - (uintptr_t)bar;

	if (off >= 0x100)
		return;
	if (!write && off == FIELD(device_feature)) {
		/* VERSION_1 (bit 32) and FLUSH (bit 9), by the select register. */
		uint32_t sel = vblk_le32_to_cpu(
		    *(volatile uint32_t *)(void *)(bar + FIELD(device_feature_select)));
		*(volatile uint32_t *)(void *)p =
		    vblk_cpu_to_le32(sel ? 1u : 1u << VIRTIO_BLK_F_FLUSH);
	} else if (!write && off == FIELD(config_generation)) {
		fake.gen_reads++;
		if (fake.gen_moves)
			(*p)++;
	} else if (write && off == FIELD(device_status) && fake.features_ok_drops) {
		*p &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	} else if (!write && off == FIELD(device_status) && fake.reset_stuck) {
		*p |= VIRTIO_CONFIG_S_ACKNOWLEDGE;
	}
}

/* A device over bar: common at 0, notify at 0x1000, ISR at 0x2000, config at 0x3000. */
static void fresh(struct vblk *dev, struct client_pci *pci, struct vblk_options *o)
{
	memset(bar, 0, sizeof(bar));
	memset(&fake, 0, sizeof(fake));
	memset(dev, 0, sizeof(*dev));
	memset(pci, 0, sizeof(*pci));
	memset(o, 0, sizeof(*o));
	o->num_queues = 1;
	o->queue_size = NUM;
	pci->cfg_fd = -1;
	pci->timeout_ms = 200;
	pci_fake_regions(pci, bar, 1);
	dev->pci = pci;
	dev->tr = &client_transport_pci;
	dev->io_timeout_ms = 300;
}

/* Queue q over mem, laid out as open.c would for a split ring of NUM. */
static void setup_queue(struct vblk *dev, struct vblk_queue *q, uint8_t *mem)
{
	struct vq_drv_layout l = {.num = NUM, .indir_max = CLIENT_REQ_MAX_SG};

	memset(q, 0, sizeof(*q));
	dev->mem = mem;
	q->dev = dev;
	q->nreqs = 2 * NUM;
	q->off_avail = virtq_desc_size(NUM);
	q->off_used = 4096;
	q->off_indir = 8192;
	q->off_shm = q->off_indir + (size_t)NUM * CLIENT_REQ_MAX_SG * sizeof(struct virtq_desc);
	q->state = calloc(NUM, vq_drv_state_size(false));
	q->reqs = calloc(q->nreqs, sizeof(*q->reqs));
	CHECK(q->state && q->reqs);
	l.desc = mem + q->off_desc;
	l.driver = mem + q->off_avail;
	l.device = mem + q->off_used;
	l.state = q->state;
	l.indir = mem + q->off_indir;
	l.indir_addr = client_dev_addr(dev, l.indir);
	CHECK_EQ(vq_drv_init_layout(&q->vq, &l), 0);
	for (unsigned i = 0; i < q->nreqs; i++) {
		q->reqs[i].shm = (struct client_req_shm *)(void *)(mem + q->off_shm) + i;
		q->reqs[i].shm_addr = client_dev_addr(dev, q->reqs[i].shm);
		client_req_push(&q->free, &q->reqs[i]);
	}
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(q->call_fd >= 0);
	q->wake_fd = q->call_fd;
	q->irq_fd = -1;
}

int main(void)
{
	static uint8_t mem[1 << 16] __attribute__((aligned(4096)));
	/* Static: 64-byte aligned, which ASan's fake stack does not honour. */
	static struct vblk_queue q;
	struct vblk_options o;
	struct client_pci pci;
	struct vblk dev;
	uint64_t acked, t0;

	/* A well-behaved device initialises: the fake plays it right. */
	fresh(&dev, &pci, &o);
	CHECK_EQ(init_device(&dev, &o, &acked), 0);
	CHECK(acked & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	CHECK(rd8(COMMON(&pci, device_status)) & VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(dev.info.capacity, 2048u * 512u);

	/* A generation that never settles: bounded retries, then a clear error. */
	fresh(&dev, &pci, &o);
	fake.gen_moves = true;
	CHECK_EQ(init_device(&dev, &o, &acked), -EIO);
	CHECK(strstr(vblk_get_error(), "generation never settled") != NULL);
	/* Bounded: a few dozen retries, not a spin on a device that is never done. */
	CHECK(fake.gen_reads > 2 && fake.gen_reads <= 1000);

	/* FEATURES_OK that does not stick: refused, and the device told FAILED. */
	fresh(&dev, &pci, &o);
	fake.features_ok_drops = true;
	CHECK_EQ(init_device(&dev, &o, &acked), -ENOTSUP);
	CHECK(strstr(vblk_get_error(), "FEATURES_OK") != NULL);
	CHECK(rd8(COMMON(&pci, device_status)) & VIRTIO_CONFIG_S_FAILED);

	/* A reset that never completes: an error after the deadline (200 ms). */
	fresh(&dev, &pci, &o);
	fake.reset_stuck = true;
	t0 = now_ms();
	CHECK_EQ(init_device(&dev, &o, &acked), -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 200);
	CHECK(now_ms() - t0 < 20000);
	CHECK(strstr(vblk_get_error(), "did not finish its reset") != NULL);

	/*
	 * A request the device never completes: the synchronous helper gives
	 * up after io_timeout_ms (300) with -ETIMEDOUT and resets the device.
	 */
	fresh(&dev, &pci, &o);
	CHECK_EQ(init_device(&dev, &o, &acked), 0);
	CHECK(dev.info.features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	setup_queue(&dev, &q, mem);
	CHECK_EQ(pci_start_queue(&dev, &q, NUM), 0);
	CHECK_EQ(pci_go_live(&dev), 0);
	t0 = now_ms();
	CHECK_EQ(vblk_flush(&q), -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 300);
	CHECK(now_ms() - t0 < 20000);
	CHECK_EQ(rd8(COMMON(&pci, device_status)), 0);
	CHECK(pci.reset);
	/* The device is dead to us: the next request fails at once. */
	CHECK(vblk_flush(&q) < 0);
	close(q.call_fd);
	free(q.state);
	free(q.reqs);
	return 0;
}
