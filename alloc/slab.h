/* slab.h - object caches for fixed-size metadata (a user-space kmem_cache).
 *
 * A cache hands out objects of one size and alignment.  Objects are carved
 * from slabs: blocks taken from alloc/buddy (one page, or a larger power of
 * two when an object is big), each beginning with a 64-byte slab header so
 * that slab_free can find an object's slab by masking its address (buddy
 * blocks are aligned to their size).  Freed objects return to their
 * slab's free list; a slab whose objects are all free goes back to the buddy
 * allocator (one empty slab per cache is kept to avoid thrashing).
 *
 * Fast path: each thread keeps a small magazine of free objects per cache,
 * so slab_alloc and slab_free normally take no lock.  Magazines are flushed
 * back to the cache when they overflow, when the thread exits, and by
 * slab_shrink / slab_destroy.
 *
 * Threads: slab_alloc, slab_free, slab_shrink, slab_stats and slab_check
 * are thread safe and may run concurrently on one cache (slab_create too,
 * on different caches); slab_destroy may not run concurrently with anything
 * else on its cache.  cache->lock protects the slab lists, the counters and
 * the list of magazines; nothing is taken under it except buddy->lock.
 * Lock order: slab registry lock -> cache->lock -> buddy->lock (the
 * registry lock is internal: slab_create, slab_destroy, thread exit).
 * Callers may hold their own locks when they call in: tmem allocates its
 * nodes under a bucket lock, so the store's order is tmem bucket lock ->
 * cache->lock -> buddy->lock.  Nothing here calls back out, so no cycle.
 * None of these functions is async-signal-safe: do not call them from a
 * signal handler.
 *
 * Errors: NULL or a negative errno; nothing changes on failure.
 *
 * ---------------------------------------------------------------------
 * Design notes (the implementation in slab.c follows these).
 *
 * Slab layout.  A slab is one buddy block of S bytes: the smallest power of
 * two from 4 KiB that holds at least 8 objects, capped at 4 MiB (the
 * largest block aligned to its size; above ~512 KiB objects a 4 MiB slab
 * holds fewer than 8, at least 3).  The 64-byte header is at offset 0;
 * object i is at first + i * stride, where first is the header size rounded
 * up to the alignment and stride is the size rounded up to the alignment
 * (at least 8 bytes, 16 in ZC_DEBUG builds).  The effective alignment is
 * max(align, 8); align 0 means 16 when size is a multiple of 16, else 8
 * (a C type's alignment divides its size, so that suits any type).
 * slab_free finds the header as obj & ~(S - 1).  Objects leave a new slab
 * in address order on demand ("carving"), so a new slab costs no page
 * faults beyond the ones its objects take; freed objects go on the slab's
 * LIFO free list, linked through the object's first word.  Each cache keeps
 * partial, full and empty lists; allocation prefers the first partial slab,
 * then the one kept empty slab, then a new slab from buddy.
 *
 * Magazines.  Each thread has, per cache, a magazine: a stack of free
 * objects.  Its capacity is 64 KiB worth of objects, at least 2 and at most
 * SLAB_MAG_SIZE (64 for objects up to 1 KiB, 16 for 4 KiB objects, 2 for
 * 32 KiB and more), so a thread never parks much memory.  slab_alloc pops
 * it and slab_free pushes it with no lock, no atomic read-modify-write and
 * no hardware fence.  An empty magazine is refilled with half its capacity
 * and a full one gives back its coldest half, both under cache->lock; a
 * refill takes objects from partial slabs (then the kept empty one) and
 * maps a new slab only when it found nothing, so refills do not grow the
 * cache beyond what is used.  Objects in magazines count as in use by
 * their slabs and as free in slab_stats.
 *
 * Finding the magazine in O(1).  slab_create gives every cache a small id
 * (the lowest free one) and a 64-bit generation that is never reused.
 * Each thread has a thread-local array of slots indexed by id, each holding
 * (generation, magazine).  The fast path reads slot[c->id] and uses the
 * magazine only if the slot's generation equals c's: a magazine of a
 * destroyed cache is never used by a later cache given the same id (and is
 * never dereferenced at all: slab_destroy freed it).  A thread's slot array
 * starts at 8 slots and is replaced by a copy twice as large when the
 * thread first uses a cache whose id lies beyond it.
 *
 * Process-wide state, and why.  One registry (a mutex, the id -> cache
 * table and the generation counter) exists because thread-local slots are
 * indexed by id and an exiting thread must learn, for each of its slots,
 * whether that cache still exists; one pthread key whose destructor flushes
 * an exiting thread's magazines; and whether membarrier() works.  Nothing
 * else is global; the registry is touched only by slab_create,
 * slab_destroy and thread exit.
 *
 * Magazine protocol (how a cache->lock holder takes a magazine from a
 * thread that may be in its lock-free fast path at that moment).  Every
 * magazine is on its cache's list (cache->lock).  A magazine has two flags,
 * busy (written only by its owner) and flush_req (written only under
 * cache->lock).  Owner fast path:
 *
 *     busy = 1 (relaxed); compiler barrier;
 *     if (flush_req (acquire)) { busy = 0; take the slow path }
 *     pop or push;  busy = 0 (release)
 *
 * "Freeze" (slab_shrink, slab_check), with cache->lock held:
 *
 *     flush_req = 1 (seq_cst) on every magazine;
 *     membarrier(PRIVATE_EXPEDITED)   (skipped if the only magazine is ours);
 *     wait until busy == 0 (seq_cst, so at least acquire) on every magazine;
 *     ... the magazines are the freezer's: flush or inspect them ...
 *     flush_req = 0 (release) on every magazine
 *
 * This is Dekker's handshake with an asymmetric fence: the store->load
 * order the owner needs between busy = 1 and reading flush_req is supplied
 * by membarrier(), which makes every running thread of the process execute
 * a full barrier (and a thread that is not running passes one when it is
 * scheduled).  So either the owner's busy = 1 was visible before the
 * freezer reads busy (it waits for the release of busy = 0, which also
 * publishes the owner's last change to the magazine), or the owner reads
 * flush_req = 1, backs off and takes the slow path, which blocks on
 * cache->lock until the freeze is over; there the release/acquire pair on
 * flush_req shows the owner the magazine as the freezer left it.  The owner
 * never blocks with busy = 1, so the wait is short (it yields the CPU if the
 * owner was preempted inside its few instructions).  When the kernel lacks
 * membarrier (or the environment variable ZC_SLAB_NO_MEMBARRIER is set when
 * the first cache is created, which the tests use), both sides use a
 * seq_cst fence instead (still correct, slower).  ThreadSanitizer builds
 * use seq_cst stores and loads, which TSan can check.  The owner's slow
 * path, thread exit and the freezer all work on a magazine only under
 * cache->lock, so they exclude each other.
 *
 * Lifetime.  A magazine is created on a thread's first slow path for the
 * cache and put on the cache's list.  At thread exit the pthread key
 * destructor, holding the registry lock, flushes and frees each magazine
 * whose cache is still registered with the same generation; slab_destroy,
 * holding the registry lock, unregisters the cache and frees every
 * magazine still on its list.  The main thread runs no key destructors when
 * the process exits; its magazines are freed by slab_destroy.
 *
 * Debug builds (ZC_DEBUG) poison every free object (word 1 holds a tag
 * derived from the address, the rest of the stride is 0x6b) and check the
 * poison when the object is handed out again (write after free), and abort
 * with a message on a double free, a free into the wrong cache, or a free
 * of a pointer that is not an object's start.  slab_check also verifies the
 * poison of every free object then.  AddressSanitizer builds additionally
 * poison (in ASan's shadow) every object not in a user's hands and the
 * padding between an object's size and its stride, so a read or write
 * after slab_free, or past the object's size, is reported at once.
 */
