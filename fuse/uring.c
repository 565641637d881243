/* uring.c - zcached's FUSE-over-io_uring transport (fuse/uring.h).
 *
 * Design.  struct zfs_uring holds one struct zu_queue per possible CPU;
 * each queue has `depth` entries (struct zu_ent) and one thread, pinned to
 * the queue's CPU, that owns the queue's io_uring: it alone submits (the
 * ring is IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, so the
 * kernel's work of copying a request into an entry runs when that thread
 * waits for completions, never by interrupting it elsewhere).
 *
 * An entry's life: REGISTER (or COMMIT_AND_FETCH) is submitted and the
 * command parks in the kernel (ZU_PARKED); it completes when the kernel put
 * a request into the entry; the queue's thread lays the request out for
 * libfuse (fuse_in_header and op argument copied to just before the
 * payload: the header page is the first 4 KiB of the entry's block, the
 * ring header its first 288 bytes, so the copy lands far past it),
 * publishes the request's unique in the entry (ZU_USER) and calls the
 * session's `process`.  The reply (zfs_uring_reply, from libfuse's writev
 * on whatever thread replies) takes the unique back to 0 with a
 * compare-and-swap, so exactly one reply wins; it writes the
 * fuse_out_header and the body into the entry, then either prepares the
 * COMMIT_AND_FETCH itself (on the queue's own thread: it is submitted with
 * the thread's next io_uring_enter, together with everything else it
 * handled meanwhile) or pushes the entry on the queue's hand-off list and
 * writes the queue's eventfd, on which the ring always has a read
 * outstanding; the queue's thread then prepares the commits of the list.
 * A reply on the queue's thread is found through the thread's current
 * entry without a search; one from elsewhere searches every entry of every
 * queue for its unique (a few dozen atomic loads on a small machine).
 *
 * Opcodes libfuse never answers (FORGET, BATCH_FORGET, INTERRUPT,
 * NOTIFY_REPLY: the kernel sends the first three on /dev/fuse, the last is
 * never asked for) are acknowledged empty if one ever comes through the
 * ring, so an entry is never lost.
 *
 * Failure after the INIT reply accepted the ring is the dangerous case: the
 * kernel holds every request until each queue has an entry.  So whenever
 * zfs_uring_start fails, it sends one REGISTER with an impossible queue
 * number; the kernel answers -EINVAL and turns the ring off for the
 * connection (fs/fuse/dev_uring.c: a failed REGISTER clears fc->io_uring),
 * and /dev/fuse serves everything.
 */
#include "fuse/uring.h"

#include <errno.h>
#include <linux/fuse.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "alloc/buddy.h"
#include "fuse/fuse_uring_kernel.h"

#define ZU_HDR_PAGE 4096u			/* the header page of a block */
#define ZU_TAG_EVENTFD ((uint64_t)1)		/* user_data of the eventfd read */

static_assert(sizeof(struct fuk_req_header) + sizeof(struct fuse_in_header) + FUK_OP_IN_OUT_SZ
	      <= ZU_HDR_PAGE, "the request's headers fit behind the ring header");

enum zu_state {
	ZU_PARKED,		/* a command of ours waits in the kernel */
	ZU_USER,		/* a request is with the session */
	ZU_DEAD,		/* its command ended (unmount, error) */
};

struct zu_queue;

struct zu_ent {
	struct zu_queue *q;
	char *block;			/* buddy block: header page + payload */
	struct fuk_req_header *hdr;	/* = block */
	char *payload;			/* = block + ZU_HDR_PAGE */
	struct iovec iov[2];		/* what REGISTER names */
	_Atomic uint64_t unique;	/* the request awaiting its reply, or 0 */
	uint64_t commit_id;		/* queue thread only */
	int state;			/* queue thread only (enum zu_state) */
	int last_cmd;			/* queue thread only (enum fuk_cmd) */
	struct zu_ent *next;		/* hand-off list link */
};

