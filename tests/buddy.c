/* tests/buddy.c - libcheck suite of alloc/buddy.
 *
 * Covers every documented behaviour of buddy.h: sizes and rounding,
 * alignment, leftmost fit, merging, the chunk list order, the reserve,
 * buddy_trim, buddy_prefault, direct maps, the error paths, invalid frees (abort in
 * ZC_DEBUG builds, ignored otherwise), a randomized model-based test and a
 * multi-threaded stress test.  buddy_check() runs after every step.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alloc/buddy.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define PAGE BUDDY_PAGE_SIZE
#define CHUNK BUDDY_CHUNK_SIZE

static struct buddy_stats stats_of(struct buddy *b)
{
	struct buddy_stats st;

	buddy_stats(b, &st);
	return st;
}

static void assert_check(struct buddy *b)
{
	ck_assert_int_eq(buddy_check(b), 0);
}

static char *chunk_of(const void *p)
{
	return (char *)((uintptr_t)p & ~(uintptr_t)(CHUNK - 1));
}

/* ------------------------------------------------------------------ */
/* Sizes. */

START_TEST(test_block_size)
{
	ck_assert_uint_eq(buddy_block_size(0), 0);
	ck_assert_uint_eq(buddy_block_size(1), PAGE);
	ck_assert_uint_eq(buddy_block_size(PAGE - 1), PAGE);
	ck_assert_uint_eq(buddy_block_size(PAGE), PAGE);
	ck_assert_uint_eq(buddy_block_size(PAGE + 1), 2 * PAGE);
	ck_assert_uint_eq(buddy_block_size(3 * PAGE), 4 * PAGE);
	ck_assert_uint_eq(buddy_block_size(5 * PAGE), 8 * PAGE);
	ck_assert_uint_eq(buddy_block_size(100 * KiB), 128 * KiB);
	ck_assert_uint_eq(buddy_block_size(2 * MiB + 1), CHUNK);
	ck_assert_uint_eq(buddy_block_size(CHUNK - 1), CHUNK);
	ck_assert_uint_eq(buddy_block_size(CHUNK), CHUNK);
	/* Over 4 MiB: rounded to pages only. */
	ck_assert_uint_eq(buddy_block_size(CHUNK + 1), CHUNK + PAGE);
	ck_assert_uint_eq(buddy_block_size(5 * MiB), 5 * MiB);
	ck_assert_uint_eq(buddy_block_size(5 * MiB + 7), 5 * MiB + PAGE);
	/* Not representable. */
	ck_assert_uint_eq(buddy_block_size(SIZE_MAX), 0);
	ck_assert_uint_eq(buddy_block_size(SIZE_MAX - PAGE + 2), 0);
	for (unsigned k = 0; k <= BUDDY_MAX_ORDER; k++) {
		ck_assert_uint_eq(buddy_block_size(PAGE << k), PAGE << k);
		if (k > 0)
			ck_assert_uint_eq(buddy_block_size((PAGE << (k - 1)) + 1), PAGE << k);
	}
}
END_TEST

START_TEST(test_size_zero)
{
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	struct buddy_stats st;

	ck_assert_ptr_nonnull(b);
	errno = 0;
	ck_assert_ptr_null(buddy_alloc(b, 0));
	ck_assert_int_eq(errno, EINVAL);
	st = stats_of(b);
	ck_assert_uint_eq(st.failed, 1);
	ck_assert_uint_eq(st.allocs, 0);
	ck_assert_uint_eq(st.chunks, 0);
	ck_assert_uint_eq(st.blocks, 0);
	assert_check(b);
	buddy_destroy(b);
}
END_TEST

START_TEST(test_create_maps_nothing)
{
	struct buddy *b = buddy_create(5);
	struct buddy_stats st = stats_of(b);

	ck_assert_uint_eq(st.chunks, 0);
	ck_assert_uint_eq(st.chunks_mapped, 0);
	ck_assert_uint_eq(st.bytes_allocated, 0);
	assert_check(b);
	ck_assert_uint_eq(buddy_trim(b, 0), 0);
	buddy_destroy(b);
}
END_TEST

START_TEST(test_one_byte)
{
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	struct buddy_stats st;
	unsigned char *p = buddy_alloc(b, 1);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % PAGE, 0);
	memset(p, 0xa5, PAGE);	/* the whole rounded block is usable */
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks, 1);
	ck_assert_uint_eq(st.free_chunks, 0);
	ck_assert_uint_eq(st.bytes_allocated, PAGE);
	ck_assert_uint_eq(st.bytes_requested, 1);
	ck_assert_uint_eq(st.blocks, 1);
	ck_assert_uint_eq(st.allocs, 1);
	ck_assert_uint_eq(st.chunks_mapped, 1);
	ck_assert_uint_eq(st.direct_maps, 0);
	assert_check(b);
	buddy_free(b, p, 1);
	st = stats_of(b);
	ck_assert_uint_eq(st.bytes_allocated, 0);
	ck_assert_uint_eq(st.bytes_requested, 0);
	ck_assert_uint_eq(st.blocks, 0);
	ck_assert_uint_eq(st.frees, 1);
	ck_assert_uint_eq(st.chunks, 1);	/* kept as reserve */
	ck_assert_uint_eq(st.free_chunks, 1);
	assert_check(b);
	buddy_destroy(b);
}
END_TEST

/* Every power of two and every non-power in between rounds up, is aligned
 * to its block size and is fully writable; stats show the rounding. */
START_TEST(test_powers_and_rounding)
{
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);

	for (unsigned k = 0; k <= BUDDY_MAX_ORDER; k++) {
		size_t sizes[3] = { PAGE << k, (PAGE << k) - 1, k ? (PAGE << (k - 1)) + 1 : 1 };

		for (unsigned s = 0; s < 3; s++) {
			size_t size = sizes[s], bs = PAGE << k;
			struct buddy_stats st;
			char *p = buddy_alloc(b, size);

			ck_assert_ptr_nonnull(p);
			ck_assert_uint_eq(buddy_block_size(size), bs);
			ck_assert_uint_eq((uintptr_t)p % bs, 0);
			memset(p, (int)k, bs);
			st = stats_of(b);
			ck_assert_uint_eq(st.bytes_allocated, bs);
			ck_assert_uint_eq(st.bytes_requested, size);
			ck_assert_uint_eq(st.blocks, 1);
			assert_check(b);
			buddy_free(b, p, size);
			assert_check(b);
		}
	}
	ck_assert_uint_eq(stats_of(b).chunks, 1);
	buddy_destroy(b);
}
END_TEST

