/* zfs_render.c - unit suite of the statistics renderers (fuse/render.h):
 * every format from one hand-made snapshot, checked line by line. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse/render.h"
#include "testutil.h"

static void make_snapshot(struct zfs_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->tmem.pages = 1000;
	s->tmem.objects = 10;
	s->tmem.puts = 1234;
	s->tmem.gets = 99;
	s->tmem.flushes = 7;
	s->tmem.meta_bytes = 5000;
	s->tmem.pampd_bytes = 300000;
	s->have_pam = 1;
	s->pam.same_filled_pages = 50;
	s->pam.raw_pages = 20;
	s->pam.compr_bytes = 400000;
	s->pam.pool_bytes = 409600;
	s->pam.meta_bytes = 1000;
	s->ns.pools = 2;
	s->ns.files = 9;
	s->ns.meta_bytes = 4000;
	s->mem_limit = 1 << 30;
	s->mem_used_max = 1;
	s->compactions = 3;
	s->pages_compacted = 11;
	s->npools = 2;
	s->pools = calloc(2, sizeof(*s->pools));
	strcpy(s->pools[0].name, "default");
	strcpy(s->pools[1].name, "we\"ird\\");
	s->pools[1].id = 1;
	s->pools[1].ephemeral = 1;
	s->pools[1].tmem.pages = 600;
	s->nslabs = 1;
	s->slabs = calloc(1, sizeof(*s->slabs));
	strcpy(s->slabs[0].name, "tmem_obj");
	s->slabs[0].active_objs = 10;
	s->nxcf = 1;
	s->xcf = calloc(1, sizeof(*s->xcf));
	strcpy(s->xcf[0].name, "xcf-0");
	s->xcf[0].free_blocks[3] = 2;
	s->nsgv_pools = 1;
	s->sgv_pools = calloc(1, sizeof(*s->sgv_pools));
	strcpy(s->sgv_pools[0].name, "zfs-io");
	s->sgv_pools[0].nr_orders = SGV_NR_ORDERS;
	s->sgv_pools[0].order[2].total = 5;
}

/* mem_used: pool + pam meta + tmem meta + ns meta */
#define USED (409600 + 1000 + 5000 + 4000)

START_TEST(test_stats)
{
	struct zfs_snapshot s;
	struct zfs_text t = { 0 };
	struct zfs_figure f[ZFS_MAX_FIGURES];
	static const char *const order[] = {
		"pools", "objects", "pages", "same_filled_pages", "huge_pages", "orig_data_bytes",
		"compr_data_bytes", "mem_used_bytes", "mem_limit_bytes", "mem_used_max_bytes",
		"compression_ratio", "puts", "gets", "flushes", "evictions", "failed_puts",
		"compactions", "pages_compacted",
	};
	char *line;
	int n, k = 0;

	make_snapshot(&s);
	ck_assert_uint_eq(zfs_snapshot_mem_used(&s), USED);
	n = zfs_render_figures(&s, f);
	ck_assert_int_le(n, ZFS_MAX_FIGURES);
	zfs_render_stats(&s, &t);
	ck_assert_int_eq(t.err, 0);
	/* DESIGN.md's figures first, in its order, then the rest. */
	for (line = strtok(t.buf, "\n"); line; line = strtok(NULL, "\n"), k++) {
		char name[64];
		double v;

		if (sscanf(line, "%63s %lf", name, &v) != 2) {
			/* A text figure ("transport dev"): its text, as declared. */
			char text[64];

			ck_assert_int_eq(sscanf(line, "%63s %63s", name, text), 2);
			ck_assert_ptr_nonnull(f[k].text);
			ck_assert_str_eq(name, f[k].name);
			ck_assert_str_eq(text, f[k].text);
			if (!strcmp(name, "transport"))
				ck_assert_str_eq(text, "dev");	/* the snapshot has no ring */
			continue;
		}
		if (k < (int)(sizeof(order) / sizeof(order[0])))
			ck_assert_str_eq(name, order[k]);
		if (!strcmp(name, "mem_used_bytes"))
			ck_assert_uint_eq((uint64_t)v, USED);
		if (!strcmp(name, "mem_used_max_bytes"))
			ck_assert_uint_eq((uint64_t)v, USED);	/* never below mem_used */
		if (!strcmp(name, "orig_data_bytes"))
			ck_assert_uint_eq((uint64_t)v, 1000 * 4096);
		if (!strcmp(name, "compression_ratio"))
			ck_assert(v > 9.0 && v < 10.0);
	}
	ck_assert_int_eq(k, n);
	free(t.buf);
	zfs_snapshot_free(&s);
	zfs_snapshot_free(&s);
}
END_TEST

