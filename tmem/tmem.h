/* tmem.h - the store: pools -> objects -> page index -> pampd.
 *
 * tmem keeps 4 KiB pages under the key (pool, object id, page index): the
 * object id is 3 x 64 bits (struct tmem_oid), the index 32 bits.  It knows
 * nothing of compression: a page becomes an opaque 64-bit handle, a
 * "pampd", through the backend's ops table (struct tmem_pamops: in the
 * daemon compress/pam, through tmem/stack.h's zc_stack_pamops), and tmem's
 * own nodes come from the host's allocator (struct tmem_hostops: slab
 * caches in the daemon, malloc in tests).  tmem/stack.h builds the whole
 * store the daemon runs; the files of this module are listed in
 * tmem_int.h.
 *
 * Memory layout
 * -------------
 *   store   -> pools[TMEM_MAX_POOLS]         (pool ids are small integers)
 *   pool    -> hash table of buckets         (power of two, grows by doubling)
 *   bucket  =  { 4-byte futex lock, object count, red-black tree root }
 *              (16 bytes; the tree is keyed by the object id)
 *   object  =  104 bytes: id, tree links, LRU links, page count, pin count,
 *              generation, radix root and height
 *   objnode =  136 bytes: 16 slots + a count of used slots
 *
 * Radix tree: an object of height 0 holds the pampd of index 0 directly in
 * its root word (a one-page file costs the object and nothing else); height
 * h >= 1 means the root is an objnode and the object covers indices
 * < 16^h; 4 bits of the index are consumed per level, 8 levels cover the
 * whole 32-bit index.  The fanout of 16 is chosen for small files (most
 * files are a few pages: a 3-page file costs one 136-byte objnode, where a
 * 64-slot node would cost 520), while a dense large file still costs about
 * 8.6 bytes of objnodes per page (a 1 MiB file: 17 objnodes = 2.3 KiB).
 * Empty objnodes are freed at once; an object with no pages is freed at
 * once unless it is pinned.
 *
 * Hash table: a pool starts with 256 buckets (a 4 KiB bucket array from
 * hostops.mem_alloc; the small table header comes from malloc) and doubles
 * its table when it holds more than 2 objects per bucket (load factor <= 2,
 * each bucket a balanced tree, so a lookup stays a few comparisons however
 * the ids fall).
 * A resize locks every bucket of the old table, moves the objects, marks
 * the old table moved and publishes the new one; an operation that locked
 * a bucket of a moved table unlocks it and retries on the new table.  Old
 * tables are kept (they add up to less than the current one) until the
 * pool is destroyed, so a thread still holding a pointer to one is safe.
 * Tables never shrink.
 *
 * Paths
 * -----
 * put:  pamops.create (compression, no lock) -> bucket lock -> find or
 *       create the object and the radix path (all nodes allocated before
 *       anything is linked, so a failure leaves the store unchanged) ->
 *       swap the new pampd into the slot -> unlock -> pamops.free(old).
 *       Replacing a page allocates nothing.
 * get:  bucket lock -> lookup -> pamops.get_locked (copy out the
 *       compressed bytes) -> [TMEM_GET_FREE: unlink] -> unlock ->
 *       pamops.decode -> [TMEM_GET_FREE: pamops.free].
 * Coherency (DESIGN.md): a put over an existing page replaces it
 * atomically (no later get sees the old data); a get that failed keeps
 * failing until the next put of that page.
 *
 * Units and densify
 * -----------------
 * Keys stay per page: every page has its own slot and its own pampd, and
 * every rule above holds page by page.  A backend may make several pampds
 * share memory - a "unit": up to TMEM_UNIT_PAGES pages of one object
 * compressed together (compress/pam.h, "Units") - but only when tmem asks
 * it to, through tmem_densify, and only for one group: the 16 pages of one
 * leaf objnode (indices 16g .. 16g+15), so a unit never spans two objects
 * or two leaves.  tmem never looks inside a pampd: to tmem a page of a
 * unit is a pampd like any other, freed with pamops.free when its page is
 * replaced, flushed, evicted or its pool destroyed.
 *   Who may hold a unit: its pages, one reference each, and a reader
 *   between pamops.get_locked and pamops.decode, which takes a reference
 *   under the bucket lock (the page's own reference keeps the unit alive
 *   while it does) and drops it in decode; so a unit is freed by the last
 *   of them, never under a reader, and xcf compaction moves its bytes only
 *   as it moves any object (never seen half-moved by a reader).  Locks: a
 *   unit has none of its own; the bucket lock orders every change of a
 *   slot, as for any pampd, and the reference count is atomic.
 *   A put or flush of one page of a unit frees that page's pampd only: the
 *   unit stays whole for its other pages and is retired with the last
 *   one.  Nothing is recompressed on a write, so a write needs no more
 *   memory than its own page (ENOSPC stays exact) and never decodes a
 *   unit; the next densify of the group packs the survivors and the new
 *   pages together again.
 *   Densify: tmem_densify plans under the bucket lock (the group's pampds
 *   and the object's generation; pamops.repack_plan), reads the chosen
 *   pages as gets do (no lock held across them), has the backend pack
 *   them (pamops.repack, no lock) and swaps the new pampds in under the
 *   bucket lock only if the object's generation has not moved - every
 *   put, flush and repack of any of its pages moves it - so a concurrent
 *   write always wins and densify tries again later.  Pampd values are not
 *   compared: a freed value can come back holding other data.
 *   Enumerating an object's stored blobs (what a backing file or a
 *   restart will need): walk its groups in index order as tmem_densify's
 *   plan does - under the bucket lock, the 16 slots' pampds at once, the
 *   backend taking a reference to whatever it will copy out after the
 *   unlock - and ask the backend for each pampd's stored form
 *   (pam_pampd_info names the unit a page belongs to, so a unit is written
 *   once, with its page map).  tmem adds nothing to a stored form but the
 *   key.
 *
 * Ephemeral pools keep an LRU list of their unpinned objects (touched on
 * put and get; each touch takes a store-wide stamp so tmem_evict over all
 * pools evicts in global least-recently-used order).  Persistent pools keep
 * no LRU and pay nothing for it.  Pinned objects (open files) are off the
 * LRU and are never evicted; a pin can be taken on an object that has no
 * pages yet (it then exists, empty, until unpinned).
 *
 * Lock order
 * ----------
 *   store->pool_lock -> pool->resize_lock -> bucket locks (ascending index
 *   when several are held: resize, tmem_pool_set_kind, tmem_check) ->
 *   pool->lru_lock.  Only tmem_check and tmem_move_object hold several
 *   pools at once: tmem_check all their resize and bucket locks in
 *   ascending pool id, then all their lru locks; tmem_move_object one
 *   bucket of each of two pools, the lower pool id's first, then one lru
 *   lock at a time.
 * Under a bucket lock tmem calls only pamops.get_locked, pamops.size,
 * pamops.repack_plan, pamops.wb_stage and the hostops allocators (which
 * must not call tmem).  pamops.create, pamops.decode, pamops.repack,
 * pamops.wb_write, pamops.promote and pamops.free are called with no tmem
 * lock held.  No
 * tmem lock is held while an eviction callback runs.  Seen from outside,
 * with the daemon's backends: bucket lock -> slab cache lock -> buddy lock
 * (tmem_slab_hostops), bucket lock -> xcf pool lock (pam get_locked).
 *
 * Threads: every function is thread safe unless it says otherwise.  The
 * one rule callers keep: no call naming a pool may run concurrently with
 * or after tmem_destroy_pool of that pool (store-wide calls - tmem_evict
 * over all pools, tmem_stats, tmem_check - are safe against it).
 *
 * Errors: 0 or a positive value on success, a negative errno on failure;
 * nothing changes on failure.  -EINVAL for a pool id that names no pool.
 */
