/* densify.c - the densifier: repacks idle files into multi-page units in
 * the background, and on request (see densify.h for the policy).
 *
 * Design note.  One thread.  It sleeps on d->cond until a "now" request,
 * the stop flag or the next background scan.  A pass walks the namespace's
 * inode table in batches (zfs_ns_files: ZFS_DENSIFY_BATCH numbers a hold
 * of ns->lock, filtered there for the background's rule), then handles
 * each file by number: zfs_ns_hold keeps the inode alive while the file is
 * densified group by group, from index 0 to the end, each group one
 * tmem_densify on the file's home pool (the home is read under the file's
 * io_lock, shared; the repack itself holds no lock of ours, and a write
 * meanwhile wins: tmem/densify.c).  A file is marked dense
 * (zfs_ns_mark_dense) when every group was repacked or had nothing to gain
 * and its ctime did not move meanwhile.  A table that grows during a pass
 * may make the pass miss or revisit a file: the next pass sees it.
 *
 * The thread's codec contexts and unit buffers (an LZ4 HC state, a zstd
 * context, PAM's staging area: about 1.5 MB) are freed at the end of every
 * pass, so an idle densifier holds none.
 */
#include "fuse/densify.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "compress/codec.h"
#include "compress/pam.h"
#include "tmem/tmem.h"

/* ---- settings -------------------------------------------------------------- */

int zfs_densify_parse(const char *s, int pool, uint64_t *out)
{
	unsigned codec;

	if (!s)
		return -EINVAL;
	if (pool && strcasecmp(s, "default") == 0) {
		*out = zfs_densify_setting(ZFS_DENSIFY_MOUNT, 0);
		return 0;
	}
	if (strcasecmp(s, "auto") == 0) {
		*out = zfs_densify_setting(ZFS_DENSIFY_AUTO, 0);
		return 0;
	}
	if (strcasecmp(s, "off") == 0) {
		*out = zfs_densify_setting(ZFS_DENSIFY_OFF, 0);
		return 0;
	}
	if (codec_parse(s, &codec, NULL, 0) < 0)
		return -EINVAL;
	if (codec_id_type(codec) == CODEC_NONE)
		*out = zfs_densify_setting(ZFS_DENSIFY_OFF, 0);
	else
		*out = zfs_densify_setting(ZFS_DENSIFY_CODEC, codec);
	return 0;
}

int zfs_densify_format(uint64_t setting, char *buf, size_t len)
{
	char name[CODEC_NAME_MAX];

	switch (zfs_densify_mode_of(setting)) {
	case ZFS_DENSIFY_MOUNT:
		return snprintf(buf, len, "default");
	case ZFS_DENSIFY_AUTO:
		return snprintf(buf, len, "auto");
	case ZFS_DENSIFY_OFF:
		return snprintf(buf, len, "off");
	default:
		if (codec_format((unsigned)setting, name, sizeof(name)) < 0)
			return snprintf(buf, len, "?");
		return snprintf(buf, len, "%s", name);
	}
}

/* "auto": the pool's compressor, denser with the same decoder. */
static long zfs_densify_auto(unsigned codec)
{
	int level = codec_id_param(codec);

	switch (codec_id_type(codec)) {
	case CODEC_LZ4:
		return codec_make(CODEC_LZ4HC, CODEC_LZ4HC_LEVEL_DEFAULT);
	case CODEC_LZ4HC:
		return codec_make(CODEC_LZ4HC, level > 9 ? level : 9);
	case CODEC_ZSTD:
		return codec_make(CODEC_ZSTD, level > 9 ? level : 9);
	default:
		return -1;
	}
}

long zfs_densify_codec(uint64_t mount, const struct zfs_pool *pool)
{
	uint64_t s = atomic_load_explicit(&pool->densify, memory_order_relaxed);

	if (zfs_densify_mode_of(s) == ZFS_DENSIFY_MOUNT)
		s = mount;
	switch (zfs_densify_mode_of(s)) {
	case ZFS_DENSIFY_CODEC:
		return (long)(unsigned)s;
	case ZFS_DENSIFY_OFF:
		return -1;
	default:
		return zfs_densify_auto(atomic_load_explicit(&pool->codec, memory_order_relaxed));
	}
}

/* ---- one file -------------------------------------------------------------- */

static uint64_t zfs_densify_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void zfs_densify_count(struct zfs_densify *d, enum zfs_densify_counter c, uint64_t n)
{
	atomic_fetch_add_explicit(&d->c[c], n, memory_order_relaxed);
}

