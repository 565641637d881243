/* pam.h - the PAM backend: a 4 KiB page to a pampd (a 64-bit handle) and back.
 *
 * PAM ("page-addressable memory", after the kernel's zcache) is what tmem
 * calls to store a page: pam_put compresses it and returns a pampd; tmem
 * keeps the pampd in its radix tree and later hands it back to read or free
 * the page.  PAM knows nothing of tmem (it includes nothing above
 * compress/): the adapter that makes it tmem's backend, zc_stack_pamops,
 * lives a layer up in tmem/stack.h, with the builder of the whole store.
 * Three ways to keep a page alone, cheapest first, and a fourth for pages
 * kept together:
 *
 *   same-filled  every 8-byte word of the page is equal (zero pages
 *                included): the word is kept inside the pampd itself; no
 *                pool memory, nothing to free.
 *   raw          the page does not compress below the raw threshold
 *                (default 3/4 page): it is copied whole into one 4 KiB page
 *                from alloc/buddy; the pampd is that page's address.
 *   compressed   otherwise the compressed bytes go into an xcf pool
 *                (alloc/xcf); the pampd is the xcf handle plus the pool
 *                index, the codec type and the exact compressed size.
 *   unit page    a page of a unit (below): the pampd names the unit and
 *                the page's slot in it.
 *
 * Units (pam_unit.c)
 * ------------------
 * A unit is up to PAM_UNIT_PAGES (16) pages of one group compressed as one
 * stream, so the codec finds the redundancy between them: tree.tar costs
 * 38.7 MB with lz4 in 64 KiB runs against 44.1 MB page by page, 33.3 MB
 * with lz4hc:9, 26.7 MB with zstd:9.  A group is what the caller says it
 * is; tmem makes it the 16 pages of one leaf of an object's radix tree
 * (indices 16g .. 16g+15), so a unit never mixes objects.  pam_repack
 * makes one (tmem_densify calls it through pamops.repack); nothing else
 * does, so an ordinary put never produces a unit page.
 *
 *   descriptor   32 bytes from the slab cache "pam_unit" (struct pam_unit,
 *                pam_int.h): a reference count, the page map, the decode
 *                type, the xcf pool, the compressed length, the number of
 *                chunks, an id and the handle of chunk 0.
 *   page map     16 bits: bit s set = slot s of the group is in the unit.
 *                The unit decodes to popcount(map) pages, slot order: slot
 *                s is at page number popcount(map & ((1 << s) - 1)).
 *   chunks       the compressed bytes in 1 .. 17 xcf objects ("one
 *                allocation split across xcf blocks"): the stored form is
 *                [8-byte handles of chunks 1..n-1][payload], cut into
 *                pieces of XCF_MAX_SIZE bytes, the last one shorter.  A full
 *                piece fills a whole xcf page (or two fragments), so a unit
 *                wastes at most its last block's rounding.  Compaction
 *                moves chunks like any xcf object; a reader copies them
 *                with xcf_read, which never sees one half-moved.
 * Serialized, a unit is (decode type, compressed length, page map, payload)
 * and each of its pages (unit id, slot): what a backing file or a restart
 * would write.  To enumerate an object's stored blobs, walk its pampds in
 * index order (tmem), decode each with pam_pampd_info: a same-filled page
 * is its word, a raw or compressed page its own blob, and unit pages name
 * their unit by info.unit, which is the same for every page of a group
 * that shares one; read the unit's payload once.
 *
 * Who holds a unit.  Its pages: a unit is created with one reference per
 * page (popcount(map)), and each pam_free of one of its pampds drops one.
 * Readers: pam_get_locked takes a reference for a reader that must decode
 * outside the caller's lock, and pam_decode drops it.  The last reference
 * frees the chunks and the descriptor, so a unit is never freed while a
 * reader decodes it, and the caller's lock (tmem's bucket lock) is what
 * keeps the page's reference alive while get_locked takes the reader's.
 * A put or flush of one page of a unit frees only that page's pampd: the
 * unit stays whole for its other pages (its "dead" slot still holds
 * memory, counted in unit_dead_pages) and is retired when its last page
 * goes.  Nothing is recompressed on the write path, so a write never needs
 * more memory than its own page (ENOSPC stays exact); repacking the group
 * again (densify, when the file is idle) reclaims dead slots.
 *
 * Reading.  Each thread keeps the last PAM_UNIT_CACHE units it decoded
 * (decoded pages, keyed by descriptor address and id): pam_get_locked
 * serves a page of a cached unit at once (a copy, under the caller's
 * lock, no reference taken), so a sequential read decompresses each unit
 * once.  On a miss the reader copies the chunks out (xcf_read, one pool
 * lock at a time) and decodes outside every lock.  lz4 units are decoded
 * only up to the page asked for when the thread has not read this unit
 * before - unless that page is the unit's first and the last unit page
 * the thread served was the last of its unit (or it served none yet): a
 * sequential reader, which gets the whole unit at once - so a random
 * 4 KiB read costs half a unit on average; the next miss on the same unit
 * decodes it whole.  A prefix decode copies out only the leading chunks
 * it is likely to need (the payload's share of the prefix, plus one
 * page's share) and lets lz4 stop where they end; when they fall short
 * (counted in unit_short_copies) it copies the rest and decodes again.
 * Unit ids are unique in the process: each backend starts its ids at the
 * monotonic clock in nanoseconds, so a backend created after another
 * starts beyond every id the first could have given (it would have to
 * make more than one unit per nanosecond).  A thread's buffers (two
 * decoded units and one staging area, about 200 KiB) are allocated at its
 * first unit read and freed when it exits, or by pam_thread_release; they
 * are a cache, outside pool_bytes.
 *
 * pampd encoding (64 bits; 0 is never a pampd, tmem uses it for "no page"):
 *
 *   bits 1..0  kind: 1 same-filled or unit page, 2 raw, 3 compressed (0
 *              is corrupt)
 *
 *   same-filled  bits 3..2  fill mode:
 *                  0  32-bit periodic word: fill = v | v << 32, v = bits
 *                     63..32 (bits 31..4 must be 0).  This covers every
 *                     repeated-byte fill, zero included (pampd 0x1);
 *                  1  small word: fill = bits 63..4 sign-extended from 60
 *                     bits (integers and pointers: |fill| < 2^59);
 *                  2  a unit page, not a fill: bits 7..4 the slot,
 *                     bits 17..8 a 10-bit check of the descriptor
 *                     address, bits 63..18 the address >> 3 (descriptors
 *                     below 2^49; one above is freed and the group left
 *                     as it was);
 *                  3  a page in the backing file, not a fill:
 *                     bits 7..4 a 4-bit check of the location,
 *                     bits 63..8 the location (alloc/backing.h: 56
 *                     bits); see "The backing file" below.
 *                A page filled with any other word (one whose halves differ
 *                and whose top 5 bits are not all equal) does not fit: it
 *                is compressed like any page instead, costing one 64-byte
 *                xcf block (lz4 makes ~20 bytes of it) and a compression;
 *                pam_stats counts them as fill_fallbacks.  pages.img has
 *                2579 same-filled pages: 2566 repeated-byte fills and 13
 *                filled with 0x00000000000427d0, all of which fit.
 *   raw          bits 11..2  check: a 10-bit hash of the page address, so
 *                           a corrupted pampd is caught (-EIO) before the
 *                           address is used (1 in 1024 slips through);
 *                bits 63..12 the buddy page address (4 KiB aligned).
 *   compressed   bits 3..2   codec type: CODEC_LZ4 or CODEC_ZSTD (none is
 *                           never compressed; it and 3 are corrupt);
 *                bits 15..4  compressed size in bytes (1 .. the raw
 *                           threshold - 1, at most XCF_MAX_SIZE);
 *                bits 19..16 xcf pool index (< the store's pool count);
 *                bits 63..20 xcf handle >> 3 (handles are multiples of 8
 *                           below 2^47, as every user-space address on
 *                           x86-64 and arm64 with 48-bit VAs; a handle that
 *                           does not fit - possible only with 57-bit VAs -
 *                           is freed and the page stored raw instead).
 *   So PAM keeps no per-page metadata of its own: the pampd is all of it,
 *   and pam_size, pam_free and the accounting never take a lock to learn a
 *   page's kind, codec or size (a unit page's share of its unit is read
 *   from the descriptor, which the page keeps alive).
 *
 * A pampd records its codec type, so the codec of later puts may change at
 * any time (tmem_pool_set_codec) while pages stored before stay readable.
 *
 * Threads and pools.  A store has several xcf pools (default: one per online
 * CPU, at most PAM_MAX_POOLS), each with its own lock.  A thread picks one at
 * its first put, round-robin, and keeps it, so concurrent writers do not
 * queue on one lock; reads and frees go to whichever pool the pampd names.
 * Each pool slot also has a scratch buffer for compression: one page from an
 * SGV pool in fixed-size mode ("pam-scratch-N", shared by name, so several
 * stores on one SGV context share them); a slot keeps one spare buffer
 * (taken and returned with an atomic exchange) so the hot path usually does
 * not touch the SGV pool's lock.  Compression and decompression run outside
 * every lock.  Counters are per slot (relaxed atomics on the slot's own cache
 * line) and summed by pam_stats.
 *
 * Lock order: PAM has no lock of its own.  It takes, one at a time and
 * never nested: an xcf pool lock (xcf_malloc, xcf_write, xcf_read,
 * xcf_free), buddy->lock (raw pages), an SGV pool lock (scratch buffers),
 * the "pam_unit" slab cache's lock (unit descriptors, rarely: slab_alloc
 * and slab_free normally take none).  pam_get_locked is called by tmem
 * under a bucket lock, so the order seen from outside is  tmem bucket lock
 * -> xcf pool lock; for a unit page it takes no lock at all (a cache hit
 * copies, a miss takes a reference with one atomic add).
 * pam_repack_plan also runs under the bucket lock and takes none.
 *
 * Errors: 0 or a positive value on success, a negative errno on failure;
 * nothing changes on failure.  Corrupt compressed data gives -EIO, never a
 * crash or an access outside the object.  A corrupt pampd gives -EIO as far
 * as its own checks reach: kind, fill mode, codec type, size, pool index
 * and the raw page's check bits are verified before anything is touched; an
 * xcf handle that passes them is trusted (xcf has no way to validate one).
 * A unit pampd's check bits are verified, then the descriptor's magic and
 * that the slot is in its map.
 */
