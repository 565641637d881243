/* pam_unit.c - multi-page units: a group of pages compressed as one stream,
 * each page still its own pampd (see pam.h, "Units", for the contract).
 *
 * Design note.  A unit is a 32-byte descriptor (struct pam_unit, from the
 * "pam_unit" slab cache) and its stored bytes in xcf: the payload prefixed
 * by the handles of chunks 1..n-1, cut into XCF_MAX_SIZE pieces.  Keeping
 * the handle table in chunk 0 instead of the descriptor keeps every
 * descriptor at 32 bytes whatever the unit's size (a 2-page unit of a small
 * file is common); the price is one xcf_read of chunk 0 when a unit is
 * freed, which happens once in its life.
 *
 * The descriptor's reference count is the only shared mutable field: one
 * reference per live page, plus one per reader between pam_get_locked and
 * pam_decode.  Increments happen only while something else already holds a
 * reference (the caller's lock keeps a page's), so relaxed adds suffice;
 * the decrement is acq_rel, so the thread that frees the unit sees every
 * other thread's reads of it done.
 *
 * Reads go through a per-thread cache of decoded units (PAM_UNIT_CACHE
 * entries, least recently used replaced) keyed by (descriptor address, id):
 * an address can be reused after a unit is freed, an id never is, so a
 * stale entry never matches and needs no invalidation.  Entries are only
 * compared, never dereferenced.  The cache is thread-local storage, like
 * the codec contexts: no lock, freed by a pthread key destructor when the
 * thread exits.  Its key is created once per process (pthread_once) and
 * never changes: this file's only process-wide state.
 *
 * lz4 units are decoded up to the page asked for when a thread meets the
 * unit for the first time, unless it meets it at its first page and the
 * last unit page it served was the last of its unit (or it served none:
 * a sequential reader, whose next unit is decoded whole at once).  So a
 * random 4 KiB read costs half a unit on average, page 0 included (it
 * used to decode the whole unit: 1/8 of the random reads of an 8-page
 * unit), and a reader that goes on within the unit decodes it whole at
 * its next miss (pam.h, Reading).  A prefix decode copies out only the
 * chunks it is likely to read (lz4 stops where its input ends and what it
 * gave is exact), and the rest when they fell short.
 */
#include "compress/pam_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for the handle table in front of a freshly compressed payload. */
#define PAM_UNIT_TABLE_MAX (8u * (PAM_UNIT_MAX_CHUNKS - 1))
/* The staging area: a unit's stored bytes, plus one chunk of slack so a
 * chunk of a wrong size cannot write past it before its size is checked. */
#define PAM_UNIT_STAGING (PAM_UNIT_MAX_STORED + XCF_MAX_SIZE)
#define PAM_UNIT_DECODED (PAM_UNIT_PAGES * PAM_PAGE_SIZE)

_Static_assert(PAM_UNIT_STAGING - PAM_UNIT_TABLE_MAX >= PAM_UNIT_DECODED + PAM_UNIT_DECODED / 255 + 16,
	       "the staging area holds lz4's bound for 16 pages");

/* ---- geometry ------------------------------------------------------------ */

static inline unsigned pam_popcount(unsigned x)
{
	return (unsigned)__builtin_popcount(x);
}

/* The page number of slot s in a unit with this map. */
static inline unsigned pam_unit_rank(unsigned map, unsigned s)
{
	return pam_popcount(map & ((1u << s) - 1));
}

/* Chunks for a payload of clen bytes: the least n with n pieces of
 * XCF_MAX_SIZE holding clen + 8 (n - 1) bytes. */
static unsigned pam_unit_nchunks(uint32_t clen)
{
	unsigned n = 1;

	while ((uint64_t)n * XCF_MAX_SIZE < (uint64_t)clen + 8u * (n - 1))
		n++;
	return n;
}

static inline uint32_t pam_unit_stored(uint32_t clen, unsigned nchunks)
{
	return clen + 8u * (nchunks - 1);
}

/* Size of chunk i of a unit storing `stored` bytes. */
static inline uint32_t pam_unit_chunk_size(uint32_t stored, unsigned i)
{
	uint32_t off = i * XCF_MAX_SIZE;

	return stored - off < XCF_MAX_SIZE ? stored - off : XCF_MAX_SIZE;
}

/* The memory a unit holds: its chunks' xcf footprints and its descriptor. */
static uint64_t pam_unit_footprint(uint32_t clen, unsigned nchunks)
{
	uint32_t stored = pam_unit_stored(clen, nchunks);
	uint64_t f = PAM_UNIT_DESC_SIZE;

	for (unsigned i = 0; i < nchunks; i++)
		f += pam_xcf_footprint(pam_unit_chunk_size(stored, i));
	return f;
}

