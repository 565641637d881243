/* hardening.c - the daemon under kill signals, hostile users and failing
 * allocations.
 *
 *   kill      SIGKILL leaves a dead mount (ENOTCONN) that `fusermount3 -u`
 *             clears, and a fresh zcached mounts the same directory again;
 *             SIGTERM while several threads write as fast as they can
 *             unmounts cleanly and the daemon exits 0.
 *   security  as uid/gid 65534 (fs_as_nobody): default_permissions is on
 *             and allow_other off unless asked for (mountinfo); a mount
 *             without allow_other refuses other users (the kernel answers
 *             EACCES for a mount root made by root); new files belong to
 *             their creator; /.zcache controls refuse writes; the kind of a
 *             pool directory owned by root cannot be changed.
 *   faults    the daemon started with ZC_FAULT_BUDDY or ZC_FAULT_SLAB in its
 *             environment (alloc/fault.h; compiled in by ZC_DEBUG, which
 *             the asan and debug presets set): every write or create that
 *             meets an injected failure returns an error (ENOMEM; the set
 *             of errnos accepted is ENOMEM, ENOSPC, EIO); a write of
 *             several pages may instead store its first whole pages and
 *             return that short count, and writing the rest then fails;
 *             no page is half written, every page acknowledged reads back
 *             through O_DIRECT and through the page cache, and the daemon
 *             exits 0 at unmount (debug builds run every module's *_check
 *             at exit and exit 1 on a violation).  In a release build the
 *             variables must have no effect.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

/* Whether the daemon built beside this suite injects faults. */
#ifdef ZC_DEBUG
static const int hard_faults_built = 1;
#else
static const int hard_faults_built = 0;
#endif

/* ---- kill --------------------------------------------------------------------- */

