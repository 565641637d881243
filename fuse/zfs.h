/* zfs.h - the zcached filesystem object: what the daemon builds on the
 * store and hands to the FUSE session.
 *
 * Design.  The daemon builds the store (tmem/stack.h: buddy allocator, slab
 * host, SGV context, PAM backend, tmem store) and hands it to zfs_create in
 * a struct zfs_config.  struct zfs puts together the filesystem's parts,
 * each a module of fuse/ with its own state and header:
 *   ns      the namespace: inodes, names, links, xattrs, pools (fuse/ns.h)
 *   notify  the kernel cache invalidations of evicted files (fuse/notify.h)
 *   mem     the memory account: mem_used, the limit, compaction, eviction
 *           (fuse/mem.h)
 *   data    the data path: files' pages and pools on tmem (fuse/data.h)
 *   densify the thread that repacks idle files into multi-page units
 *           (fuse/densify.h), running from zfs_start to zfs_destroy
 *   far     with spill=, the far tier (fuse/far.h): eviction spills closed
 *           ephemeral files to memcached, opens restore them; made by
 *           zfs_start (its client's threads), published in mem.far
 *   tier    with cfg.backing: the writeback thread that moves cold pages
 *           of persistent pools to the backing file (fuse/tier.h), from
 *           zfs_start to zfs_destroy
 *   ctl     the /.zcache tree (fuse/ctl.h), rendered by fuse/render.h
 *   reqstats  the FUSE request statistics (fuse/reqstat.h), counted by the
 *           session's transports, shown in /.zcache/fuse
 *   handles the kernel's file handles of open files: index + generation in a
 *           table, never a pointer (fuse/handle.h)
 * and the handlers (fuse/ops.h, the table zfs_lowlevel_ops whose userdata
 * is the struct zfs) and the session loop (fuse/session.h) work on it.
 * The parts below zfs know nothing of struct zfs: each gets the pointers it
 * needs when it is set up, so no file of fuse/ includes a header of a part
 * above it (the order, bottom up: ns, notify, uring, densify, far, mem, tier, render, data,
 * ctl, handle, zfs, state, session, ops; the build checks it, fuse/CMakeLists.txt).
 *
 * The root directory is the default pool and always persistent (DESIGN.md
 * §2); config.ephemeral is the kind of the pools made under it.
 *
 * Lock order across the parts (each header lists its own):
 *   evict_lock (mem) -> ns->lock -> io_lock -> lock (an inode's, ns.h)
 *   -> (tmem, pam, sgv locks, taken inside those modules)
 *   (the far tier's table lock comes after io_lock, fuse/far.h)
 * ns takes io_lock under ns->lock only to move files between pools; open
 * and release take io_lock after dropping ns->lock.  The leaves: mem's
 * lock, ctl's lock, the notifier's lock.  No lock is held while a
 * notification is written to the device.
 *
 * Threads: create and destroy are the daemon's main thread's; everything
 * else is thread safe as its part says.
 */
#ifndef ZC_FUSE_ZFS_H
#define ZC_FUSE_ZFS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "fuse/ctl.h"
#include "fuse/data.h"
#include "fuse/densify.h"
#include "fuse/handle.h"
#include "fuse/mem.h"
#include "fuse/notify.h"
#include "fuse/ns.h"
#include "fuse/tier.h"

struct buddy;
struct fuse_session;
struct pam;
struct sgv_ctx;
struct slab_cache;
struct tmem_store;
struct zfs_reqstats;

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
	unsigned densify_idle;		/* seconds a closed file must stay unwritten
					   before the densifier takes it; 0 = only
					   /.zcache/densify (fuse/densify.h) */
	uint64_t densify;		/* the mount's densify= (zfs_densify_parse,
					   not a pool's "default"); 0 = "auto" */
	uid_t uid;			/* owner of the root directory */
	gid_t gid;
	int uring;			/* enum zfs_uring_mode (fuse/uring.h) */
	int no_open;			/* open=off: OPEN and CREATE answered ENOSYS
					   (fuse/ops.h, "No-open mode"); needs no
					   ephemeral pool and no spill */
	const char *spill;		/* spill=: the far tier's memcached servers
					   (fuse/spill.h list), NULL = none; read
					   by zfs_create and zfs_start */
	/* The backing tier (fuse/tier.h): an open backing file (NULL: none;
	 * needs pam), which must outlive the filesystem, and its settings. */
	struct backing *backing;
	uint64_t backing_limit;		/* bytes (the file's own cap), for the stats */
	uint64_t backing_budget;	/* bytes writeback may write; 0 = no budget */
	unsigned backing_high, backing_low;	/* % of mem_limit; 0 = defaults */
	uint64_t backing_compact;	/* zfs_tier_config.compact_min; 0 = default */
	/* Optional: one line about the session (the transport chosen, why
	 * the ring is not used); level 0 error, 1 warning, 2 info. */
	void (*log)(void *log_arg, int level, const char *msg);
	void *log_arg;
};

struct zfs_uring;

