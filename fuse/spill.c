/* spill.c - the far tier's client: whole-file images in a memcached cluster.
 *
 * See spill.h for the contract, the wire format and the defaults;
 * spill_wire.c holds the parts that need no context (CRC-32C, the item
 * header's encoding, server lists).  How the client is built:
 *
 *   struct zfs_spill
 *     srv[]      one record per server: up/down, when down until, counters,
 *                last error text (srv_lock); shared by every thread, so
 *                one thread's failure makes all of them skip the server
 *     sq         the spill queue: stores and deletes, served by `threads`
 *                workers;                                   (sq.lock)
 *     fq         the fetch queue, served by `fetch_threads` workers
 *                                                           (fq.lock)
 *     st         the figures, one atomic word each (ZFS_SPILL_STATS_FIELDS)
 *
 *   struct spill_worker: one thread, its own libmemcached handle (a
 *     memcached_st is not thread safe, and each holds one connection per
 *     server), its item buffer, its multi-get keys, and `cur`, the request
 *     it runs (so a delete can cancel an in-flight store).
 *
 * A request is a malloc()ed struct spill_req in a FIFO; a worker pops one
 * under its queue's lock, runs it with no lock held, calls its callback and
 * frees it.  The module's skip decision is made before each request
 * (spill_srv_begin) and every libmemcached result is recorded after it
 * (spill_srv_end), so libmemcached's own per-handle timeout (RETRY_TIMEOUT,
 * which it keeps separately in every handle) is reset when the shared
 * record says "go" - the shared record decides.
 *
 * Lock order: sq.lock or fq.lock -> srv_lock; the two queue locks are never
 * held together; nothing is held across a libmemcached call or a callback.
 */
#include "fuse/spill.h"
#include "fuse/spill_int.h"

#include "alloc/crc32c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <libmemcached/memcached.h>

#define MGET_BATCH 64		/* keys per multi-get */

/* ---- the context ----------------------------------------------------------- */

enum spill_op { SPILL_STORE, SPILL_DELETE, SPILL_FETCH };

struct spill_req {
	struct spill_req *next;		/* protected by the queue's lock */
	int cancelled;			/* protected by the queue's lock (stores) */
	enum spill_op op;
	uint64_t ino, gen;
	size_t len;
	const void *image;		/* stores: borrowed from the caller */
	zfs_spill_store_fn store_done;
	zfs_spill_fetch_fn fetch_done;
	void *arg;
};

struct spill_worker;

struct spill_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* signalled on a new request or stopping */
	struct spill_req *head, *tail;	/* protected by lock */
	unsigned depth;			/* protected by lock: requests in the list */
	size_t bytes;			/* protected by lock: store bytes in the list */
	int stopping;			/* protected by lock */
	unsigned max_depth;		/* constant */
	size_t max_bytes;		/* constant; 0: no bound */
	struct spill_worker *workers;	/* constant array of nworkers */
	unsigned nworkers;
	const char *name;		/* thread name */
};

struct spill_worker {
	struct zfs_spill *sp;
	struct spill_queue *q;
	pthread_t tid;
	int started;
	memcached_st *mc;		/* this thread's own handle */
	const memcached_instance_st *inst[ZFS_SPILL_SERVERS_MAX];	/* by server index */
	memcached_result_st result;	/* fetches: reused for every item */
	unsigned char *buf;		/* stores: header + payload of one item */
	char (*keys)[ZFS_SPILL_KEY_MAX];	/* fetches: one multi-get's keys */
	struct spill_req *cur;		/* protected by q->lock: the request it runs */
};

struct spill_server {
	struct zfs_spill_addr addr;	/* constant */
	char name[ZFS_SPILL_NAME_MAX];	/* constant */
	int failed;			/* protected by srv_lock */
	uint64_t down_until_ms;		/* protected by srv_lock (when failed) */
	uint64_t requests, errors, skips;	/* protected by srv_lock */
	char last_error[ZFS_SPILL_ERROR_MAX];	/* protected by srv_lock */
};

#define SPILL_COUNTER(name, comment) _Atomic uint64_t name;
struct spill_counters {
	ZFS_SPILL_STATS_FIELDS(SPILL_COUNTER)
};
#undef SPILL_COUNTER

struct zfs_spill {
	/* the configuration, constant after create */
	uint64_t mount_id;
	uint32_t ttl_s, item_size, connect_ms, poll_ms, retry_ms;
	size_t queue_bytes;
	unsigned nservers;

	pthread_mutex_t srv_lock;
	struct spill_server srv[ZFS_SPILL_SERVERS_MAX];

	struct spill_queue sq;		/* stores and deletes */
	struct spill_queue fq;		/* fetches */
	struct spill_counters st;
};

#define CNT_ADD(sp, f, v) atomic_fetch_add_explicit(&(sp)->st.f, (uint64_t)(v), memory_order_relaxed)
#define CNT_SUB(sp, f, v) atomic_fetch_sub_explicit(&(sp)->st.f, (uint64_t)(v), memory_order_relaxed)

/* Subtract, stopping at 0 (files_now, bytes_now: a caller that deletes
 * what it never stored must not wrap them). */
