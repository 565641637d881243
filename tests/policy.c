/* policy.c - suite of the memory limit and the memory policy: a persistent
 * pool filled from the corpus tree until ENOSPC and verified byte for byte,
 * a write(2) crossing the limit, ephemeral eviction order and the
 * whole-file and open-file rules, automatic compaction after mass deletion,
 * the control files, and the policy thread itself (daemon/policy.h) in
 * process, with fake PSI and memory.events files.
 *
 * The filesystem tests mount the built zcached (tests/fsutil.h).  Figures
 * of the fill test are printed on stderr for the record; every test
 * asserts.  ZC_FILL_LIMIT overrides the fill test's mem_limit (default
 * 16M, to keep the suite short under the sanitizers).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "compress/pam.h"
#include "daemon/policy.h"
#include "fsutil.h"
#include "fuse/ctl.h"
#include "fuse/render.h"
#include "fuse/zfs.h"
#include "testutil.h"
#include "tmem/stack.h"
#include "tmem/tmem.h"

#define MIB (1u << 20)

static void fill_random(unsigned char *buf, size_t len, uint64_t *rs)
{
	for (size_t j = 0; j + 8 <= len; j += 8) {
		uint64_t v = zc_rand(rs);

		memcpy(buf + j, &v, 8);
	}
}

/* Write "value" to a control file; returns 0 or the errno. */
static int ctl_write(const char *name, const char *value)
{
	char p[1024];
	int fd, err = 0;

	fs_path(p, sizeof(p), name);
	fd = open(p, O_WRONLY);
	if (fd < 0)
		return errno;
	if (write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		err = errno;
	close(fd);
	return err;
}

/* Compare the mount's file `rel` with `ref` (a file on disk): returns its
 * size when it is a prefix of ref (complete or not), -1 when it differs or
 * is longer, -2 when it is missing; *ref_size receives ref's size. */
static long long compare_prefix(const char *rel, const char *ref, long long *ref_size)
{
	char p[1024];
	size_t n = 0, m = 0;
	char *a, *b;
	FILE *f;
	long long ret;

	fs_path(p, sizeof(p), rel);
	f = fopen(ref, "rb");
	ck_assert_msg(f != NULL, "reference %s", ref);
	fseek(f, 0, SEEK_END);
	*ref_size = ftell(f);
	rewind(f);
	b = malloc((size_t)*ref_size + 1);
	ck_assert_ptr_nonnull(b);
	m = fread(b, 1, (size_t)*ref_size, f);
	fclose(f);
	ck_assert_int_eq((long long)m, *ref_size);
	if (access(p, F_OK) != 0) {
		free(b);
		return -2;
	}
	a = fs_read_file(rel, &n);
	ret = n <= m && !memcmp(a, b, n) ? (long long)n : -1;
	free(a);
	free(b);
	return ret;
}

/* ---- fill a persistent pool from tree.tar until ENOSPC ------------------------ */

START_TEST(test_fill_tree_until_enospc)
{
	const char *limit_s = getenv("ZC_FILL_LIMIT") ? getenv("ZC_FILL_LIMIT") : "16M";
	char cmd[4096], opts[128], ref[600], list[600], line[2048];
	long long complete = 0, complete_bytes = 0, prefix_bytes = 0, partial = 0, missing = 0;
	long long empty = 0;
	long long failing = -1, idx = 0, after_ok = 0;
	uint64_t limit, used, max;
	FILE *f;

	ck_assert_int_eq(zfs_parse_size(limit_s, 0, &limit), 0);
	snprintf(opts, sizeof(opts), "mem_limit=%s", limit_s);
	/* The reference: the same tar unpacked on disk, and its member order. */
	snprintf(ref, sizeof(ref), "%s/ref", fs_base);
	snprintf(list, sizeof(list), "%s/ref.list", fs_base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s' && tar -xf '%s' -C '%s' && "
		 "tar -tf '%s' > '%s'", ref, ref, zc_corpus_path("tree.tar"), ref,
		 zc_corpus_path("tree.tar"), list);
	ck_assert_int_eq(fs_run(cmd), 0);

	fs_mount(opts);
	/* tar reports the ENOSPC and goes on with later members. */
	snprintf(cmd, sizeof(cmd), "tar -xf '%s' -C '%s' 2>/dev/null", zc_corpus_path("tree.tar"),
		 fs_cur.dir);
	ck_assert_int_ne(fs_run(cmd), 0);
	ck_assert_uint_ge(fs_stat_value("enospc"), 1);
	used = fs_stat_value("mem_used_bytes");
	max = fs_stat_value("mem_used_max_bytes");
	/* The documented slack: about one 1 MiB request per worker (2 here,
	 * the machine's CPUs or fewer), and a little rounding. */
	ck_assert_uint_le(max, limit + 4 * (uint64_t)MIB);
	ck_assert_uint_le(used, max);

	/* Members in tar order: each regular file before the first one that
	 * is incomplete must be whole; from there on each is a prefix. */
	f = fopen(list, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		char r[2700];
		struct stat st;
		long long rs, got;

		line[strcspn(line, "\n")] = '\0';
		snprintf(r, sizeof(r), "%s/%s", ref, line);
		if (lstat(r, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		got = compare_prefix(line, r, &rs);
		ck_assert_msg(got != -1, "%s differs from the reference", line);
		if (failing < 0) {
			if (got == rs) {
				complete++;
				complete_bytes += rs;
			} else {
				failing = idx;
				ck_assert_msg(got >= 0, "the failing file %s is missing", line);
				prefix_bytes = got;
				fprintf(stderr, "fill: failing file %s, %lld of %lld bytes stored\n",
					line, got, rs);
			}
		} else if (got == rs) {
			after_ok++;
		} else if (got == 0) {
			empty++;
		} else if (got > 0) {
			partial++;
		} else {
			missing++;
		}
		idx++;
	}
	fclose(f);
	ck_assert_msg(failing > 0, "the limit was never reached");
	fprintf(stderr,
		"fill: mem_limit %" PRIu64 ": %lld files (%lld bytes) stored whole before ENOSPC, "
		"all verified; failing file's prefix %lld bytes; after it: %lld whole, %lld "
		"partial, %lld empty, %lld missing of %lld regular files; mem_used %" PRIu64
		", max %" PRIu64 "\n",
		limit, complete, complete_bytes, prefix_bytes, after_ok, partial, empty, missing, idx,
		used, max);
	ck_assert_int_gt(complete_bytes, (long long)limit);	/* it compresses */
	fs_finish();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", ref, list);
	fs_run(cmd);
}
END_TEST

/* ---- tree.tar into an ephemeral pool: eviction makes room ------------------------- */

START_TEST(test_tree_into_ephemeral_pool)
{
	const char *limit_s = getenv("ZC_FILL_LIMIT") ? getenv("ZC_FILL_LIMIT") : "16M";
	char cmd[4096], opts[128], ref[600], list[600], line[2048], p[1024];
	long long idx = 0, kept = 0, kept_bytes = 0, gone = 0, first_kept = -1, last_gone = -1;
	long long inversions = 0, gone_after_kept = 0;
	uint64_t limit, max, evictions;
	FILE *f;

	ck_assert_int_eq(zfs_parse_size(limit_s, 0, &limit), 0);
	snprintf(opts, sizeof(opts), "mem_limit=%s", limit_s);
	snprintf(ref, sizeof(ref), "%s/ref", fs_base);
	snprintf(list, sizeof(list), "%s/ref.list", fs_base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s' && tar -xf '%s' -C '%s' && "
		 "tar -tf '%s' > '%s'", ref, ref, zc_corpus_path("tree.tar"), ref,
		 zc_corpus_path("tree.tar"), list);
	ck_assert_int_eq(fs_run(cmd), 0);

	fs_mount(opts);
	fs_path(p, sizeof(p), "eph");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "ephemeral", 9, 0), 0);
	/* Closed files make room for the next ones: tar never meets ENOSPC. */
	snprintf(cmd, sizeof(cmd), "tar -xf '%s' -C '%s/eph'", zc_corpus_path("tree.tar"),
		 fs_cur.dir);
	ck_assert_int_eq(fs_run(cmd), 0);
	ck_assert_uint_eq(fs_stat_value("enospc"), 0);
	evictions = fs_stat_value("evictions");
	max = fs_stat_value("mem_used_max_bytes");
	ck_assert_uint_ge(evictions, 1);
	ck_assert_uint_le(max, limit + 4 * (uint64_t)MIB);

	/* Every file is whole or gone (never cut short); the gone ones are
	 * the least recently closed, i.e. the first in tar order.  The kernel
	 * sends RELEASEs asynchronously, so neighbours may swap: count the
	 * evicted files that come after a kept one. */
	f = fopen(list, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		char r[2700], rel[2100];
		struct stat st;
		long long rs, got;

		line[strcspn(line, "\n")] = '\0';
		snprintf(r, sizeof(r), "%s/%s", ref, line);
		if (lstat(r, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1)
			continue;
		snprintf(rel, sizeof(rel), "eph/%s", line);
		got = compare_prefix(rel, r, &rs);
		ck_assert_msg(got == -2 || got == rs, "%s is neither whole nor gone", line);
		if (got == rs) {
			kept++;
			kept_bytes += rs;
			if (first_kept < 0)
				first_kept = idx;
		} else {
			gone++;
			last_gone = idx;
			if (first_kept >= 0)
				gone_after_kept++;
		}
		idx++;
	}
	fclose(f);
	(void)inversions;
	fprintf(stderr,
		"ephemeral: mem_limit %" PRIu64 ": %lld files evicted (evictions %" PRIu64 "), %lld "
		"kept whole (%lld bytes), all verified; first kept file #%lld, last evicted #%lld of "
		"%lld; %lld evicted after the first kept one; mem_used_max %" PRIu64 "\n",
		limit, gone, evictions, kept, kept_bytes, first_kept, last_gone, idx, gone_after_kept,
		max);
	ck_assert_int_gt(gone, 0);
	ck_assert_int_gt(kept, 0);
	/* The last files written are all there. */
	ck_assert_int_lt(last_gone, idx - 1);
	/* LRU order, up to neighbours swapped by asynchronous releases. */
	ck_assert_int_le(gone_after_kept, gone / 10 + 8);
	fs_finish();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", ref, list);
	fs_run(cmd);
}
END_TEST

/* ---- a write(2) that crosses the limit ---------------------------------------- */

START_TEST(test_partial_write_returns_stored_bytes)
{
	enum { EARLY = 2 * MIB, BIG = 16 * MIB };
	unsigned char *early = malloc(EARLY), *buf = malloc(BIG), *back = malloc(BIG);
	uint64_t rs = 99;
	char p[1024];
	struct stat st;
	ssize_t n;
	size_t len;
	char *again;
	int fd;

	fs_mount("mem_limit=8M");
	fill_random(early, EARLY, &rs);
	fs_write_file("early", early, EARLY);
	fill_random(buf, BIG, &rs);
	fs_path(p, sizeof(p), "big");
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	/* Random pages do not compress: 16 MiB cannot fit in 8 MiB.  The
	 * kernel sends 1 MiB requests; the write returns what was stored. */
	n = write(fd, buf, BIG);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, BIG);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, n);
	ck_assert_int_eq(pread(fd, back, BIG, 0), n);
	ck_assert(!memcmp(back, buf, (size_t)n));
	/* The next write meets the limit at once and stores nothing. */
	errno = 0;
	ck_assert_int_eq(write(fd, buf + n, BIG - (size_t)n), -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, n);
	/* An unaligned overwrite inside the file still fits (no new pages
	 * beyond a quarter of it) or fails; either way nothing earlier moves. */
	(void)pwrite(fd, buf, 100, 5);
	ck_assert_int_eq(pread(fd, back, BIG, 0), n);
	ck_assert(!memcmp(back, buf, (size_t)n));
	close(fd);
	again = fs_read_file("early", &len);
	ck_assert_uint_eq(len, EARLY);
	ck_assert(!memcmp(again, early, EARLY));
	free(again);
	ck_assert_uint_ge(fs_stat_value("enospc"), 1);
	free(early);
	free(buf);
	free(back);
	fs_finish();
}
END_TEST

