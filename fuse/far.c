/* far.c - the far tier in the filesystem: spilling evicted ephemeral files
 * to the memcached cluster and restoring them at open (see far.h for the
 * design, the image format and the lock order).
 *
 * Memory.  The table of spilled files is a chained hash by inode number
 * (doubling), one struct far_entry per file.  An entry whose store is
 * pending points at its image (`image`), which the store's completion
 * owns and frees (struct far_store); the pointer is cleared under f->lock
 * before that free, so whoever reads the image holds f->lock.
 */
#include "fuse/far.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress/codec.h"
#include "compress/pam.h"
#include "fuse/notify.h"
#include "fuse/ns.h"
#include "fuse/objimg.h"
#include "tmem/tmem.h"

#define FAR_PAGE 4096u
#define FAR_MAGIC 0x4946435au		/* "ZCFI" read as little endian */
#define FAR_VERSION 2u
#define FAR_HEADER 24u			/* magic, version, 0, records, size */
#define FAR_RECORD 16u			/* index, kind, codec, map, live, 0, length */
#define FAR_CANDIDATES 32		/* LRU objects looked at per round */
/* Stores waiting in the client's queue: small files make many small
 * requests, so the count is set high and the bytes (queue_bytes) are what
 * bounds the images held while they wait. */
#define FAR_QUEUE_MAX 8192u

struct far_entry {
	struct far_entry *next;		/* hash chain */
	uint64_t ino;
	uint64_t gen;			/* the image's generation (its keys) */
	size_t len;			/* the image's length */
	const void *image;		/* while its store is pending, else NULL */
};

/* One store in flight: the completion's argument, owning the image. */
struct far_store {
	struct zfs_far *f;
	uint64_t ino, gen;
	size_t len;
	void *image;
	unsigned tries;			/* stores sent for this image */
};

/* Stores of one image before its file counts as lost.  A failed store is
 * sent again under a new generation, whose key hashes anew: with one dead
 * server of three, a file is lost with odds 1/27 instead of 1/3 (the dead
 * server is marked down, so a store that lands on it again fails at once). */
#define FAR_STORE_TRIES 3u

struct zfs_far {
	struct zfs_far_config cfg;	/* immutable (servers not kept) */
	struct zfs_spill *sp;		/* owned */
	int pool;			/* the store pool (persistent, owned) a
					   file's object moves to while its image
					   is built: nothing else looks there */
	pthread_mutex_t lock;		/* after io_lock: the table */
	struct far_entry **table;	/* protected by lock */
	size_t nbuckets;		/* power of two; protected by lock */
	uint64_t next_gen;		/* protected by lock */
	_Atomic int stopping;		/* destroy began: completions touch no file */
	_Atomic uint64_t counters[ZFS_FAR_NR];	/* FILES and BYTES changed under lock */
};

static void far_count(struct zfs_far *f, enum zfs_far_counter c, int64_t n)
{
	atomic_fetch_add(&f->counters[c], (uint64_t)n);
}

static struct tmem_oid far_oid(uint64_t ino)
{
	struct tmem_oid o = { { ino, 0, 0 } };

	return o;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- the table (caller holds f->lock) -------------------------------------- */

static size_t far_hash(uint64_t ino, size_t nbuckets)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 32) & (nbuckets - 1);
}

static size_t far_bucket(const struct zfs_far *f, uint64_t ino)
{
	return far_hash(ino, f->nbuckets);
}

static struct far_entry *far_find(struct zfs_far *f, uint64_t ino)
{
	struct far_entry *e = f->table[far_bucket(f, ino)];

	while (e && e->ino != ino)
		e = e->next;
	return e;
}

