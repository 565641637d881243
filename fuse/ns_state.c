/* ns_state.c - the namespace as records and back: what a saved state
 * (fuse/state.h) writes of the namespace and how it is built again.
 *
 * Design.  Export walks the structures under ns->lock (shared) and hands
 * each pool, inode, xattr and directory entry to a callback as a plain
 * record (ns.h, "saved states"); nothing is copied on the way.  Import
 * builds a namespace fresh from zfs_ns_create record by record with the
 * same helpers the namespace's own files use (the inode table, the
 * directories' two indexes), keeping each record's numbers: inode numbers,
 * pool ids, directory cookies (so a readdir offset the kernel holds stays
 * valid), times and owners.  Each record is checked against what came
 * before (a number taken, an unknown inode or pool, a bad name), and
 * zfs_ns_import_finish checks the whole the way zfs_ns_check would find it
 * and derives what the records do not carry: the names each file has at
 * home (hnames), pool reference counts, the figures.  A file that passes
 * finish is a namespace zfs_ns_check accepts (the fuzzer of the state
 * reader asserts it).
 *
 * Locks: export takes ns->lock shared; import takes none (the namespace
 * is the caller's alone until it is handed to the filesystem).
 */
#include "fuse/ns_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- export ---------------------------------------------------------------- */

int zfs_ns_export(struct zfs_ns *ns, unsigned flags, uint64_t *next_ino,
		  uint64_t *next_pool_id, const struct zfs_ns_export_ops *ops, void *arg)
{
	int kernel = !!(flags & ZFS_NS_EXPORT_KERNEL);
	int ret = 0;

	pthread_rwlock_rdlock(&ns->lock);
	*next_ino = ns->next_ino;
	*next_pool_id = ns->next_pool_id;
	for (struct zfs_pool *p = ns->pools; p && !ret; p = p->next) {
		struct zfs_ns_rec_pool r = {
			.id = p->id,
			.dir_ino = p->dir_ino,
			.codec = atomic_load(&p->codec),
			.ephemeral = p->ephemeral,
			.densify = atomic_load(&p->densify),
			.bytes_written = atomic_load(&p->bytes_written),
			.bytes_read = atomic_load(&p->bytes_read),
			.name = p->name,
		};

		if (p->dir_gone)	/* only unnamed inodes refer to it */
			continue;
		ret = ops->pool(arg, &r);
	}
	for (size_t b = 0; b < ns->nbuckets && !ret; b++) {
		for (struct zfs_inode *i = ns->table[b]; i && !ret; i = i->hnext) {
			struct zfs_ns_rec_inode r;

			if (i->nlink == 0)	/* only the kernel knows it */
				continue;
			pthread_mutex_lock(&i->stripe->lock);
			r = (struct zfs_ns_rec_inode){
				.ino = i->ino,
				.pool = i->pool->id,
				.size = i->size,
				.nlookup = kernel ? atomic_load(&i->nlookup) : 0,
				.atime = i->atime,
				.mtime = i->mtime,
				.ctime = i->ctime,
				.mode = i->mode,
				.uid = i->uid,
				.gid = i->gid,
				.nlink = i->nlink,
				.nopen = kernel ? atomic_load(&i->nopen) : 0,
				.rdev = i->rdev,
				.dense = i->dense,
			};
			pthread_mutex_unlock(&i->stripe->lock);
			if (S_ISDIR(i->mode)) {
				r.parent = i->dx->parent;
				r.next_cookie = i->dx->dnext_cookie;
			} else if (S_ISLNK(i->mode)) {
				r.symlink = i->symlink;
			}
			ret = ops->inode(arg, &r);
			for (struct zfs_xattr *x = i->xattrs; x && !ret; x = x->next) {
				struct zfs_ns_rec_xattr xr = {
					.ino = i->ino, .name = x->name,
					.value = x->value, .size = x->size,
				};

				ret = ops->xattr(arg, &xr);
			}
		}
	}
	for (size_t b = 0; b < ns->nbuckets && !ret; b++) {
		for (struct zfs_inode *i = ns->table[b]; i && !ret; i = i->hnext) {
			if (!S_ISDIR(i->mode) || i->nlink == 0)
				continue;
			for (size_t k = 0; k < i->dx->dcount && !ret; k++) {
				struct zfs_dirent *d = i->dx->dents[k];
				struct zfs_ns_rec_dirent r = {
					.dir = i->ino, .cookie = d->cookie,
					.ino = d->ino, .name = d->name,
				};

				ret = ops->dirent(arg, &r);
			}
		}
	}
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}