/* ---- ephemeral eviction: LRU order, whole files, open files stay ---------------- */

START_TEST(test_eviction_order_and_rules)
{
	enum { SZ = MIB, NF = 6 };
	/* Least recently used first: f0 is reopened (most recent), f3 stays
	 * open (never evicted). */
	static const int lru[] = { 1, 2, 4, 5, 0 };
	unsigned char *buf = malloc(SZ), *back = malloc(SZ);
	char p[1024], name[64];
	uint64_t rs = 5;
	int k, fd_open, fd, gone[NF] = { 0 }, ngone = 0, seen_kept = 0;

	fs_mount("mem_limit=12M");
	fs_path(p, sizeof(p), "cache");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "ephemeral", 9, 0), 0);
	fill_random(buf, SZ, &rs);
	for (k = 0; k < NF; k++) {
		snprintf(name, sizeof(name), "cache/f%d", k);
		buf[0] = (unsigned char)k;
		fs_write_file(name, buf, SZ);
		/* A closed file joins the LRU when the kernel's (asynchronous)
		 * RELEASE arrives: wait for it, so the order is the order of
		 * the closes. */
		fs_wait_closed("cache");
	}
	fs_path(p, sizeof(p), "cache/f0");
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "\0", 1, 0), 1);	/* f0 now starts with 0 */
	close(fd);
	fs_wait_closed("cache");
	fs_path(p, sizeof(p), "cache/f3");
	fd_open = open(p, O_RDONLY);
	ck_assert_int_ge(fd_open, 0);
	ck_assert_uint_eq(fs_open_files("cache"), 1);
	/* Persistent data until at least three files had to go. */
	for (k = 0; k < 12 && fs_stat_value("evictions") < 3; k++) {
		snprintf(name, sizeof(name), "p%d", k);
		buf[0] = (unsigned char)(100 + k);
		fs_write_file(name, buf, SZ);
	}
	ck_assert_uint_ge(fs_stat_value("evictions"), 3);
	for (k = 0; k < NF; k++) {
		snprintf(name, sizeof(name), "cache/f%d", k);
		gone[k] = !fs_daemon_has(name);
		ngone += gone[k];
	}
	ck_assert_uint_eq(fs_stat_value("evictions"), (uint64_t)ngone);
	/* Evicted files are a prefix of the LRU order. */
	for (k = 0; k < (int)(sizeof(lru) / sizeof(lru[0])); k++) {
		if (!gone[lru[k]])
			seen_kept = 1;
		else
			ck_assert_msg(!seen_kept, "f%d evicted before an older file", lru[k]);
	}
	/* The open file stays, whole, and reads through its descriptor. */
	ck_assert(!gone[3]);
	buf[0] = 3;
	ck_assert_int_eq(pread(fd_open, back, SZ, 0), SZ);
	ck_assert(!memcmp(back, buf, SZ));
	close(fd_open);
	/* Every file left is whole. */
	for (k = 0; k < NF; k++) {
		size_t len;
		char *c;

		if (gone[k])
			continue;
		snprintf(name, sizeof(name), "cache/f%d", k);
		c = fs_read_file(name, &len);
		ck_assert_uint_eq(len, SZ);
		buf[0] = (unsigned char)k;
		ck_assert(!memcmp(c, buf, SZ));
		free(c);
	}
	fprintf(stderr, "eviction: %d of %d ephemeral files evicted, in order:", ngone, NF);
	for (k = 0; k < (int)(sizeof(lru) / sizeof(lru[0])); k++)
		if (gone[lru[k]])
			fprintf(stderr, " f%d", lru[k]);
	fprintf(stderr, "\n");
	free(buf);
	free(back);
	fs_finish();
}
END_TEST

