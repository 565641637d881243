/* densify.h - densifying idle files: the background thread that repacks
 * closed files nobody wrote for a while into multi-page units, and
 * /.zcache/densify's "now".
 *
 * Design.  A page-by-page store compresses every 4 KiB alone; a file that
 * is written once and then only read (most of a build tree, a cache, an
 * unpacked archive) pays for that forever.  Densify repacks such a file's
 * pages 16 at a time (tmem_densify: a group of 16 pages, one zstd unit or
 * lz4 units of 4 pages, of 8 in a group not full, compress/pam.h "Units",
 * tmem/stack.h) with a denser codec, so reads stay page by page while memory
 * shrinks (tree.tar in bench/fs.sh, mem_used_bytes: lz4 48.0 MB -> 39.1 MB
 * with lz4hc:9, zstd:3 36.8 MB -> 30.5 MB with zstd:9).
 *
 * Which files.  Regular files that are closed (no open file but the
 * densifier's own hold) and whose ctime is at least `idle` seconds old:
 * every write, truncation and hole punched sets ctime to now, and ctime
 * cannot be set back by anyone (utimensat sets only atime and mtime; an
 * untarred tree keeps its old mtimes but gets fresh ctimes).  A file
 * densified to its end with its ctime unchanged meanwhile is marked dense
 * (inode->dense, fuse/ns.h) and skipped until a change of its data clears
 * the mark.  The thread scans the namespace every ZFS_DENSIFY_SCAN seconds
 * at most (a quarter of `idle`, at least 1 s); idle = 0 turns the
 * background scans off.  zfs_densify_now (/.zcache/densify: write 1)
 * densifies every regular file at once, open or not, idle or not, at full
 * speed, and returns when the pass is over: for tests and benchmarks
 * (densify is safe beside writers, see below, so "open" only matters to
 * the background policy).
 *
 * Low priority and throttled.  Background passes run the thread under
 * SCHED_IDLE (only CPU time nobody else wants) and sleep three times as
 * long as each group took (at most a quarter of a CPU even when idle), so
 * a busy mount is not slowed; a "now" pass runs at normal priority
 * without sleeping.
 *
 * Which codec.  Per pool: user.zcache.densify on the pool directory, else
 * the mount's densify= option, else "auto": the pool's compressor made
 * denser with the same decoder, lz4 -> lz4hc:9 (LZ4's own dense encoder:
 * reads stay lz4 reads) and zstd:L -> zstd:max(L, 9) (zstd decodes every
 * level at one speed), and none -> off (the pool asked for no
 * compression).  lz4hc:9 and zstd:9 are where the curve flattens on
 * tree.tar: lz4hc:12 saves 0.16 MB more at three times the time, zstd:12
 * 0.12 MB at three times, zstd:15 0.9 MB at seven times.
 *
 * Writers win.  The densifier holds a file (zfs_ns_hold: its inode stays)
 * and, per group, reads its home pool and that pool's setting under the
 * file's io_lock (shared; a move between pools holds it exclusively), then
 * calls tmem_densify with no lock of the filesystem held: a writer never
 * waits for a repacking (only for the store's bucket lock around the
 * plan and the swap, as for any put), which matters because the thread
 * runs under SCHED_IDLE and could be kept off the CPU for long while
 * holding a lock.  tmem_densify drops its work when any page of the file
 * changed meanwhile (-EAGAIN, counted as a conflict), and when the file
 * left that pool meanwhile its object is not there at the swap (-EAGAIN
 * too), so a write, a truncation or a move always wins.
 *
 * Memory.  A group's unit exists beside its old pages only until the swap,
 * and a unit is made only when it is smaller than what it replaces, so
 * densifying needs at most one unit (< 64 KiB) beyond what it frees at
 * the end of each group: it takes no reservation from the memory account
 * and runs at the limit too, where it is what makes room.  Freed xcf
 * space is handed back by the policy thread's compaction, or at once by
 * /.zcache/compact.
 *
 * Counters (ZFS_DENSIFY_COUNTERS, declared once; the stats print them,
 * fuse/render.h) are relaxed atomics, exact each on its own.
 *
 * Locks: d->lock (the "now" requests and the stop flag) is a leaf.  The
 * densifier takes, one at a time and never two together: ns->lock
 * (shared: zfs_ns_files, zfs_ns_hold, zfs_ns_release), a file's io_lock
 * (shared, to read its home), the store's locks (inside tmem_densify), a
 * file's lock (its ctime and mark).
 */
#ifndef ZC_FUSE_DENSIFY_H
#define ZC_FUSE_DENSIFY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fuse/ns.h"

struct tmem_store;

#define ZFS_DENSIFY_IDLE_DEFAULT 300u	/* seconds: see zcached(8), densify_idle */
#define ZFS_DENSIFY_SCAN 60u		/* longest wait between background scans, s */
#define ZFS_DENSIFY_BATCH 64u		/* inode numbers taken per ns->lock hold */

/* A densify setting (the mount's densify=, a pool's user.zcache.densify):
 * mode and codec packed in 64 bits, so a pool's can be read atomically.
 *   ZFS_DENSIFY_MOUNT  (pools only) the mount's setting: a pool's default;
 *   ZFS_DENSIFY_AUTO   the pool's compressor, denser (see "Which codec");
 *   ZFS_DENSIFY_OFF    never;
 *   ZFS_DENSIFY_CODEC  this codec id (the low 32 bits). */
