/* fs.c - the integration suite of the zcached filesystem: mount the built
 * zcached in a temporary directory and exercise it through system calls
 * (the pool-crossing cases are in fs_pools.c).
 *
 * Mounting and the cleanup that survives failed assertions are in
 * fsutil.c.
 * Checks that must run as another user fork, drop to uid/gid 65534 and
 * report errno through the exit status.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"

/* ---- the command line -------------------------------------------------------- */

/* Run zcached with argv (NULL-terminated, argv[0] excluded) on a fresh
 * directory appended at the end when `with_dir`; capture stderr. */
static int fs_run_zcached(const char *const *args, int with_dir, char *err, size_t errlen)
{
	char dir[512], errfile[600];
	const char *argv[16];
	int n = 0, st, fd;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/cli.XXXXXX", fs_base);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(errfile, sizeof(errfile), "%s.err", dir);
	argv[n++] = "zcached";
	for (; *args; args++)
		argv[n++] = *args;
	if (with_dir)
		argv[n++] = dir;
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		dup2(fd, 1);
		execv(ZCACHED, (char *const *)argv);
		_exit(127);
	}
	st = fs_wait(pid, 20000);
	ck_assert_msg(st != -1, "zcached did not exit");
	ck_assert_msg(!fs_is_mounted(dir), "zcached mounted with a bad command line");
	rmdir(dir);
	fd = open(errfile, O_RDONLY);
	if (fd >= 0 && err) {
		ssize_t r = read(fd, err, errlen - 1);

		err[r > 0 ? r : 0] = '\0';
	}
	if (fd >= 0)
		close(fd);
	unlink(errfile);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_bad_options)
{
	static const struct {
		const char *opt, *named;
	} bad[] = {
		{ "mem_limit=12Q", "mem_limit" },
		{ "mem_limit=101%", "mem_limit" },
		{ "compressor=lz5", "lz5" },
		{ "compressor=zstd:99", "compressor" },
		{ "pool=sometimes", "pool" },
		{ "threads=0", "threads" },
		{ "threads=many", "threads" },
		{ "bogus_option", "bogus_option" },
		{ "mem_limit", "mem_limit" },
		{ "uring=maybe", "uring" },
		{ "uring", "uring" },
	};
	char err[1024];
	size_t k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		const char *args[] = { "-f", "-o", bad[k].opt, NULL };
		int st = fs_run_zcached(args, 1, err, sizeof(err));

		ck_assert_msg(st == 2, "-o %s: exit status %d", bad[k].opt, st);
		ck_assert_msg(strstr(err, bad[k].named), "-o %s: message \"%s\"", bad[k].opt, err);
		ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "-o %s: not one line: %s",
			      bad[k].opt, err);
	}
	{
		const char *args[] = { "-f", NULL };

		ck_assert_int_eq(fs_run_zcached(args, 0, err, sizeof(err)), 2);
		ck_assert_ptr_nonnull(strstr(err, "mount point"));
	}
	{
		const char *args[] = { "--bogus", NULL };

		ck_assert_int_eq(fs_run_zcached(args, 1, err, sizeof(err)), 2);
		ck_assert_ptr_nonnull(strstr(err, "--bogus"));
	}
	{
		const char *args[] = { "--help", NULL };

		ck_assert_int_eq(fs_run_zcached(args, 0, err, sizeof(err)), 0);
		ck_assert_ptr_nonnull(strstr(err, "mem_limit"));
	}
	{
		const char *args[] = { "--version", NULL };

		ck_assert_int_eq(fs_run_zcached(args, 0, err, sizeof(err)), 0);
		ck_assert_ptr_nonnull(strstr(err, "zcached"));
	}
}
END_TEST

START_TEST(test_good_options_and_sigterm)
{
	struct sockaddr_un sa;
	struct statvfs sv;
	char msg[256], p[1024];
	ssize_t n;
	int st, sock;

	/* Under systemd (NOTIFY_SOCKET set) zcached says READY=1 once mounted. */
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(sock, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(fs_base) + 20, sizeof(sa.sun_path));
	memcpy(sa.sun_path, fs_base, strlen(fs_base));
	snprintf(sa.sun_path + strlen(fs_base), 20, "/notify.%d", (int)getpid());
	ck_assert_int_eq(bind(sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	fs_mount("mem_limit=64M,compressor=zstd:3,pool=ephemeral,threads=3,allow_other,noatime");
	unsetenv("NOTIFY_SOCKET");
	{
		struct timeval tv = { 10, 0 };

		setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	n = recv(sock, msg, sizeof(msg) - 1, 0);
	ck_assert_int_gt(n, 0);
	msg[n] = '\0';
	ck_assert_ptr_nonnull(strstr(msg, "READY=1"));
	close(sock);
	unlink(sa.sun_path);
	/* pool=ephemeral: new pools are ephemeral, the root stays persistent. */
	ck_assert_int_eq(getxattr(fs_cur.dir, "user.zcache.kind", msg, sizeof(msg)), 10);
	fs_path(p, sizeof(p), "newpool");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(getxattr(p, "user.zcache.kind", msg, sizeof(msg)), 9);
	ck_assert(!memcmp(msg, "ephemeral", 9));
	ck_assert_int_eq(getxattr(p, "user.zcache.compressor", msg, sizeof(msg)), 6);
	ck_assert(!memcmp(msg, "zstd:3", 6));
	ck_assert_int_eq(statvfs(fs_cur.dir, &sv), 0);
	ck_assert_uint_eq((uint64_t)sv.f_blocks * sv.f_frsize, 64ull << 20);
	ck_assert_uint_eq(fs_stat_value("mem_limit_bytes"), 64ull << 20);
	/* SIGTERM unmounts cleanly and exits 0. */
	ck_assert_int_eq(kill(fs_cur.pid, SIGTERM), 0);
	st = fs_wait(fs_cur.pid, 10000);
	ck_assert_int_ne(st, -1);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert(!fs_is_mounted(fs_cur.dir));
	fs_cur.pid = 0;
	rmdir(fs_cur.dir);
	/* SIGINT too. */
	fs_mount(NULL);
	ck_assert_int_eq(kill(fs_cur.pid, SIGINT), 0);
	st = fs_wait(fs_cur.pid, 10000);
	ck_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert(!fs_is_mounted(fs_cur.dir));
	fs_cur.pid = 0;
	rmdir(fs_cur.dir);
}
END_TEST

START_TEST(test_mount_helper)
{
	char dir[512], cmd[2048];
	int form;

	/* mount(8) -> mount.fuse3 runs "zcached zcached DIR -o OPTS" through
	 * the shell and zcached detaches once mounted.  mount -t fuse.zcached
	 * finds zcached on mount's own PATH, which a test cannot extend, so
	 * form 1 names the binary with mount.fuse3's TYPE#SOURCE syntax and
	 * form 0 runs the very argv mount.fuse3 builds. */
	for (form = 0; form < 2; form++) {
		snprintf(dir, sizeof(dir), "%s/helper.XXXXXX", fs_base);
		ck_assert_ptr_nonnull(mkdtemp(dir));
		if (form == 0)
			snprintf(cmd, sizeof(cmd), "%s zcached '%s' -o rw,dev,suid,mem_limit=32M,compressor=lz4",
				 ZCACHED, dir);
		else
			snprintf(cmd, sizeof(cmd),
				 "mount -t fuse '%s#zcached' '%s' -o mem_limit=32M,compressor=lz4",
				 ZCACHED, dir);
		ck_assert_int_eq(fs_run(cmd), 0);
		ck_assert(fs_is_mounted(dir));
		snprintf(cmd, sizeof(cmd), "echo hi > '%s/x' && grep -q hi '%s/x'", dir, dir);
		ck_assert_int_eq(fs_run(cmd), 0);
		snprintf(cmd, sizeof(cmd), "grep -q '^mem_limit_bytes *33554432$' '%s/.zcache/stats'",
			 dir);
		ck_assert_int_eq(fs_run(cmd), 0);
		snprintf(cmd, sizeof(cmd), "umount '%s'", dir);
		ck_assert_int_eq(fs_run(cmd), 0);
		ck_assert(!fs_is_mounted(dir));
		rmdir(dir);
	}
}
END_TEST

/* ---- file data --------------------------------------------------------------- */

/* Model-based: random pwrite/pread/truncate/punch/zero against a buffer. */
START_TEST(test_data_model)
{
	enum { MAX = 3 << 20 };
	unsigned char *model = calloc(MAX, 1), *buf = malloc(MAX);
	uint64_t seed = zc_test_seed(), rs = seed;
	size_t size = 0;
	char p[1024];
	int fd, dfd, op;

	ck_assert_ptr_nonnull(model);
	fs_mount(NULL);
	fs_path(p, sizeof(p), "model");
	fd = open(p, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	/* Reads alternate between the page cache and, with O_DIRECT, the store. */
	dfd = open(p, O_RDONLY | O_DIRECT);
	ck_assert_int_ge(dfd, 0);
	for (op = 0; op < 3000; op++) {
		unsigned kind = (unsigned)zc_rand_below(&rs, 100);
		size_t off = (size_t)zc_rand_below(&rs, MAX);
		size_t len = (size_t)zc_rand_below(&rs, zc_rand_below(&rs, 4) ? 9000 : 600000) + 1;

		if (off + len > MAX)
			len = MAX - off;
		if (kind < 45) {
			/* Data with a mix of zero pages, same-filled and random bytes. */
			unsigned fill = (unsigned)zc_rand_below(&rs, 4);

			for (size_t k = 0; k < len; k++)
				buf[k] = fill == 0 ? 0 : fill == 1 ? 0x5a : (unsigned char)zc_rand(&rs);
			ck_assert_msg(pwrite(fd, buf, len, (off_t)off) == (ssize_t)len,
				      "op %d: pwrite %zu at %zu: %s", op, len, off, strerror(errno));
			memcpy(model + off, buf, len);
			if (off + len > size)
				size = off + len;
		} else if (kind < 80) {
			ssize_t want = off >= size ? 0 : (ssize_t)(size - off < len ? size - off : len);

			ck_assert_int_eq(pread(op % 2 ? dfd : fd, buf, len, (off_t)off), want);
			ck_assert_msg(!memcmp(buf, model + off, (size_t)want),
				      "op %d: read at %zu+%zu differs", op, off, len);
		} else if (kind < 88) {
			ck_assert_int_eq(ftruncate(fd, (off_t)off), 0);
			if (off < size)
				memset(model + off, 0, size - off);
			size = off;
		} else if (kind < 94) {
			ck_assert_int_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						   (off_t)off, (off_t)len), 0);
			if (off < size)
				memset(model + off, 0, (off + len < size ? off + len : size) - off);
		} else {
			ck_assert_int_eq(fallocate(fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len), 0);
			if (off + len > size)
				size = off + len;
			memset(model + off, 0, len);
		}
		if (op % 500 == 499) {
			struct stat st;

			/* Reopen and compare the whole file. */
			ck_assert_int_eq(close(fd), 0);
			fd = open(p, O_RDWR);
			ck_assert_int_ge(fd, 0);
			ck_assert_int_eq(fstat(fd, &st), 0);
			ck_assert_uint_eq((uint64_t)st.st_size, size);
			ck_assert_int_eq(pread(dfd, buf, MAX, 0), (ssize_t)size);
			ck_assert(!memcmp(buf, model, size));
		}
	}
	close(dfd);
	close(fd);
	free(model);
	free(buf);
	fs_finish();
}
END_TEST

START_TEST(test_holes_and_zero_pages)
{
	static unsigned char zero[1 << 20], page[PAGE];
	char p[1024];
	struct stat st;
	int fd;

	fs_mount(NULL);
	/* A written zero page costs nothing and reads back as zeros. */
	fs_write_file("zeros", zero, sizeof(zero));
	fs_path(p, sizeof(p), "zeros");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_size, sizeof(zero));
	ck_assert_int_eq(st.st_blocks, 0);
	ck_assert_uint_eq(fs_stat_value("pages"), 0);
	/* A sparse file: data at 0 and at 1 GiB. */
	fs_path(p, sizeof(p), "sparse");
	fd = open(p, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	memset(page, 'a', sizeof(page));
	ck_assert_int_eq(pwrite(fd, page, PAGE, 0), PAGE);
	ck_assert_int_eq(pwrite(fd, page, 100, 1ll << 30), 100);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, (1ll << 30) + 100);
	ck_assert_int_eq(st.st_blocks, 2 * PAGE / 512);
	ck_assert_uint_eq(fs_stat_value("pages"), 2);
	ck_assert_int_eq(pread(fd, page, PAGE, 5 << 20), PAGE);
	for (int k = 0; k < PAGE; k++)
		ck_assert_int_eq(page[k], 0);
	/* SEEK_DATA / SEEK_HOLE. */
	ck_assert_int_eq(lseek(fd, 0, SEEK_DATA), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_HOLE), PAGE);
	ck_assert_int_eq(lseek(fd, 10, SEEK_DATA), 10);
	ck_assert_int_eq(lseek(fd, PAGE, SEEK_DATA), 1ll << 30);
	ck_assert_int_eq(lseek(fd, (1ll << 30) + 5, SEEK_HOLE), (1ll << 30) + 100);
	errno = 0;
	ck_assert_int_eq(lseek(fd, (1ll << 30) + 100, SEEK_DATA), -1);
	ck_assert_int_eq(errno, ENXIO);
	/* Punching the data makes it a hole. */
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_DATA), 1ll << 30);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_blocks, PAGE / 512);
	/* fallocate extends the size without storing anything. */
	ck_assert_int_eq(fallocate(fd, 0, 2ll << 30, PAGE), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, (2ll << 30) + PAGE);
	ck_assert_int_eq(st.st_blocks, PAGE / 512);
	errno = 0;
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, PAGE), -1);
	ck_assert_int_eq(errno, EOPNOTSUPP);
	errno = 0;
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, PAGE), -1);
	ck_assert_int_eq(errno, EOPNOTSUPP);
	/* Truncation frees pages beyond the new end and zeroes the tail. */
	ck_assert_int_eq(ftruncate(fd, 50), 0);
	ck_assert_uint_eq(fs_stat_value("pages"), 0);
	ck_assert_int_eq(ftruncate(fd, PAGE), 0);
	ck_assert_int_eq(pread(fd, page, PAGE, 0), PAGE);
	for (int k = 0; k < PAGE; k++)
		ck_assert_int_eq(page[k], 0);
	close(fd);
	fs_finish();
}
END_TEST

