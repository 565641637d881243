/* pam.c - the PAM backend: page -> pampd -> page (see pam.h for the contract
 * and the pampd encoding).
 *
 * Design notes.  The put path is: one scan for a same-filled page (it stops
 * at the first word that differs, usually the second), one compression into
 * the slot's scratch page with the output capped just below the raw
 * threshold (so an incompressible page stops early instead of being
 * compressed to the end), then either xcf_malloc + xcf_write into the slot's
 * xcf pool or one buddy page and one memcpy.  Nothing else is allocated:
 * PAM's per-page metadata is the pampd itself.  The scratch page is the
 * slot's spare SGV buffer, taken with an atomic exchange; only when two
 * threads share a slot at the same moment does the second one go to the SGV
 * pool for another.
 *
 * The per-thread slot is found through a two-word thread-local cache (which
 * backend, which slot); a thread that alternates between two backends
 * re-picks its slot round-robin each time it switches, which is correct,
 * only less sticky.  Units (pages packed together) are compress/pam_unit.c;
 * this file hands them their pampds' share of every call.
 */
#include "compress/pam_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

_Thread_local struct pam_tls _pam_tls;

/* ---- encoding helpers ---------------------------------------------------- */

static inline unsigned pam_raw_check(uint64_t addr)
{
	return (unsigned)(((addr >> 12) * 0x9e3779b97f4a7c15ull) >> (64 - PAM_RAW_CHECK_BITS));
}

static inline pam_pampd pam_raw_encode(const void *pg)
{
	uint64_t a = (uint64_t)(uintptr_t)pg;

	return a | ((uint64_t)pam_raw_check(a) << PAM_RAW_CHECK_SHIFT) | PAM_KIND_RAW;
}

/* Returns 0 and the pampd of a page filled with w, or -1 when w does not
 * fit (see pam.h). */
static inline int pam_fill_encode(uint64_t w, pam_pampd *out)
{
	uint32_t lo = (uint32_t)w, hi = (uint32_t)(w >> 32);

	if (lo == hi) {
		*out = ((uint64_t)lo << 32) | (PAM_FILL_WORD32 << PAM_FILL_MODE_SHIFT) |
		       PAM_KIND_FILL;
		return 0;
	}
	/* Fits when the top 5 bits are equal (sign-extension from 60 bits). */
	if ((int64_t)(w << 4) >> 4 == (int64_t)w) {
		*out = (w << 4) | (PAM_FILL_SMALL << PAM_FILL_MODE_SHIFT) | PAM_KIND_FILL;
		return 0;
	}
	return -1;
}

/* Decode `p` from its bits alone (pam_pampd_kind): a unit page's
 * descriptor is not looked at. */
static int pam_decode_bits(const struct pam *pam, pam_pampd p, struct pam_pampd_info *out)
{
	memset(out, 0, sizeof(*out));
	switch (p & PAM_KIND_MASK) {
	case PAM_KIND_FILL: {
		uint64_t mode = (p >> PAM_FILL_MODE_SHIFT) & PAM_FILL_MODE_MASK;

		if (mode == PAM_FILL_UNIT) {
			uint64_t a = (uint64_t)(uintptr_t)pam_unit_of(p);
			unsigned check = (unsigned)(p >> PAM_UNIT_CHECK_SHIFT) &
					 ((1u << PAM_UNIT_CHECK_BITS) - 1);

			if (a == 0 || check != pam_unit_check(a))
				return -EIO;
			out->kind = PAM_KIND_UNIT;
			out->slot = (unsigned)(p >> PAM_UNIT_SLOT_SHIFT) & (PAM_UNIT_PAGES - 1);
			return 0;
		}
		if (mode == PAM_FILL_BACKED) {
			uint64_t loc = pam_backed_loc(p);
			unsigned check = (unsigned)(p >> PAM_BACKED_CHECK_SHIFT) &
					 ((1u << PAM_BACKED_CHECK_BITS) - 1);

			if (!pam->backing || loc == 0 || check != pam_backed_check(loc))
				return -EIO;
			out->kind = PAM_KIND_BACKED;
			out->loc = loc;
			out->size = backing_loc_bytes(loc);
			return 0;
		}
		if (mode == PAM_FILL_WORD32) {
			if (p & PAM_FILL_WORD32_ZERO_MASK)
				return -EIO;
			out->fill = (p >> 32) * 0x100000001ull;
		} else {
			out->fill = (uint64_t)((int64_t)p >> 4);
		}
		out->kind = PAM_KIND_FILL;
		return 0;
	}
	case PAM_KIND_RAW: {
		uint64_t a = p & PAM_RAW_ADDR_MASK;
		unsigned check = (unsigned)(p >> PAM_RAW_CHECK_SHIFT) &
				 ((1u << PAM_RAW_CHECK_BITS) - 1);

		if (a == 0 || check != pam_raw_check(a))
			return -EIO;
		out->kind = PAM_KIND_RAW;
		out->size = PAM_PAGE_SIZE;
		return 0;
	}
	case PAM_KIND_XCF: {
		unsigned type = (unsigned)(p >> PAM_XCF_CODEC_SHIFT) & 3u;
		unsigned size = (unsigned)(p >> PAM_XCF_SIZE_SHIFT) & ((1u << PAM_XCF_SIZE_BITS) - 1);
		unsigned pool = (unsigned)(p >> PAM_XCF_POOL_SHIFT) & ((1u << PAM_XCF_POOL_BITS) - 1);

		if ((type != CODEC_LZ4 && type != CODEC_ZSTD) || size == 0 ||
		    size > pam->cap || pool >= pam->npools || (p >> PAM_XCF_HANDLE_SHIFT) == 0)
			return -EIO;
		out->kind = PAM_KIND_XCF;
		out->codec_type = type;
		out->size = size;
		out->pool = pool;
		return 0;
	}
	default:
		return -EIO;
	}
}

