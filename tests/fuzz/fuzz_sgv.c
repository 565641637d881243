/* tests/fuzz/fuzz_sgv.c - alloc/sgv (the SGV cache) driven by arbitrary
 * operation sequences.
 *
 * Input: a few bytes choosing the setup (a set-of-buffers pool with the
 * chosen clustering and purge interval, a fixed-size pool, a shared pool
 * found again by name, a mem_lim cap), then operations: allocate a vector of
 * any size with any flags, free one, advance the fake clock, purge, shrink,
 * flush, set watermarks, check, arm or disarm fault injection on the page
 * allocator.  The model is the list of live vectors with their sizes and
 * pattern seeds: every vector has the shape sgv.h promises (page-aligned
 * entries, whole pages but the last, exactly `size` bytes) and is stamped
 * on every page when handed out and verified before it is freed (two live
 * vectors sharing a page break a stamp); mem_lim's charge matches the
 * model; sgv_ctx_check passes after every check operation and at the end,
 * and every page is back in buddy after the pools are destroyed.
 */
#include <errno.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "fuzz.h"

#define MAX_LIVE 128
#define MAX_LIVE_PAGES 4096		/* 16 MiB in live vectors */
#define NPOOLS 3

struct vec {
	struct sgv_obj *obj;
	struct iovec *iov;
	int count;
	unsigned pool;
	size_t size;			/* 0: an empty object (SGV_RETURN_OBJ_ON_ALLOC_FAIL) */
	uint64_t seed;
	int limited;			/* charged to s->lim */
};

struct state {
	struct buddy *b;
	struct sgv_ctx *ctx;
	struct sgv_pool *pool[NPOOLS];
	struct sgv_pool *shared_again;	/* pool[2] found again by sgv_pool_create */
	struct sgv_mem_lim lim;
	double now;			/* the fake clock */
	struct vec live[MAX_LIVE];
	size_t nlive;
	size_t live_pages;
	uint64_t seq;
	int armed;
};

static double fake_clock(void *priv)
{
	return ((struct state *)priv)->now;
}

static size_t pages_of(size_t size)
{
	return (size + SGV_PAGE_SIZE - 1) / SGV_PAGE_SIZE;
}

/* Stamp (or verify) every page of every entry. */
static int walk(struct vec *v, int stamp)
{
	size_t total = 0;

	for (int i = 0; i < v->count; i++) {
		const struct iovec *e = &v->iov[i];
		uint64_t seed = v->seed ^ ((uint64_t)i << 40);

		if (stamp)
			fz_stamp(e->iov_base, e->iov_len, seed);
		else if (!fz_stamped(e->iov_base, e->iov_len, seed))
			return 0;
		total += e->iov_len;
	}
	return total == v->size;
}

static void check_shape(const struct vec *v)
{
	size_t total = 0;

	FZ_ASSERT(v->count > 0, "count %d", v->count);
	for (int i = 0; i < v->count; i++) {
		const struct iovec *e = &v->iov[i];

		FZ_ASSERT(((uintptr_t)e->iov_base & (SGV_PAGE_SIZE - 1)) == 0,
			  "entry %d not page aligned", i);
		FZ_ASSERT(e->iov_len > 0, "entry %d empty", i);
		if (i + 1 < v->count)
			FZ_ASSERT(e->iov_len % SGV_PAGE_SIZE == 0,
				  "entry %d of %zu bytes is not whole pages", i, e->iov_len);
		total += e->iov_len;
	}
	FZ_ASSERT(total == v->size, "vector holds %zu bytes for a request of %zu", total, v->size);
}