START_TEST(test_exact_chunk)
{
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	struct buddy_stats st;
	char *p = buddy_alloc(b, CHUNK), *q;

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % CHUNK, 0);
	memset(p, 1, CHUNK);
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks, 1);
	ck_assert_uint_eq(st.direct_maps, 0);
	ck_assert_uint_eq(st.bytes_allocated, CHUNK);
	/* The chunk is full: a single page needs a second chunk. */
	q = buddy_alloc(b, 1);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_eq(chunk_of(q), q);
	ck_assert_ptr_ne(q, p);
	ck_assert_uint_eq(stats_of(b).chunks, 2);
	assert_check(b);
	buddy_free(b, p, CHUNK);
	buddy_free(b, q, 1);
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks, 2);
	ck_assert_uint_eq(st.free_chunks, 2);
	assert_check(b);
	buddy_destroy(b);
}
END_TEST

START_TEST(test_direct)
{
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	struct buddy_stats st;
	size_t s1 = CHUNK + 1, s2 = 10 * MiB + 123;
	char *p = buddy_alloc(b, s1), *q;

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % CHUNK, 0);
	memset(p, 2, buddy_block_size(s1));
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks, 0);
	ck_assert_uint_eq(st.direct_maps, 1);
	ck_assert_uint_eq(st.direct_bytes, CHUNK + PAGE);
	ck_assert_uint_eq(st.bytes_allocated, CHUNK + PAGE);
	ck_assert_uint_eq(st.bytes_requested, s1);
	ck_assert_uint_eq(st.blocks, 1);
	assert_check(b);
	q = buddy_alloc(b, s2);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq((uintptr_t)q % CHUNK, 0);
	memset(q, 3, buddy_block_size(s2));
	st = stats_of(b);
	ck_assert_uint_eq(st.direct_maps, 2);
	ck_assert_uint_eq(st.direct_bytes, CHUNK + PAGE + buddy_block_size(s2));
	ck_assert_uint_eq(st.bytes_requested, s1 + s2);
	assert_check(b);
	ck_assert_uint_eq((unsigned char)p[s1 - 1], 2);
	buddy_free(b, p, s1);
	assert_check(b);
	st = stats_of(b);
	ck_assert_uint_eq(st.direct_maps, 1);
	ck_assert_uint_eq(st.direct_bytes, buddy_block_size(s2));
	ck_assert_uint_eq((unsigned char)q[s2 - 1], 3);
	buddy_free(b, q, s2);
	st = stats_of(b);
	ck_assert_uint_eq(st.direct_maps, 0);
	ck_assert_uint_eq(st.direct_bytes, 0);
	ck_assert_uint_eq(st.bytes_allocated, 0);
	ck_assert_uint_eq(st.blocks, 0);
	ck_assert_uint_eq(st.allocs, 2);
	ck_assert_uint_eq(st.frees, 2);
	ck_assert_uint_eq(st.chunks_mapped, 0);
	assert_check(b);
	buddy_destroy(b);
}
END_TEST

/* Sizes the OS cannot give fail with ENOMEM and change nothing. */
START_TEST(test_direct_enomem)
{
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	struct buddy_stats before, after;
	void *keep = buddy_alloc(b, 3 * PAGE);

	ck_assert_ptr_nonnull(keep);
	before = stats_of(b);
	errno = 0;
	ck_assert_ptr_null(buddy_alloc(b, SIZE_MAX));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(buddy_alloc(b, SIZE_MAX / 2));
	ck_assert_int_eq(errno, ENOMEM);
	after = stats_of(b);
	ck_assert_uint_eq(after.failed, before.failed + 2);
	after.failed = before.failed;
	ck_assert_mem_eq(&after, &before, sizeof(before));
	assert_check(b);
	buddy_free(b, keep, 3 * PAGE);
	buddy_destroy(b);
}
END_TEST

/* With the address space capped, mapping a new chunk fails cleanly.  Only
 * in a forked test (the limit stays in the child) and not under the
 * sanitizers, whose shadow memory needs the address space. */
START_TEST(test_chunk_enomem)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return;
#else
	const char *fork_env = getenv("CK_FORK");
	struct buddy *b;
	struct buddy_stats before, after;
	struct rlimit rl;
	void *blocks[64];
	unsigned n = 0;
	long vm_pages = 0;
	FILE *f;

	if (fork_env && strcmp(fork_env, "no") == 0)
		return;
	b = buddy_create(0);
	ck_assert_ptr_nonnull(b);
	f = fopen("/proc/self/statm", "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%ld", &vm_pages), 1);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = (rlim_t)vm_pages * (rlim_t)sysconf(_SC_PAGESIZE) + 64 * MiB;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
	for (n = 0; n < 64; n++) {
		blocks[n] = buddy_alloc(b, CHUNK);
		if (!blocks[n])
			break;
		assert_check(b);
	}
	ck_assert_uint_lt(n, 64);	/* the cap was hit */
	ck_assert_int_eq(errno, ENOMEM);
	before = stats_of(b);
	errno = 0;
	ck_assert_ptr_null(buddy_alloc(b, 1));
	ck_assert_int_eq(errno, ENOMEM);
	after = stats_of(b);
	ck_assert_uint_eq(after.failed, before.failed + 1);
	ck_assert_uint_eq(after.chunks, before.chunks);
	ck_assert_uint_eq(after.blocks, before.blocks);
	assert_check(b);
	/* Freeing two chunks (a new chunk is mapped 8 MiB - 4 KiB large and
	 * then trimmed) makes room again. */
	ck_assert_uint_ge(n, 2);
	buddy_free(b, blocks[0], CHUNK);
	buddy_free(b, blocks[1], CHUNK);
	ck_assert_uint_eq(stats_of(b).chunks, n - 2);
	blocks[0] = buddy_alloc(b, 1);
	ck_assert_ptr_nonnull(blocks[0]);
	buddy_free(b, blocks[0], 1);
	for (unsigned i = 2; i < n; i++)
		buddy_free(b, blocks[i], CHUNK);
	assert_check(b);
	ck_assert_uint_eq(stats_of(b).chunks, 0);
	buddy_destroy(b);
