/* tmem.c - the store's page operations: put, get, flush a page, a range or
 * an object, the next stored index and an object's page count.
 *
 * Design note.  Each operation hashes the object id once (the hash picks
 * the bucket and the counter stripe), locks that one bucket, and does
 * under it only what must be atomic with respect to other threads: tree
 * and radix lookups and links, slot swaps, counter updates, and the
 * backend's get_locked copy.  Compression (pamops.create), decompression
 * (pamops.decode) and frees (pamops.free) run with no lock held, which is
 * why a put compresses before it locks and a flush frees its pampds after
 * it unlocks; the paths are written out in tmem.h.  A put allocates every
 * node it needs before it links anything, so a failure leaves the store
 * as it was.  Range flushes work in batches of TMEM_RANGE_BATCH pages so a
 * huge truncate never holds a bucket lock for long.
 */
#include "tmem/tmem_int.h"

#include <errno.h>
#include <string.h>

/* ---- pages ---------------------------------------------------------- */

int tmem_put(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t index,
	     const void *page)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (unlikely(!p))
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);
	tmem_pampd np;
	int ret = s->pam->create(s->pam_ctx, page,
				 atomic_load_explicit(&p->codec, memory_order_relaxed), &np);
	if (unlikely(ret < 0)) {
		TMEM_ADD(st->failed_puts, 1);
		return ret;
	}
	return tmem_put_pampd(s, pool, oid, index, np, 0);
}

int tmem_put_pampd(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t index,
		   tmem_pampd np, unsigned flags)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (unlikely(!p) || unlikely(!np)) {
		if (np)
			s->pam->free(s->pam_ctx, np);
		return -EINVAL;
	}
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);

	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, oid), *fresh = NULL;
	tmem_pampd old;
	unsigned need = 0;
	uint64_t *slot;
	if (likely(o) && (slot = _tmem_radix_slot(o, index)) && *slot) {
		if (unlikely(flags & TMEM_PUT_NEW)) {
			tmem_unlock(&b->lock);
			s->pam->free(s->pam_ctx, np);
			return -EEXIST;
		}
		/* Replace: no allocation. */
		old = *slot;
		*slot = np;
	} else {
		struct tmem_objnode *pre[2 * TMEM_MAX_HEIGHT];
		unsigned npre = 0;
		if (!o) {
			o = fresh = _tmem_obj_new(s, oid);
			if (!o)
				goto err_nomem;
		}
		need = _tmem_radix_need(o, index);
		for (; npre < need; npre++) {
			pre[npre] = s->host->objnode_alloc(s->host_ctx);
			if (!pre[npre]) {
				while (npre)
					s->host->objnode_free(s->host_ctx, pre[--npre]);
				if (fresh)
					s->host->obj_free(s->host_ctx, fresh);
				goto err_nomem;
			}
		}
		if (fresh)
			_tmem_obj_link(p, b, fresh);
		old = _tmem_radix_store(o, index, np, pre, &npre);
		assert(npre == 0);
	}
	tmem_obj_changed(o);
	if (tmem_ephemeral(p)) {
		if (!o->pins)
			_tmem_lru_touch(s, p, o);
	} else {
		_tmem_stamp(s, o);
	}
	size_t nsize = s->pam->size(s->pam_ctx, np);
	size_t osize = old ? s->pam->size(s->pam_ctx, old) : 0;
	TMEM_ADD(st->puts, 1);
	if (old)
		TMEM_ADD(st->replaces, 1);
	else
		TMEM_ADD(st->pages, 1);
	TMEM_ADD(st->pampd_bytes, nsize - osize);
	if (need)
		TMEM_ADD(st->objnodes, need);
	tmem_unlock(&b->lock);

	if (old)
		s->pam->free(s->pam_ctx, old);
	if (fresh)
		_tmem_maybe_grow(s, p);
	return 0;

