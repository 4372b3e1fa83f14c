/* SPDX-License-Identifier: MIT */
/* is_nbd_uri(): the NBD URI schemes we accept (see nbd_uri.h). */
#include "nbd_uri.h"

#include <string.h>

#include "compiler.h"

bool is_nbd_uri(const char *s)
{
	static const char *const schemes[] = {"nbd://", "nbds://", "nbd+unix://", "nbds+unix://"};

	if (!s)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(schemes); i++)
		if (!strncmp(s, schemes[i], strlen(schemes[i])))
			return true;
	return false;
}
