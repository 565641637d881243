/* ns_names.c - the namespace's changes of names: mknod, link, unlink,
 * rmdir, rename, and eviction's removal of names; and the homes of files
 * across pools that those changes decide (see ns.h, "Homes" and "Pools and
 * renames").
 *
 * Design.  A change that may move files between pools first builds a plan
 * (struct zfs_plan: every inode whose names change, with its pool before
 * and after and its names counted there), allocating everything it needs
 * while nothing has changed yet; then it applies the name changes, decides
 * each file's home by the rule of homes (zfs_plan_decide), and moves the
 * files whose home changed (ops->inode_move, one io_lock at a time).  So a
 * failure (ENOMEM) changes nothing, and moving data cannot fail.
 * Everything here runs under ns->lock held exclusively; releases happen on
 * the reap list after it is dropped (ns.c).
 */
#define FUSE_USE_VERSION 312
#include "fuse/ns_int.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

/* ---- making and removing names ------------------------------------------- */

static void zfs_dir_changed(struct zfs_inode *dir)
{
	pthread_mutex_lock(&dir->stripe->lock);
	_zfs_ns_now(&dir->mtime);
	dir->ctime = dir->mtime;
	pthread_mutex_unlock(&dir->stripe->lock);
}

/* Find a live directory; caller must hold ns->lock. */
static int zfs_live_dir(struct zfs_ns *ns, uint64_t ino, struct zfs_inode **out)
{
	struct zfs_inode *dir = _zfs_ns_find(ns, ino);

	if (!dir)
		return -ENOENT;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (!dir->nlink)
		return -ENOENT;
	*out = dir;
	return 0;
}

static int zfs_check_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0)
		return -ENOENT;
	if (n > ZFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EEXIST;
	return 0;
}

int zfs_ns_mknod(struct zfs_ns *ns, uint64_t parent, const char *name, mode_t mode,
		 dev_t rdev, uid_t uid, gid_t gid, const char *symlink, struct zfs_pool *pool,
		 struct stat *st)
{
	struct zfs_inode *dir, *i;
	struct zfs_dirent *d;
	char *target = NULL;
	int ret;

	ret = zfs_check_name(name);
	if (ret < 0)
		return ret;
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		break;
	case S_IFLNK:
		if (!symlink)
			return -EINVAL;
		if (strlen(symlink) > ZFS_SYMLINK_MAX)
			return -ENAMETOOLONG;
		break;
	default:
		return -EINVAL;
	}
	if (S_ISLNK(mode)) {
		target = strdup(symlink);
		if (!target)
			return -ENOMEM;
	}
	pthread_rwlock_wrlock(&ns->lock);
	ret = zfs_live_dir(ns, parent, &dir);
	if (ret < 0)
		goto err_unlock;
	if ((parent == ZFS_ROOT_INO && S_ISDIR(mode)) != (pool != NULL)) {
		ret = -EINVAL;
		goto err_unlock;
	}
	if (_zfs_ns_dir_find(dir, name) ||
	    (parent == ZFS_ROOT_INO && ns->virt_name && !strcmp(name, ns->virt_name))) {
		ret = -EEXIST;
		goto err_unlock;
	}
	if (S_ISDIR(mode) && dir->nlink >= UINT32_MAX - 1) {
		ret = -EMLINK;
		goto err_unlock;
	}
	if (ns->ninodes + 1 > ns->nbuckets * 2) {
		ret = _zfs_ns_table_grow(ns);
		if (ret < 0)
			goto err_unlock;
	}
	ret = _zfs_ns_dir_reserve(dir);
	if (ret < 0)
		goto err_unlock;
	i = _zfs_ns_inode_new(ns, mode, uid, gid, rdev);
	if (!i) {
		ret = -ENOMEM;
		goto err_unlock;
	}
	d = _zfs_ns_dirent_new(name, i->ino, mode);
	if (!d) {
		_zfs_ns_inode_free(i);
		ret = -ENOMEM;
		goto err_unlock;
	}
	ns->next_ino++;
	if (S_ISLNK(mode))
		i->symlink = target;	/* shares a word with dx */
	if (S_ISDIR(mode)) {
		i->nlink = 2;
		i->dx->parent = parent;
		dir->nlink++;
		dir->dx->nsubdirs++;
	} else {
		i->nlink = 1;
		i->hnames = 1;
	}
	if (pool) {
		pool->id = ns->next_pool_id++;
		pool->dir_ino = i->ino;
		pool->refs = 0;
		pool->dir_gone = 0;
		snprintf(pool->name, sizeof(pool->name), "%s", name);
		pool->next = ns->pools;
		ns->pools = pool;
		ns->npools++;
		i->pool = pool;
	} else {
		i->pool = dir->pool;
	}
	i->pool->refs++;
	if (S_ISREG(mode))
		atomic_fetch_add(&i->pool->files, 1);
	_zfs_ns_table_insert(ns, i);
	ns->count[_zfs_ns_type_index(mode)]++;
	_zfs_ns_dir_add(ns, dir, d);
	zfs_dir_changed(dir);
	atomic_store(&i->nlookup, 1);
	_zfs_ns_stat_locked(ns, i, st);
	pthread_rwlock_unlock(&ns->lock);
	return 0;