#endif
}
END_TEST

/* ------------------------------------------------------------------ */
/* Placement. */

START_TEST(test_leftmost_fit)
{
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	char *a = buddy_alloc(b, PAGE), *base, *x, *y, *z, *w;

	ck_assert_ptr_nonnull(a);
	base = chunk_of(a);
	ck_assert_ptr_eq(a, base);			/* pages 0 */
	x = buddy_alloc(b, 2 * PAGE);
	ck_assert_ptr_eq(x, base + 2 * PAGE);		/* pages 2-3 */
	y = buddy_alloc(b, PAGE);
	ck_assert_ptr_eq(y, base + PAGE);		/* page 1, the leftmost hole */
	z = buddy_alloc(b, 8 * PAGE);
	ck_assert_ptr_eq(z, base + 8 * PAGE);		/* pages 8-15 */
	w = buddy_alloc(b, 3 * PAGE);
	ck_assert_ptr_eq(w, base + 4 * PAGE);		/* pages 4-7 */
	assert_check(b);
	buddy_free(b, a, PAGE);
	assert_check(b);
	a = buddy_alloc(b, 100);
	ck_assert_ptr_eq(a, base);			/* the freed page again */
	buddy_free(b, y, PAGE);
	buddy_free(b, a, 100);
	/* Pages 0-1 merged: an 8 KiB block fits there now. */
	a = buddy_alloc(b, 2 * PAGE);
	ck_assert_ptr_eq(a, base);
	assert_check(b);
	buddy_free(b, a, 2 * PAGE);
	buddy_free(b, x, 2 * PAGE);
	buddy_free(b, w, 3 * PAGE);
	buddy_free(b, z, 8 * PAGE);
	assert_check(b);
	/* Everything merged back: the whole chunk is one block again. */
	a = buddy_alloc(b, CHUNK);
	ck_assert_ptr_eq(a, base);
	ck_assert_uint_eq(stats_of(b).chunks, 1);
	buddy_free(b, a, CHUNK);
	buddy_destroy(b);
}
END_TEST

/* Chunks are searched head to tail: a hole in the first chunk is used
 * before free space in the second. */
START_TEST(test_chunk_list_order)
{
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	char *full = buddy_alloc(b, CHUNK / 2), *half = buddy_alloc(b, CHUNK / 2);
	char *second, *p, *q;

	ck_assert_ptr_nonnull(full);
	ck_assert_ptr_eq(half, full + CHUNK / 2);
	second = buddy_alloc(b, PAGE);		/* first chunk is full */
	ck_assert_ptr_nonnull(second);
	ck_assert_ptr_ne(chunk_of(second), chunk_of(full));
	ck_assert_uint_eq(stats_of(b).chunks, 2);
	buddy_free(b, half, CHUNK / 2);
	p = buddy_alloc(b, PAGE);
	ck_assert_ptr_eq(p, half);		/* back in the first chunk */
	/* A request the first chunk cannot hold goes to the second. */
	q = buddy_alloc(b, CHUNK / 2);
	ck_assert_ptr_eq(q, chunk_of(second) + CHUNK / 2);
	assert_check(b);
	buddy_free(b, p, PAGE);
	buddy_free(b, q, CHUNK / 2);
	buddy_free(b, second, PAGE);
	buddy_free(b, full, CHUNK / 2);
	ck_assert_uint_eq(stats_of(b).free_chunks, 2);
	assert_check(b);
	buddy_destroy(b);
}
END_TEST

/* A chunk that becomes wholly free moves to the tail of the list, so a
 * small request fills a hole in a used chunk instead of splitting it. */
START_TEST(test_free_chunk_to_tail)
{
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	char *first = buddy_alloc(b, CHUNK), *a, *c, *p;

	ck_assert_ptr_nonnull(first);
	a = buddy_alloc(b, PAGE);	/* second chunk, page 0 */
	c = buddy_alloc(b, PAGE);	/* second chunk, page 1 */
	ck_assert_ptr_eq(c, a + PAGE);
	buddy_free(b, a, PAGE);		/* a hole in the second chunk */
	buddy_free(b, first, CHUNK);	/* the first chunk is wholly free */
	assert_check(b);
	p = buddy_alloc(b, PAGE);
	ck_assert_ptr_eq(p, a);		/* the hole, not the free first chunk */
	/* The free chunk serves what the used one cannot. */
	ck_assert_ptr_eq(buddy_alloc(b, CHUNK), first);
	ck_assert_uint_eq(stats_of(b).chunks, 2);
	assert_check(b);
	buddy_free(b, first, CHUNK);
	buddy_free(b, p, PAGE);
	buddy_free(b, c, PAGE);
	assert_check(b);
	buddy_destroy(b);
}
END_TEST

/* Many chunks: the list grows past its first allocation, and the search
 * finds the first chunk that fits wherever it sits in the root array
 * (here past the first 8-chunk word). */
