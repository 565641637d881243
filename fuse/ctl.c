/* ctl.c - the /.zcache statistics and control tree (see ctl.h).
 *
 * Fixed nodes are a small static table (name, parent, mode); the pool
 * directories pools/NAME and their stats files are numbered from the pool
 * id: ZFS_CTL_POOL_BASE + 2 * id (directory) and + 1 (stats).  Content is
 * rendered at open into the file handle's buffer (render.c does the
 * formatting; this file only gathers the figures and acts on writes).
 */
#include "fuse/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "alloc/slab.h"
#include "alloc/xcf.h"
#include "compress/pam.h"
#include "fuse/densify.h"
#include "fuse/far.h"
#include "fuse/mem.h"
#include "fuse/render.h"
#include "fuse/reqstat.h"
#include "fuse/tier.h"
#include "fuse/uring.h"
#include "tmem/tmem.h"

enum zfs_ctl_node_id {
	CTL_ROOT = 0,
	CTL_STATS,
	CTL_MMSTAT,
	CTL_METRICS,
	CTL_JSON,
	CTL_COMPRESS,
	CTL_COMPACT,
	CTL_DROP,
	CTL_SGVFLUSH,
	CTL_MEMLIMIT,
	CTL_POOLS,
	CTL_ALLOC,
	CTL_BUDDY,
	CTL_SGV,
	CTL_XCF,
	CTL_SLABINFO,
	CTL_FUSE,
	CTL_DENSIFY,
	CTL_SPILL,
	CTL_BACKING_COMPACT,
	CTL_NFIXED
};

struct zfs_ctl_node {
	const char *name;
	int parent;		/* node id, -1 for the root of the tree */
	mode_t mode;
};

static const struct zfs_ctl_node zfs_ctl_nodes[CTL_NFIXED] = {
	[CTL_ROOT] = { ZFS_CTL_NAME, -1, S_IFDIR | 0555 },
	[CTL_STATS] = { "stats", CTL_ROOT, S_IFREG | 0444 },
	[CTL_MMSTAT] = { "mm_stat", CTL_ROOT, S_IFREG | 0444 },
	[CTL_METRICS] = { "metrics", CTL_ROOT, S_IFREG | 0444 },
	[CTL_JSON] = { "stats.json", CTL_ROOT, S_IFREG | 0444 },
	[CTL_COMPRESS] = { "compress", CTL_ROOT, S_IFREG | 0444 },
	[CTL_COMPACT] = { "compact", CTL_ROOT, S_IFREG | 0600 },
	[CTL_DROP] = { "drop_ephemeral", CTL_ROOT, S_IFREG | 0600 },
	[CTL_SGVFLUSH] = { "sgv_flush", CTL_ROOT, S_IFREG | 0600 },
	[CTL_MEMLIMIT] = { "mem_limit", CTL_ROOT, S_IFREG | 0644 },
	[CTL_POOLS] = { "pools", CTL_ROOT, S_IFDIR | 0555 },
	[CTL_ALLOC] = { "alloc", CTL_ROOT, S_IFDIR | 0555 },
	[CTL_BUDDY] = { "buddy", CTL_ALLOC, S_IFREG | 0444 },
	[CTL_SGV] = { "sgv", CTL_ALLOC, S_IFREG | 0444 },
	[CTL_XCF] = { "xcf", CTL_ALLOC, S_IFREG | 0444 },
	[CTL_SLABINFO] = { "slabinfo", CTL_ALLOC, S_IFREG | 0444 },
	[CTL_FUSE] = { "fuse", CTL_ROOT, S_IFREG | 0444 },
	[CTL_DENSIFY] = { "densify", CTL_ROOT, S_IFREG | 0600 },
	[CTL_SPILL] = { "spill", CTL_ROOT, S_IFREG | 0444 },
	[CTL_BACKING_COMPACT] = { "backing_compact", CTL_ROOT, S_IFREG | 0600 },
};

#define ZFS_CTL_POOL_BASE (ZFS_CTL_INO_BASE + 0x10000)

/* An open ctl file.  Reads hold a reference while they reply, so a
 * release on another thread cannot free the text under a reply still being
 * written (the kernel may deliver the data and let the reader close before
 * the reply has been written). */
