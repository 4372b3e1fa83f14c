/* SPDX-License-Identifier: MIT */
/* vblk info: what the device and the back end offer, as text or JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

enum { OPT_JSON = OPT_OWN };

static void on_opt(void *ctx, int id, const char *val)
{
	if (id == OPT_JSON)
		*(bool *)ctx = true;
}

int cmd_info(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, OPT_JSON},
					     {NULL, 0, NULL, 0}};
	struct dev d;
	bool json = false;
	const char *sock;
	char serial[VBLK_ID_BYTES + 1] = "";
	int ret;

	argv = cli_getopt(cli, argc, argv, opts, on_opt, &json, &argc);
	if (argc < 1)
		usage_error("info: SOCKET missing");
	if (argc > 1)
		usage_error("info: unexpected argument '%s'", argv[1]);
	sock = argv[0];
	dev_open(cli, &d, sock);
	ret = vblk_get_id(d.q, serial);
	if (ret)
		snprintf(serial, sizeof(serial), "%s", "");
	const struct vblk_info *in = &d.info;
	if (json) {
		printf("{\"capacity\": %" PRIu64 ", \"logical_block_size\": %u, "
		       "\"physical_block_size\": %u, \"seg_max\": %u, \"size_max\": %u, "
		       "\"queues\": %u, \"queue_size\": %u, \"read_only\": %s, \"writeback\": %s, "
		       "\"features\": \"0x%" PRIx64 "\", \"feature_names\": [",
		       in->capacity, in->logical_block_size, in->physical_block_size, in->seg_max,
		       in->size_max, in->max_queues, in->queue_size,
		       in->read_only ? "true" : "false", in->writeback ? "true" : "false",
		       in->features);
		bool first = true;
		for (unsigned b = 0; b < 64; b++) {
			if (!(in->features & VBLK_F_MASK(b)))
				continue;
			const char *n = vblk_feature_name(b);
			char tmp[32];
			if (!n) {
				snprintf(tmp, sizeof(tmp), "bit %u", b);
				n = tmp;
			}
			printf("%s", first ? "" : ", ");
			json_str(n);
			first = false;
		}
		printf("], \"serial\": ");
		if (ret)
			printf("null");
		else
			json_str(serial);
		printf("}\n");
	} else {
		printf("capacity:            %" PRIu64 " bytes (%" PRIu64 " sectors)\n",
		       in->capacity, in->capacity / 512);
		printf("logical block size:  %u\n", in->logical_block_size);
		printf("physical block size: %u\n", in->physical_block_size);
		printf("seg_max:             %u\n", in->seg_max);
		printf("size_max:            %u\n", in->size_max);
		printf("queues:              %u\n", in->max_queues);
		printf("ring:                %s\n",
		       in->features & VBLK_F_MASK(VBLK_F_RING_PACKED) ? "packed" : "split");
		printf("read-only:           %s\n", in->read_only ? "yes" : "no");
		printf("write cache:         %s\n", in->writeback ? "writeback" : "writethrough");
		printf("serial:              %s\n", ret ? "(GET_ID not supported)" : serial);
		printf("features:            0x%" PRIx64 "\n", in->features);
		for (unsigned b = 0; b < 64; b++) {
			if (!(in->features & VBLK_F_MASK(b)))
				continue;
			const char *n = vblk_feature_name(b);
			if (n)
				printf("  %s\n", n);
			else
				printf("  bit %u\n", b);
		}
	}
	dev_close(&d);
	return 0;
}
