/* tmem.c - the store: pools -> objects -> page index -> pampd.
 *
 * The contract, the memory layout and the lock order are in tmem.h; this
 * note covers what only the implementation needs.
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
 *
 * The red-black tree is the classic one (CLRS) with the parent pointer and
 * the colour packed in one word; objects are 8-aligned, bit 0 is "red".
 */
#include "tmem/tmem.h"

#include "alloc/buddy.h"
#include "alloc/slab.h"

#include <assert.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#if defined(__x86_64__) || defined(__i386__)
static inline void tmem_cpu_relax(void) { __builtin_ia32_pause(); }
#else
static inline void tmem_cpu_relax(void) { }
#endif

static void tmem_lock_slow(struct tmem_lock *l)
{
	for (int i = 0; i < 100; i++) {
		uint32_t c = 0;
		tmem_cpu_relax();
		if (atomic_load_explicit(&l->v, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(&l->v, &c, 1, memory_order_acquire,
							  memory_order_relaxed))
			return;
	}
	while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire) != 0)
		syscall(SYS_futex, (void *)&l->v, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

static inline void tmem_lock(struct tmem_lock *l)
{
	uint32_t c = 0;
	if (likely(atomic_compare_exchange_strong_explicit(&l->v, &c, 1, memory_order_acquire,
							   memory_order_relaxed)))
		return;
	tmem_lock_slow(l);
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
	uint64_t lru_stamp;			/* protected by pool->lru_lock */
	uint64_t root;				/* protected by the bucket lock:
						   pampd (height 0) or objnode */
	uint64_t pages;				/* protected by the bucket lock */
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

/* ---- red-black tree of objects -------------------------------------- */

static inline struct tmem_obj *rb_parent(const struct tmem_obj *o)
{
	return (struct tmem_obj *)(o->parent_color & ~(uintptr_t)1);
}

static inline bool rb_is_red(const struct tmem_obj *o)
{
	return o && (o->parent_color & 1);
}

static inline void rb_set_parent(struct tmem_obj *o, struct tmem_obj *p)
{
	o->parent_color = (uintptr_t)p | (o->parent_color & 1);
}

static inline void rb_set_red(struct tmem_obj *o) { o->parent_color |= 1; }
static inline void rb_set_black(struct tmem_obj *o) { o->parent_color &= ~(uintptr_t)1; }

static inline void rb_copy_color(struct tmem_obj *to, const struct tmem_obj *from)
{
	to->parent_color = (to->parent_color & ~(uintptr_t)1) | (from->parent_color & 1);
}

static struct tmem_obj *rb_find(struct tmem_obj *n, const struct tmem_oid *oid)
{
	while (n) {
		int c = tmem_oid_cmp(oid, &n->oid);
		if (c == 0)
			return n;
		n = c < 0 ? n->left : n->right;
	}
	return NULL;
}

static void rb_replace_child(struct tmem_obj **root, struct tmem_obj *parent,
			     struct tmem_obj *old, struct tmem_obj *new)
{
	if (!parent)
		*root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
}

static void rb_rotate_left(struct tmem_obj **root, struct tmem_obj *x)
{
	struct tmem_obj *y = x->right, *xp = rb_parent(x);
	x->right = y->left;
	if (y->left)
		rb_set_parent(y->left, x);
	rb_set_parent(y, xp);
	rb_replace_child(root, xp, x, y);
	y->left = x;
	rb_set_parent(x, y);
}

static void rb_rotate_right(struct tmem_obj **root, struct tmem_obj *x)
{
	struct tmem_obj *y = x->left, *xp = rb_parent(x);
	x->left = y->right;
	if (y->right)
		rb_set_parent(y->right, x);
	rb_set_parent(y, xp);
	rb_replace_child(root, xp, x, y);
	y->right = x;
	rb_set_parent(x, y);
}

/* Link `z` (key not present) into the tree and rebalance. */
static void rb_insert(struct tmem_obj **root, struct tmem_obj *z)
{
	struct tmem_obj *parent = NULL, **link = root;
	while (*link) {
		parent = *link;
		link = tmem_oid_cmp(&z->oid, &parent->oid) < 0 ? &parent->left : &parent->right;
	}
	z->left = z->right = NULL;
	z->parent_color = (uintptr_t)parent | 1;
	*link = z;

	struct tmem_obj *p;
	while ((p = rb_parent(z)) && rb_is_red(p)) {
		struct tmem_obj *g = rb_parent(p);	/* exists: a red node is not the root */
		if (p == g->left) {
			struct tmem_obj *u = g->right;
			if (rb_is_red(u)) {
				rb_set_black(p);
				rb_set_black(u);
				rb_set_red(g);
				z = g;
				continue;
			}
			if (z == p->right) {
				rb_rotate_left(root, p);
				z = p;
				p = rb_parent(z);
			}
			rb_set_black(p);
			rb_set_red(g);
			rb_rotate_right(root, g);
		} else {
			struct tmem_obj *u = g->left;
			if (rb_is_red(u)) {
				rb_set_black(p);
				rb_set_black(u);
				rb_set_red(g);
				z = g;
				continue;
			}
			if (z == p->left) {
				rb_rotate_right(root, p);
				z = p;
				p = rb_parent(z);
			}
			rb_set_black(p);
			rb_set_red(g);
			rb_rotate_left(root, g);
		}
	}
	rb_set_black(*root);
}

static void rb_transplant(struct tmem_obj **root, struct tmem_obj *u, struct tmem_obj *v)
{
	struct tmem_obj *up = rb_parent(u);
	rb_replace_child(root, up, u, v);
	if (v)
		rb_set_parent(v, up);
}

static void rb_erase_fixup(struct tmem_obj **root, struct tmem_obj *x, struct tmem_obj *xp)
{
	while (x != *root && !rb_is_red(x)) {
		if (x == xp->left) {
			struct tmem_obj *w = xp->right;
			if (rb_is_red(w)) {
				rb_set_black(w);
				rb_set_red(xp);
				rb_rotate_left(root, xp);
				w = xp->right;
			}
			if (!rb_is_red(w->left) && !rb_is_red(w->right)) {
				rb_set_red(w);
				x = xp;
				xp = rb_parent(x);
			} else {
				if (!rb_is_red(w->right)) {
					rb_set_black(w->left);
					rb_set_red(w);
					rb_rotate_right(root, w);
					w = xp->right;
				}
				rb_copy_color(w, xp);
				rb_set_black(xp);
				rb_set_black(w->right);
				rb_rotate_left(root, xp);
				x = *root;
				break;
			}
		} else {
			struct tmem_obj *w = xp->left;
			if (rb_is_red(w)) {
				rb_set_black(w);
				rb_set_red(xp);
				rb_rotate_right(root, xp);
				w = xp->left;
			}
			if (!rb_is_red(w->left) && !rb_is_red(w->right)) {
				rb_set_red(w);
				x = xp;
				xp = rb_parent(x);
			} else {
				if (!rb_is_red(w->left)) {
					rb_set_black(w->right);
					rb_set_red(w);
					rb_rotate_left(root, w);
					w = xp->left;
				}
				rb_copy_color(w, xp);
				rb_set_black(xp);
				rb_set_black(w->left);
				rb_rotate_right(root, xp);
				x = *root;
				break;
			}
		}
	}
	if (x)
		rb_set_black(x);
}

static void rb_erase(struct tmem_obj **root, struct tmem_obj *z)
{
	struct tmem_obj *x, *xp;
	bool removed_red;

	if (!z->left || !z->right) {
		x = z->left ? z->left : z->right;
		xp = rb_parent(z);
		removed_red = rb_is_red(z);
		rb_transplant(root, z, x);
	} else {
		struct tmem_obj *y = z->right;
		while (y->left)
			y = y->left;
		removed_red = rb_is_red(y);
		x = y->right;
		if (rb_parent(y) == z) {
			xp = y;
		} else {
			xp = rb_parent(y);
			rb_transplant(root, y, y->right);
			y->right = z->right;
			rb_set_parent(y->right, y);
		}
		rb_transplant(root, z, y);
		y->left = z->left;
		rb_set_parent(y->left, y);
		rb_copy_color(y, z);
	}
	if (!removed_red)
		rb_erase_fixup(root, x, xp);
}

/* Debug builds verify the shape of a bucket's tree after every change. */
#if ZC_DEBUG
static int rb_debug_walk(const struct tmem_obj *n, const struct tmem_obj *parent)
{
	if (!n)
		return 1;
	if (rb_parent(n) != parent || (rb_is_red(n) && (rb_is_red(n->left) || rb_is_red(n->right))) ||
	    (n->left && tmem_oid_cmp(&n->left->oid, &n->oid) >= 0) ||
	    (n->right && tmem_oid_cmp(&n->oid, &n->right->oid) >= 0))
		return -1;
	int l = rb_debug_walk(n->left, n), r = rb_debug_walk(n->right, n);
	if (l < 0 || l != r)
		return -1;
	return l + !rb_is_red(n);
}

static void rb_debug_check(struct tmem_obj *root)
{
	if (rb_is_red(root) || rb_debug_walk(root, NULL) < 0) {
		fprintf(stderr, "tmem: red-black tree of a bucket broken\n");
		abort();
	}
}
#else
static inline void rb_debug_check(struct tmem_obj *root)
{
	(void)root;
}
#endif

/* ---- radix tree of pages -------------------------------------------- */

static inline unsigned radix_height_for(uint32_t index)
{
	if (index == 0)
		return 0;
	return (32 - (unsigned)__builtin_clz(index) + TMEM_FAN_SHIFT - 1) / TMEM_FAN_SHIFT;
}

static inline unsigned radix_digit(uint32_t index, unsigned level)
{
	return (index >> (TMEM_FAN_SHIFT * (level - 1))) & (TMEM_FAN - 1);
}

static inline bool radix_covers(const struct tmem_obj *o, uint32_t index)
{
	return radix_height_for(index) <= o->height;
}

/* The leaf slot of `index`, or NULL when the path to it does not exist. */
static inline uint64_t *radix_slot(struct tmem_obj *o, uint32_t index)
{
	unsigned h = o->height;
	if (!radix_covers(o, index))
		return NULL;
	uint64_t *slot = &o->root;
	for (unsigned l = h; l > 0; l--) {
		struct tmem_objnode *n = (struct tmem_objnode *)(uintptr_t)*slot;
		if (!n)
			return NULL;
		slot = &n->slots[radix_digit(index, l)];
	}
	return slot;
}

/* How many objnodes a store at `index` must allocate. */
static unsigned radix_need(const struct tmem_obj *o, uint32_t index)
{
	unsigned H = radix_height_for(index), h = o->height;
	if (!o->root)
		return H;
	if (H > h)
		/* Chain nodes on levels h+1..H keep the old tree in slot 0; the
		 * top digit of index is non-zero, so levels H-1..1 are new. */
		return (H - h) + (H - 1);
	const uint64_t *slot = &o->root;
	for (unsigned l = h; l > 0; l--) {
		const struct tmem_objnode *n = (const struct tmem_objnode *)(uintptr_t)*slot;
		if (!n)
			return l;
		slot = &n->slots[radix_digit(index, l)];
	}
	return 0;
}

static struct tmem_objnode *radix_take(struct tmem_objnode **pre, unsigned *npre)
{
	struct tmem_objnode *n = pre[--*npre];
	memset(n, 0, sizeof(*n));
	return n;
}

/* Store pampd `v` at `index`, building the path from the preallocated
 * nodes (radix_need() of them).  Returns the pampd replaced, or 0. */
static tmem_pampd radix_store(struct tmem_obj *o, uint32_t index, tmem_pampd v,
			      struct tmem_objnode **pre, unsigned *npre)
{
	unsigned H = radix_height_for(index);
	if (!o->root) {
		o->height = (uint8_t)H;
	} else {
		while (o->height < H) {
			struct tmem_objnode *n = radix_take(pre, npre);
			n->slots[0] = o->root;
			n->count = 1;
			o->root = (uint64_t)(uintptr_t)n;
			o->height++;
		}
	}
	uint64_t *slot = &o->root;
	struct tmem_objnode *parent = NULL;
	for (unsigned l = o->height; l > 0; l--) {
		if (!*slot) {
			*slot = (uint64_t)(uintptr_t)radix_take(pre, npre);
			if (parent)
				parent->count++;
		}
		parent = (struct tmem_objnode *)(uintptr_t)*slot;
		slot = &parent->slots[radix_digit(index, l)];
	}
	tmem_pampd old = *slot;
	*slot = v;
	if (!old) {
		if (parent)
			parent->count++;
		o->pages++;
	}
	return old;
}

/* Unlink the pampd at `index` and free the objnodes left empty (the host's
 * free is called under the bucket lock).  Returns the pampd, or 0. */
static tmem_pampd radix_remove(struct tmem_store *s, struct tmem_obj *o, uint32_t index,
			       uint64_t *nodes_freed)
{
	unsigned h = o->height;
	if (!radix_covers(o, index) || !o->root)
		return 0;
	if (h == 0) {
		tmem_pampd p = o->root;
		o->root = 0;
		o->pages--;
		return p;
	}
	struct tmem_objnode *path[TMEM_MAX_HEIGHT];
	struct tmem_objnode *n = (struct tmem_objnode *)(uintptr_t)o->root;
	for (unsigned l = h; l > 0; l--) {
		path[l - 1] = n;
		if (l > 1) {
			n = (struct tmem_objnode *)(uintptr_t)n->slots[radix_digit(index, l)];
			if (!n)
				return 0;
		}
	}
	tmem_pampd p = path[0]->slots[radix_digit(index, 1)];
	if (!p)
		return 0;
	path[0]->slots[radix_digit(index, 1)] = 0;
	path[0]->count--;
	for (unsigned l = 1; l <= h && path[l - 1]->count == 0; l++) {
		s->host->objnode_free(s->host_ctx, path[l - 1]);
		(*nodes_freed)++;
		if (l < h) {
			path[l]->slots[radix_digit(index, l + 1)] = 0;
			path[l]->count--;
		} else {
			o->root = 0;
			o->height = 0;
		}
	}
	o->pages--;
	return p;
}

static int radix_next_node(const struct tmem_objnode *n, unsigned l, uint64_t base,
			   uint64_t from, uint32_t *out)
{
	unsigned shift = TMEM_FAN_SHIFT * (l - 1);
	unsigned d = from > base ? (unsigned)((from - base) >> shift) : 0;
	for (; d < TMEM_FAN; d++) {
		uint64_t v = n->slots[d];
		uint64_t cbase = base + ((uint64_t)d << shift);
		if (!v)
			continue;
		if (l == 1) {
			*out = (uint32_t)cbase;
			return 0;
		}
		if (radix_next_node((const struct tmem_objnode *)(uintptr_t)v, l - 1, cbase,
				    from, out) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Lowest stored index >= from. */
static int radix_next(const struct tmem_obj *o, uint32_t from, uint32_t *out)
{
	if (!o->root || !radix_covers(o, from))
		return -ENOENT;
	if (o->height == 0) {
		*out = 0;
		return 0;
	}
	return radix_next_node((const struct tmem_objnode *)(uintptr_t)o->root, o->height, 0,
			       from, out);
}

static void radix_sum_node(struct tmem_store *s, const struct tmem_objnode *n, unsigned l,
			   struct tmem_freed *f)
{
	for (unsigned d = 0; d < TMEM_FAN; d++) {
		uint64_t v = n->slots[d];
		if (!v)
			continue;
		if (l == 1) {
			f->bytes += s->pam->size(s->pam_ctx, v);
			f->pages++;
		} else {
			radix_sum_node(s, (const struct tmem_objnode *)(uintptr_t)v, l - 1, f);
		}
	}
	f->nodes++;
}

/* What a radix tree holds: pages, pampd bytes, objnodes.  Run under the
 * bucket lock before a whole tree is detached, so that the counters change
 * together with the tree (tmem_check is exact even beside other threads);
 * pamops.size is cheap, the walk a few ns a page. */
static void radix_sum(struct tmem_store *s, uint64_t root, unsigned h, struct tmem_freed *f)
{
	if (!root)
		return;
	if (h == 0) {
		f->bytes += s->pam->size(s->pam_ctx, root);
		f->pages++;
		return;
	}
	radix_sum_node(s, (const struct tmem_objnode *)(uintptr_t)root, h, f);
}

static void radix_free_node(struct tmem_store *s, struct tmem_objnode *n, unsigned l,
			    struct tmem_freed *f)
{
	for (unsigned d = 0; d < TMEM_FAN; d++) {
		uint64_t v = n->slots[d];
		if (!v)
			continue;
		if (l == 1) {
			f->bytes += s->pam->size(s->pam_ctx, v);
			s->pam->free(s->pam_ctx, v);
			f->pages++;
		} else {
			radix_free_node(s, (struct tmem_objnode *)(uintptr_t)v, l - 1, f);
		}
	}
	s->host->objnode_free(s->host_ctx, n);
	f->nodes++;
}

/* Free a detached radix tree: every pampd (pamops.free) and objnode. */
static void radix_free_all(struct tmem_store *s, uint64_t root, unsigned h, struct tmem_freed *f)
{
	if (!root)
		return;
	if (h == 0) {
		f->bytes += s->pam->size(s->pam_ctx, root);
		s->pam->free(s->pam_ctx, root);
		f->pages++;
		return;
	}
	radix_free_node(s, (struct tmem_objnode *)(uintptr_t)root, h, f);
}

/* ---- objects and the LRU -------------------------------------------- */

/* Caller must hold o's bucket lock and p->lru_lock; o is on the LRU. */
static void lru_del_locked(struct tmem_pool *p, struct tmem_obj *o)
{
	if (o->lru_prev)
		o->lru_prev->lru_next = o->lru_next;
	else
		p->lru_head = o->lru_next;
	if (o->lru_next)
		o->lru_next->lru_prev = o->lru_prev;
	else
		p->lru_tail = o->lru_prev;
	o->lru_prev = o->lru_next = NULL;
	o->on_lru = 0;
}

/* Make o the most recently used object of its ephemeral pool.  Caller must
 * hold o's bucket lock; o must be unpinned. */
static void lru_touch(struct tmem_store *s, struct tmem_pool *p, struct tmem_obj *o)
{
	tmem_lock(&p->lru_lock);
	if (o->on_lru) {
		if (p->lru_tail == o)
			goto stamp;
		lru_del_locked(p, o);
	}
	o->lru_prev = p->lru_tail;
	o->lru_next = NULL;
	if (p->lru_tail)
		p->lru_tail->lru_next = o;
	else
		p->lru_head = o;
	p->lru_tail = o;
	o->on_lru = 1;
stamp:
	o->lru_stamp = atomic_fetch_add_explicit(&s->lru_clock, 1, memory_order_relaxed) + 1;
	tmem_unlock(&p->lru_lock);
}

static inline bool tmem_ephemeral(struct tmem_pool *p)
{
	return atomic_load_explicit(&p->kind, memory_order_relaxed) == TMEM_POOL_EPHEMERAL;
}

static struct tmem_obj *obj_new(struct tmem_store *s, const struct tmem_oid *oid)
{
	struct tmem_obj *o = s->host->obj_alloc(s->host_ctx);
	if (!o)
		return NULL;
	memset(o, 0, sizeof(*o));
	o->oid = *oid;
	return o;
}

/* Link a new object into bucket b.  Caller must hold b's lock. */
static void obj_link(struct tmem_pool *p, struct tmem_bucket *b, struct tmem_obj *o)
{
	rb_insert(&b->root, o);
	rb_debug_check(b->root);
	b->nobjs++;
	atomic_fetch_add_explicit(&p->nobjects, 1, memory_order_relaxed);
}

/* Unlink o from its bucket and the LRU.  Caller must hold b's lock; the
 * caller frees o (or keeps it, detached). */
static void obj_unlink(struct tmem_pool *p, struct tmem_bucket *b, struct tmem_obj *o)
{
	rb_erase(&b->root, o);
	rb_debug_check(b->root);
	b->nobjs--;
	atomic_fetch_sub_explicit(&p->nobjects, 1, memory_order_relaxed);
	if (o->on_lru) {
		tmem_lock(&p->lru_lock);
		lru_del_locked(p, o);
		tmem_unlock(&p->lru_lock);
	}
}

/* Free o if it holds no page and no pin.  Caller must hold b's lock. */
static void obj_put_if_empty(struct tmem_store *s, struct tmem_pool *p, struct tmem_bucket *b,
			     struct tmem_obj *o)
{
	if (o->pages || o->pins)
		return;
	obj_unlink(p, b, o);
	s->host->obj_free(s->host_ctx, o);
}

/* ---- tables --------------------------------------------------------- */

static struct tmem_table *table_new(struct tmem_store *s, uint32_t nbuckets)
{
	size_t bytes = (size_t)nbuckets * sizeof(struct tmem_bucket);
	struct tmem_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->b = s->host->mem_alloc(s->host_ctx, bytes);
	if (!t->b) {
		free(t);
		return NULL;
	}
	memset(t->b, 0, bytes);
	t->nbuckets = nbuckets;
	t->mask = nbuckets - 1;
	t->bytes = bytes;
	return t;
}

static void table_free(struct tmem_store *s, struct tmem_table *t)
{
	s->host->mem_free(s->host_ctx, t->b, t->bytes);
	free(t);
}

/* Take resize_lock and every bucket lock of the pool's table. */
static struct tmem_table *lock_all(struct tmem_pool *p)
{
	tmem_lock(&p->resize_lock);
	struct tmem_table *t = atomic_load_explicit(&p->table, memory_order_acquire);
	for (uint32_t i = 0; i < t->nbuckets; i++)
		tmem_lock(&t->b[i].lock);
	return t;
}

static void unlock_all(struct tmem_pool *p, struct tmem_table *t)
{
	for (uint32_t i = 0; i < t->nbuckets; i++)
		tmem_unlock(&t->b[i].lock);
	tmem_unlock(&p->resize_lock);
}

static inline bool table_too_small(struct tmem_pool *p, const struct tmem_table *t)
{
	return t->nbuckets < TMEM_MAX_BUCKETS &&
	       atomic_load_explicit(&p->nobjects, memory_order_relaxed) >
		       (uint64_t)t->nbuckets * TMEM_LOAD_FACTOR;
}

/* Double the pool's table if it is over its load factor.  Called with no
 * lock held after an object was created; a failed allocation just leaves
 * the table as it is (lookups stay correct, only slower). */
static void maybe_grow(struct tmem_store *s, struct tmem_pool *p)
{
	struct tmem_table *t = atomic_load_explicit(&p->table, memory_order_acquire);
	if (likely(!table_too_small(p, t)))
		return;
	if (!tmem_trylock(&p->resize_lock))
		return;		/* someone else is resizing */
	t = atomic_load_explicit(&p->table, memory_order_acquire);
	if (!table_too_small(p, t)) {
		tmem_unlock(&p->resize_lock);
		return;
	}
	struct tmem_table *nt = table_new(s, t->nbuckets * 2);
	if (!nt) {
		tmem_unlock(&p->resize_lock);
		return;
	}
	for (uint32_t i = 0; i < t->nbuckets; i++)
		tmem_lock(&t->b[i].lock);
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct tmem_bucket *b = &t->b[i];
		while (b->root) {
			struct tmem_obj *o = b->root;
			rb_erase(&b->root, o);
			struct tmem_bucket *nb = &nt->b[tmem_hash(&o->oid) & nt->mask];
			rb_insert(&nb->root, o);
			nb->nobjs++;
		}
		b->nobjs = 0;
	}
	nt->older = t;
	atomic_fetch_add_explicit(&p->table_bytes, nt->bytes, memory_order_relaxed);
	atomic_store_explicit(&t->moved, 1, memory_order_relaxed);
	atomic_store_explicit(&p->table, nt, memory_order_release);
	TMEM_ADD(p->resizes, 1);
	for (uint32_t i = 0; i < t->nbuckets; i++)
		tmem_unlock(&t->b[i].lock);
	tmem_unlock(&p->resize_lock);
}

/* ---- store and pools ------------------------------------------------ */

struct tmem_store *tmem_store_create(const struct tmem_pamops *pam, void *pam_ctx,
				     const struct tmem_hostops *host, void *host_ctx)
{
	if (!pam || !pam->create || !pam->get_locked || !pam->decode || !pam->free ||
	    !pam->size || !host || !host->obj_alloc || !host->obj_free ||
	    !host->objnode_alloc || !host->objnode_free || !host->mem_alloc || !host->mem_free) {
		errno = EINVAL;
		return NULL;
	}
	struct tmem_store *s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->pam = pam;
	s->pam_ctx = pam_ctx;
	s->host = host;
	s->host_ctx = host_ctx;
	if (pthread_mutex_init(&s->pool_lock, NULL) != 0)
		goto err_free;
	if (pthread_cond_init(&s->pool_cond, NULL) != 0)
		goto err_mutex;
	return s;

err_mutex:
	pthread_mutex_destroy(&s->pool_lock);
err_free:
	free(s);
	errno = ENOMEM;
	return NULL;
}

/* Free everything a pool holds and the pool.  The pool must be unreachable. */
static void pool_free(struct tmem_store *s, struct tmem_pool *p)
{
	struct tmem_table *t = atomic_load_explicit(&p->table, memory_order_relaxed);
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct tmem_bucket *b = &t->b[i];
		while (b->root) {
			struct tmem_obj *o = b->root;
			struct tmem_freed f = { 0, 0, 0 };
			rb_erase(&b->root, o);
			radix_free_all(s, o->root, o->height, &f);
			s->host->obj_free(s->host_ctx, o);
		}
	}
	while (t) {
		struct tmem_table *older = t->older;
		table_free(s, t);
		t = older;
	}
	free(p);
}

void tmem_store_destroy(struct tmem_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (p)
			pool_free(s, p);
	}
	pthread_cond_destroy(&s->pool_cond);
	pthread_mutex_destroy(&s->pool_lock);
	free(s);
}

int tmem_new_pool(struct tmem_store *s, unsigned flags)
{
	if (flags != TMEM_POOL_PERSISTENT && flags != TMEM_POOL_EPHEMERAL)
		return -EINVAL;
	struct tmem_pool *p = aligned_alloc(64, sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	p->store = s;
	atomic_init(&p->kind, flags);
	struct tmem_table *t = table_new(s, TMEM_INIT_BUCKETS);
	if (!t)
		goto err_pool;
	atomic_init(&p->table, t);
	atomic_init(&p->table_bytes, t->bytes);

	pthread_mutex_lock(&s->pool_lock);
	int id = -1;
	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		if (!atomic_load_explicit(&s->pools[i], memory_order_relaxed)) {
			id = i;
			break;
		}
	}
	if (id < 0) {
		pthread_mutex_unlock(&s->pool_lock);
		table_free(s, t);
		free(p);
		return -ENOSPC;
	}
	p->id = (uint32_t)id;
	atomic_store_explicit(&s->pools[id], p, memory_order_release);
	pthread_mutex_unlock(&s->pool_lock);
	return id;

err_pool:
	free(p);
	return -ENOMEM;
}

int tmem_destroy_pool(struct tmem_store *s, int pool)
{
	pthread_mutex_lock(&s->pool_lock);
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p) {
		pthread_mutex_unlock(&s->pool_lock);
		return -EINVAL;
	}
	atomic_store_explicit(&s->pools[pool], NULL, memory_order_release);
	while (p->refs)
		pthread_cond_wait(&s->pool_cond, &s->pool_lock);
	pthread_mutex_unlock(&s->pool_lock);
	pool_free(s, p);
	return 0;
}

int tmem_pool_set_kind(struct tmem_store *s, int pool, unsigned kind)
{
	if (kind != TMEM_POOL_PERSISTENT && kind != TMEM_POOL_EPHEMERAL)
		return -EINVAL;
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	int ret = 0;
	struct tmem_table *t = lock_all(p);
	for (uint32_t i = 0; i < t->nbuckets && !ret; i++) {
		/* Any object with a page makes the pool busy: walk each tree. */
		struct tmem_obj *stack[2 * 64], *o = t->b[i].root;
		unsigned sp = 0;
		while ((o || sp) && !ret) {
			while (o) {
				stack[sp++] = o;
				o = o->left;
			}
			o = stack[--sp];
			if (o->pages)
				ret = -EBUSY;
			o = o->right;
		}
	}
	/* No pages means every object is pinned, hence off the LRU: the flip
	 * needs no LRU change either way. */
	if (!ret)
		atomic_store_explicit(&p->kind, kind, memory_order_relaxed);
	unlock_all(p, t);
	return ret;
}

int tmem_pool_kind(struct tmem_store *s, int pool)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	return (int)atomic_load_explicit(&p->kind, memory_order_relaxed);
}

