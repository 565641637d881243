/* tests/xcf.c - the libcheck suite of alloc/xcf (xcfmalloc with compaction).
 *
 * - API and error paths: create/destroy, sizes, handle 0, shared descriptor
 *   caches, destroy with live objects, ENOMEM when buddy has no memory;
 * - each placement rule, observed through the free-list and page counters
 *   of xcf_stats (callers never see addresses);
 * - compaction: pages come back, objects keep their contents and handles,
 *   the budget bounds the work;
 * - a model-based randomized test (200,000 operations, object sizes drawn
 *   from the lz4 compressed sizes of the corpus pages.img) that writes a
 *   pattern into every object and verifies it on read and before free,
 *   compacts at random points and calls xcf_check() after every batch;
 * - threads that allocate, write, read-verify and free while another thread
 *   compacts, on one shared pool and on several pools sharing one buddy
 *   allocator and one descriptor cache.
 */
#include "alloc/xcf.h"

#include "alloc/buddy.h"
#include "alloc/slab.h"
#include "testutil.h"

#include <errno.h>
#include <lz4.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* ------------------------------------------------------------------ */
/* Helpers.                                                           */

/* Bytes an object must have to fill exactly k 64-byte units. */
static size_t size_for_units(unsigned k)
{
	return (size_t)k * XCF_BLOCK_SIZE - XCF_HDR_SIZE;
}

static void fill(unsigned char *buf, size_t n, uint64_t seed)
{
	uint64_t s = seed;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v = zc_rand(&s);

		memcpy(buf + i, &v, 8);
	}
	if (i < n) {
		uint64_t v = zc_rand(&s);

		memcpy(buf + i, &v, n - i);
	}
}

/* Read object h and compare with the pattern of `seed`. */
static void verify(struct xcf_pool *p, xcf_handle h, size_t size, uint64_t seed)
{
	unsigned char want[XCF_MAX_SIZE], got[XCF_MAX_SIZE];

	fill(want, size, seed);
	memset(got, 0xa5, sizeof(got));
	ck_assert_int_eq(xcf_size(p, h), size);
	ck_assert_int_eq(xcf_read(p, h, got), (int)size);
	ck_assert_msg(memcmp(want, got, size) == 0, "object %#lx of %zu bytes corrupted",
		      (unsigned long)h, size);
}

static xcf_handle alloc_fill(struct xcf_pool *p, size_t size, uint64_t seed)
{
	unsigned char buf[XCF_MAX_SIZE];
	xcf_handle h = xcf_malloc(p, size);

	ck_assert_msg(h != 0, "xcf_malloc(%zu) failed: errno %d", size, errno);
	ck_assert_int_eq(h & 7, 0);
	fill(buf, size, seed);
	ck_assert_int_eq(xcf_write(p, h, buf), (int)size);
	return h;
}

static struct xcf_stats stats_of(struct xcf_pool *p)
{
	struct xcf_stats st;

	xcf_stats(p, &st);
	return st;
}

/* The lz4 compressed sizes of the pages of pages.img that the PAM backend
 * would store in xcf: not same-filled, compressed to at most 3/4 page. */
static uint32_t *corpus_sizes(size_t *count)
{
	size_t len, n = 0;
	unsigned char *img = zc_load_file(zc_corpus_path("pages.img"), &len);
	char out[LZ4_COMPRESSBOUND(4096)];
	uint32_t *sizes = malloc((len / 4096 + 1) * sizeof(*sizes));

	ck_assert_ptr_nonnull(sizes);
	for (size_t off = 0; off + 4096 <= len; off += 4096) {
		const unsigned char *pg = img + off;
		uint64_t w0, w;
		bool same = true;
		int c;

		memcpy(&w0, pg, 8);
		for (size_t i = 8; i < 4096 && same; i += 8) {
			memcpy(&w, pg + i, 8);
			same = w == w0;
		}
		if (same)
			continue;
		c = LZ4_compress_default((const char *)pg, out, 4096, (int)sizeof(out));
		if (c <= 0 || c > 3072)
			continue;
		sizes[n++] = (uint32_t)c;
	}
	free(img);
	ck_assert_uint_gt(n, 1000);
	*count = n;
	return sizes;
}

/* ------------------------------------------------------------------ */
/* API and error paths.                                               */

START_TEST(test_create_destroy)
{
	struct buddy *b = buddy_create(0);
	struct slab_cache *wrong, *shared;
	struct xcf_pool *p;
	struct xcf_stats st;

	ck_assert_ptr_nonnull(b);
	xcf_destroy(NULL);

	errno = 0;
	ck_assert_ptr_null(xcf_create("x", NULL, NULL, 0));
	ck_assert_int_eq(errno, EINVAL);

	wrong = slab_create("wrong", 16, 0, b);
	ck_assert_ptr_nonnull(wrong);
	errno = 0;
	ck_assert_ptr_null(xcf_create("x", b, wrong, 0));
	ck_assert_int_eq(errno, EINVAL);
	slab_destroy(wrong);

	/* An empty pool takes no page; its name is kept (truncated). */
	p = xcf_create("a-pool-name-that-is-much-longer-than-the-limit", b, NULL, 4);
	ck_assert_ptr_nonnull(p);
	st = stats_of(p);
	ck_assert_uint_eq(st.pages, 0);
	ck_assert_uint_eq(st.objects, 0);
	ck_assert_uint_eq(strlen(st.name), XCF_NAME_MAX - 1);
	ck_assert(strncmp(st.name, "a-pool-name", 11) == 0);
	ck_assert_int_eq(xcf_check(p), 0);
	ck_assert_uint_eq(xcf_fragmentation(p), 0);
	xcf_destroy(p);

	/* Destroying a pool with live objects returns their descriptors to
	 * a shared cache and their pages to buddy. */
	shared = slab_create("xcf_desc", XCF_DESC_SIZE, 8, b);
	ck_assert_ptr_nonnull(shared);
	p = xcf_create("live", b, shared, 4);
	ck_assert_ptr_nonnull(p);
	for (unsigned i = 0; i < 300; i++)
		alloc_fill(p, 1 + i * 13 % XCF_MAX_SIZE, i);
	ck_assert_int_eq(xcf_check(p), 0);
	xcf_destroy(p);
	{
		struct slab_stats ss;
		struct buddy_stats bs;

		slab_shrink(shared);
		slab_stats(shared, &ss);
		ck_assert_uint_eq(ss.active_objs, 0);
		slab_destroy(shared);
		buddy_stats(b, &bs);
		ck_assert_uint_eq(bs.blocks, 0);
	}
	ck_assert_int_eq(buddy_check(b), 0);
	buddy_destroy(b);
}
END_TEST

