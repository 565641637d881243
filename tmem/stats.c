/* stats.c - tmem's statistics (the striped counters summed per pool and
 * over the store) and tmem_check, the walk that verifies every invariant.
 *
 * Design note.  The counters are declared once, in tmem.h's
 * TMEM_STATS_FIELDS; the hot ones live in the pool's stripes and are summed
 * here with relaxed loads, so a reader never stops a writer and a figure
 * may be a moment out of date while the pool changes.  tmem_check holds
 * the whole store still (every pool's resize and bucket locks, then every
 * lru lock) and walks it: tree shape and order, each object in the bucket
 * its id hashes to, radix heights and slot counts, the LRU lists, every
 * pampd holding memory reachable exactly once, and every counter against
 * what the walk found.  Every checked counter changes under the bucket
 * lock together with the structure it counts, so the verdict is exact even
 * beside other threads.
 */
#include "tmem/tmem_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- statistics ----------------------------------------------------- */

static void pool_stats(struct tmem_pool *p, struct tmem_pool_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->id = p->id;
	out->kind = atomic_load_explicit(&p->kind, memory_order_relaxed);
	out->codec = atomic_load_explicit(&p->codec, memory_order_relaxed);
	for (unsigned i = 0; i < TMEM_STRIPES; i++) {
		struct tmem_stripe *st = &p->stripes[i];
		out->puts += TMEM_READ(st->puts);
		out->replaces += TMEM_READ(st->replaces);
		out->failed_puts += TMEM_READ(st->failed_puts);
		out->gets += TMEM_READ(st->gets);
		out->failed_gets += TMEM_READ(st->failed_gets);
		out->flushes += TMEM_READ(st->flushes);
		out->pages += TMEM_READ(st->pages);
		out->pampd_bytes += TMEM_READ(st->pampd_bytes);
		out->objnodes += TMEM_READ(st->objnodes);
		out->pinned_objects += TMEM_READ(st->pinned);
	}
	out->objects = TMEM_READ(p->nobjects);
	out->flush_objects = TMEM_READ(p->flush_objects);
	out->evictions = TMEM_READ(p->evictions);
	out->evicted_pages = TMEM_READ(p->evicted_pages);
	out->resizes = TMEM_READ(p->resizes);
	out->repacks = TMEM_READ(p->repacks);
	out->repacked_pages = TMEM_READ(p->repacked_pages);
	out->repack_conflicts = TMEM_READ(p->repack_conflicts);
	out->buckets = atomic_load_explicit(&p->table, memory_order_acquire)->nbuckets;
	out->meta_bytes = out->objects * TMEM_OBJ_SIZE + out->objnodes * TMEM_OBJNODE_SIZE +
			  TMEM_READ(p->table_bytes);
}

int tmem_pool_stats(struct tmem_store *s, int pool, struct tmem_pool_stats *out)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	pool_stats(p, out);
	return 0;
}

void tmem_stats(struct tmem_store *s, struct tmem_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->pool_lock);
	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (!p)
			continue;
		struct tmem_pool_stats ps;
		pool_stats(p, &ps);
		out->pools++;
		if (ps.kind == TMEM_POOL_EPHEMERAL)
			out->ephemeral_pools++;
#define TMEM_STATS_SUM(name, comment) out->name += ps.name;
		TMEM_STATS_FIELDS(TMEM_STATS_SUM)
#undef TMEM_STATS_SUM
	}
	pthread_mutex_unlock(&s->pool_lock);
}

/* ---- invariants ----------------------------------------------------- */

struct tmem_check_ctx {
	struct tmem_store *s;
	struct tmem_pool *p;
	struct tmem_table *t;
	uint32_t bucket;
	tmem_pampd *pampds;	/* every pampd seen, store-wide */
	size_t npampds, cap;
	uint64_t objects, pinned, lru_objects, pages, bytes, nodes;
};

#define CHECK(cond, ...)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "tmem_check: " __VA_ARGS__);	\
			fputc('\n', stderr);				\
			return -EUCLEAN;				\
		}							\
	} while (0)

