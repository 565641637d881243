/* tests/fuzz/fuzz_xcf.c - alloc/xcf (xcfmalloc with compaction) driven by
 * arbitrary operation sequences.
 *
 * Input: one byte choosing the setup (one or two pools, a shared descriptor
 * cache or each pool's own, the reserve), then operations: allocate an
 * object of any size 1 .. XCF_MAX_SIZE (plus the invalid sizes 0 and
 * XCF_MAX_SIZE + 1), rewrite one, read one back, free one, compact with a
 * budget, shrink, check, arm or disarm fault injection on the page
 * allocator and the descriptor cache.  The model is the list of live
 * objects with their sizes and pattern seeds: every object is read back and
 * compared before it is freed and after compactions move it, xcf_stats'
 * object and byte counts match the model, and xcf_check passes after every
 * compaction and at the end.
 */
#include <errno.h>

#include "alloc/buddy.h"
#include "alloc/slab.h"
#include "alloc/xcf.h"
#include "fuzz.h"

#define MAX_LIVE 2048

struct obj {
	xcf_handle h;
	unsigned pool;
	size_t size;
	uint64_t seed;
};

struct state {
	struct buddy *b;
	struct slab_cache *descs;	/* shared cache, or NULL */
	struct xcf_pool *pool[2];
	unsigned npools;
	struct obj live[MAX_LIVE];
	size_t nlive;
	uint64_t bytes[2];		/* live object bytes per pool */
	uint64_t seq;
	int armed;
	unsigned char buf[XCF_MAX_SIZE];
};

static void verify_obj(struct state *s, const struct obj *o)
{
	struct xcf_pool *p = s->pool[o->pool];

	FZ_ASSERT(xcf_size(p, o->h) == o->size, "size %zu, model %zu", xcf_size(p, o->h), o->size);
	memset(s->buf, 0xa5, sizeof(s->buf));
	FZ_ASSERT(xcf_read(p, o->h, s->buf) == (int)o->size, "xcf_read");
	FZ_ASSERT(fz_holds(s->buf, o->size, o->seed), "object of %zu bytes corrupted", o->size);
}

static void verify_pools(struct state *s)
{
	for (unsigned i = 0; i < s->npools; i++) {
		struct xcf_stats st;
		uint64_t n = 0;

		for (size_t k = 0; k < s->nlive; k++)
			n += s->live[k].pool == i;
		xcf_stats(s->pool[i], &st);
		FZ_ASSERT(st.objects == n, "pool %u: %llu objects, model %llu", i,
			  (unsigned long long)st.objects, (unsigned long long)n);
		FZ_ASSERT(st.used_bytes == s->bytes[i], "pool %u: %llu bytes, model %llu", i,
			  (unsigned long long)st.used_bytes, (unsigned long long)s->bytes[i]);
		FZ_ASSERT(xcf_check(s->pool[i]) == 0, "xcf_check failed");
		FZ_ASSERT(xcf_fragmentation(s->pool[i]) <= 100, "fragmentation over 100%%");
	}
}

static void do_alloc(struct state *s, struct fz *f)
{
	unsigned pi = fz_u8(f) % s->npools;
	uint16_t r = fz_u16(f);
	struct xcf_pool *p = s->pool[pi];
	size_t size;
	xcf_handle h;
	struct obj *o;

	/* Mostly the sizes lz4 makes of a page (a few hundred bytes to
	 * 3 KiB), but any size, and the edges. */
	switch (r & 3) {
	case 0:
		size = 1 + (r >> 2) % 64;
		break;
	case 1:
		size = XCF_MAX_SIZE - (r >> 2) % 128;
		break;
	default:
		size = 1 + (r >> 2) % XCF_MAX_SIZE;
		break;
	}
	if (s->nlive == MAX_LIVE)
		return;
	errno = 0;
	h = xcf_malloc(p, size);
	if (!h) {
		FZ_ASSERT(s->armed, "xcf_malloc(%zu) failed with no fault armed", size);
		FZ_ASSERT(errno == ENOMEM, "errno %d", errno);
		return;
	}
	FZ_ASSERT((h & 7) == 0, "handle %#lx not a multiple of 8", (unsigned long)h);
	o = &s->live[s->nlive++];
	o->h = h;
	o->pool = pi;
	o->size = size;
	o->seed = fz_mix(++s->seq);
	fz_fill(s->buf, size, o->seed);
	FZ_ASSERT(xcf_write(p, h, s->buf) == (int)size, "xcf_write");
	s->bytes[pi] += size;
	verify_obj(s, o);
}

static void do_free(struct state *s, size_t i)
{
	struct obj *o = &s->live[i];

	verify_obj(s, o);
	xcf_free(s->pool[o->pool], o->h);
	s->bytes[o->pool] -= o->size;
	*o = s->live[--s->nlive];
}

