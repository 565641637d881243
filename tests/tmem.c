/* tests/tmem.c - the store over a trivial in-memory backend: unit tests of
 * every operation and error, the randomized model test and the threaded
 * stress test (both from tmem_model.h, shared with tests/store.c).
 *
 * The backend ("mb") keeps a malloc'ed copy of each page; a same-filled
 * page lives in the pampd itself (get_locked produces it and returns 1), so
 * both get paths run.  Pages that begin with a marker make the backend
 * fail on purpose: "CORRUPT-GETLOCK" in get_locked, "CORRUPT-DECODE" in
 * decode, "RAW-DIRECT" is produced straight by get_locked.  It also packs
 * groups into units (repack_plan, repack) the way compress/pam does:
 * reference counted by their pages and by readers between get_locked and
 * decode, retired with their last page, each page holding a share of a
 * nominal footprint; so tmem_densify's plan, read, swap and conflict paths
 * run here against an exact model.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tmem/tmem.h"
#include "tmem_model.h"

/* ---- the trivial backend -------------------------------------------- */

#define MB_MAGIC 0x6d62706167650a0aull
#define MB_DEAD 0xdeaddeaddeaddeadull

struct mb {
	_Atomic long live;
	_Atomic unsigned fail_permille;
	_Atomic uint64_t rng;
	_Atomic int fail_next;			/* -errno for the next create */
	_Atomic unsigned last_codec;
	_Atomic uint64_t creates, frees, decodes;
	_Atomic long units;			/* units alive */
	_Atomic uint64_t repacks;		/* units made */
	/* Called by repack before it packs (where 0) and by decode of a
	 * unit page (where 1), with no tmem lock held: a test's way to
	 * change the store in the middle of a densify. */
	void (*hook)(struct mb *m, int where);
	void *hook_arg;
};

struct mb_page {
	uint64_t magic;
	unsigned codec;
	unsigned pad;
	unsigned char data[TMEM_PAGE_SIZE];
};

/* A unit: pampd = address | slot << 2 | 2 (64-byte aligned). */
#define MB_UNIT_MAGIC 0x6d62756e69740a0aull
struct mb_unit {
	uint64_t magic;
	_Atomic unsigned refs;
	unsigned map;
	alignas(64) unsigned char data[TMEM_UNIT_PAGES][TMEM_PAGE_SIZE];	/* size: a multiple of 64 */
};
/* Nominal footprints: a unit "compresses" its pages to half. */
#define MB_UNIT_FOOT(n) (2048u * (n) + 64u)

static bool mb_is_unit(tmem_pampd pd)
{
	return (pd & 3) == 2;
}

static struct mb_unit *mb_unit_of(tmem_pampd pd)
{
	struct mb_unit *u = (struct mb_unit *)(uintptr_t)(pd & ~(tmem_pampd)63);
	if (u->magic != MB_UNIT_MAGIC)
		abort();
	return u;
}

static unsigned mb_unit_slot(tmem_pampd pd)
{
	return (unsigned)(pd >> 2) & 15;
}

static unsigned mb_unit_rank(const struct mb_unit *u, unsigned slot)
{
	return (unsigned)__builtin_popcount(u->map & ((1u << slot) - 1));
}

static void mb_unit_unref(struct mb *m, struct mb_unit *u)
{
	if (atomic_fetch_sub(&u->refs, 1) != 1)
		return;
	u->magic = MB_DEAD;
	free(u);
	atomic_fetch_sub(&m->units, 1);
}

static bool mb_same_filled(const unsigned char *p)
{
	for (unsigned i = 1; i < TMEM_PAGE_SIZE; i++)
		if (p[i] != p[0])
			return false;
	return true;
}

static int mb_create(void *ctx, const void *page, unsigned codec, tmem_pampd *out)
{
	struct mb *m = ctx;
	int f = atomic_exchange(&m->fail_next, 0);
	if (f)
		return f;
	unsigned pm = atomic_load(&m->fail_permille);
	if (pm) {
		uint64_t st = atomic_fetch_add(&m->rng, 0x9e3779b97f4a7c15ull);
		if (zc_rand(&st) % 1000 < pm)
			return -ENOSPC;
	}
	atomic_store(&m->last_codec, codec);
	atomic_fetch_add(&m->creates, 1);
	const unsigned char *b = page;
	if (mb_same_filled(b)) {
		*out = ((uint64_t)b[0] << 8) | 1;
		return 0;
	}
	struct mb_page *p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->magic = MB_MAGIC;
	p->codec = codec;
	memcpy(p->data, page, TMEM_PAGE_SIZE);
	atomic_fetch_add(&m->live, 1);
	*out = (uint64_t)(uintptr_t)p;
	return 0;
}

static int mb_get_locked(void *ctx, tmem_pampd pd, void *page, void *scratch, size_t *len)
{
	(void)ctx;
	if (pd & 1) {
		memset(page, (int)(pd >> 8), TMEM_PAGE_SIZE);
		return 1;
	}
	if (mb_is_unit(pd)) {
		/* Pin the unit for decode, as compress/pam does on a miss. */
		struct mb_unit *u = mb_unit_of(pd);
		atomic_fetch_add(&u->refs, 1);
		memcpy(scratch, &u, sizeof(u));
		*len = sizeof(u);
		return 0;
	}
	struct mb_page *p = (struct mb_page *)(uintptr_t)pd;
	if (p->magic != MB_MAGIC)
		abort();
	if (!memcmp(p->data, "CORRUPT-GETLOCK", 15))
		return -EIO;
	if (!memcmp(p->data, "RAW-DIRECT", 10)) {
		memcpy(page, p->data, TMEM_PAGE_SIZE);
		return 1;
	}
	memcpy(scratch, p->data, TMEM_PAGE_SIZE);
	*len = TMEM_PAGE_SIZE;
	return 0;
}

static int mb_decode(void *ctx, tmem_pampd pd, const void *scratch, size_t len, void *page)
{
	struct mb *m = ctx;
	atomic_fetch_add(&m->decodes, 1);
	if (mb_is_unit(pd)) {
		/* The reference get_locked took keeps the unit alive. */
		struct mb_unit *u;
		if (len != sizeof(u))
			return -EIO;
		memcpy(&u, scratch, sizeof(u));
		if (u != mb_unit_of(pd))
			abort();
		if (m->hook)
			m->hook(m, 1);
		memcpy(page, u->data[mb_unit_rank(u, mb_unit_slot(pd))], TMEM_PAGE_SIZE);
		mb_unit_unref(m, u);
		return 0;
	}
	/* pd is never dereferenced here: it may be freed by now. */
	if (len != TMEM_PAGE_SIZE || !memcmp(scratch, "CORRUPT-DECODE", 14))
		return -EIO;
	memcpy(page, scratch, TMEM_PAGE_SIZE);
	return 0;
}

static void mb_free(void *ctx, tmem_pampd pd)
{
	struct mb *m = ctx;
	atomic_fetch_add(&m->frees, 1);
	if (pd & 1)
		return;
	if (mb_is_unit(pd)) {
		mb_unit_unref(m, mb_unit_of(pd));
		atomic_fetch_sub(&m->live, 1);
		return;
	}
	struct mb_page *p = (struct mb_page *)(uintptr_t)pd;
	if (p->magic != MB_MAGIC)
		abort();	/* double free */
	p->magic = MB_DEAD;
	free(p);
	atomic_fetch_sub(&m->live, 1);
}

static size_t mb_size(void *ctx, tmem_pampd pd)
{
	(void)ctx;
	if (mb_is_unit(pd)) {
		/* The unit's footprint split over its pages, the remainder
		 * to the first: the shares add up to the unit. */
		struct mb_unit *u = mb_unit_of(pd);
		unsigned n = (unsigned)__builtin_popcount(u->map), f = MB_UNIT_FOOT(n);
		return f / n + (mb_unit_rank(u, mb_unit_slot(pd)) < f % n);
	}
	return pd & 1 ? 0 : sizeof(struct mb_page);
}

/* Plan: every page that is not same-filled; nothing when they are exactly
 * one whole unit; units counted whole. */
static unsigned mb_repack_plan(void *ctx, const tmem_pampd old[TMEM_UNIT_PAGES], unsigned codec,
			       uint64_t *old_bytes)
{
	const struct mb_unit *seen[TMEM_UNIT_PAGES];
	unsigned map = 0, from_units = 0, nseen = 0;
	uint64_t bytes = 0;
	(void)ctx;
	(void)codec;
	for (unsigned i = 0; i < TMEM_UNIT_PAGES; i++) {
		if (!old[i] || (old[i] & 1))
			continue;
		map |= 1u << i;
		if (!mb_is_unit(old[i])) {
			bytes += sizeof(struct mb_page);
			continue;
		}
		const struct mb_unit *u = mb_unit_of(old[i]);
		from_units |= 1u << i;
		unsigned k = 0;
		while (k < nseen && seen[k] != u)
			k++;
		if (k == nseen) {
			seen[nseen++] = u;
			bytes += MB_UNIT_FOOT((unsigned)__builtin_popcount(u->map));
		}
	}
	*old_bytes = bytes;
	if (nseen == 1 && from_units == map && seen[0]->map == map)
		return 0;
	return map;
}

