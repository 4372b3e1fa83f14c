/* SPDX-License-Identifier: MIT */
/*
 * vhost-user front end (the role QEMU plays): one control connection to a
 * back end, one function per request (vhost-user.rst "Front-end message
 * types"). Every reply is checked for its request code, the reply flag and
 * its exact payload size: the back end is untrusted too.
 *
 * When REPLY_ACK is negotiated, requests without a reply of their own set
 * NEED_REPLY and wait for the back end's u64 ack (0 = success).
 *
 * Time bounds: every exchange (send the request, receive the whole reply)
 * has one deadline, timeout_ms from its start, however the back end trickles
 * its bytes; connect and send are bounded by SO_SNDTIMEO. A timeout or a
 * malformed reply leaves the stream out of step: the client is then "dead"
 * and every later request fails at once with the same error, so tearing
 * down against a silent back end costs one deadline, not one per request.
 *
 * Nothing here prints: the reason for the last failure is kept in err[]
 * (one sentence, "" if none) for the caller to report.
 *
 * A vu_client is used by one thread at a time.
 */
#ifndef VBLK_VHOST_USER_VU_CLIENT_H
#define VBLK_VHOST_USER_VU_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <vblk/spec/vhost_user.h>

#define VU_CLIENT_DEFAULT_TIMEOUT_MS 5000u

struct vu_client {
	int sock;
	uint64_t protocol_features; /* negotiated (after set_protocol_features) */
	bool reply_ack;
	unsigned timeout_ms; /* per exchange; set by vu_client_connect() */
	int dead;	     /* 0, or the -errno that put the stream out of step */
	char err[192];	     /* why the last request failed, or "" */
};

/* One region of SET_MEM_TABLE, with its fd (not consumed). */
struct vu_client_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
	int fd;
};

/*
 * Connect to the unix socket at path; every later exchange must finish within
 * timeout_ms (0: VU_CLIENT_DEFAULT_TIMEOUT_MS). Returns 0, -ENAMETOOLONG,
 * -ETIMEDOUT (the listener's backlog stayed full), or -errno from
 * socket/connect (-ENOENT: no such socket, -ECONNREFUSED: nobody listening).
 * Requests return -ETIMEDOUT when the back end does not answer in time,
 * -EPROTO for a malformed reply, -ECONNRESET when it closes the stream.
 */
int vu_client_connect(struct vu_client *c, const char *path, unsigned timeout_ms);

/* Close the connection. Accepts a client whose sock is -1 (never connected or closed). */
void vu_client_close(struct vu_client *c);

int vu_client_get_features(struct vu_client *c, uint64_t *features);
int vu_client_set_features(struct vu_client *c, uint64_t features);
int vu_client_get_protocol_features(struct vu_client *c, uint64_t *features);
/* Also turns on REPLY_ACK handling when that bit is in features. */
int vu_client_set_protocol_features(struct vu_client *c, uint64_t features);
int vu_client_set_owner(struct vu_client *c);
int vu_client_get_queue_num(struct vu_client *c, uint64_t *num);

/*
 * Read len bytes (<= VHOST_USER_MAX_CONFIG_SIZE) of config space at offset.
 * -EIO if the back end answers with a different size (it signals failure
 * with size 0).
 */
int vu_client_get_config(struct vu_client *c, uint32_t offset, void *buf, uint32_t len);

int vu_client_set_mem_table(struct vu_client *c, const struct vu_client_region *r, unsigned n);
int vu_client_set_vring_num(struct vu_client *c, unsigned idx, unsigned num);
int vu_client_set_vring_base(struct vu_client *c, unsigned idx, unsigned base);
int vu_client_set_vring_addr(struct vu_client *c, unsigned idx, uint64_t desc_uva,
			     uint64_t avail_uva, uint64_t used_uva);
/* fd is sent, not consumed; fd < 0 sends the "no fd" flag (polling mode). */
int vu_client_set_vring_kick(struct vu_client *c, unsigned idx, int fd);
int vu_client_set_vring_call(struct vu_client *c, unsigned idx, int fd);
int vu_client_set_vring_enable(struct vu_client *c, unsigned idx, bool enable);
/* Stops the ring in the back end and returns its next avail index. */
int vu_client_get_vring_base(struct vu_client *c, unsigned idx, unsigned *base);

#endif
