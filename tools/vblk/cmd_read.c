/* SPDX-License-Identifier: MIT */
/* vblk read: bytes of the device, at any offset and length, to stdout. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cmd_read(struct cli *cli, int argc, char **argv)
{
	struct dev d;
	uint64_t off, len;
	uint8_t *out;

	argv = cli_getopt(cli, argc, argv, NULL, NULL, NULL, &argc);
	if (argc != 3)
		usage_error("read: expected SOCKET OFFSET LENGTH");
	off = parse_size("offset", argv[1]);
	len = parse_size("length", argv[2]);
	dev_open(cli, &d, argv[0]);
	dev_check_range(&d, off, len);
	out = malloc(CHUNK);
	if (!out)
		die("out of memory");
	while (len) {
		size_t n = len < CHUNK ? (size_t)len : CHUNK;
		int ret = dev_pread(&d, out, n, off);
		if (ret)
			die("read at %" PRIu64 ": %s", off, strerror(-ret));
		write_all(STDOUT_FILENO, out, n);
		off += n;
		len -= n;
	}
	free(out);
	dev_close(&d);
	return 0;
}
