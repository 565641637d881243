/* ctl.h - the /.zcache statistics and control tree (DESIGN.md §2).
 *
 *   /.zcache/                     0555 root
 *     stats mm_stat metrics stats.json compress     0444: read-only figures
 *     fuse                                          0444: FUSE requests by opcode
 *     spill                                         0444: the far tier (spill=)
 *     compact drop_ephemeral sgv_flush densify      0600: write 1 to act
 *     backing_compact                               0600: write 1 to act
 *     mem_limit                                     0644: read, write (root)
 *     pools/NAME/stats            per pool ("default" is the root pool)
 *     alloc/buddy alloc/sgv alloc/xcf alloc/slabinfo
 *
 * Design.  The tree is virtual: its inode numbers live at and above
 * ZFS_CTL_INO_BASE, far above any number the namespace hands out, so the
 * handlers (fuse/ops.c) choose the tree's node operations by number, once
 * per request; the name ".zcache" in the root belongs to the tree too.
 * pools/NAME is numbered from the zcached pool id.  A file's content is
 * rendered (fuse/render.h) when it is opened, into a buffer owned by the
 * open file, so a reader sees one consistent snapshot however it reads;
 * the files are opened with direct_io since their size is unknown until
 * then (st_size is 0, as in /proc).  Writes act at once:
 * compact (zfs_mem_compact, whether it pays or not), drop_ephemeral
 * (zfs_mem_drop_ephemeral), sgv_flush (sgv_ctx_flush), densify
 * (zfs_densify_now, then zfs_mem_compact to hand back the space the old
 * pages held: the write returns when every file was densified, so tests
 * and benchmarks can rely on it; -EIO when the densifier is not running),
 * backing_compact (zfs_tier_compact of every sparse segment of the
 * backing file; returns when it is done; EOPNOTSUPP without a backing
 * file, and compaction's own -ENOSPC, -EIO or -ENOMEM),
 * mem_limit (a size
 * as the mount option takes it, fuse/mem.h zfs_parse_size).  Only
 * root may write (the kernel checks the modes with default_permissions; a
 * write from any other uid is refused with EACCES here as well).  Nothing
 * in the tree can be created, removed, renamed or linked (EPERM).
 *
 * No-open mode (cfg.no_open, fuse/ops.h): the kernel sends no OPEN, so a
 * file's content is rendered when its name is looked up, into a snapshot
 * with an inode number of its own (ZFS_CTL_SNAP_BASE and up, never
 * reused) and its exact size; once a read began on it the snapshot never
 * changes, so the kernel reads it through its page cache and a reader
 * still sees one consistent rendering however it reads.  The entry is not
 * cached (timeout 0), so every path walk looks the name up again: it
 * renders again into the file's newest snapshot while no read has begun on
 * that one (same number: a stat(2) and the open(2) after it see one inode,
 * as cp(1) wants), else into a new snapshot (the kernel forgets the old one
 * when its dentry goes); a snapshot lives until the kernel forgets its
 * last lookup (zfs_ctl_forget).  Writes to a
 * snapshot act on its file.  readdirplus gives files bare (no entry), so
 * only a LOOKUP names a file.
 *
 * The tree reads the modules through struct zfs_ctl_config (the pointers
 * the filesystem hands it) and keeps one list of its own: the open files,
 * so that files the kernel never released are freed with the tree.
 *
 * Threads: every function is thread safe; c->lock (a leaf) protects the
 * list of open files and snapshots, whose buffers belong to their file
 * handles (snapshots: to the list).
 */
#ifndef ZC_FUSE_CTL_H
#define ZC_FUSE_CTL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fuse/ns.h"

struct zfs_tier;

#define ZFS_CTL_NAME ".zcache"
#define ZFS_CTL_INO_BASE ((uint64_t)1 << 60)
#define ZFS_CTL_INO_ROOT ZFS_CTL_INO_BASE
#define ZFS_CTL_SNAP_BASE (ZFS_CTL_INO_BASE + ((uint64_t)1 << 59))	/* no-open mode */

struct buddy;
struct pam;
struct sgv_ctx;
struct sgv_pool;
struct slab_cache;
struct tmem_store;
struct zfs_ctl_file;
struct zfs_densify;
struct zfs_mem;
struct zfs_reqstats;
struct zfs_snapshot;
struct zfs_uring;

/* What the tree reads and acts on; every pointer must outlive it.
 * Optional pointers (NULL) only leave their statistics out. */
struct zfs_ctl_config {
	struct tmem_store *store;	/* required */
	struct buddy *buddy;		/* required */
	struct sgv_ctx *sgv;		/* required */
	struct pam *pam;		/* optional */
	struct slab_cache **slabs;	/* optional: caches for alloc/slabinfo */
	unsigned nslabs;
	unsigned codec;			/* codec id of new pools */
	struct zfs_ns *ns;		/* required */
	struct zfs_mem *mem;		/* required: figures, limit, compact, drop */
	struct sgv_pool *io_pool;	/* required: the data path's vectors */
	struct zfs_reqstats *reqstats;	/* optional: the FUSE request statistics
					   (fuse/reqstat.h; /.zcache/fuse) */
	/* The session's transport (optional: NULL leaves its figures out):
	 * the io_uring transport while it serves (fuse/uring.h), and the
	 * INTERRUPT requests counted (fuse/session.h). */
	_Atomic(struct zfs_uring *) *ring;
	_Atomic uint64_t *interrupts;
	struct zfs_densify *densify;	/* required: counters, densify now */
	struct zfs_tier *tier;		/* optional: the backing tier's figures
					   (fuse/tier.h); NULL without one */
	int no_open;			/* no-open mode: files are snapshots */
};

