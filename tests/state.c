/* tests/state.c - the state image (fuse/state.h), in process: a
 * filesystem with every kind of node, page form and pool is saved and
 * loaded into a fresh one, which must hold the same namespace (numbers,
 * cookies, attributes, xattrs, links), the same bytes in the same stored
 * forms (no page compressed again: the backend's compressed byte counts
 * match), and pass every invariant check; a damaged image - any byte
 * flipped, cut anywhere, a wrong version - is refused with one line naming
 * the offset.  An image of several write buffers goes through the save's
 * writing thread hand-over by hand-over, and a write error reaches the
 * caller from it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
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
#include "fuse/ns.h"
#include "fuse/state.h"
#include "fuse/zfs.h"
#include "tmem/stack.h"
#include "tmem/tmem.h"

struct tfs {
	struct zc_stack *stack;
	struct zfs *fs;
};

static void tfs_open(struct tfs *t)
{
	struct zfs_config cfg;

	t->stack = zc_stack_create(NULL);
	ck_assert_ptr_nonnull(t->stack);
	memset(&cfg, 0, sizeof(cfg));
	cfg.store = t->stack->store;
	cfg.buddy = t->stack->buddy;
	cfg.sgv = t->stack->sgv;
	cfg.pam = t->stack->pam;
	cfg.uid = getuid();
	cfg.gid = getgid();
	t->fs = zfs_create(&cfg);
	ck_assert_ptr_nonnull(t->fs);
}

static void tfs_close(struct tfs *t)
{
	zfs_destroy(t->fs);
	ck_assert_int_eq(zc_stack_destroy(t->stack), 0);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Page p of file `seed`: zero, same-filled, text-like or random. */
static void fill_page(unsigned char *pg, uint64_t seed, uint64_t p)
{
	uint64_t k = (seed * 31 + p) % 4;

	if (k == 0) {
		memset(pg, 0, PAM_PAGE_SIZE);
	} else if (k == 1) {
		memset(pg, (int)(seed + p), PAM_PAGE_SIZE);
	} else if (k == 2) {
		for (unsigned i = 0; i < PAM_PAGE_SIZE; i++)
			pg[i] = "the quick brown fox jumps over the lazy dog "[(i + seed + p) % 44];
		snprintf((char *)pg, 32, "file %llu page %llu", (unsigned long long)seed,
			 (unsigned long long)p);
	} else {
		for (unsigned i = 0; i < PAM_PAGE_SIZE; i += 8) {
			uint64_t v = rng();

			memcpy(pg + i, &v, 8);
		}
	}
}

static uint64_t mkfile(struct zfs *fs, uint64_t dir, const char *name, uint64_t size,
		       uint64_t seed)
{
	unsigned char *buf = malloc(size ? size : 1);
	struct stat st;
	struct zfs_inode *i;

	for (uint64_t p = 0; p * PAM_PAGE_SIZE < size; p++) {
		unsigned char pg[PAM_PAGE_SIZE];
		uint64_t n = size - p * PAM_PAGE_SIZE < PAM_PAGE_SIZE ? size - p * PAM_PAGE_SIZE
								      : PAM_PAGE_SIZE;

		fill_page(pg, seed, p);
		memcpy(buf + p * PAM_PAGE_SIZE, pg, n);
	}
	ck_assert_int_eq(zfs_ns_mknod(fs->ns, dir, name, S_IFREG | 0640, 0, getuid(), getgid(),
				      NULL, NULL, &st), 0);
	i = zfs_ns_get(fs->ns, st.st_ino);
	ck_assert_int_eq(zfs_data_open(&fs->data, i), 0);
	ck_assert_int_eq(zfs_data_write(&fs->data, i, (const char *)buf, size, 0, 0, 0),
			 (ssize_t)size);
	zfs_data_close(&fs->data, i);
	zfs_ns_forget(fs->ns, st.st_ino, 1);
	free(buf);
	return st.st_ino;
}