START_TEST(test_sizes_and_errors)
{
	struct buddy *b = buddy_create(0);
	struct xcf_pool *p = xcf_create("sizes", b, NULL, 2);
	unsigned char buf[XCF_MAX_SIZE];
	xcf_handle hs[XCF_MAX_SIZE / 7 + 2];
	unsigned n = 0;

	ck_assert_ptr_nonnull(p);
	errno = 0;
	ck_assert_uint_eq(xcf_malloc(p, 0), 0);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_uint_eq(xcf_malloc(p, XCF_MAX_SIZE + 1), 0);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(stats_of(p).objects, 0);
	ck_assert_uint_eq(stats_of(p).pages, 0);

	ck_assert_int_eq(xcf_read(p, 0, buf), -EINVAL);
	ck_assert_int_eq(xcf_write(p, 0, buf), -EINVAL);
	ck_assert_uint_eq(xcf_size(p, 0), 0);
	xcf_free(p, 0);
	ck_assert_int_eq(xcf_check(p), 0);

	/* Every size from 1 to the maximum, in steps of 7, plus the maximum. */
	for (size_t s = 1; s <= XCF_MAX_SIZE; s += 7)
		hs[n++] = alloc_fill(p, s, s * 31);
	hs[n++] = alloc_fill(p, XCF_MAX_SIZE, 99);
	ck_assert_int_eq(xcf_check(p), 0);
	for (unsigned i = 0; i + 1 < n; i++)
		verify(p, hs[i], 1 + (size_t)i * 7, (1 + (size_t)i * 7) * 31);
	verify(p, hs[n - 1], XCF_MAX_SIZE, 99);
	{
		struct xcf_stats st = stats_of(p);
		uint64_t sum = XCF_MAX_SIZE;

		for (unsigned i = 0; i + 1 < n; i++)
			sum += 1 + (uint64_t)i * 7;
		ck_assert_uint_eq(st.objects, n);
		ck_assert_uint_eq(st.used_bytes, sum);
		ck_assert_uint_eq(st.desc_bytes, (uint64_t)n * XCF_DESC_SIZE);
		ck_assert_uint_eq(st.header_bytes, (n + st.split_objects) * XCF_HDR_SIZE);
		ck_assert_uint_ge(st.block_bytes, st.used_bytes + st.header_bytes);
		ck_assert_uint_lt(st.block_bytes, st.used_bytes + st.header_bytes +
				  (n + st.split_objects) * XCF_BLOCK_SIZE);
		ck_assert_uint_ge(st.table_bytes, st.pages * 8);
		ck_assert_uint_eq(st.page_bytes, st.pages * XCF_PAGE_SIZE);
		ck_assert_uint_eq(st.allocs, n);
	}
	/* Overwrite in place. */
	fill(buf, 100, 7);
	ck_assert_int_eq(xcf_write(p, hs[0], buf), 1);
	verify(p, hs[0], 1, 7);
	for (unsigned i = 0; i < n; i++)
		xcf_free(p, hs[i]);
	ck_assert_int_eq(xcf_check(p), 0);
	ck_assert_uint_eq(stats_of(p).objects, 0);
	ck_assert_uint_eq(stats_of(p).frees, n);
	ck_assert_uint_eq(stats_of(p).pages, 2);	/* the reserve */
	ck_assert_uint_eq(xcf_shrink(p), 2 * XCF_PAGE_SIZE);
	ck_assert_uint_eq(stats_of(p).pages, 0);
	xcf_destroy(p);
	buddy_destroy(b);
}
END_TEST

