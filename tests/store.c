/* tests/store.c - tmem over the real PAM backend (compress/pam, through
 * tmem/stack.h's zc_stack_pamops): the model test and the threaded stress
 * test of tmem_model.h, the corpus stored and read back through the
 * slab-backed hostops, and the store's accounting.  The pieces are wired by
 * hand here, on purpose: the model tests inject failures through their own
 * hostops, and the slab host is checked between the store's teardown and
 * its own (tests/stack.c tests the stack the daemon builds).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "alloc/slab.h"
#include "compress/codec.h"
#include "compress/pam.h"
#include "testutil.h"
#include "tmem/stack.h"
#include "tmem/tmem.h"
#include "tmem_model.h"

struct env {
	struct buddy *b;
	struct sgv_ctx *sgv;
	struct pam *pam;
};

static void env_open(struct env *e, unsigned pools)
{
	struct pam_config cfg = { .pools = pools };
	e->b = buddy_create(BUDDY_DEFAULT_RESERVE);
	ck_assert_ptr_nonnull(e->b);
	e->sgv = sgv_ctx_create(e->b);
	ck_assert_ptr_nonnull(e->sgv);
	e->pam = pam_create(&cfg, e->b, e->sgv, NULL);
	ck_assert_ptr_nonnull(e->pam);
}

static void env_close(struct env *e)
{
	ck_assert_int_eq(pam_check(e->pam), 0);
	pam_destroy(e->pam);
	sgv_ctx_destroy(e->sgv);
	ck_assert_int_eq(buddy_check(e->b), 0);
	buddy_destroy(e->b);
	codec_thread_release();
}

static long pam_live(void *ctx)
{
	struct pam_stats st;
	pam_stats(ctx, &st);
	return (long)st.pages;
}

static struct tm_backend pam_backend(struct env *e, unsigned *codecs)
{
	codecs[0] = codec_make(CODEC_LZ4, 1);
	codecs[1] = codec_make(CODEC_LZ4, 8);
	codecs[2] = codec_make(CODEC_ZSTD, 1);
	codecs[3] = codec_make(CODEC_ZSTD, 3);
	codecs[4] = codec_make(CODEC_NONE, 0);
	codecs[5] = codec_make(CODEC_LZ4HC, 9);
	codecs[6] = codec_make(CODEC_ZSTD, 3);
	codecs[7] = CODEC_DEFAULT;
	struct tm_backend be = {
		.name = "pam",
		.ops = &zc_stack_pamops,
		.ctx = e->pam,
		.codecs = codecs,
		.ncodecs = 5,
		.set_fail = NULL,
		.live = pam_live,
		.dense = codecs + 5,
		.ndense = 3,
	};
	return be;
}

START_TEST(test_model_pam)
{
	struct env e;
	unsigned codecs[8];
	env_open(&e, 2);
	struct tm_backend be = pam_backend(&e, codecs);
	tm_run_model(&be, zc_test_seed(), 200000, 0);
	env_close(&e);
}
END_TEST

START_TEST(test_model_pam_failures)
{
	struct env e;
	unsigned codecs[8];
	env_open(&e, 2);
	struct tm_backend be = pam_backend(&e, codecs);
	tm_run_model(&be, zc_test_seed() + 3, 60000, 20);
	env_close(&e);
}
END_TEST

START_TEST(test_stress_pam)
{
	struct env e;
	unsigned codecs[8];
	env_open(&e, 4);
	struct tm_backend be = pam_backend(&e, codecs);
	tm_run_stress(&be, zc_test_seed(), 4, 25000);
	env_close(&e);
}
END_TEST

/* The whole page corpus through tmem with slab hostops: one object per
 * 256 pages (1 MiB files), read back exactly; the accounting holds. */
