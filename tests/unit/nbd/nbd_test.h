/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the NBD backend tests: start a real server (nbdkit or qemu-nbd)
 * on a Unix socket in a private temporary directory, and drive a be_queue the
 * way the engine does (submit, kick, poll queue_fd, reap).
 */
#ifndef VBLK_TESTS_NBD_TEST_H
#define VBLK_TESTS_NBD_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "backend/be.h"
#include "backend/be_nbd.h"

struct srv {
	pid_t pid;
	char dir[64];
	char sock[128];
	char uri[256];
};

static inline bool have_prog(const char *name)
{
	const char *path = getenv("PATH");
	char buf[512];

	if (!path)
		path = "/usr/bin:/bin:/usr/sbin:/sbin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
		if (access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path)
			path++;
	}
	return false;
}

static inline void ms_sleep(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Create the temporary directory and the socket path / URI inside it. */
static inline void srv_init(struct srv *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/vblk-nbd-XXXXXX");
	CHECK(mkdtemp(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/sock", s->dir);
	snprintf(s->uri, sizeof(s->uri), "nbd+unix:///?socket=%s", s->sock);
}

/* Path of a file in the temporary directory. */
static inline const char *srv_path(const struct srv *s, const char *name)
{
	static char buf[4][192];
	static unsigned n;
	char *p = buf[n++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", s->dir, name);
	return p;
}

/* Start argv (NULL-terminated) and wait until the socket exists. */
static inline void srv_start(struct srv *s, char *const argv[])
{
	struct stat st;

	unlink(s->sock);
	s->pid = fork();
	CHECK(s->pid >= 0);
	if (s->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* For scripts the server runs (NBD_EVAL_NO_FUA). */
		setenv("VBLK_SRV_DIR", s->dir, 1);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 400; i++) {
		int status;

		if (stat(s->sock, &st) == 0) {
			ms_sleep(50); /* bind() creates the node just before listen() */
			return;
		}
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			fprintf(stderr, "%s exited before creating %s\n", argv[0], s->sock);
			exit(1);
		}
		ms_sleep(25);
	}
	fprintf(stderr, "%s did not create %s\n", argv[0], s->sock);
	kill(s->pid, SIGKILL);
	exit(1);
}

static inline int srv_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static inline void srv_rm_tree(const char *dir)
{
	nftw(dir, srv_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/*
 * nbdkit's eval plugin keeps its scripts in a /tmp/nbdkitXXXXXX directory
 * that only a clean exit removes; NBD_EVAL_NO_FUA's scripts write its name
 * to the file "tmpdirs" here. Remove the ones a killed server left.
 */
static inline void srv_rm_eval_dirs(struct srv *s)
{
	char path[256], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tmpdirs", s->dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		/* Only what the plugin made, whatever the file says. */
		if (!strncmp(line, "/tmp/nbdkit", strlen("/tmp/nbdkit")) && !strchr(line + 5, '/'))
			srv_rm_tree(line);
	}
	fclose(f);
	unlink(path);
}

static inline void srv_stop_sig(struct srv *s, int sig)
{
	if (s->pid > 0) {
		kill(s->pid, sig);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
		srv_rm_eval_dirs(s);
	}
	unlink(s->sock);
}

static inline void srv_stop(struct srv *s)
{
	srv_stop_sig(s, SIGTERM);
}

/*
 * Stop the server and remove its temporary directory with everything in it
 * (the files the test named, and what the server left there: see srv_start).
 */
static inline void srv_cleanup(struct srv *s)
{
	srv_stop(s);
	srv_rm_tree(s->dir);
}

/* The whole of file name in the temporary directory (a server's log), NUL-terminated. */
static inline const char *srv_read(const struct srv *s, const char *name)
{
	static char buf[1 << 18];
	int fd = open(srv_path(s, name), O_RDONLY);
	ssize_t n;

	CHECK(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	CHECK(n >= 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

/*
 * nbdkit eval plugin arguments for a 1 MiB export that can write and flush
 * but advertises no FUA (writes are discarded, reads return zeroes); the
 * caller adds flush=. get_size also notes the plugin's script directory for
 * srv_rm_eval_dirs (srv_start exports VBLK_SRV_DIR).
 */
#define NBD_EVAL_NO_FUA                                                                            \
	"eval", "get_size=echo \"$tmpdir\" >>\"$VBLK_SRV_DIR/tmpdirs\"; echo 1048576",             \
	    "pread=dd if=/dev/zero count=$3 iflag=count_bytes status=none",                        \
	    "pwrite=cat >/dev/null", "can_write=exit 0", "can_flush=exit 0", "can_fua=echo none"

struct tio {
	struct be_io io;
	int res;
	bool done;
};

static inline void tio_done(struct be_io *io, int res)
{
	struct tio *t = (struct tio *)io;

	t->res = res;
	t->done = true;
}

static inline void tio_init(struct tio *t, enum be_op op, unsigned flags, uint64_t off,
			    uint64_t len, const struct iovec *iov, unsigned iovcnt)
{
	memset(t, 0, sizeof(*t));
	t->io.op = op;
	t->io.flags = flags;
	t->io.offset = off;
	t->io.len = len;
	t->io.iov = iov;
	t->io.iovcnt = iovcnt;
	t->io.done = tio_done;
	t->res = 1;
}

/* Reap until every one of t[0..n) is done or timeout_ms passes. Returns 0 or -ETIMEDOUT. */
static inline int tio_wait(const struct be_ops *ops, struct be_queue *q, struct tio *t, unsigned n,
			   unsigned timeout_ms)
{
	struct pollfd p = {.fd = ops->queue_fd(q), .events = POLLIN};
	unsigned waited = 0;

	for (;;) {
		unsigned left = 0;

		for (unsigned i = 0; i < n; i++)
			left += !t[i].done;
		if (!left)
			return 0;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		if (poll(&p, 1, 100) == 0)
			waited += 100;
		CHECK(ops->reap(q) >= 0);
	}
}

/* Submit, kick and wait for t[0..n); returns 0 or -ETIMEDOUT. */
static inline int tio_run(const struct be_ops *ops, struct be_queue *q, struct tio *t, unsigned n,
			  unsigned timeout_ms)
{
	for (unsigned i = 0; i < n; i++)
		CHECK_EQ(ops->submit(q, &t[i].io), 0);
	ops->kick(q);
	return tio_wait(ops, q, t, n, timeout_ms);
}

/* One request over a single buffer; returns its result. */
static inline int io1(struct be_queue *q, enum be_op op, unsigned flags, uint64_t off, void *buf,
		      uint64_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct tio t;

	tio_init(&t, op, flags, off, len, &iov, buf ? 1 : 0);
	CHECK_EQ(tio_run(&be_nbd_ops, q, &t, 1, 30000), 0);
	return t.res;
}

/* Deterministic pattern: byte i of a buffer at offset off. */
static inline uint8_t pat(uint64_t off, unsigned seed)
{
	return (uint8_t)((off * 7 + seed) ^ (off >> 9));
}

static inline void pat_fill(uint8_t *buf, uint64_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(off + i, seed);
}

static inline bool pat_check(const uint8_t *buf, uint64_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pat(off + i, seed)) {
			fprintf(stderr, "mismatch at %" PRIu64 ": %02x != %02x\n", off + i, buf[i],
				pat(off + i, seed));
			return false;
		}
	return true;
}

static inline bool all_zero(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

#endif
