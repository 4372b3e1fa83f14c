/* SPDX-License-Identifier: MIT */
/* size_parse(): byte counts as people write them (see size.h). */
#include "size.h"

#include <errno.h>
#include <strings.h>

int size_parse(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	uint64_t v = 0;
	unsigned shift = 0;
	const char *p = s;

	if (!s || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*p) {
		unsigned i;

		for (i = 0; units[i] && units[i] != (*p & ~0x20); i++)
			;
		/* One unit letter, then nothing or "iB". */
		if (!units[i] || (p[1] && strcasecmp(p + 1, "ib")))
			return -EINVAL;
		shift = 10 * (i + 1);
	}
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}
