/* objimg.c - tests of fuse/objimg: an object's pages exported in their
 * stored forms (fill, raw, compressed, units) and imported into another
 * store come back byte for byte and in the same forms; a page stored twice
 * is refused and nothing is left over; bad unit forms are refused.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compress/codec.h"
#include "compress/pam.h"
#include "fuse/objimg.h"
#include "tmem/stack.h"
#include "tmem/tmem.h"

#define PAGE 4096u
#define NPAGES 80u

/* Page i of the object: fills, random (raw), text (compressed). */
static void page_bytes(uint32_t i, unsigned char *p)
{
	if (i % 7 == 3) {
		memset(p, (int)(i & 0xff), PAGE);
		return;
	}
	if (i % 11 == 5) {
		uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);

		for (unsigned j = 0; j < PAGE; j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[j] = (unsigned char)x;
		}
		return;
	}
	for (unsigned j = 0; j < PAGE; j++)
		p[j] = (unsigned char)("the quick brown fox jumps "[(j + i) % 26] ^ (j / 512 == i % 8));
}

struct forms {
	struct zfs_objimg_form f[NPAGES];
	unsigned char *data[NPAGES];
	unsigned n, units;
};

static int collect(void *arg, const struct zfs_objimg_form *form)
{
	struct forms *c = arg;

	ck_assert_uint_lt(c->n, NPAGES);
	c->f[c->n] = *form;
	c->data[c->n] = NULL;
	if (form->len && form->kind != PAM_KIND_FILL) {
		c->data[c->n] = malloc(form->len);
		ck_assert_ptr_nonnull(c->data[c->n]);
		memcpy(c->data[c->n], form->data, form->len);
		c->f[c->n].data = c->data[c->n];
	}
	c->units += form->kind == PAM_KIND_UNIT;
	c->n++;
	return 0;
}

static int import_all(struct zc_stack *st, int pool, const struct forms *c, void *xbuf)
{
	for (unsigned k = 0; k < c->n; k++) {
		const struct zfs_objimg_form *f = &c->f[k];
		int ret;

		if (f->kind == PAM_KIND_UNIT) {
			memcpy((unsigned char *)xbuf + PAM_UNIT_IMPORT_ROOM, f->data, f->len);
			ret = zfs_objimg_import_unit(st->store, st->pam, pool, 5, f->index,
						     f->codec_type, f->map, f->live, xbuf, f->len);
		} else {
			struct pam_blob b = { .kind = f->kind, .codec_type = f->codec_type,
					      .fill = f->fill, .len = f->len, .data = f->data };

			ret = zfs_objimg_import_page(st->store, st->pam, pool, 5, f->index, &b);
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

START_TEST(test_roundtrip)
{
	struct zc_stack *a = zc_stack_create(NULL), *b = zc_stack_create(NULL);
	struct tmem_oid oid = { { 5, 0, 0 } };
	struct tmem_densify_result res;
	unsigned char page[PAGE], got[PAGE];
	void *xbuf = malloc(PAM_EXPORT_BUF), *dbuf = malloc(TMEM_DENSIFY_BUF);
	struct forms c = { .n = 0 }, d = { .n = 0 };
	unsigned lz4hc = codec_make(CODEC_LZ4HC, 9);
	int pa, pb, kinds = 0;
	uint64_t from = 0;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	pa = tmem_new_pool(a->store, TMEM_POOL_PERSISTENT);
	pb = tmem_new_pool(b->store, TMEM_POOL_EPHEMERAL);
	ck_assert_int_ge(pa, 0);
	ck_assert_int_ge(pb, 0);
	for (uint32_t i = 0; i < NPAGES; i++) {
		if (i == 40)
			continue;	/* a hole */
		page_bytes(i, page);
		ck_assert_int_eq(tmem_put(a->store, pa, &oid, i, page), 0);
	}
	/* Units in the first groups only; a write into one leaves a dead slot. */
	for (int g = 0; g < 2; g++) {
		int ret = tmem_densify(a->store, pa, &oid, (uint32_t)from, lz4hc, dbuf, &res);

		ck_assert_int_ge(ret, 0);
		from = res.next;
	}
	page_bytes(2, page);
	ck_assert_int_eq(tmem_put(a->store, pa, &oid, 2, page), 0);
	ck_assert_int_eq(zfs_objimg_export(a->store, a->pam, pa, 5, xbuf, collect, &c), 0);
	ck_assert_uint_gt(c.units, 0);
	for (unsigned k = 0; k < c.n; k++)
		kinds |= 1 << c.f[k].kind;
	ck_assert_int_eq(kinds & 0x1e, 0x1e);	/* fill, raw, compressed, unit */
	ck_assert_int_eq(import_all(b, pb, &c, xbuf), 0);
	for (uint32_t i = 0; i < NPAGES; i++) {
		int ret = tmem_get(b->store, pb, &oid, i, got, 0);

		if (i == 40) {
			ck_assert_int_eq(ret, -ENOENT);
			continue;
		}
		ck_assert_int_eq(ret, 0);
		page_bytes(i, page);
		ck_assert_msg(memcmp(page, got, PAGE) == 0, "page %u differs", i);
	}
	/* The same forms again, units as units. */
	ck_assert_int_eq(zfs_objimg_export(b->store, b->pam, pb, 5, xbuf, collect, &d), 0);
	ck_assert_uint_eq(d.n, c.n);
	ck_assert_uint_eq(d.units, c.units);
	for (unsigned k = 0; k < c.n; k++) {
		ck_assert_int_eq(d.f[k].kind, c.f[k].kind);
		ck_assert_uint_eq(d.f[k].index, c.f[k].index);
		ck_assert_uint_eq(d.f[k].len, c.f[k].len);
		ck_assert_uint_eq(d.f[k].live, c.f[k].live);
	}
	/* Everything again into the same object: every form refused, nothing
	 * replaced, nothing leaked (the stack's check counts every object). */
	ck_assert_int_eq(import_all(b, pb, &c, xbuf), -EEXIST);
	for (unsigned k = 0; k < c.n; k++) {
		const struct zfs_objimg_form *f = &c.f[k];

		if (f->kind != PAM_KIND_UNIT)
			continue;
		memcpy((unsigned char *)xbuf + PAM_UNIT_IMPORT_ROOM, f->data, f->len);
		ck_assert_int_eq(zfs_objimg_import_unit(b->store, b->pam, pb, 5, f->index,
							f->codec_type, f->map, f->live, xbuf,
							f->len), -EEXIST);
		ck_assert_int_eq(zfs_objimg_import_unit(b->store, b->pam, pb, 6, f->index + 1,
							f->codec_type, f->map, f->live, xbuf,
							f->len), -EINVAL);
		ck_assert_int_eq(zfs_objimg_import_unit(b->store, b->pam, pb, 6, f->index,
							f->codec_type, f->map, f->map << 1 | 0x10000,
							xbuf, f->len), -EINVAL);
	}
	ck_assert_int_eq(tmem_object_pages(b->store, pb, &(struct tmem_oid){ { 6, 0, 0 } }), 0);
	ck_assert_int_eq(zc_stack_check(a), 0);
	ck_assert_int_eq(zc_stack_check(b), 0);
	for (unsigned k = 0; k < c.n; k++) {
		free(c.data[k]);
		free(d.data[k]);
	}
	free(xbuf);
	free(dbuf);
	ck_assert_int_eq(zc_stack_destroy(a), 0);
	ck_assert_int_eq(zc_stack_destroy(b), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("objimg");
	TCase *tc = tcase_create("forms");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_roundtrip);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
