/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the device-side ring (split, virtio 1.3 §2.7, or packed,
 * §2.8, driven through the vq_dev dispatcher the way the vhost-user server
 * drives it) and the request engine fed an arbitrary guest memory image. The
 * input is copied into a small "guest RAM" region that holds the ring at
 * fixed places; whatever the descriptors say, every pop/submit/push must stay
 * inside guest RAM and the disk, and the daemon must not crash. Built with
 * -fsanitize=fuzzer,address,undefined.
 *
 * Input layout: byte 0 = ring config (bits 0-1: log2 num, bit 2: packed ring
 * with num 3/5/6/7 instead of 1/2/4/8, bit 3 event_idx, bit 4 indirect,
 * bit 5 read-only disk, bit 6 packed ring), then the guest RAM image: the
 * descriptor table or ring at +0, the available ring or driver event
 * suppression at +0x800, the used ring or device event suppression at
 * +0x1000 (make_seeds.py writes both layouts).
 */
#include <stdint.h>
#include <string.h>

#include "backend/be.h"
#include "blk/blk.h"
#include "internal/log.h"
#include "virtq/vq_dev.h"

#define GUEST_GPA  0x10000u
#define GUEST_SIZE 0x10000u
#define DESC_OFF   0x0u
#define AVAIL_OFF  0x800u
#define USED_OFF   0x1000u
#define MAX_IOV	   256
#define GUEST_UVA  0x7f0000000000ull

static const unsigned odd_num[] = {3, 5, 6, 7};

struct slot {
	struct blk_req req;
	struct iovec iov[MAX_IOV];
	uint16_t head;
};

struct fuzz_ctx {
	struct vq_dev *vq;
	unsigned completed;
};

static void fuzz_done(struct blk_req *req, uint32_t used_len, void *opaque)
{
	struct fuzz_ctx *ctx = opaque;
	struct slot *s = (struct slot *)(void *)req;

	vq_dev_push(ctx->vq, s->head, used_len);
	ctx->completed++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t guest[GUEST_SIZE] __attribute__((aligned(4096)));
	static struct slot slots[8];
	struct vq_mem mem = {0};
	struct vq_dev vq = {0};
	struct be *be = NULL;
	struct blk_dev dev;
	struct blk_queue *q = NULL;
	struct be_opts bopts = {0};
	struct fuzz_ctx ctx = {.vq = &vq};

	if (size < 1)
		return 0;
	log_set_level(LOGL_ERR);
	bool packed = data[0] & 64;
	/* 1..8 entries, as many slots as we have; §2.8 allows any size for a packed ring. */
	unsigned num = packed && (data[0] & 4) ? odd_num[data[0] & 3] : 1u << (data[0] & 3);
	struct vq_dev_areas areas;

	memset(guest, 0, sizeof(guest));
	memcpy(guest, data + 1, size - 1 < GUEST_SIZE ? size - 1 : GUEST_SIZE);

	struct vq_mem_region r = {
	    .gpa = GUEST_GPA, .uva = GUEST_UVA, .size = GUEST_SIZE, .hva = guest};
	if (vq_mem_add(&mem, &r))
		return 0;
	/* As vu_server starts a queue: layout, areas (translated and checked), features, base. */
	if (vq_dev_init_ring(&vq, num, packed))
		return 0;
	if (vq_dev_map_areas(&vq, &mem, GUEST_UVA + DESC_OFF, GUEST_UVA + AVAIL_OFF,
			     GUEST_UVA + USED_OFF, &areas))
		goto out;
	vq.event_idx = data[0] & 8;
	vq.indirect = data[0] & 16;
	if (vq_dev_start_areas(&vq, &mem, &areas, packed ? VQ_PACKED_BASE_INIT : 0))
		goto out;

	bopts.ro = data[0] & 32;
	if (be_open("memory:1M", &bopts, &be))
		goto out;
	struct blk_dev_opts dopts = {
	    .ro = bopts.ro, .serial = "fuzz", .num_queues = 1, .queue_size = num};
	if (blk_dev_init(&dev, be, &dopts))
		goto out;
	if (blk_queue_create(&dev, num, fuzz_done, &ctx, &q))
		goto out;

	/* Bounded: at most 4 rounds of the ring; a broken queue stops early. */
	for (unsigned round = 0; round < 4 * num && !vq.broken; round++) {
		struct slot *s = &slots[round % num];
		struct vq_dev_elem elem;

		if (vq.inflight == num)
			break;
		int ret = vq_dev_pop(&vq, &elem, s->iov, MAX_IOV);
		if (ret <= 0)
			break;
		s->head = elem.head;
		s->req.iov = elem.iov;
		s->req.out_num = elem.out_num;
		s->req.in_num = elem.in_num;
		if (!blk_req_submit(q, &s->req)) {
			vq_dev_set_broken(&vq, "fuzz: no status byte");
			break;
		}
		blk_queue_kick(q);
		blk_queue_process(q);
		vq_dev_need_notify(&vq);
	}
	while (blk_queue_inflight(q))
		blk_queue_process(q);
out:
	blk_queue_destroy(q);
	be_close(be);
	vq_dev_fini(&vq);
	return 0;
}
