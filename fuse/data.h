/* data.h - the data path of the filesystem: regular files' bytes and the
 * pools' store side on the tmem store.
 *
 * Design.  Page i of the regular file with inode number N is the tmem page
 * (pool, {N, 0, 0}, i), where pool is the tmem pool of the file's home
 * (fuse/ns.h, "Homes": the pool of its name - the root directory's, or the
 * top-level directory's it lies under - or, for a file with hard links in
 * several pools, the one the rule of homes picks).  The file size and every
 * other attribute live in the inode, not in tmem.
 *   read   for each page of the range ask tmem (a missing page - a hole or
 *          a page never written - reads as zeros) straight into a vector of
 *          pages from the SGV cache (the pool "zfs-io"); the first and last
 *          entries are trimmed to the requested bytes.
 *   write  whole pages are put as they come; the edge pages of an unaligned
 *          write are read, merged and put (read-modify-write).  A page whose
 *          bytes are all zero is flushed instead of put, so holes and
 *          written zero pages cost nothing.  Before it, the memory account
 *          reserves room (fuse/mem.h zfs_mem_reserve: ENOSPC at the limit).
 *   Bytes of the last page beyond the file size are always zero (truncation
 *   zeroes them), so extending a file never shows stale data.
 * Files end at 2^32 pages (16 TiB): EFBIG past that.  Writes are
 * write-through (no writeback cache), so an ENOSPC reaches the write(2)
 * that hit the limit; the kernel splits a write(2) into requests of
 * ZFS_MAX_IO, so one that crosses the limit returns the bytes of the
 * requests that were stored.
 *
 * Open files are pinned in tmem (whatever their pool: the pin travels with
 * the object when the file moves home, and the release unpins where the
 * object is then), so open files are never evicted and pins always equal
 * open files.  A pin is taken and dropped under the file's io_lock
 * (shared), which orders it against a move, and a pin is taken under the
 * memory account's evict_lock (shared), so no eviction runs between the
 * check that the file still exists and the pin.  In no-open mode
 * (fuse/ops.h) nothing is opened here: no pins, and none is needed, since
 * that mode has no ephemeral pool and no far tier.
 *
 * Pools on the store: each pool of the namespace owns one tmem pool of its
 * kind (persistent or ephemeral) and codec.  zfs_data_pool_new makes both;
 * the namespace calls back (zfs_data_ns_ops, priv: the tmem store) to flush
 * a released file's pages, count its blocks, move a file's object between
 * pools and destroy a released pool.
 *
 * Locks (ns.h's order): a read, an open or a release shares the file's
 * io_lock; a write, truncation or fallocate holds it exclusively; the size
 * is read and set under the inode's lock.  No function is called with an
 * ns or io lock held, and none takes ns->lock while it holds io_lock.
 *
 * Errors: negative errno; a failed call changes nothing but what it says.
 */
#ifndef ZC_FUSE_DATA_H
#define ZC_FUSE_DATA_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "fuse/ns.h"

#define ZFS_PAGE 4096u
#define ZFS_MAX_PAGES ((uint64_t)1 << 32)			/* pages per file */
#define ZFS_MAX_FILE_SIZE (ZFS_MAX_PAGES * ZFS_PAGE)		/* 16 TiB */
#define ZFS_MAX_IO ((size_t)1 << 20)				/* 1 MiB requests */

struct sgv_ctx;
struct sgv_obj;
struct sgv_pool;
struct tmem_store;
struct zfs_mem;
struct zfs_uring;

struct zfs_data {
	struct tmem_store *store;	/* immutable after init */
	struct zfs_ns *ns;		/* immutable */
	struct zfs_mem *mem;		/* immutable: reservation, evict_lock */
	struct sgv_pool *io_pool;	/* owned: read vectors */
	/* Optional (NULL: none): where the session publishes its io_uring
	 * transport (fuse/uring.h); set once before the session starts.  A
	 * read on a ring thread decompresses into the ring entry (see
	 * zfs_data_read). */
	_Atomic(struct zfs_uring *) *ring;
};

/* Set up the data path (creates the SGV pool "zfs-io" on `sgv`).  Returns
 * 0 or a negative errno (nothing to undo). */
int zfs_data_init(struct zfs_data *d, struct tmem_store *store, struct sgv_ctx *sgv,
		  struct zfs_ns *ns, struct zfs_mem *mem);

