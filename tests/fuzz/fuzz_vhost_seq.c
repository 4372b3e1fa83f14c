/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: a structure-aware hostile vhost-user front end. The
 * input is decoded into a sequence of well-framed messages (version and
 * reply bits right, hdr.size consistent with the payload unless the input
 * asks for a size near a boundary) with plausible payloads for every request
 * of include/vblk/spec/vhost_user.h, each carrying real fds of the kind the
 * input picks (eventfd, pipe ends, blocking pipe ends, memfds that the input
 * later shrinks, /dev/null, a socket, the inflight fd the server handed us).
 * The real server (lib/vhost_user/vu_server.c) and block device (vu_blk over
 * a memory backend) run on a thread, as in fuzz_vhost_user.c, whose raw
 * records this harness complements: the raw one explores framing, this one
 * gets deep into each handler.
 *
 * Oracles besides the sanitizers (vhost-user.rst "Message Specification" and
 * QEMU's vhost_user_get_config, which refuses anything else):
 *   - every reply has the REPLY bit and version 1, at most the payload union,
 *     and answers a request type we sent (no more replies than requests);
 *   - a GET_CONFIG reply is empty (failure) or exactly the offset and size
 *     asked, with size <= 256 and within the device's config space, and its
 *     bytes are the device's config bytes (no stack contents leaked);
 *   - the server hangs up within FUZZ_VU_HANG_SEC of our end of stream and
 *     answers a barrier within it.
 *
 * Input: ops until the input ends (at most MAX_STEPS). An op byte < 168 is a
 * message of request (op % 42) (41: a raw u32 request follows), then:
 *   u8 mode: bit 0 NEED_REPLY; bit 1 pipelined (no barrier after it);
 *            bits 2-3 hdr.size: 0 natural, 1 a boundary value (u8 index),
 *            2 natural + s8 delta, 3 raw le16; bit 4 raw u32 flags follow
 *   u8 fds:  bits 0-3 count (0: the request's natural count, n: n - 1),
 *            bits 4-7 kind (FD_* below; 0: natural for the request)
 *   then the request's fields (see gen_payload; each picked from a table of
 *   interesting values or taken raw).
 * An op byte >= 168 is a control op ((op - 168) % 8): kick an eventfd, write
 * guest memory, shrink a memfd, fill a pipe, explicit barrier, second client,
 * read back the inflight region, nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vblk/spec/vhost_user.h>
#include <vblk/spec/virtio_types.h>

#include "fuzz_in.h"
#include "fuzz_vu.h"
#include "internal/log.h"
#include "vhost_user/vu_blk.h"
#include "virtq/vq_dev.h"

#define GMEM_SIZE    (256u << 10)
#define UVA	     0x7f0000000000ull
#define NUM_QUEUES   2
#define MAX_SEND_FDS 12
#define MAX_STEPS    192
#define NREQ	     42 /* request selectors: 0..40, 41 = raw */
#define MSG_OPS	     (NREQ * 4)

/* fd kinds (the high nibble of the fds byte). */
enum {
	FD_NATURAL,
	FD_EVENT,
	FD_GMEM,	/* the guest memory memfd (GMEM_SIZE, never shrunk) */
	FD_SHRINK,	/* a memfd of GMEM_SIZE the input may shrink later */
	FD_PIPE_R,	/* non-blocking pipe, read end */
	FD_PIPE_W,	/* non-blocking pipe, write end */
	FD_BPIPE_R,	/* blocking pipe, read end */
	FD_BPIPE_W,	/* blocking pipe, write end */
	FD_DEVNULL,	/* /dev/null */
	FD_SOCKET,	/* one end of a socketpair */
	FD_INFLIGHT,	/* the fd of the last GET_INFLIGHT_FD reply (or a fresh memfd) */
	FD_SMALL_MEMFD, /* a 4 KiB memfd */
	FD_MIXED,	/* one kind byte per fd follows */
};

/*
 * A value near a boundary: selector byte s picks table[s % n] when s < 0xf0,
 * a raw 32-bit value for 0xf0..0xf7 and a raw 64-bit one otherwise.
 */
static uint64_t pick(struct in *in, const uint64_t *table, size_t n)
{
	uint8_t s = take8(in);

	if (s >= 0xf8)
		return take64(in);
	if (s >= 0xf0)
		return take32(in);
	return table[s % n];
}
#define PICK(in, t) pick(in, t, sizeof(t) / sizeof((t)[0]))

#define DIE(...) fuzz_vu_die(__VA_ARGS__)

/* Process-wide, created once. */
static struct {
	bool ready;
	bool verbose; /* FUZZ_VU_VERBOSE: print what we send, and the server's debug log */
	struct fuzz_vu_env env;
} P;

/* A GET_CONFIG we sent and whose reply has not arrived. */
struct cfg_ask {
	uint32_t offset, size;
	unsigned set_configs; /* config-changing requests sent before it */
};

/* Per input. */
struct run {
	struct fuzz_vu_conn c;	   /* first: drain gets it */
	int evfd[FUZZ_VU_MAX_OWN]; /* eventfds, for kicks */
	unsigned nev;
	int shrink[FUZZ_VU_MAX_OWN]; /* memfds the input may shrink */
	unsigned nshrink;
	int pipew[FUZZ_VU_MAX_OWN]; /* pipe write ends, to fill or write into */
	unsigned npipew;
	int inflight_fd; /* from the last GET_INFLIGHT_FD reply, or -1 */

	/* Reply bookkeeping. */
	unsigned sent[VHOST_USER_MAX + 1]; /* requests sent per type (last: others) */
	unsigned replied[VHOST_USER_MAX + 1];
	struct cfg_ask cfg[MAX_STEPS];
	unsigned cfg_head, cfg_tail;
	unsigned set_configs;
	unsigned barrier_replies; /* GET_FEATURES replies seen */
	uint8_t rx[8192];
	size_t rx_len;
};

static void setup_once(void)
{
	if (P.ready)
		return;
	P.verbose = getenv("FUZZ_VU_VERBOSE") != NULL;
	log_set_level(P.verbose ? LOGL_DEBUG : LOGL_ERR);
	fuzz_vu_env_init(&P.env, "fuzz-seq", GMEM_SIZE);
	P.ready = true;
}

/* ------------------------------------------------------------------------ */
/* File descriptors                                                         */

static int new_memfd(struct run *r, uint64_t size)
{
	int fd = fuzz_vu_own(&r->c, memfd_create("fuzz-seq", MFD_CLOEXEC));

	if (fd >= 0 && ftruncate(fd, (off_t)size))
		DIE("ftruncate: %s", strerror(errno));
	return fd;
}

/* Both ends stay ours; the returned one goes to the server. */
static int new_pipe(struct run *r, bool blocking, bool write_end)
{
	int p[2], rd, wr;

	if (r->c.nown + 2 > FUZZ_VU_MAX_OWN)
		return -1;
	if (pipe2(p, O_CLOEXEC | (blocking ? 0 : O_NONBLOCK)))
		DIE("pipe: %s", strerror(errno));
	rd = fuzz_vu_own(&r->c, p[0]);
	wr = fuzz_vu_own(&r->c, p[1]);
	r->pipew[r->npipew++] = wr;
	return write_end ? wr : rd;
}

static int make_fd(struct run *r, unsigned kind, uint64_t want_size)
{
	int fd, sp[2];

	switch (kind) {
	case FD_GMEM:
		return P.env.memfd;
	case FD_SHRINK:
		fd = new_memfd(r, GMEM_SIZE);
		if (fd >= 0)
			r->shrink[r->nshrink++] = fd;
		return fd;
	case FD_PIPE_R:
	case FD_PIPE_W:
	case FD_BPIPE_R:
	case FD_BPIPE_W:
		return new_pipe(r, kind >= FD_BPIPE_R, kind == FD_PIPE_W || kind == FD_BPIPE_W);
	case FD_DEVNULL:
		return fuzz_vu_own(&r->c, open("/dev/null", O_RDWR | O_CLOEXEC));
	case FD_SOCKET:
		if (r->c.nown + 2 > FUZZ_VU_MAX_OWN)
			return -1;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp))
			DIE("socketpair: %s", strerror(errno));
		fuzz_vu_own(&r->c, sp[1]);
		return fuzz_vu_own(&r->c, sp[0]);
	case FD_INFLIGHT:
		if (r->inflight_fd >= 0)
			return r->inflight_fd;
		/* What a front end that kept the region of a dead back end would send. */
		fd = new_memfd(r, want_size ? want_size : 4096);
		if (fd >= 0)
			r->shrink[r->nshrink++] = fd;
		return fd;
	case FD_SMALL_MEMFD:
		return new_memfd(r, 4096);
	default:
		fd = fuzz_vu_own(&r->c, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
		if (fd >= 0)
			r->evfd[r->nev++] = fd;
		return fd;
	}
}