/* As pam_decode_bits, and a unit page's descriptor must be a live unit's
 * that holds the page's slot. */
int _pam_decode_pampd(const struct pam *pam, pam_pampd p, struct pam_pampd_info *out)
{
	int rc = pam_decode_bits(pam, p, out);

	if (rc == 0 && out->kind == PAM_KIND_UNIT && _pam_unit_valid(pam, p)) {
		memset(out, 0, sizeof(*out));
		rc = -EIO;
	}
	return rc;
}

/* ---- page helpers -------------------------------------------------------- */

static inline uint64_t pam_load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Is every 8-byte word of the page equal?  The page equals itself shifted
 * by one word exactly when it is; memcmp stops at the first difference
 * (usually within the first bytes) and runs vectorized over a filled page. */
static int pam_same_filled(const void *page, uint64_t *word)
{
	const unsigned char *p = page;
	uint64_t w = pam_load64(p);

	if (pam_load64(p + 8) != w || memcmp(p, p + 8, PAM_PAGE_SIZE - 8) != 0)
		return 0;
	*word = w;
	return 1;
}

static void pam_fill_page(void *page, uint64_t w)
{
	unsigned char *p = page;

	if (w == (w & 0xff) * 0x0101010101010101ull) {
		memset(p, (int)(w & 0xff), PAM_PAGE_SIZE);
		return;
	}
	for (size_t i = 0; i < PAM_PAGE_SIZE; i += 8)
		memcpy(p + i, &w, sizeof(w));
}

/* ---- scratch buffers ----------------------------------------------------- */

/* One scratch page for the slot: the spare if free, else a new SGV vector.
 * Returns the buffer and *objp, or NULL (errno set by SGV). */
static void *pam_scratch_get(struct pam_slot *s, struct sgv_obj **objp)
{
	struct sgv_obj *o = atomic_exchange_explicit(&s->spare, NULL, memory_order_acquire);
	struct iovec *iov;
	int count;

	if (o) {
		pam_count(s, PAM_C_SPARES, -1);
		iov = sgv_obj_iov(o, &count);
	} else {
		iov = sgv_pool_alloc(s->scratch, PAM_PAGE_SIZE, 0, NULL, &count, &o);
		if (!iov)
			return NULL;
	}
	*objp = o;
	return iov[0].iov_base;
}

/* Keep the buffer as the slot's spare, or give it back if there is one. */
static void pam_scratch_put(struct pam_slot *s, struct sgv_obj *o)
{
	struct sgv_obj *none = NULL;

	if (atomic_compare_exchange_strong_explicit(&s->spare, &none, o, memory_order_release,
						    memory_order_relaxed))
		pam_count(s, PAM_C_SPARES, 1);
	else
		sgv_pool_free(o, NULL);
}

/* ---- create / destroy ---------------------------------------------------- */

static void pam_release(struct pam *pam)
{
	for (unsigned i = 0; i < PAM_MAX_POOLS; i++) {
		struct pam_slot *s = &pam->slot[i];
		struct sgv_obj *o = atomic_exchange(&s->spare, NULL);

		if (o)
			sgv_pool_free(o, NULL);
		sgv_pool_destroy(s->scratch);
		xcf_destroy(s->xcf);
		s->scratch = NULL;
		s->xcf = NULL;
	}
	if (pam->own_descs)
		slab_destroy(pam->descs);
	slab_destroy(pam->units);
	free(pam);
}

/* A unit run length pam_config accepts: a power of two, 2 .. 16. */
static int pam_run_valid(unsigned run)
{
	return run >= 2 && run <= PAM_UNIT_PAGES && (run & (run - 1)) == 0;
}

struct pam *pam_create(const struct pam_config *cfg, struct buddy *pages,
		       struct sgv_ctx *sgv, struct slab_cache *descs)
{
	struct pam_config c = { 0 };
	struct pam *pam;
	void *mem;
	int err;

