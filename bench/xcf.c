/* bench/xcf.c - how densely and how fast xcfmalloc stores compressed pages.
 *
 * Every page of the corpus (a page image, default pages.img) that is not
 * same-filled and that lz4 shrinks to at most 3/4 page is compressed once
 * up front; the compressed objects are then stored in one xcf pool
 * (xcf_malloc + xcf_write, as the PAM backend does), read back and checked,
 * a random half is freed and the pool compacted.  Headline figures:
 *
 *   figure xcf_utilization U         stored bytes / bytes of pool pages
 *                                    after the fill (target >= 0.97; zram's
 *                                    zsmalloc reached 0.942 on pages.img)
 *   figure xcf_split_pct P           objects stored in two blocks, percent
 *   figure xcf_compacted_overhead O  pool page bytes / live stored bytes
 *                                    after freeing a random half and
 *                                    compacting (target <= 1.10)
 *   figure xcf_malloc_vs_libc R      store throughput (malloc + write) over
 *                                    glibc malloc + memcpy of the same
 *                                    objects, measured in the same run
 *
 * plus readable lines with throughputs and the metadata (descriptors, page
 * table) that the store adds on top of the pool pages.
 */
#include "alloc/buddy.h"
#include "alloc/xcf.h"
#include "bench.h"

#include <lz4.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: xcf [--corpus PAGE_IMAGE] [--seconds S]\n"
	"Store the lz4-compressed pages of a page image in an xcf pool and report\n"
	"utilization, split objects, compaction overhead and throughputs.\n";