/* ---- import ---------------------------------------------------------------- */

static struct zfs_pool *ns_state_pool(struct zfs_ns *ns, uint64_t id)
{
	for (struct zfs_pool *p = ns->pools; p; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

/* A name a directory may hold: 1 .. ZFS_NAME_MAX bytes, no '/', not "."
 * or "..". */
static int ns_state_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n <= ZFS_NAME_MAX && !strchr(name, '/') && strcmp(name, ".") &&
	       strcmp(name, "..");
}

int zfs_ns_import_pool(struct zfs_ns *ns, const struct zfs_ns_rec_pool *r,
		       struct zfs_pool *pool)
{
	struct zfs_pool *p;

	if (r->id == 0) {
		p = ns_state_pool(ns, 0);	/* zfs_ns_create's */
		if (pool || r->ephemeral || r->dir_ino != ZFS_ROOT_INO || r->name[0])
			return -EINVAL;
	} else {
		if (!pool)
			return -EINVAL;
		if (ns_state_pool(ns, r->id) || !ns_state_name_ok(r->name) ||
		    r->dir_ino <= ZFS_ROOT_INO)
			return -EINVAL;
		p = pool;
		p->id = r->id;
		p->dir_ino = r->dir_ino;
		p->ephemeral = !!r->ephemeral;
		p->refs = 0;
		p->dir_gone = 0;
		strcpy(p->name, r->name);
		atomic_store(&p->files, 0);
		p->next = ns->pools;
		ns->pools = p;
		ns->npools++;
	}
	atomic_store(&p->codec, r->codec);
	atomic_store(&p->densify, r->densify);
	atomic_store(&p->bytes_written, r->bytes_written);
	atomic_store(&p->bytes_read, r->bytes_read);
	return 0;
}

int zfs_ns_import_inode(struct zfs_ns *ns, const struct zfs_ns_rec_inode *r)
{
	struct zfs_pool *pool = ns_state_pool(ns, r->pool);
	mode_t type = r->mode & S_IFMT;
	struct zfs_inode *i;
	uint64_t saved;

	if (!pool || (r->mode & ~(uint32_t)(S_IFMT | 07777)))
		return -EINVAL;
	if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK && type != S_IFIFO &&
	    type != S_IFSOCK && type != S_IFCHR && type != S_IFBLK)
		return -EINVAL;
	if (!!r->symlink != (type == S_IFLNK) ||
	    (r->symlink && (!r->symlink[0] || strlen(r->symlink) > ZFS_SYMLINK_MAX)))
		return -EINVAL;
	if ((type != S_IFREG && (r->size || r->dense)) || r->nlink == 0 ||
	    r->atime.tv_nsec < 0 || r->atime.tv_nsec >= 1000000000 || r->mtime.tv_nsec < 0 ||
	    r->mtime.tv_nsec >= 1000000000 || r->ctime.tv_nsec < 0 ||
	    r->ctime.tv_nsec >= 1000000000)
		return -EINVAL;
	if (type == S_IFREG && r->size > ((uint64_t)1 << 44))
		return -EINVAL;
	if (type == S_IFDIR && r->next_cookie < ZFS_FIRST_COOKIE)
		return -EINVAL;
	if (r->ino == ZFS_ROOT_INO) {
		i = _zfs_ns_find(ns, ZFS_ROOT_INO);
		if (type != S_IFDIR || r->pool != 0 || r->parent != ZFS_ROOT_INO ||
		    i->dx->dcount)
			return -EINVAL;
	} else {
		if (r->ino < ZFS_ROOT_INO || _zfs_ns_find(ns, r->ino))
			return -EINVAL;
		if (ns->ninodes + 1 > ns->nbuckets * 2 && _zfs_ns_table_grow(ns) < 0)
			return -ENOMEM;
		saved = ns->next_ino;
		ns->next_ino = r->ino;
		i = _zfs_ns_inode_new(ns, r->mode, r->uid, r->gid, r->rdev);
		ns->next_ino = saved;
		if (!i)
			return -ENOMEM;
		if (type == S_IFLNK) {
			i->symlink = strdup(r->symlink);
			if (!i->symlink) {
				free(i);
				return -ENOMEM;
			}
		}
		i->pool = pool;
		pool->refs++;
		_zfs_ns_table_insert(ns, i);
		ns->count[_zfs_ns_type_index(i->mode)]++;
		if (type == S_IFREG)
			atomic_fetch_add(&pool->files, 1);
	}
	i->mode = r->mode;
	i->uid = r->uid;
	i->gid = r->gid;
	i->size = r->size;
	i->atime = r->atime;
	i->mtime = r->mtime;
	i->ctime = r->ctime;
	i->nlink = r->nlink;
	i->dense = (unsigned char)!!r->dense;
	atomic_store(&i->nlookup, r->nlookup);
	atomic_store(&i->nopen, r->nopen);
	if (type == S_IFDIR) {
		i->dx->parent = r->parent;
		i->dx->dnext_cookie = r->next_cookie;
	}
	return 0;
}

