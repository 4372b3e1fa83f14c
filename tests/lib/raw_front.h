/* SPDX-License-Identifier: MIT */
/*
 * raw_front: a test-only vhost-user front end that can say anything. It
 * negotiates like QEMU's vhost-user-blk when asked to, but every step is a
 * separate call, so a conformance case can stop half-way, send a malformed
 * message, or lay out any descriptor chain by hand in the shared "guest
 * memory" (a memfd), in a split ring (virtio 1.3 §2.7) or, when
 * VIRTIO_F_RING_PACKED is negotiated, a packed one (§2.8). It uses only the
 * message framing (vu_msg) and the spec headers, not lib/virtq or lib/client,
 * so it checks them from the outside.
 *
 * Every helper fails the calling test (exit 1, via CHECK) on anything
 * unexpected; conformance.c runs each case in its own process, and
 * tests/integration/vu_front.c each mode.
 */
#ifndef VBLK_TESTS_RAW_FRONT_H
#define VBLK_TESTS_RAW_FRONT_H

#include <stdbool.h>
#include <stdint.h>

#include <vblk/spec/vhost_user.h>
#include <vblk/spec/virtio_blk.h>
#include <vblk/spec/virtio_ring.h>

#include "rf_send.h"

#define RF_MEM_SIZE   (4u << 20)
#define RF_QNUM	      16
#define RF_MAXQ	      2
#define RF_TIMEOUT_MS 5000
/*
 * Guest-physical layout: per queue a ring area and a buffer area. Ring area:
 * split desc +0, avail +0x1000, used +0x2000; packed desc +0, driver event
 * +0x1000, device event +0x2000.
 */
#define RF_RING(q)   ((uint64_t)(q)*0x10000)
#define RF_INDIR(q)  (RF_RING(q) + 0x4000) /* indirect tables, up to 48 KiB */
#define RF_BUF(q)    (0x100000 + (uint64_t)(q)*0x100000)
#define RF_HDR(q)    RF_BUF(q)		  /* request header */
#define RF_STATUS(q) (RF_BUF(q) + 0x200)  /* status byte */
#define RF_DATA(q)   (RF_BUF(q) + 0x1000) /* data, up to 960 KiB */

/* What rf_negotiate picks for want = 0: a full virtio-blk set with INDIRECT_DESC, split ring. */
#define RF_FEATURES_DEFAULT                                                                        \
	(VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |                     \
	 VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |                    \
	 VIRTIO_BIT(VIRTIO_BLK_F_MQ) | VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |                          \
	 VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) | VIRTIO_BIT(VIRTIO_BLK_F_RO) |                     \
	 VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE))
/* The same set on packed rings (virtio 1.3 §2.8). */
#define RF_FEATURES_PACKED (RF_FEATURES_DEFAULT | VIRTIO_BIT(VIRTIO_F_RING_PACKED))

/* §2.8.1: the AVAIL and USED bits of a packed descriptor's flags. */
#define RF_P_AVAIL ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_AVAIL))
#define RF_P_USED  ((uint16_t)(1u << VIRTQ_PACKED_DESC_F_USED))
/* A fresh packed ring's SET_VRING_BASE (vhost-user.rst): positions 0, both wrap counters 1. */
#define RF_P_BASE_INIT 0x80008000u

struct rf_queue {
	/* Split ring (§2.7). */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t avail_idx;
	uint16_t used_seen;
	/* Packed ring (§2.8), when packed. */
	bool packed;
	struct virtq_packed_desc *pdesc;
	struct virtq_packed_event *driver_event, *device_event;
	uint16_t pavail;	 /* the slot the driver fills next ... */
	bool avail_wrap;	 /* ... and its driver wrap counter */
	uint16_t pused;		 /* the slot of the next used element ... */
	bool used_wrap;		 /* ... and the device wrap counter expected there */
	uint16_t slots[RF_QNUM]; /* per buffer ID in flight: slots its list took (§2.8.6) */
	int kick, call, err;
};

