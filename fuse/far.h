/* far.h - the far tier in the filesystem: closed files of ephemeral pools
 * spilled to a memcached cluster instead of dropped, and fetched back when
 * opened (DESIGN.md §5; the client is fuse/spill.h).
 *
 * Design.  With spill= (zfs_config.spill), eviction (fuse/mem.h) first asks
 * this module to spill: it takes the least recently used unpinned objects
 * of the ephemeral pools (tmem_lru_oldest, the order tmem_evict would take
 * them) and, for each file that still has a name, builds the file's image
 * under its io_lock held exclusively, queues the image on the spill client
 * (zfs_spill_store) and only then flushes the file's pages from the store
 * and marks the inode spilled (zfs_inode.spilled).  The image stays in this
 * module's memory until the cluster acknowledged every item: until then
 * it is the local copy (an open restores from it without the network), and
 * it is freed in the store's completion.  A file that could not be queued
 * (the client's queue full, or the image larger than it) is left to plain
 * eviction.  A store that fails (a dead node, a full server) is sent again
 * under a new generation, whose keys hash to a server anew, up to three
 * times; then the file is gone: its names are removed as eviction removes
 * them (zfs_ns_evict, the kernel told by the notifier) - never a file that
 * reads as zeros.
 *
 * The file keeps its name, attributes and inode number while spilled.  An
 * open (fuse/data.c zfs_data_open) or a truncation of a spilled file
 * restores it first (zfs_far_restore): from the pending image, or with one
 * multi-get (zfs_spill_fetch_sync, bounded by the client's timeouts - the
 * one place a FUSE worker waits for the network); the pages are put back
 * into the file's home pool and the remote copy is deleted.  A missing
 * item, a bad checksum or a dead node make the restore fail with -ENOENT;
 * the caller then makes the file gone (zfs_far_gone) and the open answers
 * ESTALE, so the VFS looks the name up again and finds nothing: ENOENT, as
 * for an evicted file.  Unlink (the inode's data released: zfs_far_forget),
 * truncation and rewriting (through an open, which restores) delete or
 * supersede the remote copy; every store takes a new generation, so a
 * stale image is never fetched.
 *
 * Images.  An image carries the file's pages in the forms they are stored
 * in (fuse/objimg.h: pam_export), so nothing is decompressed or compressed
 * again on either side, and a densified file's units come back as units
 * (its dense mark, fuse/densify.h, stays true).  While it is built the
 * file's object sits in a store pool of the tier's own (persistent, moved
 * there with tmem_move_object and back if the spill does not happen): the
 * stored forms are read without a lock, and the densifier, which repacks
 * with no lock of ours held, finds no object to swap into there.
 * Format, version 2, little endian: a 24-byte header (u32 magic "ZCFI",
 * u32 version 2, u32 0, u32 record count, u64 file size at the spill),
 * then per record a 16-byte head and its bytes:
 *   u32 index, u8 kind, u8 codec type, u16 map, u16 live, u16 0, u32 length
 *   FILL (kind 1)  the page at index is one 8-byte word repeated: length 8,
 *                  the word; codec, map, live 0
 *   RAW (kind 2)   the page's 4096 bytes; codec, map, live 0
 *   XCF (kind 3)   the page compressed: codec type CODEC_LZ4 or CODEC_ZSTD
 *                  (compress/codec.h), 1..4095 bytes; map, live 0
 *   UNIT (kind 4)  a multi-page unit: index is its group's first index (a
 *                  multiple of 16; a group may hold several lz4 units, all
 *                  naming it), codec the decode type, map the unit's page
 *                  map (dead slots included), live the slots of the group
 *                  still in it (nonzero, within map), then the payload
 *                  (1 .. PAM_EXPORT_BUF - PAM_UNIT_IMPORT_ROOM bytes).
 * Pages ascend over the records (a unit's lowest live page follows the
 * previous record's highest).  The cluster's items carry their own CRCs
 * (fuse/spill.h); a decoded image is checked again in full before anything
 * is stored (magic, version, every record's kind, codec type, map, live and
 * length, pages ascending and within the file's size, the count and the
 * length exact), and whatever a failed restore stored is flushed: a bad
 * image makes the file gone (-ENOENT), never wrong bytes.  Compressed bytes
 * are not decoded at the restore: bytes that do not decode (which the
 * checksums make a matter of a bug, not of the network) make reads of
 * those pages fail with EIO, as for any corrupt page.
 *
 * Only ephemeral pools spill: a file whose home is persistent is never a
 * candidate (tmem keeps no LRU for persistent pools), and a spilled file
 * linked or renamed (into any pool) is restored before the namespace moves
 * it (fuse/data.h zfs_data_lock_local), and so is every spilled file of
 * the pool a directory leaves when a rename moves it to another pool
 * (zfs_far_restore_pool: the table does not know which files are below
 * the directory), so persistent data never lives only remotely.  A pool
 * may opt out with the pool attribute
 * user.zcache.spill ("on", the default with spill=, or "off").
 *
 * Locks.  Order: evict_lock -> ns->lock -> io_lock -> f->lock -> the
 * client's.  zfs_far_spill runs with evict_lock held for writing (so no
 * open checks and pins a file meanwhile; opens wait while it reads the
 * images' stored forms, as they wait for an eviction) and takes each
 * file's io_lock exclusively; zfs_far_restore takes io_lock exclusively (or runs under
 * it) and f->lock only briefly, never across the network; the store's
 * completion runs on a client thread with no lock and takes evict_lock for
 * writing only to remove a lost file's names.  f->lock protects the table
 * of spilled files and its gauges.
 */
