/* tests/sgv_model.c - the SGV cache (alloc/sgv) under random operation
 * streams: a model-based test that runs five pools (every clustering mode,
 * set-of-buffers and fixed-size, buddy and arena pages, a shared memory
 * limit and the context's watermarks) against a reference model and
 * compares every counter after each batch, and a threaded test of workers
 * and a maintainer (purge, shrink, flush) on shared pools.  The contract,
 * test by test, is the suite sgv (tests/sgv.c); both use
 * tests/sgv_fixture.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "sgv_fixture.h"
#include "testutil.h"

/* ---- model-based randomized test ---------------------------------------- */

#define M_POOLS 5
#define M_LIVE 48
#define M_OPS 120000
#define M_BATCH 200
#define M_LIM_PAGES 400
#define M_ARENA_PAGES 8192
#define M_HI_WMK 2500		/* pages, over every pool */
#define M_LO_WMK 1200

struct m_live {
	struct sgv_obj *obj;
	struct sgv_pool *pool;
	int pi;
	size_t size;
	uint64_t tag;
	int order;		/* -1 other, -2 empty */
	unsigned pages;
	bool charged;
};

struct m_idle {			/* a model idle vector */
	struct sgv_obj *obj;
	int order;
	unsigned pages;
	double stamp;
};

struct m_pool {
	struct sgv_pool *pool;
	struct arena *ar;	/* NULL: buddy */
	enum sgv_clustering cl;
	unsigned single;
	int interval;
	struct m_idle *idle;	/* oldest first */
	size_t nidle, cap;
	uint64_t total[SGV_NR_ORDERS], hits[SGV_NR_ORDERS], cached[SGV_NR_ORDERS];
	uint64_t big, nocache, failed, other_pages;
	uint64_t purged, shrunk, flushed;
	uint64_t pages_held;	/* cached + other, for the arena bound */
};

struct model {
	struct fix f;
	struct arena ar[3];
	struct m_pool mp[M_POOLS];
	struct m_live live[M_LIVE];
	size_t nlive;
	struct sgv_mem_lim lim;
	uint64_t rng;
	uint64_t next_tag;
	/* what the run went through, so a lucky stream cannot skip a path */
	uint64_t n_hit, n_miss, n_eagain, n_lim, n_empty, n_big, n_nocache;
	uint64_t n_purged, n_shrunk, n_flushed;
	uint64_t n_releases, n_released, n_wmk_fail;
};

/* Pages the context holds: every pool's cached and other pages. */
static uint64_t m_total(const struct model *m)
{
	uint64_t t = 0;

	for (int i = 0; i < M_POOLS; i++)
		t += m->mp[i].pages_held;
	return t;
}

static void m_idle_remove(struct m_pool *mp, size_t i)
{
	memmove(&mp->idle[i], &mp->idle[i + 1], (mp->nidle - i - 1) * sizeof(mp->idle[0]));
	mp->nidle--;
}

static void m_free_idle(struct m_pool *mp, size_t i)
{
	mp->cached[mp->idle[i].order]--;
	mp->pages_held -= mp->idle[i].pages;
	m_idle_remove(mp, i);
}

/* Compare the pool's statistics with the model. */
static void m_compare(struct model *m, struct m_pool *mp)
{
	struct sgv_pool_stats ps;
	uint64_t inact[SGV_NR_ORDERS] = { 0 };

	sgv_pool_stats(mp->pool, &ps);
	for (size_t i = 0; i < mp->nidle; i++)
		inact[mp->idle[i].order]++;
	for (unsigned o = 0; o < ps.nr_orders; o++) {
		ck_assert_uint_eq(ps.order[o].total, mp->total[o]);
		ck_assert_uint_eq(ps.order[o].hits, mp->hits[o]);
		ck_assert_uint_eq(ps.order[o].cached_entries, mp->cached[o]);
		ck_assert_uint_eq(ps.order[o].inactive_entries, inact[o]);
	}
	ck_assert_uint_eq(ps.big_allocs, mp->big);
	ck_assert_uint_eq(ps.nocache_allocs, mp->nocache);
	ck_assert_uint_eq(ps.failed, mp->failed);
	ck_assert_uint_eq(ps.other_pages, mp->other_pages);
	ck_assert_uint_eq(ps.purged_pages, mp->purged);
	ck_assert_uint_eq(ps.shrunk_pages, mp->shrunk);
	ck_assert_uint_eq(ps.flushed_pages, mp->flushed);
	(void)m;
}

