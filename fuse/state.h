/* state.h - the state image: the whole filesystem (namespace and every
 * page as stored) written to a file or descriptor and read back, for
 * snapshots (-o snapshot=PATH, zcached(8)) and later hand-overs.
 *
 * Design.  One image is a header and a sequence of records, each with its
 * own checksum, so a reader names the exact record that is wrong.  Pages
 * travel in the form the store keeps them (compress/pam.h "stored forms"):
 * a same-filled page as its word, a raw page as its 4096 bytes, a
 * compressed page as its codec type and compressed bytes, a unit as its
 * decode type, page map and payload once with the slots still alive -
 * nothing is compressed again on either side, so saving and loading cost
 * about a copy of the stored bytes.  All of a file's pages go through one
 * function, zfs_state_export_object (state.c): a new place pages may live
 * in (another tier) is added there and in its reader.
 *
 * File format (version 1; every integer little-endian):
 *
 *   header   32 bytes: "ZCSTATE\n" (8), u32 version (1), u32 header
 *            size (32), u64 flags (bit 0: the kernel's lookup and open
 *            counts are recorded; 0 in snapshots), u32 0, u32 CRC32C of
 *            bytes 0..27.
 *   record   u32 type, u32 length N, N bytes of payload, u32 CRC32C of
 *            the type, length and payload (8 + N bytes).  N is at most
 *            ZFS_STATE_MAX_RECORD.
 *
 *   Records come in this order (a reader refuses any other):
 *   1 META    the statistics that persist: u64 mem_used_max, enospc,
 *             evicted_files, compactions, pages_compacted (fuse/mem.h,
 *             "ever" figures).
 *   2 POOL    u64 id, u64 dir_ino, u32 codec id, u32 ephemeral (0/1),
 *             u64 densify setting, u64 bytes_written, u64 bytes_read,
 *             u16 name length, name.  One per pool, the root pool (id 0,
 *             name "") included.
 *   3 INODE   u64 ino, pool id, size, nlookup, parent (directories),
 *             next cookie (directories), then for atime, mtime, ctime
 *             each i64 seconds and u32 nanoseconds, then u32 mode, uid,
 *             gid, nlink, nopen, rdev, dense, u16 target length, the
 *             symlink's target.
 *   4 XATTR   u64 ino, u16 name length, u32 value size, name, value.
 *   5 DIRENT  u64 directory, u64 cookie, u64 ino, u16 name length, name
 *             (ascending cookies per directory).
 *   (INODE and XATTR records are interleaved: an inode, then its xattrs.)
 *   6 PAGE    u64 ino, u32 index, u8 kind (1 same-filled, 2 raw, 3
 *             compressed), u8 codec type (compressed: 0 lz4, 1 zstd; else
 *             0), u16 0, then the form: the 8-byte word, 4096 bytes, or
 *             the compressed bytes (the rest of the record).
 *   7 UNIT    u64 ino, u32 first index of the group (a multiple of 16),
 *             u8 decode type, u8 0, u16 page map, u16 live slots (those
 *             of the group's pages that are in it), u16 0, payload.
 *   (PAGE and UNIT records of a file in ascending index order.)
 *   8 END     u64 next_ino, u64 next_pool_id (the numbers the namespace
 *             hands out next), u64 records before it, u64 pages, u64
 *             stored bytes (the page and unit payload bytes; a same-filled
 *             page counts 8).  Nothing may follow it.
 *
 * Pools in a snapshot.  Every pool comes back with its kind, codec,
 * densify setting and byte counters.  Persistent pools come back in full.
 * Ephemeral pools come back too (their names, files and pages are written
 * like the others): a snapshot is taken at a clean stop, and an ephemeral
 * pool's promise - whole files may go under memory pressure - holds just
 * as well after the load; the next pressure evicts them as before, least
 * recently used first in the order the load stored them.
 *
 * What is not in the image: the kernel's state (in snapshots), the FUSE
 * request statistics and the store's event counters (puts, gets, ...:
 * they start again; the gauges follow from the content), the densifier's
 * figures.  The bytes beyond a file's size in its last page are not
 * checked on load (they are zero in any image zcached wrote).
 *
 * Reading.  The reader checks the header, then each record's bounds and
 * checksum before it looks at its payload, then the payload's fields and
 * how it fits what came before (fuse/ns.h zfs_ns_import_*: numbers,
 * names, cookies; pages only of regular files, within their size, each
 * stored once; forms the backend would store), then at END the counts
 * and the namespace as a whole (zfs_ns_import_finish).  A failure is one
 * line, "FILE: offset N: PROBLEM", in the caller's buffer.  Compressed
 * payloads are taken as they are (the checksum guards them): a payload
 * that does not decode makes reads of that page fail with EIO, never
 * anything worse (compress/pam.h).
 *
 * Faults (debug builds): ZC_FAULT_STATE=N in the environment makes a save
 * write out what it buffered and SIGKILL its process as it completes
 * record N (tests/restart.c stops daemons at chosen points of a save).
 *
 * Threads: zfs_state_save needs the filesystem quiet - no request in
 * flight and the densifier stopped (zfs_stop) - since it reads the
 * store's pampds without holding them; zfs_state_load needs a filesystem
 * fresh from zfs_create that nobody else uses yet.  A save writes its
 * buffers from a thread of its own (state.c), which touches only the
 * descriptor and the buffers and has ended when the save returns; with
 * no thread to be had it writes them itself.  A load of an image of 4 MiB
 * or more likewise has a helper thread (state.c), which faults the image
 * and the store's new memory (alloc/buddy.h buddy_prefault) in ahead of
 * the reader, so the page faults - about half of a load done alone - run
 * beside the import; it touches only the image's mapping and the buddy
 * allocator and has ended when the load returns; with no thread to be had
 * the reader takes the faults itself.
 */
