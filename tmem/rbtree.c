/* rbtree.c - tmem's red-black tree of objects: one tree per hash bucket,
 * keyed by the object id.
 *
 * Design note.  The tree is the classic one (CLRS: insert with recolouring
 * and at most two rotations, erase with the four-case fixup) with the
 * parent pointer and the colour packed in one word of struct tmem_obj
 * (objects are 8-aligned, bit 0 is "red"), so the tree costs three words
 * per object and no allocation.  A bucket holds about two objects on
 * average (the table doubles at a load factor of 2), but a balanced tree
 * keeps a lookup a few comparisons however the ids fall, even for ids
 * chosen to collide.  The lookup itself (_tmem_rb_find) is inline in
 * tmem_int.h; this file changes trees.  Every function here runs under the
 * bucket lock of the tree it is given and takes no lock.
 */
#include "tmem/tmem_int.h"

#include <stdio.h>
#include <stdlib.h>

/* File-local names for the packed parent/colour word (tmem_int.h). */
static inline struct tmem_obj *rb_parent(const struct tmem_obj *o)
{
	return _tmem_rb_parent(o);
}

static inline bool rb_is_red(const struct tmem_obj *o)
{
	return _tmem_rb_is_red(o);
}

static inline void rb_set_parent(struct tmem_obj *o, struct tmem_obj *p)
{
	o->parent_color = (uintptr_t)p | (o->parent_color & 1);
}

static inline void rb_set_red(struct tmem_obj *o) { o->parent_color |= 1; }
static inline void rb_set_black(struct tmem_obj *o) { o->parent_color &= ~(uintptr_t)1; }

static inline void rb_copy_color(struct tmem_obj *to, const struct tmem_obj *from)
{
	to->parent_color = (to->parent_color & ~(uintptr_t)1) | (from->parent_color & 1);
}


static void rb_replace_child(struct tmem_obj **root, struct tmem_obj *parent,
			     struct tmem_obj *old, struct tmem_obj *new)
{
	if (!parent)
		*root = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
}

static void rb_rotate_left(struct tmem_obj **root, struct tmem_obj *x)
{
	struct tmem_obj *y = x->right, *xp = rb_parent(x);
	x->right = y->left;
	if (y->left)
		rb_set_parent(y->left, x);
	rb_set_parent(y, xp);
	rb_replace_child(root, xp, x, y);
	y->left = x;
	rb_set_parent(x, y);
}

static void rb_rotate_right(struct tmem_obj **root, struct tmem_obj *x)
{
	struct tmem_obj *y = x->left, *xp = rb_parent(x);
	x->left = y->right;
	if (y->right)
		rb_set_parent(y->right, x);
	rb_set_parent(y, xp);
	rb_replace_child(root, xp, x, y);
	y->right = x;
	rb_set_parent(x, y);
}

/* Link `z` (key not present) into the tree and rebalance. */
void _tmem_rb_insert(struct tmem_obj **root, struct tmem_obj *z)
{
	struct tmem_obj *parent = NULL, **link = root;
	while (*link) {
		parent = *link;
		link = tmem_oid_cmp(&z->oid, &parent->oid) < 0 ? &parent->left : &parent->right;
	}
	z->left = z->right = NULL;
	z->parent_color = (uintptr_t)parent | 1;
	*link = z;

	struct tmem_obj *p;
	while ((p = rb_parent(z)) && rb_is_red(p)) {
		struct tmem_obj *g = rb_parent(p);	/* exists: a red node is not the root */
		if (p == g->left) {
			struct tmem_obj *u = g->right;
			if (rb_is_red(u)) {
				rb_set_black(p);
				rb_set_black(u);
				rb_set_red(g);
				z = g;
				continue;
			}
			if (z == p->right) {
				rb_rotate_left(root, p);
				z = p;
				p = rb_parent(z);
			}
			rb_set_black(p);
			rb_set_red(g);
			rb_rotate_right(root, g);
		} else {
			struct tmem_obj *u = g->left;
			if (rb_is_red(u)) {
				rb_set_black(p);
				rb_set_black(u);
				rb_set_red(g);
				z = g;
				continue;
			}
			if (z == p->left) {
				rb_rotate_right(root, p);
				z = p;
				p = rb_parent(z);
			}
			rb_set_black(p);
			rb_set_red(g);
			rb_rotate_left(root, g);
		}
	}
	rb_set_black(*root);
}