static int mb_repack(void *ctx, const void *pages, unsigned map, unsigned codec,
		     uint64_t old_bytes, tmem_pampd out[TMEM_UNIT_PAGES])
{
	struct mb *m = ctx;
	unsigned n = (unsigned)__builtin_popcount(map);
	(void)codec;
	if (m->hook)
		m->hook(m, 0);
	unsigned pm = atomic_load(&m->fail_permille);
	if (pm) {
		uint64_t st = atomic_fetch_add(&m->rng, 0x9e3779b97f4a7c15ull);
		if (zc_rand(&st) % 1000 < pm)
			return -ENOMEM;
	}
	if (n < 2 || MB_UNIT_FOOT(n) >= old_bytes)
		return 0;
	struct mb_unit *u = aligned_alloc(64, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->magic = MB_UNIT_MAGIC;
	u->map = map;
	atomic_init(&u->refs, n);
	memcpy(u->data, pages, (size_t)n * TMEM_PAGE_SIZE);
	for (unsigned i = 0; i < TMEM_UNIT_PAGES; i++)
		if (map & (1u << i))
			out[i] = (tmem_pampd)(uintptr_t)u | (uint64_t)i << 2 | 2;
	atomic_fetch_add(&m->units, 1);
	atomic_fetch_add(&m->repacks, 1);
	atomic_fetch_add(&m->live, n);
	return 1;
}

static const struct tmem_pamops mb_ops = {
	.create = mb_create,
	.get_locked = mb_get_locked,
	.decode = mb_decode,
	.free = mb_free,
	.size = mb_size,
	.repack_plan = mb_repack_plan,
	.repack = mb_repack,
};

static void mb_set_fail(void *ctx, unsigned permille)
{
	atomic_store(&((struct mb *)ctx)->fail_permille, permille);
}

static long mb_live(void *ctx)
{
	return atomic_load(&((struct mb *)ctx)->live);
}

/* ---- fixtures ------------------------------------------------------- */

struct fx {
	struct mb mb;
	struct tm_host host;
	struct tmem_store *s;
	unsigned char page[TMEM_PAGE_SIZE];
	unsigned char out[TMEM_PAGE_SIZE];
};

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	ck_assert_ptr_nonnull(f);
	f->s = tmem_store_create(&mb_ops, &f->mb, &tm_hostops, &f->host);
	ck_assert_ptr_nonnull(f->s);
	return f;
}

static void fx_free(struct fx *f)
{
	ck_assert_int_eq(tmem_check(f->s), 0);
	tmem_store_destroy(f->s);
	ck_assert_int_eq(atomic_load(&f->mb.live), 0);
	ck_assert_int_eq(atomic_load(&f->mb.units), 0);
	ck_assert_int_eq(atomic_load(&f->host.objs), 0);
	ck_assert_int_eq(atomic_load(&f->host.nodes), 0);
	ck_assert_int_eq(atomic_load(&f->host.mems), 0);
	free(f);
}

static struct tmem_oid oidn(uint64_t n)
{
	struct tmem_oid o = { { n, n * 3 + 1, 42 } };
	return o;
}

/* Fill with a pattern naming (n, index) that is never same-filled. */
static void pat(unsigned char *p, uint64_t n, uint32_t index)
{
	uint64_t r = n * 1000003 + index + 1;
	for (unsigned i = 0; i < TMEM_PAGE_SIZE; i += 8) {
		uint64_t v = zc_rand(&r);
		memcpy(p + i, &v, 8);
	}
}

static void put_ok(struct fx *f, int pool, uint64_t n, uint32_t index)
{
	struct tmem_oid o = oidn(n);
	pat(f->page, n, index);
	ck_assert_int_eq(tmem_put(f->s, pool, &o, index, f->page), 0);
}

static void get_ok(struct fx *f, int pool, uint64_t n, uint32_t index)
{
	struct tmem_oid o = oidn(n);
	pat(f->page, n, index);
	ck_assert_int_eq(tmem_get(f->s, pool, &o, index, f->out, 0), 0);
	ck_assert_mem_eq(f->out, f->page, TMEM_PAGE_SIZE);
}

static void pstats(struct fx *f, int pool, struct tmem_pool_stats *ps)
{
	ck_assert_int_eq(tmem_pool_stats(f->s, pool, ps), 0);
}

/* ---- unit tests ----------------------------------------------------- */

START_TEST(test_store_create_errors)
{
	struct tmem_pamops bad = mb_ops;
	bad.decode = NULL;
	errno = 0;
	ck_assert_ptr_null(tmem_store_create(&bad, NULL, &tmem_malloc_hostops, NULL));
	ck_assert_int_eq(errno, EINVAL);
	struct tmem_hostops hbad = tmem_malloc_hostops;
	hbad.mem_free = NULL;
	errno = 0;
	ck_assert_ptr_null(tmem_store_create(&mb_ops, NULL, &hbad, NULL));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(tmem_store_create(NULL, NULL, &tmem_malloc_hostops, NULL));
	tmem_store_destroy(NULL);

	/* The malloc hostops work as a host. */
	struct mb mb;
	memset(&mb, 0, sizeof(mb));
	struct tmem_store *s = tmem_store_create(&mb_ops, &mb, &tmem_malloc_hostops, NULL);
	ck_assert_ptr_nonnull(s);
	int p = tmem_new_pool(s, TMEM_POOL_PERSISTENT);
	ck_assert_int_eq(p, 0);
	unsigned char page[TMEM_PAGE_SIZE], out[TMEM_PAGE_SIZE];
	struct tmem_oid o = oidn(1);
	for (uint32_t i = 0; i < 300; i++) {
		pat(page, 1, i);
		ck_assert_int_eq(tmem_put(s, p, &o, i * 7, page), 0);
	}
	for (uint32_t i = 0; i < 300; i++) {
		pat(page, 1, i);
		ck_assert_int_eq(tmem_get(s, p, &o, i * 7, out, 0), 0);
		ck_assert_mem_eq(out, page, TMEM_PAGE_SIZE);
	}
	ck_assert_int_eq(tmem_check(s), 0);
	tmem_store_destroy(s);
	ck_assert_int_eq(mb.live, 0);
}
END_TEST

START_TEST(test_pools)
{
	struct fx *f = fx_new();
	ck_assert_int_eq(tmem_new_pool(f->s, 0), -EINVAL);
	ck_assert_int_eq(tmem_new_pool(f->s, TMEM_POOL_PERSISTENT | TMEM_POOL_EPHEMERAL), -EINVAL);
	ck_assert_int_eq(tmem_new_pool(f->s, TMEM_POOL_PERSISTENT), 0);
	ck_assert_int_eq(tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL), 1);
	ck_assert_int_eq(tmem_new_pool(f->s, TMEM_POOL_PERSISTENT), 2);
	ck_assert_int_eq(tmem_pool_kind(f->s, 0), TMEM_POOL_PERSISTENT);
	ck_assert_int_eq(tmem_pool_kind(f->s, 1), TMEM_POOL_EPHEMERAL);
	put_ok(f, 1, 5, 3);
	ck_assert_int_eq(tmem_destroy_pool(f->s, 1), 0);
	ck_assert_int_eq(atomic_load(&f->mb.live), 0);	/* its pages are gone */
	ck_assert_int_eq(tmem_destroy_pool(f->s, 1), -EINVAL);
	ck_assert_int_eq(tmem_pool_kind(f->s, 1), -EINVAL);
	ck_assert_int_eq(tmem_new_pool(f->s, TMEM_POOL_PERSISTENT), 1);	/* lowest free id */
	ck_assert_int_eq(tmem_destroy_pool(f->s, -1), -EINVAL);
	ck_assert_int_eq(tmem_destroy_pool(f->s, TMEM_MAX_POOLS), -EINVAL);

	struct tmem_stats st;
	tmem_stats(f->s, &st);
	ck_assert_uint_eq(st.pools, 3);
	ck_assert_uint_eq(st.ephemeral_pools, 0);
	ck_assert_uint_eq(st.buckets, 3 * 256);
	ck_assert_uint_gt(st.meta_bytes, 0);

	/* Fill every id, then one more. */
	for (int i = 3; i < TMEM_MAX_POOLS; i++)
		ck_assert_int_eq(tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL), i);
	ck_assert_int_eq(tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL), -ENOSPC);
	ck_assert_int_eq(tmem_destroy_pool(f->s, 1000), 0);
	ck_assert_int_eq(tmem_new_pool(f->s, TMEM_POOL_PERSISTENT), 1000);
	tmem_stats(f->s, &st);
	ck_assert_uint_eq(st.pools, TMEM_MAX_POOLS);
	ck_assert_uint_eq(st.ephemeral_pools, TMEM_MAX_POOLS - 4);
	fx_free(f);
}
END_TEST