err_unlock:
	pthread_rwlock_unlock(&ns->lock);
	free(target);
	return ret;
}

/* ---- pools of names and homes ------------------------------------------ */

/* A name belongs to the pool of the directory holding it (an entry of the
 * root: the root pool, but a directory there is a pool of its own).  A
 * non-directory's home is the pool its data lives in (ns.h, "Homes"); a
 * directory's pool is where its entries belong. */

static int zfs_is_pool_dir(const struct zfs_inode *i)
{
	return S_ISDIR(i->mode) && i->pool->dir_ino == i->ino;
}

/* A non-directory whose names changed pools in one operation, and the home
 * decided for it. */
struct zfs_home {
	struct zfs_inode *i;
	struct zfs_pool *from;		/* the pool its moved names left, or NULL */
	struct zfs_pool *hint;		/* the pool they went to, or NULL */
	uint32_t moved;			/* how many names */
	unsigned char mixed;		/* names went more than one way: recount */
	unsigned char recount;		/* the decision needs every name counted */
	struct zfs_pool *to;		/* the decision */
	/* what a recount found */
	uint32_t in_home, in_to;
	struct zfs_pool *pers, *first;
	unsigned char hint_seen;
};

/* The changes of membership of one operation, prepared (allocated) before
 * anything changes so that applying them cannot fail. */
struct zfs_plan {
	struct zfs_home *h;
	size_t n, cap;
	size_t need;			/* records reserved so far */
	struct zfs_home local[2];	/* h for operations that touch two names at most */
	struct zfs_inode **dirs;	/* the directories of moved subtrees */
	size_t ndirs, dcap;
};

static void zfs_plan_init(struct zfs_plan *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->h = pl->local;
	pl->cap = 2;
}

static void zfs_plan_free(struct zfs_plan *pl)
{
	if (pl->h != pl->local)
		free(pl->h);
	free(pl->dirs);
}

