/* zcachectl.c - the suite of zcachectl: run the built program against fake
 * mounts and check what it prints and how it exits.
 *
 * zcachectl reads only MOUNT/.zcache, so a mount is faked by a directory
 * holding a .zcache tree with files in the formats fuse/render.c writes
 * (stats, compress, pools/NAME/stats), with figures chosen here, so every
 * expected line is known in advance.  Each test gets a fresh temporary
 * directory (a checked fixture, so it is made in the test's own process
 * and removed even when an assertion fails) and runs zcachectl with that
 * directory as its working directory, so the mounts are named "m1", "m2",
 * ... and the table's widths are fixed.  Mount discovery is tested with
 * fake mountinfo files through $ZCACHECTL_MOUNTINFO.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"

#define ZCACHECTL ZC_BINARY_DIR "/zcachectl"

static char ct_base[128];	/* the suite's directory, made and removed by main */
static char ct_dir[256];	/* this test's temporary directory, in ct_base */

/* What one run of zcachectl did. */
struct ct_run {
	int status;		/* exit status, or -1 when it did not exit */
	char *out;		/* stdout, NUL-terminated, malloc'ed */
	char *err;		/* stderr */
};

/* ---- the fixture ------------------------------------------------------------- */

static void ct_write(const char *rel, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write ct_dir/rel (making its directories) with printf-style content. */
static void ct_write(const char *rel, const char *fmt, ...)
{
	char path[1024], *slash;
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", ct_dir, rel);
	for (slash = strchr(path + strlen(ct_dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
		*slash = '/';
	}
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
}

static void ct_mkdir(const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", ct_dir, rel);
	ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
}

static void ct_rmdir(const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", ct_dir, rel);
	ck_assert_msg(rmdir(path) == 0, "rmdir %s: %s", path, strerror(errno));
}

static void ct_unlink(const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", ct_dir, rel);
	ck_assert_msg(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
}

/* The headline figures as fuse/render.c prints them ("%-20s %s"). */
static const char *const ct_m1_stats[][2] = {
	{ "pools", "2" },
	{ "objects", "9" },
	{ "pages", "52" },
	{ "same_filled_pages", "3" },
	{ "huge_pages", "1" },
	{ "orig_data_bytes", "212992" },
	{ "compr_data_bytes", "103671" },
	{ "mem_used_bytes", "133087" },
	{ "mem_limit_bytes", "268435456" },
	{ "mem_used_max_bytes", "140000" },
	{ "compression_ratio", "1.600" },
	{ "puts", "52" },
	{ "gets", "7" },
	{ "flushes", "0" },
	{ "evictions", "0" },
	{ "failed_puts", "0" },
	{ "compactions", "1" },
	{ "pages_compacted", "2" },
	{ "sgv_cache_bytes", "8192" },
	{ "sgv_idle_bytes", "0" },
	{ "buddy_bytes", "8388608" },
	{ "files", "9" },
	{ "directories", "3" },
	{ "inodes", "12" },
	{ "meta_bytes", "22495" },
	{ "enospc", "0" },
};
#define CT_M1_NSTATS (sizeof(ct_m1_stats) / sizeof(ct_m1_stats[0]))

/* Write NAME/.zcache/stats from a table, leaving out the figure `skip`
 * (NULL: none). */
static void ct_stats(const char *mount, const char *const (*kv)[2], size_t n, const char *skip)
{
	char rel[256], text[4096];
	size_t i, len = 0;

	for (i = 0; i < n; i++)
		if (!skip || strcmp(kv[i][0], skip))
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%-20s %s\n", kv[i][0],
						kv[i][1]);
	snprintf(rel, sizeof(rel), "%s/.zcache/stats", mount);
	ct_write(rel, "%s", text);
}

static void ct_pool(const char *mount, const char *name, const char *kind, const char *codec,
		    unsigned files, unsigned pages, unsigned stored, unsigned meta)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "%s/.zcache/pools/%s/stats", mount, name);
	ct_write(rel,
		 "%-24s %s\n%-24s %s\n%-24s %u\n%-24s %u\n%-24s %u\n%-24s %u\n%-24s %u\n"
		 "%-24s %u\n%-24s %u\n%-24s %.3f\n",
		 "kind", kind, "compressor", codec, "tmem_pool", files ? 1u : 0u, "files", files,
		 "objects", files, "pages", pages, "stored_bytes", stored, "meta_bytes", meta,
		 "bytes_written", pages * 4096u, "compression_ratio",
		 stored + meta ? pages * 4096.0 / (stored + meta) : 0.0);
}

/* m1: a mount with two pools, every figure.  m2: no limit, big figures,
 * no compression_ratio line (zcachectl computes it), zstd. */
static void ct_make_m1(const char *name)
{
	char rel[256];

	ct_stats(name, ct_m1_stats, CT_M1_NSTATS, NULL);
	snprintf(rel, sizeof(rel), "%s/.zcache/compress", name);
	ct_write(rel, "%-24s %s\n%-24s %s\n%-24s %s\n", "default_compressor", "lz4", "pages", "52",
		 "compression_ratio", "2.054");
	ct_pool(name, "scratch", "ephemeral", "zstd:3", 8, 41, 83528, 5816);
	ct_pool(name, "default", "persistent", "lz4", 1, 11, 22744, 4328);
	ct_pool(name, "build", "persistent", "lz4", 0, 0, 0, 0);
	snprintf(rel, sizeof(rel), "%s/.zcache/mem_limit", name);
	ct_write(rel, "268435456\n");
}

static void ct_make_m2(void)
{
	ct_write("m2/.zcache/stats",
		 "pools 1\norig_data_bytes 3221225472\ncompr_data_bytes 1610612736\n"
		 "mem_used_bytes 1073741823\nmem_limit_bytes 0\nfuture_bytes 2048\n"
		 "future_count 17\n");
	ct_write("m2/.zcache/compress", "default_compressor       zstd:3\n");
	ct_pool("m2", "default", "persistent", "zstd:3", 1, 786432, 1073700000, 41823);
}

static void ct_setup(void)
{
	snprintf(ct_dir, sizeof(ct_dir), "%s/t.XXXXXX", ct_base);
	ck_assert_ptr_nonnull(mkdtemp(ct_dir));
	ct_make_m1("m1");
	ct_make_m2();
	ct_mkdir("plain");
}

static int ct_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void ct_teardown(void)
{
	if (ct_dir[0])
		nftw(ct_dir, ct_rm, 16, FTW_DEPTH | FTW_PHYS);
	ct_dir[0] = '\0';
}

/* ---- running zcachectl --------------------------------------------------------- */

static char *ct_slurp(const char *path)
{
	size_t len;
	char *buf = zc_load_file(path, &len);
	char *s = malloc(len + 1);

	ck_assert_ptr_nonnull(s);
	memcpy(s, buf, len);
	s[len] = '\0';
	free(buf);
	return s;
}

/* Run zcachectl with the NULL-terminated arguments, in ct_dir, with
 * $ZCACHECTL_MOUNTINFO set to ct_dir/mountinfo when `mountinfo` is set. */
static struct ct_run ct_runv(int mountinfo, const char *const *args)
{
	char out[512], err[512], mi[512];
	const char *argv[32];
	struct ct_run r;
	int n = 0, st;
	pid_t pid;

	ck_assert_msg(access(ZCACHECTL, X_OK) == 0, "%s not built: %s", ZCACHECTL, strerror(errno));
	snprintf(out, sizeof(out), "%s/.out", ct_dir);
	snprintf(err, sizeof(err), "%s/.err", ct_dir);
	snprintf(mi, sizeof(mi), "%s/mountinfo", ct_dir);
	argv[n++] = "zcachectl";
	for (; *args; args++) {
		ck_assert_int_lt(n, 30);
		argv[n++] = *args;
	}
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0 || chdir(ct_dir) < 0)
			_exit(126);
		if (mountinfo)
			setenv("ZCACHECTL_MOUNTINFO", mi, 1);
		else
			unsetenv("ZCACHECTL_MOUNTINFO");
		execv(ZCACHECTL, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	ck_assert_msg(r.status != 126 && r.status != 127, "could not run %s", ZCACHECTL);
	r.out = ct_slurp(out);
	r.err = ct_slurp(err);
	unlink(out);
	unlink(err);
	return r;
}

#define ct_run(...) ct_runv(0, (const char *const[]){ __VA_ARGS__, NULL })
#define ct_run_mi(...) ct_runv(1, (const char *const[]){ __VA_ARGS__, NULL })

static void ct_free(struct ct_run *r)
{
	free(r->out);
	free(r->err);
}

/* Assert stdout equals `want` exactly (with both shown on failure). */
#define ct_assert_out(r, want)                                                         \
	ck_assert_msg(strcmp((r).out, (want)) == 0, "stdout:\n%s\nwanted:\n%s\nstderr:\n%s", \
		      (r).out, (want), (r).err)

/* Assert the exit status (with both outputs shown on failure). */
#define ct_assert_status(r, want)                                                      \
	ck_assert_msg((r).status == (want), "exit status %d, wanted %d\nstdout:\n%s\nstderr:\n%s", \
		      (r).status, (want), (r).out, (r).err)

#define ct_assert_has(text, part)                                                      \
	ck_assert_msg(strstr((text), (part)) != NULL, "no \"%s\" in:\n%s", (part), (text))

/* ---- a small JSON validator (RFC 8259 syntax) -------------------------------- */

static const char *ct_json_value(const char *p);

static const char *ct_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *ct_json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				int k;

				for (k = 1; k <= 4; k++)
					if (!strchr("0123456789abcdefABCDEF", p[k]) || !p[k])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static const char *ct_json_number(const char *p)
{
	const char *start;

	if (*p == '-')
		p++;
	start = p;
	if (*p == '0')
		p++;
	else
		while (*p >= '0' && *p <= '9')
			p++;
	if (p == start)
		return NULL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

static const char *ct_json_list(const char *p, char close, int object)
{
	p = ct_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (object) {
			p = ct_json_string(ct_ws(p));
			if (!p)
				return NULL;
			p = ct_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		p = ct_json_value(p);
		if (!p)
			return NULL;
		p = ct_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *ct_json_value(const char *p)
{
	p = ct_ws(p);
	if (*p == '{')
		return ct_json_list(p, '}', 1);
	if (*p == '[')
		return ct_json_list(p, ']', 0);
	if (*p == '"')
		return ct_json_string(p);
	if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	return ct_json_number(p);
}

/* Is `text` one JSON value and nothing else but blanks? */
static int ct_json_valid(const char *text)
{
	const char *p = ct_json_value(text);

	return p && !*ct_ws(p);
}

/* ---- the table ------------------------------------------------------------------ */

#define CT_HEAD "MOUNT POOLS ALGORITHM LIMIT DATA  COMPR TOTAL RATIO\n"
#define CT_M1 "m1        2 lz4        256M 208K 101.2K  130K  1.60\n"

START_TEST(test_table_one)
{
	struct ct_run r = ct_run("m1");

	ct_assert_status(r, 0);
	ct_assert_out(r, CT_HEAD CT_M1);
	ck_assert_str_eq(r.err, "");
	ct_free(&r);
}
END_TEST

START_TEST(test_table_two)
{
	/* m2: no limit ("none"), G sizes, 1073741823 bytes round up to 1G,
	 * the ratio computed from DATA / TOTAL, zstd's level shown. */
	struct ct_run r = ct_run("m1", "m2");

	ct_assert_status(r, 0);
	ct_assert_out(r, "MOUNT POOLS ALGORITHM LIMIT DATA  COMPR TOTAL RATIO\n"
			 "m1        2 lz4        256M 208K 101.2K  130K  1.60\n"
			 "m2        1 zstd:3     none   3G   1.5G    1G  3.00\n");
	ct_free(&r);
}
END_TEST

START_TEST(test_table_bytes)
{
	struct ct_run r = ct_run("--bytes", "m1", "m2");

	ct_assert_status(r, 0);
	ct_assert_out(r, "MOUNT POOLS ALGORITHM     LIMIT       DATA      COMPR      TOTAL RATIO\n"
			 "m1        2 lz4       268435456     212992     103671     133087  1.60\n"
			 "m2        1 zstd:3            0 3221225472 1610612736 1073741823  3.00\n");
	ct_free(&r);
	/* The short form, bundled with -n. */
	r = ct_run("-bn", "m1");
	ct_assert_status(r, 0);
	ct_assert_out(r, "m1 2 lz4 268435456 212992 103671 133087 1.60\n");
	ct_free(&r);
}
END_TEST

START_TEST(test_table_noheadings)
{
	struct ct_run r = ct_run("--noheadings", "m1");

	ct_assert_status(r, 0);
	ct_assert_out(r, "m1 2 lz4 256M 208K 101.2K 130K 1.60\n");
	ct_free(&r);
}
END_TEST

START_TEST(test_table_human_sizes)
{
	/* zramctl's rounding: bytes below 1K, one decimal dropped when zero,
	 * a value that rounds to 1024 of a unit goes up a unit. */
	static const struct {
		const char *bytes, *human;
	} cases[] = {
		{ "0", "0B" },	       { "1023", "1023B" },	  { "1024", "1K" },
		{ "1536", "1.5K" },    { "1048575", "1M" },	  { "1153434", "1.1M" },
		{ "5368709120", "5G" }, { "1099511627776", "1T" }, { "1125899906842624", "1P" },
		{ "18446744073709551615", "16E" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ct_run r;
		char want[256];

		ct_write("h/.zcache/stats",
			 "pools 1\norig_data_bytes %s\ncompr_data_bytes 0\nmem_used_bytes 0\n"
			 "mem_limit_bytes 1024\ncompression_ratio 0.000\n",
			 cases[i].bytes);
		ct_write("h/.zcache/compress", "default_compressor none\n");
		r = ct_run("-n", "h");
		ct_assert_status(r, 0);
		snprintf(want, sizeof(want), "h 1 none 1K %s 0B 0B 0.00\n", cases[i].human);
		ct_assert_out(r, want);
		ct_free(&r);
	}
}
END_TEST

START_TEST(test_table_json)
{
	struct ct_run r = ct_run("--json", "m1", "m2");

	ct_assert_status(r, 0);
	ck_assert_msg(ct_json_valid(r.out), "not JSON:\n%s", r.out);
	ct_assert_out(r, "[\n"
			 "  {\"mount\": \"m1\", \"pools\": 2, \"algorithm\": \"lz4\", \"limit\": "
			 "268435456, \"data\": 212992, \"compr\": 103671, \"total\": 133087, "
			 "\"ratio\": 1.600},\n"
			 "  {\"mount\": \"m2\", \"pools\": 1, \"algorithm\": \"zstd:3\", \"limit\": 0, "
			 "\"data\": 3221225472, \"compr\": 1610612736, \"total\": 1073741823, "
			 "\"ratio\": 3.000}\n"
			 "]\n");
	ct_free(&r);
	/* -J is the same; sizes stay in bytes with or without -b. */
	r = ct_run("-J", "-b", "m1");
	ct_assert_status(r, 0);
	ck_assert(ct_json_valid(r.out));
	ct_assert_has(r.out, "\"data\": 212992,");
	ct_free(&r);
}
END_TEST

START_TEST(test_table_json_escapes)
{
	/* A mount name with a quote, a backslash and a tab stays valid JSON. */
	struct ct_run r;

	ct_make_m1("we\"ird\\na\tme");
	r = ct_run("--json", "we\"ird\\na\tme");
	ct_assert_status(r, 0);
	ck_assert_msg(ct_json_valid(r.out), "not JSON:\n%s", r.out);
	ct_assert_has(r.out, "\"mount\": \"we\\\"ird\\\\na\\tme\"");
	ct_free(&r);
}
END_TEST

/* ---- finding the mounts --------------------------------------------------------- */

START_TEST(test_discover)
{
	struct ct_run r;

	/* fuse.zcached mounts are listed in mountinfo order; a plain "fuse"
	 * mount whose source is zcached counts too; others do not; an
	 * escaped space in a mount point is decoded. */
	ct_make_m1("with space");
	ct_write("mountinfo",
		 "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
		 "40 22 0:39 / %s/m2 rw,nosuid,nodev,relatime shared:7 - fuse.zcached zcached "
		 "rw,user_id=0,group_id=0,default_permissions\n"
		 "41 22 0:40 / %s/m1 rw,nosuid,nodev - fuse zcached rw,user_id=0,group_id=0\n"
		 "42 22 0:41 / %s/plain rw - fuse.sshfs host:/ rw\n"
		 "43 22 0:42 / %s/with\\040space rw - fuse.zcached zcached rw\n"
		 "44 22 0:43 / /broken rw\n",
		 ct_dir, ct_dir, ct_dir, ct_dir);
	r = ct_run_mi("--noheadings", "--bytes");
	ct_assert_status(r, 0);
	{
		char want[2048];

		snprintf(want, sizeof(want),
			 "%s/m2         1 zstd:3         0 3221225472 1610612736 1073741823 3.00\n"
			 "%s/m1         2 lz4    268435456     212992     103671     133087 1.60\n"
			 "%s/with space 2 lz4    268435456     212992     103671     133087 1.60\n",
			 ct_dir, ct_dir, ct_dir);
		ct_assert_out(r, want);
	}
	ck_assert_str_eq(r.err, "");
	ct_free(&r);
	/* Named mounts win over discovery. */
	r = ct_run_mi("-n", "m1");
	ct_assert_status(r, 0);
	ct_assert_out(r, "m1 2 lz4 256M 208K 101.2K 130K 1.60\n");
	ct_free(&r);
}
END_TEST

START_TEST(test_discover_none)
{
	struct ct_run r;

	ct_write("mountinfo", "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n");
	r = ct_run_mi("");
	/* "" is an empty MOUNT: a usage error, not discovery. */
	ct_assert_status(r, 2);
	ct_free(&r);
	r = ct_run_mi("-b");
	ct_assert_status(r, 0);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, "");
	ct_free(&r);
	r = ct_run_mi("--json");
	ct_assert_status(r, 0);
	ck_assert_str_eq(r.out, "[]\n");
	ct_free(&r);
}
END_TEST

START_TEST(test_discover_unreadable)
{
	struct ct_run r = ct_run_mi("-b");	/* ct_dir/mountinfo does not exist */

	ct_assert_status(r, 1);
	ck_assert_str_eq(r.out, "");
	ct_assert_has(r.err, "mountinfo");
	ct_assert_has(r.err, "No such file or directory");
	ct_free(&r);
}
END_TEST

START_TEST(test_discover_mount_gone)
{
	/* A mount listed in mountinfo whose .zcache cannot be read: the
	 * others are still shown, the exit status says one failed. */
	struct ct_run r;

	ct_write("mountinfo", "40 22 0:39 / %s/gone rw - fuse.zcached zcached rw\n"
			      "41 22 0:40 / %s/m1 rw - fuse.zcached zcached rw\n",
		 ct_dir, ct_dir);
	r = ct_run_mi("-n");
	ct_assert_status(r, 1);
	ct_assert_has(r.out, "/m1 2 lz4 256M 208K 101.2K 130K 1.60\n");
	ct_assert_has(r.err, "/gone");
	ct_free(&r);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------- */

START_TEST(test_not_a_mount)
{
	struct ct_run r = ct_run("plain");

	ct_assert_status(r, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, "zcachectl: plain: not a zcached mount (no plain/.zcache directory)\n");
	ct_free(&r);
	r = ct_run("stats", "plain");
	ct_assert_status(r, 1);
	ck_assert_str_eq(r.out, "");
	ct_assert_has(r.err, "plain: not a zcached mount");
	ct_free(&r);
}
END_TEST

START_TEST(test_missing_dir)
{
	struct ct_run r = ct_run("nowhere");

	ct_assert_status(r, 1);
	ck_assert_str_eq(r.err, "zcachectl: nowhere: No such file or directory\n");
	ct_free(&r);
	ct_write("afile", "x\n");
	r = ct_run("afile");
	ct_assert_status(r, 1);
	ck_assert_str_eq(r.err, "zcachectl: afile: not a directory\n");
	ct_free(&r);
}
END_TEST

START_TEST(test_some_fail)
{
	/* A bad mount among good ones: the good rows print, the status is 1. */
	struct ct_run r = ct_run("m1", "plain", "m2");

	ct_assert_status(r, 1);
	ct_assert_out(r, "MOUNT POOLS ALGORITHM LIMIT DATA  COMPR TOTAL RATIO\n"
			 "m1        2 lz4        256M 208K 101.2K  130K  1.60\n"
			 "m2        1 zstd:3     none   3G   1.5G    1G  3.00\n");
	ct_assert_has(r.err, "plain: not a zcached mount");
	ct_free(&r);
}
END_TEST

START_TEST(test_missing_files)
{
	struct ct_run r;

	/* No stats file. */
	ct_unlink("m1/.zcache/stats");
	r = ct_run("m1");
	ct_assert_status(r, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err,
			 "zcachectl: cannot read m1/.zcache/stats: No such file or directory\n");
	ct_free(&r);
	/* No compress file. */
	ct_unlink("m2/.zcache/compress");
	r = ct_run("m2");
	ct_assert_status(r, 1);
	ck_assert_str_eq(r.err,
			 "zcachectl: cannot read m2/.zcache/compress: No such file or directory\n");
	ct_free(&r);
	/* compress without its figure. */
	ct_write("m2/.zcache/compress", "pages 1\n");
	r = ct_run("m2");
	ct_assert_status(r, 1);
	ck_assert_str_eq(r.err, "zcachectl: m2/.zcache/compress: no figure default_compressor\n");
	ct_free(&r);
}
END_TEST

START_TEST(test_missing_figure)
{
	struct ct_run r;

	ct_stats("m1", ct_m1_stats, CT_M1_NSTATS, "mem_used_bytes");
	r = ct_run("m1");
	ct_assert_status(r, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, "zcachectl: m1/.zcache/stats: no figure mem_used_bytes\n");
	ct_free(&r);
	ct_write("m1/.zcache/stats", "pools two\n");
	r = ct_run("m1");
	ct_assert_status(r, 1);
	ck_assert_str_eq(r.err, "zcachectl: m1/.zcache/stats: bad figure pools\n");
	ct_free(&r);
}
END_TEST

START_TEST(test_malformed)
{
	static const char *const bad[] = {
		"pools\n",		/* a name without a value */
		"pools 2\nno-dash 3\n",	/* not a figure name */
		"=x 1\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ct_run r;

		ct_write("m1/.zcache/stats", "%s", bad[i]);
		r = ct_run("m1");
		ct_assert_status(r, 1);
		ck_assert_str_eq(r.out, "");
		ck_assert_str_eq(r.err, "zcachectl: m1/.zcache/stats: malformed (expected "
					"\"name value\" lines)\n");
		ct_free(&r);
	}
}
END_TEST

START_TEST(test_usage)
{
	static const struct {
		const char *args[4];
		const char *msg;
	} cases[] = {
		{ { "--frob" }, "zcachectl: unknown option: --frob; see zcachectl --help\n" },
		{ { "-x", "m1" }, "zcachectl: unknown option: -x; see zcachectl --help\n" },
		{ { "-bq" }, "zcachectl: unknown option: -q (in -bq); see zcachectl --help\n" },
		{ { "stats" }, "zcachectl: stats needs a MOUNT argument\n" },
		{ { "stats", "m1", "m2" },
		  "zcachectl: unexpected argument: m2 (stats takes one MOUNT)\n" },
		{ { "stats", "-n", "m1" },
		  "zcachectl: option --noheadings is for the table, not for stats\n" },
		{ { "m1", "" }, "zcachectl: empty MOUNT argument\n" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ct_run r = ct_runv(0, cases[i].args);

		ct_assert_status(r, 2);
		ck_assert_str_eq(r.out, "");	/* nothing is read or printed */
		ck_assert_str_eq(r.err, cases[i].msg);
		ct_free(&r);
	}
}
END_TEST

START_TEST(test_help_version)
{
	struct ct_run r = ct_run("--help");

	ct_assert_status(r, 0);
	ct_assert_has(r.out, "usage: zcachectl [options] [MOUNT...]\n");
	ct_assert_has(r.out, "zcachectl stats [options] MOUNT\n");
	ck_assert_str_eq(r.err, "");
	ct_free(&r);
	r = ct_run("-h", "--frob");	/* help wins over what follows */
	ct_assert_status(r, 0);
	ct_free(&r);
	r = ct_run("--version");
	ct_assert_status(r, 0);
	ck_assert_str_eq(r.out, "zcachectl " ZC_VERSION "\n");
	ct_free(&r);
	r = ct_run("-V");
	ct_assert_status(r, 0);
	ck_assert_str_eq(r.out, "zcachectl " ZC_VERSION "\n");
	ct_free(&r);
}
END_TEST

START_TEST(test_dashdash)
{
	/* After --, a name that looks like an option is a mount; "stats" as
	 * the first word is the command, so a mount called stats is ./stats. */
	struct ct_run r;

	ct_make_m1("-J");
	ct_make_m1("stats");
	r = ct_run("-n", "--", "-J");
	ct_assert_status(r, 0);
	ct_assert_out(r, "-J 2 lz4 256M 208K 101.2K 130K 1.60\n");
	ct_free(&r);
	r = ct_run("-n", "./stats");
	ct_assert_status(r, 0);
	ct_assert_out(r, "./stats 2 lz4 256M 208K 101.2K 130K 1.60\n");
	ct_free(&r);
}
END_TEST

/* ---- stats ----------------------------------------------------------------------- */

START_TEST(test_stats_text)
{
	struct ct_run r = ct_run("stats", "m1");

	ct_assert_status(r, 0);
	ck_assert_str_eq(r.err, "");
	/* Every figure, in the file's order, with its unit. */
	ct_assert_has(r.out, "m1\n"
			     "  default_compressor     lz4\n"
			     "  pools                  2 pools\n"
			     "  objects                9 objects\n"
			     "  pages                  52 pages\n"
			     "  same_filled_pages      3 pages\n"
			     "  huge_pages             1 pages\n"
			     "  orig_data_bytes        208K (212992 bytes)\n"
			     "  compr_data_bytes       101.2K (103671 bytes)\n"
			     "  mem_used_bytes         130K (133087 bytes)\n"
			     "  mem_limit_bytes        256M (268435456 bytes)\n"
			     "  mem_used_max_bytes     136.7K (140000 bytes)\n"
			     "  compression_ratio      1.600\n"
			     "  puts                   52 pages\n"
			     "  gets                   7 pages\n"
			     "  flushes                0 pages\n"
			     "  evictions              0 objects\n"
			     "  failed_puts            0 pages\n"
			     "  compactions            1 runs\n"
			     "  pages_compacted        2 pages\n"
			     "  sgv_cache_bytes        8K (8192 bytes)\n"
			     "  sgv_idle_bytes         0 bytes\n"
			     "  buddy_bytes            8M (8388608 bytes)\n"
			     "  files                  9 files\n"
			     "  directories            3 directories\n"
			     "  inodes                 12 inodes\n"
			     "  meta_bytes             22K (22495 bytes)\n"
			     "  enospc                 0 writes\n");
	/* Pools: default first, then by name. */
	{
		const char *d = strstr(r.out, "\npool default\n");
		const char *b = strstr(r.out, "\npool build\n");
		const char *s = strstr(r.out, "\npool scratch\n");

		ck_assert_msg(d && b && s && d < b && b < s, "pool order in:\n%s", r.out);
	}
	ct_assert_has(r.out, "\npool scratch\n"
			     "  kind                   ephemeral\n"
			     "  compressor             zstd:3\n"
			     "  tmem_pool              1\n"
			     "  files                  8 files\n"
			     "  objects                8 objects\n"
			     "  pages                  41 pages\n"
			     "  stored_bytes           81.6K (83528 bytes)\n"
			     "  meta_bytes             5.7K (5816 bytes)\n"
			     "  bytes_written          164K (167936 bytes)\n"
			     "  compression_ratio      1.880\n");
	ct_free(&r);
}
END_TEST

START_TEST(test_stats_bytes_and_unknown)
{
	/* --bytes keeps raw numbers; a limit of 0 is "none"; figures this
	 * program does not know are still shown (with a unit from their
	 * name when it has one). */
	struct ct_run r = ct_run("stats", "--bytes", "m2");

	ct_assert_status(r, 0);
	ct_assert_out(r, "m2\n"
			 "  default_compressor     zstd:3\n"
			 "  pools                  1 pools\n"
			 "  orig_data_bytes        3221225472 bytes\n"
			 "  compr_data_bytes       1610612736 bytes\n"
			 "  mem_used_bytes         1073741823 bytes\n"
			 "  mem_limit_bytes        none\n"
			 "  future_bytes           2048 bytes\n"
			 "  future_count           17\n"
			 "\n"
			 "pool default\n"
			 "  kind                   persistent\n"
			 "  compressor             zstd:3\n"
			 "  tmem_pool              1\n"
			 "  files                  1 files\n"
			 "  objects                1 objects\n"
			 "  pages                  786432 pages\n"
			 "  stored_bytes           1073700000 bytes\n"
			 "  meta_bytes             41823 bytes\n"
			 "  bytes_written          3221225472 bytes\n"
			 "  compression_ratio      3.000\n");
	ct_free(&r);
}
END_TEST

START_TEST(test_stats_json)
{
	struct ct_run r = ct_run("stats", "--json", "m1");
	size_t i;

	ct_assert_status(r, 0);
	ck_assert_msg(ct_json_valid(r.out), "not JSON:\n%s", r.out);
	ct_assert_has(r.out, "{\"mount\": \"m1\",\n \"default_compressor\": \"lz4\",\n");
	/* Every figure of the stats file, as the number the daemon wrote. */
	for (i = 0; i < CT_M1_NSTATS; i++) {
		char want[128];

		snprintf(want, sizeof(want), "\"%s\": %s%s", ct_m1_stats[i][0], ct_m1_stats[i][1],
			 i + 1 < CT_M1_NSTATS ? ", " : "}");
		ct_assert_has(r.out, want);
	}
	ct_assert_has(r.out, "{\"name\": \"scratch\", \"kind\": \"ephemeral\", \"compressor\": "
			     "\"zstd:3\", \"tmem_pool\": 1, \"files\": 8,");
	ct_free(&r);
	/* An empty pools directory is an empty list. */
	ct_unlink("m2/.zcache/pools/default/stats");
	ct_rmdir("m2/.zcache/pools/default");
	r = ct_run("stats", "-J", "m2");
	ct_assert_status(r, 0);
	ck_assert_msg(ct_json_valid(r.out), "not JSON:\n%s", r.out);
	ct_assert_has(r.out, "\"pools\": []}\n");
	ct_assert_has(r.out, "\"future_count\": 17");
	ct_free(&r);
}
END_TEST

START_TEST(test_stats_pool_errors)
{
	struct ct_run r;

	/* The stats command also needs the pools. */
	ct_unlink("m1/.zcache/pools/scratch/stats");
	r = ct_run("stats", "m1");
	ct_assert_status(r, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, "zcachectl: cannot read m1/.zcache/pools/scratch/stats: No such "
				"file or directory\n");
	ct_free(&r);
	/* The table does not read them. */
	r = ct_run("-n", "m1");
	ct_assert_status(r, 0);
	ct_free(&r);
}
END_TEST

START_TEST(test_real_format)
{
	/* Text written exactly as fuse/render.c does it for a live mount
	 * (column padding, a trailing newline, a blank line) parses the same. */
	struct ct_run r;

	ct_write("m3/.zcache/stats", "pools                1\n\nobjects              0\n"
				     "orig_data_bytes      0\ncompr_data_bytes     0\n"
				     "mem_used_bytes       0\nmem_limit_bytes      12884901888\n"
				     "compression_ratio    0.000\n");
	ct_write("m3/.zcache/compress", "default_compressor       lz4:4\npages 0\n");
	r = ct_run("-n", "m3");
	ct_assert_status(r, 0);
	ct_assert_out(r, "m3 1 lz4:4 12G 0B 0B 0B 0.00\n");
	ct_free(&r);
}
END_TEST

/* ---- a real mount ------------------------------------------------------------------ */

/* test_real_mount's daemon is mounted with tests/fsutil.c (fs_mount_at),
 * whose atexit handler unmounts and stops it when an assertion fails, and
 * whose base directory records it for main()'s cleanup. */

/* The value of figure `name` in a "name value" text, or -1. */
static long long ct_figure(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *p = text;

	while ((p = strstr(p, name))) {
		if ((p == text || p[-1] == '\n') && (p[n] == ' ' || p[n] == '\t'))
			return strtoll(p + n, NULL, 10);
		p += n;
	}
	return -1;
}

START_TEST(test_real_mount)
{
	/* Against the daemon itself: catches any drift between the files
	 * fuse/render.c writes and what zcachectl reads.  Needs the built
	 * zcached and a usable /dev/fuse (as the fs suite does). */
	char path[1024], want[1024], ct_mnt[512], *stats;
	struct ct_run r;
	size_t len;
	int fd, k, st;
	FILE *f;

	if (!fs_can_mount()) {
		fprintf(stderr, "test_real_mount: no %s or no /dev/fuse: not run\n", ZCACHED);
		return;
	}
	snprintf(ct_mnt, sizeof(ct_mnt), "%s/mnt", ct_dir);
	ct_mkdir("mnt");
	fs_mount_at(ct_mnt, "mem_limit=64M,compressor=lz4");

	/* Some data in the root pool and in a second pool. */
	snprintf(path, sizeof(path), "%s/notes", ct_mnt);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (k = 0; k < 20000; k++)
		fprintf(f, "line %d of a compressible file\n", k);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/cache", ct_mnt);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/cache/blob", ct_mnt);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	for (k = 0; k < 64; k++) {
		char page[4096];

		memset(page, 'a' + k % 26, sizeof(page));
		ck_assert_int_eq(write(fd, page, sizeof(page)), (ssize_t)sizeof(page));
	}
	ck_assert_int_eq(close(fd), 0);

	/* The table agrees with the daemon's own stats file. */
	snprintf(path, sizeof(path), "%s/.zcache/stats", ct_mnt);
	/* Read to end of file: the size in stat(2) is 0, as in /proc. */
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	stats = malloc(65536);
	ck_assert_ptr_nonnull(stats);
	for (len = 0;;) {
		ssize_t n = read(fd, stats + len, 65535 - len);

		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	ck_assert_int_eq(close(fd), 0);
	stats[len] = '\0';
	ck_assert_int_eq(ct_figure(stats, "pools"), 2);
	ck_assert_int_gt(ct_figure(stats, "orig_data_bytes"), 0);
	r = ct_run("-n", "-b", "mnt");
	ct_assert_status(r, 0);
	snprintf(want, sizeof(want), "mnt 2 lz4 67108864 %lld %lld %lld ",
		 ct_figure(stats, "orig_data_bytes"), ct_figure(stats, "compr_data_bytes"),
		 ct_figure(stats, "mem_used_bytes"));
	ck_assert_msg(!strncmp(r.out, want, strlen(want)), "table:\n%s\nwanted:\n%s", r.out, want);
	ct_free(&r);

	/* stats: every figure of the stats file, and both pools. */
	r = ct_run("stats", "mnt");
	ct_assert_status(r, 0);
	{
		const char *p = stats;

		while (*p) {
			char name[64];
			int n = 0;

			while (p[n] && p[n] != ' ' && n < 63) {
				name[n] = p[n];
				n++;
			}
			name[n] = '\0';
			snprintf(want, sizeof(want), "\n  %-22s ", name);
			ct_assert_has(r.out, want);
			p = strchr(p, '\n');
			if (!p)
				break;
			p++;
		}
	}
	ct_assert_has(r.out, "\npool default\n  kind                   persistent\n");
	ct_assert_has(r.out, "\npool cache\n");
	ct_free(&r);
	free(stats);

	r = ct_run("stats", "--json", "mnt");
	ct_assert_status(r, 0);
	ck_assert_msg(ct_json_valid(r.out), "not JSON:\n%s", r.out);
	ct_free(&r);

	/* Found among the system's mounts (others may exist: only this one
	 * is asserted on). */
	r = ct_run("--json");
	ck_assert_msg(ct_json_valid(r.out), "not JSON:\n%s", r.out);
	snprintf(want, sizeof(want), "{\"mount\": \"%s\", \"pools\": 2, \"algorithm\": \"lz4\"",
		 ct_mnt);
	ct_assert_has(r.out, want);
	ct_free(&r);

	/* SIGTERM unmounts and exits 0 (what the systemd unit's stop relies
	 * on). */
	ck_assert_int_eq(kill(fs_cur.pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(fs_cur.pid, &st, 0), fs_cur.pid);
	fs_cur.pid = 0;
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert(!fs_is_mounted(ct_mnt));
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("zcachectl");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, ct_setup, ct_teardown);
	tcase_add_test(tc, test_table_one);
	tcase_add_test(tc, test_table_two);
	tcase_add_test(tc, test_table_bytes);
	tcase_add_test(tc, test_table_noheadings);
	tcase_add_test(tc, test_table_human_sizes);
	tcase_add_test(tc, test_table_json);
	tcase_add_test(tc, test_table_json_escapes);
	tcase_add_test(tc, test_real_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("discover");
	tcase_add_checked_fixture(tc, ct_setup, ct_teardown);
	tcase_add_test(tc, test_discover);
	tcase_add_test(tc, test_discover_none);
	tcase_add_test(tc, test_discover_unreadable);
	tcase_add_test(tc, test_discover_mount_gone);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, ct_setup, ct_teardown);
	tcase_add_test(tc, test_not_a_mount);
	tcase_add_test(tc, test_missing_dir);
	tcase_add_test(tc, test_some_fail);
	tcase_add_test(tc, test_missing_files);
	tcase_add_test(tc, test_missing_figure);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_help_version);
	tcase_add_test(tc, test_dashdash);
	suite_add_tcase(s, tc);

	tc = tcase_create("stats");
	tcase_add_checked_fixture(tc, ct_setup, ct_teardown);
	tcase_add_test(tc, test_stats_text);
	tcase_add_test(tc, test_stats_bytes_and_unknown);
	tcase_add_test(tc, test_stats_json);
	tcase_add_test(tc, test_stats_pool_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("real");
	tcase_add_checked_fixture(tc, ct_setup, ct_teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_real_mount);
	suite_add_tcase(s, tc);
	return s;
}

/* After the suite: whatever a failed test left (libcheck ends a failed
 * test's process at once, so its teardown may not have run) is taken away:
 * the daemon fsutil recorded is stopped and its mount lazily unmounted
 * (fs_cleanup_base), then the fake mounts' directories removed. */
int main(void)
{
	int ret;

	snprintf(ct_base, sizeof(ct_base), "/tmp/zcachectl-test.XXXXXX");
	if (!mkdtemp(ct_base)) {
		perror("mkdtemp");
		return 1;
	}
	if (fs_base_init() < 0)
		return 1;
	ret = zc_test_main(make_suite());
	fs_cleanup_base();
	nftw(ct_base, ct_rm, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
