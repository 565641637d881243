/* pam_backed.c - pages of the PAM backend kept in the backing file: the
 * backed kind of pampd (writeback, reading back, promotion, freeing).
 *
 * Design note.  The contract is pam.h ("The backing file").  A backed
 * pampd is the record's location and a 4-bit check, nothing else: a page
 * moved to the file leaves no byte of PAM metadata in RAM (tmem's slot
 * holds the pampd).  The record's payload is the page's stored form, so
 * writeback neither decompresses nor recompresses:
 *
 *     byte 0     PAM_FORM_XCF | codec type   (a compressed page)
 *                PAM_FORM_RAW                (a raw page)
 *     bytes 1..  the compressed bytes, or the 4096 bytes of the raw page
 *
 * Reading runs in the two halves every pampd has: pam_get_locked pins the
 * location (the caller's lock - tmem's bucket lock - keeps the pampd
 * alive, the pin keeps the segment from being reused after the lock is
 * dropped), pam_decode preads the record with no lock held, unpins and
 * decodes.  Every get_locked that returned 0 is followed by exactly one
 * decode (pam.h), so every pin is dropped.
 *
 * Promotion recompresses the page that was just read with the pool's
 * codec (pam_put): the read already paid for the decompression, and the
 * page then takes the form any put would give it.
 *
 * Units.  A unit goes whole: staging a page of it writes a small form that
 * names the descriptor and takes a reference (cheap, under the bucket
 * lock); pam_wb_write reads each unit named once (its xcf chunks, no lock
 * held), writes its payload as one record beside the single pages' forms,
 * and makes a new descriptor for it (nchunks 0, head = the record's
 * location, one reference per page of the batch), so its pages' new
 * pampds are ordinary unit pampds and pam_unit.c reads them through its
 * cache, fetching the payload from the file (_pam_backed_unit_read).  The
 * old unit keeps its pages until tmem swaps them; the staging references
 * go at the end of pam_wb_write whatever happened.
 */
#include "compress/pam_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PAM_FORM_XCF 0x10u	/* | codec type */
#define PAM_FORM_RAW 0x20u
#define PAM_FORM_UNIT 0x30u	/* a page of a unit: a reference, see below */

/* The staged form of a unit page: the header, the slot, the descriptor
 * (a reference taken at staging, dropped by pam_wb_write) and its id. */
struct pam_unit_form {
	unsigned char kind;
	unsigned char slot;
	unsigned char pad[6];
	struct pam_unit *u;
	uint64_t id;
};
#define PAM_UNIT_FORM_SIZE sizeof(struct pam_unit_form)
/* The largest record payload read back: a raw page's form and its key. */
#define PAM_FORM_BUF (PAM_WB_FORM_MAX + PAM_WB_KEY_SIZE)
_Static_assert(PAM_FORM_BUF <= BACKING_OBJ_MAX, "a stored form fits a backing record");
_Static_assert(PAM_UNIT_MAX_CLEN + PAM_WB_KEY_SIZE <= BACKING_OBJ_MAX,
	       "a unit's payload and its key fit a backing record");
_Static_assert(PAM_FORM_BUF <= PAM_EXPORT_BUF, "pam_export's buffer holds a record");

int pam_set_backing(struct pam *pam, struct backing *b)
{
	if (pam->backing && b)
		return -EBUSY;
	pam->backing = b;
	/* Unit ids already start at the monotonic clock: a fresh one is a
	 * number no other backend of this process uses. */
	pam->backing_tag = atomic_fetch_add_explicit(&pam->unit_ids, 1, memory_order_relaxed);
	atomic_store_explicit(&pam->promote, 0, memory_order_relaxed);
	return 0;
}

struct backing *pam_backing(struct pam *pam)
{
	return pam->backing;
}

void pam_backing_promote(struct pam *pam, uint64_t bytes)
{
	atomic_store_explicit(&pam->promote, bytes > INT64_MAX ? INT64_MAX : (int64_t)bytes,
			      memory_order_relaxed);
}

/* ---- writeback ------------------------------------------------------------- */

