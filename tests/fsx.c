/* fsx.c - the filesystem exerciser: random I/O on a mounted zcached,
 * every operation checked against an in-memory model.
 *
 * In the spirit of fsx (Apple's, then Linux's and xfstests'): several files
 * spread over pools of different codecs (the root pool with lz4, a zstd:1
 * pool and a pool that stores pages uncompressed) receive a random stream
 * of pwrite at random offsets and lengths, ftruncate (shrinking and
 * growing), fallocate (plain, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE with and
 * without KEEP_SIZE), SEEK_DATA/SEEK_HOLE, fsync and close/reopen.  Each file has a model: a
 * byte array and a size.  After every operation the touched range (and a
 * page either side of it) is read back and compared with the model and
 * the size is checked with fstat; every so often each whole file is read
 * back.  Reads alternate between a cached descriptor and an O_DIRECT one,
 * so both the kernel's page cache and the store itself are compared.
 *
 * Written data mixes what the store treats differently: random bytes
 * (incompressible: raw pages), text-like bytes (compressed into xcf), zero
 * bytes (a written zero page is a hole) and same-filled words (kept in the
 * pampd).  Lengths are mostly small and unaligned, so the read-modify-write
 * of edge pages is exercised hardest.
 *
 * Densify is forced between operations: every ZC_FSX_DENSIFY operations
 * (default 250; 0: never) the exerciser writes 1 to /.zcache/densify, so
 * every file changed since the last pass is repacked into multi-page units
 * (the "none" pool's files with lz4hc, set on the pool), and then reads one
 * file back whole.  So later writes, truncations, holes punched, zero
 * ranges and SEEK_DATA/SEEK_HOLE meet files whose pages share units, units
 * with pages gone from them, and files repacked again over those.
 *
 * At the end the daemon is stopped cleanly and started again with
 * -o snapshot= (the state image of issue 15, fuse/state.h), every file is
 * verified whole once more against what the load brought back, and the
 * deletions below run on the loaded store.
 *
 * ZC_FSX_MOUNT replaces the mount options (default
 * "compressor=lz4,mem_limit=1G"; CI runs it again with a 512 KiB mem_limit,
 * low watermarks and a backing directory, so pages keep going to the
 * backing file and coming back, fuse/tier.h; snapshot= is always added).
 * ZC_FSX_OPS sets the number of operations (default 100,000); ZC_SEED
 * replays a run (the seed is printed).  At the end the suite prints
 * "fsx: N operations, B bytes verified" (figures for the README), deletes
 * everything and checks that the store holds no page any more; the daemon's
 * exit status at unmount (0: under the asan preset, no leak and every
 * module's *_check passed) is asserted by fs_finish.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"

#define FSX_FILES 6			/* two per pool */
#define FSX_MAX (1u << 20)		/* bytes a file may reach */
#define FSX_WHOLE_EVERY 2000		/* whole-file checks, in operations */

struct fsx_file {
	char path[1024];
	int fd;				/* O_RDWR, page cache */
	int dfd;			/* O_RDONLY | O_DIRECT: the store */
	unsigned char *model;		/* FSX_MAX bytes; beyond size: zero */
	size_t size;
};

struct fsx {
	struct fsx_file f[FSX_FILES];
	unsigned char *buf;		/* FSX_MAX + 2 pages */
	uint64_t rs;			/* PRNG state */
	uint64_t ops, bytes_verified;
	uint64_t nop[9];		/* operations per kind, for the log */
	uint64_t densify_every, densify_passes;
};

enum { FSX_WRITE, FSX_READ, FSX_TRUNC, FSX_PUNCH, FSX_ZERO, FSX_ALLOC, FSX_SEEK, FSX_SYNC,
       FSX_REOPEN, FSX_NOPS };
static const char *const fsx_op_name[FSX_NOPS] = { "write", "read", "truncate", "punch", "zero",
						    "falloc", "seek", "fsync", "reopen" };

static void fsx_open(struct fsx_file *f)
{
	f->fd = open(f->path, O_RDWR | O_CREAT, 0644);
	ck_assert_msg(f->fd >= 0, "open %s: %s", f->path, strerror(errno));
	f->dfd = open(f->path, O_RDONLY | O_DIRECT);
	ck_assert_msg(f->dfd >= 0, "open O_DIRECT %s: %s", f->path, strerror(errno));
}

static void fsx_close(struct fsx_file *f)
{
	ck_assert_int_eq(close(f->fd), 0);
	ck_assert_int_eq(close(f->dfd), 0);
}

