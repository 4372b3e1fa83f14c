/* SPDX-License-Identifier: MIT */
/*
 * libvblk's driver-side poll window (vblk_options.poll_us) against a real
 * back end: vblk_queue_wait() spins on the used ring with notifications
 * off, and must stay correct, notice a back end that hangs up meanwhile,
 * and keep to timeout_ms. Environment from run_c.sh.
 *
 *   rw POLL_US       async writes with many in flight, read back and
 *                    compared (and the image file checked), sync helpers too
 *   hangup           a 1 s window; the back end is stopped, requests are
 *                    outstanding, it is killed 100 ms into the wait: the
 *                    wait ends with -ENOTCONN completions long before the
 *                    window would
 *   timeout          a 1 s window, a stopped back end: timeout_ms 200 ends
 *                    the wait with 0 after 200 ms, not after the window;
 *                    timeout 0 returns at once; the request then completes
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <vblk/vblk.h>

#include "test.h"

#define BS    4096
#define NBLK  512 /* 2 MiB written and read back */
#define DEPTH 32

static const char *env(const char *name)
{
	const char *v = getenv(name);

	if (!v)
		SKIP("%s not set (run through run_c.sh)", name);
	return v;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct vblk *open_dev(uint64_t poll_us, unsigned timeout_ms)
{
	struct vblk_options o = {.num_queues = 1, .timeout_ms = timeout_ms, .poll_us = poll_us};
	struct vblk *dev;
	int ret;

	/* Suppression through avail->flags instead of used_event (virtio 1.3 §2.7.10). */
	if (getenv("VBLK_TEST_NO_EVENT_IDX"))
		o.disable_features = VBLK_F_MASK(VBLK_F_EVENT_IDX);
	/* ... or through the packed ring's driver event structure (§2.8.10). */
	if (getenv("VBLK_TEST_PACKED"))
		o.flags |= VBLK_OPEN_PACKED_RING;
	ret = vblk_open(env("VBLK_SOCK"), &o, &dev);

	if (ret) {
		fprintf(stderr, "vblk_open: %d %s\n", ret, vblk_get_error());
		exit(1);
	}
	return dev;
}

static void fill(uint8_t *p, uint64_t blk, unsigned pass)
{
	for (unsigned i = 0; i < BS; i += 8) {
		uint64_t v = (blk << 32) ^ ((uint64_t)pass << 24) ^ i ^ 0x5A5A000000000000ull;
		memcpy(p + i, &v, 8);
	}
}

/*
 * NBLK requests, DEPTH in flight, every completion reaped through
 * vblk_queue_wait(): writes (pass 0) or reads compared with what was written.
 */
static void run_pass(struct vblk *dev, uint8_t *bufs, bool write)
{
	struct vblk_queue *q = vblk_get_queue(dev, 0);
	struct vblk_completion c[DEPTH];
	unsigned next = 0, done = 0, nfree = DEPTH, free_slots[DEPTH];
	uint8_t want[BS];

	/* Completions come in any order: a buffer is reused only once its request completed. */
	for (unsigned i = 0; i < DEPTH; i++)
		free_slots[i] = i;
	while (done < NBLK) {
		while (next < NBLK && nfree) {
			unsigned s = free_slots[--nfree];
			uint8_t *p = bufs + (size_t)s * BS;
			/* user_data: the slot in the low 16 bits, the block above */
			void *ud = (void *)(uintptr_t)((next << 16) | s);
			int ret;
			if (write) {
				fill(p, next, 0);
				ret = vblk_queue_write(q, (uint64_t)next * BS, p, BS, ud);
			} else {
				memset(p, 0, BS);
				ret = vblk_queue_read(q, (uint64_t)next * BS, p, BS, ud);
			}
			CHECK_EQ(ret, 0);
			next++;
		}
		int n = vblk_queue_wait(q, c, DEPTH, 10000);
		/* A healthy back end answers within 10 s: 0 here is a lost completion. */
		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			unsigned blk = (unsigned)((uintptr_t)c[i].user_data >> 16);
			unsigned slot = (unsigned)((uintptr_t)c[i].user_data & 0xFFFF);
			CHECK_EQ(c[i].ret, 0);
			if (!write) {
				fill(want, blk, 0);
				if (memcmp(bufs + (size_t)slot * BS, want, BS)) {
					fprintf(stderr, "block %u read back wrong\n", blk);
					exit(1);
				}
			}
			free_slots[nfree++] = slot;
		}
		done += (unsigned)n;
	}
	CHECK_EQ(vblk_queue_pending(q), 0);
}