int pam_wb_stage(struct pam *pam, pam_pampd p, void *buf, size_t cap)
{
	struct pam_pampd_info info;
	unsigned char *out = buf;
	int n;

	if (!pam->backing)
		return 0;
	if (_pam_decode_pampd(pam, p, &info))
		return -EIO;
	switch (info.kind) {
	case PAM_KIND_RAW:
		if (cap < 1 + PAM_PAGE_SIZE)
			return -ENOSPC;
		out[0] = PAM_FORM_RAW;
		memcpy(out + 1, (const void *)(uintptr_t)(p & PAM_RAW_ADDR_MASK), PAM_PAGE_SIZE);
		return 1 + (int)PAM_PAGE_SIZE;
	case PAM_KIND_XCF:
		if (cap < 1 + (size_t)info.size)
			return -ENOSPC;
		n = xcf_read(pam->slot[info.pool].xcf, pam_xcf_handle(p), out + 1);
		if (n != (int)info.size)
			return -EIO;
		out[0] = (unsigned char)(PAM_FORM_XCF | info.codec_type);
		return 1 + n;
	case PAM_KIND_UNIT: {
		/* A reference to the unit: pam_wb_write reads its payload once
		 * for all its pages of the batch, with no lock held. */
		struct pam_unit_form f = { .kind = PAM_FORM_UNIT };
		struct pam_unit *u = pam_unit_of(p);

		if (u->nchunks == 0)
			return 0;	/* already in the file */
		if (cap < PAM_UNIT_FORM_SIZE)
			return -ENOSPC;
		f.slot = (unsigned char)((p >> PAM_UNIT_SLOT_SHIFT) & (PAM_UNIT_PAGES - 1));
		f.u = u;
		f.id = u->id;
		atomic_fetch_add_explicit(&u->refs, 1, memory_order_relaxed);
		memcpy(out, &f, sizeof(f));
		return (int)PAM_UNIT_FORM_SIZE;
	}
	default:
		return 0;
	}
}

/* Check a stored form's header and length; returns 0 or -EINVAL. */
static int pam_form_valid(const unsigned char *f, size_t len)
{
	if (len < 2)
		return -EINVAL;
	if (f[0] == PAM_FORM_RAW)
		return len == 1 + PAM_PAGE_SIZE ? 0 : -EINVAL;
	if (f[0] == PAM_FORM_UNIT)
		return len == PAM_UNIT_FORM_SIZE ? 0 : -EINVAL;
	if ((f[0] == (PAM_FORM_XCF | CODEC_LZ4) || f[0] == (PAM_FORM_XCF | CODEC_ZSTD)) &&
	    len - 1 <= XCF_MAX_SIZE)
		return 0;
	return -EINVAL;
}

/* One unit of a batch: its old descriptor, its payload read from xcf, the
 * new descriptor and how many of the batch's pages are its. */
struct pam_wb_unit {
	struct pam_unit *old, *nu;
	unsigned char *stored;	/* table + payload, malloc */
	unsigned pages;
	unsigned obj;		/* its index in objs */
};

static struct pam_unit_form pam_unit_form_of(const void *form)
{
	struct pam_unit_form f;

	memcpy(&f, form, sizeof(f));
	return f;
}