int tmem_pool_set_codec(struct tmem_store *s, int pool, unsigned codec)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	atomic_store_explicit(&p->codec, codec, memory_order_relaxed);
	return 0;
}

/* ---- pages ---------------------------------------------------------- */

int tmem_put(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t index,
	     const void *page)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (unlikely(!p))
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);
	tmem_pampd np;
	int ret = s->pam->create(s->pam_ctx, page,
				 atomic_load_explicit(&p->codec, memory_order_relaxed), &np);
	if (unlikely(ret < 0)) {
		TMEM_ADD(st->failed_puts, 1);
		return ret;
	}

	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = rb_find(b->root, oid), *fresh = NULL;
	tmem_pampd old;
	unsigned need = 0;
	uint64_t *slot;
	if (likely(o) && (slot = radix_slot(o, index)) && *slot) {
		/* Replace: no allocation. */
		old = *slot;
		*slot = np;
	} else {
		struct tmem_objnode *pre[2 * TMEM_MAX_HEIGHT];
		unsigned npre = 0;
		if (!o) {
			o = fresh = obj_new(s, oid);
			if (!o)
				goto err_nomem;
		}
		need = radix_need(o, index);
		for (; npre < need; npre++) {
			pre[npre] = s->host->objnode_alloc(s->host_ctx);
			if (!pre[npre]) {
				while (npre)
					s->host->objnode_free(s->host_ctx, pre[--npre]);
				if (fresh)
					s->host->obj_free(s->host_ctx, fresh);
				goto err_nomem;
			}
		}
		if (fresh)
			obj_link(p, b, fresh);
		old = radix_store(o, index, np, pre, &npre);
		assert(npre == 0);
	}
	if (tmem_ephemeral(p) && !o->pins)
		lru_touch(s, p, o);
	size_t nsize = s->pam->size(s->pam_ctx, np);
	size_t osize = old ? s->pam->size(s->pam_ctx, old) : 0;
	TMEM_ADD(st->puts, 1);
	if (old)
		TMEM_ADD(st->replaces, 1);
	else
		TMEM_ADD(st->pages, 1);
	TMEM_ADD(st->pampd_bytes, nsize - osize);
	if (need)
		TMEM_ADD(st->objnodes, need);
	tmem_unlock(&b->lock);

	if (old)
		s->pam->free(s->pam_ctx, old);
	if (fresh)
		maybe_grow(s, p);
	return 0;

