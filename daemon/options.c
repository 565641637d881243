/* options.c - the command line of zcached (see options.h).
 *
 * A small hand-written parser rather than fuse_opt_parse: we need to name a
 * bad option in one line and exit 2 before libfuse is even asked, and we need
 * the SOURCE MOUNTPOINT form that mount.fuse3 uses.  -o lists are split on
 * commas; each item is either one of ours (validated here), one of FUSE's or
 * the VFS's (appended to fuse_opts), or mount(8) bookkeeping (dropped).
 */
#include "daemon/options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "compress/codec.h"
#include "fuse/densify.h"
#include "fuse/spill.h"
#include "fuse/mem.h"
#include "fuse/tier.h"
#include "fuse/uring.h"

/* Options passed to libfuse unchanged ("name" or "name=" for a value). */
static const char *const zd_fuse_opts[] = {
	"allow_other", "allow_root", "auto_unmount", "default_permissions",
	"ro", "rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec",
	"atime", "noatime", "relatime", "norelatime", "strictatime", "nostrictatime",
	"diratime", "nodiratime", "lazytime", "nolazytime", "sync", "async", "dirsync",
	"fsname=", "subtype=", "max_read=", "context=", "fscontext=", "defcontext=",
	"rootcontext=", NULL,
};

/* mount(8) and fstab bookkeeping: accepted, not passed on. */
static const char *const zd_dropped_opts[] = {
	"defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group",
	"_netdev", "nofail", "comment=", "x-", "loop", NULL,
};

static void zd_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void zd_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Does `opt` match `pat` ("name" exactly, or "name=" / "x-" as a prefix)? */
static int zd_opt_match(const char *opt, const char *pat)
{
	size_t n = strlen(pat);

	if (pat[n - 1] == '=' || pat[n - 1] == '-')
		return strncmp(opt, pat, n) == 0;
	return strcmp(opt, pat) == 0;
}

static int zd_in_list(const char *opt, const char *const *list)
{
	for (; *list; list++)
		if (zd_opt_match(opt, *list))
			return 1;
	return 0;
}

static int zd_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Append `opt` to the comma list *list (reallocating it), escaping its
 * commas and backslashes with a backslash: libfuse splits the list again
 * and reads them as escapes, so an option the user escaped must reach it
 * escaped (else "fsname=a\,clone_fd" would smuggle in clone_fd). */
static int zd_append(char **list, const char *opt)
{
	size_t old = *list ? strlen(*list) : 0;
	size_t add = strlen(opt);
	char *n = realloc(*list, old + 2 * add + 2);

	if (!n)
		return -ENOMEM;
	if (old)
		n[old++] = ',';
	for (const char *p = opt; *p; p++) {
		if (*p == ',' || *p == '\\')
			n[old++] = '\\';
		n[old++] = *p;
	}
	n[old] = '\0';
	*list = n;
	return 0;
}

/* spill=HOST:PORT[+HOST:PORT...]: the far tier's servers (fuse/far.h),
 * checked now so a bad list fails the mount before anything is built. */
static int zd_spill_opt(struct zd_options *o, const char *val, char *err, size_t errlen)
{
	struct zfs_spill_addr a[ZFS_SPILL_SERVERS_MAX];
	char serr[256];
	char *copy;

	if (zfs_spill_parse_servers(val, a, ZFS_SPILL_SERVERS_MAX, serr, sizeof(serr)) < 0) {
		zd_err(err, errlen, "bad value for spill: %s", serr);
		return -EINVAL;
	}
	copy = strdup(val);
	if (!copy)
		return -ENOMEM;
	free(o->spill);
	o->spill = copy;
	return 0;
}

/* snapshot=PATH: kept absolute, since the daemon leaves its working
 * directory when it goes to the background.  A later snapshot= replaces an
 * earlier one. */
