/* tests/reload.c - the SIGHUP reload (issue 15, daemon/reload.h,
 * fuse/reload.h) through real mounts (tests/fsutil.h).
 *
 *   reload     a tree with checksums in pools of both kinds, a file held
 *              open mid-read and one mid-write, a child reading files in a
 *              loop and one with its working directory inside: after each
 *              of several SIGHUPs (each waited for in the log) every byte,
 *              inode number, link count and mode is as before, the held
 *              descriptors go on reading and writing where they were, the
 *              reader never saw an error, the cwd child still resolves
 *              relative names, the store's figures (pages, stored bytes,
 *              mem_used_max) are unchanged, and the daemon keeps its pid;
 *   refused    a SIGHUP while a /.zcache file or an unlinked file is open
 *              is refused with one line and the old process serves on;
 *   uring      (when the kernel offers FUSE over io_uring) the reload case
 *              over io_uring, with readers pinned to every online CPU so
 *              that requests are in flight on every queue across each gap:
 *              the old process holds requests in the ring's buffers, the
 *              new one serves them (uring_held, uring_revived), no poker
 *              is left; then a reload refused after the hold (a /.zcache
 *              file open) serves the held requests in the old process,
 *              which serves on over io_uring and reloads once it is closed;
 *   version    (debug builds: ZC_FAULT_RELOAD_VERSION) a binary that does
 *              not read the image refuses it, the old process serves on,
 *              every file as it was, and a later stop is clean; over
 *              io_uring too (when offered), where the refusal comes after
 *              the hold and the old process serves what it held;
 *   holdtimeout (debug builds: ZC_FAULT_POKE_OFF, io_uring when offered) a
 *              hold that does not complete refuses the reload with one
 *              line naming a queue; the requests it held are served by the
 *              old process, which serves on over io_uring;
 *   ringtaken  (debug builds: ZC_FAULT_RING_TAKEN, io_uring when offered)
 *              a new process that finds the ring's address taken executes
 *              itself again and adopts; taken on every try, it exits 1
 *              and the mount answers ENOTCONN, never hangs;
 *   killreload (debug builds: ZC_FAULT_STATE) a daemon killed at chosen
 *              records while it writes its reload image leaves no hung
 *              mount: the mount answers ENOTCONN, and a start with
 *              snapshot= on the same directory serves the last snapshot.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"
#include "treeutil.h"

#define NFILES 24

static const char adopted[] = "reload: adopted the mount";
static const char refused[] = "reload refused";

/* The figures that must not move across a reload. */
static const char *const fig_names[] = {
	"pools", "pages", "same_filled_pages", "orig_data_bytes", "compr_data_bytes",
	"mem_used_max_bytes",
};
#define NFIG (sizeof(fig_names) / sizeof(fig_names[0]))

static void figures(uint64_t *v)
{
	for (unsigned k = 0; k < NFIG; k++)
		v[k] = fs_stat_value(fig_names[k]);
}

/* A child that reads every file of the tree in a loop until `stop` can be
 * read from; exits 0 if every read matched, else 1; writes the number of
 * passes it finished to `out` (at least 1: it started before the first
 * reload and checks for `stop` only after a whole pass). */
static pid_t reader(const struct fs_tree *t, int stop, int out, int cpu)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid)
		return pid;
	if (cpu >= 0) {
		cpu_set_t one;

		/* Its requests go to that CPU's io_uring queue. */
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) < 0)
			_exit(7);
	}
	for (unsigned rounds = 0;; rounds++) {
		struct timeval tv = { 0, 0 };
		fd_set s;

		for (unsigned k = 0; k < NFILES; k++) {
			char p[1024];
			unsigned char *b = malloc((size_t)t->e[k].size + 1);
			ssize_t n;
			int fd;

			fs_path(p, sizeof(p), t->e[k].rel);
			fd = open(p, O_RDONLY);
			if (fd < 0)
				_exit(1);
			n = read(fd, b, (size_t)t->e[k].size + 1);
			close(fd);
			if (n != t->e[k].size || fs_fnv(b, (size_t)n) != t->e[k].sum)
				_exit(1);
			free(b);
		}
		FD_ZERO(&s);
		FD_SET(stop, &s);
		if (select(stop + 1, &s, NULL, NULL, &tv) == 1) {
			unsigned done = rounds + 1;

			(void)!write(out, &done, sizeof(done));
			_exit(0);
		}
	}
}

