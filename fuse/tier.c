/* tier.c - the backing tier's writeback thread and rounds (see tier.h for
 * the policy, the locks and the contract).
 *
 * Design note.  A round: list the files of persistent pools with their
 * coldness stamps, sort them coldest first (the listing is kept for
 * ZFS_TIER_LIST_MS with the position the last pass stopped at, so the
 * passes and rounds of a sustained writeback do not list every file each
 * time: with 40,000 files the stamp lookups of a listing cost more CPU
 * than staging the pages; a pass that moved nothing from a kept listing
 * lists again before it gives up), and stage their pages into
 * the batch file by file (tmem_wb_stage) while holding each file
 * (zfs_ns_hold: its pool cannot be destroyed under the batch); a full
 * batch is committed (tmem_wb_commit: one backing_write, then the swaps),
 * the holds dropped, and mem_used estimated down by the memory the swapped
 * pampds held.  Freed xcf space is only given back to buddy by compaction,
 * so when the estimate reaches the target the round compacts the xcf pools
 * and measures mem_used again; a few passes at most.  A commit that fails
 * leaves its pages in RAM; the file full (ENOSPC) ends the round (after
 * one compaction that gave nothing back), a pwrite error only the fourth
 * in a row (ZFS_TIER_EIO_MAX).  Compaction (backing_compact) runs on the
 * thread's tick, on a full file and on /.zcache/backing_compact; its
 * owner side is zfs_tier_relocate, which needs nothing but the key every
 * record carries (compress/pam.h, "Owner keys and compaction").
 */
#include "fuse/tier.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc/backing.h"
#include "compress/pam.h"
#include "tmem/tmem.h"

#define ZFS_TIER_LIST_BATCH 64u		/* inode numbers per zfs_ns_files call */
#define ZFS_TIER_PASSES 4		/* compactions and measures per round, at most */

struct zfs_tier_cand {
	uint64_t stamp;
	uint64_t ino;
};

static void zfs_tier_count(struct zfs_tier *t, enum zfs_tier_counter c, uint64_t n)
{
	atomic_fetch_add_explicit(&t->c[c], n, memory_order_relaxed);
}

static uint64_t zfs_tier_mark(struct zfs_tier *t, unsigned pct)
{
	uint64_t limit = atomic_load(&t->mem->limit);

	return limit / 100 * pct + limit % 100 * pct / 100;
}

/* Promotion up to the high watermark (tier.h, "Back into RAM"). */
static void zfs_tier_set_promote(struct zfs_tier *t, uint64_t used)
{
	uint64_t limit = atomic_load(&t->mem->limit), high = zfs_tier_mark(t, t->cfg.high);

	pam_backing_promote(t->pam, !limit ? UINT64_MAX : used < high ? high - used : 0);
}

/* ---- candidates ------------------------------------------------------------ */