static void cnt_sub_sat(_Atomic uint64_t *c, uint64_t v)
{
	uint64_t old = atomic_load_explicit(c, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(c, &old, old > v ? old - v : 0,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t zfs_spill_mount_id(const struct zfs_spill *sp)
{
	return sp->mount_id;
}

uint32_t zfs_spill_nitems(const struct zfs_spill *sp, size_t len)
{
	size_t n = (len + sp->item_size - 1) / sp->item_size;

	return n ? (uint32_t)n : 1u;
}

int zfs_spill_key(const struct zfs_spill *sp, uint64_t ino, uint64_t gen, int64_t k,
		  char *buf, size_t len)
{
	int n;

	if (k < 0)
		n = snprintf(buf, len, "zc:%016" PRIx64 ":%" PRIu64 ":%" PRIu64,
			     sp->mount_id, ino, gen);
	else
		n = snprintf(buf, len, "zc:%016" PRIx64 ":%" PRIu64 ":%" PRIu64 ":%" PRId64,
			     sp->mount_id, ino, gen, k);
	return n < 0 ? 0 : n;
}

/* ---- servers: the shared up/down record ------------------------------------ */

/* What a libmemcached result says about the server. */
enum rc_class { RC_OK, RC_DOWN, RC_ANSWERED, RC_LOCAL };

static enum rc_class rc_classify(memcached_return_t rc)
{
	switch (rc) {
	case MEMCACHED_SUCCESS:
	case MEMCACHED_STORED:
	case MEMCACHED_DELETED:
	case MEMCACHED_END:
	case MEMCACHED_NOTFOUND:
		return RC_OK;
	case MEMCACHED_HOST_LOOKUP_FAILURE:
	case MEMCACHED_CONNECTION_FAILURE:
	case MEMCACHED_CONNECTION_BIND_FAILURE:
	case MEMCACHED_WRITE_FAILURE:
	case MEMCACHED_READ_FAILURE:
	case MEMCACHED_UNKNOWN_READ_FAILURE:
	case MEMCACHED_PROTOCOL_ERROR:
	case MEMCACHED_PARTIAL_READ:
	case MEMCACHED_SOME_ERRORS:
	case MEMCACHED_NO_SERVERS:
	case MEMCACHED_ERRNO:
	case MEMCACHED_FAIL_UNIX_SOCKET:
	case MEMCACHED_TIMEOUT:
	case MEMCACHED_SERVER_MARKED_DEAD:
	case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
	case MEMCACHED_ERROR:	/* also CONNECTION_SOCKET_CREATE_FAILURE */
		return RC_DOWN;
	case MEMCACHED_MEMORY_ALLOCATION_FAILURE:
	case MEMCACHED_INVALID_ARGUMENTS:
	case MEMCACHED_BAD_KEY_PROVIDED:
	case MEMCACHED_KEY_TOO_BIG:
		return RC_LOCAL;
	default:
		return RC_ANSWERED;	/* SERVER_ERROR, E2BIG, out of memory, ... */
	}
}

/* The errno a failed store reports for a libmemcached result. */
static int rc_errno(memcached_return_t rc)
{
	switch (rc) {
	case MEMCACHED_TIMEOUT:
		return -ETIMEDOUT;
	case MEMCACHED_E2BIG:
	case MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE:
		return -ENOSPC;
	case MEMCACHED_MEMORY_ALLOCATION_FAILURE:
		return -ENOMEM;
	default:
		return rc_classify(rc) == RC_DOWN ? -EHOSTDOWN : -EIO;
	}
}

/* Whether a failed request is worth sending once more on a new
 * connection: the server may simply have closed the old one.  Never after
 * a timeout (that would double the time a dead server costs). */
static bool rc_resend(memcached_return_t rc)
{
	return rc_classify(rc) == RC_DOWN && rc != MEMCACHED_TIMEOUT &&
	       rc != MEMCACHED_HOST_LOOKUP_FAILURE;
}

/* The index of the server the group key maps to, for this worker's handle,
 * or -1 (no server: cannot happen with a non-empty list). */
static int spill_server_of(struct spill_worker *w, const char *gkey, size_t glen)
{
	memcached_return_t rc;
	const memcached_instance_st *in = memcached_server_by_key(w->mc, gkey, glen, &rc);

	for (unsigned i = 0; in && i < w->sp->nservers; i++)
		if (w->inst[i] == in)
			return (int)i;
	return -1;
}

/* Before a request to server i: false when it is down (counted as a skip);
 * true to go on.  A failed server whose retry time has passed lets one
 * request through (the probe) and stays down for the others meanwhile. */
static bool spill_srv_begin(struct spill_worker *w, int i)
{
	struct zfs_spill *sp = w->sp;
	struct spill_server *s;
	bool go = true;

	if (i < 0)
		return false;
	s = &sp->srv[i];
	pthread_mutex_lock(&sp->srv_lock);
	if (s->failed) {
		uint64_t now = now_ms();

		if (now < s->down_until_ms) {
			go = false;
			s->skips++;
		} else {
			s->down_until_ms = now + sp->retry_ms;	/* this one probes */
		}
	}
	pthread_mutex_unlock(&sp->srv_lock);
	if (!go) {
		CNT_ADD(sp, server_skips, 1);
		return false;
	}
	/* Our record decides: clear this handle's own retry timer so that a
	 * failure it saw earlier does not refuse the request locally. */
	memcached_instance_next_retry(w->inst[i], 0);
	return true;
}

/* A short text for a failed result.  libmemcached's own messages carry
 * pointers and source lines, and it reports a refused reconnect after our
 * timer reset as "disabled until timed retry"; say what happened, with the
 * system's word when there is one. */
static void rc_text(memcached_st *mc, memcached_return_t rc, char *buf, size_t len)
{
	int e = memcached_last_error_errno(mc);
	const char *what;

	switch (rc) {
	case MEMCACHED_CONNECTION_FAILURE:
	case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
	case MEMCACHED_SERVER_MARKED_DEAD:
	case MEMCACHED_ERROR:
		what = "cannot connect";
		break;
	case MEMCACHED_WRITE_FAILURE:
	case MEMCACHED_READ_FAILURE:
	case MEMCACHED_UNKNOWN_READ_FAILURE:
	case MEMCACHED_PARTIAL_READ:
		what = "connection lost";
		break;
	case MEMCACHED_TIMEOUT:
		what = "timed out";
		e = 0;
		break;
	case MEMCACHED_HOST_LOOKUP_FAILURE:
		what = "host name lookup failed";
		break;
	default:
		what = memcached_strerror(mc, rc);
		break;
	}
	if (e)
		snprintf(buf, len, "%s: %s", what, strerror(e));
	else
		snprintf(buf, len, "%s", what);
}

/* After one libmemcached call to server i with result rc. */
static void spill_srv_end(struct spill_worker *w, int i, memcached_return_t rc)
{
	struct zfs_spill *sp = w->sp;
	struct spill_server *s = &sp->srv[i];
	enum rc_class cls = rc_classify(rc);
	char text[ZFS_SPILL_ERROR_MAX];

	if (cls != RC_OK) {
		rc_text(w->mc, rc, text, sizeof(text));
		CNT_ADD(sp, remote_errors, 1);
		if (rc == MEMCACHED_TIMEOUT)
			CNT_ADD(sp, timeouts, 1);
	}
	pthread_mutex_lock(&sp->srv_lock);
	s->requests++;
	if (cls == RC_OK) {
		s->failed = 0;
	} else {
		s->errors++;
		memcpy(s->last_error, text, sizeof(text));
		if (cls == RC_DOWN) {
			s->failed = 1;
			s->down_until_ms = now_ms() + sp->retry_ms;
		}
	}
	pthread_mutex_unlock(&sp->srv_lock);
}

const char *zfs_spill_server_state_name(enum zfs_spill_server_state st)
{
	switch (st) {
	case ZFS_SPILL_SERVER_UP:
		return "up";
	case ZFS_SPILL_SERVER_DOWN:
		return "down";
	case ZFS_SPILL_SERVER_RETRYING:
		return "retrying";
	}
	return "?";
}

int zfs_spill_servers(struct zfs_spill *sp, struct zfs_spill_server *out, size_t n)
{
	uint64_t now = now_ms();

	pthread_mutex_lock(&sp->srv_lock);
	for (size_t i = 0; i < n && i < sp->nservers; i++) {
		const struct spill_server *s = &sp->srv[i];
		struct zfs_spill_server *o = &out[i];

		memcpy(o->name, s->name, sizeof(o->name));
		o->retry_in_ms = 0;
		if (!s->failed) {
			o->state = ZFS_SPILL_SERVER_UP;
		} else if (now < s->down_until_ms) {
			o->state = ZFS_SPILL_SERVER_DOWN;
			o->retry_in_ms = (uint32_t)(s->down_until_ms - now);
		} else {
			o->state = ZFS_SPILL_SERVER_RETRYING;
		}
		o->requests = s->requests;
		o->errors = s->errors;
		o->skips = s->skips;
		memcpy(o->last_error, s->last_error, sizeof(o->last_error));
	}
	pthread_mutex_unlock(&sp->srv_lock);
	return (int)sp->nservers;
}

void zfs_spill_stats(struct zfs_spill *sp, struct zfs_spill_stats *out)
{
#define SPILL_READ(name, comment) \
	out->name = atomic_load_explicit(&sp->st.name, memory_order_relaxed);
	ZFS_SPILL_STATS_FIELDS(SPILL_READ)
#undef SPILL_READ
}

/* ---- the work ------------------------------------------------------------------ */

static bool spill_is_cancelled(struct spill_worker *w, struct spill_req *r)
{
	int c;

	pthread_mutex_lock(&w->q->lock);
	c = r->cancelled;
	pthread_mutex_unlock(&w->q->lock);
	return c != 0;
}

/* Delete items [0, n) of r's image, best effort.  Stops at the first sign
 * that the server is gone (the rest would fail the same way; the TTL
 * removes them). */
static void spill_delete_items(struct spill_worker *w, const struct spill_req *r, uint32_t n)
{
	struct zfs_spill *sp = w->sp;
	char gkey[ZFS_SPILL_KEY_MAX], key[ZFS_SPILL_KEY_MAX];
	size_t glen = (size_t)zfs_spill_key(sp, r->ino, r->gen, -1, gkey, sizeof(gkey));
	int srv = spill_server_of(w, gkey, glen);

	if (!spill_srv_begin(w, srv))
		return;
	for (uint32_t k = 0; k < n; k++) {
		size_t klen = (size_t)zfs_spill_key(sp, r->ino, r->gen, k, key, sizeof(key));
		memcached_return_t rc = memcached_delete_by_key(w->mc, gkey, glen, key, klen, 0);

		if (rc_resend(rc)) {
			CNT_ADD(sp, resends, 1);
			memcached_instance_next_retry(w->inst[srv], 0);
			rc = memcached_delete_by_key(w->mc, gkey, glen, key, klen, 0);
		}
		spill_srv_end(w, srv, rc);
		if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_DELETED)
			CNT_ADD(sp, items_deleted, 1);
		else if (rc_classify(rc) == RC_DOWN)
			break;
	}
}

/* Set every item of a store; *nset receives how many were acknowledged. */
static int spill_store_items(struct spill_worker *w, struct spill_req *r, uint32_t *nset)
{
	struct zfs_spill *sp = w->sp;
	const unsigned char *image = r->image;
	uint32_t n = zfs_spill_nitems(sp, r->len);
	char gkey[ZFS_SPILL_KEY_MAX], key[ZFS_SPILL_KEY_MAX];
	size_t glen = (size_t)zfs_spill_key(sp, r->ino, r->gen, -1, gkey, sizeof(gkey));
	int srv = spill_server_of(w, gkey, glen);
	struct zfs_spill_item_header h = {
		.magic = ZFS_SPILL_MAGIC,
		.version = ZFS_SPILL_VERSION,
		.header_size = ZFS_SPILL_HEADER_SIZE,
		.mount_id = sp->mount_id,
		.ino = r->ino,
		.gen = r->gen,
		.count = n,
		.total_len = r->len,
	};

	*nset = 0;
	if (!spill_srv_begin(w, srv))
		return -EHOSTDOWN;
	h.image_crc = crc32c(0, image, r->len);
	for (uint32_t k = 0; k < n; k++) {
		size_t off = (size_t)k * sp->item_size;
		size_t plen = r->len - off < sp->item_size ? r->len - off : sp->item_size;
		size_t klen;
		memcached_return_t rc;

		if (k > 0 && spill_is_cancelled(w, r))
			return -ECANCELED;
		h.index = k;
		h.payload_len = (uint32_t)plen;
		h.payload_crc = crc32c(0, image + off, plen);
		zfs_spill_encode_header(&h, w->buf);
		if (plen)
			memcpy(w->buf + ZFS_SPILL_HEADER_SIZE, image + off, plen);
		klen = (size_t)zfs_spill_key(sp, r->ino, r->gen, k, key, sizeof(key));
		rc = memcached_set_by_key(w->mc, gkey, glen, key, klen, (const char *)w->buf,
					  ZFS_SPILL_HEADER_SIZE + plen, (time_t)sp->ttl_s, 0);
		if (rc_resend(rc)) {
			CNT_ADD(sp, resends, 1);
			memcached_instance_next_retry(w->inst[srv], 0);
			rc = memcached_set_by_key(w->mc, gkey, glen, key, klen, (const char *)w->buf,
						  ZFS_SPILL_HEADER_SIZE + plen, (time_t)sp->ttl_s, 0);
		}
		spill_srv_end(w, srv, rc);
		if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_STORED)
			return rc_errno(rc);
		*nset = k + 1;
		CNT_ADD(sp, items_set, 1);
	}
	return 0;
}

static void spill_run_store(struct spill_worker *w, struct spill_req *r)
{
	struct zfs_spill *sp = w->sp;
	uint32_t nset = 0;
	int ret, cancelled;

	ret = spill_is_cancelled(w, r) ? -ECANCELED : spill_store_items(w, r, &nset);
	/* Decide under the lock, before `cur` is cleared: a delete that comes
	 * later cannot find this store any more and will queue a real delete,
	 * which must find the figures already counting this image. */
	pthread_mutex_lock(&w->q->lock);
	cancelled = r->cancelled;
	if (ret == 0 && !cancelled) {
		CNT_ADD(sp, files_now, 1);
		CNT_ADD(sp, bytes_now, r->len);
		CNT_ADD(sp, files_spilled, 1);
		CNT_ADD(sp, bytes_spilled, r->len);
	}
	w->cur = NULL;
	pthread_mutex_unlock(&w->q->lock);
	if (cancelled)
		ret = -ECANCELED;
	if (ret != 0 && nset > 0)
		spill_delete_items(w, r, nset);
	if (ret == -ECANCELED)
		CNT_ADD(sp, store_cancelled, 1);
	else if (ret != 0)
		CNT_ADD(sp, store_errors, 1);
	CNT_SUB(sp, queue_depth, 1);
	CNT_SUB(sp, queue_bytes, r->len);
	r->store_done(r->arg, ret);
	free(r);
}

static void spill_run_delete(struct spill_worker *w, struct spill_req *r)
{
	struct zfs_spill *sp = w->sp;

	spill_delete_items(w, r, zfs_spill_nitems(sp, r->len));
	pthread_mutex_lock(&w->q->lock);
	w->cur = NULL;
	pthread_mutex_unlock(&w->q->lock);
	CNT_ADD(sp, deletes, 1);
	CNT_SUB(sp, queue_depth, 1);
	free(r);
}

/* Check one fetched item (value of vlen bytes at val) as item k of r's
 * n-item image; on success copy its payload into the image.  *image_crc
 * is the whole image's CRC the first item announced (*have_crc 0 before). */
static bool spill_item_ok(struct zfs_spill *sp, const struct spill_req *r, uint32_t n,
			  uint32_t k, const unsigned char *val, size_t vlen, unsigned char *img,
			  uint32_t *image_crc, bool *have_crc)
{
	struct zfs_spill_item_header h;
	size_t off = (size_t)k * sp->item_size;
	size_t plen = r->len - off < sp->item_size ? r->len - off : sp->item_size;

	if (vlen < ZFS_SPILL_HEADER_SIZE)
		return false;
	zfs_spill_decode_header(val, &h);
	if (h.magic != ZFS_SPILL_MAGIC || h.version != ZFS_SPILL_VERSION ||
	    h.header_size != ZFS_SPILL_HEADER_SIZE ||
	    h.header_crc != crc32c(0, val, ZFS_SPILL_HEADER_SIZE - 4))
		return false;
	if (h.mount_id != sp->mount_id || h.ino != r->ino || h.gen != r->gen ||
	    h.index != k || h.count != n || h.total_len != r->len ||
	    h.payload_len != plen || vlen != ZFS_SPILL_HEADER_SIZE + plen)
		return false;
	if (*have_crc && h.image_crc != *image_crc)
		return false;
	if (h.payload_crc != crc32c(0, val + ZFS_SPILL_HEADER_SIZE, plen))
		return false;
	*image_crc = h.image_crc;
	*have_crc = true;
	if (plen)
		memcpy(img + off, val + ZFS_SPILL_HEADER_SIZE, plen);
	return true;
}

/* Item index from a returned key "<gkey>:<k>", or -1. */
static int64_t key_index(const char *key, size_t klen, const char *gkey, size_t glen)
{
	int64_t k = 0;

	if (klen <= glen + 1 || memcmp(key, gkey, glen) || key[glen] != ':' || klen - glen - 1 > 10)
		return -1;
	for (size_t i = glen + 1; i < klen; i++) {
		if (key[i] < '0' || key[i] > '9')
			return -1;
		k = k * 10 + (key[i] - '0');
	}
	return k;
}

/* One multi-get of items [b, b + nb): verify and place every item that
 * comes back (*bad on the first bad one, *received counts the answers).
 * Returns libmemcached's final result (END when the server answered). */
static memcached_return_t spill_mget(struct spill_worker *w, const struct spill_req *r,
				     uint32_t n, uint32_t b, uint32_t nb, const char *gkey,
				     size_t glen, const char *const *keyp, const size_t *keyl,
				     unsigned char *img, unsigned char *got, uint32_t *image_crc,
				     bool *have_crc, bool *bad, uint32_t *received)
{
	struct zfs_spill *sp = w->sp;
	memcached_result_st *res;
	memcached_return_t rc;

	*received = 0;
	rc = memcached_mget_by_key(w->mc, gkey, glen, keyp, keyl, nb);
	if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_SOME_ERRORS)
		return rc;
	/* Read every answer, even after a bad one: the connection must be
	 * left with nothing pending. */
	while ((res = memcached_fetch_result(w->mc, &w->result, &rc))) {
		int64_t k = key_index(memcached_result_key_value(res),
				      memcached_result_key_length(res), gkey, glen);

		(*received)++;
		if (*bad)
			continue;
		if (k < b || k >= (int64_t)b + nb || got[k] ||
		    !spill_item_ok(sp, r, n, (uint32_t)k,
				   (const unsigned char *)memcached_result_value(res),
				   memcached_result_length(res), img, image_crc, have_crc)) {
			CNT_ADD(sp, corrupt_items, 1);
			*bad = true;
			continue;
		}
		got[k] = 1;
	}
	return rc;
}