START_TEST(test_efbig)
{
	const off_t max = (off_t)1 << 44;	/* 2^32 pages */
	char p[1024];
	int fd;

	fs_mount(NULL);
	fs_path(p, sizeof(p), "big");
	fd = open(p, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "x", 1, max - 1), 1);
	errno = 0;
	ck_assert_int_eq(pwrite(fd, "x", 1, max), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_eq(ftruncate(fd, max), 0);
	errno = 0;
	ck_assert_int_eq(ftruncate(fd, max + 1), -1);
	ck_assert_int_eq(errno, EFBIG);
	errno = 0;
	ck_assert_int_eq(fallocate(fd, 0, max, PAGE), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	close(fd);
	fs_finish();
}
END_TEST

START_TEST(test_append_and_trunc_open)
{
	char p[1024], buf[64];
	int fd;

	fs_mount(NULL);
	fs_write_file("f", "hello", 5);
	fs_path(p, sizeof(p), "f");
	fd = open(p, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, " world", 6), 6);
	close(fd);
	fd = open(p, O_RDONLY);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 11);
	ck_assert(!memcmp(buf, "hello world", 11));
	close(fd);
	fd = open(p, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	close(fd);
	fd = open(p, O_RDONLY);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 0);
	close(fd);
	fd = open(p, O_RDONLY);
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(fdatasync(fd), 0);
	close(fd);
	fs_finish();
}
END_TEST

/* Read a whole file through a fresh open after evicting its cached pages,
 * so the reads ask the daemon. */
static unsigned char *fs_cold_read(const char *p, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	size_t n = 0;
	ssize_t r;
	int fd = open(p, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	while ((r = read(fd, buf + n, (size_t)st.st_size + 1 - n)) > 0)
		n += (size_t)r;
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(n, (size_t)st.st_size);
	close(fd);
	*len = n;
	return buf;
}

/* Cold reads (fresh open, no cached pages) see the file, whatever its size,
 * after overwrites and truncations too (the kernel keeps its cache across
 * opens: keep_cache). */
START_TEST(test_cold_read)
{
	static const size_t sizes[] = { 1, 4095, 4096, 5000, 128 << 10, (128 << 10) + 1,
					300 << 10 };
	uint64_t rs = zc_test_seed();
	char p[1024];

	fs_mount(NULL);
	fs_path(p, sizeof(p), "cold");
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k], len, cut = n / 3;
		unsigned char *want = malloc(n), *got;
		int fd;

		for (size_t j = 0; j < n; j++)
			want[j] = (unsigned char)zc_rand(&rs);
		fs_write_file("cold", want, n);
		got = fs_cold_read(p, &len);
		ck_assert_uint_eq(len, n);
		ck_assert(!memcmp(got, want, n));
		free(got);
		/* Overwrite the middle through another open, then read. */
		memset(want + n / 4, 0xa5, n / 2);
		fd = open(p, O_WRONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(pwrite(fd, want + n / 4, n / 2, (off_t)(n / 4)), (ssize_t)(n / 2));
		close(fd);
		got = fs_cold_read(p, &len);
		ck_assert_uint_eq(len, n);
		ck_assert(!memcmp(got, want, n));
		free(got);
		/* Read again, then truncate by path and read. */
		got = fs_cold_read(p, &len);
		ck_assert(!memcmp(got, want, n));
		free(got);
		ck_assert_int_eq(truncate(p, (off_t)cut), 0);
		got = fs_cold_read(p, &len);
		ck_assert_uint_eq(len, cut);
		ck_assert(!memcmp(got, want, cut));
		free(got);
		free(want);
	}
	fs_finish();
}
END_TEST

/* Readers opening a file while a writer rewrites it never see a version
 * older than the last one completed before their open (nothing may put an
 * older version into the kernel's cache, which is kept across opens). */
enum { FS_REWRITE_SIZE = 64 << 10, FS_REWRITE_VERSIONS = 255 };	/* one byte each */

struct fs_rewrite_reader {
	const char *path;
	_Atomic int *committed, *stop;
	int bad;
};

