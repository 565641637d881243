/* tests/sgv.c - the SGV cache suite (alloc/sgv).
 *
 * Most tests run pools on a test page allocator (struct arena) that hands
 * out pages of one mmap'ed region in a chosen order - ascending (adjacent),
 * descending (adjacent, backwards), every other page (never adjacent) or an
 * explicit sequence - so clustering results are exact and every page is
 * accounted for (arena.live must return to 0).  Time comes from a fake clock.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "testutil.h"

#define PG SGV_PAGE_SIZE

/* ---- the test page allocator ---------------------------------------------- */

enum arena_mode { ARENA_ASC, ARENA_DESC, ARENA_STRIDE, ARENA_SEQ };

struct arena {
	pthread_mutex_t lock;
	char *base;
	size_t npages;
	unsigned char *used;
	enum arena_mode mode;
	size_t cursor;
	const size_t *seq;		/* ARENA_SEQ: page indexes, in order */
	size_t seq_len, seq_pos;
	long fail_after;		/* allocations left before NULL; < 0: never fail */
	_Atomic uint64_t live;		/* pages handed out now */
	_Atomic uint64_t allocs;
	_Atomic uint64_t errors;	/* bad frees (double or foreign) */
};

static void arena_init(struct arena *a, size_t npages, enum arena_mode mode)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	a->base = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(a->base, MAP_FAILED);
	a->npages = npages;
	a->used = calloc(npages, 1);
	ck_assert_ptr_nonnull(a->used);
	a->mode = mode;
	a->cursor = mode == ARENA_DESC ? npages - 1 : 0;
	a->fail_after = -1;
}

static void arena_fini(struct arena *a)
{
	munmap(a->base, a->npages * PG);
	free(a->used);
	pthread_mutex_destroy(&a->lock);
}

static void *arena_alloc(void *priv)
{
	struct arena *a = priv;
	void *p = NULL;
	size_t i, n;

	pthread_mutex_lock(&a->lock);
	if (a->fail_after == 0)
		goto out;
	if (a->fail_after > 0)
		a->fail_after--;
	switch (a->mode) {
	case ARENA_ASC:
		for (n = 0; n < a->npages; n++) {
			i = (a->cursor + n) % a->npages;
			if (!a->used[i]) {
				a->cursor = (i + 1) % a->npages;
				p = a->base + i * PG;
				break;
			}
		}
		break;
	case ARENA_DESC:
		for (n = 0; n < a->npages; n++) {
			i = (a->cursor + a->npages - n) % a->npages;
			if (!a->used[i]) {
				a->cursor = (i + a->npages - 1) % a->npages;
				p = a->base + i * PG;
				break;
			}
		}
		break;
	case ARENA_STRIDE:
		for (n = 0; n < a->npages; n++) {
			i = (a->cursor + 2 * n) % a->npages;
			if (!a->used[i]) {
				a->cursor = (i + 2) % a->npages;
				p = a->base + i * PG;
				break;
			}
		}
		break;
	case ARENA_SEQ:
		if (a->seq_pos < a->seq_len && !a->used[a->seq[a->seq_pos]]) {
			i = a->seq[a->seq_pos++];
			p = a->base + i * PG;
		}
		break;
	}
	if (p) {
		a->used[((char *)p - a->base) / PG] = 1;
		atomic_fetch_add(&a->live, 1);
		atomic_fetch_add(&a->allocs, 1);
	}
out:
	pthread_mutex_unlock(&a->lock);
	return p;
}

static void arena_free(void *page, void *priv)
{
	struct arena *a = priv;
	size_t i;

	pthread_mutex_lock(&a->lock);
	if ((char *)page < a->base || (char *)page >= a->base + a->npages * PG ||
	    ((size_t)((char *)page - a->base) % PG) != 0) {
		atomic_fetch_add(&a->errors, 1);
		goto out;
	}
	i = (size_t)((char *)page - a->base) / PG;
	if (!a->used[i]) {
		atomic_fetch_add(&a->errors, 1);
		goto out;
	}
	a->used[i] = 0;
	atomic_fetch_sub(&a->live, 1);
out:
	pthread_mutex_unlock(&a->lock);
}

/* ---- fake clock and fixture ------------------------------------------------ */

struct fake_clock {
	double now;
};

