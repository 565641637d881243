/* zcachectl.c - show the zcached mounts of this machine, the way zramctl
 * shows zram devices.
 *
 *     zcachectl [-b] [-J] [-n] [MOUNT...]     one line per mount
 *     zcachectl stats [-b] [-J] MOUNT         every figure of one mount
 *
 * Design.  A standalone program that links no project library: everything
 * it shows comes from the files the daemon renders under MOUNT/.zcache
 * (fuse/render.c is the one place those formats are written), so it works
 * on any mount the caller may read, needs no privilege and no socket, and
 * cannot disturb the daemon.  The files it reads:
 *   .zcache/stats            "name value" a line (the headline figures)
 *   .zcache/compress         "name value" a line; default_compressor
 *   .zcache/pools/NAME/stats "name value" a line, one file per pool
 * Unknown names are kept and shown as they are, so a daemon with more
 * figures than this program knows still prints in full.  A mount with a
 * backing file (zcached -o backing, fuse/tier.h) has its backing_* figures
 * in the stats command's output, with their units.
 *
 * With no MOUNT, the mounts are found in /proc/self/mountinfo by their
 * filesystem type "fuse.zcached" (the daemon mounts with subtype=zcached
 * and fsname=zcached; a FUSE mount whose source is "zcached" and whose type
 * is plain "fuse", as an old kernel without subtypes shows it, counts too).
 * $ZCACHECTL_MOUNTINFO names another file in that format (for tests).
 *
 * Exit status: 0 when every mount was read, 1 when one could not be (the
 * others are still shown), 2 for a bad command line (nothing is read).
 *
 * Everything lives in a struct zctl (options) and per-mount structs
 * passed down; there is no mutable global.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ZC_VERSION
#define ZC_VERSION "unknown"
#endif

#define ZCTL_EXIT_OK 0
#define ZCTL_EXIT_FAIL 1
#define ZCTL_EXIT_USAGE 2
#define ZCTL_MAX_FILE (16u << 20)	/* no .zcache file is anywhere near this */
#define ZCTL_MOUNTINFO "/proc/self/mountinfo"
#define ZCTL_FSTYPE "fuse.zcached"
#define ZCTL_FSNAME "zcached"

/* The command line. */
struct zctl {
	int bytes;		/* -b: sizes in bytes */
	int json;		/* -J: JSON instead of text */
	int noheadings;		/* -n: no header line in the table */
	int stats;		/* the "stats" command */
	char **mounts;		/* the MOUNT arguments (argv's strings) */
	int nmounts;
};

/* One "name value" line of a .zcache file. */
struct zctl_kv {
	char *name;
	char *value;
};

/* A parsed "name value" file: every line, in order. */
struct zctl_file {
	struct zctl_kv *kv;
	size_t n, cap;
};

/* One pool: its name (the directory under .zcache/pools) and its stats. */
struct zctl_pool {
	char *name;
	struct zctl_file f;
};

/* What one mount's .zcache says. */
struct zctl_mount {
	const char *path;	/* as given or found; not owned */
	struct zctl_file stats;
	struct zctl_file compress;
	struct zctl_pool *pools;	/* only for the stats command */
	size_t npools;
};

static void zctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void zctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("zcachectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- reading the files ------------------------------------------------------ */

/* Read a whole file into a NUL-terminated malloc'ed buffer.  The .zcache
 * files report st_size 0 (their content is rendered at open, as in /proc),
 * so read until end of file.  Returns the buffer or NULL with errno set. */
static char *zctl_slurp(const char *path)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int fd, err;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	for (;;) {
		ssize_t n;

		if (cap - len < 2) {
			char *b;

			if (cap >= ZCTL_MAX_FILE) {
				errno = EFBIG;
				goto fail_fd;
			}
			b = realloc(buf, cap * 2);
			if (!b)
				goto fail_fd;
			buf = b;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail_fd;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (strlen(buf) != len) {	/* a NUL inside: not one of ours */
		free(buf);
		errno = EINVAL;
		return NULL;
	}
	return buf;
fail_fd:
	err = errno;
	close(fd);
	errno = err;
fail:
	err = errno;
	free(buf);
	errno = err;
	return NULL;
}

static void zctl_file_free(struct zctl_file *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->kv[i].name);
		free(f->kv[i].value);
	}
	free(f->kv);
	memset(f, 0, sizeof(*f));
}

