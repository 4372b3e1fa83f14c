/* SPDX-License-Identifier: MIT */
/* The --disk syntax (disk_opts.h): FILE and its comma-separated options. */
#include "disk_opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vblk/spec/virtio_blk.h>

#include "internal/size.h"
#include "vhost_user/vu_server.h"

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end || *s == '-' ? -EINVAL : 0;
}

/* "L" or "L/P", each 512 or 4096 (virtio 1.3 §5.2.4 blk_size, topology). */
static int parse_sectorsize(const char *s, struct disk_opts *o, char *err)
{
	char buf[32], *slash;
	uint64_t l, p;

	if (strlen(s) >= sizeof(buf))
		return errmsg(err, "--disk: bad sectorsize '%s'", s);
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (parse_u64(buf, &l) || (slash && parse_u64(slash, &p)))
		return errmsg(err, "--disk: bad sectorsize '%s' (L or L/P)", s);
	if (!slash)
		p = l;
	if ((l != 512 && l != 4096) || (p != 512 && p != 4096) || p < l)
		return errmsg(err,
			      "--disk: sectorsize must be 512 or 4096, physical >= logical, not "
			      "'%s'",
			      s);
	o->lbs = (uint32_t)l;
	o->pbs = slash ? (uint32_t)p : 0;
	return 0;
}

/* "START/SIZE" in bytes, with K/M/G/T suffixes. */
static int parse_range(const char *s, struct disk_opts *o, char *err)
{
	char buf[64], *slash;

	if (strlen(s) >= sizeof(buf))
		return errmsg(err, "--disk: bad range '%s'", s);
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return errmsg(err, "--disk: range needs START/SIZE, not '%s'", s);
	*slash++ = '\0';
	if (size_parse(buf, &o->range_start) || size_parse(slash, &o->range_size) ||
	    o->range_size == 0)
		return errmsg(err, "--disk: bad range '%s' (START/SIZE in bytes)", s);
	return 0;
}

/* One OPTION of --disk FILE,OPTION,... */
static int parse_option(char *tok, struct disk_opts *o, char *err)
{
	if (!strcmp(tok, "ro")) {
		o->ro = true;
	} else if (!strcmp(tok, "writethru") || !strcmp(tok, "writethrough")) {
		o->writeback = false;
	} else if (!strcmp(tok, "writeback")) {
		o->writeback = true;
	} else if (!strncmp(tok, "size=", 5)) {
		if (size_parse(tok + 5, &o->size) || o->size == 0)
			return errmsg(err, "--disk: bad size '%s'", tok + 5);
	} else if (!strncmp(tok, "serial=", 7)) {
		o->serial = tok + 7;
		if (strlen(o->serial) > VIRTIO_BLK_ID_BYTES)
			return errmsg(err, "--disk: serial '%s' is longer than %d bytes", o->serial,
				      VIRTIO_BLK_ID_BYTES);
	} else if (!strncmp(tok, "queues=", 7)) {
		uint64_t n;

		if (parse_u64(tok + 7, &n) || n < 1 || n > VU_MAX_QUEUES)
			return errmsg(err, "--disk: queues must be 1..%u, not '%s'", VU_MAX_QUEUES,
				      tok + 7);
		o->queues = (unsigned)n;
	} else if (!strncmp(tok, "sectorsize=", 11)) {
		return parse_sectorsize(tok + 11, o, err);
	} else if (!strncmp(tok, "range=", 6)) {
		return parse_range(tok + 6, o, err);
	} else if (!strcmp(tok, "direct=on") || !strcmp(tok, "direct")) {
		o->direct = true;
	} else if (!strcmp(tok, "direct=off")) {
		o->direct = false;
	} else if (!strcmp(tok, "locking=on")) {
		o->nolock = false;
	} else if (!strcmp(tok, "locking=off")) {
		o->nolock = true;
	} else if (!strcmp(tok, "format=raw")) {
		o->format_raw = true;
	} else if (!strncmp(tok, "format=", 7)) {
		return errmsg(err,
			      "--disk: vblkd serves raw disks only, not format=%s: serve a %s "
			      "image through qemu-nbd --format=%s and the NBD backend",
			      tok + 7, tok + 7, tok + 7);
	} else if (!strncmp(tok, "reconnect-ms=", 13)) {
		uint64_t ms;

		if (parse_u64(tok + 13, &ms) || ms == 0 || ms > 3600000)
			return errmsg(err, "--disk: reconnect-ms must be 1..3600000, not '%s'",
				      tok + 13);
		o->reconnect_ms = (unsigned)ms;
	} else if (!strncmp(tok, "rbd-timeout-ms=", 15)) {
		uint64_t ms;

		if (parse_u64(tok + 15, &ms) || ms == 0 || ms > 3600000)
			return errmsg(err, "--disk: rbd-timeout-ms must be 1..3600000, not '%s'",
				      tok + 15);
		o->rbd_timeout_ms = (unsigned)ms;
	} else if (!strncmp(tok, "poll-us=", 8)) {
		uint64_t us;

		if (parse_u64(tok + 8, &us) || us > VBLKD_POLL_US_MAX)
			return errmsg(err, "--disk: poll-us must be 0..%u (microseconds), not '%s'",
				      VBLKD_POLL_US_MAX, tok + 8);
		o->poll_us = (unsigned)us;
	} else {
		char why[ERRMSG_LEN - 16];
		int ret = blk_limits_parse_opt(tok, &o->limits, why, sizeof(why));

		if (ret == 0)
			return errmsg(err, "--disk: unknown option '%s'", tok);
		if (ret < 0)
			return errmsg(err, "--disk: %s", why);
	}
	return 0;
}

int disk_opts_parse(char *s, struct disk_opts *o, char err[ERRMSG_LEN])
{
	char *save = NULL, *tok;
	int ret;

	*o = (struct disk_opts){.queues = VBLKD_DEFAULT_QUEUES};
	o->file = strtok_r(s, ",", &save);
	if (!o->file || !*o->file)
		return errmsg(err, "--disk needs a FILE");
	while ((tok = strtok_r(NULL, ",", &save))) {
		ret = parse_option(tok, o, err);
		if (ret)
			return ret;
	}
	if (blk_limits_check(&o->limits, NULL, 0)) {
		char why[ERRMSG_LEN - 16];

		blk_limits_check(&o->limits, why, sizeof(why));
		return errmsg(err, "--disk: %s", why);
	}
	return 0;
}

void disk_opts_file(char *path, struct disk_opts *o)
{
	*o = (struct disk_opts){.queues = VBLKD_DEFAULT_QUEUES, .file = path};
}