#ifndef ZC_COMPRESS_PAM_H
#define ZC_COMPRESS_PAM_H

#include <stddef.h>
#include <stdint.h>

#include "compress/codec.h"

struct buddy;
struct sgv_ctx;
struct sgv_pool;
struct slab_cache;
struct xcf_pool;
struct pam;

typedef uint64_t pam_pampd;	/* the same 64 bits as tmem_pampd (tmem/stack.c) */

#define PAM_PAGE_SIZE 4096u
#define PAM_MAX_POOLS 16u			/* the pool index has 4 bits */
#define PAM_DEFAULT_RAW_THRESHOLD 3072u		/* 3/4 page */
#define PAM_DEFAULT_XCF_RESERVE 8u		/* wholly free pages kept per xcf pool */
#define PAM_UNIT_PAGES 16u			/* pages in a group, at most in a unit */
#define PAM_UNIT_DESC_SIZE 32u			/* bytes of a unit descriptor */
#define PAM_UNIT_CACHE 2u			/* decoded units each thread keeps */

/* pampd kinds (bits 1..0). */
enum pam_kind {
	PAM_KIND_NONE = 0,		/* not a pampd (0, or corrupt) */
	PAM_KIND_FILL = 1,		/* same-filled */
	PAM_KIND_RAW = 2,		/* whole buddy page */
	PAM_KIND_XCF = 3,		/* compressed, in an xcf pool */
	PAM_KIND_UNIT = 4,		/* a page of a unit (encoded as kind 1, mode 2) */
	PAM_KIND_BACKED = 5,		/* in the backing file (kind 1, mode 3) */
};

