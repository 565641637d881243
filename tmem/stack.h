/* stack.h - the whole store built in one place: buddy allocator, SGV
 * context, xcf descriptor cache, PAM backend, tmem's slab host and the tmem
 * store, wired the way the daemon runs them.
 *
 * Design.  The layers below never know of each other's upper neighbours:
 * tmem calls its backend through struct tmem_pamops and PAM knows nothing
 * of tmem.  This module sits above both and is the one place where they
 * meet: it holds the adapter that makes PAM a tmem backend
 * (zc_stack_pamops) and zc_stack_create, which builds every piece with the
 * daemon's configuration.  The daemon (daemon/main.c), the store benchmark
 * (bench/store.c) and the suites that need a whole store (tests/store.c,
 * tests/stack.c, tests/fault.c, tests/policy.c) all build it here, so what
 * they measure and test is what runs; a test changes only what it names in
 * struct zc_stack_config (its own buddy allocator with faults armed, fewer
 * xcf pools, a smaller reserve).
 *
 *   buddy  -> sgv_ctx          (I/O and scratch vectors)
 *          -> slab "xcf_desc"  (xcf descriptors, shared by PAM's pools)
 *          -> pam              (xcf pools "pam-N", scratch pools "pam-scratch-N",
 *                               unit descriptors: slab "pam_unit")
 *          -> tmem slab host   (slab caches "tmem_obj", "tmem_objnode")
 *   tmem store on (zc_stack_pamops, pam) and (tmem_slab_hostops, host)
 *
 * Raw threshold.  The daemon stores a page raw only when it does not
 * compress below 7/8 page (ZC_STACK_RAW_THRESHOLD), not PAM's default 3/4:
 * a page that compresses to 3/4..7/8 still saves memory in xcf (tree.tar:
 * 1.4 MB less than with 3/4).
 *
 * Units.  The daemon's lz4 and lz4hc units are 4 pages in a full group
 * (16 pages stored: inside a file of 64 KiB or more) and 8 in any other
 * (ZC_STACK_LZ4_UNIT_PAGES, ZC_STACK_LZ4_PART_UNIT_PAGES; compress/pam.h,
 * pam_config.lz4_unit_pages).  A random 4 KiB read of a densified file
 * decodes its unit up to the page: 2.5 pages on average in 16 KiB units,
 * 4.5 in 32 KiB, 8.5 in 64 KiB.  Over io_uring, where the round trip of a
 * plain read is a few microseconds, that decoding is most of what a dense
 * read adds (bench/dense_read.sh, tree.tar's first 64 MiB: READ service
 * 2.4 us plain, 6.7-6.9 us in 8-page units, 4.6-4.7 us in 4-page units;
 * random reads of the densified file 0.57-0.60 of the plain file's rate
 * with 8 pages, 0.73-0.74 with 4).  Smaller units cost bytes (tree.tar
 * after densify: 38.3 MB in 8-page units, 39.9 MB in 4-page ones; zram
 * with ext4 holds it in 47.2 MB), and half of tree.tar's bytes are in
 * files under 64 KiB, which are read whole as a rule: so only full groups
 * take 4-page units (39.1 MB).  zstd units take the whole 16-page group
 * (zstd decodes a unit whole; density is its point).
 *
 * Lock order: the stack takes no lock; the modules' orders hold (tmem.h:
 * bucket lock -> slab cache lock -> buddy lock, bucket lock -> xcf pool
 * lock).
 *
 * Threads: create and destroy are not thread safe; everything built is used
 * through its own module's thread-safe calls.
 *
 * Errors: NULL with errno from create, nothing left allocated.
 */
#ifndef ZC_TMEM_STACK_H
#define ZC_TMEM_STACK_H

#include "compress/pam.h"
#include "tmem/tmem.h"

struct buddy;
struct sgv_ctx;
struct slab_cache;

#define ZC_STACK_RAW_THRESHOLD 3584u	/* bytes: 7/8 page (see above) */
#define ZC_STACK_LZ4_UNIT_PAGES 4u	/* pages per lz4 unit, full groups (see above) */
#define ZC_STACK_LZ4_PART_UNIT_PAGES 8u	/* pages per lz4 unit, other groups */
#define ZC_STACK_NSLABS 4		/* tmem_obj, tmem_objnode, xcf_desc, pam_unit */

