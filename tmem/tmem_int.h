/* tmem_int.h - the store's private header: its structures, its lock and the
 * helpers its files share.  Only the files of tmem/ include it; the
 * contract is tmem.h.
 *
 * Design note.  The contract, the memory layout and the lock order are in
 * tmem.h; this header covers what only the implementation needs.
 *
 * The module is one concept per file:
 *   tmem.c    the page operations: put, get, flush (page, range, object),
 *             next index, page count;
 *   pool.c    the store and its pools: hash tables and their resize, the
 *             objects in the buckets, the lock's slow path;
 *   rbtree.c  the red-black tree of objects in a bucket;
 *   radix.c   the radix tree of pages in an object (objnodes);
 *   evict.c   the LRU of ephemeral pools, pins and eviction;
 *   densify.c repacking a group of an object's pages (tmem_densify);
 *   writeback.c moving pages to a second tier in batches, promotion,
 *             coldness stamps;
 *   stats.c   the counters summed for tmem_stats, and tmem_check;
 *   host.c    the hostops: malloc, and slab caches on a buddy allocator.
 * Functions one file gives another carry a leading underscore (`_tmem_`,
 * STYLE.md); the short hot lookups (tree find, radix slot) are inline here
 * so the put and get paths call nothing they did not call before the split.
 *
 * Bucket locks are 4-byte futex mutexes (Drepper's "mutex3": 0 free, 1
 * locked, 2 locked with waiters) so a bucket is 16 bytes: the lock, the
 * object count and the tree root.  Uncontended, lock and unlock are one
 * atomic instruction each; a contended lock spins briefly, then sleeps.
 *
 * Counters that change on every put/get live in 16 cache-line-aligned
 * stripes per pool, picked by the object id's hash, and are updated with
 * relaxed atomics: two threads working on different objects rarely touch
 * the same line, so the counters cost no scaling.
 */
#ifndef ZC_TMEM_TMEM_INT_H
#define ZC_TMEM_TMEM_INT_H

#include "tmem/tmem.h"

#include <assert.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TMEM_FAN_SHIFT 4
#define TMEM_FAN (1u << TMEM_FAN_SHIFT)		/* slots per objnode */
#define TMEM_MAX_HEIGHT 8			/* 8 * 4 bits = 32-bit index */
#define TMEM_INIT_BUCKETS 256u			/* a 4 KiB bucket array */
#define TMEM_MAX_BUCKETS (1u << 26)
#define TMEM_LOAD_FACTOR 2u			/* objects per bucket before doubling */
#define TMEM_STRIPES 16u
#define TMEM_RANGE_BATCH 64u

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- the lock ------------------------------------------------------- */

struct tmem_lock {
	_Atomic uint32_t v;	/* 0 free, 1 locked, 2 locked and maybe waiters */
};

/* The contended path: spin a little, then sleep on the futex (pool.c). */
void _tmem_lock_slow(struct tmem_lock *l);

static inline void tmem_lock(struct tmem_lock *l)
{
	uint32_t c = 0;
	if (likely(atomic_compare_exchange_strong_explicit(&l->v, &c, 1, memory_order_acquire,
							   memory_order_relaxed)))
		return;
	_tmem_lock_slow(l);
}

static inline bool tmem_trylock(struct tmem_lock *l)
{
	uint32_t c = 0;
	return atomic_compare_exchange_strong_explicit(&l->v, &c, 1, memory_order_acquire,
						       memory_order_relaxed);
}

