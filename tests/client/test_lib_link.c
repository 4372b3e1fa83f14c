/* SPDX-License-Identifier: MIT */
/*
 * A program links libvblk (static or shared, one executable each) and calls
 * its public API without a back end: the version is the project's, feature
 * names follow the public VBLK_F_* bits, and a failed open explains itself.
 * For the static archive this is the proof that localising its internal
 * symbols (lib/client/bundle_static.sh) kept it whole.
 */
#include <errno.h>

#include <vblk/vblk.h>

#include "test.h"

int main(void)
{
	struct vblk_options o = {0};
	struct vblk *dev = NULL;

	CHECK(!strcmp(vblk_version(), VBLK_TEST_VERSION));
	CHECK(!strcmp(vblk_feature_name(VBLK_F_RING_PACKED), "VIRTIO_F_RING_PACKED"));
	CHECK(!strcmp(vblk_feature_name(VBLK_F_FLUSH), "VIRTIO_BLK_F_FLUSH"));
	CHECK(!strcmp(vblk_feature_name(VBLK_F_VERSION_1), "VIRTIO_F_VERSION_1"));
	CHECK(vblk_feature_name(3) == NULL);
	CHECK(vblk_feature_name(64) == NULL);
	CHECK(vblk_feature_name(~0u) == NULL);
	CHECK_EQ(VBLK_F_MASK(VBLK_F_RING_PACKED), 1ull << 34);

	CHECK_EQ(vblk_open("/nonexistent/vblk-test.sock", NULL, &dev), -ENOENT);
	CHECK(strstr(vblk_get_error(), "/nonexistent/vblk-test.sock") != NULL);
	/* Reserved words must be zero: room for options a newer header adds. */
	o.reserved[6] = 1;
	CHECK_EQ(vblk_open("/nonexistent/vblk-test.sock", &o, &dev), -EINVAL);
	CHECK(dev == NULL);
	/* A poll window above the documented bound is refused before connecting. */
	o.reserved[6] = 0;
	o.poll_us = 1000001;
	CHECK_EQ(vblk_open("/nonexistent/vblk-test.sock", &o, &dev), -EINVAL);
	o.poll_us = 1000000;
	CHECK_EQ(vblk_open("/nonexistent/vblk-test.sock", &o, &dev), -ENOENT);
	return 0;
}
