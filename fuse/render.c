/* render.c - every statistics format of zcached, in one place (see
 * render.h).  The headline figures are defined once, in
 * zfs_render_figures(); the module detail files print each module's stats
 * struct through an X-macro list of its fields.
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
	s->sgv_pools = NULL;
	s->xcf = NULL;
	s->slabs = NULL;
	s->pools = NULL;
}

uint64_t zfs_snapshot_mem_used(const struct zfs_snapshot *s)
{
	uint64_t data = s->have_pam ? s->pam.pool_bytes + s->pam.meta_bytes : s->tmem.pampd_bytes;

	return data + s->tmem.meta_bytes + s->ns.meta_bytes;
}

/* ---- headline figures ------------------------------------------------------ */

int zfs_render_figures(const struct zfs_snapshot *s, struct zfs_figure *out)
{
	uint64_t used = zfs_snapshot_mem_used(s);
	uint64_t orig = s->tmem.pages * 4096;
	uint64_t compr = s->have_pam ? s->pam.compr_bytes : s->tmem.pampd_bytes;
	uint64_t sgv_bytes = (s->sgv.active_pages + s->sgv.inactive_pages) * 4096;
	uint64_t max = s->mem_used_max > used ? s->mem_used_max : used;
	int n = 0;

#define FIG(nm, val, ratio, counter, hlp)                                         \
	out[n++] = (struct zfs_figure){ nm, (double)(val), ratio, counter, hlp }
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
	/* The memory policy. */
	FIG("auto_compactions", s->auto_compactions, 0, 1,
	    "compactions run by the policy thread or the write path at the limit, ever");
	FIG("sgv_purges", s->sgv_purges, 0, 1,
	    "SGV purges and shrinks that freed idle buffers, ever");
	FIG("sgv_purged_bytes", s->sgv_purged_pages * 4096, 0, 1,
	    "bytes of idle SGV buffers freed by purges and shrinks, ever");
	FIG("pressure_events", s->pressure_events, 0, 1,
	    "reactions to system memory pressure (PSI or the cgroup's memory.events), ever");
	FIG("pressure_evictions", s->pressure_evictions, 0, 1,
	    "ephemeral files evicted under system memory pressure, ever");
	FIG("buddy_trims", s->buddy_trims, 0, 1,
	    "times idle chunks of the buddy allocator were unmapped, ever");
	FIG("buddy_trimmed_bytes", s->buddy_trimmed_bytes, 0, 1,
	    "bytes of idle buddy chunks unmapped, ever");
	FIG("policy_runs", s->policy_runs, 0, 1,
	    "policy thread ticks and pressure reactions, counted as each starts and as it "
	    "ends (odd: one is running), ever");
#undef FIG
	return n;
}