/* ------------------------------------------------------------------------ */
/* Server thread and replies                                                */

static unsigned req_slot(uint32_t req)
{
	return req < VHOST_USER_MAX ? req : VHOST_USER_MAX;
}

/*
 * QEMU's vhost_user_get_config takes a reply of exactly
 * VHOST_USER_CONFIG_HDR_SIZE + the size it asked; libvhost-user answers a
 * failure with an empty payload. Anything else is a bug, and bytes that are
 * not the device's config space are a leak of the server's memory.
 */
/* A reply, with its payload aligned (struct vhost_user_msg is packed). */
struct reply {
	struct vhost_user_header hdr;
	union vhost_user_payload payload;
};

/*
 * A server that drops the connection (a message it refuses, or our end of
 * stream) forgets the features and with them writeback (§5.2.5.2), maybe
 * after answering a GET_CONFIG whose reply we read only now. A reply that
 * differs from the space counts only if the connection lives on: give the
 * server's drop, which follows the reset, a moment to show.
 */
static bool server_dropped_us(const struct run *r)
{
	for (int i = 0; i < 200; i++) {
		struct vu_server_status st;
		struct timespec ts = {0, 10 * 1000 * 1000};

		vu_server_status(r->c.srv, &st);
		if (!st.connected)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

static void check_config_reply(struct run *r, const struct reply *m)
{
	uint8_t space[VHOST_USER_MAX_CONFIG_SIZE];
	const struct vhost_user_config *c = &m->payload.config;
	struct cfg_ask ask;
	uint32_t space_size;

	if (r->cfg_head == r->cfg_tail)
		DIE("GET_CONFIG reply to no GET_CONFIG");
	ask = r->cfg[r->cfg_head++];
	if (m->hdr.size == 0)
		return;
	if (m->hdr.size < VHOST_USER_CONFIG_HDR_SIZE)
		DIE("GET_CONFIG reply of %u bytes", m->hdr.size);
	if (c->offset != ask.offset || c->size != ask.size)
		DIE("GET_CONFIG asked %u+%u, reply says %u+%u", ask.offset, ask.size, c->offset,
		    c->size);
	if (c->size > VHOST_USER_MAX_CONFIG_SIZE ||
	    m->hdr.size != VHOST_USER_CONFIG_HDR_SIZE + c->size)
		DIE("GET_CONFIG reply of %u bytes for config.size %u (at most %u): the server "
		    "sent bytes that are not config space",
		    m->hdr.size, c->size, VHOST_USER_MAX_CONFIG_SIZE);
	memset(space, 0, sizeof(space));
	space_size = vu_blk_ops.get_config(&r->c.dev, space);
	if (c->offset > space_size || c->size > space_size - c->offset)
		DIE("GET_CONFIG reply for %u+%u beyond the %u-byte config space", c->offset,
		    c->size, space_size);
	/* A SET_CONFIG or SET_FEATURES sent after the GET may have changed the space since. */
	if (ask.set_configs == r->set_configs &&
	    memcmp(c->region, space + c->offset, c->size) != 0 && !server_dropped_us(r))
		DIE("GET_CONFIG reply for %u+%u differs from the device's config space", c->offset,
		    c->size);
}

static void check_reply(struct run *r, const struct reply *m, const int *fds, unsigned nfds)
{
	unsigned slot = req_slot(m->hdr.request);

	if (m->hdr.flags != (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK))
		DIE("reply to request %u with flags %#x", m->hdr.request, m->hdr.flags);
	if (++r->replied[slot] > r->sent[slot])
		DIE("reply to request %u, which was sent %u times and answered %u times",
		    m->hdr.request, r->sent[slot], r->replied[slot]);
	if (m->hdr.request == VHOST_USER_GET_CONFIG)
		check_config_reply(r, m);
	if (m->hdr.request == VHOST_USER_GET_FEATURES)
		r->barrier_replies++;
	/* Keep the server's inflight region to hand back with SET_INFLIGHT_FD. */
	if (m->hdr.request == VHOST_USER_GET_INFLIGHT_FD && nfds > 0 &&
	    m->hdr.size >= sizeof(struct vhost_user_inflight) && r->c.nown < FUZZ_VU_MAX_OWN) {
		r->inflight_fd = fuzz_vu_own(&r->c, fds[0]);
		r->shrink[r->nshrink++] = r->inflight_fd;
		fds++;
		nfds--;
	}
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
}

/* Parse the complete replies in r->rx. */
static void parse_replies(struct run *r, int *fds, unsigned nfds)
{
	struct reply m;
	size_t hs = sizeof(m.hdr);

	while (r->rx_len >= hs) {
		memcpy(&m.hdr, r->rx, hs);
		if (m.hdr.size > sizeof(m.payload))
			DIE("reply to request %u of %u bytes (the payload union has %zu)",
			    m.hdr.request, m.hdr.size, sizeof(m.payload));
		if (r->rx_len < hs + m.hdr.size)
			break;
		memset(&m.payload, 0, sizeof(m.payload));
		memcpy(&m.payload, r->rx + hs, m.hdr.size);
		check_reply(r, &m, fds, nfds);
		nfds = 0; /* fds ride on the first message of a read */
		r->rx_len -= hs + m.hdr.size;
		memmove(r->rx, r->rx + hs + m.hdr.size, r->rx_len);
	}
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
}

/* Read whatever the server sent, without waiting; notice when it hung up. */
static void drain(struct fuzz_vu_conn *c)
{
	struct run *r = (struct run *)c;

	while (!r->c.dead) {
		union {
			char b[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {r->rx + r->rx_len, sizeof(r->rx) - r->rx_len};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b)};
		int fds[VHOST_USER_MAX_FDS];
		unsigned nfds = 0;
		ssize_t n = recvmsg(r->c.sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			r->c.dead = true;
			break;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (nfds < VHOST_USER_MAX_FDS)
					fds[nfds++] = fd;
				else
					close(fd);
			}
		}
		r->rx_len += (size_t)n;
		parse_replies(r, fds, nfds);
		if (r->rx_len == sizeof(r->rx))
			DIE("unparsable reply stream");
	}
}

/*
 * Wait until the server has handled everything sent so far: GET_FEATURES is
 * valid in every state and answered in order, so its reply is a barrier.
 * Makes each input replay the same way (no race between a message and the
 * next guest-memory write, shrink or kick).
 */
static void barrier(struct run *r)
{
	struct vhost_user_msg m = {.hdr = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0}};
	unsigned want = r->barrier_replies + 1;
	struct timespec t0;

	if (r->c.dead)
		return;
	r->sent[VHOST_USER_GET_FEATURES]++;
	fuzz_vu_send(&r->c, &m, sizeof(m.hdr), NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!r->c.dead && r->barrier_replies < want) {
		fuzz_vu_wait(&r->c, &t0, "did not answer GET_FEATURES");
	}
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

/* Boundaries of hdr.size: the fixed payloads, the memory table, the config and the union. */
static const uint64_t sizes_tab[] = {0,	  1,   4,   7,	 8,   9,   11,	12,  13,  16,	20,
				     24,  28,  39,  40,	 41,  72,  104, 136, 232, 263,	264,
				     265, 267, 268, 269, 270, 271, 272, 273, 300, 4096, 0xffff};
static const uint64_t cfg_off_tab[] = {
    0,	1,  4,	 8,   20,  31,	32,  33,  34,	      59,	  60,	      61,	 64,
    95, 96, 255, 256, 257, 260, 268, 272, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff};
static const uint64_t cfg_size_tab[] = {0,   1,	  2,   4,   8,	 12,	     16,	32,  59,
					60,  61,  64,  96,  255, 256,	     257,	258, 259,
					260, 261, 268, 272, 512, 0x80000000, 0xffffffff};
static const uint64_t index_tab[] = {0, 1, 0, 1, 2, 3, 255, 256, 257, 0x100, 0xffff, 0xffffffff};
static const uint64_t num_tab[] = {8,	64,  0,	  1,	2,    3,     4,	    16,	    63,
				   128, 256, 512, 1024, 1025, 32768, 32769, 0xffff, 0x10000};
static const uint64_t base_tab[] = {0,
				    1,
				    7,
				    8,
				    0xffff,
				    0x10000,
				    0x8000,		 /* packed: avail wrap counter set */
				    0x80008000,		 /* packed: VQ_PACKED_BASE_INIT */
				    0x80008000 | 7,	 /* packed: avail position 7 */
				    0x80008000 | 0x7fff, /* packed: position past any ring */
				    0x7fff7fff,
				    0xffffffff};
static const uint64_t qs_tab[] = {64, 8, 0, 1, 2, 3, 63, 100, 128, 256, 1024, 1025, 32768, 0xffff};
static const uint64_t nq_tab[] = {NUM_QUEUES, 1, 0, 3, 255, 256, 0xffff};
static const uint64_t memsz_tab[] = {
    GMEM_SIZE, GMEM_SIZE / 2, GMEM_SIZE + 1, GMEM_SIZE + 4096, GMEM_SIZE - 1, 4096, 0,
    1,	       1ull << 40,    UINT64_MAX,    UINT64_MAX - 4095};
static const uint64_t memoff_tab[] = {
    0, GMEM_SIZE / 2, 1, 4096, GMEM_SIZE - 4096, GMEM_SIZE, GMEM_SIZE + 1, 1ull << 63, UINT64_MAX};

/* Interesting virtio feature bits (offered and not), and protocol features. */
static const uint8_t feature_bits[] = {VIRTIO_F_VERSION_1,   VHOST_USER_F_PROTOCOL_FEATURES,
				       VIRTIO_F_EVENT_IDX,   VIRTIO_F_INDIRECT_DESC,
				       VIRTIO_F_RING_PACKED, 9 /* FLUSH */,
				       6 /* BLK_SIZE */,     2 /* SEG_MAX */,
				       13 /* DISCARD */,     14 /* WRITE_ZEROES */,
				       11 /* CONFIG_WCE */,  12 /* MQ */,
				       5 /* RO */,	     16 /* SECURE_ERASE */,
				       35 /* IN_ORDER */,    33 /* ACCESS_PLATFORM */};
static const uint8_t protocol_bits[] = {
    VHOST_USER_PROTOCOL_F_MQ,		VHOST_USER_PROTOCOL_F_REPLY_ACK,
    VHOST_USER_PROTOCOL_F_CONFIG,	VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD,
    VHOST_USER_PROTOCOL_F_LOG_SHMFD,	VHOST_USER_PROTOCOL_F_BACKEND_REQ,
    VHOST_USER_PROTOCOL_F_RESET_DEVICE, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS,
    VHOST_USER_PROTOCOL_F_STATUS,	VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS};

/* A feature word: bits picked by a mask (u16 for up to 16 bits), 0xffff + raw u64. */
static uint64_t pick_bits(struct in *in, const uint8_t *bits, size_t n)
{
	uint16_t mask = take16(in);
	uint64_t f = 0;

	if (mask == 0xffff)
		return take64(in);
	for (size_t i = 0; i < n && i < 16; i++)
		if (mask & (1u << i))
			f |= 1ull << bits[i];
	return f;
}

/*
 * Where each queue's areas live in guest memory (as make_seeds.py lays them
 * out): desc +0, driver/avail +0x1000, device/used +0x2000 of q * 0x4000.
 */
static uint64_t ring_uva(struct in *in, uint32_t q, unsigned area)
{
	static const int64_t tweak[] = {0, 0, 0, 1, 2, 4, -1, -2, 0x800, 0xffe, 0x1000, -0x1000};
	uint8_t s = take8(in);

	if (s >= 0xf0)
		return take64(in);
	if (s >= 0xe0)
		return UVA + GMEM_SIZE - 1 - (s & 0xf); /* the end of guest memory */
	return UVA + (uint64_t)(q & 0xf) * 0x4000 + area * 0x1000 +
	       (uint64_t)tweak[s % (sizeof(tweak) / sizeof(tweak[0]))];
}

/* One memory region of a table of n, number i. */
static void gen_region(struct in *in, struct vhost_user_memory_region *reg, unsigned i, unsigned n)
{
	uint8_t s = take8(in);
	uint64_t tile = n ? GMEM_SIZE / n / 4096 * 4096 : GMEM_SIZE;

	if (tile == 0)
		tile = 4096;
	switch (s & 3) {
	case 0: /* the guest memory split into n tiles */
		reg->guest_phys_addr = i * tile;
		reg->memory_size = tile;
		reg->userspace_addr = UVA + i * tile;
		reg->mmap_offset = i * tile;
		break;
	case 1: /* all of it, maybe again */
		reg->guest_phys_addr = 0;
		reg->memory_size = GMEM_SIZE;
		reg->userspace_addr = UVA;
		reg->mmap_offset = 0;
		break;
	case 2: /* a tile with a size or offset near the end of the fd */
		reg->guest_phys_addr = i * tile;
		reg->memory_size = PICK(in, memsz_tab);
		reg->userspace_addr = UVA + i * tile;
		reg->mmap_offset = PICK(in, memoff_tab);
		break;
	default:
		reg->guest_phys_addr = take64(in);
		reg->memory_size = take64(in);
		reg->userspace_addr = take64(in);
		reg->mmap_offset = take64(in);
		break;
	}
	/* Overlap the previous region in guest-physical or user space. */
	if (s & 4)
		reg->guest_phys_addr = reg->guest_phys_addr ? reg->guest_phys_addr - 4096 : 0;
	if (s & 8)
		reg->userspace_addr = UVA;
}

struct gen {
	struct reply m;
	uint32_t natural;   /* hdr.size that matches the payload */
	unsigned fds;	    /* fds the request carries */
	unsigned fd_kind;   /* their natural kind */
	uint64_t want_size; /* size a fresh inflight memfd should have */
};

/* Fill g->m.payload for request req with plausible values the input picks. */
static void gen_payload(struct in *in, uint32_t req, struct gen *g)
{
	union vhost_user_payload *p = &g->m.payload;
	unsigned n;

	g->natural = 0;
	g->fds = 0;
	g->fd_kind = FD_EVENT;
	switch (req) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_SET_OWNER:
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_RESET_DEVICE:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_STATUS:
	case VHOST_USER_POSTCOPY_ADVISE:
	case VHOST_USER_POSTCOPY_LISTEN:
	case VHOST_USER_POSTCOPY_END:
		break;
	case VHOST_USER_SET_FEATURES:
		p->u64 = pick_bits(in, feature_bits, sizeof(feature_bits));
		g->natural = 8;
		break;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		p->u64 = pick_bits(in, protocol_bits, sizeof(protocol_bits));
		g->natural = 8;
		break;
	case VHOST_USER_SET_MEM_TABLE:
		/* 0..9 regions: one more than the table holds. */
		n = take8(in) % (VHOST_USER_MEMORY_BASELINE_NREGIONS + 2);
		p->memory.nregions = n;
		for (unsigned i = 0; i < n && i < VHOST_USER_MEMORY_BASELINE_NREGIONS; i++)
			gen_region(in, &p->memory.regions[i], i, n);
		n = n < VHOST_USER_MEMORY_BASELINE_NREGIONS ? n
							    : VHOST_USER_MEMORY_BASELINE_NREGIONS;
		g->natural = (uint32_t)(offsetof(struct vhost_user_memory, regions) +
					n * sizeof(struct vhost_user_memory_region));
		g->fds = n;
		g->fd_kind = FD_GMEM;
		break;
	case VHOST_USER_ADD_MEM_REG:
	case VHOST_USER_REM_MEM_REG:
		/* u64 padding, then one region (vhost-user.rst "Single memory region description").
		 */
		p->u64 = 0;
		gen_region(in, (struct vhost_user_memory_region *)((uint8_t *)p + 8), 0, 1);
		g->natural = 8 + sizeof(struct vhost_user_memory_region);
		g->fds = 1;
		g->fd_kind = FD_GMEM;
		break;
	case VHOST_USER_SET_LOG_BASE:
		/* vhost-user.rst "Log description" (LOG_SHMFD): size, offset. */
		p->log.mmap_size = take64(in);
		p->log.mmap_offset = take64(in);
		g->natural = sizeof(p->log);
		g->fds = 1;
		g->fd_kind = FD_SMALL_MEMFD;
		break;
	case VHOST_USER_SET_LOG_FD:
	case VHOST_USER_SET_BACKEND_REQ_FD:
	case VHOST_USER_GPU_SET_SOCKET:
		g->fds = 1;
		g->fd_kind = req == VHOST_USER_SET_LOG_FD ? FD_EVENT : FD_SOCKET;
		break;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
	case VHOST_USER_SET_VRING_ENDIAN:
		p->state.index = (uint32_t)PICK(in, index_tab);
		if (req == VHOST_USER_SET_VRING_NUM)
			p->state.num = (uint32_t)PICK(in, num_tab);
		else if (req == VHOST_USER_SET_VRING_BASE)
			p->state.num = (uint32_t)PICK(in, base_tab);
		else if (req == VHOST_USER_SET_VRING_ENABLE)
			p->state.num = take8(in) % 4 == 3 ? take32(in) : 1;
		else
			p->state.num = take8(in) == 0xff ? take32(in) : 0;
		g->natural = sizeof(p->state);
		break;
	case VHOST_USER_SET_VRING_ADDR:
		p->addr.index = (uint32_t)PICK(in, index_tab);
		p->addr.flags = take8(in) == 0xff ? take32(in) : 0;
		p->addr.desc_user_addr = ring_uva(in, p->addr.index, 0);
		p->addr.avail_user_addr = ring_uva(in, p->addr.index, 1);
		p->addr.used_user_addr = ring_uva(in, p->addr.index, 2);
		p->addr.log_guest_addr = 0;
		g->natural = sizeof(p->addr);
		break;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
	case VHOST_USER_VRING_KICK: {
		uint8_t s = take8(in);

		p->u64 = PICK(in, index_tab) & VHOST_USER_VRING_IDX_MASK;
		if (s & 1)
			p->u64 |= VHOST_USER_VRING_NOFD_MASK;
		if (s & 2)
			p->u64 |= take64(in); /* unknown bits */
		g->natural = 8;
		g->fds = (p->u64 & VHOST_USER_VRING_NOFD_MASK) ? 0 : 1;
		break;
	}
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG: {
		uint32_t size;

		p->config.offset = (uint32_t)PICK(in, cfg_off_tab);
		p->config.size = size = (uint32_t)PICK(in, cfg_size_tab);
		p->config.flags = take8(in) % 4 == 3 ? take32(in) : 0;
		/*
		 * How a front end frames it: header + size bytes (up to the
		 * union), the whole struct vhost_user_config whatever the
		 * size, header + the bytes that fit the region, or the header
		 * alone. Sizes 257..260 put the first two 1..4 bytes apart.
		 */
		switch (take8(in) % 4) {
		case 0:
			g->natural = size <= sizeof(*p) - VHOST_USER_CONFIG_HDR_SIZE
					 ? (uint32_t)VHOST_USER_CONFIG_HDR_SIZE + size
					 : (uint32_t)sizeof(*p);
			break;
		case 1:
			g->natural = sizeof(struct vhost_user_config);
			break;
		case 2:
			g->natural =
			    (uint32_t)VHOST_USER_CONFIG_HDR_SIZE +
			    (size < VHOST_USER_MAX_CONFIG_SIZE ? size : VHOST_USER_MAX_CONFIG_SIZE);
			break;
		default:
			g->natural = VHOST_USER_CONFIG_HDR_SIZE;
			break;
		}
		/* The region: the device's own bytes would be boring; take them from the input. */
		take(in, p->config.region, take8(in));
		break;
	}
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_SET_INFLIGHT_FD: {
		uint8_t s;

		p->inflight.num_queues = (uint16_t)PICK(in, nq_tab);
		p->inflight.queue_size = (uint16_t)PICK(in, qs_tab);
		s = take8(in);
		/* The exact size of either layout (vhost-user.rst "Inflight I/O tracking"), or near
		 * it. */
		p->inflight.mmap_size = (uint64_t)p->inflight.num_queues *
					vq_dev_inflight_size_ring(p->inflight.queue_size, s & 1);
		if (s & 2)
			p->inflight.mmap_size += (int8_t)take8(in);
		if (s & 4)
			p->inflight.mmap_size = take64(in);
		p->inflight.mmap_offset = s & 8 ? PICK(in, memoff_tab) : 0;
		g->natural = sizeof(p->inflight);
		if (req == VHOST_USER_SET_INFLIGHT_FD) {
			g->fds = 1;
			g->fd_kind = FD_INFLIGHT;
			g->want_size = p->inflight.mmap_offset + p->inflight.mmap_size;
			if (g->want_size > (16u << 20))
				g->want_size = 4096;
		}
		break;
	}
	case VHOST_USER_SET_STATUS:
		p->u64 = take8(in);
		g->natural = 8;
		break;
	default: /* IOTLB, crypto, RARP, MTU, unknown: bytes of a size near a boundary */
		g->natural = (uint32_t)PICK(in, sizes_tab);
		if (g->natural > sizeof(*p))
			g->natural = sizeof(*p);
		take(in, p, g->natural);
		break;
	}
}