#ifndef ZC_TMEM_TMEM_H
#define ZC_TMEM_TMEM_H

#include <stddef.h>
#include <stdint.h>

#define TMEM_PAGE_SIZE 4096u
/* Bytes of the scratch buffer handed to pamops.get_locked: a stored
 * compressed payload never exceeds one page (larger ones are kept raw; a
 * page of a unit leaves only a reference to the unit in it). */
#define TMEM_SCRATCH_SIZE TMEM_PAGE_SIZE
/* A group: the pages of one leaf objnode, indices 16g .. 16g+15, which
 * tmem_densify repacks together (at most one unit). */
#define TMEM_UNIT_PAGES 16u
/* Bytes of the work buffer tmem_densify needs: the pages of one group. */
#define TMEM_DENSIFY_BUF (TMEM_UNIT_PAGES * TMEM_PAGE_SIZE)
#define TMEM_MAX_POOLS 4096		/* pool ids are 0 .. TMEM_MAX_POOLS-1 */
#define TMEM_ALL_POOLS (-1)		/* tmem_evict: every ephemeral pool */

/* Pool kinds (exactly one is given to tmem_new_pool). */
#define TMEM_POOL_PERSISTENT 0x1u	/* data stays until flushed */
#define TMEM_POOL_EPHEMERAL 0x2u	/* whole objects may be evicted, LRU first */

/* tmem_get flags. */
#define TMEM_GET_FREE 0x1u		/* remove the page when the get succeeds */

/* Sizes of tmem's nodes, for hosts that create caches for them. */
#define TMEM_OBJ_SIZE 104u
#define TMEM_OBJNODE_SIZE 136u

struct tmem_store;

/* An object id: 3 x 64 bits (the filesystem uses its inode number). */
struct tmem_oid {
	uint64_t oid[3];
};

