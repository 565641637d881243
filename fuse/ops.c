/* ops.c - the FUSE low-level handlers (see ops.h for the design and the
 * valid replies).
 *
 * Three parts.  The replies: a node operation describes its answer in a
 * struct zfs_reply and zfs_reply() sends it, or the error, in one place.
 * The node operations: two tables of struct zfs_node_ops, the namespace's
 * (zfs_ns_node) and the /.zcache tree's (zfs_ctl_node), each operation a
 * short call into the module of its concern.  The handlers: each chooses a
 * table once (zfs_node, zfs_node_named), calls one operation, replies.
 */
#include "fuse/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/xattr.h>

#include "fuse/ctl.h"
#include "fuse/data.h"
#include "fuse/mem.h"
#include "fuse/ns.h"
#include "fuse/zfs.h"

/* ---- replies ----------------------------------------------------------------- */

enum zfs_reply_kind {
	ZFS_R_OK = 0,	/* err (0) */
	ZFS_R_NONE,
	ZFS_R_ENTRY,
	ZFS_R_NEGATIVE,	/* an entry with no inode, cached for ZFS_TIMEOUT */
	ZFS_R_CREATE,
	ZFS_R_ATTR,
	ZFS_R_OPEN,
	ZFS_R_BUF,
	ZFS_R_IOV,
	ZFS_R_WRITE,
	ZFS_R_STATFS,
	ZFS_R_XATTR,	/* the size an xattr value or list needs */
	ZFS_R_READLINK,
	ZFS_R_LSEEK,
};

/* An answer to send.  What it points to lives until zfs_reply returns;
 * `done` (if set) runs after a reply was sent for a request that
 * succeeded, with the reply's result (-ENOENT: the caller was interrupted
 * and the kernel dropped the reply), and `owned` is freed in any case. */
struct zfs_reply {
	enum zfs_reply_kind kind;
	double timeout;			/* entry, create, attr */
	struct stat st;			/* entry, create, attr */
	struct fuse_file_info *fi;	/* open, create */
	const void *buf;		/* buf, readlink (a string) */
	size_t len;			/* buf, write, xattr */
	struct iovec *iov;		/* iov */
	int cnt;
	off_t off;			/* lseek */
	struct statvfs sv;		/* statfs */
	void (*done)(struct zfs *fs, struct zfs_reply *r, int sent);
	struct zfs_data_buf data;	/* for done: a read's pages */
	struct zfs_inode *inode;	/* for done: an opened file */
	uint64_t fh;			/* for done: a read /.zcache file */
	void *owned;			/* malloc()ed, freed after the reply */
	char text[64];			/* a short value: a pool attribute */
};

/* The request as the node operations see it. */
struct zfs_req {
	struct zfs *fs;
	uid_t uid;
	gid_t gid;
	uint64_t ino;	/* read, fallocate, lseek: the file (no-open mode: fh 0) */
};

static struct zfs_req zfs_req_of(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return (struct zfs_req){ fuse_req_userdata(req), ctx->uid, ctx->gid, 0 };
}

static void zfs_entry_param(struct fuse_entry_param *e, const struct stat *st, double timeout)
{
	memset(e, 0, sizeof(*e));
	e->ino = st->st_ino;
	e->generation = 1;
	e->attr = *st;
	e->attr_timeout = timeout;
	e->entry_timeout = timeout;
}

/* Send the reply for a request whose node operation returned `ret`: an
 * error for a negative errno, else what r describes. */
static void zfs_reply(fuse_req_t req, struct zfs *fs, int ret, struct zfs_reply *r)
{
	struct fuse_entry_param e;
	int sent = 0;

	if (ret < 0) {
		fuse_reply_err(req, -ret);
		free(r->owned);
		return;
	}
	switch (r->kind) {
	case ZFS_R_OK:
		sent = fuse_reply_err(req, 0);
		break;
	case ZFS_R_NONE:
		fuse_reply_none(req);
		break;
	case ZFS_R_ENTRY:
		zfs_entry_param(&e, &r->st, r->timeout);
		sent = fuse_reply_entry(req, &e);
		break;
	case ZFS_R_NEGATIVE:
		memset(&e, 0, sizeof(e));
		e.entry_timeout = ZFS_TIMEOUT;
		sent = fuse_reply_entry(req, &e);
		break;
	case ZFS_R_CREATE:
		zfs_entry_param(&e, &r->st, r->timeout);
		sent = fuse_reply_create(req, &e, r->fi);
		break;
	case ZFS_R_ATTR:
		sent = fuse_reply_attr(req, &r->st, r->timeout);
		break;
	case ZFS_R_OPEN:
		sent = fuse_reply_open(req, r->fi);
		break;
	case ZFS_R_BUF:
		sent = fuse_reply_buf(req, r->buf, r->len);
		break;
	case ZFS_R_IOV:
		sent = fuse_reply_iov(req, r->iov, r->cnt);
		break;
	case ZFS_R_WRITE:
		sent = fuse_reply_write(req, r->len);
		break;
	case ZFS_R_STATFS:
		sent = fuse_reply_statfs(req, &r->sv);
		break;
	case ZFS_R_XATTR:
		sent = fuse_reply_xattr(req, r->len);
		break;
	case ZFS_R_READLINK:
		sent = fuse_reply_readlink(req, r->buf);
		break;
	case ZFS_R_LSEEK:
		sent = fuse_reply_lseek(req, r->off);
		break;
	}
	if (r->done)
		r->done(fs, r, sent);
	free(r->owned);
}

static int zfs_r_entry(struct zfs_reply *r, double timeout)
{
	r->kind = ZFS_R_ENTRY;
	r->timeout = timeout;
	return 0;
}

static int zfs_r_attr(struct zfs_reply *r, double timeout)
{
	r->kind = ZFS_R_ATTR;
	r->timeout = timeout;
	return 0;
}

static int zfs_r_open(struct zfs_reply *r, struct fuse_file_info *fi)
{
	r->kind = ZFS_R_OPEN;
	r->fi = fi;
	return 0;
}

static int zfs_r_buf(struct zfs_reply *r, const void *buf, size_t len)
{
	r->kind = ZFS_R_BUF;
	r->buf = buf;
	r->len = len;
	return 0;
}

/* getxattr and listxattr: `len` bytes at buf (or an error), for a caller
 * with room for `size` (0: it asks the size). */
