/* fsutil.c - mounting the built zcached, the one harness of the suites
 * that run the daemon (see fsutil.h).  Linked into every suite; only those
 * call it.
 *
 * Design note.  A mount is recorded in a pid file in the base directory
 * the moment its daemon is forked, holding the pid and the mount point:
 * "<mount point>.pid" for a mount point inside the base, "ext.<path with
 * '/' as '_'>.pid" for one elsewhere, so remounting a directory rewrites
 * its one file.  fs_cleanup_base() trusts only those files. */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

char fs_base[128];

struct fs_mount_state fs_cur;

/* ---- small helpers --------------------------------------------------------- */

void fs_path(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", fs_cur.dir, rel);
}

int fs_is_mounted(const char *dir)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char mnt[1024];

		if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 && !strcmp(mnt, dir))
			found = 1;
	}
	fclose(f);
	return found;
}

int fs_run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Wait for a child for up to `ms` milliseconds, and never less than
 * FS_WAIT_FLOOR_MS; returns its status or -1.  A bound only ends a
 * failure: one CPU of this machine has been seen frozen for a minute
 * (the kernel's "rcu_preempt kthread starved for 14752 jiffies") while the
 * other ran on, and a thread pinned to the frozen one (an io_uring
 * queue's) waits with it. */
#define FS_WAIT_FLOOR_MS 120000

int fs_wait(pid_t pid, int ms)
{
	int st;

	if (ms < FS_WAIT_FLOOR_MS)
		ms = FS_WAIT_FLOOR_MS;
	for (int t = 0; t < ms; t += 10) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0)
			return -1;
		usleep(10000);
	}
	return -1;
}

void fs_unmount_now(void)
{
	char cmd[1100];
	int st;

	if (!fs_cur.pid)
		return;
	snprintf(cmd, sizeof(cmd), "fusermount3 -u '%s' 2>/dev/null", fs_cur.dir);
	if (fs_is_mounted(fs_cur.dir) && fs_run(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "fusermount3 -u -z '%s' 2>/dev/null", fs_cur.dir);
		fs_run(cmd);
	}
	st = fs_wait(fs_cur.pid, 10000);
	if (st == -1) {
		kill(fs_cur.pid, SIGKILL);
		fs_wait(fs_cur.pid, 5000);
	}
	rmdir(fs_cur.dir);
	fs_cur.pid = 0;
}

/* Unmount at the end of a test and check that the daemon exited cleanly
 * (status 0: under the sanitizers, no leak or error either). */
void fs_finish(void)
{
	char cmd[600];
	int st;

	snprintf(cmd, sizeof(cmd), "fusermount3 -u '%s'", fs_cur.dir);
	ck_assert_int_eq(fs_run(cmd), 0);
	st = fs_wait(fs_cur.pid, 20000);
	ck_assert_msg(st != -1, "zcached did not exit after unmount");
	fs_cur.pid = 0;
	rmdir(fs_cur.dir);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "zcached exit status %d", st);
}

static void fs_atexit(void)
{
	fs_unmount_now();
}

/* The pid file recording a mount on `dir` (see the note at the top). */
static void fs_pidfile(const char *dir, char *buf, size_t len)
{
	size_t n = strlen(fs_base);

	if (!strncmp(dir, fs_base, n) && dir[n] == '/' && !strchr(dir + n + 1, '/')) {
		snprintf(buf, len, "%s.pid", dir);
		return;
	}
	snprintf(buf, len, "%s/ext.", fs_base);
	for (size_t k = strlen(buf); *dir && k + 5 < len; dir++, k++) {
		buf[k] = *dir == '/' ? '_' : *dir;
		buf[k + 1] = '\0';
	}
	strncat(buf, ".pid", len - strlen(buf) - 1);
}

const char *fs_transport_opt(void)
{
	const char *t = getenv("ZC_TRANSPORT");

	if (!t || !*t)
		return NULL;
	if (!strcmp(t, "uring"))
		return "uring=on";
	if (!strcmp(t, "dev"))
		return "uring=off";
	return NULL;
}