START_TEST(test_many_chunks)
{
	uint64_t seed = zc_test_seed();
	enum { N = 40 };
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	char *lo[N], *hi[N], *p, *q;
	unsigned order[2 * N];
	struct buddy_stats st;

	for (unsigned i = 0; i < N; i++) {
		lo[i] = buddy_alloc(b, CHUNK / 2);
		hi[i] = buddy_alloc(b, CHUNK / 2);
		ck_assert_ptr_nonnull(lo[i]);
		ck_assert_ptr_eq(hi[i], lo[i] + CHUNK / 2);
	}
	ck_assert_uint_eq(stats_of(b).chunks, N);
	assert_check(b);
	buddy_free(b, hi[9], CHUNK / 2);
	buddy_free(b, hi[33], CHUNK / 2);
	ck_assert_ptr_eq(buddy_alloc(b, CHUNK / 2), hi[9]);
	buddy_free(b, hi[9], CHUNK / 2);
	p = buddy_alloc(b, PAGE);
	ck_assert_ptr_eq(p, hi[9]);
	q = buddy_alloc(b, CHUNK / 4);
	ck_assert_ptr_eq(q, hi[9] + CHUNK / 4);
	/* Chunk 9 cannot hold another 1 MiB block now; chunk 33 can. */
	ck_assert_ptr_eq(buddy_alloc(b, CHUNK / 4), hi[33]);
	/* Nothing holds 4 MiB: a new chunk is appended. */
	hi[33] = buddy_alloc(b, CHUNK);
	ck_assert_ptr_nonnull(hi[33]);
	ck_assert_uint_eq(stats_of(b).chunks, N + 1);
	assert_check(b);
	buddy_free(b, p, PAGE);
	buddy_free(b, q, CHUNK / 4);
	buddy_free(b, chunk_of(lo[33]) + CHUNK / 2, CHUNK / 4);
	hi[9] = NULL;
	for (unsigned i = 0; i < 2 * N; i++)
		order[i] = i;
	for (unsigned i = 2 * N - 1; i > 0; i--) {
		unsigned j = (unsigned)zc_rand_below(&seed, i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < 2 * N; i++) {
		unsigned k = order[i] / 2;

		if (order[i] % 2 == 0)
			buddy_free(b, lo[k], CHUNK / 2);
		else if (k == 33)
			buddy_free(b, hi[k], CHUNK);
		else if (hi[k])
			buddy_free(b, hi[k], CHUNK / 2);
		if (i % 8 == 0)
			assert_check(b);
	}
	st = stats_of(b);
	ck_assert_uint_eq(st.blocks, 0);
	ck_assert_uint_eq(st.chunks, BUDDY_RESERVE_MIN);
	ck_assert_uint_eq(st.free_chunks, BUDDY_RESERVE_MIN);
	ck_assert_uint_eq(st.chunks_mapped, N + 1);
	assert_check(b);
	buddy_destroy(b);
}
END_TEST

/* 1024 single pages fill a chunk exactly; freeing them in random order
 * merges everything back into one wholly free chunk. */
START_TEST(test_merge_random_order)
{
	uint64_t seed = zc_test_seed();
	struct buddy *b = buddy_create(1);
	char *pages[1024];
	unsigned order[1024];
	struct buddy_stats st;
	char *base;

	for (unsigned i = 0; i < 1024; i++) {
		pages[i] = buddy_alloc(b, PAGE);
		ck_assert_ptr_nonnull(pages[i]);
		order[i] = i;
	}
	base = pages[0];
	for (unsigned i = 0; i < 1024; i++)
		ck_assert_ptr_eq(pages[i], base + i * PAGE);	/* leftmost, in order */
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks, 1);
	ck_assert_uint_eq(st.bytes_allocated, CHUNK);
	assert_check(b);
	for (unsigned i = 1023; i > 0; i--) {
		unsigned j = (unsigned)zc_rand_below(&seed, i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < 1024; i++) {
		buddy_free(b, pages[order[i]], PAGE);
		if (i % 64 == 0)
			assert_check(b);
	}
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks, 1);
	ck_assert_uint_eq(st.free_chunks, 1);
	ck_assert_uint_eq(st.blocks, 0);
	assert_check(b);
	ck_assert_ptr_eq(buddy_alloc(b, CHUNK), base);
	buddy_free(b, base, CHUNK);
	buddy_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Reserve and trim. */

START_TEST(test_reserve)
{
	for (unsigned reserve = 0; reserve <= 3; reserve++) {
		struct buddy *b = buddy_create(reserve);
		struct buddy_stats st;
		char *p[5];

		for (unsigned i = 0; i < 5; i++) {
			p[i] = buddy_alloc(b, CHUNK);
			ck_assert_ptr_nonnull(p[i]);
		}
		ck_assert_uint_eq(stats_of(b).chunks, 5);
		for (unsigned i = 0; i < 5; i++) {
			buddy_free(b, p[i], CHUNK);
			st = stats_of(b);
			ck_assert_uint_eq(st.free_chunks, i + 1 < reserve ? i + 1 : reserve);
			ck_assert_uint_eq(st.chunks, 5 - (i + 1) + st.free_chunks);
			assert_check(b);
		}
		st = stats_of(b);
		ck_assert_uint_eq(st.chunks, reserve);
		ck_assert_uint_eq(st.free_chunks, reserve);
		ck_assert_uint_eq(st.chunks_mapped, 5);
		ck_assert_uint_eq(st.chunks_unmapped, 5 - reserve);
		/* Reserve chunks are reused before new ones are mapped. */
		for (unsigned i = 0; i < reserve; i++)
			ck_assert_ptr_nonnull(p[i] = buddy_alloc(b, CHUNK));
		st = stats_of(b);
		ck_assert_uint_eq(st.chunks_mapped, 5);
		ck_assert_uint_eq(st.free_chunks, 0);
		for (unsigned i = 0; i < reserve; i++)
			buddy_free(b, p[i], CHUNK);
		assert_check(b);
		buddy_destroy(b);
	}
}
END_TEST

/* buddy_prefault: a chunk mapped and faulted in ahead, within max_free
 * and the reserve; allocations then come from it, resident, with no new
 * mapping; it is an ordinary free chunk for buddy_trim. */
START_TEST(test_prefault)
{
	struct buddy *b = buddy_create(3);
	static unsigned char vec[CHUNK / PAGE];
	struct buddy_stats st;
	unsigned n;
	char *p;

	ck_assert_int_eq(buddy_prefault(b, 2), 1);
	ck_assert_int_eq(buddy_prefault(b, 2), 1);
	ck_assert_int_eq(buddy_prefault(b, 2), 0);	/* max_free */
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks, 2);
	ck_assert_uint_eq(st.free_chunks, 2);
	ck_assert_uint_eq(st.chunks_mapped, 2);
	assert_check(b);
	ck_assert_int_eq(buddy_prefault(b, 8), 1);
	ck_assert_int_eq(buddy_prefault(b, 8), 0);	/* the reserve, 3 */
	ck_assert_uint_eq(stats_of(b).free_chunks, 3);
	assert_check(b);
	/* The first chunk serves, every page of it already in memory. */
	ck_assert_ptr_nonnull(p = buddy_alloc(b, PAGE));
	ck_assert_ptr_eq(p, chunk_of(p));
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks_mapped, 3);
	ck_assert_uint_eq(st.free_chunks, 2);
	ck_assert_int_eq(mincore(p, CHUNK, vec), 0);
	for (size_t i = 0; i < CHUNK / PAGE; i++)
		ck_assert_msg(vec[i] & 1, "page %zu of a prefaulted chunk not resident", i);
	memset(p, 0x5a, PAGE);
	/* With one chunk in use, the reserve has room again. */
	ck_assert_int_eq(buddy_prefault(b, 8), 1);
	ck_assert_int_eq(buddy_prefault(b, 8), 0);
	assert_check(b);
	buddy_free(b, p, PAGE);
	assert_check(b);
	ck_assert_uint_eq(buddy_trim(b, 0), 3 * CHUNK);
	ck_assert_uint_eq(stats_of(b).chunks, 0);
	assert_check(b);
	buddy_destroy(b);

	/* No reserve: nothing ahead. */
	b = buddy_create(0);
	ck_assert_int_eq(buddy_prefault(b, 8), 0);
	ck_assert_uint_eq(stats_of(b).chunks_mapped, 0);
	buddy_destroy(b);
	/* The adaptive reserve of an empty allocator: its minimum. */
	b = buddy_create(BUDDY_RESERVE_ADAPTIVE);
	for (n = 0; buddy_prefault(b, 100) == 1; n++)
		;
	ck_assert_uint_eq(n, BUDDY_RESERVE_MIN);
	assert_check(b);
	buddy_destroy(b);
}
END_TEST

