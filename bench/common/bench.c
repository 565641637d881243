/* bench.c - shared benchmark plumbing (see bench.h). */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void bench_parse(int argc, char **argv, const char *default_corpus,
		 const char *usage, struct bench_opts *opts)
{
	static char path[4096];
	static const struct option longopts[] = {
		{ "corpus", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opts->corpus = NULL;
	opts->min_seconds = 0.5;
	if (default_corpus) {
		snprintf(path, sizeof(path), "%s/%s", ZC_CORPUS_DIR, default_corpus);
		opts->corpus = path;
	}
	while ((c = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts->corpus = optarg;
			break;
		case 's': {
			char *end;

			opts->min_seconds = strtod(optarg, &end);
			if (*end || opts->min_seconds <= 0) {
				fprintf(stderr, "%s: bad --seconds value '%s'\n", argv[0], optarg);
				exit(2);
			}
			break;
		}
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		exit(2);
	}
}

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_figure(const char *name, double value)
{
	printf("figure %s %.4f\n", name, value);
	fflush(stdout);
}

void *bench_load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	void *buf;
	long size;

	if (!f) {
		fprintf(stderr, "cannot open corpus %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (size <= 0 || posix_memalign(&buf, 4096, (size_t)size) != 0) {
		fprintf(stderr, "cannot load corpus %s\n", path);
		exit(1);
	}
	if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "short read of corpus %s\n", path);
		exit(1);
	}
	fclose(f);
	*len = (size_t)size;
	return buf;
}
