/* tests/backing.c - the libcheck suite of alloc/backing (compressed objects
 * in a file on disk).
 *
 * - API: CRC-32C vectors (hardware and software agree), the location
 *   layout, open's refusals that need no mount (limit, missing path, a
 *   device node, a locked file), a named file truncated at open and close,
 *   every error of write/read/pin/free with nothing changed after it;
 * - round trips of random objects of 1 B .. BACKING_OBJ_MAX read back and
 *   compared, packing (first fit into a segment's tail, appends to the open
 *   segment), segment reuse (lowest first) and holes punched;
 * - a model-based randomized test: writes, reads, frees, pins, compactions
 *   (with owners that take, refuse, free or rewrite during relocation) and
 *   trims against a reference map at a 32 MiB limit, so ENOSPC comes too,
 *   with backing_check after every batch;
 * - corruption: bytes flipped in the file through another descriptor in
 *   every header field and in payloads: the read returns -EIO, compaction
 *   leaves such a record where it is;
 * - faults (ZC_DEBUG builds): injected pread and pwrite failures in reads,
 *   multi-segment writes and both phases of compaction, and the
 *   ZC_FAULT_BACKING_* variables; nothing half-stored, everything before
 *   intact;
 * - limits: the file limit and the write budget end in -ENOSPC with
 *   everything stored before intact, compaction makes room again;
 * - threads: readers that pin under the owner's lock and read outside it,
 *   while a writer writes and frees and a compactor relocates (run under
 *   ThreadSanitizer by CI).
 * Files live in a directory under the build tree (a disk filesystem: the
 * module refuses tmpfs); tests/backing_fs.c has the refusals that need a
 * mount and the filesystem that fills.
 */
#include "alloc/backing.h"

#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char test_dir[256];

/* ------------------------------------------------------------------ */
/* Helpers.                                                           */

/* The content of the object with this tag: len bytes from a PRNG. */
static void fill(unsigned char *buf, size_t len, uint64_t tag)
{
	uint64_t s = tag * 0x9e3779b97f4a7c15ull + 12345;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t v = zc_rand(&s);

		memcpy(buf + i, &v, 8);
	}
	if (i < len) {
		uint64_t v = zc_rand(&s);

		memcpy(buf + i, &v, len - i);
	}
}

/* A size from the mix a backing file sees: mostly compressed pages, some
 * tiny ones, some multi-page units up to the largest object. */
static uint32_t rand_size(uint64_t *rng)
{
	uint64_t r = zc_rand_below(rng, 100);

	if (r < 5)
		return 1 + (uint32_t)zc_rand_below(rng, 64);
	if (r < 80)
		return 64 + (uint32_t)zc_rand_below(rng, 4096 - 63);
	if (r < 95)
		return 4096 + (uint32_t)zc_rand_below(rng, 16384);
	return 1 + (uint32_t)zc_rand_below(rng, BACKING_OBJ_MAX);
}

/* The size of the object with this tag (so threads can verify without
 * sharing sizes). */
static uint32_t size_of_tag(uint64_t tag)
{
	uint64_t s = tag ^ 0x5151;

	return rand_size(&s);
}

static struct backing *open_dir(uint64_t limit, const struct backing_config *cfg)
{
	char err[512];
	struct backing *b = backing_open(test_dir, limit, cfg, err, sizeof(err));

	ck_assert_msg(b != NULL, "backing_open(%s): %s", test_dir, err);
	ck_assert_str_eq(err, "");
	return b;
}

/* A named file in the test directory (created, with some old content). */
static void named_path(char *buf, size_t len, const char *name)
{
	int fd;

	snprintf(buf, len, "%s/%s", test_dir, name);
	fd = open(buf, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "old content that must go", 24), 24);
	close(fd);
}

static struct backing_stats stats_of(struct backing *b)
{
	struct backing_stats st;

	backing_stats(b, &st);
	return st;
}

/* Write one object with content from its tag; returns its location. */
static uint64_t put_one(struct backing *b, uint64_t tag, uint32_t len)
{
	unsigned char *buf = malloc(len);
	struct backing_obj o = { .data = buf, .len = len, .tag = tag };
	uint64_t loc = 0;

	ck_assert_ptr_nonnull(buf);
	fill(buf, len, tag);
	ck_assert_int_eq(backing_write(b, &o, 1, &loc), 0);
	free(buf);
	ck_assert_uint_ne(loc, 0);
	return loc;
}

/* Read the object and compare it with the content of its tag. */
static void verify(struct backing *b, uint64_t loc, uint64_t tag, uint32_t len)
{
	static _Thread_local unsigned char want[BACKING_OBJ_MAX], got[BACKING_OBJ_MAX];
	int rc;

	fill(want, len, tag);
	memset(got, 0x5a, len);
	rc = backing_read(b, loc, tag, got, sizeof(got));
	ck_assert_msg(rc == (int)len, "read of %#llx (tag %llu, %u bytes) returned %d",
		      (unsigned long long)loc, (unsigned long long)tag, len, rc);
	ck_assert_msg(memcmp(want, got, len) == 0, "object %llu read back differs",
		      (unsigned long long)tag);
}

/* Write n objects with tags first..first+n-1 and the given sizes in one
 * call; returns the call's result. */
static int put_batch(struct backing *b, uint64_t first, const uint32_t *lens, size_t n,
		     uint64_t *locs)
{
	struct backing_obj *o = calloc(n, sizeof(*o));
	int rc;

	ck_assert_ptr_nonnull(o);
	for (size_t i = 0; i < n; i++) {
		unsigned char *buf = malloc(lens[i]);

		ck_assert_ptr_nonnull(buf);
		uint32_t t = (first + i) % 3 == 0 ? lens[i] / 2 : 0;	/* a tail for every third */

		fill(buf, lens[i], first + i);
		o[i] = (struct backing_obj){ .data = buf, .len = lens[i] - t, .tag = first + i,
					     .tail = t ? buf + lens[i] - t : NULL, .tail_len = t };
	}
	rc = backing_write(b, o, n, locs);
	for (size_t i = 0; i < n; i++)
		free((void *)o[i].data);
	free(o);
	return rc;
}

/* Flip one byte of the file at `off` through a descriptor of our own
 * (buffered; O_DIRECT reads flush and see it). */
static void flip_byte(const char *path, uint64_t off)
{
	unsigned char c;
	int fd = open(path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)off), 1);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
}

static uint64_t file_off(uint64_t loc)
{
	return ((uint64_t)backing_loc_seg(loc) << BACKING_SEG_SHIFT) + backing_loc_off(loc);
}

/* ------------------------------------------------------------------ */
/* API.                                                               */

