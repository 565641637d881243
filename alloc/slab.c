/* slab.c - object caches for fixed-size metadata (a user-space kmem_cache).
 *
 * The contract, the memory layout, the magazine protocol and the lock order
 * are described in slab.h; this file follows it.  In short:
 *
 *   - a slab is one buddy block of c->slab_size bytes (a power of two, at
 *     most BUDDY_CHUNK_SIZE, so the block is aligned to its size); its
 *     struct slab header sits at the start and objects follow at c->first,
 *     c->stride bytes apart.  slab_of() masks an object address;
 *   - objects leave a slab lazily: [0, carved) have been handed out at least
 *     once, the rest were never touched (a new slab costs no page faults);
 *     freed objects return to the slab's LIFO free list, linked through
 *     their first word;
 *   - every thread has a magazine per cache (found through a thread-local
 *     array indexed by the cache id, validated by the cache generation);
 *     slab_alloc/slab_free pop/push it without a lock and without an atomic
 *     read-modify-write or a hardware fence; the rest runs under c->lock;
 *   - debug builds poison free objects in their bytes (double free, write
 *     after free), ASan builds in ASan's shadow (any access after free);
 *     debug builds can also fail chosen slab_alloc calls on purpose (fault
 *     injection, see slab.h).
 */
#include "alloc/slab.h"
#include "alloc/fault.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc/buddy.h"

#define SLAB_MAX_SIZE ((size_t)1 << 20)		/* largest object */
#define SLAB_MAX_ALIGN ((size_t)4096)		/* largest alignment */
#define SLAB_MIN_OBJS 8				/* objects a slab should hold */
#define SLAB_MAG_BYTES ((size_t)64 << 10)	/* bytes a magazine may park */
#define SLAB_MAGIC 0x5a63536c61624844ull	/* "ZcSlabHD" */
#define SLAB_FREE_TAG 0x6b1dfee5deadf00dull	/* debug: word 1 of a free object */
#define SLAB_POISON 0x6b			/* debug: bytes of a free object */

/* What the layout relies on: a slab is a buddy block of at most one chunk,
 * so it is aligned to its (power-of-two) size and masking finds its
 * header; a page-aligned slab start satisfies every object alignment; even
 * the largest object fits a chunk-sized slab with room for 3; the free
 * list link fits the smallest stride. */
static_assert((BUDDY_CHUNK_SIZE & (BUDDY_CHUNK_SIZE - 1)) == 0, "chunk size is a power of two");
static_assert(SLAB_MAX_ALIGN <= BUDDY_PAGE_SIZE, "slabs are page aligned");
static_assert(3 * SLAB_MAX_SIZE + SLAB_MAX_ALIGN <= BUDDY_CHUNK_SIZE, "big objects fit a slab");
static_assert(sizeof(void *) <= 8, "the free-list link fits the minimum stride");
static_assert(SLAB_MAG_SIZE >= 2 && SLAB_MAG_SIZE <= UINT32_MAX, "magazine size");

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

enum slab_list_id { SLAB_PARTIAL, SLAB_FULL, SLAB_EMPTY, SLAB_NLISTS };

/* Intrusive circular doubly linked list node; the cache holds sentinels. */
struct slab_node {
	struct slab_node *next, *prev;
};

/* The header at the start of every slab (buddy block). */
struct slab {
	struct slab_node node;		/* on c->lists[list]; protected by c->lock */
	struct slab_cache *cache;	/* owner; constant */
	uint64_t magic;			/* SLAB_MAGIC; constant */
	void *free;			/* free list; protected by c->lock */
	uint32_t inuse;			/* objects out of the slab (users and
					   magazines); protected by c->lock */
	uint32_t carved;		/* objects [0, carved) have left the slab
					   once; protected by c->lock */
	uint32_t list;			/* enum slab_list_id; protected by c->lock */
	uint32_t nfree;			/* length of the free list; protected by c->lock */
	uint64_t pad;			/* to one cache line */
};
static_assert(sizeof(struct slab) == 64, "the slab header is one cache line");
static_assert(offsetof(struct slab, node) == 0, "node first: container_of is a cast");

/* A thread's magazine for one cache.  count, busy and flush_req are
 * atomics only so that the protocol is expressible in C11; the owner
 * accesses them with relaxed/acquire/release loads and stores, which are
 * plain moves on x86-64 and arm64 (no read-modify-write, no fence). */
struct slab_mag {
	_Atomic uint32_t count;		/* objects in objs[]; owner, or c->lock
					   holder while frozen / in the slow path */
	_Atomic uint32_t busy;		/* 1 while the owner is in a fast path */
	_Atomic uint32_t flush_req;	/* 1 while a c->lock holder owns objs[] */
	uint32_t pad;
	struct slab_mag *next, *prev;	/* on c->mags; protected by c->lock */
	void *objs[SLAB_MAG_SIZE];	/* LIFO; objs[count-1] is the hottest */
};


struct slab_cache {
	/* Constant after slab_create; read by the fast paths. */
	uint32_t id;			/* index into the thread-local slot arrays */
	bool strong_fence;		/* no membarrier(): owners use a real fence */
	uint64_t gen;			/* unique for the life of the process */
	size_t size;			/* object size as given */
	size_t align;			/* effective alignment (>= 8) */
	size_t stride;			/* distance between objects */
	size_t first;			/* offset of object 0 in a slab */
	size_t slab_size;		/* bytes per slab, a power of two */
	uint32_t objs_per_slab;
	uint32_t mag_max;		/* magazine capacity for this cache */
	uint32_t mag_batch;		/* objects per refill / flush */
	struct buddy *src;
	char name[SLAB_NAME_MAX];