START_TEST(test_sigkill_then_remount)
{
	char dir[200], p[1024], cmd[600], *s;
	struct stat st;
	int status;

	fs_mount(NULL);
	snprintf(dir, sizeof(dir), "%s", fs_cur.dir);
	fs_write_file("before", "lost with the daemon", 20);
	ck_assert_int_eq(kill(fs_cur.pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(fs_cur.pid, &status, 0), fs_cur.pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	fs_cur.pid = 0;
	/* A dead FUSE mount stays until someone unmounts it.  ENOTCONN once
	 * the kernel aborted the connection; over io_uring a request that
	 * reached a ring queue before the dead daemon's rings were torn down
	 * ends with ECONNABORTED instead (fs/fuse/dev_uring.c). */
	ck_assert(fs_is_mounted(dir));
	errno = 0;
	ck_assert_int_eq(stat(dir, &st), -1);
	ck_assert_msg(errno == ENOTCONN || errno == ECONNABORTED, "stat of a dead mount: %s",
		      strerror(errno));
	snprintf(cmd, sizeof(cmd), "fusermount3 -u '%s'", dir);
	ck_assert_int_eq(fs_run(cmd), 0);
	ck_assert(!fs_is_mounted(dir));
	ck_assert_int_eq(stat(dir, &st), 0);
	/* A fresh daemon mounts the same directory and works. */
	fs_mount_at(dir, "mem_limit=256M");
	fs_path(p, sizeof(p), "before");
	errno = 0;
	ck_assert_int_eq(stat(p, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	fs_write_file("after", "alive", 5);
	s = fs_read_file("after", NULL);
	ck_assert_str_eq(s, "alive");
	free(s);
	ck_assert_uint_eq(fs_stat_value("pools"), 1);
	fs_finish();
}
END_TEST

#define HARD_WRITERS 4
#define HARD_CHUNK (256u << 10)
#define HARD_WRAP (32u << 20)

struct hard_writer {
	pthread_t thread;
	char path[1024];
	_Atomic uint64_t written;
	_Atomic int *stop;
	int err;			/* errno of the write that ended it */
};

/* Write HARD_CHUNK after HARD_CHUNK (half text, half random bytes) into
 * one file, wrapping at HARD_WRAP, until told to stop or a write fails
 * (the mount went away). */
static void *hard_writer_main(void *arg)
{
	struct hard_writer *w = arg;
	unsigned char *buf = malloc(HARD_CHUNK);
	uint64_t rs = (uint64_t)(uintptr_t)w, off = 0;
	int fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (!buf || fd < 0) {
		w->err = errno;
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (size_t i = 0; i < HARD_CHUNK; i++)
		buf[i] = i < HARD_CHUNK / 2 ? (unsigned char)("zcached "[i % 8]) : (unsigned char)zc_rand(&rs);
	while (!atomic_load(w->stop)) {
		ssize_t n = pwrite(fd, buf, HARD_CHUNK, (off_t)off);

		if (n < 0) {
			w->err = errno;
			break;
		}
		atomic_fetch_add(&w->written, (uint64_t)n);
		off = (off + HARD_CHUNK) % HARD_WRAP;
		buf[rs++ % HARD_CHUNK] ^= 1;
	}
	close(fd);
	free(buf);
	return NULL;
}

START_TEST(test_sigterm_under_writes)
{
	struct hard_writer w[HARD_WRITERS];
	_Atomic int stop = 0;
	char dir[200];
	uint64_t total = 0;
	int st, k, t;

	fs_mount("threads=4,mem_limit=1G");
	snprintf(dir, sizeof(dir), "%s", fs_cur.dir);
	memset(w, 0, sizeof(w));
	for (k = 0; k < HARD_WRITERS; k++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "w%d", k);
		fs_path(w[k].path, sizeof(w[k].path), rel);
		w[k].stop = &stop;
		ck_assert_int_eq(pthread_create(&w[k].thread, NULL, hard_writer_main, &w[k]), 0);
	}
	/* Wait until every writer is well under way (at most a minute). */
	for (t = 0; t < 6000; t++) {
		for (k = 0; k < HARD_WRITERS && atomic_load(&w[k].written) >= (8u << 20); k++)
			;
		if (k == HARD_WRITERS)
			break;
		usleep(10000);
	}
	for (k = 0; k < HARD_WRITERS; k++)
		ck_assert_msg(atomic_load(&w[k].written) >= (8u << 20),
			      "writer %d wrote only %" PRIu64 " bytes (errno %d)", k,
			      (uint64_t)atomic_load(&w[k].written), w[k].err);
	ck_assert_int_eq(kill(fs_cur.pid, SIGTERM), 0);
	st = fs_wait(fs_cur.pid, 60000);
	ck_assert_msg(st != -1, "zcached did not exit after SIGTERM");
	fs_cur.pid = 0;
	atomic_store(&stop, 1);
	for (k = 0; k < HARD_WRITERS; k++) {
		ck_assert_int_eq(pthread_join(w[k].thread, NULL), 0);
		total += atomic_load(&w[k].written);
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "zcached exit status %d", st);
	ck_assert_msg(!fs_is_mounted(dir), "still mounted after SIGTERM");
	fprintf(stderr, "hardening: SIGTERM after %" PRIu64 " MiB written by %d threads\n",
		total >> 20, HARD_WRITERS);
	rmdir(dir);
}
END_TEST

/* ---- security ----------------------------------------------------------------- */

static int hard_create_file(void *arg)
{
	int fd = open((const char *)arg, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0)
		return errno;
	if (write(fd, "mine", 4) != 4) {
		close(fd);
		return errno ? errno : EIO;
	}
	return close(fd) ? errno : 0;
}

static int hard_open_write(void *arg)
{
	int fd = open((const char *)arg, O_WRONLY);

	if (fd < 0)
		return errno;
	if (write(fd, "1\n", 2) != 2) {
		int e = errno;

		close(fd);
		return e ? e : EIO;
	}
	close(fd);
	return 0;
}

static int hard_set_kind(void *arg)
{
	return setxattr((const char *)arg, "user.zcache.kind", "ephemeral", 9, 0) ? errno : 0;
}

static int hard_set_codec(void *arg)
{
	return setxattr((const char *)arg, "user.zcache.compressor", "none", 4, 0) ? errno : 0;
}

static int hard_stat(void *arg)
{
	struct stat st;

	return stat((const char *)arg, &st) ? errno : 0;
}

START_TEST(test_mount_options_default)
{
	char opts[1024];

	fs_mount(NULL);
	fs_super_opts(fs_cur.dir, opts);
	ck_assert_msg(strstr(opts, "default_permissions"), "mount options: %s", opts);
	ck_assert_msg(!strstr(opts, "allow_other"), "mount options: %s", opts);
	/* Root made the mount: the kernel keeps everyone else out. */
	ck_assert_int_eq(fs_as_nobody(hard_stat, fs_cur.dir), EACCES);
	ck_assert_int_eq(hard_stat(fs_cur.dir), 0);
	fs_finish();
}
END_TEST

START_TEST(test_allow_other)
{
	char opts[1024];

	fs_mount("allow_other");
	fs_super_opts(fs_cur.dir, opts);
	ck_assert_msg(strstr(opts, "default_permissions"), "mount options: %s", opts);
	ck_assert_msg(strstr(opts, "allow_other"), "mount options: %s", opts);
	ck_assert_int_eq(fs_as_nobody(hard_stat, fs_cur.dir), 0);
	fs_finish();
}
END_TEST

START_TEST(test_nobody_rules)
{
	static const char *const controls[] = { "compact", "mem_limit", "drop_ephemeral",
						 "sgv_flush" };
	char p[1024], v[64];
	struct stat st;
	size_t k;
	ssize_t n;
	int e;

	fs_mount("allow_other");
	/* A world-writable directory: nobody's files are nobody's. */
	fs_path(p, sizeof(p), "pub");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(chmod(p, 0777), 0);
	fs_path(p, sizeof(p), "pub/mine");
	ck_assert_int_eq(fs_as_nobody(hard_create_file, p), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, 65534);
	ck_assert_uint_eq(st.st_gid, 65534);
	ck_assert_int_eq(st.st_size, 4);
	ck_assert_uint_eq(st.st_mode & 0777, 0644);
	/* default_permissions: the kernel checks modes; a root file 0644 is
	 * not writable for nobody, not even in a world-writable directory. */
	fs_write_file("pub/roots", "root", 4);
	fs_path(p, sizeof(p), "pub/roots");
	ck_assert_int_eq(fs_as_nobody(hard_open_write, p), EACCES);
	/* Nor is a new file in root's 0755 root directory. */
	fs_path(p, sizeof(p), "nobodys");
	ck_assert_int_eq(fs_as_nobody(hard_create_file, p), EACCES);
	/* The /.zcache controls are root's. */
	for (k = 0; k < sizeof(controls) / sizeof(controls[0]); k++) {
		fs_path(p, sizeof(p), ".zcache/");
		strcat(p, controls[k]);
		ck_assert_msg((e = fs_as_nobody(hard_open_write, p)) == EACCES, "%s: errno %d",
			      controls[k], e);
	}
	/* A pool directory root owns: its kind and codec stay as they are,
	 * whether the directory is 0755 or world-writable with the sticky bit. */
	fs_path(p, sizeof(p), "pool");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	e = fs_as_nobody(hard_set_kind, p);
	ck_assert_msg(e == EPERM || e == EACCES, "setxattr kind as nobody: errno %d", e);
	e = fs_as_nobody(hard_set_codec, p);
	ck_assert_msg(e == EPERM || e == EACCES, "setxattr compressor as nobody: errno %d", e);
	ck_assert_int_eq(chmod(p, 01777), 0);
	e = fs_as_nobody(hard_set_kind, p);
	ck_assert_msg(e == EPERM || e == EACCES, "setxattr kind (sticky dir) as nobody: errno %d",
		      e);
	/* Nor plainly world-writable: write permission is not ownership. */
	ck_assert_int_eq(chmod(p, 0777), 0);
	e = fs_as_nobody(hard_set_kind, p);
	ck_assert_msg(e == EPERM, "setxattr kind (0777 dir) as nobody: errno %d", e);
	e = fs_as_nobody(hard_set_codec, p);
	ck_assert_msg(e == EPERM, "setxattr compressor (0777 dir) as nobody: errno %d", e);
	n = getxattr(p, "user.zcache.kind", v, sizeof(v));
	ck_assert_int_eq(n, 10);
	ck_assert(!memcmp(v, "persistent", 10));
	n = getxattr(p, "user.zcache.compressor", v, sizeof(v));
	ck_assert(n == 3 && !memcmp(v, "lz4", 3));
	/* Its owner may, once it is nobody's pool. */
	ck_assert_int_eq(chown(p, 65534, 65534), 0);
	ck_assert_int_eq(fs_as_nobody(hard_set_kind, p), 0);
	n = getxattr(p, "user.zcache.kind", v, sizeof(v));
	ck_assert(n == 9 && !memcmp(v, "ephemeral", 9));
	/* The root directory is the default pool: root's too. */
	e = fs_as_nobody(hard_set_codec, fs_cur.dir);
	ck_assert_msg(e == EPERM || e == EACCES, "setxattr compressor on / as nobody: errno %d", e);
	fs_finish();
}
END_TEST

/* ---- faults ------------------------------------------------------------------- */

#define HARD_FILES 24
#define HARD_PAGES 64			/* pages per file */

/* An errno a failed allocation may surface as. */
static int hard_alloc_errno(int e)
{
	return e == ENOMEM || e == ENOSPC || e == EIO;
}

/* Read a file and compare it with want[0, len): through O_DIRECT (the
 * store itself) when `direct`, else through the page cache (what a failed
 * write may have left there matters as much).  A read that meets an
 * injected failure is retried; reads go a page at a time, so that a retry
 * needs at most one allocation to succeed (a reply vector of many pages
 * would need them all). */
static void hard_verify_one(const char *path, const unsigned char *want, size_t len, int direct)
{
	unsigned char *buf = malloc(len + PAGE);
	size_t done = 0;
	int fd = -1, tries;
	ssize_t n = -1;

	ck_assert_ptr_nonnull(buf);
	for (tries = 0; tries < 1000 && fd < 0; tries++) {
		fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
		ck_assert_msg(fd >= 0 || hard_alloc_errno(errno), "open %s: %s", path,
			      strerror(errno));
	}
	ck_assert_int_ge(fd, 0);
	for (;;) {
		for (tries = 0; tries < 1000; tries++) {
			n = pread(fd, buf + done, PAGE, (off_t)done);
			if (n >= 0)
				break;
			ck_assert_msg(hard_alloc_errno(errno), "read %s at %zu: %s", path, done,
				      strerror(errno));
		}
		ck_assert_msg(n >= 0, "%s: every read at %zu failed", path, done);
		if (n == 0)
			break;
		done += (size_t)n;
		ck_assert_msg(done <= len, "%s: longer than %zu bytes", path, len);
	}
	close(fd);
	ck_assert_msg(done == len, "%s: read %zu bytes, want %zu", path, done, len);
	if (memcmp(buf, want, len)) {
		size_t i = 0;

		while (buf[i] == want[i])
			i++;
		ck_abort_msg("%s: byte %zu (page %zu) differs (%s read)", path, i, i / PAGE,
			     direct ? "O_DIRECT" : "cached");
	}
	free(buf);
}

static void hard_verify(const char *path, const unsigned char *want, size_t len)
{
	hard_verify_one(path, want, len, 1);
	hard_verify_one(path, want, len, 0);
}

/* One page of data: compressible (xcf) or not (a raw page), by page. */
static void hard_page(unsigned char *page, uint64_t *rs)
{
	unsigned kind = (unsigned)zc_rand_below(rs, 3);

	for (size_t i = 0; i < PAGE; i += 8) {
		uint64_t r = zc_rand(rs);

		if (kind == 0)
			r &= 0x0f0f0f0f0f0f0f0full;	/* compresses, not same-filled */
		memcpy(page + i, &r, 8);
	}
	if (kind == 1)
		memset(page + 1024, 'z', 2048);
}

struct hard_fault_tally {
	uint64_t ok;			/* pages acknowledged */
	uint64_t failed;		/* calls that returned an error */
	uint64_t shorts;		/* writes that stored only their first pages */
	uint64_t errs[3];		/* failed writes: ENOMEM, ENOSPC, EIO */
};

/* Write `npages` pages of fresh data at page `first` of a file whose model
 * is m (size *size).  A write either stores everything, or its first pages
 * (a short count, whole pages: a FUSE write request stores page after
 * page and stops at the first failure), or nothing (-1, an allocation
 * errno); the rest is written again until it is stored or fails. */
static void hard_write(int fd, const char *path, unsigned char *m, size_t *size, int first,
		       int npages, uint64_t *rs, struct hard_fault_tally *t)
{
	size_t len = (size_t)npages * PAGE, off = (size_t)first * PAGE, done = 0;
	unsigned char *data = malloc(len);

	ck_assert_ptr_nonnull(data);
	for (int i = 0; i < npages; i++)
		hard_page(data + (size_t)i * PAGE, rs);
	while (done < len) {
		ssize_t n = pwrite(fd, data + done, len - done, (off_t)(off + done));

		if (n > 0) {
			ck_assert_msg(n % PAGE == 0, "%s: write of %zu at %zu stored %zd bytes", path,
				      len - done, off + done, n);
			memcpy(m + off + done, data + done, (size_t)n);
			done += (size_t)n;
			t->ok += (uint64_t)n / PAGE;
			t->shorts += done < len;
			continue;
		}
		ck_assert_msg(n == -1, "%s: write returned %zd", path, n);
		ck_assert_msg(hard_alloc_errno(errno), "%s: write at %zu: %s", path, off + done,
			      strerror(errno));
		t->errs[errno == ENOMEM ? 0 : errno == ENOSPC ? 1 : 2]++;
		t->failed++;
		break;
	}
	if (done && off + done > *size)
		*size = off + done;
	free(data);
}

/* With the daemon started under `var`=`value`: write HARD_FILES files page
 * by page, overwrite every other page, then write runs of 16 pages at
 * random places; every failure must be a clean error and every byte
 * acknowledged must read back (after each pass).  Returns the failed
 * calls seen. */
static uint64_t hard_fault_run(const char *var, const char *value)
{
	unsigned char *model = calloc(HARD_FILES, (size_t)HARD_PAGES * PAGE);
	size_t size[HARD_FILES] = { 0 };
	struct hard_fault_tally t = { 0 };
	uint64_t rs = zc_test_seed();
	char p[1024];
	int k, pass;

	ck_assert_ptr_nonnull(model);
	ck_assert_int_eq(setenv(var, value, 1), 0);
	fs_mount("mem_limit=1G,threads=2");
	ck_assert_int_eq(unsetenv(var), 0);
	for (pass = 0; pass < 3; pass++) {
		for (k = 0; k < HARD_FILES; k++) {
			unsigned char *m = model + (size_t)k * HARD_PAGES * PAGE;
			int fd = -1, tries;

			snprintf(p, sizeof(p), "%s/f%02d", fs_cur.dir, k);
			for (tries = 0; tries < 1000 && fd < 0; tries++) {
				fd = open(p, O_WRONLY | O_CREAT, 0644);
				if (fd < 0) {
					ck_assert_msg(hard_alloc_errno(errno), "create %s: %s", p,
						      strerror(errno));
					t.failed++;
				}
			}
			ck_assert_int_ge(fd, 0);
			if (pass < 2) {
				for (int i = 0; i < HARD_PAGES; i++)
					if (pass == 0 || (i + k) % 2 == 0)
						hard_write(fd, p, m, &size[k], i, 1, &rs, &t);
			} else {
				for (int j = 0; j < 4; j++)
					hard_write(fd, p, m, &size[k],
						   (int)zc_rand_below(&rs, HARD_PAGES - 16 + 1), 16,
						   &rs, &t);
			}
			ck_assert_int_eq(close(fd), 0);
		}
		/* Everything acknowledged so far reads back. */
		for (k = 0; k < HARD_FILES; k++) {
			snprintf(p, sizeof(p), "%s/f%02d", fs_cur.dir, k);
			hard_verify(p, model + (size_t)k * HARD_PAGES * PAGE, size[k]);
		}
	}
	fprintf(stderr,
		"hardening: %s=%s: %" PRIu64 " pages acknowledged, %" PRIu64 " failed calls "
		"(write ENOMEM %" PRIu64 ", ENOSPC %" PRIu64 ", EIO %" PRIu64 "), %" PRIu64
		" short writes\n",
		var, value, t.ok, t.failed, t.errs[0], t.errs[1], t.errs[2], t.shorts);
	ck_assert_uint_gt(t.ok, 0);
	/* Unmount: the debug daemon checks every structure and exits 0. */
	fs_finish();
	free(model);
	return t.failed + t.shorts;
}

START_TEST(test_fault_buddy)
{
	uint64_t failed = hard_fault_run("ZC_FAULT_BUDDY", "400/29");

	if (hard_faults_built)
		ck_assert_uint_gt(failed, 0);
	else
		ck_assert_uint_eq(failed, 0);	/* release builds inject nothing */
}
END_TEST

START_TEST(test_fault_slab)
{
	uint64_t failed = hard_fault_run("ZC_FAULT_SLAB", "200/23");

	if (hard_faults_built)
		ck_assert_uint_gt(failed, 0);
	else
		ck_assert_uint_eq(failed, 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("hardening");
	TCase *tc = tcase_create("kill");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_sigkill_then_remount);
	tcase_add_test(tc, test_sigterm_under_writes);
	suite_add_tcase(s, tc);
	tc = tcase_create("security");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_mount_options_default);
	tcase_add_test(tc, test_allow_other);
	tcase_add_test(tc, test_nobody_rules);
	suite_add_tcase(s, tc);
	tc = tcase_create("faults");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_fault_buddy);
	tcase_add_test(tc, test_fault_slab);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fs_suite_main(make_suite());
}