/* Room for `more` records besides those reserved before. */
static int zfs_plan_reserve(struct zfs_plan *pl, size_t more)
{
	struct zfs_home *h;
	size_t cap;

	if (pl->need + more <= pl->cap) {
		pl->need += more;
		return 0;
	}
	cap = pl->need + more;
	h = malloc(cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	memcpy(h, pl->h, pl->n * sizeof(*h));
	if (pl->h != pl->local)
		free(pl->h);
	pl->h = h;
	pl->cap = cap;
	pl->need = cap;
	return 0;
}

/* Record that `moved` names of i left `from` (NULL: none) for `hint`
 * (NULL: none).  zfs_plan_reserve must have made room. */
static void zfs_plan_add(struct zfs_plan *pl, struct zfs_inode *i, struct zfs_pool *from,
			 struct zfs_pool *hint, uint32_t moved)
{
	struct zfs_home *h;

	assert(pl->n < pl->cap);
	h = &pl->h[pl->n++];

	memset(h, 0, sizeof(*h));
	h->i = i;
	h->from = from;
	h->hint = hint;
	h->moved = moved;
}

static int zfs_plan_push_dir(struct zfs_plan *pl, struct zfs_inode *d)
{
	if (pl->ndirs == pl->dcap) {
		size_t cap = pl->dcap ? pl->dcap * 2 : 16;
		struct zfs_inode **a = realloc(pl->dirs, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		pl->dirs = a;
		pl->dcap = cap;
	}
	pl->dirs[pl->ndirs++] = d;
	return 0;
}

/* Collect the directories of top's subtree (top first, breadth first) into
 * pl->dirs[*d0, *d1) and add their non-directory entries to *nondirs.
 * Caller holds ns->lock. */
static int zfs_plan_subtree(struct zfs_ns *ns, struct zfs_plan *pl, struct zfs_inode *top,
			    size_t *d0, size_t *d1, size_t *nondirs)
{
	size_t k, e;
	int ret;

	*d0 = pl->ndirs;
	ret = zfs_plan_push_dir(pl, top);
	for (k = *d0; ret == 0 && k < pl->ndirs; k++) {
		struct zfs_inode *d = pl->dirs[k];

		for (e = 0; ret == 0 && e < d->dx->dcount; e++) {
			struct zfs_dirent *de = d->dx->dents[e];

			if (S_ISDIR(de->type))
				ret = zfs_plan_push_dir(pl, _zfs_ns_find(ns, de->ino));
			else
				(*nondirs)++;
		}
	}
	*d1 = pl->ndirs;
	return ret;
}

/* One entry a rename moves from directory `sdir` to `ddir`. */
struct zfs_mover {
	struct zfs_inode *e;
	struct zfs_pool *from;		/* the pool it and its subtree belong to now */
	struct zfs_pool *to;		/* the pool they will belong to; NULL: a new one */
	int dissolve;			/* e is a pool's directory going below another */
	size_t d0, d1;			/* a moved directory's subtree in plan->dirs */
};

static void zfs_mover_init(struct zfs_mover *mv, struct zfs_inode *e, struct zfs_inode *sdir,
			   struct zfs_inode *ddir)
{
	memset(mv, 0, sizeof(*mv));
	mv->e = e;
	if (!S_ISDIR(e->mode)) {
		mv->from = sdir->pool;
		mv->to = ddir->pool;
		return;
	}
	mv->from = e->pool;
	if (ddir->ino == ZFS_ROOT_INO) {
		mv->to = zfs_is_pool_dir(e) ? e->pool : NULL;
	} else {
		mv->to = ddir->pool;
		mv->dissolve = zfs_is_pool_dir(e);
	}
}

/* Allocate what moving mv->e will need.  Caller holds ns->lock. */
static int zfs_mover_prepare(struct zfs_ns *ns, struct zfs_plan *pl, struct zfs_mover *mv)
{
	size_t nondirs = 0;
	int ret;

	if (mv->from == mv->to)
		return 0;
	if (!S_ISDIR(mv->e->mode))
		return zfs_plan_reserve(pl, 1);
	ret = zfs_plan_subtree(ns, pl, mv->e, &mv->d0, &mv->d1, &nondirs);
	if (ret == 0)
		ret = zfs_plan_reserve(pl, nondirs);
	return ret;
}

/* Move mv->e (whose entry has moved, under `name`) and its subtree to its
 * new pool: a new one (taking `newpool`, with the kind and codec of the
 * pool it leaves), the destination's (a pool dissolving into it), or no
 * change.  Directories change pools here; the non-directories' names are
 * recorded for zfs_plan_decide.  Caller holds ns->lock exclusively. */
static void zfs_mover_apply(struct zfs_ns *ns, struct zfs_plan *pl, struct zfs_mover *mv,
			    const char *name, struct zfs_pool **newpool, struct zfs_reap *r)
{
	struct zfs_pool *p;
	size_t k, e;

	if (mv->from == mv->to)
		return;
	if (!S_ISDIR(mv->e->mode)) {
		zfs_plan_add(pl, mv->e, mv->from, mv->to, 1);
		return;
	}
	if (!mv->to) {
		p = *newpool;
		*newpool = NULL;
		p->id = ns->next_pool_id++;
		p->dir_ino = mv->e->ino;
		p->refs = 0;
		p->dir_gone = 0;
		p->ephemeral = mv->from->ephemeral;
		atomic_store(&p->codec, atomic_load(&mv->from->codec));
		atomic_store(&p->densify, atomic_load(&mv->from->densify));
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->next = ns->pools;
		ns->pools = p;
		ns->npools++;
		if (ns->ops.pool_adopt)
			ns->ops.pool_adopt(ns->priv, p);
		mv->to = p;
	}
	if (mv->dissolve) {
		mv->from->dir_gone = 1;
		ns->npools--;
	}
	for (k = mv->d0; k < mv->d1; k++) {
		struct zfs_inode *d = pl->dirs[k];

		d->pool->refs--;
		d->pool = mv->to;
		mv->to->refs++;
		for (e = 0; e < d->dx->dcount; e++) {
			struct zfs_dirent *de = d->dx->dents[e];

			if (!S_ISDIR(de->type))
				zfs_plan_add(pl, _zfs_ns_find(ns, de->ino), mv->from, mv->to, 1);
		}
	}
	r->pools = 1;
}

static int zfs_home_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct zfs_home *)a)->i->ino, y = ((const struct zfs_home *)b)->i->ino;

	return x < y ? -1 : x > y;
}