struct zfs_ctl_file {
	uint64_t ino;
	/* A snapshot (no-open mode): its own inode number, its mode and the
	 * kernel's lookups of it (under c->lock); snap 0 for an open file. */
	uint64_t snap;
	mode_t mode;
	uint64_t nlookup;
	int read;	/* a read began: the content is the reader's now */
	_Atomic unsigned refs;
	struct zfs_ctl_file *prev, *next;	/* c->files; protected by c->lock */
	struct zfs_text text;
};

static void zfs_ctl_put(struct zfs_ctl_file *f)
{
	if (atomic_fetch_sub(&f->refs, 1) == 1) {
		free(f->text.buf);
		free(f);
	}
}

static void zfs_ctl_unlist(struct zfs_ctl *c, struct zfs_ctl_file *f)
{
	pthread_mutex_lock(&c->lock);
	if (f->prev)
		f->prev->next = f->next;
	else
		c->files = f->next;
	if (f->next)
		f->next->prev = f->prev;
	pthread_mutex_unlock(&c->lock);
}

int zfs_ctl_init(struct zfs_ctl *c, const struct zfs_ctl_config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	c->snap_next = ZFS_CTL_SNAP_BASE;
	return pthread_mutex_init(&c->lock, NULL) ? -ENOMEM : 0;
}

void zfs_ctl_fini(struct zfs_ctl *c)
{
	while (c->files) {
		struct zfs_ctl_file *f = c->files;

		zfs_ctl_unlist(c, f);
		zfs_ctl_put(f);
	}
	pthread_mutex_destroy(&c->lock);
}

/* ---- names and numbers ----------------------------------------------------- */

static uint64_t zfs_ctl_ino(int node)
{
	return ZFS_CTL_INO_BASE + (uint64_t)node;
}

/* The label of a pool in pools/ and in the metrics. */
static void zfs_pool_label(const struct zfs_pool *p, char *buf, size_t len)
{
	if (p->id == 0)
		snprintf(buf, len, "default");
	else if (!strcmp(p->name, "default"))
		snprintf(buf, len, "default#%llu", (unsigned long long)p->id);
	else
		snprintf(buf, len, "%s", p->name);
}

static void zfs_ctl_stat(uint64_t ino, mode_t mode, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_blksize = 4096;
	clock_gettime(CLOCK_REALTIME, &st->st_mtim);
	st->st_atim = st->st_ctim = st->st_mtim;
}

struct zfs_pool_find {
	const char *name;
	uint64_t id;
	int found;
};

static int zfs_pool_find_cb(void *arg, struct zfs_pool *p)
{
	struct zfs_pool_find *f = arg;
	char label[ZFS_NAME_MAX + 32];

	zfs_pool_label(p, label, sizeof(label));
	if (strcmp(label, f->name))
		return 0;
	f->id = p->id;
	f->found = 1;
	return 1;
}

static int zfs_pool_exists_cb(void *arg, struct zfs_pool *p)
{
	(void)arg;
	(void)p;
	return 1;
}

/* The snapshot numbered `snap`, or NULL.  Caller holds c->lock. */
static struct zfs_ctl_file *zfs_ctl_snap_find(struct zfs_ctl *c, uint64_t snap)
{
	struct zfs_ctl_file *f;

	for (f = c->files; f; f = f->next)
		if (f->snap == snap)
			return f;
	return NULL;
}

int zfs_ctl_getattr(struct zfs_ctl *c, uint64_t ino, struct stat *st)
{
	if (ino >= ZFS_CTL_SNAP_BASE) {
		struct zfs_ctl_file *f;
		int ret = -ENOENT;

		pthread_mutex_lock(&c->lock);
		f = zfs_ctl_snap_find(c, ino);
		if (f) {
			zfs_ctl_stat(ino, f->mode, st);
			st->st_size = (off_t)f->text.len;
			ret = 0;
		}
		pthread_mutex_unlock(&c->lock);
		return ret;
	}
	if (ino >= ZFS_CTL_POOL_BASE) {
		uint64_t rel = ino - ZFS_CTL_POOL_BASE;

		if (zfs_ns_pool_with(c->cfg.ns, rel / 2, zfs_pool_exists_cb, NULL) != 1)
			return -ENOENT;
		zfs_ctl_stat(ino, rel % 2 ? S_IFREG | 0444 : S_IFDIR | 0555, st);
		return 0;
	}
	if (ino < ZFS_CTL_INO_BASE || ino >= ZFS_CTL_INO_BASE + CTL_NFIXED)
		return -ENOENT;
	zfs_ctl_stat(ino, zfs_ctl_nodes[ino - ZFS_CTL_INO_BASE].mode, st);
	return 0;
}

