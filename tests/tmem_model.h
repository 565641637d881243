/* tmem_model.h - the randomized model test and the threaded stress test of
 * tmem, written once and parameterised by backend.
 *
 * tests/tmem.c runs them over a trivial in-memory backend, tests/store.c over
 * the real PAM backend.  Everything here is static: include it in one suite.
 *
 * The model is a plain map (pool slot, object, index) -> page seed; the page
 * bytes are regenerated from the seed and compared on every get.  Densify
 * (tmem_densify) repacks a group and changes nothing the model sees: every
 * page of the group is read back after it, and eviction order shows it
 * touched no LRU.  Besides
 * the data it mirrors pins and the LRU touch order of ephemeral pools, so
 * every eviction is checked to take exactly the least recently used
 * unpinned object.  tmem_check() runs after every batch.
 *
 * Metadata allocations go through tm_hostops, malloc with fault injection
 * (tm_host.fail_permille) and live counters, so every allocation failure
 * path of put and pin is exercised and leaks are caught at the end.
 */
#ifndef ZC_TESTS_TMEM_MODEL_H
#define ZC_TESTS_TMEM_MODEL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tmem/tmem.h"

#define TM_PAGE TMEM_PAGE_SIZE

/* A backend under test. */
struct tm_backend {
	const char *name;
	const struct tmem_pamops *ops;
	void *ctx;
	const unsigned *codecs;			/* valid codec ids, or NULL: 0 .. */
	unsigned ncodecs;			/* ... ncodecs-1 */
	void (*set_fail)(void *ctx, unsigned permille);	/* create failures, or NULL */
	long (*live)(void *ctx);		/* pampds alive, or NULL */
	const unsigned *dense;			/* codecs for tmem_densify, or NULL: 0 */
	unsigned ndense;
};

/* A codec for tmem_densify. */
static unsigned tm_dense_codec(const struct tm_backend *be, uint64_t *r)
{
	return be->dense ? be->dense[zc_rand_below(r, be->ndense)] : 0;
}

/* ---- fault-injecting malloc hostops --------------------------------- */

struct tm_host {
	_Atomic unsigned fail_permille;
	_Atomic int deny_mem;			/* refuse mem_alloc (table growth) */
	_Atomic uint64_t rng;
	_Atomic long objs, nodes, mems;
	_Atomic uint64_t failures;
};

static bool tm_host_fail(struct tm_host *h)
{
	unsigned pm = atomic_load(&h->fail_permille);
	if (!pm)
		return false;
	uint64_t st = atomic_fetch_add(&h->rng, 0x9e3779b97f4a7c15ull);
	if (zc_rand(&st) % 1000 >= pm)
		return false;
	atomic_fetch_add(&h->failures, 1);
	return true;
}

static void *tm_host_obj_alloc(void *ctx)
{
	struct tm_host *h = ctx;
	if (tm_host_fail(h))
		return NULL;
	void *p = malloc(TMEM_OBJ_SIZE);
	if (p)
		atomic_fetch_add(&h->objs, 1);
	return p;
}

static void tm_host_obj_free(void *ctx, void *p)
{
	struct tm_host *h = ctx;
	memset(p, 0x6b, TMEM_OBJ_SIZE);		/* poison: stale use shows */
	free(p);
	atomic_fetch_sub(&h->objs, 1);
}

static void *tm_host_objnode_alloc(void *ctx)
{
	struct tm_host *h = ctx;
	if (tm_host_fail(h))
		return NULL;
	void *p = malloc(TMEM_OBJNODE_SIZE);
	if (p)
		atomic_fetch_add(&h->nodes, 1);
	return p;
}

static void tm_host_objnode_free(void *ctx, void *p)
{
	struct tm_host *h = ctx;
	memset(p, 0x6b, TMEM_OBJNODE_SIZE);
	free(p);
	atomic_fetch_sub(&h->nodes, 1);
}

static void *tm_host_mem_alloc(void *ctx, size_t bytes)
{
	struct tm_host *h = ctx;
	if (atomic_load(&h->deny_mem) || tm_host_fail(h))
		return NULL;
	void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	if (p)
		atomic_fetch_add(&h->mems, 1);
	return p;
}

static void tm_host_mem_free(void *ctx, void *p, size_t bytes)
{
	struct tm_host *h = ctx;
	memset(p, 0x6b, bytes);
	free(p);
	atomic_fetch_sub(&h->mems, 1);
}

static const struct tmem_hostops tm_hostops = {
	.obj_alloc = tm_host_obj_alloc,
	.obj_free = tm_host_obj_free,
	.objnode_alloc = tm_host_objnode_alloc,
	.objnode_free = tm_host_objnode_free,
	.mem_alloc = tm_host_mem_alloc,
	.mem_free = tm_host_mem_free,
};

/* ---- page contents -------------------------------------------------- */

/* Fill a page from a seed: same-filled pages (zero included), random
 * bytes, text-like compressible data and half-empty pages, so a real
 * backend takes each of its paths. */