/* ---- automatic compaction after mass deletion ------------------------------------ */

/* Wait (polling; the ceiling only matters on failure) until `pred` holds
 * on the mount's figures. */
static int wait_until(int (*pred)(void *), void *arg)
{
	for (int t = 0; t < 24000; t++) {
		if (pred(arg))
			return 1;
		usleep(5000);
	}
	return 0;
}

/* Every page of the deleted files freed: the kept objects only, and the
 * backend holds exactly the pages tmem lists (tmem unlinks a file's pages
 * first and the backend frees them just after). */
static int deletion_done(void *arg)
{
	return fs_stat_value("objects") == *(uint64_t *)arg &&
	       fs_ctl_value("compress", "pages") == fs_stat_value("pages");
}

/* The policy thread between two runs (policy_runs even). */
static int policy_idle(void *arg)
{
	*(uint64_t *)arg = fs_stat_value("policy_runs");
	return *(uint64_t *)arg % 2 == 0;
}

/* A whole run of the policy thread started and ended after `*arg`. */
static int policy_ran_after(void *arg)
{
	return fs_stat_value("policy_runs") >= *(uint64_t *)arg + 2;
}

/* Automatic compaction after a mass deletion.  What the test needs, and
 * how it gets it whatever the machine's load (the flake it had: see
 * below):
 *   - neighbours in an xcf page belong to different files, so deleting
 *     half of the files leaves every page half used.  PAM gives each
 *     thread its own xcf pool (compress/pam.h), so with several FUSE
 *     workers the layout depends on which worker served which write: on a
 *     busy machine a worker could serve only pages of even files, their
 *     xcf pages emptied whole, little became reclaimable and the policy
 *     rightly never compacted (the test waited 15 s for nothing).  One
 *     worker (threads=1) makes the layout the order of the writes;
 *   - the policy must see the deletion whole, not compact it half done
 *     (then the rest may stay below its threshold).  The deletion is done
 *     between two runs of the policy thread (policy_runs even before, the
 *     same after every page was freed: no run overlapped it), else redone
 *     on a fresh mount;
 *   - the closes' releases and the frees reach the daemon asynchronously:
 *     waited for (deletion_done), not slept for. */
