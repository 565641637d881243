/* ns.h - the namespace of zcached: inodes, directories, names, links,
 * symlinks, special files, extended attributes and pools.
 *
 * Design.  Everything lives in memory.  An inode is a struct zfs_inode found
 * by number through one hash table (chained, doubling); inode numbers are
 * handed out from a counter starting at 2 (FUSE_ROOT_ID is 1) and never
 * reused while the filesystem is mounted, so a number names one file for the
 * life of the mount and doubles as the file's tmem object id.  A directory
 * keeps its entries twice: in a chained hash table by name (lookups) and in
 * an array sorted by a per-directory cookie that only grows (readdir offsets
 * stay valid while entries come and go; a seek is a binary search).
 *
 * Pools (DESIGN.md §2) are defined by position: the root directory is the
 * default pool, each directory directly under the root is a pool of its
 * own (with its kind and codec), and a name belongs to the pool of the
 * directory that holds it.  A directory's `pool` is the pool its entries
 * belong to.  The filesystem layer creates the store's pool before
 * zfs_ns_mknod makes the directory (ns never allocates a store pool), and
 * ns calls ops->pool_release once the pool's directory is gone (removed,
 * or moved below another directory) and no inode refers to it any more.
 * Likewise ops->inode_release runs for each regular file whose last name,
 * lookup and open are gone, so the filesystem layer can flush its pages.
 * Both callbacks run after ns->lock is dropped, but for one case:
 * zfs_ns_evict releases the data of evicted files the kernel still knows
 * with ns->lock held (a FORGET could free them the moment it dropped), so
 * inode_release may take only locks that come after ns->lock (the store's).
 *
 * Homes.  A non-directory may have names in several pools (hard links,
 * renames between pools, as on tmpfs), but its data lives in exactly one,
 * its home (inode->pool; inode->hnames counts its names there).  The rule:
 *   1. a file is at home in an ephemeral pool only while every name of it
 *      is in an ephemeral pool: a name in a persistent pool (a link or a
 *      rename to it) makes that pool its home;
 *   2. while it has names, its home holds at least one of them: when the
 *      home loses its last (unlink, rename, a directory above moving), the
 *      file moves to a pool that holds one - a persistent one if any, the
 *      pool its name went to if that holds one, else any;
 *   3. otherwise it stays where it is (a name added in another pool of the
 *      same kind, or in an ephemeral pool, moves nothing).
 * So a file whose home is ephemeral (the only files eviction takes) has
 * every name in ephemeral pools, and zfs_ns_evict removes all of them; a
 * file with a name in a persistent pool is never evicted.  A file whose
 * names all move (a rename of its only name, a directory holding all its
 * names) goes with them.  Unlinked files (no name) stay where they were.
 * Deciding is O(1) but when a home loses its last name while others
 * remain (only with links across pools): then one walk over every
 * directory counts the file's names.
 * When a regular file changes home, ns calls ops->inode_move with
 * ns->lock held exclusively and the file's io_lock held exclusively (see
 * the lock order), so no read, write, truncation, open or release of it
 * runs meanwhile and the data moves together with inode->pool.
 *
 * Pools and renames.  A rename that moves a directory between pools moves
 * its whole subtree: every directory below it joins the destination's
 * pool, and every file named below it follows the rule of homes.  A pool's
 * directory moved below another directory dissolves the pool into the
 * destination's (its files take that pool's kind and codec; the old pool
 * is released once nothing refers to it).  A directory moved to the top
 * level becomes a new pool, which takes the kind and codec of the pool it
 * came from (ops->pool_adopt makes the store's pool match).  RENAME_EXCHANGE
 * and RENAME_NOREPLACE work across pools alike.  Everything a rename needs
 * is allocated before anything changes (the new pool is the caller's, see
 * zfs_ns_rename), and moving data cannot fail, so a failed rename changes
 * nothing.
 *
 * Inode lifetime follows the kernel's: an inode lives while it has a name
 * (nlink > 0), a lookup reference the kernel holds (nlookup > 0, raised by
 * every successful lookup/create reply, lowered by forget) or an open file
 * (nopen > 0).  A regular file with no name keeps its data only while it
 * is open (or, zfs_ns_keep_known, while the kernel knows it).  A pointer returned by zfs_ns_get stays valid while the
 * caller's request is in flight, because the kernel cannot forget an inode
 * it is using.
 *
 * Lock order:  ns->lock (rwlock)  ->  io_lock (rwlock)  ->  lock (mutex)
 * (io_lock and lock are an inode's stripe->io_lock and ->lock)
 *   ns->lock     the inode table, every directory's entries, parent links,
 *                nlink, hnames, xattrs, pool membership and the pool list;
 *                readers (lookup, getattr, readdir, getxattr) share it,
 *                changes hold it exclusively.
 *   io_lock      a regular file's data and home against concurrent size
 *                changes and moves: reads, opens and releases (pins) share
 *                it, writes and truncation hold it (fuse/data.c); ns holds it
 *                exclusively, under ns->lock held exclusively, while it
 *                moves a file to another pool (inode->pool, the data), one
 *                file (one io_lock) at a time.  So whoever holds an inode's
 *                io_lock may read its inode->pool without ns->lock, and
 *                nobody holding an io_lock may wait for ns->lock.
 *   lock         (a mutex) size, mode, uid, gid and times of one inode.
 * ns calls another module while holding ns->lock only through
 * ops->inode_move and ops->pool_adopt (the store, which comes after) and
 * inode_release from zfs_ns_evict.
 *
 * Errors: negative errno, nothing changed on failure.
 */