static inline void tmem_unlock(struct tmem_lock *l)
{
	if (unlikely(atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2))
		syscall(SYS_futex, (void *)&l->v, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- structures ----------------------------------------------------- */

struct tmem_obj {
	struct tmem_oid oid;			/* key; constant while linked */
	struct tmem_obj *left, *right;		/* protected by the bucket lock */
	uintptr_t parent_color;			/* protected by the bucket lock */
	struct tmem_obj *lru_prev, *lru_next;	/* protected by pool->lru_lock */
	uint64_t lru_stamp;			/* ephemeral pools: protected by
						   pool->lru_lock; persistent ones:
						   by the bucket lock, the epoch of
						   the last get or put (_tmem_stamp) */
	uint64_t root;				/* protected by the bucket lock:
						   pampd (height 0) or objnode */
	uint64_t pages;				/* protected by the bucket lock */
	uint64_t gen;				/* protected by the bucket lock: grows
						   with every change of a page (see
						   densify.c); starts at a store-wide
						   serial << 32 */
	uint32_t pins;				/* protected by the bucket lock */
	uint8_t height;				/* protected by the bucket lock */
	uint8_t on_lru;				/* written with the bucket lock and
						   lru_lock held; read under either */
};
static_assert(sizeof(struct tmem_obj) == TMEM_OBJ_SIZE, "TMEM_OBJ_SIZE is the object size");

struct tmem_objnode {
	uint32_t count;				/* non-zero slots */
	uint32_t unused;
	uint64_t slots[TMEM_FAN];		/* child objnode or, at level 1, pampd */
};
static_assert(sizeof(struct tmem_objnode) == TMEM_OBJNODE_SIZE,
	      "TMEM_OBJNODE_SIZE is the objnode size");

struct tmem_bucket {
	struct tmem_lock lock;
	uint32_t nobjs;				/* protected by lock */
	struct tmem_obj *root;			/* protected by lock */
};
static_assert(sizeof(struct tmem_bucket) == 16, "a bucket is 16 bytes");

/* A table header (malloc) and its bucket array (hostops.mem_alloc: a power
 * of two of bytes, 4 KiB and up, so a page allocator wastes nothing). */
struct tmem_table {
	uint32_t nbuckets;			/* a power of two */
	uint32_t mask;
	_Atomic int moved;			/* set with every bucket locked */
	struct tmem_table *older;		/* retired tables, freed with the pool */
	size_t bytes;				/* of the bucket array */
	struct tmem_bucket *b;
};

/* Striped hot counters: relaxed atomics, summed by the stats readers. */
struct tmem_stripe {
	alignas(64) _Atomic uint64_t puts;
	_Atomic uint64_t replaces;
	_Atomic uint64_t failed_puts;
	_Atomic uint64_t gets;
	_Atomic uint64_t failed_gets;
	_Atomic uint64_t flushes;
	_Atomic uint64_t pages;			/* deltas, may wrap per stripe */
	_Atomic uint64_t pampd_bytes;		/* deltas, may wrap per stripe */
	_Atomic uint64_t objnodes;		/* deltas, may wrap per stripe */
	_Atomic uint64_t pinned;		/* deltas, may wrap per stripe */
};

struct tmem_pool {
	struct tmem_store *store;
	uint32_t id;
	_Atomic unsigned kind;			/* changed with every bucket locked */
	_Atomic unsigned codec;
	_Atomic(struct tmem_table *) table;	/* replaced under resize_lock */
	_Atomic uint64_t nobjects;		/* changed under a bucket lock */
	_Atomic uint64_t table_bytes;		/* every table, retired ones too */
	_Atomic uint64_t flush_objects;
	_Atomic uint64_t evictions;
	_Atomic uint64_t evicted_pages;
	_Atomic uint64_t resizes;
	_Atomic uint64_t repacks;		/* tmem_densify's counters */
	_Atomic uint64_t repacked_pages;
	_Atomic uint64_t repack_conflicts;
	uint32_t refs;				/* protected by store->pool_lock */
	struct tmem_lock resize_lock;		/* before bucket locks; a futex lock
						   like them, since tmem_check holds
						   every pool's at once */
	struct tmem_lock lru_lock;		/* after bucket locks */
	struct tmem_obj *lru_head;		/* protected by lru_lock: least recent */
	struct tmem_obj *lru_tail;		/* protected by lru_lock: most recent */
	struct tmem_stripe stripes[TMEM_STRIPES];
};

struct tmem_store {
	const struct tmem_pamops *pam;
	void *pam_ctx;
	const struct tmem_hostops *host;
	void *host_ctx;
	pthread_mutex_t pool_lock;		/* first in the lock order */
	pthread_cond_t pool_cond;		/* signalled when a pool ref drops */
	_Atomic uint64_t lru_clock;		/* stamps for global LRU order */
	_Atomic uint64_t obj_serial;		/* objects created, ever (their gen) */
	_Atomic uint64_t epoch;			/* tmem_tick's clock: persistent
						   objects' stamps */
	_Atomic(struct tmem_pool *) pools[TMEM_MAX_POOLS];	/* written under pool_lock */
};

/* What a walk over freed pages found. */
struct tmem_freed {
	uint64_t pages;
	uint64_t bytes;		/* pampd bytes */
	uint64_t nodes;
};

/* ---- helpers -------------------------------------------------------- */

static inline uint64_t tmem_rotl(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

/* A strong, cheap mix of the three words (each multiplied by a distinct odd
 * constant, rotated apart, then finalised as in murmur3's fmix64). */
static inline uint64_t tmem_hash(const struct tmem_oid *o)
{
	uint64_t h = o->oid[0] * 0x9e3779b97f4a7c15ull;
	h ^= tmem_rotl(o->oid[1] * 0xc2b2ae3d27d4eb4full, 21);
	h ^= tmem_rotl(o->oid[2] * 0x165667b19e3779f9ull, 42);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static inline int tmem_oid_cmp(const struct tmem_oid *a, const struct tmem_oid *b)
{
	for (int i = 0; i < 3; i++)
		if (a->oid[i] != b->oid[i])
			return a->oid[i] < b->oid[i] ? -1 : 1;
	return 0;
}

static inline struct tmem_pool *tmem_pool_of(struct tmem_store *s, int id)
{
	if ((unsigned)id >= TMEM_MAX_POOLS)
		return NULL;
	return atomic_load_explicit(&s->pools[id], memory_order_acquire);
}

/* The stripe takes the hash's top bits, the bucket its low bits, so two
 * threads in different buckets do not share a stripe more than chance. */
static inline struct tmem_stripe *tmem_stripe(struct tmem_pool *p, uint64_t h)
{
	return &p->stripes[h >> 60];
}
static_assert(TMEM_STRIPES == 16, "tmem_stripe takes 4 bits of the hash");

#define TMEM_ADD(field, v) atomic_fetch_add_explicit(&(field), (uint64_t)(v), memory_order_relaxed)
#define TMEM_READ(field) atomic_load_explicit(&(field), memory_order_relaxed)

/* Lock the bucket `h` falls in, retrying if a resize moved the table. */
static inline struct tmem_bucket *tmem_lock_bucket(struct tmem_pool *p, uint64_t h)
{
	for (;;) {
		struct tmem_table *t = atomic_load_explicit(&p->table, memory_order_acquire);
		struct tmem_bucket *b = &t->b[h & t->mask];
		tmem_lock(&b->lock);
		if (likely(!atomic_load_explicit(&t->moved, memory_order_relaxed)))
			return b;
		tmem_unlock(&b->lock);
	}
}

/* A page of o changed (put, flush, repack): a repack that read the pages
 * before must not replace them.  Caller holds o's bucket lock. */
static inline void tmem_obj_changed(struct tmem_obj *o)
{
	o->gen++;
}

static inline bool tmem_ephemeral(struct tmem_pool *p)
{
	return atomic_load_explicit(&p->kind, memory_order_relaxed) == TMEM_POOL_EPHEMERAL;
}

/* Stamp o with the time of its last get or put (persistent pools: the
 * writeback's coldness, tmem_object_stamp): the store's epoch, which the
 * owner advances (tmem_tick).  One relaxed load of a line nobody writes
 * often, so gets and puts stay as cheap as before.  Caller holds o's
 * bucket lock. */
static inline void _tmem_stamp(struct tmem_store *s, struct tmem_obj *o)
{
	o->lru_stamp = atomic_load_explicit(&s->epoch, memory_order_relaxed);
}

/* ---- red-black tree of objects (rbtree.c) --------------------------- */

/* The parent pointer and the colour share one word: objects are 8-aligned,
 * bit 0 is "red". */
static inline struct tmem_obj *_tmem_rb_parent(const struct tmem_obj *o)
{
	return (struct tmem_obj *)(o->parent_color & ~(uintptr_t)1);
}

static inline bool _tmem_rb_is_red(const struct tmem_obj *o)
{
	return o && (o->parent_color & 1);
}

/* The object with id `oid` in the tree under n, or NULL.  Caller holds the
 * bucket lock. */
static inline struct tmem_obj *_tmem_rb_find(struct tmem_obj *n, const struct tmem_oid *oid)
{
	while (n) {
		int c = tmem_oid_cmp(oid, &n->oid);
		if (c == 0)
			return n;
		n = c < 0 ? n->left : n->right;
	}
	return NULL;
}

/* Link `z` (key not present) into the tree and rebalance. */
void _tmem_rb_insert(struct tmem_obj **root, struct tmem_obj *z);
/* Unlink `z` from the tree and rebalance. */
void _tmem_rb_erase(struct tmem_obj **root, struct tmem_obj *z);

/* Debug builds verify the shape of a bucket's tree after every change
 * (abort on a broken tree); release builds compile it out. */
#if ZC_DEBUG
void _tmem_rb_debug_check(struct tmem_obj *root);
#else
static inline void _tmem_rb_debug_check(struct tmem_obj *root)
{
	(void)root;
}
#endif

/* ---- radix tree of pages (radix.c) ---------------------------------- */

/* The height an object needs to hold `index`: 0 for index 0, else one
 * level per 4 bits. */
static inline unsigned _tmem_radix_height_for(uint32_t index)
{
	if (index == 0)
		return 0;
	return (32 - (unsigned)__builtin_clz(index) + TMEM_FAN_SHIFT - 1) / TMEM_FAN_SHIFT;
}

/* The slot number of `index` in an objnode at `level` (1 = leaves). */
static inline unsigned _tmem_radix_digit(uint32_t index, unsigned level)
{
	return (index >> (TMEM_FAN_SHIFT * (level - 1))) & (TMEM_FAN - 1);
}

static inline bool _tmem_radix_covers(const struct tmem_obj *o, uint32_t index)
{
	return _tmem_radix_height_for(index) <= o->height;
}

/* The leaf slot of `index`, or NULL when the path to it does not exist. */
static inline uint64_t *_tmem_radix_slot(struct tmem_obj *o, uint32_t index)
{
	unsigned h = o->height;
	if (!_tmem_radix_covers(o, index))
		return NULL;
	uint64_t *slot = &o->root;
	for (unsigned l = h; l > 0; l--) {
		struct tmem_objnode *n = (struct tmem_objnode *)(uintptr_t)*slot;
		if (!n)
			return NULL;
		slot = &n->slots[_tmem_radix_digit(index, l)];
	}
	return slot;
}

/* How many objnodes a store at `index` must allocate. */
unsigned _tmem_radix_need(const struct tmem_obj *o, uint32_t index);
/* Store pampd `v` at `index`, building the path from the preallocated
 * nodes pre[0 .. *npre) (_tmem_radix_need() of them; *npre counts down as
 * they are used).  Returns the pampd replaced, or 0. */
tmem_pampd _tmem_radix_store(struct tmem_obj *o, uint32_t index, tmem_pampd v,
			     struct tmem_objnode **pre, unsigned *npre);
/* Unlink the pampd at `index` and free the objnodes left empty (the host's
 * free is called under the bucket lock; *nodes_freed counts them).
 * Returns the pampd, or 0. */
tmem_pampd _tmem_radix_remove(struct tmem_store *s, struct tmem_obj *o, uint32_t index,
			      uint64_t *nodes_freed);
/* Lowest stored index >= from: 0 and *out, or -ENOENT. */
int _tmem_radix_next(const struct tmem_obj *o, uint32_t from, uint32_t *out);
/* Add what a radix tree holds (pages, pampd bytes, objnodes) to *f. */
void _tmem_radix_sum(struct tmem_store *s, uint64_t root, unsigned h, struct tmem_freed *f);
/* Free a detached radix tree: every pampd (pamops.free) and objnode;
 * adds what it freed to *f. */
void _tmem_radix_free_all(struct tmem_store *s, uint64_t root, unsigned h, struct tmem_freed *f);

/* ---- objects in buckets, tables (pool.c) ---------------------------- */

/* A fresh, unlinked object with id `oid` (hostops.obj_alloc), or NULL. */
struct tmem_obj *_tmem_obj_new(struct tmem_store *s, const struct tmem_oid *oid);
/* Link a new object into bucket b.  Caller must hold b's lock. */
void _tmem_obj_link(struct tmem_pool *p, struct tmem_bucket *b, struct tmem_obj *o);
/* Unlink o from its bucket and the LRU.  Caller must hold b's lock; the
 * caller frees o (or keeps it, detached). */
void _tmem_obj_unlink(struct tmem_pool *p, struct tmem_bucket *b, struct tmem_obj *o);
/* Free o if it holds no page and no pin.  Caller must hold b's lock. */
void _tmem_obj_put_if_empty(struct tmem_store *s, struct tmem_pool *p, struct tmem_bucket *b,
			    struct tmem_obj *o);
/* Take resize_lock and every bucket lock of the pool's table; returns the
 * table, to hand to _tmem_unlock_all. */
struct tmem_table *_tmem_lock_all(struct tmem_pool *p);
void _tmem_unlock_all(struct tmem_pool *p, struct tmem_table *t);
/* Double the pool's table if it is over its load factor.  Called with no
 * lock held after an object was created. */
void _tmem_maybe_grow(struct tmem_store *s, struct tmem_pool *p);

/* ---- the LRU (evict.c) ---------------------------------------------- */

/* Caller must hold o's bucket lock and p->lru_lock; o is on the LRU. */
void _tmem_lru_del_locked(struct tmem_pool *p, struct tmem_obj *o);
/* Make o the most recently used object of its ephemeral pool.  Caller must
 * hold o's bucket lock; o must be unpinned. */
void _tmem_lru_touch(struct tmem_store *s, struct tmem_pool *p, struct tmem_obj *o);

/* ---- writeback (writeback.c) ---------------------------------------- */

/* After a get of page `pd` (the object's generation was `gen`) decoded
 * into `page`: if the backend makes an in-RAM pampd of it (pamops.promote),
 * swap that in while the object is unchanged, and free pd; else free the
 * new one.  Called with no lock held. */
void _tmem_promote(struct tmem_store *s, struct tmem_pool *p, uint64_t h,
		   const struct tmem_oid *oid, uint32_t index, uint64_t gen, tmem_pampd pd,
		   const void *page);

#endif /* ZC_TMEM_TMEM_INT_H */