struct rf {
	int sock;
	int memfd;
	uint8_t *mem;
	uint64_t features;  /* negotiated */
	uint64_t pfeatures; /* negotiated protocol features */
	unsigned nq;	    /* queues started */
	struct rf_queue q[RF_MAXQ];
};

/* The socket every connection goes to (set once by main). */
extern const char *rf_sock_path;

/*
 * Connect. The daemon serves one front end at a time and may still be
 * dropping the previous one: retry (with GET_FEATURES as the probe) until it
 * answers. Returns the socket with the GET_FEATURES reply consumed.
 */
int rf_connect(uint64_t *features);
/* Connect without any message (for cases about the very first message). */
int rf_connect_raw(void);

/* Send a message; flags get VHOST_USER_VERSION added. CHECK-fails if the send fails. */
void rf_send(struct rf *f, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
	     const int *fds, unsigned nfds);
/* Send raw bytes with up to RF_SEND_MAX_FDS fds, no framing checks. Returns 0 or -errno. */
int rf_send_bytes(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);
/* Receive a reply to req; returns its payload size, or -errno (-ECONNRESET: hung up). */
int rf_recv(struct rf *f, uint32_t req, void *payload, uint32_t max);
uint64_t rf_get_u64(struct rf *f, uint32_t req);
/*
 * Send a message that has no reply of its own with NEED_REPLY (REPLY_ACK is
 * always negotiated by rf_negotiate). Returns the ack (0 success, nonzero
 * refused), or -1 if the daemon hung up instead.
 */
int64_t rf_set(struct rf *f, uint32_t req, const void *payload, uint32_t size, const int *fds,
	       unsigned nfds);
/* rf_set that must succeed. */
void rf_set_ok(struct rf *f, uint32_t req, const void *payload, uint32_t size, const int *fds,
	       unsigned nfds);
void rf_set_state(struct rf *f, uint32_t req, uint32_t index, uint32_t num);
/* True if the peer closes fd within the timeout. */
bool rf_wait_eof(int fd);
/* True if fd becomes readable within ms. */
bool rf_wait_readable(int fd, int ms);

/*
 * Negotiate features (offered & want, always VERSION_1 + PROTOCOL_FEATURES;
 * want = 0 picks RF_FEATURES_DEFAULT; VIRTIO_F_RING_PACKED in want makes
 * every queue packed, and skips the test (exit 77) if not offered) and protocol
 * features (MQ, REPLY_ACK, CONFIG, INFLIGHT_SHMFD, CONFIGURE_MEM_SLOTS if
 * offered), and share RF_MEM_SIZE of guest memory.
 */
void rf_negotiate(struct rf *f, uint64_t want);
/*
 * Set up and enable queue i (size RF_QNUM, with kick, call and err eventfds).
 * A packed ring starts at base RF_P_BASE_INIT with both event suppression
 * structures set to ENABLE ("notify always"); the driver always kicks.
 */
void rf_start_queue(struct rf *f, unsigned i);
/*
 * rf_start_queue with another SET_VRING_BASE for a packed ring (bits 0-14 the
 * driver's next slot, 15 its wrap counter, 16-30 and 31 the same for the next
 * used element), which the front end's positions then follow.
 */
void rf_start_queue_at(struct rf *f, unsigned i, uint32_t base);
/*
 * The same messages, each with NEED_REPLY; stops at the first one not
 * acknowledged with 0 and returns its ack (-1: the daemon hung up) with the
 * request in *refused. Returns 0 when the queue started.
 */
int64_t rf_try_start_queue_at(struct rf *f, unsigned i, uint32_t base, uint32_t *refused);
/* rf_negotiate + rf_start_queue for queues 0..nq-1. */
void rf_open(struct rf *f, unsigned nq, uint64_t want);
void rf_close(struct rf *f);

/* Ring helpers. rf_desc, rf_table_desc and rf_avail are for split rings only. */
void *rf_ptr(struct rf *f, uint64_t gpa);
void rf_desc(struct rf_queue *q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
	     uint16_t next);
