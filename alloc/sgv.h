/* sgv.h - the SGV cache: cached scatter-gather vectors of pages.
 *
 * Design (after SCST's sgv_pool).  A pool hands out vectors of pages, each
 * described by an array of struct iovec, and keeps freed vectors cached so
 * that the next request of the same size reuses them instead of allocating
 * and freeing pages again.
 *
 *   set-of-buffers mode (single_alloc_pages == 0): a request of N bytes
 *     needs P = ceil(N / 4096) pages and is served from the cache of order
 *     k = ceil(log2(P)), whose vectors hold 2^k pages (k = 0..SGV_MAX_ORDER,
 *     4 KiB .. 4 MiB).  The vector is trimmed to exactly N bytes: the entries
 *     after the one holding byte N-1 are hidden (the returned count is
 *     smaller) and that entry is shortened to the exact tail.  An 11 KiB
 *     request takes a 4-page vector and sees 3 entries of 4 + 4 + 3 KiB
 *     (without clustering).  sgv_pool_free restores the full vector before
 *     caching it again.
 *   fixed-size mode (single_alloc_pages > 0): one cache; every vector holds
 *     exactly single_alloc_pages pages, trimmed to the request as above.
 *   Requests larger than the largest cached vector (2^SGV_MAX_ORDER pages,
 *   or single_alloc_pages pages) and requests with SGV_NO_CACHED are
 *   allocated exactly (P pages) and freed on sgv_pool_free, never cached
 *   ("other" allocations in the statistics).
 *
 * Memory layout: one object per vector (struct sgv_obj): a header, then its
 * iovec array (room for one entry per page), then, for cached vectors, a
 * uint16_t array giving the first page index of each entry (so trimming is
 * a binary search).  Objects come from malloc, not alloc/slab: their size
 * depends on the order (up to ~18 KiB at order 10), and they are made only
 * on a cache miss, so they are off the hot path.
 * Pages come one per call from the pool's page allocator (default: the
 * context's buddy allocator, buddy_alloc(4096)); clustering merges a new page
 * into an existing entry when they are adjacent in memory:
 *   SGV_CLUSTER_NONE  every entry is one page;
 *   SGV_CLUSTER_TAIL  a page that starts where the last entry ends extends it;
 *   SGV_CLUSTER_FULL  a page extends any earlier entry whose end it continues,
 *                     or is prepended to one it immediately precedes (as
 *                     SCST's full clustering does), most recent entries first
 *                     (in an uncached vector of more than 1024 entries, only
 *                     the newest 1024 are searched).
 * Fewer entries means shorter I/O vectors for the FUSE layer; the statistics
 * count the entries saved ("merged").
 *
 * Idle cached vectors sit on their order's LIFO list (reuse the hottest) and
 * on the pool's list sorted by the time they were freed (purge the coldest).
 * A vector idle for at least purge_interval seconds is freed by the next
 * sgv_pool_purge / sgv_ctx_purge; the daemon calls that every interval, so a
 * vector is freed after being idle between one and two intervals.  Times come
 * from the context's clock (replaceable so tests run a fake clock).
 *
 * Limits: a struct sgv_mem_lim, shared by any number of pools and callers,
 * caps the pages a user holds in allocated vectors; and the context's high
 * watermark caps every page the SGV cache holds (in use + cached): over it,
 * idle vectors are released down to the low watermark and, if that is not
 * enough, the allocation fails.
 *
 * Threads: every function is thread safe unless it says otherwise.  Locks,
 * in the order they nest:
 *     ctx->lock (the registry: the pool list)  ->  pool->lock
 * pool->lock protects the pool's lists and counters and is a leaf: nothing
 * else is taken under it, and the page allocator (buddy->lock, or a custom
 * allocator) is never called with it held.  Purge, shrink, flush and the
 * high-watermark release call the page allocator with ctx->lock held (order
 * ctx->lock -> buddy->lock).  The global page counters are atomics.
 *
 * Errors: pointer-returning functions return NULL with errno set, the others
 * 0 or a positive value on success and a negative errno on failure.  Nothing
 * changes on failure.
 */