static void m_compare_ctx(struct model *m)
{
	struct sgv_ctx_stats cs;
	uint64_t idle = 0;

	sgv_ctx_stats(m->f.ctx, &cs);
	for (int i = 0; i < M_POOLS; i++)
		for (size_t j = 0; j < m->mp[i].nidle; j++)
			idle += m->mp[i].idle[j].pages;
	ck_assert_uint_eq(cs.inactive_pages, idle);
	ck_assert_uint_eq(cs.active_pages + cs.inactive_pages, m_total(m));
	ck_assert_uint_eq(cs.hi_wmk_releases, m->n_releases);
	ck_assert_uint_eq(cs.hi_wmk_failures, m->n_wmk_fail);
	ck_assert_uint_eq(cs.mem_lim_failures, m->n_lim);
	ck_assert_uint_eq(cs.other_allocs, m->n_big + m->n_nocache);
}

static size_t m_rand_size(uint64_t *rng, unsigned single)
{
	uint64_t r = zc_rand_below(rng, 1000);

	if (single && r < 700)
		return 1 + zc_rand_below(rng, single * PG);
	if (r < 600)
		return 1 + zc_rand_below(rng, 4 * PG);
	if (r < 900)
		return 1 + zc_rand_below(rng, 32 * PG);
	if (r < 995)
		return 1 + zc_rand_below(rng, 256 * PG);
	return (SGV_MAX_CACHED_PAGES * PG) + 1 + zc_rand_below(rng, 8 * PG);	/* big */
}

