/* pam_int.h - the PAM backend's private header: its structures, counters and
 * the pampd encoding's constants, shared by compress/pam.c (pages) and
 * compress/pam_unit.c (multi-page units).  The contract is pam.h.
 *
 * Design note.  PAM is two concepts over one backend object: pam.c turns
 * one page into a pampd and back (same-filled, raw, compressed into xcf);
 * pam_unit.c packs a group of pages into one unit and reads pages back out
 * of it (through a per-thread cache of decoded units).  Both count into the
 * same per-slot counters and use the same slots' xcf pools, so struct pam
 * and the counters live here.  Functions one file gives the other carry a
 * leading underscore (`_pam_`, STYLE.md).
 */
#ifndef ZC_COMPRESS_PAM_INT_H
#define ZC_COMPRESS_PAM_INT_H

#include "compress/pam.h"

#include <stdatomic.h>
#include <stdint.h>

#include "alloc/backing.h"
#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "alloc/slab.h"
#include "alloc/xcf.h"

#define PAM_CACHELINE 64

/* ---- pampd encoding (pam.h) --------------------------------------------- */

#define PAM_KIND_MASK 0x3ull

#define PAM_FILL_MODE_SHIFT 2
#define PAM_FILL_MODE_MASK 0x3ull
#define PAM_FILL_WORD32 0ull		/* fill = v | v << 32, v = bits 63..32 */
#define PAM_FILL_SMALL 1ull		/* fill = bits 63..4, sign-extended */
#define PAM_FILL_UNIT 2ull		/* not a fill: a page of a unit */
#define PAM_FILL_WORD32_ZERO_MASK 0xfffffff0ull	/* bits 31..4: must be 0 */

#define PAM_RAW_CHECK_SHIFT 2
#define PAM_RAW_CHECK_BITS 10
#define PAM_RAW_ADDR_MASK (~(uint64_t)(PAM_PAGE_SIZE - 1))

#define PAM_XCF_CODEC_SHIFT 2
#define PAM_XCF_SIZE_SHIFT 4
#define PAM_XCF_SIZE_BITS 12
#define PAM_XCF_POOL_SHIFT 16
#define PAM_XCF_POOL_BITS 4
#define PAM_XCF_HANDLE_SHIFT 20		/* bits 63..20 hold handle >> 3 */
#define PAM_XCF_HANDLE_LIMIT_BITS 47	/* handles must be below 2^47 */

#define PAM_UNIT_SLOT_SHIFT 4		/* bits 7..4: the page's slot */
#define PAM_UNIT_CHECK_SHIFT 8		/* bits 17..8: check of the address */
#define PAM_UNIT_CHECK_BITS 10
#define PAM_UNIT_ADDR_SHIFT 18		/* bits 63..18: descriptor address >> 3 */
#define PAM_UNIT_ADDR_LIMIT_BITS 49	/* descriptors must be below 2^49 */

#define PAM_FILL_BACKED 3ull		/* not a fill: a page in the backing file */
#define PAM_BACKED_CHECK_SHIFT 4	/* bits 7..4: check of the location */
#define PAM_BACKED_CHECK_BITS 4
#define PAM_BACKED_LOC_SHIFT 8		/* bits 63..8: the backing location */

_Static_assert(sizeof(uintptr_t) == 8, "the pampd encoding assumes 64-bit addresses");
_Static_assert(PAM_PAGE_SIZE == BUDDY_PAGE_SIZE && PAM_PAGE_SIZE == XCF_PAGE_SIZE &&
	       PAM_PAGE_SIZE == SGV_PAGE_SIZE,
	       "one page size everywhere (tmem/stack.c asserts tmem's)");
_Static_assert(XCF_MAX_SIZE < (1u << PAM_XCF_SIZE_BITS), "a compressed size fits 12 bits");
_Static_assert(PAM_MAX_POOLS == (1u << PAM_XCF_POOL_BITS), "pool index bits");
_Static_assert(CODEC_TYPE_BITS == 2 && CODEC_LZ4 < 3 && CODEC_ZSTD < 3,
	       "a compressed pampd's codec type fits bits 3..2");
_Static_assert(PAM_XCF_POOL_SHIFT + PAM_XCF_POOL_BITS == PAM_XCF_HANDLE_SHIFT,
	       "the fields of a compressed pampd tile bits 63..0");
_Static_assert(PAM_XCF_SIZE_SHIFT + PAM_XCF_SIZE_BITS == PAM_XCF_POOL_SHIFT,
	       "the fields of a compressed pampd tile bits 63..0");
