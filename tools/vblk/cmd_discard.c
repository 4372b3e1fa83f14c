/* SPDX-License-Identifier: MIT */
/*
 * vblk discard: tell the device a byte range is unused (VIRTIO_BLK_T_DISCARD),
 * or with --zeroes make it read as zeroes (VIRTIO_BLK_T_WRITE_ZEROES, --unmap
 * lets the device deallocate it).
 */
#include <string.h>

#include "cli.h"

enum { OPT_ZEROES = OPT_OWN, OPT_UNMAP };

static void on_opt(void *ctx, int id, const char *val)
{
	unsigned *flags = ctx;

	(void)val;
	*flags |= id == OPT_ZEROES ? 1u : 2u;
}

int cmd_discard(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"zeroes", no_argument, NULL, OPT_ZEROES},
	    {"unmap", no_argument, NULL, OPT_UNMAP},
	    {NULL, 0, NULL, 0},
	};
	unsigned flags = 0; /* 1: --zeroes, 2: --unmap */
	struct dev d;
	uint64_t off, len;
	int ret;

	argv = cli_getopt(cli, argc, argv, opts, on_opt, &flags, &argc);
	if (argc != 3)
		usage_error("discard: expected SOCKET OFFSET LENGTH");
	off = parse_size("offset", argv[1]);
	len = parse_size("length", argv[2]);
	dev_open(cli, &d, argv[0]);
	dev_check_range(&d, off, len);
	if (flags & 1) {
		if (!(d.info.features & VBLK_F_MASK(VBLK_F_WRITE_ZEROES)))
			die("%s: device does not support write zeroes (VIRTIO_BLK_F_WRITE_ZEROES)",
			    argv[0]);
		ret = vblk_write_zeroes(d.q, off, len, flags & 2 ? VBLK_WRITE_ZEROES_UNMAP : 0);
		if (ret)
			die("discard --zeroes: %s", strerror(-ret));
		dev_close(&d);
		return 0;
	}
	if (flags & 2)
		usage_error("discard: --unmap goes with --zeroes");
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