START_TEST(test_bad_pool)
{
	struct fx *f = fx_new();
	struct tmem_oid o = oidn(1);
	uint32_t idx;
	struct tmem_pool_stats ps;
	int bad[] = { -1, 0, 7, TMEM_MAX_POOLS, 1 << 30 };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int p = bad[i];
		ck_assert_int_eq(tmem_put(f->s, p, &o, 0, f->page), -EINVAL);
		ck_assert_int_eq(tmem_get(f->s, p, &o, 0, f->out, 0), -EINVAL);
		ck_assert_int_eq(tmem_flush_page(f->s, p, &o, 0), -EINVAL);
		ck_assert_int_eq(tmem_flush_range(f->s, p, &o, 0, 9), -EINVAL);
		ck_assert_int_eq(tmem_flush_object(f->s, p, &o), -EINVAL);
		ck_assert_int_eq(tmem_next_index(f->s, p, &o, 0, &idx), -EINVAL);
		ck_assert_int_eq(tmem_object_pages(f->s, p, &o), -EINVAL);
		ck_assert_int_eq(tmem_pin(f->s, p, &o), -EINVAL);
		ck_assert_int_eq(tmem_unpin(f->s, p, &o), -EINVAL);
		if (p != TMEM_ALL_POOLS)
			ck_assert_int_eq(tmem_evict(f->s, p, 1, NULL, NULL), -EINVAL);
		ck_assert_int_eq(tmem_pool_set_kind(f->s, p, TMEM_POOL_EPHEMERAL), -EINVAL);
		ck_assert_int_eq(tmem_pool_kind(f->s, p), -EINVAL);
		ck_assert_int_eq(tmem_pool_set_codec(f->s, p, 1), -EINVAL);
		ck_assert_int_eq(tmem_pool_stats(f->s, p, &ps), -EINVAL);
		ck_assert_int_eq(tmem_destroy_pool(f->s, p), -EINVAL);
	}
	ck_assert_int_eq(atomic_load(&f->mb.creates), 0);	/* rejected before compressing */
	fx_free(f);
}
END_TEST

START_TEST(test_put_get_replace)
{
	struct fx *f = fx_new();
	int p = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	struct tmem_oid o = oidn(7);
	struct tmem_pool_stats ps;

	/* A miss leaves the page untouched. */
	memset(f->out, 0x5c, sizeof(f->out));
	ck_assert_int_eq(tmem_get(f->s, p, &o, 0, f->out, 0), -ENOENT);
	ck_assert_uint_eq(f->out[100], 0x5c);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 0, f->out, 2), -EINVAL);

	put_ok(f, p, 7, 0);
	get_ok(f, p, 7, 0);
	get_ok(f, p, 7, 0);		/* a plain get keeps the page */
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.pages, 1);
	ck_assert_uint_eq(ps.objects, 1);
	ck_assert_uint_eq(ps.objnodes, 0);	/* a one-page object needs no objnode */
	ck_assert_uint_eq(ps.puts, 1);
	ck_assert_uint_eq(ps.gets, 2);
	ck_assert_uint_eq(ps.failed_gets, 1);
	ck_assert_uint_eq(ps.pampd_bytes, sizeof(struct mb_page));
	ck_assert_uint_eq(ps.meta_bytes, TMEM_OBJ_SIZE + 4096);	/* object + bucket array */

	/* Replace: the new data is seen, the old pampd freed, nothing allocated. */
	long nodes = atomic_load(&f->host.nodes), objs = atomic_load(&f->host.objs);
	pat(f->page, 99, 99);
	ck_assert_int_eq(tmem_put(f->s, p, &o, 0, f->page), 0);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 0, f->out, 0), 0);
	ck_assert_mem_eq(f->out, f->page, TMEM_PAGE_SIZE);
	ck_assert_int_eq(atomic_load(&f->mb.live), 1);
	ck_assert_int_eq(atomic_load(&f->host.nodes), nodes);
	ck_assert_int_eq(atomic_load(&f->host.objs), objs);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.replaces, 1);
	ck_assert_uint_eq(ps.pages, 1);

	/* Same-filled pages come straight from get_locked (no decode). */
	uint64_t decodes = atomic_load(&f->mb.decodes);
	memset(f->page, 0, TMEM_PAGE_SIZE);
	ck_assert_int_eq(tmem_put(f->s, p, &o, 1, f->page), 0);
	memset(f->out, 1, TMEM_PAGE_SIZE);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 1, f->out, 0), 0);
	ck_assert_mem_eq(f->out, f->page, TMEM_PAGE_SIZE);
	memset(f->page, 0xee, TMEM_PAGE_SIZE);
	ck_assert_int_eq(tmem_put(f->s, p, &o, 1, f->page), 0);	/* replace inline by inline */
	ck_assert_int_eq(tmem_get(f->s, p, &o, 1, f->out, 0), 0);
	ck_assert_mem_eq(f->out, f->page, TMEM_PAGE_SIZE);
	memcpy(f->page, "RAW-DIRECT", 10);
	ck_assert_int_eq(tmem_put(f->s, p, &o, 2, f->page), 0);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 2, f->out, 0), 0);
	ck_assert_mem_eq(f->out, f->page, TMEM_PAGE_SIZE);
	ck_assert_uint_eq(atomic_load(&f->mb.decodes), decodes);

	/* Get-and-free removes the page and, with it, the empty object. */
	ck_assert_int_eq(tmem_get(f->s, p, &o, 1, f->out, TMEM_GET_FREE), 0);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 1, f->out, 0), -ENOENT);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 0, f->out, TMEM_GET_FREE), 0);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 2, f->out, TMEM_GET_FREE), 0);
	ck_assert_int_eq(tmem_object_pages(f->s, p, &o), 0);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objects, 0);
	ck_assert_uint_eq(ps.pages, 0);
	ck_assert_uint_eq(ps.pampd_bytes, 0);
	ck_assert_int_eq(atomic_load(&f->mb.live), 0);
	ck_assert_int_eq(tmem_check(f->s), 0);
	fx_free(f);
}
END_TEST

START_TEST(test_radix_shapes)
{
	static const uint32_t idx[] = {
		0, 1, 15, 16, 17, 255, 256, 4095, 4096, 65535, 65536, 1u << 20, 1u << 24,
		(1u << 28) - 1, 1u << 28, 0x12345678, UINT32_MAX - 1, UINT32_MAX,
	};
	const unsigned n = sizeof(idx) / sizeof(idx[0]);
	/* Insert in several orders: ascending, descending, interleaved; each
	 * from an object whose first page is index 0 (height grows from a
	 * pampd in the root word) and from one whose first page is high. */
	for (unsigned order = 0; order < 3; order++) {
		struct fx *f = fx_new();
		int p = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
		struct tmem_oid o = oidn(3);
		for (unsigned j = 0; j < n; j++) {
			unsigned i = order == 0 ? j : order == 1 ? n - 1 - j : (j * 7) % n;
			put_ok(f, p, 3, idx[i]);
			ck_assert_int_eq(tmem_check(f->s), 0);
		}
		ck_assert_int_eq(tmem_object_pages(f->s, p, &o), n);
		for (unsigned j = 0; j < n; j++)
			get_ok(f, p, 3, idx[j]);
		/* Neighbours of stored indices are holes. */
		ck_assert_int_eq(tmem_get(f->s, p, &o, 2, f->out, 0), -ENOENT);
		ck_assert_int_eq(tmem_get(f->s, p, &o, 0x12345679, f->out, 0), -ENOENT);
		/* SEEK_DATA walk. */
		uint32_t at = 0, got;
		for (unsigned j = 0; j < n; j++) {
			ck_assert_int_eq(tmem_next_index(f->s, p, &o, at, &got), 0);
			ck_assert_uint_eq(got, idx[j]);
			at = got + 1;
			if (got == UINT32_MAX)
				break;
		}
		ck_assert_int_eq(tmem_next_index(f->s, p, &o, 2, &got), 0);
		ck_assert_uint_eq(got, 15);
		ck_assert_int_eq(tmem_next_index(f->s, p, &o, 0x12345679, &got), 0);
		ck_assert_uint_eq(got, UINT32_MAX - 1);
		/* Remove in another order; nodes go as they empty. */
		for (unsigned j = 0; j < n; j++) {
			unsigned i = (j * 5 + order) % n;
			ck_assert_int_eq(tmem_flush_page(f->s, p, &o, idx[i]), 0);
			ck_assert_int_eq(tmem_flush_page(f->s, p, &o, idx[i]), -ENOENT);
			ck_assert_int_eq(tmem_check(f->s), 0);
		}
		struct tmem_pool_stats ps;
		pstats(f, p, &ps);
		ck_assert_uint_eq(ps.objnodes, 0);
		ck_assert_uint_eq(ps.objects, 0);
		ck_assert_int_eq(tmem_next_index(f->s, p, &o, 0, &got), -ENOENT);
		ck_assert_int_eq(atomic_load(&f->host.nodes), 0);
		fx_free(f);
	}
}
END_TEST

