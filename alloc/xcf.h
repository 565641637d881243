/* xcf.h - xcfmalloc: compressed objects packed densely into 4 KiB pages,
 * relocatable, with compaction.
 *
 * Design
 * ------
 * A pool stores objects of 1 .. XCF_MAX_SIZE bytes (compressed pages) in
 * 4 KiB pages taken from alloc/buddy.  Callers never hold a pointer into
 * pool memory: they get an opaque handle and copy the whole object in and
 * out with xcf_write / xcf_read.  That is what lets the pool move objects
 * (compaction) behind the caller's back.
 *
 * Page layout.  Every page is tiled exactly by blocks that start at a
 * multiple of 64 bytes and are 64 .. 4096 bytes long.  Each block begins with
 * an in-page header of XCF_HDR_SIZE bytes: one 64-bit word packing the
 * owning descriptor's address (0 for a free block), the block's size and the
 * offset of the previous block in the page (both in 64-byte units), and the
 * number of unused tail bytes in the block (so the exact object size needs
 * no other field); debug builds (ZC_DEBUG) add an 8-byte sentinel word
 * that is verified on every access.  A free block keeps its free-list links
 * in its own body, so free space costs no metadata.
 *
 *     page:  | hdr | object A .... pad | hdr | free (links) | hdr | B ... |
 *            0                         64*k                              4096
 *
 * Descriptors.  Each object has one descriptor of XCF_DESC_SIZE (8) bytes
 * from an alloc/slab cache: two 32-bit block references (page-table index
 * and offset), the second one unused unless the object is split.  The handle
 * is the descriptor's address.  The pool keeps a page table (one 64-bit word
 * per page: address, units in use, flags), so the metadata is 8 bytes of
 * descriptor + 8 bytes of block header per object (one more header when it
 * is split), and 8 bytes per page.  Limits: 2^26 pages (256 GiB) per pool;
 * descriptor addresses below 2^48 (every user-space address on x86-64 and
 * arm64 unless 5-level paging is asked for explicitly).
 *
 * Placement.  64 free lists, list i holding the free blocks of (i + 1) * 64
 * bytes; list 63 holds the wholly free pages (the reserve).  An object needs
 * n = ceil((size + XCF_HDR_SIZE) / 64) units.  xcf_malloc takes, in order:
 *   1. best fit: a free block of exactly n units (for n == 64 that is a
 *      reserve page);
 *   2. otherwise the smallest larger partial block (lists n .. 62), the
 *      remainder split off as a new free block;
 *   3. otherwise two blocks on different pages: the largest smaller partial
 *      block is filled completely, and the rest of the object goes into
 *      the second and last block, chosen best fit / smallest larger among
 *      the partial blocks of other pages, or else carved from a reserve page
 *      or a new page (its remainder split off);
 *   4. otherwise a reserve page, or a new page from buddy.
 * Steps 2-3 consume fragments before whole pages, so pages fill almost
 * completely and the only waste is the header and the 64-byte rounding of
 * an object's last block (on pages.img: utilization 0.978, 46% of objects
 * split).  The 2011 xcfmalloc tried the largest smaller block before the
 * smallest larger one; trying a one-block fit first keeps splits (an extra
 * header and memcpy) to the cases where no single fragment fits.  On free,
 * a block merges with free neighbours in its page; a page that becomes
 * wholly free joins the reserve, and pages beyond `reserve_pages` go back
 * to buddy at once.  The reserve is not filled in advance: it holds pages
 * that became free, ready for the next allocations.
 *
 * Compaction.  xcf_compact selects the sparsest partly used pages whose
 * contents fit in the free space of the denser ones, isolates them (their
 * free blocks leave the free lists, so nothing is placed there any more),
 * then evacuates them one page at a time.  A block that is one part of a
 * split object moves alone into a free block of its size on another page
 * than its partner's, when there is one; otherwise the whole object is read,
 * placed anew with the rules above (never into a reserve or new page),
 * copied, its descriptor repointed and its old blocks freed.  A
 * page that becomes empty is returned to buddy (or kept if the reserve is
 * short).  Pages it could not empty (budget spent, or no room) are put back.
 * xcf_fragmentation() is the O(1) figure that says when this is worth it.
 *
 * Threads and locks
 * -----------------
 * One mutex per pool (pool->lock) protects the page table, the pages, the
 * free lists, the descriptors and the counters.  Every call takes it for a
 * short, bounded time, including xcf_read and xcf_write: a move happens
 * entirely under the lock, so a reader sees the object either wholly at its
 * old place or wholly at its new one, never half-moved.  The copy of one
 * object (<= 4 KiB) under an uncontended adaptive mutex costs tens of
 * nanoseconds on top of the memcpy, and a store uses several pools (e.g.
 * one per thread, sharing one buddy allocator and one descriptor cache) so
 * that threads do not queue on one lock.  A seqlock would spare readers the
 * lock but could let a reader touch a page just returned to buddy; not worth
 * it.  Compaction holds pool->lock for one scan of the page table (8 bytes
 * a page) to choose pages, then for one page at a time (at most 64 object
 * moves), releasing it in between, so readers and writers wait at most that
 * long; pool->compact_lock serializes compactions.
 *
 * Lock order: pool->compact_lock -> pool->lock -> buddy->lock.  Descriptors
 * are allocated and freed outside pool->lock (the slab lock is never taken
 * under it).
 *
 * Errors: handles are 0 and errno set, or negative errnos; nothing changes
 * on failure.  Passing a handle that is not live in that pool is undefined
 * (debug builds abort on a bad sentinel).
 */