struct pam_config {
	/* A page whose compressed size would be >= this many bytes is stored
	 * raw.  0: PAM_DEFAULT_RAW_THRESHOLD; else 1 .. 4096 (1 stores every
	 * page that is not same-filled raw; 4096 stores raw only what does
	 * not fit an xcf object). */
	unsigned raw_threshold;
	/* xcf pools (and scratch pools): 0 = online CPUs; 1 .. PAM_MAX_POOLS
	 * (more is capped). */
	unsigned pools;
	/* Wholly free pages each xcf pool keeps; 0: PAM_DEFAULT_XCF_RESERVE. */
	unsigned xcf_reserve;
	/* Pages per unit when repacking with an LZ4-decoded codec (lz4,
	 * lz4hc): 0 or PAM_UNIT_PAGES (16), one unit per group; 8, 4 or 2
	 * split a group into units of aligned runs of that many slots (slots
	 * 0-7 and 8-15 for 8).  A random read of one page decodes its unit up
	 * to that page, so smaller units cut that work for a few percent more
	 * bytes (tree.tar with lz4hc:9: 33.1 MB in 64 KiB units, 34.2 MB in
	 * 32 KiB, 35.7 MB in 16 KiB; a random 4 KiB read, copy and decode,
	 * 20.6 us, 8.7 us, 6.4 us).  lz4_unit_pages is for full groups (all
	 * 16 slots stored: the inside of a file of 64 KiB or more, where
	 * random reads happen), lz4_part_unit_pages for every other group (a
	 * small file, a file's last group, a group with holes: read whole as
	 * a rule; 0: as lz4_unit_pages).  The daemon uses 4 and 8
	 * (tmem/stack.h says why).  zstd units always take the whole group
	 * (zstd decodes a unit whole; density is its point). */
	unsigned lz4_unit_pages;
	unsigned lz4_part_unit_pages;
};

/* Create a store backend.  `cfg` may be NULL (every default).  Pages (raw
 * pages and xcf pages) come from `pages`; scratch buffers from SGV pools
 * "pam-scratch-<i>" of `sgv` (created shared, fixed-size mode, one page);
 * xcf descriptors from `descs`, a slab cache of XCF_DESC_SIZE-byte objects
 * shared by every pool, or, when NULL, one cache that PAM creates on
 * `pages`.  All of them must outlive the backend.
 * Returns NULL with errno EINVAL (NULL pages or sgv, a bad config value) or
 * ENOMEM (or what xcf_create / sgv_pool_create set); nothing is left
 * allocated then. */
struct pam *pam_create(const struct pam_config *cfg, struct buddy *pages,
		       struct sgv_ctx *sgv, struct slab_cache *descs);

/* Destroy the xcf pools (with every compressed page still in them), give
 * the spare scratch buffers back, drop the scratch pools and free the
 * backend.  Raw pages are known only to their pampds, so raw pages still
 * stored stay allocated in `pages`: free every pampd first
 * (tmem_store_destroy does, through pam_free) or destroy `pages` too.
 * pam_destroy(NULL) does nothing.  No other call may run concurrently or
 * afterwards.  The calling thread's codec contexts are kept (see
 * codec_thread_release). */
