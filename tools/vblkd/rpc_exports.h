/* SPDX-License-Identifier: MIT */
/*
 * The control methods' operations (struct rpc_ops) on vblkd's list of
 * exports: the one place where a control request reaches a real export.
 */
#ifndef VBLK_TOOLS_VBLKD_RPC_EXPORTS_H
#define VBLK_TOOLS_VBLKD_RPC_EXPORTS_H

#include "export.h"
#include "rpc.h"
#include "sock.h"

/* rpc_handle's ctx for rpc_export_ops. */
struct rpc_exports {
	/* The daemon's exports; the control thread's alone while it runs. */
	struct export **exports;
	/* Who may connect to the sockets export_add creates. */
	struct sock_perm perm;
	/* export_cfg.resize_fd of the exports export_add starts. */
	int resize_fd;
};

extern const struct rpc_ops rpc_export_ops;

#endif