static bool expects_reply(uint32_t req)
{
	switch (req) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_STATUS:
		return true;
	}
	return false;
}

static void do_message(struct run *r, struct in *in, uint8_t op)
{
	struct vhost_user_msg wire;
	struct gen g;
	uint32_t req = op % NREQ;
	uint8_t mode, fdspec;
	unsigned nfds, kind;
	int fds[MAX_SEND_FDS];
	uint64_t size;

	memset(&g, 0, sizeof(g));
	if (req == NREQ - 1)
		req = take32(in);
	mode = take8(in);
	fdspec = take8(in);
	g.m.hdr.request = req;
	g.m.hdr.flags = VHOST_USER_VERSION | (mode & 1 ? VHOST_USER_NEED_REPLY_MASK : 0);
	if (mode & 0x10)
		g.m.hdr.flags = take32(in);
	gen_payload(in, req, &g);
	switch ((mode >> 2) & 3) {
	case 0:
		size = g.natural;
		break;
	case 1:
		size = PICK(in, sizes_tab);
		break;
	case 2:
		size = (uint64_t)((int64_t)g.natural + (int8_t)take8(in));
		break;
	default:
		size = take16(in);
		break;
	}
	g.m.hdr.size = (uint32_t)size;

	nfds = fdspec & 0xf ? (fdspec & 0xfu) - 1 : g.fds;
	if (nfds > MAX_SEND_FDS)
		nfds = MAX_SEND_FDS;
	kind = fdspec >> 4;
	for (unsigned i = 0; i < nfds; i++) {
		unsigned k = kind == FD_MIXED ? take8(in) % FD_MIXED : kind;

		fds[i] = make_fd(r, k == FD_NATURAL ? g.fd_kind : k, g.want_size);
		if (fds[i] < 0) {
			nfds = i;
			break;
		}
	}
	if (r->c.dead)
		return;
	r->sent[req_slot(req)]++;
	/*
	 * Requests that may change the config space once the server gets to
	 * them, possibly before we read an earlier GET_CONFIG's reply:
	 * SET_CONFIG, SET_FEATURES (virtio 1.3 §5.2.5.2: the negotiated
	 * FLUSH/CONFIG_WCE bits decide the initial `writeback`) and
	 * RESET_OWNER (it forgets the features, and with them writeback).
	 */
	if (req == VHOST_USER_SET_CONFIG || req == VHOST_USER_SET_FEATURES ||
	    req == VHOST_USER_RESET_OWNER)
		r->set_configs++;
	/*
	 * A GET_CONFIG the server will parse is answered (or the connection
	 * dropped): remember what it asked, for check_config_reply.
	 */
	if (req == VHOST_USER_GET_CONFIG && size <= sizeof(g.m.payload) &&
	    (g.m.hdr.flags & VHOST_USER_VERSION_MASK) == VHOST_USER_VERSION)
		r->cfg[r->cfg_tail++] = (struct cfg_ask){g.m.payload.config.offset,
							 g.m.payload.config.size, r->set_configs};
	/*
	 * The payload union is all the server reads; a larger size is refused
	 * from the header alone (sending the bytes would only block us).
	 */
	if (P.verbose)
		fprintf(stderr,
			"fuzz_vhost_seq: -> request %u flags %#x size %u, %u fds; as config: "
			"offset %u size %u; as u64 %#llx\n",
			req, g.m.hdr.flags, g.m.hdr.size, nfds, g.m.payload.config.offset,
			g.m.payload.config.size, (unsigned long long)g.m.payload.u64);
	memcpy(&wire.hdr, &g.m.hdr, sizeof(wire.hdr));
	memcpy(&wire.payload, &g.m.payload, sizeof(wire.payload));
	fuzz_vu_send(&r->c, &wire, sizeof(wire.hdr) + (size <= sizeof(wire.payload) ? size : 0),
		     fds, nfds);
	if (!(mode & 2) || expects_reply(req))
		barrier(r);
}