/* The pamops table that makes PAM a tmem backend: tmem_store_create(
 * &zc_stack_pamops, pam, host, host_ctx), with the struct pam * as pam_ctx.
 * Its ten entries are pam_put, pam_get_locked, pam_decode, pam_free,
 * pam_size, pam_repack_plan, pam_repack, pam_wb_stage, pam_wb_write and
 * pam_promote (compress/pam.h says what each does and under which lock;
 * the last three do nothing until pam_set_backing gave PAM a file). */
extern const struct tmem_pamops zc_stack_pamops;

/* What may differ from the daemon's stack.  A zeroed struct (or NULL) is
 * exactly the daemon's. */
struct zc_stack_config {
	/* The page source.  NULL: the stack creates its own buddy allocator
	 * (reserve below) and destroys it.  Given: the caller's, which must
	 * outlive the stack (a test's with faults armed, say); the stack
	 * neither checks nor destroys it. */
	struct buddy *buddy;
	/* Reserve of the stack's own buddy allocator (buddy_create): 0 =
	 * BUDDY_DEFAULT_RESERVE (adaptive).  Ignored when buddy is given. */
	unsigned buddy_reserve;
	/* PAM's configuration; zero fields take the stack's defaults:
	 * raw_threshold ZC_STACK_RAW_THRESHOLD, pools one per online CPU,
	 * xcf_reserve PAM_DEFAULT_XCF_RESERVE, lz4_unit_pages
	 * ZC_STACK_LZ4_UNIT_PAGES, lz4_part_unit_pages
	 * ZC_STACK_LZ4_PART_UNIT_PAGES. */
	struct pam_config pam;
};

/* A built stack.  Every pointer is set by zc_stack_create and owned by the
 * stack (buddy only when the config gave none); callers use the pieces
 * through their modules and must not destroy them. */
struct zc_stack {
	struct buddy *buddy;		/* the page source of everything below */
	struct sgv_ctx *sgv;		/* PAM's scratch pools; the filesystem's I/O pool */
	struct slab_cache *descs;	/* xcf descriptors ("xcf_desc") */
	struct pam *pam;
	struct tmem_slab_host *host;	/* tmem's objects and objnodes */
	struct tmem_store *store;
	/* The slab caches, for /.zcache/alloc/slabinfo: tmem_obj,
	 * tmem_objnode, xcf_desc, pam_unit. */
	struct slab_cache *slabs[ZC_STACK_NSLABS];
	int own_buddy;			/* buddy was created here */
};

/* Build the stack (cfg may be NULL: the daemon's).  The store has no pool
 * yet.  Returns it, or NULL with errno EINVAL (a bad config value) or
 * ENOMEM (or what a module's create set); whatever was built is torn down
 * again then (a given buddy is left as it was, every block it handed out
 * returned). */
struct zc_stack *zc_stack_create(const struct zc_stack_config *cfg);

/* Tear the stack down in the reverse order of building and verify each
 * piece once everything above it is gone: the store is destroyed (every
 * pool and pampd freed); slab_check of tmem's two caches, the slab host
 * destroyed; pam_check, PAM destroyed (with its unit cache); slab_check of the descriptor cache,
 * destroyed; sgv_ctx_check, the SGV context destroyed; buddy_check of an
 * own buddy allocator, destroyed.  Returns 0, or the first check's
 * negative errno (-EUCLEAN; the check printed the violation to stderr) -
 * the teardown completes either way.  Safe on a partly built stack;
 * zc_stack_destroy(NULL) returns 0.  No other call on any piece may run
 * concurrently or afterwards. */
int zc_stack_destroy(struct zc_stack *s);

/* Verify every piece while the stack is in use: tmem_check, pam_check
 * (which runs xcf_check on each of PAM's pools), slab_check of the four
 * caches, sgv_ctx_check and buddy_check (also of a given buddy).  Returns 0 or the
 * first negative errno (-EUCLEAN after the module printed the violation,
 * -ENOMEM).  Exact only while no other thread uses the stack (pam_check
 * and sgv_ctx_check compare counters with their structures); slow: for
 * tests and debug builds. */
int zc_stack_check(struct zc_stack *s);

#endif /* ZC_TMEM_STACK_H */