static double fake_now(void *priv)
{
	return ((struct fake_clock *)priv)->now;
}

struct fix {
	struct buddy *buddy;
	struct sgv_ctx *ctx;
	struct fake_clock clk;
};

static void fix_init(struct fix *f)
{
	f->buddy = buddy_create(BUDDY_DEFAULT_RESERVE);
	ck_assert_ptr_nonnull(f->buddy);
	f->ctx = sgv_ctx_create(f->buddy);
	ck_assert_ptr_nonnull(f->ctx);
	f->clk.now = 1000.0;
	sgv_ctx_set_clock(f->ctx, fake_now, &f->clk);
}

static void fix_fini(struct fix *f)
{
	struct buddy_stats bs;

	ck_assert_int_eq(sgv_ctx_check(f->ctx), 0);
	sgv_ctx_destroy(f->ctx);
	buddy_stats(f->buddy, &bs);
	ck_assert_uint_eq(bs.blocks, 0);	/* every page went back */
	buddy_destroy(f->buddy);
}

static struct sgv_pool *mkpool(struct fix *f, const char *name, enum sgv_clustering cl,
			       unsigned single, int interval, struct arena *a)
{
	struct sgv_pool *p = sgv_pool_create(f->ctx, name, cl, single, false, interval);

	ck_assert_ptr_nonnull(p);
	if (a)
		ck_assert_int_eq(sgv_pool_set_allocator(p, arena_alloc, arena_free, a), 0);
	return p;
}

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* Write a pattern of (tag, offset) over the whole vector. */
static void fill(const struct iovec *iov, int n, uint64_t tag)
{
	uint64_t off = 0;

	for (int i = 0; i < n; i++) {
		unsigned char *b = iov[i].iov_base;

		memset(b, (int)(tag & 0xff), iov[i].iov_len);
		for (size_t o = 0; o + 16 <= iov[i].iov_len; o += PG) {
			uint64_t w[2] = { tag, off + o };

			memcpy(b + o, w, sizeof(w));
		}
		off += iov[i].iov_len;
	}
}

static int verify(const struct iovec *iov, int n, uint64_t tag)
{
	static const unsigned char zero[PG];
	unsigned char want[PG];
	uint64_t off = 0;

	(void)zero;
	memset(want, (int)(tag & 0xff), sizeof(want));
	for (int i = 0; i < n; i++) {
		unsigned char *b = iov[i].iov_base;

		for (size_t o = 0; o < iov[i].iov_len; o += PG) {
			size_t len = iov[i].iov_len - o < PG ? iov[i].iov_len - o : PG;
			size_t skip = 0;

			if (len >= 16) {
				uint64_t w[2];

				memcpy(w, b + o, sizeof(w));
				if (w[0] != tag || w[1] != off + o)
					return -1;
				skip = 16;
			}
			if (memcmp(b + o + skip, want, len - skip) != 0)
				return -1;
		}
		off += iov[i].iov_len;
	}
	return 0;
}

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

/* ---- model-based randomized test ---------------------------------------- */

#define M_POOLS 5
#define M_LIVE 48
#define M_OPS 120000
#define M_BATCH 200
#define M_LIM_PAGES 400
#define M_ARENA_PAGES 8192
#define M_HI_WMK 2500		/* pages, over every pool */
#define M_LO_WMK 1200

struct m_live {
	struct sgv_obj *obj;
	struct sgv_pool *pool;
	int pi;
	size_t size;
	uint64_t tag;
	int order;		/* -1 other, -2 empty */
	unsigned pages;
	bool charged;
};

struct m_idle {			/* a model idle vector */
	struct sgv_obj *obj;
	int order;
	unsigned pages;
	double stamp;
};

struct m_pool {
	struct sgv_pool *pool;
	struct arena *ar;	/* NULL: buddy */
	enum sgv_clustering cl;
	unsigned single;
	int interval;
	struct m_idle *idle;	/* oldest first */
	size_t nidle, cap;
	uint64_t total[SGV_NR_ORDERS], hits[SGV_NR_ORDERS], cached[SGV_NR_ORDERS];
	uint64_t big, nocache, failed, other_pages;
	uint64_t purged, shrunk, flushed;
	uint64_t pages_held;	/* cached + other, for the arena bound */
};

