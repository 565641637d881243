/* buddy.h - chunk buddy allocator: the page source for everything in zcached.
 *
 * Memory is taken from the OS in 4 MiB chunks (mmap), each aligned to 4 MiB.
 * The unit is one 4 KiB page, so a chunk holds 1024 units, and blocks are
 * powers of two from 4 KiB (order 0) to 4 MiB (order 10).  A block of order k
 * is aligned to 4 KiB << k, so callers may find a block's start by masking.
 *
 * Each chunk keeps a complete binary tree of 2047 nodes in a 2048-byte array:
 * node i stores the largest free order available in its subtree plus one
 * (0 = nothing free).  One comparison at the root rejects a chunk that cannot
 * serve a request; at most 10 descents find the leftmost fitting block; a
 * free walks back up and merges buddies.  Chunks sit in a list searched head
 * to tail; a new chunk is mapped and appended when none fits; a chunk that
 * becomes wholly free is unmapped unless fewer than `reserve` free chunks are
 * kept, and otherwise moved to the tail, so holes in used chunks are filled
 * before a free chunk is split.  Requests over 4 MiB are mapped directly
 * (aligned to 4 MiB) and unmapped on free.  Chunk metadata lives outside the
 * chunks, so every block is plain memory.
 *
 * Memory is never given back page by page: free blocks inside a used chunk
 * stay resident until the whole chunk is free and unmapped (beyond the
 * reserve, or by buddy_trim).  The reserve trades memory for speed: each
 * chunk mapped afresh costs up to 1024 page faults when its pages are first
 * touched, so a workload that keeps freeing and reallocating whole chunks
 * runs much faster with a reserve larger than its swing in whole chunks.
 *
 * Threads: every function is thread safe; one mutex per allocator protects the
 * chunk list and the trees (buddy->lock, a leaf lock: nothing else is taken
 * while it is held).  Stats are read under the lock.
 *
 * Errors: functions return NULL or a negative errno; nothing is changed on
 * failure.
 */
#ifndef ZC_ALLOC_BUDDY_H
#define ZC_ALLOC_BUDDY_H

#include <stddef.h>
#include <stdint.h>

#define BUDDY_PAGE_SHIFT 12
#define BUDDY_PAGE_SIZE ((size_t)1 << BUDDY_PAGE_SHIFT)	/* 4 KiB unit */
#define BUDDY_MAX_ORDER 10				/* 4 MiB block */
#define BUDDY_CHUNK_SIZE (BUDDY_PAGE_SIZE << BUDDY_MAX_ORDER)
#define BUDDY_RESERVE_ADAPTIVE (~0u)	/* reserve: 3/4 of the chunks in use, */
#define BUDDY_RESERVE_MIN 2		/* but at least this many */
#define BUDDY_RESERVE_MAX 16		/* and at most this many (64 MiB) */
#define BUDDY_DEFAULT_RESERVE BUDDY_RESERVE_ADAPTIVE

struct buddy;

/* Counters, declared once: X(name, comment) expands to the struct below
 * and to every printer of it (fuse/render.c: /.zcache/alloc/buddy and
 * stats.json).  All byte figures are exact (read under the lock). */
#define BUDDY_STATS_FIELDS(X)						\
	X(chunks, "4 MiB chunks mapped now")				\
	X(free_chunks, "of those, wholly free (the reserve)")		\
	X(bytes_allocated, "handed out, rounded to block sizes, incl. direct maps") \
	X(bytes_requested, "what callers asked for (internal fragmentation =" \
			   " bytes_allocated - bytes_requested)")	\
	X(blocks, "blocks handed out now (chunk blocks + direct maps)")	\
	X(direct_maps, "requests over 4 MiB mapped directly, live now")	\
	X(direct_bytes, "bytes of those mappings")			\
	X(allocs, "successful buddy_alloc calls, ever")			\
	X(frees, "blocks returned by buddy_free, ever (NULL and rejected" \
		 " frees not counted): allocs - frees == blocks")	\
	X(failed, "buddy_alloc calls that returned NULL (EINVAL and ENOMEM)") \
	X(chunks_mapped, "chunks mapped, ever")				\
	X(chunks_unmapped, "chunks unmapped, ever")

#define BUDDY_STATS_DECLARE(name, comment) uint64_t name;
struct buddy_stats {
	BUDDY_STATS_FIELDS(BUDDY_STATS_DECLARE)
};
#undef BUDDY_STATS_DECLARE

/* Create an allocator that keeps up to `reserve` wholly free chunks mapped
 * (0 unmaps every free chunk at once).  BUDDY_RESERVE_ADAPTIVE, the
 * default, keeps up to three quarters as many free chunks as are in use,
 * at least BUDDY_RESERVE_MIN and at most BUDDY_RESERVE_MAX (64 MiB): like
 * glibc's trim threshold, the reserve grows with the heap so that a
 * workload swinging by whole chunks does not pay a page fault per page on
 * every swing, while a small allocator keeps only a little.  The price is
 * memory: on bench/alloc's 128 KiB..4 MiB churn it holds about 1.4x what
 * glibc holds.  The daemon's memory policy gives the surplus back with
 * buddy_trim when memory is short or idle.
 * No memory is mapped until the first allocation.
 * Returns NULL (errno ENOMEM) on failure. */
struct buddy *buddy_create(unsigned reserve);

/* Unmap every chunk and direct mapping and free the allocator, whether or
 * not blocks are still handed out (their memory is gone afterwards).
 * buddy_destroy(NULL) does nothing.  No other call may run concurrently. */
