/* SPDX-License-Identifier: MIT */
/*
 * The PCI transport for an asynchronous caller that sleeps in poll() on
 * vblk_queue_fd(), against a fake virtio-blk device run by a thread:
 * registers in memory (PCI_MMIO_HOOK), the command register in a file
 * standing in for sysfs config, and /dev/uioN played by PCI_UIO_OPEN (a
 * socket per open file that reads 4 bytes per interrupt, as uio does).
 *
 *  - INTx, two queues sharing the line, with and without EVENT_IDX: one
 *    thread on both fds, then one thread per queue, complete many requests;
 *    a poll() that sleeps 5 s with requests outstanding is a lost wake-up.
 *    INTx starts masked by an interrupt nobody counted (before the queues
 *    opened /dev/uioN): DRIVER_OK must not leave it so.
 *  - Polling (no interrupts): the fd is readable while requests are
 *    pending and not when the queue is idle.
 *  - A device that stops completing: after the deadline the requests of
 *    both queues fail with ETIMEDOUT (vblk_queue_poll from a poll() loop,
 *    and vblk_queue_wait with no timeout) and the device is reset.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "test.h"

static void fake_device(volatile uint8_t *p, bool write);
static int fake_uio_open(void);
#define PCI_MMIO_HOOK(p, write) fake_device((p), (write))
#define PCI_UIO_OPEN(pci)	fake_uio_open()

#include "../../lib/client/open.c"
#include "../../lib/client/tr_pci.c"
#include "pci_fake_regs.h"

#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#define NUM	 16u /* ring entries */
#define NQ	 2u
#define DEPTH	 24u /* requests outstanding per queue: more than the ring, the FIFO runs */
#define MEM_SIZE (1u << 20)

static uint8_t bar[0x4000] __attribute__((aligned(4096)));

#define FIELD(f) offsetof(struct virtio_pci_common_cfg, f)

/* The device's state; the lock orders its thread against a reset. */
static struct {
	pthread_mutex_t lock;
	int cfg_fd;	 /* the command register lives here, as in sysfs config */
	int listener[8]; /* our end of each "open file" of /dev/uioN */
	unsigned nlisten;
	atomic_uint isr;     /* §4.1.4.5: bit 0, queue interrupt; the line is asserted while set */
	atomic_bool stalled; /* completes nothing */
	atomic_bool stop;
	bool event_idx;	     /* offer VIRTIO_F_EVENT_IDX */
	unsigned interrupts; /* raised (for the report) */
	struct {
		bool enabled;
		uint16_t num, last_avail, used_idx;
		uint64_t desc, avail, used;
	} q[NQ];
	uint8_t *mem;
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t reg64(size_t off)
{
	uint64_t lo = vblk_le32_to_cpu(*(volatile uint32_t *)(void *)(bar + off));
	uint64_t hi = vblk_le32_to_cpu(*(volatile uint32_t *)(void *)(bar + off + 4));

	return lo | hi << 32;
}

/* The register side of the device, run in the driver's thread. */
static void fake_device(volatile uint8_t *p, bool write)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)bar;

	if (off == 0x2000 && !write) {
		/*
		 * §4.1.4.5: reading the ISR returns it and clears it (deasserts
		 * INTx), atomically with the handler's look at the line.
		 */
		pthread_mutex_lock(&fake.lock);
		*p = (uint8_t)atomic_exchange(&fake.isr, 0);
		pthread_mutex_unlock(&fake.lock);
		return;
	}
	if (off >= 0x100)
		return;
	if (!write && off == FIELD(device_feature)) {
		uint32_t sel = vblk_le32_to_cpu(
		    *(volatile uint32_t *)(void *)(bar + FIELD(device_feature_select)));
		uint32_t lo = 1u << VIRTIO_BLK_F_FLUSH | 1u << VIRTIO_BLK_F_MQ |
			      (fake.event_idx ? 1u << VIRTIO_F_EVENT_IDX : 0);
		*(volatile uint32_t *)(void *)p = vblk_cpu_to_le32(sel ? 1u : lo);
	} else if (write && off == FIELD(queue_enable)) {
		unsigned sel =
		    vblk_le16_to_cpu(*(volatile uint16_t *)(void *)(bar + FIELD(queue_select)));
		CHECK(sel < NQ);
		pthread_mutex_lock(&fake.lock);
		fake.q[sel].num =
		    vblk_le16_to_cpu(*(volatile uint16_t *)(void *)(bar + FIELD(queue_size)));
		fake.q[sel].desc = reg64(FIELD(queue_desc));
		fake.q[sel].avail = reg64(FIELD(queue_driver));
		fake.q[sel].used = reg64(FIELD(queue_device));
		fake.q[sel].last_avail = fake.q[sel].used_idx = 0;
		fake.q[sel].enabled = true;
		pthread_mutex_unlock(&fake.lock);
	} else if (write && off == FIELD(device_status) && *p == 0) {
		/* Reset: once it reads 0, the device touches our memory no more. */
		pthread_mutex_lock(&fake.lock);
		for (unsigned i = 0; i < NQ; i++)
			fake.q[i].enabled = false;
		atomic_store(&fake.isr, 0);
		pthread_mutex_unlock(&fake.lock);
	}
}