err_nomem:
	tmem_unlock(&b->lock);
	s->pam->free(s->pam_ctx, np);
	TMEM_ADD(st->failed_puts, 1);
	return -ENOMEM;
}

int tmem_get(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t index,
	     void *page, unsigned flags)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (unlikely(!p || (flags & ~TMEM_GET_FREE)))
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);
	alignas(64) unsigned char scratch[TMEM_SCRATCH_SIZE];
	size_t len = 0;
	int ret;

	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = rb_find(b->root, oid);
	uint64_t *slot = o ? radix_slot(o, index) : NULL;
	if (!slot || !*slot) {
		tmem_unlock(&b->lock);
		TMEM_ADD(st->failed_gets, 1);
		return -ENOENT;
	}
	tmem_pampd pd = *slot;
	ret = s->pam->get_locked(s->pam_ctx, pd, page, scratch, &len);
	if (unlikely(ret < 0)) {
		tmem_unlock(&b->lock);
		TMEM_ADD(st->failed_gets, 1);
		return ret;
	}
	if (flags & TMEM_GET_FREE) {
		uint64_t nodes = 0;
		size_t sz = s->pam->size(s->pam_ctx, pd);
		radix_remove(s, o, index, &nodes);
		TMEM_ADD(st->pages, -1);
		TMEM_ADD(st->pampd_bytes, -(uint64_t)sz);
		if (nodes)
			TMEM_ADD(st->objnodes, -nodes);
		if (!o->pages && !o->pins) {
			obj_unlink(p, b, o);
			s->host->obj_free(s->host_ctx, o);
		} else if (tmem_ephemeral(p) && !o->pins) {
			lru_touch(s, p, o);
		}
	} else if (tmem_ephemeral(p) && !o->pins) {
		lru_touch(s, p, o);
	}
	tmem_unlock(&b->lock);

	if (ret == 0)
		ret = s->pam->decode(s->pam_ctx, pd, scratch, len, page);
	if (flags & TMEM_GET_FREE)
		s->pam->free(s->pam_ctx, pd);
	if (unlikely(ret < 0)) {
		TMEM_ADD(st->failed_gets, 1);
		return ret;
	}
	TMEM_ADD(st->gets, 1);
	return 0;
}