START_TEST(test_metadata_size)
{
	/* A dense 1 MiB file costs 17 objnodes; a one-page file none. */
	struct fx *f = fx_new();
	int p = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	for (uint32_t i = 0; i < 256; i++)
		put_ok(f, p, 1, i);
	struct tmem_pool_stats ps;
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objnodes, 17);
	put_ok(f, p, 2, 0);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objnodes, 17);
	ck_assert_uint_eq(ps.objects, 2);
	put_ok(f, p, 2, 2);		/* 3-page file: one objnode */
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objnodes, 18);
	/* objects + objnodes + the bucket array (256 buckets) */
	ck_assert_uint_eq(ps.meta_bytes, 2 * TMEM_OBJ_SIZE + 18 * TMEM_OBJNODE_SIZE + 4096);
	fx_free(f);
}
END_TEST

START_TEST(test_flush_range)
{
	struct fx *f = fx_new();
	int p = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	struct tmem_oid o = oidn(9);
	ck_assert_int_eq(tmem_flush_range(f->s, p, &o, 5, 4), -EINVAL);
	ck_assert_int_eq(tmem_flush_range(f->s, p, &o, 0, UINT32_MAX), 0);	/* no object */
	for (uint32_t i = 0; i < 500; i++)
		put_ok(f, p, 9, i);
	put_ok(f, p, 9, UINT32_MAX);
	/* Punch a hole of 300 pages (several batches). */
	ck_assert_int_eq(tmem_flush_range(f->s, p, &o, 100, 399), 300);
	ck_assert_int_eq(tmem_check(f->s), 0);
	get_ok(f, p, 9, 99);
	get_ok(f, p, 9, 400);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 100, f->out, 0), -ENOENT);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 399, f->out, 0), -ENOENT);
	uint32_t got;
	ck_assert_int_eq(tmem_next_index(f->s, p, &o, 100, &got), 0);
	ck_assert_uint_eq(got, 400);
	ck_assert_int_eq(tmem_flush_range(f->s, p, &o, 100, 399), 0);
	/* Truncate to 10 pages: everything from 10 up, UINT32_MAX included. */
	ck_assert_int_eq(tmem_flush_range(f->s, p, &o, 10, UINT32_MAX), 500 - 300 - 10 + 1);
	ck_assert_int_eq(tmem_object_pages(f->s, p, &o), 10);
	ck_assert_int_eq(tmem_check(f->s), 0);
	/* Single page ranges, at the top. */
	put_ok(f, p, 9, UINT32_MAX);
	ck_assert_int_eq(tmem_flush_range(f->s, p, &o, UINT32_MAX, UINT32_MAX), 1);
	ck_assert_int_eq(tmem_flush_range(f->s, p, &o, 0, UINT32_MAX), 10);
	ck_assert_int_eq(tmem_object_pages(f->s, p, &o), 0);
	struct tmem_pool_stats ps;
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objects, 0);
	ck_assert_uint_eq(ps.flushes, 300 + 191 + 1 + 10);
	fx_free(f);
}
END_TEST

START_TEST(test_flush_object_and_pins)
{
	struct fx *f = fx_new();
	int p = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	struct tmem_oid o = oidn(4), q = oidn(5);
	struct tmem_pool_stats ps;
	ck_assert_int_eq(tmem_flush_object(f->s, p, &o), -ENOENT);
	for (uint32_t i = 0; i < 40; i++)
		put_ok(f, p, 4, i * 3);
	ck_assert_int_eq(tmem_flush_object(f->s, p, &o), 40);
	ck_assert_int_eq(tmem_flush_object(f->s, p, &o), -ENOENT);
	ck_assert_int_eq(atomic_load(&f->mb.live), 0);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objects, 0);
	ck_assert_uint_eq(ps.flush_objects, 1);
	ck_assert_uint_eq(ps.flushes, 40);

	/* A pin creates an empty object; unpin frees it. */
	ck_assert_int_eq(tmem_unpin(f->s, p, &q), -ENOENT);
	ck_assert_int_eq(tmem_pin(f->s, p, &q), 0);
	ck_assert_int_eq(tmem_pin(f->s, p, &q), 0);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objects, 1);
	ck_assert_uint_eq(ps.pinned_objects, 1);
	ck_assert_int_eq(tmem_check(f->s), 0);
	put_ok(f, p, 5, 1);
	/* A pinned object survives flush_object (empty) and page flushes. */
	ck_assert_int_eq(tmem_flush_object(f->s, p, &q), 1);
	ck_assert_int_eq(tmem_flush_object(f->s, p, &q), 0);
	put_ok(f, p, 5, 2);
	ck_assert_int_eq(tmem_flush_page(f->s, p, &q, 2), 0);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objects, 1);
	ck_assert_int_eq(tmem_unpin(f->s, p, &q), 0);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objects, 1);
	ck_assert_int_eq(tmem_unpin(f->s, p, &q), 0);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objects, 0);
	ck_assert_uint_eq(ps.pinned_objects, 0);
	ck_assert_int_eq(tmem_unpin(f->s, p, &q), -ENOENT);
	/* Unpinning an object with pages keeps it. */
	ck_assert_int_eq(tmem_pin(f->s, p, &q), 0);
	put_ok(f, p, 5, 3);
	ck_assert_int_eq(tmem_unpin(f->s, p, &q), 0);
	get_ok(f, p, 5, 3);
	ck_assert_int_eq(tmem_check(f->s), 0);
	fx_free(f);
}
END_TEST

START_TEST(test_set_kind_and_codec)
{
	struct fx *f = fx_new();
	int p = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	struct tmem_oid o = oidn(1);
	ck_assert_int_eq(tmem_pool_set_kind(f->s, p, 0), -EINVAL);
	ck_assert_int_eq(tmem_pool_set_kind(f->s, p, 3), -EINVAL);
	ck_assert_int_eq(tmem_pool_set_kind(f->s, p, TMEM_POOL_EPHEMERAL), 0);
	ck_assert_int_eq(tmem_pool_kind(f->s, p), TMEM_POOL_EPHEMERAL);
	ck_assert_int_eq(tmem_pool_set_kind(f->s, p, TMEM_POOL_EPHEMERAL), 0);
	put_ok(f, p, 1, 0);
	ck_assert_int_eq(tmem_pool_set_kind(f->s, p, TMEM_POOL_PERSISTENT), -EBUSY);
	ck_assert_int_eq(tmem_pool_kind(f->s, p), TMEM_POOL_EPHEMERAL);
	/* A pinned empty object does not make the pool busy. */
	ck_assert_int_eq(tmem_pin(f->s, p, &o), 0);
	ck_assert_int_eq(tmem_flush_page(f->s, p, &o, 0), 0);
	ck_assert_int_eq(tmem_pool_set_kind(f->s, p, TMEM_POOL_PERSISTENT), 0);
	ck_assert_int_eq(tmem_check(f->s), 0);
	put_ok(f, p, 1, 0);
	ck_assert_int_eq(tmem_unpin(f->s, p, &o), 0);
	ck_assert_int_eq(tmem_check(f->s), 0);	/* persistent: stays off any LRU */
	ck_assert_int_eq(tmem_evict(f->s, p, 1, NULL, NULL), -EINVAL);

	/* The codec id reaches create. */
	ck_assert_int_eq(tmem_pool_set_codec(f->s, p, 5), 0);
	put_ok(f, p, 1, 1);
	ck_assert_uint_eq(atomic_load(&f->mb.last_codec), 5);
	struct tmem_pool_stats ps;
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.codec, 5);
	ck_assert_uint_eq(ps.kind, TMEM_POOL_PERSISTENT);
	fx_free(f);
}
END_TEST

