/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: vblkd's control socket methods (tools/vblkd/rpc.c,
 * JSON-RPC 2.0 over json-c) fed arbitrary bytes, against a fake set of
 * exports behind the same ops table (struct rpc_ops) the daemon uses - so
 * no request, whatever it names, creates a socket, opens a disk or starts a
 * thread.
 *
 * Input: the bytes a control client sends, cut into lines as ctl.c cuts
 * them (at '\n', a trailing '\r' dropped, blank lines skipped, a line longer
 * than RPC_LINE_MAX refused); each line is run on the same fake set, so a
 * sequence of requests (add, then set, then remove ...) builds on the ones
 * before. Each line is copied to a buffer of exactly its length, so a read
 * past it is an ASan report.
 *
 * Properties checked on every line (a violation aborts):
 *  - a reply is one line of valid JSON in valid UTF-8 (what `vblk ctl` and
 *    any JSON-RPC client parse): an object with "jsonrpc": "2.0", an "id",
 *    and exactly one of "result" and "error" ({"code": int, "message":
 *    string});
 *  - a request with a string or integer id is answered with that id;
 *  - the ops are called only as rpc.h promises: add for a free name and a
 *    non-empty socket, remove/resize/stats/set for an export that exists,
 *    limits that pass blk_limits_check, writeback only on a disk that can
 *    flush, stats with the export's own queue count.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "blk/blk.h"
#include "rpc.h"

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_rpc: " __VA_ARGS__);                                         \
		fprintf(stderr, "\n");                                                             \
		abort();                                                                           \
	} while (0)

#define MAX_EXPORTS 8
#define MAX_LINES   64

struct fake_export {
	char *name, *socket, *disk;
	struct rpc_export_info info;
};

/* The daemon the requests of one input talk to. */
struct fake {
	struct fake_export ex[MAX_EXPORTS];
	unsigned n;
};

static struct fake_export *find(struct fake *f, const char *name)
{
	for (unsigned i = 0; i < f->n; i++)
		if (!strcmp(f->ex[i].name, name))
			return &f->ex[i];
	return NULL;
}

/* The export an op about an existing one names: rpc.c looked it up first. */
static struct fake_export *must_find(struct fake *f, const char *name, const char *op)
{
	struct fake_export *e = find(f, name);

	if (!e)
		FAIL("%s called for '%s', which does not exist", op, name);
	return e;
}

static void fake_list(void *ctx, void (*fn)(void *arg, const struct rpc_export_info *e), void *arg)
{
	struct fake *f = ctx;

	for (unsigned i = 0; i < f->n; i++)
		fn(arg, &f->ex[i].info);
}

static int fake_lookup(void *ctx, const char *name, struct rpc_export_info *out)
{
	struct fake_export *e = find(ctx, name);

	if (!e)
		return -ENOENT;
	*out = e->info;
	return 0;
}

static struct fake_export *fake_new(struct fake *f, const char *name, const char *socket,
				    const char *disk)
{
	struct fake_export *e = &f->ex[f->n++];

	e->name = strdup(name);
	e->socket = strdup(socket);
	e->disk = strdup(disk);
	if (!e->name || !e->socket || !e->disk)
		FAIL("out of memory");
	e->info = (struct rpc_export_info){.name = e->name,
					   .socket = e->socket,
					   .disk = e->disk,
					   .size = 1 << 20,
					   .can_flush = true,
					   .num_queues = 1,
					   .queues = 1};
	return e;
}

/*
 * Like export_start: the disk's first word picks a failure - "fail" with no
 * message (the daemon logged it), "err" with a message that quotes the disk
 * and the socket as sock.c and the backends do, which may be cut anywhere.
 */
static int fake_add(void *ctx, const char *name, const char *socket, const char *disk,
		    char err[ERRMSG_LEN])
{
	struct fake *f = ctx;
	struct fake_export *e;

	if (find(f, name))
		FAIL("add called for '%s', which exists", name);
	if (!*socket)
		FAIL("add called with an empty socket");
	if (!strncmp(disk, "fail", 4))
		return -EIO;
	if (!strncmp(disk, "err", 3))
		return errmsg(err, "cannot bind %s for '%s': %s", socket, disk, strerror(EACCES));
	if (f->n == MAX_EXPORTS)
		return errmsg(err, "too many exports");
	e = fake_new(f, name, socket, disk);
	/* "null"/"memory" disks have a fixed size and no flush, like those backends. */
	if (!strncmp(disk, "null", 4) || !strncmp(disk, "memory", 6))
		e->info.can_flush = false;
	if (strstr(disk, "ro"))
		e->info.read_only = true;
	return 0;
}

static void fake_free(struct fake_export *e)
{
	free(e->name);
	free(e->socket);
	free(e->disk);
}

