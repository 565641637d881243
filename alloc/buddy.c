/* buddy.c - chunk buddy allocator (see buddy.h for the contract).
 *
 * Memory layout.  A chunk is 4 MiB of anonymous memory aligned to 4 MiB
 * (mapped 4 MiB - 4 KiB too large, then trimmed at both ends).  Nothing of
 * the allocator lives inside it: its metadata is a separate malloc'ed
 * struct buddy_chunk holding the tree, its place in the list and two
 * counters, so every block is plain memory aligned to its size.
 *
 * The tree is a complete binary tree in heap order, 1-based: tree[1] is the
 * root (order 10, the whole chunk), node i has children 2i and 2i+1, and the
 * leaves 1024..2047 are the 1024 pages (order 0); tree[0] is unused, so the
 * 2047 nodes fit a 2048-byte array.  A node of order o covers pages
 * [(i << o) - 1024, ((i + 1) << o) - 1024).  Its value is
 *
 *	o + 1		the node is wholly free ("full" value);
 *	1 .. o		the largest free block inside it has order value - 1;
 *	0		nothing inside is free.
 *
 * Allocated blocks.  Allocating a wholly free node sets it to 0 and leaves
 * its descendants untouched: they keep their (stale) full values, and they
 * are never looked at while the block is out, because a search never
 * descends into a 0 node.  Hence the rule buddy_check() verifies and
 * buddy_free() relies on:
 *
 *	a node is an allocated block  <=>  its value is 0 and it is a leaf, or
 *	                                   its value is 0 and both children are
 *	                                   nonzero (then its whole subtree holds
 *	                                   full values);
 *	a node with value 0 whose children are both 0 is an internal node
 *	that is merely fully used; one 0 child and one nonzero child under a
 *	0 node is corrupt.
 *
 * So walking up from the leaf of any page inside an allocated block, the
 * first node holding 0 is that block (everything below it holds full
 * values); buddy_free uses this to find the block from the pointer alone
 * and compare its order and start with what the caller claims.  When a
 * block is freed the node gets its full value back and the walk to the root
 * recomputes each parent: both children full -> the parent is full (the
 * buddies merge), else the larger child value.
 *
 * Finding a chunk from a pointer: every chunk and every direct mapping
 * starts at a 4 MiB boundary and covers at least 4 MiB, so (address >> 22)
 * of its start is a unique key.  A small open-addressing hash table
 * (linear probing, backward-shift deletion) maps keys to regions; it is
 * grown before anything is mapped, so a failed allocation changes nothing.
 *
 * The chunk list.  Allocation takes the first chunk, head to tail, whose
 * root can serve the request, and the leftmost fit inside it.  A chunk that
 * becomes wholly free is moved to the tail, and free chunks beyond the
 * reserve are unmapped from there; new chunks are appended.  So the
 * wholly free chunks always form a suffix of the list (the first free chunk
 * the search reaches has only partly used chunks before it), and small
 * requests fill holes in used chunks before they split a free one, which
 * keeps whole chunks free for large requests and for unmapping.
 *
 * The list is an array of chunk pointers in list order (chunkv) with a
 * parallel array of the chunks' root values (roots), so the head-to-tail
 * search reads one contiguous byte per chunk, eight at a time (a store of
 * 2 GiB is 512 chunks: 64 words), instead of chasing a pointer into each
 * chunk's metadata.  Appending is amortised O(1); moving a chunk to the
 * tail or removing one shifts the arrays, which only happens when a chunk
 * becomes wholly free.  Each chunk knows its index (pos), so an allocation
 * or a free refreshes its root byte in O(1).
 *
 * Direct mappings (requests over 4 MiB) get a malloc'ed record in a list
 * (for stats and destroy) and in the hash table (so buddy_free can check
 * the size it is given).  They are mapped and unmapped outside the lock.
 *
 * Under AddressSanitizer, free pages of a chunk are poisoned, so a use of
 * a buddy block after buddy_free is reported like a use after free().
 *
 * Debug builds (ZC_DEBUG) abort on an invalid buddy_free and re-verify
 * the path from every allocated or freed node to the root, and can fail
 * chosen buddy_alloc calls on purpose (fault injection, see buddy.h).
 *
 * Lock order: buddy->lock only, a leaf lock: no zcached lock is taken under
 * it.  malloc is called under it, and mmap of a new chunk (rare: chunks are
 * kept while used); direct maps are mapped and unmapped, and chunks
 * unmapped, after it is dropped.
 */
#include "alloc/buddy.h"
#include "alloc/fault.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14; older headers lack it */
#endif

#define BUDDY_CHUNK_PAGES (1u << BUDDY_MAX_ORDER)	/* 1024 */
#define BUDDY_TREE_NODES (2u * BUDDY_CHUNK_PAGES)	/* 2048: 2047 nodes + unused [0] */
#define BUDDY_CHUNK_SHIFT (BUDDY_PAGE_SHIFT + BUDDY_MAX_ORDER)	/* 22 */
#define BUDDY_FULL_ROOT (BUDDY_MAX_ORDER + 1)		/* root value of a free chunk */

