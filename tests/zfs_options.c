/* zfs_options.c - unit suite of zcached's command line (daemon/options.h)
 * and of the size parser it shares with /.zcache/mem_limit. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress/codec.h"
#include "daemon/log.h"
#include "daemon/options.h"
#include "fuse/mem.h"
#include "testutil.h"

#define RAM (8ull << 30)

static int parse(struct zd_options *o, char *err, size_t errlen, int argc, ...)
	__attribute__((sentinel));

static int parse(struct zd_options *o, char *err, size_t errlen, int argc, ...)
{
	char *argv[32];
	va_list ap;
	int n = 0;

	(void)argc;
	argv[n++] = "zcached";
	va_start(ap, argc);
	for (char *a; (a = va_arg(ap, char *));)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return zd_options_parse(o, n, argv, RAM, 4, err, errlen);
}

START_TEST(test_defaults)
{
	struct zd_options o;
	char err[256];

	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "/mnt/x", NULL), 0);
	ck_assert_str_eq(o.mountpoint, "/mnt/x");
	ck_assert_uint_eq(o.mem_limit, RAM / 2);
	ck_assert_uint_eq(o.codec, CODEC_DEFAULT);
	ck_assert_int_eq(o.ephemeral, 0);
	ck_assert_uint_eq(o.threads, 4);
	ck_assert_int_eq(o.foreground, 0);
	ck_assert_str_eq(o.fuse_opts, "default_permissions");
	zd_options_free(&o);
	zd_options_free(&o);	/* twice is fine */
	zd_options_free(NULL);
}
END_TEST

START_TEST(test_all_options)
{
	struct zd_options o;
	char err[256];
	unsigned zstd5;

	ck_assert_int_eq(codec_parse("zstd:5", &zstd5, NULL, 0), 0);
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-f", "-o",
			       "mem_limit=2G,compressor=zstd:5,pool=ephemeral,threads=7",
			       "-oallow_other,noatime", "/m", NULL), 0);
	ck_assert_uint_eq(o.mem_limit, 2ull << 30);
	ck_assert_uint_eq(o.codec, zstd5);
	ck_assert_int_eq(o.ephemeral, 1);
	ck_assert_uint_eq(o.threads, 7);
	ck_assert_int_eq(o.foreground, 1);
	ck_assert_str_eq(o.fuse_opts, "allow_other,noatime,default_permissions");
	zd_options_free(&o);
	/* A percentage, -s, -d, 0 = no limit. */
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-s", "-o", "mem_limit=25%", "/m", NULL), 0);
	ck_assert_uint_eq(o.mem_limit, RAM / 4);
	ck_assert_uint_eq(o.threads, 1);
	zd_options_free(&o);
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-d", "-o", "mem_limit=0", "/m", NULL), 0);
	ck_assert_uint_eq(o.mem_limit, 0);
	ck_assert_int_eq(o.debug, 1);
	ck_assert_int_eq(o.foreground, 1);
	zd_options_free(&o);
}
END_TEST

START_TEST(test_mount_helper_form)
{
	struct zd_options o;
	char err[256];

	/* mount.fuse3: TYPE SOURCE MOUNTPOINT -o OPTS, with mount(8)'s own. */
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "zcached", "/mnt/zc", "-o",
			       "rw,nosuid,nodev,defaults,auto,_netdev,x-systemd.automount,mem_limit=1G",
			       NULL), 0);
	ck_assert_str_eq(o.mountpoint, "/mnt/zc");
	ck_assert_uint_eq(o.mem_limit, 1ull << 30);
	ck_assert_str_eq(o.fuse_opts, "rw,nosuid,nodev,default_permissions");
	zd_options_free(&o);
	/* A comma inside a value can be escaped, and reaches libfuse (which
	 * splits the list again) still escaped: one option, not two. */
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o", "fsname=a\\,b", "/m", NULL), 0);
	ck_assert_str_eq(o.fuse_opts, "fsname=a\\,b,default_permissions");
	zd_options_free(&o);
	/* So an escaped comma cannot smuggle in an option zcached refuses
	 * (found by tests/fuzz/fuzz_options), and a backslash stays one. */
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o", "fsname=a\\,clone_fd", "/m",
			       NULL), 0);
	ck_assert_str_eq(o.fuse_opts, "fsname=a\\,clone_fd,default_permissions");
	zd_options_free(&o);
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o", "fsname=a\\\\b", "/m", NULL), 0);
	ck_assert_str_eq(o.fuse_opts, "fsname=a\\\\b,default_permissions");
	zd_options_free(&o);
}
END_TEST

