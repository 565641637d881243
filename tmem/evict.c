/* evict.c - tmem's LRU of ephemeral pools, pins, and eviction of whole
 * objects, least recently used first.
 *
 * Design note.  An ephemeral pool keeps its unpinned objects on a doubly
 * linked list (lru_head = least recent) under pool->lru_lock, a leaf after
 * the bucket locks.  Each touch takes a stamp from the store-wide
 * lru_clock, so eviction over every pool (TMEM_ALL_POOLS) picks, each
 * time, the pool whose least recent object is the oldest of the store:
 * global LRU order without a global list.  A pinned object (an open file)
 * is off the list and never evicted.  Eviction reads the head's id under
 * lru_lock, drops it, locks the object's bucket and checks the object is
 * still the head (it may have been touched, pinned or freed meanwhile);
 * only then is it unlinked, its pages counted under the bucket lock and
 * freed after it.  A store-wide eviction holds a reference on the pool for
 * the one object it is evicting, so tmem_destroy_pool waits for that
 * alone, and the callback runs with no lock and no reference held.
 * tmem_lru_oldest reads the same lists without changing them, for a caller
 * (the far tier, fuse/far.h) that saves objects before evicting them.
 */
#include "tmem/tmem_int.h"

#include <errno.h>
#include <stdlib.h>

/* ---- the LRU -------------------------------------------------------- */

/* Caller must hold o's bucket lock and p->lru_lock; o is on the LRU. */
void _tmem_lru_del_locked(struct tmem_pool *p, struct tmem_obj *o)
{
	if (o->lru_prev)
		o->lru_prev->lru_next = o->lru_next;
	else
		p->lru_head = o->lru_next;
	if (o->lru_next)
		o->lru_next->lru_prev = o->lru_prev;
	else
		p->lru_tail = o->lru_prev;
	o->lru_prev = o->lru_next = NULL;
	o->on_lru = 0;
}

/* Make o the most recently used object of its ephemeral pool.  Caller must
 * hold o's bucket lock; o must be unpinned. */
void _tmem_lru_touch(struct tmem_store *s, struct tmem_pool *p, struct tmem_obj *o)
{
	tmem_lock(&p->lru_lock);
	if (o->on_lru) {
		if (p->lru_tail == o)
			goto stamp;
		_tmem_lru_del_locked(p, o);
	}
	o->lru_prev = p->lru_tail;
	o->lru_next = NULL;
	if (p->lru_tail)
		p->lru_tail->lru_next = o;
	else
		p->lru_head = o;
	p->lru_tail = o;
	o->on_lru = 1;
stamp:
	o->lru_stamp = atomic_fetch_add_explicit(&s->lru_clock, 1, memory_order_relaxed) + 1;
	tmem_unlock(&p->lru_lock);
}

/* ---- pins and eviction ---------------------------------------------- */

int tmem_pin(struct tmem_store *s, int pool, const struct tmem_oid *oid)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, oid), *fresh = NULL;
	if (!o) {
		o = fresh = _tmem_obj_new(s, oid);
		if (!o) {
			tmem_unlock(&b->lock);
			return -ENOMEM;
		}
		_tmem_obj_link(p, b, o);
	}
	if (o->pins == UINT32_MAX) {
		tmem_unlock(&b->lock);
		return -EOVERFLOW;
	}
	if (o->pins++ == 0) {
		TMEM_ADD(tmem_stripe(p, h)->pinned, 1);
		if (o->on_lru) {
			tmem_lock(&p->lru_lock);
			_tmem_lru_del_locked(p, o);
			tmem_unlock(&p->lru_lock);
		}
	}
	tmem_unlock(&b->lock);
	if (fresh)
		_tmem_maybe_grow(s, p);
	return 0;
}

int tmem_unpin(struct tmem_store *s, int pool, const struct tmem_oid *oid)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, oid);
	if (!o || !o->pins) {
		tmem_unlock(&b->lock);
		return -ENOENT;
	}
	if (--o->pins == 0) {
		TMEM_ADD(tmem_stripe(p, h)->pinned, -1);
		if (!o->pages) {
			_tmem_obj_unlink(p, b, o);
			s->host->obj_free(s->host_ctx, o);
		} else if (tmem_ephemeral(p)) {
			_tmem_lru_touch(s, p, o);
		}
	}
	tmem_unlock(&b->lock);
	return 0;
}

/* One evicted object, reported to the callback after every lock and pool
 * reference is dropped. */
struct tmem_victim {
	uint32_t pool;
	struct tmem_oid oid;
	uint64_t pages;
	uint64_t bytes;
};

/* Evict the least recently used object of pool p.  Returns 1 and fills
 * *v, or 0 when the LRU is empty.  Called with no lock held. */
