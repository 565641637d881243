/* bench/alloc/slab.c - slab caches against glibc malloc on metadata-like work.
 *
 * The work is what tmem, xcf and the filesystem do with their metadata:
 * objects of 64 to 256 bytes (five sizes, one slab cache each; malloc gets
 * the same sizes), a working set of live objects where a random one is
 * freed and replaced by a new object of a random size, and now and then a
 * burst that allocates a run of objects and then frees them all (a request
 * that builds temporary nodes).  Every new object gets its first word
 * written and every freed object its first word read, as a user would.
 *
 * Both allocators replay the same pseudo-random operation stream (generated
 * once, up front), each for at least o->min_seconds per measurement;
 * measurements alternate and the best of each is kept.  One thread.
 *
 * Prints ops/s (one op = one allocation or one free) for both and
 * `figure slab_vs_malloc` = slab ops/s / malloc ops/s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/buddy.h"
#include "alloc/slab.h"
#include "alloc_bench.h"

#define SB_NSIZES 5
#define SB_WSET 4096		/* live objects in the working set */
#define SB_NOPS (1u << 20)	/* operations in the stream (replayed) */
#define SB_BURST_MAX 48		/* objects in a burst */
#define SB_ROUNDS 3		/* measurements of each allocator */

static const size_t sb_sizes[SB_NSIZES] = { 64, 96, 128, 192, 256 };

/* One step of the stream: either replace working-set slot `slot` by an
 * object of size class `cls`, or (burst > 0) allocate `burst` objects of
 * class `cls` and free them again. */
struct sb_op {
	uint32_t slot;
	uint8_t cls;
	uint8_t burst;
};

struct sb_live {
	void *p;
	uint8_t cls;
};

static uint64_t sb_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct sb_op *sb_make_ops(void)
{
	struct sb_op *ops = malloc(SB_NOPS * sizeof(*ops));
	uint64_t s = 42;
	uint32_t i;

	if (!ops) {
		perror("bench_alloc_slab");
		exit(1);
	}
	for (i = 0; i < SB_NOPS; i++) {
		uint64_t r = sb_rand(&s);

		ops[i].slot = (uint32_t)(r % SB_WSET);
		ops[i].cls = (uint8_t)((r >> 32) % SB_NSIZES);
		/* One step in 32 is a burst of 8..SB_BURST_MAX objects. */
		ops[i].burst = ((r >> 40) % 32 == 0) ?
			(uint8_t)(8 + (r >> 48) % (SB_BURST_MAX - 7)) : 0;
	}
	return ops;
}

/* The two allocators behind one shape; the calls are direct (the bench
 * functions are instantiated per allocator by the macro below) so neither
 * side pays for an indirect call. */
#define SB_TOUCH(p, v) (*(volatile uint64_t *)(p) = (v))
#define SB_READ(p) (*(volatile uint64_t *)(p))

#define SB_DEFINE_RUN(NAME, ALLOC, FREE)					\
static double NAME(void *ctx, const struct sb_op *ops, struct sb_live *ws,	\
		   double min_seconds, uint64_t *sum)				\
{										\
	void *burst[SB_BURST_MAX];						\
	uint64_t nops = 0, acc = 0;						\
	double t0 = bench_now(), t;						\
	uint32_t i, j;								\
										\
	(void)ctx;								\
	for (;;) {								\
		for (i = 0; i < SB_NOPS; i++) {					\
			const struct sb_op *op = &ops[i];			\
			unsigned cls = op->cls;					\
										\
			if (op->burst) {					\
				for (j = 0; j < op->burst; j++) {		\
					burst[j] = ALLOC(ctx, cls);		\
					SB_TOUCH(burst[j], j);			\
				}						\
				for (j = 0; j < op->burst; j++) {		\
					acc += SB_READ(burst[j]);		\
					FREE(ctx, cls, burst[j]);		\
				}						\
				nops += 2u * op->burst;				\
			} else {						\
				struct sb_live *l = &ws[op->slot];		\
										\
				acc += SB_READ(l->p);				\
				FREE(ctx, l->cls, l->p);			\
				l->p = ALLOC(ctx, cls);				\
				l->cls = (uint8_t)cls;				\
				SB_TOUCH(l->p, i);				\
				nops += 2;					\
			}							\
			if ((i & 0xffff) == 0xffff &&				\
			    (t = bench_now() - t0) >= min_seconds) {		\
				*sum += acc;					\
				return (double)nops / t;			\
			}							\
		}								\
	}									\
}

