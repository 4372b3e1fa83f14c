/* SPDX-License-Identifier: MIT */
/*
 * JSON-RPC 2.0 over json-c for the control socket (rpc.h): the request's
 * shape is checked once here, in one place - an object, "jsonrpc": "2.0",
 * a string method, an id that is a string, a number or null, params by
 * name with each key's type - so that a method only ever sees parameters of
 * the types it asked for.
 */
#include "rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "internal/compiler.h"

/* Nesting a request may have: ours are two deep; deeper is an attack on the parser. */
#define RPC_MAX_DEPTH 8

/* One named parameter of a method: its key and type, and what the request gave. */
struct param {
	const char *key;
	json_type type;
	bool required;
	json_object *val; /* NULL when absent */
};

/* What a method returns: a result (owned), or an error code and message. */
struct outcome {
	json_object *result;
	int code;
	char msg[ERRMSG_LEN];
};

static void fail(struct outcome *o, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct outcome *o, int code, const char *fmt, ...)
{
	va_list ap;

	o->code = code;
	va_start(ap, fmt);
	vsnprintf(o->msg, sizeof(o->msg), fmt, ap);
	va_end(ap);
}

/*
 * The length of the UTF-8 sequence at s[0..n) if it is one (RFC 3629: no
 * overlong form, no surrogate, nothing past U+10FFFF), else 0. json-c's
 * JSON_TOKENER_VALIDATE_UTF8 lets surrogates through, which a client's
 * strict decoder (Python's, for one) refuses in our replies.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool utf8_valid(const char *s, size_t n)
{
	for (size_t i = 0, l; i < n; i += l) {
		l = utf8_seq((const unsigned char *)s + i, n - i);
		if (!l)
			return false;
	}
	return true;
}

/*
 * A JSON string of s with every byte that is not UTF-8 as U+FFFD: a
 * message cut at a byte count (the %.64s of a name) or a path from the
 * command line must not make the whole reply unreadable.
 */
static json_object *new_string(const char *s)
{
	size_t n = strlen(s), o = 0;
	json_object *j;
	char *fixed;

	if (utf8_valid(s, n))
		return json_object_new_string(s);
	fixed = malloc(3 * n + 1);
	if (!fixed)
		return NULL;
	for (size_t i = 0, l; i < n; i += l ? l : 1) {
		l = utf8_seq((const unsigned char *)s + i, n - i);
		if (l) {
			memcpy(fixed + o, s + i, l);
			o += l;
		} else {
			memcpy(fixed + o, "\xef\xbf\xbd", 3);
			o += 3;
		}
	}
	j = json_object_new_string_len(fixed, (int)o);
	free(fixed);
	return j;
}

/*
 * Does the request (valid JSON) hold a string with "\u0000"? json-c keeps
 * strings and keys as C strings, so "disk0\u0000x" would name disk0.
 */
static bool escaped_nul(const char *line, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		if (line[i] == '"') {
			in_string = !in_string;
		} else if (in_string && line[i] == '\\') {
			if (i + 5 < len && !memcmp(line + i + 1, "u0000", 5))
				return true;
			i++; /* the escaped character */
		}
	}
	return false;
}

/*
 * An integer parameter as a positive int64: false for 0, negatives and
 * anything json-c clamped (above INT64_MAX), which is not the number asked.
 */
static bool positive_int(json_object *v, uint64_t *out)
{
	int64_t i = json_object_get_int64(v);

	if (i <= 0 || json_object_get_uint64(v) != (uint64_t)i)
		return false;
	*out = (uint64_t)i;
	return true;
}

static const char *type_name(json_type t)
{
	switch (t) {
	case json_type_boolean:
		return "a boolean";
	case json_type_int:
		return "an integer";
	case json_type_string:
		return "a string";
	case json_type_object:
		return "an object";
	default:
		return "something else";
	}
}

/*
 * Match params (an object, or NULL when the request had none) against
 * want[0..n): every key known, of its type, the required ones there. Returns
 * true, or false with the error in o.
 */