#ifndef ZC_ALLOC_SLAB_H
#define ZC_ALLOC_SLAB_H

#include <stddef.h>
#include <stdint.h>

struct buddy;
struct slab_cache;

#define SLAB_NAME_MAX 32
#define SLAB_MAG_SIZE 64	/* most objects a thread's magazine holds */

/* One cache's figures, like a line of /proc/slabinfo.  Counts include the
 * objects parked in per-thread magazines as free; the magazine counts are
 * read without stopping their threads, so active_objs may be a moment out
 * of date while other threads allocate (it is exact when they are idle).
 * Everything else is read under cache->lock and exact.  The figures are
 * declared once, X(name, comment), for the struct and its printers
 * (fuse/render.c: stats.json; alloc/slabinfo keeps /proc/slabinfo's
 * column format). */
#define SLAB_STATS_FIELDS(X)						\
	X(active_objs, "objects handed out now")			\
	X(num_objs, "objects in all slabs (active + free)")		\
	X(objsize, "object size as given, bytes")			\
	X(objs_per_slab, "objects a slab holds")			\
	X(pages_per_slab, "pages a slab takes from buddy")		\
	X(slabs, "slabs held now")					\
	X(bytes, "memory held from buddy: slabs * pages_per_slab * 4096")

#define SLAB_STATS_DECLARE(name, comment) uint64_t name;
struct slab_stats {
	char name[SLAB_NAME_MAX];
	SLAB_STATS_FIELDS(SLAB_STATS_DECLARE)
};
#undef SLAB_STATS_DECLARE

