/* zfs.c - the zcached filesystem: FUSE low-level handlers and file I/O on
 * tmem (see zfs.h for the design, the locks and the contract).
 *
 * Every handler has the same shape: find the inode, call into ns.c, ctl.c
 * or the data path, and turn a negative errno into fuse_reply_err in one
 * place at the end.  The /.zcache tree is dispatched to ctl.c by inode
 * number (ZFS_CTL_INO_BASE and above), before anything touches ns.
 */
#include "fuse/zfs.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "compress/codec.h"
#include "fuse/ctl.h"
#include "fuse/mem.h"
#include "fuse/notify.h"
#include "fuse/ns.h"
#include "tmem/tmem.h"

#define ZFS_PAGE 4096u
#define ZFS_XATTR_KIND "user.zcache.kind"
#define ZFS_XATTR_CODEC "user.zcache.compressor"

static struct zfs *zfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct tmem_oid zfs_oid(uint64_t ino)
{
	struct tmem_oid o = { { ino, 0, 0 } };

	return o;
}

/* Is the page all zero?  The page may be unaligned (a write's buffer). */
static int zfs_page_is_zero(const void *page)
{
	const unsigned char *p = page;
	size_t k;

	for (k = 0; k < ZFS_PAGE; k += 32) {
		uint64_t w[4];

		memcpy(w, p + k, sizeof(w));
		if (w[0] | w[1] | w[2] | w[3])
			return 0;
	}
	return 1;
}

/* ---- pools ----------------------------------------------------------------- */

static struct zfs_pool *zfs_pool_new(struct zfs *fs, int ephemeral, unsigned codec)
{
	struct zfs_pool *p = calloc(1, sizeof(*p));
	int id;

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	id = tmem_new_pool(fs->cfg.store, ephemeral ? TMEM_POOL_EPHEMERAL : TMEM_POOL_PERSISTENT);
	if (id < 0) {
		free(p);
		errno = -id;
		return NULL;
	}
	tmem_pool_set_codec(fs->cfg.store, id, codec);
	p->store_id = id;
	p->ephemeral = ephemeral;
	atomic_init(&p->codec, codec);
	return p;
}

static void zfs_inode_release_cb(void *priv, struct zfs_inode *inode)
{
	struct zfs *fs = priv;
	struct tmem_oid oid = zfs_oid(inode->ino);

	tmem_flush_object(fs->cfg.store, inode->pool->store_id, &oid);
}

/* st_blocks of a regular file: the pages tmem stores (holes and zero
 * pages cost nothing), in 512-byte units. */
static uint64_t zfs_blocks_cb(void *priv, struct zfs_inode *inode)
{
	struct zfs *fs = priv;
	struct tmem_oid oid = zfs_oid(inode->ino);
	int64_t pages = tmem_object_pages(fs->cfg.store, inode->pool->store_id, &oid);

	return pages > 0 ? (uint64_t)pages * (ZFS_PAGE / 512) : 0;
}

static void zfs_pool_release_cb(void *priv, struct zfs_pool *pool)
{
	struct zfs *fs = priv;

	tmem_destroy_pool(fs->cfg.store, pool->store_id);
}

/* A file moved home (ns.h, "Homes"; ns->lock and its io_lock are held):
 * its object goes to the other store pool as it is, pages and pins. */
static void zfs_inode_move_cb(void *priv, struct zfs_inode *inode, struct zfs_pool *from,
			      struct zfs_pool *to)
{
	struct zfs *fs = priv;
	struct tmem_oid oid = zfs_oid(inode->ino);

	/* -ENOENT: no page and no pin, nothing to move.  -EEXIST cannot
	 * happen (an inode number names one object in the whole store). */
	tmem_move_object(fs->cfg.store, from->store_id, to->store_id, &oid);
}

/* A new pool (a directory moved to the top level) takes the kind and codec
 * of the pool it came from: its store pool is still empty, so neither
 * change can fail. */
static void zfs_pool_adopt_cb(void *priv, struct zfs_pool *pool)
{
	struct zfs *fs = priv;

	tmem_pool_set_kind(fs->cfg.store, pool->store_id,
			   pool->ephemeral ? TMEM_POOL_EPHEMERAL : TMEM_POOL_PERSISTENT);
	tmem_pool_set_codec(fs->cfg.store, pool->store_id, atomic_load(&pool->codec));
}

/* ---- create / destroy ------------------------------------------------------ */

struct zfs *zfs_create(const struct zfs_config *cfg)
{
	static const struct zfs_ns_ops ops = {
		.inode_release = zfs_inode_release_cb,
		.pool_release = zfs_pool_release_cb,
		.blocks = zfs_blocks_cb,
		.inode_move = zfs_inode_move_cb,
		.pool_adopt = zfs_pool_adopt_cb,
	};
	struct zfs *fs;
	struct zfs_pool *root;
	int err = ENOMEM;

