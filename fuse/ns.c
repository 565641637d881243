/* ns.c - the namespace of zcached: the inode table, directories, inodes
 * and their lifetime, lookups, attributes, listings and pools (see ns.h for
 * the design, the lock order and the contract; ns_int.h for what the
 * namespace's files share).
 *
 * Freeing is deferred: a function that drops the last reference to an
 * inode unhooks it from the table under ns->lock and puts it on a local
 * "reap" list; after the lock is dropped, the list is handed to
 * ops->inode_release (regular files), the inodes are freed, and then, under
 * the lock again, their pools lose a reference.  A pool whose directory is
 * gone and whose last reference went is released the same way.  So the
 * store is never called under ns->lock, and a pool outlives every release
 * of its inodes.
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

/* ---- small helpers --------------------------------------------------------- */

static uint64_t zfs_hash_name(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ull;
	}
	return h;
}

struct zfs_inode *_zfs_ns_find(struct zfs_ns *ns, uint64_t ino)
{
	struct zfs_inode *i = ns->table[_zfs_ns_hash_ino(ino) >> 32 & (ns->nbuckets - 1)];

	while (i && i->ino != ino)
		i = i->hnext;
	return i;
}

int _zfs_ns_table_grow(struct zfs_ns *ns)
{
	size_t n = ns->nbuckets * 2, b;
	struct zfs_inode **t = calloc(n, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (b = 0; b < ns->nbuckets; b++) {
		struct zfs_inode *i = ns->table[b], *next;

		for (; i; i = next) {
			size_t nb = _zfs_ns_hash_ino(i->ino) >> 32 & (n - 1);

			next = i->hnext;
			i->hnext = t[nb];
			t[nb] = i;
		}
	}
	free(ns->table);
	ns->table = t;
	ns->nbuckets = n;
	return 0;
}

void _zfs_ns_table_insert(struct zfs_ns *ns, struct zfs_inode *i)
{
	size_t b = _zfs_ns_hash_ino(i->ino) >> 32 & (ns->nbuckets - 1);

	i->hnext = ns->table[b];
	ns->table[b] = i;
	ns->ninodes++;
}

static void zfs_table_remove(struct zfs_ns *ns, struct zfs_inode *i)
{
	struct zfs_inode **pp = &ns->table[_zfs_ns_hash_ino(i->ino) >> 32 & (ns->nbuckets - 1)];

	while (*pp != i)
		pp = &(*pp)->hnext;
	*pp = i->hnext;
	i->hnext = NULL;
	ns->ninodes--;
}

/* ---- directories ----------------------------------------------------------- */

struct zfs_dirent *_zfs_ns_dir_find(struct zfs_inode *dir, const char *name)
{
	size_t n = strlen(name);
	struct zfs_dirent *d;

	if (!dir->dx->dnbuckets)
		return NULL;
	d = dir->dx->dbuckets[zfs_hash_name(name, n) & (dir->dx->dnbuckets - 1)];
	for (; d; d = d->hnext)
		if (d->namelen == n && !memcmp(d->name, name, n))
			return d;
	return NULL;
}

/* Make room for one more entry (both indexes) before anything changes. */
int _zfs_ns_dir_reserve(struct zfs_inode *dir)
{
	if (dir->dx->dcount + 1 > dir->dx->dcap) {
		size_t cap = dir->dx->dcap ? dir->dx->dcap * 2 : 8;
		struct zfs_dirent **a = realloc(dir->dx->dents, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		dir->dx->dents = a;
		dir->dx->dcap = cap;
	}
	if (dir->dx->dcount + 1 > dir->dx->dnbuckets) {
		size_t n = dir->dx->dnbuckets ? dir->dx->dnbuckets * 2 : 8, k;
		struct zfs_dirent **t = calloc(n, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (k = 0; k < dir->dx->dcount; k++) {
			struct zfs_dirent *d = dir->dx->dents[k];
			size_t b = zfs_hash_name(d->name, d->namelen) & (n - 1);

			d->hnext = t[b];
			t[b] = d;
		}
		free(dir->dx->dbuckets);
		dir->dx->dbuckets = t;
		dir->dx->dnbuckets = n;
	}
	return 0;
}

struct zfs_dirent *_zfs_ns_dirent_new(const char *name, uint64_t ino, mode_t type)
{
	size_t n = strlen(name);
	struct zfs_dirent *d = malloc(ZFS_DIRENT_SIZE(n));

	if (!d)
		return NULL;
	d->hnext = NULL;
	d->ino = ino;
	d->cookie = 0;
	d->type = (uint16_t)(type & S_IFMT);
	d->namelen = (uint16_t)n;
	memcpy(d->name, name, n + 1);
	return d;
}

/* Add an entry; _zfs_ns_dir_reserve must have succeeded just before. */
void _zfs_ns_dir_add(struct zfs_ns *ns, struct zfs_inode *dir, struct zfs_dirent *d)
{
	size_t b = zfs_hash_name(d->name, d->namelen) & (dir->dx->dnbuckets - 1);

	d->cookie = dir->dx->dnext_cookie++;
	d->hnext = dir->dx->dbuckets[b];
	dir->dx->dbuckets[b] = d;
	dir->dx->dents[dir->dx->dcount++] = d;
	ns->dirent_bytes += ZFS_DIRENT_SIZE(d->namelen);
}

static size_t zfs_dir_index(struct zfs_inode *dir, uint64_t cookie)
{
	size_t lo = 0, hi = dir->dx->dcount;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (dir->dx->dents[mid]->cookie < cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Unhook an entry from both indexes (the caller frees it). */
void _zfs_ns_dir_del(struct zfs_ns *ns, struct zfs_inode *dir, struct zfs_dirent *d)
{
	struct zfs_dirent **pp = &dir->dx->dbuckets[zfs_hash_name(d->name, d->namelen) &
						(dir->dx->dnbuckets - 1)];
	size_t k;

	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	k = zfs_dir_index(dir, d->cookie);
	memmove(&dir->dx->dents[k], &dir->dx->dents[k + 1], (dir->dx->dcount - k - 1) * sizeof(d));
	dir->dx->dcount--;
	ns->dirent_bytes -= ZFS_DIRENT_SIZE(d->namelen);
}

/* ---- inodes ---------------------------------------------------------------- */

struct zfs_inode *_zfs_ns_inode_new(struct zfs_ns *ns, mode_t mode, uid_t uid, gid_t gid,
				       dev_t rdev)
{
	struct zfs_inode *i = calloc(1, sizeof(*i));

	if (!i)
		return NULL;
	if (S_ISDIR(mode)) {
		i->dx = calloc(1, sizeof(*i->dx));
		if (!i->dx) {
			free(i);
			return NULL;
		}
		i->dx->dnext_cookie = ZFS_FIRST_COOKIE;
	}
	i->ino = ns->next_ino;
	i->stripe = &ns->stripes[_zfs_ns_hash_ino(i->ino) >> 40 & (ZFS_NS_STRIPES - 1)];
	i->mode = mode;
	i->uid = uid;
	i->gid = gid;
	i->rdev = (uint32_t)rdev;
	_zfs_ns_now(&i->atime);
	i->mtime = i->ctime = i->atime;
	atomic_init(&i->nlookup, 0);
	atomic_init(&i->nopen, 0);
	return i;
}

void _zfs_ns_inode_free(struct zfs_inode *i)
{
	struct zfs_xattr *x, *xn;
	size_t k;

	for (x = i->xattrs; x; x = xn) {
		xn = x->next;
		free(x->value);
		free(x);
	}
	if (S_ISDIR(i->mode) && i->dx) {
		for (k = 0; k < i->dx->dcount; k++)
			free(i->dx->dents[k]);
		free(i->dx->dents);
		free(i->dx->dbuckets);
		free(i->dx);
	}
	if (S_ISLNK(i->mode))
		free(i->symlink);
	free(i);
}

void zfs_ns_keep_known(struct zfs_ns *ns)
{
	ns->keep_known = 1;
}

/* Caller must hold ns->lock exclusively. */
void _zfs_ns_maybe_reap(struct zfs_ns *ns, struct zfs_inode *i, struct zfs_reap *r)
{
	if (i->nlink || atomic_load(&i->nopen))
		return;
	if (atomic_load(&i->nlookup) && ns->keep_known)
		return;	/* maybe open: its data stays until the FORGET */
	if (atomic_load(&i->nlookup)) {
		/* Unreachable but still known to the kernel: drop the data now. */
		if (S_ISREG(i->mode) && !i->data_released) {
			i->data_released = 1;
			i->rnext = r->data;
			r->data = i;
		}
		return;
	}
	if (i->ino == ZFS_ROOT_INO)
		return;
	zfs_table_remove(ns, i);
	ns->count[_zfs_ns_type_index(i->mode)]--;
	for (struct zfs_xattr *x = i->xattrs; x; x = x->next) {
		ns->xattr_bytes -= strlen(x->name) + x->size;
		if (!strcmp(x->name, ZFS_XATTR_CAPS))
			atomic_fetch_sub(&ns->ncaps, 1);
	}
	i->hnext = r->inodes;
	r->inodes = i;
}

/* A regular file's data is gone for good: tell the filesystem layer, and
 * count the file out of its pool (its home cannot change any more: it has
 * no name). */
void _zfs_ns_release_data(struct zfs_ns *ns, struct zfs_inode *i)
{
	if (ns->ops.inode_release)
		ns->ops.inode_release(ns->priv, i);
	atomic_fetch_sub(&i->pool->files, 1);
}

/* Run after dropping ns->lock: release, free, then unreference pools. */
void _zfs_ns_reap(struct zfs_ns *ns, struct zfs_reap *r)
{
	struct zfs_inode *i, *next;
	struct zfs_pool *dead = NULL, *p, **pp;
	struct zfs_pool *pools[64];
	size_t np = 0, k;

	/* Data releases: the inodes stay (the kernel still knows them), and
	 * cannot be freed meanwhile: only forget frees them, and forget of an
	 * inode comes after every request about it. */
	for (i = r->data; i; i = next) {
		next = i->rnext;
		_zfs_ns_release_data(ns, i);
	}
	r->data = NULL;
	if (!r->inodes && !r->pools)
		return;
	for (i = r->inodes; i; i = next) {
		next = i->hnext;
		if (S_ISREG(i->mode) && !i->data_released)
			_zfs_ns_release_data(ns, i);
		if (np == 64) {
			/* Unreference in batches (the lock is cheap). */
			pthread_rwlock_wrlock(&ns->lock);
			for (k = 0; k < np; k++)
				pools[k]->refs--;
			np = 0;
			pthread_rwlock_unlock(&ns->lock);
		}
		pools[np++] = i->pool;
		_zfs_ns_inode_free(i);
	}
	pthread_rwlock_wrlock(&ns->lock);
	for (k = 0; k < np; k++)
		pools[k]->refs--;
	for (pp = &ns->pools; (p = *pp);) {
		if (p->dir_gone && p->refs == 0) {
			*pp = p->next;
			p->next = dead;
			dead = p;
		} else {
			pp = &p->next;
		}
	}
	pthread_rwlock_unlock(&ns->lock);
	while (dead) {
		p = dead;
		dead = p->next;
		if (ns->ops.pool_release)
			ns->ops.pool_release(ns->priv, p);
		free(p);
	}
	r->inodes = NULL;
	r->pools = 0;
}

/* ---- create / destroy ------------------------------------------------------ */

struct zfs_ns *zfs_ns_create(struct zfs_pool *root_pool, uid_t uid, gid_t gid,
			     const struct zfs_ns_ops *ops, void *priv,
			     const char *virt_name, uint64_t virt_ino)
{
	struct zfs_ns *ns = calloc(1, sizeof(*ns));
	struct zfs_inode *root;

	size_t k;

	if (!ns)
		return NULL;
	for (k = 0; k < ZFS_NS_STRIPES; k++) {
		pthread_mutex_init(&ns->stripes[k].lock, NULL);
		pthread_rwlock_init(&ns->stripes[k].io_lock, NULL);
	}
	if (pthread_rwlock_init(&ns->lock, NULL))
		goto err_free;
	ns->nbuckets = 1024;
	ns->table = calloc(ns->nbuckets, sizeof(*ns->table));
	if (!ns->table)
		goto err_lock;
	if (virt_name) {
		ns->virt_name = strdup(virt_name);
		if (!ns->virt_name)
			goto err_table;
		ns->virt_ino = virt_ino;
	}
	if (ops)
		ns->ops = *ops;
	ns->priv = priv;
	ns->next_ino = ZFS_ROOT_INO;
	root = _zfs_ns_inode_new(ns, S_IFDIR | 0755, uid, gid, 0);
	if (!root)
		goto err_virt;
	ns->next_ino = ZFS_ROOT_INO + 1;
	root->nlink = 2;
	root->dx->parent = ZFS_ROOT_INO;
	root->pool = root_pool;
	root_pool->id = 0;
	root_pool->dir_ino = ZFS_ROOT_INO;
	root_pool->refs = 1;
	root_pool->dir_gone = 0;
	root_pool->name[0] = '\0';
	root_pool->next = NULL;
	ns->pools = root_pool;
	ns->npools = 1;
	ns->next_pool_id = 1;
	_zfs_ns_table_insert(ns, root);
	ns->count[1] = 1;
	return ns;
err_virt:
	free(ns->virt_name);
err_table:
	free(ns->table);
err_lock:
	pthread_rwlock_destroy(&ns->lock);
err_free:
	free(ns);
	errno = ENOMEM;
	return NULL;
}

void zfs_ns_destroy(struct zfs_ns *ns)
{
	size_t b;
	struct zfs_pool *p, *pn;

	if (!ns)
		return;
	for (b = 0; b < ns->nbuckets; b++) {
		struct zfs_inode *i, *next;

		for (i = ns->table[b]; i; i = next) {
			next = i->hnext;
			_zfs_ns_inode_free(i);
		}
	}
	for (p = ns->pools; p; p = pn) {
		pn = p->next;
		free(p);
	}
	free(ns->table);
	free(ns->virt_name);
	pthread_rwlock_destroy(&ns->lock);
	for (b = 0; b < ZFS_NS_STRIPES; b++) {
		pthread_mutex_destroy(&ns->stripes[b].lock);
		pthread_rwlock_destroy(&ns->stripes[b].io_lock);
	}
	free(ns);
}

/* ---- lookups and attributes ------------------------------------------------ */

struct zfs_inode *zfs_ns_get(struct zfs_ns *ns, uint64_t ino)
{
	struct zfs_inode *i;

	pthread_rwlock_rdlock(&ns->lock);
	i = _zfs_ns_find(ns, ino);
	pthread_rwlock_unlock(&ns->lock);
	return i;
}

/* Caller must hold ns->lock (nlink). */
void _zfs_ns_stat_locked(struct zfs_ns *ns, struct zfs_inode *i, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = i->ino;
	st->st_nlink = i->nlink;
	if (i->ino == ZFS_ROOT_INO && ns && ns->virt_name)
		st->st_nlink++;
	st->st_rdev = i->rdev;
	st->st_blksize = 4096;
	pthread_mutex_lock(&i->stripe->lock);
	st->st_mode = i->mode;
	st->st_uid = i->uid;
	st->st_gid = i->gid;
	st->st_size = (off_t)i->size;
	st->st_atim = i->atime;
	st->st_mtim = i->mtime;
	st->st_ctim = i->ctime;
	pthread_mutex_unlock(&i->stripe->lock);
	if (S_ISDIR(i->mode))
		st->st_size = (off_t)(i->dx->dcount + 2) * 20;
	else if (S_ISLNK(i->mode))
		st->st_size = (off_t)strlen(i->symlink);
	/* Blocks: what the data would take uncompressed, as tmpfs reports;
	 * ops->blocks overrides this with the pages actually stored. */
	st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
	if (S_ISREG(i->mode) && ns && ns->ops.blocks)
		st->st_blocks = (blkcnt_t)ns->ops.blocks(ns->priv, i);
}

void zfs_ns_stat(struct zfs_ns *ns, struct zfs_inode *inode, struct stat *st)
{
	pthread_rwlock_rdlock(&ns->lock);
	_zfs_ns_stat_locked(ns, inode, st);
	pthread_rwlock_unlock(&ns->lock);
}

int zfs_ns_lookup(struct zfs_ns *ns, uint64_t parent, const char *name, struct stat *st)
{
	struct zfs_inode *dir, *i;
	struct zfs_dirent *d;
	int ret = 0;

	if (strlen(name) > ZFS_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_rwlock_rdlock(&ns->lock);
	dir = _zfs_ns_find(ns, parent);
	if (!dir) {
		ret = -ENOENT;
		goto out;
	}
	if (!S_ISDIR(dir->mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		i = _zfs_ns_find(ns, name[1] ? dir->dx->parent : dir->ino);
	} else {
		d = _zfs_ns_dir_find(dir, name);
		i = d ? _zfs_ns_find(ns, d->ino) : NULL;
	}
	if (!i) {
		ret = -ENOENT;
		goto out;
	}
	atomic_fetch_add(&i->nlookup, 1);
	_zfs_ns_stat_locked(ns, i, st);
out:
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}

void zfs_ns_forget(struct zfs_ns *ns, uint64_t ino, uint64_t n)
{
	struct zfs_reap r = { NULL, NULL, 0 };
	struct zfs_inode *i;

	pthread_rwlock_wrlock(&ns->lock);
	i = _zfs_ns_find(ns, ino);
	if (i) {
		uint64_t cur = atomic_load(&i->nlookup);

		atomic_store(&i->nlookup, cur > n ? cur - n : 0);
		_zfs_ns_maybe_reap(ns, i, &r);
	}
	pthread_rwlock_unlock(&ns->lock);
	_zfs_ns_reap(ns, &r);
}

void zfs_ns_open(struct zfs_ns *ns, struct zfs_inode *inode)
{
	(void)ns;
	atomic_fetch_add(&inode->nopen, 1);
}

void zfs_ns_release(struct zfs_ns *ns, struct zfs_inode *inode)
{
	struct zfs_reap r = { NULL, NULL, 0 };
	uint32_t cur;

	/* A file that still has a name is not reaped whatever its counts, so
	 * the shared lock suffices to lower nopen: reaping decisions are made
	 * under the exclusive lock, which this excludes.  Every close of an
	 * untar or a read-all takes this path. */
	pthread_rwlock_rdlock(&ns->lock);
	if (inode->nlink) {
		cur = atomic_load(&inode->nopen);
		while (cur && !atomic_compare_exchange_weak(&inode->nopen, &cur, cur - 1))
			;
		pthread_rwlock_unlock(&ns->lock);
		return;
	}
	pthread_rwlock_unlock(&ns->lock);
	pthread_rwlock_wrlock(&ns->lock);
	if (atomic_load(&inode->nopen))
		atomic_fetch_sub(&inode->nopen, 1);
	_zfs_ns_maybe_reap(ns, inode, &r);
	pthread_rwlock_unlock(&ns->lock);
	_zfs_ns_reap(ns, &r);
}

int zfs_ns_readlink(struct zfs_ns *ns, uint64_t ino, char *buf, size_t size)
{
	struct zfs_inode *i;
	int ret = 0;

	pthread_rwlock_rdlock(&ns->lock);
	i = _zfs_ns_find(ns, ino);
	if (!i)
		ret = -ENOENT;
	else if (!S_ISLNK(i->mode))
		ret = -EINVAL;
	else if (strlen(i->symlink) + 1 > size)
		ret = -ERANGE;
	else
		memcpy(buf, i->symlink, strlen(i->symlink) + 1);
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}

int zfs_ns_fill_entry(zfs_ns_filldir_fn fill, void *arg, const char *name, uint64_t ino,
		      mode_t type, uint64_t next)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = type;
	return fill(arg, name, &st, next, 0);
}

int zfs_ns_readdir(struct zfs_ns *ns, uint64_t ino, uint64_t off, int plus,
		   zfs_ns_filldir_fn fill, void *arg)
{
	struct zfs_inode *dir;
	size_t k;
	int ret = 0;

	pthread_rwlock_rdlock(&ns->lock);
	dir = _zfs_ns_find(ns, ino);
	if (!dir) {
		ret = -ENOENT;
		goto out;
	}
	if (!S_ISDIR(dir->mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (off < 1 && zfs_ns_fill_entry(fill, arg, ".", dir->ino, S_IFDIR, 1))
		goto out;
	if (off < 2 && zfs_ns_fill_entry(fill, arg, "..", dir->dx->parent, S_IFDIR, 2))
		goto out;
	if (off < 3 && ino == ZFS_ROOT_INO && ns->virt_name &&
	    zfs_ns_fill_entry(fill, arg, ns->virt_name, ns->virt_ino, S_IFDIR, 3))
		goto out;
	for (k = zfs_dir_index(dir, off < 3 ? 3 : off + 1); k < dir->dx->dcount; k++) {
		struct zfs_dirent *d = dir->dx->dents[k];
		struct zfs_inode *i;
		struct stat st;

		if (!plus) {
			if (zfs_ns_fill_entry(fill, arg, d->name, d->ino, d->type, d->cookie))
				break;
			continue;
		}
		i = _zfs_ns_find(ns, d->ino);
		_zfs_ns_stat_locked(ns, i, &st);
		if (fill(arg, d->name, &st, d->cookie, ZFS_DIRENT_ATTRS))
			break;
		atomic_fetch_add(&i->nlookup, 1);
	}
out:
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}

/* ---- attributes ------------------------------------------------------------ */

int zfs_ns_setattr(struct zfs_ns *ns, uint64_t ino, const struct stat *attr, int to_set,
		   struct stat *st)
{
	struct zfs_inode *i;
	struct timespec now;

	pthread_rwlock_rdlock(&ns->lock);
	i = _zfs_ns_find(ns, ino);
	if (!i) {
		pthread_rwlock_unlock(&ns->lock);
		return -ENOENT;
	}
	_zfs_ns_now(&now);
	pthread_mutex_lock(&i->stripe->lock);
	if (to_set & FUSE_SET_ATTR_MODE)
		i->mode = (i->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		i->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		i->gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		i->atime = now;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		i->atime = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		i->mtime = now;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		i->mtime = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_CTIME)
		i->ctime = attr->st_ctim;
	else
		i->ctime = now;
	pthread_mutex_unlock(&i->stripe->lock);
	_zfs_ns_stat_locked(ns, i, st);
	pthread_rwlock_unlock(&ns->lock);
	return 0;
}

void zfs_ns_set_size(struct zfs_inode *inode, uint64_t size)
{
	pthread_mutex_lock(&inode->stripe->lock);
	inode->size = size;
	_zfs_ns_now(&inode->mtime);
	inode->ctime = inode->mtime;
	inode->dense = 0;
	pthread_mutex_unlock(&inode->stripe->lock);
}

void zfs_ns_touch(struct zfs_inode *inode, int mtime)
{
	pthread_mutex_lock(&inode->stripe->lock);
	if (mtime) {
		_zfs_ns_now(&inode->mtime);
		inode->ctime = inode->mtime;
		inode->dense = 0;
	} else {
		_zfs_ns_now(&inode->atime);
	}
	pthread_mutex_unlock(&inode->stripe->lock);
}

void zfs_ns_kill_suid(struct zfs_inode *inode, int always, uid_t caller)
{
	if (S_ISDIR(inode->mode) || (!always && (!S_ISREG(inode->mode) || caller == 0)))
		return;
	pthread_mutex_lock(&inode->stripe->lock);
	if (inode->mode & S_ISUID)
		inode->mode &= ~(mode_t)S_ISUID;
	if ((inode->mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		inode->mode &= ~(mode_t)S_ISGID;
	pthread_mutex_unlock(&inode->stripe->lock);
}

/* ---- pools ----------------------------------------------------------------- */

struct zfs_pool *zfs_ns_pool_of_dir(struct zfs_ns *ns, uint64_t ino)
{
	struct zfs_inode *i;
	struct zfs_pool *p = NULL;

	pthread_rwlock_rdlock(&ns->lock);
	i = _zfs_ns_find(ns, ino);
	if (i && S_ISDIR(i->mode) && i->pool->dir_ino == ino)
		p = i->pool;
	pthread_rwlock_unlock(&ns->lock);
	return p;
}

void zfs_ns_pool_lock(struct zfs_ns *ns)
{
	pthread_rwlock_wrlock(&ns->lock);
}

void zfs_ns_pool_unlock(struct zfs_ns *ns)
{
	pthread_rwlock_unlock(&ns->lock);
}

int zfs_ns_pool_empty(struct zfs_ns *ns, struct zfs_pool *pool)
{
	struct zfs_inode *dir;

	if (pool->refs > 1)
		return 0;
	/* Names of files at home elsewhere count too (they live in the pool
	 * by the rule of homes, which a change of kind would break). */
	dir = _zfs_ns_find(ns, pool->dir_ino);
	if (!dir || !S_ISDIR(dir->mode))
		return 1;
	for (size_t k = 0; k < dir->dx->dcount; k++)
		if (dir->ino != ZFS_ROOT_INO || !S_ISDIR(dir->dx->dents[k]->type))
			return 0;	/* (the root's directories are pools of their own) */
	return 1;
}

int zfs_ns_pools_foreach(struct zfs_ns *ns, int (*fn)(void *arg, struct zfs_pool *pool),
			 void *arg)
{
	struct zfs_pool *p;
	int ret = 0;

	pthread_rwlock_rdlock(&ns->lock);
	for (p = ns->pools; p && !ret; p = p->next)
		if (!p->dir_gone)
			ret = fn(arg, p);
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}

int zfs_ns_pool_with(struct zfs_ns *ns, uint64_t id, int (*fn)(void *arg, struct zfs_pool *pool),
		     void *arg)
{
	struct zfs_pool *p;
	int ret = -ENOENT;

	pthread_rwlock_rdlock(&ns->lock);
	for (p = ns->pools; p; p = p->next)
		if (p->id == id && !p->dir_gone) {
			ret = fn(arg, p);
			break;
		}
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}

void zfs_ns_stats(struct zfs_ns *ns, struct zfs_ns_stats *out)
{
	pthread_rwlock_rdlock(&ns->lock);
	out->inodes = ns->ninodes;
	out->files = ns->count[0];
	out->dirs = ns->count[1];
	out->symlinks = ns->count[2];
	out->others = ns->count[3];
	out->pools = ns->npools;
	out->xattr_bytes = ns->xattr_bytes;
	out->meta_bytes = ns->ninodes * sizeof(struct zfs_inode) +
			  ns->count[1] * sizeof(struct zfs_dir) + ns->dirent_bytes +
			  ns->nbuckets * sizeof(void *) + ns->xattr_bytes;
	pthread_rwlock_unlock(&ns->lock);
}

