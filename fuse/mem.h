/* mem.h - the memory account of the filesystem: what the store uses (the
 * one mem_used formula), the limit and the write path's reservation
 * against it, the compaction trigger, and eviction of ephemeral files.
 *
 * Design.  mem_used_bytes (DESIGN.md §2) is what the store holds for file
 * data, in bytes: with a PAM backend its pool pages (xcf pages, their
 * reserve included, and raw pages) plus its metadata, else tmem's pampd
 * bytes; plus tmem's metadata and the namespace's.  zfs_mem_used_of is that
 * sum, the only one: the stats print it (fuse/render.h), the limit compares
 * with it, statfs reports it.
 *
 * The limit.  Before a write, zfs_mem_reserve compares mem_used with the
 * limit (0: none).  Gathering mem_used takes each xcf pool's lock, too dear
 * for every 4 KiB write, so the figure is cached and taken again only every
 * ZFS_MEM_RECHECK_BYTES written, or at every write once within 1/16 of the
 * limit.  When a quarter of the write would not fit, the xcf pools are
 * compacted if that pays (zfs_mem_compact_auto with the limit's
 * thresholds), then closed files of ephemeral pools are evicted, least
 * recently used first, with headroom (a 32nd of the limit), in a few
 * rounds (eviction counts compressed bytes, the limit counts pages; each
 * round compacts the holes the evicted files left); if that does not help
 * the backing tier, when the mount has one, writes cold pages of
 * persistent pools back to its file (zfs_mem_set_room, fuse/tier.h); if
 * nothing helps the write fails with ENOSPC.  So a write may overshoot the limit by at
 * most about one request per worker, and bytes stored before stay intact.
 *
 * Compaction pays when the free bytes inside partly used xcf pages - what
 * compaction can win back - are at least min_bytes and at least
 * min_percent of those pages' bytes.  The write path asks with
 * ZFS_COMPACT_LIMIT_PERCENT/ZFS_COMPACT_MIN_BYTES, the policy thread
 * (daemon/policy.h) with its own.
 *
 * Eviction removes whole files only, never an open one (open files are
 * pinned in tmem, fuse/data.h): tmem chooses the victims (tmem_evict), the
 * namespace removes their names (zfs_ns_evict), and the kernel hears of it
 * from the notifier thread (fuse/notify.h).  evict_lock is held for writing
 * from choosing the victims to removing their names; opens of files hold
 * it for reading while they check the file still exists and pin it, and
 * rename, link and unlink hold it for reading, so a file never changes
 * home between the store's eviction of it and the removal of its names,
 * and no open sees a file whose pages are gone but whose name is not.
 *
 * Counters.  The account keeps the figures of the memory policy
 * (ZFS_POLICY_COUNTERS, declared once here) and of the limit (ENOSPC
 * refusals, evicted files, compactions), all atomics read without a lock
 * by the stats.
 *
 * Threads: every function is thread safe.  Lock order: evict_lock ->
 * (ns->lock, the store's locks); m->lock is a leaf (used_max).
 */
#ifndef ZC_FUSE_MEM_H
#define ZC_FUSE_MEM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct pam;
struct pam_stats;
struct statvfs;
struct tmem_stats;
struct tmem_store;
struct zfs_far;
struct zfs_notify;
struct zfs_ns;

/* What the memory policy counts (daemon/policy.c, the write path's
 * compaction), declared once: X(ID, field, figure, scale, help) expands to
 * the enum below (ZFS_PC_ID), the fields of struct zfs_snapshot
 * (fuse/render.h), their gathering (fuse/ctl.c) and the headline figures
 * (fuse/render.c: figure = field * scale, a counter, with its help text). */
