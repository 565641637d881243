/* spill_fs.c - suite of the far tier in the filesystem (fuse/far.h): a
 * mount with -o spill= against three memcached servers of the suite's own
 * (tests/mcutil.h: loopback ports found free, never 11211, stopped by pid)
 * and a small mem_limit.
 *
 *   roundtrip   a corpus several times the limit written into an ephemeral
 *               pool spills (files keep their names, sizes, inode numbers)
 *               and every file reads back byte for byte;
 *   kill        one server SIGKILLed while a reader loops over the files,
 *               then restarted empty: every read is the exact file or
 *               ENOENT, never other bytes; files written again read back;
 *   changes     unlink, truncation (to 0 and to a length) and rewriting of
 *               spilled files delete or supersede the remote copy; a file
 *               of the persistent root pool never spills;
 *   pool_off    user.zcache.spill "off": the pool's files are evicted, not
 *               spilled;
 *   persistent  a spilled file renamed or linked into a persistent pool is
 *               brought back first and never spills again, and so are the
 *               spilled files of a directory renamed into one;
 *   metrics     metrics and stats.json with spill= pass tests/metrics_check.py;
 *   option      a bad spill= list fails the mount with status 2;
 *   snapshot    a clean stop with snapshot= fetches spilled files back into
 *               the image, and the next start (without spill=) serves them.
 *
 * Every mount unmounts through tests/fsutil.h, and fs_finish asserts the
 * daemon's clean exit (under the asan preset: zfs_check, with the far
 * tier's zfs_far_check, and no leak).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsutil.h"
#include "mcutil.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define NFILES 120

/* File i's size: a 1 MiB file every 8th, a 1.5 MiB one (more than one
 * memcached item) every 8th, the rest 1 .. 160 KiB. */
static size_t file_size(int i)
{
	if (i % 8 == 0)
		return MIB;
	if (i % 8 == 1)
		return MIB + MIB / 2 + 123;
	return 1 + ((size_t)i * 7919u) % (160 * KIB);
}

/* File i's bytes, version v (a rewrite changes v): half-compressible
 * letters from a per-file generator, so images are compressed, not raw. */
static void file_bytes(int i, int v, unsigned char *buf, size_t len)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1) + (uint64_t)v * 0x632be59bd9b4e019ull;

	for (size_t j = 0; j < len; j++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[j] = (unsigned char)('a' + (x & 15));
	}
}

static void file_name(int i, char *buf, size_t len)
{
	snprintf(buf, len, "eph/f%03d", i);
}

static void write_version(int i, int v)
{
	size_t len = file_size(i);
	unsigned char *b = malloc(len);
	char name[64];

	ck_assert_ptr_nonnull(b);
	file_bytes(i, v, b, len);
	file_name(i, name, sizeof(name));
	fs_write_file(name, b, len);
	free(b);
}

/* Read file i and compare with version v: 0 exact, 1 gone (ENOENT or
 * ESTALE at open), -1 other bytes or another error (printed).  Uses no
 * libcheck assertion, so a forked reader can call it. */
static int check_file(int i, int v)
{
	size_t len = file_size(i), n = 0;
	unsigned char *want = malloc(len), *got = malloc(len + 1);
	char name[64], p[1024];
	int fd, ret = 0;
	ssize_t r;

	if (!want || !got) {
		free(want);
		free(got);
		return -1;
	}
	file_name(i, name, sizeof(name));
	fs_path(p, sizeof(p), name);
	fd = open(p, O_RDONLY);
	if (fd < 0) {
		ret = (errno == ENOENT || errno == ESTALE) ? 1 : -1;
		if (ret < 0)
			fprintf(stderr, "open %s: %s\n", p, strerror(errno));
		goto out;
	}
	while ((r = read(fd, got + n, len + 1 - n)) > 0)
		n += (size_t)r;
	if (r < 0) {
		fprintf(stderr, "read %s: %s\n", p, strerror(errno));
		ret = -1;
	}
	close(fd);
	file_bytes(i, v, want, len);
	if (ret == 0 && (n != len || memcmp(want, got, len) != 0)) {
		fprintf(stderr, "%s: %zu bytes read, %zu expected, or other bytes\n", p, n, len);
		ret = -1;
	}
out:
	free(want);
	free(got);
	return ret;
}