START_TEST(test_locations)
{
	struct backing *b = open_dir(0, NULL);
	uint64_t rng = zc_test_seed(), prev_end = 0;
	uint32_t prev_seg = 0;

	for (int i = 0; i < 300; i++) {
		uint32_t len = rand_size(&rng);
		uint64_t loc = put_one(b, (uint64_t)i, len);

		ck_assert_uint_eq(loc >> BACKING_LOC_BITS, 0);
		ck_assert_uint_eq(backing_loc_bytes(loc),
				  (BACKING_HDR_SIZE + len + BACKING_UNIT - 1) / BACKING_UNIT * BACKING_UNIT);
		ck_assert_uint_eq(backing_loc_off(loc) % BACKING_UNIT, 0);
		ck_assert_uint_le(backing_loc_off(loc) + backing_loc_bytes(loc), BACKING_SEG_SIZE);
		/* One object per call: each lands after the one before, at an
		 * aligned offset, or at the start of a later segment. */
		if (backing_loc_seg(loc) == prev_seg && i > 0)
			ck_assert_uint_ge(backing_loc_off(loc), prev_end);
		else if (i > 0)
			ck_assert_uint_eq(backing_loc_off(loc), 0);
		prev_seg = backing_loc_seg(loc);
		prev_end = backing_loc_off(loc) + backing_loc_bytes(loc);
		verify(b, loc, (uint64_t)i, len);
	}
	ck_assert_int_eq(backing_check(b), 0);
	backing_close(b);
}
END_TEST

START_TEST(test_open_refusals)
{
	char err[512], path[400];
	struct backing *b, *b2;
	struct stat st;

	b = backing_open(test_dir, 3 * (uint64_t)BACKING_SEG_SIZE, NULL, err, sizeof(err));
	ck_assert_ptr_null(b);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(err, test_dir) && strstr(err, "minimum"), "message: %s", err);
	ck_assert_ptr_null(strchr(err, '\n'));

	snprintf(path, sizeof(path), "%s/no/such/dir", test_dir);
	b = backing_open(path, 0, NULL, err, sizeof(err));
	ck_assert_ptr_null(b);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_msg(strstr(err, path) != NULL, "message: %s", err);

	b = backing_open("/dev/null", 0, NULL, err, sizeof(err));
	ck_assert_ptr_null(b);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(err, "/dev/null") && strstr(err, "neither"), "message: %s", err);

	/* err may be NULL. */
	ck_assert_ptr_null(backing_open("/dev/null", 0, NULL, NULL, 0));

	/* A named file: truncated at open, locked, truncated at close. */
	named_path(path, sizeof(path), "named");
	b = backing_open(path, 8 * (uint64_t)BACKING_SEG_SIZE, NULL, err, sizeof(err));
	ck_assert_msg(b != NULL, "%s", err);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	b2 = backing_open(path, 0, NULL, err, sizeof(err));
	ck_assert_ptr_null(b2);
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_msg(strstr(err, path) && strstr(err, "in use"), "message: %s", err);
	verify(b, put_one(b, 7, 3000), 7, 3000);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_gt(st.st_size, 3000);
	ck_assert_uint_eq(stats_of(b).segments_limit, 8);
	backing_close(b);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	/* Closed: it can be opened again. */
	b = backing_open(path, 0, NULL, err, sizeof(err));
	ck_assert_msg(b != NULL, "%s", err);
	backing_close(b);
	unlink(path);
	backing_close(NULL);
}
END_TEST

