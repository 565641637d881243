/* state.c - the state image: writer and reader (the format and the rules
 * are state.h's).
 *
 * Design.  The writer fills a 1 MiB buffer record by record (each record's
 * header is written once its payload is complete, then the checksum) and
 * hands it out when the next record might not fit.  A thread of the save's
 * own (zst_out) writes the buffers out while the next one fills: two
 * buffers take turns, so the kernel's copy into the file (for a tmpfs or
 * page-cache file about half of a save: a page allocated and filled per
 * 4 KiB) overlaps the export instead of following it.  The thread writes
 * the buffers in the order they come, one at a time; its first error is
 * returned at the next hand-over or at the end.  Without the thread
 * (pthread_create failed) the buffers are written in place.  The namespace comes
 * from zfs_ns_export's callbacks, the pages from zfs_state_export_object
 * in their stored forms (fuse/objimg.h zfs_objimg_export).  The
 * reader is one pass over the mapped image: a cursor that checks each
 * record's bounds and checksum, then its payload with a bounds-checked
 * field reader, then its place in the order, and builds the namespace
 * (zfs_ns_import_*) and the store (fuse/objimg.h zfs_objimg_import_page
 * and _unit) as it goes.  Errors carry the record's offset.  A large
 * image's load has a helper thread doing its page faults beside the reader
 * (zst_pre, "the load's helper" below).
 *
 * Records are checked with CRC-32C (alloc/crc32c.h).
 */
#include "fuse/state.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc/buddy.h"
#include "alloc/crc32c.h"
#include "compress/codec.h"
#include "compress/pam.h"
#include "fuse/data.h"
#include "fuse/densify.h"
#include "fuse/far.h"
#include "fuse/ns.h"
#include "fuse/objimg.h"
#include "fuse/zfs.h"
#include "tmem/tmem.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22	/* Linux 5.14; older headers lack it */
#endif

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the image is little-endian and written with memcpy");

enum {
	ZST_META = 1,
	ZST_POOL = 2,
	ZST_INODE = 3,
	ZST_XATTR = 4,
	ZST_DIRENT = 5,
	ZST_PAGE = 6,
	ZST_UNIT = 7,
	ZST_END = 8,
};

static const char zst_magic[8] = { 'Z', 'C', 'S', 'T', 'A', 'T', 'E', '\n' };
#define ZST_HEADER 32u
#define ZST_WBUF ((size_t)1 << 20)

/* ---- the writer ------------------------------------------------------------ */

/* The thread that writes full buffers out (see Design).  Lock order: lock
 * is a leaf, taken by the saving thread and the writer only. */
struct zst_out {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* pending taken or done, or stop */
	int fd;
	const unsigned char *pending;	/* the buffer to write; NULL: idle */
	size_t pending_len;
	int err;			/* the first write error, sticky */
	int stop;
};

struct zst_writer {
	struct zfs *fs;
	int fd;
	int err;			/* the first error, sticky */
	unsigned char *bufs[2];		/* ZST_WBUF bytes each, taking turns */
	struct zst_out *out;		/* the writing thread (NULL: none) */
	unsigned char *buf;		/* the one filling (bufs[0] or [1]) */
	size_t len;			/* bytes in buf */
	unsigned char *rec;		/* the open record's header */
	unsigned char *pos;		/* where its payload goes on */
	struct zfs_state_figures fig;
	/* Regular files to export pages of (after the namespace). */
	uint64_t *files;		/* pairs: ino, store pool id */
	size_t nfiles, capfiles;
	unsigned char *xbuf;		/* PAM_EXPORT_BUF bytes for pam_export */
	uint64_t fault_at;		/* debug builds: see zst_fault */
};

static int zst_drain(struct zst_writer *w);

#ifdef ZC_DEBUG
/* Debug builds: with ZC_FAULT_STATE=N in the environment a save writes
 * what it has buffered and kills its process (SIGKILL) as it completes
 * record N, so tests can stop a daemon at chosen points of a save (the
 * previous image must stay whole, tests/restart.c). */
static uint64_t zst_fault_at(void)
{
	const char *s = getenv("ZC_FAULT_STATE");

	return s ? strtoull(s, NULL, 10) : 0;
}

static void zst_fault(struct zst_writer *w)
{
	if (w->fault_at && w->fig.records == w->fault_at) {
		(void)zst_drain(w);
		raise(SIGKILL);
	}
}
#else
static uint64_t zst_fault_at(void)
{
	return 0;
}

static void zst_fault(struct zst_writer *w)
{
	(void)w;
}
#endif

/* Write len bytes at p to fd.  Returns 0 or a negative errno. */
static int zst_write_all(int fd, const unsigned char *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -(n < 0 ? errno : EIO);
		off += (size_t)n;
	}
	return 0;
}

