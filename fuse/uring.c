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
 * Hand-over (uring.h).  Every block lies in the region (struct
 * zfs_uring_region: the memfd, its mapping, the table at its start).  In
 * hold mode (u->hold) a completed command's request is not served: the
 * entry becomes ZU_HELD and its table line says so (zu_hold_ent); each
 * queue of an online CPU tells the holder once all its entries are held
 * (zu_hold_check, u->full under u->lock).  A queue thread serves every
 * held entry of its queue when it starts (an adopted region, a resumed
 * hold) and whenever hold mode ends with entries still held (a hold given
 * up): zu_revive_all, which commits each one's reply with
 * COMMIT_AND_FETCH on this thread's ring; its setup registers only the
 * entries that are not held.
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
#include <fcntl.h>
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "fuse/fuse_uring_kernel.h"

#define ZU_HDR_PAGE 4096u			/* the header page of a block */
#define ZU_TAG_EVENTFD ((uint64_t)1)		/* user_data of the eventfd read */

static_assert(sizeof(struct fuk_req_header) + sizeof(struct fuse_in_header) + FUK_OP_IN_OUT_SZ
	      <= ZU_HDR_PAGE, "the request's headers fit behind the ring header");

enum zu_state {
	ZU_PARKED,		/* a command of ours waits in the kernel */
	ZU_USER,		/* a request is with the session */
	ZU_DEAD,		/* its command ended (unmount, error), or never registered */
	ZU_HELD,		/* a request is in its buffers, kept for a hand-over */
};

/* ---- the region's table (see "Hand-over" in uring.h) ---------------------- */

#define ZU_TABLE_MAGIC "ZCRING\0\1"
#define ZU_TABLE_VERSION 1u
#define ZU_TBL_HELD 1u
/* Where a fresh region asks to be mapped: far from the heap, the
 * libraries and the stacks (and from ASan's shadow), so that the next
 * process finds the address free; only a hint. */
#define ZU_REGION_HINT ((uintptr_t)0x300000000000ull)

struct zu_tbl_ent {
	uint32_t state;			/* ZU_TBL_HELD or 0 */
	uint32_t pad;
	uint64_t commit_id;		/* the held request's unique */
};

struct zu_table {
	char magic[8];
	uint32_t version;
	uint32_t table_bytes;		/* this table, page aligned: blocks follow */
	uint64_t base;			/* the mapping's address */
	uint64_t size;			/* the whole region */
	uint64_t block_size;		/* header page + payload, page aligned */
	uint64_t max_payload;
	uint32_t nq;
	uint32_t depth;
	uint32_t held;			/* entries held at the last hand-over */
	uint32_t pad;
	struct zu_tbl_ent ents[];	/* nq * depth, queue by queue */
};

struct zfs_uring_region {
	int fd;				/* the memfd */
	char *base;
	size_t size;
	struct zu_table *t;		/* = base */
};

struct zu_queue;

struct zu_ent {
	struct zu_queue *q;
	struct zu_tbl_ent *tbl;		/* its line in the region's table */
	char *block;			/* in the region: header page + payload */
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
	unsigned nheld;			/* entries ZU_HELD (thread only) */
	_Atomic int must_hold;		/* the hold waits for this queue (set by the holder) */
	_Atomic int hold_reported;	/* told the holder it is full */
	_Atomic(struct zu_ent *) handoff;	/* replies made on other threads */
	_Atomic uint64_t requests;
	_Atomic uint64_t remote_replies;
	_Atomic uint64_t copied;
	_Atomic uint64_t errors;
	_Atomic uint64_t revived;
};

struct zfs_uring {
	struct zfs_uring_config cfg;
	unsigned nq;
	struct zu_queue *q;
	struct zfs_uring_region *reg;	/* every entry's block, and the table */
	size_t block_size;		/* ZU_HDR_PAGE + max_payload, page aligned */
	pthread_key_t key;		/* the calling thread's queue */
	pthread_mutex_t lock;		/* leaf: the start handshake below */
	pthread_cond_t cond;
	unsigned reported;		/* queues done with setup; protected by lock */
	unsigned full;			/* queues all held (a hold); protected by lock */
	int start_err;			/* first setup error; protected by lock */
	int started;			/* threads run (starter only) */
	int ever;			/* zfs_uring_start succeeded once (starter only) */
	int handed;			/* entries came from a hand-over (starter only) */
	_Atomic int live;		/* replies are taken (threads may serve) */
	_Atomic int running;		/* the ring serves: started, not failed or stopped */
	_Atomic int stop;
	_Atomic int hold;		/* queue threads hold new requests */
	_Atomic int held;		/* held and stopped: ready to hand over */
	_Atomic uint64_t held_count;	/* requests held at the last hand-over */
};