static inline pam_pampd pam_unit_encode(const struct pam_unit *u, unsigned slot)
{
	uint64_t a = (uint64_t)(uintptr_t)u;

	return (a >> 3) << PAM_UNIT_ADDR_SHIFT |
	       (uint64_t)pam_unit_check(a) << PAM_UNIT_CHECK_SHIFT |
	       (uint64_t)slot << PAM_UNIT_SLOT_SHIFT |
	       PAM_FILL_UNIT << PAM_FILL_MODE_SHIFT | PAM_KIND_FILL;
}

static inline unsigned pam_unit_slot(pam_pampd p)
{
	return (unsigned)(p >> PAM_UNIT_SLOT_SHIFT) & (PAM_UNIT_PAGES - 1);
}

/* ---- the per-thread cache ------------------------------------------------- */

struct pam_ucache_entry {
	const struct pam_unit *unit;	/* key: descriptor address ... */
	uint64_t id;			/* ... and id; unit NULL = empty */
	uint32_t valid;			/* decoded bytes at the start of data */
	unsigned char *data;		/* PAM_UNIT_DECODED bytes */
};

struct pam_ucache {
	struct pam_ucache_entry e[PAM_UNIT_CACHE];
	unsigned victim;		/* the entry to replace next */
	int mid_unit;			/* the last unit page served was not its unit's last */
	unsigned char *mem;		/* every buffer, one allocation */
	unsigned char *staging;		/* PAM_UNIT_STAGING bytes */
	int registered;			/* the pthread key points at this block */
};

static _Thread_local struct pam_ucache pam_ucache;

static pthread_once_t pam_ucache_once = PTHREAD_ONCE_INIT;
static pthread_key_t pam_ucache_key;
static int pam_ucache_key_ok;

static void pam_ucache_free(struct pam_ucache *c)
{
	free(c->mem);
	memset(c->e, 0, sizeof(c->e));
	c->mem = NULL;
	c->staging = NULL;
	c->victim = 0;
	c->mid_unit = 0;
}

static void pam_ucache_destructor(void *arg)
{
	struct pam_ucache *c = arg;

	pam_ucache_free(c);
	c->registered = 0;
}

static void pam_ucache_key_init(void)
{
	pam_ucache_key_ok = pthread_key_create(&pam_ucache_key, pam_ucache_destructor) == 0;
}

/* The calling thread's buffers, allocated at first use.  NULL when memory
 * or the key cannot be had. */
static struct pam_ucache *pam_ucache_get(void)
{
	struct pam_ucache *c = &pam_ucache;

	if (__builtin_expect(c->mem != NULL, 1))
		return c;
	if (!c->registered) {
		pthread_once(&pam_ucache_once, pam_ucache_key_init);
		if (!pam_ucache_key_ok || pthread_setspecific(pam_ucache_key, c) != 0)
			return NULL;
		c->registered = 1;
	}
	c->mem = malloc((size_t)PAM_UNIT_CACHE * PAM_UNIT_DECODED + PAM_UNIT_STAGING);
	if (!c->mem)
		return NULL;
	for (unsigned i = 0; i < PAM_UNIT_CACHE; i++) {
		c->e[i].unit = NULL;
		c->e[i].data = c->mem + (size_t)i * PAM_UNIT_DECODED;
	}
	c->staging = c->mem + (size_t)PAM_UNIT_CACHE * PAM_UNIT_DECODED;
	return c;
}

void pam_thread_release(void)
{
	pam_ucache_free(&pam_ucache);
}

/* The entry holding unit u, or NULL.  Touches nothing but the cache. */
static inline struct pam_ucache_entry *pam_ucache_find(struct pam_ucache *c,
						       const struct pam_unit *u, uint64_t id)
{
	for (unsigned i = 0; i < PAM_UNIT_CACHE; i++)
		if (c->e[i].unit == u && c->e[i].id == id) {
			c->victim = (i + 1) % PAM_UNIT_CACHE;
			return &c->e[i];
		}
	return NULL;
}

/* ---- freeing -------------------------------------------------------------- */

/* Read the stored bytes of u (table and payload) into buf
 * (PAM_UNIT_STAGING bytes).  u must be alive.  Returns 0 or -EIO.  A unit
 * written back (nchunks 0) has no table: its payload is read from the
 * backing file. */
static int pam_unit_read_stored(struct pam *pam, const struct pam_unit *u, unsigned char *buf)
{
	if (u->nchunks == 0)
		return _pam_backed_unit_read(pam, u, buf, PAM_UNIT_STAGING);
	return _pam_unit_read_stored(pam, u, buf);
}

