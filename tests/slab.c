/* tests/slab.c - the alloc/slab suite: every documented behaviour and error
 * path of slab.h, a model-based randomized test over several caches, a
 * multi-threaded stress test with cross-thread frees and a concurrent
 * shrinker, thread-exit flushing of magazines, cache id reuse, and (in
 * ZC_DEBUG builds) double free / wrong cache / write-after-free detection.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "alloc/buddy.h"
#include "alloc/slab.h"
#include "testutil.h"

/* Under AddressSanitizer slab poisons free objects; the tests that corrupt
 * free objects on purpose (to see slab's own checks catch it) unpoison
 * them first. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TEST_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define TEST_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Write a pointer into the first word of a free object. */
static void poke_ptr(void *obj, void *v)
{
	TEST_UNPOISON(obj, sizeof(v));
	memcpy(obj, &v, sizeof(v));
}

/* ------------------------------------------------------------------ */
/* Helpers */

/* Fill an object with a pattern derived from `key`; verify it later. */
static void pat_fill(void *obj, size_t size, uint64_t key)
{
	unsigned char *p = obj;
	uint64_t s = key;
	size_t i = 0;

	while (i + 8 <= size) {
		uint64_t v = zc_rand(&s);

		memcpy(p + i, &v, 8);
		i += 8;
	}
	if (i < size) {
		uint64_t v = zc_rand(&s);

		memcpy(p + i, &v, size - i);
	}
}

static bool pat_ok(const void *obj, size_t size, uint64_t key)
{
	const unsigned char *p = obj;
	uint64_t s = key;
	size_t i = 0;

	while (i + 8 <= size) {
		uint64_t v = zc_rand(&s);

		if (memcmp(p + i, &v, 8))
			return false;
		i += 8;
	}
	if (i < size) {
		uint64_t v = zc_rand(&s);

		if (memcmp(p + i, &v, size - i))
			return false;
	}
	return true;
}

static uint64_t buddy_bytes(struct buddy *b)
{
	struct buddy_stats st;

	buddy_stats(b, &st);
	return st.bytes_allocated;
}

static struct slab_stats stats_of(struct slab_cache *c)
{
	struct slab_stats st;

	slab_stats(c, &st);
	return st;
}

/* ------------------------------------------------------------------ */
/* Creation and argument errors */

START_TEST(test_create_errors)
{
	struct buddy *b = buddy_create(0);
	static const size_t bad_align[] = { 3, 5, 6, 12, 24, 8192, 1u << 20 };
	struct slab_cache *c;
	size_t i;

	ck_assert_ptr_nonnull(b);
	errno = 0;
	ck_assert_ptr_null(slab_create("zero", 0, 0, b));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(slab_create("huge", (1u << 20) + 1, 0, b));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(slab_create("huge", SIZE_MAX, 0, b));
	ck_assert_int_eq(errno, EINVAL);
	for (i = 0; i < sizeof(bad_align) / sizeof(bad_align[0]); i++) {
		errno = 0;
		ck_assert_ptr_null(slab_create("align", 64, bad_align[i], b));
		ck_assert_int_eq(errno, EINVAL);
	}
	errno = 0;
	ck_assert_ptr_null(slab_create("nosrc", 64, 0, NULL));
	ck_assert_int_eq(errno, EINVAL);
	/* A failed create changed nothing in buddy. */
	ck_assert_uint_eq(buddy_bytes(b), 0);

	/* The limits themselves are accepted. */
	c = slab_create("max", 1u << 20, 4096, b);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(slab_check(c), 0);
	slab_destroy(c);
	c = slab_create("one", 1, 1, b);
	ck_assert_ptr_nonnull(c);
	slab_destroy(c);
	ck_assert_int_eq(buddy_check(b), 0);
	buddy_destroy(b);
}
END_TEST

START_TEST(test_null_args)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("null", 32, 0, b);

	ck_assert_ptr_nonnull(c);
	slab_free(c, NULL);	/* nothing happens */
	ck_assert_uint_eq(stats_of(c).active_objs, 0);
	ck_assert_uint_eq(stats_of(c).slabs, 0);
	ck_assert_int_eq(slab_check(c), 0);
	slab_destroy(NULL);	/* nothing happens */
	slab_destroy(c);
	buddy_destroy(b);
}
END_TEST

START_TEST(test_name)
{
	struct buddy *b = buddy_create(0);
	char longname[100];
	struct slab_cache *c;
	struct slab_stats st;

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	c = slab_create(longname, 40, 0, b);
	ck_assert_ptr_nonnull(c);
	longname[0] = 'y';	/* the cache kept a copy */
	slab_stats(c, &st);
	ck_assert_uint_eq(strlen(st.name), SLAB_NAME_MAX - 1);
	ck_assert_int_eq(st.name[0], 'x');
	ck_assert_uint_eq(st.objsize, 40);
	slab_destroy(c);
	c = slab_create("tmem_objnode", 40, 0, b);
	slab_stats(c, &st);
	ck_assert_str_eq(st.name, "tmem_objnode");
	slab_destroy(c);
	buddy_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Alignment, sizes, layout */

START_TEST(test_alignment)
{
	static const size_t sizes[] = { 1, 7, 24, 100, 3000 };
	struct buddy *b = buddy_create(0);
	size_t align, si;

	for (align = 1; align <= 4096; align *= 2) {
		for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			struct slab_cache *c = slab_create("align", sizes[si], align, b);
			void *objs[40];
			int i;

			ck_assert_ptr_nonnull(c);
			for (i = 0; i < 40; i++) {
				objs[i] = slab_alloc(c);
				ck_assert_ptr_nonnull(objs[i]);
				ck_assert_msg((uintptr_t)objs[i] % align == 0,
					      "size %zu align %zu: %p misaligned", sizes[si], align,
					      objs[i]);
				pat_fill(objs[i], sizes[si], (uint64_t)i);
			}
			for (i = 0; i < 40; i++) {
				ck_assert(pat_ok(objs[i], sizes[si], (uint64_t)i));
				slab_free(c, objs[i]);
			}
			ck_assert_int_eq(slab_check(c), 0);
			slab_destroy(c);
		}
	}
	ck_assert_uint_eq(buddy_bytes(b), 0);
	buddy_destroy(b);
}
END_TEST