void pam_destroy(struct pam *pam);

/* Store one 4 KiB page with codec id `codec` (codec.h; 0 = lz4).  Tries, in
 * order: same-filled (no allocation), compression below the raw threshold
 * into the calling thread's xcf pool, a raw buddy page.  Returns 0 and sets
 * *out (never 0); -EINVAL for an invalid codec id (nothing stored);
 * -ENOMEM when no pool memory, descriptor, scratch buffer or codec context
 * can be had.  Takes no lock while compressing; thread safe.
 * (pamops.create) */
int pam_put(struct pam *pam, const void *page, unsigned codec, pam_pampd *out);

/* The first half of a read, meant to run under the caller's lock that keeps
 * `p` alive: a same-filled or raw page, or a page of a unit this thread
 * has decoded lately, is written straight into `page` (4 KiB) and 1 is
 * returned; a page of another unit takes a reference to the unit for
 * pam_decode (see it) and returns 0; a compressed page's bytes are copied into
 * `scratch` (at least XCF_MAX_SIZE bytes; tmem passes TMEM_SCRATCH_SIZE),
 * *len is set and 0 is returned, and the caller finishes with pam_decode
 * after dropping its lock.  Returns -EIO for a corrupt pampd (bad kind,
 * mode, check bits, codec type, size or pool index, or an xcf object whose
 * size differs from the recorded one).  Takes at most one xcf pool lock.
 * (pamops.get_locked) */
int pam_get_locked(struct pam *pam, pam_pampd p, void *page, void *scratch, size_t *len);

/* Decompress what pam_get_locked copied: `len` bytes of `scratch` with the
 * codec type recorded in `p` (p is not dereferenced) into `page` (4 KiB).
 * Returns 0, or -EIO when `p` is not a compressed pampd, `len` is not its
 * size or the data is corrupt (nothing outside scratch[0..len) is read,
 * nothing outside page[0..4096) written); -ENOMEM when the thread's codec
 * context cannot be had.  No lock.  (pamops.decode)
 * For a unit page, get_locked left a reference to the unit in `scratch`
 * (len = sizeof(void *)): decode reads the unit's chunks (xcf pool locks,
 * one at a time), decodes it into the thread's cache, copies the page out
 * and drops that reference - whatever it returns, so every get_locked that
 * returned 0 must be followed by exactly one pam_decode of the same p.
 * -ENOMEM also when the thread's unit buffers cannot be allocated. */
int pam_decode(struct pam *pam, pam_pampd p, const void *scratch, size_t len, void *page);

/* Read page `p` into `page` in one call (pam_get_locked + pam_decode with a
 * scratch buffer of the calling thread's slot).  For callers that keep `p`
 * alive themselves (tests, tools).  Returns 0, -EIO, or -ENOMEM. */
int pam_get(struct pam *pam, pam_pampd p, void *page);

/* Release `p`: free its xcf object or raw page, or drop its unit's
 * reference (the last one frees the unit); a same-filled pampd holds
 * nothing.  p == 0 does nothing; a pampd that fails the checks of
 * pam_get_locked is counted (bad_frees) and otherwise ignored, since
 * freeing through a corrupt address would corrupt memory.  Thread safe.
 * (pamops.free) */
void pam_free(struct pam *pam, pam_pampd p);

/* Bytes of store memory `p` holds: 0 for same-filled, 4096 for raw, and for
 * a compressed page its xcf footprint, ceil((size + XCF_HDR_SIZE) / 64) * 64
 * + XCF_DESC_SIZE (a split object has one header more; not counted).
 * A unit page holds its share of the unit's footprint (the chunks' xcf
 * footprints plus the descriptor) split evenly over the pages of its map,
 * the remainder to the first ones, so the shares of a unit's pages add up
 * to the unit exactly; a share does not change while the page lives (a
 * dead slot's share leaves this count when its page goes, although the
 * memory stays until the unit is retired: pool_bytes has it).
 * Computed from the pampd alone (and for a unit page from its descriptor,
 * which `p` keeps alive): no lock.  0 for 0 or a corrupt pampd.
 * (pamops.size) */
size_t pam_size(struct pam *pam, pam_pampd p);

/* What a pampd says, decoded (for tests and tools). */
struct pam_pampd_info {
	enum pam_kind kind;	/* PAM_KIND_NONE for 0 or a corrupt pampd */
	unsigned codec_type;	/* compressed, unit: decode type (enum codec_type) */
	unsigned size;		/* compressed, unit: compressed bytes; raw: 4096;
				   same-filled: 0 */
	unsigned pool;		/* compressed, unit: xcf pool index */
	uint64_t fill;		/* same-filled: the 8-byte word */
	unsigned slot;		/* unit: the page's slot in its group */
	unsigned map;		/* unit: its page map */
	uint64_t unit;		/* unit: its id, the same for all its pages */
	uint64_t loc;		/* backed: the backing location (alloc/backing.h) */
};

