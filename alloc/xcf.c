/* xcf.c - xcfmalloc: compressed objects packed into 4 KiB pages, with
 * compaction.
 *
 * xcf.h is the manual (layout, placement rules, locking).  Notes on the
 * implementation:
 *
 * - A block is named by a 32-bit reference: page-table index << 6 | offset
 *   in 64-byte units.  A descriptor is two references; the second is
 *   XCF_NOBLK unless the object is split.
 * - The header word packs (low to high): size in units - 1 (6 bits), offset
 *   of the previous block in units (6 bits; 0 for the block at offset 0),
 *   unused tail bytes of the block (6 bits; only an object's last block has
 *   any), 1 spare bit, and the descriptor address >> 3 (45 bits: every
 *   user-space address below 2^48, as on x86-64 and arm64 by default).  A descriptor field
 *   of 0 marks a free block.
 * - A page-table slot is the page address (4 KiB aligned) with the page's
 *   used units (0 .. 64) in bits 0-6 and the "isolated" flag in bit 7; a
 *   vacant slot has bit 8 set and the index of the next vacant slot above
 *   bit 12.  Slots never move, so references stay valid while a page lives.
 * - A free block of a page that is not isolated is on the list of its size,
 *   with its links and page index in its body.  Free blocks of isolated pages
 *   (being evacuated by compaction) are on no list; their bodies are stale.
 */
#include "alloc/xcf.h"

#include "alloc/buddy.h"
#include "alloc/slab.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_SHIFT 6u
#define UNITS_PER_PAGE 64u
#define FREE_PAGE_LIST (XCF_NR_LISTS - 1)		/* list of wholly free pages */
#define PARTIAL_MASK ((1ull << FREE_PAGE_LIST) - 1)	/* lists 0 .. 62 */
#define XCF_NOBLK UINT32_MAX
#define MAX_PAGES (1u << 26)				/* 26-bit page index */
#define XCF_COMPACT_ROUNDS 4				/* select/evacuate rounds per call */

/* Header word fields. */
#define H_UNITS(w) ((unsigned)((w) & 63u) + 1u)
#define H_PREV(w) ((unsigned)(((w) >> 6) & 63u))
#define H_PAD(w) ((unsigned)(((w) >> 12) & 63u))
#define H_DESC_SHIFT 19u
#define H_DESC(w) ((struct xcf_desc *)(uintptr_t)(((w) >> H_DESC_SHIFT) << 3))

/* Page-table slot fields. */
#define S_USED_MASK 0x7full
#define S_ISOLATED 0x80ull
#define S_VACANT 0x100ull
#define S_ADDR_MASK (~(uint64_t)(XCF_PAGE_SIZE - 1))
#define S_NEXT_SHIFT 12u

#define XCF_SENTINEL 0x5cf0b10c4ea3e5a1ull

struct xcf_hdr {
	uint64_t word;
#ifdef ZC_DEBUG
	uint64_t sentinel;	/* XCF_SENTINEL ^ address of the header */
#endif
};

/* The body of a free block on a free list. */
struct xcf_free {
	struct xcf_hdr hdr;
	struct xcf_free *next;	/* protected by pool->lock */
	struct xcf_free *prev;	/* NULL for a list head */
	uint32_t page;		/* page-table index of this block's page */
};

struct xcf_desc {
	uint32_t blk[2];	/* block references; blk[1] == XCF_NOBLK if one block */
};

static_assert(sizeof(struct xcf_hdr) == XCF_HDR_SIZE, "header size");
static_assert(sizeof(struct xcf_desc) == XCF_DESC_SIZE, "descriptor size");
static_assert(sizeof(struct xcf_free) <= XCF_BLOCK_SIZE, "free body fits a block");
static_assert(XCF_BLOCK_SIZE << UNIT_SHIFT == XCF_PAGE_SIZE, "64 units per page");
static_assert(XCF_PAGE_SIZE == BUDDY_PAGE_SIZE, "pages come from buddy");
static_assert(sizeof(uintptr_t) == 8, "64-bit platform");

struct xcf_pool {
	pthread_mutex_t lock;		/* see xcf.h */
	pthread_mutex_t compact_lock;	/* serializes xcf_compact */
	char name[XCF_NAME_MAX];
	struct buddy *buddy;		/* immutable */
	struct slab_cache *descs;	/* immutable */
	bool own_descs;			/* immutable */
	unsigned reserve;		/* immutable */

	/* protected by lock: */
	uint64_t *slots;		/* page table */
	uint32_t nslots;		/* slots in use or vacant */
	uint32_t cap;			/* slots allocated */
	uint32_t vacant;		/* first vacant slot, or XCF_NOBLK */
	struct xcf_free *lists[XCF_NR_LISTS];
	uint64_t nonempty;		/* bit i set iff lists[i] is not empty */
	uint64_t list_len[XCF_NR_LISTS];
	uint64_t pages;			/* occupied slots */
	uint64_t isolated;		/* slots with S_ISOLATED */
	uint64_t objects;
	uint64_t split_objects;
	uint64_t used_bytes;
	uint64_t used_units;		/* units of blocks holding objects */
	uint64_t used_blocks;
	uint64_t allocs, frees, failed_allocs;
	uint64_t compactions, compact_pages_freed, compact_objects_moved,
		 compact_bytes_moved;
};

/* ------------------------------------------------------------------ */
/* Headers (the debug build adds and verifies a sentinel).             */

#ifdef ZC_DEBUG
static inline uint64_t hdr_get(const struct xcf_hdr *h)
{
	if (h->sentinel != (XCF_SENTINEL ^ (uint64_t)(uintptr_t)h)) {
		fprintf(stderr, "xcf: bad block sentinel at %p\n", (const void *)h);
		abort();
	}
	return h->word;
}

static inline void hdr_set(struct xcf_hdr *h, uint64_t w)
{
	h->word = w;
	h->sentinel = XCF_SENTINEL ^ (uint64_t)(uintptr_t)h;
}

static inline bool hdr_sentinel_ok(const struct xcf_hdr *h)
{
	return h->sentinel == (XCF_SENTINEL ^ (uint64_t)(uintptr_t)h);
}
#else
static inline uint64_t hdr_get(const struct xcf_hdr *h)
{
	return h->word;
}

static inline void hdr_set(struct xcf_hdr *h, uint64_t w)
{
	h->word = w;
}

