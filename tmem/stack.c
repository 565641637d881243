/* stack.c - the whole store built in one place (see stack.h): the adapter
 * that makes PAM a tmem backend, and the builder every user of a store
 * shares.
 *
 * Design note.  The adapter is five one-line functions: tmem's ops take a
 * void * context and tmem_pampd, PAM's functions a struct pam * and
 * pam_pampd (the same 64-bit type, asserted below), so the casts live here
 * and neither module names the other.  The builder creates the pieces in
 * dependency order and tears them down in the reverse order through one
 * function, zc_stack_destroy, which is safe on a partly built stack; so a
 * failed create and a normal destroy run the same code.
 */
#include "tmem/stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "alloc/slab.h"
#include "alloc/xcf.h"

_Static_assert(sizeof(pam_pampd) == sizeof(tmem_pampd), "a pampd is the same 64 bits in both");
_Static_assert(PAM_PAGE_SIZE == TMEM_PAGE_SIZE, "one page size");
_Static_assert(TMEM_SCRATCH_SIZE >= XCF_MAX_SIZE, "tmem's scratch holds any xcf object");
_Static_assert(ZC_STACK_RAW_THRESHOLD <= PAM_PAGE_SIZE, "a raw threshold PAM takes");
_Static_assert(PAM_UNIT_PAGES == TMEM_UNIT_PAGES, "a unit is one tmem group");

/* ---- PAM as a tmem backend -------------------------------------------------- */

static int zc_stack_op_create(void *ctx, const void *page, unsigned codec, tmem_pampd *out)
{
	return pam_put(ctx, page, codec, out);
}

static int zc_stack_op_get_locked(void *ctx, tmem_pampd p, void *page, void *scratch,
				  size_t *len)
{
	return pam_get_locked(ctx, p, page, scratch, len);
}

static int zc_stack_op_decode(void *ctx, tmem_pampd p, const void *scratch, size_t len,
			      void *page)
{
	return pam_decode(ctx, p, scratch, len, page);
}

static void zc_stack_op_free(void *ctx, tmem_pampd p)
{
	pam_free(ctx, p);
}

static size_t zc_stack_op_size(void *ctx, tmem_pampd p)
{
	return pam_size(ctx, p);
}

static unsigned zc_stack_op_repack_plan(void *ctx, const tmem_pampd old[TMEM_UNIT_PAGES],
					unsigned codec, uint64_t *old_bytes)
{
	return pam_repack_plan(ctx, old, codec, old_bytes);
}

static int zc_stack_op_repack(void *ctx, const void *pages, unsigned map, unsigned codec,
			      uint64_t old_bytes, tmem_pampd out[TMEM_UNIT_PAGES])
{
	return pam_repack(ctx, pages, map, codec, old_bytes, out);
}

static int zc_stack_op_wb_stage(void *ctx, tmem_pampd p, void *buf, size_t cap)
{
	return pam_wb_stage(ctx, p, buf, cap);
}

_Static_assert(sizeof(struct tmem_key) == PAM_WB_KEY_SIZE,
	       "tmem's page key is PAM's owner key, written beside each record");

static int zc_stack_op_wb_write(void *ctx, const void *const forms[], const uint32_t lens[],
				const struct tmem_key keys[], unsigned n, tmem_pampd out[])
{
	return pam_wb_write(ctx, forms, lens, keys, n, out);
}

static int zc_stack_op_relocate(void *ctx, tmem_pampd p, uint64_t old, uint64_t new,
				tmem_pampd *out)
{
	return pam_relocate(ctx, p, old, new, out);
}

static int zc_stack_op_promote(void *ctx, tmem_pampd p, const void *page, unsigned codec,
			       tmem_pampd *out)
{
	return pam_promote(ctx, p, page, codec, out);
}

const struct tmem_pamops zc_stack_pamops = {
	.create = zc_stack_op_create,
	.get_locked = zc_stack_op_get_locked,
	.decode = zc_stack_op_decode,
	.free = zc_stack_op_free,
	.size = zc_stack_op_size,
	.repack_plan = zc_stack_op_repack_plan,
	.repack = zc_stack_op_repack,
	.wb_stage = zc_stack_op_wb_stage,
	.wb_write = zc_stack_op_wb_write,
	.promote = zc_stack_op_promote,
	.relocate = zc_stack_op_relocate,
};