void buddy_destroy(struct buddy *b);

/* Allocate `size` bytes (1 .. any), rounded up to a power-of-two number of
 * pages; sizes over BUDDY_CHUNK_SIZE are mapped directly (rounded to pages).
 * The block is aligned to its rounded size (at most 4 MiB; direct maps are
 * aligned to 4 MiB); its contents are unspecified (a block reused from a
 * chunk holds whatever its last owner left).  Chunk blocks come from the
 * first chunk in the list that can hold them, at the lowest address that
 * fits; a chunk is mapped (under the lock) only when none can.
 * Returns NULL on size 0 (errno EINVAL) or when the OS or malloc refuses
 * memory, or the size cannot be rounded (errno ENOMEM); the allocator is
 * unchanged then apart from the `failed` counter. */
void *buddy_alloc(struct buddy *b, size_t size);

/* Return a block.  `size` must be the size given to buddy_alloc for `ptr`.
 * The allocator finds the block from `ptr` alone and checks it: a pointer
 * in no chunk or direct map of this allocator, not at the start of a live
 * block, or a size whose block order (or, for a direct map, whose exact
 * value) differs from the block's is rejected: debug builds (ZC_DEBUG)
 * print it and abort; other builds ignore the call and change nothing.
 * (Freeing a block twice is caught unless it was handed out again in
 * between with the same order.)  A chunk that becomes wholly free is kept
 * (moved to the tail of the list) or unmapped beyond the reserve; a direct
 * map is unmapped.  buddy_free(b, NULL, n) does nothing. */
void buddy_free(struct buddy *b, void *ptr, size_t size);

/* The number of bytes a request of `size` actually occupies (the block
 * size: pages rounded to a power of two, or to pages above 4 MiB); 0 for
 * size 0 and for sizes too large to round.  Pure; needs no allocator. */
size_t buddy_block_size(size_t size);

/* Unmap wholly free chunks beyond `keep` (the shrinker); used chunks are
 * never touched, and the reserve refills as chunks become free again.
 * Returns the number of bytes given back to the OS (0 if none). */
size_t buddy_trim(struct buddy *b, unsigned keep);

/* Map one more wholly free chunk and fault all its pages in, writable,
 * before it joins the list (so no allocation races the faults), when
 * fewer than `max_free` chunks are wholly free and the reserve has room
 * for one more (buddy_create: with the adaptive reserve, three quarters of
 * the chunks in use, at least 2, at most 16).  For a caller that knows a
 * burst of allocations is coming and has a thread to spare (the state
 * image's load, fuse/state.c): the page faults - allocating, zeroing and
 * charging each page, about half of a load - are paid on that thread
 * while the allocating one goes on; a small max_free keeps the zeroed
 * pages few enough to still be in the cache when they are written.  The
 * chunk is an ordinary free chunk afterwards (the reserve's rules and
 * buddy_trim apply).  Uses madvise(MADV_POPULATE_WRITE) (Linux 5.14).
 * Thread safe; the faults are taken without the lock.  Returns 1 (a chunk
 * added), 0 (enough chunks are free: nothing changed), -ENOMEM, or
 * -EOPNOTSUPP (the kernel cannot populate: nothing changed). */
int buddy_prefault(struct buddy *b, unsigned max_free);

/* Fill *out with the current counters (a consistent snapshot, taken under
 * the lock). */
void buddy_stats(struct buddy *b, struct buddy_stats *out);

/* Walk every chunk and verify its tree: each node holds exactly what its
 * children imply (both children wholly free -> the node's full order,
 * otherwise the larger child value) unless the node is itself an allocated
 * block (value 0 over two nonzero children, its whole subtree holding the
 * stale "wholly free" values it had when it was handed out; see buddy.c);
 * that the counters match the trees, the chunk list and the direct maps;
 * that wholly free chunks are the tail of the list and no more than the
 * reserve; that the lookup table holds every chunk and direct map.
 * Returns 0 when consistent, else -EUCLEAN after printing the first
 * violation to stderr.  Takes the lock; O(chunks x 2048). */
int buddy_check(struct buddy *b);

/* ---- fault injection (test builds) ----------------------------------
 *
 * Builds with ZC_DEBUG can make chosen allocations fail, to drive every
 * caller's out-of-memory path (tests/fault.c).  buddy_create reads the
 * environment variable ZC_FAULT_BUDDY:
 *     "N"    the Nth buddy_alloc call (size > 0) from then on fails;
 *     "N/M"  so do, after it, every Mth call: N, N+M, N+2M, ...
 * Unset, empty or "0": no fault.  A malformed value is reported on stderr
 * and ignored.  Every allocator created while the variable is set counts
 * its own calls.  An injected failure is an ordinary one: NULL with errno
 * ENOMEM, counted in `failed`, nothing else changed.  Builds without
 * ZC_DEBUG ignore the variable and never inject.  The countdown is atomic,
 * so calls from several threads are counted exactly, but which thread's
 * call is the Nth is then up to the scheduler. */

/* Re-arm the countdown from now: the nth call from now fails (0: no fault),
 * then every `every`th (0: none after it).  Returns 0, or -EOPNOTSUPP in
 * builds without ZC_DEBUG (nothing happens).  Thread safe; calls counted
 * while it re-arms may count against either setting. */
int buddy_fault_set(struct buddy *b, uint64_t nth, uint64_t every);

/* Failures injected into this allocator so far (0 without ZC_DEBUG). */
uint64_t buddy_fault_count(struct buddy *b);

#endif /* ZC_ALLOC_BUDDY_H */
