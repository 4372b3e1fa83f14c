/* SPDX-License-Identifier: MIT */
/*
 * vblkd: a vhost-user-blk device back end. It opens a disk (file, block
 * device, null:SIZE or memory:SIZE), builds a virtio-blk device on it and
 * serves it on a unix socket to one vhost-user front end at a time (QEMU's
 * vhost-user-blk-pci, or any other). It follows vhost-user.rst "Backend
 * program conventions": --socket-path, --fd (a listening socket, or one
 * connected to the front end, served until it hangs up), --print-capabilities,
 * --blk-file and --read-only.
 * Under a service manager (the systemd units in data/systemd) it takes its
 * socket from socket activation and reports readiness (tools/service.h).
 *
 * The socket appears only when the daemon is ready: a management tool may
 * wait for the path and connect at once. It is the daemon's whole attack
 * surface, so only its owner may connect (mode 0600 whatever the umask)
 * unless --socket-mode / --socket-group (as virtiofsd) say otherwise; a
 * socket another daemon listens on is never taken over. The image is locked
 * as QEMU locks it (lib/backend/be_lock.h). SIGTERM/SIGINT finish the
 * in-flight requests, flush the disk, remove the socket (if the path still
 * names ours) and exit 0. SIGHUP learns the disks' sizes again and tells the
 * front ends (tools/vblkd/resize.h).
 *
 * One vblkd serves one or several exports (tools/vblkd/export.h), each with
 * its own socket, server and threads; --control opens a JSON-RPC socket that
 * lists, adds and removes them while the daemon runs (tools/vblkd/ctl.h).
 * This file: the options and main.
 *
 * Exit status: 0 clean shutdown, 1 runtime error, 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal/log.h"
#include "service.h"
#include "vblkd/ctl.h"
#include "vblkd/disk_opts.h"
#include "vblkd/export.h"

#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: vblkd --socket PATH --disk FILE[,OPTION...] [-v]\n"
	    "       vblkd --fd N --disk FILE[,OPTION...] [-v]\n"
	    "       vblkd --disk FILE[,OPTION...] [-v]    (socket activation: LISTEN_FDS=1)\n"
	    "       vblkd --print-capabilities\n"
	    "\n"
	    "       vblkd [--control PATH] EXPORT [EXPORT...]\n"
	    "\n"
	    "Serve FILE as a vhost-user-blk device.\n"
	    "\n"
	    "Several exports: each EXPORT is one --disk (or --blk-file), one --socket (or\n"
	    "--fd) and optionally --name and --read-only, in any order; giving an option the\n"
	    "export being described already has (a second --disk, --socket or --name) starts\n"
	    "the next export. Each export has its own socket, server and queue threads.\n"
	    "\n"
	    "  --name NAME         the export's name (default disk0, disk1, ... by position;\n"
	    "                      A-Z a-z 0-9 _ . -, at most 64)\n"
	    "  --control PATH      a unix socket speaking JSON-RPC 2.0, one object per line:\n"
	    "                      export_list, export_add, export_remove, export_resize,\n"
	    "                      export_set, export_stats (vblk ctl is its client)\n"
	    "  --socket PATH, --socket-path PATH\n"
	    "                      create a unix socket at PATH (a stale socket is replaced,\n"
	    "                      one a daemon listens on is not)\n"
	    "  --socket-mode OCTAL mode of every socket vblkd creates, --control's and those\n"
	    "                      of export_add too (default 0600, whatever the umask)\n"
	    "  --socket-group NAME|GID\n"
	    "                      group of the socket (with --socket-mode 0660: its members\n"
	    "                      may connect)\n"
	    "  --fd N              serve on the inherited unix socket fd N: a listening one, or\n"
	    "                      one connected to the front end (vblkd exits when it hangs\n"
	    "                      up)\n"
	    "  --disk FILE[,ro][,writethru|writeback][,size=BYTES][,serial=STR][,queues=N]\n"
	    "             [,sectorsize=L[/P]][,range=START/SIZE][,direct=on|off][,locking=on|off]\n"
	    "             [,reconnect-ms=N][,format=raw][,iops=N][,iops-rd=N][,iops-wr=N]\n"
	    "             "
	    "[,bps=BYTES][,bps-rd=BYTES][,bps-wr=BYTES][,iops-burst=N][,bps-burst=BYTES]\n"
	    "             [,rbd-timeout-ms=N][,poll-us=N]\n"
	    "                      FILE: a file, a block device, null:SIZE, memory:SIZE,\n"
	    "                      nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH or\n"
	    "                      rbd:POOL/[NAMESPACE/]IMAGE[@SNAP][:conf=PATH][:id=USER]\n"
	    "                      [:keyring=PATH][:OPTION=VALUE] (a Ceph RBD image, QEMU's\n"
	    "                      syntax; a snapshot is read-only)\n"
	    "                      ro          read-only device (VIRTIO_BLK_F_RO)\n"
	    "                      writethru   every write is durable on completion (default)\n"
	    "                      writeback   volatile write cache; the guest flushes\n"
	    "                      size=BYTES  create/extend FILE to BYTES (K, M, G, T suffixes)\n"
	    "                      serial=STR  GET_ID string, at most 20 bytes\n"
	    "                      queues=N    number of virtqueues (1..%u, default %u; a thread\n"
	    "                                  runs only for each queue the front end enables)\n"
	    "                      sectorsize=L[/P]  logical/physical block size, 512 or 4096\n"
	    "                      range=START/SIZE  export only these bytes of FILE\n"
	    "                      direct=on   open FILE with O_DIRECT (unaligned I/O is padded)\n"
	    "                      locking=off do not lock FILE (default on: QEMU's image locks, "
	    "shared\n"
	    "                                  with ro, exclusive otherwise; NBD is never locked)\n"
	    "                      reconnect-ms=N  NBD: retry a lost server for N ms (default "
	    "5000)\n"
	    "                      rbd-timeout-ms=N  RBD: fail requests with an I/O error\n"
	    "                                  when the cluster stays unreachable N ms\n"
	    "                                  (whole seconds, default 30000)\n"
	    "                      poll-us=N   poll each idle queue's ring up to N us (adaptive,\n"
	    "                                  0..10000; default 0 = off, see docs/polling.md)\n"
	    "                      format=raw  serve FILE even if it starts like a qcow2, VMDK,\n"
	    "                                  VHDX, VDI, VHD or QED image (refused otherwise:\n"
	    "                                  serve those through qemu-nbd --format=FMT and\n"
	    "                                  nbd+unix://)\n"
	    "                      iops=N, iops-rd=N, iops-wr=N  requests/s, total or per\n"
	    "                                  direction (reads and writes only)\n"
	    "                      bps=BYTES, bps-rd=BYTES, bps-wr=BYTES  bytes/s (K, M, G)\n"
	    "                      iops-burst=N, bps-burst=BYTES  bucket sizes (default a\n"
	    "                                  tenth of a second's worth)\n"
	    "  --blk-file PATH     the same as --disk PATH (vhost-user.rst), with no options\n"
	    "  --read-only         the same as the disk option ro (vhost-user.rst)\n"
	    "  --print-capabilities\n"
	    "                      print the back-end capabilities as JSON and exit, whatever\n"
	    "                      the other arguments\n"
	    "  --version           print the version and exit\n"
	    "  -v, --verbose       log every vhost-user message (--log-level debug)\n"
	    "  -q, --quiet         log only warnings and errors (--log-level warning)\n"
	    "  --log-level LEVEL   error, warning, info (default) or debug; lines go to\n"
	    "                      stderr as 'vblkd: LEVEL: ...', with journal priority\n"
	    "                      prefixes when stderr is systemd's journal (JOURNAL_STREAM)\n"
	    "  -h, --help          show this help\n"
	    "\n"
	    "Environment: LISTEN_PID, LISTEN_FDS (socket activation: the socket is fd 3 when\n"
	    "neither --socket nor --fd is given); NOTIFY_SOCKET (READY=1 once serving,\n"
	    "STOPPING=1 at shutdown; sd_notify(3)).\n",
	    VU_MAX_QUEUES, VBLKD_DEFAULT_QUEUES);
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vblkd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see vblkd --help)\n", stderr);
	exit(EXIT_USAGE);
}

/* An octal mode of at most 0777: who may connect to the socket. */
static mode_t parse_mode(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || end == s || *end || *s == '-' || v > 0777)
		usage_error("--socket-mode: want an octal mode 0..0777, not '%s'", s);
	return (mode_t)v;
}