static int zctl_file_add(struct zctl_file *f, const char *name, size_t nlen, const char *value,
			 size_t vlen)
{
	struct zctl_kv kv;

	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 32;
		struct zctl_kv *n = realloc(f->kv, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		f->kv = n;
		f->cap = cap;
	}
	kv.name = strndup(name, nlen);
	kv.value = strndup(value, vlen);
	if (!kv.name || !kv.value) {
		free(kv.name);
		free(kv.value);
		return -ENOMEM;
	}
	f->kv[f->n++] = kv;
	return 0;
}

/* Parse "name value" lines (blanks between, a value may hold no blank).
 * Blank lines are skipped; a line with a name and no value, or a name that
 * is not [A-Za-z0-9_]+, makes the file malformed (-EINVAL). */
static int zctl_parse_kv(const char *text, struct zctl_file *f)
{
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n'), *name, *value, *end;
		size_t nlen, vlen;
		int ret;

		if (!eol)
			eol = p + strlen(p);
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		if (p == eol) {
			p = *eol ? eol + 1 : eol;
			continue;
		}
		name = p;
		while (p < eol && (isalnum((unsigned char)*p) || *p == '_'))
			p++;
		nlen = (size_t)(p - name);
		if (!nlen || p == eol || (*p != ' ' && *p != '\t'))
			return -EINVAL;
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		value = p;
		end = eol;
		while (end > value && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			end--;
		vlen = (size_t)(end - value);
		if (!vlen)
			return -EINVAL;
		ret = zctl_file_add(f, name, nlen, value, vlen);
		if (ret < 0)
			return ret;
		p = *eol ? eol + 1 : eol;
	}
	return 0;
}

/* Read and parse DIR/.zcache/REL.  On failure prints one line naming the
 * file and returns a negative errno; *f is left empty. */