static int fake_remove(void *ctx, const char *name)
{
	struct fake *f = ctx;
	struct fake_export *e = must_find(f, name, "remove");
	bool flush_fails = strstr(e->disk, "flushfail") != NULL;

	fake_free(e);
	*e = f->ex[--f->n];
	return flush_fails ? -EIO : 0;
}

static int fake_resize(void *ctx, const char *name, uint64_t size, uint64_t *before,
		       uint64_t *after)
{
	struct fake_export *e = must_find(ctx, name, "resize");

	*before = *after = e->info.size;
	if (!e->info.can_flush)
		return -EOPNOTSUPP;
	if (!size)
		return 0;
	if (size % 512 || size < e->info.size)
		return -EINVAL;
	e->info.size = *after = size;
	/* The front end was not told: the new size stands all the same. */
	return strstr(e->disk, "nonotify") ? -EIO : 0;
}

static int fake_stats(void *ctx, const char *name, struct blk_stats *total,
		      struct blk_stats *per_queue, unsigned nq)
{
	struct fake_export *e = must_find(ctx, name, "stats");

	if (nq != e->info.num_queues)
		FAIL("stats for %u queues of '%s', which has %u", nq, name, e->info.num_queues);
	if (strstr(e->disk, "nostats"))
		return -ENODEV;
	memset(total, 0, sizeof(*total));
	for (unsigned i = 0; i < nq; i++) {
		memset(&per_queue[i], 0, sizeof(per_queue[i]));
		if (i % 2)
			continue; /* the odd queues counted nothing */
		/* Counters as large as they get, and a full latency histogram. */
		per_queue[i].reads = UINT64_MAX - i;
		per_queue[i].bytes_read = UINT64_MAX;
		per_queue[i].lat_us[BLK_LAT_READ][BLK_LAT_BUCKETS - 1] = 1;
		per_queue[i].lat_us[BLK_LAT_WRITE][0] = i + 1;
	}
	blk_stats_sum(total, per_queue, nq);
	return (int)nq;
}

static int fake_set_limits(void *ctx, const char *name, const struct blk_limits *l)
{
	struct fake_export *e = must_find(ctx, name, "set_limits");

	if (blk_limits_check(l, NULL, 0))
		FAIL("set_limits with limits blk_limits_check refuses");
	e->info.limits = *l;
	return 0;
}

static int fake_set_writeback(void *ctx, const char *name, bool writeback)
{
	struct fake_export *e = must_find(ctx, name, "set_writeback");

	if (writeback && !e->info.can_flush)
		FAIL("writeback asked of '%s', whose disk cannot flush", name);
	e->info.writeback = writeback;
	return 0;
}

static const struct rpc_ops fake_ops = {
    .list = fake_list,
    .lookup = fake_lookup,
    .add = fake_add,
    .remove = fake_remove,
    .resize = fake_resize,
    .stats = fake_stats,
    .set_limits = fake_set_limits,
    .set_writeback = fake_set_writeback,
};

/* The daemon at the start of every input: a few exports in the states that matter. */
static void fake_init(struct fake *f)
{
	struct fake_export *e;

	memset(f, 0, sizeof(*f));
	/* A path from the command line need not be UTF-8 (Latin-1 here). */
	fake_new(f, "disk0", "/run/vblk/disk0.sock", "/img/caf\xe9.raw");
	/* Connected: virtio 1.0 | FLUSH | CONFIG_WCE | RING_PACKED, four queues. */
	e = fake_new(f, "vm1", "fd:3", "file=/img/vm1.raw,queues=4");
	e->info.connected = true;
	e->info.features = VIRTIO_BIT(32) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
			   VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE) | VIRTIO_BIT(34);
	e->info.packed = true;
	e->info.num_queues = e->info.queues = 4;
	/* A disk that cannot flush and has no queue yet. */
	e = fake_new(f, "ro", "/run/vblk/ro.sock", "null:size=1G,ro");
	e->info.can_flush = false;
	e->info.read_only = true;
	e->info.num_queues = 0;
}

static void fake_fini(struct fake *f)
{
	for (unsigned i = 0; i < f->n; i++)
		fake_free(&f->ex[i]);
}

/* The request's id if it is a string or an integer, else NULL (line: a NUL-terminated copy). */
static json_object *request_id(const char *line)
{
	json_object *req = json_tokener_parse(line), *id;
	json_object *copy = NULL;

	if (req && json_object_is_type(req, json_type_object) &&
	    json_object_object_get_ex(req, "id", &id) &&
	    (json_object_is_type(id, json_type_string) || json_object_is_type(id, json_type_int)))
		copy = json_object_get(id);
	json_object_put(req);
	return copy;
}

/*
 * Is s[0..n) UTF-8 as RFC 3629 has it? Decode each code point, then ask
 * whether that is the shortest form of a scalar value.
 */