static inline void *sb_malloc(void *ctx, unsigned cls)
{
	void *p = malloc(sb_sizes[cls]);

	(void)ctx;
	if (!p) {
		perror("malloc");
		exit(1);
	}
	return p;
}

static inline void sb_mfree(void *ctx, unsigned cls, void *p)
{
	(void)ctx;
	(void)cls;
	free(p);
}

static inline void *sb_salloc(void *ctx, unsigned cls)
{
	void *p = slab_alloc(((struct slab_cache **)ctx)[cls]);

	if (!p) {
		perror("slab_alloc");
		exit(1);
	}
	return p;
}

static inline void sb_sfree(void *ctx, unsigned cls, void *p)
{
	slab_free(((struct slab_cache **)ctx)[cls], p);
}

SB_DEFINE_RUN(sb_run_malloc, sb_malloc, sb_mfree)
SB_DEFINE_RUN(sb_run_slab, sb_salloc, sb_sfree)

static double sb_measure_malloc(const struct sb_op *ops, struct sb_live *ws,
				double min_seconds, uint64_t *sum)
{
	double r;
	uint32_t i;

	for (i = 0; i < SB_WSET; i++) {
		ws[i].cls = (uint8_t)(i % SB_NSIZES);
		ws[i].p = sb_malloc(NULL, ws[i].cls);
		SB_TOUCH(ws[i].p, i);
	}
	r = sb_run_malloc(NULL, ops, ws, min_seconds, sum);
	for (i = 0; i < SB_WSET; i++)
		free(ws[i].p);
	return r;
}

static double sb_measure_slab(const struct sb_op *ops, struct sb_live *ws,
			      double min_seconds, uint64_t *sum)
{
	struct buddy *b = buddy_create(BUDDY_DEFAULT_RESERVE);
	struct slab_cache *c[SB_NSIZES];
	char name[SLAB_NAME_MAX];
	double r;
	uint32_t i;

	if (!b) {
		perror("buddy_create");
		exit(1);
	}
	for (i = 0; i < SB_NSIZES; i++) {
		snprintf(name, sizeof(name), "bench-%zu", sb_sizes[i]);
		c[i] = slab_create(name, sb_sizes[i], 0, b);
		if (!c[i]) {
			perror("slab_create");
			exit(1);
		}
	}
	for (i = 0; i < SB_WSET; i++) {
		ws[i].cls = (uint8_t)(i % SB_NSIZES);
		ws[i].p = sb_salloc(c, ws[i].cls);
		SB_TOUCH(ws[i].p, i);
	}
	r = sb_run_slab(c, ops, ws, min_seconds, sum);
	for (i = 0; i < SB_WSET; i++)
		sb_sfree(c, ws[i].cls, ws[i].p);
	for (i = 0; i < SB_NSIZES; i++) {
		if (slab_check(c[i])) {
			fprintf(stderr, "bench_alloc_slab: slab_check failed\n");
			exit(1);
		}
		slab_destroy(c[i]);
	}
	buddy_destroy(b);
	return r;
}

void bench_alloc_slab(const struct bench_opts *o)
{
	struct sb_op *ops = sb_make_ops();
	struct sb_live *ws = calloc(SB_WSET, sizeof(*ws));
	double best_slab = 0, best_malloc = 0;
	uint64_t sum = 0;
	int round;

	if (!ws) {
		perror("bench_alloc_slab");
		exit(1);
	}
	for (round = 0; round < SB_ROUNDS; round++) {
		double m = sb_measure_malloc(ops, ws, o->min_seconds, &sum);
		double s = sb_measure_slab(ops, ws, o->min_seconds, &sum);

		printf("slab: round %d: slab %.1f Mops/s, malloc %.1f Mops/s\n", round + 1,
		       s / 1e6, m / 1e6);
		if (m > best_malloc)
			best_malloc = m;
		if (s > best_slab)
			best_slab = s;
	}
	printf("slab: %zu..%zu-byte objects, %d live, bursts up to %d (checksum %llu)\n",
	       sb_sizes[0], sb_sizes[SB_NSIZES - 1], SB_WSET, SB_BURST_MAX,
	       (unsigned long long)(sum & 0xffff));
	printf("slab: best: slab_alloc/slab_free %.1f Mops/s, malloc/free %.1f Mops/s\n",
	       best_slab / 1e6, best_malloc / 1e6);
	bench_figure("slab_vs_malloc", best_slab / best_malloc);
	free(ws);
	free(ops);
}