/* Mount with mem_limit=8M, new pools ephemeral, spill= the cluster, and
 * make the pool "eph". */
static void mount_spill(struct mc_cluster *c)
{
	char list[512], opts[700], p[1024];

	mc_server_list(c, list, sizeof(list));
	snprintf(opts, sizeof(opts), "mem_limit=8M,pool=ephemeral,spill=%s", list);
	fs_mount(opts);
	fs_path(p, sizeof(p), "eph");
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void start_cluster(struct mc_cluster *c)
{
	memset(c, 0, sizeof(*c));
	ck_assert_msg(mc_start(c, 3, 64) == 0, "could not start memcached");
}

START_TEST(test_spill_roundtrip)
{
	struct mc_cluster c;
	struct stat st;
	char name[64], p[1024];
	uint64_t written = 0, ino7;
	int i;

	start_cluster(&c);
	mount_spill(&c);
	for (i = 0; i < NFILES; i++) {
		write_version(i, 0);
		written += file_size(i);
	}
	ck_assert_uint_gt(written, 5 * 8 * MIB);	/* far larger than the limit */
	fs_wait_closed("eph");
	ck_assert_uint_gt(fs_stat_value("spilled_files"), 0);
	ck_assert_uint_gt(fs_ctl_value("spill", "items_set"), 0);
	ck_assert_uint_eq(fs_stat_value("spill_servers"), 3);
	ck_assert_uint_eq(fs_stat_value("spill_servers_up"), 3);
	/* A spilled file keeps its name, size and inode number. */
	file_name(7, name, sizeof(name));
	fs_path(p, sizeof(p), name);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, file_size(7));
	ino7 = st.st_ino;
	for (int pass = 0; pass < 2; pass++)
		for (i = 0; i < NFILES; i++)
			ck_assert_msg(check_file(i, 0) == 0, "file %d did not read back", i);
	ck_assert_uint_gt(fs_stat_value("spill_fetch_hits"), 0);
	ck_assert_uint_eq(fs_stat_value("spill_fetch_misses"), 0);
	ck_assert_uint_eq(fs_stat_value("spill_lost_files"), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_ino, ino7);
	fs_finish();
	mc_stop_all(&c);
}
END_TEST

/* The reader of test_spill_kill: `passes` passes over every file, a byte
 * on `out` after each; exits 0, or 1 at the first wrong file. */
static void reader(int passes, int out)
{
	for (int pass = 0; pass < passes; pass++) {
		for (int i = 0; i < NFILES; i++)
			if (check_file(i, 0) < 0)
				_exit(1);
		if (write(out, "p", 1) != 1)
			_exit(2);
	}
	_exit(0);
}

START_TEST(test_spill_kill)
{
	struct mc_cluster c;
	int fds[2], status, gone = 0, i, rewritten[NFILES];
	char b;
	pid_t pid;

	start_cluster(&c);
	mount_spill(&c);
	for (i = 0; i < NFILES; i++)
		write_version(i, 0);
	fs_wait_closed("eph");
	ck_assert_uint_gt(fs_stat_value("spilled_files"), 0);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		reader(5, fds[1]);
	}
	close(fds[1]);
	/* Kill server 1 once the reader has gone over every file once, bring
	 * it back (empty, same port) two passes later. */
	ck_assert_int_eq(read(fds[0], &b, 1), 1);
	mc_signal(&c, 1, SIGKILL);
	ck_assert_int_eq(read(fds[0], &b, 1), 1);
	ck_assert_int_eq(read(fds[0], &b, 1), 1);
	ck_assert_int_eq(mc_start_one(&c, 1), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(fds[0]);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the reader saw a wrong file (status %d)", status);
	/* Every file is exact or gone.  The gone ones are written again (a
	 * new version, a new generation): from then on each reads as its
	 * newest version or is gone again (its server may still count as down
	 * and fail the next spill), never as the old bytes the restarted
	 * server might have been thought to hold. */
	for (i = 0; i < NFILES; i++) {
		int r = check_file(i, 0);

		ck_assert_msg(r >= 0, "file %d: other bytes", i);
		rewritten[i] = r == 1;
		if (r == 1) {
			gone++;
			write_version(i, 1);
		}
	}
	fprintf(stderr, "spill_fs kill: %d of %d files gone, %llu fetch misses\n", gone, NFILES,
		(unsigned long long)fs_stat_value("spill_fetch_misses"));
	fs_wait_closed("eph");
	for (int pass = 0; pass < 2; pass++)
		for (i = 0; i < NFILES; i++)
			ck_assert_msg(check_file(i, rewritten[i]) >= 0, "file %d: other bytes", i);
	fs_finish();
	mc_stop_all(&c);
}
END_TEST