static void m_alloc(struct model *m)
{
	int pi = (int)zc_rand_below(&m->rng, M_POOLS);
	struct m_pool *mp = &m->mp[pi];
	uint64_t r = zc_rand_below(&m->rng, 100);
	unsigned flags = 0;
	size_t size = m_rand_size(&m->rng, mp->single), pages = (size + PG - 1) / PG;
	bool use_lim = zc_rand_below(&m->rng, 2) == 0;
	struct sgv_mem_lim *lim = use_lim ? &m->lim : NULL;
	int order, n;
	unsigned opages;
	struct sgv_obj *obj;
	struct iovec *iov;
	struct m_live *l;
	int expect_err = 0;
	ssize_t hit = -1;

	if (r < 5)
		flags |= SGV_NO_CACHED;
	else if (r < 20)
		flags |= SGV_NO_ALLOC_ON_CACHE_MISS;
	if (zc_rand_below(&m->rng, 10) == 0)
		flags |= SGV_RETURN_OBJ_ON_ALLOC_FAIL;

	if (flags & SGV_NO_CACHED)
		order = -1;
	else if (mp->single)
		order = pages <= mp->single ? 0 : -1;
	else {
		order = 0;
		while (((size_t)1 << order) < pages)
			order++;
		if (order > SGV_MAX_ORDER)
			order = -1;
	}
	opages = order < 0 ? (unsigned)pages : mp->single ? mp->single : 1u << order;

	/* keep arena pools away from exhaustion: flush when close */
	if (mp->ar && mp->pages_held + opages + 64 > M_ARENA_PAGES) {
		uint64_t want = 0;

		for (size_t i = 0; i < mp->nidle; i++)
			want += mp->idle[i].pages;
		ck_assert_uint_eq(sgv_pool_flush(mp->pool), want);
		mp->flushed += want;
		while (mp->nidle)
			m_free_idle(mp, 0);
		if (mp->pages_held + opages + 64 > M_ARENA_PAGES)
			return;
	}

	if (use_lim && atomic_load(&m->lim.used) + opages > m->lim.max_pages) {
		expect_err = ENOMEM;
		m->n_lim++;
	}
	if (!expect_err && order >= 0) {
		for (size_t i = mp->nidle; i-- > 0;)	/* the newest idle of the order */
			if (mp->idle[i].order == order) {
				hit = (ssize_t)i;
				break;
			}
	}
	if (!expect_err && hit < 0 && (flags & SGV_NO_ALLOC_ON_CACHE_MISS))
		expect_err = EAGAIN;
	if (!expect_err && hit < 0 && m_total(m) + opages > M_HI_WMK) {
		/* the high watermark: release idle vectors of purgeable
		 * pools, pool by pool in creation order, oldest first, down
		 * to the low watermark */
		m->n_releases++;
		for (int i = 0; i < M_POOLS; i++) {
			struct m_pool *v = &m->mp[i];

			if (v->interval < 0)
				continue;
			while (v->nidle && m_total(m) + opages > M_LO_WMK) {
				m->n_released += v->idle[0].pages;
				v->shrunk += v->idle[0].pages;
				m_free_idle(v, 0);
			}
		}
		if (m_total(m) + opages > M_HI_WMK) {
			expect_err = ENOMEM;
			m->n_wmk_fail++;
		}
	}

	errno = 0;
	iov = sgv_pool_alloc(mp->pool, size, flags, lim, &n, &obj);
	if (expect_err) {
		ck_assert_ptr_null(iov);
		ck_assert_int_eq(errno, expect_err);
		ck_assert_int_eq(n, 0);
		mp->failed++;
		if (expect_err == EAGAIN)
			m->n_eagain++;
		if (flags & SGV_RETURN_OBJ_ON_ALLOC_FAIL) {
			ck_assert_ptr_nonnull(obj);
			ck_assert_uint_eq(sgv_obj_pages(obj), 0);
			ck_assert_uint_ge(sgv_obj_capacity(obj), pages);
			m->n_empty++;
			if (m->nlive < M_LIVE) {
				l = &m->live[m->nlive++];
				*l = (struct m_live){ .obj = obj, .pool = mp->pool, .pi = pi,
						      .order = -2 };
			} else {
				sgv_pool_free(obj, lim);
			}
		} else {
			ck_assert_ptr_null(obj);
		}
		return;
	}
	ck_assert_msg(iov != NULL, "alloc of %zu bytes (flags %u) failed: %s", size, flags,
		      strerror(errno));
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(iov_total(iov, n), size);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq((uintptr_t)iov[i].iov_base % PG, 0);
		if (i + 1 < n)
			ck_assert_uint_eq(iov[i].iov_len % PG, 0);
		ck_assert_uint_gt(iov[i].iov_len, 0);
	}
	if (mp->cl == SGV_CLUSTER_NONE)
		ck_assert_uint_eq((size_t)n, pages);
	ck_assert_uint_eq(sgv_obj_pages(obj), opages);
	if (order >= 0) {
		mp->total[order]++;
		if (hit >= 0) {
			ck_assert_ptr_eq(obj, mp->idle[hit].obj);	/* LIFO reuse */
			mp->hits[order]++;
			m->n_hit++;
			m_idle_remove(mp, (size_t)hit);
		} else {
			m->n_miss++;
			mp->cached[order]++;
			mp->pages_held += opages;
		}
	} else {
		if (flags & SGV_NO_CACHED) {
			mp->nocache++;
			m->n_nocache++;
		} else {
			mp->big++;
			m->n_big++;
		}
		mp->other_pages += opages;
		mp->pages_held += opages;
	}
	if (m->nlive == M_LIVE) {	/* full: free this one at once */
		fill(iov, n, 1);
		ck_assert_int_eq(verify(iov, n, 1), 0);
		sgv_pool_free(obj, lim);
		if (order >= 0) {
			struct m_idle *id;

			if (mp->nidle == mp->cap) {
				mp->cap = mp->cap ? 2 * mp->cap : 64;
				mp->idle = realloc(mp->idle, mp->cap * sizeof(*mp->idle));
				ck_assert_ptr_nonnull(mp->idle);
			}
			id = &mp->idle[mp->nidle++];
			*id = (struct m_idle){ obj, order, opages, m->f.clk.now };
		} else {
			mp->other_pages -= opages;
			mp->pages_held -= opages;
		}
		return;
	}
	l = &m->live[m->nlive++];
	*l = (struct m_live){ .obj = obj, .pool = mp->pool, .pi = pi, .size = size,
			      .tag = ++m->next_tag, .order = order, .pages = opages,
			      .charged = use_lim };
	fill(iov, n, l->tag);
}