/* Write a descriptor into an indirect table at gpa. */
void rf_table_desc(struct rf *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next);
/* Put head in the next avail slot and publish it (no kick). */
void rf_avail(struct rf_queue *q, uint16_t head);
void rf_kick(struct rf_queue *q);
/*
 * Wait for the next used element (split: used ring entry; packed: the
 * descriptor at the used position, §2.8.22, which then advances by the slots
 * the buffer took). A packed used element with an ID not in flight fails the
 * test; its len counts only with VIRTQ_DESC_F_WRITE set (§2.8.4: a driver
 * ignores it otherwise), so *len is 0 then.
 */
bool rf_wait_used(struct rf_queue *q, int ms, uint32_t *id, uint32_t *len);
/* rf_wait_used within RF_TIMEOUT_MS, or fail the test (saying if the queue broke instead). */
void rf_must_use(struct rf_queue *q, uint32_t *id, uint32_t *len);

/* Packed ring helpers (§2.8). */
/* The AVAIL/USED bits that make a slot available in a driver wrap counter (§2.8.1). */
static inline uint16_t rf_p_avail_bits(bool wrap)
{
	return wrap ? RF_P_AVAIL : RF_P_USED;
}
/*
 * Write the packed descriptor at ring slot, flags exactly as given (AVAIL and
 * USED included); flags are stored last, with release order.
 */
void rf_pdesc(struct rf_queue *q, unsigned slot, uint64_t addr, uint32_t len, uint16_t id,
	      uint16_t flags);
/* Write entry i of a packed indirect table at gpa (§2.8.7: the packed layout). */
void rf_ptable_desc(struct rf *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		    uint16_t id, uint16_t flags);
/* One descriptor of a list: flags without NEXT (added) or AVAIL/USED. */
struct rf_seg {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
};
/*
 * Make a buffer of n <= RF_QNUM descriptors available at the driver's next
 * slot (no kick): NEXT on all but the last, ID on each, each slot's AVAIL/USED
 * for the wrap counter it is in (toggled past the ring end), the first
 * slot's flags stored last (§2.8.21.1). Records the slots for id, and
 * returns the first slot.
 */
unsigned rf_plist(struct rf_queue *q, const struct rf_seg *s, unsigned n, uint16_t id);
/* Advance a packed (slot, wrap counter) pair by n slots (§2.8.1). */
void rf_p_advance(uint16_t *slot, bool *wrap, unsigned n);
/* Write a request header at RF_HDR(qi) and 0xff at RF_STATUS(qi). */
void rf_hdr(struct rf *f, unsigned qi, uint32_t type, uint64_t sector);
uint8_t rf_status(struct rf *f, unsigned qi);

/*
 * Post (and kick) a whole request on queue qi with descriptors 0..2 (packed:
 * the next slots, buffer ID 0): header, data (len bytes at RF_DATA(qi), copied
 * from data unless device-writable, dev_writes; omitted when len is 0), status.
 * One request per queue at a time.
 */
void rf_post(struct rf *f, unsigned qi, uint32_t type, uint64_t sector, const void *data,
	     uint32_t len, bool dev_writes);
/*
 * Wait for the request rf_post made (buffer ID 0, or fail the test); copy a
 * device-written data buffer to data; return the status byte and used.len in
 * *used_len.
 */
uint8_t rf_finish(struct rf *f, unsigned qi, void *data, uint32_t len, bool dev_writes,
		  uint32_t *used_len);
/* rf_post + rf_finish. */
uint8_t rf_io(struct rf *f, unsigned qi, uint32_t type, uint64_t sector, void *data, uint32_t len,
	      bool dev_writes, uint32_t *used_len);
/* Write a pattern at sector, read it back, compare; CHECK-fails otherwise. */
void rf_rw_check(struct rf *f, unsigned qi, uint64_t sector, uint8_t seed);
/* GET_CONFIG capacity. */
uint64_t rf_capacity(struct rf *f);

#endif
