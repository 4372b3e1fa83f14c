/* SPDX-License-Identifier: MIT */
/*
 * vblk: command-line client for vhost-user-blk back ends, built on libvblk
 * (public API only). This file: the usage text, the options every command
 * takes, and the dispatch to the subcommands (cmd_*.c). Errors print one
 * line on stderr and exit non-zero.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
    "Usage:\n"
    "  vblk info SOCKET [--json] [--packed]\n"
    "      capacity, block sizes, seg_max, size_max, queues, negotiated features, serial\n"
    "  vblk read SOCKET OFFSET LENGTH\n"
    "      write LENGTH bytes of the device starting at OFFSET to stdout\n"
    "  vblk write SOCKET OFFSET\n"
    "      write stdin to the device at OFFSET (partial blocks: read-modify-write)\n"
    "  vblk flush SOCKET\n"
    "  vblk discard SOCKET OFFSET LENGTH\n"
    "  vblk copy SRC DST\n"
    "      SRC and DST are each vhost-user:SOCKET, an NBD URI (nbd://HOST[:PORT]/EXPORT,\n"
    "      nbd+unix:///EXPORT?socket=PATH) or a file path; progress on stderr\n"
    "      when it is a terminal\n"
    "  vblk bench SOCKET --rw=read|write|randread|randwrite|randrw --bs=SIZE\n"
    "             --iodepth=N --queues=N --runtime=SECONDS [--json] [--packed]\n"
    "      IOPS, MiB/s and latency (mean, p50, p99, p99.9); one thread per queue\n"
    "\n"
    "vblk --version prints the versions of vblk and of the libvblk it runs with.\n"
    "Every command accepts --packed: drive the device through a packed virtqueue\n"
    "(VIRTIO_F_RING_PACKED, virtio 1.3 section 2.8) instead of a split one; it fails\n"
    "when the back end does not offer it (qemu-storage-daemon does not).\n"
    "Every command accepts --timeout=MS: how long to wait for each answer of the\n"
    "back end while connecting and disconnecting (default 5000).\n"
    "OFFSET, LENGTH and SIZE accept K, M, G, T suffixes (powers of 1024).\n"
    "SOCKET is the unix socket of a vhost-user-blk back end (qemu-storage-daemon,\n"
    "vblkd, ...). Exit status: 0 success, 1 failure, 2 usage error.\n";

int main(int argc, char **argv)
{
	struct cli cli = {0};

	if (argc < 2)
		usage_error("no command given");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		/* Ours from meson (tools/meson.build), and the library's, which may differ. */
		printf("vblk %s (libvblk %s)\n", VBLK_VERSION_STRING, vblk_version());
		return 0;
	}
	argc -= 2;
	argv += 2;
	/* --packed and --timeout apply to whatever the command opens: take them out here. */
	int kept = 0;
	for (int i = 0; i < argc; i++) {
		const char *v;
		if (!strcmp(argv[i], "--packed")) {
			cli.open_flags |= VBLK_OPEN_PACKED_RING;
		} else if ((v = opt_value(argv[i], "--timeout"))) {
			uint64_t ms = parse_size("timeout", v);
			if (!ms || ms > INT_MAX)
				usage_error("invalid --timeout=%s (milliseconds, 1 to %d)", v,
					    INT_MAX);
			cli.timeout_ms = (unsigned)ms;
		} else {
			argv[kept++] = argv[i];
		}
	}
	argc = kept;
	if (!strcmp(cmd, "info"))
		return cmd_info(&cli, argc, argv);
	if (!strcmp(cmd, "read"))
		return cmd_read(&cli, argc, argv);
	if (!strcmp(cmd, "write"))
		return cmd_write(&cli, argc, argv);
	if (!strcmp(cmd, "flush"))
		return cmd_flush(&cli, argc, argv);
	if (!strcmp(cmd, "discard"))
		return cmd_discard(&cli, argc, argv);
	if (!strcmp(cmd, "copy"))
		return cmd_copy(&cli, argc, argv);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(&cli, argc, argv);
	usage_error("unknown command '%s'", cmd);
}