int pam_wb_write(struct pam *pam, const void *const forms[], const uint32_t lens[],
		 const void *keys, unsigned n, pam_pampd out[])
{
	struct pam_slot *s = pam_my_slot(pam);
	struct pam_wb_unit *wu = NULL;
	struct backing_obj *objs = NULL;
	unsigned nu = 0, nobj = 0, *oi = NULL;
	uint64_t *locs = NULL, bytes = 0;
	int rc = 0;

	if (n == 0)
		return 0;
	objs = malloc(sizeof(*objs) * n);
	locs = malloc(sizeof(*locs) * n);
	oi = malloc(sizeof(*oi) * n);
	wu = calloc(n, sizeof(*wu));
	if (!objs || !locs || !oi || !wu) {
		rc = -ENOMEM;
		goto out;
	}
	if (!pam->backing || !keys)
		rc = -EINVAL;
	for (unsigned i = 0; i < n && rc == 0; i++)
		if (pam_form_valid(forms[i], lens[i]))
			rc = -EINVAL;
	/* Objects: each single page's form, each unit's payload once. */
	for (unsigned i = 0; i < n && rc == 0; i++) {
		const unsigned char *f = forms[i];
		const unsigned char *key = (const unsigned char *)keys + (size_t)i * PAM_WB_KEY_SIZE;
		struct pam_unit_form uf;
		unsigned k;

		if (f[0] != PAM_FORM_UNIT) {
			objs[nobj] = (struct backing_obj){ f, lens[i], pam->backing_tag, key,
							   PAM_WB_KEY_SIZE };
			oi[i] = nobj++;
			continue;
		}
		uf = pam_unit_form_of(f);
		for (k = 0; k < nu && wu[k].old != uf.u; k++)
			;
		if (k == nu) {
			struct pam_unit *u = uf.u;
			uint32_t table = 8u * (u->nchunks - 1u);

			wu[nu].old = u;
			wu[nu].stored = malloc(PAM_UNIT_STAGING_BYTES(u->clen, u->nchunks));
			if (!wu[nu].stored) {
				rc = -ENOMEM;
				break;
			}
			nu++;
			if (_pam_unit_read_stored(pam, u, wu[k].stored) < 0) {
				rc = -EIO;
				break;
			}
			wu[k].obj = nobj;
			objs[nobj++] = (struct backing_obj){ wu[k].stored + table, u->clen,
							     pam->backing_tag, key,
							     PAM_WB_KEY_SIZE };
		}
		wu[k].pages++;
		oi[i] = k;
	}
	if (rc == 0)
		rc = backing_write(pam->backing, objs, nobj, locs);
	if (rc < 0)
		goto fail;
	/* The new descriptors: the old ones' fields, the payload in the file. */
	for (unsigned k = 0; k < nu; k++) {
		struct pam_unit *u = slab_alloc(pam->units);

		if (u && (uint64_t)(uintptr_t)u >> PAM_UNIT_ADDR_LIMIT_BITS) {
			slab_free(pam->units, u);
			u = NULL;
		}
		if (!u) {
			for (unsigned j = 0; j < k; j++)
				slab_free(pam->units, wu[j].nu);
			for (unsigned j = 0; j < nobj; j++)
				backing_free(pam->backing, locs[j]);
			rc = -ENOMEM;
			goto fail;
		}
		memset(u, 0, sizeof(*u));
		u->map = wu[k].old->map;
		u->type = wu[k].old->type;
		u->pool = 0;
		u->clen = wu[k].old->clen;
		u->nchunks = 0;
		u->magic = PAM_UNIT_MAGIC;
		u->id = atomic_fetch_add_explicit(&pam->unit_ids, 1, memory_order_relaxed);
		u->head = (xcf_handle)locs[wu[k].obj];
		atomic_init(&u->refs, wu[k].pages);
		wu[k].nu = u;
	}
	for (unsigned i = 0; i < n; i++) {
		const unsigned char *f = forms[i];

		if (f[0] == PAM_FORM_UNIT) {
			out[i] = _pam_unit_encode(wu[oi[i]].nu, pam_unit_form_of(f).slot);
			continue;
		}
		out[i] = locs[oi[i]] << PAM_BACKED_LOC_SHIFT |
			 (uint64_t)pam_backed_check(locs[oi[i]]) << PAM_BACKED_CHECK_SHIFT |
			 PAM_FILL_BACKED << PAM_FILL_MODE_SHIFT | PAM_KIND_FILL;
	}
	for (unsigned j = 0; j < nobj; j++)
		bytes += backing_loc_bytes(locs[j]);
	pam_count(s, PAM_C_BACKED, n);
	pam_count(s, PAM_C_BACKED_BYTES, (int64_t)bytes);
	pam_count(s, PAM_C_BACKED_RECS, nobj);
	pam_count(s, PAM_C_BACKED_UNITS, nu);
	pam_count(s, PAM_C_WB_PAGES, n);
	pam_count(s, PAM_C_PUTS, n);
	goto out;
fail:
	pam_count(s, PAM_C_WB_FAILED, n);
out:
	/* The references staging took on the old units, whatever happened. */
	for (unsigned i = 0; i < n && objs; i++) {
		const unsigned char *f = forms[i];

		if (lens[i] == PAM_UNIT_FORM_SIZE && f[0] == PAM_FORM_UNIT)
			_pam_unit_unref(pam, pam_unit_form_of(f).u);
	}
	for (unsigned k = 0; wu && k < nu; k++)
		free(wu[k].stored);
	free(wu);
	free(oi);
	free(objs);
	free(locs);
	return rc;
}

/* ---- units in the file ----------------------------------------------------- */