/* Fetch every item; 0 with *out = the image, or -ENOENT / -ENOMEM. */
static int spill_fetch_items(struct spill_worker *w, struct spill_req *r, void **out)
{
	struct zfs_spill *sp = w->sp;
	uint32_t n = zfs_spill_nitems(sp, r->len);
	char gkey[ZFS_SPILL_KEY_MAX];
	size_t glen = (size_t)zfs_spill_key(sp, r->ino, r->gen, -1, gkey, sizeof(gkey));
	int srv = spill_server_of(w, gkey, glen);
	const char *keyp[MGET_BATCH];
	size_t keyl[MGET_BATCH];
	unsigned char *img, *got;
	uint32_t image_crc = 0;
	bool have_crc = false, bad = false;

	*out = NULL;
	img = malloc(r->len ? r->len : 1);
	got = calloc(n, 1);
	if (!img || !got) {
		free(img);
		free(got);
		return -ENOMEM;
	}
	if (!spill_srv_begin(w, srv))
		bad = true;
	for (uint32_t b = 0; !bad && b < n; b += MGET_BATCH) {
		uint32_t nb = n - b < MGET_BATCH ? n - b : MGET_BATCH;
		memcached_return_t rc;
		uint32_t received;

		for (uint32_t j = 0; j < nb; j++) {
			keyl[j] = (size_t)zfs_spill_key(sp, r->ino, r->gen, b + j, w->keys[j],
							ZFS_SPILL_KEY_MAX);
			keyp[j] = w->keys[j];
		}
		rc = spill_mget(w, r, n, b, nb, gkey, glen, keyp, keyl, img, got, &image_crc,
				&have_crc, &bad, &received);
		if (!bad && !received && rc_resend(rc)) {
			CNT_ADD(sp, resends, 1);
			memcached_instance_next_retry(w->inst[srv], 0);
			rc = spill_mget(w, r, n, b, nb, gkey, glen, keyp, keyl, img, got,
					&image_crc, &have_crc, &bad, &received);
		}
		spill_srv_end(w, srv, rc);
		if (rc_classify(rc) != RC_OK)
			bad = true;
	}
	for (uint32_t k = 0; !bad && k < n; k++)
		if (!got[k])
			bad = true;
	if (!bad && crc32c(0, img, r->len) != image_crc) {
		CNT_ADD(sp, corrupt_items, 1);
		bad = true;
	}
	free(got);
	if (bad) {
		free(img);
		return -ENOENT;
	}
	*out = img;
	return 0;
}