	if (cfg)
		c = *cfg;
	if (!pages || !sgv || c.raw_threshold > PAM_PAGE_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	if (c.raw_threshold == 0)
		c.raw_threshold = PAM_DEFAULT_RAW_THRESHOLD;
	if (c.pools == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		c.pools = n > 0 ? (unsigned)n : 1;
	}
	if (c.pools > PAM_MAX_POOLS)
		c.pools = PAM_MAX_POOLS;
	if (c.xcf_reserve == 0)
		c.xcf_reserve = PAM_DEFAULT_XCF_RESERVE;
	if (c.lz4_unit_pages == 0)
		c.lz4_unit_pages = PAM_UNIT_PAGES;
	if (c.lz4_part_unit_pages == 0)
		c.lz4_part_unit_pages = c.lz4_unit_pages;
	if (!pam_run_valid(c.lz4_unit_pages) || !pam_run_valid(c.lz4_part_unit_pages)) {
		errno = EINVAL;
		return NULL;
	}

	if (posix_memalign(&mem, PAM_CACHELINE, sizeof(*pam)) != 0) {
		errno = ENOMEM;
		return NULL;
	}
	pam = mem;
	memset(pam, 0, sizeof(*pam));
	pam->lz4_unit_pages = c.lz4_unit_pages;
	pam->lz4_part_unit_pages = c.lz4_part_unit_pages;
	pam->pages = pages;
	pam->sgv = sgv;
	pam->threshold = c.raw_threshold;
	pam->cap = c.raw_threshold - 1 < XCF_MAX_SIZE ? c.raw_threshold - 1 : XCF_MAX_SIZE;
	pam->npools = c.pools;
	atomic_init(&pam->rr, 0);
	for (unsigned i = 0; i < PAM_MAX_POOLS; i++) {
		atomic_init(&pam->slot[i].spare, NULL);
		for (unsigned k = 0; k < PAM_C_NR; k++)
			atomic_init(&pam->slot[i].c[k], 0);
	}

	if (descs) {
		pam->descs = descs;
	} else {
		pam->descs = slab_create("pam_xcf_desc", XCF_DESC_SIZE, 0, pages);
		if (!pam->descs)
			goto err;
		pam->own_descs = 1;
	}
	pam->units = slab_create("pam_unit", PAM_UNIT_DESC_SIZE, 0, pages);
	if (!pam->units)
		goto err;
	{
		/* Unit ids start at the monotonic clock (pam.h, Units). */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		atomic_init(&pam->unit_ids,
			    (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + 1);
	}
	for (unsigned i = 0; i < pam->npools; i++) {
		char name[32];

		snprintf(name, sizeof(name), "pam-%u", i);
		pam->slot[i].xcf = xcf_create(name, pages, pam->descs, c.xcf_reserve);
		if (!pam->slot[i].xcf)
			goto err;
		snprintf(name, sizeof(name), "pam-scratch-%u", i);
		pam->slot[i].scratch = sgv_pool_create(sgv, name, SGV_CLUSTER_NONE, 1, true, 0);
		if (!pam->slot[i].scratch)
			goto err;
	}
	return pam;

err:
	err = errno ? errno : ENOMEM;
	pam_release(pam);
	errno = err;
	return NULL;
}

void pam_destroy(struct pam *pam)
{
	if (pam)
		pam_release(pam);
}

unsigned pam_pool_count(struct pam *pam)
{
	return pam->npools;
}

struct xcf_pool *pam_xcf_pool(struct pam *pam, unsigned i)
{
	return i < pam->npools ? pam->slot[i].xcf : NULL;
}

struct sgv_pool *pam_scratch_pool(struct pam *pam, unsigned i)
{
	return i < pam->npools ? pam->slot[i].scratch : NULL;
}

struct slab_cache *pam_unit_cache(struct pam *pam)
{
	return pam->units;
}

/* ---- put ----------------------------------------------------------------- */

#ifdef ZC_DEBUG
/* Debug builds read every stored page back at once and abort on a
 * difference: a broken codec, xcf object or encoding shows at the put that
 * caused it, not at some later read. */
static void pam_debug_verify(struct pam *pam, pam_pampd p, const void *page)
{
	unsigned char out[PAM_PAGE_SIZE], scratch[PAM_PAGE_SIZE];
	size_t len = 0;
	int rc = pam_get_locked(pam, p, out, scratch, &len);

	if (rc == 0)
		rc = pam_decode(pam, p, scratch, len, out);
	else if (rc == 1)
		rc = 0;
	if (rc != 0 || memcmp(out, page, PAM_PAGE_SIZE) != 0) {
		fprintf(stderr, "pam: pampd %#llx does not read back (%d)\n",
			(unsigned long long)p, rc);
		abort();
	}
}
#else
static inline void pam_debug_verify(struct pam *pam, pam_pampd p, const void *page)
{
	(void)pam;
	(void)p;
	(void)page;
}
#endif

int pam_put(struct pam *pam, const void *page, unsigned codec, pam_pampd *out)
{
	struct pam_slot *s = pam_my_slot(pam);
	unsigned type = codec_decode_type(codec);
	struct sgv_obj *obj;
	unsigned char *buf;
	xcf_handle h;
	uint64_t w;
	void *pg;
	int n;

	if (__builtin_expect(codec != CODEC_DEFAULT, 0) && codec_valid(codec)) {
		pam_count(s, PAM_C_FAILED_PUTS, 1);
		return -EINVAL;
	}
	if (pam_same_filled(page, &w)) {
		if (pam_fill_encode(w, out) == 0) {
			pam_count(s, PAM_C_FILL, 1);
			pam_count(s, PAM_C_PUTS, 1);
			pam_debug_verify(pam, *out, page);
			return 0;
		}
		pam_count(s, PAM_C_FILL_FALLBACKS, 1);
	}

	if (pam->cap > 0 && type != CODEC_NONE) {
		buf = pam_scratch_get(s, &obj);
		if (!buf) {
			n = -ENOMEM;
			goto fail;
		}
		/* lz4 stops exactly at the cap, which saves the rest of the work
		 * on an incompressible page; zstd may refuse output that would
		 * fit within a few bytes of its capacity, so it gets the whole
		 * scratch page and the cap is applied to its result. */
		n = codec_compress(codec, page, PAM_PAGE_SIZE, buf,
				   type == CODEC_LZ4 ? pam->cap : PAM_PAGE_SIZE);
		if (n > (int)pam->cap)
			n = -ENOSPC;
		if (n > 0) {
			h = xcf_malloc(s->xcf, (size_t)n);
			if (!h) {
				pam_scratch_put(s, obj);
				n = -ENOMEM;
				goto fail;
			}
			xcf_write(s->xcf, h, buf);
			pam_scratch_put(s, obj);
			if (__builtin_expect((uint64_t)h >> PAM_XCF_HANDLE_LIMIT_BITS, 0)) {
				xcf_free(s->xcf, h);
				pam_count(s, PAM_C_HANDLE_FALLBACKS, 1);
				goto raw;
			}
			*out = ((uint64_t)h >> 3) << PAM_XCF_HANDLE_SHIFT |
			       (uint64_t)(s - pam->slot) << PAM_XCF_POOL_SHIFT |
			       (uint64_t)n << PAM_XCF_SIZE_SHIFT |
			       (uint64_t)type << PAM_XCF_CODEC_SHIFT | PAM_KIND_XCF;
			pam_count(s, PAM_C_XCF, 1);
			pam_count(s, type == CODEC_LZ4 ? PAM_C_LZ4 : PAM_C_ZSTD, 1);
			pam_count(s, PAM_C_XCF_BYTES, n);
			pam_count(s, PAM_C_PUTS, 1);
			pam_debug_verify(pam, *out, page);
			return 0;
		}
		pam_scratch_put(s, obj);
		if (n != -ENOSPC)
			goto fail;
	}

raw:
	pg = buddy_alloc(pam->pages, PAM_PAGE_SIZE);
	if (!pg) {
		n = -ENOMEM;
		goto fail;
	}
	memcpy(pg, page, PAM_PAGE_SIZE);
	*out = pam_raw_encode(pg);
	pam_count(s, PAM_C_RAW, 1);
	pam_count(s, PAM_C_RAW_PUTS, 1);
	pam_count(s, PAM_C_PUTS, 1);
	pam_debug_verify(pam, *out, page);
	return 0;

fail:
	pam_count(s, PAM_C_FAILED_PUTS, 1);
	return n;
}

/* ---- get ----------------------------------------------------------------- */

int pam_get_locked(struct pam *pam, pam_pampd p, void *page, void *scratch, size_t *len)
{
	struct pam_pampd_info info;
	int n;

	if (_pam_decode_pampd(pam, p, &info))
		goto corrupt;
	switch (info.kind) {
	case PAM_KIND_FILL:
		pam_fill_page(page, info.fill);
		return 1;
	case PAM_KIND_RAW:
		memcpy(page, (const void *)(uintptr_t)(p & PAM_RAW_ADDR_MASK), PAM_PAGE_SIZE);
		return 1;
	case PAM_KIND_UNIT:
		return _pam_unit_get_locked(pam, p, page, scratch, len);
	case PAM_KIND_BACKED:
		*len = 0;
		return _pam_backed_get_locked(pam, p);
	default:
		n = xcf_read(pam->slot[info.pool].xcf, pam_xcf_handle(p), scratch);
		if (n != (int)info.size)
			goto corrupt;
		*len = info.size;
		return 0;
	}
corrupt:
	pam_count(pam_my_slot(pam), PAM_C_CORRUPT, 1);
	return -EIO;
}

int pam_decode(struct pam *pam, pam_pampd p, const void *scratch, size_t len, void *page)
{
	unsigned type = (unsigned)(p >> PAM_XCF_CODEC_SHIFT) & 3u;
	unsigned size = (unsigned)(p >> PAM_XCF_SIZE_SHIFT) & ((1u << PAM_XCF_SIZE_BITS) - 1);
	int rc;

	if ((p & PAM_KIND_MASK) == PAM_KIND_FILL &&
	    ((p >> PAM_FILL_MODE_SHIFT) & PAM_FILL_MODE_MASK) == PAM_FILL_UNIT)
		return _pam_unit_decode(pam, p, scratch, len, page);
	if ((p & PAM_KIND_MASK) == PAM_KIND_FILL &&
	    ((p >> PAM_FILL_MODE_SHIFT) & PAM_FILL_MODE_MASK) == PAM_FILL_BACKED)
		return _pam_backed_decode(pam, p, page);
	if ((p & PAM_KIND_MASK) != PAM_KIND_XCF || len != size ||
	    (type != CODEC_LZ4 && type != CODEC_ZSTD)) {
		rc = -EIO;
	} else {
		rc = codec_decompress(type, scratch, len, page, PAM_PAGE_SIZE);
		if (rc == 0)
			return 0;
	}
	if (rc == -EIO)
		pam_count(pam_my_slot(pam), PAM_C_CORRUPT, 1);
	return rc;
}

int pam_get(struct pam *pam, pam_pampd p, void *page)
{
	struct pam_slot *s = pam_my_slot(pam);
	struct sgv_obj *obj;
	void *buf = pam_scratch_get(s, &obj);
	size_t len = 0;
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = pam_get_locked(pam, p, page, buf, &len);
	if (rc == 0)
		rc = pam_decode(pam, p, buf, len, page);
	else if (rc == 1)
		rc = 0;
	pam_scratch_put(s, obj);
	return rc;
}

/* ---- free, size, info ---------------------------------------------------- */

void pam_free(struct pam *pam, pam_pampd p)
{
	struct pam_slot *s;
	struct pam_pampd_info info;

	if (p == 0)
		return;
	s = pam_my_slot(pam);
	if (_pam_decode_pampd(pam, p, &info)) {
		pam_count(s, PAM_C_BAD_FREES, 1);
		return;
	}
	switch (info.kind) {
	case PAM_KIND_FILL:
		pam_count(s, PAM_C_FILL, -1);
		break;
	case PAM_KIND_RAW:
		buddy_free(pam->pages, (void *)(uintptr_t)(p & PAM_RAW_ADDR_MASK), PAM_PAGE_SIZE);
		pam_count(s, PAM_C_RAW, -1);
		break;
	case PAM_KIND_UNIT:
		_pam_unit_page_free(pam, p);
		break;
	case PAM_KIND_BACKED:
		_pam_backed_free(pam, p);
		break;
	default:
		xcf_free(pam->slot[info.pool].xcf, pam_xcf_handle(p));
		pam_count(s, PAM_C_XCF, -1);
		pam_count(s, info.codec_type == CODEC_LZ4 ? PAM_C_LZ4 : PAM_C_ZSTD, -1);
		pam_count(s, PAM_C_XCF_BYTES, -(int64_t)info.size);
		break;
	}
	pam_count(s, PAM_C_FREES, 1);
}

size_t pam_size(struct pam *pam, pam_pampd p)
{
	struct pam_pampd_info info;

	if (_pam_decode_pampd(pam, p, &info))
		return 0;
	switch (info.kind) {
	case PAM_KIND_RAW:
		return PAM_PAGE_SIZE;
	case PAM_KIND_XCF:
		return pam_xcf_footprint(info.size);
	case PAM_KIND_UNIT:
		return _pam_unit_page_size(pam, p);
	default:
		return 0;
	}
}

enum pam_kind pam_pampd_kind(const struct pam *pam, pam_pampd p)
{
	struct pam_pampd_info info;

	return pam_decode_bits(pam, p, &info) ? PAM_KIND_NONE : info.kind;
}

int pam_pampd_info(struct pam *pam, pam_pampd p, struct pam_pampd_info *out)
{
	int rc = _pam_decode_pampd(pam, p, out);

	if (rc == 0 && out->kind == PAM_KIND_UNIT)
		rc = _pam_unit_info(pam, p, out);
	return rc;
}

/* ---- statistics, maintenance, invariants ---------------------------------- */

static void pam_sum(struct pam *pam, uint64_t sum[PAM_C_NR])
{
	memset(sum, 0, sizeof(uint64_t) * PAM_C_NR);
	for (unsigned i = 0; i < PAM_MAX_POOLS; i++)
		for (unsigned k = 0; k < PAM_C_NR; k++)
			sum[k] += atomic_load_explicit(&pam->slot[i].c[k], memory_order_relaxed);
}

void pam_stats(struct pam *pam, struct pam_stats *out)
{
	uint64_t c[PAM_C_NR];

	memset(out, 0, sizeof(*out));
	pam_sum(pam, c);
	out->same_filled_pages = c[PAM_C_FILL];
	out->raw_pages = c[PAM_C_RAW];
	out->compressed_pages = c[PAM_C_XCF];
	out->lz4_pages = c[PAM_C_LZ4];
	out->zstd_pages = c[PAM_C_ZSTD];
	out->unit_pages = c[PAM_C_UNIT_PAGES];
	out->units = c[PAM_C_UNITS];
	out->unit_dead_pages = c[PAM_C_UNIT_DEAD];
	out->unit_bytes = c[PAM_C_UNIT_CLEN];
	out->unit_mem_bytes = c[PAM_C_UNIT_FOOT];
	out->backed_pages = c[PAM_C_BACKED];
	out->backed_bytes = c[PAM_C_BACKED_BYTES];
	out->backed_units = c[PAM_C_BACKED_UNITS];
	out->writeback_pages = c[PAM_C_WB_PAGES];
	out->writeback_failed = c[PAM_C_WB_FAILED];
	out->backed_reads = c[PAM_C_BACKED_READS];
	out->backed_read_failed = c[PAM_C_BACKED_READ_FAILED];
	out->promoted = c[PAM_C_PROMOTED];
	out->pages = c[PAM_C_FILL] + c[PAM_C_RAW] + c[PAM_C_XCF] + c[PAM_C_UNIT_PAGES] +
		     c[PAM_C_BACKED];
	out->orig_bytes = out->pages * PAM_PAGE_SIZE;
	out->compr_bytes = c[PAM_C_XCF_BYTES] + c[PAM_C_UNIT_CLEN] + c[PAM_C_BACKED_BYTES] +
			   c[PAM_C_RAW] * PAM_PAGE_SIZE;
	out->scratch_bytes = c[PAM_C_SPARES] * PAM_PAGE_SIZE;
	out->puts = c[PAM_C_PUTS];
	out->failed_puts = c[PAM_C_FAILED_PUTS];
	out->frees = c[PAM_C_FREES];
	out->fill_fallbacks = c[PAM_C_FILL_FALLBACKS];
	out->handle_fallbacks = c[PAM_C_HANDLE_FALLBACKS];
	out->corrupt = c[PAM_C_CORRUPT];
	out->bad_frees = c[PAM_C_BAD_FREES];
	out->units_made = c[PAM_C_UNITS_MADE];
	out->repacked_pages = c[PAM_C_REPACKED_PAGES];
	out->repack_no_gain = c[PAM_C_REPACK_NO_GAIN];
	out->repack_failed = c[PAM_C_REPACK_FAILED];
	out->unit_decodes = c[PAM_C_UNIT_DECODES];
	out->unit_partial_decodes = c[PAM_C_UNIT_PARTIAL];
	out->unit_cache_hits = c[PAM_C_UNIT_HITS];
	out->unit_short_copies = c[PAM_C_UNIT_SHORT_COPIES];
	out->raw_puts = c[PAM_C_RAW_PUTS];
	out->pools = pam->npools;
	out->pool_bytes = c[PAM_C_RAW] * PAM_PAGE_SIZE;
	for (unsigned i = 0; i < pam->npools; i++) {
		struct xcf_stats xs;

		xcf_stats(pam->slot[i].xcf, &xs);
		out->pool_bytes += xs.page_bytes;
		out->meta_bytes += xs.table_bytes + (pam->own_descs ? 0 : xs.desc_bytes);
		out->xcf_used_bytes += xs.used_bytes;
	}
	if (pam->own_descs) {
		struct slab_stats ss;

		slab_stats(pam->descs, &ss);
		out->meta_bytes += ss.bytes;
	}
	{
		struct slab_stats ss;

		slab_stats(pam->units, &ss);
		out->meta_bytes += ss.bytes;
	}
}

uint64_t pam_compact(struct pam *pam, size_t budget)
{
	uint64_t released = 0;

	for (unsigned i = 0; i < pam->npools; i++) {
		struct xcf_compact_result r;

		if (xcf_compact(pam->slot[i].xcf, budget, &r) == 0)
			released += r.pages_released;
	}
	return released;
}

size_t pam_shrink(struct pam *pam)
{
	size_t bytes = 0;

	for (unsigned i = 0; i < pam->npools; i++) {
		struct pam_slot *s = &pam->slot[i];
		struct sgv_obj *o = atomic_exchange(&s->spare, NULL);

		if (o) {
			pam_count(s, PAM_C_SPARES, -1);
			sgv_pool_free(o, NULL);
		}
		bytes += xcf_shrink(s->xcf);
	}
	return bytes;
}

#define PAM_CHECK(cond, ...)							\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "pam_check: " __VA_ARGS__);		\
			fputc('\n', stderr);					\
			return -EUCLEAN;					\
		}								\
	} while (0)

