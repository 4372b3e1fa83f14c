/* SPDX-License-Identifier: MIT */
/* The vhost-user fuzzers' server and client plumbing (see fuzz_vu.h). */
#include "fuzz_vu.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rf_send.h"
#include "vhost_user/vu_blk.h"

void fuzz_vu_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

void fuzz_vu_env_init(struct fuzz_vu_env *env, const char *name, size_t gmem_size)
{
	struct be_opts bopts = {0};

	signal(SIGPIPE, SIG_IGN);
	if (be_open("memory:1M", &bopts, &env->be))
		fuzz_vu_die("cannot open the memory backend");
	env->gmem_size = gmem_size;
	env->memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (env->memfd < 0 || ftruncate(env->memfd, (off_t)gmem_size))
		fuzz_vu_die("memfd: %s", strerror(errno));
	env->gmem = mmap(NULL, gmem_size, PROT_READ | PROT_WRITE, MAP_SHARED, env->memfd, 0);
	if (env->gmem == MAP_FAILED)
		fuzz_vu_die("mmap: %s", strerror(errno));
	env->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (env->stop_fd < 0)
		fuzz_vu_die("eventfd: %s", strerror(errno));
	/* Abstract namespace: nothing on disk, freed when the socket closes. */
	env->addr.sun_family = AF_UNIX;
	snprintf(env->addr.sun_path + 1, sizeof(env->addr.sun_path) - 1, "vblk-%s-%ld", name,
		 (long)getpid());
	env->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				    strlen(env->addr.sun_path + 1));
}

static void *server_main(void *arg)
{
	struct fuzz_vu_conn *c = arg;

	c->ret = vu_server_run(c->srv, c->env->stop_fd);
	return NULL;
}

void fuzz_vu_start(struct fuzz_vu_conn *c, const struct fuzz_vu_env *env,
		   const struct blk_dev_opts *opts)
{
	int lfd, ret;

	c->env = env;
	c->dead = false;
	c->nown = 0;
	memset(env->gmem, 0, env->gmem_size);
	if (blk_dev_init(&c->dev, env->be, opts))
		fuzz_vu_die("blk_dev_init");
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0 || bind(lfd, (const struct sockaddr *)&env->addr, env->addr_len) ||
	    listen(lfd, 4))
		fuzz_vu_die("listen: %s", strerror(errno));
	ret = vu_server_create(&vu_blk_ops, &c->dev, lfd, &c->srv);
	if (ret)
		fuzz_vu_die("vu_server_create: %s", strerror(-ret));
	if (pthread_create(&c->thread, NULL, server_main, c))
		fuzz_vu_die("pthread_create");
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->sock < 0 || connect(c->sock, (const struct sockaddr *)&env->addr, env->addr_len))
		fuzz_vu_die("connect: %s", strerror(errno));
}

void fuzz_vu_send(struct fuzz_vu_conn *c, const void *buf, size_t len, const int *fds,
		  unsigned nfds)
{
	size_t done = 0;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (nfds > RF_SEND_MAX_FDS)
		fuzz_vu_die("%u fds in one message", nfds);
	while (done < len && !c->dead) {
		int ret = rf_send_part(c->sock, buf, len, &done, fds, nfds, MSG_DONTWAIT);

		if (ret == 0 || ret == -EINTR)
			continue;
		if (ret == -EAGAIN) {
			struct pollfd p = {.fd = c->sock, .events = POLLIN | POLLOUT};

			/* The server may be waiting for us to read its replies. */
			poll(&p, 1, 100);
			fuzz_vu_wait(c, &t0, "read nothing of our message");
			continue;
		}
		c->dead = true; /* EPIPE / ECONNRESET: the server dropped us */
	}
	c->drain(c);
}

int fuzz_vu_own(struct fuzz_vu_conn *c, int fd)
{
	if (fd < 0)
		fuzz_vu_die("cannot create an fd: %s", strerror(errno));
	if (c->nown == FUZZ_VU_MAX_OWN) {
		close(fd);
		return -1;
	}
	c->own[c->nown++] = fd;
	return fd;
}

void fuzz_vu_second_client(const struct fuzz_vu_env *env)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		fuzz_vu_die("socket: %s", strerror(errno));
	/* Refused (closed at once) while we are connected; either way, we leave. */
	(void)connect(s, (const struct sockaddr *)&env->addr, env->addr_len);
	close(s);
}

void fuzz_vu_wait(struct fuzz_vu_conn *c, const struct timespec *t0, const char *what)
{
	struct pollfd p = {.fd = c->sock, .events = POLLIN};
	struct timespec t;

	poll(&p, 1, 1000);
	c->drain(c);
	clock_gettime(CLOCK_MONOTONIC, &t);
	if (!c->dead && t.tv_sec - t0->tv_sec > FUZZ_VU_HANG_SEC)
		fuzz_vu_die("the server %s within %d s", what, FUZZ_VU_HANG_SEC);
}

void fuzz_vu_write_nonblock(int fd, const void *buf, size_t len)
{
	int fl = fcntl(fd, F_GETFL);

	/* Not atomic with the server's writes, which may block meanwhile: only the server's
	 * problem. */
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	(void)!write(fd, buf, len);
	fcntl(fd, F_SETFL, fl);
}

void fuzz_vu_finish(struct fuzz_vu_conn *c)
{
	struct timespec t0;
	eventfd_t v;

	shutdown(c->sock, SHUT_WR);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!c->dead)
		fuzz_vu_wait(c, &t0, "did not hang up after the client's end of stream");
	close(c->sock);

	eventfd_write(c->env->stop_fd, 1);
	pthread_join(c->thread, NULL);
	eventfd_read(c->env->stop_fd, &v);
	if (c->ret)
		fuzz_vu_die("vu_server_run returned %d", c->ret);
	vu_server_destroy(c->srv);
	blk_dev_fini(&c->dev);
	for (unsigned i = 0; i < c->nown; i++)
		if (c->own[i] >= 0)
			close(c->own[i]);
}
