/* tests/sgv_fixture.h - what the SGV suites share (tests/sgv.c, the
 * contract; tests/sgv_model.c, the model-based and threaded tests): a test
 * page allocator (struct arena) that hands out pages of one mmap'ed region
 * in a chosen order - ascending (adjacent), descending (adjacent,
 * backwards), every other page (never adjacent) or an explicit sequence -
 * so clustering results are exact and every page is accounted for
 * (arena.live must return to 0); a fake clock; a fixture of a buddy
 * allocator and an SGV context on that clock; and pattern fill and verify
 * of a vector.  Everything is static inline: each suite includes it once
 * and uses what it needs.
 */
#ifndef ZC_TESTS_SGV_FIXTURE_H
#define ZC_TESTS_SGV_FIXTURE_H

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"

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

static inline void arena_init(struct arena *a, size_t npages, enum arena_mode mode)
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

static inline void arena_fini(struct arena *a)
{
	munmap(a->base, a->npages * PG);
	free(a->used);
	pthread_mutex_destroy(&a->lock);
}

static inline void *arena_alloc(void *priv)
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

static inline void arena_free(void *page, void *priv)
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

static inline double fake_now(void *priv)
{
	return ((struct fake_clock *)priv)->now;
}

struct fix {
	struct buddy *buddy;
	struct sgv_ctx *ctx;
	struct fake_clock clk;
};

static inline void fix_init(struct fix *f)
{
	f->buddy = buddy_create(BUDDY_DEFAULT_RESERVE);
	ck_assert_ptr_nonnull(f->buddy);
	f->ctx = sgv_ctx_create(f->buddy);
	ck_assert_ptr_nonnull(f->ctx);
	f->clk.now = 1000.0;
	sgv_ctx_set_clock(f->ctx, fake_now, &f->clk);
}

static inline void fix_fini(struct fix *f)
{
	struct buddy_stats bs;

	ck_assert_int_eq(sgv_ctx_check(f->ctx), 0);
	sgv_ctx_destroy(f->ctx);
	buddy_stats(f->buddy, &bs);
	ck_assert_uint_eq(bs.blocks, 0);	/* every page went back */
	buddy_destroy(f->buddy);
}

static inline struct sgv_pool *mkpool(struct fix *f, const char *name, enum sgv_clustering cl,
			       unsigned single, int interval, struct arena *a)
{
	struct sgv_pool *p = sgv_pool_create(f->ctx, name, cl, single, false, interval);

	ck_assert_ptr_nonnull(p);
	if (a)
		ck_assert_int_eq(sgv_pool_set_allocator(p, arena_alloc, arena_free, a), 0);
	return p;
}

static inline size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* Write a pattern of (tag, offset) over the whole vector. */
static inline void fill(const struct iovec *iov, int n, uint64_t tag)
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

static inline int verify(const struct iovec *iov, int n, uint64_t tag)
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


#endif /* ZC_TESTS_SGV_FIXTURE_H */