static void tm_fill(void *page, uint64_t seed)
{
	static const char *const words[] = {
		"static ", "int ", "return ", "struct ", "tmem_", "page", "(void)", ";\n",
		"    ", "if (", ") {\n", "}\n", "uint64_t ", "0x", "NULL", "->",
	};
	unsigned char *b = page;
	uint64_t r = seed;
	switch (seed & 7) {
	case 0:
	case 1:
		memset(b, (int)((seed >> 8) & 0xff) * ((seed & 1) != 0), TM_PAGE);
		return;
	case 2:
		for (unsigned i = 0; i < TM_PAGE; i += 8) {
			uint64_t v = zc_rand(&r);
			memcpy(b + i, &v, 8);
		}
		break;
	case 3:
	case 4:
	case 5: {
		unsigned i = 0;
		while (i < TM_PAGE) {
			const char *w = words[zc_rand(&r) & 15];
			size_t n = strlen(w);
			if (n > TM_PAGE - i)
				n = TM_PAGE - i;
			memcpy(b + i, w, n);
			i += (unsigned)n;
		}
		break;
	}
	default:
		memset(b, 0, TM_PAGE);
		for (unsigned i = 0; i < TM_PAGE / 2; i += 8) {
			uint64_t v = zc_rand(&r);
			memcpy(b + i, &v, 8);
		}
		break;
	}
	memcpy(b, &seed, sizeof(seed));		/* pages of distinct seeds differ */
}

/* ---- the model ------------------------------------------------------ */

#define TM_POOLS 4
#define TM_OBJS 32

struct tm_mpage {
	uint32_t index;
	uint64_t seed;
};

struct tm_mobj {
	struct tm_mpage *pages;		/* sorted by index */
	uint32_t n, cap;
	uint32_t pins;
	uint64_t stamp;			/* last LRU touch */
};

struct tm_mpool {
	int id;				/* tmem pool id, -1 when destroyed */
	unsigned kind;
	struct tm_mobj objs[TM_OBJS];
};

struct tm_model {
	struct tmem_store *s;
	const struct tm_backend *be;
	struct tm_host host;
	struct tm_mpool pools[TM_POOLS];
	uint64_t clock;
	uint64_t rng;
	/* eviction in progress */
	int evict_pool;			/* TMEM_ALL_POOLS or a pool id */
	uint64_t evict_bytes;		/* bytes the callbacks reported */
	uint64_t evict_calls;
	unsigned char *page, *want;
	void *dbuf;			/* tmem_densify's work buffer */
};

static struct tmem_oid tm_oid(unsigned k)
{
	struct tmem_oid o = { { (uint64_t)k * 0x100000001ull + 7, ~(uint64_t)k, k & 3 } };
	return o;
}

static int tm_oid_k(const struct tmem_oid *o)
{
	for (unsigned k = 0; k < TM_OBJS; k++) {
		struct tmem_oid t = tm_oid(k);
		if (!memcmp(&t, o, sizeof(t)))
			return (int)k;
	}
	return -1;
}

