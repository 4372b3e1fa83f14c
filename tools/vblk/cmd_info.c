/* SPDX-License-Identifier: MIT */
/* vblk info: what the device and the back end offer and what we negotiated, as text or JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "jsonout.h"

enum { OPT_JSON = OPT_OWN, OPT_QUEUES };

struct info_args {
	bool json;
	unsigned queues;
};

static void on_opt(void *ctx, int id, const char *val)
{
	struct info_args *a = ctx;

	if (id == OPT_JSON)
		a->json = true;
	else if (id == OPT_QUEUES)
		a->queues = parse_count("--queues", val, CLI_MAX_QUEUES);
}

/* docs/json.md, "vblk info --json". serial: NULL when the device has no GET_ID. */
static void print_json(const char *sock, const struct vblk_info *in, const uint8_t *id,
		       size_t id_len)
{
	struct json_object *o = jobj(), *q = jobj(), *f = jobj();

	jset_u64(o, "schema_version", VBLK_JSON_SCHEMA_VERSION);
	jset_bytes(o, "socket", sock, strlen(sock));
	jset_u64(o, "capacity", in->capacity);
	jset_u64(o, "logical_block_size", in->logical_block_size);
	jset_u64(o, "physical_block_size", in->physical_block_size);
	jset_u64(o, "seg_max", in->seg_max);
	jset_u64(o, "size_max", in->size_max);
	jset_u64(o, "max_transfer", in->max_transfer);
	jset_u64(o, "max_discard_sectors", in->max_discard_sectors);
	jset_u64(o, "max_write_zeroes_sectors", in->max_write_zeroes_sectors);
	jset_bool(o, "read_only", in->read_only);
	jset_bool(o, "writeback", in->writeback);
	jset_str(o, "ring", in->features & VBLK_F_MASK(VBLK_F_RING_PACKED) ? "packed" : "split");
	jset_u64(o, "queue_size", in->queue_size);
	jset_u64(q, "offered", in->max_queues);
	jset_u64(q, "negotiated", in->num_queues);
	jset(o, "queues", q);
	jset(f, "offered", jfeatures(in->device_features));
	jset(f, "negotiated", jfeatures(in->features));
	jset(o, "features", f);
	if (id) {
		char hex[2 * VBLK_ID_BYTES + 1];

		for (size_t i = 0; i < id_len; i++)
			snprintf(hex + 2 * i, 3, "%02x", id[i]);
		hex[2 * id_len] = '\0';
		jset_bytes(o, "serial", id, id_len);
		jset_str(o, "serial_hex", hex);
	} else {
		jset(o, "serial", NULL);
		jset(o, "serial_hex", NULL);
	}
	jprint(o);
}

static void print_names(uint64_t mask)
{
	for (unsigned b = 0; b < 64; b++) {
		const char *n;

		if (!(mask & VBLK_F_MASK(b)))
			continue;
		n = vblk_feature_name(b);
		if (n)
			printf("  %s\n", n);
		else
			printf("  bit %u\n", b);
	}
}

static void print_text(const struct vblk_info *in, const uint8_t *id, size_t id_len)
{
	char serial[4 * VBLK_ID_BYTES + 1] = "(GET_ID not supported)";

	if (id)
		utf8_backslashreplace(id, id_len, serial);
	printf("capacity:            %" PRIu64 " bytes (%" PRIu64 " sectors)\n", in->capacity,
	       in->capacity / 512);
	printf("logical block size:  %u\n", in->logical_block_size);
	printf("physical block size: %u\n", in->physical_block_size);
	printf("seg_max:             %u\n", in->seg_max);
	printf("size_max:            %u\n", in->size_max);
	printf("queues:              %u offered, %u negotiated\n", in->max_queues, in->num_queues);
	printf("ring:                %s\n",
	       in->features & VBLK_F_MASK(VBLK_F_RING_PACKED) ? "packed" : "split");
	printf("read-only:           %s\n", in->read_only ? "yes" : "no");
	printf("write cache:         %s\n", in->writeback ? "writeback" : "writethrough");
	printf("serial:              %s\n", serial);
	printf("features:            0x%" PRIx64 " negotiated (0x%" PRIx64 " offered)\n",
	       in->features, in->device_features);
	print_names(in->features);
	if (in->device_features & ~in->features) {
		printf("offered, not negotiated:\n");
		print_names(in->device_features & ~in->features);
	}
}

int cmd_info(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, OPT_JSON},
					     {"queues", required_argument, NULL, OPT_QUEUES},
					     {NULL, 0, NULL, 0}};
	struct info_args a = {.queues = 1};
	struct vblk_options o = {0};
	struct dev d;
	char id[VBLK_ID_BYTES + 1] = "";
	bool have_id;

	argv = cli_getopt(cli, argc, argv, opts, on_opt, &a, &argc);
	if (argc < 1)
		usage_error("info: SOCKET missing");
	if (argc > 1)
		usage_error("info: unexpected argument '%s'", argv[1]);
	o.num_queues = a.queues;
	dev_open_with(cli, &d, argv[0], &o);
	/* virtio 1.3 §5.2.6: the ID is NUL-padded, unterminated when 20 bytes long. */
	have_id = vblk_get_id(d.q, id) == 0;
	if (a.json)
		print_json(argv[0], &d.info, have_id ? (const uint8_t *)id : NULL,
			   strnlen(id, VBLK_ID_BYTES));
	else
		print_text(&d.info, have_id ? (const uint8_t *)id : NULL,
			   strnlen(id, VBLK_ID_BYTES));
	dev_close(&d);
	return 0;
}