static int zctl_read_kv(const char *dir, const char *rel, struct zctl_file *f)
{
	char path[4096];
	char *text;
	int ret;

	if (snprintf(path, sizeof(path), "%s/.zcache/%s", dir, rel) >= (int)sizeof(path)) {
		zctl_err("%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	text = zctl_slurp(path);
	if (!text) {
		ret = -errno;
		zctl_err("cannot read %s: %s", path, strerror(errno));
		return ret;
	}
	ret = zctl_parse_kv(text, f);
	free(text);
	if (ret < 0) {
		zctl_file_free(f);
		zctl_err("%s: %s", path, ret == -EINVAL ? "malformed (expected \"name value\" lines)"
							: strerror(-ret));
	}
	return ret;
}

static const char *zctl_get(const struct zctl_file *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (!strcmp(f->kv[i].name, name))
			return f->kv[i].value;
	return NULL;
}

/* Is `s` an unsigned decimal integer (what most figures are)? */
static int zctl_is_uint(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* Is `s` a finite decimal number as JSON writes one (digits, an optional
 * fraction, an optional leading minus)? */
static int zctl_is_number(const char *s)
{
	int digits = 0;

	if (*s == '-')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		digits++;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return digits && !*s;
}

/* An unsigned figure of f, or -EINVAL (printed, naming the file) when it is
 * missing or not a number. */
static int zctl_get_u64(const struct zctl_mount *m, const struct zctl_file *f, const char *file,
			const char *name, uint64_t *out)
{
	const char *v = zctl_get(f, name);
	char *end;

	if (!v || !zctl_is_uint(v)) {
		zctl_err("%s/.zcache/%s: %s figure %s", m->path, file, v ? "bad" : "no", name);
		return -EINVAL;
	}
	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno || *end) {
		zctl_err("%s/.zcache/%s: bad figure %s", m->path, file, name);
		return -EINVAL;
	}
	return 0;
}

static void zctl_mount_free(struct zctl_mount *m)
{
	size_t i;

	zctl_file_free(&m->stats);
	zctl_file_free(&m->compress);
	for (i = 0; i < m->npools; i++) {
		free(m->pools[i].name);
		zctl_file_free(&m->pools[i].f);
	}
	free(m->pools);
	m->pools = NULL;
	m->npools = 0;
}

/* "default" first (the root pool), then by name. */
static int zctl_pool_cmp(const void *a, const void *b)
{
	const struct zctl_pool *x = a, *y = b;
	int dx = !strcmp(x->name, "default"), dy = !strcmp(y->name, "default");

	if (dx != dy)
		return dy - dx;
	return strcmp(x->name, y->name);
}

/* Read .zcache/pools/NAME/stats for every pool. */
static int zctl_read_pools(struct zctl_mount *m)
{
	char path[4096];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/.zcache/pools", m->path);
	d = opendir(path);
	if (!d) {
		ret = -errno;
		zctl_err("cannot read %s: %s", path, strerror(errno));
		return ret;
	}
	while ((de = readdir(d))) {
		struct zctl_pool *p;
		char rel[512];

		if (de->d_name[0] == '.')
			continue;
		if (m->npools % 16 == 0) {
			p = realloc(m->pools, (m->npools + 16) * sizeof(*p));
			if (!p) {
				ret = -ENOMEM;
				zctl_err("out of memory");
				break;
			}
			m->pools = p;
		}
		p = &m->pools[m->npools];
		memset(p, 0, sizeof(*p));
		p->name = strdup(de->d_name);
		if (!p->name) {
			ret = -ENOMEM;
			zctl_err("out of memory");
			break;
		}
		m->npools++;
		snprintf(rel, sizeof(rel), "pools/%s/stats", de->d_name);
		ret = zctl_read_kv(m->path, rel, &p->f);
		if (ret < 0)
			break;
	}
	closedir(d);
	if (ret == 0 && m->npools > 1)
		qsort(m->pools, m->npools, sizeof(*m->pools), zctl_pool_cmp);
	return ret;
}

/* Read what a mount's .zcache says: stats and compress (and the pools for
 * the stats command).  Prints why on failure and returns a negative errno;
 * *m then holds nothing to free. */
static int zctl_mount_read(struct zctl_mount *m, int pools)
{
	char path[4096];
	struct stat st;
	int ret;

	if (stat(m->path, &st) < 0) {
		ret = -errno;
		zctl_err("%s: %s", m->path, strerror(errno));
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		zctl_err("%s: not a directory", m->path);
		return -ENOTDIR;
	}
	if (snprintf(path, sizeof(path), "%s/.zcache", m->path) >= (int)sizeof(path)) {
		zctl_err("%s: path too long", m->path);
		return -ENAMETOOLONG;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		zctl_err("%s: not a zcached mount (no %s directory)", m->path, path);
		return -ENOENT;
	}
	ret = zctl_read_kv(m->path, "stats", &m->stats);
	if (ret == 0)
		ret = zctl_read_kv(m->path, "compress", &m->compress);
	if (ret == 0 && !zctl_get(&m->compress, "default_compressor")) {
		zctl_err("%s/.zcache/compress: no figure default_compressor", m->path);
		ret = -EINVAL;
	}
	if (ret == 0 && pools)
		ret = zctl_read_pools(m);
	if (ret < 0)
		zctl_mount_free(m);
	return ret;
}

/* ---- finding the mounts ----------------------------------------------------- */

/* Undo mountinfo's octal escapes (\040 space, \011 tab, \012 newline,
 * \134 backslash) in place. */
static void zctl_unescape(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

/* Split a mountinfo line into blank-separated fields (in place). */
static int zctl_fields(char *line, char **f, int max)
{
	int n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(line, " \t\n", &save); tok && n < max;
	     tok = strtok_r(NULL, " \t\n", &save))
		f[n++] = tok;
	return n;
}

/* The zcached mounts listed in the mountinfo file, in its order (mount
 * order).  Returns the count (0 or more) with the paths in *out (free each
 * and the array), or a negative errno (printed). */
static int zctl_find_mounts(char ***out)
{
	const char *path = getenv("ZCACHECTL_MOUNTINFO");
	char *text, *line, *save = NULL;
	char **list = NULL;
	int n = 0;

	if (!path || !*path)
		path = ZCTL_MOUNTINFO;
	text = zctl_slurp(path);
	if (!text) {
		int ret = -errno;

		zctl_err("cannot read %s: %s", path, strerror(errno));
		return ret;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent maj:min root mountpoint options [optional...] - type source super */
		char *f[64];
		int nf = zctl_fields(line, f, 64), sep, ok;

		for (sep = 6; sep < nf && strcmp(f[sep], "-"); sep++)
			;
		if (sep + 2 >= nf)	/* no "- type source" */
			continue;
		ok = !strcmp(f[sep + 1], ZCTL_FSTYPE) ||
		     (!strcmp(f[sep + 1], "fuse") && !strcmp(f[sep + 2], ZCTL_FSNAME));
		if (!ok)
			continue;
		if (n % 16 == 0) {
			char **l = realloc(list, (size_t)(n + 16) * sizeof(*l));

			if (!l)
				goto nomem;
			list = l;
		}
		zctl_unescape(f[4]);
		list[n] = strdup(f[4]);
		if (!list[n])
			goto nomem;
		n++;
	}
	free(text);
	*out = list;
	return n;
nomem:
	while (n > 0)
		free(list[--n]);
	free(list);
	free(text);
	zctl_err("out of memory");
	return -ENOMEM;
}

/* ---- printing ---------------------------------------------------------------- */

/* A size as zramctl prints one: "0B", "512B", "4K", "1.5M", "256M": one
 * decimal, dropped when it is zero (integer and double arithmetic only, so
 * the program needs no libm). */
static void zctl_human(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	double d = (double)v;
	uint64_t tenths;
	int u = -1;

	if (v < 1024) {
		snprintf(buf, len, "%lluB", (unsigned long long)v);
		return;
	}
	while (d >= 1024.0 && u < 5) {
		d /= 1024.0;
		u++;
	}
	tenths = (uint64_t)(d * 10.0 + 0.5);
	if (tenths >= 10240 && u < 5) {	/* 1023.96K is 1M */
		tenths = (tenths + 512) / 1024;
		u++;
	}
	if (tenths % 10)
		snprintf(buf, len, "%llu.%llu%c", (unsigned long long)(tenths / 10),
			 (unsigned long long)(tenths % 10), units[u]);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)(tenths / 10), units[u]);
}

