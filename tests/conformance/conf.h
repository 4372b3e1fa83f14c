/* SPDX-License-Identifier: MIT */
/*
 * What the conformance case files share: the case table entry, the daemon
 * the runner starts, and the outcome checks every case ends with.
 */
#ifndef VBLK_TESTS_CONF_H
#define VBLK_TESTS_CONF_H

#include <stdbool.h>
#include <sys/types.h>

#include "raw_front.h"

struct conf_case {
	const char *group;
	const char *name;
	void (*fn)(void);
	bool ro; /* runs against the read-only daemon */
};

struct conf_table {
	const struct conf_case *cases;
	unsigned n;
};

/* The control-plane cases (conf_control.c) and the packed-ring ones (conf_packed.c). */
extern const struct conf_table conf_control_cases;
extern const struct conf_table conf_packed_cases;
/* The dirty-logging ones (conf_log.c). */
extern const struct conf_table conf_log_cases;
/* The back-end request channel (conf_backend.c). */
extern const struct conf_table conf_backend_cases;
/* Memory hotplug: ADD/REM_MEM_REG (conf_memslots.c). */
extern const struct conf_table conf_memslots_cases;

struct daemon {
	const char *tag;  /* in file names */
	const char *opts; /* appended to --disk */
	pid_t pid;
	char dir[128];
	char sock[192];
	char img[192];
	char log[192];
};

/* The vblkd binary under test. */
extern const char *conf_vblkd;

/* Start d (dir set by the caller) and wait for its socket. */
bool daemon_start(struct daemon *d);
/* SIGTERM, and expect exit 0 within 10 s; why says otherwise. */
bool daemon_stop(struct daemon *d, char *why, size_t whylen);

/* The case's connection. */
extern struct rf F;

void expect_no_used(struct rf_queue *q, int ms);
void expect_new_connection_works(void);
void expect_drop(struct rf *f);
void expect_still_served(struct rf *f);
void expect_nack(struct rf *f, int64_t ack);

#endif