/* Read [off, off + len) of file k back and compare it with the model; the
 * size is checked too.  `direct` picks the O_DIRECT descriptor. */
static void fsx_verify(struct fsx *x, unsigned k, size_t off, size_t len, int direct,
		       const char *what)
{
	struct fsx_file *f = &x->f[k];
	size_t want;
	struct stat st;
	ssize_t got;

	ck_assert_int_eq(fstat(f->fd, &st), 0);
	ck_assert_msg((uint64_t)st.st_size == f->size,
		      "op %" PRIu64 " (%s) file %u: size %lld, model %zu", x->ops, what, k,
		      (long long)st.st_size, f->size);
	want = off >= f->size ? 0 : (f->size - off < len ? f->size - off : len);
	got = pread(direct ? f->dfd : f->fd, x->buf, len, (off_t)off);
	ck_assert_msg(got == (ssize_t)want,
		      "op %" PRIu64 " (%s) file %u: pread %zu at %zu gave %zd (%s), want %zu",
		      x->ops, what, k, len, off, got, got < 0 ? strerror(errno) : "", want);
	if (memcmp(x->buf, f->model + off, want) != 0) {
		size_t i = 0;

		while (x->buf[i] == f->model[off + i])
			i++;
		ck_abort_msg("op %" PRIu64 " (%s) file %u: byte %zu reads 0x%02x, model 0x%02x "
			     "(%s read of %zu at %zu)",
			     x->ops, what, k, off + i, x->buf[i], f->model[off + i],
			     direct ? "direct" : "cached", len, off);
	}
	x->bytes_verified += want;
}

/* Fill buf[0, len) with one of the kinds of data the store treats apart. */
static void fsx_fill(struct fsx *x, unsigned char *buf, size_t len)
{
	unsigned kind = (unsigned)zc_rand_below(&x->rs, 8);
	uint64_t word = zc_rand(&x->rs);
	size_t i;

	switch (kind) {
	case 0:		/* zeros: a whole zero page is a hole */
		memset(buf, 0, len);
		break;
	case 1:		/* same-filled 8-byte words */
		for (i = 0; i < len; i++)
			buf[i] = (unsigned char)(word >> (8 * (i % 8)));
		break;
	case 2:
	case 3:		/* incompressible */
		for (i = 0; i + 8 <= len; i += 8) {
			uint64_t r = zc_rand(&x->rs);

			memcpy(buf + i, &r, 8);
		}
		for (; i < len; i++)
			buf[i] = (unsigned char)zc_rand(&x->rs);
		break;
	default: {	/* text-like: compressible, different every time */
		static const char words[] = "the quick brown fox jumps over lazy dogs "
					    "int main(void) { return 0; } zcached tmem ";
		size_t pos = (size_t)(word % (sizeof(words) - 1));

		for (i = 0; i < len; i++) {
			buf[i] = (unsigned char)words[pos];
			pos = (pos + 1) % (sizeof(words) - 1);
			if ((i & 63) == 0 && zc_rand_below(&x->rs, 4) == 0)
				pos = (size_t)zc_rand_below(&x->rs, sizeof(words) - 1);
		}
		break;
	}
	}
}

/* A length: mostly small and unaligned, sometimes pages, rarely large. */
static size_t fsx_len(struct fsx *x)
{
	unsigned r = (unsigned)zc_rand_below(&x->rs, 100);

	if (r < 55)
		return (size_t)zc_rand_below(&x->rs, 2 * PAGE) + 1;
	if (r < 75)
		return PAGE * (size_t)(zc_rand_below(&x->rs, 4) + 1);
	if (r < 97)
		return (size_t)zc_rand_below(&x->rs, 16 * PAGE) + 1;
	return (size_t)zc_rand_below(&x->rs, 256 * 1024) + 1;
}

/* An offset for a range of len bytes: aligned a third of the time, near
 * the end of the file a third of the time. */
static size_t fsx_off(struct fsx *x, const struct fsx_file *f, size_t len)
{
	size_t lim = FSX_MAX - len, off;
	unsigned r = (unsigned)zc_rand_below(&x->rs, 3);

	if (r == 0)
		off = (size_t)zc_rand_below(&x->rs, lim / PAGE + 1) * PAGE;
	else if (r == 1 && f->size > 0)
		off = f->size - (size_t)zc_rand_below(&x->rs, f->size < 2 * PAGE ? f->size : 2 * PAGE);
	else
		off = (size_t)zc_rand_below(&x->rs, lim + 1);
	return off > lim ? lim : off;
}