/* A child whose cwd is keep/sub: on a byte from `go` it opens f1 by its
 * relative name and checks its bytes and getcwd; exits 0 when all held. */
static pid_t cwd_child(const struct fs_tree_entry *f1, int go)
{
	pid_t pid = fork();
	char p[1024];

	ck_assert_int_ge(pid, 0);
	if (pid)
		return pid;
	fs_path(p, sizeof(p), "keep/sub");
	if (chdir(p) < 0)
		_exit(2);
	for (;;) {
		char c, cwd[1024], name[64];
		unsigned char *b;
		ssize_t n;
		int fd;

		if (read(go, &c, 1) != 1)
			_exit(3);
		if (c == 'q')
			_exit(0);
		if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, p))
			_exit(4);
		snprintf(name, sizeof(name), "%s", strrchr(f1->rel, '/') + 1);
		fd = open(name, O_RDONLY);
		if (fd < 0)
			_exit(5);
		b = malloc((size_t)f1->size + 1);
		n = read(fd, b, (size_t)f1->size + 1);
		close(fd);
		if (n != f1->size || fs_fnv(b, (size_t)n) != f1->sum)
			_exit(6);
		free(b);
	}
}

/* Pokers of an io_uring hold (daemon/ringover.h) still alive for this
 * mount: processes with ZCACHED_URING_POKE in their environment whose
 * descriptor 3 is the mount's root. */
static unsigned pokers(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		char p[300], env[8192], link[1024];
		ssize_t len;
		int fd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/fd/3", de->d_name);
		len = readlink(p, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = 0;
		if (strcmp(link, fs_cur.dir))
			continue;
		snprintf(p, sizeof(p), "/proc/%s/environ", de->d_name);
		fd = open(p, O_RDONLY);
		if (fd < 0)
			continue;
		len = read(fd, env, sizeof(env) - 1);
		close(fd);
		for (ssize_t i = 0; i < len; i += (ssize_t)strlen(env + i) + 1)
			if (!strncmp(env + i, "ZCACHED_URING_POKE=", 19))
				n++;
	}
	closedir(d);
	return n;
}

/* Wait until no poker of this mount is left (they end once answered);
 * bounded only against a hang. */
static void no_pokers(void)
{
	unsigned n = 0;

	for (int t = 0; t < 6000 && (n = pokers()) > 0; t++)
		usleep(10000);
	ck_assert_msg(n == 0, "%u pokers of the io_uring hold are left", n);
}

/* The reload case on a transport ("uring=off" or "uring=on").  Over
 * io_uring, readers pinned to every online CPU keep requests in flight on
 * every queue across each gap, and the figures of the hand-over are
 * checked: requests held by the old process and served from their
 * buffers by the new one, no poker left. */