/* ---- possible CPUs ----------------------------------------------------------- */

/* Parse a kernel CPU list ("0-3,5,7-8") from `path` into *set (CPUs past
 * CPU_SETSIZE are counted, not set).  Returns how many CPUs it names, 0
 * when it cannot be read. */
static unsigned zu_cpulist(const char *path, cpu_set_t *set)
{
	char line[256], *p;
	unsigned n = 0;
	FILE *f = fopen(path, "re");

	if (set)
		CPU_ZERO(set);
	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f)) {
		for (p = line; *p && *p != '\n';) {
			char *end;
			unsigned long a = strtoul(p, &end, 10), b = a;

			if (end == p)
				break;
			if (*end == '-')
				b = strtoul(end + 1, &end, 10);
			if (b >= a)
				n += (unsigned)(b - a + 1);
			for (unsigned long c = a; set && c <= b && c < CPU_SETSIZE; c++)
				CPU_SET(c, set);
			p = *end == ',' ? end + 1 : end;
			if (end == p && *p != ',')
				break;
		}
	}
	fclose(f);
	return n;
}

unsigned zfs_uring_nr_queues(void)
{
	unsigned n = zu_cpulist("/sys/devices/system/cpu/possible", NULL);

	if (n == 0) {
		int c = get_nprocs_conf();

		n = c > 0 ? (unsigned)c : 1;
	}
	return n;
}

