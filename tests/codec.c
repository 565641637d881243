/* tests/codec.c - the codec suite: names, round trips of every codec and
 * level on every kind of page in the corpus, early stop at a capacity,
 * corrupt input (never an over-read: inputs and outputs sit against
 * PROT_NONE guard pages, which catch the uninstrumented libraries too), and
 * per-thread contexts under several threads.
 */
#include "compress/codec.h"
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <zstd.h>

#define PAGE 4096

/* ------------------------------------------------------------------------ */
/* Corpus: a sample of pages covering every kind in pages.map. */

struct sample {
	unsigned char *img;
	size_t npages;
	size_t *pages;		/* page numbers chosen */
	size_t n;
};

static struct sample corpus;

static void corpus_load(void)
{
	char path[4096];
	size_t len;
	FILE *map;

	if (corpus.img)
		return;
	corpus.img = zc_load_file(zc_corpus_path("pages.img"), &len);
	corpus.npages = len / PAGE;
	ck_assert_uint_ge(corpus.npages, 64);
	corpus.pages = calloc(4096, sizeof(*corpus.pages));
	ck_assert_ptr_nonnull(corpus.pages);

	/* Two runs of every kind, three pages of each run (first, middle,
	 * last).  Without the map, every 64th page and its neighbours. */
	snprintf(path, sizeof(path), "%s/../shared/corpus/pages.map", ZC_SOURCE_DIR);
	map = fopen(path, "r");
	if (map) {
		char kinds[64][32];
		unsigned seen[64] = { 0 };
		size_t nkinds = 0, first, count, k;
		char kind[32];

		while (fscanf(map, "%zu %zu %31s", &first, &count, kind) == 3) {
			for (k = 0; k < nkinds; k++)
				if (strcmp(kinds[k], kind) == 0)
					break;
			if (k == nkinds) {
				ck_assert_uint_lt(nkinds, 64);
				strcpy(kinds[nkinds++], kind);
			}
			if (seen[k]++ >= 2 || first + count > corpus.npages || count == 0)
				continue;
			corpus.pages[corpus.n++] = first;
			corpus.pages[corpus.n++] = first + count / 2;
			corpus.pages[corpus.n++] = first + count - 1;
		}
		fclose(map);
		ck_assert_uint_ge(nkinds, 8);
	} else {
		for (size_t p = 0; p + 2 < corpus.npages && corpus.n < 4000; p += 64) {
			corpus.pages[corpus.n++] = p;
			corpus.pages[corpus.n++] = p + 1;
		}
	}
	ck_assert_uint_gt(corpus.n, 0);
}

static const unsigned char *corpus_page(size_t i)
{
	return corpus.img + corpus.pages[i] * PAGE;
}

