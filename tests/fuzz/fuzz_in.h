/* SPDX-License-Identifier: MIT */
/*
 * Decoding a fuzzer input, shared by the harnesses: values are taken from
 * the front of the input, little-endian (host order), and an input that runs
 * out reads as zeros, so every byte string is a valid input.
 */
#ifndef VBLK_TESTS_FUZZ_IN_H
#define VBLK_TESTS_FUZZ_IN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct in {
	const uint8_t *p;
	size_t n;
};

/* Copy len bytes (zeros past the end of the input) and consume them. */
static inline void take(struct in *in, void *out, size_t len)
{
	size_t k = in->n < len ? in->n : len;

	memcpy(out, in->p, k);
	memset((uint8_t *)out + k, 0, len - k);
	in->p += k;
	in->n -= k;
}

static inline uint8_t take8(struct in *in)
{
	uint8_t v;

	take(in, &v, 1);
	return v;
}

static inline uint16_t take16(struct in *in)
{
	uint16_t v;

	take(in, &v, 2);
	return v;
}

static inline uint32_t take32(struct in *in)
{
	uint32_t v;

	take(in, &v, 4);
	return v;
}

static inline uint64_t take64(struct in *in)
{
	uint64_t v;

	take(in, &v, 8);
	return v;
}

#endif