/* Decode `p` into *out without touching memory - except a unit page's
 * descriptor, which `p` must keep alive (the caller's lock, as for
 * pam_size).  Returns 0, or -EIO (and kind PAM_KIND_NONE) for 0 or a
 * corrupt pampd. */
int pam_pampd_info(struct pam *pam, pam_pampd p, struct pam_pampd_info *out);

/* The kind of `p` from its bits alone, touching no memory at all; 0 or a
 * corrupt pampd is PAM_KIND_NONE.  A raw page's address and a unit page's
 * descriptor are known only by their check bits here, so PAM_KIND_RAW or
 * PAM_KIND_UNIT says "well formed", not "stored": only a pampd the caller
 * stored may be given to the functions that read through it (pam_get,
 * pam_size, pam_free, and pam_pampd_info for a unit page). */
enum pam_kind pam_pampd_kind(const struct pam *pam, pam_pampd p);

/* ---- the backing file (pam_backed.c) --------------------------------------
 *
 * A page may be written back: its stored form (a compressed page's bytes
 * with a one-byte header naming the codec type, or a raw page's 4096
 * bytes with its header) goes, still compressed, into the backing file
 * (alloc/backing.h), and the page gets a "backed" pampd that holds the
 * record's location and nothing in RAM (pam_size 0).  The caller swaps it
 * in for the old pampd and frees the old one.  Same-filled pages cost
 * nothing and are never written back.  A unit goes to the file whole, as
 * one record (its compressed payload): pam_wb_stage takes a reference to
 * it for each of its pages staged (a small form naming it), pam_wb_write
 * reads its payload once, with no lock held, writes it, and gives each
 * page a unit pampd of a new descriptor whose payload is in the file
 * (nchunks 0, head the location; struct pam_unit), with one reference per
 * page, and drops the staging references.  Reading such a page goes
 * through the thread's unit cache as for any unit, the payload read from
 * the file instead of xcf (pinned as it is read: compaction may move the
 * record, see below); densify leaves them alone (pam_repack_plan).  The
 * record is freed with the descriptor's last reference.  A page of such a
 * unit that is read is promoted alone (pam_promote): stored again as a
 * single page, its unit page freed; the unit stays in the file for its
 * other pages, and the next densify of the group packs the promoted pages
 * together again.
 *
 * Reading a backed page is pam_get_locked + pam_decode as for any page:
 * get_locked pins the record's segment (backing_pin: b->lock, briefly,
 * under the caller's lock, so a concurrent free cannot let the space be
 * reused before the read), and pam_decode reads the record with no lock
 * held (one pread, checked: length, position, tag, CRC-32C), unpins,
 * and decompresses.  Any failure of the read is -EIO: never zeros, never
 * another page's bytes.  pam_promote then makes an in-RAM pampd of the
 * page that was read, while pam_backing_promote's allowance lasts (the
 * owner sets it from how far memory is below its mark), for the caller
 * to swap in.
 * pam_free of a backed pampd frees its record (backing_free).
 *
 * Every record carries the same tag, a number drawn at pam_create from the
 * monotonic clock: the location check catches a misplaced record, the
 * CRC a damaged one.
 *
 * Owner keys and compaction.  Each record's payload ends with the caller's
 * key for it, PAM_WB_KEY_SIZE bytes given to pam_wb_write (tmem writes the
 * page's pool, object and index; a unit's record the key of one of its
 * pages), opaque to PAM.  Compaction (backing_compact) reads a sparse
 * segment's records anyway, so the key costs no RAM: the relocate callback
 * finds it with pam_wb_key, the owner looks the page up by it, and under
 * its own lock asks pam_relocate whether that page's pampd still stands
 * for the record (a concurrent write, flush or promotion wins: the answer
 * is then no, and the copy is dropped).  The key costs PAM_WB_KEY_SIZE
 * bytes of disk per record (1.4% of an lz4 page's ~2.3 KiB record, 0.05%
 * of a unit's), where a table in RAM would cost as much per record in
 * memory, which is what the tier saves. */

/* Bytes of the owner key at the end of every record. */
#define PAM_WB_KEY_SIZE 32u

/* Bytes of the largest stored form pam_wb_stage makes (a raw page). */
#define PAM_WB_FORM_MAX (1u + PAM_PAGE_SIZE)

/* Give the backend its backing file (NULL: none); call once, before any
 * page is written back, with no other call running.  `b` must outlive the
 * backend's pages (every backed pampd must be freed before backing_close).
 * Promotion starts with no allowance (pam_backing_promote).  Returns 0, or
 * -EBUSY when a backing file is already set. */
struct backing;
int pam_set_backing(struct pam *pam, struct backing *b);

/* The backing file given by pam_set_backing, or NULL. */
struct backing *pam_backing(struct pam *pam);

/* Copy the stored form of `p` into buf (cap bytes), under the caller's
 * lock that keeps `p` alive (tmem's bucket lock); for a unit page, a
 * reference to its unit (taken here, dropped by pam_wb_write: every form
 * staged must be handed to pam_wb_write).  Returns its length (> 0), 0
 * when `p` is not worth writing back (same-filled, already in the file, no
 * backing file), -ENOSPC when cap is too small (nothing copied), -EIO for
 * a corrupt pampd.  Takes at most one xcf pool lock. */