static void *fs_rewrite_reader_run(void *arg)
{
	struct fs_rewrite_reader *r = arg;
	unsigned char *buf = malloc(FS_REWRITE_SIZE);

	while (!atomic_load(r->stop)) {
		int c0 = atomic_load(r->committed), fd = open(r->path, O_RDONLY);
		ssize_t n;

		if (fd < 0) {
			r->bad = 1;
			break;
		}
		if ((c0 & 7) == 0)
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		n = pread(fd, buf, FS_REWRITE_SIZE, 0);
		close(fd);
		if (n != FS_REWRITE_SIZE) {
			r->bad = 2;
			break;
		}
		/* A page may mix two versions (the kernel copies a write into
		 * its cache while readers copy out), but none may be older. */
		for (size_t j = 0; j < FS_REWRITE_SIZE; j++) {
			if (buf[j] < c0) {
				r->bad = 3;
				break;
			}
		}
		if (r->bad)
			break;
	}
	free(buf);
	return NULL;
}

START_TEST(test_open_while_rewritten)
{
	_Atomic int committed = 0, stop = 0;
	struct fs_rewrite_reader r[2];
	pthread_t t[2];
	unsigned char *buf = malloc(FS_REWRITE_SIZE);
	char p[1024];

	fs_mount(NULL);
	memset(buf, 0, FS_REWRITE_SIZE);
	fs_write_file("v", buf, FS_REWRITE_SIZE);
	fs_path(p, sizeof(p), "v");
	for (int k = 0; k < 2; k++) {
		r[k] = (struct fs_rewrite_reader){ p, &committed, &stop, 0 };
		ck_assert_int_eq(pthread_create(&t[k], NULL, fs_rewrite_reader_run, &r[k]), 0);
	}
	for (int v = 1; v <= FS_REWRITE_VERSIONS; v++) {
		int fd = open(p, O_WRONLY);

		ck_assert_int_ge(fd, 0);
		memset(buf, v, FS_REWRITE_SIZE);
		ck_assert_int_eq(pwrite(fd, buf, FS_REWRITE_SIZE, 0), FS_REWRITE_SIZE);
		close(fd);
		atomic_store(&committed, v);
	}
	atomic_store(&stop, 1);
	for (int k = 0; k < 2; k++) {
		pthread_join(t[k], NULL);
		ck_assert_int_eq(r[k].bad, 0);
	}
	free(buf);
	fs_finish();
}
END_TEST

START_TEST(test_mmap)
{
	char p[1024];
	unsigned char *map, *back;
	int fd;

	fs_mount(NULL);
	fs_path(p, sizeof(p), "mapped");
	fd = open(p, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 3 * PAGE), 0);
	map = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert(map != MAP_FAILED);
	for (int k = 0; k < 3 * PAGE; k++)
		map[k] = (unsigned char)(k * 7 + 1);
	ck_assert_int_eq(msync(map, 3 * PAGE, MS_SYNC), 0);
	ck_assert_int_eq(munmap(map, 3 * PAGE), 0);
	close(fd);
	/* Read back from the store, bypassing the page cache. */
	fd = open(p, O_RDONLY | O_DIRECT);
	ck_assert_int_ge(fd, 0);
	back = malloc(3 * PAGE);
	ck_assert_int_eq(read(fd, back, 3 * PAGE), 3 * PAGE);
	for (int k = 0; k < 3 * PAGE; k++)
		ck_assert_int_eq(back[k], (unsigned char)(k * 7 + 1));
	free(back);
	close(fd);
	ck_assert_uint_eq(fs_stat_value("pages"), 3);
	fs_finish();
}
END_TEST

/* ---- namespace ----------------------------------------------------------------- */

