/* SPDX-License-Identifier: MIT */
/*
 * Inflight I/O tracking for split rings (vhost-user.rst "Inflight I/O
 * tracking", split virtqueue layout): every popped head is recorded in a
 * region shared with the front end, so that a back end started after this one
 * died can pop the unfinished heads again. The region is untrusted too: it is
 * validated when the queue starts and only ever indexed by heads we checked
 * against num. See vq_inflight.h for the interface.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal/barrier.h"
#include "internal/compiler.h"
#include "internal/log.h"
#include "vq_dev.h"
#include "vq_priv.h"

static struct vhost_user_inflight_split_queue *region(struct vq_dev *vq)
{
	return vq->inflight_region;
}

/*
 * A fresh region (GET_INFLIGHT_FD hands out zeroed memory): nothing was ever
 * in flight, base is the truth. The entries are cleared in case the front end
 * did not zero them.
 */
static void init(struct vq_dev *vq)
{
	struct vhost_user_inflight_split_queue *r = region(vq);

	memset(r->desc, 0, (size_t)vq->num * sizeof(r->desc[0]));
	WRITE_ONCE(r->features, 0);
	WRITE_ONCE(r->desc_num, vq->num);
	WRITE_ONCE(r->last_batch_head, 0);
	WRITE_ONCE(r->used_idx, vq->used_idx);
	/*
	 * Orders the initialisation above before the version store: a region
	 * that says version 1 must have valid entries.
	 */
	smp_wmb();
	WRITE_ONCE(r->version, VQ_DEV_INFLIGHT_VERSION);
	vq->inflight_counter = 0;
}

/*
 * A region an earlier back end used: the last batch is cleared if it was
 * already published, every entry still in flight is queued for resubmission
 * in counter order, and last_avail_idx becomes used->idx + the number in
 * flight. Every field is read once and checked before it is used as an index.
 */
static int recover(struct vq_dev *vq, uint16_t base)
{
	struct vhost_user_inflight_split_queue *r = region(vq);
	uint16_t last_batch_head = READ_ONCE(r->last_batch_head);
	uint16_t saved_used_idx = READ_ONCE(r->used_idx);
	uint64_t max_counter = 0;
	unsigned n = 0;

	if (last_batch_head >= vq->num) {
		log_warn("inflight region: last_batch_head %u >= queue size %u", last_batch_head,
			 vq->num);
		return -EINVAL;
	}
	vq->inflight_recovered = true;

	/*
	 * "Inflight I/O tracking": used_idx differs from used->idx when the
	 * previous back end died after publishing used->idx but before it
	 * recorded that: the last batch reached the driver, so it is no longer
	 * in flight.
	 */
	if (saved_used_idx != vq->used_idx) {
		WRITE_ONCE(r->desc[last_batch_head].inflight, 0);
		/* Orders the inflight clear before the used_idx store that says it is done. */
		smp_wmb();
		WRITE_ONCE(r->used_idx, vq->used_idx);
	}

	for (unsigned i = 0; i < vq->num; i++) {
		uint64_t counter;

		if (!READ_ONCE(r->desc[i].inflight))
			continue;
		counter = READ_ONCE(r->desc[i].counter);
		vq->resubmit[n] = (struct vq_dev_resubmit){counter, (uint16_t)i, (uint16_t)i, 1};
		if (counter > max_counter)
			max_counter = counter;
		n++;
	}
	/* "...resubmit ... in ascending order of counter": the order they were popped. */
	qsort(vq->resubmit, n, sizeof(vq->resubmit[0]), vq_dev_resubmit_cmp);
	vq->resubmit_num = (uint16_t)n;
	vq->resubmit_next = 0;
	vq->inflight_counter = max_counter;

	/*
	 * Every avail entry before the dead back end's last_avail_idx was
	 * either published used or is still marked in flight (pop marks it
	 * before moving on), so the next new entry is used->idx + n. QEMU
	 * cannot know it and sends used->idx (virtio_queue_restore_last_avail_idx)
	 * when the back end died; after an orderly stop both agree.
	 */
	vq->last_avail_idx = (uint16_t)(vq->used_idx + n);
	if (vq->last_avail_idx != base)
		log_dbg("inflight region: %u heads to resubmit; next avail %u (front end said %u)",
			n, vq->last_avail_idx, base);
	return 0;
}

int vq_inflight_split_start(struct vq_dev *vq, uint16_t base)
{
	struct vhost_user_inflight_split_queue *r = region(vq);
	uint16_t version = READ_ONCE(r->version);
	uint16_t desc_num = READ_ONCE(r->desc_num);
	uint64_t features = READ_ONCE(r->features);

	if (version == 0) {
		init(vq);
		return 0;
	}
	/*
	 * features: we write 0 in the split layout; a packed-layout region
	 * carries VQ_INFLIGHT_F_PACKED_LAYOUT and is never read as split.
	 */
	if (version != VQ_DEV_INFLIGHT_VERSION || desc_num != vq->num || features != 0) {
		log_warn("inflight region: version %u, %u descriptors, features %#llx; expected a "
			 "split-layout version %u region for %u",
			 version, desc_num, (unsigned long long)features, VQ_DEV_INFLIGHT_VERSION,
			 vq->num);
		return -EINVAL;
	}
	return recover(vq, base);
}

void vq_inflight_split_record(struct vq_dev *vq, uint16_t head)
{
	struct vhost_user_inflight_desc_split *d = &region(vq)->desc[head];

	/* "Inflight I/O tracking": counter = ++global counter, then inflight = 1. */
	WRITE_ONCE(d->counter, ++vq->inflight_counter);
	/* Orders the counter store before the inflight flag that makes it count. */
	smp_wmb();
	WRITE_ONCE(d->inflight, 1);
	/*
	 * Orders the inflight flag before every store that dispatches the
	 * request (the backend's submission after pop returns): a request that
	 * reached the disk is always one a successor will find.
	 */
	smp_wmb();
}

void vq_inflight_split_retire_begin(struct vq_dev *vq, uint16_t head)
{
	/*
	 * "Inflight I/O tracking": record the batch (one head here) before it
	 * is published (the caller's wmb orders it before used->idx), so a
	 * successor that finds used->idx ahead of the region's used_idx knows
	 * which head reached the driver.
	 */
	WRITE_ONCE(region(vq)->last_batch_head, head);
}

void vq_inflight_split_retire_end(struct vq_dev *vq, uint16_t head)
{
	struct vhost_user_inflight_split_queue *r = region(vq);

	/*
	 * Orders used->idx (stored by the caller) before inflight = 0: cleared
	 * first, a death in between would lose a request the driver never saw
	 * used.
	 */
	smp_wmb();
	WRITE_ONCE(r->desc[head].inflight, 0);
	/*
	 * Orders inflight = 0 before the region's used_idx: updated first, a
	 * death in between would leave a used head marked in flight with
	 * nothing telling the successor it was published, and it would be
	 * completed twice.
	 */
	smp_wmb();
	WRITE_ONCE(r->used_idx, vq->used_idx);
}
