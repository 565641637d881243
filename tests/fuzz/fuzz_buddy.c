/* tests/fuzz/fuzz_buddy.c - alloc/buddy driven by arbitrary operation
 * sequences.
 *
 * Input: one byte choosing the reserve, then operations (one byte each plus
 * arguments): allocate a block of a size drawn from every order and from
 * direct maps, free one, trim, fault a chunk in ahead (buddy_prefault),
 * check, arm or disarm fault injection.  The
 * model is the list of live blocks with their sizes and pattern seeds:
 * every block is aligned as buddy.h promises and overlaps no live block, it
 * is stamped when handed out and verified before it is freed, the counters
 * of buddy_stats match the model after every check, and buddy_check passes
 * then and at the end.
 */
#include <errno.h>

#include "alloc/buddy.h"
#include "fuzz.h"

#define MAX_LIVE 256
#define MAX_LIVE_BYTES ((size_t)40 << 20)

struct block {
	void *p;
	size_t size;
	uint64_t seed;
};

struct state {
	struct buddy *b;
	struct block live[MAX_LIVE];
	size_t nlive;
	size_t live_bytes;		/* block sizes (rounded) */
	size_t requested;		/* sizes asked for */
	uint64_t seq;
	int armed;
};

/* A size drawn from the input: any order 0..10 (4 KiB .. 4 MiB, the whole
 * range within the order), or a direct map up to one chunk beyond 4 MiB. */
static size_t draw_size(struct fz *f)
{
	unsigned order = fz_u8(f) % 12;
	uint32_t r = fz_u32(f);
	size_t top;

	if (order == 11)
		return BUDDY_CHUNK_SIZE + 1 + r % BUDDY_CHUNK_SIZE;
	top = BUDDY_PAGE_SIZE << order;
	if (order == 0)
		return 1 + r % top;
	return top / 2 + 1 + r % (top / 2);
}

/* Stamps: the first 64 KiB of a block on every page, then one page in 16,
 * and the last bytes (overlaps are checked exactly on the addresses, so
 * the stamps only have to show that nobody writes into a live block; the
 * sparse ones spare the page faults of touching every page of 4 MiB). */
#define DENSE ((size_t)64 << 10)

#define TAIL_SEED 0x7a11u

static void stamp(void *p, size_t size, uint64_t seed)
{
	unsigned char *c = p;

	fz_stamp(c, size < DENSE ? size : DENSE, seed);
	for (size_t off = DENSE; off + 24 <= size; off += DENSE / 4)
		fz_fill(c + off, 16, seed ^ off);
	if (size >= DENSE + 32)
		fz_fill(c + size - 8, 8, seed ^ TAIL_SEED);
}

static int stamped(const void *p, size_t size, uint64_t seed)
{
	const unsigned char *c = p;

	if (!fz_stamped(c, size < DENSE ? size : DENSE, seed))
		return 0;
	for (size_t off = DENSE; off + 24 <= size; off += DENSE / 4)
		if (!fz_holds(c + off, 16, seed ^ off))
			return 0;
	return size < DENSE + 32 || fz_holds(c + size - 8, 8, seed ^ TAIL_SEED);
}

static void verify_stats(struct state *s)
{
	struct buddy_stats st;

	buddy_stats(s->b, &st);
	FZ_ASSERT(st.blocks == s->nlive, "blocks %llu, model %zu",
		  (unsigned long long)st.blocks, s->nlive);
	FZ_ASSERT(st.bytes_requested == s->requested, "requested %llu, model %zu",
		  (unsigned long long)st.bytes_requested, s->requested);
	FZ_ASSERT(st.bytes_allocated == s->live_bytes, "allocated %llu, model %zu",
		  (unsigned long long)st.bytes_allocated, s->live_bytes);
	FZ_ASSERT(st.allocs - st.frees == st.blocks, "allocs - frees != blocks");
	FZ_ASSERT(st.bytes_allocated >= st.bytes_requested, "allocated < requested");
	FZ_ASSERT(buddy_check(s->b) == 0, "buddy_check failed");
}

