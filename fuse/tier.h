/* tier.h - the backing tier: cold pages of persistent pools written back,
 * still compressed, to a backing file on disk when memory runs high, and
 * read back into RAM when they are used again (-o backing=PATH).
 *
 * Design.  The layers below do the work page by page: alloc/backing.h
 * keeps compressed objects in a file (1 MiB segments written with
 * O_DIRECT, CRC-checked records, hole punching); compress/pam.h gives a
 * page written there a "backed" pampd that holds only the record's
 * location, reads it back with no lock held and brings it back into RAM
 * (promotion); tmem.h moves pages there in batches with its generation
 * rule (a write meanwhile wins) and stamps objects of persistent pools with
 * the time of their last get or put.  This module decides when and what:
 *
 *   When.  mem_used (fuse/mem.h, the one formula) against the memory
 *   limit: above the high watermark (backing_high, default
 *   ZFS_TIER_HIGH_DEFAULT = 90% of mem_limit) the writeback thread, which
 *   looks every ZFS_TIER_TICK_MS, moves pages until mem_used is at the low
 *   watermark (backing_low, default 80%); after a round that found
 *   nothing to move it waits until memory grows by a 32nd of the limit.  A write that finds the limit
 *   reached (zfs_mem_reserve: after compaction and eviction of ephemeral
 *   files) runs a round itself (zfs_tier_make_room) before it may fail:
 *   a write fails with ENOSPC only when RAM and the file (its
 *   backing_limit, the disk, or the write budget) are both full.  No
 *   limit, no writeback.
 *
 *   What.  Files of persistent pools, coldest first: a round lists the
 *   regular files (zfs_ns_files), keeps those whose home is a persistent
 *   pool, orders them by tmem_object_stamp (the last get or put, in ticks
 *   of this thread: tmem_tick every ZFS_TIER_TICK_MS; the listing is kept
 *   for ZFS_TIER_LIST_MS, the next pass or round going on where the last
 *   stopped) and
 *   writes each whole file's pages, from its first page, in batches of up
 *   to TMEM_WB_BUF bytes (about 1 MiB: one pwrite a segment).  Ephemeral
 *   pools never go to the file: they keep losing whole closed files
 *   (fuse/mem.h).  Same-filled pages cost nothing and stay; a multi-page
 *   unit of a densified file goes whole, as one record (compress/pam.h),
 *   and is read back through the readers' unit caches, not promoted.
 *
 *   Back into RAM.  A read of a backed page brings it back (promotion)
 *   while mem_used stays below the high watermark: every tick and after
 *   every round the thread allows promotions of (high - mem_used) bytes,
 *   a page counted as 4 KiB (pam_backing_promote); past that the page is
 *   read from the file each time, so reads never push memory over the
 *   high watermark, and the gap between the watermarks keeps a page
 *   brought back from going out again at once.
 *
 *   Space.  A page brought back, overwritten or removed frees its record;
 *   a segment left empty is punched out of the file by the next write or
 *   by the thread's backing_trim every tick.  Sparse segments - sealed,
 *   at most half live (BACKING_COMPACT_LIVE_MAX: moving a victim never
 *   writes more than it frees) - are compacted (backing_compact): their
 *   live records are read with one pread, written still compressed into
 *   the open segment with the ordinary O_DIRECT path, and each owner is
 *   switched by tmem_relocate, found by the key every record ends with
 *   (compress/pam.h, "Owner keys and compaction"; no table in RAM); only
 *   then is the old segment released and punched, so a failure or a crash
 *   midway leaves every page readable where it was.  A write, flush or
 *   promotion that races a relocation wins (the copy is freed).  The
 *   thread compacts when the sparse segments' dead bytes
 *   (backing_sparse_bytes) reach ZFS_TIER_COMPACT_MIN and an eighth of the
 *   file's disk bytes, looking once every ZFS_TIER_COMPACT_TICKS ticks
 *   (a look walks the segment table: about 1 ms per TB of file; every
 *   tick when backing_compact= sets the threshold) and
 *   moving at most ZFS_TIER_COMPACT_BUDGET of live records each time
 *   (16 MB/s at most, so reads are not starved); a round
 *   whose write finds the file full compacts everything it can once
 *   before it gives up; root may ask for a full compaction by writing 1
 *   to /.zcache/backing_compact.  The I/O runs with no store lock held.
 *
 * Errors.  A failed writeback (a pwrite error, the file full) leaves its
 * pages in RAM and is counted; a backed page that cannot be read back
 * (pread error, CRC mismatch) reads as EIO (compress/pam.h).
 *
 * Counters (ZFS_TIER_STATS, declared once) are gathered by zfs_tier_stats
 * from the backing file, PAM and the thread's own atomics; the stats print
 * them (fuse/render.h).
 *
 * Threads and locks: t->lock (the thread's stop flag and wakeups) is a
 * leaf.  t->round_lock serializes rounds (the thread's and the write
 * path's) and covers the batch; under it a round takes, one at a time:
 * ns->lock (shared: zfs_ns_files, zfs_ns_hold), a file's io_lock (shared,
 * to read its home), the store's locks, the xcf pools' (compaction), and
 * the backing file's.  It holds the files of the batch (zfs_ns_hold) until
 * the batch is committed, so their pools cannot be destroyed meanwhile.
 * Lock order: round_lock -> (ns, io, store locks); zfs_tier_make_room is
 * called by zfs_mem_reserve with no ns or io lock held.  Compaction
 * (zfs_tier_compact: the thread's tick, a round's full file with
 * round_lock held, a /.zcache write with none) takes the backing file's
 * compact_lock and, for each record it moved, store->pool_lock (a pool
 * reference) and one bucket lock at a time (tmem_relocate), never an ns or
 * io lock: round_lock -> compact_lock -> (pool_lock, bucket lock) ->
 * the backing file's lock.
 */