	if (!cfg || !cfg->store || !cfg->buddy || !cfg->sgv) {
		errno = EINVAL;
		return NULL;
	}
	if (codec_valid(cfg->codec) < 0) {
		errno = EINVAL;
		return NULL;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		goto err;
	fs->cfg = *cfg;
	if (pthread_mutex_init(&fs->lock, NULL))
		goto err_free;
	if (zfs_notify_init(&fs->notify) < 0)
		goto err_lock;
	/* The root is the default pool and always persistent (DESIGN.md §2);
	 * cfg->ephemeral is the kind of the pools made under it. */
	root = zfs_pool_new(fs, 0, cfg->codec);
	if (!root) {
		err = errno;
		goto err_mutex;
	}
	fs->ns = zfs_ns_create(root, cfg->uid, cfg->gid, &ops, fs, ZFS_CTL_NAME, ZFS_CTL_INO_ROOT);
	if (!fs->ns) {
		tmem_destroy_pool(cfg->store, root->store_id);
		free(root);
		goto err_mutex;
	}
	if (zfs_mem_init(&fs->mem, cfg->store, cfg->pam, fs->ns, &fs->notify, cfg->mem_limit) < 0)
		goto err_ns;
	fs->io_pool = sgv_pool_create(cfg->sgv, "zfs-io", SGV_CLUSTER_TAIL, 0, false, 0);
	if (!fs->io_pool) {
		err = errno;
		goto err_mem;
	}
	return fs;
err_mem:
	zfs_mem_fini(&fs->mem);
err_ns:
	tmem_destroy_pool(cfg->store, root->store_id);
	zfs_ns_destroy(fs->ns);
err_mutex:
	zfs_notify_fini(&fs->notify);
err_lock:
	pthread_mutex_destroy(&fs->lock);
err_free:
	free(fs);
err:
	errno = err;
	return NULL;
}

static int zfs_destroy_pool_cb(void *arg, struct zfs_pool *pool)
{
	struct zfs *fs = arg;

	tmem_destroy_pool(fs->cfg.store, pool->store_id);
	return 0;
}

void zfs_destroy(struct zfs *fs)
{
	if (!fs)
		return;
	zfs_ctl_release_all(fs);
	/* Pools still listed (live ones; removed ones were released). */
	zfs_ns_pools_foreach(fs->ns, zfs_destroy_pool_cb, fs);
	zfs_ns_destroy(fs->ns);
	sgv_pool_destroy(fs->io_pool);
	zfs_mem_fini(&fs->mem);
	zfs_notify_fini(&fs->notify);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

void zfs_set_session(struct zfs *fs, struct fuse_session *se)
{
	fs->se = se;
	fs->notify.se = se;
}

int zfs_check(struct zfs *fs)
{
	int ret = zfs_ns_check(fs->ns);

	if (ret == 0)
		ret = tmem_check(fs->cfg.store);
	return ret;
}

/* ---- attributes ------------------------------------------------------------ */

/* Fill st for an inode, with st_blocks counting the pages tmem stores. */
static void zfs_fill_stat(struct zfs *fs, struct zfs_inode *inode, struct stat *st)
{
	zfs_ns_stat(fs->ns, inode, st);	/* st_blocks through zfs_blocks_cb */
}

static void zfs_fix_blocks(struct zfs *fs, struct stat *st)
{
	struct zfs_inode *inode;

	if (!S_ISREG(st->st_mode))
		return;
	inode = zfs_ns_get(fs->ns, st->st_ino);
	if (inode)
		zfs_fill_stat(fs, inode, st);
}

static void zfs_reply_entry(fuse_req_t req, const struct stat *st, double timeout)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = st->st_ino;
	e.generation = 1;
	e.attr = *st;
	e.attr_timeout = timeout;
	e.entry_timeout = timeout;
	fuse_reply_entry(req, &e);
}

static void zfs_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	/* We clear set-user-ID/set-group-ID ourselves (zfs_kill_suid), which
	 * spares the kernel a GETATTR before every chown. */
	if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV)
		conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
	/* Always READDIRPLUS: the attributes cost us a lookup in memory and
	 * spare the kernel a LOOKUP per entry (find | xargs cat, tar, ls -l). */
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_WRITE;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_MOVE;
	conn->max_write = ZFS_MAX_IO;
	conn->max_readahead = ZFS_MAX_IO;
	conn->max_background = 64;
	conn->time_gran = 1;
}

static void zfs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct zfs *fs = zfs_of(req);
	struct stat st;
	int ret;

	if (zfs_ctl_is(parent) || (parent == ZFS_ROOT_INO && !strcmp(name, ZFS_CTL_NAME))) {
		ret = zfs_ctl_lookup(fs, parent, name, &st);
		if (ret < 0)
			goto err;
		zfs_reply_entry(req, &st, 0.0);
		return;
	}
	ret = zfs_ns_lookup(fs->ns, parent, name, &st);
	if (ret < 0)
		goto err;
	zfs_fix_blocks(fs, &st);
	zfs_reply_entry(req, &st, ZFS_TIMEOUT);
	return;
err:
	if (ret == -ENOENT) {
		/* A negative entry the kernel may cache. */
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.entry_timeout = ZFS_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	fuse_reply_err(req, -ret);
}

static void zfs_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct zfs *fs = zfs_of(req);

	if (!zfs_ctl_is(ino))
		zfs_ns_forget(fs->ns, ino, nlookup);
	fuse_reply_none(req);
}

static void zfs_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct zfs *fs = zfs_of(req);
	size_t k;

	for (k = 0; k < count; k++)
		if (!zfs_ctl_is(forgets[k].ino))
			zfs_ns_forget(fs->ns, forgets[k].ino, forgets[k].nlookup);
	fuse_reply_none(req);
}

static void zfs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_inode *inode;
	struct stat st;
	int ret;

	(void)fi;
	if (zfs_ctl_is(ino)) {
		ret = zfs_ctl_getattr(fs, ino, &st);
		if (ret < 0) {
			fuse_reply_err(req, -ret);
			return;
		}
		fuse_reply_attr(req, &st, 0.0);
		return;
	}
	inode = zfs_ns_get(fs->ns, ino);
	if (!inode) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	zfs_fill_stat(fs, inode, &st);
	fuse_reply_attr(req, &st, ZFS_TIMEOUT);
}

/* What the VFS does on write, truncate and chown (FUSE_CAP_HANDLE_KILLPRIV
 * leaves it to us): the file loses set-user-ID, and set-group-ID when
 * group-executable.  Write and truncate (always = 0): regular files only,
 * and only when the caller is not root (CAP_FSETID).  Chown (always = 1):
 * every non-directory - FIFOs, sockets, devices and symlinks too, as
 * chown_common() asks of notify_change() - whoever asks. */
static void zfs_kill_suid(struct zfs_inode *inode, int always, uid_t caller)
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

/* ---- the data path --------------------------------------------------------- */