START_TEST(test_namespace)
{
	char p[1024], q[1024], buf[256];
	struct stat st, st2;
	struct timespec ts[2];
	DIR *d;
	struct dirent *e;
	int n;

	fs_mount(NULL);
	/* Directories. */
	fs_path(p, sizeof(p), "p/a/b");
	fs_path(q, sizeof(q), "p");
	ck_assert_int_eq(mkdir(q, 0755), 0);
	fs_path(q, sizeof(q), "p/a");
	ck_assert_int_eq(mkdir(q, 0750), 0);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	errno = 0;
	ck_assert_int_eq(mkdir(p, 0700), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(stat(q, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0750);
	ck_assert_int_eq(st.st_nlink, 3);
	errno = 0;
	ck_assert_int_eq(rmdir(q), -1);
	ck_assert_int_eq(errno, ENOTEMPTY);
	fs_path(p, sizeof(p), "p/nothere/x");
	errno = 0;
	ck_assert_int_eq(mkdir(p, 0700), -1);
	ck_assert_int_eq(errno, ENOENT);
	fs_path(p, sizeof(p), "p/nothere");
	errno = 0;
	ck_assert_int_eq(unlink(p), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* Files, hard links, symlinks. */
	fs_write_file("p/f", "data", 4);
	fs_path(p, sizeof(p), "p/f");
	fs_path(q, sizeof(q), "p/a/hard");
	ck_assert_int_eq(link(p, q), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(stat(q, &st2), 0);
	ck_assert_uint_eq(st.st_ino, st2.st_ino);
	ck_assert_int_eq(st.st_nlink, 2);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(stat(q, &st2), 0);
	ck_assert_int_eq(st2.st_nlink, 1);
	fs_path(p, sizeof(p), "p/a");
	fs_path(q, sizeof(q), "p/dirlink");
	errno = 0;
	ck_assert_int_eq(link(p, q), -1);
	ck_assert_int_eq(errno, EPERM);
	fs_path(p, sizeof(p), "p/sym");
	ck_assert_int_eq(symlink("a/hard", p), 0);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_int_eq(st.st_size, 6);
	n = (int)readlink(p, buf, sizeof(buf));
	ck_assert_int_eq(n, 6);
	ck_assert(!memcmp(buf, "a/hard", 6));
	ck_assert_int_eq(stat(p, &st), 0);	/* follows the link */
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 4);
	/* FIFOs and sockets as metadata. */
	fs_path(p, sizeof(p), "p/fifo");
	ck_assert_int_eq(mkfifo(p, 0640), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	fs_path(p, sizeof(p), "p/sock");
	ck_assert_int_eq(mknod(p, S_IFSOCK | 0600, 0), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	/* chmod, chown, utimens. */
	fs_path(p, sizeof(p), "p/a/hard");
	ck_assert_int_eq(chmod(p, 04711), 0);
	ck_assert_int_eq(chown(p, 1234, 5678), 0);
	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 123456789;
	ts[1].tv_sec = 1100000000;
	ts[1].tv_nsec = 987654321;
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_uid, 1234);
	ck_assert_int_eq(st.st_gid, 5678);
	ck_assert_int_eq(st.st_mode & 07777, 0711);	/* chown cleared set-uid */
	ck_assert_int_eq(st.st_atim.tv_sec, 1000000000);
	ck_assert_int_eq(st.st_atim.tv_nsec, 123456789);
	ck_assert_int_eq(st.st_mtim.tv_sec, 1100000000);
	ck_assert_int_eq(st.st_mtim.tv_nsec, 987654321);
	/* readdir lists everything exactly once, .zcache at the top. */
	fs_path(p, sizeof(p), "p");
	d = opendir(p);
	ck_assert_ptr_nonnull(d);
	n = 0;
	while ((e = readdir(d)))
		n++;
	closedir(d);
	ck_assert_int_eq(n, 2 + 4);	/* . .. a sym fifo sock */
	d = opendir(fs_cur.dir);
	n = 0;
	while ((e = readdir(d)))
		n += !strcmp(e->d_name, ".zcache");
	closedir(d);
	ck_assert_int_eq(n, 1);
	/* Many entries: readdir across several calls. */
	for (int k = 0; k < 600; k++) {
		snprintf(q, sizeof(q), "p/a/b/file-with-a-longish-name-%04d", k);
		fs_write_file(q, "", 0);
	}
	fs_path(p, sizeof(p), "p/a/b");
	d = opendir(p);
	n = 0;
	while ((e = readdir(d))) {
		n++;
		if (n == 300) {
			/* Removing entries while listing must not repeat or skip others. */
			snprintf(q, sizeof(q), "%s/p/a/b/file-with-a-longish-name-0599", fs_cur.dir);
			ck_assert_int_eq(unlink(q), 0);
		}
	}
	closedir(d);
	ck_assert(n == 601 || n == 602);
	/* ls -l (readdirplus) sees the same entries with their attributes. */
	snprintf(q, sizeof(q), "test $(ls -la '%s/p/a/b' | grep -c file-with) = 599", fs_cur.dir);
	ck_assert_int_eq(fs_run(q), 0);
	fs_finish();
}
END_TEST

START_TEST(test_rename)
{
	char p[1024], q[1024], *s;
	struct stat st;
	size_t len;

	fs_mount(NULL);
	fs_path(p, sizeof(p), "pool1");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	fs_path(p, sizeof(p), "pool2");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	fs_path(p, sizeof(p), "pool1/d");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	fs_path(p, sizeof(p), "pool1/e");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	fs_write_file("pool1/x", "xx", 2);
	fs_write_file("pool1/y", "yyy", 3);
	fs_write_file("pool1/e/inner", "i", 1);
	/* Plain rename replaces. */
	fs_path(p, sizeof(p), "pool1/x");
	fs_path(q, sizeof(q), "pool1/d/x2");
	ck_assert_int_eq(rename(p, q), 0);
	errno = 0;
	ck_assert_int_eq(stat(p, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* RENAME_NOREPLACE. */
	fs_path(p, sizeof(p), "pool1/y");
	errno = 0;
	ck_assert_int_eq(renameat2(AT_FDCWD, p, AT_FDCWD, q, RENAME_NOREPLACE), -1);
	ck_assert_int_eq(errno, EEXIST);
	/* RENAME_EXCHANGE swaps. */
	ck_assert_int_eq(renameat2(AT_FDCWD, p, AT_FDCWD, q, RENAME_EXCHANGE), 0);
	s = fs_read_file("pool1/y", &len);
	ck_assert_str_eq(s, "xx");
	free(s);
	s = fs_read_file("pool1/d/x2", &len);
	ck_assert_str_eq(s, "yyy");
	free(s);
	fs_path(q, sizeof(q), "pool1/nothere");
	errno = 0;
	ck_assert_int_eq(renameat2(AT_FDCWD, p, AT_FDCWD, q, RENAME_EXCHANGE), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* Directory over a non-empty directory, over a file, into itself. */
	fs_path(p, sizeof(p), "pool1/d");
	fs_path(q, sizeof(q), "pool1/e");
	errno = 0;
	ck_assert_int_eq(rename(p, q), -1);
	ck_assert_int_eq(errno, ENOTEMPTY);
	fs_path(q, sizeof(q), "pool1/y");
	errno = 0;
	ck_assert_int_eq(rename(p, q), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	errno = 0;
	ck_assert_int_eq(rename(q, p), -1);
	ck_assert_int_eq(errno, EISDIR);
	fs_path(q, sizeof(q), "pool1/d/sub");
	errno = 0;
	ck_assert_int_eq(rename(p, q), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* Directory over an empty one. */
	fs_path(p, sizeof(p), "pool1/empty");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	fs_path(q, sizeof(q), "pool1/e");
	ck_assert_int_eq(rename(q, p), 0);
	s = fs_read_file("pool1/empty/inner", &len);
	ck_assert_str_eq(s, "i");
	free(s);
	/* Across pools, both ways, files and directories (as on tmpfs; the
	 * details are test_cross_pool_*'s). */
	fs_path(p, sizeof(p), "pool1/y");
	fs_path(q, sizeof(q), "pool2/y");
	ck_assert_int_eq(rename(p, q), 0);
	ck_assert_int_eq(rename(q, p), 0);
	fs_path(q, sizeof(q), "y");
	ck_assert_int_eq(rename(p, q), 0);
	ck_assert_int_eq(rename(q, p), 0);
	ck_assert_int_eq(link(p, q), 0);
	ck_assert_int_eq(unlink(q), 0);
	fs_path(p, sizeof(p), "pool1/d");
	fs_path(q, sizeof(q), "d");	/* becomes a pool, then goes back */
	ck_assert_int_eq(rename(p, q), 0);
	ck_assert_int_eq(rename(q, p), 0);
	fs_path(p, sizeof(p), "pool2");
	fs_path(q, sizeof(q), "pool1/pool2");	/* a pool into another, and out */
	ck_assert_int_eq(rename(p, q), 0);
	ck_assert_int_eq(rename(q, p), 0);
	s = fs_read_file("pool1/y", &len);
	ck_assert_str_eq(s, "xx");
	free(s);
	/* Renaming a pool directory at the top renames the pool. */
	fs_path(q, sizeof(q), "renamed");
	ck_assert_int_eq(rename(p, q), 0);
	fs_path(p, sizeof(p), ".zcache/pools/renamed/stats");
	ck_assert_int_eq(stat(p, &st), 0);
	fs_path(p, sizeof(p), ".zcache/pools/pool2");
	ck_assert_int_eq(stat(p, &st), -1);
	/* The statistics tree cannot be renamed or removed. */
	fs_path(p, sizeof(p), ".zcache");
	fs_path(q, sizeof(q), "stats");
	errno = 0;
	ck_assert_int_eq(rename(p, q), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(rmdir(p), -1);
	ck_assert(errno == EPERM || errno == ENOTEMPTY);
	fs_path(p, sizeof(p), ".zcache/stats");
	errno = 0;
	ck_assert_int_eq(unlink(p), -1);
	ck_assert_int_eq(errno, EPERM);
	fs_path(p, sizeof(p), ".zcache/new");
	errno = 0;
	ck_assert_int_eq(mkdir(p, 0755), -1);
	ck_assert(errno == EPERM || errno == EACCES);
	fs_finish();
}
END_TEST

START_TEST(test_xattrs_and_pools)
{
	char p[1024], buf[1024];
	ssize_t n;

	fs_mount("compressor=lz4");
	fs_write_file("f", "x", 1);
	fs_path(p, sizeof(p), "f");
	ck_assert_int_eq(setxattr(p, "user.one", "1", 1, 0), 0);
	ck_assert_int_eq(setxattr(p, "user.two", "22", 2, XATTR_CREATE), 0);
	errno = 0;
	ck_assert_int_eq(setxattr(p, "user.two", "22", 2, XATTR_CREATE), -1);
	ck_assert_int_eq(errno, EEXIST);
	errno = 0;
	ck_assert_int_eq(setxattr(p, "user.three", "3", 1, XATTR_REPLACE), -1);
	ck_assert_int_eq(errno, ENODATA);
	ck_assert_int_eq(getxattr(p, "user.two", buf, sizeof(buf)), 2);
	ck_assert(!memcmp(buf, "22", 2));
	ck_assert_int_eq(getxattr(p, "user.two", NULL, 0), 2);
	errno = 0;
	ck_assert_int_eq(getxattr(p, "user.two", buf, 1), -1);
	ck_assert_int_eq(errno, ERANGE);
	n = listxattr(p, buf, sizeof(buf));
	ck_assert_int_eq(n, (ssize_t)sizeof("user.one") + (ssize_t)sizeof("user.two"));
	ck_assert_int_eq(removexattr(p, "user.one"), 0);
	errno = 0;
	ck_assert_int_eq(getxattr(p, "user.one", buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ENODATA);
	/* Pools: a top-level directory is a pool with kind and compressor. */
	fs_path(p, sizeof(p), "cache");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	n = getxattr(p, "user.zcache.kind", buf, sizeof(buf));
	ck_assert_int_eq(n, 10);
	ck_assert(!memcmp(buf, "persistent", 10));
	n = getxattr(p, "user.zcache.compressor", buf, sizeof(buf));
	ck_assert(n == 3 && !memcmp(buf, "lz4", 3));
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "ephemeral", 9, 0), 0);
	n = getxattr(p, "user.zcache.kind", buf, sizeof(buf));
	ck_assert(n == 9 && !memcmp(buf, "ephemeral", 9));
	ck_assert_int_eq(setxattr(p, "user.zcache.compressor", "zstd:5", 6, 0), 0);
	n = getxattr(p, "user.zcache.compressor", buf, sizeof(buf));
	ck_assert(n == 6 && !memcmp(buf, "zstd:5", 6));
	errno = 0;
	ck_assert_int_eq(setxattr(p, "user.zcache.compressor", "lz5", 3, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "maybe", 5, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	n = listxattr(p, buf, sizeof(buf));
	ck_assert_int_eq(n, (ssize_t)sizeof("user.zcache.kind") +
				    (ssize_t)sizeof("user.zcache.compressor") +
				    (ssize_t)sizeof("user.zcache.densify") +
				    (ssize_t)sizeof("user.zcache.spill"));
	/* Kind changes only while the pool is empty. */
	fs_write_file("cache/file", "data", 4);
	errno = 0;
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "persistent", 10, 0), -1);
	ck_assert_int_eq(errno, EBUSY);
	/* The file was written with zstd and reads back. */
	{
		char *s = fs_read_file("cache/file", NULL);

		ck_assert_str_eq(s, "data");
		free(s);
	}
	fs_path(buf, sizeof(buf), ".zcache/pools/cache/stats");
	{
		struct stat st;

		ck_assert_int_eq(stat(buf, &st), 0);
	}
	ck_assert_uint_eq(fs_stat_value("pools"), 2);
	/* Removing the pool directory destroys the pool. */
	fs_path(buf, sizeof(buf), "cache/file");
	ck_assert_int_eq(unlink(buf), 0);
	ck_assert_int_eq(rmdir(p), 0);
	ck_assert_uint_eq(fs_stat_value("pools"), 1);
	fs_path(buf, sizeof(buf), ".zcache/pools/cache");
	{
		struct stat st;

		errno = 0;
		ck_assert_int_eq(stat(buf, &st), -1);
		ck_assert_int_eq(errno, ENOENT);
	}
	/* A nested directory is not a pool. */
	fs_path(p, sizeof(p), "a");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	fs_path(p, sizeof(p), "a/b");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	errno = 0;
	ck_assert_int_eq(getxattr(p, "user.zcache.kind", buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ENODATA);
	fs_finish();
}
END_TEST

/* ---- the statistics tree --------------------------------------------------------- */

static int fs_write_ctl(void *arg)
{
	int fd = open(arg, O_WRONLY);

	if (fd < 0)
		return errno;
	if (write(fd, "1\n", 2) != 2) {
		int e = errno;

		close(fd);
		return e;
	}
	close(fd);
	return 0;
}

static int fs_read_ok(void *arg)
{
	int fd = open(arg, O_RDONLY);
	char buf[64];

	if (fd < 0)
		return errno;
	if (read(fd, buf, sizeof(buf)) <= 0) {
		close(fd);
		return EIO;
	}
	close(fd);
	return 0;
}

static int fs_append_one(void *arg)
{
	int fd = open(arg, O_WRONLY | O_APPEND);

	if (fd < 0)
		return errno;
	if (write(fd, "x", 1) != 1) {
		int e = errno;

		close(fd);
		return e;
	}
	close(fd);
	return 0;
}

/* A write by someone other than root clears set-user-ID and, on a
 * group-executable file, set-group-ID (as the VFS does). */
START_TEST(test_suid_cleared_on_write)
{
	char p[1024];
	struct stat st;

	fs_mount("allow_other");
	fs_write_file("s", "data", 4);
	fs_path(p, sizeof(p), "s");
	ck_assert_int_eq(chmod(p, 06777), 0);
	ck_assert_int_eq(fs_as_nobody(fs_append_one, p), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_size, 5);
	ck_assert_int_eq(st.st_mode & 07777, 0777);
	/* Root's writes keep the bits. */
	ck_assert_int_eq(chmod(p, 06777), 0);
	ck_assert_int_eq(fs_append_one(p), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 06777);
	fs_finish();
}
END_TEST

/* The kernel leaves clearing privileges to us (FUSE_HANDLE_KILLPRIV_V2,
 * see fuse/session.h): a write, a truncate and a chown remove security.capability,
 * whoever asks, and leave other attributes alone; a write by someone other
 * than root also clears set-user-ID (test_suid_cleared_on_write). */
static int fs_has_caps(const char *p)
{
	char buf[64];

	if (getxattr(p, "security.capability", buf, sizeof(buf)) >= 0)
		return 1;
	ck_assert_int_eq(errno, ENODATA);
	return 0;
}

START_TEST(test_caps_cleared)
{
	/* A vfs_cap_data, revision 2: CAP_NET_BIND_SERVICE permitted. */
	const uint32_t cap[5] = { 0x02000000, 1u << 10, 0, 0, 0 };
	char p[1024], v[8];
	struct stat st;

	fs_mount("allow_other");
	fs_write_file("c", "data", 4);
	fs_path(p, sizeof(p), "c");
	ck_assert_int_eq(setxattr(p, "user.keep", "1", 1, 0), 0);
	/* Root's write. */
	ck_assert_int_eq(setxattr(p, "security.capability", cap, sizeof(cap), 0), 0);
	ck_assert(fs_has_caps(p));
	ck_assert_int_eq(fs_append_one(p), 0);
	ck_assert(!fs_has_caps(p));
	/* Someone else's write (the file must be writable for them). */
	ck_assert_int_eq(chmod(p, 0666), 0);
	ck_assert_int_eq(setxattr(p, "security.capability", cap, sizeof(cap), 0), 0);
	ck_assert_int_eq(fs_as_nobody(fs_append_one, p), 0);
	ck_assert(!fs_has_caps(p));
	/* Truncation, chown. */
	ck_assert_int_eq(setxattr(p, "security.capability", cap, sizeof(cap), 0), 0);
	ck_assert_int_eq(truncate(p, 2), 0);
	ck_assert(!fs_has_caps(p));
	ck_assert_int_eq(setxattr(p, "security.capability", cap, sizeof(cap), 0), 0);
	ck_assert_int_eq(chown(p, 1234, 5678), 0);
	ck_assert(!fs_has_caps(p));
	/* Reading keeps it; the other attribute stayed throughout. */
	ck_assert_int_eq(setxattr(p, "security.capability", cap, sizeof(cap), 0), 0);
	free(fs_read_file("c", NULL));
	ck_assert(fs_has_caps(p));
	ck_assert_int_eq(getxattr(p, "user.keep", v, sizeof(v)), 1);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_size, 2);
	fs_finish();
}
END_TEST

START_TEST(test_zcache_tree)
{
	static const char *const files[] = {
		"stats", "mm_stat", "metrics", "stats.json", "compress", "mem_limit",
		"pools/default/stats", "alloc/buddy", "alloc/sgv", "alloc/xcf", "alloc/slabinfo",
	};
	static const char *const controls[] = { "compact", "drop_ephemeral", "sgv_flush",
						 "mem_limit" };
	char p[1024], *s, *tok;
	unsigned long long f[9];
	struct stat st;
	size_t k, len;
	int depth, n;

	fs_mount("allow_other,mem_limit=1G");
	for (k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
		char rel[128];

		snprintf(rel, sizeof(rel), ".zcache/%s", files[k]);
		s = fs_read_file(rel, &len);
		ck_assert_msg(len > 0, "%s is empty", rel);
		free(s);
	}
	/* mm_stat: nine numbers. */
	s = fs_read_file(".zcache/mm_stat", NULL);
	n = sscanf(s, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2], &f[3],
		   &f[4], &f[5], &f[6], &f[7], &f[8]);
	ck_assert_int_eq(n, 9);
	ck_assert_uint_eq(f[3], 1ull << 30);
	free(s);
	/* metrics: HELP/TYPE lines, zcache_ prefix, pool label. */
	s = fs_read_file(".zcache/metrics", NULL);
	ck_assert_ptr_nonnull(strstr(s, "# HELP zcache_mem_used_bytes "));
	ck_assert_ptr_nonnull(strstr(s, "# TYPE zcache_puts counter"));
	ck_assert_ptr_nonnull(strstr(s, "zcache_pool_pages{pool=\"default\"}"));
	for (tok = strtok(s, "\n"); tok; tok = strtok(NULL, "\n"))
		ck_assert_msg(tok[0] == '#' || !strncmp(tok, "zcache_", 7), "metrics line: %s", tok);
	free(s);
	/* stats.json: one object, balanced. */
	s = fs_read_file(".zcache/stats.json", &len);
	ck_assert_int_eq(s[0], '{');
	depth = 0;
	for (k = 0; k < len; k++) {
		depth += s[k] == '{' || s[k] == '[';
		depth -= s[k] == '}' || s[k] == ']';
		ck_assert_int_ge(depth, 0);
	}
	ck_assert_int_eq(depth, 0);
	ck_assert_ptr_nonnull(strstr(s, "\"mem_used_bytes\":"));
	free(s);
	/* The tree is root's and read-only for others. */
	fs_path(p, sizeof(p), ".zcache");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_uid, 0);
	ck_assert_int_eq(st.st_mode & 0777, 0555);
	/* Controls act for root ... */
	for (k = 0; k < 3; k++) {
		fs_path(p, sizeof(p), ".zcache/");
		strcat(p, controls[k]);
		ck_assert_int_eq(fs_write_ctl(p), 0);
		/* ... and are refused to anyone else. */
		ck_assert_int_eq(fs_as_nobody(fs_write_ctl, p), EACCES);
	}
	fs_path(p, sizeof(p), ".zcache/mem_limit");
	ck_assert_int_eq(fs_as_nobody(fs_write_ctl, p), EACCES);
	fs_path(p, sizeof(p), ".zcache/stats");
	ck_assert_int_eq(fs_as_nobody(fs_read_ok, p), 0);
	ck_assert_uint_eq(fs_stat_value("compactions"), 1);
	/* mem_limit reads and writes. */
	fs_path(p, sizeof(p), ".zcache/mem_limit");
	{
		int fd = open(p, O_WRONLY);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "256M\n", 5), 5);
		errno = 0;
		ck_assert_int_eq(write(fd, "lots", 4), -1);
		ck_assert_int_eq(errno, EINVAL);
		close(fd);
	}
	s = fs_read_file(".zcache/mem_limit", NULL);
	ck_assert_str_eq(s, "268435456\n");
	free(s);
	ck_assert_uint_eq(fs_stat_value("mem_limit_bytes"), 256ull << 20);
	/* Read-only files refuse writes even to root. */
	fs_path(p, sizeof(p), ".zcache/stats");
	errno = 0;
	ck_assert_int_eq(fs_write_ctl(p), EACCES);
	fs_finish();
}
END_TEST

/* /.zcache/metrics through Prometheus's own parser and stats.json through
 * Python's (tests/metrics_check.py says what it checks), on a mount with
 * data in three pools, one with a label that needs escaping. */
START_TEST(test_metrics_parse)
{
	static const char weird[] = "we\"ird\\ pool";
	char p[1024], cmd[4096];
	unsigned char page[PAGE];

	ck_assert_msg(access(ZC_PYTHON3, X_OK) == 0, "no %s (.ci/deps installs it)", ZC_PYTHON3);
	fs_mount("mem_limit=256M");
	memset(page, 'z', sizeof(page));
	fs_write_file("root-file", page, sizeof(page));
	fs_path(p, sizeof(p), "cache");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "ephemeral", 9, 0), 0);
	fs_write_file("cache/f", "some text that stays in the cache pool\n", 39);
	fs_path(p, sizeof(p), weird);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(cmd, sizeof(cmd), "%s/%s", weird, "g");
	fs_write_file(cmd, page, sizeof(page));
	snprintf(cmd, sizeof(cmd), "'%s' '%s/tests/metrics_check.py' '%s' default cache '%s'",
		 ZC_PYTHON3, ZC_SOURCE_DIR, fs_cur.dir, weird);
	ck_assert_int_eq(fs_run(cmd), 0);
	/* And stats.json by Python's json module alone. */
	snprintf(cmd, sizeof(cmd),
		 "'%s' -c 'import json, sys; json.load(open(sys.argv[1]))' '%s/.zcache/stats.json'",
		 ZC_PYTHON3, fs_cur.dir);
	ck_assert_int_eq(fs_run(cmd), 0);
	fs_finish();
}
END_TEST

/* The count of `op` in /.zcache/fuse (0 when the opcode was never served);
 * *hist (optional) gets the sum of its histogram buckets. */
static uint64_t fs_fuse_count(const char *op, uint64_t *hist)
{
	char *s = fs_read_file(".zcache/fuse", NULL), *line, *save = NULL;
	uint64_t v = 0;

	ck_assert_msg(!strncmp(s, "op ", 3), "/.zcache/fuse header: %.40s", s);
	if (hist)
		*hist = 0;
	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[64], *tok, *save2 = NULL;
		unsigned long long count;

		if (sscanf(line, "%63s %llu", key, &count) != 2 || strcmp(key, op))
			continue;
		v = count;
		/* op count total_us max_us mean_us LE:N ... */
		tok = strtok_r(line, " ", &save2);
		for (int k = 0; tok; k++, tok = strtok_r(NULL, " ", &save2)) {
			char *colon = strchr(tok, ':');

			if (k >= 5 && hist) {
				ck_assert_ptr_nonnull(colon);
				*hist += strtoull(colon + 1, NULL, 10);
			}
		}
	}
	free(s);
	return v;
}

/* Every FUSE request is counted by opcode (/.zcache/fuse, metrics,
 * stats.json): creating, writing, making a directory and looking up a
 * missing name move their counts.  Nothing is asserted on time. */
START_TEST(test_fuse_requests)
{
	static const char *const ops[] = { "write", "mkdir", "lookup", "all" };
	uint64_t before[4], after[4], created0, created1, hist;
	char p[1024], *s;
	struct stat st;
	unsigned k;
	int fd;

	fs_mount(NULL);
	for (k = 0; k < 4; k++)
		before[k] = fs_fuse_count(ops[k], NULL);
	/* A file is created with CREATE, or MKNOD once CREATE is not served. */
	created0 = fs_fuse_count("create", NULL) + fs_fuse_count("mknod", NULL);
	fs_path(p, sizeof(p), "counted");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	ck_assert_int_eq(close(fd), 0);
	fs_path(p, sizeof(p), "counted-dir");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	fs_path(p, sizeof(p), "counted-missing");
	ck_assert_int_eq(stat(p, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* A request is counted once its reply is written, so the worker that
	 * served it may count it a moment after the caller saw the reply: wait
	 * for the counts (an event; the ceiling only bounds a failure). */
	for (int t = 0; t < 24000; t++) {
		int moved = 1;

		for (k = 0; k < 4; k++)
			after[k] = fs_fuse_count(ops[k], NULL);
		created1 = fs_fuse_count("create", NULL) + fs_fuse_count("mknod", NULL);
		for (k = 0; k < 3; k++)
			moved &= after[k] >= before[k] + 1;
		moved &= after[3] >= before[3] + 4 && created1 >= created0 + 1;
		moved &= fs_fuse_count("mkdir", &hist) == hist;
		/* Over io_uring the thread that read INIT counts it after
		 * starting the ring, maybe after these requests were served. */
		moved &= fs_fuse_count("init", NULL) >= 1;
		if (moved)
			break;
		usleep(5000);
	}
	ck_assert_uint_ge(created1, created0 + 1);
	for (k = 0; k < 3; k++)
		ck_assert_msg(after[k] >= before[k] + 1, "%s: %llu -> %llu", ops[k],
			      (unsigned long long)before[k], (unsigned long long)after[k]);
	ck_assert_uint_ge(after[3], before[3] + 4);
	/* INIT once; a line's histogram holds its requests (nothing else
	 * makes directories meanwhile). */
	ck_assert_uint_eq(fs_fuse_count("init", NULL), 1);
	ck_assert_uint_eq(fs_fuse_count("mkdir", &hist), after[1]);
	ck_assert_uint_eq(hist, after[1]);
	/* The same in metrics and stats.json (tests/metrics_check.py parses them). */
	s = fs_read_file(".zcache/metrics", NULL);
	ck_assert_ptr_nonnull(strstr(s, "# TYPE zcache_fuse_request_seconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(s, "zcache_fuse_request_seconds_count{op=\"mkdir\"} "));
	free(s);
	s = fs_read_file(".zcache/stats.json", NULL);
	ck_assert_ptr_nonnull(strstr(s, "\"fuse\":{"));
	ck_assert_ptr_nonnull(strstr(s, "\"mkdir\":{\"count\":"));
	free(s);
	fs_finish();
}
END_TEST

/* The mount's own backing device reads ahead 1 MiB (fuse/session.h
 * zfs_session_set_readahead), so a large file is read in 1 MiB requests:
 * a 4 MiB file read cold, 1 MiB a read(2), takes 4 READs and at most a few
 * more (the kernel's default of 128 KiB would take 32). */
START_TEST(test_readahead)
{
	char p[1024], sys[128], *buf;
	uint64_t reads0, reads1;
	size_t len = 4u << 20;
	struct stat st;
	FILE *f;
	unsigned kb = 0;
	int fd;

	if (geteuid() != 0)
		return;		/* only root may set it; the daemon logs that */
	fs_mount(NULL);
	ck_assert_int_eq(stat(fs_cur.dir, &st), 0);
	snprintf(sys, sizeof(sys), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
		 minor(st.st_dev));
	f = fopen(sys, "r");
	ck_assert_msg(f != NULL, "%s: %s", sys, strerror(errno));
	ck_assert_int_eq(fscanf(f, "%u", &kb), 1);
	fclose(f);
	ck_assert_uint_eq(kb, 1024);
	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	memset(buf, 'r', len);
	fs_write_file("big", buf, len);
	fs_path(p, sizeof(p), "big");
	/* Drop the file's pages (the kernel keeps those written through it). */
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	reads0 = fs_fuse_count("read", NULL);
	for (size_t off = 0; off < len; off += 1u << 20)
		ck_assert_int_eq(read(fd, buf + off, 1u << 20), 1 << 20);
	close(fd);
	reads1 = fs_fuse_count("read", NULL);
	/* Plus the READs of /.zcache/fuse itself (one or two). */
	ck_assert_msg(reads1 - reads0 <= 8, "%llu READs for 4 MiB",
		      (unsigned long long)(reads1 - reads0));
	ck_assert_int_eq(buf[len - 1], 'r');
	free(buf);
	fs_finish();
}
END_TEST

START_TEST(test_stats_consistent)
{
	size_t len, k, nonzero = 0, size = 8 << 20;
	char *img = zc_load_file(zc_corpus_path("pages.img"), &len);
	uint64_t pages, orig, used, compr;
	char *back;

	ck_assert_uint_ge(len, size);
	for (k = 0; k < size; k += PAGE) {
		const uint64_t *w = (const uint64_t *)(img + k);
		int zero = 1;

		for (size_t j = 0; j < PAGE / 8; j++)
			zero &= w[j] == 0;
		nonzero += !zero;
	}
	fs_mount(NULL);
	fs_write_file("img", img, size);
	pages = fs_stat_value("pages");
	orig = fs_stat_value("orig_data_bytes");
	used = fs_stat_value("mem_used_bytes");
	compr = fs_stat_value("compr_data_bytes");
	ck_assert_uint_eq(pages, nonzero);	/* zero pages are not stored */
	ck_assert_uint_eq(orig, pages * PAGE);
	ck_assert_uint_gt(compr, 0);
	ck_assert_uint_lt(compr, orig);
	ck_assert_uint_ge(used, compr);
	ck_assert_uint_lt(used, orig);
	ck_assert_uint_eq(fs_stat_value("files"), 1);
	{
		char p[1024];
		int fd;

		fs_path(p, sizeof(p), "img");
		fd = open(p, O_RDONLY | O_DIRECT);
		ck_assert_int_ge(fd, 0);
		back = malloc(size + PAGE);
		ck_assert_int_eq(read(fd, back, size + PAGE), (ssize_t)size);
		ck_assert(!memcmp(back, img, size));
		free(back);
		close(fd);
	}
	/* O_DIRECT read from the store: every stored page was read. */
	ck_assert_uint_ge(fs_stat_value("gets"), nonzero);
	{
		char p[1024];

		fs_path(p, sizeof(p), "img");
		ck_assert_int_eq(unlink(p), 0);
	}
	ck_assert_uint_eq(fs_stat_value("pages"), 0);
	/* The kernel sends RELEASE in the background after close(2); over
	 * io_uring it may be served on another CPU's queue than the stats
	 * read, after it.  Wait for it. */
	for (int t = 0; t < 1000 && fs_stat_value("files") != 0; t++)
		usleep(10000);
	ck_assert_uint_eq(fs_stat_value("files"), 0);
	free(img);
	fs_finish();
}
END_TEST

START_TEST(test_tar_roundtrip)
{
	char cmd[2048];

	fs_mount(NULL);
	snprintf(cmd, sizeof(cmd), "mkdir '%s/tree' && tar -xf '%s' -C '%s/tree'", fs_cur.dir,
		 zc_corpus_path("tree.tar"), fs_cur.dir);
	ck_assert_int_eq(fs_run(cmd), 0);
	/* Content and metadata (mode, owner, times, links) must match. */
	snprintf(cmd, sizeof(cmd), "tar --diff -f '%s' -C '%s/tree'", zc_corpus_path("tree.tar"),
		 fs_cur.dir);
	ck_assert_int_eq(fs_run(cmd), 0);
	ck_assert_uint_gt(fs_stat_value("pages"), 10000);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/tree'", fs_cur.dir);
	ck_assert_int_eq(fs_run(cmd), 0);
	ck_assert_uint_eq(fs_stat_value("pages"), 0);
	/* tar --diff's last RELEASE may still be on its way (see above). */
	for (int t = 0; t < 1000 && fs_stat_value("files") != 0; t++)
		usleep(10000);
	ck_assert_uint_eq(fs_stat_value("files"), 0);
	fs_finish();
}
END_TEST

/* ---- memory limit and ephemeral pools --------------------------------------------- */

START_TEST(test_enospc)
{
	char p[1024];
	off_t off = 0;
	int fd;

	fs_mount("mem_limit=4M");
	fs_path(p, sizeof(p), "random");
	fd = open(p, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	/* Random bytes do not compress: the limit is reached near 4 MiB. */
	ck_assert_int_eq(fs_fill_random(fd, 42, 256 << 10, 64, &off), ENOSPC);
	ck_assert_int_ge(off, 2 << 20);
	ck_assert_int_le(off, 6 << 20);
	ck_assert_uint_ge(fs_stat_value("enospc"), 1);
	/* Everything stored before stays intact. */
	fs_check_random(fd, 42, off);
	close(fd);
	fs_finish();
}
END_TEST

START_TEST(test_ephemeral_drop)
{
	char p[1024], q[1024];
	int fd;

	fs_mount(NULL);
	fs_path(p, sizeof(p), "eph");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "ephemeral", 9, 0), 0);
	fs_write_file("eph/closed1", "one", 3);
	fs_write_file("eph/closed2", "two", 3);
	fs_write_file("kept", "persistent", 10);
	/* The kernel sends the release of a closed file asynchronously: wait
	 * until the daemon has seen both closes. */
	fs_wait_closed("eph");
	fs_path(p, sizeof(p), "eph/open");
	fd = open(p, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "busy", 4), 4);
	ck_assert_uint_eq(fs_open_files("eph"), 1);
	/* Closed files of ephemeral pools go, whole. */
	fs_path(q, sizeof(q), ".zcache/drop_ephemeral");
	ck_assert_int_eq(fs_write_ctl(q), 0);
	ck_assert_uint_eq(fs_stat_value("evictions"), 2);
	ck_assert(!fs_daemon_has("eph/closed1"));
	ck_assert(!fs_daemon_has("eph/closed2"));
	/* The open file and persistent files stay. */
	{
		char buf[8];

		ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), 4);
		ck_assert(!memcmp(buf, "busy", 4));
	}
	close(fd);
	ck_assert(fs_daemon_has("eph/open"));
	ck_assert(fs_daemon_has("kept"));
	/* Once closed, it can go too. */
	fs_wait_closed("eph");
	ck_assert_int_eq(fs_write_ctl(q), 0);
	ck_assert_uint_eq(fs_stat_value("evictions"), 3);
	ck_assert(!fs_daemon_has("eph/open"));
	fs_finish();
}
END_TEST

/* At the memory limit, closed files of ephemeral pools make room (least
 * recently used first) before a write fails; persistent data never goes. */
START_TEST(test_ephemeral_evicted_at_limit)
{
	enum { SZ = 1 << 20 };
	unsigned char *buf = malloc(SZ);
	uint64_t rs = 7;
	char p[1024], name[64];
	int k, gone = 0;

	fs_mount("mem_limit=12M");
	fs_path(p, sizeof(p), "cache");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(setxattr(p, "user.zcache.kind", "ephemeral", 9, 0), 0);
	for (size_t j = 0; j < SZ; j += 8) {
		uint64_t v = zc_rand(&rs);

		memcpy(buf + j, &v, 8);
	}
	for (k = 0; k < 6; k++) {
		snprintf(name, sizeof(name), "cache/f%d", k);
		fs_write_file(name, buf, SZ);
		/* Closed when the daemon sees it (the kernel's RELEASE is
		 * asynchronous): only then it joins the LRU, in this order. */
		fs_wait_closed("cache");
	}
	/* 6 MiB of incompressible files; now 8 MiB of persistent data. */
	for (k = 0; k < 8; k++) {
		snprintf(name, sizeof(name), "p%d", k);
		buf[0] = (unsigned char)k;
		fs_write_file(name, buf, SZ);
	}
	ck_assert_uint_ge(fs_stat_value("evictions"), 1);
	for (k = 0; k < 6; k++) {
		snprintf(name, sizeof(name), "cache/f%d", k);
		gone += !fs_daemon_has(name);
	}
	ck_assert_int_ge(gone, 1);
	/* The oldest went first. */
	ck_assert(!fs_daemon_has("cache/f0"));
	for (k = 0; k < 8; k++) {
		size_t len;
		char *back;

		snprintf(name, sizeof(name), "p%d", k);
		back = fs_read_file(name, &len);
		ck_assert_uint_eq(len, SZ);
		buf[0] = (unsigned char)k;
		ck_assert(!memcmp(back, buf, SZ));
		free(back);
	}
	free(buf);
	fs_finish();
}
END_TEST

/* ---- concurrency ----------------------------------------------------------------- */

struct fs_worker {
	int id;
	int fd;			/* the shared file, or -1 */
	int rounds;
	int failures;
	char dir[1024];
};

/* Writers fill their own pages of the shared file with page-sized writes of
 * one byte value; readers check that every page they see is uniform (a
 * page is replaced atomically). */
static void *fs_shared_worker(void *arg)
{
	struct fs_worker *w = arg;
	unsigned char page[4 * PAGE];
	uint64_t rs = (uint64_t)w->id * 7919;

	for (int r = 0; r < w->rounds; r++) {
		unsigned idx = (unsigned)zc_rand_below(&rs, 64);

		if (w->id % 2 == 0) {
			/* Pages idx*4+id/2: each writer owns its pages. */
			memset(page, (int)(1 + zc_rand_below(&rs, 250)), PAGE);
			if (pwrite(w->fd, page, PAGE, (off_t)((idx * 4 + (unsigned)w->id / 2) * PAGE)) !=
			    PAGE)
				w->failures++;
		} else {
			ssize_t n = pread(w->fd, page, sizeof(page), (off_t)idx * 4 * PAGE);

			for (ssize_t pg = 0; pg + PAGE <= n; pg += PAGE)
				for (int k = 1; k < PAGE; k++)
					if (page[pg + k] != page[pg]) {
						w->failures++;
						break;
					}
		}
	}
	return NULL;
}

static void *fs_files_worker(void *arg)
{
	struct fs_worker *w = arg;
	unsigned char *buf = malloc(64 << 10), *back = malloc(64 << 10);
	uint64_t rs = (uint64_t)w->id * 104729 + 1;

	for (int r = 0; r < w->rounds; r++) {
		char p[1200];
		size_t len = (size_t)zc_rand_below(&rs, 64 << 10) + 1;
		int fd;

		snprintf(p, sizeof(p), "%s/w%d-%d", w->dir, w->id, r % 8);
		for (size_t k = 0; k < len; k++)
			buf[k] = (unsigned char)(w->id * 31 + r + k / 100);
		fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, len) != (ssize_t)len ||
		    pread(fd, back, len + 10, 0) != (ssize_t)len || memcmp(buf, back, len))
			w->failures++;
		if (fd >= 0)
			close(fd);
		if (r % 3 == 2 && unlink(p) != 0)
			w->failures++;
	}
	free(buf);
	free(back);
	return NULL;
}