/* Read chunks from .. to-1 of u (in xcf, alive) to their places in buf
 * (PAM_UNIT_STAGING bytes); chunk 0 must be there already when from > 0
 * (its table names the others).  Returns 0 or -EIO. */
static int pam_unit_read_chunks(struct pam *pam, const struct pam_unit *u, unsigned char *buf,
				unsigned from, unsigned to)
{
	struct xcf_pool *x = pam->slot[u->pool].xcf;
	uint32_t stored = pam_unit_stored(u->clen, u->nchunks);
	uint32_t off = from * XCF_MAX_SIZE;

	for (unsigned i = from; i < to; i++) {
		uint32_t want = pam_unit_chunk_size(stored, i);
		xcf_handle h;
		int n;

		if (i == 0) {
			h = u->head;
		} else {
			uint64_t v;

			memcpy(&v, buf + 8 * (i - 1), sizeof(v));
			h = (xcf_handle)v;
		}
		if (h == 0 || (h & 7))
			return -EIO;
		n = xcf_read(x, h, buf + off);
		if (n != (int)want)
			return -EIO;
		off += want;
	}
	return 0;
}

int _pam_unit_read_stored(struct pam *pam, const struct pam_unit *u, unsigned char *buf)
{
	return pam_unit_read_chunks(pam, u, buf, 0, u->nchunks);
}

/* How many leading chunks of u a decode of its first `want` bytes (of
 * `size`) should copy out first: its share of the payload in proportion,
 * plus one page's share as slack for a page that compresses worse than
 * the unit.  A guess: pam_unit_load reads the rest when it falls short. */
static unsigned pam_unit_chunks_for(const struct pam_unit *u, uint32_t want, uint32_t size)
{
	uint64_t need = 8u * (u->nchunks - 1u) +
			(uint64_t)u->clen * (want + PAM_PAGE_SIZE) / size;
	uint64_t n = need / XCF_MAX_SIZE + 1;

	return n < u->nchunks ? (unsigned)n : u->nchunks;
}

/* Free u's chunks and descriptor and take it off the counters.  Called by
 * whoever dropped the last reference, with no lock held. */
static void pam_unit_destroy(struct pam *pam, struct pam_unit *u)
{
	struct pam_slot *s = pam_my_slot(pam);

	if (u->nchunks == 0) {
		_pam_backed_unit_destroy(pam, u);
		return;
	}
	{
	struct xcf_pool *x = pam->slot[u->pool].xcf;
	unsigned char head[XCF_MAX_SIZE];
	uint32_t stored = pam_unit_stored(u->clen, u->nchunks);
	unsigned n = u->nchunks;

	if (n > 1 && xcf_read(x, u->head, head) == (int)pam_unit_chunk_size(stored, 0)) {
		for (unsigned i = 1; i < n; i++) {
			uint64_t v;

			memcpy(&v, head + 8 * (i - 1), sizeof(v));
			xcf_free(x, (xcf_handle)v);
		}
	} else if (n > 1) {
		/* Chunk 0 is not what it was: its table cannot be trusted,
		 * so the other chunks are left where they are (counted). */
		pam_count(s, PAM_C_CORRUPT, 1);
	}
	xcf_free(x, u->head);
	pam_count(s, PAM_C_UNITS, -1);
	pam_count(s, PAM_C_UNIT_DEAD, -(int64_t)pam_popcount(u->map));
	pam_count(s, PAM_C_UNIT_CHUNKS, -(int64_t)n);
	pam_count(s, PAM_C_UNIT_BYTES, -(int64_t)stored);
	pam_count(s, PAM_C_UNIT_CLEN, -(int64_t)u->clen);
	pam_count(s, PAM_C_UNIT_FOOT, -(int64_t)pam_unit_footprint(u->clen, n));
	u->magic = 0;
	slab_free(pam->units, u);
	}
}

static void pam_unit_unref(struct pam *pam, struct pam_unit *u)
{
	if (atomic_fetch_sub_explicit(&u->refs, 1, memory_order_acq_rel) == 1)
		pam_unit_destroy(pam, u);
}

void _pam_unit_unref(struct pam *pam, struct pam_unit *u)
{
	pam_unit_unref(pam, u);
}

pam_pampd _pam_unit_encode(const struct pam_unit *u, unsigned slot)
{
	return pam_unit_encode(u, slot);
}

/* ---- the unit kind's share of the page calls -------------------------------- */