static int zfs_r_xattr(struct zfs_reply *r, const void *buf, int len, size_t size)
{
	if (len < 0)
		return len;
	if (size == 0) {
		r->kind = ZFS_R_XATTR;
		r->len = (size_t)len;
		return 0;
	}
	if ((size_t)len > size)
		return -ERANGE;
	return zfs_r_buf(r, buf, (size_t)len);
}

/* ---- node operations ------------------------------------------------------- */

/* What a handler can ask of a node.  Every operation returns 0 (the answer
 * is in r, ZFS_R_OK unless it says otherwise) or a negative errno. */
struct zfs_node_ops {
	int (*lookup)(const struct zfs_req *q, uint64_t parent, const char *name,
		      struct zfs_reply *r);
	void (*forget)(const struct zfs_req *q, uint64_t ino, uint64_t nlookup);
	int (*getattr)(const struct zfs_req *q, uint64_t ino, struct zfs_reply *r);
	int (*setattr)(const struct zfs_req *q, uint64_t ino, const struct stat *attr, int to_set,
		       struct zfs_reply *r);
	int (*readlink)(const struct zfs_req *q, uint64_t ino, char *buf, size_t size,
			struct zfs_reply *r);
	/* mknod, mkdir, symlink (link: the target), create (fi set) */
	int (*make)(const struct zfs_req *q, uint64_t parent, const char *name, mode_t mode,
		    dev_t rdev, const char *link, struct fuse_file_info *fi, struct zfs_reply *r);
	int (*link)(const struct zfs_req *q, uint64_t ino, uint64_t newparent, const char *newname,
		    struct zfs_reply *r);
	int (*unlink)(const struct zfs_req *q, uint64_t parent, const char *name);
	int (*rmdir)(const struct zfs_req *q, uint64_t parent, const char *name);
	int (*rename)(const struct zfs_req *q, uint64_t parent, const char *name,
		      uint64_t newparent, const char *newname, unsigned flags);
	int (*open)(const struct zfs_req *q, uint64_t ino, struct fuse_file_info *fi,
		    struct zfs_reply *r);
	int (*read)(const struct zfs_req *q, struct fuse_file_info *fi, size_t size, off_t off,
		    struct zfs_reply *r);
	int (*write)(const struct zfs_req *q, uint64_t ino, struct fuse_file_info *fi,
		     const char *buf, size_t size, off_t off, struct zfs_reply *r);
	void (*release)(const struct zfs_req *q, struct fuse_file_info *fi);
	int (*opendir)(const struct zfs_req *q, uint64_t ino, struct fuse_file_info *fi,
		       struct zfs_reply *r);
	int (*readdir)(const struct zfs_req *q, uint64_t ino, uint64_t off, int plus,
		       zfs_ns_filldir_fn fill, void *arg);
	/* The attributes of a readdirplus entry its walk gave bare (NULL:
	 * leave it bare).  Called under ns->lock when the walk is the
	 * namespace's: must not call into ns then. */
	void (*entry_attr)(const struct zfs_req *q, uint64_t ino, struct stat *st);
	int (*setxattr)(const struct zfs_req *q, uint64_t ino, const char *name,
			const char *value, size_t size, int flags);
	int (*getxattr)(const struct zfs_req *q, uint64_t ino, const char *name, size_t size,
			struct zfs_reply *r);
	int (*listxattr)(const struct zfs_req *q, uint64_t ino, size_t size, struct zfs_reply *r);
	int (*removexattr)(const struct zfs_req *q, uint64_t ino, const char *name);
	int (*fallocate)(const struct zfs_req *q, struct fuse_file_info *fi, int mode, off_t off,
			 off_t len);
	int (*lseek)(const struct zfs_req *q, struct fuse_file_info *fi, off_t off, int whence,
		     struct zfs_reply *r);
};

/* ---- the namespace's nodes ----------------------------------------------- */

/* The open file fi->fh names (fuse/handle.h), or NULL for an fh that names
 * none (the handlers answer EBADF).  In no-open mode the kernel sends fh 0
 * and the request's inode is the file: the kernel holds a lookup of it
 * while the file is open, so the inode lives (and keeps its data, ns.h
 * zfs_ns_keep_known) until its FORGET. */
static struct zfs_inode *zfs_fh_inode(const struct zfs_req *q, const struct fuse_file_info *fi)
{
	if (fi->fh == 0 && q->fs->cfg.no_open)
		return zfs_ns_get(q->fs->ns, q->ino);
	return zfs_handle_get(&q->fs->handles, fi->fh);
}

static int zfs_ns_node_lookup(const struct zfs_req *q, uint64_t parent, const char *name,
			      struct zfs_reply *r)
{
	int ret = zfs_ns_lookup(q->fs->ns, parent, name, &r->st);

	return ret < 0 ? ret : zfs_r_entry(r, ZFS_TIMEOUT);
}

static void zfs_ns_node_forget(const struct zfs_req *q, uint64_t ino, uint64_t nlookup)
{
	zfs_ns_forget(q->fs->ns, ino, nlookup);
}

static int zfs_ns_node_getattr(const struct zfs_req *q, uint64_t ino, struct zfs_reply *r)
{
	struct zfs_inode *inode = zfs_ns_get(q->fs->ns, ino);

	if (!inode)
		return -ENOENT;
	zfs_ns_stat(q->fs->ns, inode, &r->st);	/* st_blocks: the pages stored */
	return zfs_r_attr(r, ZFS_TIMEOUT);
}

static int zfs_ns_node_setattr(const struct zfs_req *q, uint64_t ino, const struct stat *attr,
			       int to_set, struct zfs_reply *r)
{
	struct zfs *fs = q->fs;
	struct zfs_inode *inode = zfs_ns_get(fs->ns, ino);
	int ret;

	if (!inode)
		return -ENOENT;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!S_ISREG(inode->mode))
			return S_ISDIR(inode->mode) ? -EISDIR : -EINVAL;
		if (attr->st_size < 0)
			return -EINVAL;
		ret = zfs_data_truncate(&fs->data, inode, (uint64_t)attr->st_size);
		if (ret < 0)
			return ret;
		if (!(to_set & FUSE_SET_ATTR_MODE))
			zfs_ns_kill_suid(inode, 0, q->uid);
		zfs_ns_kill_caps(fs->ns, ino);
	}
	if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) && !(to_set & FUSE_SET_ATTR_MODE))
		zfs_ns_kill_suid(inode, 1, 0);
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		zfs_ns_kill_caps(fs->ns, ino);
	ret = zfs_ns_setattr(fs->ns, ino, attr, to_set & ~FUSE_SET_ATTR_SIZE, &r->st);
	if (ret < 0)
		return ret;
	zfs_ns_stat(fs->ns, inode, &r->st);
	return zfs_r_attr(r, ZFS_TIMEOUT);
}

