/* sgv.c - the SGV cache: cached scatter-gather vectors of pages.
 *
 * See sgv.h for the contract.  Implementation notes:
 *
 * - An object (struct sgv_obj) is one malloc: the header, the iovec array
 *   (capacity = one entry per page) and, for cached vectors, a uint16_t
 *   array with the first page index of every entry in stream order.  The
 *   entries of a vector, read in order, form the buffer; first_pg[] is their
 *   running page offset, so the entry holding page P-1 of a request is found
 *   by binary search.  A cached vector never changes its pages, so first_pg
 *   is computed once, when the vector is built.
 * - Trimming touches only the returned entry count and the length of the
 *   last visible entry (saved in the object and restored on free).
 * - Every idle vector is on two lists: its order's LIFO list (idle[], most
 *   recently freed first: the warmest pages are reused) and the pool's list
 *   sorted by free time (sorted, oldest first: purge and shrink free the
 *   coldest).  Free stamps are clamped so the sorted list stays ordered even
 *   when two threads read the clock out of order.
 * - Pages are allocated and freed outside every pool lock.  A miss takes the
 *   pool lock twice (reserve, then publish); a hit once; a free once.
 * - The context keeps one atomic, total_pages (every page the SGV cache
 *   holds: active + idle + in flight), for the high watermark; active and
 *   inactive page figures are summed from the pools under their locks.
 */
#include "alloc/sgv.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc/buddy.h"

static_assert(SGV_PAGE_SIZE == BUDDY_PAGE_SIZE, "SGV pages are buddy pages");
static_assert(SGV_MAX_CACHED_PAGES <= UINT16_MAX, "first_pg[] entries fit a uint16_t");
static_assert(SGV_NR_ORDERS == SGV_MAX_ORDER + 1, "one cache per order");

#define SGV_ORDER_OTHER (-1)	/* allocated exactly, never cached */
#define SGV_ORDER_EMPTY (-2)	/* SGV_RETURN_OBJ_ON_ALLOC_FAIL: no pages */
#define SGV_ALL_FLAGS (SGV_NO_CACHED | SGV_NO_ALLOC_ON_CACHE_MISS | SGV_RETURN_OBJ_ON_ALLOC_FAIL)
/* Full clustering searches this many entries back (every entry of a cached
 * vector). */
#define SGV_FULL_SCAN SGV_MAX_CACHED_PAGES
static_assert(SGV_FULL_SCAN >= SGV_MAX_CACHED_PAGES, "cached vectors are searched whole");
/* Largest request: keeps page counts and capacities within unsigned. */
#define SGV_MAX_REQUEST_PAGES ((size_t)1 << 30)

/* Intrusive circular doubly linked list. */
struct sgv_list {
	struct sgv_list *prev, *next;
};

static void sgv_list_init(struct sgv_list *h)
{
	h->prev = h->next = h;
}

static bool sgv_list_empty(const struct sgv_list *h)
{
	return h->next == h;
}

static void sgv_list_add_after(struct sgv_list *pos, struct sgv_list *n)
{
	n->prev = pos;
	n->next = pos->next;
	pos->next->prev = n;
	pos->next = n;
}

static void sgv_list_add_head(struct sgv_list *h, struct sgv_list *n)
{
	sgv_list_add_after(h, n);
}

static void sgv_list_add_tail(struct sgv_list *h, struct sgv_list *n)
{
	sgv_list_add_after(h->prev, n);
}

static void sgv_list_del(struct sgv_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

#define sgv_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct sgv_obj {
	struct sgv_pool *pool;		/* owner, fixed */
	struct sgv_list lru;		/* idle[order] while idle; protected by pool->lock */
	struct sgv_list sorted;		/* pool->sorted while idle; protected by pool->lock */
	double stamp;			/* free time while idle; protected by pool->lock */
	bool idle;			/* on the lists; protected by pool->lock */
	int order;			/* cache index, SGV_ORDER_OTHER or SGV_ORDER_EMPTY; fixed */
	unsigned pages;			/* pages held; fixed */
	unsigned capacity;		/* iov[] slots; fixed */
	unsigned nents;			/* entries of the whole vector; fixed once built */
	unsigned ret_count;		/* entries visible to the owner */
	size_t saved_len;		/* full length of iov[ret_count - 1] */
	struct sgv_mem_lim *mem_lim;	/* charged at alloc (checked at free) */
	uint16_t *first_pg;		/* cached vectors: page offset of each entry */
	struct iovec iov[];
};

struct sgv_pool {
	struct sgv_ctx *ctx;
	struct sgv_list node;		/* ctx->pools; protected by ctx->lock */
	unsigned refcount;		/* protected by ctx->lock */
	char name[SGV_NAME_MAX];
	enum sgv_clustering clustering;
	unsigned single_alloc_pages;
	bool shared;
	int purge_interval;		/* seconds; < 0: never purge nor shrink */
	unsigned nr_orders;		/* caches: SGV_NR_ORDERS, or 1 in fixed-size mode */

	pthread_mutex_t lock;
	sgv_alloc_page_fn alloc_page;	/* protected by lock */
	sgv_free_page_fn free_page;	/* protected by lock */
	void *alloc_priv;		/* protected by lock */
	struct sgv_list idle[SGV_NR_ORDERS];	/* protected by lock */
	struct sgv_list sorted;		/* protected by lock */
	double last_stamp;		/* newest stamp on sorted; protected by lock */
	struct sgv_order_stats ost[SGV_NR_ORDERS];	/* protected by lock */
	uint64_t inflight;		/* misses building a vector; protected by lock */
	uint64_t other_objs;		/* other allocations outstanding; protected by lock */
	uint64_t empty_objs;		/* empty objects outstanding; protected by lock */
	uint64_t big_allocs, nocache_allocs, other_pages, other_merged;	/* protected by lock */
	uint64_t failed, purged_pages, shrunk_pages, flushed_pages;	/* protected by lock */
};

struct sgv_ctx {
	pthread_mutex_t lock;
	struct sgv_list pools;		/* protected by lock */
	uint64_t nr_pools;		/* protected by lock */
	struct buddy *buddy;		/* fixed */
	sgv_clock_fn clock;		/* set before use */
	void *clock_priv;
	_Atomic uint64_t total_pages;	/* pages held: active + idle + in flight */
	_Atomic uint64_t hi_wmk, lo_wmk;
	_Atomic uint64_t hi_wmk_releases, hi_wmk_failures;
	_Atomic uint64_t other_allocs, mem_lim_failures;
};

