/* SPDX-License-Identifier: MIT */
/* be_parse_size: decimal with binary K/M/G/T suffixes; junk and overflow refused. */
#include <errno.h>

#include "backend/be.h"
#include "test.h"

int main(void)
{
	uint64_t v = 0;

	CHECK_EQ(be_parse_size("0", &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(be_parse_size("4096", &v), 0);
	CHECK_EQ(v, 4096);
	CHECK_EQ(be_parse_size("4K", &v), 0);
	CHECK_EQ(v, 4096);
	CHECK_EQ(be_parse_size("3m", &v), 0);
	CHECK_EQ(v, 3 << 20);
	CHECK_EQ(be_parse_size("2G", &v), 0);
	CHECK_EQ(v, UINT64_C(2) << 30);
	CHECK_EQ(be_parse_size("1T", &v), 0);
	CHECK_EQ(v, UINT64_C(1) << 40);
	CHECK_EQ(be_parse_size("18446744073709551615", &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_EQ(be_parse_size("18446744073709551616", &v), -ERANGE);
	CHECK_EQ(be_parse_size("16777216T", &v), -ERANGE);
	CHECK_EQ(be_parse_size("16777215T", &v), 0);
	CHECK_EQ(be_parse_size("", &v), -EINVAL);
	CHECK_EQ(be_parse_size("K", &v), -EINVAL);
	CHECK_EQ(be_parse_size("-1", &v), -EINVAL);
	CHECK_EQ(be_parse_size(" 1", &v), -EINVAL);
	CHECK_EQ(be_parse_size("1KB", &v), -EINVAL);
	CHECK_EQ(be_parse_size("1X", &v), -EINVAL);
	CHECK_EQ(be_parse_size("1.5G", &v), -EINVAL);
	CHECK_EQ(be_parse_size(NULL, &v), -EINVAL);
	return 0;
}