static int zfs_ns_node_readlink(const struct zfs_req *q, uint64_t ino, char *buf, size_t size,
				struct zfs_reply *r)
{
	int ret = zfs_ns_readlink(q->fs->ns, ino, buf, size);

	if (ret < 0)
		return ret;
	r->kind = ZFS_R_READLINK;
	r->buf = buf;
	return 0;
}

/* After an open or create reply: a caller interrupted meanwhile never
 * gets the file, so close it. */
static void zfs_open_done(struct zfs *fs, struct zfs_reply *r, int sent)
{
	if (sent == -ENOENT) {
		zfs_handle_close(&fs->handles, r->fh);
		zfs_data_close(&fs->data, r->inode);
	}
}

/* Open a namespace file for fi (zfs_data_open) and fill fi. */
static int zfs_ns_open_file(struct zfs *fs, struct zfs_inode *inode, struct fuse_file_info *fi,
			    struct zfs_reply *r)
{
	int ret = zfs_data_open(&fs->data, inode);

	if (ret < 0)
		return ret;
	ret = zfs_handle_open(&fs->handles, inode, &fi->fh);
	if (ret < 0) {
		zfs_data_close(&fs->data, inode);
		return ret;
	}
	r->fh = fi->fh;
	/* O_DIRECT bypasses the kernel's page cache: every read asks the store. */
	fi->direct_io = (fi->flags & O_DIRECT) ? 1 : 0;
	fi->keep_cache = 1;
	r->fi = fi;
	r->inode = inode;
	r->done = zfs_open_done;
	return 0;
}

/* Remove the name `name` in `parent` if it still names `ino` (a create
 * whose open failed; the VFS holds the parent locked across the request,
 * so only eviction could have taken the name meanwhile). */
static void zfs_ops_unmake(struct zfs *fs, uint64_t parent, const char *name, uint64_t ino)
{
	struct stat st;

	if (zfs_ns_lookup(fs->ns, parent, name, &st) < 0)
		return;
	zfs_ns_forget(fs->ns, st.st_ino, 1);
	if (st.st_ino == ino)
		zfs_ns_unlink(fs->ns, parent, name);
}

static int zfs_ns_node_make(const struct zfs_req *q, uint64_t parent, const char *name,
			    mode_t mode, dev_t rdev, const char *link, struct fuse_file_info *fi,
			    struct zfs_reply *r)
{
	struct zfs *fs = q->fs;
	struct zfs_pool *pool = NULL;
	struct zfs_inode *inode;
	gid_t gid = q->gid;
	int ret;

	/* No-open mode: the kernel sets no_create and makes the file with
	 * MKNOD (a CREATE would hand it an open file it never releases). */
	if (fi && fs->cfg.no_open)
		return -ENOSYS;
	/* setgid directories pass their group (and, to subdirectories, the bit). */
	inode = zfs_ns_get(fs->ns, parent);
	if (inode && (inode->mode & S_ISGID)) {
		gid = inode->gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	if (parent == ZFS_ROOT_INO && S_ISDIR(mode)) {
		pool = zfs_data_pool_new(fs->cfg.store, fs->cfg.ephemeral, fs->cfg.codec);
		if (!pool)
			return -errno;
	}
	ret = zfs_ns_mknod(fs->ns, parent, name, mode, rdev, q->uid, gid, link, pool, &r->st);
	if (ret < 0) {
		zfs_data_pool_discard(fs->cfg.store, pool);
		return ret;
	}
	zfs_r_entry(r, ZFS_TIMEOUT);
	if (!fi)
		return 0;
	/* The open fails if the new file was unlinked meanwhile, or for
	 * memory (a pin, a handle).  The kernel never hears of the file, so
	 * drop the lookup it was given, and take the name back: a failed
	 * create changes nothing, and the CREATE the kernel sends again (its
	 * dentry is still negative) must not meet the name (EEXIST). */
	inode = zfs_ns_get(fs->ns, r->st.st_ino);
	ret = inode ? zfs_ns_open_file(fs, inode, fi, r) : -ENOENT;
	if (ret < 0) {
		zfs_ns_forget(fs->ns, r->st.st_ino, 1);
		zfs_ops_unmake(fs, parent, name, r->st.st_ino);
		return ret;
	}
	r->kind = ZFS_R_CREATE;
	return 0;
}

static int zfs_ns_node_link(const struct zfs_req *q, uint64_t ino, uint64_t newparent,
			    const char *newname, struct zfs_reply *r)
{
	struct zfs *fs = q->fs;
	int ret;

	/* A link may move the file (ns.h, "Homes"): not while it is being
	 * evicted, and not while spilled. */
	ret = zfs_data_lock_local(&fs->data, zfs_ns_get(fs->ns, ino), NULL, NULL);
	if (ret < 0)
		return ret;
	ret = zfs_ns_link(fs->ns, ino, newparent, newname, &r->st);
	pthread_rwlock_unlock(&fs->mem.evict_lock);
	return ret < 0 ? ret : zfs_r_entry(r, ZFS_TIMEOUT);
}

static int zfs_ns_node_unlink(const struct zfs_req *q, uint64_t parent, const char *name)
{
	struct zfs *fs = q->fs;
	int ret;

	pthread_rwlock_rdlock(&fs->mem.evict_lock);	/* it may move a file */
	ret = zfs_ns_unlink(fs->ns, parent, name);
	pthread_rwlock_unlock(&fs->mem.evict_lock);
	return ret;
}

static int zfs_ns_node_rmdir(const struct zfs_req *q, uint64_t parent, const char *name)
{
	return zfs_ns_rmdir(q->fs->ns, parent, name);
}

/* The regular file named `name` in `parent`, or NULL (any other type, or
 * no such name).  The pointer stays valid for the request: the kernel holds
 * the names of a rename's (and a link's) files. */
static struct zfs_inode *zfs_ops_regular(struct zfs *fs, uint64_t parent, const char *name)
{
	struct zfs_inode *i = NULL;
	struct stat st;