static int zfs_densify_stopping(struct zfs_densify *d)
{
	int stop;

	pthread_mutex_lock(&d->lock);
	stop = d->stop;
	pthread_mutex_unlock(&d->lock);
	return stop;
}

/* Is a "now" pass waiting?  (The background pass in progress then goes
 * on at full speed.) */
static int zfs_densify_pending(struct zfs_densify *d)
{
	int pending;

	pthread_mutex_lock(&d->lock);
	pending = d->asked > d->answered;
	pthread_mutex_unlock(&d->lock);
	return pending;
}

/* Sleep `ns` nanoseconds, or less when asked to stop. */
static void zfs_densify_nap(struct zfs_densify *d, uint64_t ns)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(ns / 1000000000ull);
	until.tv_nsec += (long)(ns % 1000000000ull);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->lock);
	while (!d->stop && pthread_cond_timedwait(&d->cond, &d->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&d->lock);
}

/* Densify the file numbered `ino` from its first page to its last.
 * `now`: a "now" pass (no throttling).  Returns 0, or -ESHUTDOWN when the
 * densifier is stopping. */
static int zfs_densify_file(struct zfs_densify *d, uint64_t ino, int now)
{
	struct tmem_oid oid = { { ino, 0, 0 } };
	struct zfs_inode *inode = zfs_ns_hold(d->ns, ino);
	struct timespec ctime;
	uint64_t from = 0, size;
	int whole = 1, ret = 0;

	if (!inode)
		return 0;
	zfs_ns_data_stamp(inode, &ctime, &size);
	while (from <= UINT32_MAX) {
		struct tmem_densify_result res;
		uint64_t t0 = zfs_densify_ns(), spent;
		long codec;
		int rc, pool;

		/* The home and its setting under io_lock (a move holds it); the
		 * repacking itself without: see densify.h, "Writers win". */
		pthread_rwlock_rdlock(&inode->stripe->io_lock);
		codec = zfs_densify_codec(d->setting, inode->pool);
		pool = inode->pool->store_id;
		pthread_rwlock_unlock(&inode->stripe->io_lock);
		rc = codec < 0 ? -ENOENT
			       : tmem_densify(d->store, pool, &oid, (uint32_t)from, (unsigned)codec,
					      d->buf, &res);
		spent = zfs_densify_ns() - t0;
		zfs_densify_count(d, ZFS_DZ_NSEC, spent);
		if (rc == -ENOENT)
			break;
		if (rc == 1) {
			zfs_densify_count(d, ZFS_DZ_GROUPS, 1);
			zfs_densify_count(d, ZFS_DZ_SAVED, res.old_bytes - res.new_bytes);
		} else if (rc == -EAGAIN) {
			zfs_densify_count(d, ZFS_DZ_CONFLICTS, 1);
			whole = 0;
		} else if (rc < 0) {
			/* -ENOMEM, -EIO: leave the rest of the file as it is. */
			whole = 0;
			break;
		}
		from = res.next;
		if (zfs_densify_stopping(d)) {
			ret = -ESHUTDOWN;
			whole = 0;
			break;
		}
		if (!now && !zfs_densify_pending(d))
			zfs_densify_nap(d, 3 * spent);
	}
	if (whole && zfs_ns_mark_dense(inode, &ctime)) {
		zfs_densify_count(d, ZFS_DZ_FILES, 1);
		zfs_densify_count(d, ZFS_DZ_BYTES, size);
	}
	zfs_ns_release(d->ns, inode);
	return ret;
}

/* ---- passes ---------------------------------------------------------------- */

/* Set the thread's scheduling: idle for background passes, normal for
 * "now" ones (best effort: without the right to leave SCHED_IDLE it
 * stays there). */
static void zfs_densify_sched(int idle)
{
	struct sched_param sp = { .sched_priority = 0 };

	(void)pthread_setschedparam(pthread_self(), idle ? SCHED_IDLE : SCHED_OTHER, &sp);
}

/* One pass over the namespace.  Returns 0 or -ESHUTDOWN. */
static int zfs_densify_pass(struct zfs_densify *d, int now)
{
	uint64_t inos[ZFS_DENSIFY_BATCH], cursor = 0;
	struct timespec cutoff;
	int ret = 0;

	zfs_densify_sched(!now);
	clock_gettime(CLOCK_REALTIME, &cutoff);
	cutoff.tv_sec -= (time_t)d->idle;
	do {
		size_t n = zfs_ns_files(d->ns, &cursor, inos, ZFS_DENSIFY_BATCH,
					now ? NULL : &cutoff);

		for (size_t i = 0; i < n && ret == 0; i++)
			ret = zfs_densify_file(d, inos[i], now);
	} while (cursor && ret == 0);
	zfs_densify_count(d, ZFS_DZ_PASSES, 1);
	codec_thread_release();
	pam_thread_release();
	return ret;
}