static int zfs_tier_cand_cmp(const void *a, const void *b)
{
	const struct zfs_tier_cand *x = a, *y = b;

	if (x->stamp != y->stamp)
		return x->stamp < y->stamp ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* The home pool of a held file, or -1 when it is not persistent. */
static int zfs_tier_home(struct zfs_tier *t, struct zfs_inode *inode)
{
	int pool;

	pthread_rwlock_rdlock(&inode->stripe->io_lock);
	pool = inode->pool->store_id;
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	return tmem_pool_kind(t->store, pool) == (int)TMEM_POOL_PERSISTENT ? pool : -1;
}

/* Every file of a persistent pool with its stamp, coldest first.  Returns
 * the array (malloc, *n entries) or NULL (none, or no memory). */
static struct zfs_tier_cand *zfs_tier_list(struct zfs_tier *t, size_t *n)
{
	uint64_t inos[ZFS_TIER_LIST_BATCH], cursor = 0;
	struct zfs_tier_cand *c = NULL;
	size_t cap = 0;

	*n = 0;
	do {
		size_t k = zfs_ns_files(t->ns, &cursor, inos, ZFS_TIER_LIST_BATCH, NULL);

		for (size_t i = 0; i < k; i++) {
			struct zfs_inode *inode = zfs_ns_hold(t->ns, inos[i]);
			struct tmem_oid oid = { { inos[i], 0, 0 } };
			uint64_t stamp;
			int pool;

			if (!inode)
				continue;
			pool = zfs_tier_home(t, inode);
			if (pool >= 0 && tmem_object_stamp(t->store, pool, &oid, &stamp) == 0) {
				if (*n == cap) {
					size_t nc = cap ? 2 * cap : 256;
					struct zfs_tier_cand *g = realloc(c, nc * sizeof(*c));

					if (!g) {
						zfs_ns_release(t->ns, inode);
						goto out;
					}
					c = g;
					cap = nc;
				}
				c[(*n)++] = (struct zfs_tier_cand){ stamp, inos[i] };
			}
			zfs_ns_release(t->ns, inode);
		}
	} while (cursor);
out:
	if (*n)
		qsort(c, *n, sizeof(*c), zfs_tier_cand_cmp);
	return c;
}

/* The candidates of this pass: the list kept from the last one (and the
 * position it stopped at) while it is younger than ZFS_TIER_LIST_MS and
 * not used up, else a new one.  Returns 1 for a new list.  Caller holds
 * round_lock. */
static int zfs_tier_cands(struct zfs_tier *t)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	if (t->cand && t->next < t->ncand && now - t->cand_ms < ZFS_TIER_LIST_MS)
		return 0;
	free(t->cand);
	t->cand = zfs_tier_list(t, &t->ncand);
	t->next = 0;
	t->cand_ms = now;
	return 1;
}

/* ---- a round ----------------------------------------------------------------- */

#define ZFS_TIER_EIO_MAX 4	/* failed commits in a row that end a round */

struct zfs_tier_round {
	struct zfs_inode *held[TMEM_WB_PAGES];	/* files with pages in the batch */
	unsigned nheld;
	struct tmem_wb_result res;
	unsigned failed;			/* commits failed in a row */
	int compacted;				/* compacted for a full file already */
	int err;				/* ends the round: the file is full,
						   or ZFS_TIER_EIO_MAX failures */
};

static void zfs_tier_release_all(struct zfs_tier *t, struct zfs_tier_round *r)
{
	while (r->nheld)
		zfs_ns_release(t->ns, r->held[--r->nheld]);
}

/* Commit the batch; returns the bytes its swapped pages held. */
static uint64_t zfs_tier_commit(struct zfs_tier *t, struct zfs_tier_round *r)
{
	uint64_t before = r->res.bytes, conflicts = r->res.conflicts;
	int rc = tmem_wb_commit(t->store, t->batch, &r->res);

	zfs_tier_release_all(t, r);
	zfs_tier_count(t, ZFS_TC_CONFLICTS, r->res.conflicts - conflicts);
	if (rc < 0) {
		/* The pages stay in RAM.  A full file ends the round - unless
		 * compacting its sparse segments gave space back (once a
		 * round: the next batch may then fit); an I/O error only after
		 * a few in a row (the next batch may go). */
		if (rc == -ENOSPC) {
			zfs_tier_count(t, ZFS_TC_ENOSPC, 1);
			if (!r->compacted) {
				r->compacted = 1;
				if (zfs_tier_compact(t, SIZE_MAX) > 0)
					return 0;
			}
		}
		if (rc == -ENOSPC || ++r->failed >= ZFS_TIER_EIO_MAX)
			r->err = rc;
		return 0;
	}
	r->failed = 0;
	return r->res.bytes - before;
}