	if (zfs_ns_lookup(fs->ns, parent, name, &st) < 0)
		return NULL;
	if (S_ISREG(st.st_mode))
		i = zfs_ns_get(fs->ns, st.st_ino);
	zfs_ns_forget(fs->ns, st.st_ino, 1);
	return i;
}

/* The store pool of the directory `name` in `parent` when a rename takes it
 * into directory `to` of another pool (its subtree moves along: ns.h), or
 * -1 (not a directory, the same pool, or gone). */
static int zfs_ops_moving_pool(struct zfs *fs, uint64_t parent, const char *name, uint64_t to)
{
	struct zfs_inode *dir, *dest = zfs_ns_get(fs->ns, to);
	struct stat st;
	int pool = -1;

	if (!dest || zfs_ns_lookup(fs->ns, parent, name, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode) && (dir = zfs_ns_get(fs->ns, st.st_ino)) != NULL &&
	    dir->pool != dest->pool)
		pool = dir->pool->store_id;
	zfs_ns_forget(fs->ns, st.st_ino, 1);
	return pool;
}

static int zfs_ns_node_rename(const struct zfs_req *q, uint64_t parent, const char *name,
			      uint64_t newparent, const char *newname, unsigned flags)
{
	struct zfs *fs = q->fs;
	struct zfs_pool *pool = NULL;
	int ret, pool_err = 0, moving[2] = { -1, -1 };

	/* A directory moved to the top level becomes a pool: have one ready
	 * (ns takes it, with its kind and codec, only if that happens). */
	if (newparent == ZFS_ROOT_INO || ((flags & RENAME_EXCHANGE) && parent == ZFS_ROOT_INO)) {
		pool = zfs_data_pool_new(fs->cfg.store, 0, fs->cfg.codec);
		if (!pool)
			pool_err = errno;
	}
	/* Files and subtrees may move between pools (ns.h): not while
	 * eviction is between the store and the namespace, and not while the
	 * files renamed, or any below a directory that changes pool, are
	 * spilled. */
	if (atomic_load(&fs->mem.far)) {
		moving[0] = zfs_ops_moving_pool(fs, parent, name, newparent);
		if (flags & RENAME_EXCHANGE)
			moving[1] = zfs_ops_moving_pool(fs, newparent, newname, parent);
	}
	ret = zfs_data_lock_local(&fs->data, zfs_ops_regular(fs, parent, name),
				  (flags & RENAME_EXCHANGE) ? zfs_ops_regular(fs, newparent, newname)
							    : NULL,
				  moving);
	if (ret < 0) {
		zfs_data_pool_discard(fs->cfg.store, pool);
		return ret;
	}
	ret = zfs_ns_rename(fs->ns, parent, name, newparent, newname, flags, &pool);
	pthread_rwlock_unlock(&fs->mem.evict_lock);
	if (ret == -ENOSPC && pool_err)
		ret = -pool_err;
	zfs_data_pool_discard(fs->cfg.store, pool);
	return ret;
}

static int zfs_ns_node_open(const struct zfs_req *q, uint64_t ino, struct fuse_file_info *fi,
			    struct zfs_reply *r)
{
	struct zfs *fs = q->fs;
	struct zfs_inode *inode = zfs_ns_get(fs->ns, ino);
	int ret;

	if (fs->cfg.no_open)
		return -ENOSYS;	/* the kernel sets no_open: no OPEN, no RELEASE again */
	if (!inode)
		return -ENOENT;
	if (S_ISDIR(inode->mode))
		return -EISDIR;
	if (fi->flags & O_TRUNC) {
		ret = zfs_data_truncate(&fs->data, inode, 0);
		if (ret < 0)
			return ret;
		zfs_ns_kill_caps(fs->ns, ino);
	}
	ret = zfs_ns_open_file(fs, inode, fi, r);
	if (ret < 0)
		return ret;
	r->kind = ZFS_R_OPEN;
	return 0;
}

static void zfs_read_done(struct zfs *fs, struct zfs_reply *r, int sent)
{
	(void)fs;
	(void)sent;
	zfs_data_buf_free(&r->data);
}

static int zfs_ns_node_read(const struct zfs_req *q, struct fuse_file_info *fi, size_t size,
			    off_t off, struct zfs_reply *r)
{
	struct zfs_inode *inode = zfs_fh_inode(q, fi);
	int ret = inode ? zfs_data_read(&q->fs->data, inode, size, off, &r->data) : -EBADF;

	if (ret < 0)
		return ret;
	r->done = zfs_read_done;
	if (r->data.cnt == 0)
		return zfs_r_buf(r, NULL, 0);
	r->kind = ZFS_R_IOV;
	r->iov = r->data.iov;
	r->cnt = r->data.cnt;
	return 0;
}

static int zfs_ns_node_write(const struct zfs_req *q, uint64_t ino, struct fuse_file_info *fi,
			     const char *buf, size_t size, off_t off, struct zfs_reply *r)
{
	struct zfs_req qi = *q;
	struct zfs_inode *inode;
	ssize_t ret;

	qi.ino = ino;
	inode = zfs_fh_inode(&qi, fi);
	if (!inode)
		return -EBADF;
	ret = zfs_data_write(&q->fs->data, inode, buf, size, off,
			     (fi->flags & O_APPEND) != 0, q->uid);
	if (ret < 0)
		return (int)ret;
	r->kind = ZFS_R_WRITE;
	r->len = (size_t)ret;
	return 0;
}

static void zfs_ns_node_release(const struct zfs_req *q, struct fuse_file_info *fi)
{
	struct zfs_inode *inode = zfs_handle_close(&q->fs->handles, fi->fh);

	if (inode)
		zfs_data_close(&q->fs->data, inode);
}

static int zfs_ns_node_opendir(const struct zfs_req *q, uint64_t ino, struct fuse_file_info *fi,
			       struct zfs_reply *r)
{
	struct zfs_inode *inode = zfs_ns_get(q->fs->ns, ino);