/* align 0: 16 bytes when the size is a multiple of 16, else 8; objects
 * are packed at that stride (24-byte objects are not padded to 32). */
START_TEST(test_natural_alignment)
{
	static const size_t sizes[] = { 1, 8, 12, 16, 20, 24, 40, 48, 100, 4096 };
	struct buddy *b = buddy_create(0);
	size_t si;

	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		struct slab_cache *c = slab_create("natural", sizes[si], 0, b);
		size_t want = sizes[si] % 16 == 0 ? 16 : 8;
		size_t stride = (sizes[si] + want - 1) / want * want;
		struct slab_stats st;
		int i;

		ck_assert_ptr_nonnull(c);
		for (i = 0; i < 100; i++) {
			void *o = slab_alloc(c);

			ck_assert_ptr_nonnull(o);
			ck_assert_uint_eq((uintptr_t)o % want, 0);
		}
		slab_stats(c, &st);
		/* Packed: the 64-byte header, then objects stride bytes apart
		 * (debug builds keep at least 16 bytes per object). */
		if (stride >= 16)
			ck_assert_uint_eq(st.objs_per_slab,
					  (st.pages_per_slab * BUDDY_PAGE_SIZE - 64) / stride);
		slab_destroy(c);	/* with the objects still out */
	}
	ck_assert_uint_eq(buddy_bytes(b), 0);
	buddy_destroy(b);
}
END_TEST

/* Slab geometry: one page for small objects, larger for big ones, at least
 * 8 objects per slab up to 4 MiB slabs. */
START_TEST(test_geometry)
{
	static const size_t sizes[] = { 1, 64, 256, 480, 512, 1000, 4096, 65536,
					500000, 600000, 1u << 20 };
	struct buddy *b = buddy_create(0);
	size_t si;

	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		struct slab_cache *c = slab_create("geo", sizes[si], 0, b);
		struct slab_stats st;
		void *o;

		ck_assert_ptr_nonnull(c);
		o = slab_alloc(c);
		ck_assert_ptr_nonnull(o);
		slab_stats(c, &st);
		ck_assert_uint_eq(st.objsize, sizes[si]);
		ck_assert_uint_ge(st.pages_per_slab, 1);
		ck_assert_uint_le(st.pages_per_slab, BUDDY_CHUNK_SIZE / BUDDY_PAGE_SIZE);
		/* a power of two */
		ck_assert_uint_eq(st.pages_per_slab & (st.pages_per_slab - 1), 0);
		ck_assert_uint_le(st.objs_per_slab * sizes[si],
				  st.pages_per_slab * BUDDY_PAGE_SIZE);
		if (st.pages_per_slab < BUDDY_CHUNK_SIZE / BUDDY_PAGE_SIZE)
			ck_assert_uint_ge(st.objs_per_slab, 8);
		else
			ck_assert_uint_ge(st.objs_per_slab, 3);
		if (sizes[si] <= 256)
			ck_assert_uint_eq(st.pages_per_slab, 1);
		/* the smallest such slab: half of it would hold fewer than 8 */
		if (st.pages_per_slab > 1)
			ck_assert_uint_lt(st.pages_per_slab * BUDDY_PAGE_SIZE / 2 / sizes[si], 9);
		ck_assert_uint_eq(st.slabs, 1);
		ck_assert_uint_eq(st.bytes, st.pages_per_slab * BUDDY_PAGE_SIZE);
		ck_assert_uint_eq(buddy_bytes(b), st.bytes);
		ck_assert_uint_eq(st.num_objs, st.objs_per_slab);
		ck_assert_uint_eq(st.active_objs, 1);
		slab_free(c, o);
		ck_assert_int_eq(slab_check(c), 0);
		slab_destroy(c);
	}
	buddy_destroy(b);
}
END_TEST

START_TEST(test_tiny_objects)
{
	enum { N = 5000 };
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("tiny", 1, 0, b);
	unsigned char **objs = calloc(N, sizeof(*objs));
	int i;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(objs);
	for (i = 0; i < N; i++) {
		objs[i] = slab_alloc(c);
		ck_assert_ptr_nonnull(objs[i]);
		*objs[i] = (unsigned char)i;
	}
	ck_assert_uint_eq(stats_of(c).active_objs, N);
	ck_assert_int_eq(slab_check(c), 0);
	for (i = 0; i < N; i++) {
		ck_assert_uint_eq(*objs[i], (unsigned char)i);
		slab_free(c, objs[i]);
	}
	ck_assert_uint_eq(stats_of(c).active_objs, 0);
	ck_assert_int_eq(slab_check(c), 0);
	slab_destroy(c);
	ck_assert_uint_eq(buddy_bytes(b), 0);
	free(objs);
	buddy_destroy(b);
}
END_TEST

START_TEST(test_large_objects)
{
	static const size_t sizes[] = { 5000, 300000, 1u << 20 };
	struct buddy *b = buddy_create(0);
	size_t si;

	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		struct slab_cache *c = slab_create("large", sizes[si], 0, b);
		void *objs[10];
		int i;

		ck_assert_ptr_nonnull(c);
		for (i = 0; i < 10; i++) {
			objs[i] = slab_alloc(c);
			ck_assert_ptr_nonnull(objs[i]);
			pat_fill(objs[i], sizes[si], 1000u + (uint64_t)i);
		}
		ck_assert_int_eq(slab_check(c), 0);
		ck_assert_uint_eq(stats_of(c).active_objs, 10);
		for (i = 0; i < 10; i++) {
			ck_assert(pat_ok(objs[i], sizes[si], 1000u + (uint64_t)i));
			slab_free(c, objs[i]);
		}
		ck_assert_int_eq(slab_check(c), 0);
		ck_assert_uint_eq(stats_of(c).active_objs, 0);
		slab_destroy(c);
		ck_assert_uint_eq(buddy_bytes(b), 0);
	}
	buddy_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Destroy, shrink, stats */

