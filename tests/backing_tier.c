/* tests/backing_tier.c - the backing tier end to end: a mounted zcached
 * with -o backing (fuse/tier.h) whose data is larger than its memory.
 *
 * - corpus: mem_limit=16M and a backing directory; 256 MiB of the page
 *   corpus (four copies of pages.img, each page stamped with its copy and
 *   number so a page read from the wrong place is caught) written to the
 *   root pool (persistent), then read back with O_DIRECT (no page cache:
 *   what is compared comes from the store and the file) and compared by
 *   checksum; most of it must have gone through the file;
 * - units: files densified into multi-page units, then a small limit: the
 *   units go to the file whole (one record each) and read back intact,
 *   with 1 MiB and 4 KiB reads;
 * - snapshot: a clean stop with snapshot= writes backed pages and units
 *   into the image; the next start, without a backing file, reads back
 *   every byte;
 * - fill: the backing directory on a 24 MiB ext4 on a loop device (root
 *   only; skipped otherwise): files written with O_DIRECT until a write
 *   fails with ENOSPC (RAM and disk both full); every file whose writes
 *   were all acknowledged reads back intact, and once files are removed
 *   writes succeed again (freed records, punched segments);
 * - corrupt: a named backing file damaged behind the daemon's back: every
 *   page reads back right or answers EIO, never another page's bytes;
 * - faults (debug builds, whose backing files honour
 *   ZC_FAULT_BACKING_READ/WRITE, alloc/backing.h): one failed pread gives
 *   EIO for that one read and nothing else, the page reads back fine
 *   afterwards; failed pwrites leave their pages in RAM and lose nothing.
 * The backing directories live in the build directory (a disk: /tmp may be
 * tmpfs, which the tier refuses).  Mounts go through tests/fsutil.c, so
 * they are unmounted whatever happens; the loop device is detached by an
 * atexit handler and by main() after the suite.
 */
#include "fsutil.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1u << 20)
#define CORPUS ZC_CORPUS_DIR "/pages.img"

/* Debug builds inject faults; release builds ignore the variables. */
#ifdef ZC_DEBUG
static const int tier_faults = 1;
#else
static const int tier_faults = 0;
#endif

/* What the running test set up, for its atexit cleanup. */
static struct {
	char bdir[300];		/* a backing directory made in the build tree */
	struct fs_loop loop;	/* the loop's ext4 */
	int atexit_done;
} cur;

static void cleanup_cur(void)
{
	/* Registered before the mount's own handler, so this runs after the
	 * daemon is gone (atexit runs handlers in reverse order). */
	fs_loop_release(&cur.loop);
	if (cur.bdir[0]) {
		rmdir(cur.bdir);
		cur.bdir[0] = '\0';
	}
}

static void at_exit_cleanup(void)
{
	if (!cur.atexit_done) {
		atexit(cleanup_cur);
		cur.atexit_done = 1;
	}
}

/* A fresh backing directory in the build tree. */
static const char *backing_dir(void)
{
	at_exit_cleanup();
	snprintf(cur.bdir, sizeof(cur.bdir), "%s/backing_tier.XXXXXX", ZC_BINARY_DIR);
	ck_assert_ptr_nonnull(mkdtemp(cur.bdir));
	return cur.bdir;
}

/* The page corpus, 64 MiB. */
static unsigned char *load_corpus(size_t *len)
{
	int fd = open(CORPUS, O_RDONLY);
	struct stat st;
	unsigned char *buf;

	ck_assert_msg(fd >= 0, "%s: %s", CORPUS, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_ge((uint64_t)st.st_size, 16 * MiB);
	buf = malloc((size_t)st.st_size);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size / PAGE * PAGE;
	return buf;
}

/* Page `i` of copy `c`: the corpus page with its first 8 bytes stamped. */
static void stamp_page(unsigned char *dst, const unsigned char *corpus, size_t clen, uint64_t c,
		       uint64_t i)
{
	uint64_t w = (c + 1) * 0x9e3779b97f4a7c15ull ^ i;

	memcpy(dst, corpus + (i * PAGE) % clen, PAGE);
	memcpy(dst, &w, sizeof(w));
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void *aligned(size_t n)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, PAGE, n), 0);
	return p;
}

