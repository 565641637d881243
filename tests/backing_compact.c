/* tests/backing_compact.c - compaction of the backing file and promotion of
 * backed units, end to end on a mounted zcached (fuse/tier.h, "Space";
 * compress/pam.h, "Owner keys and compaction").
 *
 * - fragment: files written through a small memory limit into a named
 *   backing file, then three pages in four punched out and some of the
 *   rest overwritten, scattered, so most segments are left sparse; a write
 *   to /.zcache/backing_compact empties them: the file's allocated size
 *   (st_blocks, and its data extents by SEEK_DATA/SEEK_HOLE) shrinks, the
 *   backing_compact* figures move, and every surviving byte reads back;
 * - race: writers overwrite, punch and read back their files (against a
 *   model of every page) while the thread compacts on every tick
 *   (backing_compact=0) and another thread asks for compactions through
 *   /.zcache as fast as it can; every page must read back as the model
 *   says at every step and at the end (CI runs this suite under tsan too);
 * - units: densified files written back as units, three files in four
 *   removed, the units of the others compacted (the descriptors follow
 *   their records), read back, and then, with room in RAM, read again:
 *   their pages come back into RAM (promotion), the units leave the file,
 *   and a third read touches the file no more;
 * - fault (debug builds): every third pwrite of the backing file fails
 *   (ZC_FAULT_BACKING_WRITE, alloc/backing.h), so compactions fail midway;
 *   each failure is EIO from the control file, and every page still reads
 *   back (the old records stay until every owner has switched).
 * The backing files live in the build directory (a disk: the tier refuses
 * tmpfs).  Mounts go through tests/fsutil.c, unmounted whatever happens.
 */
#include "fsutil.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1u << 20)
#define CORPUS ZC_CORPUS_DIR "/pages.img"

#ifdef ZC_DEBUG
static const int compact_faults = 1;
#else
static const int compact_faults = 0;
#endif

/* The page corpus (64 MiB), loaded once per test. */
static unsigned char *corpus;
static size_t corpus_len;

static void load_corpus(void)
{
	int fd = open(CORPUS, O_RDONLY);
	struct stat st;

	ck_assert_msg(fd >= 0, "%s: %s", CORPUS, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	corpus = malloc((size_t)st.st_size);
	ck_assert_ptr_nonnull(corpus);
	ck_assert_int_eq(pread(fd, corpus, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	corpus_len = (size_t)st.st_size / PAGE * PAGE;
}

/* Page `i` of file `f` in version `v` (v > 0; 0 is a hole: zeros): a corpus
 * page, so it compresses as real data does, stamped in its first 16 bytes
 * so a page from anywhere else is caught. */
static void page_of(unsigned char *dst, unsigned f, uint64_t i, unsigned v)
{
	uint64_t w[2] = { (uint64_t)f << 40 | i, v * 0x9e3779b97f4a7c15ull };

	if (v == 0) {
		memset(dst, 0, PAGE);
		return;
	}
	memcpy(dst, corpus + ((i * 131 + f * 7919 + v * 31) * PAGE) % corpus_len, PAGE);
	memcpy(dst, w, sizeof(w));
}

static void *aligned(size_t n)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, PAGE, n), 0);
	return p;
}

static int open_rel(const char *rel, int flags)
{
	char p[1024];
	int fd;

	fs_path(p, sizeof(p), rel);
	fd = open(p, flags, 0644);
	ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
	return fd;
}

/* Write pages [first, first + n) of file f in version v. */
static void write_pages(int fd, unsigned f, uint64_t first, uint64_t n, unsigned v)
{
	unsigned char *buf = aligned((size_t)n * PAGE);

	for (uint64_t k = 0; k < n; k++)
		page_of(buf + k * PAGE, f, first + k, v);
	ck_assert_int_eq(pwrite(fd, buf, (size_t)n * PAGE, (off_t)(first * PAGE)),
			 (ssize_t)(n * PAGE));
	free(buf);
}