static_assert(BUDDY_CHUNK_SIZE == ((size_t)4 << 20), "chunks are 4 MiB");
static_assert(BUDDY_TREE_NODES == 2048, "the tree is a 2048-byte array");
static_assert(BUDDY_MAX_ORDER + 1 <= UINT8_MAX, "tree values fit a byte");
static_assert(BUDDY_FULL_ROOT + 0x7f < 0x100, "the root search adds within a byte");
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the root search counts bytes from the low end");

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define buddy_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define buddy_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define buddy_poison(p, n) ((void)(p), (void)(n))
#define buddy_unpoison(p, n) ((void)(p), (void)(n))
#endif

enum buddy_kind { BUDDY_REGION_CHUNK = 1, BUDDY_REGION_DIRECT = 2 };

/* What the hash table points at: the first member of both region kinds. */
struct buddy_region {
	char *base;		/* 4 MiB aligned start; immutable */
	enum buddy_kind kind;	/* immutable */
};

struct buddy_chunk {
	struct buddy_region r;
	size_t pos;		/* index in chunkv/roots; protected by buddy->lock */
	struct buddy_chunk *gone;	/* buddy_trim's chain of detached chunks */
	uint32_t used_pages;	/* pages in allocated blocks; protected by buddy->lock */
	uint32_t blocks;	/* allocated blocks; protected by buddy->lock */
	uint8_t tree[BUDDY_TREE_NODES];		/* protected by buddy->lock */
};

struct buddy_direct {
	struct buddy_region r;
	struct buddy_direct *prev, *next;	/* protected by buddy->lock */
	size_t len;		/* mapped bytes (size rounded to pages); immutable */
	size_t requested;	/* the size asked for; immutable */
};


struct buddy {
	pthread_mutex_t lock;
	unsigned reserve;	/* wholly free chunks kept mapped; immutable */

	/* The chunk list, head first; roots[i] == chunkv[i]->tree[1], and
	 * roots[nchunks .. cap + 7] are 0 (the search reads whole words). */
	struct buddy_chunk **chunkv;		/* protected by lock */
	uint8_t *roots;				/* cap + 8 bytes; protected by lock */
	size_t nchunks, cap;			/* protected by lock */
	struct buddy_direct *direct;		/* protected by lock */

	struct buddy_region **slots;	/* hash table; protected by lock */
	size_t nslots;			/* 0 or a power of two; protected by lock */
	size_t nused;			/* protected by lock */

	struct buddy_stats st;		/* protected by lock */
	struct zc_fault fault;	/* atomics; debug builds only */
};

/* ------------------------------------------------------------------ */
/* Sizes and orders. */

size_t buddy_block_size(size_t size)
{
	size_t pages, block;

	if (size == 0 || size > SIZE_MAX - (BUDDY_PAGE_SIZE - 1))
		return 0;
	pages = (size + BUDDY_PAGE_SIZE - 1) >> BUDDY_PAGE_SHIFT;
	if (pages > BUDDY_CHUNK_PAGES)
		return pages << BUDDY_PAGE_SHIFT;
	block = 1;
	while (block < pages)
		block <<= 1;
	return block << BUDDY_PAGE_SHIFT;
}

/* Order of a request of 1 .. BUDDY_CHUNK_SIZE bytes. */
static unsigned buddy_order(size_t size)
{
	size_t pages = (size + BUDDY_PAGE_SIZE - 1) >> BUDDY_PAGE_SHIFT;

	if (pages <= 1)
		return 0;
	return (unsigned)(64 - __builtin_clzll((unsigned long long)(pages - 1)));
}

/* Order of tree node i (root 1 has order 10, leaves order 0). */
static unsigned buddy_node_order(unsigned i)
{
	return BUDDY_MAX_ORDER - (unsigned)(31 - __builtin_clz(i));
}

/* First page of tree node i of order o. */
static unsigned buddy_node_page(unsigned i, unsigned o)
{
	return (i << o) - BUDDY_CHUNK_PAGES;
}

/* ------------------------------------------------------------------ */
/* Debug checks: invalid frees abort in debug builds and are ignored
 * otherwise; tree paths are re-verified in debug builds only. */

#ifdef ZC_DEBUG
static void buddy_bad_free(const void *ptr, size_t size, const char *why)
{
	fprintf(stderr, "buddy_free(%p, %zu): %s\n", ptr, size, why);
	abort();
}

/* Verify that every ancestor of node i holds what its children imply (an
 * ancestor of a node just allocated or freed is never itself a block). */
static void buddy_debug_path(const uint8_t *t, unsigned i)
{
	unsigned o = buddy_node_order(i);

	for (i >>= 1, o++; i >= 1; i >>= 1, o++) {
		uint8_t l = t[2 * i], r = t[2 * i + 1];
		uint8_t want = (l == o && r == o) ? (uint8_t)(o + 1) : (l > r ? l : r);

		if (t[i] != want) {
			fprintf(stderr, "buddy: node %u (order %u) holds %u, children %u,%u imply %u\n",
				i, o, t[i], l, r, want);
			abort();
		}
	}
}
#else
static void buddy_bad_free(const void *ptr, size_t size, const char *why)
{
	(void)ptr;
	(void)size;
	(void)why;
}