_Static_assert(64 - PAM_XCF_HANDLE_SHIFT + 3 == PAM_XCF_HANDLE_LIMIT_BITS,
	       "handle bits: 44 stored + 3 always-zero low bits");
_Static_assert(PAM_RAW_CHECK_SHIFT + PAM_RAW_CHECK_BITS == 12, "raw check fits below the page bits");
_Static_assert(PAM_UNIT_PAGES == 16 && PAM_UNIT_SLOT_SHIFT + 4 == PAM_UNIT_CHECK_SHIFT,
	       "a unit page's slot fits bits 7..4");
_Static_assert(PAM_UNIT_CHECK_SHIFT + PAM_UNIT_CHECK_BITS == PAM_UNIT_ADDR_SHIFT &&
	       64 - PAM_UNIT_ADDR_SHIFT + 3 == PAM_UNIT_ADDR_LIMIT_BITS,
	       "the fields of a unit pampd tile bits 63..0");

/* ---- counters ------------------------------------------------------------ */

enum {
	PAM_C_FILL,		/* gauges, summed over slots modulo 2^64 */
	PAM_C_RAW,
	PAM_C_XCF,
	PAM_C_LZ4,
	PAM_C_ZSTD,
	PAM_C_XCF_BYTES,	/* compressed payload bytes in xcf (single pages) */
	PAM_C_SPARES,		/* spare scratch buffers held */
	PAM_C_UNITS,		/* units alive */
	PAM_C_UNIT_PAGES,	/* pages stored in units (live unit pampds) */
	PAM_C_UNIT_DEAD,	/* slots of live units whose page left */
	PAM_C_UNIT_CHUNKS,	/* xcf objects holding units */
	PAM_C_UNIT_BYTES,	/* their bytes (payloads + chunk tables) */
	PAM_C_UNIT_CLEN,	/* the units' compressed payload bytes */
	PAM_C_UNIT_FOOT,	/* the units' footprints (pam_unit_footprint) */
	PAM_C_BACKED,		/* pages whose stored form is in the backing file */
	PAM_C_BACKED_BYTES,	/* their records' bytes in the file (pam_backed.c) */
	PAM_C_BACKED_UNITS,	/* units whose payload is in the file (descriptors) */
	PAM_C_BACKED_RECS,	/* records in the file: backed single pages + units */
	PAM_C_PUTS,		/* event counters */
	PAM_C_FAILED_PUTS,
	PAM_C_FREES,
	PAM_C_FILL_FALLBACKS,
	PAM_C_HANDLE_FALLBACKS,
	PAM_C_CORRUPT,
	PAM_C_BAD_FREES,
	PAM_C_UNITS_MADE,
	PAM_C_REPACKED_PAGES,	/* single pages recompressed by pam_repack */
	PAM_C_REPACK_NO_GAIN,
	PAM_C_REPACK_FAILED,
	PAM_C_UNIT_DECODES,
	PAM_C_UNIT_PARTIAL,	/* of those, prefix decodes */
	PAM_C_UNIT_HITS,
	PAM_C_UNIT_SHORT_COPIES,	/* prefix decodes that had to copy the rest */
	PAM_C_RAW_PUTS,		/* pages stored raw, ever */
	PAM_C_WB_PAGES,		/* pages written back to the backing file, ever */
	PAM_C_WB_FAILED,	/* pages whose writeback failed (left in RAM) */
	PAM_C_BACKED_READS,	/* backed pages read, ever */
	PAM_C_BACKED_READ_FAILED,	/* of those, reads that gave -EIO */
	PAM_C_PROMOTED,		/* backed pages brought back into RAM, ever */
	PAM_C_NR
};
#define PAM_C_LAST_GAUGE PAM_C_BACKED_RECS

/* One slot per xcf pool.  Owned by the threads that picked it; the
 * counters take frees from any thread, so they are atomics (relaxed: they
 * order nothing). */
struct pam_slot {
	struct xcf_pool *xcf;		/* set at create, then read only */
	struct sgv_pool *scratch;	/* set at create, then read only */
	_Atomic(struct sgv_obj *) spare;	/* one idle scratch buffer, or NULL */
	_Atomic uint64_t c[PAM_C_NR];
} __attribute__((aligned(PAM_CACHELINE)));

