/* tests/pam.c - the PAM suite: every kind of page (same-filled, raw,
 * compressed) against a reference computed with raw lz4/zstd, the pampd
 * encoding and its corruption checks, corrupt compressed data (scratch
 * against a guard page), codec changes, the raw threshold, accounting,
 * multi-page units (plan, repack, reads through the per-thread cache,
 * shares, retiring, references held by readers, compaction, allocation
 * failures), a randomized model test (with repacks) and a multi-threaded
 * stress test.
 */
#include "compress/pam.h"

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "alloc/slab.h"
#include "alloc/xcf.h"
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <lz4.h>
#include <zstd.h>

#define PAGE 4096

/* ------------------------------------------------------------------------ */
/* Fixture: a buddy allocator, an SGV context and a backend. */

struct env {
	struct buddy *b;
	struct sgv_ctx *sgv;
	struct pam *pam;
};

static void env_open(struct env *e, const struct pam_config *cfg)
{
	e->b = buddy_create(BUDDY_DEFAULT_RESERVE);
	ck_assert_ptr_nonnull(e->b);
	e->sgv = sgv_ctx_create(e->b);
	ck_assert_ptr_nonnull(e->sgv);
	e->pam = pam_create(cfg, e->b, e->sgv, NULL);
	ck_assert_ptr_nonnull(e->pam);
	ck_assert_int_eq(pam_check(e->pam), 0);
}

static void env_close(struct env *e)
{
	ck_assert_int_eq(pam_check(e->pam), 0);
	pam_destroy(e->pam);
	ck_assert_int_eq(sgv_ctx_check(e->sgv), 0);
	sgv_ctx_destroy(e->sgv);
	ck_assert_int_eq(buddy_check(e->b), 0);
	buddy_destroy(e->b);
	codec_thread_release();
}

static unsigned char *corpus_img;
static size_t corpus_pages;

static void corpus_load(void)
{
	size_t len;

	if (corpus_img)
		return;
	corpus_img = zc_load_file(zc_corpus_path("pages.img"), &len);
	corpus_pages = len / PAGE;
	ck_assert_uint_ge(corpus_pages, 256);
}

static const unsigned char *cpage(size_t i)
{
	return corpus_img + (i % corpus_pages) * PAGE;
}

static void fill_words(unsigned char *page, uint64_t w)
{
	for (size_t i = 0; i < PAGE; i += 8)
		memcpy(page + i, &w, 8);
}

/* The reference model of where a page goes: same-filled (0), raw (4096) or
 * compressed (its size), computed with the libraries directly. */
static int ref_is_same_filled(const unsigned char *page)
{
	for (size_t i = 8; i < PAGE; i += 8)
		if (memcmp(page, page + i, 8) != 0)
			return 0;
	return 1;
}

static unsigned ref_size(unsigned codec, const unsigned char *page, unsigned threshold)
{
	static char out[LZ4_COMPRESSBOUND(PAGE) + 1024];
	size_t n;

	if (codec_id_type(codec) == CODEC_LZ4) {
		n = (size_t)LZ4_compress_fast((const char *)page, out, PAGE, (int)sizeof(out),
					      codec_id_param(codec));
	} else if (codec_id_type(codec) == CODEC_ZSTD) {
		n = ZSTD_compress(out, sizeof(out), page, PAGE, codec_id_param(codec));
		ck_assert(!ZSTD_isError(n));
	} else {
		n = PAGE;
	}
	ck_assert_uint_gt(n, 0);
	if (n >= threshold || n > XCF_MAX_SIZE)
		return PAGE;
	return (unsigned)n;
}

/* Put a page, check its pampd against the model, read it back. */
static pam_pampd put_verified(struct env *e, const unsigned char *page, unsigned codec,
			      unsigned threshold)
{
	struct pam_pampd_info info;
	unsigned char out[PAGE];
	pam_pampd p = 0;

	ck_assert_int_eq(pam_put(e->pam, page, codec, &p), 0);
	ck_assert_uint_ne(p, 0);
	ck_assert_int_eq(pam_pampd_info(e->pam, p, &info), 0);
	if (ref_is_same_filled(page)) {
		uint64_t w;

		memcpy(&w, page, 8);
		if (info.kind == PAM_KIND_FILL) {
			ck_assert_uint_eq(info.fill, w);
			ck_assert_uint_eq(pam_size(e->pam, p), 0);
		}
	} else {
		unsigned want = ref_size(codec, page, threshold);

		if (want == PAGE) {
			ck_assert_int_eq(info.kind, PAM_KIND_RAW);
			ck_assert_uint_eq(pam_size(e->pam, p), PAGE);
		} else {
			ck_assert_int_eq(info.kind, PAM_KIND_XCF);
			ck_assert_uint_eq(info.size, want);
			ck_assert_uint_eq(info.codec_type, codec_id_type(codec));
			ck_assert_uint_lt(info.pool, pam_pool_count(e->pam));
			ck_assert_uint_ge(pam_size(e->pam, p), want + XCF_DESC_SIZE);
			ck_assert_uint_lt(pam_size(e->pam, p), want + XCF_DESC_SIZE + 64 + XCF_HDR_SIZE);
		}
	}
	memset(out, 0xee, PAGE);
	ck_assert_int_eq(pam_get(e->pam, p, out), 0);
	ck_assert(memcmp(out, page, PAGE) == 0);
	return p;
}

/* ------------------------------------------------------------------------ */
/* create / destroy */

START_TEST(test_create_errors)
{
	struct buddy *b = buddy_create(0);
	struct sgv_ctx *sgv;
	struct pam_config cfg = { .raw_threshold = PAGE + 1 };
	struct pam *pam;

	ck_assert_ptr_nonnull(b);
	sgv = sgv_ctx_create(b);
	ck_assert_ptr_nonnull(sgv);
	errno = 0;
	ck_assert_ptr_null(pam_create(NULL, NULL, sgv, NULL));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(pam_create(NULL, b, NULL, NULL));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(pam_create(&cfg, b, sgv, NULL));
	ck_assert_int_eq(errno, EINVAL);
	pam_destroy(NULL);

	/* Defaults; more pools than the maximum are capped; two backends on
	 * one SGV context share the scratch pools by name. */
	pam = pam_create(NULL, b, sgv, NULL);
	ck_assert_ptr_nonnull(pam);
	ck_assert_uint_ge(pam_pool_count(pam), 1);
	ck_assert_uint_le(pam_pool_count(pam), PAM_MAX_POOLS);
	ck_assert_ptr_nonnull(pam_xcf_pool(pam, 0));
	ck_assert_ptr_null(pam_xcf_pool(pam, pam_pool_count(pam)));
	{
		struct pam_config big = { .pools = 1000 };
		struct pam *p2 = pam_create(&big, b, sgv, NULL);

		ck_assert_ptr_nonnull(p2);
		ck_assert_uint_eq(pam_pool_count(p2), PAM_MAX_POOLS);
		/* The scratch pools: one a slot, named pam-scratch-<i>, the
		 * very pools the first backend has. */
		for (unsigned i = 0; i < PAM_MAX_POOLS; i++) {
			char name[SGV_NAME_MAX];

			snprintf(name, sizeof(name), "pam-scratch-%u", i);
			ck_assert_ptr_nonnull(pam_scratch_pool(p2, i));
			ck_assert_ptr_eq(pam_scratch_pool(p2, i), sgv_pool_find(sgv, name));
			if (i < pam_pool_count(pam))
				ck_assert_ptr_eq(pam_scratch_pool(pam, i), pam_scratch_pool(p2, i));
		}
		ck_assert_ptr_null(pam_scratch_pool(p2, PAM_MAX_POOLS));
		ck_assert_ptr_null(pam_scratch_pool(pam, pam_pool_count(pam)));
		ck_assert_int_eq(pam_check(p2), 0);
		pam_destroy(p2);
	}
	ck_assert_int_eq(pam_check(pam), 0);
	pam_destroy(pam);

	/* A caller-supplied descriptor cache. */
	{
		struct slab_cache *descs = slab_create("descs", XCF_DESC_SIZE, 0, b);
		struct pam_config one = { .pools = 1 };
		unsigned char page[PAGE];
		pam_pampd p;
		struct pam_stats st;

		ck_assert_ptr_nonnull(descs);
		pam = pam_create(&one, b, sgv, descs);
		ck_assert_ptr_nonnull(pam);
		for (size_t i = 0; i < PAGE; i++)
			page[i] = (unsigned char)(i % 7 + (i / 512));
		ck_assert_int_eq(pam_put(pam, page, CODEC_DEFAULT, &p), 0);
		pam_stats(pam, &st);
		ck_assert_uint_eq(st.compressed_pages, 1);
		ck_assert_uint_ge(st.meta_bytes, XCF_DESC_SIZE);
		pam_free(pam, p);
		ck_assert_int_eq(pam_check(pam), 0);
		pam_destroy(pam);
		slab_destroy(descs);
	}
	sgv_ctx_destroy(sgv);
	buddy_destroy(b);
	codec_thread_release();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* same-filled pages */

START_TEST(test_same_filled)
{
	static const uint64_t fits[] = {
		0, 0x2a2a2a2a2a2a2a2aull, 0xffffffffffffffffull, 0x00000000000427d0ull,
		0xdeadbeefdeadbeefull, 0x00007fff12345678ull, 0xfffffffffffffff0ull,
		0x0000000100000001ull, 1, 0x07ffffffffffffffull, 0xf800000000000000ull,
	};
	static const uint64_t misfits[] = {
		0x123456789abcdef0ull, 0x8000000000000000ull, 0x0800000000000000ull,
		0x7fffffffffffffffull,
	};
	struct env e;
	unsigned char page[PAGE];
	struct pam_stats st;
	pam_pampd ps[16];

	env_open(&e, NULL);
	for (size_t i = 0; i < sizeof(fits) / sizeof(fits[0]); i++) {
		struct pam_pampd_info info;

		fill_words(page, fits[i]);
		ps[i] = put_verified(&e, page, CODEC_DEFAULT, PAM_DEFAULT_RAW_THRESHOLD);
		ck_assert_int_eq(pam_pampd_info(e.pam, ps[i], &info), 0);
		ck_assert_int_eq(info.kind, PAM_KIND_FILL);
		ck_assert_uint_eq(info.fill, fits[i]);
	}
	fill_words(page, 0);
	ck_assert_int_eq(pam_put(e.pam, page, CODEC_DEFAULT, &ps[15]), 0);
	ck_assert_uint_eq(ps[15], 1);	/* the zero page's pampd, as documented */
	pam_free(e.pam, ps[15]);

	/* get_locked produces a same-filled page itself and returns 1. */
	{
		unsigned char out[PAGE], scratch[PAGE];
		size_t len = 12345;

		fill_words(page, 0x00000000000427d0ull);
		ck_assert_int_eq(pam_put(e.pam, page, CODEC_DEFAULT, &ps[15]), 0);
		memset(out, 0x55, PAGE);
		ck_assert_int_eq(pam_get_locked(e.pam, ps[15], out, scratch, &len), 1);
		ck_assert_uint_eq(len, 12345);
		ck_assert(memcmp(out, page, PAGE) == 0);
		pam_free(e.pam, ps[15]);
	}

	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.same_filled_pages, sizeof(fits) / sizeof(fits[0]));
	ck_assert_uint_eq(st.pages, st.same_filled_pages);
	ck_assert_uint_eq(st.compr_bytes, 0);
	ck_assert_uint_eq(st.pool_bytes, 0);	/* no pool memory at all */
	ck_assert_uint_eq(st.orig_bytes, st.pages * PAGE);
	ck_assert_uint_eq(st.fill_fallbacks, 0);

	/* Words that do not fit go the compressed way and still read back. */
	for (size_t i = 0; i < sizeof(misfits) / sizeof(misfits[0]); i++) {
		struct pam_pampd_info info;
		pam_pampd p;

		fill_words(page, misfits[i]);
		p = put_verified(&e, page, CODEC_DEFAULT, PAM_DEFAULT_RAW_THRESHOLD);
		ck_assert_int_eq(pam_pampd_info(e.pam, p, &info), 0);
		ck_assert_int_eq(info.kind, PAM_KIND_XCF);
		ck_assert_uint_lt(info.size, 64);
		pam_free(e.pam, p);
	}
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.fill_fallbacks, sizeof(misfits) / sizeof(misfits[0]));

	/* Same-filled except the very last or first word. */
	fill_words(page, 0);
	page[PAGE - 1] = 1;
	pam_free(e.pam, put_verified(&e, page, CODEC_DEFAULT, PAM_DEFAULT_RAW_THRESHOLD));
	fill_words(page, 0);
	page[0] = 1;
	pam_free(e.pam, put_verified(&e, page, CODEC_DEFAULT, PAM_DEFAULT_RAW_THRESHOLD));

	for (size_t i = 0; i < sizeof(fits) / sizeof(fits[0]); i++)
		pam_free(e.pam, ps[i]);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.pages, 0);
	ck_assert_int_eq(pam_check(e.pam), 0);
	env_close(&e);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Every page of the corpus against the reference, with three codecs. */