#define ZFS_POLICY_COUNTERS(X)						\
	X(AUTO_COMPACTIONS, auto_compactions, auto_compactions, 1,	\
	  "compactions run by the policy thread or the write path at the limit, ever") \
	X(SGV_PURGES, sgv_purges, sgv_purges, 1,			\
	  "SGV purges and shrinks that freed idle buffers, ever")	\
	X(SGV_PURGED_PAGES, sgv_purged_pages, sgv_purged_bytes, 4096,	\
	  "bytes of idle SGV buffers freed by purges and shrinks, ever") \
	X(PRESSURE_EVENTS, pressure_events, pressure_events, 1,		\
	  "reactions to system memory pressure (PSI or the cgroup's memory.events), ever") \
	X(PRESSURE_EVICTIONS, pressure_evictions, pressure_evictions, 1, \
	  "ephemeral files evicted under system memory pressure, ever")	\
	X(BUDDY_TRIMS, buddy_trims, buddy_trims, 1,			\
	  "times idle chunks of the buddy allocator were unmapped, ever") \
	X(BUDDY_TRIMMED_BYTES, buddy_trimmed_bytes, buddy_trimmed_bytes, 1, \
	  "bytes of idle buddy chunks unmapped, ever")			\
	X(RUNS, policy_runs, policy_runs, 1,				\
	  "policy thread ticks and pressure reactions, counted as each starts and as it " \
	  "ends (odd: one is running), ever")

enum zfs_policy_counter {
#define ZFS_PC_ENUM(id, field, figure, scale, help) ZFS_PC_##id,
	ZFS_POLICY_COUNTERS(ZFS_PC_ENUM)
#undef ZFS_PC_ENUM
	ZFS_PC_NR
};

/* The write path's compaction thresholds (see "Compaction pays"). */
#define ZFS_COMPACT_LIMIT_PERCENT 10u
#define ZFS_COMPACT_MIN_BYTES ((uint64_t)256 << 10)
/* mem_used is gathered again after this many bytes written. */
#define ZFS_MEM_RECHECK_BYTES ((uint64_t)4 << 20)

/* The account.  Fields are for fuse/ only; the stats read the atomics. */
struct zfs_mem {
	struct tmem_store *store;	/* immutable after init */
	struct pam *pam;		/* immutable; NULL: no PAM backend */
	struct zfs_ns *ns;		/* immutable */
	struct zfs_notify *notify;	/* immutable: evictions' invalidations */
	_Atomic uint64_t limit;		/* bytes, 0 = none; /.zcache/mem_limit sets it */
	pthread_mutex_t lock;		/* leaf: used_max */
	uint64_t used_max;		/* highest mem_used seen; protected by lock */
	_Atomic uint64_t used_cache;	/* zfs_mem_used's last figure */
	_Atomic uint64_t written_since;	/* bytes reserved since it was taken */
	_Atomic uint64_t enospc;	/* writes refused for the limit, ever */
	_Atomic uint64_t evicted_files;	/* files removed by eviction, ever */
	_Atomic uint64_t compactions;	/* compactions run (any cause), ever */
	_Atomic uint64_t pages_compacted;	/* pages they gave back, ever */
	_Atomic uint64_t policy[ZFS_PC_NR];	/* the memory policy's counters, ever */
	pthread_rwlock_t evict_lock;	/* see "Eviction" */
	/* The far tier (fuse/far.h): with spill=, eviction spills before it
	 * drops.  Set by fuse/zfs.c once its threads may start, cleared
	 * before it is destroyed; NULL without spill=. */
	_Atomic(struct zfs_far *) far;
	/* The last resort of zfs_mem_reserve before ENOSPC (the backing
	 * tier's writeback, fuse/tier.h), or NULL; set before use. */
	uint64_t (*room)(void *arg, uint64_t used, uint64_t bytes);
	void *room_arg;
};

/* Set up the account on the given modules (they must outlive it) with the
 * limit `limit` (bytes, 0 = none).  Returns 0 or -ENOMEM (nothing to undo). */
int zfs_mem_init(struct zfs_mem *m, struct tmem_store *store, struct pam *pam,
		 struct zfs_ns *ns, struct zfs_notify *notify, uint64_t limit);

/* Free the locks.  No call may run. */
void zfs_mem_fini(struct zfs_mem *m);

/* mem_used_bytes of the given figures, the one definition (see the design
 * note).  `pam` is NULL without a PAM backend.  Pure. */
uint64_t zfs_mem_used_of(const struct tmem_stats *tmem, const struct pam_stats *pam,
			 uint64_t ns_meta_bytes);

/* mem_used_bytes now, gathered from the modules (tmem_stats, pam_stats,
 * zfs_ns_stats: each xcf pool's lock taken briefly, one at a time; a moment
 * out of date while writes run).  Caches the figure for zfs_mem_reserve
 * and raises used_max. */
