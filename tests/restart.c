/* tests/restart.c - zcached stopped and started again with -o snapshot=
 * (issue 15, fuse/state.h), through real mounts (tests/fsutil.h).
 *
 *   cycles     a tree of files with checksums (every page form, pools of
 *              both kinds and codecs, hard links across pools, symlinks,
 *              a FIFO, xattrs, files densified into units) survives
 *              several stop/start cycles with a change between each:
 *              every byte, every inode number, link count, size, mode
 *              and mtime, and the store's figures (pages, stored bytes,
 *              pools, files) come back as they were;
 *   bad        a damaged image stops the start with one line naming the
 *              file, the offset and the problem, nothing is mounted, and
 *              the file is left byte for byte as it was (and a good
 *              start afterwards still loads the good image);
 *   version    an image of another format version is refused by name;
 *   crash      a daemon killed (SIGKILL) leaves the previous snapshot
 *              whole: the next start loads the state of the last clean
 *              stop, and a leftover PATH.tmp does not disturb it;
 *   killsave   (debug builds: the fault hook ZC_FAULT_STATE) a daemon
 *              killed at chosen records while it writes its snapshot
 *              leaves the previous one whole, byte for byte, and the next
 *              start serves exactly the old state; a save that is not
 *              killed serves exactly the new one.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"
#include "treeutil.h"

#define NFILES 60

static void snap_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s.snap", fs_base, name);
}

static void opts_for(char *buf, size_t len, const char *snap)
{
	snprintf(buf, len, "snapshot=%s", snap);
}

/* File k's bytes: text-like, random, same-filled or zero pages. */
static unsigned char *content(unsigned k, size_t *len, uint64_t *rs)
{
	size_t n = (size_t)(zc_rand(rs) % (24 * PAGE)) + (k % 5 == 0 ? 100 * PAGE : 0);
	unsigned char *b = malloc(n + 1);

	for (size_t i = 0; i < n; i += PAGE) {
		size_t m = n - i < PAGE ? n - i : PAGE;
		unsigned kind = (unsigned)((k + i / PAGE) % 4);

		for (size_t j = 0; j < m; j++)
			b[i + j] = kind == 0 ? (unsigned char)"zcached restart test "[(i + j + k) % 21]
				 : kind == 1 ? (unsigned char)zc_rand(rs)
				 : kind == 2 ? (unsigned char)(k + 1) : 0;
	}
	*len = n;
	return b;
}

/* The figures that must come back as they were. */
struct figures {
	uint64_t v[7];
};

static const char *const fig_names[7] = {
	"pools", "pages", "same_filled_pages", "huge_pages", "orig_data_bytes",
	"compr_data_bytes", "mem_used_max_bytes",
};

static void figures(struct figures *f)
{
	for (unsigned k = 0; k < 7; k++)
		f->v[k] = fs_stat_value(fig_names[k]);
}

static void build(uint64_t *rs)
{
	char rel[64], p[1024], q[1024];

	fs_make_pool("keep", "persistent", "zstd:1");
	fs_make_pool("tmp", "ephemeral", "lz4");
	fs_path(p, sizeof(p), "keep/sub");
	ck_assert_int_eq(mkdir(p, 0750), 0);
	for (unsigned k = 0; k < NFILES; k++) {
		size_t len;
		unsigned char *b = content(k, &len, rs);

		snprintf(rel, sizeof(rel), "%s/f%u", k % 3 == 0 ? "keep" : k % 3 == 1 ? "keep/sub"
						    : "tmp", k);
		fs_write_file(rel, b, len);
		free(b);
	}
	fs_write_file("top", "top file\n", 9);
	/* Links across pools, a symlink, a FIFO, xattrs. */
	fs_path(p, sizeof(p), "keep/f0");
	fs_path(q, sizeof(q), "tmp/link-to-f0");
	ck_assert_int_eq(link(p, q), 0);
	fs_path(q, sizeof(q), "sym");
	ck_assert_int_eq(symlink("keep/f0", q), 0);
	fs_path(q, sizeof(q), "keep/fifo");
	ck_assert_int_eq(mkfifo(q, 0600), 0);
	ck_assert_int_eq(setxattr(p, "user.note", "kept", 4, 0), 0);
	/* Units: densify everything now. */
	fs_ctl_write("densify", "1");
}