static void spill_run_fetch(struct spill_worker *w, struct spill_req *r)
{
	struct zfs_spill *sp = w->sp;
	void *img = NULL;
	int ret = spill_fetch_items(w, r, &img);

	pthread_mutex_lock(&w->q->lock);
	w->cur = NULL;
	pthread_mutex_unlock(&w->q->lock);
	if (ret == 0) {
		CNT_ADD(sp, fetch_hits, 1);
		CNT_ADD(sp, fetch_bytes, r->len);
	} else if (ret == -ENOENT) {
		CNT_ADD(sp, fetch_misses, 1);
	}
	CNT_SUB(sp, queue_depth, 1);
	r->fetch_done(r->arg, ret, img, ret == 0 ? r->len : 0);
	free(r);
}

static void *spill_worker_main(void *arg)
{
	struct spill_worker *w = arg;
	struct spill_queue *q = w->q;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct spill_req *r;

		while (!q->head && !q->stopping)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->stopping)
			break;
		r = q->head;
		q->head = r->next;
		if (!q->head)
			q->tail = NULL;
		r->next = NULL;
		q->depth--;
		if (r->op == SPILL_STORE)
			q->bytes -= r->len;
		w->cur = r;
		pthread_mutex_unlock(&q->lock);
		switch (r->op) {
		case SPILL_STORE:
			spill_run_store(w, r);
			break;
		case SPILL_DELETE:
			spill_run_delete(w, r);
			break;
		case SPILL_FETCH:
			spill_run_fetch(w, r);
			break;
		}
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* ---- requests -------------------------------------------------------------- */