static int test_rw(uint64_t poll_us)
{
	struct vblk *dev = open_dev(poll_us, 0);
	struct vblk_queue *q = vblk_get_queue(dev, 0);
	uint8_t *bufs = vblk_buf_alloc(dev, (size_t)DEPTH * BS);
	uint8_t want[BS], got[BS];
	int fd;

	CHECK(bufs);
	run_pass(dev, bufs, true);
	run_pass(dev, bufs, false);
	/* The synchronous helpers wait through vblk_queue_wait() too. */
	fill(want, 7, 1);
	CHECK_EQ(vblk_write(q, (uint64_t)NBLK * BS, want, BS), 0);
	CHECK_EQ(vblk_flush(q), 0);
	memset(got, 0, BS);
	CHECK_EQ(vblk_read(q, (uint64_t)NBLK * BS, got, BS), 0);
	CHECK(!memcmp(got, want, BS));
	vblk_buf_free(dev, bufs);
	vblk_close(dev);
	/* The image itself holds what was written, whatever the driver believed. */
	fd = open(env("VBLK_IMG"), O_RDONLY);
	CHECK(fd >= 0);
	for (unsigned b = 0; b < NBLK; b += 37) {
		fill(want, b, 0);
		CHECK_EQ(pread(fd, got, BS, (off_t)b * BS), BS);
		CHECK(!memcmp(got, want, BS));
	}
	fill(want, 7, 1);
	CHECK_EQ(pread(fd, got, BS, (off_t)NBLK * BS), BS);
	CHECK(!memcmp(got, want, BS));
	close(fd);
	printf("poll_us %llu: %u blocks written, read back and found in the image\n",
	       (unsigned long long)poll_us, NBLK);
	return 0;
}

/*
 * SIGSTOP the back end and wait until every one of its threads is stopped:
 * kill() returns before a thread running on another CPU has stopped, and it
 * could still complete what we submit next.
 */
static void stop_backend(pid_t pid)
{
	char dir[64];

	CHECK_EQ(kill(pid, SIGSTOP), 0);
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	for (int tries = 0;; tries++) {
		DIR *d = opendir(dir);
		struct dirent *e;
		bool all = true;

		CHECK(d);
		while ((e = readdir(d))) {
			char path[600], buf[512], *rp;
			FILE *f;
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
			f = fopen(path, "r");
			if (!f)
				continue; /* a thread that exited */
			buf[0] = 0;
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = 0;
			fclose(f);
			/* "pid (comm) S ...": the state follows the last ')'. */
			rp = strrchr(buf, ')');
			if (!rp || rp[1] != ' ' || (rp[2] != 'T' && rp[2] != 't'))
				all = false;
		}
		closedir(d);
		if (all)
			return;
		CHECK(tries < 5000); /* 5 s */
		usleep(1000);
	}
}

/* Submit n reads on a back end that will not answer them. */
static void submit_reads(struct vblk *dev, uint8_t *buf, unsigned n)
{
	struct vblk_queue *q = vblk_get_queue(dev, 0);

	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(vblk_queue_read(q, (uint64_t)i * BS, buf + (size_t)i * BS, BS,
					 (void *)(uintptr_t)(i + 1)),
			 0);
}