static void zctl_size(const struct zctl *c, uint64_t v, char *buf, size_t len)
{
	if (c->bytes)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		zctl_human(v, buf, len);
}

static void zctl_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch == '\t')
			fputs("\\t", out);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

/* A figure's value as JSON: the number as the daemon wrote it, or a
 * string when it is not a plain number. */
static void zctl_json_value(FILE *out, const char *v)
{
	if (zctl_is_number(v))
		fputs(v, out);
	else
		zctl_json_str(out, v);
}

/* One line of the table. */
struct zctl_row {
	const char *mount;
	uint64_t pools, limit, data, compr, total;
	double ratio;
	const char *algorithm;
};

static int zctl_row_of(const struct zctl_mount *m, struct zctl_row *r)
{
	const char *ratio = zctl_get(&m->stats, "compression_ratio");

	r->mount = m->path;
	r->algorithm = zctl_get(&m->compress, "default_compressor");
	if (zctl_get_u64(m, &m->stats, "stats", "pools", &r->pools) < 0 ||
	    zctl_get_u64(m, &m->stats, "stats", "mem_limit_bytes", &r->limit) < 0 ||
	    zctl_get_u64(m, &m->stats, "stats", "orig_data_bytes", &r->data) < 0 ||
	    zctl_get_u64(m, &m->stats, "stats", "compr_data_bytes", &r->compr) < 0 ||
	    zctl_get_u64(m, &m->stats, "stats", "mem_used_bytes", &r->total) < 0)
		return -EINVAL;
	/* compression_ratio is orig_data_bytes / mem_used_bytes; computed
	 * here when a daemon does not print it. */
	if (ratio && zctl_is_number(ratio))
		r->ratio = strtod(ratio, NULL);
	else
		r->ratio = r->total ? (double)r->data / (double)r->total : 0.0;
	return 0;
}