struct zu_queue {
	struct zfs_uring *u;
	unsigned qid;
	pthread_t tid;
	int started;			/* thread created (the starter's field) */
	int ring_ok;			/* io_uring set up (thread only) */
	_Atomic int pinned;		/* the thread runs on its CPU only */
	struct io_uring ring;
	int efd;			/* eventfd: replies handed over, stop */
	uint64_t ebuf;			/* the eventfd read's target */
	struct zu_ent *cur;		/* entry being processed (thread only) */
	void *tctx;			/* cfg.thread_begin's (thread only) */
	struct zu_ent *ents;		/* depth entries */
	_Atomic(struct zu_ent *) handoff;	/* replies made on other threads */
	_Atomic uint64_t requests;
	_Atomic uint64_t remote_replies;
	_Atomic uint64_t copied;
	_Atomic uint64_t errors;
};

struct zfs_uring {
	struct zfs_uring_config cfg;
	unsigned nq;
	struct zu_queue *q;
	size_t block_size;		/* ZU_HDR_PAGE + max_payload */
	pthread_key_t key;		/* the calling thread's queue */
	pthread_mutex_t lock;		/* leaf: the start handshake below */
	pthread_cond_t cond;
	unsigned reported;		/* queues done with setup; protected by lock */
	int start_err;			/* first setup error; protected by lock */
	int started;			/* zfs_uring_start was called (starter only) */
	_Atomic int live;		/* replies are taken (threads may serve) */
	_Atomic int running;		/* the ring serves: started, not failed or stopped */
	_Atomic int stop;
};

/* ---- possible CPUs ----------------------------------------------------------- */

unsigned zfs_uring_nr_queues(void)
{
	char line[256], *p;
	unsigned n = 0;
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");

	if (f) {
		if (fgets(line, sizeof(line), f)) {
			/* "0-3,5,7-8": count the CPUs of every range. */
			for (p = line; *p && *p != '\n';) {
				char *end;
				unsigned long a = strtoul(p, &end, 10), b = a;

				if (end == p)
					break;
				if (*end == '-')
					b = strtoul(end + 1, &end, 10);
				if (b >= a)
					n += (unsigned)(b - a + 1);
				p = *end == ',' ? end + 1 : end;
				if (end == p && *p != ',')
					break;
			}
		}
		fclose(f);
	}
	if (n == 0) {
		int c = get_nprocs_conf();

		n = c > 0 ? (unsigned)c : 1;
	}
	return n;
}

int zfs_uring_available(void)
{
	char c = 0;
	FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "re");

	if (!f)
		return -ENOENT;
	if (fread(&c, 1, 1, f) != 1)
		c = 0;
	fclose(f);
	return c == 'Y' || c == 'y' || c == '1';
}

/* ---- SQEs -------------------------------------------------------------------- */

static struct io_uring_sqe *zu_get_sqe(struct zu_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe) {
		/* Cannot happen (the SQ holds every entry's command and the
		 * eventfd read), but submitting makes room if it did. */
		io_uring_submit(&q->ring);
		sqe = io_uring_get_sqe(&q->ring);
	}
	return sqe;
}

/* A 128-byte URING_CMD on the registered /dev/fuse (fixed file 0). */
static void zu_prep_cmd(struct io_uring_sqe *sqe, struct zu_ent *e, int op, uint64_t commit_id)
{
	struct fuk_cmd_req *req;

	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->fd = 0;
	sqe->cmd_op = (uint32_t)op;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)e);
	if (op == FUK_CMD_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)e->iov;
		sqe->len = 2;
	}
	req = (struct fuk_cmd_req *)(void *)sqe->cmd;
	req->commit_id = commit_id;
	req->qid = (uint16_t)e->q->qid;
}

static int zu_submit_cmd(struct zu_queue *q, struct zu_ent *e, int op)
{
	struct io_uring_sqe *sqe = zu_get_sqe(q);

	if (!sqe)
		return -EBUSY;
	zu_prep_cmd(sqe, e, op, op == FUK_CMD_COMMIT_AND_FETCH ? e->commit_id : 0);
	e->last_cmd = op;
	e->state = ZU_PARKED;
	return 0;
}

static void zu_arm_eventfd(struct zu_queue *q)
{
	struct io_uring_sqe *sqe = zu_get_sqe(q);

	if (!sqe)
		return;
	memset(sqe, 0, 2 * sizeof(*sqe));
	io_uring_prep_read(sqe, q->efd, &q->ebuf, sizeof(q->ebuf), 0);
	io_uring_sqe_set_data64(sqe, ZU_TAG_EVENTFD);
}