int _pam_backed_unit_read(struct pam *pam, const struct pam_unit *u, void *buf, size_t cap)
{
	struct pam_slot *s = pam_my_slot(pam);
	uint64_t loc = pam_backed_unit_loc(u);
	int n;

	/* Compaction may move the record meanwhile (pam_relocate sets the new
	 * head before the old record is freed): pin the location read, and
	 * read it only if the head still names it then - the pinned record
	 * is the unit's and stays readable even if it is freed after.  A pin
	 * that fails, or a head that moved, means a newer location. */
	for (;;) {
		uint64_t now;

		n = backing_pin(pam->backing, loc);
		now = pam_backed_unit_loc(u);
		if (n == 0 && now == loc)
			break;
		if (n == 0)
			backing_unpin(pam->backing, loc);
		else if (now == loc)
			break;	/* not live, and not moved: a bad location (EIO below) */
		loc = now;
	}
	pam_count(s, PAM_C_BACKED_READS, 1);
	if (n == 0) {
		n = backing_read(pam->backing, loc, pam->backing_tag, buf, cap);
		backing_unpin(pam->backing, loc);
	}
	if (n != (int)(u->clen + PAM_WB_KEY_SIZE)) {
		pam_count(s, PAM_C_BACKED_READ_FAILED, 1);
		return n == -ENOMEM ? -ENOMEM : -EIO;
	}
	return 0;
}

void _pam_backed_unit_destroy(struct pam *pam, struct pam_unit *u)
{
	struct pam_slot *s = pam_my_slot(pam);
	uint64_t loc = pam_backed_unit_loc(u);

	if (backing_free(pam->backing, loc) < 0)
		pam_count(s, PAM_C_BAD_FREES, 1);
	pam_count(s, PAM_C_BACKED_BYTES, -(int64_t)backing_loc_bytes(loc));
	pam_count(s, PAM_C_BACKED_RECS, -1);
	pam_count(s, PAM_C_BACKED_UNITS, -1);
	u->magic = 0;
	slab_free(pam->units, u);
}

_Static_assert(BACKING_LOC_BITS + PAM_BACKED_LOC_SHIFT == 64, "a location fills bits 63..8");

/* ---- reading --------------------------------------------------------------- */

int _pam_backed_get_locked(struct pam *pam, pam_pampd p)
{
	if (backing_pin(pam->backing, pam_backed_loc(p)) < 0) {
		pam_count(pam_my_slot(pam), PAM_C_CORRUPT, 1);
		return -EIO;
	}
	return 0;
}

int _pam_backed_decode(struct pam *pam, pam_pampd p, void *page)
{
	struct pam_slot *s = pam_my_slot(pam);
	unsigned char buf[PAM_FORM_BUF];
	struct pam_pampd_info info;
	int n, rc;

	/* The check bits again: decode may only trust p's value. */
	if (_pam_decode_pampd(pam, p, &info) || info.kind != PAM_KIND_BACKED) {
		pam_count(s, PAM_C_CORRUPT, 1);
		return -EIO;
	}
	n = backing_read(pam->backing, info.loc, pam->backing_tag, buf, sizeof(buf));
	backing_unpin(pam->backing, info.loc);
	pam_count(s, PAM_C_BACKED_READS, 1);
	if (n >= 0)	/* the form, less the owner's key after it */
		n = n > (int)PAM_WB_KEY_SIZE ? n - (int)PAM_WB_KEY_SIZE : -EIO;
	if (n < 0 || pam_form_valid(buf, (size_t)n)) {
		pam_count(s, PAM_C_BACKED_READ_FAILED, 1);
		return n == -ENOMEM ? -ENOMEM : -EIO;
	}
	if (buf[0] == PAM_FORM_RAW) {
		memcpy(page, buf + 1, PAM_PAGE_SIZE);
		return 0;
	}
	rc = codec_decompress(buf[0] & 3u, buf + 1, (size_t)n - 1, page, PAM_PAGE_SIZE);
	if (rc == -EIO) {
		pam_count(s, PAM_C_CORRUPT, 1);
		pam_count(s, PAM_C_BACKED_READ_FAILED, 1);
	}
	return rc;
}

