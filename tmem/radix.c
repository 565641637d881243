/* radix.c - tmem's radix tree of pages: an object's index -> pampd map,
 * built of 16-slot objnodes.
 *
 * Design note.  The shape (height 0 keeps the one pampd of index 0 in the
 * object's root word; height h covers indices < 16^h, 4 bits a level) and
 * why the fanout is 16 are in tmem.h.  Nodes are never allocated here: a
 * put counts what it needs (_tmem_radix_need), allocates that many from
 * the host before it links anything, and _tmem_radix_store builds the path
 * from those, so a failed allocation leaves the tree unchanged.  Removal
 * frees each objnode the moment its last slot empties, and an emptied
 * height-h tree drops back to height 0, so no empty node ever exists
 * (tmem_check verifies it).  The walks that sum or free a whole tree are
 * recursive; the depth is at most TMEM_MAX_HEIGHT (8).  Every function
 * here runs under the object's bucket lock, except _tmem_radix_free_all,
 * which frees a tree already detached from its object.  The lookups
 * (_tmem_radix_slot and its helpers) are inline in tmem_int.h.
 */
#include "tmem/tmem_int.h"

#include <errno.h>
#include <string.h>

unsigned _tmem_radix_need(const struct tmem_obj *o, uint32_t index)
{
	unsigned H = _tmem_radix_height_for(index), h = o->height;
	if (!o->root)
		return H;
	if (H > h)
		/* Chain nodes on levels h+1..H keep the old tree in slot 0; the
		 * top digit of index is non-zero, so levels H-1..1 are new. */
		return (H - h) + (H - 1);
	const uint64_t *slot = &o->root;
	for (unsigned l = h; l > 0; l--) {
		const struct tmem_objnode *n = (const struct tmem_objnode *)(uintptr_t)*slot;
		if (!n)
			return l;
		slot = &n->slots[_tmem_radix_digit(index, l)];
	}
	return 0;
}

static struct tmem_objnode *radix_take(struct tmem_objnode **pre, unsigned *npre)
{
	struct tmem_objnode *n = pre[--*npre];
	memset(n, 0, sizeof(*n));
	return n;
}

/* Store pampd `v` at `index`, building the path from the preallocated
 * nodes (_tmem_radix_need() of them).  Returns the pampd replaced, or 0. */
tmem_pampd _tmem_radix_store(struct tmem_obj *o, uint32_t index, tmem_pampd v,
			      struct tmem_objnode **pre, unsigned *npre)
{
	unsigned H = _tmem_radix_height_for(index);
	if (!o->root) {
		o->height = (uint8_t)H;
	} else {
		while (o->height < H) {
			struct tmem_objnode *n = radix_take(pre, npre);
			n->slots[0] = o->root;
			n->count = 1;
			o->root = (uint64_t)(uintptr_t)n;
			o->height++;
		}
	}
	uint64_t *slot = &o->root;
	struct tmem_objnode *parent = NULL;
	for (unsigned l = o->height; l > 0; l--) {
		if (!*slot) {
			*slot = (uint64_t)(uintptr_t)radix_take(pre, npre);
			if (parent)
				parent->count++;
		}
		parent = (struct tmem_objnode *)(uintptr_t)*slot;
		slot = &parent->slots[_tmem_radix_digit(index, l)];
	}
	tmem_pampd old = *slot;
	*slot = v;
	if (!old) {
		if (parent)
			parent->count++;
		o->pages++;
	}
	return old;
}

/* Unlink the pampd at `index` and free the objnodes left empty (the host's
 * free is called under the bucket lock).  Returns the pampd, or 0. */
