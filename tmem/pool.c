/* pool.c - tmem's store and pools: create and destroy, kinds and codecs,
 * the hash table of buckets and its resize, the objects in buckets and
 * their moves between pools (tmem_move_object, both buckets locked, the
 * lower pool id first).
 *
 * Design note.  A store is a fixed array of TMEM_MAX_POOLS pool pointers,
 * written under store->pool_lock and read lock-free (an acquire load), so
 * the hot paths find their pool without a lock.  A pool starts with 256
 * buckets and doubles its table (_tmem_maybe_grow) once it holds more
 * than two objects per bucket: the resizer takes resize_lock and every
 * bucket lock of the old table, moves the objects, marks the old table
 * moved and publishes the new one; an operation that locked a bucket of a
 * moved table unlocks it and retries on the new table (tmem_lock_bucket in
 * tmem_int.h).  Old tables stay allocated until the pool goes, so a thread
 * still holding a pointer to one is safe.  tmem_destroy_pool unpublishes
 * the pool first and then waits for the references a store-wide eviction
 * holds (refs, pool_cond), never for an eviction callback.  The contended
 * path of the futex lock lives here too.
 */
#include "tmem/tmem_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the lock's slow path ------------------------------------------- */

#if defined(__x86_64__) || defined(__i386__)
static inline void tmem_cpu_relax(void) { __builtin_ia32_pause(); }
#else
static inline void tmem_cpu_relax(void) { }
#endif

