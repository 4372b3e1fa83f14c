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
 * names ours) and exit 0. SIGHUP learns the disk's size again and tells the
 * front end (vblkd_resize.h).
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
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/be.h"
#include "blk/blk.h"
#include "internal/log.h"
#include "internal/size.h"
#include "service.h"
#include "vhost_user/vu_blk.h"
#include "vhost_user/vu_server.h"
#include "vblkd_resize.h"

#define EXIT_USAGE 2

/*
 * QEMU's vhost-user-blk-pci asks for one queue per vCPU by default and
 * refuses a back end that offers fewer, so a one-queue default breaks every
 * multi-vCPU VM. Queues cost a thread only once the front end enables them.
 */
#define VBLKD_DEFAULT_QUEUES 64

struct disk_opts {
	char *file;
	bool ro;
	bool writeback;
	uint64_t size;
	const char *serial;
	unsigned queues;
	uint32_t lbs, pbs; /* sectorsize=L[/P], 0 = default */
	uint64_t range_start, range_size;
	bool direct;
	bool nolock;
	unsigned reconnect_ms;
	bool format_raw;
	struct blk_limits limits;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: vblkd --socket PATH --disk FILE[,OPTION...] [-v]\n"
	    "       vblkd --fd N --disk FILE[,OPTION...] [-v]\n"
	    "       vblkd --disk FILE[,OPTION...] [-v]    (socket activation: LISTEN_FDS=1)\n"
	    "       vblkd --print-capabilities\n"
	    "\n"
	    "Serve FILE as a vhost-user-blk device.\n"
	    "\n"
	    "  --socket PATH, --socket-path PATH\n"
	    "                      create a unix socket at PATH (a stale socket is replaced,\n"
	    "                      one a daemon listens on is not)\n"
	    "  --socket-mode OCTAL mode of the socket (default 0600, whatever the umask)\n"
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
	    "                      FILE: a file, a block device, null:SIZE, memory:SIZE,\n"
	    "                      nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH\n"
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

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end || *s == '-' ? -EINVAL : 0;
}

/* "L" or "L/P", each 512 or 4096 (virtio 1.3 §5.2.4 blk_size, topology). */
static void parse_sectorsize(const char *s, struct disk_opts *o)
{
	char buf[32], *slash;
	uint64_t l, p;

	if (strlen(s) >= sizeof(buf))
		usage_error("--disk: bad sectorsize '%s'", s);
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (parse_u64(buf, &l) || (slash && parse_u64(slash, &p)))
		usage_error("--disk: bad sectorsize '%s' (L or L/P)", s);
	if (!slash)
		p = l;
	if ((l != 512 && l != 4096) || (p != 512 && p != 4096) || p < l)
		usage_error("--disk: sectorsize must be 512 or 4096, physical >= logical, not '%s'",
			    s);
	o->lbs = (uint32_t)l;
	o->pbs = slash ? (uint32_t)p : 0;
}

/* "START/SIZE" in bytes, with K/M/G/T suffixes. */
static void parse_range(const char *s, struct disk_opts *o)
{
	char buf[64], *slash;

	if (strlen(s) >= sizeof(buf))
		usage_error("--disk: bad range '%s'", s);
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		usage_error("--disk: range needs START/SIZE, not '%s'", s);
	*slash++ = '\0';
	if (size_parse(buf, &o->range_start) || size_parse(slash, &o->range_size) ||
	    o->range_size == 0)
		usage_error("--disk: bad range '%s' (START/SIZE in bytes)", s);
}