START_TEST(test_put_failures)
{
	struct fx *f = fx_new();
	int p = tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL);
	struct tmem_oid o = oidn(2);
	struct tmem_pool_stats ps;
	put_ok(f, p, 2, 0);

	/* The backend refuses: the old page stays. */
	atomic_store(&f->mb.fail_next, -ENOSPC);
	pat(f->page, 77, 77);
	ck_assert_int_eq(tmem_put(f->s, p, &o, 0, f->page), -ENOSPC);
	get_ok(f, p, 2, 0);
	atomic_store(&f->mb.fail_next, -ENOMEM);
	ck_assert_int_eq(tmem_put(f->s, p, &o, 5, f->page), -ENOMEM);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 5, f->out, 0), -ENOENT);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.failed_puts, 2);

	/* Every metadata allocation fails: new objects and new paths are
	 * refused, the store is unchanged and the new pampd freed. */
	atomic_store(&f->host.fail_permille, 1000);
	struct tmem_oid q = oidn(3);
	ck_assert_int_eq(tmem_put(f->s, p, &q, 0, f->page), -ENOMEM);	/* object */
	ck_assert_int_eq(tmem_put(f->s, p, &o, 1, f->page), -ENOMEM);	/* height 0 -> 1 */
	ck_assert_int_eq(tmem_put(f->s, p, &o, 0x10000, f->page), -ENOMEM); /* deep path */
	ck_assert_int_eq(tmem_pin(f->s, p, &q), -ENOMEM);
	ck_assert_int_eq(atomic_load(&f->mb.live), 1);
	ck_assert_int_eq(tmem_check(f->s), 0);
	/* A replace allocates nothing and still works. */
	ck_assert_int_eq(tmem_put(f->s, p, &o, 0, f->page), 0);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 0, f->out, 0), 0);
	ck_assert_mem_eq(f->out, f->page, TMEM_PAGE_SIZE);
	atomic_store(&f->host.fail_permille, 0);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.failed_puts, 5);
	ck_assert_uint_eq(ps.objects, 1);
	ck_assert_uint_eq(ps.pages, 1);

	/* Fail the k-th allocation of a deep insertion for every k. */
	for (uint32_t i = 1; i < 40; i++) {
		uint32_t idx = (uint32_t)(0x9e3779b9u * i);
		for (;;) {
			atomic_store(&f->host.fail_permille, 500);
			pat(f->page, 2, idx);
			int r = tmem_put(f->s, p, &o, idx, f->page);
			atomic_store(&f->host.fail_permille, 0);
			ck_assert_int_eq(tmem_check(f->s), 0);
			if (r == 0)
				break;
			ck_assert_int_eq(r, -ENOMEM);
			ck_assert_int_eq(tmem_get(f->s, p, &o, idx, f->out, 0), -ENOENT);
		}
		get_ok(f, p, 2, idx);
	}
	fx_free(f);
}
END_TEST

START_TEST(test_corrupt_pages)
{
	struct fx *f = fx_new();
	int p = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	struct tmem_oid o = oidn(6);
	struct tmem_pool_stats ps;

	pat(f->page, 6, 0);
	memcpy(f->page, "CORRUPT-GETLOCK", 15);
	ck_assert_int_eq(tmem_put(f->s, p, &o, 0, f->page), 0);
	/* A failed get keeps failing, with or without FREE, until the next put. */
	ck_assert_int_eq(tmem_get(f->s, p, &o, 0, f->out, 0), -EIO);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 0, f->out, TMEM_GET_FREE), -EIO);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 0, f->out, 0), -EIO);
	put_ok(f, p, 6, 0);
	get_ok(f, p, 6, 0);

	pat(f->page, 6, 1);
	memcpy(f->page, "CORRUPT-DECODE", 14);
	ck_assert_int_eq(tmem_put(f->s, p, &o, 1, f->page), 0);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 1, f->out, 0), -EIO);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 1, f->out, 0), -EIO);
	/* get-and-free of a page that fails to decode drops it. */
	ck_assert_int_eq(tmem_get(f->s, p, &o, 1, f->out, TMEM_GET_FREE), -EIO);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 1, f->out, 0), -ENOENT);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.failed_gets, 7);
	ck_assert_uint_eq(ps.pages, 1);
	ck_assert_int_eq(atomic_load(&f->mb.live), 1);
	fx_free(f);
}
END_TEST

struct evlog {
	unsigned n;
	uint32_t pool[64];
	uint64_t oid0[64];
	uint64_t pages[64];
	uint64_t bytes;
};

static void evlog_cb(void *arg, uint32_t pool, const struct tmem_oid *oid, uint64_t pages,
		     uint64_t bytes)
{
	struct evlog *l = arg;
	ck_assert_uint_lt(l->n, 64);
	l->pool[l->n] = pool;
	l->oid0[l->n] = oid->oid[0];
	l->pages[l->n] = pages;
	l->n++;
	l->bytes += bytes;
}

START_TEST(test_evict_lru)
{
	struct fx *f = fx_new();
	int p = tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL);
	struct tmem_oid o;
	struct evlog l;
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(tmem_evict(f->s, p, 1000, evlog_cb, &l), 0);	/* empty */

	for (uint64_t n = 1; n <= 6; n++)
		for (uint32_t i = 0; i < n; i++)
			put_ok(f, p, n, i);
	/* Touch 1 by a get and 2 by a put: order now 3 4 5 6 1 2. */
	get_ok(f, p, 1, 0);
	put_ok(f, p, 2, 1);
	/* Pin 3: order of candidates 4 5 6 1 2. */
	o = oidn(3);
	ck_assert_int_eq(tmem_pin(f->s, p, &o), 0);
	ck_assert_int_eq(tmem_check(f->s), 0);

	/* Ask for one byte: exactly one whole object goes. */
	ck_assert_int_eq(tmem_evict(f->s, p, 1, evlog_cb, &l), (int64_t)l.bytes);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.oid0[0], 4);
	ck_assert_uint_eq(l.pages[0], 4);
	ck_assert_uint_eq(l.pool[0], (uint32_t)p);
	ck_assert_uint_ge(l.bytes, 4 * sizeof(struct mb_page) + TMEM_OBJ_SIZE);
	o = oidn(4);
	ck_assert_int_eq(tmem_get(f->s, p, &o, 0, f->out, 0), -ENOENT);
	/* Two objects' worth: 5 and 6. */
	int64_t r = tmem_evict(f->s, p, 6 * sizeof(struct mb_page), evlog_cb, &l);
	ck_assert_int_gt(r, 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_uint_eq(l.oid0[1], 5);
	ck_assert_uint_eq(l.oid0[2], 6);
	/* Everything: 1 then 2; 3 is pinned and stays. */
	r = tmem_evict(f->s, p, UINT64_MAX, evlog_cb, &l);
	ck_assert_int_gt(r, 0);
	ck_assert_uint_eq(l.n, 5);
	ck_assert_uint_eq(l.oid0[3], 1);
	ck_assert_uint_eq(l.oid0[4], 2);
	get_ok(f, p, 3, 2);
	struct tmem_pool_stats ps;
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.evictions, 5);
	ck_assert_uint_eq(ps.evicted_pages, 4 + 5 + 6 + 1 + 2);
	ck_assert_uint_eq(ps.objects, 1);
	/* Unpinned, 3 becomes evictable. */
	o = oidn(3);
	ck_assert_int_eq(tmem_unpin(f->s, p, &o), 0);
	ck_assert_int_gt(tmem_evict(f->s, p, 1, NULL, NULL), 0);
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objects, 0);
	ck_assert_int_eq(tmem_evict(f->s, p, 0, NULL, NULL), 0);
	fx_free(f);
}
END_TEST

/* tmem_move_object: pages keep their codec and bytes, pins and counts
 * travel, the LRU of each pool follows, errors change nothing. */
