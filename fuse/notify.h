/* notify.h - the notifier: kernel cache invalidations for files the store
 * evicted, sent by a thread of their own.
 *
 * Design.  Eviction (fuse/mem.h) removes files behind the kernel's back:
 * the kernel still caches their names and inodes, so each removed name
 * must be invalidated (fuse_lowlevel_notify_inval_entry, then _inode).
 * Such a notification is never sent from a request handler: the kernel
 * may block an invalidation until requests are answered, and with every
 * worker inside one that never happens (a deadlock).  So eviction collects
 * the removed names into a list while it holds its locks
 * (zfs_notify_collect, the callback zfs_ns_evict takes), hands the list
 * over once the locks are dropped (zfs_notify_queue), and the notifier
 * thread - started and stopped by the session loop (fuse/session.h) -
 * sends them outside every lock.
 *
 * Threads: zfs_notify_collect works on the caller's private list;
 * zfs_notify_queue is thread safe; start/stop are the session loop's.
 * n->lock is a leaf.
 */
#ifndef ZC_FUSE_NOTIFY_H
#define ZC_FUSE_NOTIFY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct fuse_session;

/* One queued invalidation: a name (entry of `parent`) and its inode. */
struct zfs_inval {
	uint64_t parent, ino;
	struct zfs_inval *next;
	char name[];
};

struct zfs_notify {
	struct fuse_session *se;	/* set before start; NULL: nothing is sent */
	pthread_mutex_t lock;		/* leaf: list */
	pthread_cond_t cond;		/* signalled when list grows or on stop */
	struct zfs_inval *list;		/* protected by lock */
	_Atomic int stop;		/* the thread is to exit */
	pthread_t tid;			/* the thread while it runs */
};

/* Initialise an idle notifier.  Returns 0 or a negative errno (nothing is
 * left to undo). */
int zfs_notify_init(struct zfs_notify *n);

/* Free what is still queued (a session that never ran, or one that ended
 * before sending) and the locks.  The thread must not run. */
void zfs_notify_fini(struct zfs_notify *n);

/* Add an invalidation of `name` in `parent` (and of inode `ino`) to the
 * private list *(struct zfs_inval **)list; the signature is the one
 * zfs_ns_evict's `removed` callback has.  A failed allocation drops the
 * invalidation (the kernel keeps the name until it asks again and hears
 * ENOENT or ESTALE).  Takes no lock. */
void zfs_notify_collect(void *list, uint64_t parent, const char *name, uint64_t ino);

/* Hand a list built by zfs_notify_collect to the notifier (NULL: nothing).
 * The notifier owns it afterwards.  Thread safe. */
void zfs_notify_queue(struct zfs_notify *n, struct zfs_inval *list);

/* Start the thread.  Returns 0 or -EAGAIN. */
int zfs_notify_start(struct zfs_notify *n);

/* Ask the thread to exit and wait up to `ms` milliseconds for it.  Returns
 * 1 when it has been joined, 0 when it is still inside an invalidation (the
 * kernel holds it until the connection is aborted by the unmount): then
 * call zfs_notify_join after the unmount. */
int zfs_notify_stop(struct zfs_notify *n, int ms);

/* Wait for a thread zfs_notify_stop could not join. */
void zfs_notify_join(struct zfs_notify *n);

#endif /* ZC_FUSE_NOTIFY_H */