START_TEST(test_auto_compaction_after_deletion)
{
	enum { NF = 8 };
	size_t len, npages;
	unsigned char *img = zc_load_file(zc_corpus_path("pages.img"), &len);
	uint64_t before, after_rm, after, compr, meta, autos0, runs0, runs1, keep = NF / 2;
	char name[64], p[1024];
	int fds[NF], attempt;

	/* 16 MiB of real pages dealt page by page to 8 files, so neighbours
	 * in an xcf page belong to different files; then half of the files
	 * go, and each xcf page keeps about half of its objects. */
	if (len > 16 * MIB)
		len = 16 * MIB;
	npages = len / PAGE;
	for (attempt = 0;; attempt++) {
		ck_assert_msg(attempt < 20, "the policy ran during every deletion");
		fs_mount("threads=1");
		for (int k = 0; k < NF; k++) {
			snprintf(name, sizeof(name), "f%d", k);
			fs_path(p, sizeof(p), name);
			fds[k] = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
			ck_assert_int_ge(fds[k], 0);
		}
		for (size_t i = 0; i < npages; i++)
			ck_assert_int_eq(pwrite(fds[i % NF], img + i * PAGE, PAGE,
						(off_t)(i / NF * PAGE)),
					 PAGE);
		for (int k = 0; k < NF; k++)
			close(fds[k]);
		before = fs_stat_value("mem_used_bytes");
		ck_assert(wait_until(policy_idle, &runs0));
		autos0 = fs_stat_value("auto_compactions");
		for (int k = 1; k < NF; k += 2) {
			snprintf(name, sizeof(name), "f%d", k);
			fs_path(p, sizeof(p), name);
			ck_assert_int_eq(unlink(p), 0);
		}
		ck_assert(wait_until(deletion_done, &keep));
		runs1 = fs_stat_value("policy_runs");
		if (runs1 == runs0)
			break;
		fs_finish();	/* a run overlapped the deletion: again */
	}
	after_rm = fs_stat_value("mem_used_bytes");
	/* The policy thread compacts at its next tick; wait for one whole run
	 * that started after the deletion. */
	ck_assert(wait_until(policy_ran_after, &runs1));
	ck_assert_uint_gt(fs_stat_value("auto_compactions"), autos0);
	after = fs_stat_value("mem_used_bytes");
	compr = fs_stat_value("compr_data_bytes");
	meta = fs_stat_value("meta_bytes");
	fprintf(stderr,
		"compaction: mem_used %" PRIu64 " with every file, %" PRIu64
		" after deleting half, %" PRIu64 " after automatic compaction (live compressed %" PRIu64
		", metadata %" PRIu64 "), pages_compacted %" PRIu64 ", attempt %d\n",
		before, after_rm, after, compr, meta, fs_stat_value("pages_compacted"), attempt + 1);
	ck_assert_uint_gt(fs_stat_value("pages_compacted"), 0);
	ck_assert_uint_lt(after, after_rm);
	/* Near the live data: within 10% of the compressed bytes, plus
	 * metadata and a few pages of rounding. */
	ck_assert_uint_le(after, compr + compr / 10 + meta + 64 * PAGE);
	/* What is left reads back. */
	for (int k = 0; k < NF; k += 2) {
		char *c;
		size_t n;

		snprintf(name, sizeof(name), "f%d", k);
		c = fs_read_file(name, &n);
		ck_assert_uint_eq(n, npages / NF * PAGE);
		for (size_t i = 0; i < npages / NF; i++)
			ck_assert(!memcmp(c + i * PAGE, img + (i * NF + (size_t)k) * PAGE, PAGE));
		free(c);
	}
	free(img);
	fs_finish();
}
END_TEST