	if (!inode)
		return -ENOENT;
	if (!S_ISDIR(inode->mode))
		return -ENOTDIR;
	fi->cache_readdir = 0;
	return zfs_r_open(r, fi);
}

static int zfs_ns_node_readdir(const struct zfs_req *q, uint64_t ino, uint64_t off, int plus,
			       zfs_ns_filldir_fn fill, void *arg)
{
	return zfs_ns_readdir(q->fs->ns, ino, off, plus, fill, arg);
}

static int zfs_ns_node_setxattr(const struct zfs_req *q, uint64_t ino, const char *name,
				const char *value, size_t size, int flags)
{
	struct zfs *fs = q->fs;
	struct zfs_pool *pool = zfs_ns_pool_of_dir(fs->ns, ino);

	/* No-open mode keeps no open counts, which eviction needs. */
	if (pool && fs->cfg.no_open && !strcmp(name, ZFS_XATTR_KIND) && size >= 9 &&
	    !memcmp(value, "ephemeral", 9))
		return -EOPNOTSUPP;
	if (pool && zfs_data_pool_xattr(name))
		return zfs_data_pool_setxattr(&fs->data, ino, pool, name, value, size, flags,
					      q->uid);
	return zfs_ns_setxattr(fs->ns, ino, name, value, size, flags);
}

static int zfs_ns_node_getxattr(const struct zfs_req *q, uint64_t ino, const char *name,
				size_t size, struct zfs_reply *r)
{
	struct zfs *fs = q->fs;
	struct zfs_pool *pool = zfs_ns_pool_of_dir(fs->ns, ino);
	char *buf;

	if (pool && zfs_data_pool_xattr(name)) {
		int len = zfs_data_pool_getxattr(pool, name, r->text, sizeof(r->text));

		return zfs_r_xattr(r, r->text, len, size);
	}
	if (size == 0)
		return zfs_r_xattr(r, NULL, zfs_ns_getxattr(fs->ns, ino, name, NULL, 0), 0);
	buf = r->owned = malloc(size);
	if (!buf)
		return -ENOMEM;
	return zfs_r_xattr(r, buf, zfs_ns_getxattr(fs->ns, ino, name, buf, size), size);
}

static int zfs_ns_node_listxattr(const struct zfs_req *q, uint64_t ino, size_t size,
				 struct zfs_reply *r)
{
	static const char pool_names[] = ZFS_XATTR_KIND "\0" ZFS_XATTR_CODEC "\0" ZFS_XATTR_DENSIFY
					 "\0" ZFS_XATTR_SPILL;
	struct zfs *fs = q->fs;
	size_t extra = 0;
	char *buf;
	int ret;

	if (zfs_ns_pool_of_dir(fs->ns, ino))
		extra = sizeof(pool_names);
	ret = zfs_ns_listxattr(fs->ns, ino, NULL, 0);
	if (ret < 0 || size == 0)
		return zfs_r_xattr(r, NULL, ret < 0 ? ret : ret + (int)extra, 0);
	buf = r->owned = malloc((size_t)ret + extra + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, pool_names, extra);
	ret = zfs_ns_listxattr(fs->ns, ino, buf + extra, (size_t)ret);
	return zfs_r_xattr(r, buf, ret < 0 ? ret : ret + (int)extra, size);
}

static int zfs_ns_node_removexattr(const struct zfs_req *q, uint64_t ino, const char *name)
{
	struct zfs *fs = q->fs;

	if (zfs_ns_pool_of_dir(fs->ns, ino) && zfs_data_pool_xattr(name))
		return -EPERM;
	return zfs_ns_removexattr(fs->ns, ino, name);
}

static int zfs_ns_node_fallocate(const struct zfs_req *q, struct fuse_file_info *fi, int mode,
				 off_t off, off_t len)
{
	struct zfs_inode *inode = zfs_fh_inode(q, fi);

	return inode ? zfs_data_fallocate(&q->fs->data, inode, mode, off, len) : -EBADF;
}

static int zfs_ns_node_lseek(const struct zfs_req *q, struct fuse_file_info *fi, off_t off,
			     int whence, struct zfs_reply *r)
{
	struct zfs_inode *inode = zfs_fh_inode(q, fi);
	int ret = inode ? zfs_data_seek(&q->fs->data, inode, off, whence, &r->off) : -EBADF;

	if (ret < 0)
		return ret;
	r->kind = ZFS_R_LSEEK;
	return 0;
}

static const struct zfs_node_ops zfs_ns_node = {
	.lookup = zfs_ns_node_lookup,
	.forget = zfs_ns_node_forget,
	.getattr = zfs_ns_node_getattr,
	.setattr = zfs_ns_node_setattr,
	.readlink = zfs_ns_node_readlink,
	.make = zfs_ns_node_make,
	.link = zfs_ns_node_link,
	.unlink = zfs_ns_node_unlink,
	.rmdir = zfs_ns_node_rmdir,
	.rename = zfs_ns_node_rename,
	.open = zfs_ns_node_open,
	.read = zfs_ns_node_read,
	.write = zfs_ns_node_write,
	.release = zfs_ns_node_release,
	.opendir = zfs_ns_node_opendir,
	.readdir = zfs_ns_node_readdir,
	.entry_attr = NULL,	/* its walk gives attributes where it may */
	.setxattr = zfs_ns_node_setxattr,
	.getxattr = zfs_ns_node_getxattr,
	.listxattr = zfs_ns_node_listxattr,
	.removexattr = zfs_ns_node_removexattr,
	.fallocate = zfs_ns_node_fallocate,
	.lseek = zfs_ns_node_lseek,
};

/* ---- the /.zcache tree's nodes ------------------------------------------- */

static int zfs_ctl_node_lookup(const struct zfs_req *q, uint64_t parent, const char *name,
			       struct zfs_reply *r)
{
	int ret = zfs_ctl_lookup(&q->fs->ctl, parent, name, &r->st);

	return ret < 0 ? ret : zfs_r_entry(r, 0.0);
}

static void zfs_ctl_node_forget(const struct zfs_req *q, uint64_t ino, uint64_t nlookup)
{
	/* The tree keeps lookup counts of its snapshots only (no-open mode). */
	zfs_ctl_forget(&q->fs->ctl, ino, nlookup);
}

static int zfs_ctl_node_getattr(const struct zfs_req *q, uint64_t ino, struct zfs_reply *r)
{
	int ret = zfs_ctl_getattr(&q->fs->ctl, ino, &r->st);

	return ret < 0 ? ret : zfs_r_attr(r, 0.0);
}

static int zfs_ctl_node_setattr(const struct zfs_req *q, uint64_t ino, const struct stat *attr,
				int to_set, struct zfs_reply *r)
{
	(void)attr;
	/* Truncating a control file before writing it is fine. */
	if (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME))
		return -EPERM;
	return zfs_ctl_node_getattr(q, ino, r);
}