#ifndef ZC_FUSE_NS_H
#define ZC_FUSE_NS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define ZFS_ROOT_INO 1
#define ZFS_NAME_MAX 255
#define ZFS_XATTR_NAME_MAX 255
#define ZFS_XATTR_SIZE_MAX 65536
#define ZFS_SYMLINK_MAX 4095
#define ZFS_XATTR_CAPS "security.capability"

struct zfs_ns;

/* A pool of the namespace: the root directory's or a top-level directory's. */
struct zfs_pool {
	uint64_t id;			/* 0 for the root pool; immutable */
	uint64_t dir_ino;		/* the pool's directory; immutable */
	int store_id;			/* the tmem pool id, owned by fuse/data.c */
	_Atomic unsigned codec;		/* codec id for later writes */
	_Atomic uint64_t densify;	/* its densify setting (fuse/densify.h,
					   user.zcache.densify): 0 = the mount's */
	_Atomic int spill_off;		/* user.zcache.spill "off": its files are
					   evicted, never spilled (fuse/far.h) */
	int ephemeral;			/* protected by ns->lock */
	uint64_t refs;			/* inodes of the pool, incl. its directory;
					   protected by ns->lock */
	int dir_gone;			/* its directory was removed; protected by ns->lock */
	char name[ZFS_NAME_MAX + 1];	/* directory name ("" for the root pool);
					   protected by ns->lock */
	struct zfs_pool *next;		/* the ns pool list; protected by ns->lock */
	/* Per-pool figures (atomics, approximate). */
	_Atomic uint64_t files;		/* regular files at home here whose data
					   was not released yet; kept by ns (made,
					   moved, released with the home stable) */
	_Atomic uint64_t bytes_written;	/* bytes written through write(2); data.c */
	_Atomic uint64_t bytes_read;	/* bytes read through read(2); data.c (both
					   counted under the file's io_lock, and
					   staying where they were counted) */
};

struct zfs_xattr {
	struct zfs_xattr *next;
	size_t size;
	char *value;
	char name[];
};

struct zfs_dirent;