static void reload_case(const char *opts, int uring)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	uint64_t before[NFIG], after[NFIG];
	int stop[2], out[2], go[2], rfd, wfd, st;
	const struct fs_tree_entry *big = NULL;
	unsigned char *want, *got;
	pid_t rd, cw, daemon, pinned[2 * CPU_SETSIZE / 64];
	unsigned rounds = 0, npinned = 0;
	size_t half, wlen = 9 * PAGE + 123;
	char p[1024];

	fs_mount(opts);
	daemon = fs_cur.pid;
	if (uring)
		ck_assert_uint_gt(fs_stat_value("uring_queues"), 0);
	fs_tree_build_mixed(t, NFILES, 20, 64, "zcached reload test ", &rs);
	for (unsigned k = 0; k < NFILES && !big; k++)
		if (t->e[k].size > 32 * PAGE)
			big = &t->e[k];
	ck_assert_ptr_nonnull(big);
	figures(before);
	/* Held open: one mid-read, one mid-write. */
	fs_path(p, sizeof(p), big->rel);
	rfd = open(p, O_RDONLY);
	ck_assert_int_ge(rfd, 0);
	want = (unsigned char *)fs_read_file(big->rel, &half);
	half = (size_t)big->size / 2 + 17;
	got = malloc((size_t)big->size);
	ck_assert_int_eq(read(rfd, got, half), (ssize_t)half);
	fs_path(p, sizeof(p), "written");
	wfd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(wfd, 0);
	{
		unsigned char *w = malloc(wlen);

		for (size_t i = 0; i < wlen; i++)
			w[i] = (unsigned char)(i * 7 + 3);
		ck_assert_int_eq(write(wfd, w, wlen / 2), (ssize_t)(wlen / 2));
		free(w);
	}
	ck_assert(pipe(stop) == 0 && pipe(out) == 0 && pipe(go) == 0);
	rd = reader(t, stop[0], out[1], -1);
	cw = cwd_child(&t->e[1], go[0]);
	if (uring) {
		cpu_set_t online;

		ck_assert_int_eq(sched_getaffinity(0, sizeof(online), &online), 0);
		for (int c = 0; c < CPU_SETSIZE && npinned + 2 <= sizeof(pinned) / sizeof(pinned[0]);
		     c++) {
			if (!CPU_ISSET(c, &online))
				continue;
			pinned[npinned++] = reader(t, stop[0], out[1], c);
			pinned[npinned++] = reader(t, stop[0], out[1], c);
		}
	}
	for (unsigned r = 1; r <= 3; r++) {
		ck_assert_int_eq(kill(daemon, SIGHUP), 0);
		fs_wait_log(adopted, r);
		ck_assert_int_eq(write(go[1], "c", 1), 1);
		fs_tree_verify(t, 0);
		ck_assert_int_eq(fs_cur.pid, daemon);
		ck_assert_int_eq(waitpid(daemon, &st, WNOHANG), 0);
	}
	/* The held descriptors carry on where they were. */
	ck_assert_int_eq(read(rfd, got + half, (size_t)big->size), (ssize_t)((size_t)big->size - half));
	ck_assert_int_eq(pread(rfd, got, half, 0), (ssize_t)half);
	ck_assert(!memcmp(got, want, (size_t)big->size));
	{
		unsigned char *w = malloc(wlen), *b;
		size_t len;

		for (size_t i = 0; i < wlen; i++)
			w[i] = (unsigned char)(i * 7 + 3);
		ck_assert_int_eq(write(wfd, w + wlen / 2, wlen - wlen / 2),
				 (ssize_t)(wlen - wlen / 2));
		ck_assert_int_eq(close(wfd), 0);
		b = (unsigned char *)fs_read_file("written", &len);
		ck_assert_uint_eq(len, wlen);
		ck_assert(!memcmp(b, w, wlen));
		free(b);
		free(w);
	}
	close(rfd);
	/* The children saw no error. */
	ck_assert_int_eq(write(go[1], "q", 1), 1);
	ck_assert_int_eq(fs_wait(cw, 60000), 0);
	ck_assert_int_eq(write(stop[1], "x", 1), 1);
	ck_assert_int_eq(fs_wait(rd, 60000), 0);
	ck_assert_int_eq(read(out[0], &rounds, sizeof(rounds)), (ssize_t)sizeof(rounds));
	ck_assert_uint_gt(rounds, 0);
	for (unsigned k = 0; k < npinned; k++) {
		ck_assert_int_eq(fs_wait(pinned[k], 60000), 0);
		ck_assert_int_eq(read(out[0], &rounds, sizeof(rounds)), (ssize_t)sizeof(rounds));
		ck_assert_uint_gt(rounds, 0);
	}
	if (uring) {
		/* Requests crossed each gap in the ring's buffers, and the
		 * last process served those it was handed. */
		ck_assert_uint_eq(fs_log_count("requests wait in their ring buffers"), 3);
		ck_assert_uint_eq(fs_log_count("transport: io_uring, adopted"), 3);
		ck_assert_uint_gt(fs_stat_value("uring_held"), 0);
		ck_assert_uint_eq(fs_stat_value("uring_revived"), fs_stat_value("uring_held"));
		ck_assert_uint_gt(fs_stat_value("uring_queues"), 0);
		no_pokers();
	}
	/* The store's figures (measured before the written file existed). */
	fs_path(p, sizeof(p), "written");
	ck_assert_int_eq(unlink(p), 0);
	fs_wait_closed("default");
	figures(after);
	for (unsigned k = 0; k < NFIG; k++) {
		if (!strcmp(fig_names[k], "mem_used_max_bytes"))
			ck_assert_uint_ge(after[k], before[k]);
		else
			ck_assert_msg(after[k] == before[k], "%s: %llu, was %llu", fig_names[k],
				      (unsigned long long)after[k], (unsigned long long)before[k]);
	}
	ck_assert_uint_eq(fs_log_count(refused), 0);
	free(want);
	free(got);
	free(t);
	fs_finish();
}

