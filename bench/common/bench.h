/* bench.h - what every benchmark under bench/ shares: the clock, the
 * command line (--corpus PATH, --help), loading the corpus and printing
 * headline figures in the one form scripts compare (DESIGN.md §4):
 *
 *     figure NAME VALUE
 */
#ifndef ZC_BENCH_H
#define ZC_BENCH_H

#include <stddef.h>

struct bench_opts {
	const char *corpus;	/* --corpus PATH, or the default corpus file */
	double min_seconds;	/* --seconds S: least time per measurement */
};

/* Parse argv. default_corpus names a file in the build's corpus directory
 * ("pages.img", "tree.tar") or is NULL when the benchmark takes none.
 * usage is printed for --help (then exit 0) and on a bad argument (exit 2). */
void bench_parse(int argc, char **argv, const char *default_corpus,
		 const char *usage, struct bench_opts *opts);

/* Monotonic time in seconds. */
double bench_now(void);

/* Print "figure NAME VALUE" on stdout. */
void bench_figure(const char *name, double value);

/* Read a whole file into memory; exits with a message naming the file on
 * failure. The buffer is page aligned; free it with free(). */
void *bench_load(const char *path, size_t *len);

#endif /* ZC_BENCH_H */
