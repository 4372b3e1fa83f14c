/* SPDX-License-Identifier: MIT */
/* vblk flush: make what the device acknowledged durable (VIRTIO_BLK_T_FLUSH). */
#include <string.h>

#include "cli.h"

int cmd_flush(struct cli *cli, int argc, char **argv)
{
	struct dev d;
	int ret;

	argv = cli_getopt(cli, argc, argv, NULL, NULL, NULL, &argc);
	if (argc != 1)
		usage_error("flush: expected SOCKET");
	dev_open(cli, &d, argv[0]);
	ret = vblk_flush(d.q);
	if (ret)
		die("flush: %s", strerror(-ret));
	dev_close(&d);
	return 0;
}