START_TEST(test_mm_stat)
{
	struct zfs_snapshot s;
	struct zfs_text t = { 0 };
	unsigned long long v[10];

	make_snapshot(&s);
	zfs_render_mm_stat(&s, &t);
	ck_assert_int_eq(sscanf(t.buf, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
				&v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]), 9);
	ck_assert_uint_eq(v[0], 1000 * 4096);	/* orig_data_size */
	ck_assert_uint_eq(v[1], 400000);	/* compr_data_size */
	ck_assert_uint_eq(v[2], USED);		/* mem_used_total */
	ck_assert_uint_eq(v[3], 1 << 30);	/* mem_limit */
	ck_assert_uint_eq(v[5], 50);		/* same_pages */
	ck_assert_uint_eq(v[6], 11);		/* pages_compacted */
	ck_assert_uint_eq(v[7], 20);		/* huge_pages */
	ck_assert_int_eq(t.buf[t.len - 1], '\n');
	free(t.buf);
	zfs_snapshot_free(&s);
}
END_TEST

START_TEST(test_metrics)
{
	struct zfs_snapshot s;
	struct zfs_text t = { 0 };
	char *line;
	int help = 0, type = 0, samples = 0;

	make_snapshot(&s);
	zfs_render_metrics(&s, &t);
	ck_assert_ptr_nonnull(strstr(t.buf, "# TYPE zcache_puts counter\nzcache_puts 1234\n"));
	ck_assert_ptr_nonnull(strstr(t.buf, "# TYPE zcache_pages gauge\n"));
	ck_assert_ptr_nonnull(strstr(t.buf, "zcache_pool_pages{pool=\"default\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(t.buf, "zcache_pool_pages{pool=\"we\\\"ird\\\\\"} 600\n"));
	for (line = strtok(t.buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "# HELP zcache_", 14))
			help++;
		else if (!strncmp(line, "# TYPE zcache_", 14))
			type++;
		else if (!strncmp(line, "zcache_", 7))
			samples++;
		else
			ck_abort_msg("bad metrics line: %s", line);
	}
	ck_assert_int_eq(help, type);
	ck_assert_int_ge(samples, help);
	free(t.buf);
	zfs_snapshot_free(&s);
}
END_TEST

START_TEST(test_json_and_details)
{
	struct zfs_snapshot s;
	struct zfs_text t = { 0 };
	int depth = 0, instr = 0;
	size_t k;

	make_snapshot(&s);
	zfs_render_json(&s, &t);
	ck_assert_int_eq(t.buf[0], '{');
	for (k = 0; k < t.len; k++) {
		char c = t.buf[k];

		if (instr) {
			if (c == '\\')
				k++;
			else if (c == '"')
				instr = 0;
			continue;
		}
		if (c == '"')
			instr = 1;
		depth += c == '{' || c == '[';
		depth -= c == '}' || c == ']';
		ck_assert_int_ge(depth, 0);
	}
	ck_assert_int_eq(depth, 0);
	ck_assert_int_eq(instr, 0);
	ck_assert_ptr_nonnull(strstr(t.buf, "\"we\\\"ird\\\\\":{\"kind\":\"ephemeral\""));
	ck_assert_ptr_null(strstr(t.buf, ",,"));
	ck_assert_ptr_null(strstr(t.buf, "{,"));
	free(t.buf);
	memset(&t, 0, sizeof(t));
	zfs_render_pool(&s, 1, &t);
	ck_assert_ptr_nonnull(strstr(t.buf, "kind                     ephemeral\n"));
	ck_assert_ptr_nonnull(strstr(t.buf, "pages                    600\n"));
	zfs_render_buddy(&s, &t);
	zfs_render_sgv(&s, &t);
	ck_assert_ptr_nonnull(strstr(t.buf, "pool zfs-io"));
	zfs_render_xcf(&s, &t);
	ck_assert_ptr_nonnull(strstr(t.buf, "free_lists (size: blocks) 256:2\n"));
	zfs_render_slabinfo(&s, &t);
	ck_assert_ptr_nonnull(strstr(t.buf, "tmem_obj"));
	zfs_render_compress(&s, &t);
	ck_assert_ptr_nonnull(strstr(t.buf, "default_compressor       lz4\n"));
	ck_assert_int_eq(t.err, 0);
	ck_assert_uint_eq(strlen(t.buf), t.len);
	free(t.buf);
	zfs_snapshot_free(&s);
}
END_TEST

/* The memory policy's counters: one value each, the same in every format
 * (stats, metrics as counters, stats.json). */