int pam_wb_stage(struct pam *pam, pam_pampd p, void *buf, size_t cap);

/* Write n stored forms (forms[i], lens[i] bytes, as pam_wb_stage made
 * them; a unit's payload once for all its pages among them) to the
 * backing file in one backing_write, each record ending with its owner
 * key (keys + i * PAM_WB_KEY_SIZE for page i; a unit's record gets the key
 * of its first page among them), and set out[i] to the pampd that
 * stands for each page now (a backed pampd, or a unit pampd of a unit in
 * the file).  Drops the references staging took, whatever happens.
 * Returns 0; or -ENOSPC (the file, its limit or the budget is full), -EIO
 * (a pwrite failed, a unit's bytes could not be read), -ENOMEM, -EINVAL
 * (no backing file, a malformed form): nothing is stored then and the
 * caller keeps its pages in RAM.  No lock of the caller's may be held (it
 * does the I/O).  Thread safe. */
int pam_wb_write(struct pam *pam, const void *const forms[], const uint32_t lens[],
		 const void *keys, unsigned n, pam_pampd out[]);

/* The owner key at the end of a record's payload (`data`, len bytes, as
 * backing_compact hands it to its relocate callback), or NULL when len is
 * too short to hold one.  No lock; touches only data. */
const void *pam_wb_key(const void *data, uint32_t len);

/* The relocation of a record by compaction, meant to run under the
 * caller's lock that keeps `p` alive (tmem's bucket lock): when `p` stands
 * for the record at old_loc - a backed page whose location it is, or a
 * page of a unit in the file whose payload is there - make it stand for
 * the copy at new_loc and return 1 with *out set to the pampd the caller
 * must now keep in p's place (a new backed pampd; for a unit page p
 * itself: the unit's descriptor now names new_loc, for all its pages).
 * Returns 0 (and leaves everything alone) for any other pampd.  The old
 * record is then the compactor's to free; readers that pinned it still
 * read it, and unit readers pin the location they read (and read again
 * where the descriptor moved), so nobody reads a freed record's reused
 * space.  Cheap; takes no lock.  (pamops.relocate) */
int pam_relocate(struct pam *pam, pam_pampd p, uint64_t old_loc, uint64_t new_loc,
		 pam_pampd *out);

/* Bring a backed page back into RAM: when `p` is backed (a backed page,
 * or a page of a unit in the file that this thread has just read: the
 * last pam_get_locked or pam_decode of the thread served exactly p from
 * such a unit, so nothing of p is dereferenced here) and the allowance
 * (pam_backing_promote) has a page left, take a page (4096 bytes, whatever
 * the page will cost) from it, store `page` (its content, just read) again
 * with `codec`, as pam_put does, and set *out.  Returns 1 (a new pampd: the
 * caller swaps it in for p and frees p, or frees it), 0 (p is not backed,
 * or no allowance), or pam_put's error.  No lock. */
int pam_promote(struct pam *pam, pam_pampd p, const void *page, unsigned codec,
		pam_pampd *out);

/* Allow promotions of `bytes` from now (0: none), replacing what was left
 * of the last allowance.  Thread safe (an atomic). */
void pam_backing_promote(struct pam *pam, uint64_t bytes);

/* ---- repacking groups into units ------------------------------------------ */

/* The first half of repacking one group, meant to run under the caller's
 * lock that keeps the pampds alive (tmem calls it as pamops.repack_plan
 * under the bucket lock): `old` holds the group's PAM_UNIT_PAGES pampds in
 * slot order, 0 for an empty slot.  Chooses the pages worth repacking with
 * `codec`: every compressed page and every unit page (same-filled and raw
 * pages keep their forms).  Returns their map (bit s = slot s), 0 when there
 * is nothing to gain: no such page, or they are exactly the pages of the
 * units repacking would make (one per run of the group,
 * pam_config.lz4_unit_pages) with no dead slot, already of codec's decode
 * type.  Sets *old_bytes to the memory repacking them would free: the chosen
 * pages' footprints, with each unit they use counted whole (dead slots
 * included, which is what retiring it frees).  Takes no lock; never fails (a
 * corrupt pampd is simply not chosen). */
unsigned pam_repack_plan(struct pam *pam, const pam_pampd old[PAM_UNIT_PAGES], unsigned codec,
			 uint64_t *old_bytes);

/* The second half, with no lock held: `pages` holds the pages of `map`,
 * 4 KiB each, packed in slot order (popcount(map) pages).  Compresses them
 * with `codec` (any codec id; lz4hc and zstd at high levels are what
 * densify uses) - together, one unit per run of the group (pam_config), for
 * two or more; alone for a single page - and keeps the result only when it
 * takes less memory than `old_bytes`.  Returns 1 with out[s] set for every
 * slot s of map (unit pages, or the single page's new compressed pampd, all
 * holding their memory: give each to pam_free if they are not used); 0 when
 * the result would not be smaller (nothing allocated, out untouched);
 * -EINVAL for a bad codec, an empty map or `none`; -ENOMEM when the
 * descriptor, an xcf object or a buffer cannot be had (nothing left
 * allocated).  The unit goes into the calling thread's xcf pool.  Thread
 * safe. */