static void zu_kick(struct zu_queue *q)
{
	uint64_t one = 1;

	if (write(q->efd, &one, sizeof(one)) < 0) {
		/* Only EAGAIN (counter full) is possible: it is awake anyway. */
	}
}

/* ---- replies ----------------------------------------------------------------- */

/* The entry whose request `unique` awaits a reply, searched everywhere. */
static struct zu_ent *zu_find(struct zfs_uring *u, uint64_t unique)
{
	unsigned qi, i;

	for (qi = 0; qi < u->nq; qi++) {
		struct zu_queue *q = &u->q[qi];

		for (i = 0; i < u->cfg.depth; i++)
			if (atomic_load_explicit(&q->ents[i].unique, memory_order_acquire) == unique)
				return &q->ents[i];
	}
	return NULL;
}

/* Hand a filled entry to its queue's thread. */
static void zu_handoff(struct zu_ent *e)
{
	struct zu_queue *q = e->q;
	struct zu_ent *old = atomic_load_explicit(&q->handoff, memory_order_relaxed);

	do {
		e->next = old;
	} while (!atomic_compare_exchange_weak_explicit(&q->handoff, &old, e, memory_order_release,
							memory_order_relaxed));
	atomic_fetch_add_explicit(&q->remote_replies, 1, memory_order_relaxed);
	if (!old)
		zu_kick(q);
}

/* Fill e's header and payload with a reply: the header's error and unique,
 * the body gathered from iov[1..count-1] unless it already lies in place.
 * Returns the body's length, or -EINVAL when it does not fit (the entry
 * then carries an EIO reply). */
static ssize_t zu_fill(struct zfs_uring *u, struct zu_ent *e, uint64_t unique, int error,
		       const struct iovec *iov, int count)
{
	struct fuse_out_header *out = (struct fuse_out_header *)(void *)e->hdr->in_out;
	size_t len = 0, pos = 0;
	ssize_t ret;
	int i, copied = 0;

	for (i = 1; i < count; i++)
		len += iov[i].iov_len;
	if (len > u->cfg.max_payload) {
		error = -EIO;
		len = 0;
		ret = -EINVAL;
	} else {
		for (i = 1; i < count; i++) {
			if (iov[i].iov_base != e->payload + pos && iov[i].iov_len) {
				memmove(e->payload + pos, iov[i].iov_base, iov[i].iov_len);
				copied = 1;
			}
			pos += iov[i].iov_len;
		}
		ret = (ssize_t)len;
	}
	if (copied)
		atomic_fetch_add_explicit(&e->q->copied, 1, memory_order_relaxed);
	out->len = (uint32_t)(sizeof(*out) + len);
	out->error = error;
	out->unique = unique;
	e->hdr->ring_ent_in_out.payload_sz = (uint32_t)len;
	return ret;
}

/* Commit a filled entry: from its own thread now, from any other by the
 * hand-off list. */
static void zu_commit(struct zfs_uring *u, struct zu_ent *e)
{
	struct zu_queue *self = pthread_getspecific(u->key);

	if (self == e->q)
		zu_submit_cmd(self, e, FUK_CMD_COMMIT_AND_FETCH);
	else
		zu_handoff(e);
}

ssize_t zfs_uring_reply(struct zfs_uring *u, const struct iovec *iov, int count)
{
	const struct fuse_out_header *out;
	struct zu_queue *self;
	struct zu_ent *e = NULL;
	uint64_t unique, want;
	ssize_t ret;

	if (!u || count < 1 || iov[0].iov_len < sizeof(*out) ||
	    !atomic_load_explicit(&u->live, memory_order_acquire))
		return -ENOENT;
	out = iov[0].iov_base;
	unique = out->unique;
	if (unique == 0 || (unique & FUK_INT_REQ_BIT))
		return -ENOENT;		/* a notification, an interrupt's answer */
	self = pthread_getspecific(u->key);
	if (self && self->cur &&
	    atomic_load_explicit(&self->cur->unique, memory_order_relaxed) == unique)
		e = self->cur;
	else
		e = zu_find(u, unique);
	if (!e)
		return -ENOENT;
	want = unique;
	if (!atomic_compare_exchange_strong_explicit(&e->unique, &want, 0, memory_order_acq_rel,
						     memory_order_relaxed))
		return -ENOENT;		/* another reply won */
	ret = zu_fill(u, e, unique, out->error, iov, count);
	zu_commit(u, e);
	return ret < 0 ? ret : (ssize_t)sizeof(*out) + ret;
}

