/* SPDX-License-Identifier: MIT */
/* Backend test helpers: temporary files and the engine helpers. */
#ifndef VBLK_TESTS_BE_TEST_H
#define VBLK_TESTS_BE_TEST_H

#include <fcntl.h>
#include <unistd.h>

#include "blk_test.h"

/* A fresh empty file under dir (NULL: $TMPDIR or /tmp); path in buf (unlink it). */
static inline void t_tmpfile(const char *dir, char *buf, size_t len)
{
	const char *d = dir ? dir : getenv("TMPDIR");
	int fd;

	snprintf(buf, len, "%s/vblk-test-XXXXXX", d && *d ? d : "/tmp");
	fd = mkstemp(buf);
	CHECK(fd >= 0);
	close(fd);
}

#endif