static int zfs_ctl_node_readlink(const struct zfs_req *q, uint64_t ino, char *buf, size_t size,
				 struct zfs_reply *r)
{
	(void)q;
	(void)ino;
	(void)buf;
	(void)size;
	(void)r;
	return -EINVAL;	/* the tree holds no symlink */
}

static int zfs_ctl_node_make(const struct zfs_req *q, uint64_t parent, const char *name,
			     mode_t mode, dev_t rdev, const char *link, struct fuse_file_info *fi,
			     struct zfs_reply *r)
{
	(void)q;
	(void)name;
	(void)mode;
	(void)rdev;
	(void)link;
	(void)fi;
	(void)r;
	/* Nothing is made in the tree; ".zcache" in the root exists. */
	return zfs_ctl_is(parent) ? -EPERM : -EEXIST;
}

static int zfs_ctl_node_link(const struct zfs_req *q, uint64_t ino, uint64_t newparent,
			     const char *newname, struct zfs_reply *r)
{
	(void)q;
	(void)ino;
	(void)newparent;
	(void)newname;
	(void)r;
	return -EPERM;
}

static int zfs_ctl_node_remove(const struct zfs_req *q, uint64_t parent, const char *name)
{
	(void)q;
	(void)parent;
	(void)name;
	return -EPERM;
}

static int zfs_ctl_node_rename(const struct zfs_req *q, uint64_t parent, const char *name,
			       uint64_t newparent, const char *newname, unsigned flags)
{
	(void)q;
	(void)parent;
	(void)name;
	(void)newparent;
	(void)newname;
	(void)flags;
	return -EPERM;
}

static int zfs_ctl_node_open(const struct zfs_req *q, uint64_t ino, struct fuse_file_info *fi,
			     struct zfs_reply *r)
{
	int ret;

	if (q->fs->cfg.no_open)
		return -ENOSYS;	/* as zfs_ns_node_open */
	ret = zfs_ctl_open(&q->fs->ctl, ino, fi->flags, q->uid, &fi->fh);
	if (ret < 0)
		return ret;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return zfs_r_open(r, fi);
}

static void zfs_ctl_read_reply_done(struct zfs *fs, struct zfs_reply *r, int sent)
{
	(void)sent;
	zfs_ctl_read_done(&fs->ctl, r->fh);
}

static int zfs_ctl_node_read(const struct zfs_req *q, struct fuse_file_info *fi, size_t size,
			     off_t off, struct zfs_reply *r)
{
	const char *buf;
	size_t len;
	uint64_t fh = fi->fh;

	/* No-open mode: the inode is the snapshot (ctl.h zfs_ctl_snap, which
	 * holds it until zfs_ctl_read took the reply's reference). */
	if (fh == 0 && q->fs->cfg.no_open) {
		fh = zfs_ctl_snap(&q->fs->ctl, q->ino);
		if (!fh)
			return -EBADF;
		zfs_ctl_read(&q->fs->ctl, fh, size, off, &buf, &len);
		zfs_ctl_read_done(&q->fs->ctl, fh);
	} else {
		zfs_ctl_read(&q->fs->ctl, fh, size, off, &buf, &len);
	}
	r->fh = fh;
	r->done = zfs_ctl_read_reply_done;
	return zfs_r_buf(r, buf, len);
}

static int zfs_ctl_node_write(const struct zfs_req *q, uint64_t ino, struct fuse_file_info *fi,
			      const char *buf, size_t size, off_t off, struct zfs_reply *r)
{
	ssize_t ret;

	(void)fi;
	(void)off;
	ret = zfs_ctl_write(&q->fs->ctl, ino, q->uid, buf, size);
	if (ret < 0)
		return (int)ret;
	r->kind = ZFS_R_WRITE;
	r->len = (size_t)ret;
	return 0;
}

static void zfs_ctl_node_release(const struct zfs_req *q, struct fuse_file_info *fi)
{
	zfs_ctl_release(&q->fs->ctl, fi->fh);
}

static int zfs_ctl_node_opendir(const struct zfs_req *q, uint64_t ino, struct fuse_file_info *fi,
				struct zfs_reply *r)
{
	struct stat st;
	int ret = zfs_ctl_getattr(&q->fs->ctl, ino, &st);

	if (ret < 0)
		return ret;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return zfs_r_open(r, fi);
}

static int zfs_ctl_node_readdir(const struct zfs_req *q, uint64_t ino, uint64_t off, int plus,
				zfs_ns_filldir_fn fill, void *arg)
{
	(void)plus;	/* entry_attr gives the attributes */
	return zfs_ctl_readdir(&q->fs->ctl, ino, off, fill, arg);
}

static void zfs_ctl_node_entry_attr(const struct zfs_req *q, uint64_t ino, struct stat *st)
{
	struct stat a;

	if (zfs_ctl_getattr(&q->fs->ctl, ino, &a) < 0)
		return;	/* a pool gone meanwhile: bare */
	/* No-open mode: a file's entry comes from a LOOKUP only, which renders
	 * its snapshot (ctl.h); a readdirplus entry would name the file
	 * itself, whose size is 0. */
	if (q->fs->cfg.no_open && !S_ISDIR(a.st_mode))
		return;
	*st = a;
}

static int zfs_ctl_node_setxattr(const struct zfs_req *q, uint64_t ino, const char *name,
				 const char *value, size_t size, int flags)
{
	(void)q;
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	return -EPERM;
}

static int zfs_ctl_node_getxattr(const struct zfs_req *q, uint64_t ino, const char *name,
				 size_t size, struct zfs_reply *r)
{
	(void)q;
	(void)ino;
	(void)name;
	(void)size;
	(void)r;
	return -ENODATA;
}

static int zfs_ctl_node_listxattr(const struct zfs_req *q, uint64_t ino, size_t size,
				  struct zfs_reply *r)
{
	(void)q;
	(void)ino;
	return zfs_r_xattr(r, NULL, 0, size);	/* an empty list */
}

static int zfs_ctl_node_removexattr(const struct zfs_req *q, uint64_t ino, const char *name)
{
	(void)q;
	(void)ino;
	(void)name;
	return -EPERM;
}

