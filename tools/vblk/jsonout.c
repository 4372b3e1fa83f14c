/* SPDX-License-Identifier: MIT */
/*
 * vblk's JSON output with json-c (see jsonout.h): small builders that die
 * instead of returning NULL, feature masks, and device bytes made into
 * valid UTF-8 text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json_object.h>

#include <vblk/vblk.h>

#include "cli.h"
#include "jsonout.h"

/* json-c returns NULL only when it cannot allocate. */
static struct json_object *need(struct json_object *o)
{
	if (!o)
		die("out of memory");
	return o;
}

struct json_object *jobj(void)
{
	return need(json_object_new_object());
}

struct json_object *jarr(void)
{
	return need(json_object_new_array());
}

void jset(struct json_object *obj, const char *key, struct json_object *value)
{
	if (json_object_object_add(obj, key, value))
		die("out of memory");
}

void jset_u64(struct json_object *obj, const char *key, uint64_t v)
{
	jset(obj, key, need(json_object_new_uint64(v)));
}

void jset_bool(struct json_object *obj, const char *key, int v)
{
	jset(obj, key, need(json_object_new_boolean(v)));
}

void jset_str(struct json_object *obj, const char *key, const char *s)
{
	jset(obj, key, need(json_object_new_string(s)));
}

void jset_bytes(struct json_object *obj, const char *key, const void *p, size_t n)
{
	char *text = malloc(4 * n + 1);

	if (!text)
		die("out of memory");
	utf8_backslashreplace(p, n, text);
	jset_str(obj, key, text);
	free(text);
}

void jset_num(struct json_object *obj, const char *key, double v, int decimals)
{
	char text[64];

	/* json-c would print %.17g (0.21000000000000002); the caller knows the precision. */
	snprintf(text, sizeof(text), "%.*f", decimals, v);
	jset(obj, key, need(json_object_new_double_s(v, text)));
}

void jpush_str(struct json_object *arr, const char *s)
{
	if (json_object_array_add(arr, need(json_object_new_string(s))))
		die("out of memory");
}

struct json_object *jfeatures(uint64_t mask)
{
	struct json_object *f = jobj(), *names = jarr();

	for (unsigned b = 0; b < 64; b++) {
		const char *n;
		char tmp[16];

		if (!(mask & VBLK_F_MASK(b)))
			continue;
		n = vblk_feature_name(b);
		if (!n) {
			snprintf(tmp, sizeof(tmp), "bit_%u", b);
			n = tmp;
		}
		jpush_str(names, n);
	}
	jset_u64(f, "mask", mask);
	jset(f, "names", names);
	return f;
}

/*
 * Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0.
 * Unicode 15 Table 3-7: no overlong forms, no surrogates, nothing above
 * U+10FFFF.
 */
static size_t utf8_seq_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

void utf8_backslashreplace(const uint8_t *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	while (n) {
		size_t len = utf8_seq_len(p, n);

		if (len) {
			memcpy(out, p, len);
			out += len;
		} else {
			len = 1;
			*out++ = '\\';
			*out++ = 'x';
			*out++ = hex[p[0] >> 4];
			*out++ = hex[p[0] & 15];
		}
		p += len;
		n -= len;
	}
	*out = '\0';
}

void jprint(struct json_object *obj)
{
	const char *s =
	    json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						    JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		die("out of memory");
	if (puts(s) == EOF || fflush(stdout) == EOF)
		die("stdout: cannot write");
	json_object_put(obj);
}