/* Free the SGV pool.  No call may run. */
void zfs_data_fini(struct zfs_data *d);

/* ---- files ----------------------------------------------------------------- */

/* Open a regular file (or any non-directory): pin its object where it is at
 * home and count the open in the namespace.  A spilled file (fuse/far.h)
 * is restored first - the one place a FUSE worker waits for the network,
 * bounded by the client's timeouts - and the memory account then makes
 * room for it by spilling or evicting others; a spilled file found gone
 * loses its names and the open answers -ESTALE (see below), and -EAGAIN
 * when eviction kept spilling it again.  Returns 0, -ENOMEM (no pin),
 * -ENFILE (too many pins on one object), or -ESTALE for a file that has no
 * name and no open file left (evicted while the kernel still knew it, or
 * unlinked and closed: its pages are gone either way, and a file is whole
 * or gone).  ESTALE, not ENOENT: the kernel may still cache the name of an
 * evicted file (its invalidation comes from the notifier thread), and on
 * ESTALE the VFS walks the path again asking us (LOOKUP_REVAL), so the
 * caller gets ENOENT, or with O_CREAT a new file - not ENOENT for a name
 * that no longer exists when it asked to create it. */
int zfs_data_open(struct zfs_data *d, struct zfs_inode *inode);

/* Before a link or rename that may move files home (ns.h, "Homes"): bring
 * the spilled ones among `a` and `b` back (fuse/far.h; either may be NULL,
 * or a file that is not spilled) and take the memory account's evict_lock
 * for reading with them local, so no eviction spills them again before the
 * move (a persistent home must hold its data).  Returns 0 with evict_lock
 * held (the caller drops it), or without it -ENOENT (a file was gone: its
 * names are removed now), -EAGAIN (spilled again and again meanwhile),
 * -ENOMEM or -EIO.  `pools` (NULL, or two store pool ids, -1 for none):
 * pools of directories the rename moves to another pool, whose spilled
 * files all come back too (the far tier does not know which of them are
 * below the directory: every one at home in its pool comes back), so a
 * directory moved into a persistent pool brings no file that lives only
 * remotely. */
int zfs_data_lock_local(struct zfs_data *d, struct zfs_inode *a, struct zfs_inode *b,
			const int pools[2]);

/* Undo zfs_data_open: unpin where the object is now, count the open out. */
void zfs_data_close(struct zfs_data *d, struct zfs_inode *inode);

/* The bytes of a read: iov[0..cnt) (cnt may be 0: nothing to read), owned
 * until zfs_data_buf_free. */
struct zfs_data_buf {
	struct iovec *iov;
	int cnt;
	struct sgv_obj *obj;	/* the pages behind iov */
	struct iovec one;	/* iov when the bytes lie in a ring entry */
};

/* Read up to `size` bytes at `off` of an open file into *out (empty at or
 * beyond the end).  Counts the bytes in the home pool's bytes_read.
 * On a thread of the io_uring transport serving a request, a read at a
 * page-aligned offset whose pages fit the ring entry's payload buffer is
 * decompressed straight into that buffer (fuse/uring.h zfs_uring_payload:
 * out->iov is then out->one, naming the buffer, and the reply that names
 * it commits without a copy); any other read fills vectors from the SGV
 * pool.  Returns 0, -ENOMEM, or -EIO (the store failed a page). */
int zfs_data_read(struct zfs_data *d, struct zfs_inode *inode, size_t size, off_t off,
		  struct zfs_data_buf *out);
void zfs_data_buf_free(struct zfs_data_buf *b);

/* Write `size` bytes at `off` (at the end of the file when `append`) of an
 * open file, after reserving room (zfs_mem_reserve).  Then, as the VFS
 * would, clears set-user-ID/set-group-ID (caller not root) and
 * security.capability.  Returns the bytes written (fewer than asked only
 * at the 16 TiB limit or when the store failed midway), -EINVAL (off < 0),
 * -EFBIG, -ENOSPC (the limit, or the store), -ENOMEM or -EIO (the store;
 * nothing written). */
ssize_t zfs_data_write(struct zfs_data *d, struct zfs_inode *inode, const char *buf,
		       size_t size, off_t off, int append, uid_t caller);