static uint64_t mkdir_(struct zfs *fs, uint64_t parent, const char *name, int ephemeral,
		       unsigned codec)
{
	struct zfs_pool *pool = NULL;
	struct stat st;

	if (parent == ZFS_ROOT_INO) {
		pool = zfs_data_pool_new(fs->cfg.store, ephemeral, codec);
		ck_assert_ptr_nonnull(pool);
	}
	ck_assert_int_eq(zfs_ns_mknod(fs->ns, parent, name, S_IFDIR | 0755, 0, getuid(), getgid(),
				      NULL, pool, &st), 0);
	zfs_ns_forget(fs->ns, st.st_ino, 1);
	return st.st_ino;
}

/* Repack every group of a file into units (as the densifier would). */
static void densify(struct zfs *fs, uint64_t ino, unsigned codec)
{
	struct zfs_inode *i = zfs_ns_get(fs->ns, ino);
	struct tmem_oid oid = { { ino, 0, 0 } };
	struct tmem_densify_result res;
	void *buf = malloc(TMEM_DENSIFY_BUF);
	uint64_t from = 0;
	int ret;

	while ((ret = tmem_densify(fs->cfg.store, i->pool->store_id, &oid, (uint32_t)from, codec,
				   buf, &res)) >= 0)
		from = res.next;
	ck_assert_int_eq(ret, -ENOENT);
	free(buf);
}

/* A filesystem with pools of both kinds and codecs, files of every page
 * form, units (some with a dead slot), links across pools, symlinks,
 * special files, xattrs, and holes in the cookies (removed names). */
static void populate(struct zfs *fs)
{
	unsigned zstd, lz4hc;
	uint64_t a, b, e, sub, f, big;
	struct stat st;
	char err[128];
	unsigned char zero[PAM_PAGE_SIZE];

	ck_assert_int_eq(codec_parse("zstd:3", &zstd, err, sizeof(err)), 0);
	ck_assert_int_eq(codec_parse("lz4hc", &lz4hc, err, sizeof(err)), 0);
	a = mkdir_(fs, ZFS_ROOT_INO, "a", 0, 0);
	b = mkdir_(fs, ZFS_ROOT_INO, "b", 0, zstd);
	e = mkdir_(fs, ZFS_ROOT_INO, "eph", 1, 0);
	sub = mkdir_(fs, a, "sub", 0, 0);
	for (int k = 0; k < 20; k++) {
		char name[32];

		snprintf(name, sizeof(name), "f%d", k);
		mkfile(fs, k % 3 == 0 ? a : k % 3 == 1 ? sub : e, name,
		       (uint64_t)(rng() % (40 * PAM_PAGE_SIZE)), (uint64_t)k);
	}
	mkfile(fs, ZFS_ROOT_INO, "top", 12345, 99);
	mkfile(fs, b, "zfile", 9 * PAM_PAGE_SIZE + 7, 98);
	big = mkfile(fs, a, "big", 64 * PAM_PAGE_SIZE, 97);
	densify(fs, big, lz4hc);
	f = mkfile(fs, b, "dense", 40 * PAM_PAGE_SIZE - 100, 96);
	densify(fs, f, zstd);
	/* A dead slot: one page of the unit written over. */
	{
		struct zfs_inode *i = zfs_ns_get(fs->ns, f);

		memset(zero, 0x5a, sizeof(zero));
		zero[7] = 1;
		ck_assert_int_eq(zfs_data_open(&fs->data, i), 0);
		ck_assert_int_eq(zfs_data_write(&fs->data, i, (const char *)zero, PAM_PAGE_SIZE,
						3 * PAM_PAGE_SIZE, 0, 0), PAM_PAGE_SIZE);
		zfs_data_close(&fs->data, i);
	}
	/* Links across pools, a rename leaving a cookie hole, symlinks,
	 * specials, xattrs. */
	ck_assert_int_eq(zfs_ns_link(fs->ns, f, a, "dense-link", &st), 0);
	zfs_ns_forget(fs->ns, f, 1);
	ck_assert_int_eq(zfs_ns_unlink(fs->ns, a, "f3"), 0);
	ck_assert_int_eq(zfs_ns_mknod(fs->ns, sub, "ln", S_IFLNK | 0777, 0, getuid(), getgid(),
				      "../big", NULL, &st), 0);
	zfs_ns_forget(fs->ns, st.st_ino, 1);
	ck_assert_int_eq(zfs_ns_mknod(fs->ns, b, "fifo", S_IFIFO | 0600, 0, getuid(), getgid(),
				      NULL, NULL, &st), 0);
	zfs_ns_forget(fs->ns, st.st_ino, 1);
	ck_assert_int_eq(zfs_ns_setxattr(fs->ns, big, "user.a", "value-a", 7, 0), 0);
	ck_assert_int_eq(zfs_ns_setxattr(fs->ns, big, "user.empty", "", 0, 0), 0);
	ck_assert_int_eq(zfs_ns_setxattr(fs->ns, sub, "user.dir", "d", 1, 0), 0);
	ck_assert_int_eq(zfs_data_pool_setxattr(&fs->data, e, zfs_ns_pool_of_dir(fs->ns, e),
						ZFS_XATTR_DENSIFY, "zstd:12", 7, 0, 0), 0);
	ck_assert_int_eq(zfs_data_pool_setxattr(&fs->data, ZFS_ROOT_INO,
						zfs_ns_pool_of_dir(fs->ns, ZFS_ROOT_INO),
						ZFS_XATTR_CODEC, "zstd:5", 6, 0, 0), 0);
	/* An unlinked file the kernel still knows: not in a snapshot. */
	{
		uint64_t gone = mkfile(fs, a, "gone", 5000, 95);

		ck_assert_int_eq(zfs_ns_lookup(fs->ns, a, "gone", &st), 0);
		ck_assert_int_eq(zfs_ns_unlink(fs->ns, a, "gone"), 0);
		(void)gone;
	}
}