static void m_free(struct model *m)
{
	size_t i = zc_rand_below(&m->rng, m->nlive);
	struct m_live l = m->live[i];
	struct m_pool *mp = &m->mp[l.pi];

	m->live[i] = m->live[--m->nlive];
	if (l.order != -2) {
		int n;
		struct iovec *iov = sgv_obj_iov(l.obj, &n);

		ck_assert_uint_eq(iov_total(iov, n), l.size);
		ck_assert_msg(verify(iov, n, l.tag) == 0, "pattern of vector %p damaged",
			      (void *)l.obj);
	}
	sgv_pool_free(l.obj, l.charged ? &m->lim : NULL);
	if (l.order >= 0) {
		struct m_idle *id;

		if (mp->nidle == mp->cap) {
			mp->cap = mp->cap ? 2 * mp->cap : 64;
			mp->idle = realloc(mp->idle, mp->cap * sizeof(*mp->idle));
			ck_assert_ptr_nonnull(mp->idle);
		}
		id = &mp->idle[mp->nidle++];
		*id = (struct m_idle){ l.obj, l.order, l.pages, m->f.clk.now };
	} else if (l.order == -1) {
		mp->other_pages -= l.pages;
		mp->pages_held -= l.pages;
	}
}

static void m_maintain(struct model *m)
{
	uint64_t r = zc_rand_below(&m->rng, 100);
	int pi = (int)zc_rand_below(&m->rng, M_POOLS);
	struct m_pool *mp = &m->mp[pi];
	double now = m->f.clk.now;
	uint64_t want = 0;

	if (r < 60) {		/* purge one pool */
		if (mp->interval >= 0) {
			for (size_t i = 0; i < mp->nidle;) {
				if (now - mp->idle[i].stamp >= mp->interval) {
					want += mp->idle[i].pages;
					m_free_idle(mp, i);
				} else {
					break;
				}
			}
		}
		ck_assert_uint_eq(sgv_pool_purge(mp->pool, now), want);
		m->n_purged += want;
		mp->purged += want;
	} else if (r < 95) {	/* shrink one pool */
		uint64_t nr = zc_rand_below(&m->rng, 64);

		if (mp->interval >= 0 && nr > 0) {
			while (mp->nidle && want < nr &&
			       now - mp->idle[0].stamp >= SGV_MIN_SHRINK_INTERVAL) {
				want += mp->idle[0].pages;
				m_free_idle(mp, 0);
			}
		}
		ck_assert_uint_eq(sgv_pool_shrink(mp->pool, nr, now), want);
		m->n_shrunk += want;
		mp->shrunk += want;
	} else {		/* flush */
		while (mp->nidle) {
			want += mp->idle[0].pages;
			m_free_idle(mp, 0);
		}
		ck_assert_uint_eq(sgv_pool_flush(mp->pool), want);
		m->n_flushed += want;
		mp->flushed += want;
	}
}