void _tmem_lock_slow(struct tmem_lock *l)
{
	for (int i = 0; i < 100; i++) {
		uint32_t c = 0;
		tmem_cpu_relax();
		if (atomic_load_explicit(&l->v, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(&l->v, &c, 1, memory_order_acquire,
							  memory_order_relaxed))
			return;
	}
	while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire) != 0)
		syscall(SYS_futex, (void *)&l->v, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

/* ---- objects in buckets --------------------------------------------- */

struct tmem_obj *_tmem_obj_new(struct tmem_store *s, const struct tmem_oid *oid)
{
	struct tmem_obj *o = s->host->obj_alloc(s->host_ctx);
	if (!o)
		return NULL;
	memset(o, 0, sizeof(*o));
	o->oid = *oid;
	/* A new object's generations never meet an earlier object's with the
	 * same id: each object gets 2^32 of its own. */
	o->gen = (atomic_fetch_add_explicit(&s->obj_serial, 1, memory_order_relaxed) + 1) << 32;
	return o;
}

/* Link a new object into bucket b.  Caller must hold b's lock. */
void _tmem_obj_link(struct tmem_pool *p, struct tmem_bucket *b, struct tmem_obj *o)
{
	_tmem_rb_insert(&b->root, o);
	_tmem_rb_debug_check(b->root);
	b->nobjs++;
	atomic_fetch_add_explicit(&p->nobjects, 1, memory_order_relaxed);
}

/* Unlink o from its bucket and the LRU.  Caller must hold b's lock; the
 * caller frees o (or keeps it, detached). */
void _tmem_obj_unlink(struct tmem_pool *p, struct tmem_bucket *b, struct tmem_obj *o)
{
	_tmem_rb_erase(&b->root, o);
	_tmem_rb_debug_check(b->root);
	b->nobjs--;
	atomic_fetch_sub_explicit(&p->nobjects, 1, memory_order_relaxed);
	if (o->on_lru) {
		tmem_lock(&p->lru_lock);
		_tmem_lru_del_locked(p, o);
		tmem_unlock(&p->lru_lock);
	}
}

/* Free o if it holds no page and no pin.  Caller must hold b's lock. */
void _tmem_obj_put_if_empty(struct tmem_store *s, struct tmem_pool *p, struct tmem_bucket *b,
			     struct tmem_obj *o)
{
	if (o->pages || o->pins)
		return;
	_tmem_obj_unlink(p, b, o);
	s->host->obj_free(s->host_ctx, o);
}

/* ---- tables --------------------------------------------------------- */

static struct tmem_table *table_new(struct tmem_store *s, uint32_t nbuckets)
{
	size_t bytes = (size_t)nbuckets * sizeof(struct tmem_bucket);
	struct tmem_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->b = s->host->mem_alloc(s->host_ctx, bytes);
	if (!t->b) {
		free(t);
		return NULL;
	}
	memset(t->b, 0, bytes);
	t->nbuckets = nbuckets;
	t->mask = nbuckets - 1;
	t->bytes = bytes;
	return t;
}

static void table_free(struct tmem_store *s, struct tmem_table *t)
{
	s->host->mem_free(s->host_ctx, t->b, t->bytes);
	free(t);
}

/* Take resize_lock and every bucket lock of the pool's table. */
struct tmem_table *_tmem_lock_all(struct tmem_pool *p)
{
	tmem_lock(&p->resize_lock);
	struct tmem_table *t = atomic_load_explicit(&p->table, memory_order_acquire);
	for (uint32_t i = 0; i < t->nbuckets; i++)
		tmem_lock(&t->b[i].lock);
	return t;
}

void _tmem_unlock_all(struct tmem_pool *p, struct tmem_table *t)
{
	for (uint32_t i = 0; i < t->nbuckets; i++)
		tmem_unlock(&t->b[i].lock);
	tmem_unlock(&p->resize_lock);
}

static inline bool table_too_small(struct tmem_pool *p, const struct tmem_table *t)
{
	return t->nbuckets < TMEM_MAX_BUCKETS &&
	       atomic_load_explicit(&p->nobjects, memory_order_relaxed) >
		       (uint64_t)t->nbuckets * TMEM_LOAD_FACTOR;
}

/* Double the pool's table if it is over its load factor.  Called with no
 * lock held after an object was created; a failed allocation just leaves
 * the table as it is (lookups stay correct, only slower). */
void _tmem_maybe_grow(struct tmem_store *s, struct tmem_pool *p)
{
	struct tmem_table *t = atomic_load_explicit(&p->table, memory_order_acquire);
	if (likely(!table_too_small(p, t)))
		return;
	if (!tmem_trylock(&p->resize_lock))
		return;		/* someone else is resizing */
	t = atomic_load_explicit(&p->table, memory_order_acquire);
	if (!table_too_small(p, t)) {
		tmem_unlock(&p->resize_lock);
		return;
	}
	struct tmem_table *nt = table_new(s, t->nbuckets * 2);
	if (!nt) {
		tmem_unlock(&p->resize_lock);
		return;
	}
	for (uint32_t i = 0; i < t->nbuckets; i++)
		tmem_lock(&t->b[i].lock);
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct tmem_bucket *b = &t->b[i];
		while (b->root) {
			struct tmem_obj *o = b->root;
			_tmem_rb_erase(&b->root, o);
			struct tmem_bucket *nb = &nt->b[tmem_hash(&o->oid) & nt->mask];
			_tmem_rb_insert(&nb->root, o);
			nb->nobjs++;
		}
		b->nobjs = 0;
	}
	nt->older = t;
	atomic_fetch_add_explicit(&p->table_bytes, nt->bytes, memory_order_relaxed);
	atomic_store_explicit(&t->moved, 1, memory_order_relaxed);
	atomic_store_explicit(&p->table, nt, memory_order_release);
	TMEM_ADD(p->resizes, 1);
	for (uint32_t i = 0; i < t->nbuckets; i++)
		tmem_unlock(&t->b[i].lock);
	tmem_unlock(&p->resize_lock);
}

/* ---- store and pools ------------------------------------------------ */

