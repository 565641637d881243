/* fs_densify.c - densifying files on a mounted zcached (fuse/densify.h):
 * /.zcache/densify, the background densifier, and everything that must
 * still hold on densified files.
 *
 * Every test mounts its own daemon (tests/fsutil.h) and asserts on content
 * (each file compared with the bytes written, a model where files change)
 * and on counters (units, densified_files, densify_saved_bytes, the pools'
 * densify_repacks, mem_used_bytes); none asserts on time.  The background
 * test waits for a counter to move, bounded only by the suite's timeout.
 *   content      text, incompressible, same-filled, sparse and tiny files
 *                in pools with lz4, zstd:1 (densify=zstd:12 on the pool)
 *                and densify off: identical bytes and SEEK_DATA/SEEK_HOLE
 *                answers after densify, fewer bytes, no unit where off
 *   writes       writes, holes punched, zero ranges, truncations and
 *                appends into densified files, densified again, checked
 *                against a model after every step
 *   enospc       at the memory limit: densify runs and makes room (writes
 *                refused before succeed after), never fails for memory
 *   eviction     densified files of an ephemeral pool are evicted whole
 *                (drop_ephemeral and the limit): no page, no unit left
 *   concurrent   writers rewriting files while densify passes run: the
 *                writes win (content is the last write), conflicts counted
 *   background   densify_idle=1: a closed file is densified by the thread,
 *                a file held open is not; densify=, densify_idle= checked
 *   xattr        user.zcache.densify: read, set, refused values and users
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"

/* Text-like bytes: words of a small vocabulary, so a page compresses about
 * 3:1 alone and better in a unit. */
static void fill_text(uint64_t *rs, unsigned char *buf, size_t len)
{
	static const char *const words[] = {
		"the ", "store ", "keeps ", "pages ", "of ", "files ", "compressed ", "in ",
		"memory ", "while ", "readers ", "ask ", "for ", "them ", "again ", "and ",
		"units ", "pack ", "sixteen ", "together\n", "struct ", "int ", "return ", "{ ",
		"} ", "if ", "(x) ", "0; ", "static ", "void ", "uint64_t ", "lock ",
	};
	size_t n = 0;

	while (n < len) {
		const char *w = words[zc_rand_below(rs, sizeof(words) / sizeof(words[0]))];
		size_t l = strlen(w);

		if (l > len - n)
			l = len - n;
		memcpy(buf + n, w, l);
		n += l;
	}
}

static void fill_random(uint64_t *rs, unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)zc_rand(rs);
}

/* rel holds exactly `len` bytes equal to `want`. */
static void check_file(const char *rel, const unsigned char *want, size_t len)
{
	size_t got;
	char *s = fs_read_file(rel, &got);

	ck_assert_msg(got == len, "%s: %zu bytes, expected %zu", rel, got, len);
	ck_assert_msg(memcmp(s, want, len) == 0, "%s: content differs", rel);
	free(s);
}

/* The same through O_DIRECT (the daemon's pages, not the kernel's cache). */
static void check_direct(const char *rel, const unsigned char *want, size_t len)
{
	char p[1024];
	size_t cap = (len + PAGE - 1) / PAGE * PAGE + PAGE;
	unsigned char *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int fd;

	ck_assert_int_eq(posix_memalign((void **)&buf, PAGE, cap), 0);
	fs_path(p, sizeof(p), rel);
	fd = open(p, O_RDONLY | O_DIRECT);
	ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
	while ((n = pread(fd, buf + got, cap - got, (off_t)got)) > 0)
		got += (size_t)n;
	ck_assert_int_eq(n, 0);
	close(fd);
	ck_assert_msg(got == len, "%s: %zu bytes direct, expected %zu", rel, got, len);
	ck_assert_msg(memcmp(buf, want, len) == 0, "%s: direct content differs", rel);
	free(buf);
}