int tmem_flush_page(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t index)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = rb_find(b->root, oid);
	uint64_t nodes = 0;
	tmem_pampd pd = o ? radix_remove(s, o, index, &nodes) : 0;
	if (!pd) {
		tmem_unlock(&b->lock);
		return -ENOENT;
	}
	size_t sz = s->pam->size(s->pam_ctx, pd);
	obj_put_if_empty(s, p, b, o);
	TMEM_ADD(st->pages, -1);
	TMEM_ADD(st->pampd_bytes, -(uint64_t)sz);
	TMEM_ADD(st->objnodes, -nodes);
	TMEM_ADD(st->flushes, 1);
	tmem_unlock(&b->lock);
	s->pam->free(s->pam_ctx, pd);
	return 0;
}

int64_t tmem_flush_range(struct tmem_store *s, int pool, const struct tmem_oid *oid,
			 uint32_t first, uint32_t last)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p || first > last)
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);
	int64_t total = 0;
	uint32_t cur = first;
	bool done = false;

	while (!done) {
		tmem_pampd batch[TMEM_RANGE_BATCH];
		unsigned n = 0;
		uint64_t nodes = 0, bytes = 0;
		struct tmem_bucket *b = tmem_lock_bucket(p, h);
		struct tmem_obj *o = rb_find(b->root, oid);
		if (!o) {
			tmem_unlock(&b->lock);
			break;
		}
		while (n < TMEM_RANGE_BATCH) {
			uint32_t i;
			if (radix_next(o, cur, &i) < 0 || i > last) {
				done = true;
				break;
			}
			batch[n] = radix_remove(s, o, i, &nodes);
			bytes += s->pam->size(s->pam_ctx, batch[n]);
			n++;
			if (i == last) {
				done = true;
				break;
			}
			cur = i + 1;
		}
		obj_put_if_empty(s, p, b, o);
		TMEM_ADD(st->pages, -(uint64_t)n);
		TMEM_ADD(st->pampd_bytes, -bytes);
		TMEM_ADD(st->objnodes, -nodes);
		TMEM_ADD(st->flushes, n);
		tmem_unlock(&b->lock);
		for (unsigned k = 0; k < n; k++)
			s->pam->free(s->pam_ctx, batch[k]);
		total += n;
	}
	return total;
}

