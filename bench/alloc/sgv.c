/* bench/alloc/sgv.c - the SGV cache against glibc malloc/free.
 *
 * Work (identical on both sides): a ring of WS live buffers of N pages.
 * Each operation frees the oldest buffer, allocates a new one of N pages
 * and touches it as a user would: one byte written in every 4 KiB page.
 *   sgv:    sgv_pool_alloc(N * 4096) from a set-of-buffers pool without
 *           clustering (so the vector has N entries, like malloc's N
 *           buffers), pages from a buddy allocator; sgv_pool_free.  After
 *           the first WS operations every request is a cache hit, which is
 *           the steady state the cache exists for (FUSE read replies of the
 *           same sizes over and over).
 *   malloc: N separate malloc(4096) and N free().
 * N = 1, 4, 16, 64.  For each N the two sides alternate ROUNDS times, each
 * run lasting at least --seconds, and the best run of each is kept.
 *
 * glibc is used as shipped.  Its N = 64 figure depends on what the process
 * did before: run alone, freeing 64 pages at the top of the heap crosses
 * M_TRIM_THRESHOLD (128 KiB), so the heap is trimmed and faulted back in on
 * every operation; after the buddy part of bench/alloc has raised glibc's
 * dynamic thresholds it is not.  N = 1 is the cache's worst case: one
 * malloc(4096) is as cheap as the SGV hit path (a lock round trip on alloc
 * and on free, plus the clock read that stamps a freed vector).
 *
 * Prints ops/s (an op = free one buffer + allocate and touch one) and pages
 * per second for both, and `figure sgv_vs_malloc` = sgv ops/s / malloc
 * ops/s at N = 16 (a typical 64 KiB FUSE read); the ratio at every N and
 * their geometric mean are printed for information.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "alloc_bench.h"

#define WS 4			/* live buffers */
#define ROUNDS 3
#define MAX_N 64
#define HEADLINE_N 16

struct sgv_side {
	struct sgv_pool *pool;
	struct sgv_obj *obj[WS];
};

struct malloc_side {
	void *buf[WS][MAX_N];
};

static void sgv_touch(struct iovec *iov, int n, unsigned char v)
{
	for (int i = 0; i < n; i++) {
		volatile unsigned char *c = iov[i].iov_base;

		for (size_t off = 0; off < iov[i].iov_len; off += SGV_PAGE_SIZE)
			c[off] = v;
	}
}

static struct sgv_obj *sgv_one(struct sgv_pool *pool, size_t size, unsigned char v)
{
	struct sgv_obj *obj;
	struct iovec *iov;
	int n;

	iov = sgv_pool_alloc(pool, size, 0, NULL, &n, &obj);
	if (!iov) {
		perror("sgv_pool_alloc");
		exit(1);
	}
	sgv_touch(iov, n, v);
	return obj;
}

/* Ops per second of the SGV side. */
static double run_sgv(struct sgv_side *s, unsigned npages, double min_seconds)
{
	size_t size = (size_t)npages * SGV_PAGE_SIZE;
	uint64_t n = 0;
	double t0, t;

	for (unsigned i = 0; i < WS; i++)
		s->obj[i] = sgv_one(s->pool, size, 1);
	t0 = bench_now();
	do {
		for (unsigned k = 0; k < 1024; k++, n++) {
			unsigned j = (unsigned)(n % WS);

			sgv_pool_free(s->obj[j], NULL);
			s->obj[j] = sgv_one(s->pool, size, (unsigned char)n);
		}
		t = bench_now() - t0;
	} while (t < min_seconds);
	for (unsigned i = 0; i < WS; i++)
		sgv_pool_free(s->obj[i], NULL);
	return (double)n / t;
}

static void malloc_one(void **buf, unsigned npages, unsigned char v)
{
	for (unsigned p = 0; p < npages; p++) {
		volatile unsigned char *c = malloc(SGV_PAGE_SIZE);

		if (!c) {
			perror("malloc");
			exit(1);
		}
		c[0] = v;
		buf[p] = (void *)c;
	}
}

static void malloc_free(void **buf, unsigned npages)
{
	for (unsigned p = 0; p < npages; p++)
		free(buf[p]);
}

static double run_malloc(struct malloc_side *m, unsigned npages, double min_seconds)
{
	uint64_t n = 0;
	double t0, t;

	for (unsigned i = 0; i < WS; i++)
		malloc_one(m->buf[i], npages, 1);
	t0 = bench_now();
	do {
		for (unsigned k = 0; k < 1024; k++, n++) {
			unsigned j = (unsigned)(n % WS);

			malloc_free(m->buf[j], npages);
			malloc_one(m->buf[j], npages, (unsigned char)n);
		}
		t = bench_now() - t0;
	} while (t < min_seconds);
	for (unsigned i = 0; i < WS; i++)
		malloc_free(m->buf[i], npages);
	return (double)n / t;
}

void bench_alloc_sgv(const struct bench_opts *o)
{
	static const unsigned sizes[] = { 1, 4, 16, 64 };
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	struct sgv_ctx *ctx = b ? sgv_ctx_create(b) : NULL;
	struct sgv_side s;
	struct malloc_side *m = calloc(1, sizeof(*m));
	struct sgv_pool_stats ps;
	double logsum = 0, headline = 0;

	if (!ctx || !m) {
		fprintf(stderr, "sgv bench: out of memory\n");
		exit(1);
	}
	s.pool = sgv_pool_create(ctx, "bench", SGV_CLUSTER_NONE, 0, false, 0);
	if (!s.pool) {
		perror("sgv_pool_create");
		exit(1);
	}
	printf("sgv: ring of %d buffers of N pages; op = free one + alloc and touch one; "
	       "best of %d alternations, >= %.2f s each\n", WS, ROUNDS, o->min_seconds);
	for (unsigned si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		unsigned npages = sizes[si];
		double best_s = 0, best_m = 0, ratio;

		for (unsigned r = 0; r < ROUNDS; r++) {
			double vs = run_sgv(&s, npages, o->min_seconds);
			double vm = run_malloc(m, npages, o->min_seconds);

			printf("sgv:   N=%-3u round %u  sgv %12.0f ops/s  malloc %12.0f ops/s\n",
			       npages, r + 1, vs, vm);
			if (vs > best_s)
				best_s = vs;
			if (vm > best_m)
				best_m = vm;
		}
		ratio = best_s / best_m;
		printf("sgv:   N=%-3u best     sgv %12.0f ops/s (%6.2f Mpages/s)  malloc %12.0f ops/s "
		       "(%6.2f Mpages/s)  ratio %.2f\n", npages, best_s, best_s * npages / 1e6,
		       best_m, best_m * npages / 1e6, ratio);
		logsum += log(ratio);
		if (npages == HEADLINE_N)
			headline = ratio;
	}
	sgv_pool_stats(s.pool, &ps);
	printf("sgv: pool: %llu allocations, %llu hits, %llu pages allocated fresh\n",
	       (unsigned long long)ps.total, (unsigned long long)ps.hits,
	       (unsigned long long)ps.fresh_pages);
	printf("sgv: geometric mean of the ratios over N = 1, 4, 16, 64: %.2f\n",
	       exp(logsum / (double)(sizeof(sizes) / sizeof(sizes[0]))));
	printf("sgv: headline figure at N = %d pages\n", HEADLINE_N);
	bench_figure("sgv_vs_malloc", headline);
	sgv_pool_destroy(s.pool);
	sgv_ctx_destroy(ctx);
	buddy_destroy(b);
	free(m);
}