/* Directory contents, allocated for directories only; protected by ns->lock. */
struct zfs_dir {
	uint64_t parent;		/* ".." */
	struct zfs_dirent **dbuckets;	/* name hash */
	size_t dnbuckets;
	struct zfs_dirent **dents;	/* sorted by cookie */
	size_t dcount, dcap;
	uint64_t dnext_cookie;
	uint64_t nsubdirs;
};

/* The locks of an inode are striped: ZFS_NS_STRIPES pairs in the ns, the
 * inode points at the pair its number hashes to (saving ~100 bytes per
 * inode; two inodes sharing a stripe only ever wait for each other). */
struct zfs_stripe {
	pthread_mutex_t lock;		/* attributes (see the lock order) */
	pthread_rwlock_t io_lock;	/* file data against size changes */
} __attribute__((aligned(64)));

#define ZFS_NS_STRIPES 256

/* One per file, so every byte counts (mem_used_bytes includes them): the
 * fields are ordered to leave no padding, the link and open counts are 32
 * bits (nlink is capped at UINT32_MAX, and FUSE device numbers are 32
 * bits), and a symlink's target and a directory's contents share a word. */
struct zfs_inode {
	uint64_t ino;			/* immutable */
	struct zfs_inode *hnext;	/* the ns inode table; protected by ns->lock */
	struct zfs_inode *rnext;	/* a reap list of data releases; protected by ns->lock */
	struct zfs_pool *pool;		/* directories: the pool of their entries;
					   others: the home.  Changed under ns->lock
					   held exclusively and, for regular files,
					   io_lock held exclusively; read under either */
	struct zfs_stripe *stripe;	/* immutable: stripe->lock, stripe->io_lock */
	uint64_t size;			/* protected by lock (writers also hold io_lock) */
	struct timespec atime, mtime, ctime;	/* protected by lock */
	_Atomic uint64_t nlookup;	/* kernel references: raised under ns->lock
					   (shared), lowered under ns->lock held */
	struct zfs_xattr *xattrs;	/* protected by ns->lock */
	union {
		char *symlink;		/* symlinks: the target, immutable */
		struct zfs_dir *dx;	/* directories: the contents */
	};
	mode_t mode;			/* file type: immutable; bits: protected by lock */
	uid_t uid;			/* protected by lock */
	gid_t gid;			/* protected by lock */
	uint32_t nlink;			/* protected by ns->lock */
	_Atomic uint32_t nopen;		/* open files: raised under no lock, lowered
					   under ns->lock (shared while nlink > 0) */
	uint32_t rdev;			/* devices (new_encode_dev form, as FUSE's); immutable */
	uint32_t hnames;		/* non-directories: names in `pool` (the home);
					   protected by ns->lock */
	unsigned char data_released;	/* ops->inode_release was asked; protected by ns->lock */
	unsigned char dense;		/* densified with no change of its data since
					   (fuse/densify.h); protected by lock */
	_Atomic unsigned char spilled;	/* regular files: its data lives only in the
					   far tier (fuse/far.h), none in the store;
					   set and cleared under io_lock held
					   exclusively, read under io_lock */
};

/* Called after ns->lock is dropped (inode_release from zfs_ns_evict: with
 * it held); see the design note. */
struct zfs_ns_ops {
	/* A regular file is gone for good: flush its pages.  Its pool is still
	 * referenced until this returns. */
	void (*inode_release)(void *priv, struct zfs_inode *inode);
	/* The pool's directory is gone and no inode refers to it: destroy the
	 * store's pool. ns frees the struct afterwards. */
	void (*pool_release)(void *priv, struct zfs_pool *pool);
	/* st_blocks of a regular file (512-byte units); called under ns->lock
	 * and must not call into ns.  NULL: the size rounded up. */
	uint64_t (*blocks)(void *priv, struct zfs_inode *inode);
	/* A regular file moved home from `from` to `to` (inode->pool is `to`
	 * already): move its data.  Called with ns->lock held exclusively and
	 * the inode's io_lock held exclusively; must not fail, must not call
	 * into ns.  May be NULL. */
	void (*inode_move)(void *priv, struct zfs_inode *inode, struct zfs_pool *from,
			   struct zfs_pool *to);
	/* A new pool (a directory moved to the top level) took the kind and
	 * codec of the pool it came from (pool->ephemeral, pool->codec are
	 * set): make the store's pool, empty and given by the caller of
	 * zfs_ns_rename, match.  Called with ns->lock held exclusively; must
	 * not fail, must not call into ns.  May be NULL. */
	void (*pool_adopt)(void *priv, struct zfs_pool *pool);
};