int64_t tmem_flush_object(struct tmem_store *s, int pool, const struct tmem_oid *oid)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = rb_find(b->root, oid), *gone = NULL;
	if (!o) {
		tmem_unlock(&b->lock);
		return -ENOENT;
	}
	uint64_t root = o->root;
	unsigned height = o->height;
	uint64_t pages = o->pages;
	if (o->pins) {
		o->root = 0;
		o->height = 0;
		o->pages = 0;
	} else {
		obj_unlink(p, b, o);
		gone = o;
	}
	struct tmem_freed f = { 0, 0, 0 };
	radix_sum(s, root, height, &f);
	TMEM_ADD(st->pages, -pages);
	TMEM_ADD(st->pampd_bytes, -f.bytes);
	TMEM_ADD(st->objnodes, -f.nodes);
	TMEM_ADD(st->flushes, pages);
	tmem_unlock(&b->lock);

	struct tmem_freed unused = { 0, 0, 0 };
	radix_free_all(s, root, height, &unused);
	TMEM_ADD(p->flush_objects, 1);
	if (gone)
		s->host->obj_free(s->host_ctx, gone);
	return (int64_t)pages;
}

int tmem_next_index(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t from,
		    uint32_t *index)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	struct tmem_bucket *b = tmem_lock_bucket(p, tmem_hash(oid));
	struct tmem_obj *o = rb_find(b->root, oid);
	int ret = o ? radix_next(o, from, index) : -ENOENT;
	tmem_unlock(&b->lock);
	return ret;
}

int64_t tmem_object_pages(struct tmem_store *s, int pool, const struct tmem_oid *oid)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	struct tmem_bucket *b = tmem_lock_bucket(p, tmem_hash(oid));
	struct tmem_obj *o = rb_find(b->root, oid);
	int64_t pages = o ? (int64_t)o->pages : 0;
	tmem_unlock(&b->lock);
	return pages;
}

/* ---- pins and eviction ---------------------------------------------- */

int tmem_pin(struct tmem_store *s, int pool, const struct tmem_oid *oid)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = rb_find(b->root, oid), *fresh = NULL;
	if (!o) {
		o = fresh = obj_new(s, oid);
		if (!o) {
			tmem_unlock(&b->lock);
			return -ENOMEM;
		}
		obj_link(p, b, o);
	}
	if (o->pins == UINT32_MAX) {
		tmem_unlock(&b->lock);
		return -EOVERFLOW;
	}
	if (o->pins++ == 0) {
		TMEM_ADD(tmem_stripe(p, h)->pinned, 1);
		if (o->on_lru) {
			tmem_lock(&p->lru_lock);
			lru_del_locked(p, o);
			tmem_unlock(&p->lru_lock);
		}
	}
	tmem_unlock(&b->lock);
	if (fresh)
		maybe_grow(s, p);
	return 0;
}

int tmem_unpin(struct tmem_store *s, int pool, const struct tmem_oid *oid)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = rb_find(b->root, oid);
	if (!o || !o->pins) {
		tmem_unlock(&b->lock);
		return -ENOENT;
	}
	if (--o->pins == 0) {
		TMEM_ADD(tmem_stripe(p, h)->pinned, -1);
		if (!o->pages) {
			obj_unlink(p, b, o);
			s->host->obj_free(s->host_ctx, o);
		} else if (tmem_ephemeral(p)) {
			lru_touch(s, p, o);
		}
	}
	tmem_unlock(&b->lock);
	return 0;
}

/* One evicted object, reported to the callback after every lock and pool
 * reference is dropped. */
struct tmem_victim {
	uint32_t pool;
	struct tmem_oid oid;
	uint64_t pages;
	uint64_t bytes;
};

/* Evict the least recently used object of pool p.  Returns 1 and fills
 * *v, or 0 when the LRU is empty.  Called with no lock held. */