/* Unhook and free an entry of the table. */
static void far_remove(struct zfs_far *f, struct far_entry *e)
{
	struct far_entry **pp = &f->table[far_bucket(f, e->ino)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	atomic_fetch_sub(&f->counters[ZFS_FAR_FILES], 1);
	atomic_fetch_sub(&f->counters[ZFS_FAR_BYTES], e->len);
	free(e);
}

/* Add an entry (none for its inode yet).  The table doubles when it holds
 * as many entries as buckets; when that allocation fails, chains grow
 * longer instead. */
static void far_insert(struct zfs_far *f, struct far_entry *e)
{
	if (atomic_load(&f->counters[ZFS_FAR_FILES]) >= f->nbuckets) {
		size_t nb = f->nbuckets * 2;
		struct far_entry **t = calloc(nb, sizeof(*t));

		if (t) {
			for (size_t b = 0; b < f->nbuckets; b++)
				while (f->table[b]) {
					struct far_entry *x = f->table[b];

					f->table[b] = x->next;
					x->next = t[far_hash(x->ino, nb)];
					t[far_hash(x->ino, nb)] = x;
				}
			free(f->table);
			f->table = t;
			f->nbuckets = nb;
		}
	}
	e->next = f->table[far_bucket(f, e->ino)];
	f->table[far_bucket(f, e->ino)] = e;
	atomic_fetch_add(&f->counters[ZFS_FAR_FILES], 1);
	atomic_fetch_add(&f->counters[ZFS_FAR_BYTES], e->len);
}

/* ---- life ------------------------------------------------------------------ */

struct zfs_far *zfs_far_create(const struct zfs_far_config *cfg, char *err, size_t errlen)
{
	struct zfs_spill_config sc = {
		.servers = cfg->servers,
		.queue_bytes = cfg->queue_bytes,
		.queue_max = FAR_QUEUE_MAX,
	};
	struct zfs_far *f;
	int e;

	if (!cfg->store || !cfg->pam || !cfg->ns || !cfg->notify || !cfg->evict_lock ||
	    !cfg->servers) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		errno = ENOMEM;
		return NULL;
	}
	f->cfg = *cfg;
	f->cfg.servers = NULL;
	f->nbuckets = 64;
	f->table = calloc(f->nbuckets, sizeof(*f->table));
	if (!f->table || pthread_mutex_init(&f->lock, NULL)) {
		free(f->table);
		free(f);
		errno = ENOMEM;
		return NULL;
	}
	f->pool = tmem_new_pool(cfg->store, TMEM_POOL_PERSISTENT);
	if (f->pool < 0) {
		e = f->pool == -ENOMEM ? ENOMEM : ENOSPC;
		if (err && errlen)
			snprintf(err, errlen, "spill: no store pool left for the far tier");
		pthread_mutex_destroy(&f->lock);
		free(f->table);
		free(f);
		errno = e;
		return NULL;
	}
	f->sp = zfs_spill_create(&sc, err, errlen);
	if (!f->sp) {
		e = errno;
		tmem_destroy_pool(cfg->store, f->pool);
		pthread_mutex_destroy(&f->lock);
		free(f->table);
		free(f);
		errno = e;
		return NULL;
	}
	return f;
}