/* ---- stress: writers, readers, deletions and compaction at the limit ---------------- */

#define STRESS_SLOTS 24

struct stress_worker {
	int id;
	int ephemeral;		/* works in cache/, else in data/ */
	int rounds;
	const unsigned char *src;	/* corpus bytes to write from */
	size_t src_len;
	int failures;
	int enospc;
	char why[160];		/* the first failure */
	size_t slot_off[STRESS_SLOTS];	/* each slot's last file: its slice, */
	ssize_t slot_len[STRESS_SLOTS];	/* length (-1: unknown, -2: removed) */
};

#define STRESS_FAIL(w, ...)                                                       \
	do {                                                                      \
		if (!(w)->failures++)                                             \
			snprintf((w)->why, sizeof((w)->why), __VA_ARGS__);        \
	} while (0)

/* Each round writes one file from a random slice of the corpus and reads
 * it back through the same descriptor: an open file is never evicted, and
 * persistent files hold exactly what write() said it stored (a prefix when
 * the limit cut it short).  Every third file is removed again.  The slice
 * of each slot's last complete write is recorded for the check at the end
 * (ephemeral files are whole or gone).  An ephemeral worker also reopens
 * the file it closed last round while the others write and evict: it must
 * read back whole, or be gone (ENOENT), never a name over lost pages. */
static void *stress_worker(void *arg)
{
	struct stress_worker *w = arg;
	unsigned char *back = malloc(512 << 10);
	uint64_t rs = (uint64_t)w->id * 7777 + 1;

	for (int r = 0; r < w->rounds; r++) {
		char p[1024], rel[64];
		size_t len = (size_t)zc_rand_below(&rs, 512 << 10) + 1;
		size_t off = (size_t)zc_rand_below(&rs, w->src_len - len);
		int slot = r % STRESS_SLOTS;
		ssize_t n, got;
		int fd;

		snprintf(rel, sizeof(rel), "%s/w%d-%d", w->ephemeral ? "cache" : "data", w->id, slot);
		fs_path(p, sizeof(p), rel);
		if (w->ephemeral && r > 0) {
			int prev = (r - 1) % STRESS_SLOTS;
			char q[1024], qrel[64];

			snprintf(qrel, sizeof(qrel), "cache/w%d-%d", w->id, prev);
			fs_path(q, sizeof(q), qrel);
			fd = w->slot_len[prev] >= 0 ? open(q, O_RDONLY) : -2;
			if (fd == -1 && errno != ENOENT)
				STRESS_FAIL(w, "reopen %s: %s", qrel, strerror(errno));
			if (fd >= 0) {
				got = pread(fd, back, 512 << 10, 0);
				if (got != w->slot_len[prev] ||
				    memcmp(back, w->src + w->slot_off[prev], (size_t)got))
					STRESS_FAIL(w, "reopened %s: read %zd of %zd bytes, or other bytes",
						    qrel, got, w->slot_len[prev]);
				close(fd);
			}
		}
		w->slot_len[slot] = -1;		/* unknown while it is rewritten */
		fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			STRESS_FAIL(w, "open %s: %s", rel, strerror(errno));
			continue;
		}
		n = write(fd, w->src + off, len);
		if (n < 0) {
			if (errno == ENOSPC)
				w->enospc++;
			else
				STRESS_FAIL(w, "write %s: %s", rel, strerror(errno));
			n = 0;
		}
		got = pread(fd, back, 512 << 10, 0);
		if (got != n || memcmp(back, w->src + off, (size_t)n))	/* open: never evicted */
			STRESS_FAIL(w, "%s: read %zd of %zd bytes, or other bytes", rel, got, n);
		close(fd);
		w->slot_off[slot] = off;
		w->slot_len[slot] = n;
		if (r % 3 == 2) {
			if (unlink(p) != 0 && !(w->ephemeral && errno == ENOENT))
				STRESS_FAIL(w, "unlink %s: %s", rel, strerror(errno));
			w->slot_len[slot] = -2;		/* removed */
		}
	}
	free(back);
	return NULL;
}

/* Four writers at a small limit, two in a persistent pool, two in an
 * ephemeral one (which also reopen their last file while the others write
 * and evict), with compactions by hand beside them. */