START_TEST(test_trim)
{
	struct buddy *b = buddy_create(3);
	struct buddy_stats st;
	char *p[4];

	for (unsigned i = 0; i < 4; i++)
		ck_assert_ptr_nonnull(p[i] = buddy_alloc(b, CHUNK));
	buddy_free(b, p[1], CHUNK);
	buddy_free(b, p[2], CHUNK);
	buddy_free(b, p[3], CHUNK);
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks, 4);
	ck_assert_uint_eq(st.free_chunks, 3);
	ck_assert_uint_eq(buddy_trim(b, 5), 0);		/* nothing beyond 5 */
	ck_assert_uint_eq(buddy_trim(b, 3), 0);
	ck_assert_uint_eq(buddy_trim(b, 1), 2 * CHUNK);
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks, 2);
	ck_assert_uint_eq(st.free_chunks, 1);
	ck_assert_uint_eq(st.chunks_unmapped, 2);
	assert_check(b);
	ck_assert_uint_eq(buddy_trim(b, 0), CHUNK);
	ck_assert_uint_eq(buddy_trim(b, 0), 0);
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks, 1);		/* the busy chunk stays */
	ck_assert_uint_eq(st.free_chunks, 0);
	memset(p[0], 7, CHUNK);
	assert_check(b);
	/* A partly used chunk is never trimmed. */
	buddy_free(b, p[0], CHUNK);
	p[0] = buddy_alloc(b, PAGE);
	ck_assert_uint_eq(buddy_trim(b, 0), 0);
	ck_assert_uint_eq(stats_of(b).chunks, 1);
	buddy_free(b, p[0], PAGE);
	ck_assert_uint_eq(buddy_trim(b, 0), CHUNK);
	st = stats_of(b);
	ck_assert_uint_eq(st.chunks, 0);
	ck_assert_uint_eq(st.chunks_mapped, st.chunks_unmapped);
	assert_check(b);
	buddy_destroy(b);
}
END_TEST

/* Under ASan, free chunk memory is poisoned: a block is accessible from
 * buddy_alloc to buddy_free and not after. */
START_TEST(test_asan_poison)
{
#if defined(__SANITIZE_ADDRESS__)
	struct buddy *b = buddy_create(1);
	char *p = buddy_alloc(b, 3 * PAGE), *q;

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(__asan_region_is_poisoned(p, 4 * PAGE));
	ck_assert_int_ne(__asan_address_is_poisoned(p + 4 * PAGE), 0);	/* free buddy */
	buddy_free(b, p, 3 * PAGE);
	ck_assert_int_ne(__asan_address_is_poisoned(p), 0);
	ck_assert_int_ne(__asan_address_is_poisoned(p + 4 * PAGE - 1), 0);
	q = buddy_alloc(b, PAGE);
	ck_assert_ptr_eq(q, p);
	ck_assert_ptr_null(__asan_region_is_poisoned(q, PAGE));
	ck_assert_int_ne(__asan_address_is_poisoned(q + PAGE), 0);
	buddy_free(b, q, PAGE);
	buddy_destroy(b);
#endif
}
END_TEST

/* ------------------------------------------------------------------ */
/* NULL and teardown. */

START_TEST(test_free_null_destroy_null)
{
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	struct buddy_stats st;

	buddy_free(b, NULL, 0);
	buddy_free(b, NULL, PAGE);
	buddy_free(b, NULL, 100 * MiB);
	st = stats_of(b);
	ck_assert_uint_eq(st.frees, 0);
	assert_check(b);
	buddy_destroy(b);
	buddy_destroy(NULL);
}
END_TEST

/* Destroy with live chunk blocks and direct maps: everything is unmapped
 * and freed (ASan's leak check would report the metadata otherwise). */
