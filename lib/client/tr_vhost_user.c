/* SPDX-License-Identifier: MIT */
/*
 * libvblk's vhost-user transport: the device is a back end on a unix
 * socket (QEMU vhost-user.rst). Memory is one memfd shared with
 * SET_MEM_TABLE, rings are started with the SET_VRING_* messages,
 * notifications are eventfds in both directions, and the socket hanging up
 * is the device going away.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vblk/spec/vhost_user.h>

#include "client.h"

static int vu_open(struct vblk *dev, const char *target, struct vblk_options *o, uint64_t *acked)
{
	int ret = vu_client_connect(&dev->vu, target, o->timeout_ms);

	if (ret == -ETIMEDOUT) {
		client_set_error(o, "cannot connect to %s: its listen queue stayed full for %u ms",
				 target, dev->vu.timeout_ms);
		return ret;
	}
	if (ret) {
		client_set_error(o, "cannot connect to %s: %s", target, strerror(-ret));
		return ret;
	}
	return client_negotiate(dev, o, acked);
}

static int vu_map(struct vblk *dev)
{
	struct vu_client_region r;
	int ret;

	dev->memfd = memfd_create("vblk", MFD_CLOEXEC);
	if (dev->memfd < 0 || ftruncate(dev->memfd, (off_t)dev->mem_size) < 0) {
		ret = -errno;
		client_set_error(&dev->opts, "cannot create shared memory: %s", strerror(-ret));
		return ret;
	}
	dev->mem = mmap(NULL, dev->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->memfd, 0);
	if (dev->mem == MAP_FAILED) {
		dev->mem = NULL;
		ret = -errno;
		client_set_error(&dev->opts, "cannot map shared memory: %s", strerror(-ret));
		return ret;
	}
	r = (struct vu_client_region){
	    .gpa = CLIENT_GPA_BASE,
	    .size = dev->mem_size,
	    .uva = (uintptr_t)dev->mem,
	    .mmap_offset = 0,
	    .fd = dev->memfd,
	};
	ret = vu_client_set_mem_table(&dev->vu, &r, 1);
	if (ret)
		client_set_vu_error(dev, "sharing memory with the back end", ret);
	return ret;
}

static int vu_start_queue(struct vblk *dev, struct vblk_queue *q, unsigned num)
{
	struct vu_client *c = &dev->vu;
	unsigned i = q->index;
	int ret;

	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->kick_fd < 0)
		return -errno;
	ret = vu_client_set_vring_num(c, i, num);
	/*
	 * vhost-user.rst "Vring descriptor indices for packed virtqueues": a
	 * fresh packed ring starts at position 0 with both wrap counters 1.
	 */
	if (!ret)
		ret = vu_client_set_vring_base(c, i, dev->packed ? VQ_PACKED_BASE_INIT : 0);
	if (!ret)
		ret = vu_client_set_vring_addr(c, i, (uintptr_t)(dev->mem + q->off_desc),
					       (uintptr_t)(dev->mem + q->off_avail),
					       (uintptr_t)(dev->mem + q->off_used));
	/* Call before kick: the back end starts the ring when it gets the kick fd. */
	if (!ret)
		ret = vu_client_set_vring_call(c, i, q->call_fd);
	if (!ret)
		ret = vu_client_set_vring_kick(c, i, q->kick_fd);
	if (!ret)
		q->started = true;
	/* vhost-user.rst: with PROTOCOL_FEATURES rings start disabled. */
	if (!ret)
		ret = vu_client_set_vring_enable(c, i, true);
	if (ret) {
		char what[48];
		snprintf(what, sizeof(what), "setting up queue %u", i);
		client_set_vu_error(dev, what, ret);
	}
	return ret;
}

static int vu_notify(struct vblk_queue *q)
{
	uint64_t one = 1;

	/* A full eventfd counter (EAGAIN) still means "readable": the kick is not lost. */
	if (write(q->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

/*
 * The back end sends nothing on its own once we are set up (we negotiate no
 * back-end request channel), so the socket becoming readable (EOF, or a
 * message nobody asked for) or hung up means it is gone.
 */
static bool vu_gone(struct vblk *dev, bool probe)
{
	struct pollfd pfd = {.fd = dev->vu.sock, .events = POLLIN | POLLRDHUP};

	return probe && poll(&pfd, 1, 0) > 0;
}

static int vu_wait(struct vblk_queue *q, int timeout_ms)
{
	/* The socket too: a back end that hangs up completes nothing more. */
	struct pollfd pfd[2] = {
	    {.fd = q->call_fd, .events = POLLIN},
	    {.fd = q->dev->vu.sock, .events = POLLIN | POLLRDHUP},
	};
	int n = poll(pfd, 2, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 1 : -errno;
	if (n > 0 && pfd[1].revents)
		return -ENOTCONN;
	return n > 0;
}

/*
 * A request missed its deadline: hang up, so that the back end sees the
 * front end go and stops its rings; gone() reports it from then on. We
 * cannot take back the memory it mapped (its own mapping of our memfd): a
 * back end that is stuck rather than dead may still write the buffers of
 * the failed requests when it wakes, until vblk_close() unmaps ours.
 * Several queue threads may call it at once: a second shutdown is harmless.
 */
static void vu_abandon(struct vblk *dev)
{
	if (dev->vu.sock >= 0)
		(void)shutdown(dev->vu.sock, SHUT_RDWR);
}

static void vu_close(struct vblk *dev)
{
	for (unsigned i = 0; dev->queues && i < dev->nqueues; i++) {
		struct vblk_queue *q = &dev->queues[i];
		unsigned base;
		int ret;
		/*
		 * vhost-user.rst: GET_VRING_BASE stops the ring before we unmap
		 * it; a back end that hung up has nothing left to stop. One that
		 * does not answer costs one deadline: the client then fails the
		 * remaining requests at once (vu_client.h), and our unmap cannot
		 * hurt it (it has its own mapping of the memfd).
		 */
		if (!q->started || dev->vu.sock < 0 || dev->vu.dead ||
		    atomic_load(&dev->disconnected))
			continue;
		ret = vu_client_get_vring_base(&dev->vu, i, &base);
		if (ret)
			client_log(dev, VBLK_MSG_WARNING, "closing queue %u: %s", i,
				   dev->vu.err[0] ? dev->vu.err : strerror(-ret));
		if (dev->vu.dead)
			break;
	}
	vu_client_close(&dev->vu);
	for (unsigned i = 0; dev->queues && i < dev->nqueues; i++)
		if (dev->queues[i].kick_fd >= 0)
			close(dev->queues[i].kick_fd);
}

const struct client_transport client_transport_vhost_user = {
    .name = "back end",
    .gone_msg = "the back end closed the connection: requests it did not complete "
		"fail with ENOTCONN",
    .open = vu_open,
    .map = vu_map,
    .start_queue = vu_start_queue,
    .notify = vu_notify,
    .gone = vu_gone,
    .wait = vu_wait,
    .abandon = vu_abandon,
    .close = vu_close,
};