struct model {
	struct fix f;
	struct arena ar[3];
	struct m_pool mp[M_POOLS];
	struct m_live live[M_LIVE];
	size_t nlive;
	struct sgv_mem_lim lim;
	uint64_t rng;
	uint64_t next_tag;
	/* what the run went through, so a lucky stream cannot skip a path */
	uint64_t n_hit, n_miss, n_eagain, n_lim, n_empty, n_big, n_nocache;
	uint64_t n_purged, n_shrunk, n_flushed;
	uint64_t n_releases, n_released, n_wmk_fail;
};

/* Pages the context holds: every pool's cached and other pages. */
static uint64_t m_total(const struct model *m)
{
	uint64_t t = 0;

	for (int i = 0; i < M_POOLS; i++)
		t += m->mp[i].pages_held;
	return t;
}

static void m_idle_remove(struct m_pool *mp, size_t i)
{
	memmove(&mp->idle[i], &mp->idle[i + 1], (mp->nidle - i - 1) * sizeof(mp->idle[0]));
	mp->nidle--;
}

static void m_free_idle(struct m_pool *mp, size_t i)
{
	mp->cached[mp->idle[i].order]--;
	mp->pages_held -= mp->idle[i].pages;
	m_idle_remove(mp, i);
}

/* Compare the pool's statistics with the model. */
static void m_compare(struct model *m, struct m_pool *mp)
{
	struct sgv_pool_stats ps;
	uint64_t inact[SGV_NR_ORDERS] = { 0 };

	sgv_pool_stats(mp->pool, &ps);
	for (size_t i = 0; i < mp->nidle; i++)
		inact[mp->idle[i].order]++;
	for (unsigned o = 0; o < ps.nr_orders; o++) {
		ck_assert_uint_eq(ps.order[o].total, mp->total[o]);
		ck_assert_uint_eq(ps.order[o].hits, mp->hits[o]);
		ck_assert_uint_eq(ps.order[o].cached_entries, mp->cached[o]);
		ck_assert_uint_eq(ps.order[o].inactive_entries, inact[o]);
	}
	ck_assert_uint_eq(ps.big_allocs, mp->big);
	ck_assert_uint_eq(ps.nocache_allocs, mp->nocache);
	ck_assert_uint_eq(ps.failed, mp->failed);
	ck_assert_uint_eq(ps.other_pages, mp->other_pages);
	ck_assert_uint_eq(ps.purged_pages, mp->purged);
	ck_assert_uint_eq(ps.shrunk_pages, mp->shrunk);
	ck_assert_uint_eq(ps.flushed_pages, mp->flushed);
	(void)m;
}

static void m_compare_ctx(struct model *m)
{
	struct sgv_ctx_stats cs;
	uint64_t idle = 0;

	sgv_ctx_stats(m->f.ctx, &cs);
	for (int i = 0; i < M_POOLS; i++)
		for (size_t j = 0; j < m->mp[i].nidle; j++)
			idle += m->mp[i].idle[j].pages;
	ck_assert_uint_eq(cs.inactive_pages, idle);
	ck_assert_uint_eq(cs.active_pages + cs.inactive_pages, m_total(m));
	ck_assert_uint_eq(cs.hi_wmk_releases, m->n_releases);
	ck_assert_uint_eq(cs.hi_wmk_failures, m->n_wmk_fail);
	ck_assert_uint_eq(cs.mem_lim_failures, m->n_lim);
	ck_assert_uint_eq(cs.other_allocs, m->n_big + m->n_nocache);
}

static size_t m_rand_size(uint64_t *rng, unsigned single)
{
	uint64_t r = zc_rand_below(rng, 1000);

	if (single && r < 700)
		return 1 + zc_rand_below(rng, single * PG);
	if (r < 600)
		return 1 + zc_rand_below(rng, 4 * PG);
	if (r < 900)
		return 1 + zc_rand_below(rng, 32 * PG);
	if (r < 995)
		return 1 + zc_rand_below(rng, 256 * PG);
	return (SGV_MAX_CACHED_PAGES * PG) + 1 + zc_rand_below(rng, 8 * PG);	/* big */
}