START_TEST(test_concurrency)
{
	enum { N = 6 };
	struct fs_worker w[N];
	pthread_t t[N];
	char p[1024];
	int fd, k;

	fs_mount("threads=4");
	fs_path(p, sizeof(p), "shared");
	/* O_DIRECT, so readers see the store rather than the page cache. */
	fd = open(p, O_RDWR | O_CREAT | O_DIRECT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 256 * PAGE), 0);
	for (k = 0; k < N; k++) {
		w[k] = (struct fs_worker){ .id = k, .fd = fd, .rounds = 1500 };
		ck_assert_int_eq(pthread_create(&t[k], NULL, fs_shared_worker, &w[k]), 0);
	}
	for (k = 0; k < N; k++) {
		pthread_join(t[k], NULL);
		ck_assert_int_eq(w[k].failures, 0);
	}
	close(fd);
	/* Many files, each thread its own, with creates and unlinks. */
	fs_path(p, sizeof(p), "many");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	for (k = 0; k < N; k++) {
		w[k] = (struct fs_worker){ .id = k, .fd = -1, .rounds = 150 };
		snprintf(w[k].dir, sizeof(w[k].dir), "%s", p);
		ck_assert_int_eq(pthread_create(&t[k], NULL, fs_files_worker, &w[k]), 0);
	}
	for (k = 0; k < N; k++) {
		pthread_join(t[k], NULL);
		ck_assert_int_eq(w[k].failures, 0);
	}
	fs_finish();
}
END_TEST

