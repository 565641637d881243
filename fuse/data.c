/* data.c - the data path: regular files' pages on tmem, and the pools'
 * store side (see data.h for the design, the locks and the contract).
 *
 * Every function here works on pages of ZFS_PAGE bytes: zfs_get_page and
 * zfs_put_page are the only two that talk to tmem for one page, and a page
 * of zeros is never stored.  Sizes are read under the inode's lock, data
 * under its io_lock.
 */
#include "fuse/data.h"

#include <errno.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "alloc/sgv.h"
#include "compress/codec.h"
#include "fuse/densify.h"
#include "fuse/far.h"
#include "fuse/mem.h"
#include "fuse/uring.h"
#include "tmem/tmem.h"

static struct tmem_oid zfs_oid(uint64_t ino)
{
	struct tmem_oid o = { { ino, 0, 0 } };

	return o;
}

int zfs_data_init(struct zfs_data *d, struct tmem_store *store, struct sgv_ctx *sgv,
		  struct zfs_ns *ns, struct zfs_mem *mem)
{
	d->store = store;
	d->ns = ns;
	d->mem = mem;
	d->io_pool = sgv_pool_create(sgv, "zfs-io", SGV_CLUSTER_TAIL, 0, false, 0);
	return d->io_pool ? 0 : -errno;
}

void zfs_data_fini(struct zfs_data *d)
{
	sgv_pool_destroy(d->io_pool);
	d->io_pool = NULL;
}

/* ---- pages ----------------------------------------------------------------- */

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

/* Read page `index` of a file into `page`: zeros when none is stored. */
static int zfs_get_page(struct zfs_data *d, struct zfs_inode *inode, uint64_t index, void *page)
{
	struct tmem_oid oid = zfs_oid(inode->ino);
	int ret = tmem_get(d->store, inode->pool->store_id, &oid, (uint32_t)index, page, 0);

	if (ret == -ENOENT) {
		memset(page, 0, ZFS_PAGE);
		return 0;
	}
	return ret;
}

/* Store a page, or drop it when all zero. */
static int zfs_put_page(struct zfs_data *d, struct zfs_inode *inode, uint64_t index,
			const void *page)
{
	struct tmem_oid oid = zfs_oid(inode->ino);
	int ret;

	if (zfs_page_is_zero(page)) {
		ret = tmem_flush_page(d->store, inode->pool->store_id, &oid, (uint32_t)index);
		return ret == -ENOENT ? 0 : ret;
	}
	return tmem_put(d->store, inode->pool->store_id, &oid, (uint32_t)index, page);
}

/* The file's size (under its lock). */
static uint64_t zfs_size(struct zfs_inode *inode)
{
	uint64_t size;

	pthread_mutex_lock(&inode->stripe->lock);
	size = inode->size;
	pthread_mutex_unlock(&inode->stripe->lock);
	return size;
}

/* Zero the bytes [from, to) of a file whose size is `size` (caller must hold
 * io_lock exclusively): whole pages are flushed, edge pages rewritten. */
static int zfs_zero_range(struct zfs_data *d, struct zfs_inode *inode, uint64_t from,
			  uint64_t to, uint64_t size)
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

		ret = zfs_get_page(d, inode, idx, page);
		if (ret < 0)
			return ret;
		memset(page + from % ZFS_PAGE, 0, end - from);
		ret = zfs_put_page(d, inode, idx, page);
		if (ret < 0)
			return ret;
	}
	if (to % ZFS_PAGE && to / ZFS_PAGE >= first_full) {
		uint64_t idx = to / ZFS_PAGE;

		ret = zfs_get_page(d, inode, idx, page);
		if (ret < 0)
			return ret;
		memset(page, 0, to % ZFS_PAGE);
		ret = zfs_put_page(d, inode, idx, page);
		if (ret < 0)
			return ret;
	}
	if (last_full > first_full) {
		int64_t n = tmem_flush_range(d->store, inode->pool->store_id, &oid,
					     (uint32_t)first_full, (uint32_t)(last_full - 1));

		if (n < 0)
			return (int)n;
	}
	return 0;
}

/* ---- the far tier (fuse/far.h) ---------------------------------------------- */

/* Bring a spilled file back (io_lock held exclusively when `locked`).  A
 * file found gone loses its names, once no lock is held: the caller then
 * answers -ESTALE (open: the VFS looks the name up again and finds none)
 * or -ENOENT.  Returns 1 when it restored the file, 0 when the file was
 * local, or a negative errno. */