START_TEST(test_move_object)
{
	struct fx *f = fx_new();
	int pp = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	int ep = tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL);
	struct tmem_oid o = oidn(7), q = oidn(8);
	struct tmem_pool_stats ps, es;
	uint64_t creates;
	struct evlog l;
	memset(&l, 0, sizeof(l));

	ck_assert_int_eq(tmem_move_object(f->s, pp, ep, &o), -ENOENT);
	ck_assert_int_eq(tmem_move_object(f->s, pp, 99, &o), -EINVAL);
	ck_assert_int_eq(tmem_move_object(f->s, -1, ep, &o), -EINVAL);
	/* 40 pages written with codec 3 in the persistent pool (a deep tree). */
	ck_assert_int_eq(tmem_pool_set_codec(f->s, pp, 3), 0);
	ck_assert_int_eq(tmem_pool_set_codec(f->s, ep, 9), 0);
	for (uint32_t i = 0; i < 40; i++)
		put_ok(f, pp, 7, i * 37);
	memset(f->page, 0, TMEM_PAGE_SIZE);		/* one same-filled page too */
	ck_assert_int_eq(tmem_put(f->s, pp, &o, 5000, f->page), 0);
	pstats(f, pp, &ps);
	ck_assert_uint_eq(ps.pages, 41);
	uint64_t bytes = ps.pampd_bytes, nodes = ps.objnodes;
	ck_assert_uint_gt(nodes, 1);
	ck_assert_int_eq(tmem_move_object(f->s, pp, pp, &o), 0);	/* same pool: nothing */

	/* Moved as it is: no page is created or decoded again. */
	creates = atomic_load(&f->mb.creates);
	uint64_t decodes = atomic_load(&f->mb.decodes);
	ck_assert_int_eq(tmem_move_object(f->s, pp, ep, &o), 0);
	ck_assert_uint_eq(atomic_load(&f->mb.creates), creates);
	ck_assert_uint_eq(atomic_load(&f->mb.decodes), decodes);
	ck_assert_int_eq(tmem_check(f->s), 0);
	pstats(f, pp, &ps);
	pstats(f, ep, &es);
	ck_assert_uint_eq(ps.pages, 0);
	ck_assert_uint_eq(ps.objects, 0);
	ck_assert_uint_eq(ps.pampd_bytes, 0);
	ck_assert_uint_eq(ps.objnodes, 0);
	ck_assert_uint_eq(ps.puts, 41);		/* history stays where it happened */
	ck_assert_uint_eq(es.pages, 41);
	ck_assert_uint_eq(es.objects, 1);
	ck_assert_uint_eq(es.pampd_bytes, bytes);
	ck_assert_uint_eq(es.objnodes, nodes);
	ck_assert_uint_eq(es.puts, 0);
	for (uint32_t i = 0; i < 40; i++)
		get_ok(f, ep, 7, i * 37);
	ck_assert_int_eq(tmem_get(f->s, pp, &o, 0, f->out, 0), -ENOENT);
	/* Pages were not re-created (their codec is the one they had); a
	 * later put takes the new pool's codec. */
	put_ok(f, ep, 7, 1);
	ck_assert_uint_eq(atomic_load(&f->mb.last_codec), 9);
	ck_assert_int_eq(tmem_object_pages(f->s, ep, &o), 42);

	/* Unpinned in the ephemeral pool: it is on its LRU, evictable. */
	put_ok(f, ep, 8, 0);		/* a newer object */
	ck_assert_int_eq(tmem_move_object(f->s, ep, pp, &q), 0);
	ck_assert_int_eq(tmem_move_object(f->s, pp, ep, &q), 0);	/* most recent again */
	ck_assert_int_eq(tmem_check(f->s), 0);
	ck_assert_int_gt(tmem_evict(f->s, ep, 1, evlog_cb, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.oid0[0], 7);	/* the moved object, least recent */
	ck_assert_uint_eq(l.pages[0], 42);

	/* Pins travel: pinned in the ephemeral pool, moved to the persistent
	 * one and back, unpinned where it is. */
	ck_assert_int_eq(tmem_pin(f->s, ep, &q), 0);
	ck_assert_int_eq(tmem_pin(f->s, ep, &q), 0);
	ck_assert_int_eq(tmem_move_object(f->s, ep, pp, &q), 0);
	pstats(f, pp, &ps);
	pstats(f, ep, &es);
	ck_assert_uint_eq(ps.pinned_objects, 1);
	ck_assert_uint_eq(es.pinned_objects, 0);
	ck_assert_int_eq(tmem_unpin(f->s, ep, &q), -ENOENT);
	ck_assert_int_eq(tmem_unpin(f->s, pp, &q), 0);
	ck_assert_int_eq(tmem_move_object(f->s, pp, ep, &q), 0);
	ck_assert_int_eq(tmem_check(f->s), 0);
	ck_assert_int_eq(tmem_evict(f->s, ep, UINT64_MAX, NULL, NULL), 0);	/* still pinned */
	ck_assert_int_eq(tmem_unpin(f->s, ep, &q), 0);
	ck_assert_int_eq(tmem_check(f->s), 0);
	pstats(f, ep, &es);
	ck_assert_uint_eq(es.pinned_objects, 0);
	ck_assert_uint_eq(es.objects, 1);
	/* An empty pinned object moves too (an open file never written). */
	ck_assert_int_eq(tmem_pin(f->s, pp, &o), 0);
	ck_assert_int_eq(tmem_move_object(f->s, pp, ep, &o), 0);
	ck_assert_int_eq(tmem_check(f->s), 0);
	/* A clash changes nothing. */
	put_ok(f, pp, 8, 3);
	ck_assert_int_eq(tmem_move_object(f->s, pp, ep, &q), -EEXIST);
	get_ok(f, pp, 8, 3);
	get_ok(f, ep, 8, 0);
	ck_assert_int_eq(tmem_check(f->s), 0);
	ck_assert_int_eq(tmem_unpin(f->s, ep, &o), 0);
	ck_assert_int_eq(tmem_check(f->s), 0);
	fx_free(f);
}
END_TEST

START_TEST(test_evict_global_order)
{
	struct fx *f = fx_new();
	int a = tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL);
	int per = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	int b = tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL);
	struct evlog l;
	memset(&l, 0, sizeof(l));
	/* Interleave touches across pools: a1 b2 a3 b4 per5, then touch a1. */
	put_ok(f, a, 1, 0);
	put_ok(f, b, 2, 0);
	put_ok(f, a, 3, 0);
	put_ok(f, b, 4, 0);
	put_ok(f, per, 5, 0);
	get_ok(f, a, 1, 0);
	int64_t r = tmem_evict(f->s, TMEM_ALL_POOLS, UINT64_MAX, evlog_cb, &l);
	ck_assert_int_eq(r, (int64_t)l.bytes);
	ck_assert_uint_eq(l.n, 4);
	ck_assert_uint_eq(l.oid0[0], 2);
	ck_assert_uint_eq(l.pool[0], (uint32_t)b);
	ck_assert_uint_eq(l.oid0[1], 3);
	ck_assert_uint_eq(l.oid0[2], 4);
	ck_assert_uint_eq(l.oid0[3], 1);
	ck_assert_uint_eq(l.pool[3], (uint32_t)a);
	get_ok(f, per, 5, 0);		/* persistent pools never lose data */
	struct tmem_stats st;
	tmem_stats(f->s, &st);
	ck_assert_uint_eq(st.evictions, 4);
	ck_assert_uint_eq(st.pages, 1);
	fx_free(f);
}
END_TEST

/* tmem_lru_oldest: the order tmem_evict would take (the same interleaving
 * as above), cut at max, without evicting or touching anything; pinned
 * objects and persistent pools are not listed. */
START_TEST(test_lru_oldest)
{
	struct fx *f = fx_new();
	int a = tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL);
	int per = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	int b = tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL);
	struct tmem_lru_entry e[8];
	struct tmem_oid o6 = oidn(6);
	struct tmem_stats st;

	ck_assert_uint_eq(tmem_lru_oldest(f->s, e, 8), 0);
	put_ok(f, a, 1, 0);
	put_ok(f, b, 2, 0);
	put_ok(f, a, 3, 0);
	put_ok(f, b, 4, 0);
	put_ok(f, per, 5, 0);
	put_ok(f, a, 6, 0);
	ck_assert_int_eq(tmem_pin(f->s, a, &o6), 0);
	get_ok(f, a, 1, 0);
	ck_assert_uint_eq(tmem_lru_oldest(f->s, e, 8), 4);
	ck_assert_uint_eq(e[0].oid.oid[0], 2);
	ck_assert_uint_eq(e[0].pool, (uint32_t)b);
	ck_assert_uint_eq(e[1].oid.oid[0], 3);
	ck_assert_uint_eq(e[2].oid.oid[0], 4);
	ck_assert_uint_eq(e[3].oid.oid[0], 1);
	ck_assert_uint_eq(e[3].pool, (uint32_t)a);
	for (int k = 1; k < 4; k++)
		ck_assert_uint_lt(e[k - 1].stamp, e[k].stamp);
	/* Cut at 2: still the two oldest of the store. */
	ck_assert_uint_eq(tmem_lru_oldest(f->s, e, 2), 2);
	ck_assert_uint_eq(e[0].oid.oid[0], 2);
	ck_assert_uint_eq(e[1].oid.oid[0], 3);
	ck_assert_uint_eq(tmem_lru_oldest(f->s, e, 0), 0);
	/* Nothing was evicted or touched: eviction still takes 2 first. */
	tmem_stats(f->s, &st);
	ck_assert_uint_eq(st.evictions, 0);
	ck_assert_uint_eq(tmem_lru_oldest(f->s, e, 1), 1);
	ck_assert_uint_eq(e[0].oid.oid[0], 2);
	ck_assert_int_eq(tmem_unpin(f->s, a, &o6), 0);
	ck_assert_int_eq(tmem_check(f->s), 0);
	fx_free(f);
}
END_TEST

START_TEST(test_table_growth)
{
	struct fx *f = fx_new();
	int p = tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL);
	memset(f->page, 0, TMEM_PAGE_SIZE);
	for (uint64_t n = 0; n < 20000; n++) {
		struct tmem_oid o = { { n, 0, 0 } };	/* sequential ids: a poor key set */
		f->page[0] = (unsigned char)n;
		f->page[1] = (unsigned char)(n >> 8);
		ck_assert_int_eq(tmem_put(f->s, p, &o, (uint32_t)(n % 3), f->page), 0);
	}
	struct tmem_pool_stats ps;
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objects, 20000);
	ck_assert_uint_ge(ps.buckets, 20000 / 2);
	ck_assert_uint_eq(ps.resizes, 6);	/* 256 -> 16384 buckets */
	ck_assert_int_eq(tmem_check(f->s), 0);
	for (uint64_t n = 0; n < 20000; n += 7) {
		struct tmem_oid o = { { n, 0, 0 } };
		ck_assert_int_eq(tmem_get(f->s, p, &o, (uint32_t)(n % 3), f->out, 0), 0);
		ck_assert_uint_eq(f->out[0], (unsigned char)n);
		ck_assert_uint_eq(f->out[1], (unsigned char)(n >> 8));
	}
	ck_assert_int_eq(tmem_check(f->s), 0);
	fx_free(f);
}
END_TEST

