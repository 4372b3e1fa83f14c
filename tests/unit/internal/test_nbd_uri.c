/* SPDX-License-Identifier: MIT */
/* is_nbd_uri(): the four NBD URI schemes, nothing that merely looks close. */
#include "internal/nbd_uri.h"
#include "test.h"

int main(void)
{
	CHECK(is_nbd_uri("nbd://localhost/disk"));
	CHECK(is_nbd_uri("nbd://host:10810"));
	CHECK(is_nbd_uri("nbds://host:10810/x"));
	CHECK(is_nbd_uri("nbd+unix:///?socket=/tmp/s"));
	CHECK(is_nbd_uri("nbds+unix:///e?socket=/tmp/s"));

	CHECK(!is_nbd_uri(NULL));
	CHECK(!is_nbd_uri(""));
	CHECK(!is_nbd_uri("nbd:"));
	CHECK(!is_nbd_uri("nbd:/x"));
	CHECK(!is_nbd_uri("NBD://host/x")); /* schemes are matched as libnbd does, lower case */
	CHECK(!is_nbd_uri("nbd+tcp://host/x"));
	CHECK(!is_nbd_uri("memory:64M"));
	CHECK(!is_nbd_uri("vhost-user:/tmp/nbd://x"));
	CHECK(!is_nbd_uri("./nbd://x")); /* a path that contains one is a path */
	CHECK(!is_nbd_uri("/tmp/disk.img"));
	return 0;
}
