/* SPDX-License-Identifier: MIT */
/*
 * RBD backend on librbd's asynchronous API (rbd_aio_readv/writev straight
 * from the caller's iovecs, rbd_aio_flush, rbd_aio_discard,
 * rbd_aio_write_zeroes).
 *
 * One image handle for the whole backend, shared by the queues: librbd is
 * thread-safe per handle, and two handles in one process are two lock
 * owners, which on an image with the exclusive-lock feature (rbd create's
 * default) pass the lock back and forth on every write of either queue.
 * Because the handle is shared, librbd's per-image event socket
 * (rbd_set_image_notification) cannot tell whose completion is whose; each
 * request's completion callback instead records the result in its queue's
 * done ring under the queue's lock and bumps the queue's eventfd, which is
 * queue_fd(). reap() then calls done() on the queue's thread. No polling
 * loop and no thread per request: librbd's own threads run the callbacks.
 *
 * Write durability: with librbd's cache on (rbd_cache, the default) a write
 * completes once cached; a write with BE_IO_F_FUA is followed by
 * rbd_aio_flush before it is reported, so writethrough means every write is
 * in RADOS on completion. With the cache off (rbd_cache=false in the
 * configuration or the spec) librbd completes a write only once RADOS has
 * it, and no flush is added.
 *
 * Size: with be_opts.size_changed, an rbd_update_watch on the image header
 * tells the owner of every header update (`rbd resize` by another client);
 * resize(0) then reads the size librbd refreshed.
 */
#include "be_rbd.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal/compiler.h"
#include "internal/log.h"

struct rbd_be {
	struct be base;
	rados_t cluster;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	bool cache; /* librbd's cache is on: FUA writes need a flush */
	char *name; /* the spec, for messages */
	/* be_opts.size_changed, called on each update of the image header */
	void (*size_changed)(void *arg);
	void *size_changed_arg;
	uint64_t watch; /* rbd_update_watch's handle */
	bool watching;
	/*
	 * resize(0) found the image header gone (the image deleted under us).
	 * librbd counts that failed refresh as done and would let the next
	 * writes create data objects of a deleted image: fail them instead.
	 */
	atomic_bool gone;
};

struct rbd_req {
	struct rbd_queue *q;
	struct be_io *io;
	bool flushing; /* the write is done; its FUA flush runs */
	int res;       /* set by rbd_finish() */
	unsigned next_free;
};

struct rbd_queue {
	struct be_queue base;
	struct rbd_be *rbe;
	struct rbd_req *reqs;
	unsigned depth, free_head;
	int efd;
	pthread_mutex_t lock; /* protects done*: librbd's threads push, ours takes */
	unsigned *done;	      /* ring of finished slots (indices in reqs), depth places */
	unsigned done_head, done_cnt;
	unsigned *ready; /* reap's copy of done, handled outside the lock */
};

/* Where the pieces of an "rbd:" spec go; strings point into buf. */
struct rbd_spec {
	char *buf;
	const char *pool, *ns, *image, *snap;
	char *opts; /* "key=value:key=value...", or NULL */
};

/*
 * Split "POOL/[NS/]IMAGE[@SNAP][:OPTS]" (after "rbd:"). Returns 0 or -EINVAL
 * (logged).
 */
static int rbd_spec_parse(const char *spec, struct rbd_spec *s)
{
	char *colon, *slash, *at;

	memset(s, 0, sizeof(*s));
	s->buf = strdup(spec + 4);
	if (!s->buf)
		return -ENOMEM;
	colon = strchr(s->buf, ':');
	if (colon) {
		*colon = '\0';
		s->opts = colon + 1;
	}
	at = strchr(s->buf, '@');
	if (at) {
		*at = '\0';
		s->snap = at + 1;
	}
	slash = strchr(s->buf, '/');
	if (!slash)
		goto err;
	*slash = '\0';
	s->pool = s->buf;
	s->image = slash + 1;
	slash = strchr(slash + 1, '/');
	if (slash) {
		*slash = '\0';
		s->ns = s->image;
		s->image = slash + 1;
	}
	if (!*s->pool || !*s->image || (s->ns && !*s->ns) || strchr(s->image, '/') ||
	    (s->snap && !*s->snap))
		goto err;
	return 0;
err:
	log_err("rbd: '%s': want rbd:POOL/[NAMESPACE/]IMAGE[@SNAP][:conf=PATH][:id=USER]"
		"[:keyring=PATH]",
		spec);
	free(s->buf);
	s->buf = NULL;
	return -EINVAL;
}

