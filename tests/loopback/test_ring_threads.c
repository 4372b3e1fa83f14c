/* SPDX-License-Identifier: MIT */
/*
 * Loopback with the driver and the device on two threads, through the
 * vq_drv / vq_dev verbs on either layout, so the notification races of
 * §2.7.10 and §2.8.10 really happen on an SMP machine: each side
 * sleeps (waits on a flag the other sets, standing in for an eventfd) only
 * after re-arming notifications and re-checking the ring, exactly as
 * enable_cb / enable_kicks are meant to be used. A missing barrier or a
 * wrong event comparison shows up as a lost wakeup: both sides wait and the
 * test fails after a timeout instead of hanging.
 *
 * Usage: test_ring_threads INDIRECT EVENT_IDX NUM PACKED (split: NUM a power of two)
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "rings.h"
#include "test.h"

#define MAX_NUM	  RINGS_MAX_NUM
#define INDIR_MAX 4
#define TOTAL	  300000u
#define GPA_BASE  RINGS_GPA_BASE
#define OFF_DATA  RINGS_OFF_DATA
#define SLOT	  32 /* per buffer ID: out 8 bytes at 0, in 8 bytes at 16 */

static struct rings rings;
static uint8_t *drv_map;
static struct vq_drv *drv = &rings.drv;
static struct vq_dev *dev = &rings.dev;
static unsigned num;
/* Each flag on its own cache line: the waiting side spins on it. */
static _Alignas(64) int kick;
static _Alignas(64) int irq;
static _Alignas(64) int stop;
static uint64_t seqs[MAX_NUM];

/* Wait until *flag is set (then clear it); false after ~5 s. */
static bool wait_flag(int *flag)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!__atomic_exchange_n(flag, 0, __ATOMIC_ACQ_REL)) {
		if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 5)
			return false;
		sched_yield();
	}
	return true;
}

static void *device_thread(void *arg)
{
	struct iovec iov[INDIR_MAX + 4];
	struct vq_dev_elem e;
	uint64_t v;
	(void)arg;

	for (;;) {
		int ret;

		vq_dev_disable_kicks(dev);
		while ((ret = vq_dev_pop(dev, &e, iov, INDIR_MAX + 4)) == 1) {
			CHECK_EQ(e.out_num, 1);
			CHECK_EQ(e.in_num, 1);
			memcpy(&v, iov[0].iov_base, 8);
			v = ~v;
			memcpy(iov[1].iov_base, &v, 8);
			vq_dev_push(dev, e.head, 8);
			if (vq_dev_need_notify(dev))
				__atomic_store_n(&irq, 1, __ATOMIC_RELEASE);
		}
		CHECK_EQ(ret, 0);
		if (vq_dev_enable_kicks(dev))
			continue;
		if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			return NULL;
		if (!wait_flag(&kick)) {
			fprintf(stderr, "device: lost kick\n");
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	bool indirect, event_idx, packed;
	uint64_t next = 0, done = 0;
	pthread_t th;

	if (argc != 5)
		SKIP("usage: %s INDIRECT EVENT_IDX NUM PACKED", argv[0]);
	indirect = atoi(argv[1]);
	event_idx = atoi(argv[2]);
	num = (unsigned)atoi(argv[3]);
	packed = atoi(argv[4]);
	CHECK(num >= 2 && num <= MAX_NUM);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP("needs two CPUs");

	rings_open(&rings, packed, num, event_idx, indirect, INDIR_MAX);
	drv_map = rings.drv_map;
	CHECK_EQ(pthread_create(&th, NULL, device_thread, NULL), 0);

	while (done < TOTAL) {
		bool added = false;

		/* Fill the ring. The buffer's slot in data memory is keyed by the cookie. */
		while (next < TOTAL) {
			unsigned s = (unsigned)(next % num);
			struct vq_drv_sg sg[2] = {
			    {GPA_BASE + OFF_DATA + s * SLOT, 8},
			    {GPA_BASE + OFF_DATA + s * SLOT + 16, 8},
			};
			if (seqs[s] != 0)
				break; /* that data slot is still in flight */
			seqs[s] = next + 1;
			memcpy(drv_map + OFF_DATA + s * SLOT, &seqs[s], 8);
			int ret = vq_drv_add(drv, sg, 1, 1, &seqs[s]);
			if (ret == -ENOSPC) {
				seqs[s] = 0;
				break;
			}
			CHECK_EQ(ret, 0);
			next++;
			added = true;
		}
		if (added && vq_drv_kick_prepare(drv))
			__atomic_store_n(&kick, 1, __ATOMIC_RELEASE);

		/* Reap, then sleep until an interrupt if nothing is pending. */
		for (;;) {
			void *cookie;
			uint32_t len;
			int ret;

			vq_drv_disable_cb(drv);
			while ((ret = vq_drv_get_buf(drv, &cookie, &len)) == 1) {
				uint64_t *sq = cookie, v;
				unsigned s = (unsigned)(sq - seqs);
				CHECK(s < num);
				CHECK_EQ(len, 8);
				memcpy(&v, drv_map + OFF_DATA + s * SLOT + 16, 8);
				CHECK_EQ(v, ~*sq);
				*sq = 0;
				done++;
			}
			CHECK_EQ(ret, 0);
			if (!vq_drv_enable_cb(drv))
				continue;
			/* Room for the next buffer (2 slots direct, 1 indirect): add it first. */
			if (next < TOTAL && seqs[next % num] == 0 &&
			    drv->num_free >= (indirect ? 1 : 2))
				break;
			if (done == TOTAL)
				break;
			if (!wait_flag(&irq)) {
				fprintf(stderr, "driver: lost interrupt (done %" PRIu64 ")\n",
					done);
				return 1;
			}
		}
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&kick, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(vq_drv_inflight(drv), 0);
	CHECK_EQ(drv->num_free, num);
	printf("%s num=%u indirect=%d event_idx=%d: %u requests on two threads\n",
	       packed ? "packed" : "split", num, indirect, event_idx, TOTAL);
	vq_dev_fini(dev);
	return 0;
}