/* Read page `index` of a file into `page`: zeros when none is stored. */
static int zfs_get_page(struct zfs *fs, struct zfs_inode *inode, uint64_t index, void *page)
{
	struct tmem_oid oid = zfs_oid(inode->ino);
	int ret = tmem_get(fs->cfg.store, inode->pool->store_id, &oid, (uint32_t)index, page, 0);

	if (ret == -ENOENT) {
		memset(page, 0, ZFS_PAGE);
		return 0;
	}
	return ret;
}

/* Store a page, or drop it when all zero. */
static int zfs_put_page(struct zfs *fs, struct zfs_inode *inode, uint64_t index,
			const void *page)
{
	struct tmem_oid oid = zfs_oid(inode->ino);
	int ret;

	if (zfs_page_is_zero(page)) {
		ret = tmem_flush_page(fs->cfg.store, inode->pool->store_id, &oid, (uint32_t)index);
		return ret == -ENOENT ? 0 : ret;
	}
	return tmem_put(fs->cfg.store, inode->pool->store_id, &oid, (uint32_t)index, page);
}

/* Zero the bytes [from, to) of a file whose size is `size` (caller must hold
 * io_lock exclusively): whole pages are flushed, edge pages rewritten. */
static int zfs_zero_range(struct zfs *fs, struct zfs_inode *inode, uint64_t from, uint64_t to,
			  uint64_t size)
{
	struct tmem_oid oid = zfs_oid(inode->ino);
	unsigned char page[ZFS_PAGE];
	uint64_t first_full, last_full;
	int ret;

	if (to > size)
		to = size;
	if (from >= to)
		return 0;
	first_full = (from + ZFS_PAGE - 1) / ZFS_PAGE;
	last_full = to / ZFS_PAGE;	/* exclusive */
	/* Edge pages. */
	if (from % ZFS_PAGE) {
		uint64_t idx = from / ZFS_PAGE;
		uint64_t end = to < (idx + 1) * ZFS_PAGE ? to : (idx + 1) * ZFS_PAGE;

		ret = zfs_get_page(fs, inode, idx, page);
		if (ret < 0)
			return ret;
		memset(page + from % ZFS_PAGE, 0, end - from);
		ret = zfs_put_page(fs, inode, idx, page);
		if (ret < 0)
			return ret;
	}
	if (to % ZFS_PAGE && to / ZFS_PAGE >= first_full) {
		uint64_t idx = to / ZFS_PAGE;

		ret = zfs_get_page(fs, inode, idx, page);
		if (ret < 0)
			return ret;
		memset(page, 0, to % ZFS_PAGE);
		ret = zfs_put_page(fs, inode, idx, page);
		if (ret < 0)
			return ret;
	}
	if (last_full > first_full) {
		int64_t n = tmem_flush_range(fs->cfg.store, inode->pool->store_id, &oid,
					     (uint32_t)first_full, (uint32_t)(last_full - 1));

		if (n < 0)
			return (int)n;
	}
	return 0;
}

/* Change the size (caller must hold io_lock exclusively). */
static int zfs_truncate(struct zfs *fs, struct zfs_inode *inode, uint64_t newsize)
{
	uint64_t size;
	int ret;

	if (newsize > ZFS_MAX_FILE_SIZE)
		return -EFBIG;
	pthread_mutex_lock(&inode->stripe->lock);
	size = inode->size;
	pthread_mutex_unlock(&inode->stripe->lock);
	if (newsize < size) {
		/* Zero the tail of the new last page and drop every page after. */
		ret = zfs_zero_range(fs, inode, newsize, size, size);
		if (ret < 0)
			return ret;
	}
	zfs_ns_set_size(inode, newsize);
	return 0;
}

static void zfs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_inode *inode;
	struct sgv_obj *obj = NULL;
	struct iovec *vec, *out = NULL;
	uint64_t fsize, end, first, npages, p;
	int cnt = 0, seg, nout, ret = 0;
	size_t segoff, skip, left;

	if (zfs_ctl_is(ino)) {
		zfs_ctl_read(fs, req, fi->fh, size, off);
		return;
	}
	inode = (struct zfs_inode *)(uintptr_t)fi->fh;
	pthread_rwlock_rdlock(&inode->stripe->io_lock);
	pthread_mutex_lock(&inode->stripe->lock);
	fsize = inode->size;
	pthread_mutex_unlock(&inode->stripe->lock);
	if (off < 0 || (uint64_t)off >= fsize || size == 0) {
		pthread_rwlock_unlock(&inode->stripe->io_lock);
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	end = (uint64_t)off + size < fsize ? (uint64_t)off + size : fsize;
	first = (uint64_t)off / ZFS_PAGE;
	npages = (end + ZFS_PAGE - 1) / ZFS_PAGE - first;
	vec = sgv_pool_alloc(fs->io_pool, npages * ZFS_PAGE, 0, NULL, &cnt, &obj);
	if (!vec) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	/* Decompress page after page straight into the vector's pages. */
	seg = 0;
	segoff = 0;
	for (p = 0; p < npages; p++) {
		if (segoff == vec[seg].iov_len) {
			seg++;
			segoff = 0;
		}
		ret = zfs_get_page(fs, inode, first + p, (char *)vec[seg].iov_base + segoff);
		if (ret < 0)
			goto out_unlock;
		segoff += ZFS_PAGE;
	}
	/* Counted while io_lock holds the file in its pool (a move needs it). */
	atomic_fetch_add(&inode->pool->bytes_read, end - (uint64_t)off);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	/* Trim to [off, end). */
	out = malloc((size_t)cnt * sizeof(*out));
	if (!out) {
		ret = -ENOMEM;
		goto out;
	}
	skip = (size_t)((uint64_t)off - first * ZFS_PAGE);
	left = (size_t)(end - (uint64_t)off);
	nout = 0;
	for (seg = 0; seg < cnt && left; seg++) {
		size_t len = vec[seg].iov_len;
		char *base = vec[seg].iov_base;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		base += skip;
		len -= skip;
		skip = 0;
		if (len > left)
			len = left;
		out[nout].iov_base = base;
		out[nout].iov_len = len;
		nout++;
		left -= len;
	}
	fuse_reply_iov(req, out, nout);
	free(out);
	sgv_pool_free(obj, NULL);
	return;
out_unlock:
	pthread_rwlock_unlock(&inode->stripe->io_lock);
out:
	sgv_pool_free(obj, NULL);
	fuse_reply_err(req, ret == -ENOENT ? EIO : -ret);
}