#ifdef ZC_DEBUG
static void sgv_debug_assert(bool cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "sgv: %s\n", what);
		abort();
	}
}
#else
static inline void sgv_debug_assert(bool cond, const char *what)
{
	(void)cond;
	(void)what;
}
#endif

/* ---- page allocators and the clock ---------------------------------------- */

static void *sgv_buddy_alloc_page(void *priv)
{
	return buddy_alloc(priv, SGV_PAGE_SIZE);
}

static void sgv_buddy_free_page(void *page, void *priv)
{
	buddy_free(priv, page, SGV_PAGE_SIZE);
}

/* The default clock.  CLOCK_MONOTONIC_COARSE (a tick, a few ms) is plenty
 * for intervals counted in seconds and costs a few ns on every free instead
 * of ~20 for CLOCK_MONOTONIC. */
static double sgv_monotonic(void *priv)
{
	struct timespec ts;

	(void)priv;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- context ---------------------------------------------------------------- */

struct sgv_ctx *sgv_ctx_create(struct buddy *pages)
{
	struct sgv_ctx *ctx;

	if (!pages) {
		errno = EINVAL;
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
		free(ctx);
		errno = ENOMEM;
		return NULL;
	}
	sgv_list_init(&ctx->pools);
	ctx->buddy = pages;
	ctx->clock = sgv_monotonic;
	atomic_init(&ctx->total_pages, 0);
	atomic_init(&ctx->hi_wmk, 0);
	atomic_init(&ctx->lo_wmk, 0);
	atomic_init(&ctx->hi_wmk_releases, 0);
	atomic_init(&ctx->hi_wmk_failures, 0);
	atomic_init(&ctx->other_allocs, 0);
	atomic_init(&ctx->mem_lim_failures, 0);
	return ctx;
}

static void sgv_pool_free_struct(struct sgv_pool *pool);

void sgv_ctx_destroy(struct sgv_ctx *ctx)
{
	if (!ctx)
		return;
	while (!sgv_list_empty(&ctx->pools)) {
		struct sgv_pool *pool = sgv_container_of(ctx->pools.next, struct sgv_pool, node);

		sgv_list_del(&pool->node);
		sgv_pool_flush(pool);
		sgv_pool_free_struct(pool);
	}
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

void sgv_ctx_set_clock(struct sgv_ctx *ctx, sgv_clock_fn clock, void *priv)
{
	ctx->clock = clock ? clock : sgv_monotonic;
	ctx->clock_priv = clock ? priv : NULL;
}

double sgv_ctx_now(struct sgv_ctx *ctx)
{
	return ctx->clock(ctx->clock_priv);
}

int sgv_ctx_set_watermarks(struct sgv_ctx *ctx, uint64_t hi, uint64_t lo)
{
	if (hi != 0 && lo > hi)
		return -EINVAL;
	atomic_store(&ctx->hi_wmk, hi);
	atomic_store(&ctx->lo_wmk, lo);
	return 0;
}

/* ---- objects ---------------------------------------------------------------- */

static size_t sgv_obj_size(unsigned capacity, bool cached)
{
	size_t sz = sizeof(struct sgv_obj) + (size_t)capacity * sizeof(struct iovec);

	if (cached)
		sz += (size_t)capacity * sizeof(uint16_t);
	return sz;
}

static struct sgv_obj *sgv_obj_new(struct sgv_pool *pool, int order, unsigned capacity)
{
	bool cached = order >= 0;
	struct sgv_obj *obj = malloc(sgv_obj_size(capacity, cached));

	if (!obj)
		return NULL;
	obj->pool = pool;
	sgv_list_init(&obj->lru);
	sgv_list_init(&obj->sorted);
	obj->stamp = 0;
	obj->idle = false;
	obj->order = order;
	obj->pages = 0;
	obj->capacity = capacity;
	obj->nents = 0;
	obj->ret_count = 0;
	obj->saved_len = 0;
	obj->mem_lim = NULL;
	obj->first_pg = cached ? (uint16_t *)(void *)&obj->iov[capacity] : NULL;
	return obj;
}

/* Turn obj (holding no pages) into an empty object for
 * SGV_RETURN_OBJ_ON_ALLOC_FAIL. */
static void sgv_obj_make_empty(struct sgv_obj *obj)
{
	obj->order = SGV_ORDER_EMPTY;
	obj->pages = 0;
	obj->nents = 0;
	obj->ret_count = 0;
	obj->first_pg = NULL;
	memset(obj->iov, 0, (size_t)obj->capacity * sizeof(struct iovec));
}

/* Merge `page` into entry e if it continues its end or precedes its start. */
static bool sgv_try_merge(struct iovec *e, char *page)
{
	if ((char *)e->iov_base + e->iov_len == page) {
		e->iov_len += SGV_PAGE_SIZE;
		return true;
	}
	if (page + SGV_PAGE_SIZE == (char *)e->iov_base) {
		e->iov_base = page;
		e->iov_len += SGV_PAGE_SIZE;
		return true;
	}
	return false;
}

/* Add one page to the vector being built, merging it per the clustering
 * mode.  Returns nothing; obj->nents grows when no merge happened. */
static void sgv_add_page(struct sgv_obj *obj, enum sgv_clustering cl, char *page,
			 unsigned *hint)
{
	unsigned n = obj->nents;

	if (cl == SGV_CLUSTER_TAIL && n > 0) {
		struct iovec *last = &obj->iov[n - 1];

		if ((char *)last->iov_base + last->iov_len == page) {
			last->iov_len += SGV_PAGE_SIZE;
			return;
		}
	} else if (cl == SGV_CLUSTER_FULL && n > 0) {
		/* The entry merged last time first (a sequential allocator
		 * hits it every time), then the entries newest first - all of
		 * them in a cached vector, the newest SGV_FULL_SCAN in a big
		 * one, so that a huge vector of scattered pages does not cost
		 * quadratic time. */
		unsigned h = *hint < n ? *hint : n - 1, i;
		unsigned stop = n > SGV_FULL_SCAN ? n - SGV_FULL_SCAN : 0;

		if (sgv_try_merge(&obj->iov[h], page))
			return;
		for (i = n; i-- > stop;) {
			if (i != h && sgv_try_merge(&obj->iov[i], page)) {
				*hint = i;
				return;
			}
		}
	}
	obj->iov[n].iov_base = page;
	obj->iov[n].iov_len = SGV_PAGE_SIZE;
	obj->nents = n + 1;
	*hint = n;
}

/* Free every page of a whole (restored) vector. */
static void sgv_free_pages(struct sgv_obj *obj, sgv_free_page_fn free_page, void *priv)
{
	unsigned e;

	for (e = 0; e < obj->nents; e++) {
		char *base = obj->iov[e].iov_base;
		size_t off;

		for (off = 0; off < obj->iov[e].iov_len; off += SGV_PAGE_SIZE)
			free_page(base + off, priv);
	}
}

/* Fill obj with `pages` fresh pages.  Returns 0, or -ENOMEM after giving
 * back whatever it took. */
static int sgv_fill(struct sgv_obj *obj, enum sgv_clustering cl, unsigned pages,
		    sgv_alloc_page_fn alloc_page, sgv_free_page_fn free_page, void *priv)
{
	unsigned i, hint = 0;

	obj->nents = 0;
	for (i = 0; i < pages; i++) {
		char *page = alloc_page(priv);

		if (!page) {
			sgv_free_pages(obj, free_page, priv);
			obj->nents = 0;
			return -ENOMEM;
		}
		sgv_add_page(obj, cl, page, &hint);
	}
	obj->pages = pages;
	if (obj->first_pg) {
		unsigned e, pg = 0;

		for (e = 0; e < obj->nents; e++) {
			obj->first_pg[e] = (uint16_t)pg;
			pg += (unsigned)(obj->iov[e].iov_len >> SGV_PAGE_SHIFT);
		}
	}
	obj->ret_count = obj->nents;
	return 0;
}

/* Hide everything past `size` bytes; remember what to restore. */
static void sgv_trim(struct sgv_obj *obj, size_t size)
{
	size_t last_pg = (size - 1) >> SGV_PAGE_SHIFT;
	size_t start;
	unsigned e;

	if (obj->first_pg) {
		unsigned lo = 0, hi = obj->nents - 1;

		while (lo < hi) {	/* largest e with first_pg[e] <= last_pg */
			unsigned mid = lo + (hi - lo + 1) / 2;

			if (obj->first_pg[mid] <= last_pg)
				lo = mid;
			else
				hi = mid - 1;
		}
		e = lo;
		start = (size_t)obj->first_pg[e] << SGV_PAGE_SHIFT;
	} else {
		/* An other allocation holds exactly the pages asked for. */
		e = obj->nents - 1;
		start = ((size_t)obj->pages << SGV_PAGE_SHIFT) - obj->iov[e].iov_len;
	}
	obj->ret_count = e + 1;
	obj->saved_len = obj->iov[e].iov_len;
	obj->iov[e].iov_len = size - start;
}

static void sgv_untrim(struct sgv_obj *obj)
{
	if (obj->ret_count > 0)
		obj->iov[obj->ret_count - 1].iov_len = obj->saved_len;
	obj->ret_count = obj->nents;
}

struct iovec *sgv_obj_iov(struct sgv_obj *obj, int *count)
{
	if (count)
		*count = (int)obj->ret_count;
	return obj->iov;
}

unsigned sgv_obj_pages(const struct sgv_obj *obj)
{
	return obj->pages;
}

unsigned sgv_obj_capacity(const struct sgv_obj *obj)
{
	return obj->capacity;
}

/* ---- limits ----------------------------------------------------------------- */

static bool sgv_mem_lim_charge(struct sgv_mem_lim *lim, uint64_t pages)
{
	uint64_t cur;

	if (!lim)
		return true;
	if (lim->max_pages == 0) {
		atomic_fetch_add(&lim->used, pages);
		return true;
	}
	cur = atomic_load(&lim->used);
	do {
		if (cur + pages > lim->max_pages)
			return false;
	} while (!atomic_compare_exchange_weak(&lim->used, &cur, cur + pages));
	return true;
}

static void sgv_mem_lim_uncharge(struct sgv_mem_lim *lim, uint64_t pages)
{
	if (lim)
		atomic_fetch_sub(&lim->used, pages);
}

static uint64_t sgv_ctx_release(struct sgv_ctx *ctx, uint64_t target);

/* Reserve `pages` fresh pages against the high watermark, releasing idle
 * vectors down to the low watermark when over it.  Returns 0 or -ENOMEM
 * (nothing reserved). */
static int sgv_hiwmk_reserve(struct sgv_ctx *ctx, uint64_t pages)
{
	uint64_t hi = atomic_load_explicit(&ctx->hi_wmk, memory_order_relaxed);
	uint64_t total = atomic_fetch_add(&ctx->total_pages, pages) + pages;

	if (hi == 0 || total <= hi)
		return 0;
	atomic_fetch_add(&ctx->hi_wmk_releases, 1);
	sgv_ctx_release(ctx, atomic_load(&ctx->lo_wmk));
	if (atomic_load(&ctx->total_pages) <= hi)
		return 0;
	atomic_fetch_sub(&ctx->total_pages, pages);
	atomic_fetch_add(&ctx->hi_wmk_failures, 1);
	return -ENOMEM;
}

/* ---- pools ------------------------------------------------------------------ */

static struct sgv_pool *sgv_find_locked(struct sgv_ctx *ctx, const char *name)
{
	struct sgv_list *it;

	for (it = ctx->pools.next; it != &ctx->pools; it = it->next) {
		struct sgv_pool *p = sgv_container_of(it, struct sgv_pool, node);

		if (strcmp(p->name, name) == 0)
			return p;
	}
	return NULL;
}

static void sgv_pool_free_struct(struct sgv_pool *pool)
{
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

struct sgv_pool *sgv_pool_create(struct sgv_ctx *ctx, const char *name,
				 enum sgv_clustering clustering,
				 unsigned single_alloc_pages, bool shared,
				 int purge_interval)
{
	struct sgv_pool *pool, *old;
	size_t len;
	unsigned o;
	int err;

	if (!ctx || !name)
		goto err_inval;
	len = strlen(name);
	if (len == 0 || len >= SGV_NAME_MAX)
		goto err_inval;
	if (clustering != SGV_CLUSTER_NONE && clustering != SGV_CLUSTER_TAIL &&
	    clustering != SGV_CLUSTER_FULL)
		goto err_inval;
	if (single_alloc_pages > SGV_MAX_CACHED_PAGES)
		goto err_inval;
	if (purge_interval == 0)
		purge_interval = SGV_DEFAULT_PURGE_INTERVAL;

	pool = calloc(1, sizeof(*pool));
	if (!pool) {
		errno = ENOMEM;
		return NULL;
	}
	if (pthread_mutex_init(&pool->lock, NULL) != 0) {
		free(pool);
		errno = ENOMEM;
		return NULL;
	}
	pool->ctx = ctx;
	pool->refcount = 1;
	memcpy(pool->name, name, len + 1);
	pool->clustering = clustering;
	pool->single_alloc_pages = single_alloc_pages;
	pool->shared = shared;
	pool->purge_interval = purge_interval;
	pool->nr_orders = single_alloc_pages ? 1 : SGV_NR_ORDERS;
	pool->alloc_page = sgv_buddy_alloc_page;
	pool->free_page = sgv_buddy_free_page;
	pool->alloc_priv = ctx->buddy;
	for (o = 0; o < SGV_NR_ORDERS; o++)
		sgv_list_init(&pool->idle[o]);
	sgv_list_init(&pool->sorted);

	pthread_mutex_lock(&ctx->lock);
	old = sgv_find_locked(ctx, name);
	if (old) {
		if (shared && old->shared && old->clustering == clustering &&
		    old->single_alloc_pages == single_alloc_pages &&
		    old->purge_interval == purge_interval) {
			old->refcount++;
			pthread_mutex_unlock(&ctx->lock);
			sgv_pool_free_struct(pool);
			return old;
		}
		pthread_mutex_unlock(&ctx->lock);
		err = EEXIST;
		goto err_free;
	}
	sgv_list_add_tail(&ctx->pools, &pool->node);
	ctx->nr_pools++;
	pthread_mutex_unlock(&ctx->lock);
	return pool;

err_free:
	sgv_pool_free_struct(pool);
	errno = err;
	return NULL;
err_inval:
	errno = EINVAL;
	return NULL;
}

void sgv_pool_destroy(struct sgv_pool *pool)
{
	struct sgv_ctx *ctx;

	if (!pool)
		return;
	ctx = pool->ctx;
	pthread_mutex_lock(&ctx->lock);
	if (--pool->refcount > 0) {
		pthread_mutex_unlock(&ctx->lock);
		return;
	}
	sgv_list_del(&pool->node);
	ctx->nr_pools--;
	pthread_mutex_unlock(&ctx->lock);

	sgv_pool_flush(pool);
	pthread_mutex_lock(&pool->lock);
	sgv_debug_assert(pool->inflight == 0 && pool->other_objs == 0 && pool->empty_objs == 0,
			 "pool destroyed with vectors still allocated");
	for (unsigned o = 0; o < pool->nr_orders; o++)
		sgv_debug_assert(pool->ost[o].cached_entries == 0,
				 "pool destroyed with cached vectors still allocated");
	pthread_mutex_unlock(&pool->lock);
	sgv_pool_free_struct(pool);
}

struct sgv_pool *sgv_pool_find(struct sgv_ctx *ctx, const char *name)
{
	struct sgv_pool *p;

	if (!ctx || !name) {
		errno = EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&ctx->lock);
	p = sgv_find_locked(ctx, name);
	pthread_mutex_unlock(&ctx->lock);
	if (!p)
		errno = ENOENT;
	return p;
}

/* Vectors of any kind the pool holds or has handed out; caller must hold
 * pool->lock. */
static bool sgv_pool_busy(const struct sgv_pool *pool)
{
	unsigned o;

	if (pool->inflight || pool->other_objs || pool->empty_objs)
		return true;
	for (o = 0; o < pool->nr_orders; o++)
		if (pool->ost[o].cached_entries)
			return true;
	return false;
}

int sgv_pool_set_allocator(struct sgv_pool *pool, sgv_alloc_page_fn alloc_page,
			   sgv_free_page_fn free_page, void *priv)
{
	int ret = 0;

	if (!pool || (!alloc_page) != (!free_page))
		return -EINVAL;
	pthread_mutex_lock(&pool->lock);
	if (sgv_pool_busy(pool)) {
		ret = -EBUSY;
	} else if (alloc_page) {
		pool->alloc_page = alloc_page;
		pool->free_page = free_page;
		pool->alloc_priv = priv;
	} else {
		pool->alloc_page = sgv_buddy_alloc_page;
		pool->free_page = sgv_buddy_free_page;
		pool->alloc_priv = pool->ctx->buddy;
	}
	pthread_mutex_unlock(&pool->lock);
	return ret;
}

/* ---- allocation ------------------------------------------------------------- */

static unsigned sgv_order_of(size_t pages)
{
	unsigned o = 0;

	while (((size_t)1 << o) < pages)
		o++;
	return o;
}

/* Detach the newest idle vector of `order`; caller must hold pool->lock. */
static struct sgv_obj *sgv_take_idle(struct sgv_pool *pool, int order)
{
	struct sgv_obj *obj;
	struct sgv_order_stats *st = &pool->ost[order];

	if (sgv_list_empty(&pool->idle[order]))
		return NULL;
	obj = sgv_container_of(pool->idle[order].next, struct sgv_obj, lru);
	sgv_list_del(&obj->lru);
	sgv_list_del(&obj->sorted);
	obj->idle = false;
	st->inactive_entries--;
	st->inactive_pages -= obj->pages;
	return obj;
}

/* The common end of a failed sgv_pool_alloc: mem_lim is already
 * uncharged; obj (if any) holds no pages; `inflight` says whether a miss
 * reservation is to be dropped.  Hands out an empty object under
 * SGV_RETURN_OBJ_ON_ALLOC_FAIL, else frees obj. */
static struct iovec *sgv_alloc_failed(struct sgv_pool *pool, unsigned flags, int err,
				      size_t pages, struct sgv_obj *obj, bool inflight,
				      struct sgv_obj **objp)
{
	if (flags & SGV_RETURN_OBJ_ON_ALLOC_FAIL) {
		if (!obj)
			obj = sgv_obj_new(pool, SGV_ORDER_EMPTY, (unsigned)pages);
		if (obj)
			sgv_obj_make_empty(obj);
	} else {
		free(obj);
		obj = NULL;
	}
	pthread_mutex_lock(&pool->lock);
	if (inflight)
		pool->inflight--;
	if (obj)
		pool->empty_objs++;
	pool->failed++;
	pthread_mutex_unlock(&pool->lock);
	*objp = obj;
	errno = err;
	return NULL;
}

struct iovec *sgv_pool_alloc(struct sgv_pool *pool, size_t size, unsigned flags,
			     struct sgv_mem_lim *mem_lim, int *count,
			     struct sgv_obj **objp)
{
	struct sgv_ctx *ctx;
	struct sgv_obj *obj = NULL;
	sgv_alloc_page_fn alloc_page;
	sgv_free_page_fn free_page;
	void *priv;
	size_t pages;
	unsigned obj_pages;
	int order, err;

	if (count)
		*count = 0;
	if (objp)
		*objp = NULL;
	if (!pool || !count || !objp || size == 0 || (flags & ~(unsigned)SGV_ALL_FLAGS)) {
		errno = EINVAL;
		return NULL;
	}
	ctx = pool->ctx;
	if (size > SGV_MAX_REQUEST_PAGES << SGV_PAGE_SHIFT) {
		pthread_mutex_lock(&pool->lock);
		pool->failed++;
		pthread_mutex_unlock(&pool->lock);
		errno = ENOMEM;
		return NULL;
	}
	pages = (size + SGV_PAGE_SIZE - 1) >> SGV_PAGE_SHIFT;
	if (flags & SGV_NO_CACHED) {
		order = SGV_ORDER_OTHER;
	} else if (pool->single_alloc_pages) {
		order = pages <= pool->single_alloc_pages ? 0 : SGV_ORDER_OTHER;
	} else {
		unsigned o = sgv_order_of(pages);

		order = o <= SGV_MAX_ORDER ? (int)o : SGV_ORDER_OTHER;
	}
	if (order == SGV_ORDER_OTHER)
		obj_pages = (unsigned)pages;
	else if (pool->single_alloc_pages)
		obj_pages = pool->single_alloc_pages;
	else
		obj_pages = 1u << order;

	if (!sgv_mem_lim_charge(mem_lim, obj_pages)) {
		atomic_fetch_add(&ctx->mem_lim_failures, 1);
		err = ENOMEM;
		goto fail;
	}

	pthread_mutex_lock(&pool->lock);
	if (order >= 0) {
		obj = sgv_take_idle(pool, order);
		if (obj) {
			pool->ost[order].total++;
			pool->ost[order].hits++;
			pthread_mutex_unlock(&pool->lock);
			goto out;
		}
	}
	if (flags & SGV_NO_ALLOC_ON_CACHE_MISS) {
		pthread_mutex_unlock(&pool->lock);
		err = EAGAIN;
		goto fail_uncharge;
	}
	/* A miss: reserve our place (so set_allocator sees the pool busy)
	 * and build a vector outside the lock. */
	pool->inflight++;
	alloc_page = pool->alloc_page;
	free_page = pool->free_page;
	priv = pool->alloc_priv;
	pthread_mutex_unlock(&pool->lock);

	obj = sgv_obj_new(pool, order, obj_pages);
	if (!obj) {
		err = ENOMEM;
		goto fail_unreserve;
	}
	if (sgv_hiwmk_reserve(ctx, obj_pages) < 0) {
		err = ENOMEM;
		goto fail_obj;
	}
	if (sgv_fill(obj, pool->clustering, obj_pages, alloc_page, free_page, priv) < 0) {
		atomic_fetch_sub(&ctx->total_pages, obj_pages);
		err = ENOMEM;
		goto fail_obj;
	}

	pthread_mutex_lock(&pool->lock);
	pool->inflight--;
	if (order >= 0) {
		struct sgv_order_stats *st = &pool->ost[order];

		st->total++;
		st->fresh_pages += obj_pages;
		st->merged += obj_pages - obj->nents;
		st->cached_entries++;
		st->cached_pages += obj_pages;
	} else {
		if (flags & SGV_NO_CACHED)
			pool->nocache_allocs++;
		else
			pool->big_allocs++;
		pool->other_objs++;
		pool->other_pages += obj_pages;
		pool->other_merged += obj_pages - obj->nents;
	}
	pthread_mutex_unlock(&pool->lock);
	if (order < 0)
		atomic_fetch_add(&ctx->other_allocs, 1);

out:
	obj->mem_lim = mem_lim;
	sgv_trim(obj, size);
	*count = (int)obj->ret_count;
	*objp = obj;
	return obj->iov;

fail_obj:
	sgv_mem_lim_uncharge(mem_lim, obj_pages);
	return sgv_alloc_failed(pool, flags, err, pages, obj, true, objp);
fail_unreserve:
	sgv_mem_lim_uncharge(mem_lim, obj_pages);
	return sgv_alloc_failed(pool, flags, err, pages, NULL, true, objp);
fail_uncharge:
	sgv_mem_lim_uncharge(mem_lim, obj_pages);
fail:
	return sgv_alloc_failed(pool, flags, err, pages, NULL, false, objp);
}

void sgv_pool_free(struct sgv_obj *obj, struct sgv_mem_lim *mem_lim)
{
	struct sgv_pool *pool;
	struct sgv_ctx *ctx;
	double now;

	if (!obj)
		return;
	pool = obj->pool;
	ctx = pool->ctx;
	if (obj->order == SGV_ORDER_EMPTY) {
		pthread_mutex_lock(&pool->lock);
		pool->empty_objs--;
		pthread_mutex_unlock(&pool->lock);
		free(obj);
		return;
	}
	sgv_debug_assert(obj->mem_lim == mem_lim, "sgv_pool_free: not the mem_lim of the allocation");
	sgv_mem_lim_uncharge(mem_lim, obj->pages);
	sgv_untrim(obj);
	if (obj->order == SGV_ORDER_OTHER) {
		sgv_free_page_fn free_page;
		void *priv;

		pthread_mutex_lock(&pool->lock);
		free_page = pool->free_page;
		priv = pool->alloc_priv;
		pthread_mutex_unlock(&pool->lock);
		/* Still counted as outstanding while its pages go back, so
		 * the allocator cannot be swapped under us. */
		sgv_free_pages(obj, free_page, priv);
		atomic_fetch_sub(&ctx->total_pages, obj->pages);
		pthread_mutex_lock(&pool->lock);
		pool->other_objs--;
		pool->other_pages -= obj->pages;
		pthread_mutex_unlock(&pool->lock);
		free(obj);
		return;
	}
	now = ctx->clock(ctx->clock_priv);
	pthread_mutex_lock(&pool->lock);
	sgv_debug_assert(!obj->idle, "sgv_pool_free: vector freed twice");
	if (now < pool->last_stamp)
		now = pool->last_stamp;
	pool->last_stamp = now;
	obj->stamp = now;
	obj->idle = true;
	sgv_list_add_head(&pool->idle[obj->order], &obj->lru);
	sgv_list_add_tail(&pool->sorted, &obj->sorted);
	pool->ost[obj->order].inactive_entries++;
	pool->ost[obj->order].inactive_pages += obj->pages;
	pthread_mutex_unlock(&pool->lock);
}

/* ---- purge, shrink, flush --------------------------------------------------- */

enum sgv_reason { SGV_PURGE, SGV_SHRINK, SGV_HIWMK, SGV_FLUSH };

/* Free the detached vectors on `list` (outside the pool lock) and account
 * for them.  Returns the pages freed. */
static uint64_t sgv_free_detached(struct sgv_pool *pool, struct sgv_list *list,
				  enum sgv_reason why)
{
	struct sgv_ctx *ctx = pool->ctx;
	sgv_free_page_fn free_page;
	void *priv;
	uint64_t freed = 0;

	if (sgv_list_empty(list))
		return 0;
	/* The vectors still count as cached entries, so the allocator
	 * cannot change while we free their pages. */
	pthread_mutex_lock(&pool->lock);
	free_page = pool->free_page;
	priv = pool->alloc_priv;
	pthread_mutex_unlock(&pool->lock);
	while (!sgv_list_empty(list)) {
		struct sgv_obj *obj = sgv_container_of(list->next, struct sgv_obj, lru);

		sgv_list_del(&obj->lru);
		sgv_free_pages(obj, free_page, priv);
		atomic_fetch_sub(&ctx->total_pages, obj->pages);
		freed += obj->pages;
		pthread_mutex_lock(&pool->lock);
		pool->ost[obj->order].cached_entries--;
		pool->ost[obj->order].cached_pages -= obj->pages;
		pthread_mutex_unlock(&pool->lock);
		free(obj);
	}
	pthread_mutex_lock(&pool->lock);
	if (why == SGV_PURGE)
		pool->purged_pages += freed;
	else if (why == SGV_SHRINK || why == SGV_HIWMK)
		pool->shrunk_pages += freed;
	else
		pool->flushed_pages += freed;
	pthread_mutex_unlock(&pool->lock);
	return freed;
}

/* Detach the oldest idle vector onto `out`; caller must hold pool->lock.
 * Returns its pages. */
static unsigned sgv_detach_oldest(struct sgv_pool *pool, struct sgv_list *out)
{
	struct sgv_obj *obj = sgv_container_of(pool->sorted.next, struct sgv_obj, sorted);
	struct sgv_order_stats *st = &pool->ost[obj->order];

	sgv_list_del(&obj->sorted);
	sgv_list_del(&obj->lru);
	obj->idle = false;
	st->inactive_entries--;
	st->inactive_pages -= obj->pages;
	sgv_list_add_tail(out, &obj->lru);
	return obj->pages;
}

/* Detach idle vectors, oldest first, while they have been idle at least
 * min_idle at `now` (min_idle 0: any age), until at least nr_pages are
 * detached; then free them.  Returns the pages freed. */
static uint64_t sgv_pool_reap(struct sgv_pool *pool, uint64_t nr_pages, double now,
			      double min_idle, enum sgv_reason why)
{
	struct sgv_list victims;
	uint64_t taken = 0;

	sgv_list_init(&victims);
	pthread_mutex_lock(&pool->lock);
	while (taken < nr_pages && !sgv_list_empty(&pool->sorted)) {
		struct sgv_obj *obj = sgv_container_of(pool->sorted.next, struct sgv_obj, sorted);

		if (min_idle > 0 && now - obj->stamp < min_idle)
			break;
		taken += sgv_detach_oldest(pool, &victims);
	}
	pthread_mutex_unlock(&pool->lock);
	return sgv_free_detached(pool, &victims, why);
}

uint64_t sgv_pool_purge(struct sgv_pool *pool, double now)
{
	if (!pool || pool->purge_interval < 0)
		return 0;
	return sgv_pool_reap(pool, UINT64_MAX, now, (double)pool->purge_interval, SGV_PURGE);
}

uint64_t sgv_pool_shrink(struct sgv_pool *pool, uint64_t nr_pages, double now)
{
	if (!pool || pool->purge_interval < 0 || nr_pages == 0)
		return 0;
	return sgv_pool_reap(pool, nr_pages, now, SGV_MIN_SHRINK_INTERVAL, SGV_SHRINK);
}

uint64_t sgv_pool_flush(struct sgv_pool *pool)
{
	if (!pool)
		return 0;
	return sgv_pool_reap(pool, UINT64_MAX, 0, 0, SGV_FLUSH);
}

uint64_t sgv_ctx_purge(struct sgv_ctx *ctx, double now)
{
	struct sgv_list *it;
	uint64_t freed = 0;

	if (!ctx)
		return 0;
	pthread_mutex_lock(&ctx->lock);
	for (it = ctx->pools.next; it != &ctx->pools; it = it->next)
		freed += sgv_pool_purge(sgv_container_of(it, struct sgv_pool, node), now);
	pthread_mutex_unlock(&ctx->lock);
	return freed;
}

uint64_t sgv_ctx_shrink(struct sgv_ctx *ctx, uint64_t nr_pages, double now)
{
	struct sgv_list *it;
	uint64_t freed = 0;

	if (!ctx)
		return 0;
	pthread_mutex_lock(&ctx->lock);
	for (it = ctx->pools.next; it != &ctx->pools && freed < nr_pages; it = it->next)
		freed += sgv_pool_shrink(sgv_container_of(it, struct sgv_pool, node),
					 nr_pages - freed, now);
	pthread_mutex_unlock(&ctx->lock);
	return freed;
}

uint64_t sgv_ctx_flush(struct sgv_ctx *ctx)
{
	struct sgv_list *it;
	uint64_t freed = 0;

	if (!ctx)
		return 0;
	pthread_mutex_lock(&ctx->lock);
	for (it = ctx->pools.next; it != &ctx->pools; it = it->next)
		freed += sgv_pool_flush(sgv_container_of(it, struct sgv_pool, node));
	pthread_mutex_unlock(&ctx->lock);
	return freed;
}

/* High-watermark pressure: free idle vectors of pools whose purge is
 * enabled, oldest first per pool, until the context holds at most
 * `target` pages.  Returns the pages freed. */
static uint64_t sgv_ctx_release(struct sgv_ctx *ctx, uint64_t target)
{
	struct sgv_list *it;
	uint64_t freed = 0;

	pthread_mutex_lock(&ctx->lock);
	for (it = ctx->pools.next; it != &ctx->pools; it = it->next) {
		struct sgv_pool *pool = sgv_container_of(it, struct sgv_pool, node);
		uint64_t total = atomic_load(&ctx->total_pages);

		if (total <= target)
			break;
		if (pool->purge_interval < 0)
			continue;
		freed += sgv_pool_reap(pool, total - target, 0, 0, SGV_HIWMK);
	}
	pthread_mutex_unlock(&ctx->lock);
	return freed;
}

/* ---- statistics and checks -------------------------------------------------- */

/* Caller must hold pool->lock. */
static void sgv_pool_stats_locked(struct sgv_pool *pool, struct sgv_pool_stats *out)
{
	unsigned o;

	memset(out, 0, sizeof(*out));
	memcpy(out->name, pool->name, sizeof(out->name));
	out->clustering = (int)pool->clustering;
	out->single_alloc_pages = pool->single_alloc_pages;
	out->purge_interval = pool->purge_interval;
	out->nr_orders = pool->nr_orders;
	for (o = 0; o < pool->nr_orders; o++) {
		const struct sgv_order_stats *st = &pool->ost[o];

		out->order[o] = *st;
		out->total += st->total;
		out->hits += st->hits;
		out->fresh_pages += st->fresh_pages;
		out->merged += st->merged;
		out->cached_entries += st->cached_entries;
		out->cached_pages += st->cached_pages;
		out->inactive_entries += st->inactive_entries;
		out->inactive_pages += st->inactive_pages;
	}
	out->big_allocs = pool->big_allocs;
	out->nocache_allocs = pool->nocache_allocs;
	out->other_pages = pool->other_pages;
	out->other_merged = pool->other_merged;
	out->failed = pool->failed;
	out->purged_pages = pool->purged_pages;
	out->shrunk_pages = pool->shrunk_pages;
	out->flushed_pages = pool->flushed_pages;
}

void sgv_pool_stats(struct sgv_pool *pool, struct sgv_pool_stats *out)
{
	unsigned refcount;

	pthread_mutex_lock(&pool->ctx->lock);
	refcount = pool->refcount;
	pthread_mutex_unlock(&pool->ctx->lock);
	pthread_mutex_lock(&pool->lock);
	sgv_pool_stats_locked(pool, out);
	pthread_mutex_unlock(&pool->lock);
	out->refcount = refcount;
}

void sgv_ctx_stats(struct sgv_ctx *ctx, struct sgv_ctx_stats *out)
{
	struct sgv_list *it;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&ctx->lock);
	out->pools = ctx->nr_pools;
	for (it = ctx->pools.next; it != &ctx->pools; it = it->next) {
		struct sgv_pool *pool = sgv_container_of(it, struct sgv_pool, node);
		struct sgv_pool_stats ps;

		pthread_mutex_lock(&pool->lock);
		sgv_pool_stats_locked(pool, &ps);
		pthread_mutex_unlock(&pool->lock);
		out->inactive_pages += ps.inactive_pages;
		out->active_pages += ps.cached_pages - ps.inactive_pages + ps.other_pages;
	}
	pthread_mutex_unlock(&ctx->lock);
	out->hi_wmk = atomic_load(&ctx->hi_wmk);
	out->lo_wmk = atomic_load(&ctx->lo_wmk);
	out->hi_wmk_releases = atomic_load(&ctx->hi_wmk_releases);
	out->hi_wmk_failures = atomic_load(&ctx->hi_wmk_failures);
	out->other_allocs = atomic_load(&ctx->other_allocs);
	out->mem_lim_failures = atomic_load(&ctx->mem_lim_failures);
}

#define SGV_FAIL(...)                                                 \
	do {                                                          \
		fprintf(stderr, "sgv_check(%s): ", pool->name);       \
		fprintf(stderr, __VA_ARGS__);                         \
		fputc('\n', stderr);                                  \
		ret = -EUCLEAN;                                       \
		goto out;                                             \
	} while (0)

static int sgv_cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* Verify one idle vector; caller must hold pool->lock.  Appends its pages
 * to pgs[*npg]. */
static int sgv_check_obj(struct sgv_pool *pool, struct sgv_obj *obj, unsigned order,
			 void **pgs, size_t *npg, size_t maxpg)
{
	unsigned want = pool->single_alloc_pages ? pool->single_alloc_pages : 1u << order;
	unsigned e, pg = 0;
	int ret = 0;

	if (obj->pool != pool)
		SGV_FAIL("idle vector %p belongs to another pool", (void *)obj);
	if (!obj->idle)
		SGV_FAIL("vector %p on the idle list is not marked idle", (void *)obj);
	if (obj->order != (int)order)
		SGV_FAIL("vector %p of order %d on the list of order %u", (void *)obj, obj->order, order);
	if (obj->pages != want || obj->capacity != want)
		SGV_FAIL("vector %p holds %u pages (capacity %u), want %u",
			 (void *)obj, obj->pages, obj->capacity, want);
	if (obj->nents == 0 || obj->nents > obj->capacity)
		SGV_FAIL("vector %p has %u entries (capacity %u)", (void *)obj, obj->nents, obj->capacity);
	if (obj->ret_count != obj->nents)
		SGV_FAIL("idle vector %p is still trimmed (%u of %u entries)",
			 (void *)obj, obj->ret_count, obj->nents);
	if (!obj->first_pg)
		SGV_FAIL("cached vector %p has no entry table", (void *)obj);
	for (e = 0; e < obj->nents; e++) {
		const struct iovec *v = &obj->iov[e];
		size_t off;

		if (((uintptr_t)v->iov_base & (SGV_PAGE_SIZE - 1)) != 0)
			SGV_FAIL("vector %p entry %u base %p is not page aligned",
				 (void *)obj, e, v->iov_base);
		if (v->iov_len == 0 || (v->iov_len & (SGV_PAGE_SIZE - 1)) != 0)
			SGV_FAIL("vector %p entry %u length %zu is not whole pages",
				 (void *)obj, e, v->iov_len);
		if (obj->first_pg[e] != pg)
			SGV_FAIL("vector %p entry %u starts at page %u, table says %u",
				 (void *)obj, e, pg, obj->first_pg[e]);
		if (pool->clustering == SGV_CLUSTER_NONE && v->iov_len != SGV_PAGE_SIZE)
			SGV_FAIL("vector %p entry %u spans %zu bytes without clustering",
				 (void *)obj, e, v->iov_len);
		if (pool->clustering == SGV_CLUSTER_TAIL && e > 0 &&
		    (char *)obj->iov[e - 1].iov_base + obj->iov[e - 1].iov_len == (char *)v->iov_base)
			SGV_FAIL("vector %p entries %u and %u are adjacent but not merged",
				 (void *)obj, e - 1, e);
		pg += (unsigned)(v->iov_len >> SGV_PAGE_SHIFT);
		for (off = 0; off < v->iov_len; off += SGV_PAGE_SIZE) {
			if (*npg >= maxpg)
				SGV_FAIL("more idle pages than the counters say");
			pgs[(*npg)++] = (char *)v->iov_base + off;
		}
	}
	if (pg != obj->pages)
		SGV_FAIL("vector %p entries cover %u pages, want %u", (void *)obj, pg, obj->pages);
out:
	return ret;
}

int sgv_check(struct sgv_pool *pool)
{
	void **pgs = NULL;
	size_t npg = 0, maxpg = 0, i;
	uint64_t idle_total = 0;
	unsigned o;
	int ret = 0;

	if (!pool)
		return 0;
	pthread_mutex_lock(&pool->lock);
	for (o = 0; o < pool->nr_orders; o++)
		maxpg += pool->ost[o].inactive_pages;
	pgs = malloc((maxpg ? maxpg : 1) * sizeof(*pgs));
	if (!pgs)
		SGV_FAIL("out of memory for the check");
	for (o = pool->nr_orders; o < SGV_NR_ORDERS; o++)
		if (!sgv_list_empty(&pool->idle[o]) || pool->ost[o].cached_entries)
			SGV_FAIL("order %u used in fixed-size mode", o);
	for (o = 0; o < pool->nr_orders; o++) {
		const struct sgv_order_stats *st = &pool->ost[o];
		unsigned want = pool->single_alloc_pages ? pool->single_alloc_pages : 1u << o;
		uint64_t n = 0, pages = 0;
		struct sgv_list *it;

		for (it = pool->idle[o].next; it != &pool->idle[o]; it = it->next) {
			struct sgv_obj *obj = sgv_container_of(it, struct sgv_obj, lru);

			if (it->next->prev != it)
				SGV_FAIL("order %u idle list is broken", o);
			ret = sgv_check_obj(pool, obj, o, pgs, &npg, maxpg);
			if (ret)
				goto out;
			n++;
			pages += obj->pages;
		}
		if (n != st->inactive_entries || pages != st->inactive_pages)
			SGV_FAIL("order %u: %" PRIu64 " idle vectors of %" PRIu64 " pages on the list, "
				 "counters say %" PRIu64 " / %" PRIu64,
				 o, n, pages, st->inactive_entries, st->inactive_pages);
		if (st->inactive_entries > st->cached_entries)
			SGV_FAIL("order %u: more idle vectors than cached ones", o);
		if (st->cached_pages != st->cached_entries * want ||
		    st->inactive_pages != st->inactive_entries * want)
			SGV_FAIL("order %u: page counters are not %u pages per vector", o, want);
		if (st->hits > st->total)
			SGV_FAIL("order %u: more hits than allocations", o);
		if (st->merged > st->fresh_pages)
			SGV_FAIL("order %u: more entries merged than pages allocated", o);
		idle_total += n;
	}
	{
		struct sgv_list *it;
		uint64_t n = 0;
		double prev = -1e300;

		for (it = pool->sorted.next; it != &pool->sorted; it = it->next) {
			struct sgv_obj *obj = sgv_container_of(it, struct sgv_obj, sorted);

			if (it->next->prev != it)
				SGV_FAIL("time-sorted list is broken");
			if (!obj->idle || obj->pool != pool)
				SGV_FAIL("vector %p on the time-sorted list is not idle here", (void *)obj);
			if (obj->stamp < prev)
				SGV_FAIL("time-sorted list out of order (%f after %f)", obj->stamp, prev);
			if (obj->stamp > pool->last_stamp)
				SGV_FAIL("stamp %f newer than the newest %f", obj->stamp, pool->last_stamp);
			prev = obj->stamp;
			n++;
		}
		if (n != idle_total)
			SGV_FAIL("%" PRIu64 " vectors on the time-sorted list, %" PRIu64 " on the idle lists",
				 n, idle_total);
	}
	if (npg != maxpg)
		SGV_FAIL("idle vectors hold %zu pages, counters say %zu", npg, maxpg);
	qsort(pgs, npg, sizeof(*pgs), sgv_cmp_ptr);
	for (i = 1; i < npg; i++)
		if (pgs[i] == pgs[i - 1])
			SGV_FAIL("page %p is in two idle vectors (or twice in one)", pgs[i]);
	if (pool->other_objs == 0 && pool->other_pages != 0)
		SGV_FAIL("%" PRIu64 " other pages without other vectors", pool->other_pages);
out:
	pthread_mutex_unlock(&pool->lock);
	free(pgs);
	return ret;
}

#undef SGV_FAIL

int sgv_ctx_check(struct sgv_ctx *ctx)
{
	struct sgv_list *it;
	uint64_t pages = 0, n = 0, total;
	int ret;

	if (!ctx)
		return 0;
	pthread_mutex_lock(&ctx->lock);
	for (it = ctx->pools.next; it != &ctx->pools; it = it->next) {
		struct sgv_pool *pool = sgv_container_of(it, struct sgv_pool, node);

		if (it->next->prev != it) {
			fprintf(stderr, "sgv_ctx_check: pool list is broken\n");
			ret = -EUCLEAN;
			goto out;
		}
		if (pool->refcount == 0 || pool->ctx != ctx) {
			fprintf(stderr, "sgv_ctx_check: pool %s: refcount %u, ctx %p\n",
				pool->name, pool->refcount, (void *)pool->ctx);
			ret = -EUCLEAN;
			goto out;
		}
		ret = sgv_check(pool);
		if (ret)
			goto out;
		pthread_mutex_lock(&pool->lock);
		for (unsigned o = 0; o < pool->nr_orders; o++)
			pages += pool->ost[o].cached_pages;
		pages += pool->other_pages;
		pthread_mutex_unlock(&pool->lock);
		n++;
	}
	ret = 0;
	if (n != ctx->nr_pools) {
		fprintf(stderr, "sgv_ctx_check: %" PRIu64 " pools listed, counter says %" PRIu64 "\n",
			n, ctx->nr_pools);
		ret = -EUCLEAN;
		goto out;
	}
	total = atomic_load(&ctx->total_pages);
	if (total != pages) {
		fprintf(stderr, "sgv_ctx_check: the pools hold %" PRIu64 " pages, total_pages says %" PRIu64 "\n",
			pages, total);
		ret = -EUCLEAN;
	}
out:
	pthread_mutex_unlock(&ctx->lock);
	return ret;
}