struct zfs_ctl {
	struct zfs_ctl_config cfg;	/* immutable after init */
	pthread_mutex_t lock;		/* leaf: files */
	struct zfs_ctl_file *files;	/* open files and snapshots; protected by lock */
	uint64_t snap_next;		/* the next snapshot's number; protected by lock */
};

/* Set up the tree.  Returns 0 or -ENOMEM (nothing to undo). */
int zfs_ctl_init(struct zfs_ctl *c, const struct zfs_ctl_config *cfg);

/* Free every file still open (the session ended before the kernel
 * released them) and the lock.  Only when no request can run any more. */
void zfs_ctl_fini(struct zfs_ctl *c);

/* Is `ino` in the /.zcache tree? */
static inline int zfs_ctl_is(uint64_t ino)
{
	return ino >= ZFS_CTL_INO_BASE;
}

/* Is the name `name` in directory `parent` the tree's: any name in a ctl
 * directory, or ".zcache" in the root? */
int zfs_ctl_owns(uint64_t parent, const char *name);

/* Look `name` up in the ctl directory `parent` (or ".zcache" in the root).
 * Fills *st; in no-open mode a file's lookup renders a snapshot and *st is
 * the snapshot's (the kernel then owns one lookup of it).  Returns 0,
 * -ENOENT, -ENOTDIR or (no-open mode) -ENOMEM. */
int zfs_ctl_lookup(struct zfs_ctl *c, uint64_t parent, const char *name, struct stat *st);

/* Attributes of a ctl inode; -ENOENT for a number that names nothing (a
 * pool that is gone). */
int zfs_ctl_getattr(struct zfs_ctl *c, uint64_t ino, struct stat *st);

/* List a ctl directory from offset `off` as zfs_ns_readdir does (the
 * entries carry their number and type only: flags 0).  Returns 0,
 * -ENOTDIR or -ENOMEM. */
int zfs_ctl_readdir(struct zfs_ctl *c, uint64_t ino, uint64_t off, zfs_ns_filldir_fn fill,
		    void *arg);

/* Open a ctl file with open(2)'s `flags` for `caller`: render its content
 * (unless write-only) into a buffer owned by the handle stored in *fh.
 * The kernel must not cache the file (direct_io: its size is unknown).
 * Returns 0, -EISDIR, -ENOENT, -EACCES (a write open of a read-only file,
 * or by a caller other than root), -ENOMEM. */
int zfs_ctl_open(struct zfs_ctl *c, uint64_t ino, int flags, uid_t caller, uint64_t *fh);

/* The bytes of an open ctl file to answer a read of `size` at `off`: sets
 * *buf and *len (0 at or beyond the end) and holds the handle until
 * zfs_ctl_read_done, so a release on another thread cannot free the text
 * under a reply still being written. */
void zfs_ctl_read(struct zfs_ctl *c, uint64_t fh, size_t size, off_t off, const char **buf,
		  size_t *len);
void zfs_ctl_read_done(struct zfs_ctl *c, uint64_t fh);

/* Act on a write to control file `ino` by `caller`.  Returns the bytes
 * taken, -EACCES for a caller other than root, -EINVAL for a value the
 * file does not take, -EPERM for a read-only file. */
ssize_t zfs_ctl_write(struct zfs_ctl *c, uint64_t ino, uid_t caller, const char *buf,
		      size_t size);

/* No-open mode: the handle of snapshot `ino` for zfs_ctl_read, or 0 for a
 * number that names none; marks the snapshot read (its content is final).  It holds a reference, as zfs_ctl_read does (a
 * FORGET on another thread cannot free it meanwhile): drop it with
 * zfs_ctl_read_done. */
uint64_t zfs_ctl_snap(struct zfs_ctl *c, uint64_t ino);

/* The kernel forgot `nlookup` lookups of `ino`: a snapshot whose last one
 * goes is freed (after the reads still replying).  Other numbers: nothing. */
void zfs_ctl_forget(struct zfs_ctl *c, uint64_t ino, uint64_t nlookup);

/* Free an open ctl file's buffer. */
void zfs_ctl_release(struct zfs_ctl *c, uint64_t fh);

/* Gather every module's figures into *s (free with zfs_snapshot_free,
 * fuse/render.h); raises the account's mem_used_max.  Returns 0 or
 * -ENOMEM. */
int zfs_ctl_snapshot(struct zfs_ctl *c, struct zfs_snapshot *s);

#endif /* ZC_FUSE_CTL_H */
