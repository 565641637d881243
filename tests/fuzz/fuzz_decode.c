/* tests/fuzz/fuzz_decode.c - the read path of the store fed corrupted data
 * and corrupted pampds, through PAM's public API (compress/pam.h) and the
 * codecs (compress/codec.h).
 *
 * The promise under test (pam.h, codec.h): corrupt compressed data gives
 * -EIO, never a crash, a read outside the compressed bytes or a write
 * outside the page; a corrupt pampd gives -EIO as far as its checks reach
 * (kind, fill mode, codec type, size, pool index, the check bits of a raw
 * page's address or a unit's descriptor), and a pampd that passes them but
 * names memory PAM never stored is trusted by contract, so this target
 * never hands PAM one of those (pam_pampd_kind tells a unit pampd from
 * its bits alone; this target stores no units, so it reads none).
 *
 * Input, first byte = mode:
 *   0  the rest is a compressed stream: decoded with each codec type by
 *      codec_decompress (into a page, and into an exact-size buffer of a
 *      length from the input) and by pam_decode under a pampd that names
 *      that size.  The stream sits in a heap buffer of exactly its length,
 *      so AddressSanitizer catches any read past it.
 *   1  a page is built from the input (copied text, a fill word, or noise)
 *      and stored with pam_put (lz4 or zstd); it must read back exactly.
 *      Then a sequence of corruptions, each followed by a read:
 *        - XOR a mask into the pampd: whatever the result, pam_get returns
 *          -EIO, or the page when the pampd still names the stored object
 *          with its true size and codec, or a same-filled page when the
 *          result is a same-filled pampd; pam_size, pam_pampd_info agree;
 *          pam_free of a pampd that fails the checks changes nothing;
 *        - overwrite or XOR bytes of the stored compressed object itself
 *          (xcf_write on the pool the pampd names): pam_get returns 0 or
 *          -EIO, and a good pampd with restored bytes reads back exactly.
 *   At the end the page is freed and pam_check passes.
 */
#include <errno.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "alloc/xcf.h"
#include "compress/codec.h"
#include "compress/pam.h"
#include "fuzz.h"

#define PAGE PAM_PAGE_SIZE

/* pampd layout (pam.h): what the target needs to tell which object a
 * pampd that passes PAM's checks names. */
#define KIND_MASK 3ull
#define RAW_ADDR_MASK (~(uint64_t)(PAGE - 1))
#define XCF_HANDLE_SHIFT 20
#define XCF_SIZE_SHIFT 4
#define XCF_POOL_SHIFT 16

/* One store for the whole run (libFuzzer calls us millions of times);
 * every input frees what it stored. */
static struct buddy *g_b;
static struct sgv_ctx *g_sgv;
static struct pam *g_pam;

static void setup(void)
{
	struct pam_config cfg = { .pools = 2 };

	if (g_pam)
		return;
	g_b = buddy_create(BUDDY_DEFAULT_RESERVE);
	FZ_ASSERT(g_b, "buddy_create");
	g_sgv = sgv_ctx_create(g_b);
	FZ_ASSERT(g_sgv, "sgv_ctx_create");
	g_pam = pam_create(&cfg, g_b, g_sgv, NULL);
	FZ_ASSERT(g_pam, "pam_create");
}

/* ---- mode 0: raw streams -------------------------------------------------- */

static void decode_stream(struct fz *f)
{
	static unsigned char page[PAGE];
	size_t len = f->n;
	size_t dstlen;
	unsigned char *src, *dst;

	if (len < 3)
		return;
	dstlen = 1 + (size_t)fz_u16(f) % PAGE;
	len = f->n;		/* >= 1 */
	src = malloc(len);
	dst = malloc(dstlen);
	FZ_ASSERT(src && dst, "out of memory");
	memcpy(src, f->p, len);
	for (unsigned type = CODEC_LZ4; type <= CODEC_ZSTD; type++) {
		unsigned id = codec_make((enum codec_type)type, 1);
		int rc = codec_decompress(id, src, len, page, PAGE);

		FZ_ASSERT(rc == 0 || rc == -EIO, "codec_decompress %d", rc);
		rc = codec_decompress(id, src, len, dst, dstlen);
		FZ_ASSERT(rc == 0 || rc == -EIO, "codec_decompress into %zu: %d", dstlen, rc);
		if (len < (1u << 12)) {
			/* A compressed pampd of this size (pool 0, a handle
			 * pam_decode never looks at). */
			pam_pampd p = (uint64_t)1 << XCF_HANDLE_SHIFT | (uint64_t)len << XCF_SIZE_SHIFT |
				      (uint64_t)type << 2 | KIND_MASK;

			rc = pam_decode(g_pam, p, src, len, page);
			FZ_ASSERT(rc == 0 || rc == -EIO, "pam_decode %d", rc);
			/* The wrong length is caught before any byte is read. */
			FZ_ASSERT(pam_decode(g_pam, p, src, len - 1, page) == -EIO, "len mismatch");
			/* Not a compressed pampd. */
			FZ_ASSERT(pam_decode(g_pam, p & ~KIND_MASK, src, len, page) == -EIO, "kind 0");
		}
	}
	free(src);
	free(dst);
}