void zfs_far_destroy(struct zfs_far *f)
{
	if (!f)
		return;
	atomic_store(&f->stopping, 1);
	zfs_spill_destroy(f->sp);	/* pending stores complete here */
	for (size_t b = 0; b < f->nbuckets; b++)
		while (f->table[b]) {
			struct far_entry *e = f->table[b];

			f->table[b] = e->next;
			free(e);
		}
	free(f->table);
	tmem_destroy_pool(f->cfg.store, f->pool);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int zfs_far_spilled(const struct zfs_inode *inode)
{
	return atomic_load_explicit(&inode->spilled, memory_order_relaxed) != 0;
}

/* ---- images ---------------------------------------------------------------- */

/* The image being built (zfs_objimg_export's callback appends a record). */
struct far_build {
	unsigned char *img;
	size_t cap, n, max;
	uint32_t records;
};

static int far_add(void *arg, const struct zfs_objimg_form *form)
{
	struct far_build *b = arg;
	size_t need = FAR_RECORD + (form->kind == PAM_KIND_FILL ? 8u : form->len);

	if (b->n + need > b->max)
		return -EFBIG;
	if (!b->img || b->cap - b->n < need) {
		size_t nc = b->cap ? b->cap * 2 : 64 * 1024;
		unsigned char *g;

		while (nc - b->n < need)
			nc *= 2;
		if (nc > b->max)
			nc = b->max;
		g = realloc(b->img, nc);
		if (!g)
			return -ENOMEM;
		b->img = g;
		b->cap = nc;
	}
	unsigned char *r = b->img + b->n;

	put32(r, form->index);
	r[4] = (unsigned char)form->kind;
	r[5] = (unsigned char)form->codec_type;
	put16(r + 6, (uint16_t)form->map);
	put16(r + 8, (uint16_t)form->live);
	put16(r + 10, 0);
	if (form->kind == PAM_KIND_FILL) {
		put32(r + 12, 8);
		put64(r + FAR_RECORD, form->fill);
	} else {
		put32(r + 12, form->len);
		memcpy(r + FAR_RECORD, form->data, form->len);
	}
	b->n += need;
	b->records++;
	return 0;
}

/* Build the image of the object `ino` of store pool `pool` (the tier's own
 * pool: nothing else changes it meanwhile): every page or unit in its
 * stored form (fuse/objimg.h), nothing decoded.  Returns the image (malloc)
 * and its length in *len, or NULL (nothing stored, out of memory, a page
 * unreadable, or larger than `max`). */
static void *far_image(struct zfs_far *f, int pool, uint64_t ino, uint64_t size, size_t max,
		       size_t *len)
{
	struct far_build b = { .n = FAR_HEADER, .max = max };
	void *xbuf = malloc(PAM_EXPORT_BUF);
	int ret = -ENOMEM;

	*len = 0;
	if (xbuf && max > FAR_HEADER)
		ret = zfs_objimg_export(f->cfg.store, f->cfg.pam, pool, ino, xbuf, far_add, &b);
	free(xbuf);
	if (ret != 0 || !b.records) {
		free(b.img);
		return NULL;
	}
	put32(b.img, FAR_MAGIC);
	put32(b.img + 4, FAR_VERSION);
	put32(b.img + 8, 0);
	put32(b.img + 12, b.records);
	put64(b.img + 16, size);
	*len = b.n;
	return b.img;
}

/* Check one record at img + n (len bytes in all) for a file of `pages`
 * pages whose last index so far is *last; sets *next to the next record's
 * offset.  Returns 0 or -EIO. */
static int far_check_record(const unsigned char *img, size_t len, size_t n, uint64_t pages,
			    int64_t *last, size_t *next)
{
	uint32_t idx, clen;
	unsigned kind, type, map, live;
	uint64_t low, top;

	if (len - n < FAR_RECORD)
		return -EIO;
	idx = get32(img + n);
	kind = img[n + 4];
	type = img[n + 5];
	map = get16(img + n + 6);
	live = get16(img + n + 8);
	clen = get32(img + n + 12);
	if (get16(img + n + 10) != 0 || len - n - FAR_RECORD < clen)
		return -EIO;
	switch (kind) {
	case PAM_KIND_FILL:
		if (type || map || live || clen != 8)
			return -EIO;
		low = top = idx;
		break;
	case PAM_KIND_RAW:
		if (type || map || live || clen != FAR_PAGE)
			return -EIO;
		low = top = idx;
		break;
	case PAM_KIND_XCF:
		if ((type != CODEC_LZ4 && type != CODEC_ZSTD) || map || live || clen == 0 ||
		    clen >= FAR_PAGE)
			return -EIO;
		low = top = idx;
		break;
	case PAM_KIND_UNIT:
		if ((type != CODEC_LZ4 && type != CODEC_ZSTD) || idx % PAM_UNIT_PAGES ||
		    live == 0 || (live & ~map) || clen == 0 ||
		    clen > PAM_EXPORT_BUF - PAM_UNIT_IMPORT_ROOM)
			return -EIO;
		/* A group may hold several units (up to four with the
		 * daemon's lz4, compress/pam.h and tmem/stack.h): all name its
		 * first index; their pages ascend. */
		low = (uint64_t)idx + (unsigned)__builtin_ctz(live);
		top = (uint64_t)idx + 31u - (unsigned)__builtin_clz(live);
		break;
	default:
		return -EIO;
	}
	if ((int64_t)low <= *last || top >= pages)
		return -EIO;
	*last = (int64_t)top;
	*next = n + FAR_RECORD + clen;
	return 0;
}

/* Put the image's pages and units back into the file's home in their
 * stored forms (caller holds io_lock exclusively).  Every record is checked
 * before anything is stored (indices ascending and within the file's size,
 * kinds, codec types, maps, lengths, the record count and the length
 * exact); on any failure what was stored is removed and -EIO (a malformed
 * image or a form the store refuses) or the store's error is returned. */
static int far_unpack(struct zfs_far *f, struct zfs_inode *inode, const unsigned char *img,
		      size_t len)
{
	struct tmem_oid oid = far_oid(inode->ino);
	int pool = inode->pool->store_id;
	unsigned char *xbuf = NULL;
	uint64_t size, pages;
	uint32_t records;
	size_t n = FAR_HEADER;
	int64_t last = -1;
	int ret = 0;

	if (len < FAR_HEADER || get32(img) != FAR_MAGIC || get32(img + 4) != FAR_VERSION ||
	    get32(img + 8) != 0)
		return -EIO;
	records = get32(img + 12);
	pthread_mutex_lock(&inode->stripe->lock);
	size = inode->size;
	pthread_mutex_unlock(&inode->stripe->lock);
	pages = (size + FAR_PAGE - 1) / FAR_PAGE;
	for (uint32_t k = 0; k < records; k++)
		if (far_check_record(img, len, n, pages, &last, &n) < 0)
			return -EIO;
	if (n != len || !records)
		return -EIO;
	xbuf = malloc(PAM_EXPORT_BUF);
	if (!xbuf)
		return -ENOMEM;
	n = FAR_HEADER;
	for (uint32_t k = 0; k < records && ret == 0; k++) {
		const unsigned char *r = img + n;
		uint32_t idx = get32(r), clen = get32(r + 12);
		struct pam_blob b;

		memset(&b, 0, sizeof(b));
		b.kind = (enum pam_kind)r[4];
		if (b.kind == PAM_KIND_UNIT) {
			memcpy(xbuf + PAM_UNIT_IMPORT_ROOM, r + FAR_RECORD, clen);
			ret = zfs_objimg_import_unit(f->cfg.store, f->cfg.pam, pool, inode->ino, idx,
						     r[5], get16(r + 6), get16(r + 8), xbuf, clen);
		} else {
			b.codec_type = r[5];
			if (b.kind == PAM_KIND_FILL) {
				uint64_t w = 0;

				for (int i = 7; i >= 0; i--)
					w = w << 8 | r[FAR_RECORD + i];
				b.fill = w;
			} else {
				b.len = clen;
				b.data = r + FAR_RECORD;
			}
			ret = zfs_objimg_import_page(f->cfg.store, f->cfg.pam, pool, inode->ino, idx,
						     &b);
		}
		if (ret == -EEXIST || ret == -EINVAL)
			ret = -EIO;
		n += FAR_RECORD + clen;
	}
	free(xbuf);
	if (ret < 0) {
		tmem_flush_object(f->cfg.store, pool, &oid);
		return ret;
	}
	/* The pages came back in the forms they spilled in, units as units:
	 * the file's dense mark (fuse/densify.h) stays as true as it was. */
	return 0;
}

/* ---- spilling -------------------------------------------------------------- */

/* The store's completion (a client thread, no lock held). */
static void far_stored(void *arg, int ret)
{
	struct far_store *s = arg;
	struct zfs_far *f = s->f;
	struct far_entry *e;
	int lost = 0;

	pthread_mutex_lock(&f->lock);
	e = far_find(f, s->ino);
	if (e && e->gen == s->gen && ret < 0 && ret != -ECANCELED && ret != -ESHUTDOWN &&
	    s->tries < FAR_STORE_TRIES && !atomic_load(&f->stopping)) {
		/* Once more under a new generation (f->lock held, so no restore
		 * reads or takes the entry meanwhile; the client's lock comes
		 * after f->lock and never calls back from within). */
		e->gen = s->gen = ++f->next_gen;
		s->tries++;
		if (zfs_spill_store(f->sp, s->ino, s->gen, s->image, s->len, far_stored, s) == 0) {
			pthread_mutex_unlock(&f->lock);
			far_count(f, ZFS_FAR_SPILL_RETRIES, 1);
			return;
		}
	}
	if (e && e->gen == s->gen) {
		e->image = NULL;	/* from now on a restore fetches */
		if (ret < 0) {
			far_remove(f, e);	/* the file is gone */
			lost = 1;
		}
	}
	pthread_mutex_unlock(&f->lock);
	free(s->image);
	if (ret == 0)
		far_count(f, ZFS_FAR_SPILLS, 1);
	else if (ret != -ECANCELED)
		far_count(f, ZFS_FAR_SPILL_FAILED, 1);
	if (lost && !atomic_load(&f->stopping))
		zfs_far_gone(f, s->ino);
	free(s);
}

/* Spill one candidate; the caller holds evict_lock for writing.  Returns
 * the image's bytes (0: not spilled), or -EAGAIN when the client's queue
 * is full (stop the round). */
static int64_t far_spill_one(struct zfs_far *f, const struct tmem_lru_entry *c, size_t max)
{
	struct zfs_inode *inode = zfs_ns_hold(f->cfg.ns, c->oid.oid[0]);
	struct tmem_oid oid = c->oid;
	struct far_store *s = NULL;
	struct far_entry *e = NULL;
	int64_t got = 0;
	int moved = 0, home = (int)c->pool;
	uint64_t size;
	size_t len;
	int ret;

	if (!inode)
		return 0;	/* no name: plain eviction takes it */
	pthread_rwlock_wrlock(&inode->stripe->io_lock);
	if (oid.oid[1] || oid.oid[2] || zfs_far_spilled(inode) ||
	    (uint32_t)inode->pool->store_id != c->pool || atomic_load(&inode->pool->spill_off))
		goto out;
	pthread_mutex_lock(&inode->stripe->lock);
	size = inode->size;
	pthread_mutex_unlock(&inode->stripe->lock);
	s = calloc(1, sizeof(*s));
	e = calloc(1, sizeof(*e));
	if (!s || !e)
		goto out;
	/* The object goes to the tier's own pool while its image is built:
	 * the pampds are read without a lock, and there no densify (which
	 * repacks files with no lock of ours held), write or eviction can
	 * free them (an eviction could not anyway: evict_lock is held). */
	if (tmem_move_object(f->cfg.store, home, f->pool, &oid) < 0)
		goto out;
	moved = 1;
	s->image = far_image(f, f->pool, inode->ino, size, max, &len);
	if (!s->image) {
		far_count(f, ZFS_FAR_SPILL_SKIPPED, 1);	/* too large, or no memory */
		goto out;
	}
	s->f = f;
	s->ino = inode->ino;
	s->len = len;
	s->tries = 1;
	e->ino = inode->ino;
	e->len = len;
	e->image = s->image;
	pthread_mutex_lock(&f->lock);
	e->gen = s->gen = ++f->next_gen;
	far_insert(f, e);
	pthread_mutex_unlock(&f->lock);
	ret = zfs_spill_store(f->sp, s->ino, s->gen, s->image, len, far_stored, s);
	if (ret < 0) {
		pthread_mutex_lock(&f->lock);
		far_remove(f, e);
		pthread_mutex_unlock(&f->lock);
		e = NULL;
		far_count(f, ZFS_FAR_SPILL_SKIPPED, 1);
		got = ret == -EAGAIN ? -EAGAIN : 0;
		goto out;
	}
	/* Queued: the image is the local copy now, the pages can go. */
	e = NULL;
	s = NULL;
	tmem_flush_object(f->cfg.store, f->pool, &oid);
	moved = 0;
	atomic_store_explicit(&inode->spilled, 1, memory_order_relaxed);
	got = (int64_t)len;
out:
	/* Not spilled: the object goes home (nothing can have made one there
	 * meanwhile: io_lock and evict_lock are held, so no write or open).
	 * If even that fails (no memory for the object), the pages go and the
	 * file is marked spilled with no image: its next open finds it gone
	 * (ENOENT, its names removed, as a lost spill) - never a file that
	 * reads as zeros. */
	if (moved && tmem_move_object(f->cfg.store, f->pool, home, &oid) < 0) {
		fprintf(stderr, "far: inode %llu could not move home; the file is lost\n",
			(unsigned long long)inode->ino);
		tmem_flush_object(f->cfg.store, f->pool, &oid);
		atomic_store_explicit(&inode->spilled, 1, memory_order_relaxed);
		far_count(f, ZFS_FAR_SPILL_FAILED, 1);
	}
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	zfs_ns_release(f->cfg.ns, inode);
	if (s)
		free(s->image);
	free(s);
	free(e);
	return got;
}

uint64_t zfs_far_spill(struct zfs_far *f, uint64_t bytes, uint64_t *files)
{
	struct tmem_lru_entry c[FAR_CANDIDATES];
	struct zfs_spill_stats st;
	uint64_t done = 0;
	size_t max;

	zfs_spill_stats(f->sp, &st);
	max = (f->cfg.queue_bytes ? f->cfg.queue_bytes : ZFS_SPILL_QUEUE_BYTES_DEFAULT);
	if (st.queue_bytes >= max)
		return 0;
	max -= st.queue_bytes;	/* what the client's queue can still take */
	while (done < bytes) {
		size_t n = tmem_lru_oldest(f->cfg.store, c, FAR_CANDIDATES);
		uint64_t round = 0;

		for (size_t i = 0; i < n && done < bytes; i++) {
			int64_t got = far_spill_one(f, &c[i], max);

			if (got < 0)
				return done;
			done += (uint64_t)got;
			round += (uint64_t)got;
			*files += got > 0;
			max = (size_t)got < max ? max - (size_t)got : 0;
			if (max < FAR_HEADER + FAR_RECORD + FAR_PAGE)
				return done;
		}
		if (!round)
			break;	/* nothing left that spills: eviction does the rest */
	}
	return done;
}

/* ---- restoring, forgetting ------------------------------------------------- */

int zfs_far_restore(struct zfs_far *f, struct zfs_inode *inode, int locked)
{
	struct far_entry *e;
	uint64_t gen;
	size_t len;
	void *img = NULL;
	int ret = 0;

	if (!locked)
		pthread_rwlock_wrlock(&inode->stripe->io_lock);
	if (!zfs_far_spilled(inode))
		goto out;
	pthread_mutex_lock(&f->lock);
	e = far_find(f, inode->ino);
	if (!e) {
		pthread_mutex_unlock(&f->lock);
		ret = -ENOENT;
		far_count(f, ZFS_FAR_FETCH_MISSES, 1);
		goto out;
	}
	gen = e->gen;
	len = e->len;
	if (e->image) {
		/* Its store is still pending: the image is here. */
		ret = far_unpack(f, inode, e->image, len);
		if (ret == 0)
			far_remove(f, e);
		pthread_mutex_unlock(&f->lock);
		if (ret == 0)
			goto restored;
		goto out;
	}
	pthread_mutex_unlock(&f->lock);
	ret = zfs_spill_fetch_sync(f->sp, inode->ino, gen, len, &img);
	pthread_mutex_lock(&f->lock);
	e = far_find(f, inode->ino);
	if (!e || e->gen != gen) {
		/* Forgotten meanwhile (its data was released). */
		pthread_mutex_unlock(&f->lock);
		free(img);
		ret = -ENOENT;
		far_count(f, ZFS_FAR_FETCH_MISSES, 1);
		goto out;
	}
	if (ret == 0)
		ret = far_unpack(f, inode, img, len) == 0 ? 0 : -ENOENT;
	if (ret == 0 || ret == -ENOENT)
		far_remove(f, e);
	pthread_mutex_unlock(&f->lock);
	free(img);
	if (ret < 0) {
		if (ret == -ENOENT) {
			far_count(f, ZFS_FAR_FETCH_MISSES, 1);
			zfs_spill_delete(f->sp, inode->ino, gen, len);
		}
		goto out;
	}
restored:
	/* Local again: the remote copy (or the pending store) goes. */
	zfs_spill_delete(f->sp, inode->ino, gen, len);
	atomic_store_explicit(&inode->spilled, 0, memory_order_relaxed);
	far_count(f, ZFS_FAR_FETCH_HITS, 1);
out:
	if (!locked)
		pthread_rwlock_unlock(&inode->stripe->io_lock);
	return ret;
}

/* The numbers of the spilled files, malloc()ed, in *n (f->lock is not
 * held across a fetch, nor while their inodes are looked at).  NULL with
 * *n 0 when there are none; NULL with *n SIZE_MAX when out of memory. */
static uint64_t *far_spilled_inos(struct zfs_far *f, size_t *count)
{
	uint64_t *inos = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t b = 0; b < f->nbuckets && ret == 0; b++)
		for (struct far_entry *e = f->table[b]; e; e = e->next) {
			if (n == cap) {
				size_t c = cap ? 2 * cap : 64;
				uint64_t *p = realloc(inos, c * sizeof(*p));

				if (!p) {
					ret = -ENOMEM;
					break;
				}
				inos = p;
				cap = c;
			}
			inos[n++] = e->ino;
		}
	pthread_mutex_unlock(&f->lock);
	if (ret < 0) {
		free(inos);
		*count = SIZE_MAX;
		return NULL;
	}
	*count = n;
	return inos;
}