static void corpus_against_reference(unsigned codec, size_t step)
{
	struct env e;
	struct pam_stats st;
	pam_pampd *ps;
	size_t n = 0, fill = 0, raw = 0, comp = 0;
	uint64_t compr = 0, footprint = 0;

	corpus_load();
	env_open(&e, NULL);
	ps = calloc(corpus_pages, sizeof(*ps));
	ck_assert_ptr_nonnull(ps);
	for (size_t i = 0; i < corpus_pages; i += step) {
		struct pam_pampd_info info;

		ps[n] = put_verified(&e, cpage(i), codec, PAM_DEFAULT_RAW_THRESHOLD);
		ck_assert_int_eq(pam_pampd_info(e.pam, ps[n], &info), 0);
		if (info.kind == PAM_KIND_FILL)
			fill++;
		else if (info.kind == PAM_KIND_RAW)
			raw++, compr += PAGE;
		else
			comp++, compr += info.size;
		footprint += pam_size(e.pam, ps[n]);
		n++;
		if (n % 1024 == 0)
			ck_assert_int_eq(pam_check(e.pam), 0);
	}
	ck_assert_int_eq(pam_check(e.pam), 0);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.pages, n);
	ck_assert_uint_eq(st.same_filled_pages, fill);
	ck_assert_uint_eq(st.raw_pages, raw);
	ck_assert_uint_eq(st.compressed_pages, comp);
	ck_assert_uint_eq(codec_id_type(codec) == CODEC_LZ4 ? st.lz4_pages : st.zstd_pages, comp);
	ck_assert_uint_eq(st.compr_bytes, compr);
	ck_assert_uint_eq(st.orig_bytes, (uint64_t)n * PAGE);
	ck_assert_uint_eq(st.puts, n);
	ck_assert_uint_eq(st.xcf_used_bytes, compr - raw * PAGE);
	/* Pool memory holds every stored byte, and xcf packs them densely. */
	ck_assert_uint_ge(st.pool_bytes, compr);
	ck_assert_uint_le(st.pool_bytes,
			  footprint + footprint / 50 + (uint64_t)pam_pool_count(e.pam) * 4 * PAGE);
	if (step == 1) {
		/* The corpus README: 2579 same-filled pages. */
		ck_assert_uint_eq(fill, 2579);
	}
	/* Read everything again, then free. */
	for (size_t k = 0; k < n; k++) {
		unsigned char out[PAGE];

		ck_assert_int_eq(pam_get(e.pam, ps[k], out), 0);
		ck_assert(memcmp(out, cpage(k * step), PAGE) == 0);
		pam_free(e.pam, ps[k]);
	}
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.pages, 0);
	ck_assert_uint_eq(st.compr_bytes, 0);
	ck_assert_uint_eq(st.frees, n);
	ck_assert_uint_le(st.pool_bytes, (uint64_t)pam_pool_count(e.pam) * PAM_DEFAULT_XCF_RESERVE * PAGE);
	free(ps);
	env_close(&e);
}

START_TEST(test_corpus_lz4)
{
	corpus_against_reference(CODEC_DEFAULT, 1);
}
END_TEST

START_TEST(test_corpus_zstd1)
{
	corpus_against_reference(codec_make(CODEC_ZSTD, 1), 3);
}
END_TEST

START_TEST(test_corpus_other_codecs)
{
	corpus_against_reference(codec_make(CODEC_ZSTD, -5), 17);
	corpus_against_reference(codec_make(CODEC_ZSTD, 9), 61);
	corpus_against_reference(codec_make(CODEC_LZ4, 12), 13);
}
END_TEST

/* "none" keeps every page raw (same-filled pages still cost nothing). */
START_TEST(test_codec_none)
{
	struct env e;
	struct pam_stats st;
	unsigned none = codec_make(CODEC_NONE, 0);
	pam_pampd p[3];
	unsigned char page[PAGE];

	corpus_load();
	env_open(&e, NULL);
	p[0] = put_verified(&e, cpage(64 * 2 + 5), none, PAM_DEFAULT_RAW_THRESHOLD);
	fill_words(page, 0x4141414141414141ull);
	p[1] = put_verified(&e, page, none, PAM_DEFAULT_RAW_THRESHOLD);
	p[2] = put_verified(&e, cpage(64 * 17 + 3), none, PAM_DEFAULT_RAW_THRESHOLD);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.raw_pages, 2);
	ck_assert_uint_eq(st.same_filled_pages, 1);
	ck_assert_uint_eq(st.compr_bytes, 2 * PAGE);
	ck_assert_uint_eq(st.pool_bytes, 2 * PAGE);
	for (int i = 0; i < 3; i++)
		pam_free(e.pam, p[i]);
	env_close(&e);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Codec change: old pages stay readable. */

START_TEST(test_codec_change)
{
	const unsigned codecs[] = { CODEC_DEFAULT, codec_make(CODEC_ZSTD, 3),
				    codec_make(CODEC_LZ4, 30), codec_make(CODEC_ZSTD, -1),
				    codec_make(CODEC_ZSTD, 19), codec_make(CODEC_NONE, 0) };
	const size_t nc = sizeof(codecs) / sizeof(codecs[0]);
	struct env e;
	struct pam_stats st;
	pam_pampd ps[6][40];
	size_t lz4 = 0, zstd = 0;

	corpus_load();
	env_open(&e, NULL);
	for (size_t c = 0; c < nc; c++)
		for (size_t i = 0; i < 40; i++) {
			struct pam_pampd_info info;

			ps[c][i] = put_verified(&e, cpage(i * 97 + 64 * c), codecs[c],
						PAM_DEFAULT_RAW_THRESHOLD);
			ck_assert_int_eq(pam_pampd_info(e.pam, ps[c][i], &info), 0);
			if (info.kind == PAM_KIND_XCF)
				info.codec_type == CODEC_LZ4 ? lz4++ : zstd++;
		}
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.lz4_pages, lz4);
	ck_assert_uint_eq(st.zstd_pages, zstd);
	ck_assert_uint_gt(lz4, 0);
	ck_assert_uint_gt(zstd, 0);
	/* Every generation still reads back after all the changes. */
	for (size_t c = 0; c < nc; c++)
		for (size_t i = 0; i < 40; i++) {
			unsigned char out[PAGE];

			ck_assert_int_eq(pam_get(e.pam, ps[c][i], out), 0);
			ck_assert(memcmp(out, cpage(i * 97 + 64 * c), PAGE) == 0);
		}
	for (size_t c = 0; c < nc; c++)
		for (size_t i = 0; i < 40; i++)
			pam_free(e.pam, ps[c][i]);
	env_close(&e);
}
END_TEST

START_TEST(test_bad_codec)
{
	struct env e;
	struct pam_stats st;
	unsigned char page[PAGE];
	pam_pampd p = 12345;

	env_open(&e, NULL);
	for (size_t i = 0; i < PAGE; i++)
		page[i] = (unsigned char)(i * 13);
	ck_assert_int_eq(pam_put(e.pam, page, codec_make(CODEC_ZSTD, 40), &p), -EINVAL);
	ck_assert_int_eq(pam_put(e.pam, page, codec_make(CODEC_LZ4, 0), &p), -EINVAL);
	ck_assert_int_eq(pam_put(e.pam, page, 3, &p), -EINVAL);
	ck_assert_uint_eq(p, 12345);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.pages, 0);
	ck_assert_uint_eq(st.failed_puts, 3);
	ck_assert_uint_eq(st.pool_bytes, 0);
	env_close(&e);
}
END_TEST