/* Punch pages [first, first + n) out (the file keeps its size). */
static void punch_pages(int fd, uint64_t first, uint64_t n)
{
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   (off_t)(first * PAGE), (off_t)(n * PAGE)), 0);
}

/* Check pages [0, n) of file f, read with O_DIRECT in 1 MiB reads (or
 * 4 KiB ones when `small`), against the versions in v[]. */
static void check_file(const char *rel, unsigned f, const unsigned *v, uint64_t n, int small)
{
	size_t chunk = small ? PAGE : MiB;
	unsigned char *buf = aligned(chunk), *want = aligned(PAGE);
	int fd = open_rel(rel, O_RDONLY | O_DIRECT);

	for (uint64_t i = 0; i < n; i += chunk / PAGE) {
		uint64_t k, m = n - i < chunk / PAGE ? n - i : chunk / PAGE;
		ssize_t r = pread(fd, buf, (size_t)m * PAGE, (off_t)(i * PAGE));

		ck_assert_msg(r == (ssize_t)(m * PAGE), "%s: read at page %" PRIu64 ": %zd (%s)",
			      rel, i, r, strerror(errno));
		for (k = 0; k < m; k++) {
			page_of(want, f, i + k, v[i + k]);
			ck_assert_msg(!memcmp(buf + k * PAGE, want, PAGE),
				      "%s: page %" PRIu64 " (version %u) differs", rel, i + k,
				      v[i + k]);
		}
	}
	close(fd);
	free(want);
	free(buf);
}

/* Bytes allocated to a file: st_blocks, and the sum of its data extents
 * (SEEK_DATA/SEEK_HOLE). */
static void allocated(const char *path, uint64_t *blocks_bytes, uint64_t *data_bytes)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	off_t at = 0, end;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	*blocks_bytes = (uint64_t)st.st_blocks * 512;
	*data_bytes = 0;
	while ((at = lseek(fd, at, SEEK_DATA)) >= 0) {
		end = lseek(fd, at, SEEK_HOLE);
		ck_assert_int_ge(end, at);
		*data_bytes += (uint64_t)(end - at);
		at = end;
	}
	close(fd);
}

/* A named backing file in the build tree (created empty; removed at the
 * end of the test). */