/* Apply ":conf=...:id=...:keyring=...:OPTION=VALUE" to an unconnected cluster handle. */
static int rbd_apply_opts(rados_t cluster, char *opts, const char *spec)
{
	char *save = NULL, *tok;
	int ret;

	for (tok = opts ? strtok_r(opts, ":", &save) : NULL; tok;
	     tok = strtok_r(NULL, ":", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq || eq == tok) {
			log_err("rbd: %s: option '%s' is not KEY=VALUE", spec, tok);
			return -EINVAL;
		}
		*eq = '\0';
		if (!strcmp(tok, "id"))
			continue; /* used by rados_create() */
		if (!strcmp(tok, "conf"))
			ret = rados_conf_read_file(cluster, eq + 1);
		else
			ret = rados_conf_set(cluster, tok, eq + 1);
		if (ret < 0) {
			log_err("rbd: %s: %s=%s: %s", spec, tok, eq + 1, strerror(-ret));
			return ret;
		}
		*eq = '=';
	}
	return 0;
}

/* The value of id= among opts (not modified), copied to buf; NULL if absent. */
static const char *rbd_find_id(const char *opts, char *buf, size_t len)
{
	const char *p = opts;

	while (p && *p) {
		if (!strncmp(p, "id=", 3)) {
			size_t n = strcspn(p + 3, ":");

			if (n >= len)
				n = len - 1;
			memcpy(buf, p + 3, n);
			buf[n] = '\0';
			return buf;
		}
		p = strchr(p, ':');
		if (p)
			p++;
	}
	return NULL;
}

static int rbd_connect(struct rbd_be *rbe, struct rbd_spec *s, unsigned timeout_ms)
{
	char id[128], secs[32];
	const char *timeouts[] = {"rados_osd_op_timeout", "rados_mon_op_timeout",
				  "client_mount_timeout"};
	int ret;

	ret = rados_create(&rbe->cluster, rbd_find_id(s->opts, id, sizeof(id)));
	if (ret < 0) {
		log_err("rbd: %s: rados_create: %s", rbe->name, strerror(-ret));
		return ret;
	}
	/* Without conf=, librados's own search (CEPH_CONF, /etc/ceph/ceph.conf). */
	if (!s->opts || !strstr(s->opts, "conf="))
		rados_conf_read_file(rbe->cluster, NULL);
	ret = rbd_apply_opts(rbe->cluster, s->opts, rbe->name);
	if (ret < 0)
		return ret;
	/* Whole seconds: librados's timeouts take no fraction; at least one. */
	snprintf(secs, sizeof(secs), "%u", (timeout_ms + 999) / 1000);
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		ret = rados_conf_set(rbe->cluster, timeouts[i], secs);
		if (ret < 0) {
			log_err("rbd: %s: %s: %s", rbe->name, timeouts[i], strerror(-ret));
			return ret;
		}
	}
	ret = rados_connect(rbe->cluster);
	if (ret < 0) {
		log_err("rbd: %s: cannot connect to the cluster: %s", rbe->name, strerror(-ret));
		return ret;
	}
	ret = rados_ioctx_create(rbe->cluster, s->pool, &rbe->ioctx);
	if (ret < 0) {
		log_err("rbd: %s: pool '%s': %s", rbe->name, s->pool, strerror(-ret));
		rbe->ioctx = NULL;
		return ret;
	}
	if (s->ns)
		rados_ioctx_set_namespace(rbe->ioctx, s->ns);
	return 0;
}

