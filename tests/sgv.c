/* tests/sgv.c - the SGV cache suite (alloc/sgv): the contract, test by
 * test - errors, shared pools, trimming, fixed-size and big vectors,
 * clustering, the allocation flags, the memory limit, purge, shrink,
 * flush, watermarks, a pluggable allocator, statistics, destroy and
 * sgv_check.  The model-based and threaded tests are the suite sgv_model
 * (tests/sgv_model.c); both run pools on tests/sgv_fixture.h's test page
 * allocator and fake clock.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "sgv_fixture.h"
#include "testutil.h"

/* ---- basic contract ---------------------------------------------------------- */

START_TEST(test_null_and_errors)
{
	struct fix f;
	struct sgv_pool *p;
	struct sgv_obj *obj = (void *)1;
	struct iovec *iov;
	int count = 7;

	errno = 0;
	ck_assert_ptr_null(sgv_ctx_create(NULL));
	ck_assert_int_eq(errno, EINVAL);
	sgv_ctx_destroy(NULL);
	sgv_pool_destroy(NULL);
	sgv_pool_free(NULL, NULL);
	ck_assert_uint_eq(sgv_pool_flush(NULL), 0);
	ck_assert_uint_eq(sgv_pool_purge(NULL, 1.0), 0);
	ck_assert_uint_eq(sgv_pool_shrink(NULL, 1, 1.0), 0);
	ck_assert_uint_eq(sgv_ctx_flush(NULL), 0);
	ck_assert_int_eq(sgv_check(NULL), 0);
	ck_assert_int_eq(sgv_ctx_check(NULL), 0);

	fix_init(&f);
	p = mkpool(&f, "p", SGV_CLUSTER_NONE, 0, 0, NULL);
	/* size 0 */
	errno = 0;
	iov = sgv_pool_alloc(p, 0, 0, NULL, &count, &obj);
	ck_assert_ptr_null(iov);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(count, 0);
	ck_assert_ptr_null(obj);
	/* unknown flags, missing out parameters */
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, 10, 1u << 9, NULL, &count, &obj));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, 10, 0, NULL, NULL, &obj));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, 10, 0, NULL, &count, NULL));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(NULL, 10, 0, NULL, &count, &obj));
	ck_assert_int_eq(errno, EINVAL);
	/* absurd size: ENOMEM, nothing allocated */
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, SIZE_MAX, 0, NULL, &count, &obj));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(sgv_check(p), 0);
	sgv_pool_destroy(p);
	fix_fini(&f);
}
END_TEST

START_TEST(test_pool_create_errors)
{
	struct fix f;
	struct sgv_pool *p;
	char longname[SGV_NAME_MAX + 1];

	fix_init(&f);
	memset(longname, 'x', SGV_NAME_MAX);
	longname[SGV_NAME_MAX] = 0;
	errno = 0;
	ck_assert_ptr_null(sgv_pool_create(f.ctx, NULL, SGV_CLUSTER_NONE, 0, false, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_create(NULL, "a", SGV_CLUSTER_NONE, 0, false, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_create(f.ctx, "", SGV_CLUSTER_NONE, 0, false, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_create(f.ctx, longname, SGV_CLUSTER_NONE, 0, false, 0));
	ck_assert_int_eq(errno, EINVAL);
	longname[SGV_NAME_MAX - 1] = 0;	/* 31 characters: fits */
	p = sgv_pool_create(f.ctx, longname, SGV_CLUSTER_NONE, 0, false, 0);
	ck_assert_ptr_nonnull(p);
	sgv_pool_destroy(p);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_create(f.ctx, "a", (enum sgv_clustering)3, 0, false, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_create(f.ctx, "a", SGV_CLUSTER_NONE,
					   SGV_MAX_CACHED_PAGES + 1, false, 0));
	ck_assert_int_eq(errno, EINVAL);

	p = sgv_pool_create(f.ctx, "a", SGV_CLUSTER_NONE, 0, false, 0);
	ck_assert_ptr_nonnull(p);
	errno = 0;	/* a second private pool of the same name */
	ck_assert_ptr_null(sgv_pool_create(f.ctx, "a", SGV_CLUSTER_NONE, 0, false, 0));
	ck_assert_int_eq(errno, EEXIST);
	errno = 0;	/* a shared pool cannot join a private one */
	ck_assert_ptr_null(sgv_pool_create(f.ctx, "a", SGV_CLUSTER_NONE, 0, true, 0));
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_ptr_eq(sgv_pool_find(f.ctx, "a"), p);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_find(f.ctx, "zz"));
	ck_assert_int_eq(errno, ENOENT);
	sgv_pool_destroy(p);
	ck_assert_ptr_null(sgv_pool_find(f.ctx, "a"));
	fix_fini(&f);
}
END_TEST

START_TEST(test_shared_pools)
{
	struct fix f;
	struct sgv_pool *a, *b, *c;
	struct sgv_pool_stats ps;
	struct sgv_ctx_stats cs;

	fix_init(&f);
	a = sgv_pool_create(f.ctx, "shared", SGV_CLUSTER_TAIL, 0, true, 30);
	b = sgv_pool_create(f.ctx, "shared", SGV_CLUSTER_TAIL, 0, true, 30);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, b);
	sgv_pool_stats(a, &ps);
	ck_assert_uint_eq(ps.refcount, 2);
	ck_assert_str_eq(ps.name, "shared");
	ck_assert_int_eq(ps.purge_interval, 30);
	/* other parameters: refused */
	errno = 0;
	ck_assert_ptr_null(sgv_pool_create(f.ctx, "shared", SGV_CLUSTER_FULL, 0, true, 30));
	ck_assert_int_eq(errno, EEXIST);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_create(f.ctx, "shared", SGV_CLUSTER_TAIL, 4, true, 30));
	ck_assert_int_eq(errno, EEXIST);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_create(f.ctx, "shared", SGV_CLUSTER_TAIL, 0, false, 30));
	ck_assert_int_eq(errno, EEXIST);
	c = sgv_pool_create(f.ctx, "other", SGV_CLUSTER_TAIL, 0, true, 30);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_ne(c, a);
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.pools, 2);

	/* a vector cached through one user is a hit for the other */
	{
		struct sgv_obj *o1, *o2;
		int n;

		ck_assert_ptr_nonnull(sgv_pool_alloc(a, 100, 0, NULL, &n, &o1));
		sgv_pool_free(o1, NULL);
		ck_assert_ptr_nonnull(sgv_pool_alloc(b, 200, 0, NULL, &n, &o2));
		ck_assert_ptr_eq(o1, o2);
		sgv_pool_free(o2, NULL);
	}
	sgv_pool_destroy(a);
	ck_assert_ptr_eq(sgv_pool_find(f.ctx, "shared"), b);
	sgv_pool_stats(b, &ps);
	ck_assert_uint_eq(ps.refcount, 1);
	ck_assert_uint_eq(ps.inactive_entries, 1);
	sgv_pool_destroy(b);
	ck_assert_ptr_null(sgv_pool_find(f.ctx, "shared"));
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.pools, 1);
	ck_assert_uint_eq(cs.inactive_pages, 0);	/* the last destroy flushed */
	sgv_pool_destroy(c);
	fix_fini(&f);
}
END_TEST