int _pam_backed_export(struct pam *pam, pam_pampd p, struct pam_blob *out, void *buf)
{
	struct pam_slot *s = pam_my_slot(pam);
	struct pam_pampd_info info;
	unsigned char *f = buf;
	int n;

	if (_pam_decode_pampd(pam, p, &info) || info.kind != PAM_KIND_BACKED)
		return -EIO;
	n = backing_read(pam->backing, info.loc, pam->backing_tag, buf, PAM_FORM_BUF);
	pam_count(s, PAM_C_BACKED_READS, 1);
	if (n >= 0)	/* the form, less the owner's key after it */
		n = n > (int)PAM_WB_KEY_SIZE ? n - (int)PAM_WB_KEY_SIZE : -EIO;
	if (n < 0 || pam_form_valid(f, (size_t)n) || f[0] == PAM_FORM_UNIT) {
		pam_count(s, PAM_C_BACKED_READ_FAILED, 1);
		return n == -ENOMEM ? -ENOMEM : -EIO;
	}
	/* The form's bytes move to the front: out->data is buf itself. */
	if (f[0] == PAM_FORM_RAW) {
		out->kind = PAM_KIND_RAW;
	} else {
		out->kind = PAM_KIND_XCF;
		out->codec_type = f[0] & 3u;
	}
	memmove(f, f + 1, (size_t)n - 1);
	out->len = (uint32_t)n - 1;
	out->data = buf;
	return 0;
}

int pam_promote(struct pam *pam, pam_pampd p, const void *page, unsigned codec,
		pam_pampd *out)
{
	unsigned mode = (unsigned)((p >> PAM_FILL_MODE_SHIFT) & PAM_FILL_MODE_MASK);
	int rc;

	if ((p & PAM_KIND_MASK) != PAM_KIND_FILL || mode < PAM_FILL_UNIT)
		return 0;
	if (mode == PAM_FILL_UNIT) {
		/* A unit page: only the one this thread just read from a unit
		 * in the file (pam_note_unit_read), once. */
		struct pam_tls *t = &_pam_tls;

		if (!t->backed_unit_page || t->backed_unit_page != p)
			return 0;
		t->backed_unit_page = 0;
	}
	/* A page counts as a whole page against the allowance (it may be
	 * stored raw). */
	if (atomic_fetch_sub_explicit(&pam->promote, PAM_PAGE_SIZE, memory_order_relaxed) <
	    (int64_t)PAM_PAGE_SIZE)
		return 0;
	rc = pam_put(pam, page, codec, out);
	if (rc < 0)
		return rc;
	pam_count(pam_my_slot(pam), PAM_C_PROMOTED, 1);
	return 1;
}

/* ---- compaction ------------------------------------------------------------ */

const void *pam_wb_key(const void *data, uint32_t len)
{
	if (!data || len < PAM_WB_KEY_SIZE + 1)
		return NULL;
	return (const unsigned char *)data + len - PAM_WB_KEY_SIZE;
}

int pam_relocate(struct pam *pam, pam_pampd p, uint64_t old_loc, uint64_t new_loc,
		 pam_pampd *out)
{
	struct pam_pampd_info info;
	struct pam_unit *u;

	if (!pam->backing || old_loc == new_loc || _pam_decode_pampd(pam, p, &info))
		return 0;
	if (info.kind == PAM_KIND_BACKED) {
		if (info.loc != old_loc)
			return 0;
		*out = new_loc << PAM_BACKED_LOC_SHIFT |
		       (uint64_t)pam_backed_check(new_loc) << PAM_BACKED_CHECK_SHIFT |
		       PAM_FILL_BACKED << PAM_FILL_MODE_SHIFT | PAM_KIND_FILL;
		return 1;
	}
	if (info.kind != PAM_KIND_UNIT)
		return 0;
	u = pam_unit_of(p);	/* alive: the caller's lock keeps p's reference */
	if (u->nchunks != 0 || pam_backed_unit_loc(u) != old_loc)
		return 0;
	/* Every page of the unit sees the new record at once; a reader that
	 * pinned the old one still reads it (_pam_backed_unit_read). */
	__atomic_store_n(&u->head, (xcf_handle)new_loc, __ATOMIC_RELEASE);
	*out = p;
	return 1;
}

/* ---- freeing --------------------------------------------------------------- */

void _pam_backed_free(struct pam *pam, pam_pampd p)
{
	struct pam_slot *s = pam_my_slot(pam);
	uint64_t loc = pam_backed_loc(p);

	if (backing_free(pam->backing, loc) < 0) {
		pam_count(s, PAM_C_BAD_FREES, 1);
		return;
	}
	pam_count(s, PAM_C_BACKED, -1);
	pam_count(s, PAM_C_BACKED_RECS, -1);
	pam_count(s, PAM_C_BACKED_BYTES, -(int64_t)backing_loc_bytes(loc));
}
