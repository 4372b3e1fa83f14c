/* SPDX-License-Identifier: MIT */
/*
 * libvblk's identity: its version string (meson's project version, passed
 * in as VBLK_VERSION_STRING by lib/client/meson.build) and the sizes of the
 * public structs, which the ABI freezes (include/vblk/vblk.h: new fields take
 * reserved words).
 */
#include <stddef.h>

#include "client.h"

#ifndef VBLK_VERSION_STRING
#error "VBLK_VERSION_STRING comes from lib/client/meson.build"
#endif

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(struct vblk_options) == 112, "vblk_options: ABI size (LP64)");
_Static_assert(offsetof(struct vblk_options, poll_us) == 48, "vblk_options: poll_us (LP64)");
_Static_assert(offsetof(struct vblk_options, reserved) == 56, "vblk_options: reserved (LP64)");
_Static_assert(sizeof(struct vblk_info) == 136, "vblk_info: ABI size (LP64)");
_Static_assert(offsetof(struct vblk_info, reserved) == 72, "vblk_info: reserved (LP64)");
_Static_assert(sizeof(struct vblk_completion) == 16, "vblk_completion: ABI size (LP64)");
#endif

const char *vblk_version(void)
{
	return VBLK_VERSION_STRING;
}