START_TEST(test_destroy_live)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("live", 200, 0, b);
	int i;

	ck_assert_ptr_nonnull(c);
	for (i = 0; i < 1000; i++)
		ck_assert_ptr_nonnull(slab_alloc(c));
	for (i = 0; i < 10; i++)
		slab_free(c, slab_alloc(c));	/* some in the magazine too */
	ck_assert_uint_gt(buddy_bytes(b), 0);
	slab_destroy(c);	/* every slab back to buddy, nothing leaks */
	ck_assert_uint_eq(buddy_bytes(b), 0);
	ck_assert_int_eq(buddy_check(b), 0);
	buddy_destroy(b);
}
END_TEST

START_TEST(test_stats_known)
{
	enum { N = 100 };
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("known", 64, 0, b);
	void *objs[N];
	struct slab_stats st;
	uint64_t max_slabs;
	int i;

	ck_assert_ptr_nonnull(c);
	slab_stats(c, &st);
	ck_assert_str_eq(st.name, "known");
	ck_assert_uint_eq(st.active_objs, 0);
	ck_assert_uint_eq(st.num_objs, 0);
	ck_assert_uint_eq(st.objsize, 64);
	ck_assert_uint_eq(st.pages_per_slab, 1);
	ck_assert_uint_eq(st.objs_per_slab, (4096 - 64) / 64);	/* 64-byte header */
	ck_assert_uint_eq(st.slabs, 0);
	ck_assert_uint_eq(st.bytes, 0);

	for (i = 0; i < N; i++)
		objs[i] = slab_alloc(c);
	slab_stats(c, &st);
	ck_assert_uint_eq(st.active_objs, N);
	/* Refills take half a magazine at a time, but a new slab only when
	 * no partial slab is left. */
	max_slabs = (N + st.objs_per_slab - 1) / st.objs_per_slab + 1;
	ck_assert_uint_ge(st.slabs, (N + st.objs_per_slab - 1) / st.objs_per_slab);
	ck_assert_uint_le(st.slabs, max_slabs);
	ck_assert_uint_eq(st.num_objs, st.slabs * st.objs_per_slab);
	ck_assert_uint_eq(st.bytes, st.slabs * 4096);
	ck_assert_uint_eq(buddy_bytes(b), st.bytes);

	for (i = 0; i < N / 2; i++)
		slab_free(c, objs[i]);
	ck_assert_uint_eq(stats_of(c).active_objs, N - N / 2);
	ck_assert_int_eq(slab_check(c), 0);
	for (; i < N; i++)
		slab_free(c, objs[i]);
	slab_stats(c, &st);
	ck_assert_uint_eq(st.active_objs, 0);
	ck_assert_int_eq(slab_check(c), 0);

	/* Shrink: everything back, the return value says how much. */
	ck_assert_uint_eq(slab_shrink(c), st.bytes);
	slab_stats(c, &st);
	ck_assert_uint_eq(st.slabs, 0);
	ck_assert_uint_eq(st.num_objs, 0);
	ck_assert_uint_eq(st.bytes, 0);
	ck_assert_uint_eq(buddy_bytes(b), 0);
	ck_assert_uint_eq(slab_shrink(c), 0);	/* nothing left */
	ck_assert_int_eq(slab_check(c), 0);

	/* The cache works after a shrink. */
	objs[0] = slab_alloc(c);
	ck_assert_ptr_nonnull(objs[0]);
	ck_assert_uint_eq(stats_of(c).active_objs, 1);
	slab_free(c, objs[0]);
	slab_destroy(c);
	buddy_destroy(b);
}
END_TEST

/* Empty slabs go back to buddy as soon as a second one empties; shrink
 * returns the one kept; slabs with live objects stay. */
START_TEST(test_shrink_returns_to_buddy)
{
	enum { N = 2000 };
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("shrink", 128, 0, b);
	void **objs = calloc(N, sizeof(*objs));
	struct slab_stats st;
	uint64_t before;
	size_t got;
	int i;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(objs);
	for (i = 0; i < N; i++)
		objs[i] = slab_alloc(c);
	slab_stats(c, &st);
	ck_assert_uint_ge(st.slabs, N / st.objs_per_slab);
	before = buddy_bytes(b);
	ck_assert_uint_eq(before, st.bytes);

	/* Free every object except one in the last slab-full. */
	for (i = 0; i < N - 1; i++)
		slab_free(c, objs[i]);
	/* The SLAB_MAG_SIZE objects still parked in this thread's magazine
	 * keep a few slabs, and so does the live object; of the other emptied
	 * slabs all but one were given back already. */
	slab_stats(c, &st);
	ck_assert_uint_le(st.slabs, 2 + SLAB_MAG_SIZE / st.objs_per_slab + 2);
	ck_assert_uint_eq(buddy_bytes(b), st.bytes);
	got = slab_shrink(c);
	ck_assert_uint_eq(got, st.bytes - 4096);	/* the live object's slab stays */
	slab_stats(c, &st);
	ck_assert_uint_eq(st.slabs, 1);
	ck_assert_uint_eq(st.active_objs, 1);
	ck_assert_uint_eq(buddy_bytes(b), 4096);
	ck_assert_int_eq(slab_check(c), 0);
	ck_assert_int_eq(buddy_check(b), 0);
	slab_free(c, objs[N - 1]);
	ck_assert_uint_eq(slab_shrink(c), 4096);
	ck_assert_uint_eq(buddy_bytes(b), 0);
	slab_destroy(c);
	free(objs);
	buddy_destroy(b);
}
END_TEST

/* A cache created after another was destroyed may get its id; the old
 * magazine (freed by destroy) must never be used. ASan catches a use. */