/* Append r to q; 0, or -ESHUTDOWN / -EAGAIN (r is not queued). */
static int spill_submit(struct zfs_spill *sp, struct spill_queue *q, struct spill_req *r)
{
	size_t bytes = r->op == SPILL_STORE ? r->len : 0;
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		ret = -ESHUTDOWN;
	} else if (q->depth >= q->max_depth ||
		   (q->max_bytes && q->bytes + bytes > q->max_bytes)) {
		ret = -EAGAIN;
	} else {
		if (q->tail)
			q->tail->next = r;
		else
			q->head = r;
		q->tail = r;
		q->depth++;
		q->bytes += bytes;
		CNT_ADD(sp, queue_depth, 1);
		CNT_ADD(sp, queue_bytes, bytes);
		pthread_cond_signal(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static struct spill_req *req_new(enum spill_op op, uint64_t ino, uint64_t gen, size_t len)
{
	struct spill_req *r = calloc(1, sizeof(*r));

	if (r) {
		r->op = op;
		r->ino = ino;
		r->gen = gen;
		r->len = len;
	}
	return r;
}

/* Count a store or fetch refused at once: queue full, too large, shut down. */
static void req_rejected(struct zfs_spill *sp, enum spill_op op)
{
	if (op == SPILL_STORE)
		CNT_ADD(sp, store_rejected, 1);
	else
		CNT_ADD(sp, fetch_rejected, 1);
}

/* A store's or a fetch's request of len bytes, or NULL with *err set
 * (-EFBIG past the queue's byte limit, -ENOMEM), counted as refused. */
static struct spill_req *req_admit(struct zfs_spill *sp, enum spill_op op, uint64_t ino,
				   uint64_t gen, size_t len, int *err)
{
	struct spill_req *r = NULL;

	if (len > sp->queue_bytes)
		*err = -EFBIG;
	else if (!(r = req_new(op, ino, gen, len)))
		*err = -ENOMEM;
	if (!r)
		req_rejected(sp, op);
	return r;
}

/* Queue an admitted request; on refusal it is counted and freed. */
static int req_queue(struct zfs_spill *sp, struct spill_queue *q, struct spill_req *r)
{
	int ret = spill_submit(sp, q, r);

	if (ret) {
		req_rejected(sp, r->op);
		free(r);
	}
	return ret;
}

int zfs_spill_store(struct zfs_spill *sp, uint64_t ino, uint64_t gen, const void *image,
		    size_t len, zfs_spill_store_fn done, void *arg)
{
	struct spill_req *r;
	int ret;

	if (!done)
		return -EINVAL;
	r = req_admit(sp, SPILL_STORE, ino, gen, len, &ret);
	if (!r)
		return ret;
	r->image = image;
	r->store_done = done;
	r->arg = arg;
	return req_queue(sp, &sp->sq, r);
}

int zfs_spill_fetch(struct zfs_spill *sp, uint64_t ino, uint64_t gen, size_t len,
		    zfs_spill_fetch_fn done, void *arg)
{
	struct spill_req *r;
	int ret;

	if (!done)
		return -EINVAL;
	r = req_admit(sp, SPILL_FETCH, ino, gen, len, &ret);
	if (!r)
		return ret;
	r->fetch_done = done;
	r->arg = arg;
	return req_queue(sp, &sp->fq, r);
}

/* Cancel a queued or running store of (ino, gen); true if one was found.
 * Caller must hold sq.lock. */
static bool spill_cancel_store_locked(struct zfs_spill *sp, uint64_t ino, uint64_t gen)
{
	struct spill_queue *q = &sp->sq;
	bool found = false;

	for (struct spill_req *r = q->head; r; r = r->next)
		if (r->op == SPILL_STORE && r->ino == ino && r->gen == gen && !r->cancelled)
			r->cancelled = found = true;
	for (unsigned i = 0; i < q->nworkers; i++) {
		struct spill_req *r = q->workers[i].cur;

		if (r && r->op == SPILL_STORE && r->ino == ino && r->gen == gen && !r->cancelled)
			r->cancelled = found = true;
	}
	return found;
}

int zfs_spill_delete(struct zfs_spill *sp, uint64_t ino, uint64_t gen, size_t len)
{
	struct spill_queue *q = &sp->sq;
	struct spill_req *r = req_new(SPILL_DELETE, ino, gen, len);
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		ret = -ESHUTDOWN;
	} else if (spill_cancel_store_locked(sp, ino, gen)) {
		free(r);
		r = NULL;
	} else if (!r) {
		ret = -ENOMEM;
	} else if (q->depth >= q->max_depth) {
		ret = -EAGAIN;
	} else {
		/* The image leaves the "now" figures when the delete is asked
		 * for, whether or not it reaches the server. */
		cnt_sub_sat(&sp->st.files_now, 1);
		cnt_sub_sat(&sp->st.bytes_now, len);
		if (q->tail)
			q->tail->next = r;
		else
			q->head = r;
		q->tail = r;
		q->depth++;
		CNT_ADD(sp, queue_depth, 1);
		pthread_cond_signal(&q->cond);
		r = NULL;
	}
	pthread_mutex_unlock(&q->lock);
	if (ret) {
		free(r);
		CNT_ADD(sp, delete_dropped, 1);
	}
	return ret;
}

/* ---- synchronous wrappers ---------------------------------------------------- */

struct spill_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;		/* protected by lock */
	int ret;
	void *image;
};