/* A group name, or a numeric gid. */
static gid_t parse_group(const char *s)
{
	struct group *gr;
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!errno && end != s && !*end && *s != '-' && v < (gid_t)-1)
		return (gid_t)v;
	gr = getgrnam(s);
	if (!gr)
		usage_error("--socket-group: no group '%s'", s);
	return gr->gr_gid;
}

static int parse_fd(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT32_MAX)
		usage_error("--fd: bad file descriptor '%s'", s);
	return (int)v;
}

/*
 * The socket file vblkd created: removed at exit only if the path still names
 * that very file (dev + ino), not one that somebody put there since.

 * vhost-user.rst "Backend program conventions": with --print-capabilities,
 * "other options and arguments should be ignored", so it is looked for before
 * any of them is parsed (and can fail). getopt_long would also take an
 * unambiguous abbreviation; so do we. "--" ends the options.
 */
static bool wants_capabilities(int argc, char **argv)
{
	static const char opt[] = "--print-capabilities";

	for (int i = 1; i < argc; i++) {
		size_t len = strlen(argv[i]);

		if (!strcmp(argv[i], "--"))
			break;
		if (len >= 3 && len < sizeof(opt) && !strncmp(argv[i], opt, len))
			return true;
	}
	return false;
}

/*
 * QEMU docs/interop/vhost-user.json, VHostUserBackendCapabilitiesBlock: the
 * vhost-user-blk options of the conventions that vblkd accepts.
 */