void *zfs_uring_payload(struct zfs_uring *u, size_t *len)
{
	struct zu_queue *q = u ? pthread_getspecific(u->key) : NULL;

	if (!q || !q->cur)
		return NULL;
	*len = u->cfg.max_payload;
	return q->cur->payload;
}

/* ---- the queue's thread ------------------------------------------------------- */

/* Answer e's request with `error` and no body (a malformed request, or one
 * libfuse does not answer). */
static void zu_answer_empty(struct zfs_uring *u, struct zu_ent *e, uint64_t unique, int error)
{
	uint64_t want = unique;
	struct fuse_out_header h = { .unique = unique, .error = error };
	struct iovec v = { .iov_base = &h, .iov_len = sizeof(h) };

	if (atomic_compare_exchange_strong(&e->unique, &want, 0)) {
		zu_fill(u, e, unique, error, &v, 1);
		zu_commit(u, e);
	}
}

/* A request arrived in e: lay it out and hand it to the session. */
static void zu_serve(struct zu_queue *q, struct zu_ent *e)
{
	struct zfs_uring *u = q->u;
	struct fuse_in_header in;
	struct fuse_buf buf;
	uint32_t psz = e->hdr->ring_ent_in_out.payload_sz;
	size_t opsz;
	char *start;

	memcpy(&in, e->hdr->in_out, sizeof(in));
	e->commit_id = e->hdr->ring_ent_in_out.commit_id;
	e->state = ZU_USER;
	atomic_fetch_add_explicit(&q->requests, 1, memory_order_relaxed);
	if (in.unique == 0 || e->commit_id != in.unique || psz > u->cfg.max_payload ||
	    in.len < sizeof(in) + psz || in.len - sizeof(in) - psz > FUK_OP_IN_OUT_SZ) {
		atomic_fetch_add_explicit(&q->errors, 1, memory_order_relaxed);
		atomic_store(&e->unique, e->commit_id);
		zu_answer_empty(u, e, e->commit_id, -EIO);
		return;
	}
	opsz = in.len - sizeof(in) - psz;
	start = e->payload - opsz - sizeof(in);
	memcpy(start, &in, sizeof(in));
	memcpy(start + sizeof(in), e->hdr->op_in, opsz);
	atomic_store_explicit(&e->unique, in.unique, memory_order_release);
	memset(&buf, 0, sizeof(buf));
	buf.mem = start;
	buf.size = in.len;
	buf.fd = -1;
	q->cur = e;
	u->cfg.process(u->cfg.arg, q->tctx, &buf);
	q->cur = NULL;
	switch (in.opcode) {
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
	case FUSE_NOTIFY_REPLY:
		zu_answer_empty(u, e, in.unique, 0);
		break;
	default:
		break;
	}
}

/* Prepare the commits of every reply handed over by other threads. */
static void zu_drain(struct zu_queue *q)
{
	struct zu_ent *e = atomic_exchange_explicit(&q->handoff, NULL, memory_order_acquire);

	while (e) {
		struct zu_ent *next = e->next;

		zu_submit_cmd(q, e, FUK_CMD_COMMIT_AND_FETCH);
		e = next;
	}
}