/* A page's key as the second tier keeps it beside each written-back form
 * (pamops.wb_write) and hands it back to tmem_relocate: 32 bytes, native
 * byte order (the backing file never outlives the process). */
struct tmem_key {
	struct tmem_oid oid;
	uint32_t pool;
	uint32_t index;
};

typedef uint64_t tmem_pampd;	/* opaque to tmem; 0 = no page */

/* The backend (compress/pam, through zc_stack_pamops).  `ctx` is the
 * pam_ctx given to tmem_store_create. */
struct tmem_pamops {
	/* Build a pampd from one 4 KiB page.  Called with no tmem lock held
	 * (compression happens here).  `codec` is the pool's current codec id
	 * (opaque to tmem, set with tmem_pool_set_codec).  Returns 0 and sets
	 * *out (never to 0), or -errno (-ENOMEM, -ENOSPC). */
	int (*create)(void *ctx, const void *page, unsigned codec, tmem_pampd *out);
	/* Called with the bucket lock held, so the pampd cannot be freed or
	 * moved meanwhile: either produce the page directly into `page` and
	 * return 1 (same-filled pages, raw pages), or copy the stored
	 * compressed bytes into `scratch` (TMEM_SCRATCH_SIZE bytes), set *len
	 * and return 0; or -errno (-EIO for a corrupt pampd).  Must be cheap
	 * and must not take tmem locks. */
	int (*get_locked)(void *ctx, tmem_pampd p, void *page, void *scratch, size_t *len);
	/* Called with no lock after get_locked returned 0: expand scratch
	 * into page.  `p` is the pampd value read under the lock, used only
	 * for its encoding (codec, kind), never dereferenced.  Returns 0 or
	 * -EIO on corrupt data. */
	int (*decode)(void *ctx, tmem_pampd p, const void *scratch, size_t len, void *page);
	/* Release a pampd.  Called with no tmem lock held. */
	void (*free)(void *ctx, tmem_pampd p);
	/* Bytes of store memory this pampd holds (for accounting and
	 * eviction).  May be called under a bucket lock; must be cheap, and
	 * must give the same answer for a pampd as long as it is stored. */
	size_t (*size)(void *ctx, tmem_pampd p);
	/* Optional, both or neither (tmem_densify returns -EOPNOTSUPP
	 * without them).  Repacking a group, first half: called with the
	 * bucket lock held, so every pampd of `old` (the group's 16 slots,
	 * 0 where no page is stored) is alive; must be cheap and take no tmem
	 * lock.  Returns the map of the slots worth repacking with `codec`
	 * (bit s = slot s; 0: nothing to gain) and sets *old_bytes to the
	 * memory repacking them would free. */
	unsigned (*repack_plan)(void *ctx, const tmem_pampd old[TMEM_UNIT_PAGES],
				unsigned codec, uint64_t *old_bytes);
	/* Second half, with no lock held: `pages` holds the pages of `map`
	 * packed in slot order.  Returns 1 with out[s] set for every slot of
	 * map (new pampds holding those pages, possibly sharing one unit),
	 * 0 when the result would not take less than old_bytes (nothing
	 * made), or -errno. */
	int (*repack)(void *ctx, const void *pages, unsigned map, unsigned codec,
		      uint64_t old_bytes, tmem_pampd out[TMEM_UNIT_PAGES]);
	/* Optional, both or neither (tmem_wb_stage returns -EOPNOTSUPP
	 * without them): writeback to a second tier.  wb_stage, under the
	 * bucket lock: copy p's stored form into buf (cap bytes); returns its
	 * length, 0 when p is not to be written back, -ENOSPC when cap is too
	 * small, or -errno.  Must take no tmem lock. */
	int (*wb_stage)(void *ctx, tmem_pampd p, void *buf, size_t cap);
	/* With no lock held: store the n staged forms, each with its page's
	 * key (keys[i], struct tmem_key: written beside the form, handed back
	 * by the second tier when it moves the form, see tmem_relocate), and
	 * set out[i] to the pampd (of size 0) that now stands for each.  0,
	 * or -errno with nothing stored. */
	int (*wb_write)(void *ctx, const void *const forms[], const uint32_t lens[],
			const struct tmem_key keys[], unsigned n, tmem_pampd out[]);
	/* Optional: after a get decoded written-back page p into `page`,
	 * make an in-RAM pampd of it with `codec`.  1 and *out, 0 when p is
	 * not written back (or the backend declines), or -errno.  No lock. */
	int (*promote)(void *ctx, tmem_pampd p, const void *page, unsigned codec, tmem_pampd *out);
	/* Optional (tmem_relocate returns -EOPNOTSUPP without it): under the
	 * bucket lock, if p stands for the second tier's record at `old`
	 * (an opaque 64-bit place), make it stand for the copy at `new`:
	 * 1 and *out (the pampd the slot holds from now on; p itself when
	 * the backend changed what p names), else 0.  Cheap, no tmem lock. */
	int (*relocate)(void *ctx, tmem_pampd p, uint64_t old, uint64_t new, tmem_pampd *out);
};