/* SEEK_DATA and SEEK_HOLE from off.  Zero pages are not stored, so the
 * model cannot say where the holes are; but whatever SEEK_DATA skips must
 * read as zeros, ENXIO means zeros up to the end, and both land in
 * [off, size]. */
static void fsx_seek(struct fsx *x, unsigned k, size_t off)
{
	struct fsx_file *f = &x->f[k];
	off_t d, h;
	size_t i;

	errno = 0;
	d = lseek(f->fd, (off_t)off, SEEK_DATA);
	if (off >= f->size) {
		ck_assert_msg(d == -1 && errno == ENXIO, "op %" PRIu64 ": SEEK_DATA from %zu past "
			      "the end (%zu) gave %lld", x->ops, off, f->size, (long long)d);
	} else {
		ck_assert_msg(d >= 0 || errno == ENXIO, "op %" PRIu64 ": SEEK_DATA: %s", x->ops,
			      strerror(errno));
		if (d < 0)
			d = (off_t)f->size;
		ck_assert_msg((size_t)d >= off && (size_t)d <= f->size,
			      "op %" PRIu64 ": SEEK_DATA from %zu gave %lld (size %zu)", x->ops, off,
			      (long long)d, f->size);
		/* One assertion, not one a byte: each is a write to libcheck's pipe. */
		for (i = off; i < (size_t)d && f->model[i] == 0; i++)
			;
		ck_assert_msg(i == (size_t)d, "op %" PRIu64 ": SEEK_DATA from %zu skipped to %lld "
			      "over data at %zu", x->ops, off, (long long)d, i);
	}
	errno = 0;
	h = lseek(f->fd, (off_t)off, SEEK_HOLE);
	if (off >= f->size)
		ck_assert_msg(h == -1 && errno == ENXIO, "op %" PRIu64 ": SEEK_HOLE past the end "
			      "gave %lld", x->ops, (long long)h);
	else
		ck_assert_msg(h >= (off_t)off && (size_t)h <= f->size,
			      "op %" PRIu64 ": SEEK_HOLE from %zu gave %lld (size %zu)", x->ops, off,
			      (long long)h, f->size);
}

