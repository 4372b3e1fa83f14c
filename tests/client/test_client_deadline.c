/* SPDX-License-Identifier: MIT */
/*
 * libvblk against a back end that does not answer: vblk_open() and
 * vblk_close() return within their deadline, with -errno, one sentence for
 * vblk_get_error() and the same sentence through the log callback. Nothing
 * goes to stdout/stderr from the library (the wrapper script checks stderr
 * is empty when this program passes; it reports on stdout).
 *
 *   open ERRNAME SUBSTRING TIMEOUT_MS   vblk_open(VBLK_SOCK) must fail so
 *   close TIMEOUT_MS                    open VBLK_SOCK (4 queues), SIGSTOP the
 *                                       back end (BACKEND_PID), time vblk_close
 *   io TIMEOUT_MS                       open (2 queues), SIGSTOP the back end,
 *                                       submit reads: each fails with ETIMEDOUT
 *                                       after TIMEOUT_MS (vblk_queue_wait on one
 *                                       queue, poll() on the other's fd)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vblk/vblk.h>

/* Verdicts go to stdout: stderr must stay empty on success. */
#define FAILF(...)                                                                                 \
	do {                                                                                       \
		printf("FAIL: " __VA_ARGS__);                                                      \
		printf("\n");                                                                      \
		exit(1);                                                                           \
	} while (0)

struct log {
	pthread_mutex_t lock;
	unsigned n[2];	    /* per VBLK_MSG_* level */
	char first[2][512]; /* first message of each level */
};

static void log_fn(void *opaque, int level, const char *msg)
{
	struct log *l = opaque;

	if (level != VBLK_MSG_ERROR && level != VBLK_MSG_WARNING)
		FAILF("log level %d", level);
	pthread_mutex_lock(&l->lock);
	if (!l->n[level]++)
		snprintf(l->first[level], sizeof(l->first[level]), "%s", msg);
	pthread_mutex_unlock(&l->lock);
	printf("log %s: %s\n", level == VBLK_MSG_ERROR ? "error" : "warning", msg);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int errno_of(const char *name)
{
	static const struct {
		const char *name;
		int err;
	} t[] = {{"ETIMEDOUT", ETIMEDOUT}, {"EPROTO", EPROTO}, {"ECONNRESET", ECONNRESET}};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(name, t[i].name))
			return t[i].err;
	FAILF("unknown errno name %s", name);
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	if (!v)
		FAILF("%s not set", name);
	return v;
}

static int test_open(const char *errname, const char *substring, unsigned timeout_ms)
{
	struct log l = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct vblk_options o = {.timeout_ms = timeout_ms, .log_fn = log_fn, .log_opaque = &l};
	struct vblk *dev = NULL;
	int want = errno_of(errname);
	long long t0 = now_ms(), ms;
	int ret = vblk_open(env("VBLK_SOCK"), &o, &dev);

	ms = now_ms() - t0;
	printf("vblk_open: %d (%s) after %lld ms: %s\n", ret, strerror(-ret), ms, vblk_get_error());
	if (ret != -want)
		FAILF("vblk_open returned %d, expected -%s", ret, errname);
	if (dev)
		FAILF("*out set on failure");
	/* The deadline is a bound, not a target: generous for a loaded machine. */
	if (ms > (long long)timeout_ms + 5000)
		FAILF("took %lld ms with a %u ms deadline", ms, timeout_ms);
	/* ... and a timeout never comes early. */
	if (want == ETIMEDOUT && ms < (long long)timeout_ms * 9 / 10)
		FAILF("timed out after %lld ms, before the %u ms deadline", ms, timeout_ms);
	if (!strstr(vblk_get_error(), substring))
		FAILF("vblk_get_error() \"%s\" does not say \"%s\"", vblk_get_error(), substring);
	if (l.n[VBLK_MSG_ERROR] != 1 || strcmp(l.first[VBLK_MSG_ERROR], vblk_get_error()))
		FAILF("log callback got %u error(s), first \"%s\"", l.n[VBLK_MSG_ERROR],
		      l.first[VBLK_MSG_ERROR]);
	return 0;
}

static int test_close(unsigned timeout_ms)
{
	struct log l = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct vblk_options o = {
	    .num_queues = 4, .timeout_ms = timeout_ms, .log_fn = log_fn, .log_opaque = &l};
	pid_t backend = (pid_t)atoi(env("BACKEND_PID"));
	struct vblk *dev;
	long long t0, ms;
	int ret = vblk_open(env("VBLK_SOCK"), &o, &dev);

	if (ret)
		FAILF("vblk_open: %s", vblk_get_error());
	if (l.n[0] || l.n[1])
		FAILF("messages logged on a successful open");
	if (kill(backend, SIGSTOP) < 0)
		FAILF("SIGSTOP %d: %s", (int)backend, strerror(errno));
	t0 = now_ms();
	vblk_close(dev);
	ms = now_ms() - t0;
	kill(backend, SIGCONT);
	printf("vblk_close with 4 queues against a stopped back end: %lld ms (deadline %u ms)\n",
	       ms, timeout_ms);
	/* One deadline for the whole teardown, not one per queue (that would be 4x). */
	if (ms > (long long)timeout_ms + 3000)
		FAILF("vblk_close took %lld ms", ms);
	if (l.n[VBLK_MSG_WARNING] != 1 || !strstr(l.first[VBLK_MSG_WARNING], "GET_VRING_BASE"))
		FAILF("expected one warning about GET_VRING_BASE, got %u: \"%s\"",
		      l.n[VBLK_MSG_WARNING], l.first[VBLK_MSG_WARNING]);
	return 0;
}