enum { ZCTL_NCOLS = 8 };
static const char *const zctl_heads[ZCTL_NCOLS] = {
	"MOUNT", "POOLS", "ALGORITHM", "LIMIT", "DATA", "COMPR", "TOTAL", "RATIO",
};

/* Cells of a row as text. */
static void zctl_cells(const struct zctl *c, const struct zctl_row *r,
		       char cell[ZCTL_NCOLS][64])
{
	snprintf(cell[0], 64, "%s", "");	/* the mount is printed from r->mount */
	snprintf(cell[1], 64, "%llu", (unsigned long long)r->pools);
	snprintf(cell[2], 64, "%s", r->algorithm);
	if (r->limit || c->bytes)
		zctl_size(c, r->limit, cell[3], 64);
	else
		snprintf(cell[3], 64, "none");
	zctl_size(c, r->data, cell[4], 64);
	zctl_size(c, r->compr, cell[5], 64);
	zctl_size(c, r->total, cell[6], 64);
	snprintf(cell[7], 64, "%.2f", r->ratio);
}

static void zctl_print_table(const struct zctl *c, const struct zctl_row *rows, size_t n)
{
	char cell[ZCTL_NCOLS][64];
	size_t w[ZCTL_NCOLS], i;
	int k;

	for (k = 0; k < ZCTL_NCOLS; k++)
		w[k] = c->noheadings ? 0 : strlen(zctl_heads[k]);
	for (i = 0; i < n; i++) {
		zctl_cells(c, &rows[i], cell);
		if (strlen(rows[i].mount) > w[0])
			w[0] = strlen(rows[i].mount);
		for (k = 1; k < ZCTL_NCOLS; k++)
			if (strlen(cell[k]) > w[k])
				w[k] = strlen(cell[k]);
	}
	/* MOUNT and ALGORITHM are text, left-aligned; the figures are
	 * right-aligned, as zramctl does. */
	if (!c->noheadings) {
		for (k = 0; k < ZCTL_NCOLS; k++) {
			int left = k == 0 || k == 2;

			printf(k ? " %*s" : "%*s", left ? -(int)w[k] : (int)w[k], zctl_heads[k]);
		}
		printf("\n");
	}
	for (i = 0; i < n; i++) {
		zctl_cells(c, &rows[i], cell);
		printf("%-*s", (int)w[0], rows[i].mount);
		for (k = 1; k < ZCTL_NCOLS; k++)
			printf(" %*s", k == 2 ? -(int)w[k] : (int)w[k], cell[k]);
		printf("\n");
	}
}

static void zctl_print_json_rows(const struct zctl_row *rows, size_t n)
{
	size_t i;

	printf("[");
	for (i = 0; i < n; i++) {
		const struct zctl_row *r = &rows[i];

		printf("%s\n  {\"mount\": ", i ? "," : "");
		zctl_json_str(stdout, r->mount);
		printf(", \"pools\": %llu, \"algorithm\": ", (unsigned long long)r->pools);
		zctl_json_str(stdout, r->algorithm);
		printf(", \"limit\": %llu, \"data\": %llu, \"compr\": %llu, \"total\": %llu, "
		       "\"ratio\": %.3f}",
		       (unsigned long long)r->limit, (unsigned long long)r->data,
		       (unsigned long long)r->compr, (unsigned long long)r->total, r->ratio);
	}
	printf("%s]\n", n ? "\n" : "");
}

