/* SPDX-License-Identifier: MIT */
/*
 * vblk ctl: one JSON-RPC 2.0 request to a vblkd control socket (vblkd
 * --control), its answer printed for a person, or as JSON with --json.
 * Parameters are KEY=VALUE: a VALUE that is JSON (a number, true, false,
 * null, a "string", an object) is sent as that, anything else as a string.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"

/* The longest answer we take: export_list of many exports, well under this. */
#define CTL_REPLY_MAX (16u << 20)
/* export_remove drains in-flight I/O: a slow disk may take its time. */
#define CTL_DEFAULT_TIMEOUT_MS 60000

enum { OPT_JSON = OPT_OWN };

static void on_opt(void *ctx, int id, const char *val)
{
	if (id == OPT_JSON)
		*(bool *)ctx = true;
}

/* KEY=VALUE into params: VALUE as JSON if it is a whole JSON value, else as a string. */
static void add_param(json_object *params, const char *arg)
{
	const char *eq = strchr(arg, '=');
	json_object *val;
	char *key;

	if (!eq || eq == arg)
		usage_error("ctl: parameters are KEY=VALUE, not '%s'", arg);
	key = strndup(arg, (size_t)(eq - arg));
	if (!key)
		die("out of memory");
	val = json_tokener_parse(eq + 1);
	/* A bare word (name=disk1) is a string; so is a JSON array, which no method takes. */
	if (!val && strcmp(eq + 1, "null"))
		val = json_object_new_string(eq + 1);
	json_object_object_add(params, key, val);
	free(key);
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		die("%s: path too long for a unix socket", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("%s: %s", path, strerror(errno));
	return fd;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send the request line, read the one reply line (malloc'd, without the newline). */
static char *exchange(int fd, const char *sock, const char *req, unsigned timeout_ms)
{
	size_t len = strlen(req), cap = 4096, n = 0;
	int64_t deadline = now_ms() + timeout_ms;
	char *buf = malloc(cap), *nl;

	if (!buf)
		die("out of memory");
	while (len) {
		ssize_t w = send(fd, req, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die("%s: %s", sock, strerror(errno));
		req += w;
		len -= (size_t)w;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			die("%s: no answer within %u ms", sock, timeout_ms);
		if (n + 1 >= cap) {
			if (cap >= CTL_REPLY_MAX)
				die("%s: an answer longer than %u bytes", sock, CTL_REPLY_MAX);
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory");
		}
		r = recv(fd, buf + n, cap - n - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("%s: %s", sock, strerror(errno));
		if (r == 0)
			die("%s: the daemon closed the connection without an answer", sock);
		n += (size_t)r;
		buf[n] = '\0';
		nl = memchr(buf, '\n', n);
		if (nl) {
			*nl = '\0';
			return buf;
		}
	}
}

static const char *str_of(json_object *obj, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return "-";
	return json_object_get_string(v);
}

/* export_list for a person: one line per export. */
static void print_exports(json_object *arr)
{
	size_t n = json_object_array_length(arr);

	printf("%-16s %-6s %-9s %-6s %6s  %-24s %s\n", "NAME", "STATE", "SIZE", "RING", "QUEUES",
	       "SOCKET", "DISK");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *v;
		bool conn =
		    json_object_object_get_ex(e, "connected", &v) && json_object_get_boolean(v);
		uint64_t size =
		    json_object_object_get_ex(e, "size", &v) ? json_object_get_uint64(v) : 0;
		char sz[32];

		if (size >= (1ull << 30) && !(size % (1ull << 30)))
			snprintf(sz, sizeof(sz), "%" PRIu64 "G", size >> 30);
		else if (size >= (1ull << 20) && !(size % (1ull << 20)))
			snprintf(sz, sizeof(sz), "%" PRIu64 "M", size >> 20);
		else
			snprintf(sz, sizeof(sz), "%" PRIu64, size);
		printf("%-16s %-6s %-9s %-6s %6s  %-24s %s\n", str_of(e, "name"),
		       conn ? "in use" : "idle", sz, str_of(e, "ring"), str_of(e, "queues"),
		       str_of(e, "socket"), str_of(e, "disk"));
	}
}

/* Members of obj as "PREFIXKEY: VALUE" lines, nested objects as PREFIXKEY.SUBKEY. */
static void print_members(json_object *obj, const char *prefix)
{
	json_object_object_foreach(obj, key, val)
	{
		char name[256];

		snprintf(name, sizeof(name), "%s%s", prefix, key);
		if (val && json_object_is_type(val, json_type_object)) {
			strncat(name, ".", sizeof(name) - strlen(name) - 1);
			print_members(val, name);
		} else if (val && json_object_is_type(val, json_type_array) &&
			   json_object_array_length(val) &&
			   json_object_is_type(json_object_array_get_idx(val, 0),
					       json_type_object)) {
			/* export_stats' queues: one block per element, named by its index. */
			for (size_t k = 0; k < json_object_array_length(val); k++) {
				char sub[300];

				snprintf(sub, sizeof(sub), "%s[%zu].", name, k);
				print_members(json_object_array_get_idx(val, k), sub);
			}
		} else {
			printf("%s: %s\n", name,
			       val && json_object_is_type(val, json_type_string)
				   ? json_object_get_string(val)
				   : json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
		}
	}
}

/* Any other result for a person: KEY: VALUE per member, nested ones by dotted names. */
static void print_result(json_object *res)
{
	if (!json_object_is_type(res, json_type_object)) {
		puts(json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
		return;
	}
	print_members(res, "");
}

int cmd_ctl(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, OPT_JSON},
					     {NULL, 0, NULL, 0}};
	json_object *req, *params, *reply, *v;
	const char *sock, *method;
	bool json = false;
	char *line, *answer;
	int fd;

	argv = cli_getopt(cli, argc, argv, opts, on_opt, &json, &argc);
	if (argc < 2)
		usage_error("ctl: expected SOCKET METHOD [KEY=VALUE...]");
	sock = argv[0];
	method = argv[1];
	params = json_object_new_object();
	for (int i = 2; i < argc; i++)
		add_param(params, argv[i]);
	req = json_object_new_object();
	json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(req, "method", json_object_new_string(method));
	json_object_object_add(req, "params", params);
	json_object_object_add(req, "id", json_object_new_int(1));
	if (asprintf(&line, "%s\n", json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN)) <
	    0)
		die("out of memory");
	json_object_put(req);

	fd = ctl_connect(sock);
	answer =
	    exchange(fd, sock, line, cli->timeout_ms ? cli->timeout_ms : CTL_DEFAULT_TIMEOUT_MS);
	close(fd);
	free(line);
	reply = json_tokener_parse(answer);
	if (!reply || !json_object_is_type(reply, json_type_object))
		die("%s: not a JSON-RPC answer: %.200s", sock, answer);
	if (json_object_object_get_ex(reply, "error", &v)) {
		json_object *code = NULL, *msg = NULL;

		json_object_object_get_ex(v, "code", &code);
		json_object_object_get_ex(v, "message", &msg);
		die("%s: %s (error %d)", method, msg ? json_object_get_string(msg) : "?",
		    code ? json_object_get_int(code) : 0);
	}
	if (!json_object_object_get_ex(reply, "result", &v))
		die("%s: an answer with neither result nor error: %.200s", sock, answer);
	if (json)
		puts(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY |
							   JSON_C_TO_STRING_SPACED));
	else if (!strcmp(method, "export_list") && json_object_is_type(v, json_type_array))
		print_exports(v);
	else
		print_result(v);
	json_object_put(reply);
	free(answer);
	return 0;
}