static void m_alloc(struct model *m)
{
	int pi = (int)zc_rand_below(&m->rng, M_POOLS);
	struct m_pool *mp = &m->mp[pi];
	uint64_t r = zc_rand_below(&m->rng, 100);
	unsigned flags = 0;
	size_t size = m_rand_size(&m->rng, mp->single), pages = (size + PG - 1) / PG;
	bool use_lim = zc_rand_below(&m->rng, 2) == 0;
	struct sgv_mem_lim *lim = use_lim ? &m->lim : NULL;
	int order, n;
	unsigned opages;
	struct sgv_obj *obj;
	struct iovec *iov;
	struct m_live *l;
	int expect_err = 0;
	ssize_t hit = -1;

	if (r < 5)
		flags |= SGV_NO_CACHED;
	else if (r < 20)
		flags |= SGV_NO_ALLOC_ON_CACHE_MISS;
	if (zc_rand_below(&m->rng, 10) == 0)
		flags |= SGV_RETURN_OBJ_ON_ALLOC_FAIL;

	if (flags & SGV_NO_CACHED)
		order = -1;
	else if (mp->single)
		order = pages <= mp->single ? 0 : -1;
	else {
		order = 0;
		while (((size_t)1 << order) < pages)
			order++;
		if (order > SGV_MAX_ORDER)
			order = -1;
	}
	opages = order < 0 ? (unsigned)pages : mp->single ? mp->single : 1u << order;

	/* keep arena pools away from exhaustion: flush when close */
	if (mp->ar && mp->pages_held + opages + 64 > M_ARENA_PAGES) {
		uint64_t want = 0;

		for (size_t i = 0; i < mp->nidle; i++)
			want += mp->idle[i].pages;
		ck_assert_uint_eq(sgv_pool_flush(mp->pool), want);
		mp->flushed += want;
		while (mp->nidle)
			m_free_idle(mp, 0);
		if (mp->pages_held + opages + 64 > M_ARENA_PAGES)
			return;
	}

	if (use_lim && atomic_load(&m->lim.used) + opages > m->lim.max_pages) {
		expect_err = ENOMEM;
		m->n_lim++;
	}
	if (!expect_err && order >= 0) {
		for (size_t i = mp->nidle; i-- > 0;)	/* the newest idle of the order */
			if (mp->idle[i].order == order) {
				hit = (ssize_t)i;
				break;
			}
	}
	if (!expect_err && hit < 0 && (flags & SGV_NO_ALLOC_ON_CACHE_MISS))
		expect_err = EAGAIN;
	if (!expect_err && hit < 0 && m_total(m) + opages > M_HI_WMK) {
		/* the high watermark: release idle vectors of purgeable
		 * pools, pool by pool in creation order, oldest first, down
		 * to the low watermark */
		m->n_releases++;
		for (int i = 0; i < M_POOLS; i++) {
			struct m_pool *v = &m->mp[i];

			if (v->interval < 0)
				continue;
			while (v->nidle && m_total(m) + opages > M_LO_WMK) {
				m->n_released += v->idle[0].pages;
				v->shrunk += v->idle[0].pages;
				m_free_idle(v, 0);
			}
		}
		if (m_total(m) + opages > M_HI_WMK) {
			expect_err = ENOMEM;
			m->n_wmk_fail++;
		}
	}

	errno = 0;
	iov = sgv_pool_alloc(mp->pool, size, flags, lim, &n, &obj);
	if (expect_err) {
		ck_assert_ptr_null(iov);
		ck_assert_int_eq(errno, expect_err);
		ck_assert_int_eq(n, 0);
		mp->failed++;
		if (expect_err == EAGAIN)
			m->n_eagain++;
		if (flags & SGV_RETURN_OBJ_ON_ALLOC_FAIL) {
			ck_assert_ptr_nonnull(obj);
			ck_assert_uint_eq(sgv_obj_pages(obj), 0);
			ck_assert_uint_ge(sgv_obj_capacity(obj), pages);
			m->n_empty++;
			if (m->nlive < M_LIVE) {
				l = &m->live[m->nlive++];
				*l = (struct m_live){ .obj = obj, .pool = mp->pool, .pi = pi,
						      .order = -2 };
			} else {
				sgv_pool_free(obj, lim);
			}
		} else {
			ck_assert_ptr_null(obj);
		}
		return;
	}
	ck_assert_msg(iov != NULL, "alloc of %zu bytes (flags %u) failed: %s", size, flags,
		      strerror(errno));
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(iov_total(iov, n), size);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq((uintptr_t)iov[i].iov_base % PG, 0);
		if (i + 1 < n)
			ck_assert_uint_eq(iov[i].iov_len % PG, 0);
		ck_assert_uint_gt(iov[i].iov_len, 0);
	}
	if (mp->cl == SGV_CLUSTER_NONE)
		ck_assert_uint_eq((size_t)n, pages);
	ck_assert_uint_eq(sgv_obj_pages(obj), opages);
	if (order >= 0) {
		mp->total[order]++;
		if (hit >= 0) {
			ck_assert_ptr_eq(obj, mp->idle[hit].obj);	/* LIFO reuse */
			mp->hits[order]++;
			m->n_hit++;
			m_idle_remove(mp, (size_t)hit);
		} else {
			m->n_miss++;
			mp->cached[order]++;
			mp->pages_held += opages;
		}
	} else {
		if (flags & SGV_NO_CACHED) {
			mp->nocache++;
			m->n_nocache++;
		} else {
			mp->big++;
			m->n_big++;
		}
		mp->other_pages += opages;
		mp->pages_held += opages;
	}
	if (m->nlive == M_LIVE) {	/* full: free this one at once */
		fill(iov, n, 1);
		ck_assert_int_eq(verify(iov, n, 1), 0);
		sgv_pool_free(obj, lim);
		if (order >= 0) {
			struct m_idle *id;

			if (mp->nidle == mp->cap) {
				mp->cap = mp->cap ? 2 * mp->cap : 64;
				mp->idle = realloc(mp->idle, mp->cap * sizeof(*mp->idle));
				ck_assert_ptr_nonnull(mp->idle);
			}
			id = &mp->idle[mp->nidle++];
			*id = (struct m_idle){ obj, order, opages, m->f.clk.now };
		} else {
			mp->other_pages -= opages;
			mp->pages_held -= opages;
		}
		return;
	}
	l = &m->live[m->nlive++];
	*l = (struct m_live){ .obj = obj, .pool = mp->pool, .pi = pi, .size = size,
			      .tag = ++m->next_tag, .order = order, .pages = opages,
			      .charged = use_lim };
	fill(iov, n, l->tag);
}