int zfs_ctl_owns(uint64_t parent, const char *name)
{
	return zfs_ctl_is(parent) || (parent == ZFS_ROOT_INO && !strcmp(name, ZFS_CTL_NAME));
}

static int zfs_ctl_render(struct zfs_ctl *c, uint64_t ino, struct zfs_text *t);

/* List snapshot f (one reference, the list's) in c->files, numbered. */
static void zfs_ctl_list(struct zfs_ctl *c, struct zfs_ctl_file *f)
{
	pthread_mutex_lock(&c->lock);
	f->snap = c->snap_next++;
	f->next = c->files;
	if (f->next)
		f->next->prev = f;
	c->files = f;
	pthread_mutex_unlock(&c->lock);
}

/* No-open mode: the lookup of file *st renders its content, whose
 * snapshot's number and size replace the file's in *st.  The file's newest
 * snapshot that no read has begun on takes the new rendering under its
 * own number (the kernel has cached none of its pages), so a stat(2) and
 * the open(2) after it - each a LOOKUP, the entry is not cached - name the
 * same inode (cp(1) compares them); once a read began, the next lookup
 * makes a new snapshot. */
static int zfs_ctl_snap_new(struct zfs_ctl *c, struct stat *st)
{
	struct zfs_ctl_file *f, *g;
	struct zfs_text t = { 0 };
	int ret = zfs_ctl_render(c, (uint64_t)st->st_ino, &t);

	if (ret < 0) {
		free(t.buf);
		return ret;
	}
	pthread_mutex_lock(&c->lock);
	for (g = c->files; g && !(g->snap && g->ino == (uint64_t)st->st_ino); g = g->next)
		;
	if (g && !g->read) {
		struct zfs_text old = g->text;

		g->text = t;
		g->nlookup++;
		st->st_ino = g->snap;
		st->st_size = (off_t)t.len;
		pthread_mutex_unlock(&c->lock);
		free(old.buf);
		return 0;
	}
	pthread_mutex_unlock(&c->lock);
	f = calloc(1, sizeof(*f));
	if (!f) {
		free(t.buf);
		return -ENOMEM;
	}
	f->ino = st->st_ino;
	f->mode = st->st_mode;
	f->nlookup = 1;
	f->text = t;
	atomic_init(&f->refs, 1);
	zfs_ctl_list(c, f);
	st->st_ino = f->snap;
	st->st_size = (off_t)t.len;
	return 0;
}

static int zfs_ctl_lookup_node(struct zfs_ctl *c, uint64_t parent, const char *name,
			       struct stat *st);

int zfs_ctl_lookup(struct zfs_ctl *c, uint64_t parent, const char *name, struct stat *st)
{
	int ret = zfs_ctl_lookup_node(c, parent, name, st);

	if (ret < 0 || !c->cfg.no_open || S_ISDIR(st->st_mode))
		return ret;
	return zfs_ctl_snap_new(c, st);
}

