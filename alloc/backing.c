/* backing.c - compressed objects kept in a file on disk, packed into 1 MiB
 * segments written with O_DIRECT (see backing.h for the contract, the
 * record and location formats and the locks).
 *
 * Implementation notes:
 *
 * - Segment states.  FREE (on the free map; `wp` still says how much of it
 *   was written until its space is punched, flag SEG_PUNCH), RESERVED (taken
 *   by a write in flight, not visible yet), OPEN (the one segment writes
 *   append to, b->open) and SEALED (full, or left behind by a write that
 *   moved on).  A SEALED segment with no live record goes back to FREE as
 *   soon as nobody pins it; an OPEN one stays until sealed.
 * - Record tables.  Each segment in use has a sorted array of struct rec
 *   (offset and length in 16-byte units, and a live bit): records are only
 *   appended, so appending keeps it sorted and a free is a binary search.
 *   A write sizes the tables it needs before it commits (a fresh segment's
 *   is allocated before any lock, exactly for its records, or twice that if
 *   the segment stays open; the open segment's grows by doubling in the
 *   locked reserve step), so a commit never allocates and a failed
 *   allocation changes nothing; sealing shrinks a table to size.
 * - The write path plans first (which object goes to which segment and
 *   where, how many new segments, how many bytes), then takes its segments
 *   and checks the limit and the budget in one locked section, then does
 *   the pwrites with only wlock held, then commits under the lock.  A failed
 *   pwrite gives back the segments it took; the open segment's append point
 *   did not move, so nothing a location names was touched.
 * - Readers pin a segment (pins) for the length of their pread; compaction
 *   pins its victims.  Nothing is ever written into a segment in use below
 *   its append point, and a pinned segment is never FREE, so a pinned
 *   record's bytes are stable.
 * - Hole punching is deferred to backing_trim (under wlock, the only lock
 *   under which a FREE segment can be taken), so frees and unpins stay O(1)
 *   work under b->lock and never do a syscall.
 */
#include "alloc/backing.h"

#include "alloc/buddy.h"
#include "alloc/crc32c.h"
#include "alloc/fault.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define BACKING_MAGIC 0x6b62637au		/* "zcbk" read as little-endian bytes */
#define SEG_UNITS (BACKING_SEG_SIZE / BACKING_UNIT)
#define REC_MIN_UNITS ((BACKING_HDR_SIZE + 1 + BACKING_UNIT - 1) / BACKING_UNIT)
#define SEG_MAX_RECS (SEG_UNITS / REC_MIN_UNITS)
#define REC_LIVE 0x8000u
#define NO_SEG UINT32_MAX
#define DIO_ALIGN_MAX 4096u			/* the largest alignment we accept */
#define TRIM_BATCH 64u

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

enum seg_state { SEG_FREE, SEG_RESERVED, SEG_OPEN, SEG_SEALED };

#define SEG_PUNCH 0x1u		/* free, but its space is not punched out yet */
#define SEG_BAD 0x2u		/* a record did not verify: never a victim */
#define SEG_VICTIM 0x4u		/* being compacted (and pinned by it) */

/* One record: offset and length in 16-byte units, REC_LIVE in `units`. */
struct rec {
	uint16_t off;
	uint16_t units;
};

struct seg {
	struct rec *rec;	/* cap entries, nrec used, sorted by off; NULL when free */
	uint32_t nrec, cap;
	uint32_t live;		/* bytes of live records */
	uint32_t wp;		/* bytes written: the append point (aligned) */
	uint32_t pins;		/* readers and compaction holding it */
	uint8_t state;		/* enum seg_state */
	uint8_t flags;		/* SEG_* */
};

/* The record header, as it is in the file (native byte order: the file
 * never outlives the process that wrote it). */
struct rec_hdr {
	uint32_t magic;
	uint32_t len;		/* payload bytes */
	uint64_t tag;
	uint32_t pos;		/* seg << 16 | offset in units, truncated */
	uint32_t crc;		/* CRC-32C of the 20 bytes above and the payload */
};
_Static_assert(sizeof(struct rec_hdr) == BACKING_HDR_SIZE, "record header size");
_Static_assert(SEG_MAX_RECS * REC_MIN_UNITS == SEG_UNITS, "records tile a segment");
_Static_assert(BACKING_REC_UNITS_MAX < REC_LIVE, "a record's units leave the live bit free");
_Static_assert(sizeof(struct seg) == 32, "32 bytes per segment (backing.h, Memory)");

struct backing {
	int fd;
	int named;			/* a regular file given by path (truncated at close) */
	uint32_t align;			/* O_DIRECT alignment of offsets, lengths and buffers */
	uint32_t max_segs;		/* the limit in segments (BACKING_MAX_SEGMENTS: none) */
	uint32_t limit_segs;		/* as asked (0: none), for the stats */
	struct buddy *buddy;
	int own_buddy;

	pthread_mutex_t compact_lock;	/* one compaction at a time */
	void *cbuf;			/* 1 MiB victim buffer; protected by compact_lock */

	pthread_mutex_t wlock;		/* writers; before lock */
	void *wbuf;			/* 1 MiB write buffer; protected by wlock */

	pthread_mutex_t lock;		/* everything below; a leaf */
	struct seg *segs;		/* nsegs in use (numbers ever taken), segs_cap allocated */
	uint32_t nsegs, segs_cap;
	uint64_t *free_map;		/* bit i: segment i is FREE; segs_cap bits */
	uint32_t free_hint;		/* no free bit in words below this one */
	uint32_t open;			/* the OPEN segment, or NO_SEG (written under wlock too) */
	uint32_t used;			/* segments not FREE */
	uint32_t nfree;			/* FREE segments (< nsegs) */
	int can_punch;			/* cleared when fallocate says EOPNOTSUPP */
	uint64_t table_bytes;		/* record tables allocated */
	uint64_t deaths;		/* segments released, ever (readahead's validity) */
	struct backing_stats st;	/* counters (derived ones filled by backing_stats) */
	uint64_t id;			/* unique in the process (readahead's key); immutable */

	struct zc_fault rfault, wfault;	/* atomics; debug builds only */
};

/* ---- small helpers ------------------------------------------------------------ */

static inline uint32_t rec_units(uint32_t len)
{
	return (BACKING_HDR_SIZE + len + BACKING_UNIT - 1) / BACKING_UNIT;
}

/* An object's payload bytes: its data and its tail. */
static inline uint32_t obj_len(const struct backing_obj *o)
{
	return o->len + o->tail_len;
}

static inline uint64_t loc_make(uint32_t seg, uint32_t off_units, uint32_t units)
{
	return (uint64_t)seg << (BACKING_LOC_UNITS_BITS + BACKING_LOC_OFF_BITS) |
	       (uint64_t)off_units << BACKING_LOC_UNITS_BITS | units;
}

static inline uint32_t rec_pos(uint32_t seg, uint32_t off_units)
{
	return seg << 16 | off_units;
}