/* The design's example: 11 KiB from a 4-page vector. */
START_TEST(test_trim_11k)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_pool_stats ps;
	struct sgv_obj *obj, *obj2;
	struct iovec *iov;
	void *bases[4];
	int n;

	fix_init(&f);
	arena_init(&ar, 64, ARENA_ASC);
	p = mkpool(&f, "trim", SGV_CLUSTER_NONE, 0, 0, &ar);
	iov = sgv_pool_alloc(p, 11 * 1024, 0, NULL, &n, &obj);
	ck_assert_ptr_nonnull(iov);
	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(iov[0].iov_len, 4096);
	ck_assert_uint_eq(iov[1].iov_len, 4096);
	ck_assert_uint_eq(iov[2].iov_len, 3072);
	ck_assert_uint_eq(sgv_obj_pages(obj), 4);
	ck_assert_uint_eq(atomic_load(&ar.live), 4);
	{
		int n2;

		ck_assert_ptr_eq(sgv_obj_iov(obj, &n2), iov);
		ck_assert_int_eq(n2, 3);
	}
	fill(iov, n, 11);
	ck_assert_int_eq(verify(iov, n, 11), 0);
	for (int i = 0; i < 3; i++)
		bases[i] = iov[i].iov_base;
	bases[3] = iov[3].iov_base;	/* hidden, but there */
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.order[2].total, 1);
	ck_assert_uint_eq(ps.order[2].hits, 0);
	ck_assert_uint_eq(ps.order[2].cached_entries, 1);
	ck_assert_uint_eq(ps.order[2].inactive_entries, 0);
	sgv_pool_free(obj, NULL);
	ck_assert_int_eq(sgv_check(p), 0);	/* restored: 4 whole pages */
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.order[2].inactive_entries, 1);
	ck_assert_uint_eq(ps.order[2].inactive_pages, 4);
	ck_assert_uint_eq(atomic_load(&ar.live), 4);	/* cached, not freed */

	/* Reused whole: 16 KiB sees the 4 restored pages. */
	iov = sgv_pool_alloc(p, 16 * 1024, 0, NULL, &n, &obj2);
	ck_assert_ptr_eq(obj2, obj);
	ck_assert_int_eq(n, 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_ptr_eq(iov[i].iov_base, bases[i]);
		ck_assert_uint_eq(iov[i].iov_len, 4096);
	}
	sgv_pool_free(obj2, NULL);
	/* And trimmed again: 13 KiB + 1 byte = 4 entries, the last 1 KiB + 1. */
	iov = sgv_pool_alloc(p, 13 * 1024 + 1, 0, NULL, &n, &obj2);
	ck_assert_ptr_eq(obj2, obj);
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(iov[3].iov_len, 1025);
	ck_assert_uint_eq(iov_total(iov, n), 13 * 1024 + 1);
	sgv_pool_free(obj2, NULL);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.order[2].total, 3);
	ck_assert_uint_eq(ps.order[2].hits, 2);
	ck_assert_uint_eq(ps.fresh_pages, 4);
	ck_assert_int_eq(sgv_check(p), 0);

	/* 1 byte: order 0; 4097 bytes: order 1 with a 1-byte tail. */
	iov = sgv_pool_alloc(p, 1, 0, NULL, &n, &obj);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(iov[0].iov_len, 1);
	ck_assert_uint_eq(sgv_obj_pages(obj), 1);
	sgv_pool_free(obj, NULL);
	iov = sgv_pool_alloc(p, 4097, 0, NULL, &n, &obj);
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(iov[1].iov_len, 1);
	ck_assert_uint_eq(sgv_obj_pages(obj), 2);
	sgv_pool_free(obj, NULL);
	ck_assert_int_eq(sgv_check(p), 0);
	sgv_pool_destroy(p);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	ck_assert_uint_eq(atomic_load(&ar.errors), 0);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

/* The default page allocator (buddy) with tail clustering: a fresh buddy
 * hands out adjacent pages, so 11 KiB is one entry. */
START_TEST(test_buddy_default)
{
	struct fix f;
	struct sgv_pool *p;
	struct sgv_obj *obj;
	struct iovec *iov;
	struct sgv_pool_stats ps;
	int n;

	fix_init(&f);
	p = mkpool(&f, "buddy", SGV_CLUSTER_TAIL, 0, 0, NULL);
	iov = sgv_pool_alloc(p, 11 * 1024, 0, NULL, &n, &obj);
	ck_assert_ptr_nonnull(iov);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(iov[0].iov_len, 11 * 1024);
	fill(iov, n, 5);
	ck_assert_int_eq(verify(iov, n, 5), 0);
	sgv_pool_free(obj, NULL);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.order[2].merged, 3);
	ck_assert_int_eq(sgv_check(p), 0);
	ck_assert_uint_eq(sgv_pool_flush(p), 4);
	sgv_pool_destroy(p);
	fix_fini(&f);
}
END_TEST

START_TEST(test_fixed_size)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_pool_stats ps;
	struct sgv_obj *o1, *o2, *o3;
	struct iovec *iov;
	int n;

	fix_init(&f);
	arena_init(&ar, 64, ARENA_ASC);
	p = mkpool(&f, "fixed", SGV_CLUSTER_NONE, 3, 0, &ar);
	iov = sgv_pool_alloc(p, 1, 0, NULL, &n, &o1);
	ck_assert_ptr_nonnull(iov);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(iov[0].iov_len, 1);
	ck_assert_uint_eq(sgv_obj_pages(o1), 3);
	iov = sgv_pool_alloc(p, 3 * PG, 0, NULL, &n, &o2);
	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(iov_total(iov, n), 3 * PG);
	ck_assert_uint_eq(sgv_obj_pages(o2), 3);
	/* larger than the fixed size: uncached, exactly 4 pages */
	iov = sgv_pool_alloc(p, 3 * PG + 1, 0, NULL, &n, &o3);
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(iov[3].iov_len, 1);
	ck_assert_uint_eq(sgv_obj_pages(o3), 4);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.nr_orders, 1);
	ck_assert_uint_eq(ps.single_alloc_pages, 3);
	ck_assert_uint_eq(ps.order[0].total, 2);
	ck_assert_uint_eq(ps.order[0].cached_pages, 6);
	ck_assert_uint_eq(ps.big_allocs, 1);
	ck_assert_uint_eq(ps.other_pages, 4);
	sgv_pool_free(o3, NULL);
	sgv_pool_free(o2, NULL);
	sgv_pool_free(o1, NULL);
	ck_assert_uint_eq(atomic_load(&ar.live), 6);
	/* A 2-page request reuses a 3-page vector, the newest freed (o1). */
	iov = sgv_pool_alloc(p, 2 * PG, 0, NULL, &n, &o2);
	ck_assert_ptr_eq(o2, o1);
	ck_assert_int_eq(n, 2);
	sgv_pool_free(o2, NULL);
	ck_assert_int_eq(sgv_check(p), 0);
	sgv_pool_destroy(p);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