/* Write `size` bytes at `off`; returns the bytes written or -errno. */
static ssize_t zfs_write_data(struct zfs *fs, struct zfs_inode *inode, const char *buf,
			      size_t size, uint64_t off)
{
	unsigned char page[ZFS_PAGE];
	uint64_t fsize, pos = off, end;
	ssize_t done = 0;
	int ret = 0;

	if (off >= ZFS_MAX_FILE_SIZE)
		return -EFBIG;
	if (size > ZFS_MAX_FILE_SIZE - off)
		size = (size_t)(ZFS_MAX_FILE_SIZE - off);
	end = off + size;
	pthread_mutex_lock(&inode->stripe->lock);
	fsize = inode->size;
	pthread_mutex_unlock(&inode->stripe->lock);
	while (pos < end) {
		uint64_t idx = pos / ZFS_PAGE;
		size_t in = (size_t)(pos % ZFS_PAGE);
		size_t n = ZFS_PAGE - in;

		if (n > end - pos)
			n = (size_t)(end - pos);
		if (n == ZFS_PAGE) {
			ret = zfs_put_page(fs, inode, idx, buf + (pos - off));
		} else {
			if (idx * ZFS_PAGE < fsize)
				ret = zfs_get_page(fs, inode, idx, page);
			else
				memset(page, 0, ZFS_PAGE);
			if (ret == 0) {
				memcpy(page + in, buf + (pos - off), n);
				ret = zfs_put_page(fs, inode, idx, page);
			}
		}
		if (ret < 0)
			break;
		pos += n;
		done += (ssize_t)n;
	}
	if (done > 0) {
		if (pos > fsize)
			zfs_ns_set_size(inode, pos);
		else
			zfs_ns_touch(inode, 1);
		atomic_fetch_add(&inode->pool->bytes_written, (uint64_t)done);
		return done;
	}
	return ret < 0 ? ret : 0;
}

static void zfs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
			 off_t off, struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_inode *inode;
	ssize_t ret;

	if (zfs_ctl_is(ino)) {
		ret = zfs_ctl_write(fs, req, ino, fi->fh, buf, size, off);
		if (ret < 0)
			fuse_reply_err(req, (int)-ret);
		else
			fuse_reply_write(req, (size_t)ret);
		return;
	}
	inode = (struct zfs_inode *)(uintptr_t)fi->fh;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = zfs_mem_reserve(&fs->mem, size);
	if (ret < 0) {
		fuse_reply_err(req, (int)-ret);
		return;
	}
	pthread_rwlock_wrlock(&inode->stripe->io_lock);
	if (fi->flags & O_APPEND) {
		pthread_mutex_lock(&inode->stripe->lock);
		off = (off_t)inode->size;
		pthread_mutex_unlock(&inode->stripe->lock);
	}
	ret = zfs_write_data(fs, inode, buf, size, (uint64_t)off);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	if (ret > 0 && (inode->mode & (S_ISUID | S_ISGID)))
		zfs_kill_suid(inode, 0, fuse_req_ctx(req)->uid);
	if (ret > 0)
		zfs_ns_kill_caps(fs->ns, inode->ino);	/* HANDLE_KILLPRIV_V2 */
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else
		fuse_reply_write(req, (size_t)ret);
}

static void zfs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			   struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_inode *inode;
	struct stat st;
	int ret;

	(void)fi;
	if (zfs_ctl_is(ino)) {
		/* Truncating a control file before writing it is fine. */
		if (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW |
			       FUSE_SET_ATTR_CTIME)) {
			fuse_reply_err(req, EPERM);
			return;
		}
		ret = zfs_ctl_getattr(fs, ino, &st);
		if (ret < 0)
			fuse_reply_err(req, -ret);
		else
			fuse_reply_attr(req, &st, 0.0);
		return;
	}
	inode = zfs_ns_get(fs->ns, ino);
	if (!inode) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!S_ISREG(inode->mode)) {
			ret = S_ISDIR(inode->mode) ? -EISDIR : -EINVAL;
			goto err;
		}
		if (attr->st_size < 0) {
			ret = -EINVAL;
			goto err;
		}
		pthread_rwlock_wrlock(&inode->stripe->io_lock);
		ret = zfs_truncate(fs, inode, (uint64_t)attr->st_size);
		pthread_rwlock_unlock(&inode->stripe->io_lock);
		if (ret < 0)
			goto err;
		if (!(to_set & FUSE_SET_ATTR_MODE))
			zfs_kill_suid(inode, 0, fuse_req_ctx(req)->uid);
		zfs_ns_kill_caps(fs->ns, ino);
	}
	if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) && !(to_set & FUSE_SET_ATTR_MODE))
		zfs_kill_suid(inode, 1, 0);
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		zfs_ns_kill_caps(fs->ns, ino);
	ret = zfs_ns_setattr(fs->ns, ino, attr, to_set & ~FUSE_SET_ATTR_SIZE, &st);
	if (ret < 0)
		goto err;
	zfs_fill_stat(fs, inode, &st);
	fuse_reply_attr(req, &st, ZFS_TIMEOUT);
	return;
err:
	fuse_reply_err(req, -ret);
}