/* ---- mode 1: stored pages and corruption ----------------------------------- */

static void make_page(struct fz *f, unsigned char *page)
{
	uint8_t kind = fz_u8(f) % 4;

	switch (kind) {
	case 0: {
		/* Text-like: the input's next bytes repeated (compresses). */
		size_t n = 1 + fz_u8(f) % 64;
		unsigned char unit[64];

		for (size_t i = 0; i < n; i++)
			unit[i] = fz_u8(f);
		for (size_t i = 0; i < PAGE; i++)
			page[i] = unit[i % n];
		break;
	}
	case 1: {
		/* Same-filled with a word from the input. */
		uint64_t w = fz_u64(f);

		for (size_t i = 0; i < PAGE; i += 8)
			memcpy(page + i, &w, 8);
		break;
	}
	case 2:
		/* Noise: stored raw. */
		fz_fill(page, PAGE, fz_u64(f));
		break;
	default: {
		/* Half noise, half zeros: compresses to about half a page. */
		size_t n = (size_t)fz_u16(f) % PAGE;

		memset(page, 0, PAGE);
		fz_fill(page, n, fz_u64(f));
		break;
	}
	}
}

/* Read pampd q, which may be corrupt, and check what came back against
 * what q can mean (see the top).  p is the pampd stored for page `want`;
 * `intact` says whether its stored bytes are still the original ones. */
static void read_corrupt(pam_pampd p, pam_pampd q, const unsigned char *want, int intact)
{
	static unsigned char out[PAGE];
	struct pam_pampd_info pi, qi;
	int rc;

	FZ_ASSERT(pam_pampd_info(g_pam, p, &pi) == 0, "the stored pampd is valid");
	/* A well-formed unit pampd names a descriptor by address (trusted, as
	 * a raw page's address is); none was stored here. */
	if (pam_pampd_kind(g_pam, q) == PAM_KIND_UNIT)
		return;
	if (pam_pampd_info(g_pam, q, &qi) != 0) {
		struct pam_stats before, after;

		FZ_ASSERT(qi.kind == PAM_KIND_NONE, "a corrupt pampd has kind NONE");
		FZ_ASSERT(pam_size(g_pam, q) == 0, "pam_size of a corrupt pampd");
		FZ_ASSERT(pam_get(g_pam, q, out) == -EIO, "pam_get of a corrupt pampd");
		pam_stats(g_pam, &before);
		pam_free(g_pam, q);
		pam_stats(g_pam, &after);
		/* pam_free(0) does nothing; any other corrupt pampd is
		 * counted and otherwise ignored. */
		FZ_ASSERT(after.bad_frees == before.bad_frees + (q != 0) &&
			  after.pages == before.pages,
			  "pam_free of a corrupt pampd changed something");
		return;
	}
	switch (qi.kind) {
	case PAM_KIND_FILL:
		FZ_ASSERT(pam_get(g_pam, q, out) == 0, "same-filled pampd");
		for (size_t i = 0; i < PAGE; i += 8)
			FZ_ASSERT(memcmp(out + i, &qi.fill, 8) == 0, "fill word");
		FZ_ASSERT(pam_size(g_pam, q) == 0, "same-filled pages hold no memory");
		return;
	case PAM_KIND_RAW:
		/* Trusted: only the stored page's own address may be read. */
		if (pi.kind != PAM_KIND_RAW || (q & RAW_ADDR_MASK) != (p & RAW_ADDR_MASK))
			return;
		FZ_ASSERT(pam_get(g_pam, q, out) == 0 && memcmp(out, want, PAGE) == 0,
			  "raw page read through a pampd with the same address");
		return;
	default:
		/* Trusted: only the stored object's (pool, handle). */
		if (pi.kind != PAM_KIND_XCF || qi.pool != pi.pool ||
		    (q >> XCF_HANDLE_SHIFT) != (p >> XCF_HANDLE_SHIFT))
			return;
		rc = pam_get(g_pam, q, out);
		if (qi.size != pi.size) {
			FZ_ASSERT(rc == -EIO, "a wrong size read %d", rc);
		} else if (qi.codec_type == pi.codec_type && intact) {
			FZ_ASSERT(rc == 0 && memcmp(out, want, PAGE) == 0, "the same object");
		} else {
			FZ_ASSERT(rc == 0 || rc == -EIO, "another codec: %d", rc);
		}
		return;
	}
}