START_TEST(test_big_uncached)
{
	struct fix f;
	struct sgv_pool *p;
	struct sgv_pool_stats ps;
	struct sgv_ctx_stats cs;
	struct sgv_obj *obj;
	struct iovec *iov;
	size_t size = SGV_MAX_CACHED_PAGES * PG + 100;
	int n;

	fix_init(&f);
	p = mkpool(&f, "big", SGV_CLUSTER_NONE, 0, 0, NULL);
	iov = sgv_pool_alloc(p, size, 0, NULL, &n, &obj);
	ck_assert_ptr_nonnull(iov);
	ck_assert_int_eq(n, SGV_MAX_CACHED_PAGES + 1);
	ck_assert_uint_eq(iov[n - 1].iov_len, 100);
	ck_assert_uint_eq(iov_total(iov, n), size);
	ck_assert_uint_eq(sgv_obj_pages(obj), SGV_MAX_CACHED_PAGES + 1);
	fill(iov, n, 77);
	ck_assert_int_eq(verify(iov, n, 77), 0);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.big_allocs, 1);
	ck_assert_uint_eq(ps.total, 0);
	ck_assert_uint_eq(ps.other_pages, SGV_MAX_CACHED_PAGES + 1);
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.other_allocs, 1);
	ck_assert_uint_eq(cs.active_pages, SGV_MAX_CACHED_PAGES + 1);
	ck_assert_int_eq(sgv_ctx_check(f.ctx), 0);
	sgv_pool_free(obj, NULL);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.other_pages, 0);
	ck_assert_uint_eq(ps.inactive_entries, 0);
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.active_pages, 0);
	ck_assert_uint_eq(cs.inactive_pages, 0);
	/* The largest cached size is cached. */
	iov = sgv_pool_alloc(p, SGV_MAX_CACHED_PAGES * PG, 0, NULL, &n, &obj);
	ck_assert_ptr_nonnull(iov);
	sgv_pool_free(obj, NULL);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.order[SGV_MAX_ORDER].inactive_pages, SGV_MAX_CACHED_PAGES);
	ck_assert_int_eq(sgv_check(p), 0);
	sgv_pool_destroy(p);
	fix_fini(&f);
}
END_TEST

/* ---- clustering ----------------------------------------------------------- */

static int cluster_entries(enum sgv_clustering cl, enum arena_mode mode, unsigned pages,
			   uint64_t *merged)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_pool_stats ps;
	struct sgv_obj *obj;
	struct iovec *iov;
	int n;

	fix_init(&f);
	arena_init(&ar, pages * 4 > 256 ? pages * 4 : 256, mode);
	p = mkpool(&f, "cl", cl, 0, 0, &ar);
	iov = sgv_pool_alloc(p, pages * PG, 0, NULL, &n, &obj);
	ck_assert_ptr_nonnull(iov);
	ck_assert_uint_eq(iov_total(iov, n), pages * PG);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq((uintptr_t)iov[i].iov_base % PG, 0);
		ck_assert_uint_eq(iov[i].iov_len % PG, 0);
	}
	fill(iov, n, 3);
	ck_assert_int_eq(verify(iov, n, 3), 0);
	sgv_pool_free(obj, NULL);
	ck_assert_int_eq(sgv_check(p), 0);
	sgv_pool_stats(p, &ps);
	*merged = ps.merged;
	sgv_pool_destroy(p);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	ck_assert_uint_eq(atomic_load(&ar.errors), 0);
	arena_fini(&ar);
	fix_fini(&f);
	return n;
}

START_TEST(test_clustering_modes)
{
	uint64_t merged;

	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_NONE, ARENA_ASC, 16, &merged), 16);
	ck_assert_uint_eq(merged, 0);
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_NONE, ARENA_DESC, 16, &merged), 16);
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_NONE, ARENA_STRIDE, 16, &merged), 16);

	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_TAIL, ARENA_ASC, 16, &merged), 1);
	ck_assert_uint_eq(merged, 15);
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_TAIL, ARENA_DESC, 16, &merged), 16);
	ck_assert_uint_eq(merged, 0);
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_TAIL, ARENA_STRIDE, 16, &merged), 16);
	ck_assert_uint_eq(merged, 0);

	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_FULL, ARENA_ASC, 16, &merged), 1);
	ck_assert_uint_eq(merged, 15);
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_FULL, ARENA_DESC, 16, &merged), 1);
	ck_assert_uint_eq(merged, 15);
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_FULL, ARENA_STRIDE, 16, &merged), 16);
	ck_assert_uint_eq(merged, 0);
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_FULL, ARENA_ASC, 128, &merged), 1);
	/* the largest order: one 4 MiB entry, or 1024 */
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_FULL, ARENA_DESC, SGV_MAX_CACHED_PAGES,
					 &merged), 1);
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_FULL, ARENA_STRIDE, SGV_MAX_CACHED_PAGES,
					 &merged), SGV_MAX_CACHED_PAGES);
	/* uncached and larger than the full-clustering search window */
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_FULL, ARENA_ASC, 3000, &merged), 1);
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_FULL, ARENA_DESC, 3000, &merged), 1);
	ck_assert_int_eq(cluster_entries(SGV_CLUSTER_FULL, ARENA_STRIDE, 3000, &merged), 3000);
}
END_TEST

/* Pages 0, 2, 1, 3, 8, 10, 9, 11: tail clustering merges nothing, full
 * clustering merges 1 before 2 (the hint) and 3 after it; trimming then
 * finds the entry holding a page by its page offset. */
