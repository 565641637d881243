/* fs_pools.c - the integration suite of zcached's pools: files and
 * directories that move between pools (rename(2), link(2), RENAME_EXCHANGE
 * and RENAME_NOREPLACE across pools, a directory moved to the top becoming a
 * pool), eviction and ENOSPC after such moves, moves racing each other, and
 * chown's clearing of set-user-ID and set-group-ID bits on special files.
 *
 * Split from fs.c (the rest of the integration suite); mounting and the
 * cleanup that survives failed assertions are in fsutil.c.  Runs once per
 * transport, like fs.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"

/* A file's expected content: `len` bytes of 8-byte words drawn from 16 by
 * a generator seeded by `seed`: text-like, so lz4 and zstd compress it and
 * its pages go to xcf; different seeds give different files. */
static unsigned char *fs_pattern(uint64_t seed, size_t len)
{
	static const char words[16][9] = { "static  ", "int     ", "return  ", "struct  ",
					   "zcache_ ", "page->  ", "(void); ", "{\n\t\t\t\t\t\t",
					   "if (x) {", "}\n      ", "uint64_t", "0x1234, ",
					   "NULL,   ", "->next; ", "/* a */ ", "  else  " };
	unsigned char *b = malloc(len ? len : 1);
	uint64_t r = seed * 0x9e3779b97f4a7c15ull + 1;

	ck_assert_ptr_nonnull(b);
	for (size_t j = 0; j < len; j += 8)
		memcpy(b + j, words[zc_rand(&r) & 15], len - j < 8 ? len - j : 8);
	return b;
}

/* Assert that rel holds exactly the pattern (seed, len). */
static void fs_check_content(const char *rel, uint64_t seed, size_t len)
{
	unsigned char *want = fs_pattern(seed, len);
	size_t n = 0;
	char *got = fs_read_file(rel, &n);

	ck_assert_msg(n == len, "%s: %zu bytes, expected %zu", rel, n, len);
	ck_assert_msg(!memcmp(got, want, len), "%s: content differs", rel);
	free(got);
	free(want);
}

static void fs_make_content(const char *rel, uint64_t seed, size_t len)
{
	unsigned char *b = fs_pattern(seed, len);

	fs_write_file(rel, b, len);
	free(b);
}

static uint64_t fs_pool_value(const char *pool, const char *name)
{
	char file[300];

	snprintf(file, sizeof(file), "pools/%s/stats", pool);
	return fs_ctl_value(file, name);
}