/* Run one random operation on a random file and check what it touched. */
static void fsx_step(struct fsx *x)
{
	unsigned k = (unsigned)zc_rand_below(&x->rs, FSX_FILES);
	struct fsx_file *f = &x->f[k];
	unsigned r = (unsigned)zc_rand_below(&x->rs, 100), op;
	size_t len = fsx_len(x), off = fsx_off(x, f, len), vlo, vhi;
	int direct = (int)zc_rand_below(&x->rs, 2);

	op = r < 44 ? FSX_WRITE : r < 60 ? FSX_READ : r < 70 ? FSX_TRUNC : r < 78 ? FSX_PUNCH :
	     r < 86 ? FSX_ZERO : r < 91 ? FSX_ALLOC : r < 94 ? FSX_SEEK : r < 97 ? FSX_SYNC :
	     FSX_REOPEN;
	x->nop[op]++;
	switch (op) {
	case FSX_WRITE:
		fsx_fill(x, x->buf, len);
		ck_assert_msg(pwrite(f->fd, x->buf, len, (off_t)off) == (ssize_t)len,
			      "op %" PRIu64 " file %u: pwrite %zu at %zu: %s", x->ops, k, len, off,
			      strerror(errno));
		memcpy(f->model + off, x->buf, len);
		if (off + len > f->size)
			f->size = off + len;
		break;
	case FSX_READ:
		break;
	case FSX_TRUNC: {
		/* Shrink often (and to zero sometimes), grow less often. */
		size_t ns = zc_rand_below(&x->rs, 8) == 0 ? 0 :
			    zc_rand_below(&x->rs, 3) == 0 ? (size_t)zc_rand_below(&x->rs, FSX_MAX + 1) :
			    (size_t)zc_rand_below(&x->rs, f->size + 1);

		ck_assert_msg(ftruncate(f->fd, (off_t)ns) == 0, "op %" PRIu64 ": ftruncate %zu: %s",
			      x->ops, ns, strerror(errno));
		if (ns < f->size)
			memset(f->model + ns, 0, f->size - ns);
		/* Check around the old and the new end. */
		off = (ns < f->size ? ns : f->size);
		len = (ns > f->size ? ns : f->size) - off + 1;
		f->size = ns;
		break;
	}
	case FSX_PUNCH:
		ck_assert_msg(fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
					(off_t)len) == 0,
			      "op %" PRIu64 ": punch %zu at %zu: %s", x->ops, len, off, strerror(errno));
		if (off < f->size)
			memset(f->model + off, 0, (off + len < f->size ? off + len : f->size) - off);
		break;
	case FSX_ZERO: {
		int keep = (int)zc_rand_below(&x->rs, 2);

		ck_assert_msg(fallocate(f->fd, FALLOC_FL_ZERO_RANGE | (keep ? FALLOC_FL_KEEP_SIZE : 0),
					(off_t)off, (off_t)len) == 0,
			      "op %" PRIu64 ": zero range %zu at %zu (keep %d): %s", x->ops, len, off,
			      keep, strerror(errno));
		if (off < f->size)
			memset(f->model + off, 0, (off + len < f->size ? off + len : f->size) - off);
		if (!keep && off + len > f->size)
			f->size = off + len;
		break;
	}
	case FSX_ALLOC:
		/* Plain allocation: may extend the size, stores nothing. */
		ck_assert_msg(fallocate(f->fd, 0, (off_t)off, (off_t)len) == 0,
			      "op %" PRIu64 ": fallocate %zu at %zu: %s", x->ops, len, off,
			      strerror(errno));
		if (off + len > f->size)
			f->size = off + len;
		break;
	case FSX_SEEK:
		fsx_seek(x, k, off);
		break;
	case FSX_SYNC:
		ck_assert_int_eq(fsync(f->fd), 0);
		break;
	case FSX_REOPEN:
		fsx_close(f);
		fsx_open(f);
		off = 0;
		len = FSX_MAX;
		break;
	}
	/* Read back the touched range and a page either side of it. */
	vlo = off > PAGE ? off - PAGE : 0;
	vhi = off + len + PAGE < FSX_MAX + PAGE ? off + len + PAGE : FSX_MAX + PAGE;
	fsx_verify(x, k, vlo, vhi - vlo, direct, fsx_op_name[op]);
	x->ops++;
	if (x->densify_every && x->ops % x->densify_every == 0) {
		unsigned j = (unsigned)zc_rand_below(&x->rs, FSX_FILES);

		fs_ctl_write("densify", "1");
		x->densify_passes++;
		fsx_verify(x, j, 0, FSX_MAX + PAGE, (int)zc_rand_below(&x->rs, 2), "after densify");
	}
	if (x->ops % FSX_WHOLE_EVERY == 0) {
		for (unsigned j = 0; j < FSX_FILES; j++)
			fsx_verify(x, j, 0, FSX_MAX + PAGE, (int)(j + x->ops / FSX_WHOLE_EVERY) & 1,
				   "whole file");
	}
}

static void fsx_make_pool(const char *name, const char *codec)
{
	char p[1024], got[64];
	ssize_t n;

	fs_path(p, sizeof(p), name);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.compressor", codec, strlen(codec), 0), 0);
	n = getxattr(p, "user.zcache.compressor", got, sizeof(got));
	ck_assert_int_eq(n, (ssize_t)strlen(codec));
	ck_assert(!memcmp(got, codec, strlen(codec)));
}

/* The snapshot round trip (issue 15): stop the daemon cleanly, which
 * writes the state image (-o snapshot=), start it again on the same
 * directory, which loads it, and reopen the files; the final verification
 * then compares every byte of the model with what came back. */
static void fsx_restart(struct fsx *x, const char *opts)
{
	char dir[sizeof(fs_cur.dir)];

	for (unsigned k = 0; k < FSX_FILES; k++)
		fsx_close(&x->f[k]);
	snprintf(dir, sizeof(dir), "%s", fs_cur.dir);
	fs_finish();
	ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
	fs_mount_at(dir, opts);
	for (unsigned k = 0; k < FSX_FILES; k++) {
		fsx_open(&x->f[k]);
		fsx_verify(x, k, 0, FSX_MAX + PAGE, 1, "after the snapshot's load");
	}
}