START_TEST(test_clustering_sequence)
{
	static const size_t seq[] = { 0, 2, 1, 3, 8, 10, 9, 11 };
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_obj *obj;
	struct iovec *iov;
	int n;

	fix_init(&f);
	/* full: 0 | 2, 1 before 2, 3 after | 8 | 10, 9 before, 11 after:
	 * entries [0] [1..3] [8] [9..11], page offsets 0, 1, 4, 5 */
	arena_init(&ar, 16, ARENA_SEQ);
	ar.seq = seq;
	ar.seq_len = 8;
	p = mkpool(&f, "full", SGV_CLUSTER_FULL, 0, 0, &ar);
	iov = sgv_pool_alloc(p, 8 * PG, 0, NULL, &n, &obj);
	ck_assert_ptr_nonnull(iov);
	ck_assert_int_eq(n, 4);
	ck_assert_ptr_eq(iov[0].iov_base, ar.base);
	ck_assert_uint_eq(iov[0].iov_len, PG);
	ck_assert_ptr_eq(iov[1].iov_base, ar.base + PG);
	ck_assert_uint_eq(iov[1].iov_len, 3 * PG);
	ck_assert_ptr_eq(iov[2].iov_base, ar.base + 8 * PG);
	ck_assert_uint_eq(iov[2].iov_len, PG);
	ck_assert_ptr_eq(iov[3].iov_base, ar.base + 9 * PG);
	ck_assert_uint_eq(iov[3].iov_len, 3 * PG);
	fill(iov, n, 9);
	ck_assert_int_eq(verify(iov, n, 9), 0);
	sgv_pool_free(obj, NULL);
	/* 20 KiB: page 4 is entry 2, whole */
	iov = sgv_pool_alloc(p, 20 * 1024, 0, NULL, &n, &obj);
	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(iov[1].iov_len, 3 * PG);
	ck_assert_uint_eq(iov[2].iov_len, PG);
	sgv_pool_free(obj, NULL);
	/* 24 KiB - 1: page 5 is the first of entry 3, cut to 4 KiB - 1 */
	iov = sgv_pool_alloc(p, 24 * 1024 - 1, 0, NULL, &n, &obj);
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(iov[3].iov_len, PG - 1);
	ck_assert_uint_eq(iov_total(iov, n), 24 * 1024 - 1);
	sgv_pool_free(obj, NULL);
	/* 32 KiB again: restored */
	iov = sgv_pool_alloc(p, 32 * 1024, 0, NULL, &n, &obj);
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(iov[3].iov_len, 3 * PG);
	sgv_pool_free(obj, NULL);
	ck_assert_int_eq(sgv_check(p), 0);
	sgv_pool_destroy(p);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	arena_fini(&ar);

	/* tail */
	arena_init(&ar, 16, ARENA_SEQ);
	ar.seq = seq;
	ar.seq_len = 8;
	p = mkpool(&f, "tail", SGV_CLUSTER_TAIL, 0, 0, &ar);
	iov = sgv_pool_alloc(p, 4 * PG, 0, NULL, &n, &obj);
	ck_assert_int_eq(n, 4);
	ck_assert_ptr_eq(iov[1].iov_base, ar.base + 2 * PG);
	sgv_pool_free(obj, NULL);
	ck_assert_int_eq(sgv_check(p), 0);
	/* the allocator runs dry after 8 pages: a 2nd order-2 vector works, a
	 * 3rd fails cleanly */
	{
		struct sgv_obj *o1, *o2;

		ck_assert_ptr_nonnull(sgv_pool_alloc(p, 4 * PG, 0, NULL, &n, &o1));
		ck_assert_ptr_nonnull(sgv_pool_alloc(p, 4 * PG, 0, NULL, &n, &o2));
		ck_assert_ptr_null(sgv_pool_alloc(p, 4 * PG, 0, NULL, &n, &obj));
		ck_assert_int_eq(errno, ENOMEM);
		ck_assert_uint_eq(atomic_load(&ar.live), 8);
		sgv_pool_free(o1, NULL);
		sgv_pool_free(o2, NULL);
	}
	sgv_pool_destroy(p);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	ck_assert_uint_eq(atomic_load(&ar.errors), 0);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

/* ---- flags ------------------------------------------------------------------- */

START_TEST(test_flag_no_cached)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_pool_stats ps;
	struct sgv_obj *obj;
	struct iovec *iov;
	int n;

	fix_init(&f);
	arena_init(&ar, 64, ARENA_ASC);
	p = mkpool(&f, "nc", SGV_CLUSTER_NONE, 0, 0, &ar);
	iov = sgv_pool_alloc(p, 3 * PG + 5, SGV_NO_CACHED, NULL, &n, &obj);
	ck_assert_ptr_nonnull(iov);
	ck_assert_int_eq(n, 4);	/* exactly 4 pages, not 2^2 by chance: see 5 below */
	ck_assert_uint_eq(iov[3].iov_len, 5);
	sgv_pool_free(obj, NULL);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	iov = sgv_pool_alloc(p, 5 * PG, SGV_NO_CACHED, NULL, &n, &obj);
	ck_assert_uint_eq(sgv_obj_pages(obj), 5);
	ck_assert_uint_eq(atomic_load(&ar.live), 5);
	sgv_pool_free(obj, NULL);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	/* a cached idle vector is not used either */
	iov = sgv_pool_alloc(p, PG, 0, NULL, &n, &obj);
	sgv_pool_free(obj, NULL);
	{
		struct sgv_obj *o2;

		ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, SGV_NO_CACHED, NULL, &n, &o2));
		ck_assert_ptr_ne(o2, obj);
		sgv_pool_free(o2, NULL);
	}
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.nocache_allocs, 3);
	ck_assert_uint_eq(ps.big_allocs, 0);
	ck_assert_uint_eq(ps.total, 1);
	ck_assert_uint_eq(ps.inactive_entries, 1);
	ck_assert_uint_eq(atomic_load(&ar.live), 1);
	ck_assert_int_eq(sgv_check(p), 0);
	sgv_pool_destroy(p);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

START_TEST(test_flag_no_alloc_on_miss)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_pool_stats ps;
	struct sgv_obj *obj, *o2;
	int n;

	fix_init(&f);
	arena_init(&ar, 64, ARENA_ASC);
	p = mkpool(&f, "nm", SGV_CLUSTER_NONE, 0, 0, &ar);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, PG, SGV_NO_ALLOC_ON_CACHE_MISS, NULL, &n, &obj));
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_ptr_null(obj);
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(atomic_load(&ar.allocs), 0);
	/* a too-big request is never cached, so always a miss */
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, (SGV_MAX_CACHED_PAGES + 1) * PG,
					  SGV_NO_ALLOC_ON_CACHE_MISS, NULL, &n, &obj));
	ck_assert_int_eq(errno, EAGAIN);
	/* with a cached vector of the order: a hit */
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 2 * PG, 0, NULL, &n, &obj));
	sgv_pool_free(obj, NULL);
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG + 1, SGV_NO_ALLOC_ON_CACHE_MISS, NULL, &n, &o2));
	ck_assert_ptr_eq(o2, obj);
	ck_assert_int_eq(n, 2);
	/* another of the same order: a miss now */
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, 2 * PG, SGV_NO_ALLOC_ON_CACHE_MISS, NULL, &n, &obj));
	ck_assert_int_eq(errno, EAGAIN);
	sgv_pool_free(o2, NULL);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.failed, 3);
	ck_assert_uint_eq(ps.total, 2);
	ck_assert_uint_eq(ps.hits, 1);
	ck_assert_uint_eq(atomic_load(&ar.allocs), 2);
	ck_assert_int_eq(sgv_check(p), 0);
	sgv_pool_destroy(p);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