static void spill_wait_init(struct spill_wait *sw)
{
	pthread_mutex_init(&sw->lock, NULL);
	pthread_cond_init(&sw->cond, NULL);
	sw->done = 0;
	sw->ret = 0;
	sw->image = NULL;
}

static int spill_wait_finish(struct spill_wait *sw)
{
	pthread_mutex_lock(&sw->lock);
	while (!sw->done)
		pthread_cond_wait(&sw->cond, &sw->lock);
	pthread_mutex_unlock(&sw->lock);
	pthread_cond_destroy(&sw->cond);
	pthread_mutex_destroy(&sw->lock);
	return sw->ret;
}

static void spill_wait_store_done(void *arg, int ret)
{
	struct spill_wait *sw = arg;

	pthread_mutex_lock(&sw->lock);
	sw->ret = ret;
	sw->done = 1;
	pthread_cond_signal(&sw->cond);
	pthread_mutex_unlock(&sw->lock);
}

static void spill_wait_fetch_done(void *arg, int ret, void *image, size_t len)
{
	struct spill_wait *sw = arg;

	(void)len;
	pthread_mutex_lock(&sw->lock);
	sw->ret = ret;
	sw->image = image;
	sw->done = 1;
	pthread_cond_signal(&sw->cond);
	pthread_mutex_unlock(&sw->lock);
}

int zfs_spill_store_sync(struct zfs_spill *sp, uint64_t ino, uint64_t gen, const void *image,
			 size_t len)
{
	struct spill_wait sw;
	int ret;

	spill_wait_init(&sw);
	ret = zfs_spill_store(sp, ino, gen, image, len, spill_wait_store_done, &sw);
	if (ret) {
		pthread_cond_destroy(&sw.cond);
		pthread_mutex_destroy(&sw.lock);
		return ret;
	}
	return spill_wait_finish(&sw);
}

int zfs_spill_fetch_sync(struct zfs_spill *sp, uint64_t ino, uint64_t gen, size_t len,
			 void **image)
{
	struct spill_wait sw;
	int ret;

	*image = NULL;
	spill_wait_init(&sw);
	ret = zfs_spill_fetch(sp, ino, gen, len, spill_wait_fetch_done, &sw);
	if (ret) {
		pthread_cond_destroy(&sw.cond);
		pthread_mutex_destroy(&sw.lock);
		return ret;
	}
	ret = spill_wait_finish(&sw);
	*image = sw.image;
	return ret;
}

/* ---- invariants -------------------------------------------------------------- */

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "zfs_spill_check: " __VA_ARGS__); \
			fputc('\n', stderr);				\
			ret = -EUCLEAN;					\
			goto out;					\
		}							\
	} while (0)