/* The SEEK_DATA/SEEK_HOLE map of a file: alternating offsets until ENXIO. */
static size_t seek_map(const char *rel, off_t *out, size_t max)
{
	char p[1024];
	size_t n = 0;
	off_t off = 0;
	int fd, whence = SEEK_DATA;

	fs_path(p, sizeof(p), rel);
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	while (n < max) {
		off_t r = lseek(fd, off, whence);

		if (r < 0) {
			ck_assert_int_eq(errno, ENXIO);
			break;
		}
		out[n++] = r;
		off = r;
		whence = whence == SEEK_DATA ? SEEK_HOLE : SEEK_DATA;
	}
	close(fd);
	return n;
}

static void make_pool(const char *name, const char *codec, const char *densify)
{
	char p[1024];

	fs_path(p, sizeof(p), name);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	if (codec)
		ck_assert_int_eq(setxattr(p, "user.zcache.compressor", codec, strlen(codec), 0), 0);
	if (densify)
		ck_assert_int_eq(setxattr(p, "user.zcache.densify", densify, strlen(densify), 0),
				 0);
}

static uint64_t pool_value(const char *pool, const char *name)
{
	char f[256];

	snprintf(f, sizeof(f), "pools/%s/stats", pool);
	return fs_ctl_value(f, name);
}

/* Write `len` bytes at `off` of rel (created if need be). */
static void pwrite_file(const char *rel, const void *buf, size_t len, off_t off)
{
	char p[1024];
	int fd;

	fs_path(p, sizeof(p), rel);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, buf, len, off), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* ---- content and SEEK_DATA/SEEK_HOLE ----------------------------------- */

#define CF_FILES 7

START_TEST(test_densify_content)
{
	static const char *const names[CF_FILES] = {
		"text", "zpool/text", "offpool/text", "random", "same", "sparse", "tiny",
	};
	size_t sizes[CF_FILES] = { 3 << 20, 2 << 20, 1 << 20, 1 << 20, 256 << 10, 8 << 20, 100 };
	unsigned char *data[CF_FILES];
	off_t before[64], after[64];
	size_t nb, na;
	uint64_t rs = zc_test_seed(), mem0, mem1;
	unsigned k;

	fs_mount("compressor=lz4,mem_limit=1G,densify_idle=0");
	make_pool("zpool", "zstd:1", "zstd:12");
	make_pool("offpool", NULL, "off");
	for (k = 0; k < CF_FILES; k++) {
		data[k] = calloc(1, sizes[k]);
		ck_assert_ptr_nonnull(data[k]);
	}
	fill_text(&rs, data[0], sizes[0]);
	fill_text(&rs, data[1], sizes[1]);
	fill_text(&rs, data[2], sizes[2]);
	fill_random(&rs, data[3], sizes[3]);
	memset(data[4], 0x5a, sizes[4]);
	/* sparse: text islands of 5 pages every 40 pages, a hole at the end. */
	for (size_t pg = 0; pg + 5 < sizes[5] / PAGE - 40; pg += 40)
		fill_text(&rs, data[5] + pg * PAGE + 123, 5 * PAGE - 200);
	fill_text(&rs, data[6], sizes[6]);
	for (k = 0; k < CF_FILES; k++)
		fs_write_file(names[k], data[k], sizes[k]);
	nb = seek_map("sparse", before, 64);
	ck_assert_uint_gt(nb, 4);
	mem0 = fs_stat_value("mem_used_bytes");
	ck_assert_uint_eq(fs_stat_value("units"), 0);

	fs_ctl_write("densify", "1");

	mem1 = fs_stat_value("mem_used_bytes");
	fprintf(stderr, "densify content: mem_used %" PRIu64 " -> %" PRIu64 ", %" PRIu64
		" units, saved %" PRIu64 "\n", mem0, mem1, fs_stat_value("units"),
		fs_stat_value("densify_saved_bytes"));
	ck_assert_uint_gt(fs_stat_value("units"), 0);
	ck_assert_uint_gt(fs_stat_value("unit_pages"), 0);
	ck_assert_uint_gt(fs_stat_value("densify_units_made"), 0);
	ck_assert_uint_gt(fs_stat_value("densify_saved_bytes"), 0);
	ck_assert_uint_eq(fs_stat_value("densify_passes"), 1);
	ck_assert_uint_eq(fs_stat_value("densify_conflicts"), 0);
	/* Every regular file was densified to its end (offpool's too: off
	 * means nothing to do, and the file counts as done). */
	ck_assert_uint_eq(fs_stat_value("densified_files"), CF_FILES);
	ck_assert_uint_lt(mem1, mem0);
	/* Both codecs made units; the pool with densify off has none. */
	ck_assert_uint_gt(pool_value("default", "densify_repacks"), 0);
	ck_assert_uint_gt(pool_value("zpool", "densify_repacks"), 0);
	ck_assert_uint_eq(pool_value("offpool", "densify_repacks"), 0);
	/* Same bytes, through the page cache and O_DIRECT, and same holes. */
	for (k = 0; k < CF_FILES; k++) {
		check_file(names[k], data[k], sizes[k]);
		check_direct(names[k], data[k], sizes[k]);
	}
	na = seek_map("sparse", after, 64);
	ck_assert_uint_eq(na, nb);
	ck_assert_int_eq(memcmp(before, after, nb * sizeof(off_t)), 0);
	/* A second pass finds nothing more to gain. */
	{
		uint64_t made = fs_stat_value("densify_units_made");

		fs_ctl_write("densify", "1");
		ck_assert_uint_eq(fs_stat_value("densify_units_made"), made);
		ck_assert_uint_eq(fs_stat_value("densify_passes"), 2);
	}
	/* Compaction moves units like any object. */
	fs_ctl_write("compact", "1");
	for (k = 0; k < CF_FILES; k++)
		check_direct(names[k], data[k], sizes[k]);
	/* Deleting everything leaves no page and no unit. */
	for (k = 0; k < CF_FILES; k++) {
		char p[1024];

		fs_path(p, sizeof(p), names[k]);
		ck_assert_int_eq(unlink(p), 0);
		free(data[k]);
	}
	fs_wait_closed("default");
	ck_assert_uint_eq(fs_stat_value("pages"), 0);
	ck_assert_uint_eq(fs_stat_value("units"), 0);
	fs_finish();
}
END_TEST

