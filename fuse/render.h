/* render.h - the one place where every statistics format of zcached is
 * rendered: /.zcache/stats, mm_stat, metrics, stats.json, pools/NAME/stats,
 * alloc/{buddy,sgv,xcf,slabinfo}, compress and fuse.
 *
 * Design.  ctl.c gathers a struct zfs_snapshot from the modules' own
 * *_stats() functions (plain structs, no printing in any module) and hands
 * it here.  The headline figures of DESIGN.md §2 are computed once into a
 * table of struct zfs_figure (name, value, help text, Prometheus type) by
 * zfs_render_figures(); `stats`, `metrics` and `stats.json` are three
 * printers of that one table, so a figure is defined in exactly one place.
 * mm_stat is a fixed selection of that table in zram's order.  Per-module
 * detail files print the modules' structs through the X-macro field lists
 * each module declares in its header (TMEM_STATS_FIELDS, PAM_STATS_FIELDS,
 * BUDDY_STATS_FIELDS, SLAB_STATS_FIELDS, SGV_*_STATS_FIELDS,
 * XCF_STATS_FIELDS), and the memory policy's and the densifier's counters
 * come from ZFS_POLICY_COUNTERS (fuse/mem.h) and ZFS_DENSIFY_COUNTERS
 * (fuse/densify.h), the far tier's from ZFS_FAR_COUNTERS (fuse/far.h) and
 * ZFS_SPILL_STATS_FIELDS (fuse/spill.h): no field is listed by hand here.
 *
 * The FUSE request statistics (fuse/reqstat.h) are printed per opcode in
 * /.zcache/fuse, as the histogram zcache_fuse_request_seconds{op} in
 * metrics and as the object "fuse" in stats.json; only opcodes served at
 * least once are printed.
 *
 * Output goes into a struct zfs_text, a growable buffer; a failed
 * allocation marks it (err = -ENOMEM) and later appends do nothing, so
 * printers need not check every call.
 *
 * Threads: pure functions of their arguments; thread safe.
 */
#ifndef ZC_FUSE_RENDER_H
#define ZC_FUSE_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "alloc/buddy.h"
#include "alloc/sgv.h"
#include "alloc/slab.h"
#include "alloc/xcf.h"
#include "compress/pam.h"
#include "fuse/densify.h"
#include "fuse/far.h"
#include "fuse/mem.h"
#include "fuse/ns.h"
#include "fuse/reqstat.h"
#include "fuse/tier.h"
#include "fuse/uring.h"
#include "tmem/tmem.h"

struct zfs_text {
	char *buf;	/* NUL-terminated while err == 0; owned, free() it */
	size_t len;
	size_t cap;
	int err;	/* 0 or -ENOMEM */
};

/* One zcached pool as the statistics see it. */
struct zfs_pool_snap {
	char name[ZFS_NAME_MAX + 16];	/* label: "default" for the root pool */
	uint64_t id;			/* zcached pool id (0 = root) */
	int ephemeral;
	unsigned codec;
	uint64_t densify;		/* user.zcache.densify (fuse/densify.h) */
	uint64_t files, bytes_written, bytes_read;
	struct tmem_pool_stats tmem;
};

/* Everything the renderers print, gathered by ctl.c. */
struct zfs_snapshot {
	struct tmem_stats tmem;
	struct pam_stats pam;		/* zero when there is no PAM backend */
	int have_pam;
	struct buddy_stats buddy;
	struct sgv_ctx_stats sgv;
	struct sgv_pool_stats *sgv_pools;	/* owned */
	unsigned nsgv_pools;
	struct xcf_stats *xcf;			/* owned */
	unsigned nxcf;
	struct slab_stats *slabs;		/* owned */
	unsigned nslabs;
	struct zfs_ns_stats ns;
	struct zfs_pool_snap *pools;		/* owned */
	unsigned npools;
	unsigned default_codec;
	uint64_t mem_limit;		/* bytes, 0 = none */
	uint64_t mem_used_max;
	uint64_t enospc;		/* writes refused at the limit */
	uint64_t evicted_files;
	uint64_t compactions;		/* compactions run: /.zcache/compact, the policy
					   thread and the write path at the limit */
	uint64_t pages_compacted;
	/* The memory policy's counters (fuse/mem.h ZFS_POLICY_COUNTERS: one
	 * field each, auto_compactions ... buddy_trimmed_bytes), ever. */
#define ZFS_PC_FIELD(id, field, figure, scale, help) uint64_t field;
	ZFS_POLICY_COUNTERS(ZFS_PC_FIELD)
#undef ZFS_PC_FIELD
	/* The session: its transport and the requests it answered itself. */
	int uring;			/* 1: FUSE over io_uring serves the mount */
	struct zfs_uring_stats ring;	/* zero without the ring */
	uint64_t interrupts;		/* INTERRUPT requests, ever */
	struct zfs_reqstat_sum *fuse;	/* owned; NULL: no request statistics */
	/* The densifier (fuse/densify.h ZFS_DENSIFY_COUNTERS: densify_files
	 * ... densify_passes), ever, and the mount's densify= setting. */
#define ZFS_DZ_FIELD(id, field, figure, scale, help) uint64_t field;
	ZFS_DENSIFY_COUNTERS(ZFS_DZ_FIELD)
#undef ZFS_DZ_FIELD
	uint64_t densify_setting;
	/* The far tier (fuse/far.h) when the mount has spill= (have_spill):
	 * its counters, its client's figures and servers (far.servers owned). */
	int have_spill;
	struct zfs_far_stats far;
	/* The backing tier (fuse/tier.h ZFS_TIER_STATS), when there is one. */
	struct zfs_tier_stats tier;
	int have_tier;
};