static void zu_reap(struct zu_queue *q)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int eventfd = 0;

	io_uring_for_each_cqe(&q->ring, head, cqe) {
		uint64_t tag = io_uring_cqe_get_data64(cqe);
		struct zu_ent *e = (struct zu_ent *)(uintptr_t)tag;
		int res = cqe->res;

		n++;
		if (tag == ZU_TAG_EVENTFD) {
			eventfd = 1;
			continue;
		}
		if (e->state != ZU_PARKED) {
			/* Only a parked command completes: anything else
			 * is a bug, counted and dropped. */
			atomic_fetch_add_explicit(&q->errors, 1, memory_order_relaxed);
			continue;
		}
		if (res == 0) {
			zu_serve(q, e);
		} else if (res == -EAGAIN || res == -EINTR) {
			zu_submit_cmd(q, e, e->last_cmd);
		} else {
			e->state = ZU_DEAD;
			if (res != -ENOTCONN && res != -ECANCELED && res != -ECONNABORTED)
				atomic_fetch_add_explicit(&q->errors, 1, memory_order_relaxed);
		}
	}
	io_uring_cq_advance(&q->ring, n);
	if (eventfd) {
		zu_drain(q);
		if (!atomic_load(&q->u->stop))
			zu_arm_eventfd(q);
	}
}

static void zu_loop(struct zu_queue *q)
{
	struct zfs_uring *u = q->u;

	while (!atomic_load_explicit(&u->stop, memory_order_acquire)) {
		int ret = io_uring_submit_and_wait(&q->ring, 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			atomic_fetch_add_explicit(&q->errors, 1, memory_order_relaxed);
			break;
		}
		zu_reap(q);
	}
	/* Commit the replies made before the stop, then leave: exiting
	 * cancels the parked commands. */
	zu_drain(q);
	io_uring_submit(&q->ring);
}

/* Ring, registered /dev/fuse, eventfd read and every entry's REGISTER,
 * submitted; a REGISTER the kernel refuses fails at once, so a clean
 * submit means the queue is registered. */
static int zu_queue_setup(struct zu_queue *q)
{
	struct zfs_uring *u = q->u;
	struct io_uring_params p;
	struct io_uring_cqe *cqe;
	unsigned i, head, n = u->cfg.depth + 2;
	int fd = u->cfg.fd, ret;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_CQSIZE;
	p.cq_entries = 2 * n;
	ret = io_uring_queue_init_params(n, &q->ring, &p);
	if (ret < 0)
		return ret;
	q->ring_ok = 1;
	ret = io_uring_register_files(&q->ring, &fd, 1);
	if (ret < 0)
		return ret;
	zu_arm_eventfd(q);
	for (i = 0; i < u->cfg.depth; i++) {
		ret = zu_submit_cmd(q, &q->ents[i], FUK_CMD_REGISTER);
		if (ret < 0)
			return ret;
	}
	ret = io_uring_submit(&q->ring);
	if (ret < 0)
		return ret;
	if ((unsigned)ret != u->cfg.depth + 1)
		return -EIO;
	/* Completions posted by the submission itself are refusals (a
	 * request's completion needs this thread's task work, which runs
	 * only once it waits).  -EAGAIN is retried by zu_loop. */
	io_uring_for_each_cqe(&q->ring, head, cqe) {
		if (io_uring_cqe_get_data64(cqe) != ZU_TAG_EVENTFD && cqe->res < 0 &&
		    cqe->res != -EAGAIN && cqe->res != -EINTR)
			return cqe->res;
	}
	return 0;
}

static void zu_report(struct zfs_uring *u, int err)
{
	pthread_mutex_lock(&u->lock);
	if (err < 0 && !u->start_err)
		u->start_err = err;
	u->reported++;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

static void *zu_thread(void *arg)
{
	struct zu_queue *q = arg;
	struct zfs_uring *u = q->u;
	char name[16];
	int err;

	snprintf(name, sizeof(name), "zcached-ring%u", q->qid);
	pthread_setname_np(pthread_self(), name);
	pthread_setspecific(u->key, q);
	if (q->qid < CPU_SETSIZE) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(q->qid, &set);
		atomic_store(&q->pinned,
			     pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0);
	}
	err = zu_queue_setup(q);
	zu_report(u, err);
	if (err == 0) {
		if (u->cfg.thread_begin)
			q->tctx = u->cfg.thread_begin(u->cfg.arg);
		zu_loop(q);
		if (u->cfg.thread_end)
			u->cfg.thread_end(u->cfg.arg, q->tctx);
		q->tctx = NULL;
	}
	if (q->ring_ok)
		io_uring_queue_exit(&q->ring);
	q->ring_ok = 0;
	return NULL;
}