static inline bool hdr_sentinel_ok(const struct xcf_hdr *h)
{
	(void)h;
	return true;
}
#endif

static inline uint64_t hdr_make(unsigned units, unsigned prev, unsigned pad,
				const struct xcf_desc *d)
{
	return (uint64_t)(units - 1) | (uint64_t)prev << 6 | (uint64_t)pad << 12 |
	       ((uint64_t)(uintptr_t)d >> 3) << H_DESC_SHIFT;
}

/* Replace the previous-block offset of header h. */
static inline void hdr_set_prev(struct xcf_hdr *h, unsigned prev)
{
	uint64_t w = hdr_get(h);

	hdr_set(h, (w & ~((uint64_t)63 << 6)) | (uint64_t)prev << 6);
}

/* The object bytes of block h.  The empty asm hides h's alignment from the
 * compiler: knowing it, gcc inlines variable-size copies as `rep movsq`,
 * which is about half as fast as glibc's memcpy for these sizes. */
static inline void *blk_data(struct xcf_hdr *h)
{
	char *p = (char *)(h + 1);

	__asm__("" : "+r"(p));
	return p;
}

/* Units an object of `size` bytes needs in one block. */
static inline unsigned units_for(size_t size)
{
	return (unsigned)((size + XCF_HDR_SIZE + XCF_BLOCK_SIZE - 1) >> UNIT_SHIFT);
}

/* Object bytes a block of `units` holds. */
static inline size_t block_cap(unsigned units)
{
	return ((size_t)units << UNIT_SHIFT) - XCF_HDR_SIZE;
}

/* ------------------------------------------------------------------ */
/* Page table and block addressing.  Caller must hold pool->lock.      */

static inline char *page_base(const struct xcf_pool *pool, uint32_t idx)
{
	return (char *)(uintptr_t)(pool->slots[idx] & S_ADDR_MASK);
}

static inline struct xcf_hdr *blk_at(const struct xcf_pool *pool, uint32_t idx, unsigned off)
{
	return (struct xcf_hdr *)(page_base(pool, idx) + ((size_t)off << UNIT_SHIFT));
}

static inline struct xcf_hdr *ref_hdr(const struct xcf_pool *pool, uint32_t ref)
{
	return blk_at(pool, ref >> UNIT_SHIFT, ref & 63u);
}

static inline uint32_t ref_make(uint32_t idx, unsigned off)
{
	return idx << UNIT_SHIFT | off;
}

static inline unsigned page_used(const struct xcf_pool *pool, uint32_t idx)
{
	return (unsigned)(pool->slots[idx] & S_USED_MASK);
}

static inline bool page_isolated(const struct xcf_pool *pool, uint32_t idx)
{
	return (pool->slots[idx] & S_ISOLATED) != 0;
}

static inline bool slot_occupied(const struct xcf_pool *pool, uint32_t idx)
{
	return !(pool->slots[idx] & S_VACANT);
}

/* ------------------------------------------------------------------ */
/* Free lists.  Caller must hold pool->lock.                           */

static void list_add(struct xcf_pool *pool, struct xcf_hdr *h, unsigned units, uint32_t idx)
{
	struct xcf_free *f = (struct xcf_free *)h;
	unsigned li = units - 1;

	f->page = idx;
	f->prev = NULL;
	f->next = pool->lists[li];
	if (f->next)
		f->next->prev = f;
	pool->lists[li] = f;
	pool->nonempty |= 1ull << li;
	pool->list_len[li]++;
}

static void list_del(struct xcf_pool *pool, struct xcf_hdr *h, unsigned units)
{
	struct xcf_free *f = (struct xcf_free *)h;
	unsigned li = units - 1;

	if (f->prev)
		f->prev->next = f->next;
	else
		pool->lists[li] = f->next;
	if (f->next)
		f->next->prev = f->prev;
	if (!pool->lists[li])
		pool->nonempty &= ~(1ull << li);
	pool->list_len[li]--;
}

/* ------------------------------------------------------------------ */
/* Pages.  Caller must hold pool->lock.                                */

static void page_release(struct xcf_pool *pool, uint32_t idx)
{
	buddy_free(pool->buddy, page_base(pool, idx), XCF_PAGE_SIZE);
	pool->slots[idx] = S_VACANT | (uint64_t)pool->vacant << S_NEXT_SHIFT;
	pool->vacant = idx;
	pool->pages--;
}

/* Page idx has just become wholly free (one free 64-unit block at offset
 * 0, on no list, not isolated): keep it in the reserve or give it back.
 * Returns true when it went back to buddy. */
static bool page_now_free(struct xcf_pool *pool, uint32_t idx)
{
	if (pool->list_len[FREE_PAGE_LIST] < pool->reserve) {
		list_add(pool, blk_at(pool, idx, 0), UNITS_PER_PAGE, idx);
		return false;
	}
	page_release(pool, idx);
	return true;
}

/* A new page from buddy, as one free block on no list.  Returns its index
 * or a negative errno with the pool unchanged. */