void zfs_uring_online(cpu_set_t *set)
{
	if (zu_cpulist("/sys/devices/system/cpu/online", set) == 0) {
		int c = get_nprocs();

		for (int k = 0; k < c && k < CPU_SETSIZE; k++)
			CPU_SET(k, set);
	}
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

/* Hold mode (zfs_uring_hold): e's request stays in its buffers, unserved,
 * for the next process (or for this one, if the hold is given up). */
static void zu_hold_ent(struct zu_queue *q, struct zu_ent *e)
{
	e->commit_id = e->hdr->ring_ent_in_out.commit_id;
	e->state = ZU_HELD;
	e->tbl->commit_id = e->commit_id;
	e->tbl->state = ZU_TBL_HELD;
	q->nheld++;
}

/* Serve every held entry of q from its buffers: after a hand-over, after
 * a hand-over refused late, after a hold given up. */
static void zu_revive_all(struct zu_queue *q)
{
	unsigned i;

	for (i = 0; i < q->u->cfg.depth; i++) {
		struct zu_ent *e = &q->ents[i];

		if (e->state != ZU_HELD)
			continue;
		e->tbl->state = 0;
		q->nheld--;
		atomic_fetch_add_explicit(&q->revived, 1, memory_order_relaxed);
		zu_serve(q, e);
	}
	atomic_store_explicit(&q->hold_reported, 0, memory_order_relaxed);
}

/* In hold mode: tell the holder once every entry of q is held. */
static void zu_hold_check(struct zu_queue *q)
{
	struct zfs_uring *u = q->u;

	if (!atomic_load_explicit(&q->must_hold, memory_order_relaxed) || q->nheld < u->cfg.depth ||
	    atomic_load_explicit(&q->hold_reported, memory_order_relaxed))
		return;
	atomic_store_explicit(&q->hold_reported, 1, memory_order_relaxed);
	pthread_mutex_lock(&u->lock);
	u->full++;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
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
			if (atomic_load_explicit(&q->u->hold, memory_order_acquire))
				zu_hold_ent(q, e);
			else
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
	if (atomic_load_explicit(&q->u->hold, memory_order_acquire))
		zu_hold_check(q);
	else if (q->nheld && !atomic_load(&q->u->stop))
		zu_revive_all(q);	/* the hold was given up */
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
	unsigned i, head, n = u->cfg.depth + 2, nreg = 0;
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
	/* Held entries (a hand-over) are committed once served; the others
	 * are registered, anew after a hand-over (the kernel's entries of a
	 * ring that exited are dead: a REGISTER makes a new one). */
	for (i = 0; i < u->cfg.depth; i++) {
		if (q->ents[i].state == ZU_HELD)
			continue;
		ret = zu_submit_cmd(q, &q->ents[i], FUK_CMD_REGISTER);
		if (ret < 0)
			return ret;
		nreg++;
	}
	ret = io_uring_submit(&q->ring);
	if (ret < 0)
		return ret;
	if ((unsigned)ret != nreg + 1)
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
	atomic_store_explicit(&q->hold_reported, 0, memory_order_relaxed);
	err = zu_queue_setup(q);
	zu_report(u, err);
	if (err == 0) {
		if (u->cfg.thread_begin)
			q->tctx = u->cfg.thread_begin(u->cfg.arg);
		zu_revive_all(q);
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

/* ---- the region ------------------------------------------------------------ */

static size_t zu_page_up(size_t n)
{
	return (n + ZU_HDR_PAGE - 1) & ~(size_t)(ZU_HDR_PAGE - 1);
}

static size_t zu_table_bytes(unsigned nq, unsigned depth)
{
	return zu_page_up(sizeof(struct zu_table) + (size_t)nq * depth * sizeof(struct zu_tbl_ent));
}

void zfs_uring_region_free(struct zfs_uring_region *r)
{
	if (!r)
		return;
	munmap(r->base, r->size);
	close(r->fd);
	free(r);
}

/* A fresh region for nq queues of `depth` blocks: memfd, size, mapping,
 * table.  Returns NULL with errno set. */
static struct zfs_uring_region *zu_region_new(unsigned nq, unsigned depth, size_t block,
					      size_t max_payload)
{
	struct zfs_uring_region *r = calloc(1, sizeof(*r));
	size_t tb = zu_table_bytes(nq, depth);
	int saved;

	if (!r)
		return NULL;
	r->size = tb + (size_t)nq * depth * block;
	r->fd = memfd_create("zcached-ring", MFD_CLOEXEC);
	if (r->fd < 0)
		goto err_free;
	if (ftruncate(r->fd, (off_t)r->size) < 0)
		goto err_close;
	r->base = mmap((void *)ZU_REGION_HINT, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->base == MAP_FAILED)
		goto err_close;
	r->t = (struct zu_table *)(void *)r->base;
	memcpy(r->t->magic, ZU_TABLE_MAGIC, sizeof(r->t->magic));
	r->t->version = ZU_TABLE_VERSION;
	r->t->table_bytes = (uint32_t)tb;
	r->t->base = (uint64_t)(uintptr_t)r->base;
	r->t->size = r->size;
	r->t->block_size = block;
	r->t->max_payload = max_payload;
	r->t->nq = nq;
	r->t->depth = depth;
	return r;
err_close:
	saved = errno;
	close(r->fd);
	errno = saved;
err_free:
	saved = errno;
	free(r);
	errno = saved;
	return NULL;
}

struct zfs_uring_region *zfs_uring_region_adopt(int fd)
{
	struct zfs_uring_region *r;
	struct zu_table t;
	struct stat st;
	uint64_t n;
	void *p;

	if (pread(fd, &t, sizeof(t), 0) != (ssize_t)sizeof(t) || fstat(fd, &st) < 0)
		goto bad;
	n = (uint64_t)t.nq * t.depth;
	if (memcmp(t.magic, ZU_TABLE_MAGIC, sizeof(t.magic)) || t.version != ZU_TABLE_VERSION ||
	    t.nq == 0 || t.depth == 0 || t.depth > ZFS_URING_MAX_DEPTH || t.max_payload < 8192 ||
	    t.block_size != zu_page_up(ZU_HDR_PAGE + t.max_payload) ||
	    t.table_bytes != zu_table_bytes(t.nq, t.depth) || t.base == 0 ||
	    t.base % ZU_HDR_PAGE || t.size != t.table_bytes + n * t.block_size ||
	    (uint64_t)st.st_size != t.size)
		goto bad;
	p = mmap((void *)(uintptr_t)t.base, t.size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (p == MAP_FAILED)
		return NULL;	/* EEXIST: the address is taken */
	if (p != (void *)(uintptr_t)t.base) {
		munmap(p, t.size);	/* a kernel that took it as a hint */
		errno = EEXIST;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		munmap(p, t.size);
		errno = ENOMEM;
		return NULL;
	}
	r->fd = fd;
	r->base = p;
	r->size = t.size;
	r->t = p;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return r;
bad:
	errno = EINVAL;
	return NULL;
}

unsigned zfs_uring_region_held(const struct zfs_uring_region *r)
{
	return r ? r->t->held : 0;
}

/* ---- create, start, stop ------------------------------------------------------ */

/* Free the queues: eventfds, entries (threads stopped). */
static void zu_free_queues(struct zfs_uring *u)
{
	unsigned qi;

	if (!u->q)
		return;
	for (qi = 0; qi < u->nq; qi++) {
		struct zu_queue *q = &u->q[qi];

		if (q->efd >= 0)
			close(q->efd);
		free(q->ents);
	}
	free(u->q);
	u->q = NULL;
}

/* The queues and their entries: fixed for the transport's life, so
 * zu_find reads them without a lock.  Each entry's block lies in the
 * region, queue by queue; an entry the table says is held is ZU_HELD. */
static int zu_alloc_queues(struct zfs_uring *u)
{
	unsigned qi, i;
	char *blocks = u->reg->base + u->reg->t->table_bytes;

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
			struct zu_ent *e = &q->ents[i];
			size_t k = (size_t)qi * u->cfg.depth + i;

			e->q = q;
			e->tbl = &u->reg->t->ents[k];
			e->block = blocks + k * u->block_size;
			e->hdr = (struct fuk_req_header *)(void *)e->block;
			e->payload = e->block + ZU_HDR_PAGE;
			e->iov[0].iov_base = e->hdr;
			e->iov[0].iov_len = sizeof(*e->hdr);
			e->iov[1].iov_base = e->payload;
			e->iov[1].iov_len = u->cfg.max_payload;
			e->state = ZU_DEAD;
			if (e->tbl->state == ZU_TBL_HELD) {
				e->state = ZU_HELD;
				q->nheld++;
			}
		}
	}
	return 0;
}

struct zfs_uring *zfs_uring_create(const struct zfs_uring_config *cfg)
{
	struct zfs_uring *u;
	int err = ENOMEM;

	if (!cfg || cfg->fd < 0 || !cfg->process ||
	    (!cfg->adopt && (cfg->depth < 1 || cfg->depth > ZFS_URING_MAX_DEPTH ||
			     cfg->max_payload < 8192)) ||
	    (cfg->adopt && cfg->adopt->t->nq != zfs_uring_nr_queues())) {
		errno = EINVAL;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->cfg = *cfg;
	u->nq = zfs_uring_nr_queues();
	if (cfg->adopt) {
		u->cfg.depth = cfg->adopt->t->depth;
		u->cfg.max_payload = cfg->adopt->t->max_payload;
		u->block_size = cfg->adopt->t->block_size;
		u->handed = 1;
	} else {
		u->block_size = zu_page_up(ZU_HDR_PAGE + cfg->max_payload);
	}
	u->cfg.adopt = NULL;
	if (pthread_key_create(&u->key, NULL) != 0)
		goto err_free;
	if (pthread_mutex_init(&u->lock, NULL) != 0)
		goto err_key;
	if (pthread_cond_init(&u->cond, NULL) != 0)
		goto err_lock;
	u->reg = cfg->adopt ? cfg->adopt
	       : zu_region_new(u->nq, u->cfg.depth, u->block_size, u->cfg.max_payload);
	if (!u->reg) {
		err = errno;
		goto err_cond;
	}
	atomic_store(&u->held_count, u->reg->t->held);
	if (zu_alloc_queues(u) < 0)
		goto err_queues;
	return u;
err_queues:
	zu_free_queues(u);
	if (!cfg->adopt)
		zfs_uring_region_free(u->reg);
err_cond:
	pthread_cond_destroy(&u->cond);
err_lock:
	pthread_mutex_destroy(&u->lock);
err_key:
	pthread_key_delete(u->key);
err_free:
	free(u);
	errno = err;
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
	int ret = 0;

	if (!u || u->started)
		return -EINVAL;
	u->started = 1;
	atomic_store(&u->stop, 0);
	atomic_store(&u->hold, 0);
	atomic_store(&u->held, 0);
	pthread_mutex_lock(&u->lock);
	u->reported = 0;
	u->start_err = 0;
	pthread_mutex_unlock(&u->lock);
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
	u->ever = 1;
	return 0;
err:
	zfs_uring_stop(u);
	/* A ring that served once (or was handed over) cannot be given up:
	 * the kernel uses it; the caller ends the session instead. */
	if (!u->ever && !u->handed)
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
	u->started = 0;
}

int zfs_uring_hold(struct zfs_uring *u, unsigned timeout_ms, int (*poke)(void *arg), void *arg,
		   char *err, size_t errlen)
{
	struct timespec dl;
	cpu_set_t online;
	unsigned qi, need = 0, full;
	uint64_t held = 0;
	int ret = 0;

	if (!u || !u->started || !atomic_load(&u->running)) {
		snprintf(err, errlen, "the io_uring transport is not running");
		return -EINVAL;
	}
	zfs_uring_online(&online);
	for (qi = 0; qi < u->nq; qi++) {
		int must = qi < CPU_SETSIZE && CPU_ISSET(qi, &online);

		atomic_store(&u->q[qi].must_hold, must);
		need += (unsigned)must;
	}
	pthread_mutex_lock(&u->lock);
	u->full = 0;
	pthread_mutex_unlock(&u->lock);
	atomic_store(&u->hold, 1);
	if (poke)
		ret = poke(arg);
	if (ret < 0) {
		snprintf(err, errlen, "cannot start the process that fills the queues: %s",
			 strerror(-ret));
		goto resume;
	}
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&u->lock);
	while (u->full < need && ret == 0)
		ret = -pthread_cond_timedwait(&u->cond, &u->lock, &dl);
	full = u->full;
	pthread_mutex_unlock(&u->lock);
	if (full < need) {
		for (qi = 0; qi < u->nq; qi++)
			if (atomic_load(&u->q[qi].must_hold) && !atomic_load(&u->q[qi].hold_reported))
				break;
		snprintf(err, errlen, "io_uring queue %u (CPU %u) did not fill its %u entries "
			 "within %u ms (can the daemon run on that CPU?)", qi, qi, u->cfg.depth,
			 timeout_ms);
		ret = -ETIMEDOUT;
		goto resume;
	}
	/* Every entry of every online queue holds a request: none can take
	 * one any more, so the threads leave with nothing the kernel could
	 * give them but their eventfd read. */
	zfs_uring_stop(u);
	for (qi = 0; qi < u->nq; qi++)
		held += u->q[qi].nheld;
	u->reg->t->held = (uint32_t)held;
	atomic_store(&u->held_count, held);
	atomic_store(&u->hold, 0);
	atomic_store(&u->held, 1);
	return 0;
resume:
	/* Serve on: each queue's thread serves what it held. */
	atomic_store(&u->hold, 0);
	for (qi = 0; qi < u->nq; qi++)
		zu_kick(&u->q[qi]);
	return ret;
}

int zfs_uring_held(const struct zfs_uring *u)
{
	return u && atomic_load(&u->held);
}

int zfs_uring_pending(const struct zfs_uring *u)
{
	return u && !u->started && (atomic_load(&u->held) || (u->handed && !u->ever));
}

int zfs_uring_fd(const struct zfs_uring *u)
{
	return u ? u->reg->fd : -1;
}

void zfs_uring_destroy(struct zfs_uring *u)
{
	if (!u)
		return;
	zfs_uring_stop(u);
	zu_free_queues(u);
	zfs_uring_region_free(u->reg);
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
	out->held = atomic_load_explicit(&u->held_count, memory_order_relaxed);
	for (qi = 0; qi < u->nq; qi++) {
		const struct zu_queue *q = &u->q[qi];

		out->pinned += (uint64_t)atomic_load_explicit(&q->pinned, memory_order_relaxed);
		out->requests += atomic_load_explicit(&q->requests, memory_order_relaxed);
		out->remote_replies += atomic_load_explicit(&q->remote_replies,
							    memory_order_relaxed);
		out->copied_replies += atomic_load_explicit(&q->copied, memory_order_relaxed);
		out->errors += atomic_load_explicit(&q->errors, memory_order_relaxed);
		out->revived += atomic_load_explicit(&q->revived, memory_order_relaxed);
	}
}
