/* SPDX-License-Identifier: MIT */
/*
 * vblk (the command-line client): what the subcommands share - one-line
 * failures, the options that apply to every device a command opens, a device
 * opened through libvblk with byte-granular read and write on top, and the
 * entry point of each subcommand (cmd_*.c).
 */
#ifndef VBLK_TOOLS_CLI_H
#define VBLK_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <getopt.h>

#include <vblk/vblk.h>

#include "internal/compiler.h"

/* Bytes a command moves at a time, and the shared buffer of a struct dev. */
#define CHUNK (1u << 20)

/* Most queues a command asks for (vhost-user allows 256 vrings per device). */
#define CLI_MAX_QUEUES 256

/* Options every command takes (--packed, --timeout): what it opens uses them. */
struct cli {
	unsigned open_flags; /* VBLK_OPEN_* */
	unsigned timeout_ms; /* vblk_options.timeout_ms; 0 = the library's default */
	unsigned poll_us;    /* vblk_options.poll_us (--poll-us); 0 = sleep at once */
};

/* A runtime failure: "vblk: <message>" on stderr, exit 1. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* A command-line mistake: the same with a pointer to --help, exit 2. */
void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* The usage text, on stdout (--help). */
void print_usage(void);

/*
 * A byte count (size_parse(): decimal, K/M/G/T or KiB/MiB/GiB/TiB, no
 * octal), or a usage error naming what.
 */
uint64_t parse_size(const char *what, const char *s);
/* A count from 1 to max written as parse_size() reads it, or a usage error. */
unsigned parse_count(const char *what, const char *s, unsigned max);

/* getopt_long ids of the options every command takes; a command's own start at OPT_OWN. */
enum { OPT_PACKED = 0x100, OPT_TIMEOUT, OPT_INTX, OPT_POLL_US, OPT_OWN = 0x200 };
#define OPT_OWN_MAX 16 /* most options of one command */

/*
 * Parse a command's options with getopt_long, by the GNU conventions:
 * "--bs 4k" and "--bs=4k" alike, options and operands in any order, "--"
 * ends the options. argv[0] is the command's name. The options every command
 * takes (--packed, --timeout, --help) are handled here, those in own (ids >=
 * OPT_OWN, NULL-terminated; own may be NULL) go to on_opt with their value
 * (NULL when they take none). Mistakes are usage errors. Returns the
 * operands, in order, and their count in *nargs.
 */
char **cli_getopt(struct cli *cli, int argc, char **argv, const struct option *own,
		  void (*on_opt)(void *ctx, int id, const char *val), void *ctx, int *nargs);

/* How vblk copy names a vhost-user-blk socket among files and NBD URIs. */
#define VHOST_USER_PREFIX "vhost-user:"

/* One opened device: its first queue and a CHUNK-byte buffer from its pool. */
struct dev {
	struct vblk *v;
	struct vblk_queue *q;
	struct vblk_info info;
	uint8_t *buf;
};

/*
 * Open the back end at sock (a socket path, "vhost-user:" in front allowed)
 * with o's queues and size hints, or die.
 */
void dev_open_with(const struct cli *cli, struct dev *d, const char *sock, struct vblk_options *o);
/* Open the back end at sock with one queue and default sizes, or die. */
void dev_open(const struct cli *cli, struct dev *d, const char *sock);
void dev_close(struct dev *d);
/* Die unless [off, off+len) lies on the device. */
void dev_check_range(const struct dev *d, uint64_t off, uint64_t len);
/* Read [off, off+len) of the device into out (any alignment). 0 or -errno. */
int dev_pread(struct dev *d, void *out, uint64_t len, uint64_t off);
/* Write [off, off+len); partial blocks are read-modify-written. 0 or -errno. */
int dev_pwrite(struct dev *d, const void *data, uint64_t len, uint64_t off);

/* All of p to fd, or die. */
void write_all(int fd, const void *p, size_t n);
/* Fill up to n bytes from fd, or die; fewer than n only at end of file. */
size_t read_full(int fd, void *p, size_t n);

/*
 * The subcommands: argv[0] is the command's name, the rest its arguments
 * (for cli_getopt); cli starts zeroed. Each returns main's exit status.
 */
int cmd_info(struct cli *cli, int argc, char **argv);
int cmd_read(struct cli *cli, int argc, char **argv);
int cmd_write(struct cli *cli, int argc, char **argv);
int cmd_flush(struct cli *cli, int argc, char **argv);
int cmd_discard(struct cli *cli, int argc, char **argv);
int cmd_copy(struct cli *cli, int argc, char **argv);
int cmd_pci_bind(struct cli *cli, int argc, char **argv);
int cmd_ctl(struct cli *cli, int argc, char **argv);
int cmd_bench(struct cli *cli, int argc, char **argv);

#endif