/* Write `pages` stamped pages of copy c to rel (buffered, then fsync);
 * returns the checksum of what was written. */
static uint64_t write_copy(const char *rel, const unsigned char *corpus, size_t clen, uint64_t c,
			   uint64_t pages)
{
	unsigned char *buf = aligned(MiB);
	uint64_t h = 0xcbf29ce484222325ull;
	char p[1024];
	int fd;

	fs_path(p, sizeof(p), rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	for (uint64_t i = 0; i < pages; i += MiB / PAGE) {
		size_t n = 0;

		for (uint64_t k = i; k < pages && k < i + MiB / PAGE; k++, n += PAGE)
			stamp_page(buf + n, corpus, clen, c, k);
		h = fnv(h, buf, n);
		ck_assert_int_eq(pwrite(fd, buf, n, (off_t)(i * PAGE)), (ssize_t)n);
	}
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(close(fd), 0);
	free(buf);
	return h;
}

/* The checksum of rel read with O_DIRECT in `chunk`-byte reads. */
static uint64_t read_sum(const char *rel, size_t chunk)
{
	unsigned char *buf = aligned(chunk);
	uint64_t h = 0xcbf29ce484222325ull;
	char p[1024];
	ssize_t n;
	off_t off = 0;
	int fd;

	fs_path(p, sizeof(p), rel);
	fd = open(p, O_RDONLY | O_DIRECT);
	ck_assert_int_ge(fd, 0);
	while ((n = pread(fd, buf, chunk, off)) > 0) {
		h = fnv(h, buf, (size_t)n);
		off += n;
	}
	ck_assert_msg(n == 0, "read %s at %lld: %s", rel, (long long)off, strerror(errno));
	close(fd);
	free(buf);
	return h;
}

/* ---- 256 MiB through 16 MiB of RAM ------------------------------------------ */

START_TEST(test_corpus_256m)
{
	char opts[512];
	size_t clen;
	unsigned char *corpus = load_corpus(&clen);
	uint64_t pages = clen / PAGE, sums[4];

	snprintf(opts, sizeof(opts), "mem_limit=16M,backing=%s", backing_dir());
	fs_mount(opts);
	for (uint64_t c = 0; c < 4; c++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "copy%" PRIu64, c);
		sums[c] = write_copy(rel, corpus, clen, c, pages);
	}
	fprintf(stderr, "corpus: %" PRIu64 " MiB written, %" PRIu64 " pages in the file, "
		"mem_used %" PRIu64 " bytes\n", 4 * clen / MiB, fs_stat_value("backing_pages"),
		fs_stat_value("mem_used_bytes"));
	ck_assert_uint_eq(fs_stat_value("enospc"), 0);
	ck_assert_uint_eq(fs_stat_value("backing_write_failures"), 0);
	/* 256 MiB of ~2:1 data in 16 MiB: most of it is in the file. */
	ck_assert_uint_gt(fs_stat_value("backing_pages"), 2 * pages);
	for (uint64_t c = 0; c < 4; c++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "copy%" PRIu64, c);
		ck_assert_msg(read_sum(rel, MiB) == sums[c], "copy %" PRIu64 " differs", c);
	}
	ck_assert_uint_gt(fs_stat_value("backing_reads"), pages);
	ck_assert_uint_eq(fs_stat_value("backing_read_failures"), 0);
	/* Removing the files frees their records. */
	for (uint64_t c = 0; c < 4; c++) {
		char rel[32], p[1024];

		snprintf(rel, sizeof(rel), "copy%" PRIu64, c);
		fs_path(p, sizeof(p), rel);
		ck_assert_int_eq(unlink(p), 0);
	}
	for (int k = 0; k < 12000 && fs_stat_value("backing_pages"); k++)
		usleep(10000);	/* FORGET is asynchronous (the ceiling bounds a failure) */
	ck_assert_uint_eq(fs_stat_value("backing_pages"), 0);
	ck_assert_uint_eq(fs_stat_value("backing_bytes"), 0);
	free(corpus);
	fs_finish();
}
END_TEST