/* Every codec and level the suite exercises. */
static size_t all_codecs(unsigned *ids, size_t max)
{
	static const int accels[] = { 1, 2, 4, 17, 1000, CODEC_LZ4_ACCEL_MAX };
	static const int negs[] = { -1, -2, -5, -22, -100, -1000 };
	size_t n = 0;

	ids[n++] = codec_make(CODEC_NONE, 0);
	for (size_t i = 0; i < sizeof(accels) / sizeof(accels[0]); i++)
		ids[n++] = codec_make(CODEC_LZ4, accels[i]);
	for (int l = 1; l <= CODEC_ZSTD_LEVEL_MAX; l++)
		ids[n++] = codec_make(CODEC_ZSTD, l);
	for (size_t i = 0; i < sizeof(negs) / sizeof(negs[0]); i++)
		ids[n++] = codec_make(CODEC_ZSTD, negs[i]);
	ids[n++] = codec_make(CODEC_ZSTD, ZSTD_minCLevel());
	for (int l = 1; l <= CODEC_LZ4HC_LEVEL_MAX; l += 4)
		ids[n++] = codec_make(CODEC_LZ4HC, l);
	ids[n++] = codec_make(CODEC_LZ4HC, CODEC_LZ4HC_LEVEL_MAX);
	ck_assert_uint_le(n, max);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Names */

START_TEST(test_parse_valid)
{
	static const struct {
		const char *name;
		unsigned type;
		int param;
		const char *canon;
	} ok[] = {
		{ "lz4", CODEC_LZ4, 1, "lz4" },
		{ "LZ4", CODEC_LZ4, 1, "lz4" },
		{ "lz4:1", CODEC_LZ4, 1, "lz4" },
		{ "lz4:8", CODEC_LZ4, 8, "lz4:8" },
		{ "lz4:65537", CODEC_LZ4, 65537, "lz4:65537" },
		{ "zstd", CODEC_ZSTD, 3, "zstd:3" },
		{ "Zstd", CODEC_ZSTD, 3, "zstd:3" },
		{ "zstd:1", CODEC_ZSTD, 1, "zstd:1" },
		{ "zstd:3", CODEC_ZSTD, 3, "zstd:3" },
		{ "zstd:+7", CODEC_ZSTD, 7, "zstd:7" },
		{ "zstd:19", CODEC_ZSTD, 19, "zstd:19" },
		{ "zstd:-1", CODEC_ZSTD, -1, "zstd:-1" },
		{ "zstd:-50", CODEC_ZSTD, -50, "zstd:-50" },
		{ "none", CODEC_NONE, 0, "none" },
		{ "NONE", CODEC_NONE, 0, "none" },
		{ "lz4hc", CODEC_LZ4HC, 9, "lz4hc:9" },
		{ "LZ4HC:1", CODEC_LZ4HC, 1, "lz4hc:1" },
		{ "lz4hc:12", CODEC_LZ4HC, 12, "lz4hc:12" },
	};
	char buf[CODEC_NAME_MAX];
	char err[256];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		unsigned id = 12345, again = 0;

		err[0] = 0;
		ck_assert_int_eq(codec_parse(ok[i].name, &id, err, sizeof(err)), 0);
		ck_assert_str_eq(err, "");
		ck_assert_uint_eq(codec_id_type(id), ok[i].type);
		ck_assert_int_eq(codec_id_param(id), ok[i].param);
		ck_assert_int_eq(codec_valid(id), 0);
		ck_assert_int_eq(codec_format(id, buf, sizeof(buf)), (int)strlen(ok[i].canon));
		ck_assert_str_eq(buf, ok[i].canon);
		ck_assert_int_eq(codec_parse(buf, &again, NULL, 0), 0);
		ck_assert_uint_eq(again, id);
	}

	/* The lowest fast level round trips too, and fits CODEC_NAME_MAX. */
	{
		unsigned id = codec_make(CODEC_ZSTD, ZSTD_minCLevel()), again = 0;

		ck_assert_int_eq(codec_id_param(id), ZSTD_minCLevel());
		ck_assert_int_gt(codec_format(id, buf, sizeof(buf)), 0);
		ck_assert_int_eq(codec_parse(buf, &again, NULL, 0), 0);
		ck_assert_uint_eq(again, id);
	}
	ck_assert_uint_eq(CODEC_DEFAULT, codec_make(CODEC_LZ4, 1));
	ck_assert_uint_eq(CODEC_DEFAULT, 0);
	ck_assert_int_eq(codec_valid(0), 0);
	ck_assert_uint_eq(codec_id_type(0), CODEC_LZ4);
	ck_assert_int_eq(codec_id_param(0), 1);
	ck_assert_str_eq(codec_type_name(CODEC_NONE), "none");
	ck_assert_str_eq(codec_type_name(CODEC_LZ4), "lz4");
	ck_assert_str_eq(codec_type_name(CODEC_ZSTD), "zstd");
	ck_assert_str_eq(codec_type_name(CODEC_LZ4HC), "lz4hc");
	ck_assert_str_eq(codec_type_name(7), "?");
	/* lz4hc writes lz4's format: a stored page records lz4. */
	ck_assert_uint_eq(codec_decode_type(codec_make(CODEC_LZ4HC, 9)), CODEC_LZ4);
	ck_assert_uint_eq(codec_decode_type(codec_make(CODEC_ZSTD, 9)), CODEC_ZSTD);
	ck_assert_uint_eq(codec_decode_type(CODEC_DEFAULT), CODEC_LZ4);
}
END_TEST