static void do_alloc(struct state *s, struct fz *f)
{
	unsigned pi = fz_u8(f) % NPOOLS;
	unsigned flags = fz_u8(f) & 7;
	uint32_t r = fz_u32(f);
	int limited = (int)(r >> 31);		/* charge s->lim or nothing */
	struct vec *v;
	size_t size;

	/* Sizes: mostly a few pages, sometimes up to the largest cached
	 * order and beyond it (an uncached "big" allocation: one page
	 * allocation per page, so kept rare), sometimes a few bytes. */
	switch (r & 7) {
	case 0:
	case 1:
		size = 1 + (r >> 3) % 64;
		break;
	case 2:
	case 3:
	case 4:
		size = 1 + (r >> 3) % (SGV_PAGE_SIZE * 8);
		break;
	case 5:
	case 6:
		size = 1 + (r >> 3) % (SGV_PAGE_SIZE * 64);
		break;
	default:
		size = 1 + (r >> 3) % (SGV_PAGE_SIZE * (SGV_MAX_CACHED_PAGES + 256));
		break;
	}
	if (s->nlive == MAX_LIVE || s->live_pages + 2 * pages_of(size) > MAX_LIVE_PAGES)
		return;
	v = &s->live[s->nlive];
	memset(v, 0, sizeof(*v));
	errno = 0;
	v->iov = sgv_pool_alloc(s->pool[pi], size, flags, limited ? &s->lim : NULL, &v->count,
				&v->obj);
	v->pool = pi;
	v->limited = limited;
	if (!v->iov) {
		FZ_ASSERT(errno == ENOMEM || errno == EAGAIN, "errno %d", errno);
		FZ_ASSERT(errno != EAGAIN || (flags & SGV_NO_ALLOC_ON_CACHE_MISS),
			  "EAGAIN without SGV_NO_ALLOC_ON_CACHE_MISS");
		FZ_ASSERT(v->count == 0, "count %d after a failure", v->count);
		if (errno == ENOMEM && !s->armed && !(limited && s->lim.max_pages)) {
			/* Then only the high watermark may refuse. */
			struct sgv_ctx_stats cs;

			sgv_ctx_stats(s->ctx, &cs);
			FZ_ASSERT(cs.hi_wmk != 0, "ENOMEM with no fault, cap or watermark");
		}
		if (!v->obj)
			return;
		/* An empty object: no pages, room for the request. */
		FZ_ASSERT(flags & SGV_RETURN_OBJ_ON_ALLOC_FAIL, "object without the flag");
		FZ_ASSERT(sgv_obj_pages(v->obj) == 0, "empty object holds pages");
		FZ_ASSERT(sgv_obj_capacity(v->obj) >= pages_of(size), "empty object too small");
		v->size = 0;
		s->nlive++;
		return;
	}
	FZ_ASSERT(v->obj, "no object");
	v->size = size;
	v->seed = fz_mix(++s->seq);
	check_shape(v);
	walk(v, 1);
	s->live_pages += sgv_obj_pages(v->obj);
	FZ_ASSERT(sgv_obj_pages(v->obj) >= pages_of(size), "vector of %u pages for %zu bytes",
		  sgv_obj_pages(v->obj), size);
	s->nlive++;
}

static void do_free(struct state *s, size_t i)
{
	struct vec *v = &s->live[i];

	if (v->size) {
		int n;

		FZ_ASSERT(sgv_obj_iov(v->obj, &n) == v->iov && n == v->count, "sgv_obj_iov");
		FZ_ASSERT(walk(v, 0), "vector of %zu bytes was overwritten", v->size);
		s->live_pages -= sgv_obj_pages(v->obj);
	}
	sgv_pool_free(v->obj, v->limited ? &s->lim : NULL);
	*v = s->live[--s->nlive];
}

