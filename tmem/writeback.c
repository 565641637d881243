/* writeback.c - moving pages of the store to a second tier in batches
 * (tmem_wb_stage, tmem_wb_commit), bringing them back on a get
 * (_tmem_promote), following the second tier's compaction
 * (tmem_relocate), and the coldness stamp of persistent objects.
 *
 * Design note.  The contract is tmem.h ("writeback to a second tier").
 * The backend's stored forms are copied under the bucket lock (the pampd
 * cannot be freed meanwhile), written with no lock held (the I/O), and
 * the new pampds swapped in under the bucket lock only where the object's
 * generation is still the one recorded at staging - the rule of
 * tmem_densify (densify.c explains why pampd values cannot be compared).
 * Swapping one page moves the generation, so the pages of one object are
 * swapped together: the commit walks the batch in runs of one object
 * (staging keeps them adjacent), takes the bucket lock once per run, and
 * moves the generation once at its end.  Staging takes an object's bucket
 * lock for at most TMEM_RANGE_BATCH pages at a time, so a large file never
 * holds its bucket long; pages staged in different holds may carry
 * different generations, and only those of the latest one can swap.
 *
 * Relocation.  Each form goes out with its page's key (struct tmem_key);
 * when the second tier compacts, it hands the key back with the old and
 * new places, and tmem_relocate finds the page by it.  The pampd a slot
 * holds is compared by value here, unlike densify's rule, and that is
 * safe because the tier keeps the old place from being reused while it
 * relocates (the victim segment is pinned): no other record can be at
 * `old`, so a slot standing for `old` stands for that very record.
 */
#include "tmem/tmem_int.h"

#include <errno.h>
#include <string.h>

int tmem_wb_stage(struct tmem_store *s, struct tmem_wb_batch *batch, int pool,
		  const struct tmem_oid *oid, uint64_t *from)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	int staged = 0, err = 0;

	if (!p || !batch || !batch->buf || !from)
		return -EINVAL;
	if (!s->pam->wb_stage || !s->pam->wb_write)
		return -EOPNOTSUPP;
	uint64_t h = tmem_hash(oid);
	while (*from <= UINT32_MAX && batch->n < TMEM_WB_PAGES && !err) {
		struct tmem_bucket *b = tmem_lock_bucket(p, h);
		struct tmem_obj *o = _tmem_rb_find(b->root, oid);
		uint32_t idx;

		if (!o) {
			tmem_unlock(&b->lock);
			return staged ? staged : -ENOENT;
		}
		for (unsigned k = 0; k < TMEM_RANGE_BATCH && batch->n < TMEM_WB_PAGES; k++) {
			if (_tmem_radix_next(o, (uint32_t)*from, &idx) < 0) {
				*from = (uint64_t)UINT32_MAX + 1;
				break;
			}
			tmem_pampd pd = *_tmem_radix_slot(o, idx);
			int n = s->pam->wb_stage(s->pam_ctx, pd, batch->buf + batch->used,
						 TMEM_WB_BUF - batch->used);
			if (n == -ENOSPC)
				break;	/* the buffer is full: continue here next time */
			*from = (uint64_t)idx + 1;
			if (n < 0) {
				err = n;
				break;
			}
			if (n == 0)
				continue;
			struct tmem_wb_page *w = &batch->page[batch->n++];
			w->oid = *oid;
			w->pool = (uint32_t)pool;
			w->index = idx;
			w->gen = o->gen;
			w->old = pd;
			w->off = (uint32_t)batch->used;
			w->len = (uint32_t)n;
			batch->used += (size_t)n;
			staged++;
		}
		tmem_unlock(&b->lock);
		if (*from <= UINT32_MAX && batch->n < TMEM_WB_PAGES &&
		    TMEM_WB_BUF - batch->used < TMEM_PAGE_SIZE + 1)
			break;	/* no room for another page */
	}
	return staged || !err ? staged : err;
}

/* Swap the run batch->page[i .. j) (one object) in.  Frees what is not
 * used; returns the pages swapped. */
static uint64_t wb_swap_run(struct tmem_store *s, struct tmem_wb_batch *batch, unsigned i,
			    unsigned j, tmem_pampd *nw, struct tmem_wb_result *res)
{
	struct tmem_wb_page *w = &batch->page[i];
	struct tmem_pool *p = tmem_pool_of(s, (int)w->pool);
	uint64_t h = tmem_hash(&w->oid), swapped = 0, bytes = 0;
	struct tmem_bucket *b = p ? tmem_lock_bucket(p, h) : NULL;
	struct tmem_obj *o = b ? _tmem_rb_find(b->root, &w->oid) : NULL;
	uint64_t gen = o ? o->gen : 0;

	for (unsigned k = i; k < j; k++) {
		struct tmem_wb_page *x = &batch->page[k];

		if (!o || x->gen != gen) {
			continue;
		}
		uint64_t *slot = _tmem_radix_slot(o, x->index);
		assert(slot && *slot == x->old);
		*slot = nw[k];
		bytes += s->pam->size(s->pam_ctx, x->old) - s->pam->size(s->pam_ctx, nw[k]);
		nw[k] = x->old;	/* what to free now */
		swapped++;
	}
	if (swapped) {
		tmem_obj_changed(o);
		TMEM_ADD(tmem_stripe(p, h)->pampd_bytes, -bytes);
	}
	if (b)
		tmem_unlock(&b->lock);
	for (unsigned k = i; k < j; k++)
		s->pam->free(s->pam_ctx, nw[k]);	/* old pampds, or unused copies */
	res->pages += swapped;
	res->bytes += bytes;
	res->conflicts += (j - i) - swapped;
	return swapped;
}