uint64_t zfs_tier_writeback(struct zfs_tier *t, uint64_t target, uint64_t *moved)
{
	struct zfs_tier_round *r;
	struct zfs_tier_cand *c;
	uint64_t used;
	size_t n;

	if (moved)
		*moved = 0;
	pthread_mutex_lock(&t->round_lock);
	used = zfs_mem_used(t->mem);
	if (used <= target)
		goto out;
	r = calloc(1, sizeof(*r));
	if (!r)
		goto out;
	zfs_tier_count(t, ZFS_TC_ROUNDS, 1);
	for (int pass = 0; pass < ZFS_TIER_PASSES && used > target && !r->err; pass++) {
		uint64_t est = used, swapped = r->res.pages;
		size_t i;
		int fresh = zfs_tier_cands(t);

		c = t->cand;
		n = t->ncand;
		for (i = t->next; i < n && est > target && !r->err; i++) {
			struct tmem_oid oid = { { c[i].ino, 0, 0 } };
			struct zfs_inode *inode = zfs_ns_hold(t->ns, c[i].ino);
			uint64_t from = 0;
			int pool, staged = 0;

			if (!inode)
				continue;
			pool = zfs_tier_home(t, inode);
			while (pool >= 0 && from <= UINT32_MAX && est > target && !r->err) {
				int k = tmem_wb_stage(t->store, t->batch, pool, &oid, &from);

				if (k < 0)
					break;
				staged += k;
				if (from <= UINT32_MAX) {	/* the batch is full */
					if (staged) {
						r->held[r->nheld++] = inode;
						inode = NULL;
					}
					uint64_t freed = zfs_tier_commit(t, r);
					est = est > freed ? est - freed : 0;
					if (!inode) {
						/* Held again: its home may have
						 * changed while it was not. */
						inode = zfs_ns_hold(t->ns, c[i].ino);
						if (!inode)
							break;
						pool = zfs_tier_home(t, inode);
					}
					staged = 0;
				}
			}
			if (inode && staged)
				r->held[r->nheld++] = inode;
			else if (inode)
				zfs_ns_release(t->ns, inode);
			if (r->nheld == TMEM_WB_PAGES) {
				uint64_t freed = zfs_tier_commit(t, r);
				est = est > freed ? est - freed : 0;
			}
		}
		/* The next pass or round goes on after the last file looked at
		 * (it may have pages left: a full batch, or the target met). */
		t->next = i < n && i > 0 ? i - 1 : i;
		if (t->batch->n) {
			uint64_t freed = zfs_tier_commit(t, r);
			est = est > freed ? est - freed : 0;
		}
		zfs_tier_release_all(t, r);
		zfs_mem_compact_auto(t->mem, 0, 1);
		used = zfs_mem_used(t->mem);
		if (r->res.pages == swapped) {
			if (fresh)
				break;	/* nothing more to move */
			t->ncand = 0;	/* a kept list may miss what changed: list again */
		}
	}
	if (moved)
		*moved = r->res.pages;
	free(r);
out:
	zfs_tier_set_promote(t, used);
	pthread_mutex_unlock(&t->round_lock);
	return used;
}

uint64_t zfs_tier_make_room(void *tier, uint64_t used, uint64_t bytes)
{
	struct zfs_tier *t = tier;
	uint64_t limit = atomic_load(&t->mem->limit), low = zfs_tier_mark(t, t->cfg.low);

	if (!limit)
		return used;
	zfs_tier_count(t, ZFS_TC_SYNC_ROUNDS, 1);
	if (bytes / 4 < limit && low > limit - bytes / 4)
		low = limit - bytes / 4;
	return zfs_tier_writeback(t, low, NULL);
}

/* ---- compaction ---------------------------------------------------------------- */

/* backing_compact's owner side: the record's key (pam_wb_key) names the
 * page, tmem_relocate swaps its pampd under the bucket lock if it still
 * stands for old_loc. */
static bool zfs_tier_relocate(void *arg, uint64_t tag, const void *data, uint32_t len,
			      uint64_t old_loc, uint64_t new_loc)
{
	struct zfs_tier *t = arg;
	const void *k = pam_wb_key(data, len);
	struct tmem_key key;

	(void)tag;
	if (!k)
		return false;
	memcpy(&key, k, sizeof(key));
	return tmem_relocate(t->store, &key, old_loc, new_loc) == 1;
}