/* Out of scratch memory: the SGV pool's page allocator fails. */
static void *failing_alloc_page(void *priv)
{
	(void)priv;
	return NULL;
}

static void failing_free_page(void *page, void *priv)
{
	(void)page;
	(void)priv;
	ck_abort_msg("no page was handed out");
}

START_TEST(test_no_scratch)
{
	struct pam_config cfg = { .pools = 1 };
	struct env e;
	struct pam_stats st;
	struct sgv_pool *sp;
	unsigned char page[PAGE], out[PAGE];
	pam_pampd p = 777, fill, comp;

	corpus_load();
	env_open(&e, &cfg);
	sp = sgv_pool_find(e.sgv, "pam-scratch-0");
	ck_assert_ptr_nonnull(sp);
	ck_assert_int_eq(sgv_pool_set_allocator(sp, failing_alloc_page, failing_free_page, NULL), 0);
	/* A page that needs compressing fails cleanly; a same-filled one
	 * needs no scratch. */
	ck_assert_int_eq(pam_put(e.pam, cpage(64 * 2 + 1), CODEC_DEFAULT, &p), -ENOMEM);
	ck_assert_uint_eq(p, 777);
	fill_words(page, 0x77);
	ck_assert_int_eq(pam_put(e.pam, page, CODEC_DEFAULT, &fill), 0);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.failed_puts, 1);
	ck_assert_uint_eq(st.pages, 1);
	ck_assert_uint_eq(st.pool_bytes, 0);
	ck_assert_int_eq(pam_check(e.pam), 0);

	/* With pages again, store one; then take the scratch away and read. */
	ck_assert_int_eq(sgv_pool_set_allocator(sp, NULL, NULL, NULL), 0);
	comp = put_verified(&e, cpage(64 * 2 + 1), CODEC_DEFAULT, PAM_DEFAULT_RAW_THRESHOLD);
	(void)pam_shrink(e.pam);
	(void)sgv_pool_flush(sp);
	ck_assert_int_eq(sgv_pool_set_allocator(sp, failing_alloc_page, failing_free_page, NULL), 0);
	ck_assert_int_eq(pam_get(e.pam, comp, out), -ENOMEM);
	ck_assert_int_eq(sgv_pool_set_allocator(sp, NULL, NULL, NULL), 0);
	ck_assert_int_eq(pam_get(e.pam, comp, out), 0);
	ck_assert(memcmp(out, cpage(64 * 2 + 1), PAGE) == 0);
	pam_free(e.pam, comp);
	pam_free(e.pam, fill);
	env_close(&e);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The raw threshold. */

START_TEST(test_threshold)
{
	static const unsigned thresholds[] = { 1, 64, 1024, 2048, 3072, 4000, PAGE };
	size_t raw_prev = (size_t)-1;

	corpus_load();
	for (size_t t = 0; t < sizeof(thresholds) / sizeof(thresholds[0]); t++) {
		struct pam_config cfg = { .raw_threshold = thresholds[t], .pools = 2 };
		struct env e;
		struct pam_stats st;
		pam_pampd ps[256];

		env_open(&e, &cfg);
		for (size_t i = 0; i < 256; i++)
			ps[i] = put_verified(&e, cpage(i * 64 + 9), CODEC_DEFAULT, thresholds[t]);
		pam_stats(e.pam, &st);
		/* A higher threshold never stores more pages raw. */
		ck_assert_uint_le(st.raw_pages, raw_prev);
		raw_prev = st.raw_pages;
		if (thresholds[t] == 1)
			ck_assert_uint_eq(st.compressed_pages, 0);
		ck_assert_int_eq(pam_check(e.pam), 0);
		for (size_t i = 0; i < 256; i++)
			pam_free(e.pam, ps[i]);
		env_close(&e);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Corrupt pampds and corrupt data. */

START_TEST(test_corrupt_pampd)
{
	struct pam_config cfg = { .pools = 2 };
	struct env e;
	struct pam_stats st;
	unsigned char page[PAGE], out[PAGE], scratch[PAGE];
	struct pam_pampd_info info;
	pam_pampd good_raw, good_xcf, bad[16];
	size_t nbad = 0, len;
	uint64_t seed = 99;

	corpus_load();
	env_open(&e, &cfg);
	for (size_t i = 0; i < PAGE; i++)
		page[i] = (unsigned char)zc_rand(&seed);
	good_raw = put_verified(&e, page, CODEC_DEFAULT, PAM_DEFAULT_RAW_THRESHOLD);
	ck_assert_int_eq(pam_pampd_info(e.pam, good_raw, &info), 0);
	ck_assert_int_eq(info.kind, PAM_KIND_RAW);
	good_xcf = put_verified(&e, cpage(64 * 2), CODEC_DEFAULT, PAM_DEFAULT_RAW_THRESHOLD);
	ck_assert_int_eq(pam_pampd_info(e.pam, good_xcf, &info), 0);
	ck_assert_int_eq(info.kind, PAM_KIND_XCF);

	bad[nbad++] = 0;				/* no page */
	bad[nbad++] = 0x1000;				/* kind 0 */
	bad[nbad++] = 0x1 | (2u << 2);			/* fill mode 2 */
	bad[nbad++] = 0x1 | (3u << 2);			/* fill mode 3 */
	bad[nbad++] = 0x1 | 0x100;			/* word32 fill with low bits set */
	bad[nbad++] = good_raw ^ (1u << 5);		/* raw check bits */
	/* A raw address with one bit flipped: the 10-bit check catches all but
	 * 1 in 1024, so take the first flip it catches (most are). */
	for (int bit = 12; bit < 47; bit++) {
		pam_pampd cand = good_raw ^ ((uint64_t)1 << bit);

		if (pam_pampd_info(e.pam, cand, &info) == -EIO) {
			bad[nbad++] = cand;
			break;
		}
	}
	ck_assert_uint_eq(nbad, 7);
	bad[nbad++] = PAM_KIND_RAW;			/* raw page at address 0 */
	bad[nbad++] = good_xcf | (3u << 2);		/* codec type 3 */
	bad[nbad++] = (good_xcf & ~(3ull << 2)) | ((uint64_t)CODEC_NONE << 2); /* codec none */
	bad[nbad++] = good_xcf & ~(0xfffull << 4);	/* size 0 */
	bad[nbad++] = good_xcf | (0xfffull << 4);	/* size over the cap */
	bad[nbad++] = good_xcf | (0xfull << 16);	/* pool 15 of 2 */
	bad[nbad++] = good_xcf & 0xfffff;		/* handle 0 */
	for (size_t i = 0; i < nbad; i++) {
		ck_assert_msg(pam_pampd_info(e.pam, bad[i], &info) == -EIO, "pampd %zu accepted", i);
		ck_assert_int_eq(info.kind, PAM_KIND_NONE);
		ck_assert_int_eq(pam_get_locked(e.pam, bad[i], out, scratch, &len), -EIO);
		ck_assert_int_eq(pam_get(e.pam, bad[i], out), -EIO);
		ck_assert_uint_eq(pam_size(e.pam, bad[i]), 0);
		pam_free(e.pam, bad[i]);	/* ignored, counted */
	}
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.bad_frees, nbad - 1);	/* pam_free(0) is no call at all */
	ck_assert_uint_eq(st.corrupt, 2 * nbad);
	ck_assert_uint_eq(st.pages, 2);
	ck_assert_int_eq(pam_check(e.pam), 0);

	/* decode refuses a pampd that is not compressed, or a wrong length. */
	ck_assert_int_eq(pam_get_locked(e.pam, good_xcf, out, scratch, &len), 0);
	ck_assert_int_eq(pam_decode(e.pam, good_xcf, scratch, len, out), 0);
	ck_assert(memcmp(out, cpage(64 * 2), PAGE) == 0);
	ck_assert_int_eq(pam_decode(e.pam, good_xcf, scratch, len - 1, out), -EIO);
	ck_assert_int_eq(pam_decode(e.pam, good_raw, scratch, len, out), -EIO);
	ck_assert_int_eq(pam_decode(e.pam, 1, scratch, len, out), -EIO);
	ck_assert_int_eq(pam_get_locked(e.pam, good_raw, out, scratch, &len), 1);
	ck_assert(memcmp(out, page, PAGE) == 0);

	/* The good pages are untouched by all this. */
	ck_assert_int_eq(pam_get(e.pam, good_raw, out), 0);
	ck_assert(memcmp(out, page, PAGE) == 0);
	ck_assert_int_eq(pam_get(e.pam, good_xcf, out), 0);
	pam_free(e.pam, good_raw);
	pam_free(e.pam, good_xcf);
	env_close(&e);
}
END_TEST

/* Corrupt compressed bytes, seen by decode from a scratch buffer that ends
 * at a PROT_NONE page (the codec libraries are not instrumented by ASan, the
 * guard page catches them too), and stored corrupt in xcf itself. */
START_TEST(test_corrupt_data)
{
	const unsigned codecs[] = { CODEC_DEFAULT, codec_make(CODEC_ZSTD, 1),
				    codec_make(CODEC_ZSTD, -3) };
	struct pam_config cfg = { .pools = 1 };
	struct env e;
	unsigned char *map, *out;
	size_t eio = 0, decoded = 0;
	uint64_t seed = zc_test_seed();

	corpus_load();
	env_open(&e, &cfg);
	map = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mprotect(map + PAGE, PAGE, PROT_NONE), 0);
	out = malloc(PAGE);
	ck_assert_ptr_nonnull(out);
	for (size_t c = 0; c < 3; c++) {
		for (size_t k = 0; k < 200; k++) {
			const unsigned char *src = cpage(k * 81 + 1);
			struct pam_pampd_info info;
			unsigned char tmp[PAGE];
			size_t len;
			pam_pampd p;
			unsigned char *scratch;
			int rc;

			ck_assert_int_eq(pam_put(e.pam, src, codecs[c], &p), 0);
			ck_assert_int_eq(pam_pampd_info(e.pam, p, &info), 0);
			if (info.kind != PAM_KIND_XCF) {
				pam_free(e.pam, p);
				continue;
			}
			ck_assert_int_eq(pam_get_locked(e.pam, p, out, tmp, &len), 0);
			ck_assert_uint_eq(len, info.size);
			/* The scratch ends exactly at the guard page. */
			scratch = map + PAGE - len;
			memcpy(scratch, tmp, len);
			for (int f = 0; f <= (int)(k % 4); f++)
				scratch[zc_rand_below(&seed, len)] ^= (unsigned char)(1 + zc_rand_below(&seed, 255));
			if (k % 5 == 0) {
				/* Garbage of the same length. */
				for (size_t i = 0; i < len; i++)
					scratch[i] = (unsigned char)zc_rand(&seed);
			}
			rc = pam_decode(e.pam, p, scratch, len, out);
			ck_assert(rc == 0 || rc == -EIO);
			rc == 0 ? decoded++ : eio++;

			/* The same corruption stored in xcf: pam_get reports it. */
			ck_assert_int_eq(xcf_write(pam_xcf_pool(e.pam, info.pool),
						   (xcf_handle)((p >> 20) << 3), scratch),
					 (int)len);
			rc = pam_get(e.pam, p, out);
			ck_assert(rc == 0 || rc == -EIO);
			pam_free(e.pam, p);
		}
	}
	ck_assert_uint_gt(eio, 0);
	ck_assert_int_eq(pam_check(e.pam), 0);
	ck_assert_int_eq(munmap(map, 3 * PAGE), 0);
	free(out);
	env_close(&e);
	(void)decoded;
}
END_TEST