#ifndef ZC_ALLOC_XCF_H
#define ZC_ALLOC_XCF_H

#include <stddef.h>
#include <stdint.h>

struct buddy;
struct slab_cache;
struct xcf_pool;

/* An object: the address of its descriptor, a non-zero multiple of 8 (the
 * low 3 bits are always 0, so callers may borrow them).  0 means none. */
typedef uintptr_t xcf_handle;

#define XCF_PAGE_SIZE 4096u
#define XCF_BLOCK_SIZE 64u			/* block alignment and size unit */
#define XCF_NR_LISTS 64u			/* free lists; the last holds free pages */
#ifdef ZC_DEBUG
#define XCF_HDR_SIZE 16u			/* header word + sentinel */
#else
#define XCF_HDR_SIZE 8u				/* header word */
#endif
#define XCF_MAX_SIZE (XCF_PAGE_SIZE - XCF_HDR_SIZE)	/* largest object */
#define XCF_DESC_SIZE 8u			/* bytes per descriptor */
#define XCF_DEFAULT_RESERVE 32u			/* wholly free pages kept */
#define XCF_NAME_MAX 32u

/* Counters of one pool, read under pool->lock (exact). */
/* A pool's figures, declared once: X(name, comment) expands to the struct
 * below and to its printers (fuse/render.c: /.zcache/alloc/xcf and
 * stats.json).  The free lists are arrays, printed on their own. */
#define XCF_STATS_FIELDS(X)						\
	X(pages, "pages held from buddy, reserve included")		\
	X(free_pages, "of those, wholly free (the reserve)")		\
	X(page_bytes, "pages * 4096")					\
	X(objects, "live objects (= descriptors)")			\
	X(desc_bytes, "objects * XCF_DESC_SIZE")			\
	X(table_bytes, "page table (8 bytes per slot)")			\
	X(used_bytes, "sum of live object sizes (stored bytes)")	\
	X(block_bytes, "bytes of blocks holding objects")		\
	X(header_bytes, "block headers of those blocks")		\
	X(split_objects, "live objects in two blocks")			\
	X(isolated_pages, "pages being evacuated right now")		\
	X(fragmentation, "percent, as xcf_fragmentation()")		\
	X(allocs, "successful xcf_malloc calls, ever")			\
	X(frees, "xcf_free calls, ever")				\
	X(failed_allocs, "xcf_malloc calls that failed")		\
	X(compactions, "xcf_compact calls that ran, ever")		\
	X(compact_pages_freed, "pages emptied by compaction, ever")	\
	X(compact_objects_moved, "objects moved by compaction, ever")	\
	X(compact_bytes_moved, "object bytes moved by compaction, ever")

#define XCF_STATS_DECLARE(name, comment) uint64_t name;
struct xcf_stats {
	char name[XCF_NAME_MAX];
	XCF_STATS_FIELDS(XCF_STATS_DECLARE)
	uint64_t free_blocks[XCF_NR_LISTS];	/* blocks in each free list */
	uint64_t free_bytes[XCF_NR_LISTS];	/* bytes in each free list */
};
#undef XCF_STATS_DECLARE

/* What one xcf_compact call did. */
struct xcf_compact_result {
	uint64_t pages_examined;	/* pages chosen for evacuation */
	uint64_t pages_freed;		/* of those, emptied (reserve or buddy) */
	uint64_t pages_released;	/* pages returned to buddy by this call */
	uint64_t objects_moved;
	uint64_t bytes_moved;		/* object bytes copied */
};