START_TEST(test_tree_without_growth)
{
	/* With table growth refused, 4000 objects share 256 buckets: the
	 * red-black trees get deep and every insert and erase case runs. */
	struct fx *f = fx_new();
	int p = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	uint64_t r = zc_test_seed();
	enum { N = 4000 };
	static uint64_t keys[N];
	memset(f->page, 7, TMEM_PAGE_SIZE);
	atomic_store(&f->host.deny_mem, 1);
	for (unsigned i = 0; i < N; i++)
		keys[i] = zc_rand(&r);
	for (unsigned i = 0; i < N; i++) {
		struct tmem_oid o = { { keys[i] & 0xff, keys[i], 1 } };
		ck_assert_int_eq(tmem_put(f->s, p, &o, 0, f->page), 0);
		if (i % 500 == 0)
			ck_assert_int_eq(tmem_check(f->s), 0);
	}
	struct tmem_pool_stats ps;
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.buckets, 256);
	ck_assert_uint_eq(ps.objects, N);
	ck_assert_int_eq(tmem_check(f->s), 0);
	/* Erase in a scrambled order (3 is coprime with N). */
	for (unsigned i = 0; i < N; i++) {
		unsigned k = (i * 3) % N;
		struct tmem_oid o = { { keys[k] & 0xff, keys[k], 1 } };
		ck_assert_int_eq(tmem_flush_object(f->s, p, &o), 1);
		if (i % 256 == 0)
			ck_assert_int_eq(tmem_check(f->s), 0);
	}
	pstats(f, p, &ps);
	ck_assert_uint_eq(ps.objects, 0);
	atomic_store(&f->host.deny_mem, 0);
	fx_free(f);
}
END_TEST

/* ---- model and stress ----------------------------------------------- */

static struct mb model_mb;

static struct tm_backend mb_backend(struct mb *m)
{
	struct tm_backend be = {
		.name = "mb",
		.ops = &mb_ops,
		.ctx = m,
		.ncodecs = 4,
		.set_fail = mb_set_fail,
		.live = mb_live,
	};
	return be;
}

/* ---- densify -------------------------------------------------------- */

static struct tmem_pool_stats dstats(struct fx *f, int pool)
{
	struct tmem_pool_stats ps;
	ck_assert_int_eq(tmem_pool_stats(f->s, pool, &ps), 0);
	return ps;
}

START_TEST(test_densify_basic)
{
	struct fx *f = fx_new();
	int pool = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	struct tmem_oid o = oidn(5);
	struct tmem_densify_result res;
	void *buf = malloc(TMEM_DENSIFY_BUF);
	ck_assert_ptr_nonnull(buf);

	/* Two groups: 16..31 full, 35, 40 and a zero page at 41. */
	for (uint32_t i = 16; i < 32; i++)
		put_ok(f, pool, 5, i);
	put_ok(f, pool, 5, 35);
	put_ok(f, pool, 5, 40);
	memset(f->page, 0, TMEM_PAGE_SIZE);
	ck_assert_int_eq(tmem_put(f->s, pool, &o, 41, f->page), 0);
	uint64_t before = dstats(f, pool).pampd_bytes;

	ck_assert_int_eq(tmem_densify(f->s, pool, &o, 0, 0, buf, &res), 1);
	ck_assert_uint_eq(res.first, 16);
	ck_assert_uint_eq(res.next, 32);
	ck_assert_uint_eq(res.pages, 16);
	ck_assert_uint_eq(res.old_bytes, 16 * sizeof(struct mb_page));
	ck_assert_uint_eq(res.new_bytes, MB_UNIT_FOOT(16));
	ck_assert_int_eq(atomic_load(&f->mb.units), 1);
	struct tmem_pool_stats ps = dstats(f, pool);
	ck_assert_uint_eq(ps.pampd_bytes, before - res.old_bytes + res.new_bytes);
	ck_assert_uint_eq(ps.repacks, 1);
	ck_assert_uint_eq(ps.repacked_pages, 16);
	ck_assert_uint_eq(ps.pages, 19);
	ck_assert_int_eq(tmem_check(f->s), 0);
	for (uint32_t i = 16; i < 32; i++)
		get_ok(f, pool, 5, i);

	/* Already one unit: nothing to gain; the next group from `next`. */
	ck_assert_int_eq(tmem_densify(f->s, pool, &o, 20, 0, buf, &res), 0);
	ck_assert_uint_eq(res.first, 16);
	ck_assert_int_eq(tmem_densify(f->s, pool, &o, 32, 0, buf, &res), 1);
	ck_assert_uint_eq(res.first, 32);
	ck_assert_uint_eq(res.pages, 2);	/* the zero page keeps its form */
	ck_assert_int_eq(tmem_densify(f->s, pool, &o, 48, 0, buf, &res), -ENOENT);
	get_ok(f, pool, 5, 35);
	get_ok(f, pool, 5, 40);
	ck_assert_int_eq(tmem_get(f->s, pool, &o, 41, f->out, 0), 0);
	ck_assert_uint_eq(f->out[100], 0);

	/* A put into a unit replaces only its page: the unit stays for the
	 * others and is retired when its last page goes. */
	put_ok(f, pool, 5, 17);
	get_ok(f, pool, 5, 17);
	get_ok(f, pool, 5, 18);
	ck_assert_int_eq(atomic_load(&f->mb.units), 2);
	ck_assert_int_eq(tmem_flush_range(f->s, pool, &o, 16, 31), 16);
	ck_assert_int_eq(atomic_load(&f->mb.units), 1);
	ck_assert_int_eq(tmem_check(f->s), 0);

	/* Errors. */
	ck_assert_int_eq(tmem_densify(f->s, pool, &o, 0, 0, NULL, &res), -EINVAL);
	ck_assert_int_eq(tmem_densify(f->s, 77, &o, 0, 0, buf, &res), -EINVAL);
	struct tmem_oid none = oidn(99);
	ck_assert_int_eq(tmem_densify(f->s, pool, &none, 0, 0, buf, &res), -ENOENT);
	free(buf);
	fx_free(f);
}
END_TEST

/* A store whose backend cannot repack refuses densify; one op alone is a
 * bad table. */
START_TEST(test_densify_unsupported)
{
	struct mb mb = { 0 };
	struct tm_host host;
	memset(&host, 0, sizeof(host));
	struct tmem_pamops ops = mb_ops;
	ops.repack = NULL;
	errno = 0;
	ck_assert_ptr_null(tmem_store_create(&ops, &mb, &tm_hostops, &host));
	ck_assert_int_eq(errno, EINVAL);
	ops.repack_plan = NULL;
	struct tmem_store *s = tmem_store_create(&ops, &mb, &tm_hostops, &host);
	ck_assert_ptr_nonnull(s);
	int pool = tmem_new_pool(s, TMEM_POOL_PERSISTENT);
	struct tmem_oid o = oidn(1);
	struct tmem_densify_result res;
	unsigned char page[TMEM_PAGE_SIZE];
	void *buf = malloc(TMEM_DENSIFY_BUF);
	pat(page, 1, 0);
	ck_assert_int_eq(tmem_put(s, pool, &o, 0, page), 0);
	ck_assert_int_eq(tmem_densify(s, pool, &o, 0, 0, buf, &res), -EOPNOTSUPP);
	tmem_store_destroy(s);
	free(buf);
}
END_TEST

/* A write in the middle of a densify wins: at the swap (a put while the
 * backend packs) and in the read phase (a flush while a unit page is
 * decoded).  Nothing leaks, the written data stays. */
struct conflict {
	struct fx *f;
	int pool;
	uint32_t index;
	int what;		/* 0: put at repack, 1: flush at read */
	int fired;
};

static void conflict_hook(struct mb *m, int where)
{
	struct conflict *c = m->hook_arg;
	if (c->fired || where != c->what)
		return;
	c->fired = 1;
	struct tmem_oid o = oidn(8);
	if (c->what == 0) {
		pat(c->f->page, 9, c->index);	/* other data */
		ck_assert_int_eq(tmem_put(c->f->s, c->pool, &o, c->index, c->f->page), 0);
	} else {
		ck_assert_int_eq(tmem_flush_page(c->f->s, c->pool, &o, c->index), 0);
	}
}