static void fs_mkdir(const char *rel)
{
	char p[1024];

	fs_path(p, sizeof(p), rel);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void fs_set_pool(const char *rel, const char *attr, const char *value)
{
	char p[1024];

	fs_path(p, sizeof(p), rel);
	ck_assert_int_eq(setxattr(p, attr, value, strlen(value), 0), 0);
}

static void fs_check_pool_attr(const char *rel, const char *attr, const char *want)
{
	char p[1024], v[64];
	ssize_t n;

	fs_path(p, sizeof(p), rel);
	n = getxattr(p, attr, v, sizeof(v) - 1);
	ck_assert_int_gt(n, 0);
	v[n] = '\0';
	ck_assert_str_eq(v, want);
}

static int fs_mv(const char *from, const char *to, unsigned flags)
{
	char p[1024], q[1024];

	fs_path(p, sizeof(p), from);
	fs_path(q, sizeof(q), to);
	return renameat2(AT_FDCWD, p, AT_FDCWD, q, flags) == 0 ? 0 : errno;
}

static int fs_exists(const char *rel)
{
	char p[1024];
	struct stat st;

	fs_path(p, sizeof(p), rel);
	return stat(p, &st) == 0;
}

/* mv and link between pools and between a pool and the root (DESIGN.md §2):
 * the data moves as it is (no page compressed again), the pools' figures
 * follow the files, a directory takes its subtree, a pool directory moved
 * below another dissolves, a directory moved to the top becomes a pool of
 * the kind and codec it had; RENAME_EXCHANGE and RENAME_NOREPLACE across
 * pools; every byte the same after every move. */
START_TEST(test_cross_pool_rename)
{
	enum { P = 4096 };
	uint64_t lz4, zstd, puts;
	char p[1024], q[1024];
	struct stat st;
	int fd;

	fs_mount(NULL);
	fs_mkdir("a");
	fs_mkdir("b");
	fs_set_pool("b", "user.zcache.compressor", "zstd:1");
	fs_make_content("a/f", 1, 64 * P);
	ck_assert_uint_eq(fs_pool_value("a", "files"), 1);
	ck_assert_uint_eq(fs_pool_value("a", "pages"), 64);
	lz4 = fs_ctl_value("compress", "lz4_pages");
	zstd = fs_ctl_value("compress", "zstd_pages");
	puts = fs_ctl_value("compress", "puts");
	ck_assert_uint_ge(lz4, 64);

	/* A file from a pool to another: its pages move, none is compressed
	 * again; later writes take the new pool's codec. */
	ck_assert_int_eq(fs_mv("a/f", "b/f", 0), 0);
	fs_check_content("b/f", 1, 64 * P);
	ck_assert_uint_eq(fs_pool_value("a", "files"), 0);
	ck_assert_uint_eq(fs_pool_value("a", "pages"), 0);
	ck_assert_uint_eq(fs_pool_value("a", "objects"), 0);
	ck_assert_uint_eq(fs_pool_value("b", "files"), 1);
	ck_assert_uint_eq(fs_pool_value("b", "pages"), 64);
	ck_assert_uint_eq(fs_ctl_value("compress", "lz4_pages"), lz4);
	ck_assert_uint_eq(fs_ctl_value("compress", "zstd_pages"), zstd);
	ck_assert_uint_eq(fs_ctl_value("compress", "puts"), puts);
	{
		unsigned char *more = fs_pattern(1, 80 * P);

		fs_path(p, sizeof(p), "b/f");
		fd = open(p, O_WRONLY | O_APPEND);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, more + 64 * P, 16 * P), 16 * P);
		close(fd);
		free(more);
	}
	ck_assert_uint_ge(fs_ctl_value("compress", "zstd_pages"), zstd + 16);
	ck_assert_uint_eq(fs_ctl_value("compress", "lz4_pages"), lz4);
	fs_check_content("b/f", 1, 80 * P);
	fs_check_pool_attr("b", "user.zcache.compressor", "zstd:1");
	fs_check_pool_attr("a", "user.zcache.compressor", "lz4");

	/* To the root and back. */
	ck_assert_int_eq(fs_mv("b/f", "f", 0), 0);
	ck_assert_uint_eq(fs_pool_value("default", "files"), 1);
	ck_assert_uint_eq(fs_pool_value("default", "pages"), 80);
	ck_assert_uint_eq(fs_pool_value("b", "pages"), 0);
	fs_check_content("f", 1, 80 * P);
	ck_assert_int_eq(fs_mv("f", "a/f", RENAME_NOREPLACE), 0);
	ck_assert_uint_eq(fs_pool_value("default", "files"), 0);
	ck_assert_uint_eq(fs_pool_value("a", "pages"), 80);
	fs_check_content("a/f", 1, 80 * P);

	/* A hard link into another pool; the home's last name goes: the
	 * file moves to the pool that holds its other name. */
	fs_path(p, sizeof(p), "a/f");
	fs_path(q, sizeof(q), "b/f2");
	ck_assert_int_eq(link(p, q), 0);
	ck_assert_int_eq(stat(q, &st), 0);
	ck_assert_int_eq(st.st_nlink, 2);
	fs_check_content("b/f2", 1, 80 * P);
	ck_assert_uint_eq(fs_pool_value("a", "files"), 1);
	ck_assert_uint_eq(unlink(p), 0);
	ck_assert_uint_eq(fs_pool_value("a", "files"), 0);
	ck_assert_uint_eq(fs_pool_value("b", "files"), 1);
	ck_assert_uint_eq(fs_pool_value("b", "pages"), 80);
	fs_check_content("b/f2", 1, 80 * P);

	/* A directory takes its subtree along. */
	fs_mkdir("a/d");
	fs_mkdir("a/d/sub");
	fs_make_content("a/d/sub/g", 2, 8 * P);
	fs_make_content("a/d/h", 3, P + 100);
	ck_assert_uint_eq(fs_pool_value("a", "files"), 2);
	ck_assert_int_eq(fs_mv("a/d", "b/d", 0), 0);
	ck_assert_uint_eq(fs_pool_value("a", "files"), 0);
	ck_assert_uint_eq(fs_pool_value("a", "pages"), 0);
	ck_assert_uint_eq(fs_pool_value("b", "files"), 3);
	ck_assert_uint_eq(fs_pool_value("b", "pages"), 80 + 8 + 2);
	fs_check_content("b/d/sub/g", 2, 8 * P);
	fs_check_content("b/d/h", 3, P + 100);
	/* To the top: a new pool with b's kind and codec. */
	ck_assert_int_eq(fs_mv("b/d", "d", 0), 0);
	fs_check_pool_attr("d", "user.zcache.compressor", "zstd:1");
	fs_check_pool_attr("d", "user.zcache.kind", "persistent");
	ck_assert_uint_eq(fs_pool_value("d", "files"), 2);
	ck_assert_uint_eq(fs_pool_value("d", "pages"), 10);
	ck_assert_uint_eq(fs_pool_value("b", "files"), 1);
	fs_check_content("d/sub/g", 2, 8 * P);
	/* Below another directory: pool d dissolves into a. */
	ck_assert_int_eq(fs_mv("d", "a/d", 0), 0);
	ck_assert(!fs_exists(".zcache/pools/d"));
	ck_assert_uint_eq(fs_pool_value("a", "files"), 2);
	ck_assert_uint_eq(fs_pool_value("a", "pages"), 10);
	fs_check_content("a/d/sub/g", 2, 8 * P);
	fs_check_content("a/d/h", 3, P + 100);
	/* A whole pool into another: b (zstd) dissolves into a (lz4). */
	ck_assert_int_eq(fs_mv("b", "a/b", 0), 0);
	ck_assert(!fs_exists(".zcache/pools/b"));
	ck_assert_uint_eq(fs_pool_value("a", "files"), 3);
	ck_assert_uint_eq(fs_pool_value("a", "pages"), 90);
	fs_check_content("a/b/f2", 1, 80 * P);

	/* RENAME_EXCHANGE across pools: file and file, file and directory,
	 * directory and directory, a pool's directory and a directory. */
	fs_mkdir("c");
	fs_set_pool("c", "user.zcache.kind", "ephemeral");
	fs_make_content("c/x", 4, 3 * P);
	ck_assert_int_eq(fs_mv("c/x", "a/b/f2", RENAME_EXCHANGE), 0);
	fs_check_content("c/x", 1, 80 * P);
	fs_check_content("a/b/f2", 4, 3 * P);
	ck_assert_uint_eq(fs_pool_value("c", "pages"), 80);
	ck_assert_uint_eq(fs_pool_value("a", "pages"), 13);
	fs_mkdir("c/e");
	fs_make_content("c/e/y", 5, 2 * P);
	ck_assert_int_eq(fs_mv("c/x", "a/d", RENAME_EXCHANGE), 0);
	fs_check_content("a/d", 1, 80 * P);
	fs_check_content("c/x/sub/g", 2, 8 * P);
	ck_assert_int_eq(fs_mv("c/e", "a/b", RENAME_EXCHANGE), 0);
	fs_check_content("a/b/y", 5, 2 * P);
	fs_check_content("c/e/f2", 4, 3 * P);
	ck_assert_uint_eq(fs_pool_value("c", "files"), 3);	/* x/sub/g, x/h, e/f2 */
	ck_assert_uint_eq(fs_pool_value("a", "files"), 2);	/* d, b/y */
	/* The pool c and the directory a/b trade places: c dissolves into a,
	 * a/b becomes the pool "c" of a's kind and codec. */
	ck_assert_int_eq(fs_mv("c", "a/b", RENAME_EXCHANGE), 0);
	fs_check_pool_attr("c", "user.zcache.kind", "persistent");
	fs_check_pool_attr("c", "user.zcache.compressor", "lz4");
	fs_check_content("c/y", 5, 2 * P);
	fs_check_content("a/b/x/sub/g", 2, 8 * P);
	fs_check_content("a/b/e/f2", 4, 3 * P);
	ck_assert_uint_eq(fs_pool_value("c", "files"), 1);
	ck_assert_uint_eq(fs_pool_value("a", "files"), 4);
	/* RENAME_NOREPLACE across pools. */
	ck_assert_int_eq(fs_mv("a/d", "c/y", RENAME_NOREPLACE), EEXIST);
	fs_check_content("a/d", 1, 80 * P);
	ck_assert_int_eq(fs_mv("a/d", "c/z", RENAME_NOREPLACE), 0);
	fs_check_content("c/z", 1, 80 * P);
	ck_assert_uint_eq(fs_pool_value("c", "pages"), 82);
	fs_finish();
}
END_TEST