START_TEST(test_policy_figures)
{
	static const struct {
		const char *name;
		uint64_t value;
	} want[] = {
		{ "auto_compactions", 2 },  { "sgv_purges", 5 },	 { "sgv_purged_bytes", 7 * 4096 },
		{ "pressure_events", 3 },   { "pressure_evictions", 13 }, { "buddy_trims", 4 },
		{ "buddy_trimmed_bytes", 8 << 20 }, { "policy_runs", 9 },
	};
	struct zfs_snapshot s;
	struct zfs_text t = { 0 };
	char needle[128];
	size_t k;

	make_snapshot(&s);
	s.auto_compactions = 2;
	s.sgv_purges = 5;
	s.sgv_purged_pages = 7;
	s.pressure_events = 3;
	s.pressure_evictions = 13;
	s.buddy_trims = 4;
	s.buddy_trimmed_bytes = 8 << 20;
	s.policy_runs = 9;
	zfs_render_stats(&s, &t);
	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		snprintf(needle, sizeof(needle), "\n%-20s %" PRIu64 "\n", want[k].name, want[k].value);
		ck_assert_msg(strstr(t.buf, needle) != NULL, "stats: %s", needle);
	}
	free(t.buf);
	memset(&t, 0, sizeof(t));
	zfs_render_metrics(&s, &t);
	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		snprintf(needle, sizeof(needle), "# TYPE zcache_%s counter\nzcache_%s %" PRIu64 "\n",
			 want[k].name, want[k].name, want[k].value);
		ck_assert_msg(strstr(t.buf, needle) != NULL, "metrics: %s", needle);
	}
	free(t.buf);
	memset(&t, 0, sizeof(t));
	zfs_render_json(&s, &t);
	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		snprintf(needle, sizeof(needle), "\"%s\":%" PRIu64, want[k].name, want[k].value);
		ck_assert_msg(strstr(t.buf, needle) != NULL, "stats.json: %s", needle);
	}
	free(t.buf);
	zfs_snapshot_free(&s);
}
END_TEST

/* Each statistic is declared once (the modules' X-macro field lists, the
 * headline table) and every format shows it: each field of buddy, sgv,
 * xcf, slab and pam appears in its detail file and in stats.json, mm_stat
 * is the headline table's figures in zram's order, and mem_used is one
 * sum. */
static void has_line(const char *text, const char *name)
{
	char needle[128];

	snprintf(needle, sizeof(needle), "%s ", name);
	for (const char *p = text; (p = strstr(p, needle)); p++)
		if (p == text || p[-1] == '\n')
			return;
	ck_abort_msg("no line for %s", name);
}

static void has_key(const char *json, const char *name)
{
	char needle[128];

	snprintf(needle, sizeof(needle), "\"%s\":", name);
	ck_assert_msg(strstr(json, needle) != NULL, "stats.json: no %s", name);
}

START_TEST(test_declared_once)
{
	struct zfs_snapshot s;
	struct zfs_text t = { 0 }, js = { 0 };
	struct zfs_figure f[ZFS_MAX_FIGURES];
	uint64_t mm[ZFS_MM_STAT_FIELDS];
	int n, k;

	make_snapshot(&s);
	zfs_render_json(&s, &js);
	ck_assert_int_eq(js.err, 0);
#define CHECK_KEY(name, comment) has_key(js.buf, #name);
#define CHECK_LINE(name, comment) has_line(t.buf, #name);
	zfs_render_buddy(&s, &t);
	BUDDY_STATS_FIELDS(CHECK_LINE)
	BUDDY_STATS_FIELDS(CHECK_KEY)
	free(t.buf);
	memset(&t, 0, sizeof(t));
	zfs_render_sgv(&s, &t);
	SGV_CTX_STATS_FIELDS(CHECK_LINE)
	SGV_CTX_STATS_FIELDS(CHECK_KEY)
	SGV_POOL_STATS_FIELDS(CHECK_LINE)
	SGV_POOL_STATS_FIELDS(CHECK_KEY)
	free(t.buf);
	memset(&t, 0, sizeof(t));
	zfs_render_xcf(&s, &t);
	XCF_STATS_FIELDS(CHECK_LINE)
	XCF_STATS_FIELDS(CHECK_KEY)
	free(t.buf);
	memset(&t, 0, sizeof(t));
	zfs_render_compress(&s, &t);
	PAM_STATS_FIELDS(CHECK_LINE)
	PAM_STATS_FIELDS(CHECK_KEY)
	SLAB_STATS_FIELDS(CHECK_KEY)
#undef CHECK_KEY
#undef CHECK_LINE
	free(t.buf);
	free(js.buf);

	/* mm_stat: the headline figures, zram's order. */
	n = zfs_render_figures(&s, f);
	zfs_render_mm_values(&s, mm);
	{
		static const char *const order[ZFS_MM_STAT_FIELDS] = {
			"orig_data_bytes", "compr_data_bytes", "mem_used_bytes",
			"mem_limit_bytes", "mem_used_max_bytes", "same_filled_pages",
			"pages_compacted", "huge_pages", "huge_pages_since",
		};

		for (int i = 0; i < ZFS_MM_STAT_FIELDS; i++) {
			for (k = 0; k < n && strcmp(f[k].name, order[i]); k++)
				;
			ck_assert_int_lt(k, n);
			ck_assert_uint_eq(mm[i], (uint64_t)f[k].value);
		}
	}
	/* mem_used: one sum, with PAM and without. */
	ck_assert_uint_eq(zfs_snapshot_mem_used(&s), USED);
	ck_assert_uint_eq(zfs_mem_used_of(&s.tmem, &s.pam, s.ns.meta_bytes), USED);
	ck_assert_uint_eq(zfs_mem_used_of(&s.tmem, NULL, s.ns.meta_bytes), 300000 + 5000 + 4000);
	s.have_pam = 0;
	ck_assert_uint_eq(zfs_snapshot_mem_used(&s), 300000 + 5000 + 4000);
	zfs_snapshot_free(&s);
}
END_TEST