static void zfs_ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			     struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_inode *inode;
	uint64_t size, end;
	int ret = 0;

	(void)ino;
	if (zfs_ctl_is(ino)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	inode = (struct zfs_inode *)(uintptr_t)fi->fh;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if ((mode & FALLOC_FL_PUNCH_HOLE) &&
	    (!(mode & FALLOC_FL_KEEP_SIZE) || (mode & FALLOC_FL_ZERO_RANGE))) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	end = (uint64_t)off + (uint64_t)len;
	if (end > ZFS_MAX_FILE_SIZE) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	pthread_rwlock_wrlock(&inode->stripe->io_lock);
	pthread_mutex_lock(&inode->stripe->lock);
	size = inode->size;
	pthread_mutex_unlock(&inode->stripe->lock);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		ret = zfs_zero_range(fs, inode, (uint64_t)off, end, size);
	/* Plain allocation needs nothing stored: holes cost nothing. */
	if (ret == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && end > size)
		zfs_ns_set_size(inode, end);
	else if (ret == 0 && (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)))
		zfs_ns_touch(inode, 1);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	fuse_reply_err(req, -ret);
}

static void zfs_ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			 struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_inode *inode;
	struct tmem_oid oid;
	uint64_t size, idx, res;
	uint32_t next;
	int ret;

	if (zfs_ctl_is(ino) || (whence != SEEK_DATA && whence != SEEK_HOLE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	inode = (struct zfs_inode *)(uintptr_t)fi->fh;
	oid = zfs_oid(inode->ino);
	pthread_rwlock_rdlock(&inode->stripe->io_lock);
	pthread_mutex_lock(&inode->stripe->lock);
	size = inode->size;
	pthread_mutex_unlock(&inode->stripe->lock);
	if (off < 0 || (uint64_t)off >= size) {
		ret = -ENXIO;
		goto out;
	}
	idx = (uint64_t)off / ZFS_PAGE;
	if (whence == SEEK_DATA) {
		ret = tmem_next_index(fs->cfg.store, inode->pool->store_id, &oid, (uint32_t)idx,
				      &next);
		if (ret < 0) {
			ret = ret == -ENOENT ? -ENXIO : ret;
			goto out;
		}
		res = (uint64_t)next * ZFS_PAGE;
		if (res < (uint64_t)off)
			res = (uint64_t)off;
		if (res >= size) {
			ret = -ENXIO;
			goto out;
		}
	} else {
		for (;;) {
			ret = tmem_next_index(fs->cfg.store, inode->pool->store_id, &oid,
					      (uint32_t)idx, &next);
			if (ret == -ENOENT || (ret == 0 && next != idx))
				break;
			if (ret < 0)
				goto out;
			if (++idx >= ZFS_MAX_PAGES)
				break;
		}
		res = idx * ZFS_PAGE;
		if (res < (uint64_t)off)
			res = (uint64_t)off;
		if (res > size)
			res = size;
	}
	ret = 0;
out:
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_lseek(req, (off_t)res);
}

/* ---- open / release -------------------------------------------------------- */

/* Open an inode: pin the file's object, in whatever pool it is at home,
 * so eviction skips it while it is open - also after a rename moves it
 * into an ephemeral pool: the pin travels with the object (tmem_move_object)
 * and every release unpins where the object is then, so pins always equal
 * open files.  The pin is taken under the inode's io_lock (shared), which
 * a move holds exclusively, so it lands where inode->pool says, and under
 * evict_lock (shared), so no eviction runs between the check that the
 * file still exists and the pin.
 * Returns 0, -ENOMEM (no pin), or -ESTALE for a file that has no name and
 * no open file left (evicted while the kernel still knew it, or unlinked
 * and closed: its pages are gone either way, and a file is whole or gone).
 * ESTALE, not ENOENT: the kernel may still cache the name of an evicted
 * file (its invalidation comes from the notifier thread), and on ESTALE
 * the VFS walks the path again asking us (LOOKUP_REVAL), so the caller
 * gets ENOENT, or with O_CREAT a new file - not ENOENT for a name that no
 * longer exists when it asked to create it. */
static int zfs_open_inode(struct zfs *fs, struct zfs_inode *inode, struct fuse_file_info *fi)
{
	struct tmem_oid oid = zfs_oid(inode->ino);
	struct stat st;
	int ret;

	pthread_rwlock_rdlock(&fs->mem.evict_lock);
	zfs_ns_stat(fs->ns, inode, &st);
	if (st.st_nlink == 0 && atomic_load(&inode->nopen) == 0) {
		pthread_rwlock_unlock(&fs->mem.evict_lock);
		return -ESTALE;
	}
	pthread_rwlock_rdlock(&inode->stripe->io_lock);
	ret = tmem_pin(fs->cfg.store, inode->pool->store_id, &oid);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	pthread_rwlock_unlock(&fs->mem.evict_lock);
	if (ret < 0)
		return ret == -EOVERFLOW ? -ENFILE : ret;
	zfs_ns_open(fs->ns, inode);
	fi->fh = (uint64_t)(uintptr_t)inode;
	/* O_DIRECT bypasses the kernel's page cache: every read asks the store. */
	fi->direct_io = (fi->flags & O_DIRECT) ? 1 : 0;
	fi->keep_cache = 1;
	return 0;
}

/* Undo zfs_open_inode: unpin the object where it is now (a move holds
 * io_lock exclusively, so inode->pool is where the pin went), then count
 * the open file out of the namespace. */
static void zfs_close_inode(struct zfs *fs, struct zfs_inode *inode)
{
	struct tmem_oid oid = zfs_oid(inode->ino);

	pthread_rwlock_rdlock(&inode->stripe->io_lock);
	tmem_unpin(fs->cfg.store, inode->pool->store_id, &oid);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	zfs_ns_release(fs->ns, inode);
}

static void zfs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_inode *inode;
	int ret;

	if (zfs_ctl_is(ino)) {
		ret = zfs_ctl_open(fs, req, ino, fi);
		if (ret < 0)
			fuse_reply_err(req, -ret);
		else
			fuse_reply_open(req, fi);
		return;
	}
	inode = zfs_ns_get(fs->ns, ino);
	if (!inode) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (S_ISDIR(inode->mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (fi->flags & O_TRUNC) {
		pthread_rwlock_wrlock(&inode->stripe->io_lock);
		ret = zfs_truncate(fs, inode, 0);
		pthread_rwlock_unlock(&inode->stripe->io_lock);
		if (ret < 0) {
			fuse_reply_err(req, -ret);
			return;
		}
		zfs_ns_kill_caps(fs->ns, ino);
	}
	ret = zfs_open_inode(fs, inode, fi);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		zfs_close_inode(fs, inode);	/* the caller was interrupted */
}

static void zfs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);

	if (zfs_ctl_is(ino)) {
		zfs_ctl_release(fs, fi->fh);
		fuse_reply_err(req, 0);
		return;
	}
	zfs_close_inode(fs, (struct zfs_inode *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void zfs_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);	/* the data is where it will stay: in RAM */
}

/* ---- namespace changes ----------------------------------------------------- */

/* Refuse changes to the /.zcache tree and to its name in the root. */
static int zfs_ctl_guard(fuse_ino_t parent, const char *name)
{
	if (zfs_ctl_is(parent))
		return -EPERM;
	if (parent == ZFS_ROOT_INO && !strcmp(name, ZFS_CTL_NAME))
		return -EPERM;
	return 0;
}

static void zfs_make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev, const char *link, struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct zfs_pool *pool = NULL;
	struct zfs_inode *inode;
	struct stat st;
	gid_t gid = ctx->gid;
	int ret;

	if (zfs_ctl_is(parent)) {
		ret = -EPERM;
		goto err;
	}
	if (parent == ZFS_ROOT_INO && !strcmp(name, ZFS_CTL_NAME)) {
		ret = -EEXIST;
		goto err;
	}
	/* setgid directories pass their group (and, to subdirectories, the bit). */
	inode = zfs_ns_get(fs->ns, parent);
	if (inode && (inode->mode & S_ISGID)) {
		gid = inode->gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	if (parent == ZFS_ROOT_INO && S_ISDIR(mode)) {
		pool = zfs_pool_new(fs, fs->cfg.ephemeral, fs->cfg.codec);
		if (!pool) {
			ret = -errno;
			goto err;
		}
	}
	ret = zfs_ns_mknod(fs->ns, parent, name, mode, rdev, ctx->uid, gid, link, pool, &st);
	if (ret < 0) {
		if (pool) {
			tmem_destroy_pool(fs->cfg.store, pool->store_id);
			free(pool);
		}
		goto err;
	}
	inode = zfs_ns_get(fs->ns, st.st_ino);
	if (fi) {
		struct fuse_entry_param e;

		/* Fails only if another request unlinked the new file meanwhile:
		 * the kernel never hears of it, so drop the lookup it was given. */
		ret = zfs_open_inode(fs, inode, fi);
		if (ret < 0) {
			zfs_ns_forget(fs->ns, st.st_ino, 1);
			goto err;
		}
		memset(&e, 0, sizeof(e));
		e.ino = st.st_ino;
		e.generation = 1;
		e.attr = st;
		e.attr_timeout = ZFS_TIMEOUT;
		e.entry_timeout = ZFS_TIMEOUT;
		if (fuse_reply_create(req, &e, fi) == -ENOENT)
			zfs_close_inode(fs, inode);
		return;
	}
	zfs_reply_entry(req, &st, ZFS_TIMEOUT);
	return;
err:
	fuse_reply_err(req, -ret);
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
	struct zfs *fs = zfs_of(req);
	struct stat st;
	int ret;

	if (zfs_ctl_is(ino)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = zfs_ctl_guard(newparent, newname);
	if (ret == 0) {
		/* A link may move the file (ns.h, "Homes"): not while it is
		 * being evicted. */
		pthread_rwlock_rdlock(&fs->mem.evict_lock);
		ret = zfs_ns_link(fs->ns, ino, newparent, newname, &st);
		pthread_rwlock_unlock(&fs->mem.evict_lock);
	}
	if (ret < 0) {
		fuse_reply_err(req, ret == -EPERM && zfs_ctl_is(newparent) ? EPERM : -ret);
		return;
	}
	zfs_fix_blocks(fs, &st);
	zfs_reply_entry(req, &st, ZFS_TIMEOUT);
}

static void zfs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct zfs *fs = zfs_of(req);
	int ret = zfs_ctl_guard(parent, name);

	if (ret == 0) {
		pthread_rwlock_rdlock(&fs->mem.evict_lock);	/* it may move a file */
		ret = zfs_ns_unlink(fs->ns, parent, name);
		pthread_rwlock_unlock(&fs->mem.evict_lock);
	}
	fuse_reply_err(req, -ret);
}

static void zfs_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct zfs *fs = zfs_of(req);
	int ret = zfs_ctl_guard(parent, name);

	if (ret == 0)
		ret = zfs_ns_rmdir(fs->ns, parent, name);
	fuse_reply_err(req, -ret);
}