#ifndef ZC_FUSE_TIER_H
#define ZC_FUSE_TIER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fuse/mem.h"
#include "fuse/ns.h"

struct backing;
struct pam;
struct tmem_store;
struct tmem_wb_batch;

#define ZFS_TIER_HIGH_DEFAULT 90u	/* % of mem_limit: writeback starts */
#define ZFS_TIER_LOW_DEFAULT 80u	/* % of mem_limit: writeback stops */
#define ZFS_TIER_TICK_MS 100u		/* the thread looks this often */
#define ZFS_TIER_COMPACT_MIN (8u << 20)	/* sparse dead bytes before compacting */
#define ZFS_TIER_COMPACT_TICKS 10u	/* the thread looks for sparse segments this often */
#define ZFS_TIER_COMPACT_BUDGET ((size_t)16 << 20)	/* live bytes moved a look, at most */
#define ZFS_TIER_COMPACT_OFF UINT64_MAX	/* compact_min: only when asked or full */
#define ZFS_TIER_LIST_MS 1000u		/* a listing of cold files is kept this long */

/* The figures, declared once: X(field, counter, help); counter 1 for
 * "ever" figures, 0 for gauges.  Printed as "backing_<field>". */
#define ZFS_TIER_STATS(X)							\
	X(pages, 0, "pages kept in the backing file now")			\
	X(bytes, 0, "bytes of their records in the file (headers, padding)")	\
	X(file_bytes, 0, "the backing file's size")				\
	X(disk_bytes, 0, "bytes of the backing file not punched out")		\
	X(meta_bytes, 0, "RAM the backing file's tables and I/O buffers take")	\
	X(limit_bytes, 0, "backing_limit (0: none but the disk's)")		\
	X(budget_bytes, 0, "backing_budget, bytes writeback may write (0: no budget)") \
	X(budget_left_bytes, 0, "of the budget, bytes left (0 without a budget)") \
	X(writes, 1, "pages written back to the file, ever")			\
	X(write_bytes, 1, "bytes written to the file (records, padding), ever") \
	X(reads, 1, "backed pages read from the file, ever")			\
	X(promotions, 1, "backed pages brought back into RAM by a read, ever")	\
	X(read_failures, 1, "backed page reads that failed (EIO), ever")	\
	X(write_failures, 1, "pages whose writeback failed (left in RAM), ever") \
	X(enospc, 1, "writebacks refused: the file, its limit or the budget full, ever") \
	X(conflicts, 1, "pages written back but kept in RAM: written meanwhile, ever") \
	X(rounds, 1, "writeback rounds (the thread's and the write path's), ever") \
	X(sync_rounds, 1, "of those, rounds run by a write at the limit, ever")	\
	X(holes_punched, 1, "dead segments punched out of the file, ever")	\
	X(sparse_bytes, 0, "dead bytes in sparse segments (at most half live) compaction would take") \
	X(compactions, 1, "sparse segments emptied by compaction, ever")	\
	X(compact_bytes, 1, "record bytes compaction moved, ever")		\
	X(compact_reclaimed_bytes, 1, "file bytes compaction gave back (emptied less moved), ever") \
	X(compact_runs, 1, "compaction passes (tick, full file, /.zcache/backing_compact), ever") \
	X(compact_failures, 1, "compaction passes stopped by an error (the pages stay where they were), ever")

#define ZFS_TIER_DECLARE(field, counter, help) uint64_t field;
struct zfs_tier_cand;