/* Create a pool named `name` (copied, truncated to XCF_NAME_MAX-1 chars).
 * Pages come from `pages`, which must outlive the pool.  Descriptors come
 * from `descs`, a slab cache of XCF_DESC_SIZE-byte objects that may be
 * shared by many pools and must outlive them; pass NULL and the pool
 * creates (and destroys) its own cache on `pages`.  Up to `reserve_pages`
 * wholly free pages are kept instead of being returned to buddy
 * (XCF_DEFAULT_RESERVE is a good default).  No page is taken until the
 * first allocation.
 * Returns NULL with errno EINVAL (NULL pages, or descs of another object
 * size) or ENOMEM. */
struct xcf_pool *xcf_create(const char *name, struct buddy *pages,
			    struct slab_cache *descs, unsigned reserve_pages);

/* Return every page to buddy and every live descriptor to its cache, and
 * free the pool, whether or not objects are still live (their handles
 * become invalid).  xcf_destroy(NULL) does nothing.  No other call on this
 * pool may run concurrently or afterwards. */
void xcf_destroy(struct xcf_pool *pool);

/* Allocate an object of `size` bytes (1 .. XCF_MAX_SIZE); its contents are
 * unspecified until xcf_write.  Returns its handle, or 0 with errno EINVAL
 * (size 0 or too big) or ENOMEM (no descriptor or page could be had); the
 * pool is unchanged then.  Thread safe. */
xcf_handle xcf_malloc(struct xcf_pool *pool, size_t size);

/* Copy xcf_size(pool, h) bytes from `src` into object `h`.  Returns the
 * number of bytes copied (> 0), or -EINVAL when h is 0.  Thread safe; a
 * concurrent xcf_read of the same object sees old or new bytes (the caller
 * orders its own writes and reads of one object). */
int xcf_write(struct xcf_pool *pool, xcf_handle h, const void *src);

/* Copy the whole object `h` into `dst`, which must hold xcf_size(pool, h)
 * bytes (XCF_MAX_SIZE always suffices).  Returns the object size (> 0), or
 * -EINVAL when h is 0.  Thread safe, also against compaction: the object is
 * copied under pool->lock, so it is never seen half-moved. */
int xcf_read(struct xcf_pool *pool, xcf_handle h, void *dst);

/* The size given to xcf_malloc for `h`, or 0 when h is 0.  Thread safe. */
size_t xcf_size(struct xcf_pool *pool, xcf_handle h);

/* Free object `h`; its handle becomes invalid.  Its blocks merge with free
 * neighbours; a page left wholly free joins the reserve or goes back to
 * buddy.  xcf_free(pool, 0) does nothing.  Thread safe (the caller must not
 * free an object while it reads, writes or frees it in another thread). */
void xcf_free(struct xcf_pool *pool, xcf_handle h);

/* Compact: move objects out of the sparsest pages into free space of
 * denser pages and return the emptied pages (beyond the reserve) to buddy.
 * `budget` bounds the work (0 = no bound): pages whose used bytes add up
 * to about `budget` are chosen, and no further page is started once
 * `budget` object bytes have been moved (so at most one page's objects
 * more than that are copied).  Takes pool->lock for one page at a time, so it
 * may run while other threads allocate, read, write and free; handles stay
 * valid.  Fills *out (may be NULL) with what was done.
 * One call runs up to a few select-and-evacuate rounds (each round leaves
 * slack in the destinations, the next one uses it) until a round empties
 * nothing or the budget is spent.
 * Returns 0 (also when there was nothing worth doing), -EINVAL (NULL pool)
 * or -ENOMEM (no memory for the list of chosen pages; whatever earlier
 * rounds did stands and is reported in *out).  Thread safe; concurrent
 * compactions of one pool run one after the other. */
int xcf_compact(struct xcf_pool *pool, size_t budget, struct xcf_compact_result *out);

/* Fragmentation in percent (0 .. 100): the share of the bytes of partly
 * used pages (reserve pages excluded) that is free, i.e. what compaction
 * could win back.  O(1); takes pool->lock. */
unsigned xcf_fragmentation(struct xcf_pool *pool);

/* Return every reserve page to buddy (the shrinker).  Returns the number of
 * bytes given back.  Thread safe. */
size_t xcf_shrink(struct xcf_pool *pool);

/* Fill *out with the pool's counters.  Thread safe. */
void xcf_stats(struct xcf_pool *pool, struct xcf_stats *out);

/* Walk every page and list and verify every invariant: blocks tile each
 * page exactly with consistent sizes and previous-block offsets, no two free
 * blocks are adjacent, headers and descriptors point at each other, every
 * object is one block or two on different pages, the free lists hold
 * exactly the free blocks of the pages that are not isolated, and every
 * counter (page used bytes, object, split, byte, list and page counts) adds
 * up.  Returns 0, or -EUCLEAN after printing the first violation to stderr.
 * Takes pool->lock; O(pages + objects). */
int xcf_check(struct xcf_pool *pool);

#endif /* ZC_ALLOC_XCF_H */