static void zfs_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_pool *pool = NULL;
	int ret = zfs_ctl_guard(parent, name), pool_err = 0;

	if (ret == 0)
		ret = zfs_ctl_guard(newparent, newname);
	if (ret < 0)
		goto out;
	/* A directory moved to the top level becomes a pool: have one ready
	 * (ns takes it, with its kind and codec, only if that happens). */
	if (newparent == ZFS_ROOT_INO || ((flags & RENAME_EXCHANGE) && parent == ZFS_ROOT_INO)) {
		pool = zfs_pool_new(fs, 0, fs->cfg.codec);
		if (!pool)
			pool_err = errno;
	}
	/* Files and subtrees may move between pools (ns.h): not while
	 * eviction is between the store and the namespace. */
	pthread_rwlock_rdlock(&fs->mem.evict_lock);
	ret = zfs_ns_rename(fs->ns, parent, name, newparent, newname, flags, &pool);
	pthread_rwlock_unlock(&fs->mem.evict_lock);
	if (ret == -ENOSPC && pool_err)
		ret = -pool_err;
	if (pool) {
		tmem_destroy_pool(fs->cfg.store, pool->store_id);
		free(pool);
	}
out:
	fuse_reply_err(req, -ret);
}

static void zfs_ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct zfs *fs = zfs_of(req);
	char buf[ZFS_SYMLINK_MAX + 1];
	int ret = zfs_ns_readlink(fs->ns, ino, buf, sizeof(buf));

	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_readlink(req, buf);
}