struct pam {
	struct buddy *pages;		/* set at create, then read only ... */
	struct sgv_ctx *sgv;
	struct slab_cache *descs;
	struct slab_cache *units;	/* unit descriptors ("pam_unit") */
	int own_descs;			/* descs created here */
	unsigned threshold;		/* raw threshold, bytes */
	unsigned cap;			/* compression output cap: min(threshold - 1, XCF_MAX_SIZE) */
	unsigned npools;
	unsigned lz4_unit_pages;	/* pages per LZ4-decoded unit, full group (pam_config) */
	unsigned lz4_part_unit_pages;	/* the same, any other group */
	_Atomic unsigned rr;		/* round-robin slot choice */
	_Atomic uint64_t unit_ids;	/* the next unit id (see pam_unit.c) */
	struct backing *backing;	/* pam_set_backing's, then read only; NULL: none */
	uint64_t backing_tag;		/* the tag of every record (pam_backed.c) */
	_Atomic int64_t promote;	/* bytes promotion may still take (pam_backing_promote) */
	struct pam_slot slot[PAM_MAX_POOLS];
};

/* A unit: up to PAM_UNIT_PAGES pages of one group compressed together.
 * 32 bytes from the "pam_unit" slab cache; the compressed bytes live in
 * xcf (see pam_unit.c), or, for a unit written back (nchunks 0), in the
 * backing file as one record whose location is `head` (pam_backed.c).  Every field but refs is written before the unit
 * is published (pam_repack) and never changes after. */
struct pam_unit {
	_Atomic uint32_t refs;		/* live pages in it + readers decoding it */
	/* head, of a unit in the backing file (nchunks 0), is its record's
	 * location and is moved by compaction (pam_relocate, under the bucket
	 * lock of its group; __atomic loads and stores) - the one field
	 * besides refs that changes after publication. */
	uint16_t map;			/* the page map: bit s = slot s is in it */
	uint8_t type;			/* decode type: CODEC_LZ4 or CODEC_ZSTD */
	uint8_t pool;			/* xcf pool (slot) of its chunks */
	uint32_t clen;			/* compressed bytes */
	uint16_t nchunks;		/* xcf objects: 1 .. PAM_UNIT_MAX_CHUNKS */
	uint16_t magic;			/* PAM_UNIT_MAGIC while alive */
	uint64_t id;			/* unique in the process (the caches' key) */
	xcf_handle head;		/* chunk 0 */
};
_Static_assert(sizeof(struct pam_unit) == PAM_UNIT_DESC_SIZE, "PAM_UNIT_DESC_SIZE");

#define PAM_UNIT_MAGIC 0x7a75u
/* The largest payload a unit may have: less than its pages. */
#define PAM_UNIT_MAX_CLEN (PAM_UNIT_PAGES * PAM_PAGE_SIZE - 1)
/* Chunks: payload + 8 bytes per chunk after the first, XCF_MAX_SIZE each. */
#define PAM_UNIT_MAX_CHUNKS 17u
#define PAM_UNIT_MAX_STORED (PAM_UNIT_MAX_CLEN + 8u * (PAM_UNIT_MAX_CHUNKS - 1))
_Static_assert(PAM_UNIT_MAX_CHUNKS * XCF_MAX_SIZE >= PAM_UNIT_MAX_STORED,
	       "17 chunks hold the largest unit");

/* The calling thread's slot choice (which backend, which slot). */
struct pam_tls {
	const struct pam *pam;
	unsigned slot;
	pam_pampd backed_unit_page;	/* the last page this thread read from a
					   unit in the backing file (for
					   pam_promote), or 0 */
};

extern _Thread_local struct pam_tls _pam_tls;

static inline struct pam_slot *pam_my_slot(struct pam *pam)
{
	struct pam_tls *t = &_pam_tls;

	/* The slot bound also covers a backend created at the address of a
	 * destroyed one that had more pools. */
	if (__builtin_expect(t->pam != pam || t->slot >= pam->npools, 0)) {
		t->slot = atomic_fetch_add_explicit(&pam->rr, 1, memory_order_relaxed) %
			  pam->npools;
		t->pam = pam;
	}
	return &pam->slot[t->slot];
}

static inline void pam_count(struct pam_slot *s, unsigned c, int64_t delta)
{
	atomic_fetch_add_explicit(&s->c[c], (uint64_t)delta, memory_order_relaxed);
}

/* The xcf footprint of an object of `size` bytes (pam_size's formula). */
static inline uint64_t pam_xcf_footprint(uint64_t size)
{
	return (size + XCF_HDR_SIZE + XCF_BLOCK_SIZE - 1) / XCF_BLOCK_SIZE * XCF_BLOCK_SIZE +
	       XCF_DESC_SIZE;
}

static inline xcf_handle pam_xcf_handle(pam_pampd p)
{
	return (xcf_handle)((p >> PAM_XCF_HANDLE_SHIFT) << 3);
}

/* The unit a unit pampd names (its check bits already verified). */
static inline struct pam_unit *pam_unit_of(pam_pampd p)
{
	return (struct pam_unit *)(uintptr_t)((p >> PAM_UNIT_ADDR_SHIFT) << 3);
}

