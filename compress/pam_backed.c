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
 */
#include "compress/pam_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PAM_FORM_XCF 0x10u	/* | codec type */
#define PAM_FORM_RAW 0x20u
/* The largest record payload read back: a raw page's form. */
#define PAM_FORM_BUF PAM_WB_FORM_MAX
_Static_assert(PAM_WB_FORM_MAX <= BACKING_OBJ_MAX, "a stored form fits a backing record");

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
	if ((f[0] == (PAM_FORM_XCF | CODEC_LZ4) || f[0] == (PAM_FORM_XCF | CODEC_ZSTD)) &&
	    len - 1 <= XCF_MAX_SIZE)
		return 0;
	return -EINVAL;
}

int pam_wb_write(struct pam *pam, const void *const forms[], const uint32_t lens[],
		 unsigned n, pam_pampd out[])
{
	struct pam_slot *s = pam_my_slot(pam);
	struct backing_obj *objs;
	uint64_t *locs, bytes = 0;
	int rc;

	if (!pam->backing)
		return -EINVAL;
	if (n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++)
		if (pam_form_valid(forms[i], lens[i]))
			return -EINVAL;
	objs = malloc(sizeof(*objs) * n);
	locs = malloc(sizeof(*locs) * n);
	if (!objs || !locs) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		objs[i].data = forms[i];
		objs[i].len = lens[i];
		objs[i].tag = pam->backing_tag;
	}
	rc = backing_write(pam->backing, objs, n, locs);
	if (rc < 0) {
		pam_count(s, PAM_C_WB_FAILED, n);
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		out[i] = locs[i] << PAM_BACKED_LOC_SHIFT |
			 (uint64_t)pam_backed_check(locs[i]) << PAM_BACKED_CHECK_SHIFT |
			 PAM_FILL_BACKED << PAM_FILL_MODE_SHIFT | PAM_KIND_FILL;
		bytes += backing_loc_bytes(locs[i]);
	}
	pam_count(s, PAM_C_BACKED, n);
	pam_count(s, PAM_C_BACKED_BYTES, (int64_t)bytes);
	pam_count(s, PAM_C_WB_PAGES, n);
	pam_count(s, PAM_C_PUTS, n);
out:
	free(objs);
	free(locs);
	return rc;
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

int pam_promote(struct pam *pam, pam_pampd p, const void *page, unsigned codec,
		pam_pampd *out)
{
	int rc;

	if ((p & PAM_KIND_MASK) != PAM_KIND_FILL ||
	    ((p >> PAM_FILL_MODE_SHIFT) & PAM_FILL_MODE_MASK) != PAM_FILL_BACKED)
		return 0;
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
	pam_count(s, PAM_C_BACKED_BYTES, -(int64_t)backing_loc_bytes(loc));
}