static void do_compact(struct state *s, struct fz *f)
{
	unsigned pi = fz_u8(f) % s->npools;
	size_t budget = (size_t)fz_u16(f) * 8;
	struct xcf_compact_result res;
	int rc = xcf_compact(s->pool[pi], budget, &res);

	FZ_ASSERT(rc == 0 || (rc == -ENOMEM && s->armed), "xcf_compact %d", rc);
	FZ_ASSERT(res.pages_freed <= res.pages_examined, "freed more pages than examined");
	/* Objects moved: every one must still read back. */
	for (size_t k = 0; k < s->nlive; k++)
		if (s->live[k].pool == pi)
			verify_obj(s, &s->live[k]);
	verify_pools(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct state *s = calloc(1, sizeof(*s));
	uint8_t setup = fz_u8(&f);

	FZ_ASSERT(s, "out of memory");
	s->b = buddy_create(setup & 1 ? 0 : BUDDY_DEFAULT_RESERVE);
	FZ_ASSERT(s->b, "buddy_create");
	s->npools = 1 + ((setup >> 1) & 1);
	if (setup & 4) {
		s->descs = slab_create("fuzz_xcf_desc", XCF_DESC_SIZE, 0, s->b);
		FZ_ASSERT(s->descs, "slab_create");
	}
	for (unsigned i = 0; i < s->npools; i++) {
		s->pool[i] = xcf_create("fuzz", s->b, s->descs, (setup >> 3) % 4);
		FZ_ASSERT(s->pool[i], "xcf_create");
	}
	while (fz_more(&f)) {
		unsigned op = fz_u8(&f) % 16;

		if (op < 6) {
			do_alloc(s, &f);
		} else if (op < 9) {
			if (s->nlive)
				do_free(s, fz_u16(&f) % s->nlive);
		} else if (op == 9) {
			/* Rewrite an object with new contents. */
			if (s->nlive) {
				struct obj *o = &s->live[fz_u16(&f) % s->nlive];

				verify_obj(s, o);
				o->seed = fz_mix(++s->seq);
				fz_fill(s->buf, o->size, o->seed);
				FZ_ASSERT(xcf_write(s->pool[o->pool], o->h, s->buf) == (int)o->size,
					  "xcf_write");
			}
		} else if (op == 10) {
			if (s->nlive)
				verify_obj(s, &s->live[fz_u16(&f) % s->nlive]);
		} else if (op == 11) {
			do_compact(s, &f);
		} else if (op == 12) {
			unsigned pi = fz_u8(&f) % s->npools;
			struct xcf_stats st;

			xcf_shrink(s->pool[pi]);
			xcf_stats(s->pool[pi], &st);
			FZ_ASSERT(st.free_pages == 0, "reserve pages left after shrink");
		} else if (op == 13) {
			verify_pools(s);
		} else if (op == 14) {
			/* Invalid sizes change nothing. */
			unsigned pi = fz_u8(&f) % s->npools;

			errno = 0;
			FZ_ASSERT(xcf_malloc(s->pool[pi], 0) == 0 && errno == EINVAL, "size 0");
			errno = 0;
			FZ_ASSERT(xcf_malloc(s->pool[pi], XCF_MAX_SIZE + 1) == 0 && errno == EINVAL,
				  "size XCF_MAX_SIZE + 1");
		} else {
			/* Fault injection on the pages or the descriptors. */
			uint8_t nth = fz_u8(&f) % 8, every = fz_u8(&f) % 4;

			FZ_ASSERT(buddy_fault_set(s->b, nth, every) == 0,
				  "fault injection needs a ZC_DEBUG build");
			if (s->descs)
				FZ_ASSERT(slab_fault_set(s->descs, nth ? (nth + 3u) / 2 : 0, every) == 0,
					  "slab_fault_set");
			s->armed = nth != 0;
		}
	}
	buddy_fault_set(s->b, 0, 0);
	if (s->descs)
		slab_fault_set(s->descs, 0, 0);
	s->armed = 0;
	verify_pools(s);
	for (size_t k = 0; k < s->nlive; k++)
		verify_obj(s, &s->live[k]);
	/* Free half, compact everything, verify the rest, free it. */
	for (size_t k = 0; k < s->nlive; k++)
		if (k % 2)
			do_free(s, k);
	for (unsigned i = 0; i < s->npools; i++)
		FZ_ASSERT(xcf_compact(s->pool[i], 0, NULL) == 0, "xcf_compact");
	verify_pools(s);
	while (s->nlive)
		do_free(s, s->nlive - 1);
	verify_pools(s);
	for (unsigned i = 0; i < s->npools; i++)
		xcf_destroy(s->pool[i]);
	if (s->descs) {
		FZ_ASSERT(slab_check(s->descs) == 0, "slab_check");
		slab_destroy(s->descs);
	}
	FZ_ASSERT(buddy_check(s->b) == 0, "buddy_check");
	buddy_destroy(s->b);
	free(s);
	return 0;
}