/* What a directory listing shows, with offsets: the cookies must match. */
struct listing {
	char buf[16384];
	size_t len;
};

static int list_fill(void *arg, const char *name, const struct stat *st, uint64_t next,
		     unsigned flags)
{
	struct listing *l = arg;

	(void)flags;
	l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%s:%llu:%llu;",
				   name, (unsigned long long)st->st_ino, (unsigned long long)next);
	return 0;
}

/* Compare every inode of a and b (both walked by number up to next). */
static void compare(struct zfs *a, struct zfs *b, uint64_t upto)
{
	for (uint64_t ino = 1; ino < upto; ino++) {
		struct zfs_inode *x = zfs_ns_get(a->ns, ino), *y = zfs_ns_get(b->ns, ino);
		struct stat sx, sy;

		if (x && x->nlink == 0)
			x = NULL;	/* only the kernel knew it */
		ck_assert_msg(!x == !y, "inode %llu: %p vs %p", (unsigned long long)ino,
			      (void *)x, (void *)y);
		if (!x)
			continue;
		zfs_ns_stat(a->ns, x, &sx);
		zfs_ns_stat(b->ns, y, &sy);
		ck_assert_uint_eq(sx.st_mode, sy.st_mode);
		ck_assert_uint_eq(sx.st_nlink, sy.st_nlink);
		ck_assert_uint_eq(sx.st_size, sy.st_size);
		ck_assert_uint_eq(sx.st_blocks, sy.st_blocks);
		ck_assert_int_eq(sx.st_mtim.tv_sec, sy.st_mtim.tv_sec);
		ck_assert_int_eq(sx.st_mtim.tv_nsec, sy.st_mtim.tv_nsec);
		ck_assert_int_eq(sx.st_ctim.tv_nsec, sy.st_ctim.tv_nsec);
		ck_assert_uint_eq(x->pool->id, y->pool->id);
		{
			char lx[1024], ly[1024];
			int nx = zfs_ns_listxattr(a->ns, ino, lx, sizeof(lx));

			ck_assert_int_eq(nx, zfs_ns_listxattr(b->ns, ino, ly, sizeof(ly)));
			ck_assert(nx <= 0 || !memcmp(lx, ly, (size_t)nx));
		}
		if (S_ISDIR(sx.st_mode) && x->pool->dir_ino == ino) {
			static const char *const attrs[] = { ZFS_XATTR_KIND, ZFS_XATTR_CODEC,
							     ZFS_XATTR_DENSIFY };

			for (unsigned k = 0; k < 3; k++) {
				char vx[64], vy[64];

				zfs_data_pool_getxattr(x->pool, attrs[k], vx, sizeof(vx));
				zfs_data_pool_getxattr(y->pool, attrs[k], vy, sizeof(vy));
				ck_assert_str_eq(vx, vy);
			}
			ck_assert_uint_eq(x->pool->bytes_written, y->pool->bytes_written);
		}
		if (S_ISDIR(sx.st_mode)) {
			struct listing *la = calloc(1, sizeof(*la)), *lb = calloc(1, sizeof(*lb));

			ck_assert_int_eq(zfs_ns_readdir(a->ns, ino, 0, 0, list_fill, la), 0);
			ck_assert_int_eq(zfs_ns_readdir(b->ns, ino, 0, 0, list_fill, lb), 0);
			ck_assert_str_eq(la->buf, lb->buf);
			free(la);
			free(lb);
		} else if (S_ISLNK(sx.st_mode)) {
			char tx[256], ty[256];

			ck_assert_int_eq(zfs_ns_readlink(a->ns, ino, tx, sizeof(tx)), 0);
			ck_assert_int_eq(zfs_ns_readlink(b->ns, ino, ty, sizeof(ty)), 0);
			ck_assert_str_eq(tx, ty);
		} else if (S_ISREG(sx.st_mode)) {
			struct zfs_data_buf bx, by;
			size_t px = 0, py = 0;
			unsigned char *cx = malloc((size_t)sx.st_size + 1);
			unsigned char *cy = malloc((size_t)sx.st_size + 1);

			ck_assert_int_eq(zfs_data_open(&a->data, x), 0);
			ck_assert_int_eq(zfs_data_open(&b->data, y), 0);
			ck_assert_int_eq(zfs_data_read(&a->data, x, (size_t)sx.st_size + 1, 0, &bx), 0);
			ck_assert_int_eq(zfs_data_read(&b->data, y, (size_t)sx.st_size + 1, 0, &by), 0);
			for (int k = 0; k < bx.cnt; k++, px += bx.iov[k - 1].iov_len)
				memcpy(cx + px, bx.iov[k].iov_base, bx.iov[k].iov_len);
			for (int k = 0; k < by.cnt; k++, py += by.iov[k - 1].iov_len)
				memcpy(cy + py, by.iov[k].iov_base, by.iov[k].iov_len);
			ck_assert_uint_eq(px, (size_t)sx.st_size);
			ck_assert_uint_eq(py, px);
			ck_assert_msg(!memcmp(cx, cy, px), "inode %llu: bytes differ",
				      (unsigned long long)ino);
			zfs_data_buf_free(&bx);
			zfs_data_buf_free(&by);
			zfs_data_close(&a->data, x);
			zfs_data_close(&b->data, y);
			free(cx);
			free(cy);
		}
	}
}