static void zfs_print_value(struct zfs_text *t, const struct zfs_figure *f)
{
	if (f->is_ratio)
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
	uint64_t used = zfs_snapshot_mem_used(s);
	uint64_t max = s->mem_used_max > used ? s->mem_used_max : used;

	/* zram's order: orig_data_size compr_data_size mem_used_total
	 * mem_limit mem_used_max same_pages pages_compacted huge_pages
	 * huge_pages_since */
	zfs_text_printf(t, "%8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
			   " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 "\n",
			s->tmem.pages * 4096,
			s->have_pam ? s->pam.compr_bytes : s->tmem.pampd_bytes, used,
			s->mem_limit, max, s->pam.same_filled_pages, s->pages_compacted,
			s->pam.raw_pages, s->pam.raw_pages);
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

#define ZFS_POOL_FIELDS(X)                                                        \
	X(files, "regular files in the pool", 0)                                  \
	X(objects, "tmem objects in the pool", 0)                                 \
	X(pages, "pages stored in the pool", 0)                                   \
	X(open_files, "files of the pool open now (never evicted)", 0)            \
	X(stored_bytes, "bytes the backend holds for the pool's pages", 0)        \
	X(meta_bytes, "tmem metadata bytes of the pool", 0)                       \
	X(puts, "pages stored in the pool, ever", 1)                              \
	X(gets, "pages read from the pool, ever", 1)                              \
	X(flushes, "pages removed from the pool, ever", 1)                        \
	X(evictions, "objects evicted from the pool, ever", 1)                    \
	X(bytes_written, "bytes written to the pool's files, ever", 1)            \
	X(bytes_read, "bytes read from the pool's files, ever", 1)

static uint64_t zfs_pool_value(const struct zfs_pool_snap *p, int which)
{
	switch (which) {
	case 0: return p->files;
	case 1: return p->tmem.objects;
	case 2: return p->tmem.pages;
	case 3: return p->tmem.pinned_objects;
	case 4: return p->tmem.pampd_bytes;
	case 5: return p->tmem.meta_bytes;
	case 6: return p->tmem.puts;
	case 7: return p->tmem.gets;
	case 8: return p->tmem.flushes;
	case 9: return p->tmem.evictions;
	case 10: return p->bytes_written;
	default: return p->bytes_read;
	}
}

static const char *const zfs_pool_names[] = {
#define X(name, help, counter) #name,
	ZFS_POOL_FIELDS(X)
#undef X
};
static const char *const zfs_pool_help[] = {
#define X(name, help, counter) help,
	ZFS_POOL_FIELDS(X)
#undef X
};
static const int zfs_pool_counter[] = {
#define X(name, help, counter) counter,
	ZFS_POOL_FIELDS(X)
#undef X
};
#define ZFS_NPOOL_FIELDS (sizeof(zfs_pool_names) / sizeof(zfs_pool_names[0]))

void zfs_render_metrics(const struct zfs_snapshot *s, struct zfs_text *t)
{
	struct zfs_figure f[ZFS_MAX_FIGURES];
	int n = zfs_render_figures(s, f), k;
	unsigned i, j;

	for (k = 0; k < n; k++) {
		zfs_text_printf(t, "# HELP zcache_%s %s\n# TYPE zcache_%s %s\nzcache_%s ", f[k].name,
				f[k].help, f[k].name, f[k].is_counter ? "counter" : "gauge",
				f[k].name);
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
			zfs_text_printf(t, "\"} %" PRIu64 "\n", zfs_pool_value(&s->pools[i], (int)j));
		}
	}
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

/* ---- module detail: one X-macro per stats struct --------------------------- */

#define ZFS_BUDDY_FIELDS(X)                                                       \
	X(chunks) X(free_chunks) X(bytes_allocated) X(bytes_requested) X(blocks)  \
	X(direct_maps) X(direct_bytes) X(allocs) X(frees) X(failed)               \
	X(chunks_mapped) X(chunks_unmapped)

#define ZFS_SGV_CTX_FIELDS(X)                                                     \
	X(pools) X(active_pages) X(inactive_pages) X(hi_wmk) X(lo_wmk)             \
	X(hi_wmk_releases) X(hi_wmk_failures) X(other_allocs) X(mem_lim_failures)

#define ZFS_SGV_POOL_FIELDS(X)                                                    \
	X(total) X(hits) X(fresh_pages) X(merged) X(cached_entries) X(cached_pages) \
	X(inactive_entries) X(inactive_pages) X(big_allocs) X(nocache_allocs)     \
	X(other_pages) X(other_merged) X(failed) X(purged_pages) X(shrunk_pages)  \
	X(flushed_pages)

#define ZFS_XCF_FIELDS(X)                                                         \
	X(pages) X(free_pages) X(page_bytes) X(objects) X(desc_bytes) X(table_bytes) \
	X(used_bytes) X(block_bytes) X(header_bytes) X(split_objects)             \
	X(isolated_pages) X(fragmentation) X(allocs) X(frees) X(failed_allocs)    \
	X(compactions) X(compact_pages_freed) X(compact_objects_moved)            \
	X(compact_bytes_moved)

#define ZFS_LINE(field) zfs_text_printf(t, "%-24s %" PRIu64 "\n", #field, (uint64_t)st->field);
#define ZFS_JSON(field) zfs_text_printf(t, "%s\"%s\":%" PRIu64, sep, #field, (uint64_t)st->field), sep = ",";
#define ZFS_JSON2(field, help) ZFS_JSON(field)

static void zfs_json_buddy(struct zfs_text *t, const struct buddy_stats *st)
{
	const char *sep = "";

	zfs_text_printf(t, "{");
	ZFS_BUDDY_FIELDS(ZFS_JSON)
	zfs_text_printf(t, "}");
}

static void zfs_json_xcf(struct zfs_text *t, const struct xcf_stats *st)
{
	const char *sep = "";

	zfs_text_printf(t, "{\"name\":");
	zfs_json_str(t, st->name);
	sep = ",";
	ZFS_XCF_FIELDS(ZFS_JSON)
	zfs_text_printf(t, "}");
}

static void zfs_json_sgv_pool(struct zfs_text *t, const struct sgv_pool_stats *st)
{
	const char *sep = "";

	zfs_text_printf(t, "{\"name\":");
	zfs_json_str(t, st->name);
	sep = ",";
	ZFS_SGV_POOL_FIELDS(ZFS_JSON)
	zfs_text_printf(t, "}");
}

void zfs_render_json(const struct zfs_snapshot *s, struct zfs_text *t)
{
	struct zfs_figure f[ZFS_MAX_FIGURES];
	int n = zfs_render_figures(s, f), k;
	const char *sep = "";
	unsigned i, j;

	zfs_text_printf(t, "{\"stats\":{");
	for (k = 0; k < n; k++) {
		zfs_text_printf(t, "%s\"%s\":", k ? "," : "", f[k].name);
		zfs_print_value(t, &f[k]);
	}
	zfs_text_printf(t, "},\"mm_stat\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
			   ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]",
			s->tmem.pages * 4096, s->have_pam ? s->pam.compr_bytes : s->tmem.pampd_bytes,
			zfs_snapshot_mem_used(s), s->mem_limit,
			s->mem_used_max > zfs_snapshot_mem_used(s) ? s->mem_used_max
								   : zfs_snapshot_mem_used(s),
			s->pam.same_filled_pages, s->pages_compacted, s->pam.raw_pages,
			s->pam.raw_pages);
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
		}
		for (j = 0; j < ZFS_NPOOL_FIELDS; j++)
			zfs_text_printf(t, ",\"%s\":%" PRIu64, zfs_pool_names[j],
					zfs_pool_value(&s->pools[i], (int)j));
		zfs_text_printf(t, "}");
	}
	zfs_text_printf(t, "},\"alloc\":{\"buddy\":");
	zfs_json_buddy(t, &s->buddy);
	zfs_text_printf(t, ",\"sgv\":{");
	{
		const struct sgv_ctx_stats *st = &s->sgv;

		ZFS_SGV_CTX_FIELDS(ZFS_JSON)
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
		const struct slab_stats *sl = &s->slabs[i];

		zfs_text_printf(t, "%s{\"name\":", i ? "," : "");
		zfs_json_str(t, sl->name);
		zfs_text_printf(t, ",\"active_objs\":%" PRIu64 ",\"num_objs\":%" PRIu64
				   ",\"objsize\":%" PRIu64 ",\"slabs\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
				sl->active_objs, sl->num_objs, sl->objsize, sl->slabs, sl->bytes);
	}
	zfs_text_printf(t, "]},\"compress\":{");
	sep = "";
	{
		const struct pam_stats *st = &s->pam;

		PAM_STATS_FIELDS(ZFS_JSON2)
	}
	zfs_text_printf(t, "}}\n");
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
	for (j = 0; j < ZFS_NPOOL_FIELDS; j++)
		zfs_text_printf(t, "%-24s %" PRIu64 "\n", zfs_pool_names[j],
				zfs_pool_value(p, (int)j));
	zfs_text_printf(t, "%-24s %.3f\n", "compression_ratio",
			p->tmem.pampd_bytes + p->tmem.meta_bytes
				? (double)(p->tmem.pages * 4096) /
					  (double)(p->tmem.pampd_bytes + p->tmem.meta_bytes)
				: 0.0);
}

