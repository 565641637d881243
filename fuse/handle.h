/* handle.h - the file handles the kernel holds for open namespace files:
 * fi->fh is an index and a generation in a table, never a pointer.
 *
 * Design.  Every open (and create) of a namespace file takes a slot of the
 * table and hands the kernel fh = generation << 32 | (index + 1); every
 * request on the open file (read, write, fallocate, lseek, release) turns
 * the fh back into the inode with zfs_handle_get.  A value is meaningful
 * on its own - an index and a generation, no address - so handles can be
 * written down and given to another process (the SIGHUP reload hands
 * every open handle over in its image, fuse/reload.h, and the new process
 * puts each back in its slot with its generation), and an fh that names a
 * closed slot (a stale or forged one) is refused instead of dereferenced.
 * 0 is never a handle (in no-open mode, fuse/ops.h, the kernel sends fh 0
 * and the table stays empty).
 *
 * Memory: slots live in chunks of ZFS_HANDLE_CHUNK (4096 slots, 64 KiB)
 * allocated as the table grows and never moved or freed before the table
 * is, so zfs_handle_get reads a slot without a lock; at most
 * ZFS_HANDLE_CHUNKS chunks (2^22 open files).  Closed slots are reused,
 * the last freed first, each time with the next generation.
 *
 * Locks: `lock` (a leaf) serializes open and close; get takes none: a slot
 * is only read by requests on its open file, which the kernel sends
 * between the open's reply and the release (so never concurrently with the
 * close that frees it); its fields are atomics, so a forged fh read
 * concurrently with a close sees a consistent generation and at worst
 * NULL.
 *
 * Errors: negative errno.
 */
#ifndef ZC_FUSE_HANDLE_H
#define ZC_FUSE_HANDLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct zfs_inode;

#define ZFS_HANDLE_CHUNK 4096u
#define ZFS_HANDLE_CHUNKS 1024u

struct zfs_handle_slot {
	_Atomic uint32_t gen;			/* odd: open; even: free */
	uint32_t next_free;			/* free list (index + 1, 0 = end); lock */
	_Atomic(struct zfs_inode *) inode;	/* the open file, NULL when free */
};

struct zfs_handles {
	pthread_mutex_t lock;
	_Atomic(struct zfs_handle_slot *) chunks[ZFS_HANDLE_CHUNKS];	/* grow only */
	uint32_t nslots;			/* slots handed out so far; lock */
	uint32_t free_head;			/* index + 1 of the first free slot; lock */
	_Atomic uint64_t open;			/* handles open now */
};

/* Set up an empty table.  Returns 0 or -ENOMEM. */
int zfs_handles_init(struct zfs_handles *h);

/* Free the chunks (every handle is forgotten).  No call may run. */
void zfs_handles_fini(struct zfs_handles *h);

/* A new handle for `inode` (the caller opened it: zfs_data_open).  Returns
 * the fh (never 0) in *fh and 0, -ENFILE (the table is full) or -ENOMEM. */
int zfs_handle_open(struct zfs_handles *h, struct zfs_inode *inode, uint64_t *fh);

/* The inode an open handle names, or NULL for an fh that names no open
 * slot (0, out of range, a closed or reused slot). */
struct zfs_inode *zfs_handle_get(struct zfs_handles *h, uint64_t fh);

/* Close a handle: returns its inode (for zfs_data_close) or NULL when fh
 * names no open slot (nothing changes). */
struct zfs_inode *zfs_handle_close(struct zfs_handles *h, uint64_t fh);

/* ---- the SIGHUP reload (fuse/reload.h) ------------------------------------ */

/* Call fn for every open handle, in index order, under the table's lock
 * (fn must not call into the table); stops at fn's first nonzero return,
 * which it returns (else 0).  For a quiet filesystem. */
int zfs_handle_each(struct zfs_handles *h, int (*fn)(void *arg, uint64_t fh,
						     struct zfs_inode *inode), void *arg);

/* Put an open handle back exactly as another process handed it out: slot
 * index and generation from `fh`, naming `inode` (the caller opened it).
 * Slots below it that nobody adopts stay free (generation 0).  Call
 * zfs_handle_adopt_done once every handle is in, before any open.
 * Returns 0, -EINVAL (not an open handle's fh, or inode NULL), -EEXIST
 * (the slot is taken) or -ENOMEM. */
int zfs_handle_adopt(struct zfs_handles *h, uint64_t fh, struct zfs_inode *inode);

/* Rebuild the free list after adoptions (lowest free index first). */
void zfs_handle_adopt_done(struct zfs_handles *h);

#endif /* ZC_FUSE_HANDLE_H */