int _pam_unit_get_locked(struct pam *pam, pam_pampd p, void *page, void *scratch, size_t *len)
{
	struct pam_unit *u = pam_unit_of(p);
	struct pam_ucache *c = &pam_ucache;
	unsigned off = pam_unit_rank(u->map, pam_unit_slot(p)) * PAM_PAGE_SIZE;
	struct pam_ucache_entry *e;

	if (c->mem && (e = pam_ucache_find(c, u, u->id)) && e->valid >= off + PAM_PAGE_SIZE) {
		memcpy(page, e->data + off, PAM_PAGE_SIZE);
		c->mid_unit = off + PAM_PAGE_SIZE < pam_popcount(u->map) * PAM_PAGE_SIZE;
		pam_count(pam_my_slot(pam), PAM_C_UNIT_HITS, 1);
		pam_note_unit_read(pam, u, p);
		return 1;
	}
	atomic_fetch_add_explicit(&u->refs, 1, memory_order_relaxed);
	memcpy(scratch, &u, sizeof(u));
	*len = sizeof(u);
	return 0;
}

/* Decode the page at byte `off` of unit u (alive: the caller holds a
 * reference) into page, through the thread's cache. */
static int pam_unit_load(struct pam *pam, const struct pam_unit *u, unsigned off, void *page)
{
	struct pam_ucache *c = pam_ucache_get();
	struct pam_slot *s = pam_my_slot(pam);
	uint32_t size = pam_popcount(u->map) * PAM_PAGE_SIZE;
	struct pam_ucache_entry *e;
	size_t want;
	int n;

	if (!c)
		return -ENOMEM;
	e = pam_ucache_find(c, u, u->id);
	if (e) {
		want = size;	/* met before: read on, so decode it whole */
	} else {
		e = &c->e[c->victim];
		c->victim = (c->victim + 1) % PAM_UNIT_CACHE;
		want = (off == 0 && !c->mid_unit) || u->type != CODEC_LZ4 ? size
									   : off + PAM_PAGE_SIZE;
	}
	c->mid_unit = off + PAM_PAGE_SIZE < size;
	e->unit = NULL;
	if (want < size && u->nchunks > 1) {
		/* A prefix decode needs only the payload's start: copy out
		 * the chunks it will likely read, decode from them (lz4 stops
		 * where they end), and only when that falls short the rest. */
		unsigned have = pam_unit_chunks_for(u, (uint32_t)want, size);
		uint32_t table = 8u * (u->nchunks - 1u);
		uint32_t stored = pam_unit_stored(u->clen, u->nchunks);
		uint32_t got = have * XCF_MAX_SIZE < stored ? have * XCF_MAX_SIZE : stored;

		n = pam_unit_read_chunks(pam, u, c->staging, 0, have);
		if (n == 0 && have < u->nchunks) {
			n = codec_decompress_prefix(u->type, c->staging + table, got - table,
						    e->data, want, size);
			if (n == -EIO) {
				pam_count(s, PAM_C_UNIT_SHORT_COPIES, 1);
				n = pam_unit_read_chunks(pam, u, c->staging, have, u->nchunks);
				have = u->nchunks;
			}
		}
		if (n == 0 && have == u->nchunks)
			n = codec_decompress_prefix(u->type, c->staging + table, u->clen, e->data,
						    want, size);
	} else {
		n = pam_unit_read_stored(pam, u, c->staging);
		if (n == 0) {
			uint32_t table = u->nchunks ? 8u * (u->nchunks - 1u) : 0;

			n = codec_decompress_prefix(u->type, c->staging + table, u->clen, e->data,
						    want, size);
		}
	}
	if (n < 0) {
		if (n == -EIO)
			pam_count(s, PAM_C_CORRUPT, 1);
		return n;
	}
	e->unit = u;
	e->id = u->id;
	e->valid = (uint32_t)n;
	pam_count(s, PAM_C_UNIT_DECODES, 1);
	if ((uint32_t)n < size)
		pam_count(s, PAM_C_UNIT_PARTIAL, 1);
	memcpy(page, e->data + off, PAM_PAGE_SIZE);
	return 0;
}

int _pam_unit_decode(struct pam *pam, pam_pampd p, const void *scratch, size_t len, void *page)
{
	struct pam_unit *u;
	int rc;

	if (len != sizeof(u)) {
		pam_count(pam_my_slot(pam), PAM_C_CORRUPT, 1);
		return -EIO;
	}
	memcpy(&u, scratch, sizeof(u));
	/* `u` is what get_locked pinned: the reference is dropped whatever
	 * happens; a p naming another unit is the caller's error. */
	if (u != pam_unit_of(p) || !(u->map & (1u << pam_unit_slot(p)))) {
		pam_count(pam_my_slot(pam), PAM_C_CORRUPT, 1);
		rc = -EIO;
	} else {
		rc = pam_unit_load(pam, u, pam_unit_rank(u->map, pam_unit_slot(p)) * PAM_PAGE_SIZE,
				   page);
		if (rc == 0)
			pam_note_unit_read(pam, u, p);
	}
	pam_unit_unref(pam, u);
	return rc;
}