/* With no memory to be had, xcf_malloc fails with ENOMEM and leaves the
 * pool as it was.  Address-space limits do not mix with the sanitizers, so
 * this runs in plain builds only. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define XCF_TEST_ENOMEM 1
START_TEST(test_enomem)
{
	struct buddy *b = buddy_create(0);
	struct xcf_pool *p = xcf_create("oom", b, NULL, 0);
	struct rlimit rl;
	struct xcf_stats before, after;
	xcf_handle *hs;
	size_t n = 0, cap = 1 << 20;

	ck_assert_ptr_nonnull(p);
	hs = malloc(cap * sizeof(*hs));
	ck_assert_ptr_nonnull(hs);
	ck_assert_int_eq(getrlimit(RLIMIT_AS, &rl), 0);
	/* Enough room for the test's own heap, not for much pool. */
	{
		unsigned long vm = 0;
		FILE *f = fopen("/proc/self/statm", "r");

		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fscanf(f, "%lu", &vm), 1);
		fclose(f);
		rl.rlim_cur = vm * 4096 + (64u << 20);
	}
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
	for (;;) {
		xcf_handle h;

		ck_assert_uint_lt(n, cap);
		errno = 0;
		h = xcf_malloc(p, 3000);
		if (!h)
			break;
		hs[n++] = h;
	}
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_gt(n, 100);
	before = stats_of(p);
	ck_assert_uint_eq(xcf_malloc(p, 3000), 0);
	ck_assert_int_eq(errno, ENOMEM);
	after = stats_of(p);
	ck_assert_uint_eq(after.failed_allocs, before.failed_allocs + 1);
	ck_assert_uint_eq(after.objects, before.objects);
	ck_assert_uint_eq(after.pages, before.pages);
	ck_assert_uint_eq(after.used_bytes, before.used_bytes);
	ck_assert_int_eq(xcf_check(p), 0);
	/* Room made by a free is used again. */
	xcf_free(p, hs[--n]);
	ck_assert_uint_ne(hs[n] = xcf_malloc(p, 3000), 0);
	n++;
	ck_assert_int_eq(xcf_check(p), 0);
	for (size_t i = 0; i < n; i++)
		xcf_free(p, hs[i]);
	ck_assert_int_eq(xcf_check(p), 0);
	free(hs);
	xcf_destroy(p);
	buddy_destroy(b);
}
END_TEST
#endif

/* ------------------------------------------------------------------ */
/* Placement rules.                                                   */

/* Page 1: a(10) b(20) c(34 units), full.  Page 2: d(30) e(30), 4 free. */
START_TEST(test_place_best_fit_and_smallest_larger)
{
	struct buddy *b = buddy_create(0);
	struct xcf_pool *p = xcf_create("place", b, NULL, 0);
	xcf_handle a, bb, c, d, e, x, y;
	struct xcf_stats st;

	ck_assert_ptr_nonnull(p);
	/* A new page; the remainder is split off as one free block. */
	a = alloc_fill(p, size_for_units(10), 1);
	st = stats_of(p);
	ck_assert_uint_eq(st.pages, 1);
	ck_assert_uint_eq(st.free_blocks[53], 1);
	ck_assert_uint_eq(st.free_bytes[53], 54 * 64);
	bb = alloc_fill(p, size_for_units(20), 2);
	st = stats_of(p);
	ck_assert_uint_eq(st.free_blocks[53], 0);
	ck_assert_uint_eq(st.free_blocks[33], 1);
	c = alloc_fill(p, size_for_units(34), 3);	/* exact: fills page 1 */
	st = stats_of(p);
	ck_assert_uint_eq(st.pages, 1);
	for (unsigned i = 0; i < XCF_NR_LISTS; i++)
		ck_assert_uint_eq(st.free_blocks[i], 0);
	d = alloc_fill(p, size_for_units(30), 4);
	e = alloc_fill(p, size_for_units(30), 5);
	st = stats_of(p);
	ck_assert_uint_eq(st.pages, 2);
	ck_assert_uint_eq(st.free_blocks[3], 1);
	ck_assert_uint_eq(st.split_objects, 0);
	xcf_free(p, d);				/* a 30-unit hole */
	xcf_free(p, bb);			/* a 20-unit hole */
	st = stats_of(p);
	ck_assert_uint_eq(st.free_blocks[29], 1);
	ck_assert_uint_eq(st.free_blocks[19], 1);
	ck_assert_int_eq(xcf_check(p), 0);

	/* Best fit: the 20-unit hole, not the first or larger one. */
	x = alloc_fill(p, size_for_units(20), 6);
	st = stats_of(p);
	ck_assert_uint_eq(st.free_blocks[19], 0);
	ck_assert_uint_eq(st.free_blocks[29], 1);
	ck_assert_uint_eq(st.free_blocks[3], 1);
	ck_assert_uint_eq(st.pages, 2);
	/* Best fit by units, not bytes: 1 byte less still takes 20 units. */
	xcf_free(p, x);
	x = alloc_fill(p, size_for_units(20) - 63, 6);
	st = stats_of(p);
	ck_assert_uint_eq(st.free_blocks[19], 0);

	/* Smallest larger: 25 units from the 30-unit hole (not a new page),
	 * the 5-unit remainder split off. */
	y = alloc_fill(p, size_for_units(25), 7);
	st = stats_of(p);
	ck_assert_uint_eq(st.free_blocks[29], 0);
	ck_assert_uint_eq(st.free_blocks[4], 1);
	ck_assert_uint_eq(st.free_blocks[3], 1);
	ck_assert_uint_eq(st.pages, 2);
	ck_assert_uint_eq(st.split_objects, 0);
	ck_assert_int_eq(xcf_check(p), 0);

	verify(p, a, size_for_units(10), 1);
	verify(p, c, size_for_units(34), 3);
	verify(p, e, size_for_units(30), 5);
	verify(p, x, size_for_units(20) - 63, 6);
	verify(p, y, size_for_units(25), 7);
	xcf_destroy(p);
	buddy_destroy(b);
}
END_TEST

/* No block holds the object: the largest smaller block is filled and the
 * rest goes into a second block on another page. */