static void *zfs_densify_run(void *arg)
{
	struct zfs_densify *d = arg;
	unsigned scan = d->idle / 4 < 1 ? 1 : d->idle / 4 > ZFS_DENSIFY_SCAN ? ZFS_DENSIFY_SCAN
									    : d->idle / 4;

	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		uint64_t target;
		struct timespec until;
		int ret;

		if (d->asked > d->answered) {
			target = d->asked;
			pthread_mutex_unlock(&d->lock);
			ret = zfs_densify_pass(d, 1);
			pthread_mutex_lock(&d->lock);
			d->answered = target;
			d->now_err = ret;
			pthread_cond_broadcast(&d->cond);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += scan;
		while (!d->stop && d->asked == d->answered &&
		       pthread_cond_timedwait(&d->cond, &d->lock, &until) != ETIMEDOUT)
			;
		if (d->stop || d->asked > d->answered || d->idle == 0)
			continue;
		pthread_mutex_unlock(&d->lock);
		(void)zfs_densify_pass(d, 0);
		pthread_mutex_lock(&d->lock);
	}
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* ---- the object ------------------------------------------------------------ */

int zfs_densify_init(struct zfs_densify *d, struct tmem_store *store, struct zfs_ns *ns,
		     unsigned idle, uint64_t setting)
{
	pthread_condattr_t ca;

	memset(d, 0, sizeof(*d));
	if (!store || !ns || zfs_densify_mode_of(setting) == ZFS_DENSIFY_MOUNT ||
	    zfs_densify_mode_of(setting) > ZFS_DENSIFY_CODEC ||
	    (zfs_densify_mode_of(setting) == ZFS_DENSIFY_CODEC && codec_valid((unsigned)setting)))
		return -EINVAL;
	d->store = store;
	d->ns = ns;
	d->idle = idle;
	d->setting = setting;
	d->buf = malloc(TMEM_DENSIFY_BUF);
	if (!d->buf)
		return -ENOMEM;
	if (pthread_mutex_init(&d->lock, NULL) != 0)
		goto err_buf;
	if (pthread_condattr_init(&ca) != 0)
		goto err_mutex;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&d->cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		goto err_mutex;
	}
	pthread_condattr_destroy(&ca);
	for (unsigned i = 0; i < ZFS_DZ_NR; i++)
		atomic_init(&d->c[i], 0);
	return 0;
err_mutex:
	pthread_mutex_destroy(&d->lock);
err_buf:
	free(d->buf);
	d->buf = NULL;
	return -ENOMEM;
}

int zfs_densify_start(struct zfs_densify *d)
{
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	d->stop = 0;
	if (!d->started) {
		if (pthread_create(&d->thread, NULL, zfs_densify_run, d) != 0)
			ret = -EAGAIN;
		else
			d->started = 1;
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void zfs_densify_stop(struct zfs_densify *d)
{
	int started;

	pthread_mutex_lock(&d->lock);
	started = d->started;
	d->stop = 1;
	d->started = 0;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (started)
		pthread_join(d->thread, NULL);
}

void zfs_densify_fini(struct zfs_densify *d)
{
	if (!d->buf)
		return;
	zfs_densify_stop(d);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d->buf);
	d->buf = NULL;
}

int zfs_densify_now(struct zfs_densify *d)
{
	uint64_t mine;
	int ret;

	pthread_mutex_lock(&d->lock);
	if (!d->started || d->stop) {
		pthread_mutex_unlock(&d->lock);
		return -EAGAIN;
	}
	mine = ++d->asked;
	pthread_cond_broadcast(&d->cond);
	while (d->answered < mine && !d->stop)
		pthread_cond_wait(&d->cond, &d->lock);
	ret = d->answered < mine ? -ESHUTDOWN : d->now_err;
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void zfs_densify_counters(struct zfs_densify *d, uint64_t out[ZFS_DZ_NR])
{
	for (unsigned i = 0; i < ZFS_DZ_NR; i++)
		out[i] = atomic_load_explicit(&d->c[i], memory_order_relaxed);
}