/* ---- densified files: units written back whole -------------------------------- */

START_TEST(test_units)
{
	char opts[512];
	size_t clen;
	unsigned char *corpus = load_corpus(&clen);
	uint64_t pages = 8 * MiB / PAGE, sums[4], units;

	/* Everything fits at first; densify makes units; then a small limit
	 * sends them to the file. */
	snprintf(opts, sizeof(opts), "mem_limit=256M,densify_idle=0,backing=%s", backing_dir());
	fs_mount(opts);
	for (uint64_t c = 0; c < 4; c++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "u%" PRIu64, c);
		sums[c] = write_copy(rel, corpus, clen, c + 10, pages);
	}
	fs_ctl_write("densify", "1");
	units = fs_ctl_value("compress", "units");
	ck_assert_uint_gt(units, 0);
	fs_ctl_write("mem_limit", "4194304");
	for (int k = 0; k < 12000 && !fs_ctl_value("compress", "backed_units"); k++)
		usleep(10000);	/* the writeback thread's next tick (the ceiling bounds a failure) */
	fprintf(stderr, "units: %" PRIu64 " units made, %" PRIu64 " written back whole, %" PRIu64
		" pages in the file\n", units, fs_ctl_value("compress", "backed_units"),
		fs_stat_value("backing_pages"));
	ck_assert_uint_gt(fs_ctl_value("compress", "backed_units"), 0);
	for (uint64_t c = 0; c < 4; c++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "u%" PRIu64, c);
		ck_assert_msg(read_sum(rel, MiB) == sums[c], "file %" PRIu64 " differs", c);
		ck_assert_msg(read_sum(rel, PAGE) == sums[c], "file %" PRIu64 " differs (4 KiB reads)", c);
	}
	ck_assert_uint_eq(fs_stat_value("backing_read_failures"), 0);
	for (uint64_t c = 0; c < 4; c++) {
		char rel[32], p[1024];

		snprintf(rel, sizeof(rel), "u%" PRIu64, c);
		fs_path(p, sizeof(p), rel);
		ck_assert_int_eq(unlink(p), 0);
	}
	for (int k = 0; k < 12000 && fs_stat_value("backing_pages"); k++)
		usleep(10000);
	ck_assert_uint_eq(fs_stat_value("backing_pages"), 0);
	ck_assert_uint_eq(fs_ctl_value("compress", "backed_units"), 0);
	free(corpus);
	fs_finish();
}
END_TEST

/* ---- a snapshot of a tiered mount -------------------------------------------- */

/* A clean stop with snapshot= writes pages and units that live in the
 * backing file into the image in the form they had in RAM (compress/pam.h
 * pam_export), so the next start - here without a backing file - serves
 * every byte. */
START_TEST(test_snapshot)
{
	char opts[900], snap[400], dir[sizeof(fs_cur.dir)];
	size_t clen;
	unsigned char *corpus = load_corpus(&clen);
	uint64_t pages = 8 * MiB / PAGE, sums[6];

	snprintf(snap, sizeof(snap), "%s/tier.snap", fs_base);
	unlink(snap);
	snprintf(opts, sizeof(opts), "mem_limit=256M,densify_idle=0,backing=%s,snapshot=%s",
		 backing_dir(), snap);
	fs_mount(opts);
	snprintf(dir, sizeof(dir), "%s", fs_cur.dir);
	for (uint64_t c = 0; c < 6; c++) {
		char rel[32];

		if (c == 4)	/* the first four densified into units, the rest pages */
			fs_ctl_write("densify", "1");
		snprintf(rel, sizeof(rel), "s%" PRIu64, c);
		sums[c] = write_copy(rel, corpus, clen, c + 20, pages);
	}
	fs_ctl_write("mem_limit", "4194304");
	for (int k = 0; k < 12000 && (!fs_ctl_value("compress", "backed_units") ||
				      fs_stat_value("backing_pages") < pages); k++)
		usleep(10000);	/* the writeback thread's ticks (the ceiling bounds a failure) */
	ck_assert_uint_gt(fs_ctl_value("compress", "backed_units"), 0);
	ck_assert_uint_ge(fs_stat_value("backing_pages"), pages);
	fs_finish();		/* writes the snapshot */
	snprintf(opts, sizeof(opts), "mem_limit=256M,snapshot=%s", snap);
	ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
	fs_mount_at(dir, opts);
	for (uint64_t c = 0; c < 6; c++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "s%" PRIu64, c);
		ck_assert_msg(read_sum(rel, MiB) == sums[c], "file %" PRIu64 " differs", c);
	}
	fs_finish();
	unlink(snap);
	free(corpus);
}
END_TEST