START_TEST(test_model)
{
	static const struct {
		const char *name;
		enum sgv_clustering cl;
		unsigned single;
		int interval;
		int arena;	/* -1: buddy */
		enum arena_mode mode;
	} cfg[M_POOLS] = {
		{ "none-buddy", SGV_CLUSTER_NONE, 0, 20, -1, ARENA_ASC },
		{ "tail-asc", SGV_CLUSTER_TAIL, 0, 5, 0, ARENA_ASC },
		{ "full-desc", SGV_CLUSTER_FULL, 0, 50, 1, ARENA_DESC },
		{ "full-stride", SGV_CLUSTER_FULL, 0, -1, 2, ARENA_STRIDE },
		{ "fixed3", SGV_CLUSTER_TAIL, 3, 10, -1, ARENA_ASC },
	};
	struct model *m = calloc(1, sizeof(*m));

	ck_assert_ptr_nonnull(m);
	fix_init(&m->f);
	m->rng = zc_test_seed();
	sgv_mem_lim_init(&m->lim, M_LIM_PAGES);
	for (int i = 0; i < 3; i++)
		arena_init(&m->ar[i], M_ARENA_PAGES, i == 0 ? ARENA_ASC : i == 1 ? ARENA_DESC
								     : ARENA_STRIDE);
	ck_assert_int_eq(sgv_ctx_set_watermarks(m->f.ctx, M_HI_WMK, M_LO_WMK), 0);
	for (int i = 0; i < M_POOLS; i++) {
		struct m_pool *mp = &m->mp[i];

		mp->ar = cfg[i].arena >= 0 ? &m->ar[cfg[i].arena] : NULL;
		mp->cl = cfg[i].cl;
		mp->single = cfg[i].single;
		mp->interval = cfg[i].interval;
		mp->pool = mkpool(&m->f, cfg[i].name, cfg[i].cl, cfg[i].single, cfg[i].interval,
				  mp->ar);
	}
	for (long op = 0; op < M_OPS; op++) {
		uint64_t r = zc_rand_below(&m->rng, 100);

		m->f.clk.now += (double)zc_rand_below(&m->rng, 1000) / 1000.0;
		if (r < 50 || m->nlive == 0)
			m_alloc(m);
		else if (r < 95)
			m_free(m);
		else
			m_maintain(m);
		if (op % M_BATCH == M_BATCH - 1) {
			for (int i = 0; i < M_POOLS; i++) {
				ck_assert_int_eq(sgv_check(m->mp[i].pool), 0);
				m_compare(m, &m->mp[i]);
			}
			ck_assert_int_eq(sgv_ctx_check(m->f.ctx), 0);
			m_compare_ctx(m);
		}
	}
	while (m->nlive)
		m_free(m);
	ck_assert_uint_eq(atomic_load(&m->lim.used), 0);
	ck_assert_uint_gt(m->n_hit, 0);
	ck_assert_uint_gt(m->n_miss, 0);
	ck_assert_uint_gt(m->n_eagain, 0);
	ck_assert_uint_gt(m->n_lim, 0);
	ck_assert_uint_gt(m->n_empty, 0);
	ck_assert_uint_gt(m->n_big, 0);
	ck_assert_uint_gt(m->n_nocache, 0);
	ck_assert_uint_gt(m->n_purged, 0);
	ck_assert_uint_gt(m->n_shrunk, 0);
	ck_assert_uint_gt(m->n_flushed, 0);
	ck_assert_uint_gt(m->n_releases, 0);
	ck_assert_uint_gt(m->n_wmk_fail, 0);
	fprintf(stderr, "model: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " EAGAIN, %" PRIu64
		" over mem_lim, %" PRIu64 " empty objects, %" PRIu64 " big, %" PRIu64 " no-cached; pages "
		"purged %" PRIu64 ", shrunk %" PRIu64 ", flushed %" PRIu64 "\n", m->n_hit, m->n_miss,
		m->n_eagain, m->n_lim, m->n_empty, m->n_big, m->n_nocache, m->n_purged, m->n_shrunk,
		m->n_flushed);
	fprintf(stderr, "model: %" PRIu64 " watermark releases freed %" PRIu64 " pages, %" PRIu64
		" allocations refused by the watermark\n", m->n_releases, m->n_released,
		m->n_wmk_fail);
	for (int i = 0; i < M_POOLS; i++) {
		m_compare(m, &m->mp[i]);
		sgv_pool_destroy(m->mp[i].pool);
		free(m->mp[i].idle);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(atomic_load(&m->ar[i].live), 0);
		ck_assert_uint_eq(atomic_load(&m->ar[i].errors), 0);
		arena_fini(&m->ar[i]);
	}
	fix_fini(&m->f);
	free(m);
}
END_TEST