/* ---- directories ----------------------------------------------------------- */

struct zfs_dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size, used;
};

static int zfs_fill(void *arg, const char *name, uint64_t ino, mode_t mode, uint64_t next)
{
	struct zfs_dirbuf *d = arg;
	struct stat st;
	size_t n;

	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = mode;
	n = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, &st,
			      (off_t)next);
	if (n > d->size - d->used)
		return 1;
	d->used += n;
	return 0;
}

static void zfs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_inode *inode;
	struct stat st;

	if (zfs_ctl_is(ino)) {
		int ret = zfs_ctl_getattr(fs, ino, &st);

		if (ret < 0)
			fuse_reply_err(req, -ret);
		else if (!S_ISDIR(st.st_mode))
			fuse_reply_err(req, ENOTDIR);
		else
			fuse_reply_open(req, fi);
		return;
	}
	inode = zfs_ns_get(fs->ns, ino);
	if (!inode) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!S_ISDIR(inode->mode)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
}

static void zfs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_dirbuf d = { req, NULL, size, 0 };
	int ret;

	(void)fi;
	d.buf = malloc(size ? size : 1);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (zfs_ctl_is(ino))
		ret = zfs_ctl_readdir(fs, ino, (uint64_t)off, zfs_fill, &d);
	else
		ret = zfs_ns_readdir(fs->ns, ino, (uint64_t)off, zfs_fill, &d);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

struct zfs_dirbuf_plus {
	struct zfs *fs;
	fuse_req_t req;
	char *buf;
	size_t size, used;
};

static int zfs_fill_plus(void *arg, const char *name, const struct stat *st, uint64_t next)
{
	struct zfs_dirbuf_plus *d = arg;
	struct fuse_entry_param e;
	size_t n;

	memset(&e, 0, sizeof(e));
	e.ino = st->st_ino;
	e.generation = 1;
	e.attr = *st;
	if (zfs_ctl_is(st->st_ino))
		zfs_ctl_getattr(d->fs, st->st_ino, &e.attr);
	if (!zfs_ctl_is(st->st_ino) && strcmp(name, ".") && strcmp(name, "..")) {
		e.attr_timeout = ZFS_TIMEOUT;
		e.entry_timeout = ZFS_TIMEOUT;
	}
	n = fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name, &e,
				   (off_t)next);
	if (n > d->size - d->used)
		return 1;
	d->used += n;
	return 0;
}

/* Fill for the /.zcache directories: their attributes come from ctl. */
static int zfs_fill_ctl_plus(void *arg, const char *name, uint64_t ino, mode_t mode,
			     uint64_t next)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = mode;
	return zfs_fill_plus(arg, name, &st, next);
}

static void zfs_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			       struct fuse_file_info *fi)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_dirbuf_plus d = { fs, req, NULL, size, 0 };
	int ret;

	(void)fi;
	d.buf = malloc(size ? size : 1);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (zfs_ctl_is(ino))
		ret = zfs_ctl_readdir(fs, ino, (uint64_t)off, zfs_fill_ctl_plus, &d);
	else
		ret = zfs_ns_readdirplus(fs->ns, ino, (uint64_t)off, zfs_fill_plus, &d);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void zfs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void zfs_ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			    struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void zfs_ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct zfs *fs = zfs_of(req);
	struct statvfs sv;

	(void)ino;
	zfs_mem_statfs(&fs->mem, &sv);
	fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes --------------------------------------------------- */

static int zfs_pool_xattr_get(struct zfs_pool *pool, const char *name, char *buf, size_t len)
{
	if (!strcmp(name, ZFS_XATTR_KIND)) {
		const char *k = pool->ephemeral ? "ephemeral" : "persistent";

		return snprintf(buf, len, "%s", k);
	}
	return codec_format(atomic_load(&pool->codec), buf, len);
}