int pam_check(struct pam *pam)
{
	uint64_t c[PAM_C_NR];
	uint64_t objects = 0, used = 0;
	int rc;

	PAM_CHECK(pam->npools >= 1 && pam->npools <= PAM_MAX_POOLS, "bad pool count %u",
		  pam->npools);
	PAM_CHECK(pam->threshold >= 1 && pam->threshold <= PAM_PAGE_SIZE &&
		  pam->cap == (pam->threshold - 1 < XCF_MAX_SIZE ? pam->threshold - 1 :
			       XCF_MAX_SIZE), "bad threshold %u / cap %u", pam->threshold, pam->cap);
	for (unsigned i = 0; i < PAM_MAX_POOLS; i++) {
		const struct pam_slot *s = &pam->slot[i];

		if (i >= pam->npools) {
			PAM_CHECK(!s->xcf && !s->scratch && !atomic_load(&s->spare),
				  "slot %u beyond the pool count is in use", i);
			for (unsigned k = 0; k < PAM_C_NR; k++)
				PAM_CHECK(atomic_load(&s->c[k]) == 0,
					  "slot %u beyond the pool count has counter %u set", i, k);
			continue;
		}
		PAM_CHECK(s->xcf && s->scratch, "slot %u has no pool", i);
		rc = xcf_check(s->xcf);
		if (rc)
			return rc;
		rc = sgv_check(s->scratch);
		if (rc)
			return rc;
		{
			struct xcf_stats xs;

			xcf_stats(s->xcf, &xs);
			objects += xs.objects;
			used += xs.used_bytes;
		}
	}
	rc = slab_check(pam->units);
	if (rc)
		return rc;
	pam_sum(pam, c);
	for (unsigned k = PAM_C_FILL; k <= PAM_C_LAST_GAUGE; k++)
		PAM_CHECK((int64_t)c[k] >= 0, "gauge %u is negative (%lld)", k, (long long)c[k]);
	{
		struct slab_stats ss;

		slab_stats(pam->units, &ss);
		PAM_CHECK(c[PAM_C_UNITS] + c[PAM_C_BACKED_UNITS] == ss.active_objs,
			  "%llu units (and %llu in the backing file) but %llu descriptors",
			  (unsigned long long)c[PAM_C_UNITS], (unsigned long long)c[PAM_C_BACKED_UNITS],
			  (unsigned long long)ss.active_objs);
	}
	PAM_CHECK(c[PAM_C_UNIT_PAGES] + c[PAM_C_UNIT_DEAD] <= c[PAM_C_UNITS] * PAM_UNIT_PAGES &&
		  c[PAM_C_UNIT_PAGES] + c[PAM_C_UNIT_DEAD] >= c[PAM_C_UNITS] &&
		  c[PAM_C_UNIT_CHUNKS] >= c[PAM_C_UNITS] &&
		  c[PAM_C_UNIT_CHUNKS] <= c[PAM_C_UNITS] * PAM_UNIT_MAX_CHUNKS &&
		  c[PAM_C_UNIT_CLEN] <= c[PAM_C_UNIT_BYTES],
		  "unit counters disagree: %llu units, %llu pages, %llu dead, %llu chunks",
		  (unsigned long long)c[PAM_C_UNITS], (unsigned long long)c[PAM_C_UNIT_PAGES],
		  (unsigned long long)c[PAM_C_UNIT_DEAD], (unsigned long long)c[PAM_C_UNIT_CHUNKS]);
	PAM_CHECK(c[PAM_C_SPARES] <= pam->npools, "%llu spares for %u slots",
		  (unsigned long long)c[PAM_C_SPARES], pam->npools);
	PAM_CHECK(c[PAM_C_XCF] + c[PAM_C_UNIT_CHUNKS] == objects,
		  "%llu compressed pages + %llu unit chunks but %llu xcf objects",
		  (unsigned long long)c[PAM_C_XCF], (unsigned long long)c[PAM_C_UNIT_CHUNKS],
		  (unsigned long long)objects);
	PAM_CHECK(c[PAM_C_XCF_BYTES] + c[PAM_C_UNIT_BYTES] == used,
		  "%llu compressed bytes + %llu unit bytes but %llu xcf bytes",
		  (unsigned long long)c[PAM_C_XCF_BYTES], (unsigned long long)c[PAM_C_UNIT_BYTES],
		  (unsigned long long)used);
	PAM_CHECK(c[PAM_C_LZ4] + c[PAM_C_ZSTD] == c[PAM_C_XCF],
		  "per-codec pages %llu + %llu != %llu compressed pages",
		  (unsigned long long)c[PAM_C_LZ4], (unsigned long long)c[PAM_C_ZSTD],
		  (unsigned long long)c[PAM_C_XCF]);
	PAM_CHECK(c[PAM_C_XCF_BYTES] <= c[PAM_C_XCF] * pam->cap,
		  "compressed bytes %llu exceed %llu pages of at most %u",
		  (unsigned long long)c[PAM_C_XCF_BYTES], (unsigned long long)c[PAM_C_XCF],
		  pam->cap);
	if (pam->backing) {
		struct backing_stats bs;

		backing_stats(pam->backing, &bs);
		PAM_CHECK(bs.objects == c[PAM_C_BACKED_RECS] &&
			  bs.live_bytes == c[PAM_C_BACKED_BYTES],
			  "%llu backed records (%llu bytes) but %llu records (%llu bytes) in the file",
			  (unsigned long long)c[PAM_C_BACKED_RECS],
			  (unsigned long long)c[PAM_C_BACKED_BYTES],
			  (unsigned long long)bs.objects, (unsigned long long)bs.live_bytes);
	}
	PAM_CHECK(c[PAM_C_FREES] <= c[PAM_C_PUTS], "more frees (%llu) than puts (%llu)",
		  (unsigned long long)c[PAM_C_FREES], (unsigned long long)c[PAM_C_PUTS]);
	PAM_CHECK(c[PAM_C_PUTS] - c[PAM_C_FREES] ==
		  c[PAM_C_FILL] + c[PAM_C_RAW] + c[PAM_C_XCF] + c[PAM_C_UNIT_PAGES] +
			  c[PAM_C_BACKED],
		  "puts - frees != pages stored");
	return 0;
}