static int check_add_pampd(struct tmem_check_ctx *c, tmem_pampd v)
{
	size_t sz = c->s->pam->size(c->s->pam_ctx, v);
	c->bytes += sz;
	c->pages++;
	/* A pampd that holds no memory is a value (a same-filled page kept
	 * in the handle itself) and may legitimately repeat; one that holds
	 * memory must be reachable from exactly one slot. */
	if (!sz)
		return 0;
	if (c->npampds == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 1024;
		tmem_pampd *n = realloc(c->pampds, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->pampds = n;
		c->cap = ncap;
	}
	c->pampds[c->npampds++] = v;
	return 0;
}

/* Walk an objnode at level l covering [base, base + 16^l); returns the
 * pages under it or a negative errno. */
static int64_t check_node(struct tmem_check_ctx *c, const struct tmem_objnode *n, unsigned l)
{
	unsigned used = 0;
	int64_t pages = 0;
	c->nodes++;
	for (unsigned d = 0; d < TMEM_FAN; d++) {
		uint64_t v = n->slots[d];
		if (!v)
			continue;
		used++;
		if (l == 1) {
			int r = check_add_pampd(c, v);
			if (r < 0)
				return r;
			pages++;
		} else {
			int64_t r = check_node(c, (const struct tmem_objnode *)(uintptr_t)v, l - 1);
			if (r < 0)
				return r;
			pages += r;
		}
	}
	CHECK(used == n->count, "pool %u: objnode %p counts %u slots, holds %u", c->p->id,
	      (const void *)n, n->count, used);
	CHECK(used > 0, "pool %u: empty objnode %p at level %u", c->p->id, (const void *)n, l);
	return pages;
}

static int check_obj(struct tmem_check_ctx *c, const struct tmem_obj *o)
{
	uint32_t id = c->p->id;
	CHECK((tmem_hash(&o->oid) & c->t->mask) == c->bucket,
	      "pool %u: object %016llx.. in bucket %u, hashes to %u", id,
	      (unsigned long long)o->oid.oid[0], c->bucket,
	      (unsigned)(tmem_hash(&o->oid) & c->t->mask));
	CHECK(o->height <= TMEM_MAX_HEIGHT, "pool %u: object height %u", id, o->height);
	int64_t pages = 0;
	if (!o->root) {
		CHECK(o->height == 0, "pool %u: empty object of height %u", id, o->height);
	} else if (o->height == 0) {
		int r = check_add_pampd(c, o->root);
		if (r < 0)
			return r;
		pages = 1;
	} else {
		pages = check_node(c, (const struct tmem_objnode *)(uintptr_t)o->root, o->height);
		if (pages < 0)
			return (int)pages;
	}
	CHECK((uint64_t)pages == o->pages, "pool %u: object counts %llu pages, holds %lld", id,
	      (unsigned long long)o->pages, (long long)pages);
	CHECK(o->pages || o->pins, "pool %u: object with no page and no pin", id);
	bool want_lru = c->p->kind == TMEM_POOL_EPHEMERAL && !o->pins;
	CHECK(o->on_lru == want_lru, "pool %u: object on_lru %u, expected %u", id, o->on_lru,
	      want_lru);
	c->objects++;
	c->pinned += o->pins != 0;
	c->lru_objects += o->on_lru;
	return 0;
}

/* Check the subtree at n (parent `parent`, keys strictly between lo and
 * hi when given); returns its black height or a negative errno. */
static int check_rb(struct tmem_check_ctx *c, const struct tmem_obj *n,
		    const struct tmem_obj *parent, const struct tmem_oid *lo,
		    const struct tmem_oid *hi)
{
	if (!n)
		return 1;
	uint32_t id = c->p->id;
	CHECK(_tmem_rb_parent(n) == parent, "pool %u: bad parent link in bucket %u", id, c->bucket);
	CHECK(!lo || tmem_oid_cmp(lo, &n->oid) < 0, "pool %u: tree order broken in bucket %u", id,
	      c->bucket);
	CHECK(!hi || tmem_oid_cmp(&n->oid, hi) < 0, "pool %u: tree order broken in bucket %u", id,
	      c->bucket);
	if (_tmem_rb_is_red(n))
		CHECK(!_tmem_rb_is_red(n->left) && !_tmem_rb_is_red(n->right),
		      "pool %u: red node with a red child in bucket %u", id, c->bucket);
	int lh = check_rb(c, n->left, n, lo, &n->oid);
	if (lh < 0)
		return lh;
	int rh = check_rb(c, n->right, n, &n->oid, hi);
	if (rh < 0)
		return rh;
	CHECK(lh == rh, "pool %u: black heights %d and %d differ in bucket %u", id, lh, rh,
	      c->bucket);
	int r = check_obj(c, n);
	if (r < 0)
		return r;
	return lh + !_tmem_rb_is_red(n);
}

/* Caller holds every lock of the pool. */
static int check_pool(struct tmem_check_ctx *c)
{
	struct tmem_pool *p = c->p;
	struct tmem_table *t = c->t;
	uint32_t id = p->id;
	CHECK(t->nbuckets && (t->nbuckets & (t->nbuckets - 1)) == 0 &&
		      t->mask == t->nbuckets - 1 && !t->moved,
	      "pool %u: bad current table", id);
	uint64_t table_bytes = 0;
	for (const struct tmem_table *o = t; o; o = o->older) {
		CHECK(o == t || (o->moved && o->nbuckets < t->nbuckets),
		      "pool %u: retired table not marked moved", id);
		table_bytes += o->bytes;
		if (o != t)
			for (uint32_t i = 0; i < o->nbuckets; i++)
				CHECK(!o->b[i].root && !o->b[i].nobjs,
				      "pool %u: retired table holds objects", id);
	}
	CHECK(table_bytes == TMEM_READ(p->table_bytes), "pool %u: table bytes %llu, counted %llu",
	      id, (unsigned long long)table_bytes,
	      (unsigned long long)TMEM_READ(p->table_bytes));

	c->objects = c->pinned = c->lru_objects = c->pages = c->bytes = c->nodes = 0;
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct tmem_bucket *b = &t->b[i];
		uint64_t before = c->objects;
		c->bucket = i;
		CHECK(!_tmem_rb_is_red(b->root), "pool %u: red root in bucket %u", id, i);
		int r = check_rb(c, b->root, NULL, NULL, NULL);
		if (r < 0)
			return r;
		CHECK(c->objects - before == b->nobjs, "pool %u: bucket %u counts %u objects, holds %llu",
		      id, i, b->nobjs, (unsigned long long)(c->objects - before));
	}

	/* The LRU: exactly the objects marked on_lru, in stamp order. */
	uint64_t n = 0, last = 0;
	const struct tmem_obj *prev = NULL;
	for (const struct tmem_obj *o = p->lru_head; o; prev = o, o = o->lru_next) {
		CHECK(o->lru_prev == prev, "pool %u: LRU back link broken", id);
		CHECK(o->on_lru, "pool %u: object on the LRU not marked", id);
		CHECK(o->lru_stamp >= last, "pool %u: LRU stamps out of order", id);
		last = o->lru_stamp;
		CHECK(++n <= c->lru_objects, "pool %u: LRU longer than its objects", id);
	}
	CHECK(p->lru_tail == prev, "pool %u: LRU tail is not the last object", id);
	CHECK(n == c->lru_objects, "pool %u: LRU holds %llu objects, %llu are marked", id,
	      (unsigned long long)n, (unsigned long long)c->lru_objects);

	struct tmem_pool_stats ps;
	pool_stats(p, &ps);
	CHECK(ps.objects == c->objects, "pool %u: %llu objects counted, %llu found", id,
	      (unsigned long long)ps.objects, (unsigned long long)c->objects);
	CHECK(ps.pinned_objects == c->pinned, "pool %u: %llu pinned counted, %llu found", id,
	      (unsigned long long)ps.pinned_objects, (unsigned long long)c->pinned);
	CHECK(ps.pages == c->pages, "pool %u: %llu pages counted, %llu found", id,
	      (unsigned long long)ps.pages, (unsigned long long)c->pages);
	CHECK(ps.pampd_bytes == c->bytes, "pool %u: %llu pampd bytes counted, %llu found", id,
	      (unsigned long long)ps.pampd_bytes, (unsigned long long)c->bytes);
	CHECK(ps.objnodes == c->nodes, "pool %u: %llu objnodes counted, %llu found", id,
	      (unsigned long long)ps.objnodes, (unsigned long long)c->nodes);
	return 0;
}