/* pam_check notices an xcf object freed behind PAM's back. */
START_TEST(test_check_catches)
{
	struct pam_config cfg = { .pools = 1 };
	struct env e;
	struct pam_pampd_info info;
	pam_pampd p;

	corpus_load();
	env_open(&e, &cfg);
	p = put_verified(&e, cpage(64 * 2), CODEC_DEFAULT, PAM_DEFAULT_RAW_THRESHOLD);
	ck_assert_int_eq(pam_pampd_info(e.pam, p, &info), 0);
	ck_assert_int_eq(info.kind, PAM_KIND_XCF);
	ck_assert_int_eq(pam_check(e.pam), 0);
	xcf_free(pam_xcf_pool(e.pam, info.pool), (xcf_handle)((p >> 20) << 3));
	ck_assert_int_eq(pam_check(e.pam), -EUCLEAN);
	/* The pampd now dangles: tear down without freeing it. */
	pam_destroy(e.pam);
	sgv_ctx_destroy(e.sgv);
	buddy_destroy(e.b);
	codec_thread_release();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Accounting through puts, replaces and frees, compaction and shrinking. */

START_TEST(test_accounting_compact_shrink)
{
	struct pam_config cfg = { .pools = 2 };
	struct env e;
	struct pam_stats st, st2;
	enum { N = 3000 };
	pam_pampd *ps = calloc(N, sizeof(*ps));
	uint64_t compr = 0;

	ck_assert_ptr_nonnull(ps);
	corpus_load();
	env_open(&e, &cfg);
	for (size_t i = 0; i < N; i++) {
		struct pam_pampd_info info;

		ck_assert_int_eq(pam_put(e.pam, cpage(i * 5), CODEC_DEFAULT, &ps[i]), 0);
		ck_assert_int_eq(pam_pampd_info(e.pam, ps[i], &info), 0);
		compr += info.size;
	}
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.compr_bytes, compr);
	ck_assert_uint_eq(st.pages, N);
	ck_assert_uint_eq(st.pages, st.same_filled_pages + st.raw_pages + st.compressed_pages);
	ck_assert_uint_gt(st.meta_bytes, 0);
	ck_assert_uint_eq(st.pools, 2);

	/* Free every other page, compact: memory goes down, data stays. */
	for (size_t i = 0; i < N; i += 2) {
		struct pam_pampd_info info;

		ck_assert_int_eq(pam_pampd_info(e.pam, ps[i], &info), 0);
		compr -= info.size;
		pam_free(e.pam, ps[i]);
		ps[i] = 0;
	}
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.compr_bytes, compr);
	ck_assert_int_eq(pam_check(e.pam), 0);
	(void)pam_compact(e.pam, 0);
	ck_assert_int_eq(pam_check(e.pam), 0);
	(void)pam_shrink(e.pam);
	ck_assert_int_eq(pam_check(e.pam), 0);
	pam_stats(e.pam, &st2);
	ck_assert_uint_le(st2.pool_bytes, st.pool_bytes);
	ck_assert_uint_eq(st2.scratch_bytes, 0);
	ck_assert_uint_eq(st2.compr_bytes, compr);
	for (size_t i = 1; i < N; i += 2) {
		unsigned char out[PAGE];

		ck_assert_int_eq(pam_get(e.pam, ps[i], out), 0);
		ck_assert(memcmp(out, cpage(i * 5), PAGE) == 0);
		pam_free(e.pam, ps[i]);
	}
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.pages, 0);
	ck_assert_uint_eq(st.compressed_pages, 0);
	ck_assert_uint_eq(st.compr_bytes, 0);
	ck_assert_uint_eq(st.orig_bytes, 0);
	ck_assert_uint_eq(st.xcf_used_bytes, 0);
	ck_assert_uint_eq(st.frees, N);
	pam_shrink(e.pam);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.pool_bytes, 0);
	free(ps);
	env_close(&e);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Units */

#define TEXT_PAGES 1088		/* pages.map: 64 pages of C text from here */

/* A group of pages put with lz4: slot i holds corpus page first + i
 * (every slot of `map`; 0 elsewhere); text pages are all compressed. */
static void group_put(struct env *e, size_t first, unsigned map, pam_pampd old[PAM_UNIT_PAGES])
{
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++) {
		struct pam_pampd_info info;

		old[i] = 0;
		if (!(map & (1u << i)))
			continue;
		ck_assert_int_eq(pam_put(e->pam, cpage(first + i), CODEC_DEFAULT, &old[i]), 0);
		ck_assert_int_eq(pam_pampd_info(e->pam, old[i], &info), 0);
		ck_assert(first != TEXT_PAGES || info.kind == PAM_KIND_XCF);
	}
}

/* Pack the pages of `map` (corpus pages first + slot) in slot order. */
static unsigned char *group_pages(size_t first, unsigned map)
{
	unsigned char *pages = malloc(PAM_UNIT_PAGES * PAGE);
	unsigned k = 0;

	ck_assert_ptr_nonnull(pages);
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
		if (map & (1u << i))
			memcpy(pages + (size_t)k++ * PAGE, cpage(first + i), PAGE);
	return pages;
}

/* Repack a group as the store does: plan, then repack; the old pampds are
 * freed and replaced when a unit was made.  Returns pam_repack's result. */
static int group_repack(struct env *e, pam_pampd g[PAM_UNIT_PAGES], size_t first, unsigned codec,
			unsigned *mapp)
{
	pam_pampd out[PAM_UNIT_PAGES];
	uint64_t old_bytes = 0;
	unsigned map = pam_repack_plan(e->pam, g, codec, &old_bytes);
	unsigned char *pages;
	int rc;

	*mapp = map;
	if (!map)
		return 0;
	ck_assert_uint_gt(old_bytes, 0);
	pages = group_pages(first, map);
	rc = pam_repack(e->pam, pages, map, codec, old_bytes, out);
	free(pages);
	if (rc == 1)
		for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
			if (map & (1u << i)) {
				pam_free(e->pam, g[i]);
				g[i] = out[i];
			}
	return rc;
}

/* pam_create refuses `b` with EINVAL. */
static void check_refused(const struct pam_config *b)
{
	struct buddy *bd = buddy_create(BUDDY_DEFAULT_RESERVE);
	struct sgv_ctx *sg = sgv_ctx_create(bd);

	errno = 0;
	ck_assert_ptr_null(pam_create(b, bd, sg, NULL));
	ck_assert_int_eq(errno, EINVAL);
	sgv_ctx_destroy(sg);
	buddy_destroy(bd);
}

/* A full group of text pages put and repacked with `codec` into units of
 * `run` slots: 16 / run units, each page in the unit of its run, and every
 * page reads back right, in a random order. */
static void check_full_runs(struct env *e, pam_pampd g[PAM_UNIT_PAGES], unsigned codec,
			    unsigned run)
{
	struct pam_stats st;
	unsigned char out[PAGE];
	unsigned map;

	group_put(e, TEXT_PAGES, 0xffff, g);
	ck_assert_int_eq(group_repack(e, g, TEXT_PAGES, codec, &map), 1);
	ck_assert_uint_eq(map, 0xffff);
	pam_stats(e->pam, &st);
	ck_assert_uint_eq(st.units, PAM_UNIT_PAGES / run);
	ck_assert_uint_eq(st.unit_pages, 16);
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++) {
		struct pam_pampd_info info;

		ck_assert_int_eq(pam_pampd_info(e->pam, g[i], &info), 0);
		ck_assert_int_eq(info.kind, PAM_KIND_UNIT);
		ck_assert_uint_eq(info.map, ((1u << run) - 1) << (i / run * run));
	}
	for (unsigned k = 0; k < PAM_UNIT_PAGES; k++) {
		unsigned i = (k * 7 + 3) % PAM_UNIT_PAGES;

		ck_assert_int_eq(pam_get(e->pam, g[i], out), 0);
		ck_assert_mem_eq(out, cpage(TEXT_PAGES + i), PAGE);
	}
}

/* The end of a group test: the store checks, every page of the group
 * freed leaves no unit, the store checks again and closes. */
static void free_group_close(struct env *e, pam_pampd g[PAM_UNIT_PAGES])
{
	struct pam_stats st;

	ck_assert_int_eq(pam_check(e->pam), 0);
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
		pam_free(e->pam, g[i]);
	pam_stats(e->pam, &st);
	ck_assert_uint_eq(st.units, 0);
	ck_assert_int_eq(pam_check(e->pam), 0);
	env_close(e);
}

/* lz4_unit_pages = 8: an lz4 group becomes a unit per run of 8 slots (a
 * run of one page alone, a whole-group unit when runs do not pay), every
 * page reads back, the plan sees the runs as dense, zstd units still take
 * the whole group; bad values are refused. */