void _pam_unit_page_free(struct pam *pam, pam_pampd p)
{
	struct pam_slot *s = pam_my_slot(pam);
	struct pam_unit *u = pam_unit_of(p);

	if (u->nchunks == 0) {
		pam_count(s, PAM_C_BACKED, -1);	/* a page of a unit written back */
	} else {
		pam_count(s, PAM_C_UNIT_PAGES, -1);
		pam_count(s, PAM_C_UNIT_DEAD, 1);
	}
	pam_unit_unref(pam, u);
}

size_t _pam_unit_page_size(struct pam *pam, pam_pampd p)
{
	const struct pam_unit *u = pam_unit_of(p);

	if (u->nchunks == 0)
		return 0;	/* in the backing file: no RAM but the descriptor */
	uint64_t f = pam_unit_footprint(u->clen, u->nchunks);
	unsigned n = pam_popcount(u->map), r = pam_unit_rank(u->map, pam_unit_slot(p));

	(void)pam;
	return (size_t)(f / n + (r < f % n ? 1 : 0));
}

int _pam_unit_info(struct pam *pam, pam_pampd p, struct pam_pampd_info *out)
{
	const struct pam_unit *u = pam_unit_of(p);

	(void)pam;
	out->codec_type = u->type;
	out->size = u->clen;
	out->pool = u->pool;
	out->map = u->map;
	out->unit = u->id;
	return 0;
}

int _pam_unit_valid(const struct pam *pam, pam_pampd p)
{
	const struct pam_unit *u = pam_unit_of(p);

	return u->magic == PAM_UNIT_MAGIC && u->pool < pam->npools &&
	       (u->map & (1u << pam_unit_slot(p))) ? 0 : -EIO;
}

/* ---- repacking ------------------------------------------------------------ */

/* How many slots a unit made with `codec` of the group whose stored slots
 * are `map` spans at most: its run (an aligned run of slots;
 * pam_config.lz4_unit_pages for a full group, lz4_part_unit_pages for
 * the others). */
static unsigned pam_run_pages(const struct pam *pam, unsigned codec, unsigned map)
{
	if (codec_decode_type(codec) != CODEC_LZ4)
		return PAM_UNIT_PAGES;
	return map == (1u << PAM_UNIT_PAGES) - 1 ? pam->lz4_unit_pages : pam->lz4_part_unit_pages;
}

/* The slots of the run of `run` slots that holds slot s. */
static unsigned pam_run_mask(unsigned run, unsigned s)
{
	unsigned all = run >= PAM_UNIT_PAGES ? (1u << PAM_UNIT_PAGES) - 1 : (1u << run) - 1;

	return all << (s / run * run);
}

/* Is a group (map: its stored slots, unit_slots: those in the nunits
 * units listed) already what repacking with `codec` would make: every
 * slot in a unit of the codec's decode type, each unit exactly the stored
 * slots of its run? */
static int pam_units_dense(const struct pam *pam, const struct pam_unit *const *units,
			   unsigned nunits, unsigned unit_slots, unsigned map, unsigned codec)
{
	unsigned run = pam_run_pages(pam, codec, map);

	if (nunits == 0 || unit_slots != map)
		return 0;
	for (unsigned k = 0; k < nunits; k++) {
		unsigned first = (unsigned)__builtin_ctz(units[k]->map);

		if (units[k]->type != codec_decode_type(codec) ||
		    units[k]->map != (map & pam_run_mask(run, first)))
			return 0;
	}
	return 1;
}

unsigned pam_repack_plan(struct pam *pam, const pam_pampd old[PAM_UNIT_PAGES], unsigned codec,
			 uint64_t *old_bytes)
{
	const struct pam_unit *units[PAM_UNIT_PAGES];
	unsigned map = 0, unit_slots = 0, nunits = 0;
	uint64_t bytes = 0;

	*old_bytes = 0;
	if (codec_valid(codec) || codec_decode_type(codec) == CODEC_NONE)
		return 0;
	for (unsigned s = 0; s < PAM_UNIT_PAGES; s++) {
		struct pam_pampd_info info;
		const struct pam_unit *u;
		unsigned k;

		if (!old[s] || _pam_decode_pampd(pam, old[s], &info))
			continue;
		if (info.kind == PAM_KIND_XCF) {
			map |= 1u << s;
			bytes += pam_xcf_footprint(info.size);
			continue;
		}
		if (info.kind != PAM_KIND_UNIT)
			continue;
		u = pam_unit_of(old[s]);
		if (u->nchunks == 0)
			continue;	/* written back: cold, and repacking would read it in */
		map |= 1u << s;
		unit_slots |= 1u << s;
		for (k = 0; k < nunits && units[k] != u; k++)
			;
		if (k == nunits) {
			units[nunits++] = u;
			bytes += pam_unit_footprint(u->clen, u->nchunks);
		}
	}
	/* Already units of this decode type, each exactly the stored slots of
	 * its run: nothing to gain. */
	if (map == 0 || pam_units_dense(pam, units, nunits, unit_slots, map, codec))
		return 0;
	*old_bytes = bytes;
	return map;
}