/* ---- changes to densified files ------------------------------------------ */

#define WF_SIZE (2u << 20)

START_TEST(test_densify_writes)
{
	unsigned char *model = calloc(1, WF_SIZE + PAGE), *buf = malloc(64 << 10);
	uint64_t rs = zc_test_seed();
	size_t size = WF_SIZE;
	char p[1024];
	int fd, round;

	ck_assert_ptr_nonnull(model);
	ck_assert_ptr_nonnull(buf);
	fs_mount("mem_limit=1G,densify_idle=0");
	fill_text(&rs, model, size);
	fs_write_file("f", model, size);
	fs_path(p, sizeof(p), "f");
	for (round = 0; round < 12; round++) {
		off_t off;
		size_t len;

		fs_ctl_write("densify", "1");
		check_direct("f", model, size);
		fd = open(p, O_RDWR);
		ck_assert_int_ge(fd, 0);
		switch (round % 6) {
		case 0:	/* one page in the middle of a unit, unaligned */
			off = 16 * PAGE * 3 + 5 * PAGE + 17;
			len = 100;
			fill_text(&rs, buf, len);
			ck_assert_int_eq(pwrite(fd, buf, len, off), (ssize_t)len);
			memcpy(model + off, buf, len);
			break;
		case 1:	/* a hole across two units */
			off = 16 * PAGE * 5 + 12 * PAGE;
			len = 8 * PAGE;
			ck_assert_int_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						   off, (off_t)len), 0);
			memset(model + off, 0, len);
			break;
		case 2:	/* a zero range, unaligned, inside a unit */
			off = 16 * PAGE * 9 + 3 * PAGE + 999;
			len = 5 * PAGE + 1;
			ck_assert_int_eq(fallocate(fd, FALLOC_FL_ZERO_RANGE, off, (off_t)len), 0);
			memset(model + off, 0, len);
			break;
		case 3:	/* truncate into the middle of a unit */
			size = size - 16 * PAGE * 2 - 7 * PAGE - 333;
			ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
			memset(model + size, 0, WF_SIZE + PAGE - size);
			break;
		case 4:	/* append back to the full size */
			len = WF_SIZE - size;
			fill_text(&rs, model + size, len);
			ck_assert_int_eq(pwrite(fd, model + size, len, (off_t)size), (ssize_t)len);
			size = WF_SIZE;
			break;
		default: /* rewrite whole units with incompressible bytes */
			off = 16 * PAGE * 20;
			len = 32 * PAGE;
			fill_random(&rs, buf, 32 * PAGE > (64 << 10) ? 64 << 10 : len);
			ck_assert_int_eq(pwrite(fd, buf, 16 * PAGE, off), (ssize_t)(16 * PAGE));
			ck_assert_int_eq(pwrite(fd, buf, 16 * PAGE, off + 16 * PAGE),
					 (ssize_t)(16 * PAGE));
			memcpy(model + off, buf, 16 * PAGE);
			memcpy(model + off + 16 * PAGE, buf, 16 * PAGE);
			break;
		}
		ck_assert_int_eq(close(fd), 0);
		check_direct("f", model, size);
	}
	fs_ctl_write("densify", "1");
	check_direct("f", model, size);
	check_file("f", model, size);
	ck_assert_uint_gt(fs_stat_value("units"), 0);
	ck_assert_uint_eq(unlink(p), 0);
	fs_wait_closed("default");
	ck_assert_uint_eq(fs_stat_value("pages"), 0);
	ck_assert_uint_eq(fs_stat_value("units"), 0);
	free(model);
	free(buf);
	fs_finish();
}
END_TEST