struct tmem_store *tmem_store_create(const struct tmem_pamops *pam, void *pam_ctx,
				     const struct tmem_hostops *host, void *host_ctx)
{
	if (!pam || !pam->create || !pam->get_locked || !pam->decode || !pam->free ||
	    !pam->size || !host || !host->obj_alloc || !host->obj_free ||
	    !host->objnode_alloc || !host->objnode_free || !host->mem_alloc || !host->mem_free ||
	    !pam->repack_plan != !pam->repack) {
		errno = EINVAL;
		return NULL;
	}
	struct tmem_store *s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->pam = pam;
	s->pam_ctx = pam_ctx;
	s->host = host;
	s->host_ctx = host_ctx;
	if (pthread_mutex_init(&s->pool_lock, NULL) != 0)
		goto err_free;
	if (pthread_cond_init(&s->pool_cond, NULL) != 0)
		goto err_mutex;
	return s;

err_mutex:
	pthread_mutex_destroy(&s->pool_lock);
err_free:
	free(s);
	errno = ENOMEM;
	return NULL;
}

/* Free everything a pool holds and the pool.  The pool must be unreachable. */
static void pool_free(struct tmem_store *s, struct tmem_pool *p)
{
	struct tmem_table *t = atomic_load_explicit(&p->table, memory_order_relaxed);
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct tmem_bucket *b = &t->b[i];
		while (b->root) {
			struct tmem_obj *o = b->root;
			struct tmem_freed f = { 0, 0, 0 };
			_tmem_rb_erase(&b->root, o);
			_tmem_radix_free_all(s, o->root, o->height, &f);
			s->host->obj_free(s->host_ctx, o);
		}
	}
	while (t) {
		struct tmem_table *older = t->older;
		table_free(s, t);
		t = older;
	}
	free(p);
}

void tmem_store_destroy(struct tmem_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		struct tmem_pool *p = atomic_load_explicit(&s->pools[i], memory_order_relaxed);
		if (p)
			pool_free(s, p);
	}
	pthread_cond_destroy(&s->pool_cond);
	pthread_mutex_destroy(&s->pool_lock);
	free(s);
}

int tmem_new_pool(struct tmem_store *s, unsigned flags)
{
	if (flags != TMEM_POOL_PERSISTENT && flags != TMEM_POOL_EPHEMERAL)
		return -EINVAL;
	struct tmem_pool *p = aligned_alloc(64, sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	p->store = s;
	atomic_init(&p->kind, flags);
	struct tmem_table *t = table_new(s, TMEM_INIT_BUCKETS);
	if (!t)
		goto err_pool;
	atomic_init(&p->table, t);
	atomic_init(&p->table_bytes, t->bytes);

	pthread_mutex_lock(&s->pool_lock);
	int id = -1;
	for (int i = 0; i < TMEM_MAX_POOLS; i++) {
		if (!atomic_load_explicit(&s->pools[i], memory_order_relaxed)) {
			id = i;
			break;
		}
	}
	if (id < 0) {
		pthread_mutex_unlock(&s->pool_lock);
		table_free(s, t);
		free(p);
		return -ENOSPC;
	}
	p->id = (uint32_t)id;
	atomic_store_explicit(&s->pools[id], p, memory_order_release);
	pthread_mutex_unlock(&s->pool_lock);
	return id;

err_pool:
	free(p);
	return -ENOMEM;
}

int tmem_destroy_pool(struct tmem_store *s, int pool)
{
	pthread_mutex_lock(&s->pool_lock);
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p) {
		pthread_mutex_unlock(&s->pool_lock);
		return -EINVAL;
	}
	atomic_store_explicit(&s->pools[pool], NULL, memory_order_release);
	while (p->refs)
		pthread_cond_wait(&s->pool_cond, &s->pool_lock);
	pthread_mutex_unlock(&s->pool_lock);
	pool_free(s, p);
	return 0;
}