/* Create a cache of objects of `size` bytes (1 .. 1 MiB) aligned to `align`
 * (0 = natural alignment of 8 or 16 bytes: 16 when size is a multiple of
 * 16, else 8; otherwise a power of two up to 4096).  `name` is copied
 * (truncated to SLAB_NAME_MAX-1 chars; NULL is an empty name).  Slabs
 * come from `src`, which must outlive the cache; no slab is taken until
 * the first slab_alloc.  The caller owns the cache and
 * frees it with slab_destroy.  Thread safe.
 * Returns NULL with errno EINVAL for a bad size or alignment or a NULL
 * src, ENOMEM when out of memory; nothing is allocated then. */
struct slab_cache *slab_create(const char *name, size_t size, size_t align,
			       struct buddy *src);

/* Free every slab and the cache itself, whether or not objects are still
 * handed out (they become invalid), and every thread's magazine for it
 * (threads that are still alive simply never use theirs again).
 * slab_destroy(NULL) does nothing.  No other call on this cache may run
 * concurrently or afterwards; other caches are unaffected. */
void slab_destroy(struct slab_cache *c);

/* Take one object (contents unspecified), aligned as slab_create said.
 * The caller owns it until slab_free.  Thread safe; normally lock-free
 * (the calling thread's magazine), else takes cache->lock and possibly a
 * new slab from buddy.  Returns NULL with errno ENOMEM when no slab can be
 * had; the cache is unchanged then. */
void *slab_alloc(struct slab_cache *c);

/* Return an object to its cache; any thread may free an object another
 * thread allocated.  slab_free(c, NULL) does nothing.  Thread safe;
 * normally lock-free, else takes cache->lock (and may give an emptied slab
 * back to buddy).  Freeing an object twice, into the wrong cache, or a
 * pointer that is not an object start is undefined; debug builds (ZC_DEBUG)
 * detect it and abort with a message. */
void slab_free(struct slab_cache *c, void *obj);

/* Flush every thread's magazine of this cache (also of threads running on
 * it right now, through the protocol above) and return every empty slab to
 * the buddy allocator, the one normally kept included.  Returns the number
 * of bytes given back (0 if none).  Thread safe; holds cache->lock
 * throughout, so the cache's slow paths wait meanwhile.  Cannot fail. */
size_t slab_shrink(struct slab_cache *c);

/* Fill *out with the cache's figures (see struct slab_stats).  Thread
 * safe; takes cache->lock briefly.  Cannot fail. */
void slab_stats(struct slab_cache *c, struct slab_stats *out);

/* Verify the cache: every slab is aligned to its size and carries its
 * magic and owner; it sits on the list its use count implies (partial,
 * full, empty; at most one empty); its free list holds distinct, aligned,
 * previously handed-out objects inside it; free + used counts add up to
 * what it has handed out; the lists hold as many slabs as their counters
 * say and the use counts sum to the cache's; every object parked in a
 * magazine belongs to a slab of this cache and is on no free list and in
 * no other magazine; in debug builds every free object is still poisoned.
 * Thread safe: freezes the magazines (see above) and holds cache->lock.
 * Returns 0, -EUCLEAN after printing the first violation to stderr, or
 * -ENOMEM if it cannot allocate its scratch space. */
int slab_check(struct slab_cache *c);

/* ---- fault injection (test builds) ----------------------------------
 *
 * Builds with ZC_DEBUG can make chosen object allocations fail, to drive
 * every caller's out-of-memory path (tests/fault.c).  slab_create reads the
 * environment variable ZC_FAULT_SLAB:
 *     "N"    the Nth slab_alloc call on the cache from then on fails;
 *     "N/M"  so do, after it, every Mth call: N, N+M, N+2M, ...
 * Unset, empty or "0": no fault.  A malformed value is reported on stderr
 * and ignored.  Every cache created while the variable is set counts its
 * own calls.  An injected failure is an ordinary one: NULL with errno
 * ENOMEM, the cache unchanged.  (Slabs themselves come from buddy_alloc:
 * ZC_FAULT_BUDDY fails those.)  Builds without ZC_DEBUG ignore the
 * variable and never inject.  The countdown is atomic, so calls from
 * several threads are counted exactly, but which thread's call is the Nth
 * is then up to the scheduler. */

/* Re-arm the cache's countdown from now: the nth slab_alloc call from now
 * fails (0: no fault), then every `every`th (0: none after it).  Returns 0,
 * or -EOPNOTSUPP in builds without ZC_DEBUG (nothing happens).  Thread
 * safe; calls counted while it re-arms may count against either setting. */
int slab_fault_set(struct slab_cache *c, uint64_t nth, uint64_t every);

/* Failures injected into this cache so far (0 without ZC_DEBUG). */
uint64_t slab_fault_count(struct slab_cache *c);

#endif /* ZC_ALLOC_SLAB_H */
