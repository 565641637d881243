/* densify.c - repacking a group of an object's pages (tmem_densify): the
 * store's half of densifying idle files into multi-page units.
 *
 * Design note.  tmem knows nothing of units: the backend plans which pages
 * of a group are worth repacking (pamops.repack_plan, under the bucket
 * lock, so it may look inside the pampds it is shown), tmem reads them,
 * the backend packs them (pamops.repack, no lock), and tmem swaps the new
 * pampds in.  The read and the pack run with no lock held, so a write can
 * happen meanwhile; the write must win.  Comparing pampd values at the
 * swap would not prove that: a pampd value can come back (an xcf
 * descriptor freed by one put and handed to the next, with a payload of
 * the same length, gives the same value for different bytes).  So every
 * object carries a generation (tmem_obj.gen), bumped under the bucket lock
 * by every change of any of its pages; the plan records it, every read
 * checks it, and the swap happens only if it is unchanged, so the pages
 * swapped out are exactly the pages that were read.  A fresh object starts
 * its generations at a store-wide serial << 32, so an object freed and
 * created again under the same id never repeats a generation the old one
 * had (unless one object saw 2^32 changes during one repack).  A changed
 * object fails the repack with -EAGAIN and the new pampds are freed:
 * densify is an optimisation and simply tries again later.
 *
 * A group is the 16 indices of one leaf objnode, so the plan reads the
 * group's slots in one walk, and the backend's units (compress/pam) never
 * span two leaves.
 */
#include "tmem/tmem_int.h"

#include <errno.h>
#include <string.h>

static_assert(TMEM_UNIT_PAGES == TMEM_FAN, "a group is one leaf objnode");

/* Read one page of the group for the repack: as a get, but only while the
 * object's generation is still `gen`, and without the LRU or counters.
 * Returns 0, -EAGAIN (the object changed or is gone), or the backend's
 * error. */
static int densify_read(struct tmem_store *s, struct tmem_pool *p, uint64_t h,
			const struct tmem_oid *oid, uint32_t index, uint64_t gen, void *page)
{
	alignas(64) unsigned char scratch[TMEM_SCRATCH_SIZE];
	size_t len = 0;
	int ret;

	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, oid);
	uint64_t *slot = o && o->gen == gen ? _tmem_radix_slot(o, index) : NULL;
	if (!slot || !*slot) {
		tmem_unlock(&b->lock);
		return -EAGAIN;
	}
	tmem_pampd pd = *slot;
	ret = s->pam->get_locked(s->pam_ctx, pd, page, scratch, &len);
	tmem_unlock(&b->lock);
	if (ret == 0)
		ret = s->pam->decode(s->pam_ctx, pd, scratch, len, page);
	return ret < 0 ? ret : 0;
}

int tmem_densify(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t from,
		 unsigned codec, void *buf, struct tmem_densify_result *res)
{
	struct tmem_pool *p = tmem_pool_of(s, pool);
	if (!p || !buf || !res)
		return -EINVAL;
	if (!s->pam->repack_plan)
		return -EOPNOTSUPP;
	memset(res, 0, sizeof(*res));
	uint64_t h = tmem_hash(oid);
	struct tmem_stripe *st = tmem_stripe(p, h);
	tmem_pampd old[TMEM_UNIT_PAGES], nw[TMEM_UNIT_PAGES];
	uint64_t gen, old_bytes = 0;
	uint32_t first, base;
	unsigned map;
	int ret;

	/* Plan: the group's pampds and the object's generation, at once. */
	struct tmem_bucket *b = tmem_lock_bucket(p, h);
	struct tmem_obj *o = _tmem_rb_find(b->root, oid);
	if (!o || _tmem_radix_next(o, from, &first) < 0) {
		tmem_unlock(&b->lock);
		return -ENOENT;
	}
	base = first & ~(TMEM_UNIT_PAGES - 1);
	for (unsigned i = 0; i < TMEM_UNIT_PAGES; i++) {
		uint64_t *slot = _tmem_radix_slot(o, base + i);
		old[i] = slot ? *slot : 0;
	}
	gen = o->gen;
	map = s->pam->repack_plan(s->pam_ctx, old, codec, &old_bytes);
	tmem_unlock(&b->lock);
	res->first = base;
	res->next = (uint64_t)base + TMEM_UNIT_PAGES;
	if (!map)
		return 0;

	/* Read the chosen pages, packed in slot order. */
	unsigned k = 0;
	for (unsigned i = 0; i < TMEM_UNIT_PAGES; i++) {
		if (!(map & (1u << i)))
			continue;
		ret = densify_read(s, p, h, oid, base + i, gen,
				   (unsigned char *)buf + (size_t)k * TMEM_PAGE_SIZE);
		if (ret < 0) {
			if (ret == -EAGAIN)
				TMEM_ADD(p->repack_conflicts, 1);
			return ret;
		}
		k++;
	}

	/* Pack (no lock). */
	memset(nw, 0, sizeof(nw));
	ret = s->pam->repack(s->pam_ctx, buf, map, codec, old_bytes, nw);
	if (ret <= 0)
		return ret;

	/* Swap, if nothing changed. */
	uint64_t osize = 0, nsize = 0;
	b = tmem_lock_bucket(p, h);
	o = _tmem_rb_find(b->root, oid);
	if (!o || o->gen != gen) {
		tmem_unlock(&b->lock);
		for (unsigned i = 0; i < TMEM_UNIT_PAGES; i++)
			if (map & (1u << i))
				s->pam->free(s->pam_ctx, nw[i]);
		TMEM_ADD(p->repack_conflicts, 1);
		return -EAGAIN;
	}
	for (unsigned i = 0; i < TMEM_UNIT_PAGES; i++) {
		if (!(map & (1u << i)))
			continue;
		uint64_t *slot = _tmem_radix_slot(o, base + i);
		assert(slot && *slot == old[i]);
		*slot = nw[i];
		osize += s->pam->size(s->pam_ctx, old[i]);
		nsize += s->pam->size(s->pam_ctx, nw[i]);
	}
	tmem_obj_changed(o);
	TMEM_ADD(st->pampd_bytes, nsize - osize);
	TMEM_ADD(p->repacks, 1);
	TMEM_ADD(p->repacked_pages, k);
	tmem_unlock(&b->lock);

	for (unsigned i = 0; i < TMEM_UNIT_PAGES; i++)
		if (map & (1u << i))
			s->pam->free(s->pam_ctx, old[i]);
	res->pages = k;
	res->old_bytes = old_bytes;
	res->new_bytes = nsize;
	return 1;
}