#ifdef ZC_DEBUG
/* Debug builds read a new unit back whole and abort on a difference, so a
 * broken unit shows where it was made. */
static void pam_unit_debug_verify(struct pam *pam, const struct pam_unit *u, const void *pages)
{
	unsigned char *st = malloc(PAM_UNIT_STAGING), *out = malloc(PAM_UNIT_DECODED);
	uint32_t size = pam_popcount(u->map) * PAM_PAGE_SIZE;
	int rc = -ENOMEM;

	if (st && out) {
		rc = pam_unit_read_stored(pam, u, st);
		if (rc == 0)
			rc = codec_decompress(u->type, st + 8u * (u->nchunks - 1u), u->clen, out, size);
	}
	if (rc != -ENOMEM && (rc != 0 || memcmp(out, pages, size) != 0)) {
		fprintf(stderr, "pam: unit %p does not read back (%d)\n", (const void *)u, rc);
		abort();
	}
	free(st);
	free(out);
}
#else
static inline void pam_unit_debug_verify(struct pam *pam, const struct pam_unit *u,
					 const void *pages)
{
	(void)pam;
	(void)u;
	(void)pages;
}
#endif

/* One page alone: compress it with `codec` into the thread's pool and keep
 * it when its footprint is below old_bytes.  Returns 1, 0 or -errno. */
static int pam_repack_one(struct pam *pam, struct pam_slot *s, const void *page, unsigned slot,
			  unsigned codec, uint64_t old_bytes, unsigned char *buf,
			  pam_pampd out[PAM_UNIT_PAGES])
{
	unsigned type = codec_decode_type(codec);
	xcf_handle h;
	int n;

	n = codec_compress(codec, page, PAM_PAGE_SIZE, buf, PAM_UNIT_STAGING);
	if (n == -ENOSPC || (n > 0 && (n > (int)pam->cap || pam_xcf_footprint((uint64_t)n) >= old_bytes)))
		return 0;
	if (n < 0)
		return n;
	h = xcf_malloc(s->xcf, (size_t)n);
	if (!h)
		return -ENOMEM;
	if ((uint64_t)h >> PAM_XCF_HANDLE_LIMIT_BITS) {
		xcf_free(s->xcf, h);
		pam_count(s, PAM_C_HANDLE_FALLBACKS, 1);
		return 0;
	}
	xcf_write(s->xcf, h, buf);
	out[slot] = ((uint64_t)h >> 3) << PAM_XCF_HANDLE_SHIFT |
		    (uint64_t)(s - pam->slot) << PAM_XCF_POOL_SHIFT |
		    (uint64_t)n << PAM_XCF_SIZE_SHIFT |
		    (uint64_t)type << PAM_XCF_CODEC_SHIFT | PAM_KIND_XCF;
	pam_count(s, PAM_C_XCF, 1);
	pam_count(s, type == CODEC_LZ4 ? PAM_C_LZ4 : PAM_C_ZSTD, 1);
	pam_count(s, PAM_C_XCF_BYTES, n);
	pam_count(s, PAM_C_PUTS, 1);
	pam_count(s, PAM_C_REPACKED_PAGES, 1);
	return 1;
}

/* Store a unit's payload (clen bytes of decode type `type` at `payload`,
 * with room for the chunk table in front of it: PAM_UNIT_TABLE_MAX bytes)
 * into chunks of the slot's xcf pool, for the pages of map, and set
 * out[slot] for each slot of `live` (a subset of map; the other slots are
 * dead from the start).  Returns 0, -ENOMEM (nothing left allocated), or
 * -EOVERFLOW when the descriptor lies too high for a pampd (counted as a
 * handle fallback; nothing left allocated). */
