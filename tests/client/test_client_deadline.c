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
 */
#include <errno.h>
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

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "open"))
		return test_open(argv[2], argv[3], (unsigned)atoi(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "close"))
		return test_close((unsigned)atoi(argv[2]));
	FAILF("usage: %s open ERRNAME SUBSTRING TIMEOUT_MS | close TIMEOUT_MS", argv[0]);
}