/* enable_uring of the fuse module: 1 (Y), 0 (N), -1 (no such parameter). */
static int fs_uring_param(void)
{
	char c = 0;
	FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "re");

	if (!f)
		return -1;
	if (fread(&c, 1, 1, f) != 1)
		c = 0;
	fclose(f);
	return c == 'Y';
}

/* The text of line `name` of /.zcache/stats. */
static void fs_stat_text(const char *name, char *out, size_t len)
{
	char *s = fs_read_file(".zcache/stats", NULL), *line;
	size_t n = strlen(name);

	out[0] = '\0';
	for (line = s; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, name, n) && line[n] == ' ') {
			char *v = line + n;

			while (*v == ' ')
				v++;
			snprintf(out, len, "%.*s", (int)strcspn(v, "\n"), v);
			break;
		}
	}
	free(s);
	ck_assert_msg(out[0], "no %s line in /.zcache/stats", name);
}

/* Which transport serves a mount: uring=off is always /dev/fuse; with
 * enable_uring Y, uring=on and the default (auto) are io_uring, one queue
 * per possible CPU; with N, uring=on refuses to mount (one line, exit 1)
 * and auto falls back to /dev/fuse.  .ci/run runs this case with N before
 * the suites, which it runs with Y. */
START_TEST(test_transport_choice)
{
	const char *on[] = { "-f", "-o", "uring=on", NULL };
	char v[64], err[1024];
	int param = fs_uring_param();

	fs_mount("uring=off");
	fs_stat_text("transport", v, sizeof(v));
	ck_assert_str_eq(v, "dev");
	ck_assert_uint_eq(fs_stat_value("uring_queues"), 0);
	fs_finish();
	if (param == 1) {
		fs_mount("uring=on");
		fs_stat_text("transport", v, sizeof(v));
		ck_assert_str_eq(v, "uring");
		ck_assert_uint_ge(fs_stat_value("uring_queues"), 1);
		ck_assert_uint_ge(fs_stat_value("uring_entries"), 2 * fs_stat_value("uring_queues"));
		fs_write_file("f", "over the ring", 13);
		ck_assert_uint_ge(fs_stat_value("uring_requests"), 2);
		/* The ring's requests are counted by opcode as /dev/fuse's are
		 * (after their reply: wait for the count, the ceiling only
		 * bounds a failure). */
		for (int t = 0; t < 24000 && fs_fuse_count("write", NULL) < 1; t++)
			usleep(5000);
		ck_assert_uint_ge(fs_fuse_count("write", NULL), 1);
		/* INIT too: its thread counts it once the ring it starts after
		 * the reply is up, which may be after the write was served. */
		for (int t = 0; t < 24000 && fs_fuse_count("init", NULL) < 1; t++)
			usleep(5000);
		ck_assert_uint_eq(fs_fuse_count("init", NULL), 1);
		fs_finish();
		fs_mount("uring=auto");
		fs_stat_text("transport", v, sizeof(v));
		ck_assert_str_eq(v, "uring");
		fs_finish();
	} else {
		ck_assert_int_eq(fs_run_zcached(on, 1, err, sizeof(err)), 1);
		ck_assert_msg(strstr(err, "uring=on") && strchr(err, '\n') == err + strlen(err) - 1,
			      "not one line naming uring=on: %s", err);
		fs_mount("uring=auto");
		fs_stat_text("transport", v, sizeof(v));
		ck_assert_str_eq(v, "dev");
		fs_finish();
	}
}
END_TEST

