/* mem.c - the memory account: mem_used, the limit, compaction and
 * eviction (see mem.h for the design, the locks and the contract).
 *
 * Nothing here is on the read path; the write path pays one atomic add per
 * request (zfs_mem_reserve) until the cached figure says the limit is
 * near.  Eviction is the only function that takes a lock of the account
 * for long: evict_lock, for writing, across tmem_evict and zfs_ns_evict.
 */
#include "fuse/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "alloc/xcf.h"
#include "compress/pam.h"
#include "fuse/far.h"
#include "fuse/notify.h"
#include "fuse/ns.h"
#include "tmem/tmem.h"

#define ZFS_MEM_PAGE 4096u

int zfs_mem_init(struct zfs_mem *m, struct tmem_store *store, struct pam *pam,
		 struct zfs_ns *ns, struct zfs_notify *notify, uint64_t limit)
{
	memset(m, 0, sizeof(*m));
	m->store = store;
	m->pam = pam;
	m->ns = ns;
	m->notify = notify;
	atomic_init(&m->limit, limit);
	if (pthread_mutex_init(&m->lock, NULL))
		return -ENOMEM;
	if (pthread_rwlock_init(&m->evict_lock, NULL)) {
		pthread_mutex_destroy(&m->lock);
		return -ENOMEM;
	}
	return 0;
}

void zfs_mem_fini(struct zfs_mem *m)
{
	pthread_rwlock_destroy(&m->evict_lock);
	pthread_mutex_destroy(&m->lock);
}

/* ---- what is used ---------------------------------------------------------- */

uint64_t zfs_mem_used_of(const struct tmem_stats *tmem, const struct pam_stats *pam,
			 uint64_t ns_meta_bytes)
{
	uint64_t data = pam ? pam->pool_bytes + pam->meta_bytes : tmem->pampd_bytes;

	return data + tmem->meta_bytes + ns_meta_bytes;
}

uint64_t zfs_mem_note_used(struct zfs_mem *m, uint64_t used)
{
	uint64_t max;

	pthread_mutex_lock(&m->lock);
	if (used > m->used_max)
		m->used_max = used;
	max = m->used_max;
	pthread_mutex_unlock(&m->lock);
	return max;
}

uint64_t zfs_mem_used(struct zfs_mem *m)
{
	struct tmem_stats ts;
	struct zfs_ns_stats ns;
	struct pam_stats ps;
	uint64_t used;

	tmem_stats(m->store, &ts);
	zfs_ns_stats(m->ns, &ns);
	if (m->pam)
		pam_stats(m->pam, &ps);
	used = zfs_mem_used_of(&ts, m->pam ? &ps : NULL, ns.meta_bytes);
	atomic_store(&m->used_cache, used);
	zfs_mem_note_used(m, used);
	return used;
}

/* ---- the limit --------------------------------------------------------------- */

int zfs_mem_reserve(struct zfs_mem *m, uint64_t bytes)
{
	uint64_t limit = atomic_load(&m->limit), used;
	uint64_t since = atomic_fetch_add(&m->written_since, bytes) + bytes;

	if (!limit)
		return 0;
	used = atomic_load(&m->used_cache);
	if (since < ZFS_MEM_RECHECK_BYTES && used + since < limit - limit / 16)
		return 0;
	atomic_store(&m->written_since, 0);
	used = zfs_mem_used(m);
	if (used + bytes / 4 <= limit)
		return 0;
	/* Compaction first, if it pays (it keeps every file).  Then eviction
	 * of closed ephemeral files, with headroom (a 32nd of the limit) so
	 * the next writes do not come back at once, and compaction of the
	 * holes the evicted files left in partly used pages: eviction counts
	 * compressed bytes, the limit counts pages, so a few rounds. */
	if (zfs_mem_compact_auto(m, ZFS_COMPACT_LIMIT_PERCENT, ZFS_COMPACT_MIN_BYTES) > 0)
		used = zfs_mem_used(m);
	for (int round = 0; used + bytes / 4 > limit && round < 4; round++) {
		uint64_t files = zfs_mem_evict_bytes(m, used + bytes / 4 - limit + limit / 32);

		if (!files)
			break;
		zfs_mem_compact_auto(m, 0, 1);
		used = zfs_mem_used(m);
	}
	if (used + bytes / 4 > limit && m->room)
		used = m->room(m->room_arg, used, bytes);
	if (used + bytes / 4 <= limit)
		return 0;
	atomic_fetch_add(&m->enospc, 1);
	return -ENOSPC;
}

void zfs_mem_set_room(struct zfs_mem *m, uint64_t (*room)(void *arg, uint64_t used,
							   uint64_t bytes),
		      void *arg)
{
	m->room = room;
	m->room_arg = arg;
}