int zfs_tier_compact(struct zfs_tier *t, size_t budget)
{
	int rc = backing_compact(t->cfg.backing, budget, zfs_tier_relocate, t);

	zfs_tier_count(t, ZFS_TC_COMPACT_RUNS, 1);
	if (rc < 0)
		zfs_tier_count(t, ZFS_TC_COMPACT_FAILURES, 1);
	return rc;
}

/* The thread's compaction: when the sparse segments hold enough dead
 * space (tier.h, "Space"), move up to ZFS_TIER_COMPACT_BUDGET.  Called
 * every ZFS_TIER_COMPACT_TICKS ticks, or every tick with backing_compact=
 * set. */
static void zfs_tier_compact_auto(struct zfs_tier *t)
{
	struct backing_stats bs;

	if (t->cfg.compact_min == ZFS_TIER_COMPACT_OFF)
		return;
	backing_stats(t->cfg.backing, &bs);
	if (t->cfg.compact_min ? bs.sparse_bytes >= t->cfg.compact_min
			       : bs.sparse_bytes >= ZFS_TIER_COMPACT_MIN &&
				 bs.sparse_bytes >= bs.disk_bytes / 8)
		zfs_tier_compact(t, ZFS_TIER_COMPACT_BUDGET);
}

/* ---- the thread -------------------------------------------------------------- */

static void *zfs_tier_run(void *arg)
{
	struct zfs_tier *t = arg;
	uint64_t futile = 0;	/* mem_used after a round that moved nothing, or 0 */
	unsigned ticks = 0;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		struct timespec until;
		uint64_t used, limit, moved;

		pthread_mutex_unlock(&t->lock);
		limit = atomic_load(&t->mem->limit);
		used = zfs_mem_used(t->mem);
		/* Above the high watermark, a round - unless the last one found
		 * nothing to move (same-filled pages, ephemeral files, a full
		 * file) and memory has not grown by a 32nd of the limit since:
		 * each round walks every file. */
		if (limit && used > zfs_tier_mark(t, t->cfg.high) &&
		    (!futile || used > futile + limit / 32)) {
			used = zfs_tier_writeback(t, zfs_tier_mark(t, t->cfg.low), &moved);
			futile = moved ? 0 : used;
		}
		zfs_tier_set_promote(t, used);
		if (t->cfg.compact_min || ++ticks % ZFS_TIER_COMPACT_TICKS == 0)
			zfs_tier_compact_auto(t);
		backing_trim(t->cfg.backing);
		tmem_tick(t->store);	/* the clock of the coldness stamps */
		pthread_mutex_lock(&t->lock);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)ZFS_TIER_TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!t->stop && pthread_cond_timedwait(&t->cond, &t->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* ---- the object -------------------------------------------------------------- */

int zfs_tier_init(struct zfs_tier *t, struct tmem_store *store, struct pam *pam,
		  struct zfs_ns *ns, struct zfs_mem *mem, const struct zfs_tier_config *cfg)
{
	pthread_condattr_t ca;

	memset(t, 0, sizeof(*t));
	if (!store || !pam || !ns || !mem || !cfg || !cfg->backing)
		return -EINVAL;
	t->cfg = *cfg;
	if (!t->cfg.high)
		t->cfg.high = ZFS_TIER_HIGH_DEFAULT;
	if (!t->cfg.low)
		t->cfg.low = ZFS_TIER_LOW_DEFAULT;
	if (t->cfg.low >= t->cfg.high || t->cfg.high > 100)
		return -EINVAL;
	t->store = store;
	t->pam = pam;
	t->ns = ns;
	t->mem = mem;
	t->batch = calloc(1, sizeof(*t->batch));
	if (!t->batch)
		return -ENOMEM;
	t->batch->buf = malloc(TMEM_WB_BUF);
	if (!t->batch->buf)
		goto err_batch;
	if (pthread_mutex_init(&t->lock, NULL) != 0)
		goto err_buf;
	if (pthread_mutex_init(&t->round_lock, NULL) != 0)
		goto err_lock;
	if (pthread_condattr_init(&ca) != 0)
		goto err_round;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&t->cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		goto err_round;
	}
	pthread_condattr_destroy(&ca);
	for (unsigned i = 0; i < ZFS_TC_NR; i++)
		atomic_init(&t->c[i], 0);
	if (pam_set_backing(pam, cfg->backing) < 0) {
		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->round_lock);
		pthread_mutex_destroy(&t->lock);
		free(t->batch->buf);
		free(t->batch);
		t->batch = NULL;
		return -EINVAL;
	}
	return 0;
