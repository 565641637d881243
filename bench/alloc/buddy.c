/* bench/alloc/buddy.c - the buddy allocator against glibc malloc/free.
 *
 * Work (the same for both, from one pseudo-random sequence): a working set
 * of WS live blocks of 128 KiB .. 4 MiB, sizes log-uniform.  Each operation
 * frees a random live block, allocates a new one of the next size and
 * touches it the way a user of the memory would: one byte written in every
 * 4 KiB page.  The working set is filled before the clock starts; a run
 * lasts at least --seconds.
 *
 * Fairness.  glibc is used as shipped: no mallopt, no environment tuning.
 * At these sizes it starts by mmap'ing each block (M_MMAP_THRESHOLD begins
 * at 128 KiB) and, as the first mmap'ed blocks are freed, raises its
 * threshold dynamically (up to 32 MiB on 64-bit), after which blocks come
 * from the brk heap and the top of the heap is trimmed whenever more than
 * twice the threshold is free there.  So its first run in a process is
 * mostly mmap/munmap and page faults and later runs mostly heap reuse; the
 * two allocators are alternated ROUNDS times and the best run of each is
 * kept, which gives glibc its warmed-up steady state.  The headline buddy
 * run uses BUDDY_DEFAULT_RESERVE (adaptive: 3/4 of the chunks in use, 2..16),
 * as the daemon does; a second buddy run with a fixed reserve of
 * BUDDY_RESERVE_MIN chunks is printed for information, because here nearly
 * all of either allocator's time goes to page faults on memory it gave back
 * to the OS and took again, and the reserve decides how often the buddy
 * allocator does that.  Each run also prints its minor page
 * faults per operation and the memory it held from the OS (buddy: chunks
 * and direct maps; glibc: mallinfo2's brk heap plus mmap'ed blocks),
 * sampled every 256 operations, so speed is never shown without its
 * memory price.  Note that the buddy allocator rounds these sizes up to
 * powers of two (about 1.44x on average for log-uniform sizes), so for the
 * same working set it holds more memory and has less of it spare.
 *
 * Prints ops/s for both and `figure buddy_vs_malloc` = buddy / malloc.
 */
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "alloc/buddy.h"
#include "alloc_bench.h"

#define WS 64			/* live blocks */
#define SEQ (1u << 16)		/* length of the pseudo-random sequence */
#define ROUNDS 3
#define MIN_SIZE ((size_t)128 << 10)
#define MAX_SIZE ((size_t)4 << 20)
#define TOUCH 4096

struct work {
	size_t size[SEQ];	/* size of the block allocated by op i */
	uint16_t slot[SEQ];	/* live slot op i replaces */
	size_t init[WS];	/* sizes of the initial working set */
};

struct ops {
	const char *name;
	void *(*alloc)(void *ctx, size_t size);
	void (*free)(void *ctx, void *p, size_t size);
	size_t (*footprint)(void *ctx);	/* bytes held from the OS now */
	void *ctx;
};

struct result {
	double ops;		/* operations per second */
	double gbs;		/* GB/s allocated (and touched) */
	double mean_mib;	/* memory held from the OS, sampled mean */
	double peak_mib;	/* and its largest sample */
	double faults;		/* minor page faults per operation */
};

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static uint64_t bench_rng(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Log-uniform in [MIN_SIZE, MAX_SIZE]. */
static size_t log_uniform(uint64_t *s)
{
	double u = (double)(bench_rng(s) >> 11) / (double)(1ull << 53);
	double v = (double)MIN_SIZE * exp(u * log((double)MAX_SIZE / (double)MIN_SIZE));
	size_t size = (size_t)v;

	return size < MIN_SIZE ? MIN_SIZE : size > MAX_SIZE ? MAX_SIZE : size;
}

static void make_work(struct work *w)
{
	uint64_t s = 0x5eed0b0ddull;

	for (unsigned i = 0; i < WS; i++)
		w->init[i] = log_uniform(&s);
	for (unsigned i = 0; i < SEQ; i++) {
		w->size[i] = log_uniform(&s);
		w->slot[i] = (uint16_t)(bench_rng(&s) % WS);
	}
}

static void touch(void *p, size_t size, unsigned char v)
{
	volatile unsigned char *c = p;

	for (size_t off = 0; off < size; off += TOUCH)
		c[off] = v;
}

/* One timed run.  The footprint is sampled every 256 operations. */
static struct result run(const struct ops *o, const struct work *w, double min_seconds)
{
	struct result r = { 0, 0, 0, 0, 0 };
	long flt0;
	void *live[WS];
	size_t size[WS];
	uint64_t n = 0, touched = 0, samples = 0;
	double t0, t, held = 0;

	for (unsigned i = 0; i < WS; i++) {
		size[i] = w->init[i];
		live[i] = o->alloc(o->ctx, size[i]);
		if (!live[i]) {
			fprintf(stderr, "%s: allocation failed\n", o->name);
			exit(1);
		}
		touch(live[i], size[i], 1);
	}
	flt0 = minor_faults();
	t0 = bench_now();
	do {
		double mib;

		for (unsigned k = 0; k < 256; k++, n++) {
			unsigned i = (unsigned)(n % SEQ);
			unsigned j = w->slot[i];

			o->free(o->ctx, live[j], size[j]);
			size[j] = w->size[i];
			live[j] = o->alloc(o->ctx, size[j]);
			if (!live[j]) {
				fprintf(stderr, "%s: allocation failed\n", o->name);
				exit(1);
			}
			touch(live[j], size[j], (unsigned char)n);
			touched += size[j];
		}
		t = bench_now() - t0;
		mib = (double)o->footprint(o->ctx) / (1024.0 * 1024.0);
		held += mib;
		samples++;
		if (mib > r.peak_mib)
			r.peak_mib = mib;
	} while (t < min_seconds);
	r.faults = (double)(minor_faults() - flt0) / (double)n;
	for (unsigned i = 0; i < WS; i++)
		o->free(o->ctx, live[i], size[i]);
	r.ops = (double)n / t;
	r.gbs = (double)touched / t / 1e9;
	r.mean_mib = held / (double)samples;
	return r;
}

static void *b_alloc(void *ctx, size_t size)
{
	return buddy_alloc(ctx, size);
}

static void b_free(void *ctx, void *p, size_t size)
{
	buddy_free(ctx, p, size);
}

static size_t b_footprint(void *ctx)
{
	struct buddy_stats st;

	buddy_stats(ctx, &st);
	return st.chunks * BUDDY_CHUNK_SIZE + st.direct_bytes;
}

static void *m_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return malloc(size);
}