/* The table command: one row per mount that could be read. */
static int zctl_cmd_table(const struct zctl *c)
{
	char **found = NULL;
	const char *const *paths;
	struct zctl_mount *ms = NULL;
	struct zctl_row *rows = NULL;
	size_t n, nrows = 0, i;
	int status = ZCTL_EXIT_OK;

	if (c->nmounts) {
		paths = (const char *const *)c->mounts;
		n = (size_t)c->nmounts;
	} else {
		int ret = zctl_find_mounts(&found);

		if (ret < 0)
			return ZCTL_EXIT_FAIL;
		paths = (const char *const *)found;
		n = (size_t)ret;
	}
	ms = calloc(n ? n : 1, sizeof(*ms));
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!ms || !rows) {
		zctl_err("out of memory");
		status = ZCTL_EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		ms[i].path = paths[i];
		if (zctl_mount_read(&ms[i], 0) < 0 || zctl_row_of(&ms[i], &rows[nrows]) < 0) {
			status = ZCTL_EXIT_FAIL;
			continue;
		}
		nrows++;
	}
	if (c->json)
		zctl_print_json_rows(rows, nrows);
	else if (nrows)
		zctl_print_table(c, rows, nrows);
out:
	for (i = 0; ms && i < n; i++)
		zctl_mount_free(&ms[i]);
	free(ms);
	free(rows);
	if (found) {
		for (i = 0; i < n; i++)
			free(found[i]);
		free(found);
	}
	return status;
}

/* ---- the stats command ------------------------------------------------------- */

/* The unit of a figure: a word for counts ("pages", "files"), "bytes",
 * "ratio", or "" for a plain number.  Known names first, then the name's
 * suffix, so figures added later still get a sensible unit. */
static const char *zctl_unit(const char *name)
{
	static const struct {
		const char *name, *unit;
	} known[] = {
		{ "pools", "pools" },
		{ "objects", "objects" },
		{ "pages", "pages" },
		{ "puts", "pages" },
		{ "gets", "pages" },
		{ "flushes", "pages" },
		{ "failed_puts", "pages" },
		{ "pages_compacted", "pages" },
		{ "compressed_pages", "pages" },
		{ "evictions", "objects" },
		{ "compactions", "runs" },
		{ "files", "files" },
		{ "directories", "directories" },
		{ "inodes", "inodes" },
		{ "enospc", "writes" },
		{ "frees", "pages" },
		{ "corrupt", "pages" },
		{ "bad_frees", "pages" },
		{ "fill_fallbacks", "pages" },
		{ "handle_fallbacks", "pages" },
		{ "tmem_pool", "" },
		/* The backing tier (fuse/tier.h). */
		{ "backing_writes", "pages" },
		{ "backing_reads", "pages" },
		{ "backing_promotions", "pages" },
		{ "backing_read_failures", "reads" },
		{ "backing_write_failures", "pages" },
		{ "backing_enospc", "writebacks" },
		{ "backing_conflicts", "pages" },
		{ "backing_rounds", "rounds" },
		{ "backing_sync_rounds", "rounds" },
		{ "backing_holes_punched", "segments" },
		{ "backing_compactions", "segments" },
		{ "backing_compact_runs", "runs" },
		{ "backing_compact_failures", "runs" },
	};
	size_t i, n = strlen(name);

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(name, known[i].name))
			return known[i].unit;
	if ((n > 6 && !strcmp(name + n - 6, "_bytes")) || !strncmp(name, "bytes_", 6))
		return "bytes";
	if (n > 6 && !strcmp(name + n - 6, "_pages"))
		return "pages";
	if (strstr(name, "ratio"))
		return "ratio";
	return "";
}

