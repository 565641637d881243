/* testutil.h - small helpers shared by the libcheck suites.
 *
 * Every suite's main() is one line: return zc_test_main(make_suite());
 * Randomized tests take their seed from zc_test_seed(), which prints it so a
 * failing run can be replayed with ZC_SEED=<seed>.
 */
#ifndef ZC_TESTUTIL_H
#define ZC_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Run every test of the suite, print libcheck's summary and return the
 * process exit status (0 when every test passed). */
int zc_test_main(Suite *s);

/* The seed for randomized tests: $ZC_SEED if set, else the clock.  Printed
 * once on stderr ("seed: N") so any failure can be replayed. */
uint64_t zc_test_seed(void);

/* splitmix64: a tiny, good-enough PRNG for test operation streams. */
static inline uint64_t zc_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A uniformly distributed value in [0, n). n must be > 0. */
static inline uint64_t zc_rand_below(uint64_t *state, uint64_t n)
{
	return zc_rand(state) % n;
}

/* The path of an unpacked corpus file in the build tree, such as
 * "pages.img" or "tree.tar". Returns a static string. */
const char *zc_corpus_path(const char *name);

/* Read a whole file into a malloc'ed buffer; *len receives its size.
 * Aborts the test (ck_abort) when the file cannot be read. */
void *zc_load_file(const char *path, size_t *len);

#endif /* ZC_TESTUTIL_H */