static int evict_one(struct tmem_store *s, struct tmem_pool *p, struct tmem_victim *v)
{
	for (;;) {
		tmem_lock(&p->lru_lock);
		struct tmem_obj *o = p->lru_head;
		if (!o) {
			tmem_unlock(&p->lru_lock);
			return 0;
		}
		struct tmem_oid oid = o->oid;
		tmem_unlock(&p->lru_lock);

		uint64_t h = tmem_hash(&oid);
		struct tmem_stripe *st = tmem_stripe(p, h);
		struct tmem_bucket *b = tmem_lock_bucket(p, h);
		o = rb_find(b->root, &oid);
		bool still_head = false;
		if (o) {
			tmem_lock(&p->lru_lock);
			still_head = p->lru_head == o;
			tmem_unlock(&p->lru_lock);
		}
		if (!still_head) {
			/* Touched, pinned or freed meanwhile: look again. */
			tmem_unlock(&b->lock);
			continue;
		}
		obj_unlink(p, b, o);
		uint64_t pages = o->pages;
		struct tmem_freed f = { 0, 0, 0 };
		radix_sum(s, o->root, o->height, &f);
		TMEM_ADD(st->pages, -pages);
		TMEM_ADD(st->pampd_bytes, -f.bytes);
		TMEM_ADD(st->objnodes, -f.nodes);
		tmem_unlock(&b->lock);

		struct tmem_freed unused = { 0, 0, 0 };
		radix_free_all(s, o->root, o->height, &unused);
		s->host->obj_free(s->host_ctx, o);
		TMEM_ADD(p->evictions, 1);
		TMEM_ADD(p->evicted_pages, pages);
		v->pool = p->id;
		v->oid = oid;
		v->pages = pages;
		v->bytes = f.bytes + f.nodes * TMEM_OBJNODE_SIZE + TMEM_OBJ_SIZE;
		return 1;
	}
}

/* The LRU stamp of pool p's least recent object, or UINT64_MAX. */
static uint64_t lru_head_stamp(struct tmem_pool *p)
{
	tmem_lock(&p->lru_lock);
	uint64_t st = p->lru_head ? p->lru_head->lru_stamp : UINT64_MAX;
	tmem_unlock(&p->lru_lock);
	return st;
}

/* Take a reference on the ephemeral pool whose least recent object is the
 * oldest of the store, or return NULL when no ephemeral pool has one. */
static struct tmem_pool *evict_pick(struct tmem_store *s)
{
	struct tmem_pool *best = NULL;
	uint64_t best_stamp = UINT64_MAX;
	pthread_mutex_lock(&s->pool_lock);
	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (!p || !tmem_ephemeral(p))
			continue;
		uint64_t st = lru_head_stamp(p);
		if (st < best_stamp) {
			best_stamp = st;
			best = p;
		}
	}
	if (best)
		best->refs++;
	pthread_mutex_unlock(&s->pool_lock);
	return best;
}

static void evict_unref(struct tmem_store *s, struct tmem_pool *p)
{
	pthread_mutex_lock(&s->pool_lock);
	if (--p->refs == 0)
		pthread_cond_broadcast(&s->pool_cond);
	pthread_mutex_unlock(&s->pool_lock);
}

int64_t tmem_evict(struct tmem_store *s, int pool, uint64_t bytes, tmem_evict_fn fn, void *arg)
{
	uint64_t freed = 0;
	struct tmem_victim v;
	if (pool != TMEM_ALL_POOLS) {
		struct tmem_pool *p = tmem_pool_of(s, pool);
		if (!p || !tmem_ephemeral(p))
			return -EINVAL;
		while (freed < bytes && evict_one(s, p, &v)) {
			freed += v.bytes;
			if (fn)
				fn(arg, v.pool, &v.oid, v.pages, v.bytes);
		}
		return (int64_t)freed;
	}

	/* Every ephemeral pool, oldest object first.  A pool is held by a
	 * reference only while one object is evicted from it, so a
	 * concurrent tmem_destroy_pool waits for that alone, never for a
	 * callback. */
	while (freed < bytes) {
		struct tmem_pool *p = evict_pick(s);
		if (!p)
			break;
		int got = evict_one(s, p, &v);
		evict_unref(s, p);
		if (!got)
			continue;	/* emptied meanwhile: pick again */
		freed += v.bytes;
		if (fn)
			fn(arg, v.pool, &v.oid, v.pages, v.bytes);
	}
	return (int64_t)freed;
}

/* ---- moving objects between pools ----------------------------------- */

/* Lock the buckets `h` falls in in two different pools, the lower pool id
 * first (tmem.h's lock order); each retries on its own if a resize moved
 * its table. */
static void move_lock_buckets(struct tmem_pool *a, struct tmem_pool *b, uint64_t h,
			      struct tmem_bucket **ba, struct tmem_bucket **bb)
{
	if (a->id < b->id) {
		*ba = tmem_lock_bucket(a, h);
		*bb = tmem_lock_bucket(b, h);
	} else {
		*bb = tmem_lock_bucket(b, h);
		*ba = tmem_lock_bucket(a, h);
	}
}

int tmem_move_object(struct tmem_store *s, int from, int to, const struct tmem_oid *oid)
{
	struct tmem_pool *pf = tmem_pool_of(s, from), *pt = tmem_pool_of(s, to);
	struct tmem_bucket *bf, *bt;
	struct tmem_freed f = { 0, 0, 0 };
	struct tmem_obj *o;
	uint64_t h;

	if (!pf || !pt)
		return -EINVAL;
	if (pf == pt)
		return 0;
	h = tmem_hash(oid);
	move_lock_buckets(pf, pt, h, &bf, &bt);
	o = rb_find(bf->root, oid);
	if (!o || rb_find(bt->root, oid)) {
		tmem_unlock(&bt->lock);
		tmem_unlock(&bf->lock);
		return o ? -EEXIST : -ENOENT;
	}
	/* Out of `from` (its tree, its LRU) and its counters ... */
	radix_sum(s, o->root, o->height, &f);
	obj_unlink(pf, bf, o);
	struct tmem_stripe *sf = tmem_stripe(pf, h), *st = tmem_stripe(pt, h);
	TMEM_ADD(sf->pages, -o->pages);
	TMEM_ADD(sf->pampd_bytes, -f.bytes);
	TMEM_ADD(sf->objnodes, -f.nodes);
	if (o->pins)
		TMEM_ADD(sf->pinned, -1);
	/* ... into `to`'s, whole: the radix tree and the pins travel along. */
	obj_link(pt, bt, o);
	TMEM_ADD(st->pages, o->pages);
	TMEM_ADD(st->pampd_bytes, f.bytes);
	TMEM_ADD(st->objnodes, f.nodes);
	if (o->pins)
		TMEM_ADD(st->pinned, 1);
	else if (tmem_ephemeral(pt))
		lru_touch(s, pt, o);	/* unpinned means it holds pages */
	tmem_unlock(&bt->lock);
	tmem_unlock(&bf->lock);
	maybe_grow(s, pt);
	return 0;
}

/* ---- statistics ----------------------------------------------------- */

static void pool_stats(struct tmem_pool *p, struct tmem_pool_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->id = p->id;
	out->kind = atomic_load_explicit(&p->kind, memory_order_relaxed);
	out->codec = atomic_load_explicit(&p->codec, memory_order_relaxed);
	for (unsigned i = 0; i < TMEM_STRIPES; i++) {
		struct tmem_stripe *st = &p->stripes[i];
		out->puts += TMEM_READ(st->puts);
		out->replaces += TMEM_READ(st->replaces);
		out->failed_puts += TMEM_READ(st->failed_puts);
		out->gets += TMEM_READ(st->gets);
		out->failed_gets += TMEM_READ(st->failed_gets);
		out->flushes += TMEM_READ(st->flushes);
		out->pages += TMEM_READ(st->pages);
		out->pampd_bytes += TMEM_READ(st->pampd_bytes);
		out->objnodes += TMEM_READ(st->objnodes);
		out->pinned_objects += TMEM_READ(st->pinned);
	}
	out->objects = TMEM_READ(p->nobjects);
	out->flush_objects = TMEM_READ(p->flush_objects);
	out->evictions = TMEM_READ(p->evictions);
	out->evicted_pages = TMEM_READ(p->evicted_pages);
	out->resizes = TMEM_READ(p->resizes);
	out->buckets = atomic_load_explicit(&p->table, memory_order_acquire)->nbuckets;
	out->meta_bytes = out->objects * TMEM_OBJ_SIZE + out->objnodes * TMEM_OBJNODE_SIZE +
			  TMEM_READ(p->table_bytes);
}

