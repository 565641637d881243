/* testutil.c - helpers shared by the libcheck suites (see testutil.h). */
#include "testutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int zc_test_main(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

uint64_t zc_test_seed(void)
{
	const char *env = getenv("ZC_SEED");
	uint64_t seed;

	if (env && *env) {
		seed = strtoull(env, NULL, 0);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
	}
	fprintf(stderr, "seed: %" PRIu64 " (replay with ZC_SEED=%" PRIu64 ")\n", seed, seed);
	return seed;
}

const char *zc_corpus_path(const char *name)
{
	static _Thread_local char path[4096];

	snprintf(path, sizeof(path), "%s/%s", ZC_CORPUS_DIR, name);
	return path;
}

void *zc_load_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (!f)
		ck_abort_msg("cannot open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(size > 0 ? (size_t)size : 1);
	ck_assert_ptr_nonnull(buf);
	if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size)
		ck_abort_msg("short read of %s", path);
	fclose(f);
	*len = (size_t)size;
	return buf;
}