/* ---- interrupts and transports --------------------------------------------------- */

#ifdef ZC_DEBUG
/* Debug daemons park a GETXATTR of user.zcache.debug.stall until it is
 * interrupted and answer it EINTR from the thread that read the INTERRUPT
 * (fuse/session.c, zfs_debug_stall; over io_uring that is not the request's
 * queue thread), and say through user.zcache.debug.stalled how many are
 * parked. */
static void fs_on_usr1(int sig)
{
	(void)sig;
}

static int fs_stalled(const char *p)
{
	char b[24] = { 0 };

	return getxattr(p, "user.zcache.debug.stalled", b, sizeof(b) - 1) > 0 ? atoi(b) : -1;
}

/* Fork a caller whose GETXATTR stalls in the daemon; return once the
 * daemon holds it.  The caller exits 0 when the GETXATTR ended with
 * EINTR, 1 on another error, 2 if it succeeded. */
static pid_t fs_stall_caller(const char *rel)
{
	char p[1024];
	pid_t pid;
	int t;

	fs_write_file(rel, "x", 1);
	fs_path(p, sizeof(p), rel);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sigaction sa;
		char b[8];
		ssize_t r;
		int fd;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = fs_on_usr1;	/* no SA_RESTART */
		sigaction(SIGUSR1, &sa, NULL);
		fd = open(p, O_RDONLY);
		r = fd < 0 ? -1 : fgetxattr(fd, "user.zcache.debug.stall", b, sizeof(b));
		_exit(r >= 0 ? 2 : errno == EINTR ? 0 : 1);
	}
	for (t = 0; t < 3000 && fs_stalled(p) < 1; t++)
		usleep(10000);
	ck_assert_int_eq(fs_stalled(p), 1);
	return pid;
}

