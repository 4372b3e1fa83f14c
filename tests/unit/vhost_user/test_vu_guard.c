/* SPDX-License-Identifier: MIT */
/*
 * vu_guard: a guarded shared mapping whose file shrinks under us reads as
 * zeros past the new end instead of killing the process with SIGBUS, raises
 * the owner's flag and writes its eventfd; the part still backed by the
 * file keeps its data; after vu_guard_del, a fault is a fault again.
 */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "vhost_user/vu_guard.h"

#define LEN (4 * 4096)

static unsigned char *map_memfd(int *fd)
{
	unsigned char *p;

	*fd = memfd_create("guard", MFD_CLOEXEC);
	CHECK(*fd >= 0);
	CHECK_EQ(ftruncate(*fd, LEN), 0);
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 0x5a, LEN);
	return p;
}

int main(void)
{
	atomic_int flag = 0;
	int fd, efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), slot, status;
	unsigned char *p = map_memfd(&fd);
	volatile unsigned char *v = p;
	eventfd_t n;
	pid_t pid;

	CHECK_EQ(vu_guard_init(), 0);
	slot = vu_guard_add(p, LEN, &flag, efd);
	CHECK(slot >= 0);
	/* The front end shrinks the file to one page. */
	CHECK_EQ(ftruncate(fd, 4096), 0);
	CHECK_EQ(v[100], 0x5a);	  /* still backed */
	CHECK_EQ(v[2 * 4096], 0); /* was SIGBUS: now a zero page */
	v[3 * 4096 + 1] = 7;	  /* writes go nowhere the front end sees */
	CHECK_EQ(v[3 * 4096 + 1], 7);
	CHECK_EQ(atomic_load(&flag), 1);
	CHECK_EQ(eventfd_read(efd, &n), 0);
	CHECK(n >= 1);
	vu_guard_del(slot);
	CHECK_EQ(munmap(p, LEN), 0);
	close(fd);

	/* Unguarded (or after del), a fault past the end of the file still kills. */
	p = map_memfd(&fd);
	CHECK_EQ(ftruncate(fd, 4096), 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		volatile unsigned char *w = p;

		alarm(10);
		(void)w[2 * 4096];
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);
	return 0;
}