static bool get_params(json_object *params, struct param *want, size_t n, struct outcome *o)
{
	if (params && !json_object_is_type(params, json_type_object)) {
		fail(o, RPC_INVALID_PARAMS, "params must be an object (parameters by name)");
		return false;
	}
	if (params) {
		json_object_object_foreach(params, key, val)
		{
			size_t i;

			for (i = 0; i < n && strcmp(want[i].key, key); i++)
				;
			if (i == n) {
				fail(o, RPC_INVALID_PARAMS, "unknown parameter '%.64s'", key);
				return false;
			}
			if (!json_object_is_type(val, want[i].type)) {
				fail(o, RPC_INVALID_PARAMS, "parameter '%s' must be %s", key,
				     type_name(want[i].type));
				return false;
			}
			want[i].val = val;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (want[i].required && !want[i].val) {
			fail(o, RPC_INVALID_PARAMS, "missing parameter '%s'", want[i].key);
			return false;
		}
	}
	return true;
}

/* What a method works on: the request's ops and their context. */
struct rpc {
	const struct rpc_ops *ops;
	void *ctx;
};

/* The export named by the required string parameter p into *e: false with the error in o. */
static bool named_export(const struct rpc *r, const struct param *p, struct rpc_export_info *e,
			 struct outcome *o)
{
	const char *name = json_object_get_string(p->val);

	if (r->ops->lookup(r->ctx, name, e)) {
		fail(o, RPC_NO_SUCH_EXPORT, "no export named '%.64s'", name);
		return false;
	}
	return true;
}

/*
 * The parameters of a method about one export (p[0] is its "name"), checked,
 * and that export into *e; false with the error in o.
 */
static bool export_params(const struct rpc *r, json_object *params, struct param *p, size_t n,
			  struct rpc_export_info *e, struct outcome *o)
{
	return get_params(params, p, n, o) && named_export(r, &p[0], e, o);
}

static void add_u64(json_object *obj, const char *key, uint64_t v)
{
	json_object_object_add(obj, key, json_object_new_uint64(v));
}

/* The export's I/O limits that are set, by their --disk names. */
static json_object *limits_json(const struct blk_limits *l)
{
	json_object *obj = json_object_new_object();

	if (!obj)
		return NULL;
	const struct {
		const char *key;
		uint64_t v;
	} f[] = {{"iops", l->iops},
		 {"iops-rd", l->iops_rd},
		 {"iops-wr", l->iops_wr},
		 {"bps", l->bps},
		 {"bps-rd", l->bps_rd},
		 {"bps-wr", l->bps_wr},
		 {"iops-burst", l->iops_burst},
		 {"bps-burst", l->bps_burst}};
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (f[i].v)
			add_u64(obj, f[i].key, f[i].v);
	return obj;
}

/* One export as export_list shows it. */
static json_object *describe(const struct rpc_export_info *e)
{
	json_object *obj = json_object_new_object();

	if (!obj)
		return NULL;
	json_object_object_add(obj, "name", new_string(e->name));
	json_object_object_add(obj, "socket", new_string(e->socket));
	json_object_object_add(obj, "disk", new_string(e->disk));
	add_u64(obj, "size", e->size);
	json_object_object_add(obj, "read_only", json_object_new_boolean(e->read_only));
	json_object_object_add(obj, "writeback", json_object_new_boolean(e->writeback));
	json_object_object_add(obj, "connected", json_object_new_boolean(e->connected));
	add_u64(obj, "features", e->features);
	add_u64(obj, "queues", e->queues);
	json_object_object_add(obj, "limits", limits_json(&e->limits));
	/* The ring type exists once a front end has negotiated features. */
	json_object_object_add(obj, "ring",
			       e->features ? json_object_new_string(e->packed ? "packed" : "split")
					   : NULL);
	return obj;
}

/* The export named name as export_list shows it, or NULL (its error in o). */
static json_object *describe_named(const struct rpc *r, const char *name, struct outcome *o)
{
	struct rpc_export_info e;

	if (r->ops->lookup(r->ctx, name, &e)) {
		fail(o, RPC_INTERNAL_ERROR, "export '%.64s' vanished", name);
		return NULL;
	}
	return describe(&e);
}

static void list_one(void *arg, const struct rpc_export_info *e)
{
	json_object *arr = arg;

	json_object_array_add(arr, describe(e));
}

static void m_export_list(const struct rpc *r, json_object *params, struct outcome *o)
{
	json_object *arr;

	if (!get_params(params, NULL, 0, o))
		return;
	arr = json_object_new_array();
	if (arr)
		r->ops->list(r->ctx, list_one, arr);
	o->result = arr;
}

static void m_export_add(const struct rpc *r, json_object *params, struct outcome *o)
{
	struct param p[] = {
	    {"name", json_type_string, true, NULL},
	    {"socket", json_type_string, true, NULL},
	    {"disk", json_type_string, true, NULL},
	};
	const char *name, *socket, *disk;
	struct rpc_export_info e;
	char err[ERRMSG_LEN];
	int ret;

	if (!get_params(params, p, ARRAY_SIZE(p), o))
		return;
	name = json_object_get_string(p[0].val);
	socket = json_object_get_string(p[1].val);
	disk = json_object_get_string(p[2].val);
	if (!r->ops->lookup(r->ctx, name, &e)) {
		fail(o, RPC_EXISTS, "an export named '%s' exists", name);
		return;
	}
	if (!*socket) {
		fail(o, RPC_INVALID_PARAMS, "parameter 'socket' is empty");
		return;
	}
	err[0] = '\0';
	ret = r->ops->add(r->ctx, name, socket, disk, err);
	if (ret) {
		if (err[0])
			fail(o, RPC_FAILED, "%s", err);
		else
			fail(o, RPC_FAILED,
			     "cannot open disk '%.128s': %s (the daemon's log says more)", disk,
			     strerror(-ret));
		return;
	}
	o->result = describe_named(r, name, o);
}

static void m_export_remove(const struct rpc *r, json_object *params, struct outcome *o)
{
	struct param p[] = {{"name", json_type_string, true, NULL}};
	struct rpc_export_info e;
	char name[ERRMSG_LEN];
	int ret;

	if (!export_params(r, params, p, ARRAY_SIZE(p), &e, o))
		return;
	/* e.name dies with the export. */
	snprintf(name, sizeof(name), "%s", e.name);
	/* Drains: every queue's in-flight requests complete before the disk closes. */
	ret = r->ops->remove(r->ctx, name);
	if (ret) {
		fail(o, RPC_FAILED, "%s removed, but its final flush failed: %s", name,
		     strerror(-ret));
		return;
	}
	o->result = json_object_new_object();
	if (o->result)
		json_object_object_add(o->result, "name", json_object_new_string(name));
}

/* export_resize {name, size?}: size in bytes, or none to learn the backend's size again. */
static void m_export_resize(const struct rpc *r, json_object *params, struct outcome *o)
{
	struct param p[] = {
	    {"name", json_type_string, true, NULL},
	    {"size", json_type_int, false, NULL},
	};
	uint64_t size = 0, before = 0, after = 0;
	struct rpc_export_info e;
	int ret;

	if (!export_params(r, params, p, ARRAY_SIZE(p), &e, o))
		return;
	if (p[1].val) {
		if (!positive_int(p[1].val, &size)) {
			fail(o, RPC_INVALID_PARAMS,
			     "parameter 'size' must be a positive number of bytes, at most 2^63 - "
			     "1");
			return;
		}
	}
	ret = r->ops->resize(r->ctx, e.name, size, &before, &after);
	/* A failed notification is logged; the export has its new size all the same. */
	if (ret && after == before) {
		fail(o, RPC_FAILED, "%s: cannot resize: %s", e.name,
		     ret == -EOPNOTSUPP ? "this disk's size is fixed while vblkd runs (NBD, "
					  "memory, null)"
		     : ret == -EINVAL	? "not a multiple of the logical block size, smaller than "
					  "now, or past what the backend holds"
					: strerror(-ret));
		return;
	}
	o->result = json_object_new_object();
	if (!o->result)
		return;
	json_object_object_add(o->result, "name", json_object_new_string(e.name));
	add_u64(o->result, "size", after);
	add_u64(o->result, "previous_size", before);
}

/* One blk_stats as JSON: the counters, and the latency histograms without their trailing 0s. */
static json_object *stats_json(const struct blk_stats *st)
{
	static const char *const classes[BLK_LAT_CLASSES] = {"read", "write", "other"};
	json_object *obj = json_object_new_object(), *lat;

	if (!obj)
		return NULL;
	add_u64(obj, "reads", st->reads);
	add_u64(obj, "writes", st->writes);
	add_u64(obj, "flushes", st->flushes);
	add_u64(obj, "discards", st->discards);
	add_u64(obj, "write_zeroes", st->write_zeroes);
	add_u64(obj, "secure_erases", st->secure_erases);
	add_u64(obj, "others", st->others);
	add_u64(obj, "bytes_read", st->bytes_read);
	add_u64(obj, "bytes_written", st->bytes_written);
	add_u64(obj, "errors", st->errors);
	add_u64(obj, "in_flight", st->in_flight);
	add_u64(obj, "throttled", st->throttled);
	/* Bucket i: latencies in [2^(i-1), 2^i) microseconds (bucket 0: below 1). */
	lat = json_object_new_object();
	for (unsigned c = 0; lat && c < BLK_LAT_CLASSES; c++) {
		json_object *arr = json_object_new_array();
		unsigned n = BLK_LAT_BUCKETS;

		while (n && !st->lat_us[c][n - 1])
			n--;
		for (unsigned b = 0; arr && b < n; b++)
			json_object_array_add(arr, json_object_new_uint64(st->lat_us[c][b]));
		json_object_object_add(lat, classes[c], arr);
	}
	json_object_object_add(obj, "latency_us_log2", lat);
	return obj;
}

static bool stats_zero(const struct blk_stats *st)
{
	static const struct blk_stats zero;

	return !memcmp(st, &zero, sizeof(zero));
}

/* export_stats {name}: the export's totals, and each queue that has counted anything. */
static void m_export_stats(const struct rpc *r, json_object *params, struct outcome *o)
{
	struct param p[] = {{"name", json_type_string, true, NULL}};
	struct blk_stats total, *per_queue;
	struct rpc_export_info e;
	json_object *queues;
	unsigned nq;
	int running;

	if (!export_params(r, params, p, ARRAY_SIZE(p), &e, o))
		return;
	nq = e.num_queues;
	/* One more than nq: calloc(0) may be NULL, and that is not "out of memory". */
	per_queue = calloc(nq + 1, sizeof(*per_queue));
	if (!per_queue) {
		fail(o, RPC_INTERNAL_ERROR, "out of memory");
		return;
	}
	running = r->ops->stats(r->ctx, e.name, &total, per_queue, nq);
	if (running < 0) {
		free(per_queue);
		fail(o, RPC_FAILED, "%s: no statistics: %s", e.name, strerror(-running));
		return;
	}
	o->result = json_object_new_object();
	queues = json_object_new_array();
	if (o->result && queues) {
		json_object_object_add(o->result, "name", json_object_new_string(e.name));
		add_u64(o->result, "running_queues", (uint64_t)running);
		json_object_object_add(o->result, "total", stats_json(&total));
		for (unsigned i = 0; i < nq; i++) {
			json_object *q;

			if (stats_zero(&per_queue[i]))
				continue;
			q = stats_json(&per_queue[i]);
			if (q)
				add_u64(q, "queue", i);
			json_object_array_add(queues, q);
		}
		json_object_object_add(o->result, "queues", queues);
		queues = NULL;
	}
	json_object_put(queues);
	free(per_queue);
}

/*
 * export_set's limits: the whole new set, by the --disk names with positive
 * integers ({} lifts every limit), read with --disk's own parser. false:
 * the error is in o.
 */
static bool parse_limits(json_object *obj, struct blk_limits *lim, struct outcome *o)
{
	char why[ERRMSG_LEN - 64];

	memset(lim, 0, sizeof(*lim));
	json_object_object_foreach(obj, key, val)
	{
		char tok[96];
		uint64_t v;
		int ret;

		if (!json_object_is_type(val, json_type_int) || !positive_int(val, &v)) {
			fail(o, RPC_INVALID_PARAMS,
			     "limit '%.64s' must be a positive integer below 2^63 (leave it out "
			     "for none)",
			     key);
			return false;
		}
		snprintf(tok, sizeof(tok), "%.64s=%" PRIu64, key, v);
		ret = blk_limits_parse_opt(tok, lim, why, sizeof(why));
		if (ret <= 0) {
			fail(
			    o, RPC_INVALID_PARAMS, "%s",
			    ret < 0
				? why
				: "unknown limit (iops, iops-rd, iops-wr, iops-burst, bps, bps-rd, "
				  "bps-wr, bps-burst)");
			return false;
		}
	}
	if (blk_limits_check(lim, why, sizeof(why))) {
		fail(o, RPC_INVALID_PARAMS, "limits: %s", why);
		return false;
	}
	return true;
}

/*
 * Whether the cache mode can become writeback for the front end there is
 * now (virtio 1.3 §5.2.5): one that negotiated FLUSH without CONFIG_WCE
 * treats the cache as volatile and flushes anyway; one that negotiated
 * CONFIG_WCE read the writeback byte once and would not learn it (Linux
 * does not re-read it on a config change); one without FLUSH cannot flush.
 */
static const char *writeback_refused(const struct rpc_export_info *e)
{
	if (!e->can_flush)
		return "the disk cannot flush";
	if (!e->features)
		return NULL; /* none yet: the next negotiation applies it */
	if (!(e->features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)))
		return "the connected driver cannot flush (no VIRTIO_BLK_F_FLUSH)";
	if (e->features & VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE))
		return "the connected driver read the cache mode once (VIRTIO_BLK_F_CONFIG_WCE) "
		       "and "
		       "would not flush; set it while no front end is connected";
	return NULL;
}