/* The host's allocator for tmem's own metadata.  `ctx` is the host_ctx
 * given to tmem_store_create.  Each function may be called with a bucket
 * lock held and must not call into tmem; an allocator returns NULL when out
 * of memory (tmem then fails the operation with -ENOMEM, unchanged). */
struct tmem_hostops {
	void *(*obj_alloc)(void *ctx);			/* TMEM_OBJ_SIZE bytes, 8-aligned */
	void (*obj_free)(void *ctx, void *obj);
	void *(*objnode_alloc)(void *ctx);		/* TMEM_OBJNODE_SIZE bytes, 8-aligned */
	void (*objnode_free)(void *ctx, void *node);
	void *(*mem_alloc)(void *ctx, size_t bytes);	/* bucket arrays: a power of
							   two >= 4 KiB, 64-aligned */
	void (*mem_free)(void *ctx, void *p, size_t bytes);
};

/* Hostops on malloc (ctx unused, pass NULL): for tests and for callers
 * without slab caches. */
extern const struct tmem_hostops tmem_malloc_hostops;

/* Slab-backed hostops: caches "tmem_obj" and "tmem_objnode" on a buddy
 * allocator (8-byte aligned, so objects keep their exact sizes), bucket
 * arrays straight from the buddy allocator.  Thread safe as slab and buddy
 * are.
 * tmem_slab_host_create returns the host_ctx to give tmem_store_create
 * together with &tmem_slab_hostops, or NULL (errno ENOMEM).  `b` must
 * outlive the host; the host must outlive every store using it.
 * tmem_slab_host_destroy(NULL) does nothing. */
struct tmem_slab_host;
struct slab_cache;
struct buddy;
extern const struct tmem_hostops tmem_slab_hostops;
struct tmem_slab_host *tmem_slab_host_create(struct buddy *b);
void tmem_slab_host_destroy(struct tmem_slab_host *h);
/* The two caches (for /.zcache/alloc/slabinfo): which = 0 objects,
 * 1 objnodes; NULL for any other value. */
struct slab_cache *tmem_slab_host_cache(struct tmem_slab_host *h, int which);

/* Counters, declared once.  X(name, comment).  Per pool and summed over
 * the store.  Read without stopping other threads: each figure is exact
 * when the store is quiet and may be a moment out of date otherwise. */
#define TMEM_STATS_FIELDS(X)						\
	X(objects, "objects now (files with pages, or pinned)")	\
	X(pinned_objects, "objects with a pin now")			\
	X(pages, "pages stored now")					\
	X(pampd_bytes, "bytes the backend holds for those pages")	\
	X(meta_bytes, "tmem metadata: objects, objnodes, bucket arrays" \
		      " (nominal sizes; slab slack shows in slabinfo)")	\
	X(objnodes, "radix tree nodes now")				\
	X(buckets, "hash buckets now (current tables)")		\
	X(puts, "successful puts, ever")				\
	X(replaces, "of those, puts over an existing page")		\
	X(failed_puts, "puts that failed (backend or metadata)")	\
	X(gets, "successful gets, ever")				\
	X(failed_gets, "gets that found no page or a corrupt one")	\
	X(flushes, "pages removed by flush_page/range/object, ever")	\
	X(flush_objects, "tmem_flush_object calls that found an object") \
	X(evictions, "objects evicted, ever")				\
	X(evicted_pages, "pages in those objects")			\
	X(resizes, "hash table doublings, ever")			\
	X(repacks, "groups tmem_densify repacked, ever")		\
	X(repacked_pages, "pages in those groups")			\
	X(repack_conflicts, "repacks dropped: a page changed meanwhile")

#define TMEM_STATS_DECLARE(name, comment) uint64_t name;
struct tmem_pool_stats {
	uint32_t id;
	uint32_t kind;		/* TMEM_POOL_PERSISTENT or TMEM_POOL_EPHEMERAL */
	unsigned codec;
	TMEM_STATS_FIELDS(TMEM_STATS_DECLARE)
};
struct tmem_stats {
	uint64_t pools;
	uint64_t ephemeral_pools;
	TMEM_STATS_FIELDS(TMEM_STATS_DECLARE)	/* sums over every pool */
};
#undef TMEM_STATS_DECLARE

/* Eviction callback: called once per evicted object, after its pages are
 * gone, with no tmem lock held.  It may call any tmem function except
 * tmem_new_pool, tmem_destroy_pool, tmem_pool_set_kind and tmem_evict.
 * `bytes` is what the object held (pampds + its metadata). */
typedef void (*tmem_evict_fn)(void *arg, uint32_t pool, const struct tmem_oid *oid,
			      uint64_t pages, uint64_t bytes);