START_TEST(test_flag_return_obj)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_pool_stats ps;
	struct sgv_mem_lim lim = SGV_MEM_LIM_INIT(0);
	struct sgv_obj *obj;
	struct iovec *iov;
	int n;

	fix_init(&f);
	arena_init(&ar, 64, ARENA_ASC);
	p = mkpool(&f, "ro", SGV_CLUSTER_NONE, 0, 0, &ar);

	/* miss under NO_ALLOC: EAGAIN and an empty object */
	errno = 0;
	iov = sgv_pool_alloc(p, 3 * PG, SGV_NO_ALLOC_ON_CACHE_MISS | SGV_RETURN_OBJ_ON_ALLOC_FAIL,
			     &lim, &n, &obj);
	ck_assert_ptr_null(iov);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(n, 0);
	ck_assert_ptr_nonnull(obj);
	ck_assert_uint_eq(sgv_obj_pages(obj), 0);
	ck_assert_uint_ge(sgv_obj_capacity(obj), 3);
	iov = sgv_obj_iov(obj, &n);
	ck_assert_int_eq(n, 0);
	for (unsigned i = 0; i < sgv_obj_capacity(obj); i++) {
		ck_assert_ptr_null(iov[i].iov_base);
		ck_assert_uint_eq(iov[i].iov_len, 0);
	}
	ck_assert_uint_eq(atomic_load(&lim.used), 0);
	/* the caller fills it with its own buffer; the pool leaves that alone */
	{
		static char mine[100];

		iov[0].iov_base = mine;
		iov[0].iov_len = sizeof(mine);
	}
	/* outstanding: the allocator cannot change */
	ck_assert_int_eq(sgv_pool_set_allocator(p, NULL, NULL, NULL), -EBUSY);
	ck_assert_int_eq(sgv_check(p), 0);
	sgv_pool_free(obj, &lim);
	ck_assert_uint_eq(atomic_load(&lim.used), 0);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.inactive_entries, 0);
	ck_assert_uint_eq(ps.cached_entries, 0);
	ck_assert_uint_eq(ps.failed, 1);

	/* page allocator failure half way: pages given back, empty object */
	ar.fail_after = 2;
	errno = 0;
	iov = sgv_pool_alloc(p, 4 * PG, SGV_RETURN_OBJ_ON_ALLOC_FAIL, &lim, &n, &obj);
	ck_assert_ptr_null(iov);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_ptr_nonnull(obj);
	ck_assert_uint_eq(sgv_obj_pages(obj), 0);
	ck_assert_uint_ge(sgv_obj_capacity(obj), 4);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	ck_assert_uint_eq(atomic_load(&lim.used), 0);
	sgv_pool_free(obj, &lim);
	/* the same failure without the flag: no object */
	ar.fail_after = 2;
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, 4 * PG, 0, &lim, &n, &obj));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_ptr_null(obj);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	/* and for an uncached request */
	ar.fail_after = 2;
	ck_assert_ptr_null(sgv_pool_alloc(p, 4 * PG, SGV_NO_CACHED | SGV_RETURN_OBJ_ON_ALLOC_FAIL,
					  &lim, &n, &obj));
	ck_assert_ptr_nonnull(obj);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	sgv_pool_free(obj, &lim);
	ar.fail_after = -1;

	/* success with the flag: a normal vector */
	iov = sgv_pool_alloc(p, 4 * PG, SGV_RETURN_OBJ_ON_ALLOC_FAIL, &lim, &n, &obj);
	ck_assert_ptr_nonnull(iov);
	ck_assert_int_eq(n, 4);
	ck_assert_uint_eq(atomic_load(&lim.used), 4);
	sgv_pool_free(obj, &lim);
	ck_assert_uint_eq(atomic_load(&lim.used), 0);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.failed, 4);
	ck_assert_uint_eq(ps.total, 1);
	ck_assert_uint_eq(ps.nocache_allocs, 0);
	ck_assert_int_eq(sgv_check(p), 0);
	ck_assert_int_eq(sgv_ctx_check(f.ctx), 0);
	sgv_pool_destroy(p);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	ck_assert_uint_eq(atomic_load(&ar.errors), 0);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

/* ---- limits ------------------------------------------------------------------ */

START_TEST(test_mem_lim)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p, *q;
	struct sgv_pool_stats before, after;
	struct sgv_ctx_stats cs;
	struct sgv_mem_lim lim, nolim = SGV_MEM_LIM_INIT(0);
	struct sgv_obj *o1, *o2, *o3, *obj;
	int n;

	fix_init(&f);
	arena_init(&ar, 256, ARENA_ASC);
	sgv_mem_lim_init(&lim, 8);
	p = mkpool(&f, "p", SGV_CLUSTER_NONE, 0, 0, &ar);
	q = mkpool(&f, "q", SGV_CLUSTER_FULL, 0, 0, NULL);
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 3 * PG, 0, &lim, &n, &o1));	/* 4 pages */
	ck_assert_uint_eq(atomic_load(&lim.used), 4);
	ck_assert_ptr_nonnull(sgv_pool_alloc(q, 2 * PG, 0, &lim, &n, &o2));	/* shared: 6 */
	ck_assert_uint_eq(atomic_load(&lim.used), 6);
	sgv_pool_stats(p, &before);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, 3 * PG, 0, &lim, &n, &obj));	/* 10 > 8 */
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_ptr_null(obj);
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(atomic_load(&lim.used), 6);
	ck_assert_uint_eq(atomic_load(&ar.live), 4);
	sgv_pool_stats(p, &after);
	before.failed++;
	ck_assert_int_eq(memcmp(&before, &after, sizeof(before)), 0);
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.mem_lim_failures, 1);
	ck_assert_int_eq(sgv_check(p), 0);
	/* uncached requests are charged too */
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, 3 * PG, SGV_NO_CACHED, &lim, &n, &obj));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_eq(atomic_load(&ar.live), 4);
	/* a hit is charged its full vector: 2 + 8 > 8 fails, 2 + 4 fits */
	sgv_pool_free(o1, &lim);
	ck_assert_uint_eq(atomic_load(&lim.used), 2);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, 5 * PG, 0, &lim, &n, &obj));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 3 * PG, 0, &lim, &n, &o3));
	ck_assert_ptr_eq(o3, o1);
	ck_assert_uint_eq(atomic_load(&lim.used), 6);
	/* exactly at the cap is allowed */
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 2 * PG, 0, &lim, &n, &obj));
	ck_assert_uint_eq(atomic_load(&lim.used), 8);
	sgv_pool_free(obj, &lim);
	sgv_pool_free(o3, &lim);
	sgv_pool_free(o2, &lim);
	ck_assert_uint_eq(atomic_load(&lim.used), 0);
	/* max 0: no cap, but counted */
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 100 * PG, 0, &nolim, &n, &obj));
	ck_assert_uint_eq(atomic_load(&nolim.used), 128);
	sgv_pool_free(obj, &nolim);
	ck_assert_uint_eq(atomic_load(&nolim.used), 0);
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.mem_lim_failures, 3);
	ck_assert_int_eq(sgv_ctx_check(f.ctx), 0);
	sgv_pool_destroy(p);
	sgv_pool_destroy(q);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