/* ---- at the memory limit ------------------------------------------------- */

START_TEST(test_densify_enospc)
{
	unsigned char *chunk = malloc(1 << 20);
	uint64_t seed = zc_test_seed(), rs = seed, mem0, mem1;
	char name[64], p[1024];
	unsigned n = 0, more = 0;
	int fd;

	ck_assert_ptr_nonnull(chunk);
	fs_mount("mem_limit=8M,densify_idle=0");
	/* Fill with text files until the limit refuses a write. */
	for (;;) {
		ssize_t w;

		snprintf(name, sizeof(name), "f%u", n);
		fs_path(p, sizeof(p), name);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ck_assert_int_ge(fd, 0);
		fill_text(&rs, chunk, 1 << 20);
		w = write(fd, chunk, 1 << 20);
		close(fd);
		if (w < (ssize_t)(1 << 20))
			break;
		n++;
		ck_assert_uint_lt(n, 200);
	}
	ck_assert_uint_gt(fs_stat_value("enospc"), 0);
	ck_assert_uint_gt(n, 2);
	mem0 = fs_stat_value("mem_used_bytes");
	/* Densify at the limit: it needs no reservation and makes room. */
	fs_ctl_write("densify", "1");
	mem1 = fs_stat_value("mem_used_bytes");
	fprintf(stderr, "densify at the limit: %u files, mem_used %" PRIu64 " -> %" PRIu64 "\n",
		n, mem0, mem1);
	ck_assert_uint_lt(mem1, mem0);
	/* Room for more: the write refused before now goes through (at
	 * least part of it; the limit is exact). */
	snprintf(name, sizeof(name), "g");
	fs_path(p, sizeof(p), name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	for (;;) {
		ssize_t w;

		fill_text(&rs, chunk, 64 << 10);
		w = write(fd, chunk, 64 << 10);
		if (w <= 0)
			break;
		more += (unsigned)w;
	}
	close(fd);
	fprintf(stderr, "densify at the limit: %u more bytes written\n", more);
	ck_assert_uint_gt(more, 0);
	/* What was written is all there. */
	rs = seed;
	for (unsigned k = 0; k < n; k++) {
		snprintf(name, sizeof(name), "f%u", k);
		fill_text(&rs, chunk, 1 << 20);
		check_direct(name, chunk, 1 << 20);
	}
	free(chunk);
	fs_finish();
}
END_TEST

/* ---- eviction of densified files ----------------------------------------- */

START_TEST(test_densify_eviction)
{
	unsigned char *data = malloc(1 << 20);
	uint64_t seed = zc_test_seed(), rs = seed, ev;
	char name[64];
	unsigned k;

	ck_assert_ptr_nonnull(data);
	fs_mount("mem_limit=1G,densify_idle=0");
	make_pool("eph", NULL, NULL);
	{
		char p[1024];

		fs_path(p, sizeof(p), "eph");
		ck_assert_int_eq(setxattr(p, "user.zcache.kind", "ephemeral", 9, 0), 0);
	}
	for (k = 0; k < 8; k++) {
		snprintf(name, sizeof(name), "eph/f%u", k);
		fill_text(&rs, data, 1 << 20);
		fs_write_file(name, data, 1 << 20);
	}
	fs_wait_closed("eph");
	fs_ctl_write("densify", "1");
	ck_assert_uint_gt(pool_value("eph", "densify_repacks"), 0);
	ck_assert_uint_gt(fs_stat_value("units"), 0);
	/* Whole files go, units and all. */
	ev = fs_stat_value("evictions");
	fs_ctl_write("drop_ephemeral", "1");
	ck_assert_uint_eq(fs_stat_value("evictions"), ev + 8);
	ck_assert_uint_eq(pool_value("eph", "pages"), 0);
	ck_assert_uint_eq(fs_stat_value("units"), 0);
	ck_assert_uint_eq(fs_stat_value("unit_pages"), 0);
	for (k = 0; k < 8; k++) {
		snprintf(name, sizeof(name), "eph/f%u", k);
		ck_assert(!fs_daemon_has(name));
	}
	/* Again, evicted by the limit this time: densified files are taken
	 * whole, least recently used first, and the new ones are intact. */
	for (k = 0; k < 8; k++) {
		snprintf(name, sizeof(name), "eph/g%u", k);
		fill_text(&rs, data, 1 << 20);
		fs_write_file(name, data, 1 << 20);
	}
	fs_wait_closed("eph");
	fs_ctl_write("densify", "1");
	{
		uint64_t used = fs_stat_value("mem_used_bytes");
		char lim[32];

		snprintf(lim, sizeof(lim), "%" PRIu64, used + (used >> 2));
		fs_ctl_write("mem_limit", lim);
	}
	rs = seed ^ 0x5555;
	for (k = 0; k < 6; k++) {
		snprintf(name, sizeof(name), "eph/h%u", k);
		fill_text(&rs, data, 1 << 20);
		fs_write_file(name, data, 1 << 20);
		check_direct(name, data, 1 << 20);
	}
	ck_assert_uint_gt(fs_stat_value("evictions"), ev + 8);
	/* The least recently used (densify reads do not touch the LRU). */
	ck_assert(!fs_daemon_has("eph/g0"));
	free(data);
	fs_finish();
}
END_TEST

/* ---- writers racing densify ---------------------------------------------- */

#define CC_FILES 4
#define CC_SIZE (512u << 10)

struct cc_writer {
	unsigned idx;
	uint64_t rs;
	unsigned char model[CC_SIZE];
	int rounds;
};

static void *cc_write(void *arg)
{
	struct cc_writer *w = arg;
	unsigned char buf[3 * PAGE];
	char rel[32], p[1024];
	int fd;

	snprintf(rel, sizeof(rel), "c%u", w->idx);
	fs_path(p, sizeof(p), rel);
	fd = open(p, O_WRONLY);
	if (fd < 0)
		return (void *)1;
	for (int r = 0; r < w->rounds; r++) {
		off_t off = (off_t)zc_rand_below(&w->rs, CC_SIZE - sizeof(buf));

		fill_text(&w->rs, buf, sizeof(buf));
		if (pwrite(fd, buf, sizeof(buf), off) != (ssize_t)sizeof(buf)) {
			close(fd);
			return (void *)1;
		}
		memcpy(w->model + off, buf, sizeof(buf));
	}
	close(fd);
	return NULL;
}

START_TEST(test_densify_concurrent)
{
	static struct cc_writer w[CC_FILES];
	pthread_t t[CC_FILES];
	uint64_t seed = zc_test_seed();
	unsigned k;
	int pass;

	fs_mount("mem_limit=1G,densify_idle=0");
	for (k = 0; k < CC_FILES; k++) {
		char rel[32];

		w[k].idx = k;
		w[k].rs = seed + k;
		w[k].rounds = 3000;
		fill_text(&w[k].rs, w[k].model, CC_SIZE);
		snprintf(rel, sizeof(rel), "c%u", k);
		fs_write_file(rel, w[k].model, CC_SIZE);
	}
	for (k = 0; k < CC_FILES; k++)
		ck_assert_int_eq(pthread_create(&t[k], NULL, cc_write, &w[k]), 0);
	for (pass = 0; pass < 20; pass++)
		fs_ctl_write("densify", "1");
	for (k = 0; k < CC_FILES; k++) {
		void *ret;

		ck_assert_int_eq(pthread_join(t[k], &ret), 0);
		ck_assert_ptr_null(ret);
	}
	fprintf(stderr, "densify racing writers: %" PRIu64 " groups repacked, %" PRIu64
		" left to a write\n", fs_stat_value("densify_units_made"),
		fs_stat_value("densify_conflicts"));
	ck_assert_uint_gt(fs_stat_value("densify_units_made"), 0);
	for (k = 0; k < CC_FILES; k++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "c%u", k);
		check_direct(rel, w[k].model, CC_SIZE);
	}
	fs_ctl_write("densify", "1");
	for (k = 0; k < CC_FILES; k++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "c%u", k);
		check_direct(rel, w[k].model, CC_SIZE);
		check_file(rel, w[k].model, CC_SIZE);
	}
	fs_finish();
}
END_TEST