/* "FILE[,ro][,writethru|writeback][,size=BYTES][,serial=STR][,queues=N]..."; s is modified. */
static void parse_disk(char *s, struct disk_opts *o)
{
	char *save = NULL, *tok, msg[256];
	int lim;

	o->file = strtok_r(s, ",", &save);
	if (!o->file || !*o->file)
		usage_error("--disk needs a FILE");
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strcmp(tok, "ro")) {
			o->ro = true;
		} else if (!strcmp(tok, "writethru") || !strcmp(tok, "writethrough")) {
			o->writeback = false;
		} else if (!strcmp(tok, "writeback")) {
			o->writeback = true;
		} else if (!strncmp(tok, "size=", 5)) {
			if (size_parse(tok + 5, &o->size) || o->size == 0)
				usage_error("--disk: bad size '%s'", tok + 5);
		} else if (!strncmp(tok, "serial=", 7)) {
			o->serial = tok + 7;
			if (strlen(o->serial) > VIRTIO_BLK_ID_BYTES)
				usage_error("--disk: serial '%s' is longer than %d bytes",
					    o->serial, VIRTIO_BLK_ID_BYTES);
		} else if (!strncmp(tok, "queues=", 7)) {
			char *end;
			unsigned long n;

			errno = 0;
			n = strtoul(tok + 7, &end, 10);
			if (errno || end == tok + 7 || *end || n < 1 || n > VU_MAX_QUEUES)
				usage_error("--disk: queues must be 1..%u, not '%s'", VU_MAX_QUEUES,
					    tok + 7);
			o->queues = (unsigned)n;
		} else if (!strncmp(tok, "sectorsize=", 11)) {
			parse_sectorsize(tok + 11, o);
		} else if (!strncmp(tok, "range=", 6)) {
			parse_range(tok + 6, o);
		} else if (!strcmp(tok, "direct=on") || !strcmp(tok, "direct")) {
			o->direct = true;
		} else if (!strcmp(tok, "direct=off")) {
			o->direct = false;
		} else if (!strcmp(tok, "locking=on")) {
			o->nolock = false;
		} else if (!strcmp(tok, "locking=off")) {
			o->nolock = true;
		} else if (!strcmp(tok, "format=raw")) {
			o->format_raw = true;
		} else if (!strncmp(tok, "format=", 7)) {
			usage_error("--disk: vblkd serves raw disks only, not format=%s: serve a "
				    "%s image through qemu-nbd --format=%s and the NBD backend",
				    tok + 7, tok + 7, tok + 7);
		} else if (!strncmp(tok, "reconnect-ms=", 13)) {
			uint64_t ms;

			if (parse_u64(tok + 13, &ms) || ms == 0 || ms > 3600000)
				usage_error("--disk: reconnect-ms must be 1..3600000, not '%s'",
					    tok + 13);
			o->reconnect_ms = (unsigned)ms;
		} else if ((lim = blk_limits_parse_opt(tok, &o->limits, msg, sizeof(msg)))) {
			if (lim < 0)
				usage_error("--disk: %s", msg);
		} else {
			usage_error("--disk: unknown option '%s'", tok);
		}
	}
	if (blk_limits_check(&o->limits, msg, sizeof(msg)))
		usage_error("--disk: %s", msg);
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
 */
struct sock_file {
	const char *path;
	const char *base; /* last component of path */
	int dirfd;	  /* the directory holding it, -1 once removed */
	dev_t dev;
	ino_t ino;
};

/*
 * Serialise vblkds that create or remove sockets in the same directory, so
 * that "is the socket at PATH stale?" and "replace it" happen as one step.
 * flock(2) on the directory: no extra file, and gone with the process. A
 * holder that never lets go (any local user can flock a directory it can
 * read) makes us give up after ms milliseconds instead of hanging.
 */
