/* SPDX-License-Identifier: MIT */
/*
 * vblk: command-line client for vhost-user-blk back ends, built on libvblk
 * (public API only). This file: the usage text, --help and --version, and
 * the dispatch to the subcommands (cmd_*.c). Errors print one
 * line on stderr and exit non-zero.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
    "Usage:\n"
    "  vblk info SOCKET [--json] [--queues=N] [--packed]\n"
    "      capacity, block sizes, seg_max, size_max, queues offered and negotiated,\n"
    "      features offered and negotiated, serial\n"
    "  vblk read SOCKET OFFSET LENGTH\n"
    "      write LENGTH bytes of the device starting at OFFSET to stdout\n"
    "  vblk write SOCKET OFFSET\n"
    "      write stdin to the device at OFFSET (partial blocks: read-modify-write)\n"
    "  vblk flush SOCKET\n"
    "  vblk discard SOCKET OFFSET LENGTH\n"
    "  vblk copy SRC DST [--queues=N] [--requests=N] [--request-size=SIZE]\n"
    "            [--progress|--no-progress] [--destination-is-zero] [--json]\n"
    "      SRC and DST are each vhost-user:SOCKET, pci:BDF, an NBD URI (nbd://HOST[:PORT]/EXPORT,\n"
    "      nbd+unix:///EXPORT?socket=PATH), an RBD image (rbd:POOL/IMAGE[@SNAP]\n"
    "      [:conf=PATH]..., as vblkd's --disk) or a file path. N requests (default 16) of\n"
    "      SIZE (default 256K) in flight on each of N queues (default: up to 4, as many\n"
    "      as the back ends offer); zero chunks become WRITE_ZEROES with unmap, or holes\n"
    "      in a file. Progress with rate and ETA on stderr (default: when a terminal)\n"
    "  vblk bench SOCKET --rw=read|write|randread|randwrite|randrw --bs=SIZE\n"
    "             --iodepth=N --queues=N --runtime=SECONDS [--json] [--packed]\n"
    "      IOPS, MiB/s and latency (mean, p50, p99, p99.9); one thread per queue;\n"
    "      --json: fio's JSON layout\n"
    "      --requests=N stops each queue after N requests instead; --segments=N\n"
    "      cuts each request's buffer into N (multi-segment requests)\n"
    "  vblk discard SOCKET OFFSET LENGTH --zeroes [--unmap]\n"
    "      make the range read as zeroes (VIRTIO_BLK_T_WRITE_ZEROES)\n"
    "  vblk pci-bind DDDD:BB:DD.F [--kernel]\n"
    "      bind a virtio-blk PCI function to uio_pci_generic (or back to virtio-pci);\n"
    "      refuses other devices and disks with mounted filesystems\n"
    "  vblk ctl CONTROL_SOCKET METHOD [KEY=VALUE...] [--json]\n"
    "      one request to vblkd's control socket (vblkd --control): export_list,\n"
    "      export_add name=N socket=PATH disk=DISK, export_remove name=N, ...;\n"
    "      a VALUE that is JSON (number, true, \"string\") is sent as such, else as a\n"
    "      string; --timeout=MS bounds the wait for the answer (default 60000)\n"
    "\n"
    "vblk --version prints the versions of vblk and of the libvblk it runs with.\n"
    "--json prints one JSON document on stdout, its schema versioned (man vblk).\n"
    "Every command accepts --packed: drive the device through a packed virtqueue\n"
    "(VIRTIO_F_RING_PACKED, virtio 1.3 section 2.8) instead of a split one; it fails\n"
    "when the back end does not offer it (qemu-storage-daemon does not).\n"
    "Every command accepts --intx: on a pci: device, sleep on its INTx interrupt\n"
    "(/dev/uioN) instead of polling for completions.\n"
    "Every command accepts --timeout=MS: how long to wait for each answer of the\n"
    "back end while connecting and disconnecting (default 5000), and for each I/O\n"
    "request (default 30000; then the device is stopped and the command fails).\n"
    "Every command accepts --poll-us=US: before sleeping for a completion, spin on\n"
    "the used ring for up to US microseconds with the device's notifications off\n"
    "(default 0: sleep at once; see docs/polling.md).\n"
    "Options take their value as --name=VALUE or --name VALUE, before or after the\n"
    "operands; -- ends the options.\n"
    "OFFSET, LENGTH and SIZE are decimal (a leading 0 is no octal), with an optional\n"
    "K, M, G, T or KiB, MiB, GiB, TiB suffix (powers of 1024).\n"
    "SOCKET is the unix socket of a vhost-user-blk back end (qemu-storage-daemon,\n"
    "vblkd, ...), or pci:DDDD:BB:DD.F, a virtio-blk PCI function bound to\n"
    "uio_pci_generic (root, 2 MiB hugepages: see docs/pci-transport.md).\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

void print_usage(void)
{
	fputs(usage_text, stdout);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct cli *cli, int argc, char **argv);
	} commands[] = {
	    {"info", cmd_info},	  {"read", cmd_read},	      {"write", cmd_write},
	    {"flush", cmd_flush}, {"discard", cmd_discard},   {"copy", cmd_copy},
	    {"bench", cmd_bench}, {"pci-bind", cmd_pci_bind}, {"ctl", cmd_ctl},
	};
	struct cli cli = {0};
	const char *cmd;

	if (argc < 2)
		usage_error("no command given");
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		print_usage();
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		/* Ours from meson (tools/meson.build), and the library's, which may differ. */
		printf("vblk %s (libvblk %s)\n", VBLK_VERSION_STRING, vblk_version());
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].run(&cli, argc - 1, argv + 1);
	usage_error("unknown command '%s'", cmd);
}