START_TEST(test_id_reuse)
{
	struct buddy *b = buddy_create(0);
	int round;

	for (round = 0; round < 20; round++) {
		struct slab_cache *x = slab_create("x", 48, 0, b);
		struct slab_cache *y = slab_create("y", 96, 0, b);
		void *o;

		ck_assert_ptr_nonnull(x);
		ck_assert_ptr_nonnull(y);
		slab_free(x, slab_alloc(x));
		slab_free(y, slab_alloc(y));
		slab_destroy(x);
		x = slab_create("x2", 32, 0, b);	/* likely x's old id */
		ck_assert_ptr_nonnull(x);
		o = slab_alloc(x);
		ck_assert_ptr_nonnull(o);
		ck_assert_uint_eq(stats_of(x).active_objs, 1);
		ck_assert_uint_eq(stats_of(x).objsize, 32);
		ck_assert_int_eq(slab_check(x), 0);
		slab_free(x, o);
		ck_assert_uint_eq(stats_of(x).active_objs, 0);
		ck_assert_int_eq(slab_check(x), 0);
		ck_assert_int_eq(slab_check(y), 0);
		slab_destroy(y);
		slab_destroy(x);
	}
	ck_assert_uint_eq(buddy_bytes(b), 0);
	buddy_destroy(b);
}
END_TEST

/* Many caches alive at once: ids grow past the first thread-local slot
 * array (8 slots) several times, in this thread and in another one. */
enum { MANY = 40 };

static void *many_worker(void *p)
{
	struct slab_cache **c = p;
	void *o[MANY];
	int i;

	for (i = MANY - 1; i >= 0; i--)	/* highest id first: one growth */
		if (!(o[i] = slab_alloc(c[i])))
			return (void *)1;
	for (i = 0; i < MANY; i++) {
		pat_fill(o[i], 16 + (size_t)i * 8, (uint64_t)i);
		if (!pat_ok(o[i], 16 + (size_t)i * 8, (uint64_t)i))
			return (void *)1;
		slab_free(c[i], o[i]);
	}
	return NULL;
}

START_TEST(test_many_caches)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c[MANY];
	void *o[MANY], *ret;
	pthread_t t;
	int i, round;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < MANY; i++) {
			c[i] = slab_create("many", 16 + (size_t)i * 8, 0, b);
			ck_assert_ptr_nonnull(c[i]);
		}
		for (i = 0; i < MANY; i++) {	/* lowest id first: growths */
			o[i] = slab_alloc(c[i]);
			ck_assert_ptr_nonnull(o[i]);
			pat_fill(o[i], 16 + (size_t)i * 8, 100u + (uint64_t)i);
		}
		ck_assert_int_eq(pthread_create(&t, NULL, many_worker, c), 0);
		ck_assert_int_eq(pthread_join(t, &ret), 0);
		ck_assert_ptr_null(ret);
		for (i = 0; i < MANY; i++) {
			ck_assert(pat_ok(o[i], 16 + (size_t)i * 8, 100u + (uint64_t)i));
			ck_assert_uint_eq(stats_of(c[i]).active_objs, 1);
			ck_assert_int_eq(slab_check(c[i]), 0);
			slab_free(c[i], o[i]);
			ck_assert_uint_eq(stats_of(c[i]).active_objs, 0);
		}
		/* Destroy in a scrambled order; the next round reuses the ids. */
		for (i = 0; i < MANY; i++)
			slab_destroy(c[(i * 7) % MANY]);
		ck_assert_uint_eq(buddy_bytes(b), 0);
	}
	buddy_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Thread exit */

struct exit_arg {
	struct slab_cache *c;
	int n;
	pthread_barrier_t *bar;	/* NULL: exit at once */
};

static void *exit_worker(void *p)
{
	struct exit_arg *a = p;
	void **objs = calloc((size_t)a->n, sizeof(*objs));
	int i;

	if (!objs)
		return (void *)1;
	for (i = 0; i < a->n; i++)
		if (!(objs[i] = slab_alloc(a->c)))
			return (void *)1;
	for (i = 0; i < a->n; i++)
		slab_free(a->c, objs[i]);
	free(objs);
	if (a->bar) {
		pthread_barrier_wait(a->bar);	/* we have a full magazine */
		pthread_barrier_wait(a->bar);	/* the cache is gone now */
	}
	return NULL;
}

START_TEST(test_thread_exit_flush)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("exit", 64, 0, b);
	struct exit_arg a = { .c = c, .n = 200 };
	struct slab_stats st;
	pthread_t t;
	void *ret;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(pthread_create(&t, NULL, exit_worker, &a), 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_ptr_null(ret);
	/* The thread's magazine held the last SLAB_MAG_SIZE objects it freed,
	 * spread over two slabs; its exit flushed them, so every slab emptied
	 * and only the one kept empty slab remains. */
	slab_stats(c, &st);
	ck_assert_uint_eq(st.active_objs, 0);
	ck_assert_uint_eq(st.slabs, 1);
	ck_assert_uint_eq(buddy_bytes(b), 4096);
	ck_assert_int_eq(slab_check(c), 0);
	ck_assert_uint_eq(slab_shrink(c), 4096);
	ck_assert_uint_eq(buddy_bytes(b), 0);

	/* Many short-lived threads: every magazine is flushed and freed. */
	for (int i = 0; i < 16; i++) {
		a.n = 1 + i * 13;
		ck_assert_int_eq(pthread_create(&t, NULL, exit_worker, &a), 0);
		ck_assert_int_eq(pthread_join(t, &ret), 0);
		ck_assert_ptr_null(ret);
		ck_assert_uint_eq(stats_of(c).active_objs, 0);
		ck_assert_uint_le(stats_of(c).slabs, 1);
		ck_assert_int_eq(slab_check(c), 0);
	}
	slab_destroy(c);
	ck_assert_uint_eq(buddy_bytes(b), 0);
	buddy_destroy(b);
}
END_TEST

/* A thread that outlives the cache: destroy frees its magazine, and its
 * exit must not touch it (ASan would report a use after free). */