static int zfs_ctl_node_fallocate(const struct zfs_req *q, struct fuse_file_info *fi, int mode,
				  off_t off, off_t len)
{
	(void)q;
	(void)fi;
	(void)mode;
	(void)off;
	(void)len;
	return -EPERM;
}

static int zfs_ctl_node_lseek(const struct zfs_req *q, struct fuse_file_info *fi, off_t off,
			      int whence, struct zfs_reply *r)
{
	(void)q;
	(void)fi;
	(void)off;
	(void)whence;
	(void)r;
	return -EINVAL;
}

static const struct zfs_node_ops zfs_ctl_node = {
	.lookup = zfs_ctl_node_lookup,
	.forget = zfs_ctl_node_forget,
	.getattr = zfs_ctl_node_getattr,
	.setattr = zfs_ctl_node_setattr,
	.readlink = zfs_ctl_node_readlink,
	.make = zfs_ctl_node_make,
	.link = zfs_ctl_node_link,
	.unlink = zfs_ctl_node_remove,
	.rmdir = zfs_ctl_node_remove,
	.rename = zfs_ctl_node_rename,
	.open = zfs_ctl_node_open,
	.read = zfs_ctl_node_read,
	.write = zfs_ctl_node_write,
	.release = zfs_ctl_node_release,
	.opendir = zfs_ctl_node_opendir,
	.readdir = zfs_ctl_node_readdir,
	.entry_attr = zfs_ctl_node_entry_attr,
	.setxattr = zfs_ctl_node_setxattr,
	.getxattr = zfs_ctl_node_getxattr,
	.listxattr = zfs_ctl_node_listxattr,
	.removexattr = zfs_ctl_node_removexattr,
	.fallocate = zfs_ctl_node_fallocate,
	.lseek = zfs_ctl_node_lseek,
};

/* ---- the dispatch -------------------------------------------------------- */

/* The node operations of inode `ino`. */
static const struct zfs_node_ops *zfs_node(uint64_t ino)
{
	return zfs_ctl_is(ino) ? &zfs_ctl_node : &zfs_ns_node;
}

/* The node operations of the name `name` in `parent`. */
static const struct zfs_node_ops *zfs_node_named(uint64_t parent, const char *name)
{
	return zfs_ctl_owns(parent, name) ? &zfs_ctl_node : &zfs_ns_node;
}

/* ---- the handlers -------------------------------------------------------- */

static void zfs_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	/* We clear set-user-ID/set-group-ID ourselves (zfs_ns_kill_suid), which
	 * spares the kernel a GETATTR before every chown. */
	if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV)
		conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
	/* Always READDIRPLUS: the attributes cost us a lookup in memory and
	 * spare the kernel a LOOKUP per entry (find | xargs cat, tar, ls -l). */
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_WRITE;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_MOVE;
	/* No attribute refresh before every cached read, and no dropping of the
	 * page cache when mtime moved: every change to a file passes through
	 * this mount (evictions invalidate through the notifier), so the kernel's
	 * cache is never older than the store.  With it on (libfuse's default)
	 * the drop is invalidate_inode_pages2, which also removes the pages of
	 * a write still in flight; a READ racing that write then caches the
	 * version before it, and readers kept seeing it after the write
	 * returned (tests/fs.c test_open_while_rewritten, about 1 round in 200).
	 * It also cost requests: every WRITE makes the attributes stale, so the
	 * next cached read sent a GETATTR, then re-READ the pages just dropped,
	 * and the refresh cleared S_NOSEC, so the next write probed
	 * security.capability again (GETXATTR).  A read past the cached size
	 * still refreshes the size. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	conn->max_write = ZFS_MAX_IO;
	conn->max_readahead = ZFS_MAX_IO;
	conn->max_background = 64;
	conn->time_gran = 1;
}

static void zfs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };
	int ret = zfs_node_named(parent, name)->lookup(&q, parent, name, &r);

	if (ret == -ENOENT) {
		/* A negative entry the kernel may cache. */
		r.kind = ZFS_R_NEGATIVE;
		ret = 0;
	}
	zfs_reply(req, q.fs, ret, &r);
}

static void zfs_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { .kind = ZFS_R_NONE };

	zfs_node(ino)->forget(&q, ino, nlookup);
	zfs_reply(req, q.fs, 0, &r);
}

static void zfs_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { .kind = ZFS_R_NONE };
	size_t k;

	for (k = 0; k < count; k++)
		zfs_node(forgets[k].ino)->forget(&q, forgets[k].ino, forgets[k].nlookup);
	zfs_reply(req, q.fs, 0, &r);
}

static void zfs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	(void)fi;
	zfs_reply(req, q.fs, zfs_node(ino)->getattr(&q, ino, &r), &r);
}

static void zfs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			   struct fuse_file_info *fi)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	(void)fi;
	zfs_reply(req, q.fs, zfs_node(ino)->setattr(&q, ino, attr, to_set, &r), &r);
}

static void zfs_ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };
	char buf[ZFS_SYMLINK_MAX + 1];

	zfs_reply(req, q.fs, zfs_node(ino)->readlink(&q, ino, buf, sizeof(buf), &r), &r);
}

/* mknod, mkdir, symlink and create. */
static void zfs_make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev, const char *link, struct fuse_file_info *fi)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };
	int ret = zfs_node_named(parent, name)->make(&q, parent, name, mode, rdev, link, fi, &r);

	zfs_reply(req, q.fs, ret, &r);
}

static void zfs_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 dev_t rdev)
{
	zfs_make(req, parent, name, mode, rdev, NULL, NULL);
}

static void zfs_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	zfs_make(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL, NULL);
}

static void zfs_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			   const char *name)
{
	zfs_make(req, parent, name, S_IFLNK | 0777, 0, link, NULL);
}

static void zfs_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			  struct fuse_file_info *fi)
{
	zfs_make(req, parent, name, S_IFREG | (mode & 07777), 0, NULL, fi);
}

static void zfs_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
			const char *newname)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };
	const struct zfs_node_ops *node = zfs_ctl_is(ino) ? zfs_node(ino)
							    : zfs_node_named(newparent, newname);

	zfs_reply(req, q.fs, node->link(&q, ino, newparent, newname, &r), &r);
}

static void zfs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	zfs_reply(req, q.fs, zfs_node_named(parent, name)->unlink(&q, parent, name), &r);
}

static void zfs_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	zfs_reply(req, q.fs, zfs_node_named(parent, name)->rmdir(&q, parent, name), &r);
}