START_TEST(test_unit_runs)
{
	struct pam_config cfg = { .lz4_unit_pages = 8 };
	const unsigned hc = codec_make(CODEC_LZ4HC, 9);
	struct env e;
	pam_pampd g[PAM_UNIT_PAGES];
	struct pam_stats st;
	uint64_t old_bytes;
	unsigned char out[PAGE];
	unsigned map;

	corpus_load();
	for (unsigned bad = 0; bad < 3; bad++) {
		struct pam_config b = { .lz4_unit_pages = bad == 0 ? 3 : bad == 1 ? 32 : 1 };

		check_refused(&b);
	}
	env_open(&e, &cfg);
	/* A full group: two units of 8. */
	check_full_runs(&e, g, hc, 8);
	/* Dense for lz4 types; zstd would take the whole group. */
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, CODEC_DEFAULT, &old_bytes), 0);
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, hc, &old_bytes), 0);
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, codec_make(CODEC_ZSTD, 3), &old_bytes),
			  0xffff);
	/* A page dropped from the second run: the group is planned again
	 * (plans are per group) and repacked in runs of 8 and 7 ... */
	pam_free(e.pam, g[12]);
	g[12] = 0;
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, hc, &old_bytes), 0xefff);
	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, hc, &map), 1);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.units, 2);
	ck_assert_uint_eq(st.unit_pages, 15);
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, hc, &old_bytes), 0);
	/* ... zstd makes one unit of the whole group, and lz4 runs would
	 * not beat it (no gain: nothing changes) ... */
	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, codec_make(CODEC_ZSTD, 3), &map), 1);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.units, 1);
	ck_assert_uint_eq(st.unit_pages, 15);
	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, hc, &map), 0);
	ck_assert_uint_eq(map, 0xefff);
	/* ... and runs of one page are pages alone. */
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
		if (i != 0 && i != 9) {
			pam_free(e.pam, g[i]);
			g[i] = 0;
		}
	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, hc, &map), 1);
	ck_assert_uint_eq(map, 0x0201);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.units, 0);
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
		if (g[i]) {
			struct pam_pampd_info info;

			ck_assert_int_eq(pam_pampd_info(e.pam, g[i], &info), 0);
			ck_assert_int_eq(info.kind, PAM_KIND_XCF);
			ck_assert_int_eq(pam_get(e.pam, g[i], out), 0);
			ck_assert_mem_eq(out, cpage(TEXT_PAGES + i), PAGE);
		}
	free_group_close(&e, g);
}
END_TEST

/* lz4_unit_pages = 4, lz4_part_unit_pages = 8 (the daemon's,
 * tmem/stack.h): a full group becomes four units of 4, every page reads
 * back in any order, the plan sees the runs as dense; a page dropped from
 * the second run leaves a group that is not full, planned again and
 * repacked in runs of 8 (2 units, 15 pages), dense from then on; a bad
 * lz4_part_unit_pages is refused. */
START_TEST(test_unit_runs_4)
{
	struct pam_config cfg = { .lz4_unit_pages = 4, .lz4_part_unit_pages = 8 };
	struct pam_config bad = { .lz4_unit_pages = 4, .lz4_part_unit_pages = 6 };
	const unsigned hc = codec_make(CODEC_LZ4HC, 9);
	struct env e;
	pam_pampd g[PAM_UNIT_PAGES];
	struct pam_stats st;
	uint64_t old_bytes;
	unsigned char out[PAGE];
	unsigned map;

	corpus_load();
	check_refused(&bad);
	env_open(&e, &cfg);
	check_full_runs(&e, g, hc, 4);
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, hc, &old_bytes), 0);
	pam_free(e.pam, g[6]);
	g[6] = 0;
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, hc, &old_bytes), 0xffbf);
	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, hc, &map), 1);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.units, 2);
	ck_assert_uint_eq(st.unit_pages, 15);
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, hc, &old_bytes), 0);
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
		if (g[i]) {
			struct pam_pampd_info info;

			ck_assert_int_eq(pam_pampd_info(e.pam, g[i], &info), 0);
			ck_assert_uint_eq(info.map, i < 8 ? 0xbfu : 0xff00u);
			ck_assert_int_eq(pam_get(e.pam, g[i], out), 0);
			ck_assert_mem_eq(out, cpage(TEXT_PAGES + i), PAGE);
		}
	free_group_close(&e, g);
}
END_TEST

/* A unit of 16 text pages with each dense codec: every page reads back,
 * the pages' shares add up to the unit's footprint, a sequential read
 * decodes the unit once, and the unit is retired with its last page. */
START_TEST(test_unit_round_trip)
{
	const unsigned codecs[] = { CODEC_DEFAULT, codec_make(CODEC_LZ4HC, 9),
				    codec_make(CODEC_ZSTD, 3), codec_make(CODEC_ZSTD, 19) };
	struct env e;

	corpus_load();
	env_open(&e, NULL);
	for (size_t c = 0; c < sizeof(codecs) / sizeof(codecs[0]); c++) {
		pam_pampd g[PAM_UNIT_PAGES];
		struct pam_stats before, st;
		uint64_t sum = 0, id = 0;
		unsigned map;

		group_put(&e, TEXT_PAGES, 0xffff, g);
		pam_stats(e.pam, &before);
		ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, codecs[c], &map), 1);
		ck_assert_uint_eq(map, 0xffff);
		ck_assert_int_eq(pam_check(e.pam), 0);
		pam_stats(e.pam, &st);
		ck_assert_uint_eq(st.units, 1);
		ck_assert_uint_eq(st.unit_pages, 16);
		ck_assert_uint_eq(st.compressed_pages, 0);
		ck_assert_uint_eq(st.pages, 16);
		ck_assert_uint_eq(st.units_made, before.units_made + 1);
		ck_assert_uint_lt(st.unit_mem_bytes, before.xcf_used_bytes);
		for (unsigned i = 0; i < PAM_UNIT_PAGES; i++) {
			struct pam_pampd_info info;

			ck_assert_int_eq(pam_pampd_info(e.pam, g[i], &info), 0);
			ck_assert_int_eq(info.kind, PAM_KIND_UNIT);
			ck_assert_uint_eq(info.slot, i);
			ck_assert_uint_eq(info.map, 0xffff);
			ck_assert_uint_eq(info.codec_type, codec_decode_type(codecs[c]));
			ck_assert_uint_eq(info.size, st.unit_bytes);
			if (i == 0)
				id = info.unit;
			ck_assert_uint_eq(info.unit, id);
			sum += pam_size(e.pam, g[i]);
		}
		ck_assert_uint_eq(sum, st.unit_mem_bytes);
		/* Read in order with a cold cache: one decode, 15 hits. */
		pam_thread_release();
		pam_stats(e.pam, &before);
		for (unsigned i = 0; i < PAM_UNIT_PAGES; i++) {
			unsigned char out[PAGE];

			ck_assert_int_eq(pam_get(e.pam, g[i], out), 0);
			ck_assert_mem_eq(out, cpage(TEXT_PAGES + i), PAGE);
		}
		pam_stats(e.pam, &st);
		ck_assert_uint_eq(st.unit_decodes - before.unit_decodes, 1);
		ck_assert_uint_eq(st.unit_cache_hits - before.unit_cache_hits, 15);
		/* Pages leave one by one; the unit stays whole until the last. */
		for (unsigned i = 0; i < PAM_UNIT_PAGES; i++) {
			unsigned char out[PAGE];

			pam_free(e.pam, g[i]);
			pam_stats(e.pam, &st);
			ck_assert_uint_eq(st.unit_pages, 15 - i);
			ck_assert_uint_eq(st.units, i < 15 ? 1 : 0);
			ck_assert_uint_eq(st.unit_dead_pages, i < 15 ? i + 1 : 0);
			ck_assert_int_eq(pam_check(e.pam), 0);
			if (i < 15) {
				ck_assert_int_eq(pam_get(e.pam, g[15], out), 0);
				ck_assert_mem_eq(out, cpage(TEXT_PAGES + 15), PAGE);
			}
		}
		pam_stats(e.pam, &st);
		ck_assert_uint_eq(st.xcf_used_bytes, 0);
		ck_assert_uint_eq(st.unit_mem_bytes, 0);
		ck_assert_uint_eq(st.unit_bytes, 0);
	}
	env_close(&e);
	pam_thread_release();
}
END_TEST

/* What the plan chooses: compressed and unit pages only; nothing for a
 * whole unit of the same decode type; a unit with a dead slot counted
 * whole. */