	pthread_mutex_t lock;
	struct slab_node lists[SLAB_NLISTS];	/* protected by lock */
	uint64_t nlist[SLAB_NLISTS];		/* slabs on each list; protected by lock */
	uint64_t inuse;			/* sum of slab->inuse; protected by lock */
	struct slab_mag mags;		/* sentinel of every magazine of this cache
					   (only next/prev used); protected by lock */
	uint64_t nmags;			/* protected by lock */
	struct zc_fault fault;	/* atomics; debug builds only */
};

/* ------------------------------------------------------------------ */
/* Process-wide state.  Only what the per-thread fast path genuinely needs:
 * the id -> cache table (so that an exiting thread can tell whether the
 * cache of each of its magazines still exists), the generation counter, the
 * pthread key whose destructor flushes an exiting thread's magazines, and
 * whether membarrier() works.  Caches themselves hold all other state. */

struct slab_slot {
	uint64_t gen;			/* generation of the cache mag belongs to */
	struct slab_mag *mag;		/* valid only while gen is that of a live cache */
};

struct slab_tls {
	uint32_t n;			/* slots in s[] */
	uint32_t pad;
	struct slab_slot s[];		/* indexed by cache id */
};

static struct {
	pthread_mutex_t lock;		/* the registry lock; order: before c->lock */
	struct slab_cache **caches;	/* by id, NULL = free id; protected by lock */
	uint32_t cap;			/* entries in caches[]; protected by lock */
	uint64_t next_gen;		/* protected by lock */
	pthread_once_t once;
	pthread_key_t key;		/* set by once, constant afterwards */
	int key_err;			/* set by once, constant afterwards */
	bool membarrier_ok;		/* set by once, constant afterwards */
} slab_reg = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.next_gen = 1,
	.once = PTHREAD_ONCE_INIT,
};

static _Thread_local struct slab_tls *slab_tls;

static void slab_tls_exit(void *arg);