START_TEST(test_fsx)
{
	static const char *const names[FSX_FILES] = { "a", "b", "zstd/c", "zstd/d", "none/e",
						      "none/f" };
	const char *env = getenv("ZC_FSX_OPS"), *denv = getenv("ZC_FSX_DENSIFY");
	const char *mount_opts = getenv("ZC_FSX_MOUNT");
	uint64_t nops = env && *env ? strtoull(env, NULL, 10) : 100000;
	struct fsx *x = calloc(1, sizeof(*x));
	unsigned k;
	char opts[1024];

	ck_assert_ptr_nonnull(x);
	x->rs = zc_test_seed();
	x->densify_every = denv && *denv ? strtoull(denv, NULL, 10) : 250;
	x->buf = malloc(FSX_MAX + 2 * PAGE);
	ck_assert_ptr_nonnull(x->buf);
	snprintf(opts, sizeof(opts), "%s,snapshot=%s/fsx.snap",
		 mount_opts && *mount_opts ? mount_opts : "compressor=lz4,mem_limit=1G", fs_base);
	fs_mount(opts);
	fsx_make_pool("zstd", "zstd:1");
	fsx_make_pool("none", "none");
	{
		char p[1024];

		fs_path(p, sizeof(p), "none");
		ck_assert_int_eq(setxattr(p, "user.zcache.densify", "lz4hc", 5, 0), 0);
	}
	for (k = 0; k < FSX_FILES; k++) {
		fs_path(x->f[k].path, sizeof(x->f[k].path), names[k]);
		x->f[k].model = calloc(1, FSX_MAX + 2 * PAGE);
		ck_assert_ptr_nonnull(x->f[k].model);
		fsx_open(&x->f[k]);
	}
	while (x->ops < nops)
		fsx_step(x);
	for (k = 0; k < FSX_FILES; k++)
		fsx_verify(x, k, 0, FSX_MAX + PAGE, 1, "final");
	fprintf(stderr, "fsx: %" PRIu64 " operations, %" PRIu64 " bytes verified, %" PRIu64
		" densify passes (%" PRIu64 " groups repacked, %" PRIu64 " left to a write)\n",
		x->ops, x->bytes_verified, x->densify_passes, fs_stat_value("densify_units_made"),
		fs_stat_value("densify_conflicts"));
	if (x->densify_passes)
		ck_assert_uint_gt(fs_stat_value("densify_units_made"), 0);
	if (mount_opts && strstr(mount_opts, "backing=")) {
		/* The backing tier's run: pages went through the file. */
		fprintf(stderr, "fsx: %" PRIu64 " pages written back, %" PRIu64 " read back; "
			"%" PRIu64 " of %" PRIu64 " pages in the file at the end\n",
			fs_stat_value("backing_writes"), fs_stat_value("backing_reads"),
			fs_stat_value("backing_pages"), fs_stat_value("pages"));
		ck_assert_uint_gt(fs_stat_value("backing_writes"), 0);
		ck_assert_uint_gt(fs_stat_value("backing_reads"), 0);
	}
	if (mount_opts && strstr(mount_opts, "backing_compact=0")) {
		/* Compaction on every tick that found a sparse segment. */
		fprintf(stderr, "fsx: %" PRIu64 " compaction passes, %" PRIu64 " segments emptied, "
			"%" PRIu64 " bytes moved\n", fs_stat_value("backing_compact_runs"),
			fs_stat_value("backing_compactions"), fs_stat_value("backing_compact_bytes"));
		ck_assert_uint_gt(fs_stat_value("backing_compact_runs"), 0);
		ck_assert_uint_eq(fs_stat_value("backing_compact_failures"), 0);
	}
	fprintf(stderr, "fsx: ");
	for (k = 0; k < FSX_NOPS; k++)
		fprintf(stderr, "%s %" PRIu64 "%s", fsx_op_name[k], x->nop[k],
			k + 1 < FSX_NOPS ? ", " : "\n");
	fsx_restart(x, opts);
	/* Everything deleted: the store keeps no page and no object. */
	for (k = 0; k < FSX_FILES; k++) {
		fsx_close(&x->f[k]);
		ck_assert_int_eq(unlink(x->f[k].path), 0);
		free(x->f[k].model);
	}
	/* The data goes when the kernel forgets the inodes: FORGET is queued
	 * and may be handled by another worker after our next request. */
	for (k = 0; k < 12000 && (fs_stat_value("pages") || fs_stat_value("objects")); k++)
		usleep(10000);	/* (the ceiling only bounds a failure) */
	ck_assert_uint_eq(fs_stat_value("pages"), 0);
	ck_assert_uint_eq(fs_stat_value("objects"), 0);
	{
		char p[1024];

		fs_path(p, sizeof(p), "zstd");
		ck_assert_int_eq(rmdir(p), 0);
		fs_path(p, sizeof(p), "none");
		ck_assert_int_eq(rmdir(p), 0);
	}
	ck_assert_uint_eq(fs_stat_value("pools"), 1);
	free(x->buf);
	free(x);
	fs_finish();
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("fsx");
	TCase *tc = tcase_create("fsx");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_fsx);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fs_suite_main(make_suite());
}