/* ---- create, start, stop ------------------------------------------------------ */

/* Free the queues: blocks, eventfds, entries (threads stopped). */
static void zu_free_queues(struct zfs_uring *u)
{
	unsigned qi, i;

	if (!u->q)
		return;
	for (qi = 0; qi < u->nq; qi++) {
		struct zu_queue *q = &u->q[qi];

		if (q->efd >= 0)
			close(q->efd);
		if (!q->ents)
			continue;
		for (i = 0; i < u->cfg.depth; i++)
			if (q->ents[i].block)
				buddy_free(u->cfg.buddy, q->ents[i].block, u->block_size);
		free(q->ents);
	}
	free(u->q);
	u->q = NULL;
}

/* The queues and their entries, without blocks: fixed for the
 * transport's life, so zu_find reads them without a lock. */
static int zu_alloc_queues(struct zfs_uring *u)
{
	unsigned qi, i;

	u->q = calloc(u->nq, sizeof(*u->q));
	if (!u->q)
		return -ENOMEM;
	for (qi = 0; qi < u->nq; qi++)
		u->q[qi].efd = -1;
	for (qi = 0; qi < u->nq; qi++) {
		struct zu_queue *q = &u->q[qi];

		q->u = u;
		q->qid = qi;
		/* Blocking: io_uring completes a read of a non-blocking
		 * file at once with -EAGAIN instead of waiting. */
		q->efd = eventfd(0, EFD_CLOEXEC);
		q->ents = calloc(u->cfg.depth, sizeof(*q->ents));
		if (q->efd < 0 || !q->ents)
			return -ENOMEM;
		for (i = 0; i < u->cfg.depth; i++) {
			q->ents[i].q = q;
			q->ents[i].state = ZU_DEAD;
		}
	}
	return 0;
}

/* Every entry's block: header page and payload buffer. */
static int zu_alloc_blocks(struct zfs_uring *u)
{
	unsigned qi, i;

	for (qi = 0; qi < u->nq; qi++) {
		for (i = 0; i < u->cfg.depth; i++) {
			struct zu_ent *e = &u->q[qi].ents[i];

			e->block = buddy_alloc(u->cfg.buddy, u->block_size);
			if (!e->block)
				return -ENOMEM;
			e->hdr = (struct fuk_req_header *)(void *)e->block;
			e->payload = e->block + ZU_HDR_PAGE;
			e->iov[0].iov_base = e->hdr;
			e->iov[0].iov_len = sizeof(*e->hdr);
			e->iov[1].iov_base = e->payload;
			e->iov[1].iov_len = u->cfg.max_payload;
		}
	}
	return 0;
}

struct zfs_uring *zfs_uring_create(const struct zfs_uring_config *cfg)
{
	struct zfs_uring *u;