/* ---- a backing filesystem that fills ---------------------------------------- */

/* A 24 MiB ext4 on a loop device, mounted at cur.loop.mnt. */
static void loop_ext4(void)
{
	at_exit_cleanup();
	fs_loop_ext4(&cur.loop, 24);
}

#define FILL_FILES 400
#define FILL_PAGES 256		/* 1 MiB files */

/* Write file number f with O_DIRECT; returns 0, or the errno of the write
 * that failed. */
static int fill_write(unsigned f, const unsigned char *corpus, size_t clen, unsigned char *buf)
{
	char rel[32], p[1024];
	int fd, e = 0;

	snprintf(rel, sizeof(rel), "f%u", f);
	fs_path(p, sizeof(p), rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	ck_assert_int_ge(fd, 0);
	for (unsigned i = 0; i < FILL_PAGES; i++)
		stamp_page(buf + (size_t)i * PAGE, corpus, clen, f, (uint64_t)f * 7919 + i);
	for (unsigned i = 0; i < FILL_PAGES && !e; i += 64) {
		ssize_t n = pwrite(fd, buf + (size_t)i * PAGE, 64 * PAGE, (off_t)i * PAGE);

		if (n != 64 * PAGE)
			e = n < 0 ? errno : EIO;
	}
	close(fd);
	return e;
}

static void fill_check(unsigned f, const unsigned char *corpus, size_t clen, unsigned char *buf)
{
	char rel[32];
	uint64_t h = 0xcbf29ce484222325ull;

	for (unsigned i = 0; i < FILL_PAGES; i++)
		stamp_page(buf + (size_t)i * PAGE, corpus, clen, f, (uint64_t)f * 7919 + i);
	h = fnv(h, buf, (size_t)FILL_PAGES * PAGE);
	snprintf(rel, sizeof(rel), "f%u", f);
	ck_assert_msg(read_sum(rel, 64 * PAGE) == h, "file %u differs", f);
}

START_TEST(test_fill_enospc)
{
	char opts[512], p[1024];
	size_t clen;
	unsigned char *corpus, *buf;
	unsigned f, acked = 0;
	int e = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "fill: needs root (losetup, mount), skipped\n");
		return;
	}
	corpus = load_corpus(&clen);
	buf = aligned((size_t)FILL_PAGES * PAGE);
	loop_ext4();
	snprintf(opts, sizeof(opts), "mem_limit=8M,backing=%s", cur.loop.mnt);
	fs_mount(opts);
	for (f = 0; f < FILL_FILES && !e; f++) {
		e = fill_write(f, corpus, clen, buf);
		if (!e)
			acked = f + 1;
	}
	fprintf(stderr, "fill: %u MiB acknowledged before \"%s\"; %" PRIu64 " pages in the file\n",
		acked, strerror(e), fs_stat_value("backing_pages"));
	ck_assert_int_eq(e, ENOSPC);
	ck_assert_uint_gt(acked, 16);
	ck_assert_uint_gt(fs_stat_value("backing_enospc"), 0);
	/* Everything acknowledged reads back. */
	for (f = 0; f < acked; f++)
		fill_check(f, corpus, clen, buf);
	/* The failed file and half the others go; writes succeed again. */
	snprintf(p, sizeof(p), "%s/f%u", fs_cur.dir, acked);
	unlink(p);
	for (f = 0; f < acked; f += 2) {
		snprintf(p, sizeof(p), "%s/f%u", fs_cur.dir, f);
		ck_assert_int_eq(unlink(p), 0);
	}
	for (int k = 0; k < 12000 && fs_stat_value("pages") > (uint64_t)(acked / 2 + 1) * FILL_PAGES;
	     k++)
		usleep(10000);	/* FORGET is asynchronous (the ceiling bounds a failure) */
	for (f = 0; f < 4; f++)
		ck_assert_int_eq(fill_write(FILL_FILES + f, corpus, clen, buf), 0);
	for (f = 1; f < acked; f += 2)
		fill_check(f, corpus, clen, buf);
	for (f = 0; f < 4; f++)
		fill_check(FILL_FILES + f, corpus, clen, buf);
	free(buf);
	free(corpus);
	fs_finish();
}
END_TEST