/* ---- store ---------------------------------------------------------- */

/* Create an empty store.  `pam` and `host` are copied by pointer and must
 * stay valid for the store's life, as must the contexts.
 * Returns NULL with errno EINVAL (a missing op) or ENOMEM. */
struct tmem_store *tmem_store_create(const struct tmem_pamops *pam, void *pam_ctx,
				     const struct tmem_hostops *host, void *host_ctx);

/* Destroy every pool (freeing every pampd through pamops.free) and the
 * store.  tmem_store_destroy(NULL) does nothing.  No other call may run
 * concurrently or afterwards. */
void tmem_store_destroy(struct tmem_store *s);

/* ---- pools ---------------------------------------------------------- */

/* Create a pool of the given kind (TMEM_POOL_PERSISTENT or
 * TMEM_POOL_EPHEMERAL) with codec id 0.  Returns the pool id (the lowest
 * free one, >= 0), -EINVAL for bad flags, -ENOSPC when TMEM_MAX_POOLS
 * pools exist, -ENOMEM. */
int tmem_new_pool(struct tmem_store *s, unsigned flags);

/* Free every page and object of the pool and the pool; its id becomes
 * free.  If a concurrent store-wide tmem_evict is evicting an object of
 * this pool, waits for that one object (never for an eviction callback).
 * Returns 0, or -EINVAL if `pool` names no pool. */
int tmem_destroy_pool(struct tmem_store *s, int pool);

/* Change a pool's kind (TMEM_POOL_PERSISTENT / TMEM_POOL_EPHEMERAL).
 * Allowed only while the pool holds no pages (pinned empty objects are
 * fine); returns 0 (also when the kind is unchanged), -EBUSY when the pool
 * holds pages, -EINVAL for a bad pool or kind. */
int tmem_pool_set_kind(struct tmem_store *s, int pool, unsigned kind);

/* The pool's kind, or -EINVAL. */
int tmem_pool_kind(struct tmem_store *s, int pool);

/* Set the codec id handed to pamops.create for later puts (pages stored
 * before keep theirs).  Returns 0 or -EINVAL.  Lock-free. */
int tmem_pool_set_codec(struct tmem_store *s, int pool, unsigned codec);

/* ---- pages ---------------------------------------------------------- */

/* Store one 4 KiB page under (pool, oid, index), replacing atomically any
 * page stored there.  The page is compressed (pamops.create) before any
 * lock is taken.  In an ephemeral pool the object becomes most recently
 * used.  Returns 0; -ENOMEM or -ENOSPC from the backend or when tmem's
 * nodes cannot be allocated (the old page, if any, stays stored and
 * readable; the new pampd is freed); -EINVAL for a bad pool. */
int tmem_put(struct tmem_store *s, int pool, const struct tmem_oid *oid,
	     uint32_t index, const void *page);

/* Read the page under (pool, oid, index) into `page` (4 KiB).  flags 0
 * keeps the page; TMEM_GET_FREE removes it when the get succeeds (and, if
 * decoding fails with -EIO after it was unlinked, the corrupt page is
 * dropped as well).  In an ephemeral pool the object becomes most recently
 * used.  Returns 0; -ENOENT when no page is stored there (`page` is
 * untouched); -EIO when the backend finds the page corrupt (`page`
 * contents unspecified); -EINVAL for a bad pool or flags. */
int tmem_get(struct tmem_store *s, int pool, const struct tmem_oid *oid,
	     uint32_t index, void *page, unsigned flags);

/* Remove the page under (pool, oid, index).  Returns 0, -ENOENT when none
 * is stored, -EINVAL. */
int tmem_flush_page(struct tmem_store *s, int pool, const struct tmem_oid *oid,
		    uint32_t index);

/* Remove every page with first <= index <= last of the object (truncate,
 * punch hole).  Works in batches of up to 64 pages under the lock: each
 * page goes atomically, a put into the range that runs concurrently may
 * survive.  Returns the number of pages removed (>= 0; 0 also when the
 * object does not exist), -EINVAL for a bad pool or first > last. */
int64_t tmem_flush_range(struct tmem_store *s, int pool, const struct tmem_oid *oid,
			 uint32_t first, uint32_t last);

/* Remove every page of the object.  An unpinned object is removed
 * entirely; a pinned one stays, empty, with its pins.  The pages are freed
 * after the bucket lock is dropped.  Returns the number of pages removed
 * (>= 0), -ENOENT when no such object exists, -EINVAL. */
int64_t tmem_flush_object(struct tmem_store *s, int pool, const struct tmem_oid *oid);

/* Find the lowest stored index >= from (SEEK_DATA; SEEK_HOLE follows
 * from walking the next indices).  Returns 0 and sets *index; -ENOENT
 * when the object stores no page at or after `from`; -EINVAL. */
int tmem_next_index(struct tmem_store *s, int pool, const struct tmem_oid *oid,
		    uint32_t from, uint32_t *index);