/* One "name  value unit" line of the stats command. */
static void zctl_stat_line(const struct zctl *c, const char *indent, const char *name,
			   const char *value)
{
	const char *unit = zctl_unit(name);

	printf("%s%-22s ", indent, name);
	if (!strcmp(unit, "bytes") && zctl_is_uint(value)) {
		uint64_t v = strtoull(value, NULL, 10);
		char h[32];

		zctl_human(v, h, sizeof(h));
		if (c->bytes || v < 1024)
			printf("%s bytes\n", value);
		else
			printf("%s (%s bytes)\n", h, value);
	} else if (!strcmp(unit, "ratio") || !*unit) {
		printf("%s\n", value);
	} else {
		printf("%s %s\n", value, unit);
	}
}

static void zctl_stats_text(const struct zctl *c, const struct zctl_mount *m)
{
	size_t i, j;

	printf("%s\n", m->path);
	printf("  %-22s %s\n", "default_compressor", zctl_get(&m->compress, "default_compressor"));
	for (i = 0; i < m->stats.n; i++) {
		const struct zctl_kv *kv = &m->stats.kv[i];

		/* A limit (or the backing file's budget) of 0 means none. */
		if ((!strcmp(kv->name, "mem_limit_bytes") || !strcmp(kv->name, "backing_limit_bytes") ||
		     !strcmp(kv->name, "backing_budget_bytes")) &&
		    !strcmp(kv->value, "0"))
			printf("  %-22s none\n", kv->name);
		else
			zctl_stat_line(c, "  ", kv->name, kv->value);
	}
	for (i = 0; i < m->npools; i++) {
		printf("\npool %s\n", m->pools[i].name);
		for (j = 0; j < m->pools[i].f.n; j++)
			zctl_stat_line(c, "  ", m->pools[i].f.kv[j].name, m->pools[i].f.kv[j].value);
	}
}

static void zctl_json_object(const struct zctl_file *f, const char *extra_name,
			     const char *extra_value)
{
	size_t i;

	printf("{");
	if (extra_name) {
		zctl_json_str(stdout, extra_name);
		printf(": ");
		zctl_json_str(stdout, extra_value);
	}
	for (i = 0; i < f->n; i++) {
		printf("%s", i || extra_name ? ", " : "");
		zctl_json_str(stdout, f->kv[i].name);
		printf(": ");
		zctl_json_value(stdout, f->kv[i].value);
	}
	printf("}");
}

static void zctl_stats_json(const struct zctl_mount *m)
{
	size_t i;

	printf("{\"mount\": ");
	zctl_json_str(stdout, m->path);
	printf(",\n \"default_compressor\": ");
	zctl_json_str(stdout, zctl_get(&m->compress, "default_compressor"));
	printf(",\n \"stats\": ");
	zctl_json_object(&m->stats, NULL, NULL);
	printf(",\n \"pools\": [");
	for (i = 0; i < m->npools; i++) {
		printf("%s\n  ", i ? "," : "");
		zctl_json_object(&m->pools[i].f, "name", m->pools[i].name);
	}
	printf("%s]}\n", m->npools ? "\n " : "");
}

static int zctl_cmd_stats(const struct zctl *c)
{
	struct zctl_mount m;

	memset(&m, 0, sizeof(m));
	m.path = c->mounts[0];
	if (zctl_mount_read(&m, 1) < 0)
		return ZCTL_EXIT_FAIL;
	if (c->json)
		zctl_stats_json(&m);
	else
		zctl_stats_text(c, &m);
	zctl_mount_free(&m);
	return ZCTL_EXIT_OK;
}

/* ---- the command line -------------------------------------------------------- */

