/* slab.h - object caches for fixed-size metadata (a user-space kmem_cache).
 *
 * A cache hands out objects of one size and alignment.  Objects are carved
 * from slabs: blocks taken from alloc/buddy (one page, or a larger power of
 * two when an object is big), each beginning or ending with a small slab
 * header so that slab_free can find an object's slab by masking its address
 * (buddy blocks are aligned to their size).  Freed objects return to their
 * slab's free list; a slab whose objects are all free goes back to the buddy
 * allocator (one empty slab per cache is kept to avoid thrashing).
 *
 * Fast path: each thread keeps a small magazine of free objects per cache,
 * so slab_alloc and slab_free normally take no lock.  Magazines are flushed
 * back to the cache when they overflow, when the thread exits, and by
 * slab_shrink / slab_destroy.
 *
 * Threads: slab_alloc and slab_free are thread safe.  cache->lock protects
 * the slab lists; it is taken after nothing and nothing is taken under it
 * except buddy->lock (order: slab cache lock -> buddy lock).
 *
 * Errors: NULL or a negative errno; nothing changes on failure.
 */
#ifndef ZC_ALLOC_SLAB_H
#define ZC_ALLOC_SLAB_H

#include <stddef.h>
#include <stdint.h>

struct buddy;
struct slab_cache;

#define SLAB_NAME_MAX 32

/* One cache's figures, like a line of /proc/slabinfo.  Counts include the
 * objects parked in per-thread magazines as free (read without stopping
 * other threads, so they may be a moment out of date). */
struct slab_stats {
	char name[SLAB_NAME_MAX];
	uint64_t active_objs;	/* objects handed out now */
	uint64_t num_objs;	/* objects in all slabs (active + free) */
	uint64_t objsize;	/* object size as given, bytes */
	uint64_t objs_per_slab;
	uint64_t pages_per_slab;
	uint64_t slabs;		/* slabs held now */
	uint64_t bytes;		/* memory held from buddy: slabs * pages_per_slab * 4096 */
};

/* Create a cache of objects of `size` bytes (1 .. 1 MiB) aligned to `align`
 * (0 = natural alignment of 8 or 16 bytes; otherwise a power of two up to
 * 4096).  `name` is copied (truncated to SLAB_NAME_MAX-1 chars).  Slabs
 * come from `src`, which must outlive the cache.
 * Returns NULL with errno EINVAL for a bad size or alignment, ENOMEM when
 * out of memory. */
struct slab_cache *slab_create(const char *name, size_t size, size_t align,
			       struct buddy *src);

/* Free every slab and the cache itself, whether or not objects are still
 * handed out (they become invalid).  slab_destroy(NULL) does nothing.  No
 * other call on this cache may run concurrently or afterwards. */
void slab_destroy(struct slab_cache *c);

/* Take one object (contents unspecified).  Returns NULL with errno ENOMEM
 * when no slab can be had; the cache is unchanged then. */
void *slab_alloc(struct slab_cache *c);

/* Return an object to its cache.  slab_free(c, NULL) does nothing.  Freeing
 * an object twice or into the wrong cache is detected in debug builds. */
void slab_free(struct slab_cache *c, void *obj);

/* Flush every thread's magazine of this cache and return empty slabs to
 * the buddy allocator.  Returns the number of bytes given back. */
size_t slab_shrink(struct slab_cache *c);

/* Fill *out with the cache's figures. */
void slab_stats(struct slab_cache *c, struct slab_stats *out);

/* Verify the cache: every slab's free list holds distinct in-slab objects,
 * free + used counts add up to the slab's capacity, the lists hold the
 * slabs their counts say, and the totals match the counters.  Returns 0 or
 * -EUCLEAN after printing the first violation to stderr. */
int slab_check(struct slab_cache *c);

#endif /* ZC_ALLOC_SLAB_H */