START_TEST(test_unit_plan)
{
	struct env e;
	pam_pampd g[PAM_UNIT_PAGES], out[PAM_UNIT_PAGES];
	unsigned char page[PAGE];
	uint64_t old_bytes, want = 0, seed = 5;
	struct pam_stats st;
	unsigned map;

	corpus_load();
	env_open(&e, NULL);
	/* Slots 0-1 holes, 2 zero, 3 same-filled, 4 raw, 5..15 text. */
	group_put(&e, TEXT_PAGES, 0xffe0, g);
	memset(page, 0, PAGE);
	ck_assert_int_eq(pam_put(e.pam, page, CODEC_DEFAULT, &g[2]), 0);
	fill_words(page, 0x4141414141414141ull);
	ck_assert_int_eq(pam_put(e.pam, page, CODEC_DEFAULT, &g[3]), 0);
	for (size_t i = 0; i < PAGE; i++)
		page[i] = (unsigned char)zc_rand(&seed);
	ck_assert_int_eq(pam_put(e.pam, page, CODEC_DEFAULT, &g[4]), 0);
	for (unsigned i = 5; i < PAM_UNIT_PAGES; i++)
		want += pam_size(e.pam, g[i]);
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, CODEC_DEFAULT, &old_bytes), 0xffe0);
	ck_assert_uint_eq(old_bytes, want);
	/* none and bad codecs plan nothing. */
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, codec_make(CODEC_NONE, 0), &old_bytes), 0);
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, codec_make(CODEC_ZSTD, 40), &old_bytes), 0);

	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, codec_make(CODEC_LZ4HC, 9), &map), 1);
	ck_assert_uint_eq(map, 0xffe0);
	/* Dense already (lz4 type): nothing; zstd: all of it, counted whole. */
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, CODEC_DEFAULT, &old_bytes), 0);
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, codec_make(CODEC_LZ4HC, 4), &old_bytes), 0);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, codec_make(CODEC_ZSTD, 3), &old_bytes), 0xffe0);
	ck_assert_uint_eq(old_bytes, st.unit_mem_bytes);
	/* A dead slot: the survivors are chosen, the unit still counted whole. */
	pam_free(e.pam, g[9]);
	g[9] = 0;
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, CODEC_DEFAULT, &old_bytes), 0xfde0);
	ck_assert_uint_eq(old_bytes, st.unit_mem_bytes);
	/* A page put alone beside the unit: both chosen. */
	ck_assert_int_eq(pam_put(e.pam, cpage(TEXT_PAGES + 9), CODEC_DEFAULT, &g[9]), 0);
	ck_assert_uint_eq(pam_repack_plan(e.pam, g, CODEC_DEFAULT, &old_bytes), 0xffe0);
	ck_assert_uint_eq(old_bytes, st.unit_mem_bytes + pam_size(e.pam, g[9]));
	/* Repacking it again retires the old unit (its last pages go). */
	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, codec_make(CODEC_LZ4HC, 9), &map), 1);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.units, 1);
	ck_assert_uint_eq(st.unit_dead_pages, 0);
	ck_assert_int_eq(pam_check(e.pam), 0);

	/* pam_repack's argument checks and "no gain". */
	{
		unsigned char *pages = group_pages(TEXT_PAGES, 0x3);

		ck_assert_int_eq(pam_repack(e.pam, pages, 0, CODEC_DEFAULT, 1u << 20, out), -EINVAL);
		ck_assert_int_eq(pam_repack(e.pam, pages, 0x10000, CODEC_DEFAULT, 1u << 20, out),
				 -EINVAL);
		ck_assert_int_eq(pam_repack(e.pam, pages, 0x3, codec_make(CODEC_NONE, 0), 1u << 20,
					    out), -EINVAL);
		ck_assert_int_eq(pam_repack(e.pam, pages, 0x3, codec_make(CODEC_ZSTD, 40), 1u << 20,
					    out), -EINVAL);
		ck_assert_int_eq(pam_repack(e.pam, pages, 0x3, CODEC_DEFAULT, 100, out), 0);
		ck_assert_int_eq(pam_repack(e.pam, pages, 0x1, CODEC_DEFAULT, 100, out), 0);
		pam_stats(e.pam, &st);
		ck_assert_uint_eq(st.repack_no_gain, 2);
		ck_assert_uint_eq(st.units, 1);
		free(pages);
	}
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
		pam_free(e.pam, g[i]);
	env_close(&e);
	pam_thread_release();
}
END_TEST

/* One page alone is recompressed with the dense codec when that saves. */
START_TEST(test_unit_single_page)
{
	struct env e;
	pam_pampd g[PAM_UNIT_PAGES];
	struct pam_pampd_info info;
	struct pam_stats st;
	unsigned char out[PAGE];
	unsigned map;

	corpus_load();
	env_open(&e, NULL);
	group_put(&e, TEXT_PAGES, 0x10, g);
	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, codec_make(CODEC_ZSTD, 19), &map), 1);
	ck_assert_uint_eq(map, 0x10);
	ck_assert_int_eq(pam_pampd_info(e.pam, g[4], &info), 0);
	ck_assert_int_eq(info.kind, PAM_KIND_XCF);
	ck_assert_uint_eq(info.codec_type, CODEC_ZSTD);
	ck_assert_int_eq(pam_get(e.pam, g[4], out), 0);
	ck_assert_mem_eq(out, cpage(TEXT_PAGES + 4), PAGE);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.repacked_pages, 1);
	ck_assert_uint_eq(st.units, 0);
	ck_assert_int_eq(pam_check(e.pam), 0);
	pam_free(e.pam, g[4]);
	env_close(&e);
}
END_TEST

/* A reader between get_locked and decode holds the unit: every page may
 * go meanwhile, the read still succeeds, and the reader retires it. */
START_TEST(test_unit_reader_reference)
{
	struct env e;
	pam_pampd g[PAM_UNIT_PAGES];
	unsigned char out[PAGE], scratch[PAGE];
	struct pam_stats st;
	size_t len = 0;
	unsigned map;

	corpus_load();
	env_open(&e, NULL);
	group_put(&e, TEXT_PAGES, 0xff00, g);
	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, CODEC_DEFAULT, &map), 1);
	pam_thread_release();	/* a cold cache: get_locked must pin */
	ck_assert_int_eq(pam_get_locked(e.pam, g[12], out, scratch, &len), 0);
	ck_assert_uint_eq(len, sizeof(void *));
	for (unsigned i = 8; i < PAM_UNIT_PAGES; i++)
		pam_free(e.pam, g[i]);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.units, 1);
	ck_assert_uint_eq(st.unit_pages, 0);
	ck_assert_uint_eq(st.unit_dead_pages, 8);
	ck_assert_int_eq(pam_check(e.pam), 0);
	ck_assert_int_eq(pam_decode(e.pam, g[12], scratch, len, out), 0);
	ck_assert_mem_eq(out, cpage(TEXT_PAGES + 12), PAGE);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.units, 0);
	ck_assert_uint_eq(st.unit_dead_pages, 0);
	ck_assert_uint_eq(st.xcf_used_bytes, 0);
	env_close(&e);
	pam_thread_release();
}
END_TEST

/* lz4 units met first in the middle decode a prefix; zstd units whole. */
START_TEST(test_unit_partial_decode)
{
	struct env e;
	pam_pampd g[PAM_UNIT_PAGES];
	struct pam_stats a, b;
	unsigned char out[PAGE];
	unsigned map;

	corpus_load();
	env_open(&e, NULL);
	group_put(&e, TEXT_PAGES, 0xffff, g);
	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, codec_make(CODEC_LZ4HC, 9), &map), 1);
	pam_thread_release();
	pam_stats(e.pam, &a);
	ck_assert_int_eq(pam_get(e.pam, g[3], out), 0);
	ck_assert_mem_eq(out, cpage(TEXT_PAGES + 3), PAGE);
	pam_stats(e.pam, &b);
	ck_assert_uint_eq(b.unit_decodes - a.unit_decodes, 1);
	ck_assert_uint_eq(b.unit_partial_decodes - a.unit_partial_decodes, 1);
	/* Going on reads the rest with at most one more decode, whole. */
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++) {
		ck_assert_int_eq(pam_get(e.pam, g[i], out), 0);
		ck_assert_mem_eq(out, cpage(TEXT_PAGES + i), PAGE);
	}
	pam_stats(e.pam, &b);
	ck_assert_uint_le(b.unit_decodes - a.unit_decodes, 2);
	ck_assert_uint_eq(b.unit_partial_decodes - a.unit_partial_decodes, 1);
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
		pam_free(e.pam, g[i]);

	group_put(&e, TEXT_PAGES, 0xffff, g);
	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, codec_make(CODEC_ZSTD, 3), &map), 1);
	pam_thread_release();
	pam_stats(e.pam, &a);
	ck_assert_int_eq(pam_get(e.pam, g[9], out), 0);
	ck_assert_mem_eq(out, cpage(TEXT_PAGES + 9), PAGE);
	ck_assert_int_eq(pam_get(e.pam, g[15], out), 0);
	pam_stats(e.pam, &b);
	ck_assert_uint_eq(b.unit_decodes - a.unit_decodes, 1);
	ck_assert_uint_eq(b.unit_partial_decodes, a.unit_partial_decodes);
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
		pam_free(e.pam, g[i]);
	env_close(&e);
	pam_thread_release();
}
END_TEST

/* A thread that jumps about (its last unit page was not its unit's last)
 * decodes only a prefix of a unit met at page 0; one that read a unit
 * through to its end (a sequential reader) decodes the next one whole. */
START_TEST(test_unit_first_page_random)
{
	struct env e;
	pam_pampd a[PAM_UNIT_PAGES], b[PAM_UNIT_PAGES], c[PAM_UNIT_PAGES];
	struct pam_stats s0, s1;
	unsigned char out[PAGE];
	unsigned map;

	corpus_load();
	env_open(&e, NULL);
	group_put(&e, TEXT_PAGES, 0xffff, a);
	group_put(&e, TEXT_PAGES + 16, 0xffff, b);
	group_put(&e, TEXT_PAGES + 32, 0xffff, c);
	ck_assert_int_eq(group_repack(&e, a, TEXT_PAGES, codec_make(CODEC_LZ4HC, 9), &map), 1);
	ck_assert_int_eq(group_repack(&e, b, TEXT_PAGES + 16, codec_make(CODEC_LZ4HC, 9), &map), 1);
	ck_assert_int_eq(group_repack(&e, c, TEXT_PAGES + 32, codec_make(CODEC_LZ4HC, 9), &map), 1);
	pam_thread_release();
	pam_stats(e.pam, &s0);
	ck_assert_int_eq(pam_get(e.pam, a[5], out), 0);	/* mid-unit: a prefix */
	ck_assert_mem_eq(out, cpage(TEXT_PAGES + 5), PAGE);
	ck_assert_int_eq(pam_get(e.pam, b[0], out), 0);	/* after a jump: page 0 alone */
	ck_assert_mem_eq(out, cpage(TEXT_PAGES + 16), PAGE);
	pam_stats(e.pam, &s1);
	ck_assert_uint_eq(s1.unit_decodes - s0.unit_decodes, 2);
	ck_assert_uint_eq(s1.unit_partial_decodes - s0.unit_partial_decodes, 2);
	/* b read on to its end (one more decode, whole), then c from page 0:
	 * a sequential reader, c decoded whole at once. */
	for (unsigned i = 1; i < PAM_UNIT_PAGES; i++) {
		ck_assert_int_eq(pam_get(e.pam, b[i], out), 0);
		ck_assert_mem_eq(out, cpage(TEXT_PAGES + 16 + i), PAGE);
	}
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++) {
		ck_assert_int_eq(pam_get(e.pam, c[i], out), 0);
		ck_assert_mem_eq(out, cpage(TEXT_PAGES + 32 + i), PAGE);
	}
	pam_stats(e.pam, &s1);
	ck_assert_uint_eq(s1.unit_decodes - s0.unit_decodes, 4);
	ck_assert_uint_eq(s1.unit_partial_decodes - s0.unit_partial_decodes, 2);
	ck_assert_uint_eq(s1.unit_cache_hits - s0.unit_cache_hits, 14 + 15);
	for (unsigned i = 0; i < PAM_UNIT_PAGES; i++) {
		pam_free(e.pam, a[i]);
		pam_free(e.pam, b[i]);
		pam_free(e.pam, c[i]);
	}
	env_close(&e);
	pam_thread_release();
}
END_TEST