START_TEST(test_stress_at_limit)
{
	enum { NW = 4 };
	struct stress_worker w[NW];
	pthread_t th[NW];
	size_t len;
	unsigned char *img = zc_load_file(zc_corpus_path("pages.img"), &len);
	char p[1024];
	int enospc = 0, evicted = 0;

	fs_mount("mem_limit=4M");
	fs_path(p, sizeof(p), "cache");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "ephemeral", 9, 0), 0);
	fs_path(p, sizeof(p), "data");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	for (int k = 0; k < NW; k++) {
		w[k] = (struct stress_worker){ .id = k, .ephemeral = k % 2, .rounds = 150,
					       .src = img, .src_len = len };
		ck_assert_int_eq(pthread_create(&th[k], NULL, stress_worker, &w[k]), 0);
	}
	/* Compaction by hand beside them, now and then. */
	for (int t = 0; t < 20; t++) {
		ck_assert_int_eq(ctl_write(".zcache/compact", "1"), 0);
		usleep(20000);
	}
	for (int k = 0; k < NW; k++) {
		ck_assert_int_eq(pthread_join(th[k], NULL), 0);
		ck_assert_msg(w[k].failures == 0, "worker %d: %d failures, first: %s", k,
			      w[k].failures, w[k].why);
		enospc += w[k].enospc;
	}
	/* Quiet now: every persistent file holds what was stored; every
	 * ephemeral file is whole or gone. */
	for (int k = 0; k < NW; k++)
		for (int j = 0; j < STRESS_SLOTS; j++) {
			char rel[64];
			size_t n;
			char *c;

			if (w[k].slot_len[j] < 0)
				continue;
			snprintf(rel, sizeof(rel), "%s/w%d-%d", w[k].ephemeral ? "cache" : "data", k,
				 j);
			if (w[k].ephemeral && !fs_daemon_has(rel)) {
				evicted++;
				continue;
			}
			c = fs_read_file(rel, &n);
			ck_assert_msg(n == (size_t)w[k].slot_len[j] &&
					      !memcmp(c, img + w[k].slot_off[j], n),
				      "%s: %zu bytes, %zd written, or other bytes", rel, n,
				      w[k].slot_len[j]);
			free(c);
		}
	fprintf(stderr, "stress: %d writes refused with ENOSPC, %d ephemeral files gone at the "
		"end, evictions %" PRIu64 ", compactions %" PRIu64 "\n", enospc, evicted,
		fs_stat_value("evictions"), fs_stat_value("compactions"));
	ck_assert_uint_le(fs_stat_value("mem_used_max_bytes"), 4 * MIB + 4 * MIB);
	free(img);
	fs_finish();	/* debug builds check every invariant at exit */
}
END_TEST

/* ---- control files ------------------------------------------------------------------ */

START_TEST(test_control_files)
{
	enum { SZ = MIB };
	unsigned char *buf = malloc(SZ);
	static const char *const figures[] = {
		"auto_compactions", "sgv_purges", "sgv_purged_bytes", "pressure_events",
		"pressure_evictions", "buddy_trims", "buddy_trimmed_bytes", "policy_runs",
	};
	uint64_t rs = 3;
	char *s, name[64];
	size_t len;
	int k, err = 0;

	fs_mount("mem_limit=64M");
	s = fs_read_file(".zcache/mem_limit", &len);
	ck_assert_str_eq(s, "67108864\n");
	free(s);
	/* Lowered at run time: writes meet it. */
	ck_assert_int_eq(ctl_write(".zcache/mem_limit", "4M\n"), 0);
	s = fs_read_file(".zcache/mem_limit", &len);
	ck_assert_str_eq(s, "4194304\n");
	free(s);
	ck_assert_uint_eq(fs_stat_value("mem_limit_bytes"), 4 * MIB);
	ck_assert_int_eq(ctl_write(".zcache/mem_limit", "lots"), EINVAL);
	fill_random(buf, SZ, &rs);
	for (k = 0; k < 16 && !err; k++) {
		char p[1024];
		int fd;

		snprintf(name, sizeof(name), "r%d", k);
		fs_path(p, sizeof(p), name);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ck_assert_int_ge(fd, 0);
		if (write(fd, buf, SZ) != SZ)
			err = errno;
		close(fd);
	}
	ck_assert_int_eq(err, ENOSPC);
	/* Raised again: writes go on, and what was there is intact. */
	ck_assert_int_eq(ctl_write(".zcache/mem_limit", "64M"), 0);
	fs_write_file("after", buf, SZ);
	for (int j = 0; j < k - 1; j++) {
		char *c;

		snprintf(name, sizeof(name), "r%d", j);
		c = fs_read_file(name, &len);
		ck_assert_uint_eq(len, SZ);
		ck_assert(!memcmp(c, buf, SZ));
		free(c);
	}
	/* mem_limit 0: no limit. */
	ck_assert_int_eq(ctl_write(".zcache/mem_limit", "0"), 0);
	ck_assert_uint_eq(fs_stat_value("mem_limit_bytes"), 0);
	/* A compaction asked by hand counts, the automatic ones do not. */
	ck_assert_int_eq(ctl_write(".zcache/compact", "1"), 0);
	ck_assert_uint_ge(fs_stat_value("compactions"), 1);
	/* The policy's figures in every format. */
	for (k = 0; k < (int)(sizeof(figures) / sizeof(figures[0])); k++)
		(void)fs_stat_value(figures[k]);
	s = fs_read_file(".zcache/metrics", &len);
	for (k = 0; k < (int)(sizeof(figures) / sizeof(figures[0])); k++) {
		snprintf(name, sizeof(name), "zcache_%s", figures[k]);
		ck_assert_msg(strstr(s, name) != NULL, "%s missing from metrics", name);
	}
	free(s);
	s = fs_read_file(".zcache/stats.json", &len);
	for (k = 0; k < (int)(sizeof(figures) / sizeof(figures[0])); k++) {
		snprintf(name, sizeof(name), "\"%s\"", figures[k]);
		ck_assert_msg(strstr(s, name) != NULL, "%s missing from stats.json", name);
	}
	free(s);
	/* mem_used_max follows the store even when nobody asks: it is never
	 * below what is used now. */
	ck_assert_uint_ge(fs_stat_value("mem_used_max_bytes"), fs_stat_value("mem_used_bytes"));
	free(buf);
	fs_finish();
}
END_TEST

/* ---- the policy thread in process ------------------------------------------------- */

