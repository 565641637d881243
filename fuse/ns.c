/* ns.c - the namespace of zcached: inodes, directories, links, xattrs,
 * pools (see ns.h for the design, the lock order and the contract).
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
#include "fuse/ns.h"

#include <assert.h>
#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

/* One per name; the name follows the 28-byte header unpadded. */
struct zfs_dirent {
	struct zfs_dirent *hnext;	/* name hash chain */
	uint64_t ino;
	uint64_t cookie;
	uint16_t namelen;		/* <= ZFS_NAME_MAX */
	uint16_t type;			/* S_IFMT bits of the inode */
	char name[];
};

#define ZFS_DIRENT_SIZE(n) (offsetof(struct zfs_dirent, name) + (n) + 1)
static_assert(ZFS_NAME_MAX <= UINT16_MAX && (S_IFMT >> 16) == 0, "dirent fields too small");
static_assert(sizeof(struct zfs_inode) == 152, "zfs_inode grew (3 spare bytes at its end)");

struct zfs_ns {
	struct zfs_stripe stripes[ZFS_NS_STRIPES];	/* the inodes' locks */
	pthread_rwlock_t lock;
	struct zfs_inode **table;	/* protected by lock */
	size_t nbuckets;		/* power of two; protected by lock */
	uint64_t ninodes;		/* protected by lock */
	uint64_t next_ino;		/* protected by lock */
	uint64_t next_pool_id;		/* protected by lock */
	struct zfs_pool *pools;		/* protected by lock */
	uint64_t npools;		/* live pools; protected by lock */
	uint64_t count[4];		/* files, dirs, symlinks, others; protected by lock */
	uint64_t xattr_bytes;		/* protected by lock */
	uint64_t dirent_bytes;		/* protected by lock */
	_Atomic uint64_t ncaps;		/* security.capability attributes held;
					   changed under lock held, read without */
	struct zfs_ns_ops ops;		/* immutable */
	void *priv;			/* immutable */
	char *virt_name;		/* immutable */
	uint64_t virt_ino;		/* immutable */
};

struct zfs_reap {
	struct zfs_inode *inodes;	/* to free, chained through hnext */
	struct zfs_inode *data;		/* to release data only, chained through rnext */
	int pools;			/* a pool may have lost its last reference */
};

#define ZFS_FIRST_COOKIE 4

/* ---- small helpers --------------------------------------------------------- */

static uint64_t zfs_hash_ino(uint64_t ino)
{
	return ino * 0x9e3779b97f4a7c15ull;
}