static void zfs_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    const char *value, size_t size, int flags)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_pool *pool;
	char val[64];
	int ret;

	if (zfs_ctl_is(ino)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	pool = zfs_ns_pool_of_dir(fs->ns, ino);
	if (!pool || (strcmp(name, ZFS_XATTR_KIND) && strcmp(name, ZFS_XATTR_CODEC))) {
		ret = zfs_ns_setxattr(fs->ns, ino, name, value, size, flags);
		fuse_reply_err(req, -ret);
		return;
	}
	if (flags & XATTR_CREATE) {
		fuse_reply_err(req, EEXIST);	/* pool attributes always exist */
		return;
	}
	/* A pool's kind and codec are its owner's to set, as its mode is
	 * (chmod): write permission on the directory is not enough. */
	{
		struct zfs_inode *dir = zfs_ns_get(fs->ns, ino);
		struct stat st;
		uid_t caller = fuse_req_ctx(req)->uid;

		if (!dir) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		zfs_ns_stat(fs->ns, dir, &st);
		if (caller != 0 && caller != st.st_uid) {
			fuse_reply_err(req, EPERM);
			return;
		}
	}
	if (size >= sizeof(val)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(val, value, size);
	val[size] = '\0';
	if (size && val[size - 1] == '\n')
		val[size - 1] = '\0';
	if (!strcmp(name, ZFS_XATTR_CODEC)) {
		unsigned id;

		ret = codec_parse(val, &id, NULL, 0);
		if (ret == 0) {
			ret = tmem_pool_set_codec(fs->cfg.store, pool->store_id, id);
			if (ret == 0)
				atomic_store(&pool->codec, id);
		}
		fuse_reply_err(req, -ret);
		return;
	}
	if (strcmp(val, "persistent") && strcmp(val, "ephemeral")) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	zfs_ns_pool_lock(fs->ns);
	if (!zfs_ns_pool_empty(fs->ns, pool)) {
		ret = (pool->ephemeral == !strcmp(val, "ephemeral")) ? 0 : -EBUSY;
	} else {
		ret = tmem_pool_set_kind(fs->cfg.store, pool->store_id,
					 strcmp(val, "ephemeral") ? TMEM_POOL_PERSISTENT
								  : TMEM_POOL_EPHEMERAL);
		if (ret == 0)
			pool->ephemeral = !strcmp(val, "ephemeral");
	}
	zfs_ns_pool_unlock(fs->ns);
	fuse_reply_err(req, -ret);
}

static void zfs_reply_xattr(fuse_req_t req, const char *data, int len, size_t size)
{
	if (len < 0)
		fuse_reply_err(req, -len);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else if ((size_t)len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, data, (size_t)len);
}

static void zfs_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct zfs *fs = zfs_of(req);
	struct zfs_pool *pool;
	char small[64], *buf;
	int ret;

	if (zfs_ctl_is(ino)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	pool = zfs_ns_pool_of_dir(fs->ns, ino);
	if (pool && (!strcmp(name, ZFS_XATTR_KIND) || !strcmp(name, ZFS_XATTR_CODEC))) {
		ret = zfs_pool_xattr_get(pool, name, small, sizeof(small));
		zfs_reply_xattr(req, small, ret, size);
		return;
	}
	if (size == 0) {
		ret = zfs_ns_getxattr(fs->ns, ino, name, NULL, 0);
		zfs_reply_xattr(req, NULL, ret, 0);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = zfs_ns_getxattr(fs->ns, ino, name, buf, size);
	zfs_reply_xattr(req, buf, ret, size);
	free(buf);
}

static void zfs_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char pool_names[] = ZFS_XATTR_KIND "\0" ZFS_XATTR_CODEC;
	struct zfs *fs = zfs_of(req);
	size_t extra = 0;
	char *buf;
	int ret;

	if (zfs_ctl_is(ino)) {
		zfs_reply_xattr(req, NULL, 0, size);
		return;
	}
	if (zfs_ns_pool_of_dir(fs->ns, ino))
		extra = sizeof(pool_names);
	ret = zfs_ns_listxattr(fs->ns, ino, NULL, 0);
	if (ret < 0 || size == 0) {
		zfs_reply_xattr(req, NULL, ret < 0 ? ret : ret + (int)extra, 0);
		return;
	}
	buf = malloc((size_t)ret + extra + 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(buf, pool_names, extra);
	ret = zfs_ns_listxattr(fs->ns, ino, buf + extra, (size_t)ret);
	zfs_reply_xattr(req, buf, ret < 0 ? ret : ret + (int)extra, size);
	free(buf);
}

static void zfs_ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct zfs *fs = zfs_of(req);

	if (zfs_ctl_is(ino)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (zfs_ns_pool_of_dir(fs->ns, ino) &&
	    (!strcmp(name, ZFS_XATTR_KIND) || !strcmp(name, ZFS_XATTR_CODEC))) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fuse_reply_err(req, -zfs_ns_removexattr(fs->ns, ino, name));
}

/* The handlers and their replies (each replies exactly once):
 *   init          (none)                      set capabilities and limits
 *   lookup        entry | err                 ENOENT gives a cacheable negative entry
 *   forget[_multi] none
 *   getattr       attr | err (ENOENT)
 *   setattr       attr | err (ENOENT, EISDIR, EINVAL, EFBIG, EPERM in /.zcache)
 *   readlink      readlink | err (EINVAL)
 *   mknod, mkdir, symlink
 *                 entry | err (EEXIST, ENOENT, ENOTDIR, ENAMETOOLONG, ENOSPC, EPERM)
 *   create        create | err (as mknod)
 *   link          entry | err (EPERM, EEXIST, ENOENT, EMLINK, ENOMEM)
 *   unlink, rmdir err (0, ENOENT, EISDIR, ENOTDIR, ENOTEMPTY, EPERM)
 *   rename        err (0, ENOENT, EEXIST, ENOTEMPTY, EISDIR, ENOTDIR, EINVAL, EPERM,
 *                      ENOMEM, ENOSPC: no store pool left for a new pool)
 *   open          open | err (ENOENT, ESTALE: evicted, EISDIR, ENOMEM, ENFILE,
 *                      EACCES for /.zcache writes)
 *   read          iov | buf | err (EIO, ENOMEM)
 *   write         write | err (EFBIG, ENOSPC, EINVAL, EACCES, EPERM)
 *   release, releasedir, fsync, fsyncdir
 *                 err (0)
 *   opendir       open | err (ENOENT, ENOTDIR)
 *   readdir[plus] buf | err (ENOENT, ENOTDIR, ENOMEM)
 *   statfs        statfs
 *   setxattr, removexattr
 *                 err (0, EEXIST, ENODATA, EOPNOTSUPP, EINVAL, EBUSY, EPERM)
 *   getxattr, listxattr
 *                 buf | xattr | err (ENODATA, ERANGE, EOPNOTSUPP)
 *   fallocate     err (0, EOPNOTSUPP, EINVAL, EFBIG)
 *   lseek         lseek | err (ENXIO, EINVAL)
 */
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
	/* No flush handler: libfuse answers ENOSYS once and the kernel stops
	 * sending FLUSH on every close (nothing to flush in RAM). */
	.release = zfs_ll_release,
	.fsync = zfs_ll_fsync,
	.opendir = zfs_ll_opendir,
	.readdir = zfs_ll_readdir,
	.readdirplus = zfs_ll_readdirplus,
	.releasedir = zfs_ll_releasedir,
	.fsyncdir = zfs_ll_fsyncdir,
	.statfs = zfs_ll_statfs,
	.setxattr = zfs_ll_setxattr,
	.getxattr = zfs_ll_getxattr,
	.listxattr = zfs_ll_listxattr,
	.removexattr = zfs_ll_removexattr,
	.create = zfs_ll_create,
	.fallocate = zfs_ll_fallocate,
	.lseek = zfs_ll_lseek,
};