static int lock_dir(int dirfd, unsigned ms)
{
	for (unsigned i = 0; i < ms / 10; i++) {
		if (flock(dirfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/*
 * Is a daemon listening on the socket at path? 0: nobody (connect refused:
 * a stale socket left by a dead daemon, or no file), 1: yes, -errno: cannot
 * tell (e.g. EACCES, another user's socket), so it must not be replaced.
 */
static int socket_in_use(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, ret;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* Non-blocking: a live daemon whose backlog is full must not stall us. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		ret = 1;
	else if (errno == ECONNREFUSED || errno == ENOENT)
		ret = 0;
	else if (errno == EAGAIN || errno == EINPROGRESS)
		ret = 1; /* alive, only busy */
	else
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Put a listening socket at sf->path with mode and group (gid (gid_t)-1:
 * ours), so that nobody but us can connect before it has them. The bind
 * happens in a fresh directory that only we can enter (mkdtemp, 0700), where
 * the socket gets its owner and mode; then rename(2) moves it to path in one
 * step. Why not umask(2) around bind(2): the umask is per process, and
 * another thread creating a file meanwhile would get ours; and a socket
 * cannot be fchmod()ed before bind. The rename also means a client never
 * sees a socket that refuses connections.
 *
 * A path that exists and is not a socket, or a socket on which a daemon
 * listens, is never replaced; a stale socket (connection refused) is.
 * Returns the fd, or -1 with the message printed.
 */
static int listen_at(struct sock_file *sf, mode_t mode, gid_t gid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = sf->path, *slash = strrchr(path, '/');
	char dir[sizeof(sa.sun_path)], tmpdir[sizeof(sa.sun_path)], sock[sizeof(sa.sun_path)];
	struct stat st;
	int fd = -1, dirfd, n, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vblkd: socket path longer than %zu bytes: %s\n",
			sizeof(sa.sun_path) - 1, path);
		return -1;
	}
	sf->base = slash ? slash + 1 : path;
	if (!*sf->base) {
		fprintf(stderr, "vblkd: socket path names a directory: %s\n", path);
		return -1;
	}
	/* path fits in dir and the name added to it in tmpdir: sizes as sun_path. */
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
	n = snprintf(tmpdir, sizeof(tmpdir), "%s%s.vblkdXXXXXX", dir, slash ? "" : "/");
	if (n < 0 || (size_t)n >= sizeof(tmpdir)) {
		fprintf(stderr, "vblkd: socket path too long: %s\n", path);
		return -1;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		fprintf(stderr, "vblkd: cannot create %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "vblkd: cannot create %s: %s\n", path, strerror(errno));
		goto err_close_dir;
	}
	n = snprintf(sock, sizeof(sock), "%s/s", tmpdir);
	if (n < 0 || (size_t)n >= sizeof(sock)) {
		fprintf(stderr, "vblkd: socket path too long: %s\n", path);
		goto err_rmdir;
	}
	memcpy(sa.sun_path, sock, (size_t)n + 1);
	/* mkdtemp's 0700 less our umask: never wider, but we must enter it. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || chmod(tmpdir, 0700) || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, 16)) {
		fprintf(stderr, "vblkd: cannot listen on %s: %s\n", path, strerror(errno));
		goto err_unlink;
	}
	/* Group first: chown may clear mode bits, chmod sets them last. */
	if (gid != (gid_t)-1 && chown(sock, (uid_t)-1, gid)) {
		fprintf(stderr, "vblkd: cannot give %s to group %ld: %s\n", path, (long)gid,
			strerror(errno));
		goto err_unlink;
	}
	if (chmod(sock, mode) || lstat(sock, &st)) {
		fprintf(stderr, "vblkd: cannot set the mode of %s: %s\n", path, strerror(errno));
		goto err_unlink;
	}
	sf->dev = st.st_dev;
	sf->ino = st.st_ino;

	ret = lock_dir(dirfd, 5000);
	if (ret) {
		fprintf(stderr, "vblkd: cannot lock the directory of %s: %s\n", path,
			ret == -ETIMEDOUT ? "another process holds a flock on it" : strerror(-ret));
		goto err_unlink;
	}
	if (fstatat(dirfd, sf->base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "vblkd: %s exists and is not a socket\n", path);
			goto err_unlock_dir;
		}
		ret = socket_in_use(path);
		if (ret > 0) {
			fprintf(stderr,
				"vblkd: %s: another daemon is listening on it; not replacing it\n",
				path);
			goto err_unlock_dir;
		}
		if (ret < 0) {
			fprintf(stderr,
				"vblkd: %s: cannot tell whether it is in use (%s); not "
				"replacing it\n",
				path, strerror(-ret));
			goto err_unlock_dir;
		}
	}
	if (renameat(AT_FDCWD, sock, dirfd, sf->base)) {
		fprintf(stderr, "vblkd: cannot create %s: %s\n", path, strerror(errno));
		goto err_unlock_dir;
	}
	flock(dirfd, LOCK_UN);
	rmdir(tmpdir);
	sf->dirfd = dirfd;
	return fd;

err_unlock_dir:
	flock(dirfd, LOCK_UN);
err_unlink:
	unlink(sock);
	if (fd >= 0)
		close(fd);
err_rmdir:
	rmdir(tmpdir);
err_close_dir:
	close(dirfd);
	return -1;
}

/* Remove the socket we created, if path still names it. Accepts sf->dirfd -1. */
static void remove_socket(struct sock_file *sf)
{
	struct stat st;

	if (sf->dirfd < 0)
		return;
	/* Briefly, and on without the lock: SIGTERM must not wait on a stranger. */
	lock_dir(sf->dirfd, 500);
	if (fstatat(sf->dirfd, sf->base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == sf->dev && st.st_ino == sf->ino)
		unlinkat(sf->dirfd, sf->base, 0);
	else
		log_warn("%s is no longer our socket: left in place", sf->path);
	flock(sf->dirfd, LOCK_UN);
	close(sf->dirfd);
	sf->dirfd = -1;
}

/*
 * An inherited socket must be a unix stream socket: listening (1), or
 * connected to the one front end (0), as a management layer that spawns the
 * back end with one end of a socketpair passes it. -1: neither (printed).
 */
static int inherited_listens(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int type = 0, listening = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) || ss.ss_family != AF_UNIX ||
	    type != SOCK_STREAM) {
		fprintf(stderr, "vblkd: fd %d is not a unix stream socket\n", fd);
		return -1;
	}
	len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) {
		fprintf(stderr, "vblkd: fd %d: %s\n", fd, strerror(errno));
		return -1;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (listening) {
		int flags = fcntl(fd, F_GETFL);

		if (flags >= 0)
			fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		return 1;
	}
	/* Connected, and not yet hung up on: a peer that left must not be served. */
	sslen = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sslen)) {
		fprintf(stderr, "vblkd: fd %d is neither listening nor connected: %s\n", fd,
			strerror(errno));
		return -1;
	}
	return 0;
}