static void rbd_be_close(struct be *be)
{
	struct rbd_be *rbe = container_of(be, struct rbd_be, base);

	if (!be)
		return;
	/* No callback runs once rbd_update_unwatch returns. */
	if (rbe->watching)
		rbd_update_unwatch(rbe->image, rbe->watch);
	if (rbe->image)
		rbd_close(rbe->image); /* waits for librbd's in-flight writes */
	if (rbe->ioctx)
		rados_ioctx_destroy(rbe->ioctx);
	if (rbe->cluster)
		rados_shutdown(rbe->cluster);
	free(rbe->name);
	free(rbe);
}

/*
 * librbd's thread: the image header changed (a resize, a snapshot, a feature
 * flip by another client). Which of these is left to the owner's resize(0):
 * asking librbd here would refresh the image on its own notification thread.
 */
static void rbd_header_updated(void *arg)
{
	struct rbd_be *rbe = arg;

	rbe->size_changed(rbe->size_changed_arg);
}

static int rbd_be_open(const struct be_opts *opts, struct be **out)
{
	struct rbd_be *rbe;
	struct rbd_spec s;
	rbd_image_info_t st;
	char val[16];
	bool ro;
	int ret;

	if (!opts || !be_is_rbd_spec(opts->path)) {
		log_err("rbd: need rbd:POOL/IMAGE, got '%s'",
			opts && opts->path ? opts->path : "(none)");
		return -EINVAL;
	}
	ret = rbd_spec_parse(opts->path, &s);
	if (ret < 0)
		return ret;
	rbe = calloc(1, sizeof(*rbe));
	if (!rbe || !(rbe->name = strdup(opts->path))) {
		ret = -ENOMEM;
		goto err_close;
	}
	ret = rbd_connect(rbe, &s, opts->timeout_ms ? opts->timeout_ms : BE_RBD_TIMEOUT_MS_DEFAULT);
	if (ret < 0)
		goto err_close;
	ro = opts->ro || s.snap;
	ret = ro ? rbd_open_read_only(rbe->ioctx, s.image, &rbe->image, s.snap)
		 : rbd_open(rbe->ioctx, s.image, &rbe->image, NULL);
	if (ret < 0) {
		log_err("rbd: %s: cannot open image '%s'%s%s: %s", rbe->name, s.image,
			s.snap ? " at snapshot " : "", s.snap ? s.snap : "", strerror(-ret));
		rbe->image = NULL;
		goto err_close;
	}
	ret = rbd_stat(rbe->image, &st, sizeof(st));
	if (ret < 0) {
		log_err("rbd: %s: rbd_stat: %s", rbe->name, strerror(-ret));
		goto err_close;
	}
	if (opts->size_changed) {
		rbe->size_changed = opts->size_changed;
		rbe->size_changed_arg = opts->size_changed_arg;
		ret = rbd_update_watch(rbe->image, &rbe->watch, rbd_header_updated, rbe);
		if (ret < 0) {
			log_err("rbd: %s: rbd_update_watch: %s", rbe->name, strerror(-ret));
			goto err_close;
		}
		rbe->watching = true;
	}
	rbe->cache = rados_conf_get(rbe->cluster, "rbd_cache", val, sizeof(val)) < 0 ||
		     strcmp(val, "false") != 0;
	rbe->base.ops = &be_rbd_ops;
	/*
	 * librbd takes any byte offset and length. The object is the unit that
	 * RADOS stores, discards and zeroes whole: the topology and discard hints.
	 */
	rbe->base.info = (struct be_info){
	    .size = st.size,
	    .align = 1,
	    .opt_io = st.obj_size <= UINT32_MAX ? (uint32_t)st.obj_size : 0,
	    .discard_align = st.obj_size <= UINT32_MAX ? (uint32_t)st.obj_size : 0,
	    .ro = ro,
	    .can_flush = true,
	    .can_discard = !ro,
	    .can_write_zeroes = !ro,
	};
	log_info("rbd: %s: %" PRIu64 " bytes, %" PRIu64 "-byte objects%s, librbd cache %s",
		 rbe->name, st.size, st.obj_size, ro ? ", read-only" : "",
		 rbe->cache ? "on" : "off");
	free(s.buf);
	*out = &rbe->base;
	return 0;

err_close:
	free(s.buf);
	rbd_be_close(rbe ? &rbe->base : NULL);
	return ret;
}