START_TEST(test_place_split)
{
	struct buddy *b = buddy_create(0);
	struct xcf_pool *p = xcf_create("split", b, NULL, 0);
	xcf_handle a, bb, c, d, x, y, z, w;
	struct xcf_stats st;

	ck_assert_ptr_nonnull(p);
	/* Page 1: a(20) b(10) c(10) d(24), full; free a and c. */
	a = alloc_fill(p, size_for_units(20), 1);
	bb = alloc_fill(p, size_for_units(10), 2);
	c = alloc_fill(p, size_for_units(10), 3);
	d = alloc_fill(p, size_for_units(24), 4);
	ck_assert_uint_eq(stats_of(p).pages, 1);
	xcf_free(p, a);
	xcf_free(p, c);
	st = stats_of(p);
	ck_assert_uint_eq(st.free_blocks[19], 1);
	ck_assert_uint_eq(st.free_blocks[9], 1);

	/* 25 units: first block = the 20-unit hole (the largest smaller, not
	 * the 10-unit one); the rest needs 6 units, and the 10-unit hole is
	 * on the same page, so the second block comes from a new page. */
	x = alloc_fill(p, size_for_units(25), 5);
	st = stats_of(p);
	ck_assert_uint_eq(st.split_objects, 1);
	ck_assert_uint_eq(st.pages, 2);
	ck_assert_uint_eq(st.free_blocks[19], 0);
	ck_assert_uint_eq(st.free_blocks[9], 1);	/* untouched */
	ck_assert_uint_eq(st.free_blocks[64 - 6 - 1], 1);	/* page 2 remainder */
	ck_assert_uint_eq(st.header_bytes, 4 * XCF_HDR_SIZE);
	ck_assert_int_eq(xcf_check(p), 0);
	verify(p, x, size_for_units(25), 5);

	/* 12 units: the 58-unit remainder on page 2 is the smallest larger,
	 * so no split. */
	y = alloc_fill(p, size_for_units(12), 6);
	st = stats_of(p);
	ck_assert_uint_eq(st.split_objects, 1);
	ck_assert_uint_eq(st.free_blocks[45], 1);

	/* 50 units: nothing large enough; the largest smaller is the
	 * 46-unit block on page 2, and the rest (5 units) goes best fit...
	 * there is none of 5, so the smallest larger on another page: the
	 * 10-unit hole of page 1, leaving 5 free units there. */
	z = alloc_fill(p, size_for_units(50), 7);
	st = stats_of(p);
	ck_assert_uint_eq(st.split_objects, 2);
	ck_assert_uint_eq(st.pages, 2);
	ck_assert_uint_eq(st.free_blocks[45], 0);
	ck_assert_uint_eq(st.free_blocks[9], 0);
	ck_assert_uint_eq(st.free_blocks[4], 1);
	ck_assert_int_eq(xcf_check(p), 0);

	/* A whole-page object: with no reserve page and no free block large
	 * enough, it is split too (5-unit hole + rest on a new page). */
	w = alloc_fill(p, XCF_MAX_SIZE, 8);
	st = stats_of(p);
	ck_assert_uint_eq(st.split_objects, 3);
	ck_assert_uint_eq(st.pages, 3);
	ck_assert_uint_eq(st.free_blocks[4], 0);
	ck_assert_int_eq(xcf_check(p), 0);

	verify(p, bb, size_for_units(10), 2);
	verify(p, d, size_for_units(24), 4);
	verify(p, x, size_for_units(25), 5);
	verify(p, y, size_for_units(12), 6);
	verify(p, z, size_for_units(50), 7);
	verify(p, w, XCF_MAX_SIZE, 8);
	/* Freeing split objects frees both blocks. */
	xcf_free(p, x);
	xcf_free(p, z);
	xcf_free(p, w);
	st = stats_of(p);
	ck_assert_uint_eq(st.split_objects, 0);
	ck_assert_uint_eq(st.objects, 3);
	ck_assert_int_eq(xcf_check(p), 0);
	xcf_destroy(p);
	buddy_destroy(b);
}
END_TEST

/* Free neighbours merge; a wholly free page joins the reserve up to its
 * size and goes back to buddy beyond it; whole-page objects take reserve
 * pages first. */