int tmem_wb_commit(struct tmem_store *s, struct tmem_wb_batch *batch,
		   struct tmem_wb_result *res)
{
	const void *forms[TMEM_WB_PAGES];
	uint32_t lens[TMEM_WB_PAGES];
	struct tmem_key keys[TMEM_WB_PAGES];
	tmem_pampd nw[TMEM_WB_PAGES];
	unsigned n = batch->n;
	uint64_t swapped = 0;
	int rc;

	if (!s->pam->wb_write)
		return -EOPNOTSUPP;
	for (unsigned i = 0; i < n; i++) {
		forms[i] = batch->buf + batch->page[i].off;
		lens[i] = batch->page[i].len;
		keys[i] = (struct tmem_key){ .oid = batch->page[i].oid, .pool = batch->page[i].pool,
					     .index = batch->page[i].index };
	}
	batch->n = 0;
	batch->used = 0;
	if (n == 0)
		return 0;
	rc = s->pam->wb_write(s->pam_ctx, forms, lens, keys, n, nw);
	if (rc < 0)
		return rc;
	for (unsigned i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && batch->page[j].pool == batch->page[i].pool &&
				tmem_oid_cmp(&batch->page[j].oid, &batch->page[i].oid) == 0;
		     j++)
			;
		swapped += wb_swap_run(s, batch, i, j, nw, res);
	}
	return (int)swapped;
}

void _tmem_promote(struct tmem_store *s, struct tmem_pool *p, uint64_t h,
		   const struct tmem_oid *oid, uint32_t index, uint64_t gen, tmem_pampd pd,
		   const void *page)
{
	tmem_pampd np;

	if (s->pam->promote(s->pam_ctx, pd, page,
			    atomic_load_explicit(&p->codec, memory_order_relaxed), &np) != 1)
		return;
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, oid);
	uint64_t *slot = o && o->gen == gen ? _tmem_radix_slot(o, index) : NULL;
	tmem_pampd drop = np;
	if (slot && *slot == pd) {
		*slot = np;
		tmem_obj_changed(o);
		TMEM_ADD(tmem_stripe(p, h)->pampd_bytes,
			 s->pam->size(s->pam_ctx, np) - s->pam->size(s->pam_ctx, pd));
		drop = pd;
	}
	tmem_unlock(&b->lock);
	s->pam->free(s->pam_ctx, drop);
}

/* Take a reference on pool `id` (tmem_destroy_pool waits for it), or
 * return NULL when there is none. */
static struct tmem_pool *reloc_pool_get(struct tmem_store *s, int id)
{
	pthread_mutex_lock(&s->pool_lock);
	struct tmem_pool *p = tmem_pool_of(s, id);
	if (p)
		p->refs++;
	pthread_mutex_unlock(&s->pool_lock);
	return p;
}

static void reloc_pool_put(struct tmem_store *s, struct tmem_pool *p)
{
	pthread_mutex_lock(&s->pool_lock);
	if (--p->refs == 0)
		pthread_cond_broadcast(&s->pool_cond);
	pthread_mutex_unlock(&s->pool_lock);
}

/* tmem_relocate in one pool: 1 relocated, 0 not found there, -ENOENT no
 * such object there. */
static int reloc_in_pool(struct tmem_store *s, struct tmem_pool *p, const struct tmem_key *key,
			 uint64_t old, uint64_t new)
{
	uint64_t h = tmem_hash(&key->oid);
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, &key->oid);
	uint32_t first = key->index & ~(TMEM_UNIT_PAGES - 1);
	int found = o ? 0 : -ENOENT;

	for (uint32_t i = 0; o && i < TMEM_UNIT_PAGES && !found; i++) {
		/* The key's own index first: a single page's record names it. */
		uint32_t idx = i == 0 ? key->index : first + i - (first + i <= key->index);
		uint64_t *slot = _tmem_radix_slot(o, idx);
		tmem_pampd np;

		if (!slot || !*slot || s->pam->relocate(s->pam_ctx, *slot, old, new, &np) != 1)
			continue;
		if (np != *slot) {
			/* Both stand for the same bytes: sizes match (0). */
			*slot = np;
			tmem_obj_changed(o);
		}
		found = 1;
	}
	tmem_unlock(&b->lock);
	return found;
}

int tmem_relocate(struct tmem_store *s, const struct tmem_key *key, uint64_t old, uint64_t new)
{
	struct tmem_pool *p;
	int r = 0;

	if (!s->pam->relocate)
		return -EOPNOTSUPP;
	if (!key || old == new || !old || !new)
		return -EINVAL;
	p = reloc_pool_get(s, (int)key->pool);
	if (p) {
		r = reloc_in_pool(s, p, key, old, new);
		reloc_pool_put(s, p);
		if (r >= 0)
			return r;	/* the object is there: its page or nothing */
	}
	/* No such object in the key's pool: it may have moved to another. */
	for (int id = 0; id < TMEM_MAX_POOLS; id++) {
		if (id == (int)key->pool || !atomic_load_explicit(&s->pools[id], memory_order_relaxed))
			continue;
		p = reloc_pool_get(s, id);
		if (!p)
			continue;
		r = reloc_in_pool(s, p, key, old, new);
		reloc_pool_put(s, p);
		if (r >= 0)
			return r;
	}
	return 0;
}

void tmem_tick(struct tmem_store *s)
{
	atomic_fetch_add_explicit(&s->epoch, 1, memory_order_relaxed);
}

int tmem_object_stamp(struct tmem_store *s, int pool, const struct tmem_oid *oid,
		      uint64_t *stamp)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);

	if (!p || tmem_ephemeral(p))
		return -EINVAL;
	uint64_t h = tmem_hash(oid);
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, oid);
	if (o)
		*stamp = o->lru_stamp;
	tmem_unlock(&b->lock);
	return o ? 0 : -ENOENT;
}