struct zfs_tier_stats {
	ZFS_TIER_STATS(ZFS_TIER_DECLARE)
};
#undef ZFS_TIER_DECLARE

/* The thread's own counters. */
enum zfs_tier_counter {
	ZFS_TC_ENOSPC,
	ZFS_TC_CONFLICTS,
	ZFS_TC_ROUNDS,
	ZFS_TC_SYNC_ROUNDS,
	ZFS_TC_COMPACT_RUNS,
	ZFS_TC_COMPACT_FAILURES,
	ZFS_TC_NR
};

/* How the tier is set up (the mount options). */
struct zfs_tier_config {
	struct backing *backing;	/* the open file (owned by the caller) */
	uint64_t limit_bytes;		/* backing_limit, for the stats; 0 = none */
	uint64_t budget_bytes;		/* backing_budget; 0 = none */
	unsigned high, low;		/* watermarks, % of mem_limit; 0 = defaults */
	uint64_t compact_min;		/* sparse dead bytes that start the thread's
					   compaction (backing_compact=); 0: the
					   default rule, ZFS_TIER_COMPACT_MIN and an
					   eighth of the file's disk bytes;
					   ZFS_TIER_COMPACT_OFF: never on its own */
};

/* The tier.  Fields are for fuse/ only. */
struct zfs_tier {
	struct tmem_store *store;	/* immutable after init */
	struct pam *pam;		/* immutable */
	struct zfs_ns *ns;		/* immutable */
	struct zfs_mem *mem;		/* immutable */
	struct zfs_tier_config cfg;	/* immutable */
	pthread_mutex_t lock;		/* leaf: what follows */
	pthread_cond_t cond;
	int started;			/* protected by lock */
	int stop;			/* protected by lock */
	pthread_t thread;
	pthread_mutex_t round_lock;	/* one round at a time; the batch */
	struct tmem_wb_batch *batch;	/* protected by round_lock */
	struct zfs_tier_cand *cand;	/* protected by round_lock: the files of the
					   last listing, coldest first (malloc) */
	size_t ncand, next;		/* protected by round_lock: their number,
					   where the next pass starts */
	uint64_t cand_ms;		/* protected by round_lock: when listed
					   (CLOCK_MONOTONIC, ms) */
	_Atomic uint64_t c[ZFS_TC_NR];
};

/* Set the tier up on the modules (they must outlive it) and make PAM use
 * cfg->backing (pam_set_backing).  No thread yet.  Returns 0, -EINVAL
 * (no PAM or backing file, watermarks not 0 < low < high <= 100) or
 * -ENOMEM (nothing to undo). */
int zfs_tier_init(struct zfs_tier *t, struct tmem_store *store, struct pam *pam,
		  struct zfs_ns *ns, struct zfs_mem *mem, const struct zfs_tier_config *cfg);

/* Start the writeback thread.  Returns 0 or -EAGAIN. */
int zfs_tier_start(struct zfs_tier *t);

/* Stop and join it (a round in progress stops after its batch).  Safe when
 * not started. */
void zfs_tier_stop(struct zfs_tier *t);

/* Stop if needed and free.  No call may run.  Backed pages still in the
 * store keep their records: the caller frees the store before closing the
 * backing file. */
void zfs_tier_fini(struct zfs_tier *t);

/* One writeback round now, until mem_used is at most `target` bytes or
 * nothing more can go (for zfs_mem_reserve's hook and tests).  Returns
 * mem_used at its end; *moved (may be NULL) gets the pages moved to the
 * file.  Caller holds no ns or io lock. */
uint64_t zfs_tier_writeback(struct zfs_tier *t, uint64_t target, uint64_t *moved);

/* zfs_mem's room hook (fuse/mem.h, zfs_mem_set_room): a write of `bytes`
 * found mem_used `used` at the limit; write back until it fits under the
 * low watermark.  Returns mem_used afterwards. */
uint64_t zfs_tier_make_room(void *tier, uint64_t used, uint64_t bytes);

/* Compact the backing file's sparse segments now, moving at most `budget`
 * bytes of live records (SIZE_MAX: every sparse segment); see "Space".
 * Returns the segments emptied, or backing_compact's error (-ENOSPC, -EIO,
 * -ENOMEM: the segments not emptied keep their records, every page stays
 * readable).  Caller holds no ns, io or store lock; thread safe (one
 * compaction at a time). */
int zfs_tier_compact(struct zfs_tier *t, size_t budget);

/* Fill *out (gathered from the backing file, PAM and the counters). */
void zfs_tier_stats(struct zfs_tier *t, struct zfs_tier_stats *out);

#endif /* ZC_FUSE_TIER_H */