#ifndef ZC_ALLOC_SGV_H
#define ZC_ALLOC_SGV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct buddy;
struct sgv_ctx;
struct sgv_pool;
struct sgv_obj;

#define SGV_PAGE_SHIFT 12
#define SGV_PAGE_SIZE ((size_t)1 << SGV_PAGE_SHIFT)
#define SGV_MAX_ORDER 10			/* largest cached vector: 1024 pages, 4 MiB */
#define SGV_NR_ORDERS (SGV_MAX_ORDER + 1)
#define SGV_MAX_CACHED_PAGES (1u << SGV_MAX_ORDER)
#define SGV_NAME_MAX 32
#define SGV_DEFAULT_PURGE_INTERVAL 60		/* seconds */
#define SGV_MIN_SHRINK_INTERVAL 1.0		/* seconds idle before the shrinker may free */

enum sgv_clustering {
	SGV_CLUSTER_NONE = 0,
	SGV_CLUSTER_TAIL = 1,
	SGV_CLUSTER_FULL = 2,
};

/* Allocation flags (sgv_pool_alloc). */
enum {
	/* Allocate fresh pages and free them on sgv_pool_free, bypassing the
	 * cache both ways; counted as an "other" allocation. */
	SGV_NO_CACHED = 1u << 0,
	/* Serve the request only from a cached idle vector: on a cache miss
	 * (no idle vector of the order, or a request that is never cached)
	 * fail with errno EAGAIN instead of allocating pages. */
	SGV_NO_ALLOC_ON_CACHE_MISS = 1u << 1,
	/* When the request fails for want of pages (a cache miss under
	 * SGV_NO_ALLOC_ON_CACHE_MISS, the mem_lim cap, the high watermark, or
	 * the page allocator returning NULL), still return NULL and set errno,
	 * but set *objp to an empty object: it holds no pages, its count is
	 * 0, and its iovec array (sgv_obj_iov, sgv_obj_capacity) has room for
	 * at least one entry per page of the request, zeroed.  The caller may
	 * fill that array with buffers of its own (as SCST's user-space
	 * handler does); they stay the caller's.  The object must be given
	 * back with sgv_pool_free, which frees only the object and never
	 * caches it.  If even the object cannot be had (malloc fails), *objp
	 * is NULL as without the flag. */
	SGV_RETURN_OBJ_ON_ALLOC_FAIL = 1u << 2,
};

/* A cap on pages in allocated vectors, shared by whoever passes it.
 * Initialise with SGV_MEM_LIM_INIT(max) or sgv_mem_lim_init(); max_pages 0
 * means no cap (used is still counted).  A vector is charged its full page
 * count (2^order for a cached vector, P for an other allocation) while it
 * is allocated, and uncharged by sgv_pool_free. */
struct sgv_mem_lim {
	uint64_t max_pages;		/* set before use, then read only */
	_Atomic uint64_t used;		/* pages charged now */
};
#define SGV_MEM_LIM_INIT(max) { .max_pages = (max), .used = 0 }
static inline void sgv_mem_lim_init(struct sgv_mem_lim *lim, uint64_t max_pages)
{
	lim->max_pages = max_pages;
	atomic_init(&lim->used, 0);
}

/* Page allocator of a pool.  alloc_page returns one 4 KiB page aligned to
 * 4 KiB (contents unspecified) or NULL when none can be had; free_page takes
 * it back.  Both may be called concurrently from any thread, never under a
 * pool lock. */
typedef void *(*sgv_alloc_page_fn)(void *priv);
typedef void (*sgv_free_page_fn)(void *page, void *priv);

/* The clock used to stamp freed vectors: monotonic seconds. */
typedef double (*sgv_clock_fn)(void *priv);

/* The figures are declared once, X(name, comment), and expand to the
 * structs below and to their printers (fuse/render.c: /.zcache/alloc/sgv
 * and stats.json).  Counters "ever" only grow. */

/* One order's (cache's) figures; a pool's sums over its orders are the
 * same fields. */
