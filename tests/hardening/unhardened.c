/*
 * A program built on purpose without hardening (tests/hardening/meson.build
 * turns it all off) so the hardening check can be shown to fail: it has a
 * local array (stack protector material) and calls memcpy/snprintf with
 * known destination sizes (what _FORTIFY_SOURCE would replace).
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	char buf[64];

	/* Sizes known at compile time, length only at run time: FORTIFY would
	 * call __memcpy_chk / __snprintf_chk here. */
	size_t n = strlen(argv[0]);
	memcpy(buf, argv[0], n < sizeof(buf) ? n : sizeof(buf) - 1);
	buf[n < sizeof(buf) ? n : sizeof(buf) - 1] = '\0';
	snprintf(buf + 1, sizeof(buf) - 1, "%d", argc);
	return buf[0] == '\0';
}
