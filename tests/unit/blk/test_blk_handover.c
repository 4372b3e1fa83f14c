/* SPDX-License-Identifier: MIT */
/*
 * The padding stage's cross-queue hand-over must not touch a queue that has
 * been destroyed. Queue A's release grants the range to a request of queue B
 * and then wakes B. If B's thread can run that request, finish, and destroy
 * B between the hand-over and the wake-up, the wake-up writes to B's freed
 * state and closed eventfd (a use-after-free).
 *
 * The test widens that window on purpose: write() is interposed, and the
 * wake-up write to B's eventfd, made by A's thread, first lets B's thread go
 * (run B to completion, destroy B) and waits up to 1 s for it. The engine
 * must hold B's destruction back until the wake-up is done, so when the
 * write goes ahead B must still exist. Run under ASan by scripts/sanitize.sh.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "blk/blk_priv.h"
#include "blk_test.h"
#include "sbe.h"

static pthread_t releaser;
static atomic_int target_fd = -1; /* B's wake-up eventfd while armed */
static sem_t go, destroyed_sem;
static atomic_bool destroyed, hooked, destroyed_before_wake;

/* Every write of the test binary (the engine's included) comes here. */
ssize_t write(int fd, const void *buf, size_t len)
{
	if (fd >= 0 && fd == atomic_load(&target_fd) && pthread_equal(pthread_self(), releaser) &&
	    !atomic_exchange(&hooked, true)) {
		struct timespec ts;

		sem_post(&go);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		while (sem_timedwait(&destroyed_sem, &ts) < 0 && errno == EINTR)
			;
		atomic_store(&destroyed_before_wake, atomic_load(&destroyed));
	}
	return syscall(SYS_write, fd, buf, len);
}

struct owner {
	struct blk_queue *q;
	int err;
};

/* B's thread: once the hand-over has happened, run B dry and destroy it. */
static void *owner_run(void *arg)
{
	struct owner *o = arg;

	sem_wait(&go);
	for (int idle = 0; blk_queue_inflight(o->q) > 0;) {
		struct pollfd pfd = {.fd = blk_queue_fd(o->q), .events = POLLIN};

		if (pfd.fd >= 0 && poll(&pfd, 1, 100) == 0 && ++idle > 100) {
			o->err = 1; /* 10 s: the request was never handed over */
			break;
		}
		blk_queue_process(o->q);
	}
	blk_queue_destroy(o->q);
	atomic_store(&destroyed, true);
	sem_post(&destroyed_sem);
	return NULL;
}

int main(void)
{
	struct blk_dev_opts o = {.num_queues = 2, .queue_size = 128, .logical_block_size = 512};
	static uint8_t a_buf[512], b_buf[512];
	struct blk_queue *qa = NULL;
	struct owner ob = {0};
	struct t_req ta, tb;
	pthread_t tid;
	struct sbe s;
	struct blk_dev d;

	sbe_init(&s, 64 << 10, 4096, 512);
	CHECK_EQ(blk_dev_init(&d, &s.base, &o), 0);
	CHECK(d.rmw);
	blk_dev_set_features(&d, d.features);
	CHECK_EQ(blk_queue_create(&d, 16, t_done, NULL, &qa), 0);
	CHECK_EQ(blk_queue_create(&d, 16, t_done, NULL, &ob.q), 0);
	CHECK_EQ(sem_init(&go, 0, 0), 0);
	CHECK_EQ(sem_init(&destroyed_sem, 0, 0), 0);

	/* A holds 4 KiB block 0 exclusively (a 512-byte RMW); B's write to it waits. */
	memset(a_buf, 0xaa, sizeof(a_buf));
	memset(b_buf, 0xbb, sizeof(b_buf));
	t_prep(&ta, VIRTIO_BLK_T_OUT, 0, a_buf, sizeof(a_buf), NULL, 0);
	t_prep(&tb, VIRTIO_BLK_T_OUT, 1, b_buf, sizeof(b_buf), NULL, 0);
	CHECK(blk_req_submit(qa, &ta.req));
	CHECK(blk_req_submit(ob.q, &tb.req));
	blk_queue_kick(ob.q);
	CHECK_EQ(blk_queue_inflight(ob.q), 1);

	releaser = pthread_self();
	atomic_store(&target_fd, ob.q->note.fd);
	CHECK_EQ(pthread_create(&tid, NULL, owner_run, &ob), 0);
	/* A finishes: its release hands B's request over and wakes B. */
	t_run(qa);
	CHECK_EQ(pthread_join(tid, NULL), 0);
	atomic_store(&target_fd, -1);

	CHECK(atomic_load(&hooked));
	if (atomic_load(&destroyed_before_wake)) {
		fprintf(stderr, "FAIL: queue B was destroyed before the hand-over woke it\n");
		return 1;
	}
	CHECK_EQ(ob.err, 0);
	CHECK(atomic_load(&destroyed));
	CHECK_EQ(ta.ndone, 1);
	CHECK_EQ(ta.status, VIRTIO_BLK_S_OK);
	CHECK_EQ(tb.ndone, 1);
	CHECK_EQ(tb.status, VIRTIO_BLK_S_OK);
	CHECK(memcmp(s.mem, a_buf, 512) == 0);
	CHECK(memcmp(s.mem + 512, b_buf, 512) == 0);
	CHECK_EQ(atomic_load(&s.bad), 0);

	blk_queue_destroy(qa);
	blk_dev_fini(&d);
	free(s.mem);
	return 0;
}
