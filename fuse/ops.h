/* ops.h - the FUSE low-level handlers of zcached (zfs_lowlevel_ops) and
 * the replies each one sends.
 *
 * Design.  Every handler has one shape: it chooses the node operations of
 * the inode - or, for requests about a name, of the name - once
 * (the namespace's for inode numbers below ZFS_CTL_INO_BASE, the /.zcache
 * tree's at and above it and for the name ".zcache" in the root, fuse/ctl.h;
 * a link or rename touching the tree is the tree's); calls that node's
 * operation, which calls the module of the concern (fuse/ns.h, data.h,
 * mem.h, ctl.h) and describes its answer; and replies in one place (a
 * negative errno becomes fuse_reply_err).  Requests about the whole
 * filesystem (statfs) and those with nothing to do (fsync, fsyncdir,
 * releasedir: the data is where it will stay, in RAM) choose no node.
 *
 * Pools (fuse/ns.h "Pools"): mkdir directly under the root creates a tmem
 * pool of the configured kind and codec for the new directory, rmdir of
 * it destroys the pool once no inode refers to it.  The xattrs
 * user.zcache.kind and user.zcache.compressor of a pool directory (and of
 * the root) read and set the pool's kind (only while the pool is empty:
 * EBUSY otherwise) and codec (fuse/data.h).  rename and link work between
 * pools: a file that changes home has its tmem object moved to the other
 * tmem pool as it is (no page compressed again, later writes use the new
 * pool's codec), under ns->lock and the file's io_lock held exclusively.
 * A rename that may make a directory a new top-level pool (to the root, or
 * an exchange from it) allocates that pool's tmem pool first; ns takes it
 * only if it is needed.  rename, link and unlink hold the memory account's
 * evict_lock shared (fuse/mem.h, "Eviction"); rename and link first bring
 * back the files they may move if the far tier spilled them (fuse/data.h
 * zfs_data_lock_local).
 *
 * Kernel caching: entries (negative ones too) and attributes of the
 * namespace are cached for ZFS_TIMEOUT seconds, an hour, and file pages
 * are kept across opens (keep_cache; O_DIRECT opens bypass the cache):
 * every change passes through this one kernel mount, which updates or
 * drops what it caches itself.  The only changes made behind its back are
 * evictions, invalidated by the notifier (fuse/notify.h).  (With the former
 * one second, an untar or read-all longer than a second sent a LOOKUP or
 * GETATTR again for every path it walked after the expiry.)  The /.zcache
 * tree's entries and attributes are not cached (timeout 0) and its files
 * are opened with direct_io, their size being unknown until rendered.
 *
 * No-open mode (cfg.no_open, -o open=off).  OPEN (of files and of /.zcache
 * files) and CREATE are answered ENOSYS: the kernel then sets no_open and
 * no_create for the connection (fs/fuse/file.c fuse_file_open, dir.c
 * fuse_atomic_open), makes new files with MKNOD, opens files without a
 * request, never sends RELEASE (fuse_file_put skips it once no_open is set,
 * for created files too), and sends fh 0 with every request on an open
 * file, whose inode number then names the file (a file the kernel holds
 * open, it holds a lookup of).  The kernel's default open flags apply:
 * keep_cache (as ours), no direct_io (an O_DIRECT open still goes around
 * the page cache through the kernel's direct-I/O path), no FOPEN_NOFLUSH
 * (FLUSH is ENOSYS anyway).  What it costs: the daemon no longer knows
 * which files are open, so nothing may depend on it - a file without names
 * keeps its data while the kernel knows the inode (ns.h
 * zfs_ns_keep_known), the /.zcache files are snapshots made at lookup
 * (ctl.h), and open=off is refused with ephemeral pools (eviction takes
 * closed files only: pool=ephemeral, a loaded snapshot's ephemeral pools,
 * user.zcache.kind=ephemeral answers EOPNOTSUPP), the far tier (spill=: it
 * restores files at open) and the SIGHUP reload (fuse/reload.h).  Pools'
 * open_files stay 0.  OPENDIR is still answered (no_opendir would make the
 * kernel cache directory listings, which eviction changes behind its back).
 * Saves per file read the OPEN and the RELEASE, per file made the RELEASE.
 *
 * INIT asks for asynchronous reads, FUSE_CAP_HANDLE_KILLPRIV (the
 * filesystem clears set-user-ID itself; fuse/session.h adds the flags
 * libfuse cannot ask for), always READDIRPLUS, no splicing, requests of
 * ZFS_MAX_IO and 64 background requests.
 *
 * Valid replies, complete (each handler replies exactly once; "err (0)" is
 * success without data; the errors are every errno a handler can send):
 *   init          (none)
 *   lookup        entry | err (ENOTDIR, ENAMETOOLONG); ENOENT is answered
 *                 with a negative entry the kernel may cache
 *   forget, forget_multi
 *                 none
 *   getattr       attr | err (ENOENT)
 *   setattr       attr | err (ENOENT, EISDIR and EINVAL for a size on a
 *                 directory or special file, EINVAL for a negative size,
 *                 EFBIG, ENOMEM, ENOSPC and EIO from the store while
 *                 truncating, ENOENT and EAGAIN restoring a spilled file,
 *                 EPERM for anything but size and times in /.zcache)
 *   readlink      readlink | err (ENOENT, EINVAL: not a symlink)
 *   mknod, mkdir, symlink
 *                 entry | err (EEXIST, ENOENT, ENOTDIR, ENAMETOOLONG, EINVAL,
 *                 EMLINK, ENOMEM, ENOSPC: no tmem pool left for a new pool,
 *                 EPERM in /.zcache, EEXIST for .zcache in the root)
 *   create        create | err (as mknod, and ESTALE, ENFILE: open's; ENOSYS
 *                 in no-open mode)
 *   link          entry | err (EPERM: a directory or /.zcache, EEXIST, ENOENT,
 *                 ENOTDIR, ENAMETOOLONG, EMLINK, ENOMEM; EAGAIN, EIO
 *                 restoring a spilled file)
 *   unlink, rmdir err (0, ENOENT, EISDIR, ENOTDIR, ENOTEMPTY, EINVAL: "." or
 *                 "..", ENAMETOOLONG, EPERM in /.zcache)
 *   rename        err (0, ENOENT, EEXIST, ENOTEMPTY, EISDIR, ENOTDIR, EINVAL,
 *                 EBUSY, ENAMETOOLONG, ENOMEM, ENOSPC: no tmem pool left for
 *                 a new pool, EPERM in /.zcache; EAGAIN, EIO restoring a
 *                 spilled file)
 *   open          open | err (ENOENT, ESTALE: evicted, or spilled and found
 *                 gone, EISDIR, ENOMEM, ENFILE (pins or handles), EAGAIN and
 *                 EIO restoring a spilled file, EIO from the store for
 *                 O_TRUNC; in /.zcache EACCES for a
 *                 write open by other than root or of a read-only file;
 *                 ENOSYS in no-open mode)
 *   read          iov | buf | err (EIO, ENOMEM, EBADF: an fh that names no
 *                 open file, fuse/handle.h, or in no-open mode an inode or
 *                 /.zcache snapshot that is gone)
 *   write         write | err (EINVAL, EFBIG, ENOSPC: the limit or the
 *                 backend, ENOMEM, EIO, EBADF; in /.zcache EACCES, EPERM,
 *                 EINVAL)
 *   release, releasedir, fsync, fsyncdir
 *                 err (0)
 *   opendir       open | err (ENOENT, ENOTDIR)
 *   readdir, readdirplus
 *                 buf | err (ENOENT, ENOTDIR, ENOMEM)
 *   statfs        statfs
 *   setxattr      err (0, EEXIST, ENODATA, ENOENT, EOPNOTSUPP (also an
 *                 ephemeral user.zcache.kind in no-open mode), EINVAL, ERANGE,
 *                 E2BIG, ENOMEM, EBUSY and EPERM: pool attributes, EPERM in /.zcache)
 *   removexattr   err (0, ENODATA, ENOENT, EOPNOTSUPP, EPERM: pool attributes
 *                 and /.zcache)
 *   getxattr      buf | xattr | err (ENODATA, ENOENT, ERANGE, EOPNOTSUPP, ENOMEM)
 *   listxattr     buf | xattr | err (ENOENT, ERANGE, ENOMEM)
 *   fallocate     err (0, EOPNOTSUPP, EINVAL, EFBIG, ENOMEM, ENOSPC, EIO, EBADF,
 *                 EPERM in /.zcache)
 *   lseek         lseek | err (ENXIO, EINVAL, EBADF)
 * There is no flush handler: libfuse answers ENOSYS once and the kernel
 * stops sending FLUSH on every close (nothing to flush in RAM).
 *
 * Threads: every handler runs on any of the session's worker threads
 * (fuse/session.h); the modules below are thread safe.
 */
#ifndef ZC_FUSE_OPS_H
#define ZC_FUSE_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#define ZFS_TIMEOUT 3600.0	/* entry/attr cache of the namespace, s */

/* The operations table for fuse_session_new; userdata is the struct zfs
 * (fuse/zfs.h). */
extern const struct fuse_lowlevel_ops zfs_lowlevel_ops;

#endif /* ZC_FUSE_OPS_H */