static void rb_transplant(struct tmem_obj **root, struct tmem_obj *u, struct tmem_obj *v)
{
	struct tmem_obj *up = rb_parent(u);
	rb_replace_child(root, up, u, v);
	if (v)
		rb_set_parent(v, up);
}

static void rb_erase_fixup(struct tmem_obj **root, struct tmem_obj *x, struct tmem_obj *xp)
{
	while (x != *root && !rb_is_red(x)) {
		if (x == xp->left) {
			struct tmem_obj *w = xp->right;
			if (rb_is_red(w)) {
				rb_set_black(w);
				rb_set_red(xp);
				rb_rotate_left(root, xp);
				w = xp->right;
			}
			if (!rb_is_red(w->left) && !rb_is_red(w->right)) {
				rb_set_red(w);
				x = xp;
				xp = rb_parent(x);
			} else {
				if (!rb_is_red(w->right)) {
					rb_set_black(w->left);
					rb_set_red(w);
					rb_rotate_right(root, w);
					w = xp->right;
				}
				rb_copy_color(w, xp);
				rb_set_black(xp);
				rb_set_black(w->right);
				rb_rotate_left(root, xp);
				x = *root;
				break;
			}
		} else {
			struct tmem_obj *w = xp->left;
			if (rb_is_red(w)) {
				rb_set_black(w);
				rb_set_red(xp);
				rb_rotate_right(root, xp);
				w = xp->left;
			}
			if (!rb_is_red(w->left) && !rb_is_red(w->right)) {
				rb_set_red(w);
				x = xp;
				xp = rb_parent(x);
			} else {
				if (!rb_is_red(w->left)) {
					rb_set_black(w->right);
					rb_set_red(w);
					rb_rotate_left(root, w);
					w = xp->left;
				}
				rb_copy_color(w, xp);
				rb_set_black(xp);
				rb_set_black(w->left);
				rb_rotate_right(root, xp);
				x = *root;
				break;
			}
		}
	}
	if (x)
		rb_set_black(x);
}

void _tmem_rb_erase(struct tmem_obj **root, struct tmem_obj *z)
{
	struct tmem_obj *x, *xp;
	bool removed_red;

	if (!z->left || !z->right) {
		x = z->left ? z->left : z->right;
		xp = rb_parent(z);
		removed_red = rb_is_red(z);
		rb_transplant(root, z, x);
	} else {
		struct tmem_obj *y = z->right;
		while (y->left)
			y = y->left;
		removed_red = rb_is_red(y);
		x = y->right;
		if (rb_parent(y) == z) {
			xp = y;
		} else {
			xp = rb_parent(y);
			rb_transplant(root, y, y->right);
			y->right = z->right;
			rb_set_parent(y->right, y);
		}
		rb_transplant(root, z, y);
		y->left = z->left;
		rb_set_parent(y->left, y);
		rb_copy_color(y, z);
	}
	if (!removed_red)
		rb_erase_fixup(root, x, xp);
}

/* Debug builds verify the shape of a bucket's tree after every change
 * (tmem_int.h has the release stub). */
#if ZC_DEBUG
static int rb_debug_walk(const struct tmem_obj *n, const struct tmem_obj *parent)
{
	if (!n)
		return 1;
	if (rb_parent(n) != parent || (rb_is_red(n) && (rb_is_red(n->left) || rb_is_red(n->right))) ||
	    (n->left && tmem_oid_cmp(&n->left->oid, &n->oid) >= 0) ||
	    (n->right && tmem_oid_cmp(&n->oid, &n->right->oid) >= 0))
		return -1;
	int l = rb_debug_walk(n->left, n), r = rb_debug_walk(n->right, n);
	if (l < 0 || l != r)
		return -1;
	return l + !rb_is_red(n);
}

void _tmem_rb_debug_check(struct tmem_obj *root)
{
	if (rb_is_red(root) || rb_debug_walk(root, NULL) < 0) {
		fprintf(stderr, "tmem: red-black tree of a bucket broken\n");
		abort();
	}
}
#endif