err_nomem:
	tmem_unlock(&b->lock);
	s->pam->free(s->pam_ctx, np);
	TMEM_ADD(st->failed_puts, 1);
	return -ENOMEM;
}

int tmem_get(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t index,
	     void *page, unsigned flags)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (unlikely(!p || (flags & ~TMEM_GET_FREE)))
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);
	alignas(64) unsigned char scratch[TMEM_SCRATCH_SIZE];
	size_t len = 0;
	int ret;

	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, oid);
	uint64_t *slot = o ? _tmem_radix_slot(o, index) : NULL;
	if (!slot || !*slot) {
		tmem_unlock(&b->lock);
		TMEM_ADD(st->failed_gets, 1);
		return -ENOENT;
	}
	tmem_pampd pd = *slot;
	ret = s->pam->get_locked(s->pam_ctx, pd, page, scratch, &len);
	if (unlikely(ret < 0)) {
		tmem_unlock(&b->lock);
		TMEM_ADD(st->failed_gets, 1);
		return ret;
	}
	uint64_t gen = o->gen;	/* for a promotion: unchanged unless TMEM_GET_FREE */
	if (flags & TMEM_GET_FREE) {
		uint64_t nodes = 0;
		size_t sz = s->pam->size(s->pam_ctx, pd);
		_tmem_radix_remove(s, o, index, &nodes);
		tmem_obj_changed(o);
		TMEM_ADD(st->pages, -1);
		TMEM_ADD(st->pampd_bytes, -(uint64_t)sz);
		if (nodes)
			TMEM_ADD(st->objnodes, -nodes);
		if (!o->pages && !o->pins) {
			_tmem_obj_unlink(p, b, o);
			s->host->obj_free(s->host_ctx, o);
		} else if (tmem_ephemeral(p) && !o->pins) {
			_tmem_lru_touch(s, p, o);
		}
	} else if (tmem_ephemeral(p)) {
		if (!o->pins)
			_tmem_lru_touch(s, p, o);
	} else {
		_tmem_stamp(s, o);
	}
	tmem_unlock(&b->lock);

	if (ret == 0)
		ret = s->pam->decode(s->pam_ctx, pd, scratch, len, page);
	if (flags & TMEM_GET_FREE)
		s->pam->free(s->pam_ctx, pd);
	if (unlikely(ret < 0)) {
		TMEM_ADD(st->failed_gets, 1);
		return ret;
	}
	TMEM_ADD(st->gets, 1);
	if (!(flags & TMEM_GET_FREE) && s->pam->promote)
		_tmem_promote(s, p, h, oid, index, gen, pd, page);
	return 0;
}

int tmem_flush_page(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t index)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, oid);
	uint64_t nodes = 0;
	tmem_pampd pd = o ? _tmem_radix_remove(s, o, index, &nodes) : 0;
	if (!pd) {
		tmem_unlock(&b->lock);
		return -ENOENT;
	}
	size_t sz = s->pam->size(s->pam_ctx, pd);
	tmem_obj_changed(o);
	_tmem_obj_put_if_empty(s, p, b, o);
	TMEM_ADD(st->pages, -1);
	TMEM_ADD(st->pampd_bytes, -(uint64_t)sz);
	TMEM_ADD(st->objnodes, -nodes);
	TMEM_ADD(st->flushes, 1);
	tmem_unlock(&b->lock);
	s->pam->free(s->pam_ctx, pd);
	return 0;
}