#define SGV_ORDER_STATS_FIELDS(X)					\
	X(total, "cached-path allocations, ever")			\
	X(hits, "of those, served by an idle cached vector")		\
	X(fresh_pages, "pages allocated for new vectors, ever")		\
	X(merged, "entries saved by clustering in those, ever:"		\
		  " merged % = 100 * merged / fresh_pages")		\
	X(cached_entries, "vectors owned by the cache now (in use + idle)") \
	X(cached_pages, "their pages")					\
	X(inactive_entries, "idle vectors now")				\
	X(inactive_pages, "their pages")

/* A pool's figures: the sums over its orders, then its other (uncached)
 * allocations and what purge, shrink and flush freed. */
#define SGV_POOL_STATS_FIELDS(X)					\
	SGV_ORDER_STATS_FIELDS(X)					\
	X(big_allocs, "too large to cache, ever")			\
	X(nocache_allocs, "SGV_NO_CACHED, ever")			\
	X(other_pages, "pages of other allocations in use now")		\
	X(other_merged, "entries saved by clustering in them, ever")	\
	X(failed, "sgv_pool_alloc calls that failed with EAGAIN or ENOMEM," \
		  " ever (EINVAL is not counted)")			\
	X(purged_pages, "freed by purge, ever")				\
	X(shrunk_pages, "freed by shrink and the high watermark, ever")	\
	X(flushed_pages, "freed by flush, ever")

/* The context's figures.  active_pages and inactive_pages are summed over
 * the pools, each read under its lock (so the sum may mix moments while
 * other threads allocate); the other counters are atomics. */
#define SGV_CTX_STATS_FIELDS(X)						\
	X(pools, "pools registered now")				\
	X(active_pages, "pages in allocated vectors (cached + other)")	\
	X(inactive_pages, "pages of idle cached vectors")		\
	X(hi_wmk, "high watermark, pages (0: none)")			\
	X(lo_wmk, "low watermark, pages")				\
	X(hi_wmk_releases, "times the high watermark released idle vectors") \
	X(hi_wmk_failures, "allocations refused by the high watermark")	\
	X(other_allocs, "uncached allocations (big + no-cached), ever")	\
	X(mem_lim_failures, "allocations refused by a struct sgv_mem_lim")

#define SGV_STATS_DECLARE(name, comment) uint64_t name;
struct sgv_order_stats {
	SGV_ORDER_STATS_FIELDS(SGV_STATS_DECLARE)
};

struct sgv_pool_stats {
	char name[SGV_NAME_MAX];
	int clustering;			/* enum sgv_clustering */
	unsigned single_alloc_pages;	/* 0: set-of-buffers mode */
	int purge_interval;		/* seconds; negative: purging disabled */
	unsigned refcount;
	unsigned nr_orders;		/* valid entries of order[] (1 in fixed-size mode) */
	struct sgv_order_stats order[SGV_NR_ORDERS];
	SGV_POOL_STATS_FIELDS(SGV_STATS_DECLARE)
};

struct sgv_ctx_stats {
	SGV_CTX_STATS_FIELDS(SGV_STATS_DECLARE)
};
#undef SGV_STATS_DECLARE

/* ---- the context (registry) ---------------------------------------------- */

/* Create a context whose pools take pages from `pages` (one buddy_alloc of
 * 4096 bytes per page) unless given another allocator; `pages` must outlive
 * the context.  No watermark; the clock is CLOCK_MONOTONIC_COARSE (pass
 * sgv_ctx_now() to purge and shrink, or any time on the same clock).
 * Returns NULL with errno EINVAL when pages is NULL, ENOMEM when out of
 * memory. */
struct sgv_ctx *sgv_ctx_create(struct buddy *pages);

/* Destroy every pool still registered (whatever their reference counts;
 * vectors still allocated from them must not be used or freed afterwards)
 * and the context.  sgv_ctx_destroy(NULL) does nothing.  No other call on
 * the context may run concurrently or afterwards. */
void sgv_ctx_destroy(struct sgv_ctx *ctx);

/* Replace the clock that stamps freed vectors (NULL: back to the default,
 * CLOCK_MONOTONIC_COARSE).  Call before any vector is freed; not thread safe
 * against allocations. */
void sgv_ctx_set_clock(struct sgv_ctx *ctx, sgv_clock_fn clock, void *priv);

/* The current time on the context's clock, seconds. */
double sgv_ctx_now(struct sgv_ctx *ctx);

