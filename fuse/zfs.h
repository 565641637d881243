/* zfs.h - the zcached filesystem: libfuse3 low-level operations and file
 * I/O on the tmem store.
 *
 * Design.  The daemon builds the store (buddy allocator, slab host, SGV
 * context, PAM backend, tmem store) and hands it to zfs_create in a struct
 * zfs_config; zfs keeps the namespace (fuse/ns.h), the /.zcache tree
 * (fuse/ctl.h) and one SGV pool for I/O vectors, and answers FUSE requests
 * through the table zfs_lowlevel_ops.
 *
 * File data: page i of the regular file with inode number N is the tmem page
 * (pool, {N, 0, 0}, i), where pool is the tmem pool of the file's home
 * (fuse/ns.h, "Homes": the pool of its name - the root directory's, or the
 * top-level directory's it lies under - or, for a file with hard links in
 * several pools, the one the rule of homes picks).
 * The file size and every other attribute live in the inode, not in tmem.
 *   read   for each page of the range ask tmem (a missing page - a hole or
 *          a page never written - reads as zeros) straight into a vector of
 *          pages from the SGV cache, and reply with fuse_reply_iov; the first
 *          and last entries are trimmed to the requested bytes.
 *   write  whole pages are put as they come; the edge pages of an unaligned
 *          write are read, merged and put (read-modify-write).  A page whose
 *          bytes are all zero is flushed instead of put, so holes and
 *          written zero pages cost nothing.
 *   Bytes of the last page beyond the file size are always zero (truncation
 *   zeroes them), so extending a file never shows stale data.
 * Limits: files end at 2^32 pages (16 TiB): EFBIG past that.  Before a
 * write the store's memory (zfs_mem_used: mem_used_bytes of the stats, the
 * pool pages PAM holds, reserve and fragmentation included, plus every
 * module's metadata) is compared with mem_limit (the sum is taken again
 * every 4 MiB written, or at every write once within 1/16 of the limit);
 * when a quarter of the write would not fit, the xcf pools are compacted
 * if that pays (zfs_compact_auto), then ephemeral pools are asked to evict,
 * and the write fails with ENOSPC if that does not help.  So a write may
 * overshoot the limit by at most about one request per worker.  Bytes
 * stored before stay intact.  Writes are write-through (no writeback
 * cache), so the ENOSPC reaches the write(2) that hit the limit; the kernel
 * splits a write(2) into requests of ZFS_MAX_IO, so one that crosses the
 * limit returns the bytes of the requests that were stored.
 *
 * Pools: mkdir directly under the root creates a tmem pool of the
 * configured kind (codec: the configured one), rmdir of it destroys the pool
 * once no inode refers to it.  The xattrs user.zcache.kind and
 * user.zcache.compressor of a pool directory (and of the root) read and set
 * the pool's kind (only while the pool is empty: EBUSY otherwise) and codec.
 * rename and link work between pools (fuse/ns.h, "Homes" and "Pools and
 * renames"): a file that changes home has its tmem object moved to the
 * other tmem pool as it is (tmem_move_object: no page compressed again,
 * later writes use the new pool's codec), under ns->lock and the file's
 * io_lock held exclusively, so no read or write of it runs meanwhile.  A
 * rename that may make a directory a new top-level pool (to the root, or
 * an exchange from it) allocates that pool's tmem pool first; ns takes it
 * only if it is needed.  rename, link and unlink hold evict_lock shared,
 * so a file never changes home between the store's eviction of it and the
 * removal of its names.
 * Every open file is pinned in tmem (whatever its pool: the pin travels
 * with the object when the file moves, and the release unpins where the
 * object is then), so open files are never evicted and pins always equal
 * open files; a pin is taken and dropped under the file's io_lock (shared),
 * which orders it against a move.
 *
 * INIT: libfuse 3.14 cannot ask for FUSE_HANDLE_KILLPRIV_V2 and drops
 * FUSE_PARALLEL_DIROPS and FUSE_HANDLE_KILLPRIV from its INIT reply, which
 * cost an untar a GETXATTR per write(2) and a GETATTR per chown (a third of
 * its requests).  zfs_session_loop therefore puts its own read/writev on the
 * session (fuse_session_custom_io) that adds those flags, when the kernel
 * offers them, to the INIT reply and passes everything else through.  So
 * this filesystem clears set-user-ID/set-group-ID (write and truncate by
 * others than root, chown by anyone) and security.capability (write,
 * truncate, chown) itself, as the VFS would.
 *
 * Kernel caching: entries (negative ones too) and attributes are cached
 * for ZFS_TIMEOUT seconds, an hour, and file pages are kept across opens
 * (keep_cache): every change passes through this one kernel mount, which
 * updates or drops what it caches itself.  The only changes made behind
 * its back are evictions (files the store evicts, /.zcache/drop_ephemeral),
 * invalidated with fuse_lowlevel_notify_inval_entry/_inode.  (With the
 * former one second, an untar or read-all longer than a second sent a
 * LOOKUP or GETATTR again for every path it walked after the expiry.)
 *
 * Threads: every handler runs on any of the session's worker threads
 * (zfs_session_loop: a fixed set, each receiving into a buddy buffer).
 * Lock order (adding to ns.h's): evict_lock -> ns->lock -> io_lock -> lock
 * (ns takes io_lock under ns->lock only to move files between pools; open
 * and release take io_lock after dropping ns->lock)
 * (an inode's stripe) -> (tmem, pam, sgv locks, taken inside those
 * modules).  No lock is held while a notification is written to the
 * device.
 * zfs->lock (a mutex) protects mem_used_max and the list of open /.zcache
 * files and is a leaf.
 *
 * Errors: every handler replies with fuse_reply_err(-ret) for a negative
 * errno from below, in one place per handler.
 */