uint64_t zfs_ctl_snap(struct zfs_ctl *c, uint64_t ino)
{
	struct zfs_ctl_file *f;

	if (ino < ZFS_CTL_SNAP_BASE)
		return 0;
	pthread_mutex_lock(&c->lock);
	f = zfs_ctl_snap_find(c, ino);
	if (f) {
		atomic_fetch_add(&f->refs, 1);
		f->read = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return (uint64_t)(uintptr_t)f;
}

void zfs_ctl_forget(struct zfs_ctl *c, uint64_t ino, uint64_t nlookup)
{
	struct zfs_ctl_file *f;

	if (ino < ZFS_CTL_SNAP_BASE)
		return;
	pthread_mutex_lock(&c->lock);
	f = zfs_ctl_snap_find(c, ino);
	if (f && f->nlookup > nlookup) {
		f->nlookup -= nlookup;
		f = NULL;
	} else if (f) {
		if (f->prev)
			f->prev->next = f->next;
		else
			c->files = f->next;
		if (f->next)
			f->next->prev = f->prev;
	}
	pthread_mutex_unlock(&c->lock);
	if (f)
		zfs_ctl_put(f);
}

static int zfs_ctl_lookup_node(struct zfs_ctl *c, uint64_t parent, const char *name,
			       struct stat *st)
{
	int k;

	if (parent >= ZFS_CTL_SNAP_BASE)
		return -ENOTDIR;

	if (!zfs_ctl_is(parent))	/* ".zcache" in the root */
		return zfs_ctl_getattr(c, zfs_ctl_ino(CTL_ROOT), st);
	if (!strcmp(name, "."))
		return zfs_ctl_getattr(c, parent, st);
	if (parent == zfs_ctl_ino(CTL_POOLS)) {
		struct zfs_pool_find f = { name, 0, 0 };

		if (!strcmp(name, ".."))
			return zfs_ctl_getattr(c, zfs_ctl_ino(CTL_ROOT), st);
		zfs_ns_pools_foreach(c->cfg.ns, zfs_pool_find_cb, &f);
		if (!f.found)
			return -ENOENT;
		return zfs_ctl_getattr(c, ZFS_CTL_POOL_BASE + 2 * f.id, st);
	}
	if (parent >= ZFS_CTL_POOL_BASE) {
		if ((parent - ZFS_CTL_POOL_BASE) % 2)
			return -ENOTDIR;
		if (!strcmp(name, ".."))
			return zfs_ctl_getattr(c, zfs_ctl_ino(CTL_POOLS), st);
		if (strcmp(name, "stats"))
			return -ENOENT;
		return zfs_ctl_getattr(c, parent + 1, st);
	}
	if (parent >= ZFS_CTL_INO_BASE + CTL_NFIXED)
		return -ENOENT;
	if (!S_ISDIR(zfs_ctl_nodes[parent - ZFS_CTL_INO_BASE].mode))
		return -ENOTDIR;
	if (!strcmp(name, "..")) {
		int up = zfs_ctl_nodes[parent - ZFS_CTL_INO_BASE].parent;

		if (up < 0) {
			/* The parent of /.zcache is the root (a real inode). */
			return -ENOENT;
		}
		return zfs_ctl_getattr(c, zfs_ctl_ino(up), st);
	}
	for (k = 1; k < CTL_NFIXED; k++)
		if (zfs_ctl_ino(zfs_ctl_nodes[k].parent) == parent &&
		    !strcmp(zfs_ctl_nodes[k].name, name))
			return zfs_ctl_getattr(c, zfs_ctl_ino(k), st);
	return -ENOENT;
}

/* ---- directories ----------------------------------------------------------- */

struct zfs_pool_ids {
	uint64_t *ids;
	size_t n, cap;
};

static int zfs_pool_ids_cb(void *arg, struct zfs_pool *p)
{
	struct zfs_pool_ids *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint64_t *ids = realloc(l->ids, cap * sizeof(*ids));

		if (!ids)
			return -ENOMEM;
		l->ids = ids;
		l->cap = cap;
	}
	l->ids[l->n++] = p->id;
	return 0;
}

static int zfs_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct zfs_label_arg {
	char label[ZFS_NAME_MAX + 32];
};

static int zfs_label_cb(void *arg, struct zfs_pool *p)
{
	struct zfs_label_arg *a = arg;

	zfs_pool_label(p, a->label, sizeof(a->label));
	return 1;
}