tmem_pampd _tmem_radix_remove(struct tmem_store *s, struct tmem_obj *o, uint32_t index,
			       uint64_t *nodes_freed)
{
	unsigned h = o->height;
	if (!_tmem_radix_covers(o, index) || !o->root)
		return 0;
	if (h == 0) {
		tmem_pampd p = o->root;
		o->root = 0;
		o->pages--;
		return p;
	}
	struct tmem_objnode *path[TMEM_MAX_HEIGHT];
	struct tmem_objnode *n = (struct tmem_objnode *)(uintptr_t)o->root;
	for (unsigned l = h; l > 0; l--) {
		path[l - 1] = n;
		if (l > 1) {
			n = (struct tmem_objnode *)(uintptr_t)n->slots[_tmem_radix_digit(index, l)];
			if (!n)
				return 0;
		}
	}
	tmem_pampd p = path[0]->slots[_tmem_radix_digit(index, 1)];
	if (!p)
		return 0;
	path[0]->slots[_tmem_radix_digit(index, 1)] = 0;
	path[0]->count--;
	for (unsigned l = 1; l <= h && path[l - 1]->count == 0; l++) {
		s->host->objnode_free(s->host_ctx, path[l - 1]);
		(*nodes_freed)++;
		if (l < h) {
			path[l]->slots[_tmem_radix_digit(index, l + 1)] = 0;
			path[l]->count--;
		} else {
			o->root = 0;
			o->height = 0;
		}
	}
	o->pages--;
	return p;
}

static int radix_next_node(const struct tmem_objnode *n, unsigned l, uint64_t base,
			   uint64_t from, uint32_t *out)
{
	unsigned shift = TMEM_FAN_SHIFT * (l - 1);
	unsigned d = from > base ? (unsigned)((from - base) >> shift) : 0;
	for (; d < TMEM_FAN; d++) {
		uint64_t v = n->slots[d];
		uint64_t cbase = base + ((uint64_t)d << shift);
		if (!v)
			continue;
		if (l == 1) {
			*out = (uint32_t)cbase;
			return 0;
		}
		if (radix_next_node((const struct tmem_objnode *)(uintptr_t)v, l - 1, cbase,
				    from, out) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Lowest stored index >= from. */
int _tmem_radix_next(const struct tmem_obj *o, uint32_t from, uint32_t *out)
{
	if (!o->root || !_tmem_radix_covers(o, from))
		return -ENOENT;
	if (o->height == 0) {
		*out = 0;
		return 0;
	}
	return radix_next_node((const struct tmem_objnode *)(uintptr_t)o->root, o->height, 0,
			       from, out);
}

static void radix_sum_node(struct tmem_store *s, const struct tmem_objnode *n, unsigned l,
			   struct tmem_freed *f)
{
	for (unsigned d = 0; d < TMEM_FAN; d++) {
		uint64_t v = n->slots[d];
		if (!v)
			continue;
		if (l == 1) {
			f->bytes += s->pam->size(s->pam_ctx, v);
			f->pages++;
		} else {
			radix_sum_node(s, (const struct tmem_objnode *)(uintptr_t)v, l - 1, f);
		}
	}
	f->nodes++;
}

/* What a radix tree holds: pages, pampd bytes, objnodes.  Run under the
 * bucket lock before a whole tree is detached, so that the counters change
 * together with the tree (tmem_check is exact even beside other threads);
 * pamops.size is cheap, the walk a few ns a page. */
void _tmem_radix_sum(struct tmem_store *s, uint64_t root, unsigned h, struct tmem_freed *f)
{
	if (!root)
		return;
	if (h == 0) {
		f->bytes += s->pam->size(s->pam_ctx, root);
		f->pages++;
		return;
	}
	radix_sum_node(s, (const struct tmem_objnode *)(uintptr_t)root, h, f);
}

static void radix_free_node(struct tmem_store *s, struct tmem_objnode *n, unsigned l,
			    struct tmem_freed *f)
{
	for (unsigned d = 0; d < TMEM_FAN; d++) {
		uint64_t v = n->slots[d];
		if (!v)
			continue;
		if (l == 1) {
			f->bytes += s->pam->size(s->pam_ctx, v);
			s->pam->free(s->pam_ctx, v);
			f->pages++;
		} else {
			radix_free_node(s, (struct tmem_objnode *)(uintptr_t)v, l - 1, f);
		}
	}
	s->host->objnode_free(s->host_ctx, n);
	f->nodes++;
}

/* Free a detached radix tree: every pampd (pamops.free) and objnode. */
void _tmem_radix_free_all(struct tmem_store *s, uint64_t root, unsigned h, struct tmem_freed *f)
{
	if (!root)
		return;
	if (h == 0) {
		f->bytes += s->pam->size(s->pam_ctx, root);
		s->pam->free(s->pam_ctx, root);
		f->pages++;
		return;
	}
	radix_free_node(s, (struct tmem_objnode *)(uintptr_t)root, h, f);
}