/* Free what a snapshot owns (the struct itself is the caller's). */
void zfs_snapshot_free(struct zfs_snapshot *s);

/* mem_used_bytes of the snapshot's figures (zfs_mem_used_of, fuse/mem.h:
 * the one definition). */
uint64_t zfs_snapshot_mem_used(const struct zfs_snapshot *s);

/* A headline figure.  A text figure (text != NULL, e.g. "transport uring")
 * is printed as its text in stats, as a string in stats.json and in the
 * metrics as an info gauge: zcache_NAME{NAME="text"} 1. */
struct zfs_figure {
	const char *name;	/* e.g. "mem_used_bytes" */
	double value;
	int is_ratio;		/* print with decimals */
	int is_counter;		/* Prometheus "counter", else "gauge" */
	const char *help;
	const char *text;	/* a text figure's value, else NULL */
};

#define ZFS_MAX_FIGURES 96

/* Fill out[] (room for ZFS_MAX_FIGURES) with the headline figures in the
 * order of DESIGN.md §2, then the cache lines.  Returns the count. */
int zfs_render_figures(const struct zfs_snapshot *s, struct zfs_figure *out);

/* The nine figures of zram's mm_stat, in its order, taken from the
 * headline table: orig_data_size compr_data_size mem_used_total mem_limit
 * mem_used_max same_pages pages_compacted huge_pages huge_pages_since. */
#define ZFS_MM_STAT_FIELDS 9
void zfs_render_mm_values(const struct zfs_snapshot *s, uint64_t out[ZFS_MM_STAT_FIELDS]);

/* Append printf-style text. */
void zfs_text_printf(struct zfs_text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The files of /.zcache, one function each; they append to t. */
void zfs_render_stats(const struct zfs_snapshot *s, struct zfs_text *t);
void zfs_render_mm_stat(const struct zfs_snapshot *s, struct zfs_text *t);
void zfs_render_metrics(const struct zfs_snapshot *s, struct zfs_text *t);
void zfs_render_json(const struct zfs_snapshot *s, struct zfs_text *t);
/* pools/NAME/stats for s->pools[i]. */
void zfs_render_pool(const struct zfs_snapshot *s, unsigned i, struct zfs_text *t);
void zfs_render_buddy(const struct zfs_snapshot *s, struct zfs_text *t);
void zfs_render_sgv(const struct zfs_snapshot *s, struct zfs_text *t);
void zfs_render_xcf(const struct zfs_snapshot *s, struct zfs_text *t);
void zfs_render_slabinfo(const struct zfs_snapshot *s, struct zfs_text *t);
void zfs_render_compress(const struct zfs_snapshot *s, struct zfs_text *t);
/* /.zcache/fuse: a header line ("op count total_us max_us mean_us
 * histogram"), one line per opcode served (the opcode's name as
 * zfs_reqstat_opname gives it, its count, total and longest service time
 * in µs, the mean, and the non-empty histogram buckets as "LE:N", LE the
 * bucket's upper bound in µs or "inf"), then the line "all" summing them.
 * Nothing but the header when s->fuse is NULL. */
void zfs_render_fuse(const struct zfs_snapshot *s, struct zfs_text *t);
/* /.zcache/densify read back: the mount's setting and the densifier's
 * counters with the units now stored. */
void zfs_render_densify(const struct zfs_snapshot *s, struct zfs_text *t);
/* /.zcache/spill: "spill off" without spill=; else the far tier's counters
 * (by their headline names) and its client's figures (by their
 * fuse/spill.h names) as "name value" lines, then one line per
 * server: "server NAME STATE requests=N errors=N skips=N retry_in_ms=N"
 * and, when it failed, " last_error=TEXT". */
void zfs_render_spill(const struct zfs_snapshot *s, struct zfs_text *t);

#endif /* ZC_FUSE_RENDER_H */