/* ---- threads ----------------------------------------------------------------- */

#define T_THREADS 4
#define T_OPS 20000

struct t_arg {
	struct sgv_pool *pools[2];
	struct sgv_mem_lim *lim;
	uint64_t seed;
	_Atomic int *stop;
	_Atomic uint64_t *errors;
	_Atomic uint64_t *done, *refused;
};

static void *t_worker(void *p)
{
	struct t_arg *a = p;
	struct {
		struct sgv_obj *obj;
		struct sgv_mem_lim *lim;
		size_t size;
		uint64_t tag;
	} held[16];
	int nheld = 0;
	uint64_t rng = a->seed;

	for (int op = 0; op < T_OPS; op++) {
		if (nheld < 16 && (nheld == 0 || zc_rand_below(&rng, 2))) {
			struct sgv_pool *pool = a->pools[zc_rand_below(&rng, 2)];
			size_t size = 1 + zc_rand_below(&rng, zc_rand_below(&rng, 8) ? 8 * PG : 64 * PG);
			unsigned flags = zc_rand_below(&rng, 20) == 0 ? SGV_NO_CACHED : 0;
			struct sgv_mem_lim *lim = zc_rand_below(&rng, 2) ? a->lim : NULL;
			struct sgv_obj *obj;
			struct iovec *iov;
			int n;

			iov = sgv_pool_alloc(pool, size, flags, lim, &n, &obj);
			if (!iov) {	/* mem_lim or the high watermark */
				if (errno != ENOMEM || obj != NULL)
					atomic_fetch_add(a->errors, 1);
				atomic_fetch_add(a->refused, 1);
				continue;
			}
			atomic_fetch_add(a->done, 1);
			if (iov_total(iov, n) != size)
				atomic_fetch_add(a->errors, 1);
			held[nheld].obj = obj;
			held[nheld].lim = lim;
			held[nheld].size = size;
			held[nheld].tag = a->seed * 1000003u + (uint64_t)op;
			fill(iov, n, held[nheld].tag);
			nheld++;
		} else {
			int i = (int)zc_rand_below(&rng, (uint64_t)nheld), n;
			struct iovec *iov = sgv_obj_iov(held[i].obj, &n);

			if (iov_total(iov, n) != held[i].size || verify(iov, n, held[i].tag) != 0)
				atomic_fetch_add(a->errors, 1);
			sgv_pool_free(held[i].obj, held[i].lim);
			held[i] = held[--nheld];
		}
	}
	while (nheld) {
		int n;
		struct iovec *iov = sgv_obj_iov(held[nheld - 1].obj, &n);

		if (verify(iov, n, held[nheld - 1].tag) != 0)
			atomic_fetch_add(a->errors, 1);
		sgv_pool_free(held[nheld - 1].obj, held[nheld - 1].lim);
		nheld--;
	}
	return NULL;
}

struct t_maint {
	struct sgv_ctx *ctx;
	struct sgv_pool *pools[2];
	_Atomic int *stop;
	_Atomic uint64_t *errors;
	uint64_t rounds;
};