static void verify(struct state *s)
{
	uint64_t charged = 0;

	for (size_t k = 0; k < s->nlive; k++)
		if (s->live[k].limited)
			charged += sgv_obj_pages(s->live[k].obj);
	FZ_ASSERT(atomic_load(&s->lim.used) == charged, "mem_lim charges %llu pages, model %llu",
		  (unsigned long long)atomic_load(&s->lim.used), (unsigned long long)charged);
	if (s->lim.max_pages)
		FZ_ASSERT(charged <= s->lim.max_pages, "mem_lim exceeded");
	FZ_ASSERT(sgv_ctx_check(s->ctx) == 0, "sgv_ctx_check failed");
	for (int i = 0; i < NPOOLS; i++)
		FZ_ASSERT(sgv_check(s->pool[i]) == 0, "sgv_check failed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct state *s = calloc(1, sizeof(*s));
	uint8_t setup = fz_u8(&f);
	int purge = (int)(fz_u8(&f) % 8) - 2;	/* -2 .. 5 s: negative disables */

	FZ_ASSERT(s, "out of memory");
	s->b = buddy_create(BUDDY_DEFAULT_RESERVE);
	FZ_ASSERT(s->b, "buddy_create");
	s->ctx = sgv_ctx_create(s->b);
	FZ_ASSERT(s->ctx, "sgv_ctx_create");
	sgv_ctx_set_clock(s->ctx, fake_clock, s);
	sgv_mem_lim_init(&s->lim, (setup >> 4) ? (uint64_t)(setup >> 4) * 256 : 0);
	s->pool[0] = sgv_pool_create(s->ctx, "fuzz-sob", (enum sgv_clustering)(setup % 3), 0,
				     false, purge);
	s->pool[1] = sgv_pool_create(s->ctx, "fuzz-fixed", (enum sgv_clustering)((setup >> 2) % 3),
				     1 + fz_u8(&f) % 16, false, purge);
	s->pool[2] = sgv_pool_create(s->ctx, "fuzz-shared", SGV_CLUSTER_FULL, 0, true, purge);
	for (int i = 0; i < NPOOLS; i++)
		FZ_ASSERT(s->pool[i], "sgv_pool_create %d: errno %d", i, errno);
	s->shared_again = sgv_pool_create(s->ctx, "fuzz-shared", SGV_CLUSTER_FULL, 0, true, purge);
	FZ_ASSERT(s->shared_again == s->pool[2], "a shared pool is found by name");
	FZ_ASSERT(sgv_pool_create(s->ctx, "fuzz-sob", SGV_CLUSTER_NONE, 0, false, purge) == NULL &&
		  errno == EEXIST, "a taken name");

	while (fz_more(&f)) {
		unsigned op = fz_u8(&f) % 16;

		if (op < 6) {
			do_alloc(s, &f);
		} else if (op < 10) {
			if (s->nlive)
				do_free(s, fz_u16(&f) % s->nlive);
		} else if (op == 10) {
			s->now += (double)(fz_u8(&f) % 64) / 8.0;
		} else if (op == 11) {
			unsigned pi = fz_u8(&f) % (NPOOLS + 1);

			if (pi == NPOOLS)
				sgv_ctx_purge(s->ctx, s->now);
			else
				sgv_pool_purge(s->pool[pi], s->now);
		} else if (op == 12) {
			uint64_t nr = fz_u16(&f) % 2048;

			sgv_ctx_shrink(s->ctx, nr, s->now);
			sgv_pool_shrink(s->pool[fz_u8(&f) % NPOOLS], nr, s->now);
		} else if (op == 13) {
			if (fz_u8(&f) & 1) {
				sgv_ctx_flush(s->ctx);
			} else {
				struct sgv_pool_stats ps;
				unsigned pi = fz_u8(&f) % NPOOLS;

				sgv_pool_flush(s->pool[pi]);
				sgv_pool_stats(s->pool[pi], &ps);
				FZ_ASSERT(ps.inactive_entries == 0 && ps.inactive_pages == 0,
					  "idle vectors left after a flush");
			}
		} else if (op == 14) {
			uint64_t hi = fz_u16(&f) % 4096, lo = fz_u16(&f) % 4096;
			int rc = sgv_ctx_set_watermarks(s->ctx, hi, lo);

			FZ_ASSERT(rc == ((hi && lo > hi) ? -EINVAL : 0), "set_watermarks %d", rc);
			verify(s);
		} else {
			uint8_t nth = fz_u8(&f) % 8, every = fz_u8(&f) % 4;

			FZ_ASSERT(buddy_fault_set(s->b, nth, every) == 0,
				  "fault injection needs a ZC_DEBUG build");
			s->armed = nth != 0;
			verify(s);
		}
	}
	buddy_fault_set(s->b, 0, 0);
	verify(s);
	while (s->nlive)
		do_free(s, s->nlive - 1);
	verify(s);
	FZ_ASSERT(atomic_load(&s->lim.used) == 0, "mem_lim still charged");
	sgv_ctx_flush(s->ctx);
	sgv_pool_destroy(s->shared_again);
	for (int i = 0; i < NPOOLS; i++)
		sgv_pool_destroy(s->pool[i]);
	sgv_ctx_destroy(s->ctx);
	{
		struct buddy_stats bs;

		buddy_stats(s->b, &bs);
		FZ_ASSERT(bs.blocks == 0, "%llu pages not given back to buddy",
			  (unsigned long long)bs.blocks);
	}
	FZ_ASSERT(buddy_check(s->b) == 0, "buddy_check");
	buddy_destroy(s->b);
	free(s);
	return 0;
}