/* A directory-listing callback: return nonzero to stop (the entry was not
 * taken).  `next` is the offset to resume after this entry.  st holds the
 * entry's number and type (S_IFMT bits of st_mode) and, when flags has
 * ZFS_DIRENT_ATTRS, every attribute: then the entry counts as a lookup if
 * it is taken (readdirplus). */
#define ZFS_DIRENT_ATTRS 1u
typedef int (*zfs_ns_filldir_fn)(void *arg, const char *name, const struct stat *st,
				 uint64_t next, unsigned flags);

/* Hand `fill` the entry `name` with its number and type only (the rest of
 * the stat zeroed): readdir's entries, and the /.zcache tree's. */
int zfs_ns_fill_entry(zfs_ns_filldir_fn fill, void *arg, const char *name, uint64_t ino,
		      mode_t type, uint64_t next);

/* The figures of the namespace. */
struct zfs_ns_stats {
	uint64_t inodes;		/* inodes alive (including unlinked open ones) */
	uint64_t files;			/* regular files */
	uint64_t dirs;
	uint64_t symlinks;
	uint64_t others;		/* fifos, sockets, devices */
	uint64_t pools;
	uint64_t xattr_bytes;		/* names + values */
	uint64_t meta_bytes;		/* approximate memory of the namespace */
};

/* Create a namespace whose root directory (mode 0755 | S_IFDIR, owned by
 * uid/gid) belongs to `root_pool` (allocated by the caller with malloc and
 * filled: store, codec, ephemeral; ns takes ownership and sets id 0).
 * `virt_name`/`virt_ino` name an entry of the root that ns lists in readdir
 * but does not own (the /.zcache tree), may be NULL/0.
 * Returns NULL with errno ENOMEM. */
struct zfs_ns *zfs_ns_create(struct zfs_pool *root_pool, uid_t uid, gid_t gid,
			     const struct zfs_ns_ops *ops, void *priv,
			     const char *virt_name, uint64_t virt_ino);

/* No-open mode (fuse/ops.h): the daemon hears of no open file, so an
 * inode without names keeps its data while the kernel holds a lookup of it
 * (it may be open) and loses it with the inode at the last FORGET, instead
 * of at once.  Call before serving. */
void zfs_ns_keep_known(struct zfs_ns *ns);

/* Free every inode and pool (calling no callbacks).  NULL is fine. */
void zfs_ns_destroy(struct zfs_ns *ns);

/* The inode numbered `ino`, or NULL.  See "Inode lifetime" for how long the
 * pointer stays valid.  Takes ns->lock shared. */
struct zfs_inode *zfs_ns_get(struct zfs_ns *ns, uint64_t ino);

/* Fill *st from an inode (takes ns->lock shared, then the inode's lock). */
void zfs_ns_stat(struct zfs_ns *ns, struct zfs_inode *inode, struct stat *st);

/* Look `name` up in directory `parent`; on success fill *st and raise the
 * inode's lookup count.  Errors: -ENOENT, -ENOTDIR, -ENAMETOOLONG. */
int zfs_ns_lookup(struct zfs_ns *ns, uint64_t parent, const char *name, struct stat *st);

/* Drop `n` lookup references (FUSE forget).  Unknown numbers are ignored. */
void zfs_ns_forget(struct zfs_ns *ns, uint64_t ino, uint64_t n);