#ifndef ZC_FUSE_FAR_H
#define ZC_FUSE_FAR_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "fuse/spill.h"

struct pam;
struct tmem_store;
struct zfs_inode;
struct zfs_notify;
struct zfs_ns;
struct zfs_far;

/* The far tier's own counters, declared once: X(ID, field, figure, help)
 * gives the enum below, struct zfs_far_stats' counters, and the headline
 * figures (fuse/render.c) named `figure`.  FILES and BYTES are gauges,
 * the rest counters.  The client's figures (fuse/spill.h
 * ZFS_SPILL_STATS_FIELDS) come beside them in /.zcache/spill. */
#define ZFS_FAR_COUNTERS(X)							\
	X(FILES, spilled_files, spilled_files, "files whose data lives only in the" \
	  " cluster now (their stores acknowledged or still pending)")		\
	X(BYTES, spilled_bytes, spilled_bytes, "bytes of those files' images")	\
	X(SPILLS, spills, spill_files_stored, "files whose images the cluster"	\
	  " acknowledged, ever")						\
	X(SPILL_SKIPPED, spill_skipped, spill_skipped, "files left to plain eviction:" \
	  " the client's queue was full or the image too large, ever")		\
	X(SPILL_RETRIES, spill_retries, spill_retries, "stores sent again under a new" \
	  " generation (another server, likely) after one failed, ever")	\
	X(SPILL_FAILED, spill_failed, spill_failed, "images whose every store failed"	\
	  " (the file was lost), ever")						\
	X(FETCH_HITS, fetch_hits, spill_fetch_hits, "spilled files restored at open"	\
	  " or truncation, ever")						\
	X(FETCH_MISSES, fetch_misses, spill_fetch_misses, "spilled files found gone"	\
	  " at open or truncation (missing item, bad checksum, dead node), ever") \
	X(LOST_FILES, lost_files, spill_lost_files, "spilled files whose names were" \
	  " removed after a failed store or a miss, ever")

enum zfs_far_counter {
#define ZFS_FAR_ENUM(id, field, figure, help) ZFS_FAR_##id,
	ZFS_FAR_COUNTERS(ZFS_FAR_ENUM)
#undef ZFS_FAR_ENUM
	ZFS_FAR_NR
};

/* What zfs_far_create needs; every pointer must outlive the tier. */
struct zfs_far_config {
	const char *servers;		/* spill=: "HOST:PORT[+HOST:PORT...]" */
	struct tmem_store *store;
	struct pam *pam;		/* the store's backend: images carry its
					   stored forms (fuse/objimg.h) */
	struct zfs_ns *ns;
	struct zfs_notify *notify;	/* a lost file's invalidations */
	pthread_rwlock_t *evict_lock;	/* the memory account's (fuse/mem.h) */
	size_t queue_bytes;		/* images waiting to be stored; 0: the
					   client's default (64 MiB) */
};

/* Create the tier, its store pool (persistent, where a file's object sits
 * while its image is built) and its client (zfs_spill_create: its threads
 * start now, so call it after the daemon forked).  Returns NULL with errno
 * set (EINVAL: a bad server list, worded into err, or a pointer missing;
 * ENOSPC: no store pool left; ENOMEM; pthread_create's). */