static int pam_unit_store(struct pam *pam, struct pam_slot *s, unsigned char *payload,
			  uint32_t clen, unsigned map, unsigned type, unsigned live,
			  pam_pampd out[PAM_UNIT_PAGES])
{
	unsigned nchunks = pam_unit_nchunks(clen), nlive = pam_popcount(live);
	uint32_t total = pam_unit_stored(clen, nchunks);
	xcf_handle h[PAM_UNIT_MAX_CHUNKS];
	unsigned char *stored;
	struct pam_unit *u;

	u = slab_alloc(pam->units);
	if (!u)
		return -ENOMEM;
	if ((uint64_t)(uintptr_t)u >> PAM_UNIT_ADDR_LIMIT_BITS) {
		slab_free(pam->units, u);
		pam_count(s, PAM_C_HANDLE_FALLBACKS, 1);
		return -EOVERFLOW;
	}
	for (unsigned i = 0; i < nchunks; i++) {
		h[i] = xcf_malloc(s->xcf, pam_unit_chunk_size(total, i));
		if (!h[i]) {
			while (i)
				xcf_free(s->xcf, h[--i]);
			slab_free(pam->units, u);
			return -ENOMEM;
		}
	}
	/* The table goes right in front of the payload. */
	stored = payload - 8u * (nchunks - 1u);
	for (unsigned i = 1; i < nchunks; i++) {
		uint64_t v = (uint64_t)h[i];

		memcpy(stored + 8 * (i - 1), &v, sizeof(v));
	}
	for (unsigned i = 0; i < nchunks; i++)
		xcf_write(s->xcf, h[i], stored + (size_t)i * XCF_MAX_SIZE);

	u->map = (uint16_t)map;
	u->type = (uint8_t)type;
	u->pool = (uint8_t)(s - pam->slot);
	u->clen = clen;
	u->nchunks = (uint16_t)nchunks;
	u->magic = PAM_UNIT_MAGIC;
	u->id = atomic_fetch_add_explicit(&pam->unit_ids, 1, memory_order_relaxed);
	u->head = h[0];
	atomic_init(&u->refs, nlive);
	for (unsigned slot = 0; slot < PAM_UNIT_PAGES; slot++)
		if (live & (1u << slot))
			out[slot] = pam_unit_encode(u, slot);
	pam_count(s, PAM_C_UNITS, 1);
	pam_count(s, PAM_C_UNIT_PAGES, nlive);
	pam_count(s, PAM_C_UNIT_DEAD, (int64_t)(pam_popcount(map) - nlive));
	pam_count(s, PAM_C_UNIT_CHUNKS, nchunks);
	pam_count(s, PAM_C_UNIT_BYTES, total);
	pam_count(s, PAM_C_UNIT_CLEN, clen);
	pam_count(s, PAM_C_UNIT_FOOT, (int64_t)pam_unit_footprint(clen, nchunks));
	pam_count(s, PAM_C_PUTS, nlive);
	return 0;
}

/* Several pages: one unit.  Returns 1, 0 or -errno. */
static int pam_repack_unit(struct pam *pam, struct pam_slot *s, const void *pages, unsigned map,
			   unsigned codec, uint64_t old_bytes, unsigned char *buf,
			   pam_pampd out[PAM_UNIT_PAGES])
{
	unsigned npages = pam_popcount(map), nchunks = 0;
	unsigned char *payload = buf + PAM_UNIT_TABLE_MAX;
	uint32_t clen;
	int n;

	n = codec_compress(codec, pages, (size_t)npages * PAM_PAGE_SIZE, payload,
			   PAM_UNIT_STAGING - PAM_UNIT_TABLE_MAX);
	if (n == -ENOSPC)
		return 0;
	if (n < 0)
		return n;
	clen = (uint32_t)n;
	if (clen >= npages * PAM_PAGE_SIZE)
		return 0;
	nchunks = pam_unit_nchunks(clen);
	if (pam_unit_footprint(clen, nchunks) >= old_bytes)
		return 0;
	n = pam_unit_store(pam, s, payload, clen, map, codec_decode_type(codec), map, out);
	if (n < 0)
		return n == -EOVERFLOW ? 0 : n;
	pam_unit_debug_verify(pam, pam_unit_of(out[__builtin_ctz(map)]), pages);
	pam_count(s, PAM_C_UNITS_MADE, 1);
	return 1;
}

/* Several pages in units of their runs (pam_run_pages < 16): all of them
 * or none.  When a run has nothing to gain, or the runs' units together
 * would not take less than old_bytes, one unit of the whole group is
 * tried instead (so a group never ends less dense than with whole-group
 * units).  Returns 1, 0 or -errno. */
