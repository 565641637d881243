/* render.c - every statistics format of zcached, in one place (see
 * render.h).
 *
 * Design note.  The headline figures are defined once, in
 * zfs_render_figures(), and stats, metrics, stats.json and mm_stat print
 * from that table; mem_used_bytes is defined once, in zfs_mem_used_of() (fuse/mem.h).
 * The module detail files print each module's stats struct through the
 * X-macro list of its fields that the module's header declares, and the
 * pools' files through ZFS_POOL_FIELDS below, so adding a counter to a
 * module adds it to every format that prints the module.
 */
#include "fuse/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the text buffer ------------------------------------------------------- */

void zfs_text_printf(struct zfs_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->err)
		return;
	for (;;) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = t->buf ? vsnprintf(t->buf + t->len, room, fmt, ap) : -1;
		va_end(ap);
		if (n >= 0 && (size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 4096;
		while (n >= 0 && cap - t->len <= (size_t)n)
			cap *= 2;
		char *b = realloc(t->buf, cap);
		if (!b) {
			t->err = -ENOMEM;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
}

void zfs_snapshot_free(struct zfs_snapshot *s)
{
	free(s->sgv_pools);
	free(s->xcf);
	free(s->slabs);
	free(s->pools);
	free(s->fuse);
	s->fuse = NULL;
	free(s->far.servers);
	s->far.servers = NULL;
	s->sgv_pools = NULL;
	s->xcf = NULL;
	s->slabs = NULL;
	s->pools = NULL;
}

uint64_t zfs_snapshot_mem_used(const struct zfs_snapshot *s)
{
	return zfs_mem_used_of(&s->tmem, s->have_pam ? &s->pam : NULL, s->ns.meta_bytes);
}

/* ---- headline figures ------------------------------------------------------ */

/* Spill servers not down (up, or retrying: the next request probes). */
static unsigned zfs_spill_servers_up(const struct zfs_snapshot *s)
{
	unsigned up = 0;

	for (unsigned i = 0; i < s->far.nservers; i++)
		up += s->far.servers[i].state != ZFS_SPILL_SERVER_DOWN;
	return up;
}

int zfs_render_figures(const struct zfs_snapshot *s, struct zfs_figure *out)
{
	uint64_t used = zfs_snapshot_mem_used(s);
	uint64_t orig = s->tmem.pages * 4096;
	uint64_t compr = s->have_pam ? s->pam.compr_bytes : s->tmem.pampd_bytes;
	uint64_t sgv_bytes = (s->sgv.active_pages + s->sgv.inactive_pages) * 4096;
	uint64_t max = s->mem_used_max > used ? s->mem_used_max : used;
	int n = 0;

#define FIG(nm, val, ratio, counter, hlp)                                         \
	out[n++] = (struct zfs_figure){ nm, (double)(val), ratio, counter, hlp, NULL }
	FIG("pools", s->ns.pools, 0, 0, "pools (the root and each top-level directory)");
	FIG("objects", s->tmem.objects, 0, 0, "tmem objects (files with data, or open)");
	FIG("pages", s->tmem.pages, 0, 0, "pages stored");
	FIG("same_filled_pages", s->pam.same_filled_pages, 0, 0,
	    "pages whose 8-byte words are all equal, kept in the handle (no memory)");
	FIG("huge_pages", s->pam.raw_pages, 0, 0, "incompressible pages stored whole");
	FIG("orig_data_bytes", orig, 0, 0, "uncompressed bytes of the stored pages");
	FIG("compr_data_bytes", compr, 0, 0, "compressed bytes of the stored pages");
	FIG("mem_used_bytes", used, 0, 0,
	    "memory the store holds for the data: pool pages, raw pages and metadata");
	FIG("mem_limit_bytes", s->mem_limit, 0, 0, "memory limit (0 = none)");
	FIG("mem_used_max_bytes", max, 0, 0, "highest mem_used_bytes seen");
	FIG("compression_ratio", used ? (double)orig / (double)used : 0.0, 1, 0,
	    "orig_data_bytes / mem_used_bytes");
	FIG("puts", s->tmem.puts, 0, 1, "pages stored, ever");
	FIG("gets", s->tmem.gets, 0, 1, "pages read, ever");
	FIG("flushes", s->tmem.flushes, 0, 1, "pages removed, ever");
	FIG("evictions", s->tmem.evictions, 0, 1, "objects evicted from ephemeral pools, ever");
	FIG("failed_puts", s->tmem.failed_puts + s->enospc, 0, 1,
	    "page stores that failed, and writes refused at the limit, ever");
	FIG("compactions", s->compactions, 0, 1,
	    "compactions run (/.zcache/compact, the policy thread, the limit), ever");
	FIG("pages_compacted", s->pages_compacted, 0, 1, "pages freed by compaction, ever");
	FIG("huge_pages_since", s->pam.raw_puts, 0, 1, "incompressible pages stored whole, ever");
	/* Caches, on lines of their own (not in mem_used_bytes). */
	FIG("sgv_cache_bytes", sgv_bytes, 0, 0, "SGV cache: I/O and scratch buffers (in use + idle)");
	FIG("sgv_idle_bytes", s->sgv.inactive_pages * 4096, 0, 0, "SGV cache: idle buffers");
	FIG("buddy_bytes", s->buddy.chunks * BUDDY_CHUNK_SIZE + s->buddy.direct_bytes, 0, 0,
	    "memory mapped by the buddy allocator (chunks and direct maps)");
	FIG("files", s->ns.files, 0, 0, "regular files");
	FIG("directories", s->ns.dirs, 0, 0, "directories");
	FIG("inodes", s->ns.inodes, 0, 0, "inodes of every kind");
	FIG("meta_bytes", s->tmem.meta_bytes + s->ns.meta_bytes + s->pam.meta_bytes, 0, 0,
	    "metadata: tmem nodes, xcf descriptors, inodes and directories");
	FIG("enospc", s->enospc, 0, 1, "writes refused at the memory limit, ever");
	/* The memory policy (fuse/mem.h). */
#define ZFS_PC_FIG(id, field, figure, scale, help) FIG(#figure, s->field * (scale), 0, 1, help);
	ZFS_POLICY_COUNTERS(ZFS_PC_FIG)
#undef ZFS_PC_FIG
	/* The session's transport (fuse/uring.h). */
	out[n++] = (struct zfs_figure){ "transport", 1, 0, 0,
		"the transport serving the mount: uring (FUSE over io_uring) or dev (/dev/fuse)",
		s->uring ? "uring" : "dev" };
	FIG("uring_queues", s->ring.queues, 0, 0, "io_uring queues (one per possible CPU), 0 without");
	FIG("uring_entries", s->ring.queues * s->ring.depth, 0, 0,
	    "io_uring entries registered, all queues (each: a page and a payload buffer)");
	FIG("uring_requests", s->ring.requests, 0, 1, "requests served through io_uring, ever");
	FIG("uring_remote_replies", s->ring.remote_replies, 0, 1,
	    "io_uring replies made on a thread other than the request's queue, ever");
	FIG("uring_held", s->ring.held, 0, 0,
	    "io_uring requests held in their buffers across the last hand-over (reload, restart)");
	FIG("uring_revived", s->ring.revived, 0, 1,
	    "held io_uring requests served from their buffers (after a hand-over), ever");
	FIG("interrupts", s->interrupts, 0, 1, "INTERRUPT requests received, ever");
	/* Multi-page units (compress/pam.h) and the densifier (fuse/densify.h). */
	FIG("units", s->pam.units, 0, 0, "multi-page units stored now (made by densify)");
	FIG("unit_pages", s->pam.unit_pages, 0, 0, "pages stored in units now");
#define ZFS_DZ_FIG(id, field, figure, scale, help) \
	FIG(#figure, s->field * (scale), (scale) < 1, 1, help);
	ZFS_DENSIFY_COUNTERS(ZFS_DZ_FIG)
#undef ZFS_DZ_FIG
	/* The far tier (fuse/far.h; zero without spill=). */
#define ZFS_FAR_FIG(id, field, figure, help) \
	FIG(#figure, s->far.counters[ZFS_FAR_##id], 0, ZFS_FAR_##id > ZFS_FAR_BYTES, help);
	ZFS_FAR_COUNTERS(ZFS_FAR_FIG)
#undef ZFS_FAR_FIG
	FIG("spill_remote_errors", s->far.client.remote_errors, 0, 1,
	    "requests a spill server failed or never answered, ever");
	FIG("spill_servers", s->far.nservers, 0, 0, "spill= servers (0: no far tier)");
	FIG("spill_servers_up", zfs_spill_servers_up(s), 0, 0,
	    "spill= servers up now (not down after a failure)");
	/* The backing tier (fuse/tier.h), on mounts with -o backing. */
	if (s->have_tier) {
#define ZFS_TIER_FIG(field, counter, help) FIG("backing_" #field, s->tier.field, 0, counter, help);
		ZFS_TIER_STATS(ZFS_TIER_FIG)
#undef ZFS_TIER_FIG
	}
#undef FIG
	return n;
}

/* The headline figure called `name` (it is always there). */
static uint64_t zfs_figure_value(const struct zfs_figure *f, int n, const char *name)
{
	for (int k = 0; k < n; k++)
		if (!strcmp(f[k].name, name))
			return (uint64_t)f[k].value;
	return 0;
}

void zfs_render_mm_values(const struct zfs_snapshot *s, uint64_t out[ZFS_MM_STAT_FIELDS])
{
	static const char *const zram_order[ZFS_MM_STAT_FIELDS] = {
		"orig_data_bytes", "compr_data_bytes", "mem_used_bytes", "mem_limit_bytes",
		"mem_used_max_bytes", "same_filled_pages", "pages_compacted", "huge_pages",
		"huge_pages_since",
	};
	struct zfs_figure f[ZFS_MAX_FIGURES];
	int n = zfs_render_figures(s, f);

	for (int k = 0; k < ZFS_MM_STAT_FIELDS; k++)
		out[k] = zfs_figure_value(f, n, zram_order[k]);
}

static void zfs_print_value(struct zfs_text *t, const struct zfs_figure *f)
{
	if (f->text)
		zfs_text_printf(t, "%s", f->text);
	else if (f->is_ratio)
		zfs_text_printf(t, "%.3f", f->value);
	else
		zfs_text_printf(t, "%.0f", f->value);
}

void zfs_render_stats(const struct zfs_snapshot *s, struct zfs_text *t)
{
	struct zfs_figure f[ZFS_MAX_FIGURES];
	int n = zfs_render_figures(s, f), k;

	for (k = 0; k < n; k++) {
		zfs_text_printf(t, "%-20s ", f[k].name);
		zfs_print_value(t, &f[k]);
		zfs_text_printf(t, "\n");
	}
}

void zfs_render_mm_stat(const struct zfs_snapshot *s, struct zfs_text *t)
{
	uint64_t v[ZFS_MM_STAT_FIELDS];

	zfs_render_mm_values(s, v);
	for (int k = 0; k < ZFS_MM_STAT_FIELDS; k++)
		zfs_text_printf(t, "%s%8" PRIu64, k ? " " : "", v[k]);
	zfs_text_printf(t, "\n");
}

/* Prometheus label values escape \, " and newline. */
static void zfs_label(struct zfs_text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			zfs_text_printf(t, "\\%c", *v);
		else if (*v == '\n')
			zfs_text_printf(t, "\\n");
		else
			zfs_text_printf(t, "%c", *v);
	}
}

/* A pool's figures (pools/NAME/stats, the metrics' zcache_pool_*, the
 * pools of stats.json), declared once: X(name, value of pool p, help,
 * counter). */
#define ZFS_POOL_FIELDS(X)                                                        \
	X(files, p->files, "regular files in the pool", 0)                        \
	X(objects, p->tmem.objects, "tmem objects in the pool", 0)                \
	X(pages, p->tmem.pages, "pages stored in the pool", 0)                    \
	X(open_files, p->tmem.pinned_objects,                                     \
	  "files of the pool open now (never evicted)", 0)                        \
	X(stored_bytes, p->tmem.pampd_bytes,                                      \
	  "bytes the backend holds for the pool's pages", 0)                      \
	X(meta_bytes, p->tmem.meta_bytes, "tmem metadata bytes of the pool", 0)   \
	X(puts, p->tmem.puts, "pages stored in the pool, ever", 1)                \
	X(gets, p->tmem.gets, "pages read from the pool, ever", 1)                \
	X(flushes, p->tmem.flushes, "pages removed from the pool, ever", 1)       \
	X(evictions, p->tmem.evictions, "objects evicted from the pool, ever", 1) \
	X(bytes_written, p->bytes_written, "bytes written to the pool's files, ever", 1) \
	X(bytes_read, p->bytes_read, "bytes read from the pool's files, ever", 1) \
	X(densify_repacks, p->tmem.repacks, "groups densify repacked in the pool, ever", 1) \
	X(densify_repacked_pages, p->tmem.repacked_pages,                        \
	  "pages in those groups, ever", 1)

static const char *const zfs_pool_names[] = {
#define X(name, value, help, counter) #name,
	ZFS_POOL_FIELDS(X)
#undef X
};
static const char *const zfs_pool_help[] = {
#define X(name, value, help, counter) help,
	ZFS_POOL_FIELDS(X)
#undef X
};
static const int zfs_pool_counter[] = {
#define X(name, value, help, counter) counter,
	ZFS_POOL_FIELDS(X)
#undef X
};
#define ZFS_NPOOL_FIELDS (sizeof(zfs_pool_names) / sizeof(zfs_pool_names[0]))

/* Figure `which` (an index into ZFS_POOL_FIELDS) of pool p. */
static uint64_t zfs_pool_value(const struct zfs_pool_snap *p, unsigned which)
{
	const uint64_t v[] = {
#define X(name, value, help, counter) (value),
		ZFS_POOL_FIELDS(X)
#undef X
	};

	return which < ZFS_NPOOL_FIELDS ? v[which] : 0;
}

/* ---- FUSE requests (fuse/reqstat.h) ------------------------------------------ */

/* A histogram bucket's upper bound as the metrics print it: seconds, or
 * "+Inf" for the last. */
static void zfs_fuse_le(struct zfs_text *t, unsigned b)
{
	uint64_t le = zfs_reqstat_bucket_le_us(b);

	if (le)
		zfs_text_printf(t, "%.6f", (double)le / 1e6);
	else
		zfs_text_printf(t, "+Inf");
}

/* The histogram zcache_fuse_request_seconds{op}: cumulative buckets,
 * _sum, _count.  The count printed is the buckets' sum, so +Inf and
 * _count agree even when a request was counted between reading its count
 * and its bucket. */
static void zfs_metrics_fuse(const struct zfs_snapshot *s, struct zfs_text *t)
{
	unsigned k, b;

	if (!s->fuse)
		return;
	zfs_text_printf(t, "# HELP zcache_fuse_request_seconds FUSE requests served, by opcode, "
			   "and their service time (received to reply written), ever\n"
			   "# TYPE zcache_fuse_request_seconds histogram\n");
	for (k = 0; k < ZFS_REQSTAT_NOPS; k++) {
		const struct zfs_reqstat_op *o = &s->fuse->op[k];
		const char *op = zfs_reqstat_opname(k);
		uint64_t cum = 0;

		if (!o->count)
			continue;
		for (b = 0; b < ZFS_REQSTAT_BUCKETS; b++) {
			cum += o->hist[b];
			zfs_text_printf(t, "zcache_fuse_request_seconds_bucket{op=\"%s\",le=\"", op);
			zfs_fuse_le(t, b);
			zfs_text_printf(t, "\"} %" PRIu64 "\n", cum);
		}
		zfs_text_printf(t, "zcache_fuse_request_seconds_sum{op=\"%s\"} %.9f\n", op,
				(double)o->total_ns / 1e9);
		zfs_text_printf(t, "zcache_fuse_request_seconds_count{op=\"%s\"} %" PRIu64 "\n", op,
				cum);
	}
}

/* zcache_spill_server_up{server,state}: 1 unless the server is down, one
 * series per spill= server. */
static void zfs_metrics_spill(const struct zfs_snapshot *s, struct zfs_text *t)
{
	if (!s->far.nservers)
		return;
	zfs_text_printf(t, "# HELP zcache_spill_server_up spill server not down (1), or down"
			   " after a failure (0); state: up, down or retrying\n"
			   "# TYPE zcache_spill_server_up gauge\n");
	for (unsigned i = 0; i < s->far.nservers; i++) {
		const struct zfs_spill_server *v = &s->far.servers[i];

		zfs_text_printf(t, "zcache_spill_server_up{server=\"");
		zfs_label(t, v->name);
		zfs_text_printf(t, "\",state=\"%s\"} %d\n", zfs_spill_server_state_name(v->state),
				v->state != ZFS_SPILL_SERVER_DOWN);
	}
}

static void zfs_fuse_line(struct zfs_text *t, const char *name, const struct zfs_reqstat_op *o)
{
	unsigned b;

	zfs_text_printf(t, "%-18s %10" PRIu64 " %12" PRIu64 " %9" PRIu64 " %9.1f ", name,
			o->count, o->total_ns / 1000, o->max_ns / 1000,
			o->count ? (double)o->total_ns / 1000.0 / (double)o->count : 0.0);
	for (b = 0; b < ZFS_REQSTAT_BUCKETS; b++) {
		uint64_t le = zfs_reqstat_bucket_le_us(b);

		if (!o->hist[b])
			continue;
		if (le)
			zfs_text_printf(t, " %" PRIu64 ":%" PRIu64, le, o->hist[b]);
		else
			zfs_text_printf(t, " inf:%" PRIu64, o->hist[b]);
	}
	zfs_text_printf(t, "\n");
}

void zfs_render_fuse(const struct zfs_snapshot *s, struct zfs_text *t)
{
	struct zfs_reqstat_op all;
	unsigned k;

	zfs_text_printf(t, "%-18s %10s %12s %9s %9s  %s\n", "op", "count", "total_us", "max_us",
			"mean_us", "histogram (below LE us: N)");
	if (!s->fuse)
		return;
	for (k = 0; k < ZFS_REQSTAT_NOPS; k++)
		if (s->fuse->op[k].count)
			zfs_fuse_line(t, zfs_reqstat_opname(k), &s->fuse->op[k]);
	zfs_reqstat_total(s->fuse, &all);
	zfs_fuse_line(t, "all", &all);
}

void zfs_render_metrics(const struct zfs_snapshot *s, struct zfs_text *t)
{
	struct zfs_figure f[ZFS_MAX_FIGURES];
	int n = zfs_render_figures(s, f), k;
	unsigned i, j;

	for (k = 0; k < n; k++) {
		zfs_text_printf(t, "# HELP zcache_%s %s\n# TYPE zcache_%s %s\nzcache_%s", f[k].name,
				f[k].help, f[k].name, f[k].is_counter ? "counter" : "gauge",
				f[k].name);
		if (f[k].text) {
			zfs_text_printf(t, "{%s=\"", f[k].name);
			zfs_label(t, f[k].text);
			zfs_text_printf(t, "\"} 1\n");
			continue;
		}
		zfs_text_printf(t, " ");
		zfs_print_value(t, &f[k]);
		zfs_text_printf(t, "\n");
	}
	for (j = 0; j < ZFS_NPOOL_FIELDS; j++) {
		zfs_text_printf(t, "# HELP zcache_pool_%s %s\n# TYPE zcache_pool_%s %s\n",
				zfs_pool_names[j], zfs_pool_help[j], zfs_pool_names[j],
				zfs_pool_counter[j] ? "counter" : "gauge");
		for (i = 0; i < s->npools; i++) {
			zfs_text_printf(t, "zcache_pool_%s{pool=\"", zfs_pool_names[j]);
			zfs_label(t, s->pools[i].name);
			zfs_text_printf(t, "\"} %" PRIu64 "\n", zfs_pool_value(&s->pools[i], j));
		}
	}
	zfs_metrics_fuse(s, t);
	zfs_metrics_spill(s, t);
}

/* JSON strings: escape quotes, backslashes and control characters. */
static void zfs_json_str(struct zfs_text *t, const char *v)
{
	zfs_text_printf(t, "\"");
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '"' || c == '\\')
			zfs_text_printf(t, "\\%c", c);
		else if (c < 0x20)
			zfs_text_printf(t, "\\u%04x", c);
		else
			zfs_text_printf(t, "%c", c);
	}
	zfs_text_printf(t, "\"");
}

/* ---- module detail: each module's own X-macro field list ------------------- */

/* X(name, comment) -> one "name value" line, or one JSON member (sep is
 * "" before the first member of an object, "," after). */
#define ZFS_LINE(field, comment) \
	zfs_text_printf(t, "%-24s %" PRIu64 "\n", #field, (uint64_t)st->field);
#define ZFS_JSON(field, comment) \
	zfs_text_printf(t, "%s\"%s\":%" PRIu64, sep, #field, (uint64_t)st->field), sep = ",";

static void zfs_json_buddy(struct zfs_text *t, const struct buddy_stats *st)
{
	const char *sep = "";

	zfs_text_printf(t, "{");
	BUDDY_STATS_FIELDS(ZFS_JSON)
	zfs_text_printf(t, "}");
}

static void zfs_json_xcf(struct zfs_text *t, const struct xcf_stats *st)
{
	const char *sep = "";

	zfs_text_printf(t, "{\"name\":");
	zfs_json_str(t, st->name);
	sep = ",";
	XCF_STATS_FIELDS(ZFS_JSON)
	zfs_text_printf(t, "}");
}

static void zfs_json_sgv_pool(struct zfs_text *t, const struct sgv_pool_stats *st)
{
	const char *sep = "";

	zfs_text_printf(t, "{\"name\":");
	zfs_json_str(t, st->name);
	sep = ",";
	SGV_POOL_STATS_FIELDS(ZFS_JSON)
	zfs_text_printf(t, "}");
}

/* stats.json's "fuse": {"OP":{"count":N,"total_ns":N,"max_ns":N,
 * "hist":[N x ZFS_REQSTAT_BUCKETS]},...} for the opcodes served. */
static void zfs_json_fuse(const struct zfs_snapshot *s, struct zfs_text *t)
{
	const char *sep = "";
	unsigned k, b;

	zfs_text_printf(t, ",\"fuse\":{");
	for (k = 0; s->fuse && k < ZFS_REQSTAT_NOPS; k++) {
		const struct zfs_reqstat_op *st = &s->fuse->op[k];

		if (!st->count)
			continue;
		zfs_text_printf(t, "%s\"%s\":{", sep, zfs_reqstat_opname(k));
		sep = "";
		ZFS_REQSTAT_FIELDS(ZFS_JSON)
		zfs_text_printf(t, ",\"hist\":[");
		for (b = 0; b < ZFS_REQSTAT_BUCKETS; b++)
			zfs_text_printf(t, "%s%" PRIu64, b ? "," : "", st->hist[b]);
		zfs_text_printf(t, "]}");
		sep = ",";
	}
	zfs_text_printf(t, "}");
}

/* stats.json's "spill": {"client":{ZFS_SPILL_STATS_FIELDS},"servers":
 * [{"name":S,"state":S,"requests":N,"errors":N,"skips":N,
 * "retry_in_ms":N,"last_error":S},...]}, or null without spill=. */
static void zfs_json_spill(const struct zfs_snapshot *s, struct zfs_text *t)
{
	const struct zfs_spill_stats *st = &s->far.client;
	const char *sep = "";

	if (!s->have_spill) {
		zfs_text_printf(t, ",\"spill\":null");
		return;
	}
	zfs_text_printf(t, ",\"spill\":{\"client\":{");
	ZFS_SPILL_STATS_FIELDS(ZFS_JSON)
	zfs_text_printf(t, "},\"servers\":[");
	for (unsigned i = 0; i < s->far.nservers; i++) {
		const struct zfs_spill_server *v = &s->far.servers[i];

		zfs_text_printf(t, "%s{\"name\":", i ? "," : "");
		zfs_json_str(t, v->name);
		zfs_text_printf(t, ",\"state\":\"%s\",\"requests\":%" PRIu64
				",\"errors\":%" PRIu64 ",\"skips\":%" PRIu64
				",\"retry_in_ms\":%" PRIu32 ",\"last_error\":",
				zfs_spill_server_state_name(v->state), v->requests, v->errors,
				v->skips, v->retry_in_ms);
		zfs_json_str(t, v->last_error);
		zfs_text_printf(t, "}");
	}
	zfs_text_printf(t, "]}");
}

void zfs_render_json(const struct zfs_snapshot *s, struct zfs_text *t)
{
	uint64_t mm[ZFS_MM_STAT_FIELDS];
	struct zfs_figure f[ZFS_MAX_FIGURES];
	int n = zfs_render_figures(s, f), k;
	const char *sep = "";
	unsigned i, j;

	zfs_text_printf(t, "{\"stats\":{");
	for (k = 0; k < n; k++) {
		zfs_text_printf(t, "%s\"%s\":", k ? "," : "", f[k].name);
		if (f[k].text)
			zfs_json_str(t, f[k].text);
		else
			zfs_print_value(t, &f[k]);
	}
	zfs_text_printf(t, "},\"mm_stat\":[");
	zfs_render_mm_values(s, mm);
	for (k = 0; k < ZFS_MM_STAT_FIELDS; k++)
		zfs_text_printf(t, "%s%" PRIu64, k ? "," : "", mm[k]);
	zfs_text_printf(t, "]");
	zfs_text_printf(t, ",\"pools\":{");
	for (i = 0; i < s->npools; i++) {
		zfs_text_printf(t, "%s", i ? "," : "");
		zfs_json_str(t, s->pools[i].name);
		zfs_text_printf(t, ":{\"kind\":\"%s\",\"compressor\":",
				s->pools[i].ephemeral ? "ephemeral" : "persistent");
		{
			char c[CODEC_NAME_MAX];

			if (codec_format(s->pools[i].codec, c, sizeof(c)) < 0)
				strcpy(c, "?");
			zfs_json_str(t, c);
			zfs_densify_format(s->pools[i].densify, c, sizeof(c));
			zfs_text_printf(t, ",\"densify\":");
			zfs_json_str(t, c);
		}
		for (j = 0; j < ZFS_NPOOL_FIELDS; j++)
			zfs_text_printf(t, ",\"%s\":%" PRIu64, zfs_pool_names[j],
					zfs_pool_value(&s->pools[i], j));
		zfs_text_printf(t, "}");
	}
	zfs_text_printf(t, "},\"alloc\":{\"buddy\":");
	zfs_json_buddy(t, &s->buddy);
	zfs_text_printf(t, ",\"sgv\":{");
	{
		const struct sgv_ctx_stats *st = &s->sgv;

		SGV_CTX_STATS_FIELDS(ZFS_JSON)
	}
	zfs_text_printf(t, ",\"pool_list\":[");
	for (i = 0; i < s->nsgv_pools; i++) {
		zfs_text_printf(t, "%s", i ? "," : "");
		zfs_json_sgv_pool(t, &s->sgv_pools[i]);
	}
	zfs_text_printf(t, "]},\"xcf\":[");
	for (i = 0; i < s->nxcf; i++) {
		zfs_text_printf(t, "%s", i ? "," : "");
		zfs_json_xcf(t, &s->xcf[i]);
	}
	zfs_text_printf(t, "],\"slabinfo\":[");
	for (i = 0; i < s->nslabs; i++) {
		const struct slab_stats *st = &s->slabs[i];

		zfs_text_printf(t, "%s{\"name\":", i ? "," : "");
		zfs_json_str(t, st->name);
		sep = ",";
		SLAB_STATS_FIELDS(ZFS_JSON)
		zfs_text_printf(t, "}");
	}
	zfs_text_printf(t, "]},\"compress\":{");
	sep = "";
	{
		const struct pam_stats *st = &s->pam;

		PAM_STATS_FIELDS(ZFS_JSON)
	}
	zfs_text_printf(t, "}");
	zfs_json_spill(s, t);
	zfs_json_fuse(s, t);
	zfs_text_printf(t, "}\n");
}

void zfs_render_pool(const struct zfs_snapshot *s, unsigned i, struct zfs_text *t)
{
	const struct zfs_pool_snap *p = &s->pools[i];
	char c[CODEC_NAME_MAX];
	unsigned j;

	if (codec_format(p->codec, c, sizeof(c)) < 0)
		strcpy(c, "?");
	zfs_text_printf(t, "%-24s %s\n%-24s %s\n%-24s %u\n", "kind",
			p->ephemeral ? "ephemeral" : "persistent", "compressor", c, "tmem_pool",
			p->tmem.id);
	zfs_densify_format(p->densify, c, sizeof(c));
	zfs_text_printf(t, "%-24s %s\n", "densify", c);
	for (j = 0; j < ZFS_NPOOL_FIELDS; j++)
		zfs_text_printf(t, "%-24s %" PRIu64 "\n", zfs_pool_names[j],
				zfs_pool_value(p, j));
	zfs_text_printf(t, "%-24s %.3f\n", "compression_ratio",
			p->tmem.pampd_bytes + p->tmem.meta_bytes
				? (double)(p->tmem.pages * 4096) /
					  (double)(p->tmem.pampd_bytes + p->tmem.meta_bytes)
				: 0.0);
}

void zfs_render_buddy(const struct zfs_snapshot *s, struct zfs_text *t)
{
	const struct buddy_stats *st = &s->buddy;

	BUDDY_STATS_FIELDS(ZFS_LINE)
	zfs_text_printf(t, "%-24s %" PRIu64 "\n", "internal_fragmentation",
			st->bytes_allocated - st->bytes_requested);
}

void zfs_render_sgv(const struct zfs_snapshot *s, struct zfs_text *t)
{
	unsigned i, k;

	{
		const struct sgv_ctx_stats *st = &s->sgv;

		SGV_CTX_STATS_FIELDS(ZFS_LINE)
	}
	for (i = 0; i < s->nsgv_pools; i++) {
		const struct sgv_pool_stats *st = &s->sgv_pools[i];

		zfs_text_printf(t, "\npool %s (clustering %d, single_alloc_pages %u, purge %d s)\n",
				st->name, st->clustering, st->single_alloc_pages,
				st->purge_interval);
		SGV_POOL_STATS_FIELDS(ZFS_LINE)
		zfs_text_printf(t, "%-6s %10s %10s %8s %10s %10s %10s\n", "order", "hits", "total",
				"merged%", "cached_pg", "inactive", "entries");
		for (k = 0; k < st->nr_orders && k < SGV_NR_ORDERS; k++) {
			const struct sgv_order_stats *o = &st->order[k];

			if (!o->total && !o->cached_entries)
				continue;
			zfs_text_printf(t, "%-6u %10" PRIu64 " %10" PRIu64 " %8.1f %10" PRIu64
					   " %10" PRIu64 " %10" PRIu64 "\n",
					k, o->hits, o->total,
					o->fresh_pages ? 100.0 * (double)o->merged / (double)o->fresh_pages
						       : 0.0,
					o->cached_pages, o->inactive_pages, o->cached_entries);
		}
	}
}

void zfs_render_xcf(const struct zfs_snapshot *s, struct zfs_text *t)
{
	unsigned i, k;

	for (i = 0; i < s->nxcf; i++) {
		const struct xcf_stats *st = &s->xcf[i];

		zfs_text_printf(t, "%spool %s\n", i ? "\n" : "", st->name);
		XCF_STATS_FIELDS(ZFS_LINE)
		zfs_text_printf(t, "free_lists (size: blocks)");
		for (k = 0; k < XCF_NR_LISTS; k++)
			if (st->free_blocks[k])
				zfs_text_printf(t, " %u:%" PRIu64, (k + 1) * XCF_BLOCK_SIZE,
						st->free_blocks[k]);
		zfs_text_printf(t, "\n");
	}
}

void zfs_render_slabinfo(const struct zfs_snapshot *s, struct zfs_text *t)
{
	unsigned i;

	zfs_text_printf(t, "slabinfo - version: 2.1\n");
	zfs_text_printf(t, "# name            <active_objs> <num_objs> <objsize> <objperslab> "
			   "<pagesperslab> : slabdata <active_slabs> <num_slabs> <bytes>\n");
	for (i = 0; i < s->nslabs; i++) {
		const struct slab_stats *sl = &s->slabs[i];

		zfs_text_printf(t, "%-17s %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %4" PRIu64
				   " %4" PRIu64 " : slabdata %6" PRIu64 " %6" PRIu64 " %8" PRIu64 "\n",
				sl->name, sl->active_objs, sl->num_objs, sl->objsize, sl->objs_per_slab,
				sl->pages_per_slab, sl->slabs, sl->slabs, sl->bytes);
	}
}

void zfs_render_compress(const struct zfs_snapshot *s, struct zfs_text *t)
{
	const struct pam_stats *st = &s->pam;
	char c[CODEC_NAME_MAX];

	if (codec_format(s->default_codec, c, sizeof(c)) < 0)
		strcpy(c, "?");
	zfs_text_printf(t, "%-24s %s\n", "default_compressor", c);
	PAM_STATS_FIELDS(ZFS_LINE)
	zfs_text_printf(t, "%-24s %.3f\n", "compression_ratio",
			st->compr_bytes ? (double)st->orig_bytes / (double)st->compr_bytes : 0.0);
}

void zfs_render_densify(const struct zfs_snapshot *s, struct zfs_text *t)
{
	char c[CODEC_NAME_MAX];

	zfs_densify_format(s->densify_setting, c, sizeof(c));
	zfs_text_printf(t, "%-24s %s\n", "densify", c);
	zfs_text_printf(t, "%-24s %" PRIu64 "\n%-24s %" PRIu64 "\n", "units", s->pam.units,
			"unit_pages", s->pam.unit_pages);
#define ZFS_DZ_LINE(id, field, figure, scale, help) \
	zfs_text_printf(t, (scale) < 1 ? "%-24s %.3f\n" : "%-24s %.0f\n", #figure, \
			(double)s->field * (scale));
	ZFS_DENSIFY_COUNTERS(ZFS_DZ_LINE)
#undef ZFS_DZ_LINE
}

void zfs_render_spill(const struct zfs_snapshot *s, struct zfs_text *t)
{
	const struct zfs_spill_stats *st = &s->far.client;

	if (!s->have_spill) {
		zfs_text_printf(t, "spill off\n");
		return;
	}
#define ZFS_FAR_LINE(id, field, figure, help) \
	zfs_text_printf(t, "%-24s %" PRIu64 "\n", #figure, s->far.counters[ZFS_FAR_##id]);
	ZFS_FAR_COUNTERS(ZFS_FAR_LINE)
#undef ZFS_FAR_LINE
	ZFS_SPILL_STATS_FIELDS(ZFS_LINE)
	for (unsigned i = 0; i < s->far.nservers; i++) {
		const struct zfs_spill_server *v = &s->far.servers[i];

		zfs_text_printf(t, "server %s %s requests=%" PRIu64 " errors=%" PRIu64
				" skips=%" PRIu64 " retry_in_ms=%" PRIu32, v->name,
				zfs_spill_server_state_name(v->state), v->requests, v->errors,
				v->skips, v->retry_in_ms);
		if (v->last_error[0])
			zfs_text_printf(t, " last_error=%s", v->last_error);
		zfs_text_printf(t, "\n");
	}
}