START_TEST(test_errors_change_nothing)
{
	struct backing *b = open_dir(0, NULL);
	unsigned char small[16], *big = calloc(1, BACKING_OBJ_MAX + 1);
	struct backing_obj bad[3] = {
		{ .data = small, .len = 16, .tag = 1 },
		{ .data = small, .len = 0, .tag = 2 },
		{ .data = small, .len = 16, .tag = 3 },
	};
	struct backing_stats st0, st1;
	uint64_t locs[3] = { 0, 0, 0 }, loc, loc2;
	unsigned char out[64];

	memset(small, 1, sizeof(small));
	loc = put_one(b, 100, 40);
	st0 = stats_of(b);
	ck_assert_int_eq(backing_write(b, bad, 3, locs), -EINVAL);
	bad[1] = (struct backing_obj){ .data = big, .len = BACKING_OBJ_MAX + 1, .tag = 2 };
	ck_assert_int_eq(backing_write(b, bad, 3, locs), -EINVAL);
	bad[1] = (struct backing_obj){ .data = NULL, .len = 5, .tag = 2 };
	ck_assert_int_eq(backing_write(b, bad, 3, locs), -EINVAL);
	/* A tail with no bytes behind it, and data and tail over the largest. */
	bad[1] = (struct backing_obj){ .data = small, .len = 5, .tag = 2, .tail_len = 3 };
	ck_assert_int_eq(backing_write(b, bad, 3, locs), -EINVAL);
	bad[1] = (struct backing_obj){ .data = big, .len = BACKING_OBJ_MAX, .tag = 2, .tail = small,
				       .tail_len = 1 };
	ck_assert_int_eq(backing_write(b, bad, 3, locs), -EINVAL);
	ck_assert_uint_eq(locs[0] | locs[1] | locs[2], 0);
	ck_assert_int_eq(backing_write(b, bad, 0, locs), 0);
	st1 = stats_of(b);
	ck_assert_int_eq(memcmp(&st0, &st1, sizeof(st0)), 0);

	/* Malformed locations. */
	ck_assert_int_eq(backing_read(b, 0, 100, out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(backing_read(b, loc | 1ull << 60, 100, out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(backing_read(b, (loc & ~0x1fffull) | 1, 100, out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(backing_free(b, 0), -EINVAL);
	ck_assert_int_eq(backing_pin(b, 0), -EINVAL);
	/* A segment never written, a place beyond the append point. */
	ck_assert_int_eq(backing_read(b, (loc & 0x1fffffffull) | 5ull << 29, 100, out, sizeof(out)),
			 -ESTALE);
	ck_assert_int_eq(backing_read(b, loc + (4096ull << 13), 100, out, sizeof(out)), -ESTALE);
	ck_assert_int_eq(backing_free(b, loc + (4096ull << 13)), -EINVAL);
	ck_assert_int_eq(backing_pin(b, loc + (4096ull << 13)), -ESTALE);
	/* A location that starts inside a record, with its length. */
	ck_assert_int_eq(backing_free(b, loc + (1ull << 13)), -EINVAL);
	/* Too small a buffer, the wrong tag. */
	ck_assert_int_eq(backing_read(b, loc, 100, out, 39), -EOVERFLOW);
	ck_assert_int_eq(backing_read(b, loc, 101, out, sizeof(out)), -EIO);
	st1 = stats_of(b);
	ck_assert_uint_eq(st1.objects, 1);
	ck_assert_uint_eq(st1.reads, 0);
	ck_assert_uint_eq(st1.read_failures, 1);
	ck_assert_uint_eq(st1.checksum_failures, 1);
	verify(b, loc, 100, 40);

	/* Pin, free, read while pinned, unpin; a second free fails. */
	loc2 = put_one(b, 101, 2000);
	ck_assert_int_eq(backing_pin(b, loc2), 0);
	ck_assert_int_eq(backing_pin(b, loc2), 0);
	ck_assert_int_eq(backing_free(b, loc2), 0);
	ck_assert_int_eq(backing_free(b, loc2), -EINVAL);
	ck_assert_int_eq(backing_pin(b, loc2), -ESTALE);
	verify(b, loc2, 101, 2000);
	backing_unpin(b, loc2);
	backing_unpin(b, loc2);
	ck_assert_uint_eq(stats_of(b).objects, 1);
	ck_assert_uint_eq(stats_of(b).frees, 1);
	ck_assert_int_eq(backing_check(b), 0);
	backing_close(b);
	free(big);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Round trips and packing.                                           */

START_TEST(test_roundtrip)
{
	struct backing *b = open_dir(0, NULL);
	uint64_t rng = zc_test_seed();
	enum { N = 3000 };
	uint64_t *locs = calloc(N, sizeof(*locs));
	uint32_t *lens = calloc(N, sizeof(*lens));
	uint64_t live = 0, payload = 0;
	struct backing_stats st;
	size_t done = 0;

	while (done < N) {
		size_t k = 1 + zc_rand_below(&rng, 64);

		if (k > N - done)
			k = N - done;
		for (size_t i = 0; i < k; i++) {
			lens[done + i] = rand_size(&rng);
			payload += lens[done + i];
		}
		ck_assert_int_eq(put_batch(b, done, lens + done, k, locs + done), 0);
		for (size_t i = 0; i < k; i++)
			live += backing_loc_bytes(locs[done + i]);
		done += k;
		if (zc_rand_below(&rng, 8) == 0)
			ck_assert_int_eq(backing_check(b), 0);
	}
	for (size_t i = 0; i < N; i++)
		verify(b, locs[i], i, lens[i]);
	st = stats_of(b);
	ck_assert_uint_eq(st.objects, N);
	ck_assert_uint_eq(st.writes, N);
	ck_assert_uint_eq(st.reads, N);
	ck_assert_uint_eq(st.read_bytes, payload);
	ck_assert_uint_eq(st.live_bytes, live);
	ck_assert_uint_ge(st.write_bytes, live);
	ck_assert_uint_eq(st.segments_open, 1);
	ck_assert_uint_eq(st.segments_free, 0);
	ck_assert_uint_ge(st.segments_used * (uint64_t)BACKING_SEG_SIZE, live);
	ck_assert_uint_le(st.file_bytes, st.segments_used * (uint64_t)BACKING_SEG_SIZE);
	ck_assert_uint_eq(st.budget_left, BACKING_BUDGET_NONE);
	ck_assert_int_eq(backing_check(b), 0);

	/* Free everything in random order: every sealed segment dies. */
	for (size_t i = N; i > 1; i--) {
		size_t j = zc_rand_below(&rng, i);
		uint64_t t = locs[i - 1];

		locs[i - 1] = locs[j];
		locs[j] = t;
	}
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(backing_free(b, locs[i]), 0);
	st = stats_of(b);
	ck_assert_uint_eq(st.objects, 0);
	ck_assert_uint_eq(st.live_bytes, 0);
	ck_assert_uint_eq(st.segments_used, 1);	/* the open one stays */
	ck_assert_int_eq(backing_check(b), 0);
	ck_assert_int_ge(backing_trim(b), 1);
	st = stats_of(b);
	ck_assert_uint_eq(st.holes_punched, st.segments_free);
	ck_assert_uint_le(st.disk_bytes, BACKING_SEG_SIZE);
	ck_assert_int_eq(backing_check(b), 0);
	backing_close(b);
	free(locs);
	free(lens);
}
END_TEST

START_TEST(test_first_fit_and_append)
{
	struct backing *b = open_dir(0, NULL);
	enum { N = 17 };
	uint32_t lens[N];
	uint64_t locs[N], a, c;

	/* Fifteen records of 66032 bytes fill segment 0 but for 58096 bytes:
	 * the 16th record does not fit there and opens segment 1; the 17th,
	 * smaller, comes after it in the call but fills segment 0's tail. */
	for (int i = 0; i < 16; i++)
		lens[i] = 66000;
	lens[16] = 50000;
	ck_assert_int_eq(put_batch(b, 1, lens, N, locs), 0);
	for (int i = 0; i < 15; i++)
		ck_assert_uint_eq(backing_loc_seg(locs[i]), 0);
	ck_assert_uint_eq(backing_loc_seg(locs[15]), 1);
	ck_assert_uint_eq(backing_loc_off(locs[15]), 0);
	ck_assert_uint_eq(backing_loc_seg(locs[16]), 0);
	ck_assert_uint_eq(backing_loc_off(locs[16]), 15 * 66032);
	ck_assert_uint_eq(stats_of(b).write_calls, 2);
	for (int i = 0; i < N; i++)
		verify(b, locs[i], 1 + (uint64_t)i, lens[i]);

	/* Later writes append to the open segment (segment 1) at aligned
	 * offsets after what is there. */
	a = put_one(b, 100, 100);
	c = put_one(b, 101, 100);
	ck_assert_uint_eq(backing_loc_seg(a), 1);
	ck_assert_uint_eq(backing_loc_seg(c), 1);
	ck_assert_uint_ge(backing_loc_off(a), backing_loc_off(locs[15]) + backing_loc_bytes(locs[15]));
	ck_assert_uint_ge(backing_loc_off(c), backing_loc_off(a) + 512);
	ck_assert_uint_eq(backing_loc_off(c) % 512, 0);
	verify(b, a, 100, 100);
	verify(b, c, 101, 100);
	ck_assert_int_eq(backing_check(b), 0);
	backing_close(b);
}
END_TEST

START_TEST(test_reuse_lowest_and_punch)
{
	enum { PER = 16, N = 4 * PER, LEN = 65536 - BACKING_HDR_SIZE };
	char path[400];
	struct backing *b;
	uint32_t lens[N];
	uint64_t locs[N], fsize;
	struct backing_stats st;
	struct stat sb0, sb1;

	named_path(path, sizeof(path), "punch");
	b = backing_open(path, 0, NULL, NULL, 0);
	ck_assert_ptr_nonnull(b);
	/* Records of exactly 64 KiB: sixteen fill a segment. */
	for (int i = 0; i < N; i++)
		lens[i] = LEN;
	ck_assert_int_eq(put_batch(b, 0, lens, N, locs), 0);
	for (int i = 0; i < N; i++)
		ck_assert_uint_eq(backing_loc_seg(locs[i]), (uint32_t)i / PER);
	st = stats_of(b);
	ck_assert_uint_eq(st.segments_used, 4);
	ck_assert_uint_eq(st.segments_open, 0);	/* the last one is full */
	fsize = st.file_bytes;
	ck_assert_uint_eq(fsize, 4 * (uint64_t)BACKING_SEG_SIZE);
	ck_assert_int_eq(stat(path, &sb0), 0);

	/* Segment 1 dies: its number is free, its space punched. */
	for (int i = PER; i < 2 * PER; i++)
		ck_assert_int_eq(backing_free(b, locs[i]), 0);
	st = stats_of(b);
	ck_assert_uint_eq(st.segments_free, 1);
	ck_assert_uint_eq(st.segments_used, 3);
	ck_assert_int_eq(backing_trim(b), 1);
	ck_assert_int_eq(backing_trim(b), 0);
	ck_assert_int_eq(stat(path, &sb1), 0);
	ck_assert_int_lt(sb1.st_blocks, sb0.st_blocks);
	ck_assert_int_eq(sb1.st_size, sb0.st_size);
	st = stats_of(b);
	ck_assert_uint_eq(st.holes_punched, 1);
	ck_assert_uint_eq(st.disk_bytes, 3 * (uint64_t)BACKING_SEG_SIZE);

	/* The next fresh segment is number 1 again; the file does not grow. */
	ck_assert_int_eq(put_batch(b, 100, lens, PER, locs + PER), 0);
	for (int i = PER; i < 2 * PER; i++)
		ck_assert_uint_eq(backing_loc_seg(locs[i]), 1);
	ck_assert_uint_eq(stats_of(b).file_bytes, fsize);
	for (int i = 0; i < N; i++)
		verify(b, locs[i], i < PER || i >= 2 * PER ? (uint64_t)i : 100 + (uint64_t)i - PER,
		       lens[i]);
	ck_assert_int_eq(backing_check(b), 0);
	backing_close(b);
	unlink(path);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The model.                                                         */

struct model {
	struct backing *b;
	uint64_t *loc;		/* by tag: its location, 0 when not stored */
	uint32_t *len;		/* by tag */
	uint64_t *live;		/* tags held */
	size_t *where;		/* by tag: its index in live */
	size_t nlive, ntags, cap;
	uint64_t rng;
	uint64_t taken, refused, freed_meanwhile, rewritten;
};

static void model_add(struct model *m, uint64_t tag, uint64_t loc)
{
	m->loc[tag] = loc;
	m->where[tag] = m->nlive;
	m->live[m->nlive++] = tag;
}

static void model_del(struct model *m, uint64_t tag)
{
	size_t i = m->where[tag];

	m->live[i] = m->live[--m->nlive];
	m->where[m->live[i]] = i;
	m->loc[tag] = 0;
}

static uint64_t model_new_tag(struct model *m, uint32_t len)
{
	ck_assert_uint_lt(m->ntags, m->cap);
	m->len[m->ntags] = len;
	return m->ntags++;
}

/* The owner's side of a relocation, with every behaviour an owner has. */
static bool model_relocate(void *arg, uint64_t tag, const void *data, uint32_t len,
			   uint64_t old_loc, uint64_t new_loc)
{
	struct model *m = arg;
	uint64_t r = zc_rand_below(&m->rng, 100);

	ck_assert_uint_lt(tag, m->ntags);
	ck_assert_uint_eq(m->loc[tag], old_loc);	/* only live records move */
	ck_assert_uint_eq(len, m->len[tag]);		/* the payload comes along, */
	{
		static _Thread_local unsigned char want[BACKING_OBJ_MAX];

		fill(want, len, tag);			/* tail and all */
		ck_assert(memcmp(data, want, len) == 0);
	}
	ck_assert_uint_ne(backing_loc_seg(old_loc), backing_loc_seg(new_loc));
	verify(m->b, new_loc, tag, m->len[tag]);
	if (r < 10) {
		/* Freed meanwhile. */
		ck_assert_int_eq(backing_free(m->b, old_loc), 0);
		model_del(m, tag);
		m->freed_meanwhile++;
		return false;
	}
	if (r < 15) {
		/* Rewritten meanwhile: the owner has stored a new copy (unless
		 * the file is full: then it keeps the old one and refuses). */
		uint64_t loc;

		if (put_batch(m->b, tag, &m->len[tag], 1, &loc) == 0) {
			ck_assert_int_eq(backing_free(m->b, old_loc), 0);
			m->loc[tag] = loc;
			m->rewritten++;
		}
		return false;
	}
	m->loc[tag] = new_loc;
	m->taken++;
	return true;
}

START_TEST(test_model)
{
	struct model m = { 0 };
	enum { STEPS = 6000, CAP = 400000 };
	uint64_t enospc = 0, compacted = 0, check_every = 1;
	struct backing_stats st;

	m.rng = zc_test_seed();
	m.b = open_dir(32ull << 20, NULL);
	m.cap = CAP;
	m.loc = calloc(CAP, sizeof(*m.loc));
	m.len = calloc(CAP, sizeof(*m.len));
	m.live = calloc(CAP, sizeof(*m.live));
	m.where = calloc(CAP, sizeof(*m.where));
	ck_assert(m.loc && m.len && m.live && m.where);

	for (int step = 0; step < STEPS; step++) {
		uint64_t r = zc_rand_below(&m.rng, 100);

		if (r < 40) {
			size_t k = 1 + zc_rand_below(&m.rng, 40);
			uint32_t lens[40];
			uint64_t locs[40], first = m.ntags;
			struct backing_stats before = stats_of(m.b);
			int rc;

			for (size_t i = 0; i < k; i++)
				lens[i] = rand_size(&m.rng);
			rc = put_batch(m.b, first, lens, k, locs);
			if (rc == -ENOSPC) {
				st = stats_of(m.b);
				ck_assert_uint_eq(st.objects, before.objects);
				ck_assert_uint_eq(st.live_bytes, before.live_bytes);
				ck_assert_uint_eq(st.enospc, before.enospc + 1);
				enospc++;
				continue;
			}
			ck_assert_int_eq(rc, 0);
			for (size_t i = 0; i < k; i++)
				model_add(&m, model_new_tag(&m, lens[i]), locs[i]);
		} else if (r < 65) {
			for (int i = 0; i < 4 && m.nlive; i++) {
				uint64_t tag = m.live[zc_rand_below(&m.rng, m.nlive)];

				verify(m.b, m.loc[tag], tag, m.len[tag]);
			}
		} else if (r < 90) {
			size_t k = 1 + zc_rand_below(&m.rng, 30);

			for (size_t i = 0; i < k && m.nlive; i++) {
				uint64_t tag = m.live[zc_rand_below(&m.rng, m.nlive)], loc = m.loc[tag];

				if (zc_rand_below(&m.rng, 4) == 0) {
					/* Pinned across the free: still reads back. */
					ck_assert_int_eq(backing_pin(m.b, loc), 0);
					ck_assert_int_eq(backing_free(m.b, loc), 0);
					ck_assert_int_eq(backing_pin(m.b, loc), -ESTALE);
					verify(m.b, loc, tag, m.len[tag]);
					backing_unpin(m.b, loc);
				} else {
					ck_assert_int_eq(backing_free(m.b, loc), 0);
				}
				ck_assert_int_eq(backing_free(m.b, loc), -EINVAL);
				model_del(&m, tag);
			}
		} else if (r < 96) {
			size_t budget = zc_rand_below(&m.rng, 2) ? SIZE_MAX
						: (size_t)zc_rand_below(&m.rng, 2u << 20);
			int rc = backing_compact(m.b, budget, model_relocate, &m);

			ck_assert_msg(rc >= 0 || rc == -ENOSPC, "compact: %d", rc);
			if (rc > 0)
				compacted += (uint64_t)rc;
		} else {
			ck_assert_int_ge(backing_trim(m.b), 0);
		}
		if (step % check_every == 0) {
			ck_assert_int_eq(backing_check(m.b), 0);
			st = stats_of(m.b);
			ck_assert_uint_eq(st.objects, m.nlive);
			ck_assert_uint_le(st.segments_used, 32);
			if (step > 500)
				check_every = 7;
		}
		if (step % 1500 == 1499)
			for (size_t i = 0; i < m.nlive; i++)
				verify(m.b, m.loc[m.live[i]], m.live[i], m.len[m.live[i]]);
	}
	/* Compact everything that qualifies, then every object reads back.  At
	 * the limit that may end in -ENOSPC: an owner that could not rewrite
	 * (its own write met ENOSPC) kept its old copy, so a victim stayed
	 * alive while the segment kept for compaction filled up. */
	{
		int rc = backing_compact(m.b, SIZE_MAX, model_relocate, &m);

		ck_assert_msg(rc >= 0 || rc == -ENOSPC, "compact: %d", rc);
		if (rc > 0)
			compacted += (uint64_t)rc;
	}
	ck_assert_int_eq(backing_check(m.b), 0);
	for (size_t i = 0; i < m.nlive; i++)
		verify(m.b, m.loc[m.live[i]], m.live[i], m.len[m.live[i]]);
	st = stats_of(m.b);
	fprintf(stderr, "model: %zu objects held, %llu ENOSPC, %llu segments compacted "
		"(%llu taken, %llu refused after a free, %llu after a rewrite), %llu holes punched\n",
		m.nlive, (unsigned long long)enospc, (unsigned long long)compacted,
		(unsigned long long)m.taken, (unsigned long long)m.freed_meanwhile,
		(unsigned long long)m.rewritten, (unsigned long long)st.holes_punched);
	ck_assert_uint_gt(enospc, 0);
	ck_assert_uint_gt(compacted, 0);
	ck_assert_uint_gt(m.taken, 0);
	ck_assert_uint_gt(m.freed_meanwhile + m.rewritten, 0);
	ck_assert_uint_ge(st.compactions, compacted);	/* a call that failed may have emptied some */
	backing_close(m.b);
	free(m.loc);
	free(m.len);
	free(m.live);
	free(m.where);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Corruption.                                                        */

static bool take_all(void *arg, uint64_t tag, const void *data, uint32_t len,
			   uint64_t old_loc, uint64_t new_loc)
{
	(void)data;
	(void)len;
	uint64_t *locs = arg;

	ck_assert_uint_eq(locs[tag], old_loc);
	locs[tag] = new_loc;
	return true;
}

START_TEST(test_corrupt_reads)
{
	char path[400];
	struct backing *b;
	enum { N = 64, K = 7 };
	uint32_t lens[N];
	uint64_t locs[N];
	/* Byte offsets into a record: magic, length, tag, position, crc, the
	 * payload's first byte, and (K - 1) its last byte. */
	const uint32_t at[K - 1] = { 0, 5, 9, 17, 22, 24 };
	unsigned char buf[BACKING_OBJ_MAX];

	named_path(path, sizeof(path), "corrupt");
	b = backing_open(path, 0, NULL, NULL, 0);
	ck_assert_ptr_nonnull(b);
	for (int i = 0; i < N; i++)
		lens[i] = 3000 + (uint32_t)i;
	ck_assert_int_eq(put_batch(b, 0, lens, N, locs), 0);
	for (int k = 0; k < K; k++) {
		uint32_t off = k < K - 1 ? at[k] : BACKING_HDR_SIZE + lens[k] - 1;

		flip_byte(path, file_off(locs[k]) + off);
		ck_assert_int_eq(backing_read(b, locs[k], (uint64_t)k, buf, sizeof(buf)), -EIO);
	}
	ck_assert_uint_eq(stats_of(b).checksum_failures, K);
	ck_assert_uint_eq(stats_of(b).read_failures, K);
	for (int i = K; i < N; i++)
		verify(b, locs[i], (uint64_t)i, lens[i]);
	ck_assert_int_eq(backing_check(b), 0);
	backing_close(b);
	unlink(path);
}
END_TEST

START_TEST(test_corrupt_compaction)
{
	char path[400];
	struct backing *b;
	enum { M = 300, BIG = 20 };
	uint32_t lens[M + BIG];
	uint64_t locs[M + BIG], moved[M + BIG], good = 0, bad = 0;
	unsigned char buf[BACKING_OBJ_MAX];
	int nbig = 0, good_tag = -1, bad_tag = -1;
	uint64_t before;

	named_path(path, sizeof(path), "corrupt2");
	b = backing_open(path, 0, NULL, NULL, 0);
	ck_assert_ptr_nonnull(b);
	for (int i = 0; i < M; i++)
		lens[i] = 3000;
	ck_assert_int_eq(put_batch(b, 0, lens, M, locs), 0);
	ck_assert_uint_eq(backing_loc_seg(locs[M - 1]), 0);
	/* Large objects until one needs segment 1: segment 0 is then sealed. */
	do {
		lens[M + nbig] = BACKING_OBJ_MAX;
		locs[M + nbig] = put_one(b, M + (uint64_t)nbig, BACKING_OBJ_MAX);
		nbig++;
	} while (backing_loc_seg(locs[M + nbig - 1]) == 0 && nbig < BIG);
	ck_assert_uint_eq(backing_loc_seg(locs[M + nbig - 1]), 1);
	/* Keep two small records of segment 0; corrupt the second. */
	for (int i = 0; i < M + nbig - 1; i++) {
		if (i == 10 || i == 20)
			continue;
		ck_assert_int_eq(backing_free(b, locs[i]), 0);
		locs[i] = 0;
	}
	good_tag = 10;
	bad_tag = 20;
	good = locs[good_tag];
	bad = locs[bad_tag];
	flip_byte(path, file_off(bad) + 100);
	memcpy(moved, locs, sizeof(moved));
	before = stats_of(b).checksum_failures;
	/* Segment 0 is the only victim; the corrupt record keeps it alive. */
	ck_assert_int_eq(backing_compact(b, SIZE_MAX, take_all, moved), 0);
	ck_assert_uint_eq(stats_of(b).checksum_failures, before + 1);
	ck_assert_uint_ne(moved[good_tag], good);
	ck_assert_uint_eq(backing_loc_seg(moved[good_tag]), 1);
	ck_assert_uint_eq(moved[bad_tag], bad);
	verify(b, moved[good_tag], (uint64_t)good_tag, 3000);
	ck_assert_int_eq(backing_read(b, bad, (uint64_t)bad_tag, buf, sizeof(buf)), -EIO);
	/* The old copy was freed, but its segment lives on: it still reads. */
	ck_assert_int_eq(backing_read(b, good, (uint64_t)good_tag, buf, sizeof(buf)), 3000);
	/* It is never a victim again. */
	before = stats_of(b).checksum_failures;
	ck_assert_int_eq(backing_compact(b, SIZE_MAX, take_all, moved), 0);
	ck_assert_uint_eq(stats_of(b).checksum_failures, before);
	ck_assert_uint_eq(stats_of(b).compactions, 0);
	ck_assert_int_eq(backing_check(b), 0);
	backing_close(b);
	unlink(path);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Faults (debug builds).                                             */

#ifdef ZC_DEBUG
START_TEST(test_fault_reads_writes)
{
	struct backing *b = open_dir(0, NULL);
	uint32_t lens[40];
	uint64_t locs[40], more[40];
	struct backing_stats st0, st1;
	unsigned char buf[BACKING_OBJ_MAX];

	for (int i = 0; i < 40; i++)
		lens[i] = 40000;	/* two segments' worth */
	ck_assert_int_eq(put_batch(b, 0, lens, 20, locs), 0);

	/* A failed pread: -EIO, counted; the next read works. */
	ck_assert_int_eq(backing_fault_set(b, BACKING_FAULT_READ, 1, 0), 0);
	ck_assert_int_eq(backing_read(b, locs[3], 3, buf, sizeof(buf)), -EIO);
	verify(b, locs[3], 3, lens[3]);
	ck_assert_uint_eq(backing_fault_count(b, BACKING_FAULT_READ), 1);
	ck_assert_uint_eq(stats_of(b).read_failures, 1);
	ck_assert_uint_eq(stats_of(b).checksum_failures, 0);

	/* A write whose first, then second pwrite fails stores nothing. */
	for (uint64_t nth = 1; nth <= 2; nth++) {
		st0 = stats_of(b);
		ck_assert_int_eq(backing_fault_set(b, BACKING_FAULT_WRITE, nth, 0), 0);
		ck_assert_int_eq(put_batch(b, 100, lens, 40, more), -EIO);
		st1 = stats_of(b);
		ck_assert_uint_eq(st1.objects, st0.objects);
		ck_assert_uint_eq(st1.live_bytes, st0.live_bytes);
		ck_assert_uint_eq(st1.segments_used, st0.segments_used);
		ck_assert_uint_eq(st1.writes, st0.writes);
		ck_assert_uint_eq(st1.write_failures, st0.write_failures + 1);
		ck_assert_uint_eq(st1.write_calls, st0.write_calls + nth - 1);
		ck_assert_int_eq(backing_check(b), 0);
		for (int i = 0; i < 20; i++)
			verify(b, locs[i], (uint64_t)i, lens[i]);
	}
	ck_assert_uint_eq(backing_fault_count(b, BACKING_FAULT_WRITE), 2);
	/* Then writes work again, into the same open segment. */
	ck_assert_int_eq(put_batch(b, 100, lens, 40, more), 0);
	for (int i = 0; i < 40; i++)
		verify(b, more[i], 100 + (uint64_t)i, lens[i]);
	ck_assert_int_eq(backing_check(b), 0);
	backing_close(b);
}
END_TEST

START_TEST(test_fault_compaction)
{
	struct backing *b = open_dir(0, NULL);
	enum { N = 600 };
	uint32_t lens[N];
	uint64_t locs[N];

	for (int i = 0; i < N; i++)
		lens[i] = 3500;
	ck_assert_int_eq(put_batch(b, 0, lens, N, locs), 0);
	/* Free three of every four: the sealed segments become victims. */
	for (int i = 0; i < N; i++)
		if (i % 4) {
			ck_assert_int_eq(backing_free(b, locs[i]), 0);
			locs[i] = 0;
		}
	for (int phase = 0; phase < 2; phase++) {
		struct backing_stats st0 = stats_of(b), st1;

		ck_assert_int_eq(backing_fault_set(b, phase ? BACKING_FAULT_WRITE : BACKING_FAULT_READ,
						   1, 0), 0);
		ck_assert_int_eq(backing_compact(b, SIZE_MAX, take_all, locs), -EIO);
		st1 = stats_of(b);
		ck_assert_uint_eq(st1.objects, st0.objects);
		ck_assert_uint_eq(st1.compactions, 0);
		ck_assert_int_eq(backing_check(b), 0);
		for (int i = 0; i < N; i += 4)
			verify(b, locs[i], (uint64_t)i, lens[i]);
	}
	/* The read failure marked its victim: the rest compact. */
	ck_assert_int_gt(backing_compact(b, SIZE_MAX, take_all, locs), 0);
	ck_assert_int_eq(backing_check(b), 0);
	for (int i = 0; i < N; i += 4)
		verify(b, locs[i], (uint64_t)i, lens[i]);
	backing_close(b);
}
END_TEST

START_TEST(test_fault_environment)
{
	struct backing *b;
	uint32_t len = 1000;
	uint64_t loc;

	ck_assert_int_eq(setenv("ZC_FAULT_BACKING_WRITE", "2", 1), 0);
	ck_assert_int_eq(setenv("ZC_FAULT_BACKING_READ", "1/2", 1), 0);
	b = open_dir(0, NULL);
	ck_assert_int_eq(unsetenv("ZC_FAULT_BACKING_WRITE"), 0);
	ck_assert_int_eq(unsetenv("ZC_FAULT_BACKING_READ"), 0);
	loc = put_one(b, 1, len);
	ck_assert_int_eq(put_batch(b, 2, &len, 1, &loc), -EIO);
	loc = put_one(b, 3, len);
	{
		unsigned char buf[2000];

		ck_assert_int_eq(backing_read(b, loc, 3, buf, sizeof(buf)), -EIO);
		ck_assert_int_eq(backing_read(b, loc, 3, buf, sizeof(buf)), (int)len);
		ck_assert_int_eq(backing_read(b, loc, 3, buf, sizeof(buf)), -EIO);
	}
	ck_assert_uint_eq(backing_fault_count(b, BACKING_FAULT_WRITE), 1);
	ck_assert_uint_eq(backing_fault_count(b, BACKING_FAULT_READ), 2);
	backing_close(b);
}
END_TEST
#else
START_TEST(test_fault_release)
{
	struct backing *b = open_dir(0, NULL);

	ck_assert_int_eq(backing_fault_set(b, BACKING_FAULT_READ, 1, 0), -EOPNOTSUPP);
	ck_assert_int_eq(backing_fault_set(b, BACKING_FAULT_WRITE, 1, 0), -EOPNOTSUPP);
	verify(b, put_one(b, 1, 100), 1, 100);
	ck_assert_uint_eq(backing_fault_count(b, BACKING_FAULT_WRITE), 0);
	backing_close(b);
}
END_TEST
#endif

/* ------------------------------------------------------------------ */
/* Limits.                                                            */

START_TEST(test_limit)
{
	struct backing *b = open_dir(6ull << 20, NULL);
	enum { CAP = 4000 };
	uint64_t *locs = calloc(CAP, sizeof(*locs));
	uint32_t lens[16];
	size_t n = 0;
	int rc = 0, emptied;
	struct backing_stats st;

	for (int i = 0; i < 16; i++)
		lens[i] = 2000;
	while (n + 16 <= CAP && (rc = put_batch(b, n, lens, 16, locs + n)) == 0)
		n += 16;
	ck_assert_int_eq(rc, -ENOSPC);
	st = stats_of(b);
	ck_assert_uint_eq(st.segments_used, 5);	/* one kept for compaction */
	ck_assert_uint_eq(st.objects, n);
	ck_assert_uint_eq(st.enospc, 1);
	ck_assert_uint_eq(st.write_failures, 0);
	ck_assert_int_eq(backing_check(b), 0);
	for (size_t i = 0; i < n; i++)
		verify(b, locs[i], i, 2000);

	/* Free two of three: compaction empties segments; writes fit again. */
	for (size_t i = 0; i < n; i++)
		if (i % 3) {
			ck_assert_int_eq(backing_free(b, locs[i]), 0);
			locs[i] = 0;
		}
	emptied = backing_compact(b, SIZE_MAX, take_all, locs);
	ck_assert_int_ge(emptied, 2);
	ck_assert_int_eq(backing_check(b), 0);
	for (size_t i = 0; i < n; i += 3)
		verify(b, locs[i], i, 2000);
	ck_assert_int_eq(put_batch(b, n, lens, 16, locs + n), 0);
	ck_assert_uint_le(stats_of(b).segments_used, 5);
	backing_close(b);
	free(locs);
}
END_TEST

START_TEST(test_budget)
{
	struct backing_config cfg = BACKING_CONFIG_DEFAULT;
	struct backing *b;
	uint32_t lens[64];
	uint64_t locs[64];
	struct backing_stats st;
	int n = 0, rc;

	cfg.write_budget = 100000;
	b = open_dir(0, &cfg);
	for (int i = 0; i < 64; i++)
		lens[i] = 3000;
	/* 8 records of 3024 bytes: 24576 bytes a write with 512-byte
	 * alignment (at most 8 x 3024 + 4095 with any). */
	while ((rc = put_batch(b, (uint64_t)n, lens + n, 8, locs + n)) == 0)
		n += 8;
	ck_assert_int_eq(rc, -ENOSPC);
	st = stats_of(b);
	ck_assert_uint_eq(st.objects, (uint64_t)n);
	ck_assert_uint_eq(st.write_bytes + st.budget_left, 100000);
	ck_assert_uint_lt(st.budget_left, 8 * 3024 + 4096);
	ck_assert_uint_eq(st.enospc, 1);
	/* A small object that fits what is left still goes in. */
	if (st.budget_left >= 512) {
		lens[n] = 100;
		ck_assert_int_eq(put_batch(b, (uint64_t)n, lens + n, 1, locs + n), 0);
		n++;
	}
	backing_budget_set(b, BACKING_BUDGET_NONE);
	ck_assert_int_eq(put_batch(b, (uint64_t)n, lens + n, 8, locs + n), 0);
	n += 8;
	ck_assert_uint_eq(stats_of(b).budget_left, BACKING_BUDGET_NONE);
	backing_budget_set(b, 0);
	ck_assert_int_eq(put_batch(b, (uint64_t)n, lens + n, 1, locs + n), -ENOSPC);
	for (int i = 0; i < n; i++)
		verify(b, locs[i], (uint64_t)i, lens[i]);
	ck_assert_int_eq(backing_check(b), 0);
	backing_close(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Threads.                                                           */

enum { SLOTS = 1024, READERS = 3 };

struct slot {
	pthread_mutex_t lock;
	uint64_t loc;		/* protected by lock; 0: empty */
	uint64_t tag;		/* protected by lock */
};

struct shared {
	struct backing *b;
	struct slot slot[SLOTS];
	atomic_int writer_done;
	atomic_ullong reads, relocated;
	uint64_t seed;
};

static bool thr_relocate(void *arg, uint64_t tag, const void *data, uint32_t len,
			   uint64_t old_loc, uint64_t new_loc)
{
	(void)data;
	(void)len;
	struct shared *sh = arg;
	struct slot *s = &sh->slot[tag >> 32];
	bool took = false;

	pthread_mutex_lock(&s->lock);
	if (s->loc == old_loc && s->tag == tag) {
		s->loc = new_loc;
		took = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (took)
		atomic_fetch_add(&sh->relocated, 1);
	return took;
}

static void *thr_reader(void *arg)
{
	struct shared *sh = arg;
	uint64_t rng = sh->seed ^ (uint64_t)pthread_self();
	unsigned char *want = malloc(BACKING_OBJ_MAX), *got = malloc(BACKING_OBJ_MAX);

	/* Until the writer is done, and at least 3000 picks. */
	for (int i = 0; i < 3000 || !atomic_load(&sh->writer_done); i++) {
		struct slot *s = &sh->slot[zc_rand_below(&rng, SLOTS)];
		uint64_t loc, tag;
		uint32_t len;
		int rc;

		pthread_mutex_lock(&s->lock);
		loc = s->loc;
		tag = s->tag;
		if (loc)
			ck_assert_int_eq(backing_pin(sh->b, loc), 0);
		pthread_mutex_unlock(&s->lock);
		if (!loc)
			continue;
		len = size_of_tag(tag);
		rc = backing_read(sh->b, loc, tag, got, BACKING_OBJ_MAX);
		backing_unpin(sh->b, loc);
		ck_assert_int_eq(rc, (int)len);
		fill(want, len, tag);
		ck_assert(memcmp(want, got, len) == 0);
		atomic_fetch_add(&sh->reads, 1);
	}
	free(want);
	free(got);
	return NULL;
}

static void *thr_writer(void *arg)
{
	struct shared *sh = arg;
	uint64_t rng = sh->seed * 3 + 1, gen = 1;
	unsigned char *bufs[16];

	for (int i = 0; i < 16; i++)
		bufs[i] = malloc(BACKING_OBJ_MAX);
	for (int round = 0; round < 1500; round++) {
		struct backing_obj o[16] = { { 0 } };	/* no tails */
		uint64_t locs[16];
		uint32_t idx[16];
		int k = 0;

		/* Fill some empty slots (only this thread fills or empties). */
		for (int t = 0; t < 16; t++) {
			uint32_t i = (uint32_t)zc_rand_below(&rng, SLOTS);
			bool empty, dup = false;

			for (int j = 0; j < k; j++)
				dup |= idx[j] == i;
			pthread_mutex_lock(&sh->slot[i].lock);
			empty = sh->slot[i].loc == 0;
			pthread_mutex_unlock(&sh->slot[i].lock);
			if (!empty || dup)
				continue;
			idx[k] = i;
			o[k].tag = (uint64_t)i << 32 | gen++;
			o[k].len = size_of_tag(o[k].tag);
			fill(bufs[k], o[k].len, o[k].tag);
			o[k].data = bufs[k];
			k++;
		}
		if (k) {
			int rc = backing_write(sh->b, o, (size_t)k, locs);

			ck_assert_msg(rc == 0, "write: %d", rc);
			for (int j = 0; j < k; j++) {
				pthread_mutex_lock(&sh->slot[idx[j]].lock);
				sh->slot[idx[j]].loc = locs[j];
				sh->slot[idx[j]].tag = o[j].tag;
				pthread_mutex_unlock(&sh->slot[idx[j]].lock);
			}
		}
		/* Empty some slots. */
		for (int t = 0; t < 14; t++) {
			struct slot *s = &sh->slot[zc_rand_below(&rng, SLOTS)];

			pthread_mutex_lock(&s->lock);
			if (s->loc) {
				ck_assert_int_eq(backing_free(sh->b, s->loc), 0);
				s->loc = 0;
			}
			pthread_mutex_unlock(&s->lock);
		}
	}
	for (int i = 0; i < 16; i++)
		free(bufs[i]);
	atomic_store(&sh->writer_done, 1);
	return NULL;
}

static void *thr_compactor(void *arg)
{
	struct shared *sh = arg;
	uint64_t rng = sh->seed * 5 + 2;

	while (!atomic_load(&sh->writer_done)) {
		int rc = backing_compact(sh->b, (size_t)zc_rand_below(&rng, 4u << 20), thr_relocate, sh);

		ck_assert_msg(rc >= 0, "compact: %d", rc);
		if (zc_rand_below(&rng, 4) == 0)
			ck_assert_int_eq(backing_check(sh->b), 0);
		sched_yield();
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	pthread_t rd[READERS], wr, cp;
	struct backing_stats st;
	uint64_t held = 0;

	sh->seed = zc_test_seed();
	sh->b = open_dir(0, NULL);
	for (int i = 0; i < SLOTS; i++)
		pthread_mutex_init(&sh->slot[i].lock, NULL);
	/* Half the slots full before the threads start. */
	for (int i = 0; i < SLOTS; i += 2) {
		sh->slot[i].tag = (uint64_t)i << 32;
		sh->slot[i].loc = put_one(sh->b, sh->slot[i].tag, size_of_tag(sh->slot[i].tag));
	}
	ck_assert_int_eq(pthread_create(&wr, NULL, thr_writer, sh), 0);
	ck_assert_int_eq(pthread_create(&cp, NULL, thr_compactor, sh), 0);
	for (int i = 0; i < READERS; i++)
		ck_assert_int_eq(pthread_create(&rd[i], NULL, thr_reader, sh), 0);
	for (int i = 0; i < READERS; i++)
		pthread_join(rd[i], NULL);
	pthread_join(wr, NULL);
	pthread_join(cp, NULL);
	ck_assert_int_eq(backing_check(sh->b), 0);
	for (int i = 0; i < SLOTS; i++) {
		if (!sh->slot[i].loc)
			continue;
		held++;
		verify(sh->b, sh->slot[i].loc, sh->slot[i].tag, size_of_tag(sh->slot[i].tag));
	}
	st = stats_of(sh->b);
	ck_assert_uint_eq(st.objects, held);
	fprintf(stderr, "threads: %llu reads verified, %llu relocations, %llu segments compacted\n",
		(unsigned long long)atomic_load(&sh->reads),
		(unsigned long long)atomic_load(&sh->relocated), (unsigned long long)st.compactions);
	ck_assert_uint_gt(atomic_load(&sh->reads), 0);
	backing_close(sh->b);
	for (int i = 0; i < SLOTS; i++)
		pthread_mutex_destroy(&sh->slot[i].lock);
	free(sh);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *make_suite(void)
{
	Suite *s = suite_create("backing");
	TCase *api = tcase_create("api");
	TCase *rt = tcase_create("roundtrip");
	TCase *model = tcase_create("model");
	TCase *corrupt = tcase_create("corruption");
	TCase *faults = tcase_create("faults");
	TCase *limits = tcase_create("limits");
	TCase *threads = tcase_create("threads");

	tcase_add_test(api, test_locations);
	tcase_add_test(api, test_open_refusals);
	tcase_add_test(api, test_errors_change_nothing);
	tcase_add_test(rt, test_roundtrip);
	tcase_add_test(rt, test_first_fit_and_append);
	tcase_add_test(rt, test_reuse_lowest_and_punch);
	tcase_add_test(model, test_model);
	tcase_add_test(corrupt, test_corrupt_reads);
	tcase_add_test(corrupt, test_corrupt_compaction);
#ifdef ZC_DEBUG
	tcase_add_test(faults, test_fault_reads_writes);
	tcase_add_test(faults, test_fault_compaction);
	tcase_add_test(faults, test_fault_environment);
#else
	tcase_add_test(faults, test_fault_release);
#endif
	tcase_add_test(limits, test_limit);
	tcase_add_test(limits, test_budget);
	tcase_add_test(threads, test_threads);
	suite_add_tcase(s, api);
	suite_add_tcase(s, rt);
	suite_add_tcase(s, model);
	suite_add_tcase(s, corrupt);
	suite_add_tcase(s, faults);
	suite_add_tcase(s, limits);
	suite_add_tcase(s, threads);
	return s;
}

int main(void)
{
	int ret;

	/* Under the build tree: a disk filesystem (never tmpfs, which the
	 * module refuses). */
	snprintf(test_dir, sizeof(test_dir), "%s/backing-test.XXXXXX", ZC_BINARY_DIR);
	if (!mkdtemp(test_dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = zc_test_main(make_suite());
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", test_dir);
	}
	return ret;
}