/* ---- stored forms (pam.h): the export and import of saved states ----------- */

int pam_export(struct pam *pam, pam_pampd p, struct pam_blob *out, void *buf,
	       int unit_payload)
{
	struct pam_pampd_info info;
	int n;

	memset(out, 0, sizeof(*out));
	if (_pam_decode_pampd(pam, p, &info) < 0)
		return -EIO;
	out->kind = info.kind;
	switch (info.kind) {
	case PAM_KIND_FILL:
		out->fill = info.fill;
		return 0;
	case PAM_KIND_RAW:
		memcpy(buf, (const void *)(uintptr_t)(p & PAM_RAW_ADDR_MASK), PAM_PAGE_SIZE);
		out->len = PAM_PAGE_SIZE;
		out->data = buf;
		return 0;
	case PAM_KIND_XCF:
		n = xcf_read(pam->slot[info.pool].xcf, pam_xcf_handle(p), buf);
		if (n != (int)info.size)
			return -EIO;
		out->codec_type = info.codec_type;
		out->len = info.size;
		out->data = buf;
		return 0;
	case PAM_KIND_UNIT:
		return _pam_unit_export(pam, p, out, buf, unit_payload);
	case PAM_KIND_BACKED:
		return _pam_backed_export(pam, p, out, buf);
	default:
		return -EIO;
	}
}