static int spill_check_queue(struct zfs_spill *sp, struct spill_queue *q, bool fetches)
{
	unsigned depth = 0;
	size_t bytes = 0;
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	for (struct spill_req *r = q->head; r; r = r->next) {
		CHECK(fetches ? r->op == SPILL_FETCH : r->op != SPILL_FETCH,
		      "%s queue holds a request of op %d", q->name, (int)r->op);
		CHECK(r->op != SPILL_STORE || (r->store_done && (r->image || !r->len)),
		      "%s queue: store without callback or image", q->name);
		CHECK(r->op != SPILL_FETCH || r->fetch_done, "fetch without callback");
		CHECK(r->len <= sp->queue_bytes, "request of %zu bytes over the bound", r->len);
		CHECK(r->next || r == q->tail, "%s queue: tail is not the last request", q->name);
		depth++;
		if (r->op == SPILL_STORE)
			bytes += r->len;
	}
	CHECK(depth == q->depth, "%s queue: %u requests listed, depth says %u",
	      q->name, depth, q->depth);
	CHECK(bytes == q->bytes, "%s queue: %zu bytes listed, counter says %zu",
	      q->name, bytes, q->bytes);
	CHECK(depth <= q->max_depth, "%s queue over its bound", q->name);
	CHECK(!q->max_bytes || bytes <= q->max_bytes, "%s queue over its byte bound", q->name);
	CHECK(!!q->head == !!q->tail, "%s queue: head and tail disagree", q->name);
	for (unsigned i = 0; i < q->nworkers; i++) {
		struct spill_req *r = q->workers[i].cur;

		CHECK(!r || (fetches ? r->op == SPILL_FETCH : r->op != SPILL_FETCH),
		      "%s worker %u runs a request of op %d", q->name, i, r ? (int)r->op : -1);
	}
out:
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int zfs_spill_check(struct zfs_spill *sp)
{
	int ret = spill_check_queue(sp, &sp->sq, false);

	if (ret)
		return ret;
	ret = spill_check_queue(sp, &sp->fq, true);
	if (ret)
		return ret;
	pthread_mutex_lock(&sp->srv_lock);
	CHECK(sp->nservers >= 1 && sp->nservers <= ZFS_SPILL_SERVERS_MAX,
	      "%u servers", sp->nservers);
	for (unsigned i = 0; i < sp->nservers; i++) {
		const struct spill_server *s = &sp->srv[i];

		CHECK(s->name[0] && memchr(s->name, '\0', sizeof(s->name)), "server %u: bad name", i);
		CHECK(s->failed == 0 || s->failed == 1, "server %u: failed = %d", i, s->failed);
		CHECK(s->errors <= s->requests, "server %s: %" PRIu64 " errors > %" PRIu64
		      " requests", s->name, s->errors, s->requests);
		CHECK(memchr(s->last_error, '\0', sizeof(s->last_error)),
		      "server %s: last error not terminated", s->name);
		CHECK(!s->failed || s->errors > 0, "server %s down without an error", s->name);
	}
out:
	pthread_mutex_unlock(&sp->srv_lock);
	return ret;
}

/* ---- create / destroy ---------------------------------------------------------- */

/* A handle for one thread: every behaviour, every server.  Not shared. */
static memcached_st *spill_mc_new(struct zfs_spill *sp)
{
	memcached_st *mc = memcached_create(NULL);
	bool ok;

	if (!mc)
		return NULL;
	/* Consistent hashing, so a server list change moves few keys.  The
	 * ASCII protocol (binary is deprecated by memcached 1.6).  No
	 * ejection (see spill.h).  SND/RCV_TIMEOUT are not set: the sockets
	 * are non-blocking and every wait is a poll() bounded by
	 * POLL_TIMEOUT (or CONNECT_TIMEOUT while connecting). */
	ok = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_DISTRIBUTION,
				    MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA) == MEMCACHED_SUCCESS &&
	     memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 0) == MEMCACHED_SUCCESS &&
	     memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_NOREPLY, 0) == MEMCACHED_SUCCESS &&
	     memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1) == MEMCACHED_SUCCESS &&
	     memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_KEEPALIVE, 1) == MEMCACHED_SUCCESS &&
	     memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT,
				    sp->connect_ms) == MEMCACHED_SUCCESS &&
	     memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT,
				    sp->poll_ms) == MEMCACHED_SUCCESS &&
	     memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT,
				    (sp->retry_ms + 999) / 1000) == MEMCACHED_SUCCESS &&
	     memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS,
				    0) == MEMCACHED_SUCCESS;
	for (unsigned i = 0; ok && i < sp->nservers; i++)
		ok = memcached_server_add(mc, sp->srv[i].addr.host,
					  sp->srv[i].addr.port) == MEMCACHED_SUCCESS;
	if (!ok) {
		memcached_free(mc);
		return NULL;
	}
	return mc;
}

static int spill_worker_init(struct zfs_spill *sp, struct spill_queue *q, struct spill_worker *w)
{
	w->sp = sp;
	w->q = q;
	w->mc = spill_mc_new(sp);
	if (!w->mc)
		return -ENOMEM;
	for (unsigned i = 0; i < sp->nservers; i++)
		w->inst[i] = memcached_server_instance_by_position(w->mc, i);
	if (!memcached_result_create(w->mc, &w->result))
		return -ENOMEM;
	if (q == &sp->fq) {
		w->keys = calloc(MGET_BATCH, sizeof(*w->keys));
		if (!w->keys)
			return -ENOMEM;
	} else {
		w->buf = malloc(ZFS_SPILL_HEADER_SIZE + sp->item_size);
		if (!w->buf)
			return -ENOMEM;
	}
	return 0;
}

static void spill_worker_free(struct spill_worker *w)
{
	if (w->mc) {
		memcached_result_free(&w->result);
		memcached_free(w->mc);
	}
	free(w->buf);
	free(w->keys);
}

static int spill_queue_init(struct zfs_spill *sp, struct spill_queue *q, const char *name,
			    unsigned nworkers, unsigned max_depth, size_t max_bytes)
{
	q->name = name;
	q->max_depth = max_depth;
	q->max_bytes = max_bytes;
	q->workers = calloc(nworkers, sizeof(*q->workers));
	if (!q->workers)
		return -ENOMEM;
	q->nworkers = nworkers;
	for (unsigned i = 0; i < nworkers; i++) {
		int ret = spill_worker_init(sp, q, &q->workers[i]);

		if (ret)
			return ret;
	}
	return 0;
}

/* Start q's threads with every signal blocked (signals are the daemon's
 * business, not the spill threads'). */
static int spill_queue_start(struct spill_queue *q)
{
	sigset_t all, old;
	int ret = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < q->nworkers; i++) {
		struct spill_worker *w = &q->workers[i];

		ret = pthread_create(&w->tid, NULL, spill_worker_main, w);
		if (ret) {
			ret = -ret;
			break;
		}
		w->started = 1;
		pthread_setname_np(w->tid, q->name);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

static void spill_queue_stop(struct spill_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < q->nworkers; i++)
		if (q->workers[i].started)
			pthread_join(q->workers[i].tid, NULL);
}

/* After the threads are gone: complete what is still queued, free q. */
static void spill_queue_drain(struct zfs_spill *sp, struct spill_queue *q)
{
	struct spill_req *r = q->head;

	q->head = q->tail = NULL;
	q->depth = 0;
	q->bytes = 0;
	while (r) {
		struct spill_req *next = r->next;

		CNT_SUB(sp, queue_depth, 1);
		switch (r->op) {
		case SPILL_STORE:
			CNT_SUB(sp, queue_bytes, r->len);
			CNT_ADD(sp, store_rejected, 1);
			r->store_done(r->arg, -ESHUTDOWN);
			break;
		case SPILL_FETCH:
			CNT_ADD(sp, fetch_rejected, 1);
			r->fetch_done(r->arg, -ESHUTDOWN, NULL, 0);
			break;
		case SPILL_DELETE:
			CNT_ADD(sp, delete_dropped, 1);
			break;
		}
		free(r);
		r = next;
	}
	for (unsigned i = 0; q->workers && i < q->nworkers; i++)
		spill_worker_free(&q->workers[i]);
	free(q->workers);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}