static void print_capabilities(void)
{
	printf("{\n"
	       "  \"type\": \"block\",\n"
	       "  \"features\": [\n"
	       "    \"blk-file\",\n"
	       "    \"read-only\"\n"
	       "  ]\n"
	       "}\n");
}

/* Whether a signal is waiting on the signalfd (not consumed). */
/* The exports the command line describes, in order (see usage: "Several exports"). */
struct cmdline {
	struct export_cfg *cfg;
	unsigned n;
	char **names; /* generated default names, freed at exit */
};

/* The export being described, or a new one when it already has option `has`. */
static struct export_cfg *cur_export(struct cmdline *cl, bool (*has)(const struct export_cfg *))
{
	struct export_cfg *c;

	if (cl->n && !has(&cl->cfg[cl->n - 1]))
		return &cl->cfg[cl->n - 1];
	c = realloc(cl->cfg, (cl->n + 1) * sizeof(*c));
	if (!c)
		usage_error("out of memory");
	cl->cfg = c;
	c = &cl->cfg[cl->n++];
	*c = (struct export_cfg){.fd = -1, .done_fd = -1, .resize_fd = -1};
	return c;
}

static bool has_name(const struct export_cfg *c)
{
	return c->name;
}

static bool has_disk(const struct export_cfg *c)
{
	return c->disk;
}

static bool has_socket(const struct export_cfg *c)
{
	return c->socket_path || c->fd >= 0;
}

static bool has_nothing(const struct export_cfg *c)
{
	return false;
}

/*
 * Give every export its name (disk0, disk1, ... by position unless --name),
 * check each is complete, and take the socket of socket activation for a
 * lone export that has none.
 */
static void finish_cmdline(struct cmdline *cl, const struct sock_perm *perm)
{
	int ret;

	if (!cl->n)
		usage_error("--disk FILE is required");
	for (unsigned i = 0; i < cl->n; i++) {
		struct export_cfg *c = &cl->cfg[i];

		c->perm = *perm;
		if (!c->name) {
			char buf[32];

			snprintf(buf, sizeof(buf), "disk%u", i);
			c->name = cl->names[i] = strdup(buf);
			if (!c->name)
				usage_error("out of memory");
		}
		if (!export_name_ok(c->name))
			usage_error("--name: '%s' is not 1 to %d of A-Z a-z 0-9 _ . -", c->name,
				    EXPORT_NAME_MAX);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(cl->cfg[j].name, c->name))
				usage_error("two exports are named '%s'", c->name);
		if (!c->disk)
			usage_error("export '%s' has no --disk FILE", c->name);
		if (has_socket(c))
			continue;
		if (cl->n > 1)
			usage_error("export '%s' has no --socket PATH or --fd N", c->name);
		/* Neither: a service manager may have passed the socket (vblkd@.socket). */
		ret = service_listen_fd();
		if (ret == -EINVAL)
			usage_error("LISTEN_FDS must pass exactly one socket, to this process");
		if (ret < 0)
			usage_error("give exactly one of --socket PATH and --fd N (or start vblkd "
				    "by socket activation)");
		c->fd = ret;
	}
}