int pam_import(struct pam *pam, const struct pam_blob *b, pam_pampd *out)
{
	struct pam_slot *s = pam_my_slot(pam);
	xcf_handle h;
	void *pg;

	switch (b->kind) {
	case PAM_KIND_FILL:
		if (pam_fill_encode(b->fill, out) < 0)
			return -EINVAL;
		pam_count(s, PAM_C_FILL, 1);
		break;
	case PAM_KIND_RAW:
		if (b->len != PAM_PAGE_SIZE || !b->data)
			return -EINVAL;
		pg = buddy_alloc(pam->pages, PAM_PAGE_SIZE);
		if (!pg)
			return -ENOMEM;
		memcpy(pg, b->data, PAM_PAGE_SIZE);
		*out = pam_raw_encode(pg);
		pam_count(s, PAM_C_RAW, 1);
		break;
	case PAM_KIND_XCF:
		if ((b->codec_type != CODEC_LZ4 && b->codec_type != CODEC_ZSTD) || b->len == 0 ||
		    b->len > pam->cap || !b->data)
			return -EINVAL;
		h = xcf_malloc(s->xcf, b->len);
		if (!h)
			return -ENOMEM;
		if ((uint64_t)h >> PAM_XCF_HANDLE_LIMIT_BITS) {
			xcf_free(s->xcf, h);
			return -ENOMEM;
		}
		xcf_write(s->xcf, h, b->data);
		*out = ((uint64_t)h >> 3) << PAM_XCF_HANDLE_SHIFT |
		       (uint64_t)(s - pam->slot) << PAM_XCF_POOL_SHIFT |
		       (uint64_t)b->len << PAM_XCF_SIZE_SHIFT |
		       (uint64_t)b->codec_type << PAM_XCF_CODEC_SHIFT | PAM_KIND_XCF;
		pam_count(s, PAM_C_XCF, 1);
		pam_count(s, b->codec_type == CODEC_LZ4 ? PAM_C_LZ4 : PAM_C_ZSTD, 1);
		pam_count(s, PAM_C_XCF_BYTES, b->len);
		break;
	default:
		return -EINVAL;
	}
	pam_count(s, PAM_C_PUTS, 1);
	return 0;
}