/* ---- purge, shrink, flush ---------------------------------------------------- */

START_TEST(test_flush_twice)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_pool_stats ps;
	struct sgv_obj *o[5], *keep;
	int n;

	fix_init(&f);
	arena_init(&ar, 256, ARENA_ASC);
	p = mkpool(&f, "fl", SGV_CLUSTER_NONE, 0, -1, &ar);
	for (int i = 0; i < 5; i++)
		ck_assert_ptr_nonnull(sgv_pool_alloc(p, (size_t)(i + 1) * PG, 0, NULL, &n, &o[i]));
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &keep));
	for (int i = 0; i < 5; i++)
		sgv_pool_free(o[i], NULL);
	/* 1 + 2 + 4 + 4 + 8 pages idle, 1 in use */
	ck_assert_uint_eq(atomic_load(&ar.live), 20);
	ck_assert_uint_eq(sgv_pool_flush(p), 19);
	ck_assert_uint_eq(sgv_pool_flush(p), 0);
	ck_assert_uint_eq(atomic_load(&ar.live), 1);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.flushed_pages, 19);
	ck_assert_uint_eq(ps.inactive_entries, 0);
	ck_assert_uint_eq(ps.cached_entries, 1);
	ck_assert_int_eq(sgv_check(p), 0);
	/* the vector in use is cached when freed, after the flush */
	sgv_pool_free(keep, NULL);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.inactive_entries, 1);
	ck_assert_uint_eq(sgv_ctx_flush(f.ctx), 1);
	ck_assert_uint_eq(sgv_ctx_flush(f.ctx), 0);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	sgv_pool_destroy(p);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

START_TEST(test_purge_fake_clock)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p, *d;
	struct sgv_pool_stats ps;
	struct sgv_obj *a, *b, *c;
	int n;

	fix_init(&f);
	arena_init(&ar, 256, ARENA_ASC);
	p = mkpool(&f, "pu", SGV_CLUSTER_NONE, 0, 10, &ar);
	d = mkpool(&f, "default", SGV_CLUSTER_NONE, 0, 0, NULL);
	sgv_pool_stats(d, &ps);
	ck_assert_int_eq(ps.purge_interval, SGV_DEFAULT_PURGE_INTERVAL);
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &a));
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 2 * PG, 0, NULL, &n, &b));
	ck_assert_ptr_nonnull(sgv_pool_alloc(d, PG, 0, NULL, &n, &c));
	f.clk.now = 100;
	sgv_pool_free(a, NULL);		/* idle since 100 */
	sgv_pool_free(c, NULL);
	f.clk.now = 105;
	sgv_pool_free(b, NULL);		/* idle since 105 */
	ck_assert_double_eq(sgv_ctx_now(f.ctx), 105);
	/* kept before one interval */
	ck_assert_uint_eq(sgv_pool_purge(p, 109.9), 0);
	ck_assert_int_eq(sgv_check(p), 0);
	/* one interval: a goes, b stays */
	ck_assert_uint_eq(sgv_pool_purge(p, 110), 1);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.inactive_entries, 1);
	ck_assert_uint_eq(ps.order[1].inactive_entries, 1);
	ck_assert_uint_eq(ps.purged_pages, 1);
	/* after two intervals everything idle is gone (the context purges
	 * every pool; the default-interval pool keeps c) */
	ck_assert_uint_eq(sgv_ctx_purge(f.ctx, 125), 2);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.inactive_entries, 0);
	ck_assert_uint_eq(ps.cached_entries, 0);
	ck_assert_uint_eq(ps.purged_pages, 3);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	sgv_pool_stats(d, &ps);
	ck_assert_uint_eq(ps.inactive_entries, 1);
	ck_assert_uint_eq(sgv_ctx_purge(f.ctx, 100 + 2 * SGV_DEFAULT_PURGE_INTERVAL), 1);
	/* a vector reused and freed again gets a new stamp */
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &a));
	f.clk.now = 200;
	sgv_pool_free(a, NULL);
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &a));
	f.clk.now = 300;
	sgv_pool_free(a, NULL);
	ck_assert_uint_eq(sgv_pool_purge(p, 305), 0);
	ck_assert_uint_eq(sgv_pool_purge(p, 310), 1);
	/* a clock that goes backwards does not break the order */
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &a));
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &b));
	f.clk.now = 400;
	sgv_pool_free(a, NULL);
	f.clk.now = 390;
	sgv_pool_free(b, NULL);
	ck_assert_int_eq(sgv_check(p), 0);
	ck_assert_uint_eq(sgv_pool_purge(p, 409), 0);
	ck_assert_uint_eq(sgv_pool_purge(p, 410), 2);
	sgv_pool_destroy(p);
	sgv_pool_destroy(d);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

START_TEST(test_negative_interval)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_pool_stats ps;
	struct sgv_obj *a;
	int n;

	fix_init(&f);
	arena_init(&ar, 64, ARENA_ASC);
	p = mkpool(&f, "neg", SGV_CLUSTER_NONE, 0, -1, &ar);
	sgv_pool_stats(p, &ps);
	ck_assert_int_lt(ps.purge_interval, 0);
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 4 * PG, 0, NULL, &n, &a));
	sgv_pool_free(a, NULL);
	ck_assert_uint_eq(sgv_pool_purge(p, 1e12), 0);
	ck_assert_uint_eq(sgv_ctx_purge(f.ctx, 1e12), 0);
	ck_assert_uint_eq(sgv_pool_shrink(p, 100, 1e12), 0);
	ck_assert_uint_eq(sgv_ctx_shrink(f.ctx, 100, 1e12), 0);
	ck_assert_uint_eq(atomic_load(&ar.live), 4);
	/* the high watermark does not release it either */
	ck_assert_int_eq(sgv_ctx_set_watermarks(f.ctx, 5, 0), 0);
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, 2 * PG, 0, NULL, &n, &a));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_eq(atomic_load(&ar.live), 4);
	ck_assert_int_eq(sgv_ctx_set_watermarks(f.ctx, 0, 0), 0);
	/* only flush frees it */
	ck_assert_uint_eq(sgv_pool_flush(p), 4);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	sgv_pool_destroy(p);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