int tmem_pool_set_kind(struct tmem_store *s, int pool, unsigned kind)
{
	if (kind != TMEM_POOL_PERSISTENT && kind != TMEM_POOL_EPHEMERAL)
		return -EINVAL;
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	int ret = 0;
	struct tmem_table *t = _tmem_lock_all(p);
	for (uint32_t i = 0; i < t->nbuckets && !ret; i++) {
		/* Any object with a page makes the pool busy: walk each tree. */
		struct tmem_obj *stack[2 * 64], *o = t->b[i].root;
		unsigned sp = 0;
		while ((o || sp) && !ret) {
			while (o) {
				stack[sp++] = o;
				o = o->left;
			}
			o = stack[--sp];
			if (o->pages)
				ret = -EBUSY;
			o = o->right;
		}
	}
	/* No pages means every object is pinned, hence off the LRU: the flip
	 * needs no LRU change either way. */
	if (!ret)
		atomic_store_explicit(&p->kind, kind, memory_order_relaxed);
	_tmem_unlock_all(p, t);
	return ret;
}

int tmem_pool_kind(struct tmem_store *s, int pool)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	return (int)atomic_load_explicit(&p->kind, memory_order_relaxed);
}

int tmem_pool_set_codec(struct tmem_store *s, int pool, unsigned codec)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	atomic_store_explicit(&p->codec, codec, memory_order_relaxed);
	return 0;
}

/* ---- moving objects between pools ----------------------------------- */

/* Lock the buckets `h` falls in in two different pools, the lower pool id
 * first (tmem.h's lock order); each retries on its own if a resize moved
 * its table. */
static void move_lock_buckets(struct tmem_pool *a, struct tmem_pool *b, uint64_t h,
			      struct tmem_bucket **ba, struct tmem_bucket **bb)
{
	if (a->id < b->id) {
		*ba = tmem_lock_bucket(a, h);
		*bb = tmem_lock_bucket(b, h);
	} else {
		*bb = tmem_lock_bucket(b, h);
		*ba = tmem_lock_bucket(a, h);
	}
}

int tmem_move_object(struct tmem_store *s, int from, int to, const struct tmem_oid *oid)
{
	struct tmem_pool *pf = tmem_pool_of(s, from), *pt = tmem_pool_of(s, to);
	struct tmem_bucket *bf, *bt;
	struct tmem_freed f = { 0, 0, 0 };
	struct tmem_stripe *sf, *st;
	struct tmem_obj *o;
	uint64_t h;

	if (!pf || !pt)
		return -EINVAL;
	if (pf == pt)
		return 0;
	h = tmem_hash(oid);
	move_lock_buckets(pf, pt, h, &bf, &bt);
	o = _tmem_rb_find(bf->root, oid);
	if (!o || _tmem_rb_find(bt->root, oid)) {
		tmem_unlock(&bt->lock);
		tmem_unlock(&bf->lock);
		return o ? -EEXIST : -ENOENT;
	}
	/* Out of `from` (its tree, its LRU) and its counters ... */
	_tmem_radix_sum(s, o->root, o->height, &f);
	_tmem_obj_unlink(pf, bf, o);
	sf = tmem_stripe(pf, h);
	st = tmem_stripe(pt, h);
	TMEM_ADD(sf->pages, -o->pages);
	TMEM_ADD(sf->pampd_bytes, -f.bytes);
	TMEM_ADD(sf->objnodes, -f.nodes);
	if (o->pins)
		TMEM_ADD(sf->pinned, -1);
	/* ... into `to`'s, whole: the radix tree and the pins travel along. */
	_tmem_obj_link(pt, bt, o);
	TMEM_ADD(st->pages, o->pages);
	TMEM_ADD(st->pampd_bytes, f.bytes);
	TMEM_ADD(st->objnodes, f.nodes);
	if (o->pins)
		TMEM_ADD(st->pinned, 1);
	else if (tmem_ephemeral(pt))
		_tmem_lru_touch(s, pt, o);	/* unpinned means it holds pages */
	tmem_unlock(&bt->lock);
	tmem_unlock(&bf->lock);
	_tmem_maybe_grow(s, pt);
	return 0;
}