int fs_transport_usable(void)
{
	const char *t = getenv("ZC_TRANSPORT");
	char c = 0;
	FILE *f;

	if (!t || strcmp(t, "uring"))
		return 1;
	f = fopen("/sys/module/fuse/parameters/enable_uring", "re");
	if (!f)
		return 0;
	if (fread(&c, 1, 1, f) != 1)
		c = 0;
	fclose(f);
	return c == 'Y';
}

void fs_mount_at(const char *dir, const char *opts)
{
	char pidfile[700], log[600], all[1024];
	pid_t pid;

	ck_assert_msg(fs_base[0], "fs_mount_at before fs_suite_main/fs_base_init");
	ck_assert_uint_lt(strlen(dir), sizeof(fs_cur.dir));
	if (dir != fs_cur.dir)
		snprintf(fs_cur.dir, sizeof(fs_cur.dir), "%s", dir);
	snprintf(log, sizeof(log), "%s.log", fs_cur.dir);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (opts && fs_transport_opt() && !strstr(opts, "uring="))
			snprintf(all, sizeof(all), "%s,%s", opts, fs_transport_opt());
		else
			snprintf(all, sizeof(all), "%s",
				 opts ? opts : fs_transport_opt() ? fs_transport_opt() : "");
		if (all[0])
			execl(ZCACHED, "zcached", "-f", "-o", all, fs_cur.dir, (char *)NULL);
		else
			execl(ZCACHED, "zcached", "-f", fs_cur.dir, (char *)NULL);
		_exit(127);
	}
	fs_cur.pid = pid;
	if (!fs_cur.atexit_done) {
		atexit(fs_atexit);
		fs_cur.atexit_done = 1;
	}
	fs_pidfile(fs_cur.dir, pidfile, sizeof(pidfile));
	{
		FILE *f = fopen(pidfile, "w");

		if (f) {
			fprintf(f, "%d\n%s\n", (int)pid, fs_cur.dir);
			fclose(f);
		}
	}
	for (int t = 0; t < 2000 && !fs_is_mounted(fs_cur.dir); t++) {
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid) {
			fs_cur.pid = 0;
			ck_abort_msg("zcached exited before mounting (status %d), see %s", st, log);
		}
		usleep(10000);
	}
	ck_assert_msg(fs_is_mounted(fs_cur.dir), "zcached did not mount %s", fs_cur.dir);
}

/* Start zcached -f with `opts` (may be NULL) on a fresh directory and wait
 * until it is mounted. */
void fs_mount(const char *opts)
{
	snprintf(fs_cur.dir, sizeof(fs_cur.dir), "%s/mnt.XXXXXX", fs_base);
	ck_assert_ptr_nonnull(mkdtemp(fs_cur.dir));
	fs_mount_at(fs_cur.dir, opts);
}

void fs_super_opts(const char *dir, char out[1024])
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	ck_assert_ptr_nonnull(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		char mnt[1024], *sep;

		if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 || strcmp(mnt, dir))
			continue;
		sep = strstr(line, " - ");
		ck_assert_ptr_nonnull(sep);
		/* " - fstype source superopts" */
		ck_assert_int_eq(sscanf(sep + 3, "%*s %*s %1023s", out), 1);
	}
	fclose(f);
	ck_assert_msg(out[0], "%s not in mountinfo", dir);
}