/* Drop every closed ephemeral file until `rel` is gone (its last close
 * reaches the daemon asynchronously, and the kernel's cache of its name
 * is invalidated by the daemon's notifier thread, so this waits for an
 * event, however long the machine takes). */
static void fs_drop_until_gone(const char *rel)
{
	char p[1024];
	int fd;

	fs_path(p, sizeof(p), rel);
	for (int t = 0; t < 12000; t++) {
		fs_ctl_write("drop_ephemeral", "1\n");
		fd = open(p, O_RDONLY);
		if (fd < 0) {
			ck_assert_int_eq(errno, ENOENT);
			return;
		}
		close(fd);
		usleep(5000);
	}
	ck_abort_msg("%s was never evicted", rel);
}

/* Drop every closed ephemeral file now. */
static void fs_drop(void)
{
	fs_ctl_write("drop_ephemeral", "1\n");
}

/* Eviction after moves: a file moved into an ephemeral pool becomes
 * evictable once closed; one moved out to a persistent pool never is; an
 * open file keeps its pin through moves both ways; a file with a name in a
 * persistent pool stays, and loses every name when it goes. */
START_TEST(test_cross_pool_eviction)
{
	enum { P = 4096 };
	char p[1024], q[1024];
	int fd;

	fs_mount(NULL);
	fs_mkdir("per");
	fs_mkdir("eph");
	fs_set_pool("eph", "user.zcache.kind", "ephemeral");

	/* Persistent to ephemeral: evictable. */
	fs_make_content("per/f", 1, 5 * P);
	ck_assert_int_eq(fs_mv("per/f", "eph/f", 0), 0);
	ck_assert_uint_eq(fs_pool_value("eph", "pages"), 5);
	fs_drop_until_gone("eph/f");
	ck_assert_uint_eq(fs_pool_value("eph", "pages"), 0);
	ck_assert_uint_eq(fs_pool_value("eph", "files"), 0);

	/* Ephemeral to persistent: never evicted. */
	fs_make_content("eph/g", 2, 3 * P);
	ck_assert_int_eq(fs_mv("eph/g", "per/g", 0), 0);
	fs_make_content("eph/canary", 3, P);
	fs_drop_until_gone("eph/canary");
	fs_check_content("per/g", 2, 3 * P);

	/* An open file moved from ephemeral to persistent and back keeps
	 * exactly its one pin: not evicted while open, evictable once closed. */
	fs_make_content("eph/o", 4, 7 * P);
	fs_path(p, sizeof(p), "eph/o");
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fs_mv("eph/o", "per/o", 0), 0);
	ck_assert_int_eq(fs_mv("per/o", "eph/o", 0), 0);
	fs_make_content("eph/canary", 3, P);
	fs_drop_until_gone("eph/canary");
	fs_check_content("eph/o", 4, 7 * P);
	{
		unsigned char buf[P], *want = fs_pattern(4, 7 * P);

		ck_assert_int_eq(pread(fd, buf, P, 6 * P), P);	/* the open file too */
		ck_assert(!memcmp(buf, want + 6 * P, P));
		free(want);
	}
	close(fd);
	fs_drop_until_gone("eph/o");

	/* A name in a persistent pool keeps a file whatever its other names;
	 * once it has none there, it is evictable and loses every name. */
	fs_make_content("eph/h", 5, 2 * P);
	fs_path(p, sizeof(p), "eph/h");
	fs_path(q, sizeof(q), "per/h");
	ck_assert_int_eq(link(p, q), 0);
	fs_mkdir("eph2");
	fs_set_pool("eph2", "user.zcache.kind", "ephemeral");
	fs_path(q, sizeof(q), "eph2/h");
	ck_assert_int_eq(link(p, q), 0);
	ck_assert_uint_eq(fs_pool_value("per", "files"), 2);	/* g and h */
	ck_assert_uint_eq(fs_pool_value("eph", "files"), 0);
	fs_make_content("eph/canary", 3, P);
	fs_drop_until_gone("eph/canary");
	fs_check_content("eph/h", 5, 2 * P);
	fs_check_content("eph2/h", 5, 2 * P);
	fs_path(q, sizeof(q), "per/h");
	ck_assert_int_eq(unlink(q), 0);
	ck_assert_uint_eq(fs_pool_value("per", "files"), 1);
	fs_drop_until_gone("eph/h");
	ck_assert(!fs_daemon_has("eph2/h"));
	ck_assert_uint_eq(fs_pool_value("eph", "files") + fs_pool_value("eph2", "files"), 0);
	fs_check_content("per/g", 2, 3 * P);
	fs_finish();
}
END_TEST