START_TEST(test_shrink)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p, *q;
	struct sgv_pool_stats ps;
	struct sgv_obj *o[5], *big, *x;
	int n;

	fix_init(&f);
	arena_init(&ar, 256, ARENA_ASC);
	p = mkpool(&f, "sh", SGV_CLUSTER_NONE, 0, 0, &ar);
	q = mkpool(&f, "sh2", SGV_CLUSTER_NONE, 0, 0, &ar);
	for (int i = 0; i < 5; i++)
		ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &o[i]));
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 4 * PG, 0, NULL, &n, &big));
	ck_assert_ptr_nonnull(sgv_pool_alloc(q, 2 * PG, 0, NULL, &n, &x));
	for (int i = 0; i < 4; i++) {
		f.clk.now = i;
		sgv_pool_free(o[i], NULL);
	}
	f.clk.now = 4;
	sgv_pool_free(big, NULL);
	f.clk.now = 5;
	sgv_pool_free(x, NULL);
	/* nothing idle for SGV_MIN_SHRINK_INTERVAL at t = 0.5 */
	ck_assert_uint_eq(sgv_pool_shrink(p, 100, 0.5), 0);
	ck_assert_uint_eq(sgv_pool_shrink(p, 0, 10), 0);
	/* oldest first: t=0 and t=1 */
	ck_assert_uint_eq(sgv_pool_shrink(p, 2, 10), 2);
	ck_assert_int_eq(sgv_check(p), 0);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.order[0].inactive_entries, 2);
	ck_assert_uint_eq(ps.order[2].inactive_entries, 1);
	/* 3 pages asked: t=2, t=3 (2 pages), then the 4-page vector: 6 */
	ck_assert_uint_eq(sgv_pool_shrink(p, 3, 10), 6);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.inactive_entries, 0);
	ck_assert_uint_eq(ps.shrunk_pages, 8);
	ck_assert_uint_eq(ps.cached_entries, 1);	/* o[4] is in use */
	/* across pools */
	sgv_pool_free(o[4], NULL);	/* idle since 5 */
	ck_assert_uint_eq(sgv_ctx_shrink(f.ctx, 1, 5.5), 0);	/* too young */
	ck_assert_uint_eq(sgv_ctx_shrink(f.ctx, 100, 10), 3);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	ck_assert_int_eq(sgv_ctx_check(f.ctx), 0);
	sgv_pool_destroy(p);
	sgv_pool_destroy(q);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

START_TEST(test_watermarks)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_pool_stats ps;
	struct sgv_ctx_stats cs;
	struct sgv_obj *a, *b, *c, *d;
	int n;

	fix_init(&f);
	arena_init(&ar, 256, ARENA_ASC);
	p = mkpool(&f, "wm", SGV_CLUSTER_NONE, 0, 0, &ar);
	ck_assert_int_eq(sgv_ctx_set_watermarks(f.ctx, 4, 5), -EINVAL);
	ck_assert_int_eq(sgv_ctx_set_watermarks(f.ctx, 8, 2), 0);
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 4 * PG, 0, NULL, &n, &a));
	sgv_pool_free(a, NULL);				/* 4 idle */
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 3 * PG, SGV_NO_CACHED, NULL, &n, &b));	/* 7 */
	/* one more page: 8 fits */
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &c));
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.hi_wmk, 8);
	ck_assert_uint_eq(cs.lo_wmk, 2);
	ck_assert_uint_eq(cs.hi_wmk_releases, 0);
	ck_assert_uint_eq(cs.active_pages, 4);
	ck_assert_uint_eq(cs.inactive_pages, 4);
	/* two pages more: over 8, the idle 4-page vector is released */
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 2 * PG, 0, NULL, &n, &d));
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.hi_wmk_releases, 1);
	ck_assert_uint_eq(cs.hi_wmk_failures, 0);
	ck_assert_uint_eq(cs.inactive_pages, 0);
	ck_assert_uint_eq(cs.active_pages, 6);
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.shrunk_pages, 4);
	/* four more: 10 > 8 with nothing to release: refused cleanly */
	errno = 0;
	ck_assert_ptr_null(sgv_pool_alloc(p, 4 * PG, 0, NULL, &n, &a));
	ck_assert_int_eq(errno, ENOMEM);
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.hi_wmk_failures, 1);
	ck_assert_uint_eq(cs.active_pages, 6);
	ck_assert_uint_eq(atomic_load(&ar.live), 6);
	ck_assert_int_eq(sgv_ctx_check(f.ctx), 0);
	/* a hit needs no fresh pages, so the watermark does not apply */
	sgv_pool_free(d, NULL);
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 2 * PG, 0, NULL, &n, &d));
	sgv_pool_free(d, NULL);
	sgv_pool_free(c, NULL);
	sgv_pool_free(b, NULL);
	ck_assert_int_eq(sgv_ctx_set_watermarks(f.ctx, 0, 0), 0);
	sgv_pool_destroy(p);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

START_TEST(test_set_allocator)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_obj *a;
	int n;

	fix_init(&f);
	arena_init(&ar, 64, ARENA_ASC);
	p = mkpool(&f, "al", SGV_CLUSTER_NONE, 0, 0, NULL);
	ck_assert_int_eq(sgv_pool_set_allocator(p, arena_alloc, NULL, &ar), -EINVAL);
	ck_assert_int_eq(sgv_pool_set_allocator(p, NULL, arena_free, &ar), -EINVAL);
	ck_assert_int_eq(sgv_pool_set_allocator(NULL, arena_alloc, arena_free, &ar), -EINVAL);
	/* buddy pages cached: busy */
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &a));
	sgv_pool_free(a, NULL);
	ck_assert_int_eq(sgv_pool_set_allocator(p, arena_alloc, arena_free, &ar), -EBUSY);
	sgv_pool_flush(p);
	ck_assert_int_eq(sgv_pool_set_allocator(p, arena_alloc, arena_free, &ar), 0);
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &a));
	ck_assert_uint_eq(atomic_load(&ar.live), 1);
	ck_assert_int_eq(sgv_pool_set_allocator(p, NULL, NULL, NULL), -EBUSY);	/* in use */
	sgv_pool_free(a, NULL);
	sgv_pool_flush(p);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	ck_assert_int_eq(sgv_pool_set_allocator(p, NULL, NULL, NULL), 0);	/* back to buddy */
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &a));
	ck_assert_uint_eq(atomic_load(&ar.allocs), 1);
	sgv_pool_free(a, NULL);
	sgv_pool_destroy(p);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

