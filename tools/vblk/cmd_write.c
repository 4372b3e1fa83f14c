/* SPDX-License-Identifier: MIT */
/* vblk write: stdin to the device at any offset (partial blocks read-modify-written). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cmd_write(struct cli *cli, int argc, char **argv)
{
	struct dev d;
	uint64_t off;
	uint8_t *in;

	argv = cli_getopt(cli, argc, argv, NULL, NULL, NULL, &argc);
	if (argc != 2)
		usage_error("write: expected SOCKET OFFSET (data on stdin)");
	off = parse_size("offset", argv[1]);
	dev_open(cli, &d, argv[0]);
	if (d.info.read_only)
		die("%s: device is read-only", argv[0]);
	dev_check_range(&d, off, 0);
	in = malloc(CHUNK);
	if (!in)
		die("out of memory");
	for (;;) {
		size_t n = read_full(STDIN_FILENO, in, CHUNK);
		if (!n)
			break;
		dev_check_range(&d, off, n);
		int ret = dev_pwrite(&d, in, n, off);
		if (ret)
			die("write at %" PRIu64 ": %s", off, strerror(-ret));
		off += n;
		if (n < CHUNK)
			break;
	}
	free(in);
	dev_close(&d);
	return 0;
}