/* ------------------------------------------------------------------------ */
/* Control ops                                                              */

/* Fill a pipe write end we passed as a call/err fd: the server's next write would block. */
static void fill_pipe(struct run *r, uint8_t i)
{
	static const char junk[65536];

	if (r->npipew)
		fuzz_vu_write_nonblock(r->pipew[i % r->npipew], junk, sizeof(junk));
}

static void control_op(struct run *r, struct in *in, uint8_t op)
{
	switch ((op - MSG_OPS) % 8) {
	case 0: { /* kick one of our eventfds, or write into a pipe we passed */
		uint8_t i = take8(in);

		if (r->nev && !(i & 0x80))
			eventfd_write(r->evfd[i % r->nev], 1);
		else if (r->npipew)
			fuzz_vu_write_nonblock(r->pipew[i % r->npipew], "kickkick", 8);
		break;
	}
	case 1: { /* write guest memory */
		uint32_t off = take16(in) | (uint32_t)(take8(in) & 3) << 16;
		uint8_t len = take8(in);

		if (off + len > GMEM_SIZE)
			len = (uint8_t)(GMEM_SIZE - off);
		take(in, P.env.gmem + off, len);
		break;
	}
	case 2: { /* shrink a memfd the server may have mapped */
		static const off_t to[] = {0, 4096, GMEM_SIZE / 2, 16, 8192};
		uint8_t i = take8(in);

		barrier(r);
		if (r->nshrink)
			(void)!ftruncate(r->shrink[i % r->nshrink], to[(i >> 4) % 5]);
		break;
	}
	case 3:
		fill_pipe(r, take8(in));
		break;
	case 4:
		barrier(r);
		break;
	case 5:
		fuzz_vu_second_client(&P.env);
		break;
	case 6: /* close our pipe write ends: the server's read ends are at EOF */
		for (unsigned i = 0; i < r->c.nown; i++)
			for (unsigned j = 0; j < r->npipew; j++)
				if (r->c.own[i] == r->pipew[j]) {
					close(r->c.own[i]);
					r->c.own[i] = -1;
				}
		r->npipew = 0;
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blk_dev_opts dopts = {
	    .serial = "fuzz-seq", .num_queues = NUM_QUEUES, .queue_size = 256};
	struct in in = {data, size};
	struct run *r;

	setup_once();
	r = calloc(1, sizeof(*r));
	if (!r)
		DIE("calloc");
	r->inflight_fd = -1;
	r->c.drain = drain;
	fuzz_vu_start(&r->c, &P.env, &dopts);
	for (unsigned steps = 0; in.n > 0 && !r->c.dead && steps < MAX_STEPS; steps++) {
		uint8_t op = take8(&in);

		if (op < MSG_OPS)
			do_message(r, &in, op);
		else
			control_op(r, &in, op);
	}
	fuzz_vu_finish(&r->c);
	free(r);
	return 0;
}