/* Is `inode` spilled with its home in store pool `pool` (-1: any)?  Its
 * home is read under its io_lock (a move holds it exclusively). */
static int far_spilled_in(struct zfs_inode *inode, int pool)
{
	int in;

	pthread_rwlock_rdlock(&inode->stripe->io_lock);
	in = zfs_far_spilled(inode) && (pool < 0 || inode->pool->store_id == pool);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	return in;
}

int zfs_far_pool_spilled(struct zfs_far *f, int pool)
{
	size_t n;
	uint64_t *inos = far_spilled_inos(f, &n);
	int found = n == SIZE_MAX ? -ENOMEM : 0;

	for (size_t k = 0; k < n && !found && inos; k++) {
		struct zfs_inode *inode = zfs_ns_hold(f->cfg.ns, inos[k]);

		if (inode) {
			found = far_spilled_in(inode, pool);
			zfs_ns_release(f->cfg.ns, inode);
		}
	}
	free(inos);
	return found;
}

int zfs_far_restore_pool(struct zfs_far *f, int pool, uint64_t *restored, uint64_t *lost)
{
	size_t n;
	uint64_t *inos = far_spilled_inos(f, &n);
	int ret = n == SIZE_MAX ? -ENOMEM : 0;

	for (size_t k = 0; k < n && ret == 0; k++) {
		struct zfs_inode *inode = zfs_ns_hold(f->cfg.ns, inos[k]);

		if (!inode)
			continue;
		if (!far_spilled_in(inode, pool)) {
			zfs_ns_release(f->cfg.ns, inode);
			continue;
		}
		/* A full fetch queue drains: the client's threads run. */
		for (int t = 0; t < 200; t++) {
			ret = zfs_far_restore(f, inode, 0);
			if (ret != -EAGAIN)
				break;
			usleep(10000);
		}
		zfs_ns_release(f->cfg.ns, inode);
		if (ret == 0) {
			(*restored)++;
		} else if (ret == -ENOENT) {
			zfs_far_gone(f, inos[k]);
			(*lost)++;
			ret = 0;
		}
	}
	free(inos);
	return ret;
}