int pam_repack(struct pam *pam, const void *pages, unsigned map, unsigned codec,
	       uint64_t old_bytes, pam_pampd out[PAM_UNIT_PAGES]);

/* Free the calling thread's unit buffers (the decoded-unit cache and its
 * staging area) now; the next unit read allocates them again.  Threads need
 * not call it: they are freed when the thread exits. */
void pam_thread_release(void);

/* The slab cache of unit descriptors, for /.zcache/alloc/slabinfo. */
struct slab_cache *pam_unit_cache(struct pam *pam);

/* Counters.  "now" figures are gauges, the others only grow.  Summed over
 * the slots without stopping other threads: exact when the store is quiet,
 * possibly a moment out of date otherwise. */
#define PAM_STATS_FIELDS(X)						\
	X(pages, "pages stored now (all kinds)")			\
	X(same_filled_pages, "same-filled pages now (no pool memory)")	\
	X(raw_pages, "pages stored raw in whole pages now")		\
	X(compressed_pages, "pages compressed alone into xcf now")	\
	X(lz4_pages, "of the compressed pages: lz4")			\
	X(zstd_pages, "of the compressed pages: zstd")			\
	X(unit_pages, "pages stored in units now")			\
	X(units, "units now")						\
	X(unit_dead_pages, "slots of live units whose page left")	\
	X(unit_bytes, "the units' compressed payload bytes")		\
	X(unit_mem_bytes, "the units' footprints: chunks in xcf + descriptors") \
	X(orig_bytes, "original bytes of the stored pages: pages * 4096") \
	X(compr_bytes, "compressed bytes: xcf payloads + unit payloads"	\
		       " + 4096 per raw page + backed records")	\
	X(pool_bytes, "pool memory: xcf pages (reserve included) + raw pages") \
	X(meta_bytes, "metadata: xcf descriptor slabs, page tables and" \
		      " unit descriptor slabs")				\
	X(xcf_used_bytes, "bytes of live xcf objects (xcf's own count)") \
	X(scratch_bytes, "scratch pages held by the slots' spare buffers") \
	X(puts, "pampds made: pam_put calls + pages pam_repack stored") \
	X(failed_puts, "pam_put calls that failed, ever")		\
	X(frees, "pampds freed, ever (unit pages included)")	\
	X(fill_fallbacks, "same-filled pages whose word did not fit a pampd") \
	X(handle_fallbacks, "xcf handles too high for a pampd: stored raw") \
	X(corrupt, "gets and decodes that found a corrupt pampd or data") \
	X(bad_frees, "pam_free calls given a corrupt pampd")		\
	X(units_made, "units pam_repack made, ever")			\
	X(repacked_pages, "single pages pam_repack recompressed, ever")	\
	X(repack_no_gain, "pam_repack calls that would not save memory") \
	X(repack_failed, "pam_repack calls that failed (memory)")	\
	X(unit_decodes, "units decoded for a read, ever")		\
	X(unit_partial_decodes, "of those, lz4 decodes of a prefix only") \
	X(unit_cache_hits, "unit pages served from a thread's cache, ever") \
	X(unit_short_copies, "prefix decodes whose first chunks fell short (all copied)") \
	X(raw_puts, "pages stored raw, ever (zram's huge_pages_since)") \
	X(backed_pages, "pages whose stored form is in the backing file now") \
	X(backed_bytes, "bytes of their records in the file (headers, padding)") \
	X(backed_units, "units written back whole (their pages among backed_pages)") \
	X(writeback_pages, "pages written back to the backing file, ever") \
	X(writeback_failed, "pages whose writeback failed (left in RAM), ever") \
	X(backed_reads, "backed pages read from the file, ever")	\
	X(backed_read_failed, "of those, reads that failed (EIO), ever") \
	X(promoted, "backed pages brought back into RAM by a read, ever") \
	X(pools, "xcf pools")

#define PAM_STATS_DECLARE(name, comment) uint64_t name;
struct pam_stats {
	PAM_STATS_FIELDS(PAM_STATS_DECLARE)
};
#undef PAM_STATS_DECLARE

/* Fill *out.  Takes each xcf pool's lock briefly (xcf_stats), one at a
 * time. */
void pam_stats(struct pam *pam, struct pam_stats *out);

/* The number of xcf pools, and pool i (0 <= i < count) for per-pool
 * statistics (/.zcache/alloc/xcf); NULL for a bad index. */
unsigned pam_pool_count(struct pam *pam);
struct xcf_pool *pam_xcf_pool(struct pam *pam, unsigned i);

/* Slot i's scratch pool (0 <= i < pam_pool_count), for its statistics
 * (/.zcache/alloc/sgv); NULL for a bad index.  The pool is shared by name
 * ("pam-scratch-<i>") with other backends on the same SGV context and
 * stays alive as long as this backend. */
struct sgv_pool *pam_scratch_pool(struct pam *pam, unsigned i);