/* ---- the background thread ----------------------------------------------- */

START_TEST(test_densify_background)
{
	unsigned char *data = malloc(1 << 20);
	uint64_t rs = zc_test_seed(), passes;
	char p[1024];
	int fd;

	ck_assert_ptr_nonnull(data);
	fs_mount("mem_limit=1G,densify_idle=1,densify=lz4hc:9");
	make_pool("closed", NULL, NULL);
	make_pool("held", NULL, NULL);
	fill_text(&rs, data, 1 << 20);
	fs_write_file("closed/f", data, 1 << 20);
	fs_path(p, sizeof(p), "held/f");
	fd = open(p, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, 1 << 20), 1 << 20);
	fs_wait_closed("closed");
	/* Wait for the thread (no time asserted: the suite's timeout bounds
	 * it), then for two more passes, each of which saw the held file. */
	while (fs_stat_value("densified_files") < 1)
		usleep(100 * 1000);
	passes = fs_stat_value("densify_passes");
	while (fs_stat_value("densify_passes") < passes + 2)
		usleep(100 * 1000);
	ck_assert_uint_gt(pool_value("closed", "densify_repacks"), 0);
	ck_assert_uint_eq(pool_value("held", "densify_repacks"), 0);
	ck_assert_uint_eq(fs_stat_value("densified_files"), 1);
	ck_assert_uint_eq(fs_stat_value("densified_bytes"), 1 << 20);
	check_direct("closed/f", data, 1 << 20);
	/* Closed, the held file is taken too. */
	ck_assert_int_eq(close(fd), 0);
	fs_wait_closed("held");
	while (fs_stat_value("densified_files") < 2)
		usleep(100 * 1000);
	ck_assert_uint_gt(pool_value("held", "densify_repacks"), 0);
	check_direct("held/f", data, 1 << 20);
	/* A dense file is skipped until it changes: more passes, no more
	 * files; a write makes it a candidate again. */
	passes = fs_stat_value("densify_passes");
	while (fs_stat_value("densify_passes") < passes + 2)
		usleep(100 * 1000);
	ck_assert_uint_eq(fs_stat_value("densified_files"), 2);
	pwrite_file("closed/f", "changed", 7, 4096 * 7);
	memcpy(data + 4096 * 7, "changed", 7);
	fs_wait_closed("closed");
	while (fs_stat_value("densified_files") < 3)
		usleep(100 * 1000);
	check_direct("closed/f", data, 1 << 20);
	{
		char *s = fs_read_file(".zcache/densify", NULL);

		ck_assert_ptr_nonnull(strstr(s, "lz4hc:9"));
		free(s);
	}
	free(data);
	fs_finish();
}
END_TEST