static uint64_t zfs_hash_name(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static void zfs_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static int zfs_type_index(mode_t mode)
{
	if (S_ISREG(mode))
		return 0;
	if (S_ISDIR(mode))
		return 1;
	if (S_ISLNK(mode))
		return 2;
	return 3;
}

static struct zfs_inode *zfs_find(struct zfs_ns *ns, uint64_t ino)
{
	struct zfs_inode *i = ns->table[zfs_hash_ino(ino) >> 32 & (ns->nbuckets - 1)];

	while (i && i->ino != ino)
		i = i->hnext;
	return i;
}

static int zfs_table_grow(struct zfs_ns *ns)
{
	size_t n = ns->nbuckets * 2, b;
	struct zfs_inode **t = calloc(n, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (b = 0; b < ns->nbuckets; b++) {
		struct zfs_inode *i = ns->table[b], *next;

		for (; i; i = next) {
			size_t nb = zfs_hash_ino(i->ino) >> 32 & (n - 1);

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

static void zfs_table_insert(struct zfs_ns *ns, struct zfs_inode *i)
{
	size_t b = zfs_hash_ino(i->ino) >> 32 & (ns->nbuckets - 1);

	i->hnext = ns->table[b];
	ns->table[b] = i;
	ns->ninodes++;
}

static void zfs_table_remove(struct zfs_ns *ns, struct zfs_inode *i)
{
	struct zfs_inode **pp = &ns->table[zfs_hash_ino(i->ino) >> 32 & (ns->nbuckets - 1)];

	while (*pp != i)
		pp = &(*pp)->hnext;
	*pp = i->hnext;
	i->hnext = NULL;
	ns->ninodes--;
}

/* ---- directories ----------------------------------------------------------- */

static struct zfs_dirent *zfs_dir_find(struct zfs_inode *dir, const char *name)
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
static int zfs_dir_reserve(struct zfs_inode *dir)
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

static struct zfs_dirent *zfs_dirent_new(const char *name, uint64_t ino, mode_t type)
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

/* Add an entry; zfs_dir_reserve must have succeeded just before. */
static void zfs_dir_add(struct zfs_ns *ns, struct zfs_inode *dir, struct zfs_dirent *d)
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
static void zfs_dir_del(struct zfs_ns *ns, struct zfs_inode *dir, struct zfs_dirent *d)
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

static struct zfs_inode *zfs_inode_new(struct zfs_ns *ns, mode_t mode, uid_t uid, gid_t gid,
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
	i->stripe = &ns->stripes[zfs_hash_ino(i->ino) >> 40 & (ZFS_NS_STRIPES - 1)];
	i->mode = mode;
	i->uid = uid;
	i->gid = gid;
	i->rdev = (uint32_t)rdev;
	zfs_now(&i->atime);
	i->mtime = i->ctime = i->atime;
	atomic_init(&i->nlookup, 0);
	atomic_init(&i->nopen, 0);
	return i;
}

static void zfs_inode_free(struct zfs_inode *i)
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

/* Caller must hold ns->lock exclusively. */
static void zfs_maybe_reap(struct zfs_ns *ns, struct zfs_inode *i, struct zfs_reap *r)
{
	if (i->nlink || atomic_load(&i->nopen))
		return;
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
	ns->count[zfs_type_index(i->mode)]--;
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
static void zfs_release_data(struct zfs_ns *ns, struct zfs_inode *i)
{
	if (ns->ops.inode_release)
		ns->ops.inode_release(ns->priv, i);
	atomic_fetch_sub(&i->pool->files, 1);
}

/* Run after dropping ns->lock: release, free, then unreference pools. */
static void zfs_reap(struct zfs_ns *ns, struct zfs_reap *r)
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
		zfs_release_data(ns, i);
	}
	r->data = NULL;
	if (!r->inodes && !r->pools)
		return;
	for (i = r->inodes; i; i = next) {
		next = i->hnext;
		if (S_ISREG(i->mode) && !i->data_released)
			zfs_release_data(ns, i);
		if (np == 64) {
			/* Unreference in batches (the lock is cheap). */
			pthread_rwlock_wrlock(&ns->lock);
			for (k = 0; k < np; k++)
				pools[k]->refs--;
			np = 0;
			pthread_rwlock_unlock(&ns->lock);
		}
		pools[np++] = i->pool;
		zfs_inode_free(i);
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
	root = zfs_inode_new(ns, S_IFDIR | 0755, uid, gid, 0);
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
	zfs_table_insert(ns, root);
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
			zfs_inode_free(i);
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
	i = zfs_find(ns, ino);
	pthread_rwlock_unlock(&ns->lock);
	return i;
}

/* Caller must hold ns->lock (nlink). */
static void zfs_stat_locked(struct zfs_ns *ns, struct zfs_inode *i, struct stat *st)
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
	 * zfs.c overrides this with the pages actually stored. */
	st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
	if (S_ISREG(i->mode) && ns && ns->ops.blocks)
		st->st_blocks = (blkcnt_t)ns->ops.blocks(ns->priv, i);
}

void zfs_ns_stat(struct zfs_ns *ns, struct zfs_inode *inode, struct stat *st)
{
	pthread_rwlock_rdlock(&ns->lock);
	zfs_stat_locked(ns, inode, st);
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
	dir = zfs_find(ns, parent);
	if (!dir) {
		ret = -ENOENT;
		goto out;
	}
	if (!S_ISDIR(dir->mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		i = zfs_find(ns, name[1] ? dir->dx->parent : dir->ino);
	} else {
		d = zfs_dir_find(dir, name);
		i = d ? zfs_find(ns, d->ino) : NULL;
	}
	if (!i) {
		ret = -ENOENT;
		goto out;
	}
	atomic_fetch_add(&i->nlookup, 1);
	zfs_stat_locked(ns, i, st);
out:
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}

void zfs_ns_forget(struct zfs_ns *ns, uint64_t ino, uint64_t n)
{
	struct zfs_reap r = { NULL, NULL, 0 };
	struct zfs_inode *i;

	pthread_rwlock_wrlock(&ns->lock);
	i = zfs_find(ns, ino);
	if (i) {
		uint64_t cur = atomic_load(&i->nlookup);

		atomic_store(&i->nlookup, cur > n ? cur - n : 0);
		zfs_maybe_reap(ns, i, &r);
	}
	pthread_rwlock_unlock(&ns->lock);
	zfs_reap(ns, &r);
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
	zfs_maybe_reap(ns, inode, &r);
	pthread_rwlock_unlock(&ns->lock);
	zfs_reap(ns, &r);
}

/* ---- making and removing names ------------------------------------------- */

static void zfs_dir_changed(struct zfs_inode *dir)
{
	pthread_mutex_lock(&dir->stripe->lock);
	zfs_now(&dir->mtime);
	dir->ctime = dir->mtime;
	pthread_mutex_unlock(&dir->stripe->lock);
}

static void zfs_ctime(struct zfs_inode *i)
{
	pthread_mutex_lock(&i->stripe->lock);
	zfs_now(&i->ctime);
	pthread_mutex_unlock(&i->stripe->lock);
}

/* Find a live directory; caller must hold ns->lock. */
static int zfs_live_dir(struct zfs_ns *ns, uint64_t ino, struct zfs_inode **out)
{
	struct zfs_inode *dir = zfs_find(ns, ino);

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
	if (zfs_dir_find(dir, name) ||
	    (parent == ZFS_ROOT_INO && ns->virt_name && !strcmp(name, ns->virt_name))) {
		ret = -EEXIST;
		goto err_unlock;
	}
	if (S_ISDIR(mode) && dir->nlink >= UINT32_MAX - 1) {
		ret = -EMLINK;
		goto err_unlock;
	}
	if (ns->ninodes + 1 > ns->nbuckets * 2) {
		ret = zfs_table_grow(ns);
		if (ret < 0)
			goto err_unlock;
	}
	ret = zfs_dir_reserve(dir);
	if (ret < 0)
		goto err_unlock;
	i = zfs_inode_new(ns, mode, uid, gid, rdev);
	if (!i) {
		ret = -ENOMEM;
		goto err_unlock;
	}
	d = zfs_dirent_new(name, i->ino, mode);
	if (!d) {
		zfs_inode_free(i);
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
	zfs_table_insert(ns, i);
	ns->count[zfs_type_index(mode)]++;
	zfs_dir_add(ns, dir, d);
	zfs_dir_changed(dir);
	atomic_store(&i->nlookup, 1);
	zfs_stat_locked(ns, i, st);
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
				ret = zfs_plan_push_dir(pl, zfs_find(ns, de->ino));
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
				zfs_plan_add(pl, zfs_find(ns, de->ino), mv->from, mv->to, 1);
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
	i = zfs_find(ns, ino);
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
	if (zfs_dir_find(dir, newname) ||
	    (newparent == ZFS_ROOT_INO && ns->virt_name && !strcmp(newname, ns->virt_name))) {
		ret = -EEXIST;
		goto out;
	}
	if (i->nlink == 0 && atomic_load(&i->nopen) == 0) {
		ret = -ENOENT;
		goto out;
	}
	if (i->nlink >= UINT32_MAX) {
		ret = -EMLINK;
		goto out;
	}
	ret = zfs_dir_reserve(dir);
	if (ret < 0)
		goto out;
	d = zfs_dirent_new(newname, i->ino, i->mode);
	if (!d) {
		ret = -ENOMEM;
		goto out;
	}
	zfs_dir_add(ns, dir, d);
	i->nlink++;
	/* A name in another pool: the file may move there (ns.h, "Homes"). */
	zfs_plan_add(&pl, i, NULL, dir->pool, 1);
	zfs_plan_decide(ns, &pl);
	zfs_plan_apply(ns, &pl, &r);
	atomic_fetch_add(&i->nlookup, 1);
	zfs_ctime(i);
	zfs_dir_changed(dir);
	zfs_stat_locked(ns, i, st);
out:
	pthread_rwlock_unlock(&ns->lock);
	zfs_reap(ns, &r);
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
	zfs_ctime(i);
	zfs_maybe_reap(ns, i, r);
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
	d = zfs_dir_find(dir, name);
	if (!d) {
		ret = -ENOENT;
		goto out;
	}
	i = zfs_find(ns, d->ino);
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
	zfs_dir_del(ns, dir, d);
	free(d);
	zfs_dir_changed(dir);
	zfs_drop_name(ns, dir, i, &r, &pl);
	zfs_plan_decide(ns, &pl);
	zfs_plan_apply(ns, &pl, &r);
out:
	pthread_rwlock_unlock(&ns->lock);
	zfs_reap(ns, &r);
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
		d = zfs_find(ns, ino);
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
	sd = zfs_dir_find(sdir, name);
	if (!sd) {
		ret = -ENOENT;
		goto out;
	}
	si = zfs_find(ns, sd->ino);
	dd = zfs_dir_find(ddir, newname);
	if (dd)
		di = zfs_find(ns, dd->ino);
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
		zfs_ctime(si);
		zfs_ctime(di);
		zfs_dir_changed(sdir);
		zfs_dir_changed(ddir);
		goto out;
	}
	if (!dd) {
		ret = zfs_dir_reserve(ddir);
		if (ret < 0)
			goto out;
	}
	nd = zfs_dirent_new(newname, si->ino, si->mode);
	if (!nd) {
		ret = -ENOMEM;
		goto out;
	}
	if (dd) {
		zfs_dir_del(ns, ddir, dd);
		free(dd);
		zfs_drop_name(ns, ddir, di, &r, &pl);
	}
	zfs_dir_del(ns, sdir, sd);
	free(sd);
	zfs_dir_add(ns, ddir, nd);
	zfs_reparent(si, sdir, ddir);
	zfs_rename_pool(ddir, si, newname);
	zfs_mover_apply(ns, &pl, &ms, newname, newpool, &r);
	zfs_plan_decide(ns, &pl);
	zfs_plan_apply(ns, &pl, &r);
	zfs_ctime(si);
	zfs_dir_changed(sdir);
	if (ddir != sdir)
		zfs_dir_changed(ddir);
out:
	pthread_rwlock_unlock(&ns->lock);
	zfs_reap(ns, &r);
	zfs_plan_free(&pl);
	return ret;
}

int zfs_ns_readlink(struct zfs_ns *ns, uint64_t ino, char *buf, size_t size)
{
	struct zfs_inode *i;
	int ret = 0;

	pthread_rwlock_rdlock(&ns->lock);
	i = zfs_find(ns, ino);
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

/* Hand fill an entry with its number and type only. */
static int zfs_fill_min(zfs_ns_filldir_fn fill, void *arg, const char *name, uint64_t ino,
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
	dir = zfs_find(ns, ino);
	if (!dir) {
		ret = -ENOENT;
		goto out;
	}
	if (!S_ISDIR(dir->mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (off < 1 && zfs_fill_min(fill, arg, ".", dir->ino, S_IFDIR, 1))
		goto out;
	if (off < 2 && zfs_fill_min(fill, arg, "..", dir->dx->parent, S_IFDIR, 2))
		goto out;
	if (off < 3 && ino == ZFS_ROOT_INO && ns->virt_name &&
	    zfs_fill_min(fill, arg, ns->virt_name, ns->virt_ino, S_IFDIR, 3))
		goto out;
	for (k = zfs_dir_index(dir, off < 3 ? 3 : off + 1); k < dir->dx->dcount; k++) {
		struct zfs_dirent *d = dir->dx->dents[k];
		struct zfs_inode *i;
		struct stat st;

		if (!plus) {
			if (zfs_fill_min(fill, arg, d->name, d->ino, d->type, d->cookie))
				break;
			continue;
		}
		i = zfs_find(ns, d->ino);
		zfs_stat_locked(ns, i, &st);
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
	i = zfs_find(ns, ino);
	if (!i) {
		pthread_rwlock_unlock(&ns->lock);
		return -ENOENT;
	}
	zfs_now(&now);
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
	zfs_stat_locked(ns, i, st);
	pthread_rwlock_unlock(&ns->lock);
	return 0;
}

void zfs_ns_set_size(struct zfs_inode *inode, uint64_t size)
{
	pthread_mutex_lock(&inode->stripe->lock);
	inode->size = size;
	zfs_now(&inode->mtime);
	inode->ctime = inode->mtime;
	pthread_mutex_unlock(&inode->stripe->lock);
}

void zfs_ns_touch(struct zfs_inode *inode, int mtime)
{
	pthread_mutex_lock(&inode->stripe->lock);
	if (mtime) {
		zfs_now(&inode->mtime);
		inode->ctime = inode->mtime;
	} else {
		zfs_now(&inode->atime);
	}
	pthread_mutex_unlock(&inode->stripe->lock);
}

/* ---- extended attributes --------------------------------------------------- */

static int zfs_xattr_ns_ok(const char *name)
{
	if (!strncmp(name, "user.", 5) || !strncmp(name, "trusted.", 8) ||
	    !strncmp(name, "security.", 9))
		return name[strcspn(name, ".") + 1] ? 0 : -EINVAL;
	return -EOPNOTSUPP;
}

static struct zfs_xattr **zfs_xattr_find(struct zfs_inode *i, const char *name)
{
	struct zfs_xattr **pp = &i->xattrs;

	while (*pp && strcmp((*pp)->name, name))
		pp = &(*pp)->next;
	return pp;
}

int zfs_ns_setxattr(struct zfs_ns *ns, uint64_t ino, const char *name, const void *value,
		    size_t size, int flags)
{
	struct zfs_inode *i;
	struct zfs_xattr **pp, *x = NULL;
	char *v = NULL;
	size_t n = strlen(name);
	int ret;

	ret = zfs_xattr_ns_ok(name);
	if (ret < 0)
		return ret;
	if (n > ZFS_XATTR_NAME_MAX)
		return -ERANGE;
	if (size > ZFS_XATTR_SIZE_MAX)
		return -E2BIG;
	v = malloc(size ? size : 1);
	if (!v)
		return -ENOMEM;
	memcpy(v, value, size);
	pthread_rwlock_wrlock(&ns->lock);
	i = zfs_find(ns, ino);
	if (!i) {
		ret = -ENOENT;
		goto out;
	}
	pp = zfs_xattr_find(i, name);
	if (*pp && (flags & XATTR_CREATE)) {
		ret = -EEXIST;
		goto out;
	}
	if (!*pp && (flags & XATTR_REPLACE)) {
		ret = -ENODATA;
		goto out;
	}
	if (*pp) {
		ns->xattr_bytes -= (*pp)->size;
		free((*pp)->value);
		(*pp)->value = v;
		(*pp)->size = size;
		ns->xattr_bytes += size;
		v = NULL;
	} else {
		x = malloc(sizeof(*x) + n + 1);
		if (!x) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(x->name, name, n + 1);
		x->value = v;
		x->size = size;
		x->next = NULL;
		*pp = x;
		ns->xattr_bytes += n + size;
		if (!strcmp(name, ZFS_XATTR_CAPS))
			atomic_fetch_add(&ns->ncaps, 1);
		v = NULL;
	}
	zfs_ctime(i);
out:
	pthread_rwlock_unlock(&ns->lock);
	free(v);
	return ret;
}

int zfs_ns_getxattr(struct zfs_ns *ns, uint64_t ino, const char *name, void *buf, size_t size)
{
	struct zfs_inode *i;
	struct zfs_xattr *x;
	int ret;

	pthread_rwlock_rdlock(&ns->lock);
	i = zfs_find(ns, ino);
	if (!i) {
		ret = -ENOENT;
		goto out;
	}
	x = *zfs_xattr_find(i, name);
	if (!x) {
		ret = zfs_xattr_ns_ok(name) == -EOPNOTSUPP ? -EOPNOTSUPP : -ENODATA;
		goto out;
	}
	ret = (int)x->size;
	if (size) {
		if (size < x->size)
			ret = -ERANGE;
		else
			memcpy(buf, x->value, x->size);
	}
out:
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}

int zfs_ns_listxattr(struct zfs_ns *ns, uint64_t ino, char *buf, size_t size)
{
	struct zfs_inode *i;
	struct zfs_xattr *x;
	size_t need = 0;
	int ret;

	pthread_rwlock_rdlock(&ns->lock);
	i = zfs_find(ns, ino);
	if (!i) {
		ret = -ENOENT;
		goto out;
	}
	for (x = i->xattrs; x; x = x->next)
		need += strlen(x->name) + 1;
	ret = (int)need;
	if (size) {
		if (size < need) {
			ret = -ERANGE;
			goto out;
		}
		for (x = i->xattrs; x; x = x->next) {
			size_t n = strlen(x->name) + 1;

			memcpy(buf, x->name, n);
			buf += n;
		}
	}
out:
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}

int zfs_ns_removexattr(struct zfs_ns *ns, uint64_t ino, const char *name)
{
	struct zfs_inode *i;
	struct zfs_xattr **pp, *x;
	int ret = 0;

	pthread_rwlock_wrlock(&ns->lock);
	i = zfs_find(ns, ino);
	if (!i) {
		ret = -ENOENT;
		goto out;
	}
	pp = zfs_xattr_find(i, name);
	if (!*pp) {
		ret = zfs_xattr_ns_ok(name) == -EOPNOTSUPP ? -EOPNOTSUPP : -ENODATA;
		goto out;
	}
	x = *pp;
	*pp = x->next;
	ns->xattr_bytes -= strlen(x->name) + x->size;
	if (!strcmp(x->name, ZFS_XATTR_CAPS))
		atomic_fetch_sub(&ns->ncaps, 1);
	free(x->value);
	free(x);
	zfs_ctime(i);
out:
	pthread_rwlock_unlock(&ns->lock);
	return ret;
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

int zfs_ns_kill_caps(struct zfs_ns *ns, uint64_t ino)
{
	int ret;

	if (!atomic_load_explicit(&ns->ncaps, memory_order_relaxed))
		return 0;
	ret = zfs_ns_removexattr(ns, ino, ZFS_XATTR_CAPS);
	return ret == -ENODATA ? 0 : ret;
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
				i = zfs_find(ns, d->ino);
				if (removed)
					removed(arg, dir->ino, d->name, d->ino);
				zfs_dir_del(ns, dir, d);
				free(d);
				zfs_dir_changed(dir);
				if (i->nlink == 1)
					count++;
				/* The reap list reuses hnext: defer until the walk is done. */
				i->nlink--;
				if (dir->pool == i->pool)
					i->hnames--;
				zfs_ctime(i);
			}
		}
	}
	/* Now collect what lost its last reference. */
	for (k = 0; k < n; k++) {
		struct zfs_inode *i = zfs_find(ns, inos[k]);

		if (i && !S_ISDIR(i->mode))
			zfs_maybe_reap(ns, i, &r);
	}
	/* zfs_reap releases the data of inodes the kernel still knows after
	 * the lock drops, relying on no FORGET of them meanwhile; that holds
	 * for a request's own inode, not for eviction, which reaches files no
	 * request is about (a FORGET freed one under the release callback).
	 * So release them here, under the lock (ns->lock -> tmem locks is
	 * the documented order; tmem has already dropped their pages). */
	for (struct zfs_inode *i = r.data; i; i = i->rnext)
		zfs_release_data(ns, i);
	r.data = NULL;
	pthread_rwlock_unlock(&ns->lock);
	zfs_reap(ns, &r);
	return count;
}

/* ---- pools ----------------------------------------------------------------- */

struct zfs_pool *zfs_ns_pool_of_dir(struct zfs_ns *ns, uint64_t ino)
{
	struct zfs_inode *i;
	struct zfs_pool *p = NULL;

	pthread_rwlock_rdlock(&ns->lock);
	i = zfs_find(ns, ino);
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
	dir = zfs_find(ns, pool->dir_ino);
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

/* ---- invariants ------------------------------------------------------------ */

static int zfs_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#define ZFS_CHECK(cond, ...)                                                     \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "zfs_ns_check: " __VA_ARGS__);             \
			fputc('\n', stderr);                                       \
			ret = -EUCLEAN;                                            \
			goto out;                                                  \
		}                                                                  \
	} while (0)

int zfs_ns_check(struct zfs_ns *ns)
{
	uint64_t n = 0, counts[4] = { 0, 0, 0, 0 }, npools = 0, ncaps = 0;
	struct zfs_pool *p;
	size_t b, k;
	int ret = 0;

	pthread_rwlock_wrlock(&ns->lock);
	for (p = ns->pools; p; p = p->next) {
		if (!p->dir_gone)
			npools++;
	}
	ZFS_CHECK(npools == ns->npools, "npools %llu, list says %llu",
		  (unsigned long long)ns->npools, (unsigned long long)npools);
	/* Reference counts: every inode counts once in its pool. */
	for (p = ns->pools; p; p = p->next) {
		uint64_t refs = 0, files = 0;

		for (b = 0; b < ns->nbuckets; b++)
			for (struct zfs_inode *i = ns->table[b]; i; i = i->hnext)
				if (i->pool == p) {
					refs++;
					files += S_ISREG(i->mode) && !i->data_released;
				}
		/* (a file being reaped has left the table but is still counted
		 * until its release: at least, not exactly) */
		ZFS_CHECK(files <= atomic_load(&p->files), "pool %llu: %llu files at home, counter %llu",
			  (unsigned long long)p->id, (unsigned long long)files,
			  (unsigned long long)atomic_load(&p->files));
		ZFS_CHECK(refs <= p->refs, "pool %llu: %llu inodes but refs %llu",
			  (unsigned long long)p->id, (unsigned long long)refs,
			  (unsigned long long)p->refs);
		if (!p->dir_gone) {
			struct zfs_inode *d = zfs_find(ns, p->dir_ino);

			ZFS_CHECK(d && S_ISDIR(d->mode) && d->pool == p && d->nlink &&
					  (p->id == 0 ? d->ino == ZFS_ROOT_INO
						      : d->dx->parent == ZFS_ROOT_INO),
				  "pool %llu: its directory is not a live top-level directory of it",
				  (unsigned long long)p->id);
		}
	}
	for (b = 0; b < ns->nbuckets; b++) {
		for (struct zfs_inode *i = ns->table[b]; i; i = i->hnext) {
			uint64_t subdirs = 0;
			int found = 0;

			n++;
			counts[zfs_type_index(i->mode)]++;
			ZFS_CHECK((zfs_hash_ino(i->ino) >> 32 & (ns->nbuckets - 1)) == b,
				  "inode %llu in the wrong bucket", (unsigned long long)i->ino);
			ZFS_CHECK(i->ino < ns->next_ino, "inode %llu beyond the counter",
				  (unsigned long long)i->ino);
			for (p = ns->pools; p; p = p->next)
				found |= p == i->pool;
			ZFS_CHECK(found, "inode %llu: pool not in the list",
				  (unsigned long long)i->ino);
			ZFS_CHECK(i->nlink || atomic_load(&i->nlookup) || atomic_load(&i->nopen) ||
				  i->ino == ZFS_ROOT_INO,
				  "inode %llu unreferenced but alive", (unsigned long long)i->ino);
			for (struct zfs_xattr *x = i->xattrs; x; x = x->next)
				ncaps += !strcmp(x->name, ZFS_XATTR_CAPS);
			if (!S_ISDIR(i->mode))
				continue;
			for (k = 0; k < i->dx->dcount; k++) {
				struct zfs_dirent *d = i->dx->dents[k];
				struct zfs_inode *c = zfs_find(ns, d->ino);

				ZFS_CHECK(c, "dir %llu: entry %s names a dead inode",
					  (unsigned long long)i->ino, d->name);
				ZFS_CHECK(zfs_dir_find(i, d->name) == d,
					  "dir %llu: entry %s not in the name hash",
					  (unsigned long long)i->ino, d->name);
				ZFS_CHECK(k == 0 || i->dx->dents[k - 1]->cookie < d->cookie,
					  "dir %llu: cookies out of order", (unsigned long long)i->ino);
				ZFS_CHECK(d->cookie < i->dx->dnext_cookie && d->cookie >= ZFS_FIRST_COOKIE,
					  "dir %llu: cookie out of range", (unsigned long long)i->ino);
				ZFS_CHECK(d->type == (c->mode & S_IFMT), "dir %llu: %s has a stale type",
					  (unsigned long long)i->ino, d->name);
				ZFS_CHECK(c->nlink > 0, "dir %llu: %s names an unlinked inode",
					  (unsigned long long)i->ino, d->name);
				if (S_ISDIR(c->mode)) {
					subdirs++;
					ZFS_CHECK(c->dx->parent == i->ino, "dir %llu: parent of %s is %llu",
						  (unsigned long long)i->ino, d->name,
						  (unsigned long long)c->dx->parent);
				}
				ZFS_CHECK(!S_ISDIR(c->mode) ||
						  c->pool == (i->ino == ZFS_ROOT_INO ? c->pool : i->pool),
					  "dir %llu: directory %s in the wrong pool",
					  (unsigned long long)i->ino, d->name);
				ZFS_CHECK(!S_ISDIR(c->mode) || i->ino != ZFS_ROOT_INO ||
						  (c->pool->dir_ino == c->ino && !c->pool->dir_gone),
					  "directory %s of the root is not a live pool's", d->name);
			}
			ZFS_CHECK(subdirs == i->dx->nsubdirs, "dir %llu: nsubdirs %llu, found %llu",
				  (unsigned long long)i->ino, (unsigned long long)i->dx->nsubdirs,
				  (unsigned long long)subdirs);
			ZFS_CHECK(i->nlink == 0 || i->nlink == 2 + subdirs,
				  "dir %llu: nlink %llu with %llu subdirectories",
				  (unsigned long long)i->ino, (unsigned long long)i->nlink,
				  (unsigned long long)subdirs);
		}
	}
	ZFS_CHECK(ncaps == atomic_load(&ns->ncaps), "%llu capability attributes, counter %llu",
		  (unsigned long long)ncaps, (unsigned long long)atomic_load(&ns->ncaps));
	ZFS_CHECK(n == ns->ninodes, "table holds %llu inodes, counter says %llu",
		  (unsigned long long)n, (unsigned long long)ns->ninodes);
	for (k = 0; k < 4; k++)
		ZFS_CHECK(counts[k] == ns->count[k], "type %zu: %llu inodes, counter %llu", k,
			  (unsigned long long)counts[k], (unsigned long long)ns->count[k]);
	/* Non-directory link counts equal the names found, and homes keep
	 * their rule (ns.h, "Homes"): hnames is the number of names in the
	 * home, at least one while the file has names, and a file with a name
	 * in a persistent pool is at home in a persistent pool.  Every
	 * non-directory entry's number and pool, sorted, then counted in runs
	 * (O(n log n)). */
	{
		struct zfs_name_ref {
			uint64_t ino;
			struct zfs_pool *pool;
		} *names;
		uint64_t total = 0, pos = 0;

		for (b = 0; b < ns->nbuckets; b++)
			for (struct zfs_inode *d = ns->table[b]; d; d = d->hnext)
				total += S_ISDIR(d->mode) ? d->dx->dcount : 0;
		names = malloc((total ? total : 1) * sizeof(*names));
		ZFS_CHECK(names, "out of memory");
		for (b = 0; b < ns->nbuckets; b++)
			for (struct zfs_inode *d = ns->table[b]; d; d = d->hnext)
				for (k = 0; S_ISDIR(d->mode) && k < d->dx->dcount; k++)
					if (!S_ISDIR(d->dx->dents[k]->type)) {
						names[pos].ino = d->dx->dents[k]->ino;
						names[pos++].pool = d->pool;
					}
		total = pos;
		qsort(names, total, sizeof(*names), zfs_cmp_u64);	/* ino is the first field */
		for (b = 0; b < ns->nbuckets && ret == 0; b++) {
			for (struct zfs_inode *i = ns->table[b]; i && ret == 0; i = i->hnext) {
				uint64_t lo = 0, hi = total, count = 0, home = 0, pers = 0;

				if (S_ISDIR(i->mode))
					continue;
				while (lo < hi) {	/* first entry >= ino */
					uint64_t mid = lo + (hi - lo) / 2;

					if (names[mid].ino < i->ino)
						lo = mid + 1;
					else
						hi = mid;
				}
				for (; lo + count < total && names[lo + count].ino == i->ino; count++) {
					home += names[lo + count].pool == i->pool;
					pers += !names[lo + count].pool->ephemeral;
				}
				if (count != i->nlink || home != i->hnames || (count && !home) ||
				    (pers && i->pool->ephemeral)) {
					fprintf(stderr,
						"zfs_ns_check: inode %llu: nlink %llu, names %llu, "
						"%llu at home (hnames %llu), %llu in persistent pools, "
						"home %s\n",
						(unsigned long long)i->ino, (unsigned long long)i->nlink,
						(unsigned long long)count, (unsigned long long)home,
						(unsigned long long)i->hnames, (unsigned long long)pers,
						i->pool->ephemeral ? "ephemeral" : "persistent");
					ret = -EUCLEAN;
				}
			}
		}
		free(names);
	}
out:
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}
