/* reload.c - the reload image: INIT argument, handles and state handed
 * from one process to the next (see reload.h for the format).
 *
 * The header is built in memory (it is small: 96 bytes and 16 per open
 * handle) and written before the state image, which zfs_state_save_kernel
 * streams after it.  Loading reverses it: state first (the inodes the
 * handles name must exist), then each handle's file is opened again -
 * its open count, which the state carried, is zeroed first and rebuilt by
 * zfs_data_open, so the store's pins and the open counts agree exactly as
 * they did in the old process.
 */
#include "fuse/reload.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc/crc32c.h"
#include "fuse/state.h"
#include "fuse/uring.h"
#include "fuse/zfs.h"

static const char zrl_magic[8] = { 'Z', 'C', 'R', 'E', 'L', 'O', 'A', 'D' };

/* Fixed part: magic, version, init length, init bytes, count, 0. */
#define ZRL_FIXED (8 + 4 + 4 + ZFS_RELOAD_INIT_MAX + 4 + 4)
#define ZRL_STATE_HEADER 32u

static int zrl_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int zrl_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

#ifdef ZC_DEBUG
/* ZC_FAULT_RELOAD_VERSION=1: this process reads a version it does not. */
static uint32_t zrl_version_read(void)
{
	const char *s = getenv("ZC_FAULT_RELOAD_VERSION");

	return s && *s == '1' ? ZFS_RELOAD_VERSION + 1 : ZFS_RELOAD_VERSION;
}
#else
static uint32_t zrl_version_read(void)
{
	return ZFS_RELOAD_VERSION;
}
#endif

/* ---- save ------------------------------------------------------------------ */

struct zrl_collect {
	struct zfs *fs;
	unsigned char *buf;		/* 16 bytes per handle */
	size_t n, cap;
	uint64_t unlinked;		/* an open file whose last name is gone */
};

static int zrl_collect_one(void *arg, uint64_t fh, struct zfs_inode *inode)
{
	struct zrl_collect *c = arg;
	struct stat st;

	zfs_ns_stat(c->fs->ns, inode, &st);
	if (st.st_nlink == 0) {
		c->unlinked = st.st_ino;
		return 1;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		unsigned char *b = realloc(c->buf, cap * 16);

		if (!b)
			return -ENOMEM;
		c->buf = b;
		c->cap = cap;
	}
	memcpy(c->buf + 16 * c->n, &fh, 8);
	memcpy(c->buf + 16 * c->n + 8, &st.st_ino, 8);
	c->n++;
	return 0;
}

static int zrl_write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int zfs_reload_save(struct zfs *fs, int fd, struct zfs_reload_figures *fig,
		    struct zfs_state_figures *sfig, char *err, size_t errlen)
{
	struct zrl_collect c = { .fs = fs };
	unsigned char *hdr;
	size_t len;
	uint32_t v, crc;
	int busy, ret;

