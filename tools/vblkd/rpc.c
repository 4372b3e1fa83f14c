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
#include "internal/log.h"
#include "resize.h"

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

static struct export *find_export(struct rpc_ctx *ctx, const char *name, struct export ***link)
{
	for (struct export **pp = ctx->exports; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->name, name)) {
			if (link)
				*link = pp;
			return *pp;
		}
	}
	return NULL;
}

/* The export named by the required string parameter p, or NULL with the error in o. */
static struct export *named_export(struct rpc_ctx *ctx, const struct param *p, struct outcome *o,
				   struct export ***link)
{
	const char *name = json_object_get_string(p->val);
	struct export *e = find_export(ctx, name, link);

	if (!e)
		fail(o, RPC_NO_SUCH_EXPORT, "no export named '%.64s'", name);
	return e;
}

/*
 * The parameters of a method about one export (p[0] is its "name"), checked,
 * and that export; NULL with the error in o.
 */
static struct export *export_params(struct rpc_ctx *ctx, json_object *params, struct param *p,
				    size_t n, struct outcome *o, struct export ***link)
{
	if (!get_params(params, p, n, o))
		return NULL;
	return named_export(ctx, &p[0], o, link);
}

static void add_u64(json_object *obj, const char *key, uint64_t v)
{
	json_object_object_add(obj, key, json_object_new_uint64(v));
}

/* The export's I/O limits that are set, by their --disk names. */
static json_object *limits_json(const struct export *e)
{
	json_object *obj = json_object_new_object();
	struct blk_limits l;

	if (!obj)
		return NULL;
	blk_dev_get_limits((struct blk_dev *)&e->dev, &l);
	const struct {
		const char *key;
		uint64_t v;
	} f[] = {{"iops", l.iops},
		 {"iops-rd", l.iops_rd},
		 {"iops-wr", l.iops_wr},
		 {"bps", l.bps},
		 {"bps-rd", l.bps_rd},
		 {"bps-wr", l.bps_wr},
		 {"iops-burst", l.iops_burst},
		 {"bps-burst", l.bps_burst}};
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (f[i].v)
			add_u64(obj, f[i].key, f[i].v);
	return obj;
}

/* One export as export_list shows it. */
static json_object *describe(const struct export *e)
{
	json_object *obj = json_object_new_object();
	struct export_status st;

	if (!obj)
		return NULL;
	export_status(e, &st);
	json_object_object_add(obj, "name", json_object_new_string(e->name));
	json_object_object_add(obj, "socket", json_object_new_string(e->socket));
	json_object_object_add(obj, "disk", json_object_new_string(e->disk));
	add_u64(obj, "size", st.size);
	json_object_object_add(obj, "read_only", json_object_new_boolean(st.ro));
	json_object_object_add(obj, "writeback", json_object_new_boolean(st.writeback));
	json_object_object_add(obj, "connected", json_object_new_boolean(st.vu.connected));
	add_u64(obj, "features", st.vu.features);
	add_u64(obj, "queues", st.vu.queues);
	json_object_object_add(obj, "limits", limits_json(e));
	/* The ring type exists once a front end has negotiated features. */
	json_object_object_add(
	    obj, "ring",
	    st.vu.features ? json_object_new_string(st.vu.packed ? "packed" : "split") : NULL);
	return obj;
}

static void m_export_list(struct rpc_ctx *ctx, json_object *params, struct outcome *o)
{
	json_object *arr;

	if (!get_params(params, NULL, 0, o))
		return;
	arr = json_object_new_array();
	for (struct export *e = *ctx->exports; arr && e; e = e->next)
		json_object_array_add(arr, describe(e));
	o->result = arr;
}

