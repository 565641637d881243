/* alloc_bench.h - the parts of bench/alloc, one per allocator.  Each runs
 * its allocator and glibc malloc/free on the same work in the same run and
 * prints its figure line (DESIGN.md §4). */
#ifndef ZC_ALLOC_BENCH_H
#define ZC_ALLOC_BENCH_H

#include "bench.h"

void bench_alloc_buddy(const struct bench_opts *o);	/* figure buddy_vs_malloc */
void bench_alloc_slab(const struct bench_opts *o);	/* figure slab_vs_malloc */
void bench_alloc_sgv(const struct bench_opts *o);	/* figure sgv_vs_malloc */

#endif