struct killer {
	pid_t pid;
	int delay_ms;
};

static void *kill_later(void *arg)
{
	struct killer *k = arg;

	usleep((useconds_t)k->delay_ms * 1000);
	kill(k->pid, SIGKILL);
	return NULL;
}

static int test_hangup(void)
{
	pid_t backend = (pid_t)atoi(env("BACKEND_PID"));
	struct vblk *dev = open_dev(1000000, 0);
	struct vblk_queue *q = vblk_get_queue(dev, 0);
	uint8_t *buf = vblk_buf_alloc(dev, 4 * BS);
	struct vblk_completion c[8];
	struct killer k = {.pid = backend, .delay_ms = 100};
	pthread_t tid;
	long long t0, ms;
	int n;

	CHECK(buf);
	stop_backend(backend);
	submit_reads(dev, buf, 4);
	CHECK_EQ(pthread_create(&tid, NULL, kill_later, &k), 0);
	t0 = now_ms();
	n = vblk_queue_wait(q, c, 8, -1);
	ms = now_ms() - t0;
	pthread_join(tid, NULL);
	printf("back end killed 100 ms into a 1 s poll window: wait returned %d after %lld ms\n", n,
	       ms);
	CHECK_EQ(n, 4);
	for (int i = 0; i < n; i++)
		CHECK_EQ(c[i].ret, -ENOTCONN);
	/*
	 * Seen while polling, not after the window: the window's end (1000 ms)
	 * is the bound, the kill lands at 100 ms.
	 */
	if (ms >= 900) {
		printf("FAIL: the hang-up was not noticed during the poll window\n");
		return 1;
	}
	CHECK_EQ(vblk_queue_wait(q, c, 8, 0), -ENOTCONN);
	CHECK_EQ(vblk_queue_read(q, 0, buf, BS, NULL), -ENOTCONN);
	vblk_close(dev);
	return 0;
}

static int test_timeout(void)
{
	pid_t backend = (pid_t)atoi(env("BACKEND_PID"));
	struct vblk *dev = open_dev(1000000, 0);
	struct vblk_queue *q = vblk_get_queue(dev, 0);
	uint8_t *buf = vblk_buf_alloc(dev, BS);
	struct vblk_completion c[2];
	long long t0, ms;
	int n;

	CHECK(buf);
	stop_backend(backend);
	submit_reads(dev, buf, 1);
	t0 = now_ms();
	n = vblk_queue_wait(q, c, 2, 200);
	ms = now_ms() - t0;
	printf("stopped back end, 1 s poll window, timeout 200 ms: %d after %lld ms\n", n, ms);
	CHECK_EQ(n, 0);
	/* Never early; late only by scheduling, well before the window's end. */
	CHECK(ms >= 195);
	if (ms >= 900) {
		kill(backend, SIGCONT);
		printf("FAIL: the poll window outlasted timeout_ms\n");
		return 1;
	}
	t0 = now_ms();
	n = vblk_queue_wait(q, c, 2, 0);
	ms = now_ms() - t0;
	printf("timeout 0: %d after %lld ms\n", n, ms);
	CHECK_EQ(n, 0);
	CHECK(ms < 500);
	/* The request was not lost to the suppressed notifications: it completes. */
	CHECK_EQ(kill(backend, SIGCONT), 0);
	n = vblk_queue_wait(q, c, 2, 10000);
	CHECK_EQ(n, 1);
	CHECK_EQ(c[0].ret, 0);
	CHECK(c[0].user_data == (void *)1);
	vblk_close(dev);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "rw"))
		return test_rw(strtoull(argv[2], NULL, 10));
	if (argc == 2 && !strcmp(argv[1], "hangup"))
		return test_hangup();
	if (argc == 2 && !strcmp(argv[1], "timeout"))
		return test_timeout();
	fprintf(stderr, "usage: %s rw POLL_US | hangup | timeout\n", argv[0]);
	return 1;
}