static int pam_repack_runs(struct pam *pam, struct pam_slot *s, const unsigned char *pages,
			   unsigned map, unsigned codec, uint64_t old_bytes, unsigned char *buf,
			   pam_pampd out[PAM_UNIT_PAGES])
{
	unsigned run = pam_run_pages(pam, codec, map), done = 0, k = 0;
	uint64_t bytes = 0;
	int rc = 1;

	for (unsigned first = 0; first < PAM_UNIT_PAGES && rc == 1; first += run) {
		unsigned sub = map & pam_run_mask(run, first);
		const unsigned char *p = pages + (size_t)k * PAM_PAGE_SIZE;

		if (!sub)
			continue;
		if (pam_popcount(sub) == 1)
			rc = pam_repack_one(pam, s, p, (unsigned)__builtin_ctz(sub), codec, old_bytes,
					    buf, out);
		else
			rc = pam_repack_unit(pam, s, p, sub, codec, old_bytes, buf, out);
		if (rc == 1) {
			done |= sub;
			for (unsigned slot = first; slot < first + run; slot++)
				if (sub & (1u << slot))
					bytes += pam_size(pam, out[slot]);
		}
		k += pam_popcount(sub);
	}
	if (rc == 1 && bytes < old_bytes)
		return 1;
	for (unsigned slot = 0; slot < PAM_UNIT_PAGES; slot++)
		if (done & (1u << slot)) {
			pam_free(pam, out[slot]);
			out[slot] = 0;
		}
	if (rc < 0)
		return rc;
	return pam_repack_unit(pam, s, pages, map, codec, old_bytes, buf, out);
}

int pam_repack(struct pam *pam, const void *pages, unsigned map, unsigned codec,
	       uint64_t old_bytes, pam_pampd out[PAM_UNIT_PAGES])
{
	struct pam_slot *s = pam_my_slot(pam);
	struct pam_ucache *c;
	int rc;

	if (map == 0 || map >> PAM_UNIT_PAGES || codec_valid(codec) ||
	    codec_decode_type(codec) == CODEC_NONE)
		return -EINVAL;
	c = pam_ucache_get();
	if (!c) {
		pam_count(s, PAM_C_REPACK_FAILED, 1);
		return -ENOMEM;
	}
	if (pam_popcount(map) == 1)
		rc = pam_repack_one(pam, s, pages, (unsigned)__builtin_ctz(map), codec, old_bytes,
				    c->staging, out);
	else if (pam_run_pages(pam, codec, map) < PAM_UNIT_PAGES)
		rc = pam_repack_runs(pam, s, pages, map, codec, old_bytes, c->staging, out);
	else
		rc = pam_repack_unit(pam, s, pages, map, codec, old_bytes, c->staging, out);
	if (rc == 0)
		pam_count(s, PAM_C_REPACK_NO_GAIN, 1);
	else if (rc < 0)
		pam_count(s, PAM_C_REPACK_FAILED, 1);
	return rc;
}

/* ---- stored forms (pam.h pam_export, pam_import_unit) ---------------------- */

_Static_assert(PAM_EXPORT_BUF >= PAM_UNIT_STAGING &&
	       PAM_UNIT_IMPORT_ROOM >= PAM_UNIT_TABLE_MAX &&
	       PAM_EXPORT_BUF >= PAM_UNIT_IMPORT_ROOM + PAM_UNIT_MAX_CLEN,
	       "pam.h's export buffer holds a unit's stored bytes");

int _pam_unit_export(struct pam *pam, pam_pampd p, struct pam_blob *out, void *buf,
		     int payload)
{
	const struct pam_unit *u = pam_unit_of(p);

	out->kind = PAM_KIND_UNIT;
	out->codec_type = u->type;
	out->slot = pam_unit_slot(p);
	out->map = u->map;
	out->unit = u->id;
	if (!payload)
		return 0;
	if (pam_unit_read_stored(pam, u, buf) < 0)
		return -EIO;
	/* A unit in the backing file (nchunks 0) reads as its payload alone. */
	out->data = (const unsigned char *)buf + (u->nchunks ? 8u * (u->nchunks - 1u) : 0u);
	out->len = u->clen;
	return 0;
}

int pam_import_unit(struct pam *pam, unsigned type, unsigned map, unsigned live, void *buf,
		    uint32_t clen, pam_pampd out[PAM_UNIT_PAGES])
{
	int n;

	if ((type != CODEC_LZ4 && type != CODEC_ZSTD) || map == 0 || map > 0xffffu ||
	    live == 0 || (live & ~map) || clen == 0 || clen > PAM_UNIT_MAX_CLEN ||
	    clen >= pam_popcount(map) * PAM_PAGE_SIZE)
		return -EINVAL;
	n = pam_unit_store(pam, pam_my_slot(pam), (unsigned char *)buf + PAM_UNIT_IMPORT_ROOM,
			   clen, map, type, live, out);
	return n == -EOVERFLOW ? -ENOMEM : n;
}