/* export_set {name, writeback?, limits?}: change an export's cache mode and I/O limits. */
static void m_export_set(const struct rpc *r, json_object *params, struct outcome *o)
{
	struct param p[] = {
	    {"name", json_type_string, true, NULL},
	    {"writeback", json_type_boolean, false, NULL},
	    {"limits", json_type_object, false, NULL},
	};
	struct rpc_export_info e;
	struct blk_limits lim;
	const char *why;
	bool wb = false;
	int ret;

	if (!export_params(r, params, p, ARRAY_SIZE(p), &e, o))
		return;
	/* Everything is checked before anything changes. */
	if (p[2].val && !parse_limits(p[2].val, &lim, o))
		return;
	if (p[1].val) {
		wb = json_object_get_boolean(p[1].val);
		why = wb ? writeback_refused(&e) : NULL;
		if (why) {
			fail(o, RPC_FAILED, "%s: cannot switch to writeback: %s", e.name, why);
			return;
		}
	}
	if (p[2].val) {
		ret = r->ops->set_limits(r->ctx, e.name, &lim);
		if (ret) {
			fail(o, RPC_FAILED, "%s: cannot set the limits: %s", e.name,
			     strerror(-ret));
			return;
		}
	}
	/* Writethrough applies at once, always safe; writeback as writeback_refused allows. */
	if (p[1].val && r->ops->set_writeback(r->ctx, e.name, wb)) {
		fail(o, RPC_FAILED, "%s: cannot switch to writeback: the disk cannot flush",
		     e.name);
		return;
	}
	o->result = describe_named(r, e.name, o);
}