static void m_export_add(struct rpc_ctx *ctx, json_object *params, struct outcome *o)
{
	struct param p[] = {
	    {"name", json_type_string, true, NULL},
	    {"socket", json_type_string, true, NULL},
	    {"disk", json_type_string, true, NULL},
	};
	struct export_cfg cfg = {
	    .fd = -1, .done_fd = -1, .resize_fd = ctx->resize_fd, .perm = ctx->perm};
	struct export *e, **tail;
	char err[ERRMSG_LEN];
	int ret;

	if (!get_params(params, p, ARRAY_SIZE(p), o))
		return;
	cfg.name = json_object_get_string(p[0].val);
	cfg.socket_path = json_object_get_string(p[1].val);
	cfg.disk = json_object_get_string(p[2].val);
	if (find_export(ctx, cfg.name, NULL)) {
		fail(o, RPC_EXISTS, "an export named '%s' exists", cfg.name);
		return;
	}
	if (!*cfg.socket_path) {
		fail(o, RPC_INVALID_PARAMS, "parameter 'socket' is empty");
		return;
	}
	ret = export_start(&cfg, &e, err);
	if (ret) {
		if (err[0])
			fail(o, RPC_FAILED, "%s", err);
		else
			fail(o, RPC_FAILED,
			     "cannot open disk '%.128s': %s (the daemon's log says more)", cfg.disk,
			     strerror(-ret));
		return;
	}
	for (tail = ctx->exports; *tail; tail = &(*tail)->next)
		;
	*tail = e;
	log_info("%s: added through the control socket", e->name);
	o->result = describe(e);
}

static void m_export_remove(struct rpc_ctx *ctx, json_object *params, struct outcome *o)
{
	struct param p[] = {{"name", json_type_string, true, NULL}};
	struct export *e, **link;
	char name[EXPORT_NAME_MAX + 1];
	int ret;

	e = export_params(ctx, params, p, ARRAY_SIZE(p), o, &link);
	if (!e)
		return;
	*link = e->next;
	strcpy(name, e->name);
	/* Drains: every queue's in-flight requests complete before the disk closes. */
	ret = export_stop(e);
	if (ret) {
		fail(o, RPC_FAILED, "%s removed, but its final flush failed: %s", name,
		     strerror(-ret));
		return;
	}
	o->result = json_object_new_object();
	if (o->result)
		json_object_object_add(o->result, "name", json_object_new_string(name));
}

/*
 * Methods whose machinery this build lacks: the parameters are checked (so a
 * client learns of its own mistakes first), then a clear refusal.
 */