START_TEST(test_corpus_slab_host)
{
	size_t len;
	unsigned char *img = zc_load_file(zc_corpus_path("pages.img"), &len);
	size_t npages = len / TMEM_PAGE_SIZE;
	ck_assert_uint_gt(npages, 0);
	struct env e;
	env_open(&e, 2);
	struct tmem_slab_host *h = tmem_slab_host_create(e.b);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(tmem_slab_host_cache(h, 0));
	ck_assert_ptr_nonnull(tmem_slab_host_cache(h, 1));
	ck_assert_ptr_null(tmem_slab_host_cache(h, 2));
	struct tmem_store *s = tmem_store_create(&zc_stack_pamops, e.pam, &tmem_slab_hostops, h);
	ck_assert_ptr_nonnull(s);
	int p = tmem_new_pool(s, TMEM_POOL_PERSISTENT);
	ck_assert_int_ge(p, 0);

	for (size_t i = 0; i < npages; i++) {
		struct tmem_oid o = { { i / 256, 1, 2 } };
		ck_assert_int_eq(tmem_put(s, p, &o, (uint32_t)(i % 256), img + i * TMEM_PAGE_SIZE), 0);
	}
	ck_assert_int_eq(tmem_check(s), 0);
	unsigned char *out = aligned_alloc(64, TMEM_PAGE_SIZE);
	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < npages; i++) {
		struct tmem_oid o = { { i / 256, 1, 2 } };
		ck_assert_int_eq(tmem_get(s, p, &o, (uint32_t)(i % 256), out, 0), 0);
		ck_assert_mem_eq(out, img + i * TMEM_PAGE_SIZE, TMEM_PAGE_SIZE);
	}
	struct tmem_pool_stats ps;
	struct pam_stats pst;
	ck_assert_int_eq(tmem_pool_stats(s, p, &ps), 0);
	pam_stats(e.pam, &pst);
	ck_assert_uint_eq(ps.pages, npages);
	ck_assert_uint_eq(pst.pages, npages);
	ck_assert_uint_eq(ps.objects, (npages + 255) / 256);
	/* tmem's metadata for 1 MiB objects is ~8.6 bytes a page: well under
	 * 1% of what the pages hold compressed. */
	ck_assert_uint_lt(ps.meta_bytes * 100, ps.pampd_bytes);
	struct slab_stats ss;
	slab_stats(tmem_slab_host_cache(h, 1), &ss);
	ck_assert_uint_eq(ss.active_objs, ps.objnodes);
	slab_stats(tmem_slab_host_cache(h, 0), &ss);
	ck_assert_uint_eq(ss.active_objs, ps.objects);

	/* Truncate every object to half, flush a few whole, check again. */
	for (size_t obj = 0; obj < (npages + 255) / 256; obj++) {
		struct tmem_oid o = { { obj, 1, 2 } };
		ck_assert_int_ge(tmem_flush_range(s, p, &o, 128, UINT32_MAX), 0);
		if (obj % 5 == 0)
			ck_assert_int_ge(tmem_flush_object(s, p, &o), 0);
	}
	ck_assert_int_eq(tmem_check(s), 0);
	for (size_t i = 0; i < npages; i += 3) {
		struct tmem_oid o = { { i / 256, 1, 2 } };
		int r = tmem_get(s, p, &o, (uint32_t)(i % 256), out, 0);
		if (i % 256 >= 128 || (i / 256) % 5 == 0) {
			ck_assert_int_eq(r, -ENOENT);
		} else {
			ck_assert_int_eq(r, 0);
			ck_assert_mem_eq(out, img + i * TMEM_PAGE_SIZE, TMEM_PAGE_SIZE);
		}
	}
	ck_assert_int_eq(tmem_destroy_pool(s, p), 0);
	pam_stats(e.pam, &pst);
	ck_assert_uint_eq(pst.pages, 0);
	tmem_store_destroy(s);
	slab_stats(tmem_slab_host_cache(h, 0), &ss);
	ck_assert_uint_eq(ss.active_objs, 0);
	slab_stats(tmem_slab_host_cache(h, 1), &ss);
	ck_assert_uint_eq(ss.active_objs, 0);
	ck_assert_int_eq(slab_check(tmem_slab_host_cache(h, 0)), 0);
	ck_assert_int_eq(slab_check(tmem_slab_host_cache(h, 1)), 0);
	tmem_slab_host_destroy(h);
	tmem_slab_host_destroy(NULL);
	free(out);
	free(img);
	env_close(&e);
}
END_TEST

/* A corrupt pampd from the real backend: get fails with -EIO and keeps
 * failing until the next put. */
static struct pam *corrupt_pam;
static int corrupt_get_locked(void *ctx, tmem_pampd p, void *page, void *scratch, size_t *len)
{
	(void)ctx;
	return pam_get_locked(corrupt_pam, p ^ 0x3, page, scratch, len);	/* kind 0 */
}

START_TEST(test_corrupt_pam)
{
	struct env e;
	env_open(&e, 1);
	corrupt_pam = e.pam;
	struct tmem_pamops ops = zc_stack_pamops;
	ops.get_locked = corrupt_get_locked;
	struct tmem_store *s = tmem_store_create(&ops, e.pam, &tmem_malloc_hostops, NULL);
	ck_assert_ptr_nonnull(s);
	int p = tmem_new_pool(s, TMEM_POOL_PERSISTENT);
	unsigned char page[TMEM_PAGE_SIZE], out[TMEM_PAGE_SIZE];
	tm_fill(page, 3);
	struct tmem_oid o = { { 1, 2, 3 } };
	ck_assert_int_eq(tmem_put(s, p, &o, 9, page), 0);
	ck_assert_int_eq(tmem_get(s, p, &o, 9, out, 0), -EIO);
	ck_assert_int_eq(tmem_get(s, p, &o, 9, out, 0), -EIO);
	ck_assert_int_eq(tmem_check(s), 0);
	tmem_store_destroy(s);
	ck_assert_int_eq(pam_live(e.pam), 0);
	env_close(&e);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	tcase_add_test(tc, test_corpus_slab_host);
	tcase_add_test(tc, test_corrupt_pam);
	tcase_add_test(tc, test_model_pam);
	tcase_add_test(tc, test_model_pam_failures);
	tcase_add_test(tc, test_stress_pam);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