static void do_alloc(struct state *s, struct fz *f)
{
	size_t size = draw_size(f);
	size_t block = buddy_block_size(size);
	struct buddy_stats before, after;
	struct block *bl;
	void *p;

	FZ_ASSERT(block >= size, "block size %zu < size %zu", block, size);
	if (s->nlive == MAX_LIVE || s->live_bytes + block > MAX_LIVE_BYTES)
		return;
	buddy_stats(s->b, &before);
	errno = 0;
	p = buddy_alloc(s->b, size);
	if (!p) {
		/* Only an injected fault (or a real lack of memory, which the
		 * bound above keeps away) may refuse a request. */
		FZ_ASSERT(s->armed, "buddy_alloc(%zu) failed with no fault armed", size);
		FZ_ASSERT(errno == ENOMEM, "errno %d", errno);
		buddy_stats(s->b, &after);
		FZ_ASSERT(after.failed == before.failed + 1, "failure not counted");
		FZ_ASSERT(after.blocks == before.blocks &&
			  after.bytes_allocated == before.bytes_allocated,
			  "a failed allocation changed the allocator");
		return;
	}
	FZ_ASSERT((uintptr_t)p % (block < BUDDY_CHUNK_SIZE ? block : BUDDY_CHUNK_SIZE) == 0,
		  "block %p of %zu bytes misaligned", p, block);
	/* No live block overlaps the new one (exact, on the addresses). */
	for (size_t i = 0; i < s->nlive; i++) {
		uintptr_t a = (uintptr_t)s->live[i].p;
		size_t an = buddy_block_size(s->live[i].size);

		FZ_ASSERT((uintptr_t)p + block <= a || a + an <= (uintptr_t)p,
			  "block %p of %zu bytes overlaps live block %p of %zu bytes", p, block,
			  s->live[i].p, an);
	}
	bl = &s->live[s->nlive++];
	bl->p = p;
	bl->size = size;
	bl->seed = fz_mix(++s->seq);
	stamp(p, size, bl->seed);
	s->live_bytes += block;
	s->requested += size;
}

static void do_free(struct state *s, size_t i)
{
	struct block *bl = &s->live[i];

	FZ_ASSERT(stamped(bl->p, bl->size, bl->seed),
		  "block %p of %zu bytes was overwritten", bl->p, bl->size);
	buddy_free(s->b, bl->p, bl->size);
	s->live_bytes -= buddy_block_size(bl->size);
	s->requested -= bl->size;
	*bl = s->live[--s->nlive];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned reserves[4] = { 0, 1, 3, BUDDY_RESERVE_ADAPTIVE };
	struct fz f = { data, size };
	struct state *s = calloc(1, sizeof(*s));

	FZ_ASSERT(s, "out of memory");
	s->b = buddy_create(reserves[fz_u8(&f) % 4]);
	FZ_ASSERT(s->b, "buddy_create failed");
	while (fz_more(&f)) {
		unsigned op = fz_u8(&f) % 16;

		if (op < 8) {
			do_alloc(s, &f);
		} else if (op < 13) {
			if (s->nlive)
				do_free(s, fz_u16(&f) % s->nlive);
		} else if (op == 13) {
			/* Trim, or (the argument's top bit) fault a chunk
			 * in ahead: neither touches a live block. */
			size_t before = s->live_bytes;
			unsigned a = fz_u8(&f);

			if (a & 0x80) {
				int ret = buddy_prefault(s->b, a % 4);

				FZ_ASSERT(ret == 0 || ret == 1 || ret == -EOPNOTSUPP,
					  "buddy_prefault returned %d", ret);
			} else {
				buddy_trim(s->b, a % 4);
			}
			FZ_ASSERT(s->live_bytes == before, "trim or prefault changed live blocks");
		} else if (op == 14) {
			verify_stats(s);
		} else {
			/* Fault injection: fail the nth call from now, then
			 * every mth; nth 0 disarms. */
			uint8_t nth = fz_u8(&f) % 8, every = fz_u8(&f) % 4;

			FZ_ASSERT(buddy_fault_set(s->b, nth, every) == 0,
				  "fault injection needs a ZC_DEBUG build");
			s->armed = nth != 0;
		}
	}
	verify_stats(s);
	while (s->nlive)
		do_free(s, s->nlive - 1);
	verify_stats(s);
	buddy_destroy(s->b);
	free(s);
	return 0;
}