static void slab_reg_init(void)
{
	slab_reg.key_err = pthread_key_create(&slab_reg.key, slab_tls_exit);
	/* Register for the cheap private expedited membarrier; when the kernel
	 * lacks it (or ZC_SLAB_NO_MEMBARRIER is set, to test that path), owners
	 * fall back to a seq_cst fence in the fast path. */
	slab_reg.membarrier_ok = !getenv("ZC_SLAB_NO_MEMBARRIER") &&
		syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* ------------------------------------------------------------------ */
/* Debug builds: poison free objects, detect double free and wrong cache. */

static inline struct slab *slab_of(const struct slab_cache *c, const void *obj)
{
	return (struct slab *)((uintptr_t)obj & ~(uintptr_t)(c->slab_size - 1));
}

#ifdef ZC_DEBUG
#define SLAB_MIN_STRIDE 16	/* word 0: free-list link, word 1: free tag */

static void slab_die(const struct slab_cache *c, const char *what, const void *obj)
{
	fprintf(stderr, "slab %s: %s (object %p)\n", c->name, what, obj);
	abort();
}

static inline uint64_t slab_tag(const void *obj)
{
	return SLAB_FREE_TAG ^ (uintptr_t)obj;
}

static bool slab_debug_is_poisoned(const struct slab_cache *c, const void *obj)
{
	const unsigned char *p = obj;
	uint64_t tag;
	size_t i;

	memcpy(&tag, p + 8, sizeof(tag));
	if (tag != slab_tag(obj))
		return false;
	for (i = 16; i < c->stride; i++)
		if (p[i] != SLAB_POISON)
			return false;
	return true;
}

static void slab_debug_poison(const struct slab_cache *c, void *obj)
{
	uint64_t tag = slab_tag(obj);

	memcpy((char *)obj + 8, &tag, sizeof(tag));
	memset((char *)obj + 16, SLAB_POISON, c->stride - 16);
}

/* An object is being freed into c: it must be an object of one of c's
 * slabs (looks at the slab header only). */
static void slab_debug_owner(const struct slab_cache *c, const void *obj)
{
	const struct slab *s = slab_of(c, obj);
	uintptr_t off = (uintptr_t)obj - (uintptr_t)s;

	if (s->magic != SLAB_MAGIC || s->cache != c)
		slab_die(c, "free of an object of another cache or not from a slab", obj);
	if (off < c->first || (off - c->first) % c->stride ||
	    (off - c->first) / c->stride >= c->objs_per_slab)
		slab_die(c, "free of a pointer that is not an object start", obj);
}

/* ... and it must not be free already; poison it. */
static void slab_debug_free(const struct slab_cache *c, void *obj)
{
	uint64_t tag;

	memcpy(&tag, (char *)obj + 8, sizeof(tag));
	if (tag == slab_tag(obj))
		slab_die(c, "double free", obj);
	slab_debug_poison(c, obj);
}

/* An object is being handed out: it must still carry the poison. */
static void slab_debug_alloc(const struct slab_cache *c, void *obj)
{
	uint64_t zero = 0;

	if (!slab_debug_is_poisoned(c, obj))
		slab_die(c, "free object was modified (use after free?)", obj);
	memcpy((char *)obj + 8, &zero, sizeof(zero));
}
#else
#define SLAB_MIN_STRIDE 8	/* word 0: free-list link */

static inline bool slab_debug_is_poisoned(const struct slab_cache *c, const void *obj)
{
	(void)c;
	(void)obj;
	return true;
}

static inline void slab_debug_poison(const struct slab_cache *c, void *obj)
{
	(void)c;
	(void)obj;
}

static inline void slab_debug_owner(const struct slab_cache *c, const void *obj)
{
	(void)c;
	(void)obj;
}

static inline void slab_debug_free(const struct slab_cache *c, void *obj)
{
	(void)c;
	(void)obj;
}

static inline void slab_debug_alloc(const struct slab_cache *c, void *obj)
{
	(void)c;
	(void)obj;
}
#endif

/* ------------------------------------------------------------------ */
/* Fault injection (debug builds; see slab.h).  The countdown is a few
 * atomics in the cache, touched only while armed, so an unarmed debug
 * cache pays one relaxed load per slab_alloc. */

int slab_fault_set(struct slab_cache *c, uint64_t nth, uint64_t every)
{
	zc_fault_arm(&c->fault, nth, every);
	return ZC_FAULT_SET_RESULT;
}

uint64_t slab_fault_count(struct slab_cache *c)
{
	return zc_fault_count(&c->fault);
}

/* ------------------------------------------------------------------ */
/* AddressSanitizer builds: every object that is not in a user's hands (in
 * a magazine, on a free list, never carved) is poisoned, so a user's read
 * or write after slab_free is reported like a use after free(), and the
 * bytes between an object's size and its stride are poisoned while the
 * user holds it (overflows into the padding are reported too).  The
 * allocator unpoisons an object while it works on it itself. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>

static inline void slab_asan_hide(const struct slab_cache *c, void *obj)
{
	ASAN_POISON_MEMORY_REGION(obj, c->stride);
}

static inline void slab_asan_show(const struct slab_cache *c, void *obj)
{
	ASAN_UNPOISON_MEMORY_REGION(obj, c->stride);
}

/* The object goes to its user: only its first c->size bytes are valid. */
static inline void slab_asan_give(const struct slab_cache *c, void *obj)
{
	ASAN_UNPOISON_MEMORY_REGION(obj, c->stride);
	if (c->size < c->stride)
		ASAN_POISON_MEMORY_REGION((char *)obj + c->size, c->stride - c->size);
}

static inline void slab_asan_hide_slab(const struct slab_cache *c, void *s)
{
	ASAN_POISON_MEMORY_REGION((char *)s + c->first, (size_t)c->objs_per_slab * c->stride);
}
#else
static inline void slab_asan_hide(const struct slab_cache *c, void *obj)
{
	(void)c;
	(void)obj;
}

static inline void slab_asan_show(const struct slab_cache *c, void *obj)
{
	(void)c;
	(void)obj;
}

static inline void slab_asan_give(const struct slab_cache *c, void *obj)
{
	(void)c;
	(void)obj;
}

static inline void slab_asan_hide_slab(const struct slab_cache *c, void *s)
{
	(void)c;
	(void)s;
}
#endif

/* ------------------------------------------------------------------ */
/* Slab lists.  Caller must hold c->lock for all of these. */

static inline void slab_node_add(struct slab_node *head, struct slab_node *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

static inline void slab_node_del(struct slab_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = NULL;
}

static inline void slab_move(struct slab_cache *c, struct slab *s, enum slab_list_id to)
{
	slab_node_del(&s->node);
	c->nlist[s->list]--;
	slab_node_add(&c->lists[to], &s->node);
	c->nlist[to]++;
	s->list = to;
}

static void slab_release(struct slab_cache *c, struct slab *s)
{
	slab_node_del(&s->node);
	c->nlist[s->list]--;
	s->magic = 0;
	buddy_free(c->src, s, c->slab_size);
}

static struct slab *slab_new(struct slab_cache *c)
{
	struct slab *s = buddy_alloc(c->src, c->slab_size);

	if (!s)
		return NULL;
	s->cache = c;
	s->magic = SLAB_MAGIC;
	s->free = NULL;
	s->inuse = 0;
	s->carved = 0;
	s->nfree = 0;
	s->list = SLAB_EMPTY;
	slab_asan_hide_slab(c, s);
	slab_node_add(&c->lists[SLAB_EMPTY], &s->node);
	c->nlist[SLAB_EMPTY]++;
	return s;
}

/* Take one object out of the slabs: from the first partial slab, else the
 * kept empty slab, else (if grow) a new slab.  The object is returned still
 * free in every sense but its slab's count (poisoned under ASan).  Returns
 * NULL (errno ENOMEM from buddy) when no slab can be had.  Caller must
 * hold c->lock. */
static void *slab_get_obj(struct slab_cache *c, bool grow)
{
	struct slab *s;
	void *obj;

	if (c->nlist[SLAB_PARTIAL])
		s = (struct slab *)c->lists[SLAB_PARTIAL].next;
	else if (c->nlist[SLAB_EMPTY])
		s = (struct slab *)c->lists[SLAB_EMPTY].next;
	else if (!grow || !(s = slab_new(c)))
		return NULL;

	if (s->free) {
		obj = s->free;
		slab_asan_show(c, obj);
		s->free = *(void **)obj;
		s->nfree--;
	} else {
		obj = (char *)s + c->first + (size_t)s->carved * c->stride;
		s->carved++;
		slab_asan_show(c, obj);
		slab_debug_poison(c, obj);	/* every object outside a user's hands is poisoned */
	}
	slab_asan_hide(c, obj);
	s->inuse++;
	c->inuse++;
	if (s->inuse == c->objs_per_slab)
		slab_move(c, s, SLAB_FULL);
	else if (s->list == SLAB_EMPTY)
		slab_move(c, s, SLAB_PARTIAL);
	return obj;
}

/* Return one object to its slab; a slab that becomes empty is kept if it
 * is the only empty one, else given back to buddy.  Caller must hold
 * c->lock. */
static void slab_put_obj(struct slab_cache *c, void *obj)
{
	struct slab *s = slab_of(c, obj);

	slab_asan_show(c, obj);
	*(void **)obj = s->free;
	slab_asan_hide(c, obj);
	s->free = obj;
	s->nfree++;
	s->inuse--;
	c->inuse--;
	if (s->inuse == 0) {
		if (c->nlist[SLAB_EMPTY] >= 1)
			slab_release(c, s);
		else
			slab_move(c, s, SLAB_EMPTY);
	} else if (s->list == SLAB_FULL) {
		slab_move(c, s, SLAB_PARTIAL);
	}
}

/* An object (poisoned under ASan) goes to the user. */
static inline void slab_hand_out(const struct slab_cache *c, void *obj)
{
	slab_asan_show(c, obj);
	slab_debug_alloc(c, obj);
	slab_asan_give(c, obj);
}

/* An object comes back from the user; afterwards it is poisoned. */
static inline void slab_take_back(const struct slab_cache *c, void *obj)
{
	slab_debug_owner(c, obj);
	slab_asan_show(c, obj);
	slab_debug_free(c, obj);
	slab_asan_hide(c, obj);
}

/* ------------------------------------------------------------------ */
/* Magazines: the lock-free fast path and the protocol that lets a c->lock
 * holder take a magazine's objects (see slab.h, "Magazine protocol"). */

/* The calling thread's magazine for c, or NULL if it has none yet. */
static inline struct slab_mag *slab_mag_of(const struct slab_cache *c)
{
	struct slab_tls *t = slab_tls;

	if (likely(t && c->id < t->n) && likely(t->s[c->id].gen == c->gen))
		return t->s[c->id].mag;
	return NULL;
}

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer models neither membarrier() nor standalone fences (gcc
 * refuses atomic_thread_fence under it), so TSan builds use the plain C11
 * form of the handshake: seq_cst store of busy, seq_cst load of flush_req
 * (an atomic exchange on x86: slower, checkable). */
static inline bool slab_mag_enter(const struct slab_cache *c, struct slab_mag *m)
{
	(void)c;
	atomic_store_explicit(&m->busy, 1, memory_order_seq_cst);
	if (likely(!atomic_load_explicit(&m->flush_req, memory_order_seq_cst)))
		return true;
	atomic_store_explicit(&m->busy, 0, memory_order_release);
	return false;
}

/* The freezer's side: its seq_cst store and load suffice. */
static inline void slab_freeze_fence(const struct slab_cache *c, bool only_own)
{
	(void)c;
	(void)only_own;
}
#else
/* Owner side of the Dekker handshake: publish busy, then look at
 * flush_req.  The store->load order is enforced by the membarrier() that
 * a freezer issues (a compiler barrier suffices here), or by a real fence
 * when membarrier is unavailable.  Returns true when the owner may use the
 * magazine; false when a c->lock holder owns it (the owner takes the slow
 * path, which waits for c->lock). */
static inline bool slab_mag_enter(const struct slab_cache *c, struct slab_mag *m)
{
	atomic_store_explicit(&m->busy, 1, memory_order_relaxed);
	if (unlikely(c->strong_fence))
		atomic_thread_fence(memory_order_seq_cst);
	else
		atomic_signal_fence(memory_order_seq_cst);
	/* acquire: pairs with the release that ends a freeze, so the owner
	 * sees the count and objs[] the freezer left. */
	if (likely(!atomic_load_explicit(&m->flush_req, memory_order_acquire)))
		return true;
	atomic_store_explicit(&m->busy, 0, memory_order_release);
	return false;
}

/* The asymmetric fence.  It cannot fail once registration succeeded (the
 * process is registered for good); if it ever did, the protocol would be
 * unsound, so that is fatal rather than silent corruption. */
static void slab_membarrier(void)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)) {
		perror("slab: membarrier");
		abort();
	}
}