/* Count one open file on / release one from `inode`. */
void zfs_ns_open(struct zfs_ns *ns, struct zfs_inode *inode);
void zfs_ns_release(struct zfs_ns *ns, struct zfs_inode *inode);

/* Make a node `name` in `parent`: a regular file, directory, symlink
 * (target given), fifo, socket or device, per S_IFMT of `mode`.  `pool`
 * must be given (non-NULL, freshly allocated, owned by ns on success) when
 * making a directory directly under the root, and NULL otherwise.
 * On success fills *st and raises the lookup count (the reply to the
 * kernel counts as a lookup).  Errors: -EEXIST, -ENOENT (parent gone),
 * -ENOTDIR, -ENAMETOOLONG, -EINVAL (bad type), -EMLINK, -ENOMEM. */
int zfs_ns_mknod(struct zfs_ns *ns, uint64_t parent, const char *name, mode_t mode,
		 dev_t rdev, uid_t uid, gid_t gid, const char *symlink, struct zfs_pool *pool,
		 struct stat *st);

/* Make a new name `newname` in `newparent` for inode `ino` (not a
 * directory), in any pool; a name in a persistent pool may move the file
 * there (see "Homes").  Errors: -EPERM (directory), -EEXIST, -ENOENT,
 * -EMLINK, -ENOMEM; nothing changed on failure. */
int zfs_ns_link(struct zfs_ns *ns, uint64_t ino, uint64_t newparent, const char *newname,
		struct stat *st);

/* Remove a non-directory name (-EISDIR for a directory) or an empty
 * directory (-ENOTDIR for a non-directory, -ENOTEMPTY).  -ENOENT if absent. */
int zfs_ns_unlink(struct zfs_ns *ns, uint64_t parent, const char *name);
int zfs_ns_rmdir(struct zfs_ns *ns, uint64_t parent, const char *name);

/* rename(2)/renameat2(2): flags 0, RENAME_NOREPLACE or RENAME_EXCHANGE,
 * between any two directories (see "Pools and renames").  When the rename
 * makes a directory a new top-level pool, ns takes *newpool (a pool the
 * caller allocated with malloc, with an empty store pool; ns sets every
 * field but store_id) and sets *newpool to NULL; otherwise *newpool is
 * left to the caller.  newpool may be NULL when the caller knows no new
 * pool can result (newparent and, for RENAME_EXCHANGE, parent are not the
 * root).  Errors as rename(2): -ENOENT, -EEXIST (NOREPLACE), -ENOTEMPTY,
 * -EISDIR, -ENOTDIR, -EINVAL (a directory into itself, unknown flags),
 * -ENOMEM, and -ENOSPC when a new pool is needed and *newpool is NULL.
 * Nothing changed on failure. */
int zfs_ns_rename(struct zfs_ns *ns, uint64_t parent, const char *name, uint64_t newparent,
		  const char *newname, unsigned flags, struct zfs_pool **newpool);

/* Copy a symlink's target into buf (NUL-terminated); -EINVAL if not a
 * symlink, -ERANGE if it does not fit. */
int zfs_ns_readlink(struct zfs_ns *ns, uint64_t ino, char *buf, size_t size);

/* List directory `ino` from offset `off` (0 = start; "." is 1, ".." is 2,
 * the virtual root entry 3, then entries by cookie), calling fill for each
 * until it returns nonzero.  With `plus` (readdirplus), every real entry
 * comes with its attributes (ZFS_DIRENT_ATTRS) and counts as a lookup if
 * fill takes it (returns 0), as the kernel expects of READDIRPLUS; ".",
 * ".." and the virtual entry come with their number and type only, as
 * every entry does without `plus`.  fill runs under ns->lock (shared) and
 * must not call into ns.  Errors: -ENOTDIR, -ENOENT. */
int zfs_ns_readdir(struct zfs_ns *ns, uint64_t ino, uint64_t off, int plus,
		   zfs_ns_filldir_fn fill, void *arg);