/* The daemon's stack (tmem/stack.h) and a filesystem on it; the other
 * fields are the stack's pieces, for short. */
struct store {
	struct zc_stack *stack;
	struct buddy *buddy;
	struct sgv_ctx *sgv;
	struct pam *pam;
	struct tmem_store *store;
	struct zfs *fs;
};

static void store_build(struct store *s)
{
	struct zfs_config cfg;

	memset(s, 0, sizeof(*s));
	s->stack = zc_stack_create(NULL);
	ck_assert_ptr_nonnull(s->stack);
	s->buddy = s->stack->buddy;
	s->sgv = s->stack->sgv;
	s->pam = s->stack->pam;
	s->store = s->stack->store;
	memset(&cfg, 0, sizeof(cfg));
	cfg.store = s->store;
	cfg.buddy = s->buddy;
	cfg.sgv = s->sgv;
	cfg.pam = s->pam;
	cfg.uid = getuid();
	cfg.gid = getgid();
	s->fs = zfs_create(&cfg);
	ck_assert_ptr_nonnull(s->fs);
}

static void store_free(struct store *s)
{
	ck_assert_int_eq(zfs_check(s->fs), 0);
	zfs_destroy(s->fs);
	/* pam_check once the store is gone, sgv_ctx_check, buddy_check last
	 * (and the slab caches): zc_stack_destroy runs them in that order. */
	ck_assert_int_eq(zc_stack_destroy(s->stack), 0);
}

static void put_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static struct zfs_snapshot snap_of(struct zfs *fs)
{
	struct zfs_snapshot s;

	ck_assert_int_eq(zfs_ctl_snapshot(&fs->ctl, &s), 0);
	return s;
}

/* Wait (up to ~10 s) until pred(p, fs) holds. */
static int wait_for(int (*pred)(struct zd_policy *, struct zfs *), struct zd_policy *p,
		    struct zfs *fs)
{
	for (int t = 0; t < 1000; t++) {
		if (pred(p, fs))
			return 1;
		usleep(10000);
	}
	return 0;
}

static int trimmed(struct zd_policy *p, struct zfs *fs)
{
	struct zfs_snapshot s = snap_of(fs);
	int ok = s.buddy_trims >= 1 && s.buddy_trimmed_bytes >= BUDDY_CHUNK_SIZE;

	(void)p;
	zfs_snapshot_free(&s);
	return ok;
}

static int two_ticks(struct zd_policy *p, struct zfs *fs)
{
	struct zd_policy_stats st;

	(void)fs;
	zd_policy_stats(p, &st);
	return st.ticks >= 2;
}

static uint64_t want_events;

static int events_reached(struct zd_policy *p, struct zfs *fs)
{
	struct zfs_snapshot s = snap_of(fs);
	int ok = s.pressure_events >= want_events;

	(void)p;
	zfs_snapshot_free(&s);
	return ok;
}

static int sgv_purged(struct zd_policy *p, struct zfs *fs)
{
	struct zfs_snapshot s = snap_of(fs);
	int ok = s.sgv_purges >= 1 && s.sgv_purged_pages >= 4;

	(void)p;
	zfs_snapshot_free(&s);
	return ok;
}