/* The FUSE request statistics: /.zcache/fuse, the metrics' histogram and
 * stats.json's "fuse", from a hand-made sum (lookup: 3 requests of 0.5, 3
 * and 3 µs; statx, opcode 52: 1 of 5 s; nothing else served). */
START_TEST(test_fuse)
{
	struct zfs_snapshot s;
	struct zfs_text t = { 0 };

	make_snapshot(&s);
	s.fuse = calloc(1, sizeof(*s.fuse));
	ck_assert_ptr_nonnull(s.fuse);
	s.fuse->op[1].count = 3;
	s.fuse->op[1].total_ns = 6500;
	s.fuse->op[1].max_ns = 3000;
	s.fuse->op[1].hist[zfs_reqstat_bucket(500)]++;
	s.fuse->op[1].hist[zfs_reqstat_bucket(3000)] += 2;
	s.fuse->op[52].count = 1;
	s.fuse->op[52].total_ns = 5000000000ull;
	s.fuse->op[52].max_ns = 5000000000ull;
	s.fuse->op[52].hist[zfs_reqstat_bucket(5000000000ull)]++;

	zfs_render_fuse(&s, &t);
	ck_assert_msg(!strncmp(t.buf, "op ", 3), "%s", t.buf);
	ck_assert_ptr_nonnull(strstr(t.buf, "\nlookup                      3            6         3       2.2  1:1 4:2\n"));
	ck_assert_ptr_nonnull(strstr(t.buf, "\nstatx                       1      5000000   5000000 5000000.0  inf:1\n"));
	ck_assert_ptr_nonnull(strstr(t.buf, "\nall                         4      5000006   5000000 1250001.6  1:1 4:2 inf:1\n"));
	ck_assert_ptr_null(strstr(t.buf, "getattr"));
	free(t.buf);

	memset(&t, 0, sizeof(t));
	zfs_render_metrics(&s, &t);
	ck_assert_ptr_nonnull(strstr(t.buf, "# TYPE zcache_fuse_request_seconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(t.buf,
		"zcache_fuse_request_seconds_bucket{op=\"lookup\",le=\"0.000001\"} 1\n"
		"zcache_fuse_request_seconds_bucket{op=\"lookup\",le=\"0.000002\"} 1\n"
		"zcache_fuse_request_seconds_bucket{op=\"lookup\",le=\"0.000004\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(t.buf,
		"zcache_fuse_request_seconds_bucket{op=\"lookup\",le=\"+Inf\"} 3\n"
		"zcache_fuse_request_seconds_sum{op=\"lookup\"} 0.000006500\n"
		"zcache_fuse_request_seconds_count{op=\"lookup\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(t.buf,
		"zcache_fuse_request_seconds_bucket{op=\"statx\",le=\"4.194304\"} 0\n"
		"zcache_fuse_request_seconds_bucket{op=\"statx\",le=\"+Inf\"} 1\n"));
	ck_assert_ptr_null(strstr(t.buf, "op=\"getattr\""));
	free(t.buf);

	memset(&t, 0, sizeof(t));
	zfs_render_json(&s, &t);
	ck_assert_ptr_nonnull(strstr(t.buf,
		",\"fuse\":{\"lookup\":{\"count\":3,\"total_ns\":6500,\"max_ns\":3000,"
		"\"hist\":[1,0,2,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]},\"statx\":{"));
	ck_assert_ptr_nonnull(strstr(t.buf, "}}}\n"));
	free(t.buf);
	zfs_snapshot_free(&s);
	ck_assert_ptr_null(s.fuse);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("zfs_render");
	TCase *tc = tcase_create("render");

	tcase_add_test(tc, test_stats);
	tcase_add_test(tc, test_mm_stat);
	tcase_add_test(tc, test_declared_once);
	tcase_add_test(tc, test_metrics);
	tcase_add_test(tc, test_json_and_details);
	tcase_add_test(tc, test_policy_figures);
	tcase_add_test(tc, test_fuse);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