static int zd_parse_snapshot(struct zd_options *o, const char *val, char *err, size_t errlen)
{
	char cwd[4096];
	char *path;

	if (!val[0]) {
		zd_err(err, errlen, "bad value for snapshot: \"\" (expected a file path)");
		return -EINVAL;
	}
	if (val[0] == '/') {
		path = strdup(val);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		path = malloc(strlen(cwd) + strlen(val) + 2);
		if (path)
			sprintf(path, "%s/%s", cwd, val);
	}
	if (!path)
		return -ENOMEM;
	free(o->snapshot);
	o->snapshot = path;
	return 0;
}

/* The backing tier's options (fuse/tier.h): backing=PATH,
 * backing_limit=SIZE, backing_budget=SIZE, backing_high=PCT,
 * backing_low=PCT, backing_compact=SIZE|off.  `val` is NULL without "=". */
static int zd_backing_opt(struct zd_options *o, const char *opt, const char *val, char *err,
			  size_t errlen)
{
	char *path;

	if (!val) {
		zd_err(err, errlen, "option %s needs a value (%s=...)", opt, opt);
		return -EINVAL;
	}
	if (!strncmp(opt, "backing=", 8)) {
		if (!*val) {
			zd_err(err, errlen, "bad value for backing: \"\" (expected a directory or "
			       "file on a disk filesystem)");
			return -EINVAL;
		}
		path = strdup(val);
		if (!path)
			return -ENOMEM;
		free(o->backing);
		o->backing = path;
		return 0;
	}
	if (!strncmp(opt, "backing_limit=", 14) || !strncmp(opt, "backing_budget=", 15)) {
		int limit = opt[8] == 'l';

		if (zfs_parse_size(val, 0, limit ? &o->backing_limit : &o->backing_budget) < 0 ||
		    strchr(val, '%')) {
			zd_err(err, errlen, "bad value for %s: \"%s\" (expected SIZE[K|M|G|T])",
			       limit ? "backing_limit" : "backing_budget", val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strncmp(opt, "backing_compact=", 16)) {
		uint64_t v;

		if (!strcmp(val, "off")) {
			o->backing_compact = ZFS_TIER_COMPACT_OFF;
			return 0;
		}
		if (zfs_parse_size(val, 0, &v) < 0 || strchr(val, '%')) {
			zd_err(err, errlen, "bad value for backing_compact: \"%s\" (expected SIZE[K|M|G|T] "
			       "or off)", val);
			return -EINVAL;
		}
		o->backing_compact = v ? v : 1;	/* 0: any dead byte */
		return 0;
	}
	if (!strncmp(opt, "backing_high=", 13) || !strncmp(opt, "backing_low=", 12)) {
		int high = opt[8] == 'h';

		if (zd_parse_uint(val, 1, 100, high ? &o->backing_high : &o->backing_low) < 0) {
			zd_err(err, errlen, "bad value for %s: \"%s\" (expected a percentage of "
			       "mem_limit, 1..100)", high ? "backing_high" : "backing_low", val);
			return -EINVAL;
		}
		return 0;
	}
	zd_err(err, errlen, "unknown mount option: %s", opt);
	return -EINVAL;
}

/* open=on|off: whether OPEN and RELEASE reach the daemon (fuse/ops.h,
 * "No-open mode"). */
static int zd_open_opt(struct zd_options *o, const char *val, char *err, size_t errlen)
{
	if (!strcmp(val, "on")) {
		o->no_open = 0;
	} else if (!strcmp(val, "off")) {
		o->no_open = 1;
	} else {
		zd_err(err, errlen, "bad value for open: \"%s\" (expected on or off)", val);
		return -EINVAL;
	}
	return 0;
}

/* open=off keeps no count of open files, so nothing may need one: no
 * ephemeral pools (eviction takes closed files only) and no far tier
 * (it spills and restores whole files at open). */
static int zd_open_check(const struct zd_options *o, char *err, size_t errlen)
{
	if (!o->no_open)
		return 0;
	if (o->ephemeral) {
		zd_err(err, errlen, "open=off cannot go with pool=ephemeral (eviction must know "
		       "which files are open)");
		return -EINVAL;
	}
	if (o->spill) {
		zd_err(err, errlen, "open=off cannot go with spill= (spilled files come back "
		       "when they are opened)");
		return -EINVAL;
	}
	return 0;
}

/* Handle one item of a -o list. */
static int zd_one_opt(struct zd_options *o, const char *opt, uint64_t ram, char *err,
		      size_t errlen)
{
	const char *val = strchr(opt, '=');
	char cerr[160];

	if (!*opt)
		return 0;
	val = val ? val + 1 : NULL;
	if (!strncmp(opt, "mem_limit=", 10)) {
		if (zfs_parse_size(val, ram, &o->mem_limit) < 0) {
			zd_err(err, errlen, "bad value for mem_limit: \"%s\" (expected SIZE[K|M|G|T] or N%%)",
			       val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strncmp(opt, "compressor=", 11)) {
		if (codec_parse(val, &o->codec, cerr, sizeof(cerr)) < 0) {
			zd_err(err, errlen, "bad value for compressor: %s", cerr);
			return -EINVAL;
		}
		return 0;
	}
	if (!strncmp(opt, "pool=", 5)) {
		if (!strcmp(val, "persistent")) {
			o->ephemeral = 0;
		} else if (!strcmp(val, "ephemeral")) {
			o->ephemeral = 1;
		} else {
			zd_err(err, errlen, "bad value for pool: \"%s\" (expected persistent or ephemeral)",
			       val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strncmp(opt, "densify=", 8)) {
		if (zfs_densify_parse(val, 0, &o->densify) < 0) {
			zd_err(err, errlen, "bad value for densify: \"%s\" (expected auto, off or a "
			       "compressor such as zstd:12 or lz4hc)", val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strncmp(opt, "densify_idle=", 13)) {
		if (zd_parse_uint(val, 0, 31u * 24 * 3600, &o->densify_idle) < 0) {
			zd_err(err, errlen, "bad value for densify_idle: \"%s\" (expected seconds, "
			       "0..2678400; 0 = never in the background)", val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strncmp(opt, "backing", 7))
		return zd_backing_opt(o, opt, val, err, errlen);
	if (!strncmp(opt, "threads=", 8)) {
		if (zd_parse_uint(val, 1, 1024, &o->threads) < 0) {
			zd_err(err, errlen, "bad value for threads: \"%s\" (expected 1..1024)", val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strncmp(opt, "uring=", 6)) {
		if (!strcmp(val, "auto")) {
			o->uring = ZFS_URING_AUTO;
		} else if (!strcmp(val, "on")) {
			o->uring = ZFS_URING_ON;
		} else if (!strcmp(val, "off")) {
			o->uring = ZFS_URING_OFF;
		} else {
			zd_err(err, errlen, "bad value for uring: \"%s\" (expected auto, on or off)",
			       val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strncmp(opt, "open=", 5))
		return zd_open_opt(o, val, err, errlen);
	if (!strncmp(opt, "spill=", 6))
		return zd_spill_opt(o, val, err, errlen);
	if (!strncmp(opt, "snapshot=", 9))
		return zd_parse_snapshot(o, val, err, errlen);
	if (!strcmp(opt, "debug")) {
		o->debug = 1;
		o->foreground = 1;
		return 0;
	}
	if (zd_in_list(opt, zd_dropped_opts))
		return 0;
	if (zd_in_list(opt, zd_fuse_opts)) {
		if (!strcmp(opt, "default_permissions"))
			return 0;	/* always on, added once below */
		return zd_append(&o->fuse_opts, opt);
	}
	if (!strncmp(opt, "mem_limit", 9) || !strncmp(opt, "compressor", 10) ||
	    !strncmp(opt, "pool", 4) || !strncmp(opt, "threads", 7) || !strcmp(opt, "uring") ||
	    !strncmp(opt, "densify", 7) || !strcmp(opt, "spill") || !strcmp(opt, "open") ||
	    !strcmp(opt, "snapshot"))
		zd_err(err, errlen, "option %s needs a value (%s=...)", opt, opt);
	else
		zd_err(err, errlen, "unknown mount option: %s", opt);
	return -EINVAL;
}

/* Split a -o argument on commas (backslash escapes a comma). */
static int zd_opt_list(struct zd_options *o, const char *list, uint64_t ram, char *err,
		       size_t errlen)
{
	size_t n = strlen(list);
	char *buf = malloc(n + 1);
	size_t i, j = 0;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (i = 0; i <= n && ret == 0; i++) {
		if (list[i] == '\\' && list[i + 1]) {
			buf[j++] = list[++i];
			continue;
		}
		if (list[i] == ',' || list[i] == '\0') {
			buf[j] = '\0';
			ret = zd_one_opt(o, buf, ram, err, errlen);
			j = 0;
			continue;
		}
		buf[j++] = list[i];
	}
	free(buf);
	return ret;
}

int zd_options_parse(struct zd_options *o, int argc, char **argv, uint64_t ram_bytes,
		     unsigned ncpus, char *err, size_t errlen)
{
	const char *pos[2] = { NULL, NULL };
	int npos = 0, i, ret;

	memset(o, 0, sizeof(*o));
	o->mem_limit = ram_bytes / 2;
	o->codec = CODEC_DEFAULT;
	o->densify = zfs_densify_setting(ZFS_DENSIFY_AUTO, 0);
	o->densify_idle = ZFS_DENSIFY_IDLE_DEFAULT;
	o->threads = ncpus ? ncpus : 1;
	if (err && errlen)
		err[0] = '\0';

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			o->help = 1;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			o->version = 1;
		} else if (!strcmp(a, "-f")) {
			o->foreground = 1;
		} else if (!strcmp(a, "-d")) {
			o->debug = 1;
			o->foreground = 1;
		} else if (!strcmp(a, "-s")) {
			o->threads = 1;
		} else if (!strcmp(a, "-o")) {
			if (i + 1 >= argc) {
				zd_err(err, errlen, "option -o needs an argument");
				ret = -EINVAL;
				goto fail;
			}
			ret = zd_opt_list(o, argv[++i], ram_bytes, err, errlen);
			if (ret < 0)
				goto fail;
		} else if (!strncmp(a, "-o", 2)) {
			ret = zd_opt_list(o, a + 2, ram_bytes, err, errlen);
			if (ret < 0)
				goto fail;
		} else if (a[0] == '-' && a[1]) {
			zd_err(err, errlen, "unknown option: %s", a);
			ret = -EINVAL;
			goto fail;
		} else {
			if (npos == 2) {
				zd_err(err, errlen, "unexpected argument: %s", a);
				ret = -EINVAL;
				goto fail;
			}
			pos[npos++] = a;
		}
	}
	if (o->help || o->version)
		return 0;
	{
		unsigned hi = o->backing_high ? o->backing_high : ZFS_TIER_HIGH_DEFAULT;
		unsigned lo = o->backing_low ? o->backing_low : ZFS_TIER_LOW_DEFAULT;

		if (lo >= hi) {
			zd_err(err, errlen, "backing_low (%u%%) must be below backing_high (%u%%)",
			       lo, hi);
			ret = -EINVAL;
			goto fail;
		}
	}
	ret = zd_open_check(o, err, errlen);
	if (ret < 0)
		goto fail;
	if (npos == 0) {
		zd_err(err, errlen, "no mount point given");
		ret = -EINVAL;
		goto fail;
	}
	/* One positional argument is the mount point; two are SOURCE
	 * MOUNTPOINT as mount.fuse3 passes them (the source is ignored). */
	o->mountpoint = strdup(pos[npos - 1]);
	if (!o->mountpoint) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = zd_append(&o->fuse_opts, "default_permissions");
	if (ret < 0)
		goto fail;
	return 0;
fail:
	zd_options_free(o);
	return ret;
}

void zd_options_free(struct zd_options *o)
{
	if (!o)
		return;
	free(o->mountpoint);
	free(o->fuse_opts);
	free(o->spill);
	free(o->snapshot);
	free(o->backing);
	o->mountpoint = NULL;
	o->fuse_opts = NULL;
	o->spill = NULL;
	o->snapshot = NULL;
	o->backing = NULL;
}

const char *zd_options_usage(void)
{
	return "usage: zcached [options] MOUNTPOINT\n"
	       "       mount -t fuse.zcached zcached MOUNTPOINT -o OPTIONS\n"
	       "\n"
	       "Keep files in RAM, compressed, and show them as a filesystem.\n"
	       "\n"
	       "  -f                  stay in the foreground\n"
	       "  -d                  FUSE debug output (implies -f)\n"
	       "  -s                  one worker thread\n"
	       "  -o OPT[,OPT...]     mount options:\n"
	       "     mem_limit=SIZE   memory for file data: K/M/G/T suffix or N% of RAM\n"
	       "                      (default 50%; 0 = no limit)\n"
	       "     compressor=NAME  lz4[:ACCEL] (default), zstd[:LEVEL] or none\n"
	       "     pool=KIND        kind of new pools: persistent (default) or ephemeral\n"
	       "     threads=N        worker threads (default: number of CPUs)\n"
	       "     uring=MODE       FUSE over io_uring: auto (default: when the kernel\n"
	       "                      offers it), on (refuse to mount without it) or off\n"
	       "     densify=CODEC    repack idle files into 32/64 KiB units with CODEC:\n"
	       "                      auto (default: lz4hc:9 for lz4 pools, zstd:9+ for\n"
	       "                      zstd ones), off, or a compressor (zstd:12, lz4hc)\n"
	       "     densify_idle=SEC densify closed files unwritten for SEC seconds\n"
	       "                      (default 300; 0 = only on a write to\n"
	       "                      MOUNTPOINT/.zcache/densify)\n"
	       "     spill=HOST:PORT[+HOST:PORT...]\n"
	       "                      spill evicted files of ephemeral pools to these\n"
	       "                      memcached servers and fetch them back at open\n"
	       "                      (no authentication: trusted networks only)\n"
	       "     open=on|off      on (default): every open(2) and close(2) reaches the\n"
	       "                      daemon (OPEN, RELEASE); off: the kernel opens alone,\n"
	       "                      two requests fewer per file read (not with\n"
	       "                      pool=ephemeral or spill=, no SIGHUP reload)\n"
	       "     snapshot=PATH    keep the filesystem across stops: load PATH before\n"
	       "                      mounting if it exists, write it at a clean stop\n"
	       "     backing=PATH     write cold pages of persistent pools, compressed, to\n"
	       "                      a file in directory PATH (or to file PATH) on a\n"
	       "                      disk filesystem, from 90% of mem_limit down to 80%\n"
	       "     backing_limit=SIZE  cap the backing file (default: the disk's room)\n"
	       "     backing_budget=SIZE bytes writeback may write at most (default: no cap)\n"
	       "     backing_high=PCT, backing_low=PCT  the watermarks, % of mem_limit\n"
	       "     backing_compact=SIZE|off  compact the backing file's sparse segments\n"
	       "                      once they hold SIZE dead bytes (default: 8M and an\n"
	       "                      eighth of the file)\n"
	       "     allow_other, ro, noatime, ... as for any FUSE filesystem\n"
	       "  -h, --help          show this text\n"
	       "  -V, --version       show the version\n"
	       "\n"
	       "Statistics: MOUNTPOINT/.zcache/stats (and mm_stat, metrics, stats.json).\n"
	       "Unmount with: fusermount3 -u MOUNTPOINT (or umount as root).\n";
}