static void zfs_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };
	const struct zfs_node_ops *node = zfs_ctl_owns(parent, name) ||
						  zfs_ctl_owns(newparent, newname)
						  ? &zfs_ctl_node : &zfs_ns_node;

	zfs_reply(req, q.fs, node->rename(&q, parent, name, newparent, newname, flags), &r);
}

static void zfs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	zfs_reply(req, q.fs, zfs_node(ino)->open(&q, ino, fi, &r), &r);
}

static void zfs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	q.ino = ino;

	zfs_reply(req, q.fs, zfs_node(ino)->read(&q, fi, size, off, &r), &r);
}

static void zfs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
			 off_t off, struct fuse_file_info *fi)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	zfs_reply(req, q.fs, zfs_node(ino)->write(&q, ino, fi, buf, size, off, &r), &r);
}

static void zfs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	zfs_node(ino)->release(&q, fi);
	zfs_reply(req, q.fs, 0, &r);
}

/* fsync, fsyncdir, releasedir: the data is where it will stay, in RAM. */
static void zfs_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi)
{
	struct zfs_reply r = { 0 };

	(void)ino;
	(void)datasync;
	(void)fi;
	zfs_reply(req, fuse_req_userdata(req), 0, &r);
}

static void zfs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	zfs_ll_fsync(req, ino, 0, fi);
}

static void zfs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	zfs_reply(req, q.fs, zfs_node(ino)->opendir(&q, ino, fi, &r), &r);
}

/* One buffer of directory entries, filled by a node's walk. */
struct zfs_dirbuf {
	const struct zfs_req *q;
	fuse_req_t req;
	int plus;
	char *buf;
	size_t size, used;
};

static int zfs_fill(void *arg, const char *name, const struct stat *st, uint64_t next,
		    unsigned flags)
{
	struct zfs_dirbuf *d = arg;
	size_t n;

	if (d->plus) {
		struct fuse_entry_param e;
		const struct zfs_node_ops *node = zfs_node(st->st_ino);

		/* Entries with their attributes count as lookups and may be
		 * cached; the others ("." and "..", the tree's) may not. */
		zfs_entry_param(&e, st, (flags & ZFS_DIRENT_ATTRS) ? ZFS_TIMEOUT : 0.0);
		if (!(flags & ZFS_DIRENT_ATTRS) && node->entry_attr)
			node->entry_attr(d->q, st->st_ino, &e.attr);
		n = fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name, &e,
					   (off_t)next);
	} else {
		n = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, st,
				      (off_t)next);
	}
	if (n > d->size - d->used)
		return 1;
	d->used += n;
	return 0;
}

/* readdir and readdirplus. */
static void zfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_dirbuf d = { &q, req, plus, NULL, size, 0 };
	struct zfs_reply r = { 0 };
	int ret;

	d.buf = r.owned = malloc(size ? size : 1);
	if (!d.buf)
		ret = -ENOMEM;
	else
		ret = zfs_node(ino)->readdir(&q, ino, (uint64_t)off, plus, zfs_fill, &d);
	if (ret == 0)
		zfs_r_buf(&r, d.buf, d.used);
	zfs_reply(req, q.fs, ret, &r);
}

static void zfs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	zfs_readdir(req, ino, size, off, 0);
}

static void zfs_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			       struct fuse_file_info *fi)
{
	(void)fi;
	zfs_readdir(req, ino, size, off, 1);
}

static void zfs_ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct zfs *fs = fuse_req_userdata(req);
	struct zfs_reply r = { .kind = ZFS_R_STATFS };

	(void)ino;
	zfs_mem_statfs(&fs->mem, &r.sv);
	zfs_reply(req, fs, 0, &r);
}

static void zfs_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    const char *value, size_t size, int flags)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	zfs_reply(req, q.fs, zfs_node(ino)->setxattr(&q, ino, name, value, size, flags), &r);
}

static void zfs_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	zfs_reply(req, q.fs, zfs_node(ino)->getxattr(&q, ino, name, size, &r), &r);
}

static void zfs_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	zfs_reply(req, q.fs, zfs_node(ino)->listxattr(&q, ino, size, &r), &r);
}

static void zfs_ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	zfs_reply(req, q.fs, zfs_node(ino)->removexattr(&q, ino, name), &r);
}

static void zfs_ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			     struct fuse_file_info *fi)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	q.ino = ino;

	zfs_reply(req, q.fs, zfs_node(ino)->fallocate(&q, fi, mode, off, len), &r);
}

static void zfs_ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			 struct fuse_file_info *fi)
{
	struct zfs_req q = zfs_req_of(req);
	struct zfs_reply r = { 0 };

	q.ino = ino;

	zfs_reply(req, q.fs, zfs_node(ino)->lseek(&q, fi, off, whence, &r), &r);
}

const struct fuse_lowlevel_ops zfs_lowlevel_ops = {
	.init = zfs_ll_init,
	.lookup = zfs_ll_lookup,
	.forget = zfs_ll_forget,
	.forget_multi = zfs_ll_forget_multi,
	.getattr = zfs_ll_getattr,
	.setattr = zfs_ll_setattr,
	.readlink = zfs_ll_readlink,
	.mknod = zfs_ll_mknod,
	.mkdir = zfs_ll_mkdir,
	.unlink = zfs_ll_unlink,
	.rmdir = zfs_ll_rmdir,
	.symlink = zfs_ll_symlink,
	.rename = zfs_ll_rename,
	.link = zfs_ll_link,
	.open = zfs_ll_open,
	.read = zfs_ll_read,
	.write = zfs_ll_write,
	/* No flush handler (ops.h). */
	.release = zfs_ll_release,
	.fsync = zfs_ll_fsync,
	.opendir = zfs_ll_opendir,
	.readdir = zfs_ll_readdir,
	.readdirplus = zfs_ll_readdirplus,
	.releasedir = zfs_ll_releasedir,
	.fsyncdir = zfs_ll_fsync,
	.statfs = zfs_ll_statfs,
	.setxattr = zfs_ll_setxattr,
	.getxattr = zfs_ll_getxattr,
	.listxattr = zfs_ll_listxattr,
	.removexattr = zfs_ll_removexattr,
	.create = zfs_ll_create,
	.fallocate = zfs_ll_fallocate,
	.lseek = zfs_ll_lseek,
};
