/* tests/stack.c - the stack builder (tmem/stack.h): what zc_stack_create
 * builds by default is the daemon's store (its raw threshold of 7/8 page,
 * its slab caches, one pool per CPU), a config changes only what it names,
 * a given buddy allocator survives the stack with every block back, a bad
 * config unwinds what was built, and the corpus goes through the stack and
 * back with every check passing at every step of the teardown.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/buddy.h"
#include "alloc/slab.h"
#include "compress/codec.h"
#include "compress/pam.h"
#include "testutil.h"
#include "tmem/stack.h"
#include "tmem/tmem.h"

#define PAGE TMEM_PAGE_SIZE

/* A page lz4 compresses to between 3/4 and 7/8 of a page: 3300 random
 * bytes, then zeros.  PAM stores it in xcf under the daemon's threshold
 * and raw under PAM's default. */
static void mid_page(unsigned char *page)
{
	uint64_t rs = 42;

	memset(page, 0, PAGE);
	for (size_t i = 0; i < 3300; i++)
		page[i] = (unsigned char)zc_rand(&rs);
}

/* The kind PAM gave `page` in stack s (put, decode the pampd, free). */
static enum pam_kind kind_of(struct zc_stack *s, const unsigned char *page, unsigned *size)
{
	struct pam_pampd_info info;
	pam_pampd p;

	ck_assert_int_eq(pam_put(s->pam, page, CODEC_DEFAULT, &p), 0);
	ck_assert_int_eq(pam_pampd_info(s->pam, p, &info), 0);
	pam_free(s->pam, p);
	*size = info.size;
	return info.kind;
}

START_TEST(test_defaults)
{
	struct zc_stack *s = zc_stack_create(NULL);
	unsigned char page[PAGE];
	struct slab_stats ss;
	unsigned size;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(s->buddy);
	ck_assert_ptr_nonnull(s->sgv);
	ck_assert_ptr_nonnull(s->descs);
	ck_assert_ptr_nonnull(s->pam);
	ck_assert_ptr_nonnull(s->host);
	ck_assert_ptr_nonnull(s->store);
	ck_assert_int_eq(s->own_buddy, 1);
	/* The caches /.zcache/alloc/slabinfo lists, in its order. */
	slab_stats(s->slabs[0], &ss);
	ck_assert_str_eq(ss.name, "tmem_obj");
	slab_stats(s->slabs[1], &ss);
	ck_assert_str_eq(ss.name, "tmem_objnode");
	slab_stats(s->slabs[2], &ss);
	ck_assert_str_eq(ss.name, "xcf_desc");
	ck_assert_ptr_eq(s->slabs[2], s->descs);
	/* One xcf pool per online CPU, as pam_create's default. */
	ck_assert_uint_eq(pam_pool_count(s->pam),
			  ncpu > (long)PAM_MAX_POOLS ? PAM_MAX_POOLS : (unsigned)ncpu);
	/* The daemon's raw threshold: a page compressed to 3/4..7/8 page
	 * goes to xcf. */
	mid_page(page);
	ck_assert_int_eq(kind_of(s, page, &size), PAM_KIND_XCF);
	ck_assert_uint_ge(size, PAM_DEFAULT_RAW_THRESHOLD);
	ck_assert_uint_lt(size, ZC_STACK_RAW_THRESHOLD);
	/* A random page is still raw. */
	{
		uint64_t rs = 7;

		for (size_t i = 0; i < PAGE; i++)
			page[i] = (unsigned char)zc_rand(&rs);
		ck_assert_int_eq(kind_of(s, page, &size), PAM_KIND_RAW);
	}
	/* The store has no pool until one is made. */
	ck_assert_int_eq(tmem_pool_kind(s->store, 0), -EINVAL);
	ck_assert_int_eq(zc_stack_check(s), 0);
	ck_assert_int_eq(zc_stack_destroy(s), 0);
	ck_assert_int_eq(zc_stack_destroy(NULL), 0);
	codec_thread_release();
}
END_TEST

START_TEST(test_config)
{
	struct buddy *b = buddy_create(1);
	struct zc_stack_config cfg = { .buddy = NULL, .pam = { .pools = 2,
							       .raw_threshold = PAM_DEFAULT_RAW_THRESHOLD } };
	unsigned char page[PAGE];
	struct buddy_stats bs;
	struct zc_stack *s;
	unsigned size;
	int pool;

	ck_assert_ptr_nonnull(b);
	cfg.buddy = b;
	s = zc_stack_create(&cfg);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_eq(s->buddy, b);
	ck_assert_int_eq(s->own_buddy, 0);
	ck_assert_uint_eq(pam_pool_count(s->pam), 2);
	/* PAM's own threshold when asked for: the same page goes raw. */
	mid_page(page);
	ck_assert_int_eq(kind_of(s, page, &size), PAM_KIND_RAW);
	/* Some data, left in the store for the teardown to free. */
	pool = tmem_new_pool(s->store, TMEM_POOL_EPHEMERAL);
	ck_assert_int_ge(pool, 0);
	for (uint32_t i = 0; i < 64; i++) {
		struct tmem_oid o = { { i / 8, 0, 0 } };

		page[0] = (unsigned char)i;
		ck_assert_int_eq(tmem_put(s->store, pool, &o, i % 8, page), 0);
	}
	buddy_stats(b, &bs);
	ck_assert_uint_gt(bs.blocks, 0);
	ck_assert_int_eq(zc_stack_check(s), 0);
	ck_assert_int_eq(zc_stack_destroy(s), 0);
	/* The given allocator outlives the stack, every block given back. */
	ck_assert_int_eq(buddy_check(b), 0);
	buddy_stats(b, &bs);
	ck_assert_uint_eq(bs.blocks, 0);
	ck_assert_uint_eq(bs.bytes_allocated, 0);
	buddy_destroy(b);
	codec_thread_release();
}
END_TEST