static void *zst_out_main(void *arg)
{
	struct zst_out *o = arg;

	pthread_mutex_lock(&o->lock);
	for (;;) {
		const unsigned char *p;
		size_t n;
		int ret;

		while (!o->pending && !o->stop)
			pthread_cond_wait(&o->cond, &o->lock);
		if (!o->pending)
			break;
		p = o->pending;
		n = o->pending_len;
		pthread_mutex_unlock(&o->lock);
		ret = o->err ? 0 : zst_write_all(o->fd, p, n);
		pthread_mutex_lock(&o->lock);
		if (ret < 0)
			o->err = ret;
		o->pending = NULL;
		pthread_cond_broadcast(&o->cond);
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

/* Start the writing thread; without one the buffers are written in
 * place (zst_flush). */
static void zst_out_start(struct zst_writer *w)
{
	struct zst_out *o = calloc(1, sizeof(*o));

	if (!o)
		return;
	o->fd = w->fd;
	if (pthread_mutex_init(&o->lock, NULL)) {
		free(o);
		return;
	}
	if (pthread_cond_init(&o->cond, NULL)) {
		pthread_mutex_destroy(&o->lock);
		free(o);
		return;
	}
	if (pthread_create(&o->thread, NULL, zst_out_main, o)) {
		pthread_cond_destroy(&o->cond);
		pthread_mutex_destroy(&o->lock);
		free(o);
		return;
	}
	w->out = o;
}

/* Wait for the buffer being written; its error, or the first one. */
static int zst_out_wait(struct zst_out *o)
{
	int ret;

	pthread_mutex_lock(&o->lock);
	while (o->pending)
		pthread_cond_wait(&o->cond, &o->lock);
	ret = o->err;
	pthread_mutex_unlock(&o->lock);
	return ret;
}

/* Stop the writing thread (after the buffer it writes, if any). */
static void zst_out_stop(struct zst_writer *w)
{
	struct zst_out *o = w->out;

	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	o->stop = 1;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
	pthread_join(o->thread, NULL);
	pthread_cond_destroy(&o->cond);
	pthread_mutex_destroy(&o->lock);
	free(o);
	w->out = NULL;
}

/* Hand the filled buffer out (to the writing thread once the previous one
 * is written, or write it here) and go on in the other. */
static int zst_flush(struct zst_writer *w)
{
	struct zst_out *o = w->out;
	int ret;

	if (w->len == 0)
		return 0;
	if (!o) {
		ret = zst_write_all(w->fd, w->buf, w->len);
		if (ret < 0)
			return ret;
	} else {
		pthread_mutex_lock(&o->lock);
		while (o->pending)
			pthread_cond_wait(&o->cond, &o->lock);
		ret = o->err;
		if (ret == 0) {
			o->pending = w->buf;
			o->pending_len = w->len;
			pthread_cond_broadcast(&o->cond);
		}
		pthread_mutex_unlock(&o->lock);
		if (ret < 0)
			return ret;
		w->buf = w->buf == w->bufs[0] ? w->bufs[1] : w->bufs[0];
	}
	w->fig.file_bytes += w->len;
	w->len = 0;
	return 0;
}

/* Everything buffered written out: the image so far is in the file. */
static int zst_drain(struct zst_writer *w)
{
	int ret = zst_flush(w);

	if (ret == 0 && w->out)
		ret = zst_out_wait(w->out);
	return ret;
}

/* Open a record of at most `max` payload bytes.  NULL after an error. */
static unsigned char *zst_begin(struct zst_writer *w, uint32_t type, size_t max)
{
	if (w->err)
		return NULL;
	if (w->len + 12 + max > ZST_WBUF) {
		w->err = zst_flush(w);
		if (w->err)
			return NULL;
	}
	w->rec = w->buf + w->len;
	memcpy(w->rec, &type, 4);
	w->pos = w->rec + 8;
	return w->pos;
}

static void zst_end(struct zst_writer *w)
{
	uint32_t n = (uint32_t)(w->pos - w->rec - 8), crc;

	memcpy(w->rec + 4, &n, 4);
	crc = crc32c(0, w->rec, 8 + (size_t)n);
	memcpy(w->pos, &crc, 4);
	w->len += 12 + (size_t)n;
	w->fig.records++;
	zst_fault(w);
}

static void zst_u64(struct zst_writer *w, uint64_t v)
{
	memcpy(w->pos, &v, 8);
	w->pos += 8;
}

static void zst_u32(struct zst_writer *w, uint32_t v)
{
	memcpy(w->pos, &v, 4);
	w->pos += 4;
}

static void zst_u16(struct zst_writer *w, uint16_t v)
{
	memcpy(w->pos, &v, 2);
	w->pos += 2;
}

static void zst_u8(struct zst_writer *w, uint8_t v)
{
	*w->pos++ = v;
}

static void zst_bytes(struct zst_writer *w, const void *p, size_t n)
{
	if (n)	/* p may be NULL then (no target, an empty value) */
		memcpy(w->pos, p, n);
	w->pos += n;
}

static void zst_time(struct zst_writer *w, const struct timespec *t)
{
	zst_u64(w, (uint64_t)(int64_t)t->tv_sec);
	zst_u32(w, (uint32_t)t->tv_nsec);
}

static int zst_w_pool(void *arg, const struct zfs_ns_rec_pool *r)
{
	struct zst_writer *w = arg;
	size_t n = strlen(r->name);

	if (!zst_begin(w, ZST_POOL, 64 + n))
		return w->err;
	zst_u64(w, r->id);
	zst_u64(w, r->dir_ino);
	zst_u32(w, r->codec);
	zst_u32(w, (uint32_t)r->ephemeral);
	zst_u64(w, r->densify);
	zst_u64(w, r->bytes_written);
	zst_u64(w, r->bytes_read);
	zst_u16(w, (uint16_t)n);
	zst_bytes(w, r->name, n);
	zst_end(w);
	return 0;
}

static int zst_w_inode(void *arg, const struct zfs_ns_rec_inode *r)
{
	struct zst_writer *w = arg;
	size_t n = r->symlink ? strlen(r->symlink) : 0;

	if (!zst_begin(w, ZST_INODE, 128 + n))
		return w->err;
	zst_u64(w, r->ino);
	zst_u64(w, r->pool);
	zst_u64(w, r->size);
	zst_u64(w, r->nlookup);
	zst_u64(w, r->parent);
	zst_u64(w, r->next_cookie);
	zst_time(w, &r->atime);
	zst_time(w, &r->mtime);
	zst_time(w, &r->ctime);
	zst_u32(w, r->mode);
	zst_u32(w, r->uid);
	zst_u32(w, r->gid);
	zst_u32(w, r->nlink);
	zst_u32(w, r->nopen);
	zst_u32(w, r->rdev);
	zst_u32(w, r->dense);
	zst_u16(w, (uint16_t)n);
	zst_bytes(w, r->symlink, n);
	zst_end(w);
	w->fig.inodes++;
	if (S_ISREG(r->mode)) {
		if (w->nfiles == w->capfiles) {
			size_t cap = w->capfiles ? w->capfiles * 2 : 1024;
			uint64_t *f = realloc(w->files, cap * 2 * sizeof(*f));

			if (!f)
				return w->err = -ENOMEM;
			w->files = f;
			w->capfiles = cap;
		}
		w->files[2 * w->nfiles] = r->ino;
		w->files[2 * w->nfiles + 1] = r->pool;
		w->nfiles++;
	}
	return 0;
}

static int zst_w_xattr(void *arg, const struct zfs_ns_rec_xattr *r)
{
	struct zst_writer *w = arg;
	size_t n = strlen(r->name);

	if (!zst_begin(w, ZST_XATTR, 16 + n + r->size))
		return w->err;
	zst_u64(w, r->ino);
	zst_u16(w, (uint16_t)n);
	zst_u32(w, (uint32_t)r->size);
	zst_bytes(w, r->name, n);
	zst_bytes(w, r->value, r->size);
	zst_end(w);
	return 0;
}

static int zst_w_dirent(void *arg, const struct zfs_ns_rec_dirent *r)
{
	struct zst_writer *w = arg;
	size_t n = strlen(r->name);

	if (!zst_begin(w, ZST_DIRENT, 32 + n))
		return w->err;
	zst_u64(w, r->dir);
	zst_u64(w, r->cookie);
	zst_u64(w, r->ino);
	zst_u16(w, (uint16_t)n);
	zst_bytes(w, r->name, n);
	zst_end(w);
	return 0;
}

/* The pool id -> store pool id, for the files' pages. */
struct zst_pool_map {
	uint64_t id;
	int store_id;
};

static int zst_pool_store(void *arg, struct zfs_pool *pool)
{
	struct zst_pool_map *m = arg;

	if (pool->id == m->id) {
		m->store_id = pool->store_id;
		return 1;
	}
	return 0;
}

/* One stored form as a PAGE or UNIT record (zfs_objimg_export's callback). */
struct zst_obj {
	struct zst_writer *w;
	uint64_t ino;
};

static int zst_w_form(void *arg, const struct zfs_objimg_form *f)
{
	struct zst_obj *o = arg;
	struct zst_writer *w = o->w;

	if (f->kind != PAM_KIND_UNIT) {
		if (!zst_begin(w, ZST_PAGE, 16 + PAM_PAGE_SIZE))
			return w->err;
		zst_u64(w, o->ino);
		zst_u32(w, f->index);
		zst_u8(w, (uint8_t)f->kind);
		zst_u8(w, (uint8_t)f->codec_type);
		zst_u16(w, 0);
		if (f->kind == PAM_KIND_FILL)
			zst_u64(w, f->fill);
		else
			zst_bytes(w, f->data, f->len);
		zst_end(w);
		w->fig.pages++;
		w->fig.stored_bytes += f->kind == PAM_KIND_FILL ? 8 : f->len;
		return 0;
	}
	if (!zst_begin(w, ZST_UNIT, 24 + f->len))
		return w->err;
	zst_u64(w, o->ino);
	zst_u32(w, f->index);
	zst_u8(w, (uint8_t)f->codec_type);
	zst_u8(w, 0);
	zst_u16(w, (uint16_t)f->map);
	zst_u16(w, (uint16_t)f->live);
	zst_u16(w, 0);
	zst_bytes(w, f->data, f->len);
	zst_end(w);
	w->fig.pages += (uint64_t)__builtin_popcount(f->live);
	w->fig.units++;
	w->fig.stored_bytes += f->len;
	return 0;
}

/* Write every page of the regular file `ino` whose home is the store pool
 * `pool` in its stored form (fuse/objimg.h): the one function pages leave
 * by (state.h).  Returns 0 or a negative errno. */
static int zfs_state_export_object(struct zst_writer *w, int pool, uint64_t ino)
{
	struct zst_obj o = { .w = w, .ino = ino };

	return zfs_objimg_export(w->fs->cfg.store, w->fs->cfg.pam, pool, ino, w->xbuf,
				 zst_w_form, &o);
}

static int zst_save(struct zfs *fs, int fd, unsigned flags, struct zfs_state_figures *fig)
{
	static const struct zfs_ns_export_ops ops = {
		.pool = zst_w_pool, .inode = zst_w_inode,
		.xattr = zst_w_xattr, .dirent = zst_w_dirent,
	};
	struct zst_writer w = { .fs = fs, .fd = fd, .fault_at = zst_fault_at() };
	uint64_t next_ino, next_pool_id;
	uint32_t v, crc;
	int ret;

	if (!fs->cfg.pam)
		return -EOPNOTSUPP;
	w.bufs[0] = malloc(ZST_WBUF);
	w.bufs[1] = malloc(ZST_WBUF);
	w.buf = w.bufs[0];
	w.xbuf = malloc(PAM_EXPORT_BUF);
	if (!w.bufs[0] || !w.bufs[1] || !w.xbuf) {
		ret = -ENOMEM;
		goto out;
	}
	/* Spilled files (fuse/far.h) have no pages here: fetch them back, so
	 * the image holds every file it names. */
	if (atomic_load(&fs->mem.far)) {
		ret = zfs_far_restore_all(atomic_load(&fs->mem.far), &w.fig.fetched, &w.fig.lost);
		if (ret < 0)
			goto out;
	}
	memcpy(w.buf, zst_magic, 8);
	v = ZFS_STATE_VERSION;
	memcpy(w.buf + 8, &v, 4);
	v = ZST_HEADER;
	memcpy(w.buf + 12, &v, 4);
	memset(w.buf + 16, 0, 12);
	w.buf[16] = (unsigned char)(flags & ZFS_STATE_KERNEL);
	crc = crc32c(0, w.buf, 28);
	memcpy(w.buf + 28, &crc, 4);
	w.len = ZST_HEADER;
	zst_out_start(&w);

	if (!zst_begin(&w, ZST_META, 40)) {
		ret = w.err;
		goto out;
	}
	pthread_mutex_lock(&fs->mem.lock);
	zst_u64(&w, fs->mem.used_max);
	pthread_mutex_unlock(&fs->mem.lock);
	zst_u64(&w, atomic_load(&fs->mem.enospc));
	zst_u64(&w, atomic_load(&fs->mem.evicted_files));
	zst_u64(&w, atomic_load(&fs->mem.compactions));
	zst_u64(&w, atomic_load(&fs->mem.pages_compacted));
	zst_end(&w);
	ret = zfs_ns_export(fs->ns, (flags & ZFS_STATE_KERNEL) ? ZFS_NS_EXPORT_KERNEL : 0, &next_ino, &next_pool_id, &ops, &w);
	if (ret == 0 && w.err)
		ret = w.err;
	if (ret < 0)
		goto out;
	/* Pages, file by file. */
	for (size_t k = 0; k < w.nfiles && !ret; k++) {
		struct zst_pool_map m = { .id = w.files[2 * k + 1], .store_id = -1 };

		if (zfs_ns_pool_with(fs->ns, m.id, zst_pool_store, &m) <= 0) {
			ret = -EIO;
			break;
		}
		ret = zfs_state_export_object(&w, m.store_id, w.files[2 * k]);
	}
	if (ret == 0 && w.err)
		ret = w.err;
	if (ret < 0)
		goto out;
	if (!zst_begin(&w, ZST_END, 40)) {
		ret = w.err;
		goto out;
	}
	zst_u64(&w, next_ino);
	zst_u64(&w, next_pool_id);
	zst_u64(&w, w.fig.records);
	zst_u64(&w, w.fig.pages);
	zst_u64(&w, w.fig.stored_bytes);
	zst_end(&w);
	ret = zst_drain(&w);
out:
	zst_out_stop(&w);
	if (ret == 0 && fig)
		*fig = w.fig;
	free(w.bufs[0]);
	free(w.bufs[1]);
	free(w.xbuf);
	free(w.files);
	return ret;
}

int zfs_state_save(struct zfs *fs, int fd, struct zfs_state_figures *fig)
{
	return zst_save(fs, fd, 0, fig);
}

int zfs_state_save_kernel(struct zfs *fs, int fd, struct zfs_state_figures *fig)
{
	return zst_save(fs, fd, ZFS_STATE_KERNEL, fig);
}

int zfs_state_save_file(struct zfs *fs, const char *path, struct zfs_state_figures *fig,
			char *err, size_t errlen)
{
	size_t n = strlen(path);
	char *tmp = malloc(n + 5), *dir;
	int fd, dfd, ret;

	if (!tmp) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	memcpy(tmp, path, n);
	memcpy(tmp + n, ".tmp", 5);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(-ret));
		free(tmp);
		return ret;
	}
	ret = zfs_state_save(fs, fd, fig);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(-ret));
		unlink(tmp);
		free(tmp);
		return ret;
	}
	/* The rename itself reaches the disk with the directory. */
	dir = strrchr(tmp, '/') ? tmp : NULL;
	if (dir)
		*strrchr(tmp, '/') = '\0';
	dfd = open(dir ? (tmp[0] ? tmp : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(tmp);
	return 0;
}

/* ---- the load's helper ---------------------------------------------------- */

/* A thread of the load's own does the load's page faults beside the
 * reader instead of inside it (about half of a load done alone):
 *
 * - the image's: it faults the mapped image in (MADV_POPULATE_READ) in
 *   ZST_PRE_STEP pieces, up to ZST_PRE_IMG bytes ahead of the record the
 *   reader is at (zfs_state_load_file maps a large image without
 *   MAP_POPULATE for that reason);
 * - the store's: it maps and faults in buddy chunks (alloc/buddy.h
 *   buddy_prefault) while fewer than ZST_PRE_CHUNKS are wholly free and
 *   the free ones hold less than what is left of the image (zst_pre_step).
 *   Few chunks ahead, so the zeroed pages are still in the cache when the
 *   reader writes into them, and at most that many left over at the end.
 *   (The reader still faults in its own malloc'ed memory: the namespace,
 *   about a sixth of the faults on tree.tar.)
 *
 * The image comes first; with nothing to do it waits for a kick, which
 * the reader gives each ZST_PRE_STEP bytes of image it goes through (a
 * helper behind the reader - a busy machine - skips to it).  A
 * failing madvise or buddy_prefault ends that half of the work; the load
 * goes on without (the reader faults itself).  Only images of ZST_PRE_MIN
 * bytes or more get a helper (a small one is over before the thread would
 * start).  Lock order: lock is a leaf, taken by the reader and the thread
 * only; buddy_prefault takes the buddy's lock without it. */
#define ZST_PRE_MIN ((size_t)4 << 20)
#define ZST_PRE_STEP ((size_t)1 << 20)
#define ZST_PRE_IMG ((size_t)8 << 20)
#define ZST_PRE_CHUNKS 2u

struct zst_pre {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* a kick or stop */
	struct buddy *buddy;
	const unsigned char *img;	/* the image, page aligned down */
	size_t len;			/* its length from there */
	size_t at;			/* the reader's offset: protected by lock */
	int stop;			/* protected by lock */
	/* The thread's until joined: */
	size_t img_done;		/* bytes of img faulted in */
	int img_failed, buddy_failed;
	uint64_t added;			/* chunks added */
};

/* One piece of work: 1 done, 0 nothing to do now. */
static int zst_pre_step(struct zst_pre *pr, size_t at)
{
	struct buddy_stats st;
	size_t left;

	/* A helper that fell behind the reader skips what the reader has
	 * faulted in itself. */
	if (pr->img_done + ZST_PRE_STEP <= at)
		pr->img_done = at / ZST_PRE_STEP * ZST_PRE_STEP;
	if (!pr->img_failed && pr->img_done < pr->len && pr->img_done < at + ZST_PRE_IMG) {
		size_t n = pr->len - pr->img_done < ZST_PRE_STEP ? pr->len - pr->img_done : ZST_PRE_STEP;

		if (madvise((void *)(pr->img + pr->img_done), n, MADV_POPULATE_READ) < 0)
			pr->img_failed = 1;
		pr->img_done += n;
		return 1;
	}
	if (pr->buddy_failed)
		return 0;
	/* Enough chunks free for what is left of the image (its stored forms
	 * take about as many bytes, and an eighth more for the store's own
	 * overhead): near the end no more, so the helper is idle when the
	 * reader stops it. */
	left = pr->len > at ? pr->len - at : 0;
	buddy_stats(pr->buddy, &st);
	if (st.free_chunks * BUDDY_CHUNK_SIZE >= left + left / 8)
		return 0;
	switch (buddy_prefault(pr->buddy, ZST_PRE_CHUNKS)) {
	case 1:
		pr->added++;
		return 1;
	case 0:
		return 0;
	default:
		pr->buddy_failed = 1;
		return 0;
	}
}

static void *zst_pre_main(void *arg)
{
	struct zst_pre *pr = arg;
	size_t at;

	pthread_mutex_lock(&pr->lock);
	while (!pr->stop) {
		int busy;

		at = pr->at;
		pthread_mutex_unlock(&pr->lock);
		busy = zst_pre_step(pr, at);
		pthread_mutex_lock(&pr->lock);
		while (!busy && !pr->stop && pr->at == at)
			pthread_cond_wait(&pr->cond, &pr->lock);
	}
	pthread_mutex_unlock(&pr->lock);
	return NULL;
}

/* Start the helper for an image of len bytes at img; NULL: none (a small
 * image, or no thread to be had). */
static struct zst_pre *zst_pre_start(struct zfs *fs, const unsigned char *img, size_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	struct zst_pre *pr;

	if (len < ZST_PRE_MIN || !fs->cfg.buddy)
		return NULL;
	pr = calloc(1, sizeof(*pr));
	if (!pr)
		return NULL;
	pr->buddy = fs->cfg.buddy;
	pr->img = (const unsigned char *)((uintptr_t)img & ~(page - 1));
	pr->len = len + (size_t)(img - pr->img);
	if (pthread_mutex_init(&pr->lock, NULL))
		goto err_free;
	if (pthread_cond_init(&pr->cond, NULL))
		goto err_lock;
	if (pthread_create(&pr->thread, NULL, zst_pre_main, pr))
		goto err_cond;
	return pr;

err_cond:
	pthread_cond_destroy(&pr->cond);
err_lock:
	pthread_mutex_destroy(&pr->lock);
err_free:
	free(pr);
	return NULL;
}

/* The reader is at offset `at` of the image. */
static void zst_pre_kick(struct zst_pre *pr, size_t at)
{
	pthread_mutex_lock(&pr->lock);
	pr->at = at;
	pthread_cond_signal(&pr->cond);
	pthread_mutex_unlock(&pr->lock);
}

/* Stop the helper (after the piece it works on, if any) and free it;
 * returns the chunks it added.  pr may be NULL. */
static uint64_t zst_pre_stop(struct zst_pre *pr)
{
	uint64_t added;

	if (!pr)
		return 0;
	pthread_mutex_lock(&pr->lock);
	pr->stop = 1;
	pthread_cond_signal(&pr->cond);
	pthread_mutex_unlock(&pr->lock);
	pthread_join(pr->thread, NULL);
	added = pr->added;
	pthread_cond_destroy(&pr->cond);
	pthread_mutex_destroy(&pr->lock);
	free(pr);
	return added;
}

/* ---- the reader ------------------------------------------------------------ */

struct zst_reader {
	struct zfs *fs;
	const unsigned char *img;
	size_t len;
	const char *name;
	char *err;
	size_t errlen;
	size_t rec_off;			/* the record being read */
	const unsigned char *p, *end;	/* its payload cursor */
	int bad;			/* a field ran past the payload */
	unsigned phase;			/* the highest record type group seen */
	uint64_t last_ino;		/* the last INODE record's number */
	uint64_t file_ino;		/* the last file pages went to (0: none) ... */
	int file_pool;			/* ... its store pool ... */
	uint64_t file_pages;		/* ... and its size in pages */
	struct zfs_state_figures fig;
	unsigned char *xbuf;		/* PAM_EXPORT_BUF bytes for units */
	int kernel;			/* header flag ZFS_STATE_KERNEL */
};

static int zst_fail(struct zst_reader *r, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int zst_fail(struct zst_reader *r, int ret, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(r->err, r->errlen, "%s: offset %zu: %s", r->name, r->rec_off, what);
	return ret;
}

static const unsigned char *zst_take(struct zst_reader *r, size_t n)
{
	const unsigned char *q = r->p;

	if ((size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	return q;
}

static uint64_t zst_r64(struct zst_reader *r)
{
	const unsigned char *q = zst_take(r, 8);
	uint64_t v = 0;

	if (q)
		memcpy(&v, q, 8);
	return v;
}

static uint32_t zst_r32(struct zst_reader *r)
{
	const unsigned char *q = zst_take(r, 4);
	uint32_t v = 0;

	if (q)
		memcpy(&v, q, 4);
	return v;
}

static uint16_t zst_r16(struct zst_reader *r)
{
	const unsigned char *q = zst_take(r, 2);
	uint16_t v = 0;

	if (q)
		memcpy(&v, q, 2);
	return v;
}

static uint8_t zst_r8(struct zst_reader *r)
{
	const unsigned char *q = zst_take(r, 1);

	return q ? *q : 0;
}

/* A string of n bytes copied into buf (cap bytes), NUL-terminated; a NUL
 * inside it or one too long is bad. */
static const char *zst_rstr(struct zst_reader *r, size_t n, char *buf, size_t cap)
{
	const unsigned char *q = zst_take(r, n);

	if (!q || n >= cap || memchr(q, 0, n)) {
		r->bad = 1;
		return NULL;
	}
	memcpy(buf, q, n);
	buf[n] = '\0';
	return buf;
}

static void zst_rtime(struct zst_reader *r, struct timespec *t)
{
	t->tv_sec = (time_t)(int64_t)zst_r64(r);
	t->tv_nsec = (long)zst_r32(r);
}

static int zst_import_err(struct zst_reader *r, int ret, const char *what)
{
	if (ret == -ENOMEM || ret == -ENOSPC)
		return zst_fail(r, ret, "%s: %s", what, strerror(-ret));
	return zst_fail(r, -EINVAL, "%s", what);
}

static int zst_r_meta(struct zst_reader *r)
{
	struct zfs_mem *m = &r->fs->mem;
	uint64_t used_max = zst_r64(r);

	atomic_store(&m->enospc, zst_r64(r));
	atomic_store(&m->evicted_files, zst_r64(r));
	atomic_store(&m->compactions, zst_r64(r));
	atomic_store(&m->pages_compacted, zst_r64(r));
	m->used_max = used_max;
	return 0;
}

/* A pool's densify setting as zfs_densify_parse makes them (fuse/densify.h). */
static int zst_densify_ok(uint64_t v)
{
	enum zfs_densify_mode m = zfs_densify_mode_of(v);
	unsigned codec = (unsigned)v;

	if (m == ZFS_DENSIFY_CODEC)
		return codec_valid(codec) == 0 && codec_id_type(codec) != CODEC_NONE ? 0 : -EINVAL;
	return (m == ZFS_DENSIFY_MOUNT || m == ZFS_DENSIFY_AUTO || m == ZFS_DENSIFY_OFF) &&
	       codec == 0 ? 0 : -EINVAL;
}

static int zst_r_pool(struct zst_reader *r)
{
	char name[ZFS_NAME_MAX + 2];
	struct zfs_ns_rec_pool p;
	struct zfs_pool *pool = NULL, *root;
	uint16_t n;
	int ret;

	p.id = zst_r64(r);
	p.dir_ino = zst_r64(r);
	p.codec = zst_r32(r);
	p.ephemeral = (int)zst_r32(r);
	p.densify = zst_r64(r);
	p.bytes_written = zst_r64(r);
	p.bytes_read = zst_r64(r);
	n = zst_r16(r);
	p.name = zst_rstr(r, n, name, sizeof(name));
	if (r->bad || r->p != r->end)
		return zst_fail(r, -EINVAL, "a pool record of the wrong length");
	if ((uint32_t)p.ephemeral > 1 || codec_valid(p.codec) < 0)
		return zst_fail(r, -EINVAL, "pool %llu: a bad kind or codec",
				(unsigned long long)p.id);
	if (zst_densify_ok(p.densify) < 0)
		return zst_fail(r, -EINVAL, "pool %llu: a bad densify setting",
				(unsigned long long)p.id);
	if (p.id != 0) {
		pool = zfs_data_pool_new(r->fs->cfg.store, p.ephemeral, p.codec);
		if (!pool)
			return zst_import_err(r, -errno, "cannot make a pool");
	}
	ret = zfs_ns_import_pool(r->fs->ns, &p, pool);
	if (ret < 0) {
		zfs_data_pool_discard(r->fs->cfg.store, pool);
		return zst_import_err(r, ret, "a pool that contradicts the others");
	}
	if (p.id == 0) {
		root = zfs_ns_pool_of_dir(r->fs->ns, ZFS_ROOT_INO);
		tmem_pool_set_codec(r->fs->cfg.store, root->store_id, p.codec);
	}
	return 0;
}

static int zst_r_inode(struct zst_reader *r)
{
	char target[ZFS_SYMLINK_MAX + 2];
	struct zfs_ns_rec_inode i;
	uint16_t n;
	int ret;

	i.ino = zst_r64(r);
	i.pool = zst_r64(r);
	i.size = zst_r64(r);
	i.nlookup = zst_r64(r);
	i.parent = zst_r64(r);
	i.next_cookie = zst_r64(r);
	zst_rtime(r, &i.atime);
	zst_rtime(r, &i.mtime);
	zst_rtime(r, &i.ctime);
	i.mode = zst_r32(r);
	i.uid = zst_r32(r);
	i.gid = zst_r32(r);
	i.nlink = zst_r32(r);
	i.nopen = zst_r32(r);
	i.rdev = zst_r32(r);
	i.dense = zst_r32(r);
	n = zst_r16(r);
	i.symlink = n ? zst_rstr(r, n, target, sizeof(target)) : NULL;
	if (r->bad || r->p != r->end)
		return zst_fail(r, -EINVAL, "an inode record of the wrong length");
	if (!r->kernel && (i.nlookup || i.nopen))
		return zst_fail(r, -EINVAL, "inode %llu: kernel references in a snapshot",
				(unsigned long long)i.ino);
	ret = zfs_ns_import_inode(r->fs->ns, &i);
	if (ret < 0)
		return zst_import_err(r, ret, "an inode that contradicts the namespace");
	r->last_ino = i.ino;
	r->fig.inodes++;
	return 0;
}

static int zst_r_xattr(struct zst_reader *r)
{
	char name[ZFS_XATTR_NAME_MAX + 2];
	struct zfs_ns_rec_xattr x;
	uint16_t n;
	int ret;

	x.ino = zst_r64(r);
	n = zst_r16(r);
	x.size = zst_r32(r);
	x.name = zst_rstr(r, n, name, sizeof(name));
	x.value = zst_take(r, x.size);
	if (r->bad || r->p != r->end)
		return zst_fail(r, -EINVAL, "an xattr record of the wrong length");
	if (x.ino != r->last_ino)
		return zst_fail(r, -EINVAL, "an xattr away from its inode");
	ret = zfs_ns_import_xattr(r->fs->ns, &x);
	if (ret < 0)
		return zst_import_err(r, ret, "a bad or repeated xattr");
	return 0;
}

static int zst_r_dirent(struct zst_reader *r)
{
	char name[ZFS_NAME_MAX + 2];
	struct zfs_ns_rec_dirent d;
	uint16_t n;
	int ret;

	d.dir = zst_r64(r);
	d.cookie = zst_r64(r);
	d.ino = zst_r64(r);
	n = zst_r16(r);
	d.name = zst_rstr(r, n, name, sizeof(name));
	if (r->bad || r->p != r->end)
		return zst_fail(r, -EINVAL, "an entry record of the wrong length");
	ret = zfs_ns_import_dirent(r->fs->ns, &d);
	if (ret < 0)
		return zst_import_err(r, ret, "an entry that contradicts the namespace");
	return 0;
}

/* The store pool and page count of the regular file `ino`, or -EINVAL. */
static int zst_file(struct zst_reader *r, uint64_t ino, int *pool, uint64_t *pages)
{
	struct zfs_inode *i;

	if (ino != r->file_ino || !ino) {
		i = zfs_ns_get(r->fs->ns, ino);
		if (!i || !S_ISREG(i->mode))
			return -EINVAL;
		r->file_ino = ino;
		r->file_pool = i->pool->store_id;
		r->file_pages = (i->size + ZFS_PAGE - 1) / ZFS_PAGE;
	}
	*pool = r->file_pool;
	*pages = r->file_pages;
	return 0;
}

static int zst_r_page(struct zst_reader *r)
{
	struct tmem_oid oid = { { 0, 0, 0 } };
	struct pam_blob b;
	uint64_t pages;
	uint32_t index;
	int pool, ret;

	memset(&b, 0, sizeof(b));
	oid.oid[0] = zst_r64(r);
	index = zst_r32(r);
	b.kind = (enum pam_kind)zst_r8(r);
	b.codec_type = zst_r8(r);
	if (zst_r16(r) != 0 || r->bad)
		return zst_fail(r, -EINVAL, "a page record with a bad header");
	if (b.kind == PAM_KIND_FILL) {
		b.fill = zst_r64(r);
	} else if (b.kind == PAM_KIND_RAW || b.kind == PAM_KIND_XCF) {
		b.len = (uint32_t)(r->end - r->p);
		b.data = zst_take(r, b.len);
	} else {
		return zst_fail(r, -EINVAL, "a page of unknown kind %u", (unsigned)b.kind);
	}
	if (r->bad || r->p != r->end)
		return zst_fail(r, -EINVAL, "a page record of the wrong length");
	if (zst_file(r, oid.oid[0], &pool, &pages) < 0)
		return zst_fail(r, -EINVAL, "a page of %llu, which is not a regular file",
				(unsigned long long)oid.oid[0]);
	if (index >= pages)
		return zst_fail(r, -EINVAL, "page %u of %llu: beyond its size", index,
				(unsigned long long)oid.oid[0]);
	ret = zfs_objimg_import_page(r->fs->cfg.store, r->fs->cfg.pam, pool, oid.oid[0], index,
				     &b);
	if (ret == -EEXIST)
		return zst_fail(r, -EINVAL, "page %u of %llu: repeated", index,
				(unsigned long long)oid.oid[0]);
	if (ret == -EINVAL)
		return zst_fail(r, -EINVAL, "a page in a form this store does not keep");
	if (ret < 0)
		return zst_import_err(r, ret, "cannot store a page");
	r->fig.pages++;
	r->fig.stored_bytes += b.kind == PAM_KIND_FILL ? 8 : b.len;
	return 0;
}

static int zst_r_unit(struct zst_reader *r)
{
	struct tmem_oid oid = { { 0, 0, 0 } };
	unsigned type, map, live;
	const unsigned char *payload;
	uint64_t pages;
	uint32_t first, clen;
	int pool, ret;

	oid.oid[0] = zst_r64(r);
	first = zst_r32(r);
	type = zst_r8(r);
	if (zst_r8(r) != 0)
		r->bad = 1;
	map = zst_r16(r);
	live = zst_r16(r);
	if (zst_r16(r) != 0)
		r->bad = 1;
	clen = (uint32_t)(r->end - r->p);
	payload = zst_take(r, clen);
	if (r->bad || !payload)
		return zst_fail(r, -EINVAL, "a unit record with a bad header");
	if (zst_file(r, oid.oid[0], &pool, &pages) < 0)
		return zst_fail(r, -EINVAL, "a unit of %llu, which is not a regular file",
				(unsigned long long)oid.oid[0]);
	if (first % PAM_UNIT_PAGES || live == 0 || (live & ~map))
		return zst_fail(r, -EINVAL, "a unit with a bad group or page map");
	if ((uint64_t)first + (32u - (unsigned)__builtin_clz(live)) > pages)
		return zst_fail(r, -EINVAL, "a unit of %llu beyond its size",
				(unsigned long long)oid.oid[0]);
	if (clen > PAM_EXPORT_BUF - PAM_UNIT_IMPORT_ROOM)
		return zst_fail(r, -EINVAL, "a unit payload too long");
	memcpy(r->xbuf + PAM_UNIT_IMPORT_ROOM, payload, clen);
	ret = zfs_objimg_import_unit(r->fs->cfg.store, r->fs->cfg.pam, pool, oid.oid[0], first,
				     type, map, live, r->xbuf, clen);
	if (ret == -EEXIST)
		return zst_fail(r, -EINVAL, "a unit page of %llu at %u..%u: repeated",
				(unsigned long long)oid.oid[0], first, first + PAM_UNIT_PAGES - 1);
	if (ret < 0)
		return zst_import_err(r, ret, "a unit this store does not keep or cannot store");
	r->fig.pages += (uint64_t)__builtin_popcount(live);
	r->fig.units++;
	r->fig.stored_bytes += clen;
	return 0;
}

static int zst_r_end(struct zst_reader *r)
{
	uint64_t next_ino = zst_r64(r), next_pool_id = zst_r64(r);
	uint64_t records = zst_r64(r), pages = zst_r64(r), bytes = zst_r64(r);
	const char *why;
	int ret;

	if (r->bad || r->p != r->end)
		return zst_fail(r, -EINVAL, "an end record of the wrong length");
	if (records != r->fig.records || pages != r->fig.pages || bytes != r->fig.stored_bytes)
		return zst_fail(r, -EINVAL, "the end record's counts differ from the image's");
	ret = zfs_ns_import_finish(r->fs->ns, next_ino, next_pool_id, &why);
	if (ret < 0)
		return zst_fail(r, -EINVAL, "the namespace does not hold together: %s", why);
	return 0;
}

/* The order of records: their group may only grow (state.h). */
static unsigned zst_group(uint32_t type)
{
	static const unsigned g[] = { 0, 1, 2, 3, 3, 4, 5, 5, 6 };

	return type < sizeof(g) / sizeof(g[0]) ? g[type] : 0;
}

int zfs_state_load(struct zfs *fs, const void *buf, size_t len, const char *name,
		   struct zfs_state_figures *fig, char *err, size_t errlen)
{
	struct zst_reader r = {
		.fs = fs, .img = buf, .len = len, .name = name, .err = err, .errlen = errlen,
	};
	struct zst_pre *pre;
	uint32_t v, crc;
	size_t off;
	int ret = 0;

	if (!fs->cfg.pam)
		return zst_fail(&r, -EOPNOTSUPP, "this store has no PAM backend");
	if (len < ZST_HEADER || memcmp(buf, zst_magic, 8))
		return zst_fail(&r, -EINVAL, "not a zcached state image");
	memcpy(&crc, r.img + 28, 4);
	if (crc != crc32c(0, r.img, 28))
		return zst_fail(&r, -EINVAL, "header checksum mismatch");
	memcpy(&v, r.img + 8, 4);
	if (v != ZFS_STATE_VERSION)
		return zst_fail(&r, -EINVAL, "format version %u, this zcached reads version %u",
				v, ZFS_STATE_VERSION);
	memcpy(&v, r.img + 12, 4);
	if (v != ZST_HEADER)
		return zst_fail(&r, -EINVAL, "header size %u, expected %u", v, ZST_HEADER);
	r.kernel = r.img[16] & ZFS_STATE_KERNEL;
	for (off = 16; off < 28; off++)
		if (r.img[off] & (off == 16 ? ~ZFS_STATE_KERNEL : 0xffu))
			return zst_fail(&r, -EINVAL, "unknown flags in the header");
	r.xbuf = malloc(PAM_EXPORT_BUF);
	if (!r.xbuf)
		return zst_fail(&r, -ENOMEM, "%s", strerror(ENOMEM));
	pre = zst_pre_start(fs, r.img, len);
	for (off = ZST_HEADER;; ) {
		uint32_t type, n;
		unsigned g;

		r.rec_off = off;
		if (off == len) {
			ret = zst_fail(&r, -EINVAL, "the image ends before its end record");
			break;
		}
		if (len - off < 12) {
			ret = zst_fail(&r, -EINVAL, "a truncated record header");
			break;
		}
		memcpy(&type, r.img + off, 4);
		memcpy(&n, r.img + off + 4, 4);
		if (n > ZFS_STATE_MAX_RECORD || n > len - off - 12) {
			ret = zst_fail(&r, -EINVAL, "a record of %u bytes runs past the image", n);
			break;
		}
		memcpy(&crc, r.img + off + 8 + n, 4);
		if (crc != crc32c(0, r.img + off, 8 + (size_t)n)) {
			ret = zst_fail(&r, -EINVAL, "record checksum mismatch");
			break;
		}
		g = zst_group(type);
		if (g == 0) {
			ret = zst_fail(&r, -EINVAL, "unknown record type %u", type);
			break;
		}
		if (g < r.phase || (r.phase == 0 && type != ZST_META) ||
		    (type == ZST_META && r.phase != 0)) {
			ret = zst_fail(&r, -EINVAL, "record type %u out of order", type);
			break;
		}
		r.phase = g;
		r.p = r.img + off + 8;
		r.end = r.p + n;
		r.bad = 0;
		switch (type) {
		case ZST_META:
			ret = zst_r_meta(&r);
			if (r.bad || r.p != r.end)
				ret = zst_fail(&r, -EINVAL, "a meta record of the wrong length");
			break;
		case ZST_POOL:
			ret = zst_r_pool(&r);
			break;
		case ZST_INODE:
			ret = zst_r_inode(&r);
			break;
		case ZST_XATTR:
			ret = zst_r_xattr(&r);
			break;
		case ZST_DIRENT:
			ret = zst_r_dirent(&r);
			break;
		case ZST_PAGE:
			ret = zst_r_page(&r);
			break;
		case ZST_UNIT:
			ret = zst_r_unit(&r);
			break;
		default:
			ret = zst_r_end(&r);
			break;
		}
		if (ret < 0)
			break;
		if (pre && (off + 12 + n) / ZST_PRE_STEP != off / ZST_PRE_STEP)
			zst_pre_kick(pre, off + 12 + n);
		off += 12 + (size_t)n;
		if (type == ZST_END) {
			if (off != len)
				ret = zst_fail(&r, -EINVAL, "bytes after the end record");
			break;
		}
		r.fig.records++;
	}
	r.fig.prefaulted = zst_pre_stop(pre);
	free(r.xbuf);
	r.fig.file_bytes = len;
	if (ret == 0 && fig)
		*fig = r.fig;
	return ret;
}

int zfs_state_load_file(struct zfs *fs, const char *path, struct zfs_state_figures *fig,
			char *err, size_t errlen)
{
	struct stat st;
	void *map;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	if (st.st_size == 0) {
		close(fd);
		snprintf(err, errlen, "%s: offset 0: an empty file", path);
		return -EINVAL;
	}
	/* A large image is faulted in by the load's helper, ahead of the
	 * reader (zst_pre); a small one at once. */
	map = mmap(NULL, (size_t)st.st_size, PROT_READ,
		   MAP_PRIVATE | ((size_t)st.st_size < ZST_PRE_MIN ? MAP_POPULATE : 0), fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = zfs_state_load(fs, map, (size_t)st.st_size, path, fig, err, errlen);
	munmap(map, (size_t)st.st_size);
	return ret;
}
