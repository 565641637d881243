/* notify.c - the notifier thread: sends the kernel cache invalidations that
 * eviction queues (see notify.h).
 *
 * The queue is a singly linked list under n->lock; the thread takes the
 * whole list at once, drops the lock and writes each invalidation to the
 * device, so queueing never waits for the kernel.  Stopping sets `stop`
 * and signals; a thread inside an invalidation the kernel holds cannot
 * see it until the unmount aborts the connection, hence the timed join.
 */
#define FUSE_USE_VERSION 312
#include "fuse/notify.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void zfs_inval_free(struct zfs_inval *list)
{
	struct zfs_inval *v;

	while ((v = list)) {
		list = v->next;
		free(v);
	}
}

int zfs_notify_init(struct zfs_notify *n)
{
	memset(n, 0, sizeof(*n));
	if (pthread_mutex_init(&n->lock, NULL))
		return -ENOMEM;
	if (pthread_cond_init(&n->cond, NULL)) {
		pthread_mutex_destroy(&n->lock);
		return -ENOMEM;
	}
	return 0;
}

void zfs_notify_fini(struct zfs_notify *n)
{
	zfs_inval_free(n->list);	/* queued with no session to send them */
	n->list = NULL;
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
}

void zfs_notify_collect(void *list, uint64_t parent, const char *name, uint64_t ino)
{
	struct zfs_inval **head = list, *v = malloc(sizeof(*v) + strlen(name) + 1);

	if (!v)
		return;
	v->parent = parent;
	v->ino = ino;
	strcpy(v->name, name);
	v->next = *head;
	*head = v;
}

void zfs_notify_queue(struct zfs_notify *n, struct zfs_inval *list)
{
	struct zfs_inval *v;

	if (!list)
		return;
	for (v = list; v->next; v = v->next)
		;
	pthread_mutex_lock(&n->lock);
	v->next = n->list;
	n->list = list;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

/* The thread: sends the queued invalidations, outside every lock and
 * outside every request handler, until zfs_notify_stop. */
static void *zfs_notify_run(void *arg)
{
	struct zfs_notify *n = arg;
	struct zfs_inval *list, *v;

	pthread_mutex_lock(&n->lock);
	while (!atomic_load(&n->stop)) {
		if (!n->list) {
			pthread_cond_wait(&n->cond, &n->lock);
			continue;
		}
		list = n->list;
		n->list = NULL;
		pthread_mutex_unlock(&n->lock);
		for (v = list; v && !atomic_load(&n->stop); v = v->next) {
			fuse_lowlevel_notify_inval_entry(n->se, v->parent, v->name, strlen(v->name));
			fuse_lowlevel_notify_inval_inode(n->se, v->ino, 0, 0);
		}
		zfs_inval_free(list);
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int zfs_notify_start(struct zfs_notify *n)
{
	atomic_store(&n->stop, 0);
	return pthread_create(&n->tid, NULL, zfs_notify_run, n) ? -EAGAIN : 0;
}

int zfs_notify_stop(struct zfs_notify *n, int ms)
{
	struct timespec ts;

	pthread_mutex_lock(&n->lock);
	atomic_store(&n->stop, 1);
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(n->tid, NULL, &ts) == 0;
}

void zfs_notify_join(struct zfs_notify *n)
{
	pthread_join(n->tid, NULL);
}