/* ENOSPC after moves: a file moved from an ephemeral pool into a
 * persistent one is not evicted to make room (the write fails with ENOSPC
 * and every byte stays); one moved the other way is. */
START_TEST(test_cross_pool_enospc)
{
	enum { CHUNK = 256 << 10, BIG = 2 << 20 };
	unsigned char *buf = malloc(CHUNK);
	uint64_t rs = 5, evictions;
	char p[1024];
	off_t off = 0, big = 0;
	int fd, err = 0;

	ck_assert_ptr_nonnull(buf);
	fs_mount("mem_limit=6M");
	fs_mkdir("per");
	fs_mkdir("eph");
	fs_set_pool("eph", "user.zcache.kind", "ephemeral");
	/* 2 MiB of random bytes (they do not compress) in the ephemeral pool,
	 * closed, then moved to the persistent one. */
	fs_path(p, sizeof(p), "eph/big");
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fs_fill_random(fd, 99, BIG, 1, &big), 0);
	close(fd);
	ck_assert_int_eq(fs_mv("eph/big", "per/big", 0), 0);
	fs_drop();
	evictions = fs_stat_value("evictions");
	/* Fill the persistent pool until the limit. */
	fs_path(p, sizeof(p), "per/fill");
	fd = open(p, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	err = fs_fill_random(fd, 7, CHUNK, 64, &off);
	ck_assert_int_eq(err, ENOSPC);
	ck_assert_uint_eq(fs_stat_value("evictions"), evictions);	/* nothing evicted */
	/* Everything written before is whole, and so is the moved file. */
	fs_check_random(fd, 7, off);
	close(fd);
	fs_path(p, sizeof(p), "per/big");
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_END), BIG);
	fs_check_random(fd, 99, BIG);
	close(fd);
	/* The chunk that needs room: incompressible too. */
	for (size_t j = 0; j < CHUNK; j += 8) {
		uint64_t v = zc_rand(&rs);

		memcpy(buf + j, &v, 8);
	}
	/* Moved into the ephemeral pool (and closed), the big file is what
	 * goes when a write needs room: the write then succeeds. */
	ck_assert_int_eq(fs_mv("per/big", "eph/big", 0), 0);
	fs_path(p, sizeof(p), "per/fill");
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	err = ENOSPC;
	for (int t = 0; t < 12000 && err; t++) {
		/* The close of eph/big's writer reaches the daemon
		 * asynchronously: until its release arrives the file is
		 * pinned (now in the ephemeral pool) and a write may still be
		 * refused; retry until it is evictable. */
		if (pwrite(fd, buf, CHUNK, off) == CHUNK) {
			err = 0;
			break;
		}
		ck_assert_int_eq(errno, ENOSPC);
		usleep(5000);
	}
	ck_assert_int_eq(err, 0);
	close(fd);
	ck_assert_uint_gt(fs_stat_value("evictions"), evictions);
	ck_assert_uint_eq(fs_pool_value("eph", "files"), 0);
	fs_path(p, sizeof(p), "eph/big");
	errno = 0;
	ck_assert_int_eq(open(p, O_RDONLY), -1);
	ck_assert_int_eq(errno, ENOENT);
	free(buf);
	fs_finish();
}
END_TEST