int tmem_pool_stats(struct tmem_store *s, int pool, struct tmem_pool_stats *out)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	pool_stats(p, out);
	return 0;
}

void tmem_stats(struct tmem_store *s, struct tmem_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->pool_lock);
	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (!p)
			continue;
		struct tmem_pool_stats ps;
		pool_stats(p, &ps);
		out->pools++;
		if (ps.kind == TMEM_POOL_EPHEMERAL)
			out->ephemeral_pools++;
#define TMEM_STATS_SUM(name, comment) out->name += ps.name;
		TMEM_STATS_FIELDS(TMEM_STATS_SUM)
#undef TMEM_STATS_SUM
	}
	pthread_mutex_unlock(&s->pool_lock);
}

/* ---- invariants ----------------------------------------------------- */

struct tmem_check_ctx {
	struct tmem_store *s;
	struct tmem_pool *p;
	struct tmem_table *t;
	uint32_t bucket;
	tmem_pampd *pampds;	/* every pampd seen, store-wide */
	size_t npampds, cap;
	uint64_t objects, pinned, lru_objects, pages, bytes, nodes;
};

#define CHECK(cond, ...)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "tmem_check: " __VA_ARGS__);	\
			fputc('\n', stderr);				\
			return -EUCLEAN;				\
		}							\
	} while (0)

static int check_add_pampd(struct tmem_check_ctx *c, tmem_pampd v)
{
	size_t sz = c->s->pam->size(c->s->pam_ctx, v);
	c->bytes += sz;
	c->pages++;
	/* A pampd that holds no memory is a value (a same-filled page kept
	 * in the handle itself) and may legitimately repeat; one that holds
	 * memory must be reachable from exactly one slot. */
	if (!sz)
		return 0;
	if (c->npampds == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 1024;
		tmem_pampd *n = realloc(c->pampds, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->pampds = n;
		c->cap = ncap;
	}
	c->pampds[c->npampds++] = v;
	return 0;
}

/* Walk an objnode at level l covering [base, base + 16^l); returns the
 * pages under it or a negative errno. */
static int64_t check_node(struct tmem_check_ctx *c, const struct tmem_objnode *n, unsigned l)
{
	unsigned used = 0;
	int64_t pages = 0;
	c->nodes++;
	for (unsigned d = 0; d < TMEM_FAN; d++) {
		uint64_t v = n->slots[d];
		if (!v)
			continue;
		used++;
		if (l == 1) {
			int r = check_add_pampd(c, v);
			if (r < 0)
				return r;
			pages++;
		} else {
			int64_t r = check_node(c, (const struct tmem_objnode *)(uintptr_t)v, l - 1);
			if (r < 0)
				return r;
			pages += r;
		}
	}
	CHECK(used == n->count, "pool %u: objnode %p counts %u slots, holds %u", c->p->id,
	      (const void *)n, n->count, used);
	CHECK(used > 0, "pool %u: empty objnode %p at level %u", c->p->id, (const void *)n, l);
	return pages;
}

static int check_obj(struct tmem_check_ctx *c, const struct tmem_obj *o)
{
	uint32_t id = c->p->id;
	CHECK((tmem_hash(&o->oid) & c->t->mask) == c->bucket,
	      "pool %u: object %016llx.. in bucket %u, hashes to %u", id,
	      (unsigned long long)o->oid.oid[0], c->bucket,
	      (unsigned)(tmem_hash(&o->oid) & c->t->mask));
	CHECK(o->height <= TMEM_MAX_HEIGHT, "pool %u: object height %u", id, o->height);
	int64_t pages = 0;
	if (!o->root) {
		CHECK(o->height == 0, "pool %u: empty object of height %u", id, o->height);
	} else if (o->height == 0) {
		int r = check_add_pampd(c, o->root);
		if (r < 0)
			return r;
		pages = 1;
	} else {
		pages = check_node(c, (const struct tmem_objnode *)(uintptr_t)o->root, o->height);
		if (pages < 0)
			return (int)pages;
	}
	CHECK((uint64_t)pages == o->pages, "pool %u: object counts %llu pages, holds %lld", id,
	      (unsigned long long)o->pages, (long long)pages);
	CHECK(o->pages || o->pins, "pool %u: object with no page and no pin", id);
	bool want_lru = c->p->kind == TMEM_POOL_EPHEMERAL && !o->pins;
	CHECK(o->on_lru == want_lru, "pool %u: object on_lru %u, expected %u", id, o->on_lru,
	      want_lru);
	c->objects++;
	c->pinned += o->pins != 0;
	c->lru_objects += o->on_lru;
	return 0;
}

/* Check the subtree at n (parent `parent`, keys strictly between lo and
 * hi when given); returns its black height or a negative errno. */
static int check_rb(struct tmem_check_ctx *c, const struct tmem_obj *n,
		    const struct tmem_obj *parent, const struct tmem_oid *lo,
		    const struct tmem_oid *hi)
{
	if (!n)
		return 1;
	uint32_t id = c->p->id;
	CHECK(rb_parent(n) == parent, "pool %u: bad parent link in bucket %u", id, c->bucket);
	CHECK(!lo || tmem_oid_cmp(lo, &n->oid) < 0, "pool %u: tree order broken in bucket %u", id,
	      c->bucket);
	CHECK(!hi || tmem_oid_cmp(&n->oid, hi) < 0, "pool %u: tree order broken in bucket %u", id,
	      c->bucket);
	if (rb_is_red(n))
		CHECK(!rb_is_red(n->left) && !rb_is_red(n->right),
		      "pool %u: red node with a red child in bucket %u", id, c->bucket);
	int lh = check_rb(c, n->left, n, lo, &n->oid);
	if (lh < 0)
		return lh;
	int rh = check_rb(c, n->right, n, &n->oid, hi);
	if (rh < 0)
		return rh;
	CHECK(lh == rh, "pool %u: black heights %d and %d differ in bucket %u", id, lh, rh,
	      c->bucket);
	int r = check_obj(c, n);
	if (r < 0)
		return r;
	return lh + !rb_is_red(n);
}

/* Caller holds every lock of the pool. */
static int check_pool(struct tmem_check_ctx *c)
{
	struct tmem_pool *p = c->p;
	struct tmem_table *t = c->t;
	uint32_t id = p->id;
	CHECK(t->nbuckets && (t->nbuckets & (t->nbuckets - 1)) == 0 &&
		      t->mask == t->nbuckets - 1 && !t->moved,
	      "pool %u: bad current table", id);
	uint64_t table_bytes = 0;
	for (const struct tmem_table *o = t; o; o = o->older) {
		CHECK(o == t || (o->moved && o->nbuckets < t->nbuckets),
		      "pool %u: retired table not marked moved", id);
		table_bytes += o->bytes;
		if (o != t)
			for (uint32_t i = 0; i < o->nbuckets; i++)
				CHECK(!o->b[i].root && !o->b[i].nobjs,
				      "pool %u: retired table holds objects", id);
	}
	CHECK(table_bytes == TMEM_READ(p->table_bytes), "pool %u: table bytes %llu, counted %llu",
	      id, (unsigned long long)table_bytes,
	      (unsigned long long)TMEM_READ(p->table_bytes));

	c->objects = c->pinned = c->lru_objects = c->pages = c->bytes = c->nodes = 0;
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct tmem_bucket *b = &t->b[i];
		uint64_t before = c->objects;
		c->bucket = i;
		CHECK(!rb_is_red(b->root), "pool %u: red root in bucket %u", id, i);
		int r = check_rb(c, b->root, NULL, NULL, NULL);
		if (r < 0)
			return r;
		CHECK(c->objects - before == b->nobjs, "pool %u: bucket %u counts %u objects, holds %llu",
		      id, i, b->nobjs, (unsigned long long)(c->objects - before));
	}

	/* The LRU: exactly the objects marked on_lru, in stamp order. */
	uint64_t n = 0, last = 0;
	const struct tmem_obj *prev = NULL;
	for (const struct tmem_obj *o = p->lru_head; o; prev = o, o = o->lru_next) {
		CHECK(o->lru_prev == prev, "pool %u: LRU back link broken", id);
		CHECK(o->on_lru, "pool %u: object on the LRU not marked", id);
		CHECK(o->lru_stamp >= last, "pool %u: LRU stamps out of order", id);
		last = o->lru_stamp;
		CHECK(++n <= c->lru_objects, "pool %u: LRU longer than its objects", id);
	}
	CHECK(p->lru_tail == prev, "pool %u: LRU tail is not the last object", id);
	CHECK(n == c->lru_objects, "pool %u: LRU holds %llu objects, %llu are marked", id,
	      (unsigned long long)n, (unsigned long long)c->lru_objects);

	struct tmem_pool_stats ps;
	pool_stats(p, &ps);
	CHECK(ps.objects == c->objects, "pool %u: %llu objects counted, %llu found", id,
	      (unsigned long long)ps.objects, (unsigned long long)c->objects);
	CHECK(ps.pinned_objects == c->pinned, "pool %u: %llu pinned counted, %llu found", id,
	      (unsigned long long)ps.pinned_objects, (unsigned long long)c->pinned);
	CHECK(ps.pages == c->pages, "pool %u: %llu pages counted, %llu found", id,
	      (unsigned long long)ps.pages, (unsigned long long)c->pages);
	CHECK(ps.pampd_bytes == c->bytes, "pool %u: %llu pampd bytes counted, %llu found", id,
	      (unsigned long long)ps.pampd_bytes, (unsigned long long)c->bytes);
	CHECK(ps.objnodes == c->nodes, "pool %u: %llu objnodes counted, %llu found", id,
	      (unsigned long long)ps.objnodes, (unsigned long long)c->nodes);
	return 0;
}