START_TEST(test_parse_errors)
{
	static const struct {
		const char *name;
		const char *quoted;	/* what the message must quote */
	} bad[] = {
		{ "lz5", "\"lz5\"" },
		{ "gzip", "\"gzip\"" },
		{ "lz", "\"lz\"" },
		{ "lz4x", "\"lz4x\"" },
		{ " lz4", "\" lz4\"" },
		{ "lz4 ", "\"lz4 \"" },
		{ "lz4:", "\"lz4:\"" },
		{ "lz4:0", "\"0\"" },
		{ "lz4:-1", "\"-1\"" },
		{ "lz4:65538", "\"65538\"" },
		{ "lz4:1.5", "\"1.5\"" },
		{ "zstd:", "\"zstd:\"" },
		{ "zstd:0", "\"0\"" },
		{ "zstd:20", "\"20\"" },
		{ "zstd:22", "\"22\"" },
		{ "zstd:3x", "\"3x\"" },
		{ "zstd:x3", "\"x3\"" },
		{ "zstd:-", "\"-\"" },
		{ "zstd:--1", "\"--1\"" },
		{ "zstd:3:4", "\"3:4\"" },
		{ "zstd:-999999999", "\"-999999999\"" },
		{ "zstd:99999999999999999999999", "\"99999999999999999999999\"" },
		{ "none:0", "\"none:0\"" },
		{ "none:", "\"none:\"" },
		{ ":3", "\":3\"" },
		{ "zstd3", "\"zstd3\"" },
		{ "lz4hc:0", "\"0\"" },
		{ "lz4hc:13", "\"13\"" },
		{ "lz4hc:", "\"lz4hc:\"" },
		{ "lz4h", "\"lz4h\"" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned id = 777;

		err[0] = 0;
		ck_assert_msg(codec_parse(bad[i].name, &id, err, sizeof(err)) == -EINVAL,
			      "\"%s\" was accepted", bad[i].name);
		ck_assert_uint_eq(id, 777);
		ck_assert_msg(strstr(err, bad[i].quoted) != NULL,
			      "message for \"%s\" does not quote %s: %s", bad[i].name,
			      bad[i].quoted, err);
		ck_assert_ptr_null(strchr(err, '\n'));
		/* No message buffer is fine too. */
		ck_assert_int_eq(codec_parse(bad[i].name, &id, NULL, 0), -EINVAL);
		ck_assert_uint_eq(id, 777);
	}

	{
		unsigned id = 777;

		ck_assert_int_eq(codec_parse("", &id, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "empty"));
		ck_assert_int_eq(codec_parse(NULL, &id, err, sizeof(err)), -EINVAL);
		ck_assert_uint_eq(id, 777);
		/* A tiny buffer is truncated, still terminated. */
		memset(err, 'x', sizeof(err));
		ck_assert_int_eq(codec_parse("bogus", &id, err, 8), -EINVAL);
		ck_assert_uint_eq(strlen(err), 7);
	}
}
END_TEST

START_TEST(test_valid_and_format_errors)
{
	char buf[CODEC_NAME_MAX];

	ck_assert_int_eq(codec_valid(codec_make(CODEC_NONE, 1)), -EINVAL);
	ck_assert_int_eq(codec_valid(codec_make(CODEC_LZ4, 0)), -EINVAL);
	ck_assert_int_eq(codec_valid(codec_make(CODEC_LZ4, -1)), -EINVAL);
	ck_assert_int_eq(codec_valid(codec_make(CODEC_LZ4, CODEC_LZ4_ACCEL_MAX + 1)), -EINVAL);
	ck_assert_int_eq(codec_valid(codec_make(CODEC_ZSTD, 0)), -EINVAL);
	ck_assert_int_eq(codec_valid(codec_make(CODEC_ZSTD, 20)), -EINVAL);
	ck_assert_int_eq(codec_valid(codec_make(CODEC_ZSTD, ZSTD_minCLevel() - 1)), -EINVAL);
	ck_assert_int_eq(codec_valid(codec_make(CODEC_NTYPES, 1)), -EINVAL);
	ck_assert_int_eq(codec_valid(0xffu), -EINVAL);

	ck_assert_int_eq(codec_format(codec_make(CODEC_ZSTD, 0), buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(codec_format(codec_make(CODEC_ZSTD, 12), buf, 4), -ENOSPC);
	ck_assert_int_eq(codec_format(codec_make(CODEC_ZSTD, 12), buf, 8), 7);
	ck_assert_int_eq(codec_format(codec_make(CODEC_ZSTD, 12), buf, 7), -ENOSPC);
	ck_assert_uint_eq(codec_bound(codec_make(CODEC_ZSTD, 0), PAGE), 0);
	ck_assert_uint_ge(codec_bound(CODEC_DEFAULT, PAGE), PAGE);
	ck_assert_uint_ge(codec_bound(codec_make(CODEC_ZSTD, 1), PAGE), PAGE);
	ck_assert_uint_eq(codec_bound(codec_make(CODEC_NONE, 0), PAGE), PAGE);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Round trips */

/* Compress page into an exactly sized heap buffer and back into an exactly
 * sized one; returns the compressed size. */
static int round_trip(unsigned id, const unsigned char *page, size_t cap)
{
	unsigned char *dst = malloc(cap);
	unsigned char *out = malloc(PAGE);
	unsigned char *exact;
	int n;

	ck_assert_ptr_nonnull(dst);
	ck_assert_ptr_nonnull(out);
	n = codec_compress(id, page, PAGE, dst, cap);
	ck_assert_msg(n > 0, "codec %u: compress returned %d", id, n);
	ck_assert_uint_le((size_t)n, cap);
	exact = malloc((size_t)n);
	ck_assert_ptr_nonnull(exact);
	memcpy(exact, dst, (size_t)n);
	memset(out, 0xa5, PAGE);
	ck_assert_int_eq(codec_decompress(id, exact, (size_t)n, out, PAGE), 0);
	ck_assert_msg(memcmp(out, page, PAGE) == 0, "codec %u: round trip differs", id);
	free(exact);
	free(out);
	free(dst);
	return n;
}

START_TEST(test_round_trip_every_codec)
{
	unsigned ids[64];
	size_t nids;

	corpus_load();
	nids = all_codecs(ids, 64);
	for (size_t c = 0; c < nids; c++) {
		size_t total = 0;

		for (size_t i = 0; i < corpus.n; i++) {
			/* High zstd levels are slow: one page of each run. */
			if (codec_id_type(ids[c]) == CODEC_ZSTD && codec_id_param(ids[c]) > 9 &&
			    i % 3 != 1)
				continue;
			total += (size_t)round_trip(ids[c], corpus_page(i),
						    codec_bound(ids[c], PAGE));
		}
		ck_assert_uint_gt(total, 0);
	}
}
END_TEST

START_TEST(test_round_trip_special_pages)
{
	unsigned ids[64];
	size_t nids = all_codecs(ids, 64);
	unsigned char *page = malloc(PAGE);
	uint64_t seed = zc_test_seed();

	ck_assert_ptr_nonnull(page);
	for (size_t c = 0; c < nids; c++) {
		/* Zero page, a byte fill, random bytes (incompressible), one byte
		 * different at the end, text-like small alphabet. */
		memset(page, 0, PAGE);
		{
			int n = round_trip(ids[c], page, codec_bound(ids[c], PAGE));

			if (codec_id_type(ids[c]) == CODEC_NONE)
				ck_assert_int_eq(n, PAGE);
			else if (codec_id_param(ids[c]) > 0 && codec_id_param(ids[c]) < 20)
				ck_assert_msg(n < 256, "codec %u: zero page -> %d bytes", ids[c], n);
		}
		memset(page, 0x5a, PAGE);
		round_trip(ids[c], page, codec_bound(ids[c], PAGE));
		for (size_t i = 0; i < PAGE; i++)
			page[i] = (unsigned char)zc_rand(&seed);
		ck_assert_int_ge(round_trip(ids[c], page, codec_bound(ids[c], PAGE)), PAGE);
		page[PAGE - 1] ^= 1;
		round_trip(ids[c], page, codec_bound(ids[c], PAGE));
		for (size_t i = 0; i < PAGE; i++)
			page[i] = (unsigned char)('a' + zc_rand_below(&seed, 4));
		round_trip(ids[c], page, codec_bound(ids[c], PAGE));
	}
	free(page);
}
END_TEST

/* Other sizes than a page work (the codec does not assume 4096). */
START_TEST(test_round_trip_sizes)
{
	static const size_t sizes[] = { 1, 7, 64, 4095, 4097, 65536 };
	unsigned ids[] = { CODEC_DEFAULT, codec_make(CODEC_ZSTD, 1), codec_make(CODEC_ZSTD, -3),
			   codec_make(CODEC_NONE, 0), codec_make(CODEC_LZ4HC, 9) };
	uint64_t seed = 42;

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t len = sizes[s];
		unsigned char *src = malloc(len), *out = malloc(len);

		ck_assert_ptr_nonnull(src);
		ck_assert_ptr_nonnull(out);
		for (size_t i = 0; i < len; i++)
			src[i] = (unsigned char)(zc_rand_below(&seed, 3) ? 'q' : zc_rand(&seed));
		for (size_t c = 0; c < sizeof(ids) / sizeof(ids[0]); c++) {
			size_t cap = codec_bound(ids[c], len);
			unsigned char *dst = malloc(cap);
			int n;

			ck_assert_ptr_nonnull(dst);
			n = codec_compress(ids[c], src, len, dst, cap);
			ck_assert_int_gt(n, 0);
			ck_assert_int_eq(codec_decompress(ids[c], dst, (size_t)n, out, len), 0);
			ck_assert_mem_eq(out, src, len);
			free(dst);
		}
		free(out);
		free(src);
	}
}
END_TEST

/* A capacity below the compressed size stops early with -ENOSPC and never
 * writes beyond the capacity (the buffer is exactly that large). */
START_TEST(test_compress_capacity)
{
	unsigned ids[64];
	size_t nids = all_codecs(ids, 64);
	unsigned char *page = malloc(PAGE);
	uint64_t seed = 7;

	ck_assert_ptr_nonnull(page);
	for (size_t i = 0; i < PAGE; i++)
		page[i] = (unsigned char)zc_rand(&seed);
	for (size_t c = 0; c < nids; c++) {
		size_t caps[] = { 1, 16, PAGE * 3 / 4, PAGE - 1 };

		for (size_t k = 0; k < 4; k++) {
			unsigned char *dst = malloc(caps[k]);

			ck_assert_ptr_nonnull(dst);
			ck_assert_int_eq(codec_compress(ids[c], page, PAGE, dst, caps[k]), -ENOSPC);
			free(dst);
		}
	}
	/* A compressible page fits a small capacity exactly when its size does. */
	memset(page, 'z', PAGE);
	{
		unsigned char dst[PAGE];
		int n = codec_compress(CODEC_DEFAULT, page, PAGE, dst, sizeof(dst));
		unsigned char *exact;

		ck_assert_int_gt(n, 0);
		exact = malloc((size_t)n);
		ck_assert_ptr_nonnull(exact);
		ck_assert_int_eq(codec_compress(CODEC_DEFAULT, page, PAGE, exact, (size_t)n), n);
		ck_assert_int_eq(codec_compress(CODEC_DEFAULT, page, PAGE, exact, (size_t)n - 1),
				 -ENOSPC);
		free(exact);
	}
	free(page);
}
END_TEST

/* A prefix decode of 64 KiB: lz4 (and lz4hc) stop at the prefix asked for
 * (they may decode a little more), every byte they report valid is right,
 * and the rest of the buffer is untouched past what they wrote; zstd and
 * none decode it whole.  A truncated input fails. */
START_TEST(test_decompress_prefix)
{
	const unsigned ids[] = { CODEC_DEFAULT, codec_make(CODEC_LZ4HC, 9),
				 codec_make(CODEC_ZSTD, 3), codec_make(CODEC_NONE, 0) };
	const size_t len = 16 * PAGE;
	unsigned char *src = malloc(len), *dst = malloc(codec_bound(CODEC_DEFAULT, len) + len),
		      *out = malloc(len);

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(dst);
	ck_assert_ptr_nonnull(out);
	corpus_load();
	for (size_t i = 0; i < 16; i++)
		memcpy(src + i * PAGE, corpus_page(i * 3), PAGE);
	for (size_t c = 0; c < sizeof(ids) / sizeof(ids[0]); c++) {
		int n = codec_compress(ids[c], src, len, dst, codec_bound(ids[c], len));

		ck_assert_int_gt(n, 0);
		for (size_t want = PAGE; want <= len; want += 5 * PAGE) {
			int got;

			memset(out, 0xa5, len);
			got = codec_decompress_prefix(ids[c], dst, (size_t)n, out, want, len);
			ck_assert_int_ge(got, (int)want);
			ck_assert_int_le(got, (int)len);
			ck_assert_mem_eq(out, src, (size_t)got);
			if (codec_decode_type(ids[c]) != CODEC_LZ4)
				ck_assert_int_eq(got, (int)len);
		}
		ck_assert_int_eq(codec_decompress_prefix(ids[c], dst, (size_t)n, out, len, len),
				 (int)len);
		ck_assert_mem_eq(out, src, len);
		/* Cut after a quarter: a prefix past the cut fails. */
		ck_assert_int_lt(codec_decompress_prefix(ids[c], dst, (size_t)n / 4, out, len,
							 len), 0);
	}
	free(out);
	free(dst);
	free(src);
}
END_TEST

START_TEST(test_bad_arguments)
{
	unsigned char page[PAGE], dst[PAGE * 2];

	memset(page, 1, sizeof(page));
	ck_assert_int_eq(codec_compress(codec_make(CODEC_LZ4, 0), page, PAGE, dst, sizeof(dst)),
			 -EINVAL);
	ck_assert_int_eq(codec_compress(codec_make(CODEC_ZSTD, 25), page, PAGE, dst, sizeof(dst)),
			 -EINVAL);
	ck_assert_int_eq(codec_compress(codec_make(CODEC_NONE, 3), page, PAGE, dst, sizeof(dst)),
			 -EINVAL);
	ck_assert_int_eq(codec_compress(3, page, PAGE, dst, sizeof(dst)), -EINVAL);
	ck_assert_int_eq(codec_compress(CODEC_DEFAULT, page, 0, dst, sizeof(dst)), -EINVAL);
	ck_assert_int_eq(codec_decompress(CODEC_NTYPES, page, PAGE, dst, PAGE), -EINVAL);
	ck_assert_int_eq(codec_compress(codec_make(CODEC_LZ4HC, 13), page, PAGE, dst, sizeof(dst)),
			 -EINVAL);
	ck_assert_int_eq(codec_decompress_prefix(CODEC_DEFAULT, page, PAGE, dst, 0, PAGE), -EINVAL);
	ck_assert_int_eq(codec_decompress_prefix(CODEC_DEFAULT, page, PAGE, dst, PAGE + 1, PAGE),
			 -EINVAL);
	ck_assert_int_eq(codec_decompress(CODEC_DEFAULT, page, PAGE, dst, 0), -EINVAL);
	ck_assert_int_eq(codec_decompress(CODEC_DEFAULT, page, 0, dst, PAGE), -EIO);
	ck_assert_int_eq(codec_decompress(codec_make(CODEC_NONE, 0), page, PAGE - 1, dst, PAGE),
			 -EIO);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Corrupt input: -EIO (or, for a flipped literal, a different page), never
 * a crash, over-read or over-write. */

/* A buffer of `len` bytes between two PROT_NONE guard pages, placed against
 * the upper guard (tail) or the lower one: the codec libraries are not built
 * with ASan, so the guards are what catch an over-read or over-write inside
 * them. */
struct guarded {
	unsigned char *map;
	size_t maplen;
	unsigned char *p;
};

static void guarded_alloc(struct guarded *g, size_t len, int at_tail)
{
	size_t inner = (len + PAGE - 1) / PAGE * PAGE;

	if (inner == 0)
		inner = PAGE;
	g->maplen = inner + 2 * PAGE;
	g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(g->map, MAP_FAILED);
	ck_assert_int_eq(mprotect(g->map, PAGE, PROT_NONE), 0);
	ck_assert_int_eq(mprotect(g->map + PAGE + inner, PAGE, PROT_NONE), 0);
	g->p = at_tail ? g->map + PAGE + inner - len : g->map + PAGE;
}

static void guarded_free(struct guarded *g)
{
	ck_assert_int_eq(munmap(g->map, g->maplen), 0);
}

static int decode_exact(unsigned id, const unsigned char *src, size_t len, size_t outlen)
{
	static unsigned flip;
	struct guarded in, out;
	int rc;

	/* Alternate which side of each buffer touches a guard. */
	flip++;
	guarded_alloc(&in, len, flip & 1);
	guarded_alloc(&out, outlen, (flip >> 1) & 1);
	memcpy(in.p, src, len);
	rc = codec_decompress(id, in.p, len, out.p, outlen);
	guarded_free(&out);
	guarded_free(&in);
	return rc;
}

START_TEST(test_corrupt_input)
{
	const unsigned ids[] = { CODEC_DEFAULT, codec_make(CODEC_ZSTD, 1),
				 codec_make(CODEC_ZSTD, 9), codec_make(CODEC_ZSTD, -5),
				 codec_make(CODEC_LZ4HC, 9) };
	uint64_t seed = zc_test_seed();
	unsigned char *buf = malloc(PAGE * 2);
	unsigned char *bad = malloc(PAGE * 2 + 16);
	size_t eio = 0, ok = 0;

	ck_assert_ptr_nonnull(buf);
	ck_assert_ptr_nonnull(bad);
	corpus_load();
	for (size_t c = 0; c < sizeof(ids) / sizeof(ids[0]); c++) {
		for (size_t i = 0; i < corpus.n; i += 2) {
			int n = codec_compress(ids[c], corpus_page(i), PAGE, buf, PAGE * 2);
			size_t len;

			ck_assert_int_gt(n, 0);
			len = (size_t)n;
			ck_assert_int_eq(decode_exact(ids[c], buf, len, PAGE), 0);

			/* Truncated anywhere: always -EIO. */
			for (int t = 0; t < 4; t++) {
				size_t cut = (size_t)zc_rand_below(&seed, len);

				ck_assert_int_eq(decode_exact(ids[c], buf, cut, PAGE), -EIO);
			}
			ck_assert_int_eq(decode_exact(ids[c], buf, len - 1, PAGE), -EIO);
			/* Wrong output size: -EIO. */
			ck_assert_int_eq(decode_exact(ids[c], buf, len, PAGE - 1), -EIO);
			ck_assert_int_eq(decode_exact(ids[c], buf, len, PAGE + 1), -EIO);
			/* Trailing garbage: -EIO. */
			memcpy(bad, buf, len);
			memset(bad + len, 0x33, 16);
			ck_assert_int_eq(decode_exact(ids[c], bad, len + 16, PAGE), -EIO);
			/* Flipped bytes: -EIO or some page; no crash. */
			for (int t = 0; t < 8; t++) {
				int rc;

				memcpy(bad, buf, len);
				for (int f = 0; f <= t % 3; f++)
					bad[zc_rand_below(&seed, len)] ^=
						(unsigned char)(1 + zc_rand_below(&seed, 255));
				rc = decode_exact(ids[c], bad, len, PAGE);
				ck_assert(rc == 0 || rc == -EIO);
				rc == 0 ? ok++ : eio++;
			}
			/* Random garbage of the same length. */
			for (size_t k = 0; k < len; k++)
				bad[k] = (unsigned char)zc_rand(&seed);
			{
				int rc = decode_exact(ids[c], bad, len, PAGE);

				ck_assert(rc == 0 || rc == -EIO);
			}
			/* Another codec's bytes. */
			{
				unsigned other = codec_id_type(ids[c]) == CODEC_LZ4 ?
					codec_make(CODEC_ZSTD, 1) : CODEC_DEFAULT;
				int rc = decode_exact(other, buf, len, PAGE);

				ck_assert(rc == 0 || rc == -EIO);
			}
		}
	}
	/* Many corruptions are caught (the formats carry lengths); a flipped
	 * literal byte decodes to a different page, which only a checksum in
	 * the pampd could catch. */
	ck_assert_uint_gt(eio, 0);
	ck_assert_uint_gt(eio + ok, 0);
	free(bad);
	free(buf);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Threads: each thread uses its own contexts; every round trip verifies. */

struct worker {
	uint64_t seed;
	int failures;
	uint64_t contexts_seen;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const unsigned ids[] = { CODEC_DEFAULT, codec_make(CODEC_LZ4, 9),
				 codec_make(CODEC_ZSTD, 1), codec_make(CODEC_ZSTD, 3),
				 codec_make(CODEC_ZSTD, -2), codec_make(CODEC_NONE, 0) };
	unsigned char dst[PAGE * 2], out[PAGE];
	struct codec_stats st;

	for (int op = 0; op < 1500; op++) {
		size_t i = (size_t)zc_rand_below(&w->seed, corpus.n);
		unsigned id = ids[zc_rand_below(&w->seed, sizeof(ids) / sizeof(ids[0]))];
		int n = codec_compress(id, corpus_page(i), PAGE, dst, sizeof(dst));

		if (n <= 0 || codec_decompress(id, dst, (size_t)n, out, PAGE) != 0 ||
		    memcmp(out, corpus_page(i), PAGE) != 0)
			w->failures++;
	}
	codec_stats(&st);
	w->contexts_seen = st.contexts;
	/* Contexts left here are freed by the thread-exit destructor (a leak
	 * would show under ASan). */
	return NULL;
}

START_TEST(test_threads)
{
	enum { NT = 4 };
	pthread_t th[NT];
	struct worker w[NT];
	uint64_t seed = zc_test_seed();
	struct codec_stats st;

	corpus_load();
	for (int t = 0; t < NT; t++) {
		w[t] = (struct worker){ .seed = zc_rand(&seed) };
		ck_assert_int_eq(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
	}
	for (int t = 0; t < NT; t++) {
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
		ck_assert_int_eq(w[t].failures, 0);
		ck_assert_uint_eq(w[t].contexts_seen, 3);
	}
	/* The main thread's contexts are its own; release frees them. */
	codec_thread_release();
	codec_stats(&st);
	ck_assert_uint_eq(st.contexts, 0);
	{
		unsigned char dst[PAGE * 2];

		ck_assert_int_gt(codec_compress(codec_make(CODEC_ZSTD, 2), corpus_page(0), PAGE,
						dst, sizeof(dst)), 0);
	}
	codec_stats(&st);
	ck_assert_uint_eq(st.contexts, 1);
	ck_assert_uint_gt(st.context_bytes, 0);
	codec_thread_release();
	codec_thread_release();
	codec_stats(&st);
	ck_assert_uint_eq(st.contexts, 0);
	ck_assert_uint_eq(st.context_bytes, 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("names");

	tcase_add_test(tc, test_parse_valid);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_valid_and_format_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("round_trip");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_round_trip_every_codec);
	tcase_add_test(tc, test_round_trip_special_pages);
	tcase_add_test(tc, test_round_trip_sizes);
	tcase_add_test(tc, test_compress_capacity);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_decompress_prefix);
	suite_add_tcase(s, tc);

	tc = tcase_create("corrupt");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_corrupt_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