struct zfs_far *zfs_far_create(const struct zfs_far_config *cfg, char *err, size_t errlen);

/* Stop the client (stores still pending end with -ESHUTDOWN: their files
 * are not touched any more) and free everything.  The session must have
 * stopped.  NULL does nothing. */
void zfs_far_destroy(struct zfs_far *f);

/* Spill least recently used closed files of ephemeral pools until about
 * `bytes` of the store's memory went (the images' bytes, which track the
 * compressed bytes freed), or no candidate is left, or the client's queue
 * is full.  Caller must hold the memory account's evict_lock for writing
 * and no ns or io lock.  Returns the bytes of the images queued and adds
 * the files spilled to *files. */
uint64_t zfs_far_spill(struct zfs_far *f, uint64_t bytes, uint64_t *files);

/* Is the inode spilled now?  (A relaxed read: decide under its io_lock.) */
int zfs_far_spilled(const struct zfs_inode *inode);

/* Bring a spilled file's pages back into its home pool (nothing when it is
 * not spilled).  `locked`: the caller holds inode's io_lock exclusively;
 * else this takes it.  May wait for one fetch (the client's timeouts bound
 * it).  Returns 0; -ENOENT when the file is gone (a missing or damaged
 * item, a dead node, a failed store: the caller calls zfs_far_gone once it
 * holds no lock); -ENOMEM, -EAGAIN (the fetch queue is full) or -EIO (the
 * store refused a page) leave the file spilled. */
int zfs_far_restore(struct zfs_far *f, struct zfs_inode *inode, int locked);

/* A spilled file truncated to 0 needs nothing back: forget its image
 * (as zfs_far_forget) and mark it local, empty.  Caller holds its io_lock
 * exclusively.  Nothing happens to a file that is not spilled. */
void zfs_far_discard(struct zfs_far *f, struct zfs_inode *inode);

/* Remove every name of the file numbered `ino`, as eviction does (takes
 * evict_lock for writing, zfs_ns_evict, the notifier told), if it is still
 * spilled.  The caller holds no lock. */
void zfs_far_gone(struct zfs_far *f, uint64_t ino);

/* The inode's data is released (unlinked and closed, or evicted): forget
 * its spilled image and delete the remote copy (or cancel its store).
 * Safe for a file that is not spilled.  May run under ns->lock. */
void zfs_far_forget(struct zfs_far *f, uint64_t ino);

/* Bring every spilled file back (zfs_far_restore), for a state image
 * (fuse/state.h) that must hold every file's pages; a file found gone loses
 * its names (zfs_far_gone), as at an open.  The filesystem must be quiet
 * (no request in flight); the caller holds no lock.  Adds the files
 * restored and lost to *restored and *lost.  Returns 0, or -ENOMEM, -EIO
 * (a file the store refused: it stays spilled) or -EAGAIN (the fetch queue
 * stayed full). */
int zfs_far_restore_all(struct zfs_far *f, uint64_t *restored, uint64_t *lost);

/* zfs_far_restore_all for the files at home in the store pool `pool` only,
 * e.g. before a directory of that pool moves to another (fuse/data.h
 * zfs_data_lock_local); the filesystem need not be quiet.  Same returns. */
int zfs_far_restore_pool(struct zfs_far *f, int pool, uint64_t *restored, uint64_t *lost);

/* Is any file at home in the store pool `pool` spilled now?  1, 0 or
 * -ENOMEM.  The caller holds no ns or io lock (evict_lock for reading is
 * fine, and keeps the answer true until it is dropped). */
int zfs_far_pool_spilled(struct zfs_far *f, int pool);

/* Everything the statistics print. */
struct zfs_far_stats {
	uint64_t counters[ZFS_FAR_NR];		/* ZFS_FAR_COUNTERS */
	struct zfs_spill_stats client;		/* fuse/spill.h */
	struct zfs_spill_server *servers;	/* malloc()ed; the caller frees */
	unsigned nservers;
};

/* Fill *out (counters read without a lock: each exact on its own).
 * Returns 0 or -ENOMEM (out->servers NULL). */
int zfs_far_stats(struct zfs_far *f, struct zfs_far_stats *out);

/* Check the table against its gauges and the client (zfs_spill_check).
 * Returns 0 or -EUCLEAN, printing the first violation.  For tests. */
int zfs_far_check(struct zfs_far *f);

#endif /* ZC_FUSE_FAR_H */