START_TEST(test_bad_config)
{
	struct buddy *b = buddy_create(0);
	struct zc_stack_config cfg = { .pam = { .raw_threshold = PAGE + 1 } };
	struct buddy_stats bs;

	ck_assert_ptr_nonnull(b);
	/* PAM refuses the threshold after the SGV context and the descriptor
	 * cache were made: they are unwound (ASan would see a leak). */
	errno = 0;
	ck_assert_ptr_null(zc_stack_create(&cfg));
	ck_assert_int_eq(errno, EINVAL);
	cfg.buddy = b;
	errno = 0;
	ck_assert_ptr_null(zc_stack_create(&cfg));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(buddy_check(b), 0);
	buddy_stats(b, &bs);
	ck_assert_uint_eq(bs.blocks, 0);
	buddy_destroy(b);
}
END_TEST

/* The corpus through the stack: every page back intact, the checks pass
 * with data in the store, and the teardown's checks pass. */
START_TEST(test_corpus_roundtrip)
{
	size_t len, npages;
	unsigned char *img = zc_load_file(zc_corpus_path("pages.img"), &len);
	unsigned char *out = aligned_alloc(64, PAGE);
	struct zc_stack_config cfg = { .pam = { .pools = 2 } };
	struct zc_stack *s = zc_stack_create(&cfg);
	struct tmem_stats ts;
	struct pam_stats ps;
	int pool;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(s);
	npages = len / PAGE;
	ck_assert_uint_gt(npages, 0);
	pool = tmem_new_pool(s->store, TMEM_POOL_PERSISTENT);
	ck_assert_int_ge(pool, 0);
	ck_assert_int_eq(tmem_pool_set_codec(s->store, pool, codec_make(CODEC_ZSTD, 1)), 0);
	for (size_t i = 0; i < npages; i++) {
		struct tmem_oid o = { { i / 256, 0, 0 } };

		ck_assert_int_eq(tmem_put(s->store, pool, &o, (uint32_t)(i % 256), img + i * PAGE), 0);
	}
	ck_assert_int_eq(zc_stack_check(s), 0);
	for (size_t i = 0; i < npages; i++) {
		struct tmem_oid o = { { i / 256, 0, 0 } };

		ck_assert_int_eq(tmem_get(s->store, pool, &o, (uint32_t)(i % 256), out, 0), 0);
		ck_assert_mem_eq(out, img + i * PAGE, PAGE);
	}
	tmem_stats(s->store, &ts);
	pam_stats(s->pam, &ps);
	ck_assert_uint_eq(ts.pages, ps.pages);
	ck_assert_uint_eq(ps.compressed_pages + ps.raw_pages + ps.same_filled_pages, ps.pages);
	ck_assert_int_eq(zc_stack_destroy(s), 0);
	free(out);
	free(img);
	codec_thread_release();
}
END_TEST

/* The adapter is PAM's five functions (moved here from tests/pam.c with
 * the adapter itself). */
START_TEST(test_pamops)
{
	const struct tmem_pamops *ops = &zc_stack_pamops;
	unsigned char out[PAGE], scratch[PAGE];
	struct zc_stack *s = zc_stack_create(NULL);
	size_t len = 0, clen;
	unsigned char *img = zc_load_file(zc_corpus_path("pages.img"), &clen);
	const unsigned char *page;
	tmem_pampd p;

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_gt(clen / PAGE, 64 * 3 + 1);
	page = img + (64 * 3 + 1) * PAGE;
	ck_assert_ptr_nonnull(ops->create);
	ck_assert_ptr_nonnull(ops->get_locked);
	ck_assert_ptr_nonnull(ops->decode);
	ck_assert_ptr_nonnull(ops->free);
	ck_assert_ptr_nonnull(ops->size);
	ck_assert_int_eq(ops->create(s->pam, page, CODEC_DEFAULT, &p), 0);
	ck_assert_uint_gt(ops->size(s->pam, p), 0);
	ck_assert_uint_eq(ops->size(s->pam, p), pam_size(s->pam, p));
	ck_assert_int_eq(ops->get_locked(s->pam, p, out, scratch, &len), 0);
	ck_assert_int_eq(ops->decode(s->pam, p, scratch, len, out), 0);
	ck_assert(memcmp(out, page, PAGE) == 0);
	ops->free(s->pam, p);
	ck_assert_int_eq(zc_stack_destroy(s), 0);
	free(img);
	codec_thread_release();
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("stack");
	TCase *tc = tcase_create("stack");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_pamops);
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_bad_config);
	tcase_add_test(tc, test_corpus_roundtrip);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