START_TEST(test_destroy_live)
{
	struct buddy *b = buddy_create(1);

	for (unsigned i = 0; i < 50; i++)
		ck_assert_ptr_nonnull(buddy_alloc(b, (i % 11 + 1) * 37 * KiB));
	ck_assert_ptr_nonnull(buddy_alloc(b, 6 * MiB));
	ck_assert_ptr_nonnull(buddy_alloc(b, CHUNK + 1));
	assert_check(b);
	ck_assert_uint_eq(stats_of(b).direct_maps, 2);
	buddy_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Invalid frees: detected; abort in debug builds, ignored (allocator
 * unchanged) otherwise.  Each test ends by verifying the allocator is
 * unchanged, which only a release build reaches. */

struct bad_free_env {
	struct buddy *b;
	char *blk8;	/* an order-3 block */
	char *blk1;	/* an order-0 block */
	char *direct;	/* a 6 MiB direct map */
	struct buddy_stats before;
};

static void bad_setup(struct bad_free_env *e)
{
	e->b = buddy_create(BUDDY_DEFAULT_RESERVE);
	ck_assert_ptr_nonnull(e->b);
	e->blk1 = buddy_alloc(e->b, PAGE);
	e->blk8 = buddy_alloc(e->b, 8 * PAGE);
	e->direct = buddy_alloc(e->b, 6 * MiB);
	ck_assert_ptr_nonnull(e->blk1);
	ck_assert_ptr_nonnull(e->blk8);
	ck_assert_ptr_nonnull(e->direct);
	e->before = stats_of(e->b);
}

static void bad_verify_unchanged(struct bad_free_env *e)
{
	struct buddy_stats after = stats_of(e->b);

	ck_assert_mem_eq(&after, &e->before, sizeof(after));
	assert_check(e->b);
	buddy_free(e->b, e->blk1, PAGE);
	buddy_free(e->b, e->blk8, 8 * PAGE);
	buddy_free(e->b, e->direct, 6 * MiB);
	assert_check(e->b);
	ck_assert_uint_eq(stats_of(e->b).blocks, 0);
	buddy_destroy(e->b);
}

START_TEST(test_bad_free_wrong_order)
{
	struct bad_free_env e;

	bad_setup(&e);
	buddy_free(e.b, e.blk8, PAGE);	/* an order-0 free of an order-3 block */
	bad_verify_unchanged(&e);
}
END_TEST

START_TEST(test_bad_free_larger_order)
{
	struct bad_free_env e;

	bad_setup(&e);
	buddy_free(e.b, e.blk1, 2 * PAGE);
	bad_verify_unchanged(&e);
}
END_TEST

START_TEST(test_bad_free_inside_block)
{
	struct bad_free_env e;

	bad_setup(&e);
	buddy_free(e.b, e.blk8 + 2 * PAGE, PAGE);	/* not the block start */
	bad_verify_unchanged(&e);
}
END_TEST

START_TEST(test_bad_free_unaligned)
{
	struct bad_free_env e;

	bad_setup(&e);
	buddy_free(e.b, e.blk1 + 64, PAGE);
	bad_verify_unchanged(&e);
}
END_TEST

START_TEST(test_bad_free_not_allocated)
{
	struct bad_free_env e;

	bad_setup(&e);
	buddy_free(e.b, chunk_of(e.blk1) + 512 * PAGE, PAGE);	/* a free page */
	bad_verify_unchanged(&e);
}
END_TEST

START_TEST(test_bad_free_double)
{
	struct bad_free_env e;
	char *p;

	bad_setup(&e);
	p = buddy_alloc(e.b, 2 * PAGE);
	ck_assert_ptr_nonnull(p);
	buddy_free(e.b, p, 2 * PAGE);
	e.before = stats_of(e.b);
	buddy_free(e.b, p, 2 * PAGE);
	bad_verify_unchanged(&e);
}
END_TEST

START_TEST(test_bad_free_foreign)
{
	struct bad_free_env e;
	static char foreign[2 * 4096];

	bad_setup(&e);
	buddy_free(e.b, foreign, PAGE);	/* not in any chunk */
	bad_verify_unchanged(&e);
}
END_TEST

START_TEST(test_bad_free_size_zero)
{
	struct bad_free_env e;

	bad_setup(&e);
	buddy_free(e.b, e.blk1, 0);
	bad_verify_unchanged(&e);
}
END_TEST

START_TEST(test_bad_free_direct_size)
{
	struct bad_free_env e;

	bad_setup(&e);
	buddy_free(e.b, e.direct, 7 * MiB);
	bad_verify_unchanged(&e);
}
END_TEST

START_TEST(test_bad_free_direct_inner)
{
	struct bad_free_env e;

	bad_setup(&e);
	buddy_free(e.b, e.direct + CHUNK, 6 * MiB);
	bad_verify_unchanged(&e);
}
END_TEST

START_TEST(test_bad_free_chunk_as_direct)
{
	struct bad_free_env e;

	bad_setup(&e);
	buddy_free(e.b, chunk_of(e.blk1), 5 * MiB);
	bad_verify_unchanged(&e);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Model-based randomized test. */

#define MODEL_SLOTS 384
#define MODEL_OPS 120000
#define MODEL_BATCH 1000
#define MODEL_SMALL (16 * KiB)	/* blocks up to this are filled whole */

struct model_block {
	uint64_t *p;
	size_t size;
	uint64_t id;
};

/* The word stored at word index w of block id. */
static uint64_t pattern(uint64_t id, size_t w)
{
	return id * 0x100000001b3ull ^ w;
}

/* Visit the pattern words of a block: every word of a small block; else
 * the first and last 64 bytes of every page within the requested size.  A
 * direct map (its own mapping, so fresh memory that costs a page fault per
 * page touched) gets them only in every 16th page and its last page:
 * anything overlapping it wrongly would be a chunk block of 16 pages or
 * less, which writes its first page, or a larger one, which covers a
 * visited page. */
static int model_visit(struct model_block *m, int write)
{
	size_t words = m->size / 8, page_words = PAGE / 8;
	int sparse = m->size > CHUNK;

	for (size_t base = 0; base < words; base += page_words) {
		size_t end = base + page_words < words ? base + page_words : words;
		size_t w;

		if (sparse && (base / page_words) % 16 != 0 && end < words)
			continue;

		for (w = base; w < end; w++) {
			if (m->size > MODEL_SMALL && w >= base + 8 && w + 8 < end)
				w = end - 8;	/* skip the middle of the page */
			if (write)
				m->p[w] = pattern(m->id, w);
			else if (m->p[w] != pattern(m->id, w))
				return -1;
		}
	}
	if (m->size % 8) {	/* the tail bytes of the request */
		unsigned char *t = (unsigned char *)m->p + m->size - 1;

		if (write)
			*t = (unsigned char)m->id;
		else if (*t != (unsigned char)m->id)
			return -1;
	}
	return 0;
}

static size_t model_size(uint64_t *seed)
{
	unsigned r = (unsigned)zc_rand_below(seed, 1000);

	if (r < 600)		/* small: 1 byte .. 16 KiB */
		return 1 + zc_rand_below(seed, 16 * KiB);
	if (r < 900)		/* medium: up to 256 KiB */
		return 1 + zc_rand_below(seed, 256 * KiB);
	if (r < 985) {		/* large: log-uniform-ish up to 4 MiB, exact powers too */
		unsigned k = 6 + (unsigned)zc_rand_below(seed, 5);

		if (zc_rand_below(seed, 4) == 0)
			return PAGE << k;
		return (PAGE << (k - 1)) + 1 + zc_rand_below(seed, PAGE << (k - 1));
	}
	if (r < 995)
		return CHUNK;
	return CHUNK + 1 + zc_rand_below(seed, 6 * MiB);	/* direct */
}

static void model_compare(struct buddy *b, struct model_block *live, unsigned reserve)
{
	struct buddy_stats st = stats_of(b);
	uint64_t n = 0, req = 0, alloc = 0, dmaps = 0, dbytes = 0;

	for (unsigned i = 0; i < MODEL_SLOTS; i++) {
		size_t bs;

		if (!live[i].p)
			continue;
		bs = buddy_block_size(live[i].size);
		n++;
		req += live[i].size;
		alloc += bs;
		if (live[i].size > CHUNK) {
			dmaps++;
			dbytes += bs;
		}
	}
	ck_assert_int_eq(buddy_check(b), 0);
	ck_assert_uint_eq(st.blocks, n);
	ck_assert_uint_eq(st.bytes_requested, req);
	ck_assert_uint_eq(st.bytes_allocated, alloc);
	ck_assert_uint_eq(st.direct_maps, dmaps);
	ck_assert_uint_eq(st.direct_bytes, dbytes);
	ck_assert_uint_le(st.free_chunks, reserve);
	ck_assert_uint_le(st.free_chunks, st.chunks);
	/* Chunk memory holds at least the chunk blocks. */
	ck_assert_uint_ge(st.chunks * CHUNK, alloc - dbytes);
}

START_TEST(test_model_random)
{
	uint64_t seed = zc_test_seed();
	unsigned reserve = (unsigned)zc_rand_below(&seed, 4);
	struct buddy *b = buddy_create(reserve);
	struct model_block *live = calloc(MODEL_SLOTS, sizeof(*live));
	uint64_t next_id = 1, allocs = 0, frees = 0;

	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(live);
	for (unsigned op = 1; op <= MODEL_OPS; op++) {
		unsigned i = (unsigned)zc_rand_below(&seed, MODEL_SLOTS);
		struct model_block *m = &live[i];

		if (m->p) {
			ck_assert_msg(model_visit(m, 0) == 0,
				      "block %" PRIu64 " (%zu bytes) overwritten", m->id, m->size);
			buddy_free(b, m->p, m->size);
			m->p = NULL;
			frees++;
		} else {
			size_t size = model_size(&seed);
			size_t align = buddy_block_size(size);

			if (align > CHUNK)
				align = CHUNK;
			m->p = buddy_alloc(b, size);
			ck_assert_ptr_nonnull(m->p);
			ck_assert_uint_eq((uintptr_t)m->p % align, 0);
			m->size = size;
			m->id = next_id++;
			model_visit(m, 1);
			allocs++;
		}
		if (op % 9973 == 0) {
			unsigned keep = (unsigned)zc_rand_below(&seed, reserve + 1);
			struct buddy_stats st = stats_of(b);
			size_t want = st.free_chunks > keep ? (st.free_chunks - keep) * CHUNK : 0;

			ck_assert_uint_eq(buddy_trim(b, keep), want);
		}
		if (op % MODEL_BATCH == 0)
			model_compare(b, live, reserve);
	}
	model_compare(b, live, reserve);
	{
		struct buddy_stats st = stats_of(b);

		ck_assert_uint_eq(st.allocs, allocs);
		ck_assert_uint_eq(st.frees, frees);
		ck_assert_uint_eq(st.failed, 0);
	}
	/* Free everything (verifying), then only the reserve is left. */
	for (unsigned i = 0; i < MODEL_SLOTS; i++) {
		if (!live[i].p)
			continue;
		ck_assert_int_eq(model_visit(&live[i], 0), 0);
		buddy_free(b, live[i].p, live[i].size);
		live[i].p = NULL;
	}
	model_compare(b, live, reserve);
	{
		struct buddy_stats st = stats_of(b);

		ck_assert_uint_eq(st.chunks, st.free_chunks);
		ck_assert_uint_le(st.chunks, reserve);
		ck_assert_uint_eq(st.bytes_allocated, 0);
		ck_assert_uint_eq(st.bytes_requested, 0);
	}
	free(live);
	buddy_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Multi-threaded stress. */

#define MT_THREADS 4
#define MT_SLOTS 48
#define MT_OPS 15000

struct mt_arg {
	struct buddy *b;
	uint64_t seed;
	unsigned tid;
	unsigned errors;	/* pattern mismatches seen */
	unsigned nulls;		/* failed allocations */
};

static void *mt_worker(void *p)
{
	struct mt_arg *a = p;
	struct model_block live[MT_SLOTS];
	uint64_t next = 1;

	memset(live, 0, sizeof(live));
	for (unsigned op = 0; op < MT_OPS; op++) {
		unsigned i = (unsigned)zc_rand_below(&a->seed, MT_SLOTS);
		struct model_block *m = &live[i];

		if (m->p) {
			if (model_visit(m, 0) != 0)
				a->errors++;
			buddy_free(a->b, m->p, m->size);
			m->p = NULL;
		} else {
			unsigned r = (unsigned)zc_rand_below(&a->seed, 100);
			size_t size = r < 70 ? 1 + zc_rand_below(&a->seed, 16 * KiB)
				    : r < 98 ? 1 + zc_rand_below(&a->seed, 512 * KiB)
				    : 1 + zc_rand_below(&a->seed, 5 * MiB);

			m->p = buddy_alloc(a->b, size);
			if (!m->p) {
				a->nulls++;
				continue;
			}
			m->size = size;
			m->id = ((uint64_t)a->tid << 48) | next++;
			model_visit(m, 1);
		}
	}
	for (unsigned i = 0; i < MT_SLOTS; i++) {
		if (!live[i].p)
			continue;
		if (model_visit(&live[i], 0) != 0)
			a->errors++;
		buddy_free(a->b, live[i].p, live[i].size);
	}
	return NULL;
}

struct mt_checker {
	struct buddy *b;
	volatile int stop;
	unsigned checks, failures;
};

/* Runs buddy_check, buddy_stats and buddy_trim while the workers run. */
static void *mt_check_loop(void *p)
{
	struct mt_checker *c = p;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		struct buddy_stats st;

		if (buddy_check(c->b) != 0)
			c->failures++;
		buddy_stats(c->b, &st);
		if (st.free_chunks > st.chunks)
			c->failures++;
		buddy_trim(c->b, 1);
		c->checks++;
		usleep(2000);
	}
	return NULL;
}

START_TEST(test_threads)
{
	uint64_t seed = zc_test_seed();
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	pthread_t th[MT_THREADS], checker;
	struct mt_arg args[MT_THREADS];
	struct mt_checker chk = { .b = b };
	struct buddy_stats st;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(pthread_create(&checker, NULL, mt_check_loop, &chk), 0);
	for (unsigned t = 0; t < MT_THREADS; t++) {
		args[t] = (struct mt_arg){ .b = b, .seed = zc_rand(&seed), .tid = t + 1 };
		ck_assert_int_eq(pthread_create(&th[t], NULL, mt_worker, &args[t]), 0);
	}
	for (unsigned t = 0; t < MT_THREADS; t++) {
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
		ck_assert_uint_eq(args[t].errors, 0);
		ck_assert_uint_eq(args[t].nulls, 0);
	}
	__atomic_store_n(&chk.stop, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(pthread_join(checker, NULL), 0);
	ck_assert_uint_eq(chk.failures, 0);
	ck_assert_uint_gt(chk.checks, 0);
	assert_check(b);
	st = stats_of(b);
	ck_assert_uint_eq(st.blocks, 0);
	ck_assert_uint_eq(st.bytes_allocated, 0);
	ck_assert_uint_eq(st.bytes_requested, 0);
	ck_assert_uint_eq(st.direct_maps, 0);
	ck_assert_uint_eq(st.allocs, st.frees);
	ck_assert_uint_le(st.chunks, BUDDY_RESERVE_MIN);
	buddy_destroy(b);
}
END_TEST

/* The adaptive reserve keeps 3/4 as many free chunks as are in use,
 * clamped to [BUDDY_RESERVE_MIN, BUDDY_RESERVE_MAX]: freeing whole chunks
 * one by one from 40 in use, the free count follows that rule exactly. */
START_TEST(test_adaptive_reserve)
{
	enum { N = 40 };
	struct buddy *b = buddy_create(BUDDY_RESERVE_ADAPTIVE);
	void *c[N];
	struct buddy_stats st;

	ck_assert_ptr_nonnull(b);
	for (unsigned i = 0; i < N; i++) {
		c[i] = buddy_alloc(b, CHUNK);
		ck_assert_ptr_nonnull(c[i]);
	}
	for (unsigned i = 0; i < N; i++) {
		unsigned in_use = N - 1 - i, keep = in_use * 3 / 4, freed = i + 1;

		if (keep < BUDDY_RESERVE_MIN)
			keep = BUDDY_RESERVE_MIN;
		if (keep > BUDDY_RESERVE_MAX)
			keep = BUDDY_RESERVE_MAX;
		if (keep > freed)
			keep = freed;
		buddy_free(b, c[i], CHUNK);
		st = stats_of(b);
		ck_assert_uint_eq(st.chunks - st.free_chunks, in_use);
		ck_assert_uint_le(st.free_chunks, keep);
		assert_check(b);
	}
	st = stats_of(b);
	ck_assert_uint_eq(st.free_chunks, BUDDY_RESERVE_MIN);
	/* Taking chunks again reuses the reserve before mapping new ones. */
	for (unsigned i = 0; i < BUDDY_RESERVE_MIN; i++)
		c[i] = buddy_alloc(b, CHUNK);
	ck_assert_uint_eq(stats_of(b).chunks_mapped, N);
	for (unsigned i = 0; i < BUDDY_RESERVE_MIN; i++)
		buddy_free(b, c[i], CHUNK);
	assert_check(b);
	buddy_destroy(b);
}
END_TEST

/* ------------------------------------------------------------------ */

#ifdef ZC_DEBUG
#define add_bad_free_test(tc, t) tcase_add_test_raise_signal(tc, t, SIGABRT)
#else
#define add_bad_free_test(tc, t) tcase_add_test(tc, t)
#endif

static Suite *make_suite(void)
{
	Suite *s = suite_create("buddy");
	TCase *tc = tcase_create("basic");
	TCase *bad = tcase_create("bad_free");
	TCase *rnd = tcase_create("random");

	tcase_add_test(tc, test_block_size);
	tcase_add_test(tc, test_size_zero);
	tcase_add_test(tc, test_create_maps_nothing);
	tcase_add_test(tc, test_one_byte);
	tcase_add_test(tc, test_powers_and_rounding);
	tcase_add_test(tc, test_exact_chunk);
	tcase_add_test(tc, test_direct);
	tcase_add_test(tc, test_direct_enomem);
	tcase_add_test(tc, test_chunk_enomem);
	tcase_add_test(tc, test_leftmost_fit);
	tcase_add_test(tc, test_chunk_list_order);
	tcase_add_test(tc, test_free_chunk_to_tail);
	tcase_add_test(tc, test_many_chunks);
	tcase_add_test(tc, test_merge_random_order);
	tcase_add_test(tc, test_reserve);
	tcase_add_test(tc, test_adaptive_reserve);
	tcase_add_test(tc, test_trim);
	tcase_add_test(tc, test_prefault);
	tcase_add_test(tc, test_asan_poison);
	tcase_add_test(tc, test_free_null_destroy_null);
	tcase_add_test(tc, test_destroy_live);
	suite_add_tcase(s, tc);

	add_bad_free_test(bad, test_bad_free_wrong_order);
	add_bad_free_test(bad, test_bad_free_larger_order);
	add_bad_free_test(bad, test_bad_free_inside_block);
	add_bad_free_test(bad, test_bad_free_unaligned);
	add_bad_free_test(bad, test_bad_free_not_allocated);
	add_bad_free_test(bad, test_bad_free_double);
	add_bad_free_test(bad, test_bad_free_foreign);
	add_bad_free_test(bad, test_bad_free_size_zero);
	add_bad_free_test(bad, test_bad_free_direct_size);
	add_bad_free_test(bad, test_bad_free_direct_inner);
	add_bad_free_test(bad, test_bad_free_chunk_as_direct);
	suite_add_tcase(s, bad);

	tcase_set_timeout(rnd, 600);
	tcase_add_test(rnd, test_model_random);
	tcase_add_test(rnd, test_threads);
	suite_add_tcase(s, rnd);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
