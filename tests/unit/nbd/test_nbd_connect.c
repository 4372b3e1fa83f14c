/* SPDX-License-Identifier: MIT */
/*
 * URI recognition, and open() failing cleanly (no server, not an NBD URI)
 * with -errno instead of hanging.
 */
#include "nbd_test.h"
#include "internal/nbd_uri.h"

int main(void)
{
	struct be_opts opts = {0};
	struct be *be = NULL;
	struct srv s;

	CHECK(is_nbd_uri("nbd://localhost/disk"));
	CHECK(is_nbd_uri("nbds://host:10810/x"));
	CHECK(is_nbd_uri("nbd+unix:///?socket=/tmp/s"));
	CHECK(is_nbd_uri("nbds+unix:///e?socket=/tmp/s"));
	CHECK(!is_nbd_uri("memory:64M"));
	CHECK(!is_nbd_uri("nbd:"));
	CHECK(!is_nbd_uri(NULL));

	srv_init(&s);
	opts.path = s.uri; /* nobody listens there */
	CHECK(be_nbd_ops.open(&opts, &be) < 0);
	CHECK(be == NULL);
	opts.path = "/dev/null";
	CHECK_EQ(be_nbd_ops.open(&opts, &be), -EINVAL);
	opts.path = "nbd+unix:///?socket=/nonexistent/dir/sock";
	CHECK(be_nbd_ops.open(&opts, &be) < 0);
	be_nbd_ops.close(NULL);
	be_nbd_ops.queue_destroy(NULL);
	srv_cleanup(&s);
	return 0;
}
