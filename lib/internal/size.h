/* SPDX-License-Identifier: MIT */
/*
 * The one parser for byte counts given by people (command lines, --disk
 * options): decimal digits and an optional binary suffix.
 */
#ifndef VBLK_INTERNAL_SIZE_H
#define VBLK_INTERNAL_SIZE_H

#include <stdint.h>

/*
 * Parse s as decimal digits followed by nothing or a suffix K, M, G, T or
 * KiB, MiB, GiB, TiB (case-insensitive; powers of 1024). Leading zeros are
 * decimal ("010" is ten: no octal, no hex), and there is no sign, space or
 * fraction. "KB" and friends are refused: people read them as powers of 1000.
 * Returns 0 with *out set, -EINVAL (not such a number) or -ERANGE (more than
 * 2^64 - 1). *out is untouched on failure. Thread-safe.
 */
int size_parse(const char *s, uint64_t *out);

#endif