static void m_free(struct model *m)
{
	size_t i = zc_rand_below(&m->rng, m->nlive);
	struct m_live l = m->live[i];
	struct m_pool *mp = &m->mp[l.pi];

	m->live[i] = m->live[--m->nlive];
	if (l.order != -2) {
		int n;
		struct iovec *iov = sgv_obj_iov(l.obj, &n);

		ck_assert_uint_eq(iov_total(iov, n), l.size);
		ck_assert_msg(verify(iov, n, l.tag) == 0, "pattern of vector %p damaged",
			      (void *)l.obj);
	}
	sgv_pool_free(l.obj, l.charged ? &m->lim : NULL);
	if (l.order >= 0) {
		struct m_idle *id;

		if (mp->nidle == mp->cap) {
			mp->cap = mp->cap ? 2 * mp->cap : 64;
			mp->idle = realloc(mp->idle, mp->cap * sizeof(*mp->idle));
			ck_assert_ptr_nonnull(mp->idle);
		}
		id = &mp->idle[mp->nidle++];
		*id = (struct m_idle){ l.obj, l.order, l.pages, m->f.clk.now };
	} else if (l.order == -1) {
		mp->other_pages -= l.pages;
		mp->pages_held -= l.pages;
	}
}

static void m_maintain(struct model *m)
{
	uint64_t r = zc_rand_below(&m->rng, 100);
	int pi = (int)zc_rand_below(&m->rng, M_POOLS);
	struct m_pool *mp = &m->mp[pi];
	double now = m->f.clk.now;
	uint64_t want = 0;

	if (r < 60) {		/* purge one pool */
		if (mp->interval >= 0) {
			for (size_t i = 0; i < mp->nidle;) {
				if (now - mp->idle[i].stamp >= mp->interval) {
					want += mp->idle[i].pages;
					m_free_idle(mp, i);
				} else {
					break;
				}
			}
		}
		ck_assert_uint_eq(sgv_pool_purge(mp->pool, now), want);
		m->n_purged += want;
		mp->purged += want;
	} else if (r < 95) {	/* shrink one pool */
		uint64_t nr = zc_rand_below(&m->rng, 64);

		if (mp->interval >= 0 && nr > 0) {
			while (mp->nidle && want < nr &&
			       now - mp->idle[0].stamp >= SGV_MIN_SHRINK_INTERVAL) {
				want += mp->idle[0].pages;
				m_free_idle(mp, 0);
			}
		}
		ck_assert_uint_eq(sgv_pool_shrink(mp->pool, nr, now), want);
		m->n_shrunk += want;
		mp->shrunk += want;
	} else {		/* flush */
		while (mp->nidle) {
			want += mp->idle[0].pages;
			m_free_idle(mp, 0);
		}
		ck_assert_uint_eq(sgv_pool_flush(mp->pool), want);
		m->n_flushed += want;
		mp->flushed += want;
	}
}