/* Split a location; -EINVAL when it cannot name a record of this file. */
static int loc_split(const struct backing *b, uint64_t loc, uint32_t *seg, uint32_t *offu,
		     uint32_t *units)
{
	uint32_t u = backing_loc_bytes(loc) / BACKING_UNIT;
	uint32_t o = backing_loc_off(loc) / BACKING_UNIT;
	uint32_t s = backing_loc_seg(loc);

	if (loc >> BACKING_LOC_BITS || u < REC_MIN_UNITS || u > BACKING_REC_UNITS_MAX ||
	    o + u > SEG_UNITS || s >= b->max_segs)
		return -EINVAL;
	*seg = s;
	*offu = o;
	*units = u;
	return 0;
}

static inline uint32_t align_up(uint32_t v, uint32_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static inline uint64_t seg_base(uint32_t seg)
{
	return (uint64_t)seg << BACKING_SEG_SHIFT;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* I/O through the fault hooks.  A short transfer is retried for the rest;
 * returns 0 or a negative errno (-EIO for a transfer that makes no
 * progress). */
static int io_pwrite(struct backing *b, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	if (zc_fault_fire(&b->wfault))
		return -EIO;
	while (len) {
		ssize_t w = pwrite(b->fd, p, len, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		off += (uint64_t)w;
		len -= (size_t)w;
	}
	return 0;
}

static int io_pread(struct backing *b, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	if (zc_fault_fire(&b->rfault))
		return -EIO;
	while (len) {
		ssize_t r = pread(b->fd, p, len, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		p += r;
		off += (uint64_t)r;
		len -= (size_t)r;
	}
	return 0;
}

/* ---- segments (caller holds b->lock) -------------------------------------------- */

static inline void map_set(struct backing *b, uint32_t i)
{
	b->free_map[i / 64] |= 1ull << (i % 64);
	if (i / 64 < b->free_hint)
		b->free_hint = i / 64;
}

static inline void map_clear(struct backing *b, uint32_t i)
{
	b->free_map[i / 64] &= ~(1ull << (i % 64));
}

static inline int map_test(const struct backing *b, uint32_t i)
{
	return (int)(b->free_map[i / 64] >> (i % 64) & 1);
}

/* The lowest FREE segment, or NO_SEG. */
static uint32_t map_lowest(struct backing *b)
{
	uint32_t words = (b->nsegs + 63) / 64;

	for (uint32_t w = b->free_hint; w < words; w++) {
		if (b->free_map[w]) {
			b->free_hint = w;
			return w * 64 + (uint32_t)__builtin_ctzll(b->free_map[w]);
		}
	}
	b->free_hint = words;
	return NO_SEG;
}

/* Make room for `want` segment numbers.  Returns 0 or -ENOMEM (nothing
 * changed). */
static int segs_grow(struct backing *b, uint32_t want)
{
	uint32_t cap = b->segs_cap ? b->segs_cap : 64;
	struct seg *segs;
	uint64_t *map;

	if (want <= b->segs_cap)
		return 0;
	while (cap < want)
		cap *= 2;
	segs = realloc(b->segs, (size_t)cap * sizeof(*segs));
	if (!segs)
		return -ENOMEM;
	b->segs = segs;
	memset(segs + b->segs_cap, 0, (size_t)(cap - b->segs_cap) * sizeof(*segs));
	map = realloc(b->free_map, (size_t)cap / 64 * sizeof(*map));
	if (!map)
		return -ENOMEM;	/* segs grew, harmless: segs_cap still says the old size */
	memset(map + b->segs_cap / 64, 0, (size_t)(cap - b->segs_cap) / 64 * sizeof(*map));
	b->free_map = map;
	b->segs_cap = cap;
	return 0;
}

/* Take the lowest free segment number (or the next new one) as RESERVED.
 * The caller checked the limit and grew the arrays. */
static uint32_t seg_take(struct backing *b)
{
	uint32_t i = map_lowest(b);
	struct seg *s;

	if (i == NO_SEG) {
		i = b->nsegs++;
	} else {
		map_clear(b, i);
		b->nfree--;
	}
	s = &b->segs[i];
	s->state = SEG_RESERVED;
	s->flags = 0;		/* it will be overwritten: no need to punch it */
	s->wp = 0;
	s->live = 0;
	s->nrec = 0;
	s->pins = 0;
	b->used++;
	return i;
}

/* A segment goes back to the free list (its table freed, its space to be
 * punched by backing_trim).  `wp` stays: what of it is still on disk. */
static void seg_release(struct backing *b, uint32_t i)
{
	struct seg *s = &b->segs[i];

	b->table_bytes -= (uint64_t)s->cap * sizeof(struct rec);
	free(s->rec);
	s->rec = NULL;
	s->nrec = s->cap = 0;
	s->live = 0;
	s->state = SEG_FREE;
	s->flags = SEG_PUNCH;
	map_set(b, i);
	b->used--;
	b->nfree++;
	b->deaths++;
}

static inline void seg_maybe_release(struct backing *b, uint32_t i)
{
	struct seg *s = &b->segs[i];

	if (s->state == SEG_SEALED && s->live == 0 && s->pins == 0)
		seg_release(b, i);
}

/* OPEN or RESERVED -> SEALED: no more appends; the table shrinks to size. */
static void seg_seal(struct backing *b, uint32_t i)
{
	struct seg *s = &b->segs[i];

	s->state = SEG_SEALED;
	if (s->nrec == 0) {
		b->table_bytes -= (uint64_t)s->cap * sizeof(struct rec);
		free(s->rec);
		s->rec = NULL;
		s->cap = 0;
	} else if (s->nrec < s->cap) {
		struct rec *t = realloc(s->rec, (size_t)s->nrec * sizeof(*t));

		if (t) {	/* else keep the larger table */
			b->table_bytes -= (uint64_t)(s->cap - s->nrec) * sizeof(*t);
			s->rec = t;
			s->cap = s->nrec;
		}
	}
	if (b->open == i)
		b->open = NO_SEG;
	seg_maybe_release(b, i);
}

/* Make room for `want` records in the table of the open segment s: double
 * it (at most SEG_MAX_RECS), or more if that is not enough.  Returns 0 or
 * -ENOMEM (the table unchanged). */
static int table_grow(struct backing *b, struct seg *s, uint32_t want)
{
	uint32_t cap = s->cap * 2 > SEG_MAX_RECS ? SEG_MAX_RECS : s->cap * 2;
	struct rec *t;

	if (want <= s->cap)
		return 0;
	if (cap < want)
		cap = want;
	t = realloc(s->rec, (size_t)cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	b->table_bytes += (uint64_t)(cap - s->cap) * sizeof(*t);
	s->rec = t;
	s->cap = cap;
	return 0;
}

/* The index of the record at offset `offu` in segment s, or -1. */
static long rec_find(const struct seg *s, uint32_t offu)
{
	long lo = 0, hi = (long)s->nrec - 1;

	while (lo <= hi) {
		long mid = (lo + hi) / 2;

		if (s->rec[mid].off == offu)
			return mid;
		if (s->rec[mid].off < offu)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* The live record `loc` names, or NULL. */
static struct rec *rec_live(struct backing *b, uint32_t seg, uint32_t offu, uint32_t units)
{
	struct seg *s;
	long k;

	if (seg >= b->nsegs)
		return NULL;
	s = &b->segs[seg];
	if (s->state != SEG_OPEN && s->state != SEG_SEALED)
		return NULL;
	k = rec_find(s, offu);
	if (k < 0 || s->rec[k].units != (units | REC_LIVE))
		return NULL;
	return &s->rec[k];
}

/* Free a live record.  Caller holds b->lock. */
static int free_locked(struct backing *b, uint64_t loc)
{
	uint32_t seg, offu, units;
	struct rec *r;

	if (loc_split(b, loc, &seg, &offu, &units))
		return -EINVAL;
	r = rec_live(b, seg, offu, units);
	if (!r)
		return -EINVAL;
	r->units = (uint16_t)units;
	b->segs[seg].live -= units * BACKING_UNIT;
	b->st.objects--;
	b->st.live_bytes -= units * BACKING_UNIT;
	b->st.frees++;
	seg_maybe_release(b, seg);
	return 0;
}

/* ---- the write path ---------------------------------------------------------- */

/* One segment's share of a write. */
struct chunk {
	uint32_t seg;		/* segment number (fresh: taken at reserve time) */
	int fresh;		/* a segment taken for this write */
	uint32_t start;		/* first byte written (aligned: the old append point) */
	uint32_t end;		/* end of its last record */
	uint32_t pend;		/* end padded to the alignment */
	uint32_t first, count;	/* its objects: order[first .. first + count) */
	struct rec *table;	/* fresh: its record table, allocated up front */
	uint32_t tcap;		/* fresh: the table's capacity */
};

/* Lay one chunk's records out in wbuf and write them.  Caller holds wlock. */
static int chunk_write(struct backing *b, const struct chunk *c, const struct backing_obj *objs,
		       const uint32_t *order, const uint32_t *pos)
{
	unsigned char *buf = b->wbuf;
	uint32_t at = c->start;

	for (uint32_t k = c->first; k < c->first + c->count; k++) {
		const struct backing_obj *o = &objs[order[k]];
		uint32_t len = obj_len(o), p = pos[order[k]], bytes = rec_units(len) * BACKING_UNIT;
		unsigned char *r = buf + (p - c->start);
		struct rec_hdr h = {
			.magic = BACKING_MAGIC,
			.len = len,
			.tag = o->tag,
			.pos = rec_pos(c->seg, p / BACKING_UNIT),
		};

		memset(buf + (at - c->start), 0, p - at);	/* none today: records touch */
		memcpy(r + BACKING_HDR_SIZE, o->data, o->len);
		if (o->tail_len)
			memcpy(r + BACKING_HDR_SIZE + o->len, o->tail, o->tail_len);
		memset(r + BACKING_HDR_SIZE + len, 0, bytes - BACKING_HDR_SIZE - len);
		h.crc = crc32c(crc32c(0, &h, offsetof(struct rec_hdr, crc)),
				       r + BACKING_HDR_SIZE, len);
		memcpy(r, &h, sizeof(h));
		at = p + bytes;
	}
	memset(buf + (at - c->start), 0, c->pend - at);
	return io_pwrite(b, buf, c->pend - c->start, seg_base(c->seg) + c->start);
}

/* Store objs[0..n); see backing_write.  `compaction`: may use the segment
 * kept for compaction, and its objects are not counted as writes.  Caller
 * holds wlock (and, for compaction, compact_lock). */
static int write_locked(struct backing *b, const struct backing_obj *objs, size_t n,
			uint64_t *locs, int compaction)
{
	uint32_t *order = NULL, *pos = NULL, *pend = NULL;
	uint32_t nchunks = 0, placed = 0, npend = (uint32_t)n, fresh = 0, last_open;
	uint32_t limit = compaction ? b->max_segs : b->max_segs - 1, pwrites = 0;
	uint64_t bytes = 0, live = 0, file_end = 0;
	struct chunk *ch = NULL;
	int rc = 0;
	uint32_t failed = UINT32_MAX;

	if (n == 0)
		return 0;
	if (n >= UINT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!objs[i].data || objs[i].len == 0 || obj_len(&objs[i]) > BACKING_OBJ_MAX ||
		    objs[i].tail_len > BACKING_OBJ_MAX || (objs[i].tail_len && !objs[i].tail))
			return -EINVAL;
	order = malloc(n * sizeof(*order));
	pos = malloc(n * sizeof(*pos));
	pend = malloc(n * sizeof(*pend));
	ch = calloc(n + 1, sizeof(*ch));
	if (!order || !pos || !pend || !ch) {
		rc = -ENOMEM;
		goto out;
	}

	/* Plan: first fit into the open segment, then into fresh ones. */
	for (uint32_t i = 0; i < npend; i++)
		pend[i] = i;
	if (b->open != NO_SEG) {
		ch[0].seg = b->open;
		ch[0].start = b->segs[b->open].wp;	/* wlock: only writers move it */
	}
	while (npend) {
		struct chunk *c = &ch[nchunks];
		uint32_t at, keep = 0;

		if (nchunks > 0 || b->open == NO_SEG) {
			c->fresh = 1;
			c->seg = NO_SEG;
			c->start = 0;
			fresh++;
		}
		c->first = placed;
		at = c->start;
		for (uint32_t i = 0; i < npend; i++) {
			uint32_t o = pend[i], sz = rec_units(obj_len(&objs[o])) * BACKING_UNIT;

			if (at + sz <= BACKING_SEG_SIZE) {
				pos[o] = at;
				order[placed++] = o;
				at += sz;
				live += sz;
			} else {
				pend[keep++] = o;
			}
		}
		npend = keep;
		c->count = placed - c->first;
		c->end = at;
		c->pend = align_up(at, b->align);
		if (c->count)
			bytes += c->pend - c->start;
		nchunks++;
	}
	/* The last chunk stays open if another record could follow it. */
	last_open = BACKING_SEG_SIZE - ch[nchunks - 1].pend >= REC_MIN_UNITS * BACKING_UNIT;

	for (uint32_t k = 0; k < nchunks; k++) {
		uint32_t cap = ch[k].count;

		if (!ch[k].fresh)
			continue;
		if (k == nchunks - 1 && last_open)
			cap = cap * 2 < 64 ? 64 : cap * 2 > SEG_MAX_RECS ? SEG_MAX_RECS : cap * 2;
		ch[k].tcap = cap;
		ch[k].table = malloc((size_t)cap * sizeof(struct rec));
		if (!ch[k].table) {
			rc = -ENOMEM;
			goto out;
		}
	}

	/* Reserve: the limit, the budget, the tables, the segments. */
	pthread_mutex_lock(&b->lock);
	if (b->used + fresh > limit ||
	    (b->st.budget_left != BACKING_BUDGET_NONE && bytes > b->st.budget_left)) {
		b->st.enospc++;
		rc = -ENOSPC;
	} else if ((rc = segs_grow(b, b->nsegs + fresh)) == 0 && !ch[0].fresh && ch[0].count) {
		rc = table_grow(b, &b->segs[ch[0].seg], b->segs[ch[0].seg].nrec + ch[0].count);
	}
	if (rc == 0)
		for (uint32_t k = 0; k < nchunks; k++)
			if (ch[k].fresh)
				ch[k].seg = seg_take(b);
	pthread_mutex_unlock(&b->lock);
	if (rc)
		goto out;

	/* The pwrites, with wlock alone. */
	for (uint32_t k = 0; k < nchunks && !rc; k++) {
		if (!ch[k].count)
			continue;
		rc = chunk_write(b, &ch[k], objs, order, pos);
		if (rc)
			failed = k;
		else
			pwrites++;
	}

	pthread_mutex_lock(&b->lock);
	if (rc) {
		/* Give back the fresh segments; what reached them is punched. */
		for (uint32_t k = 0; k < nchunks; k++) {
			struct seg *s;

			if (!ch[k].fresh)
				continue;
			s = &b->segs[ch[k].seg];
			s->rec = NULL;
			s->cap = 0;
			s->wp = k <= failed ? ch[k].pend : 0;
			s->state = SEG_SEALED;
			seg_release(b, ch[k].seg);
		}
		if (rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG) {
			rc = -ENOSPC;
			b->st.enospc++;
		} else {
			rc = -EIO;
		}
		b->st.write_failures++;
		b->st.write_calls += pwrites;
		pthread_mutex_unlock(&b->lock);
		goto out;
	}
	for (uint32_t k = 0; k < nchunks; k++) {
		struct chunk *c = &ch[k];
		struct seg *s = &b->segs[c->seg];

		if (c->fresh) {
			s->rec = c->table;
			s->cap = c->tcap;
			c->table = NULL;
			b->table_bytes += (uint64_t)c->tcap * sizeof(struct rec);
		}
		for (uint32_t j = c->first; j < c->first + c->count; j++) {
			uint32_t o = order[j], units = rec_units(obj_len(&objs[o]));

			s->rec[s->nrec].off = (uint16_t)(pos[o] / BACKING_UNIT);
			s->rec[s->nrec].units = (uint16_t)(units | REC_LIVE);
			s->nrec++;
			s->live += units * BACKING_UNIT;
			locs[o] = loc_make(c->seg, pos[o] / BACKING_UNIT, units);
		}
		if (c->count) {
			s->wp = c->pend;
			if (seg_base(c->seg) + c->pend > file_end)
				file_end = seg_base(c->seg) + c->pend;
		}
		if (k == nchunks - 1 && last_open) {
			s->state = SEG_OPEN;
			b->open = c->seg;
		} else {
			seg_seal(b, c->seg);
		}
	}
	b->st.objects += n;
	b->st.live_bytes += live;
	if (!compaction)
		b->st.writes += n;
	b->st.write_bytes += bytes;
	b->st.write_calls += pwrites;
	if (b->st.budget_left != BACKING_BUDGET_NONE)
		b->st.budget_left -= bytes;
	if (file_end > b->st.file_bytes)
		b->st.file_bytes = file_end;
	pthread_mutex_unlock(&b->lock);
out:
	if (ch)
		for (uint32_t k = 0; k < nchunks; k++)
			free(ch[k].table);
	free(ch);
	free(pend);
	free(pos);
	free(order);
	return rc;
}

/* Punch up to `max` dead segments.  Caller holds wlock. */
static int trim_locked(struct backing *b, uint32_t max)
{
	uint32_t batch[TRIM_BATCH], nb, done = 0;

	while (done < max) {
		uint32_t want = max - done < TRIM_BATCH ? max - done : TRIM_BATCH;

		nb = 0;
		pthread_mutex_lock(&b->lock);
		for (uint32_t i = 0; b->can_punch && i < b->nsegs && nb < want; i++) {
			struct seg *s = &b->segs[i];

			if (s->state == SEG_FREE && (s->flags & SEG_PUNCH)) {
				s->flags &= (uint8_t)~SEG_PUNCH;
				batch[nb++] = i;
			}
		}
		pthread_mutex_unlock(&b->lock);
		if (!nb)
			break;
		for (uint32_t k = 0; k < nb; k++) {
			/* Only wlock holders take FREE segments, so these stay FREE. */
			int r = fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					  (off_t)seg_base(batch[k]), BACKING_SEG_SIZE);

			pthread_mutex_lock(&b->lock);
			if (r == 0) {
				b->segs[batch[k]].wp = 0;
				b->st.holes_punched++;
				done++;
			} else {
				/* EOPNOTSUPP: never again; anything else: next time. */
				if (errno == EOPNOTSUPP || errno == ENOSYS)
					b->can_punch = 0;
				for (uint32_t j = k; j < nb; j++)
					b->segs[batch[j]].flags |= SEG_PUNCH;
				k = nb;
			}
			pthread_mutex_unlock(&b->lock);
		}
		if (nb < want)
			break;
	}
	return (int)done;
}

int backing_write(struct backing *b, const struct backing_obj *objs, size_t n, uint64_t *locs)
{
	int rc;

	pthread_mutex_lock(&b->wlock);
	rc = write_locked(b, objs, n, locs, 0);
	trim_locked(b, BACKING_TRIM_PER_WRITE);
	pthread_mutex_unlock(&b->wlock);
	return rc;
}

int backing_trim(struct backing *b)
{
	int rc;

	pthread_mutex_lock(&b->wlock);
	rc = trim_locked(b, UINT32_MAX);
	pthread_mutex_unlock(&b->wlock);
	return rc;
}

/* ---- reading --------------------------------------------------------------- */

/* Verify the record at `r` (its header and payload in memory) against
 * where it was read from; `tag` is checked unless `any_tag`.  Returns the
 * payload length, or -EIO. */
static int rec_verify(const unsigned char *r, uint32_t seg, uint32_t offu, uint32_t units,
		      uint64_t tag, int any_tag, uint64_t *tag_out)
{
	struct rec_hdr h;

	memcpy(&h, r, sizeof(h));
	if (h.magic != BACKING_MAGIC || h.len == 0 || h.len > BACKING_OBJ_MAX ||
	    rec_units(h.len) != units || h.pos != rec_pos(seg, offu) || (!any_tag && h.tag != tag))
		return -EIO;
	if (crc32c(crc32c(0, &h, offsetof(struct rec_hdr, crc)),
			   r + BACKING_HDR_SIZE, h.len) != h.crc)
		return -EIO;
	if (tag_out)
		*tag_out = h.tag;
	return (int)h.len;
}

static void unpin_locked(struct backing *b, uint32_t seg)
{
	struct seg *s = seg < b->nsegs ? &b->segs[seg] : NULL;

	if (!s || s->pins == 0) {
		fprintf(stderr, "backing: unpin of segment %u that is not pinned\n", seg);
		abort();
	}
	s->pins--;
	seg_maybe_release(b, seg);
}

int backing_pin(struct backing *b, uint64_t loc)
{
	uint32_t seg, offu, units;
	int rc = 0;

	if (loc_split(b, loc, &seg, &offu, &units))
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	if (rec_live(b, seg, offu, units))
		b->segs[seg].pins++;
	else
		rc = -ESTALE;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void backing_unpin(struct backing *b, uint64_t loc)
{
	pthread_mutex_lock(&b->lock);
	unpin_locked(b, backing_loc_seg(loc));
	pthread_mutex_unlock(&b->lock);
}

/* ---- sequential readahead ------------------------------------------------------
 *
 * A thread that reads records one after the other in a segment (a cold
 * file read back in order: its pages were written back together) reads a
 * window of up to BACKING_RA_SIZE bytes at once, into a buffer of its own,
 * and serves the next records from it.  The window is valid while no
 * segment was released since it was read (b->deaths, under b->lock): a
 * segment's records never change until it dies, and its space may hold
 * other records only after.  It covers only bytes written when it was read
 * (the segment's wp then).  Every record served from it is verified as a
 * record read from the disk is.  A read that does not follow the thread's
 * last one in its segment (within BACKING_RA_GAP) reads its record alone,
 * so random reads cost what they did.  The buffer is allocated at the
 * thread's first window and freed when the thread exits (a pthread key:
 * the key, created once, is process-wide state like the CRC tables). */
#define BACKING_RA_SIZE (256u << 10)
#define BACKING_RA_GAP (64u << 10)

struct backing_ra {
	uint64_t id;		/* the file's b->id; 0: no window */
	uint64_t deaths;	/* b->deaths when the window was read */
	uint32_t seg, lo, hi;	/* the window: bytes [lo, hi) of segment seg */
	uint64_t last_id;	/* the thread's last read: file, segment, end */
	uint32_t last_seg, last_end;
	unsigned char *buf;	/* BACKING_RA_SIZE bytes, or NULL */
};

static _Thread_local struct backing_ra ra_tls;
static pthread_key_t ra_key;
static pthread_once_t ra_once = PTHREAD_ONCE_INIT;
static int ra_key_ok;

static void ra_free(void *p)
{
	free(p);
}

static void ra_key_init(void)
{
	ra_key_ok = pthread_key_create(&ra_key, ra_free) == 0;
}

/* The thread's window buffer, allocated on first use; NULL without. */
static unsigned char *ra_buf(struct backing_ra *ra)
{
	void *p;

	if (ra->buf)
		return ra->buf;
	pthread_once(&ra_once, ra_key_init);
	if (!ra_key_ok || posix_memalign(&p, 4096, BACKING_RA_SIZE) != 0)
		return NULL;
	if (pthread_setspecific(ra_key, p) != 0) {
		free(p);
		return NULL;
	}
	ra->buf = p;
	return ra->buf;
}

int backing_read(struct backing *b, uint64_t loc, uint64_t tag, void *buf, size_t cap)
{
	uint32_t seg, offu, units, first, span, wp, off, end;
	struct backing_ra *ra = &ra_tls;
	unsigned char *rb = NULL;
	const unsigned char *r;
	uint64_t deaths;
	struct seg *s;
	int rc, bad = 0, seq;

	if (loc_split(b, loc, &seg, &offu, &units))
		return -EINVAL;
	off = offu * BACKING_UNIT;
	end = (offu + units) * BACKING_UNIT;
	first = off & ~(b->align - 1);
	span = align_up(end, b->align) - first;

	pthread_mutex_lock(&b->lock);
	s = seg < b->nsegs ? &b->segs[seg] : NULL;
	if (!s || (s->state != SEG_OPEN && s->state != SEG_SEALED) || end > s->wp) {
		pthread_mutex_unlock(&b->lock);
		return -ESTALE;
	}
	s->pins++;
	wp = s->wp;
	deaths = b->deaths;
	pthread_mutex_unlock(&b->lock);

	seq = ra->last_id == b->id && ra->last_seg == seg && off >= ra->last_end &&
	      off - ra->last_end <= BACKING_RA_GAP;
	ra->last_id = b->id;
	ra->last_seg = seg;
	ra->last_end = end;
	if (ra->id == b->id && ra->seg == seg && ra->deaths == deaths && first >= ra->lo &&
	    end <= ra->hi) {
		r = ra->buf + (off - ra->lo);	/* in the thread's window */
	} else if (seq && ra_buf(ra)) {
		uint32_t hi = first + BACKING_RA_SIZE < wp ? first + BACKING_RA_SIZE : wp;

		ra->id = 0;
		if (io_pread(b, ra->buf, hi - first, seg_base(seg) + first)) {
			rc = -EIO;
			goto unpin;
		}
		ra->id = b->id;
		ra->deaths = deaths;
		ra->seg = seg;
		ra->lo = first;
		ra->hi = hi;
		r = ra->buf;
		r += off - first;
	} else {
		rb = buddy_alloc(b->buddy, span);
		if (!rb) {
			rc = -ENOMEM;
			goto unpin;
		}
		if (io_pread(b, rb, span, seg_base(seg) + first)) {
			rc = -EIO;
			goto out;
		}
		r = rb + (off - first);
	}
	rc = rec_verify(r, seg, offu, units, tag, 0, NULL);
	if (rc < 0) {
		bad = 1;
		ra->id = 0;	/* never serve from a window that held a bad record */
	} else if ((size_t)rc > cap) {
		rc = -EOVERFLOW;
	} else {
		memcpy(buf, r + BACKING_HDR_SIZE, (size_t)rc);
	}
out:
	if (rb)
		buddy_free(b->buddy, rb, span);
unpin:
	pthread_mutex_lock(&b->lock);
	if (rc > 0) {
		b->st.reads++;
		b->st.read_bytes += (uint64_t)rc;
	} else if (rc == -EIO) {
		b->st.read_failures++;
		b->st.checksum_failures += (uint64_t)bad;
	}
	unpin_locked(b, seg);
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int backing_free(struct backing *b, uint64_t loc)
{
	int rc;

	pthread_mutex_lock(&b->lock);
	rc = free_locked(b, loc);
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* ---- compaction ------------------------------------------------------------- */

struct victim {
	uint32_t seg;
	uint32_t live;
};

static int victim_cmp(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	return x->live < y->live ? -1 : x->live > y->live ? 1 : (x->seg > y->seg) - (x->seg < y->seg);
}

/* Pick and pin the victims.  Returns their number (in *out, malloc'ed) or
 * -ENOMEM. */
static long pick_victims(struct backing *b, size_t budget, struct victim **out)
{
	struct victim *v;
	uint32_t nv = 0, taken = 0;
	uint64_t sum = 0;

	pthread_mutex_lock(&b->lock);
	v = malloc(((size_t)b->nsegs + 1) * sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&b->lock);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < b->nsegs; i++) {
		const struct seg *s = &b->segs[i];

		if (s->state == SEG_SEALED && !(s->flags & (SEG_BAD | SEG_VICTIM)) && s->live > 0 &&
		    s->live <= BACKING_COMPACT_LIVE_MAX)
			v[nv++] = (struct victim){ .seg = i, .live = s->live };
	}
	qsort(v, nv, sizeof(*v), victim_cmp);
	for (; taken < nv && sum + v[taken].live <= budget; taken++) {
		struct seg *s = &b->segs[v[taken].seg];

		sum += v[taken].live;
		s->flags |= SEG_VICTIM;
		s->pins++;
	}
	pthread_mutex_unlock(&b->lock);
	*out = v;
	return taken;
}

static void victim_done(struct backing *b, uint32_t seg)
{
	pthread_mutex_lock(&b->lock);
	b->segs[seg].flags &= (uint8_t)~SEG_VICTIM;
	unpin_locked(b, seg);
	pthread_mutex_unlock(&b->lock);
}

/* Move the live records of one pinned victim.  Returns 1 when it ended
 * empty, 0 when not, or a negative errno. */
static int compact_one(struct backing *b, uint32_t seg, backing_relocate_fn relocate, void *arg)
{
	struct backing_obj *objs = NULL;
	uint64_t *olds = NULL, *news = NULL;
	struct rec *snap = NULL;
	uint32_t nsnap = 0, wp, m = 0;
	uint64_t moved = 0;
	int rc, bad = 0;

	/* The live records now; frees may still come, relocate sorts them out. */
	pthread_mutex_lock(&b->lock);
	wp = b->segs[seg].wp;
	snap = malloc(((size_t)b->segs[seg].nrec + 1) * sizeof(*snap));
	if (snap)
		for (uint32_t k = 0; k < b->segs[seg].nrec; k++)
			if (b->segs[seg].rec[k].units & REC_LIVE)
				snap[nsnap++] = b->segs[seg].rec[k];
	pthread_mutex_unlock(&b->lock);
	if (!snap)
		return -ENOMEM;
	if (nsnap == 0) {
		rc = 0;
		goto out;
	}
	objs = malloc(nsnap * sizeof(*objs));
	olds = malloc(nsnap * sizeof(*olds));
	news = malloc(nsnap * sizeof(*news));
	if (!objs || !olds || !news) {
		rc = -ENOMEM;
		goto out;
	}
	rc = io_pread(b, b->cbuf, wp, seg_base(seg));
	if (rc) {
		pthread_mutex_lock(&b->lock);
		b->st.read_failures++;
		b->segs[seg].flags |= SEG_BAD;
		pthread_mutex_unlock(&b->lock);
		rc = -EIO;
		goto out;
	}
	for (uint32_t k = 0; k < nsnap; k++) {
		uint32_t offu = snap[k].off, units = snap[k].units & ~REC_LIVE;
		const unsigned char *r = (const unsigned char *)b->cbuf + offu * BACKING_UNIT;
		uint64_t tag;
		int len = rec_verify(r, seg, offu, units, 0, 1, &tag);

		if (len < 0) {
			bad++;
			continue;
		}
		objs[m] = (struct backing_obj){ .data = r + BACKING_HDR_SIZE, .len = (uint32_t)len,
						.tag = tag };
		olds[m] = loc_make(seg, offu, units);
		moved += units * BACKING_UNIT;
		m++;
	}
	if (bad) {
		pthread_mutex_lock(&b->lock);
		b->st.checksum_failures += (uint64_t)bad;
		b->segs[seg].flags |= SEG_BAD;
		pthread_mutex_unlock(&b->lock);
	}
	pthread_mutex_lock(&b->wlock);
	rc = write_locked(b, objs, m, news, 1);
	pthread_mutex_unlock(&b->wlock);
	if (rc)
		goto out;
	for (uint32_t k = 0; k < m; k++) {
		int took = relocate(arg, objs[k].tag, objs[k].data, objs[k].len, olds[k], news[k]);

		/* The owner took the copy: the old record is ours to free; else
		 * the copy is.  Either was live a moment ago and only we hold it. */
		backing_free(b, took ? olds[k] : news[k]);
	}
	pthread_mutex_lock(&b->lock);
	b->st.compact_bytes += moved;
	pthread_mutex_unlock(&b->lock);
out:
	if (rc == 0) {
		pthread_mutex_lock(&b->lock);
		rc = b->segs[seg].live == 0;
		b->st.compactions += (uint64_t)rc;
		/* Emptied: its written bytes go (punched once unpinned), and
		 * what its records took again is at most `moved`. */
		if (rc && wp > moved)
			b->st.compact_reclaimed += wp - moved;
		pthread_mutex_unlock(&b->lock);
	}
	free(news);
	free(olds);
	free(objs);
	free(snap);
	return rc;
}

int backing_compact(struct backing *b, size_t budget, backing_relocate_fn relocate, void *arg)
{
	struct victim *v = NULL;
	long nv;
	int rc = 0, emptied = 0;

	pthread_mutex_lock(&b->compact_lock);
	if (!b->cbuf) {
		b->cbuf = buddy_alloc(b->buddy, BACKING_SEG_SIZE);
		if (!b->cbuf) {
			rc = -ENOMEM;
			goto out;
		}
	}
	nv = pick_victims(b, budget, &v);
	if (nv < 0) {
		rc = (int)nv;
		goto out;
	}
	for (long k = 0; k < nv; k++) {
		if (rc >= 0)
			rc = compact_one(b, v[k].seg, relocate, arg);
		if (rc > 0)
			emptied++;
		victim_done(b, v[k].seg);
	}
	if (rc > 0)
		rc = 0;
	backing_trim(b);
out:
	pthread_mutex_unlock(&b->compact_lock);
	free(v);
	return rc < 0 ? rc : emptied;
}

void backing_budget_set(struct backing *b, uint64_t bytes)
{
	pthread_mutex_lock(&b->lock);
	b->st.budget_left = bytes;
	pthread_mutex_unlock(&b->lock);
}

/* ---- opening and closing ------------------------------------------------------ */

/* The mount type (e.g. "fuse.zcached") of the filesystem holding a file
 * with device `dev`, from /proc/self/mountinfo; "fuse" if not found. */
static void mount_type(dev_t dev, char *out, size_t len)
{
	char line[4096], want[32];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	snprintf(out, len, "fuse");
	if (!f)
		return;
	snprintf(want, sizeof(want), "%u:%u", major(dev), minor(dev));
	while (fgets(line, sizeof(line), f)) {
		char mm[32], type[256];
		const char *sep;

		if (sscanf(line, "%*s %*s %31s", mm) != 1 || strcmp(mm, want) != 0)
			continue;
		sep = strstr(line, " - ");
		if (sep && sscanf(sep + 3, "%255s", type) == 1) {
			snprintf(out, len, "%s", type);
			break;
		}
	}
	fclose(f);
}

/* The O_DIRECT alignment for fd: STATX_DIOALIGN where the filesystem
 * reports it, else the largest we accept. */
static uint32_t dio_align(int fd)
{
	struct statx sx;
	uint32_t a = DIO_ALIGN_MAX;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
		a = sx.stx_dio_offset_align > sx.stx_dio_mem_align ? sx.stx_dio_offset_align
								   : sx.stx_dio_mem_align;
		if (a < 512)
			a = 512;
	}
	return a;
}

struct backing *backing_open(const char *path, uint64_t limit_bytes,
			     const struct backing_config *config, char *err, size_t errlen)
{
	const struct backing_config defaults = BACKING_CONFIG_DEFAULT;
	struct backing *b = NULL;
	struct stat st;
	struct statfs sf;
	unsigned char *probe = NULL;
	int fd = -1, e, flags, truncated = 0;

	if (!config)
		config = &defaults;
	set_err(err, errlen, "backing: %s: failed", path);
	if (limit_bytes && limit_bytes / BACKING_SEG_SIZE < BACKING_MIN_SEGMENTS) {
		set_err(err, errlen,
			"backing: limit %llu bytes for %s is below the minimum of %u segments (%u MiB)",
			(unsigned long long)limit_bytes, path, BACKING_MIN_SEGMENTS,
			BACKING_MIN_SEGMENTS * BACKING_SEG_SIZE >> 20);
		e = EINVAL;
		goto fail;
	}
	if (stat(path, &st) != 0) {
		e = errno;
		set_err(err, errlen, "backing: %s: %s", path, strerror(e));
		goto fail;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		set_err(err, errlen, "backing: %s is neither a directory nor a regular file", path);
		e = EINVAL;
		goto fail;
	}
	if (statfs(path, &sf) != 0) {
		e = errno;
		set_err(err, errlen, "backing: %s: statfs: %s", path, strerror(e));
		goto fail;
	}
	if (sf.f_type == TMPFS_MAGIC) {
		set_err(err, errlen,
			"backing: %s is on tmpfs (memory): a backing file must be on a disk filesystem",
			path);
		e = EINVAL;
		goto fail;
	}
	if (sf.f_type == FUSE_SUPER_MAGIC) {
		char type[256];

		mount_type(st.st_dev, type, sizeof(type));
		if (!strcmp(type, "fuse.zcached"))
			set_err(err, errlen,
				"backing: %s is on a zcached mount (%s): a backing file must be on a disk filesystem",
				path, type);
		else
			set_err(err, errlen,
				"backing: %s is on a FUSE filesystem (%s), whose server may need memory to "
				"write back (swap files are refused there too): use a disk filesystem",
				path, type);
		e = EINVAL;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		fd = open(path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0) {
			e = errno;
			set_err(err, errlen, "backing: %s: cannot make an unnamed file there (O_TMPFILE): %s",
				path, strerror(e));
			goto fail;
		}
	} else {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			e = errno;
			set_err(err, errlen, "backing: %s: %s", path, strerror(e));
			goto fail;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			e = errno == EWOULDBLOCK ? EBUSY : errno;
			set_err(err, errlen, "backing: %s is in use (locked by another backing file)", path);
			goto fail;
		}
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_DIRECT) != 0) {
		e = errno;
		set_err(err, errlen, "backing: %s does not support O_DIRECT (%s)", path, strerror(e));
		goto fail;
	}
	if (S_ISREG(st.st_mode)) {
		/* From here on the file's old content is gone (refused or not). */
		truncated = 1;
		if (ftruncate(fd, 0) != 0) {
			e = errno;
			set_err(err, errlen, "backing: %s: cannot truncate it: %s", path, strerror(e));
			goto fail;
		}
	}

	b = calloc(1, sizeof(*b));
	if (!b) {
		e = ENOMEM;
		set_err(err, errlen, "backing: %s: out of memory", path);
		goto fail;
	}
	b->fd = fd;
	{
		/* The readahead's key: the monotonic clock, so a file opened at
		 * the address of a closed one never matches its windows. */
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		b->id = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + 1;
	}
	b->named = S_ISREG(st.st_mode);
	b->align = dio_align(fd);
	b->limit_segs = (uint32_t)(limit_bytes / BACKING_SEG_SIZE < BACKING_MAX_SEGMENTS
					   ? limit_bytes / BACKING_SEG_SIZE : BACKING_MAX_SEGMENTS);
	b->max_segs = b->limit_segs ? b->limit_segs : BACKING_MAX_SEGMENTS;
	b->open = NO_SEG;
	b->can_punch = 1;
	b->st.budget_left = config->write_budget;
	b->buddy = config->buddy;
	if (!b->buddy) {
		b->buddy = buddy_create(BUDDY_RESERVE_MIN);
		b->own_buddy = 1;
		if (!b->buddy) {
			e = ENOMEM;
			set_err(err, errlen, "backing: %s: out of memory", path);
			goto fail;
		}
	}
	b->wbuf = buddy_alloc(b->buddy, BACKING_SEG_SIZE);
	probe = buddy_alloc(b->buddy, DIO_ALIGN_MAX);
	if (!b->wbuf || !probe) {
		e = ENOMEM;
		set_err(err, errlen, "backing: %s: out of memory", path);
		goto fail;
	}

	/* The probe: one aligned block written and read back with O_DIRECT. */
	for (uint32_t i = 0; i < b->align; i++)
		probe[i] = (unsigned char)(i * 7 + 1);
	e = -io_pwrite(b, probe, b->align, 0);
	if (!e) {
		memset(b->wbuf, 0, b->align);
		e = -io_pread(b, b->wbuf, b->align, 0);
		if (!e && memcmp(b->wbuf, probe, b->align) != 0)
			e = EIO;
	}
	if (e) {
		set_err(err, errlen, "backing: %s: an O_DIRECT write and read of %u bytes failed: %s",
			path, b->align, strerror(e));
		goto fail;
	}
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, b->align) != 0 &&
	    (errno == EOPNOTSUPP || errno == ENOSYS))
		b->can_punch = 0;
	if (ftruncate(fd, 0) != 0) {
		e = errno;
		set_err(err, errlen, "backing: %s: cannot truncate it: %s", path, strerror(e));
		goto fail;
	}
	buddy_free(b->buddy, probe, DIO_ALIGN_MAX);
	probe = NULL;

	pthread_mutex_init(&b->compact_lock, NULL);
	pthread_mutex_init(&b->wlock, NULL);
	pthread_mutex_init(&b->lock, NULL);
	zc_fault_init(&b->rfault, "ZC_FAULT_BACKING_READ", "backing");
	zc_fault_init(&b->wfault, "ZC_FAULT_BACKING_WRITE", "backing");
	if (err && errlen)
		err[0] = '\0';
	return b;

fail:
	if (b) {
		if (probe)
			buddy_free(b->buddy, probe, DIO_ALIGN_MAX);
		if (b->wbuf)
			buddy_free(b->buddy, b->wbuf, BACKING_SEG_SIZE);
		if (b->own_buddy)
			buddy_destroy(b->buddy);
		free(b);
	}
	if (fd >= 0) {
		if (truncated)
			(void)!ftruncate(fd, 0);	/* the probe's block, if written */
		close(fd);
	}
	errno = e;
	return NULL;
}

void backing_close(struct backing *b)
{
	if (!b)
		return;
	if (b->named)
		(void)!ftruncate(b->fd, 0);
	close(b->fd);
	for (uint32_t i = 0; i < b->nsegs; i++)
		free(b->segs[i].rec);
	free(b->segs);
	free(b->free_map);
	if (b->cbuf)
		buddy_free(b->buddy, b->cbuf, BACKING_SEG_SIZE);
	buddy_free(b->buddy, b->wbuf, BACKING_SEG_SIZE);
	if (b->own_buddy)
		buddy_destroy(b->buddy);
	pthread_mutex_destroy(&b->compact_lock);
	pthread_mutex_destroy(&b->wlock);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* ---- introspection -------------------------------------------------------------- */

static uint64_t meta_bytes_locked(const struct backing *b)
{
	return sizeof(*b) + (uint64_t)b->segs_cap * sizeof(struct seg) +
	       (uint64_t)b->segs_cap / 64 * sizeof(uint64_t) + b->table_bytes +
	       BACKING_SEG_SIZE + (b->cbuf ? BACKING_SEG_SIZE : 0);
}

void backing_stats(struct backing *b, struct backing_stats *out)
{
	uint64_t disk = 0;

	pthread_mutex_lock(&b->lock);
	*out = b->st;
	out->sparse_bytes = 0;
	for (uint32_t i = 0; i < b->nsegs; i++) {
		const struct seg *s = &b->segs[i];

		disk += s->wp;
		if (s->state == SEG_SEALED && !(s->flags & (SEG_BAD | SEG_VICTIM)) && s->live > 0 &&
		    s->live <= BACKING_COMPACT_LIVE_MAX)
			out->sparse_bytes += s->wp - s->live;
	}
	out->segments_used = b->used;
	out->segments_free = b->nfree;
	out->segments_open = b->open != NO_SEG;
	out->segments_limit = b->limit_segs;
	out->disk_bytes = disk;
	out->meta_bytes = meta_bytes_locked(b);
	pthread_mutex_unlock(&b->lock);
}

#define CHECK(cond, ...)							\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "backing_check: " __VA_ARGS__);		\
			fputc('\n', stderr);					\
			rc = -EUCLEAN;						\
			goto out;						\
		}								\
	} while (0)

int backing_check(struct backing *b)
{
	uint64_t objects = 0, live_total = 0, tables = 0;
	uint32_t used = 0, nfree = 0, open = 0;
	int rc = 0;

	pthread_mutex_lock(&b->wlock);
	pthread_mutex_lock(&b->lock);
	CHECK(b->nsegs <= b->segs_cap, "nsegs %u over capacity %u", b->nsegs, b->segs_cap);
	CHECK(b->nsegs <= b->max_segs, "nsegs %u beyond the limit %u", b->nsegs, b->max_segs);
	for (uint32_t i = b->nsegs; i < b->segs_cap; i++)
		CHECK(!map_test(b, i), "segment %u beyond nsegs is on the free map", i);
	for (uint32_t w = 0; w < b->free_hint && w < b->segs_cap / 64; w++)
		CHECK(b->free_map[w] == 0, "free segment below the free hint (word %u)", w);
	for (uint32_t i = 0; i < b->nsegs; i++) {
		const struct seg *s = &b->segs[i];
		uint64_t live = 0;
		uint32_t end = 0;

		CHECK(s->wp <= BACKING_SEG_SIZE && s->wp % b->align == 0,
		      "segment %u: append point %u", i, s->wp);
		CHECK((s->state == SEG_FREE) == map_test(b, i), "segment %u: state %u, free bit %d",
		      i, s->state, map_test(b, i));
		CHECK(s->state != SEG_RESERVED, "segment %u reserved with no write in flight", i);
		if (s->state == SEG_FREE) {
			nfree++;
			CHECK(!s->rec && !s->nrec && !s->cap && !s->live && !s->pins,
			      "free segment %u holds records, bytes or pins", i);
			CHECK(s->wp == 0 || (s->flags & SEG_PUNCH),
			      "free segment %u has bytes on disk and is not marked for punching", i);
			CHECK(b->open != i, "free segment %u is the open one", i);
			continue;
		}
		used++;
		CHECK(!(s->flags & SEG_PUNCH), "segment %u in use marked for punching", i);
		CHECK(!(s->flags & SEG_VICTIM) || s->pins > 0, "victim %u not pinned", i);
		CHECK(s->nrec <= s->cap && (s->cap == 0) == (s->rec == NULL),
		      "segment %u: %u records, capacity %u", i, s->nrec, s->cap);
		for (uint32_t k = 0; k < s->nrec; k++) {
			uint32_t off = s->rec[k].off * BACKING_UNIT;
			uint32_t units = s->rec[k].units & ~REC_LIVE;

			CHECK(units >= REC_MIN_UNITS && units <= BACKING_REC_UNITS_MAX,
			      "segment %u record %u: %u units", i, k, units);
			CHECK(off >= end, "segment %u record %u at %u overlaps the one before (end %u)",
			      i, k, off, end);
			end = off + units * BACKING_UNIT;
			CHECK(end <= s->wp, "segment %u record %u ends at %u beyond the append point %u",
			      i, k, end, s->wp);
			if (s->rec[k].units & REC_LIVE) {
				live += units * BACKING_UNIT;
				objects++;
			}
		}
		CHECK(live == s->live, "segment %u: live bytes %u, its live records %llu", i,
		      s->live, (unsigned long long)live);
		live_total += live;
		tables += (uint64_t)s->cap * sizeof(struct rec);
		if (s->state == SEG_OPEN) {
			open++;
			CHECK(b->open == i, "segment %u open but b->open is %u", i, b->open);
			CHECK(BACKING_SEG_SIZE - s->wp >= REC_MIN_UNITS * BACKING_UNIT,
			      "open segment %u is full", i);
		} else {
			CHECK(s->state == SEG_SEALED, "segment %u: bad state %u", i, s->state);
			CHECK(s->live > 0 || s->pins > 0,
			      "sealed segment %u with no live record nor pin is not free", i);
		}
	}
	CHECK(open == (b->open != NO_SEG), "%u open segments, b->open %u", open, b->open);
	CHECK(used == b->used && nfree == b->nfree, "used %u/%u, free %u/%u", used, b->used,
	      nfree, b->nfree);
	CHECK(used <= b->max_segs, "%u segments used beyond the limit %u", used, b->max_segs);
	CHECK(objects == b->st.objects, "objects %llu, counted %llu", (unsigned long long)objects,
	      (unsigned long long)b->st.objects);
	CHECK(live_total == b->st.live_bytes, "live bytes %llu, counted %llu",
	      (unsigned long long)live_total, (unsigned long long)b->st.live_bytes);
	CHECK(tables == b->table_bytes, "record tables %llu bytes, counted %llu",
	      (unsigned long long)tables, (unsigned long long)b->table_bytes);
	CHECK(b->st.file_bytes <= seg_base(b->nsegs), "file size %llu beyond %u segments",
	      (unsigned long long)b->st.file_bytes, b->nsegs);
out:
	pthread_mutex_unlock(&b->lock);
	pthread_mutex_unlock(&b->wlock);
	return rc;
}

/* ---- fault injection ----------------------------------------------------------- */

int backing_fault_set(struct backing *b, enum backing_fault which, uint64_t nth, uint64_t every)
{
	if (which != BACKING_FAULT_READ && which != BACKING_FAULT_WRITE)
		return -EINVAL;
	zc_fault_arm(which == BACKING_FAULT_READ ? &b->rfault : &b->wfault, nth, every);
	return ZC_FAULT_SET_RESULT;
}

uint64_t backing_fault_count(struct backing *b, enum backing_fault which)
{
	return zc_fault_count(which == BACKING_FAULT_READ ? &b->rfault : &b->wfault);
}