/* Change mode bits, owner, times as FUSE setattr asks (FUSE_SET_ATTR_*
 * bits in to_set; size is handled by the caller via zfs_ns_set_size).
 * ctime is updated.  Fills *st. */
int zfs_ns_setattr(struct zfs_ns *ns, uint64_t ino, const struct stat *attr, int to_set,
		   struct stat *st);

/* Set a file's size and mtime/ctime (caller must hold inode->io_lock
 * exclusively). */
void zfs_ns_set_size(struct zfs_inode *inode, uint64_t size);

/* Set an inode's mtime and ctime to now (mtime != 0: after a write, a
 * hole punched), or its atime (mtime == 0).  Takes the inode's lock. */
void zfs_ns_touch(struct zfs_inode *inode, int mtime);

/* ---- densify (fuse/densify.h) ---------------------------------------------
 * A file is "dense" once the densifier repacked all of it and its ctime
 * did not move meanwhile; every change of its data (zfs_ns_set_size,
 * zfs_ns_touch with mtime) clears the mark, so background passes skip
 * dense files until they are written again. */

/* Take a hold on the regular file numbered `ino` (one that has a name and
 * whose data was not released): the inode stays alive, as for an open
 * file, until zfs_ns_release.  No pin is taken: an ephemeral file held so
 * can still be evicted (its pages go; the inode waits for the release).
 * Returns the inode or NULL.  Takes ns->lock shared. */
struct zfs_inode *zfs_ns_hold(struct zfs_ns *ns, uint64_t ino);

/* Fill out[] with up to `max` numbers of regular files with a name, taken
 * from the inode table from *cursor on (0: the start); *cursor is where
 * the next call goes on, 0 when the table is done.  With `idle_before`,
 * only files that are closed, not dense, and whose ctime is not after
 * *idle_before.  A table that grows between calls may make a walk miss
 * or repeat a file.  Returns the count.  Takes ns->lock shared. */
size_t zfs_ns_files(struct zfs_ns *ns, uint64_t *cursor, uint64_t *out, size_t max,
		    const struct timespec *idle_before);

/* A file's ctime and size, read together (takes the inode's lock). */
void zfs_ns_data_stamp(struct zfs_inode *inode, struct timespec *ctime, uint64_t *size);

/* Mark a file dense if its ctime is still `ctime` (nothing changed it
 * since zfs_ns_data_stamp).  Returns 1 if it is marked now and was not
 * before, else 0.  Takes the inode's lock. */
int zfs_ns_mark_dense(struct zfs_inode *inode, const struct timespec *ctime);

/* Extended attributes of ordinary inodes (the pool attributes are handled
 * by fuse/data.h).  setxattr flags: XATTR_CREATE / XATTR_REPLACE.  getxattr and
 * listxattr return the size (or the needed size when size is 0), -ERANGE
 * when buf is too small, -ENODATA when absent. */
int zfs_ns_setxattr(struct zfs_ns *ns, uint64_t ino, const char *name, const void *value,
		    size_t size, int flags);
int zfs_ns_getxattr(struct zfs_ns *ns, uint64_t ino, const char *name, void *buf, size_t size);
int zfs_ns_listxattr(struct zfs_ns *ns, uint64_t ino, char *buf, size_t size);
int zfs_ns_removexattr(struct zfs_ns *ns, uint64_t ino, const char *name);

/* Clear set-user-ID, and set-group-ID when group-executable, as the VFS
 * does on write, truncate and chown (fuse/session.h asks the kernel to
 * leave that to us: FUSE_HANDLE_KILLPRIV).  Write and truncate (always =
 * 0): regular files only, and only when `caller` is not root (CAP_FSETID).
 * Chown (always = 1): every non-directory - FIFOs, sockets, devices and
 * symlinks too, as chown_common() asks of notify_change() - whoever asks.
 * Takes the inode's lock. */
void zfs_ns_kill_suid(struct zfs_inode *inode, int always, uid_t caller);

