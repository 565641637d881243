/* ns_dense.c - what the densifier (fuse/densify.h) asks of the namespace:
 * holds on files by number, a walk of the inode table in batches, and the
 * "dense" mark (see ns.h, "densify").
 *
 * Design note.  The densifier works on one file at a time without a
 * request of the kernel's keeping the inode alive, so it holds the file as
 * an open does (nopen), under ns->lock shared, which excludes every
 * reaping decision (they are made under the lock held exclusively); its
 * zfs_ns_release is an ordinary close's.  The walk goes bucket by bucket
 * through the inode table, a batch per hold of ns->lock, so a pass over a
 * large namespace never holds the lock for long; a batch ends before a
 * bucket that would not fit whole (a chain longer than a whole batch,
 * which the doubling table never builds in practice, is cut).  The dense
 * mark and the ctime it is checked against are the inode's, under its
 * lock; data changes clear the mark where they set ctime (ns.c,
 * zfs_ns_set_size and zfs_ns_touch).
 */
#include "fuse/ns_int.h"

#include <stdatomic.h>

struct zfs_inode *zfs_ns_hold(struct zfs_ns *ns, uint64_t ino)
{
	struct zfs_inode *i;

	pthread_rwlock_rdlock(&ns->lock);
	i = _zfs_ns_find(ns, ino);
	if (i && (!S_ISREG(i->mode) || i->nlink == 0 || i->data_released))
		i = NULL;
	if (i)
		atomic_fetch_add(&i->nopen, 1);
	pthread_rwlock_unlock(&ns->lock);
	return i;
}

/* Does inode i pass the walk's filter?  Caller holds ns->lock. */
static int zfs_dense_wanted(struct zfs_inode *i, const struct timespec *idle_before)
{
	int ok;

	if (!S_ISREG(i->mode) || i->nlink == 0 || i->data_released)
		return 0;
	if (!idle_before)
		return 1;
	if (atomic_load(&i->nopen))
		return 0;
	pthread_mutex_lock(&i->stripe->lock);
	ok = !i->dense && (i->ctime.tv_sec < idle_before->tv_sec ||
			   (i->ctime.tv_sec == idle_before->tv_sec &&
			    i->ctime.tv_nsec <= idle_before->tv_nsec));
	pthread_mutex_unlock(&i->stripe->lock);
	return ok;
}

size_t zfs_ns_files(struct zfs_ns *ns, uint64_t *cursor, uint64_t *out, size_t max,
		    const struct timespec *idle_before)
{
	size_t n = 0;
	uint64_t b;

	pthread_rwlock_rdlock(&ns->lock);
	for (b = *cursor; b < ns->nbuckets; b++) {
		size_t chain = 0;
		struct zfs_inode *i;

		for (i = ns->table[b]; i; i = i->hnext)
			chain += zfs_dense_wanted(i, idle_before);
		if (n && n + chain > max)
			break;
		for (i = ns->table[b]; i && n < max; i = i->hnext)
			if (zfs_dense_wanted(i, idle_before))
				out[n++] = i->ino;
	}
	*cursor = b < ns->nbuckets ? b : 0;
	pthread_rwlock_unlock(&ns->lock);
	return n;
}

void zfs_ns_data_stamp(struct zfs_inode *inode, struct timespec *ctime, uint64_t *size)
{
	pthread_mutex_lock(&inode->stripe->lock);
	*ctime = inode->ctime;
	*size = inode->size;
	pthread_mutex_unlock(&inode->stripe->lock);
}

int zfs_ns_mark_dense(struct zfs_inode *inode, const struct timespec *ctime)
{
	int marked = 0;

	pthread_mutex_lock(&inode->stripe->lock);
	if (!inode->dense && inode->ctime.tv_sec == ctime->tv_sec &&
	    inode->ctime.tv_nsec == ctime->tv_nsec) {
		inode->dense = 1;
		marked = 1;
	}
	pthread_mutex_unlock(&inode->stripe->lock);
	return marked;
}
