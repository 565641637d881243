/* bench/alloc - allocator throughput against glibc malloc in the same run.
 *
 *     build/release/bench/alloc [--seconds S]
 *
 * Prints, per allocator, operations per second for it and for malloc/free
 * doing the same work, and the headline figures buddy_vs_malloc,
 * sgv_vs_malloc and slab_vs_malloc (each: allocator ops/s / malloc ops/s).
 */
#include <stdio.h>

#include "alloc_bench.h"

static const char usage[] =
	"usage: alloc [--seconds S]\n"
	"Runs the buddy, SGV and slab allocators and glibc malloc on the same\n"
	"work and prints their throughput and the ratios buddy_vs_malloc,\n"
	"sgv_vs_malloc and slab_vs_malloc. --seconds: least time per measurement\n"
	"(default 0.5).\n";

int main(int argc, char **argv)
{
	struct bench_opts o;

	bench_parse(argc, argv, NULL, usage, &o);
	bench_alloc_buddy(&o);
	bench_alloc_sgv(&o);
	bench_alloc_slab(&o);
	return 0;
}