/* Wait (bounded) until SIGSTOP has stopped pid: state T in /proc/PID/stat. */
static void wait_stopped(pid_t pid)
{
	char path[64], buf[256];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(path, "r");
		char *p = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		if (f)
			fclose(f);
		if (p && p[1] == ' ' && p[2] == 'T')
			return;
		usleep(10000);
	}
	FAILF("the back end (%d) did not stop", (int)pid);
}

/* Collect the completions of q until n have come, each -ETIMEDOUT; poll() on its fd. */
static void reap_timed_out(struct vblk_queue *q, unsigned n)
{
	long long t0 = now_ms();
	unsigned got = 0;

	while (got < n) {
		struct pollfd pfd = {.fd = vblk_queue_fd(q), .events = POLLIN};
		struct vblk_completion c[16];
		int k;
		if (now_ms() - t0 > 10000)
			FAILF("queue 1: %u of %u requests failed in 10 s", got, n);
		/* vblk.h: sleep on the fd with a timeout, then poll. */
		(void)poll(&pfd, 1, 100);
		k = vblk_queue_poll(q, c, 16);
		if (k < 0)
			FAILF("queue 1: vblk_queue_poll: %s", strerror(-k));
		for (int i = 0; i < k; i++)
			if (c[i].ret != -ETIMEDOUT)
				FAILF("queue 1: completion %d, expected -ETIMEDOUT", c[i].ret);
		got += (unsigned)k;
	}
}

static int test_io(unsigned timeout_ms)
{
	struct log l = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct vblk_options o = {
	    .num_queues = 2, .timeout_ms = timeout_ms, .log_fn = log_fn, .log_opaque = &l};
	pid_t backend = (pid_t)atoi(env("BACKEND_PID"));
	struct vblk_completion c[16];
	struct vblk_queue *q0, *q1;
	struct vblk *dev;
	uint8_t *buf;
	long long t0, ms;
	int n, ret = vblk_open(env("VBLK_SOCK"), &o, &dev);

	if (ret)
		FAILF("vblk_open: %s", vblk_get_error());
	q0 = vblk_get_queue(dev, 0);
	q1 = vblk_get_queue(dev, 1);
	buf = vblk_buf_alloc(dev, 16 * 4096);
	if (!buf)
		FAILF("vblk_buf_alloc");
	/* A request completes before the back end is stopped: the path works. */
	if (vblk_read(q0, 0, buf, 4096))
		FAILF("vblk_read before the stop");
	if (kill(backend, SIGSTOP) < 0)
		FAILF("SIGSTOP %d: %s", (int)backend, strerror(errno));
	wait_stopped(backend);
	t0 = now_ms();
	for (uintptr_t i = 0; i < 8; i++) {
		if (vblk_queue_read(q0, i * 4096, buf + i * 4096, 4096, (void *)i) ||
		    vblk_queue_read(q1, i * 4096, buf + (8 + i) * 4096, 4096, (void *)i))
			FAILF("vblk_queue_read %u", (unsigned)i);
	}
	/* No timeout of our own: the deadline wakes the wait. */
	n = vblk_queue_wait(q0, c, 16, -1);
	ms = now_ms() - t0;
	printf("queue 0: vblk_queue_wait returned %d after %lld ms (deadline %u ms)\n", n, ms,
	       timeout_ms);
	if (n != 8)
		FAILF("vblk_queue_wait returned %d, expected 8 completions", n);
	for (int i = 0; i < n; i++)
		if (c[i].ret != -ETIMEDOUT)
			FAILF("queue 0: completion %d, expected -ETIMEDOUT", c[i].ret);
	/* Never early; a bound, generous for a loaded machine. */
	if (ms < (long long)timeout_ms || ms > (long long)timeout_ms + 5000)
		FAILF("the requests failed after %lld ms with a %u ms deadline", ms, timeout_ms);
	reap_timed_out(q1, 8);
	if (vblk_queue_poll(q0, c, 16) != -ETIMEDOUT || vblk_queue_poll(q1, c, 16) != -ETIMEDOUT)
		FAILF("the queues do not report ETIMEDOUT once drained");
	if (vblk_queue_read(q0, 0, buf, 4096, NULL) != -ENOTCONN)
		FAILF("a submission after the deadline was not refused with ENOTCONN");
	if (l.n[VBLK_MSG_ERROR] != 1 || !strstr(l.first[VBLK_MSG_ERROR], "did not complete"))
		FAILF("expected one error about the deadline, got %u: \"%s\"", l.n[VBLK_MSG_ERROR],
		      l.first[VBLK_MSG_ERROR]);
	/* ... and nothing else: not a broken ring, not a hang-up. */
	if (l.n[VBLK_MSG_WARNING])
		FAILF("unexpected warning: \"%s\"", l.first[VBLK_MSG_WARNING]);
	/* The connection is shut down: close sends nothing and returns at once. */
	t0 = now_ms();
	vblk_close(dev);
	ms = now_ms() - t0;
	kill(backend, SIGCONT);
	printf("vblk_close after the deadline: %lld ms\n", ms);
	if (ms > 2000)
		FAILF("vblk_close took %lld ms", ms);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "open"))
		return test_open(argv[2], argv[3], (unsigned)atoi(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "close"))
		return test_close((unsigned)atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "io"))
		return test_io((unsigned)atoi(argv[2]));
	FAILF("usage: %s open ERRNAME SUBSTRING TIMEOUT_MS | close TIMEOUT_MS | io TIMEOUT_MS",
	      argv[0]);
}