static int zfs_data_unspill(struct zfs_data *d, struct zfs_inode *inode, int locked)
{
	struct zfs_far *far = atomic_load(&d->mem->far);
	int ret;

	if (!far || !zfs_far_spilled(inode))
		return 0;
	ret = zfs_far_restore(far, inode, locked);
	return ret < 0 ? ret : 1;
}

/* A restore put pages back without a reservation (an open must not fail
 * for the limit): once the file is pinned, and no lock is held, make room
 * again as a write would, by spilling or evicting other closed files. */
static void zfs_data_unspill_room(struct zfs_data *d)
{
	uint64_t limit = atomic_load(&d->mem->limit), used;

	if (!limit)
		return;
	used = zfs_mem_used(d->mem);
	if (used > limit)
		zfs_mem_evict_bytes(d->mem, used - limit + limit / 32);
}

/* After zfs_data_unspill failed with -ENOENT, no lock held. */
static void zfs_data_spill_gone(struct zfs_data *d, struct zfs_inode *inode)
{
	struct zfs_far *far = atomic_load(&d->mem->far);

	if (far)
		zfs_far_gone(far, inode->ino);
}

/* Tries of an open whose file eviction spilled again between its restore
 * and its pin (each restore made it the most recently used: rare). */
#define ZFS_OPEN_UNSPILL_TRIES 8

/* ---- open and close -------------------------------------------------------- */

int zfs_data_open(struct zfs_data *d, struct zfs_inode *inode)
{
	struct tmem_oid oid = zfs_oid(inode->ino);
	struct stat st;
	int ret, tries = 0, restored = 0;

again:
	ret = zfs_data_unspill(d, inode, 0);
	if (ret == -ENOENT) {
		zfs_data_spill_gone(d, inode);
		return -ESTALE;
	}
	if (ret < 0)
		return ret;
	restored |= ret;
	pthread_rwlock_rdlock(&d->mem->evict_lock);
	zfs_ns_stat(d->ns, inode, &st);
	if (st.st_nlink == 0 && atomic_load(&inode->nopen) == 0) {
		pthread_rwlock_unlock(&d->mem->evict_lock);
		return -ESTALE;
	}
	pthread_rwlock_rdlock(&inode->stripe->io_lock);
	if (zfs_far_spilled(inode)) {
		pthread_rwlock_unlock(&inode->stripe->io_lock);
		pthread_rwlock_unlock(&d->mem->evict_lock);
		if (++tries < ZFS_OPEN_UNSPILL_TRIES)
			goto again;
		return -EAGAIN;
	}
	ret = tmem_pin(d->store, inode->pool->store_id, &oid);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	pthread_rwlock_unlock(&d->mem->evict_lock);
	if (ret < 0)
		return ret == -EOVERFLOW ? -ENFILE : ret;
	zfs_ns_open(d->ns, inode);
	if (restored)
		zfs_data_unspill_room(d);
	return 0;
}

int zfs_data_lock_local(struct zfs_data *d, struct zfs_inode *a, struct zfs_inode *b,
			const int pools[2])
{
	struct zfs_far *far = atomic_load(&d->mem->far);
	struct zfs_inode *files[2] = { a, b };
	uint64_t restored = 0, lost = 0;
	int ret;

	for (int tries = 0; tries < ZFS_OPEN_UNSPILL_TRIES; tries++) {
		int spilled = 0;

		for (int k = 0; k < 2; k++) {
			if (!files[k])
				continue;
			ret = zfs_data_unspill(d, files[k], 0);
			if (ret == -ENOENT)
				zfs_data_spill_gone(d, files[k]);
			if (ret < 0)
				return ret;
		}
		for (int k = 0; far && pools && k < 2; k++) {
			if (pools[k] < 0)
				continue;
			ret = zfs_far_restore_pool(far, pools[k], &restored, &lost);
			if (ret < 0)
				return ret;
		}
		/* Under evict_lock (read) a file can be restored, never spilled. */
		pthread_rwlock_rdlock(&d->mem->evict_lock);
		for (int k = 0; k < 2; k++)
			spilled |= files[k] && zfs_far_spilled(files[k]);
		for (int k = 0; far && pools && k < 2 && !spilled; k++)
			if (pools[k] >= 0)
				spilled = zfs_far_pool_spilled(far, pools[k]) != 0;
		if (!spilled)
			return 0;
		pthread_rwlock_unlock(&d->mem->evict_lock);
	}
	return -EAGAIN;
}