/* Exact statistics after a known sequence. */
START_TEST(test_stats_sequence)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_pool_stats ps;
	struct sgv_ctx_stats cs;
	struct sgv_obj *o[4], *x;
	int n;

	fix_init(&f);
	arena_init(&ar, 4096, ARENA_ASC);
	p = mkpool(&f, "st", SGV_CLUSTER_TAIL, 0, 0, &ar);
	for (int i = 0; i < 3; i++)	/* 3 misses of order 0 */
		ck_assert_ptr_nonnull(sgv_pool_alloc(p, 100, 0, NULL, &n, &o[i]));
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 8 * PG, 0, NULL, &n, &o[3]));	/* order 3 */
	for (int i = 0; i < 3; i++)
		sgv_pool_free(o[i], NULL);
	for (int i = 0; i < 2; i++)	/* 2 hits */
		ck_assert_ptr_nonnull(sgv_pool_alloc(p, PG, 0, NULL, &n, &o[i]));
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 2 * SGV_MAX_CACHED_PAGES * PG, 0, NULL, &n, &x));
	sgv_pool_stats(p, &ps);
	ck_assert_uint_eq(ps.order[0].total, 5);
	ck_assert_uint_eq(ps.order[0].hits, 2);
	ck_assert_uint_eq(ps.order[0].fresh_pages, 3);
	ck_assert_uint_eq(ps.order[0].merged, 0);
	ck_assert_uint_eq(ps.order[0].cached_entries, 3);
	ck_assert_uint_eq(ps.order[0].cached_pages, 3);
	ck_assert_uint_eq(ps.order[0].inactive_entries, 1);
	ck_assert_uint_eq(ps.order[0].inactive_pages, 1);
	ck_assert_uint_eq(ps.order[3].total, 1);
	ck_assert_uint_eq(ps.order[3].hits, 0);
	ck_assert_uint_eq(ps.order[3].fresh_pages, 8);
	ck_assert_uint_eq(ps.order[3].merged, 7);	/* ascending pages: one entry */
	ck_assert_uint_eq(ps.order[3].cached_pages, 8);
	ck_assert_uint_eq(ps.total, 6);
	ck_assert_uint_eq(ps.hits, 2);
	ck_assert_uint_eq(ps.cached_entries, 4);
	ck_assert_uint_eq(ps.cached_pages, 11);
	ck_assert_uint_eq(ps.inactive_pages, 1);
	ck_assert_uint_eq(ps.big_allocs, 1);
	ck_assert_uint_eq(ps.other_pages, 2 * SGV_MAX_CACHED_PAGES);
	ck_assert_uint_eq(ps.other_merged, 2 * SGV_MAX_CACHED_PAGES - 1);
	ck_assert_uint_eq(ps.failed, 0);
	ck_assert_uint_eq(ps.refcount, 1);
	ck_assert_int_eq(ps.clustering, SGV_CLUSTER_TAIL);
	ck_assert_uint_eq(ps.nr_orders, SGV_NR_ORDERS);
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.pools, 1);
	ck_assert_uint_eq(cs.active_pages, 10 + 2 * SGV_MAX_CACHED_PAGES);
	ck_assert_uint_eq(cs.inactive_pages, 1);
	ck_assert_uint_eq(cs.other_allocs, 1);
	ck_assert_uint_eq(cs.hi_wmk, 0);
	ck_assert_int_eq(sgv_ctx_check(f.ctx), 0);
	sgv_pool_free(x, NULL);
	sgv_pool_free(o[0], NULL);
	sgv_pool_free(o[1], NULL);
	sgv_pool_free(o[3], NULL);
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.active_pages, 0);
	ck_assert_uint_eq(cs.inactive_pages, 11);
	sgv_pool_destroy(p);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

/* Destroying a pool or the whole context gives every idle page back. */
START_TEST(test_destroy_frees)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p, *q;
	struct sgv_obj *a;
	int n;

	fix_init(&f);
	arena_init(&ar, 64, ARENA_ASC);
	p = mkpool(&f, "d1", SGV_CLUSTER_NONE, 0, 0, &ar);
	q = mkpool(&f, "d2", SGV_CLUSTER_NONE, 0, 0, &ar);
	ck_assert_ptr_nonnull(sgv_pool_alloc(p, 3 * PG, 0, NULL, &n, &a));
	sgv_pool_free(a, NULL);
	ck_assert_ptr_nonnull(sgv_pool_alloc(q, 3 * PG, 0, NULL, &n, &a));
	sgv_pool_free(a, NULL);
	ck_assert_uint_eq(atomic_load(&ar.live), 8);
	sgv_pool_destroy(p);
	ck_assert_uint_eq(atomic_load(&ar.live), 4);
	(void)q;	/* left registered: the context destroys it */
	fix_fini(&f);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	ck_assert_uint_eq(atomic_load(&ar.errors), 0);
	arena_fini(&ar);
}
END_TEST

/* sgv_check finds damage.  The test pokes the iovec array of a cached
 * vector through the pointer it had while the vector was allocated (the
 * array still belongs to the idle object, so the memory is valid) and puts
 * it back afterwards. */
START_TEST(test_check_detects)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *p;
	struct sgv_obj *a, *b;
	struct iovec *ia, *ib, save;
	int n;

	fix_init(&f);
	arena_init(&ar, 64, ARENA_STRIDE);
	p = mkpool(&f, "chk", SGV_CLUSTER_NONE, 0, 0, &ar);
	ia = sgv_pool_alloc(p, 2 * PG, 0, NULL, &n, &a);
	ib = sgv_pool_alloc(p, 2 * PG, 0, NULL, &n, &b);
	ck_assert_ptr_nonnull(ia);
	ck_assert_ptr_nonnull(ib);
	sgv_pool_free(a, NULL);
	sgv_pool_free(b, NULL);
	ck_assert_int_eq(sgv_check(p), 0);

	save = ia[1];
	ia[1].iov_len = 100;			/* not whole pages */
	ck_assert_int_eq(sgv_check(p), -EUCLEAN);
	ia[1].iov_len = 2 * PG;			/* two pages without clustering */
	ck_assert_int_eq(sgv_check(p), -EUCLEAN);
	ia[1] = save;
	ia[1].iov_base = (char *)ia[1].iov_base + 1;	/* misaligned */
	ck_assert_int_eq(sgv_check(p), -EUCLEAN);
	ia[1] = ib[0];				/* a page in two vectors */
	ck_assert_int_eq(sgv_check(p), -EUCLEAN);
	ia[1] = save;
	ck_assert_int_eq(sgv_check(p), 0);

	sgv_pool_destroy(p);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	ck_assert_uint_eq(atomic_load(&ar.errors), 0);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("sgv");
	TCase *tc = tcase_create("contract");

	tcase_add_test(tc, test_null_and_errors);
	tcase_add_test(tc, test_pool_create_errors);
	tcase_add_test(tc, test_shared_pools);
	tcase_add_test(tc, test_trim_11k);
	tcase_add_test(tc, test_buddy_default);
	tcase_add_test(tc, test_fixed_size);
	tcase_add_test(tc, test_big_uncached);
	tcase_add_test(tc, test_clustering_modes);
	tcase_add_test(tc, test_clustering_sequence);
	tcase_add_test(tc, test_flag_no_cached);
	tcase_add_test(tc, test_flag_no_alloc_on_miss);
	tcase_add_test(tc, test_flag_return_obj);
	tcase_add_test(tc, test_mem_lim);
	tcase_add_test(tc, test_flush_twice);
	tcase_add_test(tc, test_purge_fake_clock);
	tcase_add_test(tc, test_negative_interval);
	tcase_add_test(tc, test_shrink);
	tcase_add_test(tc, test_watermarks);
	tcase_add_test(tc, test_set_allocator);
	tcase_add_test(tc, test_stats_sequence);
	tcase_add_test(tc, test_destroy_frees);
	tcase_add_test(tc, test_check_detects);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