START_TEST(test_reload)
{
	reload_case("uring=off", 0);
}
END_TEST

START_TEST(test_refused)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	char p[1024];
	int fd;

	fs_mount("uring=off");
	fs_tree_build_mixed(t, NFILES, 20, 64, "zcached reload test ", &rs);
	/* A /.zcache file open. */
	fs_path(p, sizeof(p), ".zcache/stats");
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(kill(fs_cur.pid, SIGHUP), 0);
	fs_wait_log(refused, 1);
	close(fd);
	fs_tree_verify(t, 0);
	/* An unlinked file open. */
	fs_path(p, sizeof(p), "keep/gone");
	fd = open(p, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(kill(fs_cur.pid, SIGHUP), 0);
	fs_wait_log(refused, 2);
	ck_assert_int_eq(pwrite(fd, "yz", 2, 1), 2);
	{
		char b[4] = { 0 };

		ck_assert_int_eq(pread(fd, b, 3, 0), 3);
		ck_assert_str_eq(b, "xyz");
	}
	close(fd);
	fs_tree_verify(t, 0);
	ck_assert_uint_eq(fs_log_count(adopted), 0);
	/* Nothing open any more: it reloads. */
	fs_wait_closed("keep");
	ck_assert_int_eq(kill(fs_cur.pid, SIGHUP), 0);
	fs_wait_log(adopted, 1);
	fs_tree_verify(t, 0);
	free(t);
	fs_finish();
}
END_TEST

/* Whether the kernel offers FUSE over io_uring to new mounts. */
static int uring_offered(void)
{
	char c = 0;
	FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "r");

	if (f) {
		if (fread(&c, 1, 1, f) != 1)
			c = 0;
		fclose(f);
	}
	return c == 'Y';
}

/* Over io_uring: the reload case, then a reload refused after the hold
 * (a /.zcache file open makes the image refuse): the held requests are
 * served by the old process, which serves on over io_uring; once the file
 * is closed it reloads. */
START_TEST(test_uring)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t;
	pid_t daemon;
	char p[1024];
	int fd;

	if (!uring_offered()) {
		fprintf(stderr, "reload: enable_uring is not Y, the io_uring reload is not tested\n");
		return;
	}
	reload_case("uring=on", 1);
	t = calloc(1, sizeof(*t));
	fs_mount("uring=on");
	daemon = fs_cur.pid;
	fs_tree_build_mixed(t, NFILES, 20, 64, "zcached reload test ", &rs);
	fs_path(p, sizeof(p), ".zcache/stats");
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(kill(daemon, SIGHUP), 0);
	fs_wait_log(refused, 1);
	ck_assert_uint_eq(fs_log_count("requests wait in their ring buffers"), 1);
	close(fd);
	fs_tree_verify(t, 0);
	ck_assert_uint_gt(fs_stat_value("uring_held"), 0);
	ck_assert_uint_eq(fs_stat_value("uring_revived"), fs_stat_value("uring_held"));
	ck_assert_uint_gt(fs_stat_value("uring_queues"), 0);
	no_pokers();
	/* The kernel's RELEASE of the /.zcache files read above reaches the
	 * daemon asynchronously: a SIGHUP refused for one is sent again. */
	for (unsigned k = 2; fs_log_count(adopted) == 0; k++) {
		ck_assert_uint_lt(k, 100);
		ck_assert_int_eq(kill(daemon, SIGHUP), 0);
		for (int w = 0; w < 6000 && fs_log_count(adopted) == 0 &&
				fs_log_count(refused) < k; w++)
			usleep(10000);
	}
	fs_tree_verify(t, 0);
	ck_assert_int_eq(fs_cur.pid, daemon);
	no_pokers();
	free(t);
	fs_finish();
}
END_TEST

/* Started with SIGHUP ignored (nohup, a supervisor that ignores it): libfuse
 * then installs no SIGHUP handler for ours to chain, and a SIGHUP must
 * still reload at once; the stop after it must still be a stop. */
START_TEST(test_sighup_ignored)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	pid_t daemon;

	ck_assert_int_eq(sigaction(SIGHUP, &ign, &old), 0);
	fs_mount("uring=off");
	ck_assert_int_eq(sigaction(SIGHUP, &old, NULL), 0);
	daemon = fs_cur.pid;
	fs_tree_build_mixed(t, NFILES, 20, 64, "zcached reload test ", &rs);
	for (unsigned r = 1; r <= 2; r++) {
		ck_assert_int_eq(kill(daemon, SIGHUP), 0);
		fs_wait_log(adopted, r);
		fs_tree_verify(t, 0);
	}
	free(t);
	fs_finish();	/* asserts a clean exit, not a third reload */
	ck_assert_uint_eq(fs_log_count(adopted), 2);
}
END_TEST