START_TEST(test_thread_exit_after_destroy)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("gone", 64, 0, b);
	struct slab_cache *d;
	pthread_barrier_t bar;
	struct exit_arg a = { .c = c, .n = 50, .bar = &bar };
	pthread_t t;
	void *ret;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(pthread_barrier_init(&bar, NULL, 2), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, exit_worker, &a), 0);
	pthread_barrier_wait(&bar);
	slab_destroy(c);
	d = slab_create("new", 64, 0, b);	/* takes the same id */
	ck_assert_ptr_nonnull(d);
	slab_free(d, slab_alloc(d));
	pthread_barrier_wait(&bar);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_ptr_null(ret);
	ck_assert_uint_eq(stats_of(d).active_objs, 0);
	ck_assert_int_eq(slab_check(d), 0);
	slab_destroy(d);
	ck_assert_uint_eq(buddy_bytes(b), 0);
	pthread_barrier_destroy(&bar);
	buddy_destroy(b);
}
END_TEST

/* slab_shrink reaches the magazine of another thread that is alive (and
 * idle at that moment), and that thread carries on correctly afterwards. */
struct park_arg {
	struct slab_cache *c;
	pthread_barrier_t *bar;
	int bad;
};

static void *park_worker(void *p)
{
	struct park_arg *a = p;
	void *objs[SLAB_MAG_SIZE];
	int i, round;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < SLAB_MAG_SIZE; i++) {
			objs[i] = slab_alloc(a->c);
			if (!objs[i]) {
				a->bad++;
				return NULL;
			}
			pat_fill(objs[i], 64, (uint64_t)(round * 1000 + i));
		}
		for (i = 0; i < SLAB_MAG_SIZE; i++) {
			if (!pat_ok(objs[i], 64, (uint64_t)(round * 1000 + i)))
				a->bad++;
			slab_free(a->c, objs[i]);	/* a full magazine */
		}
		pthread_barrier_wait(a->bar);	/* main shrinks now */
		pthread_barrier_wait(a->bar);
	}
	return NULL;
}

START_TEST(test_shrink_other_thread)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("park", 64, 0, b);
	pthread_barrier_t bar;
	struct park_arg a = { .c = c, .bar = &bar };
	pthread_t t;
	int round;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(pthread_barrier_init(&bar, NULL, 2), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, park_worker, &a), 0);
	for (round = 0; round < 3; round++) {
		pthread_barrier_wait(&bar);
		/* The worker's magazine holds SLAB_MAG_SIZE free objects. */
		ck_assert_uint_eq(stats_of(c).active_objs, 0);
		ck_assert_uint_ge(stats_of(c).slabs, 2);
		ck_assert_int_eq(slab_check(c), 0);
		ck_assert_uint_gt(slab_shrink(c), 0);
		ck_assert_uint_eq(stats_of(c).slabs, 0);
		ck_assert_uint_eq(buddy_bytes(b), 0);
		ck_assert_int_eq(slab_check(c), 0);
		pthread_barrier_wait(&bar);
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(a.bad, 0);
	ck_assert_int_eq(slab_check(c), 0);
	ck_assert_uint_eq(stats_of(c).active_objs, 0);
	slab_destroy(c);
	pthread_barrier_destroy(&bar);
	buddy_destroy(b);
}
END_TEST

/* slab_check finds a corrupted free list (the link lives in the first word
 * of a free object, so a write after free can break it). */
START_TEST(test_check_detects_corruption)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("corrupt", 64, 0, b);
	void *keep, *o, *saved;

	ck_assert_ptr_nonnull(c);
	keep = slab_alloc(c);	/* keeps the slab from being given back */
	o = slab_alloc(c);
	slab_free(c, o);
	slab_shrink(c);		/* o is now on its slab's free list */
	ck_assert_uint_eq(stats_of(c).slabs, 1);
	ck_assert_int_eq(slab_check(c), 0);
	TEST_UNPOISON(o, sizeof(saved));
	memcpy(&saved, o, sizeof(saved));

	poke_ptr(o, o);		/* a cycle: o twice on the list */
	ck_assert_int_eq(slab_check(c), -EUCLEAN);
	poke_ptr(o, (char *)o + 8);	/* not an object start */
	ck_assert_int_eq(slab_check(c), -EUCLEAN);
	poke_ptr(o, (char *)keep + (1u << 20));	/* outside the slab */
	ck_assert_int_eq(slab_check(c), -EUCLEAN);
	poke_ptr(o, keep);	/* an object in use */
	ck_assert_int_eq(slab_check(c), -EUCLEAN);

	poke_ptr(o, saved);
	ck_assert_int_eq(slab_check(c), 0);
	slab_free(c, keep);
	slab_destroy(c);
	buddy_destroy(b);
}
END_TEST

/* Out of memory: when buddy cannot map a slab, slab_alloc returns NULL
 * with errno ENOMEM and the cache is unchanged.  The address-space limit
 * that provokes it cannot be used under the sanitizers (they reserve
 * terabytes of shadow), so those builds leave this test out. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
static void add_enomem_test(TCase *tc)
{
	(void)tc;
}
#else
static size_t vm_size(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	return pages * 4096;
}

START_TEST(test_enomem)
{
	enum { MAX = 256 };
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("oom", 1u << 20, 0, b);
	struct rlimit old, lim;
	struct slab_stats before, after;
	void *objs[MAX];
	int n = 0, i;

	ck_assert_ptr_nonnull(c);
	slab_free(c, slab_alloc(c));	/* the magazine exists already */
	slab_shrink(c);
	ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
	lim = old;
	lim.rlim_cur = vm_size() + (48u << 20);
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
	for (;;) {
		void *p;

		slab_stats(c, &before);
		errno = 0;
		p = slab_alloc(c);
		if (!p)
			break;
		ck_assert_int_lt(n, MAX);
		objs[n++] = p;
	}
	ck_assert_int_eq(errno, ENOMEM);
	slab_stats(c, &after);
	ck_assert_uint_eq(after.active_objs, before.active_objs);
	ck_assert_uint_eq(after.slabs, before.slabs);
	ck_assert_uint_eq(after.active_objs, (uint64_t)n);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
	ck_assert_int_eq(slab_check(c), 0);
	ck_assert_int_eq(buddy_check(b), 0);
	/* With memory back, the cache works again. */
	objs[n] = slab_alloc(c);
	ck_assert_ptr_nonnull(objs[n]);
	n++;
	for (i = 0; i < n; i++)
		slab_free(c, objs[i]);
	ck_assert_uint_eq(stats_of(c).active_objs, 0);
	slab_destroy(c);
	ck_assert_uint_eq(buddy_bytes(b), 0);
	buddy_destroy(b);
}
END_TEST