/* ---- building and tearing down ------------------------------------------------ */

/* Keep the first error of a teardown check. */
static void zc_stack_keep(int *ret, int rc)
{
	if (*ret == 0 && rc < 0)
		*ret = rc;
}

int zc_stack_destroy(struct zc_stack *s)
{
	int ret = 0;

	if (!s)
		return 0;
	tmem_store_destroy(s->store);
	if (s->host) {
		zc_stack_keep(&ret, slab_check(tmem_slab_host_cache(s->host, 0)));
		zc_stack_keep(&ret, slab_check(tmem_slab_host_cache(s->host, 1)));
		tmem_slab_host_destroy(s->host);
	}
	if (s->pam) {
		zc_stack_keep(&ret, pam_check(s->pam));
		pam_destroy(s->pam);
	}
	if (s->descs) {
		zc_stack_keep(&ret, slab_check(s->descs));
		slab_destroy(s->descs);
	}
	if (s->sgv) {
		zc_stack_keep(&ret, sgv_ctx_check(s->sgv));
		sgv_ctx_destroy(s->sgv);
	}
	if (s->own_buddy && s->buddy) {
		zc_stack_keep(&ret, buddy_check(s->buddy));
		buddy_destroy(s->buddy);
	}
	free(s);
	return ret;
}

struct zc_stack *zc_stack_create(const struct zc_stack_config *cfg)
{
	struct zc_stack_config c;
	struct zc_stack *s;
	int err;

	memset(&c, 0, sizeof(c));
	if (cfg)
		c = *cfg;
	if (c.pam.raw_threshold == 0)
		c.pam.raw_threshold = ZC_STACK_RAW_THRESHOLD;
	if (c.pam.lz4_unit_pages == 0)
		c.pam.lz4_unit_pages = ZC_STACK_LZ4_UNIT_PAGES;
	if (c.pam.lz4_part_unit_pages == 0)
		c.pam.lz4_part_unit_pages = ZC_STACK_LZ4_PART_UNIT_PAGES;
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	if (c.buddy) {
		s->buddy = c.buddy;
	} else {
		s->buddy = buddy_create(c.buddy_reserve ? c.buddy_reserve : BUDDY_DEFAULT_RESERVE);
		if (!s->buddy)
			goto err;
		s->own_buddy = 1;
	}
	s->sgv = sgv_ctx_create(s->buddy);
	if (!s->sgv)
		goto err;
	s->descs = slab_create("xcf_desc", XCF_DESC_SIZE, 0, s->buddy);
	if (!s->descs)
		goto err;
	s->pam = pam_create(&c.pam, s->buddy, s->sgv, s->descs);
	if (!s->pam)
		goto err;
	s->host = tmem_slab_host_create(s->buddy);
	if (!s->host)
		goto err;
	s->store = tmem_store_create(&zc_stack_pamops, s->pam, &tmem_slab_hostops, s->host);
	if (!s->store)
		goto err;
	s->slabs[0] = tmem_slab_host_cache(s->host, 0);
	s->slabs[1] = tmem_slab_host_cache(s->host, 1);
	s->slabs[2] = s->descs;
	s->slabs[3] = pam_unit_cache(s->pam);
	return s;

err:
	err = errno ? errno : ENOMEM;
	(void)zc_stack_destroy(s);
	errno = err;
	return NULL;
}

int zc_stack_check(struct zc_stack *s)
{
	int ret = tmem_check(s->store);

	if (ret == 0)
		ret = pam_check(s->pam);	/* xcf_check of each pool included */
	for (unsigned i = 0; ret == 0 && i < ZC_STACK_NSLABS; i++)
		ret = slab_check(s->slabs[i]);
	if (ret == 0)
		ret = sgv_ctx_check(s->sgv);
	if (ret == 0)
		ret = buddy_check(s->buddy);
	return ret;
}