static void rbd_queue_destroy(struct be_queue *bq)
{
	struct rbd_queue *q = container_of(bq, struct rbd_queue, base);

	if (!bq)
		return;
	if (q->efd >= 0)
		close(q->efd);
	pthread_mutex_destroy(&q->lock);
	free(q->done);
	free(q->ready);
	free(q->reqs);
	free(q);
}

static int rbd_queue_create(struct be *be, unsigned depth, struct be_queue **out)
{
	struct rbd_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->efd = -1;
	pthread_mutex_init(&q->lock, NULL);
	q->base.be = be;
	q->rbe = container_of(be, struct rbd_be, base);
	q->depth = depth ? depth : 1;
	q->reqs = calloc(q->depth, sizeof(*q->reqs));
	q->done = calloc(q->depth, sizeof(*q->done));
	q->ready = calloc(q->depth, sizeof(*q->ready));
	if (!q->reqs || !q->done || !q->ready)
		goto err_destroy;
	for (unsigned i = 0; i < q->depth; i++) {
		q->reqs[i].q = q;
		q->reqs[i].next_free = i + 1;
	}
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0)
		goto err_destroy;
	*out = &q->base;
	return 0;

err_destroy:
	rbd_queue_destroy(&q->base);
	return -ENOMEM;
}

static int rbd_queue_fd(struct be_queue *bq)
{
	return container_of(bq, struct rbd_queue, base)->efd;
}

/*
 * A request finished: hand it to the queue's thread. Runs on a librbd
 * thread, or on ours when librbd refused the request at submission. The
 * slot is not freed here: the free list belongs to the queue's thread.
 */