static int check_cmp_pampd(const void *a, const void *b)
{
	tmem_pampd x = *(const tmem_pampd *)a, y = *(const tmem_pampd *)b;
	return x < y ? -1 : x > y;
}

/* The whole store is held still while it is checked: every pool's
 * resize_lock and bucket locks in ascending pool id, then every pool's
 * lru_lock (leaf locks, nobody else holds two), so that a pampd freed from
 * one pool cannot reappear in another between their walks. */
int tmem_check(struct tmem_store *s)
{
	struct tmem_check_ctx c;
	memset(&c, 0, sizeof(c));
	c.s = s;
	int ret = 0;
	pthread_mutex_lock(&s->pool_lock);
	struct tmem_table **tables = calloc(TMEM_MAX_POOLS, sizeof(*tables));
	if (!tables) {
		pthread_mutex_unlock(&s->pool_lock);
		return -ENOMEM;
	}
	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (p)
			tables[i] = lock_all(p);
	}
	for (int i = 0; i < TMEM_MAX_POOLS; i++)
		if (tables[i])
			tmem_lock(&atomic_load_explicit(&s->pools[i], memory_order_relaxed)->lru_lock);

	for (int i = 0; i < TMEM_MAX_POOLS && !ret; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (!p)
			continue;
		if (p->id != (uint32_t)i) {
			fprintf(stderr, "tmem_check: pool in slot %d says it is %u\n", i, p->id);
			ret = -EUCLEAN;
			break;
		}
		c.p = p;
		c.t = tables[i];
		ret = check_pool(&c);
	}
	if (!ret && c.npampds) {
		qsort(c.pampds, c.npampds, sizeof(*c.pampds), check_cmp_pampd);
		for (size_t i = 1; i < c.npampds && !ret; i++) {
			if (c.pampds[i] == c.pampds[i - 1]) {
				fprintf(stderr, "tmem_check: pampd %#llx reachable twice\n",
					(unsigned long long)c.pampds[i]);
				ret = -EUCLEAN;
			}
		}
	}

	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (p) {
			tmem_unlock(&p->lru_lock);
			unlock_all(p, tables[i]);
		}
	}
	pthread_mutex_unlock(&s->pool_lock);
	free(tables);
	free(c.pampds);
	return ret;
}

/* ---- malloc hostops ------------------------------------------------- */

static void *tmem_malloc_obj_alloc(void *ctx)
{
	(void)ctx;
	return malloc(TMEM_OBJ_SIZE);
}

static void *tmem_malloc_objnode_alloc(void *ctx)
{
	(void)ctx;
	return malloc(TMEM_OBJNODE_SIZE);
}

static void tmem_malloc_node_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static void *tmem_malloc_mem_alloc(void *ctx, size_t bytes)
{
	(void)ctx;
	return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

static void tmem_malloc_mem_free(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	(void)bytes;
	free(p);
}

const struct tmem_hostops tmem_malloc_hostops = {
	.obj_alloc = tmem_malloc_obj_alloc,
	.obj_free = tmem_malloc_node_free,
	.objnode_alloc = tmem_malloc_objnode_alloc,
	.objnode_free = tmem_malloc_node_free,
	.mem_alloc = tmem_malloc_mem_alloc,
	.mem_free = tmem_malloc_mem_free,
};

/* ---- slab hostops --------------------------------------------------- */

struct tmem_slab_host {
	struct buddy *b;
	struct slab_cache *objs;
	struct slab_cache *nodes;
};

static void *tmem_slab_obj_alloc(void *ctx)
{
	return slab_alloc(((struct tmem_slab_host *)ctx)->objs);
}

static void tmem_slab_obj_free(void *ctx, void *p)
{
	slab_free(((struct tmem_slab_host *)ctx)->objs, p);
}

static void *tmem_slab_objnode_alloc(void *ctx)
{
	return slab_alloc(((struct tmem_slab_host *)ctx)->nodes);
}

static void tmem_slab_objnode_free(void *ctx, void *p)
{
	slab_free(((struct tmem_slab_host *)ctx)->nodes, p);
}

static void *tmem_slab_mem_alloc(void *ctx, size_t bytes)
{
	return buddy_alloc(((struct tmem_slab_host *)ctx)->b, bytes);
}

static void tmem_slab_mem_free(void *ctx, void *p, size_t bytes)
{
	buddy_free(((struct tmem_slab_host *)ctx)->b, p, bytes);
}

const struct tmem_hostops tmem_slab_hostops = {
	.obj_alloc = tmem_slab_obj_alloc,
	.obj_free = tmem_slab_obj_free,
	.objnode_alloc = tmem_slab_objnode_alloc,
	.objnode_free = tmem_slab_objnode_free,
	.mem_alloc = tmem_slab_mem_alloc,
	.mem_free = tmem_slab_mem_free,
};

struct tmem_slab_host *tmem_slab_host_create(struct buddy *b)
{
	struct tmem_slab_host *h = calloc(1, sizeof(*h));
	if (!h)
		goto err;
	h->b = b;
	/* 8-byte alignment keeps the objects at their exact sizes. */
	h->objs = slab_create("tmem_obj", TMEM_OBJ_SIZE, 8, b);
	if (!h->objs)
		goto err_host;
	h->nodes = slab_create("tmem_objnode", TMEM_OBJNODE_SIZE, 8, b);
	if (!h->nodes)
		goto err_objs;
	return h;

err_objs:
	slab_destroy(h->objs);
err_host:
	free(h);
err:
	errno = ENOMEM;
	return NULL;
}

void tmem_slab_host_destroy(struct tmem_slab_host *h)
{
	if (!h)
		return;
	slab_destroy(h->nodes);
	slab_destroy(h->objs);
	free(h);
}

struct slab_cache *tmem_slab_host_cache(struct tmem_slab_host *h, int which)
{
	return which == 0 ? h->objs : which == 1 ? h->nodes : NULL;
}