void zfs_spill_destroy(struct zfs_spill *sp)
{
	if (!sp)
		return;
	/* Both queues refuse new work before either is joined, so a callback
	 * running on one queue's thread cannot queue onto the other. */
	pthread_mutex_lock(&sp->sq.lock);
	sp->sq.stopping = 1;
	pthread_mutex_unlock(&sp->sq.lock);
	pthread_mutex_lock(&sp->fq.lock);
	sp->fq.stopping = 1;
	pthread_mutex_unlock(&sp->fq.lock);
	spill_queue_stop(&sp->sq);
	spill_queue_stop(&sp->fq);
	spill_queue_drain(sp, &sp->sq);
	spill_queue_drain(sp, &sp->fq);
	pthread_mutex_destroy(&sp->srv_lock);
	free(sp);
}

/* A config value: `v`, or `def` when 0; -EINVAL outside [lo, hi]. */
static int pick(uint64_t v, uint64_t def, uint64_t lo, uint64_t hi, uint64_t *out,
		const char *name, char *err, size_t errlen)
{
	if (v == 0)
		v = def;
	if (v < lo || v > hi)
		return _zfs_spill_fail(err, errlen, "spill %s must be %" PRIu64 "..%" PRIu64
				       " (got %" PRIu64 ")", name, lo, hi, v);
	*out = v;
	return 0;
}

struct zfs_spill *zfs_spill_create(const struct zfs_spill_config *cfg, char *err, size_t errlen)
{
	struct zfs_spill_addr addr[ZFS_SPILL_SERVERS_MAX];
	uint64_t ttl = 0, item = 0, conn = 0, poll = 0, retry = 0, thr = 0, fthr = 0, qmax = 0;
	uint64_t qbytes = 0;
	struct zfs_spill *sp;
	int n, ret;

	if (err && errlen)
		err[0] = '\0';
	n = zfs_spill_parse_servers(cfg->servers, addr, ZFS_SPILL_SERVERS_MAX, err, errlen);
	if (n < 0 ||
	    pick(cfg->ttl_s, ZFS_SPILL_TTL_DEFAULT, 1, ZFS_SPILL_TTL_MAX, &ttl,
		 "ttl (seconds)", err, errlen) ||
	    pick(cfg->item_size, ZFS_SPILL_ITEM_DEFAULT, ZFS_SPILL_ITEM_MIN, ZFS_SPILL_ITEM_MAX,
		 &item, "item size (bytes)", err, errlen) ||
	    pick(cfg->connect_timeout_ms, ZFS_SPILL_CONNECT_MS_DEFAULT, 1,
		 ZFS_SPILL_TIMEOUT_MS_MAX, &conn, "connect timeout (ms)", err, errlen) ||
	    pick(cfg->poll_timeout_ms, ZFS_SPILL_POLL_MS_DEFAULT, 1, ZFS_SPILL_TIMEOUT_MS_MAX,
		 &poll, "poll timeout (ms)", err, errlen) ||
	    pick(cfg->retry_ms, ZFS_SPILL_RETRY_MS_DEFAULT, 1, ZFS_SPILL_RETRY_MS_MAX, &retry,
		 "retry interval (ms)", err, errlen) ||
	    pick(cfg->threads, ZFS_SPILL_THREADS_DEFAULT, 1, ZFS_SPILL_THREADS_MAX, &thr,
		 "threads", err, errlen) ||
	    pick(cfg->fetch_threads, ZFS_SPILL_THREADS_DEFAULT, 1, ZFS_SPILL_THREADS_MAX, &fthr,
		 "fetch threads", err, errlen) ||
	    pick(cfg->queue_max, ZFS_SPILL_QUEUE_MAX_DEFAULT, 1, 1u << 20, &qmax,
		 "queue length", err, errlen) ||
	    pick(cfg->queue_bytes, ZFS_SPILL_QUEUE_BYTES_DEFAULT, 1, (uint64_t)1 << 40, &qbytes,
		 "queue bytes", err, errlen)) {
		errno = EINVAL;
		return NULL;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp) {
		errno = ENOMEM;
		return NULL;
	}
	sp->mount_id = cfg->mount_id;
	while (!sp->mount_id) {
		if (getrandom(&sp->mount_id, sizeof(sp->mount_id), 0) != sizeof(sp->mount_id)) {
			ret = errno ? errno : EIO;
			free(sp);
			errno = ret;
			return NULL;
		}
	}
	sp->ttl_s = (uint32_t)ttl;
	sp->item_size = (uint32_t)item;
	sp->connect_ms = (uint32_t)conn;
	sp->poll_ms = (uint32_t)poll;
	sp->retry_ms = (uint32_t)retry;
	sp->queue_bytes = (size_t)qbytes;
	sp->nservers = (unsigned)n;
	pthread_mutex_init(&sp->srv_lock, NULL);
	/* The queues' locks first, so that zfs_spill_destroy can undo any
	 * partial setup below. */
	pthread_mutex_init(&sp->sq.lock, NULL);
	pthread_cond_init(&sp->sq.cond, NULL);
	pthread_mutex_init(&sp->fq.lock, NULL);
	pthread_cond_init(&sp->fq.cond, NULL);
	for (int i = 0; i < n; i++) {
		sp->srv[i].addr = addr[i];
		zfs_spill_format_addr(&addr[i], sp->srv[i].name, sizeof(sp->srv[i].name));
	}
	ret = spill_queue_init(sp, &sp->sq, "zc-spill", (unsigned)thr, (unsigned)qmax,
			       sp->queue_bytes);
	if (!ret)
		ret = spill_queue_init(sp, &sp->fq, "zc-fetch", (unsigned)fthr, (unsigned)qmax, 0);
	if (!ret)
		ret = spill_queue_start(&sp->sq);
	if (!ret)
		ret = spill_queue_start(&sp->fq);
	if (ret) {
		zfs_spill_destroy(sp);	/* joins what started, frees what was made */
		errno = -ret;
		return NULL;
	}
	return sp;
}