static void add_enomem_test(TCase *tc)
{
	tcase_add_test(tc, test_enomem);
}
#endif

/* ------------------------------------------------------------------ */
/* Model-based randomized test */

enum { MODEL_CACHES = 6, MODEL_OPS = 150000, MODEL_BATCH = 500, MODEL_MAX_LIVE = 3000 };

struct model_obj {
	void *p;
	uint64_t key;
};

START_TEST(test_model)
{
	static const size_t sizes[MODEL_CACHES] = { 8, 24, 64, 200, 1000, 5000 };
	static const size_t aligns[MODEL_CACHES] = { 0, 8, 64, 0, 256, 0 };
	uint64_t seed = zc_test_seed(), rng = seed;
	struct buddy *b = buddy_create(1);
	struct slab_cache *c[MODEL_CACHES];
	struct model_obj *live[MODEL_CACHES];
	size_t nlive[MODEL_CACHES] = { 0 };
	uint64_t next_key = 1, allocs = 0, frees = 0;
	int i, k, op;

	ck_assert_ptr_nonnull(b);
	for (k = 0; k < MODEL_CACHES; k++) {
		c[k] = slab_create("model", sizes[k], aligns[k], b);
		ck_assert_ptr_nonnull(c[k]);
		live[k] = calloc(MODEL_MAX_LIVE, sizeof(*live[k]));
		ck_assert_ptr_nonnull(live[k]);
	}
	for (op = 0; op < MODEL_OPS; op++) {
		uint64_t r = zc_rand(&rng);
		/* Bias drifts over time so the live set grows and shrinks. */
		unsigned bias = (op / 20000) % 2 ? 35 : 60;

		k = (int)(r % MODEL_CACHES);
		r >>= 8;
		if (r % 1000 == 0) {
			slab_shrink(c[k]);
		} else if (nlive[k] < MODEL_MAX_LIVE && (nlive[k] == 0 || r % 100 < bias)) {
			void *p = slab_alloc(c[k]);
			uint64_t key = next_key++;

			ck_assert_ptr_nonnull(p);
			if (aligns[k])
				ck_assert_uint_eq((uintptr_t)p % aligns[k], 0);
			pat_fill(p, sizes[k], key);
			live[k][nlive[k]].p = p;
			live[k][nlive[k]].key = key;
			nlive[k]++;
			allocs++;
		} else {
			size_t j = (size_t)((r >> 8) % nlive[k]);
			struct model_obj o = live[k][j];

			ck_assert_msg(pat_ok(o.p, sizes[k], o.key),
				      "object %p of cache %d (size %zu) overwritten", o.p, k,
				      sizes[k]);
			live[k][j] = live[k][--nlive[k]];
			slab_free(c[k], o.p);
			frees++;
		}
		if (op % MODEL_BATCH == MODEL_BATCH - 1) {
			for (i = 0; i < MODEL_CACHES; i++) {
				ck_assert_int_eq(slab_check(c[i]), 0);
				ck_assert_uint_eq(stats_of(c[i]).active_objs, nlive[i]);
			}
			if (op % (MODEL_BATCH * 20) == MODEL_BATCH * 20 - 1)
				ck_assert_int_eq(buddy_check(b), 0);
		}
	}
	ck_assert_uint_gt(allocs, MODEL_OPS / 3);
	ck_assert_uint_gt(frees, MODEL_OPS / 3);
	/* Everything still live is intact; free it all and give back. */
	for (k = 0; k < MODEL_CACHES; k++) {
		struct slab_stats st;

		while (nlive[k]) {
			struct model_obj o = live[k][--nlive[k]];

			ck_assert(pat_ok(o.p, sizes[k], o.key));
			slab_free(c[k], o.p);
		}
		ck_assert_int_eq(slab_check(c[k]), 0);
		slab_shrink(c[k]);
		slab_stats(c[k], &st);
		ck_assert_uint_eq(st.active_objs, 0);
		ck_assert_uint_eq(st.slabs, 0);
		slab_destroy(c[k]);
		free(live[k]);
	}
	ck_assert_uint_eq(buddy_bytes(b), 0);
	ck_assert_int_eq(buddy_check(b), 0);
	buddy_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Multi-threaded stress: objects allocated in one thread are freed in
 * another (as FUSE workers will), while a fifth thread shrinks and checks
 * the caches concurrently, freezing magazines under their owners' feet. */

enum { MT_THREADS = 4, MT_CACHES = 2, MT_OPS = 60000, MT_QCAP = 4096,
       MT_MIN_FREEZES = 500 };

struct mt_item {
	void *p;
	uint64_t key;
	int cache;
};

struct mt_queue {
	pthread_mutex_t lock;
	struct mt_item items[MT_QCAP];	/* protected by lock */
	size_t head, len;		/* protected by lock */
};

struct mt_shared {
	struct slab_cache *c[MT_CACHES];
	size_t sizes[MT_CACHES];
	struct mt_queue q[MT_THREADS];
	_Atomic int running;		/* workers still running */
	_Atomic uint64_t errors;
	_Atomic uint64_t freezes;	/* shrinks and checks done by the shrinker */
	uint64_t seed;
};

struct mt_arg {
	struct mt_shared *sh;
	int id;
};

static bool mt_push(struct mt_queue *q, struct mt_item it)
{
	bool ok;

	pthread_mutex_lock(&q->lock);
	ok = q->len < MT_QCAP;
	if (ok)
		q->items[(q->head + q->len++) % MT_QCAP] = it;
	pthread_mutex_unlock(&q->lock);
	return ok;
}

static bool mt_pop(struct mt_queue *q, struct mt_item *it)
{
	bool ok;

	pthread_mutex_lock(&q->lock);
	ok = q->len > 0;
	if (ok) {
		*it = q->items[q->head];
		q->head = (q->head + 1) % MT_QCAP;
		q->len--;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

static void mt_consume(struct mt_shared *sh, struct mt_item *it)
{
	if (!pat_ok(it->p, sh->sizes[it->cache], it->key))
		atomic_fetch_add(&sh->errors, 1);
	slab_free(sh->c[it->cache], it->p);
}

static void *mt_worker(void *p)
{
	struct mt_arg *a = p;
	struct mt_shared *sh = a->sh;
	uint64_t rng = sh->seed ^ ((uint64_t)a->id * 0x9e3779b97f4a7c15ull);
	struct mt_item it;
	int op;

	/* Run MT_OPS operations, and on (up to 10 times as many) until the
	 * shrinker has frozen the magazines MT_MIN_FREEZES times under us. */
	for (op = 0; op < MT_OPS || (atomic_load(&sh->freezes) < MT_MIN_FREEZES &&
				     op < 10 * MT_OPS); op++) {
		uint64_t r = zc_rand(&rng);

		if (r % 2) {
			int to = (int)((r >> 8) % MT_THREADS);

			it.cache = (int)((r >> 16) % MT_CACHES);
			it.p = slab_alloc(sh->c[it.cache]);
			if (!it.p) {
				atomic_fetch_add(&sh->errors, 1);
				continue;
			}
			it.key = ((uint64_t)a->id << 56) | (uint64_t)op;
			pat_fill(it.p, sh->sizes[it.cache], it.key);
			if (!mt_push(&sh->q[to], it))
				mt_consume(sh, &it);	/* queue full: free it here */
		} else if (mt_pop(&sh->q[a->id], &it)) {
			mt_consume(sh, &it);
		}
	}
	atomic_fetch_sub(&sh->running, 1);
	return NULL;
}

static void *mt_shrinker(void *p)
{
	struct mt_shared *sh = p;
	unsigned n = 0;

	while (atomic_load(&sh->running) > 0) {
		struct slab_cache *c = sh->c[n++ % MT_CACHES];

		if (n % 2)
			slab_shrink(c);
		else if (slab_check(c))
			atomic_fetch_add(&sh->errors, 1);
		atomic_fetch_add(&sh->freezes, 1);
		if (n % 8 == 0)
			sched_yield();
	}
	return NULL;
}

static void mt_stress(void)
{
	struct buddy *b = buddy_create(1);
	struct mt_shared *sh = calloc(1, sizeof(*sh));
	struct mt_arg args[MT_THREADS];
	pthread_t t[MT_THREADS], shr;
	struct mt_item it;
	int i;

	ck_assert_ptr_nonnull(sh);
	sh->seed = zc_test_seed();
	sh->sizes[0] = 64;
	sh->sizes[1] = 232;
	for (i = 0; i < MT_CACHES; i++) {
		sh->c[i] = slab_create("mt", sh->sizes[i], 0, b);
		ck_assert_ptr_nonnull(sh->c[i]);
	}
	for (i = 0; i < MT_THREADS; i++)
		pthread_mutex_init(&sh->q[i].lock, NULL);
	atomic_store(&sh->running, MT_THREADS);
	for (i = 0; i < MT_THREADS; i++) {
		args[i].sh = sh;
		args[i].id = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, mt_worker, &args[i]), 0);
	}
	ck_assert_int_eq(pthread_create(&shr, NULL, mt_shrinker, sh), 0);
	for (i = 0; i < MT_THREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_int_eq(pthread_join(shr, NULL), 0);
	ck_assert_uint_eq(atomic_load(&sh->errors), 0);

	/* What is still queued is live: verify it, check, then free it. */
	for (i = 0; i < MT_CACHES; i++)
		ck_assert_int_eq(slab_check(sh->c[i]), 0);
	for (i = 0; i < MT_THREADS; i++)
		while (mt_pop(&sh->q[i], &it))
			mt_consume(sh, &it);
	ck_assert_uint_eq(atomic_load(&sh->errors), 0);
	for (i = 0; i < MT_CACHES; i++) {
		struct slab_stats st;

		ck_assert_int_eq(slab_check(sh->c[i]), 0);
		slab_stats(sh->c[i], &st);
		ck_assert_uint_eq(st.active_objs, 0);
		slab_shrink(sh->c[i]);
		slab_stats(sh->c[i], &st);
		ck_assert_uint_eq(st.slabs, 0);
		slab_destroy(sh->c[i]);
	}
	for (i = 0; i < MT_THREADS; i++)
		pthread_mutex_destroy(&sh->q[i].lock);
	ck_assert_uint_eq(buddy_bytes(b), 0);
	ck_assert_int_eq(buddy_check(b), 0);
	free(sh);
	buddy_destroy(b);
}

START_TEST(test_mt_stress)
{
	mt_stress();
}
END_TEST

/* The same with the fallback handshake (a real fence in every fast path
 * instead of membarrier).  The switch is read when the process creates its
 * first cache, which is in this test when tests run forked (the default);
 * with CK_FORK=no this repeats the membarrier variant. */
START_TEST(test_mt_stress_fence)
{
	setenv("ZC_SLAB_NO_MEMBARRIER", "1", 1);
	mt_stress();
	unsetenv("ZC_SLAB_NO_MEMBARRIER");
}
END_TEST

/* ------------------------------------------------------------------ */
/* AddressSanitizer builds: a user's access to a freed object, or past its
 * size into the stride padding, is reported by ASan itself.  Each access
 * runs in a child process that must not exit normally. */

#if defined(__SANITIZE_ADDRESS__)
#include <sys/wait.h>
#include <unistd.h>

static bool dies(void (*fn)(void))
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void read_after_free(void)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("uaf", 64, 0, b);
	volatile char *o = slab_alloc(c);

	slab_free(c, (void *)o);
	(void)o[10];
}

static void read_after_free_slab(void)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("uaf", 64, 0, b);
	volatile char *o = slab_alloc(c);

	(void)slab_alloc(c);	/* keeps the slab */
	slab_free(c, (void *)o);
	slab_shrink(c);		/* o is on its slab's free list now */
	(void)o[63];
}