/* A move holds io_lock exclusively, so inode->pool is where the pin went. */
void zfs_data_close(struct zfs_data *d, struct zfs_inode *inode)
{
	struct tmem_oid oid = zfs_oid(inode->ino);

	pthread_rwlock_rdlock(&inode->stripe->io_lock);
	tmem_unpin(d->store, inode->pool->store_id, &oid);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	zfs_ns_release(d->ns, inode);
}

/* ---- read ------------------------------------------------------------------ */

static int zfs_read_vectors(struct zfs_data *d, struct zfs_inode *inode, uint64_t off,
			    uint64_t end, struct zfs_data_buf *out);

/* The rest of zfs_data_read (io_lock held shared, released here) when the
 * read may go into a ring entry: pages first..first+npages, of which the
 * reply is the first `len` bytes.  Falls back to the vectors when this
 * thread serves no ring entry or the pages do not fit its payload. */
static int zfs_read_into_ring(struct zfs_data *d, struct zfs_inode *inode, uint64_t first,
			      uint64_t npages, uint64_t len, struct zfs_data_buf *out)
{
	size_t cap = 0;
	char *dst = zfs_uring_payload(atomic_load_explicit(d->ring, memory_order_acquire), &cap);
	uint64_t p;
	int ret = 0;

	if (!dst || npages * ZFS_PAGE > cap)
		return zfs_read_vectors(d, inode, first * ZFS_PAGE, first * ZFS_PAGE + len, out);
	for (p = 0; p < npages && ret == 0; p++)
		ret = zfs_get_page(d, inode, first + p, dst + p * ZFS_PAGE);
	if (ret == 0)
		atomic_fetch_add(&inode->pool->bytes_read, len);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	if (ret < 0)
		return ret == -ENOENT ? -EIO : ret;
	out->one.iov_base = dst;
	out->one.iov_len = (size_t)len;
	out->iov = &out->one;
	out->cnt = 1;
	return 0;
}

int zfs_data_read(struct zfs_data *d, struct zfs_inode *inode, size_t size, off_t off,
		  struct zfs_data_buf *out)
{
	uint64_t fsize, end;

	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&inode->stripe->io_lock);
	fsize = zfs_size(inode);
	if (off < 0 || (uint64_t)off >= fsize || size == 0) {
		pthread_rwlock_unlock(&inode->stripe->io_lock);
		return 0;
	}
	end = (uint64_t)off + size < fsize ? (uint64_t)off + size : fsize;
	if ((uint64_t)off % ZFS_PAGE == 0 && d->ring)
		return zfs_read_into_ring(d, inode, (uint64_t)off / ZFS_PAGE,
					  (end - (uint64_t)off + ZFS_PAGE - 1) / ZFS_PAGE,
					  end - (uint64_t)off, out);
	return zfs_read_vectors(d, inode, (uint64_t)off, end, out);
}

/* Bytes [off, end) of the file (io_lock held shared, released here) into
 * vectors of the SGV pool. */
static int zfs_read_vectors(struct zfs_data *d, struct zfs_inode *inode, uint64_t off,
			    uint64_t end, struct zfs_data_buf *out)
{
	struct sgv_obj *obj = NULL;
	struct iovec *vec;
	uint64_t first, npages, p;
	int cnt = 0, seg, nout, ret = 0;
	size_t segoff, skip, left;

	first = off / ZFS_PAGE;
	npages = (end + ZFS_PAGE - 1) / ZFS_PAGE - first;
	vec = sgv_pool_alloc(d->io_pool, npages * ZFS_PAGE, 0, NULL, &cnt, &obj);
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
		ret = zfs_get_page(d, inode, first + p, (char *)vec[seg].iov_base + segoff);
		if (ret < 0)
			goto out_unlock;
		segoff += ZFS_PAGE;
	}
	/* Counted while io_lock holds the file in its pool (a move needs it). */
	atomic_fetch_add(&inode->pool->bytes_read, end - off);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	/* Trim to [off, end). */
	out->iov = malloc((size_t)cnt * sizeof(*out->iov));
	if (!out->iov) {
		ret = -ENOMEM;
		goto out;
	}
	skip = (size_t)(off - first * ZFS_PAGE);
	left = (size_t)(end - off);
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
		out->iov[nout].iov_base = base;
		out->iov[nout].iov_len = len;
		nout++;
		left -= len;
	}
	out->cnt = nout;
	out->obj = obj;
	return 0;
