/* fs_noopen.c - the integration suite of no-open mode (-o open=off,
 * fuse/ops.h "No-open mode"): the kernel stops sending OPEN and RELEASE
 * after the first OPEN is answered ENOSYS, and CREATE becomes MKNOD.
 *
 * What it checks: the request counts (one OPEN and one CREATE per mount,
 * no RELEASE); reads, writes, appends, truncation, O_DIRECT, fallocate and
 * lseek on files the daemon never saw opened (fh 0); an unlinked file
 * keeps its data while the kernel still holds it open and loses it at the
 * FORGET; ENOSPC at write with nothing stored before lost; the /.zcache
 * files as snapshots (exact size, one rendering per lookup, writes act);
 * what open=off refuses (pool=ephemeral, spill=, an ephemeral pool kind,
 * a SIGHUP reload).
 * Mounting and the cleanup that survives failed assertions are in
 * fsutil.c.  Runs once per transport, like fs.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"

/* The count of `op` in /.zcache/fuse (0 when the line is absent). */
static uint64_t nofs_count(const char *op)
{
	char *s = fs_read_file(".zcache/fuse", NULL), *line, *save = NULL;
	uint64_t v = 0;

	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[64];
		unsigned long long count;

		if (sscanf(line, "%63s %llu", key, &count) == 2 && !strcmp(key, op))
			v = count;
	}
	free(s);
	return v;
}

/* A request is counted after its reply is written (tests/fs.c
 * test_fuse_requests): wait until `op` was counted at least `n` times (an
 * event; the ceiling only bounds a failure). */
static uint64_t nofs_count_at_least(const char *op, uint64_t n)
{
	uint64_t v = nofs_count(op);

	for (int t = 0; t < 24000 && v < n; t++) {
		usleep(5000);
		v = nofs_count(op);
	}
	return v;
}

START_TEST(test_noopen_requests)
{
	char p[1024], name[64], buf[64];
	int fd, k;

	fs_mount("open=off");
	for (k = 0; k < 20; k++) {
		snprintf(name, sizeof(name), "f%d", k);
		snprintf(buf, sizeof(buf), "file %d", k);
		fs_write_file(name, buf, strlen(buf));
	}
	for (int round = 0; round < 2; round++)
		for (k = 0; k < 20; k++) {
			size_t n;
			char *got;

			snprintf(name, sizeof(name), "f%d", k);
			snprintf(buf, sizeof(buf), "file %d", k);
			got = fs_read_file(name, &n);
			ck_assert_uint_eq(n, strlen(buf));
			ck_assert(!memcmp(got, buf, n));
			free(got);
		}
	/* One OPEN and one CREATE per mount (each answered ENOSYS, which the
	 * kernel keeps for the connection), the files made with MKNOD, and
	 * no RELEASE ever. */
	ck_assert_uint_ge(nofs_count_at_least("mknod", 19), 19);
	ck_assert_uint_le(nofs_count("open"), 1);
	ck_assert_uint_le(nofs_count("create"), 1);
	ck_assert_uint_eq(nofs_count("release"), 0);
	ck_assert_uint_eq(fs_open_files("default"), 0);
	/* O_EXCL still refuses an existing name; O_CREAT of a new one works
	 * for a mode that forbids writing (the kernel opens what it made). */
	fs_path(p, sizeof(p), "f0");
	ck_assert_int_eq(open(p, O_WRONLY | O_CREAT | O_EXCL, 0644), -1);
	ck_assert_int_eq(errno, EEXIST);
	fs_path(p, sizeof(p), "ro");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0444);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "ro", 2), 2);
	ck_assert_int_eq(close(fd), 0);
	fs_finish();
}
END_TEST