static struct zfs_home *zfs_plan_find(struct zfs_plan *pl, uint64_t ino)
{
	size_t lo = 0, hi = pl->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pl->h[mid].i->ino == ino)
			return &pl->h[mid];
		if (pl->h[mid].i->ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Count, for the records that need it, every name of their inodes: one
 * walk over every directory (O(entries log records)).  Pass 1 finds the
 * names in the home and the candidates, pass 2 counts the names in the
 * chosen pool.  Caller holds ns->lock. */
static void zfs_plan_recount(struct zfs_ns *ns, struct zfs_plan *pl)
{
	size_t b, k;
	int pass, again = 0;

	for (pass = 1; pass <= 2; pass++) {
		for (b = 0; b < ns->nbuckets; b++) {
			for (struct zfs_inode *d = ns->table[b]; d; d = d->hnext) {
				if (!S_ISDIR(d->mode))
					continue;
				for (k = 0; k < d->dx->dcount; k++) {
					struct zfs_dirent *de = d->dx->dents[k];
					struct zfs_home *h;
					struct zfs_pool *p = d->pool;

					if (S_ISDIR(de->type))
						continue;
					h = zfs_plan_find(pl, de->ino);
					if (!h || !h->recount)
						continue;
					if (pass == 2) {
						h->in_to += p == h->to;
						continue;
					}
					h->in_home += p == h->i->pool;
					if (!h->first)
						h->first = p;
					if (p == h->hint)
						h->hint_seen = 1;
					if (!p->ephemeral && (!h->pers || p == h->hint))
						h->pers = p;
				}
			}
		}
		if (pass == 2)
			break;
		for (k = 0; k < pl->n; k++) {
			struct zfs_home *h = &pl->h[k];
			struct zfs_inode *i = h->i;

			if (!h->recount)
				continue;
			if (!h->first) {			/* no name left */
				h->to = i->pool;
				i->hnames = 0;
				h->recount = 0;
			} else if (h->in_home && (!i->pool->ephemeral || !h->pers)) {
				h->to = i->pool;		/* it may stay */
				i->hnames = h->in_home;
				h->recount = 0;
			} else {
				h->to = h->pers ? h->pers : h->hint_seen ? h->hint : h->first;
				again = 1;
			}
		}
		if (!again)
			break;
	}
	for (k = 0; k < pl->n; k++)
		if (pl->h[k].recount)
			pl->h[k].i->hnames = pl->h[k].in_to;
}

/* Decide every recorded inode's home (ns.h, "Homes"): sort and merge the
 * records, take the cheap decisions, recount the rest.  Sets h->to and
 * hnames.  Caller holds ns->lock exclusively. */
static void zfs_plan_decide(struct zfs_ns *ns, struct zfs_plan *pl)
{
	size_t k, n = 0;
	int recount = 0;

	if (pl->n > 1)
		qsort(pl->h, pl->n, sizeof(*pl->h), zfs_home_cmp);
	for (k = 0; k < pl->n; k++) {
		struct zfs_home *h = &pl->h[k];

		if (n && pl->h[n - 1].i == h->i) {
			struct zfs_home *m = &pl->h[n - 1];

			if (m->from != h->from || m->hint != h->hint)
				m->mixed = 1;
			m->moved += h->moved;
			continue;
		}
		pl->h[n++] = *h;
	}
	pl->n = n;
	for (k = 0; k < pl->n; k++) {
		struct zfs_home *h = &pl->h[k];
		struct zfs_inode *i = h->i;

		h->to = i->pool;
		if (h->mixed) {
			h->recount = 1;
		} else if (h->hint && i->nlink == h->moved) {
			h->to = h->hint;		/* every name went there */
			i->hnames = i->nlink;
		} else if (h->hint == i->pool) {
			i->hnames += h->moved;		/* home gains names */
		} else if (h->hint && !h->hint->ephemeral && i->pool->ephemeral) {
			h->to = h->hint;		/* a persistent name: it goes there */
			i->hnames = h->moved;
		} else if (h->from == i->pool) {
			i->hnames -= h->moved;		/* home loses names */
			h->recount = !i->hnames && i->nlink;
		}
		recount |= h->recount;
	}
	if (recount)
		zfs_plan_recount(ns, pl);
}

/* Move every decided inode to its new home: a regular file with its data
 * (ops->inode_move) while its io_lock is held exclusively, so no read,
 * write, open or release of it runs meanwhile.  One file at a time, one
 * io_lock at a time: a reader or writer only ever cares about its own
 * file, and everything else that looks at homes holds ns->lock, held here
 * throughout.  Caller holds ns->lock exclusively. */
static void zfs_plan_apply(struct zfs_ns *ns, struct zfs_plan *pl, struct zfs_reap *r)
{
	size_t k;

	for (k = 0; k < pl->n; k++) {
		struct zfs_home *h = &pl->h[k];
		struct zfs_inode *i = h->i;
		struct zfs_pool *from = i->pool;

		if (h->to == from)
			continue;
		from->refs--;
		h->to->refs++;
		r->pools = 1;	/* `from` may have lost its last reference */
		if (!S_ISREG(i->mode)) {
			i->pool = h->to;
			continue;
		}
		pthread_rwlock_wrlock(&i->stripe->io_lock);
		i->pool = h->to;
		atomic_fetch_sub(&from->files, 1);
		atomic_fetch_add(&h->to->files, 1);
		if (ns->ops.inode_move)
			ns->ops.inode_move(ns->priv, i, from, h->to);
		pthread_rwlock_unlock(&i->stripe->io_lock);
	}
}

int zfs_ns_link(struct zfs_ns *ns, uint64_t ino, uint64_t newparent, const char *newname,
		struct stat *st)
{
	struct zfs_reap r = { NULL, NULL, 0 };
	struct zfs_inode *dir, *i;
	struct zfs_dirent *d;
	struct zfs_plan pl;
	int ret;

	ret = zfs_check_name(newname);
	if (ret < 0)
		return ret;
	zfs_plan_init(&pl);
	pthread_rwlock_wrlock(&ns->lock);
	i = _zfs_ns_find(ns, ino);
	if (!i) {
		ret = -ENOENT;
		goto out;
	}
	if (S_ISDIR(i->mode)) {
		ret = -EPERM;
		goto out;
	}
	ret = zfs_live_dir(ns, newparent, &dir);
	if (ret < 0)
		goto out;
	if (_zfs_ns_dir_find(dir, newname) ||
	    (newparent == ZFS_ROOT_INO && ns->virt_name && !strcmp(newname, ns->virt_name))) {
		ret = -EEXIST;
		goto out;
	}
	if (i->nlink == 0 && atomic_load(&i->nopen) == 0 &&
	    !(ns->keep_known && atomic_load(&i->nlookup))) {
		ret = -ENOENT;
		goto out;
	}
	if (i->nlink >= UINT32_MAX) {
		ret = -EMLINK;
		goto out;
	}
	ret = _zfs_ns_dir_reserve(dir);
	if (ret < 0)
		goto out;
	d = _zfs_ns_dirent_new(newname, i->ino, i->mode);
	if (!d) {
		ret = -ENOMEM;
		goto out;
	}
	_zfs_ns_dir_add(ns, dir, d);
	i->nlink++;
	/* A name in another pool: the file may move there (ns.h, "Homes"). */
	zfs_plan_add(&pl, i, NULL, dir->pool, 1);
	zfs_plan_decide(ns, &pl);
	zfs_plan_apply(ns, &pl, &r);
	atomic_fetch_add(&i->nlookup, 1);
	_zfs_ns_ctime(i);
	zfs_dir_changed(dir);
	_zfs_ns_stat_locked(ns, i, st);
out:
	pthread_rwlock_unlock(&ns->lock);
	_zfs_ns_reap(ns, &r);
	zfs_plan_free(&pl);
	return ret;
}

/* Drop one name of inode i (whose entry was just removed).  A
 * non-directory's name is recorded in `pl` (room reserved) for
 * zfs_plan_decide: its home may lose its last name.  Caller must hold
 * ns->lock exclusively. */
static void zfs_drop_name(struct zfs_ns *ns, struct zfs_inode *dir, struct zfs_inode *i,
			  struct zfs_reap *r, struct zfs_plan *pl)
{
	if (S_ISDIR(i->mode)) {
		i->nlink = 0;
		dir->nlink--;
		dir->dx->nsubdirs--;
		if (zfs_is_pool_dir(i)) {
			i->pool->dir_gone = 1;
			ns->npools--;
		}
	} else {
		i->nlink--;
		zfs_plan_add(pl, i, dir->pool, NULL, 1);
	}
	_zfs_ns_ctime(i);
	_zfs_ns_maybe_reap(ns, i, r);
}

static int zfs_remove(struct zfs_ns *ns, uint64_t parent, const char *name, int want_dir)
{
	struct zfs_reap r = { NULL, NULL, 0 };
	struct zfs_inode *dir, *i;
	struct zfs_dirent *d;
	struct zfs_plan pl;
	int ret;

	if (strlen(name) > ZFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!strcmp(name, "."))
		return -EINVAL;
	if (!strcmp(name, ".."))
		return -ENOTEMPTY;
	zfs_plan_init(&pl);
	pthread_rwlock_wrlock(&ns->lock);
	ret = zfs_live_dir(ns, parent, &dir);
	if (ret < 0)
		goto out;
	d = _zfs_ns_dir_find(dir, name);
	if (!d) {
		ret = -ENOENT;
		goto out;
	}
	i = _zfs_ns_find(ns, d->ino);
	if (want_dir && !S_ISDIR(i->mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (!want_dir && S_ISDIR(i->mode)) {
		ret = -EISDIR;
		goto out;
	}
	if (want_dir && i->dx->dcount) {
		ret = -ENOTEMPTY;
		goto out;
	}
	_zfs_ns_dir_del(ns, dir, d);
	free(d);
	zfs_dir_changed(dir);
	zfs_drop_name(ns, dir, i, &r, &pl);
	zfs_plan_decide(ns, &pl);
	zfs_plan_apply(ns, &pl, &r);
out:
	pthread_rwlock_unlock(&ns->lock);
	_zfs_ns_reap(ns, &r);
	zfs_plan_free(&pl);
	return ret;
}

int zfs_ns_unlink(struct zfs_ns *ns, uint64_t parent, const char *name)
{
	return zfs_remove(ns, parent, name, 0);
}

int zfs_ns_rmdir(struct zfs_ns *ns, uint64_t parent, const char *name)
{
	return zfs_remove(ns, parent, name, 1);
}

/* Is `anc` the directory `ino` or one of its ancestors?  Caller must hold
 * ns->lock. */
static int zfs_is_ancestor(struct zfs_ns *ns, uint64_t anc, uint64_t ino)
{
	for (;;) {
		struct zfs_inode *d;

		if (ino == anc)
			return 1;
		if (ino == ZFS_ROOT_INO)
			return 0;
		d = _zfs_ns_find(ns, ino);
		if (!d)
			return 0;
		ino = d->dx->parent;
	}
}

/* Move a directory inode from one parent to another (link counts). */
static void zfs_reparent(struct zfs_inode *i, struct zfs_inode *from, struct zfs_inode *to)
{
	if (!S_ISDIR(i->mode) || from == to)
		return;
	i->dx->parent = to->ino;
	from->nlink--;
	from->dx->nsubdirs--;
	to->nlink++;
	to->dx->nsubdirs++;
}

static void zfs_rename_pool(struct zfs_inode *dir, struct zfs_inode *i, const char *name)
{
	if (dir->ino == ZFS_ROOT_INO && zfs_is_pool_dir(i))
		snprintf(i->pool->name, sizeof(i->pool->name), "%s", name);
}

int zfs_ns_rename(struct zfs_ns *ns, uint64_t parent, const char *name, uint64_t newparent,
		  const char *newname, unsigned flags, struct zfs_pool **newpool)
{
	struct zfs_reap r = { NULL, NULL, 0 };
	struct zfs_inode *sdir, *ddir, *si, *di = NULL;
	struct zfs_dirent *sd, *dd, *nd;
	struct zfs_mover ms, md;
	struct zfs_plan pl;
	int ret;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	if (strlen(name) > ZFS_NAME_MAX || strlen(newname) > ZFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(newname, ".") ||
	    !strcmp(newname, ".."))
		return -EBUSY;
	if (!*newname)
		return -ENOENT;
	zfs_plan_init(&pl);
	pthread_rwlock_wrlock(&ns->lock);
	ret = zfs_live_dir(ns, parent, &sdir);
	if (ret < 0)
		goto out;
	ret = zfs_live_dir(ns, newparent, &ddir);
	if (ret < 0)
		goto out;
	sd = _zfs_ns_dir_find(sdir, name);
	if (!sd) {
		ret = -ENOENT;
		goto out;
	}
	si = _zfs_ns_find(ns, sd->ino);
	dd = _zfs_ns_dir_find(ddir, newname);
	if (dd)
		di = _zfs_ns_find(ns, dd->ino);
	if (flags & RENAME_EXCHANGE) {
		if (!dd) {
			ret = -ENOENT;
			goto out;
		}
	} else if (dd && (flags & RENAME_NOREPLACE)) {
		ret = -EEXIST;
		goto out;
	}
	if (di == si) {
		ret = 0;	/* two names of one inode: nothing to do */
		goto out;
	}
	if (S_ISDIR(si->mode) && zfs_is_ancestor(ns, si->ino, ddir->ino)) {
		ret = -EINVAL;
		goto out;
	}
	if ((flags & RENAME_EXCHANGE) && S_ISDIR(di->mode) &&
	    zfs_is_ancestor(ns, di->ino, sdir->ino)) {
		ret = -EINVAL;
		goto out;
	}
	if (!(flags & RENAME_EXCHANGE) && di) {
		if (S_ISDIR(si->mode) && !S_ISDIR(di->mode)) {
			ret = -ENOTDIR;
			goto out;
		}
		if (!S_ISDIR(si->mode) && S_ISDIR(di->mode)) {
			ret = -EISDIR;
			goto out;
		}
		if (S_ISDIR(di->mode) && di->dx->dcount) {
			ret = -ENOTEMPTY;
			goto out;
		}
	}
	/* Pools (ns.h, "Pools and renames"): what moves where, and every
	 * allocation before anything changes, so a failure changes nothing. */
	zfs_mover_init(&ms, si, sdir, ddir);
	if (flags & RENAME_EXCHANGE)
		zfs_mover_init(&md, di, ddir, sdir);
	if ((!ms.to || ((flags & RENAME_EXCHANGE) && !md.to)) && (!newpool || !*newpool)) {
		ret = -ENOSPC;	/* a new pool is needed and the caller has none */
		goto out;
	}
	ret = zfs_mover_prepare(ns, &pl, &ms);
	if (ret == 0 && (flags & RENAME_EXCHANGE))
		ret = zfs_mover_prepare(ns, &pl, &md);
	if (ret == 0 && !(flags & RENAME_EXCHANGE) && di && !S_ISDIR(di->mode))
		ret = zfs_plan_reserve(&pl, 1);
	if (ret < 0)
		goto out;
	if (flags & RENAME_EXCHANGE) {
		/* Swap what the two entries point at. */
		sd->ino = di->ino;
		sd->type = di->mode & S_IFMT;
		dd->ino = si->ino;
		dd->type = si->mode & S_IFMT;
		if (sdir != ddir) {
			if (S_ISDIR(si->mode))
				zfs_reparent(si, sdir, ddir);
			if (S_ISDIR(di->mode))
				zfs_reparent(di, ddir, sdir);
		}
		zfs_rename_pool(ddir, si, newname);
		zfs_rename_pool(sdir, di, name);
		zfs_mover_apply(ns, &pl, &ms, newname, newpool, &r);
		zfs_mover_apply(ns, &pl, &md, name, newpool, &r);
		zfs_plan_decide(ns, &pl);
		zfs_plan_apply(ns, &pl, &r);
		_zfs_ns_ctime(si);
		_zfs_ns_ctime(di);
		zfs_dir_changed(sdir);
		zfs_dir_changed(ddir);
		goto out;
	}
	if (!dd) {
		ret = _zfs_ns_dir_reserve(ddir);
		if (ret < 0)
			goto out;
	}
	nd = _zfs_ns_dirent_new(newname, si->ino, si->mode);
	if (!nd) {
		ret = -ENOMEM;
		goto out;
	}
	if (dd) {
		_zfs_ns_dir_del(ns, ddir, dd);
		free(dd);
		zfs_drop_name(ns, ddir, di, &r, &pl);
	}
	_zfs_ns_dir_del(ns, sdir, sd);
	free(sd);
	_zfs_ns_dir_add(ns, ddir, nd);
	zfs_reparent(si, sdir, ddir);
	zfs_rename_pool(ddir, si, newname);
	zfs_mover_apply(ns, &pl, &ms, newname, newpool, &r);
	zfs_plan_decide(ns, &pl);
	zfs_plan_apply(ns, &pl, &r);
	_zfs_ns_ctime(si);
	zfs_dir_changed(sdir);
	if (ddir != sdir)
		zfs_dir_changed(ddir);
out:
	pthread_rwlock_unlock(&ns->lock);
	_zfs_ns_reap(ns, &r);
	zfs_plan_free(&pl);
	return ret;
}

/* ---- eviction -------------------------------------------------------------- */

static int zfs_in_sorted(const uint64_t *a, size_t n, uint64_t v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a[mid] == v)
			return 1;
		if (a[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

uint64_t zfs_ns_evict(struct zfs_ns *ns, const uint64_t *inos, size_t n,
		      void (*removed)(void *arg, uint64_t parent, const char *name, uint64_t ino),
		      void *arg)
{
	struct zfs_reap r = { NULL, NULL, 0 };
	uint64_t count = 0;
	size_t b, k;

	if (!n)
		return 0;
	pthread_rwlock_wrlock(&ns->lock);
	for (b = 0; b < ns->nbuckets; b++) {
		struct zfs_inode *dir;

		for (dir = ns->table[b]; dir; dir = dir->hnext) {
			if (!S_ISDIR(dir->mode))
				continue;
			for (k = 0; k < dir->dx->dcount;) {
				struct zfs_dirent *d = dir->dx->dents[k];
				struct zfs_inode *i;

				if (S_ISDIR(d->type) || !zfs_in_sorted(inos, n, d->ino)) {
					k++;
					continue;
				}
				i = _zfs_ns_find(ns, d->ino);
				if (removed)
					removed(arg, dir->ino, d->name, d->ino);
				_zfs_ns_dir_del(ns, dir, d);
				free(d);
				zfs_dir_changed(dir);
				if (i->nlink == 1)
					count++;
				/* The reap list reuses hnext: defer until the walk is done. */
				i->nlink--;
				if (dir->pool == i->pool)
					i->hnames--;
				_zfs_ns_ctime(i);
			}
		}
	}
	/* Now collect what lost its last reference. */
	for (k = 0; k < n; k++) {
		struct zfs_inode *i = _zfs_ns_find(ns, inos[k]);

		if (i && !S_ISDIR(i->mode))
			_zfs_ns_maybe_reap(ns, i, &r);
	}
	/* _zfs_ns_reap releases the data of inodes the kernel still knows after
	 * the lock drops, relying on no FORGET of them meanwhile; that holds
	 * for a request's own inode, not for eviction, which reaches files no
	 * request is about (a FORGET freed one under the release callback).
	 * So release them here, under the lock (ns->lock -> tmem locks is
	 * the documented order; tmem has already dropped their pages). */
	for (struct zfs_inode *i = r.data; i; i = i->rnext)
		_zfs_ns_release_data(ns, i);
	r.data = NULL;
	pthread_rwlock_unlock(&ns->lock);
	_zfs_ns_reap(ns, &r);
	return count;
}