/* export_resize {name, size?}: size in bytes, or none to learn the backend's size again. */
static void m_export_resize(struct rpc_ctx *ctx, json_object *params, struct outcome *o)
{
	struct param p[] = {
	    {"name", json_type_string, true, NULL},
	    {"size", json_type_int, false, NULL},
	};
	uint64_t size = 0, before, after;
	struct export *e;
	int ret;

	e = export_params(ctx, params, p, ARRAY_SIZE(p), o, NULL);
	if (!e)
		return;
	if (p[1].val) {
		int64_t v = json_object_get_int64(p[1].val);

		if (v <= 0) {
			fail(o, RPC_INVALID_PARAMS,
			     "parameter 'size' must be a positive number of bytes");
			return;
		}
		size = (uint64_t)v;
	}
	log_set_thread_tag(e->name);
	ret = vblkd_resize(&e->dev, e->srv, size, &before, &after);
	log_set_thread_tag(NULL);
	/* A failed notification is logged; the export has its new size all the same. */
	if (ret && after == before) {
		fail(o, RPC_FAILED, "%s: cannot resize: %s", e->name,
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
	json_object_object_add(o->result, "name", json_object_new_string(e->name));
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
static void m_export_stats(struct rpc_ctx *ctx, json_object *params, struct outcome *o)
{
	struct param p[] = {{"name", json_type_string, true, NULL}};
	struct blk_stats total, *per_queue;
	json_object *queues;
	struct export *e;
	unsigned nq;
	int running;

	e = export_params(ctx, params, p, ARRAY_SIZE(p), o, NULL);
	if (!e)
		return;
	nq = e->dev.num_queues;
	per_queue = calloc(nq, sizeof(*per_queue));
	if (!per_queue) {
		fail(o, RPC_INTERNAL_ERROR, "out of memory");
		return;
	}
	running = blk_dev_stats(&e->dev, &total, per_queue, nq);
	if (running < 0) {
		free(per_queue);
		fail(o, RPC_FAILED, "%s: no statistics: %s", e->name, strerror(-running));
		return;
	}
	o->result = json_object_new_object();
	queues = json_object_new_array();
	if (o->result && queues) {
		json_object_object_add(o->result, "name", json_object_new_string(e->name));
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
		int ret;

		if (!json_object_is_type(val, json_type_int) || json_object_get_int64(val) <= 0) {
			fail(o, RPC_INVALID_PARAMS,
			     "limit '%.64s' must be a positive integer (leave it out for none)",
			     key);
			return false;
		}
		snprintf(tok, sizeof(tok), "%.64s=%" PRId64, key, json_object_get_int64(val));
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
static const char *writeback_refused(const struct vu_server_status *st)
{
	if (!st->features)
		return NULL; /* none yet: the next negotiation applies it */
	if (!(st->features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)))
		return "the connected driver cannot flush (no VIRTIO_BLK_F_FLUSH)";
	if (st->features & VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE))
		return "the connected driver read the cache mode once (VIRTIO_BLK_F_CONFIG_WCE) "
		       "and "
		       "would not flush; set it while no front end is connected";
	return NULL;
}

/* export_set {name, writeback?, limits?}: change an export's cache mode and I/O limits. */
static void m_export_set(struct rpc_ctx *ctx, json_object *params, struct outcome *o)
{
	struct param p[] = {
	    {"name", json_type_string, true, NULL},
	    {"writeback", json_type_boolean, false, NULL},
	    {"limits", json_type_object, false, NULL},
	};
	struct vu_server_status st;
	struct blk_limits lim;
	const char *why;
	struct export *e;
	bool wb = false;
	int ret;

	e = export_params(ctx, params, p, ARRAY_SIZE(p), o, NULL);
	if (!e)
		return;
	/* Everything is checked before anything changes. */
	if (p[2].val && !parse_limits(p[2].val, &lim, o))
		return;
	if (p[1].val) {
		wb = json_object_get_boolean(p[1].val);
		vu_server_status(e->srv, &st);
		why = wb ? writeback_refused(&st) : NULL;
		if (wb && !(e->dev.features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)))
			why = "the disk cannot flush";
		if (why) {
			fail(o, RPC_FAILED, "%s: cannot switch to writeback: %s", e->name, why);
			return;
		}
	}
	if (p[2].val) {
		ret = blk_dev_set_limits(&e->dev, &lim);
		if (ret) {
			fail(o, RPC_FAILED, "%s: cannot set the limits: %s", e->name,
			     strerror(-ret));
			return;
		}
		log_info("%s: I/O limits changed through the control socket", e->name);
	}
	/* Writethrough applies at once, always safe; writeback as writeback_refused allows. */
	if (p[1].val && blk_dev_set_writeback(&e->dev, wb, true)) {
		fail(o, RPC_FAILED, "%s: cannot switch to writeback: the disk cannot flush",
		     e->name);
		return;
	}
	o->result = describe(e);
}

static const struct {
	const char *name;
	void (*fn)(struct rpc_ctx *ctx, json_object *params, struct outcome *o);
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
			json_object_object_add(err, "message", json_object_new_string(o->msg));
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

	/* json-c would stop at a NUL; a request has none (RFC 8259 strings escape it). */
	if (memchr(line, '\0', len)) {
		fail(o, RPC_PARSE_ERROR, "parse error: a NUL byte in the request");
		return NULL;
	}
	tok = json_tokener_new_ex(RPC_MAX_DEPTH);
	if (!tok) {
		fail(o, RPC_INTERNAL_ERROR, "out of memory");
		return NULL;
	}
	/* Strict: no trailing bytes, no comments or single quotes; valid UTF-8 only. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	/* The length with the NUL ending the line: a number at the end is complete. */
	obj = json_tokener_parse_ex(tok, line, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	if (jerr != json_tokener_success || json_tokener_get_parse_end(tok) < len) {
		json_object_put(obj);
		obj = NULL;
		fail(o, RPC_PARSE_ERROR, "parse error: %s",
		     jerr != json_tokener_success ? json_tokener_error_desc(jerr)
						  : "bytes after the request");
	}
	json_tokener_free(tok);
	return obj;
}

char *rpc_handle(struct rpc_ctx *ctx, const char *line, size_t len)
{
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
			methods[i].fn(ctx, params, &o);
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