/* The freezer's side of the handshake, between its stores of flush_req
 * and its loads of busy.  membarrier() runs a full barrier on every thread
 * of the process that is running now (sleeping threads pass one when they
 * are scheduled): every owner either published busy = 1 before it (the
 * freezer sees it and waits) or reads flush_req = 1 on its next fast path.
 * Not needed when the only magazine is the caller's own. */
static inline void slab_freeze_fence(const struct slab_cache *c, bool only_own)
{
	if (c->strong_fence)
		atomic_thread_fence(memory_order_seq_cst);
	else if (!only_own)
		slab_membarrier();
}
#endif

/* release: a freezer that reads busy == 0 sees every change the owner made
 * to count and objs[] before. */
static inline void slab_mag_leave(struct slab_mag *m)
{
	atomic_store_explicit(&m->busy, 0, memory_order_release);
}

/* Freezer side: take every magazine of c away from its owner.  On return
 * no owner is inside a fast path on any of c's magazines and none will
 * enter one until slab_mags_thaw().  Caller must hold c->lock. */
static void slab_mags_freeze(struct slab_cache *c)
{
	const struct slab_mag *own = slab_mag_of(c);
	struct slab_mag *m;

	if (!c->nmags)
		return;
	for (m = c->mags.next; m != &c->mags; m = m->next)
		atomic_store_explicit(&m->flush_req, 1, memory_order_seq_cst);
	slab_freeze_fence(c, c->nmags == 1 && c->mags.next == own);
	for (m = c->mags.next; m != &c->mags; m = m->next) {
		unsigned spins = 0;

		/* The owner's window is a handful of instructions; it only
		 * lasts longer when the owner was preempted inside it. */
		while (atomic_load_explicit(&m->busy, memory_order_seq_cst))
			if (++spins > 64)
				sched_yield();
	}
}

