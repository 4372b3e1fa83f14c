/* SPDX-License-Identifier: MIT */
/*
 * vblk_idle: a connected front end that does no I/O, for measuring what an
 * idle guest costs its back end (scripts/io-profile.sh). It opens the device
 * with the queues asked for (kick and call fds set, rings enabled, exactly
 * what a booted guest leaves behind), prints "connected" on stdout, sleeps,
 * and closes.
 *
 * Usage: vblk_idle SOCKET QUEUES SECONDS
 * Exit: 0 after a clean close, 1 when the back end cannot be opened, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vblk/vblk.h>

int main(int argc, char **argv)
{
	struct vblk_options opts = {0};
	struct vblk *dev;
	struct timespec ts;
	char *end;
	double secs;
	long nq;
	int ret;

	if (argc != 4) {
		fprintf(stderr, "usage: vblk_idle SOCKET QUEUES SECONDS\n");
		return 2;
	}
	nq = strtol(argv[2], &end, 10);
	if (*end || nq < 1 || nq > 256) {
		fprintf(stderr, "vblk_idle: bad queue count '%s'\n", argv[2]);
		return 2;
	}
	secs = strtod(argv[3], &end);
	if (*end || secs < 0 || secs > 86400) {
		fprintf(stderr, "vblk_idle: bad duration '%s'\n", argv[3]);
		return 2;
	}
	opts.num_queues = (unsigned)nq;
	ret = vblk_open(argv[1], &opts, &dev);
	if (ret < 0) {
		fprintf(stderr, "vblk_idle: %s: %s\n", argv[1], vblk_get_error());
		return 1;
	}
	printf("connected\n");
	fflush(stdout);
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	/* EINTR (a stop and continue under a debugger or tracer): sleep the rest. */
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	vblk_close(dev);
	return 0;
}