/* Remove the security.capability attribute of inode `ino` if it has one,
 * as the VFS does on write, truncate and chown (fuse/session.h asks the
 * kernel to leave that to us: FUSE_HANDLE_KILLPRIV_V2).  Costs one atomic load while
 * no inode of the namespace holds that attribute, else takes ns->lock
 * exclusively (and changes ctime when it removes one).  Returns 0, or
 * -ENOENT for an unknown inode. */
int zfs_ns_kill_caps(struct zfs_ns *ns, uint64_t ino);

/* Remove every name of the given inodes (sorted ascending, n of them):
 * the files the store evicted.  `removed` (may be NULL) is called under
 * ns->lock for each name removed, with its directory and name, so the
 * caller can tell the kernel after the lock is gone; it must not call into
 * ns.  Every directory is searched (by the rule of homes, an evicted
 * file's names are all in ephemeral pools).  Returns the number of inodes
 * that lost their names. */
uint64_t zfs_ns_evict(struct zfs_ns *ns, const uint64_t *inos, size_t n,
		      void (*removed)(void *arg, uint64_t parent, const char *name, uint64_t ino),
		      void *arg);

/* The pool a directory directly under the root (or the root) stands for,
 * or NULL.  Takes ns->lock shared; the pointer is valid while the caller's
 * request on that directory is in flight. */
struct zfs_pool *zfs_ns_pool_of_dir(struct zfs_ns *ns, uint64_t ino);

/* Is the pool empty: no inode at home there but its directory, and no
 * name in it (of a file at home elsewhere; the root pool's directories are
 * pools of their own and do not count)?  Caller decides under
 * zfs_ns_pool_lock. */
int zfs_ns_pool_empty(struct zfs_ns *ns, struct zfs_pool *pool);

/* Hold ns->lock exclusively around a pool change (kind) that must see the
 * pool empty and stay so.  Nothing else may be called in between. */
void zfs_ns_pool_lock(struct zfs_ns *ns);
void zfs_ns_pool_unlock(struct zfs_ns *ns);

/* Call fn for every live pool (dir not removed) under ns->lock shared;
 * stops when fn returns nonzero and returns that value. */
int zfs_ns_pools_foreach(struct zfs_ns *ns, int (*fn)(void *arg, struct zfs_pool *pool),
			 void *arg);

/* Find a live pool by id under ns->lock shared (NULL if none). The pointer
 * is only safe to dereference inside fn; see zfs_ns_pool_with. */
int zfs_ns_pool_with(struct zfs_ns *ns, uint64_t id, int (*fn)(void *arg, struct zfs_pool *pool),
		     void *arg);

/* Fill *out (takes ns->lock shared). */
void zfs_ns_stats(struct zfs_ns *ns, struct zfs_ns_stats *out);

/* Walk everything and check (O(n log n) in inodes and entries): the table
 * holds each inode once, every
 * directory entry names a live inode, nlink equals the names (+ subdirs for
 * directories), parents match, cookies are sorted and below dnext_cookie,
 * hash chains hold what their counts say, every inode's pool is live and
 * pool reference counts match, every live pool's directory is a top-level
 * directory of it, every directory is in its parent's pool, and every
 * non-directory keeps the rule of homes (hnames counts its names at home,
 * at least one while it has names; a name in a persistent pool means a
 * persistent home).  Returns 0 or -EUCLEAN after printing the
 * first violation to stderr.  Takes ns->lock exclusively. */
int zfs_ns_check(struct zfs_ns *ns);

/* ---- saved states (fuse/state.h) -------------------------------------------
 * zfs_ns_export hands the whole namespace to callbacks as records, and the
 * zfs_ns_import_* calls build it again, with the same inode numbers,
 * directory cookies (readdir offsets stay valid), times, owners, links,
 * xattrs, pools and counters, in a namespace fresh from zfs_ns_create.
 * Only named inodes are recorded (an unlinked file only the kernel still
 * knows is gone once the mount is), and only live pools.  What the kernel
 * holds of them (lookup counts, open files) is recorded with
 * ZFS_NS_EXPORT_KERNEL (for a process that keeps the mount); without it
 * (a snapshot, written after the unmount) they are recorded as 0. */