int zfs_ctl_readdir(struct zfs_ctl *c, uint64_t ino, uint64_t off, zfs_ns_filldir_fn fill,
		    void *arg)
{
	int k;

	if (ino >= ZFS_CTL_POOL_BASE) {
		if ((ino - ZFS_CTL_POOL_BASE) % 2)
			return -ENOTDIR;
		if (off < 1 && zfs_ns_fill_entry(fill, arg, ".", ino, S_IFDIR, 1))
			return 0;
		if (off < 2 && zfs_ns_fill_entry(fill, arg, "..", zfs_ctl_ino(CTL_POOLS), S_IFDIR, 2))
			return 0;
		if (off < 3)
			zfs_ns_fill_entry(fill, arg, "stats", ino + 1, S_IFREG, 3);
		return 0;
	}
	if (ino >= ZFS_CTL_INO_BASE + CTL_NFIXED ||
	    !S_ISDIR(zfs_ctl_nodes[ino - ZFS_CTL_INO_BASE].mode))
		return -ENOTDIR;
	if (off < 1 && zfs_ns_fill_entry(fill, arg, ".", ino, S_IFDIR, 1))
		return 0;
	if (off < 2 && zfs_ns_fill_entry(fill, arg, "..",
				    ino == zfs_ctl_ino(CTL_ROOT) ? ZFS_ROOT_INO : zfs_ctl_ino(CTL_ROOT),
				    S_IFDIR, 2))
		return 0;
	if (ino == zfs_ctl_ino(CTL_POOLS)) {
		struct zfs_pool_ids l = { NULL, 0, 0 };
		size_t i;
		int ret = zfs_ns_pools_foreach(c->cfg.ns, zfs_pool_ids_cb, &l);

		if (ret < 0) {
			free(l.ids);
			return ret;
		}
		qsort(l.ids, l.n, sizeof(*l.ids), zfs_cmp_u64);
		for (i = 0; i < l.n; i++) {
			struct zfs_label_arg a;

			if (l.ids[i] + 3 <= off)
				continue;
			if (zfs_ns_pool_with(c->cfg.ns, l.ids[i], zfs_label_cb, &a) != 1)
				continue;
			if (zfs_ns_fill_entry(fill, arg, a.label, ZFS_CTL_POOL_BASE + 2 * l.ids[i],
					 S_IFDIR, l.ids[i] + 3))
				break;
		}
		free(l.ids);
		return 0;
	}
	for (k = 1; k < CTL_NFIXED; k++) {
		if (zfs_ctl_ino(zfs_ctl_nodes[k].parent) != ino || (uint64_t)k + 2 <= off)
			continue;
		if (zfs_ns_fill_entry(fill, arg, zfs_ctl_nodes[k].name, zfs_ctl_ino(k),
				 zfs_ctl_nodes[k].mode & S_IFMT, (uint64_t)k + 2))
			break;
	}
	return 0;
}

/* ---- gathering the figures ------------------------------------------------- */

struct zfs_snap_arg {
	struct zfs_ctl *c;
	struct zfs_snapshot *s;
	unsigned cap;
};