START_TEST(test_spill_changes)
{
	struct mc_cluster c;
	struct stat st;
	char name[64], p[1024], root[1024];
	unsigned char buf[64];
	int i, fd;

	start_cluster(&c);
	mount_spill(&c);
	for (i = 0; i < 8; i++)
		write_version(i, 0);
	fs_write_file("rootfile", "persistent", 10);	/* the root pool is persistent */
	fs_wait_closed("eph");
	fs_wait_closed("default");
	fs_ctl_write("drop_ephemeral", "1");
	ck_assert_uint_eq(fs_stat_value("spilled_files"), 8);
	ck_assert_uint_eq(fs_stat_value("evictions"), 0);
	/* unlink: the image goes from the cluster. */
	file_name(0, name, sizeof(name));
	fs_path(p, sizeof(p), name);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_uint_eq(fs_stat_value("spilled_files"), 7);
	/* The three figures are read one at a time, so a delete finishing
	 * between two reads escaped the sum: wait for the queue to drain
	 * (a worker counts its delete or cancelled store before it leaves
	 * the queue), then ask for the outcome. */
	for (i = 0; i < 1000 && fs_ctl_value("spill", "queue_depth") > 0; i++)
		usleep(10000);
	ck_assert_uint_eq(fs_ctl_value("spill", "queue_depth"), 0);
	ck_assert_uint_ge(fs_ctl_value("spill", "deletes") +
			  fs_ctl_value("spill", "store_cancelled"), 1);
	/* truncate to 0: no fetch, an empty file. */
	file_name(1, name, sizeof(name));
	fs_path(p, sizeof(p), name);
	ck_assert_int_eq(truncate(p, 0), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_uint_eq(fs_stat_value("spilled_files"), 6);
	ck_assert_uint_eq(fs_stat_value("spill_fetch_hits"), 0);
	/* truncate to a length: restored, then cut. */
	file_name(2, name, sizeof(name));
	fs_path(p, sizeof(p), name);
	ck_assert_int_eq(truncate(p, 5000), 0);
	ck_assert_uint_eq(fs_stat_value("spill_fetch_hits"), 1);
	{
		unsigned char *want = malloc(file_size(2));
		size_t n;
		char *got = fs_read_file(name, &n);

		ck_assert_ptr_nonnull(want);
		file_bytes(2, 0, want, file_size(2));
		ck_assert_uint_eq(n, 5000);
		ck_assert_int_eq(memcmp(want, got, 5000), 0);
		free(want);
		free(got);
	}
	/* rewrite: a new version replaces the spilled one, and spills again
	 * under a new generation. */
	write_version(3, 7);
	fs_wait_closed("eph");
	fs_ctl_write("drop_ephemeral", "1");
	ck_assert_int_eq(check_file(3, 7), 0);
	for (i = 4; i < 8; i++)
		ck_assert_int_eq(check_file(i, 0), 0);
	ck_assert_uint_eq(fs_stat_value("spill_fetch_misses"), 0);
	/* The persistent root pool's file never left. */
	fs_path(root, sizeof(root), "rootfile");
	fd = open(root, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 10);
	ck_assert_int_eq(memcmp(buf, "persistent", 10), 0);
	close(fd);
	fs_finish();
	mc_stop_all(&c);
}
END_TEST

/* A spilled file renamed or linked into a persistent pool comes back
 * first: persistent data never lives only in the cluster. */
START_TEST(test_spill_to_persistent)
{
	struct mc_cluster c;
	char p[1024], q[1024];
	size_t n;
	char *got;
	unsigned char *want;

	start_cluster(&c);
	mount_spill(&c);
	fs_path(p, sizeof(p), "keep");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "persistent", 10, 0), 0);
	write_version(5, 0);
	write_version(6, 0);
	fs_wait_closed("eph");
	fs_ctl_write("drop_ephemeral", "1");
	ck_assert_uint_eq(fs_stat_value("spilled_files"), 2);
	/* rename f005 into the persistent pool */
	fs_path(p, sizeof(p), "eph/f005");
	fs_path(q, sizeof(q), "keep/f005");
	ck_assert_int_eq(rename(p, q), 0);
	/* a hard link of f006 in the persistent pool */
	fs_path(p, sizeof(p), "eph/f006");
	fs_path(q, sizeof(q), "keep/f006");
	ck_assert_int_eq(link(p, q), 0);
	ck_assert_uint_eq(fs_stat_value("spilled_files"), 0);
	ck_assert_uint_eq(fs_stat_value("spill_fetch_hits"), 2);
	fs_wait_closed("keep");
	fs_wait_closed("eph");
	fs_ctl_write("drop_ephemeral", "1");
	ck_assert_uint_eq(fs_stat_value("spilled_files"), 0);
	ck_assert_uint_eq(fs_stat_value("evictions"), 0);
	want = malloc(file_size(5));
	ck_assert_ptr_nonnull(want);
	file_bytes(5, 0, want, file_size(5));
	got = fs_read_file("keep/f005", &n);
	ck_assert_uint_eq(n, file_size(5));
	ck_assert_int_eq(memcmp(got, want, n), 0);
	free(got);
	free(want);
	ck_assert_int_eq(check_file(6, 0), 0);
	/* A directory of spilled files renamed into the persistent pool:
	 * they come back before it moves. */
	fs_path(p, sizeof(p), "eph/sub");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	for (int i = 0; i < 3; i++) {
		char rel[64];
		unsigned char b[5000];

		snprintf(rel, sizeof(rel), "eph/sub/s%d", i);
		file_bytes(40 + i, 0, b, sizeof(b));
		fs_write_file(rel, b, sizeof(b));
	}
	fs_wait_closed("eph");
	fs_ctl_write("drop_ephemeral", "1");
	ck_assert_uint_eq(fs_stat_value("spilled_files"), 3);
	fs_path(q, sizeof(q), "keep/sub");
	ck_assert_int_eq(rename(p, q), 0);
	ck_assert_uint_eq(fs_stat_value("spilled_files"), 0);
	for (int i = 0; i < 3; i++) {
		char rel[64];
		unsigned char b[5000];

		snprintf(rel, sizeof(rel), "keep/sub/s%d", i);
		file_bytes(40 + i, 0, b, sizeof(b));
		got = fs_read_file(rel, &n);
		ck_assert_uint_eq(n, sizeof(b));
		ck_assert_int_eq(memcmp(got, b, n), 0);
		free(got);
	}
	fs_finish();
	mc_stop_all(&c);
}
END_TEST