/* ---- the pool attribute --------------------------------------------------- */

static int set_densify_as_nobody(void *arg)
{
	return setxattr(arg, "user.zcache.densify", "off", 3, 0) == 0 ? 0 : errno;
}

START_TEST(test_densify_xattr)
{
	char p[1024], v[64], list[512];
	ssize_t n;

	fs_mount("allow_other,mem_limit=64M,densify=zstd:7,densify_idle=0");
	make_pool("q", NULL, NULL);
	fs_path(p, sizeof(p), "q");
	n = getxattr(p, "user.zcache.densify", v, sizeof(v) - 1);
	ck_assert_int_gt(n, 0);
	v[n] = '\0';
	ck_assert_str_eq(v, "default");
	ck_assert_int_eq(setxattr(p, "user.zcache.densify", "zstd:15\n", 8, 0), 0);
	n = getxattr(p, "user.zcache.densify", v, sizeof(v) - 1);
	v[n] = '\0';
	ck_assert_str_eq(v, "zstd:15");
	ck_assert_int_eq(setxattr(p, "user.zcache.densify", "none", 4, 0), 0);
	n = getxattr(p, "user.zcache.densify", v, sizeof(v) - 1);
	v[n] = '\0';
	ck_assert_str_eq(v, "off");
	ck_assert_int_eq(setxattr(p, "user.zcache.densify", "auto", 4, 0), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.densify", "default", 7, 0), 0);
	errno = 0;
	ck_assert_int_eq(setxattr(p, "user.zcache.densify", "brotli", 6, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(setxattr(p, "user.zcache.densify", "auto", 4, XATTR_CREATE), -1);
	ck_assert_int_eq(errno, EEXIST);
	errno = 0;
	ck_assert_int_eq(removexattr(p, "user.zcache.densify"), -1);
	ck_assert_int_eq(errno, EPERM);
	/* Write permission on the directory is not enough: the owner's. */
	ck_assert_int_eq(chmod(p, 0777), 0);
	ck_assert_int_eq(fs_as_nobody(set_densify_as_nobody, p), EPERM);
	n = listxattr(p, list, sizeof(list));
	ck_assert_int_gt(n, 0);
	{
		int found = 0;

		for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
			found |= !strcmp(list + i, "user.zcache.densify");
		ck_assert(found);
	}
	/* The root is a pool too; the mount's setting shows in the tree. */
	fs_path(p, sizeof(p), "");
	n = getxattr(p, "user.zcache.densify", v, sizeof(v) - 1);
	v[n] = '\0';
	ck_assert_str_eq(v, "default");
	{
		char *s = fs_read_file(".zcache/densify", NULL);

		ck_assert_ptr_nonnull(strstr(s, "zstd:7"));
		free(s);
		s = fs_read_file(".zcache/pools/q/stats", NULL);
		ck_assert_ptr_nonnull(strstr(s, "densify"));
		free(s);
	}
	/* Only "1" is taken. */
	fs_path(p, sizeof(p), ".zcache/densify");
	{
		int fd = open(p, O_WRONLY);

		ck_assert_int_ge(fd, 0);
		errno = 0;
		ck_assert_int_eq(write(fd, "2", 1), -1);
		ck_assert_int_eq(errno, EINVAL);
		close(fd);
	}
	fs_finish();
}
END_TEST

/* Bad densify= and densify_idle= values: nothing mounts, status 2. */
START_TEST(test_densify_bad_options)
{
	static const char *const bad[] = { "densify=brotli", "densify=", "densify_idle=-1",
					   "densify_idle=soon", "densify_idle" };
	char cmd[512];

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		snprintf(cmd, sizeof(cmd), "%s -f -o %s %s/nowhere >/dev/null 2>&1", ZCACHED,
			 bad[k], fs_base);
		ck_assert_int_eq(fs_run(cmd), 2);
	}
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("fs_densify");
	TCase *tc = tcase_create("densify");

	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test_densify_bad_options);
	tcase_add_test(tc, test_densify_xattr);
	tcase_add_test(tc, test_densify_content);
	tcase_add_test(tc, test_densify_writes);
	tcase_add_test(tc, test_densify_enospc);
	tcase_add_test(tc, test_densify_eviction);
	tcase_add_test(tc, test_densify_concurrent);
	tcase_add_test(tc, test_densify_background);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fs_suite_main(make_suite());
}