/* Save a's state into a memfd; returns the fd and the image size. */
static int save(struct zfs *fs, size_t *len, struct zfs_state_figures *fig)
{
	int fd = memfd_create("state", MFD_CLOEXEC);
	struct stat st;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(zfs_state_save(fs, fd, fig), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	ck_assert_uint_eq(fig->file_bytes, *len);
	return fd;
}

START_TEST(test_round_trip)
{
	struct tfs a, b;
	struct zfs_state_figures fs_save, fs_load;
	struct pam_stats pa, pb;
	char err[256] = "";
	size_t len;
	void *img;
	int fd;

	tfs_open(&a);
	populate(a.fs);
	ck_assert_int_eq(zfs_check(a.fs), 0);
	fd = save(a.fs, &len, &fs_save);
	ck_assert_uint_gt(fs_save.units, 1);
	img = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	ck_assert_ptr_ne(img, MAP_FAILED);

	tfs_open(&b);
	ck_assert_msg(zfs_state_load(b.fs, img, len, "img", &fs_load, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(fs_load.pages, fs_save.pages);
	ck_assert_uint_eq(fs_load.units, fs_save.units);
	ck_assert_uint_eq(fs_load.stored_bytes, fs_save.stored_bytes);
	ck_assert_int_eq(zfs_check(b.fs), 0);
	ck_assert_int_eq(zc_stack_check(b.stack), 0);
	compare(a.fs, b.fs, 200);
	/* The stored forms came over as they were: the units' compressed
	 * bytes and dead slots are a's (the unlinked file a still holds has
	 * no unit), every page saved is stored. */
	pam_stats(a.stack->pam, &pa);
	pam_stats(b.stack->pam, &pb);
	ck_assert_uint_eq(pb.units, fs_save.units);
	ck_assert_uint_eq(pb.unit_bytes, pa.unit_bytes);
	ck_assert_uint_eq(pb.unit_dead_pages, pa.unit_dead_pages);
	ck_assert_uint_eq(pb.pages, fs_save.pages);

	/* Saving b again gives an image of the same size and counts. */
	{
		struct zfs_state_figures f2;
		size_t len2;
		int fd2 = save(b.fs, &len2, &f2);

		ck_assert_uint_eq(len2, len);
		ck_assert_uint_eq(f2.pages, fs_save.pages);
		close(fd2);
	}
	munmap(img, len);
	close(fd);
	tfs_close(&b);
	tfs_close(&a);
}
END_TEST

/* Load a damaged image into a fresh filesystem: it must fail with one line
 * naming the offset, and tear down cleanly. */
static void load_bad(const void *img, size_t len, const char *want)
{
	struct tfs t;
	char err[256] = "";
	int ret;

	tfs_open(&t);
	ret = zfs_state_load(t.fs, img, len, "bad.img", NULL, err, sizeof(err));
	ck_assert_int_lt(ret, 0);
	ck_assert_msg(!strncmp(err, "bad.img: offset ", 16), "message: %s", err);
	ck_assert_ptr_null(strchr(err, '\n'));
	if (want)
		ck_assert_msg(strstr(err, want), "message: %s (want %s)", err, want);
	tfs_close(&t);
}

START_TEST(test_damage)
{
	struct tfs a;
	struct zfs_state_figures fig;
	unsigned char *img, *copy;
	size_t len;
	int fd;

	tfs_open(&a);
	populate(a.fs);
	fd = save(a.fs, &len, &fig);
	img = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	ck_assert_ptr_ne(img, MAP_FAILED);
	copy = malloc(len);
	/* Every byte of the header and the first records, then a sample. */
	for (size_t off = 0; off < len; off += off < 512 ? 1 : 1 + rng() % 4000) {
		memcpy(copy, img, len);
		copy[off] ^= (unsigned char)(1u << (rng() % 8));
		load_bad(copy, len, NULL);
	}
	/* Cut anywhere. */
	for (size_t cut = 0; cut < len; cut += cut < 256 ? 1 : 1 + rng() % 5000)
		load_bad(img, cut, NULL);
	/* Another version. */
	{
		uint32_t v = ZFS_STATE_VERSION + 1, crc;

		memcpy(copy, img, len);
		memcpy(copy + 8, &v, 4);
		crc = crc32c(0, copy, 28);
		memcpy(copy + 28, &crc, 4);
		load_bad(copy, len, "format version 2, this zcached reads version 1");
	}
	free(copy);
	munmap(img, len);
	close(fd);
	tfs_close(&a);
}
END_TEST

START_TEST(test_save_file)
{
	struct tfs a, b;
	char dir[] = "/tmp/zc-state-XXXXXX", path[128], tmp[140], err[256];
	struct zfs_state_figures fig;
	struct stat st;

	tfs_open(&a);
	populate(a.fs);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/snap", dir);
	ck_assert_int_eq(zfs_state_save_file(a.fs, path, &fig, err, sizeof(err)), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_eq(stat(tmp, &st), -1);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, fig.file_bytes);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	tfs_open(&b);
	ck_assert_msg(zfs_state_load_file(b.fs, path, NULL, err, sizeof(err)) == 0, "%s", err);
	compare(a.fs, b.fs, 200);
	tfs_close(&b);
	/* A missing file says so. */
	tfs_open(&b);
	ck_assert_int_eq(zfs_state_load_file(b.fs, tmp, NULL, err, sizeof(err)), -ENOENT);
	tfs_close(&b);
	/* Saving where nothing can be written leaves nothing behind. */
	snprintf(tmp, sizeof(tmp), "%s/no/such/dir", dir);
	ck_assert_int_lt(zfs_state_save_file(a.fs, tmp, &fig, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "no/such/dir.tmp"));
	unlink(path);
	rmdir(dir);
	tfs_close(&a);
}
END_TEST

/* Many files of mostly raw and text pages: an image of several of the
 * writer's 1 MiB buffers, and large enough for the load's helper thread
 * (state.h, Threads: 4 MiB).  Returns the highest inode number + 1. */
static uint64_t populate_big(struct zfs *fs)
{
	uint64_t d = mkdir_(fs, ZFS_ROOT_INO, "big", 0, 0), last = d;

	for (int k = 0; k < 200; k++) {
		char name[32];

		snprintf(name, sizeof(name), "b%d", k);
		last = mkfile(fs, d, name, 32 * PAM_PAGE_SIZE - (uint64_t)k, 1000 + (uint64_t)k);
	}
	return last + 1;
}

START_TEST(test_big_image)
{
	struct tfs a, b;
	struct zfs_state_figures fs_save, fs_load;
	struct buddy_stats st0, st1;
	char err[256] = "";
	uint64_t upto;
	size_t len;
	void *img;
	int fd;

	tfs_open(&a);
	upto = populate_big(a.fs);
	fd = save(a.fs, &len, &fs_save);
	ck_assert_uint_gt(len, 5u << 20);	/* several buffers; the load's helper */
	img = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	ck_assert_ptr_ne(img, MAP_FAILED);
	tfs_open(&b);
	buddy_stats(b.stack->buddy, &st0);
	ck_assert_msg(zfs_state_load(b.fs, img, len, "big.img", &fs_load, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(fs_load.pages, fs_save.pages);
	ck_assert_uint_eq(fs_load.stored_bytes, fs_save.stored_bytes);
	/* The helper's chunks are some of those the load mapped (how many
	 * depends on the scheduler), and it leaves at most two free. */
	buddy_stats(b.stack->buddy, &st1);
	ck_assert_uint_le(fs_load.prefaulted, st1.chunks_mapped - st0.chunks_mapped);
	ck_assert_uint_le(st1.free_chunks, st0.free_chunks + 2);
	ck_assert_int_eq(zfs_check(b.fs), 0);
	ck_assert_int_eq(zc_stack_check(b.stack), 0);
	compare(a.fs, b.fs, upto);
	/* Saved again: an image of the same size and pages. */
	{
		struct zfs_state_figures f2;
		size_t len2;
		int fd2 = save(b.fs, &len2, &f2);

		ck_assert_uint_eq(len2, len);
		ck_assert_uint_eq(f2.pages, fs_save.pages);
		close(fd2);
	}
	tfs_close(&b);
	/* From a file: mapped without MAP_POPULATE, the helper faults the
	 * image in ahead of the reader. */
	{
		char dir[] = "/tmp/zc-state-XXXXXX", path[128];

		ck_assert_ptr_nonnull(mkdtemp(dir));
		snprintf(path, sizeof(path), "%s/big", dir);
		ck_assert_int_eq(zfs_state_save_file(a.fs, path, NULL, err, sizeof(err)), 0);
		tfs_open(&b);
		ck_assert_msg(zfs_state_load_file(b.fs, path, &fs_load, err, sizeof(err)) == 0,
			      "%s", err);
		ck_assert_uint_eq(fs_load.stored_bytes, fs_save.stored_bytes);
		ck_assert_int_eq(zfs_check(b.fs), 0);
		ck_assert_int_eq(zc_stack_check(b.stack), 0);
		compare(a.fs, b.fs, upto);
		tfs_close(&b);
		unlink(path);
		rmdir(dir);
	}
	munmap(img, len);
	close(fd);
	tfs_close(&a);
}
END_TEST

/* A descriptor that cannot be written: the writing thread's error comes
 * back from the save, for an image of one buffer and of several. */
START_TEST(test_write_error)
{
	struct tfs a;
	struct zfs_state_figures fig;
	int fd;

	tfs_open(&a);
	populate(a.fs);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(zfs_state_save(a.fs, fd, &fig), -EBADF);
	populate_big(a.fs);
	ck_assert_int_eq(zfs_state_save(a.fs, fd, &fig), -EBADF);
	close(fd);
	tfs_close(&a);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("image");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_damage);
	tcase_add_test(tc, test_save_file);
	tcase_add_test(tc, test_big_image);
	tcase_add_test(tc, test_write_error);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(make_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