/* A prefix decode copies out only the first chunks of a unit; when the
 * page asked for lies beyond them (here: two pages of random bytes that
 * fill more than the first chunk, then pages that compress to almost
 * nothing, so the proportional guess falls short) it copies the rest and
 * decodes again.  Every page reads back exactly either way. */
START_TEST(test_unit_short_copy)
{
	struct env e;
	pam_pampd g[PAM_UNIT_PAGES], h[PAM_UNIT_PAGES], out[PAM_UNIT_PAGES];
	unsigned char *pages = malloc(PAM_UNIT_PAGES * PAGE), got[PAGE];
	struct pam_stats s0, s1;
	struct pam_pampd_info info;
	uint64_t old_bytes = 0, x = 0x9e3779b97f4a7c15ull;
	unsigned map;

	ck_assert_ptr_nonnull(pages);
	corpus_load();
	memset(pages, 0, PAM_UNIT_PAGES * PAGE);
	for (unsigned p = 0; p < PAM_UNIT_PAGES; p++) {
		unsigned char *pg = pages + (size_t)p * PAGE;

		if (p < 2) {	/* half random: compresses alone, not in a unit */
			for (unsigned i = 0; i < PAGE / 2; i++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				pg[i] = (unsigned char)x;
			}
		} else {	/* a counter and a pattern: tiny, not same-filled */
			for (unsigned i = 0; i < PAGE; i += 16)
				memcpy(pg + i, "zcached-unit-pg", 15);
			pg[0] = (unsigned char)p;
		}
	}
	env_open(&e, NULL);
	for (unsigned p = 0; p < PAM_UNIT_PAGES; p++) {
		ck_assert_int_eq(pam_put(e.pam, pages + (size_t)p * PAGE, CODEC_DEFAULT, &g[p]), 0);
		ck_assert_int_eq(pam_pampd_info(e.pam, g[p], &info), 0);
		ck_assert_int_eq(info.kind, PAM_KIND_XCF);
	}
	map = pam_repack_plan(e.pam, g, CODEC_DEFAULT, &old_bytes);
	ck_assert_uint_eq(map, 0xffff);
	ck_assert_int_eq(pam_repack(e.pam, pages, map, CODEC_DEFAULT, old_bytes, out), 1);
	for (unsigned p = 0; p < PAM_UNIT_PAGES; p++) {
		pam_free(e.pam, g[p]);
		g[p] = out[p];
	}
	ck_assert_int_eq(pam_pampd_info(e.pam, g[1], &info), 0);
	ck_assert_int_eq(info.kind, PAM_KIND_UNIT);
	ck_assert_uint_gt(info.size, XCF_MAX_SIZE);	/* two chunks at least */
	/* Page 1 met first: a prefix, from chunk 0 alone, falls short. */
	pam_thread_release();
	pam_stats(e.pam, &s0);
	ck_assert_int_eq(pam_get(e.pam, g[1], got), 0);
	ck_assert_mem_eq(got, pages + PAGE, PAGE);
	pam_stats(e.pam, &s1);
	ck_assert_uint_eq(s1.unit_partial_decodes - s0.unit_partial_decodes, 1);
	ck_assert_uint_eq(s1.unit_short_copies - s0.unit_short_copies, 1);
	/* Every page, met first by a thread that just jumped about in
	 * another unit: a prefix decode each, exact bytes. */
	group_put(&e, TEXT_PAGES, 0xffff, h);
	ck_assert_int_eq(group_repack(&e, h, TEXT_PAGES, CODEC_DEFAULT, &map), 1);
	for (unsigned p = 0; p < PAM_UNIT_PAGES; p++) {
		pam_thread_release();
		ck_assert_int_eq(pam_get(e.pam, h[5], got), 0);
		ck_assert_mem_eq(got, cpage(TEXT_PAGES + 5), PAGE);
		pam_stats(e.pam, &s0);
		ck_assert_int_eq(pam_get(e.pam, g[p], got), 0);
		ck_assert_mem_eq(got, pages + (size_t)p * PAGE, PAGE);
		pam_stats(e.pam, &s1);
		ck_assert_uint_eq(s1.unit_partial_decodes - s0.unit_partial_decodes,
				  p < PAM_UNIT_PAGES - 1 ? 1 : 0);
	}
	for (unsigned p = 0; p < PAM_UNIT_PAGES; p++)
		pam_free(e.pam, h[p]);
	ck_assert_int_eq(pam_check(e.pam), 0);
	for (unsigned p = 0; p < PAM_UNIT_PAGES; p++)
		pam_free(e.pam, g[p]);
	free(pages);
	env_close(&e);
	pam_thread_release();
}
END_TEST

/* Corrupt unit pampds: bad check bits, a slot outside the map. */
START_TEST(test_unit_corrupt)
{
	struct env e;
	pam_pampd g[PAM_UNIT_PAGES], bad[3];
	unsigned char out[PAGE], scratch[PAGE];
	struct pam_pampd_info info;
	size_t len;
	unsigned map;

	corpus_load();
	env_open(&e, NULL);
	group_put(&e, TEXT_PAGES, 0x00f0, g);
	ck_assert_int_eq(group_repack(&e, g, TEXT_PAGES, CODEC_DEFAULT, &map), 1);
	bad[0] = g[4] ^ (1ull << 9);			/* check bits */
	bad[1] = (g[4] & ~(0xfull << 4)) | (2ull << 4);	/* slot 2: not in the map */
	bad[2] = g[4] & 0x3ffff;			/* address 0 */
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(pam_pampd_info(e.pam, bad[i], &info), -EIO);
		ck_assert_int_eq(pam_get_locked(e.pam, bad[i], out, scratch, &len), -EIO);
		ck_assert_uint_eq(pam_size(e.pam, bad[i]), 0);
		pam_free(e.pam, bad[i]);
	}
	/* decode refuses a reference to another unit than p's, and still
	 * drops the reference it was given. */
	pam_thread_release();
	ck_assert_int_eq(pam_get_locked(e.pam, g[5], out, scratch, &len), 0);
	ck_assert_int_eq(pam_decode(e.pam, g[5], scratch, len - 1, out), -EIO);
	ck_assert_int_eq(pam_get_locked(e.pam, g[5], out, scratch, &len), 0);
	ck_assert_int_eq(pam_decode(e.pam, g[5], scratch, len, out), 0);
	ck_assert_mem_eq(out, cpage(TEXT_PAGES + 5), PAGE);
	for (unsigned i = 4; i < 8; i++)
		pam_free(e.pam, g[i]);
	/* The -EIO of len - 1 kept its reference (a caller's error): the
	 * unit outlives its pages, counted. */
	{
		struct pam_stats st;

		pam_stats(e.pam, &st);
		ck_assert_uint_eq(st.unit_pages, 0);
		ck_assert_uint_eq(st.bad_frees, 3);
	}
	pam_destroy(e.pam);
	e.pam = pam_create(NULL, e.b, e.sgv, NULL);
	ck_assert_ptr_nonnull(e.pam);
	env_close(&e);
	pam_thread_release();
}
END_TEST

/* Many units beside single pages in one pool; half of everything freed,
 * compaction moves unit chunks like any object; all still reads back. */
START_TEST(test_unit_compaction)
{
	enum { GROUPS = 96 };
	struct pam_config cfg = { .pools = 1 };
	pam_pampd (*g)[PAM_UNIT_PAGES] = calloc(GROUPS, sizeof(*g));
	struct env e;
	struct pam_stats st;
	uint64_t seed = zc_test_seed();
	size_t first[GROUPS];

	ck_assert_ptr_nonnull(g);
	corpus_load();
	env_open(&e, &cfg);
	for (size_t k = 0; k < GROUPS; k++) {
		unsigned map;

		first[k] = (k % 3 == 0 ? TEXT_PAGES : k % 3 == 1 ? 128 : 1600) + (k * 5) % 48;
		group_put(&e, first[k], 0xffff, g[k]);
		if (k % 2 == 0)
			(void)group_repack(&e, g[k], first[k],
					   k % 4 ? CODEC_DEFAULT : codec_make(CODEC_ZSTD, 3), &map);
	}
	pam_stats(e.pam, &st);
	ck_assert_uint_gt(st.units, GROUPS / 4);
	for (size_t k = 0; k < GROUPS; k++)
		for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
			if (zc_rand_below(&seed, 2) || k % 5 == 0) {
				pam_free(e.pam, g[k][i]);
				g[k][i] = 0;
			}
	ck_assert_int_eq(pam_check(e.pam), 0);
	(void)pam_compact(e.pam, 0);
	ck_assert_int_eq(pam_check(e.pam), 0);
	pam_thread_release();
	for (size_t k = 0; k < GROUPS; k++)
		for (unsigned i = 0; i < PAM_UNIT_PAGES; i++) {
			unsigned char out[PAGE];

			if (!g[k][i])
				continue;
			ck_assert_int_eq(pam_get(e.pam, g[k][i], out), 0);
			ck_assert_mem_eq(out, cpage(first[k] + i), PAGE);
			pam_free(e.pam, g[k][i]);
		}
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.units, 0);
	ck_assert_uint_eq(st.xcf_used_bytes, 0);
	free(g);
	env_close(&e);
	pam_thread_release();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Randomized model test: slots hold (pampd, the page it must read back as);
 * every page carries a unique stamp so a mix-up between two objects shows.
 * Ops: put (replace), get + verify, free, codec change; pam_check after
 * every batch. */

struct model_slot {
	pam_pampd p;
	uint64_t stamp;		/* unique per put (but a byte fill repeats) */
	uint32_t src;		/* corpus page */
	uint8_t used;
	uint8_t kind;		/* 0 corpus, 1 fill, 2 random */
	uint8_t pos;		/* stamp position (word index / 8) */
};