/* Set the watermarks, in pages, over every pool of the context.  When an
 * allocation needing fresh pages would take the pages the cache holds
 * (active + inactive) over hi, idle vectors of pools whose purge is enabled
 * are released, oldest first per pool, until the total is at most lo (or as
 * low as they allow); if the allocation still does not fit it fails
 * (ENOMEM).  hi 0 disables the check.  Returns -EINVAL when lo > hi != 0. */
int sgv_ctx_set_watermarks(struct sgv_ctx *ctx, uint64_t hi, uint64_t lo);

/* Purge every pool (sgv_pool_purge).  Returns the pages freed.  Takes
 * ctx->lock, then each pool's lock in turn. */
uint64_t sgv_ctx_purge(struct sgv_ctx *ctx, double now);

/* The shrinker across pools: sgv_pool_shrink on each pool in turn (in
 * creation order) until at least nr_pages pages are freed or every pool
 * was asked.  Returns the pages freed. */
uint64_t sgv_ctx_shrink(struct sgv_ctx *ctx, uint64_t nr_pages, double now);

/* Flush every pool (sgv_pool_flush).  Returns the pages freed. */
uint64_t sgv_ctx_flush(struct sgv_ctx *ctx);

/* Fill *out with the context's figures. */
void sgv_ctx_stats(struct sgv_ctx *ctx, struct sgv_ctx_stats *out);

/* sgv_check() every pool, then verify the global counters against the sums
 * over the pools.  The sums are only exact while no other thread allocates
 * or frees: call it when the context is quiet.  Returns 0 or -EUCLEAN after
 * printing the first violation to stderr. */
int sgv_ctx_check(struct sgv_ctx *ctx);

/* ---- pools ----------------------------------------------------------------- */

/* Create a pool named `name` (1..SGV_NAME_MAX-1 characters; copied).
 *   clustering          enum sgv_clustering;
 *   single_alloc_pages  0: set-of-buffers mode; 1..SGV_MAX_CACHED_PAGES:
 *                       fixed-size mode with vectors of that many pages;
 *   shared              a shared pool is found by name: creating a shared
 *                       pool whose name exists as a shared pool with the same
 *                       parameters returns that pool with its reference count
 *                       raised; every create must be matched by one
 *                       sgv_pool_destroy;
 *   purge_interval      seconds; 0: SGV_DEFAULT_PURGE_INTERVAL; negative:
 *                       idle vectors are never purged nor shrunk (only
 *                       flush frees them).
 * Returns NULL with errno EINVAL (bad name, clustering or
 * single_alloc_pages), EEXIST (the name is taken by a pool that is not
 * shared, or by a shared pool with other parameters, or a non-shared pool is
 * asked for a taken name), ENOMEM. */
struct sgv_pool *sgv_pool_create(struct sgv_ctx *ctx, const char *name,
				 enum sgv_clustering clustering,
				 unsigned single_alloc_pages, bool shared,
				 int purge_interval);

/* Drop one reference; the last one flushes the pool, unregisters it and
 * frees it.  Every vector allocated from the pool must have been freed
 * before the last reference goes (debug builds abort otherwise).
 * sgv_pool_destroy(NULL) does nothing.  Takes ctx->lock then pool->lock. */
void sgv_pool_destroy(struct sgv_pool *pool);

/* Find a registered pool by name without taking a reference (NULL with
 * errno ENOENT if none).  The pointer is valid as long as the caller
 * otherwise knows the pool is alive. */
struct sgv_pool *sgv_pool_find(struct sgv_ctx *ctx, const char *name);

/* Replace the pool's page allocator (both functions NULL: back to the
 * context's buddy allocator).  Returns -EINVAL if only one function is
 * given, -EBUSY if the pool holds any vector (cached or allocated), since
 * pages must go back to the allocator they came from.  A shared pool's
 * allocator applies to every user of it. */
int sgv_pool_set_allocator(struct sgv_pool *pool, sgv_alloc_page_fn alloc_page,
			   sgv_free_page_fn free_page, void *priv);