static uint32_t tm_find(const struct tm_mobj *o, uint32_t index)
{
	uint32_t lo = 0, hi = o->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (o->pages[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct tm_mpage *tm_lookup(struct tm_mobj *o, uint32_t index)
{
	uint32_t i = tm_find(o, index);
	return i < o->n && o->pages[i].index == index ? &o->pages[i] : NULL;
}

static void tm_set(struct tm_mobj *o, uint32_t index, uint64_t seed)
{
	uint32_t i = tm_find(o, index);
	if (i < o->n && o->pages[i].index == index) {
		o->pages[i].seed = seed;
		return;
	}
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 8;
		o->pages = realloc(o->pages, o->cap * sizeof(*o->pages));
		ck_assert_ptr_nonnull(o->pages);
	}
	memmove(&o->pages[i + 1], &o->pages[i], (o->n - i) * sizeof(*o->pages));
	o->pages[i].index = index;
	o->pages[i].seed = seed;
	o->n++;
}

/* Remove indices [first, last]; returns how many were there. */
static uint32_t tm_del_range(struct tm_mobj *o, uint32_t first, uint32_t last)
{
	uint32_t a = tm_find(o, first), b = a;
	if (!o->n)
		return 0;
	while (b < o->n && o->pages[b].index <= last)
		b++;
	memmove(&o->pages[a], &o->pages[b], (o->n - b) * sizeof(*o->pages));
	o->n -= b - a;
	return b - a;
}

static void tm_clear(struct tm_mobj *o)
{
	o->n = 0;
}

static bool tm_ephemeral(const struct tm_mpool *p)
{
	return p->kind == TMEM_POOL_EPHEMERAL;
}

/* tmem touches an object's LRU position when it is unpinned and in an
 * ephemeral pool; the model keeps the same clock. */
static void tm_touch(struct tm_model *m, struct tm_mpool *p, struct tm_mobj *o)
{
	if (tm_ephemeral(p) && !o->pins)
		o->stamp = ++m->clock;
}

static struct tm_mpool *tm_pool_by_id(struct tm_model *m, int id)
{
	for (unsigned i = 0; i < TM_POOLS; i++)
		if (m->pools[i].id == id)
			return &m->pools[i];
	return NULL;
}

/* The unpinned object with pages and the oldest stamp among the pools an
 * eviction considers, or NULL. */
static struct tm_mobj *tm_lru_victim(struct tm_model *m, struct tm_mpool **pool)
{
	struct tm_mobj *best = NULL;
	for (unsigned i = 0; i < TM_POOLS; i++) {
		struct tm_mpool *p = &m->pools[i];
		if (p->id < 0 || !tm_ephemeral(p))
			continue;
		if (m->evict_pool != TMEM_ALL_POOLS && p->id != m->evict_pool)
			continue;
		for (unsigned k = 0; k < TM_OBJS; k++) {
			struct tm_mobj *o = &p->objs[k];
			if (o->n && !o->pins && (!best || o->stamp < best->stamp)) {
				best = o;
				*pool = p;
			}
		}
	}
	return best;
}

static void tm_evict_cb(void *arg, uint32_t pool, const struct tmem_oid *oid, uint64_t pages,
			uint64_t bytes)
{
	struct tm_model *m = arg;
	struct tm_mpool *p = tm_pool_by_id(m, (int)pool);
	ck_assert_ptr_nonnull(p);
	ck_assert(tm_ephemeral(p));
	int k = tm_oid_k(oid);
	ck_assert_int_ge(k, 0);
	struct tm_mobj *o = &p->objs[k];
	ck_assert_uint_eq(o->pins, 0);
	ck_assert_uint_eq(pages, o->n);
	ck_assert_uint_gt(pages, 0);
	ck_assert_uint_ge(bytes, TMEM_OBJ_SIZE);
	struct tm_mpool *vp = NULL;
	struct tm_mobj *victim = tm_lru_victim(m, &vp);
	ck_assert_msg(victim == o, "evicted object %d of pool %u is not the least recently used",
		      k, pool);
	tm_clear(o);
	m->evict_bytes += bytes;
	m->evict_calls++;
}

static uint32_t tm_rand_index(uint64_t *r)
{
	uint64_t c = zc_rand_below(r, 100);
	if (c < 70)
		return (uint32_t)zc_rand_below(r, 24);
	if (c < 90)
		return (uint32_t)zc_rand_below(r, 300);
	if (c < 97)
		return (uint32_t)zc_rand(r);
	return UINT32_MAX - (uint32_t)zc_rand_below(r, 3);
}

static void tm_verify_get(struct tm_model *m, struct tm_mpool *p, unsigned k, uint32_t index,
			  unsigned flags)
{
	struct tm_mobj *o = &p->objs[k];
	struct tmem_oid oid = tm_oid(k);
	struct tm_mpage *mp = tm_lookup(o, index);
	memset(m->page, 0xa5, TM_PAGE);
	int r = tmem_get(m->s, p->id, &oid, index, m->page, flags);
	if (!mp) {
		ck_assert_int_eq(r, -ENOENT);
		ck_assert_uint_eq(m->page[0], 0xa5);	/* untouched on a miss */
		return;
	}
	ck_assert_int_eq(r, 0);
	tm_fill(m->want, mp->seed);
	ck_assert_msg(!memcmp(m->page, m->want, TM_PAGE),
		      "pool %d object %u index %u: wrong data", p->id, k, index);
	tm_touch(m, p, o);
	if (flags & TMEM_GET_FREE)
		tm_del_range(o, index, index);
}

/* Compare the store's figures with the model. */
static void tm_compare_stats(struct tm_model *m)
{
	uint64_t pages = 0, objects = 0, pinned = 0;
	for (unsigned i = 0; i < TM_POOLS; i++) {
		struct tm_mpool *p = &m->pools[i];
		if (p->id < 0)
			continue;
		uint64_t pp = 0, po = 0;
		for (unsigned k = 0; k < TM_OBJS; k++) {
			pp += p->objs[k].n;
			po += p->objs[k].n || p->objs[k].pins;
			pinned += p->objs[k].pins != 0;
		}
		struct tmem_pool_stats ps;
		ck_assert_int_eq(tmem_pool_stats(m->s, p->id, &ps), 0);
		ck_assert_uint_eq(ps.pages, pp);
		ck_assert_uint_eq(ps.objects, po);
		ck_assert_uint_eq(ps.kind, p->kind);
		pages += pp;
		objects += po;
	}
	struct tmem_stats st;
	tmem_stats(m->s, &st);
	ck_assert_uint_eq(st.pages, pages);
	ck_assert_uint_eq(st.objects, objects);
	ck_assert_uint_eq(st.pinned_objects, pinned);
}

static void tm_new_pool(struct tm_model *m, struct tm_mpool *p, unsigned kind)
{
	unsigned pm = atomic_exchange(&m->host.fail_permille, 0);
	int id = tmem_new_pool(m->s, kind);
	atomic_store(&m->host.fail_permille, pm);
	ck_assert_int_ge(id, 0);
	p->id = id;
	p->kind = kind;
	for (unsigned k = 0; k < TM_OBJS; k++) {
		tm_clear(&p->objs[k]);
		p->objs[k].pins = 0;
		p->objs[k].stamp = 0;
	}
}

/* Run `nops` random operations against the model.  `fail_permille` is the
 * rate of injected allocation (and, if the backend can, create) failures. */
static void tm_run_model(const struct tm_backend *be, uint64_t seed, unsigned nops,
			 unsigned fail_permille)
{
	struct tm_model *m = calloc(1, sizeof(*m));
	ck_assert_ptr_nonnull(m);
	m->be = be;
	m->rng = seed;
	m->page = aligned_alloc(64, TM_PAGE);
	m->want = aligned_alloc(64, TM_PAGE);
	m->dbuf = malloc(TMEM_DENSIFY_BUF);
	ck_assert(m->page && m->want && m->dbuf);
	atomic_store(&m->host.rng, seed ^ 0x1234);
	m->s = tmem_store_create(be->ops, be->ctx, &tm_hostops, &m->host);
	ck_assert_ptr_nonnull(m->s);
	for (unsigned i = 0; i < TM_POOLS; i++)
		tm_new_pool(m, &m->pools[i], i & 1 ? TMEM_POOL_EPHEMERAL : TMEM_POOL_PERSISTENT);
	atomic_store(&m->host.fail_permille, fail_permille);
	if (be->set_fail)
		be->set_fail(be->ctx, fail_permille);

	uint64_t *r = &m->rng;
	uint64_t counts[16] = { 0 }, repacked = 0;
	for (unsigned op = 0; op < nops; op++) {
		struct tm_mpool *p = &m->pools[zc_rand_below(r, TM_POOLS)];
		unsigned k = (unsigned)zc_rand_below(r, TM_OBJS);
		struct tm_mobj *o = &p->objs[k];
		struct tmem_oid oid = tm_oid(k);
		uint32_t index = tm_rand_index(r);
		unsigned c = (unsigned)zc_rand_below(r, 1000);
		int ret;

		if (c < 350) {				/* put (new or replace) */
			uint64_t s = zc_rand(r);
			tm_fill(m->page, s);
			ret = tmem_put(m->s, p->id, &oid, index, m->page);
			if (ret == 0) {
				tm_set(o, index, s);
				tm_touch(m, p, o);
			} else {
				ck_assert_msg(ret == -ENOMEM || ret == -ENOSPC, "put: %d", ret);
				ck_assert(fail_permille > 0);
			}
			counts[0]++;
		} else if (c < 600) {			/* get */
			tm_verify_get(m, p, k, index, 0);
			counts[1]++;
		} else if (c < 640) {			/* get and free */
			tm_verify_get(m, p, k, index, TMEM_GET_FREE);
			counts[2]++;
		} else if (c < 720) {			/* flush page */
			ret = tmem_flush_page(m->s, p->id, &oid, index);
			ck_assert_int_eq(ret, tm_lookup(o, index) ? 0 : -ENOENT);
			tm_del_range(o, index, index);
			counts[3]++;
		} else if (c < 750) {			/* flush range */
			uint32_t first = index, last;
			if (zc_rand_below(r, 4) == 0)
				last = UINT32_MAX;
			else
				last = first + (uint32_t)zc_rand_below(r, 200);
			if (last < first)
				last = UINT32_MAX;
			int64_t n = tmem_flush_range(m->s, p->id, &oid, first, last);
			ck_assert_int_eq(n, tm_del_range(o, first, last));
			counts[4]++;
		} else if (c < 765) {			/* flush object */
			int64_t n = tmem_flush_object(m->s, p->id, &oid);
			if (!o->n && !o->pins)
				ck_assert_int_eq(n, -ENOENT);
			else
				ck_assert_int_eq(n, o->n);
			tm_clear(o);
			counts[5]++;
		} else if (c < 785) {			/* densify a group */
			struct tmem_densify_result res;
			uint32_t i = tm_find(o, index);
			ret = tmem_densify(m->s, p->id, &oid, index, tm_dense_codec(be, r), m->dbuf,
					   &res);
			if (i >= o->n) {
				ck_assert_int_eq(ret, -ENOENT);
			} else {
				ck_assert_msg(ret == 0 || ret == 1 || (ret == -ENOMEM && fail_permille),
					      "densify: %d", ret);
				ck_assert_uint_eq(res.first, o->pages[i].index & ~15u);
				ck_assert_uint_eq(res.next, (uint64_t)res.first + 16);
				if (ret == 1) {
					ck_assert_uint_gt(res.pages, 0);
					ck_assert_uint_lt(res.new_bytes, res.old_bytes);
					repacked++;
				}
				/* The group reads back unchanged. */
				for (uint32_t j = i; j < o->n && o->pages[j].index < res.next; j++)
					tm_verify_get(m, p, k, o->pages[j].index, 0);
			}
			counts[15]++;
		} else if (c < 845) {			/* next index */
			uint32_t got = 0;
			ret = tmem_next_index(m->s, p->id, &oid, index, &got);
			uint32_t i = tm_find(o, index);
			if (i < o->n) {
				ck_assert_int_eq(ret, 0);
				ck_assert_uint_eq(got, o->pages[i].index);
			} else {
				ck_assert_int_eq(ret, -ENOENT);
			}
			counts[6]++;
		} else if (c < 865) {			/* object pages */
			ck_assert_int_eq(tmem_object_pages(m->s, p->id, &oid), o->n);
			counts[7]++;
		} else if (c < 920) {			/* pin / unpin */
			if (o->pins && (o->pins > 3 || zc_rand_below(r, 2))) {
				ck_assert_int_eq(tmem_unpin(m->s, p->id, &oid), 0);
				o->pins--;
				if (!o->pins && o->n)
					tm_touch(m, p, o);
			} else if (!o->pins && zc_rand_below(r, 4) == 0) {
				ck_assert_int_eq(tmem_unpin(m->s, p->id, &oid), -ENOENT);
			} else {
				ret = tmem_pin(m->s, p->id, &oid);
				if (ret == -ENOMEM) {
					ck_assert(fail_permille > 0);
				} else {
					ck_assert_int_eq(ret, 0);
					o->pins++;
				}
			}
			counts[8]++;
		} else if (c < 935) {			/* evict */
			bool all = zc_rand_below(r, 2);
			uint64_t want = zc_rand_below(r, 4) ? zc_rand_below(r, 40000) : UINT64_MAX;
			m->evict_pool = all ? TMEM_ALL_POOLS : p->id;
			m->evict_bytes = 0;
			int64_t got = tmem_evict(m->s, m->evict_pool, want, tm_evict_cb, m);
			if (!all && !tm_ephemeral(p)) {
				ck_assert_int_eq(got, -EINVAL);
			} else {
				struct tm_mpool *vp;
				ck_assert_int_ge(got, 0);
				ck_assert_uint_eq((uint64_t)got, m->evict_bytes);
				/* Either enough was freed or nothing evictable is left. */
				ck_assert((uint64_t)got >= want || !tm_lru_victim(m, &vp));
			}
			counts[9]++;
		} else if (c < 945) {			/* change a pool's kind */
			unsigned kind = zc_rand_below(r, 2) ? TMEM_POOL_EPHEMERAL : TMEM_POOL_PERSISTENT;
			bool has_pages = false;
			for (unsigned j = 0; j < TM_OBJS; j++)
				has_pages |= p->objs[j].n > 0;
			ret = tmem_pool_set_kind(m->s, p->id, kind);
			if (has_pages) {
				ck_assert_int_eq(ret, -EBUSY);
			} else {
				ck_assert_int_eq(ret, 0);
				p->kind = kind;
			}
			ck_assert_int_eq(tmem_pool_kind(m->s, p->id), (int)p->kind);
			counts[10]++;
		} else if (c < 955) {			/* codec */
			unsigned ci = (unsigned)zc_rand_below(r, be->ncodecs ? be->ncodecs : 1);
			unsigned codec = be->codecs ? be->codecs[ci] : ci;
			ck_assert_int_eq(tmem_pool_set_codec(m->s, p->id, codec), 0);
			counts[11]++;
		} else if (c < 957) {			/* destroy and recreate the pool */
			ck_assert_int_eq(tmem_destroy_pool(m->s, p->id), 0);
			ck_assert_int_eq(tmem_put(m->s, p->id, &oid, 0, m->page), -EINVAL);
			p->id = -1;
			tm_new_pool(m, p, zc_rand_below(r, 2) ? TMEM_POOL_EPHEMERAL
							      : TMEM_POOL_PERSISTENT);
			counts[12]++;
		} else if (c < 975) {			/* move the object to another pool */
			struct tm_mpool *q = &m->pools[zc_rand_below(r, TM_POOLS)];
			struct tm_mobj *d = &q->objs[k], tmp;
			ret = tmem_move_object(m->s, p->id, q->id, &oid);
			if (q == p) {
				ck_assert_int_eq(ret, 0);
			} else if (!o->n && !o->pins) {
				ck_assert_int_eq(ret, -ENOENT);
			} else if (d->n || d->pins) {
				ck_assert_int_eq(ret, -EEXIST);
			} else {
				ck_assert_int_eq(ret, 0);
				tmp = *d;	/* empty: swap, so no page array leaks */
				*d = *o;
				*o = tmp;
				/* Unpinned, it joins q's LRU as most recent. */
				tm_touch(m, q, d);
				/* Its pages read back from q, whatever codec they have. */
				if (d->n)
					tm_verify_get(m, q, k, d->pages[zc_rand_below(r, d->n)].index, 0);
			}
			counts[14]++;
		} else {				/* read back a whole object */
			for (uint32_t i = 0; i < o->n && i < 64; i++)
				tm_verify_get(m, p, k, o->pages[i].index, 0);
			counts[13]++;
		}

		if (op % 1000 == 999) {
			ck_assert_int_eq(tmem_check(m->s), 0);
			tm_compare_stats(m);
		}
	}
	ck_assert_int_eq(tmem_check(m->s), 0);
	tm_compare_stats(m);
	for (unsigned i = 0; i < 13; i++)
		ck_assert_uint_gt(counts[i], 0);	/* every kind of operation ran */
	ck_assert_uint_gt(counts[14], 0);
	ck_assert_uint_gt(counts[15], 0);
	ck_assert_uint_gt(repacked, 0);	/* some groups became units */

	/* Read everything back, then tear down and look for leaks. */
	atomic_store(&m->host.fail_permille, 0);
	if (be->set_fail)
		be->set_fail(be->ctx, 0);
	for (unsigned i = 0; i < TM_POOLS; i++)
		for (unsigned k = 0; k < TM_OBJS; k++)
			for (uint32_t j = 0; j < m->pools[i].objs[k].n; j++)
				tm_verify_get(m, &m->pools[i], k, m->pools[i].objs[k].pages[j].index, 0);
	if (fail_permille)
		ck_assert_uint_gt(atomic_load(&m->host.failures), 0);
	tmem_store_destroy(m->s);
	ck_assert_int_eq(atomic_load(&m->host.objs), 0);
	ck_assert_int_eq(atomic_load(&m->host.nodes), 0);
	ck_assert_int_eq(atomic_load(&m->host.mems), 0);
	if (be->live)
		ck_assert_int_eq(be->live(be->ctx), 0);
	for (unsigned i = 0; i < TM_POOLS; i++)
		for (unsigned k = 0; k < TM_OBJS; k++)
			free(m->pools[i].objs[k].pages);
	free(m->page);
	free(m->want);
	free(m->dbuf);
	free(m);
}

/* ---- threaded stress ------------------------------------------------ */

/* Stress pages describe themselves: a header naming the key, the writer and
 * its sequence number, then bytes derived from the header.  A reader of a
 * shared key accepts any writer's page but only a whole, correct one. */
struct tm_shdr {
	uint64_t magic;
	uint64_t pool, oid0, oid1, index, writer, seq;
};
#define TM_SMAGIC 0x7374726573737067ull

static void tm_sfill(void *page, int pool, const struct tmem_oid *oid, uint32_t index,
		     unsigned writer, uint64_t seq)
{
	struct tm_shdr h = { TM_SMAGIC, (uint64_t)pool, oid->oid[0], oid->oid[1], index, writer, seq };
	uint64_t seed = h.oid0 * 31 + h.oid1 * 17 + index * 7 + writer * 3 + seq;
	tm_fill(page, seed | 2);	/* never same-filled: the header must survive */
	memcpy(page, &h, sizeof(h));
}

/* 0 when page is a whole stress page for (pool, oid, index). */
static int tm_scheck(const void *page, int pool, const struct tmem_oid *oid, uint32_t index,
		     uint64_t *seq)
{
	struct tm_shdr h;
	memcpy(&h, page, sizeof(h));
	if (h.magic != TM_SMAGIC || h.pool != (uint64_t)pool || h.oid0 != oid->oid[0] ||
	    h.oid1 != oid->oid[1] || h.index != index)
		return -1;
	unsigned char *want = malloc(TM_PAGE);
	if (!want)
		return -1;
	tm_sfill(want, pool, oid, index, (unsigned)h.writer, h.seq);
	int r = memcmp(want, page, TM_PAGE) ? -1 : 0;
	free(want);
	if (seq)
		*seq = h.seq;
	return r;
}

#define TM_OWN_OBJS 384		/* 2 threads make the table grow */
#define TM_OWN_IDX 8
#define TM_SHARED_OBJS 8
#define TM_SHARED_IDX 32

struct tm_stress {
	const struct tm_backend *be;
	struct tmem_store *s;
	int ppool, epool;
	unsigned nthreads;
	unsigned ops;
	uint64_t seed;
	_Atomic int failed;
	char msg[256];
	_Atomic uint64_t evicted;
	_Atomic uint64_t repacks, conflicts;
};

struct tm_sthread {
	struct tm_stress *st;
	unsigned tid;
	uint64_t own[TM_OWN_OBJS][TM_OWN_IDX];	/* seq, 0 = absent */
	uint32_t pins[TM_SHARED_OBJS];
	uint64_t seq;
};

#define TM_SFAIL(st, ...)							\
	do {								\
		int expected_ = 0;					\
		if (atomic_compare_exchange_strong(&(st)->failed, &expected_, 1)) \
			snprintf((st)->msg, sizeof((st)->msg), __VA_ARGS__); \
		return NULL;						\
	} while (0)

static struct tmem_oid tm_own_oid(unsigned tid, unsigned k)
{
	struct tmem_oid o = { { 0xd15c0000ull + tid, (uint64_t)k * 0x9e3779b97f4a7c15ull, k } };
	return o;
}

static struct tmem_oid tm_shared_oid(unsigned k)
{
	struct tmem_oid o = { { 0x5a5a0000ull, k, 0 } };
	return o;
}

static void tm_sevict_cb(void *arg, uint32_t pool, const struct tmem_oid *oid, uint64_t pages,
			 uint64_t bytes)
{
	struct tm_stress *st = arg;
	(void)oid;
	(void)bytes;
	if ((int)pool != st->epool || pages == 0) {
		int expected = 0;
		if (atomic_compare_exchange_strong(&st->failed, &expected, 1))
			snprintf(st->msg, sizeof(st->msg), "bad eviction report");
	}
	atomic_fetch_add(&st->evicted, 1);
}

static void *tm_stress_thread(void *arg)
{
	struct tm_sthread *t = arg;
	struct tm_stress *st = t->st;
	uint64_t r = st->seed + t->tid * 0x51ed27ull;
	unsigned char *page = aligned_alloc(64, TM_PAGE);
	void *dbuf = malloc(TMEM_DENSIFY_BUF);
	if (!page || !dbuf) {
		free(page);
		free(dbuf);
		TM_SFAIL(st, "out of memory");
	}

	for (unsigned op = 0; op < st->ops && !atomic_load(&st->failed); op++) {
		unsigned c = (unsigned)zc_rand_below(&r, 100);
		if (c < 50) {
			/* Own keys: exact model. */
			unsigned k = (unsigned)zc_rand_below(&r, TM_OWN_OBJS);
			uint32_t i = (uint32_t)zc_rand_below(&r, TM_OWN_IDX);
			struct tmem_oid oid = tm_own_oid(t->tid, k);
			unsigned what = (unsigned)zc_rand_below(&r, 12);
			int ret;
			if (what == 11) {
				/* Densify: nobody else writes own keys, so no
				 * conflict is possible and every page stays. */
				struct tmem_densify_result res;
				bool any = false;
				for (uint32_t j = 0; j < TM_OWN_IDX; j++)
					any |= t->own[k][j] != 0;
				ret = tmem_densify(st->s, st->ppool, &oid, 0,
						   tm_dense_codec(st->be, &r), dbuf, &res);
				if (any ? ret != 0 && ret != 1 : ret != -ENOENT)
					TM_SFAIL(st, "own densify: %d", ret);
				if (ret == 1)
					atomic_fetch_add(&st->repacks, 1);
			} else if (what == 10) {
				/* A round trip through the ephemeral pool, pinned
				 * (an open file moved there and back): evictors
				 * running meanwhile must leave it alone. */
				uint64_t seq = 0;
				if (tmem_pin(st->s, st->ppool, &oid))
					TM_SFAIL(st, "own pin");
				ret = tmem_move_object(st->s, st->ppool, st->epool, &oid);
				if (ret)
					TM_SFAIL(st, "own move out: %d", ret);
				ret = tmem_get(st->s, st->epool, &oid, i, page, 0);
				if (!t->own[k][i] ? ret != -ENOENT
						  : ret || tm_scheck(page, st->ppool, &oid, i, &seq) ||
							seq != t->own[k][i])
					TM_SFAIL(st, "own get after move: %d", ret);
				ret = tmem_move_object(st->s, st->epool, st->ppool, &oid);
				if (ret)
					TM_SFAIL(st, "own move back: %d", ret);
				if (tmem_unpin(st->s, st->ppool, &oid))
					TM_SFAIL(st, "own unpin");
			} else if (what < 4) {
				uint64_t seq = ++t->seq;
				tm_sfill(page, st->ppool, &oid, i, t->tid, seq);
				ret = tmem_put(st->s, st->ppool, &oid, i, page);
				if (ret)
					TM_SFAIL(st, "own put: %d", ret);
				t->own[k][i] = seq;
			} else if (what < 8) {
				unsigned flags = what == 7 ? TMEM_GET_FREE : 0;
				uint64_t seq = 0;
				ret = tmem_get(st->s, st->ppool, &oid, i, page, flags);
				if (!t->own[k][i]) {
					if (ret != -ENOENT)
						TM_SFAIL(st, "own get of absent page: %d", ret);
				} else if (ret || tm_scheck(page, st->ppool, &oid, i, &seq) ||
					   seq != t->own[k][i]) {
					TM_SFAIL(st, "own get: %d, seq %llu want %llu", ret,
						 (unsigned long long)seq,
						 (unsigned long long)t->own[k][i]);
				}
				if (flags)
					t->own[k][i] = 0;
			} else if (what == 8) {
				ret = tmem_flush_page(st->s, st->ppool, &oid, i);
				if (ret != (t->own[k][i] ? 0 : -ENOENT))
					TM_SFAIL(st, "own flush: %d", ret);
				t->own[k][i] = 0;
			} else {
				uint32_t from = i, got = 0, want = UINT32_MAX;
				for (uint32_t j = from; j < TM_OWN_IDX; j++)
					if (t->own[k][j]) {
						want = j;
						break;
					}
				ret = tmem_next_index(st->s, st->ppool, &oid, from, &got);
				if (want == UINT32_MAX ? ret != -ENOENT : (ret || got != want))
					TM_SFAIL(st, "own next_index: %d %u want %u", ret, got, want);
			}
		} else if (c < 97) {
			/* Shared keys, both pools: any whole page of the key. */
			int pool = zc_rand_below(&r, 2) ? st->epool : st->ppool;
			unsigned k = (unsigned)zc_rand_below(&r, TM_SHARED_OBJS);
			uint32_t i = (uint32_t)zc_rand_below(&r, TM_SHARED_IDX);
			struct tmem_oid oid = tm_shared_oid(k);
			unsigned what = (unsigned)zc_rand_below(&r, 21);
			int ret;
			if (what == 20) {
				/* Densify beside writers: a conflict is fine,
				 * a torn page (checked by the gets) is not. */
				struct tmem_densify_result res;
				ret = tmem_densify(st->s, pool, &oid, i, tm_dense_codec(st->be, &r),
						   dbuf, &res);
				if (ret == 1)
					atomic_fetch_add(&st->repacks, 1);
				else if (ret == -EAGAIN)
					atomic_fetch_add(&st->conflicts, 1);
				else if (ret != 0 && ret != -ENOENT)
					TM_SFAIL(st, "shared densify: %d", ret);
			} else if (what < 7) {
				tm_sfill(page, pool, &oid, i, t->tid, ++t->seq);
				ret = tmem_put(st->s, pool, &oid, i, page);
				if (ret)
					TM_SFAIL(st, "shared put: %d", ret);
			} else if (what < 13) {
				ret = tmem_get(st->s, pool, &oid, i, page, what == 12 ? TMEM_GET_FREE : 0);
				if (ret == 0 ? tm_scheck(page, pool, &oid, i, NULL) != 0 : ret != -ENOENT)
					TM_SFAIL(st, "shared get: %d or torn page", ret);
			} else if (what < 15) {
				ret = tmem_flush_page(st->s, pool, &oid, i);
				if (ret != 0 && ret != -ENOENT)
					TM_SFAIL(st, "shared flush: %d", ret);
			} else if (what == 15) {
				int64_t n = tmem_flush_range(st->s, pool, &oid, i, i + 8);
				if (n < 0 || n > 9)
					TM_SFAIL(st, "shared flush_range: %lld", (long long)n);
			} else if (what == 16) {
				int64_t n = tmem_flush_object(st->s, pool, &oid);
				if (n < 0 && n != -ENOENT)
					TM_SFAIL(st, "shared flush_object: %lld", (long long)n);
			} else if (what == 17) {
				if (tmem_pin(st->s, st->epool, &oid))
					TM_SFAIL(st, "pin");
				t->pins[k]++;
			} else if (what == 18) {
				if (t->pins[k]) {
					if (tmem_unpin(st->s, st->epool, &oid))
						TM_SFAIL(st, "unpin");
					t->pins[k]--;
				}
			} else {
				uint32_t got;
				ret = tmem_next_index(st->s, pool, &oid, i, &got);
				if (ret != -ENOENT && (ret || got < i || got >= TM_SHARED_IDX))
					TM_SFAIL(st, "shared next_index: %d %u", ret, got);
			}
		} else if (c < 99) {
			int64_t n = tmem_evict(st->s, zc_rand_below(&r, 2) ? st->epool : TMEM_ALL_POOLS,
					       zc_rand_below(&r, 20000), tm_sevict_cb, st);
			if (n < 0)
				TM_SFAIL(st, "evict: %lld", (long long)n);
		} else if (zc_rand_below(&r, 8)) {
			struct tmem_stats s;
			tmem_stats(st->s, &s);
			if (s.pools != 2)
				TM_SFAIL(st, "stats: %llu pools", (unsigned long long)s.pools);
		} else if (tmem_check(st->s) != 0) {
			/* Exact even beside the other threads. */
			TM_SFAIL(st, "tmem_check failed during the run");
		}
	}
	free(page);
	free(dbuf);
	return NULL;
}

/* Run `nthreads` threads of `ops` operations each over one persistent and
 * one ephemeral pool; verify own keys exactly, shared keys for integrity,
 * then the whole store. */
static void tm_run_stress(const struct tm_backend *be, uint64_t seed, unsigned nthreads,
			  unsigned ops)
{
	struct tm_host host;
	memset(&host, 0, sizeof(host));
	struct tm_stress st;
	memset(&st, 0, sizeof(st));
	st.be = be;
	st.s = tmem_store_create(be->ops, be->ctx, &tm_hostops, &host);
	ck_assert_ptr_nonnull(st.s);
	st.ppool = tmem_new_pool(st.s, TMEM_POOL_PERSISTENT);
	st.epool = tmem_new_pool(st.s, TMEM_POOL_EPHEMERAL);
	ck_assert_int_ge(st.ppool, 0);
	ck_assert_int_ge(st.epool, 0);
	st.nthreads = nthreads;
	st.ops = ops;
	st.seed = seed;

	struct tm_sthread *t = calloc(nthreads, sizeof(*t));
	pthread_t *th = calloc(nthreads, sizeof(*th));
	ck_assert(t && th);
	for (unsigned i = 0; i < nthreads; i++) {
		t[i].st = &st;
		t[i].tid = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, tm_stress_thread, &t[i]), 0);
	}
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	ck_assert_msg(!atomic_load(&st.failed), "stress: %s", st.msg);
	ck_assert_int_eq(tmem_check(st.s), 0);

	/* Every own key holds exactly its last write. */
	unsigned char *page = aligned_alloc(64, TM_PAGE);
	ck_assert_ptr_nonnull(page);
	uint64_t own_pages = 0;
	for (unsigned i = 0; i < nthreads; i++) {
		for (unsigned k = 0; k < TM_OWN_OBJS; k++) {
			struct tmem_oid oid = tm_own_oid(i, k);
			for (uint32_t j = 0; j < TM_OWN_IDX; j++) {
				int ret = tmem_get(st.s, st.ppool, &oid, j, page, 0);
				uint64_t seq = 0;
				if (!t[i].own[k][j]) {
					ck_assert_int_eq(ret, -ENOENT);
					continue;
				}
				own_pages++;
				ck_assert_int_eq(ret, 0);
				ck_assert_int_eq(tm_scheck(page, st.ppool, &oid, j, &seq), 0);
				ck_assert_uint_eq(seq, t[i].own[k][j]);
			}
		}
		for (unsigned k = 0; k < TM_SHARED_OBJS; k++) {
			struct tmem_oid oid = tm_shared_oid(k);
			while (t[i].pins[k]--)
				ck_assert_int_eq(tmem_unpin(st.s, st.epool, &oid), 0);
		}
	}
	struct tmem_pool_stats ps;
	ck_assert_int_eq(tmem_pool_stats(st.s, st.ppool, &ps), 0);
	ck_assert_uint_ge(ps.pages, own_pages);
	ck_assert_uint_gt(ps.resizes, 0);	/* the table grew under load */
	ck_assert_uint_gt(atomic_load(&st.repacks), 0);
	ck_assert_int_eq(tmem_check(st.s), 0);
	/* Nothing pinned any more: dropping the ephemeral pool's objects
	 * must empty it. */
	ck_assert_int_ge(tmem_evict(st.s, st.epool, UINT64_MAX, NULL, NULL), 0);
	ck_assert_int_eq(tmem_pool_stats(st.s, st.epool, &ps), 0);
	ck_assert_uint_eq(ps.pages, 0);
	ck_assert_uint_eq(ps.objects, 0);
	ck_assert_int_eq(tmem_check(st.s), 0);
	tmem_store_destroy(st.s);
	ck_assert_int_eq(atomic_load(&host.objs), 0);
	ck_assert_int_eq(atomic_load(&host.nodes), 0);
	ck_assert_int_eq(atomic_load(&host.mems), 0);
	if (be->live)
		ck_assert_int_eq(be->live(be->ctx), 0);
	free(page);
	free(t);
	free(th);
}

#endif /* ZC_TESTS_TMEM_MODEL_H */