START_TEST(test_interrupt_signal)
{
	char p[1024], b[8];
	pid_t pid;
	int st;

	fs_mount(NULL);
	pid = fs_stall_caller("stall");
	ck_assert_int_eq(kill(pid, SIGUSR1), 0);
	st = fs_wait(pid, 30000);
	ck_assert_msg(st != -1, "the interrupted request did not end");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "caller status %d", st);
	ck_assert_uint_ge(fs_stat_value("interrupts"), 1);
	ck_assert_int_eq(fs_stalled(fs_cur.dir), 0);
	fs_path(p, sizeof(p), "stall");
	ck_assert_int_eq(getxattr(p, "user.none", b, sizeof(b)), -1);
	ck_assert_int_eq(errno, ENODATA);
	fs_write_file("after", "ok", 2);
	fs_finish();
}
END_TEST

/* A caller killed while its request blocks in the daemon is reaped (the
 * kernel waits for the answer of a request in userspace, so without the
 * interrupt it would hang in D state), and the mount goes on. */
START_TEST(test_interrupt_kill)
{
	char *s;
	pid_t pid;
	int st;

	fs_mount(NULL);
	pid = fs_stall_caller("stall");
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	st = fs_wait(pid, 30000);
	ck_assert_msg(st != -1, "the killed caller was not reaped");
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ck_assert_int_eq(fs_stalled(fs_cur.dir), 0);
	fs_write_file("after", "alive", 5);
	s = fs_read_file("after", NULL);
	ck_assert_str_eq(s, "alive");
	free(s);
	fs_finish();
}
END_TEST

/* SIGTERM while a request blocks in the daemon: the request is answered
 * EINTR before the transport stops, the daemon unmounts and exits 0. */
START_TEST(test_sigterm_with_blocked_request)
{
	pid_t pid;
	int st;

	fs_mount(NULL);
	pid = fs_stall_caller("stall");
	ck_assert_int_eq(kill(fs_cur.pid, SIGTERM), 0);
	st = fs_wait(fs_cur.pid, 30000);
	ck_assert_msg(st != -1, "zcached did not exit");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "zcached status %d", st);
	fs_cur.pid = 0;
	ck_assert(!fs_is_mounted(fs_cur.dir));
	st = fs_wait(pid, 30000);
	ck_assert_msg(st != -1, "the blocked caller did not end");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "caller status %d", st);
	rmdir(fs_cur.dir);
}
END_TEST
#endif

static TCase *fs_tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return tc;
}

/* Test cases can be run alone with CK_RUN_CASE=NAME. */
static Suite *make_suite(void)
{
	Suite *s = suite_create("fs");
	TCase *tc = fs_tcase(s, "daemon");

	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_good_options_and_sigterm);
	tcase_add_test(tc, test_mount_helper);
	tc = fs_tcase(s, "data");
	tcase_add_test(tc, test_data_model);
	tcase_add_test(tc, test_holes_and_zero_pages);
	tcase_add_test(tc, test_efbig);
	tcase_add_test(tc, test_append_and_trunc_open);
	tcase_add_test(tc, test_mmap);
	tcase_add_test(tc, test_cold_read);
	tcase_add_test(tc, test_open_while_rewritten);
	tc = fs_tcase(s, "namespace");
	tcase_add_test(tc, test_namespace);
	tcase_add_test(tc, test_rename);
	tcase_add_test(tc, test_xattrs_and_pools);
	tcase_add_test(tc, test_suid_cleared_on_write);
	tcase_add_test(tc, test_caps_cleared);
	tc = fs_tcase(s, "zcache");
	tcase_add_test(tc, test_zcache_tree);
	tcase_add_test(tc, test_metrics_parse);
	tcase_add_test(tc, test_fuse_requests);
	tcase_add_test(tc, test_readahead);
	tcase_add_test(tc, test_stats_consistent);
	tc = fs_tcase(s, "load");
	tcase_add_test(tc, test_tar_roundtrip);
	tcase_add_test(tc, test_enospc);
	tcase_add_test(tc, test_ephemeral_drop);
	tcase_add_test(tc, test_ephemeral_evicted_at_limit);
	tcase_add_test(tc, test_concurrency);
	tc = fs_tcase(s, "transport");
	tcase_add_test(tc, test_transport_choice);
#ifdef ZC_DEBUG
	tcase_add_test(tc, test_interrupt_signal);
	tcase_add_test(tc, test_interrupt_kill);
	tcase_add_test(tc, test_sigterm_with_blocked_request);
#endif
	return s;
}

int main(void)
{
	return fs_suite_main(make_suite());
}