/* Stop every export, all draining at once, and return whether all stopped cleanly. */
static bool stop_all(struct export *list)
{
	bool ok = true;

	for (struct export *e = list; e; e = e->next)
		export_signal_stop(e);
	while (list) {
		struct export *next = list->next;

		if (export_stop(list))
			ok = false;
		list = next;
	}
	return ok;
}

/* Until a signal arrives or an export stops serving by itself (done_fd). */
static void wait_for_end(int sfd, int done_fd)
{
	struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = done_fd, .events = POLLIN}};

	while (poll(p, 2, -1) < 0 && errno == EINTR)
		;
}

/* Log why vblkd is stopping: a signal, or which export ended and how. */
static void say_why(const struct export *list, int sfd)
{
	struct pollfd p = {.fd = sfd, .events = POLLIN};

	if (poll(&p, 1, 0) > 0) {
		log_info("signal received: finishing in-flight requests");
		return;
	}
	for (; list; list = list->next) {
		if (!export_ended(list))
			continue;
		if (list->run_ret)
			log_info("%s: its server failed: finishing in-flight requests", list->name);
		else
			log_info("%s: the front end hung up: finishing in-flight requests",
				 list->name);
		return;
	}
}

int main(int argc, char **argv)
{
	enum {
		OPT_SOCKET = 256,
		OPT_SOCKET_MODE,
		OPT_SOCKET_GROUP,
		OPT_FD,
		OPT_DISK,
		OPT_BLK_FILE,
		OPT_READ_ONLY,
		OPT_NAME,
		OPT_CONTROL,
		OPT_VERSION,
		OPT_LOG_LEVEL
	};
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, OPT_SOCKET},
	    {"socket-path", required_argument, NULL, OPT_SOCKET},
	    {"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
	    {"socket-group", required_argument, NULL, OPT_SOCKET_GROUP},
	    {"fd", required_argument, NULL, OPT_FD},
	    {"disk", required_argument, NULL, OPT_DISK},
	    {"blk-file", required_argument, NULL, OPT_BLK_FILE},
	    {"read-only", no_argument, NULL, OPT_READ_ONLY},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"control", required_argument, NULL, OPT_CONTROL},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cmdline cl = {0};
	struct sock_perm perm = {.mode = 0600, .gid = (gid_t)-1};
	bool sock_opts = false, any_path = false;
	const char *control_path = NULL;
	struct export *exports = NULL, **tail = &exports;
	struct ctl *ctl = NULL;
	char err[ERRMSG_LEN];
	int sfd, done_fd, resize_fd, c, ret;
	int status = 1;
	sigset_t sigs, hup;

	if (wants_capabilities(argc, argv)) {
		print_capabilities();
		return 0;
	}
	log_init("vblkd");
	/* Our own one-line messages instead of getopt's. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vqh", longopts, NULL)) != -1) {
		struct export_cfg *x;

		switch (c) {
		case OPT_SOCKET:
			cur_export(&cl, has_socket)->socket_path = optarg;
			any_path = true;
			break;
		case OPT_SOCKET_MODE:
			perm.mode = parse_mode(optarg);
			sock_opts = true;
			break;
		case OPT_SOCKET_GROUP:
			perm.gid = parse_group(optarg);
			sock_opts = true;
			break;
		case OPT_FD:
			cur_export(&cl, has_socket)->fd = parse_fd(optarg);
			break;
		case OPT_DISK:
		case OPT_BLK_FILE:
			x = cur_export(&cl, has_disk);
			x->disk = optarg;
			x->blk_file = c == OPT_BLK_FILE;
			break;
		case OPT_READ_ONLY:
			cur_export(&cl, has_nothing)->read_only = true;
			break;
		case OPT_NAME:
			cur_export(&cl, has_name)->name = optarg;
			break;
		case OPT_CONTROL:
			control_path = optarg;
			break;
		case OPT_VERSION:
			/* VBLK_VERSION_STRING: meson's project version (tools/meson.build). */
			printf("vblkd %s\n", VBLK_VERSION_STRING);
			return 0;
		case 'v':
			log_set_level(LOGL_DEBUG);
			break;
		case 'q':
			log_set_level(LOGL_WARN);
			break;
		case OPT_LOG_LEVEL: {
			enum log_level l;

			if (log_parse_level(optarg, &l))
				usage_error("--log-level: error, warning, info or debug, not '%s'",
					    optarg);
			log_set_level(l);
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	for (unsigned i = 0; i < cl.n; i++)
		if (cl.cfg[i].socket_path && cl.cfg[i].fd >= 0)
			usage_error("give exactly one of --socket PATH and --fd N");
	if (sock_opts && !any_path && !control_path)
		usage_error("--socket-mode and --socket-group apply to --socket PATH only");
	cl.names = calloc(cl.n ? cl.n : 1, sizeof(*cl.names));
	if (!cl.names)
		usage_error("out of memory");
	finish_cmdline(&cl, &perm);
	/* Mistakes in the disk options are usage errors, before anything is opened. */
	for (unsigned i = 0; i < cl.n; i++) {
		struct disk_opts o;
		char *copy = strdup(cl.cfg[i].disk);

		if (!copy)
			usage_error("out of memory");
		if (!cl.cfg[i].blk_file && disk_opts_parse(copy, &o, err))
			usage_error("%s", err);
		free(copy);
	}

	/*
	 * Blocked before any thread exists (librados starts its own when an RBD
	 * disk opens), so only the signalfd sees them: a SIGTERM taken by
	 * another thread would end vblkd without closing the disk.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigprocmask(SIG_BLOCK, &hup, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* A backend's news that its disk changed size (export_cfg.resize_fd). */
	resize_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sfd < 0 || done_fd < 0 || resize_fd < 0) {
		fprintf(stderr, "vblkd: signalfd: %s\n", strerror(errno));
		return 1;
	}

	for (unsigned i = 0; i < cl.n; i++) {
		cl.cfg[i].done_fd = done_fd;
		cl.cfg[i].resize_fd = resize_fd;
		ret = export_start(&cl.cfg[i], tail, err);
		if (ret) {
			if (err[0])
				fprintf(stderr, "vblkd: %s\n", err);
			/* Their fds are ours and unused: close them. */
			for (unsigned j = i + 1; j < cl.n; j++)
				if (cl.cfg[j].fd >= 0)
					close(cl.cfg[j].fd);
			goto out_stop;
		}
		tail = &(*tail)->next;
	}
	/* The control thread: SIGHUP, and the control socket if asked for. */
	ret = ctl_start(control_path, &perm, &exports,
			signalfd(-1, &hup, SFD_CLOEXEC | SFD_NONBLOCK), resize_fd, &ctl, err);
	if (ret) {
		fprintf(stderr, "vblkd: --control: %s\n", err);
		goto out_stop;
	}
	/* sd_notify(3): the service manager may now start what needs the disks. */
	ret = service_notify("READY=1");
	if (ret < 0)
		log_warn("cannot notify the service manager (NOTIFY_SOCKET): %s", strerror(-ret));

	wait_for_end(sfd, done_fd);
	service_notify("STOPPING=1");
	status = 0;
	/* The control thread owns the list while it runs: stop it first. */
	ctl_stop(ctl);
	say_why(exports, sfd);
	/* An export that stopped by itself with an error fails the exit status. */
out_stop:
	if (!stop_all(exports))
		status = 1;
	/* After stop_all: no backend is left to write it. */
	close(resize_fd);
	close(done_fd);
	close(sfd);
	for (unsigned i = 0; i < cl.n; i++)
		free(cl.names[i]);
	free(cl.names);
	free(cl.cfg);
	return status;
}