/* Allocate a vector covering exactly `size` bytes.
 *   flags    SGV_NO_CACHED | SGV_NO_ALLOC_ON_CACHE_MISS |
 *            SGV_RETURN_OBJ_ON_ALLOC_FAIL (see the flags above);
 *   mem_lim  the cap to charge (may be NULL: no cap);
 *   count    receives the number of iovec entries (> 0);
 *   objp     receives the handle to give to sgv_pool_free.
 * Returns the iovec array (owned by the object: valid until sgv_pool_free;
 * the caller may read and write the buffers, and must not change the array).
 * Each entry's base is page aligned; every entry but the last is a whole
 * number of pages.  The contents of the buffers are unspecified (a reused
 * vector keeps its old data).
 * On failure returns NULL, sets *count to 0 and *objp to NULL (except as
 * SGV_RETURN_OBJ_ON_ALLOC_FAIL says), leaves the pool, the counters and
 * mem_lim as they were (except the failure counters, and except that a
 * high-watermark release may have freed idle vectors before the failure),
 * gives back any page it took, and sets errno:
 *   EINVAL  size 0, unknown flags, NULL count or objp;
 *   EAGAIN  a cache miss under SGV_NO_ALLOC_ON_CACHE_MISS;
 *   ENOMEM  over mem_lim, over the high watermark, or out of memory. */
struct iovec *sgv_pool_alloc(struct sgv_pool *pool, size_t size, unsigned flags,
			     struct sgv_mem_lim *mem_lim, int *count,
			     struct sgv_obj **objp);

/* Give a vector back: a cached vector is restored to its full length and
 * kept idle, stamped with the context's clock; an other allocation (and an
 * empty object) is freed.  mem_lim must be the one given to sgv_pool_alloc
 * (debug builds check, and abort on a cached vector freed twice).
 * sgv_pool_free(NULL, ...) does nothing. */
void sgv_pool_free(struct sgv_obj *obj, struct sgv_mem_lim *mem_lim);

/* The object's iovec array and its entry count as returned by
 * sgv_pool_alloc (0 for an empty object).  Not locked: the object belongs
 * to the caller. */
struct iovec *sgv_obj_iov(struct sgv_obj *obj, int *count);

/* Pages the object holds (2^order, single_alloc_pages, P, or 0 for an empty
 * object) and the capacity of its iovec array. */
unsigned sgv_obj_pages(const struct sgv_obj *obj);
unsigned sgv_obj_capacity(const struct sgv_obj *obj);

/* Free every idle vector that has been idle for at least the pool's purge
 * interval at time `now` (the context's clock).  Does nothing when the
 * interval is negative.  Returns the pages freed. */
uint64_t sgv_pool_purge(struct sgv_pool *pool, double now);

/* The shrinker: free idle vectors, oldest first, that have been idle at
 * least SGV_MIN_SHRINK_INTERVAL at `now`, until nr_pages pages or more are
 * freed (whole vectors, so it may free less than one vector more than
 * asked) or none is left.  Does nothing when the purge interval is
 * negative.  Returns the pages freed. */
uint64_t sgv_pool_shrink(struct sgv_pool *pool, uint64_t nr_pages, double now);

/* Free every idle vector now, whatever the purge interval (allocated
 * vectors are untouched and will be cached when freed).  Returns the pages
 * freed; a second flush returns 0. */
uint64_t sgv_pool_flush(struct sgv_pool *pool);

/* Fill *out with the pool's figures (the reference count read under
 * ctx->lock, the rest under pool->lock). */
void sgv_pool_stats(struct sgv_pool *pool, struct sgv_pool_stats *out);

/* Verify the pool under its lock: the per-order idle lists hold the vectors
 * and pages their counters say, the time-sorted list holds exactly the idle
 * vectors in nondecreasing time order, each idle vector is whole (restored,
 * 2^order or single_alloc_pages pages, entries page aligned and a whole
 * number of pages, its entry index table consistent), its clustering is what
 * the mode produces (one page per entry without clustering; with tail
 * clustering no entry starts where the previous one ends), no page appears
 * twice among idle vectors, and the counters add up.  Returns 0 or -EUCLEAN
 * after printing the first violation to stderr. */
int sgv_check(struct sgv_pool *pool);

#endif /* ZC_ALLOC_SGV_H */