#ifndef ZC_FUSE_STATE_H
#define ZC_FUSE_STATE_H

#include <stddef.h>
#include <stdint.h>

struct zfs;

#define ZFS_STATE_VERSION 1u
#define ZFS_STATE_MAX_RECORD ((uint32_t)1 << 20)

/* What a save or load moved. */
struct zfs_state_figures {
	uint64_t records;
	uint64_t inodes;
	uint64_t pages;
	uint64_t units;
	uint64_t stored_bytes;		/* page and unit payload bytes */
	uint64_t file_bytes;		/* the image's size */
	uint64_t fetched;		/* save: spilled files fetched back first */
	uint64_t lost;			/* save: spilled files found gone (dropped) */
	uint64_t prefaulted;		/* load: 4 MiB chunks faulted in ahead (state.c) */
};

/* Write the state of `fs` (quiet, see Threads) to `fd` from its current
 * position, buffered, without fsync.  fig may be NULL.  Returns 0,
 * -ENOMEM, -EIO (a page the store could not export), or write(2)'s
 * error. */
int zfs_state_save(struct zfs *fs, int fd, struct zfs_state_figures *fig);

/* Header flag bit 0: the image records the kernel's lookup and open counts
 * of every inode (INODE nlookup and nopen); a snapshot never does. */
#define ZFS_STATE_KERNEL 1u

/* zfs_state_save for a process that keeps the mount (the SIGHUP reload,
 * fuse/reload.h): the header has ZFS_STATE_KERNEL and every INODE record
 * the kernel's nlookup and nopen, which zfs_state_load then restores.
 * Inodes only the kernel knows (unlinked, still looked up or open) are
 * not written, as in a snapshot: the reload refuses while one is open.
 * Returns as zfs_state_save. */
int zfs_state_save_kernel(struct zfs *fs, int fd, struct zfs_state_figures *fig);

/* Write the state to `path` safely: into "PATH.tmp" beside it (created
 * 0600, replaced if left over), fsync, rename over PATH, fsync of the
 * directory; a crash at any point leaves the previous PATH whole.  On
 * failure the temporary file is removed and err (errlen bytes) holds one
 * line naming the file and the problem.  Returns 0 or a negative errno. */
int zfs_state_save_file(struct zfs *fs, const char *path, struct zfs_state_figures *fig,
			char *err, size_t errlen);

/* Load an image of `len` bytes at `buf` into `fs`, which must be fresh
 * from zfs_create (only the root, nothing written) and used by nobody.
 * `name` names the image in messages.  On failure err holds one line
 * "NAME: offset N: PROBLEM" and fs holds part of the state: destroy it.
 * Returns 0, -EINVAL (the image is bad: err says where and why), -ENOMEM
 * or -ENOSPC (the store is full: err says so). */
int zfs_state_load(struct zfs *fs, const void *buf, size_t len, const char *name,
		   struct zfs_state_figures *fig, char *err, size_t errlen);

/* zfs_state_load of the file at `path` (mapped read-only and never
 * changed; faulted in at once, or by the load's helper when it is 4 MiB
 * or more).
 * Returns as zfs_state_load, or the errno of opening or mapping it
 * (-ENOENT when there is none; err says so too). */
int zfs_state_load_file(struct zfs *fs, const char *path, struct zfs_state_figures *fig,
			char *err, size_t errlen);

#endif /* ZC_FUSE_STATE_H */
