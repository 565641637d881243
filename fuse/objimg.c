/* objimg.c - one object's pages in their stored form (see objimg.h for the
 * design and the rules of use).
 */
#include "fuse/objimg.h"

#include <errno.h>
#include <string.h>

#include "tmem/tmem.h"

_Static_assert(TMEM_UNIT_PAGES == PAM_UNIT_PAGES, "a group is a unit's slots");

int zfs_objimg_export(struct tmem_store *store, struct pam *pam, int pool, uint64_t ino,
		      void *xbuf, zfs_objimg_fn fn, void *arg)
{
	struct tmem_oid oid = { { ino, 0, 0 } };
	tmem_pampd g[TMEM_UNIT_PAGES];
	uint64_t from = 0;
	uint32_t first;
	int ret = 0;

	if (!store || !pam || !xbuf || !fn)
		return -EINVAL;
	while (from <= UINT32_MAX &&
	       (ret = tmem_object_group(store, pool, &oid, (uint32_t)from, g, &first)) == 0) {
		unsigned done = 0;

		for (unsigned s = 0; s < TMEM_UNIT_PAGES; s++) {
			struct zfs_objimg_form f;
			struct pam_blob b;

			if (!g[s] || (done & (1u << s)))
				continue;
			memset(&f, 0, sizeof(f));
			ret = pam_export(pam, g[s], &b, xbuf, 0);
			if (ret < 0)
				return ret;
			if (b.kind != PAM_KIND_UNIT) {
				f.kind = b.kind;
				f.index = first + s;
				f.codec_type = b.kind == PAM_KIND_XCF ? b.codec_type : 0;
				f.fill = b.fill;
				f.len = b.kind == PAM_KIND_FILL ? 0 : b.len;
				f.data = b.data;
				done |= 1u << s;
				ret = fn(arg, &f);
				if (ret)
					return ret;
				continue;
			}
			/* A unit: every slot of this group in it, then its
			 * payload once. */
			uint64_t unit = b.unit;
			unsigned live = 0;

			for (unsigned t = s; t < TMEM_UNIT_PAGES; t++) {
				struct pam_blob o;

				if (!g[t] || (done & (1u << t)))
					continue;
				if (pam_pampd_kind(pam, g[t]) != PAM_KIND_UNIT ||
				    pam_export(pam, g[t], &o, xbuf, 0) < 0 || o.unit != unit)
					continue;
				live |= 1u << t;
			}
			ret = pam_export(pam, g[s], &b, xbuf, 1);
			if (ret < 0)
				return ret;
			f.kind = PAM_KIND_UNIT;
			f.index = first;
			f.codec_type = b.codec_type;
			f.map = b.map;
			f.live = live;
			f.len = b.len;
			f.data = b.data;
			done |= live;
			ret = fn(arg, &f);
			if (ret)
				return ret;
		}
		from = (uint64_t)first + TMEM_UNIT_PAGES;
	}
	return ret == -ENOENT || from > UINT32_MAX ? 0 : ret;
}

int zfs_objimg_import_page(struct tmem_store *store, struct pam *pam, int pool, uint64_t ino,
			   uint32_t index, const struct pam_blob *b)
{
	struct tmem_oid oid = { { ino, 0, 0 } };
	pam_pampd p;
	int ret;

	if (b->kind != PAM_KIND_FILL && b->kind != PAM_KIND_RAW && b->kind != PAM_KIND_XCF)
		return -EINVAL;
	ret = pam_import(pam, b, &p);
	if (ret < 0)
		return ret;
	/* tmem owns p from here: a refusal frees it. */
	return tmem_put_pampd(store, pool, &oid, index, p, TMEM_PUT_NEW);
}

int zfs_objimg_import_unit(struct tmem_store *store, struct pam *pam, int pool, uint64_t ino,
			   uint32_t first, unsigned type, unsigned map, unsigned live, void *xbuf,
			   uint32_t clen)
{
	struct tmem_oid oid = { { ino, 0, 0 } };
	pam_pampd out[PAM_UNIT_PAGES];
	int ret;

	if (first % PAM_UNIT_PAGES || live == 0 || (live & ~map) || map >> PAM_UNIT_PAGES ||
	    clen == 0 || clen > PAM_EXPORT_BUF - PAM_UNIT_IMPORT_ROOM)
		return -EINVAL;
	ret = pam_import_unit(pam, type, map, live, xbuf, clen, out);
	if (ret < 0)
		return ret;
	for (unsigned s = 0; s < PAM_UNIT_PAGES; s++) {
		if (!(live & (1u << s)))
			continue;
		ret = tmem_put_pampd(store, pool, &oid, first + s, out[s], TMEM_PUT_NEW);
		if (ret < 0) {
			/* tmem freed this one; free the unit's other pages. */
			for (unsigned t = s + 1; t < PAM_UNIT_PAGES; t++)
				if (live & (1u << t))
					pam_free(pam, out[t]);
			return ret;
		}
	}
	return 0;
}