static const struct {
	const char *name;
	void (*fn)(const struct rpc *r, json_object *params, struct outcome *o);
} methods[] = {
    {"export_list", m_export_list},	{"export_add", m_export_add},
    {"export_remove", m_export_remove}, {"export_resize", m_export_resize},
    {"export_stats", m_export_stats},	{"export_set", m_export_set},
};

/* The reply object: id (a new reference, NULL for null) and a result or an error. */
static char *reply(json_object *id, struct outcome *o)
{
	json_object *r = json_object_new_object();
	char *s = NULL;

	if (!r) {
		json_object_put(o->result);
		return NULL;
	}
	json_object_object_add(r, "jsonrpc", json_object_new_string("2.0"));
	if (o->code) {
		json_object *err = json_object_new_object();

		json_object_put(o->result);
		if (err) {
			json_object_object_add(err, "code", json_object_new_int(o->code));
			json_object_object_add(err, "message", new_string(o->msg));
		}
		json_object_object_add(r, "error", err);
	} else {
		/* A method that ran out of memory building its result answers null. */
		json_object_object_add(r, "result", o->result);
	}
	json_object_object_add(r, "id", json_object_get(id));
	s = strdup(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
	json_object_put(r);
	return s;
}

char *rpc_error_reply(int code, const char *message)
{
	struct outcome o = {.code = code};

	snprintf(o.msg, sizeof(o.msg), "%s", message);
	return reply(NULL, &o);
}

/* Parse one line as exactly one JSON value. NULL with the error in o. */
static json_object *parse_line(const char *line, size_t len, struct outcome *o)
{
	json_tokener *tok;
	json_object *obj;
	enum json_tokener_error jerr;
	size_t end;

	if (len > RPC_LINE_MAX) {
		fail(o, RPC_INVALID_REQUEST, "request line longer than %u bytes", RPC_LINE_MAX);
		return NULL;
	}
	/* json-c would stop at a NUL; a request has none (RFC 8259 strings escape it). */
	if (memchr(line, '\0', len)) {
		fail(o, RPC_PARSE_ERROR, "parse error: a NUL byte in the request");
		return NULL;
	}
	if (!utf8_valid(line, len)) {
		fail(o, RPC_PARSE_ERROR, "parse error: the request is not UTF-8");
		return NULL;
	}
	tok = json_tokener_new_ex(RPC_MAX_DEPTH);
	if (!tok) {
		fail(o, RPC_INTERNAL_ERROR, "out of memory");
		return NULL;
	}
	/* Strict: no trailing bytes, no comments or single quotes; valid UTF-8 only. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	/*
	 * A value that may go on (a number at the end of the line) is complete
	 * only at a NUL: give json-c one of ours, never the byte after the
	 * line, which is not the caller's to read.
	 */
	if (jerr == json_tokener_continue) {
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	} else {
		end = json_tokener_get_parse_end(tok);
	}
	if (jerr != json_tokener_success || end < len) {
		json_object_put(obj);
		obj = NULL;
		fail(o, RPC_PARSE_ERROR, "parse error: %s",
		     jerr != json_tokener_success ? json_tokener_error_desc(jerr)
						  : "bytes after the request");
	}
	json_tokener_free(tok);
	return obj;
}

char *rpc_handle(const struct rpc_ops *ops, void *ctx, const char *line, size_t len)
{
	const struct rpc r = {.ops = ops, .ctx = ctx};
	struct outcome o = {0};
	json_object *req, *id = NULL, *v, *method, *params = NULL;
	bool notification = false;
	char *out;
	size_t i;

	req = parse_line(line, len, &o);
	if (!req)
		return reply(NULL, &o);
	if (!json_object_is_type(req, json_type_object)) {
		fail(&o, RPC_INVALID_REQUEST, "invalid request: %s",
		     json_object_is_type(req, json_type_array)
			 ? "batches are not supported: one request per line"
			 : "not an object");
		goto out_reply;
	}
	/* "id": a string, a number or null; without one, a notification (no reply). */
	if (json_object_object_get_ex(req, "id", &id)) {
		if (id && !json_object_is_type(id, json_type_string) &&
		    !json_object_is_type(id, json_type_int) &&
		    !json_object_is_type(id, json_type_double)) {
			id = NULL;
			fail(&o, RPC_INVALID_REQUEST,
			     "invalid request: id must be a string, a "
			     "number or null");
			goto out_reply;
		}
	} else {
		notification = true;
	}
	if (escaped_nul(line, len)) {
		fail(&o, RPC_INVALID_REQUEST, "invalid request: a string holds a NUL (\\u0000)");
		goto out_reply;
	}
	if (!json_object_object_get_ex(req, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), "2.0")) {
		fail(&o, RPC_INVALID_REQUEST, "invalid request: \"jsonrpc\" must be \"2.0\"");
		goto out_reply;
	}
	if (!json_object_object_get_ex(req, "method", &method) ||
	    !json_object_is_type(method, json_type_string)) {
		fail(&o, RPC_INVALID_REQUEST, "invalid request: \"method\" must be a string");
		goto out_reply;
	}
	json_object_object_foreach(req, key, val)
	{
		(void)val;
		if (strcmp(key, "jsonrpc") && strcmp(key, "id") && strcmp(key, "method") &&
		    strcmp(key, "params")) {
			fail(&o, RPC_INVALID_REQUEST, "invalid request: unknown member '%.64s'",
			     key);
			goto out_reply;
		}
	}
	json_object_object_get_ex(req, "params", &params);
	for (i = 0; i < ARRAY_SIZE(methods); i++) {
		if (!strcmp(methods[i].name, json_object_get_string(method))) {
			methods[i].fn(&r, params, &o);
			break;
		}
	}
	if (i == ARRAY_SIZE(methods))
		fail(&o, RPC_METHOD_NOT_FOUND, "no method '%.64s'", json_object_get_string(method));
out_reply:
	out = notification && o.code != RPC_INVALID_REQUEST ? NULL : reply(id, &o);
	if (notification && !out)
		json_object_put(o.result);
	json_object_put(req);
	return out;
}