static void read_past_size(void)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("ovf", 20, 0, b);	/* stride 32 */
	volatile char *o = slab_alloc(c);

	(void)o[24];
}

static void read_uncarved(void)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("unc", 64, 0, b);
	volatile char *o = slab_alloc(c);

	(void)o[64 * 100];	/* far beyond what the magazine took */
}

static void legal_accesses(void)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("ok", 20, 0, b);
	char *o = slab_alloc(c);

	memset(o, 1, 20);
	slab_free(c, o);
	o = slab_alloc(c);
	memset(o, 2, 20);
	slab_free(c, o);
	slab_shrink(c);
	slab_destroy(c);
	buddy_destroy(b);
}

START_TEST(test_asan_poison)
{
	ck_assert(!dies(legal_accesses));
	ck_assert(dies(read_after_free));
	ck_assert(dies(read_after_free_slab));
	ck_assert(dies(read_past_size));
	ck_assert(dies(read_uncarved));
}
END_TEST

static void add_asan_tests(TCase *tc)
{
	tcase_add_test(tc, test_asan_poison);
}
#else
static void add_asan_tests(TCase *tc)
{
	(void)tc;
}
#endif

/* ------------------------------------------------------------------ */
/* Debug builds: misuse is caught (each test runs in its own forked
 * process, and must die with SIGABRT). */

