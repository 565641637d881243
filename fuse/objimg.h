/* objimg.h - one object's pages in their stored form: the exporter and the
 * importers both the state image (fuse/state.h) and the far tier's images
 * (fuse/far.h) use, so pages leave and enter the store as they are stored,
 * never decompressed nor compressed again.
 *
 * Design.  The exporter walks an object's groups of 16 slots in index
 * order (tmem_object_group) and asks the backend for each page's stored
 * form (pam_export): a same-filled page (its word), a raw page (4096
 * bytes), a compressed page (codec type and bytes), each handed to the
 * caller's callback as one form; the pages of a unit are handed over once
 * for the whole unit: its group's first index, decode type, page map, the
 * slots of that group still in it (live) and the payload.  A page or unit
 * the backend keeps in its backing file comes out in the form it had in
 * RAM (pam_export).  The importers do the reverse for one form: make the
 * pampds (pam_import, pam_import_unit) and store them at (pool, oid,
 * index) with TMEM_PUT_NEW, so a page stored twice is refused (-EEXIST)
 * and nothing already there is replaced; on any failure every pampd made
 * and not stored is freed (tmem frees the one it refused).
 *
 * The caller keeps the object's pages still while the exporter runs: no
 * put, flush, eviction, densify or destruction of that object (the pampds
 * are read without a lock, tmem_object_group).  fuse/state.c stops every
 * request and the densifier first; fuse/far.c moves the object into a
 * pool of its own where nothing else looks.  The importers need nothing
 * of the kind (they store new pampds).
 *
 * Buffers: `xbuf` is the caller's, PAM_EXPORT_BUF bytes (compress/pam.h);
 * a form's data points into it until the callback returns.  A unit's
 * payload for the importer lies at xbuf + PAM_UNIT_IMPORT_ROOM.
 *
 * Objects are files: the oid is { ino, 0, 0 }.  Thread safe as far as the
 * store and the backend are; no lock of the filesystem is taken.
 */
#ifndef ZC_FUSE_OBJIMG_H
#define ZC_FUSE_OBJIMG_H

#include <stdint.h>

#include "compress/pam.h"

struct tmem_store;

/* One stored form: a page (kind FILL, RAW or XCF at `index`) or a unit
 * (kind UNIT: `index` its group's first index, a multiple of 16). */
struct zfs_objimg_form {
	enum pam_kind kind;
	uint32_t index;
	unsigned codec_type;	/* XCF, UNIT: the decode type (CODEC_LZ4, CODEC_ZSTD) */
	uint64_t fill;		/* FILL: the 8-byte word */
	unsigned map;		/* UNIT: the unit's page map (dead slots included) */
	unsigned live;		/* UNIT: the slots of the group still in it */
	uint32_t len;		/* RAW 4096, XCF the compressed bytes, UNIT the payload */
	const void *data;	/* RAW, XCF, UNIT: inside xbuf */
};

/* Called for each form in ascending index order; nonzero stops the walk
 * and is returned. */
typedef int (*zfs_objimg_fn)(void *arg, const struct zfs_objimg_form *form);

/* Hand every page of the object `ino` in store pool `pool` to fn, one form
 * per page or unit.  Returns 0 (also for an object with no page), fn's
 * nonzero return, -EIO (a corrupt pampd or stored object), -ENOMEM,
 * -EINVAL. */
int zfs_objimg_export(struct tmem_store *store, struct pam *pam, int pool, uint64_t ino,
		      void *xbuf, zfs_objimg_fn fn, void *arg);

/* Store the page `b` (FILL, RAW or XCF) at (pool, ino, index).  Returns 0,
 * -EEXIST (a page is stored there already: nothing changed), -EINVAL (a
 * form this backend does not keep), -ENOMEM, -ENOSPC. */
int zfs_objimg_import_page(struct tmem_store *store, struct pam *pam, int pool, uint64_t ino,
			   uint32_t index, const struct pam_blob *b);

/* Store a unit: `clen` bytes of payload of decode type `type` at
 * xbuf + PAM_UNIT_IMPORT_ROOM, page map `map`, its pages at first + slot
 * for the slots of `live` (first a multiple of 16, live a nonzero subset of
 * map).  On failure the unit's pages stored so far stay stored (the caller
 * flushes the object) and every other pampd is freed.  Returns 0, -EEXIST
 * (a slot stored already), -EINVAL (a bad group, map, live, type or
 * length), -ENOMEM, -ENOSPC. */
int zfs_objimg_import_unit(struct tmem_store *store, struct pam *pam, int pool, uint64_t ino,
			   uint32_t first, unsigned type, unsigned map, unsigned live, void *xbuf,
			   uint32_t clen);

#endif /* ZC_FUSE_OBJIMG_H */