static void buddy_debug_path(const uint8_t *t, unsigned i)
{
	(void)t;
	(void)i;
}
#endif

/* ------------------------------------------------------------------ */
/* Fault injection (debug builds; see buddy.h).  The countdown is a few
 * atomics in the allocator, touched only while armed, so an unarmed
 * debug allocator pays one relaxed load per buddy_alloc. */

int buddy_fault_set(struct buddy *b, uint64_t nth, uint64_t every)
{
	zc_fault_arm(&b->fault, nth, every);
	return ZC_FAULT_SET_RESULT;
}

uint64_t buddy_fault_count(struct buddy *b)
{
	return zc_fault_count(&b->fault);
}

/* ------------------------------------------------------------------ */
/* The region hash table.  Caller must hold b->lock for all of these. */

static size_t buddy_hash(uintptr_t key, size_t nslots)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & (nslots - 1);
}

static uintptr_t buddy_key(const void *p)
{
	return (uintptr_t)p >> BUDDY_CHUNK_SHIFT;
}

static struct buddy_region *buddy_lookup(struct buddy *b, const void *p)
{
	uintptr_t key = buddy_key(p);
	size_t i;

	if (b->nslots == 0)
		return NULL;
	for (i = buddy_hash(key, b->nslots);; i = (i + 1) & (b->nslots - 1)) {
		struct buddy_region *r = b->slots[i];

		if (!r)
			return NULL;
		if (buddy_key(r->base) == key)
			return r;
	}
}

static void buddy_place(struct buddy_region **slots, size_t nslots, struct buddy_region *r)
{
	size_t i = buddy_hash(buddy_key(r->base), nslots);

	while (slots[i])
		i = (i + 1) & (nslots - 1);
	slots[i] = r;
}

/* Make room for one more region (load kept at most 1/2).
 * Returns 0 or -ENOMEM; the table is unchanged on failure. */