void zfs_render_buddy(const struct zfs_snapshot *s, struct zfs_text *t)
{
	const struct buddy_stats *st = &s->buddy;

	ZFS_BUDDY_FIELDS(ZFS_LINE)
	zfs_text_printf(t, "%-24s %" PRIu64 "\n", "internal_fragmentation",
			st->bytes_allocated - st->bytes_requested);
}

void zfs_render_sgv(const struct zfs_snapshot *s, struct zfs_text *t)
{
	unsigned i, k;

	{
		const struct sgv_ctx_stats *st = &s->sgv;

		ZFS_SGV_CTX_FIELDS(ZFS_LINE)
	}
	for (i = 0; i < s->nsgv_pools; i++) {
		const struct sgv_pool_stats *st = &s->sgv_pools[i];

		zfs_text_printf(t, "\npool %s (clustering %d, single_alloc_pages %u, purge %d s)\n",
				st->name, st->clustering, st->single_alloc_pages,
				st->purge_interval);
		ZFS_SGV_POOL_FIELDS(ZFS_LINE)
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
		ZFS_XCF_FIELDS(ZFS_LINE)
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
#define ZFS_LINE2(field, help) ZFS_LINE(field)
	PAM_STATS_FIELDS(ZFS_LINE2)
#undef ZFS_LINE2
	zfs_text_printf(t, "%-24s %.3f\n", "compression_ratio",
			st->compr_bytes ? (double)st->orig_bytes / (double)st->compr_bytes : 0.0);
}