/* Pages the object stores now (0 when it does not exist), or -EINVAL. */
int64_t tmem_object_pages(struct tmem_store *s, int pool, const struct tmem_oid *oid);

/* Store a pampd the caller made with the backend (a page brought back
 * from a saved state, fuse/state.h: nothing is compressed again) under
 * (pool, oid, index), exactly as tmem_put stores the pampd it makes: the
 * same replacement, LRU, counters and coherency; with TMEM_PUT_NEW in
 * flags a page stored there already is kept and -EEXIST returned.  tmem
 * owns `pampd` from the call on: on failure it is freed through
 * pamops.free.  Returns 0, -EEXIST, -ENOMEM (the old page, if any,
 * stays), -EINVAL (a bad pool, pampd 0). */
#define TMEM_PUT_NEW 0x1u
int tmem_put_pampd(struct tmem_store *s, int pool, const struct tmem_oid *oid,
		   uint32_t index, tmem_pampd pampd, unsigned flags);

/* The stored form of an object, one group at a time (what a saved state
 * writes, see "Enumerating an object's stored blobs" above): finds the
 * lowest stored index >= from, sets *first to its group's first index
 * (a multiple of TMEM_UNIT_PAGES) and copies the group's 16 slots into
 * out (0 where no page is stored), all under the bucket lock.  The pampds
 * are the store's: they stay valid only while nothing changes those pages
 * (no put, flush, eviction, densify or pool destruction of this object),
 * which the caller guarantees - fuse/state.c calls it with every request
 * finished and the densifier stopped.  Continue at *first + 16.  Returns
 * 0, -ENOENT (no page at or after `from`, or no such object), -EINVAL. */
int tmem_object_group(struct tmem_store *s, int pool, const struct tmem_oid *oid,
		      uint32_t from, tmem_pampd out[TMEM_UNIT_PAGES], uint32_t *first);

/* ---- pins and eviction ---------------------------------------------- */

/* Pin an object (the filesystem pins open files): a pinned object is never
 * evicted.  Pins count; an object that does not exist yet is created empty.
 * Returns 0, -ENOMEM (nothing changed), -EOVERFLOW at 2^32-1 pins, -EINVAL. */
int tmem_pin(struct tmem_store *s, int pool, const struct tmem_oid *oid);

/* Drop one pin.  An object left unpinned with no pages is freed; one with
 * pages rejoins its pool's LRU as most recently used.  Returns 0, -ENOENT
 * when the object is not pinned, -EINVAL. */
int tmem_unpin(struct tmem_store *s, int pool, const struct tmem_oid *oid);

/* Evict whole least-recently-used unpinned objects of one ephemeral pool
 * (pool >= 0) or of every ephemeral pool in global LRU order
 * (TMEM_ALL_POOLS) until at least `bytes` were freed (pampd bytes plus
 * tmem metadata) or nothing evictable is left.  `fn` (may be NULL) is
 * called for each evicted object.  Returns the bytes freed (>= 0), or
 * -EINVAL for a pool that does not exist or is persistent.  Concurrent
 * calls are safe (each evicts its own victims). */
int64_t tmem_evict(struct tmem_store *s, int pool, uint64_t bytes,
		   tmem_evict_fn fn, void *arg);

/* One object of an ephemeral pool's LRU, as tmem_lru_oldest sees it. */
struct tmem_lru_entry {
	uint32_t pool;
	struct tmem_oid oid;
	uint64_t stamp;		/* its last touch: smaller is older */
};

/* Fill out[0..max) with the least recently used unpinned objects of every
 * ephemeral pool, oldest first (global LRU order, as tmem_evict over
 * TMEM_ALL_POOLS would take them), without evicting or touching any.
 * Returns how many were found (<= max).  A snapshot: an object may be
 * touched, pinned, flushed or evicted the moment after; callers that act
 * on one check it again.  Takes store->pool_lock, then each pool's
 * lru_lock in turn; O(pools * max) plus max^2 in the worst case, so keep
 * max small (tens).  Thread safe. */
size_t tmem_lru_oldest(struct tmem_store *s, struct tmem_lru_entry *out, size_t max);

/* ---- densifying ------------------------------------------------------ */

/* What one tmem_densify call did. */
struct tmem_densify_result {
	uint64_t next;		/* where to continue: the index after the group */
	uint32_t first;		/* the group's first index (a multiple of 16) */
	uint32_t pages;		/* pages repacked (0 unless 1 was returned) */
	uint64_t old_bytes;	/* memory they held (pamops.repack_plan's figure) */
	uint64_t new_bytes;	/* what their new pampds hold (pamops.size) */
};