START_TEST(test_policy_thread)
{
	struct store s;
	struct zd_policy_config pc;
	struct zd_policy_stats st;
	struct zd_policy *p;
	struct zfs_snapshot snap;
	struct sgv_pool *pool;
	struct sgv_obj *obj;
	int cnt;
	char psi[256], events[256];

	snprintf(psi, sizeof(psi), "%s/psi", fs_base);
	snprintf(events, sizeof(events), "%s/memory.events", fs_base);
	put_text(psi, "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
		      "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
	put_text(events, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
	store_build(&s);
	/* Required pointers. */
	memset(&pc, 0, sizeof(pc));
	errno = 0;
	ck_assert_ptr_null(zd_policy_start(&pc));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(zd_policy_start(NULL));
	zd_policy_stop(NULL);

	/* Free chunks for the idle trim: mapped, then all free (the
	 * allocator's reserve keeps some of them). */
	{
		void *blk[6];

		for (int k = 0; k < 6; k++) {
			blk[k] = buddy_alloc(s.buddy, BUDDY_CHUNK_SIZE);
			ck_assert_ptr_nonnull(blk[k]);
		}
		for (int k = 0; k < 6; k++)
			buddy_free(s.buddy, blk[k], BUDDY_CHUNK_SIZE);
	}
	pc.mem = &s.fs->mem;
	pc.store = s.store;
	pc.sgv = s.sgv;
	pc.buddy = s.buddy;
	pc.pam = s.pam;
	pc.period_ms = 50;
	pc.psi_path = psi;
	pc.psi_trigger = "";	/* a plain file takes no trigger: read avg10 */
	pc.events_path = events;
	pc.idle_ticks = 2;
	p = zd_policy_start(&pc);
	ck_assert_ptr_nonnull(p);
	zd_policy_stats(p, &st);
	ck_assert_int_eq(st.psi_mode, ZD_PSI_AVG10);
	ck_assert_int_eq(st.have_events, 1);
	ck_assert(wait_for(two_ticks, p, s.fs));
	zd_policy_stats(p, &st);
	ck_assert_uint_eq(st.reactions, 0);
	/* Nothing is put or read: idle, so spare chunks but one go. */
	ck_assert(wait_for(trimmed, p, s.fs));
	{
		struct buddy_stats bs;

		buddy_stats(s.buddy, &bs);
		ck_assert_uint_le(bs.free_chunks, 1);
	}

	/* The cgroup hit memory.high: a reaction, counted (only this watch
	 * can have seen anything). */
	want_events = 1;
	put_text(events, "low 0\nhigh 7\nmax 0\noom 0\noom_kill 0\n");
	ck_assert(wait_for(events_reached, p, s.fs));
	/* avg10 over the threshold: another. */
	snap = snap_of(s.fs);
	want_events = snap.pressure_events + 1;
	zfs_snapshot_free(&snap);
	put_text(psi, "some avg10=42.50 avg60=3.00 avg300=1.00 total=123\n"
		      "full avg10=10.00 avg60=0.00 avg300=0.00 total=0\n");
	ck_assert(wait_for(events_reached, p, s.fs));
	put_text(psi, "some avg10=0.00 avg60=3.00 avg300=1.00 total=123\n");
	zd_policy_stats(p, &st);
	ck_assert_uint_ge(st.reactions, 2);
	ck_assert_uint_ge(st.pressure_signals, st.reactions);

	/* Idle SGV vectors go after their purge interval (1 s here). */
	pool = sgv_pool_create(s.sgv, "policy-test", SGV_CLUSTER_NONE, 0, false, 1);
	ck_assert_ptr_nonnull(pool);
	ck_assert_ptr_nonnull(sgv_pool_alloc(pool, 4 * 4096, 0, NULL, &cnt, &obj));
	sgv_pool_free(obj, NULL);
	ck_assert(wait_for(sgv_purged, p, s.fs));
	zd_policy_stop(p);
	sgv_pool_destroy(pool);

	/* The real PSI file, if any: whatever the mode, it starts and stops. */
	pc.psi_path = NULL;
	pc.psi_trigger = NULL;
	pc.events_path = NULL;
	p = zd_policy_start(&pc);
	ck_assert_ptr_nonnull(p);
	zd_policy_stats(p, &st);
	ck_assert(access("/proc/pressure/memory", R_OK) != 0 || st.psi_mode != ZD_PSI_NONE);
	fprintf(stderr, "policy: this machine's memory pressure watch: %s%s\n",
		st.psi_mode == ZD_PSI_TRIGGER ? "PSI trigger"
		: st.psi_mode == ZD_PSI_AVG10 ? "PSI avg10" : "no PSI",
		st.have_events ? ", cgroup memory.events" : "");
	zd_policy_stop(p);
	store_free(&s);
}
END_TEST

START_TEST(test_parsers)
{
	double v = -1;
	uint64_t high = 9, max = 9;
	char path[512];

	ck_assert_int_eq(zd_policy_parse_psi("some avg10=1.25 avg60=0.50 avg300=0.10 total=9\n"
					     "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
					     &v), 0);
	ck_assert(v > 1.24 && v < 1.26);
	ck_assert_int_eq(zd_policy_parse_psi("full avg10=3.00 avg60=0 avg300=0 total=0\n"
					     "some avg10=7.00 avg60=0 avg300=0 total=0\n",
					     &v), 0);
	ck_assert(v > 6.99 && v < 7.01);
	v = -1;
	ck_assert_int_eq(zd_policy_parse_psi("", &v), -EINVAL);
	ck_assert_int_eq(zd_policy_parse_psi("some total=3\n", &v), -EINVAL);
	ck_assert_int_eq(zd_policy_parse_psi("nonsense\n", &v), -EINVAL);
	ck_assert(v == -1);
	ck_assert_int_eq(zd_policy_parse_events("low 1\nhigh 2\nmax 3\noom 4\n", &high, &max), 0);
	ck_assert_uint_eq(high, 2);
	ck_assert_uint_eq(max, 3);
	ck_assert_int_eq(zd_policy_parse_events("max 5\n", &high, &max), 0);
	ck_assert_uint_eq(high, 0);
	ck_assert_uint_eq(max, 5);
	high = max = 9;
	ck_assert_int_eq(zd_policy_parse_events("low 1\noom 2\nhighest 3\n", &high, &max), -EINVAL);
	ck_assert_uint_eq(high, 9);
	ck_assert_uint_eq(max, 9);
	/* This process's cgroup: either a v2 path or no entry. */
	{
		int ret = zd_policy_cgroup_events_path(path, sizeof(path));

		ck_assert(ret == 0 || ret == -ENOENT);
		if (ret == 0) {
			ck_assert(!strncmp(path, "/sys/fs/cgroup/", 15));
			ck_assert_ptr_nonnull(strstr(path, "/memory.events"));
		}
		if (ret == 0)
			ck_assert_int_eq(zd_policy_cgroup_events_path(path, 8), -ENAMETOOLONG);
	}
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("unit");

	tcase_add_test(tc, test_parsers);
	tcase_add_test(tc, test_policy_thread);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	tc = tcase_create("limit");
	tcase_add_test(tc, test_partial_write_returns_stored_bytes);
	tcase_add_test(tc, test_control_files);
	tcase_add_test(tc, test_eviction_order_and_rules);
	tcase_add_test(tc, test_auto_compaction_after_deletion);
	tcase_add_test(tc, test_fill_tree_until_enospc);
	tcase_add_test(tc, test_tree_into_ephemeral_pool);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	tc = tcase_create("stress");
	tcase_add_test(tc, test_stress_at_limit);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fs_suite_main(make_suite());
}