static void record_all(struct fs_tree *t)
{
	static const char *const extra[] = { "top", "keep", "tmp", "keep/sub", "tmp/link-to-f0",
					     "sym", "keep/fifo" };
	char rel[64];

	t->n = 0;
	for (unsigned k = 0; k < NFILES; k++) {
		snprintf(rel, sizeof(rel), "%s/f%u", k % 3 == 0 ? "keep" : k % 3 == 1 ? "keep/sub"
						    : "tmp", k);
		fs_tree_record(t, rel);
	}
	for (unsigned k = 0; k < sizeof(extra) / sizeof(extra[0]); k++)
		fs_tree_record(t, extra[k]);
}

/* Stop cleanly (the snapshot is written) and start again on `dir`. */
static void cycle(const char *dir, const char *opts, const char *snap)
{
	char tmp[300];
	struct stat st;

	fs_finish();
	ck_assert_int_eq(stat(snap, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	snprintf(tmp, sizeof(tmp), "%s.tmp", snap);
	ck_assert_int_eq(stat(tmp, &st), -1);
	ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
	fs_mount_at(dir, opts);
}

START_TEST(test_cycles)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	struct figures f0, f1;
	char snap[256], opts[300], dir[sizeof(fs_cur.dir)], p[1024];
	char v[16];
	char added[4][32];

	snap_path(snap, sizeof(snap), "cycles");
	opts_for(opts, sizeof(opts), snap);
	fs_mount(opts);
	snprintf(dir, sizeof(dir), "%s", fs_cur.dir);
	build(&rs);
	record_all(t);
	ck_assert_uint_gt(fs_stat_value("densify_units_made"), 0);
	figures(&f0);
	for (int round = 0; round < 3; round++) {
		cycle(dir, opts, snap);
		fs_tree_verify(t, 1);
		figures(&f1);
		/* mem_used_max may only grow: the load packs pages afresh. */
		ck_assert_uint_ge(f1.v[6], f0.v[6]);
		for (unsigned k = 0; k < 6; k++)
			ck_assert_msg(f1.v[k] == f0.v[k], "round %d: %s %llu, was %llu", round,
				      fig_names[k], (unsigned long long)f1.v[k],
				      (unsigned long long)f0.v[k]);
		fs_path(p, sizeof(p), "keep/f0");
		ck_assert_int_eq(getxattr(p, "user.note", v, sizeof(v)), 4);
		fs_path(p, sizeof(p), "tmp");
		ck_assert_int_eq(getxattr(p, "user.zcache.kind", v, sizeof(v)), 9);
		ck_assert(!memcmp(v, "ephemeral", 9));
		/* A change between cycles: a new file, one removed, one
		 * rewritten; new numbers never reuse old ones. */
		{
			size_t len;
			unsigned char *b = content(1000 + (unsigned)round, &len, &rs);
			struct stat st;

			snprintf(added[round], sizeof(added[round]), "keep/new%d", round);
			fs_write_file(added[round], b, len);
			free(b);
			fs_path(p, sizeof(p), added[round]);
			ck_assert_int_eq(stat(p, &st), 0);
			for (unsigned k = 0; k < t->n; k++)
				ck_assert_uint_ne(st.st_ino, t->e[k].ino);
			/* The directory changed too: record everything again. */
			record_all(t);
			for (int r = 0; r <= round; r++)
				fs_tree_record(t, added[r]);
		}
		figures(&f0);
	}
	free(t);
	fs_finish();
	unlink(snap);
}
END_TEST

/* Run zcached -f with `opts` on a fresh directory and expect it to refuse:
 * exit status 1, nothing mounted, its log (returned, malloc'ed) one line
 * with the reason. */
static char *refused_start(const char *opts)
{
	char dir[300], cmd[1200], log[320];
	FILE *f;
	char *line = malloc(1024);
	int st;

	snprintf(dir, sizeof(dir), "%s/refused", fs_base);
	ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
	snprintf(log, sizeof(log), "%s.log", dir);
	snprintf(cmd, sizeof(cmd), "timeout 60 %s -f -o '%s' '%s' >'%s' 2>&1", ZCACHED, opts, dir,
		 log);
	st = fs_run(cmd);
	ck_assert_int_eq(st, 1);
	ck_assert(!fs_is_mounted(dir));
	f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	line[0] = '\0';
	while (fgets(line, 1024, f) && !strstr(line, "snapshot not loaded"))
		;
	fclose(f);
	rmdir(dir);
	return line;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *b;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	ck_assert_int_eq(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void spill(const char *path, const unsigned char *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, b, len), (ssize_t)len);
	close(fd);
}

/* A snapshot of a few files, written by a clean stop. */
static void make_snapshot(const char *snap, struct fs_tree *t)
{
	char opts[300];

	opts_for(opts, sizeof(opts), snap);
	fs_mount(opts);
	fs_write_file("a", "alpha\n", 6);
	fs_write_file("b", "bravo bravo bravo\n", 18);
	t->n = 0;
	fs_tree_record(t, "a");
	fs_tree_record(t, "b");
	fs_finish();
}

START_TEST(test_bad)
{
	struct fs_tree *t = calloc(1, sizeof(*t));
	char snap[256], opts[300], want[300];
	unsigned char *good, *bad, *after;
	size_t len, alen;
	char *line;

	snap_path(snap, sizeof(snap), "bad");
	make_snapshot(snap, t);
	good = slurp(snap, &len);
	bad = malloc(len);
	memcpy(bad, good, len);
	bad[len / 2] ^= 0x40;
	spill(snap, bad, len);
	opts_for(opts, sizeof(opts), snap);
	line = refused_start(opts);
	snprintf(want, sizeof(want), "%s: offset ", snap);
	ck_assert_msg(strstr(line, want) && strstr(line, "checksum"), "log: %s", line);
	free(line);
	after = slurp(snap, &alen);
	ck_assert_uint_eq(alen, len);
	ck_assert_msg(!memcmp(after, bad, len), "the failed start changed the snapshot");
	free(after);
	/* Cut short: refused too, left as it is. */
	spill(snap, good, len - 7);
	line = refused_start(opts);
	ck_assert_msg(strstr(line, want), "log: %s", line);
	free(line);
	after = slurp(snap, &alen);
	ck_assert_uint_eq(alen, len - 7);
	free(after);
	/* The good image still loads. */
	spill(snap, good, len);
	fs_mount(opts);
	fs_tree_verify(t, 1);
	fs_finish();
	free(good);
	free(bad);
	free(t);
	unlink(snap);
}
END_TEST

START_TEST(test_version)
{
	struct fs_tree *t = calloc(1, sizeof(*t));
	char snap[256], opts[300];
	unsigned char *img;
	size_t len;
	char *line;
	uint32_t v = 99;

	snap_path(snap, sizeof(snap), "version");
	make_snapshot(snap, t);
	img = slurp(snap, &len);
	memcpy(img + 8, &v, 4);
	/* Reseal the header so only the version is wrong. */
	{
		uint32_t crc = 0xffffffffu;

		for (int i = 0; i < 28; i++) {
			crc ^= img[i];
			for (int b = 0; b < 8; b++)
				crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
		}
		crc = ~crc;
		memcpy(img + 28, &crc, 4);
	}
	spill(snap, img, len);
	opts_for(opts, sizeof(opts), snap);
	line = refused_start(opts);
	ck_assert_msg(strstr(line, "offset 0: format version 99, this zcached reads version 1"),
		      "log: %s", line);
	free(line);
	free(img);
	free(t);
	unlink(snap);
}
END_TEST

START_TEST(test_crash)
{
	struct fs_tree *t = calloc(1, sizeof(*t));
	char snap[256], opts[300], tmp[300], dir[sizeof(fs_cur.dir)];
	int st;

	snap_path(snap, sizeof(snap), "crash");
	make_snapshot(snap, t);
	opts_for(opts, sizeof(opts), snap);
	fs_mount(opts);
	snprintf(dir, sizeof(dir), "%s", fs_cur.dir);
	fs_tree_verify(t, 1);
	fs_write_file("lost", "written after the last clean stop\n", 34);
	/* A leftover of a save that died midway. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", snap);
	spill(tmp, (const unsigned char *)"partial", 7);
	ck_assert_int_eq(kill(fs_cur.pid, SIGKILL), 0);
	st = fs_wait(fs_cur.pid, 20000);
	ck_assert(WIFSIGNALED(st));
	fs_cur.pid = 0;
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "fusermount3 -uz '%s'", dir);
		ck_assert_int_eq(fs_run(cmd), 0);
		ck_assert(!fs_is_mounted(dir));
	}
	ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
	fs_mount_at(dir, opts);
	fs_tree_verify(t, 1);
	ck_assert(!fs_daemon_has("lost"));
	fs_finish();
	/* The clean stop replaced the leftover. */
	ck_assert_int_eq(access(tmp, F_OK), -1);
	free(t);
	unlink(snap);
}
END_TEST

#ifdef ZC_DEBUG
START_TEST(test_killsave)
{
	static const unsigned at[] = { 1, 2, 3, 6, 40, 200, 1000000 };
	struct fs_tree *t = calloc(1, sizeof(*t)), *t2 = calloc(1, sizeof(*t2));
	char snap[256], opts[300], dir[sizeof(fs_cur.dir)], cmd[600], n[24];
	unsigned char *before, *after;
	size_t blen, alen;
	uint64_t rs = zc_test_seed();
	unsigned killed = 0, saved = 0;

	snap_path(snap, sizeof(snap), "killsave");
	make_snapshot(snap, t);
	opts_for(opts, sizeof(opts), snap);
	for (unsigned k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		int st;

		before = slurp(snap, &blen);
		snprintf(n, sizeof(n), "%u", at[k]);
		setenv("ZC_FAULT_STATE", n, 1);
		fs_mount(opts);
		unsetenv("ZC_FAULT_STATE");
		snprintf(dir, sizeof(dir), "%s", fs_cur.dir);
		fs_tree_verify(t, 1);
		/* Something to lose: a file of 40 pages and a directory. */
		{
			size_t len;
			unsigned char *b = content(7 + k, &len, &rs);
			char p[1024], rel[32];

			snprintf(rel, sizeof(rel), "more%u", k);
			fs_write_file(rel, b, len);
			free(b);
			snprintf(rel, sizeof(rel), "dir%u", k);
			fs_path(p, sizeof(p), rel);
			ck_assert_int_eq(mkdir(p, 0700), 0);
		}
		*t2 = *t;
		{
			char rel[32];

			snprintf(rel, sizeof(rel), "more%u", k);
			fs_tree_record(t2, rel);
			snprintf(rel, sizeof(rel), "dir%u", k);
			fs_tree_record(t2, rel);
		}
		snprintf(cmd, sizeof(cmd), "fusermount3 -u '%s'", dir);
		ck_assert_int_eq(fs_run(cmd), 0);
		st = fs_wait(fs_cur.pid, 20000);
		fs_cur.pid = 0;
		after = slurp(snap, &alen);
		if (WIFSIGNALED(st)) {
			/* Killed midway: the old image, byte for byte. */
			ck_assert_int_eq(WTERMSIG(st), SIGKILL);
			ck_assert_uint_eq(alen, blen);
			ck_assert_msg(!memcmp(after, before, blen), "killed at record %u: image changed",
				      at[k]);
			killed++;
		} else {
			/* Not killed (fewer records than at[k]): the new one. */
			ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
			*t = *t2;
			saved++;
		}
		free(before);
		free(after);
		ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
		fs_mount_at(dir, opts);
		fs_tree_verify(t, 1);
		if (WIFSIGNALED(st)) {
			char rel[32];

			snprintf(rel, sizeof(rel), "more%u", k);
			ck_assert(!fs_daemon_has(rel));
		}
		fs_finish();
		/* That clean stop wrote the image again: the reference. */
	}
	ck_assert_uint_ge(killed, 4);
	ck_assert_uint_ge(saved, 1);
	free(t);
	free(t2);
	unlink(snap);
}
END_TEST

static void add_debug_tests(TCase *tc)
{
	tcase_add_test(tc, test_killsave);
}
#else
static void add_debug_tests(TCase *tc)
{
	(void)tc;
}
#endif

static Suite *make_suite(void)
{
	Suite *s = suite_create("restart");
	TCase *tc = tcase_create("snapshot");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_cycles);
	tcase_add_test(tc, test_bad);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_crash);
	add_debug_tests(tc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fs_suite_main(make_suite());
}