static void zctl_usage(FILE *out)
{
	fputs("usage: zcachectl [options] [MOUNT...]\n"
	      "       zcachectl stats [options] MOUNT\n"
	      "\n"
	      "Show zcached mounts: one line per mount (every zcached mount when none is\n"
	      "named), or every figure of one mount with `stats'.  Reads MOUNT/.zcache only.\n"
	      "\n"
	      "  -b, --bytes        print sizes in bytes instead of K/M/G\n"
	      "  -J, --json         print JSON (sizes always in bytes)\n"
	      "  -n, --noheadings   do not print the table's header line\n"
	      "  -h, --help         show this text\n"
	      "  -V, --version      show the version\n"
	      "\n"
	      "Columns: MOUNT POOLS ALGORITHM LIMIT DATA COMPR TOTAL RATIO\n"
	      "(LIMIT: mem_limit; DATA: bytes stored; COMPR: their compressed size;\n"
	      "TOTAL: memory used for them with metadata; RATIO: DATA / TOTAL).\n"
	      "Exit status: 0 ok, 1 a mount could not be read, 2 bad usage.\n",
	      out);
}

/* Parse argv into *c.  Returns -1 to exit with ZCTL_EXIT_USAGE (message
 * printed), 1 to exit 0 at once (help, version), 0 to go on. */
static int zctl_parse(struct zctl *c, int argc, char **argv)
{
	int i, opts_done = 0, npos = 0;

	memset(c, 0, sizeof(*c));
	c->mounts = calloc((size_t)argc + 1, sizeof(*c->mounts));
	if (!c->mounts) {
		zctl_err("out of memory");
		return -1;
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!opts_done && a[0] == '-' && a[1]) {
			if (!strcmp(a, "--")) {
				opts_done = 1;
			} else if (!strcmp(a, "--bytes")) {
				c->bytes = 1;
			} else if (!strcmp(a, "--json")) {
				c->json = 1;
			} else if (!strcmp(a, "--noheadings")) {
				c->noheadings = 1;
			} else if (!strcmp(a, "--help")) {
				zctl_usage(stdout);
				return 1;
			} else if (!strcmp(a, "--version")) {
				printf("zcachectl %s\n", ZC_VERSION);
				return 1;
			} else if (a[1] != '-') {
				const char *p;

				/* Bundled short options: -bJ. */
				for (p = a + 1; *p; p++) {
					switch (*p) {
					case 'b': c->bytes = 1; break;
					case 'J': c->json = 1; break;
					case 'n': c->noheadings = 1; break;
					case 'h': zctl_usage(stdout); return 1;
					case 'V': printf("zcachectl %s\n", ZC_VERSION); return 1;
					default:
						if (a[2])
							zctl_err("unknown option: -%c (in %s); see zcachectl --help",
								 *p, a);
						else
							zctl_err("unknown option: %s; see zcachectl --help", a);
						return -1;
					}
				}
			} else {
				zctl_err("unknown option: %s; see zcachectl --help", a);
				return -1;
			}
			continue;
		}
		if (npos++ == 0 && !strcmp(a, "stats")) {
			c->stats = 1;
			continue;
		}
		if (!*a) {
			zctl_err("empty MOUNT argument");
			return -1;
		}
		c->mounts[c->nmounts++] = argv[i];
	}
	if (c->stats && c->nmounts != 1) {
		if (c->nmounts == 0)
			zctl_err("stats needs a MOUNT argument");
		else
			zctl_err("unexpected argument: %s (stats takes one MOUNT)", c->mounts[1]);
		return -1;
	}
	if (c->stats && c->noheadings) {
		zctl_err("option --noheadings is for the table, not for stats");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct zctl c;
	int ret = zctl_parse(&c, argc, argv);

	if (ret != 0) {
		free(c.mounts);
		return ret > 0 ? ZCTL_EXIT_OK : ZCTL_EXIT_USAGE;
	}
	ret = c.stats ? zctl_cmd_stats(&c) : zctl_cmd_table(&c);
	free(c.mounts);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		zctl_err("write error: %s", strerror(errno));
		return ZCTL_EXIT_FAIL;
	}
	return ret;
}
