/* SPDX-License-Identifier: MIT */
/*
 * A layout-neutral fake driver for the device-side ring tests: the few
 * things a driver does — make a buffer available, take used elements back,
 * ask for or suppress interrupts, read whether the device wants kicks — with
 * a split (fake_driver.c) and a packed (fake_packed.c) implementation behind
 * them, so one behaviour test runs on both layouts (argv names the layout).
 *
 * Positions are compared in each layout's own encoding: split, the 16-bit
 * free-running index (§2.7); packed, a ring position with its wrap counter
 * in bit 15 (§2.8.10 off_wrap). Linear positions count ring units (split
 * entries, packed slots) modulo fr_span().
 *
 * Reading a used element checks the layout's format on the way: split, the
 * id is a head the driver made available; packed, the element sits at the
 * driver's used position with AVAIL = USED = its wrap counter, and WRITE is
 * set exactly when len > 0 (§2.8.4).
 */
#ifndef VBLK_TESTS_FAKE_RING_H
#define VBLK_TESTS_FAKE_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "fake_driver.h"
#include "fake_packed.h"

struct fake_ring {
	bool packed;
	unsigned num;
	struct fake_mem *m; /* the guest memory of the layout in use */
	struct vq_dev *vq;  /* the device side under test */
	union {
		struct fake_drv s;
		struct fakep p;
	};
	bool busy[VQ_DEV_MAX_SIZE]; /* per buffer id: made available, not yet used */
	/* Split: the descriptor table's free entries and each head's chain. */
	bool s_free[VQ_DEV_MAX_SIZE];
	unsigned s_nfree;
	uint16_t s_next[VQ_DEV_MAX_SIZE]; /* next descriptor of the chain, as the driver built it */
	uint16_t s_ndesc[VQ_DEV_MAX_SIZE]; /* per head: ring descriptors its chain holds */
};

/* "split" or "packed" (anything else: usage error, exit 2). */
bool fr_layout(const char *arg);

/* Guest memory and an empty ring of num entries. Exits 77 if memfd is unavailable. */
void fr_init(struct fake_ring *r, bool packed, unsigned num, unsigned nregions);
/* Before fr_start: put both driver positions k ring units before they wrap. */
void fr_near_wrap(struct fake_ring *r, unsigned k);
/* Map and start the device side at the driver's positions. Returns 0 or -errno. */
int fr_start(struct fake_ring *r, bool event_idx, bool indirect);
void fr_fini(struct fake_ring *r);

/*
 * Ring area i (0 descriptors, 1 driver, 2 device) of this ring as the fake
 * driver lays it out: its offset in guest memory, its size for num entries
 * and the alignment the spec asks (§2.7 "Alignment", §2.8.10.1).
 */
void fr_area(const struct fake_ring *r, unsigned i, unsigned *off, size_t *size, unsigned *align);

/*
 * Inflight tracking (vhost-user.rst "Inflight I/O tracking"). The base a
 * front end sends for a first start at the driver's positions; the base it
 * sends after a back end died (split: used->idx, as QEMU's
 * virtio_queue_restore_last_avail_idx; packed: the stale first one, QEMU
 * cannot restore a packed ring's position); and a (re)start of a fresh
 * vq_dev on the same rings with region attached (NULL: none).
 */
uint32_t fr_first_base(const struct fake_ring *r);
uint32_t fr_death_base(struct fake_ring *r, uint32_t first);
int fr_start_inflight(struct fake_ring *r, void *region, size_t len, uint32_t base);

/* Ring units a buffer of n segments takes: split 1, packed n (1 when indirect). */
unsigned fr_units(const struct fake_ring *r, unsigned n, bool indirect);
/* Whether a buffer of n segments fits now (descriptors or slots, and a free id). */
bool fr_fits(const struct fake_ring *r, unsigned n, bool indirect);
/* Whether id may name a new buffer (split: a free descriptor; packed: an ID not in flight). */
bool fr_id_free(const struct fake_ring *r, uint16_t id);
/* The lowest id free for a new buffer, or 0xffff. */
uint16_t fr_free_id(const struct fake_ring *r);
/*
 * Make n segments available as one buffer with id (split: the head
 * descriptor, the others scattered through the table; packed: the Buffer
 * ID). fr_add_indirect: one descriptor for a table of n entries at
 * table_gpa (0: allocate one; any alignment), with ring_flags added to the
 * ring descriptor's flags (a WRITE there must be ignored).
 */
void fr_add(struct fake_ring *r, uint16_t id, const struct fake_seg *segs, unsigned n);
void fr_add_indirect(struct fake_ring *r, uint16_t id, const struct fake_seg *segs, unsigned n,
		     uint64_t table_gpa, uint16_t ring_flags);
/* Take the next used element: 1 with its id and len, or 0. */
int fr_get_used(struct fake_ring *r, uint16_t *id, uint32_t *len);
/* Take the next used element and check it is (id, len). */
void fr_expect_used(struct fake_ring *r, uint16_t id, uint32_t len);

/* Ring units per lap of linear positions: split 2^16, packed 2 * num. */
unsigned fr_span(const struct fake_ring *r);
/* Linear positions (mod fr_span) of the device's avail and used positions. */
unsigned fr_dev_avail_lin(const struct fake_ring *r);
unsigned fr_dev_used_lin(const struct fake_ring *r);
/* Ring units made available the device has not popped / pushed the driver has not taken. */
unsigned fr_avail_ahead(const struct fake_ring *r);
unsigned fr_used_ahead(const struct fake_ring *r);

/* Interrupts on or off (split: VIRTQ_AVAIL_F_NO_INTERRUPT; packed: ENABLE / DISABLE). */
void fr_irq(struct fake_ring *r, bool on);
/*
 * Ask for an interrupt when the used element k ring units after the
 * device's used position is written (split: used_event; packed: DESC).
 */
void fr_irq_at(struct fake_ring *r, unsigned k);
/* Whether the device asks for kicks (split: no VIRTQ_USED_F_NO_NOTIFY; packed: not DISABLE). */
bool fr_kicks_on(struct fake_ring *r);
/* The kick event field raw (split: avail_event; packed: device event off_wrap). */
uint16_t fr_kick_event(struct fake_ring *r);
/*
 * Whether the device asks for kicks by the event field (EVENT_IDX): split,
 * used->flags is 0 (§2.7.10: the device MUST keep it 0); packed, flags DESC.
 */
bool fr_kicks_by_event(struct fake_ring *r);
/* Overwrite the kick event field raw, as a stale value would look. */
void fr_set_kick_event(struct fake_ring *r, uint16_t v);
/* The device's next avail position in the kick event's encoding. */
uint16_t fr_dev_avail_pos(const struct fake_ring *r);

#endif