/* ---- injected I/O errors (debug builds) --------------------------------------- */

START_TEST(test_read_fault)
{
	char opts[512];
	size_t clen;
	unsigned char *corpus = load_corpus(&clen), *buf = aligned(PAGE), *want = aligned(PAGE);
	uint64_t pages = 16 * MiB / PAGE, bad = UINT64_MAX;
	char p[1024];
	int fd, fails = 0;

	/* The 2nd pread of the backing file fails (alloc/backing.h): the read
	 * loop below makes the first ones (writing reads nothing back).  Not a
	 * later one: sequential readahead (256 KiB windows) makes the loop's
	 * pread count depend on how the pages were packed, and it may stay
	 * under a larger N. */
	ck_assert_int_eq(setenv("ZC_FAULT_BACKING_READ", "2", 1), 0);
	snprintf(opts, sizeof(opts), "mem_limit=4M,backing=%s", backing_dir());
	fs_mount(opts);
	unsetenv("ZC_FAULT_BACKING_READ");
	write_copy("data", corpus, clen, 0, pages);
	ck_assert_uint_gt(fs_stat_value("backing_pages"), pages / 4);
	fs_path(p, sizeof(p), "data");
	fd = open(p, O_RDONLY | O_DIRECT);
	ck_assert_int_ge(fd, 0);
	for (uint64_t i = 0; i < pages; i++) {
		ssize_t n = pread(fd, buf, PAGE, (off_t)(i * PAGE));

		stamp_page(want, corpus, clen, 0, i);
		if (n < 0) {
			/* The failed read says EIO: never zeros, never another page. */
			ck_assert_int_eq(errno, EIO);
			fails++;
			bad = i;
			continue;
		}
		ck_assert_int_eq(n, PAGE);
		ck_assert_msg(!memcmp(buf, want, PAGE), "page %" PRIu64 " differs", i);
	}
	ck_assert_int_eq(fails, 1);
	ck_assert_uint_eq(fs_stat_value("backing_read_failures"), 1);
	/* The record is fine: the page reads back. */
	stamp_page(want, corpus, clen, 0, bad);
	ck_assert_int_eq(pread(fd, buf, PAGE, (off_t)(bad * PAGE)), PAGE);
	ck_assert(!memcmp(buf, want, PAGE));
	close(fd);
	free(buf);
	free(want);
	free(corpus);
	fs_finish();
}
END_TEST

START_TEST(test_write_fault)
{
	char opts[512];
	size_t clen;
	unsigned char *corpus = load_corpus(&clen);
	uint64_t pages = 16 * MiB / PAGE, sums[2];

	/* The 3rd pwrite of the backing file fails, and every 5th after it. */
	ck_assert_int_eq(setenv("ZC_FAULT_BACKING_WRITE", "3/5", 1), 0);
	snprintf(opts, sizeof(opts), "mem_limit=4M,backing=%s", backing_dir());
	fs_mount(opts);
	unsetenv("ZC_FAULT_BACKING_WRITE");
	sums[0] = write_copy("a", corpus, clen, 1, pages);
	sums[1] = write_copy("b", corpus, clen, 2, pages);
	ck_assert_uint_gt(fs_stat_value("backing_write_failures"), 0);
	ck_assert_uint_gt(fs_stat_value("backing_pages"), 0);
	ck_assert_uint_eq(read_sum("a", MiB), sums[0]);
	ck_assert_uint_eq(read_sum("b", MiB), sums[1]);
	ck_assert_uint_eq(fs_stat_value("backing_read_failures"), 0);
	free(corpus);
	fs_finish();
}
END_TEST