START_TEST(test_model)
{
	static const struct {
		const char *name;
		enum sgv_clustering cl;
		unsigned single;
		int interval;
		int arena;	/* -1: buddy */
		enum arena_mode mode;
	} cfg[M_POOLS] = {
		{ "none-buddy", SGV_CLUSTER_NONE, 0, 20, -1, ARENA_ASC },
		{ "tail-asc", SGV_CLUSTER_TAIL, 0, 5, 0, ARENA_ASC },
		{ "full-desc", SGV_CLUSTER_FULL, 0, 50, 1, ARENA_DESC },
		{ "full-stride", SGV_CLUSTER_FULL, 0, -1, 2, ARENA_STRIDE },
		{ "fixed3", SGV_CLUSTER_TAIL, 3, 10, -1, ARENA_ASC },
	};
	struct model *m = calloc(1, sizeof(*m));

	ck_assert_ptr_nonnull(m);
	fix_init(&m->f);
	m->rng = zc_test_seed();
	sgv_mem_lim_init(&m->lim, M_LIM_PAGES);
	for (int i = 0; i < 3; i++)
		arena_init(&m->ar[i], M_ARENA_PAGES, i == 0 ? ARENA_ASC : i == 1 ? ARENA_DESC
								     : ARENA_STRIDE);
	ck_assert_int_eq(sgv_ctx_set_watermarks(m->f.ctx, M_HI_WMK, M_LO_WMK), 0);
	for (int i = 0; i < M_POOLS; i++) {
		struct m_pool *mp = &m->mp[i];

		mp->ar = cfg[i].arena >= 0 ? &m->ar[cfg[i].arena] : NULL;
		mp->cl = cfg[i].cl;
		mp->single = cfg[i].single;
		mp->interval = cfg[i].interval;
		mp->pool = mkpool(&m->f, cfg[i].name, cfg[i].cl, cfg[i].single, cfg[i].interval,
				  mp->ar);
	}
	for (long op = 0; op < M_OPS; op++) {
		uint64_t r = zc_rand_below(&m->rng, 100);

		m->f.clk.now += (double)zc_rand_below(&m->rng, 1000) / 1000.0;
		if (r < 50 || m->nlive == 0)
			m_alloc(m);
		else if (r < 95)
			m_free(m);
		else
			m_maintain(m);
		if (op % M_BATCH == M_BATCH - 1) {
			for (int i = 0; i < M_POOLS; i++) {
				ck_assert_int_eq(sgv_check(m->mp[i].pool), 0);
				m_compare(m, &m->mp[i]);
			}
			ck_assert_int_eq(sgv_ctx_check(m->f.ctx), 0);
			m_compare_ctx(m);
		}
	}
	while (m->nlive)
		m_free(m);
	ck_assert_uint_eq(atomic_load(&m->lim.used), 0);
	ck_assert_uint_gt(m->n_hit, 0);
	ck_assert_uint_gt(m->n_miss, 0);
	ck_assert_uint_gt(m->n_eagain, 0);
	ck_assert_uint_gt(m->n_lim, 0);
	ck_assert_uint_gt(m->n_empty, 0);
	ck_assert_uint_gt(m->n_big, 0);
	ck_assert_uint_gt(m->n_nocache, 0);
	ck_assert_uint_gt(m->n_purged, 0);
	ck_assert_uint_gt(m->n_shrunk, 0);
	ck_assert_uint_gt(m->n_flushed, 0);
	ck_assert_uint_gt(m->n_releases, 0);
	ck_assert_uint_gt(m->n_wmk_fail, 0);
	fprintf(stderr, "model: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " EAGAIN, %" PRIu64
		" over mem_lim, %" PRIu64 " empty objects, %" PRIu64 " big, %" PRIu64 " no-cached; pages "
		"purged %" PRIu64 ", shrunk %" PRIu64 ", flushed %" PRIu64 "\n", m->n_hit, m->n_miss,
		m->n_eagain, m->n_lim, m->n_empty, m->n_big, m->n_nocache, m->n_purged, m->n_shrunk,
		m->n_flushed);
	fprintf(stderr, "model: %" PRIu64 " watermark releases freed %" PRIu64 " pages, %" PRIu64
		" allocations refused by the watermark\n", m->n_releases, m->n_released,
		m->n_wmk_fail);
	for (int i = 0; i < M_POOLS; i++) {
		m_compare(m, &m->mp[i]);
		sgv_pool_destroy(m->mp[i].pool);
		free(m->mp[i].idle);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(atomic_load(&m->ar[i].live), 0);
		ck_assert_uint_eq(atomic_load(&m->ar[i].errors), 0);
		arena_fini(&m->ar[i]);
	}
	fix_fini(&m->f);
	free(m);
}
END_TEST