static inline unsigned pam_unit_check(uint64_t addr)
{
	return (unsigned)(((addr >> 3) * 0x9e3779b97f4a7c15ull) >> (64 - PAM_UNIT_CHECK_BITS));
}

/* ---- what pam.c and pam_unit.c give each other ---------------------------- */

/* Decode any pampd, checking what can be checked without touching memory
 * (pam.c).  Returns 0 or -EIO. */
int _pam_decode_pampd(const struct pam *pam, pam_pampd p, struct pam_pampd_info *out);

/* pam_unit.c: the unit kind's share of pam_get_locked, pam_decode,
 * pam_free, pam_size and pam_pampd_info (p is a unit pampd whose check
 * bits passed). */
int _pam_unit_get_locked(struct pam *pam, pam_pampd p, void *page, void *scratch,
			 size_t *len);
int _pam_unit_decode(struct pam *pam, pam_pampd p, const void *scratch, size_t len,
		     void *page);
void _pam_unit_page_free(struct pam *pam, pam_pampd p);
size_t _pam_unit_page_size(struct pam *pam, pam_pampd p);
int _pam_unit_info(struct pam *pam, pam_pampd p, struct pam_pampd_info *out);
/* The checks a unit pampd's descriptor allows (magic, pool, slot in the
 * map); the descriptor must be alive.  0 or -EIO. */
int _pam_unit_valid(const struct pam *pam, pam_pampd p);
/* pam_export's unit kind (p a live unit pampd whose checks passed). */
int _pam_unit_export(struct pam *pam, pam_pampd p, struct pam_blob *out, void *buf,
		     int payload);

/* pam_backed.c: the backed kind's share of pam_get_locked, pam_decode and
 * pam_free (p is a backed pampd whose check bits passed). */
int _pam_backed_get_locked(struct pam *pam, pam_pampd p);
/* A unit written back: its payload read from the file into buf (cap
 * bytes), returns 0 or -EIO (counted); freed with its last reference. */
int _pam_backed_unit_read(struct pam *pam, const struct pam_unit *u, void *buf, size_t cap);
void _pam_backed_unit_destroy(struct pam *pam, struct pam_unit *u);
/* pam_unit.c gives pam_backed.c: reading a unit's stored bytes from xcf,
 * the pampd of a unit's slot, dropping a reference. */
int _pam_unit_read_stored(struct pam *pam, const struct pam_unit *u, unsigned char *buf);
pam_pampd _pam_unit_encode(const struct pam_unit *u, unsigned slot);
void _pam_unit_unref(struct pam *pam, struct pam_unit *u);
#define PAM_UNIT_STAGING_BYTES(clen, nchunks) ((clen) + 8u * (nchunks) + XCF_MAX_SIZE)
int _pam_backed_decode(struct pam *pam, pam_pampd p, void *page);
/* pam_export of a backed page: its record read (no pin: the caller keeps
 * p alive and nothing frees pages meanwhile) and handed out in the form it
 * had in RAM, RAW or XCF, at buf itself.  0, -EIO or -ENOMEM. */
int _pam_backed_export(struct pam *pam, pam_pampd p, struct pam_blob *out, void *buf);
void _pam_backed_free(struct pam *pam, pam_pampd p);
/* A unit page was just read by this thread (get_locked's cache hit or
 * decode; u alive): remember it when its unit is in the backing file, so
 * pam_promote may bring it back without touching u (pam_backed.c). */
static inline void pam_note_unit_read(const struct pam *pam, const struct pam_unit *u,
				      pam_pampd p)
{
	struct pam_tls *t = &_pam_tls;

	(void)pam;
	if (__builtin_expect(u->nchunks == 0, 0) || t->backed_unit_page)
		t->backed_unit_page = u->nchunks == 0 ? p : 0;
}

/* The location of a unit's record in the backing file (nchunks 0): its
 * head, which compaction may change under the bucket lock of its group
 * (pam_relocate), hence an atomic load. */
static inline uint64_t pam_backed_unit_loc(const struct pam_unit *u)
{
	return (uint64_t)__atomic_load_n(&u->head, __ATOMIC_ACQUIRE);
}

/* The location a backed pampd names. */
static inline uint64_t pam_backed_loc(pam_pampd p)
{
	return p >> PAM_BACKED_LOC_SHIFT;
}

static inline unsigned pam_backed_check(uint64_t loc)
{
	return (unsigned)((loc * 0x9e3779b97f4a7c15ull) >> (64 - PAM_BACKED_CHECK_BITS));
}

#endif /* ZC_COMPRESS_PAM_INT_H */