static void m_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	(void)size;
	free(p);
}

/* The main arena's brk heap plus glibc's mmap'ed blocks. */
static size_t m_footprint(void *ctx)
{
	struct mallinfo2 mi = mallinfo2();

	(void)ctx;
	return mi.arena + mi.hblkhd;
}

static void print_result(const char *name, unsigned round, const struct result *r)
{
	printf("  round %u: %-17s %8.0f ops/s %6.2f GB/s %6.1f faults/op  "
	       "held %5.1f MiB mean, %5.1f peak\n",
	       round, name, r->ops, r->gbs, r->faults, r->mean_mib, r->peak_mib);
}

void bench_alloc_buddy(const struct bench_opts *opt)
{
	/* mmap'ed, so that it does not count in glibc's footprint. */
	struct work *w = mmap(NULL, sizeof(*w), PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct result best_b = { 0, 0, 0, 0, 0 }, best_m = best_b, best_r = best_b;
	struct ops mo = { "malloc", m_alloc, m_free, m_footprint, NULL };
	size_t ws_bytes = 0;

	if (w == MAP_FAILED) {
		fprintf(stderr, "buddy: out of memory\n");
		exit(1);
	}
	make_work(w);
	for (unsigned i = 0; i < WS; i++)
		ws_bytes += w->init[i];
	printf("buddy: working set of %d blocks of 128 KiB..4 MiB (log-uniform, %.0f MiB at "
	       "start); each op frees one, allocates one and writes a byte per 4 KiB page; "
	       "best of %d alternating runs\n", WS, (double)ws_bytes / (1024.0 * 1024.0), ROUNDS);
	for (unsigned round = 1; round <= ROUNDS; round++) {
		/* The allocator as the daemon gets it, and with a larger reserve
		 * (for information: what the default reserve costs here). */
		unsigned reserves[2] = { BUDDY_DEFAULT_RESERVE, BUDDY_RESERVE_MIN };
		const char *names[2] = { "buddy adaptive reserve", "buddy fixed reserve 2" };
		struct result r;

		for (unsigned k = 0; k < 2; k++) {
			struct buddy *b = buddy_create(reserves[k]);
			struct ops bo = { "buddy", b_alloc, b_free, b_footprint, b };

			if (!b) {
				fprintf(stderr, "buddy: buddy_create failed\n");
				exit(1);
			}
			r = run(&bo, w, opt->min_seconds);
			buddy_destroy(b);
			print_result(names[k], round, &r);
			if (k == 0 && r.ops > best_b.ops)
				best_b = r;
			if (k == 1 && r.ops > best_r.ops)
				best_r = r;
		}
		r = run(&mo, w, opt->min_seconds);
		print_result("glibc malloc", round, &r);
		if (r.ops > best_m.ops)
			best_m = r;
	}
	printf("buddy: %.0f ops/s (adaptive reserve; %.0f with a fixed reserve of %u), "
	       "malloc: %.0f ops/s (best runs)\n", best_b.ops, best_r.ops, BUDDY_RESERVE_MIN,
	       best_m.ops);
	bench_figure("buddy_vs_malloc", best_b.ops / best_m.ops);
	munmap(w, sizeof(*w));
}
