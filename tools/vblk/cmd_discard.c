/* SPDX-License-Identifier: MIT */
/* vblk discard: tell the device a byte range is unused (VIRTIO_BLK_T_DISCARD). */
#include <string.h>

#include "cli.h"

int cmd_discard(struct cli *cli, int argc, char **argv)
{
	struct dev d;
	uint64_t off, len;
	int ret;

	argv = cli_getopt(cli, argc, argv, NULL, NULL, NULL, &argc);
	if (argc != 3)
		usage_error("discard: expected SOCKET OFFSET LENGTH");
	off = parse_size("offset", argv[1]);
	len = parse_size("length", argv[2]);
	dev_open(cli, &d, argv[0]);
	dev_check_range(&d, off, len);
	if (!(d.info.features & VBLK_F_MASK(VBLK_F_DISCARD)))
		die("%s: back end does not support discard (VIRTIO_BLK_F_DISCARD)", argv[0]);
	if ((off | len) & (d.info.logical_block_size - 1))
		die("discard: offset and length must be multiples of %u",
		    d.info.logical_block_size);
	ret = vblk_discard(d.q, off, len);
	if (ret)
		die("discard: %s", strerror(-ret));
	dev_close(&d);
	return 0;
}