/* Give the magazines back to their owners.  Caller must hold c->lock. */
static void slab_mags_thaw(struct slab_cache *c)
{
	struct slab_mag *m;

	for (m = c->mags.next; m != &c->mags; m = m->next)
		atomic_store_explicit(&m->flush_req, 0, memory_order_release);
}

/* Return the bottom `n` objects of m (the coldest) to their slabs.  Caller
 * must hold c->lock and own m (its thread, or frozen). */
static void slab_mag_flush(struct slab_cache *c, struct slab_mag *m, uint32_t n)
{
	uint32_t count = atomic_load_explicit(&m->count, memory_order_relaxed);
	uint32_t i;

	if (n > count)
		n = count;
	for (i = 0; i < n; i++)
		slab_put_obj(c, m->objs[i]);
	memmove(m->objs, m->objs + n, (count - n) * sizeof(m->objs[0]));
	atomic_store_explicit(&m->count, count - n, memory_order_relaxed);
}

/* The calling thread's magazine for c, created and registered if needed.
 * Returns NULL when memory for it cannot be had (callers then work on the
 * slabs directly, under the lock). */
static struct slab_mag *slab_mag_get(struct slab_cache *c)
{
	struct slab_mag *m = slab_mag_of(c);
	struct slab_tls *t = slab_tls;

	if (m)
		return m;
	pthread_once(&slab_reg.once, slab_reg_init);
	if (slab_reg.key_err)
		return NULL;
	if (!t || c->id >= t->n) {
		uint32_t n = t ? t->n : 0;
		uint32_t want = n ? 2 * n : 8;
		struct slab_tls *nt;

		while (want <= c->id)
			want *= 2;
		nt = calloc(1, sizeof(*nt) + (size_t)want * sizeof(nt->s[0]));
		if (!nt)
			return NULL;
		if (t)
			memcpy(nt->s, t->s, (size_t)n * sizeof(nt->s[0]));
		nt->n = want;
		/* The key's value is what the exit destructor receives; until it
		 * is replaced, the old array stays the registered one. */
		if (pthread_setspecific(slab_reg.key, nt)) {
			free(nt);
			return NULL;	/* callers work on the slabs directly */
		}
		free(t);
		slab_tls = t = nt;
	}
	/* Cache-line aligned and sized: no false sharing with other data. */
	m = aligned_alloc(64, (sizeof(*m) + 63) & ~(size_t)63);
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	pthread_mutex_lock(&c->lock);
	m->next = c->mags.next;
	m->prev = &c->mags;
	c->mags.next->prev = m;
	c->mags.next = m;
	c->nmags++;
	pthread_mutex_unlock(&c->lock);
	t->s[c->id].mag = m;
	t->s[c->id].gen = c->gen;
	return m;
}

/* Caller must hold c->lock and own m. */
static void slab_mag_unlink(struct slab_cache *c, struct slab_mag *m)
{
	m->prev->next = m->next;
	m->next->prev = m->prev;
	c->nmags--;
}

/* pthread key destructor: give an exiting thread's magazines back.  Holds
 * the registry lock throughout, so a cache cannot be destroyed (and its
 * magazines freed) while we look at it. */
static void slab_tls_exit(void *arg)
{
	struct slab_tls *t = arg;
	uint32_t i;

	pthread_mutex_lock(&slab_reg.lock);
	for (i = 0; i < t->n; i++) {
		struct slab_cache *c;
		struct slab_mag *m = t->s[i].mag;

		if (!m || i >= slab_reg.cap)
			continue;
		c = slab_reg.caches[i];
		if (!c || c->gen != t->s[i].gen)
			continue;	/* destroyed: slab_destroy freed m */
		pthread_mutex_lock(&c->lock);
		slab_mag_flush(c, m, SLAB_MAG_SIZE);
		slab_mag_unlink(c, m);
		pthread_mutex_unlock(&c->lock);
		free(m);
	}
	pthread_mutex_unlock(&slab_reg.lock);
	if (slab_tls == t)
		slab_tls = NULL;
	free(t);
}

/* ------------------------------------------------------------------ */
/* Public API */

struct slab_cache *slab_create(const char *name, size_t size, size_t align,
			       struct buddy *src)
{
	struct slab_cache *c;
	size_t a, stride, first, ssize;
	uint32_t id;
	int i;

