/* ns_xattr.c - extended attributes of the namespace's inodes: set, get,
 * list, remove, and the removal of security.capability on writes, as the
 * VFS does (see ns.h).
 *
 * Design.  An inode's attributes are a singly linked list of struct
 * zfs_xattr (name and value in one allocation), protected by ns->lock:
 * few files have any, and those that do have a handful.  The namespaces
 * user., trusted. and security. are taken (system.* is refused with
 * EOPNOTSUPP: no ACLs); their bytes count in xattr_bytes and meta_bytes.
 * ns->ncaps counts the security.capability attributes held, so the write
 * path pays one atomic load while there are none.
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
	i = _zfs_ns_find(ns, ino);
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
	_zfs_ns_ctime(i);
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
	i = _zfs_ns_find(ns, ino);
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
	i = _zfs_ns_find(ns, ino);
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
	i = _zfs_ns_find(ns, ino);
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
	_zfs_ns_ctime(i);
out:
	pthread_rwlock_unlock(&ns->lock);
	return ret;
}

int zfs_ns_kill_caps(struct zfs_ns *ns, uint64_t ino)
{
	int ret;

	if (!atomic_load_explicit(&ns->ncaps, memory_order_relaxed))
		return 0;
	ret = zfs_ns_removexattr(ns, ino, ZFS_XATTR_CAPS);
	return ret == -ENODATA ? 0 : ret;
}