int64_t tmem_flush_range(struct tmem_store *s, int pool, const struct tmem_oid *oid,
			 uint32_t first, uint32_t last)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p || first > last)
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);
	int64_t total = 0;
	uint32_t cur = first;
	bool done = false;

	while (!done) {
		tmem_pampd batch[TMEM_RANGE_BATCH];
		unsigned n = 0;
		uint64_t nodes = 0, bytes = 0;
		struct tmem_bucket *b = tmem_lock_bucket(p, h);
		struct tmem_obj *o = _tmem_rb_find(b->root, oid);
		if (!o) {
			tmem_unlock(&b->lock);
			break;
		}
		while (n < TMEM_RANGE_BATCH) {
			uint32_t i;
			if (_tmem_radix_next(o, cur, &i) < 0 || i > last) {
				done = true;
				break;
			}
			batch[n] = _tmem_radix_remove(s, o, i, &nodes);
			bytes += s->pam->size(s->pam_ctx, batch[n]);
			n++;
			if (i == last) {
				done = true;
				break;
			}
			cur = i + 1;
		}
		if (n)
			tmem_obj_changed(o);
		_tmem_obj_put_if_empty(s, p, b, o);
		TMEM_ADD(st->pages, -(uint64_t)n);
		TMEM_ADD(st->pampd_bytes, -bytes);
		TMEM_ADD(st->objnodes, -nodes);
		TMEM_ADD(st->flushes, n);
		tmem_unlock(&b->lock);
		for (unsigned k = 0; k < n; k++)
			s->pam->free(s->pam_ctx, batch[k]);
		total += n;
	}
	return total;
}

int64_t tmem_flush_object(struct tmem_store *s, int pool, const struct tmem_oid *oid)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, oid), *gone = NULL;
	if (!o) {
		tmem_unlock(&b->lock);
		return -ENOENT;
	}
	uint64_t root = o->root;
	unsigned height = o->height;
	uint64_t pages = o->pages;
	if (o->pins) {
		o->root = 0;
		o->height = 0;
		o->pages = 0;
		tmem_obj_changed(o);
	} else {
		_tmem_obj_unlink(p, b, o);
		gone = o;
	}
	struct tmem_freed f = { 0, 0, 0 };
	_tmem_radix_sum(s, root, height, &f);
	TMEM_ADD(st->pages, -pages);
	TMEM_ADD(st->pampd_bytes, -f.bytes);
	TMEM_ADD(st->objnodes, -f.nodes);
	TMEM_ADD(st->flushes, pages);
	tmem_unlock(&b->lock);

	struct tmem_freed unused = { 0, 0, 0 };
	_tmem_radix_free_all(s, root, height, &unused);
	TMEM_ADD(p->flush_objects, 1);
	if (gone)
		s->host->obj_free(s->host_ctx, gone);
	return (int64_t)pages;
}

int tmem_next_index(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t from,
		    uint32_t *index)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	struct tmem_bucket *b = tmem_lock_bucket(p, tmem_hash(oid));
	struct tmem_obj *o = _tmem_rb_find(b->root, oid);
	int ret = o ? _tmem_radix_next(o, from, index) : -ENOENT;
	tmem_unlock(&b->lock);
	return ret;
}

int64_t tmem_object_pages(struct tmem_store *s, int pool, const struct tmem_oid *oid)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p)
		return -EINVAL;
	struct tmem_bucket *b = tmem_lock_bucket(p, tmem_hash(oid));
	struct tmem_obj *o = _tmem_rb_find(b->root, oid);
	int64_t pages = o ? (int64_t)o->pages : 0;
	tmem_unlock(&b->lock);
	return pages;
}

int tmem_object_group(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t from,
		      tmem_pampd out[TMEM_UNIT_PAGES], uint32_t *first)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	uint32_t idx;
	if (!p || !out || !first)
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, oid);
	if (!o || _tmem_radix_next(o, from, &idx) < 0) {
		tmem_unlock(&b->lock);
		return -ENOENT;
	}
	*first = idx & ~(TMEM_UNIT_PAGES - 1);
	for (unsigned i = 0; i < TMEM_UNIT_PAGES; i++) {
		uint64_t *slot = _tmem_radix_slot(o, *first + i);
		out[i] = slot ? *slot : 0;
	}
	tmem_unlock(&b->lock);
	return 0;
}