#ifdef ZC_DEBUG
/* Write a byte into a free object. */
static void poke_byte(void *obj, size_t off, unsigned char v)
{
	TEST_UNPOISON((char *)obj + off, 1);
	((unsigned char *)obj)[off] = v;
}

START_TEST(test_debug_double_free)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("df", 64, 0, b);
	void *o = slab_alloc(c);

	slab_free(c, o);
	slab_free(c, o);	/* aborts */
	ck_abort_msg("double free not detected");
}
END_TEST

START_TEST(test_debug_double_free_slab)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("df2", 64, 0, b);
	void *o = slab_alloc(c), *others[200];
	int i;

	for (i = 0; i < 200; i++)
		others[i] = slab_alloc(c);
	slab_free(c, o);
	/* Overflow the magazine: o, the coldest, goes back to its slab. */
	for (i = 0; i < 200; i++)
		slab_free(c, others[i]);
	slab_free(c, o);	/* aborts */
	ck_abort_msg("double free not detected");
}
END_TEST

START_TEST(test_debug_wrong_cache)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("a", 64, 0, b);
	struct slab_cache *d = slab_create("b", 64, 0, b);
	void *o = slab_alloc(c);

	slab_free(d, o);	/* aborts */
	ck_abort_msg("free into the wrong cache not detected");
}
END_TEST

START_TEST(test_debug_bad_pointer)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("a", 64, 0, b);
	char *o = slab_alloc(c);

	slab_free(c, o + 8);	/* aborts */
	ck_abort_msg("free of an interior pointer not detected");
}
END_TEST

START_TEST(test_debug_write_after_free)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("uaf", 64, 0, b);
	char *o = slab_alloc(c);

	slab_free(c, o);
	poke_byte(o, 40, 1);	/* write after free */
	slab_alloc(c);		/* hands o out again: aborts */
	ck_abort_msg("write after free not detected");
}
END_TEST

/* slab_check reports (does not abort on) a corrupted free object. */
START_TEST(test_debug_check_poison)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *c = slab_create("chk", 64, 0, b);
	char *o = slab_alloc(c);

	slab_free(c, o);
	ck_assert_int_eq(slab_check(c), 0);
	poke_byte(o, 50, 0);
	ck_assert_int_eq(slab_check(c), -EUCLEAN);
	poke_byte(o, 50, 0x6b);
	ck_assert_int_eq(slab_check(c), 0);
	slab_destroy(c);
	buddy_destroy(b);
}
END_TEST

static void add_debug_tests(Suite *s)
{
	TCase *tc = tcase_create("debug");

	tcase_add_test_raise_signal(tc, test_debug_double_free, SIGABRT);
	tcase_add_test_raise_signal(tc, test_debug_double_free_slab, SIGABRT);
	tcase_add_test_raise_signal(tc, test_debug_wrong_cache, SIGABRT);
	tcase_add_test_raise_signal(tc, test_debug_bad_pointer, SIGABRT);
	tcase_add_test_raise_signal(tc, test_debug_write_after_free, SIGABRT);
	tcase_add_test(tc, test_debug_check_poison);
	suite_add_tcase(s, tc);
}
#else
static void add_debug_tests(Suite *s)
{
	(void)s;
}
#endif

static Suite *make_suite(void)
{
	Suite *s = suite_create("slab");
	TCase *api = tcase_create("api");
	TCase *threads = tcase_create("threads");
	TCase *model = tcase_create("model");

	tcase_add_test(api, test_create_errors);
	tcase_add_test(api, test_null_args);
	tcase_add_test(api, test_name);
	tcase_add_test(api, test_alignment);
	tcase_add_test(api, test_natural_alignment);
	tcase_add_test(api, test_geometry);
	tcase_add_test(api, test_tiny_objects);
	tcase_add_test(api, test_large_objects);
	tcase_add_test(api, test_destroy_live);
	tcase_add_test(api, test_stats_known);
	tcase_add_test(api, test_shrink_returns_to_buddy);
	tcase_add_test(api, test_id_reuse);
	tcase_add_test(api, test_check_detects_corruption);
	add_enomem_test(api);
	add_asan_tests(api);
	tcase_set_timeout(api, 600);
	suite_add_tcase(s, api);

	tcase_add_test(threads, test_thread_exit_flush);
	tcase_add_test(threads, test_thread_exit_after_destroy);
	tcase_add_test(threads, test_shrink_other_thread);
	tcase_add_test(threads, test_many_caches);
	tcase_add_test(threads, test_mt_stress);
	tcase_add_test(threads, test_mt_stress_fence);
	tcase_set_timeout(threads, 600);
	suite_add_tcase(s, threads);

	tcase_add_test(model, test_model);
	tcase_set_timeout(model, 600);
	suite_add_tcase(s, model);

	add_debug_tests(s);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