out_unlock:
	pthread_rwlock_unlock(&inode->stripe->io_lock);
out:
	sgv_pool_free(obj, NULL);
	return ret == -ENOENT ? -EIO : ret;
}

void zfs_data_buf_free(struct zfs_data_buf *b)
{
	if (b->iov != &b->one)
		free(b->iov);
	sgv_pool_free(b->obj, NULL);
	memset(b, 0, sizeof(*b));
}

/* ---- write ----------------------------------------------------------------- */

/* Write `size` bytes at `off` (caller must hold io_lock exclusively);
 * returns the bytes written or -errno. */
static ssize_t zfs_write_locked(struct zfs_data *d, struct zfs_inode *inode, const char *buf,
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
	fsize = zfs_size(inode);
	while (pos < end) {
		uint64_t idx = pos / ZFS_PAGE;
		size_t in = (size_t)(pos % ZFS_PAGE);
		size_t n = ZFS_PAGE - in;

		if (n > end - pos)
			n = (size_t)(end - pos);
		if (n == ZFS_PAGE) {
			ret = zfs_put_page(d, inode, idx, buf + (pos - off));
		} else {
			if (idx * ZFS_PAGE < fsize)
				ret = zfs_get_page(d, inode, idx, page);
			else
				memset(page, 0, ZFS_PAGE);
			if (ret == 0) {
				memcpy(page + in, buf + (pos - off), n);
				ret = zfs_put_page(d, inode, idx, page);
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

ssize_t zfs_data_write(struct zfs_data *d, struct zfs_inode *inode, const char *buf,
		       size_t size, off_t off, int append, uid_t caller)
{
	ssize_t ret;

	if (off < 0)
		return -EINVAL;
	ret = zfs_mem_reserve(d->mem, size);
	if (ret < 0)
		return ret;
	pthread_rwlock_wrlock(&inode->stripe->io_lock);
	if (append)
		off = (off_t)zfs_size(inode);
	ret = zfs_write_locked(d, inode, buf, size, (uint64_t)off);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	if (ret > 0 && (inode->mode & (S_ISUID | S_ISGID)))
		zfs_ns_kill_suid(inode, 0, caller);
	if (ret > 0)
		zfs_ns_kill_caps(d->ns, inode->ino);	/* HANDLE_KILLPRIV_V2 */
	return ret;
}

/* ---- size changes ---------------------------------------------------------- */

/* A truncation of a spilled file (io_lock held exclusively): to 0 it
 * needs nothing back (the image is forgotten); otherwise the file is
 * restored first.  Returns 0 or zfs_data_unspill's error. */
static int zfs_data_truncate_spilled(struct zfs_data *d, struct zfs_inode *inode,
				     uint64_t newsize)
{
	struct zfs_far *far = atomic_load(&d->mem->far);
	int ret;

	if (!far || !zfs_far_spilled(inode))
		return 0;
	if (newsize == 0) {
		zfs_far_discard(far, inode);
		return 0;
	}
	ret = zfs_data_unspill(d, inode, 1);
	return ret < 0 ? ret : 0;
}

int zfs_data_truncate(struct zfs_data *d, struct zfs_inode *inode, uint64_t newsize)
{
	uint64_t size;
	int ret = 0;

	if (newsize > ZFS_MAX_FILE_SIZE)
		return -EFBIG;
	pthread_rwlock_wrlock(&inode->stripe->io_lock);
	ret = zfs_data_truncate_spilled(d, inode, newsize);
	if (ret < 0) {
		pthread_rwlock_unlock(&inode->stripe->io_lock);
		if (ret == -ENOENT)
			zfs_data_spill_gone(d, inode);
		return ret;
	}
	size = zfs_size(inode);
	/* A shrink zeroes the tail of the new last page and drops every page
	 * after it. */
	if (newsize < size)
		ret = zfs_zero_range(d, inode, newsize, size, size);
	if (ret == 0)
		zfs_ns_set_size(inode, newsize);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	return ret;
}

int zfs_data_fallocate(struct zfs_data *d, struct zfs_inode *inode, int mode, off_t off,
		       off_t len)
{
	uint64_t size, end;
	int ret = 0;

	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) &&
	    (!(mode & FALLOC_FL_KEEP_SIZE) || (mode & FALLOC_FL_ZERO_RANGE)))
		return -EOPNOTSUPP;
	if (off < 0 || len <= 0)
		return -EINVAL;
	end = (uint64_t)off + (uint64_t)len;
	if (end > ZFS_MAX_FILE_SIZE)
		return -EFBIG;
	pthread_rwlock_wrlock(&inode->stripe->io_lock);
	size = zfs_size(inode);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		ret = zfs_zero_range(d, inode, (uint64_t)off, end, size);
	/* Plain allocation needs nothing stored: holes cost nothing. */
	if (ret == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && end > size)
		zfs_ns_set_size(inode, end);
	else if (ret == 0 && (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)))
		zfs_ns_touch(inode, 1);
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	return ret;
}

int zfs_data_seek(struct zfs_data *d, struct zfs_inode *inode, off_t off, int whence,
		  off_t *res)
{
	struct tmem_oid oid = zfs_oid(inode->ino);
	uint64_t size, idx, at;
	uint32_t next;
	int ret;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	pthread_rwlock_rdlock(&inode->stripe->io_lock);
	size = zfs_size(inode);
	if (off < 0 || (uint64_t)off >= size) {
		ret = -ENXIO;
		goto out;
	}
	idx = (uint64_t)off / ZFS_PAGE;
	if (whence == SEEK_DATA) {
		ret = tmem_next_index(d->store, inode->pool->store_id, &oid, (uint32_t)idx, &next);
		if (ret < 0) {
			ret = ret == -ENOENT ? -ENXIO : ret;
			goto out;
		}
		at = (uint64_t)next * ZFS_PAGE;
		if (at < (uint64_t)off)
			at = (uint64_t)off;
		if (at >= size) {
			ret = -ENXIO;
			goto out;
		}
	} else {
		for (;;) {
			ret = tmem_next_index(d->store, inode->pool->store_id, &oid,
					      (uint32_t)idx, &next);
			if (ret == -ENOENT || (ret == 0 && next != idx))
				break;
			if (ret < 0)
				goto out;
			if (++idx >= ZFS_MAX_PAGES)
				break;
		}
		at = idx * ZFS_PAGE;
		if (at < (uint64_t)off)
			at = (uint64_t)off;
		if (at > size)
			at = size;
	}
	*res = (off_t)at;
	ret = 0;
out:
	pthread_rwlock_unlock(&inode->stripe->io_lock);
	return ret;
}

/* ---- pools on the store ---------------------------------------------------- */

struct zfs_pool *zfs_data_pool_new(struct tmem_store *store, int ephemeral, unsigned codec)
{
	struct zfs_pool *p = calloc(1, sizeof(*p));
	int id;

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	id = tmem_new_pool(store, ephemeral ? TMEM_POOL_EPHEMERAL : TMEM_POOL_PERSISTENT);
	if (id < 0) {
		free(p);
		errno = -id;
		return NULL;
	}
	tmem_pool_set_codec(store, id, codec);
	p->store_id = id;
	p->ephemeral = ephemeral;
	atomic_init(&p->codec, codec);
	return p;
}

void zfs_data_pool_discard(struct tmem_store *store, struct zfs_pool *pool)
{
	if (!pool)
		return;
	tmem_destroy_pool(store, pool->store_id);
	free(pool);
}

int zfs_data_pool_xattr(const char *name)
{
	return !strcmp(name, ZFS_XATTR_KIND) || !strcmp(name, ZFS_XATTR_CODEC) ||
	       !strcmp(name, ZFS_XATTR_DENSIFY) || !strcmp(name, ZFS_XATTR_SPILL);
}

int zfs_data_pool_getxattr(struct zfs_pool *pool, const char *name, char *buf, size_t len)
{
	if (!strcmp(name, ZFS_XATTR_KIND)) {
		const char *k = pool->ephemeral ? "ephemeral" : "persistent";

		return snprintf(buf, len, "%s", k);
	}
	if (!strcmp(name, ZFS_XATTR_DENSIFY))
		return zfs_densify_format(atomic_load(&pool->densify), buf, len);
	if (!strcmp(name, ZFS_XATTR_SPILL))
		return snprintf(buf, len, "%s", atomic_load(&pool->spill_off) ? "off" : "on");
	return codec_format(atomic_load(&pool->codec), buf, len);
}

int zfs_data_pool_setxattr(struct zfs_data *d, uint64_t dir, struct zfs_pool *pool,
			   const char *name, const char *value, size_t size, int flags,
			   uid_t caller)
{
	struct zfs_inode *inode;
	struct stat st;
	char val[64];
	int ret;

	if (flags & XATTR_CREATE)
		return -EEXIST;	/* pool attributes always exist */
	/* A pool's kind and codec are its owner's to set, as its mode is
	 * (chmod): write permission on the directory is not enough. */
	inode = zfs_ns_get(d->ns, dir);
	if (!inode)
		return -ENOENT;
	zfs_ns_stat(d->ns, inode, &st);
	if (caller != 0 && caller != st.st_uid)
		return -EPERM;
	if (size >= sizeof(val))
		return -EINVAL;
	memcpy(val, value, size);
	val[size] = '\0';
	if (size && val[size - 1] == '\n')
		val[size - 1] = '\0';
	if (!strcmp(name, ZFS_XATTR_CODEC)) {
		unsigned id;

		ret = codec_parse(val, &id, NULL, 0);
		if (ret == 0) {
			ret = tmem_pool_set_codec(d->store, pool->store_id, id);
			if (ret == 0)
				atomic_store(&pool->codec, id);
		}
		return ret;
	}
	if (!strcmp(name, ZFS_XATTR_DENSIFY)) {
		uint64_t setting;

		ret = zfs_densify_parse(val, 1, &setting);
		if (ret == 0)
			atomic_store(&pool->densify, setting);
		return ret;
	}
	if (!strcmp(name, ZFS_XATTR_SPILL)) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return -EINVAL;
		atomic_store(&pool->spill_off, !strcmp(val, "off"));
		return 0;
	}
	if (strcmp(val, "persistent") && strcmp(val, "ephemeral"))
		return -EINVAL;
	zfs_ns_pool_lock(d->ns);
	if (!zfs_ns_pool_empty(d->ns, pool)) {
		ret = (pool->ephemeral == !strcmp(val, "ephemeral")) ? 0 : -EBUSY;
	} else {
		ret = tmem_pool_set_kind(d->store, pool->store_id,
					 strcmp(val, "ephemeral") ? TMEM_POOL_PERSISTENT
								  : TMEM_POOL_EPHEMERAL);
		if (ret == 0)
			pool->ephemeral = !strcmp(val, "ephemeral");
	}
	zfs_ns_pool_unlock(d->ns);
	return ret;
}