static void model_page(const struct model_slot *m, unsigned char *page)
{
	if (m->kind == 1) {
		fill_words(page, m->stamp);
		return;
	}
	if (m->kind == 2) {
		uint64_t s = m->stamp;

		for (size_t i = 0; i < PAGE; i += 8) {
			uint64_t v = zc_rand(&s);

			memcpy(page + i, &v, 8);
		}
		return;
	}
	memcpy(page, cpage(m->src), PAGE);
	memcpy(page + (size_t)m->pos * 8 * 8, &m->stamp, 8);
}

static void model_verify(struct env *e, const struct model_slot *m)
{
	unsigned char want[PAGE], got[PAGE];

	model_page(m, want);
	ck_assert_int_eq(pam_get(e->pam, m->p, got), 0);
	ck_assert_msg(memcmp(want, got, PAGE) == 0, "page with stamp %llx differs",
		      (unsigned long long)m->stamp);
}

START_TEST(test_model)
{
	enum { SLOTS = 512, OPS = 60000, BATCH = 500 };
	const unsigned codecs[] = { CODEC_DEFAULT, CODEC_DEFAULT, codec_make(CODEC_LZ4, 5),
				    codec_make(CODEC_ZSTD, 1), codec_make(CODEC_ZSTD, -2),
				    codec_make(CODEC_NONE, 0) };
	struct pam_config cfg = { .pools = 3 };
	struct model_slot *m = calloc(SLOTS, sizeof(*m));
	struct env e;
	uint64_t seed = zc_test_seed(), stamp = 1;
	unsigned codec = CODEC_DEFAULT;
	size_t live = 0;
	struct pam_stats st;

	ck_assert_ptr_nonnull(m);
	corpus_load();
	env_open(&e, &cfg);
	for (int op = 0; op < OPS; op++) {
		struct model_slot *s = &m[zc_rand_below(&seed, SLOTS)];
		unsigned r = (unsigned)zc_rand_below(&seed, 100);

		if (r < 45) {
			/* put (replacing what is there) */
			struct model_slot n = { .stamp = stamp++, .used = 1 };
			unsigned char page[PAGE];
			unsigned k = (unsigned)zc_rand_below(&seed, 10);

			n.kind = k < 7 ? 0 : k < 9 ? 1 : 2;
			if (n.kind == 1 && zc_rand_below(&seed, 2))
				n.stamp = (n.stamp & 0xff) * 0x0101010101010101ull;
			n.src = (uint32_t)zc_rand_below(&seed, corpus_pages);
			n.pos = (uint8_t)zc_rand_below(&seed, 64);
			model_page(&n, page);
			ck_assert_int_eq(pam_put(e.pam, page, codec, &n.p), 0);
			if (s->used) {
				model_verify(&e, s);
				pam_free(e.pam, s->p);
			} else {
				live++;
			}
			*s = n;
		} else if (r < 80) {
			if (s->used)
				model_verify(&e, s);
		} else if (r < 95) {
			if (s->used) {
				model_verify(&e, s);
				pam_free(e.pam, s->p);
				s->used = 0;
				live--;
			}
		} else if (r < 98) {
			/* Repack the group of 16 slots around s. */
			const unsigned dense[] = { CODEC_DEFAULT,
						   codec_make(CODEC_LZ4HC, 9),
						   codec_make(CODEC_ZSTD, 3) };
			struct model_slot *g = &m[(size_t)(s - m) & ~(size_t)15];
			unsigned dc = dense[zc_rand_below(&seed, 3)];
			pam_pampd old[PAM_UNIT_PAGES], out[PAM_UNIT_PAGES];
			unsigned char *pages = malloc(PAM_UNIT_PAGES * PAGE);
			uint64_t old_bytes;
			unsigned map, k = 0;

			ck_assert_ptr_nonnull(pages);
			for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
				old[i] = g[i].used ? g[i].p : 0;
			map = pam_repack_plan(e.pam, old, dc, &old_bytes);
			for (unsigned i = 0; i < PAM_UNIT_PAGES; i++)
				if (map & (1u << i))
					model_page(&g[i], pages + (size_t)k++ * PAGE);
			if (map && pam_repack(e.pam, pages, map, dc, old_bytes, out) == 1) {
				for (unsigned i = 0; i < PAM_UNIT_PAGES; i++) {
					if (!(map & (1u << i)))
						continue;
					pam_free(e.pam, g[i].p);
					g[i].p = out[i];
					model_verify(&e, &g[i]);
				}
			}
			free(pages);
		} else {
			codec = codecs[zc_rand_below(&seed, sizeof(codecs) / sizeof(codecs[0]))];
		}
		if (op % BATCH == BATCH - 1) {
			ck_assert_int_eq(pam_check(e.pam), 0);
			pam_stats(e.pam, &st);
			ck_assert_uint_eq(st.pages, live);
		}
		if (op % 20000 == 19999)
			(void)pam_compact(e.pam, 0);
	}
	for (size_t i = 0; i < SLOTS; i++)
		if (m[i].used) {
			model_verify(&e, &m[i]);
			pam_free(e.pam, m[i].p);
		}
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.pages, 0);
	ck_assert_uint_gt(st.units_made, 0);
	ck_assert_uint_eq(st.units, 0);
	ck_assert_uint_eq(st.unit_dead_pages, 0);
	free(m);
	env_close(&e);
	pam_thread_release();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Threads: each thread puts, reads and frees its own pages, and frees pages
 * handed over by its neighbour (a free in another slot than the put). */

struct stress {
	struct env *e;
	uint64_t seed;
	int id;
	int failures;
	pam_pampd handoff[64];		/* written by this thread before the barrier */
	uint32_t handoff_src[64];
};

static pthread_barrier_t stress_barrier;
static struct stress stress_workers[4];

static void *stress_main(void *arg)
{
	struct stress *w = arg;
	enum { N = 128 };
	pam_pampd p[N] = { 0 };
	uint32_t src[N];
	const unsigned codecs[] = { CODEC_DEFAULT, codec_make(CODEC_ZSTD, 1) };

	for (int op = 0; op < 6000; op++) {
		size_t i = (size_t)zc_rand_below(&w->seed, N);
		unsigned char out[PAGE];

		if (p[i]) {
			if (pam_get(w->e->pam, p[i], out) != 0 ||
			    memcmp(out, cpage(src[i]), PAGE) != 0)
				w->failures++;
			if (zc_rand_below(&w->seed, 2)) {
				pam_free(w->e->pam, p[i]);
				p[i] = 0;
			}
		} else {
			src[i] = (uint32_t)zc_rand_below(&w->seed, corpus_pages);
			if (pam_put(w->e->pam, cpage(src[i]), codecs[op & 1], &p[i]) != 0)
				w->failures++;
		}
	}
	for (int i = 0; i < 64; i++) {
		w->handoff_src[i] = (uint32_t)(w->id * 1000 + i * 7);
		if (pam_put(w->e->pam, cpage(w->handoff_src[i]), CODEC_DEFAULT, &w->handoff[i]))
			w->failures++;
	}
	pthread_barrier_wait(&stress_barrier);
	{
		struct stress *o = &stress_workers[(w->id + 1) % 4];

		for (int i = 0; i < 64; i++) {
			unsigned char out[PAGE];

			if (pam_get(w->e->pam, o->handoff[i], out) != 0 ||
			    memcmp(out, cpage(o->handoff_src[i]), PAGE) != 0)
				w->failures++;
			pam_free(w->e->pam, o->handoff[i]);
		}
	}
	for (int i = 0; i < N; i++)
		if (p[i])
			pam_free(w->e->pam, p[i]);
	codec_thread_release();
	return NULL;
}

START_TEST(test_threads)
{
	struct pam_config cfg = { .pools = 2 };	/* fewer pools than threads: slots are shared */
	struct env e;
	pthread_t th[4];
	uint64_t seed = zc_test_seed();
	struct pam_stats st;

	corpus_load();
	env_open(&e, &cfg);
	ck_assert_int_eq(pthread_barrier_init(&stress_barrier, NULL, 4), 0);
	for (int t = 0; t < 4; t++) {
		stress_workers[t] = (struct stress){ .e = &e, .seed = zc_rand(&seed), .id = t };
		ck_assert_int_eq(pthread_create(&th[t], NULL, stress_main, &stress_workers[t]), 0);
	}
	for (int t = 0; t < 4; t++) {
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
		ck_assert_int_eq(stress_workers[t].failures, 0);
	}
	pthread_barrier_destroy(&stress_barrier);
	ck_assert_int_eq(pam_check(e.pam), 0);
	pam_stats(e.pam, &st);
	ck_assert_uint_eq(st.pages, 0);
	ck_assert_uint_eq(st.compressed_pages, 0);
	ck_assert_uint_eq(st.compr_bytes, 0);
	ck_assert_uint_eq(st.puts, st.frees);
	env_close(&e);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("pam");
	TCase *tc = tcase_create("basic");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_create_errors);
	tcase_add_test(tc, test_same_filled);
	tcase_add_test(tc, test_codec_none);
	tcase_add_test(tc, test_codec_change);
	tcase_add_test(tc, test_bad_codec);
	tcase_add_test(tc, test_no_scratch);
	tcase_add_test(tc, test_threshold);
	suite_add_tcase(s, tc);

	tc = tcase_create("corpus");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_corpus_lz4);
	tcase_add_test(tc, test_corpus_zstd1);
	tcase_add_test(tc, test_corpus_other_codecs);
	tcase_add_test(tc, test_accounting_compact_shrink);
	suite_add_tcase(s, tc);

	tc = tcase_create("corrupt");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_corrupt_pampd);
	tcase_add_test(tc, test_corrupt_data);
	tcase_add_test(tc, test_check_catches);
	suite_add_tcase(s, tc);

	tc = tcase_create("units");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_unit_round_trip);
	tcase_add_test(tc, test_unit_runs);
	tcase_add_test(tc, test_unit_runs_4);
	tcase_add_test(tc, test_unit_plan);
	tcase_add_test(tc, test_unit_single_page);
	tcase_add_test(tc, test_unit_reader_reference);
	tcase_add_test(tc, test_unit_partial_decode);
	tcase_add_test(tc, test_unit_first_page_random);
	tcase_add_test(tc, test_unit_short_copy);
	tcase_add_test(tc, test_unit_corrupt);
	tcase_add_test(tc, test_unit_compaction);
	suite_add_tcase(s, tc);

	tc = tcase_create("model");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_model);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