START_TEST(test_bad)
{
	static const struct {
		const char *opt, *msg;
	} bad[] = {
		{ "mem_limit=12Q", "mem_limit" },
		{ "mem_limit=", "mem_limit" },
		{ "mem_limit=101%", "mem_limit" },
		{ "mem_limit=99999999999999999999", "mem_limit" },
		{ "compressor=lz5", "lz5" },
		{ "compressor=zstd:77", "compressor" },
		{ "pool=maybe", "pool" },
		{ "threads=0", "threads" },
		{ "threads=2000", "threads" },
		{ "threads=4x", "threads" },
		{ "nonsense", "nonsense" },
		{ "threads", "threads" },
		{ "backing=", "backing" },
		{ "backing", "backing" },
		{ "backing_limit=5%", "backing_limit" },
		{ "backing_budget=lots", "backing_budget" },
		{ "backing_high=0", "backing_high" },
		{ "backing_low=101", "backing_low" },
		{ "backing_high=50,backing_low=60", "below" },
		{ "backing_low=90", "below" },
		{ "backing_nonsense=1", "backing_nonsense" },
		{ "backing_compact=some", "backing_compact" },
		{ "backing_compact=10%", "backing_compact" },
	};
	struct zd_options o;
	char err[256];
	size_t k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o", bad[k].opt, "/m", NULL), -EINVAL);
		ck_assert_msg(strstr(err, bad[k].msg), "%s: %s", bad[k].opt, err);
		ck_assert_ptr_null(strchr(err, '\n'));
		ck_assert_ptr_null(o.mountpoint);
		ck_assert_ptr_null(o.fuse_opts);
	}
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "mount point"));
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "a", "b", "c", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "c"));
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-x", "/m", NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "-x"));
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "/m", "-o", NULL), -EINVAL);
	/* A short error buffer is fine; NULL too. */
	ck_assert_int_eq(parse(&o, err, 4, 0, "-o", "nonsense", "/m", NULL), -EINVAL);
	ck_assert_uint_eq(strlen(err), 3);
	ck_assert_int_eq(parse(&o, NULL, 0, 0, "-o", "nonsense", "/m", NULL), -EINVAL);
}
END_TEST

/* The backing tier's options (fuse/tier.h); the path is checked when the
 * daemon opens it, not here. */
START_TEST(test_backing)
{
	struct zd_options o;
	char err[256];

	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "/m", NULL), 0);
	ck_assert_ptr_null(o.backing);
	ck_assert_uint_eq(o.backing_limit, 0);
	ck_assert_uint_eq(o.backing_budget, 0);
	ck_assert_uint_eq(o.backing_high, 0);
	ck_assert_uint_eq(o.backing_low, 0);
	zd_options_free(&o);
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o",
			       "backing=/var/tmp/a\\,b,backing_limit=2G,backing_budget=10G,"
			       "backing_high=70,backing_low=60",
			       "/m", NULL),
			 0);
	ck_assert_str_eq(o.backing, "/var/tmp/a,b");
	ck_assert_uint_eq(o.backing_limit, 2ull << 30);
	ck_assert_uint_eq(o.backing_budget, 10ull << 30);
	ck_assert_uint_eq(o.backing_high, 70);
	ck_assert_uint_eq(o.backing_low, 60);
	ck_assert_uint_eq(o.backing_compact, 0);	/* the default rule */
	ck_assert_ptr_null(strstr(o.fuse_opts, "backing"));
	zd_options_free(&o);
	ck_assert_ptr_null(o.backing);
	/* backing_compact: a size, 0 (any dead byte) or off. */
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o", "backing_compact=16M", "/m", NULL), 0);
	ck_assert_uint_eq(o.backing_compact, 16ull << 20);
	zd_options_free(&o);
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o", "backing_compact=0", "/m", NULL), 0);
	ck_assert_uint_eq(o.backing_compact, 1);
	zd_options_free(&o);
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o", "backing_compact=off", "/m", NULL), 0);
	ck_assert_uint_eq(o.backing_compact, UINT64_MAX);	/* ZFS_TIER_COMPACT_OFF */
	zd_options_free(&o);
}
END_TEST