static int check_cmp_pampd(const void *a, const void *b)
{
	tmem_pampd x = *(const tmem_pampd *)a, y = *(const tmem_pampd *)b;
	return x < y ? -1 : x > y;
}

/* The whole store is held still while it is checked: every pool's
 * resize_lock and bucket locks in ascending pool id, then every pool's
 * lru_lock (leaf locks, nobody else holds two), so that a pampd freed from
 * one pool cannot reappear in another between their walks. */
int tmem_check(struct tmem_store *s)
{
	struct tmem_check_ctx c;
	memset(&c, 0, sizeof(c));
	c.s = s;
	int ret = 0;
	pthread_mutex_lock(&s->pool_lock);
	struct tmem_table **tables = calloc(TMEM_MAX_POOLS, sizeof(*tables));
	if (!tables) {
		pthread_mutex_unlock(&s->pool_lock);
		return -ENOMEM;
	}
	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (p)
			tables[i] = _tmem_lock_all(p);
	}
	for (int i = 0; i < TMEM_MAX_POOLS; i++)
		if (tables[i])
			tmem_lock(&atomic_load_explicit(&s->pools[i], memory_order_relaxed)->lru_lock);

	for (int i = 0; i < TMEM_MAX_POOLS && !ret; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (!p)
			continue;
		if (p->id != (uint32_t)i) {
			fprintf(stderr, "tmem_check: pool in slot %d says it is %u\n", i, p->id);
			ret = -EUCLEAN;
			break;
		}
		c.p = p;
		c.t = tables[i];
		ret = check_pool(&c);
	}
	if (!ret && c.npampds) {
		qsort(c.pampds, c.npampds, sizeof(*c.pampds), check_cmp_pampd);
		for (size_t i = 1; i < c.npampds && !ret; i++) {
			if (c.pampds[i] == c.pampds[i - 1]) {
				fprintf(stderr, "tmem_check: pampd %#llx reachable twice\n",
					(unsigned long long)c.pampds[i]);
				ret = -EUCLEAN;
			}
		}
	}

	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (p) {
			tmem_unlock(&p->lru_lock);
			_tmem_unlock_all(p, tables[i]);
		}
	}
	pthread_mutex_unlock(&s->pool_lock);
	free(tables);
	free(c.pampds);
	return ret;
}