struct zfs_ns_rec_pool {
	uint64_t id, dir_ino;
	unsigned codec;
	int ephemeral;
	uint64_t densify;
	uint64_t bytes_written, bytes_read;
	const char *name;		/* "" for the root pool */
};

struct zfs_ns_rec_inode {
	uint64_t ino;
	uint64_t pool;			/* the id of inode->pool */
	uint64_t size;
	uint64_t nlookup;		/* 0 unless ZFS_NS_EXPORT_KERNEL */
	uint64_t parent;		/* directories: ".." */
	uint64_t next_cookie;		/* directories: the next cookie */
	struct timespec atime, mtime, ctime;
	uint32_t mode, uid, gid, nlink, nopen, rdev;
	unsigned dense;
	const char *symlink;		/* symlinks: the target, else NULL */
};

struct zfs_ns_rec_dirent {
	uint64_t dir, cookie, ino;
	const char *name;
};

struct zfs_ns_rec_xattr {
	uint64_t ino;
	const char *name;
	const void *value;
	size_t size;
};

/* The callbacks of zfs_ns_export: each returns 0 or a negative errno that
 * stops the walk. */
struct zfs_ns_export_ops {
	int (*pool)(void *arg, const struct zfs_ns_rec_pool *r);
	int (*inode)(void *arg, const struct zfs_ns_rec_inode *r);
	int (*xattr)(void *arg, const struct zfs_ns_rec_xattr *r);
	int (*dirent)(void *arg, const struct zfs_ns_rec_dirent *r);
};

#define ZFS_NS_EXPORT_KERNEL 1u

/* Walk the namespace under ns->lock (shared): *next_ino and *next_pool_id
 * first, then every pool, then every inode (ascending table order, each
 * followed by its xattrs), then every directory entry (each directory's
 * in cookie order).  The callbacks must not call into ns.  Returns 0 or
 * the first callback's error. */
int zfs_ns_export(struct zfs_ns *ns, unsigned flags, uint64_t *next_ino,
		  uint64_t *next_pool_id, const struct zfs_ns_export_ops *ops, void *arg);

/* Building a saved namespace into `ns`, fresh from zfs_ns_create and used
 * by nobody else (no lock is taken), in the order zfs_ns_export gives:
 * pools (the root pool, id 0, updates the existing one and `pool` is NULL;
 * any other gives a struct the caller allocated with its store pool,
 * which ns owns on success and leaves to the caller on failure), inodes (number 1
 * updates the root), xattrs, entries (ascending cookies per directory),
 * then zfs_ns_import_finish.  Each returns 0, -ENOMEM, or -EINVAL for a
 * record that contradicts what came before (a number taken, an unknown
 * inode or pool, a bad mode, name or cookie); the caller then destroys
 * the namespace.  zfs_ns_import_finish checks the whole (every inode named
 * from the root up without a cycle, link counts, parents, pools and
 * homes as zfs_ns_check wants them) and derives the counts; -EINVAL when
 * it does not hold, with *why set to a short text. */
int zfs_ns_import_pool(struct zfs_ns *ns, const struct zfs_ns_rec_pool *r,
		       struct zfs_pool *pool);
int zfs_ns_import_inode(struct zfs_ns *ns, const struct zfs_ns_rec_inode *r);
int zfs_ns_import_xattr(struct zfs_ns *ns, const struct zfs_ns_rec_xattr *r);
int zfs_ns_import_dirent(struct zfs_ns *ns, const struct zfs_ns_rec_dirent *r);
int zfs_ns_import_finish(struct zfs_ns *ns, uint64_t next_ino, uint64_t next_pool_id,
			 const char **why);

#endif /* ZC_FUSE_NS_H */