static int zfs_snap_pool_cb(void *arg, struct zfs_pool *p)
{
	struct zfs_snap_arg *a = arg;
	struct zfs_pool_snap *ps;

	if (a->s->npools == a->cap) {
		unsigned cap = a->cap ? a->cap * 2 : 8;
		struct zfs_pool_snap *n = realloc(a->s->pools, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		a->s->pools = n;
		a->cap = cap;
	}
	ps = &a->s->pools[a->s->npools++];
	memset(ps, 0, sizeof(*ps));
	zfs_pool_label(p, ps->name, sizeof(ps->name));
	ps->id = p->id;
	ps->ephemeral = p->ephemeral;
	ps->codec = atomic_load(&p->codec);
	ps->densify = atomic_load(&p->densify);
	ps->files = atomic_load(&p->files);
	ps->bytes_written = atomic_load(&p->bytes_written);
	ps->bytes_read = atomic_load(&p->bytes_read);
	tmem_pool_stats(a->c->cfg.store, p->store_id, &ps->tmem);
	return 0;
}

static int zfs_snap_cmp(const void *a, const void *b)
{
	const struct zfs_pool_snap *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* The far tier's figures (fuse/far.h), when the mount has one. */
static int zfs_ctl_snap_far(struct zfs_ctl *c, struct zfs_snapshot *s)
{
	struct zfs_far *far = atomic_load(&c->cfg.mem->far);

	if (!far)
		return 0;
	s->have_spill = 1;
	return zfs_far_stats(far, &s->far);
}

int zfs_ctl_snapshot(struct zfs_ctl *c, struct zfs_snapshot *s)
{
	struct zfs_snap_arg a = { c, s, 0 };
	struct zfs_uring *ring;
	unsigned i, nx = 0, nslab = 0;
	int ret;

	memset(s, 0, sizeof(*s));
	tmem_stats(c->cfg.store, &s->tmem);
	buddy_stats(c->cfg.buddy, &s->buddy);
	sgv_ctx_stats(c->cfg.sgv, &s->sgv);
	zfs_ns_stats(c->cfg.ns, &s->ns);
	s->default_codec = c->cfg.codec;
	s->mem_limit = atomic_load(&c->cfg.mem->limit);
	ring = c->cfg.ring ? atomic_load(c->cfg.ring) : NULL;
	s->uring = zfs_uring_running(ring);
	zfs_uring_stats(ring, &s->ring);
	s->interrupts = c->cfg.interrupts ? atomic_load(c->cfg.interrupts) : 0;
	s->enospc = atomic_load(&c->cfg.mem->enospc);
	s->evicted_files = atomic_load(&c->cfg.mem->evicted_files);
	s->compactions = atomic_load(&c->cfg.mem->compactions);
	s->pages_compacted = atomic_load(&c->cfg.mem->pages_compacted);
#define ZFS_PC_SNAP(id, field, figure, scale, help) \
	s->field = atomic_load(&c->cfg.mem->policy[ZFS_PC_##id]);
	ZFS_POLICY_COUNTERS(ZFS_PC_SNAP)
#undef ZFS_PC_SNAP
	{
		uint64_t dz[ZFS_DZ_NR];

		zfs_densify_counters(c->cfg.densify, dz);
#define ZFS_DZ_SNAP(id, field, figure, scale, help) s->field = dz[ZFS_DZ_##id];
		ZFS_DENSIFY_COUNTERS(ZFS_DZ_SNAP)
#undef ZFS_DZ_SNAP
	}
	s->densify_setting = c->cfg.densify->setting;
	if (zfs_ctl_snap_far(c, s) < 0)
		goto nomem;
	if (c->cfg.tier) {
		zfs_tier_stats(c->cfg.tier, &s->tier);
		s->have_tier = 1;
	}
	if (c->cfg.pam) {
		pam_stats(c->cfg.pam, &s->pam);
		s->have_pam = 1;
		nx = pam_pool_count(c->cfg.pam);
	}
	if (c->cfg.reqstats) {
		s->fuse = malloc(sizeof(*s->fuse));
		if (!s->fuse)
			goto nomem;
		zfs_reqstats_sum(c->cfg.reqstats, s->fuse);
	}
	s->xcf = calloc(nx ? nx : 1, sizeof(*s->xcf));
	s->sgv_pools = calloc(1 + nx, sizeof(*s->sgv_pools));
	s->slabs = calloc(1 + c->cfg.nslabs, sizeof(*s->slabs));
	if (!s->xcf || !s->sgv_pools || !s->slabs)
		goto nomem;
	for (i = 0; i < nx; i++) {
		struct xcf_pool *x = pam_xcf_pool(c->cfg.pam, i);

		if (x)
			xcf_stats(x, &s->xcf[s->nxcf++]);
	}
	sgv_pool_stats(c->cfg.io_pool, &s->sgv_pools[s->nsgv_pools++]);
	for (i = 0; i < nx; i++) {
		struct sgv_pool *p = pam_scratch_pool(c->cfg.pam, i);

		if (p)
			sgv_pool_stats(p, &s->sgv_pools[s->nsgv_pools++]);
	}
	for (i = 0; i < c->cfg.nslabs; i++)
		if (c->cfg.slabs[i])
			slab_stats(c->cfg.slabs[i], &s->slabs[nslab++]);
	s->nslabs = nslab;
	ret = zfs_ns_pools_foreach(c->cfg.ns, zfs_snap_pool_cb, &a);
	if (ret < 0)
		goto nomem;
	qsort(s->pools, s->npools, sizeof(*s->pools), zfs_snap_cmp);
	s->mem_used_max = zfs_mem_note_used(c->cfg.mem, zfs_snapshot_mem_used(s));
	return 0;
nomem:
	zfs_snapshot_free(s);
	return -ENOMEM;
}

/* ---- files ----------------------------------------------------------------- */

static int zfs_ctl_render(struct zfs_ctl *c, uint64_t ino, struct zfs_text *t)
{
	struct zfs_snapshot s;
	int ret;

	if (ino == zfs_ctl_ino(CTL_COMPACT)) {
		zfs_text_printf(t, "compactions %llu\npages_compacted %llu\n",
				(unsigned long long)atomic_load(&c->cfg.mem->compactions),
				(unsigned long long)atomic_load(&c->cfg.mem->pages_compacted));
		return t->err;
	}
	if (ino == zfs_ctl_ino(CTL_DROP)) {
		zfs_text_printf(t, "evicted_files %llu\n",
				(unsigned long long)atomic_load(&c->cfg.mem->evicted_files));
		return t->err;
	}
	if (ino == zfs_ctl_ino(CTL_MEMLIMIT)) {
		zfs_text_printf(t, "%llu\n", (unsigned long long)atomic_load(&c->cfg.mem->limit));
		return t->err;
	}
	ret = zfs_ctl_snapshot(c, &s);
	if (ret < 0)
		return ret;
	if (ino >= ZFS_CTL_POOL_BASE) {
		uint64_t id = (ino - ZFS_CTL_POOL_BASE) / 2;
		unsigned i;

		ret = -ENOENT;
		for (i = 0; i < s.npools; i++)
			if (s.pools[i].id == id) {
				zfs_render_pool(&s, i, t);
				ret = 0;
			}
	} else {
		switch ((int)(ino - ZFS_CTL_INO_BASE)) {
		case CTL_STATS: zfs_render_stats(&s, t); break;
		case CTL_MMSTAT: zfs_render_mm_stat(&s, t); break;
		case CTL_METRICS: zfs_render_metrics(&s, t); break;
		case CTL_JSON: zfs_render_json(&s, t); break;
		case CTL_COMPRESS: zfs_render_compress(&s, t); break;
		case CTL_BUDDY: zfs_render_buddy(&s, t); break;
		case CTL_SGV: zfs_render_sgv(&s, t); break;
		case CTL_XCF: zfs_render_xcf(&s, t); break;
		case CTL_SLABINFO: zfs_render_slabinfo(&s, t); break;
		case CTL_FUSE: zfs_render_fuse(&s, t); break;
		case CTL_SGVFLUSH: zfs_text_printf(t, "sgv_idle_bytes %llu\n",
						   (unsigned long long)s.sgv.inactive_pages * 4096);
			break;
		case CTL_DENSIFY: zfs_render_densify(&s, t); break;
		case CTL_SPILL: zfs_render_spill(&s, t); break;
		case CTL_BACKING_COMPACT:	/* zeros without a backing file */
			zfs_text_printf(t,
					"backing_sparse_bytes %llu\nbacking_compactions %llu\n"
					"backing_compact_bytes %llu\nbacking_compact_reclaimed_bytes %llu\n",
					(unsigned long long)s.tier.sparse_bytes,
					(unsigned long long)s.tier.compactions,
					(unsigned long long)s.tier.compact_bytes,
					(unsigned long long)s.tier.compact_reclaimed_bytes);
			break;
		default: ret = -EISDIR; break;
		}
	}
	zfs_snapshot_free(&s);
	return ret < 0 ? ret : t->err;
}

int zfs_ctl_open(struct zfs_ctl *c, uint64_t ino, int flags, uid_t caller, uint64_t *fh)
{
	struct zfs_ctl_file *f;
	struct stat st;
	int ret = zfs_ctl_getattr(c, ino, &st);

	if (ret < 0)
		return ret;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if ((flags & O_ACCMODE) != O_RDONLY) {
		if (!(st.st_mode & 0200))
			return -EACCES;
		if (caller != 0)
			return -EACCES;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->ino = ino;
	atomic_init(&f->refs, 1);
	/* Listed, so zfs_ctl_fini can free handles the kernel never released
	 * (the session may end with files open). */
	pthread_mutex_lock(&c->lock);
	f->next = c->files;
	if (f->next)
		f->next->prev = f;
	c->files = f;
	pthread_mutex_unlock(&c->lock);
	if ((flags & O_ACCMODE) != O_WRONLY) {
		ret = zfs_ctl_render(c, ino, &f->text);
		if (ret < 0) {
			zfs_ctl_unlist(c, f);
			zfs_ctl_put(f);
			return ret;
		}
	}
	*fh = (uint64_t)(uintptr_t)f;
	return 0;
}

void zfs_ctl_read(struct zfs_ctl *c, uint64_t fh, size_t size, off_t off, const char **buf,
		  size_t *len)
{
	struct zfs_ctl_file *f = (struct zfs_ctl_file *)(uintptr_t)fh;

	(void)c;
	atomic_fetch_add(&f->refs, 1);
	if (off < 0 || (size_t)off >= f->text.len) {
		*buf = NULL;
		*len = 0;
		return;
	}
	if (size > f->text.len - (size_t)off)
		size = f->text.len - (size_t)off;
	*buf = f->text.buf + off;
	*len = size;
}

void zfs_ctl_read_done(struct zfs_ctl *c, uint64_t fh)
{
	(void)c;
	zfs_ctl_put((struct zfs_ctl_file *)(uintptr_t)fh);
}

void zfs_ctl_release(struct zfs_ctl *c, uint64_t fh)
{
	struct zfs_ctl_file *f = (struct zfs_ctl_file *)(uintptr_t)fh;

	if (!f)
		return;
	zfs_ctl_unlist(c, f);
	zfs_ctl_put(f);
}

/* The written value without surrounding blanks, NUL-terminated in buf. */
static int zfs_ctl_value(const char *in, size_t size, char *buf, size_t len)
{
	while (size && (*in == ' ' || *in == '\t' || *in == '\n'))
		in++, size--;
	while (size && (in[size - 1] == ' ' || in[size - 1] == '\t' || in[size - 1] == '\n'))
		size--;
	if (size == 0 || size >= len)
		return -EINVAL;
	memcpy(buf, in, size);
	buf[size] = '\0';
	return 0;
}

ssize_t zfs_ctl_write(struct zfs_ctl *c, uint64_t ino, uid_t caller, const char *buf,
		      size_t size)
{
	char val[64];
	int node;
	int ret;

	if (ino >= ZFS_CTL_SNAP_BASE) {	/* no-open mode: the snapshot's file */
		struct zfs_ctl_file *f;

		pthread_mutex_lock(&c->lock);
		f = zfs_ctl_snap_find(c, ino);
		ino = f ? f->ino : 0;
		pthread_mutex_unlock(&c->lock);
	}
	node = (int)(ino - ZFS_CTL_INO_BASE);
	if (caller != 0)
		return -EACCES;
	if (ino >= ZFS_CTL_POOL_BASE || node < 0 || node >= CTL_NFIXED ||
	    !(zfs_ctl_nodes[node].mode & 0200))
		return -EPERM;
	ret = zfs_ctl_value(buf, size, val, sizeof(val));
	if (ret < 0)
		return ret;
	switch (node) {
	case CTL_MEMLIMIT: {
		uint64_t v;

		if (zfs_parse_size(val, zfs_mem_ram_bytes(), &v) < 0)
			return -EINVAL;
		atomic_store(&c->cfg.mem->limit, v);
		break;
	}
	case CTL_COMPACT:
		if (strcmp(val, "1"))
			return -EINVAL;
		zfs_mem_compact(c->cfg.mem);
		break;
	case CTL_DROP:
		if (strcmp(val, "1"))
			return -EINVAL;
		zfs_mem_drop_ephemeral(c->cfg.mem);
		break;
	case CTL_SGVFLUSH:
		if (strcmp(val, "1"))
			return -EINVAL;
		sgv_ctx_flush(c->cfg.sgv);
		break;
	case CTL_BACKING_COMPACT:
		if (strcmp(val, "1"))
			return -EINVAL;
		if (!c->cfg.tier)
			return -EOPNOTSUPP;	/* no backing file */
		ret = zfs_tier_compact(c->cfg.tier, SIZE_MAX);
		if (ret < 0)
			return ret;
		break;
	case CTL_DENSIFY:
		if (strcmp(val, "1"))
			return -EINVAL;
		ret = zfs_densify_now(c->cfg.densify);
		if (ret < 0)
			return ret == -ESHUTDOWN || ret == -EAGAIN ? -EIO : ret;
		/* Hand the xcf space the old pages held back at once. */
		zfs_mem_compact(c->cfg.mem);
		break;
	default:
		return -EPERM;
	}
	return (ssize_t)size;
}