enum zfs_densify_mode {
	ZFS_DENSIFY_MOUNT = 0,
	ZFS_DENSIFY_AUTO = 1,
	ZFS_DENSIFY_OFF = 2,
	ZFS_DENSIFY_CODEC = 3,
};

static inline uint64_t zfs_densify_setting(enum zfs_densify_mode mode, unsigned codec)
{
	return (uint64_t)mode << 32 | codec;
}

static inline enum zfs_densify_mode zfs_densify_mode_of(uint64_t setting)
{
	return (enum zfs_densify_mode)(setting >> 32);
}

/* Parse a setting: "auto", "off", a codec name (compress/codec.h: "lz4hc",
 * "zstd:12", ...; "none" is "off"), and for a pool (`pool` != 0) also
 * "default" (the mount's).  Returns 0 and *out, or -EINVAL.  Pure. */
int zfs_densify_parse(const char *s, int pool, uint64_t *out);

/* Write a setting's name ("default", "auto", "off", "lz4hc:9"): returns
 * the length (as snprintf). */
int zfs_densify_format(uint64_t setting, char *buf, size_t len);

/* The codec id that `setting` (the mount's) and `pool`'s own setting give
 * its files, or -1 for off.  Pure but for the atomic read of the pool's. */
long zfs_densify_codec(uint64_t mount, const struct zfs_pool *pool);

/* The counters, declared once: X(ID, field, figure, scale, help) expands to
 * the enum (ZFS_DZ_ID), the fields of struct zfs_snapshot (fuse/render.h)
 * and the headline figures (figure = field * scale). */
#define ZFS_DENSIFY_COUNTERS(X)						\
	X(FILES, densify_files, densified_files, 1,			\
	  "files densified (every group repacked or already dense), ever") \
	X(BYTES, densify_bytes, densified_bytes, 1,			\
	  "sizes of the files densified, ever")			\
	X(GROUPS, densify_groups, densify_units_made, 1,		\
	  "groups of 16 pages repacked by densify (units made or pages made denser), ever") \
	X(SAVED, densify_saved, densify_saved_bytes, 1,			\
	  "store memory densify freed (old pages minus what replaced them), ever") \
	X(NSEC, densify_nsec, densify_seconds, 1e-9,			\
	  "time spent densifying (wall clock of the densifier's work), ever") \
	X(CONFLICTS, densify_conflicts, densify_conflicts, 1,		\
	  "groups left as they were because a write came first, ever")	\
	X(PASSES, densify_passes, densify_passes, 1,			\
	  "scans of every file by the densifier, ever")

enum zfs_densify_counter {
#define ZFS_DZ_ENUM(id, field, figure, scale, help) ZFS_DZ_##id,
	ZFS_DENSIFY_COUNTERS(ZFS_DZ_ENUM)
#undef ZFS_DZ_ENUM
	ZFS_DZ_NR
};

/* The densifier.  Fields are for fuse/ only. */
struct zfs_densify {
	struct tmem_store *store;	/* immutable after init */
	struct zfs_ns *ns;		/* immutable */
	unsigned idle;			/* seconds; 0 = no background scans; immutable */
	uint64_t setting;		/* the mount's densify=; immutable */
	void *buf;			/* TMEM_DENSIFY_BUF bytes: the thread's */
	pthread_mutex_t lock;		/* leaf: what follows */
	pthread_cond_t cond;
	int started;			/* protected by lock */
	int stop;			/* protected by lock */
	uint64_t asked, answered;	/* "now" passes asked for / done; protected by lock */
	int now_err;			/* the last "now" pass's result; protected by lock */
	pthread_t thread;
	_Atomic uint64_t c[ZFS_DZ_NR];
};

/* Set the densifier up on the store and namespace (they must outlive it)
 * with the mount's `idle` (seconds, 0: no background scans) and
 * `setting` (zfs_densify_setting; a pool mode is refused).  No thread yet.
 * Returns 0, -EINVAL or -ENOMEM (nothing to undo). */
int zfs_densify_init(struct zfs_densify *d, struct tmem_store *store, struct zfs_ns *ns,
		     unsigned idle, uint64_t setting);

/* Start the thread.  Returns 0 or -EAGAIN. */
int zfs_densify_start(struct zfs_densify *d);

/* Stop the thread (a pass in progress stops after its group; a "now"
 * caller waiting gets -ESHUTDOWN) and join it.  Safe when not started. */
void zfs_densify_stop(struct zfs_densify *d);

/* Stop if needed and free.  No call may run. */
void zfs_densify_fini(struct zfs_densify *d);

/* Densify every regular file now and return when done (see the design
 * note).  Concurrent callers share passes: each returns after a pass that
 * started after its call.  Returns 0, -ESHUTDOWN (stopped meanwhile), or
 * -EAGAIN when the thread is not running. */
int zfs_densify_now(struct zfs_densify *d);

/* The counters (out[ZFS_DZ_NR]). */
void zfs_densify_counters(struct zfs_densify *d, uint64_t out[ZFS_DZ_NR]);

#endif /* ZC_FUSE_DENSIFY_H */
