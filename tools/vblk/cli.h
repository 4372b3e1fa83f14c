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

#include <vblk/vblk.h>

/* Bytes a command moves at a time, and the shared buffer of a struct dev. */
#define CHUNK (1u << 20)

/* Options every command takes (--packed, --timeout): what it opens uses them. */
struct cli {
	unsigned open_flags; /* VBLK_OPEN_* */
	unsigned timeout_ms; /* vblk_options.timeout_ms; 0 = the library's default */
};

/* A runtime failure: "vblk: <message>" on stderr, exit 1. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* A command-line mistake: the same with a pointer to --help, exit 2. */
void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* SIZE with K, M, G, T suffixes; a usage error names what when s is not one. */
uint64_t parse_size(const char *what, const char *s);
/* The value of "--name=value" in arg, or NULL when arg is not that option. */
const char *opt_value(const char *arg, const char *name);

/* One opened device: its first queue and a CHUNK-byte buffer from its pool. */
struct dev {
	struct vblk *v;
	struct vblk_queue *q;
	struct vblk_info info;
	uint8_t *buf;
};

/* Open the back end at sock with queues queues and o's size hints, or die. */
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

/* The subcommands: argv holds the arguments after the command's name. */
int cmd_info(const struct cli *cli, int argc, char **argv);
int cmd_read(const struct cli *cli, int argc, char **argv);
int cmd_write(const struct cli *cli, int argc, char **argv);
int cmd_flush(const struct cli *cli, int argc, char **argv);
int cmd_discard(const struct cli *cli, int argc, char **argv);
int cmd_copy(const struct cli *cli, int argc, char **argv);
int cmd_bench(const struct cli *cli, int argc, char **argv);

#endif