void fs_write_file(const char *rel, const void *data, size_t len)
{
	char p[1024];
	int fd;

	fs_path(p, sizeof(p), rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* The words of fs_fill_random's stream, in place. */
static void fs_random_words(uint64_t *state, unsigned char *buf, size_t len)
{
	for (size_t j = 0; j < len; j += 8) {
		uint64_t v = zc_rand(state);

		memcpy(buf + j, &v, 8);
	}
}

int fs_fill_random(int fd, uint64_t seed, size_t chunk, int chunks, off_t *written)
{
	unsigned char *buf = malloc(chunk);
	int err = 0;

	ck_assert_ptr_nonnull(buf);
	*written = 0;
	for (int k = 0; k < chunks; k++) {
		ssize_t n;

		fs_random_words(&seed, buf, chunk);
		n = pwrite(fd, buf, chunk, *written);
		if (n < 0) {
			err = errno;
			break;
		}
		ck_assert_int_eq(n, (ssize_t)chunk);
		*written += n;
	}
	free(buf);
	return err;
}

void fs_check_random(int fd, uint64_t seed, off_t len)
{
	enum { STEP = 64 << 10 };
	unsigned char *want = malloc(STEP), *got = malloc(STEP);

	ck_assert(want && got);
	for (off_t o = 0; o < len; o += STEP) {
		size_t n = len - o < STEP ? (size_t)(len - o) : STEP;

		fs_random_words(&seed, want, n);
		ck_assert_int_eq(pread(fd, got, n, o), (ssize_t)n);
		ck_assert_msg(!memcmp(want, got, n), "bytes differ in [%lld, %lld)",
			      (long long)o, (long long)(o + n));
	}
	free(want);
	free(got);
}

/* Read a whole file (malloc'ed, NUL-terminated); *len gets its size. */
char *fs_read_file(const char *rel, size_t *len)
{
	char p[1024];
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);
	ssize_t r;
	int fd;

	fs_path(p, sizeof(p), rel);
	fd = open(p, O_RDONLY);
	ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
	while ((r = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			ck_assert_ptr_nonnull(buf);
		}
	}
	ck_assert_int_ge(r, 0);
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* The value of `name` in /.zcache/stats. */
uint64_t fs_stat_value(const char *name)
{
	return fs_ctl_value("stats", name);
}

uint64_t fs_ctl_value(const char *file, const char *name)
{
	char rel[256], *s, *line;
	uint64_t v = UINT64_MAX;

	snprintf(rel, sizeof(rel), ".zcache/%s", file);
	s = fs_read_file(rel, NULL);

	for (line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
		char key[64];
		double d;

		if (sscanf(line, "%63s %lf", key, &d) == 2 && !strcmp(key, name))
			v = (uint64_t)d;
	}
	free(s);
	ck_assert_msg(v != UINT64_MAX, "no %s in %s", name, rel);
	return v;
}

void fs_ctl_write(const char *file, const char *value)
{
	char p[1024];
	size_t len = strlen(value);
	int fd;

	snprintf(p, sizeof(p), "%s/.zcache/%s", fs_cur.dir, file);
	fd = open(p, O_WRONLY);
	ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
	ck_assert_msg(write(fd, value, len) == (ssize_t)len, "write %s to %s: %s", value, p,
		      strerror(errno));
	ck_assert_int_eq(close(fd), 0);
}

int fs_daemon_has(const char *rel)
{
	char p[1024];
	int fd;

	fs_path(p, sizeof(p), rel);
	fd = open(p, O_RDONLY);
	if (fd < 0) {
		ck_assert_msg(errno == ENOENT, "%s: %s", rel, strerror(errno));
		return 0;
	}
	close(fd);
	return 1;
}

uint64_t fs_open_files(const char *pool)
{
	char file[300];

	snprintf(file, sizeof(file), "pools/%s/stats", pool);
	return fs_ctl_value(file, "open_files");
}

void fs_wait_closed(const char *pool)
{
	/* An event, not a delay: the ceiling (two minutes) only bounds a
	 * failure. */
	for (int t = 0; t < 24000 && fs_open_files(pool); t++)
		usleep(5000);
	ck_assert_uint_eq(fs_open_files(pool), 0);
}

/* Run fn(arg) in a child as uid/gid 65534; returns the child's exit status
 * (fn returns an errno, 0 for success). */
int fs_as_nobody(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
			_exit(99);
		_exit(fn(arg) & 0xff);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* After the suite: unmount anything left under the base, stop recorded
 * daemons, remove the directories. */
unsigned fs_log_count(const char *what)
{
	char path[300], line[2048];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s.log", fs_cur.dir);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

void fs_wait_log(const char *what, unsigned n)
{
	/* The bound (three minutes) only ends a failure (see fs_wait). */
	for (int t = 0; t < 18000 && fs_log_count(what) < n; t++)
		usleep(10000);
	ck_assert_msg(fs_log_count(what) >= n, "no %u-th \"%s\" in %s.log", n, what, fs_cur.dir);
}

void fs_loop_ext4(struct fs_loop *l, unsigned mib)
{
	char img[300], cmd[800], line[120];
	FILE *p;

	snprintf(img, sizeof(img), "%s/ext4.img", fs_base);
	snprintf(cmd, sizeof(cmd), "truncate -s %uM '%s' && mkfs.ext4 -q -F '%s' >/dev/null 2>&1",
		 mib, img, img);
	ck_assert_msg(fs_run(cmd) == 0, "mkfs.ext4 on %s failed", img);
	snprintf(cmd, sizeof(cmd), "losetup -f --show '%s'", img);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	pclose(p);
	line[strcspn(line, "\n")] = '\0';
	ck_assert_msg(strncmp(line, "/dev/loop", 9) == 0, "losetup gave \"%s\"", line);
	snprintf(l->dev, sizeof(l->dev), "%s", line);
	snprintf(l->mnt, sizeof(l->mnt), "%s/ext4.XXXXXX", fs_base);
	ck_assert_ptr_nonnull(mkdtemp(l->mnt));
	ck_assert_msg(mount(l->dev, l->mnt, "ext4", 0, NULL) == 0, "mount %s on %s: %s", l->dev,
		      l->mnt, strerror(errno));
}

void fs_loop_release(struct fs_loop *l)
{
	char cmd[400];

	if (l->mnt[0]) {
		if (umount(l->mnt) != 0)
			umount2(l->mnt, MNT_DETACH);
		rmdir(l->mnt);
		l->mnt[0] = '\0';
	}
	if (l->dev[0]) {
		snprintf(cmd, sizeof(cmd), "losetup -d %s 2>/dev/null", l->dev);
		fs_run(cmd);
		l->dev[0] = '\0';
	}
}

void fs_cleanup_base(void)
{
	char cmd[1024];
	DIR *d;
	struct dirent *e;

	if (!fs_base[0])
		return;
	d = opendir(fs_base);
	if (d) {
		while ((e = readdir(d))) {
			char p[700];
			FILE *f;
			int pid;

			if (!strstr(e->d_name, ".pid"))
				continue;
			snprintf(p, sizeof(p), "%s/%s", fs_base, e->d_name);
			f = fopen(p, "r");
			if (f && fscanf(f, "%d", &pid) == 1 && pid > 0) {
				char dir[700];

				/* The mount point: the file's second line. */
				if (fscanf(f, " %699[^\n]", dir) != 1)
					dir[0] = '\0';
				if (dir[0] && fs_is_mounted(dir)) {
					snprintf(cmd, sizeof(cmd), "fusermount3 -u -z '%s' 2>/dev/null", dir);
					fs_run(cmd);
				}
				/* Only our own daemons: the pid's binary must be zcached. */
				{
					char exe[64], target[512];
					ssize_t n;

					snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
					n = readlink(exe, target, sizeof(target) - 1);
					if (n > 0) {
						target[n] = '\0';
						if (strstr(target, "zcached"))
							kill(pid, SIGKILL);
					}
				}
			}
			if (f)
				fclose(f);
		}
		closedir(d);
	}
	if (getenv("ZC_FS_KEEP")) {
		fprintf(stderr, "fs: kept %s (daemon logs)\n", fs_base);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fs_base);
	fs_run(cmd);
}

int fs_can_mount(void)
{
	return access("/dev/fuse", R_OK | W_OK) == 0 && access(ZCACHED, X_OK) == 0;
}

int fs_base_init(void)
{
	snprintf(fs_base, sizeof(fs_base), "/tmp/zcached-fs-test.XXXXXX");
	if (!mkdtemp(fs_base)) {
		perror("mkdtemp");
		fs_base[0] = '\0';
		return -1;
	}
	chmod(fs_base, 0755);
	return 0;
}

int fs_suite_main(Suite *s)
{
	int ret;

	/* Skipping frees the suite as running it would (srunner_free frees
	 * the suites it holds), so LeakSanitizer has nothing to report. */
	if (!fs_can_mount()) {
		fprintf(stderr, "/dev/fuse or %s not usable, skipping\n", ZCACHED);
		srunner_free(srunner_create(s));
		return 77;
	}
	if (!fs_transport_usable()) {
		fprintf(stderr, "ZC_TRANSPORT=uring but /sys/module/fuse/parameters/enable_uring"
			" is not Y, skipping\n");
		srunner_free(srunner_create(s));
		return 77;
	}
	if (fs_base_init() < 0)
		return 1;
	ret = zc_test_main(s);
	fs_cleanup_base();
	return ret;
}