static void *t_maintainer(void *p)
{
	struct t_maint *a = p;
	uint64_t rng = 42;

	while (!atomic_load(a->stop)) {
		struct sgv_pool_stats ps;
		struct sgv_ctx_stats cs;
		uint64_t r = zc_rand_below(&rng, 5);

		if (r == 0)
			sgv_ctx_purge(a->ctx, sgv_ctx_now(a->ctx) + 1e6);
		else if (r == 1)
			sgv_ctx_shrink(a->ctx, 1 + zc_rand_below(&rng, 32), sgv_ctx_now(a->ctx) + 10);
		else if (r == 2)
			sgv_pool_flush(a->pools[zc_rand_below(&rng, 2)]);
		else if (r == 3) {
			sgv_pool_stats(a->pools[zc_rand_below(&rng, 2)], &ps);
			sgv_ctx_stats(a->ctx, &cs);
		} else if (sgv_check(a->pools[zc_rand_below(&rng, 2)]) != 0) {
			atomic_fetch_add(a->errors, 1);
		}
		a->rounds++;
		nanosleep(&(struct timespec){ 0, 50000 }, NULL);
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *pools[2];
	struct sgv_mem_lim lim;
	pthread_t th[T_THREADS], mt;
	struct t_arg args[T_THREADS];
	struct t_maint maint;
	_Atomic int stop = 0;
	_Atomic uint64_t errors = 0, done = 0, refused = 0;
	struct sgv_ctx_stats cs;
	uint64_t seed = zc_test_seed();

	fix_init(&f);
	sgv_ctx_set_clock(f.ctx, NULL, NULL);	/* the real clock */
	arena_init(&ar, 16384, ARENA_ASC);
	sgv_mem_lim_init(&lim, 600);
	pools[0] = mkpool(&f, "mt-buddy", SGV_CLUSTER_NONE, 0, 1, NULL);
	pools[1] = mkpool(&f, "mt-arena", SGV_CLUSTER_FULL, 0, 1, &ar);
	/* low enough that the high watermark releases (and refuses) often */
	ck_assert_int_eq(sgv_ctx_set_watermarks(f.ctx, 800, 400), 0);
	maint = (struct t_maint){ f.ctx, { pools[0], pools[1] }, &stop, &errors, 0 };
	ck_assert_int_eq(pthread_create(&mt, NULL, t_maintainer, &maint), 0);
	for (int i = 0; i < T_THREADS; i++) {
		args[i] = (struct t_arg){ { pools[0], pools[1] }, &lim, seed + (uint64_t)i * 7919,
					  &stop, &errors, &done, &refused };
		ck_assert_int_eq(pthread_create(&th[i], NULL, t_worker, &args[i]), 0);
	}
	for (int i = 0; i < T_THREADS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	atomic_store(&stop, 1);
	ck_assert_int_eq(pthread_join(mt, NULL), 0);
	ck_assert_uint_eq(atomic_load(&errors), 0);
	ck_assert_uint_gt(atomic_load(&done), atomic_load(&refused));
	ck_assert_uint_eq(atomic_load(&lim.used), 0);
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.active_pages, 0);
	fprintf(stderr, "threads: %" PRIu64 " allocations, %" PRIu64 " refused (mem_lim %" PRIu64
		", watermark %" PRIu64 "), %" PRIu64 " watermark releases, %" PRIu64
		" maintainer rounds\n", atomic_load(&done), atomic_load(&refused),
		cs.mem_lim_failures, cs.hi_wmk_failures, cs.hi_wmk_releases, maint.rounds);
	ck_assert_int_eq(sgv_ctx_check(f.ctx), 0);
	sgv_ctx_flush(f.ctx);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	ck_assert_uint_eq(atomic_load(&ar.errors), 0);
	sgv_pool_destroy(pools[0]);
	sgv_pool_destroy(pools[1]);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("sgv_model");
	TCase *tm = tcase_create("model");

	tcase_add_test(tm, test_model);
	tcase_add_test(tm, test_threads);
	tcase_set_timeout(tm, 600);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