/* An "open file" of /dev/uioN: 4 bytes readable after an interrupt. */
static int fake_uio_open(void)
{
	int sv[2];

	CHECK(fake.nlisten < ARRAY_SIZE(fake.listener));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	fake.listener[fake.nlisten++] = sv[1];
	return sv[0];
}

static void *guest(uint64_t addr, size_t len)
{
	CHECK(addr >= CLIENT_GPA_BASE && addr - CLIENT_GPA_BASE + len <= MEM_SIZE);
	return fake.mem + (addr - CLIENT_GPA_BASE);
}

/* Complete every available request of queue i (status OK); 1 if it wants an interrupt. */
static bool complete_all(unsigned i)
{
	struct virtq_avail *avail = guest(fake.q[i].avail, virtq_avail_size(fake.q[i].num));
	struct virtq_used *used = guest(fake.q[i].used, virtq_used_size(fake.q[i].num));
	struct virtq_desc *desc = guest(fake.q[i].desc, virtq_desc_size(fake.q[i].num));
	uint16_t num = fake.q[i].num, old = fake.q[i].used_idx;
	uint16_t avail_idx = vblk_le16_to_cpu(
	    atomic_load_explicit((_Atomic uint16_t *)(void *)&avail->idx, memory_order_acquire));

	while (fake.q[i].last_avail != avail_idx) {
		uint16_t head = vblk_le16_to_cpu(avail->ring[fake.q[i].last_avail++ % num]),
			 d = head;
		unsigned hops = 0;
		/* The status byte is the last (device-writable) descriptor of the chain. */
		while (vblk_le16_to_cpu(desc[d].flags) & VIRTQ_DESC_F_NEXT) {
			d = vblk_le16_to_cpu(desc[d].next);
			CHECK(d < num && ++hops < num);
		}
		CHECK(vblk_le16_to_cpu(desc[d].flags) & VIRTQ_DESC_F_WRITE);
		*(uint8_t *)guest(vblk_le64_to_cpu(desc[d].addr), 1) = VIRTIO_BLK_S_OK;
		used->ring[fake.q[i].used_idx % num].id = vblk_cpu_to_le32(head);
		used->ring[fake.q[i].used_idx % num].len = vblk_cpu_to_le32(1);
		fake.q[i].used_idx++;
	}
	if (old == fake.q[i].used_idx)
		return false;
	/* §2.7.13: the used elements before the index that publishes them. */
	atomic_store_explicit((_Atomic uint16_t *)(void *)&used->idx,
			      vblk_cpu_to_le16(fake.q[i].used_idx), memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	/* §2.7.10: suppression by used_event (EVENT_IDX) or the avail flags. */
	if (fake.event_idx)
		return virtq_need_event(vblk_le16_to_cpu(*virtq_used_event(avail, num)),
					fake.q[i].used_idx, old);
	return !(vblk_le16_to_cpu(avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/*
 * uio_pci_generic's handler: the line is asserted (ISR set) and INTx not
 * disabled: disable it and count an event on every open file (uio keeps
 * one count per file; an unread one is not repeated).
 */
static void raise_intx(void)
{
	uint16_t cmd;
	uint32_t one = 1;

	if (!atomic_load(&fake.isr) || pread(fake.cfg_fd, &cmd, 2, PCI_CFG_COMMAND) != 2 ||
	    (vblk_le16_to_cpu(cmd) & PCI_CMD_INTX_DISABLE))
		return;
	cmd = vblk_cpu_to_le16((uint16_t)(vblk_le16_to_cpu(cmd) | PCI_CMD_INTX_DISABLE));
	CHECK(pwrite(fake.cfg_fd, &cmd, 2, PCI_CFG_COMMAND) == 2);
	fake.interrupts++;
	for (unsigned i = 0; i < fake.nlisten; i++) {
		int unread = 0;
		if (ioctl(fake.listener[i], SIOCOUTQ, &unread) < 0 || unread == 0)
			(void)!write(fake.listener[i], &one, sizeof(one));
	}
}

static void *device_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&fake.stop)) {
		struct timespec ts = {0, 20000};
		pthread_mutex_lock(&fake.lock);
		for (unsigned i = 0; i < NQ; i++)
			if (fake.q[i].enabled && !atomic_load(&fake.stalled) && complete_all(i))
				atomic_fetch_or(&fake.isr, 1u);
		raise_intx();
		pthread_mutex_unlock(&fake.lock);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* A live device of NQ queues over bar and an anonymous mapping, as vblk_open builds it. */
static struct vblk *start(bool intx, bool event_idx, unsigned io_timeout_ms, pthread_t *thread)
{
	struct vblk *dev = calloc(1, sizeof(*dev));
	struct client_pci *pci = calloc(1, sizeof(*pci));
	uint8_t zero[PCI_CFG_SIZE] = {0};
	struct vblk_options o = {.num_queues = NQ, .queue_size = NUM};
	char path[] = "/tmp/vblk-pci-async.XXXXXX";
	uint64_t acked;
	size_t off = 0;

	CHECK(dev && pci);
	memset(bar, 0, sizeof(bar));
	fake.event_idx = event_idx;
	fake.nlisten = 0;
	atomic_store(&fake.stalled, false);
	atomic_store(&fake.stop, false);
	atomic_store(&fake.isr, 0);
	fake.cfg_fd = mkstemp(path);
	CHECK(fake.cfg_fd >= 0);
	unlink(path);
	CHECK(pwrite(fake.cfg_fd, zero, sizeof(zero), 0) == sizeof(zero));

	pthread_mutex_init(&dev->alloc_lock, NULL);
	dev->tr = &client_transport_pci;
	dev->memfd = -1;
	dev->pci = pci;
	pci->cfg_fd = fake.cfg_fd;
	pci->timeout_ms = 2000;
	if (intx)
		snprintf(pci->uio_path, sizeof(pci->uio_path), "/dev/uio-fake");
	pci_fake_regions(pci, bar, NQ);
	dev->fd_level = !intx;
	dev->io_timeout_ms = io_timeout_ms;
	{
		/* As vblk_open: the deadline is read on a coarse clock, a tick of slack. */
		struct timespec res;
		CHECK_EQ(clock_getres(CLOCK_MONOTONIC_COARSE, &res), 0);
		dev->clock_slack_ms = (unsigned)(res.tv_nsec / 1000000 + 1);
	}
	dev->opts = o;
	CHECK_EQ(init_device(dev, &o, &acked), 0);
	CHECK_EQ(!!(acked & VIRTIO_BIT(VIRTIO_F_EVENT_IDX)), event_idx);

	dev->queues = alloc_queues(NQ);
	CHECK(dev->queues);
	dev->nqueues = NQ;
	for (unsigned i = 0; i < NQ; i++) {
		struct vblk_queue *q = &dev->queues[i];
		q->dev = dev;
		q->index = i;
		q->kick_fd = q->call_fd = q->irq_fd = q->wake_fd = -1;
		q->nreqs = 2 * NUM;
		layout_queue(q, NUM, false, false, &off);
	}
	CHECK(off <= MEM_SIZE);
	dev->mem_size = MEM_SIZE;
	dev->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(dev->mem != MAP_FAILED);
	fake.mem = dev->mem;
	for (unsigned i = 0; i < NQ; i++) {
		CHECK_EQ(setup_queue_mem(dev, &dev->queues[i], NUM, event_idx, false), 0);
		CHECK_EQ(pci_start_queue(dev, &dev->queues[i], NUM), 0);
		CHECK(intx == (dev->queues[i].irq_fd >= 0));
		CHECK(vblk_queue_fd(&dev->queues[i]) >= 0);
	}
	if (intx) {
		/* An interrupt before the queues' uio files were open: masked, counted nowhere. */
		uint16_t cmd = vblk_cpu_to_le16(PCI_CMD_INTX_DISABLE);
		CHECK(pwrite(fake.cfg_fd, &cmd, 2, PCI_CFG_COMMAND) == 2);
	}
	CHECK_EQ(pci_go_live(dev), 0);
	CHECK_EQ(pthread_create(thread, NULL, device_thread, NULL), 0);
	return dev;
}

static void stop(struct vblk *dev, pthread_t thread)
{
	atomic_store(&fake.stop, true);
	pthread_join(thread, NULL);
	for (unsigned i = 0; i < fake.nlisten; i++)
		close(fake.listener[i]);
	vblk_close(dev); /* closes cfg_fd */
}

struct loop {
	struct vblk_queue *q[NQ];
	unsigned nq, total; /* requests to complete on each queue */
	unsigned sleeps;    /* poll() calls that slept */
};

/*
 * An event loop: keep DEPTH requests outstanding on each of its queues,
 * sleep in poll() on their fds, reap the queues whose fd woke. Fails on a
 * poll() that finds nothing in 5 s while requests are outstanding.
 */
static void *event_loop(void *arg)
{
	struct loop *l = arg;
	unsigned sent[NQ] = {0}, done[NQ] = {0}, left = l->nq;

	while (left) {
		struct pollfd pfd[NQ];
		for (unsigned i = 0; i < l->nq; i++) {
			while (sent[i] < l->total && vblk_queue_pending(l->q[i]) < DEPTH) {
				CHECK_EQ(vblk_queue_flush(l->q[i], (void *)(uintptr_t)sent[i]), 0);
				sent[i]++;
			}
			pfd[i] = (struct pollfd){.fd = vblk_queue_fd(l->q[i]), .events = POLLIN};
		}
		int n = poll(pfd, l->nq, 5000);
		if (n == 0) {
			fprintf(stderr, "lost wake-up: %u/%u and %u/%u done, %u and %u pending\n",
				done[0], l->total, done[l->nq - 1], l->total,
				vblk_queue_pending(l->q[0]), vblk_queue_pending(l->q[l->nq - 1]));
			exit(1);
		}
		CHECK(n > 0);
		l->sleeps++;
		for (unsigned i = 0; i < l->nq; i++) {
			struct vblk_completion c[8];
			if (!pfd[i].revents)
				continue;
			CHECK_EQ(pfd[i].revents, POLLIN);
			n = vblk_queue_poll(l->q[i], c, ARRAY_SIZE(c));
			CHECK(n >= 0);
			for (int k = 0; k < n; k++) {
				CHECK_EQ(c[k].ret, 0);
				/* In order: one queue, one FIFO, a device that completes in order.
				 */
				CHECK_EQ((uintptr_t)c[k].user_data, done[i]);
				done[i]++;
			}
			if (done[i] == l->total && n > 0)
				left--;
		}
	}
	return NULL;
}

static void run_intx(bool event_idx, bool threads)
{
	unsigned total = threads ? 3000 : 5000;
	pthread_t dt, t[NQ];
	struct vblk *dev = start(true, event_idx, 0, &dt);
	struct loop l[NQ];

	memset(l, 0, sizeof(l));

	if (threads) {
		for (unsigned i = 0; i < NQ; i++) {
			l[i] = (struct loop){.q = {&dev->queues[i]}, .nq = 1, .total = total};
			CHECK_EQ(pthread_create(&t[i], NULL, event_loop, &l[i]), 0);
		}
		for (unsigned i = 0; i < NQ; i++)
			pthread_join(t[i], NULL);
	} else {
		l[0] = (struct loop){
		    .q = {&dev->queues[0], &dev->queues[1]}, .nq = NQ, .total = total};
		event_loop(&l[0]);
	}
	printf("INTx%s, %s: %u requests per queue, %u interrupts, %u sleeps\n",
	       event_idx ? " + EVENT_IDX" : "", threads ? "a thread per queue" : "one thread",
	       total, fake.interrupts, l[0].sleeps + (threads ? l[1].sleeps : 0));
	CHECK(fake.interrupts > 0);
	/* Idle and drained: no fd is readable (uio's count was read, the ISR acknowledged). */
	for (unsigned i = 0; i < NQ; i++) {
		struct vblk_completion c;
		CHECK_EQ(vblk_queue_poll(&dev->queues[i], &c, 1), 0);
	}
	for (unsigned i = 0; i < NQ; i++) {
		struct pollfd pfd = {.fd = vblk_queue_fd(&dev->queues[i]), .events = POLLIN};
		CHECK_EQ(poll(&pfd, 1, 50), 0);
	}
	stop(dev, dt);
}

static void run_polling(void)
{
	pthread_t dt;
	struct vblk *dev = start(false, false, 0, &dt);
	struct loop l = {.q = {&dev->queues[0], &dev->queues[1]}, .nq = NQ, .total = 2000};
	struct pollfd pfd = {.fd = vblk_queue_fd(&dev->queues[0]), .events = POLLIN};
	struct vblk_completion c;

	/* Idle: not readable, so an idle event loop sleeps. */
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	event_loop(&l);
	printf("polling: %u requests per queue, %u poll() calls\n", l.total, l.sleeps);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	/* Pending: readable at once, though the device has not completed it yet. */
	atomic_store(&fake.stalled, true);
	CHECK_EQ(vblk_queue_flush(&dev->queues[0], NULL), 0);
	CHECK_EQ(poll(&pfd, 1, 0), 1);
	CHECK_EQ(vblk_queue_poll(&dev->queues[0], &c, 1), 0);
	CHECK_EQ(poll(&pfd, 1, 0), 1);
	atomic_store(&fake.stalled, false);
	while (vblk_queue_poll(&dev->queues[0], &c, 1) == 0)
		CHECK_EQ(poll(&pfd, 1, 1000), 1);
	CHECK_EQ(c.ret, 0);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	stop(dev, dt);
}

static uint64_t ms_since(uint64_t t0)
{
	return now_ms() - t0;
}

/*
 * A device that stops completing, 300 ms deadline: every request of both
 * queues fails with ETIMEDOUT, no earlier than the deadline and within
 * bounds, the device is reset, and the queues report ETIMEDOUT after.
 */
static void run_deadline(bool intx)
{
	pthread_t dt;
	struct vblk *dev = start(intx, false, 300, &dt);
	struct vblk_queue *q0 = &dev->queues[0], *q1 = &dev->queues[1];
	struct vblk_completion c[32];
	unsigned failed[NQ] = {0};
	uint64_t t0;
	int n;

	atomic_store(&fake.stalled, true);
	t0 = now_ms();
	for (unsigned i = 0; i < 20; i++) {
		CHECK_EQ(vblk_queue_flush(q0, NULL), 0);
		CHECK_EQ(vblk_queue_flush(q1, NULL), 0);
	}
	if (intx) {
		/* vblk_queue_wait with no timeout wakes for the deadline. */
		n = vblk_queue_wait(q0, c, ARRAY_SIZE(c), -1);
		CHECK_EQ(n, 20);
		failed[0] = 20;
		for (int k = 0; k < n; k++)
			CHECK_EQ(c[k].ret, -ETIMEDOUT);
	}
	/* An event loop: poll() with a timeout, then vblk_queue_poll on each queue. */
	while (failed[0] + failed[1] < 40) {
		struct pollfd pfd[NQ] = {{.fd = vblk_queue_fd(q0), .events = POLLIN},
					 {.fd = vblk_queue_fd(q1), .events = POLLIN}};
		CHECK(ms_since(t0) < 20000);
		(void)poll(pfd, NQ, intx ? 100 : 0);
		for (unsigned i = 0; i < NQ; i++) {
			if (failed[i] == 20)
				continue;
			n = vblk_queue_poll(&dev->queues[i], c, ARRAY_SIZE(c));
			CHECK(n >= 0);
			for (int k = 0; k < n; k++)
				CHECK_EQ(c[k].ret, -ETIMEDOUT);
			failed[i] += (unsigned)n;
		}
	}
	printf("deadline (%s): 40 requests failed with ETIMEDOUT after %llu ms\n",
	       intx ? "INTx" : "polling", (unsigned long long)ms_since(t0));
	CHECK(ms_since(t0) >= 300);
	CHECK_EQ(failed[0], 20);
	CHECK_EQ(failed[1], 20);
	CHECK(dev->pci->reset);
	CHECK_EQ(rd8(COMMON(dev->pci, device_status)), 0);
	CHECK_EQ(vblk_queue_poll(q0, c, 1), -ETIMEDOUT);
	CHECK_EQ(vblk_queue_poll(q1, c, 1), -ETIMEDOUT);
	CHECK_EQ(vblk_queue_flush(q0, NULL), -ENOTCONN);
	stop(dev, dt);
}

int main(void)
{
	run_intx(false, false);
	run_intx(true, false);
	run_intx(false, true);
	run_intx(true, true);
	run_polling();
	run_deadline(false);
	run_deadline(true);
	return 0;
}
