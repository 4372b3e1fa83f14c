/* SPDX-License-Identifier: MIT */
/*
 * size_parse(): decimal (a leading zero is no octal), binary suffixes
 * K/M/G/T and KiB/MiB/GiB/TiB in any case, junk and overflow refused, the
 * output untouched on failure.
 */
#include <errno.h>

#include "internal/size.h"
#include "test.h"

static uint64_t ok(const char *s)
{
	uint64_t v = 12345;

	if (size_parse(s, &v)) {
		fprintf(stderr, "size_parse(\"%s\") failed\n", s);
		exit(1);
	}
	return v;
}

static int bad(const char *s)
{
	uint64_t v = 12345;
	int ret = size_parse(s, &v);

	CHECK(ret < 0);
	CHECK_EQ(v, 12345); /* untouched */
	return ret;
}

int main(void)
{
	CHECK_EQ(ok("0"), 0);
	CHECK_EQ(ok("4096"), 4096);
	/* Decimal whatever the leading zeros: "010" is ten, not eight. */
	CHECK_EQ(ok("010"), 10);
	CHECK_EQ(ok("0010K"), 10240);
	CHECK_EQ(ok("08"), 8);
	CHECK_EQ(ok("4K"), 4096);
	CHECK_EQ(ok("4k"), 4096);
	CHECK_EQ(ok("4KiB"), 4096);
	CHECK_EQ(ok("4kib"), 4096);
	CHECK_EQ(ok("3M"), 3ull << 20);
	CHECK_EQ(ok("3MiB"), 3ull << 20);
	CHECK_EQ(ok("2G"), 2ull << 30);
	CHECK_EQ(ok("2GiB"), 2ull << 30);
	CHECK_EQ(ok("1T"), 1ull << 40);
	CHECK_EQ(ok("1TiB"), 1ull << 40);
	CHECK_EQ(ok("18446744073709551615"), UINT64_MAX);
	CHECK_EQ(ok("16777215T"), 16777215ull << 40);

	CHECK_EQ(bad("18446744073709551616"), -ERANGE);
	CHECK_EQ(bad("99999999999999999999999"), -ERANGE);
	CHECK_EQ(bad("16777216T"), -ERANGE);
	CHECK_EQ(bad("17179869184G"), -ERANGE);
	CHECK_EQ(bad(""), -EINVAL);
	CHECK_EQ(bad(NULL), -EINVAL);
	CHECK_EQ(bad("K"), -EINVAL);
	CHECK_EQ(bad("-1"), -EINVAL);
	CHECK_EQ(bad("+1"), -EINVAL);
	CHECK_EQ(bad(" 1"), -EINVAL);
	CHECK_EQ(bad("1 "), -EINVAL);
	CHECK_EQ(bad("0x10"), -EINVAL); /* no hex either */
	CHECK_EQ(bad("1.5M"), -EINVAL);
	CHECK_EQ(bad("1Q"), -EINVAL);
	CHECK_EQ(bad("1P"), -EINVAL);
	CHECK_EQ(bad("1KB"), -EINVAL); /* read as 1000 by many: refused */
	CHECK_EQ(bad("1Ki"), -EINVAL);
	CHECK_EQ(bad("1KiBs"), -EINVAL);
	CHECK_EQ(bad("1KK"), -EINVAL);
	CHECK_EQ(bad("16M-1"), -EINVAL);
	return 0;
}