START_TEST(test_densify_conflict)
{
	struct fx *f = fx_new();
	int pool = tmem_new_pool(f->s, TMEM_POOL_PERSISTENT);
	struct tmem_oid o = oidn(8);
	struct tmem_densify_result res;
	void *buf = malloc(TMEM_DENSIFY_BUF);
	struct conflict c = { f, pool, 3, 0, 0 };

	for (uint32_t i = 0; i < 16; i++)
		put_ok(f, pool, 8, i);
	f->mb.hook = conflict_hook;
	f->mb.hook_arg = &c;
	ck_assert_int_eq(tmem_densify(f->s, pool, &o, 0, 0, buf, &res), -EAGAIN);
	ck_assert_int_eq(c.fired, 1);
	ck_assert_int_eq(atomic_load(&f->mb.units), 0);	/* the new unit was dropped */
	ck_assert_uint_eq(dstats(f, pool).repack_conflicts, 1);
	ck_assert_int_eq(tmem_check(f->s), 0);
	pat(f->page, 9, 3);
	ck_assert_int_eq(tmem_get(f->s, pool, &o, 3, f->out, 0), 0);
	ck_assert_mem_eq(f->out, f->page, TMEM_PAGE_SIZE);

	/* Now densify for real, put back page 3 beside the unit, and flush
	 * a unit page while the re-densify reads the group. */
	f->mb.hook = NULL;
	ck_assert_int_eq(tmem_densify(f->s, pool, &o, 0, 0, buf, &res), 1);
	put_ok(f, pool, 8, 3);
	c = (struct conflict){ f, pool, 7, 1, 0 };
	f->mb.hook = conflict_hook;
	ck_assert_int_eq(tmem_densify(f->s, pool, &o, 0, 0, buf, &res), -EAGAIN);
	ck_assert_int_eq(c.fired, 1);
	ck_assert_uint_eq(dstats(f, pool).repack_conflicts, 2);
	f->mb.hook = NULL;
	ck_assert_int_eq(tmem_get(f->s, pool, &o, 7, f->out, 0), -ENOENT);
	for (uint32_t i = 0; i < 16; i++)
		if (i != 7)
			get_ok(f, pool, 8, i);
	/* And once nothing interferes, the group (a unit with a dead slot
	 * and a page alone) becomes one unit again. */
	ck_assert_int_eq(tmem_densify(f->s, pool, &o, 0, 0, buf, &res), 1);
	ck_assert_uint_eq(res.pages, 15);
	ck_assert_int_eq(atomic_load(&f->mb.units), 1);
	ck_assert_int_eq(tmem_check(f->s), 0);
	free(buf);
	fx_free(f);
}
END_TEST

/* Densify reads an ephemeral object without making it recent. */
START_TEST(test_densify_keeps_lru)
{
	struct fx *f = fx_new();
	int pool = tmem_new_pool(f->s, TMEM_POOL_EPHEMERAL);
	struct tmem_oid a = oidn(1), b = oidn(2);
	struct tmem_densify_result res;
	void *buf = malloc(TMEM_DENSIFY_BUF);
	uint64_t evicted = 0;

	for (uint32_t i = 0; i < 8; i++)
		put_ok(f, pool, 1, i);
	put_ok(f, pool, 2, 0);
	ck_assert_int_eq(tmem_densify(f->s, pool, &a, 0, 0, buf, &res), 1);
	ck_assert_int_gt(tmem_evict(f->s, pool, 1, NULL, NULL), 0);
	evicted = (uint64_t)tmem_object_pages(f->s, pool, &a);
	ck_assert_uint_eq(evicted, 0);		/* a went first */
	ck_assert_int_eq(tmem_object_pages(f->s, pool, &b), 1);
	ck_assert_int_eq(atomic_load(&f->mb.units), 0);
	free(buf);
	fx_free(f);
}
END_TEST

START_TEST(test_model)
{
	memset(&model_mb, 0, sizeof(model_mb));
	struct tm_backend be = mb_backend(&model_mb);
	tm_run_model(&be, zc_test_seed(), 250000, 0);
}
END_TEST

START_TEST(test_model_failures)
{
	memset(&model_mb, 0, sizeof(model_mb));
	struct tm_backend be = mb_backend(&model_mb);
	tm_run_model(&be, zc_test_seed() + 1, 100000, 20);
}
END_TEST

START_TEST(test_stress)
{
	memset(&model_mb, 0, sizeof(model_mb));
	struct tm_backend be = mb_backend(&model_mb);
	tm_run_stress(&be, zc_test_seed(), 4, 40000);
}
END_TEST

START_TEST(test_stress_two)
{
	memset(&model_mb, 0, sizeof(model_mb));
	struct tm_backend be = mb_backend(&model_mb);
	tm_run_stress(&be, zc_test_seed() + 7, 2, 60000);
}
END_TEST

/* Store-wide eviction racing pools being filled and destroyed: a pool
 * destroyed mid-eviction waits for the one object being evicted, the
 * callback never sees a pool twice for one object, nothing leaks. */
struct evrace {
	struct fx *f;
	_Atomic int stop;
	_Atomic uint64_t calls;
};

static void evrace_cb(void *arg, uint32_t pool, const struct tmem_oid *oid, uint64_t pages,
		      uint64_t bytes)
{
	struct evrace *e = arg;
	(void)pool;
	(void)oid;
	ck_assert_uint_gt(pages, 0);
	ck_assert_uint_gt(bytes, 0);
	atomic_fetch_add(&e->calls, 1);
}

static void *evrace_evictor(void *arg)
{
	struct evrace *e = arg;
	while (!atomic_load(&e->stop))
		if (tmem_evict(e->f->s, TMEM_ALL_POOLS, 50000, evrace_cb, e) < 0)
			abort();
	return NULL;
}

START_TEST(test_evict_vs_destroy)
{
	struct evrace e;
	memset(&e, 0, sizeof(e));
	e.f = fx_new();
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, evrace_evictor, &e), 0);
	unsigned char page[TMEM_PAGE_SIZE];
	for (unsigned round = 0; round < 200; round++) {
		int p = tmem_new_pool(e.f->s, TMEM_POOL_EPHEMERAL);
		ck_assert_int_ge(p, 0);
		for (uint64_t n = 0; n < 20; n++) {
			struct tmem_oid o = oidn(n);
			for (uint32_t i = 0; i < 4; i++) {
				pat(page, n, i + round);
				ck_assert_int_eq(tmem_put(e.f->s, p, &o, i, page), 0);
			}
		}
		ck_assert_int_eq(tmem_destroy_pool(e.f->s, p), 0);
	}
	/* One more object: the evictor takes it sooner or later. */
	int p = tmem_new_pool(e.f->s, TMEM_POOL_EPHEMERAL);
	struct tmem_oid o = oidn(1);
	pat(page, 1, 1);
	ck_assert_int_eq(tmem_put(e.f->s, p, &o, 0, page), 0);
	while (tmem_object_pages(e.f->s, p, &o) != 0)
		sched_yield();
	atomic_store(&e.stop, 1);
	pthread_join(th, NULL);
	ck_assert_uint_gt(atomic_load(&e.calls), 0);
	fx_free(e.f);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("tmem");
	TCase *tc = tcase_create("unit");
	tcase_add_test(tc, test_store_create_errors);
	tcase_add_test(tc, test_pools);
	tcase_add_test(tc, test_bad_pool);
	tcase_add_test(tc, test_put_get_replace);
	tcase_add_test(tc, test_radix_shapes);
	tcase_add_test(tc, test_metadata_size);
	tcase_add_test(tc, test_flush_range);
	tcase_add_test(tc, test_flush_object_and_pins);
	tcase_add_test(tc, test_set_kind_and_codec);
	tcase_add_test(tc, test_put_failures);
	tcase_add_test(tc, test_corrupt_pages);
	tcase_add_test(tc, test_evict_lru);
	tcase_add_test(tc, test_evict_global_order);
	tcase_add_test(tc, test_lru_oldest);
	tcase_add_test(tc, test_move_object);
	tcase_add_test(tc, test_table_growth);
	tcase_add_test(tc, test_tree_without_growth);
	tcase_add_test(tc, test_densify_basic);
	tcase_add_test(tc, test_densify_unsupported);
	tcase_add_test(tc, test_densify_conflict);
	tcase_add_test(tc, test_densify_keeps_lru);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);

	TCase *tm = tcase_create("model");
	tcase_add_test(tm, test_model);
	tcase_add_test(tm, test_model_failures);
	tcase_set_timeout(tm, 600);
	suite_add_tcase(s, tm);

	TCase *ts = tcase_create("stress");
	tcase_add_test(ts, test_stress);
	tcase_add_test(ts, test_stress_two);
	tcase_add_test(ts, test_evict_vs_destroy);
	tcase_set_timeout(ts, 600);
	suite_add_tcase(s, ts);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