/* The filesystem.  Fields are for fuse/ only. */
struct zfs {
	struct zfs_config cfg;		/* immutable after create */
	struct zfs_ns *ns;		/* owned */
	struct zfs_notify notify;
	struct zfs_mem mem;
	struct zfs_data data;
	struct zfs_ctl ctl;
	struct zfs_reqstats *reqstats;	/* owned */
	struct zfs_densify densify;
	struct zfs_handles handles;	/* fi->fh of open namespace files (fuse/handle.h) */
	struct zfs_tier tier;		/* when have_tier */
	int have_tier;			/* cfg.backing was given; immutable */
	/* The INIT reply's patch (fuse/session.h, "Transport"). */
	_Atomic uint64_t init_unique;	/* the INIT request until answered, else 0 */
	_Atomic uint32_t init_offer;	/* INIT flags the kernel offered */
	_Atomic uint32_t init_flags;	/* INIT flags granted (after our additions) */
	_Atomic uint32_t init_offer2;	/* INIT flags2 the kernel offered */
	/* The INIT request's argument as the kernel sent it (the SIGHUP
	 * reload hands it to the next process, fuse/reload.h), written by
	 * the worker that read it before it is processed. */
	unsigned char init_in[64];
	uint32_t init_in_len;		/* 0 until INIT came */
	_Atomic int init_replay;	/* an INIT replayed by zfs_session_adopt: its
					   reply is never written to the device */
	int io_set;			/* the custom I/O is installed (session.c) */
	/* The session's transport (fuse/session.h, "Transport"): the io_uring
	 * transport (fuse/uring.h), made at INIT when the kernel offers it and
	 * cfg.uring allows, NULL before and without; the data path and the
	 * /.zcache tree read it through their configs. */
	_Atomic(struct zfs_uring *) uring;
	/* Set (by a signal handler) before a session end that hands the ring
	 * over: zfs_session_loop then leaves it running and published, for
	 * the hold (fuse/session.h zfs_session_loop), and clears it as it
	 * ends (a signal before the loop even started counts). */
	_Atomic int uring_keep;
	struct fuse_session *se;	/* the running session's (zfs_session_loop) */
	_Atomic int session_err;	/* a negative errno that ends the session */
	/* INTERRUPTs (never handed to libfuse: it cannot find ring requests)
	 * and the requests parked until one names them (fuse/session.c,
	 * "interrupts").  intr_lock is a leaf. */
	pthread_mutex_t intr_lock;
	uint64_t intr_recent[16];	/* uniques of the last interrupts; intr_lock */
	unsigned intr_next;		/* protected by intr_lock */
	uint64_t parked[16];		/* parked requests' uniques, 0 = free; intr_lock */
	int intr_stop;			/* the session is ending; protected by intr_lock */
	int intr_kept;			/* intr_lock lives on: a ring kept serving (session.c) */
	_Atomic unsigned nparked;	/* requests parked now */
	_Atomic uint64_t interrupts;	/* INTERRUPT requests received, ever */
};

/* Create the filesystem on the given store: the root pool (a tmem pool of
 * the configured kind and codec), the namespace with /.zcache, the memory
 * account with the configured limit, the data path and its SGV pool
 * "zfs-io", the request statistics, the /.zcache tree and the densifier
 * (its thread starts with zfs_start).  Returns NULL with errno EINVAL
 * (missing store, buddy or sgv, an unknown codec or densify setting, a bad
 * spill server list),
 * ENOSPC (no tmem pool id) or ENOMEM; nothing is left allocated. */
struct zfs *zfs_create(const struct zfs_config *cfg);

/* Stop the densifier, free the /.zcache files still open, the namespace, every tmem pool the
 * filesystem made and the I/O pool.  The session must have stopped.
 * zfs_destroy(NULL) does nothing. */
void zfs_destroy(struct zfs *fs);

/* Start the filesystem's own threads, the densifier (fuse/densify.h) and,
 * with a backing file, the writeback thread (fuse/tier.h), after the
 * daemon forked to the background (a thread does not survive a fork), and
 * with spill= the far tier (fuse/far.h: its client's threads).  Until then
 * /.zcache/densify answers EIO, eviction drops files (and the write path
 * still writes back at the limit itself).  Returns 0, -EAGAIN, or the far
 * tier's error (-ENOMEM, -EINVAL). */
int zfs_start(struct zfs *fs);

/* Stop and join those threads (a pass in progress stops after its group),
 * e.g. before zfs_check; zfs_destroy does it too.  Safe when not started. */
void zfs_stop(struct zfs *fs);

/* Tell the filesystem its session (for the notifier's invalidations). */
/* The number of ephemeral pools (a loaded snapshot may bring some: no-open
 * mode refuses them, daemon/main.c). */
unsigned zfs_ephemeral_pools(struct zfs *fs);

void zfs_set_session(struct zfs *fs, struct fuse_session *se);

/* Walk the namespace and the store: zfs_ns_check, tmem_check and, with
 * the far tier, zfs_far_check.  Returns
 * 0 or -EUCLEAN (printed to stderr).  For tests and debug builds. */
int zfs_check(struct zfs *fs);

#endif /* ZC_FUSE_ZFS_H */