uint64_t zfs_mem_used(struct zfs_mem *m);

/* Raise used_max to `used` (a figure gathered elsewhere, e.g. a snapshot's)
 * if it is higher, and return used_max. */
uint64_t zfs_mem_note_used(struct zfs_mem *m, uint64_t used);

/* Room for a write of `bytes`?  Returns 0, or -ENOSPC (counted in enospc)
 * when neither compaction nor eviction made room (see "The limit").  May
 * evict ephemeral files: the caller must hold no ns or io lock. */
int zfs_mem_reserve(struct zfs_mem *m, uint64_t bytes);

/* Set the last resort of zfs_mem_reserve: when compaction and eviction
 * left no room for a write of `bytes`, room(arg, used, bytes) may free
 * memory (the backing tier writes cold pages back, fuse/tier.h) and
 * returns mem_used afterwards; the write fails with ENOSPC only if that is
 * still too much.  Call before the filesystem serves requests. */
void zfs_mem_set_room(struct zfs_mem *m, uint64_t (*room)(void *arg, uint64_t used,
							   uint64_t bytes),
		      void *arg);

/* Reclaimable bytes as zfs_mem_compact_auto judges them: *partly receives
 * the bytes of partly used xcf pages, the return value the free bytes
 * inside them.  0 (and *partly 0) without PAM. */
uint64_t zfs_mem_reclaimable(struct zfs_mem *m, uint64_t *partly);

/* Compact every xcf pool (pam_compact, no budget) if it pays (see the
 * design note), then hand the pools' reserve pages back (pam_shrink).
 * Counts a compaction (compactions, auto_compactions, pages_compacted).
 * Returns the pages given back to buddy, 0 when it did not pay (nothing
 * done) or there is no PAM backend.  Runs beside reads and writes;
 * compactions of one pool run one after the other. */
uint64_t zfs_mem_compact_auto(struct zfs_mem *m, unsigned min_percent, uint64_t min_bytes);

/* Compact every xcf pool now, whether it pays or not (/.zcache/compact).
 * Counts a compaction and its pages (none without PAM). */
void zfs_mem_compact(struct zfs_mem *m);

/* Evict closed files of ephemeral pools, least recently used first, until
 * at least `bytes` of store memory went (or none is left); whole files
 * only, open files never.  With the far tier (m->far), files are spilled
 * first (fuse/far.h zfs_far_spill: they keep their names), and what that
 * did not free is evicted.  Queues the kernel's invalidations.  Returns
 * the number of files removed or spilled.  The caller must hold no ns or
 * io lock. */
uint64_t zfs_mem_evict_bytes(struct zfs_mem *m, uint64_t bytes);

/* Evict every closed file of every ephemeral pool
 * (/.zcache/drop_ephemeral).  Returns the number of files removed. */
uint64_t zfs_mem_drop_ephemeral(struct zfs_mem *m);

/* Add n to one of the memory policy's counters (lock-free atomics; the
 * stats read them without a lock, each exact on its own). */
void zfs_mem_policy_count(struct zfs_mem *m, enum zfs_policy_counter c, uint64_t n);

/* Parse a size as mem_limit takes it (the mount option and
 * /.zcache/mem_limit): decimal digits with an optional K, M, G or T suffix
 * (powers of 1024, case-insensitive, optional "B" or "iB"), or "N%" of
 * `ram_bytes` (N 0..100).  Returns 0 and stores the bytes in *out, or
 * -EINVAL (*out untouched) for anything else, overflow included.  Pure. */
int zfs_parse_size(const char *s, uint64_t ram_bytes, uint64_t *out);

/* The machine's RAM in bytes (what "N%" is a percentage of), 0 if unknown. */
uint64_t zfs_mem_ram_bytes(void);

/* Fill the block and inode figures of statfs: the limit (or the machine's
 * RAM without one) in 4 KiB blocks, free = limit - mem_used; as many
 * inodes as a KiB of the limit buys, at least those in use. */
void zfs_mem_statfs(struct zfs_mem *m, struct statvfs *sv);

#endif /* ZC_FUSE_MEM_H */