/* Compact every xcf pool (xcf_compact with `budget` bytes per pool, 0 = no
 * bound).  Returns the number of pages the pools gave back to buddy.
 * Thread safe (runs beside puts and gets). */
uint64_t pam_compact(struct pam *pam, size_t budget);

/* The shrinker: return every xcf pool's reserve pages to buddy, and hand
 * the slots' spare scratch buffers back to their SGV pool (where the SGV
 * cache's own purge and shrinker free them).  Returns the bytes the xcf
 * pools gave back.  Thread safe. */
size_t pam_shrink(struct pam *pam);

/* Verify the backend: every xcf pool (xcf_check) and scratch pool
 * (sgv_check) and the unit descriptor cache (slab_check); the counters
 * against the pools (compressed pages + unit chunks = live xcf objects,
 * their payload bytes = xcf used bytes, units = live descriptors,
 * per-codec counts add up, no gauge negative; with a backing file, backed
 * pages and their bytes = the file's records and their bytes).  The cross-checks are exact only while no other
 * thread uses the backend.  Returns 0 or -EUCLEAN after printing the first
 * violation to stderr. */
int pam_check(struct pam *pam);

/* ---- stored forms: exporting and importing pages as they are ---------------
 * A saved state (fuse/state.h) writes every page in the form it is stored
 * in and brings it back without compressing anything again: a same-filled
 * page is its word, a raw page its 4096 bytes, a compressed page its codec
 * type and compressed bytes, and a unit page its slot and the unit's
 * (decode type, page map, compressed payload), the payload once per unit
 * (pages of one unit share info.unit).  These functions are the one door
 * pages leave and enter the backend by in that form. */

/* Bytes of the buffer pam_export needs (a unit's stored bytes and slack). */
#define PAM_EXPORT_BUF (80u * 1024u)

/* One page's stored form. */
struct pam_blob {
	enum pam_kind kind;	/* PAM_KIND_FILL, _RAW, _XCF or _UNIT */
	unsigned codec_type;	/* XCF, UNIT: the decode type (CODEC_LZ4, CODEC_ZSTD) */
	uint64_t fill;		/* FILL: the 8-byte word */
	unsigned slot;		/* UNIT: the page's slot in its group */
	unsigned map;		/* UNIT: the unit's page map (dead slots included) */
	uint64_t unit;		/* UNIT: the unit's id (the same for all its pages) */
	uint32_t len;		/* bytes at data: RAW 4096, XCF the compressed size,
				   UNIT the payload (0 when not asked for) */
	const void *data;	/* RAW, XCF, UNIT with payload: inside the caller's buf */
};

/* Fill *out with the stored form of `p`, which the caller keeps alive (no
 * change of its page meanwhile).  For a unit page the payload is read only
 * when `unit_payload` is nonzero (out->len = 0 otherwise).  `buf` is the
 * caller's, PAM_EXPORT_BUF bytes; out->data points into it.  Takes at most
 * one xcf pool lock at a time.  A page or unit in the backing file is read
 * from it and handed out in the form it had in RAM (a backed page as RAW
 * or XCF), so an importer needs no backing file.  Returns 0, or -EIO for a
 * corrupt pampd or stored object (or a record that fails its checks), or
 * -ENOMEM. */
int pam_export(struct pam *pam, pam_pampd p, struct pam_blob *out, void *buf,
	       int unit_payload);

/* Make a pampd holding the page `b` describes (FILL, RAW or XCF; never
 * compressing): a same-filled word is encoded in the pampd (a word that
 * does not fit is -EINVAL: pam_put never stores one so), raw bytes go to a
 * new buddy page, compressed bytes (1 .. min(raw threshold - 1, XCF_MAX_SIZE)
 * bytes of CODEC_LZ4 or CODEC_ZSTD) to a new xcf object of the calling
 * thread's pool.  The compressed bytes are not decoded here: bytes that do
 * not decode make reads of the page fail with -EIO, as for any corrupt
 * page.  Counted as puts.  Returns 0 and *out, -EINVAL (a form this
 * backend would not store), -ENOMEM. */
int pam_import(struct pam *pam, const struct pam_blob *b, pam_pampd *out);

/* Make a unit from its stored form: `clen` bytes of payload of decode type
 * `type` (CODEC_LZ4 or CODEC_ZSTD) that decode to popcount(map) pages, and
 * pampds for the slots of `live` (a subset of map: the pages that still
 * belong to it; the others count as dead slots), set in out[slot].  The
 * payload must lie at buf + PAM_UNIT_IMPORT_ROOM, buf being PAM_EXPORT_BUF
 * bytes (the chunk table is written in front of it).  Returns 0, -EINVAL
 * (a bad type, map, live or length), -ENOMEM (nothing left allocated). */
#define PAM_UNIT_IMPORT_ROOM 128u
int pam_import_unit(struct pam *pam, unsigned type, unsigned map, unsigned live, void *buf,
		    uint32_t clen, pam_pampd out[PAM_UNIT_PAGES]);

#endif /* ZC_COMPRESS_PAM_H */