static int evict_one(struct tmem_store *s, struct tmem_pool *p, struct tmem_victim *v)
{
	for (;;) {
		tmem_lock(&p->lru_lock);
		struct tmem_obj *o = p->lru_head;
		if (!o) {
			tmem_unlock(&p->lru_lock);
			return 0;
		}
		struct tmem_oid oid = o->oid;
		tmem_unlock(&p->lru_lock);

		uint64_t h = tmem_hash(&oid);
		struct tmem_stripe *st = tmem_stripe(p, h);
		struct tmem_bucket *b = tmem_lock_bucket(p, h);
		o = _tmem_rb_find(b->root, &oid);
		bool still_head = false;
		if (o) {
			tmem_lock(&p->lru_lock);
			still_head = p->lru_head == o;
			tmem_unlock(&p->lru_lock);
		}
		if (!still_head) {
			/* Touched, pinned or freed meanwhile: look again. */
			tmem_unlock(&b->lock);
			continue;
		}
		_tmem_obj_unlink(p, b, o);
		uint64_t pages = o->pages;
		struct tmem_freed f = { 0, 0, 0 };
		_tmem_radix_sum(s, o->root, o->height, &f);
		TMEM_ADD(st->pages, -pages);
		TMEM_ADD(st->pampd_bytes, -f.bytes);
		TMEM_ADD(st->objnodes, -f.nodes);
		tmem_unlock(&b->lock);

		struct tmem_freed unused = { 0, 0, 0 };
		_tmem_radix_free_all(s, o->root, o->height, &unused);
		s->host->obj_free(s->host_ctx, o);
		TMEM_ADD(p->evictions, 1);
		TMEM_ADD(p->evicted_pages, pages);
		v->pool = p->id;
		v->oid = oid;
		v->pages = pages;
		v->bytes = f.bytes + f.nodes * TMEM_OBJNODE_SIZE + TMEM_OBJ_SIZE;
		return 1;
	}
}

/* The LRU stamp of pool p's least recent object, or UINT64_MAX. */
static uint64_t lru_head_stamp(struct tmem_pool *p)
{
	tmem_lock(&p->lru_lock);
	uint64_t st = p->lru_head ? p->lru_head->lru_stamp : UINT64_MAX;
	tmem_unlock(&p->lru_lock);
	return st;
}

/* Take a reference on the ephemeral pool whose least recent object is the
 * oldest of the store, or return NULL when no ephemeral pool has one. */
static struct tmem_pool *evict_pick(struct tmem_store *s)
{
	struct tmem_pool *best = NULL;
	uint64_t best_stamp = UINT64_MAX;
	pthread_mutex_lock(&s->pool_lock);
	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (!p || !tmem_ephemeral(p))
			continue;
		uint64_t st = lru_head_stamp(p);
		if (st < best_stamp) {
			best_stamp = st;
			best = p;
		}
	}
	if (best)
		best->refs++;
	pthread_mutex_unlock(&s->pool_lock);
	return best;
}

static void evict_unref(struct tmem_store *s, struct tmem_pool *p)
{
	pthread_mutex_lock(&s->pool_lock);
	if (--p->refs == 0)
		pthread_cond_broadcast(&s->pool_cond);
	pthread_mutex_unlock(&s->pool_lock);
}

int64_t tmem_evict(struct tmem_store *s, int pool, uint64_t bytes, tmem_evict_fn fn, void *arg)
{
	uint64_t freed = 0;
	struct tmem_victim v;
	if (pool != TMEM_ALL_POOLS) {
		struct tmem_pool *p = tmem_pool_of(s, pool);
		if (!p || !tmem_ephemeral(p))
			return -EINVAL;
		while (freed < bytes && evict_one(s, p, &v)) {
			freed += v.bytes;
			if (fn)
				fn(arg, v.pool, &v.oid, v.pages, v.bytes);
		}
		return (int64_t)freed;
	}

	/* Every ephemeral pool, oldest object first.  A pool is held by a
	 * reference only while one object is evicted from it, so a
	 * concurrent tmem_destroy_pool waits for that alone, never for a
	 * callback. */
	while (freed < bytes) {
		struct tmem_pool *p = evict_pick(s);
		if (!p)
			break;
		int got = evict_one(s, p, &v);
		evict_unref(s, p);
		if (!got)
			continue;	/* emptied meanwhile: pick again */
		freed += v.bytes;
		if (fn)
			fn(arg, v.pool, &v.oid, v.pages, v.bytes);
	}
	return (int64_t)freed;
}

/* ---- looking at the LRU without evicting ------------------------------ */

static int lru_cmp(const void *a, const void *b)
{
	const struct tmem_lru_entry *x = a, *y = b;

	return x->stamp < y->stamp ? -1 : x->stamp > y->stamp;
}

size_t tmem_lru_oldest(struct tmem_store *s, struct tmem_lru_entry *out, size_t max)
{
	size_t n = 0;

	if (!max)
		return 0;
	/* Up to `max` from the head of each ephemeral pool (pool_lock keeps
	 * the pools; each pool's lru_lock its list, one at a time: the lock
	 * order's pool_lock -> lru_lock), then the oldest `max` of those. */
	pthread_mutex_lock(&s->pool_lock);
	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		size_t k = 0;

		if (!p || !tmem_ephemeral(p))
			continue;
		tmem_lock(&p->lru_lock);
		for (struct tmem_obj *o = p->lru_head; o && k < max; o = o->lru_next, k++) {
			if (n < max) {
				out[n++] = (struct tmem_lru_entry){ (uint32_t)p->id, o->oid,
								    o->lru_stamp };
				continue;
			}
			/* Full: replace the youngest kept if this one is older. */
			size_t y = 0;

			for (size_t j = 1; j < n; j++)
				if (out[j].stamp > out[y].stamp)
					y = j;
			if (o->lru_stamp >= out[y].stamp)
				break;	/* the rest of this pool is younger still */
			out[y] = (struct tmem_lru_entry){ (uint32_t)p->id, o->oid, o->lru_stamp };
		}
		tmem_unlock(&p->lru_lock);
	}
	pthread_mutex_unlock(&s->pool_lock);
	qsort(out, n, sizeof(*out), lru_cmp);
	return n;
}