/* Repack the first group of the object that holds a page at an index >=
 * `from`: the 16 indices 16g .. 16g+15 around that page (so a group may
 * start before `from`).  The backend chooses the pages (plan), tmem reads
 * them (each decoded as by a get, without touching the LRU or the get
 * counters), the backend packs them with `codec` (repack: a unit, or a
 * denser single page), and tmem swaps the new pampds in - all of them, or
 * none when any page of the object changed since the plan (a put, a flush,
 * another repack: the object's generation, see "Densify" above).  The old
 * pampds are freed after the swap, with no lock held.  `buf` is the
 * caller's, TMEM_DENSIFY_BUF bytes.  Fills *res (res->next always, when the
 * group was found).  Returns 1 (repacked), 0 (nothing to gain in this
 * group: continue at res->next), -ENOENT (no page at or after `from`),
 * -EAGAIN (a concurrent change won: nothing changed; the caller may try
 * the group again), -ENOMEM (the backend could not allocate: nothing
 * changed), -EIO (a page of the group could not be read), -EOPNOTSUPP (the
 * backend has no repack ops), -EINVAL.  Memory: the new pampds exist
 * beside the old ones from the backend's repack to the swap, so a call
 * needs at most the group's new size on top, and frees old_bytes at its
 * end (a unit is made only when old_bytes is larger). */
int tmem_densify(struct tmem_store *s, int pool, const struct tmem_oid *oid, uint32_t from,
		 unsigned codec, void *buf, struct tmem_densify_result *res);

/* ---- writeback to a second tier -------------------------------------
 *
 * A backend with wb_stage/wb_write can keep pages outside RAM (the backing
 * file, compress/pam.h): their pampds then hold no memory (size 0) and
 * read back through get_locked and decode like any page, the I/O in
 * decode, with no tmem lock held.  tmem moves pages there in batches: the
 * caller stages pages of one or more objects into a batch
 * (tmem_wb_stage: under each object's bucket lock, the backend copies
 * each page's stored form into the batch's buffer and tmem records the
 * object's generation), then commits it (tmem_wb_commit: the backend
 * writes every form at once with no lock held, then tmem swaps each new
 * pampd in under the bucket lock, object by object, only where the
 * object's generation is the one recorded - as tmem_densify does, so a
 * write, flush or move meanwhile wins and its pages' copies are freed).
 * The old pampds are freed after the swap.  A write that fails leaves
 * every page as it was.
 *
 * Coldness.  Objects of persistent pools carry the epoch of their last get
 * or put (tmem_object_stamp; the owner advances the epoch with
 * tmem_tick); the caller writes the coldest first.  A get
 * of a written-back page may bring it back (pamops.promote): swapped in
 * under the bucket lock if the object did not change since the get read
 * it. */

/* Bytes of a batch's buffer, and pages at most in a batch. */
#define TMEM_WB_BUF ((size_t)1 << 20)
#define TMEM_WB_PAGES 512u

struct tmem_wb_page {
	struct tmem_oid oid;
	uint32_t pool;
	uint32_t index;
	uint64_t gen;		/* the object's generation when staged */
	tmem_pampd old;		/* the pampd staged */
	uint32_t off, len;	/* its form in buf */
};

/* A batch: the caller's memory (about 28 KiB plus buf), reused across
 * commits; every batch staged must be committed (a backend's staged forms
 * may hold references, compress/pam.h pam_wb_stage).  Fields are tmem's but for buf (TMEM_WB_BUF bytes, the
 * caller's), which must be set before the first stage. */
struct tmem_wb_batch {
	unsigned char *buf;
	size_t used;
	unsigned n;
	struct tmem_wb_page page[TMEM_WB_PAGES];
};

/* What commits did (added to by tmem_wb_commit). */
struct tmem_wb_result {
	uint64_t pages;		/* pages swapped out of RAM */
	uint64_t bytes;		/* the memory their old pampds held (pamops.size) */
	uint64_t conflicts;	/* staged pages left as they were: changed meanwhile */
};

/* Stage the pages of object `oid` in `pool` at indices >= *from, in index
 * order, until the batch is full or the object ends; pages the backend
 * declines (wb_stage 0) are skipped.  *from is set to the index where to
 * continue: 2^32 once the object's last page was looked at.
 * Returns the number of pages staged (>= 0), -ENOENT when the object does
 * not exist, -EOPNOTSUPP without wb ops, -EINVAL; a backend error stops
 * the object (returned when nothing was staged). */
int tmem_wb_stage(struct tmem_store *s, struct tmem_wb_batch *batch, int pool,
		  const struct tmem_oid *oid, uint64_t *from);

/* Write the batch (pamops.wb_write) and swap its pages (see above); the
 * batch is empty afterwards whatever happens.  Adds to *res.  Returns the
 * number of pages swapped, or the backend's error (-ENOSPC, -EIO, ...:
 * nothing changed).  Call with no lock held.  Pools named by the batch
 * must not be destroyed meanwhile (the rule of the "Threads" note). */