static int buddy_reserve_slot(struct buddy *b)
{
	struct buddy_region **ns;
	size_t n, i;

	if ((b->nused + 1) * 2 <= b->nslots)
		return 0;
	n = b->nslots ? b->nslots * 2 : 16;
	ns = calloc(n, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (i = 0; i < b->nslots; i++)
		if (b->slots[i])
			buddy_place(ns, n, b->slots[i]);
	free(b->slots);
	b->slots = ns;
	b->nslots = n;
	return 0;
}

/* Insert; buddy_reserve_slot() must have succeeded first. */
static void buddy_insert(struct buddy *b, struct buddy_region *r)
{
	buddy_place(b->slots, b->nslots, r);
	b->nused++;
}

static void buddy_remove(struct buddy *b, struct buddy_region *r)
{
	size_t mask = b->nslots - 1;
	size_t i = buddy_hash(buddy_key(r->base), b->nslots);
	size_t j;

	while (b->slots[i] != r)
		i = (i + 1) & mask;
	/* Backward-shift deletion: pull later members of the probe run into
	 * the hole unless their home slot lies cyclically in (i, j]. */
	for (j = (i + 1) & mask; b->slots[j]; j = (j + 1) & mask) {
		size_t h = buddy_hash(buddy_key(b->slots[j]->base), b->nslots);

		if (((j - h) & mask) >= ((j - i) & mask)) {
			b->slots[i] = b->slots[j];
			i = j;
		}
	}
	b->slots[i] = NULL;
	b->nused--;
}

/* ------------------------------------------------------------------ */
/* Mapping. */

/* Map `len` bytes (a multiple of the page size) aligned to 4 MiB.
 * Returns NULL on failure. */
static char *buddy_map_aligned(size_t len)
{
	size_t extra = BUDDY_CHUNK_SIZE - BUDDY_PAGE_SIZE;
	size_t head, tail;
	char *p, *q;

	if (len > SIZE_MAX - extra)
		return NULL;
	p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	q = (char *)(((uintptr_t)p + BUDDY_CHUNK_SIZE - 1) & ~(uintptr_t)(BUDDY_CHUNK_SIZE - 1));
	head = (size_t)(q - p);
	tail = extra - head;
	if (head)
		munmap(p, head);
	if (tail)
		munmap(q + len, tail);
	return q;
}

static void buddy_unmap(char *p, size_t len)
{
	buddy_unpoison(p, len);	/* the range may be reused by anyone */
	munmap(p, len);
}

/* A new wholly free chunk, in no list.  Returns NULL on failure. */
static struct buddy_chunk *buddy_chunk_new(void)
{
	struct buddy_chunk *c = malloc(sizeof(*c));
	unsigned i;

	if (!c)
		return NULL;
	c->r.base = buddy_map_aligned(BUDDY_CHUNK_SIZE);
	if (!c->r.base) {
		free(c);
		return NULL;
	}
	c->r.kind = BUDDY_REGION_CHUNK;
	c->pos = 0;
	c->gone = NULL;
	c->used_pages = 0;
	c->blocks = 0;
	c->tree[0] = 0;
	for (i = 1; i < BUDDY_TREE_NODES; i++)
		c->tree[i] = (uint8_t)(buddy_node_order(i) + 1);
	buddy_poison(c->r.base, BUDDY_CHUNK_SIZE);
	return c;
}

/* Make room in the chunk list for one more chunk.  Returns 0 or -ENOMEM;
 * nothing changes on failure.  Caller must hold b->lock. */
static int buddy_reserve_chunk(struct buddy *b)
{
	struct buddy_chunk **cv;
	uint8_t *roots;
	size_t cap;

	if (b->nchunks < b->cap)
		return 0;
	cap = b->cap ? b->cap * 2 : 16;
	cv = malloc(cap * sizeof(*cv));
	roots = calloc(cap + 8, 1);
	if (!cv || !roots) {
		free(cv);
		free(roots);
		return -ENOMEM;
	}
	if (b->nchunks) {
		memcpy(cv, b->chunkv, b->nchunks * sizeof(*cv));
		memcpy(roots, b->roots, b->nchunks);
	}
	free(b->chunkv);
	free(b->roots);
	b->chunkv = cv;
	b->roots = roots;
	b->cap = cap;
	return 0;
}

/* Append c (room reserved by buddy_reserve_chunk).  Caller must hold
 * b->lock. */
static void buddy_chunk_append(struct buddy *b, struct buddy_chunk *c)
{
	c->pos = b->nchunks++;
	b->chunkv[c->pos] = c;
	b->roots[c->pos] = c->tree[1];
}

/* Remove c from the list, closing the gap.  Caller must hold b->lock. */
static void buddy_chunk_unlink(struct buddy *b, struct buddy_chunk *c)
{
	size_t i = c->pos, n = b->nchunks - 1;

	memmove(&b->chunkv[i], &b->chunkv[i + 1], (n - i) * sizeof(b->chunkv[0]));
	memmove(&b->roots[i], &b->roots[i + 1], n - i);
	for (; i < n; i++)
		b->chunkv[i]->pos = i;
	b->roots[n] = 0;
	b->nchunks = n;
}

/* Move c to the tail.  Caller must hold b->lock. */
static void buddy_chunk_to_tail(struct buddy *b, struct buddy_chunk *c)
{
	buddy_chunk_unlink(b, c);
	buddy_chunk_append(b, c);	/* the slot just freed is reused */
}

/* Index of the first chunk whose root value exceeds k (it can serve order
 * k), or b->nchunks when none can.  Each byte is at most
 * BUDDY_FULL_ROOT, so adding 0x7f - k to every byte of a word carries into
 * no neighbour and sets a byte's top bit exactly when the byte is > k.
 * Caller must hold b->lock. */
static size_t buddy_find_chunk(const struct buddy *b, unsigned k)
{
	const uint64_t add = 0x0101010101010101ull * (0x7f - k);
	size_t i;

	for (i = 0; i < b->nchunks; i += 8) {
		uint64_t w, m;

		memcpy(&w, &b->roots[i], sizeof(w));
		m = (w + add) & 0x8080808080808080ull;
		if (m) {
			i += (size_t)__builtin_ctzll(m) >> 3;
			return i < b->nchunks ? i : b->nchunks;
		}
	}
	return b->nchunks;
}

/* Take a wholly free chunk out of the allocator (list, hash, counters);
 * the caller unmaps it with buddy_chunk_release() after dropping the lock.
 * Caller must hold b->lock. */
static void buddy_chunk_detach(struct buddy *b, struct buddy_chunk *c)
{
	buddy_chunk_unlink(b, c);
	buddy_remove(b, &c->r);
	b->st.chunks--;
	b->st.free_chunks--;
	b->st.chunks_unmapped++;
}

static void buddy_chunk_release(struct buddy_chunk *c)
{
	buddy_unmap(c->r.base, BUDDY_CHUNK_SIZE);
	free(c);
}

/* ------------------------------------------------------------------ */
/* The tree. */

/* Recompute the ancestors of node i.  Caller must hold b->lock. */
static void buddy_tree_update(uint8_t *t, unsigned i)
{
	unsigned o = buddy_node_order(i);

	while (i > 1) {
		uint8_t l, r, v;

		i >>= 1;
		o++;
		l = t[2 * i];
		r = t[2 * i + 1];
		v = (l == o && r == o) ? (uint8_t)(o + 1) : (l > r ? l : r);
		if (t[i] == v)
			break;	/* nothing above changes either */
		t[i] = v;
	}
}

/* Take the leftmost free block of order k from a chunk whose root value is
 * more than k.  Returns the block's node.  Caller must hold b->lock. */
static unsigned buddy_tree_alloc(uint8_t *t, unsigned k)
{
	unsigned i = 1, o = BUDDY_MAX_ORDER;

	while (o > k) {
		i *= 2;
		if (t[i] <= k)
			i++;
		o--;
	}
	t[i] = 0;
	buddy_tree_update(t, i);
	buddy_debug_path(t, i);
	return i;
}

/* ------------------------------------------------------------------ */
/* Public interface. */

struct buddy *buddy_create(unsigned reserve)
{
	struct buddy *b = calloc(1, sizeof(*b));

	if (!b) {
		errno = ENOMEM;
		return NULL;
	}
	if (pthread_mutex_init(&b->lock, NULL) != 0) {
		free(b);
		errno = ENOMEM;
		return NULL;
	}
	b->reserve = reserve;
	zc_fault_init(&b->fault, "ZC_FAULT_BUDDY", "buddy");
	return b;
}

void buddy_destroy(struct buddy *b)
{
	struct buddy_direct *d, *dn;

	if (!b)
		return;
	for (size_t i = 0; i < b->nchunks; i++)
		buddy_chunk_release(b->chunkv[i]);
	free(b->chunkv);
	free(b->roots);
	for (d = b->direct; d; d = dn) {
		dn = d->next;
		buddy_unmap(d->r.base, d->len);
		free(d);
	}
	free(b->slots);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static void *buddy_alloc_direct(struct buddy *b, size_t size)
{
	size_t len = buddy_block_size(size);
	struct buddy_direct *d;

	if (len == 0)
		goto err_count;
	d = malloc(sizeof(*d));
	if (!d)
		goto err_count;
	d->r.base = buddy_map_aligned(len);
	if (!d->r.base)
		goto err_free;
	d->r.kind = BUDDY_REGION_DIRECT;
	d->len = len;
	d->requested = size;
	d->prev = NULL;

	pthread_mutex_lock(&b->lock);
	if (buddy_reserve_slot(b) < 0) {
		pthread_mutex_unlock(&b->lock);
		goto err_unmap;
	}
	buddy_insert(b, &d->r);
	d->next = b->direct;
	if (b->direct)
		b->direct->prev = d;
	b->direct = d;
	b->st.direct_maps++;
	b->st.direct_bytes += len;
	b->st.bytes_allocated += len;
	b->st.bytes_requested += size;
	b->st.blocks++;
	b->st.allocs++;
	pthread_mutex_unlock(&b->lock);
	return d->r.base;

err_unmap:
	munmap(d->r.base, len);
err_free:
	free(d);
err_count:
	pthread_mutex_lock(&b->lock);
	b->st.failed++;
	pthread_mutex_unlock(&b->lock);
	errno = ENOMEM;
	return NULL;
}

void *buddy_alloc(struct buddy *b, size_t size)
{
	struct buddy_chunk *c;
	unsigned k, page;
	size_t i;
	char *p;

	if (size == 0) {
		pthread_mutex_lock(&b->lock);
		b->st.failed++;
		pthread_mutex_unlock(&b->lock);
		errno = EINVAL;
		return NULL;
	}
	if (zc_fault_fire(&b->fault)) {
		pthread_mutex_lock(&b->lock);
		b->st.failed++;
		pthread_mutex_unlock(&b->lock);
		errno = ENOMEM;
		return NULL;
	}
	if (size > BUDDY_CHUNK_SIZE)
		return buddy_alloc_direct(b, size);
	k = buddy_order(size);

	pthread_mutex_lock(&b->lock);
	i = buddy_find_chunk(b, k);
	if (i < b->nchunks) {
		c = b->chunkv[i];
	} else {
		if (buddy_reserve_slot(b) < 0 || buddy_reserve_chunk(b) < 0 ||
		    !(c = buddy_chunk_new())) {
			b->st.failed++;
			pthread_mutex_unlock(&b->lock);
			errno = ENOMEM;
			return NULL;
		}
		buddy_insert(b, &c->r);
		buddy_chunk_append(b, c);
		b->st.chunks++;
		b->st.free_chunks++;
		b->st.chunks_mapped++;
	}
	if (c->tree[1] == BUDDY_FULL_ROOT)
		b->st.free_chunks--;
	page = buddy_node_page(buddy_tree_alloc(c->tree, k), k);
	b->roots[c->pos] = c->tree[1];
	c->used_pages += 1u << k;
	c->blocks++;
	b->st.bytes_allocated += BUDDY_PAGE_SIZE << k;
	b->st.bytes_requested += size;
	b->st.blocks++;
	b->st.allocs++;
	p = c->r.base + ((size_t)page << BUDDY_PAGE_SHIFT);
	buddy_unpoison(p, BUDDY_PAGE_SIZE << k);
	pthread_mutex_unlock(&b->lock);
	return p;
}

static void buddy_free_direct(struct buddy *b, void *ptr, size_t size)
{
	struct buddy_region *r;
	struct buddy_direct *d;

	pthread_mutex_lock(&b->lock);
	r = buddy_lookup(b, ptr);
	if (!r || r->kind != BUDDY_REGION_DIRECT || r->base != (char *)ptr) {
		pthread_mutex_unlock(&b->lock);
		buddy_bad_free(ptr, size, "not the start of a direct mapping");
		return;
	}
	d = (struct buddy_direct *)r;
	if (d->requested != size) {
		pthread_mutex_unlock(&b->lock);
		buddy_bad_free(ptr, size, "size differs from the one allocated");
		return;
	}
	buddy_remove(b, r);
	if (d->prev)
		d->prev->next = d->next;
	else
		b->direct = d->next;
	if (d->next)
		d->next->prev = d->prev;
	b->st.direct_maps--;
	b->st.direct_bytes -= d->len;
	b->st.bytes_allocated -= d->len;
	b->st.bytes_requested -= d->requested;
	b->st.blocks--;
	b->st.frees++;
	pthread_mutex_unlock(&b->lock);
	buddy_unmap(d->r.base, d->len);
	free(d);
}

/* How many wholly free chunks to keep mapped now: the fixed reserve, or
 * with BUDDY_RESERVE_ADAPTIVE three quarters of the chunks in use, clamped to
 * [BUDDY_RESERVE_MIN, BUDDY_RESERVE_MAX].  Caller must hold b->lock. */
static unsigned buddy_keep(const struct buddy *b)
{
	uint64_t keep;

	if (b->reserve != BUDDY_RESERVE_ADAPTIVE)
		return b->reserve;
	keep = (b->st.chunks - b->st.free_chunks) * 3 / 4;
	if (keep < BUDDY_RESERVE_MIN)
		keep = BUDDY_RESERVE_MIN;
	if (keep > BUDDY_RESERVE_MAX)
		keep = BUDDY_RESERVE_MAX;
	return (unsigned)keep;
}

void buddy_free(struct buddy *b, void *ptr, size_t size)
{
	struct buddy_region *r;
	struct buddy_chunk *c, *victim, *victims = NULL;
	size_t off;
	unsigned i, o, k;

	if (!ptr)
		return;
	if (size == 0) {
		buddy_bad_free(ptr, size, "size 0 was never allocated");
		return;
	}
	if (size > BUDDY_CHUNK_SIZE) {
		buddy_free_direct(b, ptr, size);
		return;
	}
	k = buddy_order(size);

	pthread_mutex_lock(&b->lock);
	r = buddy_lookup(b, ptr);
	if (!r || r->kind != BUDDY_REGION_CHUNK) {
		pthread_mutex_unlock(&b->lock);
		buddy_bad_free(ptr, size, "not in any chunk of this allocator");
		return;
	}
	c = (struct buddy_chunk *)r;
	off = (size_t)((char *)ptr - c->r.base);
	/* Walk up from the page's leaf to the first 0: the block holding it. */
	i = BUDDY_CHUNK_PAGES + (unsigned)(off >> BUDDY_PAGE_SHIFT);
	o = 0;
	while (c->tree[i] != 0 && i > 1) {
		i >>= 1;
		o++;
	}
	if (c->tree[i] != 0) {
		pthread_mutex_unlock(&b->lock);
		buddy_bad_free(ptr, size, "not an allocated block");
		return;
	}
	if (((size_t)buddy_node_page(i, o) << BUDDY_PAGE_SHIFT) != off) {
		pthread_mutex_unlock(&b->lock);
		buddy_bad_free(ptr, size, "not the start of its block");
		return;
	}
	if (o != k) {
		pthread_mutex_unlock(&b->lock);
		buddy_bad_free(ptr, size, "size does not match the block's order");
		return;
	}
	buddy_poison(ptr, BUDDY_PAGE_SIZE << k);
	c->tree[i] = (uint8_t)(k + 1);
	buddy_tree_update(c->tree, i);
	buddy_debug_path(c->tree, i);
	b->roots[c->pos] = c->tree[1];
	c->used_pages -= 1u << k;
	c->blocks--;
	b->st.bytes_allocated -= BUDDY_PAGE_SIZE << k;
	b->st.bytes_requested -= size;
	b->st.blocks--;
	b->st.frees++;
	if (c->tree[1] == BUDDY_FULL_ROOT) {
		b->st.free_chunks++;
		/* Wholly free chunks stay at the tail (see the top); the
		 * surplus beyond the reserve is unmapped from there, this
		 * chunk first.  An adaptive reserve shrinks by at most one as
		 * a chunk becomes free, so this unmaps at most two. */
		if (c->pos != b->nchunks - 1)
			buddy_chunk_to_tail(b, c);
		while (b->st.free_chunks > buddy_keep(b)) {
			c = b->chunkv[b->nchunks - 1];
			buddy_chunk_detach(b, c);
			c->gone = victims;
			victims = c;
		}
	}
	pthread_mutex_unlock(&b->lock);
	for (c = victims; c; c = victim) {
		victim = c->gone;
		buddy_chunk_release(c);
	}
}

size_t buddy_trim(struct buddy *b, unsigned keep)
{
	struct buddy_chunk *c, *next, *victims = NULL;
	size_t bytes = 0;

	pthread_mutex_lock(&b->lock);
	/* The free chunks are the tail of the list. */
	while (b->st.free_chunks > keep) {
		c = b->chunkv[b->nchunks - 1];
		buddy_chunk_detach(b, c);
		c->gone = victims;
		victims = c;
		bytes += BUDDY_CHUNK_SIZE;
	}
	pthread_mutex_unlock(&b->lock);
	for (c = victims; c; c = next) {
		next = c->gone;
		buddy_chunk_release(c);
	}
	return bytes;
}

int buddy_prefault(struct buddy *b, unsigned max_free)
{
	struct buddy_chunk *c;
	int ret = 1;

	pthread_mutex_lock(&b->lock);
	if (b->st.free_chunks >= buddy_keep(b) || b->st.free_chunks >= max_free)
		ret = 0;
	pthread_mutex_unlock(&b->lock);
	if (ret == 0)
		return 0;
	c = buddy_chunk_new();
	if (!c)
		return -ENOMEM;
	/* The kernel writes nothing the program sees (the pages are zero),
	 * so the chunk's ASan poison stays as it is. */
	if (madvise(c->r.base, BUDDY_CHUNK_SIZE, MADV_POPULATE_WRITE) < 0) {
		ret = errno == ENOMEM ? -ENOMEM : -EOPNOTSUPP;
		buddy_chunk_release(c);
		return ret;
	}
	pthread_mutex_lock(&b->lock);
	/* Another thread may have filled the reserve meanwhile. */
	if (b->st.free_chunks >= buddy_keep(b) || b->st.free_chunks >= max_free)
		ret = 0;
	else if (buddy_reserve_slot(b) < 0 || buddy_reserve_chunk(b) < 0)
		ret = -ENOMEM;
	if (ret == 1) {
		buddy_insert(b, &c->r);
		buddy_chunk_append(b, c);
		b->st.chunks++;
		b->st.free_chunks++;
		b->st.chunks_mapped++;
	}
	pthread_mutex_unlock(&b->lock);
	if (ret != 1)
		buddy_chunk_release(c);
	return ret;
}

void buddy_stats(struct buddy *b, struct buddy_stats *out)
{
	pthread_mutex_lock(&b->lock);
	*out = b->st;
	pthread_mutex_unlock(&b->lock);
}

/* ------------------------------------------------------------------ */
/* Invariants. */

#define BUDDY_BAD(...)                                   \
	do {                                             \
		fprintf(stderr, "buddy_check: " __VA_ARGS__); \
		fputc('\n', stderr);                     \
		goto bad;                                \
	} while (0)

/* Verify one chunk's tree; add its allocated blocks and pages to *blocks
 * and *pages.  Returns 0 or -EUCLEAN after printing the violation. */
static int buddy_check_tree(const struct buddy_chunk *c, uint64_t *blocks, uint64_t *pages)
{
	const uint8_t *t = c->tree;
	uint64_t nb = 0, np = 0;
	unsigned i, j, o;

	for (i = BUDDY_TREE_NODES - 1; i >= 1; i--) {
		uint8_t l, r, want;

		o = buddy_node_order(i);
		if (t[i] > o + 1)
			BUDDY_BAD("chunk %p node %u (order %u) holds %u > %u",
				  (void *)c->r.base, i, o, t[i], o + 1);
		if (o == 0) {
			if (t[i] == 0) {
				nb++;
				np++;
			}
			continue;
		}
		l = t[2 * i];
		r = t[2 * i + 1];
		if (t[i] == 0 && l != 0 && r != 0) {
			/* An allocated block: its whole subtree is full. */
			unsigned lo = 2 * i, hi = 2 * i + 1, oo = o - 1;

			while (lo < BUDDY_TREE_NODES) {
				for (j = lo; j <= hi; j++)
					if (t[j] != oo + 1)
						BUDDY_BAD("chunk %p block node %u (order %u): descendant %u holds %u, not full %u",
							  (void *)c->r.base, i, o, j, t[j], oo + 1);
				lo = 2 * lo;
				hi = 2 * hi + 1;
				oo--;
			}
			nb++;
			np += 1u << o;
			continue;
		}
		want = (l == o && r == o) ? (uint8_t)(o + 1) : (l > r ? l : r);
		if (t[i] != want)
			BUDDY_BAD("chunk %p node %u (order %u) holds %u, children %u,%u imply %u",
				  (void *)c->r.base, i, o, t[i], l, r, want);
	}
	if (nb != c->blocks || np != c->used_pages)
		BUDDY_BAD("chunk %p: tree has %llu blocks / %llu pages, counters %u / %u",
			  (void *)c->r.base, (unsigned long long)nb, (unsigned long long)np,
			  c->blocks, c->used_pages);
	if ((np == 0) != (t[1] == BUDDY_FULL_ROOT))
		BUDDY_BAD("chunk %p: %llu pages used but root %u", (void *)c->r.base,
			  (unsigned long long)np, t[1]);
	*blocks += nb;
	*pages += np;
	return 0;
bad:
	return -EUCLEAN;
}

int buddy_check(struct buddy *b)
{
	const struct buddy_chunk *c;
	const struct buddy_direct *d, *dprev = NULL;
	uint64_t chunks = 0, free_chunks = 0, blocks = 0, pages = 0;
	uint64_t dmaps = 0, dbytes = 0;
	const struct buddy_stats *st = &b->st;
	size_t i, nslots = 0;

	pthread_mutex_lock(&b->lock);
	if (b->nchunks > b->cap || (b->cap && (!b->chunkv || !b->roots)))
		BUDDY_BAD("chunk list holds %zu of %zu", b->nchunks, b->cap);
	for (i = b->nchunks; i < b->cap + 8 && b->roots; i++)
		if (b->roots[i] != 0)
			BUDDY_BAD("roots[%zu] = %u beyond the %zu chunks", i, b->roots[i], b->nchunks);
	for (i = 0; i < b->nchunks; i++) {
		c = b->chunkv[i];
		if (c->pos != i)
			BUDDY_BAD("chunk %p at index %zu thinks it is at %zu", (void *)c->r.base, i,
				  c->pos);
		if (b->roots[i] != c->tree[1])
			BUDDY_BAD("chunk %p: roots[%zu] = %u, tree root %u", (void *)c->r.base, i,
				  b->roots[i], c->tree[1]);
		if (c->r.kind != BUDDY_REGION_CHUNK || ((uintptr_t)c->r.base & (BUDDY_CHUNK_SIZE - 1)))
			BUDDY_BAD("chunk %p: bad kind or alignment", (void *)c->r.base);
		if (buddy_lookup(b, c->r.base) != &c->r)
			BUDDY_BAD("chunk %p: not in the hash table", (void *)c->r.base);
		if (buddy_check_tree(c, &blocks, &pages) < 0)
			goto bad;
		chunks++;
		if (c->tree[1] == BUDDY_FULL_ROOT)
			free_chunks++;
		else if (free_chunks)
			BUDDY_BAD("chunk %p: partly used chunk after a wholly free one",
				  (void *)c->r.base);
	}
	for (d = b->direct; d; dprev = d, d = d->next) {
		if (d->prev != dprev)
			BUDDY_BAD("direct map %p: prev link broken", (void *)d->r.base);
		if (d->r.kind != BUDDY_REGION_DIRECT || ((uintptr_t)d->r.base & (BUDDY_CHUNK_SIZE - 1)))
			BUDDY_BAD("direct map %p: bad kind or alignment", (void *)d->r.base);
		if (d->requested <= BUDDY_CHUNK_SIZE || d->len != buddy_block_size(d->requested))
			BUDDY_BAD("direct map %p: length %zu for request %zu", (void *)d->r.base,
				  d->len, d->requested);
		if (buddy_lookup(b, d->r.base) != &d->r)
			BUDDY_BAD("direct map %p: not in the hash table", (void *)d->r.base);
		dmaps++;
		dbytes += d->len;
		if (dmaps > st->direct_maps)
			BUDDY_BAD("more direct maps in the list than the %llu counted (cycle?)",
				  (unsigned long long)st->direct_maps);
	}
	for (i = 0; i < b->nslots; i++)
		if (b->slots[i])
			nslots++;
	if (nslots != b->nused || b->nused != chunks + dmaps)
		BUDDY_BAD("hash table holds %zu (count %zu), regions %llu", nslots, b->nused,
			  (unsigned long long)(chunks + dmaps));
	if (chunks != st->chunks || free_chunks != st->free_chunks)
		BUDDY_BAD("list has %llu chunks (%llu free), counters %llu (%llu free)",
			  (unsigned long long)chunks, (unsigned long long)free_chunks,
			  (unsigned long long)st->chunks, (unsigned long long)st->free_chunks);
	if (free_chunks > buddy_keep(b))
		BUDDY_BAD("%llu free chunks kept, reserve is %u", (unsigned long long)free_chunks,
			  buddy_keep(b));
	if (dmaps != st->direct_maps || dbytes != st->direct_bytes)
		BUDDY_BAD("direct list %llu maps / %llu bytes, counters %llu / %llu",
			  (unsigned long long)dmaps, (unsigned long long)dbytes,
			  (unsigned long long)st->direct_maps, (unsigned long long)st->direct_bytes);
	if (st->bytes_allocated != pages * BUDDY_PAGE_SIZE + dbytes)
		BUDDY_BAD("bytes_allocated %llu, trees and direct maps say %llu",
			  (unsigned long long)st->bytes_allocated,
			  (unsigned long long)(pages * BUDDY_PAGE_SIZE + dbytes));
	if (st->blocks != blocks + dmaps)
		BUDDY_BAD("blocks %llu, trees and direct maps say %llu",
			  (unsigned long long)st->blocks, (unsigned long long)(blocks + dmaps));
	if (st->bytes_requested > st->bytes_allocated || st->bytes_requested < st->blocks)
		BUDDY_BAD("bytes_requested %llu outside [blocks %llu, bytes_allocated %llu]",
			  (unsigned long long)st->bytes_requested, (unsigned long long)st->blocks,
			  (unsigned long long)st->bytes_allocated);
	if (st->allocs - st->frees != st->blocks)
		BUDDY_BAD("allocs %llu - frees %llu != blocks %llu",
			  (unsigned long long)st->allocs, (unsigned long long)st->frees,
			  (unsigned long long)st->blocks);
	if (st->chunks_mapped - st->chunks_unmapped != st->chunks)
		BUDDY_BAD("chunks mapped %llu - unmapped %llu != chunks %llu",
			  (unsigned long long)st->chunks_mapped,
			  (unsigned long long)st->chunks_unmapped, (unsigned long long)st->chunks);
	pthread_mutex_unlock(&b->lock);
	return 0;
bad:
	pthread_mutex_unlock(&b->lock);
	return -EUCLEAN;
}
