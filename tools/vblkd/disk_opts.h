/* SPDX-License-Identifier: MIT */
/*
 * The --disk syntax, FILE[,OPTION...], parsed into what the backend and the
 * virtio-blk device are built from. The same parser reads --disk on the
 * command line and the `disk` parameter of the control socket's export_add.
 */
#ifndef VBLK_TOOLS_VBLKD_DISK_OPTS_H
#define VBLK_TOOLS_VBLKD_DISK_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "blk/blk_limit.h"
#include "errmsg.h"

/*
 * QEMU's vhost-user-blk-pci asks for one queue per vCPU by default and
 * refuses a back end that offers fewer, so a one-queue default breaks every
 * multi-vCPU VM. Queues cost a thread only once the front end enables them.
 */
#define VBLKD_DEFAULT_QUEUES 64

/* poll-us=N: more than a scheduler tick of spinning buys nothing. */
#define VBLKD_POLL_US_MAX 10000

struct disk_opts {
	char *file;
	bool ro;
	bool writeback;
	uint64_t size;
	const char *serial;
	unsigned queues;
	uint32_t lbs, pbs; /* sectorsize=L[/P], 0 = default */
	uint64_t range_start, range_size;
	bool direct;
	bool nolock;
	unsigned reconnect_ms;
	bool format_raw;
	struct blk_limits limits;
	unsigned rbd_timeout_ms; /* 0 = the backend's default */
	unsigned poll_us;	 /* poll-us=N: queue polling bound, 0 = off */
};

/*
 * Parse "FILE[,ro][,writethru|writeback][,size=BYTES]..." into o (defaults
 * first). s is modified and o points into it. Returns 0, or -EINVAL with the
 * reason in err ("--disk: ...").
 */
int disk_opts_parse(char *s, struct disk_opts *o, char err[ERRMSG_LEN]);

/* --blk-file PATH (vhost-user.rst): a path, commas and all, with no options. */
void disk_opts_file(char *path, struct disk_opts *o);

#endif