int zfs_far_restore_all(struct zfs_far *f, uint64_t *restored, uint64_t *lost)
{
	return zfs_far_restore_pool(f, -1, restored, lost);
}

void zfs_far_gone(struct zfs_far *f, uint64_t ino)
{
	struct zfs_inval *list = NULL;
	struct zfs_inode *inode;
	uint64_t n = 0;
	int spilled;

	pthread_rwlock_wrlock(f->cfg.evict_lock);
	/* Only a file still spilled (with no image now) goes: one truncated to
	 * 0 meanwhile is local and whole.  (A truncation to 0 can still slip
	 * in between this look and the eviction - it takes no evict_lock -
	 * and then loses the empty file it made.) */
	inode = zfs_ns_hold(f->cfg.ns, ino);
	spilled = inode && zfs_far_spilled(inode);
	if (inode)
		zfs_ns_release(f->cfg.ns, inode);
	if (spilled)
		n = zfs_ns_evict(f->cfg.ns, &ino, 1, zfs_notify_collect, &list);
	pthread_rwlock_unlock(f->cfg.evict_lock);
	zfs_notify_queue(f->cfg.notify, list);
	far_count(f, ZFS_FAR_LOST_FILES, (int64_t)n);
}

void zfs_far_forget(struct zfs_far *f, uint64_t ino)
{
	struct far_entry *e;
	uint64_t gen = 0;
	size_t len = 0;
	int found = 0;

	pthread_mutex_lock(&f->lock);
	e = far_find(f, ino);
	if (e) {
		gen = e->gen;
		len = e->len;
		found = 1;
		far_remove(f, e);	/* a pending store's image stays its completion's */
	}
	pthread_mutex_unlock(&f->lock);
	if (found)
		zfs_spill_delete(f->sp, ino, gen, len);
}

