/* ctl.h - the /.zcache statistics and control tree (DESIGN.md §2).
 *
 *   /.zcache/                     0555 root
 *     stats mm_stat metrics stats.json compress     0444: read-only figures
 *     compact drop_ephemeral sgv_flush              0600: write 1 to act
 *     mem_limit                                     0644: read, write (root)
 *     pools/NAME/stats            per pool ("default" is the root pool)
 *     alloc/buddy alloc/sgv alloc/xcf alloc/slabinfo
 *
 * Design.  The tree is virtual: its inode numbers live at and above
 * ZFS_CTL_INO_BASE, far above any number the namespace hands out, so zfs.c
 * dispatches by number.  pools/NAME is numbered from the zcached pool id.
 * A file's content is rendered (fuse/render.h) when it is opened, into a
 * buffer owned by the open file, so a reader sees one consistent snapshot
 * however it reads; the files are opened with direct_io since their size is
 * unknown until then (st_size is 0, as in /proc).  Writes act at once:
 * compact (zfs_mem_compact, whether it pays or not), drop_ephemeral
 * (zfs_mem_drop_ephemeral), sgv_flush
 * (sgv_ctx_flush), mem_limit (a size as the mount option takes it).  Only
 * root may write (the kernel checks the modes with default_permissions; a
 * write from any other uid is refused with EACCES here as well).  Nothing
 * in the tree can be created, removed, renamed or linked (EPERM).
 *
 * Threads: every function is thread safe; the tree has no state of its own
 * besides the open files' buffers, which belong to their file handles.
 */
#ifndef ZC_FUSE_CTL_H
#define ZC_FUSE_CTL_H

#include <stdint.h>
#include <sys/stat.h>

#include "fuse/ns.h"
#include "fuse/zfs.h"

#define ZFS_CTL_NAME ".zcache"
#define ZFS_CTL_INO_BASE ((uint64_t)1 << 60)
#define ZFS_CTL_INO_ROOT ZFS_CTL_INO_BASE

/* Is `ino` in the /.zcache tree? */
static inline int zfs_ctl_is(uint64_t ino)
{
	return ino >= ZFS_CTL_INO_BASE;
}

/* Look `name` up in the ctl directory `parent` (or ".zcache" in the root).
 * Fills *st.  Returns 0 or -ENOENT. */
int zfs_ctl_lookup(struct zfs *fs, uint64_t parent, const char *name, struct stat *st);

/* Attributes of a ctl inode; -ENOENT for a number that names nothing (a
 * pool that is gone). */
int zfs_ctl_getattr(struct zfs *fs, uint64_t ino, struct stat *st);

/* List a ctl directory from offset `off` (see zfs_ns_readdir). */
int zfs_ctl_readdir(struct zfs *fs, uint64_t ino, uint64_t off, zfs_ns_filldir_fn fill,
		    void *arg);

/* Open a ctl file: render its content into a buffer stored in fi->fh, set
 * direct_io.  Returns 0, -EISDIR, -ENOENT, -EACCES (a write open by a
 * non-root caller), -ENOMEM. */
int zfs_ctl_open(struct zfs *fs, fuse_req_t req, uint64_t ino, struct fuse_file_info *fi);

/* Reply to a read of an open ctl file (fuse_reply_buf or _err). */
void zfs_ctl_read(struct zfs *fs, fuse_req_t req, uint64_t fh, size_t size, off_t off);

/* Act on a write to a control file.  Returns the bytes taken, -EACCES for
 * a non-root caller, -EINVAL for a value the file does not take, -EPERM
 * for a read-only file. */
ssize_t zfs_ctl_write(struct zfs *fs, fuse_req_t req, uint64_t ino, uint64_t fh,
		      const char *buf, size_t size, off_t off);

/* Free an open ctl file's buffer. */
void zfs_ctl_release(struct zfs *fs, uint64_t fh);

/* Free every ctl file still open (the session ended before the kernel
 * released them).  Only when no request can run any more. */
void zfs_ctl_release_all(struct zfs *fs);

/* Gather every module's figures into *s (free with zfs_snapshot_free).
 * Returns 0 or -ENOMEM. */
struct zfs_snapshot;
int zfs_ctl_snapshot(struct zfs *fs, struct zfs_snapshot *s);

#endif /* ZC_FUSE_CTL_H */