int zfs_ns_import_xattr(struct zfs_ns *ns, const struct zfs_ns_rec_xattr *r)
{
	struct zfs_inode *i = _zfs_ns_find(ns, r->ino);
	size_t n = strlen(r->name);
	struct zfs_xattr *x, **pp;

	if (!i || n == 0 || n > ZFS_XATTR_NAME_MAX || r->size > ZFS_XATTR_SIZE_MAX)
		return -EINVAL;
	for (pp = &i->xattrs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, r->name))
			return -EINVAL;
	x = malloc(sizeof(*x) + n + 1);
	if (!x)
		return -ENOMEM;
	x->value = malloc(r->size ? r->size : 1);
	if (!x->value) {
		free(x);
		return -ENOMEM;
	}
	if (r->size)
		memcpy(x->value, r->value, r->size);
	memcpy(x->name, r->name, n + 1);
	x->size = r->size;
	x->next = NULL;
	*pp = x;	/* kept in the order they came, as listxattr showed them */
	ns->xattr_bytes += n + r->size;
	if (!strcmp(r->name, ZFS_XATTR_CAPS))
		atomic_fetch_add(&ns->ncaps, 1);
	return 0;
}

int zfs_ns_import_dirent(struct zfs_ns *ns, const struct zfs_ns_rec_dirent *r)
{
	struct zfs_inode *dir = _zfs_ns_find(ns, r->dir), *t = _zfs_ns_find(ns, r->ino);
	struct zfs_dirent *d;
	uint64_t next;

	if (!dir || !t || !S_ISDIR(dir->mode) || !ns_state_name_ok(r->name) ||
	    t->ino == ZFS_ROOT_INO || r->cookie < ZFS_FIRST_COOKIE ||
	    r->cookie >= dir->dx->dnext_cookie)
		return -EINVAL;
	if (ns->virt_name && dir->ino == ZFS_ROOT_INO && !strcmp(r->name, ns->virt_name))
		return -EINVAL;
	if (dir->dx->dcount && dir->dx->dents[dir->dx->dcount - 1]->cookie >= r->cookie)
		return -EINVAL;
	if (_zfs_ns_dir_find(dir, r->name))
		return -EINVAL;
	if (_zfs_ns_dir_reserve(dir) < 0)
		return -ENOMEM;
	d = _zfs_ns_dirent_new(r->name, t->ino, t->mode);
	if (!d)
		return -ENOMEM;
	next = dir->dx->dnext_cookie;
	dir->dx->dnext_cookie = r->cookie;
	_zfs_ns_dir_add(ns, dir, d);
	dir->dx->dnext_cookie = next;
	if (S_ISDIR(t->mode))
		dir->dx->nsubdirs++;
	return 0;
}

/* Call fn for every entry of every directory. */
static int ns_state_entries(struct zfs_ns *ns,
			    int (*fn)(struct zfs_ns *ns, struct zfs_inode *dir,
				      struct zfs_inode *t, const char **why),
			    const char **why)
{
	for (size_t b = 0; b < ns->nbuckets; b++)
		for (struct zfs_inode *i = ns->table[b]; i; i = i->hnext) {
			if (!S_ISDIR(i->mode))
				continue;
			for (size_t k = 0; k < i->dx->dcount; k++) {
				int ret = fn(ns, i, _zfs_ns_find(ns, i->dx->dents[k]->ino), why);

				if (ret < 0)
					return ret;
			}
		}
	return 0;
}