START_TEST(test_merge_and_reserve)
{
	struct buddy *b = buddy_create(0);
	struct xcf_pool *p = xcf_create("merge", b, NULL, 2);
	xcf_handle a, bb, c, big[5];
	struct xcf_stats st;

	ck_assert_ptr_nonnull(p);
	a = alloc_fill(p, size_for_units(10), 1);
	bb = alloc_fill(p, size_for_units(20), 2);
	c = alloc_fill(p, size_for_units(34), 3);
	xcf_free(p, bb);
	xcf_free(p, a);			/* merges with the next block */
	st = stats_of(p);
	ck_assert_uint_eq(st.free_blocks[29], 1);
	ck_assert_uint_eq(st.free_blocks[9], 0);
	ck_assert_uint_eq(st.free_blocks[19], 0);
	ck_assert_int_eq(xcf_check(p), 0);
	xcf_free(p, c);			/* merges with the previous: page free */
	st = stats_of(p);
	ck_assert_uint_eq(st.free_blocks[29], 0);
	ck_assert_uint_eq(st.pages, 1);
	ck_assert_uint_eq(st.free_pages, 1);
	ck_assert_uint_eq(st.free_blocks[XCF_NR_LISTS - 1], 1);
	ck_assert_uint_eq(xcf_fragmentation(p), 0);
	ck_assert_int_eq(xcf_check(p), 0);

	/* Free on both sides at once. */
	a = alloc_fill(p, size_for_units(10), 1);
	bb = alloc_fill(p, size_for_units(20), 2);
	c = alloc_fill(p, size_for_units(34), 3);
	ck_assert_uint_eq(stats_of(p).free_pages, 0);
	xcf_free(p, a);
	xcf_free(p, c);
	ck_assert_uint_eq(stats_of(p).free_blocks[9], 1);
	ck_assert_uint_eq(stats_of(p).free_blocks[33], 1);
	xcf_free(p, bb);
	st = stats_of(p);
	ck_assert_uint_eq(st.free_pages, 1);
	ck_assert_uint_eq(st.free_blocks[9] + st.free_blocks[33], 0);

	/* Whole-page objects: the first takes the reserve page. */
	for (unsigned i = 0; i < 5; i++) {
		big[i] = alloc_fill(p, XCF_MAX_SIZE, 10 + i);
		if (i == 0)
			ck_assert_uint_eq(stats_of(p).pages, 1);
	}
	st = stats_of(p);
	ck_assert_uint_eq(st.pages, 5);
	ck_assert_uint_eq(st.free_pages, 0);
	ck_assert_uint_eq(st.split_objects, 0);
	ck_assert_uint_eq(xcf_fragmentation(p), 0);
	for (unsigned i = 0; i < 5; i++) {
		verify(p, big[i], XCF_MAX_SIZE, 10 + i);
		xcf_free(p, big[i]);
	}
	st = stats_of(p);
	ck_assert_uint_eq(st.pages, 2);		/* the reserve; 3 went back */
	ck_assert_uint_eq(st.free_pages, 2);
	ck_assert_int_eq(xcf_check(p), 0);
	/* A small object carves a reserve page rather than a new one. */
	a = alloc_fill(p, 100, 20);
	st = stats_of(p);
	ck_assert_uint_eq(st.pages, 2);
	ck_assert_uint_eq(st.free_pages, 1);
	ck_assert_uint_eq(xcf_shrink(p), XCF_PAGE_SIZE);
	ck_assert_uint_eq(stats_of(p).pages, 1);
	ck_assert_uint_eq(xcf_shrink(p), 0);
	verify(p, a, 100, 20);
	xcf_free(p, a);
	ck_assert_int_eq(xcf_check(p), 0);
	xcf_destroy(p);
	buddy_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Compaction.                                                        */

struct obj {
	xcf_handle h;
	uint32_t size;
	uint64_t seed;
};

START_TEST(test_compact_basic)
{
	struct buddy *b = buddy_create(0);
	struct xcf_pool *p = xcf_create("compact", b, NULL, 4);
	size_t nsizes, n = 4000, live = 0;
	uint32_t *sizes = corpus_sizes(&nsizes);
	struct obj *objs = calloc(n, sizeof(*objs));
	uint64_t rng = zc_test_seed();
	struct xcf_compact_result r;
	struct xcf_stats before, after;

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(objs);
	ck_assert_int_eq(xcf_compact(NULL, 0, &r), -EINVAL);
	/* Nothing to do on an empty pool. */
	ck_assert_int_eq(xcf_compact(p, 0, &r), 0);
	ck_assert_uint_eq(r.pages_examined + r.pages_freed + r.objects_moved, 0);

	for (size_t i = 0; i < n; i++) {
		objs[i].size = sizes[zc_rand_below(&rng, nsizes)];
		objs[i].seed = zc_rand(&rng);
		objs[i].h = alloc_fill(p, objs[i].size, objs[i].seed);
	}
	/* Densely packed: compaction finds nothing worth moving. */
	ck_assert_uint_le(xcf_fragmentation(p), 3);
	before = stats_of(p);
	ck_assert_int_eq(xcf_compact(p, 0, NULL), 0);
	after = stats_of(p);
	ck_assert_uint_le(after.pages, before.pages);
	ck_assert_int_eq(xcf_check(p), 0);

	/* Free a random half. */
	for (size_t i = 0; i < n; i++) {
		if (zc_rand(&rng) & 1) {
			verify(p, objs[i].h, objs[i].size, objs[i].seed);
			xcf_free(p, objs[i].h);
			objs[i].h = 0;
		} else {
			live++;
		}
	}
	ck_assert_int_eq(xcf_check(p), 0);
	before = stats_of(p);
	ck_assert_uint_ge(before.fragmentation, 30);

	/* A budget of 1 byte evacuates one page at most. */
	ck_assert_int_eq(xcf_compact(p, 1, &r), 0);
	ck_assert_uint_eq(stats_of(p).pages, before.pages - r.pages_released);
	ck_assert_uint_le(r.pages_examined, 1);
	ck_assert_uint_le(r.pages_freed, r.pages_examined);
	ck_assert_uint_le(r.bytes_moved, 4 * XCF_PAGE_SIZE);
	ck_assert_int_eq(xcf_check(p), 0);

	/* A budget of 64 KiB moves about that much. */
	ck_assert_int_eq(xcf_compact(p, 65536, &r), 0);
	ck_assert_uint_gt(r.objects_moved, 0);
	ck_assert_uint_le(r.bytes_moved, 3 * 65536);
	ck_assert_int_eq(xcf_check(p), 0);

	/* No bound: back close to the live bytes. */
	ck_assert_int_eq(xcf_compact(p, 0, &r), 0);
	ck_assert_int_eq(xcf_check(p), 0);
	after = stats_of(p);
	ck_assert_uint_gt(r.pages_freed, 0);
	ck_assert_uint_le(r.pages_freed, r.pages_examined);
	ck_assert_uint_lt(after.pages, before.pages);
	ck_assert_uint_lt(after.fragmentation, before.fragmentation);
	ck_assert_uint_eq(after.objects, live);
	ck_assert_uint_eq(after.compactions, before.compactions + 3);
	ck_assert_uint_ge(after.compact_bytes_moved, r.bytes_moved);
	ck_assert_uint_ge(after.compact_pages_freed, r.pages_freed);
	ck_assert_uint_eq(after.isolated_pages, 0);
	/* Within 15% of the live bytes plus the reserve. */
	ck_assert_msg((after.pages - after.free_pages) * XCF_PAGE_SIZE * 100 <=
		      after.used_bytes * 115,
		      "%llu pages for %llu live bytes",
		      (unsigned long long)after.pages, (unsigned long long)after.used_bytes);
	for (size_t i = 0; i < n; i++)
		if (objs[i].h)
			verify(p, objs[i].h, objs[i].size, objs[i].seed);
	/* Run again: little or nothing left to do, nothing breaks. */
	ck_assert_int_eq(xcf_compact(p, 0, &r), 0);
	ck_assert_int_eq(xcf_check(p), 0);
	for (size_t i = 0; i < n; i++)
		if (objs[i].h) {
			verify(p, objs[i].h, objs[i].size, objs[i].seed);
			xcf_free(p, objs[i].h);
		}
	after = stats_of(p);
	ck_assert_uint_eq(after.objects, 0);
	ck_assert_uint_eq(after.used_bytes, 0);
	ck_assert_uint_le(after.pages, 4);
	ck_assert_int_eq(xcf_check(p), 0);
	free(objs);
	free(sizes);
	xcf_destroy(p);
	buddy_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Model-based randomized test.                                       */

#define MODEL_OPS 200000
#define MODEL_BATCH 1000
#define MODEL_MAX_LIVE 6000

START_TEST(test_model)
{
	struct buddy *b = buddy_create(1);
	struct xcf_pool *p = xcf_create("model", b, NULL, 8);
	size_t nsizes, live = 0;
	uint32_t *sizes = corpus_sizes(&nsizes);
	struct obj *objs = calloc(MODEL_MAX_LIVE, sizeof(*objs));
	uint64_t rng = zc_test_seed(), used = 0, compactions = 0, target = 3000;
	unsigned char buf[XCF_MAX_SIZE];

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(objs);
	for (unsigned op = 0; op < MODEL_OPS; op++) {
		uint64_t r = zc_rand_below(&rng, 1000);

		/* Drift the live-set target now and then so that phases of
		 * growth and shrinking both happen. */
		if (op % 20000 == 0)
			target = 200 + zc_rand_below(&rng, MODEL_MAX_LIVE - 400);
		if (r < 2) {
			struct xcf_compact_result res;
			size_t budget = zc_rand_below(&rng, 3) ? zc_rand_below(&rng, 1 << 18) : 0;
			struct xcf_stats st = stats_of(p);

			ck_assert_int_eq(xcf_compact(p, budget, &res), 0);
			compactions++;
			ck_assert_uint_le(res.pages_freed, res.pages_examined);
			ck_assert_uint_eq(stats_of(p).objects, live);
			/* Compaction takes no page; it returns what it says. */
			ck_assert_uint_eq(stats_of(p).pages, st.pages - res.pages_released);
			ck_assert_uint_eq(stats_of(p).compact_bytes_moved,
					  st.compact_bytes_moved + res.bytes_moved);
			if (budget)
				ck_assert_uint_le(res.bytes_moved, budget + 64 * XCF_MAX_SIZE);
			ck_assert_int_eq(xcf_check(p), 0);
			/* Every object after one compaction in 16, a sample
			 * after the others. */
			if (compactions % 16 == 0) {
				for (size_t i = 0; i < live; i++)
					verify(p, objs[i].h, objs[i].size, objs[i].seed);
			} else {
				for (size_t k = 0; k < 128 && live; k++) {
					struct obj *o = &objs[zc_rand_below(&rng, live)];

					verify(p, o->h, o->size, o->seed);
				}
			}
		} else if (r < 400 && live > 0) {
			/* Read-verify a random object. */
			struct obj *o = &objs[zc_rand_below(&rng, live)];

			verify(p, o->h, o->size, o->seed);
		} else if (live < MODEL_MAX_LIVE && (live < target ? r < 750 : r < 560)) {
			struct obj *o = &objs[live];
			size_t size = zc_rand_below(&rng, 50) ? sizes[zc_rand_below(&rng, nsizes)]
							     : 1 + zc_rand_below(&rng, XCF_MAX_SIZE);

			o->size = (uint32_t)size;
			o->seed = zc_rand(&rng);
			o->h = xcf_malloc(p, size);
			ck_assert_msg(o->h != 0, "xcf_malloc(%zu): errno %d", size, errno);
			fill(buf, size, o->seed);
			ck_assert_int_eq(xcf_write(p, o->h, buf), (int)size);
			used += size;
			live++;
		} else if (live > 0) {
			size_t i = zc_rand_below(&rng, live);

			verify(p, objs[i].h, objs[i].size, objs[i].seed);
			xcf_free(p, objs[i].h);
			used -= objs[i].size;
			objs[i] = objs[--live];
		}
		if ((op + 1) % MODEL_BATCH == 0) {
			struct xcf_stats st = stats_of(p);

			ck_assert_int_eq(xcf_check(p), 0);
			ck_assert_uint_eq(st.objects, live);
			ck_assert_uint_eq(st.used_bytes, used);
			ck_assert_uint_le(st.free_pages, 8);
			ck_assert_uint_eq(st.isolated_pages, 0);
		}
	}
	ck_assert_uint_gt(compactions, 100);
	ck_assert_uint_gt(stats_of(p).compact_objects_moved, 0);
	while (live > 0) {
		verify(p, objs[live - 1].h, objs[live - 1].size, objs[live - 1].seed);
		xcf_free(p, objs[--live].h);
	}
	ck_assert_int_eq(xcf_check(p), 0);
	ck_assert_uint_le(stats_of(p).pages, 8);
	free(objs);
	free(sizes);
	xcf_destroy(p);
	ck_assert_int_eq(buddy_check(b), 0);
	buddy_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Threads racing with compaction.                                    */

#define MT_WORKERS 3
#define MT_OPS 30000
#define MT_LIVE 400

struct mt_ctx {
	struct xcf_pool *pools[MT_WORKERS];
	unsigned npools;
	const uint32_t *sizes;
	size_t nsizes;
	atomic_int stop;
	atomic_int failures;
	atomic_ulong moved;
};

struct mt_worker {
	struct mt_ctx *ctx;
	unsigned id;
	uint64_t seed;
};

/* No ck_assert in threads: libcheck's assertions are not thread safe, so a
 * worker counts failures and the main thread asserts on the count. */
static void *mt_worker_run(void *arg)
{
	struct mt_worker *w = arg;
	struct mt_ctx *ctx = w->ctx;
	struct xcf_pool *p = ctx->pools[w->id % ctx->npools];
	struct obj *objs = calloc(MT_LIVE, sizeof(*objs));
	unsigned char want[XCF_MAX_SIZE], got[XCF_MAX_SIZE];
	uint64_t rng = w->seed;
	size_t live = 0;

	if (!objs) {
		atomic_fetch_add(&ctx->failures, 1);
		return NULL;
	}
	for (unsigned op = 0; op < MT_OPS; op++) {
		uint64_t r = zc_rand_below(&rng, 100);

		if (live < MT_LIVE && (r < 45 || live == 0)) {
			struct obj *o = &objs[live];

			o->size = ctx->sizes[zc_rand_below(&rng, ctx->nsizes)];
			o->seed = zc_rand(&rng);
			o->h = xcf_malloc(p, o->size);
			if (!o->h) {
				atomic_fetch_add(&ctx->failures, 1);
				break;
			}
			fill(want, o->size, o->seed);
			if (xcf_write(p, o->h, want) != (int)o->size)
				atomic_fetch_add(&ctx->failures, 1);
			live++;
		} else if (r < 75) {
			struct obj *o = &objs[zc_rand_below(&rng, live)];

			fill(want, o->size, o->seed);
			if (xcf_read(p, o->h, got) != (int)o->size ||
			    memcmp(want, got, o->size) != 0)
				atomic_fetch_add(&ctx->failures, 1);
		} else {
			size_t i = zc_rand_below(&rng, live);

			fill(want, objs[i].size, objs[i].seed);
			if (xcf_read(p, objs[i].h, got) != (int)objs[i].size ||
			    memcmp(want, got, objs[i].size) != 0)
				atomic_fetch_add(&ctx->failures, 1);
			xcf_free(p, objs[i].h);
			objs[i] = objs[--live];
		}
	}
	/* Final verification, then free half so the pool ends fragmented. */
	for (size_t i = 0; i < live; i++) {
		fill(want, objs[i].size, objs[i].seed);
		if (xcf_read(p, objs[i].h, got) != (int)objs[i].size ||
		    memcmp(want, got, objs[i].size) != 0)
			atomic_fetch_add(&ctx->failures, 1);
		xcf_free(p, objs[i].h);
	}
	free(objs);
	return NULL;
}

static void *mt_compactor_run(void *arg)
{
	struct mt_ctx *ctx = arg;
	uint64_t rng = 12345;

	while (!atomic_load(&ctx->stop)) {
		for (unsigned i = 0; i < ctx->npools; i++) {
			struct xcf_compact_result r;
			struct xcf_stats st;

			if (xcf_compact(ctx->pools[i], zc_rand_below(&rng, 2) ? 0 : 16384, &r))
				atomic_fetch_add(&ctx->failures, 1);
			atomic_fetch_add(&ctx->moved, r.objects_moved);
			(void)xcf_fragmentation(ctx->pools[i]);
			xcf_stats(ctx->pools[i], &st);
			if (zc_rand_below(&rng, 16) == 0 && xcf_check(ctx->pools[i]))
				atomic_fetch_add(&ctx->failures, 1);
		}
	}
	return NULL;
}

static void mt_run(unsigned npools)
{
	struct buddy *b = buddy_create(1);
	struct slab_cache *descs = slab_create("xcf_desc", XCF_DESC_SIZE, 8, b);
	struct mt_ctx ctx = { .npools = npools };
	struct mt_worker w[MT_WORKERS];
	pthread_t th[MT_WORKERS], comp;
	uint64_t seed = zc_test_seed();
	uint32_t *sizes = corpus_sizes(&ctx.nsizes);

	ck_assert_ptr_nonnull(descs);
	ctx.sizes = sizes;
	atomic_init(&ctx.stop, 0);
	atomic_init(&ctx.failures, 0);
	atomic_init(&ctx.moved, 0);
	for (unsigned i = 0; i < npools; i++) {
		ctx.pools[i] = xcf_create("mt", b, descs, 4);
		ck_assert_ptr_nonnull(ctx.pools[i]);
	}
	ck_assert_int_eq(pthread_create(&comp, NULL, mt_compactor_run, &ctx), 0);
	for (unsigned i = 0; i < MT_WORKERS; i++) {
		w[i] = (struct mt_worker){ .ctx = &ctx, .id = i, .seed = seed + i * 7919 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, mt_worker_run, &w[i]), 0);
	}
	for (unsigned i = 0; i < MT_WORKERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&ctx.stop, 1);
	pthread_join(comp, NULL);
	ck_assert_int_eq(atomic_load(&ctx.failures), 0);
	for (unsigned i = 0; i < npools; i++) {
		struct xcf_stats st;

		ck_assert_int_eq(xcf_check(ctx.pools[i]), 0);
		xcf_stats(ctx.pools[i], &st);
		ck_assert_uint_eq(st.objects, 0);
		ck_assert_uint_eq(st.isolated_pages, 0);
		ck_assert_uint_le(st.pages, 4);
		xcf_destroy(ctx.pools[i]);
	}
	{
		struct slab_stats ss;

		slab_shrink(descs);
		slab_stats(descs, &ss);
		ck_assert_uint_eq(ss.active_objs, 0);
	}
	slab_destroy(descs);
	free(sizes);
	ck_assert_int_eq(buddy_check(b), 0);
	buddy_destroy(b);
}

START_TEST(test_threads_one_pool)
{
	mt_run(1);
}
END_TEST

START_TEST(test_threads_many_pools)
{
	mt_run(MT_WORKERS);
}
END_TEST

/* Reads of objects that compaction keeps moving: one thread only reads a
 * fixed set of objects (the other objects are freed so that the pool is
 * sparse), while another compacts and a third churns allocations to
 * re-fragment the pool. */
struct rd_ctx {
	struct xcf_pool *p;
	struct obj *objs;
	size_t n;
	atomic_int stop;
	atomic_int failures;
	atomic_ulong reads;
};

static void *rd_reader(void *arg)
{
	struct rd_ctx *c = arg;
	unsigned char want[XCF_MAX_SIZE], got[XCF_MAX_SIZE];
	uint64_t rng = 99;

	while (!atomic_load(&c->stop)) {
		struct obj *o = &c->objs[zc_rand_below(&rng, c->n)];

		fill(want, o->size, o->seed);
		if (xcf_read(c->p, o->h, got) != (int)o->size || memcmp(want, got, o->size))
			atomic_fetch_add(&c->failures, 1);
		atomic_fetch_add(&c->reads, 1);
	}
	return NULL;
}

static void *rd_churn(void *arg)
{
	struct rd_ctx *c = arg;
	xcf_handle hs[256] = { 0 };
	uint64_t rng = 7;

	while (!atomic_load(&c->stop)) {
		unsigned i = (unsigned)zc_rand_below(&rng, 256);

		if (hs[i]) {
			xcf_free(c->p, hs[i]);
			hs[i] = 0;
		} else {
			hs[i] = xcf_malloc(c->p, 64 + zc_rand_below(&rng, 3000));
			if (!hs[i])
				atomic_fetch_add(&c->failures, 1);
		}
	}
	for (unsigned i = 0; i < 256; i++)
		xcf_free(c->p, hs[i]);
	return NULL;
}

START_TEST(test_reads_race_compaction)
{
	struct buddy *b = buddy_create(1);
	struct rd_ctx c = { 0 };
	size_t nsizes, total = 3000;
	uint32_t *sizes = corpus_sizes(&nsizes);
	struct obj *all = calloc(total, sizeof(*all));
	uint64_t rng = zc_test_seed(), moved = 0;
	pthread_t rd, churn;

	ck_assert_ptr_nonnull(all);
	c.p = xcf_create("race", b, NULL, 2);
	ck_assert_ptr_nonnull(c.p);
	for (size_t i = 0; i < total; i++) {
		all[i].size = sizes[zc_rand_below(&rng, nsizes)];
		all[i].seed = zc_rand(&rng);
		all[i].h = alloc_fill(c.p, all[i].size, all[i].seed);
	}
	/* Keep one object in four. */
	for (size_t i = 0; i < total; i++) {
		if (i % 4 == 0)
			all[c.n++] = all[i];
		else
			xcf_free(c.p, all[i].h);
	}
	c.objs = all;
	atomic_init(&c.stop, 0);
	atomic_init(&c.failures, 0);
	atomic_init(&c.reads, 0);
	ck_assert_int_eq(pthread_create(&rd, NULL, rd_reader, &c), 0);
	ck_assert_int_eq(pthread_create(&churn, NULL, rd_churn, &c), 0);
	for (unsigned round = 0; round < 200; round++) {
		struct xcf_compact_result r;

		ck_assert_int_eq(xcf_compact(c.p, round % 2 ? 32768 : 0, &r), 0);
		moved += r.objects_moved;
	}
	atomic_store(&c.stop, 1);
	pthread_join(rd, NULL);
	pthread_join(churn, NULL);
	ck_assert_int_eq(atomic_load(&c.failures), 0);
	ck_assert_uint_gt(moved, 0);
	ck_assert_int_eq(xcf_check(c.p), 0);
	for (size_t i = 0; i < c.n; i++) {
		verify(c.p, all[i].h, all[i].size, all[i].seed);
		xcf_free(c.p, all[i].h);
	}
	ck_assert_uint_eq(stats_of(c.p).objects, 0);
	ck_assert_int_eq(xcf_check(c.p), 0);
	xcf_destroy(c.p);
	free(all);
	free(sizes);
	buddy_destroy(b);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("xcf");
	TCase *api = tcase_create("api");
	TCase *place = tcase_create("placement");
	TCase *compact = tcase_create("compaction");
	TCase *model = tcase_create("model");
	TCase *threads = tcase_create("threads");

	tcase_add_test(api, test_create_destroy);
	tcase_add_test(api, test_sizes_and_errors);
#ifdef XCF_TEST_ENOMEM
	tcase_add_test(api, test_enomem);
#endif
	tcase_add_test(place, test_place_best_fit_and_smallest_larger);
	tcase_add_test(place, test_place_split);
	tcase_add_test(place, test_merge_and_reserve);
	tcase_add_test(compact, test_compact_basic);
	tcase_set_timeout(compact, 600);
	tcase_add_test(model, test_model);
	tcase_set_timeout(model, 600);
	tcase_add_test(threads, test_threads_one_pool);
	tcase_add_test(threads, test_threads_many_pools);
	tcase_add_test(threads, test_reads_race_compaction);
	tcase_set_timeout(threads, 600);
	suite_add_tcase(s, api);
	suite_add_tcase(s, place);
	suite_add_tcase(s, compact);
	suite_add_tcase(s, model);
	suite_add_tcase(s, threads);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