/*
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
static bool signal_pending(int sfd)
{
	struct pollfd p = {.fd = sfd, .events = POLLIN};

	return poll(&p, 1, 0) > 0;
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
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct disk_opts dopts = {.queues = VBLKD_DEFAULT_QUEUES};
	const char *socket_path = NULL;
	struct sock_file sock = {.dirfd = -1};
	mode_t sock_mode = 0600;
	gid_t sock_gid = (gid_t)-1;
	bool sock_opts = false;
	char *disk = NULL;
	int listen_fd = -1, inherited_fd = -1, inherited_kind = 1, stop_fd = -1, sfd, c, ret;
	int status = 1;
	bool one_conn = false;
	const char *blk_file = NULL;
	bool read_only = false;
	struct blk_dev_opts vopts;
	struct be_opts bopts;
	struct blk_dev dev;
	struct vu_server *srv;
	struct be *be;
	sigset_t sigs, hup;
	struct resize_watch rw = {.hup_fd = -1, .quit_fd = -1};

	if (wants_capabilities(argc, argv)) {
		print_capabilities();
		return 0;
	}
	log_init("vblkd");
	/* Our own one-line messages instead of getopt's. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vqh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			socket_path = optarg;
			break;
		case OPT_SOCKET_MODE:
			sock_mode = parse_mode(optarg);
			sock_opts = true;
			break;
		case OPT_SOCKET_GROUP:
			sock_gid = parse_group(optarg);
			sock_opts = true;
			break;
		case OPT_FD:
			inherited_fd = parse_fd(optarg);
			break;
		case OPT_DISK:
			disk = optarg;
			break;
		case OPT_BLK_FILE:
			blk_file = optarg;
			break;
		case OPT_READ_ONLY:
			read_only = true;
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
	if (socket_path && inherited_fd >= 0)
		usage_error("give exactly one of --socket PATH and --fd N");
	if (!socket_path && inherited_fd < 0) {
		/* Neither: a service manager may have passed the socket (vblkd@.socket). */
		ret = service_listen_fd();
		if (ret == -EINVAL)
			usage_error("LISTEN_FDS must pass exactly one socket, to this process");
		if (ret < 0)
			usage_error("give exactly one of --socket PATH and --fd N (or start vblkd "
				    "by socket activation)");
		inherited_fd = ret;
	}
	if (sock_opts && !socket_path)
		usage_error("--socket-mode and --socket-group apply to --socket PATH only");
	if (disk && blk_file)
		usage_error("give one of --disk and --blk-file, not both");
	if (!disk && !blk_file)
		usage_error("--disk FILE is required");
	if (disk)
		parse_disk(disk, &dopts);
	else
		dopts.file = (char *)blk_file; /* a path, commas and all: no options */
	if (read_only)
		dopts.ro = true;

	if (inherited_fd >= 0) {
		inherited_kind = inherited_listens(inherited_fd);
		if (inherited_kind < 0)
			return 1;
	}

	memset(&bopts, 0, sizeof(bopts));
	bopts.path = dopts.file;
	bopts.ro = dopts.ro;
	bopts.size = dopts.size;
	bopts.direct = dopts.direct;
	bopts.nolock = dopts.nolock;
	bopts.reconnect_ms = dopts.reconnect_ms;
	bopts.format_raw = dopts.format_raw;
	/* be_open logs the one line that says why. */
	if (be_open(dopts.file, &bopts, &be))
		return 1;

	memset(&vopts, 0, sizeof(vopts));
	vopts.ro = dopts.ro;
	vopts.writeback = dopts.writeback;
	vopts.serial = dopts.serial;
	vopts.num_queues = dopts.queues;
	vopts.queue_size = VQ_DEV_MAX_SIZE;
	vopts.logical_block_size = dopts.lbs;
	vopts.physical_block_size = dopts.pbs;
	vopts.range_start = dopts.range_start;
	vopts.range_size = dopts.range_size;
	vopts.limits = dopts.limits;
	memset(&dev, 0, sizeof(dev));
	ret = blk_dev_init(&dev, be, &vopts);
	if (ret) {
		fprintf(stderr, "vblkd: %s: cannot build the device: %s\n", dopts.file,
			strerror(-ret));
		goto out_close_be;
	}

	/* Blocked before any thread exists, so only the signalfd sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigprocmask(SIG_BLOCK, &hup, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "vblkd: signalfd: %s\n", strerror(errno));
		goto out_close_be;
	}

	/* Last step before serving: the socket's appearance means "ready". */
	sock.path = socket_path;
	stop_fd = sfd;
	if (inherited_kind == 0) {
		/* One front end, and vblkd ends with it (vhost-user.rst conventions). */
		ret = vu_server_create_conn(&vu_blk_ops, &dev, inherited_fd, &srv);
		one_conn = true;
	} else {
		listen_fd =
		    inherited_fd >= 0 ? inherited_fd : listen_at(&sock, sock_mode, sock_gid);
		if (listen_fd < 0)
			goto out_close_sfd;
		ret = vu_server_create(&vu_blk_ops, &dev, listen_fd, &srv);
	}
	if (ret) {
		fprintf(stderr, "vblkd: cannot start the server: %s\n", strerror(-ret));
		goto out_unlink;
	}
	ret = resize_watch_start(&rw, &dev, srv, signalfd(-1, &hup, SFD_CLOEXEC | SFD_NONBLOCK));
	if (ret)
		log_warn("SIGHUP will not resize: %s", strerror(-ret));
	log_info("serving %s (%" PRIu64 " bytes%s, %u queue%s) on %s", dopts.file, be->info.size,
		 dopts.ro ? ", read-only" : "", dopts.queues, dopts.queues > 1 ? "s" : "",
		 socket_path ? socket_path : "the inherited fd");
	/* sd_notify(3): the service manager may now start what needs the disk. */
	ret = service_notify("READY=1");
	if (ret < 0)
		log_warn("cannot notify the service manager (NOTIFY_SOCKET): %s", strerror(-ret));

	ret = vu_server_run(srv, stop_fd);
	resize_watch_stop(&rw);
	if (ret)
		log_err("server: %s", strerror(-ret));
	else if (one_conn && !signal_pending(sfd))
		log_info("the front end hung up: finishing in-flight requests");
	else
		log_info("signal received: finishing in-flight requests");
	service_notify("STOPPING=1");
	/* Stop accepting first, so nobody connects to a daemon on its way out. */
	remove_socket(&sock);
	if (vu_server_shutdown(srv) == 0 && ret == 0)
		status = 0;
	vu_server_destroy(srv);

out_unlink:
	remove_socket(&sock);
out_close_sfd:
	close(sfd);
out_close_be:
	blk_dev_fini(&dev);
	be_close(be);
	return status;
}