static bool strict_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned extra = s[i] < 0x80	   ? 0
				 : s[i] >> 5 == 6  ? 1
				 : s[i] >> 4 == 14 ? 2
				 : s[i] >> 3 == 30 ? 3
						   : 9;
		uint32_t cp = extra ? s[i] & (0x3f >> extra) : s[i];

		if (extra == 9 || i + extra >= n + (extra ? 0 : 1))
			return false;
		for (unsigned k = 1; k <= extra; k++) {
			if (s[i + k] >> 6 != 2)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		unsigned shortest = cp < 0x80 ? 0 : cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;
		if (shortest != extra || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
			return false;
		i += extra + 1;
	}
	return true;
}

/* Does a string anywhere in the (leniently parsed) request hold a NUL? */
static bool holds_nul(json_object *j)
{
	switch (json_object_get_type(j)) {
	case json_type_string:
		return strlen(json_object_get_string(j)) != (size_t)json_object_get_string_len(j);
	case json_type_object: {
		json_object_object_foreach(j, k, v)
		{
			(void)k;
			if (holds_nul(v))
				return true;
		}
		return false;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(j); i++)
			if (holds_nul(json_object_array_get_idx(j, i)))
				return true;
		return false;
	default:
		return false;
	}
}

/* The properties of one reply (the file's comment). */
static void check_reply(const char *line, const char *out)
{
	enum json_tokener_error jerr;
	json_object *r, *v, *err = NULL, *code, *want;
	json_tokener *tok;
	size_t n = strlen(out);
	bool has_result, has_error;

	if (memchr(out, '\n', n))
		FAIL("reply with a newline: %s", out);
	if (!strict_utf8((const unsigned char *)out, n))
		FAIL("reply is not UTF-8: %s", out);
	tok = json_tokener_new();
	if (!tok)
		FAIL("out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	r = json_tokener_parse_ex(tok, out, (int)n + 1);
	jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success || !json_object_is_type(r, json_type_object))
		FAIL("reply is not a JSON object in UTF-8 (%s): %s", json_tokener_error_desc(jerr),
		     out);
	if (!json_object_object_get_ex(r, "jsonrpc", &v) ||
	    strcmp(json_object_get_string(v), "2.0"))
		FAIL("reply without \"jsonrpc\": \"2.0\": %s", out);
	if (!json_object_object_get_ex(r, "id", &v))
		FAIL("reply without an id: %s", out);
	has_result = json_object_object_get_ex(r, "result", NULL);
	has_error = json_object_object_get_ex(r, "error", &err);
	/* A request that did not parse has no id to answer with (JSON-RPC 2.0 §5: null). */
	if (has_error && json_object_object_get_ex(err, "code", &code) &&
	    json_object_get_int(code) == RPC_PARSE_ERROR) {
		if (v)
			FAIL("parse error with an id: %s", out);
	} else {
		json_object *req = json_tokener_parse(line);

		/* "disk0\u0000x" is not disk0: json-c's C strings must not make it so. */
		if (!has_error && req && holds_nul(req))
			FAIL("a request with a NUL in a string succeeded: %s", out);
		json_object_put(req);
		want = request_id(line);
		if (want && !json_object_equal(want, v))
			FAIL("reply's id is not the request's: %s", out);
		json_object_put(want);
	}
	if (has_result == has_error)
		FAIL("reply with %s of result and error: %s", has_result ? "both" : "neither", out);
	if (has_error && (!json_object_object_get_ex(err, "code", &v) ||
			  !json_object_is_type(v, json_type_int) ||
			  !json_object_object_get_ex(err, "message", &v) ||
			  !json_object_is_type(v, json_type_string)))
		FAIL("error without an integer code and a string message: %s", out);
	json_object_put(r);
}

static void run_line(struct fake *f, const char *p, size_t len)
{
	/* Exactly len bytes, so that ASan sees a read past the line. */
	char *line = malloc(len ? len : 1), *z;
	char *out;

	if (!line)
		FAIL("out of memory");
	memcpy(line, p, len);
	out = rpc_handle(&fake_ops, f, line, len);
	free(line);
	if (!out)
		return;
	z = strndup(p, len);
	if (!z)
		FAIL("out of memory");
	if (getenv("FUZZ_RPC_VERBOSE"))
		fprintf(stderr, "> %s\n< %s\n", z, out);
	check_reply(z, out);
	free(z);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	unsigned lines = 0;
	struct fake f;

	fake_init(&f);
	/* ctl.c's framing: a line ends at '\n' (or at the end of the input here). */
	while (p < end && lines < MAX_LINES) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p), l = len;

		if (l && p[l - 1] == '\r')
			l--;
		if (len >= RPC_LINE_MAX) {
			char *out = rpc_error_reply(RPC_INVALID_REQUEST, "request line too long");

			if (out)
				check_reply("", out);
			free(out);
		} else if (l) {
			run_line(&f, p, l);
			lines++;
		}
		p += len + 1;
	}
	fake_fini(&f);
	return 0;
}