struct item {
	size_t off;		/* into the compressed-data arena */
	uint32_t size;
	xcf_handle h;
	void *libc;
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool same_filled(const unsigned char *pg)
{
	uint64_t w0, w;

	memcpy(&w0, pg, 8);
	for (size_t i = 8; i < 4096; i += 8) {
		memcpy(&w, pg + i, 8);
		if (w != w0)
			return false;
	}
	return true;
}

/* Store every item in pool p; returns seconds taken. */
static double store_all(struct xcf_pool *p, struct item *it, size_t n, const char *arena)
{
	double t0 = bench_now();

	for (size_t i = 0; i < n; i++) {
		it[i].h = xcf_malloc(p, it[i].size);
		if (!it[i].h || xcf_write(p, it[i].h, arena + it[i].off) != (int)it[i].size) {
			fprintf(stderr, "xcf: storing object %zu (%u bytes) failed\n", i, it[i].size);
			exit(1);
		}
	}
	return bench_now() - t0;
}

static double libc_all(struct item *it, size_t n, const char *arena)
{
	double t0 = bench_now();

	for (size_t i = 0; i < n; i++) {
		it[i].libc = malloc(it[i].size);
		if (!it[i].libc) {
			fprintf(stderr, "xcf: malloc failed\n");
			exit(1);
		}
		memcpy(it[i].libc, arena + it[i].off, it[i].size);
	}
	return bench_now() - t0;
}

/* Two threads storing half the objects each, into their own pools or into
 * one shared pool: what several pools per store buy. */
struct mt_arg {
	struct xcf_pool *pool;
	struct item *it;
	size_t n;
	const char *arena;
	pthread_barrier_t *start;
	double t0, t1;		/* when this thread started and ended */
};

static void *mt_store(void *arg)
{
	struct mt_arg *a = arg;

	pthread_barrier_wait(a->start);
	a->t0 = bench_now();
	store_all(a->pool, a->it, a->n, a->arena);
	a->t1 = bench_now();
	return NULL;
}

/* Objects per second stored by two threads (best of a few rounds). */
static double mt_rate(struct buddy *b, struct item *it, size_t n, const char *arena,
		      bool shared, double min_seconds)
{
	double best = 0, spent = 0;

	for (unsigned round = 0; round < 3 || spent < min_seconds; round++) {
		struct xcf_pool *pools[2];
		struct mt_arg args[2];
		pthread_t th[2];
		pthread_barrier_t start;
		double t;

		pools[0] = xcf_create("mt0", b, NULL, XCF_DEFAULT_RESERVE);
		pools[1] = shared ? pools[0] : xcf_create("mt1", b, NULL, XCF_DEFAULT_RESERVE);
		if (!pools[0] || !pools[1]) {
			perror("xcf_create");
			exit(1);
		}
		pthread_barrier_init(&start, NULL, 3);
		for (unsigned i = 0; i < 2; i++) {
			args[i] = (struct mt_arg){ .pool = pools[i], .it = it + i * (n / 2),
						   .n = i ? n - n / 2 : n / 2, .arena = arena,
						   .start = &start };
			if (pthread_create(&th[i], NULL, mt_store, &args[i])) {
				perror("pthread_create");
				exit(1);
			}
		}
		pthread_barrier_wait(&start);
		for (unsigned i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		t = (args[0].t1 > args[1].t1 ? args[0].t1 : args[1].t1) -
		    (args[0].t0 < args[1].t0 ? args[0].t0 : args[1].t0);
		spent += t;
		if ((double)n / t > best)
			best = (double)n / t;
		pthread_barrier_destroy(&start);
		for (size_t i = 0; i < n; i++)
			xcf_free(i < n / 2 ? pools[0] : pools[1], it[i].h);
		xcf_destroy(pools[0]);
		if (!shared)
			xcf_destroy(pools[1]);
	}
	return best;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	size_t len, n = 0, raw = 0, same = 0;
	unsigned char *img;
	char *arena;
	struct item *it;
	uint64_t stored = 0, arena_used = 0;
	struct buddy *b;
	struct xcf_pool *p = NULL;
	struct xcf_stats st;
	double t_store = 0, best_store = 1e9, best_libc = 1e9, t_read, t_free, t_compact;
	unsigned rounds = 0;
	char buf[XCF_MAX_SIZE];

	bench_parse(argc, argv, "pages.img", usage, &o);
	img = bench_load(o.corpus, &len);
	it = calloc(len / 4096 + 1, sizeof(*it));
	arena = malloc(len + 4096);
	if (!it || !arena) {
		fprintf(stderr, "xcf: out of memory\n");
		return 1;
	}
	for (size_t off = 0; off + 4096 <= len; off += 4096) {
		int c;

		if (same_filled(img + off)) {
			same++;
			continue;
		}
		c = LZ4_compress_default((const char *)img + off, arena + arena_used, 4096,
					 (int)(len + 4096 - arena_used));
		if (c <= 0 || c > 3072) {
			raw++;
			continue;
		}
		it[n].off = (size_t)arena_used;
		it[n].size = (uint32_t)c;
		arena_used += (uint64_t)c;
		stored += (uint64_t)c;
		n++;
	}
	printf("corpus %s: %zu pages, %zu same-filled, %zu stored raw, %zu objects of "
	       "%llu bytes (mean %.0f)\n", o.corpus, len / 4096, same, raw, n,
	       (unsigned long long)stored, n ? (double)stored / (double)n : 0.0);
	if (n == 0) {
		fprintf(stderr, "xcf: nothing to store\n");
		return 1;
	}

	/* Steady state for both sides: buddy keeps its chunks mapped between
	 * rounds and glibc does not trim its heap, so neither side pays page
	 * faults after the first round. */
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	mallopt(M_MMAP_THRESHOLD, 1 << 30);
	b = buddy_create((unsigned)(len / BUDDY_CHUNK_SIZE + 2));
	if (!b) {
		perror("buddy_create");
		return 1;
	}

	/* Fill: repeat until --seconds has passed (at least three rounds);
	 * throughputs are the best round (the machine is shared), the density
	 * figures come from the last round.  glibc malloc + memcpy of the same
	 * objects is the peer, timed alternately. */
	do {
		double t;

		if (p) {
			for (size_t i = 0; i < n; i++)
				xcf_free(p, it[i].h);
			xcf_destroy(p);
			for (size_t i = 0; i < n; i++)
				free(it[i].libc);
		}
		p = xcf_create("bench", b, NULL, XCF_DEFAULT_RESERVE);
		if (!p) {
			perror("xcf_create");
			return 1;
		}
		t = store_all(p, it, n, arena);
		t_store += t;
		if (t < best_store)
			best_store = t;
		t = libc_all(it, n, arena);
		if (t < best_libc)
			best_libc = t;
		rounds++;
	} while (rounds < 3 || t_store < o.min_seconds);

	xcf_stats(p, &st);
	{
		struct item *tmp = malloc(n * sizeof(*tmp));
		double own, one;

		if (!tmp) {
			fprintf(stderr, "xcf: out of memory\n");
			return 1;
		}
		memcpy(tmp, it, n * sizeof(*tmp));
		own = mt_rate(b, tmp, n, arena, false, o.min_seconds);
		one = mt_rate(b, tmp, n, arena, true, o.min_seconds);
		free(tmp);

		printf("2 threads malloc+write: %.0f objects/s with a pool each, %.0f objects/s "
		       "sharing one pool (one thread: %.0f)\n", own, one,
		       (double)n / best_store);
	}
	printf("fill: %llu objects, %llu stored bytes in %llu pages (%llu bytes); "
	       "headers %llu, block rounding %llu, free in pages %llu\n",
	       (unsigned long long)st.objects, (unsigned long long)st.used_bytes,
	       (unsigned long long)st.pages, (unsigned long long)st.page_bytes,
	       (unsigned long long)st.header_bytes,
	       (unsigned long long)(st.block_bytes - st.header_bytes - st.used_bytes),
	       (unsigned long long)(st.page_bytes - st.block_bytes));
	printf("metadata: descriptors %llu bytes, page table %llu bytes; pool pages + "
	       "metadata = %.4f x stored bytes\n",
	       (unsigned long long)st.desc_bytes, (unsigned long long)st.table_bytes,
	       (double)(st.page_bytes + st.desc_bytes + st.table_bytes) /
	       (double)st.used_bytes);
	printf("malloc+write: %.0f objects/s, %.1f MB/s; glibc malloc+memcpy: "
	       "%.0f objects/s (best of %u rounds each)\n", (double)n / best_store,
	       (double)stored / best_store / 1e6, (double)n / best_libc, rounds);
	bench_figure("xcf_utilization", (double)st.used_bytes / (double)st.page_bytes);
	bench_figure("xcf_split_pct", 100.0 * (double)st.split_objects / (double)st.objects);
	bench_figure("xcf_malloc_vs_libc", best_libc / best_store);
	if (xcf_check(p)) {
		fprintf(stderr, "xcf: check failed after the fill\n");
		return 1;
	}

	/* Read everything back and compare. */
	t_read = bench_now();
	for (size_t i = 0; i < n; i++) {
		if (xcf_read(p, it[i].h, buf) != (int)it[i].size ||
		    memcmp(buf, arena + it[i].off, it[i].size)) {
			fprintf(stderr, "xcf: object %zu read back wrong\n", i);
			return 1;
		}
	}
	t_read = bench_now() - t_read;
	printf("read+compare: %.0f objects/s, %.1f MB/s\n", (double)n / t_read,
	       (double)stored / t_read / 1e6);

	/* Free a random half (fixed seed: every run frees the same half). */
	{
		uint64_t seed = 0x5eed, live = 0;
		size_t freed = 0;

		t_free = bench_now();
		for (size_t i = 0; i < n; i++) {
			if (rnd(&seed) & 1) {
				xcf_free(p, it[i].h);
				it[i].h = 0;
				freed++;
			} else {
				live += it[i].size;
			}
		}
		t_free = bench_now() - t_free;
		xcf_stats(p, &st);
		printf("free half: %zu objects, %.0f frees/s; now %llu pages for %llu live "
		       "bytes (%.4f x), fragmentation %u%%\n", freed, (double)freed / t_free,
		       (unsigned long long)st.pages, (unsigned long long)live,
		       (double)st.page_bytes / (double)live, (unsigned)st.fragmentation);
	}

	/* Compact, unbounded, then once more to see what is left to win. */
	{
		struct xcf_compact_result r, r2;

		t_compact = bench_now();
		xcf_compact(p, 0, &r);
		t_compact = bench_now() - t_compact;
		xcf_compact(p, 0, &r2);
		xcf_stats(p, &st);
		printf("compact: %llu pages examined, %llu emptied, %llu objects / %llu bytes "
		       "moved in %.1f ms (%.1f MB/s, %.0f pages/s); a second pass emptied %llu\n",
		       (unsigned long long)r.pages_examined, (unsigned long long)r.pages_freed,
		       (unsigned long long)r.objects_moved, (unsigned long long)r.bytes_moved,
		       t_compact * 1e3, (double)r.bytes_moved / t_compact / 1e6,
		       (double)r.pages_freed / t_compact, (unsigned long long)r2.pages_freed);
		printf("after compaction: %llu pages (%llu reserve) for %llu live bytes, "
		       "fragmentation %u%%, %.1f%% of objects split; pool pages + metadata = "
		       "%.4f x live bytes\n",
		       (unsigned long long)st.pages, (unsigned long long)st.free_pages,
		       (unsigned long long)st.used_bytes, (unsigned)st.fragmentation,
		       100.0 * (double)st.split_objects / (double)st.objects,
		       (double)(st.page_bytes + st.desc_bytes + st.table_bytes) /
		       (double)st.used_bytes);
		bench_figure("xcf_compacted_overhead",
			     st.used_bytes ? (double)st.page_bytes / (double)st.used_bytes : 0.0);
	}
	for (size_t i = 0; i < n; i++) {
		if (!it[i].h)
			continue;
		if (xcf_read(p, it[i].h, buf) != (int)it[i].size ||
		    memcmp(buf, arena + it[i].off, it[i].size)) {
			fprintf(stderr, "xcf: object %zu wrong after compaction\n", i);
			return 1;
		}
	}
	if (xcf_check(p)) {
		fprintf(stderr, "xcf: check failed after compaction\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		xcf_free(p, it[i].h);
		free(it[i].libc);
	}
	xcf_destroy(p);
	buddy_destroy(b);
	free(arena);
	free(it);
	free(img);
	return 0;
}