/* Set a regular file's size (holds its io_lock): a shrink zeroes the tail
 * of the new last page and drops every page after it.  A spilled file
 * (fuse/far.h) is restored first, unless the size is 0 (its image is
 * forgotten then).  Returns 0, -EFBIG, -ENOENT (a spilled file found gone:
 * its names are removed), or -ENOMEM, -ENOSPC, -EIO from the store or the
 * far tier. */
int zfs_data_truncate(struct zfs_data *d, struct zfs_inode *inode, uint64_t size);

/* fallocate(2) on an open file: plain allocation (holes cost nothing, so
 * only the size may change), FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE
 * (with KEEP_SIZE) and FALLOC_FL_ZERO_RANGE.  Returns 0, -EOPNOTSUPP
 * (other modes), -EINVAL, -EFBIG, or -ENOMEM, -ENOSPC, -EIO from the
 * store. */
int zfs_data_fallocate(struct zfs_data *d, struct zfs_inode *inode, int mode, off_t off,
		       off_t len);

/* SEEK_DATA / SEEK_HOLE from `off` in an open file (pages stored are data,
 * pages not stored are holes).  Returns 0 and the offset in *res, -ENXIO
 * (at or beyond the end, or no data after off), or -EINVAL (another
 * whence). */
int zfs_data_seek(struct zfs_data *d, struct zfs_inode *inode, off_t off, int whence,
		  off_t *res);

/* ---- pools on the store ---------------------------------------------------- */

/* A new pool struct with a new tmem pool of the kind and codec (for
 * zfs_ns_create, zfs_ns_mknod, zfs_ns_rename, which take it over).  NULL
 * with errno ENOMEM or ENOSPC (no tmem pool id left). */
struct zfs_pool *zfs_data_pool_new(struct tmem_store *store, int ephemeral, unsigned codec);

/* Destroy a pool from zfs_data_pool_new that the namespace did not take
 * (its tmem pool and the struct).  NULL does nothing. */
void zfs_data_pool_discard(struct tmem_store *store, struct zfs_pool *pool);

/* The pool attributes user.zcache.kind ("persistent", "ephemeral"),
 * user.zcache.compressor (a codec name, fuse/ns.h pools),
 * user.zcache.densify (what densifying the pool's files uses: "default" -
 * the mount's densify= -, "auto", "off" or a codec name; fuse/densify.h)
 * and user.zcache.spill ("on", the default, or "off": whether eviction may
 * spill the pool's files to the far tier of spill=, fuse/far.h; an
 * ephemeral pool's setting only matters), set on the pool directories and
 * the root. */
#define ZFS_XATTR_KIND "user.zcache.kind"
#define ZFS_XATTR_CODEC "user.zcache.compressor"
#define ZFS_XATTR_DENSIFY "user.zcache.densify"
#define ZFS_XATTR_SPILL "user.zcache.spill"

/* Is `name` a pool attribute? */
int zfs_data_pool_xattr(const char *name);

/* Read a pool attribute into buf (as snprintf: returns the length it
 * needs, without the NUL). */
int zfs_data_pool_getxattr(struct zfs_pool *pool, const char *name, char *buf, size_t len);

/* Set a pool attribute of the pool directory `dir` (pool: its pool) from
 * `value` (size bytes, a trailing newline ignored): the codec for later
 * writes, the densify setting (for the densifier's next group), the spill
 * setting (for the next eviction; files spilled already stay so), or the
 * kind (only while the pool is empty: -EBUSY, unless unchanged).  `flags`
 * are setxattr's.  A pool's attributes are its owner's to set, as its mode
 * is: `caller` must be root or own `dir`.
 * Returns 0, -EEXIST (XATTR_CREATE: pool attributes always exist), -ENOENT
 * (dir is gone), -EPERM (not the owner), -EINVAL (a value the attribute
 * does not take). */
int zfs_data_pool_setxattr(struct zfs_data *d, uint64_t dir, struct zfs_pool *pool,
			   const char *name, const char *value, size_t size, int flags,
			   uid_t caller);

/* The namespace's callbacks (struct zfs_ns_ops) on the store: priv is the
 * struct tmem_store. */
extern const struct zfs_ns_ops zfs_data_ns_ops;

#endif /* ZC_FUSE_DATA_H */