int tmem_wb_commit(struct tmem_store *s, struct tmem_wb_batch *batch,
		   struct tmem_wb_result *res);

/* The second tier moved a record (its compaction): the record at `old`
 * (opaque to tmem), written for the page `key` names, has been copied to
 * `new`.  Finds the page - in key->pool, or, when the object moved to
 * another pool since (tmem_move_object), in any pool holding key->oid -
 * and, under its bucket lock, asks the backend (pamops.relocate) whether
 * a pampd of the key's group (the 16 slots around key->index: a unit's
 * record carries one of its pages' keys) stands for `old`; if so the slot
 * takes the pampd for `new` and the object's generation moves (a
 * writeback, densify or promotion that read the object before then fails
 * its check and leaves the page alone).  The caller then frees `old`;
 * when 0 is returned it frees `new` instead.  Pools are held by a
 * reference while searched (as tmem_evict holds them), so a concurrent
 * tmem_destroy_pool waits; nothing else waits.  Returns 1 (relocated), 0
 * (no page stands for `old`: flushed, rewritten, promoted meanwhile),
 * -EOPNOTSUPP (no pamops.relocate), -EINVAL (old == new or 0).  Thread
 * safe; call with no tmem lock held. */
int tmem_relocate(struct tmem_store *s, const struct tmem_key *key, uint64_t old, uint64_t new);

/* Advance the store's epoch, the clock of the coldness stamps (the owner
 * calls it at a steady pace: the backing tier every 100 ms).  Lock-free. */
void tmem_tick(struct tmem_store *s);

/* The epoch (tmem_tick) of the last get or put of an object of a
 * persistent pool: 0 and *stamp, -ENOENT, -EINVAL (a bad or ephemeral
 * pool).  Objects used in the same epoch tie. */
int tmem_object_stamp(struct tmem_store *s, int pool, const struct tmem_oid *oid,
		      uint64_t *stamp);

/* ---- moving objects between pools ------------------------------------ */

/* Move the object `oid` with everything it holds - its pages (the pampds as
 * they are: no page is decoded or recompressed, each keeps the codec it was
 * stored with, and later puts use the new pool's codec), its pins, its page,
 * byte and objnode counts - from pool `from` to pool `to` (the filesystem
 * moves a file between pools on rename and link).  In an ephemeral `to` an
 * unpinned object joins the LRU as most recently used; leaving an
 * ephemeral `from` takes it off that pool's LRU.  The history counters
 * (puts, gets, flushes, evictions) stay with the pool they happened in.
 *
 * Atomic: the object is found and relinked with the bucket locks of both
 * pools held (the lower pool id's first, so two opposite moves cannot
 * deadlock; tmem_check takes them in the same order), so a get, put, pin or
 * eviction sees the object in exactly one of the pools, whole; an eviction
 * that chose it from `from`'s LRU finds it gone and chooses again.  The
 * walk that sums the object's bytes runs under those locks (a few ns a
 * page).  Nothing is allocated, so the move cannot fail for memory (the
 * destination's hash table may grow afterwards; if that allocation fails
 * the table stays as it is).  Callers keep the rule of the "Threads" note
 * for both pools.
 * Returns 0 (also when from == to), -ENOENT when `from` holds no such
 * object (nothing to move: a file with no page and no pin), -EEXIST when
 * `to` already holds one (nothing changes), -EINVAL for a bad pool. */
int tmem_move_object(struct tmem_store *s, int from, int to, const struct tmem_oid *oid);

/* ---- statistics and invariants -------------------------------------- */

/* Fill *out with one pool's figures.  Returns 0 or -EINVAL.  Lock-free
 * (approximate while the pool changes, see TMEM_STATS_FIELDS). */
int tmem_pool_stats(struct tmem_store *s, int pool, struct tmem_pool_stats *out);

/* Fill *out with the store's figures (sums over the pools).  Takes
 * store->pool_lock only. */
void tmem_stats(struct tmem_store *s, struct tmem_stats *out);

/* Hold the whole store still (every pool's locks) and verify: red-black
 * shape and colours, tree order and parent links, each object in the
 * bucket its id hashes to, radix heights, slot counts,
 * no empty objnode, no empty unpinned object, per-object page counts, the
 * LRU lists (exactly the unpinned objects of ephemeral pools, stamps
 * non-decreasing), every pampd that holds memory (pamops.size > 0)
 * reachable exactly once across the store (a pampd of size 0 is a value,
 * such as a same-filled page, and may repeat), and every counter against
 * what the walk found.  Returns 0, -EUCLEAN
 * after printing the first violation to stderr, or -ENOMEM.  Slow: for
 * tests and debug builds.  Every checked counter changes under the bucket
 * lock together with the structure it counts, so the verdict is exact even
 * while other threads use the store (they wait while a pool is checked). */
int tmem_check(struct tmem_store *s);

#endif /* ZC_TMEM_TMEM_H */