uint64_t zfs_mem_ram_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);

	return pages > 0 ? (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

int zfs_parse_size(const char *s, uint64_t ram_bytes, uint64_t *out)
{
	const char *p = s;
	uint64_t v = 0;
	unsigned shift = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return -EINVAL;
	if (*p == '%') {
		if (p[1] || v > 100)
			return -EINVAL;
		*out = ram_bytes / 100 * v + ram_bytes % 100 * v / 100;
		return 0;
	}
	switch (*p) {
	case 'k': case 'K': shift = 10; p++; break;
	case 'm': case 'M': shift = 20; p++; break;
	case 'g': case 'G': shift = 30; p++; break;
	case 't': case 'T': shift = 40; p++; break;
	default: break;
	}
	if (shift && (*p == 'i' || *p == 'I') && (p[1] == 'b' || p[1] == 'B'))
		p += 2;
	else if (*p == 'b' || *p == 'B')
		p++;
	if (*p)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

void zfs_mem_statfs(struct zfs_mem *m, struct statvfs *sv)
{
	struct zfs_ns_stats ns;
	uint64_t limit = atomic_load(&m->limit), used = zfs_mem_used(m);

	if (!limit)
		limit = zfs_mem_ram_bytes();
	zfs_ns_stats(m->ns, &ns);
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = ZFS_MEM_PAGE;
	sv->f_frsize = ZFS_MEM_PAGE;
	sv->f_blocks = limit / ZFS_MEM_PAGE;
	sv->f_bfree = used < limit ? (limit - used) / ZFS_MEM_PAGE : 0;
	sv->f_bavail = sv->f_bfree;
	sv->f_files = limit / 1024 > ns.inodes ? limit / 1024 : ns.inodes;
	sv->f_ffree = sv->f_files - ns.inodes;
	sv->f_favail = sv->f_ffree;
	sv->f_namemax = ZFS_NAME_MAX;
}

/* ---- compaction ------------------------------------------------------------ */

uint64_t zfs_mem_reclaimable(struct zfs_mem *m, uint64_t *partly)
{
	uint64_t part = 0, used = 0;
	unsigned i, n;

	*partly = 0;
	if (!m->pam)
		return 0;
	n = pam_pool_count(m->pam);
	for (i = 0; i < n; i++) {
		struct xcf_pool *x = pam_xcf_pool(m->pam, i);
		struct xcf_stats xs;

		if (!x)
			continue;
		xcf_stats(x, &xs);
		part += (xs.pages - xs.free_pages) * ZFS_MEM_PAGE;
		used += xs.block_bytes;
	}
	*partly = part;
	return part > used ? part - used : 0;
}

uint64_t zfs_mem_compact_auto(struct zfs_mem *m, unsigned min_percent, uint64_t min_bytes)
{
	uint64_t partly, free = zfs_mem_reclaimable(m, &partly), pages;

	if (!m->pam || free == 0 || free < min_bytes || free * 100 < partly * min_percent)
		return 0;
	pages = pam_compact(m->pam, 0);
	pages += pam_shrink(m->pam) / ZFS_MEM_PAGE;
	atomic_fetch_add(&m->compactions, 1);
	atomic_fetch_add(&m->policy[ZFS_PC_AUTO_COMPACTIONS], 1);
	atomic_fetch_add(&m->pages_compacted, pages);
	return pages;
}

void zfs_mem_compact(struct zfs_mem *m)
{
	atomic_fetch_add(&m->compactions, 1);
	if (m->pam)
		atomic_fetch_add(&m->pages_compacted, pam_compact(m->pam, 0));
}

void zfs_mem_policy_count(struct zfs_mem *m, enum zfs_policy_counter c, uint64_t n)
{
	if ((unsigned)c < ZFS_PC_NR)
		atomic_fetch_add(&m->policy[c], n);
}

/* ---- eviction -------------------------------------------------------------- */

struct zfs_evicted {
	uint64_t *inos;
	size_t n, cap;
};

/* tmem's eviction callback: remember the object (the file's inode number). */
static void zfs_evict_cb(void *arg, uint32_t pool, const struct tmem_oid *oid, uint64_t pages,
			 uint64_t bytes)
{
	struct zfs_evicted *e = arg;

	(void)pool;
	(void)pages;
	(void)bytes;
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		uint64_t *a = realloc(e->inos, cap * sizeof(*a));

		if (!a)
			return;	/* the file keeps its names; reads see zeros */
		e->inos = a;
		e->cap = cap;
	}
	e->inos[e->n++] = oid->oid[0];
}

static int zfs_cmp_ino(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The far tier's part of an eviction (evict_lock held for writing): spill
 * up to `bytes`, count the files in *files, return the bytes spilled (at
 * most `bytes`). */
static uint64_t zfs_mem_spill(struct zfs_mem *m, uint64_t bytes, uint64_t *files)
{
	struct zfs_far *far = atomic_load(&m->far);
	uint64_t got;

	if (!far)
		return 0;
	got = zfs_far_spill(far, bytes, files);
	return got < bytes ? got : bytes;
}

uint64_t zfs_mem_evict_bytes(struct zfs_mem *m, uint64_t bytes)
{
	struct zfs_evicted e = { NULL, 0, 0 };
	struct zfs_inval *list = NULL;
	uint64_t files;

	uint64_t spilled = 0;

	pthread_rwlock_wrlock(&m->evict_lock);
	bytes -= zfs_mem_spill(m, bytes, &spilled);
	if (bytes)
		tmem_evict(m->store, TMEM_ALL_POOLS, bytes, zfs_evict_cb, &e);
	if (!e.n) {
		pthread_rwlock_unlock(&m->evict_lock);
		free(e.inos);
		return spilled;
	}
	qsort(e.inos, e.n, sizeof(*e.inos), zfs_cmp_ino);
	files = zfs_ns_evict(m->ns, e.inos, e.n, zfs_notify_collect, &list);
	pthread_rwlock_unlock(&m->evict_lock);
	free(e.inos);
	/* The kernel still caches the names and inodes: the notifier thread
	 * tells it (never a request handler, see notify.h). */
	zfs_notify_queue(m->notify, list);
	atomic_fetch_add(&m->evicted_files, files);
	return files + spilled;
}

uint64_t zfs_mem_drop_ephemeral(struct zfs_mem *m)
{
	return zfs_mem_evict_bytes(m, UINT64_MAX);
}