static int64_t page_new(struct xcf_pool *pool)
{
	uint32_t idx;
	char *page;

	if (pool->vacant == XCF_NOBLK && pool->nslots == pool->cap) {
		/* Grow by half: the table is metadata the store pays for. */
		uint32_t ncap = pool->cap ? pool->cap + pool->cap / 2 : 64;
		uint64_t *ns;

		if (pool->cap >= MAX_PAGES)
			return -ENOMEM;
		if (ncap > MAX_PAGES)
			ncap = MAX_PAGES;
		ns = realloc(pool->slots, (size_t)ncap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		pool->slots = ns;
		pool->cap = ncap;
	}
	page = buddy_alloc(pool->buddy, XCF_PAGE_SIZE);
	if (!page)
		return -ENOMEM;
	if (pool->vacant != XCF_NOBLK) {
		idx = pool->vacant;
		pool->vacant = (uint32_t)(pool->slots[idx] >> S_NEXT_SHIFT);
	} else {
		idx = pool->nslots++;
	}
	pool->slots[idx] = (uint64_t)(uintptr_t)page;
	pool->pages++;
	hdr_set((struct xcf_hdr *)page, hdr_make(UNITS_PER_PAGE, 0, 0, NULL));
	return idx;
}

/* A wholly free page taken off the reserve list (or, with may_grow, a new
 * one), as one free block on no list.  Returns its index or -ENOMEM. */
static int64_t page_get(struct xcf_pool *pool, bool may_grow)
{
	struct xcf_free *f = pool->lists[FREE_PAGE_LIST];

	if (f) {
		uint32_t idx = f->page;

		list_del(pool, &f->hdr, UNITS_PER_PAGE);
		return idx;
	}
	return may_grow ? page_new(pool) : -ENOMEM;
}

/* ------------------------------------------------------------------ */
/* Blocks.  Caller must hold pool->lock.                               */

/* Turn the free block at (idx, off) of `have` units, already off every list,
 * into a used block of `need` units for descriptor d with `pad` unused tail
 * bytes; the rest becomes a free block on its list.  Returns the block's
 * reference. */
static uint32_t carve(struct xcf_pool *pool, uint32_t idx, unsigned off, unsigned have,
		      unsigned need, unsigned pad, const struct xcf_desc *d)
{
	struct xcf_hdr *h = blk_at(pool, idx, off);
	unsigned prev = H_PREV(hdr_get(h));

	if (have > need) {
		struct xcf_hdr *r = blk_at(pool, idx, off + need);

		hdr_set(r, hdr_make(have - need, off, 0, NULL));
		if (off + have < UNITS_PER_PAGE)
			hdr_set_prev(blk_at(pool, idx, off + have), off + need);
		list_add(pool, r, have - need, idx);
	}
	hdr_set(h, hdr_make(need, prev, pad, d));
	pool->slots[idx] += need;
	pool->used_units += need;
	pool->used_blocks++;
	return ref_make(idx, off);
}

static inline unsigned hdr_off(const struct xcf_hdr *h)
{
	return (unsigned)(((uintptr_t)h & (XCF_PAGE_SIZE - 1)) >> UNIT_SHIFT);
}

/* Free the used block `ref`: merge it with free neighbours, put the result
 * on its list (unless the page is isolated), and hand a wholly free page to
 * page_now_free (unless isolated).  Returns true when a page went back to
 * buddy. */
static bool block_free(struct xcf_pool *pool, uint32_t ref)
{
	uint32_t idx = ref >> UNIT_SHIFT;
	unsigned off = ref & 63u;
	struct xcf_hdr *h = blk_at(pool, idx, off);
	uint64_t w = hdr_get(h);
	unsigned units = H_UNITS(w), start = off, len = units, prev = H_PREV(w);
	bool iso = page_isolated(pool, idx);

	pool->slots[idx] -= units;
	pool->used_units -= units;
	pool->used_blocks--;
	if (off + units < UNITS_PER_PAGE) {
		struct xcf_hdr *n = blk_at(pool, idx, off + units);
		uint64_t nw = hdr_get(n);

		if (!H_DESC(nw)) {
			if (!iso)
				list_del(pool, n, H_UNITS(nw));
			len += H_UNITS(nw);
		}
	}
	if (off > 0) {
		struct xcf_hdr *p = blk_at(pool, idx, prev);
		uint64_t pw = hdr_get(p);

		if (!H_DESC(pw)) {
			if (!iso)
				list_del(pool, p, H_UNITS(pw));
			start = prev;
			len += H_UNITS(pw);
			prev = H_PREV(pw);
		}
	}
	h = blk_at(pool, idx, start);
	hdr_set(h, hdr_make(len, prev, 0, NULL));
	if (start + len < UNITS_PER_PAGE)
		hdr_set_prev(blk_at(pool, idx, start + len), start);
	if (iso)
		return false;
	if (len == UNITS_PER_PAGE)
		return page_now_free(pool, idx);
	list_add(pool, h, len, idx);
	return false;
}

/* The first free block on the lists in `mask` (lowest list first) whose page
 * is not `avoid`.  Looks at a few blocks per list: a page rarely holds more
 * than one free block of a size. */
static struct xcf_free *find_block(const struct xcf_pool *pool, uint64_t mask, uint32_t avoid)
{
	while (mask) {
		unsigned li = (unsigned)__builtin_ctzll(mask);
		struct xcf_free *f = pool->lists[li];

		for (int tries = 0; f && tries < 4; tries++, f = f->next)
			if (f->page != avoid)
				return f;
		mask &= mask - 1;
	}
	return NULL;
}

static inline uint64_t mask_from(unsigned li)	/* lists li .. 63 */
{
	return li >= 64 ? 0 : ~0ull << li;
}

/* Place an object of `size` bytes for descriptor d by the rules of xcf.h
 * and set d->blk.  compacting: never take a reserve or new page.
 * Returns 0, or -ENOMEM with the pool unchanged. */
static int place(struct xcf_pool *pool, size_t size, struct xcf_desc *d, bool compacting)
{
	unsigned need = units_for(size);
	unsigned pad = (unsigned)(block_cap(need) - size);
	uint64_t partial = pool->nonempty & PARTIAL_MASK;
	struct xcf_free *f;
	int64_t idx;

	/* 1 + 2: best fit, else the smallest larger partial block. */
	f = find_block(pool, partial & mask_from(need - 1), XCF_NOBLK);
	if (f) {
		unsigned have = H_UNITS(hdr_get(&f->hdr));

		list_del(pool, &f->hdr, have);
		d->blk[0] = carve(pool, f->page, hdr_off(&f->hdr), have, need, pad, d);
		d->blk[1] = XCF_NOBLK;
		return 0;
	}
	if (need == UNITS_PER_PAGE && !compacting && pool->lists[FREE_PAGE_LIST]) {
		idx = page_get(pool, false);
		d->blk[0] = carve(pool, (uint32_t)idx, 0, UNITS_PER_PAGE, need, pad, d);
		d->blk[1] = XCF_NOBLK;
		return 0;
	}

	/* 3: the largest smaller partial block, filled, plus a second block. */
	if (partial) {
		unsigned li = 63u - (unsigned)__builtin_clzll(partial);
		struct xcf_free *first = pool->lists[li];
		unsigned have = li + 1;
		uint32_t fpage = first->page;
		size_t rest = size - block_cap(have);
		unsigned need2 = units_for(rest);
		unsigned pad2 = (unsigned)(block_cap(need2) - rest);
		struct xcf_free *second;
		unsigned have2, off2;

		second = find_block(pool, partial & mask_from(need2 - 1), fpage);
		if (second) {
			idx = second->page;
			off2 = hdr_off(&second->hdr);
			have2 = H_UNITS(hdr_get(&second->hdr));
			list_del(pool, &second->hdr, have2);
		} else {
			if (compacting)
				return -ENOMEM;	/* no reserve or new pages */
			idx = page_get(pool, true);
			if (idx < 0)
				return (int)idx;
			off2 = 0;
			have2 = UNITS_PER_PAGE;
		}
		list_del(pool, &first->hdr, have);
		d->blk[0] = carve(pool, fpage, hdr_off(&first->hdr), have, have, 0, d);
		d->blk[1] = carve(pool, (uint32_t)idx, off2, have2, need2, pad2, d);
		return 0;
	}

	/* 4: a reserve page, or a new one. */
	if (compacting)
		return -ENOMEM;
	idx = page_get(pool, true);
	if (idx < 0)
		return (int)idx;
	d->blk[0] = carve(pool, (uint32_t)idx, 0, UNITS_PER_PAGE, need, pad, d);
	d->blk[1] = XCF_NOBLK;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Objects.  Caller must hold pool->lock.                              */

static size_t obj_size(const struct xcf_pool *pool, const struct xcf_desc *d)
{
	uint64_t wa = hdr_get(ref_hdr(pool, d->blk[0]));
	uint64_t wb;

	if (d->blk[1] == XCF_NOBLK)
		return block_cap(H_UNITS(wa)) - H_PAD(wa);
	wb = hdr_get(ref_hdr(pool, d->blk[1]));
	return block_cap(H_UNITS(wa)) + block_cap(H_UNITS(wb)) - H_PAD(wb);
}

/* Copy the object out of (to_pool false) or into (true) the pool. */
static size_t obj_copy(const struct xcf_pool *pool, const struct xcf_desc *d, void *buf,
		       bool to_pool)
{
	struct xcf_hdr *a = ref_hdr(pool, d->blk[0]);
	uint64_t wa = hdr_get(a);
	size_t n;

	if (d->blk[1] == XCF_NOBLK) {
		n = block_cap(H_UNITS(wa)) - H_PAD(wa);
		if (to_pool)
			memcpy(blk_data(a), buf, n);
		else
			memcpy(buf, blk_data(a), n);
		return n;
	} else {
		struct xcf_hdr *b = ref_hdr(pool, d->blk[1]);
		uint64_t wb = hdr_get(b);
		size_t na = block_cap(H_UNITS(wa));
		size_t nb = block_cap(H_UNITS(wb)) - H_PAD(wb);

		if (to_pool) {
			memcpy(blk_data(a), buf, na);
			memcpy(blk_data(b), (const char *)buf + na, nb);
		} else {
			memcpy(buf, blk_data(a), na);
			memcpy((char *)buf + na, blk_data(b), nb);
		}
		return na + nb;
	}
}

/* ------------------------------------------------------------------ */
/* Public API.                                                         */

struct xcf_pool *xcf_create(const char *name, struct buddy *pages,
			    struct slab_cache *descs, unsigned reserve_pages)
{
	struct xcf_pool *pool;

	if (!pages) {
		errno = EINVAL;
		return NULL;
	}
	if (descs) {
		struct slab_stats ss;

		slab_stats(descs, &ss);
		if (ss.objsize != XCF_DESC_SIZE) {
			errno = EINVAL;
			return NULL;
		}
	}
	pool = calloc(1, sizeof(*pool));
	if (!pool) {
		errno = ENOMEM;
		return NULL;
	}
	snprintf(pool->name, sizeof(pool->name), "%s", name ? name : "xcf");
	pool->buddy = pages;
	pool->reserve = reserve_pages;
	pool->vacant = XCF_NOBLK;
	pool->descs = descs;
	if (!descs) {
		char cname[SLAB_NAME_MAX];

		snprintf(cname, sizeof(cname), "xcf_desc:%.22s", pool->name);
		pool->descs = slab_create(cname, XCF_DESC_SIZE, 8, pages);
		if (!pool->descs)
			goto err_free;
		pool->own_descs = true;
	}
	{
		pthread_mutexattr_t attr;

		if (pthread_mutexattr_init(&attr))
			goto err_slab;
		pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
		if (pthread_mutex_init(&pool->lock, &attr)) {
			pthread_mutexattr_destroy(&attr);
			goto err_slab;
		}
		pthread_mutexattr_destroy(&attr);
	}
	if (pthread_mutex_init(&pool->compact_lock, NULL))
		goto err_lock;
	return pool;

err_lock:
	pthread_mutex_destroy(&pool->lock);
err_slab:
	if (pool->own_descs)
		slab_destroy(pool->descs);
err_free:
	free(pool);
	errno = ENOMEM;
	return NULL;
}

/* xcf_destroy helpers for a shared descriptor cache (see there). */
static void destroy_forget_second_blocks(struct xcf_pool *pool, uint32_t i)
{
	for (unsigned off = 0; off < UNITS_PER_PAGE;) {
		struct xcf_hdr *h = blk_at(pool, i, off);
		uint64_t w = hdr_get(h);
		struct xcf_desc *d = H_DESC(w);

		if (d && d->blk[0] != ref_make(i, off))
			hdr_set(h, hdr_make(H_UNITS(w), H_PREV(w), H_PAD(w), NULL));
		off += H_UNITS(w);
	}
}

static void destroy_free_descs(struct xcf_pool *pool, uint32_t i)
{
	for (unsigned off = 0; off < UNITS_PER_PAGE;) {
		uint64_t w = hdr_get(blk_at(pool, i, off));

		if (H_DESC(w))
			slab_free(pool->descs, H_DESC(w));
		off += H_UNITS(w);
	}
}

void xcf_destroy(struct xcf_pool *pool)
{
	if (!pool)
		return;
	if (!pool->own_descs) {
		/* A shared cache outlives us: return each live descriptor
		 * once.  A split object's descriptor is named by two blocks,
		 * so first clear the descriptor from every second block
		 * (reading descriptors while all are still live), then free
		 * the descriptor of every block still naming one. */
		for (uint32_t i = 0; i < pool->nslots; i++)
			if (slot_occupied(pool, i))
				destroy_forget_second_blocks(pool, i);
		for (uint32_t i = 0; i < pool->nslots; i++)
			if (slot_occupied(pool, i))
				destroy_free_descs(pool, i);
	}
	for (uint32_t i = 0; i < pool->nslots; i++)
		if (slot_occupied(pool, i))
			buddy_free(pool->buddy, page_base(pool, i), XCF_PAGE_SIZE);
	if (pool->own_descs)
		slab_destroy(pool->descs);
	free(pool->slots);
	pthread_mutex_destroy(&pool->compact_lock);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

xcf_handle xcf_malloc(struct xcf_pool *pool, size_t size)
{
	struct xcf_desc *d;
	int rc;

	if (size == 0 || size > XCF_MAX_SIZE) {
		errno = EINVAL;
		return 0;
	}
	d = slab_alloc(pool->descs);
	if (!d) {
		pthread_mutex_lock(&pool->lock);
		pool->failed_allocs++;
		pthread_mutex_unlock(&pool->lock);
		errno = ENOMEM;
		return 0;
	}
	pthread_mutex_lock(&pool->lock);
	rc = place(pool, size, d, false);
	if (rc == 0) {
		pool->allocs++;
		pool->objects++;
		pool->used_bytes += size;
		pool->split_objects += d->blk[1] != XCF_NOBLK;
	} else {
		pool->failed_allocs++;
	}
	pthread_mutex_unlock(&pool->lock);
	if (rc) {
		slab_free(pool->descs, d);
		errno = -rc;
		return 0;
	}
	return (xcf_handle)d;
}

int xcf_write(struct xcf_pool *pool, xcf_handle h, const void *src)
{
	size_t n;

	if (!h)
		return -EINVAL;
	pthread_mutex_lock(&pool->lock);
	n = obj_copy(pool, (struct xcf_desc *)h, (void *)(uintptr_t)src, true);
	pthread_mutex_unlock(&pool->lock);
	return (int)n;
}

int xcf_read(struct xcf_pool *pool, xcf_handle h, void *dst)
{
	size_t n;

	if (!h)
		return -EINVAL;
	pthread_mutex_lock(&pool->lock);
	n = obj_copy(pool, (struct xcf_desc *)h, dst, false);
	pthread_mutex_unlock(&pool->lock);
	return (int)n;
}

size_t xcf_size(struct xcf_pool *pool, xcf_handle h)
{
	size_t n;

	if (!h)
		return 0;
	pthread_mutex_lock(&pool->lock);
	n = obj_size(pool, (struct xcf_desc *)h);
	pthread_mutex_unlock(&pool->lock);
	return n;
}

void xcf_free(struct xcf_pool *pool, xcf_handle h)
{
	struct xcf_desc *d = (struct xcf_desc *)h;

	if (!h)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->used_bytes -= obj_size(pool, d);
	pool->objects--;
	pool->frees++;
	block_free(pool, d->blk[0]);
	if (d->blk[1] != XCF_NOBLK) {
		pool->split_objects--;
		block_free(pool, d->blk[1]);
	}
	pthread_mutex_unlock(&pool->lock);
	slab_free(pool->descs, d);
}

/* ------------------------------------------------------------------ */
/* Compaction.                                                         */

/* Take page idx's free blocks off the lists and mark it isolated.
 * Caller must hold pool->lock. */
static void page_isolate(struct xcf_pool *pool, uint32_t idx)
{
	for (unsigned off = 0; off < UNITS_PER_PAGE;) {
		struct xcf_hdr *h = blk_at(pool, idx, off);
		uint64_t w = hdr_get(h);

		if (!H_DESC(w))
			list_del(pool, h, H_UNITS(w));
		off += H_UNITS(w);
	}
	pool->slots[idx] |= S_ISOLATED;
	pool->isolated++;
}

/* Clear page idx's isolation: its free blocks go back on the lists, or the
 * page to the reserve / buddy when wholly free (then returns true if it went
 * to buddy).  Caller must hold pool->lock. */
static bool page_unisolate(struct xcf_pool *pool, uint32_t idx)
{
	pool->slots[idx] &= ~S_ISOLATED;
	pool->isolated--;
	if (page_used(pool, idx) == 0)
		return page_now_free(pool, idx);
	for (unsigned off = 0; off < UNITS_PER_PAGE;) {
		struct xcf_hdr *h = blk_at(pool, idx, off);
		uint64_t w = hdr_get(h);

		if (!H_DESC(w))
			list_add(pool, h, H_UNITS(w), idx);
		off += H_UNITS(w);
	}
	return false;
}

/* Choose the pages to evacuate and isolate them: the sparsest partly used
 * pages, as many as fit (with slack for headers and fragmentation) in the
 * free space of the rest and in the budget.  Stores their indices, sparsest
 * first, in a malloc'ed *order and returns how many (0: none chosen, *order
 * NULL), or -ENOMEM.  Caller must hold pool->lock. */
static int64_t compact_select(struct xcf_pool *pool, size_t budget, uint32_t **order)
{
	uint64_t count[UNITS_PER_PAGE] = { 0 }, pos[UNITS_PER_PAGE + 1] = { 0 };
	uint64_t free_units = 0, src_used = 0, src_free = 0, take_last = 0, chosen;
	unsigned limit = 0;

	*order = NULL;
	for (uint32_t i = 0; i < pool->nslots; i++) {
		unsigned u;

		if (!slot_occupied(pool, i) || page_isolated(pool, i))
			continue;
		u = page_used(pool, i);
		if (u == 0 || u == UNITS_PER_PAGE)
			continue;
		count[u]++;
		free_units += UNITS_PER_PAGE - u;
	}
	for (unsigned u = 1; u < UNITS_PER_PAGE; u++) {
		uint64_t k;

		for (k = 0; k < count[u]; k++) {
			uint64_t su = src_used + u, sf = src_free + (UNITS_PER_PAGE - u);

			/* The destinations keep 1/8 of their free space as
			 * slack: blocks rarely fit holes exactly. */
			if (su * 8 > (free_units - sf) * 7)
				break;
			if (budget && src_used > 0 && (su << UNIT_SHIFT) > budget)
				break;
			src_used = su;
			src_free = sf;
		}
		if (k > 0) {
			limit = u;
			take_last = k;
		}
		if (k < count[u])
			break;
	}
	if (!limit)
		return 0;
	/* Counting sort by used units: pos[u] is where bucket u starts. */
	count[limit] = take_last;
	for (unsigned u = 1; u <= limit; u++)
		pos[u + 1] = pos[u] + count[u];
	chosen = pos[limit + 1];
	*order = malloc(chosen * sizeof(**order));
	if (!*order)
		return -ENOMEM;
	for (uint32_t i = 0; i < pool->nslots; i++) {
		unsigned u;

		if (!slot_occupied(pool, i) || page_isolated(pool, i))
			continue;
		u = page_used(pool, i);
		if (u == 0 || u > limit)
			continue;
		if (u == limit) {
			if (!take_last)
				continue;
			take_last--;
		}
		page_isolate(pool, i);
		(*order)[pos[u]++] = i;
	}
	return (int64_t)chosen;
}

/* Move one block of a split object into a free block of the same units on
 * a page other than its partner's: only that part is copied and the object
 * stays in two blocks.  Returns the bytes moved, or 0 when no such block is
 * free.  Caller must hold pool->lock. */
static size_t move_part(struct xcf_pool *pool, struct xcf_desc *d, unsigned which,
			struct xcf_compact_result *res)
{
	uint32_t old = d->blk[which], other = d->blk[!which];
	struct xcf_hdr *h = ref_hdr(pool, old);
	uint64_t w = hdr_get(h);
	unsigned units = H_UNITS(w);
	size_t n = block_cap(units) - H_PAD(w);
	struct xcf_free *f;
	unsigned have;

	f = find_block(pool, pool->nonempty & PARTIAL_MASK & mask_from(units - 1),
		       other >> UNIT_SHIFT);
	if (!f)
		return 0;
	have = H_UNITS(hdr_get(&f->hdr));
	list_del(pool, &f->hdr, have);
	d->blk[which] = carve(pool, f->page, hdr_off(&f->hdr), have, units, H_PAD(w), d);
	memcpy(blk_data(ref_hdr(pool, d->blk[which])), blk_data(h), n);
	res->pages_released += block_free(pool, old);
	res->bytes_moved += n;
	return n;
}

/* Move the object owning the used block h (in an isolated page) elsewhere:
 * just that block when the object is split and a block of its size is free
 * elsewhere, else the whole object, placed anew.  Returns the bytes moved,
 * or -ENOMEM when there is no room.  Caller must hold pool->lock. */
static int move_object(struct xcf_pool *pool, struct xcf_hdr *h, char *buf,
		       struct xcf_compact_result *res)
{
	struct xcf_desc *d = H_DESC(hdr_get(h));
	uint32_t old0 = d->blk[0], old1 = d->blk[1];
	size_t size;
	int rc;

	if (old1 != XCF_NOBLK) {
		unsigned which = ref_hdr(pool, old0) == h ? 0 : 1;
		size_t n = move_part(pool, d, which, res);

		if (n) {
			res->objects_moved++;
			return (int)n;
		}
	}
	size = obj_copy(pool, d, buf, false);
	rc = place(pool, size, d, true);

	if (rc) {
		d->blk[0] = old0;
		d->blk[1] = old1;
		return rc;
	}
	obj_copy(pool, d, buf, true);
	pool->split_objects += (d->blk[1] != XCF_NOBLK) - (old1 != XCF_NOBLK);
	res->pages_released += block_free(pool, old0);
	if (old1 != XCF_NOBLK)
		res->pages_released += block_free(pool, old1);
	res->objects_moved++;
	res->bytes_moved += size;
	return (int)size;
}

/* Evacuate isolated page idx.  Returns 0 when it is now empty (and has been
 * handed to the reserve or buddy), -ENOMEM when no room was left.  Caller
 * must hold pool->lock. */
static int page_evacuate(struct xcf_pool *pool, uint32_t idx, char *buf,
			 struct xcf_compact_result *res)
{
	unsigned off = 0;

	while (page_used(pool, idx) > 0) {
		struct xcf_hdr *h;
		uint64_t w;

		if (off >= UNITS_PER_PAGE) {	/* cannot happen: xcf_check */
			fprintf(stderr, "xcf(%s): page %u counts used units but has no used block\n",
				pool->name, idx);
			abort();
		}
		h = blk_at(pool, idx, off);
		w = hdr_get(h);

		if (H_DESC(w)) {
			int rc = move_object(pool, h, buf, res);

			if (rc < 0)
				return rc;
			/* The freed block merged; rescan from the block
			 * before it (its merged start is at or after that). */
			off = 0;
			continue;
		}
		off += H_UNITS(w);
	}
	res->pages_freed++;
	res->pages_released += page_unisolate(pool, idx);
	return 0;
}

/* One round of compaction: select, evacuate sparsest first, put back what
 * was not emptied.  Returns 1 to go on, 0 to stop (nothing chosen, budget
 * spent or no room left) or -ENOMEM.  Caller must hold pool->compact_lock,
 * not pool->lock. */
static int compact_round(struct xcf_pool *pool, size_t budget, char *buf,
			 struct xcf_compact_result *res)
{
	uint32_t *order;
	int64_t n;
	bool full = false;

	pthread_mutex_lock(&pool->lock);
	n = compact_select(pool, budget ? budget - res->bytes_moved : 0, &order);
	pthread_mutex_unlock(&pool->lock);
	if (n <= 0)
		return (int)n;
	res->pages_examined += (uint64_t)n;

	/* pool->lock is held for one page at a time.  Only we set or clear
	 * S_ISOLATED (compact_lock), so the isolated pages stay ours in
	 * between, even as other threads free objects in them. */
	for (int64_t k = 0; k < n && !full; k++) {
		uint32_t i = order[k];

		if (budget && res->bytes_moved >= budget)
			break;	/* budget spent */
		pthread_mutex_lock(&pool->lock);
		full = page_evacuate(pool, i, buf, res) < 0;
		pthread_mutex_unlock(&pool->lock);
	}

	/* Put back what was not emptied. */
	pthread_mutex_lock(&pool->lock);
	for (int64_t k = 0; k < n; k++) {
		uint32_t i = order[k];

		if (!page_isolated(pool, i))
			continue;
		if (page_used(pool, i) == 0)
			res->pages_freed++;
		res->pages_released += page_unisolate(pool, i);
	}
	pthread_mutex_unlock(&pool->lock);
	free(order);
	return !full && !(budget && res->bytes_moved >= budget);
}

int xcf_compact(struct xcf_pool *pool, size_t budget, struct xcf_compact_result *out)
{
	struct xcf_compact_result res = { 0 };
	char buf[XCF_MAX_SIZE];
	int rc = 0;

	if (!pool)
		return -EINVAL;
	pthread_mutex_lock(&pool->compact_lock);
	/* Each round fills the destinations up to some slack, which leaves
	 * room for another round; a few rounds get nearly everything. */
	for (unsigned round = 0; round < XCF_COMPACT_ROUNDS; round++) {
		uint64_t freed = res.pages_freed;

		rc = compact_round(pool, budget, buf, &res);
		if (rc <= 0 || res.pages_freed == freed)
			break;
	}
	pthread_mutex_lock(&pool->lock);
	pool->compactions++;
	pool->compact_pages_freed += res.pages_freed;
	pool->compact_objects_moved += res.objects_moved;
	pool->compact_bytes_moved += res.bytes_moved;
	pthread_mutex_unlock(&pool->lock);
	pthread_mutex_unlock(&pool->compact_lock);
	if (out)
		*out = res;
	return rc < 0 ? rc : 0;
}

/* Caller must hold pool->lock. */
static unsigned fragmentation_locked(const struct xcf_pool *pool)
{
	uint64_t partial = pool->pages - pool->list_len[FREE_PAGE_LIST];
	uint64_t units = partial * UNITS_PER_PAGE;

	if (!units)
		return 0;
	return (unsigned)((units - pool->used_units) * 100 / units);
}

unsigned xcf_fragmentation(struct xcf_pool *pool)
{
	unsigned f;

	pthread_mutex_lock(&pool->lock);
	f = fragmentation_locked(pool);
	pthread_mutex_unlock(&pool->lock);
	return f;
}

size_t xcf_shrink(struct xcf_pool *pool)
{
	size_t bytes = 0;

	pthread_mutex_lock(&pool->lock);
	while (pool->lists[FREE_PAGE_LIST]) {
		int64_t idx = page_get(pool, false);

		page_release(pool, (uint32_t)idx);
		bytes += XCF_PAGE_SIZE;
	}
	pthread_mutex_unlock(&pool->lock);
	return bytes;
}

void xcf_stats(struct xcf_pool *pool, struct xcf_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&pool->lock);
	memcpy(out->name, pool->name, sizeof(out->name));
	out->pages = pool->pages;
	out->free_pages = pool->list_len[FREE_PAGE_LIST];
	out->page_bytes = pool->pages * XCF_PAGE_SIZE;
	out->objects = pool->objects;
	out->desc_bytes = pool->objects * XCF_DESC_SIZE;
	out->table_bytes = (uint64_t)pool->cap * sizeof(uint64_t);
	out->used_bytes = pool->used_bytes;
	out->block_bytes = pool->used_units << UNIT_SHIFT;
	out->header_bytes = pool->used_blocks * XCF_HDR_SIZE;
	out->split_objects = pool->split_objects;
	for (unsigned i = 0; i < XCF_NR_LISTS; i++) {
		out->free_blocks[i] = pool->list_len[i];
		out->free_bytes[i] = pool->list_len[i] * ((uint64_t)(i + 1) << UNIT_SHIFT);
	}
	out->isolated_pages = pool->isolated;
	out->fragmentation = fragmentation_locked(pool);
	out->allocs = pool->allocs;
	out->frees = pool->frees;
	out->failed_allocs = pool->failed_allocs;
	out->compactions = pool->compactions;
	out->compact_pages_freed = pool->compact_pages_freed;
	out->compact_objects_moved = pool->compact_objects_moved;
	out->compact_bytes_moved = pool->compact_bytes_moved;
	pthread_mutex_unlock(&pool->lock);
}

/* ------------------------------------------------------------------ */
/* Invariants.                                                         */

#define CHECK(cond, ...)                                               \
	do {                                                           \
		if (!(cond)) {                                         \
			fprintf(stderr, "xcf_check(%s): ", pool->name); \
			fprintf(stderr, __VA_ARGS__);                  \
			fputc('\n', stderr);                           \
			goto fail;                                     \
		}                                                      \
	} while (0)

/* Caller must hold pool->lock. */
static int check_locked(struct xcf_pool *pool)
{
	uint64_t *starts = NULL;	/* per slot: bitmap of free block starts */
	uint64_t free_in_pages[XCF_NR_LISTS] = { 0 };
	uint64_t pages = 0, isolated = 0, vacant = 0, objects = 0, splits = 0;
	uint64_t used_bytes = 0, used_units = 0, used_blocks = 0;

	if (pool->nslots) {
		starts = calloc(pool->nslots, sizeof(*starts));
		CHECK(starts, "out of memory for the check");
	}
	CHECK(pool->nslots <= pool->cap, "nslots %u > cap %u", pool->nslots, pool->cap);

	/* Vacant slots form one chain. */
	for (uint32_t v = pool->vacant; v != XCF_NOBLK;
	     v = (uint32_t)(pool->slots[v] >> S_NEXT_SHIFT)) {
		CHECK(v < pool->nslots, "vacant chain leaves the table at %u", v);
		CHECK(!slot_occupied(pool, v), "vacant chain holds occupied slot %u", v);
		CHECK(++vacant <= pool->nslots, "vacant chain loops");
	}

	/* Pages: blocks tile each page; headers and descriptors agree. */
	for (uint32_t i = 0; i < pool->nslots; i++) {
		unsigned off = 0, prev = 0, units_used = 0;
		bool prev_free = false, iso;

		if (!slot_occupied(pool, i))
			continue;
		pages++;
		iso = page_isolated(pool, i);
		isolated += iso;
		CHECK(page_base(pool, i) != NULL, "slot %u has no page", i);
		while (off < UNITS_PER_PAGE) {
			struct xcf_hdr *h = blk_at(pool, i, off);
			uint64_t w;
			unsigned units;
			struct xcf_desc *d;

			CHECK(hdr_sentinel_ok(h), "page %u block %u: bad sentinel", i, off);
			w = hdr_get(h);
			units = H_UNITS(w);
			d = H_DESC(w);
			CHECK(off + units <= UNITS_PER_PAGE,
			      "page %u block %u: %u units overrun the page", i, off, units);
			CHECK(H_PREV(w) == prev, "page %u block %u: prev %u, expected %u",
			      i, off, H_PREV(w), prev);
			if (!d) {
				CHECK(!prev_free, "page %u block %u: two free blocks in a row",
				      i, off);
				CHECK(H_PAD(w) == 0, "page %u block %u: free block with pad", i, off);
				if (!iso) {
					starts[i] |= 1ull << off;
					free_in_pages[units - 1]++;
					CHECK(((struct xcf_free *)h)->page == i,
					      "page %u block %u: free body names page %u", i, off,
					      ((struct xcf_free *)h)->page);
				}
				prev_free = true;
			} else {
				uint32_t ref = ref_make(i, off);
				bool first = d->blk[0] == ref;

				CHECK(first || d->blk[1] == ref,
				      "page %u block %u: descriptor %p does not point back", i, off,
				      (void *)d);
				units_used += units;
				used_blocks++;
				if (first) {
					objects++;
					if (d->blk[1] != XCF_NOBLK) {
						uint32_t p1 = d->blk[1] >> UNIT_SHIFT;
						struct xcf_hdr *b;

						splits++;
						CHECK(p1 != i, "page %u block %u: both blocks on one page",
						      i, off);
						CHECK(p1 < pool->nslots && slot_occupied(pool, p1),
						      "page %u block %u: second block on bad page %u",
						      i, off, p1);
						b = ref_hdr(pool, d->blk[1]);
						CHECK(H_DESC(hdr_get(b)) == d,
						      "page %u block %u: second block not owned", i, off);
						CHECK(H_PAD(w) == 0,
						      "page %u block %u: first of two blocks has pad", i, off);
					}
					used_bytes += obj_size(pool, d);
				} else {
					CHECK(d->blk[0] >> UNIT_SHIFT < pool->nslots &&
					      slot_occupied(pool, d->blk[0] >> UNIT_SHIFT),
					      "page %u block %u: first block on bad page", i, off);
					CHECK(H_DESC(hdr_get(ref_hdr(pool, d->blk[0]))) == d,
					      "page %u block %u: first block not owned", i, off);
				}
				CHECK(H_PAD(w) < XCF_BLOCK_SIZE && H_PAD(w) < block_cap(units),
				      "page %u block %u: pad %u", i, off, H_PAD(w));
				prev_free = false;
			}
			prev = off;
			off += units;
		}
		CHECK(page_used(pool, i) == units_used, "page %u: slot says %u used units, blocks %u",
		      i, page_used(pool, i), units_used);
		used_units += units_used;
	}
	CHECK(pages + vacant == pool->nslots, "pages %llu + vacant %llu != slots %u",
	      (unsigned long long)pages, (unsigned long long)vacant, pool->nslots);

	/* Free lists: exactly the free blocks of the pages not isolated. */
	for (unsigned li = 0; li < XCF_NR_LISTS; li++) {
		uint64_t n = 0;
		struct xcf_free *prevf = NULL;

		CHECK(!!pool->lists[li] == !!(pool->nonempty & (1ull << li)),
		      "list %u: bitmap disagrees", li);
		for (struct xcf_free *f = pool->lists[li]; f; prevf = f, f = f->next) {
			uint32_t p = f->page;
			unsigned off = hdr_off(&f->hdr);

			CHECK(++n <= pool->list_len[li], "list %u longer than %llu", li,
			      (unsigned long long)pool->list_len[li]);
			CHECK(f->prev == prevf, "list %u: broken back link", li);
			CHECK(p < pool->nslots && slot_occupied(pool, p) && !page_isolated(pool, p),
			      "list %u: block on bad page %u", li, p);
			CHECK(page_base(pool, p) == (char *)((uintptr_t)f & ~(uintptr_t)(XCF_PAGE_SIZE - 1)),
			      "list %u: block %p not in page %u", li, (void *)f, p);
			CHECK(starts[p] & (1ull << off), "list %u: %p is not a free block", li,
			      (void *)f);
			starts[p] &= ~(1ull << off);	/* listed once */
			CHECK(H_UNITS(hdr_get(&f->hdr)) == li + 1, "list %u: block of %u units",
			      li, H_UNITS(hdr_get(&f->hdr)));
		}
		CHECK(n == pool->list_len[li], "list %u: %llu blocks, counter %llu", li,
		      (unsigned long long)n, (unsigned long long)pool->list_len[li]);
		CHECK(n == free_in_pages[li], "list %u: %llu blocks, pages hold %llu", li,
		      (unsigned long long)n, (unsigned long long)free_in_pages[li]);
	}
	CHECK(pool->list_len[FREE_PAGE_LIST] <= pool->reserve,
	      "%llu reserve pages > reserve %u",
	      (unsigned long long)pool->list_len[FREE_PAGE_LIST], pool->reserve);

	/* Counters. */
	CHECK(pages == pool->pages, "pages %llu, counter %llu", (unsigned long long)pages,
	      (unsigned long long)pool->pages);
	CHECK(isolated == pool->isolated, "isolated %llu, counter %llu",
	      (unsigned long long)isolated, (unsigned long long)pool->isolated);
	CHECK(objects == pool->objects, "objects %llu, counter %llu",
	      (unsigned long long)objects, (unsigned long long)pool->objects);
	CHECK(splits == pool->split_objects, "split objects %llu, counter %llu",
	      (unsigned long long)splits, (unsigned long long)pool->split_objects);
	CHECK(used_bytes == pool->used_bytes, "used bytes %llu, counter %llu",
	      (unsigned long long)used_bytes, (unsigned long long)pool->used_bytes);
	CHECK(used_units == pool->used_units, "used units %llu, counter %llu",
	      (unsigned long long)used_units, (unsigned long long)pool->used_units);
	CHECK(used_blocks == pool->used_blocks, "used blocks %llu, counter %llu",
	      (unsigned long long)used_blocks, (unsigned long long)pool->used_blocks);
	CHECK(used_blocks == objects + splits, "%llu blocks for %llu objects, %llu split",
	      (unsigned long long)used_blocks, (unsigned long long)objects,
	      (unsigned long long)splits);
	CHECK(pool->allocs - pool->frees == objects, "allocs - frees != objects");
	free(starts);
	return 0;
fail:
	free(starts);
	return -EUCLEAN;
}

int xcf_check(struct xcf_pool *pool)
{
	int rc;

	pthread_mutex_lock(&pool->lock);
	rc = check_locked(pool);
	pthread_mutex_unlock(&pool->lock);
	return rc;
}