	if (!src || size == 0 || size > SLAB_MAX_SIZE || align > SLAB_MAX_ALIGN ||
	    (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	/* Natural alignment: a C type's alignment divides its size, so the
	 * largest power of two dividing size (at most 16, malloc's) suits any
	 * type of that size without padding a 24-byte object to 32. */
	a = align ? align : ((size & (~size + 1)) < 16 ? 8 : 16);
	if (a < 8)
		a = 8;		/* the free-list link is a pointer */
	stride = (size < SLAB_MIN_STRIDE ? SLAB_MIN_STRIDE : size);
	stride = (stride + a - 1) & ~(a - 1);
	first = (sizeof(struct slab) + a - 1) & ~(a - 1);
	for (ssize = BUDDY_PAGE_SIZE; ssize < BUDDY_CHUNK_SIZE; ssize *= 2)
		if ((ssize - first) / stride >= SLAB_MIN_OBJS)
			break;

	pthread_once(&slab_reg.once, slab_reg_init);
	c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
	c->size = size;
	c->align = a;
	c->stride = stride;
	c->first = first;
	c->slab_size = ssize;
	c->objs_per_slab = (uint32_t)((ssize - first) / stride);
	c->mag_max = (uint32_t)(SLAB_MAG_BYTES / stride);
	if (c->mag_max > SLAB_MAG_SIZE)
		c->mag_max = SLAB_MAG_SIZE;
	if (c->mag_max < 2)
		c->mag_max = 2;
	c->mag_batch = c->mag_max / 2;
	c->src = src;
	c->strong_fence = !slab_reg.membarrier_ok;
	zc_fault_init(&c->fault, "ZC_FAULT_SLAB", "slab");
	for (i = 0; i < SLAB_NLISTS; i++)
		c->lists[i].next = c->lists[i].prev = &c->lists[i];
	c->mags.next = c->mags.prev = &c->mags;
	if (pthread_mutex_init(&c->lock, NULL))
		goto err_free;

	pthread_mutex_lock(&slab_reg.lock);
	for (id = 0; id < slab_reg.cap && slab_reg.caches[id]; id++)
		;
	if (id == slab_reg.cap) {
		uint32_t ncap = slab_reg.cap ? 2 * slab_reg.cap : 16;
		struct slab_cache **nc = realloc(slab_reg.caches, ncap * sizeof(*nc));

		if (!nc)
			goto err_unlock;
		memset(nc + slab_reg.cap, 0, (ncap - slab_reg.cap) * sizeof(*nc));
		slab_reg.caches = nc;
		slab_reg.cap = ncap;
	}
	c->id = id;
	c->gen = slab_reg.next_gen++;
	slab_reg.caches[id] = c;
	pthread_mutex_unlock(&slab_reg.lock);
	return c;

err_unlock:
	pthread_mutex_unlock(&slab_reg.lock);
	pthread_mutex_destroy(&c->lock);
err_free:
	free(c);
	errno = ENOMEM;
	return NULL;
}

void slab_destroy(struct slab_cache *c)
{
	struct slab_mag *m, *next;
	int i;

	if (!c)
		return;
	/* Under the registry lock: an exiting thread either flushed its
	 * magazine before (it is off c->mags then) or will find the id free. */
	pthread_mutex_lock(&slab_reg.lock);
	slab_reg.caches[c->id] = NULL;
	for (m = c->mags.next; m != &c->mags; m = next) {
		next = m->next;
		free(m);
	}
	pthread_mutex_unlock(&slab_reg.lock);
	for (i = 0; i < SLAB_NLISTS; i++)
		while (c->lists[i].next != &c->lists[i])
			slab_release(c, (struct slab *)c->lists[i].next);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Out of line so that the fast path stays a leaf without a frame. */
__attribute__((noinline)) static void *slab_alloc_slow(struct slab_cache *c)
{
	struct slab_mag *m = slab_mag_get(c);
	void *obj = NULL;

	pthread_mutex_lock(&c->lock);
	if (m) {
		/* No freezer runs while we hold the lock, so m is ours. */
		uint32_t n = atomic_load_explicit(&m->count, memory_order_relaxed);

		/* A refill takes a new slab only when nothing else is left. */
		while (n < c->mag_batch) {
			void *o = slab_get_obj(c, n == 0);

			if (!o)
				break;
			m->objs[n++] = o;
		}
		if (n) {
			obj = m->objs[--n];
			atomic_store_explicit(&m->count, n, memory_order_relaxed);
		}
	} else {
		obj = slab_get_obj(c, true);
	}
	pthread_mutex_unlock(&c->lock);
	if (!obj)
		errno = ENOMEM;
	return obj;
}

void *slab_alloc(struct slab_cache *c)
{
	struct slab_mag *m = slab_mag_of(c);
	void *obj;

	if (unlikely(zc_fault_fire(&c->fault))) {
		errno = ENOMEM;
		return NULL;
	}
	if (likely(m) && likely(slab_mag_enter(c, m))) {
		uint32_t n = atomic_load_explicit(&m->count, memory_order_relaxed);

		if (likely(n)) {
			obj = m->objs[n - 1];
			atomic_store_explicit(&m->count, n - 1, memory_order_relaxed);
			slab_mag_leave(m);
			slab_hand_out(c, obj);
			return obj;
		}
		slab_mag_leave(m);
	}
	obj = slab_alloc_slow(c);
	if (obj)
		slab_hand_out(c, obj);
	return obj;
}

/* Out of line so that the fast path stays a leaf without a frame. */
__attribute__((noinline)) static void slab_free_slow(struct slab_cache *c, void *obj)
{
	struct slab_mag *m = slab_mag_get(c);

	pthread_mutex_lock(&c->lock);
	if (m) {
		uint32_t n = atomic_load_explicit(&m->count, memory_order_relaxed);

		if (n >= c->mag_max) {
			slab_mag_flush(c, m, c->mag_batch);
			n -= c->mag_batch;
		}
		m->objs[n] = obj;
		atomic_store_explicit(&m->count, n + 1, memory_order_relaxed);
	} else {
		slab_put_obj(c, obj);
	}
	pthread_mutex_unlock(&c->lock);
}

void slab_free(struct slab_cache *c, void *obj)
{
	struct slab_mag *m;

	if (!obj)
		return;
	slab_take_back(c, obj);
	m = slab_mag_of(c);
	if (likely(m) && likely(slab_mag_enter(c, m))) {
		uint32_t n = atomic_load_explicit(&m->count, memory_order_relaxed);

		if (likely(n < c->mag_max)) {
			m->objs[n] = obj;
			atomic_store_explicit(&m->count, n + 1, memory_order_relaxed);
			slab_mag_leave(m);
			return;
		}
		slab_mag_leave(m);
	}
	slab_free_slow(c, obj);
}

static inline uint64_t slab_count(const struct slab_cache *c)
{
	return c->nlist[SLAB_PARTIAL] + c->nlist[SLAB_FULL] + c->nlist[SLAB_EMPTY];
}

size_t slab_shrink(struct slab_cache *c)
{
	struct slab_mag *m;
	uint64_t before;
	size_t freed;

	pthread_mutex_lock(&c->lock);
	before = slab_count(c);
	slab_mags_freeze(c);
	for (m = c->mags.next; m != &c->mags; m = m->next)
		slab_mag_flush(c, m, SLAB_MAG_SIZE);
	slab_mags_thaw(c);
	/* slab_put_obj kept at most one empty slab; give that back too. */
	while (c->nlist[SLAB_EMPTY])
		slab_release(c, (struct slab *)c->lists[SLAB_EMPTY].next);
	freed = (size_t)(before - slab_count(c)) * c->slab_size;
	pthread_mutex_unlock(&c->lock);
	return freed;
}

void slab_stats(struct slab_cache *c, struct slab_stats *out)
{
	const struct slab_mag *m;
	uint64_t parked = 0, slabs;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	/* Magazine counts change under their owners' feet: approximate. */
	for (m = c->mags.next; m != &c->mags; m = m->next)
		parked += atomic_load_explicit(&m->count, memory_order_relaxed);
	slabs = slab_count(c);
	out->active_objs = c->inuse > parked ? c->inuse - parked : 0;
	out->num_objs = slabs * c->objs_per_slab;
	out->slabs = slabs;
	pthread_mutex_unlock(&c->lock);
	snprintf(out->name, sizeof(out->name), "%s", c->name);
	out->objsize = c->size;
	out->objs_per_slab = c->objs_per_slab;
	out->pages_per_slab = c->slab_size / BUDDY_PAGE_SIZE;
	out->bytes = slabs * c->slab_size;
}

/* ------------------------------------------------------------------ */
/* slab_check */

struct slab_check_ent {
	struct slab *s;
	unsigned char *seen;	/* one byte per object: 1 free in slab, 2 in a magazine */
};

static int slab_check_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct slab_check_ent *)a)->s;
	uintptr_t y = (uintptr_t)((const struct slab_check_ent *)b)->s;