/* ---- threads ----------------------------------------------------------------- */

#define T_THREADS 4
#define T_OPS 20000

struct t_arg {
	struct sgv_pool *pools[2];
	struct sgv_mem_lim *lim;
	uint64_t seed;
	_Atomic int *stop;
	_Atomic uint64_t *errors;
	_Atomic uint64_t *done, *refused;
};

static void *t_worker(void *p)
{
	struct t_arg *a = p;
	struct {
		struct sgv_obj *obj;
		struct sgv_mem_lim *lim;
		size_t size;
		uint64_t tag;
	} held[16];
	int nheld = 0;
	uint64_t rng = a->seed;

	for (int op = 0; op < T_OPS; op++) {
		if (nheld < 16 && (nheld == 0 || zc_rand_below(&rng, 2))) {
			struct sgv_pool *pool = a->pools[zc_rand_below(&rng, 2)];
			size_t size = 1 + zc_rand_below(&rng, zc_rand_below(&rng, 8) ? 8 * PG : 64 * PG);
			unsigned flags = zc_rand_below(&rng, 20) == 0 ? SGV_NO_CACHED : 0;
			struct sgv_mem_lim *lim = zc_rand_below(&rng, 2) ? a->lim : NULL;
			struct sgv_obj *obj;
			struct iovec *iov;
			int n;

			iov = sgv_pool_alloc(pool, size, flags, lim, &n, &obj);
			if (!iov) {	/* mem_lim or the high watermark */
				if (errno != ENOMEM || obj != NULL)
					atomic_fetch_add(a->errors, 1);
				atomic_fetch_add(a->refused, 1);
				continue;
			}
			atomic_fetch_add(a->done, 1);
			if (iov_total(iov, n) != size)
				atomic_fetch_add(a->errors, 1);
			held[nheld].obj = obj;
			held[nheld].lim = lim;
			held[nheld].size = size;
			held[nheld].tag = a->seed * 1000003u + (uint64_t)op;
			fill(iov, n, held[nheld].tag);
			nheld++;
		} else {
			int i = (int)zc_rand_below(&rng, (uint64_t)nheld), n;
			struct iovec *iov = sgv_obj_iov(held[i].obj, &n);

			if (iov_total(iov, n) != held[i].size || verify(iov, n, held[i].tag) != 0)
				atomic_fetch_add(a->errors, 1);
			sgv_pool_free(held[i].obj, held[i].lim);
			held[i] = held[--nheld];
		}
	}
	while (nheld) {
		int n;
		struct iovec *iov = sgv_obj_iov(held[nheld - 1].obj, &n);

		if (verify(iov, n, held[nheld - 1].tag) != 0)
			atomic_fetch_add(a->errors, 1);
		sgv_pool_free(held[nheld - 1].obj, held[nheld - 1].lim);
		nheld--;
	}
	return NULL;
}

struct t_maint {
	struct sgv_ctx *ctx;
	struct sgv_pool *pools[2];
	_Atomic int *stop;
	_Atomic uint64_t *errors;
	uint64_t rounds;
};

