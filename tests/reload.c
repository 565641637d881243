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
 *   uring      (when the kernel offers FUSE over io_uring) a SIGHUP to a
 *              mount served by the io_uring transport is refused with one
 *              line and the process serves on, files intact;
 *   version    (debug builds: ZC_FAULT_RELOAD_VERSION) a binary that does
 *              not read the image refuses it, the old process serves on,
 *              every file as it was, and a later stop is clean;
 *   killreload (debug builds: ZC_FAULT_STATE) a daemon killed at chosen
 *              records while it writes its reload image leaves no hung
 *              mount: the mount answers ENOTCONN, and a start with
 *              snapshot= on the same directory serves the last snapshot.
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
static pid_t reader(const struct fs_tree *t, int stop, int out)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid)
		return pid;
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

START_TEST(test_reload)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	uint64_t before[NFIG], after[NFIG];
	int stop[2], out[2], go[2], rfd, wfd, st;
	const struct fs_tree_entry *big = NULL;
	unsigned char *want, *got;
	pid_t rd, cw, daemon;
	unsigned rounds = 0;
	size_t half, wlen = 9 * PAGE + 123;
	char p[1024];

	fs_mount("uring=off");
	daemon = fs_cur.pid;
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
	rd = reader(t, stop[0], out[1]);
	cw = cwd_child(&t->e[1], go[0]);
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

START_TEST(test_uring)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));

	if (!uring_offered()) {
		fprintf(stderr, "reload: enable_uring is not Y, the io_uring refusal is not tested\n");
		free(t);
		return;
	}
	fs_mount("uring=on");
	fs_tree_build_mixed(t, NFILES, 20, 64, "zcached reload test ", &rs);
	for (unsigned r = 1; r <= 2; r++) {
		ck_assert_int_eq(kill(fs_cur.pid, SIGHUP), 0);
		fs_wait_log("SIGHUP refused: the io_uring transport", r);
		fs_tree_verify(t, 0);
	}
	ck_assert_uint_eq(fs_log_count(adopted), 0);
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
START_TEST(test_version)
{
	uint64_t rs = zc_test_seed();
	struct fs_tree *t = calloc(1, sizeof(*t));
	pid_t daemon;

	setenv("ZC_FAULT_RELOAD_VERSION", "1", 1);
	fs_mount("uring=off");
	unsetenv("ZC_FAULT_RELOAD_VERSION");
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
	free(t);
	fs_finish();
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

static void add_debug_tests(TCase *tc)
{
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