/* First pass: count every inode's names in hnames, check directories'
 * parents. */
static int ns_state_count(struct zfs_ns *ns, struct zfs_inode *dir, struct zfs_inode *t,
			  const char **why)
{
	(void)ns;
	t->hnames++;
	if (S_ISDIR(t->mode) && t->dx->parent != dir->ino) {
		*why = "a directory's parent is not the directory naming it";
		return -EINVAL;
	}
	return 0;
}

/* Second pass: names at home, and the rule of homes. */
static int ns_state_homes(struct zfs_ns *ns, struct zfs_inode *dir, struct zfs_inode *t,
			  const char **why)
{
	(void)ns;
	if (S_ISDIR(t->mode))
		return 0;
	if (dir->pool == t->pool)
		t->hnames++;
	if (t->pool->ephemeral && !dir->pool->ephemeral) {
		*why = "a file at home in an ephemeral pool has a name in a persistent one";
		return -EINVAL;
	}
	return 0;
}

int zfs_ns_import_finish(struct zfs_ns *ns, uint64_t next_ino, uint64_t next_pool_id,
			 const char **why)
{
	int ret;

	*why = "";
	for (struct zfs_pool *p = ns->pools; p; p = p->next) {
		struct zfs_inode *d = _zfs_ns_find(ns, p->dir_ino);

		if (p->id >= next_pool_id) {
			*why = "a pool id at or beyond the next pool id";
			return -EINVAL;
		}
		if (!d || !S_ISDIR(d->mode) || d->pool != p ||
		    (p->id && d->dx->parent != ZFS_ROOT_INO)) {
			*why = "a pool's directory is not a top-level directory of it";
			return -EINVAL;
		}
	}
	for (size_t b = 0; b < ns->nbuckets; b++)
		for (struct zfs_inode *i = ns->table[b]; i; i = i->hnext) {
			if (i->ino >= next_ino) {
				*why = "an inode number at or beyond the next inode number";
				return -EINVAL;
			}
			i->hnames = 0;
		}
	ret = ns_state_entries(ns, ns_state_count, why);
	if (ret < 0)
		return ret;
	for (size_t b = 0; b < ns->nbuckets; b++)
		for (struct zfs_inode *i = ns->table[b]; i; i = i->hnext) {
			uint64_t steps = 0;
			struct zfs_inode *up = i;

			if (!S_ISDIR(i->mode)) {
				if (i->hnames != i->nlink) {
					*why = "a link count differs from the names of the file";
					return -EINVAL;
				}
				i->hnames = 0;
				continue;
			}
			if (i->hnames != (i->ino == ZFS_ROOT_INO ? 0u : 1u) ||
			    i->nlink != 2 + i->dx->nsubdirs) {
				*why = "a directory's names or link count are wrong";
				return -EINVAL;
			}
			i->hnames = 0;
			/* Named from the root up, without a cycle. */
			while (up->ino != ZFS_ROOT_INO) {
				up = _zfs_ns_find(ns, up->dx->parent);
				if (!up || !S_ISDIR(up->mode) || ++steps > ns->ninodes) {
					*why = "a directory is not reachable from the root";
					return -EINVAL;
				}
			}
			if (i->ino == ZFS_ROOT_INO)
				continue;
			if (i->dx->parent == ZFS_ROOT_INO ? i->pool->dir_ino != i->ino
			    : i->pool != _zfs_ns_find(ns, i->dx->parent)->pool) {
				*why = "a directory is not in its parent's pool";
				return -EINVAL;
			}
		}
	ret = ns_state_entries(ns, ns_state_homes, why);
	if (ret < 0)
		return ret;
	for (size_t b = 0; b < ns->nbuckets; b++)
		for (struct zfs_inode *i = ns->table[b]; i; i = i->hnext)
			if (!S_ISDIR(i->mode) && i->hnames == 0) {
				*why = "a file has no name in its home pool";
				return -EINVAL;
			}
	ns->next_ino = next_ino;
	ns->next_pool_id = next_pool_id;
	return 0;
}