#ifndef ZC_FUSE_ZFS_H
#define ZC_FUSE_ZFS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "fuse/mem.h"
#include "fuse/notify.h"

#define ZFS_MAX_PAGES ((uint64_t)1 << 32)			/* pages per file */
#define ZFS_MAX_FILE_SIZE (ZFS_MAX_PAGES * 4096u)		/* 16 TiB */
#define ZFS_MAX_IO ((size_t)1 << 20)				/* 1 MiB requests */
#define ZFS_TIMEOUT 3600.0					/* entry/attr cache, s */

struct buddy;
struct sgv_ctx;
struct sgv_pool;
struct pam;
struct tmem_store;
struct slab_cache;
struct zfs_ns;
struct zfs_ctl_file;

/* What the daemon hands to zfs_create; every pointer must outlive the
 * filesystem.  Optional pointers (NULL) only leave their statistics out. */
struct zfs_config {
	struct tmem_store *store;	/* required */
	struct buddy *buddy;		/* required: I/O buffers' pages */
	struct sgv_ctx *sgv;		/* required: I/O vectors */
	struct pam *pam;		/* optional: stats, compaction */
	struct slab_cache **slabs;	/* optional: caches for alloc/slabinfo */
	unsigned nslabs;
	unsigned codec;			/* codec id of new pools */
	int ephemeral;			/* new pools are ephemeral (the root's is
					   always persistent) */
	uint64_t mem_limit;		/* bytes, 0 = none */
	uid_t uid;			/* owner of the root directory */
	gid_t gid;
};

/* The filesystem.  Fields are for fuse/ only (zfs.c, ctl.c, session.c). */
struct zfs {
	struct zfs_config cfg;		/* immutable after create */
	struct zfs_ns *ns;
	struct sgv_pool *io_pool;	/* reply vectors */
	struct fuse_session *se;	/* may be NULL */
	struct zfs_notify notify;	/* kernel cache invalidations (fuse/notify.h) */
	struct zfs_mem mem;		/* the memory account (fuse/mem.h) */
	pthread_mutex_t lock;		/* leaf: ctl_files */
	struct zfs_ctl_file *ctl_files;	/* open /.zcache files; protected by lock */
	/* The INIT reply's patch (fuse/session.c). */
	_Atomic uint64_t init_unique;	/* the INIT request until answered, else 0 */
	_Atomic uint32_t init_offer;	/* INIT flags the kernel offered */
	_Atomic uint32_t init_flags;	/* INIT flags granted (after our additions) */
};

/* Create the filesystem on the given store: the root pool (tmem pool of
 * the configured kind and codec), the namespace with /.zcache, and the I/O
 * SGV pool "zfs-io".  Returns NULL with errno EINVAL (missing store, buddy
 * or sgv), ENOSPC (no tmem pool id) or ENOMEM; nothing is left allocated. */
struct zfs *zfs_create(const struct zfs_config *cfg);

/* Free the namespace, every tmem pool the filesystem made and the I/O
 * pool.  The session must have stopped.  zfs_destroy(NULL) does nothing. */
void zfs_destroy(struct zfs *fs);

/* Tell the filesystem its session (used for cache invalidations). */
void zfs_set_session(struct zfs *fs, struct fuse_session *se);

/* The operations table for fuse_session_new; userdata is the struct zfs.
 * Every handler's valid replies are those libfuse lists for it. */
extern const struct fuse_lowlevel_ops zfs_lowlevel_ops;

/* Walk the namespace and the store: zfs_ns_check and tmem_check.  Returns
 * 0 or -EUCLEAN (printed to stderr).  For tests and debug builds. */
int zfs_check(struct zfs *fs);

#endif /* ZC_FUSE_ZFS_H */