static void store_and_corrupt(struct fz *f)
{
	static unsigned char page[PAGE], out[PAGE];
	static unsigned char orig[XCF_MAX_SIZE], bad[XCF_MAX_SIZE];
	unsigned codec = fz_u8(f) & 1 ? codec_make(CODEC_ZSTD, 1 + fz_u8(f) % 5)
				       : codec_make(CODEC_LZ4, 1 + fz_u8(f) % 4);
	struct pam_pampd_info info;
	struct xcf_pool *xp = NULL;
	xcf_handle h = 0;
	int intact = 1;
	pam_pampd p;
	int rc;

	make_page(f, page);
	rc = pam_put(g_pam, page, codec, &p);
	FZ_ASSERT(rc == 0, "pam_put %d", rc);
	FZ_ASSERT(pam_get(g_pam, p, out) == 0 && memcmp(out, page, PAGE) == 0,
		  "a stored page reads back");
	FZ_ASSERT(pam_pampd_info(g_pam, p, &info) == 0, "pam_pampd_info");
	if (info.kind == PAM_KIND_XCF) {
		xp = pam_xcf_pool(g_pam, info.pool);
		h = (xcf_handle)((p >> XCF_HANDLE_SHIFT) << 3);
		FZ_ASSERT(xp && xcf_size(xp, h) == info.size, "the pampd names its object");
		FZ_ASSERT(xcf_read(xp, h, orig) == (int)info.size, "xcf_read");
	}
	while (fz_more(f)) {
		uint8_t op = fz_u8(f) % 4;

		if (op < 2) {
			/* Flip bits of the pampd: one bit, or a whole mask. */
			uint64_t mask = op == 0 ? (uint64_t)1 << (fz_u8(f) % 64) : fz_u64(f);

			read_corrupt(p, p ^ mask, page, intact);
		} else if (op == 2 && xp) {
			/* Corrupt the stored bytes: XOR a run, or overwrite
			 * from the input. */
			size_t off = fz_u16(f) % info.size;
			size_t n = 1 + fz_u8(f) % 32;
			uint8_t how = fz_u8(f);

			memcpy(bad, orig, info.size);
			for (size_t i = off; i < off + n && i < info.size; i++)
				bad[i] = how & 1 ? (uint8_t)(bad[i] ^ (how | 1)) : fz_u8(f);
			FZ_ASSERT(xcf_write(xp, h, bad) == (int)info.size, "xcf_write");
			rc = pam_get(g_pam, p, out);
			FZ_ASSERT(rc == 0 || rc == -EIO, "pam_get of corrupt data: %d", rc);
			intact = memcmp(bad, orig, info.size) == 0;
			if (intact)
				FZ_ASSERT(rc == 0 && memcmp(out, page, PAGE) == 0, "unchanged bytes");
			if (fz_u8(f) & 1) {
				FZ_ASSERT(xcf_write(xp, h, orig) == (int)info.size, "xcf_write");
				intact = 1;
				FZ_ASSERT(pam_get(g_pam, p, out) == 0 && memcmp(out, page, PAGE) == 0,
					  "restored bytes read back");
			}
		} else {
			/* A page of the whole store through get_locked and
			 * decode, with an exact-size scratch. */
			size_t len = 0;
			unsigned char *scratch = malloc(XCF_MAX_SIZE);

			FZ_ASSERT(scratch, "out of memory");
			rc = pam_get_locked(g_pam, p, out, scratch, &len);
			FZ_ASSERT(rc == 0 || rc == 1, "pam_get_locked of a good pampd: %d", rc);
			if (rc == 0) {
				FZ_ASSERT(len == info.size, "len %zu, size %u", len, info.size);
				rc = pam_decode(g_pam, p, scratch, len, out);
				FZ_ASSERT(rc == 0 || rc == -EIO, "pam_decode %d", rc);
			}
			free(scratch);
		}
	}
	pam_free(g_pam, p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct pam_stats st;

	setup();
	if (fz_u8(&f) & 1)
		store_and_corrupt(&f);
	else
		decode_stream(&f);
	pam_stats(g_pam, &st);
	FZ_ASSERT(st.pages == 0, "%llu pages left stored", (unsigned long long)st.pages);
	FZ_ASSERT(pam_check(g_pam) == 0, "pam_check failed");
	return 0;
}