static void backing_file(char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/backing_compact.XXXXXX", ZC_BINARY_DIR);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

/* Write to /.zcache/backing_compact without asserting: 0 or the errno. */
static int compact_now(void)
{
	char p[1024];
	int fd, e = 0;

	snprintf(p, sizeof(p), "%s/.zcache/backing_compact", fs_cur.dir);
	fd = open(p, O_WRONLY);
	ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
	if (write(fd, "1", 1) != 1)
		e = errno;
	close(fd);
	return e;
}

/* ---- fragmentation, then compaction ------------------------------------------- */

#define FRAG_FILES 24u
#define FRAG_PAGES 512u		/* 2 MiB a file, 48 MiB in all */

/* Fill the files, then punch three pages in four and overwrite every 16th
 * survivor, scattered; v[f][i] gets each page's version. */
static void fragment(unsigned v[FRAG_FILES][FRAG_PAGES], unsigned files)
{
	char rel[32];

	for (unsigned f = 0; f < files; f++) {
		int fd;

		snprintf(rel, sizeof(rel), "f%u", f);
		fd = open_rel(rel, O_WRONLY | O_CREAT | O_TRUNC);
		for (uint64_t i = 0; i < FRAG_PAGES; i += 64)
			write_pages(fd, f, i, 64, 1);
		ck_assert_int_eq(fsync(fd), 0);
		close(fd);
		for (unsigned i = 0; i < FRAG_PAGES; i++)
			v[f][i] = 1;
	}
	for (unsigned f = 0; f < files; f++) {
		int fd;

		snprintf(rel, sizeof(rel), "f%u", f);
		fd = open_rel(rel, O_WRONLY);
		for (unsigned i = 0; i < FRAG_PAGES; i++) {
			if ((i * 5 + f) % 4 != 0) {
				punch_pages(fd, i, 1);
				v[f][i] = 0;
			} else if ((i + f) % 16 == 0) {
				write_pages(fd, f, i, 1, 2);
				v[f][i] = 2;
			}
		}
		ck_assert_int_eq(fsync(fd), 0);
		close(fd);
	}
}

static void check_all(unsigned v[FRAG_FILES][FRAG_PAGES], unsigned files, int small)
{
	char rel[32];

	for (unsigned f = 0; f < files; f++) {
		snprintf(rel, sizeof(rel), "f%u", f);
		check_file(rel, f, v[f], FRAG_PAGES, small);
	}
}

START_TEST(test_fragment)
{
	static unsigned v[FRAG_FILES][FRAG_PAGES];
	char opts[600], bfile[400];
	uint64_t blk0, data0, blk1, data1, sparse0, pages0;

	load_corpus();
	backing_file(bfile, sizeof(bfile));
	/* Compaction only when asked: the test decides when. */
	snprintf(opts, sizeof(opts), "mem_limit=8M,backing_compact=off,backing=%s", bfile);
	fs_mount(opts);
	fragment(v, FRAG_FILES);
	pages0 = fs_stat_value("backing_pages");
	sparse0 = fs_stat_value("backing_sparse_bytes");
	allocated(bfile, &blk0, &data0);
	fprintf(stderr, "fragment: %" PRIu64 " pages in the file, %" PRIu64 " KiB allocated (%"
		PRIu64 " KiB of data extents), %" PRIu64 " KiB dead in sparse segments\n", pages0,
		blk0 >> 10, data0 >> 10, sparse0 >> 10);
	ck_assert_uint_gt(pages0, 500);
	ck_assert_uint_gt(sparse0, 4 * MiB);
	ck_assert_uint_eq(fs_stat_value("backing_compactions"), 0);

	ck_assert_int_eq(compact_now(), 0);
	allocated(bfile, &blk1, &data1);
	fprintf(stderr, "fragment: compacted %" PRIu64 " segments, %" PRIu64 " KiB moved, %" PRIu64
		" KiB reclaimed; now %" PRIu64 " KiB allocated (%" PRIu64 " KiB of data), %"
		PRIu64 " KiB sparse\n", fs_stat_value("backing_compactions"),
		fs_stat_value("backing_compact_bytes") >> 10,
		fs_stat_value("backing_compact_reclaimed_bytes") >> 10, blk1 >> 10, data1 >> 10,
		fs_stat_value("backing_sparse_bytes") >> 10);
	ck_assert_uint_gt(fs_stat_value("backing_compactions"), 0);
	ck_assert_uint_gt(fs_stat_value("backing_compact_bytes"), 0);
	ck_assert_uint_gt(fs_stat_value("backing_compact_reclaimed_bytes"), 2 * MiB);
	ck_assert_uint_eq(fs_stat_value("backing_compact_failures"), 0);
	ck_assert_uint_lt(fs_stat_value("backing_sparse_bytes"), sparse0 / 2);
	/* The control file reads as the same figures (backing_compact=off:
	 * nothing compacts between the reads). */
	ck_assert_uint_eq(fs_ctl_value("backing_compact", "backing_compactions"),
			  fs_stat_value("backing_compactions"));
	ck_assert_uint_eq(fs_ctl_value("backing_compact", "backing_compact_reclaimed_bytes"),
			  fs_stat_value("backing_compact_reclaimed_bytes"));
	/* The file gave the space back: at least half what was dead. */
	ck_assert_uint_lt(blk1 + sparse0 / 2, blk0);
	ck_assert_uint_lt(data1 + sparse0 / 2, data0);
	/* Nothing came back into RAM on the way: the pages stayed in the file. */
	ck_assert_uint_ge(fs_stat_value("backing_pages") + 64, pages0);

	check_all(v, FRAG_FILES, 0);
	check_all(v, FRAG_FILES, 1);
	ck_assert_uint_eq(fs_stat_value("backing_read_failures"), 0);
	ck_assert_uint_eq(fs_stat_value("backing_compact_failures"), 0);
	fs_finish();
	unlink(bfile);
	free(corpus);
}
END_TEST

/* ---- writers racing compaction -------------------------------------------------- */

#define RACE_FILES 3u
#define RACE_PAGES 1024u	/* 4 MiB each */
#define RACE_OPS 1500u

struct race {
	unsigned f;
	unsigned v[RACE_PAGES];
	uint64_t seed;
	_Atomic int *stop;
};

static void *race_writer(void *arg)
{
	struct race *r = arg;
	unsigned char *buf = aligned(16 * PAGE), *want = aligned(PAGE);
	char rel[32];
	int fd;

	snprintf(rel, sizeof(rel), "r%u", r->f);
	fd = open_rel(rel, O_RDWR | O_DIRECT);
	for (unsigned op = 0; op < RACE_OPS; op++) {
		uint64_t x = zc_rand_below(&r->seed, 100);
		uint64_t i = zc_rand_below(&r->seed, RACE_PAGES);
		uint64_t n = 1 + zc_rand_below(&r->seed, 16);

		if (i + n > RACE_PAGES)
			n = RACE_PAGES - i;
		if (x < 35) {
			unsigned nv = r->v[i] + 1 + (unsigned)zc_rand_below(&r->seed, 3);

			write_pages(fd, r->f, i, n, nv);
			for (uint64_t k = 0; k < n; k++)
				r->v[i + k] = nv;
		} else if (x < 55) {
			punch_pages(fd, i, n);
			for (uint64_t k = 0; k < n; k++)
				r->v[i + k] = 0;
		} else {
			ck_assert_int_eq(pread(fd, buf, n * PAGE, (off_t)(i * PAGE)),
					 (ssize_t)(n * PAGE));
			for (uint64_t k = 0; k < n; k++) {
				page_of(want, r->f, i + k, r->v[i + k]);
				ck_assert_msg(!memcmp(buf + k * PAGE, want, PAGE),
					      "r%u: page %" PRIu64 " (version %u) differs", r->f,
					      i + k, r->v[i + k]);
			}
		}
	}
	close(fd);
	free(want);
	free(buf);
	return NULL;
}

static void *race_compactor(void *arg)
{
	_Atomic int *stop = arg;
	unsigned long runs = 0;

	while (!atomic_load(stop)) {
		int e = compact_now();

		/* A full file or disk may refuse; nothing else may fail. */
		ck_assert_msg(e == 0 || e == ENOSPC, "backing_compact: %s", strerror(e));
		runs++;
	}
	return (void *)runs;
}

START_TEST(test_race)
{
	static struct race r[RACE_FILES];
	pthread_t w[RACE_FILES], c;
	_Atomic int stop = 0;
	char opts[600], bfile[400], rel[32];
	void *runs;

	load_corpus();
	backing_file(bfile, sizeof(bfile));
	/* The thread compacts whenever a segment is sparse. */
	snprintf(opts, sizeof(opts), "mem_limit=4M,backing_compact=0,backing=%s", bfile);
	fs_mount(opts);
	for (unsigned f = 0; f < RACE_FILES; f++) {
		int fd;

		snprintf(rel, sizeof(rel), "r%u", f);
		fd = open_rel(rel, O_WRONLY | O_CREAT | O_TRUNC);
		for (uint64_t i = 0; i < RACE_PAGES; i += 64)
			write_pages(fd, f, i, 64, 1);
		ck_assert_int_eq(fsync(fd), 0);
		close(fd);
		r[f].f = f;
		r[f].seed = 0x5eed0000u + f;
		r[f].stop = &stop;
		for (unsigned i = 0; i < RACE_PAGES; i++)
			r[f].v[i] = 1;
	}
	ck_assert_uint_gt(fs_stat_value("backing_pages"), RACE_PAGES / 2);
	ck_assert_int_eq(pthread_create(&c, NULL, race_compactor, &stop), 0);
	for (unsigned f = 0; f < RACE_FILES; f++)
		ck_assert_int_eq(pthread_create(&w[f], NULL, race_writer, &r[f]), 0);
	for (unsigned f = 0; f < RACE_FILES; f++)
		ck_assert_int_eq(pthread_join(w[f], NULL), 0);
	atomic_store(&stop, 1);
	ck_assert_int_eq(pthread_join(c, &runs), 0);
	fprintf(stderr, "race: %lu compactions asked, %" PRIu64 " passes, %" PRIu64
		" segments emptied, %" PRIu64 " KiB moved, %" PRIu64 " conflicts\n",
		(unsigned long)(uintptr_t)runs, fs_stat_value("backing_compact_runs"),
		fs_stat_value("backing_compactions"), fs_stat_value("backing_compact_bytes") >> 10,
		fs_stat_value("backing_conflicts"));
	ck_assert_uint_gt(fs_stat_value("backing_compactions"), 0);
	for (unsigned f = 0; f < RACE_FILES; f++) {
		snprintf(rel, sizeof(rel), "r%u", f);
		check_file(rel, f, r[f].v, RACE_PAGES, 0);
	}
	ck_assert_uint_eq(fs_stat_value("backing_read_failures"), 0);
	fs_finish();
	unlink(bfile);
	free(corpus);
}
END_TEST

/* ---- units: compacted, then promoted --------------------------------------------- */

#define UNIT_FILES 64u
#define UNIT_PAGES 64u		/* 256 KiB: four units a file (16 MiB in all) */

START_TEST(test_units)
{
	static unsigned v[UNIT_PAGES];
	char opts[600], bfile[400], rel[32], p[1024];
	uint64_t reads;

	load_corpus();
	for (unsigned i = 0; i < UNIT_PAGES; i++)
		v[i] = 1;
	backing_file(bfile, sizeof(bfile));
	snprintf(opts, sizeof(opts), "mem_limit=256M,densify_idle=0,backing_compact=off,backing=%s",
		 bfile);
	fs_mount(opts);
	for (unsigned f = 0; f < UNIT_FILES; f++) {
		int fd;

		snprintf(rel, sizeof(rel), "u%u", f);
		fd = open_rel(rel, O_WRONLY | O_CREAT | O_TRUNC);
		write_pages(fd, f, 0, UNIT_PAGES, 1);
		ck_assert_int_eq(fsync(fd), 0);
		close(fd);
	}
	fs_ctl_write("densify", "1");
	ck_assert_uint_gt(fs_ctl_value("compress", "units"), UNIT_FILES);
	fs_ctl_write("mem_limit", "2097152");
	for (int k = 0; k < 12000 && fs_ctl_value("compress", "backed_units") < 2 * UNIT_FILES; k++)
		usleep(10000);	/* the writeback thread's next ticks (the ceiling bounds a failure) */
	ck_assert_uint_ge(fs_ctl_value("compress", "backed_units"), 2 * UNIT_FILES);

	/* Three files in four go: the survivors' units sit in sparse segments. */
	for (unsigned f = 0; f < UNIT_FILES; f++) {
		if (f % 4 == 0)
			continue;
		snprintf(rel, sizeof(rel), "u%u", f);
		fs_path(p, sizeof(p), rel);
		ck_assert_int_eq(unlink(p), 0);
	}
	for (int k = 0; k < 12000 && fs_ctl_value("compress", "backed_units") > UNIT_FILES; k++)
		usleep(10000);	/* FORGET is asynchronous */
	ck_assert_uint_gt(fs_stat_value("backing_sparse_bytes"), 0);
	ck_assert_int_eq(compact_now(), 0);
	fprintf(stderr, "units: %" PRIu64 " units in the file, %" PRIu64 " segments compacted, %"
		PRIu64 " KiB moved\n", fs_ctl_value("compress", "backed_units"),
		fs_stat_value("backing_compactions"), fs_stat_value("backing_compact_bytes") >> 10);
	ck_assert_uint_gt(fs_stat_value("backing_compactions"), 0);
	ck_assert_uint_gt(fs_ctl_value("compress", "backed_units"), 0);
	for (unsigned f = 0; f < UNIT_FILES; f += 4) {
		snprintf(rel, sizeof(rel), "u%u", f);
		check_file(rel, f, v, UNIT_PAGES, 1);
	}

	/* Room in RAM again: a read brings unit pages back, one by one. */
	fs_ctl_write("mem_limit", "268435456");
	for (int k = 0; k < 100 && fs_stat_value("backing_pages"); k++) {
		for (unsigned f = 0; f < UNIT_FILES; f += 4) {
			snprintf(rel, sizeof(rel), "u%u", f);
			check_file(rel, f, v, UNIT_PAGES, k & 1);
		}
		if (fs_stat_value("backing_pages"))
			usleep(100000);	/* the allowance is set on the thread's tick */
	}
	fprintf(stderr, "units: %" PRIu64 " promotions, %" PRIu64 " pages and %" PRIu64
		" units left in the file\n", fs_stat_value("backing_promotions"),
		fs_stat_value("backing_pages"), fs_ctl_value("compress", "backed_units"));
	ck_assert_uint_gt(fs_stat_value("backing_promotions"), 0);
	ck_assert_uint_eq(fs_stat_value("backing_pages"), 0);
	ck_assert_uint_eq(fs_ctl_value("compress", "backed_units"), 0);
	/* In RAM now: reading again touches the file no more. */
	reads = fs_stat_value("backing_reads");
	for (unsigned f = 0; f < UNIT_FILES; f += 4) {
		snprintf(rel, sizeof(rel), "u%u", f);
		check_file(rel, f, v, UNIT_PAGES, 0);
	}
	ck_assert_uint_eq(fs_stat_value("backing_reads"), reads);
	ck_assert_uint_eq(fs_stat_value("backing_read_failures"), 0);
	fs_finish();
	unlink(bfile);
	free(corpus);
}
END_TEST

/* ---- failed pwrites during compaction (debug builds) -------------------------------- */

START_TEST(test_fault)
{
	static unsigned v[FRAG_FILES][FRAG_PAGES];
	char opts[600], bfile[400];
	int eio = 0, ok = 0;

	load_corpus();
	backing_file(bfile, sizeof(bfile));
	/* Every third pwrite of the backing file fails: writebacks and
	 * compactions alike (a failed writeback keeps its pages in RAM). */
	ck_assert_int_eq(setenv("ZC_FAULT_BACKING_WRITE", "3/3", 1), 0);
	snprintf(opts, sizeof(opts), "mem_limit=4M,backing_compact=off,backing=%s", bfile);
	fs_mount(opts);
	unsetenv("ZC_FAULT_BACKING_WRITE");
	fragment(v, FRAG_FILES / 2);
	ck_assert_uint_gt(fs_stat_value("backing_sparse_bytes"), 0);
	for (int k = 0; k < 20 && fs_stat_value("backing_sparse_bytes"); k++) {
		int e = compact_now();

		ck_assert_msg(e == 0 || e == EIO, "backing_compact: %s", strerror(e));
		eio += e == EIO;
		ok += e == 0;
		/* Whatever happened, every page reads as it should. */
		check_all(v, FRAG_FILES / 2, 0);
	}
	fprintf(stderr, "fault: %d compactions failed, %d succeeded, %" PRIu64
		" segments emptied, %" PRIu64 " write failures\n", eio, ok,
		fs_stat_value("backing_compactions"), fs_stat_value("backing_write_failures"));
	ck_assert_int_gt(eio, 0);
	ck_assert_uint_eq(fs_stat_value("backing_compact_failures"), (uint64_t)eio);
	ck_assert_uint_gt(fs_stat_value("backing_compactions"), 0);
	check_all(v, FRAG_FILES / 2, 1);
	ck_assert_uint_eq(fs_stat_value("backing_read_failures"), 0);
	fs_finish();
	unlink(bfile);
	free(corpus);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("backing_compact");
	TCase *tc = tcase_create("compact");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_fragment);
	tcase_add_test(tc, test_race);
	tcase_add_test(tc, test_units);
	if (compact_faults)
		tcase_add_test(tc, test_fault);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fs_suite_main(make_suite());
}