#ifdef ZC_DEBUG
/* Mount with the debug fault `var`=`val` in the environment of the daemon
 * started here only: the processes it executes on a reload inherit it,
 * later mounts of the suite do not. */
static void mount_faulted(const char *var, const char *val, const char *opts)
{
	setenv(var, val, 1);
	fs_mount(opts);
	unsetenv(var);
}

/* A binary that does not read the image refuses it, on a transport; over
 * io_uring the refusal comes after the hold, and the requests held are
 * served by the old process, which serves on over io_uring. */
static void version_case(const char *opts, int uring)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	pid_t daemon;

	mount_faulted("ZC_FAULT_RELOAD_VERSION", "1", opts);
	daemon = fs_cur.pid;
	fs_tree_build_mixed(t, NFILES, 20, 64, "zcached reload test ", &rs);
	for (unsigned r = 1; r <= 2; r++) {
		ck_assert_int_eq(kill(daemon, SIGHUP), 0);
		fs_wait_log("reload refused by", r);
		fs_tree_verify(t, 0);
	}
	ck_assert_uint_eq(fs_log_count("this zcached reads version"), 2);
	ck_assert_uint_eq(fs_log_count(adopted), 0);
	fs_write_file("after", "still serving\n", 14);
	if (uring) {
		ck_assert_uint_eq(fs_log_count("requests wait in their ring buffers"), 2);
		ck_assert_uint_gt(fs_stat_value("uring_queues"), 0);
		ck_assert_uint_eq(fs_stat_value("uring_revived"), 2 * fs_stat_value("uring_held"));
		no_pokers();
	}
	free(t);
	fs_finish();
}

START_TEST(test_version)
{
	version_case("uring=off", 0);
	if (uring_offered())
		version_case("uring=on", 1);
	else
		fprintf(stderr, "reload: enable_uring is not Y, the io_uring refusal is not tested\n");
}
END_TEST

START_TEST(test_killreload)
{
	static const unsigned at[] = { 1, 3, 30 };
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	char snap[300], opts[400], dir[sizeof(fs_cur.dir)], cmd[700], p[1024], n[24];
	struct stat sb;

	snprintf(snap, sizeof(snap), "%s/killreload.snap", fs_base);
	snprintf(opts, sizeof(opts), "uring=off,snapshot=%s", snap);
	fs_mount(opts);
	snprintf(dir, sizeof(dir), "%s", fs_cur.dir);
	fs_tree_build_mixed(t, NFILES, 20, 64, "zcached reload test ", &rs);
	fs_finish();	/* the snapshot: the state to come back to */
	for (unsigned k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		int st;

		snprintf(n, sizeof(n), "%u", at[k]);
		setenv("ZC_FAULT_STATE", n, 1);
		ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
		fs_mount_at(dir, opts);
		unsetenv("ZC_FAULT_STATE");
		fs_tree_verify(t, 0);
		fs_write_file("lost", "not in the snapshot\n", 20);
		ck_assert_int_eq(kill(fs_cur.pid, SIGHUP), 0);
		st = fs_wait(fs_cur.pid, 60000);
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %d", st);
		fs_cur.pid = 0;
		/* No hung mount: the connection is gone. */
		fs_path(p, sizeof(p), "keep/f0");
		ck_assert_int_eq(stat(p, &sb), -1);
		ck_assert_int_eq(errno, ENOTCONN);
		snprintf(cmd, sizeof(cmd), "fusermount3 -u -z '%s'", dir);
		ck_assert_int_eq(fs_run(cmd), 0);
		/* A start from the last snapshot serves it. */
		ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
		fs_mount_at(dir, opts);
		fs_tree_verify(t, 0);
		ck_assert(!fs_daemon_has("lost"));
		fs_finish();
	}
	unlink(snap);
	free(t);
}
END_TEST

/* Over io_uring, a hold that never completes (ZC_FAULT_POKE_OFF: the
 * poker asks nothing, so idle queues get no request) refuses the reload
 * with one line naming a queue; the request a reader pinned to CPU 0
 * makes during the hold is held, then served by the old process (the
 * reader sees no error), which serves on over io_uring. */