	return x < y ? -1 : x > y;
}

#define SLAB_BAD(...)							\
	do {								\
		fprintf(stderr, "slab_check %s: ", c->name);		\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		ret = -EUCLEAN;						\
		goto out;						\
	} while (0)

/* The index of obj in slab s, or -1 when obj is not an object start of s. */
static long slab_obj_index(const struct slab_cache *c, const struct slab *s, const void *obj)
{
	uintptr_t off = (uintptr_t)obj - (uintptr_t)s;

	if ((uintptr_t)obj < (uintptr_t)s || off < c->first ||
	    (off - c->first) % c->stride || (off - c->first) / c->stride >= c->objs_per_slab)
		return -1;
	return (long)((off - c->first) / c->stride);
}

/* Caller must hold c->lock with the magazines frozen. */
static int slab_check_locked(struct slab_cache *c)
{
	static const uint32_t expect[SLAB_NLISTS] = { SLAB_PARTIAL, SLAB_FULL, SLAB_EMPTY };
	struct slab_check_ent *ents = NULL;
	uint64_t nslabs = c->nlist[0] + c->nlist[1] + c->nlist[2];
	uint64_t k = 0, inuse = 0, parked = 0, nmags = 0;
	const struct slab_mag *m;
	int ret = 0, l;

	if (c->nlist[SLAB_EMPTY] > 1)
		SLAB_BAD("%" PRIu64 " empty slabs kept (at most 1)", (uint64_t)c->nlist[SLAB_EMPTY]);
	if (nslabs) {
		ents = calloc(nslabs, sizeof(*ents));
		if (!ents)
			return -ENOMEM;
	}
	for (l = 0; l < SLAB_NLISTS; l++) {
		const struct slab_node *n;
		uint64_t cnt = 0;

		for (n = c->lists[l].next; n != &c->lists[l]; n = n->next) {
			struct slab *s = (struct slab *)n;
			void *obj, *next;
			uint32_t nfree = 0;

			if (++cnt > c->nlist[l])
				SLAB_BAD("list %d holds more than its count %" PRIu64, l, c->nlist[l]);
			if (n->next->prev != n || n->prev->next != n)
				SLAB_BAD("list %d: broken links at slab %p", l, (void *)s);
			if ((uintptr_t)s & (c->slab_size - 1))
				SLAB_BAD("slab %p not aligned to %zu", (void *)s, c->slab_size);
			if (s->magic != SLAB_MAGIC || s->cache != c)
				SLAB_BAD("slab %p: bad magic or owner", (void *)s);
			if (s->list != expect[l])
				SLAB_BAD("slab %p on list %d says list %u", (void *)s, l, s->list);
			if (s->carved > c->objs_per_slab || s->inuse > s->carved)
				SLAB_BAD("slab %p: inuse %u carved %u of %u", (void *)s, s->inuse,
					 s->carved, c->objs_per_slab);
			if ((l == SLAB_FULL && s->inuse != c->objs_per_slab) ||
			    (l == SLAB_EMPTY && s->inuse != 0) ||
			    (l == SLAB_PARTIAL && (s->inuse == 0 || s->inuse == c->objs_per_slab)))
				SLAB_BAD("slab %p on list %d has %u of %u objects in use", (void *)s,
					 l, s->inuse, c->objs_per_slab);
			ents[k].s = s;
			ents[k].seen = calloc(c->objs_per_slab, 1);
			if (!ents[k].seen) {
				ret = -ENOMEM;
				goto out;
			}
			for (obj = s->free; obj; obj = next) {
				long idx = slab_obj_index(c, s, obj);

				if (idx < 0)
					SLAB_BAD("slab %p: free object %p outside the slab or misaligned",
						 (void *)s, obj);
				if ((uint32_t)idx >= s->carved)
					SLAB_BAD("slab %p: free object %p never carved", (void *)s, obj);
				if (ents[k].seen[idx])
					SLAB_BAD("slab %p: free object %p twice on the free list",
						 (void *)s, obj);
				ents[k].seen[idx] = 1;
				nfree++;
				slab_asan_show(c, obj);
				if (!slab_debug_is_poisoned(c, obj)) {
					slab_asan_hide(c, obj);
					SLAB_BAD("slab %p: free object %p modified after free",
						 (void *)s, obj);
				}
				next = *(void **)obj;
				slab_asan_hide(c, obj);
			}
			if (nfree != s->nfree || s->inuse + nfree != s->carved)
				SLAB_BAD("slab %p: inuse %u + free %u (counted %u) != carved %u",
					 (void *)s, s->inuse, nfree, s->nfree, s->carved);
			inuse += s->inuse;
			k++;
		}
		if (cnt != c->nlist[l])
			SLAB_BAD("list %d holds %" PRIu64 " slabs, count says %" PRIu64, l, cnt,
				 c->nlist[l]);
	}
	if (inuse != c->inuse)
		SLAB_BAD("slabs have %" PRIu64 " objects in use, cache counter %" PRIu64, inuse,
			 c->inuse);
	if (k)
		qsort(ents, k, sizeof(*ents), slab_check_cmp);
	for (m = c->mags.next; m != &c->mags; m = m->next) {
		uint32_t i, count = atomic_load_explicit(&m->count, memory_order_relaxed);

		if (++nmags > c->nmags)
			SLAB_BAD("more magazines than the count %" PRIu64, c->nmags);
		if (count > c->mag_max)
			SLAB_BAD("magazine %p holds %u objects (max %u)", (const void *)m, count,
				 c->mag_max);
		for (i = 0; i < count; i++) {
			void *obj = m->objs[i];
			struct slab_check_ent key = { .s = slab_of(c, obj) }, *e;
			long idx;

			e = k ? bsearch(&key, ents, k, sizeof(*ents), slab_check_cmp) : NULL;
			if (!e)
				SLAB_BAD("magazine %p: object %p is not in any slab of the cache",
					 (const void *)m, obj);
			idx = slab_obj_index(c, e->s, obj);
			if (idx < 0 || (uint32_t)idx >= e->s->carved)
				SLAB_BAD("magazine %p: %p is not a handed-out object", (const void *)m,
					 obj);
			if (e->seen[idx])
				SLAB_BAD("magazine %p: object %p also %s", (const void *)m, obj,
					 e->seen[idx] == 1 ? "on a slab free list" : "in a magazine");
			slab_asan_show(c, obj);
			if (!slab_debug_is_poisoned(c, obj)) {
				slab_asan_hide(c, obj);
				SLAB_BAD("magazine %p: free object %p modified after free",
					 (const void *)m, obj);
			}
			slab_asan_hide(c, obj);
			e->seen[idx] = 2;
			parked++;
		}
	}
	if (nmags != c->nmags)
		SLAB_BAD("%" PRIu64 " magazines listed, count says %" PRIu64, nmags, c->nmags);
	if (parked > c->inuse)
		SLAB_BAD("%" PRIu64 " objects parked in magazines but only %" PRIu64 " in use",
			 parked, c->inuse);
out:
	for (uint64_t j = 0; j < nslabs && ents; j++)
		free(ents[j].seen);
	free(ents);
	return ret;
}

int slab_check(struct slab_cache *c)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	slab_mags_freeze(c);
	ret = slab_check_locked(c);
	slab_mags_thaw(c);
	pthread_mutex_unlock(&c->lock);
	return ret;
}