START_TEST(test_noopen_data)
{
	char p[1024], buf[3 * PAGE], *got;
	unsigned char *big;
	struct stat st;
	size_t n;
	off_t at;
	int fd;

	fs_mount("open=off");
	fs_path(p, sizeof(p), "data");
	fd = open(p, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "hello world", 11, 0), 11);
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), 11);
	ck_assert(!memcmp(buf, "hello world", 11));
	/* fallocate and lseek reach the daemon with fh 0 too. */
	ck_assert_int_eq(fallocate(fd, 0, 0, 2 * PAGE), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 2 * PAGE);
	at = lseek(fd, 0, SEEK_DATA);
	ck_assert_int_eq(at, 0);
	ck_assert_int_eq(close(fd), 0);
	/* O_APPEND and O_TRUNC (a SETATTR either way). */
	fd = open(p, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "one ", 4), 4);
	ck_assert_int_eq(close(fd), 0);
	fd = open(p, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "two", 3), 3);
	ck_assert_int_eq(close(fd), 0);
	got = fs_read_file("data", &n);
	ck_assert_uint_eq(n, 7);
	ck_assert(!memcmp(got, "one two", 7));
	free(got);
	/* O_DIRECT: aligned I/O around the page cache. */
	big = aligned_alloc(PAGE, 2 * PAGE);
	ck_assert_ptr_nonnull(big);
	memset(big, 'd', 2 * PAGE);
	fs_path(p, sizeof(p), "direct");
	fd = open(p, O_RDWR | O_CREAT | O_DIRECT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, big, 2 * PAGE, 0), 2 * PAGE);
	memset(big, 0, 2 * PAGE);
	ck_assert_int_eq(pread(fd, big, 2 * PAGE, 0), 2 * PAGE);
	for (n = 0; n < 2 * PAGE; n++)
		ck_assert_int_eq(big[n], 'd');
	ck_assert_int_eq(close(fd), 0);
	free(big);
	fs_finish();
}
END_TEST

/* An unlinked file keeps its data while the kernel holds it open (it still
 * holds a lookup of it) and loses it with the inode at the FORGET. */
START_TEST(test_noopen_unlinked)
{
	char p[1024], buf[16];
	int fd;

	fs_mount("open=off");
	fs_write_file("gone", "still here", 10);
	fs_path(p, sizeof(p), "gone");
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(access(p, F_OK), -1);
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), 10);
	ck_assert(!memcmp(buf, "still here", 10));
	ck_assert_int_eq(pwrite(fd, "!", 1, 10), 1);
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), 11);
	ck_assert(!memcmp(buf, "still here!", 11));
	ck_assert_uint_eq(fs_stat_value("objects"), 1);
	ck_assert_int_eq(close(fd), 0);
	/* The last close drops the kernel's inode: its FORGET frees the pages
	 * (an event; the ceiling only bounds a failure). */
	for (int t = 0; t < 24000 && fs_stat_value("objects"); t++)
		usleep(5000);
	ck_assert_uint_eq(fs_stat_value("objects"), 0);
	ck_assert_uint_eq(fs_stat_value("files"), 0);
	fs_finish();
}
END_TEST

START_TEST(test_noopen_enospc)
{
	char p[1024];
	off_t off = 0;
	int fd;

	fs_mount("open=off,mem_limit=4M");
	fs_path(p, sizeof(p), "random");
	fd = open(p, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fs_fill_random(fd, 7, 256 << 10, 64, &off), ENOSPC);
	ck_assert_int_ge(off, 2 << 20);
	ck_assert_uint_ge(fs_stat_value("enospc"), 1);
	fs_check_random(fd, 7, off);
	ck_assert_int_eq(close(fd), 0);
	fs_finish();
}
END_TEST

/* The /.zcache files without OPEN: a lookup renders a snapshot of exact
 * size that never changes under a reader; the next lookup renders again. */
