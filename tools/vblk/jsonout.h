/* SPDX-License-Identifier: MIT */
/*
 * vblk's JSON output (docs/json.md), built with json-c: members added or
 * the program dies (out of memory), virtio feature masks as a number plus
 * names, device-supplied bytes as text that is always valid UTF-8, and the
 * finished document on stdout. Only the tool uses json-c, never libvblk.
 */
#ifndef VBLK_TOOLS_JSONOUT_H
#define VBLK_TOOLS_JSONOUT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json_object.h>

/* Version of the schemas in docs/json.md; raised when a member changes meaning or goes away. */
#define VBLK_JSON_SCHEMA_VERSION 1

/* A new object or array, or die. */
struct json_object *jobj(void);
struct json_object *jarr(void);

/* obj[key] = value (a fresh object that obj now owns). */
void jset(struct json_object *obj, const char *key, struct json_object *value);
void jset_u64(struct json_object *obj, const char *key, uint64_t v);
void jset_bool(struct json_object *obj, const char *key, int v);
void jset_str(struct json_object *obj, const char *key, const char *s);
/* A string from bytes of unknown encoding (a path, a serial), made valid as utf8_backslashreplace()
 * does. */
void jset_bytes(struct json_object *obj, const char *key, const void *p, size_t n);
/* A number printed with decimals digits after the point ("%.*f"). */
void jset_num(struct json_object *obj, const char *key, double v, int decimals);
/* Append a string to an array. */
void jpush_str(struct json_object *arr, const char *s);

/* {"mask": N, "names": ["VIRTIO_BLK_F_...", ...]}; an unknown bit is "bit_N". */
struct json_object *jfeatures(uint64_t mask);

/*
 * Bytes from the other side as text that is always valid UTF-8: valid
 * sequences pass through unchanged; every byte that is not part of one
 * becomes the four characters \xNN (as Python's errors="backslashreplace").
 * out needs 4 * n + 1 bytes; it is NUL-terminated.
 */
void utf8_backslashreplace(const uint8_t *p, size_t n, char *out);

/* Print obj (indented) and a newline on stdout, then free it; die if stdout fails. */
void jprint(struct json_object *obj);

#endif