	if (fs->cfg.no_open)
		return zrl_fail(err, errlen, -EOPNOTSUPP,
				"open=off: the open files are not known (no handles to hand over)");
	if (zfs_uring_running(atomic_load(&fs->uring)))
		return zrl_fail(err, errlen, -EOPNOTSUPP,
				"the io_uring transport is running, not held (fuse/uring.h zfs_uring_hold)");
	if (fs->init_in_len < 8)
		return zrl_fail(err, errlen, -EAGAIN, "the kernel has not sent INIT yet");
	pthread_mutex_lock(&fs->ctl.lock);
	busy = fs->ctl.files != NULL;
	pthread_mutex_unlock(&fs->ctl.lock);
	if (busy)
		return zrl_fail(err, errlen, -EBUSY, "a /.zcache file is open");
	ret = zfs_handle_each(&fs->handles, zrl_collect_one, &c);
	if (ret > 0) {
		free(c.buf);
		return zrl_fail(err, errlen, -EBUSY, "inode %llu is open but unlinked",
				(unsigned long long)c.unlinked);
	}
	if (ret < 0) {
		free(c.buf);
		return zrl_fail(err, errlen, ret, "%s", strerror(-ret));
	}
	len = ZRL_FIXED + 16 * c.n + 4;
	hdr = calloc(1, len);
	if (!hdr) {
		free(c.buf);
		return zrl_fail(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	}
	memcpy(hdr, zrl_magic, 8);
	v = ZFS_RELOAD_VERSION;
	memcpy(hdr + 8, &v, 4);
	v = fs->init_in_len;
	memcpy(hdr + 12, &v, 4);
	memcpy(hdr + 16, fs->init_in, fs->init_in_len);
	v = (uint32_t)c.n;
	memcpy(hdr + 16 + ZFS_RELOAD_INIT_MAX, &v, 4);
	if (c.n)
		memcpy(hdr + ZRL_FIXED, c.buf, 16 * c.n);
	crc = crc32c(0, hdr, len - 4);
	memcpy(hdr + len - 4, &crc, 4);
	free(c.buf);
	ret = zrl_write_all(fd, hdr, len);
	free(hdr);
	if (ret < 0)
		return zrl_fail(err, errlen, ret, "writing the reload header: %s", strerror(-ret));
	ret = zfs_state_save_kernel(fs, fd, sfig);
	if (ret < 0)
		return zrl_fail(err, errlen, ret, "writing the state: %s", strerror(-ret));
	if (fig) {
		fig->handles = c.n;
		fig->header_bytes = len;
	}
	return 0;
}

/* ---- probe and load ---------------------------------------------------------- */

/* The header's length, checked (0 and err on a bad one). */
static size_t zrl_header(const unsigned char *b, size_t len, char *err, size_t errlen)
{
	uint32_t v, n, crc;
	size_t hl;

	if (len < ZRL_FIXED + 4 || memcmp(b, zrl_magic, 8))
		return (size_t)zrl_fail(err, errlen, 0, "reload image: not a zcached reload image");
	memcpy(&v, b + 8, 4);
	if (v != zrl_version_read())
		return (size_t)zrl_fail(err, errlen, 0,
					"reload image: format version %u, this zcached reads version %u",
					v, zrl_version_read());
	memcpy(&v, b + 12, 4);
	memcpy(&n, b + 16 + ZFS_RELOAD_INIT_MAX, 4);
	if (v < 8 || v > ZFS_RELOAD_INIT_MAX || n > (len - ZRL_FIXED - 4) / 16)
		return (size_t)zrl_fail(err, errlen, 0, "reload image: offset 12: bad lengths");
	hl = ZRL_FIXED + 16 * (size_t)n + 4;
	memcpy(&crc, b + hl - 4, 4);
	if (crc != crc32c(0, b, hl - 4))
		return (size_t)zrl_fail(err, errlen, 0, "reload image: header checksum mismatch");
	return hl;
}

int zfs_reload_probe(const void *buf, size_t len, char *err, size_t errlen)
{
	const unsigned char *b = buf;
	size_t hl = zrl_header(b, len, err, errlen);
	uint32_t v;

	if (!hl)
		return -EINVAL;
	if (len - hl < ZRL_STATE_HEADER || memcmp(b + hl, "ZCSTATE\n", 8))
		return zrl_fail(err, errlen, -EINVAL, "reload image: offset %zu: no state image", hl);
	memcpy(&v, b + hl + 8, 4);
	if (v != ZFS_STATE_VERSION)
		return zrl_fail(err, errlen, -EINVAL,
				"reload image: state format version %u, this zcached reads version %u",
				v, ZFS_STATE_VERSION);
	return 0;
}

int zfs_reload_load(struct zfs *fs, const void *buf, size_t len, void *init_in,
		    size_t *init_len, struct zfs_reload_figures *fig,
		    struct zfs_state_figures *sfig, char *err, size_t errlen)
{
	const unsigned char *b = buf;
	size_t hl;
	uint32_t n, il;
	int ret;

	ret = zfs_reload_probe(buf, len, err, errlen);
	if (ret < 0)
		return ret;
	hl = zrl_header(b, len, err, errlen);
	ret = zfs_state_load(fs, b + hl, len - hl, "reload state", sfig, err, errlen);
	if (ret < 0)
		return ret;
	memcpy(&il, b + 12, 4);
	memcpy(init_in, b + 16, il);
	*init_len = il;
	memcpy(&n, b + 16 + ZFS_RELOAD_INIT_MAX, 4);
	/* The open counts are rebuilt by the opens below. */
	for (uint32_t k = 0; k < n; k++) {
		uint64_t ino;
		struct zfs_inode *inode;

		memcpy(&ino, b + ZRL_FIXED + 16 * k + 8, 8);
		inode = zfs_ns_get(fs->ns, ino);
		if (!inode || !S_ISREG(inode->mode))
			return zrl_fail(err, errlen, -EINVAL,
					"reload image: a handle names inode %llu, not a file of the state",
					(unsigned long long)ino);
		atomic_store(&inode->nopen, 0);
	}
	for (uint32_t k = 0; k < n; k++) {
		uint64_t fh, ino;
		struct zfs_inode *inode;

		memcpy(&fh, b + ZRL_FIXED + 16 * k, 8);
		memcpy(&ino, b + ZRL_FIXED + 16 * k + 8, 8);
		inode = zfs_ns_get(fs->ns, ino);
		ret = zfs_data_open(&fs->data, inode);
		if (ret < 0)
			return zrl_fail(err, errlen, ret, "reopening inode %llu: %s",
					(unsigned long long)ino, strerror(-ret));
		ret = zfs_handle_adopt(&fs->handles, fh, inode);
		if (ret < 0) {
			zfs_data_close(&fs->data, inode);
			return zrl_fail(err, errlen, ret == -ENOMEM ? ret : -EINVAL,
					"reload image: handle %#llx of inode %llu: %s",
					(unsigned long long)fh, (unsigned long long)ino,
					strerror(-ret));
		}
	}
	zfs_handle_adopt_done(&fs->handles);
	if (fig) {
		fig->handles = n;
		fig->header_bytes = hl;
	}
	return 0;
}