err_round:
	pthread_mutex_destroy(&t->round_lock);
err_lock:
	pthread_mutex_destroy(&t->lock);
err_buf:
	free(t->batch->buf);
err_batch:
	free(t->batch);
	t->batch = NULL;
	return -ENOMEM;
}

int zfs_tier_start(struct zfs_tier *t)
{
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	t->stop = 0;
	if (!t->started) {
		if (pthread_create(&t->thread, NULL, zfs_tier_run, t) != 0)
			ret = -EAGAIN;
		else
			t->started = 1;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void zfs_tier_stop(struct zfs_tier *t)
{
	int started;

	if (!t->batch)
		return;
	pthread_mutex_lock(&t->lock);
	started = t->started;
	t->stop = 1;
	t->started = 0;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (started)
		pthread_join(t->thread, NULL);
}

void zfs_tier_fini(struct zfs_tier *t)
{
	if (!t->batch)
		return;
	zfs_tier_stop(t);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->round_lock);
	pthread_mutex_destroy(&t->lock);
	free(t->batch->buf);
	free(t->batch);
	t->batch = NULL;
	free(t->cand);
	t->cand = NULL;
}

void zfs_tier_stats(struct zfs_tier *t, struct zfs_tier_stats *out)
{
	struct backing_stats bs;
	struct pam_stats ps;

	memset(out, 0, sizeof(*out));
	backing_stats(t->cfg.backing, &bs);
	pam_stats(t->pam, &ps);
	out->pages = ps.backed_pages;
	out->bytes = ps.backed_bytes;
	out->file_bytes = bs.file_bytes;
	out->disk_bytes = bs.disk_bytes;
	out->meta_bytes = bs.meta_bytes;
	out->limit_bytes = t->cfg.limit_bytes;
	out->budget_bytes = t->cfg.budget_bytes;
	out->budget_left_bytes = bs.budget_left == BACKING_BUDGET_NONE ? 0 : bs.budget_left;
	out->writes = ps.writeback_pages;
	out->write_bytes = bs.write_bytes;
	out->reads = ps.backed_reads;
	out->promotions = ps.promoted;
	out->read_failures = ps.backed_read_failed;
	out->write_failures = ps.writeback_failed;
	out->enospc = atomic_load(&t->c[ZFS_TC_ENOSPC]);
	out->conflicts = atomic_load(&t->c[ZFS_TC_CONFLICTS]);
	out->rounds = atomic_load(&t->c[ZFS_TC_ROUNDS]);
	out->sync_rounds = atomic_load(&t->c[ZFS_TC_SYNC_ROUNDS]);
	out->holes_punched = bs.holes_punched;
	out->compactions = bs.compactions;
	out->compact_bytes = bs.compact_bytes;
	out->compact_reclaimed_bytes = bs.compact_reclaimed;
	out->sparse_bytes = bs.sparse_bytes;
	out->compact_runs = atomic_load(&t->c[ZFS_TC_COMPACT_RUNS]);
	out->compact_failures = atomic_load(&t->c[ZFS_TC_COMPACT_FAILURES]);
}