/* user.zcache.spill: "on" by default, "off" makes eviction drop the
 * pool's files as without spill=; other values are refused. */
START_TEST(test_spill_pool_off)
{
	struct mc_cluster c;
	char p[1024], v[16];
	ssize_t n;
	int i;

	start_cluster(&c);
	mount_spill(&c);
	fs_path(p, sizeof(p), "eph");
	n = getxattr(p, "user.zcache.spill", v, sizeof(v));
	ck_assert(n == 2 && !memcmp(v, "on", 2));
	errno = 0;
	ck_assert_int_eq(setxattr(p, "user.zcache.spill", "maybe", 5, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(setxattr(p, "user.zcache.spill", "off", 3, 0), 0);
	n = getxattr(p, "user.zcache.spill", v, sizeof(v));
	ck_assert(n == 3 && !memcmp(v, "off", 3));
	for (i = 2; i < 5; i++)
		write_version(i, 0);
	fs_wait_closed("eph");
	fs_ctl_write("drop_ephemeral", "1");
	ck_assert_uint_eq(fs_stat_value("spilled_files"), 0);
	ck_assert_uint_eq(fs_stat_value("evictions"), 3);
	for (i = 2; i < 5; i++)
		ck_assert_int_eq(check_file(i, 0), 1);
	fs_finish();
	mc_stop_all(&c);
}
END_TEST

/* A clean stop with snapshot= fetches every spilled file back into the
 * image (fuse/state.h holds pages, not remote copies); the next start
 * serves them all, locally, with the same inode numbers. */
START_TEST(test_spill_snapshot)
{
	struct mc_cluster c;
	char list[512], opts[900], snap[256], dir[sizeof(fs_cur.dir)], name[64], p[1024];
	struct stat st;
	uint64_t ino[NFILES];
	int i;

	start_cluster(&c);
	mc_server_list(&c, list, sizeof(list));
	snprintf(snap, sizeof(snap), "%s/spill.snap", fs_base);
	unlink(snap);
	snprintf(opts, sizeof(opts), "mem_limit=8M,pool=ephemeral,spill=%s,snapshot=%s", list,
		 snap);
	fs_mount(opts);
	snprintf(dir, sizeof(dir), "%s", fs_cur.dir);
	fs_path(p, sizeof(p), "eph");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	for (i = 0; i < 24; i++) {
		write_version(i, 0);
		file_name(i, name, sizeof(name));
		fs_path(p, sizeof(p), name);
		ck_assert_int_eq(stat(p, &st), 0);
		ino[i] = st.st_ino;
	}
	fs_wait_closed("eph");
	fs_ctl_write("drop_ephemeral", "1");
	ck_assert_uint_gt(fs_stat_value("spilled_files"), 0);
	fs_finish();		/* writes the snapshot, fetching first */
	/* Started again without spill=: every byte must be in the image. */
	snprintf(opts, sizeof(opts), "mem_limit=64M,snapshot=%s", snap);
	ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
	fs_mount_at(dir, opts);
	ck_assert_uint_eq(fs_stat_value("spilled_files"), 0);
	for (i = 0; i < 24; i++) {
		file_name(i, name, sizeof(name));
		fs_path(p, sizeof(p), name);
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_uint_eq(st.st_ino, ino[i]);
		ck_assert_msg(check_file(i, 0) == 0, "file %d did not come back", i);
	}
	fs_finish();
	unlink(snap);
	mc_stop_all(&c);
}
END_TEST

/* The metrics and stats.json of a mount with spill= through the real
 * parsers (tests/metrics_check.py). */
/* Densified files spill in their stored forms and come back as units. */
#define NDENSE 6

static void dense_bytes(int i, unsigned char *buf, size_t len)
{
	size_t n = 0;

	/* Text lines that repeat across pages, so a unit of 16 pages beats
	 * 16 pages compressed alone. */
	for (unsigned line = 0; n < len; line++) {
		char l[96];
		int k = snprintf(l, sizeof(l), "file %d line %u: the quick brown fox %u jumps\n", i,
				 line, (line * 2654435761u) % 97u);

		for (int j = 0; j < k && n < len; j++)
			buf[n++] = (unsigned char)l[j];
	}
}

START_TEST(test_spill_units)
{
	struct mc_cluster c;
	char list[512], opts[700], p[1024], name[64];
	size_t len = 256 * KIB + 1000;
	unsigned char *want = malloc(len), *got;
	uint64_t units;

	ck_assert_ptr_nonnull(want);
	start_cluster(&c);
	mc_server_list(&c, list, sizeof(list));
	snprintf(opts, sizeof(opts), "mem_limit=64M,pool=ephemeral,densify_idle=0,spill=%s", list);
	fs_mount(opts);
	fs_path(p, sizeof(p), "eph");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	for (int i = 0; i < NDENSE; i++) {
		dense_bytes(i, want, len);
		snprintf(name, sizeof(name), "eph/d%d", i);
		fs_write_file(name, want, len);
	}
	fs_wait_closed("eph");
	fs_ctl_write("densify", "1");
	units = fs_ctl_value("compress", "units");
	ck_assert_uint_gt(units, 0);
	fs_ctl_write("drop_ephemeral", "1");
	ck_assert_uint_eq(fs_stat_value("spilled_files"), NDENSE);
	ck_assert_uint_eq(fs_ctl_value("compress", "units"), 0);
	for (int i = 0; i < NDENSE; i++) {
		size_t n;

		snprintf(name, sizeof(name), "eph/d%d", i);
		got = (unsigned char *)fs_read_file(name, &n);
		ck_assert_ptr_nonnull(got);
		dense_bytes(i, want, len);
		ck_assert_uint_eq(n, len);
		ck_assert_msg(memcmp(got, want, len) == 0, "file %d: other bytes", i);
		free(got);
	}
	/* Restored as the units they spilled as, not as single pages. */
	ck_assert_uint_eq(fs_ctl_value("compress", "units"), units);
	ck_assert_uint_eq(fs_stat_value("spill_fetch_hits"), NDENSE);
	ck_assert_uint_eq(fs_stat_value("spill_lost_files"), 0);
	free(want);
	fs_finish();
	mc_stop_all(&c);
}
END_TEST

START_TEST(test_spill_metrics)
{
	struct mc_cluster c;
	char cmd[2048];
	char *t;

	ck_assert_msg(access(ZC_PYTHON3, X_OK) == 0, "no %s (.ci/deps installs it)", ZC_PYTHON3);
	start_cluster(&c);
	mount_spill(&c);
	write_version(2, 0);
	fs_wait_closed("eph");
	fs_ctl_write("drop_ephemeral", "1");
	snprintf(cmd, sizeof(cmd), "'%s' '%s/tests/metrics_check.py' '%s' default eph", ZC_PYTHON3,
		 ZC_SOURCE_DIR, fs_cur.dir);
	ck_assert_int_eq(fs_run(cmd), 0);
	t = fs_read_file(".zcache/spill", NULL);
	ck_assert_ptr_nonnull(strstr(t, "\nserver 127.0.0.1:"));
	ck_assert_ptr_nonnull(strstr(t, " up requests="));
	free(t);
	fs_finish();
	mc_stop_all(&c);
}
END_TEST

START_TEST(test_spill_option)
{
	char dir[256], cmd[1024];

	snprintf(dir, sizeof(dir), "%s/badopt", fs_base);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(cmd, sizeof(cmd), "%s -f -o spill=127.0.0.1:99999 %s 2>/dev/null", ZCACHED, dir);
	ck_assert_int_eq(fs_run(cmd), 2);
	snprintf(cmd, sizeof(cmd), "%s -f -o spill= %s 2>/dev/null", ZCACHED, dir);
	ck_assert_int_eq(fs_run(cmd), 2);
	ck_assert_int_eq(fs_is_mounted(dir), 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("spill_fs");
	TCase *tc = tcase_create("far");

	tcase_add_test(tc, test_spill_option);
	tcase_add_test(tc, test_spill_pool_off);
	tcase_add_test(tc, test_spill_to_persistent);
	tcase_add_test(tc, test_spill_metrics);
	tcase_add_test(tc, test_spill_units);
	tcase_add_test(tc, test_spill_changes);
	tcase_add_test(tc, test_spill_roundtrip);
	tcase_add_test(tc, test_spill_snapshot);
	tcase_add_test(tc, test_spill_kill);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char path[] = "/tmp/zc-spill-fs-pids.XXXXXX";
	int fd = mkstemp(path), ret;

	if (fd >= 0) {
		close(fd);
		mc_track_file(path);
	}
	ret = fs_suite_main(make_suite());
	mc_cleanup_file();
	return ret;
}