START_TEST(test_noopen_ctl)
{
	char p[1024], *a, *b;
	struct stat st;
	size_t na;
	ssize_t r;
	int fd;

	fs_mount("open=off");
	fs_path(p, sizeof(p), ".zcache/stats");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_gt(st.st_size, 0);
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	a = malloc((size_t)st.st_size + 1);
	b = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	/* Read in small pieces with a change between them: one rendering. */
	for (na = 0; (r = read(fd, a + na, 7)) > 0; na += (size_t)r)
		if (na == 0)
			fs_write_file("changed", "x", 1);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(na, (size_t)st.st_size);
	ck_assert_int_eq(pread(fd, b, (size_t)st.st_size + 1, 0), st.st_size);
	ck_assert(!memcmp(a, b, na));
	ck_assert_int_eq(close(fd), 0);
	free(a);
	free(b);
	/* A new lookup sees the new file. */
	ck_assert_uint_eq(fs_stat_value("files"), 1);
	/* stat(2) then open(2) (two LOOKUPs) name one inode while nothing was
	 * read (cp(1) compares them); after a read, a lookup renders anew. */
	{
		struct stat s1, s2, s3;
		char cmd[4096], base[1024];

		fs_path(p, sizeof(p), ".zcache/stats");
		ck_assert_int_eq(stat(p, &s1), 0);
		fd = open(p, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fstat(fd, &s2), 0);
		ck_assert_uint_eq(s1.st_ino, s2.st_ino);
		ck_assert_int_eq(read(fd, cmd, 1), 1);
		ck_assert_int_eq(stat(p, &s3), 0);
		ck_assert_uint_ne(s3.st_ino, s2.st_ino);
		ck_assert_int_eq(close(fd), 0);
		fs_path(base, sizeof(base), "");
		snprintf(cmd, sizeof(cmd), "cp %s/.zcache/stats %s/copied && grep -q '^files ' %s/copied",
			 base, base, base);
		ck_assert_int_eq(fs_run(cmd), 0);
	}
	/* Writes act on the file behind the snapshot. */
	fs_ctl_write("mem_limit", "64M");
	a = fs_read_file(".zcache/mem_limit", &na);
	ck_assert_str_eq(a, "67108864\n");
	free(a);
	fs_path(p, sizeof(p), ".zcache/stats");
	fd = open(p, O_WRONLY);
	if (fd >= 0) {	/* root may open 0444 for writing; the write fails */
		ck_assert_int_eq(write(fd, "1", 1), -1);
		close(fd);
	}
	/* Per-pool files and listings. */
	fs_path(p, sizeof(p), "pool");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_uint_eq(fs_ctl_value("pools/pool/stats", "files"), 0);
	{
		char cmd[4096];

		fs_path(p, sizeof(p), ".zcache");
		snprintf(cmd, sizeof(cmd), "ls -lR %s >/dev/null && cat %s/pools/*/stats >/dev/null",
			 p, p);
		ck_assert_int_eq(fs_run(cmd), 0);
	}
	fs_finish();
}
END_TEST

/* An ephemeral pool needs to know which files are open: refused. */
START_TEST(test_noopen_refusals)
{
	char p[1024], cmd[2048];

	fs_mount("open=off");
	fs_path(p, sizeof(p), "eph");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "ephemeral", 9, 0), -1);
	ck_assert_int_eq(errno, EOPNOTSUPP);
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "persistent", 10, 0), 0);
	/* The command line: exit status 2, nothing mounted. */
	snprintf(cmd, sizeof(cmd), "%s -f -o open=off,pool=ephemeral %s/none 2>/dev/null", ZCACHED,
		 fs_base);
	ck_assert_int_eq(fs_run(cmd), 2);
	snprintf(cmd, sizeof(cmd), "%s -f -o open=off,spill=127.0.0.1:1 %s/none 2>/dev/null",
		 ZCACHED, fs_base);
	ck_assert_int_eq(fs_run(cmd), 2);
	snprintf(cmd, sizeof(cmd), "%s -f -o open=maybe %s/none 2>/dev/null", ZCACHED, fs_base);
	ck_assert_int_eq(fs_run(cmd), 2);
	fs_finish();
}
END_TEST

/* A SIGHUP reload needs the open files: refused, the mount serves on. */
START_TEST(test_noopen_reload_refused)
{
	char *got;
	size_t n;

	fs_mount("open=off,uring=off");
	fs_write_file("kept", "kept", 4);
	ck_assert_int_eq(kill(fs_cur.pid, SIGHUP), 0);
	/* An event (the log line); the ceiling only bounds a failure. */
	fs_wait_log("reload refused", 1);
	ck_assert_uint_ge(fs_log_count("open=off"), 1);
	ck_assert_uint_eq(fs_log_count("reload: adopted the mount"), 0);
	got = fs_read_file("kept", &n);
	ck_assert_uint_eq(n, 4);
	ck_assert(!memcmp(got, "kept", 4));
	free(got);
	fs_finish();
}
END_TEST

/* Test cases can be run alone with CK_RUN_CASE=NAME. */
static Suite *make_suite(void)
{
	Suite *s = suite_create("fs_noopen");
	TCase *tc = tcase_create("noopen");

	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	tcase_add_test(tc, test_noopen_requests);
	tcase_add_test(tc, test_noopen_data);
	tcase_add_test(tc, test_noopen_unlinked);
	tcase_add_test(tc, test_noopen_enospc);
	tcase_add_test(tc, test_noopen_ctl);
	tcase_add_test(tc, test_noopen_refusals);
	tcase_add_test(tc, test_noopen_reload_refused);
	return s;
}

int main(void)
{
	return fs_suite_main(make_suite());
}