	if (!cfg || !cfg->buddy || cfg->fd < 0 || !cfg->process || cfg->depth < 1 ||
	    cfg->depth > ZFS_URING_MAX_DEPTH || cfg->max_payload < 8192) {
		errno = EINVAL;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->cfg = *cfg;
	u->nq = zfs_uring_nr_queues();
	u->block_size = ZU_HDR_PAGE + cfg->max_payload;
	if (pthread_key_create(&u->key, NULL) != 0)
		goto err_free;
	if (pthread_mutex_init(&u->lock, NULL) != 0)
		goto err_key;
	if (pthread_cond_init(&u->cond, NULL) != 0)
		goto err_lock;
	if (zu_alloc_queues(u) < 0)
		goto err_queues;
	return u;
err_queues:
	zu_free_queues(u);
	pthread_cond_destroy(&u->cond);
err_lock:
	pthread_mutex_destroy(&u->lock);
err_key:
	pthread_key_delete(u->key);
err_free:
	free(u);
	errno = ENOMEM;
	return NULL;
}

/* Make the kernel give up the ring for this connection: a REGISTER with a
 * queue number no kernel has fails with -EINVAL, and a failed REGISTER
 * clears fc->io_uring, which releases requests held for the ring to
 * /dev/fuse.  Best effort. */
void zfs_uring_disable(int fd)
{
	struct io_uring ring;
	struct io_uring_params p;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct fuk_req_header hdr;
	struct iovec iov[2];
	char payload[16];
	struct fuk_cmd_req *req;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQE128;
	if (io_uring_queue_init_params(2, &ring, &p) < 0)
		return;
	sqe = io_uring_get_sqe(&ring);
	if (sqe) {
		iov[0].iov_base = &hdr;
		iov[0].iov_len = sizeof(hdr);
		iov[1].iov_base = payload;
		iov[1].iov_len = sizeof(payload);
		memset(sqe, 0, 2 * sizeof(*sqe));
		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = fd;
		sqe->cmd_op = FUK_CMD_REGISTER;
		sqe->addr = (uint64_t)(uintptr_t)iov;
		sqe->len = 2;
		req = (struct fuk_cmd_req *)(void *)sqe->cmd;
		req->qid = UINT16_MAX;
		if (io_uring_submit(&ring) == 1 && io_uring_wait_cqe(&ring, &cqe) == 0)
			io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
}

int zfs_uring_start(struct zfs_uring *u)
{
	sigset_t all, old;
	unsigned qi, created = 0;
	int ret;

	if (!u || u->started)
		return -EINVAL;
	u->started = 1;
	ret = zu_alloc_blocks(u);
	if (ret < 0)
		goto err;
	atomic_store(&u->live, 1);
	/* Running from now on: the INIT reply committed the kernel to the
	 * ring, which serves the first request as soon as every queue has
	 * an entry, possibly before the last queue thread reports (so the
	 * statistics of that request already say "uring").  A failed start
	 * takes it back (zfs_uring_stop). */
	atomic_store(&u->running, 1);
	/* Queue threads take no signal: the session's main thread gets them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (qi = 0; qi < u->nq; qi++) {
		if (pthread_create(&u->q[qi].tid, NULL, zu_thread, &u->q[qi]) != 0) {
			ret = -EAGAIN;
			break;
		}
		u->q[qi].started = 1;
		created++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_lock(&u->lock);
	while (u->reported < created)
		pthread_cond_wait(&u->cond, &u->lock);
	if (ret == 0)
		ret = u->start_err;
	pthread_mutex_unlock(&u->lock);
	if (ret < 0)
		goto err;
	return 0;
err:
	zfs_uring_stop(u);
	zfs_uring_disable(u->cfg.fd);
	return ret;
}

int zfs_uring_running(const struct zfs_uring *u)
{
	return u && atomic_load_explicit(&u->running, memory_order_relaxed);
}

void zfs_uring_stop(struct zfs_uring *u)
{
	unsigned qi;

	if (!u || !u->started)
		return;
	atomic_store(&u->stop, 1);
	for (qi = 0; qi < u->nq; qi++)
		if (u->q[qi].started)
			zu_kick(&u->q[qi]);
	for (qi = 0; qi < u->nq; qi++) {
		if (!u->q[qi].started)
			continue;
		pthread_join(u->q[qi].tid, NULL);
		u->q[qi].started = 0;
	}
	atomic_store(&u->running, 0);
	atomic_store(&u->live, 0);
}

void zfs_uring_destroy(struct zfs_uring *u)
{
	if (!u)
		return;
	zfs_uring_stop(u);
	zu_free_queues(u);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	pthread_key_delete(u->key);
	free(u);
}

void zfs_uring_stats(const struct zfs_uring *u, struct zfs_uring_stats *out)
{
	unsigned qi;

	memset(out, 0, sizeof(*out));
	if (!u)
		return;
	out->depth = u->cfg.depth;
	if (atomic_load_explicit(&u->running, memory_order_relaxed))
		out->queues = u->nq;
	for (qi = 0; qi < u->nq; qi++) {
		const struct zu_queue *q = &u->q[qi];

		out->pinned += (uint64_t)atomic_load_explicit(&q->pinned, memory_order_relaxed);
		out->requests += atomic_load_explicit(&q->requests, memory_order_relaxed);
		out->remote_replies += atomic_load_explicit(&q->remote_replies,
							    memory_order_relaxed);
		out->copied_replies += atomic_load_explicit(&q->copied, memory_order_relaxed);
		out->errors += atomic_load_explicit(&q->errors, memory_order_relaxed);
	}
}