/* ---- the namespace's callbacks (priv: the store) --------------------------- */

/* A regular file is gone for good: flush its pages. */
static void zfs_inode_release_cb(void *priv, struct zfs_inode *inode)
{
	struct tmem_oid oid = zfs_oid(inode->ino);

	tmem_flush_object(priv, inode->pool->store_id, &oid);
}

/* st_blocks of a regular file: the pages tmem stores (holes and zero
 * pages cost nothing), in 512-byte units. */
static uint64_t zfs_blocks_cb(void *priv, struct zfs_inode *inode)
{
	struct tmem_oid oid = zfs_oid(inode->ino);
	int64_t pages = tmem_object_pages(priv, inode->pool->store_id, &oid);

	return pages > 0 ? (uint64_t)pages * (ZFS_PAGE / 512) : 0;
}

static void zfs_pool_release_cb(void *priv, struct zfs_pool *pool)
{
	tmem_destroy_pool(priv, pool->store_id);
}

/* A file moved home (ns.h, "Homes"; ns->lock and its io_lock are held):
 * its object goes to the other store pool as it is, pages and pins. */
static void zfs_inode_move_cb(void *priv, struct zfs_inode *inode, struct zfs_pool *from,
			      struct zfs_pool *to)
{
	struct tmem_oid oid = zfs_oid(inode->ino);

	/* -ENOENT: no page and no pin, nothing to move.  -EEXIST cannot
	 * happen (an inode number names one object in the whole store). */
	tmem_move_object(priv, from->store_id, to->store_id, &oid);
}

/* A new pool (a directory moved to the top level) takes the kind and codec
 * of the pool it came from: its store pool is still empty, so neither
 * change can fail. */
static void zfs_pool_adopt_cb(void *priv, struct zfs_pool *pool)
{
	tmem_pool_set_kind(priv, pool->store_id,
			   pool->ephemeral ? TMEM_POOL_EPHEMERAL : TMEM_POOL_PERSISTENT);
	tmem_pool_set_codec(priv, pool->store_id, atomic_load(&pool->codec));
}

const struct zfs_ns_ops zfs_data_ns_ops = {
	.inode_release = zfs_inode_release_cb,
	.pool_release = zfs_pool_release_cb,
	.blocks = zfs_blocks_cb,
	.inode_move = zfs_inode_move_cb,
	.pool_adopt = zfs_pool_adopt_cb,
};