/* Moves racing I/O: one thread reads and writes a file through a
 * descriptor it keeps open while another moves the file (and a directory
 * holding it) between pools of both kinds and the root.  Pages are
 * replaced atomically and the handle stays valid, so every page read is
 * whole (one byte value) and the file ends as the writer's model says. */
struct fs_mover_arg {
	_Atomic int stop;
	_Atomic int moves;
	_Atomic int failures;
};

static void *fs_mover_run(void *arg)
{
	static const char *const path[][2] = {
		{ "a/f", "b/f" }, { "b/f", "eph/f" }, { "eph/f", "f" }, { "f", "a/d/f" },
		{ "a/d", "b/d" }, { "b/d", "eph/d" }, { "eph/d/f", "a/f" }, { "eph/d", "a/d" },
	};
	struct fs_mover_arg *m = arg;

	while (!atomic_load(&m->stop)) {
		for (size_t k = 0; k < sizeof(path) / sizeof(path[0]); k++)
			if (fs_mv(path[k][0], path[k][1], 0) != 0)
				m->failures++;
		m->moves++;
	}
	return NULL;
}

START_TEST(test_cross_pool_concurrent)
{
	enum { NP = 64 };
	unsigned char model[NP], *page = aligned_alloc(PAGE, PAGE);
	struct fs_mover_arg m = { 0, 0, 0 };
	char p[1024];
	uint64_t rs = 11;
	pthread_t th;
	int fd;

	fs_mount(NULL);
	fs_mkdir("a");
	fs_mkdir("b");
	fs_mkdir("eph");
	fs_mkdir("a/d");
	fs_set_pool("b", "user.zcache.compressor", "zstd:1");
	fs_set_pool("eph", "user.zcache.kind", "ephemeral");
	fs_path(p, sizeof(p), "a/f");
	/* O_DIRECT: every read and write goes to the daemon. */
	fd = open(p, O_RDWR | O_CREAT | O_DIRECT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(page);
	for (int i = 0; i < NP; i++) {
		model[i] = (unsigned char)(1 + i);
		memset(page, model[i], PAGE);
		ck_assert_int_eq(pwrite(fd, page, PAGE, (off_t)i * PAGE), PAGE);
	}
	ck_assert_int_eq(pthread_create(&th, NULL, fs_mover_run, &m), 0);
	for (int r = 0; r < 4000 || m.moves < 20; r++) {
		int i = (int)zc_rand_below(&rs, NP);

		if (zc_rand_below(&rs, 2)) {
			model[i] = (unsigned char)(1 + zc_rand_below(&rs, 250));
			memset(page, model[i], PAGE);
			ssize_t n = pwrite(fd, page, PAGE, (off_t)i * PAGE);

			ck_assert_msg(n == PAGE, "pwrite: %zd (%s)", n, strerror(errno));
		} else {
			ssize_t n = pread(fd, page, PAGE, (off_t)i * PAGE);

			ck_assert_msg(n == PAGE, "pread: %zd (%s)", n, strerror(errno));
			for (int j = 0; j < PAGE; j++)
				ck_assert_msg(page[j] == model[i], "page %d: byte %d is %u, wrote %u", i,
					      j, page[j], model[i]);
		}
		ck_assert(r < 4000000);
	}
	atomic_store(&m.stop, 1);
	pthread_join(th, NULL);
	ck_assert_int_eq(m.failures, 0);
	close(fd);
	free(page);
	/* The file is at a/f again (each round ends there): whole. */
	{
		size_t n = 0;
		unsigned char *c = (unsigned char *)fs_read_file("a/f", &n);

		ck_assert_uint_eq(n, NP * PAGE);
		for (int i = 0; i < NP; i++)
			for (int j = 0; j < PAGE; j++)
				ck_assert_uint_eq(c[(size_t)i * PAGE + (size_t)j], model[i]);
		free(c);
	}
	ck_assert_uint_eq(fs_pool_value("a", "files"), 1);
	ck_assert_uint_eq(fs_pool_value("b", "files") + fs_pool_value("eph", "files") +
				  fs_pool_value("default", "files"),
			  0);
	fs_finish();
}
END_TEST

/* chown clears set-user-ID, and set-group-ID when group-executable, on
 * every non-directory as Linux does (pjdfstest chown/00.t): FIFOs,
 * sockets, devices, not only regular files; directories keep theirs. */
START_TEST(test_chown_clears_suid_special)
{
	static const struct {
		const char *name;
		mode_t type;
	} kinds[] = { { "fifo", S_IFIFO }, { "sock", S_IFSOCK }, { "chr", S_IFCHR },
		      { "blk", S_IFBLK }, { "reg", S_IFREG } };
	char p[1024];
	struct stat st;

	fs_mount(NULL);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		fs_path(p, sizeof(p), kinds[k].name);
		ck_assert_int_eq(mknod(p, kinds[k].type | 0644, makedev(1, 3)), 0);
		/* set-group-ID with group execute: both bits go. */
		ck_assert_int_eq(chmod(p, 06555), 0);
		ck_assert_int_eq(chown(p, 65534, 65534), 0);
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_msg((st.st_mode & 07777) == 0555, "%s: mode %o", kinds[k].name,
			      (unsigned)(st.st_mode & 07777));
		/* set-group-ID without group execute (mandatory locking): it
		 * stays, set-user-ID goes. */
		ck_assert_int_eq(chmod(p, 06545), 0);
		ck_assert_int_eq(chown(p, 0, 0), 0);
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_msg((st.st_mode & 07777) == 02545, "%s: mode %o", kinds[k].name,
			      (unsigned)(st.st_mode & 07777));
	}
	fs_mkdir("dir");
	fs_path(p, sizeof(p), "dir");
	ck_assert_int_eq(chmod(p, 06755), 0);
	ck_assert_int_eq(chown(p, 65534, 65534), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 06755);
	fs_finish();
}
END_TEST

/* Test cases can be run alone with CK_RUN_CASE=NAME. */
static Suite *make_suite(void)
{
	Suite *s = suite_create("fs_pools");
	TCase *tc = tcase_create("pools");

	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	tcase_add_test(tc, test_cross_pool_rename);
	tcase_add_test(tc, test_cross_pool_eviction);
	tcase_add_test(tc, test_cross_pool_enospc);
	tcase_add_test(tc, test_cross_pool_concurrent);
	tcase_add_test(tc, test_chown_clears_suid_special);
	return s;
}

int main(void)
{
	return fs_suite_main(make_suite());
}