void zfs_far_discard(struct zfs_far *f, struct zfs_inode *inode)
{
	if (!zfs_far_spilled(inode))
		return;
	zfs_far_forget(f, inode->ino);
	atomic_store_explicit(&inode->spilled, 0, memory_order_relaxed);
}

/* ---- figures, check -------------------------------------------------------- */

int zfs_far_stats(struct zfs_far *f, struct zfs_far_stats *out)
{
	int n;

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < ZFS_FAR_NR; i++)
		out->counters[i] = atomic_load(&f->counters[i]);
	zfs_spill_stats(f->sp, &out->client);
	n = zfs_spill_servers(f->sp, NULL, 0);
	if (n <= 0)
		return 0;
	out->servers = calloc((size_t)n, sizeof(*out->servers));
	if (!out->servers)
		return -ENOMEM;
	out->nservers = (unsigned)zfs_spill_servers(f->sp, out->servers, (size_t)n);
	if (out->nservers > (unsigned)n)
		out->nservers = (unsigned)n;
	return 0;
}

int zfs_far_check(struct zfs_far *f)
{
	uint64_t files = 0, bytes = 0;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t b = 0; b < f->nbuckets; b++)
		for (struct far_entry *e = f->table[b]; e; e = e->next) {
			if (far_bucket(f, e->ino) != b || e->gen == 0 || e->gen > f->next_gen ||
			    e->len < FAR_HEADER) {
				fprintf(stderr, "far: entry of inode %llu: bucket %zu, gen %llu, len %zu\n",
					(unsigned long long)e->ino, b, (unsigned long long)e->gen,
					e->len);
				ret = -EUCLEAN;
			}
			files++;
			bytes += e->len;
		}
	if (ret == 0 && (files != atomic_load(&f->counters[ZFS_FAR_FILES]) ||
			 bytes != atomic_load(&f->counters[ZFS_FAR_BYTES]))) {
		fprintf(stderr, "far: %llu files, %llu bytes in the table, gauges say %llu, %llu\n",
			(unsigned long long)files, (unsigned long long)bytes,
			(unsigned long long)atomic_load(&f->counters[ZFS_FAR_FILES]),
			(unsigned long long)atomic_load(&f->counters[ZFS_FAR_BYTES]));
		ret = -EUCLEAN;
	}
	pthread_mutex_unlock(&f->lock);
	return ret ? ret : zfs_spill_check(f->sp);
}