START_TEST(test_help_version)
{
	struct zd_options o;
	char err[256];

	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "--help", NULL), 0);
	ck_assert_int_eq(o.help, 1);
	ck_assert_ptr_null(o.mountpoint);
	zd_options_free(&o);
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-V", NULL), 0);
	ck_assert_int_eq(o.version, 1);
	zd_options_free(&o);
	ck_assert_ptr_nonnull(strstr(zd_options_usage(), "mem_limit=SIZE"));
}
END_TEST

START_TEST(test_parse_size)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 }, { "4096", 4096 }, { "1k", 1024 }, { "1K", 1024 }, { "3M", 3 << 20 },
		{ "2G", 2ull << 30 }, { "1T", 1ull << 40 }, { "10KiB", 10240 }, { "5MB", 5 << 20 },
		{ "100B", 100 }, { "50%", RAM / 2 }, { "100%", RAM }, { "0%", 0 },
		{ "16777215T", 16777215ull << 40 },
	};
	static const char *const bad[] = {
		"", "G", "1.5G", "-1", "1X", "1GG", "101%", "1%%", "18446744073709551616",
		"16777216T", " 1", "1 ",
	};
	uint64_t v;
	size_t k;

	for (k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
		ck_assert_msg(zfs_parse_size(good[k].s, RAM, &v) == 0, "%s", good[k].s);
		ck_assert_msg(v == good[k].v, "%s: %llu", good[k].s, (unsigned long long)v);
	}
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		v = 77;
		ck_assert_msg(zfs_parse_size(bad[k], RAM, &v) == -EINVAL, "%s", bad[k]);
		ck_assert_uint_eq(v, 77);
	}
	ck_assert_int_eq(zfs_parse_size(NULL, RAM, &v), -EINVAL);
}
END_TEST

/* The log writes "ident: level: message" lines and drops what is above
 * its level. */
START_TEST(test_log)
{
	char path[] = "/tmp/zfs_log.XXXXXX", buf[512];
	int fd = mkstemp(path), saved = dup(2);
	struct zd_log log;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	zd_log_init(&log, "zcached", ZD_LOG_INFO);
	zd_log_printf(&log, ZD_LOG_ERR, "bad %d", 42);
	zd_log_printf(&log, ZD_LOG_WARN, "careful");
	zd_log_printf(&log, ZD_LOG_INFO, "fine");
	zd_log_printf(&log, ZD_LOG_DEBUG, "hidden");
	zd_log_close(&log);
	zd_log_close(NULL);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "zcached: error: bad 42\nzcached: warning: careful\nzcached: info: fine\n");
	close(fd);
	unlink(path);
	ck_assert_str_eq(zd_log_level_name(ZD_LOG_DEBUG), "debug");
}
END_TEST

/* snapshot=PATH (issue 15): kept absolute, the last one wins, a value
 * is required. */
START_TEST(test_snapshot)
{
	struct zd_options o;
	char err[256], cwd[4096], want[4200];

	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o", "snapshot=/var/lib/zc/s", "/mnt/x",
			       NULL), 0);
	ck_assert_str_eq(o.snapshot, "/var/lib/zc/s");
	zd_options_free(&o);
	ck_assert_ptr_null(o.snapshot);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/rel.state", cwd);
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o", "snapshot=/a,snapshot=rel.state",
			       "/mnt/x", NULL), 0);
	ck_assert_str_eq(o.snapshot, want);
	zd_options_free(&o);
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "/mnt/x", NULL), 0);
	ck_assert_ptr_null(o.snapshot);
	zd_options_free(&o);
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o", "snapshot=", "/mnt/x", NULL), -EINVAL);
	ck_assert_str_eq(err, "bad value for snapshot: \"\" (expected a file path)");
	ck_assert_int_eq(parse(&o, err, sizeof(err), 0, "-o", "snapshot", "/mnt/x", NULL), -EINVAL);
	ck_assert_str_eq(err, "option snapshot needs a value (snapshot=...)");
	ck_assert_ptr_nonnull(strstr(zd_options_usage(), "snapshot=PATH"));
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("zfs_options");
	TCase *tc = tcase_create("options");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_all_options);
	tcase_add_test(tc, test_mount_helper_form);
	tcase_add_test(tc, test_bad);
	tcase_add_test(tc, test_backing);
	tcase_add_test(tc, test_help_version);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_log);
	tcase_add_test(tc, test_snapshot);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return zc_test_main(make_suite());
}
