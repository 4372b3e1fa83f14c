/* SPDX-License-Identifier: MIT */
/*
 * The harness side of the vhost-user fuzzers (fuzz_vhost_user.c,
 * fuzz_vhost_seq.c): a real vu_server with the virtio-blk device on a memory
 * backend, run on its own thread for each input, and one client socket the
 * harness writes its messages to, fds attached. Every input starts from the
 * same state and ends with the server destroyed, so anything it leaks shows
 * up in LeakSanitizer. Any failure of the environment itself aborts.
 */
#ifndef VBLK_TESTS_FUZZ_VU_H
#define VBLK_TESTS_FUZZ_VU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "backend/be.h"
#include "blk/blk.h"
#include "vhost_user/vu_server.h"

/* Process-wide, created once: what every input shares. */
struct fuzz_vu_env {
	struct be *be; /* memory:1M */
	int memfd;     /* guest memory, gmem_size bytes */
	uint8_t *gmem; /* our mapping of it */
	size_t gmem_size;
	int stop_fd;		 /* eventfd that ends vu_server_run */
	struct sockaddr_un addr; /* abstract namespace, private to this process */
	socklen_t addr_len;
};

/*
 * A server that takes longer than this to read our message, answer, or hang
 * up after our end of stream is hung: the harness aborts, naming the wait.
 */
#define FUZZ_VU_HANG_SEC 20

/* fds a harness may create per input (fuzz_vu_own). */
#define FUZZ_VU_MAX_OWN 96

/* One server and our connection to it, per input. */
struct fuzz_vu_conn {
	const struct fuzz_vu_env *env;
	struct blk_dev dev;
	struct vu_server *srv;
	pthread_t thread;
	int ret; /* of vu_server_run */
	int sock;
	bool dead; /* the server hung up on us */
	/* Read (and check) what the server sent, without blocking; sets dead at EOF. */
	void (*drain)(struct fuzz_vu_conn *c);
	/* fds the harness created for this input, closed by fuzz_vu_finish (-1: closed already). */
	int own[FUZZ_VU_MAX_OWN];
	unsigned nown;
};

/* Print "fuzz: ..." and abort, so libFuzzer keeps the input. */
void fuzz_vu_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Set env up (name makes the socket address unique). */
void fuzz_vu_env_init(struct fuzz_vu_env *env, const char *name, size_t gmem_size);

/* Zero guest memory, start a server for a device with opts, and connect to it. */
void fuzz_vu_start(struct fuzz_vu_conn *c, const struct fuzz_vu_env *env,
		   const struct blk_dev_opts *opts);

/*
 * Send len bytes, the fds (up to 16) with the first byte (rf_send). A full socket is
 * drained meanwhile; a server that hung up sets c->dead and ends the send,
 * one that reads nothing for FUZZ_VU_HANG_SEC is a hang.
 */
void fuzz_vu_send(struct fuzz_vu_conn *c, const void *buf, size_t len, const int *fds,
		  unsigned nfds);

/*
 * Take fd (just created; < 0 aborts with errno) into c->own. Returns fd, or
 * -1 (and closes it) when the harness already holds FUZZ_VU_MAX_OWN.
 */
int fuzz_vu_own(struct fuzz_vu_conn *c, int fd);

/* Connect a second client and leave at once (the server must refuse it while we are connected). */
void fuzz_vu_second_client(const struct fuzz_vu_env *env);

/*
 * Wait up to a second for the socket to become readable and drain it;
 * aborts (a hang) once FUZZ_VU_HANG_SEC have passed since *t0, naming what.
 */
void fuzz_vu_wait(struct fuzz_vu_conn *c, const struct timespec *t0, const char *what);

/* write() that never blocks, whatever the file description's mode (shared with the server). */
void fuzz_vu_write_nonblock(int fd, const void *buf, size_t len);

/*
 * End of stream from us, wait for the server to hang up (a hang after
 * FUZZ_VU_HANG_SEC), then stop the server and free everything, c->own
 * included.
 */
void fuzz_vu_finish(struct fuzz_vu_conn *c);

#endif