static void *t_maintainer(void *p)
{
	struct t_maint *a = p;
	uint64_t rng = 42;

	while (!atomic_load(a->stop)) {
		struct sgv_pool_stats ps;
		struct sgv_ctx_stats cs;
		uint64_t r = zc_rand_below(&rng, 5);

		if (r == 0)
			sgv_ctx_purge(a->ctx, sgv_ctx_now(a->ctx) + 1e6);
		else if (r == 1)
			sgv_ctx_shrink(a->ctx, 1 + zc_rand_below(&rng, 32), sgv_ctx_now(a->ctx) + 10);
		else if (r == 2)
			sgv_pool_flush(a->pools[zc_rand_below(&rng, 2)]);
		else if (r == 3) {
			sgv_pool_stats(a->pools[zc_rand_below(&rng, 2)], &ps);
			sgv_ctx_stats(a->ctx, &cs);
		} else if (sgv_check(a->pools[zc_rand_below(&rng, 2)]) != 0) {
			atomic_fetch_add(a->errors, 1);
		}
		a->rounds++;
		nanosleep(&(struct timespec){ 0, 50000 }, NULL);
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct fix f;
	struct arena ar;
	struct sgv_pool *pools[2];
	struct sgv_mem_lim lim;
	pthread_t th[T_THREADS], mt;
	struct t_arg args[T_THREADS];
	struct t_maint maint;
	_Atomic int stop = 0;
	_Atomic uint64_t errors = 0, done = 0, refused = 0;
	struct sgv_ctx_stats cs;
	uint64_t seed = zc_test_seed();

	fix_init(&f);
	sgv_ctx_set_clock(f.ctx, NULL, NULL);	/* the real clock */
	arena_init(&ar, 16384, ARENA_ASC);
	sgv_mem_lim_init(&lim, 600);
	pools[0] = mkpool(&f, "mt-buddy", SGV_CLUSTER_NONE, 0, 1, NULL);
	pools[1] = mkpool(&f, "mt-arena", SGV_CLUSTER_FULL, 0, 1, &ar);
	/* low enough that the high watermark releases (and refuses) often */
	ck_assert_int_eq(sgv_ctx_set_watermarks(f.ctx, 800, 400), 0);
	maint = (struct t_maint){ f.ctx, { pools[0], pools[1] }, &stop, &errors, 0 };
	ck_assert_int_eq(pthread_create(&mt, NULL, t_maintainer, &maint), 0);
	for (int i = 0; i < T_THREADS; i++) {
		args[i] = (struct t_arg){ { pools[0], pools[1] }, &lim, seed + (uint64_t)i * 7919,
					  &stop, &errors, &done, &refused };
		ck_assert_int_eq(pthread_create(&th[i], NULL, t_worker, &args[i]), 0);
	}
	for (int i = 0; i < T_THREADS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	atomic_store(&stop, 1);
	ck_assert_int_eq(pthread_join(mt, NULL), 0);
	ck_assert_uint_eq(atomic_load(&errors), 0);
	ck_assert_uint_gt(atomic_load(&done), atomic_load(&refused));
	ck_assert_uint_eq(atomic_load(&lim.used), 0);
	sgv_ctx_stats(f.ctx, &cs);
	ck_assert_uint_eq(cs.active_pages, 0);
	fprintf(stderr, "threads: %" PRIu64 " allocations, %" PRIu64 " refused (mem_lim %" PRIu64
		", watermark %" PRIu64 "), %" PRIu64 " watermark releases, %" PRIu64
		" maintainer rounds\n", atomic_load(&done), atomic_load(&refused),
		cs.mem_lim_failures, cs.hi_wmk_failures, cs.hi_wmk_releases, maint.rounds);
	ck_assert_int_eq(sgv_ctx_check(f.ctx), 0);
	sgv_ctx_flush(f.ctx);
	ck_assert_uint_eq(atomic_load(&ar.live), 0);
	ck_assert_uint_eq(atomic_load(&ar.errors), 0);
	sgv_pool_destroy(pools[0]);
	sgv_pool_destroy(pools[1]);
	arena_fini(&ar);
	fix_fini(&f);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("sgv");
	TCase *tc = tcase_create("contract");
	TCase *tm = tcase_create("model");

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
	tcase_add_test(tm, test_model);
	tcase_add_test(tm, test_threads);
	tcase_set_timeout(tm, 600);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