START_TEST(test_holdtimeout)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t;
	int stop[2], out[2];
	unsigned rounds = 0;
	pid_t daemon, rd;

	if (!uring_offered()) {
		fprintf(stderr, "reload: enable_uring is not Y, the hold's timeout is not tested\n");
		return;
	}
	t = calloc(1, sizeof(*t));
	mount_faulted("ZC_FAULT_POKE_OFF", "1", "uring=on");
	daemon = fs_cur.pid;
	fs_tree_build_mixed(t, NFILES, 20, 64, "zcached reload test ", &rs);
	ck_assert(pipe(stop) == 0 && pipe(out) == 0);
	rd = reader(t, stop[0], out[1], 0);
	ck_assert_int_eq(kill(daemon, SIGHUP), 0);
	fs_wait_log("io_uring hold: io_uring queue", 1);
	ck_assert_uint_eq(fs_log_count("did not fill its"), 1);
	fs_tree_verify(t, 0);
	ck_assert_int_eq(write(stop[1], "x", 1), 1);
	ck_assert_int_eq(fs_wait(rd, 60000), 0);
	ck_assert_int_eq(read(out[0], &rounds, sizeof(rounds)), (ssize_t)sizeof(rounds));
	ck_assert_uint_gt(rounds, 0);
	ck_assert_uint_gt(fs_stat_value("uring_queues"), 0);
	ck_assert_uint_eq(fs_stat_value("uring_held"), 0);
	ck_assert_uint_gt(fs_stat_value("uring_revived"), 0);
	ck_assert_uint_eq(fs_log_count(adopted), 0);
	no_pokers();
	free(t);
	fs_finish();
}
END_TEST

/* Over io_uring, a new process that finds the ring's address taken
 * (ZC_FAULT_RING_TAKEN=N) executes itself again and adopts on a later try;
 * one that finds it taken on every try exits 1: the connection aborts,
 * the mount answers ENOTCONN, never hangs, and no poker is left. */
START_TEST(test_ringtaken)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t;
	char cmd[700], p[1024], dir[sizeof(fs_cur.dir)];
	int st;

	if (!uring_offered()) {
		fprintf(stderr, "reload: enable_uring is not Y, a taken ring address is not tested\n");
		return;
	}
	t = calloc(1, sizeof(*t));
	mount_faulted("ZC_FAULT_RING_TAKEN", "2", "uring=on");
	fs_tree_build_mixed(t, NFILES, 20, 64, "zcached reload test ", &rs);
	ck_assert_int_eq(kill(fs_cur.pid, SIGHUP), 0);
	fs_wait_log(adopted, 1);
	ck_assert_uint_eq(fs_log_count("taken: executing again"), 2);
	fs_tree_verify(t, 0);
	no_pokers();
	fs_finish();
	/* Taken on every try. */
	mount_faulted("ZC_FAULT_RING_TAKEN", "99", "uring=on");
	snprintf(dir, sizeof(dir), "%s", fs_cur.dir);
	fs_tree_build_mixed(t, NFILES, 20, 64, "zcached reload test ", &rs);
	ck_assert_int_eq(kill(fs_cur.pid, SIGHUP), 0);
	st = fs_wait(fs_cur.pid, 60000);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
	fs_cur.pid = 0;
	ck_assert_uint_eq(fs_log_count("taken in this process"), 1);
	/* open(2) always asks (stat(2) may answer from the kernel's cache). */
	fs_path(p, sizeof(p), "keep/f0");
	ck_assert_int_eq(open(p, O_RDONLY), -1);
	ck_assert_int_eq(errno, ENOTCONN);
	no_pokers();
	snprintf(cmd, sizeof(cmd), "fusermount3 -u -z '%s'", dir);
	ck_assert_int_eq(fs_run(cmd), 0);
	free(t);
}
END_TEST

static void add_debug_tests(TCase *tc)
{
	tcase_add_test(tc, test_ringtaken);
	tcase_add_test(tc, test_holdtimeout);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_killreload);
}
#else
static void add_debug_tests(TCase *tc)
{
	(void)tc;
}
#endif

static Suite *make_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = tcase_create("sighup");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_uring);
	tcase_add_test(tc, test_sighup_ignored);
	add_debug_tests(tc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return fs_suite_main(make_suite());
}