static void rbd_finish(struct rbd_req *r, int res)
{
	struct rbd_queue *q = r->q;
	uint64_t one = 1;

	r->res = res;
	pthread_mutex_lock(&q->lock);
	/* Never full: it has a place for every slot, and a slot finishes once. */
	q->done[(q->done_head + q->done_cnt++) % q->depth] = (unsigned)(r - q->reqs);
	/*
	 * Under the lock: once reap() has seen the slot, the queue may be
	 * destroyed, and a write after that would hit a closed (or reused) fd.
	 */
	if (write(q->efd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow at depth wakes; nothing else can fail. */
	}
	pthread_mutex_unlock(&q->lock);
}

static void rbd_complete_cb(rbd_completion_t c, void *arg)
{
	ssize_t ret = rbd_aio_get_return_value(c);

	rbd_aio_release(c);
	/* Reads return the byte count, everything else 0. */
	rbd_finish(arg, ret < 0 ? (int)ret : 0);
}

/* Start r's operation (or its FUA flush) in librbd; failures reach reap() too. */
static void rbd_start(struct rbd_req *r)
{
	rbd_image_t img = r->q->rbe->image;
	struct be_io *io = r->io;
	rbd_completion_t c;
	int ret;

	if (atomic_load(&r->q->rbe->gone)) {
		rbd_finish(r, -EIO);
		return;
	}
	ret = rbd_aio_create_completion(r, rbd_complete_cb, &c);
	if (ret < 0) {
		rbd_finish(r, ret);
		return;
	}
	if (r->flushing) {
		ret = rbd_aio_flush(img, c);
	} else {
		switch (io->op) {
		case BE_OP_READ:
			ret = rbd_aio_readv(img, io->iov, (int)io->iovcnt, io->offset, c);
			break;
		case BE_OP_WRITE:
			ret = rbd_aio_writev(img, io->iov, (int)io->iovcnt, io->offset, c);
			break;
		case BE_OP_FLUSH:
			ret = rbd_aio_flush(img, c);
			break;
		case BE_OP_DISCARD:
			ret = rbd_aio_discard(img, io->offset, io->len, c);
			break;
		case BE_OP_WRITE_ZEROES:
			ret = rbd_aio_write_zeroes(img, io->offset, io->len, c, 0, 0);
			break;
		default:
			ret = -EOPNOTSUPP;
			break;
		}
	}
	if (ret < 0) {
		rbd_aio_release(c);
		rbd_finish(r, ret);
	}
}

static int rbd_submit(struct be_queue *bq, struct be_io *io)
{
	struct rbd_queue *q = container_of(bq, struct rbd_queue, base);
	struct rbd_req *r;

	if (q->free_head >= q->depth)
		return -EAGAIN;
	r = &q->reqs[q->free_head];
	q->free_head = r->next_free;
	r->io = io;
	r->flushing = false;
	rbd_start(r);
	return 0;
}

static void rbd_kick(struct be_queue *bq)
{
	/* librbd starts each request when it is submitted. */
}

static int rbd_reap(struct be_queue *bq)
{
	struct rbd_queue *q = container_of(bq, struct rbd_queue, base);
	uint64_t cnt;
	unsigned nready;
	int n = 0;

	if (read(q->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing signalled since the last reap; the ring says for sure. */
	}
	pthread_mutex_lock(&q->lock);
	nready = q->done_cnt;
	for (unsigned i = 0; i < nready; i++)
		q->ready[i] = q->done[(q->done_head + i) % q->depth];
	q->done_head = (q->done_head + nready) % q->depth;
	q->done_cnt = 0;
	pthread_mutex_unlock(&q->lock);

	/* Slots finishing from here on (a resubmission) wait for the next reap. */
	for (unsigned i = 0; i < nready; i++) {
		struct rbd_req *r = &q->reqs[q->ready[i]];
		struct be_io *io = r->io;

		/* Writethrough (virtio 1.3 §5.2.4 writeback = 0): durable before it is reported. */
		if (!r->res && !r->flushing && q->rbe->cache && (io->flags & BE_IO_F_FUA) &&
		    (io->op == BE_OP_WRITE || io->op == BE_OP_WRITE_ZEROES ||
		     io->op == BE_OP_DISCARD)) {
			r->flushing = true;
			rbd_start(r);
			continue;
		}
		/* Free the slot first: done() may submit again. */
		r->next_free = q->free_head;
		q->free_head = (unsigned)(r - q->reqs);
		io->done(io, r->res);
		n++;
	}
	return n;
}

/*
 * size 0: the image's size now (librbd re-reads the header once another
 * client, `rbd resize`, changed it); otherwise grow the image to size.
 * Nothing shrinks: a guest's data would go with it.
 */
static int rbd_be_resize(struct be *be, uint64_t size, uint64_t *out)
{
	struct rbd_be *rbe = container_of(be, struct rbd_be, base);
	uint64_t cur;
	int ret = rbd_get_size(rbe->image, &cur);

	if (ret == -ENOENT && !atomic_exchange(&rbe->gone, true))
		log_err("rbd: %s: the image was deleted: every request fails from now on",
			rbe->name);
	if (ret < 0)
		return ret;
	if (size > cur) {
		if (be->info.ro)
			return -EROFS;
		ret = rbd_resize(rbe->image, size);
		if (ret < 0)
			return ret;
		ret = rbd_get_size(rbe->image, &cur);
		if (ret < 0)
			return ret;
	}
	*out = cur;
	return 0;
}

const struct be_ops be_rbd_ops = {
    .name = "rbd",
    .open = rbd_be_open,
    .close = rbd_be_close,
    .queue_create = rbd_queue_create,
    .queue_destroy = rbd_queue_destroy,
    .queue_fd = rbd_queue_fd,
    .submit = rbd_submit,
    .kick = rbd_kick,
    .reap = rbd_reap,
    .resize = rbd_be_resize,
};