/* ---- damaged records ------------------------------------------------------------ */

START_TEST(test_corrupt)
{
	char opts[600], file[400], p[1024];
	size_t clen;
	unsigned char *corpus = load_corpus(&clen), *buf = aligned(PAGE), *want = aligned(PAGE);
	uint64_t pages = 16 * MiB / PAGE, bad = 0;
	unsigned char junk[512];
	struct stat st;
	int fd, bfd;

	/* A named backing file, so the test can damage it. */
	snprintf(file, sizeof(file), "%s/file", backing_dir());
	fd = open(file, O_CREAT | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(opts, sizeof(opts), "mem_limit=4M,backing=%s", file);
	fs_mount(opts);
	write_copy("data", corpus, clen, 3, pages);
	ck_assert_uint_gt(fs_stat_value("backing_pages"), pages / 4);
	/* Damage 512 bytes in every MiB of the file (what a bad disk does). */
	bfd = open(file, O_RDWR);
	ck_assert_int_ge(bfd, 0);
	ck_assert_int_eq(fstat(bfd, &st), 0);
	memset(junk, 0x5a, sizeof(junk));
	for (off_t off = 300 << 10; off < st.st_size; off += MiB)
		ck_assert_int_eq(pwrite(bfd, junk, sizeof(junk), off), (ssize_t)sizeof(junk));
	ck_assert_int_eq(fsync(bfd), 0);
	close(bfd);
	/* Every page reads back right or fails with EIO: never other bytes. */
	fs_path(p, sizeof(p), "data");
	fd = open(p, O_RDONLY | O_DIRECT);
	ck_assert_int_ge(fd, 0);
	for (uint64_t i = 0; i < pages; i++) {
		ssize_t n = pread(fd, buf, PAGE, (off_t)(i * PAGE));

		if (n < 0) {
			ck_assert_int_eq(errno, EIO);
			bad++;
			continue;
		}
		ck_assert_int_eq(n, PAGE);
		stamp_page(want, corpus, clen, 3, i);
		ck_assert_msg(!memcmp(buf, want, PAGE), "page %" PRIu64 " differs", i);
	}
	close(fd);
	fprintf(stderr, "corrupt: %" PRIu64 " of %" PRIu64 " pages answered EIO\n", bad, pages);
	ck_assert_uint_gt(bad, 0);
	ck_assert_uint_gt(fs_stat_value("backing_read_failures"), 0);
	free(buf);
	free(want);
	free(corpus);
	fs_finish();
	unlink(file);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("backing_tier");
	TCase *tc = tcase_create("tier");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_corpus_256m);
	tcase_add_test(tc, test_units);
	tcase_add_test(tc, test_snapshot);
	tcase_add_test(tc, test_fill_enospc);
	tcase_add_test(tc, test_corrupt);
	if (tier_faults) {
		tcase_add_test(tc, test_read_fault);
		tcase_add_test(tc, test_write_fault);
	}
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char cmd[400];
	int ret;

	if (!fs_can_mount()) {
		fprintf(stderr, "/dev/fuse or %s not usable, skipping\n", ZCACHED);
		return 77;
	}
	if (fs_base_init() < 0)
		return 1;
	ret = zc_test_main(make_suite());
	/* A test killed by its timeout: its ext4 and loop device too. */
	snprintf(cmd, sizeof(cmd),
		 "for m in '%s'/ext4.*; do umount -l \"$m\" 2>/dev/null; done; "
		 "losetup -j '%s/ext4.img' 2>/dev/null | cut -d: -f1 | xargs -r -n1 losetup -d",
		 fs_base, fs_base);
	fs_run(cmd);
	fs_cleanup_base();
	return ret;
}
